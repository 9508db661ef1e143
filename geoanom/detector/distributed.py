"""Scoring many stations and years out of core, on ``dask.distributed``.

Records are opened lazily (:func:`open_record_lazy`: xarray with dask chunks over time); each
station is cut into the same chunks of windows that :func:`geoanom.detector.score.score_record` walks
(:class:`geoanom.detector.score.ScorePlan`), and each chunk becomes one task that reads its slice of
the record (overlapping the next chunk by ``length - stride`` samples, so windows that straddle
a chunk boundary are scored whole) and runs :func:`geoanom.detector.score.score_segment`. Chunks of all
stations run side by side on the cluster, and a worker's memory stays flat however many
stations and years it scores (``bench/bench_dask.py`` measures it). Three things keep it so,
each found by measuring a worker that grew by tens of MB per station-year:

* every task carries the small, culled dask graph of its own slice and reads it itself
  (no dask chunk is shared by two tasks and kept for the second);
* records are opened with ``inline_array=True``: no shared per-variable task pins each
  record's open file (and its HDF5 chunk cache) until the record's last task;
* results are fetched as they complete and released on the cluster at once.

The client assembles the small per-window arrays with :func:`geoanom.detector.score.assemble_scores`,
in chunk order: the scores are bitwise equal to the serial path's when the workers and the
serial process use the same number of torch threads.

The model goes to every worker once (``Client.scatter(broadcast=True)``), so a remote cluster
needs no access to the model folder; the records' files must be readable by the workers.

``dask[array]`` and ``distributed`` are the optional ``dask`` extra.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from geoanom.detector.nn.artifact import LoadedModel, load_model
from geoanom.detector.score import (
    HASH_BLOCK,
    ScorePlan,
    assemble_scores,
    block_digest,
    plan_scoring,
    record_checksum,
    score_segment,
)
from geoanom.errors import FormatError, MissingDependencyError, ValidationError


def _require_dask() -> None:
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            "dask scoring needs dask[array] and distributed",
            expected="pip install 'geoanom[dask]'", found=str(exc)) from None


def _is_netcdf(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(8)
    return head[:3] == b"CDF" or head == b"\x89HDF\r\n\x1a\n"


def _open_one(path: Path, chunk_samples: int | None) -> xr.Dataset:
    import netCDF4

    from geoanom.io.netcdf import STATION_VARS, read_attrs

    # dask chunks as stored in the file (64 Ki samples for geoanom's writer), then re-chunked
    # inline_array: each dask chunk carries the backend array itself; with a shared
    # "original" task, every record's open file (and its HDF5 chunk cache, ~37 MB for a year
    # of 1-min data) stayed pinned in worker memory until the record's last task had run
    ds = xr.open_dataset(path, engine="netcdf4", chunks={}, inline_array=True)
    if chunk_samples is not None:
        ds = ds.chunk({"time": int(chunk_samples)})
    ds = ds.drop_vars([v for v in STATION_VARS if v in ds.variables])
    # the attrs exactly as geoanom.io.netcdf.read_netcdf decodes them (typed, CF additions
    # removed); only attrs are read here, never data
    with netCDF4.Dataset(path, "r") as nc:
        ds.attrs = read_attrs(nc)
        for name in ds.data_vars:
            ds[name].attrs = {k: v for k, v in read_attrs(nc.variables[name]).items()
                              if k != "_FillValue"}
    return ds


def open_record_lazy(paths: str | os.PathLike | Iterable[str | os.PathLike], *,
                     chunk_samples: int | None = None) -> xr.Dataset:
    """Open one station's record without reading its data: dask arrays chunked over time.

    Parameters
    ----------
    paths
        One netCDF record (:func:`geoanom.io.netcdf.write_netcdf`) or several consecutive
        ones of one station (joined in time order; they must abut at the record's cadence).
        Other formats are read whole with :func:`geoanom.io.read_record`, then chunked.
    chunk_samples
        Samples per dask chunk (``time``); ``None``: the file's own chunks (65536 samples
        for files geoanom wrote).

    Returns
    -------
    xarray.Dataset
        The record, its variables dask-backed.
    """
    _require_dask()
    plist = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    if not plist:
        raise ValidationError("no record files given")
    for p in plist:
        if not p.is_file():
            raise FormatError("file not found", path=p)
    if not all(_is_netcdf(p) for p in plist):
        from geoanom.io import read_record

        return read_record(plist).chunk({"time": chunk_samples or 1 << 16})
    parts = sorted((_open_one(p, chunk_samples) for p in plist),
                   key=lambda d: d["time"].values[0] if d.sizes["time"] else np.datetime64(0, "ns"))
    if len(parts) == 1:
        return parts[0]
    period = float(parts[0].attrs.get("sampling_period_s", float("nan")))
    step = np.timedelta64(int(round(period * 1e9)), "ns")
    for prev, nxt, p in zip(parts[:-1], parts[1:], plist[1:], strict=True):
        gap = nxt["time"].values[0] - prev["time"].values[-1]
        if gap != step:
            raise ValidationError("lazy records must abut: the next file does not start one "
                                  "sample after the previous one ends (read_record fills gaps "
                                  "in memory instead)", path=p, expected=str(step),
                                  found=str(gap))
    ds = xr.concat(parts, dim="time", data_vars="minimal", coords="minimal",
                   combine_attrs="override")
    return ds.chunk({"time": chunk_samples or 1 << 16})


def get_client(scheduler: str = "local", *, workers: int = 2, threads_per_worker: int = 1,
               memory_limit: str | int = "2GiB"):
    """A ``distributed.Client``: ``"local"`` starts a LocalCluster of ``workers`` processes;
    anything else is a scheduler address (``tcp://host:8786``).

    The caller closes it (``client.close()`` and, for a local one, ``client.cluster.close()``),
    or uses it as a context manager.
    """
    _require_dask()
    from distributed import Client, LocalCluster

    if scheduler == "local":
        cluster = LocalCluster(n_workers=int(workers), threads_per_worker=int(threads_per_worker),
                               processes=True, memory_limit=memory_limit,
                               dashboard_address=None)
        return Client(cluster)
    try:
        return Client(scheduler, timeout="5s")
    except OSError as exc:
        raise ValidationError("cannot reach the dask scheduler", expected="local or an address "
                              "like tcp://host:8786", found=f"{scheduler}: {exc}") from None


#: Models rebuilt on this (worker) process, by weights checksum.
_WORKER_MODELS: dict[str, object] = {}


def _worker_model(payload: dict):
    """The model of ``payload`` on this process, built once."""
    net = _WORKER_MODELS.get(payload["sha256"])
    if net is None:
        from geoanom.detector.nn.bilstm import BiLSTMAutoencoder

        net = BiLSTMAutoencoder(**payload["arch"])
        net.load_state_dict(payload["state"])
        net.eval()
        _WORKER_MODELS[payload["sha256"]] = net
    return net


def _slice(x, a: int, b: int):
    """Samples ``[a, b)`` of a record variable's data: a numpy view, or for a dask array a
    small, culled and optimised graph that reads only that slice (see :func:`_read`)."""
    if x is None:
        return None
    if hasattr(x, "__dask_graph__"):
        import dask

        (out,) = dask.optimize(x[a:b])
        return out
    return x[a:b]


#: Files a worker keeps open. Each open netCDF file holds an HDF5 chunk cache (decompressed
#: chunks: about 37 MB for a year of 1-minute, 4-component data) and xarray keeps up to 128
#: files open: a worker scoring 100 stations grew by the cache of every file it had read.
WORKER_OPEN_FILES = 4
_limited = False


def _limit_open_files() -> None:
    global _limited
    if not _limited:
        xr.set_options(file_cache_maxsize=WORKER_OPEN_FILES)
        _limited = True


def _read(x) -> np.ndarray | None:
    """Materialise what :func:`_slice` returned, in this task (synchronously): the slice is
    read by the task that needs it, so no dask chunk outlives its task in worker memory."""
    if x is None:
        return None
    if hasattr(x, "__dask_graph__"):
        _limit_open_files()
        return np.asarray(x.compute(scheduler="synchronous"))
    return np.asarray(x)


def _chunk_task(payload: dict, plan: ScorePlan, n_windows: int, residuals: bool, n_comp: int,
                arrays: list) -> dict[str, np.ndarray]:
    """One chunk on a worker: ``arrays`` are the components' values then their flags (or
    None) over the chunk's samples (from :func:`_slice`)."""
    import torch
    from distributed import get_worker

    try:
        torch.set_num_threads(max(1, int(get_worker().state.nthreads)))
    except (ValueError, AttributeError):  # not on a worker: keep the process setting
        pass
    arrays = [_read(x) for x in arrays]
    vals = np.stack([np.asarray(a, np.float64) for a in arrays[:n_comp]], axis=1)
    ok = np.isfinite(vals)
    for j, f in enumerate(arrays[n_comp:]):
        if f is not None:
            ok[:, j] &= f == 0
    return score_segment(_worker_model(payload), vals, ok, plan, n_windows,
                         residuals=residuals)


def _digest_task(values: list) -> bytes:
    return block_digest(np.asarray(_read(values[0]), np.float64))


def _collect(client, tasks: list) -> list:
    """Compute ``tasks`` and return their results in order, fetching each as it completes
    and releasing it on the cluster at once (held results made a worker's memory grow with
    the number of stations)."""
    from distributed import as_completed

    futures = client.compute(tasks)
    index = {f.key: i for i, f in enumerate(futures)}
    out: list = [None] * len(futures)
    for fut, res in as_completed(futures, with_results=True):
        out[index[fut.key]] = res
        fut.release()
    futures.clear()
    return out


def score_records(
    model: str | os.PathLike | LoadedModel,
    records: Sequence[xr.Dataset],
    client,
    *,
    chunk_windows: int | None = None,
    batch_size: int | None = None,
    residuals: bool = False,
    inputs: Sequence[Iterable[str | os.PathLike]] | None = None,
) -> list[xr.Dataset]:
    """Score several station records on a dask cluster; one scores dataset per record.

    Parameters
    ----------
    model
        An artifact folder or a loaded model (used on the CPU of each worker).
    records
        Station records, lazy (:func:`open_record_lazy`) or in memory.
    client
        A ``distributed.Client`` (:func:`get_client`).
    chunk_windows, batch_size, residuals
        As in :func:`geoanom.detector.score.score_record` (the same defaults, the same chunks).
    inputs
        Per record, the files it was read from (checksums go into the provenance).

    Returns
    -------
    list of xarray.Dataset
        Equal to ``score_record(model, record, ...)`` for each record.
    """
    _require_dask()
    import dask
    import torch

    lm = model if isinstance(model, LoadedModel) else load_model(model,
                                                                  device=torch.device("cpu"))
    # the weights travel as a plain payload (an nn.LSTM holds weakrefs and does not pickle)
    payload = {"sha256": lm.weights_sha256, "arch": lm.model.arch_args(),
               "state": {k: v.detach().cpu().clone() for k, v in lm.model.state_dict().items()}}
    [remote_model] = client.scatter([payload], broadcast=True, hash=False)
    inputs = list(inputs) if inputs is not None else [() for _ in records]
    if len(inputs) != len(records):
        raise ValidationError("one list of input files per record expected",
                              expected=str(len(records)), found=str(len(inputs)))
    plans, tasks, digests = [], [], []
    for rec in records:
        plan = plan_scoring(lm, rec, chunk_windows=chunk_windows, batch_size=batch_size)
        plans.append(plan)
        comps = list(plan.components)
        data = [rec[c].data for c in comps]
        flags = [rec[f"{c}_flag"].data if f"{c}_flag" in rec else None for c in comps]
        rec_tasks = []
        for w0, w1, a, b in plan.chunks():
            args = [_slice(d, a, b) for d in data] + [_slice(f, a, b) for f in flags]
            # traverse=False: the slices travel inside the task and are read there
            rec_tasks.append(dask.delayed(_chunk_task, pure=False, traverse=False)(
                remote_model, plan, w1 - w0, residuals, len(comps), args))
        tasks.append(rec_tasks)
        n = plan.n_samples
        digests.append([[dask.delayed(_digest_task, traverse=False)(
            [_slice(d, a, min(n, a + HASH_BLOCK))]) for a in range(0, n, HASH_BLOCK)]
            for d in data])
    flat = [t for rt in tasks for t in rt] + [t for rd in digests for c in rd for t in c]
    done = iter(_collect(client, flat))
    parts = [[next(done) for _ in rt] for rt in tasks]
    blocks = [[[next(done) for _ in c] for c in rd] for rd in digests]
    where = "local" if getattr(client, "cluster", None) is not None else client.scheduler.address
    out = []
    for rec, plan, p, bl, inp in zip(records, plans, parts, blocks, inputs, strict=True):
        out.append(assemble_scores(rec, plan, lm, p, record_sha256=record_checksum(bl),
                                   residuals=residuals, inputs=inp,
                                   scheduler=f"dask.distributed ({where})"))
    return out
