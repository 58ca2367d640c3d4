"""Impacts in a predicted sound: its peaks, their parameters, and the parametric sound made from them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vis.audio.bands import COMPRESSION
from vis.audio.onsets import MIN_GAP, PEAK_PROMINENCE_DB, amplitude, prediction_peaks
from vis.audio.synthesis import OUT_SR, parametric
from vis.data.cache import FPS, K
from vis.sound.exemplars import CENTRE_ROW, SPECTRUM_MIX, visual_spectrum


@dataclass
class Prediction:
    """Predicted sound features of a whole video. env [shape=(T, 42)], times [T] seconds."""

    env: np.ndarray
    times: np.ndarray
    duration: float
    n_frames: int


# Parametric sound of a whole video: every predicted impact rises at least this far above the floor, the
# level at which vis.audio.onsets.detect_onsets counts a recorded rise as an impact (LEVEL_DB, RISE_DB = 12).
IMPACT_RISE_DB = 15.0


def parametric_wave(pred: Prediction, *, sr: int = OUT_SR, seed: int = 0) -> np.ndarray:
    """The parametric waveform of a prediction (Sec. 5.2), exactly as long as the video: [duration * sr]."""
    wave = parametric(pred.env, env_rate=K * float(FPS), sr_out=sr, seed=seed)
    wave = wave[int(round(-pred.times[0] * sr)) :]  # the first row sits 1/3 frame before t = 0
    n = int(round(pred.duration * sr))
    return np.pad(wave, (0, max(0, n - len(wave))))[:n].astype(np.float32)


def peak_params(ck: dict) -> dict:
    """How a checkpoint's peaks are picked, as keywords of :func:`detect_peaks`: the prominence threshold
    (dB) and the least gap (s) between peaks, both fitted in training on validation videos (detection
    models), else :data:`vis.audio.onsets.PEAK_PROMINENCE_DB` and :data:`vis.audio.onsets.MIN_GAP`."""
    return {"prominence_db": float(ck.get("peak_prominence_db", PEAK_PROMINENCE_DB)),
            "min_gap": float(ck.get("peak_min_gap_s", MIN_GAP))}


def detect_peaks(pred: Prediction, *, prominence_db: float = PEAK_PROMINENCE_DB,
                 min_gap: float = MIN_GAP) -> tuple[np.ndarray, np.ndarray]:
    """Impacts in a prediction: prominent maxima of its amplitude (:func:`vis.audio.onsets.prediction_peaks`) and
    their prominences (dB), the confidence used for detection AP. A trained model carries its own
    threshold and gap (:func:`peak_params`, fitted on validation videos)."""
    return prediction_peaks(pred.env, pred.times, prominence_db=prominence_db, min_gap=min_gap)


def impact_envelope(pred: Prediction, peaks: np.ndarray, shape: np.ndarray, *, colour=None,
                    priors: np.ndarray | None = None, mix: float = SPECTRUM_MIX) -> np.ndarray:
    """Envelopes [T, 42] with one impact at each peak time: the parametric method's sound for a whole video.

    A network's prediction hedges on timing, so its impacts are bumps a few dB high; imposed on noise as
    they are, they sound like a hiss that swells. Here each peak starts an impact whose decay is that of
    ``shape`` [45, 42], the average training impact window, from its centre row 22 on, scaled band by band
    so that it starts at the predicted row at the peak (after ``colour``, the detection model's colouring,
    when given), and at least IMPACT_RISE_DB above the floor. The floor is the average impact's first
    rows. So every predicted impact has the sudden rise of a real one. With ``priors`` [P, 45, 42], the
    sound of the training impacts that look like each peak's frame (:meth:`ExemplarBank.visual_prior`),
    each impact decays like its look-alikes and its spectrum is drawn towards theirs (:func:`visual_spectrum`,
    the network keeping the share ``mix``: the bank's ``spectrum_mix``).
    """
    floor = np.maximum(shape[: K * 2].mean(0), 0)
    env = np.repeat(floor[None], len(pred.env), axis=0)
    floor_db = amplitude(floor[None])[0]
    for n, t in enumerate(peaks):
        r = int(np.argmin(np.abs(pred.times - t)))
        row = pred.env[r][None]
        at = np.maximum(colour(row) if colour is not None else row, floor)
        own = shape if priors is None else priors[n]
        if priors is not None:
            at = np.maximum(visual_spectrum(at, own[CENTRE_ROW][None], mix=mix), floor)
        rise = amplitude(at)[0] - floor_db
        if rise < IMPACT_RISE_DB:  # amplitude is 10 log10 of sum env^(2 / COMPRESSION)
            at = at * 10 ** ((IMPACT_RISE_DB - rise) * COMPRESSION / 20)
        unit = own[CENTRE_ROW:] / np.maximum(own[CENTRE_ROW], 1e-6)
        b = min(r + len(unit), len(env))
        env[r:b] = np.maximum(env[r:b], unit[: b - r] * at)
    return env
