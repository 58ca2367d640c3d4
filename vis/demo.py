"""``vis demo``: the whole pipeline on built-in synthetic data, in a few minutes on a CPU.

1. ``vis synth``: a small Greatest Hits-style dataset (DEMO_VIDEOS videos of DEMO_SECONDS s);
2. ``vis train``: the default recipe on its train split, twice: a centred model (the sound of each impact,
   paper Sec. 6.1) and a detection model started from its weights (``--task detection --init``: the sound
   of whole videos, so it decides when impacts happen, A1.1);
3. ``vis predict``: sound for every held-out video from its frames alone (example-based and parametric),
   and the onsets of that sound scored against the onsets of the real sound;
4. a report: ``DIR/report.md`` with what was done and the metrics, videos with predicted and with true
   sound side by side in ``DIR/videos/``, and cochleagram figures in ``DIR/figures/``.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np

from vis.audio import SOUND_METHODS
from vis.audio.onsets import onsets_from_audio
from vis.config import load_config
from vis.data.cache import CENTRED_FRAMES, FPS, load, prepare
from vis.data.dataset import Dataset
from vis.data.io import atomic_output, read_audio
from vis.data.media import mux_audio
from vis.data.windows import centred_windows
from vis.eval.methods import predict_windows
from vis.eval.metrics import average_precision, onset_metrics, precision_recall
from vis.model.checkpoint import load_model
from vis.model.run import RunDir
from vis.pipeline import run
from vis.sound.exemplars import ExemplarBank, centre_frame_features
from vis.sound.longform import heard_at, paste
from vis.sound.predict import Predictor, predict_sounds
from vis.synth import generate

DEMO_VIDEOS = 56  # synthetic videos (75 % train, 25 % held out)
DEMO_SECONDS = 12.0  # length of each
DEMO_EPOCHS = 30  # training epochs of the centred model (the default; ~1 s each here) ...
DEMO_DETECTION_EPOCHS = 3  # ... and of the detection model started from its weights (the default; ~15 s each)
LABELS = {"example": "example-based"}  # a sound method's name in the report, where it is not its own


def run_demo(out: str | Path, *, videos: int = DEMO_VIDEOS, seconds: float = DEMO_SECONDS, epochs: int = DEMO_EPOCHS,
             det_epochs: int = DEMO_DETECTION_EPOCHS, batch_size: int | None = None, workers: int = 2, seed: int = 0,
             progress: bool = True, device: str = "auto") -> dict:
    """Run the demo into ``out`` (created; reused on a second run: finished steps are skipped)."""
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t = time.time()
    data = out / "data"
    # vis synth writes the split files first, so a finished run is one with every video's files
    if not (data / "test.txt").is_file() or len(list(data.glob("*_times.txt"))) < videos:
        print(f"[1/4] synthesizing {videos} videos of {seconds:.0f} s into {data}")
        generate(data, videos=videos, seconds=seconds, seed=seed, workers=workers, progress=progress)
    timings["synth"] = time.time() - t

    t = time.time()
    ds = Dataset.open(data)
    run_dir, det_dir = out / "run", out / "detect"
    centred_cfg = load_config(None, epochs=epochs, seed=seed, batch_size=batch_size)
    steps = [(run_dir, centred_cfg, "the centred model (the sound of each impact)"),
             (det_dir, load_config(None, task="detection", epochs=det_epochs, seed=seed, batch_size=batch_size,
                                   init=str(run_dir)), "the detection model (when impacts happen), from its weights")]
    for folder, cfg, what in steps:
        if not RunDir(folder).finished:
            print(f"[2/4] training {what}: backbone {cfg.model.backbone} + {cfg.model.layers}-layer LSTM, "
                  f"{cfg.train.epochs} epochs, into {folder}")
            resume = RunDir(folder).state.is_file()
            run(ds, folder, cfg, cache=out / "cache", resume=resume, workers=workers, progress=progress,
                device=device)
    summary, det_summary = RunDir(run_dir).read_summary(), RunDir(det_dir).read_summary()
    timings["train"] = time.time() - t

    t = time.time()
    print(f"[3/4] predicting sound for {len(ds.split('test'))} held-out videos from their frames")
    # the held-out videos' real onsets and (for ID_centred.mp4) frames; training prepared only its own videos
    prepare(ds, out / "cache", size=centred_cfg.model.image_size, ids=ds.split("test"), workers=workers,
            motion=True, progress=False)
    vids = out / "videos"
    figs = out / "figures"
    vids.mkdir(exist_ok=True)
    figs.mkdir(exist_ok=True)
    rows = []
    model = Predictor.load(det_dir, device=device)
    for vid in ds.split("test"):
        real = load(out / "cache", vid).onsets  # onsets of the real sound (the same detector)
        row = {"id": vid, "true_events": len(ds.events(vid)), "real_onsets": len(real)}
        names = {m: "predicted" if m == "example" else m for m in SOUND_METHODS}  # the file of each method's sound
        outputs: dict[str, tuple[str | os.PathLike, str | os.PathLike | None]] = {
            m: (vids / f"{vid}_{n}.mp4", vids / f"{vid}_{n}.wav") for m, n in names.items()}
        made = predict_sounds(ds.video_path(vid), model, outputs, png=figs / f"{vid}_cochleagram.png",
                              progress=False)
        for method, r in made.items():
            wave, sr = read_audio(vids / f"{vid}_{names[method]}.wav", mono=True)
            onsets, _ = onsets_from_audio(wave, sr)
            pr = precision_recall(onsets, real)
            row[method] = {"onsets": len(onsets), "tp": pr["tp"], "precision": pr["precision"],
                           "recall": pr["recall"], "peak_dbfs": float(20 * np.log10(np.abs(wave).max() + 1e-12))}
            if method == "example":
                times, scores = np.array(r["peaks"]), np.array(r["peak_amplitudes"])  # ranked by prominence
                truth = np.array([e.time for e in ds.events(vid)])
                row.update(duration=r["duration"], ap=average_precision(times, scores, truth),
                           **onset_metrics(times, scores, truth, duration=r["duration"]),
                           realtime_factor=r["realtime_factor"])
        shutil.copyfile(ds.video_path(vid), vids / f"{vid}_true.mp4")
        centred_video(ds, vid, run_dir, out / "cache", vids / f"{vid}_centred.mp4", device=device)
        rows.append(row)
    timings["predict"] = time.time() - t

    print("[4/4] writing the report")
    pooled = _pooled(rows)
    report = _report(out, summary, det_summary, rows, pooled, timings, videos, seconds)
    with atomic_output(out / "report.md") as tmp:
        tmp.write_text(report)
    return {"out": str(out), "report": str(out / "report.md"), "videos": str(vids), "figures": str(figs),
            "cache": str(out / "cache"), "timings": timings, "rows": rows, "onsets": pooled}


def _pooled(rows: list[dict]) -> dict:
    """Onset precision / recall of each method's sound over all held-out videos together."""
    out = {}
    for method in SOUND_METHODS:
        pred = sum(r[method]["onsets"] for r in rows)
        real = sum(r["real_onsets"] for r in rows)
        tp = sum(r[method]["tp"] for r in rows)
        out[method] = {"precision": tp / pred if pred else float("nan"),
                       "recall": tp / real if real else float("nan"), "onsets": pred, "real_onsets": real,
                       "silent_videos": sum(1 for r in rows if r[method]["onsets"] == 0 and r["real_onsets"] > 0)}
    return out


def centred_video(ds, vid: str, run: Path, cache: Path, out: Path, *, device: str = "cpu") -> int:
    """The centred task on a whole video (paper Sec. 6.1-6.2): at each annotated event (or, without
    annotations, each onset detected in the video's own sound) the network predicts the 15-frame window's
    sound from the frames, and example-based synthesis pastes the nearest training impact there. Timing
    comes from the recording; what is heard comes from the video. Returns the number of impacts pasted."""
    model = load_model(run, device=device)
    net, pca = model.net, model.pca
    bank = ExemplarBank.load(model.run.bank)
    vf = load(cache, vid, model.image_size)
    windows = centred_windows([vf], centres="events" if len(vf.event_times) else "onsets")
    wave = np.zeros(int(round(vf.duration * bank.sr)), np.float32)
    if len(windows):
        seen = centre_frame_features(windows) if bank.has_memory else None
        idx, _ = bank.search(bank.with_lookalikes(predict_windows(net, pca, windows), seen), visual=seen)
        for (_, start), i in zip(windows.index, idx):
            centre = (start + CENTRED_FRAMES // 2) / float(FPS)
            paste(wave, bank.impact_clip(int(i)), int(round(centre * bank.sr)) - heard_at(bank, int(i)))
    mux_audio(ds.video_path(vid), np.clip(wave, -1, 1), bank.sr, out)
    return len(windows)


def _report(out: Path, summary: dict, det_summary: dict, rows: list[dict], pooled: dict, timings: dict,
            videos: int, seconds: float) -> str:
    def mean(key):
        vals = [r[key] for r in rows if r[key] == r[key]]
        return float(np.mean(vals)) if vals else float("nan")

    def pct(x):
        return "–" if x != x else f"{100 * x:.0f}%"

    lines = [
        "# vis demo report", "",
        f"Synthetic Greatest Hits-style data: {videos} videos of {seconds:.0f} s (`data/`), split 75/25 by video.",
        "Models: the default recipe (motion statistics of the spacetime images and a frozen ImageNet "
        "EfficientNet-Lite0 on the first colour frame, into an LSTM; 10-dim PCA of square-rooted cochleagrams). "
        "`run/` is trained on the centred task "
        f"({summary['steps']} steps on {summary['train_windows']} onset-centred windows) and gives each impact its "
        "sound; `detect/` starts from its weights and is trained on the detection task (0.5 s sequences, time-shift "
        f"alignment; {det_summary['steps']} steps on {det_summary['train_windows']} windows) and decides when "
        "impacts happen in a whole video. Their exemplar banks remember what each training impact looked like: "
        "a predicted impact's spectrum leans on the training impacts that look alike, and example-based synthesis "
        "picks the training impact nearest in sound and looks.", "",
        "## Held-out videos: sound predicted from the frames alone", "",
        "Onsets detected in the predicted sound against the onsets detected in the real sound, matched one to "
        "one within 0.1 s (precision P, recall R).", "",
        "| video | s | real onsets | " + " | ".join(f"{LABELS.get(m, m)}: onsets | P | R" for m in SOUND_METHODS)
        + " | AP |",
        "| --- | --- | --- | " + "--- | --- | --- | " * len(SOUND_METHODS) + "--- |",
    ]

    def cells(r: dict) -> str:
        return " | ".join(f"{r[m]['onsets']} | {pct(r[m]['precision'])} | {pct(r[m]['recall'])}" for m in SOUND_METHODS)

    for r in rows:
        lines.append(f"| {r['id']} | {r['duration']:.1f} | {r['real_onsets']} | {cells(r)} | {r['ap']:.2f} |")
    lines += [f"| all | | {pooled[SOUND_METHODS[0]]['real_onsets']} | {cells(pooled)} | {mean('ap'):.2f} |", "",
              "AP: detection AP of the predicted impacts (ranked by prominence) against the annotated events "
              "(paper Sec. 6.2).", ""]
    for m in SOUND_METHODS:
        if pooled[m]["silent_videos"]:
            lines += [f"Warning: {pooled[m]['silent_videos']} {m} tracks have no onset where the real track has "
                      "some.", ""]
    lines += ["## Training (validation windows, squared error per row of the square-rooted envelopes)", "",
              "| | centred (`run/`) | detection (`detect/`) |", "| --- | --- | --- |",
              f"| network | {summary['val_sq_err']:.3f} | {det_summary['val_sq_err']:.3f} |",
              f"| average impact shape (no video) | {summary['baseline_shape_sq_err']:.3f} | "
              f"{det_summary['baseline_shape_sq_err']:.3f} |",
              f"| mean training sound (no video) | {summary['baseline_mean_sq_err']:.3f} | "
              f"{det_summary['baseline_mean_sq_err']:.3f} |", "",
              "`run/curves.png` and `detect/curves.png` show the losses per epoch.", "",
              "## Files", "",
              "- `videos/ID_predicted.mp4`: the held-out video with sound predicted from the video alone "
              "(example-based: the model decides when impacts happen and which training impact each sounds like); "
              "`ID_parametric.mp4` the same with parametric synthesis; `ID_true.mp4` with its real sound.",
              "- `videos/ID_centred.mp4`: the paper's centred task: at each annotated impact, the impact "
              "sound the network predicts from the frames around it (timing from the recording, sound from "
              "the video).",
              "- `figures/ID_cochleagram.png`: predicted cochleagram above the real one.",
              "- `run/`, `detect/`: the models (`model.pt`, `bank.npz`), training logs, curves and configs.", "",
              "## Time", "",
              ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()) + ".", ""]
    return "\n".join(lines)
