"""DLEP's dynamic loss: class weights from the training set and from each batch.

METHODS.md section 4::

    c_i  = (1 / n_i) / sum_k (1 / n_k)      over classes present in the training set
    bc_i = (1 / b_i) / sum_k (1 / b_k)      over classes present in the batch
    bc_i = c_i                              for a class absent from the batch
    w_i  = lambda * bc_i + (1 - lambda) * c_i           (default lambda = 0.8)
    loss = sum_j w_{y_j} CE_j / sum_j w_{y_j}

A class absent from the training set has ``c_i = 0`` (no sample carries it). With equal
weights the loss is the mean cross-entropy, so uniform classes reduce to plain CE. The paper's
Fig. 5 worked example cannot be reproduced from its printed formula and is not a test target.
DLEP(-Dyn) uses plain cross-entropy (:func:`make_loss` with ``dynamic=False``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from geoanom.errors import ValidationError


def inverse_frequency(counts: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``(1/n_i) / sum_k (1/n_k)`` over classes with ``n_k > 0``; 0 for absent classes
    (classes on the last axis; leading axes are independent sets of counts)."""
    n = torch.as_tensor(counts, dtype=torch.float64)
    inv = torch.where(n > 0, 1.0 / n.clamp(min=1.0), torch.zeros_like(n))
    s = inv.sum(dim=-1, keepdim=True)
    return torch.where(s > 0, inv / torch.where(s > 0, s, torch.ones_like(s)), inv)


def dynamic_class_weights(batch_counts: np.ndarray | torch.Tensor,
                          train_counts: np.ndarray | torch.Tensor,
                          lam: float = 0.8) -> torch.Tensor:
    """Per-class weights ``w_i`` (float64 tensor) of one batch.

    Parameters
    ----------
    batch_counts
        Samples per class in the batch (classes on the last axis; leading axes, e.g. one
        row per fold-parallel group, are independent).
    train_counts
        Samples per class in the training set (same layout).
    lam
        Weight of the batch distribution, 0..1.
    """
    if not 0.0 <= lam <= 1.0:
        raise ValidationError("dynamic loss lambda out of range", expected="0..1",
                              found=str(lam))
    b = torch.as_tensor(batch_counts, dtype=torch.float64)
    c = inverse_frequency(train_counts).expand(b.shape)
    bc = torch.where(b > 0, inverse_frequency(b), c)
    return lam * bc + (1.0 - lam) * c


class DynamicLoss:
    """Callable ``loss(logits, target)`` with the dynamic class weights of METHODS.md.

    Parameters
    ----------
    train_counts
        Samples per class in the training set (length = number of classes).
    lam
        Weight of the batch distribution (default 0.8).
    """

    def __init__(self, train_counts: np.ndarray, lam: float = 0.8) -> None:
        self.train_counts = torch.as_tensor(np.asarray(train_counts), dtype=torch.float64)
        self.n_classes = int(self.train_counts.numel())
        self.lam = float(lam)

    def weights(self, target: torch.Tensor) -> torch.Tensor:
        """Class weights for the batch with labels ``target``."""
        bcount = torch.bincount(target.detach().cpu(), minlength=self.n_classes)
        return dynamic_class_weights(bcount, self.train_counts, self.lam)

    def __call__(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        w = self.weights(target).to(device=logits.device, dtype=logits.dtype)
        # reduction="mean" with weights divides by sum_j w_{y_j}: the normalisation above
        return F.cross_entropy(logits, target, weight=w, reduction="mean")


def make_loss(train_counts: np.ndarray, *, dynamic: bool = True, lam: float = 0.8
              ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The DLEP loss (dynamic) or the DLEP(-Dyn) loss (plain mean cross-entropy)."""
    if dynamic:
        return DynamicLoss(train_counts, lam)
    return lambda logits, target: F.cross_entropy(logits, target)
