"""Flow windows: features from BoT-IoT columns only, exact dedup, context visible."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forensics.errors import SchemaError
from forensics.sequences import (CHANNELS, CONTEXT_FEATURES, FLOW_FEATURES, STEP_FEATURES, WindowSpec, build_windows,
                                 dedup_rows, flow_features, window_index)
from forensics.train import demo_flows


def test_no_identity_features():
    banned = ("saddr", "daddr", "smac", "dmac", "pkseqid", "seq", "stime", "ltime", "soui", "doui", "sco", "dco")
    for name in CHANNELS:
        base = name.split(".", 1)[1]
        assert base not in banned and not base.startswith(("saddr", "daddr", "mac"))
    assert len(CHANNELS) == 2 * len(STEP_FEATURES) == 2 * (len(FLOW_FEATURES) + len(CONTEXT_FEATURES))


def test_windows_ignore_address_values_and_absolute_time():
    df = demo_flows(seed=1)
    w = build_windows(df).full()
    moved = df.copy()
    mapping = {a: f"172.16.{i // 250}.{i % 250}" for i, a in enumerate(pd.unique(pd.concat([df.saddr, df.daddr])))}
    moved["saddr"] = df.saddr.map(mapping)
    moved["daddr"] = df.daddr.map(mapping)
    moved["stime"] = df.stime + 12345.0
    moved["ltime"] = df.ltime + 12345.0
    moved["pkSeqID"] = df.pkSeqID + 999
    moved["seq"] = 7
    np.testing.assert_array_equal(build_windows(moved).full(), w)


def test_dedup_is_exact_and_collapses_floods():
    df = demo_flows(seed=2)
    a = build_windows(df)
    b = build_windows(df, dedup=False)
    np.testing.assert_array_equal(a.full(), b.full())
    assert len(a.unique) < len(df)  # the identical flood records collapse
    # chunked building gives the same windows
    c = build_windows(df, chunk=97)
    np.testing.assert_array_equal(c.full(), b.full())


def test_dedup_rows_roundtrip():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((50, 4, 3)).astype(np.float32)
    x = base[rng.integers(0, 50, 400)]
    u, inv = dedup_rows(x)
    assert len(u) <= 50
    np.testing.assert_array_equal(u[inv], x)


def test_window_index_orders_by_time_within_key():
    key = np.array([0, 1, 0, 0, 1, 0])
    t = np.array([5.0, 1.0, 1.0, 3.0, 2.0, 9.0])
    idx = window_index(key, t, WindowSpec(steps=4, past=2))
    # key 0 in time order: rows 2 (t=1), 3 (t=3), 0 (t=5), 5 (t=9)
    assert idx[0].tolist() == [2, 3, 0, 5]
    assert idx[2].tolist() == [-1, -1, 2, 3]
    assert idx[5].tolist() == [3, 0, 5, -1]
    assert idx[1].tolist() == [-1, -1, 1, 4]


def test_scan_and_flood_context_is_visible():
    df = demo_flows(seed=3)
    w = build_windows(df).full()
    spec = WindowSpec()
    src_peer = CHANNELS.index("src.same_peer")
    src_dport = CHANNELS.index("src.same_dport")
    dst_peer = CHANNELS.index("dst.same_peer")
    dst_dport = CHANNELS.index("dst.same_dport")
    valid = CHANNELS.index("src.valid")
    scan = (df.subcategory == "Service_Scan").to_numpy()
    flood = (df.category == "DDoS").to_numpy()
    # a port scan: same source, same target host, different ports
    sw = w[scan][:, :spec.past]
    ok = sw[..., valid] == 1
    assert sw[..., src_peer][ok].mean() == 1.0 and sw[..., src_dport][ok].mean() < 0.05
    # a spoofed flood: one victim port, many different sources
    fw = w[flood][:, :spec.past]
    fok = fw[..., CHANNELS.index("dst.valid")] == 1
    assert fw[..., dst_dport][fok].mean() == 1.0
    assert fw[..., dst_peer][fok].mean() < 0.05


def test_flow_features_parse_botiot_strings():
    df = demo_flows(n_normal=3, n_scan=2, n_flood=2)
    df["sport"] = df["sport"].astype(str)
    df["dport"] = df["dport"].astype(str)
    df.loc[0, "proto"] = "icmp"
    df.loc[0, "dport"] = "0x0303"
    df.loc[1, "dport"] = ""
    f = flow_features(df)
    assert f.shape == (len(df), len(FLOW_FEATURES))
    assert np.isfinite(f).all()
    assert f[0, FLOW_FEATURES.index("dport_none")] == 1.0
    assert f[0, FLOW_FEATURES.index("proto_icmp")] == 1.0


@pytest.mark.parametrize("col", ["dport", "sbytes", "state", "stime"])
def test_missing_column_is_named(col):
    df = demo_flows(n_normal=5, n_scan=0, n_flood=0).drop(columns=[col])
    with pytest.raises(SchemaError, match=f"'{col}'"):
        build_windows(df)


def test_wrong_type_is_named():
    df = demo_flows(n_normal=5, n_scan=0, n_flood=0)
    df["pkts"] = df["pkts"].astype(str)
    with pytest.raises(SchemaError, match="'pkts'"):
        build_windows(df)


def test_empty_table():
    df = demo_flows(n_normal=3, n_scan=0, n_flood=0).iloc[:0]
    w = build_windows(df)
    assert w.unique.shape == (0, WindowSpec().steps, len(CHANNELS))


def test_dedup_index_is_exact_even_when_hashes_collide(monkeypatch):
    import forensics.sequences as seq

    rng = np.random.default_rng(1)
    codes = rng.integers(0, 5, (300, 4, 2))
    ctx = rng.integers(0, 2, (300, 4, 3)).astype(np.float32)
    first, inv = seq._dedup_index(codes, ctx)
    np.testing.assert_array_equal(codes[first][inv], codes)
    np.testing.assert_array_equal(ctx[first][inv], ctx)
    assert sorted(first.tolist()) == first.tolist()  # in order of first appearance
    monkeypatch.setattr(seq, "_HASH_MUL", np.uint64(0))  # every row hashes alike: the exact fallback
    f2, i2 = seq._dedup_index(codes, ctx)
    np.testing.assert_array_equal(codes[f2][i2], codes)
    np.testing.assert_array_equal(ctx[f2][i2], ctx)
    assert len(f2) == len(first)


def test_compact_windows_round_trip():
    from forensics.sequences import Windows

    df = demo_flows(seed=4)
    w = build_windows(df)
    fu, codes, ctx = w.compact
    assert codes.shape == (len(w), WindowSpec().steps, 2) and ctx.shape[2] == 2 * len(CONTEXT_FEATURES)
    assert not fu[-1].any()  # the padding row
    dense = Windows(w.unique, w.inverse, w.spec)  # compact form rebuilt from the dense array
    fu2, codes2, ctx2 = dense.compact
    np.testing.assert_array_equal(fu2[codes2[..., 0]], fu[codes[..., 0]])
    np.testing.assert_array_equal(ctx2, ctx)
    np.testing.assert_array_equal(dense.rows(0, len(dense)), w.unique)


def test_per_flow_gap_equals_per_step_gap():
    import forensics.sequences as seq

    df = demo_flows(seed=6)
    spec = WindowSpec()
    s_code, d_code = seq._codes(df["saddr"], df["daddr"])
    t = df["stime"].to_numpy() - df["stime"].min()
    dport, sport = seq._port_numbers(df["dport"], "dport"), seq._port_numbers(df["sport"], "sport")
    w = window_index(s_code, t, spec)
    rows = np.arange(len(df))
    a = seq._side_context(w, rows, t, d_code, d_code, dport, sport, spec)
    b = seq._side_context(w, rows, t, d_code, d_code, dport, sport, spec, step_gap=seq._step_gap(w, t, spec))
    np.testing.assert_array_equal(a, b)


def test_text_ports_parsed_once_per_value_like_before():
    df = demo_flows(n_normal=4, n_scan=2, n_flood=2)
    df["dport"] = pd.Series([80, "443", None, "0x0303", "", "abc", 22.0, "80"][:len(df)] + [1] * (len(df) - 8),
                            dtype=object)
    from forensics.sequences import _port_numbers

    got = _port_numbers(df["dport"], "dport")
    assert got[:8].tolist() == [80, 443, -1, 0x0303, -1, -1, 22, 80]


def test_service_shares_are_counted_per_time_slice():
    """One host's flood on a service, then (> SHARE_BUCKET_S later) four hosts' flood on it: the first
    phase's flows must show one source owning the service (measured: capture-wide shares made lab
    mixed/run30's DoS phase look like the DDoS that followed it)."""
    from forensics.sequences import SHARE_BUCKET_S, flow_features

    rows, t = [], 1.7e9
    for i in range(40):  # DoS: one source
        rows.append(("10.0.0.203", 40000 + i, t + 0.05 * i))
    t2 = t + 0.05 * 40 + 2 * SHARE_BUCKET_S
    for i in range(80):  # DDoS: four sources
        rows.append((f"10.0.0.20{1 + i % 4}", 41000 + i, t2 + 0.05 * i))
    n = len(rows)
    df = pd.DataFrame({
        "stime": [r[2] for r in rows], "ltime": [r[2] + 0.01 for r in rows], "proto": "tcp",
        "saddr": [r[0] for r in rows], "sport": [str(r[1]) for r in rows], "daddr": "10.0.0.20", "dport": "80",
        "pkts": 6, "bytes": 600, "state": "FIN", "dur": 0.01, "mean": 0.01, "stddev": 0.0, "sum": 0.01,
        "min": 0.01, "max": 0.01, "spkts": 3, "dpkts": 3, "sbytes": 300, "dbytes": 300, "rate": 500.0,
        "srate": 250.0, "drate": 250.0,
    })
    f = flow_features(df)
    col = {name: j for j, name in enumerate(FLOW_FEATURES)}
    first, second = slice(0, 40), slice(40, n)
    assert np.allclose(f[first, col["svc_top_share"]], 1.0)
    assert np.allclose(f[first, col["svc_log_srcs"]], np.round(np.log1p(1) * 32) / 32)
    assert (f[second, col["svc_top_share"]] < 0.5).all()
    assert (f[second, col["svc_log_srcs"]] > f[first, col["svc_log_srcs"]].max()).all()
