"""The demo page's uploads and the server's background jobs (predictions, study creation).

An upload is streamed to a per-job temporary folder with a byte counter: more than ``max_upload`` bytes
(declared or sent) is refused with 413 and nothing kept; a client that goes away mid-upload leaves nothing
behind. The file is then probed with PyAV (:func:`vis.web.sounds.check_video`): a renamed text file or a
wav is refused (415). The client's file name gives only its extension and is never used in a path; one
with a path in it is refused (400). Jobs run one at a time on one worker thread (the model is shared);
the outputs of the last ``max_jobs`` finished jobs are kept, older ones are deleted.
"""

from __future__ import annotations

import secrets
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from vis.data.media import not_a_video
from vis.errors import VisError
from vis.web.sounds import check_video

MAX_UPLOAD = 200_000_000  # the demo takes videos up to 200 MB (bytes)
VIDEO_TYPES = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi")  # what the demo page accepts, by extension
IMAGE_TYPES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".heic", ".avif")  # refused as such
MAX_JOBS = 20  # finished jobs whose outputs are kept
MAX_PENDING = 4  # queued or running jobs; more are refused with 503 until one finishes
BUSY = "the server is busy with other videos; try again in a minute"
OUTPUTS = {"video": "with-sound.mp4", "png": "cochleagram.png"}  # a demo job's output files
BAD_NAME_CHARS = ("/", "\\", "\x00")


@dataclass
class Job:
    """One background job; ``state`` is queued, running, done or failed."""

    id: str
    kind: str
    folder: Path | None
    state: str = "queued"
    stage: str = "waiting for the model"
    created: float = field(default_factory=time.time)
    finished: float | None = None
    error: str | None = None
    result: dict = field(default_factory=dict)

    def view(self) -> dict:
        """What the page polls: state, stage, seconds so far, error, and output URLs when done."""
        end = self.finished or time.time()
        out = {"job": self.id, "kind": self.kind, "state": self.state, "stage": self.stage,
               "seconds": round(end - self.created, 1), "error": self.error, **self.result}
        if self.kind == "predict" and self.state == "done":
            out.update({k: f"/jobs/{self.id}/{name}" for k, name in OUTPUTS.items()})
        return out


def check_name(name: str) -> str:
    """The extension of an uploaded file's name; 400 for a name with a path in it, 415 for another type."""
    if any(c in name for c in BAD_NAME_CHARS) or name in (".", "..") or ".." in name.split("."):
        raise HTTPException(400, f"file name {name[:80]!r}: a name with a path in it is refused")
    suffix = Path(name).suffix.lower()
    if suffix in IMAGE_TYPES:
        raise HTTPException(415, not_a_video(name[:80]))
    if suffix not in VIDEO_TYPES:
        raise HTTPException(415, f"{name[:80]}: not a video type the demo takes ({', '.join(VIDEO_TYPES)})")
    return suffix


class Jobs:
    """Background jobs on one worker thread, their folders under ``root`` (kept: the last ``max_jobs``)."""

    def __init__(self, root: Path, *, max_upload: int = MAX_UPLOAD, max_jobs: int = MAX_JOBS,
                 owns_root: bool = False) -> None:
        self.root = Path(root)
        self.owns_root = owns_root  # a temporary folder made for these jobs: removed on close
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_upload = max_upload
        self.max_jobs = max_jobs
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vis-job")

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise HTTPException(404, "no such job (finished jobs are kept for a while only)")
        return job

    def _full(self) -> bool:
        """Whether MAX_PENDING jobs are queued or running (call with the lock held)."""
        return sum(j.state in ("queued", "running") for j in self._jobs.values()) >= MAX_PENDING

    def check_capacity(self) -> None:
        """503 when MAX_PENDING jobs wait already (checked before an upload is read, and again on submit)."""
        with self._lock:
            full = self._full()
        if full:
            raise HTTPException(503, BUSY)

    def submit(self, kind: str, work: Callable[[Job], dict], *, folder: Path | None = None) -> Job:
        """Queue ``work(job) -> result dict``; 503 when MAX_PENDING jobs wait already (``folder`` is then
        removed: nothing of a refused job stays on disk)."""
        with self._lock:
            if self._full():
                if folder is not None:
                    shutil.rmtree(folder, ignore_errors=True)
                raise HTTPException(503, BUSY)
            job = Job(secrets.token_hex(8) if folder is None else folder.name, kind, folder)
            self._jobs[job.id] = job
        self._pool.submit(self._run, job, work)
        return job

    def _run(self, job: Job, work: Callable[[Job], dict]) -> None:
        job.state, job.stage = "running", "running"
        try:
            job.result = work(job) or {}
            job.state, job.stage = "done", "done"
        except VisError as e:
            job.state, job.error = "failed", str(e)
        except Exception as e:  # a job's failure is reported on its page; the server goes on
            job.state, job.error = "failed", f"internal error: {type(e).__name__}: {e}"
        finally:
            job.finished = time.time()
            if job.state == "failed" and job.folder is not None:
                shutil.rmtree(job.folder, ignore_errors=True)
            self._prune()

    def _prune(self) -> None:
        with self._lock:
            done = sorted((j for j in self._jobs.values() if j.finished), key=lambda j: j.finished or 0.0)
            for j in done[: max(0, len(done) - self.max_jobs)]:
                del self._jobs[j.id]
                if j.folder is not None:
                    shutil.rmtree(j.folder, ignore_errors=True)

    async def receive(self, request: Request, *, name: str) -> tuple[Path, Path]:
        """Stream the request's body into a new job folder as ``input.EXT``; returns (folder, file).

        Refused: a name with a path (400), another type (415), more than ``max_upload`` bytes (413), a
        file PyAV cannot read or without a video stream (415). Nothing is kept of a refused or broken upload.
        """
        suffix = check_name(name)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_upload:
            raise HTTPException(413, f"{name[:80]}: {int(declared) / 1e6:.1f} MB is over the "
                                f"{self.max_upload / 1e6:.0f} MB limit")
        folder = self.root / secrets.token_hex(8)
        tmp = self.root / f".upload-{folder.name}"
        tmp.mkdir()
        try:
            size = 0
            with open(tmp / f"input{suffix}", "wb") as f:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > self.max_upload:
                        raise HTTPException(413, f"{name[:80]}: over the {self.max_upload / 1e6:.0f} MB limit")
                    f.write(chunk)
            if size == 0:
                raise HTTPException(400, "no file in the request body")
            try:
                await run_in_threadpool(check_video, tmp / f"input{suffix}", name=name[:80])
            except VisError as e:
                raise HTTPException(415, str(e)) from None
            tmp.rename(folder)
        except ClientDisconnect:
            raise HTTPException(400, "the upload was interrupted") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return folder, folder / f"input{suffix}"

    def close(self) -> None:
        """Stop taking jobs, wait for the running one, and remove every job folder (and the root folder if it
        was made for these jobs; a folder the user gave stays)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            folders = [j.folder for j in self._jobs.values() if j.folder is not None]
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        if self.owns_root:
            shutil.rmtree(self.root, ignore_errors=True)
