"""Media input and output: every video and audio read, write and mux goes through here.

Video is read and written with PyAV (FFmpeg, libx264 and AAC bundled); wav files with soundfile.

Time convention (how video and audio of one recording are aligned): both start at t = 0, the
presentation time of the first video frame and the first audio sample; a video file's own audio is put on its
frames' clock (:func:`stream_start`: a stream that starts later is padded with silence, an earlier one cut), and
sound muxed onto a video starts with its first frame. Frame ``i`` of a video at
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
from collections.abc import Iterator
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
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=suffix or path.suffix,
                                   dir=path.parent)
    except OSError as e:
        raise VisError(f"{path}: cannot write ({e.strerror or e})") from None
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)  # mkstemp makes 0600; give the file the permissions a plain open() would
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        if e.filename is None or Path(e.filename) in (tmp, path):  # e.g. a full disk while writing: no name
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


# ---------------------------------------------------------------------------------------------- video


VIDEO_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}

SOUND_FORMATS = {".wav": "WAV", ".flac": "FLAC"}


def output_format(path: str | os.PathLike, formats: dict[str, str], what: str) -> str:
    """The container for an output ``path`` from its extension, or a VisError naming the ones accepted."""
    fmt = formats.get(Path(path).suffix.lower())
    if fmt is None:
        raise VisError(f"{path}: cannot write {what} with extension {Path(path).suffix or '(none)'!r} "
                       f"(use {', '.join(formats)})")
    return fmt


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
    bad: np.ndarray | list = np.flatnonzero(~np.isfinite(audio).all(axis=1)) if not np.isfinite(audio.sum()) else []
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
        moving = [v for v in c.streams.video if not v.disposition & av.stream.Disposition.attached_pic]  # not cover art
        video_start = stream_start(moving[0]) if moving else None
        chunks: list[np.ndarray] = []
        first = 0.0
        try:
            for frame in c.decode(stream):
                if not chunks and frame.pts is not None:
                    first = float(frame.pts * frame.time_base)
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
    # samples the audio starts after the first frame (< 0: before); audio alone keeps its own start
    shift = 0 if video_start is None else int(round((first - video_start) * sr))
    if shift > 0:
        audio = np.concatenate([np.zeros((shift, audio.shape[1]), np.float32), audio])
    return audio[max(0, -shift) :], int(sr)


def stream_start(stream) -> float:
    """Presentation time (s) of a stream's first frame on its file's clock (0 where the file does not say)."""
    return float(stream.start_time * stream.time_base) if stream.start_time is not None and stream.time_base else 0.0


def write_wav(path: str | os.PathLike, audio: np.ndarray, sr: int, *, subtype: str = "PCM_16") -> None:
    """Write [n] or [n, channels] float audio in [-1, 1] as a wav (or, by extension, flac) file, atomically."""
    import soundfile as sf

    fmt = output_format(path, SOUND_FORMATS, "sound")
    a = np.clip(np.nan_to_num(np.asarray(audio, dtype=np.float32)), -1.0, 1.0)
    with atomic_output(path) as tmp:
        sf.write(str(tmp), a, sr, subtype=subtype, format=fmt)
