"""Frame store sizes and speeds per backbone size, raw against jpeg, and their totals for the real dataset.

    python benchmarks/frame_store.py [--videos 8 --seconds 4]

Makes ``--videos`` synthetic videos at the real ``vis-data-256`` frame size (456x256), prepares their
frames at each backbone's default size in both stores, and measures: bytes per frame, the total for the
real dataset's ~1.04 M frames (9.6 h at 29.97 fps; an extrapolation), the JPEG's mean absolute error per
pixel, and frames decoded per second by one process (the rate of one loader worker). Synthetic frames
are textured close-ups like the real ones; real footage (camera noise) may compress less well.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from vis.config import DEFAULT_SIZE
from vis.data.cache import load, prepare
from vis.data.dataset import Dataset
from vis.data.framestore import JPEG_QUALITY
from vis.synth import generate

REAL_FRAMES = 9.6 * 3600 * 30000 / 1001  # ~1.04 M frames in the real dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=4.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        generate(tmp / "data", videos=args.videos, seconds=args.seconds, seed=5, workers=2, progress=False)
        ds = Dataset.open(tmp / "data")
        print(f"{args.videos} synthetic videos x {args.seconds:g} s at 456x256; JPEG quality {JPEG_QUALITY}\n")
        print("| backbone | size | raw B/frame | jpeg B/frame | raw, real dataset | jpeg, real dataset | "
              "jpeg MAE | jpeg decode, 1 process |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for backbone, size in sorted(DEFAULT_SIZE.items(), key=lambda kv: kv[1][0] * kv[1][1]):
            if backbone == "small":
                continue  # the same size as "none"
            per = {}
            for store in ("raw", "jpeg"):
                cache = tmp / f"{store}-{size[0]}x{size[1]}"
                prepare(ds, cache, size=size, store=store, workers=2, progress=False)
                n = sum(len(load(cache, v, size).frames) for v in ds.ids)
                per[store] = sum(p.stat().st_size for p in cache.glob("*.frames-*") if ".json" not in p.name) / n
            raw = [load(tmp / f"raw-{size[0]}x{size[1]}", v, size).frames for v in ds.ids]
            jpg = [load(tmp / f"jpeg-{size[0]}x{size[1]}", v, size).frames for v in ds.ids]
            mae = np.mean([np.abs(np.asarray(j[:30]).astype(np.int16) - r[:30]).mean() for r, j in zip(raw, jpg)])
            t = time.perf_counter()
            decoded = sum(len(j[:200]) for j in jpg)
            fps = decoded / (time.perf_counter() - t)
            print(f"| {backbone} | {size[0]}x{size[1]} | {per['raw']:,.0f} | {per['jpeg']:,.0f} | "
                  f"{per['raw'] * REAL_FRAMES / 1e9:.0f} GB | {per['jpeg'] * REAL_FRAMES / 1e9:.1f} GB | {mae:.2f} | "
                  f"{fps:,.0f} frames/s |")


if __name__ == "__main__":
    main()
