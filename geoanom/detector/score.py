"""Scoring a station record with a trained model, in bounded memory.

:func:`score_record` walks a record of any length in chunks of windows: each chunk is one
slice of the record, scaled with the artifact's scaler (fitted on training data), cut into
windows with ``sliding_window_view`` (a strided view, copied once into the model's batch), and
passed through the model without gradients. Memory is the record itself plus one chunk: a year
of 1-s data is never materialised as windows. The result is a scores dataset (dim ``window``):

``start``, ``end``
    Window start and (exclusive) end, UTC.
``score``
    The anomaly score (here ``rmse``; baselines fill it with theirs, see ``score_kind``).
``rmse``, ``mae``
    Root mean squared and mean absolute reconstruction error over the window's valid samples
    (normalised units: the scaled components).
``err_<comp>``
    RMSE of each component.
``valid_fraction``
    Share of valid samples in the window (all steps and components). A window is scored
    only if it passes the validity rule the training windows passed
    (:func:`geoanom.detector.windows.window_is_valid`: every component at most the model's
    ``max_missing_fraction`` missing); others have NaN scores.

With ``residuals=True`` it adds ``residual_<comp>`` (dim ``time``, in the component's units):
measured minus reconstructed, averaged over the windows covering each sample.

The work is split in three steps that :mod:`geoanom.detector.distributed` reuses to score on a dask
cluster with bitwise-equal results: :func:`plan_scoring` (windows and chunks),
:func:`score_segment` (one chunk's samples in, its per-window errors out) and
:func:`assemble_scores` (the dataset and its provenance).

The record must be preprocessed the way the window set was (same components, cadence, and
filters); only the scaling is applied here.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from geoanom.detector.nn.artifact import LoadedModel, load_model
from geoanom.detector.nn.bilstm import window_errors
from geoanom.detector.preprocess import RobustScaler
from geoanom.detector.windows import (
    sample_valid,
    scale_samples,
    valid_fraction,
    window_grid,
    window_is_valid,
)
from geoanom.errors import ValidationError
from geoanom.provenance import canonical_json, config_hash, file_sha256, provenance

#: Default budget of window-steps per chunk. It bounds the working memory: the LSTM's input
#: projections and outputs take about 2^16 x 8 x hidden x 4 bytes (70 MB at hidden 32).
CHUNK_WINDOW_STEPS = 1 << 16
#: Default windows per forward pass (on 2 CPU cores, batches of about 256 one-hour 1-minute
#: windows were faster than both smaller and larger ones).
BATCH_WINDOWS = 256


def _check_model_fits(lm: LoadedModel, record: xr.Dataset) -> tuple[list[str], RobustScaler]:
    w = lm.meta["windows"]
    period = float(record.attrs.get("sampling_period_s", float("nan")))
    if not np.isclose(period, float(w["sampling_period_s"])):
        raise ValidationError("the record's cadence differs from the model's",
                              expected=f"sampling_period_s = {w['sampling_period_s']:g}",
                              found=f"{period:g}")
    comps = list(w["components"])
    missing = [c for c in comps if c not in record]
    if missing:
        raise ValidationError("the record lacks components the model was trained on",
                              expected=", ".join(comps), found="missing " + ", ".join(missing))
    scaler = RobustScaler.from_dict(lm.meta["scaler"])
    if tuple(scaler.components) and list(scaler.components) != comps:
        raise ValidationError("the model's scaler and window components disagree",
                              expected=", ".join(comps), found=", ".join(scaler.components))
    return comps, scaler


@dataclass(frozen=True)
class ScorePlan:
    """Everything needed to score one record with one model, decided before any data is read.

    Window ``i`` covers samples ``[i * stride, i * stride + length)``. Chunk ``k`` holds
    windows ``[k * chunk_windows, (k + 1) * chunk_windows)`` and is scored in batches of
    ``batch_size`` windows counted from the chunk's first window. The serial path and the dask
    path (:mod:`geoanom.detector.distributed`) walk the same chunk grid through :func:`score_segment`,
    so every forward pass sees the same batch and the scores agree bit for bit.
    """

    components: tuple[str, ...]
    center: tuple[float, ...]
    scale: tuple[float, ...]
    n_samples: int
    n_windows: int
    length: int
    stride: int
    period_s: float
    chunk_windows: int
    batch_size: int
    max_missing_fraction: float | None

    def scaler(self) -> RobustScaler:
        """The model's scaler (fitted on its training split)."""
        return RobustScaler(center=np.asarray(self.center, np.float64),
                            scale=np.asarray(self.scale, np.float64),
                            components=self.components, fitted_on="train")

    def chunks(self) -> list[tuple[int, int, int, int]]:
        """``(w0, w1, a, b)`` per chunk: its windows ``[w0, w1)`` and samples ``[a, b)``."""
        out = []
        for w0 in range(0, self.n_windows, self.chunk_windows):
            w1 = min(self.n_windows, w0 + self.chunk_windows)
            out.append((w0, w1, w0 * self.stride, (w1 - 1) * self.stride + self.length))
        return out


def plan_scoring(lm: LoadedModel, record: xr.Dataset, *, chunk_windows: int | None = None,
                 batch_size: int | None = None) -> ScorePlan:
    """Check that ``record`` fits the model and lay out its windows and chunks.

    Only the record's attrs, component names and length are read (a lazy record stays lazy).
    """
    comps, scaler = _check_model_fits(lm, record)
    w = lm.meta["windows"]
    grid = window_grid(int(record.sizes["time"]),
                       float(record.attrs.get("sampling_period_s", float("nan"))),
                       float(w["window_length_s"]), float(w["stride_s"]))
    n_windows, L, S, period = grid.n_windows, grid.length, grid.stride, grid.period_s
    if L != int(w.get("n_steps", L)):
        raise ValidationError("window length in samples disagrees with the model",
                              expected=str(w.get("n_steps")), found=str(L))
    cw = int(chunk_windows) if chunk_windows else max(1, CHUNK_WINDOW_STEPS // L)
    bs = int(batch_size) if batch_size else min(cw, BATCH_WINDOWS)
    if cw < 1 or bs < 1:
        raise ValidationError("chunk_windows and batch_size must be >= 1",
                              found=f"{cw}, {bs}")
    return ScorePlan(tuple(comps), tuple(float(c) for c in scaler.center),
                     tuple(float(c) for c in scaler.scale), int(record.sizes["time"]),
                     n_windows, L, S, period, cw, bs, model_max_missing_fraction(lm.meta))


def model_max_missing_fraction(meta: dict) -> float | None:
    """The ``max_missing_fraction`` of the window set a model was trained on (from
    ``model.json``: the window config, else ``1 - min_valid_fraction`` of older artifacts);
    None when the model records neither (every window is then scored)."""
    w = meta.get("windows") or {}
    mmf = (w.get("config") or {}).get("max_missing_fraction")
    if mmf is None and w.get("min_valid_fraction") is not None:
        mmf = 1.0 - float(w["min_valid_fraction"])
    return None if mmf is None else float(mmf)


def segment_arrays(record: xr.Dataset, components: Iterable[str], a: int,
                   b: int) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``[a, b)`` of ``record``: values ``(b - a, C)`` float64 (nT or arcmin, as
    stored) and validity ``(b - a, C)`` (finite and flag 0). Reads only that slice."""
    comps = list(components)
    vals = np.empty((b - a, len(comps)), np.float64)
    ok = np.empty((b - a, len(comps)), bool)
    for j, c in enumerate(comps):
        v = np.asarray(record[c].isel(time=slice(a, b)).values, np.float64)
        vals[:, j] = v
        flag = f"{c}_flag"
        ok[:, j] = sample_valid(v, np.asarray(record[flag].isel(time=slice(a, b)).values)
                                if flag in record else None)
    return vals, ok


def score_segment(model: torch.nn.Module, vals: np.ndarray, ok: np.ndarray, plan: ScorePlan,
                  n_windows: int, *, residuals: bool = False,
                  device: torch.device | str = "cpu") -> dict[str, np.ndarray]:
    """Score the ``n_windows`` windows of one chunk, given its samples.

    Parameters
    ----------
    model
        The autoencoder, in eval mode, on ``device``.
    vals, ok
        From :func:`segment_arrays`: the chunk's samples ``[a, b)`` and their validity.
    plan
        The layout (:func:`plan_scoring`); windows start every ``plan.stride`` samples.
    n_windows
        Windows in this chunk.
    residuals
        Also return the chunk's residual sums and counts (float32 and uint16, ``(b - a, C)``,
        normalised units).

    Returns
    -------
    dict
        ``rmse``, ``mae`` ``(n_windows,)`` and ``err`` ``(n_windows, C)``, float64, and
        ``n_valid`` ``(n_windows, C)``, the valid samples per window and component (before
        the validity rule is applied); ``r_sum``, ``r_cnt`` with ``residuals``.
    """
    L, S, C, bs = plan.length, plan.stride, len(plan.components), plan.batch_size
    seg = scale_samples(vals, ok, plan.scaler())
    rmse = np.empty(n_windows, np.float64)
    mae = np.empty(n_windows, np.float64)
    err = np.empty((n_windows, C), np.float64)
    n_valid = np.empty((n_windows, C), np.int64)
    out = {"rmse": rmse, "mae": mae, "err": err, "n_valid": n_valid}
    if residuals:
        r_sum = np.zeros(seg.shape, np.float32)
        r_cnt = np.zeros(seg.shape, np.uint16)
        out.update(r_sum=r_sum, r_cnt=r_cnt)
    # (n_win, C, L) strided views -> (n_win, L, C), copied once into the batch; writeable:
    # the arrays are ours, and torch refuses read-only ones (with a warning)
    xw = np.lib.stride_tricks.sliding_window_view(seg, L, axis=0, writeable=True)[::S]
    vw = np.lib.stride_tricks.sliding_window_view(ok, L, axis=0, writeable=True)[::S]
    dev = torch.device(device)
    # one pre-allocated, contiguous batch buffer: no per-batch allocation of the input
    xbuf = torch.empty((min(bs, n_windows), L, C), dtype=torch.float32)
    vbuf = torch.empty((min(bs, n_windows), L, C), dtype=torch.bool)
    with torch.inference_mode():
        for i0 in range(0, n_windows, bs):
            i1 = min(n_windows, i0 + bs)
            k = i1 - i0
            x, v = xbuf[:k], vbuf[:k]
            x.numpy()[...] = xw[i0:i1].transpose(0, 2, 1)
            v.numpy()[...] = vw[i0:i1].transpose(0, 2, 1)
            if dev.type != "cpu":
                x, v = x.to(dev), v.to(dev)
            x_hat = model(x, v)
            e, e_comp = window_errors(x, x_hat, v)
            cnt = v.sum(dim=(1, 2))
            diff = x_hat - x
            ab = (diff.abs() * v).sum(dim=(1, 2)) / cnt.clamp(min=1)
            rmse[i0:i1] = torch.sqrt(e).double().cpu().numpy()
            mae[i0:i1] = torch.where(cnt > 0, ab, torch.nan).double().cpu().numpy()
            err[i0:i1] = torch.sqrt(e_comp).double().cpu().numpy()
            n_valid[i0:i1] = v.sum(dim=1).cpu().numpy()
            if residuals:
                res = (-diff * v).cpu().numpy()
                vv = v.cpu().numpy()
                for j in range(k):
                    s0 = (i0 + j) * S
                    r_sum[s0:s0 + L] += res[j]
                    r_cnt[s0:s0 + L] += vv[j]
    return out


def assemble_scores(record: xr.Dataset, plan: ScorePlan, lm: LoadedModel,
                    parts: Iterable[dict[str, np.ndarray]], *, record_sha256: str,
                    residuals: bool = False,
                    inputs: Iterable[str | os.PathLike] = (),
                    scheduler: str | None = None) -> xr.Dataset:
    """The scores dataset from the per-chunk results of :func:`score_segment`, in chunk order.

    ``record_sha256`` is :func:`record_checksum` of the scored components; ``scheduler``
    (None for the serial path) is recorded in the provenance next to the options.
    """
    n, n_windows, L, S, C = (plan.n_samples, plan.n_windows, plan.length, plan.stride,
                             len(plan.components))
    rmse = np.full(n_windows, np.nan, np.float64)
    mae = np.full(n_windows, np.nan, np.float64)
    err = np.full((n_windows, C), np.nan, np.float64)
    n_valid = np.zeros((n_windows, C), np.int64)
    if residuals:
        r_sum = np.zeros((n, C), np.float32)
        r_cnt = np.zeros((n, C), np.uint16)
    chunks = plan.chunks()
    parts = list(parts)
    if len(parts) != len(chunks):
        raise ValidationError("one result per chunk expected", expected=str(len(chunks)),
                              found=str(len(parts)))
    for (w0, w1, a, b), p in zip(chunks, parts, strict=True):
        rmse[w0:w1], mae[w0:w1] = p["rmse"], p["mae"]
        err[w0:w1], n_valid[w0:w1] = p["err"], p["n_valid"]
        if residuals:
            # chunk by chunk, in order: the serial and the dask paths add in the same order
            r_sum[a:b] += p["r_sum"]
            r_cnt[a:b] += p["r_cnt"]
    vfrac = valid_fraction(n_valid, L)
    # THE validity rule of the training windows: a window the model could not have been
    # trained on (a component missing more than max_missing_fraction) is not scored
    low = ~window_is_valid(n_valid, L, plan.max_missing_fraction)
    if low.any():
        rmse[low] = np.nan
        mae[low] = np.nan
        err[low] = np.nan

    period = plan.period_s
    t0 = (np.asarray(record["time"].isel(time=0).values, dtype="datetime64[ns]")
        if n else np.datetime64("NaT", "ns"))
    period_ns = int(round(period * 1e9))
    start = t0 + (np.arange(n_windows, dtype=np.int64) * S * period_ns).astype("timedelta64[ns]")
    end = start + np.timedelta64(L * period_ns, "ns")
    data_vars = {
        "start": ("window", start, {"long_name": "window start (UTC)"}),
        "end": ("window", end, {"long_name": "window end, exclusive (UTC)"}),
        "score": ("window", rmse.copy(), {"long_name": "anomaly score (rmse)", "units": "1"}),
        "rmse": ("window", rmse, {"long_name": "root mean squared reconstruction error "
                                                "over valid samples", "units": "1",
                                   "comment": "normalised units (robust-scaled components)"}),
        "mae": ("window", mae, {"long_name": "mean absolute reconstruction error",
                                 "units": "1"}),
        "valid_fraction": ("window", vfrac, {"long_name": "share of valid samples",
                                             "units": "1"}),
    }
    for j, c in enumerate(plan.components):
        data_vars[f"err_{c}"] = ("window", err[:, j],
                                 {"long_name": f"reconstruction RMSE of {c}", "units": "1"})
    sp = window_splits(start, end, lm.meta.get("split_periods"))
    if sp is not None:
        data_vars["split"] = ("window", sp, {
            "long_name": "the model's data split this window lies in",
            "comment": "train / val / test periods from model.json split_periods; test "
                       "extends to every window starting at or after the first test window; "
                       "'gap' elsewhere (embargo, or before the training data)"})
    ds = xr.Dataset(data_vars, coords={"window": np.arange(n_windows)})
    if residuals:
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_res = r_sum / r_cnt
        mean_res[r_cnt == 0] = np.nan
        ds = ds.assign_coords(time=("time", np.asarray(record["time"].values,
                                                       dtype="datetime64[ns]")))
        for j, c in enumerate(plan.components):
            units = record[c].attrs.get("units", "nT")
            ds[f"residual_{c}"] = ("time", mean_res[:, j] * np.float32(plan.scale[j]),
                                   {"long_name": f"measured minus reconstructed {c}, mean over "
                                                 "covering windows", "units": units})
    w = lm.meta["windows"]
    options = {"chunk_windows": plan.chunk_windows, "residuals": bool(residuals)}
    if scheduler is not None:
        options["scheduler"] = scheduler
    cfg = {
        "scorer": "geoanom.detector.score.score_record",
        "model": {"path": str(lm.path), "weights_sha256": lm.weights_sha256,
                  "training_config_hash": config_hash(lm.meta.get("training")),
                  "geoanom_version": lm.meta.get("geoanom_version")},
        # "config": the model's window config (label rule included), read by geoanom test
        "windows": {k: w[k] for k in ("window_length_s", "stride_s", "sampling_period_s",
                                      "components", "min_valid_fraction", "config") if k in w}
        | {"max_missing_fraction": plan.max_missing_fraction,
           "validity_rule": "geoanom.detector.windows.window_is_valid"},
        "options": options,
        "record": {"components_sha256": record_sha256, "n_samples": n,
                   "history": str(record.attrs.get("history", ""))},
        "inputs": {str(p): file_sha256(p) for p in inputs if Path(p).is_file()},
    }
    train_seed = (lm.meta.get("training") or {}).get("seed")
    ds.attrs = score_attrs(record, window_length_s=L * period, stride_s=S * period,
                            period=period, kind="autoencoder_rmse",
                            prov=provenance(config=cfg, seeds={"train": train_seed}
                                            if train_seed is not None else None))
    ds.attrs["model_weights_sha256"] = lm.weights_sha256
    return ds


def window_splits(start: np.ndarray, end: np.ndarray, periods: dict | None) -> np.ndarray | None:
    """Which of the model's splits each scored window lies in, from ``split_periods``.

    A window is ``train`` or ``val`` when it lies inside that split's period (first start to
    last end), ``test`` when it starts at or after the first test window or after the end of
    every window the model was built from (the future the model never saw: a later record
    is all test), and ``gap`` otherwise. None when the model carries no periods (older
    artifacts), so the test falls back to the protocol's test fraction.
    """
    if not periods:
        return None
    out = np.full(start.shape, "gap", dtype=object)
    seen_end = max(np.datetime64(p["last_end"], "ns") for p in periods.values())
    out[start >= seen_end] = "test"
    for name in ("train", "val"):
        p = periods.get(name)
        if p:
            a = np.datetime64(p["first_start"], "ns")
            b = np.datetime64(p["last_end"], "ns")
            out[(start >= a) & (end <= b)] = name
    p = periods.get("test")
    if p:
        out[start >= np.datetime64(p["first_start"], "ns")] = "test"
    return out


#: Samples per block of the record checksum (see :func:`component_digests`).
HASH_BLOCK = 1 << 20


def block_digest(values: np.ndarray) -> bytes:
    """SHA-256 digest of one block of a component (its float64 values, native byte order)."""
    return hashlib.sha256(np.ascontiguousarray(values, np.float64).tobytes()).digest()


def record_checksum(block_digests: Iterable[Iterable[bytes]]) -> str:
    """The record checksum from each component's block digests (:func:`block_digest` of
    samples ``[0, HASH_BLOCK)``, ``[HASH_BLOCK, 2 HASH_BLOCK)``, ...), components in order.

    A two-level hash, so that blocks can be hashed in parallel and the serial and the dask
    paths record the same value.
    """
    top = hashlib.sha256()
    for comp in block_digests:
        top.update(hashlib.sha256(b"".join(comp)).digest())
    return top.hexdigest()


def component_digests(record: xr.Dataset, components: Iterable[str]) -> list[list[bytes]]:
    """Block digests of each component of ``record``, read one block at a time (a lazy record
    is never loaded whole)."""
    n = int(record.sizes["time"])
    return [[block_digest(np.asarray(record[c].isel(time=slice(a, min(n, a + HASH_BLOCK)))
                                     .values, np.float64))
             for a in range(0, n, HASH_BLOCK)] for c in components]


def score_record(
    model: str | os.PathLike | LoadedModel,
    record: xr.Dataset,
    *,
    chunk_windows: int | None = None,
    batch_size: int | None = None,
    residuals: bool = False,
    device: str | torch.device | None = None,
    inputs: Iterable[str | os.PathLike] = (),
    progress: bool | None = None,
) -> xr.Dataset:
    """Score every window of ``record`` with a trained model.

    Parameters
    ----------
    model
        An artifact folder or a :class:`~geoanom.detector.nn.artifact.LoadedModel`.
    record
        A station record (dim ``time``) at the model's cadence, with its components; it may
        be lazy (opened with dask chunks): one chunk's slice is read at a time.
    chunk_windows
        Windows per chunk; ``None``: about 2^16 window-steps per chunk.
    batch_size
        Windows per forward pass (default: 256 or the chunk, whichever is smaller).
    residuals
        Also return the residual series (dim ``time``; memory grows with the record).
    device
        For a model folder: where to load it (``None``: ``cuda`` when available, else CPU).
        A LoadedModel is used on its own device.
    inputs
        Files the record was read from (their checksums go into the provenance).
    progress
        A bar of windows scored on stderr: None draws it on a terminal (not after
        ``geoanom -q``), False never.

    Returns
    -------
    xarray.Dataset
        The scores (see the module docstring), attrs with the station, window geometry,
        ``score_kind`` and ``geoanom_provenance`` (JSON: model hash, configuration, versions,
        input checksums).

    See Also
    --------
    geoanom.detector.distributed.score_records : the same scores, computed on a dask cluster.
    """
    from geoanom.detector.nn.train import resolve_device

    if isinstance(model, LoadedModel):
        lm = model
    else:
        lm = load_model(model, device=resolve_device(device))
    plan = plan_scoring(lm, record, chunk_windows=chunk_windows, batch_size=batch_size)
    model_ = lm.model.eval()
    from geoanom._progress import Progress

    parts = []
    with Progress(plan.n_windows, "scoring windows", progress) as bar:
        for w0, w1, a, b in plan.chunks():
            vals, ok = segment_arrays(record, plan.components, a, b)
            parts.append(score_segment(model_, vals, ok, plan, w1 - w0, residuals=residuals,
                                       device=lm.device))
            bar.update(w1 - w0)
    return assemble_scores(record, plan, lm, parts,
                           record_sha256=record_checksum(component_digests(record,
                                                                           plan.components)),
                           residuals=residuals, inputs=inputs)


def score_attrs(record: xr.Dataset, *, window_length_s: float, stride_s: float,
                 period: float, kind: str, prov: dict) -> dict:
    """The global attrs every scores dataset carries (station, geometry, provenance)."""
    a = record.attrs
    return {
        "iaga_code": str(a.get("iaga_code", "UNK")),
        "latitude_deg": float(a.get("latitude_deg", float("nan"))),
        "longitude_deg": float(a.get("longitude_deg", float("nan"))),
        "sampling_period_s": float(period),
        "window_length_s": float(window_length_s),
        "stride_s": float(stride_s),
        "score_kind": kind,
        "Conventions": "CF-1.8",
        "geoanom_provenance": canonical_json(prov),
    }


def write_scores(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write a scores dataset as CF netCDF4, atomically, keeping its provenance.

    Parameters
    ----------
    ds
        From :func:`score_record` or a baseline in :mod:`geoanom.detector.baselines`.
    path
        Output ``.nc`` file (written to a temporary name and renamed).
    """
    from geoanom.io.netcdf import write_dataset_netcdf

    prov = json.loads(ds.attrs.get("geoanom_provenance", "{}") or "{}")
    # write_dataset_netcdf writes a fresh provenance block: carry the scorer's config (model
    # hash, window geometry, input checksums) and seeds into it.
    return write_dataset_netcdf(ds, path, config=prov.get("config"), seeds=prov.get("seeds"))


def read_scores(path: str | os.PathLike) -> xr.Dataset:
    """Read a scores file written by :func:`write_scores` (loaded into memory)."""
    p = Path(path)
    if not p.is_file():
        raise ValidationError("scores file not found", path=p)
    try:
        ds = xr.load_dataset(p, engine="netcdf4")
    except (OSError, ValueError) as exc:
        raise ValidationError("not a readable netCDF scores file", path=p,
                              found=str(exc)) from None
    for need in ("start", "end", "score"):
        if need not in ds:
            raise ValidationError("not a geoanom scores file", path=p,
                                  expected=f"variable {need!r}", found=str(list(ds.data_vars)))
    return ds
