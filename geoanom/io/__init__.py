"""Reading station records, earthquake catalogs and activity indices, whatever their format.

One reader registry per kind of data, as ObsPy's ``read()`` has: a table
``{format name: (sniff, read)}`` whose sniffs recognise a file by its content, not its name
(a record by its first bytes, a catalog by its header line), and whose readers live in the
format modules below this one (none of which imports it back).

* :func:`read_record` and :func:`read_records` (:data:`RECORD_READERS`): IAGA-2002 text (plain
  or gzip), ImagCDF (NASA CDF magic), netCDF (classic ``CDF\\x01/\\x02/\\x05`` or HDF5 magic).
* :func:`read_catalog` (:data:`CATALOG_READERS`): the catalog formats of
  :mod:`geoanom.io.catalog`.
* :func:`read_index`: the activity-index files of :mod:`geoanom.io.indices` (one reader for
  every kind; the kind comes from the header).

Any other delimited text table is read through a column mapping (:mod:`geoanom.io.table`,
``--map FILE`` / ``--map-set KEY=VALUE`` on the command line). Whether a file is read through
a mapping or by its format's own reader is decided here, once: through the mapping when one
is given (``format`` is then None or ``"mapped"``), else by the format's reader.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from geoanom.errors import ConfigError, FormatError
from geoanom.io._text import read_text
from geoanom.io.catalog import (
    first_header_line,
    is_aeta,
    is_comcat,
    is_earthquakenpp,
    is_fdsn_text,
    is_geoanom_csv,
    is_jma,
    is_neic,
    is_pycsep,
    is_quakeml,
    read_aeta_eqlst,
    read_comcat_csv,
    read_earthquakenpp_csv,
    read_fdsn_text,
    read_geoanom_csv,
    read_jma_csv,
    read_neic_significant,
    read_pycsep_csv,
    read_quakeml,
)
from geoanom.io.iaga2002 import is_iaga2002, read_iaga2002
from geoanom.io.imagcdf import is_imagcdf, read_imagcdf
from geoanom.io.indices import read_index
from geoanom.io.netcdf import is_netcdf, read_netcdf
from geoanom.io.table import TableMapping, read_catalog_table, read_one_record, read_record_table
from geoanom.record import FLAG_MISSING, append_history, component_names
from geoanom.stations import check_header

__all__ = ["CATALOG_READERS", "FORMATS", "KNOWN_FORMATS", "RECORD_READERS", "detect_format",
           "join_records", "read_catalog", "read_index", "read_record", "read_records",
           "sniff_catalog_format"]

Paths = str | os.PathLike | Iterable[str | os.PathLike]
#: A column mapping as the readers take it: a TableMapping, a dict, a TOML file or the name
#: of a shipped mapping.
MappingSpec = str | os.PathLike | Mapping[str, Any] | TableMapping


def _through_mapping(format: str | None, mapping: MappingSpec | None, kind: str) -> bool:
    """Whether to read through a column mapping: when one is given (``format`` then None or
    ``"mapped"``); ``format="mapped"`` without one is an error."""
    if mapping is None:
        if format == "mapped":
            raise ConfigError(f"format 'mapped' reads a {kind} through a column mapping, and "
                              "none was given", expected="a mapping (--map FILE or --map-set "
                              "KEY=VALUE)", found="no mapping")
        return False
    if format not in (None, "mapped"):
        raise ConfigError(f"a column mapping reads the {kind} as a delimited table",
                          expected="format None or 'mapped' with a mapping",
                          found=f"format {format!r}")
    return True


def _one_path(paths: Paths, what: str) -> Path:
    plist = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if len(plist) != 1:
        raise ConfigError(f"a mapped {what} is read from one file", expected="one file",
                          found=f"{len(plist)} files")
    return Path(plist[0])


# --------------------------------------------------------------------------------------------
# station records
# --------------------------------------------------------------------------------------------

def _read_one_by_one(reader: Callable[[Path], xr.Dataset]
                     ) -> Callable[[list[Path]], xr.Dataset]:
    """A reader of several files from a reader of one: each file read, then joined in time
    order (:func:`join_records`)."""
    def read(paths: list[Path]) -> xr.Dataset:
        records = [reader(p) for p in paths]
        return records[0] if len(records) == 1 else join_records(records, paths)
    return read


def _read_iaga2002_files(paths: list[Path]) -> xr.Dataset:
    """IAGA-2002 files (the reader joins daily files itself)."""
    return read_iaga2002(paths[0] if len(paths) == 1 else paths)


#: Record formats, in the order their sniffs are tried:
#: name -> (sniff(path, first bytes) -> bool, read(paths) -> record).
RECORD_READERS: dict[str, tuple[Callable[[Path, bytes], bool],
                                Callable[[list[Path]], xr.Dataset]]] = {
    "netcdf": (is_netcdf, _read_one_by_one(read_netcdf)),
    "imagcdf": (is_imagcdf, _read_one_by_one(read_imagcdf)),
    "iaga2002": (is_iaga2002, _read_iaga2002_files),
}

#: Formats :func:`read_record` recognises.
FORMATS = tuple(sorted(RECORD_READERS))


def detect_format(path: str | os.PathLike) -> str:
    """Name the format of a station record file from its first bytes.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    str
        One of :data:`FORMATS`.

    Raises
    ------
    FormatError
        Missing file, a directory, an empty file, or bytes of no known format.
    """
    p = Path(path)
    if p.is_dir():
        raise FormatError("is a directory, not a record file", path=p,
                          expected="an IAGA-2002, ImagCDF or netCDF file", found="a directory")
    if not p.exists():
        raise FormatError("file not found", path=p)
    with open(p, "rb") as fh:
        head = fh.read(4096)
    if not head:
        raise FormatError("file is empty", path=p,
                          expected="an IAGA-2002, ImagCDF or netCDF file", found="0 bytes")
    for name, (sniff, _) in RECORD_READERS.items():
        if sniff(p, head):
            return name
    raise FormatError("unknown file format", path=p,
                      expected="IAGA-2002 text (or gzip), ImagCDF (.cdf) or netCDF",
                      found=f"first bytes {head[:8].hex()}")


def _as_paths(paths: Paths) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        return [Path(paths)]
    out = [Path(p) for p in paths]
    if not out:
        raise FormatError("no input files given", expected="at least one file")
    return out


def _read_native_record(paths: Paths, format: str | None) -> xr.Dataset:
    """One record from files of one format, by that format's reader."""
    plist = _as_paths(paths)
    if format is None:
        kinds = {p: detect_format(p) for p in plist}
        found = sorted(set(kinds.values()))
        if len(found) > 1:
            detail = "; ".join(f"{p.name}: {k}" for p, k in kinds.items())
            raise FormatError("input files are of different formats", path=plist[0],
                              expected="files of one format", found=detail)
        format = found[0]
    elif format not in RECORD_READERS:
        raise FormatError("unknown record format", path=plist[0],
                          expected="None (recognised from the bytes) or one of "
                                   + ", ".join((*FORMATS, "mapped")), found=str(format))
    return RECORD_READERS[format][1](plist)


def read_record(paths: Paths, *, format: str | None = None, mapping: MappingSpec | None = None,
                station: str | None = None, check_station: bool = True) -> xr.Dataset:
    """Read one station record from one file or several files of one format.

    Several IAGA-2002 files go to the IAGA-2002 reader (which joins daily files); several
    ImagCDF or netCDF files are read one by one and joined in time order (gaps between
    files become rows flagged missing; overlapping files are an error naming both). With a
    ``mapping``, the one file is a delimited table read through it.

    Parameters
    ----------
    paths
        A path or an iterable of paths.
    format
        None (recognised from the first bytes), one of :data:`FORMATS`, or ``"mapped"``.
    mapping
        A column mapping of kind ``record`` (:mod:`geoanom.io.table`).
    station
        For a mapped table: the station to take from a long-format table, or the code of a
        one-station table (which must match the mapping's ``station`` where it names one).
        The other formats hold one station per file.
    check_station
        Compare the header's coordinates with the station registry
        (:func:`geoanom.stations.check_header`): a disagreement above 0.01 degree gives a
        :class:`geoanom.stations.StationMismatchWarning`.

    Returns
    -------
    xarray.Dataset
        The station record.

    Raises
    ------
    FormatError
        Unknown format, a mix of formats, or a reader's error.
    ConfigError
        A mapped table of several stations without ``station``, or a bad mapping.
    """
    if _through_mapping(format, mapping, "record"):
        rec = read_one_record(_one_path(paths, "record"), mapping, station)
    else:
        rec = _read_native_record(paths, format)
    if check_station:
        check_header(rec)
    return rec


def read_records(paths: Paths, *, format: str | None = None, mapping: MappingSpec | None = None,
                 station: str | None = None, check_station: bool = True
                 ) -> dict[str, xr.Dataset]:
    """Every station record of the input: one, or one per station of a mapped long-format
    table.

    Parameters are those of :func:`read_record`; ``station`` keeps one station of a mapped
    long-format table, or is the code a mapped one-station table is read as.

    Returns
    -------
    dict of str to xarray.Dataset
        Station code -> record, in the order the stations first appear.
    """
    if _through_mapping(format, mapping, "record"):
        recs = read_record_table(_one_path(paths, "record"), mapping, station)
    else:
        rec = _read_native_record(paths, format)
        recs = {str(rec.attrs.get("iaga_code", "")): rec}
    if check_station:
        for rec in recs.values():
            check_header(rec)
    return recs


def join_records(records: list[xr.Dataset], paths: list[Path] | None = None) -> xr.Dataset:
    """Join records of one station end to end, in time order.

    Parameters
    ----------
    records
        Records with the same station code, components, units and sampling period.
    paths
        The files they came from (for error messages and history).

    Returns
    -------
    xarray.Dataset
        One record; steps between files are rows flagged missing (NaN values).

    Raises
    ------
    FormatError
        Different stations, components, units or cadence, or overlapping times (naming
        both files).
    """
    paths = paths or [Path(f"record {i + 1}") for i in range(len(records))]
    order = sorted(range(len(records)), key=lambda i: records[i]["time"].values[0])
    recs = [records[i] for i in order]
    names = [paths[i] for i in order]
    first, p0 = recs[0], names[0]
    comps = component_names(first)
    period = float(first.attrs.get("sampling_period_s", np.nan))
    for r, p in zip(recs[1:], names[1:], strict=True):
        if str(r.attrs.get("iaga_code")) != str(first.attrs.get("iaga_code")):
            raise FormatError("files are from different stations", path=p,
                              expected=f"station {first.attrs.get('iaga_code')} (as in {p0})",
                              found=str(r.attrs.get("iaga_code")))
        if component_names(r) != comps:
            raise FormatError("files hold different components", path=p,
                              expected=f"{' '.join(comps)} (as in {p0})",
                              found=" ".join(component_names(r)))
        for c in comps:
            if r[c].attrs.get("units") != first[c].attrs.get("units"):
                raise FormatError(f"component {c} has different units", path=p,
                                  expected=str(first[c].attrs.get("units")),
                                  found=str(r[c].attrs.get("units")))
        if float(r.attrs.get("sampling_period_s", np.nan)) != period:
            raise FormatError("files have different sampling periods", path=p,
                              expected=f"{period:g} s (as in {p0})",
                              found=f"{r.attrs.get('sampling_period_s')} s")
    step = np.timedelta64(int(round(period * 1e9)), "ns")
    pieces = [first]
    for prev, r, pp, p in zip(recs[:-1], recs[1:], names[:-1], names[1:], strict=True):
        t_end, t_start = prev["time"].values[-1], r["time"].values[0]
        if t_start <= t_end:
            raise FormatError(f"times overlap with {pp}", path=p,
                              expected=f"first time after {t_end} (last time of {pp})",
                              found=str(t_start))
        if (t_start - t_end) % step:
            raise FormatError(f"times are off the sampling grid of {pp}", path=p,
                              expected=f"a start a whole number of {period:g} s steps after "
                              f"{t_end}", found=str(t_start))
        gap = np.arange(t_end + step, t_start, step).astype("datetime64[ns]")
        if gap.size:
            filler = {}
            for name, var in first.data_vars.items():
                if var.dims != ("time",):
                    continue
                if str(name).endswith("_flag"):
                    filler[name] = ("time", np.full(gap.size, FLAG_MISSING, var.dtype),
                                    var.attrs)
                else:
                    filler[name] = ("time", np.full(gap.size, np.nan, var.dtype), var.attrs)
            pieces.append(xr.Dataset(filler, coords={"time": gap}))
        pieces.append(r)
    out = xr.concat(pieces, dim="time", data_vars="minimal", coords="minimal",
                    compat="override", combine_attrs="override", join="outer")
    out["time"].attrs = dict(first["time"].attrs)
    out.attrs = dict(first.attrs)
    return append_history(out, "joined " + ", ".join(str(Path(p).name) for p in names))


# --------------------------------------------------------------------------------------------
# earthquake catalogs
# --------------------------------------------------------------------------------------------

#: Catalog formats, in the order their sniffs are tried on the header line:
#: name -> (sniff(header line, text) -> bool, read(path, **options) -> catalog frame).
CATALOG_READERS: dict[str, tuple[Callable[[str, str], bool], Callable[..., pd.DataFrame]]] = {
    "quakeml": (is_quakeml, read_quakeml),
    "fdsn-text": (is_fdsn_text, read_fdsn_text),
    "jma": (is_jma, read_jma_csv),
    "geoanom": (is_geoanom_csv, read_geoanom_csv),
    "comcat": (is_comcat, read_comcat_csv),
    "pycsep": (is_pycsep, read_pycsep_csv),
    "earthquakenpp": (is_earthquakenpp, read_earthquakenpp_csv),
    "neic": (is_neic, read_neic_significant),
    "aeta": (is_aeta, read_aeta_eqlst),
}

#: Formats :func:`read_catalog` knows, as messages list them (``"mapped"``: a delimited table
#: read through a column mapping).
KNOWN_FORMATS = (
    "comcat", "fdsn-text", "pycsep", "earthquakenpp", "neic", "jma", "aeta", "quakeml", "geoanom",
    "mapped",
)


def sniff_catalog_format(path: str | os.PathLike) -> str:
    """The name of the format of catalog ``path``, recognised from its header line.

    Raises
    ------
    FormatError
        If the header matches no known format (the message lists them).
    """
    p, text = read_text(path)
    head = first_header_line(text)
    for name, (sniff, _) in CATALOG_READERS.items():
        if sniff(head, text):
            return name
    line = next((i for i, ln in enumerate(p.read_bytes().decode("utf-8", "replace")
                                           .splitlines(), 1) if ln.strip()), 1)
    raise FormatError("unrecognised catalog format", path=p, line=line,
                      expected="a header of one of the formats " + ", ".join(KNOWN_FORMATS[:-1])
                      + " (or read it through a column mapping: --map FILE or --map-set "
                      "KEY=VALUE)", found=head)


def read_catalog(path: str | os.PathLike, *, format: str | None = None,
                 mapping: MappingSpec | None = None, **options: Any) -> pd.DataFrame:
    """Read a catalog file in any supported format into the validated catalog frame.

    Parameters
    ----------
    path
        The catalog file (gzip allowed).
    format
        None (recognised from the header line) or one of :data:`KNOWN_FORMATS`.
    mapping
        A column mapping of kind ``catalog`` (:mod:`geoanom.io.table`): the file is then a
        delimited table read through it (format ``"mapped"``).
    **options
        Passed to the format's reader (``include_explosions``, ``missing_magnitude``).

    Raises
    ------
    FormatError
        An unknown or unrecognised format, or a reader's error.
    ConfigError
        Options the reader does not take, or a bad mapping.
    """
    name = format.lower().replace("_", "-") if isinstance(format, str) else format
    if _through_mapping(name, mapping, "catalog"):
        name, reader, args = "mapped", read_catalog_table, (path, mapping)
    else:
        if name is None:
            name = sniff_catalog_format(path)
        if name not in CATALOG_READERS:
            raise FormatError("unknown catalog format", path=path,
                              expected="None (recognised from the header) or one of "
                                       + ", ".join(KNOWN_FORMATS), found=str(format))
        reader, args = CATALOG_READERS[name][1], (path,)
    try:
        inspect.signature(reader).bind(*args, **options)
    except TypeError as exc:
        raise ConfigError(f"bad options for the {name} catalog reader",
                          expected="the reader's keyword arguments", found=str(exc)) from None
    return reader(*args, **options)
