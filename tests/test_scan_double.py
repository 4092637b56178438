"""Test doubles for the two upstream stages ``scan`` drives, and their contract test.

``extract_flows`` (forensics.features) and ``load_detector`` (forensics.detect)
are written by other stages; scan reaches them through the
``ScanConfig.extractor`` / ``ScanConfig.detector`` hooks.  The doubles here let
the scan/report/batch tests control exactly which flows are attacks, so their
expectations are computed from the crafted captures, not from a trained model.
They live only in tests.  ``test_contract`` checks that the doubles and, when
present, the real stages honour the same contract.
"""

from __future__ import annotations

import ipaddress
import struct
from collections import OrderedDict

from pathlib import Path

import dpkt
import numpy as np
import pandas as pd
import pytest

from forensics.capture import Accounting
from forensics.errors import CaptureError

# "module:callable" specs for ScanConfig, valid whether tests/ is imported as a package or not
EXTRACTOR = f"{__name__}:extract_flows"
DETECTOR = f"{__name__}:load_detector"
ATTACK_NET = ipaddress.ip_network("10.66.0.0/16")  # the double calls every flow from here an attack
PROTO = {6: "tcp", 17: "udp", 1: "icmp"}


# ---------------------------------------------------------------------------
# writing captures (used by the tests to craft inputs)
# ---------------------------------------------------------------------------


def ip4(a: str) -> bytes:
    return ipaddress.ip_address(a).packed


def host_mac(addr: str) -> bytes:
    """A locally administered MAC of the host with IPv4 ``addr`` (one per host, as on a LAN)."""
    return b"\x02\x00" + ip4(addr)


def eth_ip(src, dst, proto, l4: bytes) -> bytes:
    ip = dpkt.ip.IP(src=ip4(src), dst=ip4(dst), p=proto, ttl=64, data=l4)
    ip.len = 20 + len(l4)
    return bytes(dpkt.ethernet.Ethernet(src=host_mac(src), dst=host_mac(dst), type=0x0800, data=bytes(ip)))


def tcp(src, dst, sport, dport, payload=b"", flags=dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH, seq=1):
    seg = dpkt.tcp.TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=1, win=8192, data=payload)
    seg.off = 5
    return eth_ip(src, dst, 6, bytes(seg))


def udp(src, dst, sport, dport, payload=b""):
    d = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
    d.ulen = 8 + len(payload)
    return eth_ip(src, dst, 17, bytes(d))


def dns_query(name: str, qid=0x1234) -> bytes:
    q = dpkt.dns.DNS(id=qid, qr=dpkt.dns.DNS_Q, opcode=dpkt.dns.DNS_QUERY, rd=1)
    q.qd = [dpkt.dns.DNS.Q(name=name, type=dpkt.dns.DNS_A, cls=dpkt.dns.DNS_IN)]
    return bytes(q)


def mqtt_publish(topic: str, message: bytes = b"1") -> bytes:
    t = topic.encode()
    body = struct.pack(">H", len(t)) + t + message
    assert len(body) < 128
    return bytes([0x30, len(body)]) + body


def write_pcap(path, packets, t0=1_700_000_000.0, step=0.01, nanos=False):
    """``packets``: list of frame bytes or (timestamp, frame) pairs."""
    with open(path, "wb") as fh:
        w = dpkt.pcap.Writer(fh, nano=nanos)
        for n, p in enumerate(packets):
            ts, frame = p if isinstance(p, tuple) else (t0 + n * step, p)
            w.writepkt(frame, ts=ts)
    return Path(path)


def attack_capture(path, attacker="10.66.0.5", victim="192.168.1.10", normal=("192.168.1.20", "192.168.1.30"), t0=1_700_000_000.0, n_attack=40):
    """A TCP flood from ``attacker`` to ``victim`` + a bit of normal MQTT-like UDP traffic."""
    pkts = []
    t = t0
    for i in range(n_attack):
        pkts.append((t, tcp(attacker, victim, 40000 + i, 80, flags=dpkt.tcp.TH_SYN)))
        t += 0.01
    for i in range(10):
        pkts.append((t, udp(normal[0], normal[1], 5000, 1883, b"x" * 20)))
        pkts.append((t + 0.001, udp(normal[1], normal[0], 1883, 5000, b"y" * 10)))
        t += 0.1
    return write_pcap(path, pkts)


# ---------------------------------------------------------------------------
# the doubles
# ---------------------------------------------------------------------------


def extract_flows(path, *, chunk_packets=1_000_000):
    """Bidirectional 5-tuple flows of an uncompressed little-endian pcap, built with dpkt."""
    import hashlib

    data = Path(path).read_bytes()
    if len(data) < 24:
        raise CaptureError(path, "truncated global header")
    magic = data[:4]
    if magic not in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        raise CaptureError(path, "the test double reads little-endian pcap only")
    scale = 1e-9 if magic == b"\x4d\x3c\xb2\xa1" else 1e-6
    acc = Accounting(path=str(path), format="pcap", size=len(data), sha256=hashlib.sha256(data).hexdigest())
    flows: OrderedDict = OrderedDict()
    off = 24
    while off < len(data):
        if off + 16 > len(data):
            acc.warnings.append(f"truncated record header at byte {off}")
            break
        sec, frac, caplen, wirelen = struct.unpack_from("<IIII", data, off)
        if off + 16 + caplen > len(data):
            acc.warnings.append(f"truncated record at byte {off}")
            break
        frame = data[off + 16 : off + 16 + caplen]
        off += 16 + caplen
        acc.packets += 1
        ts = sec + frac * scale
        try:
            eth = dpkt.ethernet.Ethernet(frame)
            ip = eth.data
            if not isinstance(ip, dpkt.ip.IP):
                raise ValueError
        except Exception:
            acc.undecodable["non_ip"] = acc.undecodable.get("non_ip", 0) + 1
            continue
        acc.decoded += 1
        src, dst = str(ipaddress.ip_address(ip.src)), str(ipaddress.ip_address(ip.dst))
        l4 = ip.data
        sport, dport = (getattr(l4, "sport", 0), getattr(l4, "dport", 0))
        key = (src, sport, dst, dport, ip.p)
        rkey = (dst, dport, src, sport, ip.p)
        if rkey in flows:
            f = flows[rkey]
            f["dpkts"] += 1
        else:
            f = flows.setdefault(key, {"stime": ts, "ltime": ts, "pkts": 0, "bytes": 0, "spkts": 0, "dpkts": 0})
            f["spkts"] += 1
        f["ltime"] = max(f["ltime"], ts)
        f["pkts"] += 1
        f["bytes"] += wirelen
    rows = []
    for (src, sport, dst, dport, p), f in flows.items():
        rows.append(
            {
                "stime": f["stime"],
                "ltime": f["ltime"],
                "saddr": src,
                "sport": sport,
                "daddr": dst,
                "dport": dport,
                "proto": PROTO.get(p, str(p)),
                "pkts": f["pkts"],
                "bytes": f["bytes"],
                "state": "CON" if f["dpkts"] else ("REQ" if p == 6 else "INT"),
                "spkts": f["spkts"],
                "dpkts": f["dpkts"],
            }
        )
    cols = ["stime", "ltime", "saddr", "sport", "daddr", "dport", "proto", "pkts", "bytes", "state", "spkts", "dpkts"]
    return pd.DataFrame(rows, columns=cols), acc


class DoubleDetector:
    version = "double-1"
    sha256 = "0" * 64

    def __init__(self, device="cpu"):
        self.device = device

    def predict(self, flows: pd.DataFrame) -> pd.DataFrame:
        attack = np.array([ipaddress.ip_address(s) in ATTACK_NET for s in flows["saddr"].astype(str)], dtype=bool)
        proto = flows["proto"].astype(str).to_numpy()
        cat = np.where(~attack, "Normal", np.where(proto == "udp", "DDoS", np.where(proto == "tcp", "DoS", "Reconnaissance")))
        sub = np.where(~attack, "Normal", np.where(proto == "udp", "UDP", np.where(proto == "tcp", "TCP", "OS_Fingerprint")))
        conf = np.where(attack, 0.9, 0.8) + (flows["pkts"].to_numpy() % 10) / 1000.0
        ev = np.where(attack, [f"source in {ATTACK_NET} ({p} to port {d})" for p, d in zip(proto, flows["dport"])], "")
        return pd.DataFrame(
            {"pred_category": cat, "pred_subcategory": sub, "confidence": conf, "pred_attack": attack, "evidence": ev},
            index=flows.index,
        )


def slow_extract_flows(path, *, chunk_packets=1_000_000):
    """:func:`extract_flows`, but a capture named ``slow*`` takes a minute (the interrupt tests:
    Ctrl-C must come while it runs)."""
    if Path(path).name.startswith("slow"):
        import time

        end = time.monotonic() + 60
        while time.monotonic() < end:
            time.sleep(0.05)
    return extract_flows(path, chunk_packets=chunk_packets)


def dying_extract_flows(path, *, chunk_packets=1_000_000):
    """:func:`extract_flows`, but the process reading a capture named ``die*`` is killed (as
    the kernel's OOM killer does), and one named ``huge*`` asks for 8 GiB (MemoryError under
    a smaller --max-memory)."""
    name = Path(path).name
    if name.startswith("die"):
        import os
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
    if name.startswith("huge"):
        held = np.empty(8 << 30, dtype=np.uint8)  # (address space only: never touched)
        del held
    return extract_flows(path, chunk_packets=chunk_packets)


def load_detector(model_dir=None, device="cpu"):
    return DoubleDetector(device)


# ---------------------------------------------------------------------------
# the contract the doubles stand in for
# ---------------------------------------------------------------------------


def _stages():
    yield pytest.param(extract_flows, load_detector, id="double")
    try:
        from forensics.detect import load_detector as real_detector
        from forensics.features import extract_flows as real_extract
    except ImportError:
        return
    yield pytest.param(real_extract, real_detector, id="real")


@pytest.mark.parametrize("extract,detector", list(_stages()))
def test_contract(tmp_path, extract, detector):
    cap = attack_capture(tmp_path / "a.pcap")
    flows, acc = extract(str(cap), chunk_packets=1000)
    for col in ("stime", "ltime", "saddr", "sport", "daddr", "dport", "proto", "pkts", "bytes", "state"):
        assert col in flows.columns, col
    d = acc.to_dict()
    assert d["packets"] == d["decoded"] + sum(d["undecodable"].values()) == 60
    from forensics.errors import ModelError

    try:
        det = detector(model_dir=None, device="cpu")
    except ModelError as exc:  # the real model is trained and bundled by another stage
        pytest.skip(f"no bundled model yet: {exc}")
    assert isinstance(det.version, str) and isinstance(det.sha256, str)
    pred = det.predict(flows)
    assert list(pred.index) == list(flows.index)
    for col in ("pred_category", "pred_subcategory", "confidence", "pred_attack", "evidence"):
        assert col in pred.columns, col
    assert pred["confidence"].between(0, 1).all()
    with pytest.raises(CaptureError):
        bad = tmp_path / "bad.pcap"
        bad.write_bytes(b"\xd4\xc3\xb2\xa1\x02\x00")
        extract(str(bad), chunk_packets=1000)


def load_broken_detector(model_dir=None, device="cpu"):
    """A model folder that does not load (for the fail-fast tests)."""
    from forensics.errors import ModelError

    raise ModelError(f"{model_dir or 'model'}/model.json: broken on purpose")
