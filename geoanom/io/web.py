"""Fetch station records and catalogs from public web services, with a local cache.

Services (the endpoints are documented by their operators):

* **USGS Geomagnetism Program** data web service, ``https://geomag.usgs.gov/ws/data/``:
  parameters ``id`` (IAGA code), ``starttime``/``endtime`` (ISO 8601 UTC, inclusive),
  ``elements`` (e.g. ``X,Y,Z,F``; the service's default when omitted), ``sampling_period``
  (s: 1, 60, 3600, 86400), ``type`` (``variation``, ``adjusted``, ``quasi-definitive``,
  ``definitive``) and ``format=iaga2002``.
* **INTERMAGNET** through its data portal's *GetData* web service hosted by the British
  Geological Survey (GIN), ``https://imag-data.bgs.ac.uk/GIN_V1/GINServices``:
  ``Request=GetData&format=IAGA2002&testObsys=0&observatoryIagaCode=..&samplesPerDay=minute|
  second&orientation=Native|XYZF|HDZF&publicationState=adj-or-rep|best-avail|definitive&
  recordTermination=UNIX&dataStartDate=YYYY-MM-DD&dataDuration=DAYS``. (The same portal also
  offers a HAPI server; GetData is used because it returns IAGA-2002, which the existing
  reader parses exactly.)
* **FDSN event service** ``fdsnws/event/1/query`` (default: USGS ComCat,
  ``https://earthquake.usgs.gov/fdsnws/event/1/query``): ``starttime``, ``endtime``,
  ``minmagnitude``, ``maxmagnitude``, ``mindepth``, ``maxdepth``, a box
  (``minlatitude``...) or a circle (``latitude``, ``longitude``, ``maxradius`` in degrees),
  ``orderby=time-asc`` and ``format``: ``text`` (FDSN standard, ``|``-separated), ``xml``
  (QuakeML) or ``csv`` (a ComCat extension, the default here because it carries the event
  type, so explosions can be dropped). HTTP 204 means "no events".

Every request goes through :class:`WebClient`: a cache keyed by the request (the sorted
query), atomic writes, retries with exponential back-off on HTTP 5xx/429 and time-outs (never
on other 4xx), a minimum interval between requests to one host, a ``User-Agent`` naming
geoanom and its version, and a :class:`FetchError` naming the URL when the network is not
there. A response is parsed with the existing readers *before* it enters the cache, so the
cache holds only data that was read successfully. Only stdlib ``urllib`` is used.

Geomagnetic data are requested one UTC day per request (one calendar year for hourly or
daily means), like the daily IAGA-2002 files observatories publish; days fetched once are
reused by any later request that covers them.
"""

from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import http.client
import io
import json
import logging
import os
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geoanom._atomic import atomic_path, atomic_write_text
from geoanom._progress import Progress
from geoanom._version import __version__
from geoanom.catalog_frame import make_catalog, validate_catalog
from geoanom.errors import ConfigError, FormatError, GeoanomError
from geoanom.io import read_catalog
from geoanom.io.iaga2002 import read_iaga2002
from geoanom.io.indices import kp_decimal, make_index
from geoanom.record import append_history

__all__ = [
    "FDSN_COMCAT_URL",
    "GFZ_KP_URL",
    "KYOTO_WDC_URL",
    "INTERMAGNET_GIN_URL",
    "USGS_GEOMAG_URL",
    "FetchError",
    "FetchLogEntry",
    "WebClient",
    "build_url",
    "default_cache_dir",
    "fdsn_event_params",
    "fetch_catalog",
    "fetch_geomag",
    "fetch_index",
    "geomag_chunks",
    "gfz_kp_params",
    "intermagnet_params",
    "parse_utc",
    "request_key",
    "usgs_geomag_params",
]

log = logging.getLogger(__name__)

USGS_GEOMAG_URL = "https://geomag.usgs.gov/ws/data/"
INTERMAGNET_GIN_URL = "https://imag-data.bgs.ac.uk/GIN_V1/GINServices"
FDSN_COMCAT_URL = "https://earthquake.usgs.gov/fdsnws/event/1/query"

USER_AGENT = (f"geoanom/{__version__} (geomagnetic anomaly research; "
              f"Python-urllib/{sys.version_info.major}.{sys.version_info.minor})")

USGS_DATA_TYPES = ("variation", "adjusted", "quasi-definitive", "definitive")
INTERMAGNET_STATES = ("adj-or-rep", "best-avail", "definitive", "quasi-definitive",
                      "reported", "adjusted")
CATALOG_FORMATS = ("csv", "text", "quakeml")

# A response whose request ends less than this before now may still change (near-real-time
# data, catalog revisions); it is used but not cached.
_SETTLE = np.timedelta64(1, "D")


class FetchError(GeoanomError):
    """A web request failed: offline, refused (4xx), or the service kept failing (5xx)."""


def default_cache_dir() -> Path:
    """The cache folder: ``$GEOANOM_CACHE_DIR``, else the platform's user cache folder.

    Linux ``$XDG_CACHE_HOME/geoanom`` (``~/.cache/geoanom``), macOS
    ``~/Library/Caches/geoanom``, Windows ``%LOCALAPPDATA%\\geoanom\\Cache``.
    """
    env = os.environ.get("GEOANOM_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "geoanom" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "geoanom"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "geoanom"


@dataclass
class FetchLogEntry:
    """One request as served: its URL, the cache file and whether it came from the cache."""

    url: str
    cache_path: Path | None
    from_cache: bool
    status: int


@dataclass
class _Response:
    body: bytes
    status: int


def _first_line(body: bytes, limit: int = 200) -> str:
    text = body.decode("utf-8", "replace")
    # services answer errors in HTML or plain text; the first non-empty line says why
    for ln in text.splitlines():
        s = ln.strip()
        if s and not s.startswith("<!") and s.lower() not in ("<html>", "<head>", "<body>"):
            return s[:limit]
    return ""


def build_url(base: str, params: Mapping[str, Any]) -> str:
    """``base?query`` with parameters in the given order (None values left out)."""
    items = [(k, _param_text(v)) for k, v in params.items() if v is not None]
    if not items:
        return base
    sep = "&" if "?" in base else "?"
    return base + sep + urllib.parse.urlencode(items, safe=",:")


def _param_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v)
    return str(v)


def request_key(base: str, params: Mapping[str, Any]) -> str:
    """SHA-256 of the request: the base URL and the sorted, non-None parameters."""
    items = sorted((k, _param_text(v)) for k, v in params.items() if v is not None)
    doc = json.dumps([base.rstrip("?"), items], separators=(",", ":"))
    return hashlib.sha256(doc.encode()).hexdigest()


def _is_offline(reason: object) -> bool:
    if isinstance(reason, (socket.gaierror, ConnectionRefusedError)):
        return True
    return isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH,
                                                           errno.EHOSTUNREACH)


@dataclass
class WebClient:
    """HTTP GET with a cache, retries, back-off and a polite request rate.

    Parameters
    ----------
    cache_dir
        Cache folder (default :func:`default_cache_dir`).
    use_cache
        Read and write the cache.
    refresh
        Ignore cached answers (fetch again and overwrite them).
    offline
        Never touch the network: answer from the cache or fail.
    min_interval_s
        Shortest time between two requests to one host (s).
    retries
        Further attempts after a 5xx, a 429 or a time-out.
    backoff_s, max_backoff_s
        Wait before retry ``i`` (0-based): ``min(backoff_s * 2**i, max_backoff_s)`` s, or the
        server's ``Retry-After`` when that is longer (capped at ``max_backoff_s``).
    timeout_s
        Socket time-out of one attempt (s).
    sleep, clock
        Injected for tests (default ``time.sleep``, ``time.monotonic``).
    opener
        ``opener(request, timeout)`` returning a response (default ``urllib.request.urlopen``).
    """

    cache_dir: Path | None = None
    use_cache: bool = True
    refresh: bool = False
    offline: bool = False
    min_interval_s: float = 1.0
    retries: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    timeout_s: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    opener: Callable[..., Any] | None = None
    log: list[FetchLogEntry] = field(default_factory=list)
    _last: dict[str, float] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.cache_dir = default_cache_dir() if self.cache_dir is None else Path(self.cache_dir)
        if self.min_interval_s < 0 or self.backoff_s < 0 or self.retries < 0:
            raise ConfigError("web client settings must be >= 0",
                              found=f"min_interval_s={self.min_interval_s}, "
                                    f"backoff_s={self.backoff_s}, retries={self.retries}")

    # ---------------------------------------------------------------------------------
    def cache_path(self, kind: str, key: str, label: str = "", ext: str = "dat") -> Path:
        """Where the answer to a request is cached: ``<cache>/<kind>/<label>-<key16>.<ext>``."""
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)
        name = f"{safe}-{key[:16]}" if safe else key[:16]
        return Path(self.cache_dir) / kind / f"{name}.{ext}"  # type: ignore[arg-type]

    def get(self, base: str, params: Mapping[str, Any], *, kind: str, label: str = "",
            ext: str = "dat", parse: Callable[[bytes, str], Any] | None = None,
            cacheable: bool = True) -> tuple[bytes, Any]:
        """GET ``base?params``; answer from the cache when possible.

        Parameters
        ----------
        base, params
            The endpoint and the query (None values are left out).
        kind, label, ext
            Cache sub-folder, a readable part of the file name, and its extension.
        parse
            ``parse(body, url)`` reads the answer and raises a GeoanomError if it is not
            valid; only a valid answer is cached. Its value is returned.
        cacheable
            False for answers that may still change (recent data): used, not cached.

        Returns
        -------
        (bytes, object)
            The body and ``parse``'s value (None without ``parse``).
        """
        url = build_url(base, params)
        key = request_key(base, params)
        path = self.cache_path(kind, key, label, ext)
        if self.use_cache and not self.refresh and path.is_file():
            body = path.read_bytes()
            meta = self._read_meta(path)
            status = int(meta.get("status", 200))
            log.debug("cache hit %s -> %s", url, path)
            try:
                value = parse(body, url) if parse is not None else None
            except GeoanomError as exc:
                raise FetchError(f"the cached answer {path} is not valid ({exc}); "
                                 "rerun with --refresh to fetch it again", path=url) from exc
            self.log.append(FetchLogEntry(url, path, True, status))
            return body, value
        if self.offline:
            raise FetchError("not in the cache and --offline forbids the network",
                             path=url, expected=f"a cached answer at {path}",
                             found="no cached file")
        resp = self._fetch(url)
        value = parse(resp.body, url) if parse is not None else None
        stored: Path | None = None
        if self.use_cache and cacheable:
            stored = path
            meta = {"url": url, "status": resp.status, "bytes": len(resp.body),
                    "sha256": hashlib.sha256(resp.body).hexdigest(),
                    "fetched_utc": _dt.datetime.now(_dt.timezone.utc)
                    .strftime("%Y-%m-%dT%H:%M:%SZ"), "user_agent": USER_AGENT}
            # the body is the commit point: a meta file without its body is never used
            atomic_write_text(path.with_suffix(path.suffix + ".json"),
                              json.dumps(meta, indent=1) + "\n")
            with atomic_path(path) as tmp:
                tmp.write_bytes(resp.body)
        self.log.append(FetchLogEntry(url, stored, False, resp.status))
        return resp.body, value

    @staticmethod
    def _read_meta(path: Path) -> dict:
        try:
            return json.loads(path.with_suffix(path.suffix + ".json").read_text("utf-8"))
        except (OSError, ValueError):
            return {}

    # ---------------------------------------------------------------------------------
    def _wait_turn(self, url: str) -> None:
        host = urllib.parse.urlsplit(url).netloc
        last = self._last.get(host)
        if last is not None:
            wait = self.min_interval_s - (self.clock() - last)
            if wait > 0:
                self.sleep(wait)
        self._last[host] = self.clock()

    def _open(self, req: urllib.request.Request) -> Any:
        opener = self.opener or urllib.request.urlopen
        return opener(req, timeout=self.timeout_s)

    def _fetch(self, url: str) -> _Response:
        req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT,
                                                   "Accept": "*/*"})
        last_problem = ""
        for attempt in range(self.retries + 1):
            self._wait_turn(url)
            retry_after: float | None = None
            log.info("GET %s%s", url, f" (attempt {attempt + 1})" if attempt else "")
            try:
                with self._open(req) as r:
                    status = int(getattr(r, "status", 200) or 200)
                    body = r.read()
                return _Response(body, status)
            except urllib.error.HTTPError as exc:
                try:
                    detail = _first_line(exc.read() or b"")
                except (OSError, http.client.HTTPException):
                    detail = ""
                code = int(exc.code)
                if code != 429 and not 500 <= code < 600:
                    hint = " (no data for this request?)" if code == 404 else ""
                    raise FetchError(f"the service refused the request: HTTP {code} "
                                     f"{exc.reason}{hint}", path=url,
                                     expected="HTTP 200",
                                     found=detail or f"HTTP {code}") from None
                ra = exc.headers.get("Retry-After") if exc.headers else None
                try:
                    retry_after = float(ra) if ra is not None else None
                except ValueError:
                    retry_after = None
                last_problem = f"HTTP {code} {exc.reason}" + (f": {detail}" if detail else "")
            except urllib.error.URLError as exc:
                reason = exc.reason
                if _is_offline(reason):
                    raise _offline_error(url, reason) from None
                if not isinstance(reason, (TimeoutError, ConnectionError)):
                    raise FetchError(f"cannot fetch ({reason})", path=url) from None
                last_problem = f"{type(reason).__name__}: {reason}"
            except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
                if isinstance(exc, ConnectionRefusedError):
                    raise _offline_error(url, exc) from None
                last_problem = f"{type(exc).__name__}: {exc}"
            if attempt == self.retries:
                break
            delay = min(self.backoff_s * 2 ** attempt, self.max_backoff_s)
            if retry_after is not None:
                delay = min(max(delay, retry_after), self.max_backoff_s)
            log.warning("%s failed (%s); retrying in %.3g s", url, last_problem, delay)
            self.sleep(delay)
        raise FetchError(f"the service kept failing; gave up after {self.retries + 1} "
                         "attempts", path=url, expected="HTTP 200", found=last_problem)


def _offline_error(url: str, reason: object) -> FetchError:
    host = urllib.parse.urlsplit(url).netloc
    what = "name lookup failed" if isinstance(reason, socket.gaierror) else str(reason)
    return FetchError(f"cannot reach {host} ({what}); are you offline? Answers fetched "
                      "before are reused from the cache: rerun with --cache DIR pointing "
                      "at the folder that holds them (and --offline to stay off the "
                      "network)", path=url)


# ---------------------------------------------------------------------------------------
# time handling
# ---------------------------------------------------------------------------------------

def _is_bare_date(text: object) -> bool:
    return (isinstance(text, str) and len(text.strip()) == 10 and text.strip()[4] == "-"
        and text.strip()[7] == "-")


def parse_utc(text: str | np.datetime64 | _dt.datetime, what: str = "time", *,
              end_of_day: bool = False) -> np.datetime64:
    """A time given as ``YYYY-MM-DD``, ISO 8601 (``Z`` or an offset) or datetime, as UTC
    ``datetime64[ns]``.

    With ``end_of_day``, a bare date means the last nanosecond of that day (an end date
    covers the whole day).
    """
    if end_of_day and _is_bare_date(text):
        day = parse_utc(text, what)
        return day + np.timedelta64(1, "D") - np.timedelta64(1, "ns")

    try:
        t = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise ConfigError(f"cannot read the {what}", expected="YYYY-MM-DD or ISO 8601 UTC",
                          found=str(text)) from None
    if t is pd.NaT:
        raise ConfigError(f"cannot read the {what}", expected="YYYY-MM-DD or ISO 8601 UTC",
                          found=str(text))
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return np.datetime64(t.as_unit("ns").to_datetime64(), "ns")


def _iso(t: np.datetime64) -> str:
    return str(np.datetime_as_string(t.astype("datetime64[s]"), unit="s")) + "Z"


def geomag_chunks(start: np.datetime64, end: np.datetime64, sampling_period_s: float
                  ) -> list[tuple[np.datetime64, int]]:
    """The requests covering ``[start, end]``: (first UTC day, number of days).

    One day per request below hourly sampling (the unit of daily IAGA-2002 files), one
    calendar year per request for hourly and daily means.
    """
    d0 = start.astype("datetime64[D]")
    d1 = end.astype("datetime64[D]")
    if d1 < d0:
        raise ConfigError("the end is before the start", expected=f"an end after {d0}",
                          found=str(d1))
    if sampling_period_s < 3600:
        return [(d, 1) for d in np.arange(d0, d1 + 1, dtype="datetime64[D]")]
    out = []
    y0, y1 = int(str(d0)[:4]), int(str(d1)[:4])
    for y in range(y0, y1 + 1):
        a = np.datetime64(f"{y}-01-01", "D")
        b = np.datetime64(f"{y + 1}-01-01", "D")
        out.append((a, int((b - a).astype(int))))
    return out


# ---------------------------------------------------------------------------------------
# geomagnetic data
# ---------------------------------------------------------------------------------------

def usgs_geomag_params(station: str, day: np.datetime64, days: int = 1, *,
                       sampling_period_s: float = 60, data_type: str = "variation",
                       elements: Sequence[str] | None = None) -> dict[str, Any]:
    """Query of the USGS data web service for ``days`` UTC days from ``day``."""
    if data_type not in USGS_DATA_TYPES:
        raise ConfigError("unknown USGS data type", expected=" | ".join(USGS_DATA_TYPES),
                          found=str(data_type))
    if sampling_period_s not in (1, 60, 3600, 86400):
        raise ConfigError("the USGS service serves sampling periods 1, 60, 3600, 86400 s",
                          expected="1, 60, 3600 or 86400", found=f"{sampling_period_s:g}")
    t0 = np.datetime64(day, "D").astype("datetime64[s]")
    t1 = t0 + np.timedelta64(86400 * days - int(sampling_period_s), "s")
    return {
        "id": station.upper(),
        "starttime": _iso(t0),
        "endtime": _iso(t1),
        "elements": ",".join(e.upper() for e in elements) if elements else None,
        "sampling_period": int(sampling_period_s),
        "type": data_type,
        "format": "iaga2002",
    }


def intermagnet_params(station: str, day: np.datetime64, days: int = 1, *,
                       sampling_period_s: float = 60, publication_state: str = "adj-or-rep",
                       orientation: str = "Native") -> dict[str, Any]:
    """Query of INTERMAGNET's GIN ``GetData`` service for ``days`` UTC days from ``day``."""
    spd = ({1: "second", 60: "minute"}.get(int(sampling_period_s))
        if float(sampling_period_s).is_integer() else None)
    if spd is None:
        raise ConfigError("INTERMAGNET serves 1-second and 1-minute data",
                          expected="1 or 60", found=f"{sampling_period_s:g}")
    if publication_state not in INTERMAGNET_STATES:
        raise ConfigError("unknown INTERMAGNET publication state",
                          expected=" | ".join(INTERMAGNET_STATES), found=publication_state)
    return {
        "Request": "GetData",
        "format": "IAGA2002",
        "testObsys": 0,
        "observatoryIagaCode": station.upper(),
        "samplesPerDay": spd,
        "orientation": orientation,
        "publicationState": publication_state,
        "recordTermination": "UNIX",
        "dataStartDate": str(np.datetime64(day, "D")),
        "dataDuration": int(days),
    }


def _named(body: bytes, name: str) -> io.BytesIO:
    # the IAGA-2002 reader names a buffer by its ``name``: errors then name the URL
    buf = io.BytesIO(body)
    buf.name = name  # type: ignore[attr-defined]
    return buf


def _iaga_parser(station: str) -> Callable[[bytes, str], Any]:
    def parse(body: bytes, url: str) -> Any:
        if not body.strip():
            raise FormatError("the service answered with no data", path=url,
                              expected="IAGA-2002 text", found="an empty answer")
        rec = read_iaga2002(_named(body, url), strict_cadence=False)
        code = str(rec.attrs.get("iaga_code", "")).upper()
        if code and code != station.upper():
            raise FormatError("the answer is for another station", path=url,
                              expected=station.upper(), found=code)
        return rec

    return parse


def _settled(end: np.datetime64, now: np.datetime64 | None) -> bool:
    now = (np.datetime64(_dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None), "ns")
        if now is None else now)
    return bool(end + _SETTLE <= now)


def fetch_geomag(station: str, start: str | np.datetime64, end: str | np.datetime64, *,
                 service: str = "usgs", sampling_period_s: float = 60,
                 data_type: str = "variation", elements: Sequence[str] | None = None,
                 publication_state: str = "adj-or-rep", orientation: str = "Native",
                 base_url: str | None = None, client: WebClient | None = None,
                 progress: bool | None = None, now: np.datetime64 | None = None):
    """Fetch a station record from the USGS or INTERMAGNET web service.

    Parameters
    ----------
    station
        IAGA code (``BOU``, ``ESK``...).
    start, end
        First and last time wanted (UTC, inclusive); an ``end`` given as a bare date
        ``YYYY-MM-DD`` covers that whole day.
    service
        ``"usgs"`` or ``"intermagnet"``.
    sampling_period_s
        60 (1-minute) or 1 (1-second); USGS also serves 3600 and 86400.
    data_type, elements
        USGS only: ``variation`` / ``adjusted`` / ``quasi-definitive`` / ``definitive``, and
        the elements (service default when None).
    publication_state, orientation
        INTERMAGNET only (``adj-or-rep``, ``best-avail``, ``definitive``...; ``Native``,
        ``XYZF``, ``HDZF``).
    base_url
        Another server speaking the same protocol (a mirror; tests use a local one).
    client
        The :class:`WebClient` (a default one otherwise); its ``log`` lists the requests.
    progress
        Progress bar on stderr (None: on a terminal).
    now
        The present, for deciding what is too recent to cache (tests).

    Returns
    -------
    xarray.Dataset
        The station record trimmed to ``[start, end]``, with a history entry naming the
        service.
    """
    client = WebClient() if client is None else client
    t0, t1 = parse_utc(start, "start"), parse_utc(end, "end", end_of_day=True)
    if t1 < t0:
        raise ConfigError("the end is before the start", expected=f"an end after {start}",
                          found=str(end))
    service = service.lower()
    if service == "usgs":
        base = base_url or USGS_GEOMAG_URL

        def params(day, days):
            return usgs_geomag_params(station, day, days, sampling_period_s=sampling_period_s,
                                      data_type=data_type, elements=elements)
    elif service == "intermagnet":
        base = base_url or INTERMAGNET_GIN_URL

        def params(day, days):
            return intermagnet_params(station, day, days, sampling_period_s=sampling_period_s,
                                      publication_state=publication_state,
                                      orientation=orientation)
    else:
        raise ConfigError("unknown geomagnetic data service", expected="usgs | intermagnet",
                          found=service)
    ext = "sec" if sampling_period_s < 60 else "min"
    chunks = geomag_chunks(t0, t1, sampling_period_s)
    parse = _iaga_parser(station)
    bodies: list[tuple[bytes, str]] = []
    with Progress(len(chunks), f"fetch {station.upper()}", progress) as bar:
        for day, days in chunks:
            q = params(day, days)
            last = day + np.timedelta64(days, "D")
            body, _ = client.get(base, q, kind=f"{service}-geomag",
                                 label=f"{station.upper()}-{day}-{int(sampling_period_s)}s",
                                 ext=ext, parse=parse,
                                 cacheable=_settled(last.astype("datetime64[ns]"), now))
            bodies.append((body, client.log[-1].url))
            bar.update(1, str(day))
    rec = read_iaga2002([_named(b, u) for b, u in bodies], strict_cadence=False)
    rec = rec.sel(time=slice(t0, t1))
    if rec.sizes["time"] == 0:
        raise FetchError("the service returned no samples inside the requested interval",
                         path=bodies[0][1], expected=f"samples in {_iso(t0)} .. {_iso(t1)}",
                         found="none")
    return append_history(rec, f"fetched from {service} ({base}): {station.upper()} "
                               f"{_iso(t0)} .. {_iso(t1)}, {len(chunks)} request(s)")


# ---------------------------------------------------------------------------------------
# catalogs
# ---------------------------------------------------------------------------------------

def fdsn_event_params(start: str | np.datetime64, end: str | np.datetime64, *,
                      min_magnitude: float | None = None, max_magnitude: float | None = None,
                      min_depth_km: float | None = None, max_depth_km: float | None = None,
                      box: Sequence[float] | None = None,
                      circle: Sequence[float] | None = None, format: str = "csv",
                      limit: int | None = None) -> dict[str, Any]:
    """Query of an FDSN event service.

    Parameters
    ----------
    start, end
        Time interval (UTC); an ``end`` given as a bare date covers that whole day.
    min_magnitude, max_magnitude, min_depth_km, max_depth_km
        Bounds (None: none).
    box
        ``(min_lat, max_lat, min_lon, max_lon)`` in degrees.
    circle
        ``(lat, lon, max_radius_deg)``: events within this great-circle distance (degrees).
    format
        ``csv`` (ComCat), ``text`` (FDSN standard) or ``quakeml``.
    limit
        Maximum number of events (None: the service's limit).
    """
    if format not in CATALOG_FORMATS:
        raise ConfigError("unknown catalog format", expected=" | ".join(CATALOG_FORMATS),
                          found=str(format))
    if box is not None and circle is not None:
        raise ConfigError("give a box or a circle, not both", found="both")
    t0, t1 = parse_utc(start, "start"), parse_utc(end, "end", end_of_day=True)
    if t1 < t0:
        raise ConfigError("the end is before the start", expected=f"an end after {start}",
                          found=str(end))
    if _is_bare_date(end):
        t1 = t1 + np.timedelta64(1, "ns")  # an end date covers that whole day: next midnight
    q: dict[str, Any] = {
        "starttime": _iso(t0),
        "endtime": _iso(t1),
        "minmagnitude": min_magnitude, "maxmagnitude": max_magnitude,
        "mindepth": min_depth_km, "maxdepth": max_depth_km,
    }
    if box is not None:
        la0, la1, lo0, lo1 = (float(v) for v in box)
        if not (-90 <= la0 <= la1 <= 90):
            raise ConfigError("bad latitude range", expected="-90 <= min <= max <= 90",
                              found=f"{la0:g} .. {la1:g}")
        q.update(minlatitude=la0, maxlatitude=la1, minlongitude=lo0, maxlongitude=lo1)
    if circle is not None:
        la, lo, r = (float(v) for v in circle)
        if not (-90 <= la <= 90) or not (0 < r <= 180):
            raise ConfigError("bad circle", expected="lat in -90..90, radius in (0, 180] deg",
                              found=f"lat {la:g}, radius {r:g}")
        q.update(latitude=la, longitude=lo, maxradius=r)
    q.update(orderby="time-asc", limit=limit, format="xml" if format == "quakeml" else format)
    return q


def _catalog_parser(format: str, mapping: Any = None) -> Callable[[bytes, str], Any]:
    reader_format = (None if mapping is not None else
        {"csv": "comcat", "text": "fdsn-text", "quakeml": "quakeml"}[format])

    def parse(body: bytes, url: str) -> Any:
        if not body.strip():
            return _empty_catalog(url)
        import tempfile

        # the catalog readers take a path; parse a private copy and name the URL on errors
        with tempfile.TemporaryDirectory(prefix="geoanom-fetch-") as d:
            p = Path(d) / "answer"
            p.write_bytes(body)
            try:
                df = read_catalog(p, format=reader_format, mapping=mapping)
            except GeoanomError as exc:
                raise FormatError(f"the answer is not a readable {format} catalog: "
                                  f"{exc.message}", path=url, line=exc.line,
                                  expected=exc.expected, found=exc.found) from None
        df.attrs["query"] = url
        return df

    return parse


def _empty_catalog(url: str):
    return make_catalog([], [], [], [], source="fdsn", query=url)


def fetch_catalog(start: str | np.datetime64, end: str | np.datetime64, *,
                  base_url: str = FDSN_COMCAT_URL, format: str = "csv",
                  client: WebClient | None = None, chunk_days: float | None = None,
                  progress: bool | None = None, now: np.datetime64 | None = None,
                  mapping: Any = None, **query: Any):
    """Fetch an earthquake catalog from an FDSN event service.

    Parameters
    ----------
    start, end
        Time interval (UTC); an ``end`` given as a bare date covers that whole day.
    base_url
        The ``.../fdsnws/event/1/query`` endpoint (default USGS ComCat).
    format
        ``csv`` (ComCat only), ``text`` (any FDSN service) or ``quakeml`` (needs the
        ``quakeml`` extra).
    client
        The :class:`WebClient` (a default one otherwise).
    chunk_days
        Split the interval into requests of this many days (None: one request). Services
        cap the events per answer (ComCat: 20,000); each piece is cached on its own. An
        event on a boundary is kept once (by ``event_id``). ``limit`` applies per piece.
    progress
        Progress bar on stderr over the pieces (None: on a terminal).
    now
        The present, for deciding what is too recent to cache (tests).
    mapping
        A catalog mapping (:mod:`geoanom.io.table`) for a service whose answer is a
        delimited table in another dialect (None: the ``format`` reader).
    **query
        :func:`fdsn_event_params` keywords (``min_magnitude``, ``box``, ``circle``...).

    Returns
    -------
    pandas.DataFrame
        The validated catalog frame (possibly empty: HTTP 204 means no events);
        ``attrs["query"]`` is the URL (one per line when chunked).
    """
    client = WebClient() if client is None else client
    q = fdsn_event_params(start, end, format=format, **query)  # checks everything once
    ext = {"csv": "csv", "text": "txt", "quakeml": "xml"}[format]
    host = urllib.parse.urlsplit(base_url).netloc.replace(":", "_")
    parse = _catalog_parser(format, mapping)
    t0 = parse_utc(q["starttime"], "start")
    t1 = parse_utc(q["endtime"], "end")
    if chunk_days is None:
        windows = [(t0, t1)]
    else:
        if not chunk_days > 0:
            raise ConfigError("chunk_days must be positive", found=str(chunk_days))
        step = np.timedelta64(int(round(float(chunk_days) * 86400)), "s")
        edges = list(np.arange(t0, t1, step)) + [t1]
        windows = list(zip(edges[:-1], edges[1:], strict=True)) or [(t0, t1)]
    frames = []
    with Progress(len(windows) if len(windows) > 1 else None, "fetch catalog",
                  False if len(windows) == 1 else progress) as bar:
        for w0, w1 in windows:
            qw = dict(q, starttime=_iso(w0), endtime=_iso(w1))
            _, df = client.get(base_url, qw, kind="fdsn-event", label=host, ext=ext,
                               parse=parse, cacheable=_settled(w1, now))
            frames.append(df)
            bar.update(1, str(w0.astype("datetime64[D]")))
    if len(frames) == 1:
        return frames[0]
    out = pd.concat(frames, ignore_index=True)
    out = out.drop_duplicates("event_id", keep="first")
    out = out.sort_values("time", kind="mergesort").reset_index(drop=True)
    attrs = dict(frames[0].attrs)
    for k, v in attrs.items():
        if k.startswith("n_") and isinstance(v, int):
            attrs[k] = int(sum(f.attrs.get(k, 0) for f in frames))
    attrs["query"] = "\n".join(f.attrs.get("query", "") for f in frames)
    out.attrs = attrs
    return validate_catalog(out)


# ---------------------------------------------------------------------------------------
# activity indices (geoanom fetch indices)
# ---------------------------------------------------------------------------------------

#: GFZ Potsdam Kp web service (JSON): ``?start=..Z&end=..Z&index=Kp`` answers
#: ``{"datetime": [...], "Kp": [...], "status": [...]}``, Kp in decimal thirds.
GFZ_KP_URL = "https://kp.gfz.de/app/json/"
#: WDC for Geomagnetism, Kyoto: monthly Dst pages ``<product>/YYYYMM/index.html`` with the
#: hourly values in a ``<pre>`` table, products ``dst_final``, ``dst_provisional``,
#: ``dst_realtime`` (tried in this order: the best published version of each month).
KYOTO_WDC_URL = "https://wdc.kugi.kyoto-u.ac.jp/"
INDICES = ("kp", "dst")
DST_PRODUCTS = ("dst_final", "dst_provisional", "dst_realtime")


def gfz_kp_params(start: np.datetime64, end: np.datetime64) -> dict[str, Any]:
    """Query of the GFZ Kp JSON service for the 3-hour intervals starting in
    ``[start, end]``."""
    return {"start": _iso(start), "end": _iso(end), "index": "Kp"}


def _kp_json_parser(body: bytes, url: str):
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormatError("the GFZ answer is not JSON", path=url,
                          expected='{"datetime": [...], "Kp": [...]}',
                          found=_first_line(body) or str(exc)) from None
    if (not isinstance(doc, dict) or not isinstance(doc.get("datetime"), list)
            or not isinstance(doc.get("Kp"), list) or len(doc["datetime"]) != len(doc["Kp"])):
        raise FormatError("the GFZ answer lacks its datetime and Kp lists", path=url,
                          expected='{"datetime": [...], "Kp": [...]} of one length',
                          found=", ".join(sorted(doc)) if isinstance(doc, dict)
                          else type(doc).__name__)
    try:
        t = pd.to_datetime(pd.Series(doc["datetime"], dtype=object), utc=True,
                           format="ISO8601").dt.tz_localize(None).to_numpy("datetime64[ns]")
        v = np.array([np.nan if x is None else float(x) for x in doc["Kp"]], dtype=float)
    except (TypeError, ValueError) as exc:
        raise FormatError("the GFZ answer holds an unreadable time or Kp", path=url,
                          expected="ISO 8601 times and numbers", found=str(exc)) from None
    kp, bad = kp_decimal(v)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise FormatError("the GFZ answer holds a value that is no Kp", path=url,
                          expected="Kp in 0..9 in thirds", found=f"{doc['Kp'][i]!r} at "
                                                                 f"{doc['datetime'][i]}")
    status = doc.get("status") if isinstance(doc.get("status"), list) else []
    return t, kp, [str(s) for s in status]


def _dst_page_parser(month: np.datetime64):
    import re

    days = int(((month + np.timedelta64(1, "M")).astype("datetime64[D]")
                - month.astype("datetime64[D]")).astype(int))
    value_re = re.compile(r"-?\d{1,4}")
    day_re = re.compile(r"\s*(\d{1,2})(?=[\s-])")

    def parse(body: bytes, url: str):
        text = re.sub(r"<[^>]*>", "", body.decode("utf-8", "replace"))
        rows: dict[int, list[float]] = {}
        for ln in text.splitlines():
            raw = ln.rstrip()
            m = day_re.match(raw)
            if not m:
                continue
            s = raw.strip()
            rest = raw[m.end():]
            vals = rest.split()
            if len(vals) != 24:
                # values that fill their 4 characters run together ("-120-1319999"): cut
                # the fixed-width layout (3 groups of 8 x 4 characters after the day,
                # separated by one blank, or not); the last value ends the line
                vals = []
                if len(rest) == 98:
                    cells = rest[:32] + rest[33:65] + rest[66:98]
                    vals = [cells[k:k + 4].strip() for k in range(0, 96, 4)]
                elif len(rest) == 96:
                    vals = [rest[k:k + 4].strip() for k in range(0, 96, 4)]
                if len(vals) != 24:
                    continue
            if not all(value_re.fullmatch(x) for x in vals):
                continue
            parts = [m.group(1)]
            day = int(parts[0])
            if not 1 <= day <= days or day in rows:
                raise FormatError("a Dst page holds an unexpected day row", path=url,
                                  expected=f"days 1..{days} once each", found=s[:60])
            rows[day] = [np.nan if x == "9999" else float(x) for x in vals]  # 9999: none
        if not rows:
            raise FormatError("no hourly Dst table in the answer", path=url,
                              expected="rows of a day number and 24 hourly values",
                              found=_first_line(body) or "an empty answer")
        start = month.astype("datetime64[D]").astype("datetime64[ns]")
        t, v = [], []
        for day in sorted(rows):
            t0 = start + np.timedelta64(day - 1, "D")
            t.extend(t0 + np.arange(24) * np.timedelta64(1, "h"))
            v.extend(rows[day])
        return np.asarray(t, dtype="datetime64[ns]"), np.asarray(v, dtype=float)

    return parse


def fetch_index(index: str, start: str | np.datetime64, end: str | np.datetime64, *,
                base_url: str | None = None, client: WebClient | None = None,
                progress: bool | None = None, now: np.datetime64 | None = None):
    """Fetch a geomagnetic activity index from its public service.

    Parameters
    ----------
    index
        ``"kp"`` (GFZ Potsdam, 3-hourly, one request per calendar year) or ``"dst"`` (WDC
        Kyoto, hourly, one request per month: the final values where published, else the
        provisional, else the real-time ones).
    start, end
        First and last time wanted (UTC; an ``end`` given as a bare date covers that day).
    base_url
        Another server speaking the same protocol (tests use a local one).
    client
        The :class:`WebClient` (cache, retries, ``--offline``).
    progress
        Progress bar on stderr (None: on a terminal).
    now
        The present, for deciding what is too recent to cache (tests).

    Returns
    -------
    xarray.Dataset
        As :func:`geoanom.io.indices.read_index` returns (kind ``kp-3h`` with ``Kp`` in
        decimal, or ``dst-hourly`` with ``Dst_nT``), trimmed to ``[start, end]``; attrs
        ``source`` (the service) and ``versions`` (Dst: months per product).
    """
    client = WebClient() if client is None else client
    t0, t1 = parse_utc(start, "start"), parse_utc(end, "end", end_of_day=True)
    if t1 < t0:
        raise ConfigError("the end is before the start", expected=f"an end after {start}",
                          found=str(end))
    index = str(index).lower()
    if index not in INDICES:
        raise ConfigError("unknown activity index", expected=" | ".join(INDICES), found=index)
    times: list[np.ndarray] = []
    values: list[np.ndarray] = []
    versions: dict[str, int] = {}
    if index == "kp":
        base = base_url or GFZ_KP_URL
        y0, y1 = int(str(t0.astype("datetime64[Y]"))), int(str(t1.astype("datetime64[Y]")))
        n_prelim = 0
        with Progress(y1 - y0 + 1, "fetch Kp", progress) as bar:
            for y in range(y0, y1 + 1):
                a = np.datetime64(f"{y}-01-01T00:00:00", "ns")
                b = np.datetime64(f"{y}-12-31T21:00:00", "ns")
                _, (t, v, status) = client.get(
                    base, gfz_kp_params(a, b), kind="gfz-kp", label=f"Kp-{y}", ext="json",
                    parse=_kp_json_parser,
                    cacheable=_settled(b + np.timedelta64(3, "h"), now))
                n_prelim += sum(1 for s in status if s != "def")
                times.append(t)
                values.append(v)
                bar.update(1, str(y))
        versions = {"not_definitive_values": n_prelim}
        kind, var = "kp-3h", "Kp"
    else:
        base = (base_url or KYOTO_WDC_URL).rstrip("/") + "/"
        months = np.arange(t0.astype("datetime64[M]"), t1.astype("datetime64[M]")
                           + np.timedelta64(1, "M"), dtype="datetime64[M]")
        with Progress(len(months), "fetch Dst", progress) as bar:
            for mo in months:
                parse = _dst_page_parser(mo)
                yyyymm = str(mo).replace("-", "")
                last = (mo + np.timedelta64(1, "M")).astype("datetime64[ns]")
                for k, product in enumerate(DST_PRODUCTS):
                    try:
                        _, (t, v) = client.get(f"{base}{product}/{yyyymm}/index.html", {},
                                               kind="kyoto-dst", label=f"{product}-{yyyymm}",
                                               ext="html", parse=parse,
                                               cacheable=product != "dst_realtime"
                                               and _settled(last, now))
                    except FetchError as exc:
                        if "HTTP 404" in exc.message and k + 1 < len(DST_PRODUCTS):
                            continue  # not published in this version: try the next one
                        raise
                    versions[product] = versions.get(product, 0) + 1
                    times.append(t)
                    values.append(v)
                    break
                bar.update(1, str(mo))
        kind, var = "dst-hourly", "Dst_nT"
    t = np.concatenate(times) if times else np.array([], dtype="datetime64[ns]")
    v = np.concatenate(values) if values else np.array([], dtype=float)
    keep = (t >= t0) & (t <= t1)
    if not keep.any():
        raise FetchError("the service returned no values inside the requested interval",
                         path=client.log[-1].url if client.log else base,
                         expected=f"values in {_iso(t0)} .. {_iso(t1)}", found="none")
    order = np.argsort(t[keep], kind="stable")
    ds = make_index(t[keep][order], {var: v[keep][order]}, kind, source=base)
    ds.attrs["versions"] = json.dumps(versions, sort_keys=True)
    ds.attrs["urls"] = "\n".join(e.url for e in client.log)
    return ds
