"""Sound for whole videos: exemplars pasted at the detected impacts, and the detection model's colouring."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vis.audio.bands import ENV_RATE
from vis.audio.onsets import onsets_from_audio
from vis.data.cache import FPS, K, env_on_grid, row_times
from vis.errors import VisError
from vis.sound.exemplars import (
    BANK_SR,
    CENTRE_ROW,
    CUT_FADE_S,
    FADE_IN_S,
    FADE_OUT_S,
    LEAD_S,
    LONG_QUERY_FRAMES,
    LONG_QUERY_LEAD,
    ExemplarBank,
    cut_tail,
    visual_spectrum,
)

# An exemplar is pasted so that the onset heard in it (the recording's onset detector, vis.audio.onsets) falls on
# the impact. Cut in LEAD_S before its impact, most exemplars were heard at the cut: a median 13 ms early over the
# shipped bank's 550, averaged over placements against the detector's rows (23 ms at one). On the out-of-fold
# impacts of the 16 real train videos (docs/real-footage.md) the example-based sound's onsets moved from 13 ms
# before the impacts to 1 ms before (median), F1 against the annotations 0.598 -> 0.605, as the impacts themselves
# score (the 4 validation videos 0.494 -> 0.504). A heard onset farther from the impact than HEARD_WITHIN_S is not
# the impact's: such an exemplar is pasted at its impact.
HEARD_WITHIN_S = 0.05
HEARD_PHASES = 4  # the detector's onsets fall on its rows, 11 ms apart: where a clip is heard depends on where it lands


def heard_at(bank: ExemplarBank, i: int) -> int:
    """The sample of exemplar ``i`` as pasted (:meth:`ExemplarBank.impact_clip`) where its impact is heard: the
    first onset of the clip alone within HEARD_WITHIN_S of its impact (sample ``bank.pre``), averaged over
    HEARD_PHASES placements against the onset detector's rows (1 / ENV_RATE s apart); ``pre`` where none is.
    Kept in ``bank.heard``: ~27 ms the first time, then once per bank (``vis serve`` keeps its bank)."""
    if i not in bank.heard:
        bank.heard[i] = _heard_at(bank, i)
    return bank.heard[i]


def _heard_at(bank: ExemplarBank, i: int) -> int:
    clip = bank.impact_clip(i)
    lead = int(round((LEAD_S + HEARD_WITHIN_S) * bank.sr))  # silence before the clip: its start is no edge
    heard = []
    for k in range(HEARD_PHASES):
        pad = lead + k * bank.sr // (ENV_RATE * HEARD_PHASES)
        found, _ = onsets_from_audio(np.concatenate([np.zeros(pad, np.float32), clip]), bank.sr)
        near = found * bank.sr - pad - bank.pre
        near = near[np.abs(near) <= HEARD_WITHIN_S * bank.sr]
        if len(near):
            heard.append(near[0])
    return bank.pre + int(round(np.mean(heard))) if heard else bank.pre


def paste(out: np.ndarray, clip: np.ndarray, at: int, *, sr: int = BANK_SR) -> None:
    """Overlap-add ``clip`` into ``out`` starting at sample ``at`` (may be negative or run past the end)."""
    n_in, n_out = max(1, int(FADE_IN_S * sr)), max(1, int(FADE_OUT_S * sr))
    w = np.ones(len(clip), np.float32)
    w[:n_in] = np.linspace(0, 1, n_in, endpoint=False)
    w[-n_out:] = np.minimum(w[-n_out:], np.linspace(1, 0, n_out))
    lo, hi = max(0, at), min(len(out), at + len(clip))
    if hi > lo:
        out[lo:hi] += (clip * w)[lo - at : hi - at]


def synthesize_long(env: np.ndarray, times: np.ndarray, peaks: np.ndarray, bank: ExemplarBank, *,
                    duration: float, colour=None, visual: np.ndarray | None = None) -> tuple[np.ndarray, list[dict]]:
    """Long video: paste an exemplar at each peak time (s), chosen by its 8-frame window of ``env``.

    env : [T, 42] predicted envelopes on the frame grid (row times ``times``); ``colour`` an optional
    function applied to each query window before the search (the detection model's colouring); ``visual``
    [P, D] what each peak's frame looks like (:func:`vis.model.backbones.colour_features`): with a bank that has a
    visual memory, the query's spectrum is drawn towards the look-alike impacts' (:func:`visual_spectrum`)
    and the search weighs how alike they look.
    Returns the waveform at ``bank.sr`` [duration * sr] and one record per pasted impact.
    """
    out = np.zeros(int(round(duration * bank.sr)), np.float32)
    rows = slice(CENTRE_ROW - 1 - LONG_QUERY_LEAD * K, CENTRE_ROW - 1 - LONG_QUERY_LEAD * K + LONG_QUERY_FRAMES * K)
    seen = visual is not None and bank.has_memory
    priors = bank.visual_prior(visual) if visual is not None and seen and len(peaks) else None
    queries = []
    for n, t in enumerate(peaks):
        p = int(round(t * float(FPS)))
        grid = row_times(LONG_QUERY_FRAMES) + (p - LONG_QUERY_LEAD) / float(FPS)
        q = env_on_grid(env, times, grid)
        if colour is not None:
            q = colour(q)
        if priors is not None:
            q = visual_spectrum(q, priors[n, rows], mix=bank.spectrum_mix)
        queries.append(q)
    records: list[dict] = []
    if not queries:
        return out, records
    # one search for all peaks: the bank's rows are sliced (and the subset taken) once, not once per peak
    found, dist = bank.search(np.stack(queries), rows=rows, visual=visual if seen else None, subset=bank.impacts())
    for n, (t, i, d) in enumerate(zip(peaks, found, dist)):
        clip = bank.impact_clip(int(i))
        heard = heard_at(bank, int(i))
        at = int(round(t * bank.sr)) - heard  # heard at the peak itself (the query used its frame grid)
        if n + 1 < len(peaks):  # it ends where the next impact begins, as exemplars end at their next onset
            cut_tail(clip, heard + int(round((peaks[n + 1] - t - CUT_FADE_S) * bank.sr)), sr=bank.sr)
        paste(out, clip, at, sr=bank.sr)
        records.append({"time": float(t), "exemplar": int(i), "distance": float(d),
                        "material": str(bank.labels[i]) or None})
    return out, records


@dataclass
class Colouring:
    """Colouring transform for the detection model's predictions (paper A1.1).

    Whiten with the mean and covariance of predicted features at detected peaks, re-colour with those of
    real training peaks: ``x -> (x - pred_mean) @ matrix.T + real_mean``, per 42-band row. Covariances
    are shrunk towards their mean variance by ``SHRINK`` so that a few dozen peaks suffice.
    """

    pred_mean: np.ndarray  # [42]
    real_mean: np.ndarray  # [42]
    matrix: np.ndarray  # [42, 42] = real_cov^(1/2) @ pred_cov^(-1/2)

    SHRINK = 0.1

    @classmethod
    def fit(cls, pred_rows: np.ndarray, real_rows: np.ndarray) -> Colouring:
        """pred_rows [n, 42] predicted features at detected peaks; real_rows [m, 42] real ones."""
        if len(pred_rows) < 2 or len(real_rows) < 2:
            raise VisError("colouring needs at least two predicted and two real peaks")

        def root(x: np.ndarray, power: float) -> np.ndarray:
            c = np.cov(x, rowvar=False)
            c = (1 - cls.SHRINK) * c + cls.SHRINK * np.eye(len(c)) * max(np.trace(c) / len(c), 1e-8)
            w, v = np.linalg.eigh(c)
            return (v * np.maximum(w, 1e-10) ** power) @ v.T

        m = root(real_rows, 0.5) @ root(pred_rows, -0.5)
        return cls(pred_rows.mean(0).astype(np.float32), real_rows.mean(0).astype(np.float32), m.astype(np.float32))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.pred_mean) @ self.matrix.T + self.real_mean).astype(np.float32)

    def to_dict(self) -> dict:
        return {"pred_mean": self.pred_mean, "real_mean": self.real_mean, "matrix": self.matrix}

    @classmethod
    def from_dict(cls, d: dict) -> Colouring:
        return cls(np.asarray(d["pred_mean"]), np.asarray(d["real_mean"]), np.asarray(d["matrix"]))
