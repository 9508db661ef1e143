"""Held-out AUC of negative learning versus the plain autoencoder on synthetic worlds.

    python bench/detector_auc.py report [--seeds 8] [--strength 3] [--days 365]
    python bench/detector_auc.py tune   [--seeds 6] [--strength 3] [--variants NAME ...]

Each world: one station (SYA), 1-minute data, ETAS background 2 M>=3 events per day,
precursors 1-10 days before M>=5 events within the Dobrovolsky radius; the record is
band-passed to the precursor's ULF band (2-8 mHz, causal), cut into 1-hour windows every
2 hours and labelled with the same lead (1-10 days) by :func:`geoanom.detector.windows.build_window_set`
(chronological train / val / test = 0.6 / 0.15 / 0.25 with the embargo). Worlds whose val or
test split lacks seismic or normal windows are skipped (and reported).

``tune`` trains the listed variants of the training configuration and prints their
*validation* AUC only (tuning seeds 100, 101, ... are worlds the report never uses), plus
diagnostics of the loss: the hinge margin at the end, the share of seismic training windows
still under the margin, and the plain autoencoder's seismic/normal error ratio.

``report`` trains negative learning (the package defaults of
:class:`~geoanom.detector.nn.train.TrainConfig`, apart from the small-model settings below, or
``--nl-variant``) and the plain
autoencoder (the same with ``lam = 0``) on report seeds 0, 1, ..., and prints the *test*-split
AUC of seismic versus normal windows per seed, the table (mean, standard deviation, min, max),
and the paired difference NL - AE with a Wilcoxon signed-rank test and a paired t-test; then
the same on null worlds (strength 0). One JSON line per run.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from geoanom.detector import preprocess as pp
from geoanom.detector.nn.train import TrainConfig, rank_auc, train, window_scores
from geoanom.detector.windows import WindowConfig, build_window_set
from geoanom.labels import LabelRule
from geoanom.synthetic import PrecursorConfig, make_world

LEAD = (1.0, 10.0)
#: Small-model settings shared by every variant (the windows are 60 steps of 3 components).
BASE = {"hidden_size": 16, "latent_size": 8, "batch_size": 64, "max_epochs": 15,
        "patience": 4, "lr": 3e-3, "batches_per_epoch": 40}

#: Training variants for ``tune`` (changes to TrainConfig on top of BASE). The margins are
#: explicit where the package default changed (3x before the tuning reported in
#: bench/DETECTOR_RESULTS.md, 10x after), so the variants mean what they meant then.
VARIANTS: dict[str, dict] = {
    "ae": {"lam": 0.0},
    "nl_old": {"lam": 1.0, "margin_factor": 3.0, "ramp_epochs": 3},
    "nl_default": {},
    "nl_m1.5": {"margin_factor": 1.5},
    "nl_m10": {"margin_factor": 10.0},
    "nl_lam0.3": {"lam": 0.3, "margin_factor": 3.0},
    "nl_lam3": {"lam": 3.0, "margin_factor": 3.0},
    "nl_sf0.25": {"seismic_fraction": 0.25, "margin_factor": 3.0},
    "nl_abc": {"penalty": "abc"},
    "nl_inverse": {"penalty": "inverse"},
    "nl_ramp0": {"ramp_epochs": 0},
    "nl_m5": {"margin_factor": 5.0},
    "nl_m20": {"margin_factor": 20.0},
    "nl_m10_lam0.3": {"margin_factor": 10.0, "lam": 0.3},
    "nl_m10_lam3": {"margin_factor": 10.0, "lam": 3.0},
    "nl_m10_e30": {"margin_factor": 10.0, "max_epochs": 30, "patience": 6},
    "ae_e30": {"lam": 0.0, "max_epochs": 30, "patience": 6},
}


def window_set(seed: int, days: float, strength: float):
    """The window set and world of one seed."""
    pc = PrecursorConfig(lead_min_days=LEAD[0], lead_max_days=LEAD[1], m_min=5.0)
    w = make_world(seed, days, cadence_s=60.0, n_stations=1, precursor_strength=strength,
                   precursor=pc, etas={"background_rate_per_day": 2.0})
    rec = pp.bandpass(w.records["SYA"], low_hz=2e-3, high_hz=8e-3, components=["X", "Y", "Z"])
    cfg = WindowConfig(window_length_s=3600.0, stride_s=7200.0, max_missing_fraction=0.1,
                       components=("X", "Y", "Z"),
                       label_rule=LabelRule(m_min=5.0, lead_days=LEAD, buffer_days=2.0,
                                            post_event_exclusion_days=5.0,
                                            normal_margin_magnitude=0.0),
                       split_fractions=(0.6, 0.15, 0.25))
    return build_window_set(rec, w.catalog, cfg), w


def usable(ws) -> bool:
    """Both classes in the val and in the test split."""
    sp, lab = ws["split"].values, ws["label"].values
    return all(np.any((sp == s) & (lab == k)) for s in ("val", "test") for k in (0, 1))


def split_scores(model, ws, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Errors, labels and event ids of the labelled windows of one split."""
    m = (ws["split"].values == split) & (ws["label"].values >= 0)
    e = window_scores(model, torch.from_numpy(np.ascontiguousarray(ws["data"].values[m])),
                      torch.from_numpy(np.ascontiguousarray(ws["valid"].values[m])))
    return e, ws["label"].values[m], ws["event_id"].values[m].astype(str)


def config_for(variant: dict, seed: int) -> TrainConfig:
    """TrainConfig of a variant: package defaults, then BASE, then the variant."""
    return TrainConfig(**{**TrainConfig().to_dict(), **BASE, **variant, "seed": seed})


def run_one(ws, cfg: TrainConfig, out: Path) -> dict:
    """Train one model; its val/test AUC and the loss diagnostics."""
    t0 = time.perf_counter()
    res = train(ws, cfg, out_dir=out, device="cpu", progress=False, resume=False)
    row = {"best_epoch": res.best_epoch, "epochs": res.epochs_run}
    for split in ("val", "test"):
        e, lab, ev = split_scores(res.model, ws, split)
        row[f"{split}_auc"] = rank_auc(e[lab == 1], e[lab == 0])
        row[f"{split}_seismic"] = int((lab == 1).sum())
        row[f"{split}_normal"] = int((lab == 0).sum())
        row[f"{split}_events"] = len(set(ev[lab == 1]) - {""})
    e, lab, _ = split_scores(res.model, ws, "train")
    med_n = float(np.median(e[lab == 0]))
    row["train_seismic_over_normal"] = float(np.median(e[lab == 1]) / med_n)
    margin = res.log[-1]["margin"]
    row["margin_over_median_normal"] = float(margin / med_n) if math.isfinite(margin) else None
    row["seismic_under_margin"] = (float(np.mean(e[lab == 1] < margin))
                                   if math.isfinite(margin) else None)
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def worlds(first_seed: int, n: int, days: float, strength: float, max_tries: int):
    """Yield ``(seed, ws, world)`` for the first ``n`` usable seeds from ``first_seed``."""
    got = 0
    for seed in range(first_seed, first_seed + max_tries):
        if got >= n:
            return
        ws, w = window_set(seed, days, strength)
        if not usable(ws):
            print(json.dumps({"strength": strength, "seed": seed,
                              "skipped": "val or test split lacks seismic or normal windows"}),
                  flush=True)
            continue
        got += 1
        yield seed, ws, w


def summarise(values: list[float]) -> dict:
    a = np.asarray(values, float)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return {"n": 0}
    return {"n": int(a.size), "mean": round(float(a.mean()), 4),
            "std": round(float(a.std(ddof=1)) if a.size > 1 else 0.0, 4),
            "min": round(float(a.min()), 4), "max": round(float(a.max()), 4)}


def paired(nl: list[float], ae: list[float]) -> dict:
    """Paired difference NL - AE: mean, std, Wilcoxon signed-rank and paired t (two-sided)."""
    d = np.asarray(nl, float) - np.asarray(ae, float)
    d = d[np.isfinite(d)]
    out = {"n": int(d.size), "mean_diff": round(float(d.mean()), 4) if d.size else None,
           "std_diff": round(float(d.std(ddof=1)), 4) if d.size > 1 else None,
           "nl_better": int((d > 0).sum())}
    if d.size >= 2 and np.any(d != 0):
        out["wilcoxon_p"] = round(float(stats.wilcoxon(d).pvalue), 4)
        out["paired_t_p"] = round(float(stats.ttest_1samp(d, 0.0).pvalue), 4)
    return out


def vs_chance(aucs: list[float]) -> dict:
    """Held-out AUC against 0.5 over worlds: Wilcoxon signed-rank and t test (two-sided)."""
    d = np.asarray(aucs, float) - 0.5
    d = d[np.isfinite(d)]
    if d.size < 2 or not np.any(d != 0):
        return {"n": int(d.size)}
    return {"n": int(d.size), "above_half": int((d > 0).sum()),
            "wilcoxon_p": round(float(stats.wilcoxon(d).pvalue), 4),
            "t_p": round(float(stats.ttest_1samp(d, 0.0).pvalue), 4)}


def tune(args) -> None:
    names = args.variants or list(VARIANTS)
    per: dict[str, list[dict]] = {k: [] for k in names}
    with tempfile.TemporaryDirectory() as d:
        for seed, ws, _ in worlds(args.first_seed or 100, args.seeds, args.days, args.strength,
                                  args.max_tries):
            for name in names:
                row = run_one(ws, config_for(VARIANTS[name], seed), Path(d) / f"{seed}_{name}")
                row.pop("test_auc")  # tuning never looks at the test period
                print(json.dumps({"tune": name, "seed": seed, **row}), flush=True)
                per[name].append(row)
    ae = [r["val_auc"] for r in per.get("ae", [])]
    for name in names:
        v = [r["val_auc"] for r in per[name]]
        out = {"variant": name, "config": VARIANTS[name], "val_auc": summarise(v)}
        if ae and name != "ae":
            out["val_paired_vs_ae"] = paired(v, ae)
        print(json.dumps(out), flush=True)


def report(args) -> None:
    rows = []
    strengths = (args.strength,) if args.no_null else (args.strength, 0.0)
    with tempfile.TemporaryDirectory() as d:
        for strength in strengths:
            for seed, ws, w in worlds(args.first_seed or 0, args.seeds, args.days, strength,
                                      args.max_tries):
                for name, variant in (("negative_learning", VARIANTS[args.nl_variant]),
                                      ("plain_autoencoder", {"lam": 0.0})):
                    cfg = config_for(variant, seed)
                    row = {"strength": strength, "seed": seed, "model": name,
                           **run_one(ws, cfg, Path(d) / f"{strength}_{seed}_{name}"),
                           "precursors": len(w.truth["precursors"])}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    cfg_nl = config_for(VARIANTS[args.nl_variant], 0).to_dict()
    print(json.dumps({"negative_learning_config": {k: cfg_nl[k] for k in (
        "penalty", "lam", "ramp_epochs", "margin_factor", "seismic_fraction", "max_epochs",
        "patience", "batches_per_epoch", "hidden_size", "latent_size", "lr")}}), flush=True)
    for strength in strengths:
        out = {"strength": strength}
        sel = {m: sorted((r for r in rows if r["strength"] == strength and r["model"] == m),
                         key=lambda r: r["seed"]) for m in ("negative_learning",
                                                             "plain_autoencoder")}
        for m, rs in sel.items():
            out[m] = {"test_auc": summarise([r["test_auc"] for r in rs]),
                      "val_auc": summarise([r["val_auc"] for r in rs]),
                      "test_vs_chance": vs_chance([r["test_auc"] for r in rs])}
        out["paired_test_nl_minus_ae"] = paired(
            [r["test_auc"] for r in sel["negative_learning"]],
            [r["test_auc"] for r in sel["plain_autoencoder"]])
        out["test_events_per_seed"] = [r["test_events"] for r in sel["negative_learning"]]
        print(json.dumps(out), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=("report", "tune"))
    ap.add_argument("--seeds", type=int, default=8, help="usable worlds per strength")
    ap.add_argument("--max-tries", type=int, default=30, help="give up after this many seeds")
    ap.add_argument("--first-seed", type=int, default=None,
                    help="first seed tried (default: 100 for tune, 0 for report)")
    ap.add_argument("--days", type=float, default=365.0)
    ap.add_argument("--strength", type=float, default=3.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--variants", nargs="*", default=None, help="tune: variant names")
    ap.add_argument("--nl-variant", default="nl_default", choices=sorted(VARIANTS),
                    help="report: the negative-learning variant (default: package defaults)")
    ap.add_argument("--no-null", action="store_true", help="report: skip the null worlds")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    (tune if args.mode == "tune" else report)(args)
    print(json.dumps({"total_seconds": round(time.perf_counter() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main()

