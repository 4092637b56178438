"""Deterministic generator of test captures for the flow tests (dpkt writer).

Each scenario is a function returning a list of ``(timestamp, frame_bytes)``
Ethernet frames; :func:`write_pcap` writes them as a libpcap file (microsecond
timestamps, LINKTYPE_ETHERNET).  The scenarios cover what Argus treats
specially: TCP handshakes, resets, half-open scans, FIN closes, long flows
(status records every 5 s), idle gaps beyond Argus's timeouts, UDP one- and
two-way, ICMP echo and unreachable, IPv4 fragments, ARP and IPv6.

Run ``python tests/flowgen.py OUT_DIR`` to write every scenario to OUT_DIR.
"""

from __future__ import annotations

import random
import socket
import struct
import sys
from pathlib import Path

import dpkt

T0 = 1_700_000_000.0

MAC = {
    "a": b"\x02\x00\x00\x00\x00\x01",
    "b": b"\x02\x00\x00\x00\x00\x02",
}


def _ip4(a: str) -> bytes:
    return socket.inet_pton(socket.AF_INET, a)


def _ip6(a: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, a)


def eth(payload, src=MAC["a"], dst=MAC["b"], etype=dpkt.ethernet.ETH_TYPE_IP) -> bytes:
    return bytes(dpkt.ethernet.Ethernet(src=src, dst=dst, type=etype, data=bytes(payload)))


def ip4(src, dst, proto, payload, ip_id=1, ttl=64, off=0) -> dpkt.ip.IP:
    ip = dpkt.ip.IP(src=_ip4(src), dst=_ip4(dst), p=proto, id=ip_id, ttl=ttl, data=payload)
    ip._flags_offset = off  # raw flags + fragment offset field
    ip.len = 20 + len(bytes(payload))
    return ip


def tcp4(src, sport, dst, dport, flags, seq=0, ack=0, data=b"", ip_id=1) -> bytes:
    t = dpkt.tcp.TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, win=65535, data=data)
    return eth(ip4(src, dst, dpkt.ip.IP_PROTO_TCP, t, ip_id=ip_id))


def udp4(src, sport, dst, dport, data=b"x", ip_id=1) -> bytes:
    u = dpkt.udp.UDP(sport=sport, dport=dport, data=data)
    u.ulen = 8 + len(data)
    return eth(ip4(src, dst, dpkt.ip.IP_PROTO_UDP, u, ip_id=ip_id))


def icmp4(src, dst, type_, code, body: bytes, ip_id=1) -> bytes:
    ic = dpkt.icmp.ICMP(type=type_, code=code, data=body)
    return eth(ip4(src, dst, dpkt.ip.IP_PROTO_ICMP, ic, ip_id=ip_id))


def echo(ident, seq, data=b"abcdefgh" * 4) -> bytes:
    return struct.pack("!HH", ident, seq) + data


def tcp6(src, sport, dst, dport, flags, seq=0, ack=0, data=b"") -> bytes:
    t = dpkt.tcp.TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, win=65535, data=data)
    ip = dpkt.ip6.IP6(src=_ip6(src), dst=_ip6(dst), nxt=dpkt.ip.IP_PROTO_TCP, hlim=64, data=t)
    ip.plen = len(bytes(t))
    return eth(ip, etype=dpkt.ethernet.ETH_TYPE_IP6)


def udp6(src, sport, dst, dport, data=b"x") -> bytes:
    u = dpkt.udp.UDP(sport=sport, dport=dport, data=data)
    u.ulen = 8 + len(data)
    ip = dpkt.ip6.IP6(src=_ip6(src), dst=_ip6(dst), nxt=dpkt.ip.IP_PROTO_UDP, hlim=64, data=u)
    ip.plen = len(bytes(u))
    return eth(ip, etype=dpkt.ethernet.ETH_TYPE_IP6)


def icmp6(src, dst, type_, code, body: bytes) -> bytes:
    ic = dpkt.icmp6.ICMP6(type=type_, code=code, data=body)
    ip = dpkt.ip6.IP6(src=_ip6(src), dst=_ip6(dst), nxt=dpkt.ip.IP_PROTO_ICMP6, hlim=64, data=ic)
    ip.plen = len(bytes(ic))
    return eth(ip, etype=dpkt.ethernet.ETH_TYPE_IP6)


def arp(op, sha, spa, tha, tpa) -> bytes:
    a = dpkt.arp.ARP(op=op, sha=sha, spa=_ip4(spa), tha=tha, tpa=_ip4(tpa))
    dst = b"\xff" * 6 if op == dpkt.arp.ARP_OP_REQUEST else tha
    return eth(a, src=sha, dst=dst, etype=dpkt.ethernet.ETH_TYPE_ARP)


def fragments4(src, dst, proto, transport: bytes, ip_id: int, frag_size=1480) -> list[bytes]:
    """Split an already-built transport segment into IPv4 fragments."""
    out = []
    for off in range(0, len(transport), frag_size):
        chunk = transport[off : off + frag_size]
        mf = off + frag_size < len(transport)
        ip = ip4(src, dst, proto, chunk, ip_id=ip_id, off=(off // 8) | (dpkt.ip.IP_MF if mf else 0))
        out.append(eth(ip))
    return out


# --------------------------------------------------------------------------- GRE

GRE_C, GRE_R, GRE_K, GRE_S, GRE_A = 0x8000, 0x4000, 0x2000, 0x1000, 0x0080


def gre_header(ptype: int, *, csum=False, key=None, seq=None, ack=None, routing=False, version=0) -> bytes:
    """A GRE header (RFC 2784/2890; version 1 is PPTP's enhanced GRE, RFC 2637): flags word,
    protocol type, then checksum+reserved (C or R), key (K), sequence (S) and ack (A, version 1)."""
    flags = version | (GRE_C if csum else 0) | (GRE_R if routing else 0) | (GRE_K if key is not None else 0)
    flags |= (GRE_S if seq is not None else 0) | (GRE_A if ack is not None else 0)
    h = struct.pack("!HH", flags, ptype)
    if csum or routing:
        h += struct.pack("!HH", 0, 0)  # checksum (left 0: nothing checks it) and reserved/offset
    for v in (key, seq, ack):
        if v is not None:
            h += struct.pack("!I", v)
    if routing:
        h += b"\x00\x00\x00\x00"  # the terminating (null) source route entry
    return h


def erspan2_header(session=1, vlan=0, index=0) -> bytes:
    """ERSPAN type II (GRE protocol 0x88BE): version 1, VLAN, CoS/En/T, session id, index."""
    return struct.pack("!HHI", (1 << 12) | (vlan & 0xFFF), session & 0x3FF, index & 0xFFFFF)


def erspan3_header(session=1, vlan=0) -> bytes:
    """ERSPAN type III (GRE protocol 0x22EB): 12 bytes, version 2, no platform subheader."""
    return struct.pack("!HHII", (2 << 12) | (vlan & 0xFFF), session & 0x3FF, 0, 0)


def eth_raw(payload, src=MAC["a"], dst=MAC["b"], etype=dpkt.ethernet.ETH_TYPE_IP) -> bytes:
    """An Ethernet frame around ``payload``'s bytes as they are (``eth`` goes through dpkt's
    Ethernet, which parses and re-serialises the payload: a PPP protocol 0x0021 inside GRE
    comes out compressed to one byte)."""
    return dst + src + struct.pack("!H", etype) + bytes(payload)


def in_gre(frame: bytes, osrc: str, odst: str, *, mode="ip", outer6=False, ttl=200, ip_id=1, **hdr) -> bytes:
    """Wrap an Ethernet frame (as built by tcp4/udp4/...) in GRE over IPv4 (IPv6 with ``outer6``).

    ``mode``: "ip" carries the frame's IP packet with the frame's ethertype as the GRE protocol;
    "teb" carries the whole Ethernet frame (0x6558); "erspan2"/"erspan3" put an ERSPAN header
    before it; "pptp" carries the IPv4 packet in PPP (address/control ff03, protocol 0x0021) in
    GRE version 1 (key = payload length and call id, sequence number); "raw:0xNNNN" carries the
    IP packet under another protocol type.  ``hdr`` goes to :func:`gre_header`.
    """
    etype = struct.unpack("!H", frame[12:14])[0]
    if mode == "ip":
        body = gre_header(etype, **hdr) + frame[14:]
    elif mode == "teb":
        body = gre_header(0x6558, **hdr) + frame
    elif mode == "erspan2":
        body = gre_header(0x88BE, seq=hdr.pop("seq", 0), **hdr) + erspan2_header() + frame
    elif mode == "erspan3":
        body = gre_header(0x22EB, seq=hdr.pop("seq", 0), **hdr) + erspan3_header() + frame
    elif mode == "pptp":
        ppp = b"\xff\x03\x00\x21" + frame[14:]
        body = gre_header(0x880B, key=(len(ppp) << 16) | hdr.pop("call", 7), seq=hdr.pop("seq", 1), version=1,
                          **hdr) + ppp
    elif mode.startswith("raw:"):
        body = gre_header(int(mode[4:], 16), **hdr) + frame[14:]
    else:
        raise ValueError(mode)
    if outer6:
        ip = dpkt.ip6.IP6(src=_ip6(osrc), dst=_ip6(odst), nxt=47, hlim=ttl, data=body)
        ip.plen = len(body)
        return eth_raw(ip, etype=dpkt.ethernet.ETH_TYPE_IP6)
    return eth_raw(ip4(osrc, odst, 47, body, ip_id=ip_id, ttl=ttl))


def outer_fragments(frame: bytes, sizes=(1480,)) -> list[bytes]:
    """Split an IPv4-over-Ethernet frame's IP payload into fragments of ``sizes`` bytes (the last
    size repeats), keeping the outer header; a GRE packet fragmented by the tunnel's network."""
    ip = dpkt.ip.IP(frame[14:])
    payload = frame[14 + ip.hl * 4 : 14 + ip.len]
    out, off, k = [], 0, 0
    while off < len(payload):
        size = sizes[min(k, len(sizes) - 1)]
        chunk = payload[off : off + size]
        mf = off + size < len(payload)
        f = ip4(socket.inet_ntop(socket.AF_INET, ip.src), socket.inet_ntop(socket.AF_INET, ip.dst), ip.p, chunk,
                ip_id=ip.id, ttl=ip.ttl, off=(off // 8) | (dpkt.ip.IP_MF if mf else 0))
        out.append(eth_raw(f))
        off += size
        k += 1
    return out


S, A, F, R, P = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_FIN, dpkt.tcp.TH_RST, dpkt.tcp.TH_PUSH


def tcp_conversation(t, c, cp, s, sp, *, exchanges=3, gap=0.01, close="fin", data=b"hello world\n"):
    """A full TCP connection: handshake, data exchanges, FIN or RST close."""
    pk = []
    cs, ss = 1000, 5000
    pk.append((t, tcp4(c, cp, s, sp, S, seq=cs)))
    t += gap
    pk.append((t, tcp4(s, sp, c, cp, S | A, seq=ss, ack=cs + 1)))
    t += gap
    cs += 1
    ss += 1
    pk.append((t, tcp4(c, cp, s, sp, A, seq=cs, ack=ss)))
    for _ in range(exchanges):
        t += gap
        pk.append((t, tcp4(c, cp, s, sp, P | A, seq=cs, ack=ss, data=data)))
        cs += len(data)
        t += gap
        pk.append((t, tcp4(s, sp, c, cp, P | A, seq=ss, ack=cs, data=data * 2)))
        ss += 2 * len(data)
    t += gap
    if close == "fin":
        pk.append((t, tcp4(c, cp, s, sp, F | A, seq=cs, ack=ss)))
        t += gap
        pk.append((t, tcp4(s, sp, c, cp, F | A, seq=ss, ack=cs + 1)))
        t += gap
        pk.append((t, tcp4(c, cp, s, sp, A, seq=cs + 1, ack=ss + 1)))
    elif close == "rst":
        pk.append((t, tcp4(c, cp, s, sp, R | A, seq=cs, ack=ss)))
    return pk


# --------------------------------------------------------------------------- scenarios


def sc_tcp_basic():
    pk = []
    pk += tcp_conversation(T0, "10.0.0.1", 40001, "10.0.0.2", 80)
    pk += tcp_conversation(T0 + 1, "10.0.0.1", 40002, "10.0.0.2", 80, close="rst")
    pk += tcp_conversation(T0 + 2, "10.0.0.1", 40003, "10.0.0.2", 22, close="none")
    # SYN only (REQ); SYN + SYN/ACK only (ACC); SYN answered by RST (closed port)
    pk.append((T0 + 3.0, tcp4("10.0.0.1", 40004, "10.0.0.2", 81, S, seq=7)))
    pk.append((T0 + 3.1, tcp4("10.0.0.1", 40005, "10.0.0.2", 82, S, seq=7)))
    pk.append((T0 + 3.2, tcp4("10.0.0.2", 82, "10.0.0.1", 40005, S | A, seq=9, ack=8)))
    pk.append((T0 + 3.3, tcp4("10.0.0.1", 40006, "10.0.0.2", 83, S, seq=7)))
    pk.append((T0 + 3.4, tcp4("10.0.0.2", 83, "10.0.0.1", 40006, R | A, seq=0, ack=8)))
    # half-open scan: SYN, SYN/ACK, RST from the scanner
    pk.append((T0 + 3.5, tcp4("10.0.0.1", 40007, "10.0.0.2", 443, S, seq=7)))
    pk.append((T0 + 3.6, tcp4("10.0.0.2", 443, "10.0.0.1", 40007, S | A, seq=9, ack=8)))
    pk.append((T0 + 3.7, tcp4("10.0.0.1", 40007, "10.0.0.2", 443, R, seq=8)))
    # mid-stream: first packet seen is a SYN/ACK, or plain data
    pk.append((T0 + 4.0, tcp4("10.0.0.2", 8080, "10.0.0.1", 40008, S | A, seq=9, ack=8)))
    pk.append((T0 + 4.1, tcp4("10.0.0.1", 40008, "10.0.0.2", 8080, A, seq=8, ack=10)))
    pk.append((T0 + 4.2, tcp4("10.0.0.2", 8081, "10.0.0.1", 40009, P | A, seq=9, ack=8, data=b"data")))
    pk.append((T0 + 4.3, tcp4("10.0.0.1", 40009, "10.0.0.2", 8081, A, seq=8, ack=13)))
    # FIN from one side only
    pk.append((T0 + 4.4, tcp4("10.0.0.1", 40010, "10.0.0.2", 80, S, seq=7)))
    pk.append((T0 + 4.5, tcp4("10.0.0.2", 80, "10.0.0.1", 40010, S | A, seq=9, ack=8)))
    pk.append((T0 + 4.6, tcp4("10.0.0.1", 40010, "10.0.0.2", 80, A, seq=8, ack=10)))
    pk.append((T0 + 4.7, tcp4("10.0.0.1", 40010, "10.0.0.2", 80, F | A, seq=8, ack=10)))
    return pk


def sc_tcp_long():
    """TCP connections that last longer than the 5 s status interval."""
    pk = tcp_conversation(T0, "10.0.1.1", 50000, "10.0.1.2", 1883, exchanges=40, gap=0.3)
    pk += tcp_conversation(T0 + 0.05, "10.0.1.1", 50001, "10.0.1.2", 1883, exchanges=10, gap=2.2, close="rst")
    pk += tcp_conversation(T0 + 0.07, "10.0.1.3", 50002, "10.0.1.2", 80, exchanges=6, gap=4.9)
    pk.sort(key=lambda x: x[0])
    return pk


def sc_udp():
    pk = []
    t = T0
    for i in range(33):  # a 32 s two-way conversation, one packet a second
        pk.append((t + i, udp4("10.0.2.1", 5353, "10.0.2.2", 5683, data=b"q" * (10 + i % 3))))
        pk.append((t + i + 0.001, udp4("10.0.2.2", 5683, "10.0.2.1", 5353, data=b"r" * 40)))
    # DNS: Argus keys port-53 flows by transaction id too; real answers carry the query's id
    for i in range(3):
        q = struct.pack("!HHHHHH", 0x1234 + i, 0x0100, 1, 0, 0, 0) + b"\x03www\x00\x00\x01\x00\x01"
        r = struct.pack("!HHHHHH", 0x1234 + i, 0x8180, 1, 0, 0, 0) + b"\x03www\x00\x00\x01\x00\x01"
        pk.append((t + 6 + i, udp4("10.0.2.1", 41000 + i, "10.0.2.8", 53, data=q)))
        pk.append((t + 6.002 + i, udp4("10.0.2.8", 53, "10.0.2.1", 41000 + i, data=r)))
    for i in range(8):  # one-way
        pk.append((t + 0.5 + i * 0.7, udp4("10.0.2.1", 6000, "10.0.2.3", 7000 + i % 2, data=b"z" * 100)))
    # a single packet; a two-packet exchange
    pk.append((t + 1.25, udp4("10.0.2.4", 123, "10.0.2.5", 123, data=b"n" * 48)))
    pk.append((t + 2.25, udp4("10.0.2.4", 1234, "10.0.2.5", 161, data=b"n" * 30)))
    pk.append((t + 2.26, udp4("10.0.2.5", 161, "10.0.2.4", 1234, data=b"n" * 60)))
    # a flow that goes idle past the UDP timeout and then resumes, reversed
    pk.append((t + 3.0, udp4("10.0.2.6", 9999, "10.0.2.7", 8888)))
    pk.append((t + 3.5, udp4("10.0.2.7", 8888, "10.0.2.6", 9999)))
    pk.append((t + 70.0, udp4("10.0.2.7", 8888, "10.0.2.6", 9999)))
    pk.append((t + 200.0, udp4("10.0.2.6", 9999, "10.0.2.7", 8888)))
    pk.sort(key=lambda x: x[0])
    return pk


def sc_icmp():
    pk = []
    t = T0
    for i in range(4):
        pk.append((t + i, icmp4("10.0.3.1", "10.0.3.2", 8, 0, echo(77, i))))
        pk.append((t + i + 0.0005, icmp4("10.0.3.2", "10.0.3.1", 0, 0, echo(77, i))))
    # echo without answer, another identifier
    pk.append((t + 0.3, icmp4("10.0.3.1", "10.0.3.9", 8, 0, echo(78, 1))))
    # port unreachable quoting a UDP datagram
    inner = bytes(ip4("10.0.3.1", "10.0.3.2", 17, dpkt.udp.UDP(sport=40000, dport=33434, ulen=8)))
    pk.append((t + 0.2, udp4("10.0.3.1", 40000, "10.0.3.2", 33434, data=b"")))
    pk.append((t + 0.21, icmp4("10.0.3.2", "10.0.3.1", 3, 3, b"\x00\x00\x00\x00" + inner)))
    # host / net unreachable, time exceeded, from a router
    inner2 = bytes(ip4("10.0.3.1", "10.0.9.9", 6, dpkt.tcp.TCP(sport=40001, dport=80, flags=S)))
    pk.append((t + 0.4, icmp4("10.0.3.254", "10.0.3.1", 3, 1, b"\x00\x00\x00\x00" + inner2)))
    pk.append((t + 0.5, icmp4("10.0.3.254", "10.0.3.1", 3, 0, b"\x00\x00\x00\x00" + inner2)))
    pk.append((t + 0.6, icmp4("10.0.3.254", "10.0.3.1", 11, 0, b"\x00\x00\x00\x00" + inner2)))
    pk.append((t + 0.7, icmp4("10.0.3.254", "10.0.3.1", 3, 4, b"\x00\x00\x05\xdc" + inner2)))
    # echo flow lasting more than 5 s
    for i in range(14):
        pk.append((t + 5 + i * 0.9, icmp4("10.0.3.5", "10.0.3.6", 8, 0, echo(99, i))))
        pk.append((t + 5 + i * 0.9 + 0.001, icmp4("10.0.3.6", "10.0.3.5", 0, 0, echo(99, i))))
    pk.sort(key=lambda x: x[0])
    return pk


def sc_frag_arp_v6():
    pk = []
    t = T0
    big = dpkt.udp.UDP(sport=5000, dport=6000, data=b"F" * 3000)
    big.ulen = 8 + 3000
    udp_bytes = bytes(ip4("10.0.4.1", "10.0.4.2", 17, big).data)
    for i, f in enumerate(fragments4("10.0.4.1", "10.0.4.2", 17, udp_bytes, ip_id=4242)):
        pk.append((t + 0.001 * i, f))
    ping = dpkt.icmp.ICMP(type=8, code=0, data=echo(5, 1, b"P" * 2000))
    for i, f in enumerate(fragments4("10.0.4.1", "10.0.4.2", 1, bytes(ping), ip_id=4343)):
        pk.append((t + 0.1 + 0.001 * i, f))
    pk.append((t + 0.2, arp(1, MAC["a"], "10.0.4.1", b"\x00" * 6, "10.0.4.2")))
    pk.append((t + 0.201, arp(2, MAC["b"], "10.0.4.2", MAC["a"], "10.0.4.1")))
    pk.append((t + 0.3, arp(1, MAC["a"], "10.0.4.1", b"\x00" * 6, "10.0.4.3")))
    cs = 1
    pk.append((t + 0.5, tcp6("fd00::1", 40100, "fd00::2", 80, S, seq=cs)))
    pk.append((t + 0.51, tcp6("fd00::2", 80, "fd00::1", 40100, S | A, seq=5, ack=2)))
    pk.append((t + 0.52, tcp6("fd00::1", 40100, "fd00::2", 80, A, seq=2, ack=6)))
    pk.append((t + 0.53, tcp6("fd00::1", 40100, "fd00::2", 80, F | A, seq=2, ack=6)))
    pk.append((t + 0.54, tcp6("fd00::2", 80, "fd00::1", 40100, F | A, seq=6, ack=3)))
    pk.append((t + 0.6, udp6("fd00::1", 5555, "fd00::2", 53, b"dns?")))
    pk.append((t + 0.61, udp6("fd00::2", 53, "fd00::1", 5555, b"dns!" * 5)))
    pk.append((t + 0.7, icmp6("fd00::1", "fd00::2", 128, 0, echo(3, 1))))
    pk.append((t + 0.71, icmp6("fd00::2", "fd00::1", 129, 0, echo(3, 1))))
    pk.sort(key=lambda x: x[0])
    return pk


def sc_mixed(seed=1, n_flows=400, duration=120.0):
    """A random mix: floods of one-packet flows, scans, chatty and long flows."""
    rnd = random.Random(seed)
    pk = []
    for _ in range(n_flows):
        kind = rnd.random()
        t = T0 + rnd.random() * duration
        c = f"192.168.{rnd.randint(0, 3)}.{rnd.randint(1, 254)}"
        s = f"10.1.{rnd.randint(0, 3)}.{rnd.randint(1, 254)}"
        cp = rnd.randint(1024, 65535)
        if kind < 0.3:
            pk.append((t, tcp4(c, cp, s, 80, S, seq=rnd.getrandbits(32))))
        elif kind < 0.45:
            pk.append((t, udp4(c, cp, s, rnd.choice([53, 80, 123, 5683]), data=b"u" * rnd.randint(0, 200))))
        elif kind < 0.6:
            sp = rnd.choice([22, 23, 80, 443, 1883, 8080])
            pk.append((t, tcp4(c, cp, s, sp, S, seq=1)))
            if rnd.random() < 0.5:
                pk.append((t + 0.001, tcp4(s, sp, c, cp, S | A, seq=2, ack=2)))
                pk.append((t + 0.002, tcp4(c, cp, s, sp, R, seq=2)))
            else:
                pk.append((t + 0.001, tcp4(s, sp, c, cp, R | A, seq=0, ack=2)))
        elif kind < 0.85:
            pk += tcp_conversation(
                t, c, cp, s, rnd.choice([80, 1883, 443]), exchanges=rnd.randint(1, 30),
                gap=rnd.choice([0.01, 0.2, 1.0, 3.0]), close=rnd.choice(["fin", "rst", "none"]),
            )
        else:
            n = rnd.randint(1, 20)
            gap = rnd.choice([0.1, 1.0, 2.5])
            for i in range(n):
                pk.append((t + i * gap, icmp4(c, s, 8, 0, echo(cp, i))))
                if rnd.random() < 0.7:
                    pk.append((t + i * gap + 0.0003, icmp4(s, c, 0, 0, echo(cp, i))))
    pk.sort(key=lambda x: x[0])
    return pk


def sc_gre():
    """GRE variants (not in SCENARIOS: test_argus_diff writes it).  Decapsulated by Argus 3.0.8
    (measured): version 0 carrying IPv4 and IPv6, checksum/key/sequence fields (headers of 4 to
    16 bytes), a routing entry, Ethernet (0x6558, with a VLAN tag), ERSPAN II, GRE in GRE, PPTP
    (version 1, PPP with and without ff03/protocol compression, acknowledgement field), MPLS,
    inner fragments, an outer fragmented GRE packet; left as the GRE flow: GRE over IPv6, ERSPAN
    III, an unknown protocol type, PPP carrying MPPE data, a first fragment too short for the
    inner IP header."""
    o1, o2 = "172.16.0.1", "172.16.0.2"
    mc, md = b"\x02\x00\x00\x00\x00\x0c", b"\x02\x00\x00\x00\x00\x0d"

    def remac(f):
        return md + mc + f[12:]

    def ppp(f, prefix, **kw):
        body = prefix + f[14:]
        return eth_raw(ip4(o1, o2, 47, gre_header(0x880B, key=(len(body) << 16) | 7, seq=1, version=1, **kw) + body,
                           ttl=200))

    def mpls(f):
        return eth_raw(ip4(o1, o2, 47, gre_header(0x8847) + struct.pack("!I", (100 << 12) | 0x100 | 64) + f[14:]))

    wraps = [
        lambda f: in_gre(f, o1, o2),
        lambda f: in_gre(f, o1, o2, csum=True),
        lambda f: in_gre(f, o1, o2, key=0x1234),
        lambda f: in_gre(f, o1, o2, seq=7),
        lambda f: in_gre(f, o1, o2, csum=True, key=5, seq=9),
        lambda f: in_gre(f, o1, o2, routing=True),
        lambda f: in_gre(remac(f), o1, o2, mode="teb"),
        lambda f: in_gre(remac(f)[:12] + b"\x81\x00\x00\x05" + f[12:], o1, o2, mode="teb", key=77),
        lambda f: in_gre(remac(f), o1, o2, mode="erspan2", seq=3),
        lambda f: in_gre(in_gre(f, "10.9.0.1", "10.9.0.2"), o1, o2),
        lambda f: ppp(f, b"\xff\x03\x00\x21"),
        lambda f: ppp(f, b"\x21", ack=4),
        lambda f: mpls(f),
        # left closed by Argus: one GRE flow each
        lambda f: in_gre(f, "2001:db8::1", "2001:db8::2", outer6=True),
        lambda f: in_gre(remac(f), "172.16.1.1", "172.16.1.2", mode="erspan3", seq=3),
        lambda f: in_gre(f, "172.16.2.1", "172.16.2.2", mode="raw:0x88b5"),
        lambda f: ppp(f, b"\xff\x03\x00\xfd")[:14] + bytes(ip4("172.16.3.1", "172.16.3.2", 47, ppp(f, b"\xff\x03\x00\xfd")[34:])),
    ]
    pk = []
    for k, wrap in enumerate(wraps):
        t = T0 + k
        a, b = f"192.168.{k}.1", f"192.168.{k}.2"
        inner = tcp_conversation(t, a, 40000 + k, b, 22, exchanges=1)
        inner += [(t + 0.5, udp4(a, 5000, b, 123, data=b"n" * 48)), (t + 0.51, udp4(b, 123, a, 5000, data=b"m" * 48))]
        inner += [(t + 0.6, icmp4(a, b, 8, 0, echo(9, 1))), (t + 0.61, icmp4(b, a, 0, 0, echo(9, 1)))]
        pk += [(ts, wrap(f)) for ts, f in inner]
    t = T0 + 30
    pk += [(t, in_gre(tcp6("fd00:1::1", 40100, "fd00:1::2", 80, S, seq=1), o1, o2)),
           (t + 0.01, in_gre(tcp6("fd00:1::2", 80, "fd00:1::1", 40100, S | A, seq=5, ack=2), o1, o2)),
           (t + 0.1, in_gre(udp6("fd00:1::1", 5555, "fd00:1::2", 53, b"dns?"), o1, o2, key=3)),
           (t + 0.2, in_gre(icmp6("fd00:1::1", "fd00:1::2", 128, 0, echo(3, 1)), o1, o2))]
    # inner fragments (attributed to the inner UDP flow); an outer fragmented GRE packet: the first
    # fragment holds the inner headers (decapsulated), the second is a GRE fragment
    big = dpkt.udp.UDP(sport=5000, dport=6000, data=b"F" * 3000)
    big.ulen = 3008
    for i, f in enumerate(fragments4("192.168.40.1", "192.168.40.2", 17, bytes(big), ip_id=4242)):
        pk.append((t + 1 + 0.001 * i, in_gre(f, o1, o2, ip_id=100 + i)))
    u = udp4("192.168.41.1", 5001, "192.168.41.2", 6001, data=b"G" * 2000)
    for i, f in enumerate(outer_fragments(in_gre(u, "172.16.4.1", "172.16.4.2", ip_id=555))):
        pk.append((t + 2 + 0.001 * i, f))
    # a first fragment of 16 bytes (GRE header and 12 bytes of the inner IP header): one GRE flow
    u = udp4("192.168.42.1", 5002, "192.168.42.2", 6002, data=b"H" * 100)
    for i, f in enumerate(outer_fragments(in_gre(u, "172.16.5.1", "172.16.5.2", ip_id=556), sizes=(16, 200))):
        pk.append((t + 3 + 0.001 * i, f))
    pk.sort(key=lambda x: x[0])
    return pk


SCENARIOS = {
    "tcp_basic": sc_tcp_basic,
    "tcp_long": sc_tcp_long,
    "udp": sc_udp,
    "icmp": sc_icmp,
    "frag_arp_v6": sc_frag_arp_v6,
    "mixed": sc_mixed,
}


def sc_macs():
    """MAC addresses as ``argus -m`` + racluster report them (measured): each flow keeps the MACs of
    its first frame, oriented to the flow (a first SYN/ACK from the server gives smac = the frame's
    destination); later frames with other MACs (replies, later status records, later sub-flows, a
    flow restarted after its timeout) change nothing; ff:ff:ff:ff:ff:ff prints ``Broadcast``,
    everything else as six zero-padded hex bytes."""
    a, b = bytes.fromhex("02000000000a"), bytes.fromhex("0a0b0c0d0e0f")
    x, y, z = bytes.fromhex("aabbccddeeff"), bytes.fromhex("123456789abc"), bytes.fromhex("021122334455")
    zero, bcast, mcast, mcast6 = b"\0" * 6, b"\xff" * 6, bytes.fromhex("01005e000016"), bytes.fromhex("333300000001")

    def e(frame, src, dst):
        f = dpkt.ethernet.Ethernet(frame)
        f.src, f.dst = src, dst
        return bytes(f)

    def dns(t, ident, src, dst, port):
        return (t, e(udp4("10.0.0.1", port, "10.0.0.53", 53, data=struct.pack("!H", ident) + b"q"), src, dst))

    t = T0
    p = [
        (t, e(udp4("10.0.0.1", 1001, "10.0.0.2", 2001), a, b)),  # reply from other MACs
        (t + 0.1, e(udp4("10.0.0.2", 2001, "10.0.0.1", 1001), x, y)),
        (t + 0.2, e(udp4("10.0.0.1", 1002, "10.0.0.2", 2002), a, b)),  # source MAC changes in the record
        (t + 0.3, e(udp4("10.0.0.1", 1002, "10.0.0.2", 2002), x, y)),
        (t + 0.4, e(udp4("10.0.0.1", 1003, "10.0.0.2", 2003), a, b)),  # ... in later status records
        (t + 7.4, e(udp4("10.0.0.1", 1003, "10.0.0.2", 2003), x, y)),
        (t + 13.4, e(udp4("10.0.0.1", 1003, "10.0.0.2", 2003), a, b)),
        (t + 0.5, e(udp4("10.0.0.1", 1004, "10.0.0.255", 2004), zero, bcast)),
        (t + 0.6, e(udp4("10.0.0.1", 1005, "224.0.0.22", 2005), b, mcast)),
        (t + 0.7, e(udp4("10.0.0.1", 1006, "10.0.0.3", 2006), mcast6, x)),
        (t + 0.8, e(tcp4("10.0.0.2", 80, "10.0.0.1", 40000, dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK), x, y)),
        (t + 0.9, e(tcp4("10.0.0.1", 40000, "10.0.0.2", 80, dpkt.tcp.TH_ACK), a, b)),
        (t + 1.0, e(udp4("10.0.0.1", 1007, "10.0.0.2", 2007), a, b)),  # a later record with replies only
        (t + 7.0, e(udp4("10.0.0.2", 2007, "10.0.0.1", 1007), x, y)),
        (t + 1.3, e(icmp4("10.0.0.1", "10.0.0.2", 8, 0, echo(5, 1)), a, b)),
        (t + 1.35, e(icmp4("10.0.0.2", "10.0.0.1", 0, 0, echo(5, 1)), b, a)),
        (t + 1.4, arp(1, a, "10.0.0.1", zero, "10.0.0.2")),
        (t + 1.45, arp(2, b, "10.0.0.2", a, "10.0.0.1")),
        # DNS sub-flows (one Argus flow per id, one racluster row): the first one's MACs
        dns(t + 2.0, 1, a, b, 3333), dns(t + 2.1, 2, x, y, 3333), dns(t + 2.2, 3, z, b, 3333),
        dns(t + 2.5, 1, x, y, 3334), dns(t + 3.5, 2, a, b, 3334), dns(t + 4.5, 1, x, y, 3334),
        # ICMP echo sub-flows (sequence numbers), interleaved
        (t + 3.0, e(icmp4("10.0.0.1", "10.0.0.2", 8, 0, echo(9, 1)), a, b)),
        (t + 4.0, e(icmp4("10.0.0.1", "10.0.0.2", 8, 0, echo(9, 2)), x, y)),
        (t + 4.5, e(icmp4("10.0.0.1", "10.0.0.2", 8, 0, echo(9, 1)), a, b)),
        # a UDP flow restarted after its timeout (the clock driven by other traffic)
        (t + 2.0, e(udp4("10.0.0.1", 4444, "10.0.0.2", 5555), a, b)),
        (t + 82.5, e(udp4("10.0.0.1", 4444, "10.0.0.2", 5555), x, y)),
    ]
    p += [(t + 2.5 + k, e(udp4("10.0.0.7", 6000, "10.0.0.8", 7000), z, z)) for k in range(80)]
    p.sort(key=lambda r: r[0])
    return p


def write_pcap(path, packets) -> Path:
    """``packets``: (ts, frame) or (ts, frame, caplen): the record keeps the frame's first
    ``caplen`` bytes, its original length stays the frame's (a snap length cut it)."""
    path = Path(path)
    with open(path, "wb") as fh:
        w = dpkt.pcap.Writer(fh, linktype=dpkt.pcap.DLT_EN10MB, snaplen=65535)
        for ts, frame, *cut in packets:
            if cut:
                us = int(round(ts * 1e6))
                fh.write(struct.pack("<IIII", us // 1_000_000, us % 1_000_000, cut[0], len(frame)) + frame[:cut[0]])
            else:
                w.writepkt(frame, ts=round(ts, 6))
    return path


def sc_directions():
    """Who Argus takes for the source (measured with argus 3.0.8, 2026-11-27).

    A flow whose first packet is a SYN/ACK keeps the SYN/ACK's sender as source when nothing
    but RSTs or more SYN/ACKs follow (a SYN-ACK flood answered by RSTs, a lone SYN/ACK); a
    mid-stream first packet (no SYN) is reversed when its source port is a service port and
    the destination port is not, or is a higher one (60177 is ``tfido`` in /etc/services, 2000
    ``cisco-sccp``; 1883 and 20203 are not listed).  Excluded, because this code does not
    follow it: a SYN/ACK answered by an ACK, FIN or data, which Argus reverses from there on
    (``tcp_basic`` keeps one such flow as a known difference)."""
    pk = []
    t = T0
    ip = iter(range(1, 250))

    def host():
        return f"10.0.3.{next(ip)}"

    # SYN/ACK answered by a RST (either flag set), alone, retransmitted, from a service port
    for sport, dport, reply in ((40000, 9546, R), (40001, 9546, R | A), (80, 40002, R), (2000, 9546, R),
                                (1883, 40003, R), (40004, 1883, R)):
        h = host()
        pk.append((t, tcp4("10.0.2.1", sport, h, dport, S | A, seq=9, ack=8)))
        pk.append((t + 0.0005, tcp4(h, dport, "10.0.2.1", sport, reply, seq=8, ack=10 if reply & A else 0)))
        t += 0.5
    h = host()
    pk.append((t, tcp4("10.0.2.1", 40005, h, 9546, S | A, seq=9, ack=8)))  # lone SYN/ACK
    t += 0.5
    h = host()  # retransmitted, then a RST
    pk += [(t, tcp4("10.0.2.1", 40006, h, 9546, S | A, seq=9, ack=8)),
           (t + 0.3, tcp4("10.0.2.1", 40006, h, 9546, S | A, seq=9, ack=8)),
           (t + 0.31, tcp4(h, 9546, "10.0.2.1", 40006, R, seq=8))]
    t += 0.5
    h = host()  # SYN/ACK, RST, then an ACK: the RST settles it
    pk += [(t, tcp4("10.0.2.1", 40007, h, 9546, S | A, seq=9, ack=8)),
           (t + 0.001, tcp4(h, 9546, "10.0.2.1", 40007, R, seq=8)),
           (t + 0.01, tcp4(h, 9546, "10.0.2.1", 40007, A, seq=8, ack=10))]
    t += 0.5
    # mid-stream ACKs answered by RSTs (an ACK flood), by the ports on each side
    for sport, dport in ((60177, 20203), (60177, 9546), (60177, 1883), (60177, 50000), (61000, 20203),
                         (40000, 20203), (2000, 20203), (8080, 80), (80, 8080), (60177, 8080), (8080, 60177),
                         (1883, 60177), (60179, 60177), (60177, 60179), (5000, 1000), (1000, 5000)):
        h = host()
        pk.append((t, tcp4("10.0.2.1", sport, h, dport, A, seq=5, ack=77)))
        pk.append((t + 0.000003, tcp4(h, dport, "10.0.2.1", sport, R, seq=77)))
        t += 0.5
    # state of flows that begin with a FIN: FIN alone or with ACK -> FIN; with PSH, URG or SYN
    # beside it (hping3 -F -P -U) -> CON, whatever follows but a RST
    U = dpkt.tcp.TH_URG
    for seq in ([F], [F | A], [F | P | U], [F | P], [F | U], [F | U | A], [F | P | A], [F | S], [F, F | U],
                [F | U, F], [F | P | U, F | P | U]):
        h = host()
        for k, fl in enumerate(seq):
            pk.append((t + 0.01 * k, tcp4("10.0.2.1", 40100, h, 5555, fl, seq=5)))
        t += 0.5
    h = host()
    pk += [(t, tcp4("10.0.2.1", 40100, h, 5555, F | U, seq=5)), (t + 0.01, tcp4(h, 5555, "10.0.2.1", 40100, R, seq=0))]
    return pk


def sc_synack():
    """Flows whose first packet is a SYN/ACK (measured with argus 3.0.8, 2026-11-27).

    Argus keeps the SYN/ACK's sender as source until the first trigger, an ACK or FIN without
    RST (with SYN only beside FIN), from either side; unless a RST came first it reverses the
    flow from the record that holds the trigger on: an ACK 4.99 s after the SYN/ACK reverses
    the whole flow, one 5.01 s after leaves the first record (state ACC) and reverses the
    next (state CLO), and the reversed records print their start from the first source.
    SYN/ACK-first flows that never see a trigger are ACC (two SYN/ACKs, a SYN/ACK and a
    flagless, PSH, URG or SYN packet).  Each case gets its own host; the server is 10.0.9.1:80.
    Frames carry their sender's MAC (a reversed flow's later rows print the flow's first frame's
    MACs, which on such a wire are their own first frame's)."""
    server = "10.0.9.1"
    smac, cmac = b"\x02\x00\x00\x00\x09\x01", b"\x02\x00\x00\x00\x04\x01"

    def tcp4(src, sport, dst, dport, flags, **kw):
        frame = dpkt.ethernet.Ethernet(globals()["tcp4"](src, sport, dst, dport, flags, **kw))
        frame.src, frame.dst = (smac, cmac) if src == server else (cmac, smac)
        return bytes(frame)

    cases = [  # (seconds after the SYN/ACK, sent by the SYN/ACK's sender?, flags, payload)
        [(0, 1, S | A, b""), (1.0, 0, A, b"")],
        [(0, 1, S | A, b""), (4.9, 0, A, b"")],
        [(0, 1, S | A, b""), (5.5, 0, A, b"")],
        [(0, 1, S | A, b""), (8.0, 0, A, b"")],
        [(0, 1, S | A, b""), (1.0, 1, A, b"")],
        [(0, 1, S | A, b""), (0.01, 0, A | P, b"hello")],
        [(0, 1, S | A, b""), (0.01, 0, F | A, b"")],
        [(0, 1, S | A, b""), (0.01, 1, F, b"")],
        [(0, 1, S | A, b""), (0.01, 0, 0, b"")],
        [(0, 1, S | A, b""), (0.01, 0, R, b""), (0.02, 0, A, b"")],
        [(0, 1, S | A, b""), (1.0, 1, S | A, b""), (2.0, 0, A, b"")],
        [(0, 1, S | A, b""), (0.5, 0, S, b""), (1.0, 0, A, b"")],
        [(0, 1, S | A, b""), (0.01, 0, R | A, b""), (0.02, 0, A, b"")],
        [(0, 1, S | A, b""), (3.0, 1, S | A, b""), (6.0, 0, A, b""), (6.5, 0, A | P, b"x")],
        [(0, 1, S | A, b""), (3.0, 0, A, b""), (3.1, 1, A | P, b"abc"), (6.0, 0, A, b""), (12.0, 1, A | P, b"z")],
        [(0, 1, S | A, b"")] + [(0.5 * k, k % 2, A | P, b"d" * k) for k in range(1, 30)],
        [(0, 1, S | A, b""), (6.0, 1, S | A, b"")],
        [(0, 1, S | A, b""), (12.0, 1, S | A, b"")],
        [(0, 1, S | A, b""), (6.0, 0, R, b"")],
        [(0, 1, S | A, b""), (6.0, 0, 0, b"")],
        [(0, 1, S | A, b""), (3.0, 1, S | A, b""), (5.5, 0, A, b"")],
        [(0, 1, S | A, b""), (4.99, 0, A, b"")],
        [(0, 1, S | A, b""), (5.01, 0, A, b"")],
        [(0, 1, S | A, b""), (1.0, 0, 0, b""), (2.0, 0, A, b"")],
        [(0, 1, S | A, b""), (1.0, 0, S, b"")],
        [(0, 1, S | A, b""), (1.0, 0, dpkt.tcp.TH_URG, b"")],
        [(0, 1, S | A, b""), (1.0, 0, P, b"")],
        [(0, 1, S | A, b""), (1.0, 0, F | S, b"")],
        [(0, 1, S | A, b""), (0.5, 1, R | A, b""), (1.0, 0, A, b"")],
        [(0, 1, S | A, b""), (0.5, 0, A, b""), (1.0, 0, R, b"")],
        # (the reversed record printing its start from the first source: racluster's row starts
        # at 7.5, this code's at 7.0, a known difference; not generated)
    ]
    pk = []
    for i, seq in enumerate(cases):
        t, h, port = T0 + 20.0 * i, f"10.0.4.{i + 1}", 40000 + i
        for dt, from_sender, fl, data in seq:
            if from_sender:
                pk.append((t + dt, tcp4(server, 80, h, port, fl, seq=9, ack=8, data=data)))
            else:
                pk.append((t + dt, tcp4(h, port, server, 80, fl, seq=8, ack=10, data=data)))
    # a capture that starts inside a busy server's handshakes: SYN/ACKs answered by ACKs and
    # data, overlapping, so that chunks cut through undecided flows
    rng = random.Random(5)
    t = T0 + 20.0 * len(cases)
    for i in range(60):
        h, port = f"10.0.6.{i + 1}", 41000 + i
        t0 = t + rng.uniform(0, 30)
        pk.append((t0, tcp4(server, 80, h, port, S | A, seq=9, ack=8)))
        for j in range(rng.randrange(0, 4)):
            pk.append((t0 + rng.uniform(0, 9), tcp4(server, 80, h, port, rng.choice([S | A, 0, P]), seq=9, ack=8)))
        fate = rng.random()
        if fate < 0.4:
            dt = rng.uniform(0.1, 9)
            pk.append((t0 + dt, tcp4(h, port, server, 80, A, seq=8, ack=10)))
            pk.append((t0 + dt + 0.2, tcp4(server, 80, h, port, A | P, seq=10, ack=8, data=b"x" * 40)))
        elif fate < 0.6:
            pk.append((t0 + rng.uniform(0.1, 9), tcp4(h, port, server, 80, R, seq=8)))
    pk.sort(key=lambda x: x[0])
    return pk


def fragments6(src, dst, nxt, transport: bytes, ident: int, size=512, keep=None) -> list[bytes]:
    """Split an already-built transport segment into IPv6 fragments (Ethernet frames, raw bytes:
    dpkt's IP6 cannot build every case); ``keep``: indexes of the fragments to return."""
    out = []
    for k, off in enumerate(range(0, len(transport), size)):
        chunk = transport[off:off + size]
        fh = struct.pack(">BBHI", nxt, 0, (off // 8) << 3 | int(off + size < len(transport)), ident)
        ip = struct.pack(">IHBB", 0x6000_0000, len(fh) + len(chunk), 44, 64) + _ip6(src) + _ip6(dst) + fh + chunk
        if keep is None or k in keep:
            out.append(MAC["b"] + MAC["a"] + b"\x86\xdd" + ip)
    return out


def sc_frag6():
    """Fragmented IPv6 datagrams (measured with argus 3.0.8, 2026-11-27): the first fragment
    joins the datagram's flow; the non-first ones make a flow of their own keyed by the fragment
    identification (TCP/UDP ports b1b0 and b3b2, swapped when sent by the higher address; ICMPv6
    type b3 and code b2), INT even for TCP."""
    pk = []
    t = T0
    a, b = "2001:db8::1", "2001:db8::2"
    # UDP: 3 fragments, identification 0x11223344 (non-first: 8721 -> 17459)
    pay = b"A" * 1100
    u = struct.pack(">HHHH", 4000, 5000, 8 + len(pay), 0) + pay
    for i, f in enumerate(fragments6(a, b, 17, u, 0x1122_3344)):
        pk.append((t + 0.01 * i, f))
    # ICMPv6 echo request in 3 fragments (identification 7: non-first "type 7 code 0"), its reply
    ic = struct.pack(">BBHHH", 128, 0, 0, 9, 1) + b"C" * 1200
    for i, f in enumerate(fragments6(a, b, 58, ic, 7)):
        pk.append((t + 0.1 + 0.01 * i, f))
    pk.append((t + 0.2, icmp6(b, a, 129, 0, echo(9, 1, b"C" * 16))))
    # identification 1 (type 1 code 0: an unreachable state) and 0xAABBCC80 (type 128: an echo row)
    for k, ident in enumerate((1, 0xAABB_CC80)):
        for i, f in enumerate(fragments6(a, b, 58, ic, ident)):
            pk.append((t + 0.3 + 0.1 * k + 0.01 * i, f))
    # TCP in 2 fragments, one way: the non-first fragment's row is INT
    seg = struct.pack(">HHIIBBHHH", 1111, 2222, 5, 0, 0x50, 0x18, 1000, 0, 0) + b"E" * 800
    for i, f in enumerate(fragments6(a, b, 6, seg, 9)):
        pk.append((t + 0.6 + 0.01 * i, f))
    # a non-first UDP fragment whose first fragment never came
    for f in fragments6(b, a, 17, u, 0x0102, keep={1}):
        pk.append((t + 0.8, f))
    # lone non-first fragments between addresses ordered both ways
    pairs = [("2001:db8::1:0", "2001:db8::2"), ("2001:db8:1::", "2001:db8::ff"), ("fe80::1", "2001:db8::1"),
             ("10::1", "2001::1")]
    for k, (s, d) in enumerate(pairs):
        for f in fragments6(s, d, 17, u, 0x0102, keep={1}):
            pk.append((t + 0.85 + 0.01 * k, f))
    # a long fragmented stream: 30 datagrams 0.5 s apart, each with its own identification
    for n in range(30):
        for i, f in enumerate(fragments6(a, b, 17, u, 0x5000 + n)):
            pk.append((t + 1 + 0.5 * n + 0.001 * i, f))
    pk.sort(key=lambda x: x[0])
    return pk


def sc_l2():
    """Non-IP frames (measured with argus 3.0.8, 2026-11-27): Argus keys an Ethernet II frame by
    (Ethernet type, MAC pair) and an 802.3 frame by the MAC pair (its SAPs key Argus's flows,
    racluster merges them); the lower MAC prints as source, the counts follow the first frame;
    ra's names for some types (lldp, eapol, loop, ...), decimal for the others; "well" (0x8100)
    for a VLAN-tagged one."""
    a, b, c = bytes.fromhex("020000000001"), bytes.fromhex("020000000002"), bytes.fromhex("0a0000000003")

    def e2(src, dst, et, pay=b"z" * 46):
        return dst + src + struct.pack(">H", et) + pay

    def llc(src, dst, dsap, ssap, pay=b"q" * 40):
        body = bytes([dsap, ssap, 3]) + pay
        return dst + src + struct.pack(">H", len(body)) + body

    pk = []
    t = T0
    for i in range(7):  # LLDP every 2 s: one row over three status intervals
        pk.append((t + 2 * i, e2(a, bytes.fromhex("0180c200000e"), 0x88CC)))
    for k, (s_, d_) in enumerate(((a, b), (b, a), (a, b))):  # two-way: CON
        pk.append((t + 0.1 + 0.1 * k, e2(s_, d_, 0x8903)))
    for k, et in enumerate((0x88E7, 0x8926, 0x9000, 0x0842, 0x888E, 0x8863, 0x88F7, 0x22F0, 0x0600, 0x0801)):
        pk.append((t + 0.5 + 0.01 * k, e2(c, b, et)))  # from the higher MAC: printed b -> c
    pk.append((t + 0.7, e2(c, b"\xff" * 6, 0x88B5)))  # to Broadcast
    pk.append((t + 0.8, b + c + b"\x81\x00\x00\x64\x88\xb5" + b"z" * 42))  # VLAN 100 around 0x88b5
    pk.append((t + 1.0, llc(a, bytes.fromhex("0180c2000000"), 0x42, 0x42)))  # STP
    for k, (s_, d_, ds, ss) in enumerate(((a, b, 0xF0, 0xF0), (b, a, 0xF0, 0xF0), (a, b, 0xE0, 0xE0), (a, b, 0x42, 0x43))):
        pk.append((t + 1.1 + 0.1 * k, llc(s_, d_, ds, ss)))  # one row, three Argus flows
    pk.append((t + 1.5, llc(c, a, 0x04, 0x05)))  # SAPs printed with their MACs: a.4 -> c.5
    pk.append((t + 1.6, llc(c, b, 0xAA, 0xAA, pay=b"\x00\x00\x0c\x20\x00" + b"q" * 40)))  # SNAP (CDP)
    pk.append((t + 1.7, llc(c, b, 0xAA, 0xAA, pay=b"\x00\x00\x00\x88\xcc" + b"q" * 40)))
    pk.sort(key=lambda x: x[0])
    return pk


def sc_truncated():
    """Transport headers cut short, by the IP length or by the snap length (measured with argus
    3.0.8, 2026-11-27): still flows. TCP ports only when the IP length leaves 20 bytes, flags
    only when 20 bytes were captured, past the IP length too (none: INT); UDP ports when the IP
    length leaves 8; ICMP type/code/identifier as far as captured; IPv6 from what was captured."""

    def ip(src, dst, p, payload, tot=None):
        """The frame keeps every byte of ``payload`` whatever the IP length says."""
        tot = 20 + len(payload) if tot is None else tot
        return MAC["b"] + MAC["a"] + b"\x08\x00" + struct.pack(">BBHHHBBH4s4s", 0x45, 0, tot, 1, 0, 64, p, 0,
                                                              _ip4(src), _ip4(dst)) + payload

    def tcp(fl, sport=1234):
        return struct.pack(">HHIIBBHHH", sport, 80, 1, 0, 0x50, fl, 1000, 0, 0)

    udp = struct.pack(">HHHH", 5000, 53, 12, 0) + b"abcd"
    ping = b"\x08\x00\x00\x00\x12\x34\x00\x01"
    pk = []
    t = T0
    for k, frame in enumerate((
            ip("10.8.0.1", "10.8.0.2", 6, b"", tot=20),  # IP header only: INT
            ip("10.8.0.3", "10.8.0.2", 6, tcp(A), tot=24),  # an ACK past the IP length: ports 0, CON
            ip("10.8.0.4", "10.8.0.2", 6, tcp(A), tot=39),
            ip("10.8.0.14", "10.8.0.2", 6, tcp(A)[:19], tot=39),  # 19 bytes captured: no flags, INT
            eth(ip4("10.8.0.15", "10.8.0.2", 6, tcp(A)[:10])),  # (dpkt-built: the frame ends with the IP length)
            ip("10.8.0.10", "10.8.0.2", 6, tcp(S | A), tot=24),  # ACC
            ip("10.8.0.12", "10.8.0.2", 6, tcp(S), tot=30),  # REQ
            ip("10.8.0.6", "10.8.0.2", 17, udp, tot=27),  # UDP: ports 0
            ip("10.8.0.7", "10.8.0.2", 17, udp, tot=28),  # whole header: ports
            ip("10.8.0.8", "10.8.0.2", 17, b"\x13\x88", tot=22),
            ip("10.8.0.9", "10.8.0.2", 1, b"\x08", tot=21),  # one ICMP byte: ECO
            ip("10.8.0.13", "10.8.0.2", 1, ping, tot=22),  # identifier read past the IP length
            ip("10.8.0.11", "10.8.0.2", 6, tcp(S)),  # a whole SYN, then a cut ACK of the same hosts
            ip("10.8.0.11", "10.8.0.2", 6, tcp(A), tot=24))):
        pk.append((t + 0.01 * k, frame))
    # cut by the snap length (14 + 20 + n bytes kept)
    for k, (frame, n) in enumerate((
            (ip("10.8.1.1", "10.8.1.2", 6, tcp(S)), 0), (ip("10.8.1.4", "10.8.1.2", 6, tcp(S)), 6),
            (ip("10.8.1.6", "10.8.1.2", 6, tcp(S)), 14), (ip("10.8.1.3", "10.8.1.2", 17, udp), 4),
            (ip("10.8.1.7", "10.8.1.2", 17, udp), 2), (ip("10.8.1.5", "10.8.1.2", 1, ping), 2),
            (ip("10.8.1.8", "10.8.1.2", 1, ping), 6))):
        pk.append((t + 1 + 0.01 * k, frame, 34 + n))
    # a connection whose packets are all cut after 6 TCP bytes, both directions, over 12 s
    for k in range(12):
        if k % 2 == 0:
            frame = ip("10.8.2.1", "10.8.2.2", 6, tcp(A, sport=40000))
        else:
            frame = ip("10.8.2.2", "10.8.2.1", 6, struct.pack(">HHIIBBHHH", 80, 40000, 1, 0, 0x50, A, 1000, 0, 0))
        pk.append((t + 2 + k, frame, 40))
    # IPv6: keyed from what was captured whatever the payload length says; a cut ICMPv6 header
    # makes no flow
    def ip6(src, dst, nxt, payload):
        return (MAC["b"] + MAC["a"] + b"\x86\xdd" + struct.pack(">IHBB", 0x6000_0000, len(payload), nxt, 64)
                + _ip6(src) + _ip6(dst) + payload)

    def frag1(nxt, chunk, ident):
        return struct.pack(">BBHI", nxt, 0, 1, ident) + chunk  # offset 0, more fragments

    for k, frame in enumerate((
            ip6("2001:db8::1", "2001:db8::2", 58, b"\x80"), ip6("2001:db8::3", "2001:db8::2", 58, b"\x80\x00\x00"),
            ip6("2001:db8::4", "2001:db8::2", 44, frag1(58, b"\x80", 7)),
            ip6("2001:db8::5", "2001:db8::2", 17, b"\x13\x88\x00\x35"),  # UDP ports from 4 bytes
            ip6("2001:db8::6", "2001:db8::2", 6, b"\x04\xd2\x00\x50"),  # TCP ports, no flags: INT
            ip6("2001:db8::7", "2001:db8::2", 44, frag1(17, b"\x13\x88\x00\x35", 8)))):
        pk.append((t + 20 + 0.01 * k, frame))
    return pk


def sc_esp():
    """IPv4 ESP (measured with argus 3.0.8, 2026-11-27): one flow per SPI and direction, printed
    with no sport and dport 0x2020 + the SPI's low half in hex; INT."""
    pk = []
    t = T0
    for k, (s_, d_, spi) in enumerate((("10.1.0.1", "10.1.0.2", 0x1122_3344), ("10.1.0.1", "10.1.0.2", 0x0000_00FF),
                                       ("10.1.0.1", "10.1.0.2", 0xAABB_CCDD), ("10.1.0.2", "10.1.0.1", 0x1122_3344),
                                       ("10.1.0.2", "10.1.0.1", 0x5566_7788), ("10.1.0.1", "10.1.0.2", 0x1122_3344))):
        pk.append((t + 0.01 * k, eth(ip4(s_, d_, 50, struct.pack(">II", spi, k + 1) + b"x" * 20))))
    for k in range(4):  # a tunnel over 9 s: one row of several records
        pk.append((t + 1 + 3 * k, eth(ip4("10.1.0.5", "10.1.0.6", 50, struct.pack(">II", 0xABCD_0001, k) + b"y" * 40))))
    return pk


def sc_dst_span():
    """Records with one destination packet (measured with argus 3.0.8, 2026-11-28): beside two or
    more source packets the destination spans the whole record when the record starts and ends in
    the same second, else it sits at the record start (ddur 0); beside one source packet it sits
    at the record end either way.  TCP and UDP, first and later records, crossing and not."""
    pk = []
    c, s = "10.0.7.1", "10.0.7.2"
    B = float(int(T0)) + 100.0  # whole second: the offsets below say where the second turns

    def handshake(port, t):
        pk.append((t, tcp4(c, port, s, 80, S, seq=1)))
        pk.append((t + 0.01, tcp4(s, 80, c, port, S | A, seq=5, ack=2)))
        pk.append((t + 0.02, tcp4(c, port, s, 80, A, seq=2, ack=6)))

    def burst(port, t0, d1, d2, ndst=1, nsrc=2):
        pk.append((t0, tcp4(c, port, s, 80, P | A, seq=2, ack=6, data=b"x")))
        for k in range(ndst):
            pk.append((t0 + d1 + 0.001 * k, tcp4(s, 80, c, port, P | A, seq=6, ack=3, data=b"yy")))
        if nsrc >= 2:
            pk.append((t0 + d2, tcp4(c, port, s, 80, A, seq=3, ack=8)))

    def udp3(port, t0, d1, d2):
        pk.append((t0, udp4(c, port, s, 53)))
        pk.append((t0 + d1, udp4(s, 53, c, port)))
        if d2:
            pk.append((t0 + d2, udp4(c, port, s, 53)))

    # one TCP flow, eight later records, some crossing a second
    handshake(41000, B + 0.1)
    for k, (b, d1, d2) in enumerate(((10.1, 0.05, 0.1), (20.9, 0.05, 0.2), (30.95, 0.07, 0.2), (40.5, 0.3, 0.45),
                                     (50.98, 0.01, 0.03), (60.98, 0.03, 0.01), (70.2, 0.6, 0.7), (80.7, 0.1, 0.5))):
        burst(41000, B + b, d1, d2)
    for port, plan in ((41001, ((10.9, 0.15, 0.2), (20.1, 0.05, 0.1))), (41002, ((10.9, 0.15, 0.2), (20.9, 0.15, 0.2))),
                       (41003, ((10.1, 0.05, 0.1), (20.9, 0.15, 0.2))), (41006, ((10.9, 0.05, 0.2),))):
        handshake(port, B + 0.1)
        for b, d1, d2 in plan:
            burst(port, B + b, d1, d2)
    handshake(41004, B + 0.1)
    burst(41004, B + 10.9, 0.15, 0.2, ndst=2)
    handshake(41005, B + 0.1)
    burst(41005, B + 10.95, 0.1, 0, nsrc=1)
    burst(41005, B + 20.1, 0.1, 0, nsrc=1)
    # a first TCP record that crosses a second
    pk.append((B + 30.9, tcp4(c, 41011, s, 80, S, seq=1)))
    pk.append((B + 30.95, tcp4(s, 80, c, 41011, S | A, seq=5, ack=2)))
    pk.append((B + 31.1, tcp4(c, 41011, s, 80, A, seq=2, ack=6)))
    pk.append((B + 40.1, tcp4(c, 41011, s, 80, P | A, seq=2, ack=6, data=b"x")))
    pk.append((B + 40.2, tcp4(c, 41011, s, 80, A, seq=3, ack=6)))
    # UDP: two source packets and one reply, crossing or not; one and one
    udp3(51001, B + 0.1, 0.05, 0.1)
    udp3(51002, B + 0.9, 0.05, 0.2)
    udp3(51003, B + 0.1, 0.05, 0.1)
    udp3(51003, B + 10.9, 0.05, 0.2)
    udp3(51004, B + 0.9, 0.05, 0.2)
    udp3(51004, B + 10.1, 0.05, 0.1)
    udp3(51011, B + 0.1, 0.05, 0)
    udp3(51011, B + 10.95, 0.1, 0)
    udp3(51012, B + 0.95, 0.1, 0)
    udp3(51012, B + 10.1, 0.05, 0)
    pk.sort(key=lambda x: x[0])
    return pk


def sc_record_start():
    """Status records opened by a packet from the destination (measured with argus 3.0.8,
    2026-11-28): such a record prints as starting at its first packet from the source when
    that packet falls in the same second as the record's first packet, else at its first
    packet, whether or not the queue timer fired in between (a dense background flow makes
    it fire every second at .3); a lone source packet beside two or more destination packets
    spans the record within one second, as a lone reply does (sc_dst_span)."""
    pk = []
    c, s = "10.0.8.1", "10.0.8.2"
    B = float(int(T0)) + 200.0
    t = B + 0.3
    while t < B + 20:  # background: the timer fires at about .3 of every second
        pk.append((t, udp4("10.0.9.1", 5000, "10.0.9.2", 6000)))
        t += 0.01

    def opening(port, t0):
        pk.append((t0, tcp4(c, port, s, 80, S, seq=1)))
        pk.append((t0 + 0.01, tcp4(s, 80, c, port, S | A, seq=5, ack=2)))
        pk.append((t0 + 0.02, tcp4(c, port, s, 80, A, seq=2, ack=6)))

    port = 42000
    for nd in (1, 2, 3):  # destination packets first, then source packets, 0.1 s apart
        for ns in (0, 1, 2, 3):
            for first in (10.05, 10.75, 12.22):
                port += 1
                opening(port, B + 0.1)
                t = B + first
                for k in range(nd):
                    pk.append((t, tcp4(s, 80, c, port, P | A, seq=6 + k, ack=2, data=b"y")))
                    t += 0.1
                for k in range(ns):
                    pk.append((t, tcp4(c, port, s, 80, A, seq=2, ack=8 + k)))
                    t += 0.1
    for first, nd_gap in ((10.1, 0.4), (10.8, 0.4), (12.25, 0.1)):  # source first, then two replies
        port += 1
        opening(port, B + 0.1)
        pk.append((B + first, tcp4(c, port, s, 80, P | A, seq=2, ack=6, data=b"x")))
        pk.append((B + first + nd_gap, tcp4(s, 80, c, port, P | A, seq=6, ack=3, data=b"yy")))
        pk.append((B + first + nd_gap + 0.1, tcp4(s, 80, c, port, P | A, seq=8, ack=3, data=b"yy")))
    for k, (td, tsrc) in enumerate(((10.10, 10.20), (10.25, 10.35), (10.90, 11.10), (12.28, 12.32))):  # UDP
        port = 52000 + k
        pk.append((B + 0.05, udp4(c, port, s, 53)))
        pk.append((B + td, udp4(s, 53, c, port)))
        pk.append((B + tsrc, udp4(c, port, s, 53)))
        pk.append((B + tsrc + 0.02, udp4(c, port, s, 53)))
    pk.sort(key=lambda x: x[0])
    return pk


def _early_synacks(c, s, base, backs):
    """TCP connections c -> s:443 from ports 43001, 43002, ... (one per ``backs``, 0.5 s apart from
    ``base``), each with its SYN/ACK stamped ``back`` seconds before the SYN; file order kept (the
    early stamps come after later ones)."""
    pk = []
    for port, back in zip(range(43001, 43001 + len(backs)), backs):
        t = base + (port - 43000) * 0.5
        pk.append((t, tcp4(c, port, s, 443, S, seq=1)))
        pk.append((t - back, tcp4(s, 443, c, port, S | A, seq=5, ack=2)))  # stamped early
        pk.append((t + 0.001, tcp4(c, port, s, 443, A, seq=2, ack=6)))
        pk.append((t + 0.002, tcp4(c, port, s, 443, P | A, seq=2, ack=6, data=b"hello")))
        pk.append((t + 0.003, tcp4(s, 443, c, port, P | A, seq=6, ack=7, data=b"world!")))
    return pk


def sc_clock_back():
    """Packets stamped earlier than the ones before them in the file (measured with argus 3.0.8,
    2026-11-28; the corpus's tls_DER-incomplete-* have a SYN/ACK 21 years early): the flow goes
    on, its start is the earliest stamp, its record spans from it."""
    pk = []
    c, s = "10.0.10.1", "10.0.10.2"
    B = float(int(T0)) + 300.0
    pk += _early_synacks(c, s, B, (668_322_442.0, 300.0, 2.5))
    for k in range(6):  # UDP, one packet 3 s early in the middle
        t = B + 10 + k * 0.4 - (3.0 if k == 3 else 0.0)
        pk.append((t, udp4(c, 53001, s, 53)))
    return pk  # file order kept (not sorted): the early stamps must come after later ones


def sc_clock_zero():
    """Clocks Argus reads its own way (measured with argus 3.0.8, 2026-11-28): packets stamped in
    the first second of the epoch (a direction's start stays unset while its seconds are 0, so a
    record prints from its first packet stamped later; a row with no such packet prints
    4026531839 as start and end when it has packets both ways, 0 when one way, no duration), and
    a destination's first packet stamped in an earlier second than the record's start (the record
    prints from it).  Not here, as they are not modelled: a source packet at 1.4 s after a
    destination one at 1.2 s, both after packets at 0.x s (ra prints 1.4: seconds compared), and
    a direction whose later packet is stamped before its first (ra spans the record from the
    direction's first to its last packet, whatever their order), and a destination packet stamped
    before the source's first one in the same second (the record prints from the source's, as
    modelled, but the row's start is still the earliest packet here)."""
    pk = []
    c, s = "10.0.11.1", "10.0.11.2"
    u = lambda t, d, p: (t, udp4(c, p, s, 5300 + p % 100) if d == "s" else udp4(s, 5300 + p % 100, c, p))  # noqa: E731
    zero = {  # per port: (direction, time) of each packet, in file order
        44002: "s0.0 s0.5 d1.5 s2.0", 44003: "s0.1 s0.2 s1.1 s1.3", 44004: "s0.3 d0.4", 44005: "s0.6",
        44007: "s0.1 s0.5 s3.0 s5.2 s5.6 s7.0", 44008: "s0.1 s0.9 d0.95", 44009: "s0.5 s4.0 s4.4 s5.6 s6.0",
        44010: "s0.1 d0.2 d1.2 d1.3", 44011: "s0.1 d1.2 d1.3", 44013: "s0.1 s0.7", 44015: "s0.0",
        44016: "s0.25 d0.3", 44017: "s0.5 s1.5 d1.6 d2.7", 44018: "s0.5 d0.6 s1.5 s2.7", 44019: "s0.1 d0.2 s1.2 d1.4",
        44020: "s1.1 d1.2 s1.4", 44021: "s0.1 s1.2 d1.4", 44022: "s0.1 d0.2 s1.2 s1.3 d1.4",
    }
    for port, spec in zero.items():
        pk += [u(float(x[1:]), x[0], port) for x in spec.split()]
    pk += [(0.0, tcp4(c, 44001, s, 80, S, seq=1)), (0.1, tcp4(s, 80, c, 44001, S | A, seq=5, ack=2)),
           (0.2, tcp4(c, 44001, s, 80, A, seq=2, ack=6)), (0.6, tcp4(c, 44014, s, 80, S, seq=1))]
    pk.sort(key=lambda x: x[0])
    # a destination's first packet stamped early (file order kept, not sorted)
    B = float(int(T0)) + 300.0
    c, s = "10.0.12.1", "10.0.12.2"
    pk += _early_synacks(c, s, B, (668_322_442.0, 300.0, 2.5, 0.9))
    u = lambda t, d, p: (B + t, udp4(c, p, s, 5400) if d == "s" else udp4(s, 5400, c, p))  # noqa: E731
    for port, spec in {53003: "s30 d29.5 s30.2 d30.3", 53004: "s40 s41 s42 s43 s44 s45.5 s46 s47",
                       53006: "s70 d69 s70.4 s71"}.items():
        pk += [u(float(x[1:]), x[0], port) for x in spec.split()]
    # a status record whose destination packet is stamped before the record's start
    pk += [u(80 + i * 0.5, "s", 53007) for i in range(12)] + [u(84.0, "d", 53007), u(86.5, "s", 53007)]
    return pk


def sc_frag6_self():
    """Non-first IPv6 fragments between equal addresses (measured with argus 3.0.8, 2026-11-28):
    keyed like those from the higher address, b3 b2 -> b1 b0, whichever is larger."""
    pk = []
    pay = b"A" * 1100
    u = struct.pack(">HHHH", 4000, 5000, 8 + len(pay), 0) + pay
    seg = struct.pack(">HHIIBBHHH", 1111, 2222, 5, 0, 0x50, 0x18, 1000, 0, 0) + b"E" * 800
    for k, (ident, p, tr) in enumerate(((0x1122_3344, 17, u), (0x4433_2211, 17, u), (0x0102_0304, 6, seg),
                                        (0x0403_0201, 6, seg), (0x1111_2222, 17, u))):
        for a in ("::1", "2001:db8::5"):
            for i, f in enumerate(fragments6(a, a, p, tr, ident, keep={1, 2})):
                pk.append((T0 + k + 0.01 * i + (0.5 if a != "::1" else 0), f))
    pk.sort(key=lambda x: x[0])
    return pk


def sc_v4mapped():
    """IPv4-mapped addresses (::ffff:a.b.c.d) in IPv6 headers (measured with argus 3.0.8,
    2026-11-28): keyed and printed as the IPv6 addresses they are, apart from an IPv4 connection
    between the same addresses and ports (one or both sides mapped; TCP, UDP, ICMPv6)."""
    pk = tcp_conversation(T0, "5.6.7.8", 6666, "1.2.3.4", 63)
    m1, m2 = "::ffff:5.6.7.8", "::ffff:1.2.3.4"
    pk.append((T0 + 1, tcp6(m1, 6666, m2, 63, P | A, seq=1, ack=1, data=b"x" * 30)))
    pk.append((T0 + 1.1, tcp6(m2, 63, m1, 6666, A, seq=1, ack=31)))
    pk.append((T0 + 2, udp6(m1, 5000, "2001:db8::1", 53, b"q")))
    pk.append((T0 + 2.1, udp6("2001:db8::1", 53, m1, 5000, b"r")))
    pk.append((T0 + 3, icmp6(m2, m1, 128, 0, echo(1, 1))))
    pk.append((T0 + 4, udp6("::ffff:0.0.0.0", 68, "::ffff:255.255.255.255", 67, b"d")))
    pk.sort(key=lambda x: x[0])
    return pk


def sc_midstream_records():
    """Status records of TCP flows reversed by the mid-stream port rule (first packet from port 80;
    measured with argus 3.0.8, 2026-11-28): Argus keeps that packet's sender (the printed
    destination) as its own source, so a record opened by the printed source prints from the
    other side's first packet within the same second, and the direction spans behind srate/drate
    are built with the roles swapped.  One flow not reversed for comparison."""
    pk = []
    t = T0 + 0.3
    c, s = "10.0.14.1", "10.0.14.2"
    pk += [(t, tcp4(s, 80, c, 48001, F | A, seq=9, ack=5)), (t + 0.0004, tcp4(c, 48001, s, 80, A, seq=5, ack=10)),
           (t + 6.0, tcp4(c, 48001, s, 80, F | A, seq=5, ack=10)), (t + 6.08, tcp4(s, 80, c, 48001, A, seq=10, ack=6))]
    pk += [(t + 0.1, tcp4(s, 80, c, 48002, F | A, seq=9, ack=5)), (t + 0.1004, tcp4(c, 48002, s, 80, A, seq=5, ack=10)),
           (t + 6.1, tcp4(c, 48002, s, 80, F | A, seq=5, ack=10)), (t + 6.8, tcp4(s, 80, c, 48002, A, seq=10, ack=6))]
    pk += [(t + 0.2, tcp4(s, 80, c, 48003, P | A, seq=9, ack=5, data=b"x")),
           (t + 0.2004, tcp4(c, 48003, s, 80, A, seq=5, ack=10)),
           (t + 6.2, tcp4(s, 80, c, 48003, P | A, seq=10, ack=5, data=b"y")),
           (t + 6.25, tcp4(c, 48003, s, 80, A, seq=5, ack=11))]
    pk += [(t + 0.3, tcp4(c, 48004, s, 80, P | A, seq=5, ack=9, data=b"x")),
           (t + 0.3004, tcp4(s, 80, c, 48004, A, seq=9, ack=6)),
           (t + 6.3, tcp4(c, 48004, s, 80, P | A, seq=6, ack=9, data=b"y")), (t + 6.35, tcp4(s, 80, c, 48004, A, seq=9, ack=7))]
    pk += [(t + 0.4, tcp4(s, 80, c, 48005, A, seq=9, ack=5)), (t + 0.4004, tcp4(c, 48005, s, 80, A, seq=5, ack=10)),
           (t + 6.4, tcp4(c, 48005, s, 80, P | A, seq=5, ack=10, data=b"a")),
           (t + 6.45, tcp4(c, 48005, s, 80, P | A, seq=6, ack=10, data=b"b")),
           (t + 6.5, tcp4(s, 80, c, 48005, A, seq=10, ack=7))]
    pk.sort(key=lambda x: x[0])
    return pk


def sc_frag4_state():
    """Fragmented IPv4 TCP segments (measured with argus 3.0.8, 2026-11-28): a non-first fragment
    is no TCP segment for the flow's state (a fragmented SYN stays REQ, a fragmented SYN/ACK
    answer ACC; a first fragment too short for the flags and its followers INT), as Argus
    accounts it to its datagram's flow, not through the TCP state machine."""
    def seg(sp, dp, flags, data=b"", seq=1, ack=0):
        return bytes(dpkt.tcp.TCP(sport=sp, dport=dp, flags=flags, seq=seq, ack=ack, win=65535, data=data))

    pk = []
    t = T0
    c, s = "10.0.13.1", "10.0.13.2"
    pk += [(t + 0.01 * i, f) for i, f in enumerate(fragments4(c, s, 6, seg(47001, 80, S, b"X" * 40), 101, 24))]
    pk += [(t + 1 + 0.01 * i, f) for i, f in enumerate(fragments4(c, s, 6, seg(47002, 80, S, b"Y" * 16), 102, 8))]
    pk.append((t + 2, tcp4(c, 47003, s, 80, S, seq=1)))
    pk.append((t + 2.01, tcp4(s, 80, c, 47003, S | A, seq=5, ack=2)))
    pk += [(t + 2.02 + 0.001 * i, f)
           for i, f in enumerate(fragments4(c, s, 6, seg(47003, 80, A | P, b"Z" * 40, 2, 6), 103, 24))]
    pk.append((t + 3, tcp4(c, 47004, s, 80, S, seq=1)))
    pk += [(t + 3.01 + 0.001 * i, f)
           for i, f in enumerate(fragments4(s, c, 6, seg(80, 47004, S | A, b"W" * 40, 5, 2), 104, 24))]
    pk += [(t + 4 + 0.001 * i, f)
           for i, f in enumerate(fragments4(c, s, 6, seg(47005, 80, F | A, b"V" * 40, 2, 6), 105, 24))]
    pk += [(t + 5 + 0.01 * i, f) for i, f in enumerate(fragments4(c, s, 6, seg(47006, 80, S, b"Y" * 16), 106, 8))]
    pk.append((t + 5.1, tcp4(s, 80, c, 47006, S | A, seq=5, ack=2)))
    pk.sort(key=lambda x: x[0])
    return pk


def write_all(out_dir) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return {name: write_pcap(out / f"{name}.pcap", fn()) for name, fn in SCENARIOS.items()}


if __name__ == "__main__":
    for name, p in write_all(sys.argv[1] if len(sys.argv) > 1 else ".").items():
        print(p)
