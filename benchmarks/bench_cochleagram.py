"""Benchmark of the cochleagram: the fast implementation against the oracle, on one 35 s 96 kHz signal.

``main()`` (imported by ``benchmarks/run.py``) returns a dict: the speed ratio oracle / fast, the fast
one's real-time factor (seconds of computing per second of audio), their max and mean abs difference,
the peak memory of a 10-minute 96 kHz stereo file in a fresh process, and the parametric round trip
(correlation of the input envelopes with the cochleagram of their inversion) for 1, 3 and 10 iterations.

    python benchmarks/bench_cochleagram.py [--seconds 35] [--memory-minutes 10] [--no-inversion]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
import time

import numpy as np

SR = 96_000

# Peak resident memory of one cochleagram of a long stereo float32 file, in a fresh process. VmHWM, not
# ru_maxrss, which carries the parent's peak over fork + exec.
_MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    from vis.audio.cochleagram import cochleagram
    def peak_mib():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    minutes, sr = float(sys.argv[1]), int(sys.argv[2])
    x = np.empty((int(minutes * 60 * sr), 2), np.float32)
    np.random.default_rng(0).standard_normal(out=x, dtype=np.float32)
    x *= 0.1
    before = peak_mib()
    t = time.perf_counter()
    env, _ = cochleagram(x, sr)
    seconds = time.perf_counter() - t
    print(json.dumps({"input_mib": x.nbytes / 2**20, "peak_before_mib": before, "peak_mib": peak_mib(),
                      "seconds": seconds, "rows": len(env)}))
    """
)


def test_signal(seconds: float, *, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Modal hits (about 1.4 per second) and friction-noise scratches over a faint noise floor."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    x = 1e-3 * rng.standard_normal(n)
    t = np.arange(int(0.4 * sr)) / sr
    for t0 in rng.uniform(0, seconds - 0.4, int(seconds * 1.4)):
        hit = sum(
            np.sin(2 * np.pi * rng.uniform(150, 9000) * t) * np.exp(-t / rng.uniform(0.005, 0.08)) for _ in range(5)
        )
        i = int(t0 * sr)
        x[i : i + len(t)] += rng.uniform(0.02, 0.5) * hit / np.abs(hit).max()
    for t0 in rng.uniform(0, seconds - 1, int(seconds / 5)):
        size = int(rng.uniform(0.3, 1.0) * sr)
        i = int(t0 * sr)
        x[i : i + size] += 0.03 * rng.standard_normal(size) * np.sin(np.pi * np.arange(size) / size) ** 2
    return x


def memory(minutes: float, *, sr: int = SR) -> dict:
    """Peak memory (MiB) of the cochleagram of ``minutes`` of stereo float32 at ``sr``, in a fresh process."""
    if not sys.platform.startswith("linux"):
        return {"skipped": "reads VmHWM from /proc"}
    run = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, str(minutes), str(sr)], capture_output=True, text=True, check=True
    )
    got = json.loads(run.stdout)
    return {
        "minutes": minutes,
        "input_mib": round(got["input_mib"]),
        "peak_mib": round(got["peak_mib"]),
        "extra_mib": round(got["peak_mib"] - got["peak_before_mib"]),
        "seconds": round(got["seconds"], 2),
        "real_time_factor": round(got["seconds"] / (minutes * 60), 4),
    }


def inversion(env: np.ndarray, times: np.ndarray, iterations=(1, 3, 10)) -> dict:
    """Pearson r of ``env`` with the cochleagram of its parametric inversion, per iteration count."""
    from vis.audio.cochleagram import cochleagram
    from vis.audio.synthesis import parametric

    out = {}
    for n_iter in iterations:
        t = time.perf_counter()
        audio = parametric(env, times=times, sr_out=SR, n_iter=n_iter)
        seconds = time.perf_counter() - t
        again, _ = cochleagram(audio, SR)
        rows = min(len(env), len(again))
        r = np.corrcoef(env[:rows].ravel(), again[:rows].ravel())[0, 1]
        out[str(n_iter)] = {"r": round(float(r), 4), "seconds": round(seconds, 2)}
    return out


def main(seconds: float = 35.0, repeats: int = 3, memory_minutes: float = 10.0, with_inversion: bool = True) -> dict:
    """Time oracle and fast cochleagram on the same signal; compare them; optionally memory and inversion."""
    from vis.audio.cochleagram import cochleagram
    from vis.audio.reference import cochleagram_reference

    audio = test_signal(seconds)
    t = time.perf_counter()
    ref, ref_times = cochleagram_reference(audio, SR)
    oracle_s = time.perf_counter() - t
    runs = []
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        env, times = cochleagram(audio, SR)
        runs.append(time.perf_counter() - t)
    fast_s = min(runs)
    diff = np.abs(env.astype(np.float64) - ref)
    result = {
        "name": "cochleagram",
        "audio_seconds": seconds,
        "sr": SR,
        "rows": len(env),
        "oracle_s": round(oracle_s, 3),
        "fast_s": round(fast_s, 4),
        "fast_first_call_s": round(runs[0], 4),
        "speed_ratio": round(oracle_s / fast_s, 1),
        "real_time_factor": round(fast_s / seconds, 5),
        "max_abs_diff": float(f"{diff.max():.3g}"),
        "mean_abs_diff": float(f"{diff.mean():.3g}"),
        "times_max_diff": float(np.abs(times - ref_times).max()),
    }
    if memory_minutes > 0:
        result["memory_stereo_96k"] = memory(memory_minutes)
    if with_inversion:
        result["parametric_round_trip_r"] = inversion(env, times)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=35.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-minutes", type=float, default=10.0, help="0 to skip")
    parser.add_argument("--no-inversion", action="store_true")
    args = parser.parse_args()
    print(json.dumps(main(args.seconds, args.repeats, args.memory_minutes, not args.no_inversion), indent=2))
