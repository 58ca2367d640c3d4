"""Per-video features, cached once: cochleagram, onsets, decoded frames and frozen-trunk outputs.

``vis prepare DATA`` fills a cache folder with, per video id:

- ``ID.sound.npz``: the cochleagram ``env`` [T, 42] at ~90 Hz with its row ``times``, detected onsets
  (``onsets``, ``onset_amps``), annotated event times, and the usable duration (see :mod:`vis.data.io`);
- ``ID.frames-WxH.npy`` (``.jpgs``: ``--frame-store jpeg``): frames at 29.97 fps, upright, WxH (:mod:`vis.data.media`);
- ``ID.motion.npy`` (the default recipe): optical-flow motion features measured at the video's own frame
  rate, on the 29.97 fps grid, float32 [3, N, MOTION_FEATURES]: the video's, then those of its two half-rate
  copies (every other frame: 15 fps footage, for the low-rate impact detector) (:mod:`vis.data.motion`);
- ``ID.trunk-KEY.npz`` (frozen backbones only, written by ``vis train --frozen`` with
  :func:`vis.model.inputs.prepare_trunk`): the fixed trunk's outputs for every frame's spacetime and colour
  image (the paper's precomputed pool5 features).

Each file has a JSON sidecar recording what it was made from (input file size and modification time,
and every parameter); a file whose sidecar does not match is rebuilt. Files are written under a
temporary name and renamed, sidecar last, so an interrupted ``prepare`` loses at most the video in hand.

Sound rows are tied to frames: frame ``f`` shows time ``f / fps`` and owns the ``K = 3`` rows at
``f / fps + (j - 1) / (K * fps)``, j = 0, 1, 2, so row ``K*f + 1`` sits exactly at the frame's time
(paper Sec. 5.1: "we replicate each CNN feature vector k times ... we use k = 3").
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import os
import warnings
import zipfile
from dataclasses import dataclass
from fractions import Fraction
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vis.audio.bands import COMPRESSION, N_BANDS, SR
from vis.audio.cochleagram import cochleagram
from vis.audio.onsets import detect_onsets
from vis.data.dataset import read_times
from vis.data.framestore import JPEG_QUALITY, STORES, JpegFrames, frames_path, is_stored, open_frames, write_frames
from vis.data.io import NTSC_FPS, atomic_output, die_with_parent, read_audio
from vis.data.media import probe, read_frames
from vis.data.motion import FARNEBACK, FLOW_SIZE, GRID, TOP_SHARE, frame_step, motion_rows, video_motion
from vis.errors import ShortMedia, VisError

FEATURES_VERSION = 1  # bump when the stored content changes meaning (MEDIA_VERSION: what is read from media files)
MEDIA_VERSION = 3  # 2026-12-07: 2 frames upright, a video's own audio on its frames' clock; 3 motion skips repeats
FPS = NTSC_FPS  # the model's frame rate: Greatest Hits video is 29.97 fps
K = 3  # sound rows per frame: 29.97 fps * 3 = 89.9 rows/s, the paper's ~90 Hz
CENTRED_FRAMES = 15  # centred task: 0.5 s of video around each onset (paper Sec. 6.1)
CENTRED_ROWS = CENTRED_FRAMES * K  # 45 rows, as in the released vis-sfs features (events, 45, 42)
DETECTION_FRAMES = 60  # detection task: ~2 s sequences ...
DETECTION_STRIDE = 15  # ... sampled with a 0.5 s stride (paper Sec. 6.1)


def default_cache_dir(data: str | os.PathLike) -> Path:
    """``$VIS_CACHE`` or ``~/.cache/vis``, plus a folder per dataset (its name and a hash of its path)."""
    data = Path(data).resolve()
    base = Path(os.environ.get("VIS_CACHE") or Path.home() / ".cache" / "vis")
    return base / f"{data.name}-{hashlib.sha1(str(data).encode()).hexdigest()[:8]}"


def row_times(n_frames: int, *, fps: float | Fraction = FPS, k: int = K) -> np.ndarray:
    """Times in seconds of the ``k`` sound rows owned by each of ``n_frames`` frames: [n_frames * k]."""
    f = np.arange(n_frames)[:, None] + (np.arange(k)[None, :] - (k - 1) / 2) / k
    return (f / float(fps)).reshape(-1)


def env_on_grid(env: np.ndarray, times: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Envelope rows ``env`` [T, C] at ``times`` [T] linearly interpolated onto ``grid`` [G] (seconds), the first /
    last row held outside ``times``: float32 [G, C]."""
    pos = np.interp(grid, times, np.arange(len(times), dtype=np.float64))
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, len(times) - 1)
    w = (pos - i0)[:, None]
    return ((1 - w) * env[i0] + w * env[i1]).astype(np.float32)


# ---------------------------------------------------------------------------------------------- cache


def file_stamp(path: Path) -> dict:
    st = path.stat()
    return {"file": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _sound_params() -> dict:
    detector = {k: p.default for k, p in inspect.signature(detect_onsets).parameters.items()
                if p.default is not inspect.Parameter.empty}
    return {"version": MEDIA_VERSION, "sr": SR, "bands": N_BANDS, "compression": COMPRESSION, "onsets": detector}


def is_fresh(sidecar: Path, meta: dict) -> bool:
    """Whether ``sidecar`` records ``meta`` (the inputs and parameters a cached file was made from)."""
    try:
        saved = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(saved, dict) and {k: v for k, v in saved.items() if k != "short"} == meta


def _short_notes(sidecar: Path) -> list[str]:
    """The :class:`vis.errors.ShortMedia` warnings recorded when a cached file was made."""
    return list(json.loads(sidecar.read_text()).get("short", []))


def _recording_short(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` and the messages of the ShortMedia warnings it gave, recorded instead of
    shown (the cache keeps them, so that a second run, or ``--strict``, still hears of a damaged file)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ShortMedia)
        out = fn(*args, **kwargs)
    for w in caught:
        if not issubclass(w.category, ShortMedia):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return out, [str(w.message) for w in caught if issubclass(w.category, ShortMedia)]


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def save_json(path: Path, obj: dict) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(obj))


def prepare_sound(audio_path: Path, times_path: Path | None, video_duration: float,
                  out: Path) -> tuple[bool, list[str]]:
    """Compute and store ``ID.sound.npz`` unless up to date. Returns whether it computed, and the
    ShortMedia warnings of the audio file (made now or recorded when it was read)."""
    meta = {"params": _sound_params(), "audio": file_stamp(audio_path),
            "times": file_stamp(times_path) if times_path else None, "video_duration": round(video_duration, 6)}
    sidecar = out.with_suffix(".json")
    if out.is_file() and is_fresh(sidecar, meta):
        return False, _short_notes(sidecar)
    (audio, sr), short = _recording_short(read_audio, audio_path, min_rate=SR)
    env, times = cochleagram(audio, sr)
    onset_t, onset_a = detect_onsets(env, times)
    duration = min(video_duration, len(audio) / sr) if video_duration > 0 else len(audio) / sr
    with warnings.catch_warnings(record=True) as caught:  # events past the end: kept with the file's notes
        warnings.simplefilter("always", ShortMedia)
        events = read_times(times_path, duration=duration) if times_path else []
    short += [str(w.message) for w in caught if issubclass(w.category, ShortMedia)]
    with atomic_output(out) as tmp, open(tmp, "wb") as f:
        np.savez(f, env=env, times=times, onsets=onset_t, onset_amps=onset_a, duration=duration,
                 event_times=np.array([e.time for e in events], dtype=np.float64))
    save_json(sidecar, {**meta, "short": short})
    return True, short


def frames_sidecar(path: Path) -> Path:
    """The JSON sidecar of a frame store file (raw: ``ID.frames-WxH.json``, jpeg: ``ID.frames-WxH.jpgs.json``)."""
    return path.with_suffix(".json") if path.suffix == ".npy" else Path(f"{path}.json")


def prepare_frames(video_path: Path, size: tuple[int, int], out: Path, *, store: str = "raw",
                   fps: Fraction = FPS) -> tuple[bool, list[str]]:
    """Decode, resample to ``fps`` and resize all frames into ``out`` (:func:`vis.data.framestore.frames_path`)
    unless up to date. Returns whether it computed, and the ShortMedia warnings of the video file."""
    meta = {"version": MEDIA_VERSION, "video": file_stamp(video_path), "size": list(size), "fps": str(fps)}
    if store == "jpeg":
        meta["quality"] = JPEG_QUALITY
    sidecar = frames_sidecar(out)
    if is_stored(out) and is_fresh(sidecar, meta):
        return False, _short_notes(sidecar)
    (frames, _), short = _recording_short(read_frames, video_path, size=size, fps=fps)
    write_frames(frames, out, store)
    save_json(sidecar, {**meta, "short": short})
    return True, short


def prepare_motion(video_path: Path, out: Path, *, fps: Fraction = FPS) -> tuple[bool, list[str]]:
    """Compute and store ``ID.motion.npy`` (:func:`vis.data.motion.video_motion`) unless up to date. Returns
    whether it computed, and the ShortMedia warnings of the video file."""
    step = frame_step(probe(video_path).fps, fps)  # > 1 for video much faster than the grid (recorded since)
    meta = {"version": MEDIA_VERSION, "video": file_stamp(video_path), "fps": str(fps), "half_rate": True,
            "flow": {"size": list(FLOW_SIZE), "grid": GRID, "top": TOP_SHARE, "farneback": list(FARNEBACK)},
            **({"frame_step": step} if step > 1 else {})}
    sidecar = out.with_suffix(".json")
    if out.is_file() and is_fresh(sidecar, meta):
        return False, _short_notes(sidecar)
    motion, short = _recording_short(video_motion, video_path, fps=fps, half_rate=True)
    _save_npy(out, motion)
    save_json(sidecar, {**meta, "short": short})
    return True, short


def _prepare_one(job: tuple) -> tuple[str, int | str, list[str]]:
    """Prepare one video; returns (id, 1 if computed / 0 if up to date, ShortMedia warnings), or (id, error
    message, []) if broken."""
    try:
        return _prepare_video(*job)
    except VisError as e:
        return job[0], str(e), []


def _prepare_video(vid, video_path, audio_path, times_path, size, cache, store, motion
                   ) -> tuple[str, int, list[str]]:
    info = probe(video_path)
    if not info.has_video:
        raise VisError(f"{video_path}: no video stream")
    did, short = prepare_sound(audio_path, times_path, info.duration, cache / f"{vid}.sound.npz")
    if size is not None:
        did_frames, short_frames = prepare_frames(video_path, size, frames_path(cache, vid, size, store), store=store)
        did, short = did or did_frames, short + short_frames
    if motion:
        did_motion, _ = prepare_motion(video_path, cache / f"{vid}.motion.npy")  # its warnings: the frames'
        did = did or did_motion
    return vid, int(did), short


def prepare(ds, cache: str | os.PathLike, *, size: tuple[int, int] | None, ids: list[str] | None = None,
            store: str = "raw", motion: bool = True, workers: int = 1, progress: bool = True) -> dict:
    """Fill ``cache`` for the ids of dataset ``ds`` (all by default); reuse what is up to date.

    ``size`` (width, height) of the stored frames; None stores sound features only. ``store``: the frame
    store's format, "raw" or "jpeg" (:mod:`vis.data.framestore`). ``motion``: also the optical-flow motion
    features (:func:`prepare_motion`; the default recipe reads them).
    A video whose files cannot be read stops with its error, or, if the dataset was opened with
    ``skip_broken``, is dropped from it with a warning. Returns a summary: ``cache``, ``videos``,
    ``computed`` (how many needed work), ``failed`` ({id: error}), ``bytes``.
    """
    cache = Path(cache)
    ids = ids if ids is not None else ds.ids
    if store not in STORES:
        raise VisError(f"unknown frame store {store!r} (one of {', '.join(STORES)})")
    if size is not None and not (len(size) == 2 and all(2 <= int(x) <= 4096 for x in size)):  # before any work
        raise VisError(f"frame size {'x'.join(map(str, size))}: width and height must be from 2 to 4096 pixels")
    cache.mkdir(parents=True, exist_ok=True)
    jobs = [(v, ds.video_path(v), ds.audio_path(v), ds.times_path(v), size, cache, store, motion) for v in ids]
    computed, failed = 0, {}
    bar = tqdm(total=len(jobs), desc="prepare", unit="video", disable=not progress)
    pool_ = (get_context("spawn").Pool(workers, initializer=die_with_parent, initargs=(os.getpid(),))
             if workers > 1 and len(jobs) > 1 else contextlib.nullcontext())
    with pool_ as pool:
        results = pool.imap_unordered(_prepare_one, jobs) if pool else map(_prepare_one, jobs)
        for vid, did, short in results:
            bar.update()
            for message in short:  # shown here, not in the worker; --strict makes it an error (a broken id)
                try:
                    warnings.warn(ShortMedia(message), stacklevel=2)
                except ShortMedia:
                    did = message
                    break
            if isinstance(did, str):
                failed[vid] = did
                if not getattr(ds, "skip_broken", False):
                    raise VisError(did)
            else:
                computed += did
    bar.close()
    for vid, why in sorted(failed.items()):
        ds.drop(vid, why)
    size_bytes = sum(p.stat().st_size for p in cache.iterdir() if p.is_file())
    return {"cache": str(cache), "videos": len(jobs), "computed": computed, "failed": failed, "bytes": size_bytes}


@dataclass
class VideoFeatures:
    """What the cache holds for one video. ``frames``: memory-mapped or decoded when read (None if not prepared)."""

    vid: str
    env: np.ndarray  # [T, 42] compressed envelopes, ~90 Hz
    times: np.ndarray  # [T] seconds
    onsets: np.ndarray  # [K] detected onset times, seconds
    onset_amps: np.ndarray  # [K]
    event_times: np.ndarray  # [E] annotated times, seconds
    duration: float  # usable seconds (video and audio both cover)
    frames: np.ndarray | JpegFrames | None  # [N, H, W, 3] uint8 at FPS
    trunk: dict[str, np.ndarray] | None = None  # frozen backbone outputs per frame: "spacetime", "colour" [N, D]
    motion: np.ndarray | None = None  # [N, MOTION_FEATURES] optical-flow features at FPS (None: not prepared)
    half_rate: np.ndarray | None = None  # [2, N, MOTION_FEATURES] those of the video's two half-rate copies

    @property
    def n_frames(self) -> int:
        """Frames usable for training: those the audio also covers."""
        n = int(np.floor(self.duration * float(FPS))) + 1
        return min(n, len(self.frames)) if self.frames is not None else n

    def motion_rows(self, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` of the optical-flow features, float32 [len(idx), D] (the last row repeated past the end,
        where the video and the motion grid differ by a frame)."""
        if self.motion is None or len(self.motion) == 0:
            raise VisError(f"{self.vid}: motion features not prepared (`vis prepare` computes them for this model)")
        return motion_rows(self.motion, idx)

    def targets(self, start_frame: int, n_frames: int) -> np.ndarray:
        """Envelope rows for frames ``start_frame .. start_frame + n_frames - 1``: [n_frames * K, 42]."""
        grid = row_times(n_frames) + start_frame / float(FPS)
        return env_on_grid(self.env, self.times, grid)


def stored_frames(cache: Path, vid: str, size: tuple[int, int], store: str | None = None) -> Path:
    """The prepared frame store of ``vid`` at ``size``: the one of format ``store``, or with None whichever
    was prepared (raw if both)."""
    for s in [store] if store else STORES:
        path = frames_path(cache, vid, size, s)
        if is_stored(path):
            return path
    wanted = frames_path(cache, vid, size, store or "raw")
    raise VisError(f"{wanted}: frames not prepared at {size[0]}x{size[1]} (run `vis prepare`)")


def load(cache: str | os.PathLike, vid: str, size: tuple[int, int] | None = None, *, trunk: str | None = None,
         store: str | None = None) -> VideoFeatures:
    """Read one video's cached features (run :func:`prepare` first). ``store``: the frame store to read,
    "raw" or "jpeg" (None: whichever was prepared, :func:`stored_frames`); ``trunk``: a
    :func:`vis.model.inputs.trunk_key`. The motion features come along where they were prepared."""
    cache = Path(cache)
    sound = cache / f"{vid}.sound.npz"
    if not sound.is_file():
        raise VisError(f"{sound}: not prepared (run `vis prepare` first)")
    try:
        with np.load(sound) as z:
            d = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise VisError(f"{sound}: damaged cache file, delete it to rebuild ({e})") from None
    frames = None
    if size is not None:
        frames = open_frames(stored_frames(cache, vid, size, store))
    tr = None
    if trunk is not None:
        tpath = cache / f"{vid}.trunk-{trunk}.npz"
        if not tpath.is_file():
            raise VisError(f"{tpath}: trunk features not prepared")
        with np.load(tpath) as z:
            tr = {"spacetime": z["spacetime"], "colour": z["colour"]}
    mpath = cache / f"{vid}.motion.npy"
    motion = np.load(mpath, mmap_mode="r") if mpath.is_file() and mpath.with_suffix(".json").is_file() else None
    half = None
    if motion is not None and motion.ndim == 3:  # the video's, then its half-rate copies'
        motion, half = motion[0], motion[1:]  # (an older vis stored the video's alone: prepare rebuilds it)
    return VideoFeatures(vid, d["env"], d["times"], d["onsets"], d["onset_amps"], d["event_times"],
                         float(d["duration"]), frames, tr, motion, half)


def centred_starts(vf: VideoFeatures, centres: np.ndarray, *, n_frames: int = CENTRED_FRAMES) -> np.ndarray:
    """First frames of the ``n_frames`` windows centred on each time in ``centres`` (seconds).

    Windows that do not fit inside the video (with one spare frame on each side for the spacetime
    images) are dropped. Returns int64 [M].
    """
    c = np.round(np.asarray(centres) * float(FPS)).astype(np.int64)
    starts = c - n_frames // 2
    keep = (starts >= 1) & (starts + n_frames + 1 <= vf.n_frames)
    return starts[keep]


def sequence_starts(vf: VideoFeatures, *, n_frames: int = DETECTION_FRAMES,
                    stride: int = DETECTION_STRIDE) -> np.ndarray:
    """First frames of the detection task's long windows: every ``stride`` frames, fully inside."""
    last = vf.n_frames - n_frames - 1
    return np.arange(1, last + 1, stride, dtype=np.int64) if last >= 1 else np.zeros(0, np.int64)
