"""Make the figure of the README tour from synthetic data: ``docs/img/tour_score.png``.

    python docs/make_figures.py [--seed 0] [--out docs/img]

A 150-day synthetic world with precursors of strength 3 (truth known), the demo's
preprocessing (despike, 2-8 mHz band-pass), a small negative-learning detector trained on the
first half, and its daily maximum window error with the events, Kp, the train/test boundary and
the injected precursor windows (:func:`geoanom.plot.plot_score_series`). About half a minute on
one core; deterministic given the seed.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from geoanom.demo import _mainshock_flags, _seen_by, synthetic_example
from geoanom.plot import daily_max, plot_score_series, save_figure


def tour_figure(out: Path, seed: int = 0) -> Path:
    """Write ``tour_score.png`` into ``out`` and return its path."""
    with tempfile.TemporaryDirectory() as work:
        ex = synthetic_example(work, seed=seed)
        seen = _seen_by(ex.catalog, ex.record)
        mains = _mainshock_flags(ex.catalog)
        sc = ex.scores
        t, v = daily_max(sc["end"].values, sc["rmse"].values)
        test_start = sc["start"].values[sc["split"].values.astype(str) == "test"].min()
        ax = plot_score_series(
            t, v, events_time=ex.catalog["time"].to_numpy()[seen],
            events_mag=ex.catalog["magnitude"].to_numpy()[seen], events_mainshock=mains[seen],
            activity_time=ex.activity["time"].to_numpy(),
            activity=ex.activity["kp"].to_numpy(),
            test_start=test_start,
            truth_windows=list(zip(ex.truth["start"], ex.truth["end"], strict=True)),
            score_label="daily max window RMSE",
            title="Synthetic station SYA: negative-learning score, events, Kp, "
                  "injected precursors")
        ax.figure.set_size_inches(10.0, 4.2)
        out.mkdir(parents=True, exist_ok=True)
        assert np.isfinite(v).any()
        return save_figure(ax, out / "tour_score.png", dpi=90)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "img")
    args = ap.parse_args()
    print(tour_figure(args.out, args.seed))


if __name__ == "__main__":
    main()
