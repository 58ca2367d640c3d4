"""Whole-video prediction in windows: the network over a video file or its cached frames, 10 s at a time.

A run without an impact detector (the paper's recipe: a detection model) predicts a whole video's cochleagram
from frames decoded at the model's rate (29.97 fps) and size, in windows of WINDOW_S overlapping by OVERLAP and
joined where the two predictions differ least (paper A1.1); ``vis predict`` then takes its prominent peaks
(:mod:`vis.sound.predict`).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from tqdm import tqdm

from vis.data.cache import FPS, K, row_times
from vis.data.media import iter_frames, probe
from vis.data.motion import motion_rows, video_motion
from vis.errors import VisError
from vis.model.device import autocast, model_device
from vis.sound.peaks import Prediction

WINDOW_S = 10.0  # long videos run in 10 s windows ...
OVERLAP = 0.3  # ... overlapping by 30 % (paper A1.1)


def _windows_of_frames(frames, win: int, step: int, *, ahead: int = 0):
    """Group a (time, frame) stream into windows of ``win`` frames starting every ``step`` frames.

    Yields (first frame index, n, frames [n + 2 + ahead, H, W, 3]): the window's n frames with one spare
    frame before and ``1 + ahead`` after (the video's first / last frame repeated at its ends). The last
    window is whatever remains after the last full one. Only the frames of the current window are kept.
    """
    buf: list[np.ndarray] = []
    buf_start, s, covered = 0, 0, 0  # index of buf[0]; next window's start; end of the last window

    def take(a: int, b: int, last: int) -> np.ndarray:
        idx = np.clip(np.arange(a - 1, b + 1 + ahead), 0, last) - buf_start
        return np.stack([buf[i] for i in idx])

    for _, f in frames:
        buf.append(f)
        while buf_start + len(buf) >= s + win + 1 + ahead:  # the window's frames and those after are here
            yield s, win, take(s, s + win, s + win + ahead)
            covered, s = s + win, s + step
            drop = max(0, s - 1 - buf_start)
            buf, buf_start = buf[drop:], buf_start + drop
    total = buf_start + len(buf)
    if total > covered:
        yield s, total - s, take(s, total, total - 1)


def predict_features(net, pca, video: str | os.PathLike, *, progress: bool = True) -> Prediction:
    """Run the network over a whole video file in overlapping windows (see :func:`predict_stream`)."""
    info = probe(video)
    if not info.has_video:
        raise VisError(f"{video}: no video stream")
    motion = video_motion_with_bar(video, info.n_frames, progress=progress) if uses_flow(net) else None
    stream = iter_frames(video, size=tuple(net.cfg.image_size), fps=FPS)
    est = int(info.duration * float(FPS)) if info.duration else None
    pred = predict_stream(net, pca, stream, total=est, progress=progress, motion=motion)
    if pred is None:
        raise VisError(f"{video}: video stream has no frames")
    return pred


def predict_cached(net, pca, vf) -> Prediction:
    """The same from a video's cached frames (:class:`vis.data.cache.VideoFeatures`), for evaluation."""
    n = vf.n_frames
    motion = np.asarray(vf.motion) if uses_flow(net) and vf.motion is not None else None
    pred = predict_stream(net, pca, ((i / float(FPS), vf.frames[i]) for i in range(n)), total=n, progress=False,
                          motion=motion)
    if pred is None:
        raise VisError(f"{vf.vid}: no cached frames")
    return pred


def uses_flow(net) -> bool:
    """Whether ``net`` takes the video's optical-flow features beside its frames."""
    return bool(net.cfg.motion_stats and net.cfg.motion == "flow")


def predict_stream(net, pca, stream, *, total: int | None = None, window_s: float = WINDOW_S,
                   overlap: float = OVERLAP, progress: bool = True, motion: np.ndarray | None = None
                   ) -> Prediction | None:
    """Predicted envelopes for a stream of (time, frame) pairs at the model's rate and size.

    Windows of ``window_s`` overlap by ``overlap``; each is joined to the previous at the row where the
    two predictions differ least (paper A1.1). Returns None for an empty stream. ``motion`` [N, D]: the
    video's optical-flow features on the same grid, for a network that takes them (:func:`uses_flow`).
    """
    win = max(2, int(round(window_s * float(FPS))))
    step = max(1, int(round(win * (1 - overlap))))
    lag = net.cfg.lag
    env: np.ndarray | None = None
    n_frames = 0
    bar = tqdm(total=total, desc="predict", unit="frame", disable=not progress)
    dev = model_device(net)
    with torch.no_grad(), autocast(dev):
        for s, n, frames in _windows_of_frames(stream, win, step, ahead=lag):
            # the output lags by `lag` frames, so the window carries `lag` frames more (real ones, or the
            # last frame repeated at the end of the video)
            x = torch.from_numpy(np.ascontiguousarray(frames))[None].to(dev)
            m = None
            if motion is not None:  # the rows of the window's frames (the last one repeated past the end)
                m = torch.from_numpy(motion_rows(motion, np.arange(s, s + len(frames) - 2)))[None].to(dev)
            code = net(x, motion=m, centred=False)[0].float().cpu().numpy()
            rows = pca.decode(code[lag * K : lag * K + n * K])  # rows of frames s .. s+n-1
            env = rows if env is None else _join(env, rows, s * K)
            n_frames = max(n_frames, s + n)
            bar.update(s + n - bar.n)
    bar.close()
    if env is None:
        return None
    return Prediction(env[: n_frames * K], row_times(n_frames), n_frames / float(FPS), n_frames)


def _join(a: np.ndarray, b: np.ndarray, b_start: int) -> np.ndarray:
    """Join row arrays: ``a`` from row 0, ``b`` from row ``b_start``; switch where they differ least."""
    ov = len(a) - b_start
    if ov <= 0:
        return np.concatenate([a, b])
    diff = ((a[b_start:] - b[:ov]) ** 2).sum(axis=1)
    r = int(np.argmin(diff))
    return np.concatenate([a[: b_start + r], b[r:]])


def video_motion_with_bar(video: str | os.PathLike, n_frames: int | None, *, progress: bool = True) -> np.ndarray:
    """A video's optical-flow features on the model's grid (:func:`vis.data.motion.video_motion`), with a
    progress bar over its ``n_frames`` stored frames (None: unknown)."""
    with tqdm(total=n_frames, desc="motion", unit="frame", disable=not progress) as bar:
        return video_motion(video, fps=FPS, progress=lambda k: bar.update(k - bar.n))
