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

from geoanom.errors import ConfigError, GeoanomWarning

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
                          "of each kind. Every key: geoanom docs mapping."),
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


def open_record(paths, table_map: Any = None, station: str | None = None) -> xr.Dataset:
    """One station record (:func:`geoanom.io.read_record`): through the record mapping when
    one is given (``station``, else ``--station``, picks a station of a long-format table).
    ``table_map`` may also be one record mapping (file, shipped name, TableMapping)."""
    from geoanom.io import read_record

    maps = _as_maps(table_map, "record") or TableMaps()
    return read_record(paths, mapping=maps.record, station=station or maps.station)


def read_records_checked(paths, table_map: Any = None
                         ) -> tuple[dict[str, xr.Dataset], list[str]]:
    """All records of the input (:func:`geoanom.io.read_records`: one, or one per station of
    a long-format table) and the station-registry warnings met on the way (code -> record,
    warning texts)."""
    from geoanom.io import read_records

    maps = _as_maps(table_map, "record") or TableMaps()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GeoanomWarning)
        recs = read_records(paths, mapping=maps.record, station=maps.station)
    ours = [w for w in caught if issubclass(w.category, GeoanomWarning)]
    for w in caught:  # anything else goes on to the normal warning machinery
        if w not in ours:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return recs, [str(w.message) for w in ours]


def open_catalog(path, table_map: Any = None) -> pd.DataFrame:
    """A catalog (:func:`geoanom.io.read_catalog`): through the catalog mapping when one is
    given, else in its format, recognised from the header. ``table_map`` may also be one
    catalog mapping (file, shipped name, TableMapping)."""
    from geoanom.io import read_catalog

    maps = _as_maps(table_map, "catalog") or TableMaps()
    return read_catalog(path, mapping=maps.catalog)
