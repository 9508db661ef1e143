"""CLI group ``geoanom config``: configuration files fitted to a record.

``geoanom config suggest --record R --catalog C -o DIR`` writes ``DIR/detector.toml`` and
``DIR/protocol.toml`` (:mod:`geoanom.detector.suggest`); ``geoanom train`` and ``geoanom test`` read
them when run in DIR, when DIR holds the record, or when given ``--config``/``--protocol``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from geoanom.cli._table_options import map_option


@click.group("config")
def config() -> None:
    """Configuration files fitted to your record and catalog."""


@config.command("suggest")
@click.option("--record", "records", multiple=True, required=True,
              type=click.Path(dir_okay=False, exists=True),
              help="Station record file(s) of one station (repeatable).")
@click.option("--catalog", required=True, type=click.Path(dir_okay=False, exists=True),
              help="Earthquake catalog file.")
@click.option("-o", "--output", "output", default=".", show_default=True,
              type=click.Path(file_okay=False),
              help="Folder for detector.toml and protocol.toml (created if absent).")
@click.option("--m-min", "m_min", default=5.0, show_default=True, type=float,
              help="Target magnitude threshold.")
@click.option("--preprocess", "preprocess_from", default=None,
              type=click.Path(dir_okay=False, exists=True),
              help="A detector TOML whose [preprocess] table is applied before fitting and "
                   "copied into the new detector.toml.")
@click.option("--force", is_flag=True, help="Overwrite existing detector.toml/protocol.toml.")
@map_option(station=True)
def suggest(records: tuple[str, ...], catalog: str, output: str, m_min: float,
            preprocess_from: str | None, force: bool, table_map) -> None:
    """Write detector.toml and protocol.toml fitted to RECORD and CATALOG.

    Window length, stride, lead window, splits, embargo, declustering, bins and surrogate
    method are chosen from the record's span, cadence and gaps and the events the station
    sees; each choice carries a comment saying why. Prints the window counts per split.
    """
    from geoanom.cli._table_options import open_catalog, open_record
    from geoanom.detector.api import stateless_chain
    from geoanom.detector.config import read_detector_tables
    from geoanom.detector.preprocess import PreprocessConfig, apply_preprocess
    from geoanom.detector.suggest import suggest_configs, write_configs
    from geoanom.errors import ConfigError

    out = Path(output)
    for name in ("detector.toml", "protocol.toml"):
        if (out / name).exists() and not force:
            raise ConfigError("the output folder already holds a config; give --force to "
                              "replace it", path=out / name, expected="no existing file")
    record = open_record(list(records), table_map)
    cat = open_catalog(catalog, table_map)
    pre = None
    if preprocess_from is not None:
        pre = read_detector_tables(preprocess_from)["preprocess"]
        pcfg = PreprocessConfig.from_dict(pre, path=preprocess_from)
        record = apply_preprocess(record, stateless_chain(pcfg))
    s = suggest_configs(record, cat, m_min=m_min)
    det, pro = write_configs(s, out, preprocess=pre,
                             header=f"Written by geoanom config suggest from "
                                    f"{', '.join(Path(r).name for r in records)} and "
                                    f"{Path(catalog).name}.")
    for w in s.warnings:
        click.echo(f"geoanom: warning: {w}", err=True)
    click.echo(json.dumps({"detector": str(det), "protocol": str(pro),
                           "record": s.facts.describe(), "window_counts": s.counts,
                           "warnings": s.warnings}))


@click.group("docs")
def docs() -> None:
    """Documents shipped with geoanom."""


@docs.command("protocol")
@click.option("--path", "show_path", is_flag=True, help="Print the installed file's path only.")
def docs_protocol(show_path: bool) -> None:
    """Print the significance protocol document that geoanom test follows (PROTOCOL.md)."""
    from geoanom.errors import MissingDependencyError

    path = Path(__file__).resolve().parents[1] / "stats" / "PROTOCOL.md"
    if not path.is_file():  # pragma: no cover - a broken installation
        raise MissingDependencyError("the protocol document is missing from this installation",
                                     path=path, expected="geoanom/stats/PROTOCOL.md")
    click.echo(str(path) if show_path else path.read_text(encoding="utf-8"))


commands = [config, docs]
