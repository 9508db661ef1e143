"""``--map FILE|NAME`` (and ``--map-set KEY=VALUE``, ``--station CODE``) for every command
that reads a record or a catalog, and the readers that honour them.

A mapping (:mod:`geoanom.io.table`) is for records or for catalogs (its ``kind``); a
command that reads both takes ``--map`` twice, and each mapping applies to the input of its
kind (``geoanom train --record DAV.nc --catalog world_m5.csv.gz --map world-m5``). Without
a mapping of a kind, that input goes to geoanom's own readers (IAGA-2002, ImagCDF, netCDF;
the known catalog formats). ``--map-set KEY=VALUE`` sets a mapping key on the command line
(the keys of the TOML file; values in TOML syntax or plain text, lists comma-separated),
on top of the one ``--map`` given or, without one, as the whole mapping::

    geoanom info dump.txt --map-set delimiter=tab --map-set header=false \\
        --map-set names=time,X,Y,Z,F --map-set time=time --map-set tz=UTC \\
        --map-set components=X,Y,Z,F --map-set station=ABC
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from geoanom.errors import ConfigError

if TYPE_CHECKING:  # imported where used: `--help` stays fast
    import pandas as pd
    import xarray as xr

    from geoanom.io.table import TableMapping

__all__ = ["TableMaps", "map_option", "open_catalog", "open_record", "read_records_checked",
           "resolve_maps"]

_LIST_KEYS = ("names", "stations", "fill_values", "time", "components")


@dataclass(frozen=True)
class TableMaps:
    """The mappings given on the command line: one per kind, and the chosen station."""

    record: TableMapping | None = None
    catalog: TableMapping | None = None
    station: str | None = None


def _value(key: str, text: str) -> Any:
    from geoanom._toml import parse_toml

    try:
        return parse_toml(f"v = {text}")["v"]
    except ConfigError:
        pass
    if key in _LIST_KEYS and "," in text:
        return [p.strip() for p in text.split(",")]
    if key == "delimiter" and text == "\\t":
        return "tab"
    return text


def resolve_maps(specs: tuple[str, ...] = (), sets: tuple[str, ...] = (),
                 station: str | None = None) -> TableMaps:
    """The mappings of ``--map`` (files or shipped names), ``--map-set`` and ``--station``.

    Raises
    ------
    ConfigError
        Two mappings of one kind, ``--map-set`` with several ``--map``, a ``--map-set``
        without ``=``, or a bad mapping.
    """
    from geoanom.io.table import TableMapping, load_mapping

    maps = [load_mapping(s) for s in specs]
    if sets:
        changes: dict[str, Any] = {}
        for item in sets:
            key, eq, text = item.partition("=")
            if not eq or not key.strip():
                raise ConfigError("--map-set takes KEY=VALUE", expected="e.g. "
                                  "--map-set delimiter=tab", found=item)
            key = key.strip()
            changes[key] = _value(key, text.strip())
        if len(maps) > 1:
            raise ConfigError("--map-set applies to one mapping, but several --map were given",
                              expected="one --map (or none) with --map-set",
                              found=", ".join(specs))
        maps = [maps[0].replace(**changes) if maps else TableMapping.from_dict(changes)]
    by_kind: dict[str, TableMapping] = {}
    for m in maps:
        if m.kind in by_kind:
            raise ConfigError(f"two {m.kind} mappings given", expected="one --map per kind "
                              "(one for records, one for catalogs)",
                              found=f"{by_kind[m.kind].label} and {m.label}")
        by_kind[str(m.kind)] = m
    return TableMaps(by_kind.get("record"), by_kind.get("catalog"),
                     station.strip().upper() if station else None)


def map_option(f=None, *, station: bool = False):
    """Add ``--map`` (repeatable), ``--map-set`` (repeatable) and, with ``station=True``,
    ``--station`` to a click command; the command receives ``table_map`` (a
    :class:`TableMaps`)."""
    if f is None:
        return functools.partial(map_option, station=station)
    opts = [
        click.option("--map", "map_specs", multiple=True, metavar="FILE|NAME",
                     help="Column mapping (TOML file, or a shipped name: magdas-euel, "
                          "world-m5) for a delimited text record or catalog; repeat for one "
                          "of each kind. See docs/methods/io.md."),
        click.option("--map-set", "map_sets", multiple=True, metavar="KEY=VALUE",
                     help="Set one mapping key (as in the TOML file) on the command line; "
                          "repeatable."),
    ]
    if station:
        opts.append(click.option("--station", "map_station", default=None, metavar="CODE",
                                 help="The station to take from a long-format table "
                                      "(default: all of them, where the command allows)."))
    for o in reversed(opts):
        f = o(f)

    @functools.wraps(f)
    def wrapper(*args, **kw):
        kw["table_map"] = resolve_maps(kw.pop("map_specs", ()), kw.pop("map_sets", ()),
                                       kw.pop("map_station", None))
        return f(*args, **kw)

    return wrapper


def _as_maps(table_map: Any, want: str) -> TableMaps | None:
    """``table_map`` as TableMaps: TableMaps and None pass; a mapping (file, shipped name,
    dict, TableMapping) must be of kind ``want``."""
    if table_map is None or isinstance(table_map, TableMaps):
        return table_map
    from geoanom.io.table import load_mapping

    m = load_mapping(table_map)
    if m.kind != want:
        raise ConfigError(f"the mapping {m.label} is for {m.kind}s, not {want}s", path=m.path,
                          expected=f"a mapping with kind = '{want}'", found=f"kind = {m.kind!r}")
    return TableMaps(record=m) if want == "record" else TableMaps(catalog=m)


def _one_path(paths, what: str) -> str:
    plist = [paths] if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__") \
        else list(paths)
    if len(plist) != 1:
        raise ConfigError(f"a mapped {what} is read from one file", expected="one file",
                          found=f"{len(plist)} files")
    return str(plist[0])


def open_record(paths, table_map: Any = None, station: str | None = None) -> xr.Dataset:
    """One station record: through the record mapping when one is given (``station``, else
    ``--station``, picks a station of a long-format table), else :func:`geoanom.io.read_record`.
    ``table_map`` may also be one record mapping (file, shipped name, TableMapping).
    """
    table_map = _as_maps(table_map, "record")
    if table_map is None or table_map.record is None:
        from geoanom.io import read_record

        return read_record(list(paths) if not isinstance(paths, str) else paths)
    from geoanom.io.table import read_one_record
    from geoanom.stations import check_header

    rec = read_one_record(_one_path(paths, "record"), table_map.record,
                          station or table_map.station)
    check_header(rec)
    return rec


def read_records_checked(paths, table_map: Any = None
                         ) -> tuple[dict[str, xr.Dataset], list[str]]:
    """All records of the input (one, or one per station of a long-format table) and the
    station-registry warnings met on the way (code -> record, warning texts)."""
    table_map = _as_maps(table_map, "record")
    from geoanom.stations import GeoanomWarning

    if table_map is None or table_map.record is None:
        from geoanom.cli.data import _read_checked

        rec, warns = _read_checked(tuple(paths))
        return {str(rec.attrs.get("iaga_code", "")): rec}, warns
    from geoanom.io.table import read_record_table
    from geoanom.stations import check_header

    m = table_map.record
    if table_map.station is not None:
        m = m.replace(stations=[table_map.station]) if m.station_column is not None \
            else m.replace(station=table_map.station)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GeoanomWarning)
        recs = read_record_table(_one_path(paths, "record"), m)
        for rec in recs.values():
            check_header(rec)
    ours = [w for w in caught if issubclass(w.category, GeoanomWarning)]
    for w in caught:
        if w not in ours:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return recs, [str(w.message) for w in ours]


def open_catalog(path, table_map: Any = None) -> pd.DataFrame:
    """A catalog: through the catalog mapping when one is given, else
    :func:`geoanom.io.catalog.read_catalog` (format recognised from the header).
    ``table_map`` may also be one catalog mapping (file, shipped name, TableMapping)."""
    table_map = _as_maps(table_map, "catalog")
    if table_map is not None and table_map.catalog is not None:
        from geoanom.io.table import read_catalog_table

        return read_catalog_table(path, table_map.catalog)
    from geoanom.io.catalog import read_catalog

    return read_catalog(path)
