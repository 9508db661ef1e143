"""The canonical on-disk form of a station record: CF-1.8 netCDF4, ``featureType=timeSeries``.

Layout of a file written by :func:`write_netcdf` (one station, one time series)::

    dimensions:  time = N
    variables:
      int64 time(time)            units = "<seconds|milliseconds|...> since 1970-01-01 00:00:00"
      string station_id           cf_role = "timeseries_id"
      double latitude / longitude / altitude     (CF units and standard names)
      double <C>(time)            units, _FillValue = NaN, coordinates, ancillary_variables
      byte   <C>_flag(time)       flag_values = 0, 1, 2; flag_meanings = "valid missing not_observed"
    global attributes: Conventions = "CF-1.8", featureType, history, every record attr,
      geoanom_provenance (JSON), geoanom_attr_types (JSON)

Losslessness: time is stored as int64 in the coarsest unit (s, ms, us or ns) that holds every
sample exactly, components as float64 (NaN where flagged), flags as int8. Every record attr
is written as a native netCDF attribute where netCDF has a matching type; the Python type of
each attr is kept in ``geoanom_attr_types`` so that ints stay ints, lists stay lists, and
values netCDF cannot hold (bools, None, dicts, text arrays) travel as JSON; objects JSON
cannot hold either are written as their ``str()``. What the writer adds for CF
(``Conventions``, ``coordinates``, the scalar station variables, provenance...) is listed in
``geoanom_cf_added`` attributes and removed again on reading, so
``read_netcdf(write_netcdf(r))`` equals ``r`` exactly: values, NaN positions, flags, times
and attrs.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import xarray as xr

from geoanom._atomic import atomic_path
from geoanom.errors import FormatError, ValidationError
from geoanom.provenance import canonical_json, provenance
from geoanom.record import FLAG_MISSING, FLAG_VALID, REQUIRED_ATTRS, history_line

__all__ = ["write_netcdf", "read_netcdf", "write_dataset_netcdf", "is_netcdf",
           "NETCDF_FORMAT_VERSION"]

#: Version of the layout above; bumped when the layout changes incompatibly.
NETCDF_FORMAT_VERSION = "1"

_TIME_UNITS = (  # (unit name, nanoseconds per unit), coarsest first
    ("seconds", 1_000_000_000),
    ("milliseconds", 1_000_000),
    ("microseconds", 1_000),
    ("nanoseconds", 1),
)
_EPOCH = "1970-01-01 00:00:00"
# units other CF writers use (xarray picks days/hours/minutes when they fit)
_DECODE_UNITS = {
    **dict(_TIME_UNITS), "days": 86_400_000_000_000, "day": 86_400_000_000_000,
    "hours": 3_600_000_000_000, "hour": 3_600_000_000_000, "minutes": 60_000_000_000,
    "minute": 60_000_000_000, "second": 1_000_000_000, "s": 1_000_000_000,
    "ms": 1_000_000, "us": 1_000, "ns": 1,
}
STATION_VARS = ("station_id", "latitude", "longitude", "altitude")
# zlib level 1 with shuffle: nearly all of the size gain of higher levels at a fraction of the
# time (measured by bench/bench_netcdf.py); chunks of 64 Ki samples keep partial reads cheap.
_COMPLEVEL = 1
_CHUNK = 65536
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_CLASSIC_MAGICS = (b"CDF\x01", b"CDF\x02", b"CDF\x05")


def is_netcdf(path: Path, head: bytes) -> bool:
    """Whether a file whose first bytes are ``head`` is netCDF: HDF5 (netCDF4) or classic
    (``CDF\\x01``, ``\\x02``, ``\\x05``) magic."""
    return head.startswith(_HDF5_MAGIC) or head[:4] in _CLASSIC_MAGICS


# ----------------------------------------------------------------------------------------
# attribute (de)serialisation
# ----------------------------------------------------------------------------------------

def _encode_attr(value: object) -> tuple[object, str]:
    """Return (value netCDF can store, type tag) for one attr value."""
    if isinstance(value, bool) or value is None or isinstance(value, dict):
        return json.dumps(value, sort_keys=True), "json"
    if isinstance(value, str):
        # netCDF text ends at a NUL byte: such strings travel as JSON (escaped)
        return (json.dumps(value), "json") if "\x00" in value else (value, "str")
    if isinstance(value, int) and not -2**63 <= value < 2**63:
        return json.dumps(value), "json"  # beyond int64: exact as JSON text
    if isinstance(value, (int, np.integer)):
        tag = "int" if isinstance(value, int) else f"np:{np.asarray(value).dtype.str}"
        return np.int64(value) if isinstance(value, int) else value, tag
    if isinstance(value, (float, np.floating)):
        tag = "float" if isinstance(value, float) else f"np:{np.asarray(value).dtype.str}"
        return value, tag
    if isinstance(value, np.ndarray):
        if value.ndim == 1 and value.dtype.kind in "iuf" and value.size > 0:
            return value, f"ndarray:{value.dtype.str}"
        # empty, multi-dimensional, text or boolean arrays: values and dtype through JSON
        return json.dumps(value.tolist()), f"ndarray-json:{value.dtype.str}"
    if isinstance(value, (list, tuple)):
        # lists of one numeric kind are stored natively for other CF tools; anything else as JSON
        kind = "list" if isinstance(value, list) else "tuple"
        if value and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                         for v in value):
            return np.asarray(value, dtype=np.int64), f"{kind}:int"
        if value and all(isinstance(v, (float, np.floating)) for v in value):
            return np.asarray(value, dtype=np.float64), f"{kind}:float"
        return json.dumps(list(value)), f"{kind}:json"
    return json.dumps(value, default=str), "json"


def _decode_attr(value: object, tag: str | None) -> object:
    """Invert :func:`_encode_attr` (``tag`` None: a plain netCDF attr from another writer)."""
    if tag is None:
        if isinstance(value, np.ndarray) and value.size == 1:
            value = value.reshape(())[()]
        if isinstance(value, np.generic):
            return value.item()
        return value
    if tag == "str":
        return str(value)
    if tag == "json":
        return json.loads(value)
    if tag == "int":
        return int(np.asarray(value).reshape(()))
    if tag == "float":
        return float(np.asarray(value).reshape(()))
    if tag.startswith("np:"):
        return np.asarray(value).reshape(()).astype(np.dtype(tag[3:]))[()]
    if tag.startswith("ndarray-json:"):
        return np.asarray(json.loads(value), dtype=np.dtype(tag[13:]))
    if tag.startswith("ndarray:"):
        return np.atleast_1d(np.asarray(value)).astype(np.dtype(tag[8:]))
    kind, _, inner = tag.partition(":")
    if kind in ("list", "tuple"):
        if inner == "json":
            items = json.loads(value)
        else:
            conv = int if inner == "int" else float
            items = [conv(v) for v in np.atleast_1d(np.asarray(value))]
        return items if kind == "list" else tuple(items)
    raise FormatError("unknown attribute type tag", expected="a tag written by geoanom",
                      found=tag)


def _set_attrs(obj, attrs: Mapping[str, object]) -> dict[str, str]:
    """Write ``attrs`` onto a netCDF4 Dataset/Variable; return the type tags."""
    tags = {}
    for key, value in attrs.items():
        enc, tag = _encode_attr(value)
        try:
            obj.setncattr(str(key), enc)
        except (TypeError, ValueError, AttributeError, RuntimeError) as exc:
            raise ValidationError(f"attribute {key!r} cannot be written to netCDF",
                                  expected="a netCDF attribute name (no '/', not empty)",
                                  found=f"{type(exc).__name__}: {exc}") from exc
        tags[str(key)] = tag
    return tags


# ----------------------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------------------

def _time_encoding(t: np.ndarray) -> tuple[np.ndarray, str]:
    ns = t.astype("datetime64[ns]").astype(np.int64)
    for name, factor in _TIME_UNITS:
        if factor == 1 or not np.any(ns % factor):
            return ns // factor, f"{name} since {_EPOCH}"
    raise AssertionError("unreachable")  # pragma: no cover


def _finite_or_nan(x: object) -> float:
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return v


def _longitude_180(lon: float) -> float:
    """East-positive longitude in (-180, 180] (CF accepts either; the registry uses this)."""
    if not math.isfinite(lon):
        return lon
    v = math.fmod(lon, 360.0)
    if v > 180.0:
        v -= 360.0
    elif v <= -180.0:
        v += 360.0
    return v


def write_netcdf(
    record: xr.Dataset,
    path: str | os.PathLike,
    *,
    config: object | None = None,
    inputs: Iterable[str | os.PathLike] = (),
    seeds: Mapping[str, int] | None = None,
    complevel: int = _COMPLEVEL,
) -> Path:
    """Write a station record as CF-1.8 netCDF4 (``featureType=timeSeries``), atomically.

    Parameters
    ----------
    record
        A station record (see :mod:`geoanom.record`); components in their own units (nT,
        arcmin...), flags int8, time UTC ``datetime64[ns]``.
    path
        Output file; written under a temporary name in the same folder and renamed, so a
        failure never leaves a partial file under ``path``.
    config, inputs, seeds
        Provenance (see :func:`geoanom.provenance.provenance`): stored as JSON in the global
        attribute ``geoanom_provenance``; ``inputs`` are checksummed.
    complevel
        zlib level (0 disables compression; 1 is the measured best speed/size trade-off).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    import netCDF4

    if not isinstance(record, xr.Dataset) or "time" not in record.dims:
        raise ValidationError("write_netcdf needs a station record (xarray.Dataset with a "
                              "'time' dimension)", found=type(record).__name__)
    for name, var in record.data_vars.items():
        if var.dims not in (("time",), ()):
            raise ValidationError(f"variable {name!r} has dimensions {var.dims}",
                                  expected="('time',) or scalar", found=str(var.dims))
        if var.dtype.kind not in "iuf":
            raise ValidationError(f"variable {name!r} has dtype {var.dtype}",
                                  expected="numeric", found=str(var.dtype))
    for name in record.data_vars:
        if name in STATION_VARS:
            raise ValidationError(f"record variable {name!r} clashes with a CF station "
                                  "variable the writer adds", found=str(name))
    prov = provenance(config=config, inputs=inputs, seeds=seeds)
    path = Path(path)
    with atomic_path(path, suffix=".nc") as tmp:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as nc:
            _write_record(nc, record, prov, complevel)
    return path


def _write_record(nc, record: xr.Dataset, prov: dict, complevel: int) -> None:
    n = record.sizes["time"]
    nc.createDimension("time", n)
    chunks = (max(1, min(n, _CHUNK)),)
    comp = ({"zlib": complevel > 0, "complevel": max(complevel, 1), "shuffle": True}
        if n > 0 else {})

    t = record["time"].values
    tvals, tunits = _time_encoding(t)
    tv = nc.createVariable("time", "i8", ("time",), fill_value=False, chunksizes=chunks if comp else None, **comp)
    tv[:] = tvals
    time_attrs = dict(record["time"].attrs)
    time_tags = _set_attrs(tv, time_attrs)
    tv.setncattr("units", tunits)
    tv.setncattr("calendar", "proleptic_gregorian")
    added_time = [k for k in ("standard_name", "axis", "long_name") if k not in time_attrs]
    defaults = {"standard_name": "time", "axis": "T", "long_name": "time of sample (UTC)"}
    for k in added_time:
        tv.setncattr(k, defaults[k])
    tv.setncattr("geoanom_cf_added", " ".join(["units", "calendar", *added_time]))
    tv.setncattr("geoanom_attr_types", json.dumps(time_tags, sort_keys=True))

    attrs = dict(record.attrs)
    # the instance variable and the station coordinates (CF 1.8, H.2.5: a single time series)
    sid = nc.createVariable("station_id", str)
    sid[0] = str(attrs.get("iaga_code", "UNK"))
    sid.setncattr("cf_role", "timeseries_id")
    sid.setncattr("long_name", "IAGA code of the station")
    coords = {
        "latitude": (_finite_or_nan(attrs.get("latitude_deg")), "degrees_north", "latitude",
                     "geodetic latitude of the station", {}),
        "longitude": (_longitude_180(_finite_or_nan(attrs.get("longitude_deg"))),
                      "degrees_east", "longitude",
                      "geodetic longitude of the station, east-positive, -180 to 180", {}),
        "altitude": (_finite_or_nan(attrs.get("elevation_m")), "m", "altitude",
                     "station elevation above mean sea level", {"positive": "up", "axis": "Z"}),
    }
    for name, (value, units, std, long_name, extra) in coords.items():
        v = nc.createVariable(name, "f8", fill_value=np.nan)
        v.assignValue(value)
        v.setncattr("units", units)
        v.setncattr("standard_name", std)
        v.setncattr("long_name", long_name)
        for k, val in extra.items():
            v.setncattr(k, val)
    coord_attr = "station_id latitude longitude altitude"

    for name, var in record.data_vars.items():
        name = str(name)
        if var.dims == ():
            arr = np.asarray(var.values)
            v = nc.createVariable(name, arr.dtype)
            v.assignValue(arr)
            tags = _set_attrs(v, var.attrs)
            v.setncattr("geoanom_attr_types", json.dumps(tags, sort_keys=True))
            continue
        arr = np.asarray(var.values)
        is_flag = "flag_meanings" in var.attrs or name.endswith("_flag")
        if arr.dtype.kind == "f":
            v = nc.createVariable(name, arr.dtype, ("time",), fill_value=np.nan,
                                  chunksizes=chunks if comp else None, **comp)
        else:
            v = nc.createVariable(name, arr.dtype, ("time",), fill_value=False,
                                  chunksizes=chunks if comp else None, **comp)
        v.set_auto_maskandscale(False)
        v[:] = arr
        vattrs = dict(var.attrs)
        tags = _set_attrs(v, vattrs)
        added = []
        if "coordinates" not in vattrs:
            v.setncattr("coordinates", coord_attr)
            added.append("coordinates")
        if "long_name" not in vattrs:
            v.setncattr("long_name", f"quality flag of {name[:-5]}" if is_flag
                        else f"geomagnetic element {name}")
            added.append("long_name")
        if is_flag and "standard_name" not in vattrs:
            v.setncattr("standard_name", "status_flag")
            added.append("standard_name")
        if arr.dtype.kind == "f":
            added.append("_FillValue")
        v.setncattr("geoanom_cf_added", " ".join(added))
        v.setncattr("geoanom_attr_types", json.dumps(tags, sort_keys=True))

    tags = _set_attrs(nc, attrs)
    added_global = []
    cf_globals = {
        "Conventions": "CF-1.8",
        "title": f"geomagnetic record of station {attrs.get('iaga_code', 'UNK')}",
        "featureType": "timeSeries",
        "history": "",
        "geoanom_provenance": canonical_json(prov),
        "geoanom_netcdf_format": NETCDF_FORMAT_VERSION,
    }
    for k, val in cf_globals.items():
        if k not in attrs:
            nc.setncattr(k, val)
            added_global.append(k)
    nc.setncattr("geoanom_cf_added", " ".join(added_global))
    nc.setncattr("geoanom_cf_added_variables", " ".join(STATION_VARS))
    nc.setncattr("geoanom_attr_types", json.dumps(tags, sort_keys=True))


# ----------------------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------------------

def read_attrs(obj) -> dict:
    """The netCDF attributes of a file or variable as a dict of Python values (what the
    lazy reader of :mod:`geoanom.detector.distributed` reuses)."""
    names = list(obj.ncattrs())
    raw = {k: obj.getncattr(k) for k in names}
    tags = json.loads(raw.pop("geoanom_attr_types", "{}"))
    added = set(str(raw.pop("geoanom_cf_added", "")).split())
    raw.pop("geoanom_cf_added_variables", None)
    out = {}
    for k, v in raw.items():
        if k in added and k not in tags:
            continue
        out[k] = _decode_attr(v, tags.get(k))
    return out


def _decode_time(values: np.ndarray, units: str, path: Path) -> np.ndarray:
    unit, _, since = units.partition(" since ")
    factor = _DECODE_UNITS.get(unit.strip().lower())
    if factor is None or not since:
        raise FormatError("time variable has units this reader does not know", path=path,
                          expected="'<days|hours|minutes|seconds|milliseconds|microseconds|"
                          "nanoseconds> since "
                          "<date>'", found=units)
    try:
        origin = np.datetime64(since.strip().replace("Z", "").replace(" UTC", ""), "ns")
    except ValueError as exc:
        raise FormatError("time origin cannot be parsed", path=path,
                          expected="an ISO date", found=since) from exc
    v = np.asarray(values)
    if v.dtype.kind == "f":
        if not np.all(np.isfinite(v)):
            raise FormatError("time variable holds non-finite values", path=path)
        ns = np.round(v * factor).astype(np.int64)
    else:
        ns = v.astype(np.int64) * factor
    return origin + ns.astype("timedelta64[ns]")


def read_netcdf(path: str | os.PathLike) -> xr.Dataset:
    """Read a station record written by :func:`write_netcdf` (or any CF time-series file
    with a 1-D ``time`` axis whose variables are components and ``<name>_flag`` flags).

    Parameters
    ----------
    path
        A netCDF4/HDF5 file.

    Returns
    -------
    xarray.Dataset
        The station record, exactly as written (values, NaN positions, flags, times, attrs).
    """
    import netCDF4

    path = Path(path)
    if path.is_dir():
        raise FormatError("is a directory, not a netCDF file", path=path)
    if not path.is_file():
        raise FormatError("file not found", path=path)
    try:
        nc = netCDF4.Dataset(path, "r")
    except OSError as exc:
        raise FormatError("not a readable netCDF file", path=path,
                          expected="netCDF4/HDF5 or classic netCDF", found=str(exc)) from exc
    with nc:
        nc.set_auto_maskandscale(False)
        if "time" not in nc.variables or "time" not in nc.dimensions:
            raise FormatError("netCDF file has no 'time' variable and dimension", path=path,
                              expected="a CF time series", found=", ".join(nc.variables))
        tvar = nc.variables["time"]
        if "units" not in tvar.ncattrs():
            raise FormatError("time variable has no units", path=path)
        time = _decode_time(tvar[:], str(tvar.getncattr("units")), path)
        time_attrs = read_attrs(tvar)
        for k in ("units", "calendar"):  # encoding, not attrs, in xarray's model
            time_attrs.pop(k, None)
        attrs = read_attrs(nc)
        ours = "geoanom_netcdf_format" in nc.ncattrs()
        skip = (set(str(nc.getncattr("geoanom_cf_added_variables")).split())
            if "geoanom_cf_added_variables" in nc.ncattrs() else set())
        data_vars, coords = {}, {}
        for name, var in nc.variables.items():
            if name == "time" or name in skip:
                continue
            if not ours and var.dimensions == () and name in STATION_VARS:
                coords[name] = var.getValue()  # a foreign file's station coordinates
                continue
            if var.dimensions not in (("time",), ()):
                raise FormatError(f"variable {name!r} is not a time series", path=path,
                                  expected="dimension ('time',)", found=str(var.dimensions))
            vattrs = read_attrs(var)
            values = np.asarray(var[:]) if var.dimensions else np.asarray(var.getValue())
            if not ours:
                values, vattrs = _unpack(values, vattrs)
            vattrs.pop("_FillValue", None)
            data_vars[name] = xr.Variable(var.dimensions, values, attrs=vattrs)
    ds = xr.Dataset(data_vars, coords={"time": xr.Variable(("time",), time, time_attrs)})
    ds.attrs = attrs
    if not ours:
        ds = _complete_foreign(ds, coords, path)
    return ds


def _unpack(values: np.ndarray, vattrs: dict) -> tuple[np.ndarray, dict]:
    """Apply CF packing and fill values of a variable from another writer."""
    vattrs = dict(vattrs)
    fills = [vattrs.pop(k) for k in ("_FillValue", "missing_value") if k in vattrs]
    scale, offset = vattrs.pop("scale_factor", None), vattrs.pop("add_offset", None)
    if not fills and scale is None and offset is None:
        return values, vattrs
    if values.dtype.kind in "iu" and "flag_values" in vattrs and scale is None:
        return values, vattrs  # flags stay integers
    out = values.astype(np.float64)
    for f in fills:
        out[np.isin(values, np.atleast_1d(np.asarray(f)))] = np.nan
    if scale is not None:
        out = out * float(scale)
    if offset is not None:
        out = out + float(offset)
    return out, vattrs


def _complete_foreign(ds: xr.Dataset, coords: dict, path: Path) -> xr.Dataset:
    """Make a CF time series written by another tool into a record: flags from NaN where a
    component has none, station attrs from CF coordinate variables, defaults otherwise."""
    for name in list(ds.data_vars):
        var = ds[name]
        if (var.dims != ("time",) or str(name).endswith("_flag") or var.dtype.kind != "f"
                or f"{name}_flag" in ds):
            continue
        ds[f"{name}_flag"] = ("time", np.where(np.isnan(var.values), FLAG_MISSING,
                                               FLAG_VALID).astype(np.int8),
                              {"flag_values": np.array([0, 1, 2], np.int8),
                               "flag_meanings": "valid missing not_observed",
                               "long_name": f"quality flag of {name}"})
        ds[name].attrs.setdefault("units", "unknown")
        ds[name].attrs.setdefault("ancillary_variables", f"{name}_flag")
    a = ds.attrs
    for key, cf in (("latitude_deg", "latitude"), ("longitude_deg", "longitude"),
                    ("elevation_m", "altitude")):
        if key not in a and cf in coords:
            a[key] = float(np.asarray(coords[cf]).reshape(()))
    if "iaga_code" not in a and "station_id" in coords:
        a["iaga_code"] = str(np.asarray(coords["station_id"]).reshape(()))
    t = ds["time"].values
    period = float(np.median(np.diff(t).astype(np.int64))) / 1e9 if t.size > 1 else np.nan
    defaults = {"iaga_code": "UNK", "station_name": "unknown", "latitude_deg": np.nan,
                "longitude_deg": np.nan, "elevation_m": np.nan, "sampling_period_s": period,
                "data_type": "unknown", "source": "unknown", "featureType": "timeSeries",
                "history": ""}
    for key in REQUIRED_ATTRS:
        a.setdefault(key, defaults[key])
    a["history"] = ((a["history"] + "\n" if a["history"] else "") +
        history_line(f"read netCDF {path.name} (not written by geoanom)"))
    return ds


# ----------------------------------------------------------------------------------------
# generic datasets (scores and other outputs)
# ----------------------------------------------------------------------------------------

def write_dataset_netcdf(
    ds: xr.Dataset,
    path: str | os.PathLike,
    *,
    config: object | None = None,
    inputs: Iterable[str | os.PathLike] = (),
    seeds: Mapping[str, int] | None = None,
    extra: Mapping[str, object] | None = None,
    complevel: int = _COMPLEVEL,
) -> Path:
    """Write any ``xarray.Dataset`` as CF netCDF4 atomically, with provenance.

    Numeric variables are zlib-compressed (level ``complevel``, shuffle); the global attrs
    get ``Conventions="CF-1.8"`` (unless present) and ``geoanom_provenance`` (JSON with
    version, config and its hash, input checksums, seeds, and ``extra``). Attribute values
    netCDF cannot hold (bools, None, dicts, mixed lists) are written as JSON text. Read it
    back with ``xarray.open_dataset``.

    Parameters
    ----------
    ds
        The dataset (e.g. scores, dim ``window``).
    path
        Output file; written to a temporary name and renamed.
    config, inputs, seeds, extra
        Provenance, see :func:`geoanom.provenance.provenance`.
    complevel
        zlib level; 0 disables compression.
    """
    out = ds.copy(deep=False)
    out.attrs = _plain_attrs(ds.attrs)
    for name in out.variables:
        out.variables[name].attrs = _plain_attrs(ds.variables[name].attrs)
    out.attrs.setdefault("Conventions", "CF-1.8")
    out.attrs["geoanom_provenance"] = canonical_json(
        provenance(config=config, inputs=inputs, seeds=seeds, extra=extra))
    encoding = {}
    for name, var in out.variables.items():
        if var.ndim >= 1 and var.dtype.kind in "iuf" and complevel > 0 and var.size > 0:
            encoding[name] = {"zlib": True, "complevel": complevel, "shuffle": True}
    path = Path(path)
    with atomic_path(path, suffix=".nc") as tmp:
        out.to_netcdf(tmp, engine="netcdf4", format="NETCDF4", encoding=encoding)
    return path


def _plain_attrs(attrs: Mapping[str, object]) -> dict:
    """Attrs xarray can write to netCDF: numbers, text, numeric arrays; the rest as JSON."""
    out = {}
    for k, v in attrs.items():
        enc, tag = _encode_attr(v)
        out[k] = (v if tag in ("str", "float", "int") or tag.startswith(("np:", "ndarray:"))
            else enc)
    return out
