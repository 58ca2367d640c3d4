"""Shared fixtures: a tiny dataset in the real Greatest Hits layout, written with PyAV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vis.data.dataset import Event, write_times
from vis.data.io import NTSC_FPS, write_wav
from vis.data.media import write_video

TINY_IDS = ("2015-01-01-00-00-01", "2015-01-01-00-00-02", "2015-01-01-00-00-03-123", "2015-01-01-00-00-04")
SR = 96_000


def moving_square_frames(n: int, *, w: int = 64, h: int = 48, seed: int = 0) -> list[np.ndarray]:
    """Frames whose lower half is grey level 4*i (frame index i), with a white square moving across."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 60, size=(h, w, 3), dtype=np.uint8)
    frames = []
    for i in range(n):
        f = base.copy()
        f[h // 2 :] = min(4 * i, 255)
        x = (3 * i) % (w - 8)
        f[10:18, x : x + 8] = 255
        frames.append(f)
    return frames


def clicks(times: list[float], seconds: float, *, sr: int = SR, channels: int = 1) -> np.ndarray:
    """Decaying 1 kHz clicks at ``times`` over faint noise: [n] or [n, channels] float32."""
    rng = np.random.default_rng(1)
    n = int(seconds * sr)
    x = 0.001 * rng.standard_normal(n)
    t = np.arange(int(0.08 * sr)) / sr
    click = 0.5 * np.sin(2 * np.pi * 1000 * t) * np.exp(-t / 0.01)
    for s in times:
        i = int(s * sr)
        x[i : i + len(click)] += click[: n - i]
    x = x.astype(np.float32)
    return x if channels == 1 else np.stack([x] * channels, axis=1)


def write_tiny_id(root: Path, vid: str, *, seconds: float = 1.5, events: list[Event] | None = None) -> None:
    n_frames = int(round(seconds * float(NTSC_FPS)))
    events = events if events is not None else [Event(0.4, "wood", "hit", "static"),
                                               Event(1.0, None, "scratch", None)]
    audio = clicks([e.time for e in events], seconds)
    frames = moving_square_frames(n_frames)
    write_video(root / f"{vid}_denoised.mp4", frames, audio=audio, sr=SR)
    write_video(root / f"{vid}_denoised_thumb.mp4", [f[::2, ::2] for f in frames], audio=audio, sr=SR)
    write_video(root / f"{vid}_mic.mp4", frames, audio=np.stack([audio, audio], 1), sr=SR)
    write_wav(root / f"{vid}_denoised.wav", audio, SR)
    write_wav(root / f"{vid}_mic.wav", np.stack([audio, audio], 1), SR)
    write_times(root / f"{vid}_times.txt", events)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked ``slow(seconds)`` run first, longest first: pytest-xdist hands tests to its workers in
    this order, so a long test collected late no longer runs alone at the end while the other worker idles."""

    def seconds(item: pytest.Item) -> float:
        mark = item.get_closest_marker("slow")
        return float(mark.args[0]) if mark else 0.0

    items.sort(key=seconds, reverse=True)  # stable: the rest keep their order


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """Four ids with all six files, and train.txt / test.txt. Do not modify: copy it first."""
    root = tmp_path_factory.mktemp("tiny")
    for vid in TINY_IDS:
        write_tiny_id(root, vid)
    (root / "train.txt").write_text("\n".join(TINY_IDS[:3]) + "\n")
    (root / "test.txt").write_text(TINY_IDS[3] + "\n")
    return root


TINY_CONFIG = """\
[model]
image_size = [32, 24]
feat_dim = 16
hidden = 8

[train]
epochs = 2
batch_size = 2
log_every = 1
threads = 1
"""


@pytest.fixture(scope="session")
def tiny_run(tiny_data, tmp_path_factory) -> Path:
    """A model trained for a few steps on ``tiny_data`` through the CLI (a real end-to-end smoke run)."""
    from vis.cli import main

    base = tmp_path_factory.mktemp("run")
    (base / "tiny.toml").write_text(TINY_CONFIG)
    code = main(["train", str(tiny_data), "--out", str(base / "run"), "--config", str(base / "tiny.toml"),
                 "--cache", str(base / "cache")])
    assert code == 0
    return base / "run"
