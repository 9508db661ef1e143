"""Results of a DLEP evaluation: one method under one protocol over seeds
(:class:`MethodResult`, built from the jobs' test predictions by :func:`method_result`), and
every method of a run as one JSON file (:class:`DLEPResults`).

Per seed we report the mean over folds of ACC and MAUC (the K-fold convention), the Brier
score and the pooled confusion matrix; over seeds, mean and sample standard deviation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from geoanom._jsonfile import json_safe, read_json, write_json
from geoanom.dlep.folds import CHRONO_NOTE, KFOLD_NOTE
from geoanom.dlep.indicators import INDICATOR_NAMES
from geoanom.dlep.jobs import Plan, Prediction
from geoanom.dlep.metrics import brier, confusion, mauc
from geoanom.dlep.paper import PAPER_TABLE3, PAPER_TABLE4
from geoanom.dlep.segment import Samples
from geoanom.errors import FormatError

RESULT_TYPE = "geoanom.DLEPResults"


def _mean_std(x: Sequence[float]) -> tuple[float, float]:
    a = np.asarray([v for v in x if v is not None and np.isfinite(v)], float)
    if a.size == 0:
        return float("nan"), float("nan")
    # one seed has no spread: NaN (printed "n/a"), never a misleading 0
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else float("nan")


@dataclass
class MethodResult:
    """One method under one protocol over several seeds (fractions, not percent).

    ``per_seed`` holds, per seed: ``seed``, ``acc``, ``mauc`` (means over folds),
    ``acc_pooled``, ``mauc_pooled`` (all out-of-fold predictions together), ``confusion``
    (pooled, 5 x 5), ``folds`` (per-fold ``n_train``, ``n_test``, ``acc``, ``mauc``,
    ``classes_present``). ``features`` (not serialised) holds the fused features ``FF`` and
    labels of the last fold's test samples of the first seed, for
    :func:`geoanom.dlep.figures.plot_tsne`.
    """

    method: str
    protocol: str
    seeds: list[int]
    per_seed: list[dict]
    n_samples: int
    note: str = ""
    features: dict | None = field(default=None, repr=False, compare=False)

    @property
    def acc(self) -> list[float]:
        """Per-seed ACC."""
        return [d["acc"] for d in self.per_seed]

    @property
    def mauc(self) -> list[float]:
        """Per-seed MAUC."""
        return [d["mauc"] for d in self.per_seed]

    @property
    def acc_mean(self) -> float:
        return _mean_std(self.acc)[0]

    @property
    def acc_std(self) -> float:
        return _mean_std(self.acc)[1]

    @property
    def mauc_mean(self) -> float:
        return _mean_std(self.mauc)[0]

    @property
    def mauc_std(self) -> float:
        return _mean_std(self.mauc)[1]

    @property
    def confusion(self) -> list:
        """Per-seed pooled confusion matrices."""
        return [d["confusion"] for d in self.per_seed]

    def to_dict(self) -> dict:
        """JSON-safe dict (``type`` = ``geoanom.DLEPMethodResult``)."""
        return json_safe({
            "type": "geoanom.DLEPMethodResult", "method": self.method,
            "protocol": self.protocol, "leaky": self.protocol == "kfold",
            "note": self.note, "seeds": self.seeds,
            "n_samples": self.n_samples, "acc_mean": self.acc_mean, "acc_std": self.acc_std,
            "mauc_mean": self.mauc_mean, "mauc_std": self.mauc_std, "per_seed": self.per_seed})

    @classmethod
    def from_dict(cls, d: Mapping) -> MethodResult:
        """Rebuild from :meth:`to_dict` output."""
        if d.get("type") != "geoanom.DLEPMethodResult":
            raise FormatError("not a DLEP method result", expected="geoanom.DLEPMethodResult",
                              found=str(d.get("type")))
        return cls(method=d["method"], protocol=d["protocol"], seeds=list(d["seeds"]),
                   per_seed=list(d["per_seed"]), n_samples=int(d["n_samples"]),
                   note=d.get("note", ""))


def method_result(samples: Samples, plan: Plan, predictions: Sequence[Prediction]
                  ) -> MethodResult:
    """Per-seed metrics (fold means, pooled confusion) of ``plan`` from its jobs' test
    predictions (in job order)."""
    seeds = plan.seeds
    per_seed, features = [], None
    for seed in seeds:
        rows, ys, ps, accs, aucs, briers = [], [], [], [], [], []
        mine = [(j, o) for j, o in zip(plan.jobs, predictions, strict=True) if j.seed == seed]
        for job, (proba, ff) in mine:
            fold, yt = job.fold, job.y[job.test_idx]
            acc = float(np.mean(proba.argmax(1) == yt))
            auc = mauc(yt, proba)
            accs.append(acc)
            aucs.append(auc)
            briers.append(brier(yt, proba))
            rows.append({"fold": fold, "n_train": int(len(job.train_idx)),
                         "n_test": int(len(job.test_idx)),
                         "acc": acc, "mauc": auc, "brier": briers[-1],
                         "classes_present": sorted(int(c) for c in np.unique(yt))})
            ys.append(yt)
            ps.append(proba)
            if seed == seeds[0] and ff is not None and fold == len(mine) - 1:
                features = {"features": ff, "labels": yt, "fold": fold, "seed": seed}
        y_all, p_all = np.concatenate(ys), np.concatenate(ps)
        fin = [a for a in aucs if np.isfinite(a)]
        per_seed.append({
            "seed": seed, "acc": float(np.mean(accs)),
            "mauc": float(np.mean(fin)) if fin else float("nan"),
            "brier": float(np.mean(briers)),
            "acc_pooled": float(np.mean(p_all.argmax(1) == y_all)),
            "mauc_pooled": mauc(y_all, p_all),
            "confusion": confusion(y_all, p_all.argmax(1)).tolist(), "folds": rows})
    return MethodResult(method=plan.method, protocol=plan.protocol, seeds=list(seeds),
                        per_seed=per_seed, n_samples=len(samples),
                        note=KFOLD_NOTE if plan.protocol == "kfold" else CHRONO_NOTE,
                        features=features)


def samples_summary(samples: Samples) -> dict:
    """Counts and configuration of the samples (for results files and tables)."""
    return json_safe({
        "n_samples": len(samples), "class_counts": samples.class_counts(),
        "edges": samples.edges, "config": samples.config,
        "first_mainshock": str(samples.mainshock_time.min()) if len(samples) else None,
        "last_mainshock": str(samples.mainshock_time.max()) if len(samples) else None,
        "indicators_defined_fraction": dict(zip(INDICATOR_NAMES,
                                                samples.indicator_mask.mean(axis=0), strict=True))
        if len(samples) else {}})


@dataclass
class DLEPResults:
    """Every method of one ``geoanom dlep evaluate`` run, written as one JSON file."""

    region: str
    samples: dict
    results: dict[str, dict[str, MethodResult]]  # protocol -> method -> result
    config: dict
    provenance: dict

    type = RESULT_TYPE

    def to_dict(self) -> dict:
        """JSON-safe dict with the paper's rows beside ours."""
        return json_safe({
            "type": RESULT_TYPE, "region": self.region, "samples": self.samples,
            "config": self.config,
            "results": {p: {m: r.to_dict() for m, r in rs.items()}
                        for p, rs in self.results.items()},
            "records": self.records(),
            "notes": {"kfold": KFOLD_NOTE, "chrono": CHRONO_NOTE},
            "paper": {"table3": PAPER_TABLE3.get(self.region),
                      "table4": PAPER_TABLE4.get(self.region)},
            "provenance": self.provenance})

    def records(self) -> list[dict]:
        """One flat record per method, protocol and seed: ``method``, ``protocol``,
        ``leaky``, ``seed``, ``acc``, ``mauc``, ``brier`` (fractions)."""
        out = []
        for p, rs in self.results.items():
            for m, r in rs.items():
                for d in r.per_seed:
                    out.append({"method": m, "protocol": p, "leaky": p == "kfold",
                                "seed": d["seed"], "acc": d["acc"], "mauc": d["mauc"],
                                "brier": d.get("brier")})
        return out

    @classmethod
    def from_dict(cls, d: Mapping) -> DLEPResults:
        """Rebuild from :meth:`to_dict` output; FormatError on another type."""
        if not isinstance(d, Mapping) or d.get("type") != RESULT_TYPE:
            raise FormatError("not a DLEP results file", expected=RESULT_TYPE,
                              found=str(d.get("type") if isinstance(d, Mapping) else type(d)))
        res = {p: {m: MethodResult.from_dict(r) for m, r in rs.items()}
               for p, rs in d["results"].items()}
        return cls(region=d["region"], samples=d["samples"], results=res, config=d["config"],
                   provenance=d["provenance"])

    def write(self, path: str | os.PathLike) -> Path:
        """Write strict JSON atomically."""
        return write_json(path, self.to_dict())

    @classmethod
    def read(cls, path: str | os.PathLike) -> DLEPResults:
        """Read a results JSON file."""
        return cls.from_dict(read_json(path, "DLEP results file"))
