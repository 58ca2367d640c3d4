"""Decoded video frames on an output frame-rate grid (:func:`vis.data.media.iter_frames`): frame ``k`` at
time ``k / fps``, the nearest decoded frame, or from a slower video the two around it blended."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

# A video slower than the output rate by more than this factor (15 or 25 fps read at 29.97) is resampled by
# blending neighbouring frames; a faster one, or one of about the same rate (30 fps), by nearest frame.
BLEND_BELOW = 0.95


def timed(frames: Iterator, time_base, native: float) -> Iterator[tuple[float, object]]:
    """Decoded frames with their times: seconds from the first frame's pts (by count for a frame without one)."""
    first_pts: int | None = None
    for n, frame in enumerate(frames):
        pts = frame.pts if frame.pts is not None else frame.dts
        if pts is None:
            t = n / native
        else:
            first_pts = pts if first_pts is None else first_pts
            t = float((pts - first_pts) * time_base)
        yield t, frame


class FrameGrid:
    """Decoded frames put on the output grid of :func:`iter_frames` (frame ``k`` at time ``k / fps``): the nearest
    decoded frame, or from a slower video the two around it blended. ``done`` once no more output is wanted."""

    def __init__(self, fps: float, native: float, *, start: float, end: float | None, only: set[int] | None,
                 size: tuple[int | None, int | None]) -> None:
        self.fps, self.native, self.end, self.only, self.size = fps, native, end, only, size
        self.blend = native < fps * BLEND_BELOW
        self.k = int(np.ceil(start * fps - 1e-9))  # next output grid index
        self.prev_t: float | None = None  # the last decoded frame, converted lazily
        self.prev_frame = None
        self.prev_img: np.ndarray | None = None
        self.done = False

    def _previous(self) -> np.ndarray:
        if self.prev_img is None:
            self.prev_img = to_rgb(self.prev_frame, *self.size)
        return self.prev_img

    def up_to(self, t: float, frame) -> Iterator[tuple[float, np.ndarray]]:
        """Before taking the decoded ``frame`` at ``t``: every grid time at least as close to the previous frame
        as to this one (blending: every grid time up to this frame's)."""
        img = None  # this frame, converted (when a blend needed it)
        while self.prev_t is not None:
            tk = self.k / self.fps
            if self.end is not None and tk >= self.end - 1e-9:
                self.done = True
                return
            if (tk > t + 1e-9) if self.blend else abs(tk - self.prev_t) > abs(tk - t):
                break
            if self.only is None or self.k in self.only:
                prev_img = self._previous()
                if self.blend and t > self.prev_t and tk > self.prev_t + 1e-9:
                    img = img if img is not None else to_rgb(frame, *self.size)
                    yield tk, mix(prev_img, img, (tk - self.prev_t) / (t - self.prev_t))
                else:
                    yield tk, prev_img
            self.k += 1
        if self.only is not None and self.k > max(self.only, default=-1):
            self.done = True
            return
        self.prev_t, self.prev_frame, self.prev_img = t, frame, img

    def last(self) -> Iterator[tuple[float, np.ndarray]]:
        """After the last decoded frame: it covers grid times up to half a frame past its own time."""
        while self.prev_t is not None:
            tk = self.k / self.fps
            if tk >= self.prev_t + 0.5 / self.native - 1e-9 or (self.end is not None and tk >= self.end - 1e-9):
                break
            if self.only is None or self.k in self.only:
                yield tk, self._previous()
            self.k += 1


def mix(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    """``(1 - w) * a + w * b`` of two uint8 frames, rounded (``w`` in [0, 1])."""
    if w >= 1.0 - 1e-6:
        return b
    return np.round(a.astype(np.float32) * (1.0 - w) + b.astype(np.float32) * w).astype(np.uint8)


def quarter_turns(frame) -> int:
    """Quarter turns counterclockwise (``np.rot90``'s ``k``, 0-3) that show a decoded frame as players do: a phone's
    portrait video is stored sideways, with a display matrix whose rotation (``frame.rotation``, degrees
    counterclockwise; -90 for the usual portrait phone video) players undo."""
    return int(round(float(getattr(frame, "rotation", 0) or 0) / 90.0)) % 4


def to_rgb(frame, w: int | None, h: int | None) -> np.ndarray:
    """A decoded frame as uint8 RGB [h, w, 3] (its stored size when ``w`` is None), upright as players show it."""
    k = quarter_turns(frame)
    if w is not None and h is not None and k % 2:  # sideways: resized to the transposed size, then turned
        w, h = h, w
    if w is None:
        img = frame.to_ndarray(format="rgb24")
    else:
        img = frame.reformat(width=w, height=h, format="rgb24", interpolation="AREA").to_ndarray()
    return np.ascontiguousarray(np.rot90(img, k)) if k else img
