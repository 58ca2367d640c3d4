"""``make bench``: run every benchmark, print the results, and write them into docs/results.md.

Each benchmark measures against a reference run side by side in the same process (the oracle
cochleagram, brute-force exemplar search, real time). Results go to ``benchmarks/results.json`` and
replace the block between ``<!-- bench:start -->`` and ``<!-- bench:end -->`` in docs/results.md.

    python benchmarks/run.py [--only cochleagram,exemplars,synth,predict]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_cochleagram  # noqa: E402
import bench_exemplars  # noqa: E402
import bench_predict  # noqa: E402
import bench_synth  # noqa: E402

BENCHES = {
    "cochleagram": lambda: bench_cochleagram.main(),
    "exemplars": lambda: bench_exemplars.main(),
    "synth": lambda: bench_synth.main(),
    "predict": lambda: bench_predict.main(),
}


def _table(results: dict) -> str:
    c, e, s, p = (results.get(k, {}) for k in ("cochleagram", "exemplars", "synth", "predict"))
    rows = ["| what | measured | reference | ratio |", "| --- | --- | --- | --- |"]
    if c:
        rows.append(f"| cochleagram of {c['audio_seconds']:.0f} s of 96 kHz audio | {c['fast_s']:.2f} s (real-time "
                    f"factor {c['real_time_factor']:.4f}; max / mean abs diff {c['max_abs_diff']:.1e} / "
                    f"{c['mean_abs_diff']:.1e}) | oracle {c['oracle_s']:.1f} s | {c['speed_ratio']:.0f}x faster |")
    if e:
        rows.append(f"| exemplar query, {e['exemplars']:,} impacts | {e['query_ms']:.2f} ms "
                    f"({e['batched_query_ms']:.2f} ms batched), same answer {100 * e['agreement']:.0f}% | "
                    f"brute force {e['brute_force_ms']:.0f} ms | {e['speedup']:.0f}x faster |")
    if s:
        rows.append(f"| `vis synth`, {s['videos']} videos of {s['seconds_each']:.0f} s | "
                    f"{s['video_seconds_per_cpu_second']:.2f} s of video per CPU second | real time | "
                    f"{s['video_seconds_per_cpu_second']:.2f}x |")
    if p:
        rows.append(f"| `vis predict`, {p['seconds']:.0f} s {p['size']} video, CPU default model | example "
                    f"{p['example_s']:.1f} s, parametric {p['parametric_s']:.1f} s | real time {p['seconds']:.0f} s | "
                    f"{p['example_realtime_factor']:.2f}x / {p['parametric_realtime_factor']:.2f}x real time |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated benchmarks (default: all)")
    names = ap.parse_args().only.split(",") if ap.parse_args().only else list(BENCHES)
    path = HERE / "results.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    for name in names:
        t = time.time()
        print(f"== {name}", flush=True)
        results[name] = BENCHES[name]()
        print(json.dumps(results[name], indent=2), f"({time.time() - t:.0f} s)", flush=True)
    cores = __import__("os").cpu_count()
    results["machine"] = f"{platform.machine()}, {cores} cores, Python {platform.python_version()}"
    path.write_text(json.dumps(results, indent=2) + "\n")
    doc = HERE.parent / "docs" / "results.md"
    text = doc.read_text()
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    if start in text and end in text:
        block = f"{start}\n{_table(results)}\n\nMachine: {results['machine']}. Command: `make bench`.\n{end}"
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
        doc.write_text(text)
    print(_table(results))


if __name__ == "__main__":
    main()
