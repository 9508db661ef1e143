"""The work of an evaluation: (seed, fold) training jobs (:class:`Job`), the jobs of one
method under one protocol (:class:`Plan`, from :func:`plan_jobs`), what a fitted job says
about its test samples (:class:`Prediction`), and the seed each job derives from
(:func:`job_seed`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from geoanom.dlep.config import DLEPConfig
from geoanom.dlep.folds import check_chronological, make_folds
from geoanom.dlep.methods import METHODS, TRIVIAL_METHODS, StreamProvider, streams_of
from geoanom.dlep.segment import Samples
from geoanom.errors import ValidationError


class Job(NamedTuple):
    """One (seed, fold) training job."""

    #: Seed of the cross-validation (folds, initialisation, batch order).
    seed: int
    #: Fold number within the seed.
    fold: int
    #: Indices of the training samples.
    train_idx: np.ndarray
    #: Indices of the test samples.
    test_idx: np.ndarray
    #: Labels of all samples, with class edges from the training samples only.
    y: np.ndarray


class Plan(NamedTuple):
    """The jobs of one method under one protocol, seed by seed."""

    method: str
    protocol: str
    seeds: list[int]
    jobs: list[Job]


class Prediction(NamedTuple):
    """What a fitted job says about its test samples."""

    #: Class probabilities (n_test, 5).
    proba: np.ndarray
    #: Fused features ``FF`` of the test samples (a DLEP-family network), else None.
    features: np.ndarray | None


def job_seed(seed: int, fold: int) -> int:
    """The seed of one (seed, fold) training job: initial weights, batch order and dropout
    of that job derive from it alone (never from which other jobs run beside it)."""
    return int(seed) * 1000 + int(fold)


def plan_jobs(samples: Samples, method: str, protocol: str, seeds: Sequence[int], *,
              config: DLEPConfig,
              extra_streams: Mapping[str, StreamProvider] | None = None) -> Plan:
    """The checked seeds and the jobs of one method under one protocol (folds per seed from
    :func:`make_folds`; chronological folds pass :func:`check_chronological`; each job's
    labels use class edges from its training samples only)."""
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValidationError("evaluate needs at least one seed")
    if len(samples) < 4:
        raise ValidationError("too few DLEP samples to evaluate", expected=">= 4",
                              found=str(len(samples)))
    if method not in METHODS and method not in TRIVIAL_METHODS:
        streams_of(method, extra_streams)  # validates the name early
    jobs = []
    for seed in seeds:
        for fold, (tr, te) in enumerate(make_folds(samples, protocol, seed, config)):
            if protocol == "chrono":
                check_chronological(samples, tr, te)
            jobs.append(Job(seed, fold, tr, te, samples.labels_for(tr)))
    return Plan(method, protocol, seeds, jobs)
