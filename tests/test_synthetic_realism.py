"""The synthetic world against real records in ../shared/data.

Quiet days: daily range of H, the inter-quartile range of 1-minute first differences of H
and the log-log slope of the PSD of H (periods 5 min to 2 h), each the median over the five
quietest days, within a factor of two of BOU (January 2016) and MMB (March 2011). Storm: the
depression of H in a synthetic storm of Dst-like minimum -420 nT (the May 2024 storm reached
Dst -412 nT) within a factor of three of the drop at WIC in May 2024.

Data: USGS (BOU), JMA and WDC for Geomagnetism Kyoto (MMB), GeoSphere Austria (WIC).
"""

from __future__ import annotations

import numpy as np
import pytest

from geoanom import synthetic as S
from geoanom.io.iaga2002 import read_iaga2002
from geoanom.io.imagcdf import read_imagcdf

STORM_ONSET = "2020-01-12T17:00"


@pytest.fixture(scope="module")
def real_quiet(geomag_dir) -> dict[str, dict]:
    bou = read_iaga2002(geomag_dir / "usgs_BOU" / "BOU201601vmin.min")
    mmb = read_iaga2002(geomag_dir / "japan_MMB_2011-03" / "mmb_2011_march.txt")
    return {"BOU": S.quiet_day_metrics(bou), "MMB": S.quiet_day_metrics(mmb)}


@pytest.fixture(scope="module")
def wic_drop(geomag_dir) -> float:
    wic = read_imagcdf(geomag_dir / "austria_WIC_magpy" / "WIC_20240509-12_1s_imagcdf_example4.cdf",
                       include_temperatures=False)
    return S.storm_depression(S.horizontal_intensity(wic), ("2024-05-09", "2024-05-09T23:59"),
                              ("2024-05-10T12:00", "2024-05-12T23:59"))


def _synthetic_quiet(seed: int) -> dict:
    act = S.activity_index("2020-01-01", 30, np.random.default_rng(seed))
    rec = S.station_record(S.DEFAULT_STATIONS[0], act, start="2020-01-01", days=30,
                           cadence_s=60, rng=np.random.default_rng(seed + 1))
    return S.quiet_day_metrics(rec)


def test_real_quiet_statistics_are_what_we_think(real_quiet):
    # Guards the measure itself: quiet mid-latitude days, 1-minute definitive/variation data.
    for ref in ("BOU", "MMB"):
        m = real_quiet[ref]
        assert 25 < m["range_nT"] < 70
        assert 0.1 < m["diff_iqr_nT"] < 0.6
        assert -3.5 < m["slope"] < -2.0


@pytest.mark.parametrize("seed", [0, 7])
@pytest.mark.parametrize("ref", ["BOU", "MMB"])
def test_quiet_days_within_factor_two(real_quiet, seed, ref):
    syn = _synthetic_quiet(seed)
    for k in ("range_nT", "diff_iqr_nT", "slope"):
        ratio = syn[k] / real_quiet[ref][k]
        assert 0.5 <= ratio <= 2.0, f"{k}: synthetic {syn[k]:.3f} vs {ref} {real_quiet[ref][k]:.3f}"


def test_storm_depression_of_the_order_of_wic_may_2024(wic_drop):
    assert 200 < wic_drop < 500  # the real drop, measured the same way
    act = S.with_storm(S.activity_index("2020-01-10", 6, np.random.default_rng(7)),
                       STORM_ONSET, -420.0)
    rec = S.station_record(S.DEFAULT_STATIONS[0], act, start="2020-01-11", days=4,
                           cadence_s=60, rng=np.random.default_rng(8))
    drop = S.storm_depression(S.horizontal_intensity(rec), ("2020-01-11", "2020-01-11T23:59"),
                              (STORM_ONSET, "2020-01-14T23:59"))
    assert wic_drop / 3 <= drop <= 3 * wic_drop, (drop, wic_drop)
