"""Media input and output: every video and audio read, write and mux goes through here.

Video is read and written with PyAV (FFmpeg, libx264 and AAC bundled); wav files with soundfile.

Time convention (how video and audio of one recording are aligned): both start at t = 0, the
presentation time of the first video frame and the first audio sample. Frame ``i`` of a video at
``fps`` shows time ``i / fps``; audio sample ``j`` at rate ``sr`` is time ``j / sr``. Annotation
times (``ID_times.txt``) are on the same clock. When the two streams of a recording differ in length
(they do, by a fraction of a second, in the real dataset), only the time both cover is used:
``usable = min(video duration, audio duration)``.

All writers go through :func:`atomic_output`: they write to a temporary name in the target folder and
rename it into place only when the file is complete, so an interrupted run never leaves a half file.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import re
import signal
import struct
import sys
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from vis.errors import ShortMedia, VisError

NTSC_FPS = Fraction(30000, 1001)  # the Greatest Hits camera: 29.97 frames per second
AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)
MAX_CHANNELS = 8


PR_SET_PDEATHSIG = 1  # Linux prctl(2) option: the signal a process gets when its parent dies


def die_with_parent(parent_pid: int) -> None:
    """Worker-pool initializer: end this worker when the process that started it dies, even by SIGKILL.

    On Linux the kernel sends SIGKILL on the parent's death (``prctl(PR_SET_PDEATHSIG)``); a worker whose
    parent is already gone exits at once. Without it, workers of a killed ``vis synth`` or ``vis prepare``
    finished their files and then idled, re-parented to PID 1. Elsewhere this does nothing.
    """
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:
        os._exit(1)


@dataclass(frozen=True)
class MediaInfo:
    """What a media file holds. Durations in seconds; ``fps`` as an exact fraction."""

    path: str
    duration: float
    has_video: bool
    fps: Fraction | None
    width: int | None
    height: int | None
    n_frames: int | None
    has_audio: bool
    sample_rate: int | None
    channels: int | None


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    The temporary name (``.NAME.PID.XXXX.EXT``) keeps the extension (or ``suffix``) so that writers that
    pick a format from the extension still work, and names the writing process: temporary files of
    ``path`` left by a process that no longer runs (killed while writing) are removed first. On error the
    temporary file is removed and ``path`` is left untouched; a failure to write names ``path``, not the
    temporary file.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise VisError(f"{path.parent}: output folder does not exist")
    if path.is_dir():
        raise VisError(f"{path}: is a folder (give a file name)")
    remove_stale_temporaries(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=suffix or path.suffix,
                                   dir=path.parent)
    except OSError as e:
        raise VisError(f"{path}: cannot write ({e.strerror or e})") from None
    os.close(fd)
    tmp = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)  # mkstemp makes 0600; give the file the permissions a plain open() would
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        if e.filename is not None and Path(e.filename) in (tmp, path):
            raise VisError(f"{path}: cannot write ({e.strerror or e})") from None
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[a-z0-9_]{8}")  # atomic_output's temporary names


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of :func:`atomic_output` whose writing process is gone (killed while
    writing): those of the file ``path``, or, when ``path`` is a folder, every one in it."""
    path = Path(path)
    folder, name = (path, None) if path.is_dir() else (path.parent, path.name)
    removed = []
    for tmp in folder.glob(f".{glob.escape(name)}.*" if name else ".*"):
        m = _TEMPORARY.match(tmp.name)
        if m and (name is None or m["name"] == name) and not _alive(int(m["pid"])) and tmp.is_file():
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _open(path: str | os.PathLike):
    import av

    path = Path(path)
    if not path.is_file():
        raise VisError(f"{path}: no such file")
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise VisError(f"{path}: cannot open as media ({_reason(e)})") from None


# A stream counts as complete when it lasts at least its declared length less this slack: encoders may
# end a stream a few frames or an audio packet short of the container's length.
SHORT_SLACK_S = 0.2
SHORT_SLACK = 0.01  # ... or this share of the declared length, if more


def check_complete(path: str | os.PathLike, used_s: float, declared_s: float | None) -> None:
    """Warn (:class:`vis.errors.ShortMedia`) when only ``used_s`` of the ``declared_s`` seconds that the
    header of ``path`` declares could be read."""
    if declared_s and used_s < declared_s - max(SHORT_SLACK_S, SHORT_SLACK * declared_s):
        warnings.warn(ShortMedia(f"{path}: only {used_s:.2f} s of the {declared_s:.2f} s its header declares "
                                 "could be read (truncated or damaged)"), stacklevel=2)


def _declared_s(container, stream) -> float | None:
    """The length (s) a stream's header declares, else the container's; None if neither says."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return float(container.duration / 1_000_000) if container.duration else None


def _reason(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def probe(path: str | os.PathLike) -> MediaInfo:
    """Read the header of a video or audio file (no decoding). Raises VisError if it is not media."""
    path = Path(path)
    if path.suffix.lower() == ".wav":
        return _probe_wav(path)
    with _open(path) as c:
        v = c.streams.video[0] if c.streams.video else None
        a = c.streams.audio[0] if c.streams.audio else None
        duration = float(c.duration / 1_000_000) if c.duration else 0.0
        fps = n_frames = None
        if v is not None:
            rate = v.average_rate or v.guessed_rate or v.base_rate
            fps = Fraction(rate) if rate else None
            n_frames = v.frames or (round(duration * fps) if fps and duration else None)
            if v.duration and v.time_base:
                duration = max(duration, float(v.duration * v.time_base))
        return MediaInfo(
            path=str(path),
            duration=duration,
            has_video=v is not None,
            fps=fps,
            width=v.codec_context.width if v is not None else None,
            height=v.codec_context.height if v is not None else None,
            n_frames=n_frames,
            has_audio=a is not None,
            sample_rate=a.codec_context.sample_rate if a is not None else None,
            channels=a.codec_context.channels if a is not None else None,
        )


def _probe_wav(path: Path) -> MediaInfo:
    import soundfile as sf

    if not path.is_file():
        raise VisError(f"{path}: no such file")
    try:
        i = sf.info(str(path))
    except Exception as e:  # soundfile raises LibsndfileError / RuntimeError
        raise VisError(f"{path}: cannot read as wav ({_reason(e)})") from None
    return MediaInfo(str(path), i.frames / i.samplerate, False, None, None, None, None,
                     True, i.samplerate, i.channels)


# ---------------------------------------------------------------------------------------------- video


def iter_frames(
    path: str | os.PathLike,
    *,
    size: tuple[int, int] | None = None,
    fps: float | Fraction | None = None,
    start: float = 0.0,
    end: float | None = None,
    only: set[int] | None = None,
) -> Iterator[tuple[float, np.ndarray]]:
    """Decode a video as ``(time, frame)`` pairs, streaming (memory does not grow with length).

    Parameters
    ----------
    size : (width, height) or None
        Resize every frame to exactly this size (no crop); None keeps the stored size.
    fps : frames per second or None
        Output frame rate. Output frame ``k`` shows time ``k / fps`` and is the decoded frame whose
        presentation time is nearest to it (nearest-frame resampling in time). None keeps every
        stored frame with its own time.
    start, end : seconds
        Only frames with ``start <= time < end`` (output grid times when ``fps`` is given).
    only : output grid indices (with ``fps``)
        Yield only these frames (the others are decoded but not converted; decoding stops after the last).

    Yields
    ------
    time : float, seconds; frame : np.ndarray [shape=(H, W, 3)], uint8 RGB
    """
    import av

    if size is not None and (size[0] < 2 or size[1] < 2):
        raise VisError(f"size {size[0]}x{size[1]} is too small (at least 2x2)")
    w, h = size if size else (None, None)
    with _open(path) as c:
        if not c.streams.video:
            raise VisError(f"{path}: no video stream")
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        native = float(stream.average_rate or stream.guessed_rate or NTSC_FPS)
        first_pts: int | None = None
        prev_t, prev_frame, prev_img = None, None, None  # last decoded frame, converted lazily
        k = int(np.ceil(start * float(fps) - 1e-9)) if fps else 0  # next output grid index
        n_read, last_t = 0, 0.0
        try:
            for frame in c.decode(stream):
                pts = frame.pts if frame.pts is not None else frame.dts
                if pts is None:
                    t = n_read / native
                else:
                    first_pts = pts if first_pts is None else first_pts
                    t = float((pts - first_pts) * stream.time_base)
                n_read, last_t = n_read + 1, t
                if fps is None:
                    if end is not None and t >= end:
                        return
                    if t >= start:
                        yield t, _to_rgb(frame, w, h)
                    continue
                # Emit every grid time that is at least as close to the previous frame as to this one.
                while prev_t is not None:
                    tk = k / float(fps)
                    if end is not None and tk >= end - 1e-9:
                        return
                    if abs(tk - prev_t) > abs(tk - t):
                        break
                    if only is None or k in only:
                        prev_img = _to_rgb(prev_frame, w, h) if prev_img is None else prev_img
                        yield tk, prev_img
                    k += 1
                if only is not None and k > max(only, default=-1):
                    return
                prev_t, prev_frame, prev_img = t, frame, None
        except av.error.FFmpegError as e:
            if n_read == 0:
                raise VisError(f"{path}: cannot decode video ({_reason(e)})") from None
            # A truncated file: keep the frames decoded before the damage (check_complete warns below).
        if n_read == 0:
            raise VisError(f"{path}: video stream has no frames")
        check_complete(path, last_t + 1 / native, _declared_s(c, stream))
        # The last frame covers grid times up to half a frame past its own time.
        while fps is not None and prev_t is not None:
            tk = k / float(fps)
            if tk >= prev_t + 0.5 / native - 1e-9 or (end is not None and tk >= end - 1e-9):
                break
            if only is None or k in only:
                prev_img = _to_rgb(prev_frame, w, h) if prev_img is None else prev_img
                yield tk, prev_img
            k += 1


def _to_rgb(frame, w: int | None, h: int | None) -> np.ndarray:
    if w is None:
        return frame.to_ndarray(format="rgb24")
    return frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA").to_ndarray()


def read_frames(
    path: str | os.PathLike,
    *,
    size: tuple[int, int] | None = None,
    fps: float | Fraction | None = None,
    start: float = 0.0,
    end: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode frames into memory: ``frames`` [shape=(N, H, W, 3)] uint8 and ``times`` [N] seconds.

    Same options as :func:`iter_frames`.
    """
    times, frames = [], []
    for t, f in iter_frames(path, size=size, fps=fps, start=start, end=end):
        times.append(t)
        frames.append(f)
    if not frames:
        raise VisError(f"{path}: no frames between {start:.3f} s and {end} s")
    return np.stack(frames), np.asarray(times)


def write_video(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    *,
    fps: Fraction = NTSC_FPS,
    audio: np.ndarray | None = None,
    sr: int | None = None,
    crf: int = 20,
    preset: str = "veryfast",
) -> None:
    """Encode RGB uint8 frames [H, W, 3] as H.264 mp4, optionally with an AAC audio track.

    ``audio`` is [n] or [n, channels] float in [-1, 1] at ``sr`` Hz. Written atomically.
    """
    import av

    with atomic_output(path) as tmp, av.open(str(tmp), "w") as out:
        vs = None
        astream = None
        if audio is not None:
            astream = _add_audio_stream(out, audio, sr)
        for img in frames:
            if vs is None:
                h, w = img.shape[:2]
                if w % 2 or h % 2:
                    raise VisError(f"{path}: frame size {w}x{h} must be even for H.264")
                vs = out.add_stream("libx264", rate=fps)
                vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
                # one encoder thread: x264's threads make the bytes depend on the machine's load (the same
                # seed gave other mp4 bytes for 3 of 6 videos when two `vis synth` ran side by side)
                vs.options = {"crf": str(crf), "preset": preset}
                vs.codec_context.thread_count = 1
            for packet in vs.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")):
                out.mux(packet)
        if vs is None:
            raise VisError(f"{path}: no frames to write")
        for packet in vs.encode():
            out.mux(packet)
        if astream is not None:
            _encode_audio(out, astream, audio, sr)


def _add_audio_stream(out, audio: np.ndarray, sr: int | None):
    if sr not in AAC_RATES:
        raise VisError(f"audio rate {sr} Hz cannot be stored as AAC (use one of {AAC_RATES})")
    ch = 1 if audio.ndim == 1 else audio.shape[1]
    if ch not in (1, 2):
        raise VisError(f"{ch}-channel audio cannot be muxed (mono or stereo only)")
    stream = out.add_stream("aac", rate=sr)
    stream.layout = "mono" if ch == 1 else "stereo"
    return stream


def _encode_audio(out, stream, audio: np.ndarray, sr: int) -> None:
    import av

    a = np.asarray(audio, dtype=np.float32)
    a = a[:, None] if a.ndim == 1 else a
    a = np.clip(np.nan_to_num(a), -1.0, 1.0)
    block = 1024 * 16
    for i in range(0, len(a), block):
        chunk = np.ascontiguousarray(a[i : i + block].T)
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=stream.layout.name)
        frame.sample_rate = sr
        frame.pts = i
        frame.time_base = Fraction(1, sr)
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)


# Output containers by file extension: PyAV's muxer for video (the video stream is copied, AAC sound added)
# and soundfile's format for sound. Any other extension is refused before work starts.
VIDEO_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
SOUND_FORMATS = {".wav": "WAV", ".flac": "FLAC"}


def output_format(path: str | os.PathLike, formats: dict[str, str], what: str) -> str:
    """The container for an output ``path`` from its extension, or a VisError naming the ones accepted."""
    fmt = formats.get(Path(path).suffix.lower())
    if fmt is None:
        raise VisError(f"{path}: cannot write {what} with extension {Path(path).suffix or '(none)'!r} "
                       f"(use {', '.join(formats)})")
    return fmt


def mux_audio(video: str | os.PathLike, audio: np.ndarray, sr: int, out_path: str | os.PathLike) -> None:
    """Write ``out_path``: the video stream of ``video`` copied without re-encoding, plus ``audio``.

    Any audio already in ``video`` is dropped (replaced). Audio longer than the video is kept whole;
    players stop at the longer stream. Written atomically.
    """
    import av

    fmt = output_format(out_path, VIDEO_FORMATS, "a video")
    with _open(video) as src:
        if not src.streams.video:
            raise VisError(f"{video}: no video stream")
        vin = src.streams.video[0]
        try:
            with atomic_output(out_path) as tmp, av.open(str(tmp), "w", format=fmt) as out:
                vout = out.add_stream_from_template(vin)
                astream = _add_audio_stream(out, audio, sr)
                for packet in src.demux(vin):
                    if packet.dts is None:
                        continue
                    packet.stream = vout
                    out.mux(packet)
                _encode_audio(out, astream, audio, sr)
        except (ValueError, av.error.FFmpegError) as e:
            codec = vin.codec_context.name
            raise VisError(f"{video}: its {codec} video cannot be copied into {Path(out_path).suffix} "
                           f"({_reason(e)}); convert it to H.264 first") from None


# ---------------------------------------------------------------------------------------------- audio


def read_audio(path: str | os.PathLike, *, mono: bool = False,
               min_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read all audio of a wav or of a video's first audio stream.

    Refuses, naming the file, audio with no samples, more than MAX_CHANNELS channels, a NaN or infinite
    sample, or (with ``min_rate``) a rate below ``min_rate`` Hz (the cochleagram needs 20 kHz).

    Returns
    -------
    audio : np.ndarray [shape=(n, channels)] float32 (or [n] if ``mono``: channels averaged)
    sr : int, samples per second
    """
    path = Path(path)
    audio, sr = _read_wav(path) if path.suffix.lower() == ".wav" else _read_av_audio(path)
    if audio.shape[0] == 0:
        raise VisError(f"{path}: audio has no samples")
    if audio.shape[1] > MAX_CHANNELS:
        raise VisError(f"{path}: {audio.shape[1]} audio channels (at most {MAX_CHANNELS} supported)")
    if min_rate is not None and sr < min_rate:
        raise VisError(f"{path}: sample rate {sr} Hz is below the {min_rate} Hz needed")
    bad = np.flatnonzero(~np.isfinite(audio).all(axis=1)) if not np.isfinite(audio.sum()) else []
    if len(bad):
        raise VisError(f"{path}: audio has a NaN or infinite sample (at {bad[0] / sr:.3f} s)")
    return (audio.mean(axis=1) if mono else audio), sr


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    if not path.is_file():
        raise VisError(f"{path}: no such file")
    try:
        audio, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:
        raise VisError(f"{path}: cannot read as wav ({_reason(e)})") from None
    check_complete(path, len(audio) / sr, _wav_declared_s(path))
    return audio, int(sr)


def _wav_declared_s(path: Path) -> float | None:
    """The length (s) a RIFF wav header declares for its data chunk (None if it does not say: RF64, a
    streamed wav, or an unusual layout)."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        rate = block = 0
        while len(chunk := f.read(8)) == 8:
            cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"data":
                return size / block / rate if rate and block and size != 0xFFFFFFFF else None
            if cid == b"fmt ":
                body = f.read(size + (size & 1))
                if len(body) >= 14:
                    rate, block = struct.unpack("<I", body[4:8])[0], struct.unpack("<H", body[12:14])[0]
            else:
                f.seek(size + (size & 1), 1)  # chunks are padded to an even size
    return None


def _read_av_audio(path: Path) -> tuple[np.ndarray, int]:
    import av

    with _open(path) as c:
        if not c.streams.audio:
            raise VisError(f"{path}: no audio stream")
        stream = c.streams.audio[0]
        sr = stream.codec_context.sample_rate
        chunks = []
        try:
            for frame in c.decode(stream):
                x = frame.to_ndarray()
                if frame.format.is_planar:
                    x = x.T  # [ch, n] -> [n, ch]
                else:
                    x = x.reshape(-1, len(frame.layout.channels))
                if x.dtype.kind == "i":
                    x = x.astype(np.float32) / np.iinfo(x.dtype).max
                chunks.append(x.astype(np.float32, copy=False))
        except av.error.FFmpegError as e:
            if not chunks:
                raise VisError(f"{path}: cannot decode audio ({_reason(e)})") from None
        declared = _declared_s(c, stream)
    if not chunks:
        raise VisError(f"{path}: audio stream has no samples")
    audio = np.concatenate(chunks)
    check_complete(path, len(audio) / sr, declared)
    return audio, int(sr)


def write_wav(path: str | os.PathLike, audio: np.ndarray, sr: int, *, subtype: str = "PCM_16") -> None:
    """Write [n] or [n, channels] float audio in [-1, 1] as a wav (or, by extension, flac) file, atomically."""
    import soundfile as sf

    fmt = output_format(path, SOUND_FORMATS, "sound")
    a = np.clip(np.nan_to_num(np.asarray(audio, dtype=np.float32)), -1.0, 1.0)
    with atomic_output(path) as tmp:
        sf.write(str(tmp), a, sr, subtype=subtype, format=fmt)
