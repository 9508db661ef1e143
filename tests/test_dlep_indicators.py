"""DLEP indicators: hand-computed values on small catalogs, masked undefined cases,
vectorisation, and training-fold-only scaling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from geoanom.dlep.indicators import INDICATOR_NAMES, IndicatorScaler, compute_indicators
from geoanom.errors import LeakageError

COL = {n: i for i, n in enumerate(INDICATOR_NAMES)}


def _reference(t, m, char_delta=0.5):
    """Loop implementation of METHODS.md section 3, written independently of the module."""
    t = [float(x) for x in t]
    m = [float(x) for x in m]
    n = len(m)
    out = {}
    out["T_days"] = t[-1] - t[0]
    out["M_mean"] = sum(m) / n
    out["log10_dE_sqrt"] = math.log10(sum(math.sqrt(10 ** (11.8 + 1.5 * x)) for x in m)
                                      / out["T_days"])
    logn = [math.log10(sum(1 for y in m if y >= x)) for x in m]
    sm, sl = sum(m), sum(logn)
    sml = sum(x * y for x, y in zip(m, logn, strict=True))
    smm = sum(x * x for x in m)
    b = (n * sml - sm * sl) / (sm ** 2 - n * smm)
    a = sum(y + b * x for x, y in zip(m, logn, strict=True)) / n
    out["b"], out["a"] = b, a
    out["eta"] = sum((y - (a - b * x)) ** 2 for x, y in zip(m, logn, strict=True)) / (n - 1)
    out["dM"] = max(m) - a / b
    tc = [ti for ti, x in zip(t, m, strict=True) if x >= max(m) - char_delta]
    gaps = [q - p for p, q in zip(tc[:-1], tc[1:], strict=True)]
    out["mu_days"] = sum(gaps) / len(gaps) if gaps else float("nan")
    if len(gaps) >= 2:
        mu = out["mu_days"]
        out["c"] = math.sqrt(sum((g - mu) ** 2 for g in gaps) / len(gaps)) / mu
    else:
        out["c"] = float("nan")
    return out


def test_hand_computed_small_pattern():
    # four events: T = 6 d, mean M = 4.45, two characteristic events (M >= 4.5) 5 days apart
    t = [0.0, 1.0, 3.0, 6.0]
    m = [4.0, 4.6, 4.2, 5.0]
    vals, mask = compute_indicators(np.array([t]), np.array([m]))
    assert vals[0, COL["T_days"]] == pytest.approx(6.0)
    assert vals[0, COL["M_mean"]] == pytest.approx(4.45)
    assert vals[0, COL["mu_days"]] == pytest.approx(5.0)
    # one interval: the aperiodicity c is undefined, masked, never 0
    assert np.isnan(vals[0, COL["c"]]) and not mask[0, COL["c"]]
    # N_i = 4, 2, 3, 1 -> b by the least-squares formula, by hand:
    logn = np.log10([4, 2, 3, 1])
    mm = np.array(m)
    b = (4 * (mm * logn).sum() - mm.sum() * logn.sum()) / (mm.sum() ** 2 - 4 * (mm ** 2).sum())
    assert vals[0, COL["b"]] == pytest.approx(b, rel=1e-12)
    assert 0.3 < b < 3.0  # sanity range documented in the module
    ref = _reference(t, m)
    for name in INDICATOR_NAMES:
        if name != "c":
            assert vals[0, COL[name]] == pytest.approx(ref[name], rel=1e-9, abs=1e-12), name


def test_aperiodicity_with_three_characteristic_events():
    t = [0.0, 2.0, 3.0, 7.0]
    m = [5.0, 4.0, 4.8, 4.9]
    vals, mask = compute_indicators(np.array([t]), np.array([m]))
    # characteristic events at 0, 3, 7 days: intervals 3 and 4
    assert vals[0, COL["mu_days"]] == pytest.approx(3.5)
    assert vals[0, COL["c"]] == pytest.approx(0.5 / 3.5)
    assert mask[0].all()
    # the energy term by hand: log10(sum 10**(5.9 + 0.75 M) / T)
    e = sum(10 ** (5.9 + 0.75 * x) for x in m)
    assert vals[0, COL["log10_dE_sqrt"]] == pytest.approx(math.log10(e / 7.0), rel=1e-12)


def test_matches_reference_on_random_patterns():
    rng = np.random.default_rng(3)
    t = np.sort(rng.uniform(0, 100, (30, 12)), axis=1)
    m = np.round(rng.uniform(3.0, 6.0, (30, 12)), 1)
    vals, mask = compute_indicators(t, m)
    for i in range(30):
        ref = _reference(t[i], m[i])
        for name in INDICATOR_NAMES:
            r = ref[name]
            if math.isnan(r):
                assert not mask[i, COL[name]]
            else:
                assert vals[i, COL[name]] == pytest.approx(r, rel=1e-9, abs=1e-9), (i, name)


def test_undefined_cases_are_nan_and_masked():
    t = np.array([[0.0, 1.0, 2.0, 3.0],   # equal magnitudes: no b-value
                  [5.0, 5.0, 5.0, 5.0],   # T = 0: no energy rate
                  [0.0, 1.0, 2.0, 3.0]])  # one characteristic event: no mu, no c
    m = np.array([[4.0, 4.0, 4.0, 4.0],
                  [4.0, 4.5, 4.1, 3.9],
                  [4.0, 4.1, 3.9, 6.0]])
    vals, mask = compute_indicators(t, m)
    assert np.array_equal(np.isnan(vals), ~mask)
    for name in ("b", "a", "eta", "dM"):
        assert not mask[0, COL[name]]
    assert mask[0, COL["M_mean"]] and vals[0, COL["M_mean"]] == 4.0
    assert not mask[1, COL["log10_dE_sqrt"]] and mask[1, COL["T_days"]]
    assert vals[1, COL["T_days"]] == 0.0
    assert not mask[2, COL["mu_days"]] and not mask[2, COL["c"]]
    # nothing undefined was silently set to 0 or 1
    assert not np.any(vals[~mask] == 0) and not np.any(vals[~mask] == 1)


def test_padding_with_valid_mask_equals_unpadded_rows():
    t_short, m_short = [0.0, 1.5, 4.0], [4.2, 4.9, 4.4]
    t_long = [0.0, 0.5, 2.0, 2.5, 6.0]
    m_long = [4.0, 4.8, 4.4, 4.7, 5.1]
    t = np.array([t_short + [99.0, 99.0], t_long])
    m = np.array([m_short + [9.0, 9.0], m_long])
    valid = np.array([[True] * 3 + [False] * 2, [True] * 5])
    vals, mask = compute_indicators(t, m, valid)
    v0, k0 = compute_indicators(np.array([t_short]), np.array([m_short]))
    v1, k1 = compute_indicators(np.array([t_long]), np.array([m_long]))
    np.testing.assert_allclose(vals[0], v0[0], rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(vals[1], v1[0], rtol=1e-12, equal_nan=True)
    assert np.array_equal(mask, np.vstack([k0, k1]))


def test_aki_utsu_b_recovers_gutenberg_richter_b():
    rng = np.random.default_rng(11)
    b_true, mc = 1.0, 3.0
    m = mc + rng.exponential(1.0 / (b_true * math.log(10)), size=(1, 4000))
    t = np.sort(rng.uniform(0, 1000, m.shape), axis=1)
    vals, _ = compute_indicators(t, m, b_method="aki", mc=mc, magnitude_step=0.0)
    assert vals[0, COL["b"]] == pytest.approx(b_true, abs=0.06)
    # the least-squares b on cumulative counts lands in the same range
    vals_lsq, _ = compute_indicators(t, m)
    assert 0.6 < vals_lsq[0, COL["b"]] < 1.4


def test_scaler_uses_training_rows_only():
    rng = np.random.default_rng(0)
    x = rng.normal(10.0, 2.0, (50, 9))
    x[3, 2] = np.nan
    train = np.arange(40)
    scaler = IndicatorScaler().fit(x, train)
    x2 = x.copy()
    x2[40:] = 1e6  # a wild test fold must not move the statistics
    scaler2 = IndicatorScaler().fit(x2, train)
    np.testing.assert_allclose(scaler.mean, scaler2.mean)
    np.testing.assert_allclose(scaler.std, scaler2.std)
    z, mk = scaler.transform(x)
    assert z[3, 2] == 0.0 and mk[3, 2] == 0.0
    np.testing.assert_allclose(z[train][:, 0].mean(), 0.0, atol=1e-6)
    np.testing.assert_allclose(z[train][:, 0].std(), 1.0, atol=1e-5)
    with pytest.raises(LeakageError):
        IndicatorScaler().fit(x, np.array([], int))
