"""Regressions fitted on the training period: an activity index, or a remote reference station.

Both subtract from each component the part explained by a regressor, ``y - (a + b * x)``,
with ``a`` and ``b`` Huber M-estimates fitted on the samples before ``train_end`` only:
:func:`fit_activity_regression` / :func:`apply_activity_regression` regress on a
geomagnetic activity index (Kp, Dst, ...), :class:`RemoteReference` on the same component of
a reference station.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from geoanom.detector.preprocess._record_ops import (
    replace_samples,
    sampling_period_s,
    select_components,
    times_ns,
    to_ns,
    valid_mask,
)
from geoanom.errors import LeakageError, ValidationError
from geoanom.io.indices import align_index
from geoanom.record import FLAG_VALID, component_names, validate_record


def _huber_fit(x: np.ndarray, y: np.ndarray, *, intercept: bool, k: float = 1.345,
               max_iter: int = 100, tol: float = 1e-10) -> tuple[float, float]:
    """Huber M-estimate of ``y = a + b x`` (or ``y = b x``) by IRLS; returns ``(a, b)``.

    Scale: 1.4826 * MAD of the residuals, re-estimated each iteration; ``k = 1.345`` gives
    95 % efficiency under Gaussian noise (Huber 1981).
    """
    w = np.ones_like(x)
    a = b = 0.0
    for _ in range(max_iter):
        if intercept:
            sw = w.sum()
            xm, ym = (w * x).sum() / sw, (w * y).sum() / sw
            sxx = (w * (x - xm) ** 2).sum()
            nb = (w * (x - xm) * (y - ym)).sum() / sxx if sxx > 0 else 0.0
            na = ym - nb * xm
        else:
            sxx = (w * x * x).sum()
            nb = (w * x * y).sum() / sxx if sxx > 0 else 0.0
            na = 0.0
        r = y - na - nb * x
        s = 1.4826 * np.median(np.abs(r - np.median(r)))
        if s <= 0:
            s = np.std(r) or 1.0
        u = np.abs(r) / (k * s)
        w = np.where(u <= 1, 1.0, 1.0 / np.maximum(u, 1e-300))
        done = abs(nb - b) <= tol * (1 + abs(b)) and abs(na - a) <= tol * (1 + abs(a))
        a, b = na, nb
        if done:
            break
    return float(a), float(b)


@dataclass
class RemoteReference:
    """Remote-reference subtraction: ``target - (intercept + slope * reference)`` per component.

    The slope of each target component on the same component of a reference station is a
    Huber M-estimate (IRLS), fitted on first differences by default (``on="differences"``)
    so that the different baselines of the two stations do not matter; the intercept is then
    the median of ``target - slope * reference`` over the training samples. Only samples
    strictly before ``train_end`` where both stations are valid enter the fit.

    Noise at the reference biases a regression slope towards zero (errors in variables),
    by the factor ``var(signal) / (var(signal) + var(noise))`` of the reference; on first
    differences that factor is smaller than on levels when the shared signal is slow.
    ``on="levels"`` (after :func:`remove_baseline`) avoids it for slow signals.
    """

    components: tuple[str, ...] = ()
    slope: dict[str, float] = field(default_factory=dict)
    intercept: dict[str, float] = field(default_factory=dict)
    train_end: str = ""
    on: str = "differences"
    n_train: dict[str, int] = field(default_factory=dict)
    reference_code: str = ""
    fitted_on: str = "train"

    @classmethod
    def fit(cls, target: xr.Dataset, reference: xr.Dataset, *, components=None,
            train_end=None, on: str = "differences") -> RemoteReference:
        """Fit on the samples of ``target`` and ``reference`` strictly before ``train_end``.

        Parameters
        ----------
        target, reference
            Station records on the same cadence (times matched exactly).
        components
            Components to fit (default: those both records have).
        train_end
            End of the training period (UTC, exclusive). Required: a fit without it could
            use test data, so it raises :class:`~geoanom.errors.LeakageError`.
        on
            ``"differences"`` (default) or ``"levels"`` (fit ``y = a + b x`` directly).
        """
        if train_end is None:
            raise LeakageError("RemoteReference.fit needs train_end: it fits on training "
                               "data only", expected="a UTC time", found="None")
        if on not in ("differences", "levels"):
            raise ValidationError("unknown fit mode", expected="differences or levels",
                                  found=str(on))
        validate_record(target)
        validate_record(reference)
        end_ns = to_ns(train_end)
        period_ns = int(round(sampling_period_s(target) * 1e9))
        if components is None:
            comps = [c for c in component_names(target) if c in component_names(reference)]
        else:
            comps = select_components(target, components)
            select_components(reference, comps)
        if not comps:
            raise ValidationError("target and reference share no component")
        tt, tr = times_ns(target), times_ns(reference)
        # only the training period of each record enters the fit, before any alignment
        it = np.flatnonzero(tt < end_ns)
        common, ia, ib = np.intersect1d(tt[it], tr[tr < end_ns], return_indices=True)
        ia = it[ia]
        ib = np.flatnonzero(tr < end_ns)[ib]
        slope, icpt, ntr = {}, {}, {}
        for c in comps:
            y = target[c].values[ia]
            x = reference[c].values[ib]
            ok = ((np.isfinite(x) & np.isfinite(y) &
                (target[f"{c}_flag"].values[ia] == FLAG_VALID)) &
                (reference[f"{c}_flag"].values[ib] == FLAG_VALID))
            if on == "differences":
                # differences only between consecutive grid samples that are both valid
                step_ok = ok[1:] & ok[:-1] & (np.diff(common) == period_ns)
                dx, dy = np.diff(x)[step_ok], np.diff(y)[step_ok]
                if dx.size < 3:
                    raise ValidationError(f"too few training samples to fit component {c}",
                                          expected="at least 3 valid pairs before train_end",
                                          found=str(dx.size))
                _, b = _huber_fit(dx, dy, intercept=False)
                a = float(np.median(y[ok] - b * x[ok]))
                ntr[c] = int(dx.size)
            else:
                if ok.sum() < 3:
                    raise ValidationError(f"too few training samples to fit component {c}",
                                          expected="at least 3 valid pairs before train_end",
                                          found=str(int(ok.sum())))
                a, b = _huber_fit(x[ok], y[ok], intercept=True)
                ntr[c] = int(ok.sum())
            slope[c], icpt[c] = b, a
        return cls(components=tuple(comps), slope=slope, intercept=icpt,
                   train_end=str(pd.Timestamp(end_ns)), on=on, n_train=ntr,
                   reference_code=str(reference.attrs.get("iaga_code", "")), fitted_on="train")

    def predict(self, reference: xr.Dataset, time) -> dict[str, np.ndarray]:
        """Predicted target values (NaN where the reference is missing) at ``time``."""
        tt = np.asarray(time).astype("datetime64[ns]").astype(np.int64)
        tr = times_ns(reference)
        pos = np.searchsorted(tr, tt)
        pos_c = np.clip(pos, 0, max(tr.size - 1, 0))
        hit = (tr.size > 0) & (tr[pos_c] == tt)
        out = {}
        for c in self.components:
            x = reference[c].values.astype(np.float64)
            xv = np.where(reference[f"{c}_flag"].values == FLAG_VALID, x, np.nan)
            v = np.where(hit, xv[pos_c], np.nan)
            out[c] = self.intercept[c] + self.slope[c] * v
        return out

    def apply(self, target: xr.Dataset, reference: xr.Dataset) -> xr.Dataset:
        """Return ``target`` minus the prediction from ``reference`` (a new record).

        Samples where the reference is missing become :data:`FLAG_MISSING`.
        """
        validate_record(target)
        validate_record(reference)
        select_components(target, self.components)
        select_components(reference, self.components)
        pred = self.predict(reference, target["time"].values)
        values, flags = {}, {}
        for c in self.components:
            values[c] = target[c].values - pred[c]
            flags[c] = target[f"{c}_flag"].values.copy()
        step = (f"remote_reference(reference={self.reference_code or 'unknown'}, on={self.on}, "
                f"train_end={self.train_end}, " +
                ", ".join(f"{c}: {self.intercept[c]:.6g} + {self.slope[c]:.6g} x"
                          for c in self.components) + ")")
        return replace_samples(target, values, flags, step)

    def to_dict(self) -> dict:
        """JSON-ready dict (see :meth:`from_dict`)."""
        return {"type": "RemoteReference", "components": list(self.components),
                "slope": {c: float(self.slope[c]) for c in self.components},
                "intercept": {c: float(self.intercept[c]) for c in self.components},
                "train_end": self.train_end, "on": self.on,
                "n_train": {c: int(v) for c, v in self.n_train.items()},
                "reference_code": self.reference_code, "fitted_on": self.fitted_on}

    @classmethod
    def from_dict(cls, d: dict) -> RemoteReference:
        """Rebuild from :meth:`to_dict` output."""
        if d.get("type") != "RemoteReference":
            raise ValidationError("not a RemoteReference dict", expected="type RemoteReference",
                                  found=str(d.get("type")))
        return cls(components=tuple(d["components"]),
                   slope={k: float(v) for k, v in d["slope"].items()},
                   intercept={k: float(v) for k, v in d["intercept"].items()},
                   train_end=str(d.get("train_end", "")), on=str(d.get("on", "differences")),
                   n_train={k: int(v) for k, v in d.get("n_train", {}).items()},
                   reference_code=str(d.get("reference_code", "")),
                   fitted_on=str(d.get("fitted_on", "")))


def as_activity_index(activity, index: str | None = None) -> tuple[str, xr.Dataset]:
    """An activity index as ``(variable name, index Dataset)`` for
    :func:`geoanom.io.indices.align_index`.

    Parameters
    ----------
    activity
        An index from :func:`geoanom.io.indices.read_index`, or a DataFrame with a ``time``
        column (interval starts, UTC) and numeric columns (e.g. ``kp``, ``dst_nT``; the
        cadence is the median time step).
    index
        Variable/column to use (case-insensitive); default the index's primary variable,
        else the first numeric column.
    """
    if isinstance(activity, pd.DataFrame):
        cols = {str(c).lower(): c for c in activity.columns}
        tcol = cols.get("time")
        if tcol is None:
            raise ValidationError("activity has no time column", expected="time",
                                  found=", ".join(map(str, activity.columns)))
        t = pd.to_datetime(activity[tcol], utc=True).dt.tz_localize(None).to_numpy(
            "datetime64[ns]")
        order = np.argsort(t, kind="stable")
        num = [c for c in activity.columns
               if c != tcol and pd.api.types.is_numeric_dtype(activity[c])]
        ds = xr.Dataset({str(c): ("time", activity[c].to_numpy(np.float64)[order])
                         for c in num}, coords={"time": t[order]})
        step = np.diff(t[order].astype(np.int64))
        ds.attrs["cadence_s"] = float(np.median(step)) / 1e9 if step.size else 86_400.0
        ds.attrs["primary_variable"] = str(num[0]) if num else ""
        activity = ds
    if not isinstance(activity, xr.Dataset):
        raise ValidationError("activity must be an index Dataset or a DataFrame",
                              found=type(activity).__name__)
    names = {str(v).lower(): str(v) for v in activity.data_vars}
    if index is not None:
        var = names.get(index.lower())
        if var is None:
            raise ValidationError("activity lacks the index named in [preprocess.regression]",
                                  expected=index, found=", ".join(names.values()))
    else:
        var = str(activity.attrs.get("primary_variable") or "") or next(iter(names.values()),
                                                                        "")
        if var not in activity.data_vars:
            raise ValidationError("activity has no numeric variable", expected="e.g. Kp or Dst",
                                  found=", ".join(names.values()))
    return var, activity


def align_activity(index: xr.Dataset, variable: str, record: xr.Dataset, *,
                   by_end: bool = False) -> np.ndarray:
    """The index at each sample of ``record``: the overlap-weighted mean over the interval
    the sample covers, ``[t, t + period)`` (``by_end=True``: ``[t - period, t)``, a record
    resampled with bins labelled by their end), by :func:`geoanom.io.indices.align_index`."""
    t = record["time"].values.astype("datetime64[ns]")
    p = np.timedelta64(int(round(sampling_period_s(record) * 1e9)), "ns")
    start, end = (t - p, t) if by_end else (t, t + p)
    return align_index(index, start, end, how="mean", variable=variable)


def fit_activity_regression(record: xr.Dataset, activity, train_end, *,
                            index: str | None = None, by_end: bool = False) -> dict:
    """Fit ``y = a + b * index`` (Huber) per component on the samples before ``train_end``.

    Parameters
    ----------
    record
        Station record (after the stateless steps).
    activity
        Activity index (see :func:`as_activity_index`).
    train_end
        End of the training period (UTC, exclusive).
    index
        Variable of ``activity`` to regress on (see :func:`as_activity_index`).
    by_end
        The record's samples are stamped with the end of the interval they cover (see
        :func:`align_activity`).

    Returns
    -------
    dict
        ``{"index": name, "intercept": {c: a}, "slope": {c: b}, "n_train": {c: n}}``, as
        ``FittedPreprocess.activity`` stores it.
    """
    name, idx = as_activity_index(activity, index)
    a = align_activity(idx, name, record, by_end=by_end)
    keep = times_ns(record) < to_ns(train_end)
    fit = {"index": name, "intercept": {}, "slope": {}, "n_train": {}}
    for c in component_names(record):
        ok = keep & valid_mask(record, c) & np.isfinite(a)
        if ok.sum() < 3:
            raise ValidationError(f"too few training samples to regress {c} on {name}",
                                  expected="at least 3 samples before train_end with "
                                           "the index defined", found=str(int(ok.sum())))
        icpt, slope = _huber_fit(a[ok], record[c].values[ok], intercept=True)
        fit["intercept"][c], fit["slope"][c] = icpt, slope
        fit["n_train"][c] = int(ok.sum())
    return fit


def apply_activity_regression(record: xr.Dataset, fit: dict, activity, *,
                              by_end: bool = False, train_end: str = "") -> xr.Dataset:
    """Return ``record`` minus ``intercept + slope * index`` for the components of ``fit``.

    Parameters
    ----------
    record
        Station record (after the stateless steps).
    fit
        From :func:`fit_activity_regression`.
    activity
        Activity index (see :func:`as_activity_index`).
    by_end
        As in :func:`fit_activity_regression`.
    train_end
        End of the training period the fit used, named in the record's history.
    """
    name, idx = as_activity_index(activity, fit.get("index"))
    a = align_activity(idx, name, record, by_end=by_end)
    values, flags = {}, {}
    for c in fit["slope"]:
        select_components(record, [c])
        values[c] = record[c].values - (fit["intercept"][c] + fit["slope"][c] * a)
        flags[c] = record[f"{c}_flag"].values.copy()
    step = (f"activity_regression(index={name}, train_end={train_end}, " +
            ", ".join(f"{c}: {fit['intercept'][c]:.6g} + {fit['slope'][c]:.6g} {name}"
                      for c in fit["slope"]) + ")")
    return replace_samples(record, values, flags, step)
