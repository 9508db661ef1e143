"""The legacy window-level test: the batched Mann-Whitney pinned against scipy, the
calibrated p on the test statistic (issue 15 defect 2), and its labels by THE label rule
(issue 15 defect 4)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from geoanom.detector.windows import WindowConfig
from geoanom.labels import LabelRule, window_labels
from geoanom.stats.legacy import (
    bin_labels,
    label_rule_for,
    mann_whitney_z_batch,
    naive_p_from_z,
    tie_groups,
)
from geoanom.stats.protocol import Protocol
from geoanom.stats.test import run_test

_spec = importlib.util.spec_from_file_location(
    "calibration", Path(__file__).resolve().parents[1] / "bench" / "calibration.py")
calibration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(calibration)

FAST = dict(surrogates_n=199, surrogates_n_secondary=0, surrogates_n_bootstrap=99,
            surrogates_n_legacy=199, surrogates_n_fake_catalogs=0)


def _batch_p(scores, labelings):
    order = np.argsort(scores, kind="mergesort")
    labs = np.asarray(labelings)[:, order]
    z = mann_whitney_z_batch(tie_groups(scores[order]), labs == 1, labs == 0)
    return z, naive_p_from_z(z)


@pytest.mark.parametrize("ties", [False, True])
def test_batched_mann_whitney_matches_scipy(ties):
    rng = np.random.default_rng(0)
    n = 400
    x = rng.normal(size=n)
    if ties:
        x = np.round(x * 3) / 3          # heavy ties
    labelings = rng.choice([-1, 0, 1], size=(25, n), p=[0.3, 0.5, 0.2])
    labelings[3] = np.where(x > 0.5, 1, 0)                  # a strong effect: tiny p
    labelings[4] = np.where(np.arange(n) % 2 == 0, 1, -1)   # no normal window: NaN
    z, p = _batch_p(x, labelings)
    assert np.isnan(z[4]) and np.isnan(p[4])
    for i in np.flatnonzero(np.isfinite(z)):
        ref = mannwhitneyu(x[labelings[i] == 1], x[labelings[i] == 0], alternative="greater",
                           method="asymptotic", use_continuity=True)
        assert p[i] == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300), i
    assert p[3] < 1e-30 and z[3] > 11     # where 1 - Phi(z) would round to exactly 0


def test_z_keeps_order_where_p_underflows():
    """Defect 2's mechanism: 1 - Phi(z) is exactly 0 from z ~ 8.3 on, z is not."""
    from scipy.special import ndtr

    z = np.array([9.0, 12.0, 30.0])
    assert np.all(1.0 - ndtr(z) == 0.0)
    p = naive_p_from_z(z)
    assert np.all(p > 0) and np.all(np.diff(p) < 0)


@pytest.mark.parametrize("seed, wave", [(1, 0.0), (2, 3.0)])
def test_calibrated_p_rejects_a_strong_precursor(seed, wave):
    """Issue 15 defect 2: the calibrated p compared naive p-values that underflow to 0, so
    it could not fall below the share of surrogate catalogs whose naive p underflowed too
    (these worlds gave 0.1 and 0.225 before the fix)."""
    ds, cat = calibration.null_world(np.random.default_rng(seed), strength=3.0,
                                     mainshock_rate_per_year=3.0)
    f = np.linspace(0, 1, ds.sizes["window"])
    ds["rmse"] = ds["rmse"] * np.exp(wave * np.sin(2 * np.pi * 3 * f))   # slow swings
    r = run_test(ds, cat, Protocol(**FAST), seed=seed, keep_series=False)
    lg = r.legacy
    assert lg["calibration_z_observed"] > 8.3      # naive p below 1e-16
    assert lg["calibrated_p_value"] <= 0.05
    assert lg["n_calibration_surrogates"] >= 150
    assert lg["naive_p_value_recomputed"] == pytest.approx(lg["p_value"], rel=1e-6)


def test_calibrated_p_is_not_liberal_on_null_worlds():
    """30 null worlds: the calibrated legacy p rejects about alpha (binomial(30, 0.05):
    P(X >= 5) = 1.6 %), while the naive p rejects far more often."""
    rej_c, rej_n = [], []
    for w in range(30):
        ds, cat = calibration.null_world(np.random.default_rng(2000 + w))
        r = run_test(ds, cat, Protocol(**{**FAST, "surrogates_n_legacy": 99}), seed=w,
                     keep_series=False)
        rej_c.append(r.legacy["calibrated_p_value"] <= 0.05)
        rej_n.append(r.legacy["p_value"] <= 0.05)
    assert sum(rej_c) <= 4
    assert sum(rej_n) >= 2 * max(sum(rej_c), 1)


def test_bin_labels_mixed_bins_are_excluded():
    wl = np.array([1, 1, 0, 0, 1, -1, -1])
    wb = np.array([0, 0, 1, 2, 2, 3, 5])
    np.testing.assert_array_equal(bin_labels(wl, wb, 6), [1, 0, -1, -1, -1, -1])


def test_legacy_labels_are_the_label_rule_and_differences_are_stated():
    """Issue 15 defect 4: the legacy labels had their own copy of the rule (buffer = lead
    max, depth cut on blockers, no catalog coverage); now they are geoanom.labels' rule,
    with the scores' window config when they carry one, and the result says where that
    differs from the protocol."""
    ds, cat = calibration.null_world(np.random.default_rng(4))
    p = Protocol(**{**FAST, "surrogates_n_legacy": 19})
    st, en = ds["start"].values, ds["end"].values
    carried = WindowConfig(label_rule=LabelRule(lead_days=(1.0, 20.0), buffer_days=3.0))
    for cfg in (None, carried):
        d = ds.copy()
        if cfg is not None:
            d.attrs["config"] = cfg.to_json()
        rule = p.target if cfg is None else cfg.label_rule
        lab = window_labels(st, en, cat, d.attrs["latitude_deg"], d.attrs["longitude_deg"],
                            rule).label
        r = run_test(d, cat, p, seed=0, keep_series=False)
        assert r.legacy["n_seismic"] == int(np.sum(lab == 1))
        assert r.legacy["n_normal"] == int(np.sum(lab == 0))
        diff = r.legacy["label_rule"]["differs_from_protocol"]
        if cfg is None:
            assert diff == [] and "protocol" in r.legacy["label_rule"]["source"]
        else:
            assert [x["field"] for x in diff] == ["lead_days"]
            assert "why" in r.legacy["label_rule"]
            assert any("differs from the protocol in lead_days" in w
                       for w in r.guardrails["warnings"])
    # the rule read from the scores' provenance (the model's window config) as well
    d = ds.copy()
    d.attrs["geoanom_provenance"] = ('{"config": {"windows": {"config": '
                                     + WindowConfig(label_rule=LabelRule(m_min=5.5)).to_json() + "}}}")
    rule, info = label_rule_for(d, p)
    assert rule.m_min == 5.5 and info["differs_from_protocol"][0]["field"] == "m_min"
