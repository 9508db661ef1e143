"""Throughput and memory of the detector. Prints one JSON line per figure.

    python bench/bench_nn.py [--threads 2] [--days-1s 365] [--skip-1s]

* ``train_windows_per_s``: training throughput (forward + backward + step), default model
  (hidden 32, latent 16), 1-hour windows of 1-minute data, 3 components, batch 64;
* ``score_samples_per_s``: :func:`geoanom.detector.score.score_record` over a year of 1-minute,
  4-component data (1-hour windows, stride 1 hour);
* ``ratio_vs_bare_forward``: bare ``model(x, valid)`` + errors over the same windows, pre-built
  as one tensor and fed in the same batch size, divided by score_record's time (target >= 0.75);
* ``ratio_vs_one_window_loop``: one window per forward call (timed on a subset and scaled),
  divided by score_record's time (target >= 20);
* ``peak_rss_1s_in_memory`` / ``peak_rss_1s_lazy_file``: peak resident memory while scoring
  ``--days-1s`` days of 1-second 4-component data in a child process (VmHWM reset after the
  record is built or opened, so it is the scoring peak, including the process's baseline and
  whatever of the record is resident), for a record held in memory and for one opened lazily
  from netCDF (xarray, no dask), plus the record's own size (target <= 1.5 GB for a year).

The records here are random walks plus noise (scoring cost does not depend on content), built
directly in their final float64 arrays so that building does not double the footprint.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from geoanom.detector.nn.artifact import load_model, save_model
from geoanom.detector.nn.bilstm import BiLSTMAutoencoder, window_errors
from geoanom.detector.preprocess import RobustScaler


def emit(**kw) -> None:
    print(json.dumps(kw), flush=True)


def random_record(n: int, period_s: float, comps=("X", "Y", "Z", "F"), seed: int = 0):
    """A record of ``n`` samples, arrays made in place (no temporary copies of the record)."""
    rng = np.random.default_rng(seed)
    t = np.datetime64("2020-01-01", "ns") + np.arange(n, dtype=np.int64) * \
        np.timedelta64(int(period_s * 1e9), "ns")
    data_vars = {}
    for i, c in enumerate(comps):
        v = rng.standard_normal(n)
        np.cumsum(v, out=v)
        v *= 0.05
        v += 20000.0 + 1000 * i
        data_vars[c] = xr.Variable(("time",), v, {"units": "nT",
                                                  "ancillary_variables": f"{c}_flag"})
        data_vars[f"{c}_flag"] = xr.Variable(("time",), np.zeros(n, np.int8))
    ds = xr.Dataset(data_vars, coords={"time": t})
    ds.attrs = {"iaga_code": "BEN", "latitude_deg": 40.0, "longitude_deg": 20.0,
                "sampling_period_s": float(period_s), "history": ""}
    return ds


def make_artifact(directory: Path, comps, period_s: float, length: int, stride: int,
                  hidden: int = 32, latent: int = 16) -> Path:
    torch.manual_seed(0)
    m = BiLSTMAutoencoder(len(comps), hidden_size=hidden, latent_size=latent)
    sc = RobustScaler(center=np.array([20000.0 + 1000 * i for i in range(len(comps))]),
                      scale=np.full(len(comps), 10.0), components=tuple(comps),
                      fitted_on="train")
    meta = {"scaler": sc.to_dict(), "training": {"seed": 0},
            "windows": {"components": list(comps), "sampling_period_s": period_s,
                        "window_length_s": length * period_s, "stride_s": stride * period_s,
                        "n_steps": length, "min_valid_fraction": 0.9}}
    return save_model(directory, m, meta)


def bench_train(threads: int) -> None:
    from geoanom.detector.nn.losses import NegativeLearningLoss

    torch.manual_seed(0)
    n, T, C, bs = 2048, 60, 3, 64
    x = torch.randn(n, T, C)
    v = torch.ones(n, T, C, dtype=torch.bool)
    y = torch.from_numpy(np.tile([0, 1], n // 2))
    m = BiLSTMAutoencoder(C, hidden_size=32, latent_size=16)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    loss_fn = NegativeLearningLoss("hinge", 1.0, 0)
    t0 = time.perf_counter()
    for i in range(0, n, bs):
        xb, vb, yb = x[i:i + bs], v[i:i + bs], y[i:i + bs]
        e, _ = window_errors(xb, m(xb, vb), vb)
        loss, _ = loss_fn(e, yb, 1)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
    dt = time.perf_counter() - t0
    emit(figure="train_windows_per_s", value=round(n / dt, 1), windows=n, steps=T,
         components=C, batch=bs, hidden=32, threads=threads)


def bench_score_1min(tmp: Path, threads: int) -> None:
    from geoanom.detector.score import score_record

    period, L, S = 60.0, 60, 60
    comps = ("X", "Y", "Z", "F")
    n = 365 * 1440
    rec = random_record(n, period, comps)
    mdir = make_artifact(tmp / "m1", comps, period, L, S)
    lm = load_model(mdir)
    score_record(lm, rec.isel(time=slice(0, 5000)))  # warm-up
    t0 = time.perf_counter()
    ds = score_record(lm, rec)
    t_score = time.perf_counter() - t0
    n_win = ds.sizes["window"]
    from geoanom.detector.score import BATCH_WINDOWS, CHUNK_WINDOW_STEPS

    cw = min(max(1, CHUNK_WINDOW_STEPS // L), BATCH_WINDOWS)  # score_record's batch size
    emit(figure="score_samples_per_s", value=round(n / t_score, 0), seconds=round(t_score, 3),
         samples=n, windows=n_win, components=len(comps), window_steps=L, stride_steps=S,
         batch_windows=cw, threads=threads)

    # the same windows as one pre-built, pre-scaled tensor
    sc = RobustScaler.from_dict(lm.meta["scaler"])
    arr = np.stack([rec[c].values for c in comps], axis=1)
    z = sc.transform(arr).astype(np.float32)[: n_win * S].reshape(n_win, L, len(comps))
    x = torch.from_numpy(np.ascontiguousarray(z))
    v = torch.ones_like(x, dtype=torch.bool)
    with torch.inference_mode():
        t0 = time.perf_counter()
        for i in range(0, n_win, cw):
            xb, vb = x[i:i + cw], v[i:i + cw]
            e, ec = window_errors(xb, lm.model(xb, vb), vb)
        t_bare = time.perf_counter() - t0
        k = min(300, n_win)
        t0 = time.perf_counter()
        for i in range(k):
            xb, vb = x[i:i + 1], v[i:i + 1]
            e, ec = window_errors(xb, lm.model(xb, vb), vb)
        t_loop = (time.perf_counter() - t0) / k * n_win
    emit(figure="ratio_vs_bare_forward", value=round(t_bare / t_score, 3),
         bare_seconds=round(t_bare, 3), score_seconds=round(t_score, 3), target=">= 0.75")
    emit(figure="ratio_vs_one_window_loop", value=round(t_loop / t_score, 1),
         loop_seconds_extrapolated=round(t_loop, 2), loop_windows_timed=k,
         score_seconds=round(t_score, 3), target=">= 20")
    bench_batch_curve(lm, x, v, t_loop / n_win)
    bench_profile(lm, rec.isel(time=slice(0, 30 * 1440)))


def bench_batch_curve(lm, x, v, loop_per_window: float) -> None:
    """Per-window cost of the bare forward against the batch size: the best batch bounds
    what any batched scorer can gain over the one-window loop on this machine."""
    best = float("inf")
    curve = {}
    with torch.inference_mode():
        for b in (1, 4, 16, 64, 256, 1024, 4096):
            if b > x.shape[0]:
                break
            xb, vb = x[:b], v[:b]
            lm.model(xb, vb)
            reps = max(1, 2048 // b)
            t0 = time.perf_counter()
            for _ in range(reps):
                window_errors(xb, lm.model(xb, vb), vb)
            per = (time.perf_counter() - t0) / (reps * b)
            curve[str(b)] = round(per * 1e6, 1)
            best = min(best, per)
    emit(figure="bare_forward_us_per_window_by_batch", value=curve,
         loop_us_per_window=round(loop_per_window * 1e6, 1),
         ceiling_ratio_loop_over_best_batch=round(loop_per_window / best, 1),
         note="no batched scorer over this model can beat the loop by more than the ceiling")


def bench_profile(lm, rec) -> None:
    """Where score_record spends its time (torch profiler, self CPU time by operator)."""
    from torch.profiler import ProfilerActivity, profile

    from geoanom.detector.score import score_record

    score_record(lm, rec.isel(time=slice(0, 2000)))
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        score_record(lm, rec)
        wall = time.perf_counter() - t0
    ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in ops)
    top = {e.key: round(e.self_cpu_time_total / total, 3) for e in ops[:6]}
    emit(figure="score_profile_self_cpu_share", value=top, wall_seconds=round(wall, 2),
         samples=int(rec.sizes["time"]), note="share of profiled operator time")


_CHILD = """
import json, sys, time, resource
sys.path.insert(0, {here!r})
import torch
torch.set_num_threads({threads})
from bench_nn import random_record
from geoanom.detector.nn.artifact import load_model
from geoanom.detector.score import score_record

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024
    return -1

n = int({days} * 86400)
if {path!r}:
    import xarray as xr
    rec = xr.open_dataset({path!r})  # lazy: score_record reads one slice per chunk
    rec_bytes = int(sum(rec[v].nbytes for v in rec.variables))
else:
    rec = random_record(n, 1.0)
    rec_bytes = int(sum(rec[v].nbytes for v in rec.variables))
time_bytes = int(rec["time"].nbytes)
lm = load_model({mdir!r})
before = hwm()
cleared = True
try:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
except OSError:
    cleared = False
t0 = time.perf_counter()
ds = score_record(lm, rec)
dt = time.perf_counter() - t0
print(json.dumps({{"peak_rss_bytes": hwm(), "time_bytes": time_bytes, "peak_before_scoring_bytes": before,
                  "hwm_reset": cleared, "record_bytes": rec_bytes, "samples": n,
                  "windows": int(ds.sizes["window"]), "seconds": dt}}))
"""


_WRITE = """
import sys
sys.path.insert(0, {here!r})
from bench_nn import random_record
random_record(int({days} * 86400), 1.0).to_netcdf({path!r})
"""


def bench_memory_1s(tmp: Path, threads: int, days: float, lazy: bool) -> None:
    comps = ("X", "Y", "Z", "F")
    mdir = make_artifact(tmp / "m1s", comps, 1.0, 3600, 3600)
    here = str(Path(__file__).resolve().parent)
    path = ""
    if lazy:
        path = str(tmp / "rec1s.nc")
        subprocess.run([sys.executable, "-c", _WRITE.format(here=here, days=days, path=path)],
                       check=True)
    code = _CHILD.format(here=here, threads=threads, days=days, mdir=str(mdir), path=path)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        emit(figure="peak_rss_1s", lazy=lazy, error=out.stderr[-2000:])
        return
    r = json.loads(out.stdout.strip().splitlines()[-1])
    year_factor = 365.0 / days
    # what grows with the span: the whole record in memory, or only the time index (lazy)
    resident = r["time_bytes"] if lazy else r["record_bytes"]
    emit(figure="peak_rss_1s_lazy_file" if lazy else "peak_rss_1s_in_memory", days=days, value_gb=round(r["peak_rss_bytes"] / 1e9, 3),
         record_gb=round(r["record_bytes"] / 1e9, 3),
         scoring_over_baseline_gb=round((r["peak_rss_bytes"]
                                         - r["peak_before_scoring_bytes"]) / 1e9, 3),
         peak_before_scoring_gb=round(r["peak_before_scoring_bytes"] / 1e9, 3),
         hwm_reset=r["hwm_reset"], samples=r["samples"], windows=r["windows"],
         seconds=round(r["seconds"], 1),
         samples_per_s=round(r["samples"] / r["seconds"], 0),
         year_estimate_gb=round((r["peak_rss_bytes"] + resident * (year_factor - 1)) / 1e9, 3),
         target="<= 1.5 GB for a year", threads=threads)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--days-1s", type=float, default=365.0,
                    help="days of 1-second data for the memory figure")
    ap.add_argument("--skip-1s", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    emit(figure="environment", torch=torch.__version__, threads=args.threads,
         cpu_count=os.cpu_count())
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        bench_train(args.threads)
        bench_score_1min(tmp, args.threads)
        if not args.skip_1s:
            bench_memory_1s(tmp, args.threads, args.days_1s, lazy=False)
            bench_memory_1s(tmp, args.threads, args.days_1s, lazy=True)


if __name__ == "__main__":
    main()
