"""CLI command ``geoanom demo``: the whole mission on the built-in synthetic world.

A thin layer over :func:`geoanom.demo.run_demo`; progress on stderr, the path of the report
and its key numbers as JSON on stdout.
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
              help="Master seed (world, training, surrogates, DLEP).")
@click.option("--quick", is_flag=True,
              help="A reduced run (150 days, tiny training, few surrogates): checks the "
                   "installation in about a minute; its numbers mean little.")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1),
              help="torch CPU threads (the demo's models are small: one is usually fastest).")
@click.option("--no-progress", is_flag=True, help="No progress lines on stderr.")
@click.pass_context
def demo(ctx: click.Context, output: Path, seed: int, quick: bool, threads: int,
         no_progress: bool) -> None:
    """Synthesise a world with known truth, train the negative-learning detector and the
    plain autoencoder, score, test (legacy and protocol), run DLEP with and without the
    geomagnetic stream, and write a report folder (summary.md, results.json, figures,
    scores netCDF).
    """
    from geoanom.demo import DemoConfig, run_demo

    if output.exists() and not output.is_dir():
        raise ConfigError("the report folder is an existing file", path=output,
                          expected="a folder (new or existing)", found="a file")
    cfg = DemoConfig.quick_config(seed, threads=threads) if quick else \
        DemoConfig(seed=seed, threads=threads)
    # ``geoanom -q`` silences the progress lines too
    quiet = bool((ctx.find_root().params or {}).get("quiet"))
    res = run_demo(output, cfg, progress=not (no_progress or quiet))
    sig = res["significance"]
    det = res["detector"]
    dl = res["dlep"]
    click.echo(json.dumps({
        "report": str(output), "summary": str(output / "summary.md"),
        "heldout_auc": {k: v["heldout"]["auc"] for k, v in det.items()},
        "primary_p": {k: sig[k]["primary"]["p_value"] for k in det},
        "legacy_p": {k: sig[k]["legacy"]["p_value"] for k in det},
        "dlep": {k: {"acc": v["acc_mean"], "mauc": v["mauc_mean"]}
                 for k, v in dl.get("variants", {}).items()} or dl.get("status"),
        "seconds": res["timings_s"]["total"],
    }))


commands = [demo]
