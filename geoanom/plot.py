"""Figures: station records, scores, the significance test and DLEP results.

Each ``plot_x(..., ax=None) -> Axes`` draws on ``ax`` (a new figure when ``None``) and
returns it; nothing calls ``plt.show()``. On a machine without a display the Agg backend is
chosen before pyplot is first imported, unless a backend was set explicitly (a notebook's
inline backend stays). :func:`plot_test_figures` writes the significance figures of a
:class:`geoanom.stats.result.TestResult` as PNG files and :func:`save_figure` writes any
figure, both atomically.

Figures of records and scores (:func:`plot_components`, :func:`plot_score_series`) take
plain arrays or xarray objects, so a notebook can draw any step of the flow.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: Points above which a line is drawn as a min/max envelope per pixel column instead:
#: a year of 1-minute samples is half a million points, far more than a figure can show.
MAX_LINE_POINTS = 20_000


def _headless() -> bool:
    return sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                     or os.environ.get("WAYLAND_DISPLAY"))


def _pyplot():
    """``matplotlib.pyplot``, with Agg chosen first when headless and nothing else was set."""
    import matplotlib

    if ("matplotlib.pyplot" not in sys.modules and _headless()
            and not os.environ.get("MPLBACKEND")):
        get = getattr(matplotlib.rcParams, "_get_backend_or_none", None)
        if get is None or get() is None:
            matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def axes_or_new(ax, figsize=(6.0, 4.5)):
    """``ax``, or the axes of a new figure of ``figsize`` inches when it is None (how every
    ``plot_*`` function takes its ``ax`` argument)."""
    if ax is not None:
        return ax
    plt = _pyplot()
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
    ax = axes_or_new(ax, (5.5, 5.0))
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


def plot_training(log: Sequence[dict], *, axes=None, title: str = ""):
    """Negative learning made visible, per epoch: the mean training reconstruction error of
    normal and seismic windows (left axis, log scale) and the share of seismic training
    windows whose penalty was active (right axis, 0-1), with lambda drawn dashed.

    ``log`` is ``model.json``'s per-epoch ``log``. Returns ``(ax, ax_share)``.
    """
    ax = axes[0] if axes is not None else axes_or_new(None, figsize=(6.5, 4.0))
    share_ax = axes[1] if axes is not None else ax.twinx()
    ep = np.asarray([r["epoch"] + 1 for r in log], float)
    ax.plot(ep, _arr([r.get("train_normal_error") for r in log]), "o-", color="tab:blue",
            label="normal windows: mean error")
    ax.plot(ep, _arr([r.get("train_seismic_error") for r in log]), "s-", color="tab:red",
            label="seismic windows: mean error")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training reconstruction error")
    share_ax.plot(ep, _arr([r.get("penalty_active_share") for r in log]), "^:",
                  color="tab:green", label="seismic windows with an active penalty (share)")
    share_ax.plot(ep, _arr([r.get("lambda") for r in log]) /
                  max(1e-12, max((r.get("lambda") or 0) for r in log) or 1.0), "--",
                  color="grey", label="lambda / full lambda")
    share_ax.set_ylim(-0.02, 1.05)
    share_ax.set_ylabel("share (0-1)")
    lines = ax.get_lines() + share_ax.get_lines()
    ax.legend(lines, [ln.get_label() for ln in lines], loc="upper center",
              bbox_to_anchor=(0.5, -0.18), ncol=2, fontsize="small", frameon=False)
    ax.set_title(title or "negative learning per epoch")
    return ax, share_ax


def plot_null_histogram(null, observed: float, *, ax=None, p_value: float | None = None,
                        label: str = "AUC (= ASS)"):
    """Histogram of the surrogate null distribution with the observed statistic marked.

    ``null`` is an array of surrogate statistics (NaN dropped) or a dict with ``counts`` and
    ``edges`` (``TestResult.primary["null_histogram"]``).
    """
    ax = axes_or_new(ax)
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
                          score_label: str = "alarm percentile in the record",
                          lead_days: tuple[float, float] = (1.0, 30.0)):
    """Superposed-epoch mean of the per-bin alarm around events (days, negative = before)
    with the Monte Carlo 95 % band from circularly shifted event times.

    ``se`` is ``TestResult.primary["superposed_epoch"]``; ``lead_days`` (min, max) shades
    the protocol's lead window (PROTOCOL.md default 1-30 days).
    """
    ax = axes_or_new(ax, (7.0, 4.0))
    x = _arr(se["offset_days"])
    ax.fill_between(x, _arr(se["mc_lo"]), _arr(se["mc_hi"]), color="0.8",
                    label=f"95 % Monte Carlo band ({se['n_surrogates']} shifted catalogs)")
    ax.plot(x, _arr(se["mean"]), color="tab:blue", lw=1.5,
            label=f"mean over {se['n_events']} events")
    ax.axvline(0, color="k", lw=1)
    if "percentile" in score_label:
        ax.axhline(0.5, color="0.4", ls=":", lw=1)
    ax.axvspan(-float(lead_days[1]), -float(lead_days[0]), color="tab:orange", alpha=0.12,
               label=f"lead window ({lead_days[0]:g}-{lead_days[1]:g} days)")
    ax.set_xlabel("days relative to event origin time")
    ax.set_ylabel(score_label)
    ax.set_title("Superposed epoch analysis")
    ax.legend(fontsize=8, loc="upper left")
    return ax


def plot_score_vs_activity(score, activity, *, ax=None, activity_name: str = "activity index",
                           score_label: str = "bin alarm (max RMSE)"):
    """Per-bin score against the per-bin activity index, with Pearson and Spearman r."""
    from scipy import stats as st

    ax = axes_or_new(ax, (5.5, 4.5))
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
    ax = axes_or_new(ax, (10.0, 4.0))
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
        lead = (result.protocol or {}).get("lead", {})
        save(plot_superposed_epoch(pr["superposed_epoch"],
                                   lead_days=(lead.get("min_days", 1.0),
                                              lead.get("max_days", 30.0))),
             "superposed_epoch.png")
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


# ----------------------------------------------------------------------------- saving


def save_figure(obj, path: str | os.PathLike, *, dpi: int = 120, close: bool = True) -> Path:
    """Write the figure of ``obj`` (a Figure, an Axes or a sequence of Axes) as an image,
    atomically (format from the suffix, e.g. ``.png``); close it unless ``close=False``."""
    from geoanom._atomic import atomic_path

    fig = obj
    if isinstance(obj, (list, tuple, np.ndarray)):
        fig = np.ravel(obj)[0]
    fig = getattr(fig, "figure", fig)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    if close:
        _pyplot().close(fig)
    return path


# ----------------------------------------------------------------------------- time series


def _time_ns(t) -> np.ndarray:
    return np.asarray(t, dtype="datetime64[ns]")


def _envelope(t: np.ndarray, y: np.ndarray, n_cols: int = 2000):
    """Min and max of ``y`` in ``n_cols`` equal slices (NaN where a slice has no value):
    what a line of many more points than pixels would show anyway."""
    n = y.size
    edges = np.linspace(0, n, n_cols + 1).astype(np.int64)
    edges = np.unique(edges)
    lo = np.full(edges.size - 1, np.nan)
    hi = np.full(edges.size - 1, np.nan)
    ok = np.isfinite(y)
    yl = np.where(ok, y, np.inf)
    yh = np.where(ok, y, -np.inf)
    lo_r = np.minimum.reduceat(yl, edges[:-1])
    hi_r = np.maximum.reduceat(yh, edges[:-1])
    good = np.isfinite(lo_r)
    lo[good], hi[good] = lo_r[good], hi_r[good]
    return t[edges[:-1]], lo, hi


def _widen(mask: np.ndarray) -> np.ndarray:
    """``mask`` grown by one sample on each side, so ``fill_between(where=...)`` shades a
    one-sample gap too (it fills between consecutive True points only)."""
    m = np.asarray(mask, bool)
    w = m.copy()
    w[1:] |= m[:-1]
    w[:-1] |= m[1:]
    return w


def _draw_events(axes, events_time, events_mag, events_mainshock=(), *, label_top=True):
    """Vertical lines at event times on every axes (mainshocks solid, others dotted); the
    magnitude written above the first axes. Returns legend handles."""
    from matplotlib.lines import Line2D

    et = _time_ns(events_time)
    if et.size == 0:
        return []
    em = np.asarray(events_mag, float) if len(events_mag) else np.full(et.size, np.nan)
    ms = np.asarray(events_mainshock, bool) if len(events_mainshock) else np.ones(et.size, bool)
    for a in axes:
        for t, main in zip(et, ms, strict=True):
            a.axvline(t, color="tab:red", lw=1.4 if main else 0.6, ls="-" if main else ":",
                      alpha=0.8 if main else 0.5, zorder=1)
    if label_top:
        top = axes[0]
        for t, m, main in zip(et, em, ms, strict=True):
            if main and np.isfinite(m):
                top.annotate(f"M{m:.1f}", (t, 1.0), xycoords=("data", "axes fraction"),
                             xytext=(2, -10), textcoords="offset points", fontsize=7,
                             color="tab:red")
    handles = [Line2D([], [], color="tab:red", lw=1.4, label="earthquake (mainshock)")]
    if (~ms).any():
        handles.append(Line2D([], [], color="tab:red", lw=0.6, ls=":",
                              label="earthquake (aftershock / dependent)"))
    return handles


def _date_ticks(ax) -> None:
    import matplotlib.dates as mdates

    loc = mdates.AutoDateLocator(minticks=4, maxticks=8)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))


def plot_components(ds, variables: Sequence[str] | None = None, *,
                    time_range: tuple[object, object] | None = None,
                    events_time=(), events_mag=(), events_mainshock=(),
                    mark_gaps: bool = True, ax=None, title: str = ""):
    """Stacked components on a shared time axis, with events and gaps marked.

    Parameters
    ----------
    ds
        A station record (components ``X Y Z F`` ..., flags ``<c>_flag``) or any dataset
        with dim ``time`` (e.g. the residual series of a scores file, ``residual_X``...).
    variables
        Variables to draw, top to bottom (default: the record's components, else every
        variable on dim ``time``).
    time_range
        ``(start, end)`` (anything ``numpy.datetime64`` takes) to draw a slice.
    events_time, events_mag, events_mainshock
        Earthquakes: origin times (UTC), magnitudes, and which are mainshocks (solid lines;
        others dotted). Events outside the drawn span are skipped.
    mark_gaps
        Shade samples flagged missing (IAGA 99999, grey) and not observed (88888, yellow),
        or NaN when the dataset has no flags.
    ax
        A sequence of axes, one per variable (default: a new figure).
    title
        Figure title (default: station code and span).

    Returns
    -------
    list of matplotlib.axes.Axes
        One per variable, top to bottom, sharing the time axis. Long series are drawn as a
        min/max envelope (more than :data:`MAX_LINE_POINTS` samples).
    """
    from matplotlib.patches import Patch

    from geoanom.record import FLAG_MISSING, FLAG_NOT_OBSERVED

    if time_range is not None:
        ds = ds.sel(time=slice(np.datetime64(time_range[0], "ns"),
                               np.datetime64(time_range[1], "ns")))
    if variables is None:
        try:
            from geoanom.record import component_names

            variables = component_names(ds)
        except Exception:  # noqa: BLE001 - not a record: every time series
            variables = []
        if not variables:
            variables = [v for v in ds.data_vars if ds[v].dims == ("time",)
                         and not str(v).endswith("_flag")]
    variables = list(variables)
    if not variables:
        raise ValueError("nothing to plot: no variable on dim 'time'")
    if ax is None:
        plt = _pyplot()
        fig, axes = plt.subplots(len(variables), 1, sharex=True, layout="constrained",
                                 figsize=(10.0, 1.3 + 1.5 * len(variables)), squeeze=False)
        axes = list(axes[:, 0])
    else:
        axes = list(np.ravel(ax))
        if len(axes) != len(variables):
            raise ValueError(f"need {len(variables)} axes, got {len(axes)}")
    t = _time_ns(ds["time"].values)
    miss_h = nobs_h = False
    for a, v in zip(axes, variables, strict=True):
        y = np.asarray(ds[v].values, float)
        if y.size > MAX_LINE_POINTS:
            tt, lo, hi = _envelope(t, y)
            a.fill_between(tt, lo, hi, color="tab:blue", lw=0.6, step="post")
        else:
            a.plot(t, y, color="tab:blue", lw=0.7)
        units = ds[v].attrs.get("units", "")
        a.set_ylabel(f"{v} ({units})" if units else str(v))
        a.grid(alpha=0.3)
        if mark_gaps and y.size:
            flag = ds[f"{v}_flag"].values if f"{v}_flag" in ds else None
            if flag is not None:
                masks = [(flag == FLAG_MISSING, "0.55"), (flag == FLAG_NOT_OBSERVED, "gold")]
            else:
                masks = [(~np.isfinite(y), "0.55")]
            for k, (m, col) in enumerate(masks):
                if m.any():
                    # one collection for all runs (thousands of axvspan calls are slow)
                    a.fill_between(t, 0, 1, where=_widen(m), color=col, alpha=0.5, lw=0,
                                   transform=a.get_xaxis_transform(), zorder=0)
                    miss_h |= k == 0
                    nobs_h |= k == 1
    # events inside the drawn span only
    et = _time_ns(events_time)
    keep = (et >= t[0]) & (et <= t[-1]) if t.size and et.size else np.zeros(et.size, bool)
    em = np.asarray(events_mag, float)[keep] if len(events_mag) else ()
    ms = np.asarray(events_mainshock, bool)[keep] if len(events_mainshock) else ()
    handles = _draw_events(axes, et[keep], em, ms)
    if miss_h:
        handles.append(Patch(color="0.55", alpha=0.5, label="missing (gap)"))
    if nobs_h:
        handles.append(Patch(color="gold", alpha=0.5, label="not observed"))
    if handles:
        # below the panels: inside, it would hide the data and the magnitudes at the top
        axes[-1].legend(handles=handles, fontsize=8, loc="upper center", ncol=len(handles),
                        bbox_to_anchor=(0.5, -0.32), frameon=False)
    axes[-1].set_xlabel("time (UTC)")
    axes[-1].set_xlim(t[0], t[-1]) if t.size > 1 else None
    _date_ticks(axes[-1])
    if not title:
        code = ds.attrs.get("iaga_code", "")
        title = f"{code} " if code else ""
        if t.size:
            title += (f"{str(t[0])[:16].replace('T', ' ')} to "
                      f"{str(t[-1])[:16].replace('T', ' ')} UTC")
    axes[0].figure.suptitle(title, fontsize=10)
    return axes


def daily_max(time, score) -> tuple[np.ndarray, np.ndarray]:
    """Maximum of a window score per UTC day: ``(day_start, value)``, NaN for empty days."""
    import pandas as pd

    s = pd.Series(np.asarray(score, float), index=pd.DatetimeIndex(_time_ns(time)))
    d = s.resample("1D").max()
    return d.index.values.astype("datetime64[ns]"), d.to_numpy(float)


def plot_score_series(time, score, *, events_time=(), events_mag=(), events_mainshock=(),
                      activity_time=None, activity=None, activity_name: str = "Kp",
                      test_start=None, truth_windows=(), ax=None,
                      score_label: str = "anomaly score (daily max of window RMSE)",
                      title: str = ""):
    """A score series with events, the activity index and the train/test boundary.

    Parameters
    ----------
    time, score
        Times (UTC) and values of the score (e.g. :func:`daily_max` of a scores file's
        ``rmse``, or a residual series).
    events_time, events_mag, events_mainshock
        Earthquakes (mainshocks solid, others dotted; magnitudes written at the top).
    activity_time, activity, activity_name
        Geomagnetic activity index (e.g. Kp, 0-9) on a right-hand axis, drawn as a shaded
        area behind the score: storms raise reconstruction errors too.
    test_start
        Start of the held-out test period (a dashed vertical line, "train | test").
    truth_windows
        ``(start, end)`` pairs shaded in green: for synthetic worlds, where precursors were
        added.
    ax, score_label, title
        Axes to draw on, the y label, the title.

    Returns
    -------
    matplotlib.axes.Axes
        The score axes (the activity axes is ``ax.activity_axes`` when drawn).
    """
    from matplotlib.patches import Patch

    ax = axes_or_new(ax, (10.0, 4.0))
    t = _time_ns(time)
    y = np.asarray(score, float)
    handles = []
    if activity is not None and activity_time is not None:
        ax2 = ax.twinx()
        ta = _time_ns(activity_time)
        ax2.fill_between(ta, 0, np.asarray(activity, float), step="post", color="tab:orange",
                         alpha=0.25, lw=0)
        ax2.set_ylabel(f"activity index {activity_name}", color="tab:orange")
        ax2.tick_params(axis="y", colors="tab:orange")
        ax2.set_ylim(0, max(9.0, float(np.nanmax(activity)) if np.size(activity) else 9.0))
        ax.set_zorder(ax2.get_zorder() + 1)  # the score above the shaded activity
        ax.patch.set_visible(False)
        ax.activity_axes = ax2
        handles.append(Patch(color="tab:orange", alpha=0.25, label=f"activity ({activity_name})"))
    for k, (a, b) in enumerate(truth_windows):
        ax.axvspan(np.datetime64(a, "ns"), np.datetime64(b, "ns"), color="tab:green",
                   alpha=0.12, lw=0, zorder=0)
        if k == 0:
            handles.append(Patch(color="tab:green", alpha=0.2,
                                 label="precursor injected (synthetic truth)"))
    ax.plot(t, y, color="tab:blue", lw=0.9, zorder=3)
    from matplotlib.lines import Line2D

    handles.insert(0, Line2D([], [], color="tab:blue", lw=0.9, label="score"))
    fin = y[np.isfinite(y)]
    if fin.size and fin.min() > 0 and fin.max() / fin.min() > 20:
        ax.set_yscale("log")  # reconstruction errors are heavy-tailed (storms)
    et = _time_ns(events_time)
    keep = (et >= t[0]) & (et <= t[-1]) if t.size and et.size else np.zeros(et.size, bool)
    em = np.asarray(events_mag, float)[keep] if len(events_mag) else ()
    ms = np.asarray(events_mainshock, bool)[keep] if len(events_mainshock) else ()
    handles += _draw_events([ax], et[keep], em, ms, label_top=keep.sum() <= 40)
    if test_start is not None:
        ts = np.datetime64(test_start, "ns")
        ax.axvline(ts, color="k", ls="--", lw=1.5, zorder=4)
        ax.annotate("train | test", (ts, 0.02), xycoords=("data", "axes fraction"),
                    xytext=(-30, 0), textcoords="offset points", fontsize=8, zorder=5,
                    bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 1})
        handles.append(Line2D([], [], color="k", ls="--", lw=1.5,
                              label="train / test boundary"))
    ax.set_ylabel(score_label)
    ax.set_xlabel("time (UTC)")
    if t.size > 1:
        ax.set_xlim(t[0], t[-1])
    _date_ticks(ax)
    ax.set_title(title or "Anomaly score, earthquakes and geomagnetic activity")
    ax.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16),
              ncol=min(4, len(handles)), frameon=False)
    return ax


# ----------------------------------------------------------------------------- detector


def plot_roc(scores_pos, scores_neg, *, label: str = "score", ax=None, title: str = ""):
    """ROC curve of positive (e.g. seismic) against negative (normal) window scores, with
    its AUC in the legend; call again on the same ``ax`` to compare scorers."""
    ax = axes_or_new(ax, (5.0, 5.0))
    pos = np.asarray(scores_pos, float)
    neg = np.asarray(scores_neg, float)
    pos, neg = pos[np.isfinite(pos)], neg[np.isfinite(neg)]
    if pos.size and neg.size:
        thr = np.unique(np.concatenate([pos, neg]))[::-1]
        tpr = np.concatenate([[0.0], np.searchsorted(np.sort(-pos), -thr, side="right")
                              / pos.size])
        fpr = np.concatenate([[0.0], np.searchsorted(np.sort(-neg), -thr, side="right")
                              / neg.size])
        from geoanom.stats.ranks import mann_whitney

        auc = mann_whitney(pos, neg).auc
        ax.plot(fpr, tpr, lw=1.8, label=f"{label} (AUC {auc:.3f}; {pos.size} vs {neg.size})")
    if not any(line.get_label() == "chance" for line in ax.get_lines()):
        ax.plot([0, 1], [0, 1], color="0.5", ls=":", lw=1, label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("false-positive rate (normal windows above threshold)")
    ax.set_ylabel("true-positive rate (seismic windows above threshold)")
    ax.set_title(title or "Held-out windows: seismic vs normal")
    ax.legend(fontsize=8, loc="lower right")
    return ax


# ----------------------------------------------------------------------------- DLEP


def plot_confusion(matrix, *, class_labels: Sequence[str] | None = None,
                   normalize: bool = True, ax=None, title: str = "",
                   xlabel: str = "predicted class", ylabel: str = "true class"):
    """Confusion matrix (rows: true class, columns: predicted), each cell with its count and,
    with ``normalize``, the share of its row (colour = share of the row)."""
    ax = axes_or_new(ax, (4.8, 4.2))
    m = np.asarray(matrix, float)
    k = m.shape[0]
    labels = list(class_labels) if class_labels is not None else [str(i) for i in range(k)]
    rows = m.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(rows > 0, m / rows, np.nan)
    shown = share if normalize else m
    im = ax.imshow(np.nan_to_num(shown), cmap="Blues", vmin=0,
                   vmax=1.0 if normalize else max(1.0, float(np.nanmax(m))))
    for i in range(k):
        for j in range(m.shape[1]):
            txt = f"{int(m[i, j])}" + (f"\n{share[i, j]:.0%}" if normalize and
                                        np.isfinite(share[i, j]) else "")
            dark = np.isfinite(shown[i, j]) and shown[i, j] > (0.6 if normalize else
                                                               0.6 * np.nanmax(m))
            ax.text(j, i, txt, ha="center", va="center", fontsize=8,
                    color="white" if dark else "black")
    ax.set_xticks(range(m.shape[1]), labels[:m.shape[1]], fontsize=8)
    ax.set_yticks(range(k), labels, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.figure.colorbar(im, ax=ax, shrink=0.8,
                       label="share of the true class" if normalize else "count")
    ax.set_title(title or f"Confusion matrix ({int(m.sum())} samples)", fontsize=10)
    return ax


def plot_table(rows, *, columns: Sequence[str] | None = None, ax=None, title: str = "",
               fmt: str = "{:.3f}", highlight_best: Sequence[str] = ()):
    """A results table drawn as a figure (e.g. DLEP's ACC and MAUC per method).

    ``rows`` is a list of dicts (or a ``pandas.DataFrame``); ``columns`` picks and orders the
    columns (default: all keys of the first row). Floats are formatted with ``fmt``; a value
    ``(mean, std)`` is written ``mean ± std``. Columns named in ``highlight_best`` get their
    largest value in bold.
    """
    import pandas as pd

    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    cols = list(columns) if columns is not None else list(df.columns)
    import textwrap

    width = 1.6 * len(cols) + 1.0
    title = "\n".join(textwrap.wrap(title, int(width * 11))) if title else ""
    ax = axes_or_new(ax, (width, 0.45 * len(df) + 0.9 + 0.25 * title.count("\n")))
    ax.axis("off")

    def cell(v):
        if isinstance(v, (tuple, list)) and len(v) == 2:
            a, b = v
            return ("n/a" if a is None or not np.isfinite(a) else
                (fmt.format(a) + ("" if b is None or not np.isfinite(b)
                                  else " ± " + fmt.format(b))))
        if isinstance(v, (float, np.floating)):
            return "n/a" if not np.isfinite(v) else fmt.format(v)
        return str(v)

    text = [[cell(df[c].iloc[i]) for c in cols] for i in range(len(df))]
    tab = ax.table(cellText=text, colLabels=cols, loc="center", cellLoc="center")
    tab.auto_set_font_size(False)
    tab.set_fontsize(9)
    tab.scale(1.0, 1.4)
    for j in range(len(cols)):
        tab[0, j].set_text_props(weight="bold")
        tab[0, j].set_facecolor("0.9")
    for c in highlight_best:
        if c not in cols:
            continue
        vals = np.array([(v[0] if isinstance(v, (tuple, list)) else v) for v in df[c]],
                        dtype=float)
        if np.isfinite(vals).any():
            i = int(np.nanargmax(vals))
            tab[i + 1, cols.index(c)].set_text_props(weight="bold")
    if title:
        ax.set_title(title, fontsize=10)
    return ax
