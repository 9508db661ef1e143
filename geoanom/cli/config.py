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
    from geoanom.detector.config import read_detector_tables
    from geoanom.detector.preprocess import PreprocessConfig, apply_stateless
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
        record = apply_stateless(record, pcfg)
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


#: Pages shipped with the package: name -> file below geoanom/.
SHIPPED_DOCS = {"protocol": "stats/PROTOCOL.md", "io": "docs/io.md",
                "mapping": "docs/mapping.md", "study": "docs/study.md"}


def _shipped(relative: str) -> Path:
    from geoanom.errors import MissingDependencyError

    path = Path(__file__).resolve().parents[1] / relative
    if not path.is_file():  # pragma: no cover - a broken installation
        raise MissingDependencyError("a document is missing from this installation",
                                     path=path, expected=f"geoanom/{relative}")
    return path


def _page_command(name: str, relative: str, summary: str) -> click.Command:
    @click.option("--path", "show_path", is_flag=True,
                  help="Print the installed file's path only.")
    def show(show_path: bool) -> None:
        path = _shipped(relative)
        click.echo(str(path) if show_path else path.read_text(encoding="utf-8"))

    show.__doc__ = summary
    return click.command(name)(show)


docs.add_command(_page_command(
    "protocol", SHIPPED_DOCS["protocol"],
    "Print the significance protocol document that geoanom test follows (PROTOCOL.md)."))
docs.add_command(_page_command(
    "io", SHIPPED_DOCS["io"],
    "Print the input/output conventions: record formats, catalogs, indices, outputs."))
docs.add_command(_page_command(
    "mapping", SHIPPED_DOCS["mapping"],
    "Print every key of a column mapping (--map FILE, --map-set KEY=VALUE)."))


@docs.command("study")
@click.option("--show", "show", default=None, metavar="NAME",
              help="Print a shipped study configuration instead (magdas, aeta-weekly).")
@click.option("--path", "show_path", is_flag=True, help="Print the installed file's path only.")
def docs_study(show: str | None, show_path: bool) -> None:
    """Print the study configuration reference (every table and key of geoanom study
    --config), or with --show a shipped study to start from."""
    from geoanom.errors import ConfigError

    if show is None:
        path = _shipped(SHIPPED_DOCS["study"])
    else:
        folder = _shipped(SHIPPED_DOCS["study"]).parents[1] / "studies"
        names = sorted(p.stem for p in folder.glob("*.toml"))
        if show not in names:
            raise ConfigError("no shipped study of that name", expected=", ".join(names),
                              found=show)
        path = folder / f"{show}.toml"
    click.echo(str(path) if show_path else path.read_text(encoding="utf-8"))


commands = [config, docs]
