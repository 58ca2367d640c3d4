"""The paper's metrics (Sec. 6.2, 6.3, A1.2) and the onset metrics of later work, as pure functions.

Detection AP (Sec. 6.2): predicted peaks, scored by predicted amplitude, are taken in order of score;
each is a hit if an unmatched ground-truth onset lies within ``tol`` = 0.1 s (the nearest is matched,
each ground truth at most once). AP is the mean over all ground truths of the precision at the rank
where each was found, a missed ground truth contributing 0: missed onsets always count against recall.

Onset accuracy and onset AP (later work on Greatest Hits, 2023-2025): per clip, accuracy = matched
ground truths / ground truths, and AP as above, averaged over clips. The widely copied script stops
counting missed ground truths once its predictions run out, which inflates AP; here they always count.
"""

from __future__ import annotations

import math

import numpy as np

TOL_S = 0.1  # a ground-truth onset is found if a prediction lies within 0.1 s (Sec. 6.2)


def match(pred_times: np.ndarray, scores: np.ndarray, true_times: np.ndarray, *, tol: float = TOL_S
          ) -> np.ndarray:
    """Greedy one-to-one matching in order of decreasing score: ``hit`` [P], bool, in score order (each
    prediction takes the nearest unmatched ground truth within ``tol``). Unscored predictions: :func:`pairs`."""
    pred_times = np.asarray(pred_times, float)
    true_times = np.asarray(true_times, float)
    order = np.argsort(-np.asarray(scores, float), kind="stable")
    used = np.zeros(len(true_times), bool)
    hit = np.zeros(len(order), bool)
    for k, i in enumerate(order):
        if len(true_times) == 0:
            break
        d = np.abs(true_times - pred_times[i])
        d[used] = np.inf
        j = int(np.argmin(d))
        if d[j] <= tol + 1e-9:
            used[j] = True
            hit[k] = True
    return hit


def pairs(pred_times: np.ndarray, true_times: np.ndarray, *, tol: float = TOL_S) -> dict[int, int]:
    """One-to-one matching of predictions that have no score: closest pairs first, within ``tol`` s.
    Returns {prediction index: ground-truth index}. (Scored predictions: :func:`match`.)"""
    pred = np.asarray(pred_times, dtype=np.float64).ravel()
    true = np.asarray(true_times, dtype=np.float64).ravel()
    gaps = np.abs(pred[:, None] - true[None, :])
    close = np.argwhere(gaps <= tol + 1e-9)  # inclusive, whatever the rounding of the times
    matched_to: dict[int, int] = {}
    used: set[int] = set()
    for i, j in close[np.argsort(gaps[close[:, 0], close[:, 1]], kind="stable")]:
        if int(i) not in matched_to and int(j) not in used:
            matched_to[int(i)] = int(j)
            used.add(int(j))
    return matched_to


def average_precision(pred_times, scores, true_times, *, tol: float = TOL_S) -> float:
    """Detection AP: mean over ground truths of the precision where each is found (missed: 0).

    NaN when there is no ground truth.
    """
    n_true = len(true_times)
    if n_true == 0:
        return float("nan")
    hit = match(pred_times, scores, true_times, tol=tol)
    if not hit.any():
        return 0.0
    precision = np.cumsum(hit) / np.arange(1, len(hit) + 1)
    return float(precision[hit].sum() / n_true)


def precision_recall(pred_times, true_times, *, tol: float = TOL_S) -> dict:
    """Precision, recall and F1 of predicted onsets against true ones, matched one to one within ``tol``.

    Every prediction counts equally (no scores). Returns ``{"precision", "recall", "f1", "tp", "pred",
    "true"}``; precision is NaN without predictions and recall NaN without true onsets.
    """
    pred_times, true_times = np.asarray(pred_times, float), np.asarray(true_times, float)
    tp = len(pairs(pred_times, true_times, tol=tol))
    p = tp / len(pred_times) if len(pred_times) else float("nan")
    r = tp / len(true_times) if len(true_times) else float("nan")
    f1 = 2 * p * r / (p + r) if p == p and r == r and p + r > 0 else (0.0 if p == p and r == r else float("nan"))
    return {"precision": p, "recall": r, "f1": f1, "tp": tp, "pred": len(pred_times), "true": len(true_times)}


def best_threshold(pred_times: list, scores: list, true_times: list, *, tol: float = TOL_S,
                   smooth: float = 0.0) -> tuple[float, float]:
    """The score threshold with the best pooled F1 of the predictions that pass it, over several videos.

    pred_times, scores, true_times : one array per video. Predictions with ``score >= threshold`` count;
    the candidate thresholds are the scores themselves. ``smooth`` > 0: the candidates are a grid of step
    ``smooth / 6`` over the scores' range, and each is judged by the mean F1 of the candidates within
    ``smooth`` of it, so that the choice lands inside a broad plateau of F1 rather than on a narrow spike
    at its edge. Returns ``(threshold, f1)`` (f1 at the threshold itself); ``(inf, 0.0)`` when nothing can
    be found.
    """
    all_scores = np.concatenate([np.asarray(s, float) for s in scores]) if scores else np.zeros(0)
    if len(all_scores) == 0:
        return float("inf"), 0.0
    if smooth > 0:
        cands = np.arange(all_scores.min(), all_scores.max() + smooth / 6, smooth / 6)
    else:
        cands = np.unique(all_scores)
        if len(cands) > 200:  # F1 varies slowly: 200 quantiles of the scores are enough
            cands = np.unique(np.quantile(cands, np.linspace(0, 1, 200)))
    n_true = sum(len(t) for t in true_times)
    f1s = np.zeros(len(cands))
    for i, th in enumerate(cands):
        tp = n_pred = 0
        for p, s, t in zip(pred_times, scores, true_times):
            keep = np.asarray(s) >= th
            tp += int(match(np.asarray(p)[keep], np.asarray(s)[keep], np.asarray(t), tol=tol).sum())
            n_pred += int(keep.sum())
        f1s[i] = 2 * tp / (n_pred + n_true) if n_pred + n_true else 0.0
    judged = f1s if smooth <= 0 else np.array([f1s[np.abs(cands - c) <= smooth + 1e-9].mean() for c in cands])
    if judged.max() <= 0:
        return float("inf"), 0.0
    i = int(np.argmax(judged))  # the first (lowest) best
    return float(cands[i]), float(f1s[i])


def onset_metrics(pred_times, scores, true_times, *, duration: float, clip_s: float | None = None,
                  tol: float = TOL_S) -> dict:
    """Onset accuracy and onset AP, per clip of ``clip_s`` seconds (None: the whole video), averaged.

    Clips without ground truth are skipped. Returns ``{"onset_acc", "onset_ap", "clips"}``.
    """
    pred_times, scores, true_times = (np.asarray(x, float) for x in (pred_times, scores, true_times))
    edges = [0.0, duration] if not clip_s else list(np.arange(0.0, duration - 1e-9, clip_s)) + [duration]
    accs, aps = [], []
    for a, b in zip(edges[:-1], edges[1:]):
        t = true_times[(true_times >= a) & (true_times < b)]
        if len(t) == 0:
            continue
        m = (pred_times >= a) & (pred_times < b)
        hit = match(pred_times[m], scores[m], t, tol=tol)
        accs.append(hit.sum() / len(t))
        aps.append(average_precision(pred_times[m], scores[m], t, tol=tol))
    return {"onset_acc": float(np.mean(accs)) if accs else float("nan"),
            "onset_ap": float(np.mean(aps)) if aps else float("nan"), "clips": len(accs)}


# ---------------------------------------------------------------------------------------------- sound


def loudness(env: np.ndarray) -> np.ndarray:
    """Max over time of the L2 norm of the compressed envelopes (Sec. 6.2). env [..., T, 42] -> [...]."""
    return np.linalg.norm(env, axis=-1).max(axis=-1)


def centroid(env: np.ndarray, *, centre_row: int = 22, half_width: int = 1) -> np.ndarray:
    """Spectral centroid in channel units: centre of mass over the 42 channels in a one-frame window
    (3 rows, ~0.03 s) at the impact centre (Sec. 6.2). env [..., T, 42] -> [...]."""
    w = env[..., centre_row - half_width : centre_row + half_width + 1, :].sum(axis=-2)
    ch = np.arange(env.shape[-1])
    return (w * ch).sum(axis=-1) / np.maximum(w.sum(axis=-1), 1e-12)


def sq_err(pred: np.ndarray, true: np.ndarray) -> float:
    """Squared L2 error per row between square-rooted envelopes, averaged over rows and windows.

    pred, true : [..., T, 42] compressed envelopes (broadcastable; negative values count as 0). Returns
    ``mean over [..., T] of sum over the 42 bands of (sqrt(pred) - sqrt(true))**2``: the distance the
    network's target (the square root, before PCA) is measured in, with no robust floor, so a prediction
    that is constant over time cannot win it the way it can win the robust loss (Eq. 4).
    """
    p = np.sqrt(np.clip(np.asarray(pred, np.float64), 0, None))
    t = np.sqrt(np.clip(np.asarray(true, np.float64), 0, None))
    return float(((p - t) ** 2).sum(axis=-1).mean())


def contrast(env: np.ndarray, *, centre_row: int = 22, half_width: int = 1, first_rows: int = 3) -> np.ndarray:
    """Impact contrast: the envelope norm at the impact centre minus that at the start of the window.

    env : [..., T, 42]. Per window, the mean over rows ``centre_row - half_width .. centre_row + half_width``
    of the L2 norm over bands, minus the mean of the same norm over the first ``first_rows`` rows: [...].
    A prediction that is flat in time has contrast 0; a real impact centred at row 22 has contrast > 0.
    """
    norm = np.linalg.norm(np.asarray(env, np.float64), axis=-1)
    centre = norm[..., centre_row - half_width : centre_row + half_width + 1].mean(axis=-1)
    return centre - norm[..., :first_rows].mean(axis=-1)


def error_and_r(pred: np.ndarray, true: np.ndarray) -> tuple[float, float]:
    """Mean absolute error and Pearson correlation of two 1-D arrays (r is NaN if either is constant)."""
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    err = float(np.abs(pred - true).mean())
    if pred.std() == 0 or true.std() == 0:
        return err, float("nan")
    return err, float(np.corrcoef(pred, true)[0, 1])


# ---------------------------------------------------------------------------------------------- classes


def class_averaged_accuracy(y_true, y_pred, labels) -> float:
    """Mean over classes present in ``y_true`` of per-class recall (the paper's 'class-averaged accuracy')."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    recalls = [np.mean(y_pred[y_true == c] == c) for c in labels if np.any(y_true == c)]
    return float(np.mean(recalls)) if recalls else float("nan")


def confusion_matrix(y_true, y_pred, labels) -> np.ndarray:
    """Row-normalised confusion [C, C]: row = true class, column = predicted class."""
    idx = {c: i for i, c in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)))
    for t, p in zip(y_true, y_pred):
        if t in idx and p in idx:
            m[idx[t], idx[p]] += 1
    return m / np.maximum(m.sum(axis=1, keepdims=True), 1)


def similarity_order(soft_confusion: np.ndarray, *, start: int = 0) -> list[int]:
    """Class order for confusion plots (paper A1.2): starting from ``start``, repeatedly take the class
    whose row of the soft confusion matrix is nearest (Euclidean) to the previously chosen one."""
    left = list(range(len(soft_confusion)))
    order = [left.pop(start)]
    while left:
        d = [np.linalg.norm(soft_confusion[order[-1]] - soft_confusion[j]) for j in left]
        order.append(left.pop(int(np.argmin(d))))
    return order


def balanced_resample(y: np.ndarray, *, per_class: int | None = None, seed: int = 0) -> np.ndarray:
    """Indices that resample every class to the same count (paper Sec. 4: 'each class contained an equal
    number of impacts'): ``per_class`` (default: the largest class's count), drawn with replacement."""
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    classes = [c for c in np.unique(y)]
    n = per_class or max(int(np.sum(y == c)) for c in classes)
    return np.concatenate([rng.choice(np.flatnonzero(y == c), n, replace=True) for c in classes])


def fit_linear_classifier(x: np.ndarray, y: np.ndarray, *, per_class: int | None = None, seed: int = 0):
    """A linear SVM (hinge loss, SGD) on standardised features, trained on class-balanced resamples.

    Returns a fitted scikit-learn pipeline with ``predict`` and ``decision_function``.
    """
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    idx = balanced_resample(y, per_class=per_class, seed=seed)
    clf = make_pipeline(StandardScaler(), SGDClassifier(loss="hinge", alpha=1e-3, max_iter=50, tol=None,
                                                        random_state=seed))
    return clf.fit(x[idx], np.asarray(y)[idx])


def soft_confusion(clf, x: np.ndarray, y: np.ndarray, labels) -> np.ndarray:
    """Rows: mean over examples of a class of the softmax of the classifier's scores (paper A1.2)."""
    scores = clf.decision_function(x)
    scores = scores if scores.ndim == 2 else np.stack([-scores, scores], axis=1)
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    cls = list(clf.classes_)
    out = np.zeros((len(labels), len(labels)))
    for i, c in enumerate(labels):
        rows = np.asarray(y) == c
        if rows.any() and c in cls:
            mean = p[rows].mean(axis=0)
            for j, d in enumerate(labels):
                if d in cls:
                    out[i, j] = mean[cls.index(d)]
    return out


Z95 = 1.959963984540054  # the standard normal quantile of a two-sided 95 % interval


def wilson(k: float, n: int, *, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval (95 % by default) of a rate ``k / n``: (low, high), both in [0, 1]; (0, 1)
    when ``n`` is 0. Used for the listening study's rates and the proxy's fooling rates."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (0.0 if k <= 0 else max(0.0, centre - half)), (1.0 if k >= n else min(1.0, centre + half))  # exact ends
