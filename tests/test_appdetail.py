"""The application-layer step: tshark reads a reduced temporary copy of the capture
(forensics.report.appdetail.reduce_capture), and the original file when no faithful copy exists."""

from __future__ import annotations

import bz2
import ipaddress
import os
import time
import shutil
import struct
from pathlib import Path

import dpkt
import pytest

try:  # tests/ may or may not be a package
    from tests.pcapgen import pcapng_epb, pcapng_idb, pcapng_shb
    from tests.test_scan_double import DETECTOR, EXTRACTOR, dns_query, eth_ip, mqtt_publish, tcp, udp, write_pcap
except ImportError:
    from pcapgen import pcapng_epb, pcapng_idb, pcapng_shb
    from test_scan_double import DETECTOR, EXTRACTOR, dns_query, eth_ip, mqtt_publish, tcp, udp, write_pcap

from forensics.report import appdetail
from forensics.report.appdetail import CannotReduce, reduce_capture
from forensics.scan import ScanConfig, scan

TSHARK = shutil.which("tshark")
needs_tshark = pytest.mark.skipif(not TSHARK, reason="tshark is not installed")

ATTACKER, VICTIM, OTHER = "10.66.0.5", "192.168.1.10", "192.168.1.20"
N_SYN = 30_000
REQUESTS = [  # (path, host): HTTP GETs at the start of their connections
    ("/forensics-probe/alpha.php?id=1", "alpha.victim.test"),
    ("/forensics-probe/beta/login", "beta.victim.test"),
    ("/forensics-probe/gamma.cgi", "gamma.victim.test"),
]
NAMES = ["exfil-one.forensics.test", "exfil-two.forensics.test", "c2.forensics.test"]
TOPIC = "forensics/probe/telemetry"


def _get(path, host):
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: probe/1.0\r\n\r\n".encode()


def app_packets(t0: float) -> list[tuple[float, bytes]]:
    """The packets that carry what the step looks for (all from/to ATTACKER)."""
    pk = []
    t = t0
    for i, (path, host) in enumerate(REQUESTS):
        pk.append((t, tcp(ATTACKER, VICTIM, 41000 + i, 80, _get(path, host))))
        t += 0.01
    for i, name in enumerate(NAMES):
        pk.append((t, udp(ATTACKER, VICTIM, 42000 + i, 53, dns_query(name, qid=0x100 + i))))
        t += 0.01
    pk.append((t, tcp(ATTACKER, VICTIM, 43000, 1883, mqtt_publish(TOPIC))))
    return pk


def syn_flood_capture(path: Path, n_syn: int = N_SYN, t0: float = 1_700_000_000.0) -> Path:
    """``n_syn`` payload-less SYNs from ATTACKER to VICTIM, ICMP and bare ACKs, the app packets in
    the middle of the flood, and normal traffic between two other hosts."""
    syn = bytearray(tcp(ATTACKER, VICTIM, 1, 80, flags=dpkt.tcp.TH_SYN))
    sport_at = 14 + 20  # Ethernet + IPv4 header: the TCP source port
    pkts: list[tuple[float, bytes]] = []
    t = t0
    for i in range(n_syn):
        struct.pack_into("!H", syn, sport_at, 1024 + i % 5000)
        pkts.append((t, bytes(syn)))
        t += 0.0001
        if i == n_syn // 2:
            pkts.extend(app_packets(t))
            t += 0.1
    icmp = dpkt.icmp.ICMP(type=8, code=0, data=dpkt.icmp.ICMP.Echo(id=1, seq=1, data=b"ping"))
    for i in range(20):
        pkts.append((t, eth_ip(ATTACKER, VICTIM, 1, bytes(icmp))))
        pkts.append((t, tcp(VICTIM, ATTACKER, 80, 1024 + i, flags=dpkt.tcp.TH_ACK)))
        t += 0.001
    for i in range(10):
        pkts.append((t, udp(OTHER, VICTIM, 5000, 53, dns_query("normal.forensics.test"))))
        t += 0.01
    return write_pcap(path, pkts)


def tunnel_capture(path: Path) -> tuple[Path, list[bytes]]:
    """150 DNS queries (and answers) on one 5-tuple and 150 MQTT publishes on one connection."""
    pk = []
    for i in range(150):
        pk.append(udp(ATTACKER, VICTIM, 5353, 53, dns_query(f"chunk{i}.tunnel.test", qid=i)))
        pk.append(udp(VICTIM, ATTACKER, 53, 5353, b"r" * 30))
        pk.append(tcp(ATTACKER, VICTIM, 45000, 1883, mqtt_publish(f"t/{i % 60}"), seq=1 + 10 * i))
    return write_pcap(path, pk), pk


def _details(rep) -> dict:
    out = {"http": [], "dns": [], "mqtt": [], "notes": []}
    for inc in rep.incidents:
        d = inc.app_detail
        out["http"] += [(h["method"], h["host"], h["uri"]) for h in d.get("http", [])]
        out["dns"] += [x["name"] for x in d.get("dns", [])]
        out["mqtt"] += [(m["topic"], m["kind"]) for m in d.get("mqtt", [])]
        if d.get("note"):
            out["notes"].append(d["note"])
    return out


def _pcap_records(path: Path) -> list[tuple[float, bytes]]:
    with open(path, "rb") as fh:
        return [(ts, bytes(buf)) for ts, buf in dpkt.pcap.Reader(fh)]


class _Spy:
    """Wraps reduce_capture: records what it wrote and whether the file existed afterwards."""

    def __init__(self, monkeypatch):
        self.calls: list[tuple[Path, object]] = []
        real = appdetail.reduce_capture

        def spy(path, attackers, out_path, **kw):
            try:
                r = real(path, attackers, out_path, **kw)
            except CannotReduce as exc:
                self.calls.append((Path(out_path), exc))
                raise
            self.calls.append((Path(out_path), r))
            return r

        monkeypatch.setattr(appdetail, "reduce_capture", spy)


@pytest.fixture(scope="module")
def flood(tmp_path_factory) -> Path:
    return syn_flood_capture(tmp_path_factory.mktemp("flood") / "flood.pcap")


# --------------------------------------------------------------------------- the reduced copy (no tshark)


def test_reduced_copy_keeps_only_attacker_payload_packets(flood, tmp_path):
    out = tmp_path / "r.pcap"
    r = reduce_capture(flood, {ATTACKER}, out)
    total = N_SYN + len(app_packets(0)) + 20 * 2 + 10
    assert r.packets_read == total
    kept = _pcap_records(out)
    assert r.packets_kept == len(kept) == len(app_packets(0)) == 7
    assert not r.flow_capped and not r.total_capped and r.complete
    # the very records of the original, with their timestamps, in file order
    original = _pcap_records(flood)
    wanted = [rec for rec in original if rec[1] in {p for _, p in app_packets(0)}]
    assert kept == wanted
    with open(out, "rb") as fh:
        assert dpkt.pcap.Reader(fh).datalink() == dpkt.pcap.DLT_EN10MB


def test_reduced_copy_bounds_per_flow_and_total(tmp_path):
    pk = []
    for i in range(100):  # one UDP 5-tuple, both directions: 64 kept
        pk.append(udp(ATTACKER, VICTIM, 7000, 9999, b"q%d" % i) if i % 2 == 0 else udp(VICTIM, ATTACKER, 9999, 7000, b"r" * 12))
    for i in range(30):  # 30 more flows of 3 packets each
        pk += [udp(ATTACKER, VICTIM, 6000 + i, 9999, b"q" * 20)] * 3
    cap = write_pcap(tmp_path / "c.pcap", pk)
    r = reduce_capture(cap, {ATTACKER}, tmp_path / "r1.pcap")
    assert r.packets_kept == 64 + 90 and r.flow_capped and not r.total_capped
    kept = [buf for _, buf in _pcap_records(tmp_path / "r1.pcap")]
    assert kept == pk[:64] + pk[100:]
    r = reduce_capture(cap, {ATTACKER}, tmp_path / "r2.pcap", total=70)
    assert r.packets_kept == 70 and r.total_capped
    assert [buf for _, buf in _pcap_records(tmp_path / "r2.pcap")] == pk[:64] + pk[100:106]
    r = reduce_capture(cap, {"10.99.0.1"}, tmp_path / "r3.pcap")
    assert r.packets_kept == 0 and not r.flow_capped and _pcap_records(tmp_path / "r3.pcap") == []


def test_dns_and_mqtt_ports_are_not_capped_per_flow(tmp_path):
    """A DNS tunnel reuses one 5-tuple for every query; an MQTT session publishes on one connection."""
    cap, pk = tunnel_capture(tmp_path / "tunnel.pcap")
    r = reduce_capture(cap, {ATTACKER}, tmp_path / "r.pcap")
    assert r.packets_kept == len(pk) and not r.flow_capped
    assert [buf for _, buf in _pcap_records(tmp_path / "r.pcap")] == pk


def test_reduced_copy_keeps_nanoseconds_link_type_and_ipv6(tmp_path):
    a6, v6 = "2001:db8::66", "2001:db8::10"
    q = dpkt.udp.UDP(sport=5000, dport=53, data=dns_query("v6.forensics.test"))
    q.ulen = 8 + len(q.data)
    ip6 = dpkt.ip6.IP6(src=ipaddress.ip_address(a6).packed, dst=ipaddress.ip_address(v6).packed, nxt=17, hlim=64,
                       data=bytes(q))
    ip6.plen = len(bytes(q))
    raw6 = bytes(ip6)
    syn6 = dpkt.tcp.TCP(sport=1, dport=80, flags=dpkt.tcp.TH_SYN)
    ip6s = dpkt.ip6.IP6(src=ip6.src, dst=ip6.dst, nxt=6, hlim=64, data=bytes(syn6))
    ip6s.plen = len(bytes(syn6))
    path = tmp_path / "raw6.pcap"
    ts = [(1_700_000_000, 123_456_789), (1_700_000_001, 1), (1_700_000_002, 999_999_999)]
    frames = [bytes(ip6s), raw6, raw6]
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 101))  # nanoseconds, LINKTYPE_RAW
        for (s, ns), f in zip(ts, frames):
            fh.write(struct.pack("<IIII", s, ns, len(f), len(f)) + f)
    out = tmp_path / "r.pcap"
    r = reduce_capture(path, {a6}, out)
    assert r.packets_kept == 2
    data = out.read_bytes()
    magic, _, _, _, _, _, network = struct.unpack_from("<IHHiIII", data, 0)
    assert magic == 0xA1B23C4D and network == 101
    recs = []
    off = 24
    while off < len(data):
        s, ns, cap, wire = struct.unpack_from("<IIII", data, off)
        recs.append(((s, ns), data[off + 16 : off + 16 + cap]))
        off += 16 + cap
    assert recs == [(ts[1], raw6), (ts[2], raw6)]


def _two_linktype_pcapng(path: Path, compress: bool = False) -> Path:
    """Interface 0 Ethernet, interface 1 raw IPv4; attacker app packets on both."""
    t0 = 1_700_000_000_000_000  # microseconds
    blocks = [pcapng_shb(), pcapng_idb(1), pcapng_idb(101)]
    eth_get = tcp(ATTACKER, VICTIM, 41000, 80, _get(*REQUESTS[0]))
    raw_dns = udp(ATTACKER, VICTIM, 42000, 53, dns_query(NAMES[0]))[14:]
    for i in range(50):
        blocks.append(pcapng_epb(0, t0 + i * 1000, tcp(ATTACKER, VICTIM, 1024 + i, 80, flags=dpkt.tcp.TH_SYN)))
    blocks.append(pcapng_epb(0, t0 + 60_000, eth_get))
    blocks.append(pcapng_epb(1, t0 + 70_000, raw_dns))
    data = b"".join(blocks)
    path.write_bytes(bz2.compress(data) if compress else data)
    return path


def test_no_faithful_copy_raises(tmp_path):
    with pytest.raises(CannotReduce, match="several link types"):
        reduce_capture(_two_linktype_pcapng(tmp_path / "two.pcapng"), {ATTACKER}, tmp_path / "r.pcap")
    with pytest.raises(CannotReduce, match="reader rejects"):
        (tmp_path / "junk.pcap").write_bytes(b"this is not a capture at all")
        reduce_capture(tmp_path / "junk.pcap", {ATTACKER}, tmp_path / "r.pcap")
    odd = tmp_path / "odd.pcap"  # a link type the reader does not decode
    with open(odd, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 147))
        fh.write(struct.pack("<IIII", 1_700_000_000, 0, 4, 4) + b"abcd")
    with pytest.raises(CannotReduce, match="link type 147"):
        reduce_capture(odd, {ATTACKER}, tmp_path / "r.pcap")


# --------------------------------------------------------------------------- the step, with tshark


def _expected_present(det):
    assert {(m, h, p) for m, h, p in det["http"]} >= {("GET", h, p) for p, h in REQUESTS}
    assert set(det["dns"]) >= set(NAMES) and "normal.forensics.test" not in det["dns"]
    assert (TOPIC, "publish") in det["mqtt"]


@needs_tshark
def test_flood_detail_comes_from_a_small_copy_that_is_deleted(flood, monkeypatch):
    spy = _Spy(monkeypatch)
    read = []
    real_fc = _pyshark_filecapture()

    def file_capture(source, **kw):
        read.append((str(source), len(_pcap_records(Path(source)))))
        return real_fc(source, **kw)

    monkeypatch.setattr("pyshark.FileCapture", file_capture)
    rep = scan([flood], ScanConfig(workers=1, extractor=EXTRACTOR, detector=DETECTOR, app_detail=True))
    det = _details(rep)
    _expected_present(det)
    assert det["notes"] == []
    assert len(spy.calls) == 1
    out, r = spy.calls[0]
    assert r.packets_kept == 7 and r.packets_read > N_SYN  # far fewer packets than the original
    assert read == [(str(out), 7)]  # tshark read the copy
    assert not out.exists() and not out.parent.exists()


@needs_tshark
@pytest.mark.parametrize("which", ["flood", "tunnel"])
def test_detail_from_copy_equals_detail_from_original(flood, tmp_path, monkeypatch, which):
    cap = flood if which == "flood" else tunnel_capture(tmp_path / "tunnel.pcap")[0]
    cfg = ScanConfig(workers=1, extractor=EXTRACTOR, detector=DETECTOR, app_detail=True)
    reduced = scan([cap], cfg)

    def refuse(*a, **kw):
        raise CannotReduce("test: read the original")

    monkeypatch.setattr(appdetail, "reduce_capture", refuse)
    original = scan([cap], cfg)
    assert [i.app_detail for i in reduced.incidents] == [i.app_detail for i in original.incidents]
    assert any(i.app_detail for i in original.incidents)
    if which == "tunnel":  # every query and publish counted, 50 names / 50 topics shown
        dns = [d for i in original.incidents for d in i.app_detail.get("dns", [])]
        mqtt = [m for i in original.incidents for m in i.app_detail.get("mqtt", [])]
        assert len(dns) == len(mqtt) == 50 and all(d["count"] == 1 for d in dns)
        assert sorted(m["count"] for m in mqtt) == [2] * 20 + [3] * 30


@needs_tshark
@pytest.mark.parametrize("compressed", [False, True], ids=["pcapng", "pcapng.bz2"])
def test_fallback_reads_the_original_file(tmp_path, monkeypatch, compressed):
    cap = _two_linktype_pcapng(tmp_path / ("two.pcapng.bz2" if compressed else "two.pcapng"), compressed)
    spy = _Spy(monkeypatch)
    seen = []
    real_fc = _pyshark_filecapture()

    def file_capture(source, **kw):
        seen.append(str(source))
        return real_fc(source, **kw)

    monkeypatch.setattr("pyshark.FileCapture", file_capture)
    rep = scan([cap], ScanConfig(workers=1, detector=DETECTOR, app_detail=True))  # the real reader reads pcapng
    assert len(spy.calls) == 1 and isinstance(spy.calls[0][1], CannotReduce)
    assert not spy.calls[0][0].parent.exists()
    det = _details(rep)
    if compressed:  # tshark 4.0 does not open bzip2: the old note
        assert seen == [] and det["http"] == det["dns"] == []
        assert any("bzip2-compressed capture: application-layer detail not read" in n for n in det["notes"])
    else:
        assert seen == [str(cap)]
        assert ("GET", REQUESTS[0][1], REQUESTS[0][0]) in det["http"] and NAMES[0] in det["dns"]


def _pyshark_filecapture():
    import pyshark

    return pyshark.FileCapture


@needs_tshark
def test_bzip2_capture_gets_detail_through_the_copy(flood, tmp_path):
    cap = tmp_path / "flood.pcap.bz2"
    cap.write_bytes(bz2.compress(flood.read_bytes()))
    rep = scan([cap], ScanConfig(workers=1, detector=DETECTOR, app_detail=True))
    assert rep.inputs[0].compression == "bzip2"
    det = _details(rep)
    _expected_present(det)
    assert not any("compressed" in n for n in det["notes"])


@needs_tshark
@pytest.mark.parametrize("failure", [RuntimeError, TimeoutError])
def test_copy_is_deleted_when_tshark_fails(flood, monkeypatch, failure):
    spy = _Spy(monkeypatch)
    opened = []

    class Broken:
        def __init__(self, source, **kw):
            opened.append((source, os.path.getsize(source)))

        def apply_on_packets(self, callback, timeout=None):
            raise failure("tshark went away")

        def close(self):
            pass

    monkeypatch.setattr("pyshark.FileCapture", Broken)
    rep = scan([flood], ScanConfig(workers=1, extractor=EXTRACTOR, detector=DETECTOR, app_detail=True))
    out, r = spy.calls[0]
    assert opened == [(str(out), 24 + sum(16 + len(p) for _, p in app_packets(0)))]  # it was there for tshark
    assert not out.exists() and not out.parent.exists()
    expected = "stopped: time budget spent" if failure is TimeoutError else "tshark could not read this capture (RuntimeError)"
    notes = _details(rep)["notes"]
    assert notes and all(n == f"application-layer detail {expected}" for n in notes)


def test_deadline_stops_the_reading(flood, tmp_path):
    r = reduce_capture(flood, {ATTACKER}, tmp_path / "r.pcap", deadline=time.monotonic() - 1)
    assert not r.complete and r.packets_read == N_SYN + 7 + 50  # one batch is read, then it stops
    small = reduce_capture(flood, {ATTACKER}, tmp_path / "s.pcap")
    assert small.complete


@needs_tshark
def test_budget_spent_while_reducing_says_so(flood, monkeypatch):
    spy = _Spy(monkeypatch)
    clock = iter(range(0, 10_000, 100))  # every reading of the step's clock is 100 s later
    monkeypatch.setattr(appdetail, "_now", lambda: float(next(clock)))
    rep = scan([flood], ScanConfig(workers=1, extractor=EXTRACTOR, detector=DETECTOR, app_detail=True,
                                   app_detail_seconds=150))
    notes = _details(rep)["notes"]
    assert len(spy.calls) == 1 and not spy.calls[0][1].complete
    assert notes and all(n == "application-layer detail stopped: time budget spent" for n in notes)
    assert not spy.calls[0][0].parent.exists()


def test_copies_written_ahead_are_deleted_when_the_step_fails(flood, tmp_path, monkeypatch):
    """The next capture's copy is written while tshark reads the current one: when reading the
    first fails, the copy already made for the second is deleted too, and the error surfaces."""
    second = tmp_path / "second.pcap"
    shutil.copyfile(flood, second)
    spy = _Spy(monkeypatch)

    def broken(*args, **kw):
        raise RuntimeError("reading failed")

    monkeypatch.setattr(appdetail, "_read_capture", broken)
    with pytest.raises(RuntimeError, match="reading failed"):
        scan([flood, second], ScanConfig(workers=1, extractor=EXTRACTOR, detector=DETECTOR, app_detail=True))
    assert len(spy.calls) == 2  # both copies were written (the second ahead of its turn)
    assert all(isinstance(r, appdetail.Reduced) and r.packets_kept > 0 for _, r in spy.calls)
    assert not any(out.parent.exists() for out, _ in spy.calls)


@needs_tshark
def test_detail_of_several_captures_holds_each_captures_items(flood, tmp_path):
    """Two captures of one attacker (the second's copy written while tshark reads the first):
    the detail holds the items of both, as when they were read one after the other."""
    second = tmp_path / "second.pcap"
    shutil.copyfile(flood, second)
    one = _details(scan([flood], ScanConfig(workers=1, extractor=EXTRACTOR, detector=DETECTOR, app_detail=True)))
    both = _details(scan([flood, second], ScanConfig(workers=1, extractor=EXTRACTOR, detector=DETECTOR,
                                                     app_detail=True)))
    assert one["http"] and both["http"] == one["http"] * 2
    assert sorted(set(both["dns"])) == sorted(set(one["dns"])) and both["mqtt"] == one["mqtt"]


@needs_tshark
def test_step_leaves_sigchld_as_it_found_it(flood):
    """pyshark hooks SIGCHLD to its event loop; after the step it is back to the default, so later
    child processes (a browser in the report test) do not fill a socket nobody reads."""
    import signal

    rep = scan([flood], ScanConfig(workers=1, extractor=EXTRACTOR, detector=DETECTOR, app_detail=True))
    assert _details(rep)["http"]  # tshark did run through pyshark
    assert signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL
    old = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(old)
    assert old == -1
