"""The real path end to end: MMB (Memambetsu, March 2011) scores as DLEP's geomagnetic stream
with the Japan catalog (issue 7).

    python bench/fusion_mmb.py [--data ../shared/data] [--epochs 65] [--indim 600] [--seeds 1]
                                [--out DIR]

1. Read ``geomag/japan_MMB_2011-03/mmb_2011_march.txt`` (IAGA-2002, 1-min D H Z F) and
   band-pass D, H, Z causally to 2-8 mHz (the ULF band the detector looks at).
2. Train a small BiLSTM autoencoder (``geoanom.detector.nn.train``) on 2011-03-01 .. 2011-03-05 only
   (``--train-until``). Under METHODS.md labels the month has **no normal window** (every
   window before 03-11 lies 1-30 days before Tohoku, every window after it in the 30-day
   post-event exclusion), so negative learning is impossible here: the detector is the plain
   autoencoder (``lam = 0``) with every window treated as normal (``m_min = 9.5``, no
   blocking events): it learns what the first five days of March looked like.
3. Score the whole month (1-h windows every 30 min) and write ``mmb_scores.nc``
   (``geoanom.detector.score.write_scores``).
4. Segment the Japan catalog (``japan_usgs_1990_2019_EarthquakeNPP.csv``, the Japan preset of
   the DLEP paper's Table I) and build the stream exactly as ``geoanom dlep evaluate
   --geomag-scores`` does (``geoanom.dlep.fusion.stream_from_scores``); report how many DLEP
   samples have any geomagnetic data, in all and per chronological test fold.
5. Evaluate ``dlep``, ``dlep+geomag`` and ``geomag-only`` (chronological protocol), once as
   the CLI would (no training-period check) and once with ``trained_until`` set, where the
   fusion module masks the stream in every fold whose test period starts before the
   detector's training data end (``on_leak="mask"``).

Acknowledgement: MMB data from JMA (Memambetsu observatory) via WDC for Geomagnetism, Kyoto;
catalog from USGS ComCat via the EarthquakeNPP repository.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from geoanom.detector import preprocess as pp
from geoanom.detector.nn.train import TrainConfig, train
from geoanom.detector.score import score_record, write_scores
from geoanom.detector.windows import WindowConfig, build_window_set, label_counts
from geoanom.dlep import fusion
from geoanom.dlep.config import DLEPConfig
from geoanom.dlep.evaluate import evaluate
from geoanom.dlep.folds import make_folds
from geoanom.dlep.segment import get_region, segment_catalog
from geoanom.io import read_catalog, read_record
from geoanom.labels import LabelRule

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path("/tmp/geoanom_fusion_mmb"))
    ap.add_argument("--train-until", default="2011-03-06T00:00:00")
    ap.add_argument("--epochs", type=int, default=65, help="DLEP epochs (paper: 65)")
    ap.add_argument("--indim", type=int, default=600, help="DLEP Indim (paper: 600)")
    ap.add_argument("--detector-epochs", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=1, help="DLEP seeds")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict = {"args": {k: str(v) for k, v in vars(args).items()}}
    t_all = time.perf_counter()

    # 1-3: detector and scores
    path = args.data / "geomag" / "japan_MMB_2011-03" / "mmb_2011_march.txt"
    rec = pp.bandpass(read_record(path), low_hz=2e-3, high_hz=8e-3, components=["D", "H", "Z"])
    cat = read_catalog(args.data / "catalogs" / "japan_usgs_1990_2019_EarthquakeNPP.csv")
    t_cut = np.datetime64(args.train_until, "ns")
    cut = rec.sel(time=rec["time"] < t_cut)
    wc = WindowConfig(window_length_s=3600.0, stride_s=1800.0, components=("D", "H", "Z"),
                      label_rule=LabelRule(m_min=9.5, normal_margin_magnitude=0.0,
                                           lead_days=(0.0, 0.5), buffer_days=0.0,
                                           decluster="none", require_catalog_coverage=False),
                      split_fractions=(0.7, 0.3, 0.0))
    ws = build_window_set(cut, cat[cat["time"].to_numpy() < t_cut], wc)
    report["detector_windows"] = {s: int((ws["split"].values == s).sum())
                                  for s in ("train", "val", "gap")}
    report["detector_labels"] = label_counts(ws)
    t = time.perf_counter()
    res = train(ws, TrainConfig(lam=0.0, hidden_size=16, latent_size=8,
                                max_epochs=args.detector_epochs, batches_per_epoch=30,
                                patience=3, lr=3e-3), out_dir=args.out / "model",
                device="cpu", resume=False, progress=False, inputs=[path])
    report["detector_train_s"] = time.perf_counter() - t
    report["detector_last_window_end"] = str(ws["end"].values.max())
    scores = score_record(res.out_dir, rec, device="cpu", inputs=[path])
    nc = write_scores(scores, args.out / "mmb_scores.nc")
    r = scores["rmse"].values
    day = scores["end"].values.astype("datetime64[D]")
    daily = {str(d): round(float(np.nanmax(r[day == d])), 3) for d in np.unique(day)}
    report["daily_max_rmse"] = daily

    # 4: samples and coverage
    region = get_region("Japan")
    samples = segment_catalog(cat, region)
    stream = fusion.stream_from_scores([nc], samples, region)
    cov = stream.coverage_summary
    report["n_samples"] = len(samples)
    report["coverage"] = cov
    end, ms = fusion.sample_times(samples)
    has = fusion.daily_aggregates(stream.stations, end, stream.n_days)[1].any(axis=(1, 2))
    report["samples_with_data"] = {
        "mainshock_first": str(samples.mainshock_time[has].min()),
        "mainshock_last": str(samples.mainshock_time[has].max()),
        "magnitudes": np.round(samples.magnitude[has], 1).tolist(),
        "class_counts": np.bincount(samples.label[has], minlength=5).tolist()}
    cfg = DLEPConfig(epochs=args.epochs, indim=args.indim)
    folds = make_folds(samples, "chrono", 0, cfg)
    report["chrono_folds"] = [
        {"fold": k, "n_train": int(len(tr)), "n_test": int(len(te)),
         "test_first_mainshock": str(samples.mainshock_time[te].min()),
         "test_last_mainshock": str(samples.mainshock_time[te].max()),
         "train_with_data": int(has[tr].sum()), "test_with_data": int(has[te].sum())}
        for k, (tr, te) in enumerate(folds)]
    print(json.dumps({k: report[k] for k in ("n_samples", "coverage", "chrono_folds")},
                     indent=1), flush=True)

    # 5: evaluations
    seeds = list(range(args.seeds))
    guarded = fusion.ScoreStream(stream.stations, trained_until=t_cut, on_leak="mask")
    runs = {"dlep": ("dlep", None), "dlep+geomag": ("dlep+geomag", stream),
            "geomag-only": ("geomag-only", stream),
            "dlep+geomag (trained_until guard)": ("dlep+geomag", guarded)}
    report["results"] = {}
    for label, (method, st) in runs.items():
        t = time.perf_counter()
        r = evaluate(samples, method, "chrono", seeds=seeds,
                     extra_streams=None if st is None else {"GF": st}, config=cfg,
                     progress=False)
        folds_mauc = [f["mauc"] for f in r.per_seed[0]["folds"]]
        report["results"][label] = {"mauc": r.mauc_mean, "acc": r.acc_mean,
                                    "mauc_folds_seed0": folds_mauc,
                                    "seconds": time.perf_counter() - t}
        if st is not None:
            report["results"][label]["fold_info"] = {
                str(k): {kk: v for kk, v in info.items() if kk != "normalisation"}
                for k, info in st.fold_info.items()}
        print(label, json.dumps(report["results"][label]), flush=True)
    report["total_s"] = time.perf_counter() - t_all
    (args.out / "fusion_mmb.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(f"wrote {args.out / 'fusion_mmb.json'} ({report['total_s']:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
