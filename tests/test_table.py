"""Table mappings: the shipped MAGDAS and world-M5 mappings on the real files, a headerless
tab dump, long-format splitting, fills, cadence, time zones and the CLI (--map)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

from geoanom.catalog_frame import validate_catalog
from geoanom.cli import main
from geoanom.io import read_catalog
from geoanom.io.table import (
    TableMapping,
    load_mapping,
    read_catalog_table,
    read_record_table,
    shipped_mappings,
)
from geoanom.record import FLAG_MISSING, FLAG_VALID, validate_record

MAGDAS = "geomag/magdas_euel_daily"
DUMP = "\n".join([
    "2018-10-23 00:00:00\t30123.5\t-1200.25\t41000.0\t50800.1",
    "2018-10-23 00:01:00\t30123.7\t-1200.30\t41000.2\t50800.3",
    "2018-10-23 00:02:00\tNaN\t-1200.31\t41000.1\t50800.2",
    "2018-10-23 00:04:00\t30124.0\t-1200.40\t40999.9\t50800.0",
]) + "\n"
DUMP_MAP = {"delimiter": "tab", "header": False, "names": ["time", "X", "Y", "Z", "F"],
            "time": "time", "tz": "UTC", "components": ["X", "Y", "Z", "F"],
            "station": "abc", "latitude_deg": 10.5, "longitude_deg": 120.25,
            "fill_values": ["nan"]}


def _non_nan_rows(path: Path) -> dict[str, int]:
    """Count the rows with a value per station, independently of geoanom (plain text)."""
    counts: dict[str, int] = {}
    with gzip.open(path, "rt") as fh:
        next(fh)
        for line in fh:
            _, code, value = (x.strip() for x in line.split(","))
            counts.setdefault(code, 0)
            counts[code] += value.lower() != "nan"
    return counts


def test_shipped_mappings_load():
    names = shipped_mappings()
    assert {"magdas-euel", "world-m5"} <= set(names)
    assert load_mapping("magdas-euel").kind == "record"
    assert load_mapping("world-m5").kind == "catalog"
    m = load_mapping("magdas-euel")
    assert TableMapping.from_dict(m.to_dict()) == m


@pytest.mark.parametrize("name", [
    "magdas_peak_euel_daily_southeast_asia_dip_2000-2022.csv.gz",
    "magdas_peak_euel_daily_southeast_asia_offdip_2000-2022_noMND.csv.gz",
    "magdas_peak_euel_daily_south_america_dip_2000-2022.csv.gz",
    "magdas_peak_euel_daily_south_america_offdip_2000-2022.csv.gz",  # ", " in the header
])
def test_magdas_long_file_splits_per_station_with_all_values(shared_data, name):
    path = shared_data / MAGDAS / name
    recs = read_record_table(path, "magdas-euel")
    expected = _non_nan_rows(path)
    assert list(recs) == list(expected)
    for code, rec in recs.items():
        validate_record(rec)
        assert rec.attrs["iaga_code"] == code
        assert rec.attrs["sampling_period_s"] == 86400.0
        assert rec["EUEL"].attrs["units"] == "nT"
        flags = rec["EUEL_flag"].values
        assert int((flags == FLAG_VALID).sum()) == expected[code]
        assert np.isfinite(rec["EUEL"].values).sum() == expected[code]
        assert np.isfinite(rec.attrs["latitude_deg"]) and np.isfinite(rec.attrs["longitude_deg"])
    if "southeast_asia_dip" in name:
        assert expected["DAV"] == 3814
        dav = recs["DAV"]
        assert (dav.attrs["latitude_deg"], dav.attrs["longitude_deg"]) == (7.0, 125.4)
        assert str(dav["time"].values[0])[:10] == "2000-01-01"


def test_magdas_convert_all_stations_in_one_command(shared_data, tmp_path):
    path = shared_data / MAGDAS / "magdas_peak_euel_daily_south_america_dip_2000-2022.csv.gz"
    out = tmp_path / "euel"
    r = CliRunner().invoke(main, ["convert", str(path), "--map", "magdas-euel", "-o", str(out)])
    assert r.exit_code == 0, r.output
    expected = _non_nan_rows(path)
    assert sorted(p.stem for p in out.glob("*.nc")) == sorted(expected)
    for code, n in expected.items():
        ds = xr.load_dataset(out / f"{code}.nc")
        assert int((ds["EUEL_flag"].values == FLAG_VALID).sum()) == n
        assert f"{n} valid" in r.output
    # one station only, to a file
    one = tmp_path / "anc.nc"
    r = CliRunner().invoke(main, ["convert", str(path), "--map", "magdas-euel", "--station",
                                  "anc", "-o", str(one)])
    assert r.exit_code == 0, r.output
    assert xr.load_dataset(one).attrs["iaga_code"] == "ANC"


def test_world_m5_catalog_reads_every_event(catalogs_dir):
    df = read_catalog_table(catalogs_dir / "world_m5_2007_2019.csv.gz", "world-m5")
    validate_catalog(df)
    assert len(df) == 23361
    assert df["time"].iloc[0] == pd.Timestamp("2007-01-01 00:18:53")
    assert df["magnitude"].min() >= 4.5 and df["depth_km"].iloc[0] == 400.0
    # the same reader through read_catalog's "mapped" format
    df2 = read_catalog(catalogs_dir / "world_m5_2007_2019.csv.gz", format="mapped",
                       mapping="world-m5")
    pd.testing.assert_frame_equal(df, df2)


def test_headerless_tab_dump(tmp_path):
    p = tmp_path / "dump.txt"
    p.write_text(DUMP)
    [(code, rec)] = read_record_table(p, DUMP_MAP).items()
    assert code == "ABC"
    validate_record(rec)
    assert rec.sizes["time"] == 5  # 00:03 was absent: inserted as missing
    assert rec.attrs["sampling_period_s"] == 60.0
    assert rec["X"].values[0] == 30123.5 and rec["Y"].values[2] == -1200.31
    assert list(rec["X_flag"].values) == [0, 0, FLAG_MISSING, FLAG_MISSING, 0]
    assert "1 missing rows inserted" in rec.attrs["history"]
    assert json.loads(rec.attrs["table_mapping"])["delimiter"] == "\t"


def test_headerless_tab_dump_from_the_command_line(tmp_path):
    p = tmp_path / "dump.txt"
    p.write_text(DUMP)
    args = ["--map-set", "delimiter=tab", "--map-set", "header=false",
            "--map-set", "names=time,X,Y,Z,F", "--map-set", "time=time",
            "--map-set", "tz=UTC", "--map-set", "components=X,Y,Z,F",
            "--map-set", "station=ABC", "--map-set", "fill_values=nan"]
    out = tmp_path / "abc.nc"
    r = CliRunner().invoke(main, ["convert", str(p), *args, "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert xr.load_dataset(out).sizes["time"] == 5
    r = CliRunner().invoke(main, ["info", str(p), *args, "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["components"]["X"]["valid"] == 3 and info["station"]["code"] == "ABC"


def test_mapping_file_with_whitespace_parts_and_time_zone(tmp_path):
    p = tmp_path / "rec.txt"
    p.write_text("# exported by a logger\nyear mon day hh mm H Z\n"
                 "2020 1 1 9 0 100.5 -3\n2020 1 1 10 0 101.5 -4\n")
    mp = tmp_path / "logger.toml"
    mp.write_text('delimiter = "whitespace"\ncomment = "#"\n'
                  'time = ["year", "mon", "day", "hh", "mm"]\ntime_format = "parts"\n'
                  'tz = "Asia/Tokyo"\nstation = "TST"\nlatitude_deg = 35.0\n'
                  'longitude_deg = 139.0\n[components]\nH = "H"\nZ = {column = "Z", '
                  'units = "nT"}\n')
    m = TableMapping.from_toml(mp)
    assert m.name == "logger" and m.kind == "record"
    rec = read_record_table(p, m)["TST"]
    # 09:00 JST is 00:00 UTC
    assert str(rec["time"].values[0]) == "2020-01-01T00:00:00.000000000"
    assert rec["H"].values.tolist() == [100.5, 101.5]


def test_a_mapping_dict_and_its_table_mapping_read_the_same(tmp_path):
    p = tmp_path / "c.csv"
    p.write_text("t;la;lo;m\n2019-07-15 12:00;34;-118;3\n")
    m = {"time": "t", "latitude": "la", "longitude": "lo", "magnitude": "m", "tz": "UTC",
         "delimiter": ";"}
    a = read_catalog_table(p, m)
    b = read_catalog_table(p, TableMapping(**m))
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs["format"] == "mapped"


def test_cli_test_reads_a_mapped_catalog_through_map(tmp_path):
    # train/score/test/dlep evaluate share open_catalog; here the --map option of `info`
    # and `convert` for catalogs, with a catalog mapping given by file
    p = tmp_path / "cat.txt"
    p.write_text("2011|3|11|5|46|24.1|38.3|142.4|29|9.1\n")
    mp = tmp_path / "cat.toml"
    mp.write_text('delimiter = "|"\nheader = false\ntime = [1, 2, 3, 4, 5, 6]\n'
                  'time_format = "parts"\ntz = "UTC"\nlatitude = 7\nlongitude = 8\n'
                  'depth = 9\nmagnitude = 10\n')
    out = tmp_path / "cat.csv"
    r = CliRunner().invoke(main, ["convert", str(p), "--map", str(mp), "-o", str(out)])
    assert r.exit_code == 0, r.output
    df = read_catalog(out)
    assert df["time"].iloc[0] == pd.Timestamp("2011-03-11 05:46:24.1")
    assert df["magnitude"].iloc[0] == 9.1


def test_numeric_fill_given_as_text_matches_any_spelling(tmp_path):
    p = tmp_path / "f.csv"
    p.write_text("t,H\n2020-01-01T00:00Z,1.5\n2020-01-01T00:01Z,99999.00\n"
                 "2020-01-01T00:02Z,99999\n2020-01-01T00:03Z,2.5\n")
    rec = read_record_table(p, {"time": "t", "components": ["H"], "station": "TST",
                                "latitude_deg": 1.0, "longitude_deg": 2.0,
                                "fill_values": ["99999"]})["TST"]
    assert rec["H_flag"].values.tolist() == [0, 1, 1, 0]


def test_station_registry_supplies_coordinates(tmp_path):
    p = tmp_path / "mmb.csv"
    p.write_text("t,H\n2011-03-01T00:00Z,1.5\n2011-03-01T00:01Z,2.5\n")
    rec = read_record_table(p, {"time": "t", "components": ["H"], "station": "MMB"})["MMB"]
    assert (rec.attrs["latitude_deg"], rec.attrs["longitude_deg"]) == (43.91, 144.189)
    assert rec.attrs["station_name"] == "Memambetsu"
