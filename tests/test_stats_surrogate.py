"""Surrogate nulls: p-value floor, the tested event never in its own null, shift structure,
stationary bootstrap, bootstrap CIs, autocorrelation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geoanom.errors import ValidationError
from geoanom.stats import surrogate as sg
from geoanom.stats.ranks import auc


def _circ(d, n):
    d = np.mod(d, n)
    return np.minimum(d, n - d)


@settings(max_examples=100, deadline=None)
@given(st.floats(-1, 2, allow_nan=False), st.lists(st.floats(0, 1), min_size=0, max_size=50))
def test_p_value_never_below_one_over_b_plus_one(obs, null):
    p = sg.p_value(obs, np.asarray(null))
    assert 1.0 / (len(null) + 1) <= p <= 1.0
    if null and obs > max(null) + 1e-9:   # ties within 1e-12 count as ties
        assert p == pytest.approx(1.0 / (len(null) + 1))


def test_p_value_counts_ties_and_skips_nan():
    assert sg.p_value(0.7, [0.7, 0.1, np.nan, 0.9]) == pytest.approx(3 / 4)


@settings(max_examples=50, deadline=None)
@given(st.integers(800, 6000), st.integers(1, 60), st.integers(0, 10_000))
def test_event_never_enters_its_own_null(n_bins, lead_max, seed):
    """In every surrogate, each event lands at circular distance > lead_max from its own bin,
    so the lead-window bins read for it are disjoint from those of its observed value."""
    rng = np.random.default_rng(seed)
    events = np.sort(rng.choice(n_bins, 20, replace=False))
    min_shift = lead_max + 1
    for shifts in (sg.uniform_shifts(n_bins, 300, rng, min_shift),
                   sg.season_keeping_shifts(n_bins, 1.0, 300, rng, min_shift=min_shift)):
        if shifts is None:
            continue
        landed = np.mod(events[None, :] + shifts[:, None], n_bins)
        assert np.all(_circ(landed - events[None, :], n_bins) >= min_shift)
        own = events[:, None] - np.arange(1, lead_max + 1)[None, :]        # observed reads
        read = landed[:, :, None] - np.arange(1, lead_max + 1)[None, None, :]
        assert not np.any(np.mod(read, n_bins)[:, :, :, None]
                          == np.mod(own, n_bins)[None, :, None, :])
    sb = sg.sequence_shuffle_bins(n_bins, events, 300, rng, min_shift)
    assert np.all(_circ(sb - events[None, :], n_bins) >= min_shift)


def test_season_keeping_shifts_are_whole_years_plus_jitter():
    rng = np.random.default_rng(3)
    n = 3653
    s = sg.season_keeping_shifts(n, 1.0, 5000, rng, jitter_days=30, min_shift=31)
    # each shift is (round(k years) + d) mod n for a nonzero k and |d| <= 30 days
    ks = np.array([k for k in range(-9, 10) if k != 0])
    d = np.mod(s[:, None] - np.round(ks * 365.25)[None, :], n)
    d = np.where(d > n / 2, d - n, d)
    assert np.all(np.abs(d).min(axis=1) <= 30)
    assert np.unique(s).size > 500
    assert sg.season_keeping_shifts(200, 1.0, 10, rng) is None   # shorter than a year


def test_shifted_values_and_null_auc_match_a_loop():
    rng = np.random.default_rng(0)
    L = rng.normal(size=400)
    elig = rng.random(400) > 0.3
    ev = np.array([5, 50, 120, 399])
    shifts = sg.uniform_shifts(400, 50, rng, 31)
    vals = sg.shifted_values(L, ev, shifts, elig)
    null = sg.null_auc(vals, np.sort(L[elig]))
    for i, s in enumerate(shifts):
        b = (ev + s) % 400
        b = b[elig[b]]
        want = auc(L[b], L[elig]) if b.size else np.nan
        assert null[i] == pytest.approx(want, nan_ok=True)


def test_stationary_bootstrap_blocks():
    rng = np.random.default_rng(5)
    idx = sg.stationary_bootstrap_indices(1000, 50, 20.0, rng)
    assert idx.shape == (50, 1000) and idx.min() >= 0 and idx.max() < 1000
    step = np.mod(np.diff(idx, axis=1), 1000)
    cont = step == 1
    # blocks continue circularly; new blocks start with probability 1/20
    assert 1 - cont.mean() == pytest.approx(1 / 20, abs=0.01)
    with pytest.raises(ValidationError):
        sg.stationary_bootstrap_indices(10, 1, 0.5, rng)


def test_bootstrap_ci_over_events_covers_the_auc():
    rng = np.random.default_rng(2)
    ranks = rng.uniform(0.3, 1.0, 40)
    lo, hi = sg.bootstrap_ci_events(ranks, 2000, rng)
    assert lo < ranks.mean() < hi
    assert hi - lo == pytest.approx(2 * 1.96 * ranks.std() / np.sqrt(40), rel=0.2)


def test_lag1_and_effective_sample_size_on_ar1():
    rng = np.random.default_rng(4)
    e = rng.normal(size=20000)
    x = np.empty_like(e)
    x[0] = e[0]
    for i in range(1, x.size):
        x[i] = 0.8 * x[i - 1] + e[i]
    r = sg.lag1_autocorrelation(x)
    assert r == pytest.approx(0.8, abs=0.02)
    assert sg.effective_sample_size(1000, 0.8) == pytest.approx(1000 * 0.2 / 1.8)
