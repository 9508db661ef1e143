"""DLEP's dynamic loss: hand-computed weights, absent classes, reduction to cross-entropy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from geoanom.dlep.loss import DynamicLoss, dynamic_class_weights, inverse_frequency, make_loss
from geoanom.errors import ValidationError

torch.set_num_threads(1)


def test_hand_computed_weights_with_absent_classes():
    train = [10, 20, 0, 40, 30]  # class 2 never seen in training
    batch = [2, 0, 0, 1, 1]      # classes 1 and 2 absent from the batch
    # c = (1/n) / sum(1/n) = [.1, .05, 0, .025, 1/30] / (5/24) = [.48, .24, 0, .12, .16]
    # bc over the batch classes: [.5, -, -, 1, 1] / 2.5 = [.2, -, -, .4, .4]; absent -> c
    expected = 0.8 * np.array([0.2, 0.24, 0.0, 0.4, 0.4]) + 0.2 * np.array(
        [0.48, 0.24, 0.0, 0.12, 0.16])
    w = dynamic_class_weights(batch, train, lam=0.8).numpy()
    np.testing.assert_allclose(w, expected, rtol=1e-12)
    assert w[2] == 0.0  # a class absent from training carries no weight


def test_uniform_classes_reduce_to_cross_entropy():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(20, 5, generator=g)
    target = torch.arange(20) % 5  # 4 of each class in the batch
    loss = DynamicLoss(np.array([7, 7, 7, 7, 7]), lam=0.8)
    w = loss.weights(target)
    np.testing.assert_allclose(w.numpy(), np.full(5, 0.2), rtol=1e-12)
    assert float(loss(logits, target)) == pytest.approx(float(F.cross_entropy(logits, target)),
                                                        rel=1e-6)


def test_loss_is_weighted_cross_entropy_over_sum_of_weights():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 5, generator=g, dtype=torch.float64)
    target = torch.tensor([0, 0, 0, 3, 4, 4])
    train = np.array([50, 10, 5, 3, 2])
    loss = DynamicLoss(train, lam=0.5)
    w = dynamic_class_weights(np.bincount(target.numpy(), minlength=5), train, 0.5)
    ce = F.cross_entropy(logits, target, reduction="none")
    manual = (w[target] * ce).sum() / w[target].sum()
    assert float(loss(logits, target)) == pytest.approx(float(manual), rel=1e-12)
    # rare classes weigh more than the common class
    assert w[4] > w[0] and w[3] > w[0]


def test_lambda_zero_and_one_are_the_two_distributions():
    train, batch = [1, 2, 3, 4, 5], [3, 1, 0, 1, 1]
    np.testing.assert_allclose(dynamic_class_weights(batch, train, 0.0).numpy(),
                               inverse_frequency(train).numpy())
    w1 = dynamic_class_weights(batch, train, 1.0).numpy()
    assert w1[2] == pytest.approx(float(inverse_frequency(train)[2]))  # absent -> c_i
    present = [0, 1, 3, 4]
    np.testing.assert_allclose(w1[present] / w1[present].sum(),
                               inverse_frequency(np.array(batch)[present]).numpy())
    with pytest.raises(ValidationError):
        dynamic_class_weights(batch, train, 1.5)


def test_rows_of_counts_are_independent():
    train = np.array([[5, 5, 5, 5, 5], [1, 10, 100, 0, 3]])
    batch = np.array([[1, 0, 2, 0, 0], [0, 3, 3, 0, 1]])
    w = dynamic_class_weights(batch, train, 0.8).numpy()
    for k in range(2):
        np.testing.assert_allclose(w[k], dynamic_class_weights(batch[k], train[k], 0.8).numpy())


def test_dyn_ablation_is_plain_cross_entropy():
    logits = torch.randn(8, 5)
    target = torch.tensor([0, 0, 0, 0, 0, 0, 1, 4])
    plain = make_loss(np.array([100, 1, 1, 1, 1]), dynamic=False)
    assert float(plain(logits, target)) == pytest.approx(float(F.cross_entropy(logits, target)))
