"""How much of an impact's sound the look of its frame predicts on videos never seen (docs/real-footage.md).

    python benchmarks/look_probe.py .cache/model/cache --splits .cache/model/splits [--model vis/models/default]

The centred windows of the train and val videos of ``--splits`` (never the test videos), read from a cache
that ``make model`` wrote; the frozen ImageNet features of each window's centre frame
(:func:`vis.sound.exemplars.centre_frame_features`). Each video's impacts are predicted from the other videos'
(and, for contrast, with the impacts split at random into 4 folds, so every video is on both sides):

- the mean sound of the 100 most alike training impacts (softmax over cosine similarity at 1.0 and at 0.05,
  the visual memory's temperature): sq err against the average impact shape, loudness r, centroid r;
- ridge regression (alpha 1) from the features to the loudness and to the centroid.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

import numpy as np
from sklearn.linear_model import Ridge

from vis.data.cache import load
from vis.data.windows import centred_windows
from vis.eval.metrics import centroid, loudness, sq_err
from vis.model.checkpoint import default_run
from vis.sound.exemplars import centre_frame_features

NEIGHBOURS = 100


def look_alike_mean(x: np.ndarray, y: np.ndarray, groups: np.ndarray, *, temperature: float) -> np.ndarray:
    """Each group's windows predicted as the softmax-weighted mean sound of the NEIGHBOURS most alike others."""
    pred = np.zeros_like(y)
    for g in np.unique(groups):
        te, tr = groups == g, groups != g
        sim = x[te] @ x[tr].T
        k = min(NEIGHBOURS, int(tr.sum()))
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        s = np.take_along_axis(sim, top, 1)
        w = np.exp((s - s.max(1, keepdims=True)) / temperature)
        pred[te] = np.einsum("qk,qkrb->qrb", w / w.sum(1, keepdims=True), y[tr][top])
    return pred


def ridge(x: np.ndarray, target: np.ndarray, groups: np.ndarray) -> float:
    pred = np.zeros_like(target)
    for g in np.unique(groups):
        te = groups == g
        pred[te] = Ridge(alpha=1.0).fit(x[~te], target[~te]).predict(x[te])
    return float(np.corrcoef(pred, target)[0, 1])


def main(cache: str, splits: str, model: str | None) -> None:
    ids = sorted((Path(splits) / "train.txt").read_text().split() + (Path(splits) / "val.txt").read_text().split())
    run = Path(model) if model else default_run()
    size = tuple(tomllib.loads((run / "config.toml").read_text())["model"]["image_size"])
    windows = centred_windows([load(cache, v, size) for v in ids])
    x = centre_frame_features(windows)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y, video = windows.targets, windows.index[:, 0]
    print(f"{len(y)} impacts of {len(ids)} videos")
    for name, groups in (("each video from the others", video),
                         ("impacts split at random", np.random.default_rng(0).integers(0, 4, len(y)))):
        shape = np.zeros_like(y)  # the no-video baseline: the average impact shape of the other groups
        for g in np.unique(groups):
            shape[groups == g] = y[groups != g].mean(0)
        base = sq_err(shape, y)
        for temperature in (1.0, 0.05):
            pred = look_alike_mean(x, y, groups, temperature=temperature)
            r = [float(np.corrcoef(f(pred), f(y))[0, 1]) for f in (loudness, centroid)]
            print(f"{name}: look-alikes (T {temperature}) sq err {sq_err(pred, y):.3f} (average shape {base:.3f}), "
                  f"loudness r {r[0]:.2f}, centroid r {r[1]:.2f}")
        print(f"{name}: ridge loudness r {ridge(x, loudness(y), groups):.2f}, "
              f"centroid r {ridge(x, centroid(y), groups):.2f}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("cache")
    p.add_argument("--splits", required=True, help="a folder with train.txt / val.txt (their videos are probed)")
    p.add_argument("--model", help="a run whose image size the cache holds (default: the shipped model)")
    a = p.parse_args()
    main(a.cache, a.splits, a.model)
