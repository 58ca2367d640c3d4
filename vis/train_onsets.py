"""Training the impact detector (:mod:`vis.model.onset`) and fitting its peak picking on videos it did not see.

Targets: per frame, ``exp(-d^2 / 2)`` with ``d`` the distance in frames to the nearest impact, so the frame of an
impact is 1 and its neighbours ~0.6. The impacts it learns are the annotated events (the video's
``_times.txt``) and the onsets heard in the recording that no annotated event explains (more than TOL_S from
every one): some real videos leave half their impacts unannotated (one of the 16 real training videos: 28
events, 65 onsets), and there the detector was taught that a stick striking is no impact. On the 16 real
training videos (4-fold cross-validation, 3 seeds) F1 against the annotations went from 0.566 to 0.596.
Loss: binary cross-entropy with positives weighted POS_WEIGHT (impacts are ~1 frame in 25). Examples: stretches
of SEGMENT frames every SEGMENT_STRIDE frames, batches of BATCH, Adam (lr 1e-3, weight decay 1e-4). The
threshold and the least gap between impacts maximise F1 (within TOL_S of the annotated events of videos the
detector did not see, one-to-one) over THRESHOLDS x GAPS_S.

Which videos fit what (``folds``): by default (4) the training and validation videos are pooled and cut into
4 folds; a detector trained without each fold gives that fold's probabilities, the peak picking is fitted on
all of these (every pooled video scored by a detector that never saw it), and the ensemble is then trained on
every pooled video. With ``folds=0`` the ensemble is trained on the training videos and the peak picking
fitted on the validation videos (and, with ``refit``, the ensemble trained again on both). On the 16 real
training videos (nested: 4 held out at a time, the recipe run on the other 12) the pooled recipe scored F1
0.538 against 0.501 (docs/real-footage.md).

Video at 15 fps shows an impact in half the frames, and the detector's probabilities are lower there. So a run
also makes, the same way, a low-rate detector from the videos' half-rate copies (``[train] onset_low_rate``:
every other frame, from the first and from the second, :func:`half_rate_copies`), for video under
:data:`vis.model.onset.LOW_RATE_FPS` (trained with ``LOW_RATE_DROPOUT``, the full-rate one with ``ONSET_DROPOUT``).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import numpy as np
import torch
from tqdm import tqdm

from vis.data.cache import FPS, VideoFeatures
from vis.errors import VisError
from vis.eval.metrics import TOL_S, pairs
from vis.model.onset import (
    ONSET_DROPOUT,
    OnsetDetector,
    OnsetNet,
    onset_inputs,
    probability_peaks,
    training_dropout,
)

SEGMENT = 64  # frames per training example (~2.1 s)
SEGMENT_STRIDE = 8
BATCH = 32
POS_WEIGHT = 3.0
TARGET_SIGMA = 1.0  # frames
THRESHOLDS = np.round(np.arange(0.02, 0.9, 0.01), 2)
GAPS_S = (0.2, 0.25, 0.3)  # real impacts closer than 0.2 s are rare (Greatest Hits schedules: ~3 %)


def impact_times(vf: VideoFeatures) -> np.ndarray:
    """The impacts a detector is scored against: a video's annotated events, else its detected audio onsets."""
    return np.asarray(vf.event_times if len(vf.event_times) else vf.onsets, np.float64)


def heard_impacts(vf: VideoFeatures) -> np.ndarray:
    """What the detector learns to find (s, increasing): :func:`impact_times` and the audio onsets farther
    than TOL_S from every annotated event."""
    truth = impact_times(vf)
    onsets = np.asarray(vf.onsets, np.float64)
    if not len(vf.event_times) or not len(onsets):
        return truth
    unexplained = onsets[np.abs(onsets[:, None] - truth[None, :]).min(axis=1) > TOL_S]
    return np.sort(np.concatenate([truth, unexplained]))


def targets(times: np.ndarray, n: int) -> np.ndarray:
    """Per-frame targets [n] in [0, 1] for impacts at ``times`` (s)."""
    y = np.zeros(n, np.float32)
    grid = np.arange(n) / float(FPS)
    for t in np.asarray(times):
        lo, hi = max(0, int(t * float(FPS)) - 5), min(n, int(t * float(FPS)) + 6)
        y[lo:hi] = np.maximum(y[lo:hi], np.exp(-0.5 * ((grid[lo:hi] - t) * float(FPS) / TARGET_SIGMA) ** 2))
    return y


def _inputs(videos: list[VideoFeatures]) -> list[np.ndarray]:
    out = []
    for vf in videos:
        if vf.motion is None:
            raise VisError(f"{vf.vid}: motion features not prepared (vis prepare computes them)")
        out.append(onset_inputs(np.asarray(vf.motion)))
    return out


def _train_one(xs: list[np.ndarray], ys: list[np.ndarray], *, epochs: int, seed: int, progress: bool,
               dropout: float = ONSET_DROPOUT) -> OnsetNet:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = OnsetNet(dropout=dropout)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    segs = [(i, s) for i, x in enumerate(xs) for s in range(0, max(1, len(x) - SEGMENT + 1), SEGMENT_STRIDE)]
    pos_weight = torch.tensor(POS_WEIGHT)
    for _ in tqdm(range(epochs), desc=f"impact detector {seed + 1}", unit="epoch", disable=not progress):
        net.train()
        order = rng.permutation(len(segs))
        for b in range(0, len(order), BATCH):
            chunk = [segs[j] for j in order[b : b + BATCH]]
            n = min(SEGMENT, min(len(xs[i]) - s for i, s in chunk))
            xb = torch.from_numpy(np.stack([xs[i][s : s + n] for i, s in chunk]))
            yb = torch.from_numpy(np.stack([ys[i][s : s + n] for i, s in chunk]))
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(xb), yb, pos_weight=pos_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


def fit_peaks(probs: list[np.ndarray], truths: list[np.ndarray]) -> dict:
    """The threshold and least gap (of THRESHOLDS x GAPS_S) with the best F1 of ``probs`` against ``truths``."""
    best = {"f1": -1.0}
    for gap in GAPS_S:
        for thr in THRESHOLDS:
            tp = fp = fn = 0
            for p, truth in zip(probs, truths):
                times, _ = probability_peaks(p, fps=float(FPS), threshold=float(thr), min_gap_s=gap)
                m = len(pairs(times, truth, tol=TOL_S))
                tp, fp, fn = tp + m, fp + len(times) - m, fn + len(truth) - m
            prec, rec = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
            f1 = 2 * prec * rec / max(prec + rec, 1e-9)
            if f1 > best["f1"] + 1e-9:
                best = {"f1": f1, "precision": prec, "recall": rec, "threshold": float(thr), "min_gap_s": gap}
    return best


def fit_detector(videos: list[VideoFeatures], *, epochs: int, ensemble: int, seed: int = 0,
                 progress: bool = True, dropout: float = ONSET_DROPOUT) -> OnsetDetector:
    """``ensemble`` detectors trained on ``videos`` (seeds ``seed``, ``seed + 1``, ...), inputs normalised
    with these videos' mean and spread; the peak picking is left at its defaults. ``dropout``: in training
    only (benchmarks/detector_cv.py compares values)."""
    xs = _inputs(videos)
    if not xs or sum(len(x) for x in xs) < SEGMENT:
        raise VisError("too little training video for the impact detector")
    flat = np.concatenate(xs)
    mean, std = flat.mean(0), flat.std(0) + 1e-6
    xs = [((x - mean) / std).astype(np.float32) for x in xs]
    ys = [targets(heard_impacts(vf), len(x)) for vf, x in zip(videos, xs)]
    nets = [_train_one(xs, ys, epochs=epochs, seed=seed + k, progress=progress, dropout=dropout)
            for k in range(ensemble)]
    return OnsetDetector(nets, mean.astype(np.float32), std.astype(np.float32))


def half_rate_copies(videos: list[VideoFeatures]) -> list[VideoFeatures]:
    """Each video's two half-rate copies (its motion as 15 fps footage shows it: ``half_rate``) with its impacts:
    what the low-rate detector (:data:`vis.model.onset.LOW_RATE_FPS`) is trained and fitted on."""
    out = []
    for vf in videos:
        if vf.half_rate is None:
            raise VisError(f"{vf.vid}: half-rate motion features not prepared (vis prepare computes them; a cache "
                           "made by an older vis is rebuilt)")
        out += [replace(vf, motion=m, half_rate=None) for m in vf.half_rate]
    return out


def training_view(videos: list[VideoFeatures], *, low_rate: bool) -> list[VideoFeatures]:
    """What a detector is trained and fitted on: the videos, or for the low-rate detector their half-rate copies."""
    return half_rate_copies(videos) if low_rate else list(videos)


def cross_fitted_peaks(videos: list[VideoFeatures], *, folds: int, epochs: int, seed: int = 0, ensemble: int = 1,
                       progress: bool = True, dropout: float = ONSET_DROPOUT, low_rate: bool = False) -> dict:
    """The peak picking (:func:`fit_peaks`) fitted on out-of-fold probabilities: ``videos`` cut into ``folds``
    (every ``folds``-th video), each fold scored by ``ensemble`` detectors trained on the others. ``low_rate``:
    trained and scored on the videos' :func:`half_rate_copies`."""
    probs: list[np.ndarray] = []
    truths: list[np.ndarray] = []
    for k in range(folds):
        held = training_view(videos[k::folds], low_rate=low_rate)
        rest = training_view([v for i, v in enumerate(videos) if i % folds != k], low_rate=low_rate)
        det = fit_detector(rest, epochs=epochs, ensemble=ensemble, seed=seed + k, progress=progress, dropout=dropout)
        probs += [det.probabilities(np.asarray(vf.motion)) for vf in held]
        truths += [impact_times(vf) for vf in held]
    return fit_peaks(probs, truths)


def train_onsets(train_videos: list[VideoFeatures], val_videos: list[VideoFeatures], *, epochs: int = 10,
                 ensemble: int = 3, seed: int = 0, folds: int = 4, refit: bool = False, low_rate: bool = False,
                 progress: bool = True) -> tuple[OnsetDetector, dict]:
    """The impact detector and a summary (threshold, gap, and the F1, precision and recall they gave).

    ``folds >= 2`` (and at least that many videos): the peak picking is cross-fitted on the training and
    validation videos pooled (:func:`cross_fitted_peaks`), then ``ensemble`` detectors are trained on all of
    them. ``folds=0``: they are trained on ``train_videos``, the peak picking fitted on ``val_videos``; with
    ``refit`` they are then trained again on both (the same epochs and seeds), keeping that peak picking.
    ``low_rate``: the detector also carries one made the same way from the videos' :func:`half_rate_copies`,
    for video slower than :data:`vis.model.onset.LOW_RATE_FPS` (summary keys ``onset_low_rate_...``).
    """
    def view(low: bool) -> tuple[OnsetDetector, dict]:
        return _train_view(train_videos, val_videos, epochs=epochs, ensemble=ensemble, seed=seed, folds=folds,
                           refit=refit, low_rate=low, progress=progress)

    det, summary = view(False)
    if low_rate:
        det.low_rate, low = view(True)
        summary.update({k.replace("onset_", "onset_low_rate_"): v for k, v in low.items()})
    return det, summary


def _train_view(train_videos: list[VideoFeatures], val_videos: list[VideoFeatures], *, epochs: int, ensemble: int,
                seed: int, folds: int, refit: bool, low_rate: bool, progress: bool) -> tuple[OnsetDetector, dict]:
    view, dropout = partial(training_view, low_rate=low_rate), training_dropout(low_rate)
    pooled = train_videos + val_videos
    summary: dict = {"onset_train_videos": len(train_videos), "onset_val_videos": len(val_videos)}
    if folds >= 2 and len(pooled) >= folds:
        best = cross_fitted_peaks(pooled, folds=folds, epochs=epochs, seed=seed, progress=progress,
                                  low_rate=low_rate, dropout=dropout)
        det = fit_detector(view(pooled), epochs=epochs, ensemble=ensemble, seed=seed, progress=progress,
                           dropout=dropout)
        summary.update({"onset_train_videos": len(pooled), "onset_folds": folds})
        summary.update({f"onset_cv_{k}": round(v, 4) for k, v in best.items()})
        det.threshold, det.min_gap_s = best["threshold"], best["min_gap_s"]
        return det, summary
    det = fit_detector(view(train_videos), epochs=epochs, ensemble=ensemble, seed=seed, progress=progress,
                       dropout=dropout)
    if val_videos:
        held = view([vf for vf in val_videos if vf.motion is not None])
        best = fit_peaks([det.probabilities(np.asarray(vf.motion)) for vf in held], [impact_times(vf) for vf in held])
        summary.update({f"onset_val_{k}": round(v, 4) for k, v in best.items()})
        if refit:
            det = fit_detector(view(pooled), epochs=epochs, ensemble=ensemble, seed=seed, progress=progress,
                               dropout=dropout)
            summary["onset_refit_videos"] = len(pooled)
        det.threshold, det.min_gap_s = best["threshold"], best["min_gap_s"]
    return det, summary
