"""CLI commands: ``geoanom test`` (the significance protocol of PROTOCOL.md)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from geoanom.errors import FormatError

log = logging.getLogger(__name__)


def _load_scores(path: Path, variable: str):
    import xarray as xr

    from geoanom.stats.protocol import check_scores

    try:
        ds = xr.load_dataset(path)
    except (OSError, ValueError) as exc:
        raise FormatError("cannot read the scores file (expected netCDF)", path=path,
                          found=str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                          ) from exc
    check_scores(ds, variable, path=path)
    return ds


def _load_activity(path: Path):
    import pandas as pd

    try:
        df = pd.read_csv(path, comment="#")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise FormatError("cannot read the activity table (expected CSV)", path=path,
                          found=str(exc)) from exc
    cols = [c.strip().lower() for c in df.columns]
    df.columns = cols
    tcol = next((c for c in ("time", "date", "datetime") if c in cols), None)
    if tcol is None:
        raise FormatError("activity table has no time column", path=path, line=1,
                          expected="a header with time and a value column (e.g. kp or dst)",
                          found=",".join(cols))
    try:
        df["time"] = pd.to_datetime(df.pop(tcol), utc=True).dt.tz_localize(None)
    except (ValueError, TypeError) as exc:
        raise FormatError("activity table has unreadable times", path=path,
                          expected="ISO 8601 UTC times", found=str(exc)) from exc
    num = [c for c in df.columns if c != "time" and pd.api.types.is_numeric_dtype(df[c])]
    if not num:
        raise FormatError("activity table has no numeric column", path=path, line=1,
                          expected="time plus e.g. kp or dst", found=",".join(cols))
    return df[["time", num[0]]]


@click.command("test")
@click.option("--scores", "scores_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="SCORES netCDF (dim window: start, end, rmse, ...).")
@click.option("--catalog", "catalog_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Earthquake catalog file (any format geoanom reads).")
@click.option("--protocol", "protocol_path", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Protocol TOML. Default: ./protocol.toml, else protocol.toml beside "
                   "SCORES (geoanom synth and geoanom config suggest write one), else the "
                   "packaged defaults (geoanom docs protocol prints the protocol document).")
@click.option("--activity", "activity_path", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Activity index CSV (time plus e.g. kp or dst) for baseline and guard-rail.")
@click.option("--remote-scores", "remote_path", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="SCORES of a remote station (baseline and placebo).")
@click.option("--grid-scores", "grid_paths", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="SCORES of further stations of the declared grid (repeatable).")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed.")
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path),
              help="Result JSON (written atomically).")
@click.option("--figures", "figures", default=None, type=click.Path(path_type=Path),
              help="Folder for the PNG figures.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the result as JSON (the content of OUTPUT) instead of the summary.")
def test(scores_path, catalog_path, protocol_path, activity_path, remote_path, grid_paths,
         seed, output, figures, as_json) -> None:
    """Event-level significance test of anomaly scores against a catalog (PROTOCOL.md),
    with the seed paper's window-level Mann-Whitney test beside it.

    A non-significant result is a normal outcome (exit 0); bad input exits with 2.
    """
    from geoanom.io.catalog import read_catalog
    from geoanom.stats.protocol import load_protocol, run_test, summary_text
    from geoanom.suggest import find_config, protocol_fit_error

    found = find_config("protocol.toml", protocol_path, [str(scores_path)])
    if found is not None and protocol_path is None:
        click.echo(f"geoanom: using protocol {found}", err=True)
    protocol_path = found
    proto = load_protocol(protocol_path)
    var = proto.binning_score_variable
    scores = _load_scores(scores_path, var)
    err = protocol_fit_error(scores, proto, path=protocol_path)
    if err is not None:
        raise err
    catalog = read_catalog(catalog_path)
    activity = _load_activity(activity_path) if activity_path else None
    remote = _load_scores(remote_path, var) if remote_path else None
    extra = [_load_scores(g, var) for g in grid_paths]
    inputs = [p for p in (scores_path, catalog_path, protocol_path, activity_path, remote_path,
                          *grid_paths) if p is not None]
    result = run_test(scores, catalog, proto, activity=activity, remote_scores=remote,
                      extra_scores=extra, seed=seed, inputs=inputs)
    result.write(output)
    if as_json:
        click.echo(result.to_json())
    else:
        click.echo(summary_text(result))
        click.echo(f"result: {output}")
    if figures is not None:
        from geoanom.plot import plot_test_figures

        for f in plot_test_figures(result, figures):
            # with --json, stdout holds only the JSON document
            click.echo(f"figure: {f}", err=as_json)


commands = [test]
