"""geoanom.plot: every figure returns its axes, marks what it promises, never calls show()."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.collections import PolyCollection

from geoanom import plot
from geoanom.record import FLAG_MISSING, FLAG_NOT_OBSERVED, make_record


@pytest.fixture(autouse=True)
def _no_show(monkeypatch):
    import matplotlib.pyplot as plt

    def boom(*a, **k):
        raise AssertionError("a plot function called plt.show()")

    monkeypatch.setattr(plt, "show", boom)
    yield
    plt.close("all")


def _record(n=600, seed=0):
    rng = np.random.default_rng(seed)
    t = np.datetime64("2020-01-01T00:00", "ns") + np.arange(n) * np.timedelta64(60, "s")
    comps = {c: rng.normal(size=n).cumsum() + base
             for c, base in (("X", 2e4), ("Y", 0.0), ("Z", 3e4), ("F", 4e4))}
    comps["X"][100:110] = np.nan             # a gap: flagged missing by make_record
    rec = make_record(t, comps, attrs={"iaga_code": "TST"})
    f = rec["F_flag"].values.copy()
    f[300:320] = FLAG_NOT_OBSERVED
    rec["F_flag"] = ("time", f)
    rec["F"] = ("time", np.where(f == 0, rec["F"].values, np.nan), rec["F"].attrs)
    return rec


def _legend_texts(ax_list):
    out = []
    for a in ax_list:
        leg = a.get_legend()
        if leg is not None:
            out += [t.get_text() for t in leg.get_texts()]
    return out


def test_components_stacked_with_units_gaps_and_events():
    rec = _record()
    t = rec["time"].values
    events = [t[50], t[400], t[0] - np.timedelta64(5, "D")]   # the last is outside the span
    axes = plot.plot_components(rec, events_time=events, events_mag=[5.2, 4.6, 6.0],
                                events_mainshock=[True, False, True])
    assert len(axes) == 4
    assert [a.get_ylabel() for a in axes] == ["X (nT)", "Y (nT)", "Z (nT)", "F (nT)"]
    # one shared time axis
    assert all(a.get_shared_x_axes().joined(axes[0], a) for a in axes)
    # gaps: X has a missing run (grey), F a not-observed run (gold); Y and Z none
    def shades(a):
        return [c for c in a.collections if isinstance(c, PolyCollection)]
    assert len(shades(axes[0])) == 1 and len(shades(axes[3])) == 1
    assert shades(axes[1]) == [] and shades(axes[2]) == []
    texts = _legend_texts(axes)
    assert {"missing (gap)", "not observed", "earthquake (mainshock)",
            "earthquake (aftershock / dependent)"} <= set(texts)
    # two events inside the span on each panel, the outside one skipped
    for a in axes:
        vl = [ln for ln in a.get_lines() if ln.get_color() == "tab:red"]
        assert len(vl) == 2
    # the mainshock's magnitude is written at the top
    assert any(tx.get_text() == "M5.2" for tx in axes[0].texts)
    assert not any(tx.get_text() == "M4.6" for tx in axes[0].texts)


def test_components_long_series_drawn_as_exact_envelope():
    n = plot.MAX_LINE_POINTS * 3
    t = np.datetime64("2021-01-01", "ns") + np.arange(n) * np.timedelta64(1, "s")
    y = np.sin(np.arange(n) / 50.0) * np.arange(n)
    ds = xr.Dataset({"residual_Z": ("time", y, {"units": "nT"})}, coords={"time": t})
    (ax,) = plot.plot_components(ds, mark_gaps=False)
    assert all(len(ln.get_xdata()) <= plot.MAX_LINE_POINTS for ln in ax.get_lines())
    tt, lo, hi = plot._envelope(t, y, 100)
    edges = np.unique(np.linspace(0, n, 101).astype(int))
    assert np.allclose(lo, [y[a:b].min() for a, b in zip(edges[:-1], edges[1:], strict=True)])
    assert np.allclose(hi, [y[a:b].max() for a, b in zip(edges[:-1], edges[1:], strict=True)])
    assert ax.get_ylabel() == "residual_Z (nT)"


def test_components_time_range_and_bad_axes():
    rec = _record()
    t = rec["time"].values
    axes = plot.plot_components(rec, ["Z"], time_range=(t[100], t[199]))
    x = axes[0].get_lines()[0].get_xdata()
    assert len(x) == 100
    import matplotlib.pyplot as plt

    _, two = plt.subplots(2)
    with pytest.raises(ValueError, match="need 1 axes"):
        plot.plot_components(rec, ["Z"], ax=two)


def test_components_of_a_real_record(geomag_dir, tmp_path):
    from geoanom.io import read_record

    rec = read_record(geomag_dir / "japan_MMB_2011-03" / "mmb_2011_march.txt")
    axes = plot.plot_components(rec, time_range=("2011-03-01", "2011-03-02T12:00"))
    labels = [a.get_ylabel() for a in axes]
    assert "D (arcmin)" in labels and "H (nT)" in labels
    png = plot.save_figure(axes, tmp_path / "mmb.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_score_series_activity_boundary_truth():
    t = np.datetime64("2020-01-01", "ns") + np.arange(200) * np.timedelta64(1, "D")
    score = np.exp(np.random.default_rng(1).normal(size=200) * 2)
    ax = plot.plot_score_series(t, score, events_time=[t[20], t[150]], events_mag=[5.5, 6.1],
                                activity_time=t, activity=np.linspace(0, 7, 200),
                                test_start=t[140], truth_windows=[(t[5], t[19])])
    assert ax.get_yscale() == "log"          # heavy-tailed score
    assert ax.activity_axes.get_ylabel() == "activity index Kp"
    assert ax.activity_axes.get_ylim() == (0.0, 9.0)
    texts = _legend_texts([ax])
    assert {"score", "activity (Kp)", "precursor injected (synthetic truth)",
            "train / test boundary", "earthquake (mainshock)"} <= set(texts)
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) == 1 and dashed[0].get_xdata()[0] == t[140]


def test_daily_max():
    t = np.datetime64("2020-01-01T00:00", "ns") + np.arange(0, 72) * np.timedelta64(1, "h")
    v = np.arange(72.0)
    v[30] = np.nan
    d, m = plot.daily_max(t, v)
    assert np.array_equal(d, np.array(["2020-01-01", "2020-01-02", "2020-01-03"],
                                      dtype="datetime64[ns]"))
    assert m.tolist() == [23.0, 47.0, 71.0]


def test_roc_auc_in_legend_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    pos, neg = rng.normal(1.0, 1.0, 80), rng.normal(0.0, 1.0, 120)
    ax = plot.plot_roc(pos, neg, label="NL")
    ax = plot.plot_roc(neg, pos, label="reversed", ax=ax)
    auc = roc_auc_score(np.r_[np.ones(80), np.zeros(120)], np.r_[pos, neg])
    texts = _legend_texts([ax])
    assert sum(t.startswith(f"NL (AUC {auc:.3f}; 80 vs 120)") for t in texts) == 1
    assert sum(t.startswith(f"reversed (AUC {1 - auc:.3f}") for t in texts) == 1
    assert texts.count("chance") == 1
    curve = ax.get_lines()[0]
    x, y = curve.get_xdata(), curve.get_ydata()
    assert (x[0], y[0]) == (0.0, 0.0) and (x[-1], y[-1]) == (1.0, 1.0)
    assert np.all(np.diff(x) >= 0) and np.all(np.diff(y) >= 0)
    # trapezoidal area under the drawn curve is the AUC
    assert np.trapezoid(y, x) == pytest.approx(auc, abs=1e-9)


def test_confusion_counts_and_row_shares():
    m = np.array([[3, 1, 0], [0, 0, 0], [2, 2, 4]])
    ax = plot.plot_confusion(m, class_labels=["a", "b", "c"])
    texts = [t.get_text() for t in ax.texts]
    assert "3\n75%" in texts and "4\n50%" in texts
    assert "0" in texts                       # the empty row: counts, no share
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert "12 samples" in ax.get_title()


def test_table_mean_std_and_best_in_bold():
    rows = [{"variant": "dlep", "ACC": (0.25, 0.01), "MAUC": (0.51, 0.02)},
            {"variant": "dlep+geomag", "ACC": (0.31, 0.03), "MAUC": (float("nan"), None)}]
    ax = plot.plot_table(rows, highlight_best=["ACC", "MAUC"], title="t")
    tab = ax.tables[0]
    cells = tab.get_celld()
    assert cells[(1, 1)].get_text().get_text() == "0.250 ± 0.010"
    assert cells[(2, 2)].get_text().get_text() == "n/a"
    assert cells[(2, 1)].get_text().get_fontweight() == "bold"
    assert cells[(1, 2)].get_text().get_fontweight() == "bold"
    assert cells[(1, 1)].get_text().get_fontweight() != "bold"
    df = pd.DataFrame(rows)
    ax2 = plot.plot_table(df, columns=["variant", "ACC"])
    assert len(ax2.tables[0].get_celld()) == 3 * 2


def test_save_figure_is_atomic_png(tmp_path):
    ax = plot.plot_roc([1, 2, 3], [0, 1])
    p = plot.save_figure(ax, tmp_path / "roc.png")
    assert p.read_bytes()[:4] == b"\x89PNG"
    assert [q.name for q in tmp_path.iterdir()] == ["roc.png"]


def test_headless_backend_is_agg():
    import matplotlib

    assert matplotlib.get_backend().lower() == "agg"
    assert plot._pyplot() is __import__("matplotlib.pyplot").pyplot


def test_flag_constants_still_distinguish_gaps():
    # the figure's two gap kinds are the record's two flags
    assert FLAG_MISSING != FLAG_NOT_OBSERVED
