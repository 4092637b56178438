"""``--open-tunnels`` (forensics.tunnels and decode's open_links): tunnels and link headers that
Zeek opens and Argus does not.  Captures built here with dpkt; each tunnelled packet must give
its outer flow (as without the option) and a flow of the packet inside."""

from __future__ import annotations

import ipaddress
import json
import struct
import subprocess
import sys

import dpkt
import pytest

from forensics.decode import read_packets
from forensics.features import extract_flows
from tests.pcapgen import MAC_A, MAC_B, _ip4, _ip6, eth, pcap_bytes, tcp, udp

T0 = 1_700_000_000 * 10**9
INNER_SMAC, INNER_DMAC = b"\x02\x00\x00\x00\x00\x1c", b"\x02\x00\x00\x00\x00\x1d"


def _outer_udp(sport, dport, payload, src="10.9.0.1", dst="10.9.0.2"):
    return eth(bytes(_ip4(src, dst, p=17, data=udp(sport, dport, payload))))


def _inner_tcp(src, dst, sport=40000, dport=80):
    return bytes(_ip4(src, dst, p=6, data=tcp(sport, dport)))


def _vxlan(frame: bytes) -> bytes:
    return b"\x08\x00\x00\x00" + b"\x00\x00\x01\x00" + frame


def _teredo_v6(src, dst, payload: bytes, nxt=17, origin=False) -> bytes:
    ip6 = bytes(_ip6(src, dst, nxt=nxt, data=payload))
    return (b"\x00\x00" + bytes(6) if origin else b"") + ip6


def tunnel_records():
    """(name, frame, inner 5-tuple or None): one record each."""
    recs = []
    # VXLAN: Ethernet inside (MACs of its own)
    inner_eth = bytes(dpkt.ethernet.Ethernet(src=INNER_SMAC, dst=INNER_DMAC, type=0x0800,
                                             data=_inner_tcp("192.168.7.1", "192.168.7.2")))
    recs.append(("vxlan", _outer_udp(50000, 4789, _vxlan(inner_eth)), ("tcp", "192.168.7.1", 40000, "192.168.7.2", 80)))
    # Geneve, IPv6 inside, 4 bytes of options
    inner6 = bytes(_ip6("fd00::a", "fd00::b", nxt=17, data=udp(1111, 2222, b"x")))
    gen = bytes([0x01, 0, 0x86, 0xDD]) + b"\x00\x00\x07\x00" + b"\x01\x02\x03\x04" + inner6
    recs.append(("geneve", _outer_udp(50001, 6081, gen), ("udp", "fd00::a", 1111, "fd00::b", 2222)))
    # GTP-U with the E flag and one extension header (PDU session container, 4 bytes)
    inner = bytes(_ip4("10.200.0.1", "8.8.8.8", p=17, data=udp(5353, 53, b"q")))
    ext = bytes([1, 0x00, 0x01, 0x00])  # length 1 (4 bytes), content, next type 0
    gtp = bytes([0x34, 0xFF]) + struct.pack(">HI", 4 + len(ext) + len(inner), 7) + b"\x00\x00\x00\x85" + ext + inner
    recs.append(("gtp", _outer_udp(2152, 2152, gtp, "10.9.1.1", "10.9.1.2"), ("udp", "10.200.0.1", 5353, "8.8.8.8", 53)))
    # AYIYA forward, IPv6 inside: identity 2**4 = 16 bytes, signature 5 words
    inner6 = bytes(_ip6("fd00::c", "fd00::d", nxt=17, data=udp(3333, 4444, b"y")))
    ay = bytes([0x41, 0x52, 0x11, 41]) + bytes(4) + bytes(16) + bytes(20) + inner6
    recs.append(("ayiya", _outer_udp(40001, 5072, ay), ("udp", "fd00::c", 3333, "fd00::d", 4444)))
    # GRE in UDP, IPv4 inside
    g = b"\x00\x00\x08\x00" + _inner_tcp("172.20.0.1", "172.20.0.2", 41000, 443)
    recs.append(("udp-gre", _outer_udp(40002, 4754, g), ("tcp", "172.20.0.1", 41000, "172.20.0.2", 443)))
    # IP in IP (IPv4 protocol 4)
    ipip = eth(bytes(_ip4("10.9.2.1", "10.9.2.2", p=4, data=_inner_tcp("172.21.0.1", "172.21.0.2", 42000, 22))))
    recs.append(("ipip", ipip, ("tcp", "172.21.0.1", 42000, "172.21.0.2", 22)))
    # Geneve carrying VXLAN carrying TCP: three levels
    vx_in = bytes(_ip4("10.50.0.1", "10.50.0.2", p=17, data=udp(26383, 4789, _vxlan(eth(_inner_tcp("192.168.9.1", "192.168.9.2", 43000, 8080))))))
    gen2 = bytes([0x00, 0, 0x08, 0x00]) + b"\x00\x00\x07\x00" + vx_in
    recs.append(("geneve-vxlan", _outer_udp(50002, 6081, gen2), ("tcp", "192.168.9.1", 43000, "192.168.9.2", 8080)))
    # Teredo: a client behind 10.9.3.1:3797 asks a server (3544, origin indication), then talks to a
    # peer on port 32900, which is opened because the client end is known
    bubble = _teredo_v6("2001:0:4137:9e50::1", "2001:0:4137:9e50::2", b"", nxt=59, origin=True)
    recs.append(("teredo-server", _outer_udp(3544, 3797, bubble, "10.9.3.9", "10.9.3.1"), None))
    t6 = _teredo_v6("2001:0:4137:9e50::1", "2001:4860::68", bytes(tcp(1286, 80)), nxt=6)
    recs.append(("teredo-peer", _outer_udp(3797, 32900, t6, "10.9.3.1", "83.170.1.38"),
                 ("tcp", "2001:0:4137:9e50::1", 1286, "2001:4860::68", 80)))
    # the same bytes from a host never seen as a Teredo client: not opened
    recs.append(("not-teredo", _outer_udp(3798, 32900, t6, "10.9.3.2", "83.170.1.38"), None))
    # port 4789 without the VXLAN I flag: not opened
    recs.append(("not-vxlan", _outer_udp(50003, 4789, b"\x00" * 8 + eth(_inner_tcp("192.168.8.1", "192.168.8.2"))), None))
    return recs


def link_records():
    inner = eth(_inner_tcp("10.77.0.1", "10.77.0.2", 44000, 80))
    fp = MAC_B + MAC_A + b"\x89\x03" + b"\x00\x00" + inner  # FabricPath: 16 bytes, then the frame
    pbb = MAC_B + MAC_A + b"\x81\x00\x0f\xd3" + b"\x88\xe7" + b"\x00\x1e\xbb\x44" + \
        eth(_inner_tcp("10.77.1.1", "10.77.1.2", 44001, 80))  # B-tag, I-TAG, customer frame
    vn = MAC_B + MAC_A + b"\x89\x26" + b"\x00\x00\x00\x33" + b"\x08\x00" + _inner_tcp("10.77.2.1", "10.77.2.2", 44002, 80)
    return [("fabricpath", fp, ("tcp", "10.77.0.1", 44000, "10.77.0.2", 80)),
            ("pbb", pbb, ("tcp", "10.77.1.1", 44001, "10.77.1.2", 80)),
            ("vntag", vn, ("tcp", "10.77.2.1", 44002, "10.77.2.2", 80))]


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    recs = tunnel_records() + link_records()
    path = tmp_path_factory.mktemp("tun") / "tunnels.pcap"
    path.write_bytes(pcap_bytes([(T0 + n * 10**6, frame) for n, (_, frame, _) in enumerate(recs)]))
    return path, recs


def _keys(df):
    return {(r.proto, r.saddr, int(r.sport), r.daddr, int(r.dport)): (int(r.spkts), int(r.dpkts))
            for r in df.itertuples() if r.proto in ("tcp", "udp")}


def _norm(key):
    proto, s, sp, d, dp = key
    return (proto, str(ipaddress.ip_address(s)), sp, str(ipaddress.ip_address(d)), dp)


def test_inner_flows_only_with_the_option(capture):
    path, recs = capture
    closed, acc0 = extract_flows(path)
    opened, acc1 = extract_flows(path, open_tunnels=True)
    k0, k1 = _keys(closed), _keys(opened)
    inner = {_norm(want) for _, _, want in recs if want is not None}
    assert not inner & set(k0), "Argus's view opens none of them"
    assert inner <= set(k1), sorted(inner - set(k1))
    assert all(k1[k] == (1, 0) for k in inner)  # one packet each, from the inner source
    # every outer UDP flow is still there, counted as before
    assert {k: v for k, v in k0.items() if k[0] == "udp"}.items() <= k1.items()
    # the VXLAN inside Geneve is a flow too (the middle level)
    assert ("udp", "10.50.0.1", 26383, "10.50.0.2", 4789) in k1
    # MACs: an Ethernet frame inside gives its own, raw IP inside none, the outer flow keeps the outer's
    mac = {(r.saddr, r.daddr): (r.smac, r.dmac) for r in opened.itertuples()}
    assert mac[("192.168.7.1", "192.168.7.2")] == ("02:00:00:00:00:1c", "02:00:00:00:00:1d")
    assert mac[("10.9.0.1", "10.9.0.2")] == ("02:00:00:00:00:0a", "02:00:00:00:00:0b")
    assert mac[("10.200.0.1", "8.8.8.8")] == ("", "")
    # look-alikes are not opened: the unknown Teredo end point, port 4789 without the I flag
    assert not any(k[1] == "192.168.8.1" for k in k1)
    assert sum(1 for k in k1 if k[1] == "2001:0:4137:9e50::1") == 1
    # the records are what is accounted, opened or not
    assert acc0.packets == acc1.packets == len(recs)
    assert acc0.decoded == acc1.decoded


def test_link_headers_argus_keys_by_mac(capture):
    path, recs = capture
    closed, _ = extract_flows(path)
    # FabricPath (0x8903), PBB behind its VLAN tag (keyed by the tag's type: "well") and VN-tag
    # (0x8926) frames: rows keyed by MAC, as Argus keys them
    macs = closed[closed["saddr"] == "02:00:00:00:00:0a"]
    assert sorted(macs["proto"]) == ["35075", "35110", "well"]
    assert not closed["saddr"].isin(["10.77.0.1", "10.77.1.1", "10.77.2.1"]).any()


def test_packet_table_rows_follow_their_record(capture):
    path, recs = capture
    from forensics.decode import LEVELS

    whole = read_packets(path, open_tunnels=True)
    t = whole.table
    idx = t.index.tolist()
    assert idx == sorted(idx) and len(set(idx)) == len(idx)  # each added row right after its record
    assert sorted({i // LEVELS for i in idx}) == list(range(len(recs)))
    assert len(t) - len(recs) == sum(1 for i in idx if i % LEVELS)
    # levels of the Geneve > VXLAN > TCP record: outer UDP, inner UDP to 4789, TCP
    n = [name for name, _, _ in recs].index("geneve-vxlan")
    rows = [i for i, v in enumerate(idx) if v // LEVELS == n]
    assert [idx[i] % LEVELS for i in rows] == [0, 1, 2]
    assert [int(t.proto[i]) for i in rows] == [17, 17, 6]
    assert [int(t.dport[i]) for i in rows] == [6081, 4789, 8080]
    assert all(int(t.ts_ns[i]) == int(t.ts_ns[rows[0]]) for i in rows)
    assert int(t.caplen[rows[1]]) < int(t.caplen[rows[0]]) and int(t.wirelen[rows[2]]) == int(t.caplen[rows[2]])


def test_chunked_equals_whole_with_tunnels_opened(capture):
    path, _ = capture
    whole, _ = extract_flows(path, open_tunnels=True)
    for chunk in (1, 3):
        part, _ = extract_flows(path, open_tunnels=True, chunk_packets=chunk)
        assert part.equals(whole), chunk


def test_ppp_link_type(tmp_path):
    ip = bytes(_ip6("fd00::1", "fd00::2", nxt=17, data=udp(4000, 443, b"quic")))
    recs = [(T0, b"\x00\x57" + ip), (T0 + 10**6, b"\xff\x03\x00\x57" + ip), (T0 + 2 * 10**6, b"\xc0\x21" + bytes(8))]
    p = tmp_path / "ppp.pcap"
    p.write_bytes(pcap_bytes(recs, linktype=9))
    closed, acc0 = extract_flows(p)
    opened, acc1 = extract_flows(p, open_tunnels=True)
    assert _keys(closed) == {}
    assert acc0.undecodable.get("unknown_link_type") == 3 and any("unsupported link type 9" in w for w in acc0.warnings)
    assert _keys(opened) == {("udp", "fd00::1", 4000, "fd00::2", 443): (2, 0)}
    assert acc1.decoded == 3 and not acc1.undecodable and not acc1.warnings  # (LCP: read, no IP in it)


def test_cli_flows_and_scan(capture, tmp_path):
    path, recs = capture
    env_py = [sys.executable, "-m", "forensics"]
    for flag, csv in (([], tmp_path / "closed.csv"), (["--open-tunnels"], tmp_path / "open.csv")):
        r = subprocess.run([*env_py, "flows", str(path), "-o", str(csv), *flag], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    import pandas as pd

    closed, opened = pd.read_csv(tmp_path / "closed.csv"), pd.read_csv(tmp_path / "open.csv")
    assert "192.168.7.1" in set(opened["saddr"]) and "192.168.7.1" not in set(closed["saddr"])
    summary = tmp_path / "s.json"
    r = subprocess.run([*env_py, "scan", str(path), "--open-tunnels", "--json", str(summary), "-q", "--no-app-detail"],
                       capture_output=True, text=True)
    assert r.returncode in (0, 1), r.stderr
    s = json.loads(summary.read_text())
    assert s["flows"] == len(opened)
    assert s["inputs"][0]["packets"] == len(recs)
    # the report says the tunnels were opened (and only then)
    for flag, said in ((["--open-tunnels"], True), ([], False)):
        html = tmp_path / f"r{len(flag)}.html"
        r = subprocess.run([*env_py, "scan", str(path), *flag, "--report", str(html), "-q", "--no-app-detail"],
                           capture_output=True, text=True)
        assert r.returncode in (0, 1), r.stderr
        assert ('id="open-tunnels"' in html.read_text()) is said


def test_tunnel_header_parsers_refuse_what_they_do_not_know():
    from forensics import tunnels as tu
    from forensics.decode import LT_RAW

    assert tu.vxlan(b"\x00" * 30) is None  # no I flag
    assert tu.geneve(b"\x40" + bytes(29)) is None  # version 1
    assert tu.geneve(bytes([0, 0, 0x12, 0x34]) + bytes(30)) is None  # protocol type not opened
    assert tu.gtpu(bytes([0x30, 0x01]) + bytes(30)) is None  # echo request, not a T-PDU
    assert tu.gtpu(bytes([0x34, 0xFF]) + bytes(9) + b"\x85" + b"\x00") is None  # extension of length 0
    bare = b"\x60" + bytes(39)  # an IPv6 header with payload length 0: the whole datagram
    assert tu.teredo(bare) == (LT_RAW, bare)
    assert tu.teredo(b"\x00\x00" + bytes(6) + bare) == (LT_RAW, bare)  # behind an origin indication
    assert tu.teredo(bare + b"x") is None  # payload length does not fill the datagram
    assert tu.teredo(b"\x60" + bytes(38)) is None  # shorter than an IPv6 header
    assert tu.ayiya(bytes([0x41, 0x52, 0x12, 41]) + bytes(60)) is None  # opcode 2: not a forwarded packet
    assert tu.aruba_gre(b"\x00\x00\x08\x00" + bytes(30)) is None  # GRE IPv4 is decode's (Argus opens it)


def _opened_both_ways(path):
    import numpy as np

    from forensics.capture import Accounting, frame
    from forensics.decode import decode_batch
    from forensics.tunnels import TunnelOpener

    vec, one = TunnelOpener(vectorised=True), TunnelOpener(vectorised=False)
    out = []
    for batch in frame(str(path), Accounting(str(path))):
        t = decode_batch(batch, True, open_links=True)
        a, b = vec.open(batch, t), one.open(batch, t)
        assert len(a) == len(b)
        for k in a.columns:
            assert np.array_equal(a.columns[k], b.columns[k]), k
        out.append(len(a) - len(t))
    return sum(out)


def test_vectorised_opening_equals_packet_by_packet(capture, tmp_path):
    path, recs = capture
    assert _opened_both_ways(path) >= 10
    # VLAN-tagged VXLAN, a GTP-U with the S flag (12-byte header, no extension), Ethernet
    # padding behind a short Geneve datagram, and a VXLAN capture cut short (snap length)
    inner = _inner_tcp("192.168.30.1", "192.168.30.2", 45000, 80)
    tagged = MAC_B + MAC_A + b"\x81\x00\x00\x05" + b"\x08\x00" + bytes(
        _ip4("10.9.5.1", "10.9.5.2", p=17, data=udp(50010, 4789, _vxlan(eth(inner)))))
    gtp_s = bytes([0x32, 0xFF]) + struct.pack(">HI", 4 + len(inner), 9) + b"\x00\x01\x00\x00" + inner
    short6 = bytes(_ip6("fd00::e", "fd00::f", nxt=59))
    gen_pad = _outer_udp(50011, 6081, bytes([0, 0, 0x86, 0xDD]) + bytes(4) + short6) + bytes(12)
    recs2 = [(T0, tagged), (T0 + 1, _outer_udp(2152, 2152, gtp_s)), (T0 + 2, gen_pad),
             (T0 + 3, _outer_udp(50012, 4789, _vxlan(eth(inner)))[:96], 200),  # inner TCP header cut
             (T0 + 4, _outer_udp(50013, 4789, _vxlan(eth(inner)))[:60], 200)]  # inner Ethernet cut: nothing
    p = tmp_path / "more.pcap"
    p.write_bytes(pcap_bytes(recs2))
    assert _opened_both_ways(p) == 4


@pytest.mark.corpus
def test_vectorised_opening_equals_packet_by_packet_on_corpus_tunnels(corpus_dir):
    traces = sorted((corpus_dir / "zeek" / "traces" / "tunnels").rglob("*.pcap"))
    assert traces
    assert sum(_opened_both_ways(t) for t in traces) > 100


def test_mangled_tunnel_captures_open_the_same_both_ways_and_never_raise(capture, tmp_path):
    """Mutants of the generated tunnel capture (bytes overwritten, cut, shifted): opening never
    raises and the vectorised path still gives what the packet-by-packet one gives."""
    import random

    from forensics.errors import CaptureError
    from tests.test_fuzz import mutate

    path, _ = capture
    data = path.read_bytes()
    rng = random.Random(29)
    opened = 0
    for k in range(60):
        p = tmp_path / f"m{k}.pcap"
        p.write_bytes(mutate(data, ("overwrite", "cut", "shift")[k % 3], rng))
        try:
            opened += _opened_both_ways(p)
            flows, acc = extract_flows(p, open_tunnels=True)
        except CaptureError:
            continue
        assert acc.packets == acc.decoded + sum(acc.undecodable.values())
    assert opened > 100  # most mutants still hold tunnels that open


@pytest.mark.skipif(not __import__("shutil").which("tshark"), reason="tshark is not installed")
def test_application_detail_of_flows_inside_tunnels(tmp_path):
    """HTTP requests, DNS names and an MQTT topic sent by an attacker inside VXLAN: with
    --open-tunnels the incident is the inner attacker's and its detail is read (the reduced copy
    keeps the records whose inside is the attacker's, tshark's innermost layers name the flow)."""
    from forensics.scan import ScanConfig, scan
    from tests.test_appdetail import ATTACKER, _details, _expected_present, app_packets
    from tests.test_scan_double import DETECTOR

    recs = []
    for n, (t, frame) in enumerate(app_packets(1_700_000_000.0)):
        outer = _outer_udp(50100 + n, 4789, _vxlan(frame), "10.9.9.1", "10.9.9.2")
        recs.append((int(t * 1e9), outer))
    cap = tmp_path / "vxlan-app.pcap"
    cap.write_bytes(pcap_bytes(recs))
    cfg = dict(workers=1, detector=DETECTOR, app_detail=True)
    closed = scan([cap], ScanConfig(**cfg))
    assert closed.incidents == []  # the double calls nothing outside 10.66/16 an attack: no inner flow, no incident
    opened = scan([cap], ScanConfig(**cfg, open_tunnels=True))
    assert {i.attacker for i in opened.incidents} == {ATTACKER}
    det = _details(opened)
    _expected_present(det)
    assert det["notes"] == []


def test_argus_view_says_what_it_leaves_closed(capture, samples_dir):
    """Without the option the accounting counts the packets --open-tunnels would open, by kind
    (look-alikes not counted), and says so in one warning; with it, or without tunnels, nothing."""
    path, recs = capture
    _, acc = extract_flows(path)
    (note,) = [w for w in acc.warnings if "--open-tunnels" in w]
    # every kind once, Geneve twice (the Geneve > VXLAN record counts as Geneve); the Teredo peer
    # exchange is not counted (the counter does not learn clients), nor the two look-alikes
    for part in ("VXLAN 1", "Geneve 2", "GTP-U 1", "AYIYA 1", "GRE-in-UDP 1", "IP in IP 1", "Teredo 1",
                 "FabricPath 1", "PBB 1", "VN-tag 1"):
        assert part in note, part
    assert note.startswith("11 packet(s)")
    _, acc = extract_flows(path, open_tunnels=True)
    assert not any("--open-tunnels" in w for w in acc.warnings)
    for cap in sorted(samples_dir.rglob("*.pcap*"))[:3]:
        _, acc = extract_flows(cap)
        assert not any("--open-tunnels" in w for w in acc.warnings), cap


def test_a_tunnels_own_flow_gets_no_verdict_when_opened(capture):
    """With --open-tunnels the UDP and IP-in-IP flows whose packets were opened (every level, the
    Teredo client's peer exchange too) are not classified: the flows inside them are; look-alikes are
    classified as any flow; without the option no flow is marked."""
    from forensics.detect import TUNNEL_EVIDENCE
    from forensics.scan import ScanConfig, scan

    path, _ = capture
    cfg = dict(workers=1, app_detail=False, keep_flows=True)
    opened = scan([path], ScanConfig(**cfg, open_tunnels=True)).flow_table
    marked = opened[opened["evidence"] == TUNNEL_EVIDENCE]
    got = {(r.proto, r.saddr, str(r.sport), r.daddr, str(r.dport)) for r in marked.itertuples()}
    assert got == {("udp", "10.9.0.1", "50000", "10.9.0.2", "4789"), ("udp", "10.9.0.1", "50001", "10.9.0.2", "6081"),
                   ("udp", "10.9.1.1", "2152", "10.9.1.2", "2152"), ("udp", "10.9.0.1", "40001", "10.9.0.2", "5072"),
                   ("udp", "10.9.0.1", "40002", "10.9.0.2", "4754"), ("udp", "10.9.0.1", "50002", "10.9.0.2", "6081"),
                   ("udp", "10.50.0.1", "26383", "10.50.0.2", "4789"), ("udp", "10.9.3.9", "3544", "10.9.3.1", "3797"),
                   ("udp", "10.9.3.1", "3797", "83.170.1.38", "32900"),
                   ("ipnip", "10.9.2.1", "", "10.9.2.2", "")}  # (IP in IP: the outer flow has no ports)
    assert not marked["pred_attack"].astype(bool).any() and marked["confidence"].isna().all()
    assert (marked["pred_category"] == "Normal").all()
    closed = scan([path], ScanConfig(**cfg)).flow_table
    assert not (closed["evidence"] == TUNNEL_EVIDENCE).any()


def test_argus_view_names_the_flows_that_carry_closed_tunnels(capture):
    """Without the option the accounting keeps the UDP and IP-in-IP flows that carry what it counted, with
    their kind (both orientations; look-alikes not); with the option, none."""
    path, _ = capture
    _, acc = extract_flows(path)
    kinds = acc.closed_tunnels
    assert kinds[("10.9.0.1", "50000", "10.9.0.2", "4789")] == "VXLAN"
    assert kinds[("10.9.0.2", "4789", "10.9.0.1", "50000")] == "VXLAN"
    assert kinds[("10.9.0.1", "50001", "10.9.0.2", "6081")] == "Geneve"
    assert kinds[("10.9.1.1", "2152", "10.9.1.2", "2152")] == "GTP-U"
    assert kinds[("10.9.0.1", "40001", "10.9.0.2", "5072")] == "AYIYA"
    assert kinds[("10.9.0.1", "40002", "10.9.0.2", "4754")] == "GRE-in-UDP"
    assert kinds[("10.9.2.2", "", "10.9.2.1", "")] == "IP in IP"  # (no ports: as its flow prints them)
    assert ("10.9.0.1", "50003", "10.9.0.2", "4789") not in kinds  # port 4789 without the VXLAN I flag
    assert not extract_flows(path, open_tunnels=True)[1].closed_tunnels


def test_an_attack_verdict_on_a_closed_tunnel_says_what_it_judges(tmp_path):
    """Argus's view judges a tunnel's own flow on its outer packets: a busy VXLAN flow between two
    end points gets a verdict about the tunnel as a whole.  Its evidence says so first and points to
    --open-tunnels, which judges the flows inside (and gives the tunnel's own flow none)."""
    import pandas as pd

    from forensics.batch import _closed_tunnel_evidence
    from forensics.detect import CLOSED_TUNNEL_EVIDENCE
    from forensics.scan import ScanConfig, scan

    flows = pd.DataFrame({"proto": ["udp", "udp", "tcp"], "saddr": ["10.9.0.1", "10.9.0.3", "10.9.0.1"],
                          "sport": [50000, 50000, 50000], "daddr": ["10.9.0.2", "10.9.0.4", "10.9.0.2"],
                          "dport": [4789, 4789, 4789]})
    pred = pd.DataFrame({"pred_attack": [True, True, True], "evidence": ["model says", "", "x"]})
    kinds = {("10.9.0.1", "50000", "10.9.0.2", "4789"): "VXLAN"}  # (the accounting holds both orientations)
    out = _closed_tunnel_evidence(pred, flows, kinds)
    text = CLOSED_TUNNEL_EVIDENCE.format(kind="VXLAN")
    assert out["evidence"].tolist() == [f"{text}; model says", "", "x"] and pred["evidence"][0] == "model says"
    assert _closed_tunnel_evidence(pred.assign(pred_attack=False), flows, kinds)["evidence"][0] == "model says"

    recs = []  # 3,000 VXLAN datagrams in 0.6 s between two end points, 60 hosts inside sending to a server
    for i in range(3000):
        inner = bytes(_ip4(f"192.168.7.{1 + i % 60}", "192.168.7.200", p=17, data=udp(40000 + i % 60, 5683, b"x" * 40)))
        recs.append((T0 + i * 200_000, _outer_udp(50000, 4789, _vxlan(eth(inner)))))
    cap = tmp_path / "vx.pcap"
    cap.write_bytes(pcap_bytes(recs))
    closed = scan([cap], ScanConfig(workers=1, app_detail=False))
    # the bundled model calls the one outer flow an attack between the end points
    [inc] = closed.incidents
    assert {inc.attacker, *inc.victims} == {"10.9.0.1", "10.9.0.2"}
    assert any(e.startswith(f"{text}; ") for e in inc.evidence), inc.evidence
    from io import StringIO

    from rich.console import Console

    from forensics.report.terminal import render as render_terminal

    buf = StringIO()
    render_terminal(closed, Console(file=buf, force_terminal=False, width=200))
    assert (f"#{inc.id}: judged on a tunnel's own flow (VXLAN) between its end points; --open-tunnels judges the "
            "flows inside it") in buf.getvalue()
    opened = scan([cap], ScanConfig(workers=1, app_detail=False, open_tunnels=True))
    assert opened.incidents and all(i.attacker.startswith("192.168.7.") for i in opened.incidents)
    assert not any(text in e for i in opened.incidents for e in i.evidence)


@pytest.mark.parametrize("outer", ["ipv4", "ipv6"])
def test_an_ip_in_ip_tunnels_own_flow_is_judged_as_a_udp_tunnels_is(tmp_path, outer):
    """IP in IP (IPv4 protocol 4, IPv6 next header 4) is a tunnel like the UDP kinds: in Argus's
    view an attack verdict on its outer flow says it judges the tunnel as a whole; with
    --open-tunnels that flow gets no verdict and the flows inside are judged."""
    from forensics.detect import CLOSED_TUNNEL_EVIDENCE, TUNNEL_EVIDENCE
    from forensics.scan import ScanConfig, scan

    a, b = ("10.9.0.1", "10.9.0.2") if outer == "ipv4" else ("fd09::1", "fd09::2")
    recs = []  # 3,000 packets of 540 bytes in 0.6 s between two end points, 60 hosts inside sending to a server
    for i in range(3000):
        inner = _ip4(f"192.168.7.{1 + i % 60}", "192.168.7.200", p=17, data=udp(40000 + i % 60, 5683, b"x" * 500))
        carrier = _ip4(a, b, p=4, data=inner) if outer == "ipv4" else _ip6(a, b, nxt=4, data=inner)
        recs.append((T0 + i * 200_000, eth(bytes(carrier), 0x0800 if outer == "ipv4" else 0x86DD)))
    cap = tmp_path / "ipip.pcap"
    cap.write_bytes(pcap_bytes(recs))
    assert extract_flows(cap)[1].closed_tunnels[(a, "", b, "")] == "IP in IP"
    closed = scan([cap], ScanConfig(workers=1, app_detail=False))
    text = CLOSED_TUNNEL_EVIDENCE.format(kind="IP in IP")
    [inc] = closed.incidents  # the bundled model calls the one outer flow an attack between the end points
    assert {inc.attacker, *inc.victims} == {a, b}
    assert any(e.startswith(f"{text}; ") for e in inc.evidence), inc.evidence
    opened = scan([cap], ScanConfig(workers=1, app_detail=False, open_tunnels=True, keep_flows=True))
    outer_flow = opened.flow_table[opened.flow_table["proto"] == "ipnip"]
    assert len(outer_flow) == 1 and outer_flow["evidence"].tolist() == [TUNNEL_EVIDENCE]
    assert not outer_flow["pred_attack"].astype(bool).any()
    assert opened.incidents and all(i.attacker.startswith("192.168.7.") for i in opened.incidents)
