"""The visual world: a close-up of one to three material regions, a drumstick, reactions, a hand-held camera.

A :class:`Scene` precomputes, per video, a canvas slightly larger than the frame (textures, region
layout, lighting, blur) and per-frame camera offsets. A frame is then cheap: a shifted crop of the canvas
(camera shake), reaction overlays (rigid motion, dents, thrown pieces, splashes), the stick's shadow and
the stick (thick shaded lines), and sensor noise.

Geometry (world = canvas pixels): the tip is over ground point ``(x, y)`` at height ``z`` (hover units,
``hover_px`` pixels at z = 1). The camera looks down at an angle, so a raised tip appears ``KZ * height``
pixels higher in the image; light comes from one side, so the tip's shadow lies ``height * light``
pixels away on the ground. The tip touches the surface exactly when it meets its shadow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vis.synth import motion as mo
from vis.synth.effects import EFFECTS, KZ, Effect, draw_segment, member
from vis.synth.knobs import Difficulty
from vis.synth.materials import PROPERTIES
from vis.synth.schedule import Contact
from vis.synth.textures import TEXTURES, TexParams, fractal

REF_HEIGHT = 256  # sizes below are in pixels of a 256-pixel-high frame, scaled by height / 256
# Height of the tip above the surface between strikes (~16 cm at ~850 px/m). With a strike's descent time
# (motion.DESCENT_S) it sets how fast the tip moves in the image near contact. The real Greatest Hits
# clips show ~11 px per frame in the median and ~33 px at the 90th percentile (256-px-high frame); at
# 140 px the tip moves 8.5 / 33 px per frame over the 0.3 s before contact (30 px, the earlier value,
# gave 5 / 22). Measure: python benchmarks/visibility.py.
HOVER_PX = 140.0
HAND_HEIGHT_PX = 105.0  # height of the (off-screen) hand holding the stick
MARGIN_PX = 14.0  # canvas margin on each side: room for shake and for objects moving rigidly
# Drumstick width at the tip and at the hand (off-screen): a drumstick is ~1.4 cm thick at the grip and
# ~0.9 cm near the tip; the Greatest Hits close-ups show ~50 cm of surface across 456 px (~0.9 px/mm)
# at a 256-px-high frame, so ~12 and ~8 px.
STICK_TIP_PX, STICK_HANDLE_PX = 8.0, 12.0
STICK_COLOURS = ((0.84, 0.70, 0.50), (0.70, 0.52, 0.32), (0.90, 0.82, 0.66), (0.35, 0.25, 0.18))
MIN_REGION_FRACTION = 0.12  # each region covers at least this much of the visible frame


@dataclass
class Region:
    material: str
    size: float  # object size factor (1 = typical); bigger objects look coarser and sound lower
    colour: tuple[float, float, float]


class Scene:
    """One video's visual world. ``size`` is (width, height) of the frame in pixels."""

    def __init__(self, rng: np.random.Generator, size: tuple[int, int], materials: list[str],
                 knobs: Difficulty, *, n_frames: int, fps: float):
        self.w, self.h = size
        self.px = self.h / REF_HEIGHT
        self.fps = fps
        self.n_frames = n_frames
        self.m = int(np.ceil((MARGIN_PX + 3.0 * knobs.shake) * self.px)) + 2
        self.shape = (self.h + 2 * self.m, self.w + 2 * self.m)
        self.hover_px = HOVER_PX * self.px
        tv, sv = knobs.texture_variation, knobs.sound_variation
        self.labels = self._layout(rng, len(materials))
        self.regions: list[Region] = []
        canvas = np.zeros(self.shape + (3,), np.float32)
        for r, name in enumerate(materials):
            mat = PROPERTIES[name]
            lo, hi = mat.size
            size_f = float(np.exp(rng.uniform(np.log(lo), np.log(hi)) * min(sv, 2.0)))
            look = mat.look
            colour = np.asarray(look.colours[rng.integers(len(look.colours))], np.float32)
            colour = np.clip(colour * np.exp(rng.normal(0, 0.05 * tv, 3)) * np.exp(rng.normal(0, 0.15 * tv)),
                             0.02, 1.0)
            p = TexParams(contrast=look.contrast * float(np.exp(rng.normal(0, 0.25 * tv))),
                          scale=look.scale * self.px * size_f ** 0.5 * float(np.exp(rng.normal(0, 0.25 * tv))),
                          angle=float(rng.uniform(0, np.pi)),
                          gloss=look.gloss * float(rng.uniform(0.5, 1.2)))
            tex = TEXTURES[look.kind](rng, self.shape, colour, p)
            mask = self.labels == r
            canvas[mask] = tex[mask]
            self.regions.append(Region(name, size_f, (float(colour[0]), float(colour[1]), float(colour[2]))))
        canvas = self._light(rng, canvas, tv)
        self.canvas = (np.clip(canvas, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        # Camera: slow hand-held shake (sum of sinusoids, 0.2-1.5 Hz), integer crop offsets per frame.
        t = np.arange(n_frames) / fps
        off = np.zeros((n_frames, 2))
        for _ in range(3):
            f, ph = rng.uniform(0.2, 1.5, 2), rng.uniform(0, 2 * np.pi, 2)
            off += np.sin(2 * np.pi * f[None, :] * t[:, None] + ph[None, :]) / (f[None, :] * 1.2)
        off *= knobs.shake * self.px
        self.offsets = np.clip(np.round(self.m + off), 0, 2 * self.m).astype(int)  # (ox, oy) per frame
        sigma = 2.0 * knobs.sensor_noise
        self.noise = [np.round(rng.normal(0, sigma, (self.h, self.w, 3))).astype(np.int16) for _ in range(4)]
        self.noise_pick = rng.integers(0, 4, n_frames)
        ang = rng.uniform(0, 2 * np.pi)
        self.light = np.array([np.cos(ang), np.sin(ang)]) * rng.uniform(0.4, 0.9)  # shadow px per height px
        side = rng.choice(["bottom", "left", "right", "bottom-left", "bottom-right"])
        hx = {"left": -0.6, "bottom-left": -0.2, "bottom": 0.5, "bottom-right": 1.2, "right": 1.6}[side]
        hy = 0.5 if side in ("left", "right") else 1.6
        self.hand = np.array([self.m + hx * self.w, self.m + hy * self.h])
        self.stick_colour = np.asarray(STICK_COLOURS[rng.integers(len(STICK_COLOURS))], np.float32) * 255
        self._cand = self._candidates()
        visible = self.labels[self.m : self.m + self.h, self.m : self.m + self.w]
        self.region_fraction = [float((visible == r).mean()) for r in range(len(materials))]
        self.effects: list[Effect] = []
        self.state: tuple[np.ndarray, ...] | None = None

    # ------------------------------------------------------------------------------------- layout

    def _layout(self, rng: np.random.Generator, k: int) -> np.ndarray:
        """Region index per canvas pixel: a background and up to two objects (half-planes or blobs)."""
        h, w = self.shape
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        for _ in range(12):
            labels = np.zeros((h, w), np.int8)
            for r in range(1, k):
                warp = fractal(rng, (h, w), h * 0.4, beta=3.0) * h * 0.05
                cx, cy = self.m + rng.uniform(0.2, 0.8) * self.w, self.m + rng.uniform(0.25, 0.75) * self.h
                if rng.random() < 0.5:  # an edge (a table top, the ground meeting a wall)
                    a = rng.uniform(0, 2 * np.pi)
                    inside = (xx - cx) * np.cos(a) + (yy - cy) * np.sin(a) + warp > 0
                else:  # an object lying on the background
                    rx, ry = rng.uniform(0.25, 0.5) * self.h, rng.uniform(0.2, 0.45) * self.h
                    inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 + warp / h * 4 < 1.0
                labels[inside] = r
            vis = labels[self.m : self.m + self.h, self.m : self.m + self.w]
            if all((vis == r).mean() >= MIN_REGION_FRACTION for r in range(k)):
                return labels
        return np.minimum((xx * k / w).astype(np.int8), k - 1)  # fallback: vertical stripes

    def _light(self, rng: np.random.Generator, canvas: np.ndarray, tv: float) -> np.ndarray:
        """World-fixed lighting: gradient, exposure, white balance, edges between regions, lens blur."""
        from scipy.ndimage import gaussian_filter

        h, w = self.shape
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        a = rng.uniform(0, 2 * np.pi)
        grad = 1.0 + rng.uniform(0.05, 0.3) * min(tv, 2.0) * ((xx - w / 2) * np.cos(a) + (yy - h / 2) * np.sin(a)) / w
        vignette = 1.0 - 0.25 * (((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2)
        gain = float(np.exp(rng.normal(0, 0.12 * tv))) * np.exp(rng.normal(0, 0.04 * tv, 3)).astype(np.float32)
        canvas = canvas * (grad * vignette)[..., None] * gain
        lab = self.labels
        edge = np.zeros(lab.shape, np.float32)
        edge[1:, :] += lab[1:, :] != lab[:-1, :]
        edge[:, 1:] += lab[:, 1:] != lab[:, :-1]
        edge = gaussian_filter(np.minimum(edge, 1.0), 1.2 * self.px)
        canvas *= (1.0 - 1.5 * edge)[..., None].clip(0.4, 1.0)
        sigma = rng.uniform(0.0, 0.9) * self.px * min(tv, 2.0)
        return gaussian_filter(canvas, (sigma, sigma, 0)) if sigma > 0.2 else canvas

    def _candidates(self) -> list[np.ndarray]:
        """Flat canvas indices where each region can be struck: inside it (eroded) and well inside the frame."""
        from scipy.ndimage import binary_erosion

        h, w = self.shape
        area = np.zeros((h, w), bool)
        area[self.m + int(0.18 * self.h) : self.m + int(0.88 * self.h),
             self.m + int(0.1 * self.w) : self.m + int(0.9 * self.w)] = True
        out = []
        for r in range(len(self.regions)):
            inner = binary_erosion(self.labels == r, iterations=max(1, int(6 * self.px))) & area
            idx = np.flatnonzero(inner)
            out.append(idx if idx.size else np.flatnonzero((self.labels == r) & area) if
                       ((self.labels == r) & area).any() else np.flatnonzero(area))
        return out

    def sample_point(self, rng: np.random.Generator, region: int | None = None, near=None) -> tuple[float, float]:
        """A strike point (world px) on ``region`` (any region if None), near ``near`` when given."""
        if region is None:
            region = int(rng.integers(len(self.regions)))
        cand = self._cand[region]
        if near is not None:
            for _ in range(8):
                x, y = near[0] + rng.normal(0, 25 * self.px), near[1] + rng.normal(0, 18 * self.px)
                if member(cand, int(round(y)) * self.shape[1] + int(round(x))):
                    return float(x), float(y)
        i = int(cand[rng.integers(cand.size)])
        return float(i % self.shape[1] + rng.uniform(-0.5, 0.5)), float(i // self.shape[1] + rng.uniform(-0.5, 0.5))

    def fit_drag(self, rng: np.random.Generator, region: int, xy, *, speed: float, seconds: float):
        """A drag vector (px) for a scratch of ``seconds`` from ``xy`` that stays on ``region``."""
        cand = self._cand[region]
        length = float(np.clip(45.0 * self.px * np.exp(rng.normal(0, 0.4)) * speed ** 0.5
                               * min(1.0, seconds / 0.35), 4 * self.px, 110 * self.px))
        a0 = rng.uniform(0, 2 * np.pi)
        for scale in (1.0, 0.6, 0.35, 0.2):
            for k in range(8):
                a = a0 + k * np.pi / 4
                dx, dy = length * scale * np.cos(a), length * scale * np.sin(a)
                if all(member(cand, int(round(xy[1] + f * dy)) * self.shape[1] + int(round(xy[0] + f * dx)))
                       for f in (0.5, 1.0)):
                    return float(dx), float(dy)
        return float(2 * self.px * np.cos(a0)), float(2 * self.px * np.sin(a0))

    # ------------------------------------------------------------------------------------- motion

    def set_motion(self, motion: mo.Motion, contacts: list[Contact]) -> None:
        """Fix the stick's per-frame state and the reactions to draw."""
        t = np.arange(self.n_frames) / self.fps
        self.state = motion.at(t)
        self.effects = []
        for c in contacts:
            cx, cy = int(round(c.xy[0])), int(round(c.xy[1]))
            colour = self.canvas[np.clip(cy, 0, self.shape[0] - 1), np.clip(cx, 0, self.shape[1] - 1)]
            if c.reaction in ("rigid-motion", "other"):
                wb = mo.wobble(c)
                if c.reaction == "other":
                    wb = mo.Wobble(wb.amp * 0.4, wb.freq * 1.5, wb.tau, wb.dir)
                self.effects.append(Effect("rigid", c.time, c.end + 5 * wb.tau, c, wb))
            elif c.reaction == "deformation":
                d = mo.dent(c)
                self.effects.append(Effect("dent", c.time, c.end + 3 * d.recover, c, d))
            elif c.reaction in ("scatter", "splash"):
                p = mo.particles(c, c.reaction)
                stop = c.time + (1.2 if c.reaction == "scatter" else 0.9)
                self.effects.append(Effect(c.reaction, c.time, stop, c, p, colour.astype(np.float32)))

    def tip(self, i: int) -> dict:
        """Debug: where the stick tip is drawn in frame ``i`` (frame px), its height and contact flag."""
        assert self.state is not None, "the motion is set by the scene's schedule"
        x, y, z, contact = (a[i] for a in self.state)
        ox, oy = self.offsets[i]
        zp = float(z) * self.hover_px
        return {"x": float(x - ox), "y": float(y - oy - KZ * zp), "z": float(z), "contact": bool(contact),
                "shadow": (float(x - ox + self.light[0] * zp), float(y - oy + self.light[1] * zp))}

    # ------------------------------------------------------------------------------------- drawing

    def frame(self, i: int, *, stick: bool = True) -> np.ndarray:
        """Frame ``i`` as uint8 RGB [h, w, 3] (``stick=False``: without stick and shadow, for tests)."""
        t = i / self.fps
        ox, oy = (int(v) for v in self.offsets[i])
        img = self.canvas[oy : oy + self.h, ox : ox + self.w].copy()
        for e in self.effects:
            if e.start <= t < e.stop:
                img = EFFECTS[e.kind](self, img, t, e, ox, oy)
        assert self.state is not None
        x, y, z, _ = (float(a[i]) for a in self.state)
        zp = z * self.hover_px
        zh = HAND_HEIGHT_PX * self.px
        hand = self.hand + 0.3 * (np.array([x, y]) - self.hand)  # the hand follows the tip a little
        lx, ly = self.light
        tip = (x - ox, y - oy - KZ * zp)
        handle = (hand[0] - ox, hand[1] - oy - KZ * zh)
        s_tip = (x - ox + lx * zp, y - oy + ly * zp)
        s_handle = (hand[0] - ox + lx * zh, hand[1] - oy + ly * zh)
        f = img.astype(np.float32)
        if not stick:
            f += self.noise[self.noise_pick[i]]
            return np.clip(f, 0, 255).astype(np.uint8)
        draw_segment(f, s_tip, s_handle, STICK_TIP_PX * self.px * 1.3, STICK_HANDLE_PX * self.px * 1.3,
                 None, soft=1.5 * self.px + 0.8 * zp / self.hover_px * self.px)
        draw_segment(f, tip, handle, STICK_TIP_PX * self.px, STICK_HANDLE_PX * self.px, self.stick_colour)
        f += self.noise[self.noise_pick[i]]
        return np.clip(f, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------- effects
