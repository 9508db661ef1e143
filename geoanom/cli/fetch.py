"""CLI commands ``geoanom fetch geomag`` and ``geoanom fetch catalog``: download station
records and earthquake catalogs from public web services (:mod:`geoanom.io.web`), through a
local cache, and write them in geoanom's own files with provenance.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import click

from geoanom.cli._table_options import map_option
from geoanom.errors import ConfigError

_IAGA_SUFFIXES = (".min", ".sec", ".hor", ".day", ".iaga", ".txt")


def _client_options(f):
    """The options every fetch command shares (cache, politeness, retries)."""
    opts = [
        click.option("--cache", "cache_dir", default=None,
                     type=click.Path(file_okay=False, path_type=Path),
                     help="Cache folder (default: $GEOANOM_CACHE_DIR or the platform's user "
                          "cache folder, e.g. ~/.cache/geoanom)."),
        click.option("--refresh", is_flag=True,
                     help="Fetch again even when the answer is cached (and update the cache)."),
        click.option("--offline", is_flag=True,
                     help="Use only the cache; fail instead of touching the network."),
        click.option("--min-interval", "min_interval_s", default=1.0, show_default=True,
                     type=click.FloatRange(min=0), help="Seconds between two requests to one "
                     "server (be polite to public services)."),
        click.option("--retries", default=4, show_default=True, type=click.IntRange(min=0),
                     help="Retries after HTTP 5xx/429 or a time-out (back-off 1, 2, 4... s)."),
        click.option("--timeout", "timeout_s", default=60.0, show_default=True,
                     type=click.FloatRange(min=0, min_open=True),
                     help="Seconds before one attempt times out."),
    ]
    for o in reversed(opts):
        f = o(f)

    @functools.wraps(f)
    def wrapper(*args, **kw):
        from geoanom.io.web import WebClient

        kw["client"] = WebClient(
            cache_dir=kw.pop("cache_dir"), refresh=kw.pop("refresh"), offline=kw.pop("offline"),
            min_interval_s=kw.pop("min_interval_s"), retries=kw.pop("retries"),
            timeout_s=kw.pop("timeout_s"))
        return f(*args, **kw)

    return wrapper


def _summary(client, extra: dict) -> dict:
    hits = sum(1 for e in client.log if e.from_cache)
    out = dict(extra)
    out.update({"requests": len(client.log), "from_cache": hits,
                "downloaded": len(client.log) - hits, "cache": str(client.cache_dir)})
    return out


def _provenance_inputs(client) -> list[str]:
    return [str(e.cache_path) for e in client.log if e.cache_path is not None]


@click.group("fetch")
def fetch() -> None:
    """Download station records, earthquake catalogs and activity indices from public web
    services.

    Answers are cached (keyed by the request), so a second run with the same request does
    not touch the network; --offline uses the cache only. Requests are spaced by
    --min-interval seconds and retried with exponential back-off on server errors.
    """


@fetch.command("geomag")
@click.option("--station", required=True, metavar="CODE", help="IAGA code, e.g. BOU.")
@click.option("--start", required=True, help="First time wanted (UTC): YYYY-MM-DD or ISO 8601.")
@click.option("--end", required=True, help="Last time wanted (UTC, inclusive): YYYY-MM-DD "
              "(the whole day) or ISO 8601.")
@click.option("--service", type=click.Choice(["usgs", "intermagnet"]), default="usgs",
              show_default=True, help="USGS geomagnetism web service or INTERMAGNET (BGS GIN "
              "GetData).")
@click.option("--sampling-period", "sampling_period_s", type=click.Choice(["1", "60", "3600",
              "86400"]), default="60", show_default=True,
              help="Seconds between samples (INTERMAGNET: 1 or 60).")
@click.option("--type", "data_type", default="variation", show_default=True,
              type=click.Choice(["variation", "adjusted", "quasi-definitive", "definitive"]),
              help="USGS data type.")
@click.option("--elements", default=None, metavar="LIST",
              help="USGS elements, comma-separated (e.g. X,Y,Z,F; default: the service's).")
@click.option("--publication-state", default="adj-or-rep", show_default=True,
              type=click.Choice(["adj-or-rep", "best-avail", "definitive", "quasi-definitive",
                                 "reported", "adjusted"]), help="INTERMAGNET publication state.")
@click.option("--orientation", default="Native", show_default=True,
              type=click.Choice(["Native", "XYZF", "HDZF"], case_sensitive=False),
              help="INTERMAGNET component orientation.")
@click.option("--base-url", default=None, metavar="URL",
              help="Another server speaking the same protocol (a mirror).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Output file: .nc (CF netCDF, provenance in its attributes) or "
                   ".min/.sec/.iaga (IAGA-2002, provenance in OUTPUT.provenance.json).")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
@_client_options
def fetch_geomag(station: str, start: str, end: str, service: str, sampling_period_s: str,
                 data_type: str, elements: str | None, publication_state: str,
                 orientation: str, base_url: str | None, output: Path, no_progress: bool,
                 client) -> None:
    """Fetch a station record (IAGA-2002 from the service) and write it as netCDF or
    IAGA-2002. One request per UTC day; cached days are reused."""
    from geoanom.io.web import fetch_geomag as fetch_record

    period = float(sampling_period_s)
    if service == "intermagnet" and period not in (1.0, 60.0):
        raise ConfigError("INTERMAGNET serves 1-second and 1-minute data",
                          expected="--sampling-period 1 or 60", found=sampling_period_s)
    elems = [e.strip() for e in elements.split(",") if e.strip()] if elements else None
    orient = "Native" if orientation.lower() == "native" else orientation.upper()
    rec = fetch_record(station, start, end, service=service, sampling_period_s=period,
                       data_type=data_type, elements=elems, publication_state=publication_state,
                       orientation=orient, base_url=base_url, client=client,
                       progress=False if no_progress else None)
    config = {"command": "fetch geomag", "service": service, "station": station.upper(),
              "start": start, "end": end, "sampling_period_s": period, "data_type": data_type,
              "elements": elems, "publication_state": publication_state,
              "orientation": orient, "base_url": base_url,
              "urls": [e.url for e in client.log]}
    inputs = _provenance_inputs(client)
    if output.suffix.lower() in _IAGA_SUFFIXES:
        from geoanom._atomic import atomic_path, atomic_write_text
        from geoanom.io.iaga2002 import write_iaga2002
        from geoanom.provenance import provenance

        with atomic_path(output) as tmp:
            write_iaga2002(rec, tmp)
        atomic_write_text(output.with_name(output.name + ".provenance.json"),
                          json.dumps(provenance(config=config, inputs=inputs), indent=1) + "\n")
    else:
        from geoanom.io.netcdf import write_netcdf

        write_netcdf(rec, output, config=config, inputs=inputs)
    t = rec["time"].values
    click.echo(json.dumps(_summary(client, {
        "output": str(output), "station": str(rec.attrs.get("iaga_code", station.upper())),
        "samples": int(t.size), "start": str(t[0])[:19] + "Z", "end": str(t[-1])[:19] + "Z",
    })))


def _catalog_mapping(table_map):
    """The catalog mapping of ``--map`` for a service answering in another dialect."""
    if table_map is None:
        return None
    if table_map.record is not None:
        raise ConfigError("fetch catalog reads catalogs; the mapping is for records",
                          path=table_map.record.path, expected="a mapping with kind = "
                          "'catalog'", found=table_map.record.label)
    return table_map.catalog


@fetch.command("catalog")
@click.option("--start", required=True, help="Start time (UTC): YYYY-MM-DD or ISO 8601.")
@click.option("--end", required=True, help="End time (UTC): YYYY-MM-DD (the whole day) or "
              "ISO 8601.")
@click.option("--min-magnitude", type=float, default=None, help="Smallest magnitude.")
@click.option("--max-magnitude", type=float, default=None, help="Largest magnitude.")
@click.option("--min-depth", "min_depth_km", type=float, default=None, help="Shallowest (km).")
@click.option("--max-depth", "max_depth_km", type=float, default=None, help="Deepest (km).")
@click.option("--box", default=None, metavar="LAT0,LAT1,LON0,LON1",
              help="Latitude and longitude bounds (degrees).")
@click.option("--circle", default=None, metavar="LAT,LON,RADIUS_DEG",
              help="Centre (degrees) and great-circle radius (degrees).")
@click.option("--format", "fmt", type=click.Choice(["csv", "text", "quakeml"]), default="csv",
              show_default=True, help="Answer format: csv (ComCat, carries the event type), "
              "text (any FDSN service), quakeml (needs the quakeml extra).")
@click.option("--base-url", default="https://earthquake.usgs.gov/fdsnws/event/1/query",
              show_default=True, metavar="URL", help="FDSN event service query endpoint "
              "(e.g. https://service.iris.edu/fdsnws/event/1/query with --format text).")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="At most this many events per request (default: the service's limit).")
@click.option("--chunk-days", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Split the interval into requests of this many days (services cap the "
              "events per answer; ComCat: 20,000). Default: one request.")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Catalog CSV in geoanom's format, with provenance (written atomically).")
@_client_options
@map_option
def fetch_catalog(start: str, end: str, min_magnitude: float | None,
                  max_magnitude: float | None, min_depth_km: float | None,
                  max_depth_km: float | None, box: str | None, circle: str | None, fmt: str,
                  base_url: str, limit: int | None, chunk_days: float | None, no_progress: bool,
                  output: Path, client, table_map=None) -> None:
    """Fetch an earthquake catalog from an FDSN event service (default USGS ComCat) and
    write it as geoanom catalog CSV."""
    from geoanom.cli._box import parse_box, parse_numbers
    from geoanom.io.catalog import write_catalog_csv
    from geoanom.io.web import fetch_catalog as fetch_events

    df = fetch_events(start, end, base_url=base_url, format=fmt, client=client,
                      min_magnitude=min_magnitude, max_magnitude=max_magnitude,
                      min_depth_km=min_depth_km, max_depth_km=max_depth_km,
                      box=parse_box(box),
                      circle=None if circle is None else parse_numbers(circle, 3, "--circle"),
                      limit=limit, chunk_days=chunk_days,
                      progress=False if no_progress else None,
                      mapping=_catalog_mapping(table_map))
    config = {"command": "fetch catalog", "service": base_url, "format": fmt, "start": start,
              "end": end, "min_magnitude": min_magnitude, "max_magnitude": max_magnitude,
              "min_depth_km": min_depth_km, "max_depth_km": max_depth_km, "box": box,
              "circle": circle, "limit": limit, "chunk_days": chunk_days, "urls": [e.url for e in client.log]}
    write_catalog_csv(df, output, config=config, inputs=_provenance_inputs(client))
    mags = df["magnitude"]
    click.echo(json.dumps(_summary(client, {
        "output": str(output), "events": int(len(df)),
        "magnitude_min": float(mags.min()) if len(df) else None,
        "magnitude_max": float(mags.max()) if len(df) else None,
    })))


@fetch.command("indices")
@click.option("--index", "index", required=True, type=click.Choice(["kp", "dst"]),
              help="kp: GFZ Potsdam Kp (3-hourly, decimal thirds); dst: WDC Kyoto Dst "
                   "(hourly nT; final where published, else provisional, else real-time).")
@click.option("--start", required=True, help="First time wanted (UTC): YYYY-MM-DD or ISO 8601.")
@click.option("--end", required=True, help="Last time wanted (UTC, inclusive): YYYY-MM-DD "
              "(the whole day) or ISO 8601.")
@click.option("--base-url", default=None, metavar="URL",
              help="Another server speaking the same protocol (a mirror).")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Index CSV (time_utc_start,Kp or time_utc_start,Dst_nT, provenance in "
                   "leading # lines; written atomically) that geoanom test --activity and "
                   "geoanom.io.indices.read_index read.")
@_client_options
def fetch_indices(index: str, start: str, end: str, base_url: str | None, no_progress: bool,
                  output: Path, client) -> None:
    """Fetch a geomagnetic activity index (Kp from GFZ, Dst from WDC Kyoto) and write it
    as an index CSV. Cite GFZ (Kp, CC BY 4.0) or WDC Kyoto (Dst) where you show results."""
    import numpy as np

    from geoanom.io.indices import write_index_csv
    from geoanom.io.web import fetch_index

    ds = fetch_index(index, start, end, base_url=base_url, client=client,
                     progress=False if no_progress else None)
    config = {"command": "fetch indices", "index": index, "start": start, "end": end,
              "base_url": base_url, "versions": ds.attrs.get("versions"),
              "urls": [e.url for e in client.log]}
    write_index_csv(ds, output, config=config, inputs=_provenance_inputs(client))
    var = str(ds.attrs["primary_variable"])
    v = ds[var].values
    t = ds["time"].values
    click.echo(json.dumps(_summary(client, {
        "output": str(output), "index": var, "values": int(np.isfinite(v).sum()),
        "missing": int((~np.isfinite(v)).sum()),
        "start": str(t[0])[:19] + "Z", "end": str(t[-1])[:19] + "Z",
    })))


commands = [fetch]
