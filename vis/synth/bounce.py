"""A minimal detection check where only motion reveals contact: a square falls and rebounds.

Each video shows a white square over a noisy background. It falls to a contact height drawn at random
for every impact, rebounds to a random top, and falls again; every rebound is a click in the sound.
Because the contact height changes from impact to impact, one colour frame cannot tell whether it is a
contact frame; the spacetime image (grey frames t-1, t, t+1) shows the reversal. This isolates what the
paper's detection experiment compares (Sec. 6.1: spacetime against colour-only, AP 43.6 % vs 21.6 % on
real video) in data a CPU can train on in minutes (``benchmarks/detection_bounce.py``, and the test in
``tests/test_train.py``). Files follow the Greatest Hits layout, so every command reads them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vis.data.dataset import Event, write_times
from vis.data.io import NTSC_FPS, write_wav
from vis.data.media import write_video
from vis.errors import VisError

SR = 48_000  # Hz
SIZE = (64, 48)  # (width, height) of the frames
SQUARE = 8  # px
FALL_S = (0.25, 0.55)  # duration of one fall, and of one rise (s)
CONTACT_Y = (18.0, 40.0)  # contact height (px from the top), random per impact
TOP_Y = (2.0, 12.0)  # height reached after a rebound


def _click(sr: int) -> np.ndarray:
    """A decaying 1 kHz click, 80 ms."""
    t = np.arange(int(0.08 * sr)) / sr
    return 0.5 * np.sin(2 * np.pi * 1000 * t) * np.exp(-t / 0.01)


def bounce_video(rng: np.random.Generator, seconds: float) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """One video: frames (uint8 [48, 64, 3] at 29.97 fps), mono audio at ``SR`` and the contact times (s)."""
    fps = float(NTSC_FPS)
    knots_t, knots_y, touches = [0.0], [4.0], []
    t = 0.0
    while t < seconds:
        t += rng.uniform(*FALL_S)
        knots_t.append(t)
        knots_y.append(rng.uniform(*CONTACT_Y))
        touches.append(t)
        t += rng.uniform(*FALL_S)
        knots_t.append(t)
        knots_y.append(rng.uniform(*TOP_Y))
    contacts = np.array([c for c in touches if 0.3 < c < seconds - 0.3])
    w, h = SIZE
    base = rng.integers(40, 90, size=(h, w, 3), dtype=np.uint8)
    frames = []
    for i in range(int(round(seconds * fps))):
        f = base + rng.integers(0, 10, size=base.shape, dtype=np.uint8)
        y = int(round(np.interp(i / fps, knots_t, knots_y)))
        x = (w - SQUARE) // 2
        f[y : y + SQUARE, x : x + SQUARE] = 255
        frames.append(f)
    audio = 0.001 * rng.standard_normal(int(seconds * SR))
    click = _click(SR)
    for c in contacts:
        i = int(round(c * SR))
        audio[i : i + len(click)] += click[: len(audio) - i]
    return frames, audio.astype(np.float32), contacts


def write_bounce(root: str | os.PathLike, *, videos: int = 12, seconds: float = 8.0, seed: int = 0,
                 test_fraction: float = 0.25) -> list[str]:
    """Write ``videos`` bounce videos in the Greatest Hits layout, with ``train.txt`` / ``test.txt``."""
    if videos < 2:
        raise VisError(f"bounce data needs at least 2 videos (one to train, one to test), got {videos}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ids = [f"2015-03-03-00-{i // 60:02d}-{i % 60:02d}" for i in range(videos)]
    for vid in ids:
        frames, audio, contacts = bounce_video(rng, seconds)
        stereo = np.stack([audio, audio], 1)
        write_video(root / f"{vid}_denoised.mp4", frames, audio=audio, sr=SR)
        write_video(root / f"{vid}_denoised_thumb.mp4", [f[::2, ::2] for f in frames], audio=audio, sr=SR)
        write_video(root / f"{vid}_mic.mp4", frames, audio=stereo, sr=SR)
        write_wav(root / f"{vid}_denoised.wav", audio, SR)
        write_wav(root / f"{vid}_mic.wav", stereo, SR)
        write_times(root / f"{vid}_times.txt", [Event(float(c), None, "hit", None) for c in contacts])
    n_test = min(videos - 1, max(1, int(round(videos * test_fraction))))
    (root / "train.txt").write_text("".join(f"{v}\n" for v in ids[:-n_test]))
    (root / "test.txt").write_text("".join(f"{v}\n" for v in ids[-n_test:]))
    return ids
