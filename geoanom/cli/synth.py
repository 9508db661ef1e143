"""CLI command ``geoanom synth``: write a synthetic world with known truth to a folder."""

from __future__ import annotations

import json
from pathlib import Path

import click

from geoanom.errors import ConfigError


@click.command("synth")
@click.option("-o", "--output", "output", required=True, type=click.Path(file_okay=False),
              help="Output folder (created if absent).")
@click.option("--seed", default=0, show_default=True, type=int, help="Master seed.")
@click.option("--days", default=30.0, show_default=True, type=float, help="Span in days.")
@click.option("--cadence", "cadence", default=60.0, show_default=True, type=float,
              help="Sampling period in seconds (60: 1-minute, 1: 1-second).")
@click.option("--stations", "stations", default=3, show_default=True, type=int,
              help="Number of synthetic stations (SYA, SYB, SYC remote, SYD...).")
@click.option("--precursor-strength", "strength", default=0.0, show_default=True, type=float,
              help="Strength of precursor signatures before events (0: the null world).")
@click.option("--start", default="2020-01-01", show_default=True, help="First day (UTC).")
@click.option("--max-epochs", "max_epochs", default=None, type=click.IntRange(min=1),
              help="[train] max_epochs written into detector.toml (default: the package's).")
@click.option("--no-configs", is_flag=True,
              help="Do not write detector.toml and protocol.toml.")
@click.option("--ulf", is_flag=True,
              help="The 1-s ULF world: Pc3-Pc5 pulsations shaped by local time and season, "
                   "and night-time Z/G rises before the events that carry a precursor "
                   "(needs --cadence 1 or shorter).")
@click.option("--ulf-rise", "ulf_rise", default=None, type=click.FloatRange(min=0.0),
              help="[--ulf] Z/G in the rise band is multiplied by 1 + this on raised nights "
                   "(default 0: no rise).")
@click.option("--ulf-band", "ulf_band", default=None, type=(float, float),
              metavar="LOW HIGH", help="[--ulf] Band of the Z/G rise in Hz (default 0.03 0.04).")
def synth(output: str, seed: int, days: float, cadence: float, stations: int, strength: float,
          start: str, max_epochs: int | None, no_configs: bool, ulf: bool,
          ulf_rise: float | None, ulf_band: tuple[float, float] | None) -> None:
    """Build a synthetic world (station records, ETAS catalog, activity index, truth).

    Writes one netCDF record per station (<CODE>.nc), catalog.csv, activity.csv,
    stations.csv and truth.json (with provenance) into OUTPUT, and detector.toml and
    protocol.toml fitted to the first station's record (geoanom config suggest), which
    geoanom train and geoanom test pick up when run in OUTPUT or on its files. With --ulf,
    truth.json lists the raised nights under "ulf".
    """
    from geoanom.synthetic import UlfWorldConfig, make_world

    if days <= 0:
        raise ConfigError("--days must be positive", found=str(days))
    if strength < 0:
        raise ConfigError("--precursor-strength must be >= 0", found=str(strength))
    if not ulf and (ulf_rise is not None or ulf_band is not None):
        raise ConfigError("--ulf-rise and --ulf-band set the ULF world",
                          expected="--ulf with them", found="no --ulf")
    ulf_config = None
    if ulf:
        ulf_config = UlfWorldConfig(**({} if ulf_rise is None else {"rise": ulf_rise}),
                                    **({} if ulf_band is None else {"band_hz": ulf_band}))
    world = make_world(seed, days, cadence_s=cadence, n_stations=stations,
                       precursor_strength=strength, start=start, ulf=ulf_config)
    paths = world.save(Path(output))
    counts = None
    if not no_configs:
        from geoanom.detector.suggest import suggest_configs, write_configs

        code = sorted(world.records)[0]
        sug = suggest_configs(world.records[code], world.catalog)
        if max_epochs is not None:
            sug.train["max_epochs"] = int(max_epochs)
        paths = [*paths, *write_configs(
            sug, Path(output), header=f"Written by geoanom synth for station {code} "
                                      f"(seed {seed}, {days:g} days).")]
        counts = sug.counts
    summary = {
        "output": str(Path(output)),
        "files": [p.name for p in paths],
        "events": int(len(world.catalog)),
        "precursor_windows": int(len(world.truth["precursors"])),
        "signal_added": world.truth["signal_added"],
        "window_counts": counts,
    }
    click.echo(json.dumps(summary))


commands = [synth]
