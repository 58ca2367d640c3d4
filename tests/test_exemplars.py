"""Example-based synthesis: the exemplar search against brute force, pasting, and the bank file."""

import numpy as np
import pytest

from vis.errors import VisError
from vis.exemplars import CENTRE_ROW, ExemplarBank, brute_force_search, paste


def impact_bank(m: int, *, seed: int = 0) -> ExemplarBank:
    """Decaying impacts with random spectra, loudness, decay and onset jitter: [m, 45, 42]."""
    rng = np.random.default_rng(seed)
    t = np.arange(45)[None, :, None]
    onset = rng.integers(19, 25, (m, 1, 1))
    env = (np.where(t >= onset, np.exp(-(t - onset) / rng.uniform(2, 15, (m, 1, 1))), 0)
           * rng.random((m, 1, 1)) * rng.random((m, 1, 42)) ** 2 + 0.02 * rng.random((m, 45, 42)))
    audio = rng.integers(-1000, 1000, (m, 64)).astype(np.int16)
    return ExemplarBank(env.astype(np.float32), audio, 48_000, 16, np.array(["wood", "metal"] * (m // 2)))


def test_search_agrees_with_brute_force():
    bank = impact_bank(4000)
    rng = np.random.default_rng(1)
    queries = bank.features[rng.integers(0, len(bank), 40)] + 0.05 * rng.standard_normal((40, 45, 42))
    idx, dist = bank.search(queries.astype(np.float32))
    ref = [brute_force_search(bank, q) for q in queries]
    agree = np.mean([i == r[0] for i, r in zip(idx, ref)])
    assert agree >= 0.95
    np.testing.assert_allclose(dist, [r[1] for r in ref], rtol=0.02)
    exact_idx, _ = bank.search(queries.astype(np.float32), exact=True)
    assert list(exact_idx) == [r[0] for r in ref]


def test_search_an_exemplar_finds_itself_and_respects_subset_and_rows():
    bank = impact_bank(1000)
    i, d = bank.search(bank.features[123])
    assert i == 123 and d == 0
    metal = np.flatnonzero(bank.labels == "metal")
    j, _ = bank.search(bank.features[124], subset=metal)
    assert bank.labels[j] == "metal"
    rows = slice(18, 42)
    k, d = bank.search(bank.features[77, rows], rows=rows)
    assert k == 77 and d == 0
    with pytest.raises(VisError, match="empty"):
        bank.search(bank.features[0], subset=np.array([], np.int64))


def test_bank_save_load_round_trip(tmp_path):
    bank = impact_bank(10)
    bank.save(tmp_path / "bank.npz")
    again = ExemplarBank.load(tmp_path / "bank.npz")
    np.testing.assert_array_equal(again.features, bank.features)
    np.testing.assert_array_equal(again.audio, bank.audio)
    assert (again.sr, again.pre, list(again.labels)) == (bank.sr, bank.pre, list(bank.labels))
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(VisError, match="not an exemplar bank"):
        ExemplarBank.load(tmp_path / "junk.npz")


def test_paste_overlap_adds_and_clips_at_the_edges():
    out = np.zeros(10_000, np.float32)
    clip = np.ones(6000, np.float32)  # fades: 2 ms in, 50 ms (2400 samples) out
    paste(out, clip, 1000)
    paste(out, clip, 3000)
    assert out[:1000].max() == 0 and out[5000:].max() > 0
    assert out[3500] == pytest.approx(2.0)  # both clips, past their fade-ins
    paste(out, clip, -2000)  # starts before the output
    paste(out, clip, 9000)  # runs past the end
    assert np.isfinite(out).all() and len(out) == 10_000


def test_centre_row_is_the_centre_frames_own_time():
    from vis.features import row_times

    t = row_times(15)
    assert t[CENTRE_ROW] == pytest.approx(7 / (30000 / 1001))


def test_colouring_maps_prediction_statistics_onto_real_ones(monkeypatch):
    from vis.exemplars import Colouring

    monkeypatch.setattr(Colouring, "SHRINK", 0.0)  # without shrinkage the statistics match exactly
    rng = np.random.default_rng(0)
    mix_p, mix_r = rng.normal(size=(42, 42)) * 0.05, rng.normal(size=(42, 42)) * 0.2
    pred = rng.normal(size=(4000, 42)) @ mix_p + 0.1  # under-predicted amplitude, other correlations
    real = rng.normal(size=(4000, 42)) @ mix_r + 0.5
    c = Colouring.fit(pred, real)
    out = c(pred)
    np.testing.assert_allclose(out.mean(0), real.mean(0), atol=0.02)
    cov_out, cov_real = np.cov(out, rowvar=False), np.cov(real, rowvar=False)
    np.testing.assert_allclose(cov_out, cov_real, atol=1e-4)
    again = Colouring.from_dict(c.to_dict())
    np.testing.assert_allclose(again(pred[:5]), out[:5])
    with pytest.raises(VisError, match="at least two"):
        Colouring.fit(pred[:1], real)
