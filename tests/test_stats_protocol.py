"""The protocol file, run_test on synthetic worlds with known truth, the result JSON, and a
small calibration of the primary test against the legacy one."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from geoanom.catalog_frame import make_catalog
from geoanom.errors import ConfigError, FormatError
from geoanom.labels import LabelRule
from geoanom.stats.alarm import bin_scores, lead_max, score_variable
from geoanom.stats.multiplicity import benjamini_yekutieli
from geoanom.stats.protocol import Protocol, load_protocol, protocol_hash
from geoanom.stats.result import RESULT_KEYS, TestResult, summary_text
from geoanom.stats.test import run_test

_spec = importlib.util.spec_from_file_location(
    "calibration", Path(__file__).resolve().parents[1] / "bench" / "calibration.py")
calibration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(calibration)

FAST = dict(surrogates_n=199, surrogates_n_secondary=19, surrogates_n_bootstrap=199,
            surrogates_n_legacy=49, surrogates_n_fake_catalogs=3)


def world(seed, strength=0.0, **kw):
    return calibration.null_world(np.random.default_rng(seed), strength=strength, **kw)


# ------------------------------------------------------------------------- protocol file

def test_default_protocol_is_protocol_md():
    p = load_protocol()
    assert p == Protocol()
    assert (p.target.m_min, p.target.max_depth_km, p.target.radius) == \
        (5.0, 100.0, "dobrovolsky")
    assert p.target.decluster == "gardner_knopoff" and p.target.decluster_foreshocks is False
    assert (p.target.detectability, p.target.ks_threshold) == ("dobrovolsky", 40.0)
    assert (*p.target.lead_days, p.target.post_event_exclusion_days) == (1, 30, 30)
    assert (p.binning_bin_days, p.split_test_fraction, p.surrogates_n, p.alpha) == \
        (1.0, 0.3, 9999, 0.05)
    assert p.sensitivity_radius_cap_km == 1000.0
    assert protocol_hash(p) == protocol_hash(load_protocol())
    assert protocol_hash(p.replace(alpha=0.01)) != protocol_hash(p)
    assert protocol_hash(p) == "8a278f19af236970"


def test_detectability_and_sensitivity_settings_are_validated():
    p = Protocol.from_dict({"target": {"detectability": "ks", "ks_threshold": 100,
                                       "declustering_foreshocks": True},
                            "sensitivity": {"radius_cap_km": 500}})
    assert p.target == LabelRule(detectability="ks", ks_threshold=100.0,
                                 decluster_foreshocks=True)
    assert p.sensitivity_radius_cap_km == 500.0
    assert p.to_dict()["target"]["declustering_foreshocks"] is True
    with pytest.raises(ConfigError, match=r"\[target.detectability\]"):
        Protocol.from_dict({"target": {"detectability": "hattori"}})
    with pytest.raises(ConfigError, match=r"\[target.radius\]"):
        Protocol.from_dict({"target": {"detectability": "group", "radius": 100.0}})
    for bad in ({"target": {"ks_threshold": 0}}, {"sensitivity": {"radius_cap_km": -1}}):
        with pytest.raises(ConfigError):
            Protocol.from_dict(bad)
    with pytest.raises(ConfigError, match="normal_rule"):
        Protocol(target=LabelRule(normal_rule="detectable"))


def test_protocol_target_is_the_label_rule_of_the_file_keys():
    """The [target] and [lead] keys build Protocol.target; replace() takes the file's names;
    the target holds nothing the file (and so the hash) does not have."""
    p = Protocol().replace(target_declustering="none", lead_min_days=2, lead_max_days=20)
    assert p.target == LabelRule(decluster="none", lead_days=(2.0, 20.0))
    assert p.to_dict()["lead"] == {"min_days": 2.0, "max_days": 20.0,
                                   "post_event_exclusion_days": 30.0}
    with pytest.raises(ConfigError, match=r"\[lead.min_days\]"):
        Protocol().replace(lead_min_days=40)
    with pytest.raises(TypeError, match="target_magnitude"):
        Protocol().replace(target_magnitude=6)
    with pytest.raises(ConfigError, match="buffer_days"):
        Protocol(target=LabelRule(buffer_days=2.0))


def test_protocol_roundtrip_and_errors_name_line_and_field(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text("alpha = 0.01\n[lead]\nmin_days = 2\nmax_days = 20\n")
    p = load_protocol(f)
    assert (p.alpha, *p.target.lead_days) == (0.01, 2.0, 20.0)
    assert Protocol.from_dict(p.to_dict()) == p
    f.write_text("[lead]\nmin_days = 2\nmax_dayz = 20\n")
    with pytest.raises(ConfigError) as e:
        load_protocol(f)
    assert e.value.line == 3 and "max_dayz" in str(e.value)
    f.write_text("[surrogates]\n\nn = \"many\"\n")
    with pytest.raises(ConfigError) as e:
        load_protocol(f)
    assert e.value.line == 3 and "surrogates.n" in str(e.value)
    f.write_text("[lead]\nmin_days = 40\n")
    with pytest.raises(ConfigError, match="min_days"):
        load_protocol(f)
    f.write_text("[grid\nstations = 1\n")
    with pytest.raises(ConfigError) as e:
        load_protocol(f)
    assert e.value.line == 1


# ------------------------------------------------------------------------ alarm function

def test_bins_are_causal_max_of_windows_ending_in_the_bin():
    t0 = np.datetime64("2020-01-01T00:00", "ns")
    end = t0 + np.array([6, 18, 24, 30, 71], dtype="timedelta64[h]")
    ds = xr.Dataset({"start": ("window", end - np.timedelta64(6, "h")), "end": ("window", end),
                     "rmse": ("window", [1.0, 3.0, 2.0, 5.0, 4.0])},
                    attrs={"latitude_deg": 0.0, "longitude_deg": 0.0})
    b = bin_scores(ds, Protocol())
    assert np.allclose(b.a, [3.0, 5.0, 4.0])   # day 0: max(1,3); day 1: max(2,5); day 2: 4
    # local night only (00-04 LT at longitude 90 E = 18-22 UTC): only the 18 h window
    ds.attrs["longitude_deg"] = 90.0
    b = bin_scores(ds, Protocol(binning_local_night=True))
    assert b.a[0] == 3.0 and np.isnan(b.a[1:]).all()


def test_score_variable_is_score_else_rmse_of_older_files():
    """The anomaly score is ``score``; a file of an older release has only ``rmse``; another
    variable named by the protocol is used as given; the result says which."""
    t0 = np.datetime64("2020-01-01T00:00", "ns")
    end = t0 + np.arange(4) * np.timedelta64(1, "D")
    ds = xr.Dataset({"end": ("window", end), "rmse": ("window", [1.0, 2.0, 3.0, 4.0]),
                     "mae": ("window", [4.0, 3.0, 2.0, 1.0])})
    assert score_variable(ds) == score_variable(ds, "score") == "rmse"
    assert score_variable(ds, "mae") == "mae"
    ds["score"] = ds["rmse"]
    assert score_variable(ds) == score_variable(ds, "score") == "score"
    assert score_variable(ds, "mae") == "mae"
    assert score_variable(ds.drop_vars(["score", "rmse"])) == "rmse"   # the error names rmse


def test_lead_max_hand_worked():
    a = np.array([1.0, 5.0, np.nan, 2.0, 0.0, 7.0])
    # L[j] = max a[j-3 .. j-1]
    want = [np.nan, 1.0, 5.0, 5.0, 5.0, 2.0]
    assert np.allclose(lead_max(a, 1, 3), want, equal_nan=True)


def test_benjamini_yekutieli_hand_worked():
    p = np.array([0.01, 0.04, 0.03, np.nan])
    c = 1 + 1 / 2 + 1 / 3
    # sorted 0.01, 0.03, 0.04: 0.01*3c/1, 0.03*3c/2, 0.04*3c/3 then running min from the top
    q = benjamini_yekutieli(p)
    assert q[0] == pytest.approx(0.03 * c)
    assert q[2] == pytest.approx(0.04 * c) and q[1] == pytest.approx(0.04 * c)
    assert np.isnan(q[3])


# ------------------------------------------------------------------------------ run_test

def test_null_world_result_layout_and_json_roundtrip(tmp_path):
    ds, cat = world(11)
    r = run_test(ds, cat, Protocol(**FAST), seed=1)
    d = r.to_dict()
    assert tuple(sorted(d)) == tuple(sorted(RESULT_KEYS))
    for k in ("auc", "p_value", "n_surrogates", "n_independent_events", "n_bins"):
        assert k in d["primary"]
    for k in ("u", "p_value", "auc", "calibrated_p_value"):
        assert d["legacy"][k] is not None
    assert d["primary"]["ass"] == pytest.approx(d["primary"]["auc"])   # ASS = AUC
    assert d["effect_sizes"]["cliffs_delta"] == pytest.approx(2 * d["primary"]["auc"] - 1)
    lo, hi = d["effect_sizes"]["auc_ci95"]
    assert lo <= d["primary"]["auc"] <= hi
    assert 1 / 200 <= d["primary"]["p_value"] <= 1
    assert d["protocol_hash"] == protocol_hash(Protocol(**FAST))
    assert d["provenance"]["type"] == "geoanom.TestResult"
    assert d["provenance"]["seeds"] == {"seed": 1}
    assert set(d["placebos"]) == {"after_event", "far_events", "remote_station",
                                  "fake_catalogs"}
    assert d["baselines"]["random"]["ass"] == 0.5
    assert d["multiplicity"]["n_cells"] == 4   # 1 station x 1 lead window x (AUC + 3 taus)
    out = r.write(tmp_path / "r.json")
    back = TestResult.read(out)
    assert back.to_dict() == json.loads(out.read_text())
    assert not list(tmp_path.glob(".*part"))
    with pytest.raises(FormatError):
        TestResult.from_dict({"primary": {}})


def test_same_seed_same_result_and_lead_windows_respected():
    ds, cat = world(12)
    a = run_test(ds, cat, Protocol(**FAST), seed=3).to_dict()
    b = run_test(ds, cat, Protocol(**FAST), seed=3).to_dict()
    for k in ("primary", "legacy", "effect_sizes", "multiplicity"):
        assert a[k] == b[k]


def test_strong_precursor_is_detected_and_null_is_not():
    ds, cat = world(5, strength=2.0, mainshock_rate_per_year=10.0)
    r = run_test(ds, cat, Protocol(**FAST), seed=0)
    assert r.primary["n_independent_events"] >= 10
    assert r.primary["auc"] > 0.7
    assert r.primary["p_value"] <= 0.01 and r.primary["significant"] is True
    assert r.multiplicity["max_statistic_p_value"] <= 0.05
    cells = r.multiplicity["cells"]
    assert min(c["p_value"] for c in cells) <= r.multiplicity["max_statistic_p_value"] + 0.01
    assert all(c["q_value_by"] >= c["p_value"] for c in cells)
    assert cells[0]["statistic"] == "auc" and cells[0]["observed"] == pytest.approx(
        r.primary["auc"])
    assert r.placebos["fake_catalogs"]["rejection_rate"] <= 1 / 3
    assert "significant at alpha" in summary_text(r)


def test_fewer_than_ten_events_never_significant():
    ds, cat = world(5, strength=3.0)
    keep = cat[cat["mainshock"].to_numpy()].iloc[-5:]
    keep = keep.reset_index(drop=True)
    r = run_test(ds, keep, Protocol(**FAST), seed=0)
    assert r.primary["n_independent_events"] < 10
    assert r.primary["significant"] is None
    assert r.guardrails["few_events"] is True
    assert "significant" not in summary_text(r).replace("not assessable", "")
    assert any("< 10" in w for w in r.guardrails["warnings"])


def test_activity_correlation_warning_and_activity_baseline():
    ds, cat = world(7)
    b = bin_scores(ds, Protocol())
    act = pd.DataFrame({"time": b.bin_start(np.arange(b.n)), "kp": np.log(b.a)})
    r = run_test(ds, cat, Protocol(**FAST), activity=act, remote_scores=ds, seed=0)
    assert any("correlates with the activity" in w for w in r.guardrails["warnings"])
    assert r.guardrails["activity_correlation"]["spearman"] == pytest.approx(1.0)
    # the activity-only baseline is the score itself here: same ASS
    assert r.baselines["activity"]["ass"] == pytest.approx(r.primary["auc"])
    assert r.placebos["remote_station"]["auc"] == pytest.approx(r.primary["auc"])


def test_period_mismatch_and_training_windows_warnings():
    ds, cat = world(8)
    n = ds.sizes["window"]
    lab = np.full(n, -1, np.int8)
    lab[: n // 3] = 1
    lab[2 * n // 3:] = 0
    split = np.where(np.arange(n) < int(0.7 * n), "train", "test")
    ds = ds.assign(label=("window", lab), split=("window", split))
    r = run_test(ds, cat, Protocol(**FAST), seed=0)
    w = " ".join(r.guardrails["warnings"])
    assert "different period" in w
    assert "training windows" in w
    assert r.primary["test_period"]["split_source"] == "scores"
    assert "gap between the last training window" in w   # split without an embargo gap


def test_scores_without_rmse_or_coordinates_is_format_error():
    ds, cat = world(9)
    with pytest.raises(FormatError, match="rmse"):
        run_test(ds.drop_vars("rmse"), cat, Protocol(**FAST))
    ds.attrs["latitude_deg"] = float("nan")
    with pytest.raises(FormatError, match="latitude_deg"):
        run_test(ds, cat, Protocol(**FAST))


def test_catalog_declustered_when_no_mainshock_column():
    ds, cat = world(10)
    cat2 = make_catalog(cat["time"], cat["latitude_deg"], cat["longitude_deg"],
                        cat["magnitude"], depth_km=cat["depth_km"])
    r = run_test(ds, cat2, Protocol(**FAST), seed=0)
    r_none = run_test(ds, cat2, Protocol(**FAST).replace(target_declustering="none"), seed=0)
    assert r.primary["n_independent_events"] <= r_none.primary["n_independent_events"]
    assert any("declustering is 'none'" in w for w in r_none.guardrails["warnings"])


def test_calibration_small():
    """60 null worlds, 199 surrogates: the primary test rejects near 5 %, the legacy inflates."""
    rej_p, rej_l = [], []
    for w in range(60):
        ds, cat = world(1000 + w)
        r = run_test(ds, cat, Protocol(**{**FAST, "surrogates_n_secondary": 0,
                                          "surrogates_n_fake_catalogs": 0,
                                          "surrogates_n_legacy": 0}),
                     seed=w, keep_series=False)
        rej_p.append(r.primary["p_value"] <= 0.05)
        rej_l.append(r.legacy["p_value"] <= 0.05)
    # binomial(60, 0.05): P(X >= 9) < 0.2 %
    assert sum(rej_p) <= 8
    assert np.mean(rej_l) >= 0.15 and np.mean(rej_l) > 2 * np.mean(rej_p)


# ------------------------------------------------------------- the season-keeping null

@pytest.mark.parametrize("years, season_kept", [(10.0, False), (22.0, True)])
def test_season_keeping_needs_enough_year_offsets(years, season_kept):
    """Whole-year shifts of an N-year record give about N - 1 distinct offsets; with fewer
    than 1/alpha - 1 of them the primary null falls back to uniform shifts and says so."""
    ds, cat = world(5, years=years)
    r = run_test(ds, cat, Protocol(**FAST), seed=0, keep_series=False)
    null = r.primary["null"]
    assert null.startswith("circular shift by whole years") is season_kept
    if not season_kept:
        assert "uniform circular shift" in null and "distinct whole-year offsets" in null


def test_remote_station_scores_that_start_earlier_are_cut_to_the_station_bins():
    # a remote station whose record starts before this station's first bin used to raise
    # IndexError in bin_scores; its earlier windows have no bin and are dropped
    ds, cat = world(7)
    late = ds.isel(window=slice(ds.sizes["window"] // 4, None))
    r = run_test(late, cat, Protocol(**FAST), remote_scores=ds, seed=0)
    b = bin_scores(ds, Protocol(), t0=bin_scores(late, Protocol()).t0)
    assert b.a.size == bin_scores(late, Protocol()).n
    assert r.placebos["remote_station"]["auc"] == pytest.approx(r.primary["auc"])


# --------------------------------------------------- the target accounting and sensitivity

def test_every_candidate_target_is_used_or_has_its_reasons():
    """Issue 26: the result lists the candidate targets, the ones used (the primary's
    events) and, for each of the others, why not; counted by first reason."""
    from geoanom.stats.targets import REASONS

    ds, cat = calibration.synthetic_world(np.random.default_rng(4))
    r = run_test(ds, cat, Protocol(**FAST), seed=0, keep_series=False)
    tg = r.primary["targets"]
    used = [e["event_id"] for e in tg["events"] if e["used"]]
    assert used == [e["event_id"] for e in r.primary["events"]]
    assert tg["n_used"] == r.primary["n_independent_events"] == len(used)
    assert sum(tg["not_used"].values()) == tg["n_candidates"] - tg["n_used"] > 0
    assert tg["depends_on_later_data"] is None
    for e in tg["events"]:
        assert e["reasons"] == [x for x in REASONS if x in e["reasons"]]
        assert e["reason"] == (e["reasons"][0] if e["reasons"] else None)
        assert e["magnitude"] >= 5.0 and e["distance_km"] <= e["radius_km"] or \
            "outside_radius" in e["reasons"]
        if "declustered" in e["reasons"]:
            head = e["sequence_head"]
            assert head["magnitude"] >= e["magnitude"] and head["time"] <= e["time"]
        if "post_event_exclusion" in e["reasons"]:
            gap = pd.Timestamp(e["time"]) - pd.Timestamp(e["excluded_after"]["time"])
            assert pd.Timedelta(0) < gap <= pd.Timedelta(days=31)
    assert {"declustered", "outside_test_period"} <= {e["reason"] for e in tg["events"]}
    text = summary_text(r)
    assert f"targets  {tg['n_used']} used of {tg['n_candidates']} candidates" in text
    assert f"{tg['not_used']['declustered']} declustered" in text


def test_symmetric_declustering_is_labelled_as_depending_on_later_data():
    ds, cat = calibration.synthetic_world(np.random.default_rng(4))
    p = Protocol(**FAST).replace(target_declustering_foreshocks=True)
    r = run_test(ds, cat, p, seed=0, keep_series=False)
    assert "foreshock window" in r.primary["targets"]["depends_on_later_data"]
    assert any("depends on later data" in w for w in r.guardrails["warnings"])
    past = run_test(ds, cat, Protocol(**FAST), seed=0, keep_series=False)
    # later events made earlier ones foreshocks: fewer candidates are mainshocks
    assert r.primary["targets"]["not_used"]["declustered"] > \
        past.primary["targets"]["not_used"]["declustered"]


def test_sensitivity_recomputes_the_verdict_and_says_when_it_flips():
    """A strong precursor before every mainshock within 100 km: 10 events, significant
    under the published and the capped radius (the same targets here), not assessable under
    the group's rule (5 events within its 30-60 km) and with one event left out (9): the
    significant verdict flips under both."""
    ds, cat = world(5, strength=2.0, mainshock_rate_per_year=10.0)
    r = run_test(ds, cat, Protocol(**FAST), seed=0, keep_series=False)
    assert r.primary["significant"] is True
    sens = r.primary["sensitivity"]
    v = {x["name"]: x for x in sens["variants"]}
    assert list(v) == ["published_radius", "capped_radius", "group_rule", "leave_one_out"]
    for name in ("published_radius", "capped_radius"):
        assert v[name]["auc"] == pytest.approx(r.primary["auc"])
        assert v[name]["p_value"] == pytest.approx(r.primary["p_value"])
        assert v[name]["verdict"] == "significant" and not v[name]["flips"]
    assert v["group_rule"]["n_independent_events"] < 10
    assert v["group_rule"]["verdict"] == "not assessable" and v["group_rule"]["flips"]
    assert sens["flips"] == ["group_rule", "leave_one_out"]
    assert "flips under group_rule (not assessable, 5 events" in sens["statement"]
    assert sens["statement"] in r.guardrails["warnings"]
    # leave one out: the event whose rank is furthest from the AUC
    loo = v["leave_one_out"]
    ranks = {e["event_id"]: e["normalized_rank"] for e in r.primary["events"]}
    far = max(ranks, key=lambda k: abs(ranks[k] - r.primary["auc"]))
    assert loo["left_out"]["event_id"] == far and loo["events_dropped"] == [far]
    assert loo["n_independent_events"] == r.primary["n_independent_events"] - 1 == 9
    assert loo["verdict"] == "not assessable" and loo["flips"]
    rest = [x for k, x in ranks.items() if k != far]
    assert loo["auc"] == pytest.approx(np.mean(rest))
    assert "(FLIPS)" in summary_text(r)


def test_capped_radius_drops_the_far_targets():
    ds, cat = world(6, mainshock_rate_per_year=10.0)
    p = Protocol(**FAST).replace(sensitivity_radius_cap_km=60.0)
    r = run_test(ds, cat, p, seed=0, keep_series=False)
    v = {x["name"]: x for x in r.primary["sensitivity"]["variants"]}
    far = {e["event_id"] for e in r.primary["targets"]["events"]
           if e["used"] and e["distance_km"] > 60.0}
    assert far and set(v["capped_radius"]["events_dropped"]) == far
    # an event that was in the post-event exclusion of a dropped one can come in
    added = v["capped_radius"]["events_added"]
    assert v["capped_radius"]["n_independent_events"] == \
        r.primary["n_independent_events"] - len(far) + len(added)
    listed = {e["event_id"]: e for e in r.primary["targets"]["events"]}
    assert all(listed[a]["reasons"] == ["post_event_exclusion"] for a in added)
    assert all(listed[a]["excluded_after"]["event_id"] not in listed or
               listed[listed[a]["excluded_after"]["event_id"]]["distance_km"] > 60.0
               for a in added)
