"""CLI commands: ``geoanom prereg freeze | issue | evaluate | amend | verify`` (prospective
tests, :mod:`geoanom.prereg`; the walkthrough is docs/prereg.md).

Option parsing over :func:`~geoanom.prereg.registration.freeze`,
:func:`~geoanom.prereg.alarms.issue_alarms`, :func:`~geoanom.prereg.evaluate.evaluate`,
:func:`~geoanom.prereg.registration.amend` and :func:`~geoanom.prereg.verify.audit`. A summary
goes to stdout (JSON for freeze, issue and amend); anything refused exits with code 2 and a
message naming what broke. The library is imported inside the commands so that
``geoanom --help`` does not load torch.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from geoanom.cli._table_options import TableMaps, map_option, open_catalog, open_record
from geoanom.errors import GeoanomError

_FILE = click.Path(dir_okay=False, exists=True)
_DIR = click.Path(file_okay=False, exists=True)


def _read_record(paths, table_map: TableMaps):
    """One station record from one or several files (files read through a mapping one by
    one, then joined end to end)."""
    if table_map.record is None or len(paths) == 1:
        return open_record(list(paths), table_map)
    from geoanom.io import join_records

    return join_records([open_record([p], table_map) for p in paths], [Path(p) for p in paths])


def _read_index(path):
    """An activity index file for a detector's ``[preprocess]`` regression."""
    if path is None:
        return None
    from geoanom.io.indices import read_index

    return read_index(path)


def _freeze_inputs(model, protocol, criteria, records, catalog, test_start, test_end,
                   activity_path, reference_paths, table_map: TableMaps) -> dict:
    """The keyword arguments of :func:`geoanom.prereg.registration.freeze` from the options."""
    record = _read_record(records, table_map)
    return {"detector_dir": model, "protocol_path": protocol, "criteria_path": criteria,
            "record": record, "catalog": open_catalog(catalog, table_map),
            "test_start": test_start, "test_end": test_end, "record_files": list(records),
            "catalog_file": catalog,
            "other_files": ([(activity_path, "activity index")] if activity_path else [])
            + [(p, "reference record") for p in reference_paths],
            "activity": _read_index(activity_path),
            "reference": _read_record(reference_paths, TableMaps(table_map.record))
            if reference_paths else None}


def _registration_summary(reg, output) -> str:
    return json.dumps({"registration": str(output), "hash": reg.hash,
                       "frozen_utc": reg.created_utc, "test_period": reg.test_period,
                       "thresholds": reg.thresholds, "amends": reg.amends})


@click.group("prereg")
def prereg() -> None:
    """Prospective tests: freeze a detector, its protocol and pass criteria before the test
    period, issue hash-chained alarms as data arrive, evaluate them against a later
    catalog, and let anyone verify the claim (docs/prereg.md)."""


_REGRESSION_OPTIONS = [
    click.option("--activity", "activity_path", type=_FILE, default=None,
                 help="Activity index file, when the model's preprocessing regresses on one."),
    click.option("--reference", "reference_paths", multiple=True, type=_FILE,
                 help="Remote reference record file(s), when the model's preprocessing uses "
                      "one."),
]


def _regression_options(f):
    for o in reversed(_REGRESSION_OPTIONS):
        f = o(f)
    return f


@prereg.command("freeze")
@click.option("--model", "model", required=True, type=_DIR, help="Model folder (geoanom train).")
@click.option("--protocol", "protocol", required=True, type=_FILE, help="Protocol TOML.")
@click.option("--record", "records", multiple=True, required=True, type=_FILE,
              help="Station record file(s) in hand (all before the test start; the model's "
                   "validation period in it gives the alarm thresholds).")
@click.option("--catalog", "catalog", required=True, type=_FILE,
              help="Earthquake catalog in hand (all before the test start).")
@click.option("--test-start", required=True, help="First day of the test period (UTC).")
@click.option("--test-end", default=None, help="End of the test period (UTC; default open).")
@click.option("--criteria", "criteria", required=True, type=_FILE,
              help="Criteria TOML: [primary] max_p_value, min_independent_events, min_ass, "
                   "seed; [alarms] quantiles.")
@_regression_options
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Registration JSON (written atomically).")
@map_option(station=True)
def freeze_cmd(model, protocol, records, catalog, test_start, test_end, criteria,
               activity_path, reference_paths, output, table_map: TableMaps) -> None:
    """Freeze a prospective test into a registration (hashes of the model, the protocol,
    the package and the inputs; the test period; the criteria; the alarm thresholds).
    Refused (exit 2) when a record, the catalog or the model's training data reach into
    the test period."""
    from geoanom.prereg.registration import freeze

    reg = freeze(**_freeze_inputs(model, protocol, criteria, records, catalog, test_start,
                                  test_end, activity_path, reference_paths, table_map))
    reg.write(output)
    click.echo(_registration_summary(reg, output))


@prereg.command("issue")
@click.option("--registration", "registration", required=True, type=_FILE,
              help="Registration JSON (geoanom prereg freeze).")
@click.option("--record", "records", multiple=True, required=True, type=_FILE,
              help="The newly arrived data (file(s) of one station), from the end of the "
                   "last issued bin on.")
@click.option("--context", "context", multiple=True, type=_FILE,
              help="Earlier data that windows ending in the new period reach back into "
                   "(not issued).")
@click.option("--model", "model", default=None, type=_DIR,
              help="Model folder (default: the registered path); must be the registered one.")
@click.option("--protocol", "protocol", default=None, type=_FILE,
              help="Protocol TOML (default: the registered path); must be the registered one.")
@_regression_options
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Alarm folder (alarms.jsonl, forecast.csv; created if absent).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch CPU threads (default: $GEOANOM_THREADS, else 1).")
@click.option("--each", is_flag=True,
              help="Each --record file is one arrival, issued in the order given as its own "
                   "issue entry (the previous file is the next one's context): the log is "
                   "the one that one call per file would write. One JSON line per arrival.")
@map_option(station=True)
def issue_cmd(registration, records, context, model, protocol, activity_path, reference_paths,
              output, threads, each, table_map: TableMaps) -> None:
    """Score newly arrived data with the frozen model and append its bins (score, alarm
    state at the registered thresholds, validity) to the hash-chained alarm log; rewrite
    the CSV alarm forecast. Prints the new head hash: publish it."""
    from geoanom.cli.detector import set_torch_threads
    from geoanom.detector.api import load_detector
    from geoanom.prereg.alarms import issue_alarms
    from geoanom.prereg.registration import Registration, file_entry, record_span

    set_torch_threads(threads)
    reg = Registration.read(registration)
    det = load_detector(model or reg.detector["path"], device="cpu")
    reg.check_detector(det)
    proto = reg.check_protocol(protocol or reg.protocol["path"])
    activity = _read_index(activity_path)
    reference = (_read_record(reference_paths, TableMaps(table_map.record))
                 if reference_paths else None)
    regressors = [file_entry(p, role) for p, role in
                  ([(activity_path, "activity index")] if activity_path else [])
                  + [(p, "reference record") for p in reference_paths]]
    arrivals = ([((p,), (prev,) if prev else tuple(context))
                for prev, p in zip([None, *records[:-1]], records, strict=True)] if each
        else [(tuple(records), tuple(context))])
    for new_paths, ctx_paths in arrivals:
        new = _read_record(new_paths, table_map)
        ctx = _read_record(ctx_paths, table_map) if ctx_paths else None
        inputs = [file_entry(p, "new data", record_span(new)) for p in new_paths]
        inputs += [file_entry(p, "context", record_span(ctx)) for p in ctx_paths]
        out = issue_alarms(reg, det, proto, new, output, context=ctx, activity=activity,
                           reference=reference, inputs=inputs + regressors)
        if not out["source_matches_registration"]:
            click.echo("geoanom: warning: this package's source differs from the registered "
                       "one (the issue entry records both)", err=True)
        click.echo(json.dumps(out))


@prereg.command("evaluate")
@click.option("--registration", "registration", required=True, type=_FILE,
              help="Registration JSON.")
@click.option("--alarms", "alarms", required=True, type=_DIR, help="Alarm folder.")
@click.option("--catalog", "catalog", required=True, type=_FILE,
              help="The catalog of the test period (a later one than at freezing).")
@click.option("--activity", "activity_path", type=_FILE, default=None,
              help="Activity index file (Kp, Dst...): the activity-only reference.")
@click.option("--activity-variable", default=None, metavar="NAME",
              help="Which variable of the activity file (default: its main one).")
@click.option("--exploratory", is_flag=True,
              help="Allow another protocol or other thresholds than the registered ones; "
                   "every output is then labelled exploratory.")
@click.option("--protocol", "protocol", default=None, type=_FILE,
              help="Another protocol TOML (only with --exploratory).")
@click.option("--threshold", "thresholds", multiple=True, type=float,
              help="Other alarm thresholds, absolute scores (only with --exploratory; "
                   "repeatable).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Result JSON (written atomically).")
@click.option("--json", "as_json", is_flag=True, help="Print the result JSON instead.")
@map_option
def evaluate_cmd(registration, alarms, catalog, activity_path, activity_variable, exploratory,
                 protocol, thresholds, output, as_json, table_map: TableMaps) -> None:
    """Verify every hash and the whole alarm chain, then evaluate the issued alarms with
    the frozen protocol: the primary event-level test, Molchan ASS, probability gains, and
    PASS or FAIL against the registered criteria (a FAIL is a normal outcome: exit 0)."""
    from geoanom.prereg.alarms import LOG_NAME, read_log
    from geoanom.prereg.evaluate import evaluate, summary_text
    from geoanom.prereg.protocol import load_protocol
    from geoanom.prereg.registration import Registration

    reg = Registration.read(registration)
    entries = read_log(alarms)
    activity = None
    if activity_path is not None:
        from geoanom.io.indices import read_index, to_activity_table

        bin_s = reg.frozen_protocol.binning_bin_days * 86400.0
        activity = to_activity_table(read_index(activity_path), activity_variable, bin_s)
    res = evaluate(reg, entries, open_catalog(catalog, table_map), activity=activity,
                   protocol=load_protocol(protocol) if protocol else None,
                   thresholds=list(thresholds) or None, exploratory=exploratory,
                   log_path=Path(alarms) / LOG_NAME,
                   inputs=[p for p in (catalog, activity_path, protocol) if p])
    res.write(output)
    click.echo(res.to_json() if as_json else summary_text(res) + f"\nresult: {output}")


@prereg.command("amend")
@click.argument("previous", type=_FILE)
@click.option("--reason", required=True, help="Why the registration changes (recorded).")
@click.option("--model", "model", default=None, type=_DIR, help="Model folder (default: "
              "the registered one).")
@click.option("--protocol", "protocol", default=None, type=_FILE,
              help="Protocol TOML (default: the registered one).")
@click.option("--criteria", "criteria", default=None, type=_FILE,
              help="Criteria TOML (default: the registered one).")
@click.option("--record", "records", multiple=True, type=_FILE,
              help="Record file(s) (default: the registered ones).")
@click.option("--catalog", "catalog", default=None, type=_FILE,
              help="Catalog (default: the registered one).")
@click.option("--test-start", default=None, help="Test start (default: the registered one).")
@click.option("--test-end", default=None, help="Test end (default: the registered one).")
@_regression_options
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The new registration JSON.")
@map_option(station=True)
def amend_cmd(previous, reason, model, protocol, criteria, records, catalog, test_start,
              test_end, activity_path, reference_paths, output, table_map: TableMaps) -> None:
    """Replace a registration before its test start: a new registration with REASON and the
    old hash in its 'amends' block (refused once the test period has begun). Files not
    given are the registered ones, read with the same --map options as at freezing."""
    from geoanom.prereg.registration import Registration, amend

    old = Registration.read(previous)
    rows = {r["role"]: r["path"] for r in reversed(old.manifest)}
    registered_records = [r["path"] for r in old.manifest if r["role"] == "record"]
    if "catalog" not in rows and catalog is None:
        raise GeoanomError("the registration names no catalog file: give --catalog",
                           path=previous)
    args = _freeze_inputs(model or old.detector["path"], protocol or old.protocol["path"],
                          criteria or old.criteria["path"], records or registered_records,
                          catalog or rows["catalog"], test_start or old.test_period["start"],
                          test_end or old.test_period["end"], activity_path, reference_paths,
                          table_map)
    reg = amend(old, reason, **args)
    reg.write(output)
    click.echo(_registration_summary(reg, output))


@prereg.command("verify")
@click.argument("registration", type=_FILE)
@click.argument("alarms", required=False, type=_DIR)
@click.option("--model", "model", default=None, type=_DIR,
              help="Model folder to check against the registration.")
@click.option("--protocol", "protocol", default=None, type=_FILE, help="Protocol TOML to check.")
@click.option("--criteria", "criteria", default=None, type=_FILE, help="Criteria TOML to check.")
@click.option("--record", "records", multiple=True, type=_FILE,
              help="Record file(s) to find in the manifests (repeatable).")
@click.option("--catalog", "catalogs", multiple=True, type=_FILE,
              help="Catalog file(s) to find in the manifests (repeatable).")
@click.option("--head", "heads", multiple=True, metavar="HASH",
              help="A head hash published by geoanom prereg issue (repeatable).")
@click.option("--previous", default=None, type=_FILE,
              help="The registration this one amends.")
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def verify_cmd(registration, alarms, model, protocol, criteria, records, catalogs, heads,
               previous, as_json) -> None:
    """Audit REGISTRATION (and the alarm folder ALARMS) from the hashes alone, and, given the
    files, against the manifests. Exit 2 naming the first check that fails."""
    from geoanom.prereg.verify import audit

    checks = audit(registration, alarms, model=model, protocol=protocol, criteria=criteria,
                   records=records, catalogs=catalogs, heads=heads, previous=previous)
    if as_json:
        click.echo(json.dumps([c.to_dict() for c in checks], indent=1))
    else:
        for c in checks:
            click.echo(f"{'ok  ' if c.ok else 'FAIL'}  {c.name}: {c.detail}")
    failed = [c for c in checks if not c.ok]
    if failed:
        raise GeoanomError(f"verification failed: {failed[0].name}: {failed[0].detail}")


commands = [prereg]
