"""Nightly ULF features of a year of synthetic 1-s, 4-component data on one core, against a
plain loop of ``scipy.signal.welch`` night by night; station-years on dask against serial.
Prints one JSON line per figure.

    python bench/bench_ulf.py [--days 365] [--chunk-days 30] [--dask-stations 10]
                              [--dask-days 36.5] [--workers 2] [--quick]

* ``ulf_year_generate``: the year is built chunk by chunk (:func:`geoanom.synthetic.
  iter_ulf_station_record`, 30 days a chunk, each ending at local noon so that no night is
  cut) and written as netCDF files (no compression); never whole in memory.
* ``ulf_year_compute``: per chunk, in memory: :func:`geoanom.detector.features.ulf_polarisation`
  (default :class:`~geoanom.detector.features.UlfConfig`: nine bands, 22-02 and 02-06 local
  time, 1800-s Hamming segments, spike rule and validity) against the plain loop (per night
  window and component one ``welch`` call, then the band means and Z/G; no spike rule;
  windows with a gap skipped), summed over the chunks; ``speedup`` is loop / vectorised
  (target >= 5), and ``max_abs_rel_diff`` compares the two on the windows where the spike
  rule dropped nothing and nothing is missing. ``tracemalloc_peak_mb``: the peak extra allocation of one
  ``ulf_polarisation`` call on a whole chunk (measured on a second, untimed call).
* ``ulf_year_streamed``: in a fresh process, the features of the year's files one lazy file
  at a time (:func:`~geoanom.detector.features.ulf_polarisation_many` without a client),
  then of the whole year opened as one lazy record
  (:func:`geoanom.detector.distributed.open_record_lazy`), read a few nights at a time: wall
  time and peak resident memory of each step (VmHWM, reset before it; imports included;
  target < 1 GB), and whether both give the same features.
* ``ulf_dask``: ``--dask-stations`` records of ``--dask-days`` (random walks plus noise, 1 s,
  3 components: the cost does not depend on the content) written as netCDF, their features
  serially and with :func:`~geoanom.detector.features.ulf_polarisation_many` on a LocalCluster
  of ``--workers`` single-threaded workers (memory limit 1 GiB each): wall time, peak resident
  memory per worker (VmHWM), results equal to serial.

numpy, scipy and torch run on one thread. On a shared machine the absolute figures move with
the load; the ratios, measured in the same run, much less.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def emit(**kw) -> None:
    print(json.dumps(kw), flush=True)


def welch_loop(record, features, config) -> dict[str, np.ndarray]:
    """The plain way: for each night window and component one ``scipy.signal.welch`` call on
    its samples, then the band means and Z/G (the windows where ``features`` put them)."""
    from scipy import signal

    comps = features.attrs["components_used"].split(",")
    wins = json.loads(features.attrs["night_windows"])
    period = float(record.attrs["sampling_period_s"])
    L = int(round(config.segment_s / period))
    noverlap = int(round(config.overlap * L))
    t0 = record["time"].values[0]
    first = ((features["time"].values - t0) // np.timedelta64(int(period * 1e9), "ns"))
    values = [record[c].values for c in comps]
    n = values[0].size
    out = {}
    for w in wins:
        zg = np.full((first.size, len(config.bands)), np.nan)
        for k, a in enumerate(first + w["offset_s"] / period):
            a, b = int(a), int(a + w["length_s"] / period)
            if a < 0 or b > n:
                continue
            if not all(np.isfinite(x[a:b]).all() for x in values):
                continue  # a gap: welch cannot take it, and nothing is interpolated
            p = []
            for x in values:
                f, pxx = signal.welch(x[a:b], fs=1.0 / period, window=config.window,
                                      nperseg=L, noverlap=noverlap, detrend=config.detrend)
                p.append([pxx[(f >= lo) & (f < hi)].mean() for _, lo, hi in config.bands])
            p = np.asarray(p)
            zg[k] = np.sqrt(p[0] / (p[1] + p[2]))
        out[w["tag"]] = zg
    return out


def _compare(features, loop, config) -> float:
    """Largest relative difference of Z/G where both computed the same thing."""
    worst = 0.0
    for tag, zg in loop.items():
        clean = features[f"valid_fraction_{tag}"].values == 1.0
        for j, (b, _, _) in enumerate(config.bands):
            v = features[f"zg_{b}_{tag}"].values
            m = clean & np.isfinite(zg[:, j]) & np.isfinite(v)
            if m.any():
                worst = max(worst, float(np.max(np.abs(v[m] / zg[m, j] - 1))))
    return worst


def year(args, tmp: Path) -> list[Path]:
    import torch

    from geoanom.detector.features import UlfConfig, ulf_polarisation
    from geoanom.errors import ValidationError
    from geoanom.io.netcdf import write_netcdf
    from geoanom.synthetic import DEFAULT_STATIONS, UlfWorldConfig, iter_ulf_station_record
    from geoanom.synthetic.activity import activity_index
    from geoanom.synthetic.common import _seeded

    torch.set_num_threads(1)
    cfg = UlfConfig()
    act = activity_index("2021-01-01", args.days, _seeded(11, 1))
    chunks = iter_ulf_station_record(DEFAULT_STATIONS[0], act, start="2021-01-01",
                                     days=args.days, cadence_s=1.0, rng=_seeded(11, 2),
                                     ulf=UlfWorldConfig(), chunk_days=args.chunk_days)
    paths, t_gen, t_vec, t_loop, peak, nights, worst = [], 0.0, 0.0, 0.0, 0, 0, 0.0
    n_samples = biggest = 0
    while True:
        t0 = time.perf_counter()
        rec = next(chunks, None)
        if rec is None:
            break
        path = write_netcdf(rec, tmp / f"year_{len(paths):03d}.nc", complevel=0)
        t_gen += time.perf_counter() - t0
        paths.append(path)
        n_samples += rec.sizes["time"]
        t0 = time.perf_counter()
        try:
            feat = ulf_polarisation(rec, cfg)
        except ValidationError:  # the last chunk may hold no whole night window
            continue
        t_vec += time.perf_counter() - t0
        if rec.sizes["time"] > biggest:  # extra memory of one call (tracemalloc slows it)
            biggest = rec.sizes["time"]
            tracemalloc.start()
            ulf_polarisation(rec, cfg)
            peak = max(peak, tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        t0 = time.perf_counter()
        loop = welch_loop(rec, feat, cfg)
        t_loop += time.perf_counter() - t0
        nights += feat.sizes["time"]
        worst = max(worst, _compare(feat, loop, cfg))
    emit(figure="ulf_year_generate", days=args.days, samples=n_samples, components=4,
         files=len(paths), chunk_days=args.chunk_days, seconds=round(t_gen, 1),
         bytes_on_disk=int(sum(p.stat().st_size for p in paths)))
    emit(figure="ulf_year_compute", nights=nights, night_windows=2 * nights,
         bands=len(cfg.bands), vectorised_s=round(t_vec, 2), welch_loop_s=round(t_loop, 2),
         speedup=round(t_loop / t_vec, 1), max_abs_rel_diff=worst,
         tracemalloc_peak_mb=round(peak / 2**20, 1), threads=1, target="speedup >= 5")
    return paths


_STREAMED = r"""
import json, sys, time
sys.path.insert(0, {bench!r})
import numpy as np, torch, xarray as xr
torch.set_num_threads(1)
from bench_dask import _hwm_bytes, _reset_hwm
from geoanom.detector.distributed import open_record_lazy
from geoanom.detector.features import ulf_polarisation, ulf_polarisation_many
paths = json.loads({paths!r})
out = {{"rss_after_imports": _hwm_bytes()}}
_reset_hwm()
t0 = time.perf_counter()
parts = ulf_polarisation_many(paths)  # one lazy file at a time
out["files_seconds"] = time.perf_counter() - t0
out["files_peak_rss"] = _hwm_bytes()
_reset_hwm()
rec = open_record_lazy(paths)
out["year_open_seconds"] = time.perf_counter() - t0 - out["files_seconds"]
out["rss_after_open"] = _hwm_bytes()
_reset_hwm()
t0 = time.perf_counter()
feat = ulf_polarisation(rec)
out["year_seconds"] = time.perf_counter() - t0
out["year_peak_rss"] = _hwm_bytes()
out["nights"] = int(feat.sizes["time"])
joined = xr.concat(parts, dim="time")
out["files_nights"] = int(joined.sizes["time"])
out["same"] = bool(all(np.array_equal(joined[v].values, feat[v].values, equal_nan=True)
                       for v in feat.data_vars))
print(json.dumps(out))
"""


def streamed(paths: list[Path]) -> None:
    code = _STREAMED.format(bench=str(HERE), paths=json.dumps([str(p) for p in paths]))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=False, env=dict(os.environ, PYTHONPATH=str(HERE.parent)))
    if r.returncode:
        emit(figure="ulf_year_streamed", status="failed", stderr=r.stderr[-2000:])
        return
    res = json.loads(r.stdout.strip().splitlines()[-1])
    gb = {k: round(v / 1e9, 3) for k, v in res.items() if "rss" in k}
    emit(figure="ulf_year_streamed", files=len(paths), nights=res["nights"],
         file_by_file_s=round(res["files_seconds"], 1),
         file_by_file_peak_rss_gb=gb["files_peak_rss"],
         lazy_year_open_s=round(res["year_open_seconds"], 1),
         lazy_year_features_s=round(res["year_seconds"], 1),
         rss_after_imports_gb=gb["rss_after_imports"],
         lazy_year_rss_after_open_gb=gb["rss_after_open"],
         lazy_year_peak_rss_gb=gb["year_peak_rss"],
         same_features=res["same"] and res["files_nights"] == res["nights"],
         target="peak < 1 GB",
         note="peaks are the process's (VmHWM, reset before each step): numpy, xarray and "
              "torch imports included; the lazy year's time coordinate and open files count")


def _random_record(days: float, seed: int, code: str):
    from geoanom.record import make_record

    rng = np.random.default_rng(seed)
    n = int(days * 86400)
    t = np.datetime64("2021-01-01", "ns") + np.arange(n) * np.timedelta64(1, "s")
    comps = {c: np.cumsum(rng.normal(0, 0.02, n)) + rng.normal(0, 0.1, n) for c in "XYZ"}
    return make_record(t, comps, attrs={"iaga_code": code, "latitude_deg": 38.0,
                                        "longitude_deg": 22.0, "sampling_period_s": 1.0})


def dask_part(args, tmp: Path) -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        emit(figure="ulf_dask", status="dask unavailable (pip install 'geoanom[dask]')")
        return
    from bench_dask import _hwm_bytes, _reset_hwm

    from geoanom.detector.distributed import get_client
    from geoanom.detector.features import ulf_polarisation_many
    from geoanom.io.netcdf import write_netcdf

    t0 = time.perf_counter()
    paths = [str(write_netcdf(_random_record(args.dask_days, i, f"S{i:02d}"),
                              tmp / f"S{i:02d}.nc", complevel=0))
             for i in range(args.dask_stations)]
    t_write = time.perf_counter() - t0
    t0 = time.perf_counter()
    serial = ulf_polarisation_many(paths)
    t_serial = time.perf_counter() - t0
    client = get_client("local", workers=args.workers, threads_per_worker=1,
                        memory_limit="1GiB")
    try:
        client.run(_warm)
        before = client.run(_hwm_bytes)
        reset = all(client.run(_reset_hwm).values())
        t0 = time.perf_counter()
        par = ulf_polarisation_many(paths, client=client)
        t_dask = time.perf_counter() - t0
        peaks = client.run(_hwm_bytes)
    finally:
        client.close()
        client.cluster.close()
    same = all(np.array_equal(a[v].values, b[v].values, equal_nan=True)
               for a, b in zip(serial, par, strict=True) for v in a.data_vars)
    emit(figure="ulf_dask", stations=args.dask_stations, days_each=args.dask_days,
         station_years=round(args.dask_stations * args.dask_days / 365.0, 2),
         seconds_to_write=round(t_write, 1), serial_s=round(t_serial, 1),
         dask_s=round(t_dask, 1), workers=args.workers, speedup=round(t_serial / t_dask, 2),
         peak_worker_rss_gb=round(max(peaks.values()) / 1e9, 3),
         worker_rss_before_gb=round(max(before.values()) / 1e9, 3), hwm_reset=reset,
         equal_to_serial=bool(same), target="bounded memory per worker; identical results")


def _warm() -> bool:
    """Import what the tasks need on a worker, so the timing is the features'."""
    import torch

    import geoanom.detector.features  # noqa: F401

    torch.set_num_threads(1)
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=365.0)
    ap.add_argument("--chunk-days", type=float, default=30.0)
    ap.add_argument("--dask-stations", type=int, default=10)
    ap.add_argument("--dask-days", type=float, default=36.5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="30 days; 4 stations x 10 days")
    args = ap.parse_args(argv)
    if args.quick:
        args.days, args.dask_stations, args.dask_days = 30.0, 4, 10.0
    emit(figure="environment", cpu_count=os.cpu_count(), loadavg=os.getloadavg(),
         days=args.days, dask_stations=args.dask_stations, dask_days=args.dask_days)
    with tempfile.TemporaryDirectory(prefix="geoanom-ulf-") as d:
        tmp = Path(d)
        t0 = time.perf_counter()
        paths = year(args, tmp)
        streamed(paths)
        for p in paths:
            p.unlink()
        dask_part(args, tmp)
        emit(figure="ulf_total", seconds=round(time.perf_counter() - t0, 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
