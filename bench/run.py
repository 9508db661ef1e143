"""Run every benchmark; print each figure as one JSON line on stdout.

    python -m bench [--quick] [--only io,nn,...] [--out figures.jsonl] [--timeout 1800]

Each benchmark runs as its own process (its imports, threads and peak memory do not leak into
the next); every JSON line it prints is re-printed with ``"suite": NAME`` added. A benchmark
that fails, times out or lacks an optional tool gives a labelled line instead of stopping the
run: ``{"suite": "io", "figure": "iaga_read_vs_magpy", "status": "magpy unavailable"}``.

Suites (in order): ``io`` (IAGA-2002 read against MagPy: run with ``/tmp/benchvenv`` or
``$GEOANOM_BENCHVENV`` when MagPy imports there), ``netcdf``, ``nn`` (scoring against a bare
forward pass and a one-window loop; training throughput; peak memory for 1-s data), ``stats``
(surrogates against a per-surrogate loop), ``dlep`` (DLEP cross-validation time, when
``bench/bench_dlep.py`` exists), ``dask`` (scoring a folder of stations with 1 and 2 workers,
peak memory per worker). ``--quick`` gives each a smaller problem (minutes, not an hour).
Absolute figures move with the machine's load; the ratios are measured within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: name -> (script, full args, quick args)
SUITES: dict[str, tuple[str, list[str], list[str]]] = {
    "io": ("bench_io.py", [], ["--repeat", "1"]),
    "netcdf": ("bench_netcdf.py", [], ["--repeat", "1"]),
    "nn": ("bench_nn.py", ["--threads", "1"], ["--threads", "1", "--days-1s", "30"]),
    "stats": ("bench_stats.py", [], ["--surrogates", "999", "--loop-subset", "100"]),
    "dlep": ("bench_dlep.py", [], ["--quick"]),
    "dask": ("bench_dask.py", [], ["--quick"]),
}


def _emit(out, **kw) -> None:
    line = json.dumps(kw)
    print(line, flush=True)
    if out is not None:
        out.write(line + "\n")
        out.flush()


def _magpy_python() -> str | None:
    """An interpreter that imports MagPy (the benchmark venv), or None."""
    venv = Path(os.environ.get("GEOANOM_BENCHVENV", "/tmp/benchvenv"))
    py = venv / "bin" / "python"
    if not py.is_file():
        return None
    r = subprocess.run([str(py), "-c", "import magpy.stream, xarray, numpy"],
                       capture_output=True, text=True, timeout=300, check=False)
    return str(py) if r.returncode == 0 else None


def run_suite(name: str, quick: bool, timeout: float, out) -> None:
    script, full, fast = SUITES[name]
    path = HERE / script
    if not path.is_file():
        _emit(out, suite=name, status="absent", note=f"bench/{script} does not exist")
        return
    args = fast if quick else full
    if name == "dlep" and "--quick" not in path.read_text(encoding="utf-8"):
        args = []
    python = sys.executable
    if name == "io":
        python = _magpy_python() or sys.executable
        if python == sys.executable:
            _emit(out, suite=name, figure="iaga_read_vs_magpy", status="magpy unavailable",
                  note="no interpreter with geomagpy (python3 -m venv /tmp/benchvenv && "
                       "/tmp/benchvenv/bin/pip install geomagpy xarray netCDF4); "
                       "geoanom's own read speed follows")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), str(HERE), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    t0 = time.perf_counter()
    try:
        r = subprocess.run([python, str(path), *args], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        for line in (exc.stdout or b"").decode(errors="replace").splitlines():
            _relay(out, name, line)
        _emit(out, suite=name, status="timeout", seconds=timeout)
        return
    for line in r.stdout.splitlines():
        _relay(out, name, line)
    if r.returncode != 0:
        _emit(out, suite=name, status="failed", returncode=r.returncode,
              stderr_tail=r.stderr[-1500:])
    else:
        _emit(out, suite=name, status="done", seconds=round(time.perf_counter() - t0, 1))


def _relay(out, name: str, line: str) -> None:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return  # chatter: not a figure
    if not isinstance(obj, dict):
        return
    if "note" in obj and "MagPy" in str(obj["note"]) and "figure" not in obj:
        obj = {"figure": "iaga_read_vs_magpy", "status": "magpy unavailable", **obj}
    _emit(out, suite=name, **obj)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller problems, minutes in all")
    ap.add_argument("--only", default=",".join(SUITES),
                    help="comma-separated suites (default: all): " + ", ".join(SUITES))
    ap.add_argument("--out", type=Path, default=None, help="also append the lines to FILE")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per suite")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(SUITES))
    if unknown:
        ap.error(f"unknown suite(s) {', '.join(unknown)}; choose from {', '.join(SUITES)}")
    out = open(args.out, "a", encoding="utf-8") if args.out else None  # noqa: SIM115
    try:
        _emit(out, suite="run", figure="machine", date=time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                       time.gmtime()),
              python=platform.python_version(), machine=platform.machine(),
              processor=platform.processor(), cpus=os.cpu_count(),
              loadavg=os.getloadavg() if hasattr(os, "getloadavg") else None,
              quick=args.quick)
        for n in names:
            run_suite(n, args.quick, args.timeout, out)
    finally:
        if out is not None:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
