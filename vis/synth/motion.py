"""What moves: the drumstick's trajectory and the dynamics of reactions, shared by picture and sound.

The stick tip is at ground point ``(x, y)`` (world pixels) and height ``z`` (in units of the hover
height, 0 = touching the surface, 1 = hovering). Every strike-like motion is a :class:`Dip`: the tip
falls from hover, reaches its floor at ``time``, stays there until ``end`` and rebounds. Contacts have
floor 0; distractors (motions that touch nothing) stop above the surface, so contact must be read from
the tip meeting its shadow, not from the motion.

Reaction dynamics (particles thrown by a scatter, an object rocking after a rigid-motion, a dent) are
pure functions of the contact and its seed, so the renderer draws and the sound world hears the same
particles land at the same moments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vis.synth.schedule import Contact

DESCENT_S = 0.14  # time to fall from hover height at the reference speed (1.0); impact speed = 2 / DESCENT_S
REBOUND = 0.5  # rebound speed relative to impact speed
SETTLE_S = 0.25  # time between a dip's approach height and hover height (smooth step)
# A 256-px-high close-up spans ~0.3 m, so ~850 px/m: gravity 9.8 m/s^2 is ~8300 px/s^2.
GRAVITY = 8300.0
DISTRACTOR_FLOOR = (0.25, 0.6)  # lowest height of a motion that touches nothing (hover units)
DISTRACTOR_GAP_S = 0.7  # only gaps at least this long between contacts get a distractor


@dataclass(frozen=True)
class Dip:
    time: float
    end: float
    speed: float
    floor: float  # 0 for a contact
    xy: tuple[float, float]
    drag: tuple[float, float]


def ease_out(u: np.ndarray) -> np.ndarray:
    """``1 - (1 - u)^2`` on [0, 1]: 0 at contact with slope 2, 1 with slope 0 at the approach height."""
    u = np.clip(u, 0.0, 1.0)
    return 1.0 - (1.0 - u) ** 2


def smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def distractors(rng: np.random.Generator, contacts: list[Contact], seconds: float, rate: float,
                sample_point) -> list[Dip]:
    """Strike-like motions that stop short of the surface, ``rate`` per second on average."""
    ends = [0.0] + [c.end for c in contacts]
    starts = [c.time for c in contacts] + [seconds]
    gaps = [(a, b) for a, b in zip(ends, starts) if b - a >= DISTRACTOR_GAP_S]
    n = min(len(gaps), int(rng.poisson(rate * seconds)))
    out = []
    for k in sorted(rng.choice(len(gaps), size=n, replace=False)) if n else []:
        a, b = gaps[k]
        t = rng.uniform(a + 0.3, b - 0.3)
        speed = float(np.exp(rng.normal(0.0, 0.3)))
        out.append(Dip(t, t + rng.uniform(0.0, 0.1), speed, rng.uniform(*DISTRACTOR_FLOOR),
                       sample_point(rng), (0.0, 0.0)))
    return out


class Motion:
    """The stick's trajectory through a video: contacts plus distractor dips, and a hand wobble."""

    def __init__(self, contacts: list[Contact], extra: list[Dip], rng: np.random.Generator, *,
                 wobble_px: float, seconds: float):
        dips = [Dip(c.time, c.end, c.speed * (0.5 if c.action == "scratch" else 1.0), 0.0, c.xy, c.drag)
                for c in contacts] + list(extra)
        self.dips = sorted(dips, key=lambda d: d.time)
        self.seconds = seconds
        self._wobble = [(rng.uniform(0.25, 1.3), rng.uniform(0, 2 * np.pi), rng.uniform(0, 2 * np.pi))
                        for _ in range(3)]
        self.wobble_px = wobble_px

    def at(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Stick state at times ``t`` [T] s: ``x``, ``y`` (world px), ``z`` (hover units), ``contact`` (bool)."""
        t = np.asarray(t, dtype=np.float64)
        z = np.ones_like(t)
        contact = np.zeros(t.shape, dtype=bool)
        d = self.dips
        for k, dip in enumerate(d):
            prev_end = d[k - 1].end if k else -1.0
            next_time = d[k + 1].time if k + 1 < len(d) else self.seconds + 1.0
            before = self._profile(dip.time - t, 0.5 * (dip.time - prev_end), dip.speed)
            after = self._profile(t - dip.end, 0.5 * (next_time - dip.end), dip.speed * REBOUND)
            inside = (t >= dip.time) & (t <= dip.end)
            p = np.where(t < dip.time, before, np.where(inside, 0.0, after))
            z = np.minimum(z, dip.floor + (1.0 - dip.floor) * p)
            if dip.floor == 0.0:
                contact |= inside
        x, y = self._xy(t)
        lift = np.clip(z, 0.0, 1.0)
        for i, (f, ph_x, ph_y) in enumerate(self._wobble):
            amp = self.wobble_px / (i + 1)
            x = x + lift * amp * np.sin(2 * np.pi * f * t + ph_x)
            y = y + lift * amp * np.sin(2 * np.pi * f * 1.3 * t + ph_y)
        return x, y, z, contact

    @staticmethod
    def _profile(delta: np.ndarray, avail: float, speed: float) -> np.ndarray:
        """Height (hover units) ``delta`` s away from the contact side of a dip, for a strike at ``speed``."""
        t_ref = DESCENT_S / max(speed, 1e-3)  # time to cover the full hover height at this speed
        if t_ref <= avail:
            h, td = 1.0, t_ref
        else:  # no time to come from hover: start lower, keep the speed
            h, td = max(avail, 1e-3) / t_ref, max(avail, 1e-3)
        near = h * ease_out(delta / td)
        far = h + (1.0 - h) * smoothstep((delta - td) / SETTLE_S)
        return np.where(delta < td, near, far)

    def _xy(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tip ground position: still at a contact, eased drag along a scratch, eased moves between dips."""
        key_t, key_x, key_y = [], [], []
        prev = -1.0
        for dip in self.dips:
            # The tip is over the strike point before its final descent (as a real stick comes down), so the
            # motion just before contact is the strike itself and its image speed tells the strike's speed.
            arrive = max(dip.time - DESCENT_S / max(dip.speed, 1e-3), 0.5 * (prev + dip.time))
            key_t += [arrive, dip.time, max(dip.end, dip.time + 1e-6)]
            key_x += [dip.xy[0], dip.xy[0], dip.xy[0] + dip.drag[0]]
            key_y += [dip.xy[1], dip.xy[1], dip.xy[1] + dip.drag[1]]
            prev = key_t[-1]
        kt = np.asarray(key_t)
        seg = np.clip(np.searchsorted(kt, t, side="right") - 1, 0, len(kt) - 2) if len(kt) > 1 else None
        if seg is None:
            return np.full_like(t, key_x[0]), np.full_like(t, key_y[0])
        t0, t1 = kt[seg], kt[seg + 1]
        u = smoothstep((t - t0) / np.maximum(t1 - t0, 1e-9))
        u = np.where(t < kt[0], 0.0, u)
        kx, ky = np.asarray(key_x), np.asarray(key_y)
        return kx[seg] + u * (kx[seg + 1] - kx[seg]), ky[seg] + u * (ky[seg + 1] - ky[seg])


def drag_speed(c: Contact, t: np.ndarray) -> np.ndarray:
    """Tip speed along a scratch at times ``t`` (px/s): the derivative of the smooth-step drag."""
    d = max(c.end - c.time, 1e-6)
    u = np.clip((t - c.time) / d, 0.0, 1.0)
    return np.hypot(*c.drag) * 6.0 * u * (1.0 - u) / d


# ---------------------------------------------------------------------------------------------- reactions


@dataclass(frozen=True)
class Particles:
    """Pieces thrown by a scatter (or droplets of a splash), in px (256-px frame) and s."""

    vx: np.ndarray  # ground-plane launch velocity, px/s
    vy: np.ndarray
    vz: np.ndarray  # upward launch velocity, px/s
    radius: np.ndarray  # px
    shade: np.ndarray  # brightness factor of each piece
    flight: np.ndarray  # s until it lands (2 vz / g)


def particles(c: Contact, kind: str) -> Particles:
    """The pieces a scatter (``kind="scatter"``) or splash (``"splash"``) throws, from the contact's seed."""
    rng = np.random.default_rng([c.seed, 1])
    n = int(rng.integers(6, 18) if kind == "scatter" else rng.integers(10, 26))
    # Pieces leave at ~0.2-0.4 m/s sideways and hop up at ~0.5-1 m/s (droplets: faster, higher).
    speed = (200.0 if kind == "scatter" else 260.0) * c.speed * np.exp(rng.normal(0, 0.4, n))
    ang = rng.uniform(0, 2 * np.pi, n)
    vz = (800.0 if kind == "scatter" else 1200.0) * c.speed ** 0.5 * rng.uniform(0.4, 1.0, n)
    radius = rng.uniform(1.5, 3.5, n) if kind == "scatter" else rng.uniform(0.8, 1.8, n)
    shade = np.where(rng.random(n) < 0.5, rng.uniform(0.45, 0.75, n), rng.uniform(1.3, 1.7, n))
    return Particles(speed * np.cos(ang), speed * np.sin(ang), vz, radius, shade,
                     2.0 * vz / GRAVITY)


@dataclass(frozen=True)
class Wobble:
    """A struck object rocking rigidly: offset ``amp * exp(-t / tau) * sin(2 pi freq t)`` along ``dir``."""

    amp: float  # px (256-px frame)
    freq: float  # Hz
    tau: float  # s
    dir: tuple[float, float]

    def rattles(self) -> np.ndarray:
        """Times after contact (s) at which the rocking object knocks the surface again (each half period)."""
        times = np.arange(1, 5) / (2.0 * self.freq)
        return times[np.exp(-times / self.tau) > 0.15]


def wobble(c: Contact) -> Wobble:
    rng = np.random.default_rng([c.seed, 2])
    ang = rng.uniform(0, 2 * np.pi)
    return Wobble(float(2.0 + 3.0 * min(c.speed, 2.0) * rng.uniform(0.5, 1.0)), float(rng.uniform(5.0, 9.0)),
                  float(rng.uniform(0.08, 0.16)), (float(np.cos(ang)), float(np.sin(ang))))


@dataclass(frozen=True)
class Dent:
    """A soft surface pressed in: radius (px), depth (0..1) and recovery time (s)."""

    radius: float
    depth: float
    recover: float


def dent(c: Contact) -> Dent:
    rng = np.random.default_rng([c.seed, 3])
    return Dent(float(rng.uniform(9.0, 18.0)), float(np.clip(0.35 + 0.3 * c.speed, 0.3, 1.0)),
                float(rng.uniform(0.15, 0.4)))
