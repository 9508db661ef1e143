"""Constants, station and precursor configurations, seeded streams and the dipole field
shared by every part of the synthetic world.

Part of :mod:`geoanom.synthetic` (see its docstring for the physics and conventions).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geoanom.errors import ConfigError

#: Official Kp (in thirds: 0o, 0+, 1-, 1o, ..., 9o) to ap conversion table.
KP_TABLE = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
                     20, 21, 22, 23, 24, 25, 26, 27], dtype=float) / 3.0
AP_TABLE = np.array([0, 2, 3, 4, 5, 6, 7, 9, 12, 15, 18, 22, 27, 32, 39, 48, 56, 67, 80, 94,
                     111, 132, 154, 179, 207, 236, 300, 400], dtype=float)

#: IGRF-13 (2020) geomagnetic north pole and dipole strength.
POLE_LAT_DEG, POLE_LON_DEG, DIPOLE_B0_NT = 80.65, -72.68, 29404.8

#: Seismic region box of the default world: (lat_min, lat_max, lon_min, lon_max), degrees.
DEFAULT_REGION = (37.6, 40.2, 20.4, 23.6)


@dataclass(frozen=True)
class SyntheticStation:
    """A synthetic station: IAGA-like code, name, geodetic position (deg, m), role.

    ``role`` is ``"near"`` (close to the seismic zone) or ``"remote"`` (a reference station).
    """

    code: str
    name: str
    latitude_deg: float
    longitude_deg: float
    elevation_m: float = 0.0
    role: str = "near"


#: Stations of the default world, in the order :func:`make_world` uses them.
DEFAULT_STATIONS = (
    SyntheticStation("SYA", "Synthetic A", 38.90, 21.90, 310.0, "near"),
    SyntheticStation("SYB", "Synthetic B", 38.30, 22.80, 150.0, "near"),
    SyntheticStation("SYC", "Synthetic C (remote reference)", 41.90, 25.90, 520.0, "remote"),
    SyntheticStation("SYD", "Synthetic D", 39.70, 21.20, 640.0, "near"),
    SyntheticStation("SYE", "Synthetic E", 37.90, 21.50, 80.0, "near"),
    SyntheticStation("SYF", "Synthetic F", 40.00, 23.10, 420.0, "near"),
)


@dataclass(frozen=True)
class StationConfig:
    """Amplitudes of the station model (nT unless stated). See the module docstring."""

    sq_x_nT: float = 45.0            # X amplitude scale of Sq at equinox
    sq_y_nT: float = 16.0            # Y swing of Sq
    sq_z_nT: float = 14.0            # Z dip of Sq
    sq_focus_deg: float = 32.0       # mean magnetic latitude of the Sq current focus
    irregular_psd: float = 150.0     # quiet-time PSD of the irregular X variation at 1 mHz,
    #                                  nT^2/Hz (BOU and MMB quiet days: about 200)
    irregular_slope: float = 2.6     # spectral index gamma of the irregular variation (f**-gamma)
    irregular_corner_h: float = 8.0  # period (h) below whose frequency the spectrum flattens
    z_fraction: float = 0.4          # amplitude of the coherent Z variation relative to X
    pc5_nT: float = 0.08             # quiet-time RMS of Pc5 pulsations (1.7-6.7 mHz)
    pc34_nT: float = 0.05            # quiet-time RMS of Pc3-4 pulsations (7-100 mHz, 1-s data)
    local_fraction: float = 0.08     # station-local (incoherent) part of the variations
    instrument_nT: float = 0.03      # RMS of 1/f instrument noise (per component)
    f_noise_nT: float = 0.02         # white noise of the scalar instrument
    spikes_per_day: float = 1.0
    gaps_per_day: float = 1.0 / 15.0
    gap_median_s: float = 1800.0
    f_gaps_per_day: float = 1.0 / 60.0
    resolution_nT: float = 0.01      # rounding of the output values

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class PrecursorConfig:
    """Which events carry a precursor, where, when and how strong (see module docstring)."""

    strength: float = 0.0
    m_min: float = 5.0
    max_depth_km: float = 100.0
    lead_min_days: float = 1.0
    lead_max_days: float = 30.0
    taper_days: float = 1.0
    a_ref_nT: float = 0.1
    magnitude_exponent: float = 0.5
    horizontal_ratio: float = 0.3
    radius_km: float | None = None   # fixed radius instead of Dobrovolsky's if given

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- helpers


def _to_ns(t: object) -> np.datetime64:
    """Any time-like to a tz-naive UTC ``datetime64[ns]``."""
    ts = pd.Timestamp(t)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return np.datetime64(ts.as_unit("ns").to_datetime64(), "ns")


def _child(rng: np.random.Generator, n: int) -> list[np.random.Generator]:
    """``n`` independent generators derived from ``rng`` (in a fixed order)."""
    seeds = rng.integers(0, 2**63 - 1, size=n, dtype=np.int64)
    return [np.random.default_rng(np.random.SeedSequence(int(s))) for s in seeds]


def _seeded(seed: int, *tags: int) -> np.random.Generator:
    """A generator from a seed and integer tags (stable whatever else is generated)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), *map(int, tags)]))


def ap_from_kp(kp: np.ndarray) -> np.ndarray:
    """Kp (0..9, continuous) to the linear ap index (2 nT units), by the official table."""
    return np.interp(np.asarray(kp, dtype=float), KP_TABLE, AP_TABLE)


def kp_from_ap(ap: np.ndarray) -> np.ndarray:
    """ap to Kp (inverse of :func:`ap_from_kp`, continuous; clipped to 0..9)."""
    return np.interp(np.asarray(ap, dtype=float), AP_TABLE, KP_TABLE)


def dipole_field(latitude_deg: float, longitude_deg: float) -> tuple[float, float, float, float]:
    """Main field of the tilted IGRF-2020 dipole at the surface.

    Returns
    -------
    X, Y, Z, magnetic_latitude
        North, east, down components (nT) and the dipole (geomagnetic) latitude (deg).
    """
    phi, lam = math.radians(latitude_deg), math.radians(longitude_deg)
    r = np.array([math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi)])
    pp, pl = math.radians(POLE_LAT_DEG), math.radians(POLE_LON_DEG)
    p = np.array([math.cos(pp) * math.cos(pl), math.cos(pp) * math.sin(pl), math.sin(pp)])
    m = -p  # Earth's dipole moment points to the southern geomagnetic pole
    b = DIPOLE_B0_NT * (3.0 * float(m @ r) * r - m)
    north = np.array([-math.sin(phi) * math.cos(lam), -math.sin(phi) * math.sin(lam),
                      math.cos(phi)])
    east = np.array([-math.sin(lam), math.cos(lam), 0.0])
    return (float(b @ north), float(b @ east), float(b @ -r),
            math.degrees(math.asin(float(np.clip(p @ r, -1, 1)))))


def _as_station(station: object) -> SyntheticStation:
    if isinstance(station, SyntheticStation):
        return station
    try:
        return SyntheticStation(
            code=str(station.code), name=str(getattr(station, "name", "")),
            latitude_deg=float(station.latitude_deg),
            longitude_deg=float(station.longitude_deg),
            elevation_m=float(getattr(station, "elevation_m", 0.0) or 0.0),
        )
    except AttributeError as exc:
        raise ConfigError("station needs code, latitude_deg and longitude_deg",
                          found=type(station).__name__) from exc
