"""``geoanom info / convert / stations`` and the record registry (read_record, read_records)."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from click.testing import CliRunner

from geoanom.cli import main
from geoanom.errors import ConfigError, FormatError
from geoanom.io import detect_format, join_records, read_record, read_records
from geoanom.io.netcdf import read_netcdf, write_netcdf
from geoanom.provenance import file_sha256
from geoanom.record import FLAG_MISSING, make_record

WIC = "austria_WIC_magpy/WIC_20240509-12_1s_imagcdf_example4.cdf"


def _rec(start="2016-01-01T00:00", n=10, code="BOU", lat=40.137, lon=254.764, **kw):
    t = np.datetime64(start, "ns") + np.arange(n) * np.timedelta64(60, "s")
    h = 20700.0 + np.arange(n)
    h[2] = np.nan
    return make_record(t, {"H": h, "Z": 47000.0 + np.arange(n)},
                       attrs={"iaga_code": code, "station_name": "Boulder", "latitude_deg": lat,
                              "longitude_deg": lon, "elevation_m": 1682.0,
                              "data_type": "variation", **kw}, history="test")


def _run(*args):
    return CliRunner().invoke(main, list(map(str, args)))


def _assert_clean_failure(result, out_dir, needle):
    assert result.exit_code == 2, result.output
    assert "geoanom: error:" in result.stderr
    assert needle in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not any(p.name.startswith(".out.nc") or p.name == "out.nc" for p in out_dir.iterdir())


# ------------------------------------------------------------------ read_record dispatch
def test_detect_format(tmp_path):
    write_netcdf(_rec(), tmp_path / "a.nc")
    assert detect_format(tmp_path / "a.nc") == "netcdf"
    (tmp_path / "a.min").write_text(" Format                 IAGA-2002   |\n")
    assert detect_format(tmp_path / "a.min") == "iaga2002"
    with gzip.open(tmp_path / "a.min.gz", "wt") as fh:
        fh.write(" Format                 IAGA-2002   |\n")
    assert detect_format(tmp_path / "a.min.gz") == "iaga2002"
    (tmp_path / "a.cdf").write_bytes(b"\xcd\xf3\x00\x01" + b"\x00" * 10)
    assert detect_format(tmp_path / "a.cdf") == "imagcdf"
    (tmp_path / "junk.bin").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(FormatError, match="unknown file format"):
        detect_format(tmp_path / "junk.bin")
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(FormatError, match="empty"):
        detect_format(tmp_path / "empty")
    with pytest.raises(FormatError, match="directory"):
        detect_format(tmp_path)
    import tarfile

    with tarfile.open(tmp_path / "days.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "a.min", arcname="a.min")
    with pytest.raises(FormatError, match="tar archive"):
        detect_format(tmp_path / "days.tar.gz")
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(FormatError, match="bad.gz"):
        detect_format(tmp_path / "bad.gz")


def test_read_record_mixed_formats(tmp_path):
    write_netcdf(_rec(), tmp_path / "a.nc")
    (tmp_path / "b.min").write_text(" Format                 IAGA-2002   |\n")
    with pytest.raises(FormatError, match="different formats") as exc:
        read_record([tmp_path / "a.nc", tmp_path / "b.min"])
    assert "a.nc: netcdf" in str(exc.value) and "b.min: iaga2002" in str(exc.value)


def test_read_record_joins_netcdf_files(tmp_path):
    a = write_netcdf(_rec("2016-01-01T00:00"), tmp_path / "day1.nc")
    b = write_netcdf(_rec("2016-01-01T00:15"), tmp_path / "day2.nc")
    rec = read_record([b, a])                      # order of arguments does not matter
    assert rec.sizes["time"] == 25
    assert rec["time"].values[0] == np.datetime64("2016-01-01T00:00")
    assert list(rec["H_flag"].values[10:15]) == [FLAG_MISSING] * 5   # the 5-minute hole
    assert np.isnan(rec["H"].values[[2, 10, 14, 17]]).all()
    assert rec["Z"].values[15] == 47000.0
    assert "joined day1.nc, day2.nc" in rec.attrs["history"]
    c = write_netcdf(_rec("2016-01-01T00:05"), tmp_path / "overlap.nc")
    with pytest.raises(FormatError, match="overlap") as exc:
        read_record([a, c])
    assert "day1.nc" in str(exc.value) and "overlap.nc" in str(exc.value)
    other = _rec("2016-01-02T00:00", code="KAK")
    with pytest.raises(FormatError, match="different stations"):
        join_records([_rec(), other])


def test_read_record_checks_station_header(tmp_path):
    import warnings

    from geoanom.stations import StationMismatchWarning

    write_netcdf(_rec(lon=254.9), tmp_path / "moved.nc")
    with pytest.warns(StationMismatchWarning, match="longitude 254.9 vs -105.236"):
        read_record(tmp_path / "moved.nc")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_record(tmp_path / "moved.nc", check_station=False)
        write_netcdf(_rec(), tmp_path / "ok.nc")
        read_record(tmp_path / "ok.nc")


def test_read_record_with_a_named_format_skips_the_sniff(tmp_path):
    a = write_netcdf(_rec(), tmp_path / "a.dat")
    assert read_record(a, format="netcdf").equals(read_record(a))
    with pytest.raises(FormatError, match="unknown record format") as exc:
        read_record(a, format="miniseed")
    assert "netcdf" in exc.value.expected and "mapped" in exc.value.expected


LONG = "date,station_code,peak_euel\n2001-01-01,DAV,35.1\n2001-01-02,DAV,36.0\n" \
       "2001-01-01,ANC,12.0\n2001-01-02,ANC,13.5\n"


def test_a_mapping_reads_the_file_as_a_table(tmp_path):
    p = tmp_path / "long.csv"
    p.write_text(LONG)
    recs = read_records(p, mapping="magdas-euel")
    assert list(recs) == ["DAV", "ANC"]
    assert read_records(p, mapping="magdas-euel", station="ANC").keys() == {"ANC"}
    one = read_record(p, mapping="magdas-euel", station="anc")
    assert one.attrs["iaga_code"] == "ANC" and one["EUEL"].values.tolist() == [12.0, 13.5]
    assert read_record(p, format="mapped", mapping="magdas-euel", station="DAV").equals(
        recs["DAV"])
    with pytest.raises(ConfigError, match="holds 2 stations; choose one"):
        read_record(p, mapping="magdas-euel")
    with pytest.raises(ConfigError, match="read from one file"):
        read_record([p, p], mapping="magdas-euel", station="DAV")


def test_mapping_and_format_must_agree(tmp_path):
    p = tmp_path / "long.csv"
    p.write_text(LONG)
    with pytest.raises(ConfigError, match="none was given"):
        read_record(p, format="mapped")
    with pytest.raises(ConfigError, match="as a delimited table") as exc:
        read_records(p, format="netcdf", mapping="magdas-euel")
    assert exc.value.found == "format 'netcdf'"


def test_read_records_of_a_native_file_is_one_record(tmp_path):
    a = write_netcdf(_rec(), tmp_path / "a.nc")
    [(code, rec)] = read_records(a).items()
    assert code == "BOU" and rec.equals(read_record(a))


# ------------------------------------------------------------------ info
def test_info_wic_text_and_json(geomag_dir):
    pytest.importorskip("cdflib")
    path = geomag_dir / WIC
    r = _run("info", path)
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "WIC (Conrad Observatory), 47.9280 N, 15.8660 E, 1087.01 m" in out
    assert "2024-05-09T00:00:00Z .. 2024-05-12T23:59:59Z (345600 samples)" in out
    assert "cadence     1 s" in out and "data type   provisional" in out
    assert "S [nT]" in out and "Temperature1 [Celsius]" in out
    r = _run("info", "--json", path)
    assert r.exit_code == 0
    s = json.loads(r.stdout)
    assert s["station"]["code"] == "WIC" and s["samples"] == 345600
    assert s["sampling_period_s"] == 1.0 and s["data_type"] == "provisional"
    assert s["components"]["S"] == {"units": "nT", "valid": 345598, "missing": 2,
                                    "not_observed": 0, "gaps": 2, "longest_gap_samples": 1,
                                    "longest_gap_s": 1.0}
    assert s["components"]["H"]["missing"] == 0 and s["warnings"] == []


def test_info_counts_and_header_warning(tmp_path):
    rec = _rec(n=30)
    f = rec["Z_flag"].values.copy()
    f[5:8] = 2
    rec = make_record(rec["time"].values, {"H": rec["H"].values, "Z": rec["Z"].values},
                      flags={"Z": f}, attrs=rec.attrs)
    write_netcdf(rec, tmp_path / "bou.nc")
    s = json.loads(_run("info", "--json", tmp_path / "bou.nc").stdout)
    assert s["components"]["Z"]["not_observed"] == 3 and s["components"]["Z"]["gaps"] == 1
    assert s["components"]["Z"]["longest_gap_s"] == 180.0
    assert s["components"]["H"]["missing"] == 1
    assert s["cadence"] == "1 min" and s["start"] == "2016-01-01T00:00:00Z"
    # a header 0.2 degree away from the registry: a warning on stderr, exit 0
    write_netcdf(_rec(lat=40.337), tmp_path / "moved.nc")
    r = _run("info", tmp_path / "moved.nc")
    assert r.exit_code == 0
    assert "geoanom: warning: station BOU: header coordinates disagree" in r.stderr


@pytest.mark.parametrize("case", ["directory", "empty", "garbage", "missing", "mixed",
                                  "truncated_cdf", "bad_gzip"])
def test_info_and_convert_bad_input(tmp_path, case):
    src = tmp_path / "src"
    src.mkdir()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    if case == "directory":
        files, needle = [src], "is a directory"
    elif case == "empty":
        (src / "e.min").write_bytes(b"")
        files, needle = [src / "e.min"], "empty"
    elif case == "garbage":
        (src / "g.bin").write_bytes(bytes(range(256)))
        files, needle = [src / "g.bin"], "unknown file format"
    elif case == "missing":
        files, needle = [src / "absent.min"], "not found"
    elif case == "mixed":
        write_netcdf(_rec(), src / "a.nc")
        (src / "b.cdf").write_bytes(b"\xcd\xf3\x00\x01" + b"\x00" * 10)
        files, needle = [src / "a.nc", src / "b.cdf"], "different formats"
    elif case == "truncated_cdf":
        pytest.importorskip("cdflib")
        (src / "t.cdf").write_bytes(b"\xcd\xf3\x00\x01\x00\x00\xff\xff" + b"\x00" * 20)
        files, needle = [src / "t.cdf"], "t.cdf"
    else:
        (src / "b.min.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
        files, needle = [src / "b.min.gz"], "gzip"
    _assert_clean_failure(_run("info", *files), out_dir, needle)
    _assert_clean_failure(_run("convert", *files, "-o", out_dir / "out.nc"), out_dir, needle)
    assert list(out_dir.iterdir()) == []


def test_convert_failure_keeps_existing_output(tmp_path):
    out = tmp_path / "out.nc"
    out.write_bytes(b"previous result")
    (tmp_path / "g.bin").write_bytes(bytes(range(256)))
    r = _run("convert", tmp_path / "g.bin", "-o", out)
    assert r.exit_code == 2
    assert out.read_bytes() == b"previous result"


# ------------------------------------------------------------------ convert
def test_convert_wic(tmp_path, geomag_dir):
    pytest.importorskip("cdflib")
    from geoanom.io.imagcdf import read_imagcdf

    src = geomag_dir / WIC
    r = _run("convert", src, "-o", tmp_path / "wic.nc")
    assert r.exit_code == 0, r.output
    assert "345600 samples" in r.stdout
    back = read_netcdf(tmp_path / "wic.nc")
    direct = read_imagcdf(src)
    for name in direct.data_vars:
        assert np.array_equal(back[name].values, direct[name].values, equal_nan=True)
    assert back.attrs["history"].splitlines()[-1].endswith(f"geoanom convert {src.name} -o wic.nc")
    import netCDF4

    with netCDF4.Dataset(tmp_path / "wic.nc") as nc:
        prov = json.loads(nc.getncattr("geoanom_provenance"))
    assert prov["inputs"] == {str(src): file_sha256(src)}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wic.nc"]


def test_convert_netcdf_files_join(tmp_path):
    write_netcdf(_rec("2016-01-01T00:00"), tmp_path / "a.nc")
    write_netcdf(_rec("2016-01-01T00:10"), tmp_path / "b.nc")
    r = _run("convert", tmp_path / "a.nc", tmp_path / "b.nc", "-o", tmp_path / "ab.nc")
    assert r.exit_code == 0, r.output
    assert read_netcdf(tmp_path / "ab.nc").sizes["time"] == 20


def test_convert_reports_valid_samples_not_a_sum_over_components(tmp_path):
    # H missing at row 2, Z at rows 2 and 5: 10 samples, 8 valid in both, H 9, Z 8
    # (the old report summed the components: "17 valid" for 10 samples)
    rec = _rec()
    rec["Z"].values[[2, 5]] = np.nan
    rec["Z_flag"].values[[2, 5]] = FLAG_MISSING
    write_netcdf(rec, tmp_path / "a.nc")
    r = _run("convert", tmp_path / "a.nc", "-o", tmp_path / "b.nc")
    assert r.exit_code == 0, r.output
    assert "(10 samples, 8 valid in all components (H 9, Z 8), " in r.stdout
    # one component: just its count
    write_netcdf(rec[["H", "H_flag"]].assign_attrs(rec.attrs), tmp_path / "h.nc")
    r = _run("convert", tmp_path / "h.nc", "-o", tmp_path / "h2.nc")
    assert r.exit_code == 0, r.output
    assert "(10 samples, 9 valid, " in r.stdout


def test_info_and_convert_iaga(tmp_path, geomag_dir):
    daily = sorted((geomag_dir / "usgs_BOU").glob("bou201411*vmin.min"))
    assert len(daily) == 7
    s = json.loads(_run("info", "--json", *daily).stdout)
    assert s["station"]["code"] == "BOU" and s["samples"] == 7 * 1440
    assert s["start"] == "2014-11-01T00:00:00Z" and s["end"] == "2014-11-07T23:59:00Z"
    r = _run("convert", geomag_dir / "usgs_BOU" / "BOU201601vmin.min", "-o", tmp_path / "b.nc")
    assert r.exit_code == 0, r.output
    assert read_netcdf(tmp_path / "b.nc").attrs["iaga_code"] == "BOU"
    # WIC 1-s gzip file: 99999 counted with awk over the data lines (1 in E, H, Z; 13 in F)
    r = _run("info", "--json", geomag_dir / "austria_WIC_magpy" /
             "WIC_20180829_1s_iaga2002_example5.sec.gz")
    s = json.loads(r.stdout)
    assert s["samples"] == 86400 and s["cadence"] == "1 s" and s["warnings"] == []
    assert {c: v["missing"] for c, v in s["components"].items()} == \
        {"E": 1, "H": 1, "Z": 1, "F": 13}
    assert r.stderr == ""  # header within 0.01 degree of the registry: no warning
    # MMB March 2011: 31 days of 1-min definitive data, no fills, D in arc-minutes
    s = json.loads(_run("info", "--json", geomag_dir / "japan_MMB_2011-03" /
                        "mmb_2011_march.txt").stdout)
    assert s["samples"] == 31 * 1440 and s["data_type"] == "definitive"
    assert s["components"]["D"]["units"] == "arcmin"
    assert all(v["valid"] == 44640 for v in s["components"].values())


# ------------------------------------------------------------------ stations
def test_stations_list_and_show(tmp_path):
    r = _run("stations", "list")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["code", "name", "lat_deg", "lon_deg", "elev_m", "network"]
    assert any(line.startswith("BOU   Boulder") and "-105.236" in line for line in lines)
    data = json.loads(_run("stations", "list", "--json").stdout)
    codes = [d["code"] for d in data]
    assert {"BOU", "MMB", "ANC", "WIC", "KAK", "KNY", "CBI", "FRN", "TUC", "SUA"} <= set(codes)
    assert codes == sorted(codes)
    r = _run("stations", "show", "kak", "--json")
    assert r.exit_code == 0
    kak = json.loads(r.stdout)
    assert (kak["latitude_deg"], kak["longitude_deg"], kak["elevation_m"]) == (36.23, 140.18, None)
    r = _run("stations", "show", "MMB")
    rows = dict(line.split(None, 1) for line in r.stdout.splitlines() if line.strip())
    assert rows["latitude_deg"].strip() == "43.91" and rows["elevation_m"].strip() == "42.0"
    # every key keeps at least one space before its value (no 'longitude_0_360_deg144.189')
    assert "longitude_0_360_deg  144.189" in r.stdout


def test_stations_unknown_code_and_user_dir(tmp_path):
    r = _run("stations", "show", "XXX")
    assert r.exit_code == 2
    assert "geoanom: error: unknown station 'XXX'" in r.stderr and "BOU" in r.stderr
    assert "Traceback" not in r.stderr
    (tmp_path / "own.toml").write_text(
        'code = "OWN"\nname = "Backyard"\nlatitude_deg = 1.5\nlongitude_deg = 200.0\n'
        'network = "private"\nsource = "GPS"\n')
    r = _run("stations", "--dir", tmp_path, "show", "OWN", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["longitude_deg"] == -160.0
    (tmp_path / "broken.toml").write_text("code = \n")
    r = _run("stations", "--dir", tmp_path, "list")
    assert r.exit_code == 2 and "broken.toml" in r.stderr


def test_info_without_cdflib_names_the_extra(monkeypatch, geomag_dir, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "cdflib", None)
    r = _run("convert", geomag_dir / WIC, "-o", tmp_path / "out.nc")
    assert r.exit_code == 2
    assert 'pip install "geoanom[cdf]"' in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []
