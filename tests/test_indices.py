"""Activity indices: Kp notation, the shipped index files, alignment onto bins, the
activity table for geoanom test, and geoanom test --activity with an index file."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from geoanom.cli import main
from geoanom.errors import FormatError
from geoanom.io.indices import align_index, kp_decimal, make_index, read_index, to_activity_table

IDX = "indices"


def test_kp_tenths_of_thirds_and_decimal_notation():
    v, bad = kp_decimal(np.array([3.7, 4.0, 4.3, 0.0, 0.3, 8.7, 9.0, 3.667, 4.333, np.nan]))
    np.testing.assert_allclose(v[:9], [11 / 3, 4, 13 / 3, 0, 1 / 3, 26 / 3, 9, 11 / 3, 13 / 3])
    assert np.isnan(v[9]) and not bad.any()
    # 4.5 and 4.1 are in neither notation; 9.3 (9+) does not exist
    _, bad = kp_decimal(np.array([4.5, 4.1, 9.3, -0.3]))
    assert bad.all()
    v, bad = kp_decimal(np.array([27.3, 72.0]), top=72)
    np.testing.assert_allclose(v, [27 + 1 / 3, 72]) and not bad.any()


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_each_kind_is_recognised_from_its_header(tmp_path):
    kp = read_index(_write(tmp_path, "kp.csv", "time_utc_start,Kp,ap\n"
                           "2020-01-01T00:00:00Z,3.7,22\n2020-01-01T03:00:00Z,4.3,32\n"))
    assert kp.attrs["kind"] == "kp-3h" and kp.attrs["cadence_s"] == 10800
    np.testing.assert_allclose(kp["Kp"].values, [11 / 3, 13 / 3])
    daily = read_index(_write(tmp_path, "d.csv", "date,Kp_sum,Ap\n2020-01-01,27.3,21\n"
                              "2020-01-03,20.0,12\n"))
    assert daily.attrs["kind"] == "kp-daily" and daily.attrs["n_rows_inserted"] == 1
    assert np.isnan(daily["Ap"].values[1]) and daily["Kp_sum"].values[0] == 27 + 1 / 3
    rc = read_index(_write(tmp_path, "rc.csv", "time_utc_center,RC_nT,flag\n"
                           "2020-01-01T00:30:00Z,-5.5,D\n2020-01-01T01:30:00Z,-7,D\n"))
    assert rc.attrs["kind"] == "rc-hourly"
    assert str(rc["time"].values[0])[:19] == "2020-01-01T00:00:00"  # interval start
    omni = read_index(_write(tmp_path, "o.csv", "time_utc_start,Kp,Dst_nT,ap,AE_nT\n"
                             "2020-01-01T00:00:00Z,2.7,-10,12,\n"
                             "2020-01-01T01:00:00Z,,-12,,300\n"))
    assert omni.attrs["kind"] == "omni-hourly"
    assert np.isnan(omni["AE_nT"].values[0]) and np.isnan(omni["Kp"].values[1])
    gen = read_index(_write(tmp_path, "g.csv", "time,kp,dst_nT\n2020-01-01T00:00:00,2,-5\n"
                            "2020-01-01T03:00:00,3,-9\n"))
    assert gen.attrs["kind"] == "generic" and gen.attrs["primary_variable"] == "kp"
    assert gen.attrs["cadence_s"] == 10800
    lab = read_index(_write(tmp_path, "l.csv", "time_utc_start,AE_nT,quality\n"
                            "2020-01-01T00:00:00Z,120,good\n2020-01-01T01:00:00Z,,bad\n"))
    assert list(lab.data_vars) == ["AE_nT"] and lab.attrs["cadence_s"] == 3600


def test_align_index_max_and_mean_by_overlap():
    t = np.array(["2020-01-01T00", "2020-01-01T03", "2020-01-01T06", "2020-01-01T09"],
                 dtype="datetime64[ns]")
    ix = make_index(t, {"Kp": np.array([1.0, 4.0, np.nan, 2.0])}, "kp-3h", source="test")
    b0 = np.array(["2020-01-01T00", "2020-01-01T02", "2020-01-01T06", "2020-01-02T00"],
                  dtype="datetime64[ns]")
    b1 = np.array(["2020-01-01T02", "2020-01-01T04", "2020-01-01T09", "2020-01-02T03"],
                  dtype="datetime64[ns]")
    np.testing.assert_array_equal(align_index(ix, b0, b1, "max"), [1.0, 4.0, np.nan, np.nan])
    # 02-04: one hour of Kp 1, one hour of Kp 4
    np.testing.assert_allclose(align_index(ix, b0, b1, "mean"), [1.0, 2.5, np.nan, np.nan])
    day = np.array(["2020-01-01"], dtype="datetime64[ns]")
    assert align_index(ix, day, day + np.timedelta64(1, "D"), "max")[0] == 4.0
    np.testing.assert_allclose(align_index(ix, day, day + np.timedelta64(1, "D"), "mean"),
                               [7 / 3])


def test_activity_frame_names_and_repeats():
    t = np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[ns]")
    daily = make_index(t, {"Ap": np.array([5.0, 9.0])}, "kp-daily", source="t")
    f = to_activity_table(daily, step_s=6 * 3600)
    assert list(f.columns) == ["time", "Ap"] and len(f) == 8
    assert f["Ap"].tolist() == [5.0] * 4 + [9.0] * 4
    rc = make_index(t.astype("datetime64[h]").astype("datetime64[ns]"),
                    {"RC_nT": np.array([-20.0, -30.0])}, "rc-hourly", source="t",
                    cadence_s=86400)
    assert "dst" in to_activity_table(rc).columns[1].lower()  # the protocol negates Dst-like


def test_real_daily_kp_file_spans_without_gaps(shared_data):
    ds = read_index(shared_data / IDX / "kp_ap_f107_daily_1957-2025_celestrak.csv.gz")
    assert ds.attrs["kind"] == "kp-daily" and ds.attrs["n_rows_inserted"] == 0
    assert str(ds["time"].values[0])[:10] == "1957-10-01"
    assert str(ds["time"].values[-1])[:10] == "2025-07-20"
    assert np.isfinite(ds["Kp_sum"].values).all() and np.isfinite(ds["Ap"].values).all()
    assert ds["Kp_sum"].values[0] == pytest.approx(27 + 1 / 3)  # "27.3" = 27+


@pytest.mark.slow
def test_real_kp_dst_rc_omni_files(shared_data):
    d = shared_data / IDX
    kp = read_index(d / "kp_ap_3hourly_1957-2025_celestrak.csv.gz")
    with gzip.open(d / "kp_ap_3hourly_1957-2025_celestrak.csv.gz", "rt") as fh:
        n_rows = sum(1 for _ in fh) - 1
    assert kp.attrs["kind"] == "kp-3h" and kp.sizes["time"] == n_rows == 198120
    assert kp.attrs["n_rows_inserted"] == 0 and np.isfinite(kp["Kp"].values).all()
    assert str(kp["time"].values[-1])[:19] == "2025-07-20T21:00:00"
    assert kp["Kp"].values[0] == pytest.approx(13 / 3)  # 4.3 = 4+
    thirds = np.round(kp["Kp"].values * 3)
    np.testing.assert_allclose(kp["Kp"].values * 3, thirds, atol=1e-9)
    dst = read_index(d / "dst_hourly_1996-2023_wdc_via_jb2008_dstfile.csv.gz")
    assert dst.attrs["kind"] == "dst-hourly" and dst.attrs["n_rows_inserted"] == 0
    assert str(dst["time"].values[0])[:13] == "1996-12-20T00"
    assert str(dst["time"].values[-1])[:13] == "2023-03-20T23"
    assert np.isfinite(dst["Dst_nT"].values).all()
    rc = read_index(d / "rc_index_hourly_1997-2026_dtu_chaosmagpy.csv.gz")
    assert rc.attrs["n_rows_inserted"] == 0 and str(rc["time"].values[0])[:16] == \
        "1997-01-01T00:00"
    omni = d / "omni_hourly_kp_dst_ap_ae_2000-2019.csv.gz"
    with pytest.raises(FormatError, match="unparsable time") as ei:
        read_index(omni)
    assert ei.value.line == 5132 and "skip_bad_rows" in str(ei.value)
    om = read_index(omni, skip_bad_rows=True)
    assert om.attrs["skipped_lines"] == "5132" and om.attrs["n_rows_inserted"] == 0
    assert str(om["time"].values[-1])[:13] == "2019-11-14T19"


def _kp_file(tmp_path, start, n, seed=1):
    rng = np.random.default_rng(seed)
    t = pd.date_range(start, periods=n, freq="3h")
    kp = rng.choice([0.3, 1.0, 1.7, 2.3, 3.0, 3.7, 4.3, 5.0], size=n)
    p = tmp_path / "kp.csv"
    pd.DataFrame({"time_utc_start": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "Kp": kp,
                  "ap": np.round(kp * 5)}).to_csv(p, index=False)
    return p


def test_geoanom_test_activity_from_kp_file(tmp_path):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "calibration", Path(__file__).resolve().parents[1] / "bench" / "calibration.py")
    calibration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(calibration)
    ds, cat = calibration.null_world(np.random.default_rng(3), strength=0.0)
    sc = tmp_path / "scores.nc"
    ds.to_netcdf(sc)
    cf = tmp_path / "cat.csv"
    pd.DataFrame({"time": pd.to_datetime(cat["time"]).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                  "latitude": cat["latitude_deg"], "longitude": cat["longitude_deg"],
                  "depth": cat["depth_km"], "mag": cat["magnitude"],
                  "id": cat["event_id"]}).to_csv(cf, index=False)
    pf = tmp_path / "p.toml"
    pf.write_text("[surrogates]\nn = 99\nn_secondary = 19\nn_bootstrap = 49\nn_legacy = 19\n"
                  "n_fake_catalogs = 2\n")
    t0 = pd.Timestamp(ds["end"].values.min()).floor("D") - pd.Timedelta(days=2)
    t1 = pd.Timestamp(ds["end"].values.max()).ceil("D")
    n = int((t1 - t0) / pd.Timedelta(hours=3)) + 1
    act = _kp_file(tmp_path, t0, n)
    out = tmp_path / "r.json"
    r = CliRunner().invoke(main, ["test", "--scores", str(sc), "--catalog", str(cf),
                                  "--protocol", str(pf), "--activity", str(act),
                                  "--activity-variable", "Kp", "-o", str(out)])
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    base = d["baselines"]["activity"]
    assert base is not None and "Kp" in json.dumps(base)
    r = CliRunner().invoke(main, ["test", "--scores", str(sc), "--catalog", str(cf),
                                  "--protocol", str(pf), "--activity", str(act),
                                  "--activity-variable", "Dst_nT", "-o",
                                  str(tmp_path / "r2.json")])
    assert r.exit_code == 2 and "Dst_nT" in r.output and "Kp" in r.output
    assert not (tmp_path / "r2.json").exists()
