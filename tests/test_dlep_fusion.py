"""The geomagnetic stream of DLEP (geoanom.dlep.fusion): causal daily aggregates, masks,
training-fold normalisation, the GF encoder, precomputed and rolling-origin providers, and
the leakage controls (a shifted score series carries no information)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import xarray as xr

from geoanom.dlep import fusion
from geoanom.errors import LeakageError, ValidationError

DAY = np.timedelta64(1, "D")
T0 = np.datetime64("2020-01-01T00:00:00", "ns")


@dataclass
class FakeSamples:
    """The part of the DLEP Samples contract the stream reads."""

    mainshock_time: np.ndarray
    pattern_end_time: np.ndarray
    label: np.ndarray


def _ns(t) -> np.ndarray:
    return np.asarray(t, dtype="datetime64[ns]").astype(np.int64)


def _scores_ds(code: str, end: np.ndarray, value: np.ndarray, lat=43.9, lon=144.2):
    end = np.asarray(end, dtype="datetime64[ns]")
    start = end - np.timedelta64(3600, "s")
    return xr.Dataset(
        {"start": ("window", start), "end": ("window", end), "score": ("window", value),
         "rmse": ("window", value)},
        attrs={"iaga_code": code, "latitude_deg": lat, "longitude_deg": lon})


def _hourly(code: str, t_from, days: int, fn):
    end = np.datetime64(t_from, "ns") + np.arange(1, 24 * days + 1) * np.timedelta64(1, "h")
    return fusion.station_scores(_scores_ds(code, end, fn(end)))


# ------------------------------------------------------------------ daily aggregates


def test_daily_aggregates_by_hand():
    anchor = T0 + 10 * DAY + np.timedelta64(7, "h")
    ends = np.array([anchor - 2 * DAY - np.timedelta64(1, "h"),  # before day 0
                     anchor - 2 * DAY,                            # exactly on edge 0: excluded
                     anchor - DAY - np.timedelta64(5, "h"),       # day 0
                     anchor - DAY - np.timedelta64(1, "h"),       # day 0
                     anchor - DAY,                                # edge 1: still day 0
                     anchor - np.timedelta64(30, "m"),            # day 1
                     anchor,                                      # at the anchor: day 1
                     anchor + np.timedelta64(1, "s")])            # after: never
    vals = np.array([100.0, 50.0, 1.0, 4.0, 2.0, 3.0, 5.0, 1000.0])
    st = fusion.station_scores(_scores_ds("AAA", ends, vals))
    v, m = fusion.daily_aggregates([st], np.array([anchor]), n_days=2)
    assert v.shape == (1, 2, 1, 2) and m.shape == (1, 1, 2)
    assert m.all()
    np.testing.assert_allclose(v[0, 0, 0], [4.0, 5.0])             # max
    np.testing.assert_allclose(v[0, 1, 0], [7.0 / 3.0, 4.0])       # mean


def test_empty_days_are_masked_not_zero():
    anchor = T0 + 40 * DAY
    end = T0 + np.arange(1, 24 * 40 + 1) * np.timedelta64(1, "h")
    keep = ~((end > anchor - 20 * DAY) & (end <= anchor - 10 * DAY))  # a 10-day gap
    val = np.where(keep, 2.0, np.nan)
    st = fusion.station_scores(_scores_ds("GAP", end, val))
    v, m = fusion.daily_aggregates([st], np.array([anchor]), n_days=30)
    assert (~m[0, 0, 10:20]).all() and m[0, 0, :10].all() and m[0, 0, 20:].all()
    assert np.isnan(v[0, :, 0, 10:20]).all()
    x, m2, _ = fusion.normalise(v, m, np.array([0]))
    assert (x[0, :2, 0, 10:20] == 0).all() and (x[0, 2, 0, 10:20] == 0).all()
    assert (x[0, 2, 0, :10] == 1).all()


def test_aggregates_match_brute_force_and_never_see_the_mainshock():
    rng = np.random.default_rng(3)
    ends = np.sort(T0 + rng.integers(0, 200 * 86400, 3000).astype("timedelta64[s]"))
    vals = rng.lognormal(size=ends.size)
    st = fusion.station_scores(_scores_ds("RND", ends, vals))
    ms = np.sort(T0 + rng.integers(40 * 86400, 200 * 86400, 25).astype("timedelta64[s]"))
    pe = ms - rng.integers(1, 3 * 86400, 25).astype("timedelta64[s]")
    v, m = fusion.daily_aggregates([st], pe, n_days=30)
    e_ns, a_ns = _ns(ends), _ns(pe)
    for i in range(25):
        for k in range(30):
            lo = a_ns[i] - (30 - k) * fusion.DAY_NS
            hi = a_ns[i] - (29 - k) * fusion.DAY_NS
            sel = (e_ns > lo) & (e_ns <= hi)
            assert m[i, 0, k] == sel.any()
            if sel.any():
                assert v[i, 0, 0, k] == pytest.approx(vals[sel].max())
                assert v[i, 1, 0, k] == pytest.approx(vals[sel].mean())
    # scores at or after the main shock (and after the pattern end) change nothing
    late = np.zeros(ends.size, bool)
    for i in range(25):
        late |= (e_ns > a_ns[i]) & (e_ns <= a_ns[i] + 30 * fusion.DAY_NS)
    v_all, _ = fusion.daily_aggregates([st], pe, n_days=30)
    # every window used by a sample ends at or before its pattern end < main shock
    for i in range(25):
        used = (e_ns > a_ns[i] - 30 * fusion.DAY_NS) & (e_ns <= a_ns[i])
        assert (e_ns[used] < _ns(ms)[i]).all()
    poisoned = fusion.StationScores("RND", st.end_ns,
                                    np.where(np.isin(st.end_ns, e_ns[late]), 1e6, st.value))
    v_p, _ = fusion.daily_aggregates([poisoned], pe, n_days=30)
    changed = ~np.isclose(v_p, v_all, equal_nan=True)
    # a window late for one sample can be early for a later sample; for a sample whose own
    # window contains none of the poisoned windows nothing may change
    for i in range(25):
        used = (e_ns > a_ns[i] - 30 * fusion.DAY_NS) & (e_ns <= a_ns[i])
        if not (used & late).any():
            assert not changed[i].any()


def test_pattern_end_at_mainshock_is_refused():
    s = FakeSamples(mainshock_time=np.array([T0 + 5 * DAY]),
                    pattern_end_time=np.array([T0 + 5 * DAY]), label=np.array([1]))
    with pytest.raises(LeakageError):
        fusion.sample_times(s)


# ------------------------------------------------------------------ normalisation


def test_normalisation_uses_training_samples_only():
    rng = np.random.default_rng(0)
    n, S, L = 12, 2, 5
    v = rng.lognormal(size=(n, 2, S, L))
    m = rng.random((n, S, L)) > 0.2
    v[~np.broadcast_to(m[:, None], v.shape)] = np.nan
    tr = np.arange(8)
    x, m2, stats = fusion.normalise(v, m, tr)
    lv = np.log(v)
    for a in range(2):
        for s in range(S):
            obs = lv[tr, a, s][m[tr, s]]
            assert stats["mean"][a][s] == pytest.approx(obs.mean())
            assert stats["std"][a][s] == pytest.approx(obs.std())
    # test samples' values do not move the statistics
    v2 = v.copy()
    v2[8:] *= 1000.0
    _, _, stats2 = fusion.normalise(v2, m, tr)
    np.testing.assert_allclose(stats2["mean"], stats["mean"])
    np.testing.assert_allclose(stats2["std"], stats["std"])


def test_station_without_training_data_is_masked_for_the_fold():
    v = np.ones((4, 2, 2, 3))
    m = np.ones((4, 2, 3), bool)
    m[:2, 1] = False                       # station 1 only observed in the test samples
    v[:2, :, 1] = np.nan
    x, m2, stats = fusion.normalise(v, m, np.array([0, 1]))
    assert stats["stations_without_training_data"] == [1]
    assert not m2[:, 1].any() and (x[:, :, 1] == 0).all()


# ------------------------------------------------------------------ encoder


def test_encoder_ignores_masked_entries_and_empty_stations():
    torch.manual_seed(0)
    enc = fusion.GFEncoder(out_dim=8, hidden=4, dropout=0.0).eval()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 3, 2, 30)).astype(np.float32)
    mask = rng.random((3, 2, 30)) > 0.3
    x[:, 2] = mask
    x[:, :2][~np.broadcast_to(mask[:, None], x[:, :2].shape)] = 0.0
    out = enc(torch.from_numpy(x))
    assert out.shape == (3, 8)
    junk = x.copy()
    junk[:, :2][~np.broadcast_to(mask[:, None], x[:, :2].shape)] = 99.0
    torch.testing.assert_close(enc(torch.from_numpy(junk)), out)
    # an extra station without any data changes nothing
    extra = np.concatenate([x, np.zeros((3, 3, 1, 30), np.float32)], axis=2)
    torch.testing.assert_close(enc(torch.from_numpy(extra)), out)
    # the mask may also come separately
    torch.testing.assert_close(enc(torch.from_numpy(x[:, :2]), torch.from_numpy(mask)), out)


# ------------------------------------------------------------------ providers


def _samples(n=40, days_apart=9.0, start_day=35.0, rng=None):
    rng = rng or np.random.default_rng(0)
    ms = T0 + ((start_day + days_apart * np.arange(n)) * 86400).astype("timedelta64[s]")
    pe = ms - (rng.uniform(0.1, 2.0, n) * 86400).astype("timedelta64[s]")
    return FakeSamples(mainshock_time=ms.astype("datetime64[ns]"),
                       pattern_end_time=pe.astype("datetime64[ns]"),
                       label=rng.integers(0, 5, n))


def test_stream_from_scores_reads_files_and_reports_coverage(tmp_path):
    from geoanom.detector.score import write_scores

    s = _samples(20)
    # station A covers the first 100 days, station B (two monthly files) days 60..120
    end_a = T0 + np.arange(1, 2400 + 1) * np.timedelta64(1, "h")
    write_scores(_scores_ds("AAA", end_a, np.full(end_a.size, 1.5)), tmp_path / "a.nc")
    end_b = T0 + 60 * DAY + np.arange(1, 1440 + 1) * np.timedelta64(1, "h")
    write_scores(_scores_ds("BBB", end_b[:700], np.full(700, 2.0)), tmp_path / "b1.nc")
    write_scores(_scores_ds("BBB", end_b[700:], np.full(740, 2.0)), tmp_path / "b2.nc")
    st = fusion.stream_from_scores([tmp_path / "a.nc", tmp_path / "b1.nc", tmp_path / "b2.nc"],
                                   s, None)
    assert st.station_codes == ["AAA", "BBB"]
    assert st.stations[1].end_ns.size == 1440
    cov = st.coverage_summary
    pe = _ns(s.pattern_end_time)
    exp_a = int(((pe - 30 * fusion.DAY_NS < _ns(end_a[-1])) & (pe > _ns(end_a[0]))).sum())
    assert cov["per_station"]["AAA"] == exp_a
    x, mask = st.features(s, np.arange(12), np.arange(12, 20), 0)
    assert x.shape == (20, 3, 2, 30) and mask.shape == (20, 2, 30)
    assert st.dim == st.encoder().out_dim == 32
    # scores that lie after every main shock are refused, with the spans in the message
    late = T0 + 400 * DAY + np.arange(1, 100) * np.timedelta64(1, "h")
    write_scores(_scores_ds("CCC", late, np.ones(late.size)), tmp_path / "late.nc")
    with pytest.raises(ValidationError, match="do not overlap"):
        fusion.stream_from_scores([tmp_path / "late.nc"], s, None)


def test_trained_until_guards_folds():
    s = _samples(20)
    st = fusion.ScoreStream([_hourly("AAA", T0, 250, lambda e: np.ones(e.size))],
                            trained_until=T0 + 100 * DAY)
    late_test = np.arange(15, 20)       # pattern ends about day 160+: test start > day 100
    st.features(s, np.arange(15), late_test, 0)
    with pytest.raises(LeakageError):
        st.features(s, np.arange(5, 20), np.arange(5), 1)
    masked = fusion.ScoreStream(st.stations, trained_until=T0 + 100 * DAY, on_leak="mask")
    x, mask = masked.features(s, np.arange(5, 20), np.arange(5), 1)
    assert not mask.any() and not x.any()
    assert "masked_for_leakage" in masked.fold_info[1]


# ------------------------------------------------------------------ rolling origin


def _tiny_world():
    from geoanom import synthetic

    w = synthetic.make_world(5, 50.0, cadence_s=600.0, n_stations=1, precursor_strength=0.0)
    return w.records["SYA"], w.catalog


def _rolling(rec, cat, tmp):
    from geoanom.detector.nn.train import TrainConfig
    from geoanom.detector.windows import WindowConfig
    from geoanom.labels import LabelRule

    wc = WindowConfig(window_length_s=6 * 3600.0, stride_s=6 * 3600.0,
                      components=("X", "Y", "Z"),
                      label_rule=LabelRule(m_min=4.5, lead_days=(1.0, 2.0), buffer_days=0.5,
                                           normal_margin_magnitude=0.0,
                                           post_event_exclusion_days=1.0,
                                           require_catalog_coverage=False, decluster="none"),
                      split_fractions=(0.6, 0.4, 0.0))
    tc = TrainConfig(hidden_size=4, latent_size=2, lam=0.0, max_epochs=2, batch_size=8,
                     batches_per_epoch=2, patience=1)
    return fusion.RollingOriginStream({"SYA": rec}, cat, work_dir=tmp, window_config=wc,
                                      train_config=tc, min_train_days=5.0, n_days=10,
                                      out_dim=4, hidden=4)


def _weights_sha(stream) -> str:
    (key,) = stream.trained
    d = next(p for p in stream.work_dir.rglob("weights.pt"))
    return hashlib.sha256(d.read_bytes()).hexdigest()


def test_rolling_origin_detector_never_sees_its_test_period(tmp_path):
    rec, cat = _tiny_world()
    s = FakeSamples(
        mainshock_time=(T0 + np.array([20, 26, 32, 38, 44]) * DAY).astype("datetime64[ns]"),
        pattern_end_time=(T0 + np.array([20, 26, 32, 38, 44]) * DAY
                          - np.timedelta64(7387, "s")).astype("datetime64[ns]"),  # off-grid
        label=np.array([0, 1, 2, 3, 4]))
    tr, te = np.arange(3), np.arange(3, 5)
    t0 = np.datetime64(int(_ns(s.pattern_end_time)[3]) - 10 * fusion.DAY_NS, "ns")
    a = _rolling(rec, cat, tmp_path / "a")
    x, mask = a.features(s, tr, te, 0)
    (info,) = a.trained.values()
    assert "skipped" not in info["SYA"], info["SYA"].get("skipped")
    assert np.datetime64(info["SYA"]["last_window_end"]) <= t0
    assert np.datetime64(info["SYA"]["catalog_last_event"]) < t0
    assert mask[te].any()                          # test samples are scored by it
    # the future changed beyond recognition: the fold's detector is the same, bit for bit
    rec2 = rec.copy(deep=True)
    late = rec2["time"].values >= t0
    for c in ("X", "Y", "Z"):
        rec2[c].values[late] += 500.0 * np.sin(np.arange(late.sum()))
    cat2 = cat.copy()
    cat2.loc[cat2["time"].to_numpy() >= t0, "magnitude"] += 2.0
    b = _rolling(rec2, cat2, tmp_path / "b")
    b.features(s, tr, te, 0)
    assert _weights_sha(a) == _weights_sha(b)
    # and so are its scores of every window that ends before the test start
    sa, sb = next(iter(a._cache.values()))[0], next(iter(b._cache.values()))[0]
    early_a, early_b = sa.end_ns <= _ns(np.array([t0]))[0], sb.end_ns <= _ns(np.array([t0]))[0]
    np.testing.assert_array_equal(sa.value[early_a], sb.value[early_b])
    assert not np.array_equal(sa.value[~early_a], sb.value[~early_b])
    # a second call for the same test start reuses the detector
    a.features(s, tr, te, 1)
    assert len(a.trained) == 1


# ------------------------------------------------------------------ through DLEP evaluate


def test_evaluate_uses_the_stream_and_a_shifted_stream_is_useless():
    """geomag-only through geoanom.dlep.evaluate (chronological): planted scores that rise in
    the half day before each pattern end, more for larger main shocks, give a high MAUC; the
    same scores a year late give chance."""
    from geoanom.dlep.config import DLEPConfig
    from geoanom.dlep.evaluate import evaluate
    from geoanom.dlep.segment import custom_region, segment_catalog
    from geoanom.synthetic import DEFAULT_REGION, etas_catalog

    # little clustering, so that the planted half days of consecutive samples rarely overlap
    cat = etas_catalog(DEFAULT_REGION, "2020-01-01", 900.0, np.random.default_rng(2),
                       background_rate_per_day=2.0, branching_ratio=0.05)
    lat0, lat1, lon0, lon1 = DEFAULT_REGION
    reg = custom_region((lon0, lon1, lat0, lat1), "quantiles", n_events=20)
    s = segment_catalog(cat, reg, n_events=20, w=10)
    rng = np.random.default_rng(0)
    end = T0 + np.arange(1, 24 * 1300) * np.timedelta64(1, "h")
    val = rng.lognormal(0.0, 0.3, end.size)
    e_ns = _ns(end)
    for t, mag in zip(_ns(s.pattern_end_time), s.magnitude, strict=True):
        sel = (e_ns > t - fusion.DAY_NS // 2) & (e_ns <= t)
        val[sel] = np.maximum(val[sel], np.exp(2.0 * (mag - 3.0)))
    st = fusion.station_scores(_scores_ds("PLT", end, val))
    cfg = DLEPConfig(epochs=12, lr=2e-2, indim=16, hidden=16, dropout=0.0)

    def run(stations):
        stream = fusion.ScoreStream(stations, out_dim=8, hidden=8, dropout=0.0)
        return evaluate(s, "geomag-only", "chrono", extra_streams={"GF": stream}, config=cfg,
                        progress=False).mauc_mean

    assert run([st]) > 0.8
    assert abs(run(fusion.shift_scores([st], 365.0)) - 0.5) < 0.12
