"""The columnar packet table: the typed record between ``decode`` and ``flows``.

One row per capture record, in file order, every record of the file present
(decoded or not), so ``len(table) == accounting.packets`` for a whole file.
Columns are numpy arrays of equal length; ``PACKET_COLUMNS`` is the one
definition of their names, dtypes and meaning.

Addresses are 128-bit values split in two uint64 halves.  IPv4 addresses are
stored IPv4-mapped (``::ffff:a.b.c.d``), so ``hi == 0x0000_0000_0000_0000`` and
``lo == 0x0000_ffff_XXXX_XXXX``; :func:`addr_to_str` renders both families.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import numpy as np

# Reasons a record is not decoded (column ``status``).  0 means decoded.
STATUS_OK = 0
UNDECODABLE_REASONS: dict[int, str] = {
    1: "unknown_link_type",
    2: "truncated_link_header",
    3: "truncated_network_header",
    4: "bad_ip_version",
    5: "bad_ip_header",
    6: "truncated_transport_header",
    7: "zero_length",
    8: "bad_transport_header",
    9: "dpkt_error",
}
REASON_CODES = {v: k for k, v in UNDECODABLE_REASONS.items()}

# (name, dtype, meaning)
PACKET_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("index", "int64", "record number within the file, 0-based, in file order (decoded with open_tunnels: "
                       "record number x decode.LEVELS + the row's level, 0 for the record itself)"),
    ("ts_ns", "int64", "capture timestamp, nanoseconds since the Unix epoch"),
    ("caplen", "uint32", "bytes captured for this record"),
    ("wirelen", "uint32", "original length on the wire (Argus 'bytes' counts this)"),
    ("iface", "uint16", "pcapng interface id (0 for libpcap)"),
    ("linktype", "uint16", "LINKTYPE_* of the record's interface"),
    ("status", "uint8", "0 decoded, else a key of UNDECODABLE_REASONS"),
    ("ethertype", "uint16", "innermost ethertype (0x0800 IPv4, 0x86dd IPv6, 0x0806 ARP), 0 if none"),
    ("vlan", "uint16", "outermost 802.1Q VLAN id, 0 if none"),
    ("src_mac", "uint64", "Ethernet source MAC as a 48-bit integer, 0 if none"),
    ("dst_mac", "uint64", "Ethernet destination MAC as a 48-bit integer, 0 if none"),
    ("ip_version", "uint8", "4, 6, or 0 (ARP and non-IP)"),
    ("proto", "uint8", "IP protocol number (after IPv6 extension headers); 0 for ARP/non-IP"),
    ("src_hi", "uint64", "source address, high 64 bits (ARP: sender protocol address)"),
    ("src_lo", "uint64", "source address, low 64 bits"),
    ("dst_hi", "uint64", "destination address, high 64 bits (ARP: target protocol address)"),
    ("dst_lo", "uint64", "destination address, low 64 bits"),
    ("ttl", "uint8", "IPv4 TTL / IPv6 hop limit"),
    ("ip_len", "uint32", "IP total length from the header (IPv6: payload length + 40)"),
    ("ip_id", "uint32", "IPv4 identification (IPv6: fragment header id), 0 if none"),
    ("frag_off", "uint16", "fragment offset in bytes; 0 for unfragmented and first fragments"),
    ("more_frags", "bool", "MF flag set"),
    ("sport", "uint16", "TCP/UDP source port; ICMP: type; IGMP: type; 802.3 frame: SSAP; 0 otherwise (see fragments below)"),
    ("dport", "uint16", "TCP/UDP destination port; ICMP: code; 802.3 frame: DSAP; IPv4 ESP: the SPI's low half (sport: high half); 0 otherwise"),
    ("tcp_flags", "uint8", "TCP flags byte (FIN=1 SYN=2 RST=4 PSH=8 ACK=16 URG=32 ECE=64 CWR=128)"),
    ("tcp_seq", "uint32", "TCP sequence number"),
    ("tcp_ack", "uint32", "TCP acknowledgement number"),
    ("tcp_win", "uint16", "TCP window (unscaled)"),
    ("icmp_type", "int16", "ICMP/ICMPv6 type, -1 if not ICMP"),
    ("icmp_code", "int16", "ICMP/ICMPv6 code, -1 if not ICMP"),
    ("icmp_id", "uint16", "ICMP echo identifier (echo request/reply only)"),
    ("icmp_seq", "uint16", "ICMP echo sequence number (echo request/reply only)"),
    ("q_proto", "int16", "IPv4 ICMP error (types 3 4 5 11 12): protocol of the quoted IP header, -1 if none"),
    ("q_src", "uint32", "IPv4 ICMP error: quoted source address (the datagram that caused the error)"),
    ("q_dst", "uint32", "IPv4 ICMP error: quoted destination address"),
    ("q_sport", "uint16", "IPv4 ICMP error: quoted TCP/UDP source port, 0 if not captured"),
    ("q_dport", "uint16", "IPv4 ICMP error: quoted TCP/UDP destination port, 0 if not captured"),
    ("udp_head", "int32", "first two UDP payload bytes, big-endian (the DNS transaction id), -1 if fewer captured"),
    ("link_skip", "uint16", "link-layer bytes Argus leaves out of flow byte counts (NULL/loopback 4, SLL 16, SLL2 20, the radiotap header)"),
    ("igmp_group", "uint32", "IGMP (IPv4 protocol 2): message bytes 4-7 (the group address), 0 if not captured"),
    ("payload_len", "uint32", "transport payload bytes present on the wire (from header lengths)"),
    ("arp_op", "uint8", "ARP opcode (1 request, 2 reply), 0 if not ARP"),
)

PACKET_COLUMN_NAMES = tuple(c[0] for c in PACKET_COLUMNS)
PACKET_DTYPES = {c[0]: np.dtype(c[1]) for c in PACKET_COLUMNS}

# Non-first IPv4 fragments carry no transport header; decode attributes them to
# the flow of their first fragment (same src, dst, proto, ip_id) when it was
# seen earlier in the file, filling sport/dport/icmp_type/icmp_code/icmp_id/icmp_seq/
# udp_head from it, the way Argus does.  Fragments whose first fragment was never seen keep sport = dport = 0.
# Non-first IPv6 fragments are not attributed: Argus keys them by the fragment header's
# identification (decode._v6_fragment_key), so sport/dport (ICMPv6 type/code) hold its bytes.


@dataclass
class PacketTable:
    """Equal-length numpy columns, one row per capture record."""

    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = None
        for name in PACKET_COLUMN_NAMES:
            if name not in self.columns:
                raise KeyError(f"packet table is missing column '{name}'")
            col = self.columns[name]
            if col.dtype != PACKET_DTYPES[name]:
                raise TypeError(f"packet column '{name}' has dtype {col.dtype}, expected {PACKET_DTYPES[name]}")
            if n is None:
                n = len(col)
            elif len(col) != n:
                raise ValueError(f"packet column '{name}' has {len(col)} rows, expected {n}")

    def __len__(self) -> int:
        return len(self.columns["index"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["columns"][name]
        except KeyError:
            raise AttributeError(name) from None

    @classmethod
    def empty(cls, n: int = 0) -> "PacketTable":
        return cls({name: np.zeros(n, dtype=dt) for name, dt in PACKET_DTYPES.items()})

    @classmethod
    def concat(cls, tables: list["PacketTable"]) -> "PacketTable":
        if not tables:
            return cls.empty()
        return cls({name: np.concatenate([t.columns[name] for t in tables]) for name in PACKET_COLUMN_NAMES})

    def take(self, idx) -> "PacketTable":
        return PacketTable({k: v[idx] for k, v in self.columns.items()})

    def to_pandas(self):
        import pandas as pd

        return pd.DataFrame(self.columns)


V4_MAPPED_HI = np.uint64(0)
V4_MAPPED_PREFIX = np.uint64(0xFFFF_0000_0000)


# a MAC address in the address columns (flows of non-IP frames, keyed by MAC as Argus keys them):
# hi all ones (no IPv6 address of that form is ever routed), lo the 48-bit MAC
L2_HI = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
# the high half a flow key gives an IPv4-mapped IPv6 address (::ffff:a.b.c.d) seen in an IPv6
# header, so that it stays apart from (and prints unlike) the IPv4 address, as in Argus
IP6_MAPPED_HI = np.uint64(0xFFFF_FFFF_FFFF_FFFE)


def addr_to_str(hi: int, lo: int) -> str:
    """Render a split 128-bit address; IPv4-mapped values print as dotted quads, MACs
    (``hi == L2_HI``) as ``aa:bb:cc:dd:ee:ff``."""
    hi = int(hi)
    lo = int(lo)
    if hi == int(L2_HI) and lo < (1 << 48):
        return ":".join(f"{(lo >> s) & 0xFF:02x}" for s in range(40, -8, -8))
    if hi == 0 and (lo >> 32) == 0xFFFF:
        return str(ipaddress.IPv4Address(lo & 0xFFFFFFFF))
    if hi == int(IP6_MAPPED_HI) and (lo >> 32) == 0xFFFF:
        return "::ffff:" + str(ipaddress.IPv4Address(lo & 0xFFFFFFFF))
    if hi == 0 and lo == 0:
        return "0.0.0.0"
    return str(ipaddress.IPv6Address((hi << 64) | lo))


def addrs_to_str(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Vectorised-enough rendering of address columns (memoised on unique values)."""
    pairs = np.stack([hi.astype(np.uint64), lo.astype(np.uint64)], axis=1)
    uniq, inv = np.unique(pairs, axis=0, return_inverse=True)
    rendered = np.array([addr_to_str(h, l) for h, l in uniq], dtype=object)
    return rendered[inv.reshape(-1)]


def str_to_addr(text: str) -> tuple[int, int]:
    ip = ipaddress.ip_address(text)
    if ip.version == 4:
        return 0, 0xFFFF_0000_0000 | int(ip)
    v = int(ip)
    return v >> 64, v & 0xFFFF_FFFF_FFFF_FFFF


def isin_few(a: np.ndarray, values) -> np.ndarray:
    """``np.isin(a, values)`` for an integer column and a handful of integer values: one comparison
    per value (for a few values np.isin's own setup costs more than all the comparisons)."""
    a = np.asarray(a)
    out = np.zeros(a.shape, dtype=bool)
    for v in values:
        out |= a == v
    return out
