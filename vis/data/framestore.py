"""The frame store: every frame of a video at the model's size, kept in the feature cache.

Two formats, read the same way (an array-like ``[N, H, W, 3]`` uint8 that takes an index, a slice or an
index array):

- ``raw`` (the default): ``ID.frames-WxH.npy``, exact pixels, memory-mapped. 3 bytes a pixel: 27,648 bytes
  a frame at 128x72, 138,240 at AlexNet's 288x160 (for the real dataset's ~1.04 M frames, ~29 GB and
  ~144 GB).
- ``jpeg``: ``ID.frames-WxH.jpgs``, each frame a JPEG at JPEG_QUALITY, one after another, with the byte
  offset of each in ``ID.frames-WxH.jpgs.idx.npy``; frames are decoded when read, in the loader's worker
  processes. Bytes per frame and decoding speed: ``python benchmarks/frame_store.py`` (README, "Training on
  the real dataset with a GPU").
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from vis.data.io import atomic_output
from vis.errors import VisError

STORES = ("raw", "jpeg")
JPEG_QUALITY = 90  # libjpeg quality; 4:2:0 chroma. Mean absolute error per pixel: see benchmarks/frame_store.py
SUFFIX = {"raw": ".npy", "jpeg": ".jpgs"}


def frames_path(cache: str | os.PathLike, vid: str, size: tuple[int, int], store: str) -> Path:
    """Where the frames of ``vid`` at ``size`` (width, height) live in ``store`` format."""
    if store not in STORES:
        raise VisError(f"unknown frame store {store!r} (one of {', '.join(STORES)})")
    return Path(cache) / f"{vid}.frames-{size[0]}x{size[1]}{SUFFIX[store]}"


def index_path(path: str | os.PathLike) -> Path:
    """The byte offsets of a JPEG store's frames (and its frame count and size)."""
    return Path(f"{path}.idx.npy")


def is_stored(path: str | os.PathLike) -> bool:
    """Whether the store at ``path`` is all there: the frames file and, for JPEG, its index."""
    path = Path(path)
    return path.is_file() and (path.suffix == SUFFIX["raw"] or index_path(path).is_file())


def encode_jpeg(frame: np.ndarray, *, quality: int = JPEG_QUALITY) -> bytes:
    """One uint8 frame [H, W, 3] as JPEG bytes."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(frame)).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def decode_jpeg(data) -> np.ndarray:
    """uint8 [H, W, 3] from JPEG bytes."""
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def write_frames(frames: np.ndarray, path: str | os.PathLike, store: str, *, quality: int = JPEG_QUALITY) -> None:
    """Store ``frames`` [N, H, W, 3] uint8 at ``path`` (from :func:`frames_path`), atomically."""
    path = Path(path)
    if store == "raw":
        with atomic_output(path) as tmp, open(tmp, "wb") as f:
            np.save(f, frames)
        return
    offsets = [0]
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        for frame in frames:
            offsets.append(offsets[-1] + f.write(encode_jpeg(frame, quality=quality)))
    with atomic_output(index_path(path)) as tmp, open(tmp, "wb") as f:
        np.save(f, np.array([len(frames), *frames.shape[1:3], *offsets], np.int64))  # n, H, W, offsets


class JpegFrames:
    """A video's JPEG-stored frames as an array-like ``[N, H, W, 3]`` uint8, decoded on access."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            head = np.load(index_path(self.path))
            n, h, w = (int(x) for x in head[:3])
            self.offsets = head[3:]
            whole = len(self.offsets) == n + 1 and self.offsets[-1] == self.path.stat().st_size
        except (OSError, ValueError, EOFError):
            whole = False
        if not whole:
            raise VisError(f"{self.path}: damaged frame store, delete it to rebuild")
        self.shape = (n, h, w, 3)
        self.dtype = np.dtype(np.uint8)
        self._data: np.memmap | None = None

    def __len__(self) -> int:
        return self.shape[0]

    def _frame(self, i: int) -> np.ndarray:
        if self._data is None:  # opened on first use, so that a copy in a worker process opens its own
            self._data = np.memmap(self.path, np.uint8, "r")
        return decode_jpeg(self._data[self.offsets[i] : self.offsets[i + 1]].tobytes())

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            i = int(key) + (len(self) if key < 0 else 0)
            if not 0 <= i < len(self):
                raise IndexError(f"frame {key} of {len(self)}")
            return self._frame(i)
        idx = np.arange(len(self))[key]  # a slice or an index array (any shape), with numpy's rules
        out = np.zeros((idx.size, *self.shape[1:]), np.uint8)
        for j, i in enumerate(idx.ravel()):
            out[j] = self._frame(int(i))
        return out.reshape(*idx.shape, *self.shape[1:])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_data": None}


def open_frames(path: str | os.PathLike):
    """The frames at ``path``: a memory-mapped array (raw) or :class:`JpegFrames`."""
    path = Path(path)
    return JpegFrames(path) if path.suffix == SUFFIX["jpeg"] else np.load(path, mmap_mode="r")
