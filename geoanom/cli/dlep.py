"""CLI commands: ``geoanom dlep evaluate`` (DLEP, its ablations, baselines and trivial
references on a catalog), ``geoanom dlep sweep`` (block size N and pattern length w) and
``geoanom dlep fuse`` (anomaly scores of several stations as a third stream, beside the same
scores shifted in time as a null).

Tables shaped like the DLEP paper's Tables III and IV go to stdout (or the results JSON with
``--json``); progress goes to stderr (a bar on a terminal, plain lines otherwise); the
results JSON (``-o``) carries provenance and one record per method, protocol and seed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from geoanom._malloc import keep_freed_memory
from geoanom.cli._box import parse_box
from geoanom.cli._table_options import map_option, open_catalog
from geoanom.dlep.config import DLEPConfig
from geoanom.errors import ValidationError
from geoanom.provenance import provenance

log = logging.getLogger(__name__)

DEFAULT_METHODS = "dlep,dlep-att,dlep-dyn,2016n,2019f,2018cnn,majority,pattern-max,climatology"
GEOMAG_METHODS = ("dlep+geomag", "geomag-only")
#: ``--preset``: hyper-parameters that go together.
PRESETS = {
    "paper": {"epochs": 65, "indim": 600},   # the DLEP paper's Table II (Indim1 = Indim2)
    "default": {"epochs": 65, "indim": 128},  # our default width (9x cheaper per step)
    "quick": {"epochs": 15, "indim": 64},     # a first look
}
#: torch threads unless ``--threads``: one thread is fastest on a loaded machine (several
#: threads per process contend with the other processes for the same cores).
DEFAULT_THREADS = 1


def _floats(text: str, what: str, n: tuple[int, ...]) -> tuple[float, ...]:
    try:
        vals = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise ValidationError(f"cannot read {what}", expected="comma-separated numbers",
                              found=text) from None
    if len(vals) not in n:
        raise ValidationError(f"wrong number of values in {what}",
                              expected=" or ".join(map(str, n)), found=text)
    return vals


def region_from_options(name: str, box: list[float] | None, edges: str | None,
                        min_magnitude: float | None = None):
    """The region for ``--region NAME [--box ...] [--edges ...] [--min-magnitude M]``.

    A preset name takes its Table I box and edges (``--edges quantiles`` switches to
    training-set quantiles). ``custom`` needs a box ``[lat0, lat1, lon0, lon1]`` (degrees,
    from :func:`geoanom.cli._box.parse_box`) and ``--edges``: four class boundaries (class 1
    is everything below the first), five lower class edges (the first is also the minimum
    magnitude kept), or ``quantiles``. ``min_magnitude`` drops smaller events before
    segmentation (with quantile edges it sets where the quintiles start).
    """
    import math
    from dataclasses import replace

    from geoanom.dlep.segment import custom_region, get_region

    if name.lower() == "custom":
        if box is None or edges is None:
            raise ValidationError("--region custom needs --box and --edges",
                                  expected="--box LAT0,LAT1,LON0,LON1 --edges 3.5,4,4.5,5 "
                                           "(or --edges quantiles)")
        if len(box) != 4:
            raise ValidationError("--box needs 4 numbers", expected="LAT0,LAT1,LON0,LON1",
                                  found=",".join(map(str, box)))
        la0, la1, lo0, lo1 = (float(v) for v in box)
        b = (lo0, lo1, la0, la1)
        if edges.strip().lower() == "quantiles":
            return custom_region(b, "quantiles", min_magnitude=min_magnitude)
        e = _floats(edges, "--edges", (4, 5))
        if len(e) == 4:
            mm = -math.inf if min_magnitude is None else min_magnitude
            return custom_region(b, (-math.inf, *e), min_magnitude=mm)
        return custom_region(b, e, min_magnitude=min_magnitude)
    reg = get_region(name)
    if box is not None:
        raise ValidationError("--box is only for --region custom",
                              found=",".join(map(str, box)))
    if edges is not None:
        if edges.strip().lower() != "quantiles":
            raise ValidationError("a preset region takes only --edges quantiles",
                                  expected="--region custom to set edges", found=edges)
        reg = replace(reg, edges="quantiles")
    if min_magnitude is not None:
        reg = replace(reg, min_magnitude=float(min_magnitude))
    return reg


def _map_label(table_map) -> str | None:
    cat = getattr(table_map, "catalog", None)
    return None if cat is None else str(getattr(cat, "label", cat))


def _common_options(fn):
    """Options shared by evaluate, sweep and fuse (catalog, region, segmentation, training)."""
    opts = [
        click.option("--catalog", "catalog_path", required=True,
                     type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Earthquake catalog (any format geoanom reads, or any delimited "
                          "table with --map)."),
        click.option("--region", required=True,
                     help="Preset (Sichuan, Xinjiang, Qinghai-Tibet, Shandong-Jiangsu, Japan, "
                          "Philippines, Chicago, 'Los Angeles') or custom."),
        click.option("--box", default=None, metavar="LAT0,LAT1,LON0,LON1",
                     help="Custom region box (degrees, latitude first, as geoanom fetch)."),
        click.option("--lat", default=None, metavar="LAT0,LAT1",
                     help="Custom region latitudes (with --lon, instead of --box)."),
        click.option("--lon", default=None, metavar="LON0,LON1",
                     help="Custom region longitudes (with --lat)."),
        click.option("--edges", default=None,
                     help="Class edges: 4 boundaries or 5 lower edges (magnitudes), or "
                          "'quantiles' (training-fold quintiles)."),
        click.option("--min-magnitude", type=float, default=None,
                     help="Drop smaller events before segmentation (sets where quantile "
                          "edges start)."),
        click.option("--design", type=click.Choice(["dlep", "operational"]), default="dlep",
                     show_default=True,
                     help="dlep: the paper's blocks (the label is the block maximum, so every "
                          "pattern event is smaller by construction); operational: patterns "
                          "end at a forecast time, the label is the largest of the next N "
                          "events (or N days)."),
        click.option("--leak", type=click.Choice(["none", "indicators", "cnn", "both"]),
                     default="none", show_default=True,
                     help="DIAGNOSTIC: let the main shock into its own pattern (indicators, "
                          "CNN input or both) to measure what that slip does; never a "
                          "result."),
        click.option("--preset", type=click.Choice(sorted(PRESETS)), default="default",
                     show_default=True,
                     help="paper: 65 epochs, Indim 600 (the paper's Table II); default: 65 "
                          "epochs, Indim 128; quick: 15 epochs, Indim 64.  --epochs/--indim "
                          "override."),
        click.option("--epochs", default=None, type=click.IntRange(1),
                     help="Training epochs (overrides the preset)."),
        click.option("--indim", default=None, type=click.IntRange(1),
                     help="EF/IF width (overrides the preset)."),
        click.option("--seeds", "n_seeds", default=5, show_default=True,
                     type=click.IntRange(1),
                     help="Seeds 0..N-1 (spread over seeds; one seed prints 'n/a')."),
        click.option("--n-events", default=None, type=click.IntRange(1),
                     help="Block (or target) size in events (default: the region's, 20)."),
        click.option("--n-days", default=None, type=click.FloatRange(min=0, min_open=True),
                     help="Block (or target) size in days (instead of --n-events)."),
        click.option("-w", "--pattern-length", "w", default=10, show_default=True,
                     type=click.IntRange(1), help="Events in a precursory pattern."),
        click.option("--threads", default=None, type=click.IntRange(1),
                     help=f"torch CPU threads (default {DEFAULT_THREADS}: fastest on a "
                          "loaded machine)."),
        click.option("--no-progress", is_flag=True, help="No progress on stderr."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    # --map FILE|NAME (e.g. world-m5) and --map-set KEY=VALUE: the shared column mapping
    return map_option(fn)


def _protocol_option(fn):
    return click.option("--protocol", type=click.Choice(["chrono", "kfold", "both"]),
                        default="chrono", show_default=True,
                        help="chrono: train on the past only (default); kfold: the paper's "
                             "shuffled 10-fold CV (leaky, labelled so); both.")(fn)


def _config(preset: str, epochs: int | None, indim: int | None):
    from dataclasses import replace

    p = PRESETS[preset]
    return replace(DLEPConfig(), epochs=epochs or p["epochs"], indim=indim or p["indim"])


def _threads(threads: int | None) -> int:
    """Torch threads for this command, and glibc's freed-memory reuse (this process is
    ours; :mod:`geoanom._malloc`)."""
    import torch

    keep_freed_memory()
    n = DEFAULT_THREADS if threads is None else int(threads)
    torch.set_num_threads(n)
    return n


def _segment(catalog, reg, design: str, leak: str, n_events, n_days, w: int):
    from geoanom.dlep.segment import leak_mainshock, segment_catalog, segment_operational

    if n_events is not None and n_days is not None:
        raise ValidationError("give --n-events or --n-days, not both")
    if design == "operational":
        if leak != "none":
            raise ValidationError("--leak is a diagnostic of the dlep design",
                                  expected="--design dlep with --leak", found=leak)
        return segment_operational(catalog, reg, n_events=n_events, n_days=n_days, w=w)
    samples = segment_catalog(catalog, reg, n_events=n_events, n_days=n_days, w=w)
    if leak != "none":
        samples = leak_mainshock(samples, leak)
    return samples


def _prepare(catalog_path, table_map, region, box, lat, lon, edges, min_magnitude, design,
             leak, n_events, n_days, w):
    from geoanom.dlep.segment import table1_check

    reg = region_from_options(region, parse_box(box, lat, lon), edges, min_magnitude)
    catalog = open_catalog(catalog_path, table_map)
    samples = _segment(catalog, reg, design, leak, n_events, n_days, w)
    if len(samples) < 4:
        raise ValidationError("too few DLEP samples in this region and catalog",
                              path=catalog_path, expected=">= 4 samples",
                              found=f"{len(samples)} (region {reg.name}, "
                                    f"{len(samples.events)} events in the box)")
    check = table1_check(catalog, reg, samples) if reg.paper_label_counts else None
    return catalog, reg, samples, check


def _echo_table1(check: dict | None) -> None:
    if not check:
        return
    click.echo(f"Table I check ({check['region']}): paper {check['paper_counts']} "
               f"({check['paper_instances']} samples); ours {check.get('our_counts')} "
               f"({check.get('our_instances')}); catalog events per class (the ceiling) "
               f"{check.get('catalog_events_per_class')}")
    _warn_table1(check)


def _warn_table1(check: dict | None) -> None:
    """The Table I check's warnings, once each, on stderr (they stay in the results JSON)."""
    for wmsg in (check or {}).get("warnings", []):
        click.echo(f"WARNING: {wmsg}", err=True)


@click.group("dlep")
def dlep() -> None:
    """DLEP magnitude-class prediction from a catalog (paper reimplementation)."""


@dlep.command("evaluate")
@_common_options
@_protocol_option
@click.option("--methods", default=DEFAULT_METHODS, show_default=True,
              help="Comma-separated methods (majority, pattern-max, climatology are the "
                   "trivial references).")
@click.option("--geomag-scores", "geomag_scores", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Anomaly SCORES netCDF files (repeatable): adds dlep+geomag, geomag-only.")
@click.option("--tsne", "tsne_path", default=None, type=click.Path(path_type=Path),
              help="Write a t-SNE PNG of DLEP's fused features (first protocol).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1),
              help="Processes that share the training (each with --threads torch threads); "
                   "the numbers do not depend on it. 2 on a free 2-core machine halves the "
                   "wall time of a full table.")
@click.option("--json", "as_json", is_flag=True, help="Print the results JSON, not tables.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Results JSON (written atomically).")
def evaluate_cmd(catalog_path, table_map, region, box, lat, lon, edges, min_magnitude, design,
                 leak, preset, epochs, indim, n_seeds, n_events, n_days, w, threads,
                 no_progress, protocol, methods, geomag_scores, tsne_path, workers, as_json,
                 output) -> None:
    """Evaluate DLEP, DLEP(-Att), DLEP(-Dyn), the 2016N, 2019F, 2018CNN baselines and the
    trivial references on a catalog; print tables shaped like the paper's Tables III and IV,
    the Table I count check for preset regions, and which differences exceed the seed
    spread."""
    from geoanom.dlep.figures import write_tsne_png
    from geoanom.dlep.methods import METHODS, TRIVIAL_METHODS
    from geoanom.dlep.results import DLEPResults, samples_summary
    from geoanom.dlep.tables import evaluate_table, format_effects, format_table3, format_table4

    n_threads = _threads(threads)
    method_list = [m.strip().lower() for m in methods.split(",") if m.strip()]
    bad = [m for m in method_list
           if m not in METHODS and m not in GEOMAG_METHODS and m not in TRIVIAL_METHODS]
    if bad:
        raise ValidationError("unknown method",
                              expected=", ".join((*METHODS, *TRIVIAL_METHODS)),
                              found=", ".join(bad))
    if any(m in GEOMAG_METHODS for m in method_list) and not geomag_scores:
        raise ValidationError("geomagnetic methods need --geomag-scores",
                              found=", ".join(m for m in method_list if m in GEOMAG_METHODS))
    _, reg, samples, check = _prepare(catalog_path, table_map, region, box, lat, lon, edges,
                                      min_magnitude, design, leak, n_events, n_days, w)
    log.info("%d DLEP samples, class counts %s", len(samples), samples.class_counts())
    extra = None
    if geomag_scores:
        from geoanom.dlep import fusion

        extra = {"GF": fusion.stream_from_scores(list(geomag_scores), samples, reg)}
        method_list += [m for m in GEOMAG_METHODS if m not in method_list]
    cfg = _config(preset, epochs, indim)
    protocols = ["chrono", "kfold"] if protocol == "both" else [protocol]
    seeds = list(range(n_seeds))
    results = evaluate_table(samples, method_list, protocols, seeds=seeds,
                             extra_streams=extra, config=cfg, progress=not no_progress,
                             workers=workers)
    config = {"region": reg.to_dict(), "segmentation": samples.config, "methods": method_list,
              "protocols": protocols, "leaky_protocols": [p for p in protocols
                                                          if p == "kfold"],
              "design": design, "leak": leak, "preset": preset, "threads": n_threads,
              "workers": workers,
              "dlep": cfg.to_dict(), "catalog_map": _map_label(table_map)}
    if check is not None:
        config["table1_check"] = check
    if extra is not None:
        gf = extra["GF"]
        config["geomag_stream"] = {
            "coverage": getattr(gf, "coverage_summary", None),
            "fold_info": {str(k): {kk: vv for kk, vv in v.items() if kk != "normalisation"}
                          for k, v in getattr(gf, "fold_info", {}).items()}}
    prov = provenance(config=config, inputs=[catalog_path, *geomag_scores],
                      seeds={f"seed{i}": s for i, s in enumerate(seeds)},
                      extra={"type": "geoanom.DLEPResults"})
    res = DLEPResults(region=reg.name, samples=samples_summary(samples), results=results,
                      config=config, provenance=prov)
    res.write(output)
    if tsne_path is not None:
        first = results[protocols[0]]
        fused = next((first[m] for m in ("dlep", "dlep+geomag", "dlep-att", "dlep-dyn")
                      if m in first and first[m].features), None)
        if fused is None:
            raise ValidationError("--tsne needs a DLEP-family method",
                                  expected="dlep in --methods")
        write_tsne_png(fused, tsne_path)
    if as_json:
        _warn_table1(check)
        click.echo(json.dumps(res.to_dict(), indent=1, sort_keys=True))
        return
    click.echo(f"{reg.name}: {len(samples)} samples ({design} design"
               f"{'' if leak == 'none' else f', DIAGNOSTIC main shock leaked into {leak}'}), "
               f"class counts {samples.class_counts().tolist()}")
    _echo_table1(check)
    if extra is not None and getattr(extra["GF"], "coverage_summary", None):
        cov = extra["GF"].coverage_summary
        click.echo(f"geomagnetic stream: {cov['n_with_any_data']} of {cov['n_samples']} samples "
                   f"have any score in their window; per station {cov['per_station']}")
    for p in protocols:
        click.echo("")
        if p == "kfold":
            click.echo("kfold is LEAKY (shuffled folds over overlapping blocks): for comparison "
                       "with the paper only.")
        click.echo(format_table3(results[p], reg.name, p))
        click.echo("")
        click.echo(format_table4(results[p], reg.name, p))
        eff = format_effects(results[p])
        if eff:
            click.echo("")
            click.echo(eff)
    click.echo("")
    click.echo(f"results: {output}")
    if tsne_path is not None:
        click.echo(f"figure: {tsne_path}")


def _int_list(text: str | None, what: str) -> list[float]:
    if not text:
        return []
    return [float(v) for v in _floats(text, what, tuple(range(1, 100)))]


@dlep.command("sweep")
@_common_options
@click.option("--n-events-list", default="10,20,40", show_default=True,
              help="Block sizes in events to try.")
@click.option("--n-days-list", default="30,90", show_default=True,
              help="Block sizes in days to try (the N-days reading of the block; '' none).")
@click.option("--w-list", default="5,10,20", show_default=True,
              help="Pattern lengths to try.")
@click.option("--methods", default="dlep,2016n,2019f,majority,pattern-max", show_default=True,
              help="Methods per setting (each setting is a full evaluation).")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Sweep JSON (written atomically).")
def sweep_cmd(catalog_path, table_map, region, box, lat, lon, edges, min_magnitude, design,
              leak, preset, epochs, indim, n_seeds, n_events, n_days, w, threads,
              no_progress, n_events_list, n_days_list, w_list, methods, output) -> None:
    """Evaluate over a grid of block sizes N (events and days) and pattern lengths w under
    the chronological protocol: samples, class counts and MAUC per setting."""
    from geoanom._jsonfile import json_safe, write_json
    from geoanom.dlep.evaluate import evaluate
    from geoanom.dlep.methods import METHOD_LABELS
    from geoanom.dlep.tables import protocol_label

    n_threads = _threads(threads)
    reg = region_from_options(region, parse_box(box, lat, lon), edges, min_magnitude)
    catalog = open_catalog(catalog_path, table_map)
    cfg = _config(preset, epochs, indim)
    method_list = [m.strip().lower() for m in methods.split(",") if m.strip()]
    settings = ([("n_events", int(n), int(ww)) for n in _int_list(n_events_list, "--n-events-list")
                 for ww in _int_list(w_list, "--w-list")]
                + [("n_days", float(n), int(ww)) for n in _int_list(n_days_list, "--n-days-list")
                   for ww in _int_list(w_list, "--w-list")])
    rows = []
    seeds = list(range(n_seeds))
    for kind, n, ww in settings:
        kw = {"n_events": n} if kind == "n_events" else {"n_days": n}
        samples = _segment(catalog, reg, design, leak, kw.get("n_events"), kw.get("n_days"), ww)
        row = {"block": kind, "N": n, "w": ww, "n_samples": len(samples),
               "class_counts": samples.class_counts().tolist(), "results": {}}
        if len(samples) >= 20:
            for m in method_list:
                r = evaluate(samples, m, "chrono", seeds=seeds, config=cfg,
                             progress=not no_progress)
                row["results"][m] = {"acc_mean": r.acc_mean, "acc_std": r.acc_std,
                                     "mauc_mean": r.mauc_mean, "mauc_std": r.mauc_std,
                                     "per_seed": [{"seed": d["seed"], "acc": d["acc"],
                                                   "mauc": d["mauc"]} for d in r.per_seed]}
        else:
            row["skipped"] = "fewer than 20 samples"
        rows.append(row)
        cells = "  ".join(
            f"{METHOD_LABELS.get(m, m)} {100 * v['mauc_mean']:.1f}" for m, v in
            row["results"].items())
        click.echo(f"{kind}={n:g} w={ww}: {len(samples)} samples "
                   f"{row['class_counts']}  MAUC {protocol_label('chrono')}: "
                   f"{cells or row.get('skipped', '')}")
    config = {"region": reg.to_dict(), "design": design, "leak": leak, "dlep": cfg.to_dict(),
              "methods": method_list, "threads": n_threads, "protocol": "chrono"}
    write_json(output, json_safe({"type": "geoanom.DLEPSweep", "rows": rows, "config": config,
                                  "provenance": provenance(config=config,
                                                           inputs=[catalog_path])}))
    click.echo(f"results: {output}")


@dlep.command("fuse")
@_common_options
@click.option("--scores", "score_paths", multiple=True, required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Per-station anomaly SCORES netCDF files (repeatable; one or more per "
                   "station).")
@click.option("--shift-stream", "shift_days", default=365.0, show_default=True, type=float,
              help="The null: the same scores moved this many days later (0: no null row).")
@click.option("--variable", default="rmse", show_default=True,
              help="Score variable in the files.")
@click.option("--window-days", default=30, show_default=True, type=click.IntRange(1),
              help="Days of scores before each pattern end (L).")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Fusion JSON (written atomically).")
def fuse_cmd(catalog_path, table_map, region, box, lat, lon, edges, min_magnitude, design,
             leak, preset, epochs, indim, n_seeds, n_events, n_days, w, threads, no_progress,
             score_paths, shift_days, variable, window_days, output) -> None:
    """DLEP without and with the stations' anomaly scores as a third stream, and with the
    same scores shifted in time (a null that must not help), under the chronological
    (rolling-origin) protocol, in one table with the seed spread and the number of test
    samples that carry geomagnetic data."""
    from geoanom._jsonfile import json_safe, write_json
    from geoanom.dlep.fusion import run_fusion

    n_threads = _threads(threads)
    _, reg, samples, _ = _prepare(catalog_path, table_map, region, box, lat, lon, edges,
                                  min_magnitude, design, leak, n_events, n_days, w)
    cfg = _config(preset, epochs, indim)
    out = run_fusion(samples, list(score_paths), region=reg, shift_days=shift_days,
                     seeds=list(range(n_seeds)), config=cfg, variable=variable,
                     n_days=window_days, progress=not no_progress)
    config = {"region": reg.to_dict(), "segmentation": samples.config, "design": design,
              "dlep": cfg.to_dict(), "shift_days": shift_days, "variable": variable,
              "window_days": window_days, "threads": n_threads, "protocol": "chrono"}
    doc = {"type": "geoanom.DLEPFusion", **out, "config": config,
           "provenance": provenance(config=config, inputs=[catalog_path, *score_paths],
                                    seeds={f"seed{i}": i for i in range(n_seeds)})}
    write_json(output, json_safe(doc))
    click.echo(out["table"])
    click.echo(f"results: {output}")


commands = [dlep]
