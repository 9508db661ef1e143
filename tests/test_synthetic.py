"""The synthetic world: determinism, the null world, precursor truth, ETAS statistics,
shared activity, gaps, the record contract, and the ``geoanom synth`` command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner
from scipy import signal

from geoanom import synthetic as S
from geoanom.catalog_frame import CATALOG_COLUMNS, great_circle_km, validate_catalog
from geoanom.errors import ConfigError
from geoanom.record import FLAG_MISSING, FLAG_NOT_OBSERVED, FLAG_VALID, validate_record

SEED = 4
DAYS = 60


@pytest.fixture(scope="module")
def null_world() -> S.World:
    return S.make_world(SEED, DAYS, 60, 3, 0.0)


@pytest.fixture(scope="module")
def signal_world() -> S.World:
    return S.make_world(SEED, DAYS, 60, 3, 3.0)


def _arrays(world: S.World) -> dict[str, bytes]:
    out = {}
    for code, rec in world.records.items():
        for v in rec.data_vars:
            out[f"{code}.{v}"] = rec[v].values.tobytes()
        out[f"{code}.time"] = rec["time"].values.tobytes()
    out["catalog"] = pd.util.hash_pandas_object(world.catalog, index=False).values.tobytes()
    out["kp"] = world.activity["kp"].values.tobytes()
    return out


def test_same_seed_same_bytes_different_seed_differs():
    a = _arrays(S.make_world(11, 3, 60, 2, 1.0))
    b = _arrays(S.make_world(11, 3, 60, 2, 1.0))
    c = _arrays(S.make_world(12, 3, 60, 2, 1.0))
    assert a.keys() == b.keys()
    assert all(a[k] == b[k] for k in a)
    assert a["SYA.X"] != c["SYA.X"]
    assert a["catalog"] != c["catalog"]


def test_chunked_generation_equals_whole_record():
    act = S.activity_index("2021-03-01", 2, np.random.default_rng(1))
    st = S.DEFAULT_STATIONS[1]
    kw = dict(start="2021-03-01", days=1.0, cadence_s=10.0)
    whole = S.station_record(st, act, rng=np.random.default_rng(2), **kw)
    parts = list(S.iter_station_record(st, act, rng=np.random.default_rng(2), chunk_days=0.3,
                                       **kw))
    assert len(parts) == 4
    joined = xr.concat(parts, dim="time")
    for v in ("X", "Y", "Z", "F", "X_flag", "F_flag"):
        np.testing.assert_array_equal(joined[v].values, whole[v].values)
    validate_record(whole)
    assert whole.attrs["sampling_period_s"] == 10.0


def test_records_satisfy_the_contract(null_world):
    for code, rec in null_world.records.items():
        validate_record(rec)
        assert list(rec.time.values[:2]) == [np.datetime64("2020-01-01T00:00", "ns"),
                                             np.datetime64("2020-01-01T00:01", "ns")]
        assert rec.sizes["time"] == DAYS * 1440
        assert rec.attrs["iaga_code"] == code
        assert rec.attrs["data_type"] == "synthetic"
        assert all(rec[c].attrs["units"] == "nT" for c in "XYZF")
    # Main field near the dipole values for mid-latitudes; H ~ 23000 nT, Z ~ 36000 nT.
    rec = null_world.records["SYA"]
    h = np.nanmedian(np.hypot(rec["X"].values, rec["Y"].values))
    assert 20000 < h < 26000
    assert 32000 < np.nanmedian(rec["Z"].values) < 40000


def test_strength_zero_adds_nothing(null_world):
    # The same station generated with no precursor machinery at all: identical bytes.
    act = null_world.activity
    st = S.DEFAULT_STATIONS[0]
    plain = S.station_record(st, act, start="2020-01-01", days=DAYS, cadence_s=60,
                             rng=S._seeded(SEED, 100))
    for v in ("X", "Y", "Z", "F", "Z_flag"):
        assert plain[v].values.tobytes() == null_world.records["SYA"][v].values.tobytes()
    assert not null_world.truth["signal_added"]
    assert all(p["amplitude_nT"] == 0.0 for p in null_world.truth["precursors"])


def test_precursor_only_inside_truth_windows_and_mostly_in_z(null_world, signal_world):
    pre = signal_world.precursors
    assert signal_world.truth["signal_added"]
    assert len(pre) >= 5 and (pre["amplitude_nT"] > 0).all()
    for code in signal_world.records:
        r0, r1 = null_world.records[code], signal_world.records[code]
        t = r1["time"].values
        inside = np.zeros(t.size, bool)
        for s, e in pre.loc[pre["station"] == code, ["start", "end"]].itertuples(index=False):
            inside |= (t >= np.datetime64(s)) & (t <= np.datetime64(e))
        rms = {}
        for c in "XYZ":
            d = r1[c].values - r0[c].values
            ok = np.isfinite(d)
            assert np.all(d[ok & ~inside] == 0.0), f"{code} {c} changed outside the windows"
            rms[c] = np.sqrt(np.mean(d[ok & inside] ** 2)) if inside.any() else 0.0
        if inside.any():
            assert rms["Z"] > 0
            # Z carries the signature; X and Y get horizontal_ratio (0.3) of it.
            assert rms["Z"] > 2.5 * rms["X"] and rms["Z"] > 2.5 * rms["Y"]


def test_ulf_band_power_rises_inside_windows(null_world, signal_world):
    """Band power of Z in the truth's ULF band, inside vs outside the windows: up with the
    signal, unchanged in the null world."""
    band = signal_world.truth["ulf_band_hz"]
    sos = signal.butter(4, [b / (0.5 / 60.0) for b in band], "band", output="sos")
    pre = signal_world.precursors
    code = "SYB"
    ratios = {}
    for name, world in (("null", null_world), ("signal", signal_world)):
        rec = world.records[code]
        z = S._despike(rec["Z"].values - np.nanmedian(rec["Z"].values))
        p = signal.sosfiltfilt(sos, z) ** 2
        hourly = np.median(p.reshape(-1, 60), axis=1)  # robust to spikes and storms
        t = rec["time"].values[::60]
        inside = np.zeros(t.size, bool)
        rows = pre[(pre["station"] == code) & (pre["amplitude_nT"] > 0.15)]
        for s, e in rows[["start", "end"]].itertuples(index=False):
            inside |= (t >= np.datetime64(s) + np.timedelta64(1, "D")) & (
                t <= np.datetime64(e) - np.timedelta64(1, "D"))
        assert inside.sum() > 24 * 5 and (~inside).sum() > 24 * 5
        ratios[name] = np.median(hourly[inside]) / np.median(hourly[~inside])
    assert ratios["signal"] > 3.0 * ratios["null"]
    assert 0.3 < ratios["null"] < 3.0


def test_precursor_windows_follow_dobrovolsky_and_lead(signal_world):
    cat = signal_world.catalog.set_index("event_id")
    st = signal_world.stations.set_index("code")
    cfg = signal_world.truth["precursor_config"]
    pre = signal_world.precursors
    for row in pre.itertuples(index=False):
        ev = cat.loc[row.event_id]
        assert ev["magnitude"] >= cfg["m_min"]
        d = great_circle_km(st.loc[row.station, "latitude_deg"], st.loc[row.station,
                            "longitude_deg"], ev["latitude_deg"], ev["longitude_deg"])
        assert d <= 10 ** (0.43 * ev["magnitude"]) + 1e-6
        assert row.event_time - row.start == pd.Timedelta(days=cfg["lead_max_days"])
        assert row.event_time - row.end == pd.Timedelta(days=cfg["lead_min_days"])
    # Every qualifying event is listed (none forgotten).
    near = signal_world.catalog[signal_world.catalog["magnitude"] >= cfg["m_min"]]
    for ev in near.itertuples(index=False):
        for s in signal_world.stations.itertuples(index=False):
            d = great_circle_km(s.latitude_deg, s.longitude_deg, ev.latitude_deg,
                                ev.longitude_deg)
            listed = ((pre["event_id"] == ev.event_id) & (pre["station"] == s.code)).any()
            assert listed == bool(d <= 10 ** (0.43 * ev.magnitude) and ev.depth_km <= 100)
    # Amplitude grows with magnitude and decays with distance (the stated law).
    a = pre["amplitude_nT"].to_numpy()
    law = 3.0 * cfg["a_ref_nT"] * 10 ** (0.5 * (pre["magnitude"] - 5.0)) * np.exp(
        -2 * pre["distance_km"] / pre["radius_km"])
    np.testing.assert_allclose(a, law, rtol=1e-9)


def test_catalog_b_value_and_background_fraction():
    fr = {0.5: [], 0.2: []}
    for n in fr:
        for seed in range(4):
            cat = S.etas_catalog(S.DEFAULT_REGION, "2020-01-01", 365,
                                 np.random.default_rng(seed), branching_ratio=n)
            validate_catalog(cat)
            assert list(cat.columns[:7]) == list(CATALOG_COLUMNS)
            b = S.aki_utsu_b(cat["magnitude"].to_numpy(), 3.0, 0.1)
            assert abs(b - 1.0) < 0.08, b
            fr[n].append(cat["is_background"].mean())
    # Stationary ETAS: background fraction 1 - n; tolerance 0.05 on the mean of 4 years.
    assert abs(np.mean(fr[0.5]) - 0.5) < 0.05
    assert abs(np.mean(fr[0.2]) - 0.8) < 0.05


def test_catalog_truth_columns_are_consistent(null_world):
    cat = null_world.catalog
    ids = set(cat["event_id"])
    bg = cat["is_background"].to_numpy()
    assert (cat.loc[bg, "parent_id"] == "").all()
    assert (cat.loc[~bg, "parent_id"] != "").all()
    inside = cat.loc[~bg & cat["parent_id"].isin(ids)]
    parents = cat.set_index("event_id").loc[inside["parent_id"]]
    assert (parents["time"].to_numpy() <= inside["time"].to_numpy()).all()
    assert cat["magnitude"].min() == pytest.approx(3.0)
    assert np.allclose(cat["magnitude"] * 10, np.round(cat["magnitude"] * 10))
    assert ((cat["depth_km"] > 0) & (cat["depth_km"] <= 150)).all()
    # Enough target events near the stations (the point of the region design): M>=5
    # within the Dobrovolsky radius of SYA over 60 days, and tens per year.
    assert len(null_world.precursors.query("station == 'SYA'")) >= 3


def test_activity_index_shape_and_recurrence():
    r27, r20 = [], []
    for seed in range(4):
        act = S.activity_index("2020-01-01", 365, np.random.default_rng(seed))
        kp = act["kp"].values
        assert act.sizes["time"] == 365 * 8
        assert kp.min() >= 0 and kp.max() <= 9
        np.testing.assert_allclose(kp * 3, np.round(kp * 3), atol=1e-9)
        assert 1.5 < kp.mean() < 3.0
        assert (act["storm_kind"] == "cme").sum() > 10
        d = pd.Series(kp, index=act["time"].values).resample("1D").mean().to_numpy()
        d = d - d.mean()
        r27.append(np.corrcoef(d[:-27], d[27:])[0, 1])
        r20.append(np.corrcoef(d[:-20], d[20:])[0, 1])
    # The 27-day recurrence tendency: daily Kp correlates at one solar rotation.
    assert np.mean(r27) > 0.05 and np.mean(r27) > np.mean(r20) + 0.05


def test_activity_is_shared_and_remote_reference_removes_most():
    act = S.with_storm(S.activity_index("2020-01-01", 8, np.random.default_rng(3)),
                       "2020-01-04T06:00", -300.0)
    clean = S.StationConfig(gaps_per_day=0.0, f_gaps_per_day=0.0)  # gaps are tested apart
    recs = {st.code: S.station_record(st, act, start="2020-01-01", days=8, cadence_s=60,
                                      rng=np.random.default_rng(10 + i), config=clean)
            for i, st in enumerate(S.DEFAULT_STATIONS[:3])}
    x = {k: pd.Series(r["X"].values) for k, r in recs.items()}
    # Storm signal: hourly means minus the first (quiet) day, highly correlated everywhere.
    hourly = {k: v.groupby(np.arange(v.size) // 60).mean() for k, v in x.items()}
    hourly = {k: v - v[:24].median() for k, v in hourly.items()}
    assert hourly["SYA"].corr(hourly["SYC"]) > 0.95
    assert hourly["SYA"].min() < -150  # the storm's depression of X
    # Remote reference: in the ULF band, subtracting the gain-fitted remote station removes
    # most of the variance of every component (Z included).
    sos = signal.butter(4, [1e-3 / (0.5 / 60), 7.5e-3 / (0.5 / 60)], "band", output="sos")
    for c in "XYZ":
        a, r = (S._despike(recs[k][c].values - np.nanmedian(recs[k][c].values))
                for k in ("SYA", "SYC"))
        a, r = signal.sosfiltfilt(sos, a), signal.sosfiltfilt(sos, r)
        g = np.sum(a * r) / np.sum(r * r)
        assert np.var(a - g * r) < 0.15 * np.var(a), c


def test_sq_follows_local_time():
    act = S.activity_index("2020-03-01", 10, np.random.default_rng(0), storm_rate_per_day=1e-9,
                           recurrence_persistence=0.0)
    cfg = S.StationConfig(spikes_per_day=0, gaps_per_day=0, f_gaps_per_day=0)
    minima = {}
    for lon in (0.0, 90.0):
        st = S.SyntheticStation(f"T{int(lon / 10):02d}", "t", 45.0, lon)
        rec = S.station_record(st, act, start="2020-03-01", days=10, cadence_s=60,
                               rng=np.random.default_rng(1), config=cfg)
        prof = rec["X"].values.reshape(10, 1440).mean(axis=0)
        minima[lon] = np.argmin(pd.Series(prof).rolling(61, center=True).mean()) / 60.0
    # 90 degrees east: local noon comes 6 hours earlier in UT.
    shift = (minima[0.0] - minima[90.0]) % 24
    assert abs(shift - 6.0) < 1.5, minima


def test_gaps_and_not_observed_are_flagged(null_world):
    n_missing = 0
    for code, rec in null_world.records.items():
        for g in null_world.truth["gaps"][code]:
            t = rec["time"].values
            sel = (t >= np.datetime64(g["start"])) & (t < np.datetime64(g["end"]))
            for c in g["components"]:
                flags = rec[f"{c}_flag"].values[sel]
                assert np.all(flags != FLAG_VALID)
                assert np.all(np.isnan(rec[c].values[sel]))
                if g["flag"] == FLAG_MISSING:
                    assert np.all(flags == FLAG_MISSING)
                    n_missing += int(sel.sum())
        f = rec["F_flag"].values
        assert np.isnan(rec["F"].values[f != FLAG_VALID]).all()
        assert np.isfinite(rec["X"].values[rec["X_flag"].values == FLAG_VALID]).all()
    assert n_missing > 0
    assert any(g["flag"] == FLAG_NOT_OBSERVED for gs in null_world.truth["gaps"].values()
               for g in gs)


def test_spikes_are_in_the_truth(null_world):
    rec = null_world.records["SYA"]
    spikes = pd.DataFrame(null_world.truth["spikes"]["SYA"])
    assert 30 < len(spikes) < 100  # about one a day
    x = rec["X"].values
    sx = spikes[spikes["component"] == "X"]
    idx = ((pd.to_datetime(sx["time"]) - pd.Timestamp("2020-01-01"))
           // pd.Timedelta(minutes=1)).to_numpy()
    ok = np.isfinite(x[idx]) & np.isfinite(x[idx - 1]) & np.isfinite(x[idx + 1])
    jump = x[idx] - 0.5 * (x[idx - 1] + x[idx + 1])
    big = np.abs(sx["amplitude_nT"].to_numpy()) > 20
    np.testing.assert_allclose(jump[ok & big], sx["amplitude_nT"].to_numpy()[ok & big],
                               atol=5.0)


def test_storm_depression_scales_with_size():
    base = S.activity_index("2020-01-01", 6, np.random.default_rng(8), storm_rate_per_day=1e-9)
    drops = []
    for dst in (-100.0, -400.0):
        act = S.with_storm(base, "2020-01-03T00:00", dst)
        rec = S.station_record(S.DEFAULT_STATIONS[0], act, start="2020-01-01", days=6,
                               cadence_s=60, rng=np.random.default_rng(9))
        h = S.horizontal_intensity(rec)
        drops.append(S.storm_depression(h, ("2020-01-02", "2020-01-02T23:59"),
                                        ("2020-01-03", "2020-01-05")))
    assert 50 < drops[0] < 250
    assert 250 < drops[1] < 700
    assert drops[1] > 2.5 * drops[0]


def test_record_outside_activity_span_is_refused():
    act = S.activity_index("2020-01-01", 2, np.random.default_rng(0))
    with pytest.raises(ConfigError):
        S.station_record(S.DEFAULT_STATIONS[0], act, start="2020-01-02", days=3,
                         rng=np.random.default_rng(0))
    with pytest.raises(ConfigError):
        S.make_world(0, 1, n_stations=99)


def test_cli_writes_the_world(tmp_path):
    from geoanom.cli import main

    out = tmp_path / "world"
    res = CliRunner().invoke(main, ["synth", "-o", str(out), "--seed", "5", "--days", "2",
                                    "--stations", "2", "--precursor-strength", "1.5"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    # the world, then the detector and protocol configs fitted to it (geoanom config suggest)
    assert summary["files"] == ["SYA.nc", "SYB.nc", "catalog.csv", "activity.csv",
                                "stations.csv", "truth.json", "detector.toml", "protocol.toml"]
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(summary["files"])  # no temporary files left behind
    truth = json.loads((out / "truth.json").read_text())
    assert truth["seed"] == 5 and truth["precursor_strength"] == 1.5
    assert truth["provenance"]["seeds"] == {"seed": 5}
    assert truth["provenance"]["config_hash"]
    cat = pd.read_csv(out / "catalog.csv", keep_default_na=False)
    assert {"is_background", "parent_id", *CATALOG_COLUMNS} <= set(cat.columns)
    act = pd.read_csv(out / "activity.csv")
    assert list(act.columns) == ["time", "kp", "dst_nT"] and len(act) == 16
    world = S.make_world(5, 2, n_stations=2, precursor_strength=1.5)
    with xr.open_dataset(out / "SYA.nc") as ds:
        np.testing.assert_array_equal(ds["X"].values, world.records["SYA"]["X"].values)
        np.testing.assert_array_equal(ds["time"].values, world.records["SYA"]["time"].values)
    assert len(cat) == len(world.catalog)


def test_cli_bad_input_exits_2(tmp_path):
    from geoanom.cli import main

    res = CliRunner().invoke(main, ["synth", "-o", str(tmp_path / "w"), "--days", "-1"])
    assert res.exit_code == 2
    assert "days" in res.output
