"""geoanom.detector.preprocess: from a raw station record to a clean one, before windowing.

Modules: ``steps`` (the stateless steps: despiking, gaps, baseline, band-pass, resampling,
local night), ``regression`` (activity-index and remote-reference regression, fitted on the
training period), ``scaler`` (the robust scaler) and ``pipeline`` (the ``[preprocess]`` table
of a detector config, fitted by :func:`fit_preprocess` and re-applied by
:func:`apply_preprocess`).
"""

from __future__ import annotations

from geoanom.detector.preprocess.pipeline import (
    PREPROCESS_STEPS,
    FittedPreprocess,
    PreprocessConfig,
    apply_preprocess,
    apply_stateless,
    fit_preprocess,
)
from geoanom.detector.preprocess.regression import (
    RemoteReference,
    align_activity,
    apply_activity_regression,
    as_activity_index,
    fit_activity_regression,
)
from geoanom.detector.preprocess.scaler import RobustScaler, apply_scaler, fit_scaler
from geoanom.detector.preprocess.steps import (
    ULF_BANDS,
    bandpass,
    despike,
    local_mean_solar_hour,
    mask_gaps,
    remove_baseline,
    resample,
    select_local_night,
)

__all__ = [
    "ULF_BANDS",
    "despike",
    "mask_gaps",
    "remove_baseline",
    "bandpass",
    "resample",
    "local_mean_solar_hour",
    "select_local_night",
    "RemoteReference",
    "as_activity_index",
    "align_activity",
    "fit_activity_regression",
    "apply_activity_regression",
    "RobustScaler",
    "fit_scaler",
    "apply_scaler",
    "PREPROCESS_STEPS",
    "PreprocessConfig",
    "FittedPreprocess",
    "fit_preprocess",
    "apply_preprocess", "apply_stateless",
]
