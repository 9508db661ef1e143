"""geoanom.detector.features: per-night features of a station record, themselves a record.

Modules: ``ulf`` (nightly ULF band powers and the Z/G polarisation ratio from 1-s data:
:class:`UlfConfig`, :func:`ulf_polarisation`, :func:`ulf_polarisation_many`), ``nights``
(night windows in local time and where they fall in a record), ``spectra`` (the vectorised
band-averaged Welch estimate and the spike rule it uses), ``storms`` (storm screening with
ap and Dst) and ``zg`` (the field's Z/G anomaly rule as a scores dataset,
:func:`zg_anomaly_scores`).
"""

from __future__ import annotations

from geoanom.detector.features.nights import NightWindow, night_window
from geoanom.detector.features.storms import storm_flags
from geoanom.detector.features.ulf import (
    DEFAULT_BANDS,
    HORIZONTAL_PAIRS,
    UlfConfig,
    night_windows,
    ulf_polarisation,
    ulf_polarisation_many,
)
from geoanom.detector.features.zg import zg_anomaly_scores

__all__ = [
    "DEFAULT_BANDS",
    "HORIZONTAL_PAIRS",
    "NightWindow",
    "UlfConfig",
    "night_window",
    "night_windows",
    "storm_flags",
    "ulf_polarisation",
    "ulf_polarisation_many",
    "zg_anomaly_scores",
]
