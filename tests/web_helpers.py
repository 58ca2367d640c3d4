"""Helpers of the web tests (tests/test_web_*.py): a study without a model, and the app on a real port."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import numpy as np

from tests.conftest import clicks, moving_square_frames
from vis.data.media import write_video
from vis.web.study import new_study

ADMIN = "admin-token-for-tests"
MATERIALS = ("wood", "metal", "leaf")


def fake_study(root: Path, name: str, *, videos: int = 8, per_video: int = 2, practice: int = 2, trials: int = 4,
               methods: tuple[str, ...] = ("example", "parametric"), seed: int = 0) -> Path:
    """A study folder whose clips share three tiny mp4s (real: a loud click; each method: a quiet one), so
    that which file a side plays tells which sound it is. Material and action cycle over the clips."""
    folder = root / name
    (folder / "clips").mkdir(parents=True)
    frames = moving_square_frames(8, w=32, h=24)
    for kind, gain in [("real", 1.0)] + [(m, 0.1) for m in methods]:
        write_video(folder / "clips" / f"{kind}.mp4", frames, audio=gain * clicks([0.05], 0.3, sr=48_000), sr=48_000)
    clips = []
    for v in range(videos):
        for k in range(per_video):
            n = len(clips)
            clips.append({"id": f"c{n:04d}", "video": f"2015-01-01-00-00-{v:02d}", "time": 1.0 + k, "start": k,
                          "material": MATERIALS[n % len(MATERIALS)], "action": ("hit", "scratch")[n % 2],
                          "real": "clips/real.mp4", "sounds": {m: f"clips/{m}.mp4" for m in methods}})
    new_study(folder, clips, methods=list(methods), trials=trials, practice=practice, seed=seed)
    return folder


@contextlib.contextmanager
def live_server(app):
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yields its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def rms_db(path: Path) -> float:
    """Loudness of a file's sound: RMS in dB."""
    from vis.data.io import read_audio

    a, _ = read_audio(path, mono=True)
    return float(20 * np.log10(np.sqrt(np.mean(np.square(a))) + 1e-9))
