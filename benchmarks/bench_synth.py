"""Benchmark of ``vis synth``: seconds of output video per second of CPU, and (optionally) learnability.

``main()`` (imported by ``benchmarks/run.py``) writes a few 10-second videos at the default size into a
temporary folder and reports speed. CPU time counts this process and its worker processes.

Run by hand for the learnability report of a larger set (class-averaged material accuracy of linear
classifiers on sound and on colour, train split -> test split)::

    python benchmarks/bench_synth.py --learnability --videos 100 --seconds 20 --workers 2
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main(videos: int = 4, seconds: float = 10.0, workers: int = 1, seed: int = 0, learnability: bool = False,
         out: str | None = None, **knobs: float) -> dict:
    """Generate ``videos`` x ``seconds`` and time it; with ``learnability``, also score the materials."""
    from vis.synth import generate

    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        root = out or tmp
        wall, cpu = time.perf_counter(), _cpu()
        summary = generate(root, videos=videos, seconds=seconds, seed=seed, workers=workers, progress=False,
                           **knobs)
        wall, cpu = time.perf_counter() - wall, _cpu() - cpu
        result = {
            "name": "synth",
            "videos": videos,
            "seconds_each": seconds,
            "workers": workers,
            "events": summary["events"],
            "video_seconds": summary["seconds"],
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "video_seconds_per_cpu_second": round(summary["seconds"] / max(cpu, 1e-9), 2),
            "video_seconds_per_wall_second": round(summary["seconds"] / max(wall, 1e-9), 2),
        }
        if learnability:
            from vis.synth.evaluate import material_accuracy

            t = time.perf_counter()
            acc = material_accuracy(root)
            result["material_accuracy"] = {"sound": round(acc["sound"], 4), "colour": round(acc["colour"], 4),
                                           "chance": round(acc["chance"], 4), "classes": len(acc["classes"]),
                                           "train_events": acc["train_events"], "test_events": acc["test_events"],
                                           "eval_s": round(time.perf_counter() - t, 1)}
    return result


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=int, default=4)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--learnability", action="store_true", help="also score material classifiers")
    p.add_argument("--out", help="keep the data in this folder instead of a temporary one")
    p.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE", help="a difficulty knob")
    a = p.parse_args()
    kn = {k: float(v) for k, v in (s.split("=", 1) for s in a.knob)}
    print(json.dumps(main(a.videos, a.seconds, a.workers, a.seed, a.learnability, a.out, **kn), indent=2))
