"""What each of the 17 Greatest Hits materials looks like, sounds like and does when struck.

One table, :data:`PROPERTIES`, holds every per-material constant the generator uses, so that the visual
world (:mod:`vis.synth.scene`) and the sound world (:mod:`vis.synth.sound`) agree about a material.
Values are physically motivated, not measured: mode frequencies and loss factors follow textbook ranges
for the material class (loss factor eta: decay rate of a mode at ``f`` Hz is ``pi * f * eta`` per second,
so a 1 kHz mode of steel with eta = 5e-4 takes ~4.4 s to fall by 60 dB, one of wood with eta = 0.02
~110 ms; modes are cut after 1.5 s), contact durations follow Hertz contact of a wooden drumstick tip
on a surface of that stiffness (0.1-0.3 ms on metal and glass, ~1 ms on wood and plastic, several ms
on cloth).
"""

from __future__ import annotations

from dataclasses import dataclass

from vis.data.dataset import ACTIONS, MATERIALS, REACTIONS  # noqa: F401  (re-exported for the generator)

# Events per material in the 977 real schedules (vis/synth/schedules.jsonl.gz), used to weight how
# often each material appears in a scene (see ``material_balance``).
REAL_COUNTS = {
    "wood": 4005, "metal": 3543, "dirt": 2994, "rock": 2420, "leaf": 2309, "plastic": 1853,
    "cloth": 1789, "paper": 1405, "grass": 921, "water": 677, "drywall": 453, "gravel": 433,
    "plastic-bag": 383, "ceramic": 351, "tile": 313, "carpet": 281, "glass": 261,
}  # fmt: skip
# 36 % of the real videos are outdoor scenes (paper Sec. 3); these materials are mostly found there.
OUTDOOR = frozenset({"dirt", "rock", "leaf", "grass", "water", "gravel"})
OUTDOOR_FRACTION = 0.36


@dataclass(frozen=True)
class Look:
    """Procedural texture of a material. Colours are linear RGB in [0, 1]."""

    kind: str  # texture generator: see scene._TEXTURES
    colours: tuple[tuple[float, float, float], ...]  # base colours; a video picks one (or mixes)
    contrast: float  # amplitude of the pattern around the base colour (fraction of brightness)
    scale: float  # characteristic feature size, in pixels of a 256-pixel-high frame
    gloss: float  # strength of specular highlights, 0 (matte) .. 1 (mirror-like)


@dataclass(frozen=True)
class Sound:
    """Acoustic model of a material.

    ``kind``: "modal" (hard, ringing: a bank of damped modes excited by a contact-force pulse),
    "noise" (soft: a shaped noise burst plus a dull body thump), "granular" (a burst of micro-impacts),
    "water" (a splash: noise plus bubble chirps).
    """

    kind: str
    band: tuple[float, float]  # Hz: mode frequency range (modal) or noise pass band (others)
    modes: int  # number of modes of a typical object (modal), or grains per hit (granular)
    loss: tuple[float, float]  # loss factor eta range (modal); burst decay time in s (others)
    contact_ms: float  # Hertz contact duration at the reference speed: sets the brightness of a hit
    level_db: float  # loudness of a reference hit relative to the loudest material
    thump_hz: float  # centre of the low "body" resonance (0: none)


@dataclass(frozen=True)
class Material:
    name: str
    look: Look
    sound: Sound
    reactions: dict[str, float]  # probability of each reaction to a hit
    size: tuple[float, float]  # range of object size factor (scales modes down and texture up)


def _m(name, look, sound, reactions, size=(0.7, 1.4)) -> Material:
    return Material(name, look, sound, reactions, size)


# Reaction tables: hard things mostly stay put or move rigidly, soft things deform, loose things
# scatter, water splashes (the paper's Fig. 2 pairs).
_HARD = {"static": 0.82, "rigid-motion": 0.14, "other": 0.04}
_LOOSE_OBJECT = {"static": 0.45, "rigid-motion": 0.45, "deformation": 0.05, "other": 0.05}
_SOFT = {"static": 0.25, "deformation": 0.7, "other": 0.05}
_SCATTER = {"static": 0.2, "scatter": 0.7, "deformation": 0.05, "other": 0.05}

PROPERTIES: dict[str, Material] = {
    m.name: m
    for m in (
        _m("wood",
           Look("grain", ((0.55, 0.36, 0.20), (0.70, 0.50, 0.30), (0.40, 0.25, 0.12), (0.78, 0.63, 0.43)),
                0.35, 14, 0.15),
           Sound("modal", (180, 2600), 12, (0.008, 0.03), 0.9, -4, 140),
           _HARD | {"static": 0.7, "rigid-motion": 0.26}),
        _m("metal",
           Look("brushed", ((0.62, 0.63, 0.66), (0.45, 0.47, 0.50), (0.70, 0.60, 0.38), (0.75, 0.74, 0.72)),
                0.18, 6, 0.7),
           Sound("modal", (350, 9000), 16, (0.0004, 0.003), 0.25, 0, 0),
           _HARD | {"static": 0.6, "rigid-motion": 0.36}),
        _m("dirt",
           Look("blotch", ((0.45, 0.33, 0.22), (0.34, 0.26, 0.19), (0.55, 0.45, 0.33)), 0.35, 10, 0.0),
           Sound("granular", (600, 5000), 14, (0.05, 0.12), 3.0, -10, 90),
           _SCATTER | {"deformation": 0.25, "scatter": 0.5}),
        _m("rock",
           Look("cells", ((0.50, 0.50, 0.48), (0.60, 0.55, 0.50), (0.40, 0.38, 0.36)), 0.30, 22, 0.1),
           Sound("modal", (500, 7000), 20, (0.015, 0.05), 0.4, -3, 0),
           {"static": 0.75, "rigid-motion": 0.15, "scatter": 0.06, "other": 0.04}),
        _m("leaf",
           Look("leaves", ((0.35, 0.50, 0.20), (0.60, 0.45, 0.20), (0.75, 0.60, 0.22), (0.50, 0.27, 0.12)),
                0.30, 16, 0.1),
           Sound("granular", (1500, 9000), 24, (0.08, 0.2), 2.0, -9, 0),
           {"static": 0.2, "deformation": 0.35, "scatter": 0.4, "other": 0.05}),
        _m("plastic",
           Look("smooth", ((0.80, 0.15, 0.15), (0.15, 0.30, 0.80), (0.90, 0.80, 0.20), (0.90, 0.90, 0.90),
                           (0.20, 0.60, 0.30), (0.12, 0.12, 0.12)), 0.08, 40, 0.5),
           Sound("modal", (250, 3500), 10, (0.01, 0.04), 1.0, -5, 200),
           _LOOSE_OBJECT),
        _m("cloth",
           Look("weave", ((0.30, 0.30, 0.55), (0.60, 0.20, 0.25), (0.50, 0.50, 0.50), (0.80, 0.75, 0.65),
                          (0.20, 0.40, 0.30)), 0.25, 3, 0.0),
           Sound("noise", (80, 900), 0, (0.02, 0.05), 6.0, -16, 110),
           _SOFT),
        _m("paper",
           Look("paper", ((0.92, 0.92, 0.90), (0.85, 0.80, 0.70), (0.95, 0.95, 0.97)), 0.06, 8, 0.1),
           Sound("noise", (1200, 8000), 0, (0.04, 0.09), 2.0, -12, 250),
           {"static": 0.35, "deformation": 0.35, "rigid-motion": 0.25, "other": 0.05}),
        _m("grass",
           Look("blades", ((0.25, 0.50, 0.15), (0.40, 0.55, 0.20), (0.55, 0.55, 0.30)), 0.35, 5, 0.05),
           Sound("noise", (900, 7000), 0, (0.06, 0.14), 4.0, -14, 0),
           {"static": 0.3, "deformation": 0.55, "scatter": 0.1, "other": 0.05}),
        _m("water",
           Look("ripple", ((0.20, 0.30, 0.35), (0.25, 0.35, 0.30), (0.30, 0.40, 0.50)), 0.20, 18, 0.6),
           Sound("water", (500, 4000), 6, (0.05, 0.15), 3.0, -9, 0),
           {"splash": 0.9, "other": 0.1}),
        _m("drywall",
           Look("fine", ((0.85, 0.85, 0.82), (0.80, 0.78, 0.72), (0.75, 0.77, 0.78)), 0.05, 2, 0.0),
           Sound("modal", (90, 1400), 10, (0.03, 0.08), 1.6, -6, 100),
           {"static": 0.9, "deformation": 0.06, "other": 0.04}),
        _m("gravel",
           Look("pebbles", ((0.55, 0.52, 0.48), (0.60, 0.50, 0.40), (0.45, 0.45, 0.45)), 0.35, 7, 0.1),
           Sound("granular", (1500, 7000), 30, (0.12, 0.3), 0.5, -6, 0),
           {"static": 0.15, "scatter": 0.8, "other": 0.05}),
        _m("plastic-bag",
           Look("crinkle", ((0.90, 0.90, 0.90), (0.12, 0.12, 0.12), (0.20, 0.30, 0.70), (0.85, 0.75, 0.30)),
                0.35, 12, 0.6),
           Sound("granular", (2500, 12000), 18, (0.12, 0.3), 4.0, -13, 0),
           {"static": 0.15, "deformation": 0.8, "other": 0.05}),
        _m("ceramic",
           Look("glaze", ((0.95, 0.95, 0.93), (0.30, 0.45, 0.70), (0.75, 0.30, 0.25), (0.90, 0.85, 0.70)),
                0.06, 30, 0.8),
           Sound("modal", (900, 8000), 12, (0.001, 0.006), 0.3, -2, 0),
           _LOOSE_OBJECT | {"static": 0.55, "rigid-motion": 0.4, "deformation": 0.0}),
        _m("tile",
           Look("tiles", ((0.90, 0.90, 0.88), (0.60, 0.50, 0.45), (0.30, 0.40, 0.50), (0.22, 0.22, 0.22)),
                0.05, 60, 0.6),
           Sound("modal", (700, 6000), 12, (0.006, 0.02), 0.3, -2, 0),
           {"static": 0.95, "other": 0.05}),
        _m("carpet",
           Look("fine", ((0.50, 0.30, 0.25), (0.35, 0.35, 0.45), (0.60, 0.55, 0.45), (0.30, 0.35, 0.30)),
                0.30, 1.5, 0.0),
           Sound("noise", (60, 600), 0, (0.015, 0.04), 8.0, -18, 90),
           {"static": 0.45, "deformation": 0.5, "other": 0.05}),
        _m("glass",
           Look("glass", ((0.70, 0.80, 0.80), (0.50, 0.65, 0.55), (0.80, 0.82, 0.85)), 0.25, 30, 0.9),
           Sound("modal", (1100, 9500), 10, (0.0008, 0.004), 0.15, -1, 0),
           {"static": 0.7, "rigid-motion": 0.26, "other": 0.04}),
    )
}
