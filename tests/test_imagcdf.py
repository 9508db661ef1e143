"""ImagCDF reader: the real WIC file (May 2024 storm) and synthetic files with known truth."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geoanom.errors import FormatError, GeoanomError, MissingDependencyError
from geoanom.record import (
    FLAG_MISSING,
    FLAG_NOT_OBSERVED,
    FLAG_VALID,
    component_names,
    fill_counts,
    validate_record,
)

cdflib = pytest.importorskip("cdflib")

from geoanom.io.imagcdf import read_imagcdf  # noqa: E402

WIC = "austria_WIC_magpy/WIC_20240509-12_1s_imagcdf_example4.cdf"


@pytest.fixture(scope="module")
def wic(geomag_dir):
    return read_imagcdf(geomag_dir / WIC)


def test_wic_span_counts_units(wic):
    validate_record(wic)
    t = wic["time"].values
    assert t[0] == np.datetime64("2024-05-09T00:00:00")
    assert t[-1] == np.datetime64("2024-05-12T23:59:59")
    assert t.size == 4 * 86400
    assert wic.attrs["sampling_period_s"] == 1.0
    assert component_names(wic) == ["H", "E", "Z", "S", "Temperature1", "Temperature2"]
    assert [wic[c].attrs["units"] for c in "HEZS"] == ["nT"] * 4
    assert wic["Temperature1"].attrs["units"] == "Celsius"
    counts = fill_counts(wic)
    for c in ("H", "E", "Z", "Temperature1", "Temperature2"):
        assert counts[c] == {"valid": 345600, "missing": 0, "not_observed": 0}
    # the scalar magnetometer is NaN (the file's FILLVAL) at the first and last second
    assert counts["S"] == {"valid": 345598, "missing": 2, "not_observed": 0}
    assert wic["S_flag"].values[0] == FLAG_MISSING and wic["S_flag"].values[-1] == FLAG_MISSING


def test_wic_station_attrs(wic):
    a = wic.attrs
    assert a["iaga_code"] == "WIC"
    assert a["station_name"] == "Conrad Observatory"
    assert (a["latitude_deg"], a["longitude_deg"], a["elevation_m"]) == (47.928, 15.866, 1087.01)
    assert a["data_type"] == "provisional"  # PublicationLevel 2
    assert a["imagcdf_PublicationLevel"] == "2"
    assert a["imagcdf_ElementsRecorded"] == "HEZS"
    assert a["imagcdf_PublicationDate"].startswith("2025-02-19T21:34:36")
    assert a["source"] == "Zentralanstalt fuer Meteorologie und Geodynamik"
    assert a["featureType"] == "timeSeries"
    assert "read ImagCDF WIC_20240509-12_1s_imagcdf_example4.cdf" in a["history"]


def test_wic_values_match_raw_cdf(wic, geomag_dir):
    raw = cdflib.CDF(str(geomag_dir / WIC))
    for c in "HEZ":
        assert np.array_equal(wic[c].values, raw.varget(f"GeomagneticField{c}"))
    assert wic["H"].values[0] == pytest.approx(21063.6816, abs=1e-3)
    assert wic["H"].values[-1] == pytest.approx(21000.3065, abs=1e-3)


def test_wic_may_2024_storm(wic):
    h = wic["H"].to_series()
    quiet = float(h["2024-05-09"].median())
    assert quiet == pytest.approx(21064.82, abs=0.01)
    storm = h["2024-05-10":"2024-05-11"]
    assert float(storm.min()) == pytest.approx(20640.16, abs=0.01)
    assert storm.idxmin() == np.datetime64("2024-05-11T09:48:57")
    # main-phase depression of several hundred nT below the quiet day
    assert 400.0 < quiet - float(storm.min()) < 450.0
    # the quiet day itself never departs by more than ~50 nT
    assert float(h["2024-05-09"].max() - h["2024-05-09"].min()) < 60.0


def test_missing_cdflib_names_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "cdflib", None)  # makes `import cdflib` fail
    with pytest.raises(MissingDependencyError, match=r'pip install "geoanom\[cdf\]"'):
        read_imagcdf(tmp_path / "any.cdf")


# ---------------------------------------------------------------------------- synthetic
def _tt2000(times: np.ndarray) -> np.ndarray:
    return np.asarray(cdflib.cdfepoch.timestamp_to_tt2000(
        times.astype("datetime64[ns]").astype(np.int64) / 1e9))


def _write_imagcdf(path, series, globalattrs=None, elements="HDZS"):
    """series: name -> (values, times, attrs); times go to variable attrs DEPEND_0."""
    from cdflib.cdfwrite import CDF

    g = {"IagaCode": "TST", "ObservatoryName": "Test Observatory", "Latitude": 36.23,
         "Longitude": 140.18, "Elevation": 99999.0, "PublicationLevel": "4",
         "ElementsRecorded": elements, "FormatDescription": "INTERMAGNET CDF Format",
         "Institution": "Nowhere"}
    g.update(globalattrs or {})
    cdf = CDF(str(path), cdf_spec={"Compressed": 0}, delete=True)
    cdf.write_globalattrs({k: {0: [v, "cdf_double"] if isinstance(v, float) else v}
                           for k, v in g.items()})
    spec = {"Num_Elements": 1, "Rec_Vary": True, "Dim_Sizes": []}
    written = set()
    for name, (values, tname, times, attrs) in series.items():
        if tname not in written:
            cdf.write_var({"Variable": tname, "Data_Type": 33, **spec}, var_attrs={},
                          var_data=_tt2000(times))
            written.add(tname)
        vattrs = {"DEPEND_0": tname, "FILLVAL": [99999.0, "cdf_double"], **attrs}
        cdf.write_var({"Variable": name, "Data_Type": 45, **spec}, var_attrs=vattrs,
                      var_data=np.asarray(values, np.float64))
    cdf.close()
    return path


def _minutes(n, start="2011-03-11T00:00"):
    return np.datetime64(start, "ns") + np.arange(n) * np.timedelta64(60, "s")


def test_synthetic_cadences_fills_and_angles(tmp_path):
    tv = _minutes(10)
    h = 30000.0 + np.arange(10)
    h[3] = 99999.0           # ImagCDF fill -> missing
    z = 35000.0 + np.arange(10)
    z[4] = 88888.0           # not observed
    d = np.full(10, -7.5)    # degrees west in ImagCDF
    ts = tv[::2]             # scalar every 2 min
    s = 46000.0 + np.arange(5)
    tt = tv[::5]             # temperature every 5 min
    temp = np.array([20.5, 21.0])
    path = _write_imagcdf(tmp_path / "tst.cdf", {
        "GeomagneticFieldH": (h, "GeomagneticVectorTimes", tv, {"UNITS": "nT"}),
        "GeomagneticFieldD": (d, "GeomagneticVectorTimes", tv, {"UNITS": "Degrees of arc"}),
        "GeomagneticFieldZ": (z, "GeomagneticVectorTimes", tv, {"UNITS": "nT"}),
        "GeomagneticFieldS": (s, "GeomagneticScalarTimes", ts, {"UNITS": "nT"}),
        "Temperature1": (temp, "Temperature1Times", tt, {"UNITS": "Celsius"}),
    })
    rec = read_imagcdf(path)
    validate_record(rec)
    assert np.array_equal(rec["time"].values, tv)
    assert rec.attrs["sampling_period_s"] == 60.0
    assert rec.attrs["data_type"] == "definitive"
    assert np.isnan(rec.attrs["elevation_m"])            # 99999 = unknown
    assert rec.attrs["source"] == "Nowhere"              # no Source: the Institution
    assert rec["H_flag"].values[3] == FLAG_MISSING and np.isnan(rec["H"].values[3])
    assert rec["Z_flag"].values[4] == FLAG_NOT_OBSERVED and np.isnan(rec["Z"].values[4])
    assert fill_counts(rec)["H"] == {"valid": 9, "missing": 1, "not_observed": 0}
    # D: degrees in the file, arcmin in the record, and the history says so
    assert rec["D"].attrs["units"] == "arcmin"
    assert np.all(rec["D"].values == -450.0)
    assert "D converted from degrees" in rec.attrs["history"]
    # the 2-min scalar sits on the even minutes; odd minutes are "not observed"
    assert np.array_equal(rec["S"].values[::2], s)
    assert np.all(rec["S_flag"].values[1::2] == FLAG_NOT_OBSERVED)
    assert np.all(rec["S_flag"].values[::2] == FLAG_VALID)
    assert np.array_equal(rec["Temperature1"].values[[0, 5]], temp)
    assert fill_counts(rec)["Temperature1"] == {"valid": 2, "missing": 0, "not_observed": 8}
    assert rec["Temperature1"].attrs["units"] == "Celsius"
    no_temp = read_imagcdf(path, include_temperatures=False)
    assert component_names(no_temp) == ["H", "D", "Z", "S"]


def test_synthetic_off_grid_scalar_is_an_error(tmp_path):
    tv = _minutes(6)
    ts = tv[:3] + np.timedelta64(30, "s")  # half a minute off the vector grid
    path = _write_imagcdf(tmp_path / "off.cdf", {
        "GeomagneticFieldH": (np.ones(6), "GeomagneticVectorTimes", tv, {"UNITS": "nT"}),
        "GeomagneticFieldS": (np.ones(3), "GeomagneticScalarTimes", ts, {"UNITS": "nT"}),
    }, elements="HS")
    with pytest.raises(FormatError, match="do not fall on the vector time axis") as exc:
        read_imagcdf(path)
    assert "off.cdf" in str(exc.value) and "2011-03-11T00:00:30" in str(exc.value)


def test_synthetic_gap_in_time_axis_becomes_missing_rows(tmp_path):
    tv = np.delete(_minutes(8), [3, 4])
    path = _write_imagcdf(tmp_path / "gap.cdf", {
        "GeomagneticFieldX": (np.arange(6.0), "DataTimes", tv, {"UNITS": "nT"}),
    }, elements="X")
    rec = read_imagcdf(path)
    assert rec.sizes["time"] == 8
    assert list(rec["X_flag"].values) == [0, 0, 0, 1, 1, 0, 0, 0]
    assert "2 time steps absent" in rec.attrs["history"]


def test_bad_inputs(tmp_path):
    (tmp_path / "text.cdf").write_text("this is not a CDF file\n")
    with pytest.raises(FormatError, match="not a CDF file"):
        read_imagcdf(tmp_path / "text.cdf")
    (tmp_path / "empty.cdf").write_bytes(b"")
    with pytest.raises(FormatError, match="empty"):
        read_imagcdf(tmp_path / "empty.cdf")
    with pytest.raises(FormatError, match="directory"):
        read_imagcdf(tmp_path)
    # a truncated CDF: right magic, nothing behind it
    (tmp_path / "cut.cdf").write_bytes(b"\xcd\xf3\x00\x01\x00\x00\xff\xff" + b"\x00" * 20)
    with pytest.raises(FormatError, match="cut.cdf"):
        read_imagcdf(tmp_path / "cut.cdf")
    # an element listed in ElementsRecorded without its variable
    tv = _minutes(3)
    path = _write_imagcdf(tmp_path / "noz.cdf", {
        "GeomagneticFieldH": (np.ones(3), "GeomagneticVectorTimes", tv, {"UNITS": "nT"}),
    }, elements="HZ")
    with pytest.raises(FormatError, match="GeomagneticFieldZ"):
        read_imagcdf(path)
    # scalar time stamps that repeat
    ts = tv[[0, 1, 1]]
    path = _write_imagcdf(tmp_path / "dup.cdf", {
        "GeomagneticFieldH": (np.ones(3), "GeomagneticVectorTimes", tv, {"UNITS": "nT"}),
        "GeomagneticFieldS": (np.ones(3), "GeomagneticScalarTimes", ts, {"UNITS": "nT"}),
    }, elements="HS")
    with pytest.raises(FormatError, match="GeomagneticScalarTimes are not strictly increasing"):
        read_imagcdf(path)
    # a magnetic element in a unit other than nT
    path = _write_imagcdf(tmp_path / "unit.cdf", {
        "GeomagneticFieldH": (np.ones(3), "GeomagneticVectorTimes", tv, {"UNITS": "gauss"}),
    }, elements="H")
    with pytest.raises(FormatError, match="unit 'gauss'"):
        read_imagcdf(path)


@pytest.fixture(scope="module")
def small_cdf_bytes(tmp_path_factory):
    tv = _minutes(50)
    path = _write_imagcdf(tmp_path_factory.mktemp("fuzz") / "small.cdf", {
        "GeomagneticFieldH": (np.arange(50.0), "GeomagneticVectorTimes", tv, {"UNITS": "nT"}),
        "GeomagneticFieldS": (np.arange(25.0), "GeomagneticScalarTimes", tv[::2],
                              {"UNITS": "nT"}),
    }, elements="HS")
    return path.read_bytes()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_cdf_gives_record_or_geoanom_error(tmp_path, small_cdf_bytes, data):
    raw = bytearray(small_cdf_bytes)
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    path = tmp_path / "mutated.cdf"
    path.write_bytes(bytes(raw))
    try:
        rec = read_imagcdf(path)
    except GeoanomError as exc:
        assert "mutated.cdf" in str(exc) or isinstance(exc, MissingDependencyError)
        return
    validate_record(rec)
