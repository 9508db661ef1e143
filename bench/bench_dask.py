"""Scoring a folder of stations on dask.distributed: time with 1 and 2 workers, peak memory
per worker. Prints one JSON line per figure.

    python bench/bench_dask.py [--stations 100] [--days 365] [--workers 1,2] [--serial 2]

The folder holds ``--stations`` netCDF records of ``--days`` of 1-minute, 4-component data
(random walks plus noise: scoring cost does not depend on content), written with
:func:`geoanom.io.netcdf.write_netcdf`; the model is the default architecture (hidden 32,
latent 16), 1-hour windows every hour. Each record is opened lazily
(:func:`geoanom.detector.distributed.open_record_lazy`) and scored by
:func:`geoanom.detector.distributed.score_records` on a LocalCluster of N single-threaded worker
processes (memory limit 2 GiB each).

* ``dask_score``: wall seconds, samples per second, and the peak resident memory of each worker
  (VmHWM, reset just before scoring; it includes the worker's baseline, torch and the model),
  for each worker count; ``speedup_vs_1_worker``;
* ``serial_reference``: :func:`geoanom.detector.score.score_record` in this process (1 torch thread) on
  ``--serial`` of the records, scaled to the folder (per-sample cost), and the ratio of the dask
  time to it. The first record's dask scores are checked equal to the serial ones.

Memory per worker is bounded when the peak does not grow with ``--stations`` or ``--days``
(compare a ``--quick`` run with a full one). On a shared machine the absolute figures move
with the load; the ratios, measured in the same run, much less.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def emit(**kw) -> None:
    print(json.dumps(kw), flush=True)


def _hwm_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) * 1024
    return -1


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _warm() -> bool:
    """Import what the tasks need on a worker, so the timing is the scoring's."""
    import torch

    import geoanom.detector.distributed  # noqa: F401

    torch.set_num_threads(1)
    return True


def make_folder(folder: Path, stations: int, days: float) -> list[Path]:
    from bench_nn import random_record

    from geoanom.io.netcdf import write_netcdf

    folder.mkdir(parents=True, exist_ok=True)
    n = int(days * 1440)
    paths = []
    for i in range(stations):
        rec = random_record(n, 60.0, seed=i)
        rec.attrs["iaga_code"] = f"S{i:03d}"
        paths.append(write_netcdf(rec, folder / f"S{i:03d}.nc"))
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stations", type=int, default=100)
    ap.add_argument("--days", type=float, default=365.0)
    ap.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    ap.add_argument("--serial", type=int, default=2, help="records scored serially")
    ap.add_argument("--quick", action="store_true", help="4 stations x 30 days")
    args = ap.parse_args(argv)
    if args.quick:
        args.stations, args.days, args.serial = 4, 30.0, 1
    try:
        import distributed  # noqa: F401
    except ImportError:
        emit(figure="dask_score", status="dask unavailable (pip install 'geoanom[dask]')")
        return 0
    import torch
    import xarray as xr
    from bench_nn import make_artifact

    from geoanom.detector.distributed import get_client, open_record_lazy, score_records
    from geoanom.detector.nn.artifact import load_model
    from geoanom.detector.score import score_record

    torch.set_num_threads(1)
    emit(figure="environment", cpu_count=os.cpu_count(), loadavg=os.getloadavg(),
         torch=torch.__version__, stations=args.stations, days=args.days)
    with tempfile.TemporaryDirectory(prefix="geoanom-dask-") as d:
        tmp = Path(d)
        t0 = time.perf_counter()
        paths = make_folder(tmp / "stations", args.stations, args.days)
        emit(figure="dask_folder", stations=len(paths), days=args.days,
             bytes_on_disk=int(sum(p.stat().st_size for p in paths)),
             seconds_to_write=round(time.perf_counter() - t0, 1))
        mdir = make_artifact(tmp / "model", ("X", "Y", "Z", "F"), 60.0, 60, 60)
        lm = load_model(mdir, device="cpu")
        n_samples = int(args.days * 1440) * len(paths)

        k = max(1, min(args.serial, len(paths)))
        t0 = time.perf_counter()
        serial0 = None
        for p in paths[:k]:
            with xr.open_dataset(p) as rec:
                s = score_record(lm, rec.load())
            serial0 = s if serial0 is None else serial0
        t_serial = (time.perf_counter() - t0) / k * len(paths)
        emit(figure="serial_reference", seconds_extrapolated=round(t_serial, 1),
             records_timed=k, samples_per_s=round(n_samples / t_serial, 0), threads=1)

        base = None
        for w in [int(x) for x in args.workers.split(",")]:
            client = get_client("local", workers=w, threads_per_worker=1, memory_limit="2GiB")
            try:
                client.run(_warm)
                before = client.run(_hwm_bytes)
                reset = all(client.run(_reset_hwm).values())
                recs = [open_record_lazy(p) for p in paths]
                t0 = time.perf_counter()
                out = score_records(lm, recs, client)
                dt = time.perf_counter() - t0
                peaks = client.run(_hwm_bytes)
            finally:
                client.close()
                client.cluster.close()
            same = all(np.array_equal(out[0][v].values, serial0[v].values, equal_nan=True)
                       for v in ("rmse", "mae", "err_X", "valid_fraction"))
            base = dt if base is None else base
            emit(figure="dask_score", workers=w, seconds=round(dt, 1),
                 samples_per_s=round(n_samples / dt, 0), stations=len(paths), days=args.days,
                 windows=int(sum(o.sizes["window"] for o in out)),
                 peak_worker_rss_gb=round(max(peaks.values()) / 1e9, 3),
                 worker_rss_before_gb=round(max(before.values()) / 1e9, 3),
                 hwm_reset=reset, speedup_vs_first=round(base / dt, 2),
                 ratio_vs_serial=round(t_serial / dt, 2), equal_to_serial=bool(same),
                 target="bounded memory per worker; results identical to serial")
    return 0


if __name__ == "__main__":
    sys.exit(main())
