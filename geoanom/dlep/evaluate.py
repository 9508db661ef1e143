"""Evaluation of one DLEP method (DLEP, its ablations, baselines, fused variants, trivial
references; :mod:`geoanom.dlep.methods`) under one protocol (:mod:`geoanom.dlep.folds`) over
seeds: :func:`evaluate`, the entry point, and :func:`run_jobs`, which trains the jobs
(side by side for the DLEP family, :mod:`geoanom.dlep.grouped`; one at a time otherwise,
:mod:`geoanom.dlep.fit`). Whole tables, also on worker processes: :mod:`geoanom.dlep.tables`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from geoanom._progress import bar_or_lines
from geoanom.dlep.config import DLEPConfig
from geoanom.dlep.fit import fit_predict
from geoanom.dlep.grouped import fit_predict_grouped
from geoanom.dlep.jobs import Job, Prediction, plan_jobs
from geoanom.dlep.methods import GROUPED_METHODS, StreamProvider
from geoanom.dlep.results import MethodResult, method_result
from geoanom.dlep.segment import Samples


def evaluate(samples: Samples, method: str, protocol: str, *, seeds: Sequence[int] = (0,),
             extra_streams: Mapping[str, StreamProvider] | None = None,
             config: DLEPConfig | None = None, progress: bool = True,
             cache: dict | None = None) -> MethodResult:
    """Evaluate one method under one protocol for each seed.

    Parameters
    ----------
    samples
        From :func:`geoanom.dlep.segment.segment_catalog`.
    method
        See :mod:`geoanom.dlep.methods`.
    protocol
        ``"kfold"`` (paper, leaky) or ``"chrono"``.
    seeds
        One full cross-validation per seed (folds, initialisation, batch order).
    extra_streams
        Name -> provider (contract in :mod:`geoanom.dlep.model`); ``features`` is called
        once per fold with that fold's train and test indices.
    config
        Hyper-parameters (default :class:`geoanom.dlep.config.DLEPConfig`).
    progress
        Progress on stderr (a bar on a terminal, plain lines otherwise).
    cache
        Shared cache of per-sample baseline inputs (map images, fixed-day indicators).

    Returns
    -------
    MethodResult
    """
    cfg = config or DLEPConfig()
    plan = plan_jobs(samples, method, protocol, seeds, config=cfg, extra_streams=extra_streams)
    cache = {} if cache is None else cache
    predictions = run_jobs(samples, method, protocol, plan.jobs, cfg,
                           extra_streams=extra_streams, cache=cache, progress=progress)
    return method_result(samples, plan, predictions)


def run_jobs(samples: Samples, method: str, protocol: str, jobs: Sequence[Job],
             config: DLEPConfig, *, extra_streams: Mapping[str, StreamProvider] | None = None,
             cache: dict | None = None, progress: bool = True, bar=None) -> list[Prediction]:
    """Test predictions of every job of ``method`` under ``protocol``, in job order: the
    DLEP family side by side when ``config.fold_parallel``, other methods job by job.

    ``bar`` is a progress object to use instead of a new one (:func:`bar_or_lines`); it
    counts epochs of side-by-side groups, else jobs.
    """
    cfg = config
    cache = {} if cache is None else cache
    if method in GROUPED_METHODS and cfg.fold_parallel:
        if bar is None:
            bar = bar_or_lines(cfg.epochs, f"{method} {protocol} ({len(jobs)} folds side by "
                                           "side)", progress)
        try:
            return fit_predict_grouped(samples, method, jobs, cfg, bar=bar)
        finally:
            bar.close()
    if bar is None:
        bar = bar_or_lines(len(jobs), f"{method} {protocol}", progress)
    per_seed = {job.seed: sum(1 for j in jobs if j.seed == job.seed) for job in jobs}
    outs = []
    try:
        for job in jobs:
            outs.append(fit_predict(samples, method, job, config=cfg,
                                    extra_streams=extra_streams, cache=cache))
            bar.update(1, note=f"seed {job.seed} fold {job.fold + 1}/{per_seed[job.seed]}")
    finally:
        bar.close()
    return outs
