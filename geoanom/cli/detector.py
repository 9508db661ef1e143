"""CLI commands of the detector: ``geoanom train`` and ``geoanom score``.

Option parsing over :func:`geoanom.detector.api.fit_detector` and
:meth:`geoanom.detector.api.Detector.score`; a JSON summary goes to stdout, progress to
stderr. The library is imported inside the commands so that ``geoanom --help`` and shell
completion do not load torch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from geoanom.cli._table_options import TableMaps, map_option, open_catalog, open_record
from geoanom.errors import ConfigError


def _read_activity(path: str | None):
    """An activity index file (:func:`geoanom.io.indices.read_index`: Kp, ap, Dst, RC,
    OMNI, or a table with a time column and named value columns)."""
    if path is None:
        return None
    from geoanom.io import read_index

    return read_index(path)


def _open_reference(paths: tuple[str, ...], table_map: TableMaps):
    """The remote reference record, read with the record mapping (None without files)."""
    return open_record(list(paths), TableMaps(table_map.record)) if paths else None


def set_torch_threads(threads: int | None) -> int:
    """Set torch's CPU threads for this process: ``threads``, else ``$GEOANOM_THREADS``,
    else 1. Returns the number set.

    One thread is the default because OpenMP spin-waiting makes two threads collapse on a
    loaded machine (measurements: ``bench/RESULTS.md``).
    """
    import torch

    if threads is None:
        env = os.environ.get("GEOANOM_THREADS", "").strip()
        try:
            threads = int(env) if env else 1
        except ValueError:
            raise ConfigError("GEOANOM_THREADS must be a whole number", expected="e.g. 1",
                              found=env) from None
    if threads < 1:
        raise ConfigError("torch threads must be >= 1", found=str(threads))
    torch.set_num_threads(int(threads))
    return int(threads)


THREADS_HELP = ("torch CPU threads (default: $GEOANOM_THREADS, else 1, which does not "
                "collapse on a loaded machine).")


@click.command("train")
@click.option("--record", "records", multiple=True, required=True,
              type=click.Path(dir_okay=False), help="Station record file(s) of one station "
              "(IAGA-2002, ImagCDF, netCDF); repeat for several files.")
@click.option("--catalog", required=True, type=click.Path(dir_okay=False),
              help="Earthquake catalog file.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Detector TOML with [windows], [train] and [preprocess] tables. Default: "
                   "detector.toml beside the first record (geoanom synth and geoanom config "
                   "suggest write one), else ./detector.toml, else the package defaults.")
@click.option("--activity", "activity_path", type=click.Path(dir_okay=False, exists=True),
              default=None, help="Activity index file (Kp, Dst...) for a [preprocess] "
                                 "regression on = \"activity\".")
@click.option("--reference", "reference_paths", multiple=True,
              type=click.Path(dir_okay=False, exists=True),
              help="Record file(s) of a remote reference station for a [preprocess] "
                   "regression on = \"reference\".")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Model folder (weights.pt, model.json, checkpoint.pt).")
@click.option("--device", default=None, help="cpu or cuda (default: cuda when present).")
@click.option("--seed", type=int, default=None, help="Override [train] seed.")
@click.option("--no-resume", is_flag=True, help="Ignore a checkpoint in the model folder.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help=THREADS_HELP)
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
@click.option("--no-figure", is_flag=True,
              help="Do not draw training.png (errors of normal and seismic windows and the "
                   "share of active penalties per epoch) into the model folder.")
@map_option(station=True)
def train(records: tuple[str, ...], catalog: str, config_path: str | None,
          activity_path: str | None, reference_paths: tuple[str, ...], output: str,
          device: str | None, seed: int | None, no_resume: bool, threads: int | None,
          no_progress: bool, no_figure: bool, table_map: TableMaps) -> None:
    """Train the negative-learning BiLSTM detector on RECORD(s) labelled with CATALOG.

    The record's span and cadence are checked against the window settings first; settings
    the record cannot satisfy exit with code 2, naming values that fit. A [preprocess]
    table runs before windowing; its fitted parts (regression, scaling) use the training
    period only, and the whole chain is stored in model.json for geoanom score.
    """
    from geoanom.detector.api import fit_detector
    from geoanom.detector.config import DetectorConfig
    from geoanom.detector.suggest import find_config

    set_torch_threads(threads)
    cfg_file = find_config("detector.toml", config_path, records)
    if cfg_file is not None and config_path is None:
        click.echo(f"geoanom: using detector config {cfg_file}", err=True)
    cfg = DetectorConfig.from_toml(cfg_file, **({"train": {"seed": seed}} if seed is not None
                                                else {}))
    raw = open_record(list(records), table_map)
    cat = open_catalog(catalog, table_map)
    inputs = ([*records, catalog] + ([str(cfg_file)] if cfg_file else []) +
        ([activity_path] if activity_path else [])) + list(reference_paths)
    det = fit_detector(raw, cat, cfg, out_dir=output, activity=_read_activity(activity_path),
                       reference=_open_reference(reference_paths, table_map), device=device,
                       resume=not no_resume, progress=not no_progress, inputs=inputs)
    if int(os.environ.get("RANK", "0")) != 0:
        return  # only rank 0 of a torchrun launch reports
    if not no_figure:
        from geoanom.plot import plot_training, save_figure

        save_figure(plot_training(det.model.meta["log"]), Path(output) / "training.png")
    nl = det.model.meta["metrics"]["negative_learning"]
    click.echo(json.dumps({
        "model": str(Path(output)),
        **{k: det.fit_summary[k] for k in ("device", "epochs_run", "best_epoch", "metric",
                                           "best_metric", "stopped_early",
                                           "lambda_at_best_epoch", "selection_fallback")},
        "config": str(cfg_file) if cfg_file else None,
        "preprocess": [s[0] for s in cfg.preprocess.steps],
        "window_counts": det.fit_summary["window_counts"],
        "split_counts": det.fit_summary["split_counts"],
        "negative_learning": {k: nl[k] for k in ("applies", "penalty_ever_active",
                                                 "penalty_active_share_at_best_epoch")},
        "detector_hash": det.hash(),
    }))


def _warn_other_record(det, record) -> None:
    """Warn (stderr) when RECORD differs from the one the model was trained on."""
    diffs = det.record_differences(record)
    if diffs:
        click.echo("geoanom: warning: scoring a record unlike the one the model was trained "
                   "on: " + "; ".join(diffs) + ". The errors then measure that difference "
                   "too.", err=True)


@click.command("score")
@click.option("--model", "model_dir", required=True, type=click.Path(file_okay=False),
              help="Model folder written by geoanom train.")
@click.option("--record", "records", multiple=True, required=True,
              type=click.Path(dir_okay=False), help="Station record file(s) of one station "
              "(raw: the model's [preprocess] chain is re-applied).")
@click.option("--activity", "activity_path", type=click.Path(dir_okay=False, exists=True),
              default=None, help="Activity index file, when the model's preprocessing "
                                 "regresses on one.")
@click.option("--reference", "reference_paths", multiple=True,
              type=click.Path(dir_okay=False, exists=True),
              help="Remote reference record file(s), when the model's preprocessing uses one.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Scores netCDF file.")
@click.option("--residuals", is_flag=True, help="Also write the residual series (dim time).")
@click.option("--chunk-windows", type=int, default=None,
              help="Windows per chunk (default: about 2^16 window-steps).")
@click.option("--device", default=None, help="cpu or cuda (default: cuda when present).")
@click.option("--scheduler", default=None,
              help="Score on dask.distributed: 'local' (a LocalCluster on this machine) or a "
                   "scheduler address (tcp://host:8786); records are opened lazily. Needs "
                   "the dask extra. Default: in this process.")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Worker processes of a local dask cluster (1 torch thread each).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help=THREADS_HELP)
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
@map_option(station=True)
def score(model_dir: str, records: tuple[str, ...], activity_path: str | None,
          reference_paths: tuple[str, ...], output: str, residuals: bool,
          chunk_windows: int | None, device: str | None, scheduler: str | None,
          workers: int, threads: int | None, no_progress: bool,
          table_map: TableMaps) -> None:
    """Score RECORD(s) with a trained model; write per-window errors as netCDF."""
    import numpy as np

    from geoanom.detector.api import load_detector
    from geoanom.detector.distributed import open_record_lazy
    from geoanom.detector.score import write_scores
    from geoanom.executor import dask_client

    set_torch_threads(threads)
    det = load_detector(model_dir, device="cpu" if scheduler is not None else device)
    inputs = list(records) + ([activity_path] if activity_path else []) + list(reference_paths)
    # a lazily opened record is scored chunk by chunk on the cluster; preprocessing needs the
    # samples, so a preprocessed record is read into memory
    lazy = scheduler is not None and not det.preprocessed and table_map.record is None
    record = open_record_lazy(list(records)) if lazy else open_record(list(records), table_map)
    _warn_other_record(det, record)
    regressors = {}
    if det.preprocessed:
        regressors = {"activity": _read_activity(activity_path),
                      "reference": _open_reference(reference_paths, table_map)}
    if scheduler is None:
        ds = det.score(record, residuals=residuals, chunk_windows=chunk_windows, inputs=inputs,
                       progress=False if no_progress else None, **regressors)
    else:
        with dask_client(scheduler, workers=workers) as client:
            ds = det.score(record, residuals=residuals, chunk_windows=chunk_windows,
                           inputs=inputs, client=client, **regressors)
    path = write_scores(ds, output)
    r = ds["rmse"].values
    click.echo(json.dumps({
        "scores": str(path), "windows": int(ds.sizes["window"]),
        "scored": int(np.isfinite(r).sum()),
        "preprocess": [s[0] for s in det.preprocess.config.steps] if det.preprocessed else [],
        "rmse_median": float(np.nanmedian(r)) if np.isfinite(r).any() else None,
    }))


commands = [train, score]
