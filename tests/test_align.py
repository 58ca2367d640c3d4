"""The detection model's time-shift alignment: Viterbi against brute force, and what it is for."""

import numpy as np
import pytest
import torch

from vis.model.align import align, brute_force_shifts, target_weights, unary_costs, viterbi_shifts


@pytest.mark.parametrize("seed", range(6))
def test_viterbi_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    t, s = 6, 4
    unary = rng.random((3, t, s)) * 3
    unary[0, 0, 0] = np.inf  # a forbidden label
    switch = rng.random((3, t - 1)) * 2
    labels = viterbi_shifts(torch.tensor(unary), torch.tensor(switch)).numpy()
    for b in range(3):
        ref, ref_cost = brute_force_shifts(unary[b], switch[b])
        got = unary[b][np.arange(t), labels[b]].sum() + switch[b][labels[b][1:] != labels[b][:-1]].sum()
        assert got == pytest.approx(ref_cost)


def test_alignment_undoes_a_constant_delay():
    rng = np.random.default_rng(0)
    target = torch.zeros(1, 60, 10)
    env = torch.zeros(1, 60, 42)
    for t0 in (12, 35):  # two impacts
        target[0, t0 : t0 + 6] = torch.tensor(rng.random((6, 10)), dtype=torch.float32) * 3
        env[0, t0 : t0 + 6] = 0.6  # loud rows: ||sqrt(env)|| = sqrt(0.6 * 42) ~ 5.0 > tau
    pred = torch.roll(target, 5, dims=1)  # prediction 5 rows late
    shifted, shifts = align(pred, target, env)
    assert (shifts[0, 10:41] == 5).all()
    torch.testing.assert_close(shifted[0, 10:41], target[0, 10:41])


def test_shifts_stay_inside_and_gradient_flows():
    pred = torch.randn(2, 20, 10, requires_grad=True)
    target = torch.randn(2, 20, 10)
    shifted, shifts = align(pred, target, torch.rand(2, 20, 42), max_shift=3)
    rows = torch.arange(20)[None] + shifts
    assert (rows >= 0).all() and (rows < 20).all() and shifts.abs().max() <= 3
    shifted.sum().backward()
    assert pred.grad.abs().sum() > 0


def test_unary_forbids_reading_outside():
    c = unary_costs(torch.zeros(1, 5, 2), torch.zeros(1, 5, 2), torch.ones(1, 5), max_shift=2)
    assert torch.isinf(c[0, 0, 0]) and torch.isinf(c[0, 4, 4]) and torch.isfinite(c[0, 2]).all()


def test_weights_use_the_norm_of_the_square_rooted_envelopes():
    env = torch.zeros(1, 3, 42)
    env[0, 0] = 0.05  # ||sqrt(env)|| = sqrt(0.05 * 42) = 1.45: quiet floor
    env[0, 1] = 0.12  # sqrt(0.12 * 42) = 2.24 >= tau: loud (its own norm, 0.78, would not be)
    w, potts = target_weights(env)
    assert w[0].tolist() == [1.0, 4.0, 1.0]
    assert potts[0, 0].item() == pytest.approx(0.5 * (np.sqrt(0.05 * 42) + np.sqrt(0.12 * 42)), rel=1e-5)


def test_loss_option_reaches_the_unary_costs():
    pred, target = torch.zeros(1, 4, 2), torch.zeros(1, 4, 2)
    target[0, 1, 0] = 0.5
    w = torch.tensor([[1.0, 4.0, 1.0, 1.0]])
    c = unary_costs(pred, target, w, max_shift=1, loss="squared")
    assert c[0, 1, 1].item() == pytest.approx(4 * 0.25)  # w_t * r^2 at shift 0
    r = unary_costs(pred, target, w, max_shift=1)
    assert r[0, 1, 1].item() == pytest.approx(4 * np.log(1 / 625 + 0.25))
    with pytest.raises(ValueError, match="loss must be"):
        unary_costs(pred, target, w, loss="l1")
