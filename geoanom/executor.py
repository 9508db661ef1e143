"""Run independent units of work serially or on ``dask.distributed``, skipping those done.

A unit is a pure function of a picklable spec (seeded, deterministic, one torch thread) that
stores its own result, so the serial loop and a cluster give the same results, and a run
that was killed resumes by skipping the specs whose results are already stored.

``dask[array]`` and ``distributed`` (the optional ``dask`` extra) are needed only with a
scheduler.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from geoanom.detector.distributed import get_client


@contextmanager
def dask_client(scheduler: str, *, workers: int = 2, threads_per_worker: int = 1) -> Iterator:
    """A ``distributed.Client`` for the ``with`` block, closed at its end.

    ``scheduler``: ``"local"`` starts a LocalCluster of ``workers`` processes with
    ``threads_per_worker`` threads each (closed with the client); anything else is a
    scheduler address (``tcp://host:8786``).
    """
    client = get_client(scheduler, workers=workers, threads_per_worker=threads_per_worker)
    try:
        yield client
    finally:
        cluster = client.cluster if scheduler == "local" else None
        client.close()
        if cluster is not None:
            cluster.close()


def run_all(fn: Callable[[Any], Any], specs: Iterable, *, scheduler: str | None = None,
            workers: int = 2, done: Callable[[Any], Any] | None = None,
            progress: Callable[[int, int, Any, Any], None] | None = None) -> list:
    """``fn(spec)`` for every spec that is not done yet, serially or on a dask cluster.

    Parameters
    ----------
    fn
        The unit function (a module-level function: it is pickled to the workers).
    specs
        The units' specs (picklable).
    scheduler
        ``None``: in this process, in spec order; ``"local"``: a LocalCluster of
        ``workers`` processes (one thread each); else a dask scheduler address.
    workers
        Workers of a local cluster.
    done
        ``done(spec)``: the stored result of a spec that is already done, or None when it
        has to run (resumption). Default: every spec runs.
    progress
        Called as ``progress(0, n, None, None)`` once the ``n`` specs to run are known, then
        as ``progress(k, n, spec, result)`` when the k-th of them has finished (in
        completion order on a cluster).

    Returns
    -------
    list
        One result per spec, in spec order: the stored result of a spec that was done,
        else ``fn(spec)``.
    """
    specs = list(specs)
    results = [None if done is None else done(s) for s in specs]
    todo = [i for i, r in enumerate(results) if r is None]
    report = progress or (lambda k, n, spec, result: None)
    report(0, len(todo), None, None)
    if not todo:
        return results
    if scheduler is None:
        for k, i in enumerate(todo, 1):
            results[i] = fn(specs[i])
            report(k, len(todo), specs[i], results[i])
        return results
    _run_on_dask(fn, specs, todo, results, scheduler, workers, report)
    return results


def _run_on_dask(fn, specs: Sequence, todo: list[int], results: list, scheduler: str,
                 workers: int, report) -> None:
    """Fill ``results[i]`` for ``i`` in ``todo`` with ``fn(specs[i])`` run on a cluster."""
    from distributed import as_completed

    with dask_client(scheduler, workers=workers) as client:
        futures = client.map(fn, [specs[i] for i in todo], pure=False)
        where = {f.key: i for f, i in zip(futures, todo, strict=True)}
        for k, f in enumerate(as_completed(futures), 1):
            i = where[f.key]
            results[i] = f.result()
            report(k, len(todo), specs[i], results[i])
