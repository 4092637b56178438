"""Opening UDP tunnels the way Zeek does (``--open-tunnels``), a stage between decode and flows.

Argus 3.0.8, and so BoT-IoT and this tool by default, counts a tunnelled packet once, in the
outer UDP flow between the tunnel's end points (GRE, which Argus opens, aside: see
:mod:`forensics.decode`).  Zeek logs that outer connection *and* the connection of the packet
inside.  With ``open_tunnels`` the packet table gets, right after the row of each record that
carries one of these, a row for the packet inside (and for a packet inside that one: GTP
carrying Teredo, Geneve carrying VXLAN), so flows are built for both levels:

============  ==========================  ===========================================
tunnel        recognised by               inside
============  ==========================  ===========================================
VXLAN         UDP port 4789, I flag       Ethernet frame after 8 bytes
Geneve        UDP port 6081, version 0    Ethernet (0x6558) or IP after 8 + options
GTP-U (v1)    UDP port 2152, T-PDU (255)  IP after 8 bytes (12 with E/S/PN, extensions)
Teredo        UDP port 3544, and any      IPv6 (after authentication / origin
              port of an end point seen   indication headers) whose payload length
              as a Teredo client          fills the datagram exactly
AYIYA         UDP port 5072, forward (1)  IPv4 (next header 4) or IPv6 (41) after
                                          8 bytes + identity + signature
GRE in UDP    UDP port 4754               GRE header, then what decode opens in GRE
IP in IP      IPv4 protocol 4 or 41,      the IPv4 or IPv6 packet (the outer flow is
              IPv6 next header 4 or 41    Argus's ``ipnip`` / ``ipv6`` one)
Aruba GRE     GRE protocol 0x8200-0x8300  an 802.11 frame after the GRE header (an
              (left closed by GRE rules)  A-MSDU: its first subframe)
============  ==========================  ===========================================

A port counts on either end (replies come from it).  The added rows keep their record's
``index``, time and interface; ``caplen`` is the inner packet's captured length and
``wirelen`` the record's minus the headers in front of it; ``linktype`` is Ethernet or raw IP.
Accounting (packets, decoded, undecodable) is the records', counted before the rows are added,
so ``len(table)`` exceeds ``accounting.packets`` by the rows added.  A tunnel packet whose
inside does not decode as IP (or, for Ethernet inside, as a frame) adds no row.  IP fragments
of the outer datagram are not reassembled: only a first fragment's inside is read.
"""

from __future__ import annotations

import struct

import numpy as np

from forensics.capture import RecordBatch
from forensics.decode import _NOT_INNER, LT_EN10MB, LT_IEEE802_11, LT_RAW, OK, _gre_payload, decode_record
from forensics.packets import PACKET_COLUMN_NAMES, PACKET_DTYPES, PacketTable

VXLAN, GENEVE, GTPU, TEREDO, AYIYA, UDP_GRE = 4789, 6081, 2152, 3544, 5072, 4754
TUNNEL_PORTS = (VXLAN, GENEVE, GTPU, TEREDO, AYIYA, UDP_GRE)
MAX_DEPTH = 4  # tunnels inside tunnels opened (Geneve > VXLAN > ...)
_ETH_MIN = 14
_IP_ET = {0x0800: LT_RAW, 0x86DD: LT_RAW, 0x6558: LT_EN10MB}


def _ip_inside(body: bytes):
    if body and body[0] >> 4 in (4, 6):
        return LT_RAW, body
    return None


def vxlan(p: bytes):
    if len(p) < 8 + _ETH_MIN or not p[0] & 0x08:
        return None
    return LT_EN10MB, p[8:]


def geneve(p: bytes):
    if len(p) < 8 or p[0] >> 6 != 0:
        return None
    hl = 8 + (p[0] & 0x3F) * 4
    lt = _IP_ET.get(int.from_bytes(p[2:4], "big"))
    if lt is None or len(p) <= hl:
        return None
    return (LT_EN10MB, p[hl:]) if lt == LT_EN10MB else _ip_inside(p[hl:])


def gtpu(p: bytes):
    """GTPv1-U T-PDU (TS 29.281): flags (version 1, PT 1), type 255, length, TEID; with any of
    E, S, PN a 4-byte field whose last byte starts the extension header chain."""
    if len(p) < 8 or p[0] >> 5 != 1 or not p[0] & 0x10 or p[1] != 0xFF:
        return None
    hl = 8
    if p[0] & 0x07:
        if len(p) < 12:
            return None
        hl, nxt = 12, p[11]
        while nxt:
            if len(p) <= hl:
                return None
            n = p[hl] * 4
            if n == 0 or len(p) < hl + n:
                return None
            nxt = p[hl + n - 1]
            hl += n
    return _ip_inside(p[hl:])


def teredo(p: bytes):
    """RFC 4380: an optional authentication header (0x0001, id and auth lengths, nonce,
    confirmation) and origin indication (0x0000, 6 bytes more), then an IPv6 packet whose
    payload length accounts for the rest of the datagram exactly (Zeek's test)."""
    pos = 0
    if p[:2] == b"\x00\x01" and len(p) >= 4:
        pos = 4 + p[2] + p[3] + 9
    if p[pos:pos + 2] == b"\x00\x00":
        pos += 8
    ip = p[pos:]
    if len(ip) < 40 or ip[0] >> 4 != 6 or struct.unpack(">H", ip[4:6])[0] + 40 != len(ip):
        return None
    return LT_RAW, ip


def ayiya(p: bytes):
    """AYIYA: identity length (log2) / type, signature length (4-byte words) / hash, auth /
    opcode (1: forward), next header (4 IPv4, 41 IPv6), epoch time, identity, signature."""
    if len(p) < 8 or (p[2] & 0x0F) != 1 or p[3] not in (4, 41):
        return None
    hl = 8 + (1 << (p[0] >> 4)) + (p[1] >> 4) * 4
    return _ip_inside(p[hl:]) if len(p) > hl else None


def udp_gre(p: bytes):
    got = _gre_payload(p)
    if got is None:
        return None
    kind, _, body = got
    return (LT_EN10MB, body) if kind == "eth" else _ip_inside(body)


def aruba_gre(p: bytes):
    """GRE protocols 0x8200-0x8300 (Aruba access points; Zeek's range): an 802.11 frame after
    the GRE header (which Argus, and :mod:`forensics.decode`, leave closed)."""
    if len(p) < 4 or not 0x8200 <= int.from_bytes(p[2:4], "big") <= 0x8300:
        return None
    flags = int.from_bytes(p[:2], "big")
    hl = 4 + 4 * bool(flags & 0xC000) + 4 * bool(flags & 0x2000) + 4 * bool(flags & 0x1000)
    return (LT_IEEE802_11, p[hl:]) if len(p) >= hl + 24 else None


_BY_PORT = {VXLAN: vxlan, GENEVE: geneve, GTPU: gtpu, TEREDO: teredo, AYIYA: ayiya, UDP_GRE: udp_gre}


def _defaults() -> dict:
    d = {name: 0 for name in PACKET_COLUMN_NAMES}
    d.update(icmp_type=-1, icmp_code=-1, q_proto=-1, udp_head=-1)
    return d


class TunnelOpener:
    """Adds the rows of tunnelled packets to decoded tables, chunk after chunk of one capture
    (it remembers the Teredo clients seen, so a chunk boundary changes nothing)."""

    def __init__(self):
        self.teredo_clients: set[tuple[int, int, int]] = set()  # (address hi, lo, port)
        self.opened = 0  # rows added so far

    def open(self, batch: RecordBatch, table: PacketTable) -> PacketTable:
        c = table.columns
        first = (c["status"] == OK) & (c["frag_off"] == 0)
        udp = first & (c["proto"] == 17)
        ipip = first & ((c["proto"] == 4) | (c["proto"] == 41) | (c["proto"] == 47))
        if not (udp.any() or ipip.any()):
            return table
        port = np.zeros(len(table), dtype=bool)
        for p in TUNNEL_PORTS:
            port |= (c["sport"] == p) | (c["dport"] == p)
        cand = (udp & port) | ipip
        teredo_seen = (udp & ((c["sport"] == TEREDO) | (c["dport"] == TEREDO))).any()
        if self.teredo_clients or teredo_seen:  # datagrams of a Teredo client to and from any port
            head = c["udp_head"]
            cand |= udp & ~port & (((head >> 12) == 6) | (head == 0) | (head == 1))
        rows = np.flatnonzero(cand)
        if not len(rows):
            return table
        added: list[tuple[int, int, dict]] = []  # (outer row, level, columns)
        for i in rows.tolist():
            sp, dp = int(c["sport"][i]), int(c["dport"][i])
            src = (int(c["src_hi"][i]), int(c["src_lo"][i]))
            dst = (int(c["dst_hi"][i]), int(c["dst_lo"][i]))
            if not ipip[i] and sp not in _BY_PORT and dp not in _BY_PORT \
                    and (*src, sp) not in self.teredo_clients and (*dst, dp) not in self.teredo_clients:
                continue
            lt, buf = int(c["linktype"][i]), batch.record(i)
            base = {k: c[k][i] for k in ("index", "ts_ns", "iface")}
            wire_extra = int(c["wirelen"][i]) - int(c["caplen"][i])
            for level, cols in enumerate(self._inside(lt, buf, src, sp, dst, dp, 1), 1):
                cols.update(base)
                cols["wirelen"] = max(cols["caplen"] + wire_extra, cols["caplen"])
                added.append((i, level, cols))
        if not added:
            return table
        self.opened += len(added)
        n, m = len(table), len(added)
        keys = np.concatenate([np.arange(n, dtype=np.int64) * (MAX_DEPTH + 1),
                               np.array([i * (MAX_DEPTH + 1) + lv for i, lv, _ in added], dtype=np.int64)])
        order = np.argsort(keys, kind="stable")
        out = {}
        for name in PACKET_COLUMN_NAMES:
            extra = np.array([cols[name] for _, _, cols in added], dtype=PACKET_DTYPES[name])
            out[name] = np.concatenate([c[name], extra])[order]
        assert len(out["index"]) == n + m
        return PacketTable(out)

    def _inside(self, lt: int, buf: bytes, src, sp: int, dst, dp: int, depth: int) -> list[dict]:
        """Rows of the packets inside the UDP datagram ``buf`` (a record of link type ``lt``),
        outermost first."""
        payload: list = []
        try:
            dec = decode_record(lt, buf, True, payload)
        except Exception:  # dpkt can raise more than it documents
            return []
        if not payload:
            return []
        p = payload[-1]
        got = None
        teredo_port = False
        if dec.get("proto") in (4, 41, 47):  # IP in IP (4 IPv4, 41 IPv6), GRE left closed (47)
            got = _ip_inside(p) if dec["proto"] != 47 else aruba_gre(p)
            sp = dp = -1
        for port in (dp, sp):
            f = _BY_PORT.get(port)
            if f is not None:
                got = f(p)
                teredo_port = port == TEREDO
                if got is not None:
                    break
        if got is None and sp >= 0 and ((*src, sp) in self.teredo_clients or (*dst, dp) in self.teredo_clients):
            got = teredo(p)
        if got is None:
            return []
        if teredo_port:  # the client end of a Teredo exchange with a server or relay
            self.teredo_clients.add((*src, sp) if dp == TEREDO else (*dst, dp))
        ilt, inner = got
        try:
            dec = decode_record(ilt, inner, True)
        except Exception:
            return []
        if dec.get("status", OK) in _NOT_INNER or (ilt != LT_RAW and dec.get("status", OK) != OK):
            return []
        cols = _defaults()
        cols.update(dec)
        cols["caplen"], cols["linktype"] = len(inner), ilt
        out = [cols]
        if depth < MAX_DEPTH and cols["status"] == OK and cols["frag_off"] == 0 and cols["proto"] in (4, 17, 41):
            isrc, idst = (cols["src_hi"], cols["src_lo"]), (cols["dst_hi"], cols["dst_lo"])
            isp, idp = int(cols["sport"]), int(cols["dport"])
            if cols["proto"] != 17 or isp in _BY_PORT or idp in _BY_PORT or (*isrc, isp) in self.teredo_clients \
                    or (*idst, idp) in self.teredo_clients:
                out += self._inside(ilt, inner, isrc, isp, idst, idp, depth + 1)
        return out
