"""The robust scaler: per-component ``(x - median) / (1.4826 * MAD)``, fitted on training data.

:class:`RobustScaler` works on arrays (the window sets of :mod:`geoanom.detector.windows`
and the scorer use it directly); :func:`fit_scaler` and :func:`apply_scaler` are the
``scale`` step of the preprocessing chain, on records.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from geoanom.detector.preprocess._record_ops import (
    replace_samples,
    select_components,
    times_ns,
    to_ns,
)
from geoanom.errors import LeakageError, ValidationError
from geoanom.record import FLAG_VALID, validate_record


@dataclass
class RobustScaler:
    """Per-component robust scaling ``(x - median) / (1.4826 * MAD)``, fitted on training data.

    ``fitted_on`` records what the statistics were fitted on (e.g. ``"train"``) so that
    :func:`geoanom.detector.windows.check_no_leakage` can verify it. A component with MAD = 0 falls
    back to its standard deviation, and to 1 if that is 0 too.
    """

    center: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scale: np.ndarray = field(default_factory=lambda: np.ones(0))
    components: tuple[str, ...] = ()
    fitted_on: str = ""

    @classmethod
    def fit(cls, x: np.ndarray, components: tuple[str, ...] | list[str] = (),
            fitted_on: str = "train") -> RobustScaler:
        """Fit on ``x`` of shape ``(..., n_components)``; NaN values are ignored."""
        x = np.asarray(x, dtype=np.float64)
        flat = x.reshape(-1, x.shape[-1])
        if flat.shape[0] == 0 or np.all(np.isnan(flat), axis=0).any():
            raise ValidationError("cannot fit a scaler: a component has no valid samples")
        center = np.nanmedian(flat, axis=0)
        mad = np.nanmedian(np.abs(flat - center), axis=0) * 1.4826
        std = np.nanstd(flat, axis=0)
        scale = np.where(mad > 0, mad, np.where(std > 0, std, 1.0))
        comps = tuple(components) or tuple(f"c{i}" for i in range(flat.shape[1]))
        if len(comps) != flat.shape[1]:
            raise ValidationError("scaler components do not match the data",
                                  expected=f"{flat.shape[1]} names", found=str(comps))
        return cls(center=center, scale=scale, components=comps, fitted_on=fitted_on)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scale ``x`` of shape ``(..., n_components)``."""
        return (np.asarray(x, dtype=np.float64) - self.center) / self.scale

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        """Undo :meth:`transform`."""
        return np.asarray(z, dtype=np.float64) * self.scale + self.center

    def to_dict(self) -> dict:
        """JSON-ready dict (see :meth:`from_dict`)."""
        return {"type": "RobustScaler", "center": [float(v) for v in self.center],
                "scale": [float(v) for v in self.scale], "components": list(self.components),
                "fitted_on": self.fitted_on}

    @classmethod
    def from_dict(cls, d: dict) -> RobustScaler:
        """Rebuild from :meth:`to_dict` output."""
        if d.get("type") != "RobustScaler":
            raise ValidationError("not a RobustScaler dict", found=str(d.get("type")))
        return cls(center=np.asarray(d["center"], float), scale=np.asarray(d["scale"], float),
                   components=tuple(d["components"]), fitted_on=d.get("fitted_on", ""))


def fit_scaler(record: xr.Dataset, train_end, *, components=None) -> RobustScaler:
    """Fit a :class:`RobustScaler` on the valid samples of ``record`` before ``train_end``.

    Parameters
    ----------
    record
        Station record.
    train_end
        End of the training period (UTC, exclusive). ``None`` raises
        :class:`~geoanom.errors.LeakageError`.
    components
        Components to scale (default all), in this order.
    """
    if train_end is None:
        raise LeakageError("fit_scaler needs train_end: scaling is fitted on training data only",
                           expected="a UTC time", found="None")
    validate_record(record)
    comps = select_components(record, components)
    keep = times_ns(record) < to_ns(train_end)
    if not keep.any():
        raise ValidationError("no samples before train_end to fit the scaler on",
                              expected=f"samples before {train_end}",
                              found=f"record starts {record['time'].values[0]}")
    x = np.stack([np.where(record[f"{c}_flag"].values == FLAG_VALID, record[c].values, np.nan)
                  [keep] for c in comps], axis=-1)
    return RobustScaler.fit(x, components=tuple(comps), fitted_on="train")


def apply_scaler(record: xr.Dataset, scaler: RobustScaler) -> xr.Dataset:
    """Scale the scaler's components of ``record``; units become ``"1"`` (dimensionless).

    The original unit is kept in the attr ``scaled_from_units``.
    """
    validate_record(record)
    comps = select_components(record, list(scaler.components))
    x = np.stack([record[c].values for c in comps], axis=-1)
    z = scaler.transform(x)
    values = {c: z[:, i] for i, c in enumerate(comps)}
    flags = {c: record[f"{c}_flag"].values.copy() for c in comps}
    out = replace_samples(record, values, flags,
                   f"apply_scaler(RobustScaler fitted_on={scaler.fitted_on}, " +
                   ", ".join(f"{c}: center={scaler.center[i]:.6g} scale={scaler.scale[i]:.6g}"
                             for i, c in enumerate(comps)) + ")")
    for c in comps:
        out[c].attrs["scaled_from_units"] = record[c].attrs.get("units", "")
        out[c].attrs["units"] = "1"
    return out
