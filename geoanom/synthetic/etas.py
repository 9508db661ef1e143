"""The ETAS earthquake catalog of the synthetic world (Gutenberg-Richter magnitudes,
Omori-Utsu aftershocks) and the Aki-Utsu b-value estimate.

Part of :mod:`geoanom.synthetic` (see its docstring for the physics and conventions).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from geoanom._time import NS_PER_DAY
from geoanom.catalog_frame import make_catalog
from geoanom.errors import ConfigError
from geoanom.synthetic.common import _child, _to_ns

# ------------------------------------------------------------------------- ETAS catalog


def _gr_sample(rng: np.random.Generator, n: int, b: float, m_lo: float, m_hi: float) -> np.ndarray:
    """Continuous truncated Gutenberg-Richter magnitudes on [m_lo, m_hi]."""
    u = rng.random(n)
    return m_lo - np.log10(1.0 - u * (1.0 - 10.0 ** (-b * (m_hi - m_lo)))) / b


def _mean_productivity(b: float, alpha: float, m_lo: float, m_hi: float, mc: float) -> float:
    """E[10 ** (alpha (M - mc))] under truncated GR on [m_lo, m_hi] (exact)."""
    beta, a = b * math.log(10), alpha * math.log(10)
    z = 1.0 - math.exp(-beta * (m_hi - m_lo))
    if abs(beta - a) < 1e-12:
        integral = beta * (m_hi - m_lo)
    else:
        integral = beta / (beta - a) * (1.0 - math.exp(-(beta - a) * (m_hi - m_lo)))
    return math.exp(a * (m_lo - mc)) * integral / z


def _omori_sample(rng: np.random.Generator, n: int, c: float, p: float, tmax: float) -> np.ndarray:
    """Delays (days) from the Omori-Utsu density ~ (t + c) ** -p truncated to [0, tmax]."""
    u = rng.random(n)
    if abs(p - 1.0) < 1e-9:
        return c * ((1.0 + tmax / c) ** u - 1.0)
    q = 1.0 - p
    lo, hi = c**q, (tmax + c) ** q
    return (lo + u * (hi - lo)) ** (1.0 / q) - c


def etas_catalog(
    region: tuple[float, float, float, float],
    start: object,
    days: float,
    rng: np.random.Generator,
    *,
    background_rate_per_day: float = 7.0,
    branching_ratio: float = 0.5,
    b_value: float = 1.0,
    alpha: float = 0.8,
    mc: float = 3.0,
    m_max: float = 8.0,
    magnitude_step: float = 0.1,
    omori_c_days: float = 0.01,
    omori_p: float = 1.1,
    omori_tmax_days: float = 365.0,
    burn_in_days: float | None = None,
    depth_mean_km: float = 18.0,
    source: str = "geoanom.synthetic ETAS",
) -> pd.DataFrame:
    """An ETAS-like clustered catalog: Poisson background plus Omori-Utsu aftershocks.

    Parameters
    ----------
    region
        ``(lat_min, lat_max, lon_min, lon_max)`` in degrees: background epicentres are
        uniform in this box (uniform in area); aftershocks fall near their parent and may
        leave it.
    start, days
        Catalog span (UTC, days).
    rng
        Source of randomness.
    background_rate_per_day
        Rate of background events with ``M >= mc`` (per day, whole box).
    branching_ratio
        Mean number of direct aftershocks per event, ``n < 1``. The direct-aftershock count
        of an event of magnitude M is Poisson with mean ``K * 10 ** (alpha (M - mc))``, K set
        so that its mean over the magnitude distribution is ``n``. In the stationary regime
        the expected background fraction is ``1 - n``.
    b_value, mc, m_max, magnitude_step
        Gutenberg-Richter b, completeness and maximum magnitude; magnitudes are drawn
        continuous on ``[mc - step/2, m_max]`` and rounded to ``step`` (so the smallest
        reported bin is ``mc``).
    omori_c_days, omori_p, omori_tmax_days
        Omori-Utsu delay density ``~ (t + c) ** -p`` truncated at ``tmax``.
    burn_in_days
        Simulated time before ``start`` (events there are not reported; their aftershocks
        are). Default ``omori_tmax_days``, which makes the catalog close to stationary.
    depth_mean_km
        Mean background depth (gamma distribution, shape 2, clipped to 1..150 km).

    Returns
    -------
    pandas.DataFrame
        A :func:`geoanom.catalog_frame.make_catalog` frame (magnitude_type ``"Mw"``, ids
        ``syn0000001``... over the whole simulation, so ids of the reported events need not
        start at 1) with extra columns ``is_background`` (bool) and ``parent_id`` (str; ""
        for background events; the parent may precede ``start`` and then is not in the
        frame). ``attrs["etas"]`` holds the parameters.
    """
    if not 0 <= branching_ratio < 1:
        raise ConfigError("ETAS branching ratio must be in [0, 1)", found=str(branching_ratio))
    if m_max <= mc:
        raise ConfigError("m_max must exceed mc", found=f"mc={mc}, m_max={m_max}")
    lat0, lat1, lon0, lon1 = region
    burn = omori_tmax_days if burn_in_days is None else float(burn_in_days)
    t_lo, t_hi = -burn, float(days)
    m_lo = mc - magnitude_step / 2.0
    k_prod = branching_ratio / _mean_productivity(b_value, alpha, m_lo, m_max, mc)
    r_bg, r_af = _child(rng, 2)

    nb = int(r_bg.poisson(background_rate_per_day * (t_hi - t_lo)))
    t = [r_bg.uniform(t_lo, t_hi, nb)]
    s0, s1 = math.sin(math.radians(lat0)), math.sin(math.radians(lat1))
    lat = [np.degrees(np.arcsin(r_bg.uniform(s0, s1, nb)))]
    lon = [r_bg.uniform(lon0, lon1, nb)]
    mag = [_gr_sample(r_bg, nb, b_value, m_lo, m_max)]
    dep = [np.clip(r_bg.gamma(2.0, depth_mean_km / 2.0, nb), 1.0, 150.0)]
    parent = [np.full(nb, -1, dtype=np.int64)]
    gen_t, gen_lat, gen_lon, gen_m, gen_d = t[0], lat[0], lon[0], mag[0], dep[0]
    gen_idx = np.arange(nb)
    total = nb
    while gen_t.size:
        nkids = r_af.poisson(k_prod * 10.0 ** (alpha * (gen_m - mc)))
        par = np.repeat(np.arange(gen_t.size), nkids)
        nk = par.size
        if nk == 0:
            break
        kt = gen_t[par] + _omori_sample(r_af, nk, omori_c_days, omori_p, omori_tmax_days)
        # Spatial kernel: isotropic, density ~ (r^2 + d^2)^-1.5 with d half the parent's
        # rupture length (Wells & Coppersmith 1994, L = 10 ** (-2.44 + 0.59 M) km) + 1 km.
        d = 0.5 * 10.0 ** (-2.44 + 0.59 * gen_m[par]) + 1.0
        u = r_af.random(nk)
        rr = np.minimum(d * np.sqrt(1.0 / (1.0 - u) ** 2 - 1.0), 10.0 * d + 20.0)
        th = r_af.uniform(0.0, 2 * np.pi, nk)
        klat = np.clip(gen_lat[par] + rr * np.cos(th) / 111.195, -89.9, 89.9)
        klon = gen_lon[par] + rr * np.sin(th) / (111.195 * np.cos(np.radians(gen_lat[par])))
        klon = (klon + 180.0) % 360.0 - 180.0
        km = _gr_sample(r_af, nk, b_value, m_lo, m_max)
        kd = np.clip(gen_d[par] + r_af.normal(0.0, 3.0, nk), 0.5, 150.0)
        keep = kt < t_hi
        par_idx = gen_idx[par][keep]
        gen_t, gen_lat, gen_lon, gen_m, gen_d = (kt[keep], klat[keep], klon[keep], km[keep],
            kd[keep])
        gen_idx = total + np.arange(gen_t.size)
        total += gen_t.size
        t.append(gen_t)
        lat.append(gen_lat)
        lon.append(gen_lon)
        mag.append(gen_m)
        dep.append(gen_d)
        parent.append(par_idx)
    t_all = np.concatenate(t)
    order = np.argsort(t_all, kind="mergesort")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    ids = np.array([f"syn{i + 1:07d}" for i in range(order.size)])
    par_all = np.concatenate(parent)
    par_id = np.where(par_all >= 0, ids[rank[np.maximum(par_all, 0)]], "")
    t0 = _to_ns(start).astype(np.int64)
    t_ns = t0 + np.round(t_all * NS_PER_DAY).astype(np.int64)
    keep = (t_all >= 0.0)[order]
    sel = order[keep]
    mags = np.round(np.concatenate(mag)[sel] / magnitude_step) * magnitude_step
    cfg = {"region": list(region), "start": str(np.datetime64(int(t0), "ns")), "days": days,
           "background_rate_per_day": background_rate_per_day,
           "branching_ratio": branching_ratio, "b_value": b_value, "alpha": alpha, "mc": mc,
           "m_max": m_max, "magnitude_step": magnitude_step, "omori_c_days": omori_c_days,
           "omori_p": omori_p, "omori_tmax_days": omori_tmax_days, "burn_in_days": burn,
           "productivity_K": k_prod}
    df = make_catalog(
        t_ns[sel].astype("datetime64[ns]"), np.round(np.concatenate(lat)[sel], 4),
        np.round(np.concatenate(lon)[sel], 4), np.round(mags, 1),
        depth_km=np.round(np.concatenate(dep)[sel], 1), magnitude_type=["Mw"] * sel.size,
        event_id=ids[rank[sel]], source=source,
        query=f"synthetic ETAS in box {tuple(region)}, M>={mc}",
    )
    # make_catalog sorts stably by time; sel is already in time order, so rows align.
    df["is_background"] = (par_all[sel] < 0)
    df["parent_id"] = par_id[sel]
    df.attrs["etas"] = cfg
    return df


def aki_utsu_b(magnitude: np.ndarray, mc: float, magnitude_step: float = 0.1) -> float:
    """Aki-Utsu maximum-likelihood b-value of magnitudes ``>= mc`` (binned by ``step``)."""
    m = np.asarray(magnitude, dtype=float)
    m = m[m >= mc - 1e-9]
    if m.size < 2:
        return float("nan")
    return float(math.log10(math.e) / (m.mean() - (mc - magnitude_step / 2.0)))
