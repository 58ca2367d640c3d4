"""What the routes of ``vis serve`` share (:class:`Server`, on ``app.state.vis``): the studies, the jobs, the
model and the admin token; and the pages they answer with."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from vis.errors import VisError
from vis.sound.predict import Predictor
from vis.web.jobs import Jobs
from vis.web.store import Store
from vis.web.study import DATABASE, STUDY_NAME, load_manifest

PAGES = Path(__file__).resolve().parent / "pages"


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


@dataclass
class Server:
    """One app's shared state (:func:`vis.web.serve.build_app`)."""

    studies: Studies
    jobs: Jobs
    admin_token: str
    predictor: Predictor | None
    data: Path | None  # the dataset studies are made from
    model_name: str
    max_upload: int
    session_s: float  # how long a participant's session token is valid


def server(request: Request) -> Server:
    """The app's :class:`Server` (a FastAPI dependency)."""
    return request.app.state.vis


ServerDep = Annotated[Server, Depends(server)]  # a route's parameter ``srv: ServerDep``


def page(name: str) -> HTMLResponse:
    return HTMLResponse((PAGES / name).read_text(encoding="utf-8"))
