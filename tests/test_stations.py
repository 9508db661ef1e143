"""Station registry: shipped TOML files, user folders, header checks."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest

from geoanom.errors import ConfigError
from geoanom.record import make_record
from geoanom.stations import (
    ENV_VAR,
    Station,
    StationMismatchWarning,
    builtin_station_dir,
    check_header,
    get_station,
    load_stations,
)

REQUIRED = {"BOU", "MMB", "ANC", "WIC", "KAK", "KNY", "CBI", "FRN", "TUC", "SUA"}


def _lists(shared_data):
    """Parse intermagnet.list / supermag.list: code -> (lat, lon east 0..360)."""
    out = {}
    for name in ("intermagnet.list", "supermag.list"):
        d = {}
        for line in (shared_data / "metadata" / name).read_text().splitlines():
            m = re.match(r"^([A-Z0-9]{3})\s+.*?\s(-?\d+\.\d+)\s+(-?\d+\.\d+)\s+-?\d+\.\d+", line)
            if m:
                d[m.group(1)] = (float(m.group(2)), float(m.group(3)))
        out[name] = d
    return out


def _east_diff(a, b):
    d = abs(a - b) % 360.0
    return min(d, 360.0 - d)


def test_shipped_stations():
    st = load_stations()
    assert REQUIRED <= set(st)
    assert builtin_station_dir() is not None
    for s in st.values():
        assert -90 <= s.latitude_deg <= 90
        assert -180 < s.longitude_deg <= 180
        assert s.network and s.source and s.name
    bou = st["BOU"]
    assert (bou.latitude_deg, bou.longitude_deg, bou.elevation_m) == (40.137, -105.236, 1682.0)
    assert st["ANC"].longitude_deg == -77.15 and math.isnan(st["ANC"].elevation_m)
    assert st["WIC"].elevation_m == 1087.01


def test_registry_agrees_with_station_lists(shared_data):
    lists = _lists(shared_data)
    im, sm = lists["intermagnet.list"], lists["supermag.list"]
    assert {"BOU", "MMB", "KAK", "KNY", "FRN", "TUC", "SUA"} <= set(im)
    st = load_stations()
    for code in ("BOU", "MMB", "KAK", "KNY", "FRN", "TUC", "SUA"):
        lat, lon = im[code]
        assert abs(st[code].latitude_deg - lat) <= 0.0101, code
        assert _east_diff(st[code].longitude_deg, lon) <= 0.0101, code
    # CBI is only in supermag.list, and taken from it
    assert "CBI" not in im
    assert (st["CBI"].latitude_deg, st["CBI"].longitude_deg) == sm["CBI"]
    # the lists disagree for SUA by 0.64 degree; the registry follows intermagnet.list
    assert abs(sm["SUA"][0] - im["SUA"][0]) > 0.6


def test_registry_agrees_with_file_headers(geomag_dir):
    heads = {
        "BOU": geomag_dir / "usgs_BOU" / "BOU201601vmin.min",
        "MMB": geomag_dir / "japan_MMB_2011-03" / "mmb_2011_march.txt",
    }
    st = load_stations()
    for code, path in heads.items():
        text = path.read_text()[:2000]
        lat = float(re.search(r"Geodetic Latitude\s+(-?[\d.]+)", text).group(1))
        lon = float(re.search(r"Geodetic Longitude\s+(-?[\d.]+)", text).group(1))
        assert st[code].latitude_deg == lat
        assert _east_diff(st[code].longitude_deg, lon) < 1e-9


def test_user_folder_and_env_override(tmp_path, monkeypatch):
    env_dir, extra = tmp_path / "env", tmp_path / "extra"
    env_dir.mkdir()
    extra.mkdir()
    (env_dir / "xyz.toml").write_text(
        'code = "XYZ"\nname = "Env"\nlatitude_deg = 10.0\nlongitude_deg = 350.0\n'
        'network = "test"\nsource = "env"\n')
    (extra / "bou.toml").write_text(
        'code = "bou"\nname = "My Boulder"\nlatitude_deg = 40.0\nlongitude_deg = 255.0\n'
        'elevation_m = 1700\nnetwork = "own"\nsource = "survey"\n')
    monkeypatch.setenv(ENV_VAR, str(env_dir))
    st = load_stations([extra])
    assert st["XYZ"].longitude_deg == -10.0          # 350 E normalised to -180..180
    assert st["BOU"].name == "My Boulder"            # user folder overrides the shipped file
    assert st["BOU"].longitude_deg == -105.0 and st["BOU"].elevation_m == 1700.0
    assert get_station("xyz").source == "env"
    assert "KAK" in st


@pytest.mark.parametrize(("text", "match"), [
    ('code = "ABC"\nname = "x"\nlatitude_deg = 1.0\n', "lacks"),
    ('code = "ABC"\nname = "x"\nlatitude_deg = 91.0\nlongitude_deg = 0.0\nnetwork = "n"\n'
     'source = "s"\n', "latitude out of range"),
    ('code = "ABC"\nname = "x"\nlatitude_deg = "1"\nlongitude_deg = 0.0\nnetwork = "n"\n'
     'source = "s"\n', "wrong type"),
    ('code = "A-B"\nname = "x"\nlatitude_deg = 1.0\nlongitude_deg = 0.0\nnetwork = "n"\n'
     'source = "s"\n', "IAGA-style"),
    ('code = "ABC"\nname = "x"\nlatitude_deg = 1.0\nlongitude_deg = 0.0\nnetwork = "n"\n'
     'source = "s"\ncolour = "red"\n', "unknown keys"),
    ('code = "ABC\nname = ', "not valid TOML"),
])
def test_bad_station_files(tmp_path, text, match):
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(ConfigError, match=match) as exc:
        load_stations([tmp_path])
    assert "bad.toml" in str(exc.value)


def test_missing_folder_and_unknown_code(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_stations([tmp_path / "nope"])
    with pytest.raises(ConfigError, match="unknown station 'QQQ'"):
        get_station("QQQ")


def _rec(code, lat, lon):
    t = np.datetime64("2016-01-01", "ns") + np.arange(3) * np.timedelta64(60, "s")
    return make_record(t, {"H": [1.0, 2.0, 3.0]},
                       attrs={"iaga_code": code, "latitude_deg": lat, "longitude_deg": lon})


def test_check_header_warns_only_beyond_tolerance():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # BOU header: 254.764 E equals the registry's -105.236 modulo 360
        assert check_header(_rec("BOU", 40.137, 254.764)).code == "BOU"
        assert check_header(_rec("BOU", 40.147, -105.226)).code == "BOU"   # 0.01: tolerated
        assert check_header(_rec("WIC", 47.92838619394309, 15.86203084811201)).code == "WIC"
        assert check_header(_rec("ZZZ", 0.0, 0.0)) is None                # not registered
        assert check_header(_rec("BOU", float("nan"), float("nan"))).code == "BOU"
    with pytest.warns(StationMismatchWarning, match="latitude 40.2 vs 40.137"):
        check_header(_rec("BOU", 40.2, 254.764))
    with pytest.warns(StationMismatchWarning, match="longitude"):
        check_header(_rec("BOU", 40.137, 254.80))
    # longitudes near the antimeridian compare modulo 360
    reg = {"DAT": Station("DAT", "Dateline", 0.0, 179.999)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_header(_rec("DAT", 0.0, -179.995), reg)


def test_station_to_dict():
    d = get_station("ANC").to_dict()
    assert d["elevation_m"] is None and d["code"] == "ANC"
    assert d["longitude_deg"] == -77.15 and d["longitude_0_360_deg"] == pytest.approx(282.85)
    assert get_station("BOU").longitude_0_360_deg == pytest.approx(254.764)
    assert get_station("KAK").longitude_0_360_deg == 140.18


def test_one_registry_knows_the_shipped_station_tables():
    """`stations show MND` answers from the MAGDAS list that the magdas-euel mapping uses;
    a station TOML of the same code wins over the table."""
    from click.testing import CliRunner

    from geoanom.cli import main
    from geoanom.stations import load_stations, station_table

    r = CliRunner().invoke(main, ["stations", "show", "MND"])
    assert r.exit_code == 0 and "Manado" in r.output and "MAGDAS" in r.output
    reg = load_stations()
    table = station_table("magdas")
    assert set(table) <= set(reg)
    assert reg["MND"].latitude_deg == table["MND"]["latitude_deg"]
    assert reg["ANC"].path.endswith("ANC.toml")   # the TOML file wins over the table
