"""The ``vis`` command: a thin shell over the library.

Each subcommand parses its options and calls one library function. Problems with the user's input
arrive as :class:`vis.errors.VisError` and are printed as one line, ``vis: error: ...``, with exit
status 2 and no traceback. Heavy libraries are imported inside the commands, so ``vis --help`` is fast.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import threading
import warnings
from pathlib import Path

from vis.errors import Interrupted, ShortMedia, VisError

BACKBONE_CHOICES = ["none", "small", "alexnet", "efficientnet-lite0"]  # vis.model.BACKBONES (not imported: torch)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WIDTHxHEIGHT (e.g. 456x256)") from None
    return w, h


def _dataset_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", type=Path, help="Greatest Hits folder (real or from `vis synth`)")
    p.add_argument("--video", default="denoised", choices=["denoised", "thumb", "mic"],
                   help="which mp4 gives the frames (default: denoised)")
    p.add_argument("--audio", default="denoised", choices=["denoised", "mic"],
                   help="which wav gives the sound (default: denoised)")
    p.add_argument("--split", help="folder with train.txt/test.txt, or condfoleygen / syncfusion "
                   "(default: DATA/train.txt and test.txt, else a seeded 75/25 split)")
    p.add_argument("--seed", type=int, default=0, help="seed of the 75/25 split when the data has none")
    p.add_argument("--skip-broken", action="store_true", help="warn about and skip ids with missing files")
    _strict_option(p)


def _strict_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strict", action="store_true", help="a media file shorter than its header declares "
                   "(truncated or damaged) is an error, not a warning")


def _device_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA when present, else the CPU), cpu, cuda, "
                   "cuda:N or mps; mixed precision (bf16) on CUDA")


def _open_dataset(args):
    from vis.dataset import Dataset

    return Dataset.open(args.data, video=args.video, audio=args.audio, split=args.split, seed=args.seed,
                        skip_broken=args.skip_broken)


# ---------------------------------------------------------------------------------------------- commands


def cmd_info(args) -> int:
    from vis.dataset import summarize

    info = summarize(_open_dataset(args), progress=not args.json)
    bad = len(info["missing"]) + len(info["broken"])  # exit status 1 when any (2 stays for usage errors)
    if args.json:
        print(json.dumps(info, indent=2))
        return 1 if bad else 0
    print(f"{info['root']}: {info['ids']} videos, {info['duration_s'] / 3600:.2f} h, {info['events']} events "
          f"({info['unlabelled_events']} unlabelled)")
    print("splits (" + info["split_source"] + "): " + ", ".join(f"{k} {v}" for k, v in info["splits"].items()))
    for kind in ("material", "action", "reaction"):
        print(f"{kind}: " + ", ".join(f"{k} {v}" for k, v in info[kind].items()))
    for vid, files in info["missing"].items():
        print(f"missing: {vid}: {', '.join(files)}")
    for vid, why in info["broken"].items():
        print(f"broken: {vid}: {why}")
    if bad:
        print(f"{bad} of {info['ids']} videos are incomplete or broken (exit status 1)")
        return 1
    return 0


def cmd_synth(args) -> int:
    from vis.synth import generate

    materials = [m.strip() for m in args.materials.split(",")] if args.materials else None
    knobs = {}
    for item in args.knob or []:
        name, sep, value = item.partition("=")
        try:
            knobs[name.strip().replace("-", "_")] = float(value)
        except ValueError:
            raise VisError(f"--knob {item!r}: expected NAME=NUMBER (see vis/synth/knobs.py)") from None
        if not sep:
            raise VisError(f"--knob {item!r}: expected NAME=NUMBER (see vis/synth/knobs.py)")
    summary = generate(args.out, videos=args.videos, seconds=args.seconds, seed=args.seed, size=args.size,
                       materials=materials, workers=args.workers, **knobs)
    print(f"wrote {len(summary['ids'])} videos ({summary['seconds']:.0f} s, {summary['events']} events) "
          f"to {Path(args.out).resolve()} in {summary['elapsed']:.1f} s")
    return 0


def cmd_cochleagram(args) -> int:
    import numpy as np

    from vis.cochleagram import SR, cochleagram
    from vis.io import atomic_output, read_audio

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
    from vis.cochleagram import SR
    from vis.io import read_audio
    from vis.onsets import onsets_from_audio, score_dataset

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
    from vis.features import default_cache_dir, prepare
    from vis.model import DEFAULT_SIZE

    ds = _open_dataset(args)
    cache = args.cache or default_cache_dir(ds.root)
    size = args.size or DEFAULT_SIZE[args.backbone]
    s = prepare(ds, cache, size=size, workers=args.workers)
    print(f"prepared {s['videos']} videos ({s['computed']} computed, the rest up to date) in {s['cache']} "
          f"({s['bytes'] / 1e6:.1f} MB)")
    return 0


def cmd_train(args) -> int:
    from vis.config import load_config
    from vis.train import run

    cfg = load_config(args.config, preset=args.preset, backbone=args.backbone, epochs=args.epochs,
                      batch_size=args.batch_size, seed=args.seed, task=args.task, frozen=args.frozen or None,
                      weights=args.weights,
                      image_size=args.size, rnn=False if args.no_rnn else None,
                      spacetime=False if args.no_spacetime else None, threads=args.threads,
                      init=args.init)
    s = run(_open_dataset(args), args.out, cfg, cache=args.cache, resume=args.resume, workers=args.workers,
            device=args.device)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"trained {s['steps']} steps on {s['train_windows']} windows in {s['seconds']:.0f} s: "
              f"train loss {s['train_loss']:.2f}, validation loss {s['val_loss']:.2f} on {s['val_windows']} windows "
              f"(mean-sound baseline {s['baseline_mean_loss']:.2f}); validation sq err {s['val_sq_err']:.3f} at epoch "
              f"{s['best_epoch']} (no-video baselines: mean sound {s['baseline_mean_sq_err']:.3f}, average impact "
              f"shape {s['baseline_shape_sq_err']:.3f})")
        print(f"wrote {Path(s['run']).resolve()}/model.pt, bank.npz, log.jsonl, curves.png, config.toml, summary.json "
              f"({s.get('wall_seconds', s['seconds']):.0f} s in all, with the inputs and the exemplar bank)")
    return 0


def cmd_predict(args) -> int:
    from vis.predict import predict_video

    s = predict_video(args.video, args.model, args.output, method=args.method, wav=args.wav, png=args.png,
                      device=args.device)
    if s["impacts"] == 0:
        print(f"vis: warning: {args.video}: the model predicted no impact; the sound written is its quiet floor "
              "(a detection model, `vis train --task detection`, finds impacts in whole videos)", file=sys.stderr)
    print(f"predicted {s['impacts']} impacts{' (silent)' if s['impacts'] == 0 else ''} over {s['duration']:.1f} s "
          f"({s['method']}) in {s['seconds']:.1f} s ({s['realtime_factor']:.1f}x real time) -> {', '.join(s['wrote'])}")
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
    from vis.evaluate import evaluate

    methods = [m.strip() for m in args.methods.split(",")] if args.methods else None
    m = evaluate(_open_dataset(args), args.model, args.out, cache=args.cache, methods=methods,
                 compare=_named_runs(args.compare, "--compare"), detection=_named_runs(args.detection, "--detection"),
                 seed=args.seed, progress=True, device=args.device)
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
    from vis.web.serve import serve

    serve(model=args.model, host=args.host, port=args.port, data=args.data, studies=args.studies, device=args.device)
    return 0


def cmd_study_create(args) -> int:
    from vis.web.study import create_study, trials_per_participant

    m = create_study(args.data, args.model, args.out, methods=args.methods.split(",") if args.methods else None,
                     trials=args.trials, practice=args.practice, seed=args.seed, clip_s=args.clip,
                     per_video=args.per_video, match_level=args.match_level, device=args.device)
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


# ---------------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    from vis import __version__

    parser = argparse.ArgumentParser(prog="vis", description="Predict impact sounds from silent video "
                                     "(Owens et al., Visually Indicated Sounds, CVPR 2016).")
    parser.add_argument("--version", action="version", version=f"vis {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="summarize a Greatest Hits folder")
    _dataset_options(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON (keys in the README)")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("synth", help="write a synthetic dataset in the Greatest Hits layout")
    p.add_argument("out", type=Path, help="output folder (created)")
    p.add_argument("--videos", type=int, default=24, help="number of videos (default 24)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each video in seconds (default 10)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    p.add_argument("--size", type=_size, default=(456, 256), help="frame size WxH (default 456x256)")
    p.add_argument("--materials", help="comma-separated materials to use (default: all 17)")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.add_argument("--knob", action="append", metavar="NAME=VALUE",
                   help="difficulty knob, e.g. sound_variation=3 (repeatable; names and defaults: vis/synth/knobs.py)")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("cochleagram", help="compute the 42-band cochleagram of a wav or video")
    p.add_argument("input", type=Path, help="wav file or video with an audio track")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .npy, float32 [T, 42], ~90 Hz")
    p.add_argument("--png", type=Path, help="also write a figure (time in s, band centres in Hz)")
    _strict_option(p)
    p.set_defaults(func=cmd_cochleagram)

    p = sub.add_parser("onsets", help="detect impact onsets in a wav or video (paper Sec. 3), "
                       "or score the detector on a dataset folder")
    p.add_argument("input", type=Path, help="wav file or video with an audio track; or a Greatest Hits "
                   "folder: precision / recall / F1 per action against its annotated times")
    p.add_argument("--json", action="store_true", help="print JSON instead of 'time<TAB>amplitude' lines")
    p.add_argument("--audio", default="denoised", choices=["denoised", "mic"],
                   help="dataset folder: which wav gives the sound (default: denoised)")
    p.add_argument("--skip-broken", action="store_true", help="dataset folder: skip ids with missing files")
    _strict_option(p)
    p.set_defaults(video="denoised", split=None, seed=0)  # a dataset is scored whole: every id, every event
    p.set_defaults(func=cmd_onsets)

    p = sub.add_parser("prepare", help="compute and cache per-video features (cochleagram, onsets, frames)")
    _dataset_options(p)
    p.add_argument("--cache", type=Path, help="cache folder (default: $VIS_CACHE or ~/.cache/vis, per dataset)")
    p.add_argument("--backbone", default="none", choices=BACKBONE_CHOICES,
                   help="store frames at this backbone's default size")
    p.add_argument("--size", type=_size, help="store frames at WxH instead")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("train", help="train the video-to-sound network")
    _dataset_options(p)
    p.add_argument("--out", type=Path, required=True, help="run folder (model.pt, log.jsonl, config.toml)")
    p.add_argument("--config", type=Path, help="TOML with [model] and [train] tables (defaults: vis/config.py)")
    p.add_argument("--preset", help="a shipped configuration applied before --config: paper (the paper's exact "
                   "recipe: AlexNet, three-frame spacetime images, robust loss)")
    p.add_argument("--task", choices=["centred", "detection"], help="centred windows or long-video detection")
    p.add_argument("--backbone", choices=BACKBONE_CHOICES,
                   help="CNN on the spacetime images (default none: their motion statistics only)")
    p.add_argument("--frozen", action="store_true", help="fix the pretrained trunk; train only the head and RNN")
    p.add_argument("--weights", help="alexnet: local ImageNet weights file (torchvision layout)")
    p.add_argument("--size", type=_size, help="frame size WxH given to the CNN")
    p.add_argument("--no-rnn", action="store_true", help="ablation: hidden state zeroed between steps")
    p.add_argument("--no-spacetime", action="store_true", help="ablation: colour frames instead of spacetime")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--threads", type=int, help="torch threads per process")
    p.add_argument("--cache", type=Path, help="feature cache folder")
    p.add_argument("--workers", type=int, default=1, help="processes for feature preparation")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--init", help="start the CNN from another run's weights (e.g. a centred model for detection)")
    _device_option(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", help="put predicted impact sound on a video")
    p.add_argument("video", type=Path, help="any video PyAV reads (any rate, size, length; sound optional)")
    p.add_argument("--model", type=Path, required=True, help="run folder written by `vis train`")
    p.add_argument("-o", "--output", type=Path, required=True,
                   help="output .mp4, .m4v, .mov or .mkv (video copied, sound replaced)")
    p.add_argument("--method", choices=["example", "parametric"], default="example",
                   help="example-based (default) or parametric synthesis (paper Sec. 5.2)")
    p.add_argument("--wav", type=Path, help="also write the predicted sound (.wav or .flac)")
    p.add_argument("--png", type=Path, help="also write the predicted cochleagram (above the original's)")
    _strict_option(p)
    _device_option(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", help="the paper's experiments on the test split: metrics, tables, figures")
    _dataset_options(p)
    p.add_argument("--model", type=Path, required=True, help="run folder of the full system")
    p.add_argument("--out", type=Path, default=Path("report"), help="report folder (default: report)")
    p.add_argument("--methods", help="comma-separated methods (default: all; see vis/evaluate.py)")
    p.add_argument("--compare", action="append", metavar="NAME=RUN",
                   help="another trained run to compare, e.g. no-rnn=runs/no-rnn (repeatable)")
    p.add_argument("--detection", action="append", metavar="NAME=RUN",
                   help="a detection run to score on full videos, e.g. rgb-only=runs/det-rgb (repeatable)")
    p.add_argument("--cache", type=Path, help="feature cache folder")
    _device_option(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("demo", help="synthesize data, train, predict held-out videos, write a report")
    p.add_argument("--out", type=Path, default=Path("demo-out"), help="output folder (default demo-out)")
    p.add_argument("--workers", type=int, default=2, help="processes for data synthesis")
    _device_option(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("serve", help="web demo (upload a video, get it back with sound) and listening studies")
    p.add_argument("--model", type=Path, help="run folder loaded once for the demo page and for new studies")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--data", type=Path, help="dataset whose test split studies made on the admin page use")
    p.add_argument("--studies", type=Path, default=Path("studies"), help="folder of study folders (default studies)")
    _device_option(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("study", help="listening studies (paper Sec. 6.2): create one, read its results")
    study = p.add_subparsers(dest="study_command", required=True, metavar="ACTION")
    p = study.add_parser("create", help="impact-centred clips with real and predicted sound from DATA's test split")
    p.add_argument("data", type=Path, help="Greatest Hits folder with a test split")
    p.add_argument("--model", type=Path, required=True, help="run folder (a detection model makes sound for clips)")
    p.add_argument("--out", type=Path, required=True, help="new study folder (its name is the study's id)")
    p.add_argument("--methods", help="comma-separated: example, parametric (default both)")
    p.add_argument("--trials", type=int, default=20, help="scored trials per participant (default 20; at most "
                   "one per test video after the practice ones)")
    p.add_argument("--practice", type=int, default=5, help="practice trials with the answer shown (default 5)")
    p.add_argument("--per-video", type=int, default=15, help="impacts sampled per test video (default 15)")
    p.add_argument("--clip", type=float, default=2.0, help="clip length in seconds, centred on the impact (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling and of the left/right order")
    p.add_argument("--match-level", action="store_true", help="scale each predicted sound to the real sound's "
                   "RMS, so that loudness alone does not give it away")
    _device_option(p)
    p.set_defaults(func=cmd_study_create)
    p = study.add_parser("results", help="rate each method was chosen as real, with 95 %% Wilson intervals")
    p.add_argument("study", type=Path, help="study folder")
    p.add_argument("--csv", type=Path, help="also write one row per answer")
    p.set_defaults(func=cmd_study_results)
    return parser


def _terminate(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    def show_warning(message, category, filename, lineno, file=None, line=None):
        hint = "; --strict makes this an error" if issubclass(category, ShortMedia) else ""
        _say(f"vis: warning: {message}{hint}")

    warnings.showwarning = show_warning
    if getattr(args, "strict", False):
        warnings.simplefilter("error", ShortMedia)
    if threading.current_thread() is threading.main_thread():  # SIGTERM ends a command as Ctrl-C does
        signal.signal(signal.SIGTERM, _terminate)
    # what this command creates, removed again if it fails (a run folder with a state to resume is kept)
    created = [Path(p) for p in (getattr(args, k, None) for k in ("out", "output", "wav", "png"))
               if p is not None and not os.path.lexists(p)]
    code = 2
    try:
        code = args.func(args)
        return code
    except Interrupted as e:
        code = 130
        _say(f"vis: interrupted: {e}", end_bars=True)
        return 130
    except (VisError, ShortMedia) as e:
        _say(f"vis: error: {e}", end_bars=True)
        return 2
    except KeyboardInterrupt:
        code = 130
        _say(f"vis: interrupted{RESUMABLE.get(args.command, '')}", end_bars=True)
        return 130
    except OSError as e:  # a full disk, a permission, a path that is a folder: one line, not a traceback
        _say(f"vis: error: {e.filename or ''}: {e.strerror or e}", end_bars=True)
        return 2
    finally:
        if code not in (0, 1):
            _remove_created(created)


def _remove_created(paths: list[Path]) -> None:
    """Remove what a failed command created: its output files, and its folders that hold no file."""
    for p in paths:
        if p.is_file() or p.is_symlink():
            p.unlink(missing_ok=True)
        elif p.is_dir() and not any(f.is_file() for f in p.rglob("*")):
            shutil.rmtree(p, ignore_errors=True)


# What Ctrl-C (or SIGTERM) keeps, by command; training says it itself (vis.errors.Interrupted).
RESUMABLE = {
    "synth": ": the finished videos are kept; the same command again makes the rest",
    "prepare": ": the cached videos are kept; the same command again prepares the rest",
    "train": ": the prepared inputs are kept; the same command again goes on from them",
    "demo": ": the finished steps are kept; the same command again goes on from them",
}


def _say(line: str, *, end_bars: bool = False) -> None:
    """Print a message on its own line of stderr, even while a progress bar is showing; ``end_bars``
    closes the bars first (the command is over)."""
    from tqdm import tqdm

    if end_bars:
        for bar in list(getattr(tqdm, "_instances", ())):
            bar.close()
    tqdm.write(line, file=sys.stderr)
