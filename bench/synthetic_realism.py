"""Compare the synthetic world with real records: quiet days (BOU Jan 2016, MMB Mar 2011) and
a strong storm (WIC, May 2024).

Prints one JSON line per comparison and saves one figure.

    python bench/synthetic_realism.py [FIGURE.png] [--data ../shared/data] [--seed 7]

Data: USGS (BOU, public domain), JMA and WDC for Geomagnetism Kyoto (MMB), GeoSphere Austria
Conrad Observatory (WIC, CC-BY-4.0).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import signal  # noqa: E402

from geoanom import synthetic as S  # noqa: E402
from geoanom.io.iaga2002 import read_iaga2002  # noqa: E402
from geoanom.io.imagcdf import read_imagcdf  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STORM_ONSET = "2020-01-12T17:00"


def real_records(data: Path) -> dict:
    g = data / "geomag"
    return {
        "BOU": read_iaga2002(g / "usgs_BOU" / "BOU201601vmin.min"),
        "MMB": read_iaga2002(g / "japan_MMB_2011-03" / "mmb_2011_march.txt"),
        "WIC": read_imagcdf(g / "austria_WIC_magpy" / "WIC_20240509-12_1s_imagcdf_example4.cdf",
                            include_temperatures=False),
    }


def synthetic_quiet(seed: int):
    """30 days of 1-minute data at SYA (a January, like BOU's file)."""
    act = S.activity_index("2020-01-01", 30, np.random.default_rng(seed))
    return S.station_record(S.DEFAULT_STATIONS[0], act, start="2020-01-01", days=30,
                            cadence_s=60, rng=np.random.default_rng(seed + 1))


def synthetic_storm(seed: int, dst_min_nT: float = -420.0):
    """4 days of 1-minute data at SYA with a storm of Dst-like minimum ``dst_min_nT``."""
    act = S.activity_index("2020-01-10", 6, np.random.default_rng(seed))
    act = S.with_storm(act, STORM_ONSET, dst_min_nT)
    return S.station_record(S.DEFAULT_STATIONS[0], act, start="2020-01-11", days=4,
                            cadence_s=60, rng=np.random.default_rng(seed + 1))


def wic_depression(wic) -> float:
    h = S.horizontal_intensity(wic)
    return S.storm_depression(h, ("2024-05-09", "2024-05-09T23:59"),
                              ("2024-05-10T12:00", "2024-05-12T23:59"))


def syn_depression(rec) -> float:
    h = S.horizontal_intensity(rec)
    return S.storm_depression(h, ("2020-01-11", "2020-01-11T23:59"),
                              (STORM_ONSET, "2020-01-14T23:59"))


def psd(h: pd.Series):
    x = signal.detrend(S._despike(h.to_numpy(float)))
    return signal.welch(x, fs=1 / 60.0, nperseg=256)


def figure(real: dict, quiet, storm, qm: dict, out: Path) -> None:
    fig, ax = plt.subplots(2, 2, figsize=(13, 8.5))
    # (a) a quiet day: H minus its daily median.
    bou_day = qm["BOU"]["days"][0]
    syn_day = qm["SYA"]["days"][0]
    hb = S.horizontal_intensity(real["BOU"])[bou_day]
    hs = S.horizontal_intensity(quiet)[syn_day]
    hours = np.arange(1440) / 60.0
    ax[0, 0].plot(hours, hb.values - np.nanmedian(hb.values), color="k", lw=1,
                  label=f"BOU (real, {bou_day}, UT 0 h = LT 17 h)")
    ax[0, 0].plot(hours, hs.values - np.nanmedian(hs.values), color="tab:red", lw=1,
                  label=f"SYA (synthetic, {syn_day}, UT 0 h = LT 1.5 h)")
    ax[0, 0].set(xlabel="hour of day (UT)", ylabel="H minus daily median (nT)",
                 title="(a) a quiet day, 1-minute H", xlim=(0, 24), ylim=(-40, 18))
    ax[0, 0].legend(loc="lower right", fontsize=9)
    # (b) spectra of the quiet days.
    for name, rec, col in (("BOU real", real["BOU"], "k"), ("MMB real", real["MMB"], "0.55"),
                           ("SYA synthetic", quiet, "tab:red")):
        key = name.split()[0]
        h = S.horizontal_intensity(rec)
        ps = [psd(h[d])[1] for d in qm[key]["days"]]
        f = psd(h[qm[key]["days"][0]])[0]
        ax[0, 1].loglog(f[1:] * 1e3, np.median(ps, axis=0)[1:], color=col, lw=1.3,
                        label=f"{name} (slope {qm[key]['slope']:.2f})")
    ax[0, 1].axvspan(1e3 / 7200, 1e3 / 300, color="0.9", zorder=0, label="slope fit band")
    ax[0, 1].set(xlabel="frequency (mHz)", ylabel="PSD of H (nT$^2$/Hz)",
                 title="(b) median spectrum of the 5 quietest days")
    ax[0, 1].legend(fontsize=9)
    # (c) storm: WIC May 2024 vs synthetic storm, H minus pre-storm median, 1-minute means.
    hw = S.to_minutes(S.horizontal_intensity(real["WIC"]))
    tw = (hw.index - pd.Timestamp("2024-05-10T17:05")) / pd.Timedelta(hours=1)
    base_w = hw["2024-05-09"].median()
    hs2 = S.horizontal_intensity(storm)
    ts = (hs2.index - pd.Timestamp(STORM_ONSET)) / pd.Timedelta(hours=1)
    base_s = hs2["2020-01-11"].median()
    ax[1, 0].plot(tw, hw.values - base_w, color="k", lw=0.8,
                  label=f"WIC (real, May 2024 G5; drop {qm['WIC_drop']:.0f} nT)")
    ax[1, 0].plot(ts, hs2.values - base_s, color="tab:red", lw=0.8,
                  label=f"SYA (synthetic, Dst$_{{min}}$ -420 nT; drop {qm['SYA_drop']:.0f} nT)")
    ax[1, 0].set(xlabel="hours since sudden commencement", ylabel="H minus pre-storm median (nT)",
                 title="(c) a strong storm, 1-minute H (synthetic spikes are deliberate)",
                 xlim=(-30, 60), ylim=(-620, 380))
    ax[1, 0].legend(loc="upper right", fontsize=9)
    # (d) the statistics, bar chart of synthetic / real ratios.
    labels, vals = [], []
    for ref in ("BOU", "MMB"):
        for k, lab in (("range_nT", "range"), ("diff_iqr_nT", "IQR dH"), ("slope", "slope")):
            labels.append(f"{lab}\nvs {ref}")
            vals.append(qm["SYA"][k] / qm[ref][k])
    labels.append("storm drop\nvs WIC")
    vals.append(qm["SYA_drop"] / qm["WIC_drop"])
    ax[1, 1].bar(range(len(vals)), vals, color="tab:red")
    ax[1, 1].axhline(1.0, color="k", lw=1)
    for y in (0.5, 2.0):
        ax[1, 1].axhline(y, color="k", ls="--", lw=0.8)
    ax[1, 1].set_yscale("log")
    ax[1, 1].set_ylim(1 / 3.2, 3.2)
    ax[1, 1].yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax[1, 1].set_yticks([1 / 3, 0.5, 1, 2, 3])
    ax[1, 1].set_yticklabels(["1/3", "1/2", "1", "2", "3"])
    ax[1, 1].set_xticks(range(len(vals)))
    ax[1, 1].set_xticklabels(labels, fontsize=9)
    ax[1, 1].set(ylabel="synthetic / real",
                 title="(d) synthetic / real: daily range, IQR of 1-min dH, PSD slope, "
                       "storm drop (dashed: factor 2)")
    ax[1, 1].title.set_fontsize(9)
    fig.suptitle("geoanom synthetic world vs real records (BOU: USGS; MMB: JMA/WDC Kyoto; "
                 "WIC: GeoSphere Austria)", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("figure", nargs="?", default="synthetic_vs_real.png")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    real = real_records(Path(a.data))
    quiet = synthetic_quiet(a.seed)
    storm = synthetic_storm(a.seed)
    qm = {k: S.quiet_day_metrics(real[k]) for k in ("BOU", "MMB")}
    qm["SYA"] = S.quiet_day_metrics(quiet)
    qm["WIC_drop"] = wic_depression(real["WIC"])
    qm["SYA_drop"] = syn_depression(storm)
    for ref in ("BOU", "MMB"):
        for k in ("range_nT", "diff_iqr_nT", "slope"):
            print(json.dumps({"statistic": k, "reference": ref, "real": round(qm[ref][k], 3),
                              "synthetic": round(qm["SYA"][k], 3),
                              "ratio": round(qm["SYA"][k] / qm[ref][k], 3),
                              "real_days": qm[ref]["days"], "synthetic_days": qm["SYA"]["days"]}))
    print(json.dumps({"statistic": "storm_depression_nT", "reference": "WIC 2024-05",
                      "real": round(qm["WIC_drop"], 1), "synthetic": round(qm["SYA_drop"], 1),
                      "ratio": round(qm["SYA_drop"] / qm["WIC_drop"], 3),
                      "synthetic_dst_min_nT": -420.0}))
    figure(real, quiet, storm, qm, Path(a.figure))
    print(json.dumps({"figure": str(Path(a.figure).resolve())}))


if __name__ == "__main__":
    main()
