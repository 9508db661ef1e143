"""Earthquake catalog readers: every one returns the validated catalog frame of
:mod:`geoanom.catalog_frame` (UTC tz-naive ``datetime64[ns]`` times, unique string ``event_id``,
sorted by time, ``attrs`` with ``source``, ``query`` and ``format``).

Formats (name used by :func:`read_catalog` in brackets):

* USGS ComCat / FDSN event service CSV [``comcat``] and FDSN text [``fdsn-text``];
* the pyCSEP CSV (``lon,lat,M,time_string,depth,catalog_id,event_id``) [``pycsep``];
* the EarthquakeNPP benchmark CSV (``id|index,time,longitude,latitude,magnitude,x,y``)
  [``earthquakenpp``];
* the NEIC "significant earthquakes 1965-2016" table, rows wrapped in quotes or not [``neic``];
* the pyCSEP JMA semicolon format with ``+0900`` offsets [``jma``];
* the AETA competition earthquake list (UTF-8 byte-order mark, UTC+8 wall times) [``aeta``];
* QuakeML through the optional ``obspy`` extra [``quakeml``];
* any other delimited text through a table mapping (:mod:`geoanom.io.table`; ``ColumnMapping``
  is its :class:`~geoanom.io.table.TableMapping`) [``mapped``];
* geoanom's own catalog CSV (the frame's columns, UTC), written by :func:`write_catalog_csv`
  with its provenance in leading ``#`` lines [``geoanom``].

Files are tokenised with the C ``csv`` module (which keeps the 1-based line of every record,
so every error can name it) and values are parsed column-wise with pandas. Every problem in a
file raises :class:`~geoanom.errors.FormatError` with the file, the line, what was expected
and what was found. Gzip-compressed files are read transparently.
"""

from __future__ import annotations

import csv
import datetime as _dt
import gzip
import inspect
import io
import os
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geoanom._atomic import atomic_write_text
from geoanom.catalog_frame import CATALOG_COLUMNS, make_catalog, validate_catalog
from geoanom.errors import ConfigError, FormatError, MissingDependencyError, ValidationError

__all__ = [
    "KNOWN_FORMATS",
    "ColumnMapping",
    "read_aeta_eqlst",
    "read_catalog",
    "read_comcat_csv",
    "read_geoanom_csv",
    "read_csv_mapped",
    "read_earthquakenpp_csv",
    "read_fdsn_text",
    "read_jma_csv",
    "read_neic_significant",
    "read_pycsep_csv",
    "read_quakeml",
    "sniff_catalog_format",
    "write_catalog_csv",
]

KNOWN_FORMATS = (
    "comcat", "fdsn-text", "pycsep", "earthquakenpp", "neic", "jma", "aeta", "quakeml", "geoanom",
    "mapped",
)

# ISO 8601 as catalogs write it, checked before pandas sees it (pandas' own ISO parser is
# lenient enough to read "07:2-6:06" as 07:02 at offset -06:06). A zone counts only after a
# time of day, so that a date such as 2020-11-08 is never read as a "-08" offset.
_ISO_NAIVE = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
_ISO_NAIVE_RE = re.compile(_ISO_NAIVE)
_ISO_ZONED_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
    r"\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?|UTC|GMT)"
)
_NAMED_UTC_RE = re.compile(r"\s*(?:UTC|GMT)$")
_OFFSET_RE = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$")
_ISO_DATE_RE = re.compile(r"^\s*\d{4}-\d{2}-\d{2}[T ]")
_EDGE_SPACE_RE = re.compile(r"(?:^|\n)[^\S\n]|[^\S\n](?:\n|$)")
_LINE_END_RE = re.compile(r"\r\n|\r|\n")

# Non-tectonic sources dropped by ``include_explosions=False``: ComCat types such as
# "explosion", "nuclear explosion", "quarry blast", "mining explosion"; NEIC "Explosion" and
# "Nuclear Explosion" (the four NEIC rows typed plain "Explosion" are at the Semipalatinsk,
# Novaya Zemlya and Mururoa test sites).
_EXPLOSION_RE = re.compile(r"explosion|blast", re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# Reading and tokenising text
# --------------------------------------------------------------------------------------------

def _read_text(path: str | os.PathLike, encoding: str = "utf-8", what: str = "catalog"
               ) -> tuple[Path, str]:
    """Decoded text of ``path`` (gzip transparently, byte-order mark dropped); ``what``
    names the kind of file in messages ("catalog", "table")."""
    p = Path(path)
    if p.is_dir():
        raise FormatError(f"a {what} must be a file", path=p, expected=f"a {what} file",
                          found="a directory")
    if not p.exists():
        raise FormatError(f"{what} file not found", path=p, expected="an existing file",
                          found="no such file")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise FormatError(f"{what} file cannot be read", path=p, expected="a readable file",
                          found=f"{type(exc).__name__}: {exc.strerror or exc}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise FormatError(f"corrupt gzip {what}", path=p, expected="a complete gzip stream",
                              found=str(exc)) from None
    if not raw.replace(b"\xef\xbb\xbf", b"").strip():
        raise FormatError(f"empty {what} file", path=p, line=1,
                          expected="a header line followed by events", found="nothing")
    nul = raw.find(b"\x00")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        raise FormatError(f"binary data in a {what} file", path=p, line=line,
                          expected="delimited text", found=repr(raw[max(0, nul - 8):nul + 8]))
    enc = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        text = raw.decode(enc)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise FormatError(f"{what} is not valid text in its encoding", path=p, line=line,
                          expected=f"{encoding} text",
                          found=repr(raw[max(0, exc.start - 8):exc.start + 8])) from None
    except LookupError:
        raise ConfigError("unknown text encoding", expected="a Python codec name",
                          found=encoding) from None
    return p, text


@dataclass
class _Table:
    """A tokenised delimited file: header names, string columns, and each row's line."""

    path: Path
    text: str
    header: list[str]
    header_line: int
    frame: pd.DataFrame
    lines: np.ndarray  # 1-based line of each row
    delimiter: str = ","

    def has(self, name: str) -> bool:
        return name in self.frame.columns

    def column(self, name: str, what: str) -> pd.Series:
        """Stripped string column ``name``; FormatError on the header line if absent."""
        if name not in self.frame.columns:
            hint = (f" (the header is one field: is the file {self.delimiter!r}-separated?)"
                    if len(self.header) == 1 else "")
            raise FormatError(f"catalog has no {what} column{hint}", path=self.path,
                              line=self.header_line, expected=f"a column named {name!r}",
                              found="columns " + ", ".join(self.header))
        col = self.frame[name]
        # stripping is a Python call per value: do it only where a value needs it, which one
        # C-speed regex over the joined column tells
        if _EDGE_SPACE_RE.search("\n".join(col.tolist())):
            col = col.str.strip()
        return col


def _tokenise(path: Path, text: str, delimiter: str, *, header_prefix: str = "") -> _Table:
    """Split ``text`` into a header and rows of strings, keeping each record's line.

    Rows wrapped whole in one pair of quotes (the NEIC table) are unwrapped and split again;
    blank lines are skipped. Every row must have as many fields as the header.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    header_line = 0
    rows: list[list[str]] = []
    lines: list[int] = []
    prev = 0  # line number reached after the previous record
    try:
        for rec in reader:
            if reader.line_num - prev > 1:
                # a quoted field ran over a line end: nearly always an unbalanced quote
                raise FormatError("a quoted field runs over several lines (unbalanced quote?)",
                                  path=path, line=prev + 1,
                                  expected="one record per line, quotes closed on the line",
                                  found=_line_of(text, prev + 1))
            prev = reader.line_num
            if not rec or (len(rec) == 1 and not rec[0].strip()):
                continue
            if header is None:
                if len(rec) == 1 and delimiter in rec[0]:
                    # the whole row was one quoted field (NEIC): split its content again
                    rec = next(csv.reader([rec[0]], delimiter=delimiter))
                header = [h.strip() for h in rec]
                if header_prefix and header[0].startswith(header_prefix):
                    header[0] = header[0][len(header_prefix):].strip()
                header_line = reader.line_num
                continue
            rows.append(rec)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise FormatError("catalog line cannot be split into fields", path=path,
                          line=prev + 1, expected=f"{delimiter!r}-delimited fields",
                          found=f"{exc}: {_line_of(text, prev + 1)}") from None
    wrapped = [i for i, r in enumerate(rows) if len(r) == 1 and delimiter in r[0]]
    if wrapped:
        # rows that were one quoted field each (NEIC): split their content in one pass
        for i, rec in zip(wrapped, csv.reader([rows[i][0] for i in wrapped],
                                              delimiter=delimiter), strict=True):
            rows[i] = rec
    if header is None:  # pragma: no cover - _read_text already refused blank files
        raise FormatError("empty catalog file", path=path, line=1, expected="a header line",
                          found="nothing")
    dup = [h for i, h in enumerate(header) if h in header[:i]]
    if dup:
        raise FormatError("repeated column name in the header", path=path, line=header_line,
                          expected="distinct column names", found=dup[0])
    n = len(header)
    counts = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    bad = np.flatnonzero(counts != n)
    if bad.size:
        i = int(bad[0])
        raise FormatError("wrong number of columns", path=path, line=lines[i],
                          expected=f"{n} {delimiter!r}-separated fields as in the header "
                                   f"(line {header_line})",
                          found=f"{counts[i]} fields: {_line_of(text, lines[i])}")
    frame = (pd.DataFrame(rows, columns=header, dtype=str) if rows else
             pd.DataFrame({h: pd.Series([], dtype=str) for h in header}))
    table = _Table(path, text, header, header_line, frame, np.asarray(lines, dtype=np.int64),
                   delimiter)
    return table


def _line_of(text: str, line: int) -> str:
    # split as the csv module counts lines (\r\n, \r or \n), not as str.splitlines does
    lines = _LINE_END_RE.split(text)
    return lines[line - 1] if 0 < line <= len(lines) else ""


def _first_header_line(text: str) -> str:
    """The first non-blank line that is not a ``#`` comment (the FDSN text header, which
    starts with ``#EventID``, counts), with a whole-line quote wrapper removed."""
    for line in text.splitlines():
        s = line.strip().lstrip("\ufeff")
        if s.startswith("#") and not s.startswith("#EventID"):
            continue
        if s:
            if len(s) > 1 and s[0] == s[-1] == '"' and s.count('"') == 2:
                s = s[1:-1]
            return s
    return ""


# --------------------------------------------------------------------------------------------
# Column parsers (vectorised, with the line of the first bad value)
# --------------------------------------------------------------------------------------------

def _fail(table: _Table, pos: int, message: str, expected: str, found: str) -> FormatError:
    return FormatError(message, path=table.path, line=int(table.lines[pos]), expected=expected,
                       found=found)


def _numbers(table: _Table, s: pd.Series, what: str, *, required: bool,
             lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Floats from string column ``s``; empty -> NaN unless ``required``; range-checked."""
    empty = (s == "").to_numpy()
    v = pd.to_numeric(s.where(~empty, None), errors="coerce").to_numpy(dtype=float,
                                                                      na_value=np.nan)
    bad = np.flatnonzero(np.isnan(v) & ~empty)
    if bad.size:
        i = int(bad[0])
        raise _fail(table, i, f"{what} is not a number", f"a number ({what})", s.iloc[i])
    if required and empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise _fail(table, i, f"event without a {what}", f"a {what} value", "an empty field")
    inf = np.flatnonzero(np.isinf(v))
    if inf.size:
        i = int(inf[0])
        raise _fail(table, i, f"{what} is not finite", f"a finite {what}", s.iloc[i])
    if lo is not None and hi is not None:
        out = np.flatnonzero((v < lo) | (v > hi))
        if out.size:
            i = int(out[0])
            raise _fail(table, i, f"{what} out of range", f"{what} in {lo:g}..{hi:g}",
                        s.iloc[i])
    return v


def _resolve_tz(tz: str | _dt.tzinfo) -> _dt.tzinfo:
    """A tzinfo from ``"UTC"``, ``"+09:00"``, ``"+0900"``, ``"UTC+8"`` or an IANA name."""
    if isinstance(tz, _dt.tzinfo):
        return tz
    s = str(tz).strip()
    if s.upper() in ("UTC", "Z", "GMT"):
        return _dt.timezone.utc
    m = _OFFSET_RE.match(s)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        hours, minutes = int(m.group(2)), int(m.group(3) or 0)
        if hours > 23 or minutes > 59:
            raise ConfigError("time-zone offset out of range", expected="-23:59..+23:59",
                              found=s)
        return _dt.timezone(sign * _dt.timedelta(hours=hours, minutes=minutes))
    try:
        return zoneinfo.ZoneInfo(s)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError("unknown time zone", expected="UTC, an offset such as +08:00, or an "
                          "IANA name such as Asia/Tokyo", found=s) from None


def _times(table: _Table, s: pd.Series, what: str, *, fmt: str | None,
           tz: str | _dt.tzinfo | None,
           zone_hint: str = "a time with a zone (Z, +09:00), or a tz for this file"
           ) -> np.ndarray:
    """UTC tz-naive ``datetime64[ns]`` from strings.

    Times that carry a zone (``Z``, ``+09:00``, ``+0900``, ``UTC``) are converted from it.
    Times without one are in ``tz``; with ``tz=None`` they are an error, because the zone of
    the file is then unknown.
    """
    s = s.reset_index(drop=True)
    empty = (s == "").to_numpy()
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise _fail(table, i, "event without a time", f"a time in {what}", "an empty field")
    if fmt is None:
        has_zone = s.str.fullmatch(_ISO_ZONED_RE).to_numpy(dtype=bool)
        iso = has_zone | s.str.fullmatch(_ISO_NAIVE_RE).to_numpy(dtype=bool)
        if not iso.all():
            i = int(np.flatnonzero(~iso)[0])
            raise _fail(table, i, "unparsable time",
                        f"an ISO 8601 time in {what}, e.g. 2011-03-11T05:46:24.120Z",
                        s.iloc[i])
        s = s.str.replace(_NAMED_UTC_RE, "+00:00", regex=True)
        parse_fmt = "ISO8601"
    else:
        has_zone = np.full(len(s), "%z" in fmt or "%Z" in fmt)
        parse_fmt = fmt
    expected = f"a time in {what} ({'ISO 8601' if fmt is None else fmt})"
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    if has_zone.any():
        aware = _to_datetime(table, s[has_zone], parse_fmt, expected, utc=True)
        out[has_zone] = _to_ns(table, s[has_zone], aware.dt.tz_localize(None), expected)
    naive_mask = ~has_zone
    if naive_mask.any():
        if tz is None:
            i = int(np.flatnonzero(naive_mask)[0])
            raise _fail(table, i, "time without a time zone, and no zone was given",
                        zone_hint, s.iloc[i])
        naive = _to_datetime(table, s[naive_mask], parse_fmt, expected, utc=False)
        zone = _resolve_tz(tz)
        if zone is not _dt.timezone.utc:
            local = naive
            naive = local.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
            bad = np.flatnonzero(naive.isna().to_numpy())
            if bad.size:
                i = int(s[naive_mask].index[bad[0]])
                raise _fail(table, i, f"local time is ambiguous or does not exist in {tz}",
                            "an unambiguous local time", s.iloc[i])
            naive = naive.dt.tz_convert("UTC").dt.tz_localize(None)
        out[naive_mask] = _to_ns(table, s[naive_mask], naive, expected)
    return out.to_numpy(dtype="datetime64[ns]")


def _to_datetime(table: _Table, s: pd.Series, fmt: str, expected: str, *, utc: bool
                 ) -> pd.Series:
    """``pd.to_datetime`` that reports the first bad value with its line."""
    try:
        parsed = pd.to_datetime(s, format=fmt, utc=utc, errors="coerce")
        if not utc and getattr(parsed.dtype, "tz", None) is not None:
            raise ValueError("a zone in a time read as zone-less")
    except (ValueError, TypeError, OverflowError):
        # rare: find the culprit element by element (only on this error path)
        for i, v in s.items():
            try:
                t = pd.to_datetime(v, format=fmt, utc=utc)
                if not utc and t.tzinfo is not None:
                    raise ValueError(v)
            except (ValueError, TypeError, OverflowError):
                raise _fail(table, int(i), "unparsable time", expected, v) from None
        raise _fail(table, int(s.index[0]), "unparsable times", expected,
                    s.iloc[0]) from None
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        i = int(s.index[bad[0]])
        raise _fail(table, i, "unparsable time", expected, s.loc[i])
    return parsed


def _to_ns(table: _Table, s: pd.Series, t: pd.Series, expected: str) -> pd.Series:
    # datetime64[ns] spans 1677-09-21 .. 2262-04-11; pandas may parse older dates at a
    # coarser unit, which the catalog contract cannot hold.
    lo, hi = pd.Timestamp.min, pd.Timestamp.max
    bad = np.flatnonzero(((t < lo) | (t > hi)).to_numpy())
    if bad.size:
        i = int(s.index[bad[0]])
        raise _fail(table, i, "time outside the representable range",
                    f"{expected} between {lo:%Y-%m-%d} and {hi:%Y-%m-%d}", s.loc[i])
    return t.astype("datetime64[ns]")


# --------------------------------------------------------------------------------------------
# Assembling the catalog
# --------------------------------------------------------------------------------------------

def _assemble(
    table: _Table,
    *,
    fmt_name: str,
    time: np.ndarray,
    lat_col: str,
    lon_col: str,
    mag_col: str,
    depth_col: str | None,
    depth_scale: float = 1.0,
    magtype_col: str | None = None,
    id_col: str | None = None,
    keep: np.ndarray | None = None,
    missing_magnitude: str = "error",
    wrap_longitude: bool = False,
    query: str = "",
    attrs: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Parse the location/size columns, check them line by line, build the frame.

    With ``wrap_longitude``, longitudes given east-positive in 0..360 are accepted and those
    above 180 become ``lon - 360`` (counted in ``attrs["n_longitudes_wrapped"]``).
    """
    if missing_magnitude not in ("error", "drop"):
        raise ConfigError("missing_magnitude must be 'error' or 'drop'",
                          expected="'error' or 'drop'", found=str(missing_magnitude))
    mag_s = table.column(mag_col, "magnitude")
    lat = _numbers(table, table.column(lat_col, "latitude"), "latitude", required=True,
                   lo=-90.0, hi=90.0)
    lon = _numbers(table, table.column(lon_col, "longitude"), "longitude", required=True,
                   lo=-180.0, hi=360.0 if wrap_longitude else 180.0)
    extra = dict(attrs or {})
    if wrap_longitude:
        east = lon > 180.0
        lon = np.where(east, lon - 360.0, lon)
        extra["n_longitudes_wrapped"] = int(east.sum())
    mag = _numbers(table, mag_s, "magnitude", required=missing_magnitude == "error")
    n = len(table.frame)
    depth = (np.full(n, np.nan) if depth_col is None else
             _numbers(table, table.column(depth_col, "depth"), "depth", required=False)
             * depth_scale)
    magtype = (np.full(n, "", dtype=object) if magtype_col is None else
               table.column(magtype_col, "magnitude type").to_numpy(dtype=object))
    ids = _event_ids(table, id_col)
    keep = np.ones(n, dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    if missing_magnitude == "drop":
        nomag = np.isnan(mag) & keep
        extra["n_without_magnitude_dropped"] = int(nomag.sum())
        keep = keep & ~nomag
    df = make_catalog(
        time[keep], lat[keep], lon[keep], mag[keep], depth_km=depth[keep],
        magnitude_type=magtype[keep], event_id=ids[keep], source=str(table.path), query=query,
    )
    df.attrs["format"] = fmt_name
    df.attrs.update(extra)
    return df


def _event_ids(table: _Table, id_col: str | None) -> np.ndarray:
    """String ids: the file's where given, else ``<file name>:<line>``; unique per file."""
    name = table.path.name

    def fallback(lines: np.ndarray) -> np.ndarray:
        return np.array([f"{name}:{ln}" for ln in lines.tolist()], dtype=object)

    if id_col is None:
        return fallback(table.lines)
    ids = table.column(id_col, "event id").to_numpy(dtype=object)
    empty = ids == ""
    if empty.any():
        ids[empty] = fallback(table.lines[empty])
    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        j = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero(ids == ids[j])[0])
        raise _fail(table, j, "duplicated event id", "unique event ids",
                    f"{ids[j]} (also on line {int(table.lines[first])})")
    return ids


def _explosion_filter(table: _Table, type_col: str | None, include: bool
                      ) -> tuple[np.ndarray | None, dict[str, Any], str]:
    """Mask of events to keep, attrs and query text for the explosion rule."""
    if type_col is None or not table.has(type_col):
        return None, {}, ""
    types = table.column(type_col, "event type")
    is_expl = types.str.contains(_EXPLOSION_RE).to_numpy()
    n_expl = int(is_expl.sum())
    if include:
        return None, {"n_explosions_excluded": 0, "n_explosions_included": n_expl}, ""
    return (~is_expl, {"n_explosions_excluded": n_expl},
            f"{type_col} not an explosion or blast ({n_expl} excluded)")


# --------------------------------------------------------------------------------------------
# Public readers
# --------------------------------------------------------------------------------------------

def read_comcat_csv(path: str | os.PathLike, *, include_explosions: bool = False,
                    missing_magnitude: str = "error") -> pd.DataFrame:
    """Read a USGS ComCat / FDSN event-service CSV (``format=csv``).

    Columns used: ``time`` (ISO 8601, ``Z``; a time without a zone is taken as UTC, as the
    FDSN specification defines), ``latitude``, ``longitude`` (degrees), ``depth`` (km,
    positive down), ``mag``, ``magType``, ``id``, and ``type`` when present.

    Parameters
    ----------
    path
        The CSV file (gzip allowed).
    include_explosions
        Keep events whose ``type`` names an explosion or a blast (dropped by default; the
        count is in ``attrs["n_explosions_excluded"]``).
    missing_magnitude
        ``"error"`` (default) or ``"drop"`` events without a magnitude (count in attrs).

    Returns
    -------
    pandas.DataFrame
        The validated catalog frame.
    """
    p, text = _read_text(path)
    table = _tokenise(p, text, ",")
    t = _times(table, table.column("time", "time"), "column 'time'", fmt=None, tz="UTC")
    keep, attrs, query = _explosion_filter(table, "type", include_explosions)
    return _assemble(table, fmt_name="comcat", time=t, lat_col="latitude",
                     lon_col="longitude", mag_col="mag", depth_col="depth",
                     magtype_col="magType" if table.has("magType") else None,
                     id_col="id" if table.has("id") else None, keep=keep,
                     missing_magnitude=missing_magnitude, query=query, attrs=attrs)


def read_fdsn_text(path: str | os.PathLike, *, include_explosions: bool = False,
                   missing_magnitude: str = "error") -> pd.DataFrame:
    """Read the FDSN event-service text format (``format=text``, ``|``-separated).

    Header ``#EventID|Time|Latitude|Longitude|Depth/km|Author|Catalog|Contributor|
    ContributorID|MagType|Magnitude|MagAuthor|EventLocationName[|EventType]``; times are UTC
    (the FDSN specification), depth in km. Parameters as :func:`read_comcat_csv`.
    """
    p, text = _read_text(path)
    table = _tokenise(p, text, "|", header_prefix="#")
    t = _times(table, table.column("Time", "time"), "column 'Time'", fmt=None, tz="UTC")
    keep, attrs, query = _explosion_filter(table, "EventType", include_explosions)
    return _assemble(table, fmt_name="fdsn-text", time=t, lat_col="Latitude",
                     lon_col="Longitude", mag_col="Magnitude",
                     depth_col="Depth/km" if table.has("Depth/km") else None,
                     magtype_col="MagType" if table.has("MagType") else None,
                     id_col="EventID", keep=keep, missing_magnitude=missing_magnitude,
                     query=query, attrs=attrs)


def read_pycsep_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read a pyCSEP catalog CSV: ``lon,lat,M,time_string,depth,catalog_id,event_id``.

    The magnitude column is ``M`` or ``mag``; ``time_string`` is ISO 8601 in UTC (pyCSEP's
    convention; an explicit offset, if present, is honoured); depth in km. Rows with an empty
    ``event_id`` get ``<file name>:<line>``. ``catalog_id`` is the stochastic-catalog number
    and is not kept.
    """
    p, text = _read_text(path)
    table = _tokenise(p, text, ",")
    mag_col = "M" if table.has("M") or not table.has("mag") else "mag"
    t = _times(table, table.column("time_string", "time"), "column 'time_string'", fmt=None,
               tz="UTC")
    return _assemble(table, fmt_name="pycsep", time=t, lat_col="lat", lon_col="lon",
                     mag_col=mag_col, depth_col="depth" if table.has("depth") else None,
                     id_col="event_id" if table.has("event_id") else None)


def read_earthquakenpp_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read an EarthquakeNPP benchmark CSV: ``id|index,time,longitude,latitude,magnitude,x,y``.

    Times (``YYYY-MM-DD hh:mm:ss.fff``) are UTC, as in the ComCat and QTM catalogs the
    benchmark was cut from. Depth is not in the format (NaN); ``x``, ``y`` (projected km) are
    not kept. ``event_id`` is the ``id`` or ``index`` value.
    """
    p, text = _read_text(path)
    table = _tokenise(p, text, ",")
    id_col = "id" if table.has("id") else ("index" if table.has("index") else None)
    t = _times(table, table.column("time", "time"), "column 'time'", fmt=None, tz="UTC")
    return _assemble(table, fmt_name="earthquakenpp", time=t, lat_col="latitude",
                     lon_col="longitude", mag_col="magnitude", depth_col=None, id_col=id_col)


def read_neic_significant(path: str | os.PathLike, *, include_explosions: bool = False
                          ) -> pd.DataFrame:
    """Read the NEIC "significant earthquakes 1965-2016" table (``database.csv``).

    Rows may be wrapped whole in one pair of double quotes (as in the copy we test on) or
    not. ``Date`` is ``MM/DD/YYYY`` and ``Time`` ``hh:mm:ss`` in UTC, except for rows whose
    ``Date`` holds a full ISO 8601 timestamp (``1975-02-23T02:58:41.000Z``; ``Time`` then
    repeats it). Depth in km; ``Magnitude Type`` and ``ID`` are kept.

    Parameters
    ----------
    include_explosions
        Keep rows whose ``Type`` is ``Nuclear Explosion`` or ``Explosion`` (dropped by
        default; the count is in ``attrs["n_explosions_excluded"]``). ``Rock Burst`` rows are
        kept.
    """
    p, text = _read_text(path)
    table = _tokenise(p, text, ",")
    date = table.column("Date", "date")
    tod = table.column("Time", "time of day")
    iso = date.str.match(_ISO_DATE_RE).to_numpy()
    if iso.any():
        # an ISO row must say the same thing in both columns (or a bare time of day)
        mismatch = np.flatnonzero(iso & (tod != date).to_numpy()
                                  & ~tod.str.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?").to_numpy())
        if mismatch.size:
            i = int(mismatch[0])
            raise _fail(table, i, "ISO timestamp in Date disagrees with Time",
                        "Time equal to the ISO Date", f"Date {date.iloc[i]}, Time {tod.iloc[i]}")
    t = np.empty(len(date), dtype="datetime64[ns]")
    if (~iso).any():
        sub = _subtable(table, ~iso)
        joined = sub.frame["Date"].str.strip() + " " + sub.frame["Time"].str.strip()
        t[~iso] = _times(sub, joined, "columns 'Date' and 'Time'", fmt="%m/%d/%Y %H:%M:%S",
                         tz="UTC")
    if iso.any():
        sub = _subtable(table, iso)
        t[iso] = _times(sub, sub.frame["Date"].str.strip(), "column 'Date'", fmt=None,
                        tz="UTC")
    keep, attrs, query = _explosion_filter(table, "Type", include_explosions)
    attrs["n_iso_timestamps"] = int(iso.sum())
    return _assemble(table, fmt_name="neic", time=t, lat_col="Latitude", lon_col="Longitude",
                     mag_col="Magnitude", depth_col="Depth",
                     magtype_col="Magnitude Type" if table.has("Magnitude Type") else None,
                     id_col="ID" if table.has("ID") else None, keep=keep, query=query,
                     attrs=attrs)


def _subtable(table: _Table, mask: np.ndarray) -> _Table:
    return _Table(table.path, table.text, table.header, table.header_line,
                  table.frame.loc[mask].reset_index(drop=True), table.lines[mask],
                  table.delimiter)


def read_jma_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read the pyCSEP JMA format: ``timestamp;longitude;latitude;depth;magnitude``.

    Timestamps carry their offset (``1919-11-10T22:31:03.590000+0900``, Japan Standard Time)
    and are converted to UTC; a timestamp without an offset is an error, since the file
    defines none. Depth in km. Ids are ``<file name>:<line>``. Longitudes are east-positive
    0..360 as in JMA's hypocenter catalog: those above 180 (events east of the antimeridian)
    become ``lon - 360``, counted in ``attrs["n_longitudes_wrapped"]``.
    """
    p, text = _read_text(path)
    table = _tokenise(p, text, ";")
    t = _times(table, table.column("timestamp", "time"), "column 'timestamp'", fmt=None,
               tz=None, zone_hint="a timestamp with its offset, e.g. "
                                  "2011-03-11T14:46:18.120000+0900")
    return _assemble(table, fmt_name="jma", time=t, lat_col="latitude", lon_col="longitude",
                     mag_col="magnitude", depth_col="depth" if table.has("depth") else None,
                     wrap_longitude=True)


AETA_TZ = "+08:00"


def read_aeta_eqlst(path: str | os.PathLike) -> pd.DataFrame:
    """Read the AETA competition earthquake list ``eqlst.csv``.

    Columns ``Longitude,Latitude,Magnitude,Time,Timestamp,Week,Location`` behind a UTF-8
    byte-order mark. ``Time`` is Beijing wall time (UTC+8, China keeps no daylight saving
    since 1991) without a zone; it is converted to UTC and checked against ``Timestamp``
    (Unix seconds) when that column is present. Depth is not given (NaN). Ids are
    ``<file name>:<line>``.
    """
    p, text = _read_text(path)
    table = _tokenise(p, text, ",")
    t = _times(table, table.column("Time", "time"), "column 'Time' (UTC+8)", fmt=None,
               tz=AETA_TZ)
    if table.has("Timestamp"):
        unix = _numbers(table, table.column("Timestamp", "Unix time"), "Unix time",
                        required=True)
        # exact second arithmetic in int64: the list is given to the second
        ts = (np.round(unix).astype(np.int64) * 1_000_000_000).astype("datetime64[ns]")
        off = np.flatnonzero(np.abs(t.astype(np.int64) // 1_000_000_000
                                    - ts.astype(np.int64) // 1_000_000_000) > 0)
        if off.size:
            i = int(off[0])
            raise _fail(table, i, "Time (UTC+8) and Timestamp (Unix, UTC) disagree",
                        f"Timestamp = Time - 8 h = {pd.Timestamp(t[i])}",
                        f"{pd.Timestamp(ts[i])}")
    return _assemble(table, fmt_name="aeta", time=t, lat_col="Latitude", lon_col="Longitude",
                     mag_col="Magnitude", depth_col=None,
                     attrs={"file_time_zone": "UTC+08:00"})


def read_csv_mapped(path: str | os.PathLike, mapping: Any) -> pd.DataFrame:
    """Read any delimited catalog through a column mapping.

    The mapping is geoanom's one table mapping (:class:`geoanom.io.table.TableMapping`,
    also importable here as ``ColumnMapping``), given as an object, a dict, a TOML file or
    a shipped name; this is :func:`geoanom.io.table.read_catalog_table`. Times carrying a
    zone are converted from it; times without one are read in the mapping's ``tz``, and if
    no ``tz`` was given that is a FormatError at the first such line.
    """
    from geoanom.io.table import read_catalog_table

    return read_catalog_table(path, mapping)


def read_quakeml(path: str | os.PathLike, *, include_explosions: bool = False) -> pd.DataFrame:
    """Read QuakeML through ObsPy (the ``quakeml`` extra).

    Each event contributes its preferred origin (else its first) and preferred magnitude
    (else its first); origin depth is converted from metres to km. Events whose
    ``event_type`` names an explosion or a blast are dropped unless ``include_explosions``.
    QuakeML errors carry no line numbers (ObsPy does not report them).

    Raises
    ------
    MissingDependencyError
        If ObsPy is not installed.
    """
    try:
        import obspy
    except ImportError:
        raise MissingDependencyError(
            "reading QuakeML needs ObsPy", path=path,
            expected="ObsPy installed (pip install geoanom[quakeml])",
            found="no importable obspy") from None
    p = Path(path)
    if p.is_dir():
        raise FormatError("a catalog must be a file", path=p, expected="a QuakeML file",
                          found="a directory")
    try:
        cat = obspy.read_events(str(p), format="QUAKEML")
    except Exception as exc:  # ObsPy raises many types on bad XML; report them as ours
        raise FormatError("not a readable QuakeML file", path=p, expected="QuakeML 1.2",
                          found=f"{type(exc).__name__}: {exc}") from None
    rows: list[tuple] = []
    n_expl = 0
    for k, ev in enumerate(cat, start=1):
        rid = str(ev.resource_id.id) if ev.resource_id is not None else f"{p.name}:event{k}"
        etype = str(ev.event_type or "")
        if _EXPLOSION_RE.search(etype):
            n_expl += 1
            if not include_explosions:
                continue
        origin = ev.preferred_origin() or (ev.origins[0] if ev.origins else None)
        mag = ev.preferred_magnitude() or (ev.magnitudes[0] if ev.magnitudes else None)
        if origin is None or origin.time is None or origin.latitude is None \
                or origin.longitude is None:
            raise FormatError(f"event {k} has no origin with time and position", path=p,
                              expected="an origin with time, latitude, longitude", found=rid)
        if mag is None or mag.mag is None:
            raise FormatError(f"event {k} has no magnitude", path=p, expected="a magnitude",
                              found=rid)
        rows.append((np.datetime64(origin.time.datetime, "ns"), float(origin.latitude),
                     float(origin.longitude),
                     np.nan if origin.depth is None else float(origin.depth) / 1000.0,
                     float(mag.mag), str(mag.magnitude_type or ""), rid))
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in range(7)]
    t = np.asarray(cols[0], dtype="datetime64[ns]")
    try:
        df = make_catalog(t, cols[1], cols[2], cols[4], depth_km=cols[3],
                          magnitude_type=cols[5], event_id=cols[6], source=str(p),
                          query="" if include_explosions else
                          f"event_type not an explosion or blast ({n_expl} excluded)")
    except ValidationError as exc:  # e.g. a latitude out of range, a repeated resource id
        raise FormatError(f"QuakeML events break the catalog contract: {exc.message}",
                          path=p, expected=exc.expected, found=exc.found) from None
    df.attrs["format"] = "quakeml"
    df.attrs["n_explosions_excluded"] = 0 if include_explosions else n_expl
    return df


# --------------------------------------------------------------------------------------------
# geoanom's own catalog CSV
# --------------------------------------------------------------------------------------------

GEOANOM_MAGIC = "# geoanom catalog csv 1"


def write_catalog_csv(
    df: pd.DataFrame,
    path: str | os.PathLike,
    *,
    config: object | None = None,
    inputs: Sequence[str | os.PathLike] = (),
    seeds: Mapping[str, int] | None = None,
) -> Path:
    """Write a catalog frame as CSV, atomically, with its provenance.

    The file starts with ``#`` lines (a format line and ``# provenance: <JSON>`` holding the
    package version, ``config`` and its hash, input checksums, seeds, and the frame's
    ``attrs``), then the header ``time,latitude_deg,longitude_deg,depth_km,magnitude,
    magnitude_type,event_id``. Times are ISO 8601 UTC to the nanosecond with ``Z``; floats
    are written with full precision, so :func:`read_geoanom_csv` gives the frame back exactly.
    ``pandas.read_csv(path, comment="#")`` reads it too.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    from geoanom.provenance import canonical_json, provenance

    validate_catalog(df)
    attrs = {k: v for k, v in df.attrs.items()}
    prov = provenance(config=config, inputs=inputs, seeds=seeds,
                      extra={"catalog_attrs": attrs})
    out = df.loc[:, list(CATALOG_COLUMNS)].copy()
    out["time"] = np.char.add(np.datetime_as_string(df["time"].to_numpy("datetime64[ns]"),
                                                    unit="ns"), "Z")
    body = out.to_csv(index=False, lineterminator="\n")
    text = f"{GEOANOM_MAGIC}\n# provenance: {canonical_json(prov)}\n{body}"
    p = Path(path)
    atomic_write_text(p, text)
    return p


def read_geoanom_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read geoanom's catalog CSV (see :func:`write_catalog_csv`).

    Leading ``#`` lines are skipped; ``# provenance: {...}`` restores the frame's ``attrs``
    (``source``, ``query`` ...) and is kept in ``attrs["provenance"]``. Times without a zone
    are UTC, as the catalog contract defines (a CSV written by ``DataFrame.to_csv`` from a
    catalog frame reads too); depth in km.
    """
    import json

    p, text = _read_text(path)
    lines = text.split("\n")
    meta: dict[str, Any] = {}
    for i, ln in enumerate(lines):
        s = ln.strip()
        if not s.startswith("#"):
            if s:
                break
            continue
        if s.startswith("# provenance:"):
            try:
                meta = json.loads(s[len("# provenance:"):])
            except ValueError:
                raise FormatError("unreadable provenance line", path=p, line=i + 1,
                                  expected="# provenance: <JSON object>", found=s) from None
        lines[i] = ""  # blank keeps every later line number
    table = _tokenise(p, "\n".join(lines), ",")
    t = _times(table, table.column("time", "time"), "column 'time'", fmt=None, tz="UTC")
    attrs = dict(meta.get("catalog_attrs") or {}) if isinstance(meta, dict) else {}
    query = str(attrs.pop("query", ""))
    attrs.pop("source", None)
    attrs.pop("format", None)
    if meta:
        attrs["provenance"] = meta
    df = _assemble(table, fmt_name="geoanom", time=t, lat_col="latitude_deg",
                   lon_col="longitude_deg", mag_col="magnitude", depth_col="depth_km",
                   magtype_col="magnitude_type", id_col="event_id", query=query, attrs=attrs)
    if meta.get("catalog_attrs", {}).get("source"):
        df.attrs["origin_source"] = meta["catalog_attrs"]["source"]
    return df



# --------------------------------------------------------------------------------------------
# Sniffing and dispatch
# --------------------------------------------------------------------------------------------

def _sniff_header(line: str) -> str | None:
    s = line.lstrip("\ufeff").strip()
    if s.startswith("<"):
        return "quakeml" if "quakeml" in s.lower() or s.startswith("<?xml") else None
    if s.startswith("#") and "|" in s:
        names = {c.strip() for c in s.lstrip("#").split("|")}
        return "fdsn-text" if {"EventID", "Time", "Latitude", "Magnitude"} <= names else None
    if ";" in s:
        names = {c.strip() for c in s.split(";")}
        return "jma" if {"timestamp", "longitude", "latitude", "magnitude"} <= names else None
    names = {c.strip() for c in next(csv.reader([s]))}
    if set(CATALOG_COLUMNS) <= names:
        return "geoanom"
    if {"time", "latitude", "longitude", "mag"} <= names:
        return "comcat"
    if {"lon", "lat", "time_string"} <= names and names & {"M", "mag"}:
        return "pycsep"
    if {"time", "longitude", "latitude", "magnitude", "x", "y"} <= names:
        return "earthquakenpp"
    if {"Date", "Time", "Latitude", "Longitude", "Type", "Magnitude"} <= names:
        return "neic"
    if {"Longitude", "Latitude", "Magnitude", "Time", "Timestamp"} <= names:
        return "aeta"
    return None


def sniff_catalog_format(path: str | os.PathLike) -> str:
    """The name of the format of ``path``, recognised from its header line.

    Raises
    ------
    FormatError
        If the header matches no known format (the message lists them).
    """
    p, text = _read_text(path)
    head = _first_header_line(text)
    if head.startswith("<?xml") or head.startswith("<"):
        # the QuakeML root element may come after the XML declaration
        return "quakeml" if "quakeml" in text[:2000].lower() else _unknown(p, head)
    name = _sniff_header(head)
    if name is None:
        _unknown(p, head)
    return name  # type: ignore[return-value]


def _unknown(p: Path, head: str) -> str:
    line = next((i for i, ln in enumerate(p.read_bytes().decode("utf-8", "replace")
                                           .splitlines(), 1) if ln.strip()), 1)
    raise FormatError("unrecognised catalog format", path=p, line=line,
                      expected="a header of one of the formats " + ", ".join(KNOWN_FORMATS[:-1])
                      + " (or use read_csv_mapped with a column mapping)", found=head)


_READERS = {
    "comcat": read_comcat_csv,
    "fdsn-text": read_fdsn_text,
    "pycsep": read_pycsep_csv,
    "earthquakenpp": read_earthquakenpp_csv,
    "neic": read_neic_significant,
    "jma": read_jma_csv,
    "aeta": read_aeta_eqlst,
    "quakeml": read_quakeml,
    "geoanom": read_geoanom_csv,
    "mapped": read_csv_mapped,
}


def read_catalog(path: str | os.PathLike, format: str = "auto", **kw: Any) -> pd.DataFrame:
    """Read a catalog file in any supported format into the validated catalog frame.

    Parameters
    ----------
    path
        The catalog file.
    format
        ``"auto"`` (recognise it from the header line) or one of :data:`KNOWN_FORMATS`.
        ``"mapped"`` needs ``mapping=`` (see :class:`ColumnMapping`).
    **kw
        Passed to the reader (``include_explosions``, ``missing_magnitude``, ``mapping``).
    """
    name = format.lower().replace("_", "-") if isinstance(format, str) else format
    if name == "auto":
        name = sniff_catalog_format(path)
    if name not in _READERS:
        raise FormatError("unknown catalog format", path=path,
                          expected="auto or one of " + ", ".join(KNOWN_FORMATS),
                          found=str(format))
    reader = _READERS[name]
    try:
        inspect.signature(reader).bind(path, **kw)
    except TypeError as exc:
        raise ConfigError(f"bad options for the {name} catalog reader",
                          expected="the reader's keyword arguments", found=str(exc)) from None
    return reader(path, **kw)


# the one mapping format of geoanom (records and catalogs); imported last because
# geoanom.io.table uses this module's tokeniser and column parsers
from geoanom.io.table import TableMapping as ColumnMapping  # noqa: E402
