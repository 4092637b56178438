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
record number, time and interface (:class:`~forensics.decode.PacketStream` then numbers every
row ``record x LEVELS + level``, :func:`~forensics.decode.levelled`, so each keeps a packet number
of its own: a flow's MACs are the first frame's, an inner Ethernet frame's for a VXLAN flow,
none for raw IP inside); ``caplen`` is the inner packet's captured length and
``wirelen`` the record's minus the headers in front of it; ``linktype`` is Ethernet or raw IP.
Accounting (packets, decoded, undecodable) is the records', counted before the rows are added,
so ``len(table)`` exceeds ``accounting.packets`` by the rows added.  A tunnel packet whose
inside does not decode as IP (or, for Ethernet inside, as a frame) adds no row; one whose
transport header is cut short adds an undecodable row, as decode makes for such a record.  IP fragments
of the outer datagram are not reassembled: only a first fragment's inside is read.
"""

from __future__ import annotations

import struct

import numpy as np

from forensics.capture import RecordBatch
from forensics.decode import (_NOT_INNER, _RAW_LTS, _VLAN_TPIDS, LT_EN10MB, LT_IEEE802_11, LT_RAW, OK, R_TRUNC_LINK, _gre_payload,
                              decode_batch, decode_record)
from forensics.packets import PACKET_COLUMN_NAMES, PACKET_DTYPES, PacketTable

VXLAN, GENEVE, GTPU, TEREDO, AYIYA, UDP_GRE = 4789, 6081, 2152, 3544, 5072, 4754
TUNNEL_PORTS = (VXLAN, GENEVE, GTPU, TEREDO, AYIYA, UDP_GRE)
MAX_DEPTH = 4  # tunnels inside tunnels opened (Geneve > VXLAN > ...)
_PORT_LUT = np.zeros(65536, dtype=bool)  # (two gathers per row instead of twelve comparisons)
_PORT_LUT[list(TUNNEL_PORTS)] = True
_ETH_MIN = 14
# an inside that decodes with one of these statuses adds no row (as decode's GRE rules): a
# transport header cut short still does (an undecodable row, counted as decode counts any)
_NOT_OPENED = (*_NOT_INNER, R_TRUNC_LINK)
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
    (it remembers the Teredo clients seen, so a chunk boundary changes nothing).

    VXLAN, Geneve and GTP-U without extension headers, over Ethernet (VLAN tags too) or raw IP
    and a plain IPv4 / IPv6 header, are opened for a whole batch at once: the packets inside
    become a :class:`RecordBatch` over the same bytes, decoded by decode's vectorised path (and
    opened again, for tunnels inside).  Every other case goes packet by packet through dpkt
    (:meth:`_inside`); both give the same rows (``tests/test_tunnels.py``)."""

    def __init__(self, vectorised: bool = True):
        self.teredo_clients: set[tuple[int, int, int]] = set()  # (address hi, lo, port)
        self.vectorised = vectorised
        # UDP datagrams whose inside was opened, as (src hi, lo, sport, dst hi, lo, dport): their
        # flows are tunnels, judged by the flows inside them (:meth:`carrier_keys`)
        self.carriers: set[tuple[int, int, int, int, int, int]] = set()

    def _carried(self, c, rows) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        rows = rows[c["proto"][rows] == 17]
        if len(rows):
            self.carriers.update(_carrier_keys(c, rows)[0])

    def carrier_keys(self) -> set[tuple[str, str, str, str]]:
        """The tunnels' UDP flows as (saddr, sport, daddr, dport) the way flow rows print them,
        in both orientations."""
        return {printed for key in self.carriers for printed in _printed_both_ways(key)}

    def open(self, batch: RecordBatch, table: PacketTable) -> PacketTable:
        return self._open(batch, table, 1)[0]

    def _open(self, batch: RecordBatch, table: PacketTable, depth: int) -> tuple[PacketTable, np.ndarray]:
        """``table`` (the rows of ``batch``) with the rows inside its tunnels added, and for each
        row the position in ``table`` of the record it comes from."""
        c = table.columns
        n = len(table)
        same = np.arange(n, dtype=np.int64)
        first, udp, port = _first_udp_port(c)
        ipip = first & ((c["proto"] == 4) | (c["proto"] == 41) | (c["proto"] == 47))
        if not (udp.any() or ipip.any()):
            return table, same
        cand = (udp & port) | ipip
        teredo_seen = (udp & ((c["sport"] == TEREDO) | (c["dport"] == TEREDO))).any()
        if self.teredo_clients or teredo_seen:  # datagrams of a Teredo client to and from any port
            head = c["udp_head"]
            cand |= udp & ~port & (((head >> 12) == 6) | (head == 0) | (head == 1))
        rows = np.flatnonzero(cand)
        if not len(rows):
            return table, same
        parts: list[tuple[np.ndarray, dict]] = []  # (parent positions, columns) of added rows
        slow = rows
        if self.vectorised:
            got = _vector_inner(batch, table, rows)
            if got is not None:
                sub, parent, slow = got
                if len(sub):
                    inner = decode_batch(sub, True, open_links=True)
                    ok = ~np.isin(inner.columns["status"], _NOT_OPENED)
                    if not ok.all():
                        keep = np.flatnonzero(ok)
                        sub, inner, parent = _take_batch(sub, keep), inner.take(keep), parent[keep]
                    if len(inner):
                        self._carried(c, parent)
                        if depth < MAX_DEPTH:
                            inner, up = self._open(sub, inner, depth + 1)
                            parent = parent[up]
                        parts.append((parent, inner.columns))
        added: list[tuple[int, dict]] = []  # (parent position, columns), packet by packet
        for i in slow.tolist():
            sp, dp = int(c["sport"][i]), int(c["dport"][i])
            src = (int(c["src_hi"][i]), int(c["src_lo"][i]))
            dst = (int(c["dst_hi"][i]), int(c["dst_lo"][i]))
            if not ipip[i] and sp not in _BY_PORT and dp not in _BY_PORT \
                    and (*src, sp) not in self.teredo_clients and (*dst, dp) not in self.teredo_clients:
                continue
            lt, buf = int(c["linktype"][i]), batch.record(i)
            base = {k: c[k][i] for k in ("index", "ts_ns", "iface")}
            wire_extra = int(c["wirelen"][i]) - int(c["caplen"][i])
            for cols in self._inside(lt, buf, src, sp, dst, dp, depth):
                cols.update(base)
                cols["wirelen"] = max(cols["caplen"] + wire_extra, cols["caplen"])
                added.append((i, cols))
        if added:  # (their carriers: recorded by _inside)
            parts.append((np.array([i for i, _ in added], dtype=np.int64),
                          {name: np.array([cols[name] for _, cols in added], dtype=PACKET_DTYPES[name])
                           for name in PACKET_COLUMN_NAMES}))
        if not parts:
            return table, same
        # each added row right after its record's row (and after the rows added before it)
        parents = np.concatenate([same, *(p for p, _ in parts)])
        keys = parents * 2 + np.concatenate([np.zeros(n, dtype=np.int64), np.ones(len(parents) - n, dtype=np.int64)])
        order = np.argsort(keys, kind="stable")
        out = {name: np.concatenate([c[name], *(cols[name] for _, cols in parts)])[order] for name in PACKET_COLUMN_NAMES}
        return PacketTable(out), parents[order]

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
        if dec.get("status", OK) in _NOT_OPENED:
            return []
        cols = _defaults()
        cols.update(dec)
        cols["caplen"], cols["linktype"] = len(inner), ilt
        out = [cols]
        # (the datagram or IP-in-IP packet that carried this one: its flow is a tunnel's)
        self.carriers.add((*src, sp if sp >= 0 else NO_PORT, *dst, dp if dp >= 0 else NO_PORT))
        if depth < MAX_DEPTH and cols["status"] == OK and cols["frag_off"] == 0 and cols["proto"] in (4, 17, 41):
            isrc, idst = (cols["src_hi"], cols["src_lo"]), (cols["dst_hi"], cols["dst_lo"])
            isp, idp = int(cols["sport"]), int(cols["dport"])
            if cols["proto"] != 17 or isp in _BY_PORT or idp in _BY_PORT or (*isrc, isp) in self.teredo_clients \
                    or (*idst, idp) in self.teredo_clients:
                out += self._inside(ilt, inner, isrc, isp, idst, idp, depth + 1)
        return out


def _first_udp_port(c: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(decoded first fragments, those that are UDP, rows with a tunnel port on either end)."""
    first = (c["status"] == OK) & (c["frag_off"] == 0)
    return first, first & (c["proto"] == 17), _PORT_LUT[c["sport"]] | _PORT_LUT[c["dport"]]


def _kind(sp: np.ndarray, dp: np.ndarray) -> np.ndarray:
    """The tunnel port of each datagram, as :meth:`TunnelOpener._inside` tries it first."""
    return np.where(np.isin(dp, TUNNEL_PORTS), dp, sp)


def _take_batch(b: RecordBatch, keep: np.ndarray) -> RecordBatch:
    return RecordBatch(data=b.data, index=b.index[keep], ts_ns=b.ts_ns[keep], caplen=b.caplen[keep],
                       wirelen=b.wirelen[keep], iface=b.iface[keep], linktype=b.linktype[keep], offset=b.offset[keep])


def _vector_inner(batch: RecordBatch, table: PacketTable, rows: np.ndarray):
    """For the candidate ``rows``: (a RecordBatch of the packets inside the VXLAN, Geneve and
    plain GTP-U ones that open, the position of each one's record, the rows left to
    :meth:`TunnelOpener._inside`), or None when the bytes cannot be viewed (a batch without
    its buffer).  A row whose tunnel header does not open is in neither, as :meth:`_inside`
    would add nothing for it."""
    data = batch.data
    if not isinstance(data, (bytes, bytearray, memoryview)) or not len(data):
        return None
    buf = np.frombuffer(data, dtype=np.uint8)
    last = len(buf) - 1
    c = table.columns
    off = batch.offset[rows].astype(np.int64)
    cap = batch.caplen[rows].astype(np.int64)
    lt = c["linktype"][rows].astype(np.int64)

    def b(pos):  # byte at ``pos`` of each record (0 past its end)
        return np.where(pos < cap, buf[np.minimum(off + pos, last)], 0).astype(np.int64)

    def b16(pos):
        return (b(pos) << 8) | b(pos + 1)

    eth = lt == LT_EN10MB
    raw = np.isin(lt, _RAW_LTS)
    l3 = np.where(eth, 14, 0).astype(np.int64)
    et = np.where(eth, b16(12), 0)
    for _ in range(2):  # up to two VLAN tags
        tag = eth & np.isin(et, _VLAN_TPIDS)
        et = np.where(tag, b16(l3 + 2), et)
        l3 = np.where(tag, l3 + 4, l3)
    ver = b(l3) >> 4
    v4 = ((eth & (et == 0x0800)) | raw) & (ver == 4)
    v6 = ((eth & (et == 0x86DD)) | raw) & (ver == 6)
    l4 = np.where(v4, l3 + (b(l3) & 0x0F) * 4, l3 + 40)
    proto = np.where(v4, b(l3 + 9), b(l3 + 6))
    iplen = np.where(v4, b16(l3 + 2), b16(l3 + 4) + 40)
    end = np.where(iplen > 0, np.minimum(cap, l3 + iplen), cap)
    p0 = l4 + 8
    simple = (v4 | v6) & (proto == 17) & (end >= p0 + 8)
    sp, dp = c["sport"][rows].astype(np.int64), c["dport"][rows].astype(np.int64)
    kind = _kind(sp, dp)
    other = np.where(kind == dp, sp, dp)
    vec = simple & np.isin(kind, (VXLAN, GENEVE, GTPU))
    f0 = b(p0)
    inner = np.full(len(rows), -1, dtype=np.int64)
    ilt = np.full(len(rows), LT_RAW, dtype=np.int64)
    # VXLAN: the I flag, an Ethernet frame after 8 bytes
    m = vec & (kind == VXLAN)
    ok = m & ((f0 & 0x08) != 0) & (end >= p0 + 8 + _ETH_MIN)
    inner = np.where(ok, p0 + 8, inner)
    ilt = np.where(m, LT_EN10MB, ilt)
    # Geneve: version 0, 8 bytes + options, protocol type
    m = vec & (kind == GENEVE)
    gt = b16(p0 + 2)
    hl = p0 + 8 + (f0 & 0x3F) * 4
    ok = m & ((f0 >> 6) == 0) & np.isin(gt, (0x6558, 0x0800, 0x86DD)) & (end > hl)
    inner = np.where(ok, hl, inner)
    ilt = np.where(m & (gt == 0x6558), LT_EN10MB, ilt)
    # GTP-U: version 1, PT, T-PDU; 12 bytes with E/S/PN (extension headers: packet by packet)
    m = vec & (kind == GTPU)
    opt = (f0 & 0x07) != 0
    ext = m & opt & (b(p0 + 11) != 0) & (end >= p0 + 12)
    hl = np.where(opt, p0 + 12, p0 + 8)
    ok = m & ~ext & ((f0 >> 5) == 1) & ((f0 & 0x10) != 0) & (b(p0 + 1) == 0xFF) & (end > hl)
    inner = np.where(ok, hl, inner)
    # raw IP inside: version 4 or 6 (as _ip_inside)
    iv = b(np.maximum(inner, 0)) >> 4
    opened = (inner >= 0) & ((ilt == LT_EN10MB) | np.isin(iv, (4, 6)))
    # what does not open here: packet by packet when the other port names a tunnel too (_inside
    # tries it next) or the case is not one of these; else nothing
    to_slow = ~vec | ext | (~opened & np.isin(other, TUNNEL_PORTS))
    k = np.flatnonzero(opened)
    at = rows[k]
    start = inner[k]
    sub = RecordBatch(data=data, index=batch.index[at], ts_ns=batch.ts_ns[at],
                      caplen=(end[k] - start).astype(np.uint32),
                      # (as _inside: the record's uncaptured bytes added to what the inside holds)
                      wirelen=np.maximum(end[k] - start + batch.wirelen[at].astype(np.int64) - cap[k],
                                         end[k] - start).astype(np.uint32),
                      iface=batch.iface[at], linktype=ilt[k].astype(np.uint16), offset=off[k] + start)
    return sub, at.astype(np.int64), rows[to_slow & ~opened]


NO_PORT = 1 << 32  # the ports of an IP-in-IP carrier's key (its flow has none: printed empty)


def _carrier_keys(c, rows: np.ndarray) -> tuple[list[tuple[int, ...]], np.ndarray]:
    """The distinct (src hi, lo, sport, dst hi, lo, dport) of packet rows ``rows`` (ports
    :data:`NO_PORT` for IP in IP and GRE), and for each the position in ``rows`` of its first row."""
    keys = np.stack([c[k][rows].astype(np.uint64) for k in ("src_hi", "src_lo", "sport", "dst_hi", "dst_lo", "dport")],
                    axis=1)
    portless = np.isin(c["proto"][rows], (4, 41, 47))
    if portless.any():
        keys[portless, 2] = keys[portless, 5] = NO_PORT
    keys, first = np.unique(keys, axis=0, return_index=True)
    return list(map(tuple, keys.tolist())), first


def _printed_both_ways(key: tuple[int, ...]) -> tuple[tuple[str, str, str, str], tuple[str, str, str, str]]:
    """A carrier key as flow rows print it, (saddr, sport, daddr, dport), in both orientations."""
    from forensics.packets import addr_to_str

    sh, sl, sp, dh, dl, dp = key
    a, b = addr_to_str(sh, sl), addr_to_str(dh, dl)
    sp, dp = ("" if p == NO_PORT else str(p) for p in (sp, dp))
    return (a, sp, b, dp), (b, dp, a, sp)


# what a capture read without --open-tunnels is told about the tunnels it holds
_KIND_NAMES = {VXLAN: "VXLAN", GENEVE: "Geneve", GTPU: "GTP-U", TEREDO: "Teredo", AYIYA: "AYIYA", UDP_GRE: "GRE-in-UDP"}
_LINK_NAMES = {0x8903: "FabricPath", 0x88E7: "PBB", 0x8926: "VN-tag"}
CHECK_ONE_BY_ONE = 256  # packets of the kinds not opened a batch at once, checked per capture


class TunnelCounter:
    """Counts, in a capture read in Argus's view, the packets ``--open-tunnels`` would open, so
    that its accounting can say so (:meth:`message`): a VXLAN or GTP capture otherwise shows a
    few flows between tunnel end points and nothing of the hosts inside.  VXLAN, Geneve, GTP-U,
    IP in IP and the link headers are counted exactly (vectorised); Teredo, AYIYA and GRE in UDP
    by checking their first :data:`CHECK_ONE_BY_ONE` candidates one by one (at least)."""

    def __init__(self):
        self.counts: dict[str, int] = {}
        self._checks = 0
        self._opener = TunnelOpener()
        # the UDP flows that carry them: (src_hi, src_lo, sport, dst_hi, dst_lo, dport) -> kind name
        self.carriers: dict[tuple[int, int, int, int, int, int], str] = {}

    def _carried(self, c, rows: np.ndarray, names) -> None:
        keys, first = _carrier_keys(c, rows)
        for key, name in zip(keys, np.asarray(names, dtype=object)[first].tolist()):
            self.carriers.setdefault(key, name)

    def carrier_kinds(self) -> dict[tuple[str, str, str, str], str]:
        """The UDP flows that carry what was counted, as (saddr, sport, daddr, dport) the way flow
        rows print them (both orientations) -> the kind (VXLAN, GTP-U, ...).  Teredo, AYIYA and GRE
        in UDP only as far as they were checked (:data:`CHECK_ONE_BY_ONE`)."""
        out = {}
        for key, name in self.carriers.items():
            for printed in _printed_both_ways(key):
                out.setdefault(printed, name)
        return out

    def _add(self, name: str, n: int) -> None:
        if n:
            self.counts[name] = self.counts.get(name, 0) + int(n)

    def count(self, batch: RecordBatch, table: PacketTable) -> None:
        c = table.columns
        et = c["ethertype"]
        odd = np.flatnonzero(et >= 0x88E7)  # (the link headers counted are all at or above: then the few)
        if len(odd):
            for code, name in _LINK_NAMES.items():
                self._add(name, np.count_nonzero(et[odd] == code))
        first, udp, port = _first_udp_port(c)
        ipip = np.flatnonzero(first & ((c["proto"] == 4) | (c["proto"] == 41)))
        if len(ipip):
            self._add("IP in IP", len(ipip))
            self._carried(c, ipip, np.full(len(ipip), "IP in IP", dtype=object))
        rows = np.flatnonzero(udp & port)
        if not len(rows):
            return
        got = _vector_inner(batch, table, rows)
        if got is None:
            return
        sub, at, slow = got
        if len(at):
            kind = _kind(c["sport"][at].astype(np.int64), c["dport"][at].astype(np.int64))
            codes, inverse, counts = np.unique(kind, return_inverse=True, return_counts=True)
            for k, n in zip(codes.tolist(), counts.tolist()):
                self._add(_KIND_NAMES[int(k)], n)
            self._carried(c, at, np.asarray([_KIND_NAMES[int(k)] for k in codes.tolist()], dtype=object)[inverse])
        for i in slow[: max(0, CHECK_ONE_BY_ONE - self._checks)].tolist():
            self._checks += 1
            sp, dp = int(c["sport"][i]), int(c["dport"][i])
            src, dst = (int(c["src_hi"][i]), int(c["src_lo"][i])), (int(c["dst_hi"][i]), int(c["dst_lo"][i]))
            if self._opener._inside(int(c["linktype"][i]), batch.record(i), src, sp, dst, dp, MAX_DEPTH):
                k = dp if dp in _KIND_NAMES else sp
                self._add(_KIND_NAMES.get(k, "tunnel"), 1)
                self._carried(c, np.array([i]), [_KIND_NAMES.get(k, "tunnel")])

    def message(self) -> str | None:
        if not self.counts:
            return None
        n = sum(self.counts.values())
        kinds = ", ".join(f"{name} {k:,}" for name, k in sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0])))
        return (f"{n:,} packet(s) carry tunnels or link headers that Argus leaves closed ({kinds}): their outer "
                "packets make the flows; --open-tunnels also builds the flows inside them")
