"""The Python API: what ``vis predict`` does, in memory.

::

    import vis

    model = vis.load_model("runs/det")          # a run folder (or its model.pt); None: the model shipped with vis
    result = model.predict("clip.mp4")          # a PredictedSound
    result.sound, result.sr, result.impacts     # the waveform, its sample rate, the impact times (s)
    result.save("clip.wav")                     # the sound alone (.wav or .flac)
    result.write_video("clip_with_sound.mp4")   # the input's video stream with the predicted sound

A thin layer over :mod:`vis.sound.predict` (:class:`~vis.sound.predict.Predictor`,
:func:`~vis.sound.predict.predict_waves`) and
:func:`vis.data.media.mux_audio`; it imports nothing from training. Bad input raises
:class:`vis.errors.VisError` with a one-line message, as on the command line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vis.audio.synthesis import OUT_SR
from vis.config import SOUND_METHODS
from vis.data.io import SOUND_FORMATS, VIDEO_FORMATS, output_format, write_wav
from vis.data.media import mux_audio, probe
from vis.errors import VisError
from vis.model.checkpoint import default_run
from vis.sound.predict import Predictor, predict_waves


@dataclass
class PredictedSound:
    """The sound predicted for one silent video.

    ``sound``: mono waveform [n] float32 in [-1, 1] at ``sr`` Hz, as long as the video; ``impacts``: the times
    (s) of the impacts in it, increasing, with their ``strengths`` (the impact detector's probability, or the
    prominence of the predicted peak in dB for a model without one);
    ``cochleagram``: the predicted envelopes [T, 42] (about 90 rows a second) at ``times`` [T] (s).
    """

    video: Path
    method: str
    sound: np.ndarray
    sr: int
    impacts: np.ndarray
    strengths: np.ndarray
    cochleagram: np.ndarray
    times: np.ndarray

    @property
    def duration(self) -> float:
        """Seconds of sound (the video's length at the model's frame rate)."""
        return len(self.sound) / self.sr

    def save(self, path: str | os.PathLike) -> Path:
        """Write the sound alone to ``path`` (``.wav`` or ``.flac``, 16-bit, atomically); returns the path."""
        path = _output(path, SOUND_FORMATS, "sound", self.video)
        write_wav(path, self.sound, self.sr)
        return path

    def write_video(self, out: str | os.PathLike) -> Path:
        """Write ``out`` (``.mp4``, ``.m4v``, ``.mov`` or ``.mkv``): the input video's stream, copied without
        re-encoding, with the predicted sound in place of any audio it had; returns the path."""
        out = _output(out, VIDEO_FORMATS, "a video", self.video)
        mux_audio(self.video, self.sound, self.sr, out)
        return out


class Model:
    """A trained run loaded once (:func:`load_model`), ready to predict the sound of any number of videos."""

    def __init__(self, predictor: Predictor, run: Path):
        self.predictor = predictor
        self.run = run

    def __repr__(self) -> str:
        return f"vis.Model({str(self.run)!r})"

    @property
    def has_exemplars(self) -> bool:
        """Whether the run has its exemplar bank (``bank.npz``), which ``method="example"`` needs."""
        return self.predictor.bank is not None

    def predict(self, video: str | os.PathLike, *, method: str = "example", threshold: float | None = None,
                progress: bool = False) -> PredictedSound:
        """Predict ``video``'s sound from its frames alone (any frame rate, size and length; its audio, if any,
        is ignored). ``method``: ``"example"`` pastes a real training impact at each predicted impact,
        ``"parametric"`` shapes noise with the predicted envelopes (paper Sec. 5.2). ``threshold``: the impact
        detector's probability threshold (default: the one fitted in training; lower finds fainter impacts)."""
        if method not in SOUND_METHODS:
            raise VisError(f"unknown method {method!r} (one of {', '.join(SOUND_METHODS)})")
        video = Path(video)
        info = probe(video)
        if not info.has_video:
            raise VisError(f"{video}: no video stream" + (" (audio only)" if info.has_audio else ""))
        p = self.predictor.at_threshold(threshold)
        if p.bank is None and method == "example":
            raise VisError(f"{self.run}: the model has no exemplar bank (bank.npz); use method='parametric'")
        pred, sounds = predict_waves(p, video, [method], progress=progress)
        wave, records = sounds[method]
        return PredictedSound(video=video, method=method, sound=np.asarray(wave, dtype=np.float32), sr=OUT_SR,
                              impacts=np.array([r["time"] for r in records], dtype=np.float64),
                              strengths=np.array([r["amplitude"] for r in records], dtype=np.float64),
                              cochleagram=pred.env, times=pred.times)


def load_model(run: str | os.PathLike | None = None, *, device: str = "auto") -> Model:
    """Load a trained run: its folder (``model.pt``, and ``bank.npz`` for example-based sound) or its
    ``model.pt``; ``None`` loads the model shipped with the package (:func:`vis.model.checkpoint.default_run`).
    ``device``: ``auto`` (CUDA when present, else the CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    path = default_run() if run is None else Path(run)
    return Model(Predictor.load(path, device=device), path)


def _output(path: str | os.PathLike, formats: dict[str, str], what: str, video: Path) -> Path:
    """``path`` checked before any work: a known extension, an existing folder, not a folder, not the input."""
    path = Path(path)
    output_format(path, formats, what)
    if not path.resolve().parent.is_dir():
        raise VisError(f"{path.parent}: output folder does not exist")
    if path.is_dir():
        raise VisError(f"{path}: is a folder (give a file name)")
    if path.resolve() == video.resolve():
        raise VisError(f"{path}: the output would overwrite the input video")
    return path
