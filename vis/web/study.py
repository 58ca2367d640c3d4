"""Listening studies after the paper's Sec. 6.2: real or fake?

``vis study create DATA --model RUN --out STUDY`` samples impact-centred clips from DATA's test split (up to
PER_VIDEO annotated impacts per video, each clip CLIP_S long and centred on the impact), and for each clip
writes the same silent frames with the real sound and with each method's predicted sound (the model runs
on the clip's frames alone), as mp4 files in ``STUDY/clips/``. Which side (left or right) plays the real
sound is drawn once per clip and method and stored. ``STUDY/study.json`` is the manifest; ``STUDY/study.db``
(:mod:`vis.web.store`) receives participants and answers.

Each participant (:func:`assign_trials`) sees at most one impact from each video: the videos are shuffled,
one clip is drawn from each and a method is drawn for it at random. The first ``practice`` trials (5, as in
the paper) reveal the answer and are left out of the results.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vis.config import SOUND_METHODS
from vis.errors import VisError
from vis.web.store import Store

CLIP_S = 2.0  # each clip: 2 s of video centred on an annotated impact
PER_VIDEO = 15  # at most 15 impacts sampled per full-length video (paper Sec. 6.2)
PRACTICE = 5  # the first 5 trials are practice, with the answer revealed (paper Sec. 6.2)
TRIALS = 20  # scored trials per participant, unless the study has fewer videos
SIDES = ("left", "right")
MANIFEST = "study.json"
DATABASE = "study.db"
STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # a study id is its folder's name
MANIFEST_VERSION = 1


def study_id(folder: str | os.PathLike) -> str:
    """The id of a study folder (its name), checked to be safe in URLs and paths."""
    name = Path(folder).resolve().name
    if not STUDY_NAME.match(name):
        raise VisError(f"{folder}: a study folder's name must be letters, digits, '.', '_' or '-' "
                       "(at most 64), starting with a letter or digit")
    return name


def load_manifest(folder: str | os.PathLike) -> dict:
    """``FOLDER/study.json``, checked enough that serving it cannot fail later."""
    path = Path(folder) / MANIFEST
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VisError(f"{path}: no such file (not a study folder; make one with `vis study create`)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise VisError(f"{path}: cannot read the study manifest ({e})") from None
    if not isinstance(m, dict) or m.get("version") != MANIFEST_VERSION:
        raise VisError(f"{path}: not a version-{MANIFEST_VERSION} study manifest")
    for key in ("methods", "clips", "practice", "trials"):
        if key not in m:
            raise VisError(f"{path}: the manifest has no {key!r}")
    for c in m["clips"]:
        if set(c.get("sounds", {})) != set(m["methods"]) or set(c.get("real_side", {})) != set(m["methods"]):
            raise VisError(f"{path}: clip {c.get('id')!r} lacks a sound or a side for some method")
        for f in [c.get("real", "")] + list(c["sounds"].values()):
            if not f or Path(f).is_absolute() or ".." in Path(f).parts:  # served files stay inside the study
                raise VisError(f"{path}: clip {c.get('id')!r}: {f!r} is not a path inside the study folder")
    return m


def trials_per_participant(manifest: dict) -> int:
    """How many trials (practice included) one participant gets: one per video, at most practice + trials."""
    n_videos = len({c["video"] for c in manifest["clips"]})
    return min(n_videos, manifest["practice"] + manifest["trials"])


def assign_trials(manifest: dict, rng: random.Random) -> list[dict]:
    """One participant's trials: ``{"clip", "method", "practice", "real_side"}`` each, at most one clip per
    video, the method drawn at random per video, the side of the real sound drawn per trial (so that what one
    participant learns of a clip tells another nothing); the first ``practice`` are practice trials."""
    by_video: dict[str, list[str]] = {}
    for c in manifest["clips"]:
        by_video.setdefault(c["video"], []).append(c["id"])
    videos = sorted(by_video)
    rng.shuffle(videos)
    n = trials_per_participant(manifest)
    return [{"clip": rng.choice(by_video[v]), "method": rng.choice(manifest["methods"]),
             "practice": i < manifest["practice"], "real_side": rng.choice(SIDES)} for i, v in enumerate(videos[:n])]


def real_side_of(trial: dict, clip: dict) -> str:
    """Where the real sound is in a participant's trial (drawn per trial; sessions from before that was so
    keep the side the study drew per clip and method)."""
    return trial.get("real_side") or clip["real_side"][trial["method"]]


def new_study(out: str | os.PathLike, clips: list[dict], *, methods: list[str], trials: int = TRIALS,
              practice: int = PRACTICE, seed: int = 0, clip_s: float = CLIP_S, about: dict | None = None,
              sid: str | None = None) -> dict:
    """Write ``OUT/study.json`` for ``clips`` (each ``{"id", "video", "time", "material", "action",
    "real", "sounds": {method: file}}``, files relative to OUT) and create ``OUT/study.db``. The side of
    the real sound is drawn here, per clip and method, from ``seed``. ``sid``: the study's id (default: the
    folder's name). Returns the manifest."""
    out = Path(out)
    rng = random.Random(seed)
    for c in clips:
        c["real_side"] = {m: rng.choice(SIDES) for m in methods}
    manifest = {"version": MANIFEST_VERSION, "id": sid or study_id(out), "created": time.time(),
                "methods": list(methods), "practice": practice, "trials": trials, "seed": seed, "clip_s": clip_s,
                **(about or {}), "clips": clips}
    tmp = out / f".{MANIFEST}.{os.getpid()}"
    tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    os.replace(tmp, out / MANIFEST)  # a manifest is there whole or not at all
    Store(out / DATABASE)
    return manifest


def create_study(data: str | os.PathLike, model, out: str | os.PathLike, *, methods: list[str] | None = None,
                 trials: int = TRIALS, practice: int = PRACTICE, seed: int = 0, clip_s: float = CLIP_S,
                 per_video: int = PER_VIDEO, match_level: bool = False, device: str = "cpu",
                 progress: bool = True) -> dict:
    """Build a study folder ``out`` from ``data``'s test split with ``model`` (a run folder, or a loaded
    :class:`vis.sound.predict.Predictor`). ``match_level``: scale each predicted sound to the RMS of the real one
    (:func:`vis.web.sounds.clip_sounds`). The folder is made under a temporary name and renamed when
    complete. Returns the manifest."""
    from vis.web.sounds import clip_sounds, load_predictor, open_dataset

    out = Path(out)
    study_id(out)
    methods = list(methods or SOUND_METHODS)
    unknown = [m for m in methods if m not in SOUND_METHODS]
    if unknown or not methods or len(set(methods)) != len(methods):
        raise VisError(f"--methods {','.join(methods)}: give distinct methods among {', '.join(SOUND_METHODS)}")
    if trials < 1 or practice < 0 or clip_s <= 0 or per_video < 1:
        raise VisError("--trials and --per-video must be at least 1, --practice at least 0, --clip positive")
    if out.exists():
        raise VisError(f"{out}: already exists (give a new study folder)")
    if not out.resolve().parent.is_dir():
        raise VisError(f"{out.parent}: output folder does not exist")
    ds = open_dataset(data)
    test = ds.split("test")
    if not test:
        raise VisError(f"{ds.root}: the test split is empty")
    predictor = load_predictor(model, device=device) if isinstance(model, (str, os.PathLike)) else model
    rng = np.random.default_rng(seed)
    building = out.with_name(f".{out.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    (building / "clips").mkdir(parents=True)
    clips: list[dict] = []
    try:
        for vid in tqdm(test, desc="study clips", unit="video", disable=not progress):
            clips += clip_sounds(ds, vid, predictor, building / "clips", methods=methods, clip_s=clip_s,
                                 per_video=per_video, rng=rng, first=len(clips), match_level=match_level)
        if not clips:
            raise VisError(f"{ds.root}: no annotated impact in the test split has {clip_s:g} s of video around it")
        about = {"data": str(ds.root), "model": str(model) if isinstance(model, (str, os.PathLike)) else "",
                 "per_video": per_video, "match_level": match_level}
        manifest = new_study(building, clips, methods=methods, trials=trials, practice=practice, seed=seed,
                             clip_s=clip_s, about=about, sid=study_id(out))
        os.replace(building, out)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return manifest
