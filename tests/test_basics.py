import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from geoanom import __version__
from geoanom._atomic import atomic_path
from geoanom.catalog_frame import great_circle_km, make_catalog
from geoanom.cli import main
from geoanom.errors import FormatError, ValidationError
from geoanom.record import FLAG_MISSING, make_record, validate_record

ROOT = Path(__file__).resolve().parents[1]


def test_version_cli():
    r = CliRunner().invoke(main, ["--version"])
    assert r.exit_code == 0
    assert __version__ in r.output


def test_error_message_names_file_line_expected_found():
    e = FormatError("bad value", path="a.min", line=12, expected="a number", found="abc")
    assert str(e) == "a.min, line 12: bad value (expected a number, found 'abc')"


def test_make_record_flags_nan_and_validates():
    t = np.arange("2020-01-01T00:00", "2020-01-01T00:05", dtype="datetime64[m]")
    ds = make_record(t, {"H": [1.0, np.nan, 3.0, 4.0, 5.0]}, attrs={"iaga_code": "TST"})
    validate_record(ds)
    assert ds["H_flag"].values.tolist() == [0, FLAG_MISSING, 0, 0, 0]
    assert ds.attrs["sampling_period_s"] == 60.0
    assert ds["H"].attrs["units"] == "nT"


def test_validate_record_rejects_irregular_cadence():
    t = np.array(["2020-01-01T00:00", "2020-01-01T00:01", "2020-01-01T00:03"], "datetime64[ns]")
    ds = make_record(t, {"Z": [1.0, 2.0, 3.0]})
    ds.attrs["sampling_period_s"] = 60.0
    with pytest.raises(ValidationError, match="cadence"):
        validate_record(ds)


def test_great_circle_quarter_meridian():
    # pole to equator: a quarter of the circumference
    assert great_circle_km(90, 0, 0, 0) == pytest.approx(np.pi / 2 * 6371.0088)


def test_catalog_sorted_and_unique():
    cat = make_catalog(["2020-01-02", "2020-01-01"], [1, 2], [3, 4], [5.0, 6.0])
    assert cat["magnitude"].tolist() == [6.0, 5.0]
    with pytest.raises(ValidationError, match="unique"):
        make_catalog(["2020-01-01", "2020-01-02"], [1, 2], [3, 4], [5, 6], event_id=["a", "a"])


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    final = tmp_path / "out.nc"
    with pytest.raises(RuntimeError), atomic_path(final) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", readme, flags=re.S)
    test_cmd = blocks[1].strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd in ci
