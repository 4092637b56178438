"""Packet table -> bidirectional flow records, the way Argus 3.0.8 + racluster build them.

The model below was measured against ``argus -r X -w Y`` followed by
``racluster -r Y -n -u -c , -s ...`` (Debian argus-server / argus-client
3.0.8), see the Flows section of ``README.md`` and ``tests/test_argus_diff.py``:

* **Argus flows.**  Packets are keyed by the classic 5-tuple, both directions
  in one key.  Some keys hold several Argus flows at once ("sub-flows", kept
  apart by Argus, merged back by racluster): IPv4 ICMP echo by sequence number,
  IPv4 UDP port 53 by DNS transaction id, IPv4 host/net ICMP errors by the rest
  of the quoted address, IGMP by the IP destination.  Each key's rows are
  regrouped into runs of one sub-key; each run is its own Argus flow (own
  records, orientation and timeout).  IPv4 ICMP errors are keyed by what ra
  prints as their dport (quoted port/protocol/address), other ICMP types are
  one-directional keys (sender, receiver, type, code) except ICMPv6 echo and
  ND/MLD answers, which join their request's flow.  ARP is keyed by
  (requester, target): the reply joins its request's flow.  IGMP by the group.
* **ICMP errors** also stretch the current record of the TCP/UDP flow they quote
  (flag ``eU``), when that record is younger than the status interval.
* **Status records.**  A flow's record is closed and a new one opened by the
  first packet at least 5 s after the record's start (``ARGUS_FLOW_STATUS_INTERVAL=5``).
  Such a record opened by the flow's own destination-side packet prints from its
  first source packet, unless Argus's 1 s queue timer fired in between (the timer
  is modelled over every packet of the capture).
* **Irregular clocks** (rare, handled off the common path): a packet stamped in the first
  second of the epoch sets no start (a row of only such packets has no time: racluster prints
  4026531839, or 0 one way), and a destination packet stamped in an earlier second than its
  record's start starts the record (``_irregular_starts``).
* **Timeouts.**  A flow dies when the capture clock passes
  ``record start + 5 s + timeout`` (TCP 60 s, ICMP 5 s, ARP 5 s, others 30 s)
  *before* its next packet arrives (Argus scans its queues as packets arrive,
  after looking the packet up).  The next packet then starts a new flow whose
  direction is decided again.  A bare TCP SYN (flag byte 0x02) after a RST, or after a
  FIN from one side only, also starts a new flow; inside the status interval it ends the
  old record at its own time.
* **Direction** (who is ``saddr``).  UDP, other IP protocols, ARP, ICMP
  non-echo: the sender of the flow's first packet.  ICMP echo: the request's
  sender (a reply seen alone makes an ``ECR`` flow oriented towards its
  requester).  TCP: the SYN's sender; a first SYN/ACK's sender (Argus turns such a
  flow round once an ACK, FIN or data packet follows: not modelled, see README,
  Limits); for a flow that starts mid-connection the sender, unless its source port
  is a service port (< 1024 or named in /etc/services) and the destination port is
  not, or is a higher one (measured); such a reversed flow's status records still start, and
  span their directions, from the first packet's sender's side (Argus's own source).
* **racluster merge.**  All records of one printed key (proto, saddr, sport,
  daddr, dport) become one row: counters add up; ``mean/stddev/sum/min/max``
  are statistics of the merged *records' durations* (population stddev, folded
  record by record in float32 like racluster); ``rate = (pkts-1)/dur``,
  ``srate = (spkts-1)/sdur``, ``drate = (dpkts-1)/ddur`` with each direction's
  span built from its records (``_direction_slots``).
  This module deliberately starts a new row when a key is idle for more than
  ``merge_horizon`` seconds (120 by default, twice the TCP timeout), which racluster would merge: that
  keeps memory bounded by the number of *active* flows while streaming.

Everything is vectorised numpy over a chunk of packets (sort by key then file
order; ``reduceat`` / ``cumsum`` per group); the Python loops are over
status-record boundaries (one iteration per 5 s of the longest flow in the
chunk), over records per row for the float32 statistics, over timer firings
(one per second of capture) and over ICMP errors that quote a flow.  Flow state
crosses chunk boundaries as synthetic "marker" rows (one per open Argus flow of
an active key), so chunked and whole-file processing give identical output.  The
rows' accumulators (``_RowStore``) and the key table are numpy columns sorted by
row / key id, merged in place chunk by chunk; finished keys leave them together.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forensics.ethertypes import ethertype_names
from forensics.packets import IP6_MAPPED_HI, L2_HI, REASON_CODES, PacketTable, addr_to_str, isin_few

_R_TRUNC_T = REASON_CODES["truncated_transport_header"]
US = 1_000_000  # timestamps are handled in integer microseconds, like Argus
STATUS_INTERVAL_US = 5 * US
TIMEOUT_US = {"tcp": 60 * US, "icmp": 5 * US, "arp": 5 * US, "other": 30 * US}
DEFAULT_MERGE_HORIZON_S = 120.0
# what racluster prints as start and end of a two-way row whose packets are all stamped in the
# first second of the epoch (Argus's unset time; measured)
ARGUS_UNSET_TIME_US = 0xEFFFFFFF * US

# key kinds
# K_L2: a non-IP Ethernet frame (802.3 LLC or an Ethernet type Argus does not open), keyed by MAC
K_IP, K_ECHO, K_ICMP, K_ARP, K_L2 = 0, 1, 2, 3, 4
# Ethernet types decoded as something else (IP, ARP, RARP, MPLS, bridged Ethernet): never an L2 flow
_L2_NOT = np.array([0x0800, 0x86DD, 0x0806, 0x8035, 0x8847, 0x8848, 0x6558])

TH_FIN, TH_SYN, TH_RST, TH_PUSH, TH_ACK, TH_URG = 1, 2, 4, 8, 16, 32

# ra's protocol names (measured: argus 3.0.8 on one datagram of every protocol number; 51 prints
# "ip", unlisted numbers "unas")
PROTO_NAMES = {
    0: "ip", 1: "icmp", 2: "igmp", 3: "ggp", 4: "ipnip", 5: "st2", 6: "tcp", 7: "cbt", 8: "egp", 9: "igp",
    10: "bbn-rcc", 11: "nvp", 12: "pup", 13: "argus", 14: "emcon", 15: "xnet", 16: "chaos", 17: "udp",
    18: "mux", 19: "dcn", 20: "hmp", 21: "prm", 22: "xns-idp", 23: "trunk-1", 24: "trunk-2", 25: "leaf-1",
    26: "leaf-2", 27: "rdp", 28: "irtp", 29: "iso-tp4", 30: "netblt", 31: "mfe-nsp", 32: "merit-inp",
    33: "sep", 34: "3pc", 35: "idpr", 36: "xtp", 37: "ddp", 38: "idpr-cmtp", 39: "tp++", 40: "il",
    41: "ipv6", 42: "sdrp", 43: "ipv6-route", 44: "ipv6-frag", 45: "idrp", 46: "rsvp", 47: "gre", 48: "mhrp",
    49: "bna", 50: "esp", 51: "ip", 52: "i-nlsp", 53: "swipe", 54: "narp", 55: "mobile", 56: "tlsp",
    57: "skip", 58: "ipv6-icmp", 59: "ipv6-no", 60: "ipv6-opts", 61: "any", 62: "cftp", 63: "any",
    64: "sat-expak", 65: "kryptolan", 66: "rvd", 67: "ippc", 68: "any", 69: "sat-mon", 70: "visa",
    71: "ipcv", 72: "cpnx", 73: "cphb", 74: "wsn", 75: "pvp", 76: "br-sat-mon", 77: "sun-nd", 78: "wb-mon",
    79: "wb-expak", 80: "iso-ip", 81: "vmtp", 82: "secure-vmtp", 83: "vines", 84: "ttp", 85: "nsfnet-igp",
    86: "dgp", 87: "tcf", 88: "eigrp", 89: "ospf", 90: "sprite-rpc", 91: "larp", 92: "mtp", 93: "ax.25",
    94: "ipip", 95: "micp", 96: "aes-sp3-d", 97: "etherip", 98: "encap", 99: "pri-enc", 100: "gmtp",
    101: "ifmp", 102: "pnni", 103: "pim", 104: "aris", 105: "scps", 106: "qnx", 107: "a/n", 108: "ipcomp",
    109: "snp", 110: "compaq-peer", 111: "ipx-n-ip", 112: "vrrp", 113: "pgm", 114: "zero", 115: "l2tp",
    116: "ddx", 117: "iatp", 118: "stp", 119: "srp", 120: "uti", 121: "smp", 122: "sm", 123: "ptp",
    124: "isis", 125: "fire", 126: "crtp", 127: "crudp", 128: "sccopmce", 129: "iplt", 130: "sps",
    131: "pipe", 132: "sctp", 133: "fc", 134: "rsvp", 253: "ib",
}
_PROTO_NAME_OF = np.array([PROTO_NAMES.get(p, "unas") for p in range(256)], dtype=object)
# Argus state names for ICMP (ra(1)); key: (type) or (type, code) for unreachables
ICMP4_STATES = {0: "ECR", 8: "ECO", 4: "SRC", 5: "RED", 9: "RTA", 10: "RTS", 11: "TXD", 12: "PAR",
                13: "TST", 14: "TSR", 15: "IRQ", 16: "IRR", 17: "MAS", 18: "MSR"}
ICMP4_UNREACH = {0: "URN", 1: "URH", 2: "URO", 3: "URP", 4: "URF", 5: "URS"}
# ICMPv6 (measured with argus 3.0.8): by type, or by (type, code); anything else "UNK"
ICMP6_STATES = {128: "ECO", 129: "ECR", 2: "PTB", 130: "MRQ", 133: "NRS", 135: "NNS", 137: "RED", 143: "MHR"}
ICMP6_CODE_STATES = {
    (1, 0): "URNR", (1, 1): "URAD", (1, 2): "URBS", (1, 3): "URAR", (1, 4): "URP", (1, 5): "URSF", (1, 6): "URRR",
    (1, 7): "URES", (3, 0): "TXT", (3, 1): "TXR", (4, 0): "PPH", (4, 1): "PPNH", (4, 2): "PPO",
}
# ICMPv6 answers Argus folds into their request's flow (bidirectional; printed as the request type)
# (echo too: Argus 3.0.8 keys ICMPv6 echo by addresses only, neither identifier nor sequence)
ICMP6_PAIRED = {129: 128, 131: 130, 132: 130, 134: 133, 136: 135}
_ICMP6_MAP = np.arange(256, dtype=np.int64)
for _a, _b in ICMP6_PAIRED.items():
    _ICMP6_MAP[_a] = _b
# TCP ports Argus treats as the server side of a connection seen mid-stream
# (measured: a port below 1024, or a TCP port named in /etc/services -- Argus looks
# the port up there; this is Debian netbase's list of TCP ports >= 1024, embedded so
# the result does not depend on the machine)
_EXTRA_SERVICE_PORTS = np.array([
    1080, 1093, 1094, 1099, 1127, 1178, 1194, 1236, 1313, 1314, 1352, 1433, 1524, 1645, 1646, 1649,
    1677, 1812, 1813, 2000, 2049, 2086, 2101, 2119, 2121, 2135, 2401, 2430, 2431, 2432, 2433, 2583,
    2600, 2601, 2602, 2603, 2604, 2605, 2606, 2607, 2608, 2628, 2792, 2811, 2947, 3050, 3205, 3260,
    3306, 3389, 3493, 3632, 3689, 3690, 4031, 4094, 4190, 4353, 4369, 4373, 4460, 4557, 4559, 4691,
    4899, 4949, 5060, 5061, 5222, 5269, 5308, 5432, 5556, 5666, 5667, 5671, 5672, 5680, 6000, 6001,
    6002, 6003, 6004, 6005, 6006, 6007, 6346, 6347, 6379, 6444, 6445, 6446, 6514, 6566, 6667, 6697,
    7000, 7100, 8021, 8080, 8081, 8088, 8140, 8990, 9098, 9101, 9102, 9103, 9418, 9667, 9673, 10000,
    10050, 10051, 10080, 10081, 10082, 10083, 10809, 11112, 11371, 17004, 17500, 22125, 22128,
    22273, 24554, 27374, 30865, 57000, 60177, 60179,
], dtype=np.int64)


_SERVICE_PORT = np.zeros(65536, dtype=bool)  # is_service_port by port number
_SERVICE_PORT[:1024] = True
_SERVICE_PORT[_EXTRA_SERVICE_PORTS] = True


def is_service_port(port: np.ndarray) -> np.ndarray:
    """TCP ports Argus takes for a server's: below 1024 or in ``_EXTRA_SERVICE_PORTS`` (numeric array)."""
    port = np.asarray(port)
    if port.dtype.kind in "iu" and len(port) and 0 <= int(port.min()) and int(port.max()) <= 65535:
        # (integer port numbers: by lookup)
        return _SERVICE_PORT[port]
    return (port < 1024) | np.isin(port, _EXTRA_SERVICE_PORTS)

# Per-row output columns produced here (features.py adds the rest of BoT-IoT)
FLOW_COLUMNS = (
    "stime", "ltime", "flgs", "proto", "saddr", "sport", "daddr", "dport", "pkts", "bytes", "state",
    "seq", "dur", "mean", "stddev", "sum", "min", "max", "spkts", "dpkts", "sbytes", "dbytes",
    "rate", "srate", "drate", "smac", "dmac", "proto_num",
)

_MIX = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (uint64 arithmetic wraps)."""
    with np.errstate(over="ignore"):
        x = x + _MIX
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return x ^ (x >> np.uint64(31))


def _stable_argsort(a: np.ndarray) -> np.ndarray:
    """``np.argsort(a, kind="stable")`` for an integer array, by numpy's faster default sort:
    equal values are put back in index order by a second sort of (rank of the value, index)
    packed in one int64 (about half the time of the stable sort on a chunk's keys)."""
    if a.dtype.kind not in "iub" or len(a) >= 1 << 31:
        return np.argsort(a, kind="stable")
    o = np.argsort(a)
    s = a[o]
    tie = s[1:] == s[:-1]
    if not tie.any():
        return o
    rank = np.zeros(len(a), dtype=np.int64)
    np.cumsum(~tie, out=rank[1:])
    packed = (rank << np.int64(32)) | o
    packed.sort()
    return packed & np.int64(0xFFFFFFFF)


def _lexsort(keys) -> np.ndarray:
    """``np.lexsort(keys)`` (the last key is the primary one) by successive stable sorts."""
    o = None
    for k in keys:
        o = _stable_argsort(k) if o is None else o[_stable_argsort(k[o])]
    return o


def _addr_codes(hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Address columns as (codes, rendered uniques): ``uniques[codes]`` is the rendering."""
    hi = np.asarray(hi, dtype=np.uint64)
    lo = np.asarray(lo, dtype=np.uint64)
    codes = np.empty(len(lo), dtype=np.int64)
    v4 = (hi == 0) & ((lo >> np.uint64(32)) == np.uint64(0xFFFF))
    r: list = []
    if v4.any():
        inv, u = pd.factorize(lo[v4] & np.uint64(0xFFFFFFFF))
        r = [f"{x >> 24}.{(x >> 16) & 255}.{(x >> 8) & 255}.{x & 255}" for x in u.tolist()]
        codes[v4] = inv
    if (~v4).any():
        idx = np.flatnonzero(~v4)
        codes[idx] = len(r) + np.arange(len(idx))
        r = r + [addr_to_str(h, l) for h, l in zip(hi[idx].tolist(), lo[idx].tolist())]
    return codes, np.array(r, dtype=object)


def addrs_to_str(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Render address columns; unique values rendered once (1-D uniques, fast)."""
    codes, uniq = _addr_codes(hi, lo)
    out = np.empty(len(codes), dtype=object)
    if len(codes):
        out[:] = uniq[codes]
    return out


@functools.cache
def _port_table() -> list[str]:
    """Decimal port strings indexed by port number, then "" (rendering by lookup instead of int -> str per row)."""
    return [str(i) for i in range(65536)] + [""]


@functools.cache
def _proto_table() -> list[str]:
    """Protocol names by number, "arp" (256), then ra's Ethernet type names (257 + type; 257 + 65536: "llc")."""
    return list(_PROTO_NAME_OF) + ["arp"] + ethertype_names()


_FLGS_TABLE = ["", "U", "e", "eU"]  # flgs by 2 * (Ethernet) + (ICMP unreachable mapped)
# every state name _render prints, and each one's code into the table
_STATE_TABLE = sorted({"", "CON", "INT", "RSP", "RST", "FIN", "CLO", "ACC", "REQ", "UNK", "URN"}
                      | set(ICMP4_STATES.values()) | set(ICMP4_UNREACH.values()) | set(ICMP6_STATES.values())
                      | set(ICMP6_CODE_STATES.values()))
_STATE_CODE = {name: i for i, name in enumerate(_STATE_TABLE)}


_STR_DTYPE = pd.Series([""]).dtype  # what the DataFrame constructor infers for a column of str


_ARROW_TABLES: dict = {}  # pyarrow arrays of the fixed rendering tables (_port_table()), built once


def _coded_str_column(uniques, codes: np.ndarray, extra: list | None = None):
    """The str column ``table[codes]`` where table is ``uniques`` (plus ``extra``), built by one
    take from the rendered uniques, as the column the DataFrame constructor would infer (pandas'
    inference would check and copy every element before handing them to pyarrow)."""
    if getattr(_STR_DTYPE, "storage", None) != "pyarrow":
        table = np.array(list(uniques) + list(extra or []), dtype=object)
        return table[codes] if len(codes) else np.empty(0, dtype=object)
    import pyarrow as pa

    if extra is not None:  # a fixed table: its arrow array is cached
        base = _ARROW_TABLES.get(id(uniques))
        if base is None:
            base = _ARROW_TABLES[id(uniques)] = pa.array(uniques, type=pa.large_string())
        table = pa.concat_arrays([base, pa.array(extra, type=pa.large_string())]) if extra else base
    else:
        table = pa.array(np.asarray(uniques, dtype=object), type=pa.large_string())
    taken = table.take(pa.array(np.asarray(codes, dtype=np.int64)))
    return pd.array(taken, dtype=_STR_DTYPE)


def _bswap16(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.int64)
    return ((v & 0xFF) << 8) | ((v >> 8) & 0xFF)


# ----------------------------------------------------------------------------- work table
# The per-chunk work table: one row per flow packet (or carried marker)
_KEY_COLS = ("kind", "proto", "lo_hi", "lo_lo", "lo_port", "hi_hi", "hi_lo", "hi_port", "extra", "x2")
_WORK_COLS = _KEY_COLS + (
    "h", "gidx", "ts", "ts_last", "bytes", "d", "sp", "dp", "flags", "itype", "icode", "eth",
    "prevg", "frag", "m", "sub",
)
# marker-only state (0 on packet rows) and its dtype in the work table: kept apart while the
# table is concatenated and sorted, put in place after the sort (_put_marker_state)
_MARKER_STATE = {"m_orient": np.int8, "m_epoch": np.int32, "m_tag": np.int8, "m_rstfin": np.int8, "m_kid": np.int64,
                 "m_pstart": np.int64, "m_cont": np.int8, "m_sub": np.int32, "m_ns": np.int64, "m_nd": np.int64,
                 "m_smap": np.int64, "m_sa": np.int8}


def _work_from_packets(t: PacketTable, prev_global_ts: int | None) -> dict[str, np.ndarray]:
    c = t.columns
    status = c["status"]
    is_arp = (status == 0) & (c["ethertype"] == 0x0806) & (c["arp_op"] > 0)
    # a record whose transport header is cut short is still a flow packet for Argus: decode keeps
    # the fields Argus reads (decode._short_transport)
    # (but not a cut ICMPv6 header: Argus makes no flow of it, measured)
    trunc_t = (status == _R_TRUNC_T) & (c["ip_version"] > 0) & ~((c["ip_version"] == 6) & (c["proto"] == 58))
    is_ip = ((status == 0) & (c["ip_version"] > 0)) | trunc_t
    # non-IP Ethernet frames: Argus keys them by (Ethernet type, MAC pair), an 802.3 frame by MAC pair
    # alone (measured, argus 3.0.8)
    is_l2 = ((status == 0) & (c["ip_version"] == 0) & (c["linktype"] == 1) & ~is_arp
             & ~isin_few(c["ethertype"], _L2_NOT))
    sel = np.flatnonzero(is_ip | is_arp | is_l2)
    ts_all = (c["ts_ns"] // 1000).astype(np.int64)  # Argus works in microseconds
    # previous packet's time in the file (whatever it was): drives Argus's timeout scans
    prevg_all = np.empty(len(ts_all), dtype=np.int64)
    if len(ts_all):
        prevg_all[0] = prev_global_ts if prev_global_ts is not None else ts_all[0]
        prevg_all[1:] = ts_all[:-1]
    proto = c["proto"][sel].astype(np.int64)
    arp = is_arp[sel]
    proto = np.where(arp, 0, proto)
    itype = np.where(is_arp[sel], c["arp_op"][sel].astype(np.int64), c["icmp_type"][sel].astype(np.int64))
    icode = c["icmp_code"][sel].astype(np.int64)
    v6 = c["ip_version"][sel] == 6
    is_icmp = ((proto == 1) & ~v6) | ((proto == 58) & v6)
    echo = is_icmp & ~v6 & ((itype == 8) | (itype == 0))
    ports = (proto == 6) | (proto == 17)
    # (non-first fragments carry their first fragment's id/sequence/UDP head: decode)
    icmp_id = c["icmp_id"][sel].astype(np.int64)
    # sub-flows: Argus keys IPv4 echo by sequence number and IPv4 UDP port 53 by DNS
    # transaction id as well (measured); racluster merges them back into the key's rows
    udp_head = c["udp_head"][sel].astype(np.int64)
    # (IPv4 only: Argus keys IPv6 port-53 datagrams by the 5-tuple alone, measured)
    dns = (proto == 17) & ~v6 & ((c["sport"][sel] == 53) | (c["dport"][sel] == 53)) & (udp_head >= 0)
    sub = np.where(echo, c["icmp_seq"][sel].astype(np.int64) + 1, np.where(dns, udp_head + 1, 0))
    # IPv4 ESP: Argus keys it by the SPI, one direction per flow; racluster merges the SPIs that
    # print alike (0x2020 and the SPI's low half: measured), so the low half is the key here
    esp4 = (proto == 50) & ~v6
    sport = np.where(ports, c["sport"][sel].astype(np.int64), np.where(echo, icmp_id, 0))
    dport = np.where(ports, c["dport"][sel].astype(np.int64), np.where(echo, icmp_id, np.where(
        esp4, c["dport"][sel].astype(np.int64), 0)))
    kind = np.where(arp, K_ARP, np.where(echo, K_ECHO, np.where(is_icmp, K_ICMP, K_IP)))
    s_hi, s_lo = c["src_hi"][sel], c["src_lo"][sel]
    d_hi, d_lo = c["dst_hi"][sel], c["dst_lo"][sel]
    l2 = is_l2[sel]
    if l2.any():
        kind = np.where(l2, K_L2, kind)
        s_hi, d_hi = np.where(l2, L2_HI, s_hi), np.where(l2, L2_HI, d_hi)
        s_lo = np.where(l2, c["src_mac"][sel].astype(np.uint64), s_lo)
        d_lo = np.where(l2, c["dst_mac"][sel].astype(np.uint64), d_lo)
    # IGMP: Argus keys (and prints) the message's group field as the destination (measured:
    # a v2 leave sent to 224.0.0.2 joins the group's report row; a v3 report prints 0.0.0.<records>;
    # a membership query (type 0x11) keeps its IP destination)
    igmp = (proto == 2) & ~v6 & (c["sport"][sel] != 0x11)  # (a membership query keeps its address)
    if igmp.any():
        # (the IP destination keeps a report and a leave apart: two Argus flows, one row)
        sub = np.where(igmp, (d_lo & np.uint64(0xFFFFFFFF)).astype(np.int64) + 1, sub)
        d_lo = np.where(igmp, np.uint64(0xFFFF_0000_0000) | c["igmp_group"][sel].astype(np.uint64), d_lo)
    if v6.any():
        # an IPv4-mapped address in an IPv6 header (::ffff:a.b.c.d): Argus keys and prints it as the
        # IPv6 address it is, apart from the IPv4 one (measured, flowgen.sc_v4mapped)
        v4m = np.uint64(0xFFFF)
        s_hi = np.where(v6 & (s_hi == 0) & ((s_lo >> np.uint64(32)) == v4m), IP6_MAPPED_HI, s_hi)
        d_hi = np.where(v6 & (d_hi == 0) & ((d_lo >> np.uint64(32)) == v4m), IP6_MAPPED_HI, d_hi)
    a_gt = (s_hi > d_hi) | ((s_hi == d_hi) & ((s_lo > d_lo) | ((s_lo == d_lo) & (sport > dport))))
    # Argus does not pair the two directions of an IPv6 flow between one address and itself
    # (::1 <-> ::1): each direction is its own flow (measured)
    self_v6 = v6 & (s_hi == d_hi) & (s_lo == d_lo)
    # ICMPv6 MLD/ND answers join their request's flow, oriented by the flow's first packet (measured)
    pair6 = (kind == K_ICMP) & v6 & isin_few(itype, ICMP6_PAIRED)
    itype = np.where(pair6, _ICMP6_MAP[np.clip(itype, 0, 255)], itype)
    pair6 |= (kind == K_ICMP) & v6 & isin_few(itype, set(ICMP6_PAIRED.values()))
    swap = a_gt & (((kind != K_ICMP) & (kind != K_ARP)) | pair6) & ~self_v6 & ~esp4
    # ARP: keyed by (requester, target); a reply joins its request's key (measured: the
    # second exchange of a pair, asked the other way round, is its own row)
    swap |= (kind == K_ARP) & (itype == 2)
    extra0 = np.where(self_v6 & (kind == K_IP), 1, 0)
    extra = np.where(kind == K_ICMP, (itype << 8) | icode, extra0)
    if l2.any():
        # key: the Ethernet type (0 for 802.3, whose service access points are not part of the key);
        # printed "ports": an 802.3 frame's SAPs, the lower MAC's first (the row's first frame's)
        et = c["ethertype"][sel].astype(np.int64)
        # (a VLAN-tagged one is keyed by the tag's type, 0x8100, "well": Argus does not look inside)
        et = np.where(c["vlan"][sel] > 0, 0x8100, et)
        extra = np.where(l2, np.where(et >= 0x0600, et, 0), extra)
        ssap, dsap = c["sport"][sel].astype(np.int64), c["dport"][sel].astype(np.int64)
        itype = np.where(l2, np.where(swap, dsap, ssap), itype)
        icode = np.where(l2, np.where(swap, ssap, dsap), icode)
        # (Argus keys 802.3 frames by their SAPs too; racluster merges those flows into one row)
        sub = np.where(l2 & (et < 0x0600), ((itype << 8) | icode) + 1, sub)
    x2 = np.where(kind == K_ICMP, _icmp_error_id(itype, icode, c["q_proto"][sel].astype(np.int64),
                                                c["q_dst"][sel].astype(np.int64), c["q_dport"][sel].astype(np.int64)), 0)
    addr_err = (kind == K_ICMP) & ~v6 & (c["q_proto"][sel] >= 0) & (((itype == 3) | (itype == 5)) & (icode <= 1))
    sub = np.where(addr_err, (c["q_dst"][sel].astype(np.int64) & 0xFFFF) + 1, sub)
    w = {
        "kind": kind,
        "proto": proto,
        "lo_hi": np.where(swap, d_hi, s_hi),
        "lo_lo": np.where(swap, d_lo, s_lo),
        "lo_port": np.where(swap, dport, sport),
        "hi_hi": np.where(swap, s_hi, d_hi),
        "hi_lo": np.where(swap, s_lo, d_lo),
        "hi_port": np.where(swap, sport, dport),
        "extra": extra,
        "x2": x2,
        "sub": sub,
        "gidx": c["index"][sel].astype(np.int64),
        "ts": ts_all[sel],
        # Argus counts Ethernet frames whole but leaves out other link headers (decode's link_skip, measured:
        # NULL/loopback 4 bytes, Linux SLL 16)
        "bytes": c["wirelen"][sel].astype(np.int64) - c["link_skip"][sel].astype(np.int64),
        "d": swap.astype(np.int8),  # 0: sent by the 'lo' endpoint
        "sp": c["sport"][sel].astype(np.int64),
        "dp": c["dport"][sel].astype(np.int64),
        "flags": c["tcp_flags"][sel].astype(np.int64),
        "itype": itype,
        "icode": icode,
        "eth": (c["linktype"][sel] == 1).astype(np.int8),
        "prevg": prevg_all[sel],
        # 1: a non-first IPv4 fragment; 2: a non-first IPv6 fragment, which Argus keys by its
        # identification (decode._v6_fragment_key) and does not treat as TCP (measured: INT one-way,
        # CON both ways, whatever the protocol)
        # (2 also for a TCP header cut before its flags: no flags, so no TCP states either)
        "frag": np.where(c["frag_off"][sel] > 0, np.where(v6, 2, 1),
                         np.where(trunc_t[sel] & (proto == 6) & (c["tcp_flags"][sel] == 0), 2, 0)).astype(np.int64),
    }
    n = len(sel)
    w["ts_last"] = w["ts"]
    w["m"] = np.zeros(n, dtype=np.int64)
    w["h"] = _hash_keys(w)
    # compact dtypes where the values fit (the table is concatenated with the carried markers
    # and permuted as a whole; arithmetic on these columns widens to int64 where it matters)
    for k, t in _PKT_DTYPES.items():
        w[k] = w[k].astype(t)
    return w


def _icmp_error_id(itype, icode, q_proto, q_dst, q_dport):
    """Argus's ICMP flow id for IPv4 errors as ra prints it (dport): part of the flow key.

    Measured: port unreachable -> the quoted destination port, protocol unreachable -> the
    quoted protocol (both byte-swapped: ra prints the id's bytes in memory order); net/host
    unreachable and net/host redirect -> the quoted destination address's first two bytes;
    every other error -> 0.  Needs the quoted IP header (``q_proto >= 0``).  (Argus keys
    net/host errors by the whole quoted address; errors for two addresses sharing the first
    two bytes are one flow here, two merged records there.)
    """
    q = q_proto >= 0
    return np.where(q & (itype == 3) & (icode == 3), _bswap16(q_dport), np.where(
        q & (itype == 3) & (icode == 2), _bswap16(q_proto), np.where(
            q & (((itype == 3) & ((icode == 0) | (icode == 1))) | ((itype == 5) & ((icode == 0) | (icode == 1)))),
            (q_dst >> 16) & 0xFFFF, 0)))


def _icmp_mapped(t: PacketTable) -> dict[str, np.ndarray] | None:
    """IPv4 ICMP errors quoting a TCP/UDP datagram: (hash of the quoted flow's key, time, file index).

    Argus looks the quoted header's flow up and, when it finds it, stretches that flow's
    current record to the error's time (flag ``U``) without counting a packet.
    """
    c = t.columns
    # a quoted DNS datagram is found by its transaction id too: the quote must hold it
    # (ICMP body: 8-byte header, quoted IP header, 8-byte UDP header, 2 bytes of id)
    dns_short = (c["q_proto"] == 17) & ((c["q_sport"] == 53) | (c["q_dport"] == 53)) & (c["payload_len"] < 30)
    sel = np.flatnonzero((c["status"] == 0) & (c["ip_version"] == 4) & (c["proto"] == 1)
                         & isin_few(c["q_proto"], (6, 17)) & (c["frag_off"] == 0) & ~dns_short)
    if not len(sel):
        return None
    prefix = np.uint64(0xFFFF_0000_0000)
    s_lo = c["q_src"][sel].astype(np.uint64) | prefix
    d_lo = c["q_dst"][sel].astype(np.uint64) | prefix
    sport = c["q_sport"][sel].astype(np.int64)
    dport = c["q_dport"][sel].astype(np.int64)
    zero = np.zeros(len(sel), dtype=np.uint64)
    swap = (s_lo > d_lo) | ((s_lo == d_lo) & (sport > dport))
    k = {
        "kind": np.full(len(sel), K_IP, dtype=np.int64),
        "proto": c["q_proto"][sel].astype(np.int64),
        "lo_hi": zero, "lo_lo": np.where(swap, d_lo, s_lo), "lo_port": np.where(swap, dport, sport),
        "hi_hi": zero, "hi_lo": np.where(swap, s_lo, d_lo), "hi_port": np.where(swap, sport, dport),
        "extra": np.zeros(len(sel), dtype=np.int64), "x2": np.zeros(len(sel), dtype=np.int64),
    }
    return {"h": _hash_keys(k), "ts": (c["ts_ns"][sel] // 1000).astype(np.int64),
            "gidx": c["index"][sel].astype(np.int64)}


def _hash_keys(w) -> np.ndarray:
    u = lambda a: np.asarray(a).astype(np.uint64)  # noqa: E731
    packed = u(w["lo_port"]) | (u(w["hi_port"]) << np.uint64(16)) | (u(w["proto"]) << np.uint64(32)) | (
        u(w["kind"]) << np.uint64(40)) | (u(w["extra"]) << np.uint64(48))
    h = _mix(u(w["lo_hi"]))
    h = _mix(h ^ u(w["lo_lo"]))
    h = _mix(h ^ packed)
    h = _mix(h ^ u(w["hi_hi"]))
    h = _mix(h ^ u(w["hi_lo"]))
    h = _mix(h ^ u(w["x2"]))
    return h


# compact dtypes for the carried marker rows (one per active key); concatenation with a
# chunk's int64 columns upcasts them back
_CARRY_DTYPES = {
    "kind": np.int8, "proto": np.int16, "lo_port": np.int32, "hi_port": np.int32, "extra": np.int32,
    "bytes": np.int8, "d": np.int8, "sp": np.int32, "dp": np.int32, "flags": np.int16,
    "itype": np.int16, "icode": np.int16, "eth": np.int8, "prevg": np.int8, "frag": np.int8, "m": np.int8,
    "m_orient": np.int8, "m_epoch": np.int32, "m_tag": np.int8, "m_rstfin": np.int8, "m_cont": np.int8,
    "sub": np.int32, "m_sub": np.int32, "m_ns": np.int32, "m_nd": np.int32, "m_sa": np.int8,
}
# what a carried marker stores; its key columns are the key table's, and the columns no rule
# reads for a marker (packet counters, ports, flags, ICMP type...) are constant: rebuilt
# when the marker rejoins a chunk (_marker_col)
# ("m_dlast": the open record's last packet time less its start, "ts")
_MARKER_COLS = ("h", "gidx", "ts", "m_dlast", "m_orient", "m_epoch", "m_tag", "m_rstfin", "m_kid", "m_pstart",
                "m_cont", "m_sub", "m_ns", "m_nd", "m_smap", "m_sa")


def _marker_col(k: str, carry: dict, ti, keys: dict, kp) -> np.ndarray:
    """Column ``k`` of the work table for the carried markers ``ti`` (``kp``: their keys' rows)."""
    if k in carry:
        return carry[k][ti]
    if k in _KEY_COLS:
        return _key_col(keys, k, kp)
    return np.full(len(ti), 1 if k == "m" else 0, dtype=_CARRY_DTYPES.get(k, np.int64))


_PKT_DTYPES = {
    "kind": np.int8, "proto": np.int16, "lo_port": np.int32, "hi_port": np.int32, "extra": np.int32, "x2": np.int32,
    "sp": np.int32, "dp": np.int32, "flags": np.int16, "itype": np.int16, "icode": np.int16, "frag": np.int8,
    "m": np.int8,
}


def _put_marker_state(w: dict, state: dict | None) -> None:
    """Add the marker-only columns (_MARKER_STATE) to a sorted work table: on each marker row its
    carried values (``state``: columns in marker order, the rows' "mi" numbers them), 0 elsewhere."""
    n = len(w["ts"])
    mrows = np.flatnonzero(w["m"] == 1) if state is not None else None
    mi = w.pop("mi", None)
    for k, t in _MARKER_STATE.items():
        if state is None:
            w[k] = np.zeros(n, dtype=t)
            continue
        col = np.zeros(n, dtype=np.result_type(t, state[k].dtype))
        col[mrows] = state[k][mi[mrows]]
        w[k] = col
    if state is not None and "m_ostart" in state:  # (only for irregular clocks: _process)
        col = np.zeros(n, dtype=np.int64)
        col[mrows] = state["m_ostart"][mi[mrows]]
        w["m_ostart"] = col


def _permute(w: dict, idx) -> None:
    """Reorder a work table in place, one column at a time (columns aliased, like a packet
    table's "ts" and "ts_last", stay aliased)."""
    done = {}
    for k, v in w.items():
        w[k] = done[id(v)] if id(v) in done else v[idx]
        done.setdefault(id(v), w[k])


# ----------------------------------------------------------------------------- row state
# Accumulators of the active rows: one numpy column per field, rows sorted by row id (rid),
# merged chunk by chunk in place (matched rows) or by insertion (new rows), one column at a
# time, so a chunk's merge never copies the whole state at once.
# (kid, orient and tag are not stored: they are parts of the row id)
_I64, _I32, _I16, _I8, _F64, _F32 = np.int64, np.int32, np.int16, np.int8, np.float64, np.float32
_ACC_DTYPES = {
    "stime": _I64, "ltime": _I64, "pkts": _I64, "bytes": _I64, "spkts": _I64, "sbytes": _I64, "flags": _I16,
    "nonsyn": _I8, "epoch": _I32, "seq": _I64, "gidx": _I64,
    "itype": _I16, "icode": _I16, "eth": _I8, "first_flags": _I16, "umap": _I8,
    # a SYN/ACK-first flow's row: 1, 3 when the flow was reversed at a trigger (its state)
    "safl": _I8,
    # MACs of the row's first packet, oriented to the row (48-bit values; -1: no Ethernet header)
    "smac": _I64, "dmac": _I64,
    # closed records' duration statistics and direction spans (NaN: none yet)
    "nrec": _F64, "dsum": _F64, "dmin": _F64, "dmax": _F64, "dsq": _F64,
    "s_first": _F64, "s_last": _F64, "d_first": _F64, "d_last": _F64,
    # racluster's float32 fold state (0: empty; mean, stddev and sum are float32 values)
    "sn": _F64, "smean": _F32, "ssd": _F32, "ssum": _F32,
}
_REC_COLS = ("nrec", "dsum", "dmin", "dmax", "dsq", "s_first", "s_last", "d_first", "d_last")
_FOLD_COLS = ("sn", "smean", "ssd", "ssum")
# columns of the rows that closed a record (_RowStore keeps them apart, for those rows only: most
# active rows of a flood are one-packet flows whose only record is still open)
_RSTAT_COLS = _REC_COLS + _FOLD_COLS
_PKT_COLS = ("stime", "ltime", "pkts", "bytes", "spkts", "sbytes", "flags", "nonsyn", "epoch", "seq", "gidx",
             "itype", "icode", "eth", "first_flags", "umap", "safl", "smac", "dmac")
_FILL = {"smac": -1, "dmac": -1}  # empty value of a column when a row is inserted without it (else 0 / NaN)
# counters bounded by the capture's packet count (pkts, spkts, and gidx, a file index) or its wire
# bytes (bytes, sbytes): int32 while those stay below 2**31 (_RowStore.widen when they do not)
_BOUNDED_COLS = ("pkts", "spkts", "gidx", "bytes", "sbytes")
_BOUND = 2**31 - 1


def _nan0(v):
    return np.where(np.isnan(v), 0.0, v)


def _empty(c: str):
    """A row store column's empty value: NaN for a record statistic (_REC_COLS), _FILL or 0 otherwise."""
    return np.nan if c in _REC_COLS else _FILL.get(c, 0)


def _lookup(sorted_ids: np.ndarray, rids):
    """Positions of ``rids`` in ``sorted_ids`` (insertion points where absent) and whether each is there."""
    pos = np.searchsorted(sorted_ids, rids)
    hit = pos < len(sorted_ids)
    hit[hit] = sorted_ids[pos[hit]] == rids[hit]
    return pos, hit


def _insert_rows(rid, cols: dict, rids, pos, new: dict):
    """``rid`` and ``cols`` with rows ``rids`` inserted (sorted, absent; ``pos`` their insertion
    points): the new ``rid`` (``cols`` is updated in place, one column at a time); columns missing
    from ``new`` get their empty value (NaN for _REC_COLS, _FILL or 0 otherwise)."""
    # what np.insert(column, pos, values) does for each column, with the slots computed once:
    # ``pos`` is non-decreasing (insertion points of sorted ids), so new row i lands at pos[i] + i
    m, total = len(rids), len(rid) + len(rids)
    pos = np.asarray(pos, dtype=np.intp)
    if m > 1 and (pos[1:] < pos[:-1]).any():
        raise AssertionError("_RowStore._insert: rows must come sorted by id")
    slots = pos + np.arange(m, dtype=np.intp)
    old = np.ones(total, dtype=bool)
    old[slots] = False

    def put(col, values, dtype):
        out = np.empty(total, dtype=dtype)
        out[slots] = values
        out[old] = col
        return out

    rid = put(rid, rids, rid.dtype)
    for c in cols:
        t = _ACC_DTYPES[c]
        v = new.get(c)
        if v is None:
            v = np.full(len(rids), _empty(c), dtype=t)
        cols[c] = put(cols[c], np.asarray(v).astype(t, copy=False), cols[c].dtype)
    return rid


class _RowStore:
    """Per-row accumulators of the active rows, as numpy columns sorted by row id.

    The closed records' statistics (``_RSTAT_COLS``) are kept only for the rows that closed a
    record (``srid``, ``scols``, sorted by row id, a subset of ``rid``); a row without has
    NaN in ``_REC_COLS`` and 0 in ``_FOLD_COLS`` (``take`` fills them in)."""

    def __init__(self, wide: bool = False):
        self.rid = np.zeros(0, dtype=np.int64)
        self.cols = {c: np.zeros(0, dtype=t) for c, t in _ACC_DTYPES.items() if c not in _RSTAT_COLS}
        self.srid = np.zeros(0, dtype=np.int64)
        self.scols = {c: np.zeros(0, dtype=_ACC_DTYPES[c]) for c in _RSTAT_COLS}
        self.wide = wide
        if not wide:  # (the owner widens the store before a value could leave int32: FlowBuilder.add)
            for c in _BOUNDED_COLS:
                self.cols[c] = self.cols[c].astype(np.int32)

    def widen(self):
        """The bounded counters (_BOUNDED_COLS) as int64 from now on."""
        if not self.wide:
            self.wide = True
            for c in _BOUNDED_COLS:
                self.cols[c] = self.cols[c].astype(np.int64)

    def __len__(self):
        return len(self.rid)

    def find(self, rids):
        """Positions of ``rids`` in the store and whether each is there."""
        return _lookup(self.rid, rids)

    def _insert(self, rids, pos, new: dict):
        """Insert rows (``rids`` sorted, absent; ``pos`` their insertion points); columns
        missing from ``new`` get their empty value (NaN for floats, 0 otherwise)."""
        if not len(rids):
            return
        self.rid = _insert_rows(self.rid, self.cols, rids, pos, new)

    def _insert_stats(self, rids, pos):
        """Insert empty statistics rows (``rids`` sorted, absent from ``srid``)."""
        if len(rids):
            self.srid = _insert_rows(self.srid, self.scols, rids, pos, {})

    def _stat_pos(self, rids):
        """Positions of ``rids`` (sorted unique, rows of the store) in the statistics columns,
        inserting the rows absent so far."""
        pos, hit = _lookup(self.srid, rids)
        if not hit.all():
            self._insert_stats(rids[~hit], pos[~hit])
            pos = np.searchsorted(self.srid, rids)
        return pos

    def stats_of(self, rids, cols) -> dict:
        """Statistics columns ``cols`` of the rows ``rids`` (NaN / 0 where the row closed no record)."""
        out = {c: np.full(len(rids), _empty(c), dtype=_ACC_DTYPES[c]) for c in cols}
        if len(self.srid) and len(rids):
            pos, hit = _lookup(self.srid, rids)
            at = pos[hit]
            for c in cols:
                out[c][hit] = self.scols[c][at]
        return out

    def _stats_at(self, idx) -> dict:
        """:meth:`stats_of` all statistics columns for the rows at positions ``idx`` (a statistics
        row's position among the rows is found by one sorted search of all of them, instead of a
        search per row taken)."""
        srow = np.full(len(self.rid), -1, dtype=np.int64)
        srow[np.searchsorted(self.rid, self.srid)] = np.arange(len(self.srid))  # (statistics rows are rows)
        at = srow[idx]  # (-1: the row closed no record; it takes the empty value appended last)
        return {c: np.append(v, np.array(_empty(c), dtype=v.dtype))[at]
                for c, v in self.scols.items()}

    def _ensure(self, rids):
        """Positions of ``rids`` (sorted unique), inserting rows absent so far (identity
        columns derived from the row id)."""
        pos, hit = self.find(rids)
        if not hit.all():
            miss = rids[~hit]
            self._insert(miss, pos[~hit], {"epoch": (miss >> np.int64(2)) & ((1 << 22) - 1)})
            pos, hit = self.find(rids)
        return pos

    def merge_packets(self, rids, agg: dict):
        """Fold one chunk's per-row packet aggregates (``rids`` sorted unique) into the store."""
        if not len(rids):
            return
        pos, hit = self.find(rids)
        if hit.any():
            p = pos[hit]
            C = self.cols
            if "smac" in agg:  # a row keeps its first packet's MACs (a row made by an ICMP error alone has none yet)
                empty = C["pkts"][p] == 0
                for c in ("smac", "dmac"):
                    C[c][p] = np.where(empty, agg[c][hit], C[c][p])
            for c, f in (("stime", np.minimum), ("ltime", np.maximum), ("nonsyn", np.maximum), ("seq", np.minimum),
                         ("gidx", np.minimum), ("eth", np.minimum), ("umap", np.maximum), ("safl", np.maximum)):
                if c in agg:  # (safl: absent from aggregates made without it)
                    C[c][p] = f(C[c][p], agg[c][hit].astype(C[c].dtype, copy=False))
            for c in ("pkts", "bytes", "spkts", "sbytes"):
                C[c][p] += agg[c][hit]
            C["flags"][p] |= agg["flags"][hit].astype(C["flags"].dtype)
        if not hit.all():
            m = ~hit
            self._insert(rids[m], pos[m], {c: agg[c][m] for c in _PKT_COLS if c in agg})

    def start_at(self, rids, stime):
        """Rows whose start is no later than ``stime`` (``rids`` sorted unique)."""
        if not len(rids):
            return
        p = self._ensure(rids)
        self.cols["stime"][p] = np.minimum(self.cols["stime"][p], stime)

    def bump(self, rids, ltime):
        """ICMP errors stretching rows' records (``rids`` sorted unique)."""
        if not len(rids):
            return
        p = self._ensure(rids)
        self.cols["ltime"][p] = np.maximum(self.cols["ltime"][p], ltime)
        self.cols["umap"][p] = 1

    def merge_records(self, rids, st: dict):
        """Fold closed records' statistics (``rids`` sorted unique); the fold state in ``st``
        already includes the rows' previous state."""
        if not len(rids):
            return
        self._ensure(rids)
        p = self._stat_pos(rids)
        C = self.scols
        for c in ("nrec", "dsum", "dsq"):
            C[c][p] = _nan0(C[c][p]) + _nan0(st[c])
        for c, f in (("dmin", np.fmin), ("dmax", np.fmax), ("s_first", np.fmin), ("s_last", np.fmax),
                     ("d_first", np.fmin), ("d_last", np.fmax)):
            C[c][p] = f(C[c][p], st[c])
        for c in _FOLD_COLS:
            C[c][p] = st[c]

    def kid(self):
        return self.rid >> np.int64(24)

    def take(self, idx) -> pd.DataFrame:
        rid = self.rid[idx]
        d = {"kid": rid >> np.int64(24), "orient": (rid >> np.int64(1)) & 1, "tag": rid & 1}
        st = self._stats_at(idx)
        d.update((c, self.cols[c][idx] if c in self.cols else st[c]) for c in _ACC_DTYPES)
        return pd.DataFrame(d, index=pd.Index(rid, name="rid"))

    def keep(self, mask):
        if len(self.srid):  # (statistics rows are rows of the store)
            smask = mask[np.searchsorted(self.rid, self.srid)]
            self.srid = self.srid[smask]
            for c in list(self.scols):
                self.scols[c] = self.scols[c][smask]
        self.rid = self.rid[mask]
        for c in list(self.cols):
            self.cols[c] = self.cols[c][mask]


# key table of the active keys: columns sorted by key id (new keys get larger ids)
_KEY_DTYPES = {"kind": np.int8, "proto": np.int16, "lo_hi": np.uint64, "lo_lo": np.uint64, "lo_port": np.int32,
               "hi_hi": np.uint64, "hi_lo": np.uint64, "hi_port": np.int32, "extra": np.int32, "x2": np.int32,
               "last": np.int64, "epoch": np.int32}


# key-table columns updated in place (never narrowed, see _narrow)
_KEY_INPLACE = ("last", "epoch")


# the key table keeps the low address halves XOR the IPv4-mapped prefix (an IPv4 address then
# fits 32 bits, see _narrow); _key_col gives them back
_V4P = np.uint64(0xFFFF_0000_0000)
_XOR_V4P = ("lo_lo", "hi_lo")


def _key_col(keys: dict, c: str, idx) -> np.ndarray:
    """Key-table column ``c`` at ``idx`` as the work table holds it."""
    v = keys[c][idx]
    return v.astype(np.uint64) ^ _V4P if c in _XOR_V4P else v


def _keys_frame(keys: dict, idx) -> pd.DataFrame:
    return pd.DataFrame({c: _key_col(keys, c, idx) for c in _KEY_DTYPES if c in keys},
                        index=pd.Index(keys["kid"][idx].astype(np.int64), name="kid"))


_NARROW = {"i": (np.int8, np.int16, np.int32), "u": (np.uint8, np.uint16, np.uint32)}


def _narrow(v: np.ndarray) -> np.ndarray:
    """``v`` in the smallest integer type of its kind (signed / unsigned) that holds every value
    (``v`` itself when none is smaller).  For the carried columns of the key table and the
    markers, which are only concatenated (numpy then widens to the wider part's type, within the
    kind), compared and read into wider columns, never updated in place: most of them hold small
    numbers (an IPv4 key's high address halves are 0, a marker's packet counts are small)."""
    if v.dtype.kind not in _NARROW or not len(v):
        return v
    lo, hi = int(v.min()), int(v.max())
    for t in _NARROW[v.dtype.kind]:
        if np.dtype(t).itemsize >= v.dtype.itemsize:
            break
        i = np.iinfo(t)
        if i.min <= lo and hi <= i.max:
            return v.astype(t)
    return v


def _cat_narrow(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """``concatenate([old, new])`` (``new`` narrowed), narrowed again when ``old`` widened it."""
    out = np.concatenate([old, new])
    return _narrow(out) if out.dtype != new.dtype else out


def _dict_keep(d: dict, mask) -> None:
    for k in list(d):
        d[k] = d[k][mask]


def _isin(a, values) -> np.ndarray:
    """``np.isin`` through a hash table (pandas): linear time, no sort of either side."""
    return pd.Series(a, copy=False).isin(values).to_numpy()


def _carry_rid(carry: dict, idx=None) -> np.ndarray:
    """Row id of each marker's open record (same formula as ``_process``)."""
    g = (lambda k: carry[k].astype(np.int64)) if idx is None else (lambda k: carry[k][idx].astype(np.int64))
    return (g("m_kid") << np.int64(24)) | (np.minimum(g("m_epoch"), (1 << 22) - 1) << np.int64(2)) | (
        g("m_orient") << np.int64(1)) | g("m_tag")


def _marker_last(carry: dict, idx=None) -> np.ndarray:
    """The last packet time of each marker's open record (markers keep it as ``m_dlast``, an offset from ``ts``)."""
    if idx is None:
        return carry["ts"].astype(np.int64) + carry["m_dlast"]
    return carry["ts"][idx].astype(np.int64) + carry["m_dlast"][idx]


def _open_frame(carry: dict, ostart: np.ndarray, idx=None) -> pd.DataFrame:
    """Open records (one per marker, in marker order): rid, start, last, ns, nd, smap, fs."""
    g = (lambda k: carry[k]) if idx is None else (lambda k: carry[k][idx])
    return pd.DataFrame({"rid": _carry_rid(carry, idx), "start": ostart if idx is None else ostart[idx],
                         "last": _marker_last(carry, idx), "ns": g("m_ns"), "nd": g("m_nd"),
                         "smap": g("m_smap"), "trec": (g("m_sa").astype(np.int64) & 4) != 0,
                         "rv": (g("m_sa").astype(np.int64) & 8) != 0})


def _open_starts(out: pd.DataFrame, op_rec: pd.DataFrame) -> None:
    """Rows whose open record holds a reversed flow's trigger start no later than its printed start."""
    tr = op_rec[op_rec["trec"].to_numpy()]
    if len(tr):
        p = out.index.get_indexer(tr["rid"].to_numpy())
        v = out["stime"].to_numpy(dtype=np.int64, copy=True)
        np.minimum.at(v, p, tr["start"].to_numpy(dtype=np.int64))
        out["stime"] = v


# ----------------------------------------------------------------------------- builder
@dataclass
class FlowBuilder:
    """Incremental Argus+racluster model; feed PacketTable chunks in file order.

    ``add(table)`` returns the rows that became final (a DataFrame, possibly
    empty); ``finish()`` returns the rest.  Rows come out ordered by the end of
    their key's activity, then by first packet, independent of chunking.
    """

    merge_horizon_s: float = DEFAULT_MERGE_HORIZON_S
    status_interval_s: float = 5.0
    _carry: dict | None = None  # marker rows (one per open Argus flow of an active key)
    _acc: _RowStore | None = None  # per-row accumulators of active rows
    _keys: dict | None = None  # key columns of the active keys, sorted by key id ("kid")
    _next_kid: int = 0
    _next_seq: int = 1
    _prev_ts: int | None = None
    _chunk_before_ts: int | None = None  # the previous chunk's last packet time (irregular clocks)
    _ostart: np.ndarray | None = None  # printed start of each marker's open record (same order as _carry)
    _now: int | None = None
    packets_in_flows: int = 0
    packets_not_in_flows: int = 0
    _stash: dict | None = None  # held packets (open records of SYN/ACK-first flows waiting for a trigger)
    _held_new: dict | None = None
    _inj: dict | None = None
    _n_bound: int = 0  # packets (and file index + 1) seen so far: bound of a row's pkts, spkts, gidx
    _b_bound: int = 0  # wire bytes seen so far: bound of a row's bytes, sbytes

    def __post_init__(self):
        self._H = int(round(self.merge_horizon_s * US))
        self._S = int(round(self.status_interval_s * US))
        floor = self._S + max(TIMEOUT_US.values())
        if self._H <= floor:
            # a key's older Argus flow could still be open when its next row starts
            raise ValueError(f"merge_horizon_s must exceed the status interval plus the longest idle timeout "
                             f"({floor / US:g} s), got {self.merge_horizon_s:g}")

    # -- public
    def add(self, table: PacketTable) -> pd.DataFrame:
        if len(table) == 0:
            return _empty_rows()
        w = _work_from_packets(table, self._prev_ts)
        self._chunk_before_ts = self._prev_ts
        ts_all = table.columns["ts_ns"] // 1000
        self._prev_ts = int(ts_all[-1])
        mx = int(ts_all.max())
        self._now = mx if self._now is None else max(self._now, mx)
        # bounds of the row store's counters so far: packets (and file indices), wire bytes
        self._n_bound = max(self._n_bound + len(table), int(table.columns["index"].max()) + 1)
        # (|bytes| of a packet: at most its wire length plus its link header skip)
        self._b_bound += int(table.columns["wirelen"].sum(dtype=np.int64)) + int(
            table.columns["link_skip"].sum(dtype=np.int64))
        if self._acc is not None and max(self._n_bound, self._b_bound) >= _BOUND:
            self._acc.widen()
        self.packets_in_flows += len(w["ts"])
        self.packets_not_in_flows += len(table) - len(w["ts"])
        mapped = _icmp_mapped(table)
        if len(w["ts"]):
            box = [w]
            del w  # _process owns the work table (and frees its columns as it replaces them)
            res = self._process(box, mapped)
            _first_macs(res[0][1], table, self._inj)
            self._inj = None
            if self._held_new is not None:
                self._stash_put(self._held_new, table)
                self._held_new = None
            self._commit(*res)
        # held records over for good (a later packet of their key would open a new record)
        self._stash_release(self._now - self._S - STASH_MARGIN_US)
        return self._flush(final=False)

    def finish(self) -> pd.DataFrame:
        parts = list(self.finish_batches())
        return pd.concat(parts, ignore_index=True) if len(parts) > 1 else (parts[0] if parts else _empty_rows())

    def finish_batches(self, batch_rows: int = 200_000):
        """The remaining rows in output order, rendered ``batch_rows`` at a time.

        Same rows and order as ``_flush(final=True)``, without copying every
        active row at once (the end of a capture is where memory peaks).
        """
        self._stash_release(None)
        acc = self._acc
        if acc is None or not len(acc):
            return
        keys, carry, ostart = self._keys, self._carry, self._ostart
        self._acc, self._keys, self._ostart, self._carry = None, None, None, None
        C = acc.cols
        epoch_end = _epoch_end(acc.kid(), C["epoch"], C["ltime"])
        order = np.lexsort((C["gidx"], epoch_end))
        del epoch_end
        # open records (marker order), their statistics taken batch by batch (a row's open
        # records all fall in its batch)
        open_ = _open_frame(carry, ostart) if carry is not None and len(carry["ts"]) else None
        del carry, ostart
        keys.pop("last"), keys.pop("epoch")  # (only the key columns are rendered)
        for a in range(0, len(order), batch_rows):
            out = acc.take(order[a:a + batch_rows])
            if open_ is not None:
                op_rec = open_[open_["rid"].isin(out.index)]
                _fold_rows(out, op_rec)
                _open_starts(out, op_rec)
                op = _open_stats(op_rec).reindex(out.index)
                del op_rec
                has = op["n"].notna().to_numpy()
                if has.any():
                    nrec = out["nrec"].fillna(0).to_numpy(dtype=np.float64, copy=True)
                    dsum = out["dsum"].fillna(0).to_numpy(dtype=np.float64, copy=True)
                    dsq = out["dsq"].fillna(0).to_numpy(dtype=np.float64, copy=True)
                    dmin = out["dmin"].to_numpy(dtype=np.float64, copy=True)
                    dmax = out["dmax"].to_numpy(dtype=np.float64, copy=True)
                    nrec[has] += op["n"].to_numpy()[has]
                    dsum[has] += op["s"].to_numpy()[has]
                    dsq[has] += op["q"].to_numpy()[has]
                    dmin[has] = np.fmin(dmin[has], op["mn"].to_numpy()[has])
                    dmax[has] = np.fmax(dmax[has], op["mx"].to_numpy()[has])
                    for col, oc, f in (("s_first", "s0", np.fmin), ("s_last", "s1", np.fmax),
                                       ("d_first", "d0", np.fmin), ("d_last", "d1", np.fmax)):
                        v = out[col].to_numpy(dtype=np.float64, copy=True)
                        v[has] = f(v[has], op[oc].to_numpy()[has])
                        out[col] = v
                    out["nrec"], out["dsum"], out["dsq"], out["dmin"], out["dmax"] = nrec, dsum, dsq, dmin, dmax
            kids = pd.unique(out["kid"].to_numpy())
            rows = _render(out, _keys_frame(keys, np.searchsorted(keys["kid"], kids)))
            # nothing of this batch but its rows stays alive while the caller works on them
            out = op = has = kids = nrec = dsum = dsq = dmin = dmax = v = None
            yield rows
            del rows

    # -- core
    def _process(self, box: list, mapped: dict | None = None) -> tuple:
        w = box.pop()
        carry = self._carry
        touched = m_state = None
        n_pkt = len(w["ts"])
        if carry is not None and len(carry["ts"]):
            # only the keys this chunk touches take part; the others' state waits untouched
            hs = w["h"] if mapped is None else np.concatenate([w["h"], mapped["h"]])
            touched = _isin(carry["h"], hs)
            del hs
            ti = np.flatnonzero(touched)
            kp = np.searchsorted(self._keys["kid"], carry["m_kid"][ti])
            w.pop("ts_last", None)  # (an alias of "ts" for packets)
            for k in _WORK_COLS:  # markers first, one column at a time
                if k == "ts_last":
                    continue
                w[k] = np.concatenate([_marker_col(k, carry, ti, self._keys, kp), w[k]])
            w["ts_last"] = np.concatenate([_marker_last(carry, ti), w["ts"][len(ti):]])
            w["mi"] = np.concatenate([np.arange(len(ti), dtype=np.int32), np.full(n_pkt, -1, dtype=np.int32)])
            m_state = {k: carry[k][ti] for k in _MARKER_STATE}
        # irregular clocks (rare): a packet stamped in the first second of the epoch, or earlier
        # than the one before it in the file, or a carried record that started that way
        n = len(w["ts"])
        pk_ts = w["ts"][n - n_pkt:]
        irr = bool(n_pkt) and (int(pk_ts.min()) < US or bool((pk_ts[1:] < pk_ts[:-1]).any())
                               or (self._chunk_before_ts is not None and int(pk_ts[0]) < self._chunk_before_ts))
        if m_state is not None:
            m_ost, m_ts = self._ostart[ti], carry["ts"][ti]
            if irr or bool(((m_ost < m_ts) | (m_ts < US)).any()):
                irr = True
                m_state["m_ostart"] = m_ost
            del m_ost, m_ts, ti, kp
        del pk_ts
        order = _stable_argsort(w["h"])  # markers come first within a key
        _permute(w, order)
        del order
        _put_marker_state(w, m_state)
        del m_state
        if irr and "m_ostart" not in w:
            w["m_ostart"] = np.zeros(n, dtype=np.int64)
        h = w["h"]
        newg = np.empty(n, dtype=bool)
        newg[0] = True
        newg[1:] = h[1:] != h[:-1]
        # verify: equal hashes must mean equal keys (a collision would merge two flows)
        same = ~newg
        if same.any():
            for k in _KEY_COLS:
                col = w[k]
                bad = same[1:] & (col[1:] != col[:-1])
                if bad.any():  # astronomically unlikely: split the group there
                    newg[1:] |= bad
        gid = np.cumsum(newg) - 1
        gstart = np.flatnonzero(newg)
        is_m = w["m"] == 1
        ts = w["ts"]
        ts_last = w["ts_last"]
        prev_last = np.empty(n, dtype=np.int64)
        prev_last[0] = ts[0]
        prev_last[1:] = ts_last[:-1]
        prev_last[newg] = ts[newg]
        if (~newg[1:] & (ts_last[1:] < ts_last[:-1])).any():
            # a clock that went back inside a key: idle time counts from the latest packet seen
            # (Argus keeps one flow across a SYN/ACK stamped 21 years early, tls_DER-incomplete-*)
            cm = pd.Series(ts_last).groupby(gid).cummax().to_numpy()
            prev_last[1:] = cm[:-1]
            prev_last[newg] = ts[newg]
            del cm
        kind = w["kind"]
        flags = w["flags"]
        is_tcp = (w["proto"] == 6) & (kind == K_IP) & (w["frag"] != 2)

        # row epochs: a key idle longer than the merge horizon starts a new row
        epoch_break = ~newg & ((ts - prev_last) > self._H)
        # epochs (absolute, carried by markers)
        ep_inc = np.cumsum(epoch_break.astype(np.int64))
        ep_base_idx = gstart[gid]
        epoch = (ep_inc - ep_inc[ep_base_idx]) + np.where(is_m[ep_base_idx], w["m_epoch"][ep_base_idx], 0)
        del prev_last, epoch_break, ep_inc, ep_base_idx  # (temporaries go as soon as they are used: memory)

        # persistent key ids
        g_is_m = is_m[gstart]
        g_kid = np.where(g_is_m, w["m_kid"][gstart], 0)
        new_groups = np.flatnonzero(~g_is_m)
        if len(new_groups):
            # number new keys in order of their first packet in the file (chunk-invariant)
            first_g = w["gidx"][gstart[new_groups]]
            o = _stable_argsort(first_g)
            ids = np.empty(len(new_groups), dtype=np.int64)
            ids[o] = self._next_kid + np.arange(len(new_groups))
            g_kid[new_groups] = ids
            self._next_kid += len(new_groups)
        kid = g_kid[gid]

        # sub-flows (IPv4 echo sequence numbers, DNS ids): Argus keeps them apart, racluster
        # merges them into the key's rows.  Each key's rows are regrouped into runs of one
        # sub-key (a marker opens the run of the sub-flow it carries), runs ordered by their
        # last packet, so each run is one Argus flow and the key's latest one stays open.
        sub_eff = np.where(is_m, w["m_sub"], w["sub"])
        run_start = np.zeros(n, dtype=bool)
        if (sub_eff != 0).any():
            pos = np.arange(n)
            rk = np.lexsort((pos, sub_eff, gid))
            rb = np.r_[True, (gid[rk][1:] != gid[rk][:-1]) | (sub_eff[rk][1:] != sub_eff[rk][:-1])]
            run_id = np.empty(n, dtype=np.int64)
            run_id[rk] = np.cumsum(rb) - 1
            run_last = np.maximum.reduceat(pos[rk], np.flatnonzero(rb))[run_id]
            perm = np.lexsort((pos, ~is_m, sub_eff, run_last, gid))
            if (perm != pos).any():
                _permute(w, perm)
                epoch, kid, sub_eff = epoch[perm], kid[perm], sub_eff[perm]
                is_m = w["m"] == 1
                ts = w["ts"]
                ts_last = w["ts_last"]
                kind = w["kind"]
                flags = w["flags"]
                is_tcp = (w["proto"] == 6) & (kind == K_IP) & (w["frag"] != 2)
            run_start[1:] = ~newg[1:] & (sub_eff[1:] != sub_eff[:-1])
            del pos, rk, rb, run_id, run_last, perm
        ep_change = np.zeros(n, dtype=bool)
        ep_change[1:] = ~newg[1:] & (epoch[1:] != epoch[:-1])
        # forced new Argus flows
        # only a bare SYN (flag byte 0x02) re-initialises: measured, after a RST a SYN carrying FIN,
        # URG, PSH, ECE, ECE+CWR or RST as well joins the old connection's record
        syn = is_tcp & (flags == TH_SYN)
        # ... and only after a RST, or a FIN from one side only (measured: once both sides sent
        # a FIN, a new SYN joins the closed connection's record).  Counted since the previous bare
        # SYN (or the key's first row, which may be a marker carrying that state as bits 1/2/4)
        dd = w["d"].astype(np.int64)
        m_bits = w["m_rstfin"].astype(np.int64) * is_m
        fin = is_tcp & ((flags & TH_FIN) != 0)
        c_rst = np.cumsum((is_tcp & ((flags & TH_RST) != 0)).astype(np.int64) + (m_bits & 1))
        c_f0 = np.cumsum((fin & (dd == 0)).astype(np.int64) + ((m_bits >> 1) & 1))
        c_f1 = np.cumsum((fin & (dd == 1)).astype(np.int64) + ((m_bits >> 2) & 1))
        syn_idx = np.where(syn | newg, np.arange(n), -1)
        last_syn_or_start = np.maximum.accumulate(syn_idx)
        prev_anchor = np.empty(n, dtype=np.int64)
        prev_anchor[0] = 0
        prev_anchor[1:] = last_syn_or_start[:-1]
        # counts before each row (cumsum minus the row's own contribution), since its anchor
        own_rst = c_rst - np.r_[0, c_rst[:-1]]
        own_f0 = c_f0 - np.r_[0, c_f0[:-1]]
        own_f1 = c_f1 - np.r_[0, c_f1[:-1]]
        b_rst, b_f0, b_f1 = c_rst - own_rst, c_f0 - own_f0, c_f1 - own_f1
        s_rst = b_rst - b_rst[prev_anchor]
        s_fin = (b_f0 - b_f0[prev_anchor] > 0).astype(np.int64) + (b_f1 - b_f1[prev_anchor] > 0)
        tcp_reinit = syn & ~newg & ((s_rst > 0) | (s_fin == 1))
        del syn, syn_idx, prev_anchor, own_rst, own_f0, own_f1, s_rst, s_fin, m_bits, fin
        flow_force = newg | ep_change | tcp_reinit | run_start
        del ep_change
        # markers continue the carried flow and record; the packet after a marker is not forced
        # unless one of the rules above says so
        rec_start = self._split_records(ts, flow_force, newg, is_m)

        # timeouts at record starts (Argus scans its queue when later packets arrive)
        rs_idx = np.flatnonzero(rec_start)
        rec_id = np.cumsum(rec_start) - 1
        rec_ts0 = ts[rs_idx]  # record start times (marker ts = carried record start)
        prev_rec_start_ts = np.full(n, -1, dtype=np.int64)
        cand = rec_start & ~newg
        prev_rec_start_ts[cand] = rec_ts0[rec_id[cand] - 1]
        tout = np.where(kind == K_ARP, TIMEOUT_US["arp"], np.where(
            (kind == K_ECHO) | (kind == K_ICMP), TIMEOUT_US["icmp"], np.where(is_tcp, TIMEOUT_US["tcp"],
                                                                              TIMEOUT_US["other"])))
        expired = cand & (w["prevg"] > prev_rec_start_ts + self._S + tout)
        flow_start = flow_force | expired
        flow_start &= ~is_m | newg | run_start  # (a marker always opens its run)
        del cand, expired

        # orientation of each Argus flow from its first packet
        d = w["d"].astype(np.int64)
        sp, dp = w["sp"], w["dp"]
        rev = np.zeros(n, dtype=bool)
        # A mid-stream first packet (no SYN) is reversed when its port is a service port and the
        # other is not, or is a higher one (measured: 60177 -> 20203 reversed, 61000 -> 20203 not)
        midstream = is_tcp & ((flags & TH_SYN) == 0)
        rev_mid = midstream & is_service_port(sp) & ((sp < dp) | ~is_service_port(dp))
        rev |= rev_mid
        rev |= (kind == K_ECHO) & isin_few(w["itype"], (0, 129))
        rev |= (kind == K_ARP) & (w["itype"] == 2)  # an ARP reply seen first: oriented to the requester
        rev &= ~((kind == K_IP) & (w["extra"] == 1))  # one-directional self flows keep the sender
        orient_here = np.where(is_m, w["m_orient"], d ^ rev.astype(np.int64))
        tag_here = np.where(is_m, w["m_tag"], ((kind == K_ECHO) & isin_few(w["itype"], (0, 129))).astype(np.int64))
        fidx = np.where(flow_start, np.arange(n), -1)
        fidx = np.maximum.accumulate(fidx)
        # A flow whose first packet is a SYN/ACK (no RST) starts with the SYN/ACK's sender as
        # source and is reversed at its first trigger, an ACK or FIN without RST (a SYN only
        # beside a FIN) from either side, unless a RST came first: from the record holding
        # the trigger on (measured with argus 3.0.8: an ACK 4.99 s after the SYN/ACK reverses
        # the whole flow, one 5.01 s after leaves the first record as it was; a flow answered
        # by RSTs, lone or retransmitted SYN/ACKs, SYNs, PSH, URG or flagless packets keep
        # it).  ``m_sa`` carries the flow's part in this across chunks (bit 1: SYN/ACK first,
        # nothing decided yet; 2: reversed; 4: the open record holds the trigger); the open
        # record of a flow still waiting is held back from the rows until decided (_stash).
        fl = flags.astype(np.int64)
        synack = is_tcp & ((fl & (TH_SYN | TH_ACK | TH_RST)) == (TH_SYN | TH_ACK))
        synack &= w["extra"] != 1  # (the one-way halves of an IPv6 self flow keep their sender)
        trig = is_tcp & ((fl & (TH_ACK | TH_FIN)) != 0) & ((fl & TH_RST) == 0) & (
            ((fl & TH_SYN) == 0) | ((fl & TH_FIN) != 0))
        decide = (trig | (is_tcp & ((fl & TH_RST) != 0))) & ~is_m
        f0 = np.flatnonzero(flow_start)
        fseg = np.cumsum(flow_start) - 1
        msa = np.where(is_m, w["m_sa"].astype(np.int64), 0)
        sa_first = np.where(is_m[f0], (msa[f0] & 1) == 1, synack[f0])
        was_rev = is_m[f0] & ((msa[f0] & 2) == 2)
        first_dec = np.minimum.reduceat(np.where(decide, np.arange(n), n), f0)
        decided = first_dec < n
        flip_f = sa_first & decided
        flip_f[decided] &= trig[first_dec[decided]]
        flip_rec = np.full(len(f0), np.iinfo(np.int64).max)
        flip_rec[flip_f] = rec_id[first_dec[flip_f]]
        newflip = flip_f[fseg] & (rec_id >= flip_rec[fseg])  # reversed from this chunk's trigger on
        flipped = newflip | was_rev[fseg]  # rows in the reversed part of a reversed flow
        undecided = (sa_first & ~decided)[fseg]  # per row: its flow is still waiting for a trigger or a RST
        safl = np.where((sa_first | was_rev)[fseg], 1 + 2 * flipped.astype(np.int64), 0)
        orient = orient_here[fidx] ^ newflip.astype(np.int64)
        tag = tag_here[fidx]
        is_src = (d == orient) & ~is_m
        # (a reversed flow's status records print their start from its first source: measured)
        # (a flow reversed by the mid-stream port rule keeps its first packet's sender as Argus's own
        # source: its status records print from that side's first packet (measured 2026-11-28,
        # flowgen.sc_midstream_records); ``m_sa`` bit 8 carries it across chunks)
        revm = np.where(is_m, (w["m_sa"].astype(np.int64) & 8) != 0, rev_mid)[fidx]
        orient_ps = orient ^ flipped.astype(np.int64) ^ revm.astype(np.int64)
        is_src_ps = (d == orient_ps) & ~is_m
        # the record holding the trigger (this chunk's, or a marker's): its packets count for
        # their row's start only through the record's printed start (folded when it closes)
        trec_r = np.zeros(int(rec_id[-1]) + 1, dtype=bool)
        trec_r[rec_id[newflip & (rec_id == flip_rec[fseg])]] = True
        trec_r[rec_id[is_m & ((msa & 4) == 4)]] = True
        trec = trec_r[rec_id]
        rflip_m = newflip & is_m  # (markers whose counts came the other way round)
        del d, rev, rev_mid, midstream, orient_here, tag_here, fidx, fl, synack, trig, decide, f0, first_dec, decided
        del flip_f, flip_rec, orient_ps, newflip, msa, was_rev

        # Argus flow sequence numbers, in file order of flow starts
        fs_real = flow_start & ~is_m
        fs_pos = np.flatnonzero(fs_real)
        o = _stable_argsort(w["gidx"][fs_pos])
        seq_at = np.zeros(n, dtype=np.int64)
        seq_at[fs_pos[o]] = self._next_seq + np.arange(len(fs_pos))
        self._next_seq += len(fs_pos)
        del fs_real, fs_pos, o

        # row ids
        rid = (kid << np.int64(24)) | (np.minimum(epoch, (1 << 22) - 1) << np.int64(2)) | (orient << 1) | tag

        # ----- per-record aggregates
        rec_first = rs_idx
        rec_last_ts = np.maximum.reduceat(ts_last, rec_first)
        # a bare SYN re-initialising the connection inside the status interval ends the old
        # record at its own time (measured: the RST/FIN record's last time is the new SYN's, for
        # SYNs 0.2-4.95 s later; one 6 s later leaves it, the 5 s rule closed it first).  Only
        # when the SYN keeps the orientation (Argus keeps one flow; a SYN from the other side
        # re-orients it, which this model does as a new flow)
        stretch = np.flatnonzero(tcp_reinit & rec_start & ~is_m & (ts - prev_rec_start_ts < self._S))
        if len(stretch):
            prev_rec = rec_id[stretch] - 1
            same = orient[stretch] == orient[rec_first[prev_rec]]
            np.maximum.at(rec_last_ts, prev_rec[same], ts[stretch[same]])
        del stretch, tcp_reinit
        # ICMP errors stretch the current record of the flow they quote (measured: only while
        # that record is younger than the status interval; no packet is counted)
        g_rid = g_ts = None
        if mapped is not None:
            g_rec, g_ts = _mapped_records(mapped, h, w["gidx"], rec_id, ts[rs_idx], self._S)
            if len(g_rec):
                np.maximum.at(rec_last_ts, g_rec, g_ts)
                g_rid = rid[rec_first[g_rec]]
        # Argus prints a status record (one opened by the 5 s rule, not by a new flow)
        # as starting at its first packet from the flow's source, when it has one
        big = np.iinfo(np.int64).max
        src_ts = np.where(is_src_ps, ts, big)
        src_ts = np.where(is_m & (w["m_pstart"] > 0), w["m_pstart"], src_ts)
        rec_src_first = np.minimum.reduceat(src_ts, rec_first)
        del src_ts
        # (a record after the flow's first) ... but only when that source packet falls in the same second of the clock as the
        # record's first packet (measured with argus 3.0.8: records opened by a packet from the
        # destination, with and without the queue timer firing in between, within one second or
        # across a second: flowgen.sc_record_start); else at its first packet
        tc = ts[rec_first]
        rec_cont = np.where(is_m[rec_first], w["m_cont"][rec_first] == 1, ~flow_start[rec_first])
        has_src = rec_src_first < big
        rec_pstart = np.where(rec_cont & has_src & (np.floor_divide(rec_src_first, US) == np.floor_divide(tc, US)),
                              rec_src_first, tc)
        # a reversed flow's record: its first source's first packet, whatever the second (measured)
        rec_pstart = np.where(flipped[rec_first] & has_src, rec_src_first, rec_pstart)
        if irr:
            rec_pstart = _irregular_starts(rec_pstart, rec_first, ts, is_m, is_src_ps, w["m_nd"], w["m_ostart"])
        rec_dur = rec_last_ts - rec_pstart
        rec_rid = rid[rec_first]
        # carried (open) records: the last record of each key's last run, and of every other
        # run (sub-flow) whose Argus flow has not timed out by the chunk's last packet (a later
        # packet of an expired one starts a new flow anyway, so dropping it is chunk-invariant)
        glast = np.r_[gstart[1:] - 1, n - 1]
        run_b = np.flatnonzero(newg | run_start)
        run_l = np.r_[run_b[1:] - 1, n - 1]
        alive = (self._prev_ts - rec_ts0[rec_id[run_l]]) <= self._S + tout[run_l]
        keep = alive | _isin(run_l, glast)
        cr = run_l[keep]  # one marker per carried run, in sorted (key, run) order
        cr_rec = rec_id[cr]
        open_rec = np.zeros(len(rec_first), dtype=bool)
        open_rec[cr_rec] = True
        del glast, run_b, run_l, alive, keep

        # ----- per-row aggregates for this chunk (folded into the state by _commit, once the
        # chunk-sized temporaries of this function are gone)
        ts_st = np.where(trec, _NEVER, ts)  # (a trigger record's printed start is folded at its close)
        if irr:  # a packet stamped in the first second of the epoch starts nothing (_irregular_starts)
            ts_st[ts < US] = _NEVER
        # the open record of a flow still waiting for its trigger is held back from the rows
        # (self._stash) until a later chunk decides it: reversed as a whole by a trigger inside
        # it, or kept once it is over.  Held packets of earlier chunks whose key came back are
        # decided here with their marker's record.
        held_rec = np.zeros(len(rec_first), dtype=bool)
        held_rec[cr_rec[undecided[cr]]] = True
        hold = held_rec[rec_id] & ~is_m
        real = np.flatnonzero(~is_m & ~hold)
        cols = {"rid": rid, "ts": ts, "gidx": w["gidx"], "bytes": w["bytes"], "is_src": is_src, "flags": flags,
                "kid": kid, "epoch": epoch, "orient": orient, "tag": tag, "seq": seq_at, "itype": w["itype"],
                "icode": w["icode"], "eth": w["eth"], "is_tcp": is_tcp & (w["frag"] != 1), "safl": safl, "ts_st": ts_st}
        # (an IPv4 non-first fragment is no TCP segment for the row's state: Argus accounts it to its
        # datagram's flow, not through the TCP state machine; measured, flowgen.sc_frag4_state)
        self._inj = None
        nh = int(hold.sum())
        new_held = [{k: cols[k][hold] for k in _STASH_COLS} | {
            "d": w["d"][hold].astype(np.int64), "rec_ts0": rec_ts0[rec_id[hold]],
            "smac": np.full(nh, -2, dtype=np.int64), "dmac": np.full(nh, -2, dtype=np.int64)}] if nh else []
        back = self._stash_take(kid[is_m]) if self._stash is not None else None
        if back is not None:
            # each held packet's marker row (a TCP key has one marker: one run)
            mrow = np.flatnonzero(is_m)
            mk_kid = kid[mrow]
            o = _stable_argsort(mk_kid)
            mpos = mrow[o][np.searchsorted(mk_kid[o], back["kid"])]
            e_orient = orient[mpos]
            dec = {"rid": rid[mpos], "is_src": back["d"] == e_orient, "orient": e_orient, "safl": safl[mpos],
                   "ts_st": np.where(trec[mpos], _NEVER, back["ts"])}
            again = held_rec[rec_id[mpos]]  # the record is still open and undecided: held on
            if again.any():
                new_held.insert(0, {k: v[again] for k, v in back.items()})
            keep_e = ~again
            # the decided held packets first, then this chunk's
            a = {k: np.concatenate([(dec[k] if k in dec else back[k])[keep_e], v[real]]) for k, v in cols.items()}
            rows_of = None
            self._inj = {k: back[k][keep_e] for k in ("gidx", "smac", "dmac")}
            del mrow, mk_kid, o, mpos, e_orient, dec, again, keep_e
        else:
            a, rows_of = cols, real  # (the aggregates read the rows ``real`` of the full columns)
        self._held_new = _dict_cat(new_held) if new_held else None
        agg = _row_aggregates(a["rid"], a["ts"], a["gidx"], a["bytes"], a["is_src"], a["flags"], a["kid"], a["epoch"],
                              a["orient"], a["tag"], a["seq"], a["itype"], a["icode"], a["eth"], a["is_tcp"],
                              a["safl"], a["ts_st"], rows=rows_of)
        del real, cols, a, rows_of, back, new_held, hold, held_rec
        bump = pd.Series(g_ts, index=g_rid).groupby(level=0).max() if g_rid is not None else None
        # packets per direction in each record (a marker brings its open record's counts)
        # (a marker whose record this chunk reversed brought its counts the other way round)
        m_ns = np.where(rflip_m, w["m_nd"], w["m_ns"])[rec_first]
        m_nd = np.where(rflip_m, w["m_ns"], w["m_nd"])[rec_first]
        rec_ns = np.add.reduceat(is_src.astype(np.int64), rec_first) + np.where(is_m[rec_first], m_ns, 0)
        is_dst = (~is_src) & ~is_m
        rec_nd = np.add.reduceat(is_dst.astype(np.int64), rec_first) + np.where(is_m[rec_first], m_nd, 0)
        del m_ns, m_nd, rflip_m
        rec_smap = np.where(is_m[rec_first], w["m_smap"][rec_first], 0)
        if g_rid is not None:
            np.maximum.at(rec_smap, g_rec, g_ts)
        s0, s1, d0, d1 = _direction_slots(rec_pstart, rec_last_ts, rec_ns, rec_nd, rec_smap, revm[rec_first])
        closed = ~open_rec
        rstat = _record_stats(rec_rid[closed], rec_dur[closed], s0[closed], s1[closed], d0[closed], d1[closed])
        fold_rec = pd.DataFrame({"rid": rec_rid[closed], "start": rec_pstart[closed],
                                 "last": rec_pstart[closed] + rec_dur[closed]}) if len(rstat) else None
        # closed trigger records: their printed start is their row's start when it is the earliest
        tr = closed & trec_r
        tstart = pd.Series(rec_pstart[tr], index=rec_rid[tr]).groupby(level=0).min() if tr.any() else None
        del s0, s1, d0, d1, closed, tr

        # ----- key table updates (for rendering addresses later) and carry markers
        g_last = np.maximum.reduceat(ts_last, gstart)
        # each key's current epoch: the latest of its markers' (every group keeps a marker)
        cg = gid[cr]
        g_epoch = np.maximum.reduceat(epoch[cr], np.flatnonzero(np.r_[True, cg[1:] != cg[:-1]]))
        key_moves = (g_kid[g_is_m], g_last[g_is_m], g_epoch[g_is_m])  # carried keys: last packet, epoch
        new_keys = None
        if len(new_groups):  # new keys: larger ids than every carried key, appended in id order
            o = _stable_argsort(g_kid[new_groups])
            ng = new_groups[o]
            gs = gstart[ng]
            new_keys = {"kid": g_kid[ng]}
            for c, t in _KEY_DTYPES.items():
                v = g_last[ng] if c == "last" else g_epoch[ng] if c == "epoch" else w[c][gs]
                if c in _XOR_V4P:
                    v = v.astype(np.uint64) ^ _V4P
                new_keys[c] = v.astype(t) if c in _KEY_INPLACE else _narrow(v.astype(t))
            new_keys["kid"] = _narrow(new_keys["kid"])
        # marker per carried run: its open record
        mk = {"h": w["h"][cr], "gidx": w["gidx"][cr]}
        mk["ts"] = ts[rec_first[cr_rec]]
        mk["m_dlast"] = rec_last_ts[cr_rec] - mk["ts"]  # (>= 0: a record's last packet is no earlier than its first)
        mk["m_orient"] = orient[cr]
        mk["m_tag"] = tag[cr]
        mk["m_epoch"] = epoch[cr]
        mk["m_kid"] = kid[cr]
        # carried TCP state since the last bare SYN of the flow: bit 1 a RST, bits 2/4 a FIN from
        # the 'lo'/'hi' endpoint
        last_anchor = last_syn_or_start[cr]
        mk["m_rstfin"] = (((c_rst[cr] - b_rst[last_anchor]) > 0).astype(np.int64)
                          | (((c_f0[cr] - b_f0[last_anchor]) > 0).astype(np.int64) << 1)
                          | (((c_f1[cr] - b_f1[last_anchor]) > 0).astype(np.int64) << 2))
        mk["m_pstart"] = np.where(rec_src_first[cr_rec] < big, rec_src_first[cr_rec], 0)
        mk["m_cont"] = rec_cont[cr_rec].astype(np.int64)
        mk["m_sub"] = sub_eff[cr]
        mk["m_ns"] = rec_ns[cr_rec]
        mk["m_nd"] = rec_nd[cr_rec]
        mk["m_smap"] = rec_smap[cr_rec]
        mk["m_sa"] = (undecided[cr].astype(np.int64) | (flipped[cr].astype(np.int64) << 1)
                      | (trec_r[cr_rec].astype(np.int64) << 2) | (revm[cr].astype(np.int64) << 3))
        mk = {k: _narrow(v.astype(_CARRY_DTYPES[k]) if k in _CARRY_DTYPES else v) for k, v in mk.items()}
        assert set(mk) == set(_MARKER_COLS)
        # open records (one per marker): the rest of their state is the marker's (_open_frame)
        ostart = rec_pstart[cr_rec]
        return agg, bump, rstat, fold_rec, key_moves, new_keys, mk, ostart, touched, tstart

    def _commit(self, agg, bump, rstat, fold_rec, key_moves, new_keys, mk, ostart, touched, tstart=None) -> None:
        """Fold one chunk's results (``_process``) into the carried state."""
        if self._acc is None:
            self._acc = self._new_store()
        acc = self._acc
        acc.merge_packets(*agg)
        del agg
        if tstart is not None:
            acc.start_at(tstart.index.to_numpy(dtype=np.int64), tstart.to_numpy(dtype=np.int64))
        if bump is not None:
            acc.bump(bump.index.to_numpy(dtype=np.int64), bump.to_numpy(dtype=np.int64))
        if len(rstat):
            # racluster's float32 mean/stddev: fold this chunk's closed records onto each row's state
            rr = rstat.index.to_numpy()
            hit = acc.find(rr)[1]
            st = acc.stats_of(rr[hit], _FOLD_COLS)
            for c in _FOLD_COLS:
                v = np.full(len(rr), np.nan)
                v[hit] = st[c]
                rstat[c] = v
            del hit, st
            _fold_rows(rstat, fold_rec)
            acc.merge_records(rr, {c: rstat[c].to_numpy() for c in _REC_COLS + _FOLD_COLS})
        del rstat, fold_rec
        if self._keys is None:
            self._keys = {"kid": np.zeros(0, dtype=np.int64), **{c: np.zeros(0, dtype=t) for c, t in _KEY_DTYPES.items()}}
        keys = self._keys
        m_kid, m_last, m_epoch = key_moves
        if len(m_kid):
            kp = np.searchsorted(keys["kid"], m_kid)
            keys["last"][kp] = m_last
            keys["epoch"][kp] = m_epoch
        if new_keys is not None:
            for c in new_keys:
                keys[c] = np.concatenate([keys[c], new_keys[c]]) if c in _KEY_INPLACE else _cat_narrow(keys[c], new_keys[c])
        if touched is not None:  # untouched markers first, then this chunk's (one column at a time)
            carry = self._carry
            rest = np.flatnonzero(~touched)
            for k in _MARKER_COLS:
                mk[k] = _cat_narrow(carry[k][rest], mk[k])
                carry[k] = None
            ostart = np.concatenate([self._ostart[rest], ostart])
        self._carry = mk
        self._ostart = ostart

    def _new_store(self) -> _RowStore:
        return _RowStore(wide=max(self._n_bound, self._b_bound) >= _BOUND)

    # -- held records (SYN/ACK-first flows waiting for their trigger)
    def _stash_put(self, held: dict, table: PacketTable) -> None:
        """Keep ``held`` (packets of this chunk and earlier held ones), with the MACs of this
        chunk's packets (-2: not looked up yet) looked up in ``table``."""
        todo = held["smac"] == -2  # (this chunk's; held ones of earlier chunks have theirs)
        if todo.any():
            held["smac"][todo], held["dmac"][todo] = _macs_of(held["gidx"][todo], table)
        self._stash = held if self._stash is None else _dict_cat([self._stash, held])

    def _stash_take(self, kids) -> dict | None:
        """Remove and return the held packets of the keys ``kids`` (None when there are none)."""
        st = self._stash
        sel = _isin(st["kid"], kids)
        if not sel.any():
            return None
        out = {k: v[sel] for k, v in st.items()}
        rest = ~sel
        self._stash = {k: v[rest] for k, v in st.items()} if rest.any() else None
        return out

    def _stash_release(self, before) -> None:
        """Fold held records that started before ``before`` (all of them with None) into the
        rows, as they are: nothing reversed them."""
        st = self._stash
        if st is None:
            return
        sel = np.ones(len(st["kid"]), dtype=bool) if before is None else st["rec_ts0"] < before
        if not sel.any():
            return
        e = {k: v[sel] for k, v in st.items()}
        rest = ~sel
        self._stash = {k: v[rest] for k, v in st.items()} if rest.any() else None
        orient = e["orient"].astype(np.int64)
        rid = (e["kid"].astype(np.int64) << np.int64(24)) | (np.minimum(e["epoch"].astype(np.int64), (1 << 22) - 1)
                                                             << np.int64(2)) | (orient << 1) | e["tag"].astype(np.int64)
        rids, data = _row_aggregates(rid, e["ts"], e["gidx"], e["bytes"], e["d"] == orient, e["flags"], e["kid"],
                                     e["epoch"], orient, e["tag"], e["seq"], e["itype"], e["icode"], e["eth"],
                                     e["is_tcp"], e["safl"], e["ts"])
        _first_macs(data, None, {k: e[k] for k in ("gidx", "smac", "dmac")})
        if self._acc is None:
            self._acc = self._new_store()
        self._acc.merge_packets(rids, data)

    def _split_records(self, ts, flow_force, newg, is_m) -> np.ndarray:
        """Record starts: forced boundaries plus Argus's 5 s status rule inside each segment."""
        n = len(ts)
        S = self._S
        seg_start = flow_force.copy()
        seg_id = np.cumsum(seg_start) - 1
        seg_first = np.flatnonzero(seg_start)
        seg_end = np.r_[seg_first[1:], n]  # exclusive
        # a globally non-decreasing clock: time since segment start, made monotone, plus offsets
        rel = ts - ts[seg_first][seg_id]
        rel = np.maximum(rel, 0)
        # make rel monotone inside segments
        seg_len = np.maximum.reduceat(rel, seg_first) if n else rel
        offs = np.concatenate([[0], np.cumsum(seg_len + 2 * S)[:-1]])
        G = rel + offs[seg_id]
        G = np.maximum.accumulate(G)
        rec_start = seg_start.copy()
        cur = seg_first.copy()
        end = seg_end.copy()
        while len(cur):
            nxt = np.searchsorted(G, G[cur] + S, side="left")
            ok = nxt < end
            cur = nxt[ok]
            end = end[ok]
            rec_start[cur] = True
        return rec_start

    def _flush(self, final: bool, render: bool = True):
        if final:
            self._stash_release(None)
        acc = self._acc
        if acc is None or not len(acc):
            return _empty_rows() if render else (None, None)
        keys = self._keys
        nk = len(keys["kid"])
        key_done = np.ones(nk, dtype=bool) if final else keys["last"] < self._now - self._H
        if not key_done.any() and not keys["epoch"].any():  # no key done, none past its first row
            return _empty_rows() if render else (None, None)
        # rows done: rows of done keys, and rows of older epochs of active keys
        kpos = np.searchsorted(keys["kid"], acc.kid())  # (both sorted)
        done = key_done[kpos] | (acc.cols["epoch"] < keys["epoch"][kpos])
        del kpos
        if not done.any():
            return _empty_rows() if render else (None, None)
        didx = np.flatnonzero(done)
        out = acc.take(didx)
        acc.keep(~done)
        del done, didx
        # close the open record of finished rows
        op_sel = np.flatnonzero(_isin(_carry_rid(self._carry), out.index.to_numpy()))
        op_rec = _open_frame(self._carry, self._ostart, op_sel)
        _fold_rows(out, op_rec)
        _open_starts(out, op_rec)
        op = _open_stats(op_rec)
        if len(op):
            p = out.index.get_indexer(op.index)  # (positional: pandas .loc per column is slow)
            for col, oc, f in (("nrec", "n", None), ("dsum", "s", None), ("dsq", "q", None), ("dmin", "mn", np.fmin),
                               ("dmax", "mx", np.fmax), ("s_first", "s0", np.fmin), ("s_last", "s1", np.fmax),
                               ("d_first", "d0", np.fmin), ("d_last", "d1", np.fmax)):
                v = out[col].to_numpy(dtype=np.float64, copy=True)
                o = op[oc].to_numpy(dtype=np.float64)
                v[p] = _nan0(v[p]) + o if f is None else f(v[p], o)
                out[col] = v
        # epoch end per (kid, epoch): last packet of all rows of the key-epoch
        out["epoch_end"] = _epoch_end(out["kid"].to_numpy(), out["epoch"].to_numpy(), out["ltime"].to_numpy())
        out_kids = pd.unique(out["kid"].to_numpy())
        rows_keys = _keys_frame(keys, np.searchsorted(keys["kid"], out_kids))
        # drop finished keys from the carried state
        if key_done.any():
            keep = ~_isin(self._carry["m_kid"], keys["kid"][key_done])
            _dict_keep(self._carry, keep)
            self._ostart = self._ostart[keep]
            _dict_keep(keys, ~key_done)
        out = out.sort_values(["epoch_end", "gidx"], kind="stable")
        return _render(out, rows_keys) if render else (out, rows_keys)


def _epoch_end(kid, epoch, ltime) -> np.ndarray:
    """For rows sorted by row id: the last packet time of all rows of each row's (key, epoch)
    (a row id begins with its key and epoch, so those rows are next to each other)."""
    if not len(kid):
        return np.zeros(0, dtype=np.int64)
    b = np.flatnonzero(np.r_[True, (kid[1:] != kid[:-1]) | (epoch[1:] != epoch[:-1])])
    return np.repeat(np.maximum.reduceat(ltime, b), np.diff(np.r_[b, len(kid)]))


def _row_aggregates(rid, ts, gidx, byts, is_src, flags, kid, epoch, orient, tag, seq, itype, icode, eth, is_tcp, safl,
                    ts_start=None, rows=None):
    """Per-row packet aggregates of one chunk: (sorted unique row ids, columns).

    ``rows``: positions of the packets to aggregate in the given columns (None: all of them).
    """
    if rows is None:
        o = _stable_argsort(rid)
    else:  # every column is read through ``o``: sort the selected rows, then point at them
        o = rows[_stable_argsort(rid[rows])]
    if not len(o):
        return np.zeros(0, dtype=np.int64), {}
    r = rid[o]
    b = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
    first = o[b]
    src = is_src[o].astype(np.int64)
    seqv = seq[o]
    seqv = np.where(seqv > 0, seqv, np.iinfo(np.int64).max)
    fo = flags[o]
    nonsyn = (is_tcp[o] & ((fo & TH_SYN) == 0)).astype(np.int64)
    bo = byts[o]
    data = {
        "stime": np.minimum.reduceat((ts if ts_start is None else ts_start)[o], b),
        "ltime": np.maximum.reduceat(ts[o], b),
        "pkts": np.diff(np.r_[b, len(r)]),
        "bytes": np.add.reduceat(bo, b),
        "spkts": np.add.reduceat(src, b),
        "sbytes": np.add.reduceat(np.where(src == 1, bo, 0), b),
        "flags": np.bitwise_or.reduceat(fo, b),
        "nonsyn": np.maximum.reduceat(nonsyn, b),
        "kid": kid[first],
        "epoch": epoch[first],
        "orient": orient[first],
        "tag": tag[first],
        "seq": np.minimum.reduceat(seqv, b),
        "gidx": np.minimum.reduceat(gidx[o], b),
        "itype": itype[first],
        "icode": icode[first],
        "eth": np.minimum.reduceat(eth[o], b),
        "first_flags": flags[first],
        "umap": np.zeros(len(b), dtype=np.int64),
        "safl": np.maximum.reduceat(safl[o], b),
    }
    # whether the row's first packet in the file (the one whose MACs Argus keeps) was sent by the
    # row's source: its MACs are looked up by file index afterwards (_first_macs)
    # (the row's first packet in work order, unless sub-flow runs were reordered: fixed up below)
    data["first_src"] = src[b]
    off = np.flatnonzero(gidx[first] != data["gidx"])
    if len(off):
        g = gidx[o]
        at_first = g == np.repeat(data["gidx"], data["pkts"])
        data["first_src"][off] = np.add.reduceat(src & at_first, b)[off]
    return r[b], data


_NEVER = np.iinfo(np.int64).max

# what a held packet keeps (besides its direction bit "d", record start "rec_ts0" and MACs)
_STASH_COLS = ("ts", "gidx", "bytes", "flags", "kid", "epoch", "orient", "tag", "seq", "itype", "icode", "eth",
               "is_tcp", "safl")
# a held record is released (kept as it is) once the capture's clock is this far past its
# status interval: only a packet that many seconds out of order could still have joined it
STASH_MARGIN_US = 10 * US


def _dict_cat(parts: list) -> dict:
    keys = parts[0].keys()
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def _macs_of(gidx: np.ndarray, table: PacketTable) -> tuple[np.ndarray, np.ndarray]:
    """(source, destination) MAC of the packets ``gidx`` of ``table`` (-1: no Ethernet header)."""
    c = table.columns
    idx = c["index"]
    if len(idx) and int(idx[-1]) - int(idx[0]) == len(idx) - 1:  # consecutive records (a whole chunk)
        pos = np.clip(gidx - idx[0], 0, len(idx) - 1)
    else:
        pos = np.clip(np.searchsorted(idx, gidx), 0, max(len(idx) - 1, 0))
    none = (c["linktype"][pos] != 1) | (idx[pos] != gidx)
    return (np.where(none, -1, c["src_mac"][pos].astype(np.int64)),
            np.where(none, -1, c["dst_mac"][pos].astype(np.int64)))


def _first_macs(data: dict, table: PacketTable | None, extra: dict | None = None) -> None:
    """``smac``/``dmac`` of each row from its first packet (``data["gidx"]``, a file index in
    ``table``), oriented to the row (``data["first_src"]``); -1 where that packet's link layer is
    not Ethernet.  Measured with ``argus -m`` + racluster: an Argus flow keeps the MACs of its
    first frame (swapped when that frame came from the flow's destination, e.g. a first SYN/ACK)
    for all its status records, and racluster keeps the first record's MACs when it merges
    records whose MACs differ (later sub-flows, a flow restarted after its timeout)."""
    if not data:
        return
    g = data["gidx"]
    s = d = None
    if table is not None:
        s, d = _macs_of(g, table)
    if extra is not None and len(extra["gidx"]):  # held packets of earlier chunks: their own MACs
        o = _stable_argsort(extra["gidx"])
        eg = extra["gidx"][o]
        pos = np.clip(np.searchsorted(eg, g), 0, len(eg) - 1)
        hit = eg[pos] == g
        es, ed = extra["smac"][o][pos], extra["dmac"][o][pos]
        s = np.where(hit, es, -1 if s is None else s)
        d = np.where(hit, ed, -1 if d is None else d)
    if s is None:
        s = d = np.full(len(g), -1, dtype=np.int64)
    fwd = data.pop("first_src") > 0
    none = s < 0
    data["smac"] = np.where(none, -1, np.where(fwd, s, d))
    data["dmac"] = np.where(none, -1, np.where(fwd, d, s))


def _stat_fold(n, mean, sd, ssum, at, order_key, dur_us):
    """racluster's duration statistics: records folded one by one into a float32 (mean, stddev)
    aggregate and a float32 running sum, in ``order_key`` order per row (measured: reproduces
    its printed stddev, e.g. 0.199995 for records of 4.800001 s and 4.400001 s where the exact
    value is 0.2, and its mean = running sum / n, e.g. 0.000187 for ten 0.0003 s records and
    six empty ones where 3000 us / 16 prints 0.000188).

    ``n``, ``mean``, ``sd``, ``ssum``: the rows' current states (n == 0: empty); ``at`` (the
    position of each record's row in them) and ``dur_us``: the records to fold.  Returns new arrays.
    """
    n, mean, sd, ssum = n.copy(), mean.copy(), sd.copy(), ssum.copy()
    if not len(at):
        return n, mean, sd, ssum
    d = (dur_us / US).astype(np.float32).astype(np.float64)
    # records are folded in steps: step k folds each row's k-th record (``order_key`` order);
    # rows fold independently, so with one record per row (the common case) one step folds all
    if np.bincount(at, minlength=len(n)).max() == 1:
        steps = [np.arange(len(at))]
    else:
        o = _lexsort((order_key, at))
        r = at[o]
        start = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
        rank = np.arange(len(r)) - np.repeat(start, np.diff(np.r_[start, len(r)]))
        by_rank = np.argsort(rank, kind="stable")
        bounds = np.searchsorted(rank[by_rank], np.arange(rank.max() + 2))
        steps = [o[by_rank[bounds[k]:bounds[k + 1]]] for k in range(rank.max() + 1)]
    for idx in steps:
        gi, x = at[idx], d[idx]
        n0, m0, s0 = n[gi], mean[gi], sd[gi]
        ssum[gi] = (ssum[gi].astype(np.float32) + x.astype(np.float32)).astype(np.float64)
        first = n0 == 0
        N = n0 + 1
        m_new = (m0 * n0 + x) / N
        sumsq = n0 * (s0 * s0 + m0 * m0) + x * x
        mf = m_new.astype(np.float32).astype(np.float64)
        var = sumsq / N - mf * mf
        sdn = np.sqrt(np.maximum(var, 0.0)).astype(np.float32).astype(np.float64)
        n[gi] = N
        mean[gi] = np.where(first, x, mf)
        sd[gi] = np.where(first, 0.0, sdn)
    return n, mean, sd, ssum


def _fold_rows(out: pd.DataFrame, rec: pd.DataFrame) -> None:
    """Fold records (columns rid, start, last) into the float32 statistics of ``out``'s rows
    (records of other rows are left out)."""
    if not len(rec):
        return

    def col(c):
        return out[c].fillna(0).to_numpy(dtype=np.float64) if c in out else np.zeros(len(out))

    at = out.index.get_indexer(rec["rid"].to_numpy())  # (row ids are unique; -1: not a row of ``out``)
    keep = at >= 0
    start = rec["start"].to_numpy(dtype=np.int64)
    dur = rec["last"].to_numpy(dtype=np.int64) - start
    out["sn"], out["smean"], out["ssd"], out["ssum"] = _stat_fold(
        col("sn"), col("smean"), col("ssd"), col("ssum"), at[keep], start[keep], dur[keep])


def _open_stats(open_: pd.DataFrame) -> pd.DataFrame:
    """Duration statistics and direction spans of the open records per row id (a row can hold
    several sub-flows), indexed by row id (sorted)."""
    dur = (open_["last"] - open_["start"]).to_numpy(dtype=np.float64)
    s0, s1, d0, d1 = _direction_slots(open_["start"].to_numpy(), open_["last"].to_numpy(),
                                      open_["ns"].to_numpy(), open_["nd"].to_numpy(), open_["smap"].to_numpy(),
                                      open_["rv"].to_numpy())
    rid = open_["rid"].to_numpy()
    cols = ("n", "s", "q", "mn", "mx", "s0", "s1", "d0", "d1")
    o = _stable_argsort(rid)
    r = rid[o]
    if not (r[1:] == r[:-1]).any():  # one open record per row (the common case): its own values
        one = np.ones(len(r), dtype=np.float64)
        d = dur[o]
        vals = (one, d, d ** 2, d, d, s0[o], s1[o], d0[o], d1[o])
        return pd.DataFrame(dict(zip(cols, vals)), index=pd.Index(r, name="rid"))
    g = pd.DataFrame({"rid": rid, "d": dur, "d2": dur ** 2, "s0": s0, "s1": s1, "d0": d0,
                      "d1": d1}).groupby("rid")
    return pd.DataFrame({"n": g["d"].size().astype(np.float64), "s": g["d"].sum(), "q": g["d2"].sum(),
                         "mn": g["d"].min(), "mx": g["d"].max(), "s0": g["s0"].min(), "s1": g["s1"].max(),
                         "d0": g["d0"].min(), "d1": g["d1"].max()})


def _irregular_starts(rec_pstart, rec_first, ts, is_m, is_src, m_nd, m_ostart):
    """Printed record starts where the capture's clock is irregular (measured with argus 3.0.8,
    2026-11-28, ``flowgen.sc_clock_zero``): Argus keeps a start per direction, set by the
    direction's first packet and set again by each later one while its seconds are 0 (a packet
    stamped in the first second of the epoch counts as no time at all), and ra prints the
    destination's start when its second is earlier than the source's (seconds compared).

    * a record whose first packet is stamped in the first second of the epoch prints from its
      first packet stamped later (its first packet otherwise);
    * a record whose first destination packet is stamped in an earlier second than the record's
      printed start (a clock that went back: a SYN/ACK stamped 21 years early) prints from it.

    ``m_ostart``: a marker's carried printed start (kept when it is one of these)."""
    n = len(ts)
    pos = np.arange(n)
    real = ~is_m
    tc = ts[rec_first]
    lead = is_m[rec_first]
    ost = m_ostart[rec_first]
    last = n - 1
    i_nz = np.minimum.reduceat(np.where(real & (ts >= US), pos, n), rec_first)
    zero_led = tc < US
    cand = np.where(i_nz < n, ts[np.minimum(i_nz, last)], tc)
    cand = np.where(lead & (ost >= US), ost, cand)  # found in an earlier chunk
    out = np.where(zero_led, cand, rec_pstart)
    i_d = np.minimum.reduceat(np.where(real & ~is_src, pos, n), rec_first)
    d0 = ts[np.minimum(i_d, last)]
    back = (i_d < n) & ~zero_led & ~(lead & (m_nd[rec_first] > 0)) & (
        np.floor_divide(d0, US) < np.floor_divide(out, US))
    out = np.where(back, d0, out)
    return np.where(lead & ~zero_led & (ost > 0) & (ost < tc), np.minimum(out, ost), out)


def _mapped_records(mapped, h, gidx, rec_id, rec_start_ts, S):
    """Record (index into this chunk's records) each ICMP-mapped event stretches, and its time.

    The record is the one holding the quoted key's last row before the error in file
    order (markers count as earlier); events whose key has no such row (no flow yet) or come 5 s or more after that
    record's start are dropped.
    """
    hg, tg, ig = mapped["h"], mapped["ts"], mapped["gidx"]
    lo = np.searchsorted(h, hg, side="left")
    hi = np.searchsorted(h, hg, side="right")
    recs, times = [], []
    for k in np.flatnonzero(hi > lo).tolist():
        a, b = int(lo[k]), int(hi[k])
        before = np.where(gidx[a:b] < ig[k], gidx[a:b], -1)
        if before.max() < 0:
            continue
        j = a + int(np.argmax(before))
        r = int(rec_id[j])
        if tg[k] < rec_start_ts[r] + S:
            recs.append(r)
            times.append(int(tg[k]))
    return np.asarray(recs, dtype=np.int64), np.asarray(times, dtype=np.int64)


def _direction_slots(start, last, ns, nd, smap=None, rv=None):
    """``_argus_slots`` per record; ``rv``: records of a flow reversed by the mid-stream port rule,
    whose slots Argus builds from its own source, the first packet's sender (the printed
    destination; measured 2026-11-28, flowgen.sc_midstream_records), so the roles swap there."""
    if rv is None or not np.any(rv):
        return _argus_slots(start, last, ns, nd, smap)
    ns, nd = np.asarray(ns), np.asarray(nd)
    s0, s1, d0, d1 = _argus_slots(start, last, np.where(rv, nd, ns), np.where(rv, ns, nd), smap)
    return np.where(rv, d0, s0), np.where(rv, d1, s1), np.where(rv, s0, d0), np.where(rv, s1, d1)


def _argus_slots(start, last, ns, nd, smap=None):
    """Argus's per-direction (start, end) times of records, measured with ra's sdur/ddur.

    A direction with two or more packets in the record spans the whole record; a source
    direction with one packet sits at the record start; a destination direction with one
    packet sits at the record end when the source also sent exactly one; beside two or more
    source packets it spans the whole record when the record's start and end fall in the same
    second of the clock (integer part of the timestamp), else it sits at the start (measured
    with argus 3.0.8 on records that do and do not cross a second, TCP and UDP, first and later
    records of a flow: ``flowgen.sc_dst_span``); a lone source packet beside two or more
    destination packets likewise (``flowgen.sc_record_start``).
    NaN where the direction sent nothing.  racluster's srate/drate divide by the merged spans.
    ``smap``: time of the latest ICMP error mapped onto the record (0: none); Argus sets the
    source end to it (or the source start, when the source sent nothing).
    """
    S = np.asarray(start, dtype=np.float64)
    E = np.asarray(last, dtype=np.float64)
    ns = np.asarray(ns)
    nd = np.asarray(nd)
    nan = np.full(len(S), np.nan)
    s0 = np.where(ns >= 1, S, nan)
    s1 = np.where(ns >= 2, E, s0)
    d_one = np.where(ns == 1, E, S)
    d0 = np.where(nd >= 2, S, np.where(nd == 1, d_one, nan))
    d1 = np.where(nd >= 2, E, d0)
    # a lone destination packet beside two or more source packets spans the whole record when
    # the record starts and ends in the same second of the clock, else it sits at the start
    # (and the same for a lone source packet beside two or more destination packets)
    same_second = _seconds(start) == _seconds(last)
    span = (nd == 1) & (ns >= 2) & same_second
    d0 = np.where(span, S, d0)
    d1 = np.where(span, E, d1)
    s1 = np.where((ns == 1) & (nd >= 2) & same_second, E, s1)
    if smap is not None:
        m = np.asarray(smap, dtype=np.float64)
        has = m > 0
        s1 = np.where(has, np.where(np.isnan(s0), m, np.fmax(s1, m)), s1)
        s0 = np.where(has & np.isnan(s0), m, s0)
    return s0, s1, d0, d1


def _seconds(t) -> np.ndarray:
    """Second of the clock of microsecond times (``floor(t / US)``), as the float division of
    ``_argus_slots`` gives it: in integer arithmetic where the times are integers a float holds
    exactly (same values, a fraction of the time)."""
    t = np.asarray(t)
    if t.dtype.kind in "iu" and len(t) and -(2**53) < int(t.min()) and int(t.max()) < 2**53:
        return t // US
    return np.floor_divide(np.asarray(t, dtype=np.float64), US)


def _record_stats(rec_rid, rec_dur, s0=None, s1=None, d0=None, d1=None) -> pd.DataFrame:
    cols = ("nrec", "dsum", "dmin", "dmax", "dsq", "s_first", "s_last", "d_first", "d_last")
    if not len(rec_rid):
        return pd.DataFrame({c: pd.Series(dtype=np.float64) for c in cols}, index=pd.Index([], name="rid"))
    o = _stable_argsort(rec_rid)
    r = rec_rid[o]
    d = rec_dur[o].astype(np.int64)
    b = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
    out = {
        "nrec": np.diff(np.r_[b, len(r)]).astype(np.float64),
        "dsum": np.add.reduceat(d, b).astype(np.float64),
        "dmin": np.minimum.reduceat(d, b).astype(np.float64),
        "dmax": np.maximum.reduceat(d, b).astype(np.float64),
        "dsq": np.add.reduceat(d.astype(np.float64) ** 2, b),
    }
    if s0 is not None:
        out["s_first"] = np.fmin.reduceat(s0[o], b)
        out["s_last"] = np.fmax.reduceat(s1[o], b)
        out["d_first"] = np.fmin.reduceat(d0[o], b)
        out["d_last"] = np.fmax.reduceat(d1[o], b)
    return pd.DataFrame(out, index=pd.Index(r[b], name="rid"))


def _empty_rows() -> pd.DataFrame:
    return _render(None, None)


# ----------------------------------------------------------------------------- rendering
def _render(acc: pd.DataFrame | None, keys: pd.DataFrame | None) -> pd.DataFrame:
    if acc is None or not len(acc):
        out = {c: pd.Series(dtype=object) for c in FLOW_COLUMNS}
        return pd.DataFrame(out)
    kid = acc["kid"].astype(np.int64).to_numpy()
    k = keys.loc[kid]
    orient = acc["orient"].astype(np.int64).to_numpy()
    tag = acc["tag"].astype(np.int64).to_numpy()
    kind = k["kind"].to_numpy().astype(np.int64)
    proto = k["proto"].to_numpy().astype(np.int64)
    o = orient == 1
    # an L2 flow prints the lower MAC as source whatever its first frame's direction (counts stay
    # oriented to the first frame: measured)
    o &= kind != K_L2
    s_hi = np.where(o, k["hi_hi"], k["lo_hi"]).astype(np.uint64)
    s_lo = np.where(o, k["hi_lo"], k["lo_lo"]).astype(np.uint64)
    d_hi = np.where(o, k["lo_hi"], k["hi_hi"]).astype(np.uint64)
    d_lo = np.where(o, k["lo_lo"], k["hi_lo"]).astype(np.uint64)
    s_port = np.where(o, k["hi_port"], k["lo_port"]).astype(np.int64)
    d_port = np.where(o, k["lo_port"], k["hi_port"]).astype(np.int64)
    extra = k["extra"].to_numpy().astype(np.int64)
    itype = acc["itype"].astype(np.int64).to_numpy()
    icode = acc["icode"].astype(np.int64).to_numpy()
    v6icmp = proto == 58
    # ICMP echo: printed type is the first packet's (request 8/128, reply 0/129)
    e_type = np.where(v6icmp, np.where(tag == 1, 129, 128), np.where(tag == 1, 0, 8))
    r_type = np.where(kind == K_ECHO, e_type, np.where(kind == K_ICMP, extra >> 8, itype))
    r_code = np.where(kind == K_ECHO, 0, np.where(kind == K_ICMP, extra & 0xFF, icode))
    n = len(acc)
    # port columns as codes into [the decimal strings 0..65535, "", rendered extras]
    s_code = np.full(n, 65536, dtype=np.int64)
    d_code = np.full(n, 65536, dtype=np.int64)
    s_extra: list = []
    d_extra: list = []

    def extra(code, table, mask, strs):
        code[mask] = 65537 + len(table) + np.arange(int(mask.sum()))
        table.extend(strs)

    # (SCTP: Argus 3.0.8 keys it by the addresses alone and prints no ports, measured)
    ports = (kind == K_IP) & ((proto == 6) | (proto == 17))
    if ports.any():
        for code, table, v in ((s_code, s_extra, s_port[ports]), (d_code, d_extra, d_port[ports])):
            if v.min() < 0 or v.max() > 65535:
                extra(code, table, ports, v.astype(str).tolist())
            else:
                code[ports] = v
    esp4 = (kind == K_IP) & (proto == 50) & (s_hi == 0) & ((s_lo >> np.uint64(32)) == np.uint64(0xFFFF))
    if esp4.any():
        extra(d_code, d_extra, esp4, [f"0x2020{v & 0xFFFF:04x}" for v in d_port[esp4].tolist()])
    icmp4 = ((kind == K_ECHO) | (kind == K_ICMP)) & ~v6icmp
    if icmp4.any():
        sv = (r_code << 8) | r_type
        dv = np.where(kind == K_ECHO, _bswap16(s_port), np.where(kind == K_ICMP, k["x2"].to_numpy().astype(np.int64), 0))
        extra(s_code, s_extra, icmp4, [f"0x{v:04x}" for v in sv[icmp4]])
        extra(d_code, d_extra, icmp4, [f"0x{v:04x}" for v in dv[icmp4]])
    icmp6 = ((kind == K_ECHO) | (kind == K_ICMP)) & v6icmp
    if icmp6.any():
        extra(s_code, s_extra, icmp6, r_type[icmp6].astype(str).tolist())
        extra(d_code, d_extra, icmp6, r_code[icmp6].astype(str).tolist())
    l2k = kind == K_L2
    if l2k.any():
        s_code[l2k] = itype[l2k]
        d_code[l2k] = icode[l2k]
    proto_code = np.clip(proto, 0, 255)
    proto_code[kind == K_ARP] = 256  # "arp"
    l2_type = k["extra"].to_numpy().astype(np.int64)[l2k]  # the key's Ethernet type (0: 802.3)
    proto_code[l2k] = 257 + np.where(l2_type > 0, l2_type, 65536)

    pkts = acc["pkts"].astype(np.int64).to_numpy()
    spkts = acc["spkts"].astype(np.int64).to_numpy()
    byts = acc["bytes"].astype(np.int64).to_numpy()
    sbytes = acc["sbytes"].astype(np.int64).to_numpy()
    dpkts = pkts - spkts
    dbytes = byts - sbytes
    flags = acc["flags"].astype(np.int64).to_numpy()
    first_flags = acc["first_flags"].astype(np.int64).to_numpy()

    state = np.full(n, _STATE_CODE[""], dtype=np.int64)  # codes into _STATE_TABLE
    # (a TCP row of packets without a TCP header Argus reads: IPv6 non-first fragments, headers
    # cut before the flags; no flags and no non-SYN packet, since they do not count as TCP (the
    # work table's frag == 2); Argus gives it the connectionless states)
    headerless_tcp = (kind == K_IP) & (proto == 6) & (flags == 0) & ~_has_non_syn(acc)
    conless = (~((kind == K_IP) & (proto == 6)) | headerless_tcp) & ((kind == K_IP) | (kind == K_ARP) | (kind == K_L2))
    state[conless] = np.where((spkts > 0) & (dpkts > 0), _STATE_CODE["CON"], _STATE_CODE["INT"])[conless]
    arp_rsp = (kind == K_ARP) & (spkts == 0)
    state[arp_rsp] = _STATE_CODE["RSP"]
    tcp = (kind == K_IP) & (proto == 6) & ~headerless_tcp
    if tcp.any():
        fl = flags
        # a flow whose first packet is a FIN with PSH, URG or SYN beside it (a FIN/PSH/URG "xmas"
        # flood) is CON, whatever FINs follow (measured, argus 3.0.8); a bare FIN or FIN/ACK first: FIN
        odd_fin = ((first_flags & TH_FIN) != 0) & ((first_flags & (TH_PUSH | TH_URG | TH_SYN)) != 0)
        # a SYN/ACK-first flow: ACC until a trigger reversed it, CLO from there on (measured: two
        # SYN/ACKs, a SYN/ACK and a flagless, PSH, URG or SYN packet: ACC; the rows after an ACK: CLO)
        safl = acc["safl"].fillna(0).astype(np.int64).to_numpy() if "safl" in acc.columns else np.zeros(n, np.int64)
        sc = _STATE_CODE
        st = np.where(fl & TH_RST, sc["RST"], np.where(odd_fin, sc["CON"], np.where(fl & TH_FIN, sc["FIN"], np.where(
            safl >= 3, sc["CLO"], np.where(safl == 1, sc["ACC"], np.where(
                _has_non_syn(acc), sc["CON"], np.where(fl & TH_ACK, sc["ACC"], sc["REQ"])))))))
        state[tcp] = st[tcp]
    icmpk = (kind == K_ECHO) | (kind == K_ICMP)
    for i in np.flatnonzero(icmpk):
        t, c = int(r_type[i]), int(r_code[i])
        if v6icmp[i]:
            state[i] = _STATE_CODE[ICMP6_CODE_STATES.get((t, c)) or ICMP6_STATES.get(t, "UNK")]
        elif t == 3:
            state[i] = _STATE_CODE[ICMP4_UNREACH.get(c, "URN")]
        else:
            state[i] = _STATE_CODE[ICMP4_STATES.get(t, "")]

    stime = acc["stime"].astype(np.int64).to_numpy()
    ltime = acc["ltime"].astype(np.int64).to_numpy()
    dur_us = ltime - stime
    dur = dur_us / US
    nrec = acc["nrec"].astype(np.float64).to_numpy()
    dsum = acc["dsum"].astype(np.float64).to_numpy() / US
    dsq = acc["dsq"].astype(np.float64).to_numpy() / (US * US)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(nrec > 0, dsum / nrec, 0.0)
        ssum = acc["ssum"].astype(np.float64).fillna(0).to_numpy() if "ssum" in acc else np.zeros(n)
        sn = acc["sn"].astype(np.float64).fillna(0).to_numpy() if "sn" in acc else np.zeros(n)
        ssd = acc["ssd"].astype(np.float64).fillna(0).to_numpy() if "ssd" in acc else np.zeros(n)
        var = np.where(nrec > 0, dsq / nrec - mean * mean, 0.0)
        rate = np.where(dur_us > 0, (pkts - 1) / dur, 0.0)
        s_span = (acc["s_last"].astype(np.float64).to_numpy() - acc["s_first"].astype(np.float64).to_numpy()) / US
        d_span = (acc["d_last"].astype(np.float64).to_numpy() - acc["d_first"].astype(np.float64).to_numpy()) / US
        # racluster: (packets - 1) / the direction's merged span (see _direction_slots)
        s_den = np.nan_to_num(s_span)
        d_den = np.nan_to_num(d_span)
        srate = np.where((spkts > 1) & (s_den > 0), (spkts - 1) / s_den, 0.0)
        drate = np.where((dpkts > 1) & (d_den > 0), (dpkts - 1) / d_den, 0.0)
    stddev = np.sqrt(np.maximum(var, 0.0))
    stddev = np.where(nrec > 1, stddev, 0.0)
    # racluster's own mean and stddev: float32 running sum / n, float32 fold (record by record)
    folded = sn == nrec
    mean = np.where(folded & (nrec > 0), ssum / np.maximum(nrec, 1), mean)
    stddev = np.where(folded & (nrec > 1), ssd, stddev)
    dmin = acc["dmin"].astype(np.float64).to_numpy() / US
    dmax = acc["dmax"].astype(np.float64).to_numpy() / US
    zt = ltime < US
    if zt.any():
        # a row stamped entirely in the first second of the epoch: Argus holds no time for it (a
        # direction's start stays unset while its seconds are 0, _irregular_starts); racluster
        # prints 4026531839 (0xEFFFFFFF) as start and end of such a row with packets both ways, 0
        # for a one-way one, no duration and no rates (measured, flowgen.sc_clock_zero)
        t0 = np.where((spkts > 0) & (dpkts > 0), ARGUS_UNSET_TIME_US, 0)
        stime, ltime = np.where(zt, t0, stime), np.where(zt, t0, ltime)
        dur, mean, stddev, dsum, dmin, dmax, rate, srate, drate = (
            np.where(zt, 0.0, v) for v in (dur, mean, stddev, dsum, dmin, dmax, rate, srate, drate))

    eth = acc["eth"].astype(np.int64).to_numpy()
    umap = acc["umap"].fillna(0).astype(np.int64).to_numpy() if "umap" in acc else np.zeros(n, dtype=np.int64)
    flgs_code = (eth == 1).astype(np.int64) * 2 + (umap > 0)  # into _FLGS_TABLE

    out = pd.DataFrame({
        "stime": stime / US,
        "ltime": ltime / US,
        "flgs": _coded_str_column(_FLGS_TABLE, flgs_code, []),
        "proto": _coded_str_column(_proto_table(), proto_code, []),
        "saddr": _coded_str_column(*_addr_codes(s_hi, s_lo)[::-1]),
        "sport": _coded_str_column(_port_table(), s_code, s_extra),
        "daddr": _coded_str_column(*_addr_codes(d_hi, d_lo)[::-1]),
        "dport": _coded_str_column(_port_table(), d_code, d_extra),
        "pkts": pkts,
        "bytes": byts,
        "state": _coded_str_column(_STATE_TABLE, state, []),
        "seq": acc["seq"].astype(np.int64).to_numpy(),
        "dur": dur,
        "mean": mean,
        "stddev": stddev,
        "sum": dsum,
        "min": dmin,
        "max": dmax,
        "spkts": spkts,
        "dpkts": dpkts,
        "sbytes": sbytes,
        "dbytes": dbytes,
        "rate": rate,
        "srate": srate,
        "drate": drate,
        "smac": _mac_column(acc["smac"].to_numpy()),
        "dmac": _mac_column(acc["dmac"].to_numpy()),
        "proto_num": np.where(l2k, -1, proto),
    })
    return out.reset_index(drop=True)


def mac_to_str(v: int) -> str:
    """A 48-bit MAC as ra prints it (``argus -m``, racluster ``-n``): six two-digit lower-case hex
    bytes, ``Broadcast`` for ff:ff:ff:ff:ff:ff, empty for -1 (no Ethernet header)."""
    if v < 0:
        return ""
    if v == 0xFFFF_FFFF_FFFF:
        return "Broadcast"
    h = f"{v:012x}"
    return ":".join((h[0:2], h[2:4], h[4:6], h[6:8], h[8:10], h[10:12]))


def _mac_column(values: np.ndarray):
    """The smac/dmac column: each distinct MAC rendered once."""
    codes, uniq = pd.factorize(np.asarray(values, dtype=np.int64))
    return _coded_str_column([mac_to_str(int(v)) for v in uniq], codes)


def _has_non_syn(acc: pd.DataFrame) -> np.ndarray:
    """True for TCP rows that carried a packet without SYN (Argus: established)."""
    return acc["nonsyn"].fillna(0).to_numpy().astype(np.int64) > 0


def flows_from_table(table: PacketTable, **kw) -> pd.DataFrame:
    """All flow rows of one in-memory packet table."""
    b = FlowBuilder(**kw)
    parts = [b.add(table), b.finish()]
    return pd.concat([p for p in parts if len(p)] or [parts[0]], ignore_index=True)
