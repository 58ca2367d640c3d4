"""What users of a detection model get: the onsets of the sound ``vis predict`` makes for held-out videos.

For every test video of DATA, the model predicts sound features from the frames alone; both synthesis
methods make a waveform (as ``vis predict`` does); the recording's onset detector finds the onsets in it;
they are matched one to one within 0.1 s to the onsets of the real sound::

    python benchmarks/predicted_onsets.py DATA --model RUN [--cache DIR] [--videos N]

Prints per video and pooled precision / recall (the demo's report gives the same for its own videos).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vis.audio.onsets import onsets_from_audio
from vis.config import SOUND_METHODS
from vis.data.cache import default_cache_dir, load, prepare
from vis.data.dataset import Dataset
from vis.eval.metrics import precision_recall
from vis.model.checkpoint import load_model
from vis.sound.exemplars import ExemplarBank
from vis.sound.longform import Colouring
from vis.sound.peaks import peak_params
from vis.sound.predict import OUT_SR, cached_frames_at, frame_looks, synthesize
from vis.sound.windowed import predict_cached


def main(data: str, model: str, *, cache: str | None = None, videos: int | None = None) -> dict:
    ds = Dataset.open(data)
    cache_dir = Path(cache) if cache else default_cache_dir(ds.root)
    loaded = load_model(model)
    net, pca, ck = loaded.net, loaded.pca, loaded.checkpoint
    bank = ExemplarBank.load(Path(model) / "bank.npz")
    colour = Colouring.from_dict(ck["colouring"]) if "colouring" in ck else None
    picking = peak_params(ck)
    ids = ds.split("test")[:videos]
    size = tuple(net.cfg.image_size)
    prepare(ds, cache_dir, size=size, ids=ids, motion=True, progress=False)
    pooled = {m: {"tp": 0, "pred": 0, "true": 0} for m in SOUND_METHODS}
    for vid in ids:
        vf = load(cache_dir, vid, size)
        pred = predict_cached(net, pca, vf)
        line = [vid]
        for method in SOUND_METHODS:
            wave, _ = synthesize(pred, method=method, bank=bank, colour=colour, **picking,
                                 looks=frame_looks(cached_frames_at(vf)))
            found, _ = onsets_from_audio(wave, OUT_SR)
            pr = precision_recall(found, vf.onsets)
            for key in pooled[method]:
                pooled[method][key] += pr[key]
            line.append(f"{method}: {pr['pred']} onsets, P {pr['precision']:.2f} R {pr['recall']:.2f}")
        print(f"{len(vf.onsets):3d} real onsets  " + "  ".join(line), flush=True)
    for method, c in pooled.items():
        c["precision"] = c["tp"] / c["pred"] if c["pred"] else float("nan")
        c["recall"] = c["tp"] / c["true"] if c["true"] else float("nan")
        print(f"{method:10s} pooled: P {c['precision']:.3f} R {c['recall']:.3f} ({c['pred']} onsets, {c['true']} real)")
    return pooled


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", help="dataset folder (its test split is used)")
    p.add_argument("--model", required=True, help="run folder (model.pt, bank.npz)")
    p.add_argument("--cache", help="feature cache (default: the dataset's default cache)")
    p.add_argument("--videos", type=int, help="only the first N test videos")
    a = p.parse_args()
    main(a.data, a.model, cache=a.cache, videos=a.videos)
