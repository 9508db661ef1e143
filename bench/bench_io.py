"""Benchmark: IAGA-2002 reading speed of geoanom against MagPy's reader, in one run.

Reads ``usgs_BOU/BOU201601vmin.min`` (one month, 1 min, 2.95 MB) and the 663 MAGDAS ANC
daily EE-index files (65.5 MB, extracted from the tarball into a temporary folder) and prints
one JSON object per line: MB/s of each reader (file bytes / best wall time of ``--repeat``
runs), and the ratio geoanom / MagPy. The ANC days are read two ways by geoanom: joined into
one record (the normal use: one call with the 663 paths) and one record per file.

MagPy (PyPI ``geomagpy``) is heavy and is not a geoanom dependency: install it only in the
benchmark's own environment::

    python -m venv /tmp/benchvenv
    /tmp/benchvenv/bin/pip install geomagpy xarray pandas
    /tmp/benchvenv/bin/pip install --no-deps -e .
    /tmp/benchvenv/bin/python bench/bench_io.py

Without MagPy the script prints a note and skips the ratio. Real data is read from
``../shared/data`` (or ``--data``). The machine's load is printed too: on a shared machine
absolute MB/s move with it, the ratio (same run, same load) much less.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geoanom import __version__  # noqa: E402
from geoanom.io.iaga2002 import read_iaga2002  # noqa: E402

BOU = "geomag/usgs_BOU/BOU201601vmin.min"
ANC = "geomag/peru_ANC_magdas_eeindex/ANC_EEindex_2012_2014_pmin.tar.gz"


def emit(**fields: object) -> None:
    print(json.dumps(fields, sort_keys=True), flush=True)


def best_time(fn, repeat: int) -> tuple[float, object]:
    """Best wall time (s) of ``repeat`` calls, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def magpy_reader():
    """MagPy's ``read`` or None; MagPy chatters on stdout, so imports are silenced."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            from magpy.stream import read
    except Exception as exc:  # noqa: BLE001 - any import failure means "not available"
        return None, f"{type(exc).__name__}: {exc}"

    def quiet_read(path: str):
        with contextlib.redirect_stdout(io.StringIO()):
            return read(path)
    return quiet_read, None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--repeat", type=int, default=5, help="runs per geoanom measurement")
    ap.add_argument("--magpy-repeat", type=int, default=1, help="runs per MagPy measurement")
    ap.add_argument("--no-magpy", action="store_true", help="skip MagPy even if installed")
    args = ap.parse_args(argv)
    bou = args.data / BOU
    tar = args.data / ANC
    if not bou.exists() or not tar.exists():
        emit(error=f"real data not found under {args.data}")
        return 2
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    emit(bench="bench_io", geoanom=__version__, python=platform.python_version(),
         machine=platform.machine(), cpus=os.cpu_count(), loadavg=load)
    read_magpy, why = (None, "disabled by --no-magpy") if args.no_magpy else magpy_reader()
    if read_magpy is None:
        emit(note=f"MagPy (geomagpy) is not importable here ({why}); MagPy figures and the "
             "ratio are skipped. Install it in /tmp/benchvenv (see this file's docstring).")
    else:
        import magpy
        emit(magpy=getattr(magpy, "__version__", "unknown"))

    with tempfile.TemporaryDirectory(prefix="geoanom-bench-") as tmp:
        with tarfile.open(tar) as tf:
            members = [m for m in tf.getmembers() if m.isfile()]
            if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4
                tf.extractall(tmp, members=members, filter="data")
            else:  # pragma: no cover - older Pythons; the members are plain files
                tf.extractall(tmp, members=members)
        anc = sorted(Path(tmp).rglob("*.ANC"))
        cases = {
            "BOU201601vmin.min": [bou],
            "ANC 663 daily files": anc,
        }
        results = {}
        for label, paths in cases.items():
            size = sum(p.stat().st_size for p in paths)
            if len(paths) == 1:
                secs, ds = best_time(lambda paths=paths: read_iaga2002(paths[0]), args.repeat)
            else:
                secs, ds = best_time(lambda paths=paths: read_iaga2002(paths), args.repeat)
            rows = int(ds.sizes["time"])
            results[(label, "geoanom")] = secs
            emit(dataset=label, reader="geoanom", mode="one record", files=len(paths),
                 bytes=size, rows=rows, seconds=round(secs, 4), mb_per_s=round(size / secs / 1e6, 1))
            if len(paths) > 1:
                secs1, _ = best_time(lambda paths=paths: [read_iaga2002(p) for p in paths],
                                     max(1, args.repeat // 2))
                emit(dataset=label, reader="geoanom", mode="one record per file",
                     files=len(paths), bytes=size, seconds=round(secs1, 4),
                     mb_per_s=round(size / secs1 / 1e6, 1))
            if read_magpy is not None:
                def run_magpy(paths=paths):
                    return [read_magpy(str(p)) for p in paths]
                msecs, streams = best_time(run_magpy, args.magpy_repeat)
                mrows = sum(len(s) for s in streams)
                results[(label, "magpy")] = msecs
                emit(dataset=label, reader="magpy", mode="one stream per file",
                     files=len(paths), bytes=size, rows=mrows, seconds=round(msecs, 4),
                     mb_per_s=round(size / msecs / 1e6, 1))
                emit(dataset=label, ratio_geoanom_over_magpy=round(msecs / secs, 1),
                     target_ratio=20, target_mb_per_s=100,
                     meets_ratio=msecs / secs >= 20, meets_mb_per_s=size / secs / 1e6 >= 100)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
