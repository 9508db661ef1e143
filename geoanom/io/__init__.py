"""Readers and writers for the formats geophysicists have: IAGA-2002, ImagCDF, CF netCDF,
and earthquake catalogs.

:func:`read_record` reads any station record file (or several of one format) by looking at
its bytes, not its name: IAGA-2002 text (plain or gzip), ImagCDF (NASA CDF magic), netCDF
(classic ``CDF\\x01/\\x02/\\x05`` or HDF5 magic).
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import xarray as xr

from geoanom.errors import FormatError, GeoanomError

__all__ = ["read_record", "detect_format", "FORMATS"]

#: Formats :func:`read_record` knows.
FORMATS = ("iaga2002", "imagcdf", "netcdf")

_HDF5 = b"\x89HDF\r\n\x1a\n"
_NETCDF_CLASSIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05")
_GZIP = b"\x1f\x8b"


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    printable = sum(1 for b in head if b in (9, 10, 13) or 32 <= b < 127 or b >= 160)
    return printable / len(head) > 0.95


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
    from geoanom.io.imagcdf import CDF_MAGICS

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
    if head.startswith(_HDF5) or head[:4] in _NETCDF_CLASSIC:
        return "netcdf"
    if head[:4] in CDF_MAGICS:
        return "imagcdf"
    if head.startswith(_GZIP):
        try:
            with gzip.open(p, "rb") as gz:
                inner = gz.read(4096)
        except (OSError, EOFError, zlib.error) as exc:
            raise FormatError("gzip file cannot be decompressed", path=p,
                              expected="a gzip-compressed IAGA-2002 file",
                              found=str(exc)) from exc
        if _looks_like_text(inner):
            return "iaga2002"
        if inner[257:262] == b"ustar":
            raise FormatError("is a tar archive, not a record file", path=p,
                              expected="the record files themselves (extract the archive "
                              "and pass its daily files)", found="a gzip-compressed tar archive")
        raise FormatError("gzip file does not hold text", path=p,
                          expected="a gzip-compressed IAGA-2002 file",
                          found=f"bytes {inner[:8].hex()}")
    if _looks_like_text(head):
        return "iaga2002"
    raise FormatError("unknown file format", path=p,
                      expected="IAGA-2002 text (or gzip), ImagCDF (.cdf) or netCDF",
                      found=f"first bytes {head[:8].hex()}")


def _as_paths(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        return [Path(paths)]
    out = [Path(p) for p in paths]
    if not out:
        raise FormatError("no input files given", expected="at least one file")
    return out


def read_record(paths: str | os.PathLike | Iterable[str | os.PathLike], *,
                check_station: bool = True) -> xr.Dataset:
    """Read one station record from one file or several files of one format.

    Several IAGA-2002 files go to the IAGA-2002 reader (which joins daily files); several
    ImagCDF or netCDF files are read one by one and joined in time order (gaps between
    files become rows flagged missing; overlapping files are an error naming both).

    Parameters
    ----------
    paths
        A path or an iterable of paths.
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
    """
    plist = _as_paths(paths)
    kinds = {p: detect_format(p) for p in plist}
    found = sorted(set(kinds.values()))
    if len(found) > 1:
        detail = "; ".join(f"{p.name}: {k}" for p, k in kinds.items())
        raise FormatError("input files are of different formats", path=plist[0],
                          expected="files of one format", found=detail)
    kind = found[0]
    if kind == "iaga2002":
        try:
            from geoanom.io.iaga2002 import read_iaga2002
        except ImportError as exc:  # pragma: no cover - the module ships with geoanom
            raise GeoanomError("the IAGA-2002 reader is not available",
                               found=str(exc)) from exc
        rec = read_iaga2002(plist[0] if len(plist) == 1 else plist)
    else:
        if kind == "imagcdf":
            from geoanom.io.imagcdf import read_imagcdf as reader
        else:
            from geoanom.io.netcdf import read_netcdf as reader
        records = [reader(p) for p in plist]
        rec = records[0] if len(records) == 1 else join_records(records, plist)
    if check_station:
        from geoanom.stations import check_header

        check_header(rec)
    return rec


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
    from geoanom.record import FLAG_MISSING, append_history, component_names

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
