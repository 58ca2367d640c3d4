"""The impact detector: when does the stick strike? A small temporal CNN over a video's motion features.

The paper finds impacts in whole videos with its detection LSTM, whose predicted sound's peaks are the
impacts (Sec. 6.1). On real footage with a few dozen training videos that regression learns too little of the
timing, so the default recipe answers "when" with a classifier of its own: per frame (29.97 fps), the
probability that an impact happens there, from the optical-flow features of :mod:`vis.data.motion` (and their
changes from frame to frame) of the frames around it. Its peaks are the impacts; the centred model then says
what each sounds like (:mod:`vis.sound.predict`).

Network: three dilated convolutions (kernel 5, dilation 1, 2, 4: it sees 14 frames, ~0.47 s, either side)
of ONSET_WIDTH channels with ReLU and dropout, then a per-frame logit. Several such networks, trained from
different seeds, are averaged (``[train] onset_ensemble``, 3), over the video and its left-right mirror image
(ONSET_MIRROR). Trained by :mod:`vis.train_onsets`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np
import torch
from torch import nn

from vis.data.motion import MOTION_FEATURES, mirror_motion
from vis.errors import VisError

ONSET_INPUTS = 2 * MOTION_FEATURES  # the features and their change from the previous frame
ONSET_WIDTH = 64
ONSET_KERNEL = 5
# Dropout in training. On the 16 real train videos (nested 4-fold cross-validation, the whole recipe, seeds 0, 10,
# ..., 50 of the procedure; benchmarks/detector_cv.py --dropout): F1 0.588 at 0.2, 0.594 at 0.4 (better for 4
# seeds, level for 1, worse for 1), 0.592 at 0.5; 0.4 with weight decay 1e-3 0.595 (docs/real-footage.md).
ONSET_DROPOUT = 0.4
# The low-rate detector (below) keeps 0.2: on the train videos' half-rate copies (nested, --low-rate, seeds 0, 10,
# 20, 30) 0.4 read 0.537 / 0.519 / 0.517 / 0.520 (mean 0.523) against 0.522 / 0.531 / 0.530 / 0.520 (0.526).
LOW_RATE_DROPOUT = 0.2


def training_dropout(low_rate: bool) -> float:
    """The dropout a detector is trained with: LOW_RATE_DROPOUT for the low-rate one, else ONSET_DROPOUT."""
    return LOW_RATE_DROPOUT if low_rate else ONSET_DROPOUT


ONSET_DILATIONS = (1, 2, 4)
# Frames each output sees either side: (5 // 2) * (1 + 2 + 4) = 14. A video's motion is extended by this many
# copies of its first and last rows before the networks see it, instead of the convolutions' zeros: 2.2 s clips
# cut from held-out real videos, F1 0.566 -> 0.574 (docs/real-footage.md).
ONSET_REACH = (ONSET_KERNEL // 2) * sum(ONSET_DILATIONS)
# A stick strikes the same whether the video is mirrored or not: the probability is averaged over the video and
# its left-right mirror image. On the 16 real train videos (4-fold cross-validation) F1 rose in each of 5 trials:
# 1 seed 0.582 -> 0.593, 0.583 -> 0.583, 0.568 -> 0.596; 3 seeds 0.600 -> 0.605, 0.588 -> 0.603
# (docs/real-footage.md).
ONSET_MIRROR = True
# Video slower than this (15 fps: half the rate of the videos trained on) is read by the low-rate detector, trained
# and fitted on the half-rate copies of the training videos (vis.train_onsets). On the 16 real train videos, every
# other frame dropped (nested 4-fold cross-validation, 4 seeds, benchmarks/detector_cv.py): F1 0.500 with the
# full-rate detector and its threshold, 0.526 with the low-rate one (+0.011 to +0.032 each seed;
# docs/real-footage.md).
LOW_RATE_FPS = 20.0


def onset_inputs(motion: np.ndarray) -> np.ndarray:
    """A video's motion features [N, MOTION_FEATURES] and their frame-to-frame change: [N, ONSET_INPUTS]."""
    motion = np.asarray(motion, np.float32)
    if motion.ndim != 2 or motion.shape[1] != MOTION_FEATURES:
        raise VisError(f"motion features must be [N, {MOTION_FEATURES}], got {list(motion.shape)}")
    return np.concatenate([motion, np.diff(motion, axis=0, prepend=motion[:1])], axis=1)


class OnsetNet(nn.Module):
    """[B, N, ONSET_INPUTS] normalised inputs -> [B, N] impact logits (same N: the convolutions are padded)."""

    def __init__(self, d: int = ONSET_INPUTS, width: int = ONSET_WIDTH, kernel: int = ONSET_KERNEL,
                 dropout: float = ONSET_DROPOUT):
        super().__init__()
        layers: list[nn.Module] = []
        for i, dilation in enumerate(ONSET_DILATIONS):
            layers += [nn.Conv1d(d if i == 0 else width, width, kernel, padding=dilation * (kernel // 2),
                                 dilation=dilation), nn.ReLU()]
            if i < 2:
                layers.append(nn.Dropout(dropout))
        self.body = nn.Sequential(*layers, nn.Conv1d(width, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.transpose(1, 2))[:, 0]


@dataclass
class OnsetDetector:
    """A trained impact detector: its networks (averaged), the inputs' normalisation, the peak picking fitted
    on videos the networks did not see (``threshold`` on the probability, ``min_gap_s`` between impacts:
    :mod:`vis.train_onsets`), and whether the probability is averaged over the video's mirror image
    (``mirror``; False for detectors saved before ONSET_MIRROR, whose threshold was fitted without it), and the
    detector for video slower than LOW_RATE_FPS (``low_rate``; None: this one reads every video)."""

    nets: list[OnsetNet]
    mean: np.ndarray  # [ONSET_INPUTS]
    std: np.ndarray  # [ONSET_INPUTS]
    threshold: float = 0.5
    min_gap_s: float = 0.25
    mirror: bool = ONSET_MIRROR
    low_rate: OnsetDetector | None = None

    def for_rate(self, fps: float | Fraction | None) -> OnsetDetector:
        """The detector for a video stored at ``fps`` frames per second (as :func:`vis.data.media.probe` gives it;
        None: unknown, read as full rate)."""
        if fps and fps < LOW_RATE_FPS and self.low_rate is not None:  # 0 (unknown rate) as None
            return self.low_rate
        return self

    def probabilities(self, motion: np.ndarray) -> np.ndarray:
        """Per-frame impact probability [N] of a video's motion features [N, MOTION_FEATURES]: the networks'
        mean over the video and its mirror image (``mirror``), its first and last rows repeated ONSET_REACH
        times beyond its ends."""
        views = [motion, mirror_motion(motion)] if self.mirror else [motion]
        padded = [np.pad((onset_inputs(m) - self.mean) / self.std, ((ONSET_REACH, ONSET_REACH), (0, 0)), mode="edge")
                  for m in views]
        x = torch.from_numpy(np.stack(padded)).float()
        with torch.no_grad():
            prob = np.mean([torch.sigmoid(net.eval()(x)).numpy().mean(axis=0) for net in self.nets], axis=0)
        return prob[ONSET_REACH : len(prob) - ONSET_REACH]

    def at_threshold(self, threshold: float) -> OnsetDetector:
        """The same detector keeping impacts whose probability exceeds ``threshold`` (in (0, 1])."""
        if not 0.0 < threshold <= 1.0:
            raise VisError(f"impact threshold {threshold:g}: must be a probability, more than 0 and at most 1")
        low = self.low_rate.at_threshold(threshold) if self.low_rate is not None else None
        return replace(self, threshold=float(threshold), low_rate=low)

    def to_dict(self) -> dict:
        return {"states": [net.state_dict() for net in self.nets], "mean": self.mean.tolist(),
                "std": self.std.tolist(), "threshold": self.threshold, "min_gap_s": self.min_gap_s,
                "mirror": self.mirror, **({"low_rate": self.low_rate.to_dict()} if self.low_rate else {})}

    @classmethod
    def from_dict(cls, d: dict) -> OnsetDetector:
        nets = []
        for state in d["states"]:
            net = OnsetNet()
            net.load_state_dict(state)
            nets.append(net.eval())
        low = cls.from_dict(d["low_rate"]) if "low_rate" in d else None
        return cls(nets, np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32),
                   float(d["threshold"]), float(d["min_gap_s"]), bool(d.get("mirror", False)), low)


def probability_peaks(prob: np.ndarray, *, fps: float, threshold: float, min_gap_s: float,
                      subframe: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Impacts in a per-frame probability [N] at ``fps``: local maxima above ``threshold``, the most probable
    first, each at least ``min_gap_s`` from every one kept before it. Returns times (s, increasing) and their
    probabilities. ``subframe``: each time moves (by at most half a frame) to the vertex of the parabola through
    the peak's probability and its two neighbours', for the impact falls between the frames the probability is
    sampled at (out-of-fold on the 16 real train videos, 5 detector recipes: F1 +0.001 to +0.007, the shipped
    recipe's cross-validated 0.596 -> 0.600; docs/real-footage.md)."""
    p = np.asarray(prob, np.float64)
    if len(p) < 3:
        return np.zeros(0), np.zeros(0)
    inner = np.arange(1, len(p) - 1)
    cand = inner[(p[1:-1] >= p[:-2]) & (p[1:-1] > p[2:]) & (p[1:-1] > threshold)]
    gap = min_gap_s * fps
    kept: list[int] = []
    for i in cand[np.argsort(-p[cand], kind="stable")]:
        if all(abs(i - j) >= gap for j in kept):
            kept.append(int(i))
    kept.sort()
    idx = np.asarray(kept, np.int64)
    if not subframe or len(idx) == 0:
        return idx / fps, p[idx]
    before, at, after = p[idx - 1], p[idx], p[idx + 1]
    curve = before - 2 * at + after  # < 0 at a local maximum (at >= before, at > after)
    shift = np.divide(0.5 * (before - after), curve, out=np.zeros_like(curve), where=curve < -1e-12)
    return (idx + np.clip(shift, -0.5, 0.5)) / fps, at
