"""CLI commands of the detector: ``geoanom train`` and ``geoanom score``.

Thin layers over :func:`geoanom.windows.build_window_set`, :func:`geoanom.nn.train.train` and
:func:`geoanom.score.score_record`; a JSON summary goes to stdout, progress to stderr.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from geoanom.errors import ConfigError

CONFIG_SECTIONS = ("windows", "train")


def read_detector_config(path: str | Path | None) -> tuple[dict, dict]:
    """Read a detector TOML file: tables ``[windows]`` (WindowConfig fields) and ``[train]``
    (TrainConfig fields). Returns the two dicts (empty when ``path`` is None)."""
    if path is None:
        return {}, {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        raise ConfigError("not valid TOML", path=p, line=line, found=str(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("cannot read the config file", path=p, found=str(exc)) from None
    unknown = sorted(set(doc) - set(CONFIG_SECTIONS))
    if unknown:
        raise ConfigError("unknown table(s) in the detector config: " + ", ".join(unknown),
                          path=p, expected="[windows] and [train]")
    for k in CONFIG_SECTIONS:
        if not isinstance(doc.get(k, {}), dict):
            raise ConfigError(f"'{k}' must be a table", path=p, expected=f"[{k}]",
                              found=type(doc[k]).__name__)
    return dict(doc.get("windows", {})), dict(doc.get("train", {}))


@click.command("train")
@click.option("--record", "records", multiple=True, required=True,
              type=click.Path(dir_okay=False), help="Station record file(s) of one station "
              "(IAGA-2002, ImagCDF, netCDF); repeat for several files.")
@click.option("--catalog", required=True, type=click.Path(dir_okay=False),
              help="Earthquake catalog file.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="TOML with [windows] (WindowConfig) and [train] (TrainConfig) tables.")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Model folder (weights.pt, model.json, checkpoint.pt).")
@click.option("--device", default=None, help="cpu or cuda (default: cuda when present).")
@click.option("--seed", type=int, default=None, help="Override [train] seed.")
@click.option("--no-resume", is_flag=True, help="Ignore a checkpoint in the model folder.")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
def train(records: tuple[str, ...], catalog: str, config_path: str | None, output: str,
          device: str | None, seed: int | None, no_resume: bool, no_progress: bool) -> None:
    """Train the negative-learning BiLSTM detector on RECORD(s) labelled with CATALOG."""
    from geoanom.io import read_record
    from geoanom.io.catalog import read_catalog
    from geoanom.nn.train import TrainConfig
    from geoanom.nn.train import train as train_model
    from geoanom.windows import WindowConfig, build_window_set, label_counts

    wdict, tdict = read_detector_config(config_path)
    try:
        wcfg = WindowConfig.from_dict(wdict)
        if seed is not None:
            tdict["seed"] = seed
        tcfg = TrainConfig.from_dict(tdict)
    except ConfigError as exc:
        if config_path is not None and exc.path is None:
            exc.path = config_path
        raise
    record = read_record(list(records))
    cat = read_catalog(catalog)
    ws = build_window_set(record, cat, wcfg)
    inputs = [*records, catalog] + ([config_path] if config_path else [])
    from geoanom.nn.ddp import launched_distributed, train_ddp

    # under torchrun (WORLD_SIZE set) the same command trains with DistributedDataParallel
    distributed = launched_distributed()
    trainer = train_ddp if distributed else train_model
    res = trainer(ws, tcfg, out_dir=output, device=device, resume=not no_resume,
                  progress=not no_progress, inputs=inputs)
    if distributed and int(os.environ.get("RANK", "0")) != 0:
        return  # only rank 0 reports
    click.echo(json.dumps({
        "model": str(Path(output)), "device": res.device, "epochs_run": res.epochs_run,
        "best_epoch": res.best_epoch, "metric": res.metric_name,
        "best_metric": res.best_metric, "stopped_early": res.stopped_early,
        "window_counts": label_counts(ws), "split_counts": res.meta["window_counts"],
    }))


@click.command("score")
@click.option("--model", "model_dir", required=True, type=click.Path(file_okay=False),
              help="Model folder written by geoanom train.")
@click.option("--record", "records", multiple=True, required=True,
              type=click.Path(dir_okay=False), help="Station record file(s) of one station.")
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
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
def score(model_dir: str, records: tuple[str, ...], output: str, residuals: bool,
          chunk_windows: int | None, device: str | None, scheduler: str | None,
          workers: int, no_progress: bool) -> None:
    """Score RECORD(s) with a trained model; write per-window errors as netCDF."""
    import numpy as np

    from geoanom.io import read_record
    from geoanom.nn.artifact import load_model
    from geoanom.nn.train import resolve_device
    from geoanom.score import score_record, write_scores

    if scheduler is not None:
        from geoanom.distributed import get_client, open_record_lazy, score_records

        lm = load_model(model_dir, device="cpu")
        record = open_record_lazy(list(records))
        client = get_client(scheduler, workers=workers)
        try:
            [ds] = score_records(lm, [record], client, chunk_windows=chunk_windows,
                                 residuals=residuals, inputs=[list(records)])
        finally:
            client.close()
            if scheduler == "local":
                client.cluster.close()
    else:
        lm = load_model(model_dir, device=resolve_device(device))
        record = read_record(list(records))
        ds = score_record(lm, record, chunk_windows=chunk_windows, residuals=residuals,
                          inputs=list(records), progress=False if no_progress else None)
    path = write_scores(ds, output)
    r = ds["rmse"].values
    click.echo(json.dumps({
        "scores": str(path), "windows": int(ds.sizes["window"]),
        "scored": int(np.isfinite(r).sum()),
        "rmse_median": float(np.nanmedian(r)) if np.isfinite(r).any() else None,
    }))


commands = [train, score]
