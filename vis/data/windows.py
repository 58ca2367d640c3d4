"""Training examples: windows of frames with their target sound, and the augmentation used on them.

A window is a video and a first frame: ``n_frames`` frames (15 for the centred task, 60 for detection)
with one spare frame on each side for the spacetime images, and the target envelopes of those frames,
``n_frames * 3`` rows of 42 bands (:mod:`vis.data.cache` ties rows to frames).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vis.config import ModelConfig
from vis.data.cache import (
    CENTRED_FRAMES,
    DETECTION_FRAMES,
    DETECTION_STRIDE,
    K,
    VideoFeatures,
    centred_starts,
    sequence_starts,
)
from vis.data.frames import MOTION_STATS, colour_images, motion_statistics
from vis.errors import VisError
from vis.model.device import model_device


@dataclass
class Windows:
    """Training examples: (video, first frame) pairs with their target envelopes [M, N*K, 42]."""

    videos: list[VideoFeatures]
    index: np.ndarray  # [M, 2] (video number, first frame)
    targets: np.ndarray  # [M, N*K, 42]
    n_frames: int
    # Backbone "none": what the network computes from the frames is fixed (nothing in it is learnt), so it is
    # computed once (fix_inputs): per-video motion statistics and per-window first-frame colour features.
    fixed: dict | None = None

    def __len__(self) -> int:
        return len(self.index)

    def frames(self, rows: np.ndarray) -> np.ndarray:
        """uint8 [len(rows), n_frames + 2, H, W, 3]: each window with one spare frame on each side."""
        out = []
        for v, s in self.index[rows]:
            out.append(np.asarray(self.videos[v].frames[s - 1 : s + self.n_frames + 1]))
        return np.stack(out)

    def trunk_features(self, rows: np.ndarray, *, spacetime: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Cached frozen-trunk outputs: per-frame [len(rows), n_frames, D] and first colour frame [len(rows), D]."""
        seq, first = [], []
        for v, s in self.index[rows]:
            tr = self.videos[v].trunk
            seq.append(tr["spacetime" if spacetime else "colour"][s : s + self.n_frames])
            first.append(tr["colour"][s])
        return torch.from_numpy(np.stack(seq).astype(np.float32)), torch.from_numpy(np.stack(first).astype(np.float32))

    def fix_inputs(self, net, *, batch: int = 64, progress: bool = False) -> None:
        """Compute a backbone-"none" network's inputs once (``self.fixed``); predict() then uses them.

        They are what every training step would compute again from the same frames: the motion statistics
        (per video) and the colour trunk's features of each window's first frame or, for the colour-only
        ablation, of every frame. Augmentation does not change the motion statistics (the same shift and
        mirroring for a whole window); the colour features are of the unaugmented frames.
        """
        if net.cfg.backbone != "none":
            raise VisError("only a backbone 'none' network has fixed inputs")
        from tqdm import tqdm

        spacetime = net.cfg.spacetime
        dev = model_device(net)
        per_video = []
        with torch.no_grad():
            for vf in tqdm(self.videos, desc="motion statistics" if spacetime else "colour features",
                           unit="video", disable=not progress):
                f = vf.frames
                n = len(f)
                if spacetime:  # frames 0 and n-1 have no neighbour: no window uses them
                    x = np.zeros((n, MOTION_STATS), np.float32)
                    for a in range(1, n - 1, 256):
                        b = min(a + 256, n - 1)
                        x[a:b] = motion_statistics(torch.from_numpy(np.array(f[a - 1 : b + 1]))[None])[0].numpy()
                else:
                    x = np.concatenate([net.first_trunk(colour_images(torch.from_numpy(np.array(f[a : a + batch]))
                                                                      .to(dev))).float().cpu().numpy().astype(np.float16)
                                        for a in range(0, n, batch)])
                per_video.append(x)
            first = []
            if spacetime:
                for i in tqdm(range(0, len(self), batch), desc="colour features", unit="batch", disable=not progress):
                    x = np.stack([np.asarray(self.videos[v].frames[s]) for v, s in self.index[i : i + batch]])
                    first.append(net.first_trunk(colour_images(torch.from_numpy(x).to(dev))).float().cpu().numpy())
            else:
                first = [np.stack([per_video[v][s] for v, s in self.index]).astype(np.float32)] if len(self) else []
        self.fixed = {"spacetime": spacetime, "per_video": per_video,
                      "first": np.concatenate(first) if first else np.zeros((0, 1280), np.float32)}

    def predict(self, model, rows: np.ndarray, cfg: ModelConfig, *, augment_rng: np.random.Generator | None = None,
                shift: int = 0) -> torch.Tensor:
        """The network's output for some windows: from fixed inputs or cached trunk features where there are
        some, else from frames. Inputs are made on the CPU and moved to the network's device."""
        dev = model_device(model)
        if self.fixed is not None and cfg.backbone == "none" and cfg.spacetime == self.fixed["spacetime"]:
            first = torch.from_numpy(self.fixed["first"][rows]).to(dev)
            per_frame = torch.from_numpy(np.stack([self.fixed["per_video"][v][s : s + self.n_frames]
                                                   for v, s in self.index[rows]]).astype(np.float32)).to(dev)
            if cfg.spacetime:  # phi(F_t) is nothing: the motion statistics go beside phi(I_1)
                return model(trunk_features=(first.new_zeros(len(rows), self.n_frames, 0), first, per_frame))
            return model(trunk_features=(per_frame, first, None))
        if cfg.frozen and all(v.trunk is not None for v in self.videos):
            f_seq, f_first = (x.to(dev) for x in self.trunk_features(rows, spacetime=cfg.spacetime))
            stats = None
            if cfg.colour_trunk or cfg.motion_stats:  # not in the trunk cache: from the frames (cheap)
                frames = torch.from_numpy(self.frames(rows)).to(dev)
                if cfg.colour_trunk:  # model may be DDP-wrapped: the method is the network's
                    f_first = getattr(model, "module", model).first_trunk(colour_images(frames[:, 1]))
                stats = motion_statistics(frames) if cfg.motion_stats else None
            return model(trunk_features=(f_seq, f_first, stats))
        frames = self.frames(rows)
        if augment_rng is not None:
            frames = augment(frames, augment_rng, shift)
        return model(torch.from_numpy(np.ascontiguousarray(frames)).to(dev))


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


def augment(frames: np.ndarray, rng: np.random.Generator, shift: int) -> np.ndarray:
    """Random translation (edge-padded, up to ``shift`` px) and mirroring, the same for a whole window."""
    out = np.empty_like(frames)
    b, _, h, w, _ = frames.shape
    for i in range(b):
        x = frames[i]
        if rng.random() < 0.5:
            x = x[:, :, ::-1]
        if shift > 0:
            dx, dy = rng.integers(-shift, shift + 1, size=2)
            x = np.pad(x, ((0, 0), (shift, shift), (shift, shift), (0, 0)), mode="edge")
            x = x[:, shift + dy : shift + dy + h, shift + dx : shift + dx + w]
        out[i] = x
    return out
