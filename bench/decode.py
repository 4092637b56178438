#!/usr/bin/env python3
"""Decode throughput against a plain dpkt loop and tshark, measured in the same run.

    python bench/decode.py [--packets 1000000] [--keep FILE]

Generates a libpcap capture of Ethernet/IPv4 packets (TCP, UDP, ICMP; some
VLAN-tagged; a few IPv6) with dpkt, then times:

* ``forensics.decode.read_packets`` (the product's decode stage),
* a plain dpkt loop: ``dpkt.pcap.Reader`` + ``dpkt.ethernet.Ethernet`` and a
  read of the addresses and ports of each packet,
* ``tshark -r FILE -T fields -e frame.len`` (when tshark is installed),

and prints packets/s for each and the ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dpkt  # noqa: E402
import numpy as np  # noqa: E402


def templates() -> list[bytes]:
    out = []
    mac_a, mac_b = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02"
    for i in range(64):
        src = bytes([10, 0, i // 8, 1 + i % 8])
        dst = bytes([10, 0, 9, 9])
        kind = i % 4
        if kind == 0:
            l4 = dpkt.tcp.TCP(sport=40000 + i, dport=80, flags=dpkt.tcp.TH_SYN, seq=i * 1000)
            p = dpkt.ip.IP_PROTO_TCP
        elif kind == 1:
            l4 = dpkt.tcp.TCP(sport=40000 + i, dport=1883, flags=dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH, data=b"x" * (i * 7))
            p = dpkt.ip.IP_PROTO_TCP
        elif kind == 2:
            l4 = dpkt.udp.UDP(sport=5000 + i, dport=53, data=b"q" * 30)
            l4.ulen = len(bytes(l4))
            p = dpkt.ip.IP_PROTO_UDP
        else:
            l4 = dpkt.icmp.ICMP(type=8, code=0, data=dpkt.icmp.ICMP.Echo(id=i, seq=1, data=b"ping"))
            p = dpkt.ip.IP_PROTO_ICMP
        ip = dpkt.ip.IP(src=src, dst=dst, p=p, data=l4, ttl=64, id=i)
        ip.len = len(bytes(ip))
        if i % 16 == 5:
            eth = dpkt.ethernet.Ethernet(src=mac_a, dst=mac_b, type=0x8100, data=b"\x00\x07\x08\x00" + bytes(ip))
        elif i % 16 == 9:
            ip6 = dpkt.ip6.IP6(src=b"\xfe\x80" + b"\x00" * 13 + bytes([i]), dst=b"\xfe\x80" + b"\x00" * 13 + b"\x01",
                               nxt=17, hlim=64, data=dpkt.udp.UDP(sport=5683, dport=5683, data=b"coap"))
            ip6.plen = len(bytes(ip6.data))
            eth = dpkt.ethernet.Ethernet(src=mac_a, dst=mac_b, type=0x86DD, data=bytes(ip6))
        else:
            eth = dpkt.ethernet.Ethernet(src=mac_a, dst=mac_b, type=0x0800, data=ip)
        out.append(bytes(eth))
    return out


def write_capture(path: Path, n: int) -> None:
    tpl = templates()
    rng = np.random.default_rng(7)
    choice = rng.integers(0, len(tpl), n)
    t0 = 1_700_000_000.0
    with open(path, "wb") as fh:
        w = dpkt.pcap.Writer(fh, snaplen=65535)
        for i, c in enumerate(choice.tolist()):
            w.writepkt(tpl[c], ts=t0 + i * 1e-4)


def rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_forensics(path: Path) -> tuple[float, int]:
    from forensics.decode import read_packets

    t = time.perf_counter()
    res = read_packets(path)
    dt = time.perf_counter() - t
    assert res.accounting.closes
    return dt, res.accounting.packets


def time_dpkt(path: Path) -> tuple[float, int]:
    t = time.perf_counter()
    n = 0
    with open(path, "rb") as fh:
        for ts, buf in dpkt.pcap.Reader(fh):
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            if isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
                _ = (ip.src, ip.dst, getattr(ip.data, "sport", 0), getattr(ip.data, "dport", 0))
            n += 1
    return time.perf_counter() - t, n


def time_tshark(path: Path, limit: int) -> tuple[float, int] | None:
    exe = shutil.which("tshark")
    if not exe:
        return None
    t = time.perf_counter()
    # tshark dissects every packet fully (about 2,000 packets/s here): cap it with -c
    out = subprocess.run([exe, "-n", "-c", str(limit), "-r", str(path), "-T", "fields", "-e", "frame.len"], capture_output=True, check=True)
    return time.perf_counter() - t, out.stdout.count(b"\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--keep", help="write the generated capture here and keep it")
    ap.add_argument("--tshark-packets", type=int, default=50_000, help="packets tshark reads (-c); it is slow")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    tmp = tempfile.mkdtemp(prefix="fx-bench-")
    path = Path(args.keep) if args.keep else Path(tmp) / "bench.pcap"
    try:
        if not path.exists():
            t = time.perf_counter()
            write_capture(path, args.packets)
            print(f"generated {args.packets:,} packets ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
        f_dt, f_n = time_forensics(path)
        print(f"forensics decode : {f_n / f_dt:>12,.0f} packets/s  ({f_dt:.2f} s, peak RSS {rss_mb():.0f} MB)")
        d_dt, d_n = time_dpkt(path)
        print(f"plain dpkt loop  : {d_n / d_dt:>12,.0f} packets/s  ({d_dt:.2f} s)")
        ts = time_tshark(path, args.tshark_packets)
        if ts:
            t_dt, t_n = ts
            print(f"tshark frame.len : {t_n / t_dt:>12,.0f} packets/s  ({t_dt:.2f} s for the first {t_n:,} packets)")
        print(f"ratio forensics / dpkt loop : {(f_n / f_dt) / (d_n / d_dt):.1f}x  (target >= 8x)")
        if ts:
            print(f"ratio forensics / tshark    : {(f_n / f_dt) / (t_n / t_dt):.1f}x")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
