"""Station registry: one TOML file per station.

Conventions: latitude geodetic (WGS-84) in degrees north; longitude in degrees **east-positive
in -180..180** (a file may give 0..360; it is normalised on loading); elevation in metres
above sea level, NaN when no source gives it. Each file holds::

    code = "BOU"                 # IAGA code (2-5 letters or digits)
    name = "Boulder"
    latitude_deg = 40.137
    longitude_deg = -105.236
    elevation_m = 1682.0         # optional
    network = "INTERMAGNET"
    source = "where the coordinates come from"
    institute = "..."            # optional
    notes = "..."                # optional

Where the registry is looked for, later entries overriding earlier ones with the same code:

0. the station tables shipped with the package (:data:`SHIPPED_TABLES`: the MAGDAS list,
   ``geoanom/mappings/stations_magdas.csv``), which the column mappings' ``station_table``
   also reads, so one registry answers for every station geoanom knows;
1. the built-in stations (the repository's ``stations/`` folder in a checkout or editable
   install; ``geoanom/_stations/`` or ``<prefix>/share/geoanom/stations`` in an installed
   package);
2. the folders in the environment variable ``GEOANOM_STATIONS_PATH`` (``os.pathsep``-separated);
3. ``extra_dirs`` given to :func:`load_stations`.
"""

from __future__ import annotations

import csv
import math
import os
import re
import sys
import sysconfig
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from geoanom._toml import read_toml
from geoanom.errors import ConfigError, FormatError, GeoanomWarning

__all__ = ["Station", "StationMismatchWarning", "load_stations",
           "get_station", "check_header", "builtin_station_dir", "HEADER_TOLERANCE_DEG",
           "ENV_VAR"]

#: Largest tolerated disagreement (degrees) between a file header and the registry.
HEADER_TOLERANCE_DEG = 0.01
#: Environment variable naming extra station folders.
ENV_VAR = "GEOANOM_STATIONS_PATH"

_REQUIRED = {"code": str, "name": str, "latitude_deg": (int, float),
             "longitude_deg": (int, float), "network": str, "source": str}
_OPTIONAL = {"elevation_m": (int, float), "institute": str, "notes": str}
_CODE = re.compile(r"[A-Z0-9]{2,5}")


class StationMismatchWarning(GeoanomWarning):
    """A file header's station coordinates disagree with the registry."""


@dataclass(frozen=True)
class Station:
    """Metadata of one station.

    Attributes
    ----------
    code : str
        IAGA code (upper case).
    name : str
        Station name.
    latitude_deg : float
        Geodetic latitude, degrees north.
    longitude_deg : float
        Geodetic longitude, degrees east, -180..180.
    elevation_m : float
        Elevation above sea level, metres (NaN when unknown).
    network : str
        Network the coordinates were taken from (INTERMAGNET, MAGDAS, SuperMAG...).
    source : str
        Where the coordinates come from.
    institute, notes : str
        Optional free text.
    path : str
        The TOML file it was loaded from ("" when built in code).
    """

    code: str
    name: str
    latitude_deg: float
    longitude_deg: float
    elevation_m: float = math.nan
    network: str = ""
    source: str = ""
    institute: str = ""
    notes: str = ""
    path: str = field(default="", compare=False)

    @property
    def longitude_0_360_deg(self) -> float:
        """Longitude in degrees east, 0..360 (the IAGA-2002 header convention)."""
        return self.longitude_deg % 360.0

    def to_dict(self) -> dict:
        """JSON-safe dict (NaN elevation becomes None), with both longitude conventions."""
        d = asdict(self)
        if not math.isfinite(d["elevation_m"]):
            d["elevation_m"] = None
        d["longitude_0_360_deg"] = self.longitude_0_360_deg
        return d


def _lon180(lon: float) -> float:
    v = math.fmod(float(lon), 360.0)
    if v > 180.0:
        v -= 360.0
    elif v <= -180.0:
        v += 360.0
    return v


def builtin_station_dir() -> Path | None:
    """The folder of the stations shipped with geoanom, or None if none is found."""
    here = Path(__file__).resolve().parent
    candidates = [
        here / "_stations",                       # package data (installed wheel)
        here.parent / "stations",                 # repository checkout / editable install
        Path(sysconfig.get_path("data")) / "share" / "geoanom" / "stations",  # data_files
        Path(sys.prefix) / "share" / "geoanom" / "stations",
    ]
    try:  # pip install --user puts data files under the user scheme
        user = sysconfig.get_path("data", sysconfig.get_preferred_scheme("user"))
        candidates.append(Path(user) / "share" / "geoanom" / "stations")
    except (KeyError, AttributeError):  # pragma: no cover - unusual Python builds
        pass
    for c in candidates:
        if c.is_dir() and any(c.glob("*.toml")):
            return c
    return None


def _parse_station(path: Path) -> Station:
    data = read_toml(path, what="station file", expected="TOML key = value lines")
    for key in _REQUIRED:
        if key not in data:
            raise ConfigError(f"station file lacks {key!r}", path=path,
                              expected=", ".join(_REQUIRED), found=", ".join(data) or "nothing")
    unknown = set(data) - set(_REQUIRED) - set(_OPTIONAL)
    if unknown:
        raise ConfigError("station file has unknown keys", path=path,
                          expected=", ".join([*_REQUIRED, *_OPTIONAL]),
                          found=", ".join(sorted(unknown)))
    for key, typ in {**_REQUIRED, **_OPTIONAL}.items():
        if key in data and (not isinstance(data[key], typ) or isinstance(data[key], bool)):
            raise ConfigError(f"station key {key!r} has the wrong type", path=path,
                              expected=getattr(typ, "__name__", "a number"),
                              found=repr(data[key]))
    code = data["code"].strip().upper()
    if not _CODE.fullmatch(code):
        raise ConfigError("station code is not an IAGA-style code", path=path,
                          expected="2-5 letters or digits", found=data["code"])
    lat, lon = float(data["latitude_deg"]), float(data["longitude_deg"])
    if not -90.0 <= lat <= 90.0:
        raise ConfigError("station latitude out of range", path=path,
                          expected="-90..90 degrees", found=str(lat))
    if not -180.0 <= lon <= 360.0:
        raise ConfigError("station longitude out of range", path=path,
                          expected="-180..180 (or 0..360) degrees east", found=str(lon))
    return Station(
        code=code, name=data["name"], latitude_deg=lat, longitude_deg=_lon180(lon),
        elevation_m=float(data.get("elevation_m", math.nan)), network=data["network"],
        source=data["source"], institute=data.get("institute", ""),
        notes=data.get("notes", ""), path=str(path),
    )


def _load_dir(folder: Path) -> dict[str, Station]:
    if not folder.is_dir():
        raise ConfigError("station folder does not exist", path=folder,
                          expected="a folder of *.toml station files")
    out: dict[str, Station] = {}
    for p in sorted(folder.glob("*.toml")):
        st = _parse_station(p)
        if st.code in out:
            raise ConfigError(f"station {st.code} is defined twice in one folder", path=p,
                              expected="one file per station", found=out[st.code].path)
        out[st.code] = st
    return out


#: Station tables shipped with geoanom: name -> (file in geoanom/mappings/, network).
SHIPPED_TABLES = {"magdas": ("stations_magdas.csv", "MAGDAS")}
SHIPPED_TABLE_DIR = Path(__file__).resolve().parent / "mappings"


def station_table(spec: str | os.PathLike) -> dict[str, dict]:
    """Station code -> ``{name, latitude_deg, longitude_deg, elevation_m}`` from a station
    CSV (``code,name,latitude_deg,longitude_deg[,elevation_m]``; ``#`` lines are comments)
    or a shipped table name (``magdas``)."""
    name = str(spec)
    path = SHIPPED_TABLE_DIR / SHIPPED_TABLES[name][0] if name in SHIPPED_TABLES else Path(spec)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise FormatError("cannot read the station table", path=path,
                          found=exc.strerror or str(exc)) from None
    except UnicodeDecodeError as exc:
        raise FormatError("station table is not UTF-8 text", path=path,
                          found=str(exc)) from None
    numbered = [(k, ln) for k, ln in enumerate(text.splitlines(), start=1)
                if ln.strip() and not ln.lstrip().startswith("#")]
    if not numbered:
        raise FormatError("empty station table", path=path)
    rows = list(csv.reader(ln for _, ln in numbered))
    head = [h.strip() for h in rows[0]]
    if not {"code", "latitude_deg", "longitude_deg"} <= set(head):
        raise FormatError("station table lacks columns", path=path, line=numbered[0][0],
                          expected="code,name,latitude_deg,longitude_deg[,elevation_m]",
                          found=",".join(head))
    out: dict[str, dict] = {}
    for (line, _), r in zip(numbered[1:], rows[1:], strict=True):
        d = dict(zip(head, (v.strip() for v in r), strict=False))
        try:
            lat, lon = float(d["latitude_deg"]), float(d["longitude_deg"])
            elev = float(d["elevation_m"]) if d.get("elevation_m") else math.nan
        except (KeyError, ValueError):
            raise FormatError("station table row has no numeric coordinates", path=path,
                              line=line, expected="latitude_deg and longitude_deg numbers",
                              found=",".join(r)) from None
        out[d["code"].upper()] = {"name": d.get("name") or d["code"], "latitude_deg": lat,
                                  "longitude_deg": lon, "elevation_m": elev}
    return out


def _shipped_table_stations() -> dict[str, Station]:
    out: dict[str, Station] = {}
    for name, (file, network) in SHIPPED_TABLES.items():
        for code, d in station_table(name).items():
            if not _CODE.fullmatch(code):
                continue
            out[code] = Station(code=code, name=d["name"], latitude_deg=d["latitude_deg"],
                                longitude_deg=_lon180(d["longitude_deg"]),
                                elevation_m=d["elevation_m"], network=network,
                                source=f"the {network} station list shipped as "
                                       f"geoanom/mappings/{file}",
                                path=str(SHIPPED_TABLE_DIR / file))
    return out


def load_stations(extra_dirs: Iterable[str | os.PathLike] = ()) -> dict[str, Station]:
    """Load the station registry.

    Parameters
    ----------
    extra_dirs
        Folders of user TOML files; they override built-in stations and those from
        ``GEOANOM_STATIONS_PATH`` with the same code.

    Returns
    -------
    dict
        Code -> :class:`Station`, sorted by code.
    """
    stations: dict[str, Station] = _shipped_table_stations()
    builtin = builtin_station_dir()
    if builtin is not None:
        stations.update(_load_dir(builtin))
    env = os.environ.get(ENV_VAR, "")
    dirs = [Path(p) for p in env.split(os.pathsep) if p.strip()]
    dirs += [Path(p) for p in extra_dirs]
    for d in dirs:
        stations.update(_load_dir(d))
    return dict(sorted(stations.items()))


def get_station(code: str, extra_dirs: Iterable[str | os.PathLike] = ()) -> Station:
    """The registry entry of station ``code`` (case-insensitive).

    Raises
    ------
    ConfigError
        No station with that code (the message lists the known codes).
    """
    stations = load_stations(extra_dirs)
    key = str(code).strip().upper()
    if key not in stations:
        raise ConfigError(f"unknown station {code!r}", expected="one of " + ", ".join(stations),
                          found=str(code))
    return stations[key]


def _angle_diff(a: float, b: float) -> float:
    d = abs(a - b) % 360.0
    return min(d, 360.0 - d)


def check_header(record, stations: dict[str, Station] | None = None,
                 tolerance_deg: float = HEADER_TOLERANCE_DEG) -> Station | None:
    """Compare a record's header coordinates with the registry; warn on disagreement.

    Latitudes are compared directly, longitudes modulo 360 (a header's 254.764 E equals
    the registry's -105.236). A difference above ``tolerance_deg`` (0.01 degree) gives a
    :class:`StationMismatchWarning`. NaN header coordinates are not compared.

    Parameters
    ----------
    record
        A station record (``attrs`` with ``iaga_code``, ``latitude_deg``, ``longitude_deg``).
    stations
        The registry (default: :func:`load_stations`).
    tolerance_deg
        Largest tolerated difference, degrees.

    Returns
    -------
    Station or None
        The registry entry, or None when the station is not in the registry.
    """
    attrs = getattr(record, "attrs", record)
    stations = load_stations() if stations is None else stations
    code = str(attrs.get("iaga_code", "")).strip().upper()
    st = stations.get(code)
    if st is None:
        return None
    problems = []
    try:
        lat = float(attrs.get("latitude_deg", math.nan))
        lon = float(attrs.get("longitude_deg", math.nan))
    except (TypeError, ValueError):
        lat = lon = math.nan
    if math.isfinite(lat) and abs(lat - st.latitude_deg) > tolerance_deg + 1e-9:
        problems.append(f"latitude {lat:g} vs {st.latitude_deg:g}")
    if math.isfinite(lon) and _angle_diff(lon, st.longitude_deg) > tolerance_deg + 1e-9:
        problems.append(f"longitude {lon:g} vs {st.longitude_deg:g} (east)")
    if problems:
        where = attrs.get("source_file") or attrs.get("history", "").split("\n")[0]
        warnings.warn(
            f"station {code}: header coordinates disagree with the registry by more than "
            f"{tolerance_deg:g} degree: {'; '.join(problems)} (registry: {st.path or 'built in'}"
            f"; record: {where})", StationMismatchWarning, stacklevel=2)
    return st
