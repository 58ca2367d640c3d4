"""Scale rehearsal: the real dataset's shape at small cost, stage by stage, and what it says about the real one.

One synthetic video per real Greatest Hits schedule (977 videos, ``--seconds`` each, at a reduced frame
size), then ``vis prepare`` (raw and jpeg frame stores), one epoch of ``vis train`` with 2 loader workers,
and the loader alone over the same windows. Each stage is a subprocess run under ``/usr/bin/time -v``:
wall time, peak RSS (the largest process), disk written.

    python benchmarks/rehearsal.py /tmp/rehearsal --seconds 3 [--videos 977]

Prints a Markdown table and the extrapolation to the real dataset (9.6 h, ~1.04 M frames at 29.97 fps),
and writes ``rehearsal.json`` in the folder. Extrapolations scale the measured per-second-of-video costs
linearly; they are estimates, labelled as such.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REAL_HOURS = 9.6  # the real dataset: 977 videos, ~9.6 h (paper Sec. 3)
FPS = 30000 / 1001


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def _stage(name: str, cmd: list[str], out: Path, *, log: Path) -> dict:
    """Run ``cmd`` under /usr/bin/time -v; wall seconds, peak RSS (MB), bytes written to ``out``."""
    before = _du(out)
    t = time.perf_counter()
    with open(log, "w") as err:
        proc = subprocess.run(["/usr/bin/time", "-v", *cmd], stdout=subprocess.PIPE, stderr=err, text=True)
    wall = time.perf_counter() - t
    text = log.read_text()
    if proc.returncode != 0:
        sys.exit(f"{name} failed ({proc.returncode}); see {log}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)) / 1024
    return {"stage": name, "seconds": wall, "peak_rss_mb": rss, "disk_bytes": _du(out) - before,
            "stdout": proc.stdout.strip().splitlines()[-1:] or [""]}


def loader_throughput(data: Path, cache: Path, *, size: tuple[int, int], workers: int, steps: int = 60,
                      batch_size: int = 16) -> float:
    """Windows per second from the training loader alone (frames of centred windows, as a network learning
    from pixels reads them), ``workers`` processes."""
    from vis.data.cache import load
    from vis.data.dataset import Dataset
    from vis.data.windows import StepBatches, centred_windows, step_loader

    ds = Dataset.open(data)
    w = centred_windows([load(cache, v, size) for v in ds.split("train")])
    batches = StepBatches(w, batch_size=batch_size, seed=0, kind="frames")
    it = iter(step_loader(batches, range(steps), workers=workers))
    next(it)  # workers started
    t = time.perf_counter()
    n = sum(len(b["rows"]) for b in it)
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--videos", type=int, default=977)
    ap.add_argument("--size", default="128x72", help="synthetic frame size (the default model size)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    vis = [sys.executable, "-m", "vis"]
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    data, raw, jpeg, run = out / "data", out / "cache-raw", out / "cache-jpeg", out / "run"
    w = str(args.workers)
    stages = []
    if not (data / "test.txt").is_file():
        stages.append(_stage("synth", [*vis, "synth", str(data), "--real-schedules", "--videos", str(args.videos),
                                       "--seconds", str(args.seconds), "--size", args.size, "--workers", w],
                             data, log=out / "synth.log"))
    stages.append(_stage("prepare (raw frames)", [*vis, "prepare", str(data), "--cache", str(raw), "--workers", w],
                         raw, log=out / "prepare-raw.log"))
    stages.append(_stage("prepare (jpeg frames)", [*vis, "prepare", str(data), "--cache", str(jpeg), "--workers", w,
                                                    "--frame-store", "jpeg"], jpeg, log=out / "prepare-jpeg.log"))
    shutil.rmtree(run, ignore_errors=True)
    stages.append(_stage("train, 1 epoch", [*vis, "train", str(data), "--out", str(run), "--cache", str(raw),
                                            "--epochs", "1", "--loader-workers", w], run, log=out / "train.log"))
    summary = json.loads((run / "summary.json").read_text())
    size = tuple(int(x) for x in args.size.split("x"))
    loader = {f"{store}, {k} workers": loader_throughput(data, cache, size=size, workers=k)
              for store, cache in (("raw", raw), ("jpeg", jpeg)) for k in (0, args.workers)}
    hours = args.videos * args.seconds / 3600
    scale = REAL_HOURS / hours
    result = {"videos": args.videos, "seconds_each": args.seconds, "hours": hours, "size": args.size,
              "stages": stages, "train_summary": {k: summary.get(k) for k in (
                  "train_windows", "steps", "loader_wait_seconds", "step_seconds", "step_windows_per_second")},
              "loader_windows_per_second": loader,
              # a run folder's size does not grow with the data (weights, logs): only the data stages' disk scales
              "extrapolated_to_real": {s["stage"]: {"hours": s["seconds"] * scale / 3600,
                                                    "disk_gb": s["disk_bytes"] / 1e9 * (1 if s["stage"].startswith(
                                                        "train") else scale)} for s in stages}}
    (out / "rehearsal.json").write_text(json.dumps(result, indent=2))
    print(f"\n{args.videos} videos x {args.seconds:g} s = {hours:.2f} h of video at {args.size}\n")
    print(f"| stage | wall | peak RSS | disk | extrapolated to the real 9.6 h (x{scale:.0f}) |")
    print("| --- | --- | --- | --- | --- |")
    for s in stages:
        e = result["extrapolated_to_real"][s["stage"]]
        print(f"| {s['stage']} | {s['seconds']:.0f} s | {s['peak_rss_mb']:.0f} MB | {s['disk_bytes'] / 1e6:.0f} MB "
              f"| ~{e['hours']:.1f} h, ~{e['disk_gb']:.1f} GB |")
    t = result["train_summary"]
    print(f"\ntraining step: {t['step_windows_per_second']:.0f} windows/s over {t['steps']} steps "
          f"({t['train_windows']} windows; waited {t['loader_wait_seconds']:.1f} s for the loader, "
          f"stepped {t['step_seconds']:.1f} s)")
    for k, v in loader.items():
        print(f"loader alone, centred frame windows, {k}: {v:.0f} windows/s")
    print(f"\nwritten: {out / 'rehearsal.json'}")


if __name__ == "__main__":
    main()
