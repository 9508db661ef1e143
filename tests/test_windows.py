"""Windows, labels, splits and the leakage check (METHODS.md section 1), with exact expectations.

Every hand-built case uses an hourly record starting 2020-01-01 00:00 ("day 0") and 1-day
windows with a 1-day stride unless said otherwise, so window ``k`` covers ``[day k, day k+1)``
and ends at day ``k+1``. Events sit on the station's meridian so that their distance is
``Δlat * 111.19508 km`` exactly (1 degree of a 6371.0088 km sphere).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from geoanom.catalog_frame import make_catalog
from geoanom.detector.preprocess import RobustScaler
from geoanom.detector.windows import (
    WindowConfig,
    apply_window_scaler,
    build_window_set,
    check_no_leakage,
    fit_window_scaler,
    label_counts,
    label_windows,
    make_windows,
    split_windows,
)
from geoanom.errors import ConfigError, LeakageError, ValidationError
from geoanom.labels import LabelRule
from geoanom.provenance import config_hash
from geoanom.record import make_record

D0 = np.datetime64("2020-01-01T00:00:00", "ns")
DAY = np.timedelta64(86_400_000_000_000, "ns")
KM_PER_DEG = 6371.0088 * np.pi / 180.0  # 111.19508 km
LAT, LON = 40.0, 140.0


def _record(days: int, *, seed: int = 0, drift: float = 0.0, nan_hours=()) -> xr.Dataset:
    t = D0 + np.arange(days * 24) * np.timedelta64(3600, "s")
    rng = np.random.default_rng(seed)
    h = 20_000.0 + drift * np.arange(t.size) / 24.0 + rng.normal(0.0, 5.0, t.size)
    z = 40_000.0 + rng.normal(0.0, 2.0, t.size)
    h[list(nan_hours)] = np.nan
    return make_record(t, {"H": h, "Z": z},
                       attrs={"iaga_code": "TST", "latitude_deg": LAT, "longitude_deg": LON})


def _catalog(events, *, columns=None) -> pd.DataFrame:
    """events: (id, day, distance_km north of the station, magnitude, depth_km).

    Two M 2 anchors (day -90 and day 400) give the catalog a span covering every record here.
    """
    ev = [("anchor0", -90.0, 0.0, 2.0, 10.0), *events, ("anchor1", 400.0, 0.0, 2.0, 10.0)]
    times = [D0 + np.timedelta64(int(round(d * 86_400e9)), "ns") for _, d, _, _, _ in ev]
    cat = make_catalog(times, [LAT + km / KM_PER_DEG for _, _, km, _, _ in ev], [LON] * len(ev),
                       [m for *_, m, _ in ev], depth_km=[z for *_, z in ev],
                       event_id=[e[0] for e in ev])
    if columns is not None:  # declustering given by hand: {event_id: (mainshock, sequence_id)}
        cat["mainshock"] = [columns.get(i, (True, i))[0] for i in cat["event_id"]]
        cat["sequence_id"] = [columns.get(i, (True, i))[1] for i in cat["event_id"]]
    return cat


# short leads keep the hand-written arrays short: lead [1, 5] d, buffer 2 d, post-event 4 d
SMALL = dict(window_length_s=86_400.0, stride_s=86_400.0, lead_days=(1.0, 5.0), buffer_days=2.0,
             post_event_exclusion_days=4.0, decluster="none")


def _labelled(days, events, *, columns=None, **over) -> xr.Dataset:
    cfg = WindowConfig.from_dict({**SMALL, **over})
    ws = make_windows(_record(days), length_s=cfg.window_length_s, stride_s=cfg.stride_s,
                      max_missing_fraction=cfg.max_missing_fraction)
    return label_windows(ws, _catalog(events, columns=columns), station_lat=LAT,
                         station_lon=LON, config=cfg)


# the four-event case. A window k is blocked for "normal" by an event at day t when
# k - 4 <= t <= (k + 1) + 5 + 2, i.e. t - 8 <= k <= t + 4.
EVENTS = [
    ("b", 11.5, 50.0, 5.5, 10.0),    # target: R(5.5) = 231 km; seismic k+1 in [6.5, 10.5] -> k 6..9
                                     # blocks k 3.5..15.5 -> 4..15
    ("c", 25.5, 300.0, 5.2, 10.0),   # R(5.2) = 172 km: unseen under Dobrovolsky
    ("d", 33.25, 50.0, 4.7, 10.0),   # M 4.7 < m_min, >= 4.5: blocks k 25.25..37.25 -> 26..37
    ("e", 36.0, 50.0, 6.0, 150.0),   # too deep to be a target, still blocks k 28..40 -> 28..39
]


def test_labels_dobrovolsky_exact():
    ws = _labelled(40, EVENTS)
    expected = np.array([0, 0, 0, 0, -1, -1, 1, 1, 1, 1,
                         -1, -1, -1, -1, -1, -1, 0, 0, 0, 0,
                         0, 0, 0, 0, 0, 0, -1, -1, -1, -1,
                         -1, -1, -1, -1, -1, -1, -1, -1, -1, -1], np.int8)
    np.testing.assert_array_equal(ws["label"].values, expected)
    seis = ws["label"].values == 1
    assert list(ws["event_id"].values[seis]) == ["b"] * 4
    assert list(ws["sequence_id"].values[seis]) == ["b"] * 4  # "none": own sequence
    # lead = 11.5 - (k + 1) for k = 6..9
    np.testing.assert_allclose(ws["lead_days"].values[seis], [4.5, 3.5, 2.5, 1.5], atol=1e-9)
    np.testing.assert_allclose(ws["distance_km"].values[seis], 50.0, atol=1e-6)
    np.testing.assert_array_equal(ws["magnitude"].values[seis], 5.5)
    assert np.isnan(ws["lead_days"].values[~seis]).all()
    assert set(ws["event_id"].values[~seis]) == {""}
    assert label_counts(ws) == {"seismic": 4, "normal": 14, "excluded": 22}
    assert ws.attrs["declustering"] == "none" and "declustering_warning" in ws.attrs


def test_labels_fixed_radius_exact():
    # 400 km sees c (300 km): target, seismic k+1 in [20.5, 24.5] -> k 20..23, blocks 18..29
    ws = _labelled(40, EVENTS, radius=400.0)
    expected = np.array([0, 0, 0, 0, -1, -1, 1, 1, 1, 1,
                         -1, -1, -1, -1, -1, -1, 0, 0, -1, -1,
                         1, 1, 1, 1, -1, -1, -1, -1, -1, -1,
                         -1, -1, -1, -1, -1, -1, -1, -1, -1, -1], np.int8)
    np.testing.assert_array_equal(ws["label"].values, expected)
    assert list(ws["event_id"].values[20:24]) == ["c"] * 4
    np.testing.assert_allclose(ws["distance_km"].values[20:24], 300.0, atol=1e-6)
    # and a radius too small for b (50 km) leaves no seismic window at all; d, e unseen too
    ws = _labelled(40, EVENTS, radius=40.0)
    np.testing.assert_array_equal(ws["label"].values, np.zeros(40, np.int8))


def test_lead_bounds_are_inclusive():
    # event exactly at day 10: lead 10 - (k + 1) in [1, 5] -> k 4..8 (both ends included)
    ws = _labelled(20, [("x", 10.0, 10.0, 5.0, 0.0)])
    np.testing.assert_array_equal(np.flatnonzero(ws["label"].values == 1), [4, 5, 6, 7, 8])
    np.testing.assert_allclose(ws["lead_days"].values[4:9], [5, 4, 3, 2, 1])


def test_nearest_event_wins_then_larger_magnitude():
    # x (day 10) covers k 4..8, y (day 12) covers k 6..10: the nearer x wins on k 6..8
    ws = _labelled(20, [("x", 10.0, 10.0, 5.5, 0.0), ("y", 12.0, 10.0, 6.5, 0.0)])
    np.testing.assert_array_equal(ws["event_id"].values[4:11],
                                  ["x", "x", "x", "x", "x", "y", "y"])
    # same origin time: the larger magnitude wins
    ws = _labelled(20, [("p", 10.0, 10.0, 5.5, 0.0), ("q", 10.0, 20.0, 6.5, 0.0)])
    assert set(ws["event_id"].values[4:9]) == {"q"}


def test_post_event_exclusion():
    # M 4.6 seen at day 5.5 blocks k with k - P <= 5.5 <= k + 8
    ws = _labelled(30, [("s", 5.5, 10.0, 4.6, 0.0)], post_event_exclusion_days=10.0)
    np.testing.assert_array_equal(ws["label"].values,
                                  np.r_[np.full(16, -1), np.zeros(14)].astype(np.int8))
    ws = _labelled(30, [("s", 5.5, 10.0, 4.6, 0.0)], post_event_exclusion_days=0.0)
    np.testing.assert_array_equal(ws["label"].values,
                                  np.r_[np.full(6, -1), np.zeros(24)].astype(np.int8))
    # an M 4.4 event (below m_min - 0.5) blocks nothing
    ws = _labelled(30, [("s", 5.5, 10.0, 4.4, 0.0)], post_event_exclusion_days=10.0)
    assert (ws["label"].values == 0).all()


def test_aftershocks_are_not_targets():
    # m (day 10, M 6) is the mainshock of a (day 12, M 5.5). m: seismic k 4..8; a would cover
    # k 6..10 but is no target, so k 9, 10 are excluded (a blocks them).
    cols = {"a": (False, "m")}
    ws = _labelled(20, [("m", 10.0, 10.0, 6.0, 0.0), ("a", 12.0, 15.0, 5.5, 0.0)],
                   columns=cols)
    np.testing.assert_array_equal(ws["label"].values[:12], [0, 0, -1, -1, 1, 1, 1, 1, 1, -1,
                                                            -1, -1])
    assert set(ws["sequence_id"].values[4:9]) == {"m"}
    # without the columns, Gardner-Knopoff (geoanom.decluster) finds the same sequence:
    # the M 6 window is 53 km and 499 days, and a lies 5 km away 2 days later
    ws_gk = _labelled(20, [("m", 10.0, 10.0, 6.0, 0.0), ("a", 12.0, 15.0, 5.5, 0.0)],
                      decluster="gardner_knopoff")
    np.testing.assert_array_equal(ws_gk["label"].values, ws["label"].values)
    assert ws_gk.attrs["declustering"].startswith("gardner_knopoff")
    # with "none" the aftershock is its own target: k 9, 10 become seismic for a
    ws_none = _labelled(20, [("m", 10.0, 10.0, 6.0, 0.0), ("a", 12.0, 15.0, 5.5, 0.0)])
    assert list(ws_none["event_id"].values[9:11]) == ["a", "a"]


def test_catalog_coverage_required_for_normal():
    # a catalog spanning only day -90 .. day 20 cannot vouch for windows whose blocking
    # interval [k - 4, k + 8] reaches past day 20: k + 8 <= 20 -> k <= 12 normal
    cfg = WindowConfig.from_dict(SMALL)
    ws = make_windows(_record(30), length_s=86_400, stride_s=86_400, max_missing_fraction=0.1)
    cat = make_catalog([D0 - 90 * DAY, D0 + 20 * DAY], [LAT, LAT], [LON, LON], [2.0, 2.0])
    lab = label_windows(ws, cat, station_lat=LAT, station_lon=LON, config=cfg)
    np.testing.assert_array_equal(lab["label"].values,
                                  np.r_[np.zeros(13), np.full(17, -1)].astype(np.int8))
    off = WindowConfig.from_dict({**SMALL, "require_catalog_coverage": False})
    lab = label_windows(ws, cat, station_lat=LAT, station_lon=LON, config=off)
    assert (lab["label"].values == 0).all()


def test_make_windows_grid_validity_and_overlap():
    # 5 days hourly, 1-day windows every 6 h: (120 - 24) / 6 + 1 = 17 windows. H misses
    # hours 30..32 (3 of 24 = 12.5 % > 10 %) in the windows covering any of them: starts at
    # hours 12, 18, 24, 30 (k = 2..5) are dropped; k = 1 (hours 6..29) keeps all.
    rec = _record(5, nan_hours=range(30, 33))
    ws = make_windows(rec, length_s=86_400, stride_s=21_600, max_missing_fraction=0.1)
    kept = [0, 1, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
    assert ws.sizes == {"window": 13, "step": 24, "component": 2}
    np.testing.assert_array_equal(ws["start"].values, D0 + np.array(kept) * DAY / 4)
    np.testing.assert_array_equal(ws["end"].values, ws["start"].values + DAY)
    np.testing.assert_array_equal(ws["data"].values[1, :, 0], rec["H"].values[6:30])
    np.testing.assert_array_equal(ws["data"].values[2, :, 1], rec["Z"].values[36:60])
    assert ws["valid"].values.all() and (ws["valid_fraction"].values == 1.0).all()
    # at 15 % allowed, all 17 stay; k = 5 (hours 30..53) has 3 invalid H samples of 48
    ws = make_windows(rec, length_s=86_400, stride_s=21_600, max_missing_fraction=0.15)
    assert ws.sizes["window"] == 17
    assert ws["valid"].values[5, :3, 0].tolist() == [False] * 3
    assert ws["data"].values[5, :3, 0].tolist() == [0.0] * 3
    assert ws["valid_fraction"].values[5] == pytest.approx(45 / 48)
    assert (ws["label"].values == -1).all() and set(ws["split"].values) == {""}
    # ragged lengths are refused
    with pytest.raises(ConfigError):
        make_windows(rec, length_s=5_000, stride_s=3_600, max_missing_fraction=0.1)


# --------------------------------------------------------------------------------------------
# splits


def _built(days=100, events=(), columns=None, seed=0, drift=0.0, **over):
    cfg = WindowConfig.from_dict({**SMALL, **over})
    return build_window_set(_record(days, seed=seed, drift=drift),
                            _catalog(list(events), columns=columns), cfg)


def test_splits_and_gaps_exact():
    # 100 one-day windows, span 100 d, embargo 1 + 5 + 2 = 8 d. b_val = 60, b_test = 70.
    # train: end <= 52 -> k 0..51; val: start >= 60, end <= 62 -> k 60, 61; test: k 70..99
    ws = _built(100)
    expected = np.array(["train"] * 52 + ["gap"] * 8 + ["val"] * 2 + ["gap"] * 8
                        + ["test"] * 30)
    np.testing.assert_array_equal(ws["split"].values.astype(str), expected)
    assert ws.attrs["embargo_days"] == 8.0
    check_no_leakage(ws)
    # no val share: train end <= 70 - 8 -> k 0..61, test from k 70
    ws = _built(100, split_fractions=(0.7, 0.0, 0.3))
    expected = np.array(["train"] * 62 + ["gap"] * 8 + ["test"] * 30)
    np.testing.assert_array_equal(ws["split"].values.astype(str), expected)
    # no test share: val runs to the end with no gap after it (k 70..99)
    ws = _built(100, split_fractions=(0.7, 0.3, 0.0))
    expected = np.array(["train"] * 62 + ["gap"] * 8 + ["val"] * 30)
    np.testing.assert_array_equal(ws["split"].values.astype(str), expected)
    # an explicit, longer embargo: 20 d -> train k 0..39, val none (60..62 too short), test 70..
    ws = _built(100, embargo_days=20.0)
    sp = ws["split"].values.astype(str)
    assert (sp[:40] == "train").all() and (sp[40:70] == "gap").all() and (sp[70:] == "test").all()


def test_config_holds_the_label_rule_and_stays_flat():
    """The window config holds one LabelRule; its dict, the [windows] table and the hash keep
    the rule's fields flat beside the others, in this order."""
    cfg = WindowConfig.from_dict(SMALL)
    assert cfg.label_rule == LabelRule(lead_days=(1.0, 5.0), buffer_days=2.0,
                                       post_event_exclusion_days=4.0, decluster="none")
    assert list(cfg.to_dict()) == list(WindowConfig.flat_keys()) == [
        "window_length_s", "stride_s", "max_missing_fraction", "components", "m_min",
        "max_depth_km", "radius", "detectability", "ks_threshold", "lead_days", "buffer_days",
        "normal_margin_magnitude", "normal_rule", "post_event_exclusion_days",
        "require_catalog_coverage", "split_fractions", "embargo_days", "decluster",
        "decluster_foreshocks"]
    assert config_hash(WindowConfig().to_dict()) == "cf0cd438e582ccf3"


def test_embargo_below_floor_is_refused():
    with pytest.raises(ConfigError):
        WindowConfig.from_dict({**SMALL, "embargo_days": 5.9})  # < 1 d window + 5 d lead
    with pytest.raises(ConfigError):
        WindowConfig(split_fractions=(0.6, 0.1, 0.2))
    with pytest.raises(ConfigError):
        WindowConfig(label_rule=LabelRule(radius="bowman"))


def test_sequence_kept_in_one_split():
    # two targets share the hand-given sequence S: p (day 30, train windows k 24..28) and
    # q (day 85, test windows k 79..83). The sequence stays where its latest window is (test);
    # p's windows become gap.
    cols = {"p": (True, "S"), "q": (True, "S")}
    ws = _built(100, [("p", 30.0, 10.0, 5.5, 0.0), ("q", 85.0, 10.0, 5.5, 0.0)], columns=cols)
    sp = ws["split"].values.astype(str)
    np.testing.assert_array_equal(np.flatnonzero(ws["label"].values == 1),
                                  [24, 25, 26, 27, 28, 79, 80, 81, 82, 83])
    assert (sp[24:29] == "gap").all() and (sp[79:84] == "test").all()
    assert (sp[:24] == "train").all() and (sp[29:52] == "train").all()
    check_no_leakage(ws)


def test_scaler_fitted_on_train_only():
    ws = _built(100, drift=1.0)
    sc = RobustScaler.from_dict(json.loads(ws.attrs["scaler"]))
    assert sc.fitted_on == "train" and sc.components == ("H", "Z")
    # refit by hand on the raw train windows (a 1-day stride: each train sample once)
    rec = _record(100, drift=1.0)
    h = rec["H"].values[: 52 * 24]
    assert sc.center[0] == pytest.approx(np.median(h))
    assert sc.scale[0] == pytest.approx(1.4826 * np.median(np.abs(h - np.median(h))))
    assert ws["data"].dtype == np.float32
    z = ws["data"].values[ws["split"].values == "train"].reshape(-1, 2)
    assert np.median(z[:, 0]) == pytest.approx(0.0, abs=1e-4)


# --------------------------------------------------------------------------------------------
# leakage detection: each rule on a deliberately broken window set


@pytest.fixture(scope="module")
def good():
    ws = _built(100, [("p", 30.0, 10.0, 5.5, 0.0), ("q", 85.0, 10.0, 5.5, 0.0)], drift=1.0)
    check_no_leakage(ws)
    return ws


def _broken(ws, **splits):
    out = ws.copy(deep=True)
    sp = out["split"].values.astype(object)
    for k, v in splits.items():
        sp[int(k[1:])] = v
    out["split"] = ("window", sp)
    return out


def test_leak_sequence_in_two_splits(good):
    bad = good.copy(deep=True)
    sq = bad["sequence_id"].values.copy()
    sq[0] = "q"  # a train window now claims the test event's sequence
    bad["sequence_id"] = ("window", sq)
    with pytest.raises(LeakageError, match="sequence q"):
        check_no_leakage(bad)


def test_leak_train_after_test(good):
    with pytest.raises(LeakageError, match="not all earlier"):
        check_no_leakage(_broken(good, k99="train"))
    with pytest.raises(LeakageError, match="not all earlier"):
        check_no_leakage(_broken(good, k61="test", k70="val"))


def test_leak_window_in_embargo_gap(good):
    # train k 52 ends at day 53, 7 days before val starts at day 60 (< 8)
    with pytest.raises(LeakageError, match="embargo"):
        check_no_leakage(_broken(good, k52="train"))
    # a test window at k 69 starts 7 days after val ends (day 62)
    with pytest.raises(LeakageError, match="embargo"):
        check_no_leakage(_broken(good, k69="test"))


def test_leak_unsplit_window(good):
    with pytest.raises(LeakageError, match="without a split"):
        check_no_leakage(_broken(good, k55=""))


def test_leak_scaler_attrs(good):
    bad = good.copy()
    bad.attrs = dict(good.attrs)
    d = json.loads(bad.attrs["scaler"])
    d["fitted_on"] = "all"
    bad.attrs["scaler"] = json.dumps(d)
    with pytest.raises(LeakageError, match="not fitted on the training split"):
        check_no_leakage(bad)
    del bad.attrs["scaler"]
    with pytest.raises(LeakageError, match="no 'scaler'"):
        check_no_leakage(bad)


def test_leak_scaler_fitted_on_everything(good):
    # fitted on all windows but labelled "train": the drift (1 nT/day) moves the median of H
    cfg = WindowConfig.from_dict(SMALL)
    raw = split_windows(label_windows(
        make_windows(_record(100, drift=1.0), length_s=86_400, stride_s=86_400,
                     max_missing_fraction=0.1),
        _catalog([]), station_lat=LAT, station_lon=LON, config=cfg), config=cfg)
    x = np.where(raw["valid"].values, raw["data"].values, np.nan)
    cheat = RobustScaler.fit(x, components=("H", "Z"), fitted_on="train")
    bad = apply_window_scaler(raw, cheat)
    with pytest.raises(LeakageError, match="median 0"):
        check_no_leakage(bad)
    # the honest scaler on the same windows passes
    check_no_leakage(apply_window_scaler(raw, fit_window_scaler(raw)))


def test_fit_scaler_needs_train_windows():
    cfg = WindowConfig.from_dict(SMALL)
    ws = make_windows(_record(10), length_s=86_400, stride_s=86_400, max_missing_fraction=0.1)
    with pytest.raises(ValidationError, match="no training windows"):
        fit_window_scaler(ws)
    # 10 days cannot hold train + 8-day embargo + test: build refuses rather than leak
    with pytest.raises(ValidationError, match="no training windows"):
        build_window_set(_record(10), _catalog([]), cfg)


def test_config_roundtrip_and_window_set_contract():
    cfg = WindowConfig.from_dict({**SMALL, "radius": 250, "components": ["Z"]})
    assert WindowConfig.from_dict(json.loads(cfg.to_json())) == cfg
    with pytest.raises(ConfigError):
        WindowConfig.from_dict({**cfg.to_dict(), "colour": "red"})
    ws = _built(100, components=("Z",))
    assert ws.attrs["config"] == WindowConfig.from_dict({**SMALL, "components": ("Z",)}).to_json()
    for k in ("iaga_code", "latitude_deg", "longitude_deg", "sampling_period_s",
              "window_length_s", "stride_s", "config", "scaler", "history"):
        assert k in ws.attrs, k
    assert ws.attrs["iaga_code"] == "TST" and ws.attrs["sampling_period_s"] == 3600.0
    assert list(ws["component"].values) == ["Z"]
    assert ws["label"].dtype == np.int8 and ws["valid"].dtype == bool
    assert ws["start"].dtype == np.dtype("datetime64[ns]")
    assert len(ws.attrs["history"].splitlines()) == 4


def test_window_set_survives_netcdf(tmp_path, good):
    path = tmp_path / "ws.nc"
    good.to_netcdf(path)
    with xr.open_dataset(path) as back:
        back = back.load()
    check_no_leakage(back)
    np.testing.assert_array_equal(back["label"].values, good["label"].values)
    np.testing.assert_array_equal(back["split"].values.astype(str),
                                  good["split"].values.astype(str))
    np.testing.assert_array_equal(back["data"].values, good["data"].values)


# --------------------------------------------------------------------------------------------
# MMB, March 2011, with the USGS Japan catalog


@pytest.fixture(scope="module")
def mmb_and_catalog(request):
    geomag = request.getfixturevalue("geomag_dir")
    cats = request.getfixturevalue("catalogs_dir")
    from geoanom.io.catalog import read_earthquakenpp_csv
    from geoanom.io.iaga2002 import read_iaga2002

    rec = read_iaga2002(geomag / "japan_MMB_2011-03" / "mmb_2011_march.txt")
    cat = read_earthquakenpp_csv(cats / "japan_usgs_1990_2019_EarthquakeNPP.csv")
    return rec, cat


# The stated configuration: 1-day windows, 6-hour stride, lead [1, 30] d, M >= 5, Dobrovolsky
# radius, buffer 5 d, post-event exclusion 30 d, all four components. The catalog has no depth
# column: every event passes the 100 km depth cut (unknown depth is kept).
MMB_CFG = dict(window_length_s=86_400.0, stride_s=21_600.0, lead_days=(1.0, 30.0), m_min=5.0,
               radius="dobrovolsky", buffer_days=5.0, post_event_exclusion_days=30.0)


def _mmb_windows(rec, cat, cfg):
    ws = make_windows(rec, length_s=cfg.window_length_s, stride_s=cfg.stride_s,
                      max_missing_fraction=cfg.max_missing_fraction)
    return label_windows(ws, cat, station_lat=float(rec.attrs["latitude_deg"]),
                         station_lon=float(rec.attrs["longitude_deg"]), config=cfg)


def test_mmb_march_2011_gardner_knopoff(mmb_and_catalog):
    """Counted by hand.

    Record: 2011-03-01 00:00 to 03-31 23:59, 44,640 one-minute samples, no gaps. Windows:
    (44,640 - 1,440) / 360 + 1 = 121; window k ends at 03-02 00:00 + k * 6 h (k = 0..120, the
    last ending 04-01 00:00).

    Seen M >= 5 events from 2011-03-03 to 05-01 (the only ones that can be a lead-window target
    of these ends), distance from MMB (43.910 N, 144.189 E) vs R = 10 ** (0.43 M):
    03-09 02:45 M7.3 619 km (R 1377); 03-11 05:46:24 M9.1 642 km (R 8185); 03-11 06:08 M6.7
    554 km (R 760); 06:15 M7.9 888 km; 06:25 M7.7 652 km; 11:36 M6.6 539 km (R 689);
    03-15 15:23 M6.1 404 km (R 420); 03-17 04:13 M6.2 452 km (R 463); 03-22 09:44 M6.4 456 km
    (R 565); 04-07 14:32 M7.1 663 km (R 1130). Gardner-Knopoff with the symmetric window puts
    all of them in the Tohoku sequence (M9.1 window: 1,070 days, 424 km with the rupture
    floor), so the only target is the mainshock, event 22687 at 03-11 05:46:24.12. From the
    past only (the default) the M7.3 of 03-09 (event 22624) is a mainshock on its day.

    Seismic: ends in [02-09 05:46, 03-10 05:46] -> k * 6 h <= 8 d 5 h 46 min -> k = 0..32:
    33 windows. Normal: a seen M >= 4.5 event at t blocks [start, end) when
    start - 30 d <= t <= end + 35 d. The M9.1 alone blocks all 121: every start is <= 03-31
    18:00, before t + 30 d (04-10), and every end is >= 03-02, after t - 35 d (02-04). So 0
    normal windows, and 121 - 33 = 88 excluded.
    """
    rec, cat = mmb_and_catalog
    assert rec.sizes["time"] == 44_640
    ws = _mmb_windows(rec, cat, WindowConfig.from_dict({**MMB_CFG,
                                                        "decluster_foreshocks": True}))
    assert ws.sizes["window"] == 121
    assert label_counts(ws) == {"seismic": 33, "normal": 0, "excluded": 88}
    lab = ws["label"].values
    assert (lab[:33] == 1).all() and (lab[33:] == -1).all()
    assert set(ws["event_id"].values[:33]) == {"22687"}
    assert ws.attrs["n_target_events"] == 1
    # leads: 03-11 05:46:24.12 minus 03-02 00:00 = 9.24055 d (k = 0) down to 1.24055 d (k = 32)
    lead0 = (5 * 3600 + 46 * 60 + 24.12) / 86_400
    np.testing.assert_allclose(ws["lead_days"].values[[0, 32]], [9 + lead0, 1 + lead0],
                               atol=1e-9)
    np.testing.assert_allclose(ws["distance_km"].values[:33], 642.37, atol=0.01)
    # from the past only the M7.3 takes ends k 0..24 (as without declustering), the M9.1
    # k 25..32
    past = _mmb_windows(rec, cat, WindowConfig.from_dict(MMB_CFG))
    assert label_counts(past) == {"seismic": 33, "normal": 0, "excluded": 88}
    ev = past["event_id"].values
    assert set(ev[:25]) == {"22624"} and set(ev[25:33]) == {"22687"}
    assert past.attrs["n_target_events"] == 2


def test_mmb_march_2011_no_declustering(mmb_and_catalog):
    """Counted by hand, same configuration with ``decluster="none"``.

    Every seen M >= 5 event above is its own target, and a window takes the nearest event at
    least 1 day after its end. For end e the target is the first event with t >= e + 1 d:
    03-09 02:45 takes ends up to 03-08 02:45 -> k 0..24 (25); the M9.1 ends in
    (03-08 02:45, 03-10 05:46] -> k 25..32 (8); the M6.7 of 06:08 takes (03-10 05:46, 06:08]
    -> k 33 (1, the 06:00 end); 06:15, 06:25, 11:36 take no 6-hourly end; 03-15 takes
    (03-10 11:36, 03-14 15:23] -> k 34..50 (17); 03-17 takes (03-14 15:23, 03-16 04:13]
    -> k 51..56 (6); 03-22 takes (03-16 04:13, 03-21 09:44] -> k 57..77 (21); 04-07 takes
    (03-21 09:44, 04-01 00:00] -> k 78..120 (43). 25+8+1+17+6+21+43 = 121 seismic, 0 normal,
    0 excluded.
    """
    rec, cat = mmb_and_catalog
    ws = _mmb_windows(rec, cat, WindowConfig.from_dict({**MMB_CFG, "decluster": "none"}))
    assert label_counts(ws) == {"seismic": 121, "normal": 0, "excluded": 0}
    ev = ws["event_id"].values
    t = pd.to_datetime(cat.set_index("event_id").loc[list(ev), "time"].to_numpy())
    runs = [(str(d), n) for d, n in pd.Series(t.strftime("%m-%d %H:%M")).value_counts(
        sort=False).items()]
    assert runs == [("03-09 02:45", 25), ("03-11 05:46", 8), ("03-11 06:08", 1),
                    ("03-15 15:23", 17), ("03-17 04:13", 6), ("03-22 09:44", 21),
                    ("04-07 14:32", 43)]
    assert ws.attrs["declustering"] == "none"


# --------------------------------------------------------------------------------------------
# the synthetic world: labels match the saved truth


def test_synthetic_world_labels_match_truth():
    from geoanom.synthetic import make_world

    world = make_world(3, 120, cadence_s=3600.0, n_stations=1, precursor_strength=1.0)
    (code, rec), = world.records.items()
    truth = world.precursors
    truth = truth[truth["station"] == code]
    assert len(truth) > 0
    # the synthetic precursors use every seen M >= 5 event (no declustering), lead [1, 30] d
    cfg = WindowConfig(stride_s=21_600.0, label_rule=LabelRule(decluster="none"),
                       split_fractions=(0.5, 0.2, 0.3))
    ws = build_window_set(rec, world.catalog, cfg)
    end = ws["end"].values
    lab = ws["label"].values
    iv = truth.set_index("event_id")
    # every seismic window carries a truth event whose precursor interval holds its end ...
    for i in np.flatnonzero(lab == 1):
        row = iv.loc[ws["event_id"].values[i]]
        assert row["start"] <= end[i] <= row["end"]
        assert ws["distance_km"].values[i] == pytest.approx(row["distance_km"])
    # ... and every window ending inside some truth interval is seismic
    inside = np.zeros(end.size, bool)
    for _, row in truth.iterrows():
        inside |= (end >= row["start"].to_datetime64()) & (end <= row["end"].to_datetime64())
    np.testing.assert_array_equal(lab == 1, inside)
    assert inside.sum() > 0
