"""Does the centred model carry over to videos it never saw? Nested 4-fold cross-validation (docs/real-footage.md).

    python benchmarks/centred_cv.py .cache/model/realgh --cache .cache/model/cache --work cv-centred

The train videos of the dataset's split (``make model``'s layout: its 16 train videos; the test videos are never
read), sorted, go into 4 folds (every 4th). For each fold the default recipe's centred model (``vis train``
without the impact detector) is trained on 3/4 of the other videos, its epoch and visual memory's share chosen
on the last 1/4 of them, and scored on the fold's own videos against the average impact shape of its training
impacts: sq err of the network, of the network with its visual memory, and of the latter drawn towards the
average shape (``a * sqrt(pred) + (1 - a) * sqrt(shape)``, squared, for a = 0, 0.1, ..., 1); loudness r and
centroid r; and where the error lies (:func:`where_the_error_lies`). Each fold's run stays in ``--work`` (a run
already there is scored as it is). ~5 min a fold on the slower 2-core CPU, 20 s on the faster.

``--start RUN``: each fold's network starts from RUN's whole network (all its weights but the prior, which
training sets from its own impacts), e.g. a run trained on ``vis synth`` data, instead of from random weights.
``--config RUN.toml``: the recipe with that file's options (as ``vis train --config``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from vis.config import load_config
from vis.data.cache import load
from vis.data.dataset import Dataset
from vis.data.windows import centred_windows
from vis.eval.methods import predict_windows
from vis.eval.metrics import centroid, loudness, sq_err
from vis.model.checkpoint import load_model, no_video_sounds
from vis.pipeline import run
from vis.sound.exemplars import ExemplarBank, centre_frame_features

FOLDS = 4
SHARES = tuple(i / 10 for i in range(11))


def fold_splits(ids: list[str], k: int, folder: Path) -> Path:
    """Fold ``k``'s split folder: test = every FOLDS-th of ``ids`` from ``k``, val = every 4th of the rest."""
    held = ids[k::FOLDS]
    rest = [v for v in ids if v not in held]
    val = rest[FOLDS - 1 :: FOLDS]
    folder.mkdir(parents=True, exist_ok=True)
    for name, part in (("train", [v for v in rest if v not in val]), ("val", val), ("test", held)):
        (folder / f"{name}.txt").write_text("".join(f"{v}\n" for v in part))
    return folder


def score(ds: Dataset, run_dir: Path, cache: Path) -> dict:
    """The fold's held-out figures (see the module docstring)."""
    m = load_model(run_dir)
    bank = ExemplarBank.load(m.run.bank)

    def windows(ids: list[str]):
        return centred_windows([load(cache, v, m.image_size, store=m.frame_store) for v in ids])

    tr, te = windows(ds.split("train")), windows(ds.split("test"))
    shape = no_video_sounds(tr.targets, m.pca)["average-shape"]
    net = predict_windows(m.net, m.pca, te)
    full = bank.with_lookalikes(net, centre_frame_features(te))
    t = te.targets
    out = {"impacts": len(te), "share": bank.spectrum_mix, "shape": sq_err(np.broadcast_to(shape, t.shape), t),
           "network": sq_err(net, t), "full": sq_err(full, t),
           "loudness_r": float(np.corrcoef(loudness(full), loudness(t))[0, 1]),
           "centroid_r": float(np.corrcoef(centroid(full), centroid(t))[0, 1])}
    root_full, root_shape = np.sqrt(np.clip(full, 0, None)), np.sqrt(np.clip(shape, 0, None))
    for a in SHARES:
        out[f"towards_shape_{a:.1f}"] = sq_err((a * root_full + (1 - a) * root_shape) ** 2, t)
    out.update(where_the_error_lies(np.broadcast_to(shape, t.shape), net, t, te.index[:, 0]))
    return out


def where_the_error_lies(shape: np.ndarray, net: np.ndarray, t: np.ndarray, video: np.ndarray) -> dict:
    """sq err of the average ``shape`` with each row's level (L2 norm over the bands) or spectrum (the unit row)
    taken from the truth ``t`` or the network ``net``, all [M, 45, 42]; and of the shape at each held-out video's
    own mean level (``video``: each window's video)."""
    def level(x):
        return np.linalg.norm(x, axis=-1, keepdims=True)

    def unit(x):
        return x / np.maximum(level(x), 1e-8)

    own = np.stack([level(t[video == v]).mean(axis=0) for v in video])  # [M, 45, 1]: the video's mean, row by row
    return {"true level, average spectrum": sq_err(level(t) * unit(shape), t),
            "average level, true spectrum": sq_err(level(shape) * unit(t), t),
            "video's mean level, average spectrum": sq_err(own * unit(shape), t),
            "average level, network's spectrum": sq_err(level(shape) * unit(net), t),
            "network's level, average spectrum": sq_err(level(net) * unit(shape), t)}


def main(data: str, cache: str, work: str, start: str | None = None, config: str | None = None) -> None:
    ids = sorted(Dataset.open(data).split("train"))
    cfg = load_config(config, start=start)  # start: vis.model.checkpoint.init_network
    cfg.train.onsets = False  # the centred model and its bank only
    pooled: dict[str, float] = {}
    n = 0
    for k in range(FOLDS):
        ds = Dataset.open(data, split=fold_splits(ids, k, Path(work) / f"split{k}"))
        run_dir = Path(work) / f"run{k}"
        if not (run_dir / "summary.json").is_file():
            run(ds, run_dir, cfg, cache=cache)
        s = score(ds, run_dir, Path(cache))
        print(f"fold {k}: {s['impacts']} impacts, share {s['share']}: sq err shape {s['shape']:.4f}, network "
              f"{s['network']:.4f}, with memory {s['full']:.4f}; loudness r {s['loudness_r']:.2f}, centroid r "
              f"{s['centroid_r']:.2f}", flush=True)
        for key, v in s.items():
            if key not in ("impacts", "share"):
                pooled[key] = pooled.get(key, 0.0) + v * s["impacts"]
        n += s["impacts"]
    p = {key: v / n for key, v in pooled.items()}
    print(f"pooled over {n} impacts: sq err shape {p['shape']:.4f}, network {p['network']:.4f}, with memory "
          f"{p['full']:.4f}; loudness r {p['loudness_r']:.2f}, centroid r {p['centroid_r']:.2f} (means weighted by "
          "impacts)")
    print("drawn towards the shape: " + ", ".join(f"{a:.1f} {p[f'towards_shape_{a:.1f}']:.4f}" for a in SHARES))
    print("where the error lies: " + ", ".join(f"{key} {p[key]:.4f}" for key in p if "level" in key))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", help="a dataset folder laid out as released (make model's .cache/model/realgh)")
    ap.add_argument("--cache", required=True, help="its feature cache (make model's .cache/model/cache)")
    ap.add_argument("--work", default="cv-centred", help="folder for the fold splits and runs")
    ap.add_argument("--start", help="a run whose whole network starts each fold's (default: random weights)")
    ap.add_argument("--config", help="a run.toml changing the default recipe (as vis train --config)")
    a = ap.parse_args()
    main(a.data, a.cache, a.work, a.start, a.config)
