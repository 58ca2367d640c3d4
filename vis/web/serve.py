"""``vis serve``: the demo page, listening studies and their admin pages, as one FastAPI app.

Pages (HTML and JS in ``vis/web/pages``) and the JSON they call:

- ``/``: the demo. ``POST /api/jobs?method=example|parametric`` with the video as the request body (its
  name in ``X-Filename``) starts a job; ``GET /api/jobs/{job}`` says how it goes; when done,
  ``/jobs/{job}/with-sound.mp4`` and ``/jobs/{job}/cochleagram.png``.
- ``/study/{id}/join``: a participant's page. ``POST .../api/join`` gives a session token (also set as a
  cookie); ``GET .../api/state`` their trials and answers; ``GET .../media/{trial}/{left|right}`` the two
  clips of a trial; ``POST .../api/answer`` ``{"trial", "choice"}`` stores an answer once (idempotent).
  The session token goes in the ``X-Session`` header, the ``vis_session`` cookie or ``?session=``.
- ``/admin`` (the token printed at start, as ``?token=`` once, then a cookie; or ``Authorization: Bearer``):
  studies, their join links, creation, ``/admin/study/{id}`` results, ``.../answers.csv``, closing.
"""

from __future__ import annotations

import contextlib
import random
import secrets
import socket
import tempfile
import threading
import urllib.parse
from pathlib import Path
from typing import Literal

import uvicorn
from fastapi import Depends, FastAPI, Form, HTTPException, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse
from pydantic import BaseModel

from vis.config import SOUND_METHODS
from vis.errors import VisError
from vis.web.guard import LIMITS, Guard, allowed_hosts
from vis.web.jobs import MAX_UPLOAD, OUTPUTS, VIDEO_TYPES, Job, Jobs
from vis.web.results import csv_rows, csv_text, summarize, table
from vis.web.sounds import load_predictor, open_dataset, predict_upload
from vis.web.store import TOKEN_BYTES, Participant, Store
from vis.web.study import (
    DATABASE,
    PER_VIDEO,
    PRACTICE,
    SIDES,
    STUDY_NAME,
    TRIALS,
    assign_trials,
    create_study,
    load_manifest,
    real_side_of,
    trials_per_participant,
)

SESSION_S = 14 * 24 * 3600.0  # a participant's session token is valid for two weeks
ADMIN_COOKIE = "vis_admin"
SESSION_COOKIE = "vis_session"
PAGES = Path(__file__).resolve().parent / "pages"
STATIC = {"style.css": "text/css", "common.js": "text/javascript", "demo.js": "text/javascript",
          "study.js": "text/javascript", "admin.js": "text/javascript", "results.js": "text/javascript"}


class AnonymousFile(FileResponse):
    """A study clip without ETag or Last-Modified (they would tell which side of a later trial is real)."""

    def set_stat_headers(self, stat_result) -> None:
        self.headers.setdefault("content-length", str(stat_result.st_size))


class Answer(BaseModel):
    trial: int
    choice: Literal["left", "right"]


class Studies:
    """The studies under a folder (each a subfolder with ``study.json``), loaded when first asked for."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._loaded: dict[str, tuple[dict, Store]] = {}
        self._lock = threading.Lock()

    def ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if STUDY_NAME.match(p.name) and (p / "study.json").is_file())

    def get(self, sid: str) -> tuple[dict, Store]:
        with self._lock:
            if sid not in self._loaded:
                if not STUDY_NAME.match(sid) or not (self.root / sid / "study.json").is_file():
                    raise HTTPException(404, f"no study {sid[:64]!r}")
                try:
                    manifest = load_manifest(self.root / sid)
                    manifest["by_id"] = {c["id"]: c for c in manifest["clips"]}
                    self._loaded[sid] = (manifest, Store(self.root / sid / DATABASE))
                except VisError as e:
                    raise HTTPException(500, str(e)) from None
            return self._loaded[sid]


def build_app(*, studies: Path, admin_token: str, predictor=None, data: Path | None = None,
              jobs_dir: Path | None = None, max_upload: int = MAX_UPLOAD, session_s: float = SESSION_S,
              model_name: str = "", hosts: set[str] | None = None, limits: dict | None = None) -> FastAPI:
    """The app. ``predictor``: a loaded model (:func:`vis.web.sounds.load_predictor`) for the demo and for
    creating studies from ``data``; without one the demo says so. ``jobs_dir``: where uploads and outputs
    go (default: a new temporary folder, removed at shutdown). ``hosts`` (the Host names taken; None: any) and
    ``limits`` (joins and uploads per client): :class:`vis.web.guard.Guard`, which also checks Origins."""
    reg = Studies(studies)
    jobs = Jobs(Path(jobs_dir or tempfile.mkdtemp(prefix="vis-serve-")), max_upload=max_upload,
                owns_root=jobs_dir is None)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        jobs.close()

    app = FastAPI(title="vis", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.jobs, app.state.studies = jobs, reg
    app.add_middleware(Guard, hosts=hosts, limits=limits)

    def page(name: str) -> HTMLResponse:
        return HTMLResponse((PAGES / name).read_text(encoding="utf-8"))

    def admin(request: Request) -> None:
        given = (request.headers.get("authorization", "").removeprefix("Bearer ").strip()
                 or request.cookies.get(ADMIN_COOKIE) or request.query_params.get("token") or "")
        if not secrets.compare_digest(given.encode(), admin_token.encode()):
            raise HTTPException(401, "admin pages need the admin token that `vis serve` printed at start")

    def participant(sid: str, request: Request) -> tuple[dict, Store, Participant]:
        manifest, store = reg.get(sid)
        token = request.headers.get("x-session") or request.cookies.get(SESSION_COOKIE) or ""  # never a URL
        if not token:
            raise HTTPException(401, "no session: open the study's link to join")
        p = store.participant(token)
        if p is None:
            raise HTTPException(401, "unknown session token for this study: open the study's link to join")
        if p.expired:
            raise HTTPException(403, "this session has expired: open the study's link to join again")
        return manifest, store, p

    def trial_of(p: Participant, trial: int) -> dict:
        if not 0 <= trial < len(p.trials):
            raise HTTPException(404, f"no trial {trial} for this participant (0 to {len(p.trials) - 1})")
        return p.trials[trial]

    # ------------------------------------------------------------------------------------ demo

    @app.get("/", response_class=HTMLResponse)
    def demo_page():
        return page("demo.html")

    @app.get("/static/{name}")
    def static(name: str):
        if name not in STATIC:
            raise HTTPException(404, "no such file")
        return FileResponse(PAGES / name, media_type=STATIC[name])

    @app.get("/api/info")
    def info():
        return {"model": model_name if predictor is not None else None, "methods": list(SOUND_METHODS),
                "max_upload": max_upload, "types": list(VIDEO_TYPES)}

    @app.post("/api/jobs")
    async def upload(request: Request, method: Literal["example", "parametric"] = "example"):
        if predictor is None:
            raise HTTPException(503, "no model is loaded (start the server with `vis serve --model RUN`)")
        name = urllib.parse.unquote(request.headers.get("x-filename", "upload.mp4"))  # the page URI-encodes it
        jobs.check_capacity()  # before reading up to max_upload bytes
        folder, video = await jobs.receive(request, name=name)

        def work(job: Job) -> dict:
            job.stage = "predicting the sound"
            s = predict_upload(predictor, video, folder / OUTPUTS["video"], folder / OUTPUTS["png"], method=method)
            video.unlink(missing_ok=True)
            return {"impacts": s["impacts"], "duration": round(s["duration"], 2), "method": s["method"]}

        return jobs.submit("predict", work, folder=folder).view()

    @app.get("/api/jobs/{job_id}")
    def job_status(job_id: str):
        return jobs.get(job_id).view()

    @app.get("/jobs/{job_id}/{name}")
    def job_file(job_id: str, name: str):
        job = jobs.get(job_id)
        if name not in OUTPUTS.values() or job.state != "done" or job.folder is None:
            raise HTTPException(404, "no such output")
        return FileResponse(job.folder / name)

    # ------------------------------------------------------------------------------------ participants
    # These run on the event loop itself: each is a few short SQLite statements, cheaper inline than
    # handed to a worker thread (docs/design.md), and writes never wait on each other.

    @app.get("/study/{sid}/join", response_class=HTMLResponse)
    def study_page(sid: str):
        reg.get(sid)
        return page("study.html")

    @app.get("/study/{sid}/api/about")
    async def about(sid: str):
        manifest, store = reg.get(sid)
        return {"study": sid, "practice": min(manifest["practice"], trials_per_participant(manifest)),
                "trials": trials_per_participant(manifest), "closed": store.closed}

    @app.post("/study/{sid}/api/join")
    async def join(sid: str, response: Response):
        manifest, store = reg.get(sid)
        if store.closed:
            raise HTTPException(409, "this study is closed")
        trials = assign_trials(manifest, random.Random(secrets.randbits(64)))
        pid, token = store.join(trials, session_s=session_s)
        response.set_cookie(SESSION_COOKIE, token, max_age=int(session_s), httponly=True, samesite="strict",
                            path=f"/study/{sid}")
        return {"session": token, "trials": len(trials), "practice": sum(t["practice"] for t in trials)}

    @app.get("/study/{sid}/api/state")
    async def state(sid: str, request: Request):
        manifest, store, p = participant(sid, request)
        given = {a["trial"]: a for a in store.answers(p.id)}
        trials = []
        for i, t in enumerate(p.trials):
            a = given.get(i)
            view = {"trial": i, "practice": t["practice"], "answer": a["choice"] if a else None}
            if t["practice"] and a:
                view["real_side"] = a["real_side"]
            trials.append(view)
        left = [t["trial"] for t in trials if t["answer"] is None]
        return {"study": sid, "trials": trials, "practice": sum(t["practice"] for t in p.trials),
                "next": left[0] if left else None, "closed": store.closed}

    @app.get("/study/{sid}/media/{trial}/{side}")
    async def media(sid: str, trial: int, side: str, request: Request):
        manifest, store, p = participant(sid, request)
        t = trial_of(p, trial)
        if side not in SIDES:
            raise HTTPException(404, "side is left or right")
        clip = manifest["by_id"][t["clip"]]
        rel = clip["real"] if real_side_of(t, clip) == side else clip["sounds"][t["method"]]
        return AnonymousFile(reg.root / sid / rel, media_type="video/mp4", headers={"Cache-Control": "no-store"})

    @app.post("/study/{sid}/api/answer")
    async def answer(sid: str, body: Answer, request: Request):
        manifest, store, p = participant(sid, request)
        t = trial_of(p, body.trial)
        if store.closed:
            stored = [a for a in store.answers(p.id) if a["trial"] == body.trial]
            if not stored:
                raise HTTPException(409, "this study is closed and takes no more answers")
            row, new = stored[0], False
        else:
            clip = manifest["by_id"][t["clip"]]
            real_side = real_side_of(t, clip)
            row, new = store.answer(p.id, body.trial, {
                "clip": clip["id"], "video": clip["video"], "method": t["method"], "practice": int(t["practice"]),
                "real_side": real_side, "choice": body.choice, "chose_real": int(body.choice == real_side)})
        out = {"trial": body.trial, "choice": row["choice"], "stored": new,
               "next": body.trial + 1 if body.trial + 1 < len(p.trials) else None}
        if t["practice"]:
            out["real_side"] = row["real_side"]
        return out

    # ------------------------------------------------------------------------------------ admin

    @app.get("/admin", response_class=HTMLResponse)
    def admin_page(request: Request):
        token = request.query_params.get("token")
        if token is not None and secrets.compare_digest(token.encode(), admin_token.encode()):
            r = RedirectResponse("/admin", status_code=303)  # the token leaves the address bar for a cookie
            r.set_cookie(ADMIN_COOKIE, token, httponly=True, samesite="strict")
            return r
        admin(request)
        return page("admin.html")

    @app.get("/admin/api/studies", dependencies=[Depends(admin)])
    def list_studies():
        out = []
        for sid in reg.ids():
            try:
                manifest, store = reg.get(sid)
            except HTTPException as e:
                out.append({"id": sid, "error": e.detail})
                continue
            out.append({"id": sid, "join": f"/study/{sid}/join", "results": f"/admin/study/{sid}",
                        "methods": manifest["methods"], "clips": len(manifest["clips"]),
                        "videos": len({c["video"] for c in manifest["clips"]}),
                        "trials": trials_per_participant(manifest), "practice": manifest["practice"],
                        "participants": store.n_participants(), "closed": store.closed})
        return {"studies": out, "can_create": predictor is not None and data is not None, "data": str(data or "")}

    @app.post("/admin/api/studies", dependencies=[Depends(admin)])
    def new_study(name: str = Form(...), methods: str = Form(",".join(SOUND_METHODS)), trials: int = Form(TRIALS),
                  practice: int = Form(PRACTICE), seed: int = Form(0), per_video: int = Form(PER_VIDEO)):
        if predictor is None or data is None:
            raise HTTPException(503, "creating a study here needs `vis serve --model RUN --data DIR`")
        if not STUDY_NAME.match(name) or (reg.root / name).exists():
            raise HTTPException(400, f"study name {name[:64]!r}: letters, digits, '.', '_', '-', and not in use")
        reg.root.mkdir(parents=True, exist_ok=True)

        def work(job: Job) -> dict:
            job.stage = "making clips"
            m = create_study(data, predictor, reg.root / name, methods=[x.strip() for x in methods.split(",")],
                             trials=trials, practice=practice, seed=seed, per_video=per_video, progress=False)
            return {"study": name, "clips": len(m["clips"]), "join": f"/study/{name}/join"}

        return jobs.submit("study", work).view()

    @app.get("/admin/study/{sid}", response_class=HTMLResponse, dependencies=[Depends(admin)])
    def results_page(sid: str):
        reg.get(sid)
        return page("results.html")

    @app.get("/admin/api/study/{sid}/results", dependencies=[Depends(admin)])
    def results(sid: str):
        manifest, store = reg.get(sid)
        res = summarize(manifest, store.answers())
        return {**res, "methods_order": manifest["methods"], "closed": store.closed,
                "table": table(res, manifest["methods"])}

    @app.get("/admin/study/{sid}/answers.csv", dependencies=[Depends(admin)])
    def export(sid: str):
        manifest, store = reg.get(sid)
        return PlainTextResponse(csv_text(csv_rows(manifest, store.answers())), media_type="text/csv",
                                 headers={"content-disposition": f'attachment; filename="{sid}-answers.csv"'})

    @app.post("/admin/api/study/{sid}/close", dependencies=[Depends(admin)])
    def close(sid: str):
        _, store = reg.get(sid)
        store.close()
        return {"study": sid, "closed": True}

    return app


def serve(*, model: Path | None, host: str, port: int, data: Path | None, studies: Path, device: str = "cpu",
          allowed: list[str] | None = None, limits: dict | None = None) -> None:
    """``vis serve``: load the model once, print the admin token and the addresses, serve until Ctrl-C.
    ``allowed``: more Host names to answer to (behind a proxy, or on 0.0.0.0)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
        except OSError as e:
            raise VisError(f"{host}:{port}: cannot listen there ({e.strerror or e})") from None
    predictor = load_predictor(model, device=device) if model is not None else None
    if data is not None:
        open_dataset(data)  # a dataset that cannot be read is refused now, not when a study is made from it
    token = secrets.token_urlsafe(TOKEN_BYTES)
    app = build_app(studies=studies, admin_token=token, predictor=predictor, data=data, model_name=str(model or ""),
                    hosts=allowed_hosts(host, allowed), limits=limits or LIMITS)
    base = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    print(f"vis serve: admin token {token}")
    print(f"  demo:  {base}/" + (f"  (model: {model})" if predictor else
                                 "  (no model: start with --model RUN to predict)"))
    print(f"  admin: {base}/admin?token={token}")
    for sid in app.state.studies.ids():
        print(f"  study {sid}: {base}/study/{sid}/join")
    if host not in ("127.0.0.1", "::1", "localhost"):
        print(f"vis serve: warning: listening on {host}, reachable from other machines", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
