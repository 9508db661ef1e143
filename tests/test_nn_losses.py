"""The negative-learning penalties: sign, bound, monotonicity, and why -MSE is not offered."""

from __future__ import annotations

import math

import pytest
import torch

from geoanom.detector.nn.losses import PENALTIES, NegativeLearningLoss, penalty
from geoanom.errors import ConfigError

torch.set_num_threads(1)

E = torch.cat([torch.zeros(1), torch.logspace(-4, 4, 400, dtype=torch.float64)])


@pytest.mark.parametrize("kind", PENALTIES)
def test_penalty_is_non_negative_and_non_increasing(kind):
    phi = penalty(E, kind, margin=2.0, eps=1e-3)
    assert torch.all(torch.isfinite(phi))
    assert torch.all(phi >= 0)
    assert torch.all(phi[1:] <= phi[:-1] + 1e-12)
    # and it actually decreases somewhere: it rewards a larger seismic error
    assert phi[0] > phi[-1]


@pytest.mark.parametrize("kind", PENALTIES)
def test_penalty_is_bounded_above_at_zero_error(kind):
    phi0 = float(penalty(torch.zeros(1, dtype=torch.float64), kind, margin=2.0, eps=1e-3))
    expected = {"hinge": 2.0, "abc": -math.log(1 - math.exp(-1e-3)), "inverse": 1e3}[kind]
    assert phi0 == pytest.approx(expected, rel=1e-9)


def test_penalty_values():
    e = torch.tensor([0.5, 1.0, 3.0], dtype=torch.float64)
    assert penalty(e, "hinge", margin=1.5).tolist() == pytest.approx([1.0, 0.5, 0.0])
    assert penalty(e, "abc").tolist() == pytest.approx(
        [-math.log(1 - math.exp(-v)) for v in (0.5, 1.0, 3.0)])
    assert penalty(e, "inverse", eps=0.5).tolist() == pytest.approx([1.0, 1 / 1.5, 1 / 3.5])


def test_hinge_has_no_gradient_beyond_the_margin():
    e = torch.tensor([0.5, 4.0], requires_grad=True)
    penalty(e, "hinge", margin=2.0).sum().backward()
    assert e.grad.tolist() == [-1.0, 0.0]


def test_unknown_penalty_and_negative_mse_are_refused():
    with pytest.raises(ConfigError, match="unknown"):
        penalty(E, "neg_mse")
    with pytest.raises(ConfigError):
        NegativeLearningLoss("neg_mse")


def test_lambda_ramps_linearly_from_zero():
    loss = NegativeLearningLoss("hinge", lam=2.0, ramp_epochs=4)
    assert [loss.lam_at(k) for k in range(6)] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0]
    assert NegativeLearningLoss("hinge", lam=2.0, ramp_epochs=0).lam_at(0) == 2.0


def test_total_loss_parts_and_margin_from_running_normal_error():
    loss = NegativeLearningLoss("hinge", lam=1.0, ramp_epochs=0, margin_factor=3.0,
                                momentum=0.5)
    e = torch.tensor([1.0, 2.0, 3.0, 0.5, 10.0])
    label = torch.tensor([0, 0, 0, 1, 1])
    total, parts = loss(e, label, epoch=0)
    # running median = median(1, 2, 3) = 2 -> margin 6; penalty = mean(5.5, 0)
    assert parts["margin"] == pytest.approx(6.0)
    assert parts["normal"] == pytest.approx(2.0)
    assert parts["penalty"] == pytest.approx(2.75)
    assert float(total) == pytest.approx(4.75)
    loss(torch.tensor([4.0, 4.0, 4.0]), torch.tensor([0, 0, 0]), epoch=0)
    assert loss.running_normal == pytest.approx(0.5 * 2 + 0.5 * 4)
    state = loss.state_dict()
    other = NegativeLearningLoss("hinge")
    other.load_state_dict(state)
    assert other.running_normal == loss.running_normal


def test_plain_autoencoder_ignores_seismic_windows():
    loss = NegativeLearningLoss("inverse", lam=0.0)
    total, parts = loss(torch.tensor([1.0, 0.0]), torch.tensor([0, 1]), epoch=10)
    assert float(total) == 1.0 and parts["penalty"] == 0.0


@pytest.mark.parametrize("kind", PENALTIES)
def test_total_loss_is_bounded_below_by_zero(kind):
    gen = torch.Generator().manual_seed(1)
    loss = NegativeLearningLoss(kind, lam=5.0, ramp_epochs=0)
    for _ in range(50):
        e = torch.rand(32, generator=gen) * 10 ** float(torch.randint(-3, 4, (1,), generator=gen))
        label = torch.randint(0, 2, (32,), generator=gen)
        total, _ = loss(e, label, epoch=3)
        assert float(total) >= 0


def _optimise_free_output(objective, bound=None, steps=300, lr=0.1):
    """Gradient descent on one free 'reconstruction' of a seismic sample whose target is 0.

    The error is ``e = y^2`` (y the output; bounded by ``bound * tanh`` when given). Returns the
    trajectory of the objective and the final error.
    """
    p = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    values = []
    for _ in range(steps):
        y = p if bound is None else bound * torch.tanh(p / bound)
        e = (y ** 2).sum()
        obj = objective(e)
        opt.zero_grad()
        obj.backward()
        opt.step()
        values.append(float(obj.detach()))
    y = p if bound is None else bound * torch.tanh(p / bound)
    return values, float((y ** 2).sum().detach())


def test_negative_mse_diverges_where_the_bounded_penalties_converge():
    # -e: the objective has no lower bound; unbounded output runs away geometrically
    values, e_final = _optimise_free_output(lambda e: -e)
    assert values[-1] < -1e20 and e_final > 1e20
    # with a bounded output, -e drives the output onto the bound (saturated decoder)
    _, e_sat = _optimise_free_output(lambda e: -e, bound=10.0, steps=2000)
    assert 99.0 < e_sat <= 100.0
    # the bounded penalties stay >= 0 and settle: hinge stops exactly at the margin
    values, e_final = _optimise_free_output(lambda e: penalty(e, "hinge", margin=2.0))
    # (one gradient step overshoots the margin by at most a factor (1 + 2 lr)^2)
    assert 2.0 <= e_final < 2.0 * 1.2 ** 2 and values[-1] == 0.0
    for kind in ("abc", "inverse"):
        values, e_final = _optimise_free_output(lambda e, k=kind: penalty(e, k))
        assert min(values) >= 0
        # the objective converges (its last changes vanish) and e stays finite and modest
        assert abs(values[-1] - values[-2]) < 1e-3
        assert math.isfinite(e_final) and e_final < 100
