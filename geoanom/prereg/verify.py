"""The audit of a prospective test by a third party: :func:`audit` checks a registration and
an alarm log from their hashes alone, and, when given the files, the files against the
registration's manifest and the issue entries' inputs.

Each check is a :class:`Check` (name, ok, detail), in this order: the registration's hash;
the link to the registration it amends (with ``previous``); the alarm log's chain; the
forecast CSV against the log; published head hashes; the model folder, the protocol and the
criteria file; record and catalog files against the manifests. Two facts are reported
without failing: whether this package's source is the registered one, and whether the test
was frozen and issued before the periods it forecasts (else it is pseudo-prospective).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from geoanom.detector.api import load_detector
from geoanom.errors import GeoanomError
from geoanom.prereg.alarms import FORECAST_NAME, LOG_NAME, check_chain, forecast_text, read_log
from geoanom.prereg.evaluate import timing
from geoanom.prereg.registration import Registration, source_digest
from geoanom.provenance import file_sha256


@dataclass(frozen=True)
class Check:
    """One audit check: what was checked, whether it holds, and the detail."""

    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def _run(checks: list[Check], name: str, fn) -> object:
    """Run one check: its detail on success, the error's text on failure."""
    try:
        out = fn()
    except GeoanomError as exc:
        checks.append(Check(name, False, str(exc)))
        return None
    detail, value = out if isinstance(out, tuple) else (out, None)
    checks.append(Check(name, True, detail))
    return value


def _amendment(reg: Registration, previous) -> str:
    if previous is None:
        return (f"amends {reg.amends['hash']} ({reg.amends['reason']}); give the previous "
               "registration to check the link")
    prev = Registration.read(previous)
    if prev.hash != reg.amends["hash"]:
        raise GeoanomError("the registration amends another one than the file given",
                           path=previous, expected=reg.amends["hash"], found=prev.hash)
    if reg.created_utc.rstrip("Z") >= prev.test_period["start"]:
        raise GeoanomError("the amendment was made after the amended test period began",
                           expected=f"before {prev.test_period['start']}",
                           found=reg.created_utc)
    return f"amends {prev.hash} before its test start ({reg.amends['reason']})"


def _manifest_rows(reg: Registration, entries: list[dict]) -> list[tuple[str, dict]]:
    rows = [("registration", r) for r in reg.manifest]
    rows += [(f"issue entry {e['seq']}", r) for e in entries if e.get("kind") == "issue"
             for r in e.get("inputs", [])]
    return rows


def _file_in_manifest(path, rows: list[tuple[str, dict]]) -> str:
    sha = file_sha256(path)
    hits = [f"{where}: {r['role']} {r['path']}" for where, r in rows if r.get("sha256") == sha]
    if not hits:
        raise GeoanomError("the file is in no manifest of the registration or the log",
                           path=path, expected="a file the registration or an issue recorded",
                           found=f"sha256 {sha}")
    return "matches " + "; ".join(hits)


def _model(reg: Registration, model) -> str:
    reg.check_detector(load_detector(model, device="cpu"))
    return f"weights.pt, model.json and detector hash {reg.detector['hash'][:16]} as registered"


def _protocol(reg: Registration, path) -> str:
    reg.check_protocol(path)
    return f"sha256 and settings hash {reg.protocol['hash']} as registered"


def _criteria(reg: Registration, path) -> str:
    sha = file_sha256(path)
    if sha != reg.criteria["sha256"]:
        raise GeoanomError("the criteria file differs from the registration", path=path,
                           expected=f"sha256 {reg.criteria['sha256']}", found=sha)
    return "sha256 as registered"


def _forecast(reg: Registration, alarms_dir: Path, entries: list[dict]) -> str:
    p = alarms_dir / FORECAST_NAME
    if not p.is_file():
        raise GeoanomError("the alarm folder has no forecast", path=p)
    if p.read_text(encoding="utf-8") != forecast_text(reg, entries):
        raise GeoanomError("the forecast CSV differs from the alarm log it was written from",
                           path=p)
    return "as written from the log"


def _heads(entries: list[dict], heads) -> str:
    known = {e["hash"] for e in entries}
    missing = [h for h in heads if h not in known]
    if missing:
        raise GeoanomError("a published head is not in the alarm log (entries were dropped "
                           "after it was published)", found=", ".join(missing))
    return f"{len(heads)} published head(s) found"


def audit(registration_path: str | os.PathLike, alarms_dir: str | os.PathLike | None = None,
          *, model=None, protocol=None, criteria=None, records=(), catalogs=(), heads=(),
          previous=None) -> list[Check]:
    """Audit a registration (and its alarm log, and files): the checks of the module
    docstring, in order. Reading a registration whose hash fails stops there."""
    checks: list[Check] = []

    def read():
        r = Registration.read(registration_path)
        return f"hash {r.hash} matches its content", r

    reg = _run(checks, "registration", read)
    if reg is None:
        return checks
    if reg.amends:
        _run(checks, "amendment", lambda: _amendment(reg, previous))
    entries: list[dict] = []
    if alarms_dir is not None:
        d = Path(alarms_dir)

        def chain():
            ents = read_log(d)
            check_chain(ents, reg.hash, path=d / LOG_NAME)
            n = sum(e["kind"] == "bin" for e in ents)
            return f"{len(ents)} entries ({n} bins) chained to the registration", ents

        entries = _run(checks, "alarm log", chain) or []
        if entries:
            _run(checks, "forecast", lambda: _forecast(reg, d, entries))
        if heads:
            _run(checks, "published heads", lambda: _heads(entries, heads))
    if model is not None:
        _run(checks, "model", lambda: _model(reg, model))
    if protocol is not None:
        _run(checks, "protocol", lambda: _protocol(reg, protocol))
    if criteria is not None:
        _run(checks, "criteria", lambda: _criteria(reg, criteria))
    rows = _manifest_rows(reg, entries)
    for p in (*records, *catalogs):
        _run(checks, f"file {p}", lambda p=p: _file_in_manifest(p, rows))
    same = source_digest() == reg.package["source_digest"]
    checks.append(Check("package source", True,
                        "this package's source is the registered one" if same else
                        "this package's source differs from the registered one (digest "
                        f"{reg.package['source_digest'][:16]}, geoanom "
                        f"{reg.package['geoanom_version']})"))
    if entries:
        t = timing(reg, entries, reg.frozen_protocol)
        checks.append(Check("timing", True, "prospective: frozen before the test start, every "
                            "bin issued before the period it forecasts" if t["prospective"]
                            else t["note"] + f" (frozen {t['frozen_utc']}, test start "
                            f"{t['test_start']}, {t['n_bins_issued_late']} bins issued late)"))
    return checks
