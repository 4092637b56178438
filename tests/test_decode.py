"""Decode stage: every link type and protocol, fast path == dpkt path, accounting closes."""

from __future__ import annotations

import numpy as np
import pytest

from forensics.decode import read_packets, stream_packets
from forensics.packets import PACKET_COLUMN_NAMES, addr_to_str
from forensics.capture import sniff
from tests import pcapgen as g
from tests.conftest import corpus_files

T0 = 1_700_000_000_000_000_000


def _write(tmp_path, name, frames, linktype=1, **kw):
    p = tmp_path / name
    p.write_bytes(g.pcap_bytes([(T0 + i * 1000, f) for i, f in enumerate(frames)], linktype=linktype, **kw))
    return p


def _assert_same_both_ways(path):
    fast = read_packets(path, fast=True)
    slow = read_packets(path, fast=False)
    for name in PACKET_COLUMN_NAMES:
        a, b = fast.table[name], slow.table[name]
        bad = np.flatnonzero(a != b)
        assert not len(bad), f"{path.name}: column {name} differs at rows {bad[:5]}: fast={a[bad[:5]]} dpkt={b[bad[:5]]}"
    assert fast.accounting.to_dict() == slow.accounting.to_dict()
    return fast


@pytest.mark.parametrize("name,lt,frame,expected", g.link_variants(), ids=[v[0] for v in g.link_variants()])
def test_link_types(tmp_path, name, lt, frame, expected):
    path = _write(tmp_path, f"{name}.pcap", [frame, frame], linktype=lt)
    res = _assert_same_both_ways(path)
    assert res.accounting.packets == 2 and res.accounting.decoded == 2
    for col, want in expected.items():
        assert int(res.table[col][0]) == int(want), f"{name}: {col}={res.table[col][0]} expected {want}"
    assert addr_to_str(res.table.src_hi[0], res.table.src_lo[0]) in (g.V4A, g.V6A)


@pytest.mark.parametrize("name,lt,frame,expected", g.protocol_variants(), ids=[v[0] for v in g.protocol_variants()])
def test_protocols(tmp_path, name, lt, frame, expected):
    frames = [frame]
    if name == "frag-second":  # needs its first fragment earlier in the file
        first = next(v for v in g.protocol_variants() if v[0] == "frag-first")[2]
        frames = [first, frame]
    path = _write(tmp_path, f"{name}.pcap", frames, linktype=lt)
    res = _assert_same_both_ways(path)
    row = len(frames) - 1
    for col, want in expected.items():
        assert int(res.table[col][row]) == int(want), f"{name}: {col}={res.table[col][row]} expected {want}"


@pytest.mark.parametrize("name,lt,frame,reason", g.bad_variants(), ids=[v[0] for v in g.bad_variants()])
def test_undecodable_reasons(tmp_path, name, lt, frame, reason):
    good = g.eth(bytes(g._ip4(data=g.tcp())))
    p = tmp_path / f"{name}.pcap"
    if lt == 1:
        p.write_bytes(g.pcap_bytes([(T0, good), (T0 + 1, frame), (T0 + 2, good)], linktype=1))
    else:
        p.write_bytes(g.pcap_bytes([(T0, frame)], linktype=lt))
    res = _assert_same_both_ways(p)
    acct = res.accounting
    assert acct.undecodable == {reason: 1}, acct.undecodable
    assert acct.first_positions[reason] == [1 if lt == 1 else 0]
    assert acct.closes


def test_fragment_without_first_keeps_zero_ports(tmp_path):
    second = next(v for v in g.protocol_variants() if v[0] == "frag-second")[2]
    res = read_packets(_write(tmp_path, "orphan.pcap", [second]))
    assert res.table.sport[0] == 0 and res.table.frag_off[0] == 24 and res.table.status[0] == 0


def test_fragment_attribution_crosses_chunks(tmp_path):
    first = next(v for v in g.protocol_variants() if v[0] == "frag-first")[2]
    second = next(v for v in g.protocol_variants() if v[0] == "frag-second")[2]
    filler = g.eth(bytes(g._ip4(p=17, data=g.udp())))
    path = _write(tmp_path, "frags.pcap", [first] + [filler] * 5 + [second])
    chunks = list(stream_packets(path, chunk_packets=3))
    assert [len(c) for c in chunks] == [3, 3, 1]
    assert int(chunks[-1].sport[0]) == 6000 and int(chunks[-1].dport[0]) == 7000


def test_out_of_order_counted(tmp_path):
    f = g.eth(bytes(g._ip4(p=17, data=g.udp())))
    p = tmp_path / "ooo.pcap"
    p.write_bytes(g.pcap_bytes([(T0 + 5000, f), (T0, f), (T0 + 9000, f), (T0 + 8000, f)]))
    acct = read_packets(p).accounting
    assert acct.out_of_order == 2


def test_stream_equals_whole(tmp_path):
    frames = [v[2] for v in g.protocol_variants() if v[1] == 1] * 30
    path = _write(tmp_path, "mix.pcap", frames)
    whole = read_packets(path).table
    parts = list(stream_packets(path, chunk_packets=7))
    from forensics.packets import PacketTable

    joined = PacketTable.concat(parts)
    for name in PACKET_COLUMN_NAMES:
        assert np.array_equal(whole[name], joined[name]), name


def test_snaplen_truncated_payload_is_decoded(tmp_path):
    frame = g.eth(bytes(g._ip4(data=g.tcp(flags=0x18, payload=b"x" * 500))))
    p = tmp_path / "snap.pcap"
    p.write_bytes(g.pcap_bytes([(T0, frame[:68], len(frame))], snaplen=68))
    res = _assert_same_both_ways(p)
    assert res.table.status[0] == 0 and res.table.payload_len[0] == 500 and res.table.wirelen[0] == len(frame)


def test_gre_decapsulated_both_ways(tmp_path):
    """GRE over IPv4 decodes to the inner packet (addresses, ports, TTL) on the fast and the dpkt
    path; the record keeps the whole frame as its wire length (Argus counts it, measured)."""
    from tests import flowgen as fg

    inner = fg.tcp4("192.168.7.1", 40001, "192.168.7.2", 22, fg.S, seq=1)
    mac_c, mac_d = b"\x02\x00\x00\x00\x00\x0c", b"\x02\x00\x00\x00\x00\x0d"
    frames = [
        fg.in_gre(inner, "172.16.0.1", "172.16.0.2", key=9, seq=1),
        fg.in_gre(fg.in_gre(inner, "10.9.0.1", "10.9.0.2", csum=True), "172.16.0.1", "172.16.0.2"),
        fg.in_gre(mac_d + mac_c + inner[12:], "172.16.0.1", "172.16.0.2", mode="erspan2"),
        fg.in_gre(inner, "172.16.0.1", "172.16.0.2", mode="pptp"),
        fg.in_gre(inner, "2001:db8::1", "2001:db8::2", outer6=True),  # Argus: not opened
        fg.in_gre(inner, "172.16.0.1", "172.16.0.2", mode="raw:0x88b5"),  # unknown type: not opened
    ]
    path = _write(tmp_path, "gre.pcap", frames)
    t = _assert_same_both_ways(path).table
    for i in range(4):
        assert addr_to_str(t.src_hi[i], t.src_lo[i]) == "192.168.7.1" and addr_to_str(t.dst_hi[i], t.dst_lo[i]) == "192.168.7.2"
        assert (t.proto[i], t.sport[i], t.dport[i], t.tcp_flags[i], t.ttl[i]) == (6, 40001, 22, 2, 64)
        assert t.wirelen[i] == len(frames[i]) and t.link_skip[i] == 0 and t.status[i] == 0
    assert t.src_mac[2] == 0x02000000000C and t.dst_mac[2] == 0x02000000000D  # the ERSPAN frame's MACs
    assert t.src_mac[0] == int.from_bytes(fg.MAC["a"], "big")  # else the outer frame's
    assert list(t.proto[4:]) == [47, 47] and addr_to_str(t.src_hi[5], t.src_lo[5]) == "172.16.0.1"
    assert list(t.ttl[4:]) == [200, 200]


@pytest.mark.corpus
def test_corpus_fast_path_agrees_with_dpkt(corpus_dir):
    """Every corpus capture: decodes without crash, accounting closes, fast == dpkt on every packet."""
    files = [p for p in corpus_files() if sniff(p)[0]]
    assert len(files) > 2000
    from forensics.errors import CaptureError

    clean = warned = failed = 0
    for path in files:
        try:
            fast = read_packets(path, fast=True)
            slow = read_packets(path, fast=False)
        except CaptureError:
            failed += 1
            continue
        acct = fast.accounting
        assert acct.closes, path
        if acct.warnings:
            warned += 1
        else:
            clean += 1
        for name in PACKET_COLUMN_NAMES:
            assert np.array_equal(fast.table[name], slow.table[name]), f"{path}: column {name} differs"
    print(f"corpus: {len(files)} captures, {clean} clean, {warned} with warnings, {failed} unreadable")
    assert failed == 0
