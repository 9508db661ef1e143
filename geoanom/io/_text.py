"""Delimited text, shared by the catalog, mapped-table and activity-index readers.

:func:`read_text` gives a file's text (gzip read transparently, byte-order mark dropped),
:func:`tokenise` splits it into a :class:`Table` of string columns that keeps the 1-based line
of every row, and the column parsers (:func:`parse_numbers`, :func:`parse_times`,
:func:`assemble_catalog`) turn columns into values. Every problem is a
:class:`~geoanom.errors.FormatError` naming the file, the line, what was expected and what was
found.
"""

from __future__ import annotations

import csv
import datetime as _dt
import gzip
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

from geoanom.catalog_frame import make_catalog
from geoanom.errors import ConfigError, FormatError

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
_EDGE_SPACE_RE = re.compile(r"(?:^|\n)[^\S\n]|[^\S\n](?:\n|$)")
_LINE_END_RE = re.compile(r"\r\n|\r|\n")


# --------------------------------------------------------------------------------------------
# Reading and tokenising text
# --------------------------------------------------------------------------------------------

def read_text(path: str | os.PathLike, encoding: str = "utf-8", what: str = "catalog"
              ) -> tuple[Path, str]:
    """Decoded text of ``path`` (gzip transparently, byte-order mark dropped); ``what``
    names the kind of file in messages ("catalog", "table", "activity index")."""
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
class Table:
    """A tokenised delimited file: header names, string columns, and each row's line."""

    path: Path
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

    def subset(self, mask: np.ndarray) -> Table:
        """The rows where ``mask`` is True, with their lines."""
        return Table(self.path, self.header, self.header_line,
                     self.frame.loc[mask].reset_index(drop=True), self.lines[mask],
                     self.delimiter)

def tokenise(path: Path, text: str, delimiter: str, *, header: bool = True,
             names: Sequence[str] | None = None, skip_lines: int = 0,
             comment: str | None = None, header_prefix: str = "", quoted_rows: bool = False,
             require_rows: bool = False, what: str = "catalog") -> Table:
    """Split ``text`` into a header and rows of strings, keeping each row's 1-based line.

    Blank lines are skipped. A quoted field may not run over a line end, and every row must
    have as many fields as the header.

    Parameters
    ----------
    path
        The file (named in errors).
    text
        Its text (:func:`read_text`).
    delimiter
        The field separator, or ``"whitespace"`` (runs of blanks and tabs).
    header
        The first row names the columns; without a header they are ``names`` or, without
        those, the 1-based column numbers ``"1"``, ``"2"``...
    names
        Column names given by a mapping (they replace a header's, which must have as many).
    skip_lines
        Lines to skip at the top of the file.
    comment
        Lines whose first non-blank text starts with this string are skipped.
    header_prefix
        Removed from the first header name (the ``#`` of FDSN text's ``#EventID``).
    quoted_rows
        Rows wrapped whole in one pair of quotes (the NEIC table) are unwrapped and split.
    require_rows
        A header without data lines is an error.
    what
        The kind of file in messages ("catalog", "table", "activity index").
    """
    skipping = bool(skip_lines) or comment is not None
    body = _blank_skipped(path, text, skip_lines, comment) if skipping else text
    rows, lines = (_whitespace_rows(body) if delimiter == "whitespace"
                   else _csv_rows(path, body, delimiter, what))
    if not rows:
        if skipping:
            raise FormatError(f"nothing left after skipping {skip_lines} lines and blank or "
                              "comment lines", path=path, line=skip_lines + 1,
                              expected="a header or data lines",
                              found="only blank or comment lines")
        raise FormatError(  # pragma: no cover - read_text already refused blank files
            f"empty {what} file", path=path, line=1, expected="a header line", found="nothing")
    if quoted_rows:
        _unwrap_quoted_rows(rows, delimiter)
    header_line = lines[0]
    if header:
        columns = [h.strip() for h in rows[0]]
        if header_prefix and columns[0].startswith(header_prefix):
            columns[0] = columns[0][len(header_prefix):].strip()
        rows, lines = rows[1:], lines[1:]
        if names is not None:
            if len(names) != len(columns):
                raise FormatError("the mapping's names do not match the header", path=path,
                                  line=header_line,
                                  expected=f"{len(names)} columns ({', '.join(names)})",
                                  found=f"{len(columns)} columns: {', '.join(columns)}")
            columns = list(names)
    else:
        columns = (list(names) if names is not None else
            [str(i + 1) for i in range(len(rows[0]))])
    dup = [h for i, h in enumerate(columns) if h in columns[:i]]
    if dup:
        raise FormatError("repeated column name in the header", path=path, line=header_line,
                          expected="distinct column names", found=dup[0])
    if require_rows and not rows:
        raise FormatError(f"the {what} has no data lines", path=path, line=header_line,
                          expected="data lines after the header", found="none")
    n = len(columns)
    counts = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    bad = np.flatnonzero(counts != n)
    if bad.size:
        i = int(bad[0])
        delim = "whitespace" if delimiter == "whitespace" else repr(delimiter)
        raise FormatError("wrong number of columns", path=path, line=lines[i],
                          expected=f"{n} {delim}-separated fields"
                                   + (f" as in the header (line {header_line})" if header
                                      else f" ({', '.join(columns)})"),
                          found=f"{counts[i]} fields: {line_of(text, lines[i])}")
    frame = (pd.DataFrame(rows, columns=columns, dtype=str) if rows else
             pd.DataFrame({h: pd.Series([], dtype=str) for h in columns}))
    return Table(path, columns, header_line, frame, np.asarray(lines, dtype=np.int64),
                 delimiter)


def _blank_skipped(path: Path, text: str, skip_lines: int, comment: str | None) -> str:
    """``text`` with its first ``skip_lines`` lines and its comment lines made blank (so
    that every other line keeps its number)."""
    lines = _LINE_END_RE.split(text)
    if skip_lines >= len(lines):
        raise FormatError(f"nothing left after skipping {skip_lines} lines", path=path,
                          line=min(skip_lines, len(lines)), expected="a header or data "
                          "lines after the skipped ones", found=f"{len(lines)} lines in all")
    kept = ["" if comment is not None and ln.lstrip().startswith(comment) else ln
            for ln in lines[skip_lines:]]
    return "\n".join([""] * skip_lines + kept)


def _whitespace_rows(text: str) -> tuple[list[list[str]], list[int]]:
    """Rows split at runs of blanks and tabs, and their lines (blank lines skipped)."""
    rows: list[list[str]] = []
    lines: list[int] = []
    for k, ln in enumerate(_LINE_END_RE.split(text), start=1):
        fields = ln.split()
        if fields:
            rows.append(fields)
            lines.append(k)
    return rows, lines


def _csv_rows(path: Path, text: str, delimiter: str, what: str
              ) -> tuple[list[list[str]], list[int]]:
    """Rows split by the C ``csv`` module, and their lines (blank lines skipped)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    blank_splits = delimiter.isspace()  # a tab-separated file's blank line has fields
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
                                  found=line_of(text, prev + 1))
            prev = reader.line_num
            if not any(f.strip() for f in rec) and (len(rec) <= 1 or blank_splits):
                continue  # a blank line
            rows.append(rec)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise FormatError(f"{what} line cannot be split into fields", path=path,
                          line=prev + 1, expected=f"{delimiter!r}-delimited fields",
                          found=f"{exc}: {line_of(text, prev + 1)}") from None
    return rows, lines


def _unwrap_quoted_rows(rows: list[list[str]], delimiter: str) -> None:
    """Split again, in place and in one pass, the rows that were one quoted field each."""
    wrapped = [i for i, r in enumerate(rows) if len(r) == 1 and delimiter in r[0]]
    for i, rec in zip(wrapped, csv.reader([rows[i][0] for i in wrapped], delimiter=delimiter),
                      strict=True):
        rows[i] = rec


def line_of(text: str, line: int) -> str:
    """Line ``line`` (1-based) of ``text``, split as the csv module counts lines (``\\r\\n``,
    ``\\r`` or ``\\n``, not as str.splitlines does); empty beyond the text."""
    lines = _LINE_END_RE.split(text)
    return lines[line - 1] if 0 < line <= len(lines) else ""


# --------------------------------------------------------------------------------------------
# Column parsers (vectorised, with the line of the first bad value)
# --------------------------------------------------------------------------------------------

def row_error(table: Table, pos: int, message: str, expected: str, found: str) -> FormatError:
    """The FormatError of row ``pos`` (0-based) of ``table``, naming its file and line."""
    return FormatError(message, path=table.path, line=int(table.lines[pos]), expected=expected,
                       found=found)


def parse_numbers(table: Table, s: pd.Series, what: str, *, required: bool,
                  lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Floats from string column ``s``; empty -> NaN unless ``required``; range-checked."""
    empty = (s == "").to_numpy()
    v = pd.to_numeric(s.where(~empty, None), errors="coerce").to_numpy(dtype=float,
                                                                      na_value=np.nan)
    bad = np.flatnonzero(np.isnan(v) & ~empty)
    if bad.size:
        i = int(bad[0])
        raise row_error(table, i, f"{what} is not a number", f"a number ({what})", s.iloc[i])
    if required and empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise row_error(table, i, f"event without a {what}", f"a {what} value", "an empty field")
    inf = np.flatnonzero(np.isinf(v))
    if inf.size:
        i = int(inf[0])
        raise row_error(table, i, f"{what} is not finite", f"a finite {what}", s.iloc[i])
    if lo is not None and hi is not None:
        out = np.flatnonzero((v < lo) | (v > hi))
        if out.size:
            i = int(out[0])
            raise row_error(table, i, f"{what} out of range", f"{what} in {lo:g}..{hi:g}",
                            s.iloc[i])
    return v


def resolve_tz(tz: str | _dt.tzinfo) -> _dt.tzinfo:
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


def parse_times(table: Table, s: pd.Series, what: str, *, fmt: str | None,
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
        raise row_error(table, i, "event without a time", f"a time in {what}", "an empty field")
    if fmt is None:
        has_zone = s.str.fullmatch(_ISO_ZONED_RE).to_numpy(dtype=bool)
        iso = has_zone | s.str.fullmatch(_ISO_NAIVE_RE).to_numpy(dtype=bool)
        if not iso.all():
            i = int(np.flatnonzero(~iso)[0])
            raise row_error(table, i, "unparsable time",
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
            raise row_error(table, i, "time without a time zone, and no zone was given",
                            zone_hint, s.iloc[i])
        naive = _to_datetime(table, s[naive_mask], parse_fmt, expected, utc=False)
        zone = resolve_tz(tz)
        if zone is not _dt.timezone.utc:
            local = naive
            naive = local.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
            bad = np.flatnonzero(naive.isna().to_numpy())
            if bad.size:
                i = int(s[naive_mask].index[bad[0]])
                raise row_error(table, i, f"local time is ambiguous or does not exist in {tz}",
                                "an unambiguous local time", s.iloc[i])
            naive = naive.dt.tz_convert("UTC").dt.tz_localize(None)
        out[naive_mask] = _to_ns(table, s[naive_mask], naive, expected)
    return out.to_numpy(dtype="datetime64[ns]")


def _to_datetime(table: Table, s: pd.Series, fmt: str, expected: str, *, utc: bool
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
                raise row_error(table, int(i), "unparsable time", expected, v) from None
        raise row_error(table, int(s.index[0]), "unparsable times", expected,
                        s.iloc[0]) from None
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        i = int(s.index[bad[0]])
        raise row_error(table, i, "unparsable time", expected, s.loc[i])
    return parsed


def _to_ns(table: Table, s: pd.Series, t: pd.Series, expected: str) -> pd.Series:
    # datetime64[ns] spans 1677-09-21 .. 2262-04-11; pandas may parse older dates at a
    # coarser unit, which the catalog contract cannot hold.
    lo, hi = pd.Timestamp.min, pd.Timestamp.max
    bad = np.flatnonzero(((t < lo) | (t > hi)).to_numpy())
    if bad.size:
        i = int(s.index[bad[0]])
        raise row_error(table, i, "time outside the representable range",
                        f"{expected} between {lo:%Y-%m-%d} and {hi:%Y-%m-%d}", s.loc[i])
    return t.astype("datetime64[ns]")


# --------------------------------------------------------------------------------------------
# Assembling a catalog
# --------------------------------------------------------------------------------------------

def assemble_catalog(
    table: Table,
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
    lat = parse_numbers(table, table.column(lat_col, "latitude"), "latitude", required=True,
                        lo=-90.0, hi=90.0)
    lon = parse_numbers(table, table.column(lon_col, "longitude"), "longitude", required=True,
                        lo=-180.0, hi=360.0 if wrap_longitude else 180.0)
    extra = dict(attrs or {})
    if wrap_longitude:
        east = lon > 180.0
        lon = np.where(east, lon - 360.0, lon)
        extra["n_longitudes_wrapped"] = int(east.sum())
    mag = parse_numbers(table, mag_s, "magnitude", required=missing_magnitude == "error")
    n = len(table.frame)
    depth = (np.full(n, np.nan) if depth_col is None else
             parse_numbers(table, table.column(depth_col, "depth"), "depth", required=False)
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


def _event_ids(table: Table, id_col: str | None) -> np.ndarray:
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
        raise row_error(table, j, "duplicated event id", "unique event ids",
                        f"{ids[j]} (also on line {int(table.lines[first])})")
    return ids

