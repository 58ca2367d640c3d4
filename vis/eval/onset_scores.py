"""Onsets scored against the annotated events: precision, recall and F1, per action and over a dataset."""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from vis.audio.bands import SR
from vis.audio.onsets import onsets_from_audio
from vis.data.io import read_audio
from vis.eval.metrics import TOL_S, pairs


def match_events(pred_times: np.ndarray, true_times: np.ndarray, tol: float = TOL_S) -> tuple[int, int, int]:
    """Greedy one-to-one matching of detected to annotated times: ``(tp, fp, fn)``.

    Pairs closer than ``tol`` seconds are matched closest first; each event is matched at most once.
    Unmatched detections are false positives, unmatched annotations false negatives (misses).
    """
    pred = np.asarray(pred_times, dtype=np.float64).ravel()
    true = np.asarray(true_times, dtype=np.float64).ravel()
    tp = len(pairs(pred, true, tol=tol))
    return tp, len(pred) - tp, len(true) - tp


def precision_recall_f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F1 from counts (1.0 where nothing was to be found and nothing was found)."""
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def score_by_action(pred_times: np.ndarray, events: list[tuple[float, str | None]], *, tol: float = TOL_S
                    ) -> dict[str, tuple[int, int, int]]:
    """Score detections against annotated events of every action: ``{action: (tp, fp, fn)}``.

    Detections are matched one-to-one to all events (closest first, within ``tol`` s). For an action
    ("hit", "scratch", ..., and "all"), a detection matched to an event of that action is a true
    positive, one matched to an event of another action is neither (it found a real event), and an
    unmatched detection is a false positive; events of that action left unmatched are misses.
    """
    pred = np.asarray(pred_times, dtype=np.float64).ravel()
    matched_to = pairs(pred, np.array([t for t, _ in events], dtype=np.float64), tol=tol)
    return _counts([a for _, a in events], matched_to, len(pred))


def _counts(actions: list[str | None], matched_to: dict[int, int], n_pred: int) -> dict[str, tuple[int, int, int]]:
    """:func:`score_by_action`'s counts from a matching ``{detection: event}`` of ``n_pred`` detections."""
    used = set(matched_to.values())
    unmatched = n_pred - len(matched_to)
    out = {}
    for action in sorted({str(a) for a in actions if a is not None}) + ["all"]:
        of = [action == "all" or a == action for a in actions]
        tp = sum(of[j] for j in used)
        fn = sum(of[j] and j not in used for j in range(len(actions)))
        out[action] = (tp, unmatched, fn)
    return out


def score_dataset(ds, *, ids: list[str] | None = None, tol: float = TOL_S, progress: bool = False,
                  **params: float) -> dict:
    """The detector against a dataset's annotated times (``vis onsets DATA``).

    Every video's sound (``ds.audio_path``) through :func:`onsets_from_audio`, scored with
    :func:`score_by_action` (events after the end of the audio are dropped). Returns
    ``{"videos", "actions": {action: {"tp", "fp", "fn", "precision", "recall", "f1"}},
    "hit_misses": {material: count}}``.
    """
    counts: dict[str, np.ndarray] = {}  # action -> (tp, fn)
    misses: dict[str, int] = {}
    false_alarms = 0  # unmatched detections: the same for every action
    ids = ds.ids if ids is None else ids
    for vid in tqdm(ids, desc="onsets", unit="video", disable=not progress):
        audio, sr = read_audio(ds.audio_path(vid), min_rate=SR)
        pred, _ = onsets_from_audio(audio, sr, **params)
        events = [e for e in ds.events(vid) if e.time < len(audio) / sr]
        matched_to = pairs(pred, np.array([e.time for e in events], np.float64), tol=tol)
        for action, (tp, _, fn) in _counts([e.action for e in events], matched_to, len(pred)).items():
            counts[action] = counts.get(action, np.zeros(2, int)) + (tp, fn)
        false_alarms += len(pred) - len(matched_to)
        found = set(matched_to.values())
        for j, e in enumerate(events):
            if e.action == "hit" and j not in found:
                misses[str(e.material)] = misses.get(str(e.material), 0) + 1
    actions = {}
    for action, (tp, fn) in counts.items():
        p, r, f1 = precision_recall_f1(int(tp), false_alarms, int(fn))
        actions[action] = {"tp": int(tp), "fp": false_alarms, "fn": int(fn), "precision": round(p, 4),
                           "recall": round(r, 4), "f1": round(f1, 4)}
    return {"videos": len(ids), "tolerance_s": tol, "actions": actions,
            "hit_misses": dict(sorted(misses.items(), key=lambda kv: -kv[1]))}
