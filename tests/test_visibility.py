"""benchmarks/visibility.py: the pure helpers on hand-made inputs, and one tiny end-to-end run."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "visibility.py"


@pytest.fixture(scope="module")
def vis_mod():
    spec = importlib.util.spec_from_file_location("visibility_bench", PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_step_and_contact_speeds(vis_mod):
    track = np.array([[0, 0], [3, 4], [3, 4], [9, 12], [9, 12 + 20], [9, 32]], float)
    steps = vis_mod.step_speeds(track)
    assert np.isnan(steps[0])
    np.testing.assert_allclose(steps[1:], [5, 0, 10, 20, 0])
    speed, approach = vis_mod.contact_speeds(steps, 5)  # steps into frames 1..4 before contact frame 5
    assert speed == 20 and approach == 20
    speed, approach = vis_mod.contact_speeds(steps, 4)
    assert speed == 10 and approach == 10


def test_sound_windows_centre_on_nearest_row(vis_mod):
    times = np.arange(100) / 90.0
    env = np.repeat(np.arange(100, dtype=np.float32)[:, None], 42, axis=1)
    win = vis_mod.sound_windows(env, times, np.array([50.4 / 90, 50.6 / 90, 0.0]))
    assert win.shape == (3, 45, 42)
    assert win[0, 22, 0] == 50 and win[1, 22, 0] == 51
    assert win[2, 0, 0] == 0 and win[2, 22, 0] == 0 and win[2, 23, 0] == 1  # edge rows repeat


def test_residual_split_adds_up(vis_mod):
    rng = np.random.default_rng(0)
    video = np.repeat(np.arange(6), 20)
    region = np.tile(np.repeat([0, 1], 10), 6)
    resid = rng.normal(0, 1, 6)[video] + rng.normal(0, 0.3, 120)
    out = vis_mod.residual_split(resid - resid.mean(), resid, video=video, region=region)
    assert out["per_video"] + out["per_region"] + out["per_hit"] == pytest.approx(1.0)
    assert out["per_video"] > out["per_hit"]


def test_tiny_run(vis_mod, tmp_path):
    out = tmp_path / "v.json"
    res = vis_mod.main(["--videos", "3", "--seconds", "3", "--folds", "3", "--quiet", "--json", str(out)])
    saved = json.loads(out.read_text())
    assert saved["contacts"] == res["contacts"] > 0
    assert set(saved["regression"]) == {"log_loudness", "centroid"}
    assert 0.0 <= saved["material"]["sound"] <= 1.0
    assert saved["speed"]["near_contact"]["median"] > 0
