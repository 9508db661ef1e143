"""Malformed IAGA-2002 input: every case is a FormatError naming the file, the line (where
there is one), what was expected and what was found."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from geoanom.errors import FormatError, GeoanomError
from geoanom.io.iaga2002 import read_iaga2002

# lines 1-13 header (12 fields, 1 comment), line 14 column header, data from line 15
GOOD = """\
 Format                 IAGA-2002                                    |
 Source of Data         Test Institute                               |
 Station Name           Testville                                    |
 IAGA Code              TST                                          |
 Geodetic Latitude      -12.500                                      |
 Geodetic Longitude     300.250                                      |
 Elevation              100                                          |
 Reported               XYZF                                         |
 Sensor Orientation                                                  |
 Digital Sampling                                                    |
 Data Interval Type     1-minute                                     |
 Data Type              Definitive                                   |
 # a comment line                                                    |
DATE       TIME         DOY     TSTX      TSTY      TSTZ      TSTF   |
2021-01-01 00:00:00.000 001     20000.00   1000.00  40000.00  45000.00
2021-01-01 00:01:00.000 001     20000.10   1000.25  40000.20  45000.20
2021-01-01 00:02:00.000 001     20000.20   1000.50  40000.30  45000.30
2021-01-01 00:03:00.000 001     20000.30   1000.75  40000.40  45000.40
"""
LINES = GOOD.splitlines()


def edit(line: int, new: str | None) -> str:
    """GOOD with 1-based ``line`` replaced (None: deleted)."""
    out = list(LINES)
    if new is None:
        del out[line - 1]
    else:
        out[line - 1] = new
    return "\n".join(out) + "\n"


def sub(line: int, old: str, new: str) -> str:
    return edit(line, LINES[line - 1].replace(old, new))


# (id, text, line, words in the message, words in expected, words in found)
CASES: list[tuple[str, str, int | None, str, str, str]] = [
    ("header-without-iaga-code", edit(4, None), 13, "no IAGA code", "IAGA Code", "fields"),
    ("empty-iaga-code", edit(4, " IAGA Code                                                           |"),
     4, "no IAGA code", "IAGA Code", "empty"),
    ("iaga-code-not-a-code", sub(4, "TST ", "T@T "), 4, "not a station code", "letters",
     "T@T"),
    ("no-column-header", "\n".join(LINES[:13]) + "\n", 13, "no column header", "DATE",
     "end of file"),
    ("header-only-no-data", "\n".join(LINES[:14]) + "\n", 15, "no data lines",
     "at least one", "end of file"),
    ("unknown-element-code", sub(14, "TSTF", "TSTQ"), 14, "unknown element code", "element",
     "TSTQ"),
    ("duplicate-column", sub(14, "TSTF", "TSTX"), 14, "appears twice", "each component",
     "TSTX"),
    ("wrong-column-count-missing-value", sub(16, "  40000.20", ""), 16,
     "wrong number of columns", "7 columns", "6 columns"),
    ("wrong-column-count-extra-value", edit(17, LINES[16] + "  1.00"), 17,
     "wrong number of columns", "7 columns", "8 columns"),
    ("non-numeric-value", sub(16, "1000.25", "  abc.d"), 16, "non-numeric value in column TSTY",
     "decimal number", "abc.d"),
    ("nan-value", sub(17, "40000.30", "     nan"), 17, "non-numeric value in column TSTZ",
     "decimal number", "nan"),
    ("exponent-value", sub(18, "45000.40", "  4.5e04"), 18, "non-numeric value in column TSTF",
     "decimal number", "4.5e04"),
    ("double-sign", sub(16, "  1000.25", " --1000.25"), 16, "non-numeric value", "decimal",
     "--1000.25"),
    ("times-out-of-order", edit(17, LINES[14].replace("00:00:00", "00:00:30")), 17,
     "out of order", "after 2021-01-01T00:01", "2021-01-01T00:00:30"),
    ("duplicate-time", edit(16, LINES[14]), 16, "duplicate time", "after", "2021-01-01T00:00"),
    ("mixed-cadence", sub(17, "00:02:00", "00:01:01"), 17, "time step differs",
     "2021-01-01T00:02", "1 s step"),
    ("missing-row-strict", edit(16, None), 16, "time step differs",
     "2021-01-01T00:01", "120 s step"),
    ("header-cadence-disagrees", sub(11, "1-minute", "1-second"), 16,
     "disagrees with the header", "1 s between rows", "60 s"),
    ("invalid-date", sub(15, "2021-01-01", "2021-02-30").replace(" 001  ", " 061  ", 1), 15,
     "invalid date", "calendar date", "2021-02-30"),
    ("invalid-time", sub(18, "00:03:00", "24:03:00"), 18, "invalid time", "HH < 24",
     "24:03:00"),
    ("doy-mismatch", sub(16, " 001 ", " 002 "), 16, "day of year does not match",
     "DOY 001", "002"),
    ("bad-date-format", sub(15, "2021-01-01", "2021/01/01"), 15, "bad date", "YYYY-MM-DD",
     "2021/01/01"),
    ("blank-line-in-data", edit(16, "   "), 16, "blank line", "a data line", "empty"),
    ("data-before-header", LINES[14] + "\n" + GOOD, 1, "data line before any header",
     "header", "2021-01-01"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_malformed_text(tmp_path: Path, case: tuple) -> None:
    _, text, line, msg, expected, found = case
    path = tmp_path / "bad.min"
    path.write_text(text)
    with pytest.raises(FormatError) as ei:
        read_iaga2002(path)
    err = ei.value
    assert err.path == str(path)
    assert err.line == line, str(err)
    assert msg in err.message, str(err)
    assert expected in (err.expected or ""), str(err)
    assert found in (err.found or ""), str(err)
    assert str(path) in str(err) and f"line {line}" in str(err)


def _bytes_case(data: bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        p = tmp / "bad.min"
        p.write_bytes(data)
        return p
    return make


def _dir(tmp: Path) -> Path:
    d = tmp / "folder.min"
    d.mkdir()
    return d


BYTE_CASES = [
    ("empty-file", _bytes_case(b""), None, "file is empty"),
    ("whitespace-file", _bytes_case(b"  \n\n \r\n"), 1, "file is empty"),
    ("binary-garbage", _bytes_case(bytes(range(256)) * 4), 1, "binary data"),
    ("control-byte-in-header", _bytes_case(GOOD.replace("Testville", "Test\x01ville").encode()),
     3, "binary data"),
    ("non-ascii-in-data", _bytes_case(GOOD.encode().replace(b"1000.25", b"1000.2\xb5")),
     16, "non-ASCII byte"),
    ("truncated-record", _bytes_case(GOOD.encode()[:-12]), 18, "truncated record"),
    ("corrupt-gzip", _bytes_case(gzip.compress(GOOD.encode())[:-20]), None,
     "gzip data cannot be decompressed"),
    ("directory", _dir, None, "is a directory"),
    ("missing-file", lambda tmp: tmp / "nope.min", None, "file not found"),
]


@pytest.mark.parametrize("case", BYTE_CASES, ids=[c[0] for c in BYTE_CASES])
def test_malformed_bytes(tmp_path: Path, case: tuple) -> None:
    _, make, line, msg = case
    path = make(tmp_path)
    with pytest.raises(FormatError) as ei:
        read_iaga2002(path)
    err = ei.value
    assert err.path == str(path) and err.line == line, str(err)
    assert msg in err.message, str(err)
    assert err.expected or err.found, str(err)


def _day(text: str, day: int, cadence_s: int = 60) -> str:
    """GOOD moved to 2021-01-<day> (and optionally to another cadence)."""
    out = text.replace("2021-01-01", f"2021-01-{day:02d}").replace(" 001 ", f" {day:03d} ")
    if cadence_s == 1:
        out = out.replace("1-minute", "1-second")
        for k in range(4):
            out = out.replace(f"00:0{k}:00.000", f"00:00:0{k}.000")
    return out


def test_multi_file_overlap_names_both(tmp_path: Path) -> None:
    a, b = tmp_path / "a.min", tmp_path / "b.min"
    a.write_text(GOOD)
    b.write_text(edit(15, None))  # starts 00:01, inside a.min
    with pytest.raises(FormatError) as ei:
        read_iaga2002([a, b])
    err = ei.value
    assert err.path == str(b) and err.line == 15 and str(a) in err.message
    assert "3 row(s)" in err.found and "line 16" in err.found


def test_multi_file_different_components(tmp_path: Path) -> None:
    a, b = tmp_path / "a.min", tmp_path / "b.min"
    a.write_text(GOOD)
    b.write_text(_day(GOOD, 2).replace("TSTX", "TSTH"))
    with pytest.raises(FormatError, match="different components") as ei:
        read_iaga2002([a, b])
    assert ei.value.path == str(b) and ei.value.line == 14


def test_multi_file_different_cadence(tmp_path: Path) -> None:
    a, b = tmp_path / "a.min", tmp_path / "b.sec"
    a.write_text(GOOD)
    b.write_text(_day(GOOD, 2, cadence_s=1))
    with pytest.raises(FormatError, match="different sampling periods") as ei:
        read_iaga2002([a, b])
    assert ei.value.path == str(b) and "60 s" in ei.value.expected


def test_multi_file_off_grid(tmp_path: Path) -> None:
    a, b = tmp_path / "a.min", tmp_path / "b.min"
    a.write_text(GOOD)
    b.write_text(_day(GOOD, 2).replace(":00.000 002", ":30.000 002"))
    with pytest.raises(FormatError, match="off the time grid") as ei:
        read_iaga2002([a, b])
    assert ei.value.path == str(b) and ei.value.line == 15


def test_bad_source_kinds() -> None:
    with pytest.raises(FormatError, match="no input given"):
        read_iaga2002([])
    with pytest.raises(FormatError, match="cannot read this kind of source"):
        read_iaga2002(3.5)  # type: ignore[arg-type]


def test_buffer_errors_name_the_buffer() -> None:
    import io

    buf = io.BytesIO(sub(16, "1000.25", "  abc.d").encode())
    buf.name = "station-feed"
    with pytest.raises(GeoanomError) as ei:
        read_iaga2002(buf)
    assert ei.value.path == "station-feed" and ei.value.line == 16


def test_multi_file_error_names_the_bad_day(tmp_path: Path) -> None:
    """The one-pass parse of many days falls back to file by file to name the bad one."""
    a, b, c = tmp_path / "a.min", tmp_path / "b.min", tmp_path / "c.min"
    a.write_text(GOOD)
    b.write_text(_day(GOOD, 2).replace("1000.25", "  abc.d"))
    c.write_text(_day(GOOD, 3))
    with pytest.raises(FormatError, match="non-numeric value in column TSTY") as ei:
        read_iaga2002([a, b, c])
    assert ei.value.path == str(b) and ei.value.line == 16
