"""CLI command ``geoanom demo``: the whole mission on the built-in synthetic world.

A thin layer over :func:`geoanom.demo.run_demo` (a study on the synthetic world); progress
on stderr, the path of the report and its verdicts as JSON on stdout.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from geoanom.errors import ConfigError


@click.command("demo")
@click.option("-o", "--output", "output", default="geoanom-demo", show_default=True,
              type=click.Path(path_type=Path), help="Report folder (created if absent).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Master seed (world, training, surrogates).")
@click.option("--quick", is_flag=True,
              help="A reduced run (3 years, one test year, tiny training, few surrogates): "
                   "checks the installation in about a minute; its numbers mean little.")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1),
              help="torch CPU threads (the demo's models are small: one is usually fastest).")
@click.option("--no-progress", is_flag=True, help="No progress lines on stderr.")
@click.pass_context
def demo(ctx: click.Context, output: Path, seed: int, quick: bool, threads: int,
         no_progress: bool) -> None:
    """A study on the built-in synthetic world: two stations that see the same earthquakes,
    SYA with precursors and SYB without; rolling-origin negative-learning detector, plain
    autoencoder and activity-only score, the event-level test per station and pooled, and
    a report folder (summary.md with the truth beside the verdicts, results.json, figures,
    scores per station, demo_study.toml to rerun it with geoanom study).
    """
    from geoanom.demo import DemoConfig, run_demo

    if output.exists() and not output.is_dir():
        raise ConfigError("the report folder is an existing file", path=output,
                          expected="a folder (new or existing)", found="a file")
    cfg = (DemoConfig.quick_config(seed, threads=threads) if quick else
        DemoConfig(seed=seed, threads=threads))
    # ``geoanom -q`` silences the progress lines too
    quiet = bool((ctx.find_root().params or {}).get("quiet"))
    res = run_demo(output, cfg, progress=not (no_progress or quiet))
    tv = res["demo"]["truth_vs_verdict"]
    click.echo(json.dumps({
        "report": str(output), "summary": str(output / "summary.md"),
        "verdicts": {k: {"verdict": v["verdict"], "p_value": v["p_value"],
                         "events": v["n_independent_events"],
                         "agrees_with_truth": v["agrees_with_truth"]} for k, v in tv.items()},
        "seconds": res["timings_s"]["total"],
    }))


commands = [demo]
