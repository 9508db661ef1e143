"""The detector end to end on real data: MMB March 2011 with the Japan catalog.

    python bench/real_mmb.py [--work DIR] [--seeds 0 1 2] [--preprocess none|ulf]

Runs the command line exactly as a user would, for negative learning (the config as given)
and the plain autoencoder (the same config with ``lam = 0``), for each seed:

    geoanom train --record REC --catalog CAT --config CFG -o WORK/<model>_s<seed>
    geoanom score --model WORK/<model>_s<seed> --record REC -o WORK/<model>_s<seed>.nc
    geoanom test  --scores WORK/<model>_s<seed>.nc --catalog CAT --protocol PROTO -o ....json

then matches the scored windows to the labelled window set (rebuilt from the same config by
:func:`geoanom.detector.windows.build_window_set`; the score grid is the window grid) and prints, per
run, one JSON line: the validation and *held-out test* AUC of seismic versus normal windows,
the window and independent-event counts they rest on, and the `geoanom test` result's primary
and legacy numbers. ``--preprocess ulf`` first band-passes the record to 2-8 mHz (causal
Butterworth, :func:`geoanom.detector.preprocess.bandpass`) and writes it as netCDF in WORK, which the
CLI then reads; the default feeds the raw record.

Data: JMA Memambetsu (MMB) 1-minute definitive values via WDC for Geomagnetism, Kyoto; USGS
ComCat extract of the EarthquakeNPP repository (ss15859/EarthquakeNPP). Paths default to
``../shared/data`` beside the repository (``GEOANOM_SHARED_DATA`` overrides).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GEOANOM_SHARED_DATA", ROOT.parent / "shared" / "data"))
CONFIGS = ROOT / "bench" / "configs"

MMB = {
    "name": "MMB",
    "records": [SHARED / "geomag" / "japan_MMB_2011-03" / "mmb_2011_march.txt"],
    "catalog": SHARED / "catalogs" / "japan_usgs_1990_2019_EarthquakeNPP.csv",
    "config": CONFIGS / "mmb_2011-03.toml",
    "protocol": CONFIGS / "mmb_protocol.toml",
}


def geoanom_cmd() -> list[str]:
    """The ``geoanom`` entry point of this interpreter's environment."""
    exe = Path(sys.executable).with_name("geoanom")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "geoanom"]


def cli(args: list[str], log: Path) -> dict | None:
    """Run one ``geoanom`` command; stderr to ``log``; the last JSON line of stdout."""
    with open(log, "a", encoding="utf-8") as err:
        err.write("$ geoanom " + " ".join(args[:12]) + (" ..." if len(args) > 12 else "") + "\n")
        err.flush()
        p = subprocess.run(geoanom_cmd() + args, stdout=subprocess.PIPE, stderr=err, text=True,
                           check=False)
    if p.returncode != 0:
        raise RuntimeError(f"geoanom {args[0]} exited {p.returncode} (see {log}):\n{p.stdout}")
    for line in reversed(p.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return None


def with_lam(config: Path, lam: float, out: Path) -> Path:
    """A copy of ``config`` whose ``[train]`` table sets ``lam``."""
    text = config.read_text(encoding="utf-8")
    if re.search(r"(?m)^\s*lam\s*=", text):
        text = re.sub(r"(?m)^(\s*lam\s*=\s*)[^#\n]*", rf"\g<1>{lam!r}", text)
    else:
        text = re.sub(r"(?m)^\[train\]\s*$", f"[train]\nlam = {lam!r}", text, count=1)
    out.write_text(text, encoding="utf-8")
    return out


def preprocess_ulf(records: list[Path], work: Path) -> list[Path]:
    """Band-pass 2-8 mHz (causal) and write one netCDF the CLI reads."""
    from geoanom.detector import preprocess as pp
    from geoanom.io import read_record
    from geoanom.io.netcdf import write_netcdf

    rec = read_record([str(r) for r in records])
    comps = [c for c in rec.data_vars if not str(c).endswith("_flag")]
    high = min(8e-3, 0.45 / float(rec.attrs["sampling_period_s"]))
    out = pp.bandpass(rec, low_hz=2e-3, high_hz=high, components=comps)
    path = work / "record_ulf.nc"
    write_netcdf(out, path, inputs=[str(r) for r in records],
                 config={"bandpass_hz": [2e-3, high], "causal": True})
    return [path]


def window_labels(records: list[Path], catalog: Path, config: Path):
    """The labelled window set the model was trained on (same config, same files)."""
    from geoanom.detector.config import read_detector_tables
    from geoanom.detector.windows import WindowConfig, build_window_set
    from geoanom.io import read_catalog, read_record

    wdict = read_detector_tables(config)["windows"]
    return build_window_set(read_record([str(r) for r in records]), read_catalog(str(catalog)),
                            WindowConfig.from_dict(wdict))


def held_out(scores_path: Path, ws) -> dict:
    """AUC of seismic vs normal windows per split, matching score windows by start time."""
    import xarray as xr

    from geoanom.detector.nn.train import rank_auc

    sc = xr.load_dataset(scores_path)
    s_start = sc["start"].values.astype("datetime64[ns]")
    w_start = ws["start"].values.astype("datetime64[ns]")
    pos = np.searchsorted(s_start, w_start)
    ok = (pos < s_start.size) & (s_start[np.minimum(pos, s_start.size - 1)] == w_start)
    if not ok.all():
        raise RuntimeError(f"{int((~ok).sum())} labelled windows have no score")
    rmse = sc["rmse"].values[pos]
    out = {}
    for split in ("train", "val", "test"):
        m = (ws["split"].values.astype(str) == split) & (ws["label"].values >= 0)
        lab = ws["label"].values[m]
        e = rmse[m]
        ev = set(ws["event_id"].values[m][lab == 1].astype(str)) - {""}
        seq = set(ws["sequence_id"].values[m][lab == 1].astype(str)) - {""}
        out[split] = {"auc": rank_auc(e[lab == 1], e[lab == 0]),
                      "n_seismic": int((lab == 1).sum()), "n_normal": int((lab == 0).sum()),
                      "events": sorted(ev), "n_sequences": len(seq)}
    return out


def test_summary(result: dict) -> dict:
    """The numbers of a `geoanom test` result JSON that the report quotes."""
    prim, leg = result.get("primary", {}), result.get("legacy", {})
    keep_p = ("auc", "p_value", "n_surrogates", "n_independent_events", "n_bins", "verdict",
              "significant")
    keep_l = ("u", "p_value", "auc", "calibrated_p_value", "n_seismic", "n_normal",
              "test_windows_only")
    return {"primary": {k: prim.get(k) for k in keep_p if k in prim},
            "legacy": {k: leg.get(k) for k in keep_l if k in leg},
            "warnings": (result.get("guardrails") or {}).get("warnings")}


def run_station(st: dict, work: Path, seeds: list[int], preprocess: str,
                run_test: bool = True) -> list[dict]:
    """Train, score and test NL and AE on one station; one summary dict per run."""
    work.mkdir(parents=True, exist_ok=True)
    log = work / "stderr.log"
    records = [Path(r) for r in st["records"]]
    if preprocess == "ulf":
        records = preprocess_ulf(records, work)
    rec_args = [a for r in records for a in ("--record", str(r))]
    ws = window_labels(records, st["catalog"], st["config"])
    configs = {"negative_learning": Path(st["config"]),
               "plain_autoencoder": with_lam(Path(st["config"]), 0.0, work / "config_ae.toml")}
    rows = []
    for seed in seeds:
        for name, cfg in configs.items():
            t0 = time.perf_counter()
            tag = f"{name}_s{seed}"
            tr = cli(["train", *rec_args, "--catalog", str(st["catalog"]), "--config", str(cfg),
                      "-o", str(work / tag), "--seed", str(seed), "--device", "cpu",
                      "--no-resume", "--no-progress"], log)
            scores = work / f"{tag}.nc"
            cli(["score", "--model", str(work / tag), *rec_args, "-o", str(scores),
                 "--device", "cpu"], log)
            row = {"station": st["name"], "preprocess": preprocess, "model": name,
                   "seed": seed, "train": {k: tr.get(k) for k in (
                       "epochs_run", "best_epoch", "metric", "best_metric", "stopped_early",
                       "split_counts")},
                   "held_out": held_out(scores, ws)}
            if run_test:
                res_path = work / f"{tag}_test.json"
                cli(["test", "--scores", str(scores), "--catalog", str(st["catalog"]),
                     "--protocol", str(st["protocol"]), "--seed", str(seed),
                     "-o", str(res_path)], log)
                row["geoanom_test"] = test_summary(json.loads(res_path.read_text()))
            row["seconds"] = round(time.perf_counter() - t0, 1)
            rows.append(row)
            print(json.dumps(row, default=str), flush=True)
    return rows


def main(station: dict | None = None) -> None:
    st = station or MMB
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path(f"/tmp/geoanom_real_{st['name']}"),
                    help="working folder (models, scores, results); never the repository")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--preprocess", choices=("none", "ulf"), default="none")
    ap.add_argument("--no-test", action="store_true", help="skip geoanom test")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    t0 = time.perf_counter()
    rows = run_station(st, args.work / args.preprocess, args.seeds, args.preprocess,
                       run_test=not args.no_test)
    for name in ("negative_learning", "plain_autoencoder"):
        a = [r["held_out"]["test"]["auc"] for r in rows if r["model"] == name]
        v = [r["held_out"]["val"]["auc"] for r in rows if r["model"] == name]
        print(json.dumps({"summary": name, "station": st["name"],
                          "preprocess": args.preprocess, "seeds": args.seeds,
                          "test_auc": [round(x, 4) for x in a],
                          "test_auc_mean": round(float(np.nanmean(a)), 4),
                          "val_auc": [round(x, 4) for x in v]}), flush=True)
    print(json.dumps({"total_seconds": round(time.perf_counter() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main()
