"""One parser for geographic boxes on the command line (``geoanom fetch catalog``,
``geoanom dlep ...``): ``--box LAT0,LAT1,LON0,LON1`` or ``--lat LAT0,LAT1 --lon LON0,LON1``,
degrees, latitude first (the FDSN order)."""

from __future__ import annotations

from geoanom.errors import ConfigError


def parse_numbers(text: str, n: int, what: str) -> list[float]:
    """``n`` comma- (or space-) separated numbers from an option's text; ConfigError if not."""
    parts = [p for p in text.replace(" ", ",").split(",") if p]
    try:
        vals = [float(p) for p in parts]
    except ValueError:
        vals = []
    if len(vals) != n:
        raise ConfigError(f"cannot read {what}", expected=f"{n} comma-separated numbers",
                          found=text)
    return vals


def parse_box(box: str | None, lat: str | None = None, lon: str | None = None
              ) -> list[float] | None:
    """``[lat0, lat1, lon0, lon1]`` (degrees) from ``--box LAT0,LAT1,LON0,LON1`` or from
    ``--lat LAT0,LAT1`` with ``--lon LON0,LON1``; None when none is given.

    Raises
    ------
    ConfigError
        On a malformed value, both forms at once, one of ``--lat``/``--lon`` alone, an
        empty or out-of-range latitude band, or ``lon0 >= lon1``.
    """
    if box is not None and (lat is not None or lon is not None):
        raise ConfigError("give --box or --lat/--lon, not both", found=f"--box {box}")
    if box is None and lat is None and lon is None:
        return None
    if box is not None:
        vals = parse_numbers(box, 4, "--box LAT0,LAT1,LON0,LON1")
        what = f"--box {box}"
    else:
        if lat is None or lon is None:
            raise ConfigError("--lat and --lon go together",
                              expected="--lat LAT0,LAT1 --lon LON0,LON1",
                              found=f"--lat {lat} --lon {lon}")
        vals = parse_numbers(lat, 2, "--lat LAT0,LAT1") + parse_numbers(lon, 2, "--lon LON0,LON1")
        what = f"--lat {lat} --lon {lon}"
    la0, la1, lo0, lo1 = vals
    if not (-90.0 <= la0 < la1 <= 90.0):
        raise ConfigError("latitude band must be increasing, within -90..90 degrees",
                          expected="LAT0 < LAT1 (degrees, south first)", found=what)
    if not (-180.0 <= lo0 < lo1 <= 360.0):
        raise ConfigError("longitude band must be increasing, within -180..360 degrees",
                          expected="LON0 < LON1 (degrees, west first)", found=what)
    return vals
