"""Scores of magnitude-class probabilities: MAUC, the confusion matrix, the Brier score.

MAUC is Hand and Till's (2001) multi-class AUC, ``roc_auc_score(y, proba,
multi_class="ovo", average="macro", labels=range(5))`` on softmax probabilities. A fold whose
test set lacks a class gets MAUC over the pairs of classes present, with the same one-vs-one
binary AUCs sklearn averages (:func:`mauc`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from geoanom.dlep.segment import N_CLASSES


def mauc(y: np.ndarray, proba: np.ndarray, labels: Sequence[int] = tuple(range(N_CLASSES))
         ) -> float:
    """Hand and Till's multi-class AUC of probabilities ``proba`` (n, len(labels)).

    With every label present in ``y`` this is ``roc_auc_score(y, proba, multi_class="ovo",
    average="macro", labels=labels)``. Otherwise the same average of the one-vs-one AUCs
    ``(A(i|j) + A(j|i)) / 2`` runs over the pairs of classes present (NaN if fewer than 2).
    """
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y)
    proba = np.asarray(proba, float)
    labels = list(labels)
    present = [c for c in labels if np.any(y == c)]
    if len(present) < 2:
        return float("nan")
    if len(present) == len(labels):
        return float(roc_auc_score(y, proba, multi_class="ovo", average="macro",
                                   labels=labels))
    col = {c: i for i, c in enumerate(labels)}
    pair_scores = []
    for ia, a in enumerate(present):
        for b in present[ia + 1:]:
            sel = (y == a) | (y == b)
            a_score = roc_auc_score(y[sel] == a, proba[sel, col[a]])
            b_score = roc_auc_score(y[sel] == b, proba[sel, col[b]])
            pair_scores.append((a_score + b_score) / 2.0)
    return float(np.mean(pair_scores))


def confusion(y: np.ndarray, pred: np.ndarray, n_classes: int = N_CLASSES) -> np.ndarray:
    """Confusion matrix (true class rows, predicted class columns)."""
    m = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(m, (np.asarray(y, int), np.asarray(pred, int)), 1)
    return m


def brier(y: np.ndarray, proba: np.ndarray) -> float:
    """Multi-class Brier score: mean over samples of ``sum_k (p_k - [y = k])**2`` (0 best,
    2 worst; lower is better)."""
    y = np.asarray(y, int)
    p = np.asarray(proba, float)
    if y.size == 0:
        return float("nan")
    onehot = np.zeros_like(p)
    onehot[np.arange(y.size), y] = 1.0
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))
