"""A whole DLEP table's training on worker processes: the jobs of every plan cut into
tasks (one per side-by-side group, one per seed for the other methods), the costliest
first, on ``spawn``-ed processes, with one progress line weighted by the tasks' estimated
work (:class:`geoanom._progress.WeightedProgress`). The numbers are those of one process
to the last digit (each job's numbers depend on its own seed alone)."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, NamedTuple

import torch

from geoanom._malloc import keep_freed_memory
from geoanom._progress import QueueProgress, WeightedProgress
from geoanom.dlep.config import DLEPConfig
from geoanom.dlep.evaluate import run_jobs
from geoanom.dlep.grouped import job_groups
from geoanom.dlep.indicators import INDICATOR_NAMES
from geoanom.dlep.jobs import Job, Plan, Prediction
from geoanom.dlep.methods import GROUPED_METHODS, TRIVIAL_METHODS, streams_of
from geoanom.dlep.model import GroupedDLEP
from geoanom.dlep.segment import Samples


class Task(NamedTuple):
    """Some jobs of one plan, run in one call on a worker."""

    #: Estimated cost (:func:`_task_cost`): orders the tasks and weighs the progress line.
    cost: float
    #: Index of the plan in the list given to :func:`run_pool`.
    plan: int
    #: Indices of the plan's jobs.
    part: list[int]


def run_pool(samples: Samples, plans: Sequence[Plan], config: DLEPConfig, *, workers: int,
             progress: bool = True) -> list[list[Prediction]]:
    """Test predictions of every job of every plan (per plan, in job order), trained on
    ``workers`` processes (each with as many torch threads as the caller has).

    A script (not a notebook) that calls this must do so under
    ``if __name__ == "__main__":``, as any Python program that starts processes with
    ``spawn``.
    """
    cfg = config
    tasks = []
    for i, plan in enumerate(plans):
        for part in _task_parts(samples, plan.method, plan.jobs, cfg):
            tasks.append(Task(_task_cost(samples, plan.method, [plan.jobs[k] for k in part],
                                        cfg), i, part))
    tasks.sort(key=lambda t: -t.cost)  # costliest first: the pool ends together
    outs: list[list[Any]] = [[None] * len(plan.jobs) for plan in plans]
    units = [_task_units(plans[t.plan].method, len(t.part), cfg) for t in tasks]
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    done_tasks = 0
    with WeightedProgress([t.cost for t in tasks], units, q,
                          f"DLEP table ({len(tasks)} tasks on {workers} processes, "
                          "thousandths of the estimated work)", progress) as bar:
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init,
                                 initargs=(samples, cfg, torch.get_num_threads(), q)) as pool:
            futures = {}
            for n, task in enumerate(tasks):
                plan = plans[task.plan]
                fut = pool.submit(_worker_run, plan.method, plan.protocol,
                                  [plan.jobs[k] for k in task.part], n)
                futures[fut] = task
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=2.0, return_when=FIRST_COMPLETED)
                for fut in done:
                    task = futures[fut]
                    for k, r in zip(task.part, fut.result(), strict=True):
                        outs[task.plan][k] = r
                    done_tasks += 1
                bar.poll(note=f"{done_tasks}/{len(tasks)} tasks done")
        bar.finish(note=f"{done_tasks}/{len(tasks)} tasks done")
    return outs


def _task_cost(samples: Samples, method: str, jobs: Sequence[Job], cfg: DLEPConfig) -> float:
    """A rough cost (network weights x training steps, other methods scaled to their CPU
    time measured beside DLEP's on Japan) that orders the pool's tasks and weighs the
    progress line; it never touches a result."""
    if method in TRIVIAL_METHODS:
        return 0.0
    steps = sum(len(j.train_idx) // max(1, int(cfg.batch_size)) + 1 for j in jobs)
    if method in GROUPED_METHODS:
        _, gated, _ = streams_of(method, None)
        n = GroupedDLEP.weights_per_group(len(INDICATOR_NAMES), samples.pattern.shape[-1],
                                          samples.w, indim=cfg.indim, gated=gated,
                                          hidden=cfg.hidden, channels=tuple(cfg.channels))
        return float(n) * steps * cfg.epochs
    if method == "2018cnn":
        return 6e5 * steps * cfg.cnn2018_epochs
    return 3.5e6 * steps


def _task_parts(samples: Samples, method: str, jobs: Sequence[Job], cfg: DLEPConfig
                ) -> list[list[int]]:
    """How one method's jobs are cut into pool tasks."""
    if method in GROUPED_METHODS and cfg.fold_parallel:
        return job_groups(samples, method, jobs, cfg)
    if method in TRIVIAL_METHODS:
        return [list(range(len(jobs)))]
    by_seed: dict[int, list[int]] = {}
    for k, j in enumerate(jobs):
        by_seed.setdefault(j.seed, []).append(k)
    return list(by_seed.values())


def _task_units(method: str, n_jobs: int, cfg: DLEPConfig) -> int:
    """Progress units of one pool task: epochs of its group, or its jobs."""
    return int(cfg.epochs) if method in GROUPED_METHODS and cfg.fold_parallel else n_jobs


#: What a worker process keeps between tasks (set by :func:`_worker_init`).
_WORKER: dict = {}


def _worker_init(samples: Samples, cfg: DLEPConfig, threads: int, queue) -> None:
    keep_freed_memory()  # our own process: reuse freed blocks (same numbers, faster)
    torch.set_num_threads(int(threads))
    _WORKER.update(samples=samples, cfg=cfg, cache={}, queue=queue)
    parent = os.getppid()

    def watch() -> None:  # a worker whose parent was killed stops instead of training on
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _worker_run(method: str, protocol: str, jobs: list[Job], task: int) -> list[Prediction]:
    w = _WORKER
    return run_jobs(w["samples"], method, protocol, jobs, w["cfg"], cache=w["cache"],
                    progress=False, bar=QueueProgress(w["queue"], task))
