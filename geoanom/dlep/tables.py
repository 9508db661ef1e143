"""Tables of a DLEP evaluation: every method under every protocol (:func:`evaluate_table`,
also on worker processes), and text tables shaped like the paper's Tables III and IV with
its rows beside ours, and which differences exceed the seed spread."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from geoanom.dlep.config import DLEPConfig
from geoanom.dlep.evaluate import evaluate
from geoanom.dlep.jobs import plan_jobs
from geoanom.dlep.methods import METHOD_LABELS, TRIVIAL_METHODS, StreamProvider
from geoanom.dlep.paper import PAPER_TABLE3, PAPER_TABLE4, TABLE3_METHODS, TABLE4_METHODS
from geoanom.dlep.pool import run_pool
from geoanom.dlep.results import MethodResult, method_result
from geoanom.dlep.segment import Samples
from geoanom.errors import ValidationError


def evaluate_table(samples: Samples, methods: Sequence[str], protocols: Sequence[str], *,
                   seeds: Sequence[int] = (0,),
                   extra_streams: Mapping[str, StreamProvider] | None = None,
                   config: DLEPConfig | None = None, progress: bool = True,
                   workers: int = 1) -> dict[str, dict[str, MethodResult]]:
    """``{protocol: {method: MethodResult}}`` for every method and protocol.

    ``workers`` > 1 spreads the table's training over that many processes (each with as
    many torch threads as the caller has): the jobs are cut into tasks (one per
    side-by-side group of :func:`geoanom.dlep.grouped.job_groups`, one per seed for the
    other methods), the costliest first (:func:`geoanom.dlep.pool.run_pool`). The numbers
    are those of ``workers=1`` to the last digit (tested); extra streams always run in this
    process. The workers are started with ``spawn``: a script (not a notebook) that asks for
    more than one must call this under ``if __name__ == "__main__":``, as any Python
    multiprocessing program.
    """
    cfg = config or DLEPConfig()
    workers = int(workers)
    if workers < 1:
        raise ValidationError("workers must be at least 1", found=str(workers))
    if workers == 1 or extra_streams:
        cache: dict = {}
        return {p: {m: evaluate(samples, m, p, seeds=seeds, extra_streams=extra_streams,
                                config=cfg, progress=progress, cache=cache)
                    for m in methods} for p in protocols}
    plans = {(p, m): plan_jobs(samples, m, p, seeds, config=cfg)
             for p in protocols for m in methods}
    predictions = dict(zip(plans, run_pool(samples, list(plans.values()), cfg,
                                           workers=workers, progress=progress), strict=True))
    return {p: {m: method_result(samples, plans[(p, m)], predictions[(p, m)])
                for m in methods} for p in protocols}


def protocol_label(protocol: str) -> str:
    """How a protocol is named in tables: the shuffled 10-fold one carries "(leaky)"."""
    return "kfold (leaky)" if protocol == "kfold" else protocol


def _cell(r: MethodResult | None, what: str) -> str:
    if r is None:
        return "-"
    m, s = (r.acc_mean, r.acc_std) if what == "acc" else (r.mauc_mean, r.mauc_std)
    if not np.isfinite(m):
        return "n/a"
    spread = f"{100 * s:.2f}" if np.isfinite(s) else "n/a"
    return f"{100 * m:.2f}±{spread}"


def _columns(results: Mapping[str, MethodResult], first: Sequence[str]) -> list[str]:
    cols = [m for m in first if m in results or m in TABLE3_METHODS]
    cols += [m for m in results if m not in cols and m not in TABLE4_METHODS[1:]
             and m not in TRIVIAL_METHODS]
    cols += [m for m in TRIVIAL_METHODS if m in results]
    return cols


def format_table3(results: Mapping[str, MethodResult], region: str, protocol: str) -> str:
    """Text table shaped like the paper's Table III (ACC and MAUC, percent, mean±std over
    seeds, "n/a" spread for one seed), with the trivial references beside and the paper's
    row under ours when the region is one of its eight."""
    cols = _columns(results, TABLE3_METHODS)
    head = ["Region", *[f"ACC {METHOD_LABELS.get(m, m)}" for m in cols],
            *[f"MAUC {METHOD_LABELS.get(m, m)}" for m in cols]]
    ours = [f"{region} ({protocol_label(protocol)})",
            *[_cell(results.get(m), "acc") for m in cols],
            *[_cell(results.get(m), "mauc") for m in cols]]
    rows = [head, ours]
    paper = PAPER_TABLE3.get(region)
    if paper:
        rows.append([f"{region} (paper)",
                     *[f"{paper['acc'][m]:.2f}" if m in paper["acc"] else "-" for m in cols],
                     *[f"{paper['mauc'][m]:.2f}" if m in paper["mauc"] else "-" for m in cols]])
    return _render("Table III: ACC and MAUC (%)", rows)


def format_table4(results: Mapping[str, MethodResult], region: str, protocol: str) -> str:
    """Text table shaped like the paper's Table IV (MAUC of DLEP and its ablations)."""
    cols = list(TABLE4_METHODS)
    rows = [["Region", *[f"MAUC {METHOD_LABELS[m]}" for m in cols]],
            [f"{region} ({protocol_label(protocol)})",
             *[_cell(results.get(m), "mauc") for m in cols]]]
    paper = PAPER_TABLE4.get(region)
    if paper:
        rows.append([f"{region} (paper)", *[f"{paper[m]:.2f}" for m in cols]])
    return _render("Table IV: MAUC (%)", rows)


def compare(a: MethodResult, b: MethodResult, what: str = "mauc") -> dict:
    """Difference of two methods' per-seed means (``a - b``, fraction) and whether it is an
    effect: only when it exceeds the larger of the two seed spreads (sample standard
    deviations over seeds). With fewer than two seeds the spread is unknown and no effect
    is claimed."""
    va = np.asarray([v for v in (a.acc if what == "acc" else a.mauc) if v is not None], float)
    vb = np.asarray([v for v in (b.acc if what == "acc" else b.mauc) if v is not None], float)
    diff = float(np.nanmean(va) - np.nanmean(vb))
    if min(va.size, vb.size) < 2:
        return {"a": a.method, "b": b.method, "metric": what, "diff": diff, "spread": None,
                "effect": False, "verdict": "one seed: spread unknown, no effect claimed"}
    spread = float(max(np.nanstd(va, ddof=1), np.nanstd(vb, ddof=1)))
    effect = abs(diff) > spread
    return {"a": a.method, "b": b.method, "metric": what, "diff": diff, "spread": spread,
            "effect": bool(effect),
            "verdict": ("larger than the seed spread" if effect
                        else "within the seed spread: not an effect")}


def format_effects(results: Mapping[str, MethodResult], reference: str = "dlep",
                   what: str = "mauc") -> str:
    """One line per method: ``reference`` minus that method (points) against the seed
    spread, with the verdict of :func:`compare`."""
    if reference not in results:
        return ""
    ref = results[reference]
    lines = [f"{METHOD_LABELS.get(reference, reference)} minus each method ({what.upper()}, "
             f"points; an effect only beyond the seed spread):"]
    for m, r in results.items():
        if m == reference:
            continue
        c = compare(ref, r, what)
        sp = "n/a" if c["spread"] is None else f"{100 * c['spread']:.2f}"
        lines.append(f"  vs {METHOD_LABELS.get(m, m)}: {100 * c['diff']:+.2f} "
                     f"(seed spread {sp}): {c['verdict']}")
    return "\n".join(lines)


def _render(title: str, rows: list[list[str]]) -> str:
    width = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [title]
    for k, r in enumerate(rows):
        lines.append("  ".join(c.ljust(width[i]) for i, c in enumerate(r)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in width))
    return "\n".join(lines)
