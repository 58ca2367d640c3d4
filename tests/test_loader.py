"""The training loader: step batches that depend only on the step, worker processes that change nothing
but speed, and the batch augmentation against a per-window reference."""

import numpy as np
import torch

from vis.data.cache import load, prepare
from vis.data.dataset import Dataset
from vis.data.windows import StepBatches, centred_windows, step_loader
from vis.model.inputs import augment, draw_augmentation


def _augment_reference(frames: np.ndarray, flips: np.ndarray, offsets: np.ndarray, shift: int) -> np.ndarray:
    """One window at a time: mirror, then pad by ``shift`` with the edge and crop at the offset."""
    out = np.empty_like(frames)
    _, _, h, w, _ = frames.shape
    for i, x in enumerate(frames):
        if flips[i]:
            x = x[:, :, ::-1]
        dx, dy = offsets[i]
        x = np.pad(x, ((0, 0), (shift, shift), (shift, shift), (0, 0)), mode="edge")
        out[i] = x[:, shift + dy : shift + dy + h, shift + dx : shift + dx + w]
    return out


def test_batch_augmentation_matches_the_per_window_reference():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(9, 5, 12, 16, 3), dtype=np.uint8)
    for shift in (0, 1, 6):
        flips, offsets = draw_augmentation(np.random.default_rng([1, shift]), len(frames), shift)
        got = augment(torch.from_numpy(frames), torch.from_numpy(flips), torch.from_numpy(offsets)).numpy()
        np.testing.assert_array_equal(got, _augment_reference(frames, flips, offsets, shift))
        assert np.abs(offsets).max() <= shift


def test_augmentation_keeps_each_window_whole():
    """Every frame of a window gets the same mirroring and shift: a window of identical frames stays so."""
    rng = np.random.default_rng(1)
    one = rng.integers(0, 256, size=(4, 1, 10, 14, 3), dtype=np.uint8)
    frames = np.repeat(one, 6, axis=1)
    flips, offsets = draw_augmentation(rng, 4, 3)
    got = augment(torch.from_numpy(frames), torch.from_numpy(flips), torch.from_numpy(offsets)).numpy()
    assert (got == got[:, :1]).all()


def _batches(tiny_data, tmp_path, **kw):
    ds = Dataset.open(tiny_data)
    prepare(ds, tmp_path, size=(32, 24), progress=False)
    w = centred_windows([load(tmp_path, v, (32, 24)) for v in ds.ids])
    return StepBatches(w, batch_size=4, seed=3, kind="frames", **kw)


def test_workers_and_resuming_give_the_same_batches(tiny_data, tmp_path):
    batches = _batches(tiny_data, tmp_path)
    total = 2 * batches.steps_per_epoch + 1
    plain = list(step_loader(batches, range(total), workers=0))
    with_workers = list(step_loader(batches, range(total), workers=2))
    resumed = list(step_loader(batches, range(5, total), workers=1))
    for a, b in zip(plain, with_workers, strict=True):
        assert torch.equal(a["rows"], b["rows"]) and torch.equal(a["frames"], b["frames"])
    for a, b in zip(plain[5:], resumed, strict=True):
        assert torch.equal(a["frames"], b["frames"]) and torch.equal(a["targets"], b["targets"])
    # each epoch visits distinct windows; the next epoch's order differs
    epoch = np.concatenate([b["rows"].numpy() for b in plain[: batches.steps_per_epoch]])
    assert len(set(epoch)) == len(epoch)
    assert not np.array_equal(plain[0]["rows"], plain[batches.steps_per_epoch]["rows"])


def test_processes_split_the_global_batch(tiny_data, tmp_path):
    one = _batches(tiny_data, tmp_path)
    parts = [_batches(tiny_data, tmp_path, rank=r, world=2)[3] for r in range(2)]
    assert sorted(np.concatenate([p["rows"] for p in parts])) == sorted(one[3]["rows"])
    assert sum(p["share"] for p in parts) == 2.0
