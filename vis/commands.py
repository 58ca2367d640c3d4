"""What each `vis` command does: thin shells over the library, called by :func:`vis.cli.main`."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from vis.data.paths import PNG_FORMATS, check_outputs
from vis.errors import VisError

# Every numeric and list option, checked the same way on every command before any work: a whole number in
# [least, most]; a real number in (least, most]; a size WxH with each side in SIZE; a comma-separated list
# with no empty item and none twice. Library functions check their own finer limits (e.g. vis synth's).
WHOLE = {"videos": (1, 10**12), "workers": (1, 256), "epochs": (1, 1_000_000), "batch_size": (1, 65_536),
         "threads": (1, 1024), "loader_workers": (0, 256), "trials": (1, 100_000), "practice": (0, 100_000),
         "per_video": (1, 100_000), "port": (1, 65_535), "seed": (0, 2**32 - 1),
         "join_limit": (1, 10**9), "upload_limit": (1, 10**9)}
REAL = {"seconds": (0.0, 86_400.0), "clip": (0.0, 60.0), "threshold": (0.0, 1.0)}
SIZE = (2, 2048)
LISTS = ("materials", "methods")


def check_options(args: argparse.Namespace) -> None:
    """Refuse (VisError, one line naming the option) a count, length, size or list that makes no sense."""
    def flag(key: str) -> str:
        return "--" + key.replace("_", "-")

    for key, (least, most) in WHOLE.items():
        value = getattr(args, key, None)
        if value is not None and not least <= value <= most:
            limit = f"from {least} to {most:,}" if most < 10**9 else f"of at least {least}"  # else: no real top
            raise VisError(f"{flag(key)} {value}: must be a whole number {limit}")
    for key, (low, high) in REAL.items():
        value = getattr(args, key, None)
        if value is not None and not (math.isfinite(value) and low < value <= high):
            raise VisError(f"{flag(key)} {value:g}: must be more than {low:g} and at most {high:g}")
    size = getattr(args, "size", None)
    if size is not None and not all(SIZE[0] <= side <= SIZE[1] for side in size):
        raise VisError(f"--size {size[0]}x{size[1]}: width and height must be from {SIZE[0]} to {SIZE[1]} pixels")
    for key in LISTS:
        value = getattr(args, key, None)
        if value is None:
            continue
        items = [x.strip() for x in value.split(",")]
        if not all(items):
            raise VisError(f"{flag(key)} {value!r}: an empty name (give comma-separated names, or leave the "
                           "option out for the default)")
        if len(set(items)) != len(items):
            raise VisError(f"{flag(key)} {value!r}: a name given twice")


# The options naming what a command writes, and those naming what it reads (an output may be neither an input
# nor another output: vis.data.paths.check_outputs).
OUTPUTS = {"output": "-o", "wav": "--wav", "png": "--png", "csv": "--csv", "out": "--out"}
INPUTS = {"input": "INPUT", "video": "VIDEO", "data": "DATA", "model": "--model", "config": "--config",
          "weights": "--weights", "init": "--init", "start": "--start", "split": "--split"}


def _inputs(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    ins = [(flag, getattr(args, k, None)) for k, flag in INPUTS.items()]
    if args.command != "predict":  # dataset commands: --video is a choice of files, not a file
        ins = [(f, p) for f, p in ins if f != "VIDEO"]
    ins.append(("--study" if args.command == "evaluate" else "STUDY", getattr(args, "study", None)))
    for flag in ("compare", "detection"):
        ins += [(f"--{flag}", item.partition("=")[2]) for item in getattr(args, flag, None) or []]
    return ins


def check_args(args: argparse.Namespace) -> None:
    """Before any work: every numeric and list option (:func:`check_options`), and no output that is an input
    or another output (:func:`vis.data.paths.check_outputs`)."""
    check_options(args)
    for key in ("out", "cache", "studies"):  # folders: a file of that name is not one
        where = getattr(args, key, None)
        if where is not None and os.path.exists(where) and not os.path.isdir(where):
            flag = "OUT" if args.command == "synth" else f"--{key}"
            raise VisError(f"{where}: {flag} is a file; give a folder")
    check_outputs(_inputs(args), [(flag, getattr(args, k, None)) for k, flag in OUTPUTS.items()])


def _data_seed(args) -> int:
    """--seed of a dataset command (the split's, evaluate's sampling): 0 unless given. It has no parser default
    because vis train passes it on only when given, so that a config's [train] seed holds."""
    return 0 if args.seed is None else args.seed


def _open_dataset(args):
    from vis.data.dataset import Dataset

    return Dataset.open(args.data, video=args.video, audio=args.audio, split=args.split,
                        seed=_data_seed(args), skip_broken=args.skip_broken)


def cmd_info(args) -> int:
    from vis.data.dataset import summarize

    info = summarize(_open_dataset(args), progress=not args.json)
    # exit status 1 when any id is broken (2 stays for usage errors); ids that lack only files this reading
    # does not need (the thumbnail or microphone files, with the default --video/--audio) are a note
    bad = len(info["broken"])
    if args.json:
        print(json.dumps(info, indent=2))
        return 1 if bad else 0
    print(f"{info['root']}: {info['ids']} videos, {info['duration_s'] / 3600:.2f} h, {info['events']} events "
          f"({info['unlabelled_events']} unlabelled)")
    print("splits (" + info["split_source"] + "): " + ", ".join(f"{k} {v}" for k, v in info["splits"].items()))
    for kind in ("material", "action", "reaction"):
        print(f"{kind}: " + ", ".join(f"{k} {v}" for k, v in info[kind].items()))
    lacking: dict[str, int] = {}
    for files in info["missing"].values():
        for name in files:
            lacking[name] = lacking.get(name, 0) + 1
    if lacking:
        print("note: optional files absent (not read with these --video/--audio choices): "
              + ", ".join(f"{name} ({n} of {info['ids']} ids)" for name, n in lacking.items()))
    for vid, why in info["broken"].items():
        print(f"broken: {vid}: {why}")
    if bad:
        print(f"{bad} of {info['ids']} videos are broken (exit status 1)")
        return 1
    return 0


def cmd_synth(args) -> int:
    from vis.synth import generate
    from vis.synth.schedule import load_schedules

    materials = [m.strip() for m in args.materials.split(",")] if args.materials is not None else None
    knobs: dict[str, Any] = {}
    for item in args.knob or []:
        name, sep, value = item.partition("=")
        try:
            knobs[name.strip().replace("-", "_")] = float(value)
        except ValueError:
            raise VisError(f"--knob {item!r}: expected NAME=NUMBER (see vis/synth/knobs.py)") from None
        if not sep:
            raise VisError(f"--knob {item!r}: expected NAME=NUMBER (see vis/synth/knobs.py)")
    if args.videos is not None:
        videos = args.videos  # 0 and negative counts are refused before (check_options), never a default
    else:
        videos = len(load_schedules()) if args.real_schedules else 24
    summary = generate(args.out, videos=videos, seconds=args.seconds, seed=args.seed, size=args.size,
                       materials=materials, workers=args.workers, real_schedules=args.real_schedules, **knobs)
    print(f"wrote {len(summary['ids'])} videos ({summary['seconds']:.0f} s, {summary['events']} events) "
          f"to {Path(args.out).resolve()} in {summary['elapsed']:.1f} s")
    return 0


def cmd_cochleagram(args) -> int:
    import numpy as np

    from vis.audio.bands import SR
    from vis.audio.cochleagram import cochleagram
    from vis.data.io import atomic_output, output_format, read_audio

    if args.png is not None:
        output_format(args.png, PNG_FORMATS, "a figure")  # before any work
    audio, sr = read_audio(args.input, min_rate=SR)
    env, times = cochleagram(audio, sr)
    with atomic_output(args.output) as tmp, open(tmp, "wb") as f:
        np.save(f, env)
    wrote = [str(args.output)]
    if args.png:
        from vis.plots import save_cochleagram_png

        save_cochleagram_png(args.png, env, times, title=args.input.name)
        wrote.append(str(args.png))
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 90.0
    print(f"cochleagram {env.shape[0]} x {env.shape[1]} ({len(times) / rate:.2f} s at {rate:.2f} Hz) -> "
          f"{', '.join(wrote)}")
    return 0


def cmd_onsets(args) -> int:
    from vis.audio.bands import SR
    from vis.audio.onsets import onsets_from_audio
    from vis.data.io import read_audio
    from vis.eval.onset_scores import score_dataset

    if args.input.is_dir():  # a dataset: score the detector against the annotated times
        args.data = args.input
        ds = _open_dataset(args)
        res = score_dataset(ds, progress=not args.json)
        if args.json:
            print(json.dumps(res, indent=2))
            return 0
        print(f"onsets against annotated times within {res['tolerance_s']} s, {res['videos']} videos in {ds.root}:")
        for action, r in res["actions"].items():
            print(f"  {action:10s} P {r['precision']:.3f}  R {r['recall']:.3f}  F1 {r['f1']:.3f}  "
                  f"(tp {r['tp']}, fp {r['fp']}, fn {r['fn']})")
        print("  missed hits by material: " + (", ".join(f"{m} {n}" for m, n in res["hit_misses"].items()) or "none"))
        return 0
    if args.audio != "denoised" or args.skip_broken:
        raise VisError(f"{args.input}: --audio and --skip-broken apply to a dataset folder, not to one file")
    audio, sr = read_audio(args.input, min_rate=SR)
    times, strength = onsets_from_audio(audio, sr)
    if args.json:
        print(json.dumps({"input": str(args.input), "onsets": [
            {"time": round(float(t), 4), "amplitude": round(float(a), 4)} for t, a in zip(times, strength)]}))
    else:
        for t, a in zip(times, strength):
            print(f"{t:.4f}\t{a:.4f}")
        print(f"{len(times)} onsets in {args.input}", file=sys.stderr)
    return 0


def cmd_prepare(args) -> int:
    from vis.config import DEFAULT_SIZE
    from vis.data.cache import default_cache_dir, prepare

    ds = _open_dataset(args)
    cache = args.cache or default_cache_dir(ds.root)
    size = args.size or DEFAULT_SIZE[args.backbone]
    # the default recipe (backbone none) also reads the optical-flow motion features
    s = prepare(ds, cache, size=size, store=args.frame_store, workers=args.workers, motion=args.backbone == "none")
    print(f"prepared {s['videos']} videos ({s['computed']} computed, the rest up to date) in {s['cache']} "
          f"({s['bytes'] / 1e6:.1f} MB)")
    return 0


def cmd_train(args) -> int:
    from vis.config import load_config
    from vis.model.run import RunDir
    from vis.pipeline import run

    cfg = load_config(args.config, preset=args.preset, backbone=args.backbone, epochs=args.epochs,
                      batch_size=args.batch_size, seed=args.seed, task=args.task, frozen=args.frozen or None,
                      weights=args.weights,
                      image_size=args.size, rnn=False if args.no_rnn else None,
                      spacetime=False if args.no_spacetime else None, threads=args.threads, workers=args.loader_workers,
                      frame_store=args.frame_store,
                      init=args.init, start=args.start)
    s = run(_open_dataset(args), args.out, cfg, cache=args.cache, resume=args.resume, workers=args.workers,
            device=args.device)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    run_dir = Path(s.run).resolve()
    if s.trained_nothing:  # --resume of a finished run
        print(f"nothing to train: {run_dir} had finished its {s.steps} steps ({s.epochs} epochs); its model.pt "
              f"has validation sq err {s.val_sq_err:.3f} (epoch {s.best_epoch})")
        return 0
    print(f"trained {s.steps} steps on {s.train_windows} windows in {s.seconds:.0f} s: train loss "
          f"{s.train_loss:.2f}, validation loss {s.val_loss:.2f} on {s.val_windows} windows (mean-sound baseline "
          f"{s.baseline_mean_loss:.2f}); validation sq err {s.val_sq_err:.3f} at epoch {s.best_epoch} (no-video "
          f"baselines: mean sound {s.baseline_mean_sq_err:.3f}, average impact shape {s.baseline_shape_sq_err:.3f})")
    if "spectrum_mix" in s.after:
        print(f"visual memory: the network keeps {s.after['spectrum_mix']:.1f} of each impact's spectral shape, the "
              f"training impacts that look alike the rest (validation sq err {s.after['spectrum_mix_val_sq_err']:.3f})")
    print(f"wrote {run_dir}/{', '.join(RunDir.WRITTEN)} ({s.wall_seconds or s.seconds:.0f} s in all, with the "
          "inputs and the exemplar bank)")
    return 0


def cmd_predict(args) -> int:
    from vis.data.io import output_format
    from vis.data.media import not_a_video, probe
    from vis.model.checkpoint import default_run
    from vis.sound.impacts import QUIET_SHARE
    from vis.sound.predict import Predictor, predict_video

    if args.png is not None:
        output_format(args.png, PNG_FORMATS, "a figure")  # before any work
    if probe(args.video).still:
        raise VisError(not_a_video(str(args.video)))
    model = args.model if args.model is not None else default_run()
    predictor = Predictor.load(model, device=args.device).at_threshold(args.threshold)
    s = predict_video(args.video, predictor, args.output, method=args.method, wav=args.wav, png=args.png)
    if s["impacts"] == 0:
        t = s["threshold"] or 0.0
        why = (f"no impact: nothing the impact detector saw reached a quarter of its threshold ({QUIET_SHARE * t:g} "
               f"of {t:g}; a lower --threshold finds fainter impacts)" if predictor.onsets is not None else
               "the model predicted no impact (a detection model, `vis train --task detection`, finds impacts in "
               "whole videos)")
        print(f"vis: warning: {args.video}: {why}; the sound written is the quiet floor", file=sys.stderr)
    print(f"predicted {s['impacts']} impacts{' (silent)' if s['impacts'] == 0 else ''} over {s['duration']:.1f} s "
          f"({s['method']}) in {s['seconds']:.1f} s ({s['realtime_factor']:.1f}x real time) -> {', '.join(s['wrote'])}")
    print(f"model: {model}" + (" (the model shipped with vis)" if args.model is None else ""))
    return 0


def _named_runs(items: list[str] | None, flag: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise VisError(f"{flag} {item!r}: expected NAME=RUN (e.g. no-rnn=runs/no-rnn)")
        out[name] = path
    return out


def cmd_evaluate(args) -> int:
    from vis.eval.evaluate import evaluate

    methods = [m.strip() for m in args.methods.split(",")] if args.methods is not None else None
    m = evaluate(_open_dataset(args), args.model, args.out, cache=args.cache, methods=methods,
                 compare=_named_runs(args.compare, "--compare"), detection=_named_runs(args.detection, "--detection"),
                 seed=_data_seed(args), progress=True, device=args.device, study=args.study)
    full = m["methods"].get("full", {})
    print(f"evaluated {m['test_impacts']} test impacts in {m['seconds']:.0f} s: full system loudness r "
          f"{full.get('loudness_r', float('nan')):.2f}, centroid r {full.get('centroid_r', float('nan')):.2f}, "
          f"material {100 * full.get('material_acc', float('nan')):.1f}%")
    for name, d in m["detection"].items():
        print(f"detection {name}: AP {100 * d['ap']:.1f}%, onset acc. {100 * d['onset_acc']:.1f}%")
    print(f"wrote {Path(args.out).resolve()}/metrics.json, report.md, figures/")
    return 0


def cmd_demo(args) -> int:
    from vis.demo import run_demo

    s = run_demo(args.out, workers=args.workers, device=args.device)
    print(f"demo finished in {sum(s['timings'].values()):.0f} s. Look at:")
    print(f"  {s['report']}  (what was done, with metrics)")
    print(f"  {s['videos']}/  (held-out videos with predicted and with true sound)")
    print(f"  {s['figures']}/  (predicted vs real cochleagrams)")
    return 0


def cmd_serve(args) -> int:
    from vis.model.checkpoint import default_run
    from vis.web.serve import serve

    model = args.model
    if model is None:
        try:
            model = default_run()
        except VisError as e:
            print(f"vis: note: {e}", file=sys.stderr)
    serve(model=model, host=args.host, port=args.port, data=args.data, studies=args.studies, device=args.device,
          allowed=args.allowed_host, limits={"join": (args.join_limit, 60.0), "upload": (args.upload_limit, 60.0)})
    return 0


def cmd_study_create(args) -> int:
    from vis.web.study import create_study, trials_per_participant

    given = {"trials": args.trials, "practice": args.practice, "clip_s": args.clip, "per_video": args.per_video}
    methods = args.methods.split(",") if args.methods is not None else None
    m = create_study(args.data, args.model, args.out, methods=methods,
                     seed=args.seed, match_level=args.match_level, device=args.device,
                     **{k: v for k, v in given.items() if v is not None})  # the rest: vis.web.study's defaults
    n = trials_per_participant(m)
    print(f"wrote {len(m['clips'])} clips from {len({c['video'] for c in m['clips']})} test videos "
          f"({', '.join(['real'] + m['methods'])}) to {Path(args.out).resolve()}; each participant gets {n} trials, "
          f"the first {min(n, m['practice'])} practice. Serve it with: vis serve --studies {Path(args.out).parent}")
    return 0


def cmd_study_results(args) -> int:
    from vis.web.results import study_results

    print(study_results(args.study, csv_path=args.csv))
    if args.csv:
        print(f"wrote {args.csv} (one row per answer)")
    return 0
