"""BoT-IoT columns: schema order/dtypes, encodings, window features against a brute-force definition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forensics import schema
from forensics.errors import SchemaError
from forensics.features import window_features


def test_schema_order_matches_botiot():
    first35 = ("pkSeqID stime flgs proto saddr sport daddr dport pkts bytes state ltime seq dur mean stddev smac dmac "
               "sum min max soui doui sco dco spkts dpkts sbytes dbytes rate srate drate attack category "
               "subcategory").split()
    assert schema.BOTIOT_COLUMNS == tuple(first35)
    assert schema.NUMBER_COLUMNS == ("proto_number", "state_number", "flgs_number")
    assert len(schema.WINDOW_COLUMNS) == 14
    assert set(schema.TEN_BEST) <= set(schema.COLUMN_NAMES)
    assert len(set(schema.COLUMN_NAMES)) == len(schema.COLUMN_NAMES)


def test_conform_rejects_missing_column():
    df = schema.empty_frame().drop(columns=["rate"])
    with pytest.raises(SchemaError, match="rate"):
        schema.conform(df)


def test_encode_series():
    s = pd.Series(["tcp", "udp", "tcp", "weird"])
    assert schema.encode_series(s, schema.PROTO_NUMBERS).tolist() == [1, 3, 1, 0]


def _random_flows(n, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "saddr": rng.choice(["a", "b", "c", "d"], n), "daddr": rng.choice(["x", "y", "z"], n),
        "proto": rng.choice(["tcp", "udp"], n), "sport": rng.choice(["1", "2", "3"], n),
        "dport": rng.choice(["80", "53"], n), "state": rng.choice(["CON", "INT", "REQ"], n),
        "bytes": rng.integers(40, 2000, n), "pkts": rng.integers(1, 30, n),
        "dur": np.where(rng.random(n) < 0.3, 0.0, rng.random(n) * 5),
    })


def _brute(df, window):
    out = {k: [] for k in schema.WINDOW_COLUMNS}
    ar = np.where(df["dur"] > 0, df["pkts"] / df["dur"].where(df["dur"] > 0, 1), 0.0)
    for i in range(len(df)):
        w = df.iloc[max(0, i - window + 1): i + 1]
        a = ar[max(0, i - window + 1): i + 1]
        r = df.iloc[i]

        def same(*cols):
            m = np.ones(len(w), bool)
            for c in cols:
                m &= (w[c] == r[c]).to_numpy()
            return m

        out["TnBPSrcIP"].append(w["bytes"][same("saddr")].sum())
        out["TnBPDstIP"].append(w["bytes"][same("daddr")].sum())
        out["TnP_PSrcIP"].append(w["pkts"][same("saddr")].sum())
        out["TnP_PDstIP"].append(w["pkts"][same("daddr")].sum())
        out["TnP_PerProto"].append(w["pkts"][same("proto")].sum())
        out["TnP_Per_Dport"].append(w["pkts"][same("dport")].sum())
        out["AR_P_Proto_P_SrcIP"].append(a[same("proto", "saddr")].mean())
        out["AR_P_Proto_P_DstIP"].append(a[same("proto", "daddr")].mean())
        out["N_IN_Conn_P_DstIP"].append(same("daddr").sum())
        out["N_IN_Conn_P_SrcIP"].append(same("saddr").sum())
        out["AR_P_Proto_P_Sport"].append(a[same("proto", "sport")].mean())
        out["AR_P_Proto_P_Dport"].append(a[same("proto", "dport")].mean())
        out["Pkts_P_State_P_Protocol_P_DestIP"].append(w["pkts"][same("state", "proto", "daddr")].sum())
        out["Pkts_P_State_P_Protocol_P_SrcIP"].append(w["pkts"][same("state", "proto", "saddr")].sum())
    return pd.DataFrame(out)


@pytest.mark.parametrize("window", [1, 5, 100])
def test_window_features_match_definition(window):
    df = _random_flows(250, seed=window)
    got = window_features(df, window)
    want = _brute(df, window)
    for c in schema.WINDOW_COLUMNS:
        np.testing.assert_allclose(got[c].to_numpy(dtype=float), want[c].to_numpy(dtype=float), rtol=1e-12,
                                   err_msg=c)


def test_window_features_batched_equals_whole():
    from forensics.features import _Finisher

    rows = _random_flows(330, seed=3)
    for c, v in (("stime", 0.0), ("ltime", 0.0), ("flgs", "e"), ("seq", 1), ("mean", 0.0), ("stddev", 0.0),
                 ("sum", 0.0), ("min", 0.0), ("max", 0.0), ("spkts", 1), ("dpkts", 0), ("sbytes", 1), ("dbytes", 0),
                 ("rate", 0.0), ("srate", 0.0), ("drate", 0.0), ("smac", ""), ("dmac", "")):
        rows[c] = v
    whole = _Finisher()(rows.copy())
    f = _Finisher()
    parts = pd.concat([f(rows.iloc[a:b].copy()) for a, b in ((0, 7), (7, 150), (150, 330))], ignore_index=True)
    pd.testing.assert_frame_equal(whole, parts)


@pytest.mark.parametrize("n_groups", [1, 300, 70_000, 200_000])
def test_window_plan_sort_matches_argsort(n_groups):
    """The radix group sort (16-bit passes above 65,536 groups) orders rows as a stable argsort."""
    from forensics.features import _stable_group_order, _window_plan

    rng = np.random.default_rng(n_groups)
    gid = rng.integers(0, n_groups, 250_000).astype(np.int64)
    gid = pd.factorize(gid)[0].astype(np.int64)  # dense codes, as _group_codes gives
    np.testing.assert_array_equal(_stable_group_order(gid), np.argsort(gid, kind="stable"))
    n, window = len(gid), 100
    comp = gid * (n + window + 1) + np.arange(n)
    o = np.argsort(comp, kind="stable")
    o_new, first_new = _window_plan(gid, window)
    np.testing.assert_array_equal(o_new, o)
    np.testing.assert_array_equal(first_new, np.searchsorted(comp[o], comp[o] - window + 1, side="left"))


# --------------------------------------------------------------------------- decoding ahead in a thread


def test_flows_with_the_next_chunk_decoded_in_a_thread_equal_one_thread(samples_dir, tmp_path):
    """extract_flows on two or more threads decodes chunk k+1 while it builds flows from chunk k
    (decode.prefetched): same rows and accounting as on one thread, also across many chunks."""
    from forensics.features import extract_flows
    from forensics.sequences import thread_limit

    caps = sorted(samples_dir.rglob("*.pcap*"))[:4]
    assert caps
    for cap in caps:
        with thread_limit(2):
            two, acc2 = extract_flows(cap, chunk_packets=997)
        with thread_limit(1):
            one, acc1 = extract_flows(cap, chunk_packets=997)
        assert two.equals(one), cap
        assert acc2.to_dict() == acc1.to_dict()


def test_prefetched_hands_over_items_errors_and_stops_when_the_caller_does():
    import threading
    import time

    from forensics.decode import prefetched

    assert list(prefetched(iter(range(100)))) == list(range(100))
    assert list(prefetched(iter([]))) == []

    def failing():
        yield 1
        yield 2
        raise ValueError("chunk 3 is bad")

    got = []
    with pytest.raises(ValueError, match="chunk 3 is bad"):
        for x in prefetched(failing()):
            got.append(x)
    assert got == [1, 2]  # the items before the failure arrive first

    produced = []

    def endless():
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    gen = prefetched(endless(), depth=2)
    assert [next(gen) for _ in range(3)] == [0, 1, 2]
    gen.close()  # the caller stops: the producer stops too, soon
    time.sleep(0.3)
    assert not any(t.name == "forensics-decode" for t in threading.enumerate())
    assert len(produced) <= 3 + 2 + 1  # at most the queue's depth and the item in hand ahead
