"""Onset detection (paper Sec. 3) on synthetic hits and scratches, and event matching."""

from __future__ import annotations

import numpy as np
import pytest

from vis.audio.cochleagram import cochleagram
from vis.audio.onsets import amplitude, detect_onsets, onsets_from_audio
from vis.errors import VisError
from vis.eval.onset_scores import match_events, precision_recall_f1, score_by_action

SR = 48_000


def hit(rng: np.random.Generator, level: float) -> np.ndarray:
    """A modal impact: five damped sinusoids (150 Hz - 9 kHz, 5-100 ms decays), peak ``level``."""
    t = np.arange(int(0.5 * SR)) / SR
    x = sum(
        rng.uniform(0.3, 1)
        * np.sin(2 * np.pi * rng.uniform(150, 9000) * t + rng.uniform(0, 6.3))
        * np.exp(-t / rng.uniform(0.005, 0.1))
        for _ in range(5)
    )
    return level * x / np.abs(x).max()


def scratch(rng: np.random.Generator) -> np.ndarray:
    """Friction noise: coloured noise for 0.3-1 s, 100 ms ramps, rough 4-15 Hz modulation, -40..-20 dB."""
    size = int(rng.uniform(0.3, 1.0) * SR)
    k = int(rng.integers(1, 10))
    noise = np.convolve(rng.standard_normal(size), np.ones(k) / k, "same")
    u = np.arange(size) / SR
    ramp = np.minimum(1, np.minimum(u, u[::-1]) / 0.1)
    rough = 1 + rng.uniform(0.2, 0.6) * np.sin(2 * np.pi * rng.uniform(4, 15) * u)
    return 10 ** rng.uniform(-2, -1) * noise * ramp * rough


def scene(seed: int, dur: float = 30.0, n_hits: int = 40, n_scratches: int = 6, floor: float = 1e-3):
    """Hits at known times (>= 0.3 s apart, peaks 0.02-0.5) over a noise floor, plus scratches."""
    rng = np.random.default_rng(seed)
    x = floor * rng.standard_normal(int(dur * SR))
    times: list[float] = []
    while len(times) < n_hits:
        t = rng.uniform(0.2, dur - 0.5)
        if all(abs(t - u) >= 0.3 for u in times):
            times.append(t)
    for t0 in times:
        h = hit(rng, 10 ** rng.uniform(-1.7, -0.3))
        i = int(t0 * SR)
        x[i : i + len(h)] += h[: len(x) - i]
    for _ in range(n_scratches):
        s = scratch(rng)
        i = int(rng.uniform(0, dur - 1.2) * SR)
        x[i : i + len(s)] += s
    return x, np.sort(times)


def score(seeds, **kwargs) -> tuple[float, float, float]:
    counts = np.zeros(3, dtype=int)
    for seed in seeds:
        audio, true_times = scene(seed, **kwargs)
        pred, strengths = onsets_from_audio(audio, SR)
        assert np.all(np.diff(pred) >= 0.25) and len(strengths) == len(pred)
        counts += match_events(pred, true_times, tol=0.1)
    return precision_recall_f1(*counts)


def test_hits_are_found_among_scratches() -> None:
    p, r, f1 = score(range(3))
    print(f"hits among scratches, 1e-3 noise floor: P {p:.3f} R {r:.3f} F1 {f1:.3f}")
    assert f1 >= 0.9


def test_detection_does_not_depend_on_the_gain() -> None:
    quiet = [scene(seed) for seed in range(2)]
    for gain in (0.1, 1.0):
        counts = np.zeros(3, dtype=int)
        for audio, true_times in quiet:
            counts += match_events(onsets_from_audio(gain * audio, SR)[0], true_times)
        p, r, f1 = precision_recall_f1(*counts)
        print(f"gain {gain}: P {p:.3f} R {r:.3f} F1 {f1:.3f}")
        assert f1 >= 0.9


def test_noisier_floor() -> None:
    p, r, f1 = score(range(2), floor=5e-3)  # the quietest hits are only ~12 dB above the noise
    print(f"hits among scratches, 5e-3 noise floor: P {p:.3f} R {r:.3f} F1 {f1:.3f}")
    assert p >= 0.9 and f1 >= 0.75


def test_one_isolated_hit_is_one_onset_at_its_start() -> None:
    rng = np.random.default_rng(1)
    x = 1e-4 * rng.standard_normal(2 * SR)
    h = hit(rng, 0.3)
    x[SR : SR + len(h)] += h
    pred, strengths = onsets_from_audio(x, SR)
    # the row where the rise crosses the threshold: the onset, within about one 11 ms row
    assert len(pred) == 1 and abs(pred[0] - 1.0) <= 0.015
    env, times = cochleagram(x, SR)
    assert strengths[0] == pytest.approx(amplitude(env).max(), abs=1.0)


def test_non_maximum_suppression_keeps_onsets_apart() -> None:
    rng = np.random.default_rng(2)
    for gap, expected in ((0.15, 1), (0.4, 2)):
        x = 1e-4 * rng.standard_normal(2 * SR)
        for t0, level in ((0.5, 0.3), (0.5 + gap, 0.1)):
            h = hit(rng, level)
            x[int(t0 * SR) : int(t0 * SR) + len(h)] += h
        pred, _ = onsets_from_audio(x, SR)
        assert len(pred) == expected
        assert abs(pred[0] - 0.5) < 0.1  # the stronger, earlier hit survives


def test_silence_and_steady_noise_have_no_onsets() -> None:
    assert len(onsets_from_audio(np.zeros(SR), SR)[0]) == 0
    noise = 0.1 * np.random.default_rng(3).standard_normal(5 * SR)
    assert len(onsets_from_audio(noise, SR)[0]) <= 1


def test_bad_input() -> None:
    env = np.zeros((10, 42))
    with pytest.raises(VisError, match="times"):
        detect_onsets(env, np.arange(9) / 90)
    with pytest.raises(VisError, match="increasing"):
        detect_onsets(env, np.zeros(10))
    with pytest.raises(VisError, match="shape"):
        detect_onsets(np.zeros((10, 40)), np.arange(10) / 90)
    with pytest.raises(VisError, match="bandwidth"):
        detect_onsets(env, np.arange(10) / 90, bandwidth=0)


def test_match_events_is_greedy_and_one_to_one() -> None:
    assert match_events([], []) == (0, 0, 0)
    assert match_events([1.0], []) == (0, 1, 0)
    assert match_events([], [1.0]) == (0, 0, 1)
    assert match_events([1.0, 1.05], [1.02]) == (1, 1, 0)  # one annotation matches once
    assert match_events([1.0], [1.0, 1.05]) == (1, 0, 1)
    assert match_events([1.0, 2.0], [1.1, 2.11]) == (1, 1, 1)  # tolerance is inclusive at 0.1
    # closest pairs first: 1.09 takes 1.1, then 1.0 takes 0.95
    assert match_events([1.0, 1.09], [0.95, 1.1]) == (2, 0, 0)
    assert precision_recall_f1(0, 0, 0) == (1.0, 1.0, 1.0)
    assert precision_recall_f1(3, 1, 2) == pytest.approx((0.75, 0.6, 2 * 0.75 * 0.6 / 1.35))


def test_score_by_action_counts_each_action_on_its_own() -> None:
    events = [(1.0, "hit"), (2.0, "scratch"), (3.0, "hit"), (4.0, None)]
    pred = np.array([1.03, 2.05, 3.5, 4.0, 5.0])  # hit found, scratch found, 3.0 missed, None found, 2 extra
    got = score_by_action(pred, events)
    assert got["hit"] == (1, 2, 1)  # the detections of the scratch and the unlabelled event are no false alarms
    assert got["scratch"] == (1, 2, 0)
    assert got["all"] == (3, 2, 1)
    assert score_by_action(np.zeros(0), events)["all"] == (0, 0, 4)
    # one detection between two events counts once
    assert score_by_action(np.array([1.5]), [(1.45, "hit"), (1.55, "hit")])["hit"] == (1, 0, 1)
    with pytest.raises(VisError, match="floor_percentile"):
        detect_onsets(np.zeros((10, 42)), np.arange(10) / 90, floor_percentile=120)


@pytest.mark.slow(18)
def test_vis_synth_hits_are_found(tmp_path, capsys) -> None:
    """The detector on `vis synth` data through `vis onsets DATA --json` (docs/results.md: F1 0.94 on 60 x 20 s)."""
    import json

    from vis.cli import main
    from vis.synth import generate

    generate(tmp_path, videos=8, seconds=10.0, seed=11, size=(64, 48), workers=2, progress=False)
    assert main(["onsets", str(tmp_path), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    hits = res["actions"]["hit"]
    assert res["videos"] == 8 and hits["tp"] + hits["fn"] >= 40
    assert hits["f1"] >= 0.85 and res["actions"]["all"]["precision"] >= 0.9
    assert sum(res["hit_misses"].values()) == hits["fn"]  # misses per material add up
    wav = next(tmp_path.glob("*_denoised.wav"))
    assert main(["onsets", str(wav), "--audio", "mic"]) == 2  # dataset-only options refused on a file


def test_prediction_peaks_finds_smooth_bumps_and_ranks_them_by_prominence() -> None:
    """A regression output: Gaussian bumps a few dB high on a flat floor, no sudden rise anywhere."""
    from vis.audio.onsets import prediction_peaks

    rate = 90.0
    times = np.arange(int(6 * rate)) / rate
    centres, heights = [1.0, 2.0, 2.15, 4.0], [1.0, 0.5, 0.3, 0.2]  # the third is within MIN_GAP of the second
    level = 0.2 + sum(h * np.exp(-0.5 * ((times - c) / 0.05) ** 2) for c, h in zip(centres, heights))
    env = np.repeat(level[:, None], 42, axis=1)
    assert len(detect_onsets(env, times)[0]) == 0  # too smooth for the recording's detector
    found, prom = prediction_peaks(env, times, prominence_db=0.0)
    assert np.allclose(found, [1.0, 2.0, 4.0], atol=1.5 / rate)  # 2.15 s gives way to the stronger 2.0 s
    assert prom[0] > prom[1] > prom[2] > 0
    high, _ = prediction_peaks(env, times, prominence_db=prom[1] - 1e-6)
    assert np.allclose(high, [1.0, 2.0], atol=1.5 / rate)
    assert len(prediction_peaks(np.ones((300, 42)), times[:300])[0]) == 0  # flat: nothing
    with pytest.raises(VisError):
        prediction_peaks(env, times[:-1])
