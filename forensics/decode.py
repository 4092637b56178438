"""Header decoding: framed records -> the columnar :class:`PacketTable`.

Two paths produce the same columns:

* the **fast path** (numpy, vectorised over a batch) handles the common case:
  Ethernet with up to two VLAN tags, Linux SLL/SLL2, BSD NULL/loopback and raw
  IP link types; IPv4 (any header length, fragments) and IPv6 without extension
  headers; TCP, UDP, ICMP, ICMPv6 and other IP protocols;
* **dpkt**, the decoder of record, handles every other record (MPLS, PPPoE,
  ARP, IPv6 extension headers, GRE, anything malformed) one by one.

GRE over IPv4 is decapsulated the way Argus 3.0.8 does it (measured, see
:func:`_gre_payload`): the fast path sends every IPv4 protocol-47 first fragment
to dpkt, which decodes the inner packet (IPv4, IPv6, Ethernet, ERSPAN II, PPP,
MPLS; GRE inside it again) into the record's columns while the record keeps its
wire length and link layer; what Argus leaves closed stays the outer GRE packet.

``tests/test_decode.py`` decodes every generated capture and the corpus both
ways (``fast=False`` sends every record through dpkt) and requires the two
tables to agree column by column on every packet.

Non-first IPv4 fragments carry no transport header.  They are attributed
to the flow of their first fragment (same addresses, protocol and IP id) when
that was seen earlier, taking its ports / ICMP type and code, the way Argus and
Zeek account fragments to the connection they belong to.  Non-first IPv6 fragments
are keyed the way Argus 3.0.8 keys them: by their fragment identification
(:func:`_v6_fragment_key`, measured), in a flow of their own.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from forensics.capture import Accounting, RecordBatch, frame
from forensics.clock import ClockWatch
from forensics.copies import CopyWatch
from forensics.packets import PACKET_DTYPES, REASON_CODES, UNDECODABLE_REASONS, PacketTable, isin_few

# link types
LT_NULL, LT_EN10MB, LT_RAW_OLD, LT_RAW_OBSD, LT_RAW, LT_LOOP = 0, 1, 12, 14, 101, 108
LT_SLL, LT_IPV4, LT_IPV6, LT_SLL2 = 113, 228, 229, 276
LT_IEEE802_11, LT_RADIOTAP = 105, 127
SUPPORTED_LINKTYPES = {
    LT_NULL: "NULL (BSD loopback)",
    LT_EN10MB: "Ethernet",
    LT_RAW_OLD: "raw IP",
    LT_RAW_OBSD: "raw IP (OpenBSD)",
    LT_RAW: "raw IP",
    LT_LOOP: "OpenBSD loopback",
    LT_SLL: "Linux cooked (SLL)",
    LT_IPV4: "raw IPv4",
    LT_IPV6: "raw IPv6",
    LT_SLL2: "Linux cooked v2 (SLL2)",
    LT_IEEE802_11: "IEEE 802.11",
    LT_RADIOTAP: "802.11 with radiotap header",
}
# link-layer bytes Argus does not count in flow bytes (measured); radiotap: its own length field
_LINK_SKIP = np.zeros(65536, dtype=np.uint16)
_LINK_SKIP[[LT_NULL, LT_LOOP]] = 4
_LINK_SKIP[LT_SLL] = 16
_LINK_SKIP[LT_SLL2] = 20
_RAW_LTS = (LT_RAW_OLD, LT_RAW_OBSD, LT_RAW, LT_IPV4, LT_IPV6)
_VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
_AF_INET6 = (10, 24, 28, 30)  # Linux, NetBSD/OpenBSD, FreeBSD, Darwin

PAD = 64  # bytes examined at each layer by the fast path (link, network, transport windows)
SUB = 65_536  # rows decoded together

OK = 0
R_UNKNOWN_LT = REASON_CODES["unknown_link_type"]
R_TRUNC_LINK = REASON_CODES["truncated_link_header"]
R_TRUNC_NET = REASON_CODES["truncated_network_header"]
R_BAD_VER = REASON_CODES["bad_ip_version"]
R_BAD_IP = REASON_CODES["bad_ip_header"]
R_TRUNC_T = REASON_CODES["truncated_transport_header"]
R_BAD_T = REASON_CODES["bad_transport_header"]
R_ZERO = REASON_CODES["zero_length"]
R_DPKT = REASON_CODES["dpkt_error"]

V4_PREFIX = 0xFFFF_0000_0000
# ICMPv4 error types whose body quotes the offending datagram's IP header
ICMP4_ERRORS = (3, 4, 5, 11, 12)


@dataclass
class Decoded:
    table: PacketTable
    accounting: Accounting


class PacketStream:
    """Iterate a capture as PacketTable chunks; ``accounting`` is complete after iteration."""

    def __init__(self, path, chunk_packets: int = 1_000_000, fast: bool = True, open_tunnels: bool = False,
                 hash_file: bool = True, drop_copies: bool = False):
        self.path = str(path)
        self.drop_copies = drop_copies  # (leave the packets forensics.copies finds out of the tables)
        self.hash_file = hash_file  # (False: accounting.sha256 stays None; forensics flows prints none)
        self.chunk_packets = max(1, int(chunk_packets))
        self.fast = fast
        self.open_tunnels = open_tunnels
        # (forensics.tunnels: the opener with open_tunnels, which learns Teredo clients; else
        # the counter of what it would open)
        self._tunnels = None
        self.accounting = Accounting(self.path)
        self._frag = _FragmentTracker()
        self._clock = ClockWatch()
        self._copies = CopyWatch()

    def __iter__(self) -> Iterator[PacketTable]:
        acct = self.accounting
        pending: list[PacketTable] = []
        pending_n = 0
        batch_records = min(self.chunk_packets, 262_144)
        for batch in frame(self.path, acct, batch_records=batch_records, hash_file=self.hash_file):
            table = decode_batch(batch, self.fast, open_links=self.open_tunnels)
            copies = self._account(table)
            # (the records that are copies, left out below once every stage that reads the batch
            # beside the table, row for row, has run: counted in the accounting all the same)
            copies = table.columns["index"][copies] if copies is not None and self.drop_copies else None
            self._frag.attribute(table)
            if self._tunnels is None:
                from forensics.tunnels import TunnelCounter, TunnelOpener

                self._tunnels = TunnelOpener() if self.open_tunnels else TunnelCounter()
            if self.open_tunnels:  # (after the accounting: it counts the capture's records)
                table = levelled(self._tunnels.open(batch, table))
            else:  # what --open-tunnels would open, for a line in the accounting's warnings
                self._tunnels.count(batch, table)
            if copies is not None:
                record = table.columns["index"] // LEVELS if self.open_tunnels else table.columns["index"]
                table = table.take(np.flatnonzero(~np.isin(record, copies)))
            pending.append(table)
            pending_n += len(table)
            if pending_n >= self.chunk_packets:
                out = PacketTable.concat(pending) if len(pending) > 1 else pending[0]
                # only the chunk stays alive while the caller works on it (not its pieces, nor the
                # last raw batch: together as big again as the chunk)
                pending, pending_n, table, batch = [], 0, None, None
                yield out
                out = None
        if pending:
            out = PacketTable.concat(pending) if len(pending) > 1 else pending[0]
            pending = table = None
            yield out
            out = None
        if self.open_tunnels and self._tunnels is not None:
            acct.tunnel_flows = self._tunnels.carrier_keys()
        if not self.open_tunnels and self._tunnels is not None:
            acct.closed_tunnels = self._tunnels.carrier_kinds()
            note = self._tunnels.message()
            if note:
                acct.warn(note)
        for lt, n in acct.linktypes.items():
            if lt not in SUPPORTED_LINKTYPES and not (self.open_tunnels and lt in PPP_LINKTYPES):
                hint = "; --open-tunnels reads it" if lt in PPP_LINKTYPES else ""
                acct.warn(f"{n} record(s) of unsupported link type {lt} counted as undecodable{hint}")
        for note in self._clock.warnings():
            acct.warn(note)
        note = self._copies.warning(dropped=self.drop_copies)
        if note:
            acct.warn(note)
        if acct.packets == 0 and not acct.warnings:
            acct.warn("capture holds no packets")

    def _account(self, t: PacketTable):
        """Count ``t`` in the accounting; returns the mask of its rows that are copies
        (:class:`forensics.copies.CopyWatch`), or None."""
        acct = self.accounting
        n = len(t)
        if not n:
            return None
        acct.packets += n
        status = t.status
        ok = status == OK
        acct.decoded += int(ok.sum())
        if not ok.all():
            for code in np.unique(status[~ok]):
                acct.count_undecodable(UNDECODABLE_REASONS[int(code)], t.index[status == code])
        lts, counts = np.unique(t.linktype, return_counts=True)
        for lt, c in zip(lts.tolist(), counts.tolist()):
            acct.linktypes[lt] = acct.linktypes.get(lt, 0) + c
        ts = t.ts_ns
        self._clock.add(ts, t.index)
        acct.out_of_order = self._clock.back
        copies = self._copies.add(t)
        first, last = int(ts.min()) / 1e9, int(ts.max()) / 1e9
        acct.first_ts = first if acct.first_ts is None else min(acct.first_ts, first)
        acct.last_ts = last if acct.last_ts is None else max(acct.last_ts, last)
        return copies


LEVELS = 8  # with open_tunnels, a row's index is its record's number x LEVELS + its level


def levelled(table: PacketTable) -> PacketTable:
    """``index`` = record number x :data:`LEVELS` + level (0 the record, 1 the packet inside it,
    ...): every row of an opened table keeps its own packet number, which the flow builder
    needs (a flow's MACs are looked up by it), in record order."""
    idx = table.columns["index"]
    n = len(idx)
    first = np.ones(n, dtype=bool)
    first[1:] = idx[1:] != idx[:-1]
    start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    cols = dict(table.columns)
    cols["index"] = idx * LEVELS + (np.arange(n) - start)
    return PacketTable(cols)


def stream_packets(path, chunk_packets: int = 1_000_000, fast: bool = True, open_tunnels: bool = False,
                   hash_file: bool = True, drop_copies: bool = False) -> PacketStream:
    """``open_tunnels``: also open what Zeek opens and Argus does not (:mod:`forensics.tunnels`);
    the table then holds a row per opened layer beside its record's row, and ``index`` is the
    record number x :data:`LEVELS` + the level (:func:`levelled`).  ``hash_file=False``:
    no SHA-256 of the file (``accounting.sha256`` None), for callers that do not report it.
    ``drop_copies``: leave the packets :mod:`forensics.copies` finds to be copies of one just
    before them out of the tables (they are counted in the accounting all the same)."""
    return PacketStream(path, chunk_packets=chunk_packets, fast=fast, open_tunnels=open_tunnels, hash_file=hash_file,
                        drop_copies=drop_copies)


def prefetched(chunks: Iterable, depth: int = 1) -> Iterator:
    """The items of ``chunks``, produced by a thread of their own up to ``depth`` ahead: the next
    chunk of a capture is read and decoded (numpy, mostly without the GIL) while the caller
    builds flows from this one.  An exception in the producer is raised here, at the item it
    failed on; when the caller stops early (an exception, ``close()``), the producer stops after
    the item it is on.  Items are handed over as they are (the producer keeps no reference)."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def produce():
        try:
            for x in chunks:
                if not put(("item", x)):
                    return
                x = None
            put(("done", None))
        except BaseException as exc:  # (MemoryError, CaptureError, ...: the caller's to handle)
            put(("error", exc))

    worker = threading.Thread(target=produce, name="forensics-decode", daemon=True)
    worker.start()
    try:
        while True:
            kind, x = q.get()
            if kind == "done":
                return
            if kind == "error":
                raise x
            yield x
            x = None
    finally:
        stop.set()
        worker.join()


def read_packets(path, fast: bool = True, open_tunnels: bool = False) -> Decoded:
    """Decode a whole capture into one PacketTable (see :func:`stream_packets` for big files)."""
    stream = PacketStream(path, chunk_packets=1 << 62, fast=fast, open_tunnels=open_tunnels)
    tables = list(stream)
    table = tables[0] if len(tables) == 1 else PacketTable.concat(tables)
    return Decoded(table, stream.accounting)


# --------------------------------------------------------------------------------------
# batch decoding


def _empty_columns(batch: RecordBatch) -> dict[str, np.ndarray]:
    n = len(batch)
    cols = {name: np.zeros(n, dtype=dt) for name, dt in PACKET_DTYPES.items()}
    cols["index"] = batch.index
    cols["ts_ns"] = batch.ts_ns
    cols["caplen"] = batch.caplen
    cols["wirelen"] = batch.wirelen
    cols["iface"] = batch.iface
    cols["linktype"] = batch.linktype
    cols["icmp_type"][:] = -1
    cols["icmp_code"][:] = -1
    cols["q_proto"][:] = -1
    cols["udp_head"][:] = -1
    cols["link_skip"][:] = _LINK_SKIP[batch.linktype]
    return cols


def decode_batch(batch: RecordBatch, fast: bool = True, open_links: bool = False) -> PacketTable:
    """``open_links``: also open the link layers Argus keys by MAC (FabricPath, 802.1ah PBB,
    VN-tag) and read the PPP link types, as Zeek does (:func:`open_link_headers`)."""
    cols = _empty_columns(batch)
    n = len(batch)
    if n == 0:
        return PacketTable(cols)
    if fast:
        todo = np.zeros(n, dtype=bool)
        win = _windows(batch)
        for start in range(0, n, SUB):
            sl = slice(start, min(n, start + SUB))
            todo[sl] = _fast(batch, sl, cols, win)
        if open_links:  # (the fast path calls them unknown link types)
            ppp = isin_few(batch.linktype, PPP_LINKTYPES) & (batch.caplen > 0)
            if ppp.any():
                cols["status"][ppp] = OK
                todo |= ppp
        slow_rows = np.flatnonzero(todo)
    else:
        slow_rows = np.arange(n)
    if len(slow_rows):
        _slow(batch, slow_rows, cols, open_links)
    return PacketTable(cols)


def _windows(batch: RecordBatch) -> np.ndarray:
    """A zero-copy (len, PAD) view: row ``o`` is the PAD bytes starting at buffer offset ``o``."""
    buf = np.frombuffer(batch.data + bytes(PAD), dtype=np.uint8)
    return np.lib.stride_tricks.sliding_window_view(buf, PAD)


def _c8(m: np.ndarray, k: int) -> np.ndarray:
    return m[:, k].astype(np.int64)


def _c16(m: np.ndarray, k: int) -> np.ndarray:
    """Big-endian 16-bit field at byte column ``k`` of every row of ``m`` (uint8, rows contiguous), as int64."""
    return m[:, k:k + 2].view(">u2")[:, 0].astype(np.int64)


def _c32(m: np.ndarray, k: int) -> np.ndarray:
    """Big-endian 32-bit field at byte column ``k`` of every row of ``m``, as int64 (see ``_c16``)."""
    return m[:, k:k + 4].view(">u4")[:, 0].astype(np.int64)


def _c64(m: np.ndarray, k: int) -> np.ndarray:
    return (_c32(m, k).astype(np.uint64) << np.uint64(32)) | _c32(m, k + 4).astype(np.uint64)


def _fast(batch: RecordBatch, sl: slice, cols: dict, win: np.ndarray) -> np.ndarray:
    """Decode rows ``sl`` in place; return a mask of rows left for dpkt.

    Three row gathers give every field as a column slice: the link window at
    the record start, the network window at the layer-3 offset and the
    transport window after the IP header.  No byte beyond a record's caplen is
    used without a length check first.
    """
    off = batch.offset[sl]
    last = win.shape[0] - 1
    n = len(off)
    cap = batch.caplen[sl].astype(np.int64)
    lt = batch.linktype[sl].astype(np.int64)
    L = win[off]

    slow = np.zeros(n, dtype=bool)
    status = np.zeros(n, dtype=np.uint8)
    l3 = np.zeros(n, dtype=np.int64)
    etype = np.zeros(n, dtype=np.int64)
    vlan = np.zeros(n, dtype=np.int64)
    smac = np.zeros(n, dtype=np.uint64)
    dmac = np.zeros(n, dtype=np.uint64)

    known = isin_few(lt, SUPPORTED_LINKTYPES)
    status[~known] = R_UNKNOWN_LT
    status[(cap == 0) & known] = R_ZERO
    slow |= (status == OK) & isin_few(lt, (LT_IEEE802_11, LT_RADIOTAP))  # 802.11: dpkt path

    # Ethernet ------------------------------------------------------------------
    eth = (lt == LT_EN10MB) & (status == OK)
    if eth.any():
        short = eth & (cap < 14)
        status[short] = R_TRUNC_LINK
        eth &= ~short
        et = _c16(L, 12)
        tag1 = eth & isin_few(et, _VLAN_TPIDS)
        tag2 = tag1 & isin_few(_c16(L, 16), _VLAN_TPIDS)
        slow |= (tag1 & (cap < 18)) | (tag2 & (cap < 22))  # a tag that does not fit: dpkt
        slow |= tag2 & isin_few(_c16(L, 20), _VLAN_TPIDS)  # a third tag: dpkt
        et = np.where(tag2, _c16(L, 20), np.where(tag1, _c16(L, 16), et))
        etype = np.where(eth, et, etype)
        l3 = np.where(eth, np.where(tag2, 22, np.where(tag1, 18, 14)), l3)
        vlan = np.where(tag1, _c16(L, 14) & 0x0FFF, vlan)
        mac_d = (_c32(L, 0).astype(np.uint64) << np.uint64(16)) | _c16(L, 4).astype(np.uint64)
        mac_s = (_c16(L, 6).astype(np.uint64) << np.uint64(32)) | _c32(L, 8).astype(np.uint64)
        dmac = np.where(eth, mac_d, dmac)
        smac = np.where(eth, mac_s, smac)
        # MPLS, PPPoE, ARP and every other ethertype that is not plain IP: dpkt
        slow |= eth & ~isin_few(etype, (0x0800, 0x86DD))

    # SLL / SLL2 ----------------------------------------------------------------
    for code, hlen, ppos in ((LT_SLL, 16, 14), (LT_SLL2, 20, 0)):
        sel = (lt == code) & (status == OK)
        if sel.any():
            short = sel & (cap < hlen)
            status[short] = R_TRUNC_LINK
            sel &= ~short
            et = _c16(L, ppos)
            etype = np.where(sel, et, etype)
            l3 = np.where(sel, hlen, l3)
            slow |= sel & ~isin_few(et, (0x0800, 0x86DD))

    # NULL / LOOP ---------------------------------------------------------------
    for code in (LT_NULL, LT_LOOP):
        sel = (lt == code) & (status == OK)
        if sel.any():
            short = sel & (cap < 4)
            status[short] = R_TRUNC_LINK
            sel &= ~short
            be = _c32(L, 0)
            le = ((be & 0xFF) << 24) | ((be & 0xFF00) << 8) | ((be >> 8) & 0xFF00) | (be >> 24)
            fam = be if code == LT_LOOP else np.where(be > 0xFFFF, le, be)
            et = np.where(fam == 2, 0x0800, np.where(isin_few(fam, _AF_INET6), 0x86DD, 0))
            etype = np.where(sel, et, etype)
            l3 = np.where(sel, 4, l3)
            slow |= sel & (et == 0)

    # raw IP --------------------------------------------------------------------
    sel = isin_few(lt, _RAW_LTS) & (status == OK)
    if sel.any():
        ver = _c8(L, 0) >> 4
        et = np.where(ver == 4, 0x0800, np.where(ver == 6, 0x86DD, 0))
        et = np.where(lt == LT_IPV4, 0x0800, np.where(lt == LT_IPV6, 0x86DD, et))
        etype = np.where(sel, et, etype)
        l3 = np.where(sel, 0, l3)
        slow |= sel & (et == 0)

    live = (status == OK) & ~slow
    avail3 = cap - l3
    N = win[np.minimum(off + l3, last)]

    # IPv4 / IPv6 ---------------------------------------------------------------
    b0 = _c8(N, 0)
    v4 = live & (etype == 0x0800)
    ihl = (b0 & 0x0F) * 4
    v4_bad = v4 & ((avail3 < 20) | ((b0 >> 4) != 4) | (ihl < 20))
    slow |= v4_bad  # dpkt decides the reason
    v4 &= ~v4_bad
    v6 = live & (etype == 0x86DD)
    nxt6 = _c8(N, 6)
    v6_bad = v6 & ((avail3 < 40) | ((b0 >> 4) != 6) | ~isin_few(nxt6, (6, 17, 58, 1, 59, 132, 47, 50, 2, 89)))
    slow |= v6_bad
    v6 &= ~v6_bad
    ip = v4 | v6

    proto = np.where(v4, _c8(N, 9), np.where(v6, nxt6, 0))
    ip_len = np.where(v4, _c16(N, 2), np.where(v6, _c16(N, 4) + 40, 0))
    ttl = np.where(v4, _c8(N, 8), np.where(v6, _c8(N, 7), 0))
    ip_id = np.where(v4, _c16(N, 4), 0)
    fo = _c16(N, 6)
    frag_off = np.where(v4, (fo & 0x1FFF) * 8, 0)
    more = v4 & ((fo & 0x2000) != 0)
    hlen = np.where(v4, ihl, 40)
    # GRE over IPv4 (first fragments): Argus decapsulates most of it, dpkt path (_decapsulate_gre)
    slow |= v4 & (proto == 47) & (frag_off == 0)

    # transport -----------------------------------------------------------------
    t = l3 + hlen
    T = win[np.minimum(off + t, last)]
    # bytes of transport header present: bounded by the capture and by the IP length
    ip_bound = np.where(ip_len > 0, ip_len - hlen, 1 << 30)
    avail_t = np.minimum(cap - t, ip_bound)
    first = ip & (frag_off == 0)
    tcp = first & (proto == 6)
    udp = first & (proto == 17)
    icmp = first & (((proto == 1) & v4) | ((proto == 58) & v6))

    # a data offset below 5 words is no reason to drop the segment: Argus keys and counts it
    # like any TCP packet (ports, flags, state; measured: a 0-, 1-, 2-, 3- or 4-word offset joins its
    # connection and sets RST/FIN/REQ), so the header is taken as 20 bytes
    tcp_off = np.maximum((_c8(T, 12) >> 4) * 4, 20)
    t_trunc = (tcp & (avail_t < 20)) | (udp & (avail_t < 8)) | (icmp & (avail_t < 4))
    slow |= t_trunc  # dpkt path: the fields Argus still reads (_short_transport)
    tcp &= ~t_trunc
    udp &= ~t_trunc
    icmp &= ~t_trunc

    ports = tcp | udp
    itype = np.where(icmp, _c8(T, 0), -1)
    icode = np.where(icmp, _c8(T, 1), -1)
    sport = np.where(ports, _c16(T, 0), np.where(icmp, itype, 0))
    dport = np.where(ports, _c16(T, 2), np.where(icmp, icode, 0))
    # (the identifier keys the flow once captured, 6 bytes; the sequence needs 8: measured)
    echo = icmp & np.where(v4, isin_few(itype, (0, 8)), isin_few(itype, (128, 129))) & (avail_t >= 6)
    icmp_id = np.where(echo, _c16(T, 4), 0)
    icmp_sq = np.where(echo & (avail_t >= 8), _c16(T, 6), 0)
    # IPv4 ICMP errors: the quoted IP header (20 bytes captured) and the 4 bytes after it
    qerr = icmp & v4 & isin_few(itype, ICMP4_ERRORS) & (avail_t >= 28)
    q_ihl = (_c8(T, 8) & 0x0F) * 4
    slow |= qerr & (q_ihl > PAD - 12)  # ports beyond the window: dpkt path
    q_ports = qerr & (q_ihl >= 20) & (avail_t >= 12 + q_ihl)
    qi = np.minimum(8 + q_ihl, PAD - 4)
    rows = np.arange(len(T))
    q_sp = (T[rows, qi].astype(np.int64) << 8) | T[rows, qi + 1]
    q_dp = (T[rows, qi + 2].astype(np.int64) << 8) | T[rows, qi + 3]
    uhead = np.where(udp & (avail_t >= 10), _c16(T, 8), -1)
    igmp = first & v4 & (proto == 2) & (avail_t >= 8)
    esp = first & v4 & (proto == 50) & (avail_t >= 4)  # the SPI: sport (high half), dport (low half)
    t_hlen = np.where(tcp, tcp_off, np.where(udp | icmp, 8, 0))
    pay = np.where(ip_len > 0, ip_len - hlen - t_hlen, 0)
    pay = np.maximum(pay, 0)

    done = ~slow
    good = done & (status == OK)
    c = {k: v[sl] for k, v in cols.items()}
    c["status"][done] = status[done]
    c["ethertype"][done] = etype[done]
    c["vlan"][done] = vlan[done]
    c["src_mac"][done] = smac[done]
    c["dst_mac"][done] = dmac[done]
    # network fields also on rows whose transport header is truncated or bad
    g = done & ip & isin_few(status, (OK, R_TRUNC_T, R_BAD_T))
    c["ip_version"][g] = np.where(v4, 4, 6)[g]
    c["proto"][g] = proto[g]
    c["ttl"][g] = ttl[g]
    c["ip_len"][g] = ip_len[g]
    c["ip_id"][g] = ip_id[g]
    c["frag_off"][g] = frag_off[g]
    c["more_frags"][g] = more[g]
    g4 = g & v4
    g6 = g & v6
    c["src_lo"][g4] = _c32(N, 12).astype(np.uint64)[g4] | np.uint64(V4_PREFIX)
    c["dst_lo"][g4] = _c32(N, 16).astype(np.uint64)[g4] | np.uint64(V4_PREFIX)
    if g6.any():
        N6 = N[g6]
        c["src_hi"][g6] = _c64(N6, 8)
        c["src_lo"][g6] = _c64(N6, 16)
        c["dst_hi"][g6] = _c64(N6, 24)
        c["dst_lo"][g6] = _c64(N6, 32)
    gg = good & ip
    c["payload_len"][gg] = pay[gg]
    gt = good & tcp
    c["tcp_flags"][gt] = _c8(T, 13)[gt]
    c["tcp_seq"][gt] = _c32(T, 4)[gt]
    c["tcp_ack"][gt] = _c32(T, 8)[gt]
    c["tcp_win"][gt] = _c16(T, 14)[gt]
    gp = good & (tcp | udp | icmp)
    c["sport"][gp] = sport[gp]
    c["dport"][gp] = dport[gp]
    gi = good & icmp
    c["icmp_type"][gi] = itype[gi]
    c["icmp_code"][gi] = icode[gi]
    c["icmp_id"][gi] = icmp_id[gi]
    c["icmp_seq"][gi] = icmp_sq[gi]
    gq = good & qerr
    c["q_proto"][gq] = _c8(T, 17)[gq]
    c["q_src"][gq] = _c32(T, 20)[gq]
    c["q_dst"][gq] = _c32(T, 24)[gq]
    gqp = gq & q_ports
    c["q_sport"][gqp] = q_sp[gqp]
    c["q_dport"][gqp] = q_dp[gqp]
    gu = good & udp
    c["udp_head"][gu] = uhead[gu]
    gm = good & igmp
    c["igmp_group"][gm] = _c32(T, 4)[gm]
    c["sport"][gm] = _c8(T, 0)[gm]
    ge = good & esp
    c["sport"][ge] = _c16(T, 0)[ge]
    c["dport"][ge] = _c16(T, 2)[ge]
    return slow


# --------------------------------------------------------------------------------------
# dpkt path


def _mac(b: bytes) -> int:
    return int.from_bytes(b, "big") if len(b) == 6 else 0


def _v4(b: bytes) -> tuple[int, int]:
    return 0, V4_PREFIX | int.from_bytes(b, "big")


def _v6(b: bytes) -> tuple[int, int]:
    v = int.from_bytes(b, "big")
    return v >> 64, v & 0xFFFF_FFFF_FFFF_FFFF


def _slow(batch: RecordBatch, rows: np.ndarray, cols: dict, open_links: bool = False) -> None:
    for i in rows.tolist():
        rec = batch.record(i)
        try:
            out = decode_record(int(batch.linktype[i]), rec, open_links)
        except Exception:  # dpkt can raise more than it documents
            out = {"status": R_DPKT}
        for k, v in out.items():
            cols[k][i] = v


def decode_record(linktype: int, buf: bytes, open_links: bool = False, udp_payload: list | None = None) -> dict:
    """Decode one record with dpkt; returns the non-default column values.  ``open_links``: see
    :func:`decode_batch`; ``udp_payload``: a list that gets the UDP payload's captured bytes
    when the record is a UDP packet (first fragment), for :mod:`forensics.tunnels`."""
    import dpkt  # (imported on the first record the fast path leaves to dpkt: most captures have none)

    if linktype not in SUPPORTED_LINKTYPES and not (open_links and linktype in PPP_LINKTYPES):
        return {"status": R_UNKNOWN_LT}
    if not buf:
        return {"status": R_ZERO}
    out: dict = {}
    net = None  # (ethertype, payload object or bytes)
    if linktype == LT_EN10MB:
        net = _ethernet(open_link_headers(buf) if open_links else buf, out)
        if isinstance(net, dict):
            return net
    elif linktype in PPP_LINKTYPES:  # (open_links only)
        body = buf[2:] if buf[:2] == b"\xff\x03" else buf
        if len(body) < 2:
            return {"status": R_TRUNC_LINK}
        if body[0] & 1:  # protocol field compressed to one byte
            proto, body = body[0], body[1:]
        else:
            proto, body = (body[0] << 8) | body[1], body[2:]
        et = _PPP_NET.get(proto, 0)
        if not et:
            return out  # PPP control protocols (LCP, IPCP, ...): no IP to read
        net = (et, body)
    elif linktype in (LT_IEEE802_11, LT_RADIOTAP):
        frame = buf
        if linktype == LT_RADIOTAP:
            if len(buf) < 4 or buf[0] != 0:
                return {"status": R_TRUNC_LINK}
            rlen = struct.unpack("<H", buf[2:4])[0]
            if rlen < 4 or len(buf) < rlen:
                return {"status": R_TRUNC_LINK}
            out["link_skip"] = rlen
            frame = buf[rlen:]
        if len(frame) < 24:
            return {**out, "status": R_TRUNC_LINK}
        fc0, fl = frame[0], frame[1]
        ftype, subtype = (fc0 >> 2) & 3, fc0 >> 4
        if ftype != 2 or subtype & 4 or fl & 0x40:
            return out  # management/control, null data or protected: no IP to read
        hdr = 24 + (6 if (fl & 3) == 3 else 0)
        amsdu = False
        if subtype & 8:  # QoS data (+ HT control when the order bit is set)
            amsdu = len(frame) > hdr and bool(frame[hdr] & 0x80)
            hdr += 2 + (4 if fl & 0x80 else 0)
        if amsdu and open_links:  # A-MSDU (as Zeek reads it): the first subframe, after DA, SA, length
            hdr += 14
        llc = frame[hdr:hdr + 8]
        if len(llc) < 8 or llc[:3] != b"\xaa\xaa\x03":
            return out
        net = (struct.unpack(">H", llc[6:8])[0], frame[hdr + 8:])
    elif linktype in (LT_SLL, LT_SLL2):
        try:
            sll = dpkt.sll.SLL(buf) if linktype == LT_SLL else dpkt.sll2.SLL2(buf)
        except dpkt.UnpackError:
            return {"status": R_TRUNC_LINK}
        net = (sll.ethtype, sll.data)
    elif linktype in (LT_NULL, LT_LOOP):
        if len(buf) < 4:
            return {"status": R_TRUNC_LINK}
        fam = struct.unpack(">I", buf[:4])[0]
        if linktype == LT_NULL and fam > 0xFFFF:
            fam = struct.unpack("<I", buf[:4])[0]
        et = 0x0800 if fam == 2 else 0x86DD if fam in _AF_INET6 else 0
        net = (et, buf[4:])
    else:  # raw IP
        ver = buf[0] >> 4
        et = 0x0800 if ver == 4 else 0x86DD if ver == 6 else 0
        if linktype == LT_IPV4:
            et = 0x0800
        elif linktype == LT_IPV6:
            et = 0x86DD
        if et == 0:
            return {"status": R_BAD_VER}
        net = (et, buf)

    et, data = net
    return _network(out, et, data, buf, udp_payload=udp_payload)


# Ethernet types of link headers Argus keys by MAC and Zeek opens (open_links): FabricPath
# (16 bytes from the frame's start, then a whole Ethernet frame), 802.1ah PBB (a 4-byte I-TAG
# after the type, then a whole customer frame) and VN-tag (4 bytes, then the next type)
ET_FABRICPATH, ET_PBB, ET_VNTAG = 0x8903, 0x88E7, 0x8926
LT_PPP, LT_PPP_HDLC = 9, 50
PPP_LINKTYPES = (LT_PPP, LT_PPP_HDLC)


def open_link_headers(buf: bytes) -> bytes:
    """The Ethernet frame inside FabricPath, PBB and VN-tag headers (behind VLAN tags too), as
    Zeek reads it; any other frame as it is."""
    for _ in range(8):  # (headers inside headers: a bounded number)
        pos = 12
        while len(buf) >= pos + 4 and int.from_bytes(buf[pos:pos + 2], "big") in _VLAN_TPIDS:
            pos += 4
        if len(buf) < pos + 2:
            return buf
        et = int.from_bytes(buf[pos:pos + 2], "big")
        if et == ET_FABRICPATH and pos == 12 and len(buf) >= 16 + 14:
            buf = buf[16:]
        elif et == ET_PBB and len(buf) >= pos + 6 + 14:
            buf = buf[pos + 6:]
        elif et == ET_VNTAG and len(buf) >= pos + 8:
            buf = buf[:pos] + buf[pos + 6:]
        else:
            return buf
    return buf


def _ethernet(buf: bytes, out: dict, keep_vlan: bool = False):
    """An Ethernet frame's MACs (and outermost VLAN id) into ``out``; returns (ethertype, payload)
    or, when the frame ends early, the finished column dict."""
    import dpkt

    try:
        eth = dpkt.ethernet.Ethernet(buf)
    except dpkt.UnpackError:
        return {**out, "status": R_TRUNC_LINK}
    out["dst_mac"] = _mac(eth.dst)
    out["src_mac"] = _mac(eth.src)
    tags = getattr(eth, "vlan_tags", None) or []
    et = eth.type
    if tags:
        if not keep_vlan:
            out["vlan"] = tags[0].id
        et = tags[-1].type
    data = eth.data
    if getattr(eth, "mpls_labels", None):
        if isinstance(data, dpkt.ip.IP):
            et = 0x0800
        elif isinstance(data, dpkt.ip6.IP6):
            et = 0x86DD
        else:
            ver = data[0] >> 4 if isinstance(data, bytes) and data else 0
            et = {4: 0x0800, 6: 0x86DD}.get(ver, 0)
    elif et == 0x8864:  # PPPoE session
        if isinstance(data, bytes):
            return {**out, "status": R_TRUNC_LINK, "ethertype": et}
        ppp = data.data
        if isinstance(ppp, bytes) or not hasattr(ppp, "p"):
            return {**out, "status": R_TRUNC_LINK, "ethertype": et}
        pmap = {0x0021: 0x0800, 0x0057: 0x86DD}
        if ppp.p not in pmap:
            return {**out, "ethertype": et}
        et = pmap[ppp.p]
        data = ppp.data
    return et, data


def _network(out: dict, et: int, data, buf: bytes, depth: int = 0, udp_payload: list | None = None) -> dict:
    """Decode from the network layer on (``data``: a dpkt object or the raw bytes of ``buf``)."""
    import dpkt

    out["ethertype"] = et
    if et == 0x0806:
        if isinstance(data, bytes):
            try:
                data = dpkt.arp.ARP(data)
            except dpkt.UnpackError:
                return {**out, "status": R_TRUNC_NET}
        out["arp_op"] = data.op & 0xFF
        if data.pro == 0x0800 and len(data.spa) == 4 and len(data.tpa) == 4:
            out["src_hi"], out["src_lo"] = _v4(data.spa)
            out["dst_hi"], out["dst_lo"] = _v4(data.tpa)
        return out
    if et not in (0x0800, 0x86DD):
        if et < 0x0600 and isinstance(data, dpkt.llc.LLC):  # 802.3: the LLC service access points
            out["sport"], out["dport"] = data.ssap, data.dsap
        return out  # decoded link frame carrying something other than IP/ARP
    raw = bytes(data) if isinstance(data, (bytes, bytearray)) else None
    if raw is not None:
        want = 4 if et == 0x0800 else 6
        if not raw or raw[0] >> 4 != want:
            return {**out, "status": R_BAD_VER}
        try:
            data = dpkt.ip.IP(raw) if et == 0x0800 else dpkt.ip6.IP6(raw)
        except dpkt.NeedData:
            return {**out, "status": R_TRUNC_NET}
        except dpkt.UnpackError:
            return {**out, "status": R_BAD_IP}
    if et == 0x0800:
        if not isinstance(data, dpkt.ip.IP):
            return {**out, "status": R_BAD_VER}
        if data.v != 4:
            return {**out, "status": R_BAD_VER}
        out["ip_version"] = 4
        out["src_hi"], out["src_lo"] = _v4(data.src)
        out["dst_hi"], out["dst_lo"] = _v4(data.dst)
        out["ttl"] = data.ttl
        out["ip_len"] = data.len
        out["ip_id"] = data.id
        fo = data._flags_offset
        out["frag_off"] = (fo & 0x1FFF) * 8
        out["more_frags"] = bool(fo & 0x2000)
        hl = data.hl * 4
        p = data.p
        iplen = data.len
        first = (fo & 0x1FFF) == 0
        icmp_p = 1
        if p == 47 and first and depth < GRE_MAX_DEPTH:
            inner = _decapsulate_gre(out, _raw_transport(buf, data, et, hl, iplen), depth, udp_payload)
            if inner is not None:
                return inner
    else:
        if not isinstance(data, dpkt.ip6.IP6) or data.v != 6:
            return {**out, "status": R_BAD_VER}
        out["ip_version"] = 6
        out["src_hi"], out["src_lo"] = _v6(data.src)
        out["dst_hi"], out["dst_lo"] = _v6(data.dst)
        out["ttl"] = data.hlim
        out["ip_len"] = data.plen + 40
        hl = 40
        p = getattr(data, "p", None)
        for h in data.all_extension_headers:
            if isinstance(h, dpkt.ip6.IP6ESPHeader):  # encrypted: the payload starts here
                p = 50
                break
            hl += h.length
        if p is None:
            p = data.nxt
        iplen = data.plen + 40 if data.plen else 0
        frag = data.extension_hdrs.get(44)
        first = True
        if frag is not None:
            out["ip_id"] = frag.id
            out["frag_off"] = (frag.frag_off) * 8
            out["more_frags"] = bool(frag.m_flag)
            first = frag.frag_off == 0
        icmp_p = 58
    out["proto"] = p
    seg = data.data
    seg_avail = len(bytes(seg)) if isinstance(seg, (bytes, bytearray)) else None
    pay_ip = max(iplen - hl, 0) if iplen else 0
    if not first:
        out["payload_len"] = pay_ip
        if out["ip_version"] == 6:
            _v6_fragment_key(out, p, out["ip_id"])
        return out

    def short() -> dict:  # a TCP/UDP/ICMP header cut short: what Argus still reads of it
        return _short_transport(out, p, icmp_p, _raw_transport(buf, data, et, hl, 0), iplen - hl if iplen else None)

    if p == 6:
        if isinstance(seg, dpkt.tcp.TCP):
            off = seg.off * 4
            out.update(sport=seg.sport, dport=seg.dport, tcp_flags=seg.flags & 0xFF, tcp_seq=seg.seq,
                       tcp_ack=seg.ack, tcp_win=seg.win)
            out["payload_len"] = max(iplen - hl - off, 0) if iplen else 0
            return out
        raw = bytes(seg) if isinstance(seg, (bytes, bytearray)) else None
        if raw is not None and len(raw) >= 20:  # data offset below 5 words (dpkt refuses it; Argus does not)
            sport, dport, tseq, tack, _, flags, twin = struct.unpack_from(">HHIIBBH", raw, 0)
            out.update(sport=sport, dport=dport, tcp_flags=flags, tcp_seq=tseq, tcp_ack=tack, tcp_win=twin)
            out["payload_len"] = max(iplen - hl - 20, 0) if iplen else 0
            return out
        if seg_avail is None or seg_avail < 20:
            return short()
        return {**out, "status": R_BAD_T}
    if p == 17:
        if isinstance(seg, dpkt.udp.UDP):
            out.update(sport=seg.sport, dport=seg.dport)
            out["payload_len"] = max(iplen - hl - 8, 0) if iplen else 0
            raw4 = _raw_transport(buf, data, et, hl, iplen)
            if raw4 is not None and len(raw4) >= 10:
                out["udp_head"] = (raw4[8] << 8) | raw4[9]
            if udp_payload is not None and raw4 is not None:
                udp_payload.append(raw4[8:])
            return out
        return short()
    if p == icmp_p:
        b = bytes(seg)
        if len(b) < 4:
            return short()
        it, ic = b[0], b[1]
        out.update(icmp_type=it, icmp_code=ic, sport=it, dport=ic)
        echo = (0, 8) if p == 1 else (128, 129)
        if it in echo and len(b) >= 6:
            out["icmp_id"] = struct.unpack(">H", b[4:6])[0]
            if len(b) >= 8:
                out["icmp_seq"] = struct.unpack(">H", b[6:8])[0]
        if p == 1 and it in ICMP4_ERRORS:
            raw4 = _raw_transport(buf, data, et, hl, iplen)
            if raw4 is not None and len(raw4) >= 28:
                out["q_proto"] = raw4[17]
                out["q_src"], out["q_dst"] = struct.unpack(">II", raw4[20:28])
                qihl = (raw4[8] & 0x0F) * 4
                if qihl >= 20 and len(raw4) >= 12 + qihl:
                    out["q_sport"], out["q_dport"] = struct.unpack(">HH", raw4[8 + qihl:12 + qihl])
        out["payload_len"] = max(iplen - hl - 8, 0) if iplen else 0
        return out
    if p == 2 and et == 0x0800:
        raw4 = _raw_transport(buf, data, et, hl, iplen)
        if raw4 is not None and len(raw4) >= 8:
            out["igmp_group"] = struct.unpack(">I", raw4[4:8])[0]
            out["sport"] = raw4[0]
    if p in (4, 41, 47) and udp_payload is not None:  # IP in IP, GRE left closed: for forensics.tunnels
        raw4 = _raw_transport(buf, data, et, hl, iplen)
        if raw4 is not None:
            udp_payload.append(raw4)
    if p == 50 and et == 0x0800:  # ESP: the SPI in sport (high half) and dport (low half)
        raw4 = _raw_transport(buf, data, et, hl, iplen)
        if raw4 is not None and len(raw4) >= 4:
            out["sport"], out["dport"] = struct.unpack(">HH", raw4[:4])
    out["payload_len"] = pay_ip
    return out


def _short_transport(out: dict, p: int, icmp_p: int, cap: bytes | None, room: int | None) -> dict:
    """A TCP/UDP/ICMP header cut short (by the capture's snap length or by the IP length): the
    record stays undecodable (``truncated_transport_header``) but gets the fields Argus 3.0.8 still
    reads and keys it by (measured 2026-11-27, ``flowgen.sc_truncated``): ``cap`` is the transport
    bytes captured (past the IP length too), ``room`` the bytes the IP length leaves for them.

    IPv6 is keyed from what was captured whatever its payload length says, and a cut ICMPv6
    header makes no flow at all (forensics.flows leaves it out).
    TCP: ports when the IP length leaves a whole header (20 bytes) and 4 bytes were captured,
    else 0; the flags when the whole 20-byte header was captured (else none: the flow's state is
    INT/CON, as for a flow without TCP). UDP: ports when the IP length leaves 8 bytes and 4 were captured. ICMP: type
    and code as captured (0 where not), the echo identifier when captured."""
    out = {**out, "status": R_TRUNC_T}
    b = cap or b""
    # (IPv6: the payload length does not matter, only what was captured; measured)
    room = 1 << 30 if room is None or out.get("ip_version") == 6 else room
    if p == 6:
        if room >= 20 and len(b) >= 4:
            out["sport"], out["dport"] = struct.unpack_from(">HH", b, 0)
        if len(b) >= 20:
            out["tcp_flags"] = b[13]
    elif p == 17:
        if room >= 8 and len(b) >= 4:
            out["sport"], out["dport"] = struct.unpack_from(">HH", b, 0)
    elif p == icmp_p:
        it, ic = (b[0] if b else 0), (b[1] if len(b) > 1 else 0)
        out.update(icmp_type=it, icmp_code=ic, sport=it, dport=ic)
        if it in ((0, 8) if p == 1 else (128, 129)) and len(b) >= 6:
            out["icmp_id"] = struct.unpack_from(">H", b, 4)[0]
    return out


# GRE (IPv4 protocol 47), as Argus 3.0.8 opens it (measured, see _decapsulate_gre)
GRE_MAX_DEPTH = 8
_GRE_NET = {0x0800: 0x0800, 0x86DD: 0x86DD}
_PPP_NET = {0x21: 0x0800, 0x57: 0x86DD}
# columns of the outer packet the inner one keeps: its link layer
_LINK_COLS = ("src_mac", "dst_mac", "vlan", "link_skip")
# an inner packet with these statuses is not decapsulated: the record stays the outer GRE packet
_NOT_INNER = (R_TRUNC_NET, R_BAD_VER, R_BAD_IP, R_DPKT)


def _gre_payload(seg: bytes | None) -> tuple[str, int, bytes] | None:
    """What a GRE packet carries, where Argus decapsulates it: ("ip", ethertype, packet) or
    ("eth", 0, frame); None where it reports the outer packet.

    Measured against argus 3.0.8: the header is 4 bytes plus 4 for checksum (C or R flag), key
    (K), sequence number (S) and, in version 1 (PPTP) only, acknowledgement (A), then the
    routing entries (R, up to the null one); the version field is not checked otherwise.  It
    opens protocol 0x0800 (IPv4), 0x86DD (IPv6), 0x6558 (Ethernet), 0x88BE with an ERSPAN
    type II header (version 1: 8 bytes, then Ethernet; type I, without it, stays GRE),
    0x880B (PPP: address/control ff03 optional, protocol 0x0021 IPv4 or 0x0057 IPv6, also
    compressed to one byte), whatever the GRE version (PPTP's is 1), and
    0x8847/0x8848 (MPLS, then IP by version); every other protocol (ERSPAN III 0x22EB,
    Aruba 0x8200, PPP carrying anything else, ...) stays the outer GRE flow.
    """
    if seg is None or len(seg) < 4:
        return None
    flags, ptype = struct.unpack(">HH", seg[:4])
    pos = 4 + 4 * bool(flags & 0xC000) + 4 * bool(flags & 0x2000) + 4 * bool(flags & 0x1000)
    if (flags & 0x0007) == 1 and flags & 0x0080:
        pos += 4
    if flags & 0x4000:  # source route entries: address family, offset, length, then length bytes
        while True:
            if len(seg) < pos + 4:
                return None
            family, sre_len = seg[pos:pos + 2], seg[pos + 3]
            pos += 4 + sre_len
            if family == b"\0\0" and sre_len == 0:
                break
    body = seg[pos:]
    if ptype in _GRE_NET:
        return "ip", _GRE_NET[ptype], body
    if ptype == 0x6558:
        return "eth", 0, body
    if ptype == 0x88BE:
        if len(body) < 8 or body[0] >> 4 != 1:
            return None
        return "eth", 0, body[8:]
    if ptype == 0x880B:
        if body[:2] == b"\xff\x03":
            body = body[2:]
        if not body:
            return None
        if body[0] & 1:  # protocol field compressed to one byte
            proto, body = body[0], body[1:]
        else:
            proto, body = (body[0] << 8) | (body[1] if len(body) > 1 else 0), body[2:]
        et = _PPP_NET.get(proto)
        return None if et is None else ("ip", et, body)
    if ptype in (0x8847, 0x8848):
        while len(body) >= 4 and not body[2] & 1:  # labels down to the bottom of the stack
            body = body[4:]
        body = body[4:]
        if not body:
            return None
        et = {4: 0x0800, 6: 0x86DD}.get(body[0] >> 4)
        return None if et is None else ("ip", et, body)
    return None


def _decapsulate_gre(outer: dict, seg: bytes | None, depth: int, udp_payload: list | None = None) -> dict | None:
    """The inner packet's columns for an IPv4 GRE packet (first fragment) Argus decapsulates,
    else None (the record stays the GRE packet).

    The record keeps its wire length (flow bytes count the whole frame, measured) and link
    columns; addresses, ports, TTL, IP length/id/fragment fields are the inner packet's (Argus's
    sTtl/dTtl are the inner TTLs), and an inner Ethernet frame (0x6558, ERSPAN) gives the MACs
    (``argus -m``: smac/dmac are the inner frame's).  GRE inside the inner IPv4 packet is opened
    again; GRE over IPv6 is not (measured: outer IPv6 GRE stays a gre flow).  An inner IP
    header that does not decode (bad version, truncated: a first fragment too short to hold it)
    leaves the outer packet, as Argus does (Argus parses a bad-version inner header as IPv4
    anyway; this decoder keeps the GRE flow there).
    """
    got = _gre_payload(seg)
    if got is None:
        return None
    kind, et, body = got
    out = {k: outer[k] for k in _LINK_COLS if k in outer}
    try:
        if kind == "eth":
            net = _ethernet(body, out, keep_vlan=True)
            if isinstance(net, dict):
                return None
            et, data = net
        else:
            data = body
        res = _network(out, et, data, body, depth + 1, udp_payload)
    except Exception:  # dpkt can raise more than it documents: keep the outer packet
        return None
    if res.get("status", OK) in _NOT_INNER:
        return None
    return res


def _raw_transport(buf: bytes, ip, et: int, hl: int, iplen: int) -> bytes | None:
    """The transport segment's bytes as captured (not dpkt's re-serialisation), bounded like the fast path.

    The IP header is found in the record by its address pair; the segment is what follows the
    ``hl`` header bytes, up to the end of the record and the IP total length.
    """
    if et == 0x0800:
        pos = buf.find(ip.src + ip.dst)
        l3 = pos - 12
    else:
        pos = buf.find(ip.src + ip.dst)
        l3 = pos - 8
    if pos < 0 or l3 < 0:
        return None
    end = len(buf) if not iplen else min(len(buf), l3 + iplen)
    return buf[l3 + hl:end]


# --------------------------------------------------------------------------------------
def _v6_fragment_key(out: dict, p: int, ident: int) -> None:
    """Argus 3.0.8's key for a non-first IPv6 fragment (measured, 2026-11-27): never its datagram's
    flow but one of its own, whose "ports" are the fragment header's identification bytes
    b0..b3 (network order) as Argus stores them: TCP/UDP sport = b1 b0, dport = b3 b2, the two
    swapped when the source address is the higher one or the same (so both directions make one
    flow, and a lone fragment from the higher address, or between equal ones, prints b3 b2 -> b1 b0;
    equal addresses measured 2026-11-28, flowgen.sc_frag6_self); ICMPv6 type = b3, code = b2 (an
    identification ending in 0x80 makes an echo-request row); no ports for other protocols."""
    b0, b1, b2, b3 = (ident >> 24) & 0xFF, (ident >> 16) & 0xFF, (ident >> 8) & 0xFF, ident & 0xFF
    if p in (6, 17):
        lo, hi = (b1 << 8) | b0, (b3 << 8) | b2
        if (out["src_hi"], out["src_lo"]) >= (out["dst_hi"], out["dst_lo"]):
            lo, hi = hi, lo
        out["sport"], out["dport"] = lo, hi
    elif p == 58:
        out.update(icmp_type=b3, icmp_code=b2, sport=b3, dport=b2)


# fragment attribution


class _FragmentTracker:
    """Gives non-first fragments the ports (ICMP type/code/echo id/sequence, first UDP payload
    bytes) of their first fragment (state kept across chunks)."""

    FIELDS = ("sport", "dport", "icmp_type", "icmp_code", "icmp_id", "icmp_seq", "udp_head")

    MAX = 65_536

    def __init__(self):
        self.first: dict[tuple, tuple[int, int, int, int]] = {}

    def attribute(self, t: PacketTable) -> None:
        # (IPv4 only: Argus keys IPv6 non-first fragments by their identification, _v6_fragment_key)
        frag = (t.status == OK) & (t.ip_version == 4) & ((t.frag_off > 0) | t.more_frags)
        if not frag.any():
            return
        c = t.columns
        for i in np.flatnonzero(frag).tolist():
            key = (int(c["src_hi"][i]), int(c["src_lo"][i]), int(c["dst_hi"][i]), int(c["dst_lo"][i]),
                   int(c["proto"][i]), int(c["ip_id"][i]))
            if c["frag_off"][i] == 0:
                self.first[key] = tuple(int(c[f][i]) for f in self.FIELDS)
                if len(self.first) > self.MAX:
                    self.first.pop(next(iter(self.first)))
            else:
                got = self.first.get(key)
                if got is not None:
                    for f, v in zip(self.FIELDS, got):
                        c[f][i] = v
