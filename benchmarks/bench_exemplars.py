"""Benchmark of the exemplar search: 50,000 impacts, the default search against brute-force L1.

``main()`` returns the milliseconds per query of both (single queries, and batched), their ratio, and
how often the default search returns the brute-force nearest neighbour. The bank is made of synthetic
impact windows (decaying impacts with random spectra, loudness, decay and onset jitter); the queries
are bank windows plus noise, like predictions near a real impact.

    python benchmarks/bench_exemplars.py [--exemplars 50000] [--queries 50]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def impact_windows(m: int, *, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(45)[None, :, None]
    onset = rng.integers(19, 25, (m, 1, 1))
    env = (np.where(t >= onset, np.exp(-(t - onset) / rng.uniform(2, 15, (m, 1, 1))), 0)
           * rng.random((m, 1, 1)) * rng.random((m, 1, 42)) ** 2 + 0.02 * rng.random((m, 45, 42)))
    return env.astype(np.float32)


def main(exemplars: int = 50_000, queries: int = 50, seed: int = 0) -> dict:
    from vis.sound.exemplars import ExemplarBank, brute_force_search

    feats = impact_windows(exemplars, seed=seed)
    bank = ExemplarBank(feats, np.zeros((exemplars, 1), np.int16), 48_000, 0, np.array([""] * exemplars))
    rng = np.random.default_rng(seed + 1)
    q = feats[rng.integers(0, exemplars, queries)] + 0.05 * rng.standard_normal((queries, 45, 42)).astype(np.float32)
    t = time.perf_counter()
    bank.search(q[0])  # fits the projection once (saved work for every later query)
    setup = time.perf_counter() - t
    t = time.perf_counter()
    fast = [bank.search(x) for x in q]
    fast_ms = (time.perf_counter() - t) / queries * 1000
    t = time.perf_counter()
    bank.search(q)
    batch_ms = (time.perf_counter() - t) / queries * 1000
    t = time.perf_counter()
    slow = [brute_force_search(bank, x) for x in q]
    slow_ms = (time.perf_counter() - t) / queries * 1000
    agree = float(np.mean([a[0] == b[0] for a, b in zip(fast, slow)]))
    return {"exemplars": exemplars, "query_ms": round(fast_ms, 3), "batched_query_ms": round(batch_ms, 3),
            "brute_force_ms": round(slow_ms, 2), "speedup": round(slow_ms / fast_ms, 1), "agreement": agree,
            "setup_s": round(setup, 2)}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--exemplars", type=int, default=50_000)
    p.add_argument("--queries", type=int, default=50)
    a = p.parse_args()
    print(json.dumps(main(a.exemplars, a.queries), indent=2))
