"""geoanom fetch indices against a local server on 127.0.0.1 that answers like the GFZ Kp
JSON service and WDC Kyoto's monthly Dst pages (no internet)."""

from __future__ import annotations

import calendar
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from click.testing import CliRunner

from geoanom.cli import main
from geoanom.errors import FormatError
from geoanom.io.indices import read_index
from geoanom.io.web import FetchError, WebClient, fetch_index


def _kp_value(i: int) -> float:
    return round((i % 27) / 3.0, 3)  # 0, 0.333, 0.667, ... 8.667 (decimal thirds)


def _dst_value(day: int, hour: int) -> int:
    return -((day * 7 + hour * 13) % 140) + 20  # -119..20, some below -99


def _kyoto_page(year: int, month: int, product: str) -> bytes:
    days = calendar.monthrange(year, month)[1]
    lines = ["<html><body><pre>", f"          {product.upper()} Dst", "", "DAY",
             "    1   2   3   4   5   6   7   8    9  10  11  12  13  14  15  16"
             "   17  18  19  20  21  22  23  24"]
    for d in range(1, days + 1):
        vals = [_dst_value(d, h) for h in range(24)]
        if product == "dst_realtime" and d == days:
            vals[-1] = 9999  # not yet observed
        groups = ["".join(f"{v:4d}" for v in vals[k:k + 8]) for k in (0, 8, 16)]
        lines.append(f"{d:2d}" + " ".join(groups))
    lines += ["</pre></body></html>"]
    return ("\n".join(lines) + "\n").encode()


class _Server:
    def __init__(self):
        self.requests: list[str] = []
        self.fail_next: dict[str, int] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                parts = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(parts.query))
                outer.requests.append(self.path)
                status, body = outer.answer(parts.path, q)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answer(self, path: str, q: dict) -> tuple[int, bytes]:
        if self.fail_next.get(path, 0) > 0:
            self.fail_next[path] -= 1
            return 503, b"Service Unavailable\n"
        if path == "/kp/":
            if q.get("index") != "Kp":
                return 400, b"bad index\n"
            t0 = np.datetime64(q["start"].rstrip("Z"), "s")
            t1 = np.datetime64(q["end"].rstrip("Z"), "s")
            t = np.arange(t0, t1 + np.timedelta64(1, "s"), np.timedelta64(3, "h"))
            base = np.datetime64("2000-01-01T00:00:00", "s")
            idx = ((t - base) // np.timedelta64(3, "h")).astype(int)
            doc = {"meta": {"source": "test"},
                   "datetime": [str(x) + "Z" for x in t],
                   "Kp": [_kp_value(i) for i in idx],
                   "status": ["def"] * len(t)}
            return 200, json.dumps(doc).encode()
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[2] == "index.html":
            product, yyyymm = parts[0], parts[1]
            y, m = int(yyyymm[:4]), int(yyyymm[4:])
            published = {"dst_final": (y, m) <= (2020, 1), "dst_provisional": (y, m) <= (2020, 2),
                         "dst_realtime": True}
            if not published.get(product, False):
                return 404, b"Not Found\n"
            return 200, _kyoto_page(y, m, product)
        return 404, b"Not Found\n"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server():
    s = _Server()
    yield s
    s.close()


def _client(tmp_path, **kw) -> WebClient:
    return WebClient(cache_dir=tmp_path / "cache", min_interval_s=0, backoff_s=0,
                     sleep=lambda s: None, **kw)


NOW = np.datetime64("2024-01-01T00:00:00", "ns")


def test_fetch_kp_gives_decimal_kp_on_the_3h_grid(server, tmp_path):
    c = _client(tmp_path)
    ds = fetch_index("kp", "2019-12-31", "2020-01-02", base_url=server.url + "/kp/",
                     client=c, now=NOW)
    assert ds.attrs["kind"] == "kp-3h" and ds.attrs["cadence_s"] == 10800.0
    assert str(ds["time"].values[0])[:19] == "2019-12-31T00:00:00"
    assert str(ds["time"].values[-1])[:19] == "2020-01-02T21:00:00"
    assert ds.sizes["time"] == 24
    i0 = int((np.datetime64("2019-12-31") - np.datetime64("2000-01-01"))
             // np.timedelta64(3, "h"))
    np.testing.assert_allclose(ds["Kp"].values, [round(_kp_value(i0 + k) * 3) / 3
                                                 for k in range(24)])
    assert len(server.requests) == 2  # one per calendar year
    # the same request again comes from the cache; --offline works from it
    c2 = _client(tmp_path, offline=True)
    ds2 = fetch_index("kp", "2019-12-31", "2020-01-02", base_url=server.url + "/kp/",
                      client=c2, now=NOW)
    assert len(server.requests) == 2 and all(e.from_cache for e in c2.log)
    np.testing.assert_array_equal(ds2["Kp"].values, ds["Kp"].values)


def test_fetch_dst_takes_the_best_published_version_and_retries(server, tmp_path):
    server.fail_next["/dst_final/202001/index.html"] = 2  # two 503s, then the answer
    c = _client(tmp_path, retries=3)
    ds = fetch_index("dst", "2020-01-30", "2020-03-01", base_url=server.url, client=c,
                     now=NOW)
    assert ds.attrs["kind"] == "dst-hourly"
    assert json.loads(ds.attrs["versions"]) == {"dst_final": 1, "dst_provisional": 1,
                                                "dst_realtime": 1}
    assert ds.sizes["time"] == (2 + 29 + 1) * 24
    t = ds["time"].values
    assert str(t[0])[:13] == "2020-01-30T00" and str(t[-1])[:13] == "2020-03-01T23"
    assert ds["Dst_nT"].values[0] == _dst_value(30, 0)
    assert ds["Dst_nT"].values[-1] == _dst_value(1, 23)
    # retries happened on the server's 503s
    assert sum(r == "/dst_final/202001/index.html" for r in server.requests) == 3


def test_fetch_dst_marks_9999_missing(server, tmp_path):
    ds = fetch_index("dst", "2020-03-31", "2020-03-31", base_url=server.url,
                     client=_client(tmp_path), now=NOW)
    assert np.isnan(ds["Dst_nT"].values[-1]) and np.isfinite(ds["Dst_nT"].values[:-1]).all()


def test_cli_fetch_indices_writes_a_file_read_index_reads(server, tmp_path):
    out = tmp_path / "kp.csv"
    r = CliRunner().invoke(main, ["fetch", "indices", "--index", "kp", "--start", "2020-01-01",
                                  "--end", "2020-01-01", "--base-url", server.url + "/kp/",
                                  "--cache", str(tmp_path / "c"), "--min-interval", "0",
                                  "--no-progress", "-o", str(out)])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["values"] == 8 and summary["downloaded"] == 1
    ds = read_index(out)
    assert ds.attrs["kind"] == "kp-3h" and ds.sizes["time"] == 8
    assert out.read_text().startswith("# geoanom index csv 1\n# provenance: {")
    out2 = tmp_path / "dst.csv"
    r = CliRunner().invoke(main, ["fetch", "indices", "--index", "dst", "--start", "2020-02-01",
                                  "--end", "2020-02-02", "--base-url", server.url,
                                  "--cache", str(tmp_path / "c"), "--min-interval", "0",
                                  "--no-progress", "-o", str(out2)])
    assert r.exit_code == 0, r.output
    d = read_index(out2)
    assert d.attrs["kind"] == "dst-hourly" and d.sizes["time"] == 48


@pytest.mark.parametrize("answer, match", [
    (b"<html>maintenance</html>", "not JSON"),
    (json.dumps({"datetime": ["2020-01-01T00:00:00Z"]}).encode(), "lacks its datetime"),
    (json.dumps({"datetime": ["2020-01-01T00:00:00Z"], "Kp": [4.5]}).encode(), "no Kp"),
])
def test_bad_kp_answers_exit_2_and_leave_nothing(server, tmp_path, answer, match):
    server.answer = lambda path, q: (200, answer)
    out = tmp_path / "kp.csv"
    r = CliRunner().invoke(main, ["fetch", "indices", "--index", "kp", "--start", "2020-01-01",
                                  "--end", "2020-01-01", "--base-url", server.url + "/kp/",
                                  "--cache", str(tmp_path / "c"), "--no-progress",
                                  "--min-interval", "0", "-o", str(out)])
    assert r.exit_code == 2 and match in r.output
    assert not out.exists() and not list((tmp_path / "c").rglob("*.json*"))


def test_dst_page_without_table_and_offline_miss(server, tmp_path):
    server.answer = lambda path, q: (200, b"<html><pre>no data</pre></html>")
    with pytest.raises(FormatError, match="no hourly Dst table") as ei:
        fetch_index("dst", "2020-01-01", "2020-01-01", base_url=server.url,
                    client=_client(tmp_path), now=NOW)
    assert ei.value.path.endswith("/dst_final/202001/index.html")
    assert not list((tmp_path / "cache").rglob("*.html"))  # a bad answer is never cached
    with pytest.raises(FetchError, match="--offline"):
        fetch_index("kp", "2021-01-01", "2021-01-01", base_url=server.url + "/kp/",
                    client=_client(tmp_path, offline=True), now=NOW)


def test_fetch_catalog_reads_another_dialect_through_map(server, tmp_path):
    """A service answering in a delimited dialect of its own is read through --map."""
    body = (b"year,month,day,hour,minute,second,lat,lon,depth_km,mag,col11\n"
            b"2019.0,7.0,6.0,3.0,19.0,53.0,35.77,-117.6,8.0,7.1,1.0\n"
            b"2019.0,7.0,4.0,17.0,33.0,49.0,35.71,-117.5,10.5,6.4,1.0\n")
    server.answer = lambda path, q: (200, body) if path == "/q" else (404, b"")
    out = tmp_path / "cat.csv"
    args = ["fetch", "catalog", "--start", "2019-07-01", "--end", "2019-07-10",
            "--base-url", server.url + "/q", "--cache", str(tmp_path / "c"),
            "--min-interval", "0", "--no-progress", "-o", str(out)]
    r = CliRunner().invoke(main, [*args, "--map", "world-m5"])
    assert r.exit_code == 0, r.output
    from geoanom.io import read_catalog

    df = read_catalog(out)
    assert df["magnitude"].tolist() == [6.4, 7.1]  # sorted by time
    # without the mapping the ComCat reader refuses the answer, naming the URL
    r = CliRunner().invoke(main, [*args, "--refresh"])
    assert r.exit_code == 2 and "not a readable csv catalog" in r.output
    r = CliRunner().invoke(main, [*args, "--map", "magdas-euel"])
    assert r.exit_code == 2 and "for records" in r.output
