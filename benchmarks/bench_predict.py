"""Benchmark of ``vis predict``: real-time factor on a 35 s 456x256 video with the CPU default model.

The model is the CPU default configuration (small CNN + 2-layer LSTM) with its exemplar bank, trained
for a few steps on a small synthetic set: speed does not depend on how well it is trained. The
reference is the video's own duration (real time), so the figure is seconds of video per second of
computing, for each synthesis method.

    python benchmarks/bench_predict.py [--seconds 35]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main(seconds: float = 35.0) -> dict:
    from vis.config import load_config
    from vis.data.dataset import Dataset
    from vis.pipeline import run
    from vis.sound.predict import predict_video
    from vis.synth import generate

    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        tmp = Path(tmp)
        generate(tmp / "train", videos=6, seconds=6, seed=0, progress=False)
        cfg = load_config(None, epochs=1, batch_size=8)
        run(Dataset.open(tmp / "train"), tmp / "run", cfg, cache=tmp / "cache", progress=False)
        generate(tmp / "long", videos=1, seconds=seconds, seed=1, progress=False)
        video = next((tmp / "long").glob("*_denoised.mp4"))
        out = {"seconds": seconds, "size": "456x256"}
        for method in ("example", "parametric"):
            t = time.perf_counter()
            predict_video(video, tmp / "run", tmp / f"out-{method}.mp4", method=method, progress=False)
            elapsed = time.perf_counter() - t
            out[f"{method}_s"] = round(elapsed, 2)
            out[f"{method}_realtime_factor"] = round(seconds / elapsed, 2)
        return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=35.0)
    print(json.dumps(main(p.parse_args().seconds), indent=2))
