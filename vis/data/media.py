"""Video files: probing, reading frames, writing video and muxing sound onto it (PyAV).

Time convention and completeness checks: see :mod:`vis.data.io`."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from vis.data.framegrid import FrameGrid, timed, to_rgb
from vis.data.io import (
    AAC_RATES,
    NTSC_FPS,
    VIDEO_FORMATS,
    _declared_s,
    _open,
    _reason,
    atomic_output,
    check_complete,
    output_format,
    stream_start,
)
from vis.errors import VisError


@dataclass(frozen=True)
class MediaInfo:
    """What a media file holds. Durations in seconds; ``fps`` as an exact fraction; ``width`` and ``height`` as
    stored (a portrait phone video: sideways; :func:`iter_frames` turns its frames upright)."""

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
    still: bool = False  # a still image (PNG, JPEG, ...): PyAV opens it as a one-frame "video"


# FFmpeg's demuxers of single images; a file one of them opens is a picture, not a video
IMAGE_DEMUXERS = ("image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe", "gif_pipe", "jpegxl_pipe",
                  "qoi_pipe", "pgm_pipe", "ppm_pipe", "svg_pipe")


def not_a_video(name: str) -> str:
    """The words for a still image given where a video is needed (``vis predict`` and the web demo alike)."""
    return f"{name}: a still image, not a video (give a video file such as .mp4, .mov, .mkv)"


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
            still=v is not None and (c.format.name in IMAGE_DEMUXERS or c.format.name.endswith("_pipe")),
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
        Output frame rate. Output frame ``k`` shows time ``k / fps``. From a video at least as fast (within
        :data:`vis.data.framegrid.BLEND_BELOW`) it is the decoded frame nearest that time; from a slower one (15
        or 25 fps to 29.97) it is the two decoded frames around that time mixed linearly by their distance, so
        that no two output frames repeat one stored frame (which would make a zero frame difference
        followed by a doubled one). None keeps every stored frame with its own time.
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
        grid = None if fps is None else FrameGrid(float(fps), native, start=start, end=end, only=only, size=(w, h))
        n_read, last_t = 0, 0.0
        try:
            for t, frame in timed(c.decode(stream), stream.time_base, native):
                n_read, last_t = n_read + 1, t
                if grid is None:
                    if end is not None and t >= end:
                        return
                    if t >= start:
                        yield t, to_rgb(frame, w, h)
                    continue
                yield from grid.up_to(t, frame)
                if grid.done:
                    return
        except av.error.FFmpegError as e:
            if n_read == 0:
                raise VisError(f"{path}: cannot decode video ({_reason(e)})") from None
            # A truncated file: keep the frames decoded before the damage (check_complete warns below).
        if n_read == 0:
            raise VisError(f"{path}: video stream has no frames")
        check_complete(path, last_t + 1 / native, _declared_s(c, stream))
        if grid is not None:
            yield from grid.last()


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
        if astream is not None and audio is not None and sr is not None:
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


def _encode_audio(out, stream, audio: np.ndarray, sr: int, *, start: float = 0.0) -> None:
    """Encode ``audio`` into ``stream``, its first sample at ``start`` seconds on the file's clock."""
    import av

    a = np.asarray(audio, dtype=np.float32)
    a = a[:, None] if a.ndim == 1 else a
    a = np.clip(np.nan_to_num(a), -1.0, 1.0)
    block = 1024 * 16
    for i in range(0, len(a), block):
        chunk = np.ascontiguousarray(a[i : i + block].T)
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=stream.layout.name)
        frame.sample_rate = sr
        frame.pts = i + int(round(start * sr))
        frame.time_base = Fraction(1, sr)
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)


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
                _encode_audio(out, astream, audio, sr, start=stream_start(vin))  # with the first frame
        except (ValueError, av.error.FFmpegError) as e:
            codec = vin.codec_context.name
            raise VisError(f"{video}: its {codec} video cannot be copied into {Path(out_path).suffix} "
                           f"({_reason(e)}); convert it to H.264 first") from None
