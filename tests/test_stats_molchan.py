"""Molchan diagram: hand-worked curves, ASS = AUC, hits and probability gain."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geoanom.errors import ValidationError
from geoanom.stats.molchan import (
    area_skill_score,
    hits_at,
    molchan_curve,
    molchan_summary,
    nu_on_grid,
    probability_gain,
)
from geoanom.stats.ranks import auc


def test_hand_worked_curve_five_bins():
    # bins with alarm 1..5; events in the bins of value 4 and 2.
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    c = molchan_curve(a, a[[3, 1]])
    # thresholds 5,4,3,2,1 alarm 1..5 bins; misses: t=5 both, t=4 one, t=3 one, t<=2 none
    assert c.tau.tolist() == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert c.nu.tolist() == pytest.approx([1, 1, 0.5, 0.5, 0, 0])
    # area = 0.2*1 + 0.2*0.75 + 0.2*0.5 + 0.2*0.25 + 0 = 0.5
    assert area_skill_score(c) == pytest.approx(0.5)
    assert hits_at(c, 0.2) == 0
    assert hits_at(c, 0.4) == 1
    assert probability_gain(c, 0.4) == pytest.approx(0.5 / 0.4)


def test_hand_worked_perfect_and_ties():
    # perfect: the single event has the top value among 4 bins -> nu drops at tau = 1/4
    c = molchan_curve([0.0, 1.0, 2.0, 9.0], [9.0])
    assert c.tau.tolist() == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])
    assert c.nu.tolist() == pytest.approx([1, 0, 0, 0, 0])
    assert area_skill_score(c) == pytest.approx(1 - 0.125)   # one triangle of 0.25 x 1
    # all bins tied: one jump from (0,1) to (1,0): ASS 0.5 (random tie-breaking)
    c = molchan_curve([1.0, 1.0, 1.0], [1.0, 1.0])
    assert c.tau.tolist() == [0.0, 1.0] and c.nu.tolist() == [1.0, 0.0]
    assert area_skill_score(c) == pytest.approx(0.5)
    assert hits_at(c, 0.5) == 0   # a tie that would alarm all the time is not switched on


def test_event_below_all_bins_closes_curve():
    c = molchan_curve([5.0, 6.0], [1.0])
    assert c.tau[-1] == 1.0 and c.nu[-1] == 0.0
    assert area_skill_score(c) == pytest.approx(0.0)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 8), min_size=2, max_size=60), st.data())
def test_ass_equals_auc_on_a_single_series_with_ties(series, data):
    a = np.asarray(series, float)
    k = data.draw(st.lists(st.integers(0, a.size - 1), min_size=1, max_size=10, unique=True))
    c = molchan_curve(a, a[k])
    assert area_skill_score(c) == pytest.approx(auc(a[k], a), abs=1e-12)


def test_summary_and_grid_agree_with_hits():
    rng = np.random.default_rng(1)
    a = rng.normal(size=500)
    ev = a[rng.choice(500, 25, replace=False)] + 1.0
    c = molchan_curve(a, ev)
    s = molchan_summary(c)
    grid = nu_on_grid(np.sort(a), ev[None, :], np.array([0.05, 0.1, 0.2]))[0]
    for t, nu in zip((0.05, 0.1, 0.2), grid, strict=True):
        assert s["at_tau"][f"{t:g}"]["hits"] == round((1 - nu) * 25)
        assert s["at_tau"][f"{t:g}"]["probability_gain"] == pytest.approx((1 - nu) / t)


def test_empty_inputs_rejected():
    with pytest.raises(ValidationError):
        molchan_curve([np.nan], [1.0])
    with pytest.raises(ValidationError):
        probability_gain(molchan_curve([1.0], [1.0]), 0.0)
