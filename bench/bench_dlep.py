"""Where the time of the full Japan DLEP table goes, and what it costs on this machine.

    python bench/bench_dlep.py [--indim 600] [--epochs 65] [--seeds 5] [--steps 6]

The full table is Table III + IV at the paper's settings: 6 methods (DLEP, DLEP(-Att),
DLEP(-Dyn), 2016N, 2019F, 2018CNN) x 2 protocols (chrono, kfold) x 5 seeds on the Japan
preset (1,037 samples). Running it takes hours on a shared 2-core machine, so this script
measures its parts and adds them up (printed as JSON lines, one per figure):

* ``group_step``: CPU and wall seconds of one training step of one (seed, fold) network
  inside :class:`geoanom.dlep.model.GroupedDLEP`, split into forward, backward and the
  optimiser, measured on ``--steps`` steps with the group size the table uses
  (:func:`geoanom.dlep.grouped.group_limit`: 9 gated networks at Indim 600) and, as the
  reference, with every job of a protocol in one group (25 for chrono, 50 for kfold, as
  before groups were capped), with 1 and 2 torch threads;
* ``steps``: how many such steps the table needs (from the real folds: epochs x batches per
  job, summed over jobs), per protocol and DLEP-family method;
* ``baseline_fold``: CPU seconds of one fold of 2016N, 2019F and 2018CNN;
* ``freed_memory_reuse``: the same gated step in two fresh processes, with glibc's default
  allocator settings and with :func:`geoanom.dlep.keep_freed_memory` (what the table's
  worker processes and the ``geoanom dlep`` commands use; the other figures are measured
  with it);
* ``full_table``: the sum, in CPU seconds and as wall time on 2 free cores (the table's
  tasks spread over 2 processes, ``--workers 2``), against the 30-minute target; ``share``
  says where the time goes. ``speedup_vs_one_group`` is the same sum with the one-group
  step costs divided by this one (same run, same machine).

The measured wall time of the real table is in ``bench/dlep_runs/japan_paper.json``
(``provenance.timing_s``), made by ``python bench/dlep_tables.py run --region japan
--seeds 5 --epochs 65 --indim 600 --workers 2 --tag _paper``.

CPU seconds are the figure that does not grow with the other users of a shared machine;
wall time on a loaded machine is longer by the load factor.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("GEOANOM_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _step_in_fresh_process(keep: bool, *args) -> dict:
    """:func:`_step_time_of` in a new process, with or without glibc's freed-memory reuse
    (a process-wide setting that cannot be undone, hence the fresh process)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_child_step, keep, *args).result()


def _child_step(keep: bool, *args) -> dict:
    from geoanom._malloc import keep_freed_memory

    applied = keep_freed_memory() if keep else False
    return {"freed_memory_reused": applied, **_step_time_of(*args)}


def _step_time_of(n_features: int, w: int, jobs_n: int, indim: int, steps: int,
                  threads: int, gated: bool) -> dict:
    import numpy as np
    import torch

    from geoanom.dlep.model import GroupAdam, GroupedDLEP

    torch.set_num_threads(threads)
    g, b = jobs_n, 24
    model = GroupedDLEP(g, 9, n_features, w, indim=indim,
                        gated=gated, seeds=list(range(g)))
    opt = GroupAdam(model.parameters(), lr=2.5e-4)
    rng = np.random.default_rng(0)
    x = {"EF": torch.as_tensor(rng.normal(size=(g, b, 9)).astype(np.float32)),
         "EF_mask": torch.ones(g, b, 9),
         "IF": torch.as_tensor(rng.normal(size=(g, b, w, n_features)).astype(np.float32))}
    y = torch.as_tensor(rng.integers(0, 5, (g, b)))
    act = torch.ones(g, dtype=torch.bool)
    model.train()
    parts = np.zeros(3)
    wall = 0.0
    cpu0 = time.process_time()
    for k in range(steps + 1):
        t0 = time.perf_counter()
        model.set_step(k)
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 5), y.reshape(-1))
        t1 = time.perf_counter()
        opt.zero_grad()
        loss.backward()
        t2 = time.perf_counter()
        opt.step(act)
        t3 = time.perf_counter()
        if k == 0:  # warm-up
            cpu0 = time.process_time()
            continue
        parts += (t1 - t0, t2 - t1, t3 - t2)
        wall += t3 - t0
    cpu = time.process_time() - cpu0
    per = 1.0 / (steps * g)
    return {"groups": g, "indim": indim, "threads": threads, "gated": gated,
            "cpu_s_per_group_step": cpu * per, "wall_s_per_group_step": wall * per,
            "forward_share": parts[0] / parts.sum(), "backward_share": parts[1] / parts.sum(),
            "optimiser_share": parts[2] / parts.sum(),
            "params_per_group": sum(p.numel() for p in model.parameters()) // g}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=65)
    ap.add_argument("--indim", type=int, default=600)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=6, help="Timed steps per measurement.")
    ap.add_argument("--threads-list", default="1,2",
                    help="torch thread counts to time (the total uses 1).")
    args = ap.parse_args()

    import numpy as np
    import torch

    from geoanom._malloc import keep_freed_memory
    from geoanom.dlep.config import DLEPConfig
    from geoanom.dlep.fit import fit_predict
    from geoanom.dlep.folds import make_folds
    from geoanom.dlep.grouped import group_limit
    from geoanom.dlep.jobs import Job
    from geoanom.dlep.segment import get_region, segment_catalog
    from geoanom.io import read_catalog

    torch.set_num_threads(1)
    cat = read_catalog(DATA / "catalogs" / "japan_usgs_1990_2019_EarthquakeNPP.csv")
    samples = segment_catalog(cat, get_region("japan"), n_events=20, w=10)
    cfg = DLEPConfig(epochs=args.epochs, indim=args.indim)
    steps = {}
    folds = {}
    for proto in ("chrono", "kfold"):
        fs = [f for s in range(args.seeds) for f in make_folds(samples, proto, s, cfg)]
        folds[proto] = fs
        steps[proto] = int(sum(args.epochs * (len(tr) // cfg.batch_size) for tr, _ in fs))
        print(json.dumps({"figure": "steps", "protocol": proto, "jobs": len(fs),
                          "group_steps_per_dlep_method": steps[proto]}), flush=True)
    # glibc's freed-memory reuse (what the table's worker processes do), measured in two
    # fresh processes on the capped gated group; the timings below run with it, as the table
    g = min(group_limit(samples, "dlep", cfg), len(folds["kfold"]))
    pair = {keep: _step_in_fresh_process(keep, samples.pattern.shape[-1], samples.w, g,
                                         args.indim, 3 * args.steps, 1, True)
            for keep in (False, True)}
    print(json.dumps({"figure": "freed_memory_reuse", "groups": g, "indim": args.indim,
                      "reused": pair[True]["freed_memory_reused"],
                      "wall_s_per_group_step_default": round(
                          pair[False]["wall_s_per_group_step"], 5),
                      "wall_s_per_group_step_reused": round(
                          pair[True]["wall_s_per_group_step"], 5),
                      "speedup": round(pair[False]["wall_s_per_group_step"]
                                       / pair[True]["wall_s_per_group_step"], 2)}),
          flush=True)
    keep_freed_memory()
    per, one = {}, {}
    for proto in ("chrono", "kfold"):
        for threads in [int(t) for t in args.threads_list.split(",")]:
            for gated in (True, False):
                g = group_limit(samples, "dlep" if gated else "dlep-att", cfg)
                g = min(g, len(folds[proto]))
                for size, store, kind in ((g, per, "capped"),
                                          (len(folds[proto]), one, "one group")):
                    r = _step_time_of(samples.pattern.shape[-1], samples.w, size, args.indim,
                                      args.steps, threads, gated)
                    store[(proto, threads, gated)] = r
                    print(json.dumps({"figure": "group_step", "protocol": proto,
                                      "grouping": kind,
                                      **{k: (round(v, 5) if isinstance(v, float) else v)
                                         for k, v in r.items()}}), flush=True)
    torch.set_num_threads(1)
    base = {}
    tr, te = folds["kfold"][0]
    job = Job(0, 0, tr, te, samples.labels_for(tr))
    cache: dict = {}
    for m in ("2016n", "2019f", "2018cnn"):
        fit_predict(samples, m, job, config=cfg, cache=cache)  # warm
        c0 = time.process_time()
        fit_predict(samples, m, job, config=cfg, cache=cache)
        base[m] = time.process_time() - c0
        print(json.dumps({"figure": "baseline_fold", "method": m,
                          "cpu_s": round(base[m], 3)}), flush=True)
    # DLEP and DLEP(-Dyn) are gated (same cost), DLEP(-Att) is not
    parts, ref = {}, 0.0
    for proto in ("chrono", "kfold"):
        g1 = per[(proto, 1, True)]["cpu_s_per_group_step"]
        g0 = per[(proto, 1, False)]["cpu_s_per_group_step"]
        parts[f"{proto}/dlep"] = steps[proto] * g1
        parts[f"{proto}/dlep-dyn"] = steps[proto] * g1
        parts[f"{proto}/dlep-att"] = steps[proto] * g0
        ref += steps[proto] * (2 * one[(proto, 1, True)]["cpu_s_per_group_step"]
                               + one[(proto, 1, False)]["cpu_s_per_group_step"])
        for m, c in base.items():
            # chrono folds train on fewer samples: scale by the training sizes
            n_tr = np.mean([len(t) for t, _ in folds[proto]]) / len(tr)
            parts[f"{proto}/{m}"] = c * len(folds[proto]) * n_tr
    total = sum(parts.values())
    ref += total - sum(v for k, v in parts.items() if "/dlep" in k)
    print(json.dumps({
        "figure": "full_table", "indim": args.indim, "epochs": args.epochs,
        "seeds": args.seeds, "cpu_s": round(total, 1),
        "wall_s_on_2_free_cores": round(total / 2, 1),
        "target_wall_s": 1800, "ratio_vs_target": round(total / 2 / 1800, 2),
        "one_group_cpu_s": round(ref, 1), "speedup_vs_one_group": round(ref / total, 2),
        "share": {k: round(v / total, 3) for k, v in sorted(parts.items(),
                                                           key=lambda kv: -kv[1])},
        "cpu_s_parts": {k: round(v, 1) for k, v in parts.items()},
        "note": "2 free cores = the table's tasks on 2 processes (--workers 2), 1 torch "
                "thread each"}), flush=True)


if __name__ == "__main__":
    main()
