"""Where :mod:`vis.web` meets the model: every import of the dataset, media and prediction code (torch) is
here, so that :mod:`vis.web.study` and :mod:`vis.web.results` load without them (``vis study results``).

- :func:`load_predictor`: a trained run, loaded once (``vis serve --model``, ``vis study create --model``).
- :func:`predict_upload`: the demo page's prediction (``vis predict`` on an uploaded video).
- :func:`check_video`: what an uploaded file holds, refused unless it has a video stream.
- :func:`clip_sounds`: a study's clips of one test video, with the real and the predicted sounds.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vis.audio.resample import change_rate
from vis.data.dataset import Dataset
from vis.data.io import AAC_RATES, NTSC_FPS, read_audio
from vis.data.media import iter_frames, mux_audio, not_a_video, probe, write_video
from vis.errors import VisError
from vis.sound.predict import Predictor, predict_sounds, predict_video

CLIP_RATE = 48_000  # real sound whose rate an mp4 cannot hold (AAC) is resampled to 48 kHz
MAX_GAIN_DB = 40.0  # level matching raises a predicted sound by at most 40 dB (a silent prediction stays quiet)
LEVEL_PASSES = 2  # level matching encodes twice: the second corrects what AAC changed (to within ~0.1 dB)


def open_dataset(data: str | os.PathLike) -> Dataset:
    """A Greatest Hits folder with its split (``DATA/test.txt``, else the seeded 75/25 split)."""
    return Dataset.open(data)


def load_predictor(run: str | os.PathLike, *, device: str = "cpu") -> Predictor:
    """A trained run (``vis train --out RUN``) ready to make sound, on ``device``."""
    return Predictor.load(run, device=device)


def check_video(path: str | os.PathLike, *, name: str) -> float:
    """The duration (s) of an uploaded file; VisError (naming it ``name``, never its path) unless PyAV reads
    it and finds a video stream with frames."""
    try:
        info = probe(path)
    except VisError:
        raise VisError(f"{name}: not a video file that can be read") from None
    if info.still:
        raise VisError(not_a_video(name))
    if not info.has_video:
        raise VisError(f"{name}: has no video stream" + (" (it is sound only)" if info.has_audio else ""))
    if not info.n_frames and not info.duration:
        raise VisError(f"{name}: the video stream is empty")
    return info.duration


def predict_upload(predictor: Predictor, video: Path, out: Path, png: Path, *, method: str) -> dict:
    """``vis predict VIDEO -o OUT --png PNG --method METHOD`` with a loaded model; returns its summary."""
    return predict_video(video, predictor, out, method=method, png=png, progress=False)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def _match_level(silent: Path, wav: Path, out: Path, target: float) -> None:
    """Write ``out``: ``silent`` with the sound of ``wav`` scaled so that its RMS, as decoded from ``out``,
    is ``target`` (the real clip's, decoded likewise): AAC changes the level a little, so the gain is
    corrected after each of LEVEL_PASSES encodings. Never more than MAX_GAIN_DB."""
    wave, sr = read_audio(wav, mono=True)
    most = 10 ** (MAX_GAIN_DB / 20)
    gain = min(target / max(_rms(wave), 1e-12), most)
    for _ in range(LEVEL_PASSES):
        mux_audio(silent, np.clip(wave * gain, -1, 1), sr, out)
        gain = min(gain * target / max(_rms(read_audio(out, mono=True)[0]), 1e-12), most)


def clip_sounds(ds: Dataset, vid: str, predictor: Predictor, clips_dir: Path, *, methods: list[str], clip_s: float,
                per_video: int, rng: np.random.Generator, first: int, match_level: bool = False) -> list[dict]:
    """The clips of one test video: up to ``per_video`` annotated impacts with ``clip_s`` of video around
    them, each as ``cNNNN_real.mp4`` and ``cNNNN_METHOD.mp4`` in ``clips_dir`` (the same frames, with the
    real or the predicted sound; ``NNNN`` counts from ``first``). The model sees only the clip's frames.
    ``match_level``: each predicted sound is scaled to the RMS of the clip's real sound (by at most
    MAX_GAIN_DB), so that loudness alone does not tell them apart. Material and action are the annotated
    event's. Returns one manifest entry per clip."""
    video = ds.video_path(vid)
    audio, sr = read_audio(ds.audio_path(vid), mono=True)
    if sr not in AAC_RATES:
        audio, sr = change_rate(audio, sr, CLIP_RATE), CLIP_RATE
    usable = min(probe(video).duration, len(audio) / sr)
    half = clip_s / 2
    events = [e for e in ds.events(vid) if e.time - half >= 0 and e.time + half <= usable]
    if len(events) > per_video:
        events = [events[i] for i in sorted(rng.choice(len(events), per_video, replace=False))]
    out: list[dict] = []
    for e in events:
        cid = f"c{first + len(out):04d}"
        start = e.time - half
        frames = [f for _, f in iter_frames(video, fps=NTSC_FPS, start=start, end=start + clip_s)]
        if not frames:
            continue
        h, w = (frames[0].shape[0] // 2) * 2, (frames[0].shape[1] // 2) * 2  # H.264 needs even sizes
        silent = clips_dir / f".{cid}_silent.mp4"
        write_video(silent, [f[:h, :w] for f in frames])
        a = int(round(start * sr))
        n = int(round(len(frames) / float(NTSC_FPS) * sr))
        mux_audio(silent, audio[a : a + n], sr, clips_dir / f"{cid}_real.mp4")
        wavs = {m: clips_dir / f".{cid}_{m}.wav" if match_level else None for m in methods}
        predict_sounds(silent, predictor, {m: (clips_dir / f"{cid}_{m}.mp4", wavs[m]) for m in methods},
                       progress=False)
        if match_level:
            target = _rms(read_audio(clips_dir / f"{cid}_real.mp4", mono=True)[0])
            for m, wav in wavs.items():
                assert wav is not None  # with match_level, each method's sound was also written alone
                _match_level(silent, wav, clips_dir / f"{cid}_{m}.mp4", target)
                wav.unlink()
        silent.unlink()
        out.append({"id": cid, "video": vid, "time": round(e.time, 4), "start": round(start, 4),
                    "material": e.material, "action": e.action, "real": f"clips/{cid}_real.mp4",
                    "sounds": {m: f"clips/{cid}_{m}.mp4" for m in methods}})
    return out
