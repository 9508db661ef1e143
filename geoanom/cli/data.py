"""CLI commands for data: ``geoanom info``, ``geoanom convert``, ``geoanom stations``.

Thin layer over :func:`geoanom.io.read_records`, :func:`geoanom.io.netcdf.write_netcdf` and
:mod:`geoanom.stations`; every user error is a GeoanomError, which the group turns into a
message on stderr and exit code 2.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import click

from geoanom.cli._table_options import map_option, open_catalog, read_records_checked
from geoanom.errors import ConfigError

if TYPE_CHECKING:  # numpy and xarray are imported where used: `--help` and completion stay fast
    import numpy as np
    import xarray as xr

__all__ = ["commands", "record_summary"]


def _cadence_text(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "unknown"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


def _duration_text(seconds: float | None) -> str:
    """A gap length for people: "40 s", "12 min", "5.5 h", "15.6 d"."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    for unit, size, limit in (("s", 1, 60), ("min", 60, 3600), ("h", 3600, 86400)):
        if seconds < limit:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds / 86400:.3g} d"


def _files_text(files: list[str]) -> str:
    if len(files) <= 3:
        return ", ".join(files)
    return f"{files[0]} ... {files[-1]} ({len(files)} files)"


def _runs(bad: np.ndarray) -> tuple[int, int]:
    """Number of runs of True in ``bad`` and the longest run length (samples)."""
    import numpy as np

    if not bad.any():
        return 0, 0
    b = np.concatenate(([False], bad, [False])).astype(np.int8)
    d = np.diff(b)
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return int(starts.size), int((ends - starts).max())


def _iso(t: np.datetime64) -> str:
    """ISO-8601 UTC text, to the second unless the time has a fraction."""
    import numpy as np

    unit = "s" if t.astype("datetime64[ns]").astype(np.int64) % 1_000_000_000 == 0 else "ns"
    return str(np.datetime_as_string(t, unit=unit)) + "Z"


def _json_float(x: object) -> float | None:
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _flags(ds: xr.Dataset, c: str):
    """A component's flags (from its NaNs when the record carries no flag variable)."""
    import numpy as np

    from geoanom.record import FLAG_MISSING, FLAG_VALID

    return (ds[f"{c}_flag"].values if f"{c}_flag" in ds else
        np.where(np.isnan(ds[c].values), FLAG_MISSING, FLAG_VALID))


def _valid_text(ds: xr.Dataset) -> str:
    """How many samples are valid, for ``convert``'s one-line report: ``N valid`` for one
    component; else the samples valid in every component, then each component's count
    (a sum over components would exceed the number of samples)."""
    import numpy as np

    from geoanom.record import FLAG_VALID, component_names

    ok = {c: _flags(ds, c) == FLAG_VALID for c in component_names(ds)}
    if len(ok) == 1:
        return f"{int(next(iter(ok.values())).sum())} valid"
    every = np.logical_and.reduce(list(ok.values())) if ok else np.zeros(0, bool)
    per = ", ".join(f"{c} {int(v.sum())}" for c, v in ok.items())
    return f"{int(every.sum())} valid in all components ({per})"


def record_summary(ds: xr.Dataset) -> dict:
    """What ``geoanom info`` reports about a record, as a JSON-safe dict.

    Per component: units, counts of valid, missing (IAGA 99999 / fill) and not observed
    (IAGA 88888) samples, the number of gaps (runs of consecutive non-valid samples) and the
    longest gap in samples and seconds.
    """
    import numpy as np

    from geoanom.record import FLAG_MISSING, FLAG_NOT_OBSERVED, FLAG_VALID, component_names

    t = ds["time"].values
    period = float(ds.attrs.get("sampling_period_s", math.nan))
    comps = {}
    for c in component_names(ds):
        f = _flags(ds, c)
        n_gaps, longest = _runs(f != FLAG_VALID)
        comps[c] = {
            "units": str(ds[c].attrs.get("units", "")),
            "valid": int(np.sum(f == FLAG_VALID)),
            "missing": int(np.sum(f == FLAG_MISSING)),
            "not_observed": int(np.sum(f == FLAG_NOT_OBSERVED)),
            "gaps": n_gaps,
            "longest_gap_samples": longest,
            "longest_gap_s": longest * period if math.isfinite(period) else None,
        }
    a = ds.attrs
    return {
        "station": {
            "code": str(a.get("iaga_code", "")),
            "name": str(a.get("station_name", "")),
            "latitude_deg": _json_float(a.get("latitude_deg")),
            "longitude_deg": _json_float(a.get("longitude_deg")),
            "elevation_m": _json_float(a.get("elevation_m")),
        },
        "data_type": str(a.get("data_type", "")),
        "source": str(a.get("source", "")),
        "start": _iso(t[0]) if t.size else None,
        "end": _iso(t[-1]) if t.size else None,
        "samples": int(t.size),
        "sampling_period_s": _json_float(period),
        "cadence": _cadence_text(period),
        "components": comps,
    }


def _text_summary(s: dict) -> str:
    st = s["station"]

    def num(v: float | None, fmt: str) -> str:
        return "unknown" if v is None else format(v, fmt)

    elev = "elevation unknown" if st["elevation_m"] is None else f"{st['elevation_m']:g} m"
    lines = [
        _files_text(s["files"]),
        f"  station     {st['code']} ({st['name']}), {num(st['latitude_deg'], '.4f')} N, "
        f"{num(st['longitude_deg'], '.4f')} E, {elev}",
        f"  data type   {s['data_type']}",
        f"  span        {s['start']} .. {s['end']} ({s['samples']} samples)",
        f"  cadence     {s['cadence']}",
        "  components  " + " ".join(f"{c} [{v['units']}]" for c, v in s["components"].items()),
        f"  {'component':<14}{'valid':>10}{'missing':>10}{'not obs.':>10}{'gaps':>7}"
        f"{'longest gap':>14}",
    ]
    for c, v in s["components"].items():
        if not v["longest_gap_samples"]:
            longest = "-"
        elif v["longest_gap_s"] is None:
            longest = f"{v['longest_gap_samples']} samples"
        else:
            longest = _duration_text(v["longest_gap_s"])
        lines.append(f"  {c:<14}{v['valid']:>10}{v['missing']:>10}{v['not_observed']:>10}"
                     f"{v['gaps']:>7}{longest:>14}")
    return "\n".join(lines)


@click.command("info")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (a list of them "
              "for a long-format table of several stations).")
@map_option(station=True)
def info(files: tuple[str, ...], as_json: bool, table_map) -> None:
    """Describe a station record read from FILES (one file, or daily files of one station;
    with --map, a delimited table: every station of a long-format one): station, span,
    cadence, components with units, gap and fill counts, data type."""
    recs, warns = read_records_checked(files, table_map)
    out = []
    for rec in recs.values():
        s = record_summary(rec)
        s["files"] = list(files)
        s["warnings"] = warns
        out.append(s)
    for w in warns:
        click.echo(f"geoanom: warning: {w}", err=True)
    if as_json:
        click.echo(json.dumps(out[0] if len(out) == 1 else out, indent=2, sort_keys=False))
    else:
        click.echo("\n\n".join(_text_summary(s) for s in out))


@click.command("convert")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("-o", "--output", required=True, type=click.Path(path_type=str),
              help="Output netCDF file (written atomically; left untouched on failure); a "
                   "folder for a long-format table of several stations (one CODE.nc each); "
                   "a catalog CSV for a catalog mapping.")
@map_option(station=True)
def convert(files: tuple[str, ...], output: str, table_map) -> None:
    """Convert FILES (IAGA-2002, ImagCDF or netCDF; several daily files join into one
    record; with --map, a delimited table) to the canonical CF netCDF form. A catalog read
    through a catalog mapping is written as geoanom catalog CSV."""
    from geoanom.io.netcdf import write_netcdf
    from geoanom.record import append_history

    config = {"command": "convert", "files": [str(f) for f in files]}
    if table_map.catalog is not None and table_map.record is None:
        from geoanom.io.catalog import write_catalog_csv

        if len(files) != 1:
            raise ConfigError("a mapped catalog is read from one file", expected="one file",
                              found=f"{len(files)} files")
        df = open_catalog(files[0], table_map)
        config["mapping"] = table_map.catalog.to_dict()
        write_catalog_csv(df, output, config=config, inputs=files)
        click.echo(f"wrote {output} ({len(df)} events, "
                   f"{_iso(df['time'].min().to_datetime64()) if len(df) else '-'} .. "
                   f"{_iso(df['time'].max().to_datetime64()) if len(df) else '-'})")
        return
    recs, warns = read_records_checked(files, table_map)
    for w in warns:
        click.echo(f"geoanom: warning: {w}", err=True)
    many = (table_map.record is not None and table_map.record.station_column is not None
        and table_map.station is None)
    if table_map.record is not None:
        config["mapping"] = table_map.record.to_dict()
    for code, rec in recs.items():
        out = str(Path(output) / f"{code}.nc") if many else output
        if many and Path(output).exists() and not Path(output).is_dir():
            raise ConfigError("a long-format table of several stations converts into a "
                              "folder", path=output, expected="a folder (one CODE.nc per "
                              "station) or --station CODE", found="an existing file")
        rec = append_history(rec, f"geoanom convert {' '.join(Path(f).name for f in files)} "
                                  f"-o {Path(out).name}")
        write_netcdf(rec, out, config=config, inputs=files)
        t = rec["time"].values
        click.echo(f"wrote {out} ({rec.sizes['time']} samples, {_valid_text(rec)}, "
                   f"{_iso(t[0])} .. {_iso(t[-1])})")


@click.group("stations")
@click.option("--dir", "dirs", multiple=True, type=click.Path(file_okay=False, path_type=str),
              help="Extra folder of station TOML files (repeatable; overrides built-ins).")
@click.pass_context
def stations(ctx: click.Context, dirs: tuple[str, ...]) -> None:
    """The station registry (built-in TOML files, GEOANOM_STATIONS_PATH, --dir)."""
    ctx.obj = {"dirs": dirs}


def _fmt(v: float, spec: str) -> str:
    return "-" if not math.isfinite(v) else format(v, spec)


@stations.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def stations_list(ctx: click.Context, as_json: bool) -> None:
    """List the known stations (longitude east-positive, -180..180)."""
    from geoanom.stations import load_stations

    st = load_stations(ctx.obj["dirs"])
    if as_json:
        click.echo(json.dumps([s.to_dict() for s in st.values()], indent=2))
        return
    click.echo(f"{'code':<6}{'name':<22}{'lat_deg':>9}{'lon_deg':>10}{'elev_m':>9}  network")
    for s in st.values():
        click.echo(f"{s.code:<6}{s.name[:21]:<22}{s.latitude_deg:>9.3f}{s.longitude_deg:>10.3f}"
                   f"{_fmt(s.elevation_m, '.1f'):>9}  {s.network}")


@stations.command("show")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@click.pass_context
def stations_show(ctx: click.Context, code: str, as_json: bool) -> None:
    """Show one station's metadata (unknown CODE: exit code 2)."""
    from geoanom.stations import get_station

    s = get_station(code, ctx.obj["dirs"])
    if as_json:
        click.echo(json.dumps(s.to_dict(), indent=2))
        return
    d = s.to_dict()
    width = max(len(k) for k in d) + 2  # the longest key still gets a space
    for k, v in d.items():
        click.echo(f"{k:<{width}}{'unknown' if v is None else v}")


commands: list = [info, convert, stations]
