"""ImagCDF (INTERMAGNET CDF, format versions 1.x) reader, through the optional ``cdflib``
(``pip install "geoanom[cdf]"``).

What is read (INTERMAGNET ImagCDF 1.2 specification):

* elements: one variable ``GeomagneticField<E>`` per code in the global attribute
  ``ElementsRecorded`` (``HDZ``, ``XYZ``, ``HEZS``...); temperatures ``Temperature<N>``
  (kept unless ``include_temperatures=False``, named ``Temperature<N>``, units as written);
* time stamps: each variable's ``DEPEND_0`` names its time variable (``DataTimes`` when all
  share one; else ``GeomagneticVectorTimes``, ``GeomagneticScalarTimes``,
  ``Temperature<N>Times``); CDF TT2000 is converted to UTC (leap seconds handled by cdflib);
* fill values: the variable's ``FILLVAL`` (typically 99999.0, NaN in MagPy files), 99999.0
  and NaN are :data:`~geoanom.record.FLAG_MISSING`; 88888.0 is
  :data:`~geoanom.record.FLAG_NOT_OBSERVED`; other values outside ``VALIDMIN..VALIDMAX`` are
  flagged missing and counted in the record's history;
* D and I are stored in ImagCDF in degrees; the record keeps them in arc-minutes (the
  record contract), and the conversion is written to the history.

Different cadences (decision): the record's time axis is the vector time axis (the scalar
axis when a file has no vector elements). A series on another time variable (a scalar
magnetometer, a temperature at 1 min beside 1 s vector data) is placed onto that axis by
exact time match; axis samples it does not cover are flagged
:data:`~geoanom.record.FLAG_NOT_OBSERVED`. A series with a sample that does not fall on the
axis (a higher cadence, an offset, a span outside the vector span) is a
:class:`~geoanom.errors.FormatError` naming the variable and the first such time: nothing is
resampled silently. Pass ``include_temperatures=False`` to leave temperatures out.
Gaps in the axis itself (spec violation, but seen in practice) become rows flagged missing
when every step is a whole multiple of the median step; any other irregular axis is an error.

Global attributes map onto record attrs: ``IagaCode`` -> ``iaga_code``, ``ObservatoryName``
-> ``station_name``, ``Latitude``/``Longitude``/``Elevation`` -> ``latitude_deg``,
``longitude_deg``, ``elevation_m`` (99999 -> NaN), ``PublicationLevel`` 1/2/3/4 ->
``data_type`` variation/provisional/quasi-definitive/definitive, ``Source`` (else
``Institution``) -> ``source``; every global attribute is also kept verbatim as
``imagcdf_<Name>`` (multiple entries joined by newlines, dates as ISO text).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import xarray as xr

from geoanom.errors import FormatError, MissingDependencyError
from geoanom.record import (
    FLAG_MISSING,
    FLAG_NOT_OBSERVED,
    FLAG_VALID,
    append_history,
    make_record,
)

__all__ = ["read_imagcdf", "is_imagcdf", "PUBLICATION_LEVELS", "CDF_MAGICS"]

#: ImagCDF PublicationLevel -> record data_type.
PUBLICATION_LEVELS = {"1": "variation", "2": "provisional", "3": "quasi-definitive",
                      "4": "definitive"}
#: First four bytes of CDF files (v3, v2.6-2.7, v2.5 and older).
CDF_MAGICS = (b"\xcd\xf3\x00\x01", b"\xcd\xf2\x60\x02", b"\x00\x00\xff\xff")

_MISSING_VALUE = 99999.0
_NOT_OBSERVED_VALUE = 88888.0
_SCALAR_ELEMENTS = ("S", "G")
_ANGLE_ELEMENTS = ("D", "I")
_TIME_DEFAULTS = {"vector": "GeomagneticVectorTimes", "scalar": "GeomagneticScalarTimes"}


def is_imagcdf(path: Path, head: bytes) -> bool:
    """Whether a file whose first bytes are ``head`` is a CDF file (:data:`CDF_MAGICS`)."""
    return head[:4] in CDF_MAGICS


def _import_cdflib():
    try:
        import cdflib
    except ImportError as exc:
        raise MissingDependencyError(
            "reading ImagCDF needs the optional package cdflib",
            expected='cdflib installed: pip install "geoanom[cdf]"', found="not installed",
        ) from exc
    return cdflib


def _entry(value: object) -> object:
    """One global attribute's entries -> a scalar (str/float/int) or newline-joined text."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        vals = [_entry(v) for v in value]
        if len(vals) == 1:
            return vals[0]
        return "\n".join(str(v) for v in vals)
    if isinstance(value, np.ndarray):
        if value.size == 1:
            return _entry(value.reshape(())[()])
        return "\n".join(str(v) for v in value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _as_float(value: object, *, path: Path, name: str) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise FormatError(f"global attribute {name} is not a number", path=path,
                          expected="a number", found=repr(value)) from exc


def read_imagcdf(path: str | os.PathLike, *, include_temperatures: bool = True) -> xr.Dataset:
    """Read an ImagCDF file into a station record.

    Parameters
    ----------
    path
        The ``.cdf`` file.
    include_temperatures
        Keep ``Temperature<N>`` variables as record components (units as in the file,
        e.g. Celsius).

    Returns
    -------
    xarray.Dataset
        The station record: components in nT (D and I in arcmin), time UTC at the vector
        cadence, flags distinguishing missing (fill) from not observed.

    Raises
    ------
    MissingDependencyError
        cdflib is not installed (``pip install "geoanom[cdf]"``).
    FormatError
        The file is not a readable ImagCDF (names the file, what was expected and found).
    """
    cdflib = _import_cdflib()
    path = Path(path)
    cdf, variables, gattrs = _open_cdf(cdflib, path)
    elements, temps = _select_variables(gattrs, variables, path, include_temperatures)
    series = _read_series(cdf, variables, elements, temps, path)
    times = _read_series_times(cdflib, cdf, series, variables, path)
    axis_name, axis, period_ns, gap_rows = _record_axis(series, elements, times, path)

    history_notes: list[str] = []
    components, flags, units = {}, {}, {}
    for comp, (vals, vattrs, tname, code) in series.items():
        v, f = _flag_values(comp, vals, vattrs, history_notes)
        v, unit = _to_record_unit(comp, code, v, vattrs, path, history_notes)
        components[comp], flags[comp] = _place_on_axis(
            comp, v, f, times[tname], on_axis=tname == axis_name, tname=tname, axis=axis,
            axis_name=axis_name, period_ns=period_ns, path=path)
        units[comp] = unit

    attrs = _record_attrs(gattrs, path, period_ns)
    rec = make_record(axis, components, flags=flags, units=units, attrs=attrs,
                      history=f"read ImagCDF {path.name}")
    if gap_rows:
        history_notes.append(f"{gap_rows} time steps absent from {axis_name} added as "
                             "missing rows")
    for note in history_notes:
        rec = append_history(rec, note)
    return rec


def _open_cdf(cdflib, path: Path) -> tuple[object, list[str], dict]:
    """Check that ``path`` is a CDF file and open it.

    Returns (the cdflib reader, the variable names (z then r), the global attributes as
    scalars/text).
    """
    if path.is_dir():
        raise FormatError("is a directory, not an ImagCDF file", path=path)
    if not path.is_file():
        raise FormatError("file not found", path=path)
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head not in CDF_MAGICS:
        raise FormatError("not a CDF file", path=path, line=None,
                          expected="CDF magic bytes " + " or ".join(m.hex() for m in CDF_MAGICS),
                          found=head.hex() or "empty file")
    try:
        cdf = cdflib.CDF(str(path))
        info = cdf.cdf_info()
        gattrs = {k: _entry(v) for k, v in cdf.globalattsget().items()}
    except Exception as exc:  # cdflib raises bare exceptions of many kinds on corrupt files
        raise FormatError("CDF file cannot be read", path=path, expected="a valid CDF",
                          found=f"{type(exc).__name__}: {exc}") from exc
    variables = list(info.zVariables) + list(info.rVariables)
    return cdf, variables, gattrs


def _select_variables(gattrs: dict, variables: list[str], path: Path,
                      include_temperatures: bool) -> tuple[list[str], list[str]]:
    """Return (element codes from ``ElementsRecorded`` or the variables present,
    ``Temperature<N>`` variable names in N order, empty when not included)."""
    elements_attr = str(gattrs.get("ElementsRecorded", "") or "").strip()
    present = [v[len("GeomagneticField"):] for v in variables
               if v.startswith("GeomagneticField") and len(v) > len("GeomagneticField")]
    # "HDZF", "hdzf" or "H,D,Z,F": one letter per element
    elements = [c for c in elements_attr.upper() if c.isalpha()] if elements_attr else present
    for e in elements:
        if f"GeomagneticField{e}" not in variables:
            raise FormatError(f"element {e} is listed in ElementsRecorded but has no variable",
                              path=path, expected=f"variable GeomagneticField{e}",
                              found=", ".join(variables))
    if not elements:
        raise FormatError("no geomagnetic element variables", path=path,
                          expected="GeomagneticField<E> variables", found=", ".join(variables))
    temps = sorted((v for v in variables if re.fullmatch(r"Temperature\d+", v)),
                   key=lambda v: int(v[len("Temperature"):])) if include_temperatures else []
    return elements, temps


def _read_series(cdf, variables: list[str], elements: list[str], temps: list[str],
                 path: Path) -> dict[str, tuple[np.ndarray, dict, str, str | None]]:
    """Read element and temperature variables.

    Returns component name -> (values, variable attributes, time variable name, element
    code or None for a temperature).
    """
    def read_var(name: str) -> tuple[np.ndarray, dict]:
        try:
            values = np.asarray(cdf.varget(name))
            vattrs = {k: _entry(v) for k, v in cdf.varattsget(name).items()}
        except Exception as exc:
            raise FormatError(f"variable {name} cannot be read", path=path,
                              found=f"{type(exc).__name__}: {exc}") from exc
        return values, vattrs

    series = {}
    for e in elements:
        vals, vattrs = read_var(f"GeomagneticField{e}")
        kind = "scalar" if e in _SCALAR_ELEMENTS else "vector"
        tname = str(vattrs.get("DEPEND_0") or _default_time(variables, _TIME_DEFAULTS[kind]))
        series[e] = (vals, vattrs, tname, e)
    for tv in temps:
        vals, vattrs = read_var(tv)
        tname = str(vattrs.get("DEPEND_0") or _default_time(variables, f"{tv}Times"))
        series[tv] = (vals, vattrs, tname, None)
    return series


def _read_series_times(cdflib, cdf, series: dict, variables: list[str],
                       path: Path) -> dict[str, np.ndarray]:
    """Decode each time variable the series use (once each); check lengths match."""
    times: dict[str, np.ndarray] = {}
    for comp, (vals, _, tname, _) in series.items():
        if tname not in variables:
            raise FormatError(f"time variable {tname} of {comp} is not in the file", path=path,
                              expected=tname, found=", ".join(variables))
        if tname not in times:
            times[tname] = _read_times(cdflib, cdf, tname, path)
        if vals.ndim != 1 or vals.shape[0] != times[tname].shape[0]:
            raise FormatError(f"variable of {comp} and its time variable {tname} differ in "
                              "length", path=path, expected=f"{times[tname].shape[0]} records",
                              found=f"{vals.shape}")
    return times


def _record_axis(series: dict, elements: list[str], times: dict[str, np.ndarray],
                 path: Path) -> tuple[str, np.ndarray, int, int]:
    """The record's time axis: the vector time variable (else the first element's).

    Returns (its name, the regular axis, period in ns, rows added for gaps).
    """
    vector_times = {series[e][2] for e in elements if e not in _SCALAR_ELEMENTS}
    if len(vector_times) > 1:
        raise FormatError("vector elements use different time variables", path=path,
                          expected="one time variable for all vector elements",
                          found=", ".join(sorted(vector_times)))
    axis_name = next(iter(vector_times)) if vector_times else series[elements[0]][2]
    axis, period_ns, gap_rows = _regular_axis(times[axis_name], axis_name, path)
    return axis_name, axis, period_ns, gap_rows


def _flag_values(comp: str, vals: np.ndarray, vattrs: dict,
                 history_notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Float64 copy of a series and its flags: fill/NaN/99999 missing, 88888 not observed,
    outside VALIDMIN..VALIDMAX missing (counted in ``history_notes``)."""
    v = vals.astype(np.float64, copy=True)
    f = np.full(v.shape, FLAG_VALID, np.int8)
    fill = vattrs.get("FILLVAL")
    try:
        fillv = float(fill) if fill is not None else None
    except (TypeError, ValueError):
        fillv = None
    miss = np.isnan(v) | (v == _MISSING_VALUE)
    if fillv is not None and np.isfinite(fillv):
        miss |= v == fillv
    f[miss] = FLAG_MISSING
    f[(v == _NOT_OBSERVED_VALUE) & ~miss] = FLAG_NOT_OBSERVED
    lo, hi = vattrs.get("VALIDMIN"), vattrs.get("VALIDMAX")
    try:
        lo = float(lo) if lo is not None else -np.inf
        hi = float(hi) if hi is not None else np.inf
    except (TypeError, ValueError):
        lo, hi = -np.inf, np.inf
    bad = (f == FLAG_VALID) & ((v < lo) | (v > hi))
    if np.any(bad):
        f[bad] = FLAG_MISSING
        history_notes.append(f"{int(bad.sum())} {comp} samples outside VALIDMIN..VALIDMAX "
                             f"({lo:g}..{hi:g}) flagged missing")
    return v, f


def _to_record_unit(comp: str, code: str | None, v: np.ndarray, vattrs: dict, path: Path,
                    history_notes: list[str]) -> tuple[np.ndarray, str]:
    """Values in the record's unit: D and I in arcmin (from degrees), field elements in nT
    (any other unit is an error), temperatures as written (``degC`` when unlabelled)."""
    unit = str(vattrs.get("UNITS", "") or "")
    if code in _ANGLE_ELEMENTS:
        if "min" not in unit.lower():
            # ImagCDF stores angles in degrees; the record keeps arcmin (contract)
            v = v * 60.0
            history_notes.append(f"{comp} converted from degrees ({unit or 'no unit'}) "
                                 "to arcmin (x60)")
        unit = "arcmin"
    elif code is not None:
        if unit and unit != "nT":
            raise FormatError(f"element {code} has unit {unit!r}", path=path,
                              expected="nT", found=unit)
        unit = "nT"
    elif not unit:
        unit = "degC"
    return v, unit


def _place_on_axis(comp: str, v: np.ndarray, f: np.ndarray, t: np.ndarray, *, on_axis: bool,
                   tname: str, axis: np.ndarray, axis_name: str, period_ns: int,
                   path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Put a series onto the record axis by exact time match.

    Axis rows the series does not cover are missing (its own time variable: gap rows) or
    not observed (another time variable); a sample off the axis is a FormatError.
    """
    pos = np.searchsorted(axis, t)
    if not on_axis:
        steps = np.diff(t.astype(np.int64))
        if np.any(steps <= 0):
            i = int(np.argmax(steps <= 0))
            raise FormatError(f"times in {tname} are not strictly increasing", path=path,
                              expected=f"a time after {t[i]}",
                              found=f"{t[i + 1]} (record {i + 2})")
        ok = (pos < axis.size) & (axis[np.minimum(pos, axis.size - 1)] == t)
        if not np.all(ok):
            i = int(np.argmin(ok))
            raise FormatError(
                f"{comp} has samples that do not fall on the vector time axis "
                f"({axis_name}); resample it first or leave it out", path=path,
                expected=f"times on the {period_ns / 1e9:g} s grid from {axis[0]} "
                f"to {axis[-1]}", found=f"{t[i]} ({int((~ok).sum())} such samples)")
    full_v = np.full(axis.shape, np.nan)
    full_f = np.full(axis.shape, FLAG_NOT_OBSERVED if not on_axis else FLAG_MISSING, np.int8)
    full_v[pos] = v
    full_f[pos] = f
    return full_v, full_f


def _default_time(variables: list[str], preferred: str) -> str:
    if preferred in variables:
        return preferred
    return "DataTimes"


def _read_times(cdflib, cdf, name: str, path: Path) -> np.ndarray:
    try:
        raw = cdf.varget(name)
        t = np.asarray(cdflib.cdfepoch.to_datetime(raw)).astype("datetime64[ns]")
    except Exception as exc:
        raise FormatError(f"time variable {name} cannot be decoded", path=path,
                          expected="CDF_TIME_TT2000 (or CDF_EPOCH) values",
                          found=f"{type(exc).__name__}: {exc}") from exc
    return t.ravel()


def _regular_axis(t: np.ndarray, name: str, path: Path) -> tuple[np.ndarray, int, int]:
    """Return (regular axis, period in ns, number of rows added for gaps)."""
    if t.size == 0:
        raise FormatError(f"time variable {name} is empty", path=path,
                          expected="at least one sample", found="0 records")
    if t.size == 1:
        return t, 0, 0
    d = np.diff(t.astype(np.int64))
    if np.any(d <= 0):
        i = int(np.argmax(d <= 0))
        raise FormatError(f"times in {name} are not strictly increasing", path=path,
                          expected=f"a time after {t[i]}", found=f"{t[i + 1]} (record {i + 2})")
    period = int(np.median(d))
    if np.all(d == period):
        return t, period, 0
    if np.any(d % period):
        i = int(np.argmax(d % period != 0))
        raise FormatError(f"times in {name} are not on a regular grid", path=path,
                          expected=f"steps that are multiples of {period / 1e9:g} s",
                          found=f"{d[i] / 1e9:g} s between {t[i]} and {t[i + 1]}")
    axis = np.arange(t[0], t[-1] + np.timedelta64(period, "ns"), np.timedelta64(period, "ns"))
    return axis.astype("datetime64[ns]"), period, int(axis.size - t.size)


def _record_attrs(g: dict, path: Path, period_ns: int) -> dict:
    import cdflib

    def get(name: str, default: object = None) -> object:
        v = g.get(name, default)
        return default if v is None or v == "" else v

    elev = get("Elevation")
    elev_f = _as_float(elev, path=path, name="Elevation") if elev is not None else float("nan")
    if elev_f == _MISSING_VALUE:
        elev_f = float("nan")
    level = str(get("PublicationLevel", "")).strip()
    attrs: dict = {
        "iaga_code": str(get("IagaCode", "UNK")).strip().upper(),
        "station_name": str(get("ObservatoryName", "unknown")).strip(),
        "latitude_deg": _as_float(get("Latitude", "nan"), path=path, name="Latitude"),
        "longitude_deg": _as_float(get("Longitude", "nan"), path=path, name="Longitude"),
        "elevation_m": elev_f,
        "sampling_period_s": period_ns / 1e9 if period_ns else float("nan"),
        "data_type": PUBLICATION_LEVELS.get(level, "unknown"),
        "source": str(get("Source", None) or get("Institution", "unknown")),
    }
    for name, value in g.items():
        if name == "PublicationDate" and isinstance(value, (int, np.integer)):
            try:
                value = str(np.asarray(cdflib.cdfepoch.to_datetime(value)).ravel()[0])
            except Exception:  # keep the raw number if it is not a TT2000 value
                value = int(value)
        if isinstance(value, float) and not np.isfinite(value):
            value = str(value)
        if not isinstance(value, (str, int, float)):
            value = str(value)
        attrs[f"imagcdf_{name}"] = value
    return attrs
