"""The canonical netCDF form: CF layout, exact round trips, atomic writes."""

from __future__ import annotations

import json
import math

import netCDF4
import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import geoanom.io.netcdf as ncmod
from geoanom.errors import FormatError, ValidationError
from geoanom.io.netcdf import read_netcdf, write_dataset_netcdf, write_netcdf
from geoanom.record import (
    FLAG_MISSING,
    FLAG_NOT_OBSERVED,
    FLAG_VALID,
    make_record,
    validate_record,
)


def _attrs_equal(a: dict, b: dict) -> None:
    """Exact equality of attrs, including types, NaN and arrays."""
    assert list(a) == list(b)
    for k in a:
        x, y = a[k], b[k]
        assert type(x) is type(y), (k, type(x), type(y))
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y), k
        elif isinstance(x, float) and math.isnan(x):
            assert math.isnan(y), k
        else:
            assert x == y, k


def assert_records_identical(a: xr.Dataset, b: xr.Dataset) -> None:
    """Values (NaN positions included), flags, times, variable and global attrs."""
    assert list(a.data_vars) == list(b.data_vars)
    assert np.array_equal(a["time"].values, b["time"].values)
    assert b["time"].dtype == np.dtype("datetime64[ns]")
    _attrs_equal(dict(a["time"].attrs), dict(b["time"].attrs))
    for name in a.data_vars:
        assert a[name].dtype == b[name].dtype, name
        assert np.array_equal(a[name].values, b[name].values, equal_nan=True), name
        _attrs_equal(dict(a[name].attrs), dict(b[name].attrs))
    _attrs_equal(dict(a.attrs), dict(b.attrs))


def _record(n: int = 500, period_s: float = 60.0, start: str = "2016-01-01T00:00") -> xr.Dataset:
    rng = np.random.default_rng(1)
    step_ns = np.round(np.arange(n) * period_s * 1e9).astype(np.int64)
    t = np.datetime64(start, "ns") + step_ns.astype("timedelta64[ns]")
    h = np.round(20700 + np.cumsum(rng.normal(0, 0.5, n)), 2)
    d = np.round(-522.4 + np.cumsum(rng.normal(0, 0.01, n)), 2)
    z = np.round(47370 + np.cumsum(rng.normal(0, 0.5, n)), 2)
    f = np.round(52250 + np.cumsum(rng.normal(0, 0.5, n)), 2)
    flags = {c: np.zeros(n, np.int8) for c in "HDZF"}
    flags["H"][10:20] = FLAG_MISSING
    flags["F"][:] = FLAG_VALID
    flags["F"][100:130] = FLAG_NOT_OBSERVED
    flags["F"][5:6] = FLAG_MISSING
    return make_record(
        t, {"H": h, "D": d, "Z": z, "F": f}, flags=flags,
        attrs={"iaga_code": "BOU", "station_name": "Boulder", "latitude_deg": 40.137,
               "longitude_deg": 254.764, "elevation_m": 1682.0, "data_type": "variation",
               "source": "United States Geological Survey (USGS)",
               "iaga_header_comments": "line one\nline two", "decbas": 5527,
               "sensor_list": ["a", "b"], "k9_limit": [500, 600], "is_test": True,
               "nothing": None, "nul_text": "a\x00b", "gain": np.float32(0.25), "empty": "",
               "weights": np.array([0.5, 0.25]), "missing_coord": float("nan"),
               "huge": 2**70, "names": np.array(["H", "D"]), "grid": np.eye(2, dtype=np.int16),
               "none_yet": np.array([], np.float32), "pair": (1.5, 2.5), "nested": {"a": [1]}},
        history="read IAGA-2002 test")


def test_round_trip_exact(tmp_path):
    rec = _record()
    out = write_netcdf(rec, tmp_path / "bou.nc")
    back = read_netcdf(out)
    validate_record(back)
    assert_records_identical(rec, back)
    xr.testing.assert_identical(rec, back)
    # NaN positions follow the flags: 10 missing H samples, 31 non-valid F samples
    assert int(np.isnan(back["H"].values).sum()) == 10
    assert int(np.isnan(back["F"].values).sum()) == 31
    assert int((back["F_flag"].values == FLAG_NOT_OBSERVED).sum()) == 30
    assert back["D"].attrs["units"] == "arcmin"


def test_cf_layout(tmp_path):
    rec = _record(n=50)
    path = write_netcdf(rec, tmp_path / "bou.nc", config={"k": 1}, seeds={"split": 7},
                        inputs=[tmp_path / "bou.nc"])  # not yet a file: no checksum
    with netCDF4.Dataset(path) as nc:
        assert nc.data_model == "NETCDF4"
        assert nc.getncattr("Conventions") == "CF-1.8"
        assert nc.getncattr("featureType") == "timeSeries"
        assert nc.getncattr("history").endswith("read IAGA-2002 test")
        prov = json.loads(nc.getncattr("geoanom_provenance"))
        assert prov["geoanom_version"] and prov["seeds"] == {"split": 7}
        assert prov["config"] == {"k": 1} and len(prov["config_hash"]) == 16
        sid = nc.variables["station_id"]
        assert sid.getncattr("cf_role") == "timeseries_id"
        assert sid[0] == "BOU"
        lat, lon, alt = (nc.variables[k] for k in ("latitude", "longitude", "altitude"))
        assert (lat.units, lat.standard_name) == ("degrees_north", "latitude")
        assert (lon.units, lon.standard_name) == ("degrees_east", "longitude")
        assert (alt.units, alt.standard_name, alt.positive) == ("m", "altitude", "up")
        assert float(lat.getValue()) == 40.137
        assert float(lon.getValue()) == pytest.approx(-105.236, abs=1e-9)  # 254.764 E
        assert float(alt.getValue()) == 1682.0
        h = nc.variables["H"]
        assert h.units == "nT" and h.ancillary_variables == "H_flag"
        assert h.coordinates == "station_id latitude longitude altitude"
        assert nc.variables["D"].units == "arcmin"
        fl = nc.variables["H_flag"]
        assert fl.dtype == np.int8
        assert list(fl.flag_values) == [0, 1, 2]
        assert fl.flag_meanings == "valid missing not_observed"
        assert fl.standard_name == "status_flag"
        assert nc.variables["H"].filters()["zlib"] is True
        t = nc.variables["time"]
        assert t.units == "seconds since 1970-01-01 00:00:00" and t.dtype == np.int64
        assert t.calendar == "proleptic_gregorian"
    # a generic CF reader (xarray) decodes the same times and coordinates
    with xr.open_dataset(path) as ds:
        assert np.array_equal(ds["time"].values, rec["time"].values)
        assert ds["station_id"].item() == "BOU"
        assert ds["H_flag"].dtype == np.int8


@pytest.mark.parametrize(("period_s", "unit"), [(1.0, "seconds"), (0.1, "milliseconds"),
                                                  (1e-6, "microseconds"),
                                                  (1.5e-8, "nanoseconds")])
def test_time_unit_is_coarsest_exact(tmp_path, period_s, unit):
    rec = _record(n=20, period_s=period_s, start="2024-05-10T17:05:00")
    path = write_netcdf(rec, tmp_path / "t.nc")
    with netCDF4.Dataset(path) as nc:
        assert nc.variables["time"].units.startswith(unit + " since")
    back = read_netcdf(path)
    assert np.array_equal(back["time"].values, rec["time"].values)


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    rec = _record(n=30)

    def broken(nc, record, prov, complevel):
        nc.createDimension("time", 3)  # something is already written when it fails
        raise RuntimeError("disk full")

    monkeypatch.setattr(ncmod, "_write_record", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        write_netcdf(rec, tmp_path / "out.nc")
    assert list(tmp_path.iterdir()) == []
    # an existing file under the final name is left untouched
    (tmp_path / "out.nc").write_bytes(b"old")
    with pytest.raises(RuntimeError):
        write_netcdf(rec, tmp_path / "out.nc")
    assert (tmp_path / "out.nc").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.nc"]


def test_write_rejects_non_records(tmp_path):
    with pytest.raises(ValidationError):
        write_netcdf(xr.Dataset({"a": ("x", [1.0])}), tmp_path / "a.nc")
    bad = _record(n=8)
    bad["label"] = ("time", np.array(["a"] * 8))
    with pytest.raises(ValidationError, match="dtype"):
        write_netcdf(bad, tmp_path / "b.nc")
    slash = _record(n=8)
    slash.attrs["a/b"] = 1  # netCDF names cannot hold '/'
    with pytest.raises(ValidationError, match="'a/b' cannot be written"):
        write_netcdf(slash, tmp_path / "c.nc")
    assert list(tmp_path.iterdir()) == []


def test_read_bad_inputs(tmp_path):
    (tmp_path / "garbage.nc").write_bytes(b"\x00\x01not a netcdf file at all" * 10)
    with pytest.raises(FormatError, match="garbage.nc"):
        read_netcdf(tmp_path / "garbage.nc")
    with pytest.raises(FormatError, match="directory"):
        read_netcdf(tmp_path)
    with pytest.raises(FormatError, match="not found"):
        read_netcdf(tmp_path / "absent.nc")
    # a netCDF file without a time axis
    xr.Dataset({"a": ("x", [1.0, 2.0])}).to_netcdf(tmp_path / "notime.nc")
    with pytest.raises(FormatError, match="time"):
        read_netcdf(tmp_path / "notime.nc")


def test_write_dataset_netcdf(tmp_path, monkeypatch):
    scores = xr.Dataset(
        {"rmse": ("window", np.array([0.1, 0.2, np.nan])),
         "label": ("window", np.array([1, 0, -1], np.int8))},
        coords={"window": np.arange(3)},
        attrs={"model_hash": "abc", "calibrated": True, "window_steps": [1, 2]})
    scores["rmse"].attrs = {"units": "nT", "note": None}
    path = write_dataset_netcdf(scores, tmp_path / "scores.nc", config={"a": 1},
                                seeds={"train": 3}, extra={"model": "m1"})
    with xr.open_dataset(path) as back:
        back = back.load()
    assert np.array_equal(back["rmse"].values, scores["rmse"].values, equal_nan=True)
    assert np.array_equal(back["label"].values, scores["label"].values)
    assert back.attrs["Conventions"] == "CF-1.8" and back.attrs["model_hash"] == "abc"
    prov = json.loads(back.attrs["geoanom_provenance"])
    assert prov["seeds"] == {"train": 3} and prov["model"] == "m1"
    assert back.attrs["calibrated"] == "true"            # bools travel as JSON text
    assert list(back.attrs["window_steps"]) == [1, 2]
    assert back["rmse"].attrs == {"units": "nT", "note": "null"}
    assert "geoanom_provenance" not in scores.attrs  # the input is not modified

    def boom(self, *a, **k):
        raise OSError("no space")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", boom)
    with pytest.raises(OSError):
        write_dataset_netcdf(scores, tmp_path / "other.nc")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.nc"]


def test_round_trip_wic_imagcdf(tmp_path, geomag_dir):
    pytest.importorskip("cdflib")
    from geoanom.io.imagcdf import read_imagcdf

    rec = read_imagcdf(geomag_dir / "austria_WIC_magpy" / "WIC_20240509-12_1s_imagcdf_example4.cdf")
    back = read_netcdf(write_netcdf(rec, tmp_path / "wic.nc"))
    assert_records_identical(rec, back)


def test_round_trip_real_iaga_files(tmp_path, geomag_dir):
    from geoanom.io import iaga2002 as iaga

    for name in ("BOU201601vmin.min", "BOU201601adj.min"):
        rec = iaga.read_iaga2002(geomag_dir / "usgs_BOU" / name)
        back = read_netcdf(write_netcdf(rec, tmp_path / f"{name}.nc"))
        assert_records_identical(rec, back)
    rec = iaga.read_iaga2002(geomag_dir / "japan_MMB_2011-03" / "mmb_2011_march.txt")
    assert_records_identical(rec, read_netcdf(write_netcdf(rec, tmp_path / "mmb.nc")))


_attr_values = st.one_of(
    st.text(max_size=20), st.integers(-2**62, 2**62), st.floats(allow_nan=True),
    st.booleans(), st.none(), st.lists(st.integers(-1000, 1000), min_size=1, max_size=4),
    st.lists(st.text(max_size=5), max_size=3),
)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(1, 40),
    period_ns=st.sampled_from([1_000_000_000, 60_000_000_000, 1_000_000, 1_500]),
    seed=st.integers(0, 2**31 - 1),
    extra=st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True),
                          _attr_values, max_size=4),
)
def test_round_trip_property(tmp_path, n, period_ns, seed, extra):
    rng = np.random.default_rng(seed)
    t = np.datetime64("2011-03-11T05:46", "ns") + np.arange(n) * np.timedelta64(period_ns, "ns")
    vals = rng.normal(0, 1e4, (3, n))
    flags = rng.choice([0, 0, 0, 1, 2], size=(3, n)).astype(np.int8)
    extra = {k: v for k, v in extra.items() if k not in ("history", "featureType")}
    rec = make_record(t, dict(zip("XYZ", vals, strict=True)), flags=dict(zip("XYZ", flags, strict=True)),
                      attrs={"iaga_code": "KAK", **extra}, history="property test")
    back = read_netcdf(write_netcdf(rec, tmp_path / "p.nc"))
    assert_records_identical(rec, back)


def test_read_foreign_cf_files(tmp_path):
    """CF time series written by other tools: xarray's own encoding, packed integers,
    station coordinates as CF variables, no flag variables."""
    rec = _record(n=40)
    rec.attrs = {k: v for k, v in rec.attrs.items()  # what xarray can write
                 if isinstance(v, (str, float)) or type(v) is int and abs(v) < 2**62}
    rec.to_netcdf(tmp_path / "xr.nc")  # xarray picks its own time units and fill values
    back = read_netcdf(tmp_path / "xr.nc")
    validate_record(back)
    for name in rec.data_vars:
        assert np.array_equal(back[name].values, rec[name].values, equal_nan=True)
    assert np.array_equal(back["time"].values, rec["time"].values)
    assert "not written by geoanom" in back.attrs["history"]

    t = np.datetime64("2024-05-10", "ns") + np.arange(4) * np.timedelta64(1, "h")
    ds = xr.Dataset({"X": ("time", np.array([1.5, 2.0, np.nan, -3.5]))}, coords={"time": t},
                    attrs={"title": "packed"})
    ds["X"].encoding = {"dtype": "int16", "scale_factor": 0.5, "_FillValue": -999}
    ds["latitude"] = ((), 47.928)
    ds["station_id"] = ((), "WIC")
    ds.to_netcdf(tmp_path / "packed.nc")
    back = read_netcdf(tmp_path / "packed.nc")
    validate_record(back)
    assert np.array_equal(back["X"].values, [1.5, 2.0, np.nan, -3.5], equal_nan=True)
    assert list(back["X_flag"].values) == [0, 0, FLAG_MISSING, 0]
    assert back.attrs["iaga_code"] == "WIC" and back.attrs["latitude_deg"] == 47.928
    assert back.attrs["sampling_period_s"] == 3600.0
    assert math.isnan(back.attrs["longitude_deg"])
