"""CLI commands: ``geoanom test`` (the significance protocol of PROTOCOL.md)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from geoanom.cli._table_options import map_option
from geoanom.errors import FormatError, GeoanomError, ValidationError

log = logging.getLogger(__name__)


def _load_scores(path: Path, variable: str):
    import xarray as xr

    from geoanom.stats.alarm import check_scores

    try:
        ds = xr.load_dataset(path)
    except (OSError, ValueError) as exc:
        raise FormatError("cannot read the scores file (expected netCDF)", path=path,
                          found=str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                          ) from exc
    check_scores(ds, variable, path=path)
    return ds


def _load_activity(path: Path, variable: str | None = None, bin_days: float | None = None,
                   skip_bad_rows: bool = False):
    """The activity table for run_test from an index file (:func:`geoanom.io.indices.
    read_index`: CelesTrak/GFZ Kp, daily Kp/Ap, Dst, RC, OMNI, geoanom's fetched files, or
    any CSV with a time column and value columns), one variable of it, repeated on bins of
    ``bin_days`` where the index is coarser."""
    from geoanom.io.indices import read_index, to_activity_table

    idx = read_index(path, skip_bad_rows=skip_bad_rows)
    if idx.attrs.get("skipped_lines"):
        log.warning("%s: skipped unreadable rows on lines %s", path, idx.attrs["skipped_lines"])
    try:
        return to_activity_table(idx, variable, None if bin_days is None else bin_days * 86400.0)
    except GeoanomError as exc:
        raise FormatError(f"--activity-variable: {exc.message}", path=path,
                          expected=exc.expected, found=exc.found) from None


@click.command("test")
@click.option("--scores", "scores_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="SCORES netCDF (dim window: start, end, rmse, ...).")
@click.option("--catalog", "catalog_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Earthquake catalog file (any format geoanom reads).")
@click.option("--protocol", "protocol_path", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Protocol TOML. Default: protocol.toml beside SCORES (geoanom synth and "
                   "geoanom config suggest write one), else ./protocol.toml, else the "
                   "packaged defaults (geoanom docs protocol prints the protocol document).")
@click.option("--activity", "activity_path", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Activity index file for the baseline and guard-rail: Kp/ap (CelesTrak "
                   "3-hourly or daily, GFZ via geoanom fetch indices), Dst, RC, OMNI hourly, "
                   "or a CSV with a time column and value columns (kind recognised from the "
                   "header; see geoanom docs io).")
@click.option("--activity-variable", default=None, metavar="NAME",
              help="Which variable of the activity file (e.g. Kp, ap, Dst_nT, AE_nT; "
                   "default: the file's main one: Kp, Ap, Dst_nT, RC_nT or the first).")
@click.option("--activity-skip-bad-rows", is_flag=True,
              help="Drop unreadable rows of the activity file (listed in a warning) "
                   "instead of failing.")
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
@map_option
def test(scores_path, catalog_path, protocol_path, activity_path, activity_variable,
         activity_skip_bad_rows, remote_path, grid_paths, seed, output, figures, as_json,
         table_map=None) -> None:
    """Event-level significance test of anomaly scores against a catalog, with the seed
    paper's window-level Mann-Whitney test beside it. What it computes and why: the protocol
    document shipped with geoanom (geoanom docs protocol prints it; geoanom docs protocol
    --path gives its installed path).

    A non-significant result is a normal outcome (exit 0); bad input exits with 2.
    """
    from geoanom.cli._table_options import open_catalog
    from geoanom.detector.suggest import find_config, protocol_fit_error
    from geoanom.stats.protocol import load_protocol
    from geoanom.stats.result import summary_text
    from geoanom.stats.test import run_test

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
    catalog = open_catalog(catalog_path, table_map)
    activity = _load_activity(activity_path, activity_variable, proto.binning_bin_days,
                              activity_skip_bad_rows) if activity_path else None
    remote = _load_scores(remote_path, var) if remote_path else None
    extra = [_load_scores(g, var) for g in grid_paths]
    inputs = [p for p in (scores_path, catalog_path, protocol_path, activity_path, remote_path,
                          *grid_paths) if p is not None]
    try:
        result = run_test(scores, catalog, proto, activity=activity, remote_scores=remote,
                          extra_scores=extra, seed=seed, inputs=inputs)
    except ValidationError as exc:
        # the surrogates' own length check: say which protocol values fit these scores
        fit = (protocol_fit_error(scores, proto, path=protocol_path, force=True)
            if "too short for surrogates" in exc.message else None)
        if fit is None:
            raise
        raise fit from exc
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
