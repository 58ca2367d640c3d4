"""Figures. Cochleagrams: time on x, channel centre frequency on y (paper Fig. 3 and 8).

matplotlib is imported inside the functions (importing :mod:`vis` stays cheap) and drawn on its Agg
canvas directly, without pyplot, so no global backend or figure state is touched.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vis.audio.bands import N_BANDS, band_centres, hz_to_erb
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
    path = Path(path)
    if not path.parent.is_dir():
        raise VisError(f"cannot write {path}: folder {path.parent} does not exist")
    panels = [(*_check(env, times, "env"), title)]
    if compare is not None:
        panels.append((*_check(compare[0], compare[1], "compare"), compare_title))
    vmax = max(1e-6, max(float(p[0].max()) for p in panels))
    fig = _figure((PANEL_SIZE[0], PANEL_SIZE[1] * len(panels)))
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (e, t, name) in zip(axes, panels, strict=True):
        image = ax.imshow(e.T, origin="lower", aspect="auto", extent=_extent(t), cmap=CMAP, vmin=0, vmax=vmax,
                          interpolation="nearest")
        _freq_axis(ax)  # channels are evenly spaced in ERB: ticks interpolate the frequency on that scale
        if name:
            ax.set_title(name)
    axes[-1].set_xlabel("time (s)")
    fig.colorbar(image, ax=list(axes), label="envelope ** 0.3", shrink=0.9)
    _save(fig, path)


def _figure(size: tuple[float, float]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike) -> None:
    path = Path(path)
    if not path.parent.is_dir():
        raise VisError(f"cannot write {path}: folder {path.parent} does not exist")
    if path.suffix.lower() != ".png":
        raise VisError(f"{path}: a figure is written as PNG: give a name ending in .png")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    except OSError as e:  # a full disk, a folder without write permission: the user's path, not the temporary
        raise VisError(f"{path}: cannot write ({e.strerror or e})") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def _freq_axis(ax, *, label: bool = True) -> None:
    ticks = np.interp(hz_to_erb(np.array(TICK_HZ)), hz_to_erb(band_centres()), np.arange(N_BANDS))
    ax.set_yticks(ticks, [f"{f // 1000}k" if f >= 1000 else str(f) for f in TICK_HZ] if label else [])
    if label:
        ax.set_ylabel("frequency (Hz)")


def save_mean_cochleagrams_png(path: str | os.PathLike, means: dict[str, np.ndarray], *, title: str = "",
                               rate: float = 90.0) -> None:
    """Mean cochleagram of each class (paper Fig. 3a): one panel per class, windows [R, 42] centred on the impact.

    Time in seconds relative to the impact, band centre frequencies in Hz, one colour scale for all.
    """
    names = list(means)
    cols = min(6, len(names))
    rows = (len(names) + cols - 1) // cols
    fig = _figure((2.2 * cols + 1, 2.0 * rows + 0.6))
    axes = np.atleast_2d(fig.subplots(rows, cols, squeeze=False))
    vmax = max(1e-6, max(float(m.max()) for m in means.values()))
    for i, ax in enumerate(axes.flat):
        if i >= len(names):
            ax.axis("off")
            continue
        m = means[names[i]]
        half = len(m) / rate / 2
        image = ax.imshow(m.T, origin="lower", aspect="auto", extent=[-half, half, -0.5, N_BANDS - 0.5], cmap=CMAP,
                          vmin=0, vmax=vmax, interpolation="nearest")
        ax.set_title(names[i], fontsize=9)
        _freq_axis(ax, label=i % cols == 0)
        if i // cols == rows - 1:
            ax.set_xlabel("time (s)")
    fig.colorbar(image, ax=list(axes.flat), label="envelope ** 0.3", shrink=0.8)
    if title:
        fig.suptitle(title)
    _save(fig, path)


def save_confusion_png(path: str | os.PathLike, matrix: np.ndarray, labels: list[str], *, title: str = "") -> None:
    """A row-normalised confusion matrix (rows: true class, columns: predicted), paper Fig. 3b / 5b."""
    n = len(labels)
    fig = _figure((1.0 + 0.42 * n, 0.8 + 0.4 * n))
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="viridis", vmin=0, vmax=max(0.5, float(matrix.max())))
    ax.set_xticks(range(n), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(image, ax=ax, shrink=0.8, label="fraction of the row")
    if title:
        ax.set_title(title)
    _save(fig, path)


def save_prediction_figure_png(path: str | os.PathLike, frames: np.ndarray, frame_times: np.ndarray, pred: np.ndarray,
                               true: np.ndarray, times: np.ndarray, *, title: str = "") -> None:
    """Paper Fig. 8: a row of frames, then the predicted and the true cochleagram on one time axis."""
    fig = _figure((PANEL_SIZE[0], 1.6 + 2 * PANEL_SIZE[1] * 0.8))
    grid = fig.add_gridspec(3, len(frames), height_ratios=[1.0, 1.5, 1.5])
    for i, (f, t) in enumerate(zip(frames, frame_times)):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(f)
        ax.set_title(f"{t:.1f} s", fontsize=8)
        ax.axis("off")
    vmax = max(1e-6, float(max(pred.max(), true.max())))
    for r, (env, name) in enumerate([(pred, "predicted"), (true, "real")], start=1):
        ax = fig.add_subplot(grid[r, :])
        ax.imshow(env.T, origin="lower", aspect="auto", extent=_extent(times), cmap=CMAP, vmin=0, vmax=vmax,
                  interpolation="nearest")
        _freq_axis(ax)
        ax.set_title(name, fontsize=9)
        if r == 2:
            ax.set_xlabel("time (s)")
    if title:
        fig.suptitle(title)
    _save(fig, path)


def save_training_curves_png(path: str | os.PathLike, log: list[dict], *, kept: int | None = None) -> None:
    """Training curves from the entries of a run's ``log.jsonl`` (:mod:`vis.train`), one point per epoch.

    Left: the training loss (the mean of the epoch's steps; for logs without ``epoch_train_loss``, the mean
    of the epoch's logged ``train_loss``) and the validation loss, with the mean-sound baseline's loss as a
    dotted line. Right: the validation sq_err, with the no-video baselines' (mean training sound, average
    impact shape) as horizontal lines and the epoch kept in ``model.pt`` marked (``kept``; default: the
    lowest sq_err, as the centred task selects).
    """
    from matplotlib.ticker import MaxNLocator

    ends = [e for e in log if "val_loss" in e]
    epochs = [e["epoch"] for e in ends]
    steps: dict = {}
    for e in log:
        if "train_loss" in e:
            steps.setdefault(e["epoch"] + 1, []).append(e["train_loss"])  # step lines count epochs from 0
    train = [e.get("epoch_train_loss", np.mean(steps[e["epoch"]]) if steps.get(e["epoch"]) else np.nan) for e in ends]
    fig = _figure((PANEL_SIZE[0], PANEL_SIZE[1] * 1.3))
    left, right = fig.subplots(1, 2)
    left.plot(epochs, train, "o-", label="training")
    left.plot(epochs, [e["val_loss"] for e in ends], "o-", label="validation")
    if ends and ends[-1].get("baseline_mean_loss") is not None:
        left.axhline(ends[-1]["baseline_mean_loss"], color="grey", ls=":", label="mean sound (validation)")
    left.set_title("loss")
    sq = [e.get("val_sq_err", np.nan) for e in ends]
    right.plot(epochs, sq, "o-", color="C1", label="network (validation)")
    for key, name, colour in (("baseline_mean_sq_err", "mean training sound", "grey"),
                              ("baseline_shape_sq_err", "average impact shape", "C2")):
        if ends and ends[-1].get(key) is not None and np.isfinite(ends[-1][key]):
            right.axhline(ends[-1][key], color=colour, ls="--", label=name)
    if kept in epochs or (kept is None and np.isfinite(sq).any()):
        i = epochs.index(kept) if kept in epochs else int(np.nanargmin(sq))
        right.plot([epochs[i]], [sq[i]], "*", color="C3", ms=12, label=f"kept (epoch {epochs[i]})")
    right.set_title("validation sq err (sqrt envelopes, per row)")
    for ax in (left, right):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _save(fig, path)
