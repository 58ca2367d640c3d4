"""What users get on real footage: ``vis predict`` on held-out real videos, scored against their annotations.

    python benchmarks/real_footage.py DATA [--model RUN] [--clips DIR] [--split test] [--out FILE.json]

For every video of DATA's ``--split`` (default: test), the model makes sound exactly as ``vis predict`` does
(both methods); the recording's onset detector finds the onsets of the predicted sound, which are matched one
to one within 0.1 s to the annotated times (P / R / F1, pooled over videos). Beside them:

- ``impacts``: the impact times the model chose (before any sound was made), scored the same way;
- ``random``: a guesser that places onsets uniformly at random at the training videos' annotated rate
  (mean over 20 seeds);
- ``real sound``: the onsets of the recorded sound itself (what the annotations can be matched to at best);
- CondFoleyGen's protocol on consecutive 2 s clips (:mod:`vis.eval.foley_metrics`): count match, onset acc
  and onset AP of the predicted sound against the recorded one.

``--clips DIR`` (a folder of short mp4s with ``truth.json``, as ``../shared/realgh/clips``): the same onset
scores on each clip, and how many clips came out silent. Nothing here is used by the tests.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from vis.audio.bands import SR
from vis.audio.onsets import onsets_from_audio
from vis.audio.resample import change_rate
from vis.config import SOUND_METHODS
from vis.data.dataset import Dataset
from vis.data.io import read_audio
from vis.data.media import probe
from vis.eval.foley_metrics import protocol_scores
from vis.eval.metrics import precision_recall
from vis.model.checkpoint import default_run
from vis.sound.predict import Predictor, predict_sounds

RANDOM_SEEDS = 20


def _pool(rows: list[dict]) -> dict:
    tp, pred, true = (sum(r[k] for r in rows) for k in ("tp", "pred", "true"))
    p = tp / pred if pred else float("nan")
    r = tp / true if true else float("nan")
    f1 = 2 * p * r / (p + r) if pred and true and p + r > 0 else 0.0
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f1, 3), "pred": pred, "true": true}


def _predict(model: Predictor, video: Path, tmp: Path) -> dict[str, tuple[np.ndarray, int, list[float]]]:
    outs = {m: (tmp / f"{m}.mp4", tmp / f"{m}.wav") for m in SOUND_METHODS}
    summaries = predict_sounds(video, model, outs, progress=False)
    got = {}
    for m, (_, wav) in outs.items():
        wave, sr = sf.read(str(wav), dtype="float32")
        got[m] = (wave, sr, summaries[m]["peaks"])
    return got


def _random_rows(rate: float, duration: float, truth: np.ndarray) -> list[dict]:
    rows = []
    for seed in range(RANDOM_SEEDS):
        rng = np.random.default_rng(seed)
        guess = np.sort(rng.uniform(0, duration, rng.poisson(rate * duration)))
        rows.append(precision_recall(guess, truth))
    return rows


def main(data: str, *, model: str | None, clips: str | None, split: str, out: str | None,
         splits: str | None = None) -> dict:
    run = Path(model) if model else default_run()
    predictor = Predictor.load(run)
    ds = Dataset.open(data, split=splits)
    train_ids = ds.split("train")
    rate = sum(len(ds.events(v)) for v in train_ids) / sum(probe(ds.audio_path(v)).duration for v in train_ids)
    rows: dict[str, list[dict]] = {k: [] for k in (*SOUND_METHODS, "impacts", "random", "real sound")}
    protocol: dict[str, list[dict]] = {m: [] for m in SOUND_METHODS}
    with tempfile.TemporaryDirectory() as tmp:
        for vid in ds.split(split):
            truth = np.array([e.time for e in ds.events(vid)])
            audio, sr = read_audio(ds.audio_path(vid), min_rate=SR)
            duration = len(audio) / sr
            truth = truth[truth < duration]
            got = _predict(predictor, ds.video_path(vid), Path(tmp))
            line = [f"{vid}: {len(truth)} events"]
            for m, (wave, wsr, _) in got.items():
                found, _ = onsets_from_audio(wave, wsr)
                rows[m].append(precision_recall(found, truth))
                protocol[m].append(protocol_scores(audio[: len(wave) * sr // wsr], change_rate(wave, wsr, sr), sr))
                line.append(f"{m} {len(found)} onsets F1 {rows[m][-1]['f1']:.2f}")
            rows["impacts"].append(precision_recall(np.asarray(got["example"][2]), truth))
            rows["random"] += _random_rows(rate, duration, truth)
            rows["real sound"].append(precision_recall(onsets_from_audio(audio, sr)[0], truth))
            print("  ".join(line), flush=True)
    result = {"model": str(run), "data": str(ds.root), "split": split, "videos": len(ds.split(split)),
              "events_per_s_train": round(rate, 3), "onsets": {k: _pool(v) for k, v in rows.items()},
              "condfoleygen": {m: {k: round(float(np.nanmean([r[k] for r in v])), 3)
                                   for k in ("count_acc", "onset_acc", "onset_ap")} for m, v in protocol.items()}}
    if clips:
        result["clips"] = clip_scores(predictor, Path(clips), rate)
    print(json.dumps(result, indent=2))
    if out:
        Path(out).write_text(json.dumps(result, indent=2))
    return result


def clip_scores(predictor: Predictor, folder: Path, rate: float) -> dict:
    """Onsets of the predicted sound of each clip of ``folder`` (``truth.json``: events per clip)."""
    truth = json.loads((folder / "truth.json").read_text())
    rows: dict[str, list[dict]] = {m: [] for m in SOUND_METHODS}
    rand, silent = [], {m: 0 for m in SOUND_METHODS}
    with tempfile.TemporaryDirectory() as tmp:
        for name, info in sorted(truth.items()):
            times = np.array([e[0] for e in info["events"]])
            got = _predict(predictor, folder / name, Path(tmp))
            for m, (wave, wsr, _) in got.items():
                found, _ = onsets_from_audio(wave, wsr)
                rows[m].append(precision_recall(found, times))
                silent[m] += len(found) == 0
            rand += _random_rows(rate, float(info["duration_s"]), times)
            print(f"{name}: {len(times)} events, " + ", ".join(
                f"{m} {rows[m][-1]['pred']} onsets F1 {rows[m][-1]['f1']:.2f}" for m in rows), flush=True)
    return {"clips": len(truth), "onsets": {**{m: _pool(v) for m, v in rows.items()}, "random": _pool(rand)},
            "silent": silent}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("data")
    p.add_argument("--model", help="a run folder (default: the model shipped with the package)")
    p.add_argument("--clips", help="a folder of short clips with truth.json (e.g. ../shared/realgh/clips)")
    p.add_argument("--split", default="test", help="which split to score (train, val or test)")
    p.add_argument("--splits", help="a folder with train.txt / val.txt / test.txt (default: DATA's own)")
    p.add_argument("--out", help="write the results as JSON")
    a = p.parse_args()
    main(a.data, model=a.model, clips=a.clips, split=a.split, out=a.out, splits=a.splits)
