"""Nightly ULF polarisation features: Welch's numbers on complete windows, invalid (never
interpolated) windows with gaps, spikes dropped, storm flags from the indices, chunking and
dask giving the serial numbers, the feature record windowed like any record, the Z/G
anomaly rule without look-ahead; real 1-s records (GSI 2014, WIC 2018 and May 2024)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import signal

from geoanom.catalog_frame import make_catalog
from geoanom.detector.features import (
    UlfConfig,
    night_windows,
    ulf_polarisation,
    ulf_polarisation_many,
    zg_anomaly_scores,
)
from geoanom.detector.windows import WindowConfig, build_window_set
from geoanom.errors import ConfigError, ValidationError
from geoanom.io.indices import make_index
from geoanom.record import FLAG_MISSING, FLAG_VALID, make_record, validate_record

T0 = np.datetime64("2021-03-01T00:00", "ns")
DAY = 86_400


def _record(days: int, seed: int = 0, *, code: str = "TST", lon: float = 0.0):
    """1-s N, E, Z: random walks (the slow field) plus white noise (the ULF band)."""
    rng = np.random.default_rng(seed)
    n = days * DAY
    t = T0 + np.arange(n) * np.timedelta64(1, "s")
    comps = {c: 100.0 * k + np.cumsum(rng.normal(0, 0.02, n)) + rng.normal(0, s, n)
             for k, (c, s) in enumerate((("N", 0.1), ("E", 0.08), ("Z", 0.05)))}
    return make_record(t, comps, attrs={"iaga_code": code, "latitude_deg": 35.0,
                                        "longitude_deg": lon, "sampling_period_s": 1.0})


def _window(record, night: int, tag: str, cfg: UlfConfig = UlfConfig()):
    """Sample slice of a night window (lon 0: local time is UTC)."""
    w = {x.tag: x for x in night_windows(cfg)}[tag]
    first = (np.datetime64("2021-02-28T12:00", "ns") - T0) // np.timedelta64(1, "s")
    a = int(first + night * DAY + w.offset_s)
    return slice(a, a + w.length_s)


def _welch_band(x, lo, hi):
    f, p = signal.welch(x, fs=1.0, window="hamming", nperseg=1800, noverlap=900,
                        detrend="linear")
    return p[(f >= lo) & (f < hi)].mean()


@pytest.fixture(scope="module")
def rec3():
    return _record(3)


@pytest.fixture(scope="module")
def feat3(rec3):
    return ulf_polarisation(rec3, UlfConfig(spike_sigma=None))


# ------------------------------------------------------------------------------ config


def test_config_round_trip_and_band_forms():
    cfg = UlfConfig(nights=((22, 2),), utc_offset_h=9, spike_sigma=None)
    assert UlfConfig.from_dict(cfg.to_dict()) == cfg
    assert UlfConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert UlfConfig.from_dict({"bands": [[0.01, 0.05], [0.05, 0.1]]}).bands == (
        ("b1", 0.01, 0.05), ("b2", 0.05, 0.1))
    assert UlfConfig.from_dict({"bands": {"pc3": [0.022, 0.1]}}).bands == (("pc3", 0.022, 0.1),)
    assert [b[0] for b in UlfConfig().bands] == [f"b{k}" for k in range(1, 10)]
    assert UlfConfig().bands[0][1:] == (0.01, 0.02) and UlfConfig().bands[-1][1:] == (0.09, 0.1)


def test_config_unknown_key_names_the_expected_ones():
    with pytest.raises(ConfigError) as e:
        UlfConfig.from_dict({"bandz": [[0.01, 0.02]]})
    assert "bandz" in str(e.value) and "bands" in str(e.value) and "spike_sigma" in str(e.value)


@pytest.mark.parametrize("kw", [{"nights": ((10, 14),)}, {"bands": (("b-1", 0.01, 0.02),)},
                                {"overlap": 1.0}, {"detrend": "none"}, {"spike_sigma": 0}])
def test_config_refuses_unusable_settings(kw):
    with pytest.raises(ConfigError):
        UlfConfig(**kw)


# ------------------------------------------------------------------------------ features


def test_feature_record_is_a_record_of_nights(rec3, feat3):
    validate_record(feat3)
    assert feat3.attrs["sampling_period_s"] == 86400.0
    assert feat3.attrs["source_sampling_period_s"] == 1.0
    # nights dated by their evening: 02-28 (only its 02-06 window inside), 03-01, 03-02
    assert list(feat3["time"].values) == [np.datetime64(f"2021-{d}T22:00", "ns")
                                          for d in ("02-28", "03-01", "03-02")]
    assert list(feat3["end"].values) == [np.datetime64(f"2021-03-0{d}T06:00", "ns")
                                         for d in (1, 2, 3)]
    assert list(feat3["valid_lt22"].values) == [0, 1, 1]
    assert list(feat3["valid_lt02"].values) == [1, 1, 1]
    assert feat3["zg_b1_lt22"].values[0] != feat3["zg_b1_lt22"].values[0]  # NaN
    assert feat3["zg_b1_lt22_flag"].values[0] == FLAG_MISSING
    for name in ("zg_b9_lt02", "pz_b9_lt02", "pg_b9_lt02", "pn_b9_lt02", "pe_b9_lt02"):
        assert name in feat3 and f"{name}_flag" in feat3
    assert feat3["pz_b1_lt02"].attrs["units"] == "nT2 Hz-1"
    assert list(feat3["pz_b1_lt02"].attrs["band_hz"]) == [0.01, 0.02]
    assert UlfConfig.from_dict(json.loads(feat3.attrs["ulf_config"])) == UlfConfig(
        spike_sigma=None)


def test_band_powers_equal_scipy_welch(rec3, feat3):
    for night, tag in ((1, "lt22"), (2, "lt02")):
        s = _window(rec3, night, tag)
        pz = _welch_band(rec3["Z"].values[s], 0.03, 0.04)
        pn = _welch_band(rec3["N"].values[s], 0.03, 0.04)
        pe = _welch_band(rec3["E"].values[s], 0.03, 0.04)
        assert feat3[f"pz_b3_{tag}"].values[night] == pytest.approx(pz, rel=1e-10)
        assert feat3[f"pg_b3_{tag}"].values[night] == pytest.approx(pn + pe, rel=1e-10)
        assert feat3[f"zg_b3_{tag}"].values[night] == pytest.approx(np.sqrt(pz / (pn + pe)),
                                                                    rel=1e-10)
    assert int(feat3["n_segments_lt22"].values[1]) == 15


def test_constant_detrend_equals_scipy_welch(rec3):
    f = ulf_polarisation(rec3, UlfConfig(spike_sigma=None, detrend="constant",
                                         nights=((2, 6),)))
    x = rec3["Z"].values[_window(rec3, 1, "lt02")]
    fr, p = signal.welch(x, fs=1.0, window="hamming", nperseg=1800, noverlap=900)
    assert f["pz_b5_lt02"].values[1] == pytest.approx(
        p[(fr >= 0.05) & (fr < 0.06)].mean(), rel=1e-10)


def test_chunking_does_not_change_the_features(rec3, feat3):
    one = ulf_polarisation(rec3, UlfConfig(spike_sigma=None), chunk_nights=1)
    for v in feat3.data_vars:
        np.testing.assert_array_equal(one[v].values, feat3[v].values)


def test_gap_beyond_the_threshold_makes_the_window_invalid(rec3, feat3):
    s = _window(rec3, 1, "lt22")
    flags = rec3["Z_flag"].values.copy()
    flags[s.start + 3000:s.start + 3000 + 1800] = FLAG_MISSING  # 12.5 % of the window
    rec = rec3.copy()
    rec["Z_flag"] = rec3["Z_flag"].copy(data=flags)
    rec["Z"] = rec3["Z"].where(flags == FLAG_VALID)
    f = ulf_polarisation(rec, UlfConfig(spike_sigma=None))
    assert f["valid_lt22"].values[1] == 0
    assert f["valid_fraction_lt22"].values[1] == pytest.approx(1 - 1800 / 14400 / 3)
    for b in range(1, 10):
        assert np.isnan(f[f"zg_b{b}_lt22"].values[1])
        assert f[f"zg_b{b}_lt22_flag"].values[1] == FLAG_MISSING
        assert np.isnan(f[f"pn_b{b}_lt22"].values[1])
    # the other windows do not change
    np.testing.assert_array_equal(f["zg_b3_lt02"].values, feat3["zg_b3_lt02"].values)
    np.testing.assert_array_equal(f["zg_b3_lt22"].values[2], feat3["zg_b3_lt22"].values[2])


def test_short_gap_leaves_out_its_segments_and_interpolates_nothing(rec3):
    s = _window(rec3, 1, "lt22")
    flags = rec3["Z_flag"].values.copy()
    flags[s.start + 4000:s.start + 4120] = FLAG_MISSING  # 2 min: segments 3 and 4
    rec = rec3.copy()
    rec["Z_flag"] = rec3["Z_flag"].copy(data=flags)
    rec["Z"] = rec3["Z"].where(flags == FLAG_VALID)
    f = ulf_polarisation(rec, UlfConfig(spike_sigma=None))
    assert f["valid_lt22"].values[1] == 1 and f["n_segments_lt22"].values[1] == 13
    x = rec3["Z"].values[s]
    seg = [k for k in range(15) if not (k * 900 < 4120 and 4000 < k * 900 + 1800)]
    assert len(seg) == 13
    want = np.mean([_welch_band(x[k * 900:k * 900 + 1800], 0.02, 0.03) for k in seg])
    assert f["pz_b2_lt22"].values[1] == pytest.approx(want, rel=1e-10)


def test_spike_is_dropped_not_spread_over_the_band(rec3, feat3):
    s = _window(rec3, 1, "lt02")
    z = rec3["Z"].values.copy()
    z[s.start + 7000] += 50.0
    rec = rec3.copy()
    rec["Z"] = rec3["Z"].copy(data=z)
    raw = ulf_polarisation(rec, UlfConfig(spike_sigma=None))
    clean = ulf_polarisation(rec)
    ref = feat3["pz_b5_lt02"].values[1]
    assert raw["pz_b5_lt02"].values[1] > 20 * ref
    assert clean["n_segments_lt02"].values[1] == 13  # the two segments holding it left out
    assert clean["pz_b5_lt02"].values[1] == pytest.approx(ref, rel=0.3)
    # the spike and its two neighbours (which it moves off their neighbours' mean by half)
    assert clean["valid_fraction_lt02"].values[1] == pytest.approx(1 - 3 / (3 * 14400))


def test_declination_in_arcmin_becomes_nT():
    base = _record(2, seed=3)
    h = base["N"].values + 20000.0
    d_nT = base["E"].values
    d_arcmin = d_nT / h.mean() / (np.pi / 10800)
    hdz = make_record(base["time"].values, {"H": h, "D": d_arcmin, "Z": base["Z"].values},
                      units={"D": "arcmin"}, attrs=dict(base.attrs))
    hez = make_record(base["time"].values, {"H": h, "E": d_nT, "Z": base["Z"].values},
                      attrs=dict(base.attrs))
    cfg = UlfConfig(spike_sigma=None)
    a, b = ulf_polarisation(hdz, cfg), ulf_polarisation(hez, cfg)
    assert a.attrs["components_used"] == "Z,H,D"
    np.testing.assert_allclose(a["pd_b4_lt02"].values, b["pe_b4_lt02"].values, rtol=1e-3)


def test_utc_offset_moves_the_night_windows(rec3):
    f = ulf_polarisation(rec3, UlfConfig(nights=((22, 2),), utc_offset_h=9))
    assert f["time"].values[0] == np.datetime64("2021-03-01T13:00", "ns")
    assert "UTC+9" in f.attrs["local_time"]
    g = ulf_polarisation(_record(2, lon=135.0), UlfConfig(nights=((22, 2),)))
    assert g["time"].values[0] == np.datetime64("2021-03-01T13:00", "ns")


def test_long_records_are_validated_block_by_block(rec3, feat3, monkeypatch):
    import geoanom.detector.features.ulf as ulf

    monkeypatch.setattr(ulf, "VALIDATE_BLOCK", 1000)
    same = ulf.ulf_polarisation(rec3, UlfConfig(spike_sigma=None))
    np.testing.assert_array_equal(same["zg_b2_lt02"].values, feat3["zg_b2_lt02"].values)
    t = rec3["time"].values.copy()
    # one 2-s step, from sample 1999 to 2000: blocks of 1000 without their one-sample
    # overlap would miss it
    t[2000:] += np.timedelta64(1, "s")
    bad = rec3.assign_coords(time=t)
    with pytest.raises(ValidationError, match="cadence"):
        ulf.ulf_polarisation(bad)


def test_record_without_horizontal_pair_is_refused(rec3):
    with pytest.raises(ValidationError, match="horizontal"):
        ulf_polarisation(rec3.drop_vars(["E", "E_flag"]))


# ------------------------------------------------------------------------------ storms


def test_storm_flags_follow_the_index(rec3):
    t = pd.date_range("2021-02-28", "2021-03-05", freq="1h")
    ap = np.full(t.size, 5.0)
    dst = np.full(t.size, -5.0)
    ap[t == pd.Timestamp("2021-03-01T23:00")] = 48.0  # inside night 1 (22-06)
    ap[t == pd.Timestamp("2021-03-02T12:00")] = 200.0  # between nights: no night sees it
    dst[t == pd.Timestamp("2021-03-03T05:00")] = -60.0  # inside night 2
    frame = pd.DataFrame({"time": t, "ap": ap, "dst": dst})
    f = ulf_polarisation(rec3, activity=frame)
    assert list(f["ap_max"].values) == [5.0, 48.0, 5.0]
    assert list(f["storm_ap"].values) == [0, 1, 0]
    assert list(f["dst_min_nT"].values) == [-5.0, -5.0, -60.0]
    assert list(f["storm_dst"].values) == [0, 0, 1]
    # the same values as two index datasets (what read_index returns)
    kp = make_index(t.values[::3], {"Kp": np.zeros(t[::3].size),
                                    "ap": np.maximum.reduceat(ap, np.arange(0, t.size, 3))},
                    "kp-3h", source="test")
    ds = make_index(t.values, {"Dst_nT": dst}, "dst-hourly", source="test")
    g = ulf_polarisation(rec3, activity=[kp, ds])
    assert list(g["storm_ap"].values) == [0, 1, 0]
    assert list(g["storm_dst"].values) == [0, 0, 1]
    with pytest.raises(ValidationError, match="neither ap nor Dst"):
        ulf_polarisation(rec3, activity=pd.DataFrame({"time": t, "kp": ap}))


# ------------------------------------------------------------------------------ windows


def test_feature_record_windows_with_build_window_set():
    feat = ulf_polarisation(_record(24, seed=1))
    comps = ["zg_b3_lt02", "zg_b5_lt02", "pz_b3_lt02"]
    cat = make_catalog([np.datetime64("2021-03-21T10:00")], [35.1], [0.1], [5.5],
                       depth_km=[10.0])
    cfg = WindowConfig.from_dict({
        "window_length_s": 3 * 86400, "stride_s": 86400, "components": comps,
        "lead_days": [0.0, 2.0], "buffer_days": 1.0, "post_event_exclusion_days": 1.0,
        "split_fractions": [0.7, 0.0, 0.3], "embargo_days": 5.0,
        "require_catalog_coverage": False, "decluster": "none"})
    ws = build_window_set(feat, cat, cfg)
    assert ws.sizes["step"] == 3 and list(ws["component"].values) == comps
    assert ws.attrs["sampling_period_s"] == 86400.0
    assert set(ws["split"].values) >= {"train", "test"}
    # a window holds three consecutive nights, as they are in the feature record
    k = int(np.flatnonzero(ws["start"].values == feat["time"].values[2])[0])
    assert ws["end"].values[k] == feat["time"].values[5]
    assert ws.attrs["scaler"]
    assert (ws["label"].values == 1).any()


# ------------------------------------------------------------------------------ Z/G rule


def _zg_features(zg, storm=None):
    n = len(zg)
    t = np.datetime64("2021-01-01T21:00", "ns") + np.arange(n) * np.timedelta64(1, "D")
    ds = make_record(t, {"zg_b1_lt22": np.asarray(zg, float)},
                     units={"zg_b1_lt22": "1"}, attrs={"sampling_period_s": 86400.0})
    ds.attrs["night_windows"] = json.dumps([{"tag": "lt22", "local_start_h": 22.0,
                                             "local_end_h": 2.0, "offset_s": 3600,
                                             "length_s": 14400}])
    if storm is not None:
        ds = ds.assign_coords(storm_ap=("time", np.asarray(storm, np.int8)))
    return ds


def test_zg_anomaly_uses_past_nights_only():
    rng = np.random.default_rng(5)
    zg = 0.3 + 0.02 * rng.standard_normal(60)
    zg[45] = 0.6
    s = zg_anomaly_scores(_zg_features(zg), "b1", mean_sigma_window_nights=20, min_nights=10)
    past = zg[25:45]
    assert s["zg_mean"].values[45] == pytest.approx(past.mean())
    assert s["zg_std"].values[45] == pytest.approx(past.std(ddof=1))
    assert s["score"].values[45] == pytest.approx((0.6 - past.mean()) / past.std(ddof=1))
    assert s["anomaly"].values[45] == 1 and s["anomaly"].values[:45].sum() <= 2
    assert np.isnan(s["score"].values[:10]).all() and np.isfinite(s["score"].values[10])
    # no look-ahead: changing later nights changes no earlier score
    later = zg.copy()
    later[46:] += 1.0
    s2 = zg_anomaly_scores(_zg_features(later), "b1", mean_sigma_window_nights=20,
                           min_nights=10)
    np.testing.assert_array_equal(s2["score"].values[:46], s["score"].values[:46])
    assert s["start"].values[0] == np.datetime64("2021-01-01T22:00", "ns")
    assert s["end"].values[0] == np.datetime64("2021-01-02T02:00", "ns")
    assert s.attrs["score_kind"] == "zg_anomaly" and s.attrs["stride_s"] == 86400.0
    for v in ("start", "end", "score", "valid_fraction"):
        assert s[v].dims == ("window",)


def test_zg_anomaly_screens_storm_nights():
    zg = np.r_[np.full(15, 0.3) + 0.01 * np.sin(np.arange(15)), 5.0, 0.3]
    storm = np.zeros(17, np.int8)
    storm[15] = 1
    s = zg_anomaly_scores(_zg_features(zg, storm), "b1", mean_sigma_window_nights=16,
                          min_nights=5)
    assert np.isnan(s["score"].values[15]) and s["storm"].values[15] == 1
    assert s["zg_mean"].values[16] == pytest.approx(zg[:15].mean())  # night 15 left out
    s = zg_anomaly_scores(_zg_features(zg, storm), "b1", mean_sigma_window_nights=16,
                          min_nights=5, screen_storms=False)
    assert s["anomaly"].values[15] == 1


def test_zg_anomaly_names_bands_and_windows(feat3):
    with pytest.raises(ConfigError, match="night windows"):
        zg_anomaly_scores(feat3, "b1")
    with pytest.raises(ConfigError, match="band"):
        zg_anomaly_scores(feat3, "b12", night_window="lt02")


# ------------------------------------------------------------------------------ lazy, dask


@pytest.fixture(scope="module")
def two_files(tmp_path_factory):
    from geoanom.io.netcdf import write_netcdf

    d = tmp_path_factory.mktemp("ulf")
    out = []
    for k, code in enumerate(("AAA", "BBB")):
        p = d / f"{code}.nc"
        write_netcdf(_record(2, seed=10 + k, code=code), p)
        out.append(p)
    return out


def test_lazy_record_gives_the_in_memory_features(two_files):
    pytest.importorskip("dask")
    from geoanom.detector.distributed import open_record_lazy
    from geoanom.io.netcdf import read_netcdf

    lazy = open_record_lazy(two_files[0], chunk_samples=20_000)
    a = ulf_polarisation(lazy, chunk_nights=1)
    b = ulf_polarisation(read_netcdf(two_files[0]))
    for v in b.data_vars:
        np.testing.assert_array_equal(a[v].values, b[v].values)


def test_dask_gives_the_serial_features(two_files):
    pytest.importorskip("distributed")
    from geoanom.detector.distributed import get_client

    serial = ulf_polarisation_many([str(p) for p in two_files])
    with get_client("local", workers=2, threads_per_worker=1, memory_limit="1GiB") as client:
        par = ulf_polarisation_many([str(p) for p in two_files], client=client)
    assert [f.attrs["iaga_code"] for f in par] == ["AAA", "BBB"]
    for a, b in zip(serial, par, strict=True):
        assert list(a.data_vars) == list(b.data_vars)
        for v in a.data_vars:
            np.testing.assert_array_equal(a[v].values, b[v].values)


# ------------------------------------------------------------------------------ real data


@pytest.fixture(scope="module")
def gsi(geomag_dir):
    from geoanom.io import read_record

    return read_record(geomag_dir / "supermag_GSI_1s_2014"
                       / "GSI_2014-07-02_2014-09-21_1s_supermag.nc")


def test_gsi_2014_nights(gsi, shared_data):
    from geoanom.io.indices import read_index

    idx = shared_data / "indices"
    act = [read_index(idx / "kp_ap_3hourly_1957-2025_celestrak.csv.gz"),
           read_index(idx / "dst_hourly_1996-2023_wdc_via_jb2008_dstfile.csv.gz")]
    f = ulf_polarisation(gsi, activity=act)
    validate_record(f)
    assert f.attrs["components_used"] == "Z,N,E"
    # lon 97.34 E: 22 local time is 15:30:38 UTC; one night per evening, 07-02 to 09-21
    assert f.sizes["time"] == 82
    assert f["time"].values[0] == np.datetime64("2014-07-02T15:30:38", "ns")
    nights = pd.DatetimeIndex(f["time"].values).strftime("%m-%d")
    for tag in ("lt22", "lt02"):
        valid = f[f"valid_{tag}"].values == 1
        assert 72 <= valid.sum() <= 80
        for day in ("08-21", "09-04"):  # entirely fill
            assert not valid[list(nights).index(day)]
        zg = f[f"zg_b3_{tag}"].values
        assert np.isfinite(zg[valid]).all() and np.isnan(zg[~valid]).all()
        assert 0.1 < np.median(zg[valid]) < 1.0
    # storms of 2014-08-27 and 2014-09-12 (SC 15:54 UT, inside the night of 09-12)
    assert f["storm_ap"].values[list(nights).index("09-12")] == 1
    assert f["storm_dst"].values[list(nights).index("09-12")] == 1
    assert f["storm_dst"].values[list(nights).index("08-27")] == 1
    assert f["storm_ap"].values.sum() < 15
    s = zg_anomaly_scores(f, "b3", night_window="lt02")
    assert np.isfinite(s["score"].values).sum() >= 40


def test_wic_imagcdf_storm_of_may_2024(geomag_dir, shared_data):
    from geoanom.io import read_record
    from geoanom.io.indices import read_index

    rec = read_record(geomag_dir / "austria_WIC_magpy" / "WIC_20240509-12_1s_imagcdf_example4.cdf")
    kp = read_index(shared_data / "indices" / "kp_ap_3hourly_1957-2025_celestrak.csv.gz")
    f = ulf_polarisation(rec, activity=kp)
    assert f.attrs["components_used"] == "Z,H,E"
    nights = list(pd.DatetimeIndex(f["time"].values).strftime("%m-%d"))
    assert nights == ["05-08", "05-09", "05-10", "05-11"]
    assert list(f["valid_lt22"].values) == [0, 1, 1, 1]  # 05-08 evening precedes the file
    assert list(f["valid_lt02"].values) == [1, 1, 1, 1]
    assert list(f["storm_ap"].values) == [0, 0, 1, 1]
    assert "storm_dst" not in f.coords  # the Kp/ap file has no Dst
    # the storm night (05-10 evening, ap 400) carries far more ULF power than the quiet one
    assert f["pg_b2_lt22"].values[2] > 30 * f["pg_b2_lt22"].values[1]


def test_wic_iaga2002_one_day(geomag_dir):
    from geoanom.io import read_record

    rec = read_record(geomag_dir / "austria_WIC_magpy" / "WIC_20180829_1s_iaga2002_example5.sec.gz")
    f = ulf_polarisation(rec)
    assert f.sizes["time"] == 1 and f["valid_lt22"].values[0] == 0
    assert f["valid_lt02"].values[0] == 1
    assert np.isfinite([f[f"zg_b{b}_lt02"].values[0] for b in range(1, 10)]).all()
