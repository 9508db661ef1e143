"""The alarm log of a prospective test: an append-only, hash-chained JSON-lines file, the
CSV alarm forecast written from it, and :func:`issue_alarms`, which scores newly arrived
data with the frozen detector and appends its bins.

An alarm folder holds ``alarms.jsonl`` (the log) and ``forecast.csv`` (the forecast). Each
line of the log is one JSON entry with ``seq`` (0, 1, ...), ``kind``, ``registration`` (the
registration's hash), ``prev`` (the hash of the previous entry; the registration's hash for
the first) and ``hash`` (SHA-256 of the canonical JSON of every other key). Two kinds:

* ``issue``: one per run of ``geoanom prereg issue``: when (``issued_utc``), the package
  version and source digest, the detector and protocol hashes it checked, the input files
  (path, size, SHA-256, span) and the bins it appends;
* ``bin``: one per protocol time bin, in order with none left out: ``bin`` (0 = the bin
  that starts at the test start), ``bin_start``, ``bin_end``, ``station``, ``score`` (the
  bin's alarm value, null when no valid window ends in it), ``valid``, the deciding
  window (``window_start``, ``window_end``), ``alarm`` (one boolean per registered
  threshold: score at or above it) and ``alarm_level`` (how many are on).

An edited entry no longer matches its hash; a dropped, inserted or reordered one breaks the
chain at the entry after it (:func:`check_chain` names the first broken link). Dropping the
last entries leaves a shorter valid chain: publish the head hash that ``issue`` prints
(``geoanom prereg verify --head``), as any hash chain needs an outside anchor for its end.

The forecast (``forecast.csv``), one row per bin entry, in the shape of an alarm-based
forecast: ``window_start, window_end`` (the period the alarm is in force for: bins
``k + lead_min .. k + lead_max`` of the protocol's lead window), ``station``,
``latitude_deg``, ``longitude_deg``, ``alarm_level`` (0 .. number of thresholds), then
``bin_start, bin_end, score, valid, entry_hash`` for the audit.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from geoanom._atomic import atomic_write_text
from geoanom._version import __version__
from geoanom.detector.api import Detector
from geoanom.errors import FormatError, GeoanomError
from geoanom.io import join_records
from geoanom.prereg.protocol import (
    Protocol,
    bin_alarms,
    bin_bounds,
    bin_length_ns,
    forecast_window,
    iso,
)
from geoanom.prereg.registration import Registration, record_span, source_digest
from geoanom.provenance import object_sha256

LOG_NAME = "alarms.jsonl"
FORECAST_NAME = "forecast.csv"
FORECAST_COLUMNS = ("window_start", "window_end", "station", "latitude_deg", "longitude_deg",
                    "alarm_level", "bin_start", "bin_end", "score", "valid", "entry_hash")


def entry_hash(entry: dict) -> str:
    """SHA-256 of the canonical JSON of an entry without its ``hash``."""
    return object_sha256({k: v for k, v in entry.items() if k != "hash"})


def read_log(alarms_dir: str | os.PathLike) -> list[dict]:
    """The entries of an alarm folder's log (empty when there is none yet)."""
    path = Path(alarms_dir) / LOG_NAME
    if not path.exists():
        return []
    out = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            e = json.loads(line)
        except json.JSONDecodeError as exc:
            raise FormatError("alarm log line is not JSON (edited?)", path=path, line=i,
                              found=exc.msg) from exc
        if not isinstance(e, dict):
            raise FormatError("alarm log line is not an entry", path=path, line=i,
                              found=type(e).__name__)
        out.append(e)
    return out


def _where(e: dict) -> str:
    if e.get("kind") == "bin":
        return f"entry {e.get('seq')} (bin {e.get('bin')}, {e.get('bin_start')})"
    return f"entry {e.get('seq')} ({e.get('kind')} {e.get('issued_utc', '')})".rstrip()


def check_chain(entries: list[dict], registration_hash: str, path=None) -> None:
    """Check every entry's hash and the whole chain; raise a GeoanomError naming the first
    broken link (``path`` and the 1-based line of the log).

    Checked per entry, in order: its hash matches its content (else: edited), it belongs to
    the registration, ``prev`` is the hash of the entry before (else: an entry was dropped,
    inserted or reordered), ``seq`` counts up from 0, and bin entries follow each other
    bin by bin.
    """
    prev = registration_hash
    next_bin = 0
    for i, e in enumerate(entries):
        where = _where(e)
        if e.get("hash") != entry_hash(e):
            raise GeoanomError(f"alarm log broken at {where}: its content does not match its "
                               "hash (the entry was edited)", path=path, line=i + 1)
        if e.get("registration") != registration_hash:
            raise GeoanomError(f"alarm log broken at {where}: it belongs to another "
                               "registration", path=path, line=i + 1,
                               expected=registration_hash, found=str(e.get("registration")))
        if e.get("prev") != prev:
            raise GeoanomError(f"alarm log broken at {where}: its link to the entry before "
                               "does not match (an entry was dropped, inserted or "
                               "reordered before it)", path=path, line=i + 1,
                               expected=f"prev {prev}", found=str(e.get("prev")))
        if e.get("seq") != i:
            raise GeoanomError(f"alarm log broken at {where}: entries out of sequence",
                               path=path, line=i + 1, expected=f"seq {i}", found=str(e.get("seq")))
        if e.get("kind") == "bin":
            if e.get("bin") != next_bin:
                raise GeoanomError(f"alarm log broken at {where}: bins out of order",
                                   path=path, line=i + 1, expected=f"bin {next_bin}",
                                   found=str(e.get("bin")))
            next_bin += 1
        elif e.get("kind") != "issue":
            raise GeoanomError(f"alarm log broken at {where}: unknown entry kind", path=path,
                               line=i + 1, expected="issue or bin", found=str(e.get("kind")))
        prev = e["hash"]


def bin_entries(entries: list[dict]) -> list[dict]:
    """The ``bin`` entries of a log, in order."""
    return [e for e in entries if e.get("kind") == "bin"]


def forecast_text(registration: Registration, entries: list[dict]) -> str:
    """The CSV alarm forecast of a log's bin entries (module docstring)."""
    proto = registration.frozen_protocol
    bins = bin_entries(entries)
    w0, w1 = forecast_window(registration.test_start, proto, [e["bin"] for e in bins])
    st = registration.station
    rows = [{"window_start": iso(a), "window_end": iso(b), "station": e["station"],
             "latitude_deg": st["latitude_deg"], "longitude_deg": st["longitude_deg"],
             "alarm_level": e["alarm_level"], "bin_start": e["bin_start"],
             "bin_end": e["bin_end"], "score": e["score"], "valid": e["valid"],
             "entry_hash": e["hash"]} for e, a, b in zip(bins, w0, w1, strict=True)]
    buf = io.StringIO()
    pd.DataFrame(rows, columns=list(FORECAST_COLUMNS)).to_csv(buf, index=False,
                                                              lineterminator="\n")
    return buf.getvalue()


def _anchored(record: xr.Dataset, t_start: np.datetime64, stride_s: float) -> xr.Dataset:
    """``record`` from its first time on the window grid anchored at the test start (so
    that every run scores the same windows, whatever earlier data it was given)."""
    stride = np.timedelta64(int(round(stride_s * 1e9)), "ns")
    t = record["time"].values.astype("datetime64[ns]")
    n = (t_start - t[0]) // stride     # whole strides from the first sample to the start
    first = t_start - n * stride
    return record.isel(time=np.flatnonzero(t >= first))


def _bin_entry(k: int, registration: Registration, t0, bd: float, ba, pos: dict) -> dict:
    start, end = bin_bounds(t0, bd, k)
    j = pos.get(k)
    value = float(ba.value[j]) if j is not None else math.nan
    valid = math.isfinite(value)
    alarm = [bool(valid and value >= thr) for thr in registration.threshold_scores]
    return {"kind": "bin", "bin": int(k), "bin_start": iso(start), "bin_end": iso(end),
            "station": registration.station["iaga_code"],
            "score": value if valid else None, "valid": valid,
            "window_start": iso(ba.window_start[j]) if valid else None,
            "window_end": iso(ba.window_end[j]) if valid else None,
            "alarm": alarm, "alarm_level": int(sum(alarm))}


def _chain(entries: list[dict], new: list[dict], registration_hash: str) -> list[dict]:
    """``new`` entries numbered, linked and hashed after ``entries``."""
    prev = entries[-1]["hash"] if entries else registration_hash
    out = []
    for i, e in enumerate(new, start=len(entries)):
        e = {"seq": i, "registration": registration_hash, "prev": prev, **e}
        e["hash"] = entry_hash(e)
        prev = e["hash"]
        out.append(e)
    return out


def next_bin(entries: list[dict]) -> int:
    """The first bin not yet issued."""
    bins = bin_entries(entries)
    return bins[-1]["bin"] + 1 if bins else 0


def last_complete_bin(t0: np.datetime64, bin_days: float, data_end: np.datetime64,
                      test_end: np.datetime64 | None = None) -> int:
    """The last bin that ends by ``data_end`` (and starts before ``test_end``); -1 if none."""
    bd_ns = bin_length_ns(bin_days)
    last = int((data_end - t0) / np.timedelta64(1, "ns")) // bd_ns - 1
    if test_end is not None:
        last = min(last, -(-int((test_end - t0) / np.timedelta64(1, "ns")) // bd_ns) - 1)
    return last


def bins_to_issue(registration: Registration, protocol: Protocol, k0: int,
                  new_record: xr.Dataset, log: Path) -> int:
    """The last bin the new data complete, after checking them: the registration's
    station, no sample before the end of the last issued bin (bin ``k0`` is the first open
    one), and at least one complete bin before the test end (GeoanomError otherwise)."""
    t0, bd = registration.test_start, protocol.binning_bin_days
    open_from, _ = bin_bounds(t0, bd, k0)
    code = str(new_record.attrs.get("iaga_code", ""))
    if code != str(registration.station["iaga_code"]):
        raise GeoanomError("the new data are from another station than the registration's",
                           expected=str(registration.station["iaga_code"]), found=code)
    first, data_end = record_span(new_record)
    if first < open_from:
        if k0 == 0:
            raise GeoanomError("the new data start before the test period (give earlier "
                               "data with --context)", expected=f"data from {iso(open_from)}",
                               found=f"data from {iso(first)}")
        raise GeoanomError("alarms issued for a period already issued",
                           path=log, expected=f"new data from {iso(open_from)} (the end of "
                           "the last issued bin)", found=f"data from {iso(first)}")
    if registration.test_end is not None and open_from >= registration.test_end:
        raise GeoanomError("alarms are issued for the whole test period already", path=log,
                           expected=f"nothing after the test end {iso(registration.test_end)}",
                           found=f"data from {iso(first)}")
    last = last_complete_bin(t0, bd, data_end, registration.test_end)
    if last < k0:
        raise GeoanomError("the new data complete no bin to issue",
                           expected=f"data up to {iso(bin_bounds(t0, bd, k0)[1])} (the end "
                           f"of bin {k0})", found=f"data up to {iso(data_end)}")
    return last


def append_entries(alarms_dir: Path, registration: Registration, entries: list[dict],
                   new: list[dict]) -> None:
    """Append chained entries to the log and rewrite the forecast, each file atomically (the
    log first: the forecast can always be written again from it)."""
    log = alarms_dir / LOG_NAME
    text = log.read_text(encoding="utf-8") if log.exists() else ""
    alarms_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(log, text + "".join(json.dumps(e, sort_keys=True) + "\n" for e in new))
    atomic_write_text(alarms_dir / FORECAST_NAME, forecast_text(registration, entries + new))


def issue_alarms(registration: Registration, detector: Detector, protocol: Protocol,
                 new_record: xr.Dataset, alarms_dir: str | os.PathLike, *,
                 context: xr.Dataset | None = None, activity=None,
                 reference: xr.Dataset | None = None, inputs=(),
                 now: dt.datetime | None = None) -> dict:
    """Score newly arrived data with the frozen detector and append its complete bins.

    Parameters
    ----------
    registration
        The registration (its hash heads the chain).
    detector, protocol
        The frozen detector and protocol (checked against the registration by the caller:
        :meth:`Registration.check_detector`, :meth:`Registration.check_protocol`).
    new_record
        The data that arrived since the last issue; it may not start before the end of the
        last issued bin (nor, for the first issue, before the test start).
    alarms_dir
        The alarm folder (created if absent).
    context
        Earlier data that windows ending in the new period reach back into (not issued).
    activity, reference
        What the detector's preprocessing regresses on, if anything.
    inputs
        Manifest rows of the files read (recorded in the issue entry).
    now
        The issue time (default: the clock).

    Returns
    -------
    dict
        ``head`` (the last entry's hash: publish it), ``n_bins``, ``first_bin_start``,
        ``last_bin_end``, ``alarms_on`` (bins with level > 0), ``n_entries``, paths.

    Raises
    ------
    GeoanomError
        A broken log, data of another station, data before the last issued bin ("alarms
        issued for a period already issued"), or new data that complete no bin.
    """
    d = Path(alarms_dir)
    log = d / LOG_NAME
    entries = read_log(d)
    check_chain(entries, registration.hash, path=log)
    t0, bd = registration.test_start, protocol.binning_bin_days
    k0 = next_bin(entries)
    last = bins_to_issue(registration, protocol, k0, new_record, log)
    whole = new_record if context is None else join_records([context, new_record])
    scores = detector.score(_anchored(whole, t0, detector.config.windows.stride_s),
                            activity=activity, reference=reference)
    ba = bin_alarms(scores, protocol, t0)
    pos = {int(k): j for j, k in enumerate(ba.bins)}
    bins = [_bin_entry(k, registration, t0, bd, ba, pos) for k in range(k0, last + 1)]
    issued = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = source_digest()
    head = {"kind": "issue", "issued_utc": issued, "geoanom_version": __version__,
            "source_digest": digest, "detector_hash": detector.hash(),
            "protocol_hash": registration.protocol["hash"], "inputs": list(inputs),
            "first_bin": int(k0), "n_bins": len(bins)}
    new = _chain(entries, [head, *bins], registration.hash)
    append_entries(d, registration, entries, new)
    return {"registration": registration.hash, "log": str(log),
            "forecast": str(d / FORECAST_NAME), "head": new[-1]["hash"],
            "n_entries": len(entries) + len(new), "n_bins": len(bins),
            "first_bin_start": bins[0]["bin_start"], "last_bin_end": bins[-1]["bin_end"],
            "alarms_on": int(sum(b["alarm_level"] > 0 for b in bins)),
            "source_matches_registration": digest == registration.package["source_digest"]}
