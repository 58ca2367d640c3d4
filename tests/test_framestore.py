"""The frame store: raw frames round-trip exactly, JPEG frames closely, and both index like a numpy array."""

import numpy as np
import pytest

from vis.data.cache import load, prepare
from vis.data.dataset import Dataset
from vis.data.framestore import JpegFrames, frames_path, open_frames, write_frames
from vis.errors import VisError


def _frames(n=7, h=24, w=32, seed=0):
    """Smooth frames with a moving edge, like video (noise would be JPEG's worst case)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:h, :w]
    out = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        base = 100 + 60 * np.sin(x / 5 + i / 3) + 40 * np.cos(y / 4)
        base[:, : 4 + 3 * i] = 30
        out[i] = np.clip(base[..., None] + rng.normal(0, 2, (h, w, 3)), 0, 255)
    return out


def test_raw_store_round_trips_exactly(tmp_path):
    f = _frames()
    path = frames_path(tmp_path, "v", (32, 24), "raw")
    write_frames(f, path, "raw")
    np.testing.assert_array_equal(np.asarray(open_frames(path)), f)


def test_jpeg_store_is_close_and_indexes_like_numpy(tmp_path):
    f = _frames()
    path = frames_path(tmp_path, "v", (32, 24), "jpeg")
    write_frames(f, path, "jpeg")
    j = open_frames(path)
    assert isinstance(j, JpegFrames) and len(j) == len(f) and j.shape == f.shape
    assert np.abs(np.asarray(j).astype(int) - f).mean() < 3.0  # grey levels of 255
    assert path.stat().st_size < f.nbytes / 2
    whole = np.asarray(j)
    for key in (0, 3, -1, slice(2, 5), slice(None, None, 2), slice(5, 2), np.array([6, 0, 0, 3])):
        np.testing.assert_array_equal(j[key], whole[key])
    with pytest.raises(IndexError):
        j[len(f)]


def test_a_damaged_jpeg_store_is_refused(tmp_path):
    path = frames_path(tmp_path, "v", (32, 24), "jpeg")
    write_frames(_frames(), path, "jpeg")
    with open(path, "ab") as fh:
        fh.write(b"junk")
    with pytest.raises(VisError, match="damaged frame store"):
        JpegFrames(path)


def test_prepare_with_a_jpeg_store_loads_the_same_windows(tiny_data, tmp_path):
    ds = Dataset.open(tiny_data)
    prepare(ds, tmp_path / "raw", size=(32, 24), progress=False)
    prepare(ds, tmp_path / "jpeg", size=(32, 24), store="jpeg", progress=False)
    v = ds.ids[0]
    raw, jpg = load(tmp_path / "raw", v, (32, 24)), load(tmp_path / "jpeg", v, (32, 24))
    assert isinstance(jpg.frames, JpegFrames) and len(jpg.frames) == len(raw.frames)
    assert np.abs(np.asarray(jpg.frames[5:9]).astype(int) - raw.frames[5:9]).mean() < 4.0
    assert jpg.n_frames == raw.n_frames


def test_the_store_asked_for_is_the_one_read_and_a_lost_index_is_rebuilt(tiny_data, tmp_path):
    ds = Dataset.open(tiny_data)
    prepare(ds, tmp_path, size=(32, 24), progress=False)  # raw first
    prepare(ds, tmp_path, size=(32, 24), store="jpeg", progress=False)  # then jpeg beside it
    v = ds.ids[0]
    assert isinstance(load(tmp_path, v, (32, 24), store="jpeg").frames, JpegFrames)
    assert not isinstance(load(tmp_path, v, (32, 24), store="raw").frames, JpegFrames)
    index = frames_path(tmp_path, v, (32, 24), "jpeg").with_name(f"{v}.frames-32x24.jpgs.idx.npy")
    index.unlink()
    with pytest.raises(VisError, match="frames not prepared"):
        load(tmp_path, v, (32, 24), store="jpeg")
    assert prepare(ds, tmp_path, size=(32, 24), store="jpeg", progress=False)["computed"] == 1
    assert len(load(tmp_path, v, (32, 24), store="jpeg").frames) > 0
