"""When the stick touches what: event schedules cut from the real annotations.

The real Greatest Hits annotations (977 videos, 39,950 events; ``schedules.jsonl.gz`` beside this file,
times rounded to 1/15 s) give each synthetic video its rhythm: a real video's schedule is picked, cut (or
tiled) to the requested length, and its labelled materials are mapped onto the scene's regions. Counts,
spacing, the hit/scratch ratio and which labels are missing (``None``) are therefore those of real data.

Every event is a :class:`Contact`: its true time, place, action, reaction and strength. The annotated
time is the true moment of contact; it is placed in the half frame just before a video frame, and a hit
keeps the tip on the surface until just after that frame, so the frame nearest the annotated time always
shows the stick touching the surface.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from vis.data.dataset import Event
from vis.errors import VisError
from vis.synth.materials import MATERIALS, OUTDOOR, OUTDOOR_FRACTION, PROPERTIES, REAL_COUNTS

SCHEDULES = "schedules.jsonl.gz"
EDGE_S = 0.3  # no contact in the first / last 0.3 s: the stick needs room to approach, the sound to ring
MIN_GAP_FRAMES = 6  # 0.2 s at 29.97 fps: the smallest spacing of real annotations (1/15 s rounding x 3)
SNAP_FRACTION = 0.45  # contact happens within the 0.45 frame before a frame (so that frame is nearest)
HIT_HOLD_FRAMES = 0.2  # a hit keeps the tip down until 0.2 frame after the contact frame (~7 ms)
HIT_FRACTION = 16826 / (16826 + 7735)  # hits among labelled actions of the real annotations (68.5 %)
DRAG_S = (0.2, 0.7)  # duration of a scratch's drag (s), before fitting it into the gap to the next event
LIFT_S = 0.12  # the least time between the end of a contact and the next contact (lift and approach)
MAX_REGIONS = 3  # scenes are close-ups of one to three material regions


@dataclass(frozen=True)
class RealSchedule:
    """One real video's annotations: ``events`` are ``(time_s, material|None, action|None)``."""

    id: str
    duration: float
    events: tuple[tuple[float, str | None, str | None], ...]


@dataclass(frozen=True)
class Slot:
    """An event of a cut schedule before it is placed in a scene."""

    time: float  # s, on the 1/15 s grid of the real annotations, shifted into the new video
    group: int  # index of its material among the cut's labelled materials; -1 when unlabelled
    action: str | None  # the real action label (None: unlabelled)


@dataclass(frozen=True)
class Contact:
    """One true event: the stick touches region ``region`` at ``xy`` from ``time`` to ``end``."""

    time: float  # s, true contact onset (= annotated time)
    end: float  # s, end of contact (hit: a brief hold; scratch: end of the drag)
    region: int
    material: str
    action: str  # "hit" or "scratch" (also for events whose label is None)
    reaction: str
    speed: float  # impact speed relative to a typical strike (1.0); louder and brighter when faster
    xy: tuple[float, float]  # contact point in world (canvas) pixels
    drag: tuple[float, float]  # drag vector of a scratch in pixels ((0, 0) for a hit)
    label_material: bool  # whether the annotation names the material (and reaction)
    label_action: bool
    seed: int  # randomness of this event's sound and reaction

    def event(self) -> Event:
        """The annotation line for this contact (labels set to None where the real one was missing)."""
        m = self.material if self.label_material else None
        return Event(round(self.time, 6), m, self.action if self.label_action else None,
                     self.reaction if self.label_material else None)


@lru_cache(maxsize=1)
def load_schedules() -> tuple[RealSchedule, ...]:
    """The 977 real schedules packaged with vis.synth (read once per process)."""
    path = resources.files("vis.synth") / SCHEDULES
    out = []
    with gzip.open(path.open("rb"), "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            ev = tuple((float(t), None if m == "None" else m, None if a == "None" else a) for t, m, a in r["events"])
            out.append(RealSchedule(r["id"], float(r["duration_s"]), ev))
    if not out:
        raise VisError(f"{path}: no schedules")
    return tuple(out)


def cut(rng: np.random.Generator, seconds: float, *, which: int | None = None) -> tuple[list[Slot], int, str]:
    """Pick a real schedule (number ``which``, or one at random) and cut (or tile) it to ``seconds``.

    Returns the slots (sorted, at least one), the number of distinct labelled materials in them, and
    the id of the real video used.
    """
    schedules = load_schedules()
    if which is not None and not 0 <= which < len(schedules):
        raise VisError(f"there are {len(schedules)} real schedules, not {which + 1}")
    for _ in range(20):
        s = schedules[rng.integers(len(schedules)) if which is None else which]
        if not s.events:
            continue
        period = max(s.duration, s.events[-1][0] + 0.5)
        if period >= seconds:  # cut a window of the real video
            offset, reps = rng.uniform(0.0, period - seconds), 1
        else:  # tile the real schedule and start anywhere in its first period
            offset, reps = rng.uniform(0.0, period), int(np.ceil(seconds / period)) + 1
        tiled = [(t + k * period, m, a) for k in range(reps) for t, m, a in s.events]
        picked = [(t - offset, m, a) for t, m, a in tiled if EDGE_S <= t - offset <= seconds - EDGE_S]
        if picked:
            break
    else:  # nothing fits (a very short video): one labelled-less hit in the middle
        s, picked = schedules[0 if which is None else which], [(seconds / 2, None, None)]
    groups: dict[str, int] = {}
    for _, m, _ in picked:
        if m is not None and m not in groups:
            groups[m] = len(groups)
    slots = [Slot(t, groups.get(m, -1) if m is not None else -1, a) for t, m, a in picked]
    return slots, len(groups), s.id


def choose_materials(rng: np.random.Generator, n: int, allowed: tuple[str, ...], balance: float) -> list[str]:
    """Materials of a scene's ``n`` regions, distinct where ``allowed`` has enough.

    Weights: the real event count of each material raised to ``1 - balance`` (0: real frequencies,
    1: uniform), tripled for materials of the scene's setting (outdoor with the real 36 % chance).
    """
    outdoor = rng.random() < OUTDOOR_FRACTION
    w = np.array([REAL_COUNTS[m] ** (1.0 - balance) * (3.0 if (m in OUTDOOR) == outdoor else 1.0)
                  for m in allowed])
    k = min(n, len(allowed))
    picked = list(rng.choice(len(allowed), size=k, replace=False, p=w / w.sum()))
    return [allowed[i] for i in picked]


def _snap(times: np.ndarray, rng: np.random.Generator, fps: float, seconds: float) -> np.ndarray:
    """Jitter grid times by up to a frame, keep real spacing, and snap into the half frame before a frame."""
    f = np.round(times * fps).astype(int)
    for i in range(len(f)):
        j = f[i] + rng.choice((-1, 0, 0, 1))
        lo = f[i - 1] + MIN_GAP_FRAMES if i else 0
        hi = f[i + 1] - MIN_GAP_FRAMES if i + 1 < len(f) else 10**9
        if lo <= j <= hi:
            f[i] = j
    f = np.clip(f, 1, int(seconds * fps) - 1)
    return f / fps - rng.uniform(0.0, SNAP_FRACTION, len(f)) / fps


def plan(rng: np.random.Generator, slots: list[Slot], region_materials: list[str], scene, *,
         fps: float, seconds: float, speed_spread: float = 1.0) -> list[Contact]:
    """Turn slots into contacts in ``scene`` (which places points and drags on its regions)."""
    n_regions = len(region_materials)
    times = _snap(np.array([s.time for s in slots]), rng, fps, seconds)
    labelled = [i for i, s in enumerate(slots) if s.group >= 0]
    group_region = {g: (g if g < n_regions else int(rng.integers(n_regions)))
                    for g in {s.group for s in slots if s.group >= 0}}
    style = rng.normal(0.0, 0.2 * speed_spread)  # this person's typical strength (log)
    out: list[Contact] = []
    last_xy: dict[int, tuple[float, float]] = {}
    for i, (s, t) in enumerate(zip(slots, times)):
        if s.group >= 0:
            region = group_region[s.group]
        elif labelled:  # an unlabelled event: most likely on the same thing as its nearest labelled one
            near = min(labelled, key=lambda j: abs(times[j] - t))
            region = group_region[slots[near].group] if rng.random() < 0.8 else int(rng.integers(n_regions))
        else:
            region = int(rng.integers(n_regions))
        material = region_materials[region]
        action = s.action or ("hit" if rng.random() < HIT_FRACTION else "scratch")
        table = PROPERTIES[material].reactions
        names = list(table)
        p = np.array([table[k] for k in names])
        reaction = names[rng.choice(len(names), p=p / p.sum())]
        speed = float(np.clip(np.exp(style + rng.normal(0.0, 0.3 * speed_spread)), 0.35, 2.5))
        nxt = times[i + 1] if i + 1 < len(times) else seconds - 0.05
        frame_t = np.round(t * fps) / fps
        if action == "hit":
            end = frame_t + HIT_HOLD_FRAMES / fps
        else:
            end = t + min(rng.uniform(*DRAG_S), max(nxt - t - LIFT_S, 0.08))
        near_xy = last_xy.get(region) if rng.random() < 0.6 else None
        xy = scene.sample_point(rng, region, near=near_xy)
        drag = scene.fit_drag(rng, region, xy, speed=speed, seconds=end - t) if action == "scratch" else (0.0, 0.0)
        last_xy[region] = (xy[0] + drag[0], xy[1] + drag[1])
        out.append(Contact(float(t), float(end), region, material, action, reaction, speed, xy, drag,
                           s.group >= 0, s.action is not None, int(rng.integers(2**31))))
    return out


def check_materials(materials) -> tuple[str, ...]:
    """Validate a ``--materials`` list (names of the 17 classes) and return it as a tuple."""
    if materials is None:
        return MATERIALS
    if isinstance(materials, str):
        materials = [m.strip() for m in materials.split(",") if m.strip()]
    names = tuple(dict.fromkeys(materials))
    if not names:
        raise VisError("materials: empty list (give names from the 17 classes, or leave it out)")
    bad = [m for m in names if m not in PROPERTIES]
    if bad:
        raise VisError(f"unknown material {bad[0]!r} (one of {', '.join(MATERIALS)})")
    return names
