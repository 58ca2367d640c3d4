"""``vis predict``: a silent video in, the same video with predicted impact sound out.

1. A default-recipe run finds the impacts with its impact detector (its low-rate one for video under 20 fps) on
   the video's optical flow and asks its centred model what each sounds like (:mod:`vis.sound.impacts`). Any
   other run predicts the whole video's cochleagram from frames decoded at the model's rate (29.97 fps) and
   size, 10 s at a time in windows overlapping by 30 % and joined where they differ least (paper A1.1:
   :mod:`vis.sound.windowed`), and takes its prominent peaks (:func:`detect_peaks`, with the model's own
   threshold and gap).
2. A waveform is made: ``example`` pastes at each impact the training impact nearest in sound (and, with a
   visual memory, in looks: :mod:`vis.sound.exemplars`; Sec. 5.2, 6.1); ``parametric`` imposes impact-shaped
   envelopes on noise (:func:`impact_envelope`, Sec. 5.2).
3. The input's video stream is copied without re-encoding and the sound muxed in (replacing any audio).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vis.audio.bands import SR
from vis.audio.cochleagram import cochleagram
from vis.audio.onsets import MIN_GAP, PEAK_PROMINENCE_DB
from vis.audio.resample import change_rate
from vis.audio.synthesis import OUT_SR
from vis.config import SOUND_METHODS
from vis.data.cache import FPS
from vis.data.io import SOUND_FORMATS, VIDEO_FORMATS, output_format, read_audio, write_wav
from vis.data.media import MediaInfo, iter_frames, mux_audio, probe
from vis.errors import VisError
from vis.model.backbones import colour_features
from vis.model.checkpoint import SoundPCA, load_model
from vis.model.network import VisNet
from vis.model.onset import OnsetDetector
from vis.plots import save_cochleagram_png
from vis.sound.exemplars import ExemplarBank
from vis.sound.impacts import detected_prediction
from vis.sound.longform import Colouring, synthesize_long
from vis.sound.peaks import Prediction, detect_peaks, impact_envelope, parametric_wave, peak_params
from vis.sound.windowed import predict_features, video_motion_with_bar


def synthesize(pred: Prediction, *, method: str, bank=None, sr: int = OUT_SR, colour=None, seed: int = 0,
               prominence_db: float = PEAK_PROMINENCE_DB, min_gap: float = MIN_GAP,
               looks=None, impacts: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, list[dict]]:
    """Waveform [duration * sr] for a whole video's prediction, and one record (time, prominence) per impact.

    Impacts are the prediction's peaks (:func:`detect_peaks`), or ``impacts`` (times, scores) where a detector
    found them. ``example`` pastes at each the training impact nearest to the predicted features there (paper
    Sec. 6.1); ``parametric`` imposes on noise (Sec. 5.2) the envelopes of :func:`impact_envelope`, or, without
    an exemplar bank, the predicted envelopes as they are. ``looks(times) -> [P, D]``: what the frames at the
    peaks look like (:func:`vis.model.backbones.colour_features`); with a bank that has a visual memory, each
    impact's sound then also follows the training impacts that look alike (:mod:`vis.sound.exemplars`).
    """
    if method not in SOUND_METHODS:
        raise VisError(f"unknown method {method!r} (one of {', '.join(SOUND_METHODS)})")
    # found by the impact detector (vis.sound.impacts), with its probabilities; or the prediction's peaks
    peaks, prominence = impacts if impacts is not None else detect_peaks(pred, prominence_db=prominence_db,
                                                                         min_gap=min_gap)
    n = int(round(pred.duration * sr))
    visual = looks(peaks) if looks is not None and bank is not None and bank.has_memory and len(peaks) else None
    if method == "parametric":
        if bank is None or len(bank) == 0:
            return parametric_wave(pred, sr=sr, seed=seed), []
        priors = bank.visual_prior(visual) if visual is not None else None
        shaped = Prediction(impact_envelope(pred, peaks, bank.features.mean(0), colour=colour, priors=priors,
                                            mix=bank.spectrum_mix),
                            pred.times, pred.duration, pred.n_frames)
        records = [{"time": float(t), "amplitude": float(a)} for t, a in zip(peaks, prominence)]
        return parametric_wave(shaped, sr=sr, seed=seed), records
    if bank is None:
        raise VisError("example-based synthesis needs the model's exemplar bank (bank.npz)")
    out, records = synthesize_long(pred.env, pred.times, peaks, bank, duration=pred.duration, colour=colour,
                                   visual=visual)
    for r, a in zip(records, prominence):
        r["amplitude"] = float(a)  # the peak's prominence (dB): the confidence for detection AP
    out = change_rate(out, bank.sr, sr)
    out = np.pad(out, (0, max(0, n - len(out))))[:n]
    return np.clip(out, -1, 1), records


def frame_looks(frames_at):
    """A ``looks`` function for :func:`synthesize`: ``frames_at(indices) -> uint8 [P, H, W, 3]`` gives the
    frames (at the model's rate and ``size``) nearest each time; returns their :func:`colour_features`."""
    def looks(times: np.ndarray) -> np.ndarray:
        idx = np.round(np.asarray(times) * float(FPS)).astype(np.int64)
        return colour_features(frames_at(idx))

    return looks


def cached_frames_at(vf):
    """``frames_at(indices)`` for a video's cached frames (:class:`vis.data.cache.VideoFeatures`)."""
    return lambda idx: np.asarray(vf.frames[np.clip(np.asarray(idx), 0, vf.n_frames - 1)])


def video_frames_at(video: str | os.PathLike, size: tuple[int, int]):
    """``frames_at(indices)`` for a video file: one more decoding pass converts just the frames asked for."""
    def frames_at(idx: np.ndarray) -> np.ndarray:
        want = {int(i) for i in idx}
        got: dict[int, np.ndarray] = {}
        for t, f in iter_frames(video, size=size, fps=FPS, only=want):
            got[int(round(t * float(FPS)))] = f
        if not got:
            raise VisError(f"{video}: none of the frames asked for could be decoded")
        last = got[max(got)]
        return np.stack([got.get(int(i), last) for i in idx])  # past the end: the last one decoded

    return frames_at


@dataclass
class Predictor:
    """A trained run ready to make sound: its network, PCA and checkpoint (:func:`vis.model.checkpoint.load_model`),
    its exemplar bank (None when the run has none) and the detection model's colouring (None otherwise)."""

    net: VisNet
    pca: SoundPCA
    ck: dict
    bank: ExemplarBank | None
    colour: Colouring | None
    onsets: OnsetDetector | None = None  # the impact detector of a default-recipe run (vis.sound.impacts)

    @classmethod
    def load(cls, run: str | os.PathLike, *, device: str = "cpu") -> Predictor:
        """The run's model on ``device`` (:func:`vis.model.device.resolve_device`)."""
        loaded = load_model(run, device=device)
        net, pca, ck = loaded.net, loaded.pca, loaded.checkpoint
        bank_path = loaded.run.bank
        bank = ExemplarBank.load(bank_path) if bank_path.is_file() else None
        colour = Colouring.from_dict(ck["colouring"]) if "colouring" in ck else None
        onsets = OnsetDetector.from_dict(ck["onsets"]) if "onsets" in ck else None
        return cls(net, pca, ck, bank, colour, onsets)

    def detector_for(self, info: MediaInfo) -> OnsetDetector | None:
        """The impact detector that reads the video ``info`` describes: the low-rate one for a video under
        :data:`vis.model.onset.LOW_RATE_FPS` where the model has one (None: the model has no detector)."""
        return None if self.onsets is None else self.onsets.for_rate(info.fps)

    def at_threshold(self, threshold: float | None) -> Predictor:
        """The model with its impact detector's threshold set to ``threshold`` (None: the one fitted in training)."""
        if threshold is not None and self.onsets is None:
            raise VisError("this model has no impact detector to set a threshold for (its impacts: its sound's peaks)")
        return self if threshold is None or self.onsets is None else replace(
            self, onsets=self.onsets.at_threshold(threshold))


def predict_video(video: str | os.PathLike, run: str | os.PathLike | Predictor, out: str | os.PathLike, *,
                  method: str = "example", wav: str | os.PathLike | None = None, png: str | os.PathLike | None = None,
                  progress: bool = True, device: str = "cpu") -> dict:
    """Everything ``vis predict`` does: ``video`` with the sound of ``method`` written to ``out`` (and ``wav``,
    and the predicted cochleagram to ``png``). Returns a summary (paths written, impacts, seconds)."""
    return predict_sounds(video, run, {method: (out, wav)}, png=png, progress=progress, device=device)[method]


def predict_sounds(video: str | os.PathLike, run: str | os.PathLike | Predictor,
                   outputs: dict[str, tuple[str | os.PathLike, str | os.PathLike | None]], *,
                   png: str | os.PathLike | None = None, progress: bool = True,
                   device: str = "cpu") -> dict[str, dict]:
    """One prediction of ``video``'s sound features (the network on ``device`` unless ``run`` is loaded
    already), synthesized by each method of ``outputs`` (``{method: (video out, wav out or None)}``).
    Returns a summary per method."""
    t0 = time.time()
    video = Path(video)
    for method, (out, wav) in outputs.items():
        if method not in SOUND_METHODS:
            raise VisError(f"unknown method {method!r} (one of {', '.join(SOUND_METHODS)})")
        for p in (out, wav, png):
            if p is not None and not Path(p).resolve().parent.is_dir():
                raise VisError(f"{Path(p).parent}: output folder does not exist")
            if p is not None and Path(p).is_dir():
                raise VisError(f"{p}: is a folder (give a file name)")
            if p is not None and Path(p).resolve() == video.resolve():
                raise VisError(f"{p}: the output would overwrite the input video")
        output_format(out, VIDEO_FORMATS, "a video")  # refused before any work
        if wav is not None:
            output_format(wav, SOUND_FORMATS, "sound")
    info = probe(video)
    if not info.has_video:
        raise VisError(f"{video}: no video stream" + (" (audio only)" if info.has_audio else ""))
    model = run if isinstance(run, Predictor) else Predictor.load(run, device=device)
    if model.bank is None and "example" in outputs:
        # the exemplars to paste (example); parametric takes the average training impact from it when present
        raise VisError(f"{run}: the model has no exemplar bank (bank.npz); use --method parametric")
    pred, sounds = predict_waves(model, video, list(outputs), progress=progress)
    detector = model.detector_for(info)  # the one predict_waves used
    predicted_s = time.time() - t0
    summaries: dict[str, dict] = {}
    for method, (out, wav) in outputs.items():
        t1 = time.time()
        wave, records = sounds[method]
        mux_audio(video, wave, OUT_SR, out)
        wrote = [str(out)]
        if wav is not None:
            write_wav(wav, wave, OUT_SR)
            wrote.append(str(wav))
        if png is not None and not summaries:
            compare = None
            if info.has_audio:
                audio, sr = read_audio(video, min_rate=SR)
                compare = cochleagram(audio, sr)
            save_cochleagram_png(png, pred.env, pred.times, title=f"predicted: {video.name}", compare=compare)
            wrote.append(str(png))
        seconds = predicted_s / len(outputs) + time.time() - t1
        summaries[method] = {
            "video": str(video), "wrote": wrote, "duration": pred.duration, "impacts": len(records),
            "peaks": [r["time"] for r in records], "peak_amplitudes": [r["amplitude"] for r in records],
            "method": method, "seconds": seconds, "realtime_factor": pred.duration / seconds if seconds else 0.0,
            "records": records, "threshold": detector.threshold if detector is not None else None,
            "low_rate": detector is not None and detector is not model.onsets}
    return summaries


def predict_waves(model: Predictor, video: str | os.PathLike, methods: list[str], *, progress: bool = True
                  ) -> tuple[Prediction, dict[str, tuple[np.ndarray, list[dict]]]]:
    """One prediction of ``video``'s sound features and, per method, its waveform at OUT_SR and one record
    per impact (time, amplitude): everything ``vis predict`` and :mod:`vis.api` make before writing files.

    A run with an impact detector finds the impacts in the video's motion and describes each with its
    centred model (:mod:`vis.sound.impacts`); any other run predicts the whole video's features in windows
    and takes their peaks (:func:`predict_features`).
    """
    video = Path(video)
    frames_at = video_frames_at(video, (model.net.cfg.image_size[0], model.net.cfg.image_size[1]))
    impacts: tuple[np.ndarray, np.ndarray] | None = None
    info = probe(video)
    detector = model.detector_for(info)
    if detector is not None:  # detect (the low-rate detector for video under 20 fps), then describe
        motion = video_motion_with_bar(video, info.n_frames, progress=progress)
        duration = min(info.duration or len(motion) / float(FPS), len(motion) / float(FPS))
        pred, times, scores = detected_prediction(model.net, model.pca, detector, motion, frames_at,
                                                  duration=duration)
        impacts = (times, scores)
    else:
        pred = predict_features(model.net, model.pca, video, progress=progress)
    looks = _memoised(frame_looks(frames_at))  # every method looks at the same peaks' frames: decoded once
    return pred, {m: synthesize(pred, method=m, bank=model.bank, colour=model.colour, looks=looks, impacts=impacts,
                                **peak_params(model.ck)) for m in methods}


def _memoised(looks):
    """``looks`` that remembers its last answer (the same peak times asked for again)."""
    last: dict = {}

    def cached(times: np.ndarray) -> np.ndarray:
        key = np.asarray(times).tobytes()
        if key not in last:
            last.clear()
            last[key] = looks(times)
        return last[key]

    return cached
