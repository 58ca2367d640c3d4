"""``vis serve``: the demo page, listening studies and their admin pages, as one FastAPI app of three routers
(:mod:`vis.web.demo_routes`, :mod:`vis.web.study_routes`, :mod:`vis.web.admin_routes`) sharing a
:class:`vis.web.state.Server`.

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
import secrets
import socket
import tempfile
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from vis.errors import VisError
from vis.sound.predict import Predictor
from vis.web import admin_routes, demo_routes, study_routes
from vis.web.guard import LIMITS, Guard, allowed_hosts
from vis.web.jobs import MAX_UPLOAD, Jobs
from vis.web.sounds import load_predictor, open_dataset
from vis.web.state import Server, Studies
from vis.web.store import TOKEN_BYTES

SESSION_S = 14 * 24 * 3600.0  # a participant's session token is valid for two weeks


def build_app(*, studies: Path, admin_token: str, predictor: Predictor | None = None, data: Path | None = None,
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
    app.state.vis = Server(reg, jobs, admin_token, predictor, data, model_name, max_upload, session_s)
    app.state.jobs, app.state.studies = jobs, reg
    app.add_middleware(Guard, hosts=hosts, limits=limits)
    for router in (demo_routes.router, study_routes.router, admin_routes.router, admin_routes.api):
        app.include_router(router)
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
