"""Rank statistics: Mann-Whitney U, AUC, rank-biserial, Cliff's delta."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from geoanom.errors import ValidationError
from geoanom.stats.ranks import auc, cliffs_delta, mann_whitney, normalized_ranks, rank_biserial


def test_mann_whitney_matches_scipy_and_definitions():
    x = np.array([3.0, 4.0, 5.0, 5.0, 9.0])
    y = np.array([1.0, 2.0, 5.0, 3.0])
    r = mann_whitney(x, y)
    ref = stats.mannwhitneyu(x, y, alternative="greater")
    assert r.u == ref.statistic
    assert r.p_value == pytest.approx(ref.pvalue)
    # U by hand: pairs x > y plus half ties: 3:{1,2}+0.5(3)=2.5, 4:3, 5:3+0.5, 5:3.5, 9:4
    assert r.u == pytest.approx(2.5 + 3 + 3.5 + 3.5 + 4)
    assert r.auc == pytest.approx(r.u / 20)
    assert r.rank_biserial == pytest.approx(2 * r.auc - 1)
    assert (r.n1, r.n2) == (5, 4)


def test_one_sided_direction():
    rng = np.random.default_rng(0)
    hi, lo = rng.normal(1, 1, 200), rng.normal(0, 1, 200)
    assert mann_whitney(hi, lo).p_value < 1e-6
    assert mann_whitney(lo, hi).p_value > 0.99


def test_nan_dropped_and_empty_rejected():
    assert auc([1.0, np.nan, 3.0], [2.0]) == pytest.approx(0.5)
    with pytest.raises(ValidationError):
        mann_whitney([np.nan], [1.0])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=30),
       st.lists(st.integers(0, 6), min_size=1, max_size=30))
def test_cliffs_delta_equals_rank_biserial_with_ties(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    d = cliffs_delta(x, y)
    # direct double loop definition
    brute = np.mean(np.sign(x[:, None] - y[None, :]))
    assert d == pytest.approx(brute)
    assert d == pytest.approx(rank_biserial(auc(x, y)))
    assert auc(x, y) == pytest.approx(mann_whitney(x, y).auc)


def test_normalized_ranks_half_ties():
    ref = np.sort(np.array([1.0, 2.0, 2.0, 3.0]))
    assert normalized_ranks([2.0, 0.0, 5.0], ref).tolist() == [0.5, 0.0, 1.0]
