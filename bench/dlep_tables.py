"""The DLEP paper's Table III and IV rows on real catalogs, the leak diagnostic and the
operational design, with the trivial references and the seed spread.

    # paper's settings (65 epochs, Indim 600), 5 seeds, both protocols, on 2 processes
    python bench/dlep_tables.py run --region japan --seeds 5 --epochs 65 --indim 600 \
        --workers 2 --tag _paper
    python bench/dlep_tables.py run --region sanjacinto --seeds 5 --epochs 65 --indim 600 \
        --workers 2 --tag _paper
    python bench/dlep_tables.py run --region aeta --seeds 5 --epochs 65 --indim 600 --tag _paper
    # leak diagnostic (kfold, as the paper) and operational design
    python bench/dlep_tables.py run --region japan --seeds 3 --epochs 30 --protocols kfold \
        --leak indicators --tag _leak_indicators      # also none, cnn, both
    python bench/dlep_tables.py run --region japan --seeds 3 --epochs 30 \
        --design operational --tag _operational
    python bench/dlep_tables.py report            # writes bench/DLEP_RESULTS.md

``run`` writes ``bench/dlep_runs/<region><tag>.json`` (a ``geoanom.DLEPResults`` file with
provenance and per-method wall/CPU time), rewritten after every method so that a run cut
short keeps what finished; with ``--workers N`` the whole table is trained at once on N
processes (:func:`geoanom.dlep.tables.evaluate_table`, the same numbers) and written at
the end with its total wall and CPU time (children included); ``report`` renders every run
beside the paper's numbers.

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
    from geoanom.io import read_catalog

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

    from geoanom.dlep import keep_freed_memory
    from geoanom.dlep.config import DLEPConfig
    from geoanom.dlep.evaluate import evaluate
    from geoanom.dlep.figures import write_tsne_png
    from geoanom.dlep.results import DLEPResults, samples_summary
    from geoanom.dlep.tables import evaluate_table
    from geoanom.provenance import provenance

    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as the geoanom dlep commands do (same numbers, faster)
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
    if args.workers > 1:
        t0, c0 = time.perf_counter(), _cpu_s()
        results = evaluate_table(samples, args.methods.split(","), protocols, seeds=seeds,
                                 config=cfg, progress=True, workers=args.workers)
        timing["table"] = {"wall_s": round(time.perf_counter() - t0, 1),
                           "cpu_s": round(_cpu_s() - c0, 1), "workers": args.workers}
        config["workers"] = args.workers
        prov = provenance(config=config, inputs=[path],
                          seeds={f"seed{i}": s for i, s in enumerate(seeds)},
                          extra={"type": "geoanom.DLEPResults", "timing_s": timing,
                                 "acknowledgement": SETUPS[args.region]["ack"]})
        out = DLEPResults(region=reg.name, samples=samples_summary(samples), results=results,
                          config=config, provenance=prov).write(
            RUNS / f"{args.region}{args.tag}.json")
        for protocol in protocols:
            for m, r in results[protocol].items():
                print(f"{protocol:6s} {m:11s} ACC {100 * r.acc_mean:6.2f}±"
                      f"{100 * r.acc_std:5.2f} MAUC {100 * r.mauc_mean:6.2f}±"
                      f"{100 * r.mauc_std:5.2f}", file=sys.stderr)
        print(f"wrote {out} ({timing['table']})", file=sys.stderr)
        return
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


def _cpu_s() -> float:
    """CPU seconds of this process and of its finished children (the pool's workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _pm(r: dict | None, what: str) -> str:
    """``mean ± sd`` in percent over seeds; "n/a" spread for one seed; "-" if not run."""
    if r is None or r.get(f"{what}_mean") is None:
        return "-"
    sd = r.get(f"{what}_std")
    return f"{100 * r[f'{what}_mean']:.2f} ± " + ("n/a" if sd is None else f"{100 * sd:.2f}")


TRIVIAL = ["majority", "pattern-max", "climatology"]
LABEL = {"2016n": "2016N", "2018cnn": "2018CNN", "2019f": "2019F", "dlep": "DLEP",
         "dlep-att": "DLEP(-Att)", "dlep-dyn": "DLEP(-Dyn)", "majority": "majority",
         "pattern-max": "pattern max", "climatology": "climatology"}


def _effects(res: dict, ref: str = "dlep") -> list[str]:
    """DLEP minus each other method (MAUC points) against the larger seed spread."""
    if ref not in res:
        return []
    out = []
    a = np.asarray([d["mauc"] for d in res[ref]["per_seed"]], float)
    for m, r in res.items():
        if m == ref:
            continue
        b = np.asarray([d["mauc"] for d in r["per_seed"]], float)
        diff = 100 * (np.nanmean(a) - np.nanmean(b))
        if min(a.size, b.size) < 2:
            out.append(f"{LABEL.get(m, m)} {diff:+.2f} (one seed: no claim)")
            continue
        sp = 100 * max(np.nanstd(a, ddof=1), np.nanstd(b, ddof=1))
        out.append(f"{LABEL.get(m, m)} {diff:+.2f} (spread {sp:.2f}: "
                   f"{'effect' if abs(diff) > sp else 'not an effect'})")
    return out


def _load(tag: str) -> dict | None:
    f = RUNS / f"{tag}.json"
    return json.loads(f.read_text()) if f.exists() else None


def _table1_lines(region_key: str) -> list[str]:
    """The Table I ceiling check for a preset region, computed from the data."""
    from geoanom.dlep.segment import table1_check

    if "region" not in SETUPS[region_key]:
        return []
    from geoanom.io import read_catalog

    _, reg, smp = _samples(region_key)
    cat = read_catalog(DATA / SETUPS[region_key]["file"])
    chk = table1_check(cat, reg, smp)
    RUNS.mkdir(parents=True, exist_ok=True)
    (RUNS / f"table1_{region_key}.json").write_text(json.dumps(chk, indent=1) + "\n")
    lines = ["| class | edges (M) | paper samples | catalog events (ceiling) | our samples |",
             "|---|---|---|---|---|"]
    e = chk["edges"] + [None]
    for k in range(5):
        rng = f"{e[k]}..{e[k + 1]}" if e[k + 1] is not None else f">= {e[k]}"
        flag = " **unreachable**" if (k + 1) in chk["unreachable_classes"] else ""
        lines.append(f"| {k + 1} | {rng} | {chk['paper_counts'][k]} | "
                     f"{chk['catalog_events_per_class'][k]}{flag} | {chk['our_counts'][k]} |")
    lines += ["", f"Paper {chk['paper_instances']} samples; ours {chk['our_instances']} "
                  f"(blocks of {SETUPS[region_key]['n_events']} events, patterns of "
                  f"{SETUPS[region_key]['w']}); catalog {chk['catalog_span'][0]} to "
                  f"{chk['catalog_span'][1]}."]
    lines += [f"- warning: {w}" for w in chk["warnings"]]
    return lines + [""]


def _run_section(tag: str, d: dict) -> list[str]:
    from geoanom.dlep.paper import PAPER_TABLE3, PAPER_TABLE4

    reg, smp, res, cfg, prov = (d["region"], d["samples"], d["results"], d["config"],
                                d["provenance"])
    # cheap references run separately on the same samples and folds (same region, design
    # dlep, no leak): `run --tag _refs --methods majority,pattern-max,climatology,2019f,2016n`
    refs = _load(tag.split("_")[0] + "_refs")
    if (refs is not None and not tag.endswith("_refs")
            and cfg["segmentation"].get("design", "dlep") == "dlep"
            and cfg.get("leak", "none") == "none"
            and refs["samples"]["n_samples"] == smp["n_samples"]):
        res = {p: {**{m: r for m, r in refs["results"].get(p, {}).items()
                      if m not in rs}, **rs} for p, rs in res.items()}
    seeds = sorted(prov.get("seeds", {}).values())
    seg = cfg["segmentation"]
    lines = [f"### {reg} (`{tag}`)", "",
             f"{smp['n_samples']} samples (main shocks {smp['first_mainshock'][:10]} to "
             f"{smp['last_mainshock'][:10]}), class counts {smp['class_counts']}, design "
             f"{seg.get('design', 'dlep')}{', LEAK ' + cfg['leak'] if cfg.get('leak', 'none') != 'none' else ''}, "
             f"N = {seg['n_events'] or seg['n_days']} {'events' if seg['n_events'] else 'days'}, "
             f"w = {seg['w']}, class edges "
             f"{'training-fold quintiles' if cfg['region']['edges'] == 'quantiles' else cfg['region']['edges']}; "
             f"seeds {seeds}; epochs {cfg['dlep']['epochs']}, batch {cfg['dlep']['batch_size']}, "
             f"lr {cfg['dlep']['lr']}, Indim {cfg['dlep']['indim']}, {cfg.get('threads', 1)} "
             f"torch thread; data: {prov.get('acknowledgement', '')}.", ""]
    cols = ["2016n", "2018cnn", "2019f", "dlep", *TRIVIAL]
    lines += ["| protocol | " + " | ".join(f"ACC {LABEL[m]}" for m in cols) + " | "
              + " | ".join(f"MAUC {LABEL[m]}" for m in cols) + " |",
              "|---" * (1 + 2 * len(cols)) + "|"]
    for p in ("chrono", "kfold"):
        if p in res:
            name = "kfold (leaky)" if p == "kfold" else p
            lines.append(f"| {name} | " + " | ".join(_pm(res[p].get(m), "acc") for m in cols)
                         + " | " + " | ".join(_pm(res[p].get(m), "mauc") for m in cols) + " |")
    honest = seg.get("design", "dlep") == "dlep" and cfg.get("leak", "none") == "none"
    if reg in PAPER_TABLE3 and honest:
        pt = PAPER_TABLE3[reg]
        lines.append("| paper (10-fold) | " + " | ".join(
            f"{pt['acc'][m]:.2f}" if m in pt["acc"] else "-" for m in cols) + " | "
            + " | ".join(f"{pt['mauc'][m]:.2f}" if m in pt["mauc"] else "-" for m in cols)
            + " |")
    t4 = ["dlep", "dlep-att", "dlep-dyn"]
    lines += ["", "| protocol | MAUC DLEP | MAUC DLEP(-Att) | MAUC DLEP(-Dyn) | "
                  "ACC DLEP(-Att) | ACC DLEP(-Dyn) |", "|---|---|---|---|---|---|"]
    for p in ("chrono", "kfold"):
        if p in res:
            name = "kfold (leaky)" if p == "kfold" else p
            lines.append(f"| {name} | " + " | ".join(_pm(res[p].get(m), "mauc") for m in t4)
                         + f" | {_pm(res[p].get('dlep-att'), 'acc')} | "
                         f"{_pm(res[p].get('dlep-dyn'), 'acc')} |")
    if reg in PAPER_TABLE4 and honest:
        lines.append("| paper (10-fold) | " + " | ".join(f"{PAPER_TABLE4[reg][m]:.2f}"
                                                        for m in t4) + " | - | - |")
    lines.append("")
    for p in ("chrono", "kfold"):
        if p in res and "dlep" in res[p]:
            lines.append(f"- DLEP minus each method, MAUC points, {p}: "
                         + "; ".join(_effects(res[p])) + ".")
    want = [m for m in METHODS]
    missing = [f"{p}/{m}" for p in ("chrono", "kfold")
               if p in cfg.get("setup", {}).get("protocols", [p]) for m in want
               if p in res and m not in res[p]]
    timing = prov.get("timing_s", {})
    if timing:
        lines.append("- time per method (wall / CPU s): " + ", ".join(
            f"{k} {v['wall_s'] if isinstance(v, dict) else v}"
            + (f" / {v['cpu_s']}" if isinstance(v, dict) else "") for k, v in timing.items())
            + ".")
    if missing:
        lines.append(f"- not finished in this run: {', '.join(missing)}.")
    return lines + [""]


def report(args: argparse.Namespace) -> None:
    lines = ["# DLEP on real catalogs: our measurements beside the paper's", "",
             "Written by `python bench/dlep_tables.py report` from `bench/dlep_runs/*.json` "
             "(each made by `python bench/dlep_tables.py run ...`; the commands are under "
             "each section). Percent; ours are mean ± sample standard deviation over seeds "
             "(seed = fold shuffle, initialisation, batch order, dropout; a seed's numbers "
             "do not depend on which other seeds run beside it); \"n/a\" where one seed "
             "gives no spread. Per seed, ACC and MAUC are means over folds. MAUC is Hand "
             "and Till's (sklearn `roc_auc_score(..., multi_class='ovo', average='macro', "
             "labels=range(5))`; a fold missing a class averages the pairs present). A "
             "difference is called an effect only when it exceeds the larger seed spread of "
             "the two methods.", "",
             "**chrono** (the default) trains only on samples whose label was known before "
             "the test block (expanding window, later half tested in 5 blocks). **kfold** "
             "is the paper's shuffled 10-fold cross-validation and **leaks** (consecutive "
             "catalog blocks overlap). Trivial references: **majority** (the training "
             "fold's commonest class), **pattern max** (the class of the largest event in "
             "the sample's own pattern), **climatology** (training class frequencies as "
             "the probability forecast: MAUC 50 % by construction, the Brier reference).",
             ""]
    if args.notes and Path(args.notes).exists():
        lines += [Path(args.notes).read_text(), ""]
    lines += ["## Table I check: what the catalog can give", "",
              "Each main shock is a distinct catalog event, so class k can never hold more "
              "samples than the catalog has events of class k in the box "
              "(`geoanom.dlep.segment.table1_check`; `geoanom dlep evaluate` prints it for "
              "preset regions).", "", "Japan:", ""]
    lines += _table1_lines("japan")
    groups = [("## Tables III and IV at the paper's settings (65 epochs, Indim 600)",
               ["japan_paper", "sanjacinto_paper", "aeta_paper"]),
              ("## Tables at reduced settings (30 epochs, Indim 128)",
               ["japan_e30_chrono", "japan_leak_none"]),
              ("## Operational design", ["japan_operational"]),
              ("## Leak diagnostic runs", ["japan_leak_indicators", "japan_leak_cnn",
                                           "japan_leak_both"])]
    for title, tags in groups:
        lines += [title, ""]
        for tag in tags:
            d = _load(tag)
            if d is None:
                lines += [f"### `{tag}`: not run or not finished (no results file)", ""]
                continue
            lines += _run_section(tag, d)
    lines += _leak_table()
    lines += _sweep_section()
    lines += _fusion_section()
    from geoanom._atomic import atomic_write_text

    atomic_write_text(RESULTS_MD, "\n".join(lines) + "\n")
    print(f"wrote {RESULTS_MD}", file=sys.stderr)


def _leak_table() -> list[str]:
    runs = {m: _load(f"japan_leak_{m}") for m in ("none", "indicators", "cnn", "both")}
    if runs["none"] is None:
        return []
    lines = ["## Leak table: the main shock in its own pattern (Japan, kfold as the paper)", "",
             "`geoanom dlep evaluate --leak indicators|cnn|both` (diagnostic; "
             "`bench/dlep_tables.py run --region japan --leak MODE`). MAUC %, mean ± sd "
             "over seeds; '-' = not finished.", "",
             "| method | honest | indicators leaked | CNN input leaked | both leaked |",
             "|---|---|---|---|---|"]
    for m in METHODS:
        cells = []
        for mode in ("none", "indicators", "cnn", "both"):
            d = runs[mode]
            r = None if d is None else d["results"].get("kfold", {}).get(m)
            cells.append(_pm(r, "mauc"))
        lines.append(f"| {LABEL[m]} | " + " | ".join(cells) + " |")
    return lines + [""]


def _sweep_section() -> list[str]:
    f = RUNS / "sweep_japan.json"
    if not f.exists():
        return []
    d = json.loads(f.read_text())
    methods = d["config"]["methods"]
    lines = ["## Sweep over the block size N (events and days) and the pattern length w", "",
             "`geoanom dlep sweep --catalog .../japan_usgs_1990_2019_EarthquakeNPP.csv "
             "--region Japan --n-events-list 10,20,40 --n-days-list 30,90 --w-list 5,10,20 "
             "--methods majority,pattern-max,2019f --seeds 1` (chrono; MAUC %; the N-days "
             "rows are the paper's other reading of the block).", "",
             "| block | N | w | samples | class counts | "
             + " | ".join(f"MAUC {LABEL.get(m, m)}" for m in methods) + " |",
             "|---" * (5 + len(methods)) + "|"]
    for r in d["rows"]:
        cells = [f"{100 * r['results'][m]['mauc_mean']:.1f}" if m in r["results"] else "-"
                 for m in methods]
        lines.append(f"| {r['block']} | {r['N']:g} | {r['w']} | {r['n_samples']} | "
                     f"{r['class_counts']} | " + " | ".join(cells) + " |")
    return lines + [""]


def _fusion_section() -> list[str]:
    files = sorted(RUNS.glob("fusion_magdas*.json"))
    lines = ["## Fusion on the MAGDAS study scores", ""]
    if not files:
        return lines + ["Not run (no results file).", ""]
    lines += ["`geoanom dlep fuse` (commands in the notes above): DLEP without the stream, with "
              "the stations' negative-learning scores (the STUDY helper's rolling-origin "
              "scores, `study-magdas/stations/<CODE>/scores_negative_learning.nc`) and with the "
              "same scores shifted a year later (null), chronological protocol, same samples "
              "and folds; majority and climatology beside.", ""]
    for f in files:
        d = json.loads(f.read_text())
        cfg = d["config"]
        seeds = sorted(d["provenance"].get("seeds", {}).values())
        lines += [f"### Stations {', '.join(d['stations'])} (`{f.name}`)", "",
                  f"Box {cfg['region']['box_lon_lat_deg']} (lon0, lon1, lat0, lat1), world "
                  f"M>=5 catalog 2007-2019 (`--map world-m5`), "
                  f"{cfg['segmentation']['n_events']}-event blocks, w = "
                  f"{cfg['segmentation']['w']}, quintile edges; seeds {seeds}; epochs "
                  f"{cfg['dlep']['epochs']}, Indim {cfg['dlep']['indim']}; score variable "
                  f"`{cfg['variable']}`, {cfg['window_days']} days before each pattern end; "
                  f"null shift {cfg['shift_days']} days. Coverage: "
                  f"{d['coverage']['n_with_any_data']} of {d['coverage']['n_samples']} samples "
                  f"have scores in their window ({d['coverage']['per_station']}).", "",
                  "| variant | ACC % | MAUC % | test samples | test samples with geomagnetic "
                  "data |", "|---|---|---|---|---|"]
        for r in d["rows"]:
            lines.append(f"| {r['variant']} | {_pm(r, 'acc')} | {_pm(r, 'mauc')} | "
                         f"{r['n_test']} | "
                         f"{'-' if r['n_test_with_geomag'] is None else r['n_test_with_geomag']}"
                         " |")
        lines.append("")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--region", choices=sorted(SETUPS), required=True)
    r.add_argument("--seeds", type=int, default=2)
    r.add_argument("--epochs", type=int, default=65)
    r.add_argument("--indim", type=int, default=128)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--workers", type=int, default=1,
                   help="Processes for the whole table at once (same numbers).")
    r.add_argument("--methods", default=",".join(METHODS))
    r.add_argument("--tsne", action="store_true", help="Write t-SNE PNGs of DLEP features.")
    r.add_argument("--tag", default="", help="Suffix of the output names (e.g. _e65).")
    r.add_argument("--protocols", default="chrono,kfold")
    r.add_argument("--design", choices=["dlep", "operational"], default="dlep")
    r.add_argument("--leak", choices=["none", "indicators", "cnn", "both"], default="none")
    r.set_defaults(fn=run)
    p = sub.add_parser("report")
    p.add_argument("--notes", default=None,
                   help="Markdown appended to the report (discussion).")
    p.set_defaults(fn=report)
    args = ap.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
