"""IAGA-2002 reader and writer (INTERMAGNET exchange format, also WDC Kyoto and MAGDAS files).

Reading
-------
:func:`read_iaga2002` reads one file, a buffer, or several daily files of one station joined
into ONE record. Headers are read leniently, the way observatories really write them; data
lines strictly.

Header (lenient):

* fields are ``" <Key>  <value>  |"`` lines; the key is matched case-insensitively ("IAGA CODE"
  or "IAGA Code"), the trailing ``|`` is optional, values may be empty ("Digital Sampling"
  left blank, "Source of Data" blank), keys the standard does not know ("Recorded data" in
  MAGDAS files, "Publication Date") are kept;
* comment lines are lines whose content starts with ``#``;
* the header ends at the column header line ``DATE TIME DOY <columns> |``;
* the only required field is the IAGA code (its first word: ``ANC (KU code)`` -> ``ANC``).

Record attrs from the header: ``iaga_code``, ``station_name``, ``latitude_deg``,
``longitude_deg``, ``elevation_m``, ``data_type``, ``source``, ``sampling_period_s``.
``longitude_deg`` is the header's geodetic longitude **as written** (BOU: 254.764, i.e. east
longitude in 0..360); the stations module compares it with the registry. Unparseable
coordinates become NaN; an elevation of 8888.88, 88888 or 99999 (MAGDAS writes 8888.88 for
"unknown") becomes NaN. ``data_type`` maps "Variation", "Provisional", "Quasi-definitive",
"Definitive", "Adjusted", "Reported" (or their one-letter codes) and anything else to
"unknown". Every original field is also kept verbatim as ``iaga_<key in snake case>``
(``iaga_geodetic_latitude``, ``iaga_data_interval_type``, ``iaga_recorded_data``...), the
keys as written and in order as ``iaga_header_keys`` (newline-separated), and the comments
(the text after ``#``) as ``iaga_comments`` (newline-separated), so that
:func:`write_iaga2002` reproduces them.

Columns: a column name is ``<IAGA code><element>``; elements are ``X Y Z F H D E V I G S``
in any order (HDZF, XYZF, HEZF, DHZF, EHZF...). A column that does not start with the
station's code but is a single element letter is accepted too. MAGDAS EE-index files have
the columns ``EDst1h EDst6h ER EUEL``; the station-specific ``ER`` and ``EUEL`` become
components ``ER_<code>`` and ``EUEL_<code>`` (MAGDAS's own names, as in their "Recorded data"
header field); ``EDst1h`` and ``EDst6h`` keep their names. Any other column is an "unknown
element code" error. Units: ``D`` and ``I`` in arc-minutes (``arcmin``, as in the file, not
converted), everything else in nT.

Data (strict): every line holds ``YYYY-MM-DD HH:MM:SS.fff DOY`` and exactly one value per
column; values are plain decimals (``[+-]digits[.digits]``, no exponent, no ``nan``). The
date must be a real date, DOY must agree with it, times must be strictly increasing and on
one cadence. Trailing blank lines are allowed; a blank line before the last data line is not.
A final line that lacks its newline and is shorter than the line before it is a truncated
record. Fills: a value in [99999, 100000) (99999.00, MAGDAS 99999.99) is
:data:`~geoanom.record.FLAG_MISSING`; a value in [88888, 88889) is
:data:`~geoanom.record.FLAG_NOT_OBSERVED` (no geomagnetic element in nT or arc-minutes can
take these values).

Cadence: inferred from the time column and checked against the header's "Data Interval
Type" when that names a period ("1-minute", "1-minite", "1-second (501-1500)", "Averaged
1-minute (00:30 - 01:29)"...). A file whose steps all equal one period that differs from the
header's is an error (header and data disagree); otherwise the period is the header's (or,
when the header names none, the first step). Decision on rows missing inside a file:
observatories write every row (gaps as 99999), so with ``strict_cadence=True`` (default)
every step must equal the period and a missing row or a change of cadence is an error naming
its line. With ``strict_cadence=False`` steps that are whole multiples of the period (the
header's, else the smallest step) are accepted and the missing rows inserted flagged missing
(counted in the record's history); other steps are still errors. Between daily files of a
multi-file read, missing days are always filled with rows flagged missing (a missing daily
file is ordinary: 433 of the 1096 ANC days), but the files must be of one station, hold the
same components, share one period and one time grid; duplicate or overlapping times are an
error that names both files. The joined record's header attrs are those of the earliest file.

The file's own spelling of "missing" is kept: when 99999.99 (MAGDAS) outnumbers 99999.00 in
the files read, ``iaga_missing_value = 99999.99`` and the writer uses it.

Every error is a :class:`~geoanom.errors.FormatError` with the file, the 1-based line, what
was expected and what was found.

Speed: the data block is parsed without a Python loop per line when its lines have one fixed
layout (every real IAGA-2002 file does): the block is viewed as a 2-D ``uint8`` array (one
row per line, in chunks that stay in the CPU cache), byte classes come from
``bytes.translate``, date and time digits are combined arithmetically, and each value field
is checked against the number grammar and converted (integer mantissa divided by a power of
ten, which is the correctly rounded value, identical to ``float()``). Several daily files
with one layout are parsed in one such pass. A block that is not fixed-width, or that fails
any check, goes through the line-by-line parser, which accepts any whitespace layout and is
also what locates the first bad line for the error message (the test suite checks that both
parsers agree wherever the fast one accepts).

Writing
-------
:func:`write_iaga2002` writes 70-character header records ending in ``|``, the column header
line and data lines in the standard fixed widths (``YYYY-MM-DD HH:MM:SS.fff DDD`` then one
10-character field per component; wider fields only where a value needs more room). Values
are written with the fewest decimals (at least 2) that reproduce every float exactly (at most
6; beyond that the text is rounded). Flagged samples are written as 99999.00 (or the file's
own missing spelling, ``iaga_missing_value``) and 88888.00. Header values come from the
record attrs; the original header text (``iaga_*`` attrs) is reused wherever it still means
the same thing, so read -> write -> read gives an identical record. One comment line
``# Written by geoanom <version>`` records provenance; the reader drops that line again.
The format's limits apply: a header value longer than 45 characters is cut, a comment longer
than 67 characters is wrapped onto several comment lines, times are written to the
millisecond (finer times are refused), and line ends are LF (a CRLF file reads back to the
same record). A path is written atomically (temporary name, then renamed).
"""

from __future__ import annotations

import gzip
import io
import os
import re
import sys
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
import xarray as xr

from geoanom._atomic import atomic_path
from geoanom._version import __version__
from geoanom.errors import FormatError, ValidationError
from geoanom.record import (
    FLAG_MISSING,
    FLAG_NOT_OBSERVED,
    FLAG_VALID,
    component_names,
    make_record,
    validate_record,
)

__all__ = ["read_iaga2002", "write_iaga2002", "is_iaga2002", "ELEMENTS", "EE_INDEX_COLUMNS",
           "parse_interval_type", "map_data_type"]

Source = str | os.PathLike | IO[bytes] | IO[str] | bytes | bytearray | memoryview

#: IAGA-2002 element codes (one letter after the station code in a column name).
ELEMENTS = ("X", "Y", "Z", "F", "H", "D", "E", "V", "I", "G", "S")
#: MAGDAS EE-index columns; ER and EUEL are station quantities and get the ``_<code>`` suffix.
EE_INDEX_COLUMNS = ("EDst1h", "EDst6h", "ER", "EUEL")
_EE_STATION = ("ER", "EUEL")
_ANGLE_ELEMENTS = ("D", "I")

_STANDARD_KEYS = (
    "Format", "Source of Data", "Station Name", "IAGA Code", "Geodetic Latitude",
    "Geodetic Longitude", "Elevation", "Reported", "Sensor Orientation", "Digital Sampling",
    "Data Interval Type", "Data Type", "Publication Date",
)
_KEY_RE = re.compile(
    r"^\s*(" + "|".join(r"\s+".join(k.split()) for k in _STANDARD_KEYS) + r")\b\s*(.*)$",
    re.IGNORECASE,
)
_CANON_KEY = {" ".join(k.lower().split()): k for k in _STANDARD_KEYS}
_PROVENANCE_PREFIX = " Written by geoanom "

_MISSING_LO, _MISSING_HI = 99999.0, 100000.0
_NOTOBS_LO, _NOTOBS_HI = 88888.0, 88889.0
_MISSING_DEFAULT = 99999.0
_ELEVATION_FILLS = (8888.88, 88888.0, 88888.88, 99999.0, 99999.99)

_DATA_TYPES = (  # (prefix of the lower-cased header value, record data_type)
    ("quasi", "quasi-definitive"), ("variation", "variation"), ("provisional", "provisional"),
    ("definitive", "definitive"), ("adjusted", "adjusted"), ("reported", "reported"),
)
_DATA_TYPE_LETTERS = {"v": "variation", "p": "provisional", "q": "quasi-definitive",
                      "d": "definitive", "a": "adjusted", "r": "reported"}
_DATA_TYPE_WRITE = {"variation": "variation", "provisional": "provisional",
                    "quasi-definitive": "quasi-definitive", "definitive": "definitive",
                    "adjusted": "adjusted", "reported": "reported"}

_INTERVAL_RE = re.compile(
    r"(\d+(?:\.\d+)?)\s*-?\s*(milliseconds?|msec|ms|seconds?|secs?|minutes?|minite|mins?|"
    r"hours?|hrs?|days?)\b",
    re.IGNORECASE,
)
_UNIT_S = {"ms": 1e-3, "msec": 1e-3, "millisecond": 1e-3, "milliseconds": 1e-3,
           "second": 1.0, "seconds": 1.0, "sec": 1.0, "secs": 1.0,
           "minute": 60.0, "minutes": 60.0, "minite": 60.0, "min": 60.0, "mins": 60.0,
           "hour": 3600.0, "hours": 3600.0, "hr": 3600.0, "hrs": 3600.0,
           "day": 86400.0, "days": 86400.0}

_NUM_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_TIME_RE = re.compile(r"(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?")
_DOY_RE = re.compile(r"\d{1,3}")

_MAX_GRID_ROWS = 50_000_000  # a joined grid beyond this is almost surely a wrong file mix
_NS = 1_000_000_000
_GZIP_MAGIC = b"\x1f\x8b"


# ----------------------------------------------------------------------------------------
# recognising the format
# ----------------------------------------------------------------------------------------

def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    printable = sum(1 for b in head if b in (9, 10, 13) or 32 <= b < 127 or b >= 160)
    return printable / len(head) > 0.95


def is_iaga2002(path: Path, head: bytes) -> bool:
    """Whether a file whose first bytes are ``head`` is IAGA-2002 text, plain or gzip.

    No other record format is gzip-compressed, so a gzip file that does not hold text is an
    error here rather than another format's.

    Raises
    ------
    FormatError
        A gzip file that cannot be decompressed, a gzip-compressed tar archive, or gzip
        data that is not text.
    """
    if not head.startswith(_GZIP_MAGIC):
        return _looks_like_text(head)
    try:
        with gzip.open(path, "rb") as gz:
            inner = gz.read(4096)
    except (OSError, EOFError, zlib.error) as exc:
        raise FormatError("gzip file cannot be decompressed", path=path,
                          expected="a gzip-compressed IAGA-2002 file",
                          found=str(exc)) from exc
    if _looks_like_text(inner):
        return True
    if inner[257:262] == b"ustar":
        raise FormatError("is a tar archive, not a record file", path=path,
                          expected="the record files themselves (extract the archive "
                          "and pass its daily files)", found="a gzip-compressed tar archive")
    raise FormatError("gzip file does not hold text", path=path,
                      expected="a gzip-compressed IAGA-2002 file",
                      found=f"bytes {inner[:8].hex()}")


# ----------------------------------------------------------------------------------------
# header helpers (shared by reader and writer so both agree on meaning)
# ----------------------------------------------------------------------------------------

def parse_interval_type(text: str) -> float | None:
    """Sampling period in seconds named by a "Data Interval Type" value, or None.

    Parameters
    ----------
    text
        The header value, e.g. ``"filtered 1-minute (00:15-01:45)"``, ``"1-minite"``,
        ``"1-second (501-1500)"``.

    Returns
    -------
    float or None
        The period (s); None when the text names no period.
    """
    m = _INTERVAL_RE.search(text or "")
    if m is None:
        return None
    return float(m.group(1)) * _UNIT_S[m.group(2).lower()]


def map_data_type(text: str) -> str:
    """Record ``data_type`` for an IAGA-2002 "Data Type" value ("Definitive" -> "definitive").

    Unknown or empty values give ``"unknown"``.
    """
    t = (text or "").strip().lower()
    if t in _DATA_TYPE_LETTERS:
        return _DATA_TYPE_LETTERS[t]
    for prefix, name in _DATA_TYPES:
        if t.startswith(prefix):
            return name
    return "unknown"


def _parse_float(text: str) -> float:
    try:
        v = float((text or "").split()[0]) if (text or "").split() else float("nan")
    except ValueError:
        return float("nan")
    return v if np.isfinite(v) else float("nan")


def _map_latitude(text: str) -> float:
    v = _parse_float(text)
    return v if -90.0 <= v <= 90.0 else float("nan")


def _map_longitude(text: str) -> float:
    v = _parse_float(text)
    return v if -360.0 <= v <= 360.0 else float("nan")


def _map_elevation(text: str) -> float:
    v = _parse_float(text)
    return float("nan") if any(v == f for f in _ELEVATION_FILLS) else v


def _map_text(text: str) -> str:
    t = (text or "").strip()
    return t if t else "unknown"


def _map_code(text: str) -> str:
    words = (text or "").split()
    return words[0].upper() if words else ""


def _attr_name(key: str) -> str:
    return "iaga_" + re.sub(r"[^0-9a-z]+", "_", key.strip().lower()).strip("_")


def _same_float(a: float, b: object) -> bool:
    try:
        fb = float(b)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return (np.isnan(a) and np.isnan(fb)) or a == fb


# ----------------------------------------------------------------------------------------
# reading: bytes in
# ----------------------------------------------------------------------------------------

def _display_name(src: object, index: int | None) -> str:
    if isinstance(src, (str, os.PathLike)):
        return os.fspath(src)
    name = getattr(src, "name", None)
    if isinstance(name, (str, bytes)) and name:
        return name if isinstance(name, str) else name.decode("utf-8", "replace")
    return "<buffer>" if index is None else f"<buffer {index + 1}>"


def _load_bytes(src: object, name: str) -> bytes:
    """Read the raw bytes of one source, un-gzipped (detected by magic bytes)."""
    if isinstance(src, (str, os.PathLike)):
        p = Path(src)
        if p.is_dir():
            raise FormatError("is a directory, not an IAGA-2002 file", path=name,
                              expected="an IAGA-2002 file", found="a directory")
        try:
            data = p.read_bytes()
        except FileNotFoundError as exc:
            raise FormatError("file not found", path=name, expected="an existing file",
                              found="no such file") from exc
        except OSError as exc:
            raise FormatError("file cannot be read", path=name, found=str(exc)) from exc
    elif isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
    elif hasattr(src, "read"):
        try:
            raw = src.read()  # type: ignore[union-attr]
        except (OSError, ValueError) as exc:
            raise FormatError("buffer cannot be read", path=name, found=str(exc)) from exc
        if isinstance(raw, str):
            data = raw.encode("utf-8")
        elif isinstance(raw, (bytes, bytearray, memoryview)):
            data = bytes(raw)
        else:
            raise FormatError("buffer returned neither bytes nor text", path=name,
                              expected="bytes or str", found=type(raw).__name__)
    else:
        raise FormatError("cannot read this kind of source", path=name,
                          expected="a path, a binary or text buffer, or bytes",
                          found=type(src).__name__)
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise FormatError("gzip data cannot be decompressed", path=name,
                              expected="a complete gzip-compressed IAGA-2002 file",
                              found=str(exc) or type(exc).__name__) from exc
    if data[:3] == b"\xef\xbb\xbf":  # a UTF-8 byte-order mark some editors add
        data = data[3:]
    return data


@dataclass
class _Header:
    fields: dict[str, str] = field(default_factory=dict)   # canonical key -> value
    keys: list[str] = field(default_factory=list)          # keys as written, in order
    key_lines: dict[str, int] = field(default_factory=dict)  # canonical key -> line
    comments: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    column_line: int = 0          # 1-based line of the column header
    data_offset: int = 0          # byte offset of the first data line


_CONTROL_RE = re.compile(rb"[\x00-\x08\x0a-\x0c\x0e-\x1f\x7f]")


def _decode_header_line(raw: bytes, name: str, lineno: int) -> str:
    bad = _CONTROL_RE.search(raw)
    if bad is not None:
        raise FormatError("binary data where an IAGA-2002 header line belongs", path=name,
                          line=lineno, expected="a text header line",
                          found=f"control byte 0x{bad.group()[0]:02x}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _parse_header(data: bytes, name: str) -> _Header:
    if re.search(rb"\S", data) is None:
        raise FormatError("file is empty", path=name, line=1 if data else None,
                          expected="an IAGA-2002 header", found=f"{len(data)} bytes")
    h = _Header()
    pos, lineno, n = 0, 0, len(data)
    while pos < n:
        end = data.find(b"\n", pos)
        end = n if end < 0 else end
        raw = data[pos:end]
        lineno += 1
        nxt = end + 1
        text = _decode_header_line(raw, name, lineno).rstrip("\r").rstrip()
        content = text[:-1].rstrip() if text.endswith("|") else text
        words = content.split()
        upper = [w.upper() for w in words[:4]]
        if upper[:1] == ["DATE"] and "TIME" in upper[:3] and "DOY" in upper:
            h.columns = [w for w in words[upper.index("DOY") + 1:] if w != "|"]
            h.column_line = lineno
            h.data_offset = min(nxt, n)
            break
        stripped = content.strip()
        if not stripped:
            pos = nxt
            continue
        if stripped.startswith("#"):
            body = content.lstrip()[1:].rstrip()
            if not body.startswith(_PROVENANCE_PREFIX):
                h.comments.append(body)
            pos = nxt
            continue
        if _DATE_RE.match(stripped) and not h.fields:
            raise FormatError("data line before any header", path=name, line=lineno,
                              expected="an IAGA-2002 header (Format, IAGA Code, ...)",
                              found=content)
        m = _KEY_RE.match(content)
        if m:
            written = " ".join(m.group(1).split())
            key = _CANON_KEY[written.lower()]
            value = m.group(2).strip()
        else:
            parts = re.split(r"\s{2,}", stripped, maxsplit=1)
            written = key = parts[0]
            value = parts[1].strip() if len(parts) > 1 else ""
        if key not in h.fields:
            h.keys.append(written)
        h.fields[key] = value
        h.key_lines[key] = lineno
        pos = nxt
    if not h.column_line:
        raise FormatError("no column header line", path=name, line=lineno,
                          expected="a line 'DATE       TIME         DOY  <columns> |'",
                          found="end of file")
    code = _map_code(h.fields.get("IAGA Code", ""))
    if not code:
        raise FormatError("header has no IAGA code", path=name,
                          line=h.key_lines.get("IAGA Code", h.column_line),
                          expected="a header line ' IAGA Code  <code>'",
                          found=("an empty IAGA Code" if "IAGA Code" in h.fields
                                 else "fields " + ", ".join(h.keys) if h.keys else "no fields"))
    if not re.fullmatch(r"[A-Z0-9]{2,5}", code):
        raise FormatError("IAGA code is not a station code", path=name,
                          line=h.key_lines["IAGA Code"],
                          expected="2 to 5 letters or digits", found=code)
    if not h.columns:
        raise FormatError("column header names no data columns", path=name,
                          line=h.column_line, expected="DATE TIME DOY and one name per column",
                          found=" ".join(words))
    return h


def _components(h: _Header, name: str) -> tuple[list[str], dict[str, str]]:
    """Component names and units from the column header."""
    code = _map_code(h.fields["IAGA Code"])
    comps: list[str] = []
    units: dict[str, str] = {}
    for col in h.columns:
        elem = col[len(code):] if col.upper().startswith(code) and len(col) > len(code) else col
        if elem.upper() in ELEMENTS and len(elem) == 1:
            comp = elem.upper()
            unit = "arcmin" if comp in _ANGLE_ELEMENTS else "nT"
        elif col in EE_INDEX_COLUMNS:
            comp = f"{col}_{code}" if col in _EE_STATION else col
            unit = "nT"
        elif re.fullmatch(r"(ER|EUEL)_[A-Z0-9]{2,5}", col):
            comp, unit = col, "nT"
        else:
            raise FormatError(f"unknown element code in column {col!r}", path=name,
                              line=h.column_line,
                              expected=f"<{code}><element> with element one of "
                              f"{''.join(ELEMENTS)}, or an EE-index column "
                              f"({', '.join(EE_INDEX_COLUMNS)})", found=col)
        if comp in units:
            raise FormatError(f"column for component {comp} appears twice", path=name,
                              line=h.column_line, expected="each component once",
                              found=" ".join(h.columns))
        comps.append(comp)
        units[comp] = unit
    return comps, units


# ----------------------------------------------------------------------------------------
# reading: the data block
# ----------------------------------------------------------------------------------------

@dataclass
class _Rows:
    """Date-time parts and values of a data block, before validation."""

    ymd: np.ndarray      # (n, 3) int64 year, month, day
    hms: np.ndarray      # (n, 3) int64 hour, minute, second
    frac_ns: np.ndarray  # (n,) int64 fraction of the second, ns
    doy: np.ndarray      # (n,) int64
    values: np.ndarray   # (n, m) float64


_TEMPLATE = b"0000-00-00 00:00:00.000 000"
# per column of the date-time prefix: allowed byte range [lo, lo + span]
_HEAD_LO = np.array([48 if c == ord("0") else c for c in _TEMPLATE], np.uint8)
_HEAD_SPAN = np.array([9 if c == ord("0") else 0 for c in _TEMPLATE], np.uint8)
# byte classes of the value region, ordered so that a well-formed number never decreases:
# space 0 < minus 1 < plus 2 < digit 3; dot 4; anything else 5
_CODE = np.full(256, 5, np.uint8)
_CODE[32], _CODE[45], _CODE[43], _CODE[46] = 0, 1, 2, 4
_CODE[48:58] = 3
_DIGIT = np.zeros(256, np.uint8)
_DIGIT[48:58] = np.arange(10)
_DIGIT[45] = 128  # '-': a flag bit beside the digit values, tested 8 bytes at a time
_HIGH_BITS = np.uint64(0x8080808080808080)
_LOW_7BITS = np.uint64(0x7F7F7F7F7F7F7F7F)
_MASK_16 = np.uint64(0x00FF00FF00FF00FF)
_MASK_32 = np.uint64(0x0000FFFF0000FFFF)
_MASK_64 = np.uint64(0x00000000FFFFFFFF)
_U8, _U16, _U32 = np.uint64(8), np.uint64(16), np.uint64(32)
_U10, _U100, _U10000, _U1E8 = (np.uint64(10), np.uint64(100), np.uint64(10_000),
                               np.uint64(100_000_000))
_BIG_ENDIAN = sys.byteorder == "big"
# bytes.translate applies a byte table at memory speed, far faster than numpy fancy indexing
_CODE_TABLE = _CODE.tobytes()
_DIGIT_TABLE = _DIGIT.tobytes()
_FIELD_RE = re.compile(rb"\S+")
_TOKEN_RE = re.compile(rb"[+-]?\d*\.\d+")
_MAX_DIGITS = 16  # digits gathered per field (left-padded; two uint64 words); at most 15 used


@dataclass
class _Layout:
    """Where each value field of a fixed-layout data line lies (value region columns)."""

    lo: np.ndarray        # allowed byte class range per column: [lo, lo + span]
    span: np.ndarray
    pairs: np.ndarray     # column j and j-1 both in one field's integer part
    digits: np.ndarray    # (m, 16) columns of each field's digits, left-padded with a space
    scale: np.ndarray     # (m,) 10 ** decimals


def _layout(region: bytes, m: int) -> _Layout | None:
    """Derive the field layout from the first data line's value region; None if unusual.

    Field ``f`` spans from just after the previous token (its first column, a space, is the
    separator) to the end of token ``f``; every line must then fit that layout.
    """
    toks = list(_FIELD_RE.finditer(region))
    if len(toks) != m:
        return None
    n = len(region)
    lo = np.zeros(n, np.uint8)      # default: a space
    span = np.zeros(n, np.uint8)
    pairs = np.zeros(n, bool)
    digits = np.zeros((m, _MAX_DIGITS), np.intp)
    scale = np.zeros(m)
    prev = 0
    for f, t in enumerate(toks):
        if _TOKEN_RE.fullmatch(t.group()) is None:
            return None
        start, end = t.start(), t.end()
        dot = start + t.group().index(b".")
        first_int = prev + 1            # column prev is the separator space
        cols = list(range(first_int, dot)) + list(range(dot + 1, end))
        if len(cols) > _MAX_DIGITS - 1 or start <= prev:
            return None
        span[first_int:dot] = 3         # space, sign or digit
        pairs[first_int + 1:dot] = True
        lo[dot], span[dot] = 4, 0
        lo[dot + 1:end], span[dot + 1:end] = 3, 0
        digits[f] = [prev] * (_MAX_DIGITS - len(cols)) + cols
        scale[f] = 10.0 ** (end - dot - 1)
        prev = end
    return _Layout(lo, span, pairs, digits, scale)


_CHUNK_ROWS = 4096  # rows per vectorised pass: keeps the temporaries in the CPU cache


def _fast_rows(data: bytes, start: int, stop: int, m: int, out: _Rows | None = None,
               at: int = 0) -> _Rows | None:
    """Parse a fixed-layout block without a Python loop per line; None when anything is unusual.

    The block is ``data[start:stop]`` and ends with a newline. None means "use the
    line-by-line parser", which either accepts the block or raises at the first bad line.
    Lines are viewed as rows of a 2-D ``uint8`` array and handled in chunks of
    :data:`_CHUNK_ROWS` rows. Each check is one vectorised pass over ``uint8`` columns: byte
    classes per column (``bytes.translate``); within an integer part the order
    space* sign? digit* (a sign must be followed by a digit). Each field's digits are
    gathered into 16 bytes and combined eight at a time inside uint64 words (SWAR), so the
    integer mantissa is exact, then divided by a power of ten: the correctly rounded value,
    exactly what ``float()`` gives. With ``out`` the
    rows are written into it from row ``at`` on (many files, one set of arrays).
    """
    size = stop - start
    first_nl = data.find(b"\n", start, stop) - start
    if first_nl < 27 + 2 * m or size % (first_nl + 1):
        return None
    width = first_nl + 1
    n = size // width
    content = width - 1
    cr = data[start + first_nl - 1] == 13
    if cr:
        content -= 1
    lay = _layout(data[start + 27:start + content], m)
    if lay is None:
        return None
    if out is None:
        out = _Rows(np.empty((n, 3), np.int64), np.empty((n, 3), np.int64),
                    np.empty(n, np.int64), np.empty(n, np.int64),
                    np.empty((n, m), np.float64, order="F"))
    elif out.values.shape[0] < at + n or out.values.shape[1] != m:
        return None
    ymd, hms, frac_ns, doy, values = (out.ymd[at:at + n], out.hms[at:at + n],
                                      out.frac_ns[at:at + n], out.doy[at:at + n],
                                      out.values[at:at + n])
    step = -(-n // -(-n // _CHUNK_ROWS))  # equal chunks of at most _CHUNK_ROWS rows
    for i in range(0, n, step):
        j = min(n, i + step)
        chunk = (data if (i, j, start, size) == (0, n, 0, len(data)) else
            data[start + i * width:start + j * width])
        a = np.frombuffer(chunk, np.uint8).reshape(j - i, width)
        if not (a[:, -1] == 10).all() or (cr and not (a[:, content] == 13).all()):
            return None
        head = a[:, :27]
        if not ((head - _HEAD_LO) <= _HEAD_SPAN).all():  # uint8 wrap-around: one compare
            return None
        code = np.frombuffer(chunk.translate(_CODE_TABLE), np.uint8
                             ).reshape(j - i, width)[:, 27:content]
        if not ((code - lay.lo) <= lay.span).all():
            return None
        prev, nxt = code[:, :-1], code[:, 1:]
        bad = (nxt < prev) | (((prev - np.uint8(1)) <= 1) & (nxt != 3))
        if (bad & lay.pairs[1:]).any():
            return None
        digs = np.frombuffer(chunk.translate(_DIGIT_TABLE), np.uint8).reshape(j - i, width)
        # (rows, m, 16) digit values, C order, seen as two uint64 words of 8 digits each
        w = np.take(digs, 27 + lay.digits, axis=1).view(np.uint64)
        if _BIG_ENDIAN:
            w = w.byteswap()  # first digit in the lowest byte, as on little-endian machines
        negative = ((w[:, :, 0] | w[:, :, 1]) & _HIGH_BITS) != 0    # a '-' in the field
        w &= _LOW_7BITS
        # SWAR: 8 one-digit bytes -> 4 two-digit -> 2 four-digit -> one 8-digit number
        w = (w * _U10 + (w >> _U8)) & _MASK_16
        w = (w * _U100 + (w >> _U16)) & _MASK_32
        w = (w * _U10000 + (w >> _U32)) & _MASK_64
        mant = (w[:, :, 0] * _U1E8 + w[:, :, 1]).astype(np.int64)
        v = mant / lay.scale
        np.negative(v, out=v, where=negative)  # exact: a sign flip
        values[i:j] = v
        hd = head - np.uint8(48)

        def num(*cols: int, hd: np.ndarray = hd) -> np.ndarray:
            out = hd[:, cols[0]].astype(np.int64)
            for c in cols[1:]:
                out = out * 10 + hd[:, c]
            return out

        ymd[i:j, 0], ymd[i:j, 1], ymd[i:j, 2] = num(0, 1, 2, 3), num(5, 6), num(8, 9)
        hms[i:j, 0], hms[i:j, 1], hms[i:j, 2] = num(11, 12), num(14, 15), num(17, 18)
        frac_ns[i:j] = num(20, 21, 22) * 1_000_000
        doy[i:j] = num(24, 25, 26)
    return out


def _slow_rows(block: bytes, m: int, columns: list[str], name: str, line0: int,
               had_final_newline: bool) -> _Rows:
    """Parse line by line; raise FormatError at the first bad line. ``line0``: first line."""
    lines = block.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    # trailing blank lines are tolerated; a blank line before data is not
    last = len(lines)
    while last > 0 and not lines[last - 1].strip():
        last -= 1
    lines = lines[:last]
    want = 3 + m
    expected_cols = f"{want} columns (date, time, DOY and {m} values: {' '.join(columns)})"
    ymd = np.empty((len(lines), 3), np.int64)
    hms = np.empty((len(lines), 3), np.int64)
    frac_ns = np.empty(len(lines), np.int64)
    doy = np.empty(len(lines), np.int64)
    values = np.empty((len(lines), m), np.float64, order="F")
    for i, raw in enumerate(lines):
        ln = line0 + i
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            bad = next(b for b in raw if b > 127)
            raise FormatError("non-ASCII byte in a data line", path=name, line=ln,
                              expected="ASCII digits, '-', ':', '.', spaces",
                              found=f"byte 0x{bad:02x} in {raw[:60]!r}") from None
        text = text.rstrip("\r")
        if any(ord(c) < 32 and c != "\t" for c in text):
            raise FormatError("control character in a data line", path=name, line=ln,
                              expected="a data line of printable ASCII", found=text)
        tokens = text.split()
        if not tokens:
            raise FormatError("blank line inside the data block", path=name, line=ln,
                              expected="a data line", found="an empty line")
        if (i == len(lines) - 1 and not had_final_newline and i > 0
                and len(raw.rstrip(b"\r")) < len(lines[i - 1].rstrip(b"\r"))):
            raise FormatError("truncated record at the end of the file", path=name, line=ln,
                              expected=f"a complete line like the one before "
                              f"({len(lines[i - 1].rstrip())} characters)", found=text)
        if len(tokens) != want:
            raise FormatError("wrong number of columns", path=name, line=ln,
                              expected=expected_cols, found=f"{len(tokens)} columns: {text}")
        dm = _DATE_RE.fullmatch(tokens[0])
        if dm is None:
            raise FormatError("bad date", path=name, line=ln, expected="YYYY-MM-DD",
                              found=tokens[0])
        tm = _TIME_RE.fullmatch(tokens[1])
        if tm is None:
            raise FormatError("bad time", path=name, line=ln, expected="HH:MM:SS.fff",
                              found=tokens[1])
        if _DOY_RE.fullmatch(tokens[2]) is None:
            raise FormatError("bad day of year", path=name, line=ln,
                              expected="a day of year DDD (001-366)", found=tokens[2])
        ymd[i] = [int(dm.group(1)), int(dm.group(2)), int(dm.group(3))]
        hms[i] = [int(tm.group(1)), int(tm.group(2)), int(tm.group(3))]
        fr = tm.group(4) or ""
        frac_ns[i] = int((fr + "000000000")[:9]) if fr else 0
        doy[i] = int(tokens[2])
        for j, tok in enumerate(tokens[3:]):
            if _NUM_RE.fullmatch(tok) is None:
                raise FormatError(f"non-numeric value in column {columns[j]}", path=name,
                                  line=ln, expected="a decimal number like 20735.93 or "
                                  "99999.00", found=tok)
            values[i, j] = float(tok)
    return _Rows(ymd, hms, frac_ns, doy, values)


def _days_from_civil(y: np.ndarray, mo: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm)."""
    y = y - (mo <= 2)
    era = y // 400
    yoe = y - era * 400
    mp = (mo + 9) % 12
    doe = yoe * 365 + yoe // 4 - yoe // 100 + (153 * mp + 2) // 5 + d - 1
    return era * 146097 + doe - 719468


_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)
_DAYS_BEFORE_MONTH = np.concatenate(([0], np.cumsum(_DAYS_IN_MONTH[:-1])))  # index: month


@dataclass
class _Parsed:
    name: str
    header: _Header
    components: list[str]
    units: dict[str, str]
    time_ns: np.ndarray        # int64 ns since epoch, strictly increasing
    values: np.ndarray         # (n, m) float64 as written (fills included)
    period_ns: int | None
    first_data_line: int
    filled_rows: int = 0
    spelling: tuple[int, int] = (0, 0)  # counts of 99999.99 and of 99999.00 in the file


def _to_times(rows: _Rows, name: str, line0: int) -> np.ndarray:
    """Validated times (int64 ns since 1970) of the rows; FormatError at the first bad one.

    Calendar work is done once per run of rows with the same date (1440 rows per day at
    1-minute cadence), then spread to the rows.
    """
    ymd, hms = rows.ymd, rows.hms
    key = (ymd[:, 0] * 100 + ymd[:, 1]) * 100 + ymd[:, 2]
    starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    lengths = np.diff(np.append(starts, key.size))
    y, mo, d = ymd[starts, 0], ymd[starts, 1], ymd[starts, 2]
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    mclip = np.clip(mo, 1, 12)
    dim = _DAYS_IN_MONTH[mclip] + (leap & (mclip == 2))
    bad_run = (mo < 1) | (mo > 12) | (d < 1) | (d > dim) | (y < 1678) | (y > 2261)
    days = np.repeat(_days_from_civil(y, mclip, np.clip(d, 1, 31)), lengths)
    doy_true = np.repeat(_DAYS_BEFORE_MONTH[mclip] + (leap & (mclip > 2)) + d, lengths)
    hh, mi, ss = hms[:, 0], hms[:, 1], hms[:, 2]
    bad_time = (hh > 23) | (mi > 59) | (ss > 59)
    bad_doy = rows.doy != doy_true
    t = (days * 86400 + hh * 3600 + mi * 60 + ss) * _NS + rows.frac_ns
    problems = []
    if bad_run.any():
        problems.append((int(starts[np.argmax(bad_run)]), "date"))
    for mask, what in ((bad_time, "time"), (bad_doy, "doy")):
        if mask.any():
            problems.append((int(np.argmax(mask)), what))
    if problems:
        i, what = min(problems)
        date = f"{ymd[i, 0]:04d}-{ymd[i, 1]:02d}-{ymd[i, 2]:02d}"
        if what == "date":
            raise FormatError("invalid date", path=name, line=line0 + i,
                              expected="a calendar date between 1678 and 2261 (YYYY-MM-DD)",
                              found=date)
        if what == "time":
            raise FormatError("invalid time of day", path=name, line=line0 + i,
                              expected="HH:MM:SS with HH < 24, MM < 60, SS < 60",
                              found=f"{hh[i]:02d}:{mi[i]:02d}:{ss[i]:02d}")
        raise FormatError("day of year does not match the date", path=name, line=line0 + i,
                          expected=f"DOY {doy_true[i]:03d} for {date}",
                          found=f"{rows.doy[i]:03d}")
    return t


def _fmt_step(ns: int) -> str:
    return f"{ns / _NS:g} s"


def _check_times(t: np.ndarray, name: str, line0: int, h: _Header, strict: bool
                 ) -> tuple[int | None, np.ndarray | None]:
    """Check order and cadence; return (period_ns, grid index per row or None)."""
    interval = h.fields.get("Data Interval Type", "")
    p_header = parse_interval_type(interval)
    hdr_ns = None if p_header is None else int(round(p_header * _NS))
    if t.size < 2:
        return hdr_ns, None
    dt = np.diff(t)
    bad = dt <= 0
    if bad.any():
        i = int(np.argmax(bad)) + 1
        stamp = str(np.datetime64(int(t[i]), "ns"))
        if dt[i - 1] == 0:
            raise FormatError("duplicate time", path=name, line=line0 + i,
                              expected=f"a time after {stamp} (line {line0 + i - 1})",
                              found=stamp)
        raise FormatError("times out of order", path=name, line=line0 + i,
                          expected=f"a time after {np.datetime64(int(t[i - 1]), 'ns')} "
                          f"(line {line0 + i - 1})", found=stamp)
    hdr_text = f"Data Interval Type {interval!r}"
    if strict:
        # the header's period where it names one (a wrong first step is then a missing row);
        # a file whose every step disagrees with the header is a header/data conflict
        period = hdr_ns if hdr_ns is not None else int(dt[0])
        if hdr_ns is not None and (dt == dt[0]).all() and dt[0] != hdr_ns:
            period = int(dt[0])
            raise FormatError("cadence of the data disagrees with the header", path=name,
                              line=line0 + 1,
                              expected=f"{_fmt_step(hdr_ns)} between rows ({hdr_text}, "
                              f"line {h.key_lines.get('Data Interval Type')})",
                              found=f"{_fmt_step(period)} between lines {line0} and "
                              f"{line0 + 1}")
        off = dt != period
        if off.any():
            i = int(np.argmax(off)) + 1
            raise FormatError("time step differs from the sampling period (mixed cadence "
                              "or a missing row)", path=name, line=line0 + i,
                              expected=f"{np.datetime64(int(t[i - 1] + period), 'ns')} "
                              f"({_fmt_step(period)} after line {line0 + i - 1})",
                              found=f"{np.datetime64(int(t[i]), 'ns')} "
                              f"({_fmt_step(int(dt[i - 1]))} step)")
        return period, None
    period = hdr_ns if hdr_ns is not None else int(dt.min())
    off = dt % period != 0
    if off.any():
        i = int(np.argmax(off)) + 1
        raise FormatError("time step is not a whole number of sampling periods", path=name,
                          line=line0 + i,
                          expected=f"steps that are multiples of {_fmt_step(period)}",
                          found=f"{_fmt_step(int(dt[i - 1]))} step to "
                          f"{np.datetime64(int(t[i]), 'ns')}")
    if (dt == period).all():
        return period, None
    return period, (t - t[0]) // period


@dataclass
class _Prepared:
    """One source with its header read and its data block located (not yet parsed)."""

    name: str
    data: bytes
    header: _Header
    components: list[str]
    units: dict[str, str]
    start: int          # data block: data[start:stop], trailing blank lines excluded
    stop: int
    nl: int             # index of the newline ending the last data line, -1 if none
    line0: int          # 1-based line of the first data line


# Daily files of one station usually carry byte-identical headers: parse each header once.
_HEADER_CACHE: dict[bytes, tuple[_Header, list[str], dict[str, str]]] = {}
_HEADER_CACHE_SIZE = 64
_COLUMN_LINE_RE = re.compile(rb"^[ \t]*DATE[ \t]+TIME[ \t]+DOY\b[^\n]*\n", re.M | re.I)


def _header_of(data: bytes, name: str) -> tuple[_Header, list[str], dict[str, str]]:
    """Header, component names and units of a file (cached by the header's exact bytes)."""
    m = _COLUMN_LINE_RE.search(data, 0, 1 << 16)
    key = data[:m.end()] if m else None
    if key is not None and key in _HEADER_CACHE:
        return _HEADER_CACHE[key]
    h = _parse_header(data, name)
    comps, units = _components(h, name)
    if key is not None and h.data_offset == len(key):
        if len(_HEADER_CACHE) >= _HEADER_CACHE_SIZE:
            _HEADER_CACHE.pop(next(iter(_HEADER_CACHE)))
        _HEADER_CACHE[key] = (h, comps, units)
    return h, comps, units


def _prepare(src: object, name: str) -> _Prepared:
    data = _load_bytes(src, name)
    h, comps, units = _header_of(data, name)
    start, stop = h.data_offset, len(data)
    line0 = h.column_line + 1
    while stop > start and data[stop - 1] in b" \t\r\n":  # trailing blank lines
        stop -= 1
    if stop == start:
        raise FormatError("no data lines after the column header", path=name, line=line0,
                          expected="at least one data line", found="end of file")
    return _Prepared(name, data, h, comps, units, start, stop, data.find(b"\n", stop), line0)


def _rows_of(p: _Prepared) -> _Rows:
    m = len(p.components)
    # the fast parser sees whole lines; a last line without its newline gets one
    if p.nl >= 0:
        rows = _fast_rows(p.data, p.start, p.nl + 1, m)
    else:
        rows = _fast_rows(p.data[p.start:p.stop] + b"\n", 0, p.stop - p.start + 1, m)
    if rows is None:
        rows = _slow_rows(p.data[p.start:p.stop], m, p.header.columns, p.name, p.line0,
                          had_final_newline=p.nl >= 0)
    return rows


def _finish(p: _Prepared, t: np.ndarray, values: np.ndarray, strict: bool) -> _Parsed:
    """Check one file's times (order, cadence) and fill rows missing inside it if allowed."""
    period, grid = _check_times(t, p.name, p.line0, p.header, strict)
    # how this file spells "missing", counted before any row is inserted
    spelling = (int(np.count_nonzero(values == 99999.99)),
                int(np.count_nonzero(values == _MISSING_DEFAULT)))
    filled = 0
    if grid is not None:
        total = int(grid[-1]) + 1
        _check_grid(total, p.name)
        full_t = t[0] + np.arange(total, dtype=np.int64) * period
        full_v = np.full((total, values.shape[1]), _MISSING_DEFAULT, order="F")
        full_v[grid] = values
        filled = total - t.size
        t, values = full_t, full_v
    return _Parsed(p.name, p.header, p.components, p.units, t, values, period, p.line0, filled,
                   spelling)


def _parse_one(p: _Prepared, strict: bool) -> _Parsed:
    rows = _rows_of(p)
    return _finish(p, _to_times(rows, p.name, p.line0), rows.values, strict)


def _parse_batch(preps: list[_Prepared], strict: bool) -> list[_Parsed] | None:
    """Parse many files' data blocks in ONE vectorised pass when they share a layout.

    Daily files of one station (663 MAGDAS days) are tiny; per-file numpy calls would
    dominate. The blocks are joined and parsed together; None (the caller then parses file
    by file, which also names the bad file and line) when anything does not fit.
    """
    m = len(preps[0].components)
    if any(p.nl < 0 or len(p.components) != m for p in preps):
        return None
    counts = []
    for p in preps:
        width = p.data.find(b"\n", p.start) + 1 - p.start
        if width <= 0 or (p.nl + 1 - p.start) % width:
            return None
        counts.append((p.nl + 1 - p.start) // width)
    total = sum(counts)
    rows = _Rows(np.empty((total, 3), np.int64), np.empty((total, 3), np.int64),
                 np.empty(total, np.int64), np.empty(total, np.int64),
                 np.empty((total, m), np.float64, order="F"))
    # files are parsed in groups of about one chunk: the joined group IS the chunk
    at, group, group_rows = 0, [], 0
    for k, p in enumerate(preps):
        group.append(memoryview(p.data)[p.start:p.nl + 1])
        group_rows += counts[k]
        if k == len(preps) - 1 or group_rows + counts[k + 1] > _CHUNK_ROWS:
            joined = b"".join(group)
            if (len(joined) != group_rows * (joined.find(b"\n") + 1) or
                    _fast_rows(joined, 0, len(joined), m, out=rows, at=at) is None):
                return None
            at += group_rows
            group, group_rows = [], 0
    try:
        t = _to_times(rows, preps[0].name, preps[0].line0)
    except FormatError:
        return None
    bounds = np.cumsum([0] + counts)
    period = _common_period(preps, t, bounds)
    out = []
    for k, p in enumerate(preps):
        i, j = int(bounds[k]), int(bounds[k + 1])
        if period is None:  # the general per-file checks (they also name the bad line)
            out.append(_finish(p, t[i:j], rows.values[i:j], strict))
        else:
            out.append(_Parsed(p.name, p.header, p.components, p.units, t[i:j],
                               rows.values[i:j], period, p.line0))
    if period is not None:  # the spelling of "missing", counted once for all files
        v = rows.values
        out[0].spelling = (int(np.count_nonzero(v == 99999.99)),
                           int(np.count_nonzero(v == _MISSING_DEFAULT)))
    return out


def _common_period(preps: list[_Prepared], t: np.ndarray, bounds: np.ndarray) -> int | None:
    """The period (ns) when every file's every step equals the one period all headers name.

    This is the common case for daily files of one station, checked for all files at once;
    None sends the files through the per-file checks.
    """
    interval = {p.header.fields.get("Data Interval Type", "") for p in preps}
    if len(interval) != 1:
        return None
    p_header = parse_interval_type(interval.pop())
    if p_header is None:
        return None
    period = int(round(p_header * _NS))
    dt = np.diff(t)
    inside = np.ones(dt.size, bool)
    inside[bounds[1:-1] - 1] = False  # steps between files are checked when joining
    if not (dt[inside] == period).all():
        return None
    return period


def _check_grid(total: int, name: str) -> None:
    if total > _MAX_GRID_ROWS:
        raise FormatError("gaps would make the record too long", path=name,
                          expected=f"at most {_MAX_GRID_ROWS} rows on the joined time grid",
                          found=f"{total} rows")


# ----------------------------------------------------------------------------------------
# reading: public function
# ----------------------------------------------------------------------------------------

def _is_single(source: object) -> bool:
    return (isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview))
        or hasattr(source, "read"))


def read_iaga2002(source: Source | Sequence[Source], *, strict_cadence: bool = True
                  ) -> xr.Dataset:
    """Read IAGA-2002 data (one file, a buffer, or several daily files) into a station record.

    Parameters
    ----------
    source
        A path (``str`` or ``os.PathLike``), a binary or text buffer (anything with
        ``read()``), raw ``bytes``, or a sequence of these. gzip data is recognised by its
        magic bytes. Several sources are joined into one record sorted by time; days
        missing between them become rows flagged missing.
    strict_cadence
        True (default): inside a file every time step must equal the sampling period. False:
        steps that are whole multiples of it are accepted and the missing rows inserted,
        flagged missing.

    Returns
    -------
    xarray.Dataset
        A record (see :mod:`geoanom.record`) with one float64 variable per component (nT;
        D and I in arc-minutes), its ``<component>_flag``, and the header in attrs.

    Raises
    ------
    FormatError
        Anything the file does not do right, with path, 1-based line, expected and found.
    """
    if _is_single(source):
        items = [source]
    else:
        try:
            items = list(source)  # type: ignore[arg-type]
        except TypeError as exc:
            raise FormatError("cannot read this kind of source", expected="a path, a buffer "
                              "or a sequence of them", found=type(source).__name__) from exc
        if not items:
            raise FormatError("no input given", expected="at least one file or buffer",
                              found="an empty sequence")
    many = len(items) > 1
    preps = [_prepare(s, _display_name(s, i if many else None)) for i, s in enumerate(items)]
    parsed = _parse_batch(preps, strict_cadence) if many else None
    if parsed is None:
        parsed = [_parse_one(p, strict_cadence) for p in preps]
    return _build_record(parsed)


def _join(parsed: list[_Parsed]) -> tuple[np.ndarray, np.ndarray, int | None, int]:
    order = sorted(range(len(parsed)), key=lambda i: (int(parsed[i].time_ns[0]), i))
    ps = [parsed[i] for i in order]
    first = ps[0]
    code = _map_code(first.header.fields["IAGA Code"])
    periods = {p.period_ns for p in ps if p.period_ns is not None}
    for p in ps[1:]:
        other = _map_code(p.header.fields["IAGA Code"])
        if other != code:
            raise FormatError("files are from different stations", path=p.name,
                              line=p.header.key_lines.get("IAGA Code"),
                              expected=f"station {code} (as in {first.name})", found=other)
        if p.components != first.components:
            raise FormatError("files hold different components", path=p.name,
                              line=p.header.column_line,
                              expected=f"{' '.join(first.components)} (as in {first.name})",
                              found=" ".join(p.components))
    if len(periods) > 1:
        p = next(q for q in ps if q.period_ns != ps[0].period_ns and q.period_ns is not None)
        raise FormatError("files have different sampling periods", path=p.name,
                          line=p.first_data_line,
                          expected=f"{_fmt_step(first.period_ns or 0)} (as in {first.name})",
                          found=_fmt_step(p.period_ns or 0))
    period = periods.pop() if periods else None
    for prev, p in zip(ps[:-1], ps[1:], strict=True):
        t_end, t_start = int(prev.time_ns[-1]), int(p.time_ns[0])
        if t_start <= t_end:
            j = int(np.searchsorted(p.time_ns, t_end, side="right"))
            dup = int(np.searchsorted(prev.time_ns, t_start))
            kind = "duplicate" if t_start in prev.time_ns[dup:dup + 1] else "overlapping"
            raise FormatError(f"{kind} times: {p.name} overlaps {prev.name}", path=p.name,
                              line=p.first_data_line,
                              expected=f"a first time after {np.datetime64(t_end, 'ns')} "
                              f"(last time in {prev.name})",
                              found=f"{np.datetime64(t_start, 'ns')} ({j} row(s) of {p.name} "
                              f"fall within {prev.name}, line {prev.first_data_line + dup})")
        if period is None or (t_start - t_end) % period:
            raise FormatError(f"times are off the time grid of {prev.name}", path=p.name,
                              line=p.first_data_line,
                              expected=f"a start a whole number of "
                              f"{_fmt_step(period or 0)} steps after "
                              f"{np.datetime64(t_end, 'ns')}",
                              found=str(np.datetime64(t_start, "ns")))
    t0 = int(ps[0].time_ns[0])
    total = (int(ps[-1].time_ns[-1]) - t0) // period + 1  # type: ignore[operator]
    _check_grid(total, ps[-1].name)
    m = len(first.components)
    values = np.full((total, m), _MISSING_DEFAULT, order="F")
    rows = 0
    for p in ps:
        i0 = (int(p.time_ns[0]) - t0) // period  # type: ignore[operator]
        values[i0:i0 + p.time_ns.size] = p.values
        rows += p.time_ns.size
    t = t0 + np.arange(total, dtype=np.int64) * period  # type: ignore[operator]
    return t, values, period, total - rows


def _build_record(parsed: list[_Parsed]) -> xr.Dataset:
    first = min(parsed, key=lambda p: int(p.time_ns[0]))
    if len(parsed) == 1:
        t, values, period, between = first.time_ns, first.values, first.period_ns, 0
    else:
        t, values, period, between = _join(parsed)
    within = sum(p.filled_rows for p in parsed)
    h = first.header
    flags_all = np.full(values.shape, FLAG_VALID, np.int8, order="F")
    big = values >= _NOTOBS_LO  # fills are rare: classify only the large values
    if big.any():
        vb = values[big]
        flags_all[big] = np.where((vb >= _MISSING_LO) & (vb < _MISSING_HI), FLAG_MISSING,
                                  np.where(vb < _NOTOBS_HI, FLAG_NOT_OBSERVED, FLAG_VALID))
    # values are kept column-major (order="F") from the parser on: columns are contiguous
    cols, fcols = np.ascontiguousarray(values.T), np.ascontiguousarray(flags_all.T)
    comps = {c: cols[j] for j, c in enumerate(first.components)}
    flags = {c: fcols[j] for j, c in enumerate(first.components)}
    f = h.fields
    attrs: dict[str, object] = {
        "iaga_code": _map_code(f["IAGA Code"]),
        "station_name": _map_text(f.get("Station Name", "")),
        "latitude_deg": _map_latitude(f.get("Geodetic Latitude", "")),
        "longitude_deg": _map_longitude(f.get("Geodetic Longitude", "")),
        "elevation_m": _map_elevation(f.get("Elevation", "")),
        "data_type": map_data_type(f.get("Data Type", "")),
        "source": _map_text(f.get("Source of Data", "")),
        "sampling_period_s": (float(period) / _NS if period is not None else float("nan")),
    }
    for written in h.keys:
        key = _CANON_KEY.get(" ".join(written.lower().split()), written)
        attrs[_attr_name(key)] = f[key]
    attrs["iaga_header_keys"] = "\n".join(h.keys)
    attrs["iaga_comments"] = "\n".join(h.comments)
    # the file's own spelling of "missing" (MAGDAS: 99999.99), so the writer can keep it
    n_magdas = sum(p.spelling[0] for p in parsed)
    if n_magdas and n_magdas > sum(p.spelling[1] for p in parsed):
        attrs["iaga_missing_value"] = 99999.99  # MAGDAS; the writer keeps this spelling
    names = ", ".join(Path(p.name).name for p in sorted(parsed, key=lambda p: int(p.time_ns[0])))
    step = f"read IAGA-2002 {names}"
    if within:
        step += f"; {within} row(s) missing inside the file(s) inserted as missing"
    if between:
        step += f"; {between} row(s) between files filled as missing"
    ds = make_record(t.astype("datetime64[ns]"), comps, flags=flags, units=first.units,
                     attrs=attrs, history=step)
    return validate_record(ds)


# ----------------------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------------------

def _header_line(key: str, value: str) -> str:
    return (" " + key.ljust(23) + value.ljust(45))[:69] + "|"


def _comment_lines(text: str) -> list[str]:
    out = []
    for line in text.split("\n"):
        body = line.rstrip()
        while len(body) > 67:  # " #" + 67 characters + "|" = 70
            out.append(" #" + body[:67] + "|")
            body = " " + body[67:].lstrip()
        out.append((" #" + body).ljust(69) + "|")
    return out


def _fmt_float(x: float) -> str:
    return "" if not np.isfinite(x) else repr(float(x))


def _column_name(comp: str, code: str) -> str:
    if len(comp) == 1:
        return code + comp
    for ee in _EE_STATION:
        if comp == f"{ee}_{code}":
            return ee
    return comp


def _check_writable(ds: xr.Dataset) -> list[str]:
    comps = component_names(ds)
    code = str(ds.attrs.get("iaga_code", ""))
    if not re.fullmatch(r"[A-Z0-9]{2,5}", code):
        raise ValidationError("record has no usable IAGA code for an IAGA-2002 header",
                              expected="2 to 5 upper-case letters or digits", found=code)
    for c in comps:
        ok = ((len(c) == 1 and c in ELEMENTS) or c in EE_INDEX_COLUMNS
            or re.fullmatch(r"(ER|EUEL)_[A-Z0-9]{2,5}", c) is not None)
        if not ok:
            raise ValidationError(f"component {c!r} has no IAGA-2002 column",
                                  expected=f"one of {' '.join(ELEMENTS)} or an EE-index "
                                  f"column ({', '.join(EE_INDEX_COLUMNS)})", found=c)
        unit = ds[c].attrs.get("units")
        want = "arcmin" if c in _ANGLE_ELEMENTS else "nT"
        if unit != want:
            raise ValidationError(f"component {c} is in {unit!r}; IAGA-2002 needs {want}",
                                  expected=want, found=str(unit))
    return comps


def _header_block(ds: xr.Dataset, comps: list[str]) -> list[str]:
    a = ds.attrs
    code = str(a["iaga_code"])

    def orig(key: str) -> str | None:
        v = a.get(_attr_name(key))
        return None if v is None else str(v)

    period = float(a.get("sampling_period_s", np.nan))

    def interval_text() -> str:
        o = orig("Data Interval Type")
        if o is not None:
            po = parse_interval_type(o)
            if (po is None and not np.isfinite(period)) or (po is not None and po == period):
                return o
        if not np.isfinite(period):
            return o or ""
        for unit, s in (("hour", 3600.0), ("minute", 60.0), ("second", 1.0)):
            if period >= s and period % s == 0:
                return f"{period / s:g}-{unit}"
        return f"{period:g}-second"

    letters = all(len(c) == 1 for c in comps)
    derived = {
        "Format": lambda: "IAGA-2002",
        "Source of Data": lambda: _keep(orig("Source of Data"), a.get("source"), _map_text),
        "Station Name": lambda: _keep(orig("Station Name"), a.get("station_name"), _map_text),
        "IAGA Code": lambda: _keep(orig("IAGA Code"), code, _map_code),
        "Geodetic Latitude": lambda: _keep_f(orig("Geodetic Latitude"),
                                             a.get("latitude_deg"), _map_latitude),
        "Geodetic Longitude": lambda: _keep_f(orig("Geodetic Longitude"),
                                              a.get("longitude_deg"), _map_longitude),
        "Elevation": lambda: _keep_f(orig("Elevation"), a.get("elevation_m"), _map_elevation),
        "Reported": lambda: ("".join(comps) if letters else (orig("Reported") or "EE-index")),
        "Data Interval Type": interval_text,
        "Data Type": lambda: _keep(orig("Data Type"), a.get("data_type"), map_data_type,
                                   fmt=lambda v: _DATA_TYPE_WRITE.get(str(v), "")),
    }
    keys_attr = a.get("iaga_header_keys")
    keys = [k for k in str(keys_attr).split("\n") if k] if keys_attr else []
    if not keys:
        keys = list(_STANDARD_KEYS[:12])
    canon = [_CANON_KEY.get(" ".join(k.lower().split()), k) for k in keys]
    for must in ("Format", "IAGA Code"):
        if must not in canon:
            keys.insert(0 if must == "Format" else len(keys), must)
            canon.insert(0 if must == "Format" else len(canon), must)
    lines = []
    for written, key in zip(keys, canon, strict=True):
        value = derived[key]() if key in derived else (orig(key) or "")
        lines.append(_header_line(written, value))
    comments = str(a.get("iaga_comments", "") or "")
    if comments:
        lines.extend(_comment_lines(comments))
    lines.extend(_comment_lines(_PROVENANCE_PREFIX + f"{__version__} (IAGA-2002 writer)"))
    return lines


def _keep(original: str | None, value: object, mapping, fmt=None) -> str:
    """The original header text when it still maps to ``value``, else ``value`` as text."""
    if original is not None and mapping(original) == value:
        return original
    text = fmt(value) if fmt else ("" if value in (None, "unknown") else str(value))
    return text


def _keep_f(original: str | None, value: object, mapping) -> str:
    v = float("nan") if value is None else float(value)  # type: ignore[arg-type]
    if original is not None and _same_float(mapping(original), v):
        return original
    return _fmt_float(v)


def _decimals(v: np.ndarray) -> int:
    """Fewest decimals (2..6) whose text gives back every value exactly."""
    fin = v[np.isfinite(v)]
    for k in range(2, 7):
        s = np.rint(fin * 10.0 ** k)
        if np.all(s / 10.0 ** k == fin):
            return k
    return 6


def write_iaga2002(ds: xr.Dataset, dest: str | os.PathLike | IO[bytes] | IO[str]) -> None:
    """Write a station record as an IAGA-2002 file.

    Parameters
    ----------
    ds
        A station record; components must be IAGA elements (nT; D and I in arc-minutes) or
        MAGDAS EE-index columns, times whole milliseconds.
    dest
        A path (written atomically: temporary name, then renamed) or an open binary or text
        buffer.

    Raises
    ------
    ValidationError
        The record breaks the record contract or cannot be expressed in IAGA-2002.
    """
    validate_record(ds)
    comps = _check_writable(ds)
    t = ds["time"].values.astype("datetime64[ns]")
    ti = t.astype(np.int64)
    if (ti % 1_000_000).any():
        i = int(np.argmax(ti % 1_000_000 != 0))
        raise ValidationError("IAGA-2002 holds times to the millisecond",
                              expected="whole milliseconds", found=str(t[i]))
    code = str(ds.attrs["iaga_code"])
    lines = _header_block(ds, comps)
    cols_text = []
    fields = []
    fill_miss = float(ds.attrs.get("iaga_missing_value", _MISSING_DEFAULT))
    for c in comps:
        v = ds[c].values.astype(np.float64)
        fl = ds[f"{c}_flag"].values
        bad = (fl == FLAG_VALID) & ~np.isfinite(v)
        if bad.any():
            raise ValidationError(f"component {c} has a non-finite value flagged valid",
                                  expected="NaN only where flagged",
                                  found=str(t[int(np.argmax(bad))]))
        k = _decimals(np.where(fl == FLAG_VALID, v, np.nan))
        out = np.where(fl == FLAG_VALID, v, fill_miss)
        out[fl == FLAG_NOT_OBSERVED] = _NOTOBS_LO
        scaled = np.rint(np.abs(out) * 10.0 ** k)
        if scaled.size and scaled.max() >= 1e17:
            raise ValidationError(f"component {c} has a value too large for IAGA-2002",
                                  expected="|value| < 1e11", found=str(np.abs(out).max()))
        ndig = np.full(out.shape, k + 1, np.int64)
        s_int = scaled.astype(np.int64)
        q = k + 1
        while out.size and 10 ** q <= s_int.max():
            ndig += s_int >= 10 ** q
            q += 1
        longest = int((ndig + np.signbit(out)).max()) + 1 if out.size else 0  # + the dot
        width = max(10, longest + 1)
        fields.append((s_int, np.signbit(out), ndig, k, width))
        cols_text.append(("  " + _column_name(c, code)).ljust(width))
    head = ("DATE       TIME         DOY   " + "".join(cols_text)).rstrip()
    lines.append(head.ljust(69) + "|")
    text = ("\n".join(lines) + "\n").encode("utf-8") + _format_rows(t, fields)
    if isinstance(dest, (str, os.PathLike)):
        with atomic_path(dest) as tmp:
            tmp.write_bytes(text)
        return
    if isinstance(dest, io.TextIOBase):
        dest.write(text.decode("utf-8"))
    else:
        dest.write(text)  # type: ignore[arg-type]


def _format_rows(t: np.ndarray, fields: list) -> bytes:
    """Data lines as one block of bytes, built column by column in a 2-D uint8 array.

    ``fields``: per component (integer of |value| * 10**decimals, negative?, digit count,
    decimals, field width). The text of a value is exactly ``"%.{k}f" % value``, since the
    writer picked ``k`` so that the scaled integer is exact.
    """
    n = t.size
    widths = [f[4] for f in fields]
    out = np.full((n, 30 + sum(widths) + 1), 32, np.uint8)
    out[:, -1] = 10
    day = t.astype("datetime64[D]")
    month = day.astype("datetime64[M]")
    year = day.astype("datetime64[Y]")
    rem = (t - day).astype(np.int64)

    def put(col: int, val: np.ndarray, nd: int) -> None:
        for i in range(nd):
            out[:, col + nd - 1 - i] = 48 + (val // 10 ** i) % 10

    put(0, year.astype(np.int64) + 1970, 4)
    put(5, month.astype(np.int64) % 12 + 1, 2)
    put(8, (day - month).astype(np.int64) + 1, 2)
    put(11, rem // (3600 * _NS), 2)
    put(14, rem // (60 * _NS) % 60, 2)
    put(17, rem // _NS % 60, 2)
    put(20, rem // 1_000_000 % 1000, 3)
    put(24, (day - year).astype(np.int64) + 1, 3)
    out[:, [4, 7]] = ord("-")
    out[:, [13, 16]] = ord(":")
    out[:, 19] = ord(".")
    c0 = 30
    for s_int, neg, ndig, k, width in fields:
        for pos in range(width - 1):        # pos 0 is the rightmost character
            col = c0 + width - 1 - pos
            if pos == k:
                out[:, col] = 46
                continue
            q = pos - (pos > k)             # decimal place of this character
            digit = 48 + (s_int // 10 ** q) % 10
            if pos < k:
                out[:, col] = digit
            else:
                out[:, col] = np.where(q < ndig, digit,
                                       np.where((q == ndig) & neg, 45, 32))
        c0 += width
    return out.tobytes()
