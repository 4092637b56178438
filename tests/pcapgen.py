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
    addrs = MAC_B + MAC_A + MAC_B
    wlan = b"\x08\x01\x00\x00" + addrs + b"\x00\x00" + b"\xaa\xaa\x03\x00\x00\x00\x08\x00"
    wlan6 = b"\x08\x01\x00\x00" + addrs + b"\x00\x00" + b"\xaa\xaa\x03\x00\x00\x00\x86\xdd"
    # QoS data between two access points (four addresses, QoS control)
    wlan_qos = b"\x88\x03\x00\x00" + addrs + b"\x00\x00" + MAC_A + b"\x00\x00" + b"\xaa\xaa\x03\x00\x00\x00\x08\x00"
    radiotap = b"\x00\x00\x0c\x00\x04\x00\x00\x00\x02\x00\x00\x00"  # len 12, rate present
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
        ("ieee802_11", 105, wlan + ip, e4),
        ("ieee802_11-qos-wds", 105, wlan_qos + ip, e4),
        ("radiotap", 127, radiotap + wlan + ip, {**e4, "link_skip": 12}),
        ("radiotap-ipv6", 127, radiotap + wlan6 + ip6, {**e6, "link_skip": 12}),
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
    # a TCP data offset below 5 words: Argus counts the segment like any other (header taken as 20 bytes)
    bad_off = bytearray(bytes(_ip4(data=tcp(payload=b"abcd"))))
    bad_off[20 + 12] = 0x20  # data offset 2 words
    hop0 = dpkt.ip6.IP6HopOptsHeader(nxt=6, len=0, data=b"\x01\x04\x00\x00\x00\x00")
    t6 = bytearray(bytes(tcp(flags=0x14)))
    t6[12] = 0x00  # data offset 0, behind a hop-by-hop header (dpkt path)
    v6_bad_off = _ip6(nxt=0, data=bytes(hop0) + bytes(t6))
    return [
        ("tcp-bad-offset", 1, eth(bytes(bad_off)), base_expect(proto=6, sport=40000, dport=80, tcp_flags=2, tcp_seq=1000, payload_len=4)),
        ("tcp6-bad-offset-hop", 1, eth(bytes(v6_bad_off), 0x86DD),
         base_expect(src=V6A, dst=V6B, proto=6, sport=40000, dport=80, tcp_flags=0x14, tcp_seq=1000, payload_len=0)),
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
        ("igmp-v2-report", 1, eth(bytes(_ip4(p=2, data=b"\x16\x00\x00\x00\xe0\x00\x00\xfb")), 0x0800),
         base_expect(proto=2, igmp_group=0xE00000FB, sport=0x16, payload_len=8)),
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
    return [
        ("unknown-linktype", 147, ip, "unknown_link_type"),
        ("zero-length", 1, b"", "zero_length"),
        ("short-ethernet", 1, b"\x00" * 10, "truncated_link_header"),
        ("short-ip", 1, eth(ip[:12]), "truncated_network_header"),
        ("bad-version", 1, eth(bytes(bad_ver)), "bad_ip_version"),
        ("bad-ihl", 1, eth(bytes(bad_ihl)), "bad_ip_header"),
        ("short-tcp", 1, eth(ip[:30]), "truncated_transport_header"),
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


def flow_keys_packets() -> list[tuple[float, bytes]]:
    """Ethernet frames for what Argus keys beyond the 5-tuple (``tests/test_argus_diff.py``,
    ``tests/test_flows.py``): DNS transaction ids on port 53, IPv4 echo sequence numbers
    (retransmitted, interleaved, unanswered), IPv6 echo and ND/MLD pairs, ICMPv4 errors quoting
    UDP/TCP datagrams (port/protocol/host unreachable, redirect, time exceeded), some arriving
    after the quoted flow's status interval."""
    try:
        from tests import flowgen as fg
    except ImportError:  # run with tests/ on sys.path
        import flowgen as fg

    T = fg.T0
    pk = []

    def dns(i, resp=False):
        return struct.pack("!HHHHHH", i, 0x8180 if resp else 0x0100, 1, 0, 0, 0) + b"\x03www\x00\x00\x01\x00\x01"

    for i in range(4):  # one 5-tuple, four ids
        pk.append((T + i * 0.5, fg.udp4("10.0.5.1", 41000, "10.0.5.8", 53, data=dns(100 + i))))
        pk.append((T + i * 0.5 + 0.01, fg.udp4("10.0.5.8", 53, "10.0.5.1", 41000, data=dns(100 + i, True))))
    pk.append((T + 3, fg.udp4("10.0.5.2", 41001, "10.0.5.8", 53, data=dns(7))))  # answer with another id
    pk.append((T + 3.01, fg.udp4("10.0.5.8", 53, "10.0.5.2", 41001, data=dns(8, True))))
    pk.append((T + 4, fg.udp4("10.0.5.3", 41002, "10.0.5.8", 53, data=dns(9))))  # retransmitted query
    pk.append((T + 5, fg.udp4("10.0.5.3", 41002, "10.0.5.8", 53, data=dns(9))))
    pk.append((T + 5.01, fg.udp4("10.0.5.8", 53, "10.0.5.3", 41002, data=dns(9, True))))
    pk.append((T + 7, fg.udp4("10.0.5.5", 41003, "10.0.5.8", 53, data=b"x")))  # too short for an id
    pk.append((T + 7.1, fg.udp4("10.0.5.5", 41003, "10.0.5.8", 53, data=b"")))
    for k, (dt, fwd, i) in enumerate([(8, 1, 20), (8.001, 1, 21), (8.01, 0, 20), (8.02, 0, 21)]):  # interleaved
        a, b = ("10.0.5.6", "10.0.5.8") if fwd else ("10.0.5.8", "10.0.5.6")
        pk.append((T + dt, fg.udp4(a, 41004 if fwd else 53, b, 53 if fwd else 41004, data=dns(i, not fwd))))
    pk.append((T + 9, fg.udp4("10.0.5.8", 53, "10.0.5.7", 41005, data=dns(30, True))))  # answer first
    pk.append((T + 9.5, fg.udp4("10.0.5.7", 41005, "10.0.5.8", 53, data=dns(31))))
    pk.append((T + 10, fg.udp4("10.0.5.9", 5353, "10.0.5.8", 5353, data=dns(40))))  # not port 53
    for i in range(3):  # IPv6: not keyed by id
        pk.append((T + 11 + i * 0.5, fg.udp6("fd00::51", 41000, "fd00::58", 53, dns(100 + i))))
        pk.append((T + 11.01 + i * 0.5, fg.udp6("fd00::58", 53, "fd00::51", 41000, dns(100 + i, True))))
    pk.append((T + 10.1, fg.udp4("10.0.5.9", 5353, "10.0.5.8", 5353, data=dns(41))))

    for v6 in (False, True):
        a, b = ("10.0.7.1", "10.0.7.2") if not v6 else ("fd00::71", "fd00::72")
        o = 20 + (100 if v6 else 0)

        def E(s, d, req, ident, sq):
            if v6:
                return fg.icmp6(s, d, 128 if req else 129, 0, fg.echo(ident, sq))
            return fg.icmp4(s, d, 8 if req else 0, 0, fg.echo(ident, sq))

        for dt, req, ident, sq in [(0, 1, 5, 1), (1, 1, 5, 1), (1.5, 0, 5, 1), (2, 1, 5, 2), (2.1, 1, 5, 3), (2.2, 0, 5, 2),
                                   (2.3, 0, 5, 3), (3, 0, 5, 9), (3.1, 1, 5, 10), (3.2, 0, 5, 10), (4, 1, 6, 1), (4.1, 0, 6, 1)]:
            pk.append((T + o + dt, E(a, b, 1, ident, sq) if req else E(b, a, 0, ident, sq)))
    body = b"\x00" * 44
    for i, (s, d, ty) in enumerate([("fd00::20", "fd00::21", 133), ("fd00::21", "fd00::20", 134), ("fd00::22", "fd00::23", 135),
                                    ("fd00::23", "fd00::22", 136), ("fd00::26", "fd00::27", 134), ("fd00::2a", "fd00::2b", 131),
                                    ("fd00::2a", "fd00::2b", 132), ("fd00::2a", "fd00::2c", 143), ("fd00::2a", "fd00::2c", 200)]):
        pk.append((T + 30 + i * 0.01, fg.icmp6(s, d, ty, 0, body)))
    for i, co in enumerate(range(8)):
        pk.append((T + 31 + i * 0.01, fg.icmp6("fd00::1", "fd00::2", 1, co, body)))
    for i, (ty, co) in enumerate([(2, 0), (3, 0), (3, 1), (4, 0), (4, 1), (4, 2)]):
        pk.append((T + 32 + i * 0.01, fg.icmp6("fd00::1", "fd00::3", ty, co, body)))

    t = T + 40
    ip4, icmp4, udp4, tcp4, S_, A_ = fg.ip4, fg.icmp4, fg.udp4, fg.tcp4, fg.S, fg.A
    z = b"\x00\x00\x00\x00"
    pk.append((t + 0.1, icmp4("10.0.6.2", "10.0.6.1", 3, 2, z + bytes(ip4("10.0.6.1", "10.0.6.2", 132, b"\x00" * 8)))))
    q_tcp = bytes(ip4("10.0.6.1", "172.16.9.8", 6, dpkt.tcp.TCP(sport=40001, dport=80, flags=S_)))
    q_tcp2 = bytes(ip4("10.0.6.1", "172.16.9.9", 6, dpkt.tcp.TCP(sport=40001, dport=80, flags=S_)))
    for dt, ty, co, rest, q in [(0.2, 5, 1, b"\x0a\x00\x06\xfe", q_tcp), (0.3, 5, 0, b"\x0a\x00\x06\xfe", q_tcp),
                                (0.4, 12, 0, z, q_tcp), (0.5, 4, 0, z, q_tcp), (0.6, 3, 1, z, q_tcp), (0.7, 3, 1, z, q_tcp2),
                                (0.8, 11, 0, z, q_tcp), (0.9, 3, 4, b"\x00\x00\x05\xdc", q_tcp), (0.95, 3, 0, z, q_tcp)]:
        pk.append((t + dt, icmp4("10.0.6.254", "10.0.6.1", ty, co, rest + q)))
    pk.append((t + 1.0, tcp4("10.0.6.1", 40002, "10.0.6.2", 80, S_)))
    pk.append((t + 1.1, tcp4("10.0.6.2", 80, "10.0.6.1", 40002, S_ | A_)))
    q = bytes(ip4("10.0.6.2", "10.0.6.1", 6, dpkt.tcp.TCP(sport=80, dport=40002, flags=S_ | A_)))
    pk.append((t + 1.5, icmp4("10.0.6.1", "10.0.6.2", 3, 3, z + q)))
    pk.append((t + 2.0, udp4("10.0.6.3", 5000, "10.0.6.4", 6000)))
    q2 = bytes(ip4("10.0.6.3", "10.0.6.4", 17, dpkt.udp.UDP(sport=5000, dport=6000, ulen=8)))
    for dt in (2.5, 3.5, 10.5):
        pk.append((t + dt, icmp4("10.0.6.4", "10.0.6.3", 3, 3, z + q2)))
    q3 = bytes(ip4("10.0.6.5", "10.0.6.6", 17, dpkt.udp.UDP(sport=5000, dport=6000, ulen=8)))
    for dt, what in [(20.0, "u"), (20.5, "i"), (21.0, "u"), (27.0, "u"), (27.5, "i")]:
        pk.append((t + dt, udp4("10.0.6.5", 5000, "10.0.6.6", 6000) if what == "u" else icmp4("10.0.6.6", "10.0.6.5", 3, 3, z + q3)))
    pk.append((t + 30.0, udp4("10.0.6.7", 53, "10.0.6.8", 53, data=dns(77))))  # DNS to a closed port
    q4 = bytes(ip4("10.0.6.7", "10.0.6.8", 17, dpkt.udp.UDP(sport=53, dport=53, ulen=8 + 16)))
    pk.append((t + 30.01, icmp4("10.0.6.8", "10.0.6.7", 3, 3, z + q4)))
    # IGMP: v2 report and leave (to 224.0.0.2), v3 report, general query
    for dt, src, dst, msg in [(0, "10.0.6.20", "224.0.0.251", b"\x16\x00\x00\x00\xe0\x00\x00\xfb"),
                              (1, "10.0.6.20", "224.0.0.2", b"\x17\x00\x00\x00\xe0\x00\x00\xfb"),
                              (2, "10.0.6.21", "224.0.0.22", b"\x22\x00\x00\x00\x00\x00\x00\x01\x04\x00\x00\x00\xef\xff\xff\xfa"),
                              (3, "10.0.6.1", "224.0.0.1", b"\x11\x64\x00\x00\x00\x00\x00\x00")]:
        pk.append((t + 40 + dt, fg.eth(ip4(src, dst, 2, msg))))
    pk.sort(key=lambda x: x[0])
    return pk


def write_events(path, events, sort: bool = True):
    """A libpcap file of ``events``, ``(timestamp, frame bytes)`` pairs (in time order unless
    ``sort=False``: file order as given); returns ``path``."""
    with open(path, "wb") as fh:
        w = dpkt.pcap.Writer(fh)
        for ts, frame in (sorted(events, key=lambda e: e[0]) if sort else events):
            w.writepkt(frame, ts)
    return path
