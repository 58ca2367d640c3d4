"""Training examples: windows of frames with their target sound, and the loader that batches them.

A window is a video and a first frame: ``n_frames`` frames (15 for the centred task, 60 for detection)
with one spare frame on each side for the spacetime images, and the target envelopes of those frames,
``n_frames * 3`` rows of 42 bands (:mod:`vis.data.cache` ties rows to frames).

Training reads one batch per step through a :class:`torch.utils.data.DataLoader` (:func:`step_loader`):
item ``s`` of :class:`StepBatches` is step ``s``'s batch, its rows drawn from a permutation seeded by
``(seed, epoch)``. Worker processes read and stack the frames ahead of the training step; what a batch
holds depends only on the step, so a resumed run, or one with another number of workers, sees the same
batches.
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import signal
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from vis.data.cache import (
    CENTRED_FRAMES,
    DETECTION_FRAMES,
    DETECTION_STRIDE,
    K,
    VideoFeatures,
    centred_starts,
    sequence_starts,
)
from vis.errors import VisError

INPUT_KINDS = ("frames", "trunk", "fixed")  # what a batch carries: see Windows.inputs


@dataclass
class Windows:
    """Training examples: (video, first frame) pairs with their target envelopes [M, N*K, 42]."""

    videos: list[VideoFeatures]
    index: np.ndarray  # [M, 2] (video number, first frame)
    targets: np.ndarray  # [M, N*K, 42]
    n_frames: int
    # A network that learns nothing from pixels (backbone "none") sees fixed functions of the frames; they
    # are computed once (vis.model.inputs.fix_inputs): "per_video" motion statistics or colour features
    # [n_frames_of_video, D] and "first", the colour features of each window's first frame [M, D].
    fixed: dict | None = None

    def __len__(self) -> int:
        return len(self.index)

    def frames(self, rows: np.ndarray) -> np.ndarray:
        """uint8 [len(rows), n_frames + 2, H, W, 3]: each window with one spare frame on each side."""
        return np.stack([np.asarray(self.videos[v].frames[s - 1 : s + self.n_frames + 1]) for v, s in self.index[rows]])

    def motion(self, v: int, s: int) -> np.ndarray:
        """Video ``v``'s optical-flow features [n_frames, D] of the window's frames from ``s`` (the last row
        repeated past the end)."""
        return self.videos[v].motion_rows(np.arange(s, s + self.n_frames))

    def inputs(self, rows: np.ndarray, kind: str, *, spacetime: bool = True, with_frames: bool = False
               ) -> dict[str, np.ndarray]:
        """What the network takes for some windows, as arrays.

        ``kind`` "frames": ``frames`` uint8 [B, N+2, H, W, 3] (and ``motion`` [B, N, D] where the videos have
        their optical-flow features). "trunk": a frozen trunk's cached outputs,
        ``seq`` [B, N, D] (of the spacetime images, or of the colour frames) and ``first`` [B, D], with
        ``frames`` too when ``with_frames``. "fixed": ``seq`` [B, N, D] from ``fixed["per_video"]`` and
        ``first`` [B, D] from ``fixed["first"]``.
        """
        if kind == "frames":
            out = {"frames": self.frames(rows)}
            if self.videos and all(v.motion is not None for v in self.videos):  # for a flow network
                out["motion"] = np.stack([self.motion(v, s) for v, s in self.index[rows]])
            return out
        if kind == "fixed":
            if self.fixed is None:
                raise VisError("these windows have no fixed inputs (vis.model.inputs.fix_inputs)")
            seq = np.stack([self.fixed["per_video"][v][s : s + self.n_frames] for v, s in self.index[rows]])
            return {"seq": seq.astype(np.float32), "first": self.fixed["first"][rows]}
        if kind == "trunk":
            seqs, firsts = [], []
            for v, s in self.index[rows]:
                tr = self.videos[v].trunk
                seqs.append(tr["spacetime" if spacetime else "colour"][s : s + self.n_frames])
                firsts.append(tr["colour"][s])
            out = {"seq": np.stack(seqs).astype(np.float32), "first": np.stack(firsts).astype(np.float32)}
            if with_frames:
                out["frames"] = self.frames(rows)
            return out
        raise VisError(f"unknown input kind {kind!r} (one of {', '.join(INPUT_KINDS)})")


def centred_windows(videos: list[VideoFeatures], *, centres: str = "onsets",
                    n_frames: int = CENTRED_FRAMES) -> Windows:
    """The centred task's windows: ``n_frames`` frames around each onset (or annotated event)."""
    index, targets = [], []
    for i, vf in enumerate(videos):
        times = vf.onsets if centres == "onsets" else vf.event_times
        for s in centred_starts(vf, times, n_frames=n_frames):
            index.append((i, s))
            targets.append(vf.targets(int(s), n_frames))
    if not index:
        return Windows(videos, np.zeros((0, 2), np.int64), np.zeros((0, n_frames * K, 42), np.float32), n_frames)
    return Windows(videos, np.asarray(index, np.int64), np.stack(targets), n_frames)


def detection_windows(videos: list[VideoFeatures], *, lag: int = 0, n_frames: int = DETECTION_FRAMES,
                      stride: int = DETECTION_STRIDE) -> Windows:
    """The detection task's windows: ~2 s sequences every 0.5 s (paper Sec. 6.1).

    With ``lag`` > 0 the targets are the sound of frames ``start - lag ..`` (the output lags, A1.1).
    """
    index, targets = [], []
    for i, vf in enumerate(videos):
        for s in sequence_starts(vf, n_frames=n_frames, stride=stride):
            if s - lag < 0:
                continue
            index.append((i, s))
            targets.append(vf.targets(int(s) - lag, n_frames))
    if not index:
        return Windows(videos, np.zeros((0, 2), np.int64), np.zeros((0, n_frames * K, 42), np.float32), n_frames)
    return Windows(videos, np.asarray(index, np.int64), np.stack(targets), n_frames)


class StepBatches(Dataset):
    """Item ``step`` is that training step's batch: the rows of the epoch's seeded permutation that fall to
    this process (every ``world``-th of the global batch), their inputs (:meth:`Windows.inputs`) and targets.

    An item is a dict: ``rows`` [b] int64, ``share`` (this process's share of the global batch, times
    ``world``), ``targets`` [b, N*K, 42] and the inputs.
    """

    def __init__(self, windows: Windows, *, batch_size: int, seed: int, kind: str, spacetime: bool = True,
                 with_frames: bool = False, rank: int = 0, world: int = 1):
        if len(windows) < batch_size:
            raise VisError(f"only {len(windows)} training windows (need at least batch_size = {batch_size})")
        self.windows, self.batch_size, self.seed = windows, batch_size, seed
        self.kind, self.spacetime, self.with_frames = kind, spacetime, with_frames
        self.rank, self.world = rank, world
        self.steps_per_epoch = len(windows) // batch_size

    def rows(self, step: int) -> np.ndarray:
        """The global batch of ``step`` (all processes'): a function of ``(seed, epoch)`` and the step."""
        epoch, within = divmod(step, self.steps_per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.windows))
        return order[within * self.batch_size : (within + 1) * self.batch_size]

    def __getitem__(self, step: int) -> dict:
        rows = self.rows(step)
        mine = rows[self.rank :: self.world]
        return {"rows": mine, "share": len(mine) * self.world / len(rows), "targets": self.windows.targets[mine],
                **self.windows.inputs(mine, self.kind, spacetime=self.spacetime, with_frames=self.with_frames)}


def _seed_worker(seed: int, worker_id: int) -> None:
    """Each worker's own generators, seeded from the run's seed and the worker's number. Nothing drawn in a
    worker changes a batch (augmentation is drawn in the training step from ``(seed, step)``); this keeps
    any worker-side randomness reproducible. Ctrl-C reaches the whole process group: workers ignore it, and
    the training process decides when to stop (at a step boundary, :class:`vis.train` saves first)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    np.random.seed(np.random.SeedSequence([seed, worker_id]).generate_state(1)[0])
    torch.manual_seed(seed * 1000 + worker_id)


def step_loader(batches: StepBatches, steps: range, *, workers: int = 0, pin_memory: bool = False,
                prefetch: int = 4) -> DataLoader:
    """A DataLoader over ``steps`` (e.g. ``range(resumed_step, total_steps)``) of ``batches``: ``workers``
    processes read ahead (0: in this process); ``pin_memory`` for fast copies to CUDA."""
    # fork where the platform has it: workers share the windows' memory-mapped frames instead of receiving a
    # pickled copy of them (a raw store would be copied whole into every worker under spawn or forkserver)
    context = mp.get_context("fork") if workers and "fork" in mp.get_all_start_methods() else None
    return DataLoader(batches, batch_size=None, sampler=steps, num_workers=workers, pin_memory=pin_memory,
                      worker_init_fn=functools.partial(_seed_worker, batches.seed) if workers else None,
                      prefetch_factor=prefetch if workers else None, persistent_workers=False,
                      multiprocessing_context=context)
