"""Geomagnetic activity indices: Kp/ap, Dst, the RC index, OMNI hourly; read, align, adapt.

:func:`read_index` reads the index files as their providers (or ``geoanom fetch indices``)
write them and recognises each kind from its header line (``#`` lines are skipped):

=====================  ========================================================  ========
kind                   header                                                    cadence
=====================  ========================================================  ========
``kp-3h``              ``time_utc_start,Kp[,ap][,status]`` (CelesTrak SW-All,     3 h
                       GFZ through ``geoanom fetch indices --index kp``)
``kp-daily``           ``date,Kp_sum,Ap[,Cp,C9,ISN,F107_obs,F107_adj]``           1 day
``dst-hourly``         ``time_utc_start,Dst_nT[,wdc_version_tag|version]``        1 h
``rc-hourly``          ``time_utc_center,RC_nT[,RC_e_nT,RC_i_nT,flag]`` (DTU)     1 h
``omni-hourly``        ``time_utc_start,Kp,Dst_nT,ap,AE_nT`` (OMNI2; blank = fill)  1 h
``generic``            a ``time``/``date``/``datetime`` column and numeric        median
                       columns (any other activity table)                        step
=====================  ========================================================  ========

The result is an ``xarray.Dataset`` with dimension ``time`` (UTC ``datetime64[ns]``, the
**start** of each index interval: the RC index's interval centres are moved back by half an
hour), on a regular grid of the kind's cadence (rows missing from the file are inserted as
NaN and counted in ``attrs["n_rows_inserted"]``; blank fields are NaN), one float64 variable
per numeric column (``Kp``, ``ap``, ``Dst_nT``, ``RC_nT``, ``AE_nT``, ``Kp_sum``, ``Ap``...),
and attrs ``index_name``, ``kind``, ``cadence_s``, ``source`` (the file), ``primary_variable``.

**Kp notation.** Kp is defined in thirds: 4- (4 minus a third), 4o, 4+ (4 plus a third).
Files write it either in *tenths-of-thirds* notation, where the first decimal is the third
(``3.7`` = 4- , ``4.0`` = 4o, ``4.3`` = 4+; CelesTrak, OMNI, the daily ``Kp_sum`` likewise),
or in decimal (``3.667``, ``4.000``, ``4.333``; GFZ's web service). Both are read into
**decimal Kp**: ``x.3`` -> x + 1/3, ``x.7`` -> x + 2/3 (so ``3.7`` -> 3.667 = 4 - 1/3, not
3.7). Any other first decimal (``4.5``) is an error: it is neither notation. Kp lies in 0..9,
the daily sum in 0..72.

:func:`align_index` puts an index onto arbitrary bins (max or overlap-weighted mean of the
index intervals that overlap each bin). :func:`to_activity_table` turns an index into the
``time, value`` table that :func:`geoanom.stats.test.run_test` takes as ``activity`` (which
:func:`geoanom.stats.alarm_baselines.activity_frame` reads).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from geoanom._atomic import atomic_write_text
from geoanom.errors import FormatError, ValidationError
from geoanom.io._text import Table, parse_numbers, parse_times, read_text, row_error, tokenise
from geoanom.provenance import canonical_json, provenance

__all__ = ["INDEX_KINDS", "to_activity_table", "align_index", "kp_decimal", "make_index",
           "read_index",
           "write_index_csv"]

_H = 3600
#: kind -> (index name, cadence s, time column, primary variable)
INDEX_KINDS = {
    "kp-3h": ("Kp/ap 3-hourly", 3 * _H, "time_utc_start", "Kp"),
    "kp-daily": ("Kp sum / Ap daily", 24 * _H, "date", "Ap"),
    "dst-hourly": ("Dst hourly (WDC Kyoto)", _H, "time_utc_start", "Dst_nT"),
    "rc-hourly": ("RC index hourly (DTU Space)", _H, "time_utc_center", "RC_nT"),
    "omni-hourly": ("OMNI hourly Kp, Dst, ap, AE", _H, "time_utc_start", "Kp"),
    "generic": ("activity table", 0, "time", ""),
}
_UNITS = {"Kp": "1", "Kp_sum": "1", "ap": "2 nT", "Ap": "2 nT", "Dst_nT": "nT",
          "RC_nT": "nT", "RC_e_nT": "nT", "RC_i_nT": "nT", "AE_nT": "nT"}
_KP_COLUMNS = {"Kp": 9.0, "Kp_sum": 72.0}
_GEOANOM_MAGIC = "# geoanom index csv 1"


def _detect(header: list[str]) -> str | None:
    h = set(header)
    if {"time_utc_start", "Kp", "Dst_nT", "ap", "AE_nT"} <= h:
        return "omni-hourly"
    if {"time_utc_start", "Kp"} <= h and "Dst_nT" not in h:
        return "kp-3h"
    if {"date", "Kp_sum", "Ap"} <= h:
        return "kp-daily"
    if {"time_utc_start", "Dst_nT"} <= h:
        return "dst-hourly"
    if {"time_utc_center", "RC_nT"} <= h:
        return "rc-hourly"
    if h & {"time", "date", "datetime", "time_utc_start"} and len(header) >= 2:
        return "generic"
    return None


def kp_decimal(values: np.ndarray, text: pd.Series | None = None, *, top: float = 9.0
               ) -> tuple[np.ndarray, np.ndarray]:
    """Decimal Kp from tenths-of-thirds (``3.7`` = 4-) or decimal (``3.667``) notation.

    Parameters
    ----------
    values
        Kp as read (NaN = missing).
    text
        Unused; kept for symmetry with readers that hold the original strings.
    top
        Largest allowed value (9 for Kp, 72 for the daily sum).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Decimal Kp (x + 1/3 for ``x.3``, x + 2/3 for ``x.7``), and a boolean mask of the
        values that are in neither notation or out of 0..``top``.
    """
    v = np.asarray(values, dtype=float)
    out = np.full(v.shape, np.nan)
    ok = np.isfinite(v)
    tenths = np.round(v * 10.0)
    is_tenths = ok & (np.abs(v * 10.0 - tenths) < 1e-6) & np.isin(np.mod(tenths, 10), (0, 3, 7))
    q, r = np.divmod(tenths, 10)
    out[is_tenths] = q[is_tenths] + np.where(r[is_tenths] == 3, 1 / 3,
                                             np.where(r[is_tenths] == 7, 2 / 3, 0.0))
    thirds = np.round(v * 3.0)
    is_dec = ok & ~is_tenths & (np.abs(v * 3.0 - thirds) < 0.01)
    out[is_dec] = thirds[is_dec] / 3.0
    bad = ok & ~(is_tenths | is_dec)
    bad |= ok & ((out < 0) | (out > top + 1e-9))
    return out, bad


def read_index(path: str | os.PathLike, *, skip_bad_rows: bool = False) -> xr.Dataset:
    """Read an activity index file (kind recognised from its header; see the module doc).

    Parameters
    ----------
    path
        The file (gzip allowed).
    skip_bad_rows
        Drop rows with an unreadable time or value, or a time out of order, instead of
        failing (at most 100; their lines are listed in ``attrs["skipped_lines"]``). Real
        files have such rows: the OMNI extract holds one garbage row
        (``36-12-28T08:00:00Z,2.2,938,0,0`` on line 5132).

    Returns
    -------
    xarray.Dataset
        Dimension ``time`` (interval start, UTC, regular cadence), float64 variables
        (Kp decimal, nT for Dst/RC/AE, ap/Ap in 2 nT units), attrs ``index_name``, ``kind``,
        ``cadence_s``, ``source``, ``primary_variable``, ``n_rows_inserted``.

    Raises
    ------
    FormatError
        Unknown header, unreadable value or time (file, line, column, expected, found),
        times not increasing or off the cadence.
    """
    p, text = read_text(path, what="activity index")
    table = tokenise(p, text, ",", comment="#", require_rows=True, what="activity index")
    skipped: list[int] = []
    while True:
        try:
            ds = _index_from_table(table)
        except FormatError as exc:
            if (not skip_bad_rows or exc.line is None or exc.line == table.header_line
                    or len(skipped) >= 100):
                if skip_bad_rows and len(skipped) >= 100:
                    exc.message += " (more than 100 bad rows skipped already)"
                elif exc.line is not None and exc.line != table.header_line:
                    exc.message += (" (to drop such rows: read_index(..., skip_bad_rows="
                                    "True), geoanom test --activity-skip-bad-rows)")
                raise
            skipped.append(int(exc.line))
            table = table.subset(table.lines != exc.line)
            continue
        ds.attrs["skipped_lines"] = ",".join(map(str, sorted(skipped)))
        return ds


def _index_from_table(table: Table) -> xr.Dataset:
    p = table.path
    kind = _detect(table.header)
    if kind is None:
        raise FormatError("unrecognised activity index file", path=p, line=table.header_line,
                          expected="a header of CelesTrak Kp (time_utc_start,Kp,ap), daily "
                          "Kp (date,Kp_sum,Ap), Dst (time_utc_start,Dst_nT), RC "
                          "(time_utc_center,RC_nT), OMNI (time_utc_start,Kp,Dst_nT,ap,AE_nT) "
                          "or time plus numeric columns", found=",".join(table.header))
    name, cadence, tcol, primary = INDEX_KINDS[kind]
    if kind == "generic":
        tcol = next(c for c in ("time", "date", "datetime", "time_utc_start")
                    if c in table.header)
    col = table.column(tcol, "time")
    t = _fixed_layout_times(col)
    if t is None:  # any other layout, or a bad time: the catalog time rules and messages
        t = parse_times(table, col, f"column {tcol!r}", fmt=None, tz="UTC")
    if kind == "rc-hourly":
        t = t - np.timedelta64(30, "m")
    data: dict[str, np.ndarray] = {}
    for c in table.header:
        if c == tcol:
            continue
        s = table.column(c, c)
        if c in ("flag", "status", "wdc_version_tag", "version"):
            continue  # quality/version labels, not values
        if kind == "generic" and not pd.to_numeric(s, errors="coerce").notna().any():
            continue  # a text column (labels) of an activity table
        v = parse_numbers(table, s, f"{c} value", required=False)
        if c in _KP_COLUMNS:
            v, bad = kp_decimal(v, top=_KP_COLUMNS[c])
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise row_error(table, i, f"{c} is not a Kp value",
                                f"{c} in tenths-of-thirds (3.7, 4.0, 4.3) or decimal "
                                f"(3.667, 4.333) notation, 0..{_KP_COLUMNS[c]:g}", s.iloc[i])
        data[c] = v
    if not data:
        raise FormatError("activity index has no value column", path=p,
                          line=table.header_line, expected="time plus numeric columns",
                          found=",".join(table.header))
    tt = t.astype(np.int64)
    d = np.diff(tt)
    if d.size and np.any(d <= 0):
        j = int(np.argmax(d <= 0))
        raise row_error(table, j + 1, "index times must increase", f"a time after {t[j]}",
                        str(t[j + 1]))
    if kind == "generic":
        if not d.size:
            raise row_error(table, 0, "an activity table needs two rows or more",
                            "at least two times", "one row")
        cadence = int(np.median(d)) / 1e9
        primary = next(iter(data))
    step = int(round(cadence * 1e9))
    off = np.flatnonzero((tt - tt[0]) % step)
    if off.size:
        i = int(off[0])
        raise row_error(table, i, "index time off the cadence",
                        f"a whole number of {cadence:g} s steps after {t[0]}", str(t[i]))
    ds = make_index(t, data, kind, source=str(p), cadence_s=cadence, primary=primary)
    ds.attrs["n_rows_inserted"] = int(ds.sizes["time"] - len(t))
    return ds


_FIXED_LAYOUTS = {20: "%Y-%m-%dT%H:%M:%SZ", 19: "%Y-%m-%dT%H:%M:%S", 10: "%Y-%m-%d"}


def _fixed_layout_times(col: pd.Series) -> np.ndarray | None:
    """UTC times of a column written in one fixed ISO layout (the index files are), parsed
    at C speed; None when the layout varies or any value does not parse."""
    if col.empty:
        return None
    lens = col.str.len().to_numpy()
    fmt = _FIXED_LAYOUTS.get(int(lens[0]))
    if fmt is None or np.any(lens != lens[0]):
        return None
    t = pd.to_datetime(col, format=fmt, errors="coerce")
    if t.isna().any():
        return None
    return t.to_numpy("datetime64[ns]")


def make_index(time: np.ndarray, data: dict[str, np.ndarray], kind: str, *, source: str,
               cadence_s: float | None = None, primary: str | None = None) -> xr.Dataset:
    """An index dataset (the form :func:`read_index` returns) from interval-start times
    and value arrays: put on the regular grid of the cadence (absent rows NaN).

    Parameters
    ----------
    time
        Interval starts (UTC), strictly increasing, on the cadence.
    data
        Variable name -> values (Kp already decimal).
    kind
        One of :data:`INDEX_KINDS`.
    source
        Where the values came from (file or URL).
    cadence_s, primary
        Override the kind's cadence and primary variable (``generic``).
    """
    name, cad, _, prim = INDEX_KINDS[kind]
    cadence = float(cadence_s if cadence_s is not None else cad)
    primary = primary or prim
    tt = np.asarray(time, dtype="datetime64[ns]").astype(np.int64)
    step = int(round(cadence * 1e9))
    if tt.size == 0:
        raise ValidationError("an index needs at least one time", found="none")
    if np.any(np.diff(tt) <= 0) or np.any((tt - tt[0]) % step):
        raise ValidationError("index times must increase on the cadence",
                              expected=f"steps of {cadence:g} s", found=source)
    pos = (tt - tt[0]) // step
    n = int(pos[-1]) + 1
    grid = (tt[0] + np.arange(n, dtype=np.int64) * step).astype("datetime64[ns]")
    dvars = {}
    for c, v in data.items():
        full = np.full(n, np.nan)
        full[pos] = v
        attrs = {"units": _UNITS.get(c, "")}
        if c in _KP_COLUMNS:
            attrs["notation"] = "decimal (4- = 3.667, 4o = 4.0, 4+ = 4.333)"
        dvars[c] = xr.Variable(("time",), full, attrs=attrs)
    ds = xr.Dataset(dvars, coords={"time": ("time", grid)})
    ds["time"].attrs = {"standard_name": "time", "long_name": "start of the index interval"}
    ds.attrs = {"index_name": name if kind != "generic" else f"{name} ({primary})",
                "kind": kind, "cadence_s": float(cadence), "source": source,
                "primary_variable": primary, "n_rows_inserted": int(n - tt.size)}
    return ds


def _variable(index: xr.Dataset, variable: str | None) -> str:
    var = variable or str(index.attrs.get("primary_variable") or "")
    if var not in index.data_vars:
        raise ValidationError("the index has no such variable",
                              expected="one of " + ", ".join(map(str, index.data_vars)),
                              found=str(variable or var))
    return var


def align_index(index: xr.Dataset, bin_start, bin_end, how: str = "max",
                variable: str | None = None) -> np.ndarray:
    """The index on arbitrary bins ``[bin_start, bin_end)``.

    Each index value covers ``[t, t + cadence_s)``. A bin takes the max (``how="max"``) or
    the overlap-weighted mean (``"mean"``) of the finite values whose intervals overlap it;
    NaN where none does.

    Parameters
    ----------
    index
        From :func:`read_index`.
    bin_start, bin_end
        Bin edges (UTC, ``datetime64``), same length, ``bin_end > bin_start``.
    how
        ``"max"`` or ``"mean"``.
    variable
        The variable (default ``attrs["primary_variable"]``).

    Returns
    -------
    numpy.ndarray
        float64, one value per bin (the variable's units).
    """
    if how not in ("max", "mean"):
        raise ValidationError("unknown alignment", expected="'max' or 'mean'", found=str(how))
    var = _variable(index, variable)
    bs = np.asarray(bin_start, dtype="datetime64[ns]").astype(np.int64)
    be = np.asarray(bin_end, dtype="datetime64[ns]").astype(np.int64)
    if bs.shape != be.shape or np.any(be <= bs):
        raise ValidationError("bins must have ends after their starts",
                              expected="bin_end > bin_start, same length",
                              found=f"{bs.shape} starts, {be.shape} ends")
    ts = index["time"].values.astype("datetime64[ns]").astype(np.int64)
    step = int(round(float(index.attrs["cadence_s"]) * 1e9))
    te = ts + step
    v = index[var].values.astype(float)
    i0 = np.searchsorted(te, bs, side="right")
    i1 = np.searchsorted(ts, be, side="left")
    count = np.maximum(i1 - i0, 0)
    kmax = int(count.max()) if count.size else 0
    if how == "max":
        out = np.full(bs.shape, -np.inf)
        for k in range(kmax):
            j = i0 + k
            ok = k < count
            vals = np.where(ok, v[np.minimum(j, v.size - 1)], np.nan)
            out = np.fmax(out, np.where(np.isfinite(vals), vals, -np.inf))
        out[~np.isfinite(out)] = np.nan
        return out
    num = np.zeros(bs.shape)
    den = np.zeros(bs.shape)
    for k in range(kmax):
        j = np.minimum(i0 + k, v.size - 1)
        ok = (k < count) & np.isfinite(v[j])
        w = (np.minimum(te[j], be) - np.maximum(ts[j], bs)).astype(float)
        w = np.where(ok & (w > 0), w, 0.0)
        num += w * np.where(ok, v[j], 0.0)
        den += w
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def to_activity_table(index: xr.Dataset, variable: str | None = None,
                   step_s: float | None = None) -> pd.DataFrame:
    """The index as the ``activity`` table of :func:`geoanom.stats.test.run_test`.

    Columns ``time`` and one value column. The protocol takes the max per score bin and
    treats a column whose name contains "dst" as Dst-like (negated: higher = more
    active); the RC index, Dst-like too, is named ``"RC_nT (Dst-like)"`` so that the same
    rule applies. With ``step_s`` shorter than the index cadence, each index interval is
    repeated every ``step_s`` seconds inside it, so that every bin of ``step_s`` (or
    longer) that the interval overlaps sees its value (a daily index on hourly bins).

    Parameters
    ----------
    index
        From :func:`read_index`.
    variable
        The variable (default ``attrs["primary_variable"]``).
    step_s
        Length of the bins the protocol will use (s), or None.
    """
    var = _variable(index, variable)
    t = index["time"].values.astype("datetime64[ns]")
    v = index[var].values.astype(float)
    cadence = float(index.attrs["cadence_s"])
    if step_s is not None and 0 < step_s < cadence:
        k = int(math.ceil(cadence / step_s))
        offs = (np.arange(k) * step_s * 1e9).astype(np.int64)
        offs = offs[offs < cadence * 1e9]
        t = (t.astype(np.int64)[:, None] + offs[None, :]).ravel().astype("datetime64[ns]")
        v = np.repeat(v, offs.size)
    name = var
    if index.attrs.get("kind") == "rc-hourly" and var.startswith("RC"):
        name = f"{var} (Dst-like)"
    return pd.DataFrame({"time": t, name: v})


def write_index_csv(index: xr.Dataset, path: str | os.PathLike, *, config: object = None,
                    inputs=()) -> Path:
    """Write an index (e.g. fetched) as CSV that :func:`read_index` reads back: ``#`` lines
    with the format and provenance, then ``time_utc_start,<variables>`` (Kp in decimal),
    written atomically."""
    df = pd.DataFrame({"time_utc_start": np.char.add(np.datetime_as_string(
        index["time"].values.astype("datetime64[s]"), unit="s"), "Z")})
    for c in index.data_vars:
        df[str(c)] = index[c].values
    prov = provenance(config=config, inputs=inputs,
                      extra={"index_attrs": {k: v for k, v in index.attrs.items()
                                             if isinstance(v, (str, int, float))}})
    body = df.to_csv(index=False, lineterminator="\n", na_rep="", float_format="%.6g")
    p = Path(path)
    atomic_write_text(p, f"{_GEOANOM_MAGIC}\n# provenance: {canonical_json(prov)}\n{body}")
    return p
