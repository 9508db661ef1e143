"""Benchmark of the primary circular-shift null (geoanom.stats.surrogate).

Ten years of hourly bins (87,600), 100 events, 9,999 season-keeping surrogates; the alarm is
an AR(1) series, the reference set the eligible bins of the last 30 % (test period).
The vectorised path (``season_keeping_shifts`` + ``shifted_values`` + ``null_auc`` +
``p_value``) is timed against a straightforward per-surrogate Python loop (for each
surrogate: shift the event bins, drop ineligible landings, count reference values below and
equal to each event value by comparison); the loop is timed on a subset of surrogates and
scaled per surrogate. Both must give the same AUCs (checked on the subset).

Usage: python bench/bench_stats.py [--surrogates 9999] [--loop-subset 300]
Prints JSON lines.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np


def make_inputs(rng, n_bins=87_600, n_events=100, phi=0.99):
    e = rng.normal(size=n_bins)
    x = np.empty(n_bins)
    x[0] = e[0]
    for i in range(1, n_bins):
        x[i] = phi * x[i - 1] + e[i]
    eligible = np.zeros(n_bins, bool)
    eligible[int(0.7 * n_bins):] = True
    eligible &= rng.random(n_bins) > 0.1
    events = np.sort(rng.choice(n_bins, n_events, replace=False))
    return x, eligible, events


def vectorised(L, eligible, events, n_sur, rng):
    from geoanom.stats import surrogate as sg
    from geoanom.stats.ranks import normalized_ranks

    ref = np.sort(L[eligible])
    shifts = sg.season_keeping_shifts(L.size, 24.0, n_sur, rng, min_shift=30 * 24 + 1)
    null = sg.null_auc(sg.shifted_values(L, events, shifts, eligible), ref)
    ob = events[eligible[events]]
    obs = float(normalized_ranks(L[ob], ref).mean())
    return obs, sg.p_value(obs, null), null, shifts


def loop(L, eligible, events, shifts):
    ref = L[eligible]
    out = []
    for s in shifts:
        b = (events + s) % L.size
        b = b[eligible[b]]
        if b.size == 0:
            out.append(np.nan)
            continue
        tot = 0.0
        for v in L[b]:
            tot += (np.count_nonzero(ref < v) + 0.5 * np.count_nonzero(ref == v)) / ref.size
        out.append(tot / b.size)
    return np.asarray(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--surrogates", type=int, default=9999)
    ap.add_argument("--loop-subset", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    rng = np.random.default_rng(a.seed)
    L, eligible, events = make_inputs(rng)
    vectorised(L, eligible, events, 99, np.random.default_rng(1))  # warm-up (imports)
    t = time.perf_counter()
    obs, p, null, shifts = vectorised(L, eligible, events, a.surrogates,
                                      np.random.default_rng(a.seed + 1))
    tv = time.perf_counter() - t
    k = min(a.loop_subset, a.surrogates)
    t = time.perf_counter()
    ln = loop(L, eligible, events, shifts[:k])
    tl = (time.perf_counter() - t) / k * a.surrogates
    same = bool(np.allclose(ln, null[:k], equal_nan=True))
    print(json.dumps({"bench": "circular_shift_null", "bins": int(L.size),
                      "events": int(events.size), "surrogates": a.surrogates,
                      "vectorised_s": round(tv, 3), "loop_s_estimated": round(tl, 2),
                      "loop_measured_on": k, "speedup": round(tl / tv, 1),
                      "identical_to_loop": same, "auc": round(obs, 4), "p": p}))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
