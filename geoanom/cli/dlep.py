"""CLI commands: ``geoanom dlep evaluate`` (DLEP, its ablations and baselines on a catalog).

Tables shaped like the DLEP paper's Tables III and IV go to stdout (or the results JSON with
``--json``); progress goes to stderr; the results JSON (``-o``) carries provenance.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from geoanom.errors import ValidationError

log = logging.getLogger(__name__)

DEFAULT_METHODS = "dlep,dlep-att,dlep-dyn,2016n,2019f,2018cnn"
GEOMAG_METHODS = ("dlep+geomag", "geomag-only")


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


def region_from_options(name: str, box: str | None, edges: str | None):
    """The region for ``--region NAME [--box ...] [--edges ...]``.

    A preset name takes its Table I box and edges (``--edges quantiles`` switches to
    training-set quantiles). ``custom`` needs ``--box LON0,LON1,LAT0,LAT1`` and ``--edges``:
    four class boundaries (class 1 is everything below the first), five lower class edges
    (the first is also the minimum magnitude kept), or ``quantiles``.
    """
    import math

    from geoanom.dlep.segment import custom_region, get_region

    if name.lower() == "custom":
        if box is None or edges is None:
            raise ValidationError("--region custom needs --box and --edges",
                                  expected="--box LON0,LON1,LAT0,LAT1 --edges 3.5,4,4.5,5 "
                                           "(or --edges quantiles)")
        b = _floats(box, "--box", (4,))
        if edges.strip().lower() == "quantiles":
            return custom_region(b, "quantiles")
        e = _floats(edges, "--edges", (4, 5))
        if len(e) == 4:
            return custom_region(b, (-math.inf, *e), min_magnitude=-math.inf)
        return custom_region(b, e)
    reg = get_region(name)
    if box is not None:
        raise ValidationError("--box is only for --region custom", found=box)
    if edges is not None:
        if edges.strip().lower() != "quantiles":
            raise ValidationError("a preset region takes only --edges quantiles",
                                  expected="--region custom to set edges", found=edges)
        from dataclasses import replace

        reg = replace(reg, edges="quantiles")
    return reg


@click.group("dlep")
def dlep() -> None:
    """DLEP magnitude-class prediction from a catalog (paper reimplementation)."""


@dlep.command("evaluate")
@click.option("--catalog", "catalog_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Earthquake catalog (any format geoanom reads).")
@click.option("--region", required=True,
              help="Preset (Sichuan, Xinjiang, Qinghai-Tibet, Shandong-Jiangsu, Japan, "
                   "Philippines, Chicago, 'Los Angeles') or custom.")
@click.option("--box", default=None, help="Custom region box LON0,LON1,LAT0,LAT1 (degrees).")
@click.option("--edges", default=None,
              help="Class edges: 4 boundaries or 5 lower edges (magnitudes), or 'quantiles'.")
@click.option("--protocol", type=click.Choice(["kfold", "chrono", "both"]), default="kfold",
              show_default=True,
              help="kfold: the paper's shuffled 10-fold CV (leaky); chrono: train on the past.")
@click.option("--methods", default=DEFAULT_METHODS, show_default=True,
              help="Comma-separated methods.")
@click.option("--seeds", "n_seeds", default=1, show_default=True, type=click.IntRange(1),
              help="Repeated runs with seeds 0..N-1 (mean and spread).")
@click.option("--n-events", default=None, type=click.IntRange(1),
              help="Block size in events (default: the region's, 20).")
@click.option("--n-days", default=None, type=click.FloatRange(min=0, min_open=True),
              help="Block size in days (instead of --n-events).")
@click.option("-w", "--pattern-length", "w", default=10, show_default=True,
              type=click.IntRange(1), help="Events in a precursory pattern.")
@click.option("--epochs", default=None, type=click.IntRange(1),
              help="Training epochs (default 65, the paper's).")
@click.option("--indim", default=None, type=click.IntRange(1),
              help="EF/IF width (default 128; the paper's 600 is ~10x slower).")
@click.option("--threads", default=None, type=click.IntRange(1),
              help="torch CPU threads (default: torch's; 1 is fastest on a shared machine).")
@click.option("--geomag-scores", "geomag_scores", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Anomaly SCORES netCDF files (repeatable): adds dlep+geomag, geomag-only.")
@click.option("--tsne", "tsne_path", default=None, type=click.Path(path_type=Path),
              help="Write a t-SNE PNG of DLEP's fused features (first protocol).")
@click.option("--json", "as_json", is_flag=True, help="Print the results JSON, not tables.")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Results JSON (written atomically).")
def evaluate_cmd(catalog_path, region, box, edges, protocol, methods, n_seeds, n_events,
                 n_days, w, epochs, indim, threads, geomag_scores, tsne_path, as_json,
                 no_progress, output) -> None:
    """Evaluate DLEP, DLEP(-Att), DLEP(-Dyn) and the 2016N, 2019F, 2018CNN baselines on a
    catalog; print tables shaped like the paper's Tables III and IV."""
    from dataclasses import replace

    from geoanom.dlep.evaluate import (
        METHODS,
        DLEPConfig,
        DLEPResults,
        evaluate_table,
        format_table3,
        format_table4,
        samples_summary,
        write_tsne_png,
    )
    from geoanom.dlep.segment import segment_catalog
    from geoanom.io.catalog import read_catalog
    from geoanom.provenance import provenance

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    reg = region_from_options(region, box, edges)
    method_list = [m.strip().lower() for m in methods.split(",") if m.strip()]
    bad = [m for m in method_list if m not in METHODS and m not in GEOMAG_METHODS]
    if bad:
        raise ValidationError("unknown method", expected=", ".join(METHODS),
                              found=", ".join(bad))
    if n_events is not None and n_days is not None:
        raise ValidationError("give --n-events or --n-days, not both")
    catalog = read_catalog(catalog_path)
    samples = segment_catalog(catalog, reg, n_events=n_events, n_days=n_days, w=w)
    log.info("%d DLEP samples, class counts %s", len(samples), samples.class_counts())
    extra = None
    if geomag_scores:
        from geoanom.dlep import fusion

        extra = {"GF": fusion.stream_from_scores(list(geomag_scores), samples, reg)}
        method_list += [m for m in GEOMAG_METHODS if m not in method_list]
    elif any(m in GEOMAG_METHODS for m in method_list):
        raise ValidationError("geomagnetic methods need --geomag-scores",
                              found=", ".join(m for m in method_list if m in GEOMAG_METHODS))
    cfg = DLEPConfig()
    if epochs is not None:
        cfg = replace(cfg, epochs=epochs)
    if indim is not None:
        cfg = replace(cfg, indim=indim)
    protocols = ["kfold", "chrono"] if protocol == "both" else [protocol]
    seeds = list(range(n_seeds))
    results = evaluate_table(samples, method_list, protocols, seeds=seeds,
                             extra_streams=extra, config=cfg, progress=not no_progress)
    config = {"region": reg.to_dict(), "segmentation": samples.config, "methods": method_list,
              "protocols": protocols, "dlep": cfg.to_dict()}
    if extra is not None:
        # how few samples the geomagnetic stream touches is part of the result
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
        click.echo(json.dumps(res.to_dict(), indent=1, sort_keys=True))
        return
    click.echo(f"{reg.name}: {len(samples)} samples, class counts "
               f"{samples.class_counts().tolist()}")
    if extra is not None and getattr(extra["GF"], "coverage_summary", None):
        cov = extra["GF"].coverage_summary
        click.echo(f"geomagnetic stream: {cov['n_with_any_data']} of {cov['n_samples']} samples "
                   f"have any score in their window; per station {cov['per_station']}")
    for p in protocols:
        click.echo("")
        click.echo(format_table3(results[p], reg.name, p))
        click.echo("")
        click.echo(format_table4(results[p], reg.name, p))
    click.echo("")
    click.echo(f"results: {output}")
    if tsne_path is not None:
        click.echo(f"figure: {tsne_path}")


commands = [dlep]
