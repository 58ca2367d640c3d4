"""The admin's routes (the token printed at start, as ``?token=`` once, then a cookie; or ``Authorization:
Bearer``): studies, their join links, creation, ``/admin/study/{id}`` results, ``.../answers.csv``, closing."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse

from vis.config import SOUND_METHODS
from vis.web.jobs import Job
from vis.web.results import csv_rows, csv_text, summarize, table
from vis.web.state import ServerDep, page
from vis.web.study import PER_VIDEO, PRACTICE, STUDY_NAME, TRIALS, create_study, trials_per_participant

ADMIN_COOKIE = "vis_admin"


def admin(request: Request, srv: ServerDep) -> None:
    """Refuse (401) a request without the admin token (a FastAPI dependency)."""
    given = (request.headers.get("authorization", "").removeprefix("Bearer ").strip()
             or request.cookies.get(ADMIN_COOKIE) or request.query_params.get("token") or "")
    if not secrets.compare_digest(given.encode(), srv.admin_token.encode()):
        raise HTTPException(401, "admin pages need the admin token that `vis serve` printed at start")


router = APIRouter()
api = APIRouter(dependencies=[Depends(admin)])  # every route but the page, which takes the token to a cookie


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request, srv: ServerDep):
    token = request.query_params.get("token")
    if token is not None and secrets.compare_digest(token.encode(), srv.admin_token.encode()):
        r = RedirectResponse("/admin", status_code=303)  # the token leaves the address bar for a cookie
        r.set_cookie(ADMIN_COOKIE, token, httponly=True, samesite="strict")
        return r
    admin(request, srv)
    return page("admin.html")


@api.get("/admin/api/studies")
def list_studies(srv: ServerDep):
    out: list[dict] = []
    for sid in srv.studies.ids():
        try:
            manifest, store = srv.studies.get(sid)
        except HTTPException as e:
            out.append({"id": sid, "error": e.detail})
            continue
        out.append({"id": sid, "join": f"/study/{sid}/join", "results": f"/admin/study/{sid}",
                    "methods": manifest["methods"], "clips": len(manifest["clips"]),
                    "videos": len({c["video"] for c in manifest["clips"]}),
                    "trials": trials_per_participant(manifest), "practice": manifest["practice"],
                    "participants": store.n_participants(), "closed": store.closed})
    return {"studies": out, "can_create": srv.predictor is not None and srv.data is not None,
            "data": str(srv.data or "")}


@api.post("/admin/api/studies")
def new_study(srv: ServerDep, name: str = Form(...), methods: str = Form(",".join(SOUND_METHODS)),
              trials: int = Form(TRIALS), practice: int = Form(PRACTICE), seed: int = Form(0),
              per_video: int = Form(PER_VIDEO)):
    predictor, data, root = srv.predictor, srv.data, srv.studies.root
    if predictor is None or data is None:
        raise HTTPException(503, "creating a study here needs `vis serve --model RUN --data DIR`")
    if not STUDY_NAME.match(name) or (root / name).exists():
        raise HTTPException(400, f"study name {name[:64]!r}: letters, digits, '.', '_', '-', and not in use")
    root.mkdir(parents=True, exist_ok=True)

    def work(job: Job) -> dict:
        job.stage = "making clips"
        m = create_study(data, predictor, root / name, methods=[x.strip() for x in methods.split(",")],
                         trials=trials, practice=practice, seed=seed, per_video=per_video, progress=False)
        return {"study": name, "clips": len(m["clips"]), "join": f"/study/{name}/join"}

    return srv.jobs.submit("study", work).view()


@api.get("/admin/study/{sid}", response_class=HTMLResponse)
def results_page(sid: str, srv: ServerDep):
    srv.studies.get(sid)
    return page("results.html")


@api.get("/admin/api/study/{sid}/results")
def results(sid: str, srv: ServerDep):
    manifest, store = srv.studies.get(sid)
    res = summarize(manifest, store.answers())
    return {**res, "methods_order": manifest["methods"], "closed": store.closed,
            "table": table(res, manifest["methods"])}


@api.get("/admin/study/{sid}/answers.csv")
def export(sid: str, srv: ServerDep):
    manifest, store = srv.studies.get(sid)
    return PlainTextResponse(csv_text(csv_rows(manifest, store.answers())), media_type="text/csv",
                             headers={"content-disposition": f'attachment; filename="{sid}-answers.csv"'})


@api.post("/admin/api/study/{sid}/close")
def close(sid: str, srv: ServerDep):
    _, store = srv.studies.get(sid)
    store.close()
    return {"study": sid, "closed": True}
