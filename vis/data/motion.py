"""Motion features of real footage: dense optical flow at the video's own frame rate, on the model's grid.

Real Greatest Hits videos come at 15, 25, 29.97 or 30 fps, some with every 5th or 6th frame dropped, from a
hand-held or shaking camera. Frame differences of frames resampled to 29.97 fps by nearest frame are zero
between repeated frames and doubled across dropped ones, and the camera's own motion swamps the stick's.
So the motion the network sees is measured here between the video's *own* consecutive frames, as a
velocity (pixels per model frame, i.e. per 1/29.97 s, using each pair's time gap, so a dropped frame whose
time the file leaves out changes nothing; the stuttering 25 fps videos are stamped at a regular rate, and there
it shows), with the camera's motion (the median flow over the image) removed, and then linearly interpolated
onto the model's frame grid (29.97 fps), whatever the input rate. Of video much faster than the grid (50-60
fps), every other frame is measured (:func:`frame_step`), as a 25 or 29.97 fps camera shows it; a frame that
repeats its predecessor (a 25 fps video converted to 29.97 fps) is left out (:func:`repeats`).

Per frame pair, on greyscale frames resized to FLOW_SIZE (:func:`pair_features`, MOTION_FEATURES numbers):

- the camera's motion: median flow (dx, dy);
- the residual speed ``|flow - median|``: mean, 90th / 99th percentile and max over the image;
- the velocity (dx, dy) of the fastest 1 % of pixels (where the stick is), and their mean speed;
- the residual speed averaged over a GRID x GRID grid of cells (where in the image things move);
- the mean and 99th percentile of the absolute grey-level difference, per unit of time.

Speeds are compressed as ``sign(v) * log(1 + |v|)``. Everything is a fixed function of the frames: it is
computed once per video (``vis prepare``) and stored (:func:`vis.data.cache.prepare_motion`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from fractions import Fraction

import numpy as np

from vis.data.media import iter_frames, probe
from vis.errors import VisError

FLOW_SIZE = (160, 90)  # (width, height) of the greyscale frames the flow is measured on (16:9)
GRID = 4  # cells per side of the coarse grid of residual speed
TOP_SHARE = 0.01  # the fastest 1 % of pixels: the stick and the hand
# Farneback's parameters (pyramid scale, levels, window, iterations, poly_n, poly_sigma): OpenCV's
# recommended values for small frames; the window of 9 px spans a drumstick at 160 px wide.
FARNEBACK = (0.5, 3, 9, 3, 5, 1.1)
MOTION_FEATURES = 2 + 4 + 3 + GRID * GRID + 2  # 27 numbers per frame
# A repeated frame (:func:`repeats`) is left out and the next pair spans the time that passed. The 8 train videos
# at 25 fps converted to 29.97 fps as `ffmpeg -r 30000/1001` does (about one frame in six repeated): vis predict's
# impacts F1 0.648 against the annotations, 0.697 now, the originals 0.729 (docs/real-footage.md, Frame rates).
REPEAT_SHARE = 0.05
MOVING_CHANGE = 1.0
# Where a row's numbers lie (pair_features): camera (dx, dy), residual speed (4), fastest pixels (dx, dy, speed),
# the grid (GRID x GRID, row by row), grey-level differences (2)
CAMERA_DX, FAST_DX, GRID_AT = 0, 6, 9


def _signed_log(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def pair_features(prev: np.ndarray, now: np.ndarray, dt_frames: float) -> np.ndarray:
    """Motion between two greyscale frames ``prev``, ``now`` [H, W] uint8 taken ``dt_frames`` model frames
    apart (1.0 at 29.97 fps; 2.0 across a dropped frame): float32 [MOTION_FEATURES]."""
    import cv2

    flow = cv2.calcOpticalFlowFarneback(prev, now, None, *FARNEBACK, 0) / max(dt_frames, 1e-3)  # [H, W, 2]
    h, w = prev.shape
    camera = np.median(flow.reshape(-1, 2), axis=0)
    res = flow - camera
    speed = np.sqrt((res**2).sum(-1))  # [H, W]
    flat = speed.reshape(-1)
    k = max(1, int(round(TOP_SHARE * flat.size)))
    top = np.argpartition(flat, -k)[-k:]
    fast = res.reshape(-1, 2)[top].mean(0)
    grid = speed[: h // GRID * GRID, : w // GRID * GRID].reshape(GRID, h // GRID, GRID, w // GRID).mean((1, 3))
    diff = np.abs(now.astype(np.float32) - prev.astype(np.float32)) / max(dt_frames, 1e-3)
    out = np.concatenate([
        _signed_log(camera),
        np.log1p([flat.mean(), np.quantile(flat, 0.9), np.quantile(flat, 0.99), flat.max()]),
        _signed_log(fast), np.log1p([flat[top].mean()]),
        np.log1p(grid.reshape(-1)),
        np.log1p([diff.mean(), np.quantile(diff, 0.99)]) * 0.5,
    ])
    return out.astype(np.float32)


def mirror_motion(motion: np.ndarray) -> np.ndarray:
    """The motion features [..., MOTION_FEATURES] of the left-right mirrored video: the horizontal velocities
    (the camera's, the fastest pixels') change sign and the grid's columns swap; speeds are unchanged."""
    m = np.array(motion, np.float32, copy=True)
    m[..., CAMERA_DX] *= -1
    m[..., FAST_DX] *= -1
    grid = slice(GRID_AT, GRID_AT + GRID * GRID)
    m[..., grid] = m[..., grid].reshape(*m.shape[:-1], GRID, GRID)[..., ::-1].reshape(*m.shape[:-1], GRID * GRID)
    return m


def _grey(frame: np.ndarray) -> np.ndarray:
    f = frame.astype(np.float32)
    return np.round(0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]).astype(np.uint8)


def video_motion(video: str | os.PathLike, *, fps: float | Fraction, n_frames: int | None = None,
                 progress=None, half_rate: bool = False) -> np.ndarray:
    """Motion features of a video on the model's frame grid: float32 [N, MOTION_FEATURES], row ``f`` the
    motion at time ``f / fps`` (``N``: ``n_frames``, else as many grid times as the video covers).

    The video is decoded at its own rate (every stored frame, streaming; of video much faster than the grid,
    every :func:`frame_step`-th; a frame that repeats the one before it left out, :func:`repeats`); each
    consecutive pair gives one :func:`pair_features` row at the pair's midpoint time, and the rows are
    interpolated linearly onto the grid (held constant before the first and after the last pair).
    ``progress``: a callable given the number of frames decoded so far. ``half_rate``: float32 [3, N,
    MOTION_FEATURES], the video's motion and that of its two half-rate copies (every other frame measured, from
    the first and from the second), as a 29.97 fps video resampled to 15 fps shows it, measured in the same
    pass (:mod:`vis.train_onsets`).
    """
    import cv2

    cv2.setNumThreads(1)  # one process per video (vis prepare --workers): no threads fighting over the cores
    step = frame_step(probe(video).fps, fps)
    chains = [(1, 0), (2, 0), (2, 1)] if half_rate else [(1, 0)]  # (keep every, from frame) of those measured
    times: list[list[float]] = [[] for _ in chains]
    rows: list[list[np.ndarray]] = [[] for _ in chains]
    prev: list = [None for _ in chains]
    last_t = 0.0

    def measured():  # every step-th stored frame, greyscale, with its time
        nonlocal last_t
        for i, (t, frame) in enumerate(iter_frames(video, size=FLOW_SIZE)):
            last_t = t
            if progress is not None:
                progress(i + 1)
            if i % step == 0:
                yield t, _grey(frame)

    for kept, (t, g) in enumerate(unrepeated(measured())):
        for c, (every, first) in enumerate(chains):
            if kept % every != first:
                continue
            if prev[c] is not None and t > prev[c][0]:
                rows[c].append(pair_features(prev[c][1], g, (t - prev[c][0]) * float(fps)))
                times[c].append(0.5 * (t + prev[c][0]))
            prev[c] = (t, g)
    if prev[0] is None:
        raise VisError(f"{video}: video stream has no frames")
    # as many grid times as iter_frames gives at ``fps``: those before half a stored frame past the last one
    stored = float(np.median(np.diff(times[0]))) / step if len(times[0]) > 1 else 1.0 / float(fps)
    n = n_frames if n_frames is not None else int(np.ceil((last_t + 0.5 * stored) * float(fps) - 1e-9))
    out = [on_grid(np.asarray(ts), np.asarray(rs, np.float32).reshape(-1, MOTION_FEATURES), n, fps=fps)
           for ts, rs in zip(times, rows)]
    return np.stack(out) if half_rate else out[0]


def repeats(change: float, before: float, after: float) -> bool:
    """Whether a frame repeats the one before it: its mean grey-level change (0-255, at FLOW_SIZE) is under
    REPEAT_SHARE of both the change before it and the one after it, while things move (over MOVING_CHANGE). A
    25 fps video converted to 29.97 fps repeats about one frame in six; measured across a repeat, the motion
    reads zero and then double. A stick that comes to rest is still for more than one frame, or slows first."""
    around = min(before, after)
    return around > MOVING_CHANGE and change < REPEAT_SHARE * around


def _change(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b).mean())


def unrepeated(frames: Iterator[tuple[float, np.ndarray]]) -> Iterator[tuple[float, np.ndarray]]:
    """``(time, grey frame)`` pairs without the frames that repeat their predecessor (:func:`repeats`), one
    frame behind; the last frame, which has nothing after it, is judged by the change before it alone."""
    kept: np.ndarray | None = None
    kept_change = 0.0
    held: tuple[float, np.ndarray, float] | None = None  # a frame waiting for the next: time, frame, change
    for t, g in frames:
        if kept is None:
            kept = g
            yield t, g
            continue
        if held is not None:
            if not repeats(held[2], kept_change, _change(held[1], g)):
                yield held[0], held[1]
                kept, kept_change = held[1], held[2]
        held = (t, g, _change(kept, g))
    if held is not None and not repeats(held[2], kept_change, kept_change):
        yield held[0], held[1]


def motion_rows(motion: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Rows ``idx`` (any shape) of motion features [N, D] as float32 [*idx.shape, D]; indices outside the video
    take its first or last row (where a window, or the video and the motion grid, differ by a frame or two)."""
    return np.asarray(motion[np.clip(np.asarray(idx), 0, len(motion) - 1)], np.float32)


def frame_step(native: float | Fraction | None, grid: float | Fraction) -> int:
    """Every how many stored frames the motion is measured: 1, but ``round(native / grid)`` for video much faster
    than the grid (2 at 50 or 59.94 fps, 4 at 120), so that each pair is about one grid frame apart, as a 25 or
    29.97 fps camera (the footage the detector learned from) would show it. A 30 fps video exported at 60 fps by
    repeating every frame then gives the original's motion, not a zero difference followed by a doubled one."""
    return max(1, int(round(float(native) / float(grid)))) if native else 1


def on_grid(times: np.ndarray, rows: np.ndarray, n: int, *, fps: float | Fraction) -> np.ndarray:
    """Rows [P, D] at ``times`` [P] (seconds, increasing) linearly interpolated at ``f / fps``, f < n: [n, D]."""
    if len(rows) == 0:  # a single frame: no motion at all
        return np.zeros((n, MOTION_FEATURES), np.float32)
    grid = np.arange(n) / float(fps)
    return np.stack([np.interp(grid, times, rows[:, j]) for j in range(rows.shape[1])], axis=1).astype(np.float32)
