"""The demo's routes: the page, its static files, and prediction jobs (``POST /api/jobs?method=...``, and
optionally ``&threshold=P``, the impact detector's, with the video as the body, its name in ``X-Filename``;
``GET /api/jobs/{job}``; ``/jobs/{job}/with-sound.mp4`` and ``/jobs/{job}/cochleagram.png`` when done)."""

from __future__ import annotations

import urllib.parse

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse

from vis.config import SOUND_METHODS
from vis.errors import VisError
from vis.web.jobs import OUTPUTS, VIDEO_TYPES, Job
from vis.web.sounds import predict_upload
from vis.web.state import PAGES, ServerDep, page

STATIC = {"style.css": "text/css", "common.js": "text/javascript", "demo.js": "text/javascript",
          "study.js": "text/javascript", "admin.js": "text/javascript", "results.js": "text/javascript"}

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def demo_page():
    return page("demo.html")


@router.get("/static/{name}")
def static(name: str):
    if name not in STATIC:
        raise HTTPException(404, "no such file")
    return FileResponse(PAGES / name, media_type=STATIC[name])


@router.get("/api/info")
def info(srv: ServerDep):
    detector = getattr(srv.predictor, "onsets", None)  # the model's impact detector, if it has one
    return {"model": srv.model_name if srv.predictor is not None else None, "methods": list(SOUND_METHODS),
            "max_upload": srv.max_upload, "types": list(VIDEO_TYPES),
            "threshold": detector.threshold if detector is not None else None,  # video under 20 fps: the second
            "threshold_low_rate": detector.low_rate.threshold if detector is not None and detector.low_rate else None}


@router.post("/api/jobs")
async def upload(request: Request, srv: ServerDep, method: str = SOUND_METHODS[0], threshold: float | None = None):
    if method not in SOUND_METHODS:
        raise HTTPException(422, f"method must be one of {', '.join(SOUND_METHODS)}")
    predictor, jobs = srv.predictor, srv.jobs
    if predictor is None:
        raise HTTPException(503, "no model is loaded (start the server with `vis serve --model RUN`)")
    if threshold is not None:
        try:
            predictor = predictor.at_threshold(threshold)  # this upload's; the server's model is left as it is
        except VisError as e:
            raise HTTPException(422, str(e)) from None
    name = urllib.parse.unquote(request.headers.get("x-filename", "upload.mp4"))  # the page URI-encodes it
    jobs.check_capacity()  # before reading up to max_upload bytes
    folder, video = await jobs.receive(request, name=name)

    def work(job: Job) -> dict:
        job.stage = "predicting the sound"
        s = predict_upload(predictor, video, folder / OUTPUTS["video"], folder / OUTPUTS["png"], method=method)
        video.unlink(missing_ok=True)
        used = s["threshold"]  # the impact detector's (the low-rate one's for video under 20 fps)
        return {"impacts": s["impacts"], "duration": round(s["duration"], 2), "method": s["method"], "threshold": used}

    return jobs.submit("predict", work, folder=folder).view()


@router.get("/api/jobs/{job_id}")
def job_status(job_id: str, srv: ServerDep):
    return srv.jobs.get(job_id).view()


@router.get("/jobs/{job_id}/{name}")
def job_file(job_id: str, name: str, srv: ServerDep):
    job = srv.jobs.get(job_id)
    if name not in OUTPUTS.values() or job.state != "done" or job.folder is None:
        raise HTTPException(404, "no such output")
    return FileResponse(job.folder / name)
