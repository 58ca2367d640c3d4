"""Example-based synthesis: the exemplar search against brute force, pasting, and the bank file."""

import numpy as np
import pytest

from vis.errors import VisError
from vis.sound.exemplars import CENTRE_ROW, SPECTRUM_MIX, ExemplarBank, brute_force_search
from vis.sound.longform import paste, visual_spectrum


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
    out = np.zeros(20_000, np.float32)
    clip = np.ones(12_000, np.float32)  # fades: 80 ms (3840 samples) in, 50 ms (2400 samples) out
    paste(out, clip, 1000)
    paste(out, clip, 3000)
    assert out[:1000].max() == 0 and out[10_000:15_000].max() > 0 and out[15_000:].max() == 0
    assert out[7000] == pytest.approx(2.0)  # both clips, past their fade-ins
    assert 0 < out[1000 + 960] < out[1000 + 1920] < 0.6  # rising through the first one's fade-in
    paste(out, clip, -2000)  # starts before the output
    paste(out, clip, 19_000)  # runs past the end
    assert np.isfinite(out).all() and len(out) == 20_000


def test_centre_row_is_the_centre_frames_own_time():
    from vis.data.cache import row_times

    t = row_times(15)
    assert t[CENTRE_ROW] == pytest.approx(7 / (30000 / 1001))


def test_colouring_maps_prediction_statistics_onto_real_ones(monkeypatch):
    from vis.sound.longform import Colouring

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


def remembering_bank(m: int, *, seed: int = 0, groups: int = 4) -> tuple[ExemplarBank, np.ndarray]:
    """An impact bank whose exemplars come in ``groups`` looks (noisy unit vectors around one direction each)."""
    bank = impact_bank(m, seed=seed)
    rng = np.random.default_rng(seed + 1)
    group = rng.integers(0, groups, m)
    centres = np.linalg.qr(rng.standard_normal((64, groups)))[0].T  # orthonormal looks, [groups, 64]
    seen = centres[group] + 0.05 * rng.standard_normal((m, 64))
    seen /= np.linalg.norm(seen, axis=1, keepdims=True)
    return ExemplarBank(bank.features, bank.audio, bank.sr, bank.pre, bank.labels, seen.astype(np.float16)), group


def test_visual_prior_is_the_weighted_mean_of_the_look_alikes():
    bank, group = remembering_bank(400)
    v = bank.visual[7].astype(np.float32)[None]
    one = bank.visual_prior(v, neighbours=1)
    np.testing.assert_array_equal(one[0], bank.features[7])  # itself, the most alike
    # a slow reference: softmax over the k most similar
    sim = bank.visual.astype(np.float32) @ v[0]
    top = np.argsort(-sim)[:30]
    w = np.exp((sim[top] - sim[top].max()) / 0.05)
    ref = (bank.features[top] * (w / w.sum())[:, None, None]).sum(0)
    np.testing.assert_allclose(bank.visual_prior(v, neighbours=30, temperature=0.05)[0], ref, rtol=1e-4, atol=1e-6)
    assert set(group[top]) == {group[7]}  # the look-alikes are of its own kind
    with pytest.raises(VisError, match="no visual memory"):
        impact_bank(10).visual_prior(v)


def test_visual_spectrum_keeps_the_level_and_mixes_the_shape():
    rng = np.random.default_rng(3)
    pred, prior = rng.random((5, 45, 42)), rng.random((5, 45, 42))
    out = visual_spectrum(pred, prior)
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), np.linalg.norm(pred, axis=-1), rtol=1e-5)
    np.testing.assert_allclose(visual_spectrum(pred, prior, mix=1.0), pred, rtol=1e-5)
    shape = visual_spectrum(pred, prior, mix=0.0) / np.linalg.norm(pred, axis=-1, keepdims=True)
    np.testing.assert_allclose(shape, prior / np.linalg.norm(prior, axis=-1, keepdims=True), rtol=1e-4, atol=1e-6)
    bank, _ = remembering_bank(50)
    np.testing.assert_array_equal(bank.with_lookalikes(pred[:2], None), pred[:2])  # nothing seen: as it is
    looks = bank.visual[:2].astype(np.float32)
    prior2 = bank.visual_prior(looks)
    for mix in (0.0, 0.3, 1.0):  # the bank's own share, fitted by vis train, is the one used
        bank.spectrum_mix = mix
        np.testing.assert_allclose(bank.with_lookalikes(pred[:2], looks), visual_spectrum(pred[:2], prior2, mix=mix))
    np.testing.assert_allclose(bank.with_lookalikes(pred[:2], looks), pred[:2], rtol=1e-5)


def test_search_by_sound_and_looks_agrees_with_a_slow_reference():
    bank, group = remembering_bank(3000)
    rng = np.random.default_rng(2)
    picks = rng.integers(0, len(bank), 30)
    queries = (bank.features[picks] + 0.05 * rng.standard_normal((30, 45, 42))).astype(np.float32)
    looks = bank.visual[rng.integers(0, len(bank), 30)].astype(np.float32)  # other impacts' looks
    # weight 0 or no memory: the sound alone decides
    sound_only, _ = bank.search(queries)
    np.testing.assert_array_equal(bank.search(queries, visual=looks, visual_weight=0)[0], sound_only)
    plain = ExemplarBank(bank.features, bank.audio, bank.sr, bank.pre, bank.labels)
    np.testing.assert_array_equal(plain.search(queries, visual=looks)[0], sound_only)
    # the slow reference: every exemplar, each term over its median between random pairs
    flat = bank.features.reshape(len(bank), -1)
    a, b = np.random.default_rng(0).integers(0, len(bank), (2, 2000))
    s_scale = np.median(np.abs(flat[a] - flat[b]).sum(1))
    vis32 = bank.visual.astype(np.float32)
    v_scale = np.median(1 - (vis32[a] * vis32[b]).sum(1))
    for weight in (0.25, 5.0):
        idx, _ = bank.search(queries, visual=looks, visual_weight=weight)
        exact, _ = bank.search(queries, visual=looks, visual_weight=weight, exact=True)
        ref = [np.argmin(np.abs(flat - q.reshape(-1)).sum(1) / s_scale + weight * (1 - vis32 @ v) / v_scale)
               for q, v in zip(queries, looks)]
        assert list(exact) == ref
        assert np.mean(idx == np.array(ref)) >= 0.9
    # a strong weight picks exemplars that look like the query
    idx, _ = bank.search(queries, visual=looks, visual_weight=5.0)
    assert np.mean(group[idx] == group[[int(np.argmax(vis32 @ v)) for v in looks]]) >= 0.9


def test_bank_with_memory_round_trip_and_checks(tmp_path):
    bank, _ = remembering_bank(20)
    bank.save(tmp_path / "bank.npz")
    again = ExemplarBank.load(tmp_path / "bank.npz")
    assert again.has_memory and again.visual.dtype == np.float16
    np.testing.assert_array_equal(again.visual, bank.visual)
    bank.spectrum_mix = 0.8
    bank.save(tmp_path / "bank.npz")
    assert ExemplarBank.load(tmp_path / "bank.npz").spectrum_mix == 0.8
    impact_bank(4).save(tmp_path / "old.npz")
    assert not ExemplarBank.load(tmp_path / "old.npz").has_memory  # banks made before the memory still load
    with np.load(tmp_path / "bank.npz") as z:  # a bank saved before its share was fitted: the old constant
        np.savez(tmp_path / "older.npz", **{k: z[k] for k in z.files if k != "spectrum_mix"})
    assert ExemplarBank.load(tmp_path / "older.npz").spectrum_mix == SPECTRUM_MIX
    with pytest.raises(VisError, match="visual rows"):
        ExemplarBank(bank.features, bank.audio, bank.sr, bank.pre, bank.labels, bank.visual[:3])


def test_cut_tail_fades_out_and_silences_the_rest():
    from vis.sound.exemplars import CUT_FADE_S
    from vis.sound.longform import cut_tail

    clip = np.ones(10_000, np.float32)
    cut_tail(clip, 6000, sr=48_000)
    fade = int(round(CUT_FADE_S * 48_000))
    assert clip[: 6000 - fade].min() == 1 and clip[6000:].max() == 0
    assert np.all(np.diff(clip[6000 - fade : 6000]) < 0)  # a falling ramp, no click
    whole = np.ones(100, np.float32)
    cut_tail(whole, 500)  # past the end: untouched
    assert whole.min() == 1
    early = np.ones(100, np.float32)
    cut_tail(early, -5)  # before the start: all silent
    assert early.max() == 0


def test_a_pasted_exemplar_is_heard_at_its_impact_not_at_what_rang_before_it():
    """An exemplar's pre-roll can hold the ringing of an earlier impact in its recording; pasted, only LEAD_S of
    it is kept, so the onset heard in the sound is the impact's own (within 20 ms), not the pre-roll's."""
    from vis.audio.onsets import onsets_from_audio
    from vis.sound.exemplars import LEAD_S

    sr, pre = 48_000, 4800  # 0.1 s before the impact, as vis train's banks keep
    rng = np.random.default_rng(0)
    t = np.arange(pre + 24_000) / sr
    ring = 0.3 * np.exp(-t / 0.05) * rng.standard_normal(len(t))  # an earlier impact, 0.1 s before
    hit = np.where(t >= pre / sr, np.exp(-(t - pre / sr) / 0.03), 0) * rng.standard_normal(len(t))
    audio = np.round(np.clip(ring + hit, -1, 1) * 32767).astype(np.int16)[None]
    bank = ExemplarBank(np.zeros((1, 45, 42), np.float32), audio, sr, pre, np.array(["wood"]))
    clip = bank.impact_clip(0)
    assert clip[: pre - int(LEAD_S * sr)].max() == 0 and clip[pre:].max() > 0.5
    np.testing.assert_array_equal(clip[pre:], bank.waveform(0)[pre:])  # the impact itself untouched
    for c, heard_at in ((bank.waveform(0), "early"), (clip, "on time")):
        out = np.zeros(sr * 2, np.float32)
        paste(out, c, sr - pre, sr=sr)  # the impact at 1.0 s
        found, _ = onsets_from_audio(out, sr)
        early = 1.0 - found[0]
        if heard_at == "on time":  # at most LEAD_S and one envelope row (1/90 s) before the impact
            assert len(found) == 1 and -0.02 <= early <= LEAD_S + 1 / 90, found
        else:  # the whole exemplar: heard at its pre-roll
            assert early >= 0.05, found


def test_an_exemplar_is_pasted_where_its_impact_is_heard():
    """Cut in LEAD_S before its impact, an exemplar whose recording rang before the impact is heard at the cut;
    pasted at ``heard_at`` instead of its impact sample, the onset heard lands on the impact time (on average over
    where the impact falls against the onset detector's rows), and a clean impact is pasted at its impact."""
    from vis.audio.onsets import onsets_from_audio
    from vis.sound.longform import heard_at

    sr, pre = 48_000, 4800
    rng = np.random.default_rng(1)
    t = np.arange(pre + 24_000) / sr
    ring = 0.3 * np.exp(-t / 0.2) * rng.standard_normal(len(t))  # still ringing when the exemplar cuts in
    hit = np.where(t >= pre / sr, np.exp(-(t - pre / sr) / 0.03), 0) * rng.standard_normal(len(t))
    rang, clean = (np.round(np.clip(x, -1, 1) * 32767).astype(np.int16) for x in (ring + hit, hit))
    bank = ExemplarBank(np.zeros((2, 45, 42), np.float32), np.stack([rang, clean]), sr, pre, np.array(["wood"] * 2))

    def mean_heard_error(i: int, at_sample: int) -> float:
        errors = []
        for impact in 1.0 + np.arange(8) / 90 / 8:  # eight placements across one row of the onset detector
            out = np.zeros(2 * sr, np.float32)
            paste(out, bank.impact_clip(i), int(round(impact * sr)) - at_sample, sr=sr)
            found, _ = onsets_from_audio(out, sr)
            errors.append(found[np.argmin(np.abs(found - impact))] - impact)
        return float(np.mean(errors))

    assert heard_at(bank, 0) < pre - 0.01 * sr  # heard at the cut, well before the impact
    assert mean_heard_error(0, pre) < -0.01
    assert abs(mean_heard_error(0, heard_at(bank, 0))) < 0.004
    assert abs(heard_at(bank, 1) - pre) <= sr / 90 and abs(mean_heard_error(1, heard_at(bank, 1))) < 0.004
    # found once per exemplar and kept with the bank; a bank loaded afresh finds it again, the same
    assert set(bank.heard) == {0, 1}
    fresh = ExemplarBank(bank.features, bank.audio, sr, pre, bank.labels)
    assert fresh.heard == {} and [heard_at(fresh, i) for i in (0, 1)] == [bank.heard[0], bank.heard[1]]
