"""Procedural material textures with numpy: one function per look (see ``materials.Look.kind``).

Every texture function takes ``(rng, shape, colour, p)`` and returns float32 RGB ``[h, w, 3]`` roughly in
[0, 1]. ``colour`` is the video's base colour of the material; ``p`` (:class:`TexParams`) holds the video's
draw of contrast, feature scale (pixels), orientation (radians) and gloss. Building blocks are band-limited
fractal noise (an FFT-filtered white noise) and cellular noise (nearest of jittered grid points), so a
texture costs a few FFTs of the canvas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Image = np.ndarray  # float32 [h, w, 3]


@dataclass(frozen=True)
class TexParams:
    contrast: float
    scale: float  # px
    angle: float  # rad
    gloss: float


def fractal(rng: np.random.Generator, shape: tuple[int, int], scale: float, *, beta: float = 2.0,
            aniso: float = 1.0, angle: float = 0.0) -> np.ndarray:
    """Zero-mean, unit-variance noise [h, w] with features of about ``scale`` px.

    Amplitude spectrum ``(r^2 + r0^2)^(-beta/2)`` with ``r0 = 1 / scale``: white below the feature
    frequency, power-law above. ``aniso > 1`` stretches features along ``angle`` by that factor.
    """
    h, w = shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    c, s = np.cos(angle), np.sin(angle)
    u = (fx * c + fy * s) * aniso  # along the stretch direction: features long, so frequencies scaled up
    v = (-fx * s + fy * c) / aniso
    r2 = u * u + v * v
    amp = (r2 + (1.0 / max(scale, 0.5)) ** 2) ** (-beta / 2.0)
    amp[0, 0] = 0.0
    spec = np.fft.rfft2(rng.standard_normal(shape).astype(np.float32)) * amp
    out = np.fft.irfft2(spec, s=shape).astype(np.float32)
    return out / (out.std() + 1e-9)


def cells(rng: np.random.Generator, shape: tuple[int, int], spacing: float):
    """Cellular noise: (cell id [h, w], distance to nearest point, distance to second nearest) in px."""
    from scipy.spatial import cKDTree

    h, w = shape
    spacing = max(spacing, 2.0)
    gy, gx = np.mgrid[-1 : h / spacing + 1, -1 : w / spacing + 1]
    pts = np.stack([gy.ravel(), gx.ravel()], 1) * spacing + rng.uniform(0, spacing, (gy.size, 2))
    yy, xx = np.mgrid[0:h, 0:w]
    d, idx = cKDTree(pts).query(np.stack([yy.ravel(), xx.ravel()], 1), k=2)
    return (idx[:, 0].reshape(h, w), d[:, 0].reshape(h, w).astype(np.float32),
            d[:, 1].reshape(h, w).astype(np.float32))


def _coords(shape, angle):
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c, s = np.cos(angle), np.sin(angle)
    return xx * c + yy * s, -xx * s + yy * c  # along, across


def _tint(colour, pattern: np.ndarray, contrast: float) -> Image:
    return np.asarray(colour, np.float32)[None, None, :] * (1.0 + contrast * pattern[..., None])


def _highlight(shape, rng, gloss: float, width: float) -> np.ndarray:
    """A broad specular highlight: a soft band across the surface (strength ``gloss``)."""
    along, across = _coords(shape, rng.uniform(0, np.pi))
    c = rng.uniform(across.min(), across.max())
    return gloss * 0.35 * np.exp(-0.5 * ((across - c) / width) ** 2)


def grain(rng, shape, colour, p: TexParams) -> Image:  # wood
    along, across = _coords(shape, p.angle)
    warp = fractal(rng, shape, p.scale * 6, aniso=6.0, angle=p.angle)
    rings = np.sin(2 * np.pi * (across + 2.5 * p.scale * warp) / (1.2 * p.scale))
    fibres = fractal(rng, shape, p.scale * 0.4, aniso=12.0, angle=p.angle, beta=1.5)
    pat = 0.7 * np.sign(rings) * np.abs(rings) ** 0.5 + 0.5 * fibres
    if rng.random() < 0.5:  # plank seams
        period = p.scale * rng.uniform(6, 12)
        pat -= 2.5 * (np.abs(((across / period) % 1.0) - 0.5) > 0.485)
    return _tint(colour, pat, p.contrast * 0.5) + _highlight(shape, rng, p.gloss, shape[0] / 3)[..., None]


def brushed(rng, shape, colour, p: TexParams) -> Image:  # metal
    streaks = fractal(rng, shape, p.scale * 0.3, aniso=25.0, angle=p.angle, beta=1.2)
    sheen = fractal(rng, shape, shape[0] * 0.6, beta=3.0)
    img = _tint(colour, 0.6 * streaks + 0.8 * sheen, p.contrast)
    return img + _highlight(shape, rng, p.gloss, shape[0] / 6)[..., None]


def blotch(rng, shape, colour, p: TexParams) -> Image:  # dirt
    pat = fractal(rng, shape, p.scale, beta=2.2) + 0.5 * fractal(rng, shape, p.scale / 4, beta=1.5)
    specks = (rng.random(shape) < 0.01) * rng.choice([-2.5, 2.5], size=shape)
    return _tint(colour, 0.6 * pat + specks, p.contrast)


def rock(rng, shape, colour, p: TexParams) -> Image:
    cid, d1, d2 = cells(rng, shape, p.scale * 2.5)
    per_cell = rng.normal(0, 1, cid.max() + 1)[cid]
    cracks = np.exp(-((d2 - d1) / 1.5) ** 2)
    pat = 0.5 * per_cell + 0.7 * fractal(rng, shape, p.scale / 3, beta=1.6) - 2.0 * cracks
    return _tint(colour, pat, p.contrast * 0.6)


def leaves(rng, shape, colour, p: TexParams) -> Image:
    cid, d1, d2 = cells(rng, shape, p.scale)
    n = cid.max() + 1
    hue = (np.exp(rng.normal(0, 0.07, (n, 3))) * np.exp(rng.normal(0, 0.2, (n, 1)))).astype(np.float32)
    base = np.asarray(colour, np.float32) * hue[cid]
    edge = np.exp(-((d2 - d1) / 1.2) ** 2)
    shade = 1.0 + p.contrast * (0.5 * fractal(rng, shape, p.scale / 3) - 1.5 * edge - 0.02 * d1)
    return base * shade[..., None]


def smooth(rng, shape, colour, p: TexParams) -> Image:  # plastic
    pat = fractal(rng, shape, shape[0] * 0.5, beta=3.0) + 0.15 * fractal(rng, shape, 2.0, beta=1.0)
    return _tint(colour, pat, p.contrast) + _highlight(shape, rng, p.gloss, shape[0] / 5)[..., None]


def weave(rng, shape, colour, p: TexParams) -> Image:  # cloth
    along, across = _coords(shape, p.angle)
    period = max(p.scale, 1.5)
    threads = np.sin(2 * np.pi * along / period) * np.sin(2 * np.pi * across / period)
    folds = fractal(rng, shape, shape[0] * 0.25, aniso=2.0, angle=rng.uniform(0, np.pi), beta=3.0)
    return _tint(colour, 0.6 * threads + 0.8 * folds, p.contrast)


def paper(rng, shape, colour, p: TexParams) -> Image:
    pat = fractal(rng, shape, p.scale * 0.5, beta=1.4) + 0.7 * fractal(rng, shape, shape[0] * 0.4, beta=3.0)
    img = _tint(colour, pat, p.contrast)
    if rng.random() < 0.5:  # printed lines of text
        along, across = _coords(shape, p.angle * 0.1)
        pitch = p.scale * rng.uniform(1.2, 1.8)
        line = np.abs(((across / pitch) % 1.0) - 0.5) < 0.12
        words = fractal(rng, shape, p.scale * 0.6, aniso=3.0, angle=p.angle * 0.1) > 0.2
        img = img * (1.0 - 0.6 * (line & words))[..., None]
    return img + _highlight(shape, rng, p.gloss, shape[0] / 3)[..., None]


def blades(rng, shape, colour, p: TexParams) -> Image:  # grass
    angle = np.pi / 2 + 0.35 * np.sin(p.angle)
    pat = fractal(rng, shape, p.scale, aniso=7.0, angle=angle, beta=1.8)
    yellow = fractal(rng, shape, shape[0] * 0.3, beta=3.0)
    img = _tint(colour, pat, p.contrast)
    img[..., 0] *= 1.0 + 0.25 * yellow
    return img


def ripple(rng, shape, colour, p: TexParams) -> Image:  # water
    along, across = _coords(shape, 0.0)
    h = np.zeros(shape, np.float32)
    for _ in range(5):
        a, lam = rng.uniform(0, 2 * np.pi), p.scale * rng.uniform(0.5, 2.0)
        h += np.sin(2 * np.pi * (along * np.cos(a) + across * np.sin(a)) / lam + rng.uniform(0, 6.3))
    h += 1.5 * fractal(rng, shape, p.scale * 3, beta=2.5)
    slope = np.gradient(h, axis=0)
    glints = p.gloss * 0.6 * np.clip(slope - 0.8, 0, None) ** 2
    return _tint(colour, 0.25 * h, p.contrast) + glints[..., None]


def fine(rng, shape, colour, p: TexParams) -> Image:  # drywall, carpet
    pat = fractal(rng, shape, p.scale, beta=1.0) + 0.4 * fractal(rng, shape, shape[0] * 0.3, beta=3.0)
    return _tint(colour, pat, p.contrast)


def pebbles(rng, shape, colour, p: TexParams) -> Image:  # gravel
    cid, d1, d2 = cells(rng, shape, p.scale * 1.5)
    n = cid.max() + 1
    tone = (np.exp(rng.normal(0, 0.05, (n, 3))) * np.exp(rng.normal(0, 0.25, (n, 1)))).astype(np.float32)
    base = np.asarray(colour, np.float32) * tone[cid]
    r = p.scale * 0.75
    dome = np.clip(1.0 - (d1 / r) ** 2, 0.0, 1.0)
    gap = np.exp(-((d2 - d1) / 1.2) ** 2)
    shade = 0.65 + 0.5 * p.contrast * dome - 0.5 * gap
    return base * shade[..., None]


def crinkle(rng, shape, colour, p: TexParams) -> Image:  # plastic bag
    ridges = 1.0 - np.abs(fractal(rng, shape, p.scale, beta=2.0)) - 0.6 * np.abs(
        fractal(rng, shape, p.scale / 2, beta=2.0))
    spec = p.gloss * 0.8 * np.clip(ridges - 0.5, 0, None) ** 2
    return _tint(colour, 0.6 * ridges, p.contrast) + spec[..., None]


def glaze(rng, shape, colour, p: TexParams) -> Image:  # ceramic
    img = smooth(rng, shape, colour, p)
    if rng.random() < 0.5:  # a painted band
        along, across = _coords(shape, p.angle)
        c, w = rng.uniform(across.min(), across.max()), p.scale * rng.uniform(0.2, 0.5)
        band = np.abs(across - c) < w
        img = np.where(band[..., None], img * rng.uniform(0.3, 0.8, 3).astype(np.float32), img)
    return img


def tiles(rng, shape, colour, p: TexParams) -> Image:
    along, across = _coords(shape, 0.05 * np.sin(p.angle))
    size = max(p.scale, 8.0)
    grout_w = max(1.0, size * 0.05)
    ix, iy = np.floor(along / size).astype(int), np.floor(across / size).astype(int)
    per = rng.normal(0, 0.06, (64, 64))[iy % 64, ix % 64]
    grout = (np.minimum(along % size, size - along % size) < grout_w) | (
        np.minimum(across % size, size - across % size) < grout_w)
    img = _tint(colour, per + 0.15 * fractal(rng, shape, 3.0, beta=1.0), 1.0)
    gcol = np.full(3, rng.choice([0.25, 0.85]), np.float32)
    img = np.where(grout[..., None], gcol, img)
    return img + _highlight(shape, rng, p.gloss, shape[0] / 4)[..., None]


def glass(rng, shape, colour, p: TexParams) -> Image:
    behind = fractal(rng, shape, shape[0] * 0.15, beta=3.0)[..., None]  # what is seen through it
    img = np.asarray(colour, np.float32) * (0.75 + 0.15 * behind)
    along, across = _coords(shape, rng.uniform(0.5, 1.2))
    streak = np.exp(-0.5 * (((across % (shape[0] * 0.8)) - shape[0] * 0.4) / (p.scale * 0.3)) ** 2)
    return img + (p.gloss * 0.35 * streak)[..., None]


TEXTURES = {
    "grain": grain, "brushed": brushed, "blotch": blotch, "cells": rock, "leaves": leaves,
    "smooth": smooth, "weave": weave, "paper": paper, "blades": blades, "ripple": ripple,
    "fine": fine, "pebbles": pebbles, "crinkle": crinkle, "glaze": glaze, "tiles": tiles, "glass": glass,
}  # fmt: skip
