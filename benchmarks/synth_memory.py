"""Peak memory of ``vis synth`` as the number of videos grows: it should stay flat.

Runs ``vis synth`` in a subprocess for each count and samples the resident memory of its whole process tree
(the main process and its workers, from /proc) every 0.1 s::

    python benchmarks/synth_memory.py [--videos 10 1000] [--seconds 2] [--size 128x72] [--workers 2]

Prints, per count, the peak RSS of the tree and of the largest single process, and the wall time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PAGE = 4096


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def measure(videos: int, *, seconds: float, size: str, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "vis", "synth", str(Path(tmp) / "out"), "--videos", str(videos),
               "--seconds", str(seconds), "--size", size, "--workers", str(workers)]
        t0 = time.time()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tree_peak = single_peak = 0
        while proc.poll() is None:
            sizes = [_rss(p) for p in _tree(proc.pid)]
            tree_peak, single_peak = max(tree_peak, sum(sizes)), max(single_peak, max(sizes, default=0))
            time.sleep(0.1)
        if proc.returncode:
            raise SystemExit(f"vis synth failed (exit {proc.returncode}): {' '.join(cmd)}")
        return {"videos": videos, "tree_peak_mb": tree_peak / 1e6, "process_peak_mb": single_peak / 1e6,
                "seconds": time.time() - t0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=int, nargs="+", default=[10, 1000])
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--size", default="128x72")
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    for n in a.videos:
        r = measure(n, seconds=a.seconds, size=a.size, workers=a.workers)
        print(f"{n:6d} videos of {a.seconds:g} s at {a.size}: peak RSS {r['tree_peak_mb']:.0f} MB for the process "
              f"tree ({r['process_peak_mb']:.0f} MB the largest process), {r['seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
