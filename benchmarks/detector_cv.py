"""Does the impact detector's recipe carry over to videos it never saw? Nested 4-fold cross-validation.

    python benchmarks/detector_cv.py .cache/model/realgh --cache .cache/model/cache [--seeds 0,10,20] [--dropout 0.4]
    python benchmarks/detector_cv.py ... --half-rate | --low-rate     # 15 fps video: full-rate or low-rate detector

The train videos of the dataset's split (``make model``'s layout: its 16 train videos; the test videos are never
read), sorted, go into 4 folds (every 4th). For each fold, ``vis train``'s recipe for the detector runs on the
other 12 (:mod:`vis.train_onsets`): the threshold and least gap cross-fitted on their out-of-fold probabilities
(4 folds, ``--fit-ensemble`` detectors each), then an ensemble trained on all 12. The fold's videos are scored as
``vis predict`` keeps impacts (:func:`vis.sound.impacts.detected_impacts`) against their annotated times, one to
one within 0.1 s. ``--half-rate`` scores the held-out videos' two half-rate copies instead (every other frame,
as 15 fps footage shows them), and ``--low-rate`` trains and fits the detector on the half-rate copies of the 12
(the recipe of ``[train] onset_low_rate``). Prints each fold's threshold, the F1 pooled over the 16 videos for
each seed of the whole procedure, and their mean (docs/real-footage.md). ~1.5 min a seed on a 2-core CPU
(``--low-rate``: ~3).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from vis.config import DEFAULT_SIZE, ModelConfig
from vis.data.cache import load
from vis.data.dataset import Dataset
from vis.eval.metrics import precision_recall
from vis.model.onset import LOW_RATE_DROPOUT, ONSET_DROPOUT, training_dropout
from vis.sound.impacts import detected_impacts
from vis.train_onsets import cross_fitted_peaks, fit_detector, half_rate_copies, impact_times, training_view

FOLDS = 4
EPOCHS, ENSEMBLE = 10, 3  # as vis train's defaults ([train] onset_epochs, onset_ensemble)


def nested_f1(videos: list, *, seed: int, dropout: float, fit_ensemble: int = 1, half_rate: bool = False,
              low_rate: bool = False) -> float:
    """F1 over ``videos`` (or their half-rate copies) of detectors trained (with ``seed``) and fitted without
    each video's fold."""
    tp = n_pred = n_true = 0
    for k in range(FOLDS):
        held = videos[k::FOLDS]
        rest = [v for i, v in enumerate(videos) if i % FOLDS != k]
        best = cross_fitted_peaks(rest, folds=FOLDS, epochs=EPOCHS, seed=seed, progress=False, dropout=dropout,
                                  ensemble=fit_ensemble, low_rate=low_rate)
        print(f"  fold {k}: threshold {best['threshold']:.2f} gap {best['min_gap_s']}", flush=True)
        det = fit_detector(training_view(rest, low_rate=low_rate), epochs=EPOCHS, ensemble=ENSEMBLE, seed=seed,
                           progress=False, dropout=dropout)
        det = dataclasses.replace(det, threshold=best["threshold"], min_gap_s=best["min_gap_s"])
        for vf in half_rate_copies(held) if half_rate else held:
            times, _ = detected_impacts(det, det.probabilities(np.asarray(vf.motion)))
            pr = precision_recall(times, impact_times(vf))
            tp, n_pred, n_true = tp + pr["tp"], n_pred + pr["pred"], n_true + pr["true"]
    return 2 * tp / max(n_pred + n_true, 1)


def main(data: str, cache: str, seeds: list[int], **recipe) -> None:
    ds = Dataset.open(data)
    size = DEFAULT_SIZE[ModelConfig.backbone]  # the default recipe's frames (the detector reads only the motion)
    videos = [load(Path(cache), v, size, store="raw") for v in sorted(ds.split("train"))]
    f1s = []
    for seed in seeds:
        f1s.append(nested_f1(videos, seed=seed, **recipe))
        print(f"seed {seed}: F1 {f1s[-1]:.3f}", flush=True)
    print(f"{recipe}: mean F1 {np.mean(f1s):.3f} over seeds {', '.join(map(str, seeds))}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", help="a dataset folder laid out as released (make model's .cache/model/realgh)")
    ap.add_argument("--cache", required=True, help="its feature cache (make model's .cache/model/cache)")
    ap.add_argument("--seeds", default="0,10,20,30,40,50", help="seeds of the whole procedure, comma-separated")
    ap.add_argument("--dropout", type=float, help="the detectors' dropout in training (default: vis train's, "
                    f"{ONSET_DROPOUT}; with --low-rate {LOW_RATE_DROPOUT})")
    ap.add_argument("--fit-ensemble", type=int, default=1, help="detectors per fold fitting the threshold")
    ap.add_argument("--half-rate", action="store_true", help="score the held-out videos' half-rate copies")
    ap.add_argument("--low-rate", action="store_true", help="train and fit on the half-rate copies (and score them)")
    a = ap.parse_args()
    dropout = a.dropout if a.dropout is not None else training_dropout(a.low_rate)
    main(a.data, a.cache, [int(s) for s in a.seeds.split(",")], dropout=dropout, fit_ensemble=a.fit_ensemble,
         half_rate=a.half_rate or a.low_rate, low_rate=a.low_rate)  # the low-rate detector reads half-rate video
