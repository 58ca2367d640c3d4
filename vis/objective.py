"""The training objective and its yardsticks: the loss of a batch, the learning-rate schedule, and a
model's loss and squared error on validation windows beside the no-video baselines'."""

from __future__ import annotations

import math

import numpy as np
import torch

from vis.config import CENTRED, Task, TrainConfig
from vis.data.windows import Windows
from vis.errors import VisError
from vis.eval.metrics import sq_err
from vis.model.align import align, weighted_loss
from vis.model.checkpoint import SoundPCA, no_video_sounds
from vis.model.device import all_processes_sum, autocast, model_device
from vis.model.inputs import predict
from vis.model.losses import rho
from vis.model.network import VisNet


def learning_rate(tc: TrainConfig, step: int, total_steps: int) -> float:
    """The rate of optimizer step ``step`` (0-based) of ``total_steps``: see ``TrainConfig.schedule``."""
    if tc.schedule == "constant":
        return tc.lr
    return 0.5 * tc.lr * (1.0 + math.cos(math.pi * step / max(total_steps, 1)))


def window_loss(pred: torch.Tensor, code: torch.Tensor, env: torch.Tensor, task: Task, loss: str = "robust"
                ) -> torch.Tensor:
    """The training loss of a batch: Eq. 4 (centred task) or, for detection, the weighted loss after the
    time-shift alignment of Eq. 5 (gradients flow through the shifted prediction; paper A1.1).

    pred, code : [B, T, 10] predicted and true PCA codes; env : [B, T, 42] true envelopes.
    ``loss``: "robust" (the paper's) or "squared" (see :class:`TrainConfig`).
    """
    if loss not in ("robust", "squared"):
        raise VisError(f"loss must be 'robust' or 'squared', got {loss!r}")
    if not task.aligned_loss:  # rho summed over time, averaged over the batch (robust: vis.model.losses.robust_loss)
        return rho((pred - code).pow(2).sum(-1), loss).sum(-1).mean()

    shifted, _ = align(pred, code, env, loss=loss)
    return weighted_loss(shifted, code, env, loss=loss)


def evaluate_windows(net: VisNet, windows: Windows, pca: SoundPCA, *, task: Task = CENTRED, loss: str = "robust",
                     batch_size: int = 32) -> dict[str, float]:
    """Over ``windows``, no augmentation: ``loss``, the mean per-window training loss, and ``sq_err``, the
    :func:`vis.eval.metrics.sq_err` of the decoded prediction ``pca.decode(code)`` against the true envelopes
    (for detection without the time-shift alignment of the loss). NaN for no windows."""
    if len(windows) == 0:
        return {"loss": float("nan"), "sq_err": float("nan")}
    net.eval()
    dev = model_device(net)
    total, sq = 0.0, 0.0
    with torch.no_grad():
        for i in range(0, len(windows), batch_size):
            rows = np.arange(i, min(i + batch_size, len(windows)))
            with autocast(dev):
                pred = predict(net, windows, rows, net.cfg)
            pred = pred.float()
            env = torch.from_numpy(windows.targets[rows])
            code = torch.from_numpy(pca.encode(env.numpy()))
            total += window_loss(pred, code.to(dev), env.to(dev), task, loss).item() * len(rows)
            sq += sq_err(pca.decode(pred.cpu().numpy()), env.numpy()) * len(rows)  # every window has the same rows
    net.train()
    return {"loss": total / len(windows), "sq_err": sq / len(windows)}


def no_video_sq_err(train_windows: Windows, val_windows: Windows, pca: SoundPCA) -> dict[str, float]:
    """sq_err on ``val_windows`` of the two no-video baselines (:func:`no_video_sounds`), as ``mean`` and
    ``average_shape``. NaN for no windows."""
    if len(val_windows) == 0:
        return {"mean": float("nan"), "average_shape": float("nan")}
    sounds = no_video_sounds(train_windows.targets, pca)
    return {"mean": sq_err(sounds["mean"], val_windows.targets),
            "average_shape": sq_err(sounds["average-shape"], val_windows.targets)}


def validate(net: VisNet, windows: Windows, pca: SoundPCA, *, task: Task, loss: str, rank: int = 0, world: int = 1
             ) -> tuple[float, float]:
    """Validation (loss, sq_err); under DDP each process takes every ``world``-th window and the sums are reduced."""
    if world == 1:
        m = evaluate_windows(net, windows, pca, task=task, loss=loss)
        return m["loss"], m["sq_err"]
    fixed = windows.fixed and {**windows.fixed, "first": windows.fixed["first"][rank::world]}
    mine = Windows(windows.videos, windows.index[rank::world], windows.targets[rank::world], windows.n_frames, fixed)
    m = evaluate_windows(net, mine, pca, task=task, loss=loss) if len(mine) else {"loss": 0.0, "sq_err": 0.0}
    loss_sum, sq_sum, n = all_processes_sum([m["loss"] * len(mine), m["sq_err"] * len(mine), float(len(mine))])
    return (loss_sum / n, sq_sum / n) if n else (math.nan, math.nan)
