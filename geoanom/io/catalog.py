"""Earthquake catalog readers: every one returns the validated catalog frame of
:mod:`geoanom.catalog_frame` (UTC tz-naive ``datetime64[ns]`` times, unique string ``event_id``,
sorted by time, ``attrs`` with ``source``, ``query`` and ``format``).

Formats (name used by :func:`geoanom.io.read_catalog` in brackets):

* USGS ComCat / FDSN event service CSV [``comcat``] and FDSN text [``fdsn-text``];
* the pyCSEP CSV (``lon,lat,M,time_string,depth,catalog_id,event_id``) [``pycsep``];
* the EarthquakeNPP benchmark CSV (``id|index,time,longitude,latitude,magnitude,x,y``)
  [``earthquakenpp``];
* the NEIC "significant earthquakes 1965-2016" table, rows wrapped in quotes or not [``neic``];
* the pyCSEP JMA semicolon format with ``+0900`` offsets [``jma``];
* the AETA competition earthquake list (UTF-8 byte-order mark, UTC+8 wall times) [``aeta``];
* QuakeML through the optional ``obspy`` extra [``quakeml``];
* any other delimited text through a table mapping (:mod:`geoanom.io.table`,
  :class:`~geoanom.io.table.TableMapping`) [``mapped``];
* geoanom's own catalog CSV (the frame's columns, UTC), written by :func:`write_catalog_csv`
  with its provenance in leading ``#`` lines [``geoanom``].

Files are tokenised with the C ``csv`` module (which keeps the 1-based line of every record,
so every error can name it) and values are parsed column-wise with pandas. Every problem in a
file raises :class:`~geoanom.errors.FormatError` with the file, the line, what was expected
and what was found. Gzip-compressed files are read transparently.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geoanom._atomic import atomic_write_text
from geoanom.catalog_frame import CATALOG_COLUMNS, make_catalog, validate_catalog
from geoanom.errors import FormatError, MissingDependencyError, ValidationError
from geoanom.io._text import (
    Table,
    assemble_catalog,
    parse_numbers,
    parse_times,
    read_text,
    row_error,
    tokenise,
)
from geoanom.provenance import canonical_json, provenance

__all__ = [
    "read_aeta_eqlst",
    "read_comcat_csv",
    "read_geoanom_csv",
    "read_earthquakenpp_csv",
    "read_fdsn_text",
    "read_jma_csv",
    "read_neic_significant",
    "read_pycsep_csv",
    "read_quakeml",
    "write_catalog_csv",
    "first_header_line",
    "is_aeta",
    "is_comcat",
    "is_earthquakenpp",
    "is_fdsn_text",
    "is_geoanom_csv",
    "is_jma",
    "is_neic",
    "is_pycsep",
    "is_quakeml",
]

_ISO_DATE_RE = re.compile(r"^\s*\d{4}-\d{2}-\d{2}[T ]")

# Non-tectonic sources dropped by ``include_explosions=False``: ComCat types such as
# "explosion", "nuclear explosion", "quarry blast", "mining explosion"; NEIC "Explosion" and
# "Nuclear Explosion" (the four NEIC rows typed plain "Explosion" are at the Semipalatinsk,
# Novaya Zemlya and Mururoa test sites).
_EXPLOSION_RE = re.compile(r"explosion|blast", re.IGNORECASE)


def _catalog_table(path: str | os.PathLike, delimiter: str, *, header_prefix: str = ""
                   ) -> Table:
    """The catalog file tokenised (rows wrapped whole in quotes, as in the NEIC table, are
    unwrapped)."""
    p, text = read_text(path)
    return tokenise(p, text, delimiter, header_prefix=header_prefix, quoted_rows=True)


def _explosion_filter(table: Table, type_col: str | None, include: bool
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
    table = _catalog_table(path, ",")
    t = parse_times(table, table.column("time", "time"), "column 'time'", fmt=None, tz="UTC")
    keep, attrs, query = _explosion_filter(table, "type", include_explosions)
    return assemble_catalog(table, fmt_name="comcat", time=t, lat_col="latitude",
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
    table = _catalog_table(path, "|", header_prefix="#")
    t = parse_times(table, table.column("Time", "time"), "column 'Time'", fmt=None, tz="UTC")
    keep, attrs, query = _explosion_filter(table, "EventType", include_explosions)
    return assemble_catalog(table, fmt_name="fdsn-text", time=t, lat_col="Latitude",
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
    table = _catalog_table(path, ",")
    mag_col = "M" if table.has("M") or not table.has("mag") else "mag"
    t = parse_times(table, table.column("time_string", "time"), "column 'time_string'", fmt=None,
                    tz="UTC")
    return assemble_catalog(table, fmt_name="pycsep", time=t, lat_col="lat", lon_col="lon",
                            mag_col=mag_col, depth_col="depth" if table.has("depth") else None,
                            id_col="event_id" if table.has("event_id") else None)


def read_earthquakenpp_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read an EarthquakeNPP benchmark CSV: ``id|index,time,longitude,latitude,magnitude,x,y``.

    Times (``YYYY-MM-DD hh:mm:ss.fff``) are UTC, as in the ComCat and QTM catalogs the
    benchmark was cut from. Depth is not in the format (NaN); ``x``, ``y`` (projected km) are
    not kept. ``event_id`` is the ``id`` or ``index`` value.
    """
    table = _catalog_table(path, ",")
    id_col = "id" if table.has("id") else ("index" if table.has("index") else None)
    t = parse_times(table, table.column("time", "time"), "column 'time'", fmt=None, tz="UTC")
    return assemble_catalog(table, fmt_name="earthquakenpp", time=t, lat_col="latitude",
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
    table = _catalog_table(path, ",")
    date = table.column("Date", "date")
    tod = table.column("Time", "time of day")
    iso = date.str.match(_ISO_DATE_RE).to_numpy()
    if iso.any():
        # an ISO row must say the same thing in both columns (or a bare time of day)
        mismatch = np.flatnonzero(iso & (tod != date).to_numpy()
                                  & ~tod.str.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?").to_numpy())
        if mismatch.size:
            i = int(mismatch[0])
            raise row_error(table, i, "ISO timestamp in Date disagrees with Time",
                            "Time equal to the ISO Date",
                            f"Date {date.iloc[i]}, Time {tod.iloc[i]}")
    t = np.empty(len(date), dtype="datetime64[ns]")
    if (~iso).any():
        sub = table.subset(~iso)
        joined = sub.frame["Date"].str.strip() + " " + sub.frame["Time"].str.strip()
        t[~iso] = parse_times(sub, joined, "columns 'Date' and 'Time'", fmt="%m/%d/%Y %H:%M:%S",
                              tz="UTC")
    if iso.any():
        sub = table.subset(iso)
        t[iso] = parse_times(sub, sub.frame["Date"].str.strip(), "column 'Date'", fmt=None,
                             tz="UTC")
    keep, attrs, query = _explosion_filter(table, "Type", include_explosions)
    attrs["n_iso_timestamps"] = int(iso.sum())
    return assemble_catalog(table, fmt_name="neic", time=t, lat_col="Latitude", lon_col="Longitude",
                            mag_col="Magnitude", depth_col="Depth",
                            magtype_col="Magnitude Type" if table.has("Magnitude Type") else None,
                            id_col="ID" if table.has("ID") else None, keep=keep, query=query,
                            attrs=attrs)


def read_jma_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read the pyCSEP JMA format: ``timestamp;longitude;latitude;depth;magnitude``.

    Timestamps carry their offset (``1919-11-10T22:31:03.590000+0900``, Japan Standard Time)
    and are converted to UTC; a timestamp without an offset is an error, since the file
    defines none. Depth in km. Ids are ``<file name>:<line>``. Longitudes are east-positive
    0..360 as in JMA's hypocenter catalog: those above 180 (events east of the antimeridian)
    become ``lon - 360``, counted in ``attrs["n_longitudes_wrapped"]``.
    """
    table = _catalog_table(path, ";")
    t = parse_times(table, table.column("timestamp", "time"), "column 'timestamp'", fmt=None,
                    tz=None, zone_hint="a timestamp with its offset, e.g. "
                                       "2011-03-11T14:46:18.120000+0900")
    return assemble_catalog(table, fmt_name="jma", time=t, lat_col="latitude", lon_col="longitude",
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
    table = _catalog_table(path, ",")
    t = parse_times(table, table.column("Time", "time"), "column 'Time' (UTC+8)", fmt=None,
                    tz=AETA_TZ)
    if table.has("Timestamp"):
        unix = parse_numbers(table, table.column("Timestamp", "Unix time"), "Unix time",
                             required=True)
        # exact second arithmetic in int64: the list is given to the second
        ts = (np.round(unix).astype(np.int64) * 1_000_000_000).astype("datetime64[ns]")
        off = np.flatnonzero(np.abs(t.astype(np.int64) // 1_000_000_000
                                    - ts.astype(np.int64) // 1_000_000_000) > 0)
        if off.size:
            i = int(off[0])
            raise row_error(table, i, "Time (UTC+8) and Timestamp (Unix, UTC) disagree",
                            f"Timestamp = Time - 8 h = {pd.Timestamp(t[i])}",
                            f"{pd.Timestamp(ts[i])}")
    return assemble_catalog(table, fmt_name="aeta", time=t, lat_col="Latitude", lon_col="Longitude",
                            mag_col="Magnitude", depth_col=None,
                            attrs={"file_time_zone": "UTC+08:00"})


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
        if (origin is None or origin.time is None or origin.latitude is None
                or origin.longitude is None):
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

    p, text = read_text(path)
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
    table = tokenise(p, "\n".join(lines), ",", quoted_rows=True)
    t = parse_times(table, table.column("time", "time"), "column 'time'", fmt=None, tz="UTC")
    attrs = dict(meta.get("catalog_attrs") or {}) if isinstance(meta, dict) else {}
    query = str(attrs.pop("query", ""))
    attrs.pop("source", None)
    attrs.pop("format", None)
    if meta:
        attrs["provenance"] = meta
    df = assemble_catalog(table, fmt_name="geoanom", time=t, lat_col="latitude_deg",
                          lon_col="longitude_deg", mag_col="magnitude", depth_col="depth_km",
                          magtype_col="magnitude_type", id_col="event_id", query=query, attrs=attrs)
    if meta.get("catalog_attrs", {}).get("source"):
        df.attrs["origin_source"] = meta["catalog_attrs"]["source"]
    return df


# --------------------------------------------------------------------------------------------
# Recognising the formats (the sniffs of geoanom.io.read_catalog's table)
# --------------------------------------------------------------------------------------------

def first_header_line(text: str) -> str:
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


def _header_columns(head: str, delimiter: str) -> set[str]:
    """The column names of header line ``head`` when it is written with ``delimiter``
    (``"|"``: an FDSN ``#...|...`` line; ``";"``: a line holding one; ``","``: any other line
    that is not XML); empty when it is a line of another kind."""
    s = head.lstrip("\ufeff").strip()
    kind = ("<" if s.startswith("<") else "|" if s.startswith("#") and "|" in s
            else ";" if ";" in s else ",")
    if kind != delimiter or kind == "<":
        return set()
    if kind == "|":
        return {c.strip() for c in s.lstrip("#").split("|")}
    if kind == ";":
        return {c.strip() for c in s.split(";")}
    return {c.strip() for c in next(csv.reader([s]))}


def is_quakeml(head: str, text: str) -> bool:
    """QuakeML: XML whose first 2000 characters name QuakeML (the root element may come
    after the XML declaration)."""
    return head.startswith("<") and "quakeml" in text[:2000].lower()


def is_fdsn_text(head: str, text: str) -> bool:
    """FDSN text: a ``#EventID|Time|Latitude|...|Magnitude|...`` header."""
    return {"EventID", "Time", "Latitude", "Magnitude"} <= _header_columns(head, "|")


def is_jma(head: str, text: str) -> bool:
    """The pyCSEP JMA format: a ``timestamp;longitude;latitude;...;magnitude`` header."""
    return {"timestamp", "longitude", "latitude", "magnitude"} <= _header_columns(head, ";")


def is_geoanom_csv(head: str, text: str) -> bool:
    """geoanom's catalog CSV: the catalog frame's columns."""
    return set(CATALOG_COLUMNS) <= _header_columns(head, ",")


def is_comcat(head: str, text: str) -> bool:
    """ComCat / FDSN event-service CSV: ``time``, ``latitude``, ``longitude``, ``mag``."""
    return {"time", "latitude", "longitude", "mag"} <= _header_columns(head, ",")


def is_pycsep(head: str, text: str) -> bool:
    """The pyCSEP CSV: ``lon``, ``lat``, ``time_string`` and ``M`` (or ``mag``)."""
    columns = _header_columns(head, ",")
    return {"lon", "lat", "time_string"} <= columns and bool(columns & {"M", "mag"})


def is_earthquakenpp(head: str, text: str) -> bool:
    """The EarthquakeNPP CSV: ``time``, ``longitude``, ``latitude``, ``magnitude``, ``x``,
    ``y``."""
    return {"time", "longitude", "latitude", "magnitude", "x", "y"} <= _header_columns(head, ",")


def is_neic(head: str, text: str) -> bool:
    """The NEIC significant-earthquakes table: ``Date``, ``Time``, ``Latitude``,
    ``Longitude``, ``Type``, ``Magnitude``."""
    return ({"Date", "Time", "Latitude", "Longitude", "Type", "Magnitude"}
        <= _header_columns(head, ","))


def is_aeta(head: str, text: str) -> bool:
    """The AETA earthquake list: ``Longitude``, ``Latitude``, ``Magnitude``, ``Time``,
    ``Timestamp``."""
    return ({"Longitude", "Latitude", "Magnitude", "Time", "Timestamp"}
        <= _header_columns(head, ","))
