"""IAGA-2002 reader and writer: real files (values checked against the files with grep/awk),
inline fixtures, multi-file joins, and exact read -> write -> read round trips."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from geoanom.errors import FormatError, ValidationError
from geoanom.io import iaga2002 as iaga
from geoanom.io.iaga2002 import parse_interval_type, read_iaga2002, write_iaga2002
from geoanom.record import (
    FLAG_MISSING,
    FLAG_NOT_OBSERVED,
    FLAG_VALID,
    fill_counts,
    make_record,
    validate_record,
)

ANC_TAR = "peru_ANC_magdas_eeindex/ANC_EEindex_2012_2014_pmin.tar.gz"


def _t(s: str) -> np.datetime64:
    return np.datetime64(s, "ns")


def assert_same_record(a: xr.Dataset, b: xr.Dataset) -> None:
    """Identical values, NaN positions, flags, times, units and attrs (history aside)."""
    assert list(a.data_vars) == list(b.data_vars)
    np.testing.assert_array_equal(a["time"].values, b["time"].values)
    for v in a.data_vars:
        np.testing.assert_array_equal(a[v].values, b[v].values)  # NaN == NaN here
        assert a[v].dtype == b[v].dtype
        assert a[v].attrs.get("units") == b[v].attrs.get("units")
    ka = {k: v for k, v in a.attrs.items() if k != "history"}
    kb = {k: v for k, v in b.attrs.items() if k != "history"}
    assert ka.keys() == kb.keys()
    for k in ka:
        if isinstance(ka[k], float) and np.isnan(ka[k]):
            assert np.isnan(kb[k]), k
        else:
            assert ka[k] == kb[k], k


def roundtrip(ds: xr.Dataset) -> xr.Dataset:
    buf = io.BytesIO()
    write_iaga2002(ds, buf)
    buf.seek(0)
    return read_iaga2002(buf)


# ------------------------------------------------------------------------------ real files

@pytest.fixture(scope="module")
def bou(geomag_dir: Path) -> Path:
    return geomag_dir / "usgs_BOU"


@pytest.fixture(scope="module")
def anc_members(geomag_dir: Path) -> dict[str, bytes]:
    with tarfile.open(geomag_dir / ANC_TAR) as tf:
        return {Path(m.name).name: tf.extractfile(m).read()
                for m in tf.getmembers() if m.isfile()}


def test_bou_monthly_variation(bou: Path) -> None:
    ds = read_iaga2002(bou / "BOU201601vmin.min")
    validate_record(ds)
    # 41614 lines - 22 header lines = 41592 rows; last line 2016-01-29 21:11
    assert ds.sizes["time"] == 41592
    assert ds["time"].values[0] == _t("2016-01-01T00:00")
    assert ds["time"].values[-1] == _t("2016-01-29T21:11")
    assert [c for c in ds.data_vars if not c.endswith("_flag")] == ["H", "E", "Z", "F"]
    assert ds.attrs["iaga_code"] == "BOU" and ds.attrs["station_name"] == "Boulder"
    assert ds.attrs["latitude_deg"] == 40.137
    assert ds.attrs["longitude_deg"] == 254.764  # as written in the header (0..360 east)
    assert ds.attrs["elevation_m"] == 1682.0
    assert ds.attrs["data_type"] == "variation"
    assert ds.attrs["source"] == "United States Geological Survey (USGS)"
    assert ds.attrs["sampling_period_s"] == 60.0
    assert ds.attrs["iaga_sensor_orientation"] == "HDZF"
    assert ds.attrs["iaga_digital_sampling"] == "100.0 second"
    assert ds.attrs["iaga_comments"].split("\n")[0].startswith(" DECBAS               5527")
    assert len(ds.attrs["iaga_comments"].split("\n")) == 9
    np.testing.assert_array_equal(
        [ds[c].values[0] for c in "HEZF"], [20735.93, -99.77, 47370.21, 52248.63])
    np.testing.assert_array_equal(
        [ds[c].values[-1] for c in "HEZF"], [20821.17, -116.54, 47332.90, 52246.90])
    assert all(v["valid"] == 41592 for v in fill_counts(ds).values())  # grep -c 99999: 0
    assert ds["E"].attrs["units"] == "nT"


def test_bou_adjusted_xyzf(bou: Path) -> None:
    ds = read_iaga2002(bou / "BOU201601adj.min")
    assert [c for c in ds.data_vars if not c.endswith("_flag")] == ["X", "Y", "Z", "F"]
    np.testing.assert_array_equal([ds[c].values[0] for c in "XYZF"],
                                  [20428.79, 3123.15, 47956.69, 52226.63])
    # the header of this file says "variation" (its name says adj): the header wins
    assert ds.attrs["data_type"] == "variation"


def test_bou_daily_files_join(bou: Path) -> None:
    files = sorted(bou.glob("bou201411*vmin.min"))
    assert len(files) == 7
    ds = read_iaga2002(files[::-1])  # order given does not matter
    assert ds.sizes["time"] == 7 * 1440
    assert ds["time"].values[0] == _t("2014-11-01T00:00")
    assert ds["time"].values[-1] == _t("2014-11-07T23:59")
    assert ds["D"].attrs["units"] == "arcmin"
    assert ds["D"].values[0] == -9.99 and ds["H"].values[0] == 20873.75
    assert ds["H"].values[-1] == read_iaga2002(files[-1])["H"].values[-1]
    assert np.all(np.diff(ds["time"].values) == np.timedelta64(60, "s"))
    # the same days as buffers, and one by one, give the same values
    bufs = [io.BytesIO(f.read_bytes()) for f in files]
    assert_same_record(ds, read_iaga2002(bufs))
    one = xr.concat([read_iaga2002(f) for f in files], dim="time")
    np.testing.assert_array_equal(one["F"].values, ds["F"].values)
    assert "bou20141101vmin.min" in ds.attrs["history"]


def test_bou_daily_mixed_line_endings(bou: Path) -> None:
    """Days with different layouts (CRLF and LF) cannot share one pass; they still join."""
    files = sorted(bou.glob("bou201411*vmin.min"))[:3]
    datas = [f.read_bytes() for f in files]
    datas[1] = datas[1].replace(b"\r\n", b"\n")
    assert_same_record(read_iaga2002(files), read_iaga2002([io.BytesIO(d) for d in datas]))


def test_bou_daily_missing_day_filled(bou: Path) -> None:
    files = [bou / "bou20141101vmin.min", bou / "bou20141103vmin.min"]
    ds = read_iaga2002(files)
    assert ds.sizes["time"] == 3 * 1440
    fc = fill_counts(ds)["H"]
    assert fc == {"valid": 2880, "missing": 1440, "not_observed": 0}
    assert np.isnan(ds["H"].sel(time="2014-11-02").values).all()
    assert "1440 row(s) between files filled as missing" in ds.attrs["history"]


def test_bou_overlap_names_both_files(bou: Path, tmp_path: Path) -> None:
    src = bou / "bou20141101vmin.min"
    with pytest.raises(FormatError) as ei:
        read_iaga2002([src, src])
    msg = str(ei.value)
    assert "duplicate times" in msg and msg.count("bou20141101vmin.min") >= 2
    # an overlapping (not identical) file: the last 10 minutes of day 1 again
    lines = src.read_bytes().split(b"\r\n")
    part = tmp_path / "part.min"
    part.write_bytes(b"\r\n".join(lines[:25] + lines[25 + 1430:]))
    with pytest.raises(FormatError) as ei:
        read_iaga2002([src, part])
    assert ei.value.path == str(part) and str(src) in str(ei.value)
    assert ei.value.line == 26


def test_mmb_dhzf_minite_definitive(geomag_dir: Path) -> None:
    ds = read_iaga2002(geomag_dir / "japan_MMB_2011-03" / "mmb_2011_march.txt")
    assert [c for c in ds.data_vars if not c.endswith("_flag")] == ["D", "H", "Z", "F"]
    assert ds.sizes["time"] == 44640  # 31 days, no gaps (44655 lines - 15 header lines)
    assert ds["time"].values[-1] == _t("2011-03-31T23:59")
    assert ds.attrs["sampling_period_s"] == 60.0  # "1-minite"
    assert ds.attrs["iaga_data_interval_type"] == "1-minite"
    assert ds.attrs["data_type"] == "definitive"
    assert ds.attrs["source"] == "unknown" and ds.attrs["iaga_source_of_data"] == ""
    assert ds.attrs["iaga_digital_sampling"] == ""
    assert ds.attrs["latitude_deg"] == 43.910 and ds.attrs["longitude_deg"] == 144.189
    assert ds.attrs["elevation_m"] == 42.0
    assert ds["D"].attrs["units"] == "arcmin" and ds["D"].values[0] == -522.41
    assert ds.attrs["iaga_comments"] == (" Converted to IAGA2002 format\n"
                                         "  by WDC for Geomagnetism, Kyoto. 2015-05-19")


def test_wic_gzip_second_with_fills(geomag_dir: Path, tmp_path: Path) -> None:
    path = geomag_dir / "austria_WIC_magpy" / "WIC_20180829_1s_iaga2002_example5.sec.gz"
    ds = read_iaga2002(path)
    assert [c for c in ds.data_vars if not c.endswith("_flag")] == ["E", "H", "Z", "F"]
    assert ds.sizes["time"] == 86400 and ds.attrs["sampling_period_s"] == 1.0
    assert ds["E"].attrs["units"] == "nT"
    # zcat | grep 99999: one line with E, H, Z missing (01:56:32), 13 lines with F missing
    fc = fill_counts(ds)
    assert fc["E"]["missing"] == fc["H"]["missing"] == fc["Z"]["missing"] == 1
    assert fc["F"]["missing"] == 13 and fc["F"]["not_observed"] == 0
    i = int(np.flatnonzero(ds["E_flag"].values == FLAG_MISSING)[0])
    assert ds["time"].values[i] == _t("2018-08-29T01:56:32")
    assert np.isnan(ds["E"].values[i]) and ds["F"].values[i] == 48632.09
    assert ds.attrs["latitude_deg"] == 47.92838619394309
    assert ds.attrs["source"] == "Zentralanstalt fuer Meteorologie und Geodyna"
    # gzip recognised by magic bytes, not by the name; plain bytes give the same record
    raw = path.read_bytes()
    noext = tmp_path / "wic_data"
    noext.write_bytes(raw)
    assert_same_record(ds, read_iaga2002(noext))
    assert_same_record(ds, read_iaga2002(io.BytesIO(gzip.decompress(raw))))


@pytest.fixture(scope="module")
def anc_joined(anc_members: dict[str, bytes]) -> xr.Dataset:
    return read_iaga2002([io.BytesIO(b) for b in anc_members.values()])


def test_anc_eeindex_every_daily_file(anc_members: dict[str, bytes],
                                      anc_joined: xr.Dataset) -> None:
    """All 663 daily files, read together: each day lands where its file name says."""
    assert len(anc_members) == 663
    days = sorted(f"{n[7:11]}-{n[11:13]}-{n[13:15]}" for n in anc_members)
    assert len(set(days)) == 663
    # EDst6h is never 99999.99 in any file, so its valid rows are exactly the files' rows
    valid = anc_joined["EDst6h_flag"].values == FLAG_VALID
    per_day = valid.reshape(-1, 1440).sum(axis=1)
    assert set(np.unique(per_day)) == {0, 1440}
    t_days = anc_joined["time"].values[::1440].astype("datetime64[D]").astype(str)
    assert sorted(t_days[per_day == 1440]) == days
    # awk over all files: 99999.99 in column EDst1h 434, EDst6h 0, ER 173840, EUEL 173840
    fc = fill_counts(anc_joined)
    gap = (1096 - 663) * 1440
    assert {c: f["missing"] - gap for c, f in fc.items()} == \
        {"EDst1h": 434, "EDst6h": 0, "ER_ANC": 173840, "EUEL_ANC": 173840}


def test_anc_eeindex_header_and_join(anc_members: dict[str, bytes]) -> None:
    one = read_iaga2002(io.BytesIO(anc_members["EEindex20121012pmin.ANC"]))
    assert [c for c in one.data_vars if not c.endswith("_flag")] == \
        ["EDst1h", "EDst6h", "ER_ANC", "EUEL_ANC"]
    assert one.attrs["iaga_code"] == "ANC" and one.attrs["iaga_iaga_code"] == "ANC (KU code)"
    assert one.attrs["latitude_deg"] == -11.77 and one.attrs["longitude_deg"] == 282.85
    assert np.isnan(one.attrs["elevation_m"])  # 8888.88 = unknown
    assert one.attrs["data_type"] == "provisional"
    assert one.attrs["iaga_recorded_data"] == "EE-index: EDst1h, EDst6h, ER_ANC, EUEL_ANC"
    assert one.attrs["iaga_missing_value"] == 99999.99
    assert one["ER_ANC"].attrs["units"] == "nT"
    assert one["ER_ANC_flag"].values[0] == FLAG_MISSING and one["EDst1h"].values[0] == -8.93
    joined = read_iaga2002([io.BytesIO(anc_members[n]) for n in
                            ("EEindex20121012pmin.ANC", "EEindex20121014pmin.ANC")])
    assert joined.sizes["time"] == 3 * 1440
    assert_same_record(one, joined.isel(time=slice(0, 1440)).assign_attrs(one.attrs))


def test_anc_joined_span(anc_joined: xr.Dataset) -> None:
    joined = anc_joined
    # 2012-01-01 .. 2014-12-31: 1096 days; 663 files; the 433 missing days are filled
    assert joined.sizes["time"] == 1096 * 1440
    assert joined["time"].values[0] == _t("2012-01-01T00:00")
    assert joined["time"].values[-1] == _t("2014-12-31T23:59")
    fc = fill_counts(joined)
    gap = 433 * 1440
    assert fc["EDst1h"]["missing"] == 434 + gap and fc["EDst6h"]["missing"] == gap
    assert fc["ER_ANC"]["missing"] == 173840 + gap == fc["EUEL_ANC"]["missing"]
    assert joined.attrs["iaga_missing_value"] == 99999.99  # spelling of the files, not gaps


# ------------------------------------------------------------------------------ round trips

@pytest.mark.parametrize("rel", [
    "usgs_BOU/BOU201601vmin.min", "usgs_BOU/BOU201601adj.min",
    "japan_MMB_2011-03/mmb_2011_march.txt",
    "austria_WIC_magpy/WIC_20180829_1s_iaga2002_example5.sec.gz",
] + [f"usgs_BOU/bou201411{d:02d}vmin.min" for d in range(1, 8)])
def test_roundtrip_real_file(geomag_dir: Path, rel: str) -> None:
    ds = read_iaga2002(geomag_dir / rel)
    assert_same_record(ds, roundtrip(ds))


def test_roundtrip_bytes_match_original(geomag_dir: Path, tmp_path: Path) -> None:
    """The writer reproduces USGS and Kyoto files line for line (plus its provenance line)."""
    for rel in ("usgs_BOU/BOU201601vmin.min", "japan_MMB_2011-03/mmb_2011_march.txt"):
        src = geomag_dir / rel
        out = tmp_path / "out.min"
        write_iaga2002(read_iaga2002(src), out)
        written = out.read_text().splitlines()
        assert written[0] == " Format                 IAGA-2002                                    |"
        assert all(len(line) == 70 for line in written)
        kept = [line for line in written if "Written by geoanom" not in line]
        assert kept == src.read_text().splitlines()


def test_roundtrip_joined_daily(bou: Path) -> None:
    ds = read_iaga2002([bou / "bou20141101vmin.min", bou / "bou20141104vmin.min"])
    assert_same_record(ds, roundtrip(ds))


def test_roundtrip_anc_all_files_joined(anc_joined: xr.Dataset) -> None:
    """Every value, flag and time of all 663 ANC files, written as one file and read back."""
    assert_same_record(anc_joined, roundtrip(anc_joined))


def test_roundtrip_anc_every_single_file(anc_members: dict[str, bytes]) -> None:
    """Each of the 663 daily files on its own: read -> write -> read is identical."""
    for name in sorted(anc_members):
        ds = read_iaga2002(io.BytesIO(anc_members[name]))
        buf = io.BytesIO()
        write_iaga2002(ds, buf)
        if "iaga_missing_value" in ds.attrs:  # MAGDAS spelling of missing is kept
            assert b"  99999.99" in buf.getvalue()
        assert_same_record(ds, read_iaga2002(io.BytesIO(buf.getvalue())))


# ------------------------------------------------------------------------------ fast = slow

@pytest.mark.parametrize("rel", ["usgs_BOU/bou20141101vmin.min",
                                 "japan_MMB_2011-03/mmb_2011_march.txt"])
def test_fast_parser_equals_line_parser(geomag_dir: Path, rel: str) -> None:
    data = (geomag_dir / rel).read_bytes()
    p = iaga._prepare(data, "x")
    fast = iaga._fast_rows(p.data, p.start, p.nl + 1, 4)
    slow = iaga._slow_rows(p.data[p.start:p.stop], 4, p.header.columns, "x", p.line0, True)
    assert fast is not None
    for f in ("ymd", "hms", "frac_ns", "doy", "values"):
        np.testing.assert_array_equal(getattr(fast, f), getattr(slow, f))
    # bit-identical floats, including signs of zero
    assert fast.values.tobytes() == slow.values.tobytes()


# ------------------------------------------------------------------------------ inline fixtures

HEAD = """\
 Format                 IAGA-2002                                    |
 Source of Data         Test Institute                               |
 Station Name           Testville                                    |
 IAGA Code              TST                                          |
 Geodetic Latitude      -12.500                                      |
 Geodetic Longitude     300.250                                      |
 Elevation              100                                          |
 Reported               {rep}                                         |
 Sensor Orientation                                                  |
 Digital Sampling                                                    |
 Data Interval Type     {interval}                                   |
 Data Type              Quasi-definitive                             |
 # a comment line                                                    |
DATE       TIME         DOY     TST{c0}      TST{c1}      TST{c2}      TST{c3}   |
"""


def mk(rows: list[str], rep: str = "XYZF", interval: str = "1-minute") -> bytes:
    return (HEAD.format(rep=rep, interval=interval, c0=rep[0], c1=rep[1], c2=rep[2],
                        c3=rep[3]) + "".join(r + "\n" for r in rows)).encode()


ROWS = [
    "2020-02-28 23:58:00.000 059     20000.00   1000.00  40000.00  45000.00",
    "2020-02-28 23:59:00.000 059     20000.10  -1000.25  40000.20  88888.00",
    "2020-02-29 00:00:00.000 060     99999.00   1000.50  40000.30  45000.30",
]


def test_inline_flags_and_header() -> None:
    ds = read_iaga2002(mk(ROWS))
    assert ds["time"].values[2] == _t("2020-02-29T00:00")  # leap day, DOY 060
    assert ds["F_flag"].values.tolist() == [FLAG_VALID, FLAG_NOT_OBSERVED, FLAG_VALID]
    assert ds["X_flag"].values.tolist() == [FLAG_VALID, FLAG_VALID, FLAG_MISSING]
    assert np.isnan(ds["F"].values[1]) and np.isnan(ds["X"].values[2])
    assert ds["Y"].values[1] == -1000.25
    assert ds.attrs["data_type"] == "quasi-definitive"
    assert ds.attrs["latitude_deg"] == -12.5 and ds.attrs["longitude_deg"] == 300.25
    assert ds.attrs["iaga_comments"] == " a comment line"
    assert ds.attrs["station_name"] == "Testville" and ds.attrs["iaga_code"] == "TST"
    assert_same_record(ds, roundtrip(ds))


@pytest.mark.parametrize("rep", ["HDZF", "XYZF", "HEZF", "DHZF", "EHZF", "XYZG", "HDZS"])
def test_inline_element_orders(rep: str) -> None:
    ds = read_iaga2002(mk(ROWS, rep=rep))
    assert [c for c in ds.data_vars if not c.endswith("_flag")] == list(rep)
    for c in rep:
        assert ds[c].attrs["units"] == ("arcmin" if c == "D" else "nT")
    assert_same_record(ds, roundtrip(ds))


def test_inline_layout_variants_agree() -> None:
    base = read_iaga2002(mk(ROWS))
    crlf = mk(ROWS).replace(b"\n", b"\r\n")
    no_final_newline = mk(ROWS)[:-1]
    trailing_blank = mk(ROWS) + b"\n   \n\n"
    loose = mk([" ".join(r.split()) for r in ROWS])  # any whitespace layout
    for variant in (crlf, no_final_newline, trailing_blank, loose):
        assert_same_record(base, read_iaga2002(variant))


def test_inline_interval_spellings() -> None:
    for text in ("1-minite", "filtered 1-minute (00:15-01:45)", "Average 1-Minute",
                 "not stated", ""):
        ds = read_iaga2002(mk(ROWS, interval=text))
        assert ds.attrs["sampling_period_s"] == 60.0
    assert parse_interval_type("1-second (501-1500)") == 1.0
    assert parse_interval_type("Averaged 1-minute (00:30 - 01:29)") == 60.0
    assert parse_interval_type("1-hour") == 3600.0
    assert parse_interval_type("variable") is None


def test_strict_cadence_and_gap_filling() -> None:
    rows = [ROWS[0], ROWS[1], "2020-02-29 00:02:00.000 060     20000.30   1000.50  40000.30  "
            "45000.30"]
    with pytest.raises(FormatError) as ei:
        read_iaga2002(mk(rows))
    assert ei.value.line == 17 and "60 s" in ei.value.expected
    ds = read_iaga2002(mk(rows), strict_cadence=False)
    assert ds.sizes["time"] == 5
    assert ds["X_flag"].values.tolist() == [FLAG_VALID, FLAG_VALID, FLAG_MISSING,
                                            FLAG_MISSING, FLAG_VALID]
    assert "2 row(s) missing inside the file(s) inserted as missing" in ds.attrs["history"]
    # a step that is not a multiple of the period stays an error
    odd = rows[:2] + ["2020-02-29 00:00:30.000 060     1.00   1.00  1.00  1.00"]
    with pytest.raises(FormatError, match="whole number of sampling periods"):
        read_iaga2002(mk(odd), strict_cadence=False)


def test_text_buffer_and_single_row() -> None:
    ds = read_iaga2002(io.StringIO(mk(ROWS[:1]).decode()))
    assert ds.sizes["time"] == 1 and ds.attrs["sampling_period_s"] == 60.0


def test_files_of_different_stations_rejected() -> None:
    other = mk([r.replace("2020-02-28", "2020-02-27").replace(" 059 ", " 058 ")
                for r in ROWS[:2]]).replace(b"TST", b"OTH")
    with pytest.raises(FormatError, match="different stations"):
        read_iaga2002([mk(ROWS), other])


# ------------------------------------------------------------------------------ writer

def test_writer_atomic_path_and_text_buffer(tmp_path: Path) -> None:
    ds = read_iaga2002(mk(ROWS))
    out = tmp_path / "sub" / "tst.min"
    write_iaga2002(ds, out)
    assert out.exists() and [p.name for p in out.parent.iterdir()] == ["tst.min"]
    text = io.StringIO()
    write_iaga2002(ds, text)
    assert text.getvalue() == out.read_text()
    lines = text.getvalue().splitlines()
    assert lines[0].endswith("|") and all(len(x) == 70 for x in lines)


def test_writer_refuses_and_leaves_nothing(tmp_path: Path) -> None:
    t = np.arange("2020-01-01", "2020-01-02", np.timedelta64(1, "h"), dtype="datetime64[ns]")
    bad = make_record(t, {"T1": np.ones(t.size)}, attrs={"iaga_code": "TST"})
    out = tmp_path / "bad.min"
    with pytest.raises(ValidationError, match="no IAGA-2002 column"):
        write_iaga2002(bad, out)
    assert not out.exists() and list(tmp_path.iterdir()) == []
    sub_ms = make_record(t + np.timedelta64(5, "us"), {"X": np.ones(t.size)},
                         attrs={"iaga_code": "TST"})
    with pytest.raises(ValidationError, match="millisecond"):
        write_iaga2002(sub_ms, out)


def test_writer_synthetic_record_exact() -> None:
    """A record not read from IAGA (no iaga_* attrs, values with many decimals)."""
    rng = np.random.default_rng(0)
    t = np.arange("2021-06-01", "2021-06-01T02", np.timedelta64(1, "s"), dtype="datetime64[ns]")
    comps = {"H": 20000 + rng.normal(0, 5, t.size).round(3),
             "D": rng.normal(0, 1, t.size).round(4), "Z": 40000 + np.zeros(t.size),
             "F": 45000 + rng.normal(0, 5, t.size).round(2)}
    flags = {"F": np.where(np.arange(t.size) % 100 == 0, FLAG_NOT_OBSERVED, FLAG_VALID)}
    ds = make_record(t, comps, flags=flags, attrs={
        "iaga_code": "SYN", "station_name": "Synthetic", "latitude_deg": 10.0,
        "longitude_deg": -20.5, "elevation_m": 5.0, "data_type": "definitive",
        "source": "geoanom test"})
    back = roundtrip(ds)
    for c in "HDZF":
        np.testing.assert_array_equal(ds[c].values, back[c].values)
        np.testing.assert_array_equal(ds[f"{c}_flag"].values, back[f"{c}_flag"].values)
    for k in ("iaga_code", "station_name", "latitude_deg", "longitude_deg", "elevation_m",
              "data_type", "source", "sampling_period_s"):
        assert back.attrs[k] == ds.attrs[k], k
    assert back["D"].attrs["units"] == "arcmin"
