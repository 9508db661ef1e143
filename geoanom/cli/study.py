"""CLI command ``geoanom study``: a whole study from one TOML file.

A thin layer over :func:`geoanom.study.run_study`; progress on stderr, the report's path
and headline numbers as JSON on stdout.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from geoanom.errors import ConfigError


@click.command("study")
@click.option("--config", "config_path", required=True,
              help="Study TOML file, or the name of a shipped study (magdas, aeta-weekly).")
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path),
              help="Report folder (created; a rerun resumes from the unit files in it).")
@click.option("--data-root", type=click.Path(path_type=Path), default=None,
              help="Folder that relative input paths resolve against (default: the "
                   "config's [study] data_root, e.g. ../shared/data).")
@click.option("--inject", is_flag=True,
              help="Also run the power study of the [power] table: synthetic precursors "
                   "injected into the real records before the real events and at random "
                   "times, detection rate per strength.")
@click.option("--scheduler", default=None,
              help="Run the units on dask.distributed: 'local' (a LocalCluster) or a "
                   "scheduler address (tcp://host:8786). Default: serial.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1),
              help="Workers of a local cluster.")
@click.option("--no-figures", is_flag=True, help="Skip the figures.")
@click.option("--no-progress", is_flag=True, help="No progress lines on stderr.")
@click.pass_context
def study(ctx: click.Context, config_path: str, output: Path, data_root: Path | None,
          inject: bool, scheduler: str | None, workers: int, no_figures: bool,
          no_progress: bool) -> None:
    """Run a study: per station, rolling-origin negative-learning detector, plain
    autoencoder and activity-only score; the event-level test per station (Kp/Dst as the
    activity baseline), a pooled test with the catalog shifted jointly at every station,
    Benjamini-Yekutieli control; summary.md, results.json, figures, scores per station.
    """
    from geoanom.study import load_study_config, run_study

    if output.exists() and not output.is_dir():
        raise ConfigError("the report folder is an existing file", path=output,
                          expected="a folder (new or existing)", found="a file")
    cfg = load_study_config(config_path, data_root=data_root)
    quiet = bool((ctx.find_root().params or {}).get("quiet"))
    res = run_study(cfg, output, scheduler=scheduler, workers=workers,
                    progress=not (no_progress or quiet), inject=inject,
                    figures=not no_figures)
    head = {det: {"pooled_auc": (a.get("pooled") or {}).get("auc"),
                  "pooled_p": (a.get("pooled") or {}).get("p_value"),
                  "pooled_events": (a.get("pooled") or {}).get("n_independent_events"),
                  "verdict": (a.get("pooled") or {}).get("verdict")}
            for det, a in res.get("across_stations", {}).items()}
    click.echo(json.dumps({"report": str(output), "summary": str(output / "summary.md"),
                           "pooled": head, "seconds": res["timings_s"].get("total")}))


commands = [study]
