"""The paper's detection comparison (spacetime vs colour-only, Sec. 6.1) where only motion reveals contact.

Writes the bounce data of :mod:`vis.synth.bounce` (12 videos x 8 s, 9 train / 3 test), trains the
detection model (``task = "detection"``: 2 s sequences, 3 LSTM layers, 2-frame lag, Viterbi alignment;
a small CNN on 32x24 frames, 12 epochs) with and without spacetime images, and scores detection AP and
onset accuracy / AP on the held-out videos (:func:`vis.eval.evaluate.detection_metrics`)::

    python benchmarks/detection_bounce.py --out /tmp/bounce [--loss robust|squared] [--epochs 12]

Takes ~3 minutes on a 2-core CPU. Results: ``OUT/result-LOSS.json`` and printed.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path


def main(out: str, *, loss: str = "robust", epochs: int = 12, videos: int = 12, seed: int = 0) -> dict:
    from vis.config import load_config
    from vis.data.cache import load, prepare
    from vis.data.dataset import Dataset
    from vis.eval.methods import detection_metrics
    from vis.model.checkpoint import load_model
    from vis.pipeline import run
    from vis.sound.peaks import peak_params
    from vis.synth.bounce import write_bounce

    base = Path(out)
    data = base / f"data-{videos}-{seed}"
    if not (data / "test.txt").is_file():
        write_bounce(data, videos=videos, seed=seed)
    ds = Dataset.open(data)
    size = (32, 24)
    result = {}
    for name, spacetime in (("full", True), ("no-spacetime", False)):
        cfg = load_config(None, task="detection", loss=loss, epochs=epochs, batch_size=4, image_size=list(size),
                          feat_dim=32, hidden=32, spacetime=spacetime, seed=seed, threads=1)
        run_dir = base / f"run-{loss}-{name}"
        shutil.rmtree(run_dir, ignore_errors=True)
        summary = run(ds, run_dir, cfg, cache=base / "cache", progress=False)
        loaded = load_model(run_dir)
        net, pca, ck = loaded.net, loaded.pca, loaded.checkpoint
        prepare(ds, base / "cache", size=size, ids=ds.split("test"), motion=True, progress=False)
        vids = [load(base / "cache", v, size) for v in ds.split("test")]
        m = detection_metrics(net, pca, vids, {v.vid: ds.events(v.vid) for v in vids},
                              **peak_params(ck))
        result[name] = {**m, "steps": summary.steps, "train_seconds": round(summary.seconds, 1)}
        print(f"{name:13s} AP {m['ap']:.3f}  onset acc {m['onset_acc']:.3f}  onset AP {m['onset_ap']:.3f}  "
              f"({m['predicted_onsets']} predicted / {m['true_onsets']} true onsets, {summary.steps} steps)",
              flush=True)
    (base / f"result-{loss}.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {base / f'result-{loss}.json'}")
    return result


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="folder for the data, runs and result")
    p.add_argument("--loss", default="robust", choices=["robust", "squared"])
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--videos", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    main(a.out, loss=a.loss, epochs=a.epochs, videos=a.videos, seed=a.seed)
