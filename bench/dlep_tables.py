"""The DLEP paper's Table III and IV rows on real catalogs, under both protocols.

    python bench/dlep_tables.py run --region japan [--seeds 2] [--epochs 65] [--threads 1]
    python bench/dlep_tables.py run --region sanjacinto
    python bench/dlep_tables.py run --region aeta
    python bench/dlep_tables.py report            # writes bench/DLEP_RESULTS.md

``run`` writes ``bench/dlep_runs/<region>.json`` (a ``geoanom.DLEPResults`` file with
provenance); ``report`` renders every run beside the paper's numbers.

Data (read from ``../shared/data`` or ``$GEOANOM_SHARED_DATA``; never copied):

* ``japan``: USGS ComCat extract 1990-2019 (EarthquakeNPP, ss15859), the paper's Japan
  preset (31-38 N, 136-143 E, classes from M 3.0 / 4.8 / 5.3 / 5.8 / 6.3), blocks of 20
  events, patterns of 10;
* ``sanjacinto``: QTM relocated San Jacinto catalog 2008-2017 (EarthquakeNPP), custom region
  116-117 W, 33-34 N, class edges = training-fold quintiles of main-shock magnitude, blocks
  of 40 events (about as many samples as the paper's regions), patterns of 10;
* ``aeta``: AETA competition earthquake list 2016-2020 (Sichuan/Yunnan, M >= 3.5, 189
  events; Peking University AETA platform), custom box 97-106 E, 22-34 N, quintile edges,
  blocks of 6 events, patterns of 5 (only 189 events: few samples).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("GEOANOM_SHARED_DATA", ROOT.parent / "shared" / "data"))
RUNS = ROOT / "bench" / "dlep_runs"
RESULTS_MD = ROOT / "bench" / "DLEP_RESULTS.md"
METHODS = ["dlep", "dlep-att", "dlep-dyn", "2016n", "2019f", "2018cnn", "majority",
           "pattern-max", "climatology"]

SETUPS = {
    "japan": dict(file="catalogs/japan_usgs_1990_2019_EarthquakeNPP.csv", region="japan",
                  n_events=20, w=10,
                  ack="USGS ComCat via EarthquakeNPP (ss15859/EarthquakeNPP, MIT)"),
    "sanjacinto": dict(file="catalogs/socal_QTM_SanJacinto_EarthquakeNPP.csv",
                       box=(-117.0, -116.0, 33.0, 34.0), edges="quantiles", name="San Jacinto",
                       n_events=40, w=10,
                       ack="QTM catalog (Ross et al. 2019) via EarthquakeNPP (MIT)"),
    "aeta": dict(file="aeta_2020-12/eqlst.csv", box=(97.0, 106.0, 22.0, 34.0),
                 edges="quantiles", name="AETA Sichuan-Yunnan", n_events=6, w=5,
                 ack="AETA competition data, Peking University AETA platform "
                     "(Kuoyuan-Li/AETA-403Forbidden)"),
}


def _samples(key: str, design: str = "dlep", leak: str = "none"):
    from geoanom.dlep.segment import (
        custom_region,
        get_region,
        leak_mainshock,
        segment_catalog,
        segment_operational,
    )
    from geoanom.io.catalog import read_catalog

    s = SETUPS[key]
    path = DATA / s["file"]
    cat = read_catalog(path)
    if "region" in s:
        reg = get_region(s["region"])
    else:
        reg = custom_region(s["box"], s["edges"], name=s["name"], n_events=s["n_events"])
    if design == "operational":
        return path, reg, segment_operational(cat, reg, n_events=s["n_events"], w=s["w"])
    smp = segment_catalog(cat, reg, n_events=s["n_events"], w=s["w"])
    if leak != "none":
        smp = leak_mainshock(smp, leak)
    return path, reg, smp


def run(args: argparse.Namespace) -> None:
    import torch

    from geoanom.dlep.evaluate import DLEPConfig, DLEPResults, evaluate, samples_summary
    from geoanom.provenance import provenance

    torch.set_num_threads(args.threads)
    path, reg, samples = _samples(args.region, args.design, args.leak)
    print(f"{reg.name}: {len(samples)} samples, classes {samples.class_counts().tolist()} "
          f"(design {args.design}, leak {args.leak})", file=sys.stderr)
    cfg = DLEPConfig(epochs=args.epochs, indim=args.indim)
    seeds = list(range(args.seeds))
    protocols = args.protocols.split(",")
    results: dict = {p: {} for p in protocols}
    timing = {}
    cache: dict = {}
    config = {"setup": {k: v for k, v in SETUPS[args.region].items() if k != "ack"},
              "region": reg.to_dict(), "segmentation": samples.config, "dlep": cfg.to_dict(),
              "threads": args.threads, "tag": args.tag, "design": args.design,
              "leak": args.leak}
    RUNS.mkdir(parents=True, exist_ok=True)
    for protocol in protocols:
        for m in args.methods.split(","):
            t0 = time.perf_counter()
            c0 = time.process_time()
            results[protocol][m] = evaluate(samples, m, protocol, seeds=seeds, config=cfg,
                                            progress=True, cache=cache)
            timing[f"{protocol}/{m}"] = {"wall_s": round(time.perf_counter() - t0, 1),
                                         "cpu_s": round(time.process_time() - c0, 1)}
            r = results[protocol][m]
            print(f"{protocol:6s} {m:9s} ACC {100 * r.acc_mean:6.2f}±{100 * r.acc_std:5.2f} "
                  f"MAUC {100 * r.mauc_mean:6.2f}±{100 * r.mauc_std:5.2f} "
                  f"({timing[f'{protocol}/{m}']})", file=sys.stderr, flush=True)
            if m == "dlep" and r.features and args.tsne:
                from geoanom.dlep.evaluate import write_tsne_png

                write_tsne_png(r, RUNS / f"{args.region}{args.tag}_{protocol}_tsne.png")
            # written after every method: a run cut short keeps what finished
            prov = provenance(config=config, inputs=[path],
                              seeds={f"seed{i}": s for i, s in enumerate(seeds)},
                              extra={"type": "geoanom.DLEPResults", "timing_s": timing,
                                     "acknowledgement": SETUPS[args.region]["ack"]})
            res = DLEPResults(region=reg.name, samples=samples_summary(samples),
                              results=results, config=config, provenance=prov)
            out = res.write(RUNS / f"{args.region}{args.tag}.json")
    print(f"wrote {out}", file=sys.stderr)


def leak_check(args: argparse.Namespace) -> None:
    """Diagnostic: the same samples, but the main shock let into its own features (the
    pattern becomes the w events *ending with* the main shock; the 2019F period includes
    it). Not a method: a measure of how much such a slip would inflate the scores."""
    from dataclasses import replace

    import torch

    from geoanom.dlep.baselines import fixed_day_indicators
    from geoanom.dlep.evaluate import DLEPConfig, evaluate
    from geoanom.dlep.indicators import compute_indicators
    from geoanom.dlep.segment import DAY_NS

    torch.set_num_threads(args.threads)
    _, reg, s = _samples(args.region)
    ev = s.events
    tn = ev["time"].to_numpy("datetime64[ns]").astype(np.int64)
    td = (tn - tn[0]) / DAY_NS
    mag = ev["magnitude"].to_numpy(float)
    leaky_idx = np.column_stack([s.pattern_index[:, 1:], s.mainshock_index])
    ind, mask = compute_indicators(td[leaky_idx], mag[leaky_idx])
    s_leak = replace(s, indicators=ind, indicator_mask=mask)
    cfg = DLEPConfig(epochs=args.epochs)
    cache = {("fixed_day", cfg.period_days): fixed_day_indicators(
        replace(s, mainshock_time=s.mainshock_time + np.timedelta64(1, "ns")),
        cfg.period_days)}
    out = {}
    for m in args.methods.split(","):
        for name, smp, cc in (("honest", s, {}), ("main shock leaked", s_leak, cache)):
            r = evaluate(smp, m, "kfold", seeds=[0], config=cfg, progress=False, cache=dict(cc))
            out[f"{m} {name}"] = (round(100 * r.acc_mean, 2), round(100 * r.mauc_mean, 2))
            print(f"{reg.name} kfold {m:8s} {name:18s} ACC {out[f'{m} {name}'][0]:6.2f} "
                  f"MAUC {out[f'{m} {name}'][1]:6.2f}", file=sys.stderr, flush=True)
    RUNS.mkdir(parents=True, exist_ok=True)
    (RUNS / f"leakcheck_{args.region}.txt").write_text(json.dumps(out, indent=1) + "\n")


def _pm(r: dict | None, what: str) -> str:
    if r is None or r.get(f"{what}_mean") is None:
        return "-"
    return f"{100 * r[f'{what}_mean']:.2f} ± {100 * (r[f'{what}_std'] or 0):.2f}"


def report(args: argparse.Namespace) -> None:
    from geoanom.dlep.evaluate import PAPER_TABLE3, PAPER_TABLE4

    lines = ["# DLEP on real catalogs: our measurements beside the paper's", "",
             "Written by `python bench/dlep_tables.py report` from `bench/dlep_runs/*.json` "
             "(each made by `python bench/dlep_tables.py run --region NAME`). Percent; "
             "ours are mean ± sample standard deviation over seeds (seed = fold shuffle, "
             "initialisation, batch order); per seed, ACC and MAUC are means over folds. "
             "MAUC is Hand and Till's (sklearn `roc_auc_score(..., multi_class='ovo', "
             "average='macro', labels=range(5))`; a fold missing a class averages the "
             "pairs present).", "",
             "**kfold** is the paper's shuffled 10-fold cross-validation and **leaks** "
             "(consecutive catalog blocks overlap: a test main shock's aftershocks and "
             "neighbours sit in the training folds). **chrono** trains only on samples whose "
             "main shock precedes the test block (expanding window, later half of the "
             "samples tested in 5 blocks).", ""]
    for f in sorted(glob.glob(str(RUNS / "*.json"))):
        d = json.loads(Path(f).read_text())
        reg, smp, res = d["region"], d["samples"], d["results"]
        cfg = d["config"]
        prov = d["provenance"]
        seeds = sorted(prov.get("seeds", {}).values())
        tag = Path(f).stem
        lines += [f"## {reg} (`{tag}`)", "",
                  f"{smp['n_samples']} samples (main shocks {smp['first_mainshock'][:10]} to "
                  f"{smp['last_mainshock'][:10]}), class counts {smp['class_counts']}, "
                  f"segmentation {json.dumps({k: cfg['segmentation'][k] for k in ('n_events', 'n_days', 'w')})}, "
                  f"class edges {'training-fold quintiles' if cfg['region']['edges'] == 'quantiles' else cfg['region']['edges']}; "
                  f"seeds {seeds}; epochs {cfg['dlep']['epochs']}, batch "
                  f"{cfg['dlep']['batch_size']}, lr {cfg['dlep']['lr']}, Indim "
                  f"{cfg['dlep']['indim']}; data: {prov.get('acknowledgement', '')}.", "",
                  "Table III (ACC and MAUC, %):", "",
                  "| row | ACC 2016N | ACC 2018CNN | ACC 2019F | ACC DLEP | MAUC 2016N | "
                  "MAUC 2018CNN | MAUC 2019F | MAUC DLEP |",
                  "|---|---|---|---|---|---|---|---|---|"]
        t3 = ["2016n", "2018cnn", "2019f", "dlep"]
        for p in ("kfold", "chrono"):
            if p in res:
                lines.append(f"| ours, {p} | " + " | ".join(_pm(res[p].get(m), "acc")
                                                             for m in t3) + " | "
                             + " | ".join(_pm(res[p].get(m), "mauc") for m in t3) + " |")
        if reg in PAPER_TABLE3:
            pt = PAPER_TABLE3[reg]
            lines.append("| paper | " + " | ".join(f"{pt['acc'][m]:.2f}" for m in t3) + " | "
                         + " | ".join(f"{pt['mauc'][m]:.2f}" for m in t3) + " |")
        lines += ["", "Table IV (MAUC, %):", "",
                  "| row | DLEP | DLEP(-Att) | DLEP(-Dyn) | ACC DLEP(-Att) | ACC DLEP(-Dyn) |",
                  "|---|---|---|---|---|---|"]
        t4 = ["dlep", "dlep-att", "dlep-dyn"]
        for p in ("kfold", "chrono"):
            if p in res:
                lines.append(f"| ours, {p} | " + " | ".join(_pm(res[p].get(m), "mauc")
                                                             for m in t4)
                             + f" | {_pm(res[p].get('dlep-att'), 'acc')} | "
                             f"{_pm(res[p].get('dlep-dyn'), 'acc')} |")
        if reg in PAPER_TABLE4:
            pt4 = PAPER_TABLE4[reg]
            lines.append("| paper | " + " | ".join(f"{pt4[m]:.2f}" for m in t4) + " | - | - |")
        # majority-class and chance references for reading the numbers
        counts = np.asarray(smp["class_counts"], float)
        lines += ["", f"Reference: always predicting the most frequent class gives ACC "
                      f"{100 * counts.max() / counts.sum():.1f} % (on all samples); "
                      f"chance MAUC is 50 %. Run time (s, under contention on 2 shared "
                      f"cores): {json.dumps(prov.get('timing_s', {}))}.", ""]
    if args.notes and Path(args.notes).exists():
        lines += [Path(args.notes).read_text()]
    from geoanom._atomic import atomic_write_text

    atomic_write_text(RESULTS_MD, "\n".join(lines) + "\n")
    print(f"wrote {RESULTS_MD}", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--region", choices=sorted(SETUPS), required=True)
    r.add_argument("--seeds", type=int, default=2)
    r.add_argument("--epochs", type=int, default=65)
    r.add_argument("--indim", type=int, default=128)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--methods", default=",".join(METHODS))
    r.add_argument("--tsne", action="store_true", help="Write t-SNE PNGs of DLEP features.")
    r.add_argument("--tag", default="", help="Suffix of the output names (e.g. _e65).")
    r.add_argument("--protocols", default="chrono,kfold")
    r.add_argument("--design", choices=["dlep", "operational"], default="dlep")
    r.add_argument("--leak", choices=["none", "indicators", "cnn", "both"], default="none")
    r.set_defaults(fn=run)
    lc = sub.add_parser("leak-check")
    lc.add_argument("--region", choices=sorted(SETUPS), default="japan")
    lc.add_argument("--methods", default="2016n,2019f")
    lc.add_argument("--epochs", type=int, default=30)
    lc.add_argument("--threads", type=int, default=1)
    lc.set_defaults(fn=leak_check)
    p = sub.add_parser("report")
    p.add_argument("--notes", default=None,
                   help="Markdown appended to the report (discussion).")
    p.set_defaults(fn=report)
    args = ap.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
