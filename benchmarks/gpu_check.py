"""GPU check: does `vis` train and predict on a GPU, and how fast? Under 5 minutes on one GPU.

    python benchmarks/gpu_check.py [--device cuda] [--out gpu_check.json] [--steps 300]
    python benchmarks/gpu_check.py --device cpu --tiny      # the test suite runs this, so it cannot rot

It makes a small synthetic set in a temporary folder (`vis synth`), then

1. trains the centred model (the default recipe) for ``--steps`` steps on the device, with bf16 autocast on
   CUDA, and checks that the training loss falls (mean of the last fifth of the logged losses below that
   of the first fifth);
2. checks that one batch's output on the device matches the CPU's (the trained checkpoint loaded on both,
   fp32, no autocast), within a relative tolerance;
3. measures training frames per second and the real-time factor of ``vis predict`` on a held-out video;
4. trains the paper's recipe (``--preset paper``: AlexNet on 288x160 frames; ``--tiny``: a small CNN) from
   the JPEG frame store for ``--paper-steps`` steps with ``--loader-workers`` loader processes, and reports
   its frames per second and the share of the time the step waited for the loader (the sign that more
   workers are needed);
5. writes everything to ``--out`` (JSON) and prints one line per check. Exit status 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vis.config import load_config
from vis.data.cache import load, prepare
from vis.data.dataset import Dataset
from vis.model.checkpoint import load_model
from vis.model.device import resolve_device
from vis.model.inputs import predict
from vis.pipeline import make_windows, train_and_validation
from vis.sound.predict import predict_video
from vis.synth import generate
from vis.train import train

TOLERANCE = 1e-3  # max |device - cpu| / max |cpu| of one batch's output (fp32; TF32 off)
FULL = {"videos": 16, "seconds": 8.0, "size": (456, 256), "batch_size": 16}
TINY = {"videos": 4, "seconds": 3.0, "size": (64, 36), "batch_size": 4}


def check(device: str = "cuda", *, steps: int = 300, tiny: bool = False, workers: int = 4,
          paper_steps: int = 60, loader_workers: int = 4, out: str | Path | None = "gpu_check.json") -> dict:
    dev = resolve_device(device)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # the CPU comparison below is in fp32
        torch.backends.cudnn.allow_tf32 = False
    size = TINY if tiny else FULL
    result: dict = {"device": str(dev), "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
                    "torch": torch.__version__, "steps": steps, "tiny": tiny}
    t_all = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.time()
        generate(tmp / "data", videos=size["videos"], seconds=size["seconds"], size=size["size"], seed=0,
                 workers=workers, progress=False)
        ds = Dataset.open(tmp / "data")
        overrides = {"batch_size": size["batch_size"], "epochs": 10_000, "log_every": 5, "save_every": 10_000}
        if tiny:
            overrides.update(image_size=[32, 24], feat_dim=16, hidden=8)
        cfg = load_config(None, **overrides)
        train_ids, val_ids = train_and_validation(ds)
        msize = tuple(cfg.model.image_size)
        prepare(ds, tmp / "cache", size=msize, ids=ds.ids, workers=workers, motion=True, progress=False)
        videos = {v: load(tmp / "cache", v, msize) for v in ds.ids}
        tr = make_windows([videos[v] for v in train_ids], cfg)
        va = make_windows([videos[v] for v in val_ids], cfg)
        result["setup_seconds"] = time.time() - t

        # 1. training on the device
        t = time.time()
        s = train(tr, va, cfg, tmp / "run", device=str(dev), progress=False, max_steps=steps)
        train_s = time.time() - t
        losses = [e["train_loss"] for e in map(json.loads, (tmp / "run" / "log.jsonl").read_text().splitlines())
                  if "train_loss" in e]
        fifth = max(1, len(losses) // 5)
        first, last = float(np.mean(losses[:fifth])), float(np.mean(losses[-fifth:]))
        frames = s.steps * cfg.train.batch_size * tr.n_frames
        result.update(train_loss_first=first, train_loss_last=last, loss_falls=last < first,
                      train_seconds=train_s, train_frames_per_s=frames / train_s, train_steps=s.steps)

        # 2. one batch: the device against the CPU, the same checkpoint
        net_dev = load_model(tmp / "run", device=str(dev)).net
        net_cpu = load_model(tmp / "run", device="cpu").net
        rows = np.arange(min(8, len(va) or len(tr)))
        windows = va if len(va) else tr
        for w in (windows,):
            w.fixed = None  # from frames on both devices (the fixed inputs were computed by the training net)
        with torch.no_grad():
            a = predict(net_dev, windows, rows, net_dev.cfg).float().cpu()
            b = predict(net_cpu, windows, rows, net_cpu.cfg)
        rel = float((a - b).abs().max() / b.abs().max().clamp(min=1e-8))
        result.update(max_rel_diff_vs_cpu=rel, matches_cpu=rel <= TOLERANCE)

        # 3. vis predict on a held-out video
        video = ds.video_path(ds.split("test")[0])
        r = predict_video(video, tmp / "run", tmp / "out.mp4", method="parametric", progress=False, device=str(dev))
        result.update(predict_seconds=r["seconds"], predict_duration=r["duration"],
                      predict_realtime_factor=r["realtime_factor"])

        # 4. the paper's recipe, a CNN learning from pixels, its frames read from JPEG by loader workers
        over = {"batch_size": size["batch_size"], "epochs": 10_000, "log_every": 5, "save_every": 10_000,
                "frame_store": "jpeg", "workers": loader_workers}
        if tiny:
            over.update(backbone="small", image_size=[32, 24], feat_dim=16, hidden=8)
        pcfg = load_config(None, preset="paper", **over)
        psize = tuple(pcfg.model.image_size)
        t = time.time()
        prepare(ds, tmp / "cache", size=psize, ids=ds.ids, store="jpeg", workers=workers, progress=False)
        pvideos = {v: load(tmp / "cache", v, psize) for v in ds.ids}
        ptr = make_windows([pvideos[v] for v in train_ids], pcfg)
        pva = make_windows([pvideos[v] for v in val_ids], pcfg)
        result["paper_prepare_seconds"] = time.time() - t
        ps = train(ptr, pva, pcfg, tmp / "paper", device=str(dev), progress=False, max_steps=paper_steps)
        busy = ps.loader_wait_seconds + ps.step_seconds
        result.update(paper_backbone=pcfg.model.backbone, paper_size=list(psize), paper_steps=ps.steps,
                      paper_loader_workers=loader_workers,
                      paper_frames_per_s=ps.steps * pcfg.train.batch_size * (ptr.n_frames + 2) / busy,
                      paper_loader_wait_share=ps.loader_wait_seconds / busy)
    result["seconds"] = time.time() - t_all
    result["ok"] = bool(result["loss_falls"] and result["matches_cpu"])
    if out is not None:
        Path(out).write_text(json.dumps(result, indent=2))
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--tiny", action="store_true", help="a few seconds of tiny data (the CPU test)")
    p.add_argument("--workers", type=int, default=4, help="processes for synthesis and preparation")
    p.add_argument("--paper-steps", type=int, default=60, help="steps of the paper's recipe from JPEG frames")
    p.add_argument("--loader-workers", type=int, default=4, help="DataLoader processes for the paper's recipe")
    p.add_argument("--out", default="gpu_check.json")
    a = p.parse_args()
    r = check(a.device, steps=a.steps, tiny=a.tiny, workers=a.workers, paper_steps=a.paper_steps,
              loader_workers=a.loader_workers, out=a.out)
    print(f"device {r['device']} ({r['device_name']}), torch {r['torch']}")
    falls = "falls" if r["loss_falls"] else "DOES NOT FALL"
    print(f"training: {r['train_steps']} steps in {r['train_seconds']:.1f} s, {r['train_frames_per_s']:.0f} frames/s; "
          f"loss {r['train_loss_first']:.3f} -> {r['train_loss_last']:.3f}: {falls}")
    print(f"one batch vs the CPU: max relative difference {r['max_rel_diff_vs_cpu']:.2e} "
          f"({'within' if r['matches_cpu'] else 'OUTSIDE'} {TOLERANCE:g})")
    print(f"vis predict: {r['predict_duration']:.1f} s of video in {r['predict_seconds']:.1f} s "
          f"({r['predict_realtime_factor']:.1f}x real time)")
    print(f"paper recipe ({r['paper_backbone']} at {r['paper_size'][0]}x{r['paper_size'][1]}, JPEG frames, "
          f"{r['paper_loader_workers']} loader workers): {r['paper_steps']} steps, {r['paper_frames_per_s']:.0f} "
          f"frames/s, {100 * r['paper_loader_wait_share']:.0f} % of the time waiting for the loader")
    print(f"{'ok' if r['ok'] else 'FAILED'} in {r['seconds']:.0f} s; wrote {Path(a.out).resolve()}")
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
