"""The per-row losses, defined once: the paper's robust loss (Eq. 4) and the squared loss of the default recipe.

``rho(r^2)`` is the loss of one row whose residual (prediction minus target, in PCA space) has squared norm
``r^2``: ``log(eps + r^2)`` with eps = 1/25^2 (paper Sec. 5.1), or ``r^2``. The centred task sums it over a
window's rows; the detection task first aligns the prediction in time (:mod:`vis.model.align`).
"""

from __future__ import annotations

import torch

EPS = 1 / 25**2  # the robust loss's epsilon (paper Sec. 5.1)


def rho(r2: torch.Tensor, loss: str = "robust", eps: float = EPS) -> torch.Tensor:
    """The per-row loss of the squared residual norm: ``log(eps + r^2)`` (paper Eq. 4) or ``r^2`` ("squared")."""
    if loss == "robust":
        return torch.log(eps + r2)
    if loss == "squared":
        return r2
    raise ValueError(f"loss must be 'robust' or 'squared', got {loss!r}")


def robust_loss(pred: torch.Tensor, target: torch.Tensor, *, eps: float = EPS) -> torch.Tensor:
    """Paper Eq. 4: ``sum_t log(eps + ||s_t - s~_t||^2)``, summed over time, averaged over the batch.

    pred, target : [B, T, D].
    """
    return rho((pred - target).pow(2).sum(-1), "robust", eps).sum(-1).mean()
