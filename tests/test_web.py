"""Web fetchers against a local HTTP server on 127.0.0.1 that answers like the USGS
geomagnetism service, INTERMAGNET's GIN and an FDSN event service, with recorded answers
built from ../shared/data (BOU daily IAGA-2002 files, the pyCSEP ComCat sample)."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from click.testing import CliRunner

from geoanom import __version__
from geoanom.cli import main
from geoanom.errors import ConfigError, FormatError
from geoanom.io import read_catalog
from geoanom.io.catalog import read_pycsep_csv
from geoanom.io.iaga2002 import read_iaga2002
from geoanom.io.web import (
    FetchError,
    WebClient,
    default_cache_dir,
    fdsn_event_params,
    fetch_catalog,
    fetch_geomag,
    geomag_chunks,
    intermagnet_params,
    usgs_geomag_params,
)

PYCSEP = "pycsep_0.8.0_wheel_sample_comcat_catalog.csv"


# ------------------------------------------------------------------------------------------
# the local server
# ------------------------------------------------------------------------------------------

class _Server:
    """A threaded HTTP server; ``app(path, query) -> (status, body, headers)``; ``script``
    maps a path to answers served (and consumed) before ``app`` is asked."""

    def __init__(self, app):
        self.app = app
        self.requests: list[tuple[str, dict, dict]] = []
        self.script: dict[str, list[tuple[int, bytes, dict]]] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                parts = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
                outer.requests.append((parts.path, query, dict(self.headers)))
                queue = outer.script.get(parts.path)
                status, body, headers = queue.pop(0) if queue else outer.app(parts.path, query)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def log_message(self, *args):  # keep test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _comcat_rows(catalogs_dir: Path) -> pd.DataFrame:
    """The pyCSEP Ridgecrest sample as ComCat would answer it (format=csv)."""
    src = pd.read_csv(catalogs_dir / PYCSEP)
    t = pd.to_datetime(src["time_string"], format="ISO8601")
    return pd.DataFrame({
        "time": t.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z",
        "latitude": src["lat"], "longitude": src["lon"], "depth": src["depth"],
        "mag": src["M"], "magType": "ml", "id": [f"ci{i:05d}" for i in range(len(src))],
        "type": "earthquake", "_t": t,
    })


def _fdsn_text(rows: pd.DataFrame) -> str:
    head = ("#EventID|Time|Latitude|Longitude|Depth/km|Author|Catalog|Contributor|"
            "ContributorID|MagType|Magnitude|MagAuthor|EventLocationName")
    lines = [head] + [f"{r.id}|{r.time[:-1]}|{r.latitude}|{r.longitude}|{r.depth}|ci|ci|ci|"
                      f"{r.id}|{r.magType}|{r.mag}|ci|Ridgecrest" for r in rows.itertuples()]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def server(shared_data):
    shared = shared_data
    bou = shared / "geomag" / "usgs_BOU"
    rows = _comcat_rows(shared / "catalogs")

    def daily(code: str, date: str) -> tuple[int, bytes, dict]:
        f = bou / f"{code.lower()}{date.replace('-', '')}vmin.min"
        if code != "BOU" or not f.exists():
            return 404, b"Error 404: no data for this request\n", {"Content-Type": "text/plain"}
        return 200, f.read_bytes(), {"Content-Type": "text/plain"}

    def app(path: str, q: dict) -> tuple[int, bytes, dict]:
        if path == "/ws/data/":
            if q.get("format") != "iaga2002" or q.get("type") != "variation":
                return 400, b"Bad request: unsupported format or type\n", {}
            return daily(q["id"], q["starttime"][:10])
        if path == "/GIN_V1/GINServices":
            if q.get("Request") != "GetData" or q.get("format") != "IAGA2002":
                return 400, b"Bad request\n", {}
            return daily(q["observatoryIagaCode"], q["dataStartDate"])
        if path == "/fdsnws/event/1/query":
            t0 = pd.Timestamp(q["starttime"]).tz_localize(None)
            t1 = pd.Timestamp(q["endtime"]).tz_localize(None)
            sel = rows[(rows["_t"] >= t0) & (rows["_t"] <= t1)]
            if "minmagnitude" in q:
                sel = sel[sel["mag"] >= float(q["minmagnitude"])]
            if sel.empty:
                return 204, b"", {}
            if q.get("format") == "csv":
                body = sel.drop(columns="_t").to_csv(index=False, lineterminator="\n")
            elif q.get("format") == "text":
                body = _fdsn_text(sel)
            else:
                return 400, b"Error 400: Bad Request\nunknown format\n", {}
            return 200, body.encode(), {"Content-Type": "text/plain"}
        return 404, b"not found", {}

    srv = _Server(app)
    srv.shared = shared
    srv.rows = rows
    yield srv
    srv.close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for k in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
              "ALL_PROXY"):
        monkeypatch.delenv(k, raising=False)


@pytest.fixture
def srv(server):
    """The module's server with its request log and script reset for each test."""
    server.requests.clear()
    server.script.clear()
    return server


class _Clock:
    """A fake clock: ``sleep`` records the wait and advances time."""

    def __init__(self):
        self.t = 1000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.waits.append(s)
        self.t += s


def _client(tmp_path, clock: _Clock | None = None, **kw) -> WebClient:
    c = clock or _Clock()
    kw.setdefault("min_interval_s", 0.0)
    kw.setdefault("backoff_s", 0.5)
    kw.setdefault("timeout_s", 10.0)
    return WebClient(cache_dir=tmp_path / "cache", sleep=c.sleep, clock=c.clock, **kw)


def _bou_days(srv, *days: str) -> xr.Dataset:
    bou = srv.shared / "geomag" / "usgs_BOU"
    return read_iaga2002([bou / f"bou201411{d}vmin.min" for d in days])


# ------------------------------------------------------------------------------------------
# geomagnetic records
# ------------------------------------------------------------------------------------------

def test_usgs_fetch_returns_the_served_days_and_sends_the_documented_query(srv, tmp_path):
    c = _client(tmp_path)
    rec = fetch_geomag("BOU", "2014-11-01", "2014-11-03T23:59:00Z",
                       base_url=srv.url + "/ws/data/", client=c)
    want = _bou_days(srv, "01", "02", "03")
    assert rec.sizes["time"] == 3 * 1440
    np.testing.assert_array_equal(rec["time"].values, want["time"].values)
    for comp in ("H", "D", "Z", "F"):
        np.testing.assert_array_equal(rec[comp].values, want[comp].values)
    assert rec.attrs["iaga_code"] == "BOU"
    assert "fetched from usgs" in rec.attrs["history"]
    assert [q["starttime"] for _, q, _ in srv.requests] == [
        "2014-11-01T00:00:00Z", "2014-11-02T00:00:00Z", "2014-11-03T00:00:00Z"]
    path, q, headers = srv.requests[0]
    assert q == {"id": "BOU", "starttime": "2014-11-01T00:00:00Z",
                 "endtime": "2014-11-01T23:59:00Z", "sampling_period": "60",
                 "type": "variation", "format": "iaga2002"}
    assert headers["User-Agent"].startswith(f"geoanom/{__version__} ")


def test_fetch_trims_to_the_requested_times(srv, tmp_path):
    rec = fetch_geomag("BOU", "2014-11-01T06:00:00Z", "2014-11-01T06:09:00Z",
                       base_url=srv.url + "/ws/data/", client=_client(tmp_path))
    assert rec.sizes["time"] == 10
    assert str(rec["time"].values[0]).startswith("2014-11-01T06:00:00")
    assert str(rec["time"].values[-1]).startswith("2014-11-01T06:09:00")


def test_cache_hit_serves_a_repeated_request_without_the_network(srv, tmp_path):
    base = srv.url + "/ws/data/"
    first = fetch_geomag("BOU", "2014-11-01", "2014-11-02T23:59:00Z", base_url=base,
                         client=_client(tmp_path))
    assert len(srv.requests) == 2
    c2 = _client(tmp_path)
    again = fetch_geomag("BOU", "2014-11-01", "2014-11-02T23:59:00Z", base_url=base, client=c2)
    assert len(srv.requests) == 2  # the server saw nothing new
    assert all(e.from_cache for e in c2.log)
    xr.testing.assert_identical(first.drop_attrs(), again.drop_attrs())
    # an overlapping request fetches only the day it lacks
    c3 = _client(tmp_path)
    fetch_geomag("BOU", "2014-11-02", "2014-11-03T23:59:00Z", base_url=base, client=c3)
    assert [q["starttime"][:10] for _, q, _ in srv.requests[2:]] == ["2014-11-03"]
    assert [e.from_cache for e in c3.log] == [True, False]
    # cache entries are the answers themselves plus a sidecar naming the URL
    meta = json.loads(c3.log[1].cache_path.with_suffix(".min.json").read_text())
    assert meta["url"] == c3.log[1].url and meta["status"] == 200
    assert c3.log[1].cache_path.read_bytes() == (
        srv.shared / "geomag" / "usgs_BOU" / "bou20141103vmin.min").read_bytes()


def test_refresh_fetches_again(srv, tmp_path):
    base = srv.url + "/ws/data/"
    fetch_geomag("BOU", "2014-11-01", "2014-11-01", base_url=base, client=_client(tmp_path))
    fetch_geomag("BOU", "2014-11-01", "2014-11-01", base_url=base,
                 client=_client(tmp_path, refresh=True))
    assert len(srv.requests) == 2


def test_retry_after_503_then_success(srv, tmp_path):
    srv.script["/ws/data/"] = [(503, b"Service Unavailable\n", {})]
    clock = _Clock()
    rec = fetch_geomag("BOU", "2014-11-01", "2014-11-01T23:59:00Z",
                       base_url=srv.url + "/ws/data/", client=_client(tmp_path, clock))
    assert rec.sizes["time"] == 1440
    assert len(srv.requests) == 2
    assert clock.waits == [0.5]  # backoff_s before the first retry


def test_retries_back_off_exponentially_then_give_up(srv, tmp_path):
    srv.script["/ws/data/"] = [(502, b"Bad Gateway\n", {})] * 3
    clock = _Clock()
    with pytest.raises(FetchError) as ei:
        fetch_geomag("BOU", "2014-11-01", "2014-11-01", base_url=srv.url + "/ws/data/",
                     client=_client(tmp_path, clock, retries=2))
    assert clock.waits == [0.5, 1.0]
    assert len(srv.requests) == 3
    msg = str(ei.value)
    assert "gave up after 3 attempts" in msg and "HTTP 502" in msg and srv.url in msg
    assert not list((tmp_path / "cache").rglob("*.min"))


def test_429_waits_as_long_as_retry_after_says(srv, tmp_path):
    srv.script["/ws/data/"] = [(429, b"Too Many Requests\n", {"Retry-After": "7"})]
    clock = _Clock()
    fetch_geomag("BOU", "2014-11-01", "2014-11-01", base_url=srv.url + "/ws/data/",
                 client=_client(tmp_path, clock))
    assert clock.waits == [7.0]


def test_404_is_a_clear_error_without_retry(srv, tmp_path):
    clock = _Clock()
    with pytest.raises(FetchError) as ei:
        fetch_geomag("BOU", "2014-12-01", "2014-12-01", base_url=srv.url + "/ws/data/",
                     client=_client(tmp_path, clock))
    assert len(srv.requests) == 1
    assert clock.waits == []
    msg = str(ei.value)
    assert "HTTP 404" in msg and "starttime=2014-12-01T00:00:00Z" in msg
    assert "no data for this request" in msg  # the service's own words


def test_400_is_not_retried_either(srv, tmp_path):
    with pytest.raises(FetchError, match="HTTP 400"):
        fetch_geomag("BOU", "2014-11-01", "2014-11-01", base_url=srv.url + "/ws/data/",
                     data_type="definitive", client=_client(tmp_path))
    assert len(srv.requests) == 1


def test_invalid_answer_is_a_format_error_naming_the_url_and_is_not_cached(srv, tmp_path):
    srv.script["/ws/data/"] = [(200, b"<html><body>maintenance</body></html>\n", {})]
    with pytest.raises(FormatError) as ei:
        fetch_geomag("BOU", "2014-11-01", "2014-11-01", base_url=srv.url + "/ws/data/",
                     client=_client(tmp_path))
    assert srv.url + "/ws/data/?id=BOU" in str(ei.value)
    assert not list((tmp_path / "cache").rglob("*.min"))
    # the next attempt goes to the server again and succeeds
    fetch_geomag("BOU", "2014-11-01", "2014-11-01", base_url=srv.url + "/ws/data/",
                 client=_client(tmp_path))
    assert len(srv.requests) == 2


def test_recent_answers_are_used_but_not_cached(srv, tmp_path):
    c = _client(tmp_path)
    fetch_geomag("BOU", "2014-11-01", "2014-11-01", base_url=srv.url + "/ws/data/", client=c,
                 now=np.datetime64("2014-11-02T12:00"))
    assert c.log[0].cache_path is None
    assert not list((tmp_path / "cache").rglob("*.min"))


def test_polite_interval_between_requests(srv, tmp_path):
    clock = _Clock()
    fetch_geomag("BOU", "2014-11-01", "2014-11-03", base_url=srv.url + "/ws/data/",
                 client=_client(tmp_path, clock, min_interval_s=5.0))
    assert len(srv.requests) == 3
    assert clock.waits == [5.0, 5.0]


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_connection_refused_is_an_offline_error_suggesting_the_cache(tmp_path):
    clock = _Clock()
    url = f"http://127.0.0.1:{_closed_port()}/ws/data/"
    with pytest.raises(FetchError) as ei:
        fetch_geomag("BOU", "2014-11-01", "2014-11-01", base_url=url,
                     client=_client(tmp_path, clock))
    msg = str(ei.value)
    assert url in msg and "--cache" in msg and "offline" in msg
    assert clock.waits == []  # no retry when nobody is listening


def test_name_lookup_failure_is_an_offline_error(tmp_path):
    def opener(req, timeout):
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    with pytest.raises(FetchError) as ei:
        fetch_geomag("BOU", "2014-11-01", "2014-11-01", client=_client(tmp_path, opener=opener))
    msg = str(ei.value)
    assert "geomag.usgs.gov" in msg and "name lookup failed" in msg and "--cache" in msg


def test_timeouts_are_retried(tmp_path, srv):
    calls = []
    import urllib.request

    def opener(req, timeout):
        calls.append(timeout)
        if len(calls) == 1:
            raise urllib.error.URLError(TimeoutError("timed out"))
        return urllib.request.urlopen(req, timeout=timeout)

    rec = fetch_geomag("BOU", "2014-11-01", "2014-11-01", base_url=srv.url + "/ws/data/",
                       client=_client(tmp_path, opener=opener))
    assert calls == [10.0, 10.0]
    assert rec.sizes["time"] == 1440  # an end given as a date covers that whole day


def test_offline_mode_uses_the_cache_and_fails_clearly_without_it(srv, tmp_path):
    base = srv.url + "/ws/data/"
    fetch_geomag("BOU", "2014-11-01", "2014-11-01", base_url=base, client=_client(tmp_path))
    n = len(srv.requests)
    rec = fetch_geomag("BOU", "2014-11-01", "2014-11-01T00:04:00Z", base_url=base,
                       client=_client(tmp_path, offline=True))
    assert rec.sizes["time"] == 5 and len(srv.requests) == n
    with pytest.raises(FetchError, match="--offline"):
        fetch_geomag("BOU", "2014-11-02", "2014-11-02", base_url=base,
                     client=_client(tmp_path, offline=True))
    assert len(srv.requests) == n


def test_intermagnet_gin_query_and_record(srv, tmp_path):
    rec = fetch_geomag("BOU", "2014-11-04", "2014-11-05T23:59:00Z", service="intermagnet",
                       base_url=srv.url + "/GIN_V1/GINServices", client=_client(tmp_path))
    want = _bou_days(srv, "04", "05")
    np.testing.assert_array_equal(rec["Z"].values, want["Z"].values)
    _, q, _ = srv.requests[0]
    assert q == {"Request": "GetData", "format": "IAGA2002", "testObsys": "0",
                 "observatoryIagaCode": "BOU", "samplesPerDay": "minute",
                 "orientation": "Native", "publicationState": "adj-or-rep",
                 "recordTermination": "UNIX", "dataStartDate": "2014-11-04",
                 "dataDuration": "1"}


def test_an_answer_for_another_station_is_refused(srv, tmp_path):
    # the server answers BOU's file whatever is asked; the reader's station check catches it
    body = (srv.shared / "geomag" / "usgs_BOU" / "bou20141101vmin.min").read_bytes()
    srv.script["/ws/data/"] = [(200, body, {})]
    with pytest.raises(FormatError, match="another station"):
        fetch_geomag("FRD", "2014-11-01", "2014-11-01", base_url=srv.url + "/ws/data/",
                     client=_client(tmp_path))


# ------------------------------------------------------------------------------------------
# query builders (pure functions)
# ------------------------------------------------------------------------------------------

def test_query_builders():
    d = np.datetime64("2024-05-10")
    q = usgs_geomag_params("bou", d, sampling_period_s=1, elements=["x", "y", "z", "f"])
    assert q["id"] == "BOU" and q["endtime"] == "2024-05-10T23:59:59Z"
    assert q["elements"] == "X,Y,Z,F"
    assert usgs_geomag_params("BOU", d, 2)["endtime"] == "2024-05-11T23:59:00Z"
    with pytest.raises(ConfigError):
        usgs_geomag_params("BOU", d, data_type="final")
    with pytest.raises(ConfigError):
        intermagnet_params("ESK", d, sampling_period_s=3600)
    assert intermagnet_params("esk", d, sampling_period_s=1)["samplesPerDay"] == "second"
    q = fdsn_event_params("2019-07-06", "2019-07-07T12:00:00+02:00", min_magnitude=4,
                          circle=(35.7, -117.5, 1.5), format="quakeml")
    assert q["endtime"] == "2019-07-07T10:00:00Z" and q["format"] == "xml"
    assert (q["latitude"], q["longitude"], q["maxradius"]) == (35.7, -117.5, 1.5)
    assert "minmagnitude" in q and q["maxmagnitude"] is None
    # an end date covers that whole day
    assert fdsn_event_params("2019-07-06", "2019-07-07")["endtime"] == "2019-07-08T00:00:00Z"
    with pytest.raises(ConfigError, match="before the start"):
        fdsn_event_params("2019-07-06", "2019-07-05")
    with pytest.raises(ConfigError):
        fdsn_event_params("2019-07-06", "2019-07-07", box=(1, 2, 3, 4), circle=(1, 2, 3))
    with pytest.raises(ConfigError):
        fdsn_event_params("not a date", "2019-07-07")


def test_chunks_are_days_below_hourly_and_years_above():
    t0, t1 = np.datetime64("2015-12-30T12:00"), np.datetime64("2016-01-02T00:00")
    assert [str(d) for d, _ in geomag_chunks(t0, t1, 60)] == [
        "2015-12-30", "2015-12-31", "2016-01-01", "2016-01-02"]
    assert [(str(d), n) for d, n in geomag_chunks(t0, t1, 3600)] == [
        ("2015-01-01", 365), ("2016-01-01", 366)]


def test_default_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("GEOANOM_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("GEOANOM_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    import sys

    if sys.platform.startswith("linux"):
        assert default_cache_dir() == tmp_path / "xdg" / "geoanom"


# ------------------------------------------------------------------------------------------
# catalogs
# ------------------------------------------------------------------------------------------

def _pycsep(srv) -> pd.DataFrame:
    return read_pycsep_csv(srv.shared / "catalogs" / PYCSEP)


@pytest.mark.parametrize("fmt", ["csv", "text"])
def test_fdsn_catalog_matches_the_served_events(srv, tmp_path, fmt):
    c = _client(tmp_path)
    df = fetch_catalog("2019-07-06", "2019-07-08", base_url=srv.url + "/fdsnws/event/1/query",
                       format=fmt, min_magnitude=4.0, client=c)
    ref = _pycsep(srv)
    ref = ref[(ref["time"] >= "2019-07-06") & (ref["time"] < "2019-07-09")
              & (ref["magnitude"] >= 4.0)]
    assert len(df) == len(ref) > 10
    np.testing.assert_array_equal(df["time"].values, ref["time"].values)
    np.testing.assert_allclose(df["magnitude"].values, ref["magnitude"].values)
    np.testing.assert_allclose(df["latitude_deg"].values, ref["latitude_deg"].values)
    _, q, _ = srv.requests[0]
    assert q["format"] == fmt and q["orderby"] == "time-asc" and q["minmagnitude"] == "4"
    assert df.attrs["query"] == c.log[0].url


def test_fdsn_chunked_requests_give_the_same_catalog(srv, tmp_path):
    base = srv.url + "/fdsnws/event/1/query"
    whole = fetch_catalog("2019-07-06", "2019-07-13", base_url=base, client=_client(tmp_path))
    c = _client(tmp_path)
    pieces = fetch_catalog("2019-07-06", "2019-07-13", base_url=base, client=c, chunk_days=2)
    assert [q["starttime"] for _, q, _ in srv.requests[1:]] == [
        "2019-07-06T00:00:00Z", "2019-07-08T00:00:00Z", "2019-07-10T00:00:00Z",
        "2019-07-12T00:00:00Z"]
    assert srv.requests[-1][1]["endtime"] == "2019-07-14T00:00:00Z"
    assert len(whole) == len(pieces) > 700
    pd.testing.assert_frame_equal(whole, pieces)
    assert pieces.attrs["query"].count("\n") == 3


def test_fdsn_no_events_is_an_empty_catalog_and_is_cached(srv, tmp_path):
    base = srv.url + "/fdsnws/event/1/query"
    df = fetch_catalog("2001-01-01", "2001-01-02", base_url=base, client=_client(tmp_path))
    assert len(df) == 0 and list(df.columns)[:3] == ["time", "latitude_deg", "longitude_deg"]
    fetch_catalog("2001-01-01", "2001-01-02", base_url=base, client=_client(tmp_path))
    assert len(srv.requests) == 1


def test_fdsn_bad_request_names_the_service_words(srv, tmp_path):
    with pytest.raises(FetchError, match="unknown format|Bad Request"):
        fetch_catalog("2019-07-06", "2019-07-08", base_url=srv.url + "/fdsnws/event/1/query",
                      format="quakeml", client=_client(tmp_path))


# ------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------

def _cli(args, **kw):
    return CliRunner().invoke(main, args, catch_exceptions=False, **kw)


def test_cli_fetch_geomag_netcdf_then_cache(srv, tmp_path):
    from geoanom.io.netcdf import read_netcdf

    out = tmp_path / "bou.nc"
    args = ["fetch", "geomag", "--station", "BOU", "--start", "2014-11-01",
            "--end", "2014-11-02T23:59:00Z", "--base-url", srv.url + "/ws/data/",
            "--cache", str(tmp_path / "cache"), "--min-interval", "0", "-o", str(out)]
    r = _cli(args)
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["samples"] == 2880 and s["requests"] == 2 and s["downloaded"] == 2
    rec = read_netcdf(out)
    want = _bou_days(srv, "01", "02")
    np.testing.assert_array_equal(rec["H"].values, want["H"].values)
    prov = json.loads(xr.load_dataset(out).attrs["geoanom_provenance"])
    assert prov["config"]["urls"][0].startswith(srv.url + "/ws/data/?id=BOU")
    assert len(prov["inputs"]) == 2  # checksums of the cached answers
    r2 = _cli(args)
    assert json.loads(r2.stdout)["from_cache"] == 2 and len(srv.requests) == 2


def test_cli_fetch_geomag_iaga_output_round_trips(srv, tmp_path):
    out = tmp_path / "bou20141101vmin.min"
    r = _cli(["fetch", "geomag", "--station", "BOU", "--start", "2014-11-01", "--end",
              "2014-11-01T23:59:00Z", "--base-url", srv.url + "/ws/data/", "--cache",
              str(tmp_path / "cache"), "--min-interval", "0", "-o", str(out)])
    assert r.exit_code == 0, r.output
    back = read_iaga2002(out)
    want = _bou_days(srv, "01")
    np.testing.assert_array_equal(back["F"].values, want["F"].values)
    prov = json.loads((tmp_path / "bou20141101vmin.min.provenance.json").read_text())
    assert prov["config"]["station"] == "BOU"


def test_cli_fetch_catalog(srv, tmp_path):
    out = tmp_path / "cat.csv"
    r = _cli(["fetch", "catalog", "--start", "2019-07-06", "--end", "2019-07-13",
              "--min-magnitude", "3.5", "--base-url", srv.url + "/fdsnws/event/1/query",
              "--cache", str(tmp_path / "cache"), "--min-interval", "0", "-o", str(out)])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    df = read_catalog(out)
    assert s["events"] == len(df) > 50 and df["magnitude"].min() >= 3.5
    assert df.attrs["format"] == "geoanom"


def test_cli_offline_error_is_exit_2_with_a_message(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/fdsnws/event/1/query"
    r = CliRunner().invoke(main, ["fetch", "catalog", "--start", "2019-07-06", "--end",
                                  "2019-07-07", "--base-url", url, "--cache",
                                  str(tmp_path / "c"), "-o", str(tmp_path / "x.csv")])
    assert r.exit_code == 2
    assert "Traceback" not in r.stderr and url in r.stderr and "--cache" in r.stderr
    assert not (tmp_path / "x.csv").exists()


def test_cli_bad_box_is_exit_2(tmp_path):
    r = CliRunner().invoke(main, ["fetch", "catalog", "--start", "2019-07-06", "--end",
                                  "2019-07-07", "--box", "1,2,3", "-o", str(tmp_path / "x")])
    assert r.exit_code == 2 and "--box" in r.stderr


def test_cli_verbose_logs_each_request_on_stderr(srv, tmp_path):
    import logging

    args = ["fetch", "geomag", "--station", "BOU", "--start", "2014-11-01", "--end",
            "2014-11-01", "--base-url", srv.url + "/ws/data/", "--min-interval", "0",
            "--cache", str(tmp_path / "c"), "--refresh", "-o", str(tmp_path / "o.nc")]
    level = logging.getLogger("geoanom").level
    try:
        quiet = _cli(args)
        loud = _cli(["-v", *args])
    finally:
        logging.getLogger("geoanom").setLevel(level)
    assert "GET " not in quiet.stderr
    assert f"INFO: GET {srv.url}/ws/data/?id=BOU" in loud.stderr
    assert json.loads(loud.stdout)["samples"] == 1440  # stdout stays one JSON document
