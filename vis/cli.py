"""The ``vis`` command: a thin shell over the library.

Each subcommand parses its options and calls one library function. Problems with the user's input
arrive as :class:`vis.errors.VisError` and are printed as one line, ``vis: error: ...``, with exit
status 2 and no traceback. Heavy libraries are imported inside the commands, so ``vis --help`` is fast.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import threading
import warnings
from pathlib import Path

from tqdm import tqdm

from vis.audio import SOUND_METHODS
from vis.commands import (
    OUTPUTS,
    check_args,
    cmd_cochleagram,
    cmd_demo,
    cmd_evaluate,
    cmd_info,
    cmd_onsets,
    cmd_predict,
    cmd_prepare,
    cmd_serve,
    cmd_study_create,
    cmd_study_results,
    cmd_synth,
    cmd_train,
)
from vis.data.paths import user_path, user_text
from vis.errors import Interrupted, ShortMedia, VisError
from vis.web.guard import LIMITS

BACKBONE_CHOICES = ["none", "small", "alexnet", "efficientnet-lite0"]  # vis.config.BACKBONES (kept out: fast --help)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WIDTHxHEIGHT (e.g. 456x256)") from None
    return w, h


def _path(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path")
    return Path(text)


def _name(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty name")
    return text


class _Parser(argparse.ArgumentParser):
    """argparse with the project's refusal: one line ``vis: error: ...``, exit status 2 (not a usage block)."""

    def error(self, message: str):
        self.exit(2, f"vis: error: {message} (see `{self.prog} --help`)\n")


def _dataset_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", type=_path, help="Greatest Hits folder (real or from `vis synth`)")
    p.add_argument("--video", default="denoised", choices=["denoised", "thumb", "mic"],
                   help="which mp4 gives the frames (default: denoised)")
    p.add_argument("--audio", default="denoised", choices=["denoised", "mic", "video"],
                   help="which wav gives the sound, or video: the frames' file's own track (default: denoised)")
    p.add_argument("--split", type=_name, help="folder with train.txt/test.txt, or condfoleygen / syncfusion "
                   "(default: DATA/train.txt and test.txt, else a seeded 75/25 split)")
    p.add_argument("--seed", type=int, help="seed of the 75/25 split when the data has none (default 0); "
                   "for vis train also the training seed (default: the config's)")
    p.add_argument("--skip-broken", action="store_true", help="warn about and skip ids with missing files")
    _strict_option(p)


def _strict_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strict", action="store_true", help="a media file shorter than its header declares "
                   "(truncated or damaged) is an error, not a warning")


def _device_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", type=_name, default="auto", help="auto (CUDA when present, else the CPU), cpu, cuda, "
                   "cuda:N or mps; mixed precision (bf16) on CUDA")


# ---------------------------------------------------------------------------------------------- commands


# ---------------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    from vis import __version__

    parser = _Parser(prog="vis", description="Predict impact sounds from silent video "
                                     "(Owens et al., Visually Indicated Sounds, CVPR 2016).")
    parser.add_argument("--version", action="version", version=f"vis {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="summarize a Greatest Hits folder")
    _dataset_options(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON (keys in docs/architecture.md)")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("synth", help="write a synthetic dataset in the Greatest Hits layout")
    p.add_argument("out", type=_path, help="output folder (created)")
    p.add_argument("--videos", type=int, help="number of videos (default 24; with --real-schedules 977)")
    p.add_argument("--real-schedules", action="store_true",
                   help="video i follows the real dataset's schedule i: the real dataset's shape (977 videos)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each video in seconds (default 10)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    p.add_argument("--size", type=_size, default=(456, 256), help="frame size WxH (default 456x256)")
    p.add_argument("--materials", help="comma-separated materials to use (default: all 17)")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.add_argument("--knob", action="append", metavar="NAME=VALUE",
                   help="difficulty knob, e.g. sound_variation=3 (repeatable; names and defaults: vis/synth/knobs.py)")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("cochleagram", help="compute the 42-band cochleagram of a wav or video")
    p.add_argument("input", type=_path, help="wav file or video with an audio track")
    p.add_argument("-o", "--output", type=_path, required=True, help="output .npy, float32 [T, 42], ~90 Hz")
    p.add_argument("--png", type=_path, help="also write a figure (time in s, band centres in Hz)")
    _strict_option(p)
    p.set_defaults(func=cmd_cochleagram)

    p = sub.add_parser("onsets", help="detect impact onsets in a wav or video (paper Sec. 3), "
                       "or score the detector on a dataset folder")
    p.add_argument("input", type=_path, help="wav file or video with an audio track; or a Greatest Hits "
                   "folder: precision / recall / F1 per action against its annotated times")
    p.add_argument("--json", action="store_true", help="print JSON instead of 'time<TAB>amplitude' lines")
    p.add_argument("--audio", default="denoised", choices=["denoised", "mic", "video"],
                   help="dataset folder: which wav gives the sound, or video: its own track (default: denoised)")
    p.add_argument("--skip-broken", action="store_true", help="dataset folder: skip ids with missing files")
    _strict_option(p)
    p.set_defaults(video="denoised", split=None, seed=0)  # a dataset is scored whole: every id, every event
    p.set_defaults(func=cmd_onsets)

    p = sub.add_parser("prepare", help="compute and cache per-video features (cochleagram, onsets, frames)")
    _dataset_options(p)
    p.add_argument("--cache", type=_path, help="cache folder (default: $VIS_CACHE or ~/.cache/vis, per dataset)")
    p.add_argument("--backbone", default="none", choices=BACKBONE_CHOICES,
                   help="store frames at this backbone's default size")
    p.add_argument("--size", type=_size, help="store frames at WxH instead")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.add_argument("--frame-store", choices=["raw", "jpeg"], default="raw",
                   help="frames as exact uint8 (default) or JPEG (about a tenth of the disk; see docs/results.md)")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("train", help="train the video-to-sound network")
    _dataset_options(p)
    p.add_argument("--out", type=_path, required=True, help="run folder (model.pt, log.jsonl, config.toml)")
    p.add_argument("--config", type=_path, help="TOML with [model] and [train] tables (defaults: vis/config.py)")
    p.add_argument("--preset", type=_name, help="a shipped configuration applied before --config: paper (the "
                   "paper's exact recipe: AlexNet, three-frame spacetime images, robust loss)")
    p.add_argument("--task", choices=["centred", "detection"], help="centred windows or long-video detection")
    p.add_argument("--backbone", choices=BACKBONE_CHOICES,
                   help="CNN on the spacetime images (default none: their motion statistics only)")
    p.add_argument("--frozen", action="store_true", help="fix the pretrained trunk; train only the head and RNN")
    p.add_argument("--weights", type=_name, help="alexnet: local ImageNet weights file (torchvision layout)")
    p.add_argument("--size", type=_size, help="frame size WxH given to the CNN")
    p.add_argument("--no-rnn", action="store_true", help="ablation: hidden state zeroed between steps")
    p.add_argument("--no-spacetime", action="store_true", help="ablation: colour frames instead of spacetime")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--threads", type=int, help="torch threads per process")
    p.add_argument("--loader-workers", type=int, help="DataLoader processes reading batches ahead (default 2)")
    p.add_argument("--cache", type=_path, help="feature cache folder")
    p.add_argument("--workers", type=int, default=1, help="processes for feature preparation")
    p.add_argument("--frame-store", choices=["raw", "jpeg"], help="how prepared frames are stored (default raw)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--init", type=_name,
                   help="start the CNN from another run's weights (e.g. a centred model for detection)")
    p.add_argument("--start", type=_name,
                   help="start the whole network from another run's (e.g. one trained on vis synth data)")
    _device_option(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", help="put predicted impact sound on a video")
    p.add_argument("video", type=_path, help="any video PyAV reads (any rate, size, length; sound optional)")
    p.add_argument("--model", type=_path,
                   help="run folder written by `vis train` (default: the model shipped with vis)")
    p.add_argument("-o", "--output", type=_path, required=True,
                   help="output .mp4, .m4v, .mov or .mkv (video copied, sound replaced)")
    p.add_argument("--method", choices=SOUND_METHODS, default=SOUND_METHODS[0],
                   help="example-based (default) or parametric synthesis (paper Sec. 5.2)")
    p.add_argument("--wav", type=_path, help="also write the predicted sound (.wav or .flac)")
    p.add_argument("--png", type=_path, help="also write the predicted cochleagram (above the original's)")
    p.add_argument("--threshold", type=float, help="the impact detector's probability threshold (default: the "
                   "one fitted in training, the low-rate detector's for video under 20 fps; lower finds fainter "
                   "impacts)")
    _strict_option(p)
    _device_option(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("evaluate", help="the paper's experiments on the test split: metrics, tables, figures")
    _dataset_options(p)
    p.add_argument("--model", type=_path, required=True, help="run folder of the full system")
    p.add_argument("--out", type=_path, default=Path("report"), help="report folder (default: report)")
    p.add_argument("--methods", help="comma-separated methods (default: all; see vis/eval/evaluate.py)")
    p.add_argument("--compare", action="append", metavar="NAME=RUN",
                   help="another trained run to compare, e.g. no-rnn=runs/no-rnn (repeatable)")
    p.add_argument("--detection", action="append", metavar="NAME=RUN",
                   help="a detection run to score on full videos, e.g. rgb-only=runs/det-rgb (repeatable)")
    p.add_argument("--cache", type=_path, help="feature cache folder")
    p.add_argument("--study", type=_path, help="a human study's results (STUDY/results.json, or a JSON method -> "
                   "'chosen as real' rate, or a CSV method,chosen_real) set beside the automated proxy")
    _device_option(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("demo", help="synthesize data, train, predict held-out videos, write a report")
    p.add_argument("--out", type=_path, default=Path("demo-out"), help="output folder (default demo-out)")
    p.add_argument("--workers", type=int, default=2, help="processes for data synthesis")
    _device_option(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("serve", help="web demo (upload a video, get it back with sound) and listening studies")
    p.add_argument("--model", type=_path, help="run folder loaded once for the demo page and for new studies "
                                               "(default: the model shipped with vis)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--allowed-host", action="append", type=_name, metavar="NAME",
                   help="another Host name to answer to, e.g. behind a proxy (repeatable; on 0.0.0.0 without it: any)")
    p.add_argument("--join-limit", type=int, default=LIMITS["join"][0], help="study joins a minute per client "
                   f"address (default {LIMITS['join'][0]}; more are refused with 429)")
    p.add_argument("--upload-limit", type=int, default=LIMITS["upload"][0], help="demo uploads a minute per "
                   f"client address (default {LIMITS['upload'][0]})")
    p.add_argument("--data", type=_path, help="dataset whose test split studies made on the admin page use")
    p.add_argument("--studies", type=_path, default=Path("studies"), help="folder of study folders (default studies)")
    _device_option(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("study", help="listening studies (paper Sec. 6.2): create one, read its results")
    study = p.add_subparsers(dest="study_command", required=True, metavar="ACTION")
    p = study.add_parser("create", help="impact-centred clips with real and predicted sound from DATA's test split")
    p.add_argument("data", type=_path, help="Greatest Hits folder with a test split")
    p.add_argument("--model", type=_path, required=True, help="run folder (a detection model makes sound for clips)")
    p.add_argument("--out", type=_path, required=True, help="new study folder (its name is the study's id)")
    p.add_argument("--methods", help="comma-separated: example, parametric (default both)")
    p.add_argument("--trials", type=int, help="scored trials per participant (default 20; at most "
                   "one per test video after the practice ones)")
    p.add_argument("--practice", type=int, help="practice trials with the answer shown (default 5)")
    p.add_argument("--per-video", type=int, help="impacts sampled per test video (default 15)")
    p.add_argument("--clip", type=float, help="clip length in seconds, centred on the impact (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling and of the left/right order")
    p.add_argument("--match-level", action="store_true", help="scale each predicted sound to the real sound's "
                   "RMS, so that loudness alone does not give it away")
    _device_option(p)
    p.set_defaults(func=cmd_study_create)
    p = study.add_parser("results", help="rate each method was chosen as real, with 95 %% Wilson intervals")
    p.add_argument("study", type=_path, help="study folder")
    p.add_argument("--csv", type=_path, help="also write one row per answer")
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
    created = [Path(p) for p in (getattr(args, k, None) for k in (*OUTPUTS, "cache"))
               if p is not None and not os.path.lexists(p)]
    code = 2
    try:
        check_args(args)
        code = args.func(args)
        return code
    except Interrupted as e:
        code = 130
        _say(f"vis: interrupted: {e}", end_bars=True)
        return 130
    except (VisError, ShortMedia) as e:
        _say(f"vis: error: {user_text(str(e))}", end_bars=True)
        return 2
    except KeyboardInterrupt:
        code = 130
        _say(f"vis: interrupted{RESUMABLE.get(args.command, '')}", end_bars=True)
        return 130
    except BrokenPipeError:  # the reader of stdout left (`vis onsets x.wav | head -1`): end quietly, as Unix tools do
        code = 141
        _silence_stdout()
        return 141
    except OSError as e:  # a full disk, a permission, a path that is a folder: one line, not a traceback
        where = user_path(e.filename) if e.filename else next(
            (str(getattr(args, k)) for k in OUTPUTS if getattr(args, k, None) is not None), f"vis {args.command}")
        _say(f"vis: error: {where}: {e.strerror or e}", end_bars=True)
        return 2
    finally:
        if code not in (0, 1, 141):
            _remove_created(created, keep_if=_keep_if(args.command))


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that Python's own flush at exit does not fail on the closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (kept open until the process ends)


def _remove_created(paths: list[Path], *, keep_if: str | None = None) -> None:
    """Remove what a failed command created: its output files, and its folders that hold no file (or, with
    ``keep_if``, no file of that name: a run folder without a state to resume from is removed whole)."""
    for p in paths:
        if p.is_file() or p.is_symlink():
            p.unlink(missing_ok=True)
        elif p.is_dir() and not any(f.is_file() and (keep_if is None or f.name == keep_if) for f in p.rglob("*")):
            shutil.rmtree(p, ignore_errors=True)


def _keep_if(command: str) -> str | None:
    """A run folder that ``vis train`` created is kept only with a state that --resume goes on from."""
    if command != "train":
        return None
    from vis.model.run import RunDir  # here, on this error path: the CLI's --help stays free of torch

    return RunDir.STATE


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
    if end_bars:
        for bar in list(getattr(tqdm, "_instances", ())):
            bar.close()
    tqdm.write(line, file=sys.stderr)
