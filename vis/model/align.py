"""Time-shift alignment for the detection model (paper A1.1, Eq. 5).

Each training iteration lets the predicted sequence shift a little in time before the loss is taken:
the shifted prediction is ``s'_t = s_hat_{t + L_t}`` with ``L_t`` in ``[-MAX_SHIFT, MAX_SHIFT]`` rows,
chosen to minimise

    sum_t w_t * rho(||s_hat_{t+L_t} - s_t||) + sum_t V(L_t, L_{t+1}),

``rho(r) = log(eps + r^2)`` the robust loss (or ``r^2`` with ``loss="squared"``),
``w_t = 1 + alpha * [tau <= ||s_t||]`` (loud rows count more), and ``V`` a Potts term,
``0.5 * (||s_t|| + ||s_{t+1}||) * [L_t != L_{t+1}]``, that makes changing the shift cost something
everywhere and a little more where the sound is loud. ``s_t`` is the network's target before PCA, the
square root of the 42 compressed envelopes (paper Sec. 5.1), so ``||s_t||`` is the L2 norm of
``sqrt(env_t)``: there ``tau = 2.2`` separates impacts from the quiet floor (on `vis synth` data,
60 x 20 s: rows at annotated events have median 2.23, all rows median 1.68; 15 % of rows reach 2.2, none
does for the norm of the envelopes themselves, whose median at events is 0.86). Shifts that would read
outside the sequence are not allowed. The minimum is found exactly by Viterbi, vectorised over the batch
and the 17 shifts.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from vis.model.losses import EPS, rho

MAX_SHIFT = 8  # rows (~0.09 s at 90 Hz), paper A1.1
ALPHA = 3.0  # weight of loud rows: w_t = 1 + alpha ...
TAU = 2.2  # ... when ||s_t|| >= tau


def unary_costs(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, *, max_shift: int = MAX_SHIFT,
                eps: float = EPS, loss: str = "robust") -> torch.Tensor:
    """``w_t * rho(||pred_{t+L} - target_t||)`` for every row and shift: [B, T, 2*max_shift+1].

    pred, target : [B, T, D]; weight : [B, T]. Shifts reading outside the sequence cost +inf.
    """
    b, t, _ = pred.shape
    shifts = torch.arange(-max_shift, max_shift + 1, device=pred.device)
    src = torch.arange(t, device=pred.device)[:, None] + shifts[None, :]  # [T, S] row read for each (t, L)
    valid = (src >= 0) & (src < t)
    gathered = pred[:, src.clamp(0, t - 1)]  # [B, T, S, D]
    r2 = (gathered - target[:, :, None]).pow(2).sum(-1)
    cost = weight[:, :, None] * rho(r2, loss, eps)
    return cost.masked_fill(~valid[None], float("inf"))


def viterbi_shifts(unary: torch.Tensor, switch: torch.Tensor) -> torch.Tensor:
    """Exact minimiser of ``sum_t unary[t, L_t] + sum_t switch[t] * [L_t != L_{t+1}]``.

    unary : [B, T, S]; switch : [B, T-1] (the Potts weight between rows t and t+1).
    Returns label indices [B, T] (shift = index - max_shift).
    """
    b, t, s = unary.shape
    cost = unary[:, 0].clone()
    back = torch.empty(b, t, s, dtype=torch.long, device=unary.device)
    labels_s = torch.arange(s, device=unary.device)
    back[:, 0] = labels_s
    for i in range(1, t):
        best, arg = cost.min(dim=1, keepdim=True)  # cheapest previous label, if we switch
        switched = best + switch[:, i - 1 : i]
        stay = cost <= switched
        back[:, i] = torch.where(stay, labels_s.expand(b, s), arg.expand(b, s))
        cost = torch.minimum(cost, switched) + unary[:, i]
    labels = torch.empty(b, t, dtype=torch.long, device=unary.device)
    labels[:, -1] = cost.argmin(dim=1)
    for i in range(t - 1, 0, -1):
        labels[:, i - 1] = back[:, i].gather(1, labels[:, i : i + 1]).squeeze(1)
    return labels


def target_weights(env: torch.Tensor, *, alpha: float = ALPHA, tau: float = TAU) -> tuple[torch.Tensor, torch.Tensor]:
    """From target envelopes [B, T, 42]: the row weights ``w_t`` [B, T] and Potts weights [B, T-1].

    Both use ``||s_t||``, the norm of the square-rooted envelopes (the network's target before PCA).
    """
    norm = env.clamp(min=0).sqrt().norm(dim=-1)
    w = 1 + alpha * (norm >= tau).to(env.dtype)
    return w, 0.5 * (norm[:, :-1] + norm[:, 1:])


def align(pred: torch.Tensor, target: torch.Tensor, env: torch.Tensor, *, max_shift: int = MAX_SHIFT,
          loss: str = "robust") -> tuple[torch.Tensor, torch.Tensor]:
    """Shift ``pred`` [B, T, D] to best match ``target`` [B, T, D] (both in the loss's space, e.g. PCA).

    env : the target's 42-band envelopes [B, T, 42] (for the weights). Returns the shifted prediction
    (differentiable: gradients flow to the rows it reads) and the shifts [B, T] in rows.
    """
    w, potts = target_weights(env)
    with torch.no_grad():
        labels = viterbi_shifts(unary_costs(pred.detach(), target, w, max_shift=max_shift, loss=loss), potts)
    shifts = labels - max_shift
    src = (torch.arange(pred.shape[1], device=pred.device)[None] + shifts).clamp(0, pred.shape[1] - 1)
    shifted = pred.gather(1, src[..., None].expand(-1, -1, pred.shape[2]))
    return shifted, shifts


def weighted_loss(shifted: torch.Tensor, target: torch.Tensor, env: torch.Tensor, *, eps: float = EPS,
                  loss: str = "robust") -> torch.Tensor:
    """``sum_t w_t rho(||s'_t - s_t||)`` summed over time, averaged over the batch (Eq. 5's data term)."""
    w, _ = target_weights(env)
    return (w * rho((shifted - target).pow(2).sum(-1), loss, eps)).sum(-1).mean()


def brute_force_shifts(unary: np.ndarray, switch: np.ndarray) -> tuple[np.ndarray, float]:
    """The slow reference for one sequence: try every labelling. unary [T, S], switch [T-1]."""
    t, s = unary.shape
    best, best_cost = None, np.inf
    for labels in itertools.product(range(s), repeat=t):
        c = sum(unary[i, labels[i]] for i in range(t))
        c += sum(switch[i] for i in range(t - 1) if labels[i] != labels[i + 1])
        if c < best_cost:
            best, best_cost = np.array(labels), c
    assert best is not None
    return best, float(best_cost)
