"""The DLEP family (DLEP, DLEP(-Att), DLEP(-Dyn)) trained for many (seed, fold) jobs side by
side (:class:`geoanom.dlep.model.GroupedDLEP`), with the numbers each job gets alone
(:func:`geoanom.dlep.fit.fit_predict`), and how the jobs are cut into groups."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from geoanom._malloc import MMAP_THRESHOLD
from geoanom.dlep.config import DLEPConfig
from geoanom.dlep.fit import pattern_inputs
from geoanom.dlep.indicators import INDICATOR_NAMES, IndicatorScaler
from geoanom.dlep.jobs import Job, Prediction, job_seed
from geoanom.dlep.loss import dynamic_class_weights
from geoanom.dlep.methods import streams_of
from geoanom.dlep.model import GroupAdam, GroupedDLEP, rows_group_invariant
from geoanom.dlep.segment import N_CLASSES, Samples

#: Weights (floats) of all networks of one side-by-side group: a group's weights, gradients
#: and Adam moments then stay near the cache. ``bench/bench_dlep.py`` measures a network
#: step at Indim 600: about 8.0 ms in groups of 8, 8.5 ms in groups of 4 and 10.8 ms in
#: groups of 25-50.
GROUP_WEIGHT_BUDGET = 16_000_000
#: Bytes of a group's largest tensor (weights; gradients and Adam moments have the same
#: size): below glibc's mmap threshold as :func:`geoanom.dlep.keep_freed_memory` sets it,
#: so the tensors freed each step are reused from the heap (above it a network step at
#: Indim 600 costs about 11 ms instead of 8).
GROUP_TENSOR_BYTES = MMAP_THRESHOLD
#: The fixed cost of one step of a group, in network steps: a step of ``G`` networks
#: costs about ``G + GROUP_STEP_OVERHEAD`` network steps' worth of work (``bench_dlep.py``:
#: 9.6 ms alone, 8.2 ms each in fours, 7.7 ms each in eights at Indim 600). It is what
#: :func:`job_groups` weighs against a job idling through its group's longer epochs.
GROUP_STEP_OVERHEAD = 0.3


def fit_predict_grouped(samples: Samples, method: str, jobs: Sequence[Job],
                        config: DLEPConfig, *, bar=None) -> list[Prediction]:
    """Train one DLEP-family network per job side by side and return, per job, the test
    probabilities and fused test features.

    Each job's numbers depend on that job alone (tested: one seed run alone equals the same
    seed run beside others, to the last digit): its initial weights, batch order and dropout
    masks derive from :func:`geoanom.dlep.jobs.job_seed`; it keeps its own scalers (fitted on
    its training fold), dynamic-loss counts, Adam state and batch size
    (``min(batch_size, n_train)``; jobs are grouped by batch size); a job with fewer batches
    in an epoch sits out the remaining steps (:class:`geoanom.dlep.model.GroupAdam`).
    ``bar`` (a progress object) advances by one per epoch of each group; its ``total``, if
    it has one, is set to the number of group epochs.
    """
    cfg = config
    groups = job_groups(samples, method, jobs, cfg)
    out: list = [None] * len(jobs)
    if bar is not None and getattr(bar, "total", None) is not None:
        bar.total = max(1, int(cfg.epochs) * len(groups))
    for part in groups:
        bs = batch_size_of(jobs[part[0]], cfg)
        res = _fit_group(samples, method, [jobs[k] for k in part], cfg, bs, bar=bar)
        for k, r in zip(part, res, strict=True):
            out[k] = r
    return out


def batch_size_of(job: Job, cfg: DLEPConfig) -> int:
    """The job's batch size: ``batch_size`` capped at its training size, at least 2."""
    return max(2, min(int(cfg.batch_size), len(job.train_idx)))


def group_limit(samples: Samples, method: str, config: DLEPConfig) -> int:
    """Most (seed, fold) networks of ``method`` trained side by side in one group:
    ``config.group_size``, or with 0 the most whose weights fit :data:`GROUP_WEIGHT_BUDGET`
    and whose largest tensor fits :data:`GROUP_TENSOR_BYTES` (float32)."""
    if int(config.group_size) > 0:
        return int(config.group_size)
    _, gated, _ = streams_of(method, None)
    sizes = GroupedDLEP.weight_sizes(len(INDICATOR_NAMES), samples.pattern.shape[-1],
                                     samples.w, indim=config.indim, gated=gated,
                                     hidden=config.hidden, channels=tuple(config.channels))
    return max(1, min(GROUP_WEIGHT_BUDGET // sum(sizes),
                      GROUP_TENSOR_BYTES // (4 * max(sizes))))


def job_groups(samples: Samples, method: str, jobs: Sequence[Job], config: DLEPConfig
               ) -> list[list[int]]:
    """Indices of the jobs trained side by side, group by group: jobs share a group only
    with the same batch size; within a batch size they are ordered by their number of
    batches per epoch and cut into consecutive groups of at most :func:`group_limit` so as
    to minimise the estimated work, sum over groups of (the group's longest epoch, in
    batches) x (its size + :data:`GROUP_STEP_OVERHEAD`): a job with fewer batches than its
    group's longest idles through the remaining steps, and every group step has a fixed
    cost. So jobs of equal length (the seeds of one chronological block) go together, and
    jobs of similar length fill groups up to the limit. Jobs whose batch size is not a
    multiple of :data:`geoanom.dlep.model.ROW_MULTIPLE` train alone (a batched product at
    such row counts depends on the group position). The grouping changes the speed, never
    the numbers (each job's numbers depend on its own seed alone)."""
    limit = group_limit(samples, method, config)
    sizes = [batch_size_of(j, config) for j in jobs]
    out: list[list[int]] = []
    for bs in sorted(set(sizes)):
        idx = sorted((k for k, b in enumerate(sizes) if b == bs),
                     key=lambda k: (len(jobs[k].train_idx) // bs, k))
        if not rows_group_invariant(bs):
            # batches of this size would move the last bits by group position: alone
            out.extend([k] for k in idx)
            continue
        steps = [len(jobs[k].train_idx) // bs for k in idx]
        # best[i]: least work for the first i jobs; cut[i]: where its last group starts
        best, cut = [0.0] + [np.inf] * len(idx), [0] * (len(idx) + 1)
        for i in range(1, len(idx) + 1):
            for j in range(max(0, i - limit), i):
                work = best[j] + steps[i - 1] * (i - j + GROUP_STEP_OVERHEAD)
                if work < best[i] - 1e-9:
                    best[i], cut[i] = work, j
        parts, i = [], len(idx)
        while i > 0:
            parts.append([int(k) for k in idx[cut[i]:i]])
            i = cut[i]
        out.extend(reversed(parts))
    return out


def _group_inputs(samples: Samples, jobs: Sequence[Job]) -> dict[str, torch.Tensor]:
    """Every job's inputs (scaled with its own training fold) and labels, stacked along a
    leading group axis: ``EF``, ``EF_mask``, ``IF``, ``y``."""
    ef, efm, pat, ys = [], [], [], []
    for job in jobs:
        z, mk = IndicatorScaler().fit(samples.indicators, job.train_idx).transform(
            samples.indicators)
        ef.append(z)
        efm.append(mk)
        pat.append(pattern_inputs(samples.pattern, job.train_idx))
        ys.append(np.asarray(job.y, np.int64))
    return {"EF": torch.as_tensor(np.stack(ef)), "EF_mask": torch.as_tensor(np.stack(efm)),
            "IF": torch.as_tensor(np.stack(pat)), "y": torch.as_tensor(np.stack(ys))}


def _group_loss(logits: torch.Tensor, yb: torch.Tensor, train_counts: torch.Tensor,
                active: torch.Tensor, dynamic: bool, lam: float) -> torch.Tensor:
    """Sum over the active jobs of each job's batch loss (dynamic or plain cross-entropy)."""
    g = logits.shape[0]
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                           yb.reshape(-1), reduction="none").view(g, -1)
    if dynamic:
        bcount = torch.nn.functional.one_hot(yb, N_CLASSES).sum(dim=1)
        w = dynamic_class_weights(bcount, train_counts, lam).to(ce.dtype)
        wy = torch.gather(w, 1, yb)
        per_group = (wy * ce).sum(dim=1) / wy.sum(dim=1)
    else:
        per_group = ce.mean(dim=1)
    return (per_group * active.to(ce.dtype)).sum()


def _fit_group(samples: Samples, method: str, jobs: Sequence[Job], cfg: DLEPConfig, bs: int,
               *, bar=None) -> list[Prediction]:
    g = len(jobs)
    _, gated, _ = streams_of(method, None)
    t = _group_inputs(samples, jobs)
    seeds = [job_seed(job.seed, job.fold) for job in jobs]
    model = GroupedDLEP(g, len(INDICATOR_NAMES), samples.pattern.shape[-1], samples.w,
                        indim=cfg.indim, gated=gated, hidden=cfg.hidden, dropout=cfg.dropout,
                        channels=tuple(cfg.channels), seeds=seeds)
    opt = GroupAdam(model.parameters(), lr=cfg.lr)
    train_counts = torch.as_tensor(np.stack([
        np.bincount(job.y[job.train_idx], minlength=N_CLASSES) for job in jobs]))
    rngs = [np.random.default_rng(sd) for sd in seeds]
    n_batches = np.array([len(job.train_idx) // bs for job in jobs])
    rows = torch.arange(g)[:, None]
    dynamic = method != "dlep-dyn"
    model.train()
    for epoch in range(int(cfg.epochs)):
        perms = [rng.permutation(np.asarray(job.train_idx))
                 for rng, job in zip(rngs, jobs, strict=True)]
        for step in range(int(n_batches.max())):
            active_np = step < n_batches
            idx = np.stack([p[step * bs:(step + 1) * bs] if a else p[:bs]
                            for p, a in zip(perms, active_np, strict=True)])
            active = torch.as_tensor(active_np)
            model.set_active(active)
            model.set_step(epoch * 100_003 + step)
            bi = torch.as_tensor(idx)
            logits = model({"EF": t["EF"][rows, bi], "EF_mask": t["EF_mask"][rows, bi],
                            "IF": t["IF"][rows, bi]})
            loss = _group_loss(logits, t["y"][rows, bi], train_counts, active, dynamic,
                               cfg.lam)
            opt.zero_grad()
            loss.backward()
            opt.step(active)
        if bar is not None:
            bar.update(1)
    model.set_active(None)
    # evaluation mode: every group sees every sample once (row counts padded to the
    # invariant multiple); each job keeps its test rows
    ff_all, p_all = model.predict({"EF": t["EF"], "EF_mask": t["EF_mask"], "IF": t["IF"]})
    out = []
    for k, job in enumerate(jobs):
        te = np.asarray(job.test_idx)
        out.append(Prediction(p_all[k, te].numpy().astype(float), ff_all[k, te].numpy()))
    return out
