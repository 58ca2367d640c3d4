"""Synthetic Greatest Hits: learnable data in the real dataset's exact layout.

:func:`generate` writes, for each video id, the six files of the released dataset
(``ID_denoised.mp4``, ``ID_denoised.wav``, ``ID_denoised_thumb.mp4``, ``ID_mic.mp4``, ``ID_mic.wav``,
``ID_times.txt``) and a seeded 75/25 video-level ``train.txt`` / ``test.txt``, so every other command runs
on real and synthetic data alike.

A video is a close-up of one to three material regions (:mod:`vis.synth.scene`) probed by a drumstick
whose hits and scratches follow a real video's annotated schedule (:mod:`vis.synth.schedule`); each
contact makes a sound that depends on the material, the object, the action, the speed and the reaction
(:mod:`vis.synth.sound`). Difficulty knobs and their defaults: :mod:`vis.synth.knobs`.

Everything is determined by ``(seed, index)``: the same seed gives the same wav and times.txt bytes,
whatever the number of worker processes.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vis.data.io import die_with_parent
from vis.errors import VisError
from vis.synth.knobs import DEFAULTS, Difficulty, difficulty

if TYPE_CHECKING:
    from vis.synth.scene import Scene

__all__ = ["generate", "synthesize", "video_id", "thumb_size", "Difficulty", "DEFAULTS", "Video"]

MIN_SECONDS = 2.0  # shortest video: room for an approach, one contact and its sound
MAX_SECONDS = 3600.0
MIN_SIZE = 32  # smallest frame side (pixels); the thumb is half of it
# Disk per second of video: the two 96 kHz 16-bit wavs (mono + stereo: 576,000 B/s) and the three mp4s,
# ~140 kB/s at 456x256 (measured: `vis synth d60 --videos 60 --seconds 20` wrote 855.9 MB for 1,200 s,
# 713 kB/s), scaled by the frame area; a margin of 25 % on the video part.
WAV_BYTES_PER_S = 576_000
MP4_BYTES_PER_S = 175_000  # at 456x256
THUMB_MEMORY = 256 * 2**20  # keep thumbnails in memory up to this many bytes, else render twice
FIRST_DAY = datetime(2015, 2, 16, 9, 0, 0)  # the real recordings start on 2015-02-16


@dataclass
class Video:
    """One synthetic video before it is written (also the debug hook of the tests)."""

    id: str
    scene: Scene
    contacts: list  # [vis.synth.schedule.Contact], sorted by time
    sounds: list  # [(start_sample, dry samples)] per contact
    denoised: np.ndarray  # [n] float32, 96 kHz
    mic: np.ndarray  # [n, 2] float32, 96 kHz
    source: str  # id of the real video whose schedule was used

    def frames(self) -> Iterator[np.ndarray]:
        for i in range(self.scene.n_frames):
            yield self.scene.frame(i)

    def annotations(self) -> list:
        return [c.event() for c in self.contacts]


def video_id(seed: int, index: int) -> str:
    """A date-like id (``2015-03-02-14-07-31``), unique and increasing with ``index`` for a seed."""
    day = int(np.random.SeedSequence(seed).generate_state(1)[0] % 240)
    jitter = int(np.random.default_rng([seed, index, 7]).integers(0, 300))
    t = FIRST_DAY + timedelta(days=day, seconds=index * 420 + jitter)  # 7 minutes apart
    return t.strftime("%Y-%m-%d-%H-%M-%S")


def synthesize(index: int, *, seconds: float, seed: int = 0, size: tuple[int, int] = (456, 256),
               materials: Sequence[str] | None = None, knobs: Difficulty = DEFAULTS,
               real_schedule: bool = False) -> Video:
    """Build video ``index`` of the dataset with ``seed`` (scene, contacts, audio) without writing it.
    ``real_schedule``: its events are cut from real schedule number ``index`` rather than one drawn at random."""
    from vis.data.io import NTSC_FPS
    from vis.synth import motion, schedule, sound
    from vis.synth.scene import Scene

    allowed = schedule.check_materials(materials)
    fps = float(NTSC_FPS)
    r_sched, r_scene, r_motion, r_sound = (np.random.default_rng(s) for s in
                                           np.random.SeedSequence([seed, index]).spawn(4))
    slots, n_groups, source = schedule.cut(r_sched, seconds, which=index if real_schedule else None)
    region_materials = schedule.choose_materials(r_sched, max(1, min(n_groups, schedule.MAX_REGIONS)), allowed,
                                                 knobs.material_balance)
    n_frames = int(round(seconds * fps))
    scene = Scene(r_scene, size, region_materials, knobs, n_frames=n_frames, fps=fps)
    contacts = schedule.plan(r_sched, slots, region_materials, scene, fps=fps, seconds=seconds,
                             speed_spread=knobs.speed_spread)
    extra = motion.distractors(r_motion, contacts, seconds, knobs.distractor_rate,
                               lambda rng: scene.sample_point(rng))
    scene.set_motion(motion.Motion(contacts, extra, r_motion, wobble_px=3.0 * scene.px, seconds=seconds), contacts)
    voices = sound.voices(r_sound, scene.regions, knobs)
    sounds = sound.event_sounds(voices, contacts, scene.px)
    denoised, mic = sound.tracks(r_sound, sounds, int(round(seconds * sound.SR)), knobs)
    return Video(video_id(seed, index), scene, contacts, sounds, denoised, mic, source)


def _thumb(frame: np.ndarray, w: int, h: int) -> np.ndarray:
    """Half-size frame by 2x2 averaging, cropped to the (even) thumb size."""
    f = frame[: 2 * h, : 2 * w]
    rows = np.add(f[0::2], f[1::2], dtype=np.uint16)
    quad = np.add(rows[:, 0::2], rows[:, 1::2])
    quad += 2
    quad >>= 2
    return quad.astype(np.uint8)


def thumb_size(size: tuple[int, int]) -> tuple[int, int]:
    """Thumb video size for a frame size: half, rounded down to even (456x256 -> 228x128)."""
    return (size[0] // 2) // 2 * 2, (size[1] // 2) // 2 * 2


def _write(root: Path, v: Video, size: tuple[int, int]) -> list[str]:
    """Write the six files of ``v`` into a staging folder, then move them into ``root``."""
    from vis.data.dataset import SUFFIXES, write_times
    from vis.data.io import NTSC_FPS, write_wav
    from vis.data.media import mux_audio, write_video
    from vis.synth.sound import SR

    stage = root / f".{v.id}.partial"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    name = {k: f"{v.id}{s}" for k, s in SUFFIXES.items()}
    tw, th = thumb_size(size)
    keep = v.scene.n_frames * tw * th * 3 <= THUMB_MEMORY
    thumbs: list[np.ndarray] = []

    def full() -> Iterator[np.ndarray]:
        for f in v.frames():
            if keep:
                thumbs.append(_thumb(f, tw, th))
            yield f

    write_video(stage / name["denoised.mp4"], full(), fps=NTSC_FPS, audio=v.denoised, sr=SR)
    small = thumbs if keep else (_thumb(f, tw, th) for f in v.frames())
    write_video(stage / name["thumb.mp4"], small, fps=NTSC_FPS, audio=v.denoised, sr=SR)
    thumbs = []
    mux_audio(stage / name["denoised.mp4"], v.mic, SR, stage / name["mic.mp4"])
    write_wav(stage / name["denoised.wav"], v.denoised, SR)
    write_wav(stage / name["mic.wav"], v.mic, SR)
    write_times(stage / name["times.txt"], v.annotations())
    for n in name.values():  # times.txt last: a video with its annotations is complete
        if n != name["times.txt"]:
            os.replace(stage / n, root / n)
    os.replace(stage / name["times.txt"], root / name["times.txt"])
    stage.rmdir()
    return list(name.values())


def _job(args: tuple) -> dict:
    """Make and write one video (runs in a worker process; arguments are plain data)."""
    root, index, seed, seconds, size, materials, knobs, real_schedule = args
    v = synthesize(index, seconds=seconds, seed=seed, size=size, materials=materials, knobs=Difficulty(**knobs),
                   real_schedule=real_schedule)
    files = _write(Path(root), v, size)
    return {"id": v.id, "files": files, "events": len(v.contacts), "source": v.source,
            "materials": [r.material for r in v.scene.regions]}


def _check(videos, seconds, seed, size, workers) -> tuple[int, int]:
    if isinstance(videos, bool) or not isinstance(videos, int) or videos < 1:
        raise VisError(f"videos must be a whole number >= 1, got {videos!r}")
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or not (
            MIN_SECONDS <= seconds <= MAX_SECONDS):
        raise VisError(f"seconds must be between {MIN_SECONDS:g} and {MAX_SECONDS:g}, got {seconds!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise VisError(f"seed must be a whole number >= 0, got {seed!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise VisError(f"workers must be a whole number >= 1, got {workers!r}")
    try:
        w, h = (int(s) for s in size)
    except (TypeError, ValueError):
        raise VisError(f"size must be (width, height), got {size!r}") from None
    if w % 2 or h % 2:
        raise VisError(f"size {w}x{h}: width and height must be even (H.264)")
    if w < MIN_SIZE or h < MIN_SIZE:
        raise VisError(f"size {w}x{h}: at least {MIN_SIZE}x{MIN_SIZE}")
    return w, h


def disk_bytes(*, videos: int, seconds: float, size: tuple[int, int]) -> int:
    """About how many bytes ``vis synth`` writes for ``videos`` videos of ``seconds`` s at ``size``."""
    per_s = WAV_BYTES_PER_S + MP4_BYTES_PER_S * size[0] * size[1] / (456 * 256)
    return int(videos * seconds * per_s)


def check_disk(root: Path, *, videos: int, seconds: float, size: tuple[int, int]) -> None:
    """Refuse, before writing anything, a dataset that would not fit on the disk of ``root``."""
    where = root.resolve()
    while not where.exists() and where != where.parent:
        where = where.parent
    need = disk_bytes(videos=videos, seconds=seconds, size=size)
    free = shutil.disk_usage(where).free
    if need > free:
        raise VisError(f"{root}: {videos} videos of {seconds:g} s need about {need / 1e9:,.1f} GB, and its disk has "
                       f"{free / 1e9:,.1f} GB free")


def generate(out: str | os.PathLike, *, videos: int, seconds: float, seed: int = 0,
             size: tuple[int, int] = (456, 256), materials: Sequence[str] | None = None, workers: int = 1,
             progress: bool = True, real_schedules: bool = False, **knobs: float) -> dict:
    """Write a synthetic Greatest Hits dataset of ``videos`` videos of ``seconds`` s each into ``out``.

    Parameters
    ----------
    out : folder, created if missing (existing files of the same ids are replaced)
    videos, seconds : number of videos and length of each (s, from 2 to 3600)
    seed : same seed, same data (wav and times.txt byte for byte)
    size : (width, height) of ``_denoised.mp4`` and ``_mic.mp4`` frames, even; the thumb video is half
    materials : names among the 17 classes to draw scenes from (default: all)
    workers : processes making videos in parallel (the output does not depend on it)
    progress : show a progress bar on stderr
    real_schedules : video ``i`` follows real schedule ``i`` (at most 977 videos: one per real video, the
        real dataset's shape at ``seconds`` each) instead of a schedule drawn at random
    **knobs : difficulty knobs, see :class:`vis.synth.knobs.Difficulty` (e.g. ``noise=2.0``)

    Returns
    -------
    summary : dict with ``root``, ``ids`` (in index order), ``train`` / ``test`` (ids), ``files`` (count
        written), ``seconds`` (of video in all), ``events``, ``materials`` ({name: scene regions}),
        ``elapsed`` (s), ``knobs`` (the difficulty used)
    """
    from tqdm import tqdm

    from vis.synth.schedule import check_materials, load_schedules

    start = time.perf_counter()
    size = _check(videos, seconds, seed, size, workers)
    if real_schedules and videos > len(load_schedules()):
        raise VisError(f"--real-schedules makes one video per real schedule: at most {len(load_schedules())} "
                       f"videos, not {videos}")
    allowed = check_materials(materials)
    kn = difficulty(**knobs)
    root = Path(out)
    check_disk(root, videos=videos, seconds=seconds, size=size)
    ids = [video_id(seed, i) for i in range(videos)]
    split = _start_folder(root, ids, seed=seed)
    jobs = ((str(root), i, seed, float(seconds), size, allowed, asdict(kn), real_schedules) for i in range(videos))
    totals = {"files": 2, "events": 0}  # the split files, then each video's (summed: memory flat in `videos`)
    mats: dict[str, int] = {}
    # closing: an error or Ctrl-C here stops the workers' queue at once (not when the traceback goes)
    with tqdm(total=videos, desc="synth", unit="video", disable=not progress) as bar, \
            contextlib.closing(_made(jobs, workers=min(workers, videos))) as made:
        for r in made:
            totals["files"] += len(r["files"])
            totals["events"] += r["events"]
            for m in r["materials"]:
                mats[m] = mats.get(m, 0) + 1
            bar.update()
    return {"root": str(root.resolve()), "ids": ids, "train": split["train"], "test": split["test"],
            "files": totals["files"], "seconds": videos * float(seconds), "events": totals["events"],
            "materials": dict(sorted(mats.items(), key=lambda kv: -kv[1])),
            "elapsed": time.perf_counter() - start, "knobs": asdict(kn)}


def _start_folder(root: Path, ids: list[str], *, seed: int) -> dict[str, list[str]]:
    """Create ``root``, remove what an interrupted run left, and write the split files first, from the ids (a
    function of seed and index): an interrupted run leaves the same train.txt / test.txt as a finished one,
    never a folder that reads as a smaller dataset. Returns the split."""
    from vis.data.dataset import random_split
    from vis.data.io import atomic_output

    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise VisError(f"{root}: cannot create output folder ({e.strerror})") from None
    for stale in root.glob(".*.partial"):  # left by an interrupted run
        shutil.rmtree(stale, ignore_errors=True)
    split = random_split(ids, seed=seed)
    for name in ("train", "test"):
        with atomic_output(root / f"{name}.txt") as tmp:
            tmp.write_text("".join(f"{i}\n" for i in split[name]), encoding="utf-8")
    return split


def _made(jobs: Iterator[tuple], *, workers: int) -> Generator[dict, None, None]:
    """Each job's video made (:func:`_job`), in this process or in ``workers`` processes, as they finish."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, as_completed, wait
    from multiprocessing import get_context

    if workers == 1:
        for job in jobs:
            yield _job(job)
        return
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=die_with_parent,
                               initargs=(os.getpid(),))
    try:
        pending: set = set()
        for job in jobs:  # at most 2 jobs per worker queued: memory flat in the number of videos
            if len(pending) >= 2 * workers:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from (fut.result() for fut in done)
            pending.add(pool.submit(_job, job))
        yield from (fut.result() for fut in as_completed(pending))
    except BaseException:  # an error or Ctrl-C: do not start the videos still queued
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
