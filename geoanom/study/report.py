"""The study's report: ``results.json`` (one :data:`RESULT_TYPE` for every kind of study),
``summary.md`` and figures (timelines with events and Kp, Molchan curves, superposed
epochs, a forest plot of per-station effects with their CIs, power curves). Single-station
figures reuse :mod:`geoanom.plot`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from geoanom._atomic import atomic_write_text
from geoanom._jsonfile import json_safe
from geoanom.plot import (
    axes_or_new,
    daily_max,
    plot_molchan,
    plot_score_series,
    plot_superposed_epoch,
    save_figure,
)
from geoanom.provenance import provenance
from geoanom.stats.alarm import seen_mask
from geoanom.stats.protocol import Protocol
from geoanom.study.assess import Assessment
from geoanom.study.config import SHORT, StudyConfig

RESULT_TYPE = "geoanom.StudyResult"
SCHEMA = 1


def fmt_number(x, fmt: str = ".3f") -> str:
    """``x`` formatted with ``fmt``; ``"n/a"`` for None and non-finite numbers, ``str(x)``
    for what is not a number."""
    if x is None:
        return "n/a"
    try:
        xf = float(x)
    except (TypeError, ValueError):
        return str(x)
    return "n/a" if not np.isfinite(xf) else format(xf, fmt)


def _ci(c) -> str:
    if not c or c[0] is None:
        return "n/a"
    return f"[{fmt_number(c[0], '.2f')}, {fmt_number(c[1], '.2f')}]"


def plot_forest(rows: list[dict], *, ax=None, title: str = ""):
    """Forest plot: one row per (station, detector) with its AUC and 95 % CI; 0.5 = none.

    ``rows``: dicts with ``label``, ``auc``, ``ci`` ([lo, hi]) and ``n`` (events).
    """
    ax = axes_or_new(ax, (6.5, 0.35 * len(rows) + 1.5))
    y = np.arange(len(rows))[::-1]
    for yy, r in zip(y, rows, strict=True):
        a = r.get("auc")
        if a is None or not np.isfinite(a):
            continue
        lo, hi = (r.get("ci") or [None, None])
        if lo is not None:
            ax.plot([lo, hi], [yy, yy], color="0.3", lw=1.2)
        ax.plot([a], [yy], "s", color=r.get("color", "C0"), ms=5)
        ax.text(1.01, yy, f"n={r.get('n', 0)}", va="center", fontsize=7,
                transform=ax.get_yaxis_transform())
    ax.axvline(0.5, color="0.5", ls="--", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels([r["label"] for r in rows], fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel("event-level AUC (ASS) with 95 % CI over events")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_power(power: dict, *, ax=None, alpha: float = 0.05):
    """Detection rate against injected strength per station and detector, with the
    false-alarm rate of random-time injections as an open marker and alpha as a line."""
    ax = axes_or_new(ax, (6.0, 4.2))
    k = 0
    for code, dets in (power.get("stations") or {}).items():
        for det, d in dets.items():
            rows = d.get("strengths") or []
            if not rows:
                continue
            s = [r["strength"] for r in rows]
            rate = [r["detection_rate"] for r in rows]
            ax.plot(s, rate, "o-", color=f"C{k}", label=f"{code} {SHORT.get(det, det)}")
            fa = d.get("random_time")
            if fa and fa.get("rate") is not None:
                ax.plot([min(s) * 0.8], [fa["rate"]], "o", mfc="none", color=f"C{k}")
            k += 1
    ax.axhline(alpha, color="0.5", ls="--", lw=0.8, label=f"alpha = {alpha:g}")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("injected strength (robust daily spreads)")
    ax.set_ylabel("detection rate (p <= alpha)")
    ax.legend(fontsize=7)
    ax.set_title("Power by injection (open marker: random-time injections)", fontsize=9)
    return ax


def study_figures(result: dict, out: Path, scores_by_det: dict, tests: dict, activity: dict,
                  catalog) -> dict:
    """Draw the study's figures into ``out/figures``; returns name -> relative path."""
    figdir = out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    cfg = result["config"]
    try:
        proto = Protocol.from_dict(cfg.get("protocol", {}))
    except Exception:  # noqa: BLE001 - figures never stop the report
        proto = None
    kp = activity.get("kp")
    for (code, det), r in tests.items():
        tag = f"{code}_{SHORT.get(det, det)}"
        pr = r.primary
        if pr.get("molchan"):
            ax = plot_molchan(pr["molchan"], r.baselines, title=f"Molchan diagram, {code} "
                              f"{det.replace('_', ' ')}")
            files[f"molchan_{tag}"] = str(save_figure(ax, figdir / f"molchan_{tag}.png")
                                          .relative_to(out))
        if pr.get("superposed_epoch"):
            lead = cfg.get("protocol", {}).get("lead", {})
            ax = plot_superposed_epoch(pr["superposed_epoch"],
                                       lead_days=(lead.get("min_days", 1.0),
                                                  lead.get("max_days", 30.0)))
            ax.set_title(f"Superposed epoch, {code} {det.replace('_', ' ')}", fontsize=9)
            files[f"superposed_epoch_{tag}"] = str(
                save_figure(ax, figdir / f"superposed_epoch_{tag}.png").relative_to(out))
        ds = scores_by_det.get(det, {}).get(code)
        if ds is not None and det != "activity" and proto is not None:
            t, v = daily_max(ds["end"].values, ds["score"].values)
            lat, lon = float(ds.attrs["latitude_deg"]), float(ds.attrs["longitude_deg"])
            seen = seen_mask(catalog, lat, lon, proto)
            tt = catalog["time"].to_numpy()
            m = seen & (tt >= t.min()) & (tt <= t.max())
            kw = {}
            if kp is not None:
                km = (kp["time"].to_numpy() >= t.min()) & (kp["time"].to_numpy() <= t.max())
                kd = kp[km].set_index("time")["kp"].resample("1D").max()
                kw = {"activity_time": kd.index.to_numpy(), "activity": kd.to_numpy(),
                      "activity_name": "Kp (daily max)"}
            ax = plot_score_series(t, v, events_time=tt[m],
                                   events_mag=catalog["magnitude"].to_numpy()[m],
                                   events_mainshock=catalog["mainshock"].to_numpy(bool)[m],
                                   score_label=f"{SHORT.get(det, det)} score (daily max, "
                                               "validation-median units)",
                                   title=f"{code}: rolling-origin test-year scores, seen "
                                         f"events, Kp", **kw)
            files[f"timeline_{tag}"] = str(save_figure(ax, figdir / f"timeline_{tag}.png")
                                           .relative_to(out))
    rows = []
    colors = {"negative_learning": "C0", "plain_autoencoder": "C1", "activity": "C2"}
    for code, st in result["stations"].items():
        for det, d in st["detectors"].items():
            te = d.get("test")
            if te:
                rows.append({"label": f"{code} {SHORT.get(det, det)}"
                                      + (" (control)" if st["role"] == "control" else ""),
                             "auc": te.get("auc") if te.get("auc") is not None else np.nan,
                             "ci": te.get("auc_ci95"),
                             "n": te.get("n_independent_events"), "color": colors.get(det)})
    for det, a in result.get("across_stations", {}).items():
        po = a.get("pooled") or {}
        if po.get("auc") is not None:
            rows.append({"label": f"POOLED {SHORT.get(det, det)}", "auc": po["auc"],
                         "ci": None, "n": po.get("n_independent_events"),
                         "color": colors.get(det)})
    if rows:
        ax = plot_forest(rows, title="Per-station effects (AUC, 95 % CI over events)")
        files["forest"] = str(save_figure(ax, figdir / "forest.png").relative_to(out))
    if result.get("power"):
        ax = plot_power(result["power"], alpha=float(cfg.get("protocol", {})
                                                     .get("alpha", 0.05)))
        files["power"] = str(save_figure(ax, figdir / "power.png").relative_to(out))
    return files


def summary_markdown(r: dict) -> str:
    """``summary.md`` of a study result: verdicts with the events they rest on."""
    L = [f"# Study `{r['study']}`", ""]
    desc = (r.get("config", {}).get("study", {}) or {}).get("description")
    if desc:
        L += [desc, ""]
    how = ("scores brought by the user, tested as they are (no training)"
           if r.get("kind") == "scores" else
           "every score is out of sample (rolling origin: trained before the year before, "
           "validated on the year before, tested on the year)")
    L += [f"Config hash `{r['config_hash']}`; geoanom "
          f"{r.get('provenance', {}).get('geoanom_version', '?')}; {how}.", ""]
    L += ["## Per station", "",
          "| station | role | detector | events | AUC | 95 % CI | p | BY q | verdict |",
          "|---|---|---|---:|---:|---|---:|---:|---|"]
    for code, st in r["stations"].items():
        for det, d in st["detectors"].items():
            te = d.get("test")
            if not te:
                L.append(f"| {code} | {st['role']} | {SHORT.get(det, det)} | 0 | n/a | n/a | "
                         f"n/a | n/a | {d.get('status', 'not run')} |")
                continue
            L.append(f"| {code} | {st['role']} | {SHORT.get(det, det)} | "
                     f"{te.get('n_independent_events')} | {fmt_number(te.get('auc'))} | "
                     f"{_ci(te.get('auc_ci95'))} | {fmt_number(te.get('p_value'), '.4f')} | "
                     f"{fmt_number(te.get('q_value_by'), '.3f')} | "
                     f"{te.get('verdict_after_multiplicity', te.get('verdict'))} |")
    ctl = [(code, det, d["test"]["control_station"]) for code, st in r["stations"].items()
           for det, d in st["detectors"].items()
           if d.get("test") and d["test"].get("control_station")]
    if ctl:
        L += ["", "## Aseismic control as placebo", "",
              "The control station's score tested against each seismic station's events "
              "(it should come out null):", "",
              "| station | detector | control | control AUC on these events | p | null? |",
              "|---|---|---|---:|---:|---|"]
        for code, det, c in ctl:
            L.append(f"| {code} | {SHORT.get(det, det)} | {c.get('station')} | "
                     f"{fmt_number(c.get('placebo_auc'))} | "
                     f"{fmt_number(c.get('placebo_p'), '.4f')} | "
                     f"{c.get('placebo_came_out_null')} |")
    L += ["", "## Pooled over the seismic stations (catalog shifted jointly)", "",
          "A station-event pair counts each station that sees an event; the independent "
          "events are the distinct events among them.", "",
          "| detector | stations | station-event pairs | independent events | AUC | p | "
          "verdict |", "|---|---:|---:|---:|---:|---:|---|"]
    for det, a in r.get("across_stations", {}).items():
        po = a.get("pooled") or {}
        q = po.get("q_value_by_over_scores")
        L.append(f"| {SHORT.get(det, det)} | {len(a.get('stations', []))} | "
                 f"{po.get('n_pairs', 0)} | {po.get('n_independent_events', 0)} | "
                 f"{fmt_number(po.get('auc'))} | {fmt_number(po.get('p_value'), '.4f')}"
                 + (f" (BY q over the scores {fmt_number(q, '.3f')})" if q is not None else "")
                 + f" | {po.get('verdict', po.get('status', 'n/a'))} |")
    if r.get("paired"):
        L += ["", "## Paired over stations", ""]
        for k, d in r["paired"].items():
            if d.get("n_stations"):
                L.append(f"- {k.replace('_', ' ')}: mean AUC difference {fmt_number(d['mean'])} "
                         f"(95 % bootstrap CI over {d['n_stations']} stations "
                         f"{_ci(d['ci95'])}); positive at {d['n_positive']} of "
                         f"{d['n_stations']} stations ({', '.join(d['stations'])}; stations "
                         f"whose tests rest on >= {d.get('min_events', 1)} events for both).")
    if r.get("base_rates"):
        L += ["", "## Base rates (constant forecasts)", "",
              "| area | weeks | weeks with event | accuracy 'no event' | accuracy 'event' |",
              "|---|---:|---:|---:|---:|"]
        for a, b in r["base_rates"].items():
            L.append(f"| {a} | {b['weeks']} | {b['weeks_with_event']} | "
                     f"{fmt_number(b['accuracy_constant_no_event'])} | "
                     f"{fmt_number(b['accuracy_constant_event'])} |")
    pw = r.get("power")
    if pw:
        L += ["", "## Power by injection", "", pw.get("design_note", ""), "",
              "| station | detector | strength | injections | detection rate | median p |",
              "|---|---|---:|---:|---:|---:|"]
        for code, dets in (pw.get("stations") or {}).items():
            for det, d in dets.items():
                for row in d.get("strengths", []):
                    L.append(f"| {code} | {SHORT.get(det, det)} | {row['strength']:g} | "
                             f"{row['n']} | {fmt_number(row['detection_rate'], '.2f')} | "
                             f"{fmt_number(row.get('median_p'), '.3f')} |")
                fa = d.get("random_time")
                if fa:
                    L.append(f"| {code} | {SHORT.get(det, det)} | random times "
                             f"({fa.get('strength', 0):g}) | {fa['n']} | "
                             f"{fmt_number(fa['rate'], '.2f')} (false alarms) | "
                             f"{fmt_number(fa.get('median_p'), '.3f')} |")
    L += ["", "## What the numbers rest on", "",
          "- Verdicts need at least 10 independent (declustered, seen) events on eligible "
          "test bins; below that the test says *not assessable* and gives the smallest AUC it "
          "could have detected.",
          "- Per-station p-values come from circular shifts of the catalog against the "
          "station's score series; the pooled p shifts the catalog by the same offset at "
          "every station (stations share events).",
          "- Per-station results are corrected for multiplicity with Benjamini-Yekutieli "
          "q-values over the seismic stations, per detector.", ""]
    t = r.get("timings_s", {})
    if t:
        L += ["## Time", "", ", ".join(f"{k} {v} s" for k, v in t.items()), ""]
    fl = dict(r.get("files", {}))
    figs = fl.pop("figures", {}) or {}
    L += ["## Files", ""] + [f"- `{k}`: {v}" for k, v in sorted(fl.items())]
    L += ["- per station: `stations/<CODE>/scores_<detector>.nc` (scores), "
          "`stations/<CODE>/test_<detector>.json` (the event-level test)"]
    if figs:
        L += [f"- figures ({len(figs)}): " + ", ".join(f"`{v}`" for v in
                                                       list(figs.values())[:12])
              + (" ..." if len(figs) > 12 else "")]
    return "\n".join(L) + "\n"


def study_result(cfg: StudyConfig, assessment: Assessment, catalog: pd.DataFrame,
                 timings: dict, *, power: dict | None = None, grid: list | None = None,
                 base_rates: dict | None = None) -> dict:
    """The results of a study before figures and provenance are added: the assessment,
    the catalog's counts, and what only some studies have (``power`` of a record study
    with injections; ``grid``, the multiplicity over the grid of area-score tests, and
    ``base_rates`` of a scores study)."""
    result = {"type": RESULT_TYPE, "schema": SCHEMA, "study": cfg.name, "kind": cfg.kind,
              "config": cfg.raw, "config_hash": cfg.hash(), "stations": assessment.stations,
              "across_stations": assessment.across}
    if grid is not None:
        result["grid_multiplicity"] = grid
    result["paired"] = assessment.paired
    if base_rates is not None:
        result["base_rates"] = base_rates
    result["power"] = power
    result["catalog"] = {"n_events": int(len(catalog))}
    if cfg.kind == "record":
        result["catalog"]["n_mainshocks"] = int(catalog["mainshock"].sum())
    result["catalog"]["declustering"] = str(catalog.attrs.get("declustering", ""))
    result.update(files={}, timings_s=timings, provenance={})
    return result


def seal_report(result: dict, cfg: StudyConfig, out: Path, say: Callable[[str], None], *,
                sums: dict, t_all: float) -> dict:
    """The last step of every study: total time (s since ``t_all``), provenance (config,
    seed, input checksums), then :func:`finish_report`."""
    result["timings_s"]["total"] = round(time.perf_counter() - t_all, 2)
    result["provenance"] = provenance(config=cfg.raw, seeds={"seed": cfg.seed},
                                      extra={"type": RESULT_TYPE, "schema": SCHEMA,
                                             "inputs_sha256": sums})
    return finish_report(result, out, say)


def finish_report(result: dict, out: Path, say: Callable[[str], None],
                  extra_summary: str = "") -> dict:
    """Write ``results.json`` and ``summary.md`` (with ``extra_summary`` after its title
    block) atomically; return the JSON-safe result."""
    result["files"].update({"results": "results.json", "summary": "summary.md",
                            "config": "study.toml"})
    result = json_safe(result)
    atomic_write_text(out / "results.json", json.dumps(result, indent=1, default=str) + "\n")
    text = summary_markdown(result)
    if extra_summary:
        head, sep, rest = text.partition("## Per station")
        text = head + extra_summary + "\n" + sep + rest
    atomic_write_text(out / "summary.md", text)
    say(f"report in {out}")
    return result
