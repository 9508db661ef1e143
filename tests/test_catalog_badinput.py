"""Malformed catalogs: every one is a GeoanomError naming the file, the 1-based line, what
was expected and what was found; never another exception."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geoanom.errors import ConfigError, FormatError, GeoanomError
from geoanom.io import read_catalog
from geoanom.io.catalog import (
    read_aeta_eqlst,
    read_comcat_csv,
    read_jma_csv,
    read_neic_significant,
)
from geoanom.io.table import read_catalog_table

H = "time,latitude,longitude,depth,mag,magType,id\n"
R1 = "2019-07-04T17:33:49.000Z,35.7053,-117.5038,10.5,6.4,mw,ci38443183\n"
R2 = "2019-07-06T03:19:53.040Z,35.7695,-117.5993,8,7.1,mw,ci38457511\n"
MAP = {"time": "t", "latitude": "la", "longitude": "lo", "magnitude": "m"}


def _write(tmp_path: Path, text: str | bytes, name: str = "cat.csv") -> Path:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def _raises(reader, path, *, line, match, found=None, **kw) -> FormatError:
    with pytest.raises(FormatError, match=match) as ei:
        reader(path, **kw)
    e = ei.value
    assert e.path == str(path)
    assert e.line == line
    assert e.expected
    if found is not None:
        assert found in (e.found or "")
    return e


# (name, file text, reader, line, message pattern, text that must be in 'found')
CASES = [
    ("no magnitude column",
     "time,latitude,longitude,depth,magType,id\n" + "2019-07-06T03:19:53Z,35.7,-117.6,8,mw,a\n",
     read_comcat_csv, 1, "no magnitude column", "columns time, latitude"),
    ("unparsable time", H + R1 + "2019-07-32T03:19:53Z,35.7,-117.5,8,5.0,mw,x\n",
     read_comcat_csv, 3, "unparsable time", "2019-07-32"),
    ("empty time", H + R1 + ",35.7,-117.5,8,5,mw,x\n", read_comcat_csv, 3,
     "without a time", "empty"),
    ("latitude out of range", H + R1 + "2019-07-06T04:19:53Z,95.7,-117.5,8,5.0,mw,x\n",
     read_comcat_csv, 3, "latitude out of range", "95.7"),
    ("longitude out of range", H + R1 + R2 + "2019-07-06T04:19:53Z,35.7,242.5,8,5,mw,x\n",
     read_comcat_csv, 4, "longitude out of range", "242.5"),
    ("too many columns", H + R1 + "2019-07-06T04:19:53Z,35.7,-117.5,8,5.0,mw,x,extra\n",
     read_comcat_csv, 3, "wrong number of columns", "8 fields"),
    ("too few columns (truncated line)", H + R1 + R2 + "2019-07-06T04:19:53Z,35.7,-117.5\n",
     read_comcat_csv, 4, "wrong number of columns", "3 fields"),
    ("duplicated ids", H + R1 + R2 + R1.replace("17:33", "18:33"), read_comcat_csv, 4,
     "duplicated event id", "also on line 2"),
    ("non-numeric magnitude", H + R1 + "2019-07-06T04:19:53Z,35.7,-117.5,8,five,mw,x\n",
     read_comcat_csv, 3, "magnitude is not a number", "five"),
    ("empty magnitude", H + R1 + "2019-07-06T04:19:53Z,35.7,-117.5,8,,mw,x\n",
     read_comcat_csv, 3, "without a magnitude", "empty"),
    ("infinite magnitude", H + R1 + "2019-07-06T04:19:53Z,35.7,-117.5,8,inf,mw,x\n",
     read_comcat_csv, 3, "not finite", "inf"),
    ("non-numeric depth", H + R1 + "2019-07-06T04:19:53Z,35.7,-117.5,deep,5,mw,x\n",
     read_comcat_csv, 3, "depth is not a number", "deep"),
    ("unbalanced quote", H + R1 + '2019-07-06T04:19:53Z,35.7,-117.5,8,5,mw,"x\n' + R2,
     read_comcat_csv, 3, "unbalanced quote", '"x'),
    ("repeated header column", "time,latitude,longitude,mag,mag\n", read_comcat_csv, 1,
     "repeated column", "mag"),
    ("JMA timestamp without its offset",
     "timestamp;longitude;latitude;depth;magnitude\n"
     "2011-03-11T14:46:18.120000+0900;142.86;38.10;23.7;9.0\n"
     "2011-03-11T15:15:34.000000;141.25;36.12;43.0;7.6\n",
     read_jma_csv, 3, "without a time zone", "2011-03-11T15:15:34"),
    ("JMA written with commas",
     "timestamp,longitude,latitude,depth,magnitude\n2011-03-11T14:46:18+0900,142.86,38.1,23,9\n",
     read_jma_csv, 1, "no time column .*';'-separated", "timestamp,longitude"),
    ("time before 1677", H + "1600-01-01T00:00:00Z,35.7,-117.5,8,5,mw,x\n", read_comcat_csv, 2,
     "outside the representable range", "1600-01-01"),
    ("NEIC ISO row disagreeing with Time",
     '"Date,Time,Latitude,Longitude,Type,Depth,Magnitude,Magnitude Type,ID"\n'
     '"01/02/1965,13:44:18,19.246,145.616,Earthquake,131.6,6,MW,A"\n'
     '"1975-02-23T02:58:41.000Z,1975-02-24T02:58:41.000Z,8.017,124.075,Earthquake,623,5.6,'
     'MB,B"\n',
     read_neic_significant, 3, "disagrees", "1975-02-24"),
    ("NEIC unparsable date",
     '"Date,Time,Latitude,Longitude,Type,Depth,Magnitude,Magnitude Type,ID"\n'
     '"01/02/1965,13:44:18,19.246,145.616,Earthquake,131.6,6,MW,A"\n'
     '"13/02/1965,13:44:18,19.246,145.616,Earthquake,131.6,6,MW,C"\n',
     read_neic_significant, 3, "unparsable time", "13/02/1965 13:44:18"),
    ("AETA Timestamp disagreeing with Time",
     "\ufeffLongitude,Latitude,Magnitude,Time,Timestamp,Week,Location\r\n"
     "101.39,27.92,3.9,2016-12-25 07:26:06,1482621966,12,a\r\n"
     "105.6,29.47,4.8,2016-12-27 08:17:32,1482826652,13,b\r\n",  # +8 h: a UTC+0 reading
     read_aeta_eqlst, 3, "disagree", "2016-12-27 08:17:32"),
    ("empty file", "", read_comcat_csv, 1, "empty catalog", "nothing"),
    ("only a byte-order mark and blank lines", "\ufeff\r\n\r\n", read_comcat_csv, 1,
     "empty catalog", "nothing"),
    ("binary garbage", bytes(np.random.default_rng(0).integers(0, 256, 400, dtype=np.uint8))
     + b"\x00\x01", read_catalog, None, "binary data|not valid text", None),
    ("invalid UTF-8 (Latin-1 place name)", (H + R1).encode()
     + "2019-07-06T04:19:53Z,35.7,-117.5,8,5,mw,Zürich\n".encode("latin-1"),
     read_comcat_csv, 3, "not valid text", "Z\\xfcrich"),
    ("unrecognised header", "a,b,c\n1,2,3\n", read_catalog, 1, "unrecognised catalog format",
     "a,b,c"),
]


@pytest.mark.parametrize("name, text, reader, line, match, found", CASES,
                         ids=[c[0] for c in CASES])
def test_malformed_catalog(tmp_path, name, text, reader, line, match, found):
    p = _write(tmp_path, text)
    if line is None:  # the line depends on where the random bytes break
        with pytest.raises(FormatError, match=match) as ei:
            reader(p)
        assert ei.value.path == str(p) and ei.value.line >= 1 and ei.value.found
        return
    e = _raises(reader, p, line=line, match=match, found=found)
    # the message alone says it all: file, line, expected, found
    s = str(e)
    assert s.startswith(f"{p}, line {line}: ") and "expected" in s and "found" in s


def test_directory_is_not_a_catalog(tmp_path):
    with pytest.raises(FormatError, match="must be a file") as ei:
        read_catalog(tmp_path)
    assert ei.value.found == "a directory" and ei.value.path == str(tmp_path)


def test_missing_file(tmp_path):
    with pytest.raises(FormatError, match="not found"):
        read_comcat_csv(tmp_path / "nope.csv")


def test_unrecognised_format_names_the_mapping_options(tmp_path):
    p = _write(tmp_path, "a,b,c\n1,2,3\n")
    with pytest.raises(FormatError, match="unrecognised catalog format") as ei:
        read_catalog(p)
    assert "--map FILE" in ei.value.expected and "--map-set KEY=VALUE" in ei.value.expected


def test_unknown_format_names_the_known_ones(tmp_path):
    p = _write(tmp_path, H + R1)
    with pytest.raises(FormatError, match="unknown catalog format") as ei:
        read_catalog(p, format="isc-gem")
    for name in ("comcat", "neic", "jma", "aeta", "quakeml", "mapped"):
        assert name in ei.value.expected
    assert ei.value.found == "isc-gem"


def test_mapped_times_without_zone_and_no_tz(tmp_path):
    p = _write(tmp_path, "t,la,lo,m\n2021-11-07 00:30,34,-118,3\n")
    e = _raises(read_catalog_table, p, line=2, match="without a time zone", found="00:30",
                mapping=MAP)
    assert "tz" in e.expected


def test_mapped_ambiguous_local_time(tmp_path):
    # 01:30 happens twice in Los Angeles on 2021-11-07 (end of daylight saving)
    p = _write(tmp_path, "t,la,lo,m\n2021-11-07 00:30,34,-118,3\n2021-11-07 01:30,34,-118,3\n")
    _raises(read_catalog_table, p, line=3, match="ambiguous", found="01:30",
            mapping={**MAP, "tz": "America/Los_Angeles"})


def test_mapped_wrong_time_format(tmp_path):
    p = _write(tmp_path, "d,h,la,lo,m\n2021/11/07,10:30:00,34,-118,3\n11.07.2021,10:31:00,34,-118,3\n")
    _raises(read_catalog_table, p, line=3, match="unparsable time", found="11.07.2021 10:31:00",
            mapping={**MAP, "time": ["d", "h"], "time_format": "%Y/%m/%d %H:%M:%S",
                     "tz": "UTC"})


def test_mapped_column_not_in_file(tmp_path):
    p = _write(tmp_path, "t,la,lo,mag\n2021-11-07T00:30Z,34,-118,3\n")
    _raises(read_catalog_table, p, line=1, match="no magnitude column", found="t, la, lo, mag",
            mapping=MAP)


@pytest.mark.parametrize("mapping, match", [
    ({**MAP, "timezone": "UTC"}, "unknown catalog mapping key"),
    ({"time": "t", "latitude": "la", "longitude": "lo"}, "lacks required keys"),
    ({**MAP, "tz": "Mars/Olympus_Mons"}, "unknown time zone"),
    ({**MAP, "tz": "+25:00"}, "offset out of range"),
    ({**MAP, "depth": "d", "depth_unit": "miles"}, "unknown depth unit"),
    ({**MAP, "encoding": "no-such-codec"}, "unknown text encoding"),
])
def test_bad_mapping_is_a_config_error(tmp_path, mapping, match):
    p = _write(tmp_path, "t,la,lo,m,d\n2021-11-07T00:30Z,34,-118,3,1\n")
    with pytest.raises(ConfigError, match=match):
        read_catalog_table(p, mapping)


def test_missing_magnitude_can_be_dropped_and_counted(tmp_path):
    p = _write(tmp_path, H + R1 + "2019-07-06T04:19:53Z,35.7,-117.5,8,,mw,x\n" + R2)
    df = read_comcat_csv(p, missing_magnitude="drop")
    assert df["event_id"].tolist() == ["ci38443183", "ci38457511"]
    assert df.attrs["n_without_magnitude_dropped"] == 1
    with pytest.raises(ConfigError):
        read_comcat_csv(p, missing_magnitude="ignore")


# ---------------------------------------------------------------- mutation property test

def _mutate(lines: list[str], data) -> str:
    """Apply a few random edits a file suffers in real life."""
    lines = list(lines)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(lines) - 1))
        kind = data.draw(st.sampled_from(
            ["drop_char", "insert", "dup_line", "del_line", "swap", "truncate", "field"]))
        ln = lines[i]
        if kind == "drop_char" and ln:
            j = data.draw(st.integers(0, len(ln) - 1))
            lines[i] = ln[:j] + ln[j + 1:]
        elif kind == "insert":
            j = data.draw(st.integers(0, len(ln)))
            junk = data.draw(st.sampled_from([",", ";", '"', "\x00", "x", "-", "9e999", "\t",
                                              "\ufeff", "é", " ", "Z", "+0900", "\r"]))
            lines[i] = ln[:j] + junk + ln[j:]
        elif kind == "dup_line":
            lines.insert(i, ln)
        elif kind == "del_line" and len(lines) > 1:
            del lines[i]
        elif kind == "swap":
            k = data.draw(st.integers(0, len(lines) - 1))
            lines[i], lines[k] = lines[k], lines[i]
        elif kind == "truncate":
            lines = lines[:i] + [ln[: len(ln) // 2]]
        elif kind == "field":
            parts = ln.split(",")
            j = data.draw(st.integers(0, len(parts) - 1))
            parts[j] = data.draw(st.sampled_from(["", "nan", "-999", "1e400", "abc", "91",
                                                  "2019-13-01T00:00:00", "NaT"]))
            lines[i] = ",".join(parts)
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def small_real_lines(catalogs_dir) -> list[str]:
    # first 40 lines of the pyCSEP ComCat test catalog (real rows, real ids)
    return (catalogs_dir / "pycsep_tests_comcat_test_catalog.csv").read_text().splitlines()[:40]


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_real_catalog_is_valid_or_geoanom_error(tmp_path, small_real_lines, data):
    p = tmp_path / "mutated.csv"
    p.write_bytes(_mutate(small_real_lines, data).encode("utf-8", "surrogatepass"))
    try:
        df = read_catalog(p)
    except GeoanomError as e:
        assert e.path == str(p)
        return
    assert df["time"].is_monotonic_increasing and df["event_id"].is_unique
    assert df["latitude_deg"].between(-90, 90).all()
    assert np.isfinite(df["magnitude"]).all()
    assert isinstance(df, pd.DataFrame) and os.fspath(p) == df.attrs["source"]
