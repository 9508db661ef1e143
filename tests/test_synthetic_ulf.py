"""The 1-s ULF world: the injected Z/G rise comes back from the nightly features in its
band and on its nights only, the field's anomaly rule finds it, the pulsations follow local
time and activity, and a ULF record is the ordinary record plus its own parts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import signal

from geoanom.cli import main
from geoanom.detector.features import UlfConfig, ulf_polarisation, zg_anomaly_scores
from geoanom.errors import ConfigError
from geoanom.synthetic import (
    PrecursorConfig,
    UlfWorldConfig,
    iter_ulf_station_record,
    make_world,
    ulf_station_record,
)
from geoanom.synthetic.activity import activity_index
from geoanom.synthetic.common import DEFAULT_STATIONS, _seeded

DAYS = 20
EVENT = "syn0004529"  # M5.0 at 138 km of SYA on 2020-01-19 21:17 (seed 0, 20 days)
LEAD = PrecursorConfig(lead_min_days=1.0, lead_max_days=6.0)
RAISED = ["01-14", "01-15", "01-16", "01-17"]  # nights (22-06 LT) inside its lead window


@pytest.fixture(scope="module")
def worlds():
    out = {}
    for rise in (0.0, 1.0):
        w = make_world(0, DAYS, cadence_s=1.0, n_stations=1, precursor=LEAD,
                       ulf=UlfWorldConfig(rise=rise, event_ids=(EVENT,)))
        out[rise] = (w, ulf_polarisation(w.records["SYA"], activity=w.activity))
    return out


def _nights(features):
    return list(pd.DatetimeIndex(features["time"].values).strftime("%m-%d"))


def test_truth_lists_the_raised_nights(worlds):
    w, _ = worlds[1.0]
    rows = w.truth["ulf"]["raised_nights"]
    assert [r["night_start"][5:10] for r in rows] == RAISED
    assert {r["event_ids"] for r in rows} == {EVENT}
    assert all(r["zg_factor"] == 2.0 and r["band_low_hz"] == 0.03 for r in rows)
    assert w.config["ulf"]["rise"] == 1.0
    assert worlds[0.0][0].truth["ulf"]["raised_nights"] == []


def test_rise_comes_back_in_its_band_and_nights_only(worlds):
    f0, f1 = worlds[0.0][1], worlds[1.0][1]
    nights = _nights(f1)
    raised = np.isin(nights, RAISED)
    for tag in ("lt22", "lt02"):
        for b in range(1, 10):
            ratio = f1[f"zg_b{b}_{tag}"].values / f0[f"zg_b{b}_{tag}"].values
            ok = np.isfinite(ratio)
            # other nights: not a sample of Z differs, so neither does any feature
            np.testing.assert_array_equal(ratio[ok & ~raised], 1.0)
            r = ratio[raised]
            if b == 3:  # 0.03-0.04 Hz: Z/G doubles, less the estimator's leakage at the edges
                assert np.all((r > 1.85) & (r < 2.05)), r
            elif b == 4:  # its lowest bin, 0.04 Hz, sits on the edge of the rise
                assert np.all((r > 1.0) & (r < 1.15)), r
            else:
                assert np.all(np.abs(r - 1) < 0.02), (b, r)


def test_rise_changes_z_only(worlds):
    r0, r1 = worlds[0.0][0].records["SYA"], worlds[1.0][0].records["SYA"]
    for c in ("X", "Y", "F"):
        np.testing.assert_array_equal(r0[c].values, r1[c].values)
    changed = r0["Z"].values != r1["Z"].values
    t = pd.DatetimeIndex(r0["time"].values[changed])
    assert set(t.strftime("%m-%d")) <= {"01-14", "01-15", "01-16", "01-17", "01-18"}


def test_the_anomaly_rule_finds_the_raised_nights(worlds):
    f0, f1 = worlds[0.0][1], worlds[1.0][1]
    nights = _nights(f1)
    kw = {"night_window": "lt02", "mean_sigma_window_nights": 10, "min_nights": 5}
    a0 = zg_anomaly_scores(f0, "b3", **kw)["anomaly"].values
    a1 = zg_anomaly_scores(f1, "b3", **kw)["anomaly"].values
    new = {nights[k] for k in np.flatnonzero(a1 & ~a0)}
    # 01-15 is a storm night (Dst < -30 nT): screened, not scored
    assert f1["storm_dst"].values[nights.index("01-15")] == 1
    assert new == {"01-14", "01-16", "01-17"}
    # in a band without a rise nothing changes
    np.testing.assert_array_equal(zg_anomaly_scores(f0, "b7", **kw)["anomaly"].values,
                                  zg_anomaly_scores(f1, "b7", **kw)["anomaly"].values)


def test_storm_nights_carry_more_horizontal_power(worlds):
    _, f = worlds[0.0]
    storm = f["storm_dst"].values == 1
    assert 2 <= storm.sum() <= DAYS - 5
    pg = f["pg_b1_lt22"].values
    assert np.nanmedian(pg[storm]) > 1.5 * np.nanmedian(pg[~storm])


def _short(days=3.0, **ulf):
    act = activity_index("2020-03-01", days, _seeded(3, 1))
    kw = {"start": "2020-03-01", "days": days, "cadence_s": 1.0}
    return act, kw, UlfWorldConfig(**ulf)


def test_pulsations_peak_on_the_day_side():
    act, kw, cfg = _short()
    rec = ulf_station_record(DEFAULT_STATIONS[0], act, rng=_seeded(3, 2), ulf=cfg, **kw)
    lon = DEFAULT_STATIONS[0].longitude_deg
    x = rec["X"].values
    t0 = rec["time"].values[0]

    def pc3(local_h):
        a = int((np.datetime64("2020-03-02", "ns") - t0) / np.timedelta64(1, "s")
                + (local_h - lon / 15.0) * 3600)
        f, p = signal.welch(x[a:a + 7200], fs=1.0, nperseg=1800)
        return p[(f >= 0.025) & (f < 0.09)].mean()

    assert pc3(10.0) > 4 * pc3(22.0)


def test_ulf_record_is_the_ordinary_record_plus_its_parts():
    from geoanom.synthetic import station_record

    act, kw, cfg = _short(days=2.0, pc3_nT=0.0, pc4_nT=0.0, pc5_nT=0.0)
    ulf = ulf_station_record(DEFAULT_STATIONS[1], act, rng=_seeded(3, 5), ulf=cfg, **kw)
    plain = station_record(DEFAULT_STATIONS[1], act, rng=_seeded(3, 5), **kw)
    for c in ("X", "Y", "Z", "F"):
        np.testing.assert_array_equal(ulf[c].values, plain[c].values)
        np.testing.assert_array_equal(ulf[f"{c}_flag"].values, plain[f"{c}_flag"].values)
    assert json.loads(ulf.attrs["ulf_world"])["pc3_nT"] == 0.0


def test_chunks_end_at_local_noon_and_join_to_the_record():
    act, kw, cfg = _short(days=3.0)
    whole = ulf_station_record(DEFAULT_STATIONS[0], act, rng=_seeded(3, 7), ulf=cfg, **kw)
    parts = list(iter_ulf_station_record(DEFAULT_STATIONS[0], act, rng=_seeded(3, 7), ulf=cfg,
                                         chunk_days=1, **kw))
    assert len(parts) == 4
    for p in parts[:-1]:  # local noon at 21.9 E is 10:32:24 UTC
        assert str(p["time"].values[-1])[11:19] == "10:32:23"
    for c in ("X", "Y", "Z", "F"):
        np.testing.assert_array_equal(np.concatenate([p[c].values for p in parts]),
                                      whole[c].values)


def test_ulf_world_config_is_checked():
    with pytest.raises(ConfigError, match="noon"):
        UlfWorldConfig(night_lt_h=(10.0, 14.0))
    with pytest.raises(ConfigError):
        UlfWorldConfig(rise=-0.5)
    with pytest.raises(ConfigError, match="cadence"):
        make_world(0, 1.0, cadence_s=60.0, n_stations=1, ulf=UlfWorldConfig())


def test_cli_synth_ulf(tmp_path):
    out = tmp_path / "w"
    r = CliRunner().invoke(main, ["synth", "-o", str(out), "--ulf", "--cadence", "1",
                                  "--days", "1", "--stations", "1", "--ulf-rise", "0.5",
                                  "--no-configs"])
    assert r.exit_code == 0, r.output
    truth = json.loads((out / "truth.json").read_text())
    assert truth["ulf"]["config"]["rise"] == 0.5
    r = CliRunner().invoke(main, ["synth", "-o", str(out), "--ulf-rise", "0.5"])
    assert r.exit_code == 2 and "--ulf" in r.output


def test_features_of_the_default_ulf_world_are_finite(worlds):
    _, f = worlds[0.0]
    cfg = UlfConfig()
    for tag in ("lt22", "lt02"):
        valid = f[f"valid_{tag}"].values == 1
        assert valid.sum() >= DAYS - 3
        for b, _, _ in cfg.bands:
            zg = f[f"zg_{b}_{tag}"].values[valid]
            assert np.isfinite(zg).all() and (zg > 0.05).all() and (zg < 2).all()
