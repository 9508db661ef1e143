"""Rank statistics: one-sided Mann-Whitney U, AUC, rank-biserial correlation, Cliff's delta.

Conventions used throughout :mod:`geoanom.stats`: ties count one half, so that
``AUC = P(X > Y) + 0.5 P(X = Y) = U / (n1 n2)``, the rank-biserial correlation is
``2 AUC - 1`` and Cliff's delta ``P(X > Y) - P(X < Y)`` equals it exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as _st

from geoanom.errors import ValidationError


@dataclass(frozen=True)
class MannWhitney:
    """Result of a one-sided Mann-Whitney U test of ``x > y``."""

    u: float
    p_value: float
    auc: float
    rank_biserial: float
    n1: int
    n2: int

    def to_dict(self) -> dict:
        """JSON-safe dict."""
        return {k: (float(v) if isinstance(v, float) else int(v)) for k, v in asdict(self).items()}


def _clean(a, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=float).ravel()
    a = a[np.isfinite(a)]
    if a.size == 0:
        raise ValidationError(f"{name} has no finite values", expected="at least one value")
    return a


def mann_whitney(x, y) -> MannWhitney:
    """One-sided Mann-Whitney U test that ``x`` tends to exceed ``y`` (scipy, alternative
    ``"greater"``, asymptotic with tie and continuity correction for large samples).

    Parameters
    ----------
    x, y
        Samples (any units, e.g. window RMSE in normalised units); NaN values are dropped.

    Returns
    -------
    MannWhitney
        ``u`` is the statistic of ``x``; ``auc = u / (n1 n2)``; ``rank_biserial = 2 auc - 1``.
    """
    x = _clean(x, "x")
    y = _clean(y, "y")
    res = _st.mannwhitneyu(x, y, alternative="greater")
    u = float(res.statistic)
    a = u / (x.size * y.size)
    return MannWhitney(u=u, p_value=float(res.pvalue), auc=a, rank_biserial=2.0 * a - 1.0,
                       n1=int(x.size), n2=int(y.size))


def rank_counts(values, reference_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Numbers of reference values strictly below and equal to each of ``values``.

    ``reference_sorted`` must be sorted ascending; ``values`` may have any shape (vectorised
    with ``searchsorted``, O(len(values) log len(reference))).
    """
    v = np.asarray(values, dtype=float)
    lo = np.searchsorted(reference_sorted, v, side="left")
    hi = np.searchsorted(reference_sorted, v, side="right")
    return lo, hi - lo


def normalized_ranks(values, reference_sorted: np.ndarray) -> np.ndarray:
    """``P(Y < v) + 0.5 P(Y = v)`` for each value ``v`` against the reference sample ``Y``.

    The mean of these over a sample X is the AUC of X against Y (ties one half).
    """
    lo, eq = rank_counts(values, reference_sorted)
    return (lo + 0.5 * eq) / reference_sorted.size


def auc(x, y) -> float:
    """AUC = P(X > Y) + 0.5 P(X = Y) of sample ``x`` against sample ``y`` (NaN dropped)."""
    x = _clean(x, "x")
    y = np.sort(_clean(y, "y"))
    return float(np.mean(normalized_ranks(x, y)))


def rank_biserial(auc_value: float) -> float:
    """Rank-biserial correlation ``2 AUC - 1`` (in [-1, 1])."""
    return 2.0 * float(auc_value) - 1.0


def cliffs_delta(x, y) -> float:
    """Cliff's delta ``P(X > Y) - P(X < Y)``, counted directly (not via the AUC).

    Vectorised with sorting: O((n1 + n2) log n2).
    """
    x = _clean(x, "x")
    y = np.sort(_clean(y, "y"))
    below = np.searchsorted(y, x, side="left")           # y < x
    above = y.size - np.searchsorted(y, x, side="right")  # y > x
    return float((below.sum() - above.sum()) / (x.size * y.size))
