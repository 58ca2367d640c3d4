"""A participant's routes (``/study/{id}/...``): the page, joining (a session token, also set as a cookie),
their trials and answers, the two clips of a trial, and storing an answer once (idempotent).

The session token goes in the ``X-Session`` header or the ``vis_session`` cookie. These run on the event loop
itself: each is a few short SQLite statements, cheaper inline than handed to a worker thread
(docs/design.md), and writes never wait on each other.
"""

from __future__ import annotations

import random
import secrets
from typing import Literal

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel

from vis.web.state import Server, ServerDep, page
from vis.web.store import Participant, Store
from vis.web.study import SIDES, assign_trials, real_side_of, trials_per_participant

SESSION_COOKIE = "vis_session"

router = APIRouter(prefix="/study/{sid}")


class AnonymousFile(FileResponse):
    """A study clip without ETag or Last-Modified (they would tell which side of a later trial is real)."""

    def set_stat_headers(self, stat_result) -> None:
        self.headers.setdefault("content-length", str(stat_result.st_size))


class Answer(BaseModel):
    trial: int
    choice: Literal["left", "right"]


def participant(sid: str, request: Request, srv: Server) -> tuple[dict, Store, Participant]:
    """The study and the participant whose session token the request carries (401 / 403 otherwise)."""
    manifest, store = srv.studies.get(sid)
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


@router.get("/join", response_class=HTMLResponse)
def study_page(sid: str, srv: ServerDep):
    srv.studies.get(sid)
    return page("study.html")


@router.get("/api/about")
async def about(sid: str, srv: ServerDep):
    manifest, store = srv.studies.get(sid)
    return {"study": sid, "practice": min(manifest["practice"], trials_per_participant(manifest)),
            "trials": trials_per_participant(manifest), "closed": store.closed}


@router.post("/api/join")
async def join(sid: str, response: Response, srv: ServerDep):
    manifest, store = srv.studies.get(sid)
    if store.closed:
        raise HTTPException(409, "this study is closed")
    trials = assign_trials(manifest, random.Random(secrets.randbits(64)))
    pid, token = store.join(trials, session_s=srv.session_s)
    response.set_cookie(SESSION_COOKIE, token, max_age=int(srv.session_s), httponly=True, samesite="strict",
                        path=f"/study/{sid}")
    return {"session": token, "trials": len(trials), "practice": sum(t["practice"] for t in trials)}


@router.get("/api/state")
async def state(sid: str, request: Request, srv: ServerDep):
    manifest, store, p = participant(sid, request, srv)
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


@router.get("/media/{trial}/{side}")
async def media(sid: str, trial: int, side: str, request: Request, srv: ServerDep):
    manifest, store, p = participant(sid, request, srv)
    t = trial_of(p, trial)
    if side not in SIDES:
        raise HTTPException(404, "side is left or right")
    clip = manifest["by_id"][t["clip"]]
    rel = clip["real"] if real_side_of(t, clip) == side else clip["sounds"][t["method"]]
    return AnonymousFile(srv.studies.root / sid / rel, media_type="video/mp4", headers={"Cache-Control": "no-store"})


@router.post("/api/answer")
async def answer(sid: str, body: Answer, request: Request, srv: ServerDep):
    manifest, store, p = participant(sid, request, srv)
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
