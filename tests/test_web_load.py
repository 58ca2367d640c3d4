"""benchmarks/study_load.py as a test: 100 participants answering 40 trials each at once, with double
submits, retries and changed answers, against `vis serve` on loopback; nothing lost or stored twice."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "study_load.py"
BOUND_S = 45.0  # the participants' part must finish within this (the whole test stays under 60 s)


@pytest.fixture(scope="module")
def load():
    spec = importlib.util.spec_from_file_location("study_load", PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow(18)
@pytest.mark.load
def test_100_participants_lose_and_duplicate_nothing(load):
    r = load.run(participants=100, answers=40, seed=1, timeout=BOUND_S)
    assert r["rows"] == r["unique_pairs"] == r["expected"] == 4000
    assert r["lost"] == r["duplicated"] == r["changed"] == 0
    assert r["doubles"] > 0 and r["retries"] > 0 and r["changes"] > 0 and r["disagreements"] == 0
    assert r["ok"], r
    print(f"p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, {r['requests_per_s']} answers/s")
