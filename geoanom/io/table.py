"""Delimited text tables read through a column mapping: station records and catalogs.

A *table mapping* (:class:`TableMapping`) says how to read a delimited text file nobody
wrote a reader for. It is one small TOML file (or a dict, or ``--map-set KEY=VALUE`` on the
command line: the keys are the same). Shipped mappings live in ``geoanom/mappings/*.toml``
and are named by their file stem (``magdas-euel``, ``world-m5``); :func:`load_mapping` takes
a file or such a name.

Keys (all optional unless said otherwise)
-----------------------------------------

File layout

``kind``
    ``"record"`` or ``"catalog"``; inferred from the other keys when left out (``components``
    make a record, ``latitude``/``longitude``/``magnitude`` a catalog).
``delimiter``
    The field separator: ``","`` (default), ``";"``, ``"|"``, ``"tab"`` (or ``"\\t"``), or
    ``"whitespace"`` (runs of blanks and tabs).
``header``
    True (default): the first line after ``skip_lines`` names the columns (spaces around
    the names are dropped: ``date, station_code`` reads). False: there is no header; the
    columns are named by ``names`` or, without it, by their 1-based number (``"1"``,
    ``"2"``...; a TOML integer such as ``time = 1`` works too).
``names``
    Column names, in file order (for a headerless file, or to rename a header's columns).
``skip_lines``
    Lines to skip at the top of the file before the header or the data (default 0).
``comment``
    Lines whose first non-blank text starts with this string are ignored (e.g. ``"#"``).
``encoding``
    Text encoding (default UTF-8; a byte-order mark is dropped). Gzip files read as is.
``fill_values``
    Values that mean "no value": strings (compared without case and surrounding blanks,
    e.g. ``"nan"``, ``"NA"``, ``""``) or numbers (compared numerically, e.g. ``99999``).
    Default ``[""]`` (an empty field). Fills become missing samples (flag 1, NaN).

Time (required)

``time``
    The time column, or a list of columns whose texts are joined with one space (e.g.
    ``["date", "time"]``).
``time_format``
    How to read the (joined) text: left out or ``"iso"``: ISO 8601 (``2018-10-23 00:00:00``,
    ``2011-03-11T05:46:24Z``, ``2000-01-01``); a ``strftime`` pattern (``"%d/%m/%Y %H:%M"``);
    ``"unix"``: seconds since 1970-01-01 UTC in one column; ``"parts"``: numeric columns
    year, month, day and optionally hour, minute, second, in this order (floats such as
    ``2007.0`` are accepted when they are whole; seconds may have a fraction).
``tz``
    The time zone of times that carry none: ``"UTC"``, an offset (``"+09:00"``, ``"UTC+8"``)
    or an IANA name (``"Asia/Tokyo"``). Required for zone-less times (a wrong guess would
    shift every time silently). Times that carry a zone (``Z``, ``+09:00``) are converted
    from it.

Records (``kind = "record"``)

``components``
    The component columns: a list of names (the column name is the component name, units
    from the IAGA element letter: ``X Y Z F H E`` in nT, ``D I`` in arcmin), or a table
    ``NAME = {column = "...", units = "nT"}`` (``NAME = "column"`` when the units are
    known from the name). Units are required for any other component name.
``station``
    The station code (IAGA-style, e.g. ``"DAV"``) of a one-station file.
``station_column``
    For long-format files (one row per station and time): the column holding the station
    code; the file then gives one record per station.
``stations``
    Keep only these station codes of a long-format file.
``station_name``, ``latitude_deg``, ``longitude_deg``, ``elevation_m``
    The station's name and coordinates (degrees, east-positive; metres) for a one-station
    file.
``station_table``
    Where to look up names and coordinates by code: ``"magdas"`` (the MAGDAS station list
    shipped in ``geoanom/mappings/stations_magdas.csv``) or a CSV file with columns
    ``code,name,latitude_deg,longitude_deg`` (optional ``elevation_m``), relative to the
    mapping file. Values given in the mapping itself win; a code found in neither is looked
    up in geoanom's station registry (``geoanom stations list``). A station found nowhere
    keeps unknown (NaN) coordinates and gives a warning.
``sampling_period_s``
    The cadence in seconds. Default: the smallest step between two rows of a station.
    Every step must be a whole number of periods; rows missing in between are inserted
    as missing samples (counted in the record's history).
``data_type``, ``source``
    Record attrs (defaults ``"unknown"`` and the file path).

Catalogs (``kind = "catalog"``)

``latitude``, ``longitude``, ``magnitude`` (required), ``depth``, ``magnitude_type``,
``event_id``
    Column names (degrees; depth positive down in ``depth_unit``).
``depth_unit``
    ``"km"`` (default) or ``"m"``.
``longitude_0_360``
    Longitudes are east-positive 0..360; those above 180 become ``lon - 360``.

Errors: a bad mapping is a :class:`~geoanom.errors.ConfigError` naming the mapping file
and the key; a file that does not follow its mapping is a
:class:`~geoanom.errors.FormatError` naming the file, the 1-based line, the column, what
was expected and what was found.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from geoanom._toml import located, read_toml
from geoanom.errors import ConfigError, FormatError, GeoanomWarning
from geoanom.io._text import (
    Table,
    assemble_catalog,
    parse_numbers,
    parse_times,
    read_text,
    resolve_tz,
    row_error,
    tokenise,
)
from geoanom.record import DATA_TYPES, DEFAULT_UNITS, make_record, validate_record
from geoanom.stations import SHIPPED_TABLES, load_stations, station_table

__all__ = [
    "SHIPPED_DIR",
    "TableMapping",
    "load_mapping",
    "read_catalog_table",
    "read_record_table",
    "shipped_mappings",
    "station_table",
]

#: Folder of the mappings and station tables shipped with geoanom.
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "mappings"

_KINDS = ("record", "catalog")
_DELIMITERS = {",": ",", ";": ";", "|": "|", "tab": "\t", "\t": "\t", "\\t": "\t",
               "whitespace": "whitespace", " ": "whitespace", "space": "whitespace"}
_CATALOG_KEYS = ("latitude", "longitude", "magnitude", "depth", "magnitude_type", "event_id",
                 "depth_unit", "longitude_0_360")
_RECORD_KEYS = ("components", "station", "station_column", "stations", "station_name",
                "latitude_deg", "longitude_deg", "elevation_m", "station_table",
                "sampling_period_s", "data_type", "source")
_MAX_GRID_ROWS = 50_000_000
_NS = 1_000_000_000


def _as_name(v: Any) -> str:
    """A column reference: a name, or a 1-based column number given as an int."""
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        raise ConfigError("a column must be named by a string (or its 1-based number)",
                          expected="a column name such as 'date' or a number such as 1",
                          found=repr(v))
    return str(v).strip()


def _opt_name(v: Any) -> str | None:
    return None if v is None else _as_name(v)


@dataclass(frozen=True)
class TableMapping:
    """How to read one delimited text table (see the module docstring for every key).

    Build it with :meth:`from_toml`, :meth:`from_dict` or :func:`load_mapping`; the
    constructor takes the same keys as keyword arguments and checks them (ConfigError).
    """

    time: str | tuple[str, ...] = ()
    kind: str | None = None
    name: str = ""
    description: str = ""
    delimiter: str = ","
    header: bool = True
    names: tuple[str, ...] | None = None
    skip_lines: int = 0
    comment: str | None = None
    encoding: str = "utf-8"
    fill_values: tuple[str | float, ...] = ("",)
    time_format: str | None = None
    tz: str | None = None
    # catalogs
    latitude: str | None = None
    longitude: str | None = None
    magnitude: str | None = None
    depth: str | None = None
    magnitude_type: str | None = None
    event_id: str | None = None
    depth_unit: str = "km"
    longitude_0_360: bool = False
    # records
    components: tuple[tuple[str, str, str], ...] = ()
    station: str | None = None
    station_column: str | None = None
    stations: tuple[str, ...] | None = None
    station_name: str | None = None
    latitude_deg: float | None = None
    longitude_deg: float | None = None
    elevation_m: float | None = None
    station_table: str | None = None
    sampling_period_s: float | None = None
    data_type: str = "unknown"
    source: str | None = None
    path: str | None = field(default=None, compare=False)

    # ------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        # checked in this order (the first problem found is the one reported)
        self._check_time()
        self._check_layout()
        if self._check_kind() == "catalog":
            self._check_catalog()
        else:
            self._check_record()

    def _bad(self, msg: str, expected: str, found: Any) -> ConfigError:
        """The ConfigError of a bad key (message prefixed, mapping file named)."""
        return ConfigError(f"table mapping: {msg}", expected=expected, found=str(found),
                           path=self.path)

    def _check_time(self) -> None:
        """``time`` (column or columns), ``time_format`` and ``tz``; normalises them."""
        set_, bad = object.__setattr__, self._bad
        t = self.time
        cols = ([t] if isinstance(t, (str, int)) and not isinstance(t, bool) else
            list(t) if isinstance(t, (list, tuple)) else None)
        if cols is None:
            raise bad("'time' must name a column or a list of columns",
                      "time = 'date' or time = ['date', 'time']", repr(t))
        cols = [_as_name(c) for c in cols]
        if not cols or any(not c for c in cols):
            raise bad("the mapping names no time column", "time = 'column' (or a list)",
                      "none")
        set_(self, "time", cols[0] if len(cols) == 1 else tuple(cols))
        fmt = self.time_format
        if fmt is not None:
            if not isinstance(fmt, str) or not fmt.strip():
                raise bad("'time_format' must be a non-empty string",
                          "'iso', 'unix', 'parts' or a strftime pattern", repr(fmt))
            if fmt.lower() in ("iso", "iso8601", "iso 8601"):
                fmt = None
            elif fmt.lower() in ("unix", "parts"):
                fmt = fmt.lower()
            elif "%" not in fmt:
                raise bad("'time_format' is not a strftime pattern",
                          "'iso', 'unix', 'parts' or a pattern such as '%Y-%m-%d %H:%M:%S'",
                          fmt)
            set_(self, "time_format", fmt)
        if fmt == "unix" and len(cols) != 1:
            raise bad("time_format 'unix' reads one column", "time = 'column'", cols)
        if fmt == "parts" and not 3 <= len(cols) <= 6:
            raise bad("time_format 'parts' needs the year, month, day [, hour, minute, "
                      "second] columns", "3 to 6 columns in that order", cols)
        if self.tz is not None:
            if not isinstance(self.tz, str):
                raise bad("'tz' must be a string", "'UTC', '+09:00' or 'Asia/Tokyo'",
                          repr(self.tz))
            try:
                resolve_tz(self.tz)
            except ConfigError as exc:
                raise bad(exc.message, exc.expected or "", exc.found) from None

    def _check_layout(self) -> None:
        """Text layout keys: delimiter, header, skip_lines, names, comment, encoding,
        fill_values; normalises them."""
        set_, bad = object.__setattr__, self._bad
        d = self.delimiter
        if not isinstance(d, str) or d not in _DELIMITERS:
            raise bad("unknown delimiter", "',', ';', '|', 'tab' or 'whitespace'", repr(d))
        set_(self, "delimiter", _DELIMITERS[d])
        if not isinstance(self.header, bool):
            raise bad("'header' must be true or false", "true or false", repr(self.header))
        if (isinstance(self.skip_lines, bool) or not isinstance(self.skip_lines, int)
                or self.skip_lines < 0):
            raise bad("'skip_lines' must be a whole number >= 0", "0, 1, 2 ...",
                      repr(self.skip_lines))
        if self.names is not None:
            if isinstance(self.names, str) or not isinstance(self.names, (list, tuple)):
                raise bad("'names' must be a list of column names", "['time', 'X', 'Y']",
                          repr(self.names))
            names = tuple(_as_name(n) for n in self.names)
            dup = [n for i, n in enumerate(names) if n in names[:i]]
            if dup or not names:
                raise bad("'names' must be distinct, non-empty column names",
                          "distinct names", dup[0] if dup else "[]")
            set_(self, "names", names)
        if self.comment is not None and (not isinstance(self.comment, str)
                                         or not self.comment.strip()):
            raise bad("'comment' must be a non-empty string", "e.g. '#'", repr(self.comment))
        if not isinstance(self.encoding, str):
            raise bad("'encoding' must be a codec name", "e.g. 'utf-8'", repr(self.encoding))
        try:
            "".encode(self.encoding)
        except LookupError:
            raise bad("unknown text encoding", "a Python codec name such as 'utf-8' or "
                      "'latin-1'", self.encoding) from None
        fv = self.fill_values
        if isinstance(fv, (str, int, float)) and not isinstance(fv, bool):
            fv = (fv,)
        if not isinstance(fv, (list, tuple)) or any(
                isinstance(v, bool) or not isinstance(v, (str, int, float)) for v in fv):
            raise bad("'fill_values' must be a list of strings or numbers",
                      "e.g. ['nan', 99999]", repr(self.fill_values))
        # a NaN fill (TOML's bare nan) means the text "nan": NaN never equals a number
        set_(self, "fill_values", tuple("nan" if isinstance(v, float) and math.isnan(v)
                                        else v for v in fv))

    def _check_kind(self) -> str:
        """``kind`` as given, or inferred from the keys given; sets and returns it."""
        cat_given = any(getattr(self, k) is not None for k in
                        ("latitude", "longitude", "magnitude"))
        rec_given = bool(self.components) or self.station_column is not None
        kind = self.kind
        if kind is None:
            kind = ("catalog" if cat_given and not rec_given else
                "record" if rec_given and not cat_given else None)
            if kind is None:
                raise self._bad("cannot tell whether the table is a record or a catalog",
                                "kind = 'record' (with components) or kind = 'catalog' (with "
                                "latitude, longitude, magnitude)",
                                "both" if cat_given else "neither")
        if kind not in _KINDS:
            raise self._bad("unknown 'kind'", "'record' or 'catalog'", repr(kind))
        object.__setattr__(self, "kind", kind)
        return kind

    def _check_catalog(self) -> None:
        """Catalog keys: the required columns, depth unit, longitude convention."""
        missing = [k for k in ("latitude", "longitude", "magnitude")
                   if getattr(self, k) is None]
        if missing:
            raise ConfigError("catalog mapping lacks required keys",
                              expected="time, latitude, longitude, magnitude",
                              found="missing " + ", ".join(missing), path=self.path)
        for k in ("latitude", "longitude", "magnitude", "depth", "magnitude_type",
                  "event_id"):
            object.__setattr__(self, k, _opt_name(getattr(self, k)))
        if self.depth_unit not in ("km", "m"):
            raise ConfigError("unknown depth unit", expected="'km' or 'm'",
                              found=str(self.depth_unit), path=self.path)
        if not isinstance(self.longitude_0_360, bool):
            raise self._bad("'longitude_0_360' must be true or false", "true or false",
                            repr(self.longitude_0_360))

    def _check_record(self) -> None:
        """Record keys: components, station(s), station metadata, cadence, data type."""
        set_, bad = object.__setattr__, self._bad
        set_(self, "components", _components(self.components, bad))
        if not self.components:
            raise bad("a record mapping needs components",
                      "components = ['X', 'Y', 'Z'] or [components] NAME = {column, units}",
                      "none")
        if self.station_column is not None:
            set_(self, "station_column", _as_name(self.station_column))
            given = [k for k in ("latitude_deg", "longitude_deg", "elevation_m", "station_name")
                     if getattr(self, k) is not None]
            if given:
                raise bad(f"'{given[0]}' names one station, but the table is long-format "
                          "(station_column)", "station_table = 'magdas' or a CSV of "
                          "code,name,latitude_deg,longitude_deg for the stations",
                          ", ".join(given))
        if self.station is not None:
            if not isinstance(self.station, str) or not self.station.strip():
                raise bad("'station' must be a station code", "e.g. 'DAV'", repr(self.station))
            set_(self, "station", self.station.strip().upper())
        if self.stations is not None:
            st = self.stations
            if isinstance(st, str) or not isinstance(st, (list, tuple)) or not st:
                raise bad("'stations' must be a list of station codes", "['DAV', 'ANC']",
                          repr(st))
            set_(self, "stations", tuple(str(s).strip().upper() for s in st))
        for k in ("latitude_deg", "longitude_deg", "elevation_m", "sampling_period_s"):
            v = getattr(self, k)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                  or not math.isfinite(v)):
                raise bad(f"'{k}' must be a number", "a finite number", repr(v))
        if self.latitude_deg is not None and not -90 <= self.latitude_deg <= 90:
            raise bad("'latitude_deg' out of range", "-90..90", self.latitude_deg)
        if self.longitude_deg is not None and not -180 <= self.longitude_deg <= 360:
            raise bad("'longitude_deg' out of range", "-180..360", self.longitude_deg)
        if self.sampling_period_s is not None and not self.sampling_period_s > 0:
            raise bad("'sampling_period_s' must be positive", "seconds > 0",
                      self.sampling_period_s)
        if self.data_type not in DATA_TYPES:
            raise bad("unknown 'data_type'", " | ".join(DATA_TYPES), repr(self.data_type))

    # ------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | TableMapping, *,
                  path: str | os.PathLike | None = None) -> TableMapping:
        """A mapping from a dict with the keys of the module docstring.

        Unknown keys are a ConfigError that lists the known ones.
        """
        if isinstance(d, TableMapping):
            return d
        if not isinstance(d, Mapping):
            raise ConfigError("a table mapping must be a table of keys",
                              expected="a dict / TOML table", found=type(d).__name__, path=path)
        known = [f.name for f in fields(cls) if f.name != "path"]
        unknown = sorted(set(d) - set(known))
        if unknown:
            cat = any(k in d for k in ("latitude", "longitude", "magnitude"))
            raise ConfigError(f"unknown {'catalog ' if cat else ''}mapping key",
                              expected=", ".join(known), found=", ".join(unknown), path=path)
        kw = dict(d)
        p = None if path is None else os.fspath(path)
        if (isinstance(kw.get("station_table"), str) and p is not None
                and kw["station_table"] not in SHIPPED_TABLES):
            # a station table is relative to the mapping file
            kw["station_table"] = str((Path(p).parent / kw["station_table"]).resolve())
        return cls(**kw, path=p)


    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> TableMapping:
        """Read a mapping TOML file (ConfigError naming the file on any problem)."""
        p = Path(path)
        with located(p):
            doc = read_toml(p, what="mapping file")
            doc.setdefault("name", p.stem)
            return cls.from_dict(doc, path=p)

    def to_dict(self) -> dict[str, Any]:
        """The mapping as a JSON/TOML-able dict (keys left at their default are left out);
        ``TableMapping.from_dict(m.to_dict()) == m``."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "path":
                continue
            v = getattr(self, f.name)
            if v == f.default:
                continue
            if f.name == "components":
                v = {n: {"column": c, "units": u} for n, c, u in v}
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out

    def replace(self, **changes: Any) -> TableMapping:
        """A copy with some keys changed (checked again)."""
        d = self.to_dict()
        d.update(changes)
        return TableMapping.from_dict(d, path=self.path)

    @property
    def label(self) -> str:
        """How messages and history name this mapping."""
        return self.name or (Path(self.path).name if self.path else "inline mapping")


def _components(value: Any, bad) -> tuple[tuple[str, str, str], ...]:
    if isinstance(value, tuple) and all(isinstance(x, tuple) and len(x) == 3 for x in value):
        items = [(n, {"column": c, "units": u}) for n, c, u in value]
    elif isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, (list, tuple)) and not isinstance(value, str):
        items = [(v, {}) for v in value]
    elif isinstance(value, str):
        items = [(v.strip(), {}) for v in value.split(",") if v.strip()]
    else:
        raise bad("'components' must be a list of names or a table",
                  "['X', 'Y', 'Z'] or {EUEL = {column = 'peak_euel', units = 'nT'}}",
                  repr(value))
    out = []
    for name, spec in items:
        name = _as_name(name)
        if isinstance(spec, (str, int)) and not isinstance(spec, bool):
            spec = {"column": spec}
        if not isinstance(spec, Mapping) or set(spec) - {"column", "units"}:
            raise bad(f"component {name!r} must be a column name or {{column, units}}",
                      "{column = 'name', units = 'nT'}", repr(spec))
        col = _as_name(spec.get("column", name))
        units = spec.get("units")
        if units is None:
            units = DEFAULT_UNITS.get(name) if len(name) == 1 else None
        if not isinstance(units, str) or not units.strip():
            raise bad(f"component {name!r} has no units", f"{name} = {{column = '{col}', "
                      "units = 'nT'}} (only the IAGA element letters have default units)",
                      "no units")
        if not name or name.endswith("_flag") or name == "time":
            raise bad("bad component name", "a name such as X or EUEL", repr(name))
        out.append((name, col, units.strip()))
    names = [n for n, _, _ in out]
    dup = [n for i, n in enumerate(names) if n in names[:i]]
    if dup:
        raise bad("component named twice", "distinct component names", dup[0])
    return tuple(out)


# ------------------------------------------------------------------------------------------
# shipped mappings and station tables
# ------------------------------------------------------------------------------------------



def shipped_mappings() -> dict[str, Path]:
    """Names of the mappings shipped with geoanom and their files."""
    return {p.stem: p for p in sorted(SHIPPED_DIR.glob("*.toml"))}


def load_mapping(spec: str | os.PathLike | Mapping[str, Any] | TableMapping) -> TableMapping:
    """A mapping from a TOML file, the name of a shipped mapping (``magdas-euel``,
    ``world-m5``), a dict, or a TableMapping (returned as is)."""
    if isinstance(spec, TableMapping):
        return spec
    if isinstance(spec, Mapping):
        return TableMapping.from_dict(spec)
    p = Path(spec)
    if p.is_file():
        return TableMapping.from_toml(p)
    shipped = shipped_mappings()
    if str(spec) in shipped:
        return TableMapping.from_toml(shipped[str(spec)])
    raise ConfigError("no such mapping file or shipped mapping", path=p,
                      expected="a mapping TOML file or one of " + ", ".join(shipped),
                      found=str(spec))


# ------------------------------------------------------------------------------------------
# tokenising
# ------------------------------------------------------------------------------------------

def _mapped_table(path: str | os.PathLike, m: TableMapping, what: str) -> Table:
    """The file tokenised as the mapping lays it out (string columns, each row's line)."""
    p, text = read_text(path, m.encoding, what=what)
    return tokenise(p, text, m.delimiter, header=m.header, names=m.names,
                    skip_lines=m.skip_lines, comment=m.comment, require_rows=True, what=what)


def _column(table: Table, name: str, what: str) -> pd.Series:
    """Stripped string column ``name`` (FormatError on the header line when absent)."""
    if name not in table.frame.columns:
        hint = ""
        if len(table.header) == 1:
            hint = f" (the lines hold one field: is the file {table.delimiter!r}-separated?)"
        raise FormatError(f"the table has no column {name!r} for {what}{hint}",
                          path=table.path, line=table.header_line,
                          expected=f"a column named {name!r}",
                          found="columns " + ", ".join(table.header))
    return table.frame[name].str.strip()


# ------------------------------------------------------------------------------------------
# times
# ------------------------------------------------------------------------------------------

def _table_times(table: Table, m: TableMapping) -> np.ndarray:
    """UTC ``datetime64[ns]`` of every row, as the mapping says."""
    cols = [m.time] if isinstance(m.time, str) else list(m.time)
    what = "column " + " + ".join(repr(c) for c in cols)
    parts = [_column(table, c, "the time") for c in cols]
    if m.time_format == "unix":
        v = parse_numbers(table, parts[0], f"Unix time in {what}", required=True)
        ns = np.round(v * 1e9)
        if np.any(np.abs(ns) > 9.2e18):
            i = int(np.flatnonzero(np.abs(ns) > 9.2e18)[0])
            raise row_error(table, i, "Unix time out of range", "seconds since 1970 within "
                            "1677..2262", parts[0].iloc[i])
        return ns.astype(np.int64).astype("datetime64[ns]")
    if m.time_format == "parts":
        names = ("year", "month", "day", "hour", "minute", "second")
        lims = ((1, 9999), (1, 12), (1, 31), (0, 23), (0, 59), (0, 60.999999999))
        vals = []
        for k, s in enumerate(parts):
            v = parse_numbers(table, s, f"{names[k]} in column {cols[k]!r}", required=True,
                              lo=lims[k][0], hi=lims[k][1])
            if k < 5:
                frac = np.flatnonzero(v != np.floor(v))
                if frac.size:
                    i = int(frac[0])
                    raise row_error(table, i, f"{names[k]} is not a whole number",
                                    f"a whole {names[k]} in column {cols[k]!r}", s.iloc[i])
            vals.append(v)
        while len(vals) < 6:
            vals.append(np.zeros(len(table.frame)))
        whole_s = np.floor(vals[5])
        frac_ns = np.round((vals[5] - whole_s) * 1e9).astype(np.int64)
        ints = [v.astype(np.int64) for v in vals[:5]] + [whole_s.astype(np.int64)]
        text = pd.Series([f"{a:04d}-{b:02d}-{c:02d} {d:02d}:{e:02d}:{f:02d}"
                          for a, b, c, d, e, f in zip(*ints, strict=True)])
        t = parse_times(table, text, what, fmt="%Y-%m-%d %H:%M:%S", tz=m.tz,
                        zone_hint="the mapping's tz, e.g. tz = 'UTC'")
        return t + frac_ns.astype("timedelta64[ns]")
    joined = parts[0]
    for s in parts[1:]:
        joined = joined + " " + s
    return parse_times(table, joined.reset_index(drop=True), what, fmt=m.time_format, tz=m.tz,
                       zone_hint="a time with a zone (Z, +09:00), or the mapping's tz "
                            "(e.g. tz = 'UTC' or tz = 'Asia/Tokyo')")


# ------------------------------------------------------------------------------------------
# catalogs
# ------------------------------------------------------------------------------------------

def read_catalog_table(path: str | os.PathLike,
                       mapping: str | os.PathLike | Mapping[str, Any] | TableMapping
                       ) -> pd.DataFrame:
    """Read a delimited catalog through a mapping into geoanom's validated catalog frame.

    Parameters
    ----------
    path
        The file (gzip allowed).
    mapping
        A :class:`TableMapping` of kind ``catalog``, a dict, a mapping file or a shipped
        mapping name (``world-m5``).

    Returns
    -------
    pandas.DataFrame
        The catalog (UTC times, degrees, km), ``attrs["format"] == "mapped"`` and
        ``attrs["mapping"]`` the mapping's keys.
    """
    m = load_mapping(mapping)
    if m.kind != "catalog":
        raise ConfigError(f"the mapping {m.label} reads station records, not catalogs",
                          path=m.path, expected="a mapping with kind = 'catalog'",
                          found=f"kind = {m.kind!r}")
    table = _mapped_table(path, m, "catalog")
    t = _table_times(table, m)
    return assemble_catalog(table, fmt_name="mapped", time=t, lat_col=m.latitude,
                            lon_col=m.longitude, mag_col=m.magnitude, depth_col=m.depth,
                            depth_scale=1e-3 if m.depth_unit == "m" else 1.0,
                            magtype_col=m.magnitude_type, id_col=m.event_id,
                            wrap_longitude=m.longitude_0_360,
                            attrs={"mapping": m.to_dict()})


# ------------------------------------------------------------------------------------------
# records
# ------------------------------------------------------------------------------------------

def _values(table: Table, m: TableMapping, comp: str, col: str) -> np.ndarray:
    """Floats of one component column; fills -> NaN; anything else unreadable -> error."""
    s = _column(table, col, f"component {comp}")
    text_fills = {str(v).strip().lower() for v in m.fill_values if isinstance(v, str)}
    num_fills = [float(v) for v in m.fill_values if not isinstance(v, str)]
    for v in m.fill_values:  # "99999" given as text also matches 99999.00
        if isinstance(v, str):
            try:
                f = float(v)
            except ValueError:
                continue
            if math.isfinite(f):
                num_fills.append(f)
    low = s.str.lower()
    is_fill = low.isin(text_fills).to_numpy() if text_fills else np.zeros(len(s), bool)
    v = np.array(pd.to_numeric(s.where(~is_fill, None), errors="coerce")
                 .to_numpy(dtype=float, na_value=np.nan), dtype=float)  # a writable copy
    shown = ", ".join(repr(x) for x in m.fill_values) or "none"
    bad = np.flatnonzero((np.isnan(v) | np.isinf(v)) & ~is_fill)
    if bad.size:
        i = int(bad[0])
        raise row_error(table, i, f"value of component {comp} (column {col!r}) is not a number",
                        f"a finite number or a fill value ({shown})", s.iloc[i])
    for f in num_fills:
        v[v == f] = np.nan
    return v


def _station_attrs(m: TableMapping, code: str, p: Path) -> dict[str, Any]:
    info: dict[str, Any] = {}
    if m.station_table is not None:
        info = station_table(m.station_table).get(code, {})
    own = {"name": m.station_name, "latitude_deg": m.latitude_deg,
           "longitude_deg": m.longitude_deg, "elevation_m": m.elevation_m}
    if m.station_column is None:  # a one-station mapping's own values win
        info = {**info, **{k: v for k, v in own.items() if v is not None}}
    lat = float(info.get("latitude_deg", math.nan))
    lon = float(info.get("longitude_deg", math.nan))
    if not (math.isfinite(lat) and math.isfinite(lon)):
        st = load_stations().get(code)  # geoanom's station registry knows the code?
        if st is not None:
            info = {"name": info.get("name") or st.name, "latitude_deg": st.latitude_deg,
                    "longitude_deg": st.longitude_deg,
                    "elevation_m": info.get("elevation_m", st.elevation_m)}
            lat, lon = st.latitude_deg, st.longitude_deg
    if not (math.isfinite(lat) and math.isfinite(lon)):
        warnings.warn(f"{p}: station {code} has no coordinates in the mapping "
                      f"{m.label}" + (f" or its station table {m.station_table}"
                                      if m.station_table else "")
                      + "; they stay unknown (give latitude_deg and longitude_deg)",
                      GeoanomWarning, stacklevel=3)
    return {"iaga_code": code, "station_name": str(info.get("name") or code),
            "latitude_deg": lat, "longitude_deg": lon,
            "elevation_m": float(info.get("elevation_m", math.nan))}


def _grid(table: Table, m: TableMapping, rows: np.ndarray, t: np.ndarray, code: str
          ) -> tuple[np.ndarray, np.ndarray, float]:
    """The regular time grid of one station's rows: (grid, position of each row, period)."""
    tt = t[rows].astype(np.int64)
    d = np.diff(tt)
    if d.size and np.any(d <= 0):
        j = int(np.argmax(d <= 0))
        same = d[j] == 0
        raise FormatError(
            f"station {code}: " + ("time repeated" if same else "times go backwards"),
            path=table.path, line=int(table.lines[rows[j + 1]]),
            expected=f"a time after {t[rows[j]]} (line {int(table.lines[rows[j]])})",
            found=str(t[rows[j + 1]]))
    if m.sampling_period_s is not None:
        period_ns = int(round(m.sampling_period_s * _NS))
    elif d.size:
        period_ns = int(d.min())
    else:
        raise row_error(table, int(rows[0]), f"station {code} has one row: its cadence is "
                        "unknown", "sampling_period_s in the mapping, or more rows", "one row")
    off = np.flatnonzero(d % period_ns)
    if off.size:
        j = int(off[0])
        raise FormatError(f"station {code}: time off the sampling grid", path=table.path,
                          line=int(table.lines[rows[j + 1]]),
                          expected=f"a whole number of {period_ns / _NS:g} s steps after "
                                   f"{t[rows[j]]}", found=str(t[rows[j + 1]]))
    pos = (tt - tt[0]) // period_ns
    n = int(pos[-1]) + 1
    if n > _MAX_GRID_ROWS:
        raise FormatError(f"station {code}: the span needs {n} samples at "
                          f"{period_ns / _NS:g} s", path=table.path,
                          expected=f"at most {_MAX_GRID_ROWS} samples (is sampling_period_s "
                                   "right?)", found=f"{t[rows[0]]} .. {t[rows[-1]]}")
    grid = (tt[0] + np.arange(n, dtype=np.int64) * period_ns).astype("datetime64[ns]")
    return grid, pos, period_ns / _NS


def read_record_table(path: str | os.PathLike,
                      mapping: str | os.PathLike | Mapping[str, Any] | TableMapping,
                      station: str | None = None) -> dict[str, xr.Dataset]:
    """Read a delimited text table through a mapping into station records.

    Parameters
    ----------
    path
        The file (gzip allowed).
    mapping
        A :class:`TableMapping` of kind ``record``, a dict, a mapping file or a shipped
        mapping name (``magdas-euel``).
    station
        Keep only this station of a long-format table; a one-station table is read as this
        station.

    Returns
    -------
    dict of str to xarray.Dataset
        Station code -> record (geoanom's record model: regular time grid, one float64
        variable per component with its units, ``<component>_flag``; rows missing between
        two rows are inserted as missing samples), in the order the stations first appear.
        A one-station mapping gives one entry.
    """
    m = load_mapping(mapping)
    if m.kind != "record":
        raise ConfigError(f"the mapping {m.label} reads catalogs, not station records",
                          path=m.path, expected="a mapping with kind = 'record'",
                          found=f"kind = {m.kind!r}")
    if station is not None:
        m = (m.replace(stations=[station]) if m.station_column is not None
            else m.replace(station=station))
    table = _mapped_table(path, m, "table")
    p = table.path
    if m.station_column is None and m.station is None:
        raise ConfigError(f"the mapping {m.label} names no station", path=m.path,
                          expected="station = 'CODE' (one station per file) or "
                                   "station_column = 'column' (long format)", found="neither")
    t = _table_times(table, m)
    values = {name: _values(table, m, name, col) for name, col, _ in m.components}
    units = {name: u for name, _, u in m.components}
    if m.station_column is not None:
        codes = _column(table, m.station_column, "the station code").str.upper().to_numpy()
        empty = np.flatnonzero(codes == "")
        if empty.size:
            raise row_error(table, int(empty[0]), "row without a station code",
                            f"a code in column {m.station_column!r}", "an empty field")
        order = list(dict.fromkeys(codes.tolist()))
    else:
        codes = None
        order = [str(m.station)]
    if m.stations is not None:
        absent = [c for c in m.stations if c not in order]
        if absent:
            raise FormatError("station(s) not in the file", path=p,
                              expected="one of " + ", ".join(order),
                              found=", ".join(absent))
        order = [c for c in order if c in m.stations]
    src = m.source or str(p)
    mapping_json = json.dumps(m.to_dict(), sort_keys=True, separators=(",", ":"))
    out: dict[str, xr.Dataset] = {}
    for code in order:
        rows = np.arange(len(t)) if codes is None else np.flatnonzero(codes == code)
        grid, pos, period = _grid(table, m, rows, t, code)
        comps = {}
        for name in values:
            v = np.full(grid.size, np.nan)
            v[pos] = values[name][rows]
            comps[name] = v
        inserted = int(grid.size - rows.size)
        attrs = _station_attrs(m, code, p)
        attrs.update(sampling_period_s=period, data_type=m.data_type, source=src,
                     table_mapping=mapping_json, source_file=str(p))
        step = ((f"read {p.name} through the table mapping {m.label}"
            + (f" (station {code} of a long-format file)" if codes is not None else ""))
            + (f"; {inserted} missing rows inserted as missing samples" if inserted else ""))
        rec = make_record(grid, comps, units=units, attrs=attrs, history=step)
        out[code] = validate_record(rec)
    return out


def read_one_record(path: str | os.PathLike,
                    mapping: str | os.PathLike | Mapping[str, Any] | TableMapping,
                    station: str | None = None) -> xr.Dataset:
    """One record from a mapped table: the only station, or ``station`` of a long file.

    Raises
    ------
    ConfigError
        The file holds several stations and ``station`` is None (the message lists them).
    """
    m = load_mapping(mapping)
    if station is not None and m.station_column is not None:
        m = m.replace(stations=[station])
    elif station is not None and m.station is None:
        m = m.replace(station=station)
    recs = read_record_table(path, m)
    if station is not None and m.station_column is None:
        code = station.strip().upper()
        if code != m.station:
            raise ConfigError("the mapping is for another station", path=m.path,
                              expected=f"--station {m.station} (or none)", found=code)
    if len(recs) > 1:
        raise ConfigError(f"{Path(path).name} holds {len(recs)} stations; choose one",
                          path=path, expected="--station CODE, one of " + ", ".join(recs),
                          found="no --station")
    return next(iter(recs.values()))

