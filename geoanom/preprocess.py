"""Preprocessing steps from a raw station record to a clean one.

Every step takes a record and returns a new one with a ``history`` entry; nothing looks
ahead in time unless the caller asks for it by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from geoanom.errors import ValidationError


@dataclass
class RobustScaler:
    """Per-component robust scaling ``(x - median) / (1.4826 * MAD)``, fitted on training data.

    ``fitted_on`` records what the statistics were fitted on (e.g. ``"train"``) so that
    :func:`geoanom.windows.check_no_leakage` can verify it.
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
        return cls(center=center, scale=scale, components=comps, fitted_on=fitted_on)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scale ``x`` of shape ``(..., n_components)``."""
        return (np.asarray(x, dtype=np.float64) - self.center) / self.scale

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        """Undo :meth:`transform`."""
        return np.asarray(z, dtype=np.float64) * self.scale + self.center

    def to_dict(self) -> dict:
        return {"type": "RobustScaler", "center": [float(v) for v in self.center],
                "scale": [float(v) for v in self.scale], "components": list(self.components),
                "fitted_on": self.fitted_on}

    @classmethod
    def from_dict(cls, d: dict) -> RobustScaler:
        if d.get("type") != "RobustScaler":
            raise ValidationError("not a RobustScaler dict", found=str(d.get("type")))
        return cls(center=np.asarray(d["center"], float), scale=np.asarray(d["scale"], float),
                   components=tuple(d["components"]), fitted_on=d.get("fitted_on", ""))
