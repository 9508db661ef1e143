"""Catalog readers on every real catalog in ../shared/data and on inline samples.

Expected counts, spans and events were checked against the files by hand (``wc -l``, ``grep``,
``awk``); the shell line that gives each figure is in the comment next to it.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geoanom.catalog_frame import CATALOG_COLUMNS, great_circle_km, select, validate_catalog
from geoanom.errors import ConfigError, MissingDependencyError, ValidationError
from geoanom.io import CATALOG_READERS, KNOWN_FORMATS, read_catalog, sniff_catalog_format
from geoanom.io.catalog import (
    read_aeta_eqlst,
    read_comcat_csv,
    read_earthquakenpp_csv,
    read_fdsn_text,
    read_geoanom_csv,
    read_jma_csv,
    read_neic_significant,
    read_pycsep_csv,
    read_quakeml,
    write_catalog_csv,
)
from geoanom.io.table import TableMapping, read_catalog_table

T = pd.Timestamp

JAPAN = "japan_usgs_1990_2019_EarthquakeNPP.csv"
SOCAL = "socal_QTM_SanJacinto_EarthquakeNPP.csv"
NEIC = "global_significant_M5.5_1965_2016_database.csv"
JMA = "pycsep_tests_JMA_observed_test.csv"
PYCSEP_SAMPLE = "pycsep_0.8.0_wheel_sample_comcat_catalog.csv"
PYCSEP_TEST = "pycsep_tests_comcat_test_catalog.csv"


def _check_contract(df: pd.DataFrame) -> None:
    assert list(df.columns) == list(CATALOG_COLUMNS)
    assert df["time"].dtype == np.dtype("datetime64[ns]")
    assert df["time"].is_monotonic_increasing
    assert df["event_id"].is_unique
    assert all(isinstance(e, str) for e in df["event_id"].head(50))
    assert list(df.index[:3]) == list(range(min(3, len(df))))
    assert "source" in df.attrs and "query" in df.attrs
    validate_catalog(df)


def _event(df: pd.DataFrame, when: str) -> pd.Series:
    rows = df[df["time"] == T(when)]
    assert len(rows) == 1, f"expected one event at {when}, found {len(rows)}"
    return rows.iloc[0]


# ---------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def japan(catalogs_dir: Path) -> pd.DataFrame:
    return read_earthquakenpp_csv(catalogs_dir / JAPAN)


@pytest.fixture(scope="module")
def neic(catalogs_dir: Path) -> pd.DataFrame:
    return read_neic_significant(catalogs_dir / NEIC)


@pytest.fixture(scope="module")
def jma(catalogs_dir: Path) -> pd.DataFrame:
    return read_jma_csv(catalogs_dir / JMA)


# ---------------------------------------------------------------- ComCat (inline, real layout)

COMCAT_HEADER = (
    "time,latitude,longitude,depth,mag,magType,nst,gap,dmin,rms,net,id,updated,place,type,"
    "horizontalError,depthError,magError,magNst,status,locationSource,magSource\n"
)
# ComCat returns the newest event first; place names contain quoted commas.
COMCAT_ROWS = (
    '2019-07-10T21:05:12.340Z,34.1173333,-117.4398333,-0.62,1.93,ml,24,71,0.04,0.19,ci,'
    'ci38610834,2019-07-11T16:20:44.120Z,"5km N of Fontana, CA",quarry blast,0.2,31.61,'
    '0.161,38,reviewed,ci,ci\n'
    '2019-07-06T03:19:53.040Z,35.7695,-117.5993333,8,7.1,mw,,,,,ci,ci38457511,'
    '2023-09-22T21:50:30.029Z,"2019 Ridgecrest Earthquake Sequence",earthquake,,,,,reviewed,'
    'ci,ci\n'
    '2011-03-11T05:46:24.120Z,38.297,142.373,29,9.1,mww,541,9.5,,1.16,official,'
    'official20110311054624120_30,2022-05-12T17:36:14.617Z,'
    '"2011 Great Tohoku Earthquake, Japan",earthquake,,,,,reviewed,iscgem,official\n'
)


@pytest.fixture
def comcat_file(tmp_path: Path) -> Path:
    p = tmp_path / "query.csv"
    p.write_text(COMCAT_HEADER + COMCAT_ROWS)
    return p


def test_comcat_csv_real_layout_sorted_utc_explosions_dropped(comcat_file):
    df = read_comcat_csv(comcat_file)
    _check_contract(df)
    assert len(df) == 2
    assert df.attrs["n_explosions_excluded"] == 1
    assert df.attrs["format"] == "comcat"
    assert df.attrs["source"] == str(comcat_file)
    tohoku, ridgecrest = df.iloc[0], df.iloc[1]
    assert tohoku["time"] == T("2011-03-11 05:46:24.120")
    assert (tohoku["latitude_deg"], tohoku["longitude_deg"]) == (38.297, 142.373)
    assert tohoku["depth_km"] == 29.0
    assert tohoku["magnitude"] == 9.1 and tohoku["magnitude_type"] == "mww"
    assert tohoku["event_id"] == "official20110311054624120_30"
    assert ridgecrest["time"] == T("2019-07-06 03:19:53.040")
    assert ridgecrest["event_id"] == "ci38457511"


def test_comcat_include_explosions_keeps_the_blast(comcat_file):
    df = read_comcat_csv(comcat_file, include_explosions=True)
    assert len(df) == 3
    blast = df.iloc[-1]
    assert blast["event_id"] == "ci38610834"
    assert blast["depth_km"] == pytest.approx(-0.62)  # above sea level: kept as given
    assert df.attrs["n_explosions_included"] == 1


def test_comcat_explicit_offset_is_converted_to_utc(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("time,latitude,longitude,depth,mag,magType,id\n"
                 "2011-03-11T14:46:24.120+09:00,38.297,142.373,29,9.1,mww,a\n"
                 "2011-03-11T06:15:40Z,36.281,141.111,42.6,7.9,mww,b\n")
    df = read_comcat_csv(p)
    assert df["time"].tolist() == [T("2011-03-11 05:46:24.120"), T("2011-03-11 06:15:40")]


def test_comcat_header_only_is_an_empty_catalog(tmp_path):
    p = tmp_path / "none.csv"
    p.write_text(COMCAT_HEADER)
    df = read_comcat_csv(p)
    _check_contract(df)
    assert len(df) == 0


def test_gzip_crlf_and_blank_lines_are_read(tmp_path):
    text = (COMCAT_HEADER + "\n" + COMCAT_ROWS + "\n\n").replace("\n", "\r\n")
    p = tmp_path / "query.csv.gz"
    p.write_bytes(gzip.compress(text.encode()))
    df = read_catalog(p)
    assert len(df) == 2 and df.attrs["format"] == "comcat"


def test_fdsn_text_format(tmp_path):
    p = tmp_path / "events.txt"
    p.write_text(
        "#EventID | Time | Latitude | Longitude | Depth/km | Author | Catalog | Contributor | "
        "ContributorID | MagType | Magnitude | MagAuthor | EventLocationName\n"
        "3279407|2011-03-11T05:46:23.200|38.2963|142.498|19.7|ISC|ISC|ISC|16461282|MW|9.1|"
        "GCMT|NEAR EAST COAST OF HONSHU, JAPAN\n"
        # some services pad fields with spaces
        "3279408 | 2011-03-11T06:15:34.500 | 36.12 | 141.25 | 43.2 | ISC | ISC | ISC | "
        "16461283 | MW | 7.9 | GCMT | NEAR EAST COAST OF HONSHU, JAPAN\n")
    df = read_catalog(p)
    assert df.attrs["format"] == "fdsn-text"
    assert df["event_id"].tolist() == ["3279407", "3279408"]
    assert df["time"].iloc[0] == T("2011-03-11 05:46:23.200")
    assert df["depth_km"].tolist() == [19.7, 43.2]
    assert df["magnitude_type"].tolist() == ["MW", "MW"]
    assert read_fdsn_text(p).equals(df)


# ----------------------------------------------------------------------------- pyCSEP files

def test_pycsep_wheel_sample_ridgecrest(catalogs_dir):
    df = read_pycsep_csv(catalogs_dir / PYCSEP_SAMPLE)
    _check_contract(df)
    assert len(df) == 829  # wc -l: 830 lines with the header
    assert df["time"].iloc[0] == T("2019-07-06 03:22:35.630")
    assert df["time"].iloc[-1] == T("2019-07-13 02:47:44.270")
    assert (df["magnitude"].min(), df["magnitude"].max()) == (2.5, 5.5)
    # the file leaves event_id empty: ids name the file and line
    assert df["event_id"].iloc[0] == f"{PYCSEP_SAMPLE}:2"
    big = _event(df, "2019-07-06 03:47:53.420")  # the M5.5 aftershock, line 'M' column
    assert big["magnitude"] == 5.5 and big["depth_km"] == 5.04
    assert big["longitude_deg"] == -117.7495


def test_pycsep_comcat_test_catalog_1986(catalogs_dir):
    df = read_pycsep_csv(catalogs_dir / PYCSEP_TEST)
    _check_contract(df)
    assert len(df) == 337
    assert df["time"].iloc[0] == T("1986-01-06 19:52:42.880")
    assert df["time"].iloc[-1] == T("1986-12-29 16:05:14")
    assert (df["magnitude"].min(), df["magnitude"].max()) == (3.5, 6.4)
    chalfant = _event(df, "1986-07-21 14:42:26")  # Chalfant Valley M6.4 (UTC)
    assert chalfant["magnitude"] == 6.4 and chalfant["event_id"] == "nc10085763"
    palm = _event(df, "1986-07-08 09:20:44.560")  # North Palm Springs M6.0
    assert palm["event_id"] == "ci700917"


# ---------------------------------------------------------------------- EarthquakeNPP files

def test_japan_earthquakenpp(japan):
    df = japan
    _check_contract(df)
    assert len(df) == 37581  # wc -l: 37582
    assert df["time"].iloc[0] == T("1990-01-01 09:03:12.880")
    assert df["time"].iloc[-1] == T("2019-12-31 17:10:14.848")
    assert (df["magnitude"].min(), df["magnitude"].max()) == (2.7, 9.1)
    assert df["depth_km"].isna().all()
    assert df["latitude_deg"].between(22, 46).all() and df["longitude_deg"].between(122, 150).all()
    tohoku = _event(df, "2011-03-11 05:46:24.120")  # grep: line 22689, id 22687
    assert tohoku["magnitude"] == 9.1 and tohoku["event_id"] == "22687"
    assert (tohoku["latitude_deg"], tohoku["longitude_deg"]) == (38.297, 142.373)
    assert (df["magnitude"] >= 7).sum() == 41  # awk -F, 'NR>1 && $5>=7'


def test_san_jacinto_earthquakenpp(catalogs_dir):
    df = read_earthquakenpp_csv(catalogs_dir / SOCAL)
    _check_contract(df)
    assert len(df) == 21291
    assert df["time"].iloc[0] == T("2008-01-01 05:19:47.961")
    assert df["time"].iloc[-1] == T("2017-12-31 16:35:59.302")
    assert (df["magnitude"].min(), df["magnitude"].max()) == (1.0, 5.43)
    assert df["event_id"].iloc[0] == "19"  # the 'index' column
    # 2010-07-07 Borrego Springs (Collins Valley) M5.4 at 23:53:33 UTC (16:53 PDT)
    ev = _event(df, "2010-07-07 23:53:33.371")
    assert ev["magnitude"] == 5.43 and ev["event_id"] == "273274"


# ------------------------------------------------------------------------------ NEIC table

def test_neic_significant_explosions_excluded(neic):
    df = neic
    _check_contract(df)
    # 23413 lines - header = 23412 rows; Type: 175 "Nuclear Explosion" + 4 "Explosion"
    assert len(df) == 23412 - 179
    assert df.attrs["n_explosions_excluded"] == 179
    assert df.attrs["n_iso_timestamps"] == 3
    assert df["time"].iloc[0] == T("1965-01-02 13:44:18")
    assert df["time"].iloc[-1] == T("2016-12-30 20:08:28")
    assert (df["magnitude"].min(), df["magnitude"].max()) == (5.5, 9.1)
    tohoku = _event(df, "2011-03-11 05:46:24")
    assert tohoku["magnitude"] == 9.1 and tohoku["magnitude_type"] == "MWW"
    assert tohoku["depth_km"] == 29.0
    assert tohoku["event_id"] == "OFFICIAL20110311054624120_30"
    # the Rock Burst (line 19900) is not an explosion and stays
    assert "USP000H6Z1" in set(df["event_id"])
    # a Semipalatinsk test typed plain "Explosion" (line 2616) is gone
    assert "USP00000JC" not in set(df["event_id"])


def test_neic_iso_rows(neic):
    iso = {"USP0000A09": "1975-02-23 02:58:41", "USP0002E81": "1985-04-28 02:53:41.530",
           "USP000HWQP": "2011-03-13 02:23:34.520"}
    got = neic.set_index("event_id").loc[list(iso), "time"]
    assert [T(v) for v in iso.values()] == got.tolist()


def test_neic_include_explosions(catalogs_dir):
    df = read_neic_significant(catalogs_dir / NEIC, include_explosions=True)
    assert len(df) == 23412
    assert df.attrs["n_explosions_included"] == 179
    ev = df.set_index("event_id").loc["CI3329931"]  # line 567, a Nevada test
    assert ev["time"] == T("1966-12-20 15:30:01") and ev["magnitude"] == 5.62


def test_neic_unwrapped_rows_read_the_same(tmp_path, catalogs_dir):
    lines = (catalogs_dir / NEIC).read_text(encoding="utf-8-sig").splitlines()[:200]
    plain = tmp_path / "database.csv"
    plain.write_text("\n".join(ln.strip('"') for ln in lines) + "\n")
    wrapped = tmp_path / "wrapped.csv"
    wrapped.write_text("\n".join(lines) + "\n")
    a, b = read_catalog(plain), read_catalog(wrapped)
    assert a.attrs["format"] == b.attrs["format"] == "neic"
    pd.testing.assert_frame_equal(a, b)


# ------------------------------------------------------------------------------ JMA format

def test_jma_offsets_converted(jma):
    df = jma
    _check_contract(df)
    assert len(df) == 22284
    # line 2: 1919-11-10T22:31:03.590000+0900 -> 13:31:03.59 UTC (by hand: minus 9 h)
    assert df["time"].iloc[0] == T("1919-11-10 13:31:03.590")
    first = df.iloc[0]
    assert (first["longitude_deg"], first["latitude_deg"], first["depth_km"]) == \
        (125.8605, 28.5437, 32.07)
    assert first["magnitude"] == 6.374
    # last line: 2019-08-28T02:11:06.550000+0900 -> 2019-08-27 17:11:06.55 UTC
    assert df["time"].iloc[-1] == T("2019-08-27 17:11:06.550")
    assert (df["magnitude"].min(), df["magnitude"].max()) == (-1.482, 8.292)
    assert (df["magnitude"] >= 7).sum() == 14  # awk -F';' 'NR>1 && $5>=7'


def test_jma_east_longitudes_wrapped(jma):
    # awk: 6 rows have longitude > 180 (0..360 east convention)
    assert jma.attrs["n_longitudes_wrapped"] == 6
    assert jma["longitude_deg"].between(-180, 180).all()
    # line 306: 1975-11-09T12:32:41.470000+0900;183.5071;36.7351;63.37;7.053
    ev = _event(jma, "1975-11-09 03:32:41.470")
    assert ev["longitude_deg"] == pytest.approx(183.5071 - 360)
    assert ev["event_id"] == f"{JMA}:306"


# ------------------------------------------------------------------------------ AETA list

def test_aeta_eqlst_utc8_to_utc(shared_data):
    df = read_aeta_eqlst(shared_data / "aeta_2020-12" / "eqlst.csv")
    _check_contract(df)
    assert len(df) == 189  # 190 lines with the header
    assert df["time"].iloc[0] == T("2016-12-24 23:26:06")  # 2016-12-25 07:26:06 UTC+8
    assert df["time"].iloc[-1] == T("2020-11-21 14:04:46")
    assert (df["magnitude"].min(), df["magnitude"].max()) == (3.5, 7.0)
    assert df["depth_km"].isna().all()
    # 2017-08-08 Jiuzhaigou M7.0, 21:19:46 Beijing time (line 26)
    jzg = _event(df, "2017-08-08 13:19:46")
    assert jzg["magnitude"] == 7.0
    assert (jzg["latitude_deg"], jzg["longitude_deg"]) == (33.2, 103.82)
    assert (df["magnitude"] >= 5).sum() == 19


# ------------------------------------------------------------------- sniffing and dispatch

@pytest.mark.parametrize("name, fmt", [
    (JAPAN, "earthquakenpp"), (SOCAL, "earthquakenpp"), (NEIC, "neic"), (JMA, "jma"),
    (PYCSEP_SAMPLE, "pycsep"), (PYCSEP_TEST, "pycsep"),
])
def test_sniff_real_catalogs(catalogs_dir, name, fmt):
    assert sniff_catalog_format(catalogs_dir / name) == fmt


def test_sniff_aeta_and_comcat(shared_data, comcat_file):
    assert sniff_catalog_format(shared_data / "aeta_2020-12" / "eqlst.csv") == "aeta"
    assert sniff_catalog_format(comcat_file) == "comcat"


def test_read_catalog_auto_equals_the_named_reader(catalogs_dir, jma):
    df = read_catalog(catalogs_dir / JMA)
    pd.testing.assert_frame_equal(df, jma)
    assert df.attrs == jma.attrs
    df2 = read_catalog(catalogs_dir / PYCSEP_TEST, format="pycsep")
    pd.testing.assert_frame_equal(df2, read_pycsep_csv(catalogs_dir / PYCSEP_TEST))


def test_read_catalog_passes_options(comcat_file):
    assert len(read_catalog(comcat_file, include_explosions=True)) == 3
    with pytest.raises(ConfigError, match="bad options"):
        read_catalog(comcat_file, format="comcat", nonsense=1)


def test_a_mapping_reads_the_catalog_as_a_table(tmp_path, comcat_file):
    p = tmp_path / "z.csv"
    p.write_text("t,la,lo,m\n2019-01-15 12:00,34,-118,3\n")
    m = {"time": "t", "tz": "UTC", "latitude": "la", "longitude": "lo", "magnitude": "m"}
    pd.testing.assert_frame_equal(read_catalog(p, mapping=m), read_catalog_table(p, m))
    with pytest.raises(ConfigError, match="none was given"):
        read_catalog(p, format="mapped")
    with pytest.raises(ConfigError, match="as a delimited table"):
        read_catalog(comcat_file, format="comcat", mapping=m)
    with pytest.raises(ConfigError, match="bad options for the mapped catalog reader"):
        read_catalog(p, mapping=m, include_explosions=True)


def test_known_formats_all_dispatch():
    assert {*CATALOG_READERS, "mapped"} == set(KNOWN_FORMATS)


# ------------------------------------------------------------------------- mapped CSV reader

def test_mapped_separate_date_and_time_in_tokyo(tmp_path):
    p = tmp_path / "jp.csv"
    p.write_text("date;hms;lat;lon;dep_m;M;Mtype;no\n"
                 "2011/03/11;14:46:18;38.103;142.860;24000;9.0;Mw;A1\n"
                 "2011/03/11;15:15:34;36.121;141.252;43000;7.6;Mj;A2\n")
    m = {"time": ("date", "hms"), "time_format": "%Y/%m/%d %H:%M:%S", "tz": "Asia/Tokyo",
         "latitude": "lat", "longitude": "lon", "depth": "dep_m", "depth_unit": "m",
         "magnitude": "M", "magnitude_type": "Mtype", "event_id": "no", "delimiter": ";"}
    df = read_catalog_table(p, m)
    _check_contract(df)
    assert df["time"].tolist() == [T("2011-03-11 05:46:18"), T("2011-03-11 06:15:34")]
    assert df["depth_km"].tolist() == [24.0, 43.0]
    assert df["magnitude_type"].tolist() == ["Mw", "Mj"]
    assert df["event_id"].tolist() == ["A1", "A2"]
    assert df.attrs["format"] == "mapped" and df.attrs["mapping"]["tz"] == "Asia/Tokyo"
    # the same through read_catalog and a TableMapping object
    df2 = read_catalog(p, format="mapped", mapping=TableMapping(**m))
    pd.testing.assert_frame_equal(df, df2)


@pytest.mark.parametrize("tz, expected", [
    ("America/Los_Angeles", ["2019-01-15 20:00:00", "2019-07-15 19:00:00"]),  # PST, PDT
    ("-08:00", ["2019-01-15 20:00:00", "2019-07-15 20:00:00"]),
    ("UTC+8", ["2019-01-15 04:00:00", "2019-07-15 04:00:00"]),
    ("UTC", ["2019-01-15 12:00:00", "2019-07-15 12:00:00"]),
])
def test_mapped_time_zones(tmp_path, tz, expected):
    p = tmp_path / "z.csv"
    p.write_text("t,la,lo,m\n2019-01-15 12:00,34,-118,3\n2019-07-15 12:00,34,-118,3\n")
    df = read_catalog_table(p, {"time": "t", "tz": tz, "latitude": "la", "longitude": "lo",
                             "magnitude": "m"})
    assert df["time"].tolist() == [T(e) for e in expected]


def test_mapped_zone_in_text_wins_and_no_tz_needed(tmp_path):
    p = tmp_path / "z.csv"
    p.write_text("t,la,lo,m\n2019-07-15T12:00:00+02:00,45,7,3\n2019-07-15 12:00 UTC,45,7,3\n")
    df = read_catalog_table(p, {"time": "t", "latitude": "la", "longitude": "lo", "magnitude": "m"})
    assert df["time"].tolist() == [T("2019-07-15 10:00"), T("2019-07-15 12:00")]


def test_mapped_longitudes_0_360(tmp_path):
    p = tmp_path / "z.csv"
    p.write_text("t,la,lo,m\n2019-07-15T12:00:00Z,-15,186.5,6\n2019-07-15T13:00:00Z,-15,179,6\n")
    df = read_catalog_table(p, {"time": "t", "latitude": "la", "longitude": "lo", "magnitude": "m",
                             "longitude_0_360": True})
    assert df["longitude_deg"].tolist() == [-173.5, 179.0]
    assert df.attrs["n_longitudes_wrapped"] == 1


# ------------------------------------------------------------------------------- QuakeML

QUAKEML = """<?xml version="1.0" encoding="UTF-8"?>
<q:quakeml xmlns:q="http://quakeml.org/xmlns/quakeml/1.2"
           xmlns="http://quakeml.org/xmlns/bed/1.2">
  <eventParameters publicID="smi:local/catalog">
    <event publicID="smi:local/event/tohoku">
      <preferredOriginID>smi:local/origin/1</preferredOriginID>
      <preferredMagnitudeID>smi:local/magnitude/1</preferredMagnitudeID>
      <type>earthquake</type>
      <origin publicID="smi:local/origin/1">
        <time><value>2011-03-11T05:46:24.120000Z</value></time>
        <latitude><value>38.297</value></latitude>
        <longitude><value>142.373</value></longitude>
        <depth><value>29000.0</value></depth>
      </origin>
      <magnitude publicID="smi:local/magnitude/1">
        <mag><value>9.1</value></mag>
        <type>Mww</type>
      </magnitude>
    </event>
    <event publicID="smi:local/event/test">
      <type>nuclear explosion</type>
      <origin publicID="smi:local/origin/2">
        <time><value>1966-12-20T15:30:01.000000Z</value></time>
        <latitude><value>37.302</value></latitude>
        <longitude><value>-116.408</value></longitude>
        <depth><value>1200.0</value></depth>
      </origin>
      <magnitude publicID="smi:local/magnitude/2">
        <mag><value>5.62</value></mag>
        <type>ML</type>
      </magnitude>
    </event>
  </eventParameters>
</q:quakeml>
"""


def test_quakeml_without_obspy_names_the_extra(tmp_path, monkeypatch):
    p = tmp_path / "events.xml"
    p.write_text(QUAKEML)
    monkeypatch.setitem(sys.modules, "obspy", None)  # makes "import obspy" raise ImportError
    with pytest.raises(MissingDependencyError) as ei:
        read_quakeml(p)
    assert "pip install geoanom[quakeml]" in str(ei.value)
    assert ei.value.path == str(p)
    assert sniff_catalog_format(p) == "quakeml"
    with pytest.raises(MissingDependencyError):
        read_catalog(p)


def _fake_obspy(events):
    """A stand-in exposing the ObsPy event API read_quakeml uses (not ObsPy's parser)."""
    import datetime as dt
    from types import ModuleType
    from types import SimpleNamespace as NS

    def event(rid, etype, when, lat, lon, depth_m, mag, mtype, preferred=True):
        origin = NS(time=NS(datetime=dt.datetime.fromisoformat(when)), latitude=lat,
                    longitude=lon, depth=depth_m)
        magnitude = NS(mag=mag, magnitude_type=mtype)
        return NS(resource_id=NS(id=rid), event_type=etype, origins=[origin],
                  magnitudes=[magnitude],
                  preferred_origin=lambda: origin if preferred else None,
                  preferred_magnitude=lambda: magnitude if preferred else None)

    mod = ModuleType("obspy")
    mod.read_events = lambda path, format=None: [event(*e) for e in events]
    return mod


def test_quakeml_adapter_on_obspy_api(tmp_path, monkeypatch):
    p = tmp_path / "events.xml"
    p.write_text(QUAKEML)
    monkeypatch.setitem(sys.modules, "obspy", _fake_obspy([
        ("smi:us/2", "earthquake", "2011-03-11T06:15:40", 36.281, 141.111, 42600.0, 7.9, "mww",
         False),
        ("smi:us/1", "earthquake", "2011-03-11T05:46:24.120", 38.297, 142.373, 29000.0, 9.1,
         "mww"),
        ("smi:ci/3", "nuclear explosion", "1966-12-20T15:30:01", 37.3, -116.4, 1200.0, 5.62,
         "ml"),
        ("smi:ci/4", "earthquake", "2019-07-06T03:19:53.040", 35.77, -117.6, None, 7.1, None),
    ]))
    df = read_quakeml(p)
    _check_contract(df)
    assert df["event_id"].tolist() == ["smi:us/1", "smi:us/2", "smi:ci/4"]  # sorted by time
    assert df["depth_km"].iloc[:2].tolist() == [29.0, 42.6]  # metres -> km
    assert np.isnan(df["depth_km"].iloc[2]) and df["magnitude_type"].iloc[2] == ""
    assert df.attrs["n_explosions_excluded"] == 1 and df.attrs["format"] == "quakeml"
    assert len(read_quakeml(p, include_explosions=True)) == 4


def test_quakeml_with_obspy(tmp_path):
    pytest.importorskip("obspy")
    p = tmp_path / "events.xml"
    p.write_text(QUAKEML)
    df = read_quakeml(p)
    _check_contract(df)
    assert len(df) == 1 and df.attrs["n_explosions_excluded"] == 1
    ev = df.iloc[0]
    assert ev["time"] == T("2011-03-11 05:46:24.120")
    assert ev["depth_km"] == pytest.approx(29.0)
    assert ev["magnitude"] == 9.1 and ev["magnitude_type"] == "Mww"
    assert ev["event_id"] == "smi:local/event/tohoku"
    assert len(read_quakeml(p, include_explosions=True)) == 2


# ------------------------------------------------------------ geoanom's own catalog CSV

def test_write_read_round_trip_is_exact(tmp_path, neic):
    p = write_catalog_csv(neic, tmp_path / "neic.csv", config={"min_magnitude": 5.5})
    text = p.read_text()
    assert text.startswith("# geoanom catalog csv 1\n# provenance: {")
    assert "2011-03-11T05:46:24.000000000Z,38.297,142.373,29.0,9.1,MWW," in text
    back = read_catalog(p)
    assert back.attrs["format"] == "geoanom"
    pd.testing.assert_frame_equal(back, neic)
    assert back.attrs["query"] == neic.attrs["query"]
    assert back.attrs["n_explosions_excluded"] == 179
    prov = back.attrs["provenance"]
    assert prov["config"] == {"min_magnitude": 5.5} and prov["config_hash"]
    assert back.attrs["origin_source"] == neic.attrs["source"]
    # plain pandas reads it too
    assert len(pd.read_csv(p, comment="#")) == len(neic)


def test_write_keeps_nanoseconds_and_nan_depth(tmp_path):
    from geoanom.catalog_frame import make_catalog
    cat = make_catalog(np.array(["2020-01-01T00:00:00.123456789", "2020-01-02"],
                                dtype="datetime64[ns]"), [10.0, -20.5], [170.0, -179.9],
                       [4.1, 5.25], depth_km=[np.nan, 12.5], magnitude_type=["mb", ""],
                       event_id=["a,b", "c"], source="synthetic")
    back = read_geoanom_csv(write_catalog_csv(cat, tmp_path / "c.csv"))
    pd.testing.assert_frame_equal(back, cat)


def test_frame_written_by_to_csv_reads_as_geoanom(tmp_path, jma):
    # what a plain DataFrame.to_csv of a catalog frame looks like (times without a zone)
    p = tmp_path / "catalog.csv"
    out = jma.head(50).copy()
    out["time"] = out["time"].dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
    out.to_csv(p, index=False)
    back = read_catalog(p)
    pd.testing.assert_frame_equal(back, jma.head(50))


def test_write_refuses_an_invalid_frame_and_leaves_no_file(tmp_path, jma):
    bad = jma.head(3).copy()
    bad.loc[1, "latitude_deg"] = 123.0
    with pytest.raises(ValidationError):
        write_catalog_csv(bad, tmp_path / "bad.csv")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------- select and distance

def test_select_box_time_magnitude_on_japan(japan):
    day = select(japan, start="2011-03-11", end="2011-03-12", box=(35, 40, 140, 145))
    # awk -F, '$2>="2011-03-11" && $2<"2011-03-12" && $4>=35 && $4<=40 && $3>=140 && $3<=145'
    assert len(day) == 523
    assert day["magnitude"].max() == 9.1
    assert "box=(35, 40, 140, 145)" in day.attrs["query"]
    march = select(japan, start="2011-03-01", end="2011-04-01", min_magnitude=5)
    assert len(march) == 580  # awk: $2 in March 2011 and $5>=5
    # ../shared/data/README.md: 35 M>=5 within 500 km of Memambetsu (MMB) in March 2011
    r = great_circle_km(43.910, 144.189, march["latitude_deg"], march["longitude_deg"])
    assert int((r <= 500).sum()) == 35


def test_select_box_across_the_antimeridian(jma):
    # awk -F';' 'NR>1 && $3>=30 && $3<=50 && $2>=170 && $2<=190' -> 372 rows (file in 0..360)
    sel = select(jma, box=(30, 50, 170, -170))
    lon = sel["longitude_deg"]
    assert ((lon >= 170) | (lon <= -170)).all()
    assert (lon < 0).sum() == 5  # wrapped events east of the antimeridian, inside the box
    assert len(sel) == int(((jma["latitude_deg"].between(30, 50))
                            & ((jma["longitude_deg"] >= 170)
                               | (jma["longitude_deg"] <= -170))).sum())
    assert len(sel) == 372


def test_great_circle_known_values():
    r = 6371.0088
    assert great_circle_km(0, 0, 90, 0) == pytest.approx(np.pi * r / 2, rel=1e-12)
    assert great_circle_km(0, 0, 0, 180) == pytest.approx(np.pi * r, rel=1e-12)
    assert great_circle_km(0, 179.5, 0, -179.5) == pytest.approx(np.pi * r / 180, rel=1e-9)
    # Tohoku epicentre to Memambetsu, against the spherical law of cosines
    la1, lo1, la2, lo2 = np.radians([38.297, 142.373, 43.910, 144.189])
    cos_c = np.sin(la1) * np.sin(la2) + np.cos(la1) * np.cos(la2) * np.cos(lo2 - lo1)
    assert great_circle_km(38.297, 142.373, 43.910, 144.189) == \
        pytest.approx(r * np.arccos(cos_c), rel=1e-9)
    assert great_circle_km(38.297, 142.373, 43.910, 144.189) == pytest.approx(642.37, abs=0.01)
