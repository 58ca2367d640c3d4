"""What a strike does to the struck object: rigid motion, a dent, scattered or splashed pieces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from vis.synth import motion as mo
from vis.synth.schedule import Contact

if TYPE_CHECKING:
    from vis.synth.scene import Scene

KZ = 0.6  # image rise per unit height (camera looking down at ~37 degrees off vertical)


@dataclass
class Effect:
    kind: str
    start: float
    stop: float
    contact: Contact
    data: object = None
    colour: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))


RIGID_PIECE_PX = 28.0  # radius of the loose piece that moves when the struck region fills the view


def member(sorted_idx: np.ndarray, i: int) -> bool:
    """Whether flat index ``i`` is in the sorted array ``sorted_idx``."""
    j = int(np.searchsorted(sorted_idx, i))
    return j < sorted_idx.size and int(sorted_idx[j]) == i


def draw_segment(img: np.ndarray, a, b, w_a: float, w_b: float, colour, soft: float = 0.5) -> None:
    """Draw a tapered segment a -> b in place: a shaded stick (``colour``) or, if None, a soft shadow."""
    h, w = img.shape[:2]
    pad = max(w_a, w_b) / 2 + soft + 1
    ax, ay = a
    bx, by = b
    # Clip b toward a so that the box stays near the frame (the hand is far off-screen).
    dx, dy = bx - ax, by - ay
    t1 = 1.0
    for p, q in ((-dx, ax + pad), (dx, w - 1 + pad - ax), (-dy, ay + pad), (dy, h - 1 + pad - ay)):
        if p > 0:
            t1 = min(t1, q / p)
    if t1 <= 0:
        return
    cx, cy = ax + t1 * dx, ay + t1 * dy
    x0, x1 = int(max(0, np.floor(min(ax, cx) - pad))), int(min(w, np.ceil(max(ax, cx) + pad)))
    y0, y1 = int(max(0, np.floor(min(ay, cy) - pad))), int(min(h, np.ceil(max(ay, cy) + pad)))
    if x1 <= x0 or y1 <= y0:
        return
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    xs = np.arange(x0, x1, dtype=np.float32)[None, :]
    l2 = max(dx * dx + dy * dy, 1e-6)
    u = np.clip(((xs - ax) * dx + (ys - ay) * dy) / l2, 0.0, 1.0)
    ex, ey = ax + u * dx - xs, ay + u * dy - ys
    dist = np.sqrt(ex * ex + ey * ey)
    half = 0.5 * (w_a + (w_b - w_a) * u)
    patch = img[y0:y1, x0:x1]
    if colour is None:
        alpha = 0.45 * np.clip((half - dist) / soft + 0.5, 0.0, 1.0)
        patch *= (1.0 - alpha)[..., None]
        return
    alpha = np.clip(half - dist + 0.5, 0.0, 1.0)
    side = ((xs - ax) * dy - (ys - ay) * dx) / np.sqrt(l2) / np.maximum(half, 1e-3)
    shade = 0.55 + 0.5 * np.clip(1.0 - (side - 0.3) ** 2, 0.0, 1.0)
    patch += alpha[..., None] * (colour[None, None, :] * shade[..., None] - patch)


def _rigid(scene: Scene, img, t, e: Effect, ox, oy):
    wb = e.data
    assert isinstance(wb, mo.Wobble)
    tau = max(t - e.contact.time, 0.0)
    d = wb.amp * scene.px * np.exp(-tau / wb.tau) * np.sin(2 * np.pi * wb.freq * tau)
    dx, dy = int(round(d * wb.dir[0])), int(round(d * wb.dir[1]))
    if dx == 0 and dy == 0:
        return img
    sy, sx = oy - dy, ox - dx
    if not (0 <= sy and sy + scene.h <= scene.shape[0] and 0 <= sx and sx + scene.w <= scene.shape[1]):
        return img
    if scene.region_fraction[e.contact.region] < 0.5:  # an object in the scene: it moves as a whole
        mask = scene.labels[sy : sy + scene.h, sx : sx + scene.w] == e.contact.region
        src = scene.canvas[sy : sy + scene.h, sx : sx + scene.w]
        return np.where(mask[..., None], src, img)
    # The struck region fills the view: a loose piece of it around the contact point moves instead.
    r = RIGID_PIECE_PX * scene.px
    cx, cy = e.contact.xy[0] - ox, e.contact.xy[1] - oy
    x0, x1 = int(max(0, cx - r)), int(min(scene.w, cx + r + 1))
    y0, y1 = int(max(0, cy - r)), int(min(scene.h, cy + r + 1))
    if x1 <= x0 or y1 <= y0:
        return img
    ys, xs = np.mgrid[y0:y1, x0:x1]
    inside = (np.hypot(xs - cx, ys - cy) < r) & (scene.labels[ys + sy, xs + sx] == e.contact.region)
    out = img.copy()
    out[y0:y1, x0:x1][inside] = scene.canvas[ys + sy, xs + sx][inside]
    return out


def _dent(scene: Scene, img, t, e: Effect, ox, oy):
    d = e.data
    assert isinstance(d, mo.Dent)
    c = e.contact
    if t <= c.end:
        u = float(mo.smoothstep((t - c.time) / max(c.end - c.time, 1e-6)))
        amp = d.depth
    else:
        u, amp = 1.0, d.depth * np.exp(-(t - c.end) / d.recover)
    cx, cy = c.xy[0] + u * c.drag[0] - ox, c.xy[1] + u * c.drag[1] - oy
    r = d.radius * scene.px
    x0, x1 = int(max(0, cx - r)), int(min(scene.w, cx + r + 1))
    y0, y1 = int(max(0, cy - r)), int(min(scene.h, cy + r + 1))
    if x1 <= x0 or y1 <= y0:
        return img
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    rr = np.hypot(xs - cx, ys - cy) / r
    k = amp * np.clip(1.0 - rr, 0.0, 1.0) ** 2
    sx = np.clip(np.round(cx + (xs - cx) * (1 + 0.6 * k)), 0, scene.w - 1).astype(int)
    sy = np.clip(np.round(cy + (ys - cy) * (1 + 0.6 * k)), 0, scene.h - 1).astype(int)
    out = img.copy()
    out[y0:y1, x0:x1] = (img[sy, sx] * (1.0 - 0.35 * k)[..., None]).astype(np.uint8)
    return out


def _pieces(scene: Scene, img, t, e: Effect, ox, oy):
    p = e.data
    assert isinstance(p, mo.Particles)
    c = e.contact
    tau = t - c.time
    fly = np.minimum(tau, p.flight)
    gx = c.xy[0] - ox + p.vx * fly * scene.px
    gy = c.xy[1] - oy + p.vy * fly * scene.px
    height = np.maximum(p.vz * fly - 0.5 * mo.GRAVITY * fly ** 2, 0.0) * scene.px
    px_, py_ = gx, gy - KZ * height
    splash = e.kind == "splash"
    fade = np.clip((e.stop - t) / 0.3, 0.0, 1.0)
    out = img.astype(np.float32)
    for k in range(len(p.vx)):
        if splash and tau >= p.flight[k]:
            continue
        r = p.radius[k] * scene.px
        x0, x1 = int(max(0, px_[k] - r - 2)), int(min(scene.w, px_[k] + r + 3))
        y0, y1 = int(max(0, py_[k] - r - 2)), int(min(scene.h, py_[k] + r + 3))
        if x1 <= x0 or y1 <= y0:
            continue
        ys, xs = np.mgrid[y0:y1, x0:x1]
        a = np.clip(r - np.hypot(xs - px_[k], ys - py_[k]) + 0.5, 0, 1) * fade
        col = np.array([215, 228, 240], np.float32) if splash else np.clip(e.colour * p.shade[k], 0, 255)
        if not splash:  # a dark rim (the piece's own shadow) so pieces of the surface stand out on it
            rim = np.clip(r + 1.2 - np.hypot(xs - px_[k], ys - py_[k]), 0, 1) * fade
            out[y0:y1, x0:x1] *= (1.0 - 0.5 * rim)[..., None]
        a = a * (0.7 if splash else 1.0)
        out[y0:y1, x0:x1] += a[..., None] * (col - out[y0:y1, x0:x1])
    if splash:  # an expanding ring on the water surface
        rad = (8.0 + 110.0 * tau) * scene.px
        cx, cy = c.xy[0] - ox, c.xy[1] - oy
        x0, x1 = int(max(0, cx - rad - 2)), int(min(scene.w, cx + rad + 3))
        y0, y1 = int(max(0, cy - rad - 2)), int(min(scene.h, cy + rad + 3))
        if x1 > x0 and y1 > y0:
            ys, xs = np.mgrid[y0:y1, x0:x1]
            ring = np.exp(-0.5 * ((np.hypot(xs - cx, (ys - cy) * 1.3) - rad) / (1.5 * scene.px)) ** 2)
            out[y0:y1, x0:x1] += (60.0 * np.exp(-tau / 0.35) * ring)[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)

EFFECTS = {"rigid": _rigid, "dent": _dent, "scatter": _pieces, "splash": _pieces}
