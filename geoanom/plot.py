"""Figures of the significance test (PROTOCOL.md "Figures").

Each ``plot_x(..., ax=None) -> Axes`` draws on ``ax`` (a new figure when ``None``) and
returns it; nothing calls ``plt.show()``. :func:`plot_test_figures` writes all of them for a
:class:`geoanom.stats.result.TestResult` as PNG files (atomically).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def _ax(ax, figsize=(6.0, 4.5)):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _arr(x):
    return np.asarray([np.nan if v is None else v for v in x], dtype=float)


def plot_molchan(molchan: dict, baselines: dict | None = None, *, ax=None, title: str = ""):
    """Molchan diagram: miss rate ``nu`` against fraction of time alarmed ``tau``, with the
    surrogate 95 % envelope (``molchan["envelope"]``) and the baselines' curves.

    ``molchan`` is ``TestResult.primary["molchan"]``; ``baselines`` is
    ``TestResult.baselines``.
    """
    ax = _ax(ax, (5.5, 5.0))
    env = molchan.get("envelope")
    if env:
        ax.fill_between(_arr(env["tau"]), _arr(env["nu_lo"]), _arr(env["nu_hi"]),
                        step="post", color="0.8",
                        label=f"95 % surrogate envelope ({env['n_surrogates']} shifts)")
    ax.plot([0, 1], [1, 0], color="0.4", ls="--", lw=1, label="random (diagonal)")
    styles = {"seismicity": ("tab:green", "-."), "activity": ("tab:orange", ":"),
              "remote_station": ("tab:purple", ":")}
    for key, (col, ls) in styles.items():
        b = (baselines or {}).get(key)
        if b and b.get("molchan"):
            ax.plot(_arr(b["molchan"]["tau"]), _arr(b["molchan"]["nu"]),
                    color=col, ls=ls, lw=1.5,
                    label=f"{key.replace('_', ' ')} baseline (ASS {b['ass']:.2f})")
    ax.plot(_arr(molchan["tau"]), _arr(molchan["nu"]), color="tab:blue", lw=2,
            label=f"score alarm ({molchan['n_events']} events, {molchan['n_bins']} bins)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel(r"fraction of time alarmed $\tau$")
    ax.set_ylabel(r"miss rate $\nu$")
    ax.set_title(title or "Molchan diagram (test period)")
    ax.legend(loc="upper right", fontsize=7.5, frameon=True)
    return ax


def plot_null_histogram(null, observed: float, *, ax=None, p_value: float | None = None,
                        label: str = "AUC (= ASS)"):
    """Histogram of the surrogate null distribution with the observed statistic marked.

    ``null`` is an array of surrogate statistics (NaN dropped) or a dict with ``counts`` and
    ``edges`` (``TestResult.primary["null_histogram"]``).
    """
    ax = _ax(ax)
    if isinstance(null, dict):
        c, e = _arr(null["counts"]), _arr(null["edges"])
        ax.stairs(c, e, fill=True, color="0.7", label=f"surrogate null (n = {int(c.sum())})")
    else:
        v = np.asarray(null, float)
        v = v[np.isfinite(v)]
        ax.hist(v, bins=40, color="0.7", label=f"surrogate null (n = {v.size})")
    if observed is not None and np.isfinite(observed):
        txt = f"observed {observed:.3f}" + (f", p = {p_value:.4f}" if p_value is not None
                                            and np.isfinite(p_value) else "")
        ax.axvline(observed, color="tab:red", lw=2, label=txt)
    ax.axvline(0.5, color="0.3", ls=":", lw=1, label="no skill (0.5)")
    ax.set_xlabel(label)
    ax.set_ylabel("number of surrogates")
    ax.set_title("Circular-shift null distribution")
    ax.legend(fontsize=8)
    return ax


def plot_superposed_epoch(se: dict, *, ax=None,
                          score_label: str = "alarm percentile in the record"):
    """Superposed-epoch mean of the per-bin alarm around events (days, negative = before)
    with the Monte Carlo 95 % band from circularly shifted event times.

    ``se`` is ``TestResult.primary["superposed_epoch"]``.
    """
    ax = _ax(ax, (7.0, 4.0))
    x = _arr(se["offset_days"])
    ax.fill_between(x, _arr(se["mc_lo"]), _arr(se["mc_hi"]), color="0.8",
                    label=f"95 % Monte Carlo band ({se['n_surrogates']} shifted catalogs)")
    ax.plot(x, _arr(se["mean"]), color="tab:blue", lw=1.5,
            label=f"mean over {se['n_events']} events")
    ax.axvline(0, color="k", lw=1)
    if "percentile" in score_label:
        ax.axhline(0.5, color="0.4", ls=":", lw=1)
    ax.axvspan(-30, -1, color="tab:orange", alpha=0.08, label="default lead window")
    ax.set_xlabel("days relative to event origin time")
    ax.set_ylabel(score_label)
    ax.set_title("Superposed epoch analysis")
    ax.legend(fontsize=8, loc="upper left")
    return ax


def plot_score_vs_activity(score, activity, *, ax=None, activity_name: str = "activity index",
                           score_label: str = "bin alarm (max RMSE)"):
    """Per-bin score against the per-bin activity index, with Pearson and Spearman r."""
    from scipy import stats as st

    ax = _ax(ax, (5.5, 4.5))
    s = np.asarray(score, float)
    a = np.asarray(activity, float)
    ok = np.isfinite(s) & np.isfinite(a)
    ax.scatter(a[ok], s[ok], s=6, alpha=0.4, color="tab:blue", label=f"{ok.sum()} bins")
    if ok.sum() > 2:
        r = np.corrcoef(a[ok], s[ok])[0, 1]
        rs = st.spearmanr(a[ok], s[ok])[0]
        ax.set_title(f"Score vs activity: Pearson r = {r:.2f}, Spearman = {rs:.2f}")
    ax.set_xlabel(activity_name)
    ax.set_ylabel(score_label)
    if ok.any() and s[ok].min() > 0:
        ax.set_yscale("log")  # reconstruction errors are heavy-tailed
    ax.legend(fontsize=8)
    return ax


def plot_score_timeline(bin_start, alarm, *, events_time=(), events_mag=(),
                        events_mainshock=(), test_start=None, ax=None,
                        score_label: str = "bin alarm (max RMSE)", station: str = ""):
    """Score over time with seen events (declustered mainshocks bold, aftershocks thin,
    marker height = magnitude on the right axis) and the train/test boundary."""
    ax = _ax(ax, (10.0, 4.0))
    t = np.asarray(bin_start, dtype="datetime64[ns]")
    ax.plot(t, np.asarray(alarm, float), color="0.3", lw=0.7, label="per-bin alarm")
    ax.set_ylabel(score_label)
    if np.nanmin(np.asarray(alarm, float)) > 0:
        ax.set_yscale("log")  # reconstruction errors are heavy-tailed (storms)
    ax2 = ax.twinx()
    et = np.asarray(events_time, dtype="datetime64[ns]")
    em = np.asarray(events_mag, float)
    ms = np.asarray(events_mainshock, bool) if len(events_mainshock) else np.ones(et.size, bool)
    if et.size:
        ax2.vlines(et[~ms], 0, em[~ms], color="tab:red", lw=0.5, alpha=0.5,
                   label="aftershock / dependent event")
        ax2.vlines(et[ms], 0, em[ms], color="tab:red", lw=2.0, label="declustered mainshock")
        ax2.set_ylim(max(0.0, np.nanmin(em) - 1.0), np.nanmax(em) + 0.5)
    ax2.set_ylabel("magnitude")
    ax.set_zorder(ax2.get_zorder() + 1)  # the score above the event bars
    ax.patch.set_visible(False)
    if test_start is not None:
        ax.axvline(np.datetime64(test_start, "ns"), color="tab:blue", ls="--", lw=1.5,
                   label="train / test boundary")
    ax.set_xlabel("time (UTC)")
    for lab in ax.get_xticklabels():
        lab.set_rotation(20)
        lab.set_horizontalalignment("right")
    ax.set_title(f"Score and seen events{' at ' + station if station else ''}")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper left")
    return ax


def plot_test_figures(result, outdir: str | os.PathLike, dpi: int = 120) -> list[Path]:
    """Write every figure of a TestResult to ``outdir`` as PNG (atomically); returns paths.

    Figures needing per-bin series (timeline, score vs activity) are drawn only when the
    result still carries them (``result.series``, present right after ``run_test``).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from geoanom._atomic import atomic_path

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    pr = result.primary
    ser = getattr(result, "series", {}) or {}

    def save(ax, name):
        fig = ax.figure
        with atomic_path(out / name) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
        plt.close(fig)
        written.append(out / name)

    if pr.get("molchan"):
        save(plot_molchan(pr["molchan"], result.baselines,
                          title=f"Molchan diagram, {pr.get('station', '')} test period"),
             "molchan.png")
    if ser.get("null") is not None and np.isfinite(ser["null"]).any():
        save(plot_null_histogram(ser["null"], pr["auc"], p_value=pr["p_value"]),
             "null_histogram.png")
    elif pr.get("null_histogram"):
        save(plot_null_histogram(pr["null_histogram"], pr["auc"], p_value=pr["p_value"]),
             "null_histogram.png")
    if pr.get("superposed_epoch"):
        save(plot_superposed_epoch(pr["superposed_epoch"]), "superposed_epoch.png")
    lab = f"bin alarm (max {ser.get('score_variable', 'rmse')} per bin)"
    if ser.get("alarm") is not None:
        save(plot_score_timeline(ser["bin_start"], ser["alarm"], score_label=lab,
                                 events_time=ser["events_time"], events_mag=ser["events_mag"],
                                 events_mainshock=ser["events_mainshock"],
                                 test_start=ser["test_start"], station=ser.get("station", "")),
             "score_timeline.png")
    if ser.get("activity") is not None:
        name = ((result.baselines.get("activity") or {}).get("name", "activity index")
                .replace("activity only: ", ""))
        save(plot_score_vs_activity(ser["alarm"], ser["activity"], activity_name=name,
                                    score_label=lab),
             "score_vs_activity.png")
    return written
