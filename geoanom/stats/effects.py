"""Effect sizes of the primary test: the AUC with a bootstrap CI over events, Cliff's
delta, hit rates at fixed fractions of time alarmed, and the alarm's autocorrelation with
the effective sample size it implies."""

from __future__ import annotations

import numpy as np

from geoanom.stats import surrogate as sg
from geoanom.stats.alarm import StationSetup
from geoanom.stats.molchan import molchan_curve, molchan_summary
from geoanom.stats.protocol import Protocol
from geoanom.stats.ranks import cliffs_delta

#: fractions of time alarmed always reported, besides the protocol's grid thresholds
REPORTED_TAUS = (0.05, 0.1, 0.2)


def effect_sizes(st: StationSetup, prim: dict, protocol: Protocol,
                 rng: np.random.Generator) -> dict:
    """The ``effect_sizes`` block of the result (draws the event bootstrap from ``rng``)."""
    p = protocol
    n_ev = prim["n_events"]
    rho = sg.lag1_autocorrelation(st.binned.a[st.test])
    n_fin = int(np.isfinite(st.binned.a[st.test]).sum())
    eff: dict = {"auc": prim["auc"], "n_independent_events": n_ev, "n_bins": prim["n_bins"],
                 "lag1_autocorrelation": rho,
                 "effective_sample_size": sg.effective_sample_size(n_fin, rho),
                 "n_bins_with_data": n_fin}
    if not n_ev:
        eff.update(auc_ci95=[None, None], cliffs_delta=float("nan"),
                   cliffs_delta_ci95=[None, None], at_tau={})
        return eff
    ref = st.ref_sorted
    ev_vals = st.L[prim["event_bins"]]
    curve = molchan_curve(st.L[st.eligible], ev_vals)
    lo, hi = sg.bootstrap_ci_events(prim["ranks"], p.surrogates_n_bootstrap, rng)
    eff["auc_ci95"] = [lo, hi]
    eff["cliffs_delta"] = cliffs_delta(ev_vals, ref)
    eff["cliffs_delta_ci95"] = [2 * lo - 1, 2 * hi - 1]
    eff["at_tau"] = molchan_summary(curve, p.grid_thresholds)["at_tau"]
    for tt in REPORTED_TAUS:
        if f"{tt:g}" not in eff["at_tau"]:
            eff["at_tau"].update(molchan_summary(curve, (tt,))["at_tau"])
    return eff
