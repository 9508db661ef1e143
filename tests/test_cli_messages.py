"""Messages for people: geoanom's own warnings are one ``geoanom: warning:`` line, never a
Python warning with a source path."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from geoanom.io.netcdf import write_netcdf
from geoanom.record import make_record


def test_a_station_mismatch_is_one_warning_line_without_a_source_path(tmp_path):
    n = 3000
    t = np.datetime64("2016-01-01T00:00", "ns") + np.arange(n) * np.timedelta64(60, "s")
    rec = make_record(t, {"H": 20700.0 + np.sin(np.arange(n)), "Z": 47000.0 + np.arange(n)},
                      attrs={"iaga_code": "BOU", "station_name": "Boulder",
                             "latitude_deg": 40.137, "longitude_deg": 254.9,
                             "elevation_m": 1682.0, "data_type": "variation"},
                      history="test")
    write_netcdf(rec, tmp_path / "moved.nc")
    # a real process: the warning machinery is the interpreter's, not the test runner's
    cat = tmp_path / "cat.csv"
    cat.write_text("time,latitude,longitude,depth,mag\n2015-12-01T00:00:00Z,40.0,-105.0,5.0,5.5\n")
    r = subprocess.run([sys.executable, "-m", "geoanom", "config", "suggest", "--record",
                        str(tmp_path / "moved.nc"), "--catalog", str(cat), "-o",
                        str(tmp_path / "cfg")], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if "254.9" in ln]
    assert lines and all(ln.startswith("geoanom: warning: ") for ln in lines), r.stderr
    assert ".py:" not in r.stderr and "StationMismatchWarning" not in r.stderr
