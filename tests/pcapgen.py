"""Test-capture generator: packets built with dpkt, framed as pcap or pcapng.

Each builder returns ``(linktype, frame_bytes, expected)`` where ``expected``
holds the column values decode must produce.  The writers cover both byte
orders, micro/nanosecond pcap, and pcapng with several interfaces, sections,
timestamp resolutions, simple packet blocks and unknown blocks.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import struct

import dpkt

from forensics.packets import str_to_addr

MAC_A = b"\x02\x00\x00\x00\x00\x0a"
MAC_B = b"\x02\x00\x00\x00\x00\x0b"
V4A, V4B = "10.1.0.1", "10.1.0.2"
V6A, V6B = "fd00::1", "fd00::2"


def _ip4(src=V4A, dst=V4B, p=6, data=b"", ident=1, off=0, mf=False, ttl=64):
    ip = dpkt.ip.IP(src=bytes(map(int, src.split("."))), dst=bytes(map(int, dst.split("."))), p=p, ttl=ttl, id=ident, data=data)
    ip._flags_offset = (off // 8) | (dpkt.ip.IP_MF if mf else 0)
    ip.len = 20 + len(bytes(data))
    return ip


def _ip6(src=V6A, dst=V6B, nxt=17, data=b"", hlim=64):
    import ipaddress

    ip6 = dpkt.ip6.IP6(src=ipaddress.IPv6Address(src).packed, dst=ipaddress.IPv6Address(dst).packed, nxt=nxt, hlim=hlim, data=data)
    ip6.plen = len(bytes(data))
    return ip6


def tcp(sport=40000, dport=80, flags=dpkt.tcp.TH_SYN, seq=1000, ack=0, payload=b""):
    return dpkt.tcp.TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, win=1024, data=payload)


def udp(sport=5000, dport=53, payload=b"hello"):
    u = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
    u.ulen = 8 + len(payload)
    return u


def icmp_echo(ident=7, seq=1, type_=8):
    return dpkt.icmp.ICMP(type=type_, code=0, data=dpkt.icmp.ICMP.Echo(id=ident, seq=seq, data=b"ping"))


def eth(payload: bytes, etype=0x0800):
    return bytes(dpkt.ethernet.Ethernet(src=MAC_A, dst=MAC_B, type=etype, data=payload))


def base_expect(src=V4A, dst=V4B, **kw):
    sh, sl = str_to_addr(src)
    dh, dl = str_to_addr(dst)
    exp = dict(status=0, src_hi=sh, src_lo=sl, dst_hi=dh, dst_lo=dl)
    exp.update(kw)
    return exp


def link_variants() -> list[tuple[str, int, bytes, dict]]:
    """One TCP SYN 10.1.0.1:40000 -> 10.1.0.2:80 over every supported link layer."""
    ip = bytes(_ip4(data=tcp()))
    ip6 = bytes(_ip6(nxt=6, data=tcp()))
    e4 = base_expect(ip_version=4, proto=6, sport=40000, dport=80, tcp_flags=2, ethertype=0x0800)
    e6 = base_expect(V6A, V6B, ip_version=6, proto=6, sport=40000, dport=80, tcp_flags=2, ethertype=0x86DD)
    vlan = struct.pack(">HH", 0x0064, 0x0800)
    qinq = struct.pack(">HHHH", 0x00C8, 0x8100, 0x0064, 0x0800)
    mpls = struct.pack(">I", (16 << 12) | (1 << 8) | 64)
    pppoe = struct.pack(">BBHH", 0x11, 0, 0x0001, len(ip) + 2) + struct.pack(">H", 0x0021)
    sll = struct.pack(">HHH8sH", 0, 1, 6, MAC_A + b"\x00\x00", 0x0800)
    sll2 = struct.pack(">HHiHBB8s", 0x0800, 0, 1, 1, 0, 6, MAC_A + b"\x00\x00")
    return [
        ("ethernet", 1, eth(ip), {**e4, "src_mac": int.from_bytes(MAC_A, "big"), "dst_mac": int.from_bytes(MAC_B, "big")}),
        ("ethernet-ipv6", 1, eth(ip6, 0x86DD), e6),
        ("vlan", 1, eth(vlan + ip, 0x8100), {**e4, "vlan": 100}),
        ("qinq", 1, eth(qinq + ip, 0x88A8), {**e4, "vlan": 200}),
        ("mpls", 1, eth(mpls + ip, 0x8847), e4),
        ("pppoe", 1, eth(pppoe + ip, 0x8864), e4),
        ("sll", 113, sll + ip, e4),
        ("sll2", 276, sll2 + ip, e4),
        ("raw", 101, ip, e4),
        ("raw-ipv6", 101, ip6, e6),
        ("raw-ipv4-lt228", 228, ip, e4),
        ("raw-ipv6-lt229", 229, ip6, e6),
        ("null-le", 0, struct.pack("<I", 2) + ip, e4),
        ("null-be", 0, struct.pack(">I", 2) + ip, e4),
        ("null-ipv6", 0, struct.pack("<I", 30) + ip6, e6),
        ("loop", 108, struct.pack(">I", 2) + ip, e4),
    ]


def protocol_variants() -> list[tuple[str, int, bytes, dict]]:
    """Ethernet frames for every protocol decode must handle."""
    hop = dpkt.ip6.IP6HopOptsHeader(nxt=17, len=0, data=b"\x01\x04\x00\x00\x00\x00")
    v6ext = _ip6(nxt=0, data=bytes(hop) + bytes(udp(5683, 5683, b"coap")))
    arp = dpkt.arp.ARP(op=1, sha=MAC_A, spa=bytes([10, 1, 0, 1]), tha=b"\x00" * 6, tpa=bytes([10, 1, 0, 2]))
    icmp_unreach = dpkt.icmp.ICMP(type=3, code=3, data=dpkt.icmp.ICMP.Unreach(data=bytes(_ip4(p=17, data=udp()))))
    # quoted header with 8 bytes of IP options (ihl 7), then the quoted TCP ports
    q_opts = bytearray(bytes(_ip4(data=tcp()))[:20])
    q_opts[0] = 0x47
    q_opts = bytes(q_opts) + b"\x01" * 8 + bytes(tcp())[:8]
    icmp_timxceed_opts = b"\x0b\x00\x00\x00\x00\x00\x00\x00" + q_opts
    icmp_unreach_short = b"\x03\x01\x00\x00\x00\x00\x00\x00" + bytes(_ip4(data=tcp()))[:12]
    icmp6 = dpkt.icmp6.ICMP6(type=128, code=0, data=dpkt.icmp6.ICMP6.Echo(id=9, seq=1, data=b"x"))
    gre = _ip4(p=47, data=b"\x00\x00\x08\x00" + b"z" * 20)
    return [
        ("tcp-syn", 1, eth(bytes(_ip4(data=tcp()))), base_expect(proto=6, sport=40000, dport=80, tcp_flags=2, tcp_seq=1000)),
        ("tcp-data", 1, eth(bytes(_ip4(data=tcp(flags=0x18, payload=b"GET / HTTP/1.0\r\n\r\n")))), base_expect(proto=6, tcp_flags=0x18, payload_len=18)),
        ("udp", 1, eth(bytes(_ip4(p=17, data=udp()))), base_expect(proto=17, sport=5000, dport=53, payload_len=5, udp_head=0x6865)),
        ("udp-1byte", 1, eth(bytes(_ip4(p=17, data=udp(payload=b"x")))), base_expect(proto=17, payload_len=1, udp_head=-1)),
        ("icmp-echo", 1, eth(bytes(_ip4(p=1, data=icmp_echo()))), base_expect(proto=1, icmp_type=8, icmp_code=0, icmp_id=7, icmp_seq=1, sport=8, dport=0, q_proto=-1)),
        ("icmp-unreach", 1, eth(bytes(_ip4(p=1, data=icmp_unreach))), base_expect(
            proto=1, icmp_type=3, icmp_code=3, sport=3, dport=3, q_proto=17, q_src=0x0A010001, q_dst=0x0A010002, q_sport=5000,
            q_dport=53, udp_head=-1)),
        ("icmp-timxceed-opts", 1, eth(bytes(_ip4(p=1, data=icmp_timxceed_opts))), base_expect(
            proto=1, icmp_type=11, icmp_code=0, q_proto=6, q_src=0x0A010001, q_dst=0x0A010002, q_sport=40000, q_dport=80)),
        ("icmp-unreach-short", 1, eth(bytes(_ip4(p=1, data=icmp_unreach_short))), base_expect(
            proto=1, icmp_type=3, icmp_code=1, q_proto=-1, q_src=0, q_dport=0)),
        ("icmpv6-echo", 1, eth(bytes(_ip6(nxt=58, data=icmp6)), 0x86DD), base_expect(V6A, V6B, proto=58, icmp_type=128, icmp_id=9)),
        ("ipv6-ext-hop", 1, eth(bytes(v6ext), 0x86DD), base_expect(V6A, V6B, proto=17, sport=5683, dport=5683, payload_len=4)),
        ("arp", 1, eth(bytes(arp), 0x0806), base_expect(ethertype=0x0806, arp_op=1, proto=0, ip_version=0)),
        ("gre", 1, eth(bytes(gre)), base_expect(proto=47, payload_len=24)),
        ("frag-first", 1, eth(bytes(_ip4(p=17, data=udp(6000, 7000, b"A" * 16), ident=77, mf=True))), base_expect(proto=17, sport=6000, dport=7000, more_frags=True, ip_id=77)),
        ("frag-second", 1, eth(bytes(_ip4(p=17, data=b"B" * 24, ident=77, off=24))), base_expect(proto=17, sport=6000, dport=7000, frag_off=24, ip_id=77)),
        ("lldp", 1, eth(b"\x02\x07\x04" + b"\x00" * 40, 0x88CC), dict(status=0, ethertype=0x88CC, ip_version=0)),
    ]


def bad_variants() -> list[tuple[str, int, bytes, str]]:
    """Frames that must be counted as undecodable with the given reason."""
    ip = bytes(_ip4(data=tcp()))
    bad_ver = bytearray(ip)
    bad_ver[0] = 0x75
    bad_ihl = bytearray(ip)
    bad_ihl[0] = 0x42
    bad_off = bytearray(ip)
    bad_off[20 + 12] = 0x20  # data offset 2 words
    return [
        ("unknown-linktype", 147, ip, "unknown_link_type"),
        ("zero-length", 1, b"", "zero_length"),
        ("short-ethernet", 1, b"\x00" * 10, "truncated_link_header"),
        ("short-ip", 1, eth(ip[:12]), "truncated_network_header"),
        ("bad-version", 1, eth(bytes(bad_ver)), "bad_ip_version"),
        ("bad-ihl", 1, eth(bytes(bad_ihl)), "bad_ip_header"),
        ("short-tcp", 1, eth(ip[:30]), "truncated_transport_header"),
        ("bad-tcp-offset", 1, eth(bytes(bad_off)), "bad_transport_header"),
    ]


# ---------------------------------------------------------------------------------- writers


def pcap_bytes(records, linktype=1, endian="<", nanos=False, snaplen=65535) -> bytes:
    """records: iterable of (ts_ns, frame) or (ts_ns, frame, wirelen)."""
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    out = [struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for rec in records:
        ts, data = rec[0], rec[1]
        wire = rec[2] if len(rec) > 2 else len(data)
        sec, frac = divmod(ts, 1_000_000_000)
        if not nanos:
            frac //= 1000
        out.append(struct.pack(endian + "IIII", sec, frac, len(data), wire) + data)
    return b"".join(out)


def _block(endian, btype, body):
    body += b"\x00" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack(endian + "II", btype, n) + body + struct.pack(endian + "I", n)


def pcapng_shb(endian="<"):
    return _block(endian, 0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def pcapng_idb(linktype, endian="<", tsresol=None, snaplen=65535):
    opts = b""
    if tsresol is not None:
        opts = struct.pack(endian + "HH", 9, 1) + bytes([tsresol]) + b"\x00" * 3 + struct.pack(endian + "HH", 0, 0)
    return _block(endian, 1, struct.pack(endian + "HHI", linktype, 0, snaplen) + opts)


def pcapng_epb(iface, units, data, endian="<", wirelen=None):
    body = struct.pack(endian + "IIIII", iface, units >> 32, units & 0xFFFFFFFF, len(data), wirelen or len(data)) + data
    return _block(endian, 6, body)


def pcapng_spb(data, endian="<"):
    return _block(endian, 3, struct.pack(endian + "I", len(data)) + data)


def pcapng_unknown(endian="<"):
    return _block(endian, 0x0BAD0000 | 0x77, b"mystery!")


def compress(data: bytes, how: str) -> bytes:
    return {"gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress}[how](data)
