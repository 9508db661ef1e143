"""THE label rule, THE seen-by-the-station rule and THE declustering scope (geoanom.labels),
and that the windows, the protocol and the demo use them (issue 15 defect 4)."""

import importlib.util
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from geoanom.catalog_frame import make_catalog
from geoanom.detector.windows import WindowConfig
from geoanom.errors import ConfigError
from geoanom.labels import (
    LabelRule,
    declustered,
    detection_radius_km,
    mainshock_flags,
    seen_by_station,
    target_reasons,
    window_labels,
)
from geoanom.stats.alarm import station_setup
from geoanom.stats.protocol import Protocol

_spec = importlib.util.spec_from_file_location(
    "calibration", Path(__file__).resolve().parents[1] / "bench" / "calibration.py")
calibration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(calibration)

T0 = np.datetime64("2000-01-01T00:00", "ns")


def _cat(rows):
    """rows: (days, distance_km north of (0, 0), magnitude, depth_km)."""
    d = np.array([r[0] for r in rows], float)
    t = T0 + (d * 86400e9).astype(np.int64).astype("timedelta64[ns]")
    lat = np.array([r[1] for r in rows], float) / 111.195
    return make_catalog(t, lat, np.zeros(len(rows)), np.array([r[2] for r in rows], float),
                        depth_km=np.array([r[3] for r in rows], float))


def test_window_config_and_protocol_hold_one_label_rule():
    """One rule, held by both: the flat keys of the [windows] table and the protocol's
    [target] and [lead] keys build the same LabelRule."""
    assert WindowConfig().label_rule == LabelRule() == Protocol().target
    wc = WindowConfig.from_dict({"m_min": 4.5, "lead_days": [1, 10], "decluster": "none"})
    rule = LabelRule(m_min=4.5, lead_days=(1.0, 10.0), decluster="none")
    assert wc.label_rule == rule and LabelRule.from_dict(wc.to_dict()) == rule
    p = Protocol.from_dict({"target": {"min_magnitude": 4.5, "declustering": "none"},
                            "lead": {"min_days": 1, "max_days": 10}})
    assert p.target == rule


def test_seen_by_station_hand_worked():
    # R(5) = 141 km, R(6) = 380 km
    cat = _cat([(1, 100, 5.0, 10), (2, 200, 5.0, 10), (3, 200, 6.0, 150), (4, 50, 4.0, np.nan),
                (5, 300, 6.0, np.nan)])
    np.testing.assert_array_equal(seen_by_station(cat, 0, 0), [1, 0, 1, 1, 1])
    np.testing.assert_array_equal(
        seen_by_station(cat, 0, 0, min_magnitude=5.0, max_depth_km=100.0), [1, 0, 0, 0, 1])
    np.testing.assert_array_equal(seen_by_station(cat, 0, 0, radius=150.0), [1, 0, 0, 1, 0])
    # beyond R(M) (the far placebo's rule with factor 1): only the M5 at 200 km
    np.testing.assert_array_equal(seen_by_station(cat, 0, 0, beyond_factor=1.0),
                                  [0, 1, 0, 0, 0])


def test_declustering_scope_and_given_column():
    # an M4 foreshock a day before an M5.5 10 km away, and an M5.2 aftershock
    cat = _cat([(10, 0, 4.0, 10), (11, 10, 5.5, 10), (12, 5, 5.2, 10), (400, 0, 5.0, 10)])
    d = declustered(cat, "gardner_knopoff", 5.0)
    np.testing.assert_array_equal(d["mainshock"], [False, True, False, True])
    assert d.loc[0, "sequence_id"] == "" and d.loc[2, "sequence_id"] == d.loc[1, "event_id"]
    assert "of the events of M >= 5" in d.attrs["declustering"]
    assert declustered(cat, "none", 5.0)["mainshock"].tolist() == [False, True, True, True]
    given = cat.assign(mainshock=[True, False, True, False])
    np.testing.assert_array_equal(mainshock_flags(given, "gardner_knopoff", 5.0),
                                  [True, False, True, False])
    assert declustered(given, "none")["sequence_id"].tolist()[1] == ""


@pytest.mark.parametrize("method", ["gardner_knopoff", "nearest_neighbour"])
def test_protocol_targets_are_the_label_rule_targets(method):
    """The primary test's independent target events and the label rule's targets are the
    same events for the same definition: one seen rule and one declustering scope (the
    windows used to decluster the whole catalog, the protocol only M >= m_min: on this
    catalog the nearest-neighbour method then gave 33 and 31 targets)."""
    from geoanom import synthetic

    rng = np.random.default_rng(3)
    lat0, lon0 = calibration.STATION
    box = (lat0 - 1.3, lat0 + 1.3, lon0 - 1.7, lon0 + 1.7)
    cat = synthetic.etas_catalog(box, "2000-01-01", 3 * 365, rng,
                                 background_rate_per_day=0.25, mc=4.0)
    ds = calibration._windows_from_daily(rng.normal(size=3 * 365), rng, 3 * 365, 24, 12)
    p = Protocol(target=LabelRule(decluster=method))
    st = station_setup(ds, cat, p, mainshock_flags(cat, method, p.target.m_min))
    lab = window_labels(ds["start"].values, ds["end"].values, cat, lat0, lon0, p.target)
    in_record = (st.binned.bin_of(cat["time"].to_numpy()) >= 0) & \
        (st.binned.bin_of(cat["time"].to_numpy()) < st.binned.n)
    assert st.target_idx.size >= 3
    np.testing.assert_array_equal(st.target_idx, np.flatnonzero(lab.target & in_record))


def test_window_labels_hand_worked_in_any_order():
    # windows of 1 day ending at days 1..40; one M5.5 target at day 20.5, 50 km away
    e = T0 + (np.arange(1, 41) * 86400e9).astype(np.int64).astype("timedelta64[ns]")
    s = e - np.timedelta64(1, "D")
    cat = _cat([(0.0, 500, 5.0, 10), (20.5, 50, 5.5, 10), (90.0, 500, 5.0, 10)])
    rule = LabelRule(lead_days=(1.0, 5.0), buffer_days=2.0, post_event_exclusion_days=3.0)
    lab = window_labels(s, e, cat, 0.0, 0.0, rule)
    # seismic: end in [15.5, 19.5] -> days 16..19; blocked: end >= 20.5 - 7 = 13.5 and
    # start <= 23.5 -> windows ending 14..24; coverage: start - 3 >= 0 -> end >= 4
    exp = np.full(40, -1, np.int8)
    exp[3:13] = 0
    exp[24:] = 0
    exp[15:19] = 1
    np.testing.assert_array_equal(lab.label, exp)
    np.testing.assert_allclose(lab.lead_ns[15:19] / 86400e9, [4.5, 3.5, 2.5, 1.5])
    # any window order gives the same labels, window by window
    rev = window_labels(s[::-1], e[::-1], cat, 0.0, 0.0, rule)
    np.testing.assert_array_equal(rev.label, exp[::-1])
    np.testing.assert_array_equal(rev.lead_ns, lab.lead_ns[::-1])


def test_sequences_from_the_past_only_unless_foreshocks():
    """The GSI case of issue 26 in miniature: an M5.5 8 km from the station and an M5.7
    4.5 months later 20 km away. From the past only the M5.5 is a mainshock (a target); with
    the symmetric window it is the M5.7's foreshock, and the catalog says that depends on
    later data."""
    cat = _cat([(0, 8, 5.5, 30), (135, 20, 5.7, 15)])
    past = LabelRule().declustered(cat)
    assert past["mainshock"].tolist() == [True, True]
    assert past.attrs["depends_on_later_data"] == ""
    sym = LabelRule(decluster_foreshocks=True).declustered(cat)
    assert sym["mainshock"].tolist() == [False, True]
    assert sym["sequence_id"].tolist() == [sym["event_id"][1]] * 2
    assert "foreshock window" in sym.attrs["depends_on_later_data"]
    np.testing.assert_array_equal(
        mainshock_flags(cat, "gardner_knopoff", 5.0, foreshocks=True), [False, True])


def test_detectability_rules_hand_worked():
    """The group's rule (M >= 5, R <= 180 km, depth <= 200 km; 0.025 R < M - 4.5, or
    M >= 6.5, or R <= 30 km) and Ks = 10^(0.75 M) / (R + 100) >= 40, event by event."""
    cat = _cat([(1, 25, 5.0, 10), (2, 35, 5.0, 10), (3, 55, 6.0, 10), (4, 65, 6.0, 10),
                (5, 170, 6.5, 10), (6, 190, 6.5, 10), (7, 5, 4.9, 10), (8, 10, 5.5, 250),
                (9, 600, 6.0, 10), (10, 40, 5.0, 10), (11, 45, 5.0, 10)])
    group = LabelRule(detectability="group")
    np.testing.assert_array_equal(group.seen(cat, 0, 0),
                                  [1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0])
    ks = LabelRule(detectability="ks")
    # Ks: 45.0, 41.7, 204, 191, 277, 259, 45.1, 121, 45.2, 40.2, 38.8 (no depth limit)
    np.testing.assert_array_equal(ks.seen(cat, 0, 0), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0])
    # the published radius sees all but the M6 at 600 km (R(6) = 380 km, R(4.9) = 128 km);
    # a cap of 100 km drops the M6.5 events at 170 and 190 km
    np.testing.assert_array_equal(LabelRule().seen(cat, 0, 0),
                                  [1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1])
    np.testing.assert_array_equal(LabelRule().seen(cat, 0, 0, max_radius_km=100.0),
                                  [1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1])
    np.testing.assert_allclose(detection_radius_km([5.0, 5.5, 6.0, 7.0], detectability="group"),
                               [30.0, 40.0, 60.0, 180.0])
    assert detection_radius_km(4.9, detectability="group") == -np.inf
    np.testing.assert_allclose(detection_radius_km(6.0, detectability="ks"),
                               10 ** 4.5 / 40 - 100)
    with pytest.raises(ConfigError):
        detection_radius_km(5.0, detectability="group", radius=100.0)
    with pytest.raises(ConfigError):
        WindowConfig(label_rule=LabelRule(detectability="hattori"))


def test_normal_rule_detectable_lets_small_seen_events_pass():
    """normal_rule = "detectable": only events the rule calls detectable (M >= m_min) block
    normal windows, so a station that sees many small events can still train."""
    e = T0 + (np.arange(1, 41) * 86400e9).astype(np.int64).astype("timedelta64[ns]")
    s = e - np.timedelta64(1, "D")
    # an M4.7 50 km away on day 20 (seen: R(4.7) = 105 km), catalog from day 0 to 90
    cat = _cat([(0.0, 900, 5.0, 10), (20.0, 50, 4.7, 10), (90.0, 900, 5.0, 10)])
    rule = LabelRule(lead_days=(1.0, 5.0), buffer_days=2.0, post_event_exclusion_days=3.0)
    margin = window_labels(s, e, cat, 0.0, 0.0, rule)
    detect = window_labels(s, e, cat, 0.0, 0.0, replace(rule, normal_rule="detectable"))
    blocked = (e >= T0 + np.timedelta64(13, "D")) & (s <= T0 + np.timedelta64(23, "D"))
    assert (margin.label[blocked] == -1).all() and (margin.label[~blocked][3:] == 0).all()
    assert (detect.label[3:] == 0).all()
    assert (margin.label == 1).sum() == (detect.label == 1).sum() == 0


def test_target_reasons_name_the_sequence_head():
    """The GSI case of issue 26 in miniature: an M5.5 8 km from the station and an M5.7
    4.5 months later 20 km away. From the past only the M5.5 is a target; with the
    symmetric window it is the M5.7's foreshock, and the reasons name its head."""
    cat = _cat([(0, 8, 5.5, 30), (135, 20, 5.7, 15), (140, 400, 5.0, 10), (150, 10, 5.2, 150)])
    for foreshocks, head in ((False, -1), (True, 1)):
        rule = LabelRule(decluster_foreshocks=foreshocks)
        d = rule.declustered(cat)
        why = target_reasons(d, 0.0, 0.0, rule)
        assert why["head"].tolist()[0] == head
        assert why["declustered"].tolist()[0] is foreshocks
        assert bool(d.attrs["depends_on_later_data"]) is foreshocks
        # the M5 400 km away: outside R(5) = 141 km; the M5.2 at 150 km depth: too deep
        assert why["outside_radius"].tolist() == [False, False, True, False]
        assert why["too_deep"].tolist() == [False, False, False, True]
