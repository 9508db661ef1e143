"""Placebos of the primary test; each should come out null: the alarm AFTER the events,
mainshocks too far away to be seen, a remote station's score, and Poisson fake catalogs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from geoanom.stats.alarm import StationSetup, lead_max, lead_max_after, seen_mask
from geoanom.stats.primary import event_test
from geoanom.stats.protocol import Protocol


def _entry(description: str, r: dict) -> dict:
    return {"description": description, "auc": r["auc"], "p_value": r["p_value"],
            "n_events": r["n_events"]}


def placebos(st: StationSetup, catalog: pd.DataFrame, mainshock: np.ndarray,
             protocol: Protocol, shifts: np.ndarray, remote: np.ndarray | None,
             rng: np.random.Generator) -> dict:
    """The ``placebos`` block (draws the fake catalogs from ``rng``)."""
    p = protocol
    n = st.binned.n
    pl: dict = {}
    La = lead_max_after(st.binned.a, st.lmin, st.lmax)
    r = event_test(La, st.test & np.isfinite(La) & st.eligible, st.target_bins, shifts)
    pl["after_event"] = _entry("alarm over the lead window AFTER each event", r)
    cb = st.binned.bin_of(catalog["time"].to_numpy())
    far = (seen_mask(catalog, st.lat, st.lon, p, radius_factor_min=p.placebos_far_factor)
        & mainshock)
    r = event_test(st.L, st.eligible, cb[far & (cb >= 0) & (cb < n)], shifts)
    pl["far_events"] = _entry(f"mainshocks beyond {p.placebos_far_factor:g} R(M)", r)
    pl["remote_station"] = None
    if remote is not None:
        Lr = lead_max(remote, st.lmin, st.lmax)
        r = event_test(Lr, st.eligible & np.isfinite(Lr), st.target_bins, shifts)
        pl["remote_station"] = _entry("a remote station's score against this station's "
                                      "events", r)
    K = p.surrogates_n_fake_catalogs
    fps = []
    for _ in range(K):
        fake = np.sort(rng.integers(0, n, size=st.target_bins.size))
        fps.append(event_test(st.L, st.eligible, fake, shifts)["p_value"])
    fps_a = np.asarray(fps, float)
    pl["fake_catalogs"] = {"description": "Poisson catalogs with the targets' rate",
                           "n_catalogs": K, "p_values": fps_a,
                           "rejection_rate": float(np.nanmean(fps_a <= p.alpha)) if K else None}
    for v in pl.values():
        if v is not None and "p_value" in v:
            v["came_out_null"] = bool(not (v["p_value"] is not None
                                           and np.isfinite(v["p_value"])
                                           and v["p_value"] <= p.alpha))
    return pl
