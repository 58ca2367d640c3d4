"""Automated proxies for the paper's "real or fake" study (Sec. 6.3; issue 14), as pure functions on windows.

The paper asked people which of two sounds was real. Two stand-ins computed from sound-feature windows
``[n, 45, 42]`` (compressed cochleagram rows at ~90 Hz, centred on impacts), both in the space of the
square-rooted envelopes (the space of :func:`vis.eval.metrics.sq_err` and of the network's target), flattened:

- **fooling rate**: a linear real-vs-fake classifier (standardised, PCA-reduced, logistic regression) is
  trained to tell real windows from a method's, with folds grouped by video (no video in both the training
  and the held-out part of a fold). Each fold's threshold is the median score of its held-out real windows,
  so real windows are called real 50 % of the time; a method's fooling rate is the fraction of its held-out
  windows called real: ~50 % for sounds the classifier cannot tell from real ones, ~0 % for obvious fakes
  (averaged over ``REPEATS`` random video-to-fold assignments: with few videos, one assignment is noisy).
  It measures how real a sound looks, not whether it fits the video: real sounds of other videos fool it.
- **Fréchet distance** between Gaussians fitted to the real and the method's windows in a fixed embedding:
  the first ``FRECHET_DIMS`` principal components of the real windows (0 for the real sound itself).

:func:`load_study` reads a human study's "chosen as real" rates and :func:`study_comparison` sets the proxy
against them (Spearman rank correlation over methods).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
from scipy import linalg, stats
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from vis.data.paths import read_text
from vis.errors import VisError
from vis.eval.metrics import wilson

N_FOLDS = 5  # video-grouped cross-validation folds of the real-vs-fake classifier
REPEATS = 5  # cross-validations with reshuffled video folds, averaged (one alone moved rates by ~5 points on d60)
BOOTSTRAP = 1000  # video resamples of the clustered bootstrap interval
CLASSIFIER_DIMS = 32  # principal components of the standardised windows the classifier sees
CLASSIFIER_C = 1.0  # inverse L2 strength of the logistic regression
FRECHET_DIMS = 16  # dimension of the fixed embedding (PCA of the real windows) of the Fréchet distance
IMAG_TOL = 1e-3  # largest imaginary part of sqrtm's trace dropped as round-off (relative to tr cov1 + tr cov2)


def window_features(windows: np.ndarray) -> np.ndarray:
    """Square-rooted, flattened windows: ``[n, T, 42]`` compressed envelopes -> ``[n, T * 42]`` float64
    (negative values count as 0, as in :func:`vis.eval.metrics.sq_err`)."""
    w = np.asarray(windows, np.float64)
    if w.ndim < 2 or len(w) == 0:
        raise VisError(f"expected a non-empty stack of windows [n, T, 42], got shape {w.shape}")
    return np.sqrt(np.clip(w, 0, None)).reshape(len(w), -1)


def group_folds(groups: np.ndarray, *, n_folds: int = N_FOLDS, seed: int = 0) -> np.ndarray:
    """Fold of each item ``[n]`` (0 .. k-1, k = min(n_folds, distinct groups)); each group (video id) lies in
    exactly one fold. Groups are taken in a seeded random order, each into the fold with the fewest items yet."""
    ids, inverse, counts = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
    k = min(n_folds, len(ids))
    if k < 2:
        raise VisError(f"video-grouped cross-validation needs at least 2 videos, got {k}")
    size, of = np.zeros(k, int), np.empty(len(ids), int)
    for i in np.random.default_rng(seed).permutation(len(ids)):
        of[i] = int(np.argmin(size))
        size[of[i]] += counts[i]
    return of[inverse.ravel()]


def fooled(real: np.ndarray, fake: np.ndarray, groups: np.ndarray, *, fake_groups: np.ndarray | None = None,
           n_folds: int = N_FOLDS, repeats: int = REPEATS, seed: int = 0) -> np.ndarray:
    """How often the real-vs-fake classifier calls each fake window real, held out: ``[m]`` in [0, 1].

    real : [n, T, 42] real windows, with video ids ``groups`` [n]; fake : [m, T, 42] a method's windows, with
    video ids ``fake_groups`` [m] (default: ``groups``, for windows paired with the real ones). Folds are
    grouped by video over both sets. In each fold a classifier trained on the other folds scores the held-out
    windows; a fake window is called real when its score is above the median score of the fold's held-out
    real windows (equal to it: half). Averaged over ``repeats`` cross-validations with reshuffled folds (seeds
    ``seed``, ``seed + 1``, ...). Its mean is the fooling rate (:func:`rate_interval`).
    """
    x_r, x_f = window_features(real), window_features(fake)
    g_r = np.asarray(groups)
    g_f = g_r if fake_groups is None else np.asarray(fake_groups)
    if len(g_r) != len(x_r) or len(g_f) != len(x_f):
        raise VisError(f"video ids: {len(g_r)} for {len(x_r)} real and {len(g_f)} for {len(x_f)} fake windows")
    if x_r.shape[1] != x_f.shape[1]:
        raise VisError(f"real and fake windows differ in shape: {np.shape(real)[1:]} vs {np.shape(fake)[1:]}")
    x = np.concatenate([x_r, x_f])
    y = np.r_[np.ones(len(x_r), int), np.zeros(len(x_f), int)]
    if repeats < 1:
        raise VisError(f"repeats must be at least 1, got {repeats}")
    out = np.zeros(len(x_f))
    for fold in [group_folds(np.r_[g_r, g_f], n_folds=n_folds, seed=seed + r) for r in range(repeats)]:
        for k in range(fold.max() + 1):
            te = fold == k
            held_real, held_fake = te & (y == 1), te & (y == 0)
            if not held_real.any() or not held_fake.any():
                raise VisError(f"a fold holds no {'real' if not held_real.any() else 'fake'} window: give both sets "
                               "windows of the same videos")
            with threadpool_limits(1):  # small matrices: one BLAS thread is ~4x faster than contending ones
                score = _held_out_scores(x, y, ~te, te, seed=seed)  # higher: more real
            thr = np.median(score[y[te] == 1])
            fake_score = score[y[te] == 0]
            out[held_fake[len(x_r):]] += (fake_score > thr) + 0.5 * (fake_score == thr)
    return out / repeats


def _held_out_scores(x: np.ndarray, y: np.ndarray, tr: np.ndarray, te: np.ndarray, *, seed: int) -> np.ndarray:
    """Decision scores [te.sum()] of a classifier fitted on rows ``tr`` (standardise, PCA, logistic regression)."""
    dims = min(CLASSIFIER_DIMS, int(tr.sum()) - 1, x.shape[1])
    clf = make_pipeline(StandardScaler(), PCA(dims, random_state=seed),
                        LogisticRegression(C=CLASSIFIER_C, max_iter=1000))
    return clf.fit(x[tr], y[tr]).decision_function(x[te])


def rate_interval(hits: np.ndarray) -> tuple[float, float, float]:
    """Rate of ``hits`` ([m] in [0, 1]) and its Wilson score interval (95 % by default): (rate, low, high).

    The interval treats windows as independent draws; windows of one video are not, so it is optimistic
    (:func:`video_interval` resamples whole videos).
    """
    hits = np.asarray(hits, np.float64)
    n = len(hits)
    if n == 0:
        return math.nan, math.nan, math.nan
    return (float(hits.mean()), *wilson(float(hits.sum()), n))


def video_interval(hits: np.ndarray, groups: np.ndarray, *, n_boot: int = BOOTSTRAP, seed: int = 0
                   ) -> tuple[float, float]:
    """95 % interval of the rate of ``hits`` [m] when whole videos (ids ``groups`` [m]) are resampled with
    replacement: the 2.5th and 97.5th percentiles of the rate over ``n_boot`` resamples (clustered bootstrap)."""
    ids, inverse = np.unique(np.asarray(groups), return_inverse=True)
    inverse = inverse.ravel()
    sums, counts = np.bincount(inverse, weights=np.asarray(hits, np.float64)), np.bincount(inverse)
    pick = np.random.default_rng(seed).integers(0, len(ids), (n_boot, len(ids)))
    low, high = np.percentile(sums[pick].sum(axis=1) / counts[pick].sum(axis=1), [2.5, 97.5])
    return float(low), float(high)


def gaussian(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean [d] and covariance [d, d] (unbiased; zero for a single row) of the rows of ``x`` [n, d]."""
    x = np.asarray(x, np.float64)
    cov = np.cov(x, rowvar=False) if len(x) > 1 else np.zeros((x.shape[1], x.shape[1]))
    return x.mean(axis=0), np.atleast_2d(cov)


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """Fréchet (2-Wasserstein squared) distance between N(mu1, cov1) and N(mu2, cov2):
    ``|mu1 - mu2|^2 + tr(cov1 + cov2 - 2 (cov1 cov2)^(1/2))``, never below 0."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    cov1, cov2 = np.atleast_2d(cov1).astype(np.float64), np.atleast_2d(cov2).astype(np.float64)
    with warnings.catch_warnings():  # singular products (a constant method) are expected and handled below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(cov1 @ cov2)
    tr = np.trace(root)
    scale = max(np.trace(cov1) + np.trace(cov2), 1e-12)
    if not np.isfinite(tr) or abs(tr.imag) > IMAG_TOL * scale:  # sqrtm failed: the same trace from eigenvalues
        tr = np.sqrt(np.clip(np.linalg.eigvals(cov1 @ cov2).real, 0, None)).sum()  # (those of a PSD product: >= 0)
    d = float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2 * tr.real)
    return max(d, 0.0)


def frechet(real: np.ndarray, fake: np.ndarray, *, dims: int = FRECHET_DIMS) -> float:
    """Fréchet distance between real [n, T, 42] and fake [m, T, 42] windows in the embedding of the real ones:
    their first ``dims`` principal components (of :func:`window_features`; fewer if there are fewer windows)."""
    x_r, x_f = window_features(real), window_features(fake)
    if x_r.shape[1] != x_f.shape[1]:
        raise VisError(f"real and fake windows differ in shape: {np.shape(real)[1:]} vs {np.shape(fake)[1:]}")
    with threadpool_limits(1):  # as in :func:`fooled`
        pca = PCA(min(dims, len(x_r), x_r.shape[1]), random_state=0).fit(x_r)
    return frechet_distance(*gaussian(pca.transform(x_r)), *gaussian(pca.transform(x_f)))


def proxy_metrics(feats: dict[str, np.ndarray], groups: np.ndarray, *, seed: int = 0) -> dict[str, dict]:
    """Both proxies for every method: ``{name: {"fooling_rate", "fooling_low", "fooling_high" (Wilson, across
    windows), "fooling_video_low", "fooling_video_high" (resampling videos), "frechet"}}``.

    feats : {method: [n, T, 42]} paired windows, ``feats["real"]`` the real ones; groups : [n] video ids.
    Fooling rates are NaN with fewer than 2 videos (no grouped cross-validation possible).
    """
    if "real" not in feats:
        raise VisError(f"proxy metrics need the real windows among the methods, got {', '.join(feats)}")
    real = feats["real"]
    videos = len(np.unique(groups))
    out = {}
    for name, f in feats.items():
        rate = (math.nan,) * 5
        if videos >= 2:
            hits = fooled(real, f, groups, seed=seed)
            rate = rate_interval(hits) + video_interval(hits, groups, seed=seed)
        keys = ("fooling_rate", "fooling_low", "fooling_high", "fooling_video_low", "fooling_video_high")
        out[name] = dict(zip(keys, rate), frechet=frechet(real, f))
    return out


def _rate(value, where: str) -> float:
    if isinstance(value, dict):
        value = value.get("chosen_real")
    try:
        r = float(value)
    except (TypeError, ValueError):
        raise VisError(f"{where}: expected a 'chosen as real' rate, got {value!r}") from None
    if not 0 <= r <= 1:
        raise VisError(f"{where}: rate {r} outside [0, 1] (give fractions, not percentages)")
    return r


def load_study(path: str | os.PathLike) -> dict[str, float]:
    """A human study's "chosen as real" rate per method, in [0, 1].

    ``path``: a JSON file mapping method name -> rate (or -> an object with a ``chosen_real`` rate), a CSV
    file with a header row and columns ``method`` and ``chosen_real`` (others ignored), or a study folder
    holding ``results.json`` (else ``results.csv``).
    """
    path = Path(path)
    if path.is_dir():
        path = next((path / n for n in ("results.json", "results.csv") if (path / n).is_file()), path / "results.json")
    if not path.is_file():
        raise VisError(f"{path}: no such study results file")
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(io.StringIO(read_text(path, what="study results file"), newline="")))
        if not rows or not {"method", "chosen_real"} <= set(rows[0]):
            raise VisError(f"{path}: expected a CSV with columns method,chosen_real")
        return {r["method"].strip(): _rate(r["chosen_real"], f"{path}:{i + 2}") for i, r in enumerate(rows)}
    try:
        data = json.loads(read_text(path, what="study results file"))
    except json.JSONDecodeError as e:
        raise VisError(f"{path}:{e.lineno}: not JSON ({e.msg})") from None
    if not isinstance(data, dict) or not data:
        raise VisError(f"{path}: expected a JSON object mapping method name -> 'chosen as real' rate")
    return {str(k): _rate(v, f"{path}: {k}") for k, v in data.items()}


def study_comparison(methods: dict[str, dict], human: dict[str, float]) -> dict:
    """The human rates beside the proxy's fooling rates: ``{"human": {method: rate}, "methods": [common
    methods], "spearman": rank correlation of fooling rate and human rate over them}`` (NaN under 3 methods
    or when either is constant)."""
    common = [n for n in methods if n in human and np.isfinite(methods[n].get("fooling_rate", math.nan))]
    proxy = np.array([methods[n]["fooling_rate"] for n in common])
    people = np.array([human[n] for n in common])
    rho = math.nan
    if len(common) >= 3 and np.ptp(proxy) > 0 and np.ptp(people) > 0:
        rho = float(stats.spearmanr(proxy, people).statistic)
    return {"human": dict(human), "methods": common, "spearman": rho}


def _pct(x) -> str:
    return "–" if x is None or x != x else f"{100 * x:.1f}%"


def proxy_section(metrics: dict, *, order: list[str], names: dict[str, str]) -> list[str]:
    """Markdown lines of the report's proxy table (method, fooling rate with its 95 % interval, Fréchet
    distance, and the human study's rate when ``metrics["study"]`` holds one); empty without proxy metrics."""
    rows = [n for n in order if "frechet" in metrics["methods"].get(n, {})]
    if not rows:
        return []
    study = metrics.get("study")
    lines = ["", "## Real or fake: automated proxy (paper Sec. 6.3)", "",
             "Fooling rate: share of a method's test windows that a linear real-vs-fake classifier (trained with "
             f"{N_FOLDS} folds grouped by video) calls real, its threshold set so that held-out real windows score "
             f"50 %, averaged over {REPEATS} reshufflings of the folds; 95 % intervals across windows (Wilson) and "
             "resampling whole videos (clustered bootstrap; usually wider, as windows of one video are alike). "
             "Fréchet: distance between Gaussians fitted to the real and the method's windows in the first "
             f"{FRECHET_DIMS} principal components of the real ones "
             "(square-rooted envelopes).", ""]
    head = "| Algorithm | Fooling rate | 95 % interval (windows) | 95 % interval (videos) | Fréchet |"
    if study:
        head += " Humans: chosen as real |"
    lines += [head, "| --- " * (head.count("|") - 1) + "|"]
    for n in rows:
        m = metrics["methods"][n]
        cells = [_pct(m.get("fooling_rate")), f"{_pct(m.get('fooling_low'))} – {_pct(m.get('fooling_high'))}",
                 f"{_pct(m.get('fooling_video_low'))} – {_pct(m.get('fooling_video_high'))}",
                 "–" if m.get("frechet") is None else f"{m['frechet']:.2f}"]
        if study:
            cells.append(_pct(study["human"].get(n)))
        lines.append(f"| {names.get(n, n)} | " + " | ".join(cells) + " |")
    if study:
        rho = study.get("spearman")
        lines += ["", f"Spearman rank correlation of fooling rate and human rate over {len(study['methods'])} "
                  f"methods: {'–' if rho is None or rho != rho else f'{rho:.2f}'}."]
    return lines
