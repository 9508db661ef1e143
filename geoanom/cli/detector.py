"""CLI commands of the detector: ``geoanom train`` and ``geoanom score``.

Thin layers over :func:`geoanom.detector.windows.build_window_set`, :func:`geoanom.detector.nn.train.train` and
:func:`geoanom.detector.score.score_record`; a JSON summary goes to stdout, progress to stderr.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from geoanom.cli._table_options import TableMaps, map_option
from geoanom.errors import ConfigError, LeakageError

CONFIG_SECTIONS = ("windows", "train", "preprocess")


def read_detector_tables(path: str | Path | None) -> dict[str, dict]:
    """Read a detector TOML file: tables ``[windows]`` (WindowConfig fields), ``[train]``
    (TrainConfig fields) and ``[preprocess]`` (:class:`geoanom.detector.preprocess.PreprocessConfig`).
    Returns ``{"windows": {...}, "train": {...}, "preprocess": {...}}`` (empty dicts when
    ``path`` is None or a table is absent)."""
    out: dict[str, dict] = {k: {} for k in CONFIG_SECTIONS}
    if path is None:
        return out
    from geoanom._toml import read_toml

    p = Path(path)
    doc = read_toml(p, what="detector config file")
    unknown = sorted(set(doc) - set(CONFIG_SECTIONS))
    if unknown:
        raise ConfigError("unknown table(s) in the detector config: " + ", ".join(unknown),
                          path=p, expected="[windows], [train] and [preprocess]")
    for k in CONFIG_SECTIONS:
        if not isinstance(doc.get(k, {}), dict):
            raise ConfigError(f"'{k}' must be a table", path=p, expected=f"[{k}]",
                              found=type(doc[k]).__name__)
        out[k] = dict(doc.get(k, {}))
    return out


def read_detector_config(path: str | Path | None) -> tuple[dict, dict]:
    """The ``[windows]`` and ``[train]`` tables of a detector TOML (see
    :func:`read_detector_tables`, which also returns ``[preprocess]``)."""
    t = read_detector_tables(path)
    return t["windows"], t["train"]


def _read_activity(path: str | None):
    """An activity index file (:func:`geoanom.io.indices.read_index`: Kp, ap, Dst, RC,
    OMNI, or a table with a time column and named value columns)."""
    if path is None:
        return None
    from geoanom.io.indices import read_index

    return read_index(path)


def _open_record(records, table_map: TableMaps | None = None):
    from geoanom.cli._table_options import open_record

    return open_record(list(records), table_map)


def _open_catalog(path: str, table_map: TableMaps | None = None):
    from geoanom.cli._table_options import open_catalog

    return open_catalog(path, table_map)


def set_torch_threads(threads: int | None) -> int:
    """Set torch's CPU threads for this process: ``threads``, else ``$GEOANOM_THREADS``,
    else 1. Returns the number set.

    One thread is the default because two can collapse on a loaded machine: ``geoanom
    train`` on a 30-day synthetic 1-minute world (3 epochs), 2 cores at load 14-16, took 51 s
    and 107 s with 1 thread, 392 s and 89 s with 2 (two runs each, measured for issue 13).
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


def _record_source(record) -> dict:
    from geoanom.record import component_names

    return {"iaga_code": str(record.attrs.get("iaga_code", "")),
            "sampling_period_s": float(record.attrs.get("sampling_period_s", float("nan"))),
            "components": list(component_names(record))}


def _training_period_end(record, catalog, wcfg):
    """End of the last training window of the window set ``record`` gives (the period the
    fitted preprocessing steps may learn from)."""
    import numpy as np

    from geoanom.detector.windows import build_window_set

    ws = build_window_set(record, catalog, wcfg)
    tr = ws["split"].values.astype(str) == "train"
    if not tr.any():
        return None
    return np.datetime64(ws["end"].values[tr].max(), "ns")


@click.command("train")
@click.option("--record", "records", multiple=True, required=True,
              type=click.Path(dir_okay=False), help="Station record file(s) of one station "
              "(IAGA-2002, ImagCDF, netCDF); repeat for several files.")
@click.option("--catalog", required=True, type=click.Path(dir_okay=False),
              help="Earthquake catalog file.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Detector TOML with [windows], [train] and [preprocess] tables. Default: "
                   "./detector.toml, else detector.toml beside the first record (geoanom "
                   "synth and geoanom config suggest write one), else the package defaults.")
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
@map_option(station=True)
def train(records: tuple[str, ...], catalog: str, config_path: str | None,
          activity_path: str | None, reference_paths: tuple[str, ...], output: str,
          device: str | None, seed: int | None, no_resume: bool, threads: int | None,
          no_progress: bool, table_map: TableMaps) -> None:
    """Train the negative-learning BiLSTM detector on RECORD(s) labelled with CATALOG.

    The record's span and cadence are checked against the window settings first; settings
    the record cannot satisfy exit with code 2, naming values that fit. A [preprocess]
    table runs before windowing; its fitted parts (regression, scaling) use the training
    period only, and the whole chain is stored in model.json for geoanom score.
    """
    import numpy as np

    from geoanom.detector.nn.train import TrainConfig
    from geoanom.detector.nn.train import train as train_model
    from geoanom.detector.preprocess import (
        FittedPreprocess,
        PreprocessConfig,
        apply_preprocess,
        fit_preprocess,
    )
    from geoanom.detector.suggest import check_windows_fit, explain_window_counts, find_config
    from geoanom.detector.windows import WindowConfig, build_window_set, label_counts

    set_torch_threads(threads)
    cfg_file = find_config("detector.toml", config_path, records)
    if cfg_file is not None and config_path is None:
        click.echo(f"geoanom: using detector config {cfg_file}", err=True)
    tables = read_detector_tables(cfg_file)
    tdict = tables["train"]
    try:
        wcfg = WindowConfig.from_dict(tables["windows"])
        if seed is not None:
            tdict["seed"] = seed
        tcfg = TrainConfig.from_dict(tdict)
        pcfg = PreprocessConfig.from_dict(tables["preprocess"], path=cfg_file)
    except ConfigError as exc:
        if cfg_file is not None and exc.path is None:
            exc.path = str(cfg_file)
        raise
    raw = _open_record(records, table_map)
    cat = _open_catalog(catalog, table_map)
    activity = _read_activity(activity_path)
    reference = _open_record(reference_paths, TableMaps(table_map.record)) \
        if reference_paths else None
    fitted = FittedPreprocess(config=pcfg, source=_record_source(raw))
    record = raw
    if not pcfg.empty:
        # the stateless steps decide validity (and cadence); the fitted steps learn from
        # the training windows' period of that record only
        stage = apply_preprocess(raw, FittedPreprocess(config=PreprocessConfig(
            components=pcfg.components,
            steps=tuple(s for s in pcfg.steps if s[0] not in ("regression", "scale")))))
        check_windows_fit(stage, cat, wcfg, path=cfg_file)
        train_end = None
        if pcfg.step("regression") is not None or pcfg.step("scale") is not None:
            train_end = _training_period_end(stage, cat, wcfg)
            if train_end is None:
                ws0 = build_window_set(stage, cat, wcfg)
                explain_window_counts(ws0, stage, cat, wcfg, path=cfg_file)
        fitted = fit_preprocess(raw, pcfg, train_end, activity, reference=reference)
        fitted.source = _record_source(raw)
        record = apply_preprocess(raw, fitted, activity=activity, reference=reference)
    else:
        check_windows_fit(record, cat, wcfg, path=cfg_file)
    ws = build_window_set(record, cat, wcfg)
    explain_window_counts(ws, record, cat, wcfg, path=cfg_file, need_seismic=tcfg.lam > 0)
    if fitted.train_end:
        held = np.isin(ws["split"].values.astype(str), ["val", "test"])
        first = ws["start"].values[held].min() if held.any() else None
        if first is not None and first < np.datetime64(fitted.train_end):
            raise LeakageError("the preprocessing was fitted on data a val/test window covers",
                               expected=f"first held-out window at or after {fitted.train_end}",
                               found=str(first))
    inputs = [*records, catalog] + ([str(cfg_file)] if cfg_file else []) + \
        ([activity_path] if activity_path else []) + list(reference_paths)
    from geoanom.detector.nn.artifact import add_model_meta
    from geoanom.detector.nn.ddp import launched_distributed, train_ddp

    # under torchrun (WORLD_SIZE set) the same command trains with DistributedDataParallel
    distributed = launched_distributed()
    trainer = train_ddp if distributed else train_model
    res = trainer(ws, tcfg, out_dir=output, device=device, resume=not no_resume,
                  progress=not no_progress, inputs=inputs)
    if distributed and int(os.environ.get("RANK", "0")) != 0:
        return  # only rank 0 reports
    add_model_meta(output, {"preprocess": fitted.to_dict(), "record": fitted.source})
    click.echo(json.dumps({
        "model": str(Path(output)), "device": res.device, "epochs_run": res.epochs_run,
        "best_epoch": res.best_epoch, "metric": res.metric_name,
        "best_metric": res.best_metric, "stopped_early": res.stopped_early,
        "lambda_at_best_epoch": res.meta["metrics"]["lambda_at_best_epoch"],
        "selection_fallback": res.meta["metrics"]["selection_fallback"],
        "config": str(cfg_file) if cfg_file else None,
        "preprocess": [s[0] for s in pcfg.steps],
        "window_counts": label_counts(ws), "split_counts": res.meta["window_counts"],
    }))


def _warn_other_record(meta: dict, record) -> None:
    """Warn (stderr) when RECORD differs from the one the model was trained on."""
    src = meta.get("record") or {}
    if not src:
        return
    now = _record_source(record)
    diffs = []
    if src.get("iaga_code") and now["iaga_code"] != src["iaga_code"]:
        diffs.append(f"station {now['iaga_code'] or 'unknown'} (model: {src['iaga_code']})")
    sp = src.get("sampling_period_s")
    if sp is not None and not abs(float(now["sampling_period_s"]) - float(sp)) < 1e-9:
        diffs.append(f"cadence {now['sampling_period_s']:g} s (model: {float(sp):g} s)")
    if src.get("components") and list(src["components"]) != now["components"]:
        diffs.append(f"components {','.join(now['components'])} "
                     f"(model: {','.join(src['components'])})")
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

    from geoanom.detector.nn.artifact import load_model, read_model_json
    from geoanom.detector.nn.train import resolve_device
    from geoanom.detector.preprocess import FittedPreprocess, apply_preprocess
    from geoanom.detector.score import score_record, write_scores

    set_torch_threads(threads)
    meta = read_model_json(model_dir)
    fitted = FittedPreprocess.from_dict(meta["preprocess"]) if meta.get("preprocess") else None
    pre = fitted is not None and not fitted.config.empty
    inputs = list(records) + ([activity_path] if activity_path else []) + list(reference_paths)

    def prepared(rec):
        _warn_other_record(meta, rec)
        if not pre:
            return rec
        return apply_preprocess(rec, fitted, activity=_read_activity(activity_path),
                                reference=_open_record(reference_paths, TableMaps(table_map.record))
                                if reference_paths else None)

    if scheduler is not None:
        from geoanom.detector.distributed import get_client, open_record_lazy, score_records

        lm = load_model(model_dir, device="cpu")
        # preprocessing needs the samples: a preprocessed record is scored from memory
        lazy = not pre and table_map.record is None
        record = prepared(open_record_lazy(list(records)) if lazy
                          else _open_record(records, table_map))
        client = get_client(scheduler, workers=workers)
        try:
            [ds] = score_records(lm, [record], client, chunk_windows=chunk_windows,
                                 residuals=residuals, inputs=[inputs])
        finally:
            client.close()
            if scheduler == "local":
                client.cluster.close()
    else:
        lm = load_model(model_dir, device=resolve_device(device))
        record = prepared(_open_record(records, table_map))
        ds = score_record(lm, record, chunk_windows=chunk_windows, residuals=residuals,
                          inputs=inputs, progress=False if no_progress else None)
    path = write_scores(ds, output)
    r = ds["rmse"].values
    click.echo(json.dumps({
        "scores": str(path), "windows": int(ds.sizes["window"]),
        "scored": int(np.isfinite(r).sum()),
        "preprocess": [s[0] for s in fitted.config.steps] if pre else [],
        "rmse_median": float(np.nanmedian(r)) if np.isfinite(r).any() else None,
    }))


commands = [train, score]
