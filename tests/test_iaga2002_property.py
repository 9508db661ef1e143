"""Property tests: mutated real IAGA-2002 bytes give a valid record or a GeoanomError, never
any other exception; and where both parsers accept a block they agree exactly."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geoanom.errors import GeoanomError
from geoanom.io import iaga2002 as iaga
from geoanom.io.iaga2002 import read_iaga2002
from geoanom.record import validate_record

N_DATA = 40  # data lines kept per sample: small inputs keep every example fast


def _head(data: bytes, n: int = N_DATA) -> bytes:
    """The header and the first ``n`` data lines of a real file."""
    lines = data.splitlines(keepends=True)
    col = next(i for i, x in enumerate(lines) if x.startswith(b"DATE "))
    return b"".join(lines[:col + 1 + n])


@pytest.fixture(scope="module")
def samples(geomag_dir: Path) -> list[bytes]:
    bou = (geomag_dir / "usgs_BOU" / "bou20141101vmin.min").read_bytes()  # CRLF, HDZF
    mmb = (geomag_dir / "japan_MMB_2011-03" / "mmb_2011_march.txt").read_bytes()
    wic = gzip.decompress((geomag_dir / "austria_WIC_magpy" /
                           "WIC_20180829_1s_iaga2002_example5.sec.gz").read_bytes())
    with tarfile.open(geomag_dir / "peru_ANC_magdas_eeindex" /
                      "ANC_EEindex_2012_2014_pmin.tar.gz") as tf:
        anc = tf.extractfile("ANC_EEindex/EEindex20121012pmin.ANC").read()
    out = [_head(bou), _head(mmb), _head(wic), _head(anc)]
    out.append(gzip.compress(out[0], mtime=0))  # mutations of gzip bytes too
    return out


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 40)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=12)),
    st.tuples(st.just("insert_text"), st.integers(0, 10**6),
              st.sampled_from([b" ", b"-", b".", b"9", b"\n", b"\r\n", b"#", b"|", b"99999.00",
                               b"88888", b"DATE TIME DOY", b"nan", b"e5", b"\t", b"\x00"])),
    st.tuples(st.just("drop_line"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("dup_line"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("swap_lines"), st.integers(0, 10**6), st.integers(0, 10**6)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(0)),
)


def mutate(data: bytes, ops: list[tuple]) -> bytes:
    for kind, a, b in ops:
        if not data:
            return data
        i = a % len(data)
        if kind == "flip":
            data = data[:i] + bytes([data[i] ^ b]) + data[i + 1:]
        elif kind == "delete":
            data = data[:i] + data[i + b:]
        elif kind in ("insert", "insert_text"):
            data = data[:i] + b + data[i:]
        elif kind == "truncate":
            data = data[:i]
        else:
            lines = data.splitlines(keepends=True)
            j = a % len(lines)
            if kind == "drop_line":
                del lines[j]
            elif kind == "dup_line":
                lines.insert(j, lines[j])
            else:
                k = b % len(lines)
                lines[j], lines[k] = lines[k], lines[j]
            data = b"".join(lines)
    return data


def _check(source: object) -> None:
    try:
        ds = read_iaga2002(source)
    except GeoanomError as exc:
        assert str(exc)  # a message, always
        return
    validate_record(ds)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, 4), ops=st.lists(mutation, min_size=1, max_size=3),
       strict=st.booleans())
def test_mutated_real_file(samples: list[bytes], which: int, ops: list[tuple],
                           strict: bool) -> None:
    data = mutate(samples[which], ops)
    try:
        ds = read_iaga2002(io.BytesIO(data), strict_cadence=strict)
    except GeoanomError as exc:
        assert str(exc)
        return
    validate_record(ds)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(ops=st.lists(mutation, min_size=1, max_size=2))
def test_mutated_daily_file_in_a_join(samples: list[bytes], ops: list[tuple]) -> None:
    """A mutated day read together with an intact other day."""
    good = samples[0]
    other = good.replace(b"2014-11-01", b"2014-11-02").replace(b" 305 ", b" 306 ")
    _check([io.BytesIO(mutate(good, ops)), io.BytesIO(other)])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, 3), ops=st.lists(mutation, min_size=1, max_size=2))
def test_fast_and_line_parsers_agree(samples: list[bytes], which: int, ops: list[tuple]) -> None:
    """Whenever the vectorised parser accepts a block, the line parser gives the same rows."""
    data = mutate(samples[which], ops)
    try:
        p = iaga._prepare(data, "x")
    except GeoanomError:
        return
    if p.nl < 0:
        return
    m = len(p.components)
    fast = iaga._fast_rows(p.data, p.start, p.nl + 1, m)
    try:
        slow = iaga._slow_rows(p.data[p.start:p.stop], m, p.header.columns, "x", p.line0, True)
    except GeoanomError:
        assert fast is None  # the fast parser must never accept what the line parser refuses
        return
    if fast is None:
        return
    for f in ("ymd", "hms", "frac_ns", "doy"):
        np.testing.assert_array_equal(getattr(fast, f), getattr(slow, f))
    assert fast.values.tobytes() == slow.values.tobytes()
