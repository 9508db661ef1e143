"""The station record: one ``xarray.Dataset`` per station and span.

Contract (DESIGN.md, "data model"):

* dimension ``time``: UTC, ``datetime64[ns]``, strictly increasing, regular cadence
  (``attrs["sampling_period_s"]``); gaps are rows whose values are flagged, not missing rows.
* one float64 variable per component (``X Y Z F``, ``H D Z F``, ``H E Z F``, MAGDAS ``ER_ANC``,
  ...), with a ``units`` attr (``nT``; ``D`` in ``arcmin``). Flagged samples hold NaN.
* one int8 variable ``<component>_flag`` per component: :data:`FLAG_VALID` (0),
  :data:`FLAG_MISSING` (1, IAGA 99999) or :data:`FLAG_NOT_OBSERVED` (2, IAGA 88888). The
  component's ``ancillary_variables`` attr names it (CF convention).
* attrs ``iaga_code``, ``station_name``, ``latitude_deg``, ``longitude_deg``, ``elevation_m``,
  ``sampling_period_s``, ``data_type``, ``source``, ``featureType="timeSeries"``, ``history``
  (newline-separated processing steps, oldest first). Readers may add more attrs (original
  header fields); writers keep what they understand.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping

import numpy as np
import xarray as xr

from geoanom._version import __version__
from geoanom.errors import ValidationError

FLAG_VALID = 0
FLAG_MISSING = 1
FLAG_NOT_OBSERVED = 2
FLAG_MEANINGS = "valid missing not_observed"

#: Default units per component code; anything unknown must be given explicitly.
DEFAULT_UNITS = {
    "X": "nT", "Y": "nT", "Z": "nT", "F": "nT", "H": "nT", "E": "nT", "V": "nT",
    "G": "nT", "S": "nT", "D": "arcmin", "I": "arcmin",
}

REQUIRED_ATTRS = (
    "iaga_code", "station_name", "latitude_deg", "longitude_deg", "elevation_m",
    "sampling_period_s", "data_type", "source", "featureType", "history",
)

DATA_TYPES = ("variation", "provisional", "quasi-definitive", "definitive", "adjusted",
              "reported", "synthetic", "unknown")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def history_line(step: str) -> str:
    """One history entry: UTC timestamp, package version, and the step."""
    return f"{_now()} geoanom {__version__}: {step}"


def make_record(
    time: np.ndarray,
    components: Mapping[str, np.ndarray],
    *,
    flags: Mapping[str, np.ndarray] | None = None,
    units: Mapping[str, str] | None = None,
    attrs: Mapping[str, object] | None = None,
    history: str | None = None,
) -> xr.Dataset:
    """Build a station record that satisfies the contract above.

    Parameters
    ----------
    time
        Sample times, UTC (anything ``numpy.datetime64`` accepts; converted to ns).
    components
        Component name to 1-D values (nT or arcmin). NaN marks a missing sample unless
        ``flags`` says otherwise.
    flags
        Component name to int8 flag array. Missing components get flags derived from NaN
        (NaN -> :data:`FLAG_MISSING`). Flagged samples are set to NaN.
    units
        Component name to unit string; defaults from :data:`DEFAULT_UNITS`.
    attrs
        Station attrs; the required ones default to "unknown"/NaN where absent.
    history
        First history entry (e.g. ``"read IAGA-2002 BOU201601vmin.min"``).
    """
    t = np.asarray(time).astype("datetime64[ns]")
    units = dict(units or {})
    flags = dict(flags or {})
    data_vars = {}
    for name, values in components.items():
        v = np.asarray(values, dtype=np.float64).copy()
        if v.shape != t.shape:
            raise ValidationError(
                f"component {name!r} has {v.shape[0] if v.ndim else 0} samples",
                expected=f"{t.shape[0]} samples (one per time)", found=str(v.shape),
            )
        if name in flags:
            f = np.asarray(flags[name], dtype=np.int8)
        else:
            f = np.where(np.isnan(v), FLAG_MISSING, FLAG_VALID).astype(np.int8)
        v[f != FLAG_VALID] = np.nan
        unit = units.get(name, DEFAULT_UNITS.get(name[:1].upper() if len(name) == 1 else "", None))
        if unit is None:
            unit = "nT"
        data_vars[name] = xr.Variable(
            ("time",), v, attrs={"units": unit, "ancillary_variables": f"{name}_flag"}
        )
        data_vars[f"{name}_flag"] = xr.Variable(
            ("time",), f,
            attrs={
                "flag_values": np.array([FLAG_VALID, FLAG_MISSING, FLAG_NOT_OBSERVED], np.int8),
                "flag_meanings": FLAG_MEANINGS,
                "long_name": f"quality flag of {name}",
            },
        )
    ds = xr.Dataset(data_vars, coords={"time": ("time", t)})
    base = {
        "iaga_code": "UNK", "station_name": "unknown", "latitude_deg": float("nan"),
        "longitude_deg": float("nan"), "elevation_m": float("nan"),
        "sampling_period_s": _infer_period(t), "data_type": "unknown", "source": "unknown",
        "featureType": "timeSeries", "history": "",
    }
    base.update(dict(attrs or {}))
    base["featureType"] = "timeSeries"
    if history:
        base["history"] = (base["history"] + "\n" if base["history"] else "") + history_line(history)
    ds.attrs = base
    ds["time"].attrs = {"standard_name": "time", "axis": "T"}
    return ds


def _infer_period(t: np.ndarray) -> float:
    if t.size < 2:
        return float("nan")
    d = np.diff(t).astype("timedelta64[ns]").astype(np.int64)
    return float(np.median(d)) / 1e9


def component_names(ds: xr.Dataset) -> list[str]:
    """Names of the component variables of a record, in file order (flags excluded)."""
    return [
        str(v) for v in ds.data_vars
        if not str(v).endswith("_flag") and ds[v].dims == ("time",)
    ]


def record_source(ds: xr.Dataset) -> dict:
    """What a record is: ``iaga_code``, ``sampling_period_s`` and ``components`` (stored
    with a fitted detector and compared with the records it scores)."""
    return {"iaga_code": str(ds.attrs.get("iaga_code", "")),
            "sampling_period_s": float(ds.attrs.get("sampling_period_s", float("nan"))),
            "components": list(component_names(ds))}


def append_history(ds: xr.Dataset, step: str) -> xr.Dataset:
    """Return ``ds`` (shallow copy) with ``step`` appended to its ``history`` attr."""
    out = ds.copy()
    out.attrs = dict(ds.attrs)
    prev = out.attrs.get("history", "")
    out.attrs["history"] = (prev + "\n" if prev else "") + history_line(step)
    return out


def validate_record(ds: xr.Dataset) -> xr.Dataset:
    """Check ``ds`` against the record contract; return it unchanged or raise ValidationError."""
    if not isinstance(ds, xr.Dataset):
        raise ValidationError("a station record must be an xarray.Dataset",
                              found=type(ds).__name__)
    if "time" not in ds.dims:
        raise ValidationError("record has no 'time' dimension", found=str(tuple(ds.dims)))
    t = ds["time"].values
    if t.dtype != np.dtype("datetime64[ns]"):
        raise ValidationError("record time must be datetime64[ns] UTC", found=str(t.dtype))
    if t.size > 1:
        d = np.diff(t).astype(np.int64)
        if np.any(d <= 0):
            i = int(np.argmax(d <= 0))
            raise ValidationError("record times must be strictly increasing",
                                  expected=f"time after {t[i]}", found=str(t[i + 1]))
        period_ns = (int(round(float(ds.attrs.get("sampling_period_s", np.nan)) * 1e9))
            if np.isfinite(ds.attrs.get("sampling_period_s", np.nan)) else None)
        if period_ns is not None and np.any(d != period_ns):
            i = int(np.argmax(d != period_ns))
            raise ValidationError(
                "record cadence is not regular",
                expected=f"{period_ns / 1e9:g} s between samples",
                found=f"{d[i] / 1e9:g} s between {t[i]} and {t[i + 1]}",
            )
    missing = [a for a in REQUIRED_ATTRS if a not in ds.attrs]
    if missing:
        raise ValidationError("record lacks required attrs", expected=", ".join(REQUIRED_ATTRS),
                              found="missing " + ", ".join(missing))
    comps = component_names(ds)
    if not comps:
        raise ValidationError("record has no components")
    for c in comps:
        if ds[c].dtype != np.float64:
            raise ValidationError(f"component {c} must be float64", found=str(ds[c].dtype))
        if "units" not in ds[c].attrs:
            raise ValidationError(f"component {c} has no units attr")
        if f"{c}_flag" not in ds:
            raise ValidationError(f"component {c} has no flag variable", expected=f"{c}_flag")
    return ds


def fill_counts(ds: xr.Dataset) -> dict[str, dict[str, int]]:
    """Per component: how many samples are valid, missing (99999) and not observed (88888)."""
    out = {}
    for c in component_names(ds):
        f = ds[f"{c}_flag"].values
        out[c] = {
            "valid": int(np.sum(f == FLAG_VALID)),
            "missing": int(np.sum(f == FLAG_MISSING)),
            "not_observed": int(np.sum(f == FLAG_NOT_OBSERVED)),
        }
    return out
