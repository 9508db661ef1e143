"""One detector, one API: :func:`fit_detector`, :class:`Detector`, :func:`load_detector`.

``geoanom train`` and ``geoanom score``, the study's units, the power injections and the
demo all fit and score through these functions, so a detector is the same object whoever
builds it::

    cfg = DetectorConfig.from_toml("detector.toml")
    det = fit_detector(record, catalog, cfg, out_dir="model")
    scores = det.score(later_record)
    det = load_detector("model")          # the same detector, from its folder

Fitting runs, in this order: the stateless preprocessing steps (they decide validity and
cadence), the fitted steps (regression, scaling) on the training period only, windowing and
labelling, the leakage check, and training (negative learning; DistributedDataParallel when
launched by ``torchrun``). Where the training period ends is decided either by the config's
``split_fractions`` (the default) or by a :class:`TrainingPeriod` (rolling origin: train
before ``val_start``, validate up to ``end``, nothing at or after ``end`` seen).

A detector's folder holds ``weights.pt`` and ``model.json``; ``model.json`` records the
:class:`~geoanom.detector.config.DetectorConfig`, the fitted preprocessing and the training
period (schema 2). Folders written by earlier releases (schema 1) load too: their config is
rebuilt from the window, training and preprocessing entries they stored.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from geoanom._atomic import atomic_path
from geoanom.detector.config import DetectorConfig
from geoanom.detector.distributed import score_records
from geoanom.detector.nn.artifact import (
    MODEL_JSON,
    WEIGHTS,
    LoadedModel,
    add_model_meta,
    load_model,
)
from geoanom.detector.nn.ddp import launched_distributed, train_ddp
from geoanom.detector.nn.train import TrainConfig, resolve_device, train
from geoanom.detector.preprocess import (
    FittedPreprocess,
    PreprocessConfig,
    apply_preprocess,
    apply_stateless,
    fit_preprocess,
)
from geoanom.detector.score import score_record
from geoanom.detector.suggest import check_windows_fit, explain_window_counts
from geoanom.detector.windows import (
    WindowConfig,
    build_window_set,
    finish_window_set,
    label_counts,
    labelled_windows,
)
from geoanom.errors import GeoanomError, LeakageError, NoValidWindowError
from geoanom.provenance import object_sha256
from geoanom.record import record_source

#: The steps whose parameters are fitted on the training period.
FITTED_STEPS = ("regression", "scale")


@dataclass(frozen=True)
class TrainingPeriod:
    """A training period given by dates (rolling origin) instead of split fractions.

    Training windows end before ``val_start``; validation windows lie in ``[val_start,
    end)``, after the embargo; no sample or catalog event at or after ``end`` is seen.
    """

    val_start: np.datetime64
    end: np.datetime64

    def to_dict(self) -> dict:
        """JSON-ready (ISO times)."""
        return {"val_start": str(pd.Timestamp(self.val_start)),
                "end": str(pd.Timestamp(self.end))}

    @classmethod
    def from_dict(cls, d: dict) -> TrainingPeriod:
        """Rebuild from :meth:`to_dict` output."""
        return cls(np.datetime64(pd.Timestamp(d["val_start"]).to_datetime64(), "ns"),
                   np.datetime64(pd.Timestamp(d["end"]).to_datetime64(), "ns"))


def cut_record(record: xr.Dataset, t_end: np.datetime64) -> xr.Dataset:
    """The samples that end by ``t_end`` (a sample stands for ``[t, t + period)``)."""
    period = np.timedelta64(int(round(float(record.attrs["sampling_period_s"]) * 1e9)), "ns")
    return record.isel(time=np.flatnonzero(record["time"].values + period <= t_end))


def period_window_set(record: xr.Dataset, catalog: pd.DataFrame, config: WindowConfig,
                      period: TrainingPeriod) -> xr.Dataset:
    """The window set of a :class:`TrainingPeriod`: train before ``period.val_start``,
    validation up to ``period.end`` (embargo before it), nothing at or after ``end``.

    Windows and labels come from :func:`~geoanom.detector.windows.labelled_windows`,
    splits, scaling and the leakage check from
    :func:`~geoanom.detector.windows.finish_window_set`, with split fractions chosen so that
    the boundary falls at ``val_start``.
    """
    cat = catalog[catalog["time"].to_numpy() < period.end]
    try:
        ws = labelled_windows(cut_record(record, period.end), cat, config)
    except NoValidWindowError as exc:
        raise GeoanomError(f"no valid window before {_year_or_time(period.end)}") from exc
    s = ws["start"].values.astype("datetime64[ns]").astype(np.int64)
    e = ws["end"].values.astype("datetime64[ns]").astype(np.int64)
    t0, t1 = int(s.min()), int(e.max())
    f = (int(np.datetime64(period.val_start, "ns").astype(np.int64)) - t0) / max(t1 - t0, 1)
    if not 0.0 < f < 1.0:
        raise GeoanomError(f"the record before {_year_or_time(period.end)} does not reach both "
                           "a training period and the validation year "
                           f"{_year_or_time(period.val_start)}")
    return finish_window_set(ws, dataclasses.replace(config, split_fractions=(f, 1.0 - f, 0.0)))


def _year_or_time(t: np.datetime64) -> str:
    """A 1 January midnight as its year (the study's test years), any other time in ISO."""
    ts = pd.Timestamp(t)
    if (ts.month, ts.day, ts.hour, ts.minute, ts.second, ts.nanosecond) == (1, 1, 0, 0, 0, 0):
        return str(ts.year)
    return ts.isoformat()


def _training_end(stage: xr.Dataset, catalog: pd.DataFrame, config: DetectorConfig):
    """End of the last training window of the fraction split of ``stage`` (the period the
    fitted preprocessing steps may learn from), or None without training windows."""
    ws = build_window_set(stage, catalog, config.windows)
    tr = ws["split"].values.astype(str) == "train"
    if not tr.any():
        explain_window_counts(ws, stage, catalog, config.windows, path=config.path)
        return None
    return np.datetime64(ws["end"].values[tr].max(), "ns")


def fit_preprocessing(record: xr.Dataset, catalog: pd.DataFrame, config: DetectorConfig, *,
                      period: TrainingPeriod | None = None, activity=None,
                      reference: xr.Dataset | None = None
                      ) -> tuple[FittedPreprocess, xr.Dataset]:
    """Fit the ``[preprocess]`` chain on the training period and apply it to ``record``.

    With the fraction split, the record's span and cadence are first checked against the
    window settings (:func:`~geoanom.detector.suggest.check_windows_fit`: settings the
    record cannot satisfy raise ConfigError naming values that fit).

    Returns
    -------
    (FittedPreprocess, xarray.Dataset)
        The fitted chain and the preprocessed record.
    """
    pcfg = config.preprocess
    if pcfg.empty:
        if period is None:
            check_windows_fit(record, catalog, config.windows, path=config.path)
        return FittedPreprocess(config=pcfg, source=record_source(record)), record
    if period is None:
        stage = apply_stateless(record, pcfg)
        check_windows_fit(stage, catalog, config.windows, path=config.path)
        fitted_steps = any(pcfg.step(s) is not None for s in FITTED_STEPS)
        train_end = _training_end(stage, catalog, config) if fitted_steps else None
    else:
        train_end = period.val_start
    fitted = fit_preprocess(record, pcfg, train_end, activity, reference=reference)
    return fitted, apply_preprocess(record, fitted, activity=activity, reference=reference)


def _check_fit_before_held_out(ws: xr.Dataset, fitted: FittedPreprocess) -> None:
    """Refuse a window set whose validation or test windows start before the end of the
    period the preprocessing was fitted on."""
    if not fitted.train_end:
        return
    held = np.isin(ws["split"].values.astype(str), ["val", "test"])
    first = ws["start"].values[held].min() if held.any() else None
    if first is not None and first < np.datetime64(fitted.train_end):
        raise LeakageError("the preprocessing was fitted on data a val/test window covers",
                           expected=f"first held-out window at or after {fitted.train_end}",
                           found=str(first))


def _split_facts(ws: xr.Dataset) -> dict:
    split = ws["split"].values.astype(str)
    return {"n_train_windows": int(np.sum(split == "train")),
            "n_val_windows": int(np.sum(split == "val")),
            "n_train_seismic": int(np.sum((split == "train") & (ws["label"].values == 1)))}


@dataclass
class Detector:
    """A fitted detector: its settings, its fitted preprocessing and its network.

    Attributes
    ----------
    config
        The :class:`DetectorConfig` it was fitted with.
    preprocess
        The fitted ``[preprocess]`` chain (re-applied by :meth:`score`).
    model
        The network and its ``model.json`` (:class:`~geoanom.detector.nn.artifact.LoadedModel`).
    period
        The :class:`TrainingPeriod` it was fitted on (None: the config's split fractions).
    fit_summary
        What fitting found (epochs, selection metric, window counts); empty after
        :func:`load_detector` (see ``model.metadata`` then).
    """

    config: DetectorConfig
    preprocess: FittedPreprocess
    model: LoadedModel
    period: TrainingPeriod | None = None
    fit_summary: dict = field(default_factory=dict)

    @property
    def path(self) -> Path:
        """The detector's folder."""
        return Path(self.model.path)

    @property
    def preprocessed(self) -> bool:
        """True when :meth:`score` runs a preprocessing chain before scoring."""
        return not self.preprocess.config.empty

    def hash(self) -> str:
        """SHA-256 (hex) of the settings, the fitted preprocessing and the weights: two
        detectors with the same hash score every record the same."""
        return object_sha256({"config": self.config.hash(),
                            "preprocess": self.preprocess.to_dict(),
                            "period": self.period.to_dict() if self.period else None,
                            "weights_sha256": self.model.weights_sha256})

    def record_differences(self, record: xr.Dataset) -> list[str]:
        """How ``record`` differs from the raw record the detector was fitted on (station,
        cadence, components); empty when it is alike or nothing was stored."""
        src = self.preprocess.source or self.model.meta.get("record") or {}
        if not src:
            return []
        now = record_source(record)
        diffs = []
        if src.get("iaga_code") and now["iaga_code"] != src["iaga_code"]:
            diffs.append(f"station {now['iaga_code'] or 'unknown'} (model: {src['iaga_code']})")
        sp = src.get("sampling_period_s")
        if sp is not None and not abs(float(now["sampling_period_s"]) - float(sp)) < 1e-9:
            diffs.append(f"cadence {now['sampling_period_s']:g} s (model: {float(sp):g} s)")
        if src.get("components") and list(src["components"]) != now["components"]:
            diffs.append(f"components {','.join(now['components'])} "
                         f"(model: {','.join(src['components'])})")
        return diffs

    def prepare(self, record: xr.Dataset, *, activity=None,
                reference: xr.Dataset | None = None) -> xr.Dataset:
        """``record`` through the fitted preprocessing chain (unchanged without one)."""
        if not self.preprocessed:
            return record
        return apply_preprocess(record, self.preprocess, activity=activity,
                                reference=reference)

    def score(self, record: xr.Dataset, *, activity=None, reference: xr.Dataset | None = None,
              start=None, end=None, residuals: bool = False, chunk_windows: int | None = None,
              inputs=(), progress: bool | None = False, client=None) -> xr.Dataset:
        """Score a raw record: the fitted preprocessing runs on the whole record, then the
        windows of ``[start, end)`` (all when None) are scored.

        Parameters
        ----------
        record
            A raw station record like the one the detector was fitted on (lazy records are
            scored chunk by chunk when there is no preprocessing).
        activity, reference
            The activity index or remote reference record the preprocessing regresses on.
        start, end
            Keep the samples in ``[start, end)`` after preprocessing (UTC).
        residuals, chunk_windows, inputs, progress
            As in :func:`~geoanom.detector.score.score_record`.
        client
            A ``dask.distributed`` client: score on the cluster
            (:func:`~geoanom.detector.distributed.score_records`).

        Returns
        -------
        xarray.Dataset
            The scores (dim ``window``): ``score`` (the RMSE), ``rmse``, ``mae``, per
            component errors, with provenance.
        """
        rec = self.prepare(record, activity=activity, reference=reference)
        if start is not None or end is not None:
            lo = None if start is None else np.datetime64(start, "ns")
            hi = None if end is None else np.datetime64(end, "ns") - np.timedelta64(1, "ns")
            rec = rec.sel(time=slice(lo, hi))
        if client is not None:
            [ds] = score_records(self.model, [rec], client, chunk_windows=chunk_windows,
                                 residuals=residuals, inputs=[list(inputs)])
            return ds
        return score_record(self.model, rec, chunk_windows=chunk_windows, residuals=residuals,
                            inputs=inputs, progress=progress)

    def save(self, directory: str | os.PathLike) -> Path:
        """Copy the detector's ``weights.pt`` and ``model.json`` into ``directory`` (each
        atomically; nothing to do when it is the detector's own folder)."""
        d = Path(directory)
        if d.resolve() == self.path.resolve():
            return d
        d.mkdir(parents=True, exist_ok=True)
        for name in (WEIGHTS, MODEL_JSON):
            with atomic_path(d / name) as tmp:
                shutil.copyfile(self.path / name, tmp)
        return d


def _meta_entries(config: DetectorConfig, fitted: FittedPreprocess,
                  period: TrainingPeriod | None) -> dict:
    """The model.json entries that describe the detector (schema 2)."""
    return {"preprocess": fitted.to_dict(), "record": fitted.source,
            "detector": {"schema": 2, "config": config.to_dict(),
                         "config_hash": config.hash(),
                         "period": period.to_dict() if period else None}}


def fit_detector(record: xr.Dataset, catalog: pd.DataFrame, config: DetectorConfig, *,
                 out_dir: str | os.PathLike, activity=None, reference: xr.Dataset | None = None,
                 period: TrainingPeriod | None = None, device=None, resume: bool = True,
                 progress: bool = True, inputs=()) -> Detector:
    """Fit a detector on ``record`` labelled with ``catalog`` and save it in ``out_dir``.

    Parameters
    ----------
    record
        The raw station record (the ``[preprocess]`` chain runs here and again in
        :meth:`Detector.score`).
    catalog
        The earthquake catalog (labels: the label rule of ``config.windows``).
    config
        The detector's settings.
    out_dir
        The detector's folder (``weights.pt``, ``model.json``, ``checkpoint.pt``).
    activity, reference
        An activity index / a remote reference record for a ``[preprocess]`` regression.
    period
        Rolling origin: a :class:`TrainingPeriod`; None: the config's split fractions.
    device
        ``None``: ``cuda`` when available, else CPU.
    resume
        Continue from a checkpoint of the same configuration and window set in ``out_dir``.
    progress
        Draw a progress bar on stderr.
    inputs
        Files the record, catalog and config came from (checksums go into the provenance).

    Returns
    -------
    Detector
        With ``fit_summary``: epochs run, the selected epoch and its metric, window counts.

    Raises
    ------
    ConfigError
        Settings the record cannot satisfy (with values that fit), or no training windows.
    LeakageError
        Preprocessing fitted on data that held-out windows cover.
    GeoanomError
        With a training period: no valid window, or the record does not reach it.
    """
    fitted, prepared = fit_preprocessing(record, catalog, config, period=period,
                                         activity=activity, reference=reference)
    if period is None:
        ws = build_window_set(prepared, catalog, config.windows)
        explain_window_counts(ws, prepared, catalog, config.windows, path=config.path,
                              need_seismic=config.train.lam > 0)
    else:
        ws = period_window_set(prepared, catalog, config.windows, period)
    _check_fit_before_held_out(ws, fitted)
    # under torchrun (WORLD_SIZE set) the same call trains with DistributedDataParallel
    trainer = train_ddp if launched_distributed() else train
    res = trainer(ws, config.train, out_dir=out_dir, device=device, resume=resume,
                  progress=progress, inputs=inputs)
    m = res.meta["metrics"]
    summary = {"device": res.device, "epochs_run": res.epochs_run, "best_epoch": res.best_epoch,
               "metric": res.metric_name, "best_metric": res.best_metric,
               "stopped_early": res.stopped_early,
               "lambda_at_best_epoch": m["lambda_at_best_epoch"],
               "selection_fallback": m["selection_fallback"],
               "window_counts": label_counts(ws), "split_counts": res.meta["window_counts"],
               **_split_facts(ws)}
    if int(os.environ.get("RANK", "0")) != 0:
        # another rank of a distributed run: rank 0 writes and reports
        return Detector(config=config, preprocess=fitted, period=period, fit_summary=summary,
                        model=LoadedModel(model=res.model, meta=res.meta, path=Path(out_dir),
                                          weights_sha256=""))
    add_model_meta(out_dir, _meta_entries(config, fitted, period))
    lm = load_model(out_dir, device=resolve_device(device))
    return Detector(config=config, preprocess=fitted, model=lm, period=period,
                    fit_summary=summary)


def _config_of(meta: dict, fitted: FittedPreprocess) -> tuple[DetectorConfig, TrainingPeriod | None]:
    """The DetectorConfig and training period a model.json describes (schema 2), or that a
    schema-1 model.json implies (its window, training and preprocessing entries)."""
    det = meta.get("detector")
    if isinstance(det, dict) and det.get("schema") == 2:
        period = TrainingPeriod.from_dict(det["period"]) if det.get("period") else None
        return DetectorConfig.from_dict(det["config"]), period
    windows = (meta.get("windows") or {}).get("config") or {}
    cfg = DetectorConfig(windows=WindowConfig.from_dict(dict(windows)),
                         train=TrainConfig.from_dict(dict(meta.get("training") or {})),
                         preprocess=fitted.config)
    return cfg, None


def load_detector(directory: str | os.PathLike, *, device=None) -> Detector:
    """Load a detector's folder (written by :func:`fit_detector` or ``geoanom train``, of
    this release or an earlier one).

    Parameters
    ----------
    directory
        The folder with ``weights.pt`` and ``model.json``.
    device
        Where to put the network (``None``: ``cuda`` when available, else CPU).
    """
    lm = load_model(directory, device=resolve_device(device))
    meta = lm.meta
    if meta.get("preprocess"):
        fitted = FittedPreprocess.from_dict(meta["preprocess"])
    else:
        fitted = FittedPreprocess(config=PreprocessConfig(), source=dict(meta.get("record") or {}))
    config, period = _config_of(meta, fitted)
    return Detector(config=config, preprocess=fitted, model=lm, period=period)

