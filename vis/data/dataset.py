"""The Greatest Hits dataset on disk: discovery, splits and annotations.

Layout (the released ``vis-data`` and ``vis-data-256`` archives; ``vis synth`` writes the same)::

    DATA/ID_denoised.mp4  ID_denoised.wav  ID_denoised_thumb.mp4  ID_mic.mp4  ID_mic.wav  ID_times.txt
    DATA/train.txt  DATA/test.txt        (bare ids, one a line)

The id is the file name before the first ``_`` (``2015-02-16-16-49-06``, ``2015-09-29-15-17-35-761``).
Each line of ``ID_times.txt`` is ``time material action reaction``; ``None`` stands for a missing label.
Label vocabularies are taken from the data; the constants below are the paper's, for ordering and for
the hard/soft grouping.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vis.data.io import atomic_output
from vis.data.media import probe
from vis.data.paths import read_text
from vis.errors import ShortMedia, VisError

MATERIALS = ("wood", "metal", "dirt", "rock", "leaf", "plastic", "cloth", "paper", "grass", "water",
             "drywall", "gravel", "plastic-bag", "ceramic", "tile", "carpet", "glass")
ACTIONS = ("hit", "scratch")
REACTIONS = ("static", "rigid-motion", "deformation", "scatter", "splash", "other")  # paper Fig. 2
HARD = ("gravel", "rock", "tile", "wood", "ceramic", "plastic", "drywall", "glass", "metal")  # paper 6.3
SOFT = ("leaf", "grass", "cloth", "plastic-bag", "carpet")

# The six files of an id, by the name used in options and in `vis info`.
SUFFIXES = {
    "denoised.mp4": "_denoised.mp4",
    "denoised.wav": "_denoised.wav",
    "thumb.mp4": "_denoised_thumb.mp4",
    "mic.mp4": "_mic.mp4",
    "mic.wav": "_mic.wav",
    "times.txt": "_times.txt",
}
VIDEO_CHOICES = {"denoised": "denoised.mp4", "thumb": "thumb.mp4", "mic": "mic.mp4"}
AUDIO_CHOICES = {"denoised": "denoised.wav", "mic": "mic.wav", "video": None}  # video: the frames' file's own track
TEST_FRACTION = 0.25  # the paper's 75/25 video-level split (Sec. 6.1), used when the data has none
NAMED_SPLITS = ("condfoleygen", "syncfusion")  # later work's splits, shipped in vis/splits/


@dataclass(frozen=True)
class Event:
    """One annotated action. ``time`` in seconds; labels are None where the annotator gave none."""

    time: float
    material: str | None = None
    action: str | None = None
    reaction: str | None = None

    def label(self, kind: str) -> str | None:
        """The label of ``kind`` (``material``, ``action``, ``reaction`` or ``hardness``)."""
        if kind == "hardness":
            return "hard" if self.material in HARD else "soft" if self.material in SOFT else None
        return getattr(self, kind)


def _label(word: str) -> str | None:
    return None if word == "None" else word


def read_times(path: str | os.PathLike, *, duration: float | None = None) -> list[Event]:
    """Parse an ``ID_times.txt`` file, sorted by time.

    Tolerates extra whitespace, blank lines and unsorted lines. A line has a time followed by up to
    three labels (missing trailing labels read as None). Anything else raises VisError naming file:line.
    With the recording's ``duration`` (s), times past its end are checked: see :func:`_check_end`.
    """
    path = Path(path)
    text = read_text(path, what="annotation file")
    events = []
    for n, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if not words:
            continue
        if len(words) > 4:
            raise VisError(f"{path}:{n}: expected 'time material action reaction', got {len(words)} fields")
        try:
            t = float(words[0])
        except ValueError:
            raise VisError(f"{path}:{n}: time {words[0]!r} is not a number") from None
        if not math.isfinite(t) or t < 0:
            raise VisError(f"{path}:{n}: time {words[0]} must be a finite number >= 0")
        labels = [_label(w) for w in words[1:]] + [None] * (4 - len(words))
        events.append((Event(t, *labels), n))
    events.sort(key=lambda e: e[0].time)
    if duration is not None and duration > 0:
        events = _check_end(path, events, duration)
    return [e for e, _ in events]


END_SLACK_S = 0.5  # annotations may run this far past the end of the recording (its streams differ a little)


def _check_end(path: Path, events: list[tuple[Event, int]], duration: float) -> list[tuple[Event, int]]:
    """Events past the recording's end: an error (FILE:LINE) when most are (saying so when the times look like
    milliseconds: divided by 1000, they spread over the recording); else those few are left out with a
    warning (:class:`vis.errors.ShortMedia`, so that ``--strict`` refuses them and the cache repeats it)."""
    past = [(e, n) for e, n in events if e.time > duration + END_SLACK_S]
    if not past:
        return events
    e, n = past[0]
    where = f"{path}:{n}: time {e.time:g} s is past the end of the recording ({duration:.2f} s)"
    ms = [x.time / 1000 for x, _ in events]
    if 2 * len(past) > len(events) and max(ms) <= duration + END_SLACK_S and max(ms) > duration / 4:
        raise VisError(f"{where}; the times look like milliseconds (they must be seconds)")
    if 2 * len(past) > len(events):
        raise VisError(f"{where}, as are {len(past)} of its {len(events)} events (times must be seconds on the "
                       "clock of the video)")
    warnings.warn(ShortMedia(f"{where}: {len(past)} of its {len(events)} events past the end "
                             f"{'is' if len(past) == 1 else 'are'} left out"), stacklevel=3)
    return [(e, n) for e, n in events if e.time <= duration + END_SLACK_S]


def write_times(path: str | os.PathLike, events: list[Event]) -> None:
    """Write events in the dataset's format (``%.6f material action reaction``), atomically."""
    lines = [f"{e.time:.6f} {e.material or 'None'} {e.action or 'None'} {e.reaction or 'None'}\n"
             for e in sorted(events, key=lambda e: e.time)]
    with atomic_output(path) as tmp:
        tmp.write_text("".join(lines), encoding="utf-8")


def discover(root: str | os.PathLike) -> dict[str, dict[str, Path]]:
    """Map each video id found in ``root`` to its files, by name (``denoised.mp4``, ``times.txt``...)."""
    root = Path(root)
    if not root.is_dir():
        raise VisError(f"{root}: not a folder")
    ids: dict[str, dict[str, Path]] = {}
    for p in sorted(root.iterdir()):
        if "_" not in p.name or p.name.startswith("."):
            continue
        vid, rest = p.name.split("_", 1)
        for kind, suffix in SUFFIXES.items():
            if "_" + rest == suffix:
                ids.setdefault(vid, {})[kind] = p
    return ids


def _read_id_list(path: Path, known: set[str], repeats: list[str]) -> dict[str, int]:
    """The ids of a split file, each with its line; an id listed twice is counted once (said in ``repeats``)."""
    ids: dict[str, int] = {}
    for n, line in enumerate(read_text(path, what="split file").splitlines(), start=1):
        words = line.split()
        if not words:
            continue
        if len(words) != 1 or "_" in words[0]:
            raise VisError(f"{path}:{n}: expected one bare video id, got {line.strip()!r}")
        if known and words[0] not in known:
            raise VisError(f"{path}:{n}: unknown video id {words[0]!r} (not in the data folder)")
        if words[0] in ids:
            repeats.append(f"{path}:{n}: video id {words[0]!r} is listed twice (first on line {ids[words[0]]}); "
                           "counted once")
            continue
        ids[words[0]] = n
    return ids


def _check_disjoint(lists: dict[str, tuple[Path, dict[str, int]]]) -> None:
    """Refuse a video id in train and in test or val (test scores would be inflated): FILE:LINE. A val split
    may be the test split (model selection on it is the user's choice)."""
    names = list(lists)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if "train" not in (a, b):
                continue
            (pa, ia), (pb, ib) = lists[a], lists[b]
            both = [v for v in ib if v in ia]
            if both:
                v = min(both, key=lambda x: ib[x])
                raise VisError(f"{pb}:{ib[v]}: video id {v!r} is also in the {a} split ({pa}:{ia[v]}); a video "
                               f"belongs to one split only" + (" (test scores would be inflated)" if "test" in (a, b)
                                                                else ""))


def _split_files(spec: str | os.PathLike, root: Path) -> dict[str, Path]:
    """Where the split lists are: a folder with train.txt/test.txt (val.txt), or a named shipped split."""
    if str(spec) in NAMED_SPLITS:
        base = resources.files("vis") / "splits"
        out = {}
        for split, name in (("train", "train"), ("val", "val"), ("test", "test")):
            f = base / f"{spec}_{name}.txt"
            if f.is_file():
                out[split] = Path(str(f))
        return out
    spec = Path(spec)
    if not spec.exists():
        raise VisError(f"{spec}: split folder not found (or use one of {', '.join(NAMED_SPLITS)})")
    if not spec.is_dir() and spec.name not in ("train.txt", "test.txt", "val.txt", "valid.txt"):
        raise VisError(f"{spec}: not a split folder (give the folder holding train.txt and test.txt, or one of "
                       f"{', '.join(NAMED_SPLITS)})")
    folder = spec if spec.is_dir() else spec.parent
    out = {}
    for split, names in (("train", ["train.txt"]), ("val", ["val.txt", "valid.txt"]), ("test", ["test.txt"])):
        for name in names:
            if (folder / name).is_file():
                out[split] = folder / name
                break
    if "train" not in out or "test" not in out:
        raise VisError(f"{folder}: a split folder needs train.txt and test.txt")
    return out


def random_split(ids: list[str], *, seed: int = 0, test_fraction: float = TEST_FRACTION) -> dict[str, list[str]]:
    """A seeded video-level split: ``test_fraction`` of the ids (at least one if there are two) to test."""
    ids = sorted(ids)
    order = np.random.default_rng(seed).permutation(len(ids))
    n_test = min(max(1 if len(ids) > 1 else 0, round(len(ids) * test_fraction)), len(ids) - 1)
    test = sorted(ids[i] for i in order[:n_test])
    return {"train": sorted(set(ids) - set(test)), "test": test}


@dataclass
class Dataset:
    """A Greatest Hits folder: its ids, their files, and the train/test split.

    Use :meth:`open`; ``video`` picks the frames (``denoised``: ``_denoised.mp4``; ``thumb``:
    ``_denoised_thumb.mp4``; ``mic``: ``_mic.mp4``) and ``audio`` the sound (``denoised`` or ``mic`` wav).
    """

    root: Path
    files: dict[str, dict[str, Path]]
    splits: dict[str, list[str]]
    video: str = "denoised"
    audio: str = "denoised"
    split_source: str = "train.txt/test.txt"
    skipped: dict[str, str] = field(default_factory=dict)  # id -> why, with skip_broken
    skip_broken: bool = False  # also skip (with a warning) ids whose files turn out unreadable later

    def drop(self, vid: str, why: str) -> None:
        """Leave out an id found broken after opening (with ``skip_broken``): warn, remove it from the splits."""
        warnings.warn(why, stacklevel=2)
        self.skipped[vid] = why
        self.files.pop(vid, None)
        self.splits = {k: [v for v in ids if v != vid] for k, ids in self.splits.items()}

    @classmethod
    def open(cls, root: str | os.PathLike, *, video: str = "denoised", audio: str = "denoised",
             split: str | os.PathLike | None = None, seed: int = 0, skip_broken: bool = False) -> Dataset:
        """Discover ids, check each has the chosen video, audio and times files, and load the split.

        ``split``: None uses ``ROOT/train.txt`` and ``ROOT/test.txt`` when present, else a seeded 75/25
        split; a folder holding train.txt/test.txt; or a shipped split (``condfoleygen``, ``syncfusion``).
        ``skip_broken`` turns an id with missing files into a warning and leaves it out.
        """
        root = Path(root).resolve()
        if video not in VIDEO_CHOICES:
            raise VisError(f"unknown video choice {video!r} (one of {', '.join(VIDEO_CHOICES)})")
        if audio not in AUDIO_CHOICES:
            raise VisError(f"unknown audio choice {audio!r} (one of {', '.join(AUDIO_CHOICES)})")
        found = discover(root)
        if not found:
            raise VisError(f"{root}: no Greatest Hits videos found (expected files like ID_denoised.mp4)")
        need = tuple(k for k in (VIDEO_CHOICES[video], AUDIO_CHOICES[audio], "times.txt") if k is not None)
        files, skipped = {}, {}
        for vid, have in found.items():
            missing = [SUFFIXES[k] for k in need if k not in have]
            if missing:
                msg = f"{root / vid}{missing[0]}: missing" + (f" (and {len(missing) - 1} more)" if missing[1:] else "")
                if not skip_broken:
                    raise VisError(msg)
                warnings.warn(msg, stacklevel=2)
                skipped[vid] = msg
                continue
            files[vid] = have
        if not files:
            raise VisError(f"{root}: no video has all of {', '.join(SUFFIXES[k] for k in need)}")
        known = set(files) | set(skipped)
        if split is None and (root / "train.txt").is_file() and (root / "test.txt").is_file():
            split = root
        if split is None:
            splits, source = random_split(list(files), seed=seed), f"random 75/25 (seed {seed})"
        else:
            splits, source, lists, repeats = {}, str(split), {}, list[str]()
            for name, path in _split_files(split, root).items():
                lists[name] = path, _read_id_list(path, set() if str(split) in NAMED_SPLITS else known, repeats)
                listed = [i for i in lists[name][1] if i in known]
                splits[name] = [i for i in listed if i in files]
            _check_disjoint(lists)
            for message in repeats:  # only once the split files are found usable: an error stays one line
                warnings.warn(message, stacklevel=2)
        return cls(root, files, splits, video, audio, source, skipped, skip_broken)

    @property
    def ids(self) -> list[str]:
        return sorted(self.files)

    def split(self, name: str) -> list[str]:
        if name not in self.splits:
            raise VisError(f"no split named {name!r} (have {', '.join(self.splits)})")
        return self.splits[name]

    def video_path(self, vid: str) -> Path:
        return self.files[vid][VIDEO_CHOICES[self.video]]

    def audio_path(self, vid: str) -> Path:
        return self.files[vid][name] if (name := AUDIO_CHOICES[self.audio]) else self.video_path(vid)

    def times_path(self, vid: str) -> Path:
        return self.files[vid]["times.txt"]

    def events(self, vid: str) -> list[Event]:
        return read_times(self.times_path(vid))

    def vocabulary(self, kind: str, ids: list[str] | None = None) -> list[str]:
        """Labels of ``kind`` seen in the data (paper order first, then any others sorted)."""
        seen = {label for vid in (ids or self.ids) for e in self.events(vid) if (label := e.label(kind)) is not None}
        order = {"material": MATERIALS, "action": ACTIONS, "reaction": REACTIONS,
                 "hardness": ("hard", "soft")}.get(kind, ())
        return [x for x in order if x in seen] + sorted(seen - set(order))


def summarize(ds: Dataset, *, check_media: bool = True, progress: bool = False) -> dict:
    """What ``vis info`` prints: ids per split, total duration, label counts and broken ids.

    Keys (documented in the README): ``root``, ``split_source``, ``ids`` (count), ``splits``
    ({name: count}), ``duration_s`` (sum over ids of the usable duration, see :mod:`vis.data.io`),
    ``events`` (count), ``unlabelled_events``, ``material`` / ``action`` / ``reaction``
    ({label: count}, ``None`` counted under ``"None"``), ``missing`` ({id: [file names]}: absent files this
    reading does not need; one it needs is refused by ``open``), ``broken`` ({id: reason}: unreadable files).
    """
    out: dict = {"root": str(ds.root), "split_source": ds.split_source, "ids": len(ds.ids),
                 "splits": {k: len(v) for k, v in ds.splits.items()}, "duration_s": 0.0, "events": 0,
                 "unlabelled_events": 0, "material": {}, "action": {}, "reaction": {},
                 "missing": {}, "broken": dict(ds.skipped)}
    for vid in tqdm(ds.ids, desc="checking", unit="video", disable=not progress):
        absent = [SUFFIXES[k].lstrip("_") for k in SUFFIXES if k not in ds.files[vid]]
        if absent:
            out["missing"][vid] = absent
        try:
            events = ds.events(vid)
            if check_media:
                v, a = probe(ds.video_path(vid)), probe(ds.audio_path(vid))
                if not v.has_video:
                    raise VisError(f"{ds.video_path(vid)}: no video stream")
                events = read_times(ds.times_path(vid), duration=min(v.duration, a.duration))
                out["duration_s"] += min(v.duration, a.duration)
        except VisError as e:
            out["broken"][vid] = str(e)
            continue
        out["events"] += len(events)
        for event in events:
            out["unlabelled_events"] += event.material is None
            for kind in ("material", "action", "reaction"):
                key = event.label(kind) or "None"
                out[kind][key] = out[kind].get(key, 0) + 1
    for kind in ("material", "action", "reaction"):
        out[kind] = dict(sorted(out[kind].items(), key=lambda kv: -kv[1]))
    out["duration_s"] = round(out["duration_s"], 3)
    return out
