"""Figures. Cochleagrams: time on x, channel centre frequency on y (paper Fig. 3 and 8).

matplotlib is imported inside the functions (importing :mod:`vis` stays cheap) and drawn on its Agg
canvas directly, without pyplot, so no global backend or figure state is touched.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vis.cochleagram import N_BANDS, band_centres, hz_to_erb
from vis.errors import VisError

TICK_HZ = (50, 200, 500, 1000, 2000, 5000, 10000)  # y tick labels, log-spaced (lower ones would crowd)
PANEL_SIZE = (10.0, 3.0)  # inches per panel (width, height)
DPI = 110
CMAP = "magma"


def _check(env: np.ndarray, times: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    env, times = np.asarray(env, dtype=np.float64), np.asarray(times, dtype=np.float64)
    if env.ndim != 2 or env.shape[1] != N_BANDS or len(env) < 1:
        raise VisError(f"{what} must have shape [T, {N_BANDS}] with T >= 1, got {env.shape}")
    if times.shape != (len(env),):
        raise VisError(f"{what} times must have shape ({len(env)},), got {times.shape}")
    return env, times


def _extent(times: np.ndarray) -> list[float]:
    step = float(np.mean(np.diff(times))) if len(times) > 1 else 1 / 90
    return [times[0] - step / 2, times[-1] + step / 2, -0.5, N_BANDS - 0.5]


def save_cochleagram_png(
    path: str | os.PathLike,
    env: np.ndarray,
    times: np.ndarray,
    *,
    title: str = "",
    compare: tuple[np.ndarray, np.ndarray] | None = None,
    compare_title: str = "original",
) -> None:
    """Write a cochleagram figure as PNG, atomically (a temporary file in the same folder, then renamed).

    Parameters
    ----------
    path : str or PathLike
        Output file; its folder must exist.
    env : np.ndarray [shape=(T, 42)], ~90 Hz
        Compressed envelopes (the top panel).
    times : np.ndarray [shape=(T,)]
        Row times (s): the x axis.
    title : str
        Title of the top panel.
    compare : (env [T2, 42], times [T2]), optional
        A second cochleagram drawn below on the same time and colour scales (e.g. the original under a
        prediction).
    compare_title : str
        Title of the second panel.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    if not path.parent.is_dir():
        raise VisError(f"cannot write {path}: folder {path.parent} does not exist")
    panels = [(*_check(env, times, "env"), title)]
    if compare is not None:
        panels.append((*_check(compare[0], compare[1], "compare"), compare_title))
    vmax = max(1e-6, max(float(p[0].max()) for p in panels))
    # Channels are evenly spaced in ERB: tick positions interpolate the frequency on that scale.
    centres = band_centres()
    ticks = np.interp(hz_to_erb(np.array(TICK_HZ)), hz_to_erb(centres), np.arange(N_BANDS))
    labels = [f"{f // 1000}k" if f >= 1000 else str(f) for f in TICK_HZ]

    fig = Figure(figsize=(PANEL_SIZE[0], PANEL_SIZE[1] * len(panels)), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (e, t, name) in zip(axes, panels, strict=True):
        image = ax.imshow(
            e.T,
            origin="lower",
            aspect="auto",
            extent=_extent(t),
            cmap=CMAP,
            vmin=0,
            vmax=vmax,
            interpolation="nearest",
        )
        ax.set_yticks(ticks, labels)
        ax.set_ylabel("frequency (Hz)")
        if name:
            ax.set_title(name)
    axes[-1].set_xlabel("time (s)")
    fig.colorbar(image, ax=list(axes), label="envelope ** 0.3", shrink=0.9)

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
