"""Held-out AUC of negative learning versus the plain autoencoder on synthetic worlds.

    python bench/detector_auc.py [--seeds 5] [--days 150] [--strength 3] [--threads 2]

Seeds whose test split lacks seismic or normal windows are skipped (and reported) until
``--seeds`` usable seeds are found. For each seed: a synthetic world (one station, SYA, 1-minute data, ETAS background 2 M>=3
events per day, precursors 1-10 days before M>=5 events), band-passed to the precursor's ULF
band (2-8 mHz, causal), cut into 1-hour windows every 2 hours and labelled with the same lead
(1-10 days) by :func:`geoanom.windows.build_window_set`; then the negative-learning model
(hinge, lambda 1) and the plain autoencoder (lambda 0) are trained by the same
:func:`geoanom.nn.train.train` (small model, early stopping on the validation split), and the
AUC of seismic versus normal windows is computed on the *test* split only. The same with
precursor strength 0 (null world). One JSON line per run, then a summary table (mean, standard
deviation, min, max over seeds).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from geoanom import preprocess as pp
from geoanom.nn.train import TrainConfig, rank_auc, train, window_scores
from geoanom.synthetic import PrecursorConfig, make_world
from geoanom.windows import WindowConfig, build_window_set, label_counts

LEAD = (1.0, 10.0)


def window_set(seed: int, days: float, strength: float):
    pc = PrecursorConfig(lead_min_days=LEAD[0], lead_max_days=LEAD[1], m_min=5.0)
    w = make_world(seed, days, cadence_s=60.0, n_stations=1, precursor_strength=strength,
                   precursor=pc, etas={"background_rate_per_day": 2.0})
    rec = pp.bandpass(w.records["SYA"], low_hz=2e-3, high_hz=8e-3, components=["X", "Y", "Z"])
    cfg = WindowConfig(window_length_s=3600.0, stride_s=7200.0, max_missing_fraction=0.1,
                       components=("X", "Y", "Z"), m_min=5.0, lead_days=LEAD, buffer_days=2.0,
                       post_event_exclusion_days=5.0, normal_margin_magnitude=0.0,
                       split_fractions=(0.6, 0.15, 0.25))
    return build_window_set(rec, w.catalog, cfg), w


def test_auc(model, ws) -> tuple[float, int, int, int]:
    m = (ws["split"].values == "test") & (ws["label"].values >= 0)
    lab = ws["label"].values[m]
    e = window_scores(model, torch.from_numpy(ws["data"].values[m]),
                      torch.from_numpy(ws["valid"].values[m]))
    events = ws["event_id"].values[m][lab == 1].astype(str)
    return (rank_auc(e[lab == 1], e[lab == 0]), int((lab == 1).sum()), int((lab == 0).sum()),
            len(set(events) - {""}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5,
                    help="usable seeds wanted per strength (test split with both classes)")
    ap.add_argument("--max-seeds", type=int, default=12,
                    help="give up after trying this many seeds per strength")
    ap.add_argument("--days", type=float, default=365.0)
    ap.add_argument("--strength", type=float, default=3.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-epochs", type=int, default=15)
    ap.add_argument("--batches-per-epoch", type=int, default=40)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    base = TrainConfig(hidden_size=16, latent_size=8, batch_size=64, max_epochs=args.max_epochs,
                       patience=4, ramp_epochs=3, lr=3e-3,
                       batches_per_epoch=args.batches_per_epoch)
    rows = []
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        for strength in (args.strength, 0.0):
            usable = 0
            for seed in range(args.max_seeds):
                if usable >= args.seeds:
                    break
                t0 = time.perf_counter()
                ws, world = window_set(seed, args.days, strength)
                counts = label_counts(ws)
                test = (ws["split"].values == "test")
                lab = ws["label"].values
                if not (np.any(test & (lab == 1)) and np.any(test & (lab == 0))):
                    print(json.dumps({"strength": strength, "seed": seed, "skipped":
                                      "test split lacks seismic or normal windows",
                                      "windows": counts}), flush=True)
                    continue
                usable += 1
                for name, lam in (("negative_learning", 1.0), ("plain_autoencoder", 0.0)):
                    cfg = TrainConfig(**dict(base.to_dict(), lam=lam, seed=seed))
                    try:
                        res = train(ws, cfg, out_dir=Path(d) / f"{strength}_{seed}_{name}",
                                    device="cpu", progress=False, resume=False)
                    except Exception as exc:  # report and go on: a seed may lack a class
                        row = {"strength": strength, "seed": seed, "model": name,
                               "error": str(exc)}
                        print(json.dumps(row), flush=True)
                        continue
                    auc, n_s, n_n, n_ev = test_auc(res.model, ws)
                    row = {"strength": strength, "seed": seed, "model": name,
                           "test_auc": round(auc, 4), "test_seismic": n_s, "test_normal": n_n,
                           "test_events": n_ev, "val_auc": res.log[res.best_epoch]["val_auc"],
                           "best_epoch": res.best_epoch, "epochs": res.epochs_run,
                           "windows": counts,
                           "precursors": len(world.truth["precursors"]),
                           "seconds": round(time.perf_counter() - t0, 1)}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    for strength in (args.strength, 0.0):
        for name in ("negative_learning", "plain_autoencoder"):
            a = np.array([r["test_auc"] for r in rows if r["strength"] == strength
                          and r["model"] == name and np.isfinite(r["test_auc"])])
            if a.size:
                print(json.dumps({"summary": name, "strength": strength, "n_seeds": int(a.size),
                                  "mean_auc": round(float(a.mean()), 4),
                                  "std_auc": round(float(a.std(ddof=1)) if a.size > 1 else 0.0,
                                                   4),
                                  "min_auc": round(float(a.min()), 4),
                                  "max_auc": round(float(a.max()), 4)}), flush=True)
    print(json.dumps({"total_seconds": round(time.perf_counter() - t_all, 1)}), flush=True)


if __name__ == "__main__":
    main()
