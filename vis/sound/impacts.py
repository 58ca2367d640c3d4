"""Detect, then describe: a whole video's sound features from the impact detector and the centred model.

The default recipe finds impacts with its detector (:mod:`vis.model.onset`) on the video's optical-flow
features (:func:`detected_impacts`), and asks the centred model (trained on 15-frame windows centred on
impacts, paper Sec. 6.1) what each sounds like, on the window centred on it: the situation it was trained
for. The whole video's predicted cochleagram is a quiet floor (the quietest row of the average training
impact, band by band) with each impact's 45 predicted rows laid over it (the louder of the two where impacts
overlap). The synthesis methods then paste or impose a sound at each detected impact
(:func:`vis.sound.predict.synthesize`).
"""

from __future__ import annotations

import numpy as np
import torch

from vis.data.cache import CENTRED_FRAMES, FPS, K, row_times
from vis.data.frames import colour_images
from vis.data.motion import motion_rows
from vis.model.device import model_device
from vis.model.network import flow_inputs
from vis.model.onset import OnsetDetector, probability_peaks
from vis.sound.peaks import Prediction

# A video in which no impact clears the detector's threshold keeps its most probable peak if that reaches
# QUIET_SHARE of the threshold: a silent track is the worst answer for a clip that shows impacts. On 2.2 s pieces
# of the 16 real train videos (out-of-fold probabilities, every other frame dropped as in 15 fps clips), 12 of
# the 210 pieces with impacts came out silent and none with it; F1 over all pieces 0.493 -> 0.492 (full rate:
# 1 silent -> 0, F1 0.573 both; shares 0.75 and 0.5 left 8 and 6 silent). docs/real-footage.md.
QUIET_SHARE = 0.25


def detected_impacts(detector: OnsetDetector, prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Impact times (s, between frames: ``probability_peaks(subframe=True)``) and probabilities in a video's
    per-frame impact probability [N] (on the model's grid): the peaks above the detector's threshold, at least
    its gap apart; where there is none, the most probable peak above QUIET_SHARE of the threshold (or none)."""
    # one picking down to the fallback's level: those over the threshold are what picking at the threshold gives,
    # for peaks are kept most probable first and only a higher one suppresses another
    peaks, scores = probability_peaks(prob, fps=float(FPS), threshold=QUIET_SHARE * detector.threshold,
                                      min_gap_s=detector.min_gap_s, subframe=True)
    over = scores > detector.threshold
    keep = over if over.any() or len(scores) == 0 else np.arange(len(scores)) == np.argmax(scores)
    return peaks[keep], scores[keep]


def centred_starts_at(peaks: np.ndarray, n_frames: int) -> np.ndarray:
    """First frames of the CENTRED_FRAMES windows centred on each peak time (s), kept inside the video."""
    c = np.round(np.asarray(peaks) * float(FPS)).astype(np.int64)
    return np.clip(c - CENTRED_FRAMES // 2, 0, max(0, n_frames - CENTRED_FRAMES))


def motion_windows(motion: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """[P, CENTRED_FRAMES, D] rows of ``motion`` [N, D] from each start (the last row repeated past the end)."""
    return motion_rows(motion, starts[:, None] + np.arange(CENTRED_FRAMES)[None])


def describe_impacts(net, pca, motion: np.ndarray, starts: np.ndarray, first_frames: np.ndarray,
                     *, batch: int = 64) -> np.ndarray:
    """The centred model's envelopes [P, CENTRED_FRAMES * K, 42] for windows starting at ``starts``, from the
    video's motion features [N, D] and each window's first frame ``first_frames`` uint8 [P, H, W, 3]."""
    out = []
    dev = model_device(net)
    with torch.no_grad():
        for a in range(0, len(starts), batch):
            seq = flow_inputs(motion_windows(motion, starts[a : a + batch])).to(dev)
            first = net.first_trunk(colour_images(torch.from_numpy(np.asarray(first_frames[a : a + batch])).to(dev)))
            none = seq.new_zeros(len(seq), CENTRED_FRAMES, 0)
            code = net(trunk_features=(none, first, seq), centred=True).float().cpu().numpy()
            out.append(pca.decode(code))
    return np.concatenate(out) if out else np.zeros((0, CENTRED_FRAMES * K, pca.mean.shape[0]), np.float32)


def detected_prediction(net, pca, detector: OnsetDetector, motion: np.ndarray, frames_at, *,
                        duration: float) -> tuple[Prediction, np.ndarray, np.ndarray]:
    """A whole video's predicted sound features, and its impacts: times (s) and detector probabilities.

    ``motion`` [N, D]: the video's optical-flow features on the model's grid; ``frames_at(indices)`` gives
    frames at the model's rate and image size (:func:`vis.sound.predict.video_frames_at`).
    """
    n = len(motion)
    prob = detector.probabilities(motion)
    peaks, scores = detected_impacts(detector, prob)
    floor = pca.decode(net.prior.detach().cpu().numpy()).min(axis=0) if net.cfg.prior_rows else \
        pca.decode(np.zeros(pca.components.shape[0], np.float32))
    env = np.repeat(floor[None], n * K, axis=0).astype(np.float32)
    if len(peaks):
        starts = centred_starts_at(peaks, n)
        windows = describe_impacts(net, pca, motion, starts, frames_at(starts))
        for s, w in zip(starts, windows):
            rows = env[s * K : s * K + len(w)]
            np.maximum(rows, w[: len(rows)], out=rows)
    return Prediction(env, row_times(n), duration, n), peaks, scores
