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
    Share of valid samples in the window; windows below the artifact's minimum are not
    scored (NaN).

With ``residuals=True`` it adds ``residual_<comp>`` (dim ``time``, in the component's units):
measured minus reconstructed, averaged over the windows covering each sample.

The record must be preprocessed the way the window set was (same components, cadence, and
filters); only the scaling is applied here.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from geoanom.errors import ValidationError
from geoanom.nn.artifact import LoadedModel, load_model
from geoanom.nn.bilstm import window_errors
from geoanom.preprocess import RobustScaler
from geoanom.provenance import canonical_json, config_hash, file_sha256, provenance

#: Default budget of window-steps per chunk. It bounds the working memory: the LSTM's input
#: projections and outputs take about 2^16 x 8 x hidden x 4 bytes (70 MB at hidden 32).
CHUNK_WINDOW_STEPS = 1 << 16
#: Default windows per forward pass (on 2 CPU cores, batches of about 256 one-hour 1-minute
#: windows were faster than both smaller and larger ones).
BATCH_WINDOWS = 256


def _flag_ok(record: xr.Dataset, comp: str, a: int, b: int, vals: np.ndarray) -> np.ndarray:
    ok = np.isfinite(vals)
    flag = f"{comp}_flag"
    if flag in record:
        ok &= np.asarray(record[flag].isel(time=slice(a, b)).values) == 0
    return ok


def window_grid(record: xr.Dataset, window_length_s: float,
                stride_s: float) -> tuple[int, int, int, float]:
    """Window positions of a record: ``(n_windows, length, stride, period_s)`` in samples.

    Windows start at the first sample and every ``stride`` samples after it, and must fit
    entirely in the record.
    """
    period = float(record.attrs.get("sampling_period_s", float("nan")))
    if not np.isfinite(period) or period <= 0:
        raise ValidationError("record has no valid sampling_period_s attr",
                              found=str(record.attrs.get("sampling_period_s")))
    L = int(round(window_length_s / period))
    S = int(round(stride_s / period))
    if L < 1 or S < 1 or abs(L * period - window_length_s) > 1e-6 * window_length_s:
        raise ValidationError("window length is not a whole number of samples of this record",
                              expected=f"a multiple of {period:g} s",
                              found=f"{window_length_s:g} s")
    n = int(record.sizes["time"])
    n_windows = 0 if n < L else (n - L) // S + 1
    return n_windows, L, S, period


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


def score_record(
    model: str | os.PathLike | LoadedModel,
    record: xr.Dataset,
    *,
    chunk_windows: int | None = None,
    batch_size: int | None = None,
    residuals: bool = False,
    device: str | torch.device | None = None,
    inputs: Iterable[str | os.PathLike] = (),
) -> xr.Dataset:
    """Score every window of ``record`` with a trained model.

    Parameters
    ----------
    model
        An artifact folder or a :class:`~geoanom.nn.artifact.LoadedModel`.
    record
        A station record (dim ``time``) at the model's cadence, with its components.
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

    Returns
    -------
    xarray.Dataset
        The scores (see the module docstring), attrs with the station, window geometry,
        ``score_kind`` and ``geoanom_provenance`` (JSON: model hash, configuration, versions,
        input checksums).
    """
    from geoanom.nn.train import resolve_device

    if isinstance(model, LoadedModel):
        lm = model
    else:
        lm = load_model(model, device=resolve_device(device))
    dev = lm.device
    comps, scaler = _check_model_fits(lm, record)
    w = lm.meta["windows"]
    n_windows, L, S, period = window_grid(record, float(w["window_length_s"]),
                                          float(w["stride_s"]))
    if L != int(w.get("n_steps", L)):
        raise ValidationError("window length in samples disagrees with the model",
                              expected=str(w.get("n_steps")), found=str(L))
    C = len(comps)
    n = int(record.sizes["time"])
    cw = int(chunk_windows) if chunk_windows else max(1, CHUNK_WINDOW_STEPS // L)
    bs = int(batch_size) if batch_size else min(cw, BATCH_WINDOWS)
    min_vf = w.get("min_valid_fraction")
    center = np.asarray(scaler.center, np.float64)
    scale = np.asarray(scaler.scale, np.float64)

    rmse = np.full(n_windows, np.nan, np.float64)
    mae = np.full(n_windows, np.nan, np.float64)
    err = np.full((n_windows, C), np.nan, np.float64)
    vfrac = np.zeros(n_windows, np.float64)
    if residuals:
        r_sum = np.zeros((n, C), np.float32)
        r_cnt = np.zeros((n, C), np.uint16)
    hashers = [hashlib.sha256() for _ in comps]
    hashed = 0
    model_ = lm.model.eval()
    with torch.no_grad():
        for w0 in range(0, n_windows, cw):
            w1 = min(n_windows, w0 + cw)
            a, b = w0 * S, (w1 - 1) * S + L
            seg = np.empty((b - a, C), np.float32)
            vseg = np.empty((b - a, C), bool)
            for j, c in enumerate(comps):
                vals = np.asarray(record[c].isel(time=slice(a, b)).values, np.float64)
                if b > hashed:
                    hashers[j].update(np.ascontiguousarray(vals[hashed - a:]).tobytes())
                ok = _flag_ok(record, c, a, b, vals)
                vseg[:, j] = ok
                seg[:, j] = np.where(ok, (vals - center[j]) / scale[j], 0.0)
            hashed = max(hashed, b)
            # (n_win, C, L) strided views -> (n_win, L, C), copied once into the batch
            # writeable: seg/vseg are ours, and torch refuses read-only arrays (with a warning)
            xw = np.lib.stride_tricks.sliding_window_view(seg, L, axis=0, writeable=True)[::S]
            vw = np.lib.stride_tricks.sliding_window_view(vseg, L, axis=0, writeable=True)[::S]
            for i0 in range(0, w1 - w0, bs):
                i1 = min(w1 - w0, i0 + bs)
                x = torch.from_numpy(np.ascontiguousarray(xw[i0:i1].transpose(0, 2, 1)))
                v = torch.from_numpy(np.ascontiguousarray(vw[i0:i1].transpose(0, 2, 1)))
                x, v = x.to(dev), v.to(dev)
                x_hat = model_(x, v)
                e, e_comp = window_errors(x, x_hat, v)
                vf = v.sum(dim=(1, 2)).double() / (L * C)
                cnt = v.float().sum(dim=(1, 2)).clamp(min=1)
                ab = ((x_hat - x).abs() * v).sum(dim=(1, 2)) / cnt
                sl = slice(w0 + i0, w0 + i1)
                rmse[sl] = torch.sqrt(e).double().cpu().numpy()
                mae[sl] = torch.where(v.any(dim=2).any(dim=1), ab, torch.nan).double().cpu().numpy()
                err[sl] = torch.sqrt(e_comp).double().cpu().numpy()
                vfrac[sl] = vf.double().cpu().numpy()
                if residuals:
                    res = ((x - x_hat) * v).cpu().numpy()
                    vv = v.cpu().numpy()
                    for k in range(i1 - i0):
                        s0 = (w0 + i0 + k) * S
                        r_sum[s0:s0 + L] += res[k]
                        r_cnt[s0:s0 + L] += vv[k]
    if hashed < n:
        for j, c in enumerate(comps):
            hashers[j].update(np.ascontiguousarray(
                np.asarray(record[c].isel(time=slice(hashed, n)).values, np.float64)).tobytes())
    if min_vf is not None:
        low = vfrac < float(min_vf)
        rmse[low] = np.nan
        mae[low] = np.nan
        err[low] = np.nan

    t0 = np.asarray(record["time"].isel(time=0).values, dtype="datetime64[ns]") \
        if n else np.datetime64("NaT", "ns")
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
    for j, c in enumerate(comps):
        data_vars[f"err_{c}"] = ("window", err[:, j],
                                 {"long_name": f"reconstruction RMSE of {c}", "units": "1"})
    ds = xr.Dataset(data_vars, coords={"window": np.arange(n_windows)})
    if residuals:
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_res = r_sum / r_cnt
        mean_res[r_cnt == 0] = np.nan
        ds = ds.assign_coords(time=("time", np.asarray(record["time"].values,
                                                       dtype="datetime64[ns]")))
        for j, c in enumerate(comps):
            units = record[c].attrs.get("units", "nT")
            ds[f"residual_{c}"] = ("time", mean_res[:, j] * np.float32(scale[j]),
                                   {"long_name": f"measured minus reconstructed {c}, mean over "
                                                 "covering windows", "units": units})
    record_sha = hashlib.sha256("".join(h.hexdigest() for h in hashers).encode()).hexdigest()
    cfg = {
        "scorer": "geoanom.score.score_record",
        "model": {"path": str(lm.path), "weights_sha256": lm.weights_sha256,
                  "training_config_hash": config_hash(lm.meta.get("training")),
                  "geoanom_version": lm.meta.get("geoanom_version")},
        "windows": {k: w[k] for k in ("window_length_s", "stride_s", "sampling_period_s",
                                      "components", "min_valid_fraction") if k in w},
        "options": {"chunk_windows": cw, "residuals": bool(residuals)},
        "record": {"components_sha256": record_sha, "n_samples": n,
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
        From :func:`score_record` or a baseline in :mod:`geoanom.baselines`.
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
