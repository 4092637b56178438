"""Application-layer detail of flagged flows, read with pyshark (tshark).

For every capture that holds an incident, tshark is run once with a display
filter that keeps only HTTP requests, DNS queries and MQTT messages to or from
that capture's attackers; each packet is then attributed to the incidents
whose attacker/victim pair it belongs to.  Bounded: ``config.app_detail_items``
distinct items per incident and kind, ``config.app_detail_seconds`` for the
whole step (tshark is stopped when the budget runs out, and the report says
so).  The strings come from the capture: the HTML renderer escapes them.

tshark dissects every packet of the file it reads, so it does not read the
capture itself: :func:`reduce_capture` first reads the capture with the
project's own reader (:mod:`forensics.capture`, :mod:`forensics.decode`,
vectorised) and writes a temporary classic pcap holding only the packets that
can carry what this step looks for: IPv4/IPv6 packets to or from one of the
capture's attackers that are UDP, or TCP with payload (SYN floods, bare ACKs,
ICMP are left out), at most :data:`PER_FLOW_PACKETS` per 5-tuple (either
direction; every packet on the DNS and MQTT ports, :data:`UNCAPPED_PORTS`) and
:data:`TOTAL_PACKETS` in all, with their original timestamps,
link type and frame bytes.  tshark reads that file; it is deleted afterwards,
also when tshark fails or is stopped.  When the reduction cannot be faithful
(kept packets of several link types, records of a link type the reader does not
decode, timestamps a classic pcap cannot hold, a file the reader rejects) tshark
reads the original file as before.  Because the temporary file is plain pcap,
bzip2/xz captures (which tshark 4.0 does not open) get their detail too.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import shutil
import struct
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from forensics.report.model import Report, endpoint_key

DNS_TYPES = {"1": "A", "2": "NS", "5": "CNAME", "6": "SOA", "12": "PTR", "15": "MX", "16": "TXT", "28": "AAAA", "33": "SRV", "255": "ANY"}

TSHARK_COMPRESSION = (None, "gzip")  # what tshark 4.0 opens directly (others: only through the reduced copy)
PER_FLOW_PACKETS = 64  # packets kept per 5-tuple (either direction): the start of every connection
# ... except on the DNS and MQTT ports, where every packet counts (a DNS tunnel is one 5-tuple)
UNCAPPED_PORTS = {17: (53, 5353, 5355), 6: (53, 1883)}
TOTAL_PACKETS = 200_000  # packets kept per capture
TOTAL_BYTES = 256 * 1024 * 1024  # frame bytes kept per capture
MAX_SNAPLEN = 262_144  # the temporary pcap's snapshot length (the reader's bound on a record)

_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


_now = time.monotonic  # the step's clock (a test replaces it)


class CannotReduce(Exception):
    """The capture cannot be reduced faithfully: tshark reads the original file."""


@dataclass
class Reduced:
    """What :func:`reduce_capture` wrote."""

    path: Path
    packets_read: int  # records of the original read
    packets_kept: int  # records written
    flow_capped: bool  # True when the per-flow bound left matching packets out
    total_capped: bool  # True when the total bound stopped the reading
    complete: bool  # False when the deadline stopped the reading early


def _attacker_keys(attackers) -> np.ndarray:
    """(n, 2) uint64 (hi, lo) of the attackers, as the packet table stores addresses."""
    from forensics.packets import str_to_addr

    keys = []
    for a in sorted(attackers):
        try:
            keys.append(str_to_addr(str(a)))
        except ValueError:
            continue
    return np.array(keys, dtype=np.uint64).reshape(-1, 2)


def _is_attacker(hi: np.ndarray, lo: np.ndarray, keys: np.ndarray) -> np.ndarray:
    if len(keys) <= 16:
        m = np.zeros(len(hi), dtype=bool)
        for h, l in keys:
            m |= (lo == l) & (hi == h)
        return m
    pairs = np.ascontiguousarray(np.stack([hi, lo], axis=1)).view("V16").ravel()
    return np.isin(pairs, np.ascontiguousarray(keys).view("V16").ravel())


def _mix(x: np.ndarray) -> np.ndarray:
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


def _flow_hash(t, rows: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row's 5-tuple, the same for both directions."""
    sh, sl, sp = t.src_hi[rows], t.src_lo[rows], t.sport[rows].astype(np.uint64)
    dh, dl, dp = t.dst_hi[rows], t.dst_lo[rows], t.dport[rows].astype(np.uint64)
    swap = (sh > dh) | ((sh == dh) & ((sl > dl) | ((sl == dl) & (sp > dp))))
    ah, al, ap = np.where(swap, dh, sh), np.where(swap, dl, sl), np.where(swap, dp, sp)
    bh, bl, bp = np.where(swap, sh, dh), np.where(swap, sl, dl), np.where(swap, sp, dp)
    x = _mix((ap << np.uint64(32)) | (bp << np.uint64(16)) | t.proto[rows].astype(np.uint64))
    for part in (ah, al, bh, bl):
        x = _mix(x ^ part)
    return x


def _pcap_link_header(path) -> tuple[int, bool] | None:
    """(network field, nanosecond resolution) of a classic pcap (after decompression), else None."""
    from forensics.capture import PCAP_MAGICS, compression_of, decompressor

    with open(path, "rb") as fh:
        compression = compression_of(fh.read(8))
        fh.seek(0)
        stream = decompressor(fh, compression) if compression else fh
        head = stream.read(24)
    if len(head) < 24 or head[:4] not in PCAP_MAGICS:
        return None
    endian, mult = PCAP_MAGICS[head[:4]]
    (network,) = struct.unpack_from(endian + "I", head, 20)
    return network, mult == 1


def reduce_capture(path, attackers, out_path, *, per_flow: int = PER_FLOW_PACKETS, total: int = TOTAL_PACKETS,
                   total_bytes: int = TOTAL_BYTES, deadline: float | None = None, open_tunnels: bool = False) -> Reduced:
    """Write to ``out_path`` a classic pcap of the packets of ``path`` that can carry an HTTP
    request, a DNS query or an MQTT message to or from one of ``attackers`` (see the module
    docstring): file order, original frame bytes, timestamps (a pcap's own resolution; nanoseconds
    for pcapng, which the reader converts to nanoseconds) and link type.  Raises
    :class:`CannotReduce` when that copy would not be faithful; stops reading early
    (``complete=False``) when ``time.monotonic()`` passes ``deadline``.  ``open_tunnels``: the
    packets inside tunnels count too (:mod:`forensics.tunnels`); a record is kept whole when
    any of its levels is to be kept."""
    from forensics.capture import Accounting, frame
    from forensics.decode import SUPPORTED_LINKTYPES, decode_batch
    from forensics.errors import ForensicsError

    keys = _attacker_keys(attackers)
    acct = Accounting(str(path))
    opener = None
    seen_keys = np.empty(0, dtype=np.uint64)  # flows seen so far (sorted) and their matching packets
    seen_counts = np.empty(0, dtype=np.int64)
    linktype: int | None = None
    network: int | None = None
    nanos = True
    kept = read = written = 0
    flow_capped = total_capped = False
    complete = True
    try:
        with open(out_path, "wb") as out:
            for batch in frame(path, acct):
                if network is None:
                    if acct.format == "pcap":
                        hdr = _pcap_link_header(path)
                        if hdr is None:
                            raise CannotReduce("cannot read the pcap header")
                        network, nanos = hdr
                    else:
                        network = -1  # set from the first kept packet's interface
                    out.write(b"\0" * 24)  # the header, written at the end
                read += len(batch)
                unknown = [int(x) for x in np.unique(batch.linktype) if int(x) not in SUPPORTED_LINKTYPES]
                if unknown:
                    raise CannotReduce(f"records of link type {unknown[0]}, which the reader does not decode")
                t = decode_batch(batch, open_links=open_tunnels)
                if open_tunnels:
                    if opener is None:
                        from forensics.tunnels import TunnelOpener

                        opener = TunnelOpener()
                    t = opener.open(batch, t)  # (its rows: each record's, then those inside it)
                ok = (t.status == 0) & ((t.ip_version == 4) | (t.ip_version == 6))
                tcp = (t.proto == 6) & ((t.payload_len > 0) | ((t.ip_version == 4) & (t.ip_len == 0)))  # 0: TSO
                cand = ok & (tcp | (t.proto == 17))
                if keys.size and cand.any():
                    cand &= _is_attacker(t.src_hi, t.src_lo, keys) | _is_attacker(t.dst_hi, t.dst_lo, keys)
                else:
                    cand[:] = False
                rows = np.flatnonzero(cand)
                if len(rows):
                    # rank of each row within its flow: earlier batches (seen_counts) + this batch
                    h = _flow_hash(t, rows)
                    order = np.argsort(h, kind="stable")
                    hs = h[order]
                    first = np.ones(len(hs), dtype=bool)
                    first[1:] = hs[1:] != hs[:-1]
                    starts = np.flatnonzero(first)
                    sizes = np.diff(np.append(starts, len(hs)))
                    rank = np.empty(len(hs), dtype=np.int64)
                    rank[order] = np.arange(len(hs)) - np.repeat(starts, sizes)
                    if len(seen_keys):
                        pos = np.minimum(np.searchsorted(seen_keys, h), len(seen_keys) - 1)
                        found = seen_keys[pos] == h
                        rank[found] += seen_counts[pos[found]]
                    allk = np.concatenate([seen_keys, hs[starts]])
                    seen_keys, inv = np.unique(allk, return_inverse=True)
                    seen_counts = np.bincount(inv.reshape(-1), weights=np.concatenate([seen_counts, sizes]),
                                              minlength=len(seen_keys)).astype(np.int64)
                    free = np.zeros(len(rows), dtype=bool)
                    for proto, ports in UNCAPPED_PORTS.items():
                        free |= (t.proto[rows] == proto) & (np.isin(t.sport[rows], ports) | np.isin(t.dport[rows], ports))
                    within = free | (rank < per_flow)
                    flow_capped = flow_capped or not within.all()
                    take = rows[within]
                    if len(t) != len(batch):  # rows of opened tunnels: their records, once each
                        take = np.unique(np.searchsorted(batch.index, t.index[take]))
                    if kept + len(take) > total:
                        take = take[: total - kept]
                    caps = batch.caplen[take].astype(np.int64)
                    over = np.flatnonzero(written + np.cumsum(caps) > total_bytes)
                    if len(over):
                        take, caps = take[: over[0]], caps[: over[0]]
                    if len(take):
                        lts = np.unique(batch.linktype[take])
                        if len(lts) > 1 or (linktype is not None and int(lts[0]) != linktype):
                            raise CannotReduce("the packets to keep have several link types")
                        linktype = int(lts[0])
                        ts = batch.ts_ns[take]
                        if ts.min() < 0 or ts.max() >= (1 << 32) * 1_000_000_000:
                            raise CannotReduce("timestamps outside what a classic pcap holds")
                        sec, frac = np.divmod(ts, 1_000_000_000)
                        rec = np.empty((len(take), 4), dtype="<u4")
                        rec[:, 0], rec[:, 1] = sec, frac if nanos else frac // 1000
                        rec[:, 2], rec[:, 3] = caps, batch.wirelen[take]
                        data = memoryview(batch.data)
                        for r, o, c in zip(rec, batch.offset[take].tolist(), caps.tolist()):
                            out.write(r.tobytes())
                            out.write(data[o : o + c])
                        kept += len(take)
                        written += int(caps.sum())
                    if kept >= total or len(over):
                        total_capped = True  # the rest of the file is not read
                        break
                if deadline is not None and _now() > deadline:
                    complete = False
                    break
            if network is None and acct.format == "pcap":  # a capture without records
                network = (_pcap_link_header(path) or (1, False))[0]
            if network is None or network == -1:
                network = linktype if linktype is not None else 1
            elif linktype is not None and (network & 0x0FFF_FFFF) != linktype:
                raise CannotReduce("link type differs from the pcap header")
            out.seek(0)
            magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
            out.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, MAX_SNAPLEN, network))
    except CannotReduce:
        raise
    except (ForensicsError, OSError, EOFError, ValueError, struct.error) as exc:
        raise CannotReduce(f"the reader rejects it: {exc}") from None
    return Reduced(Path(out_path), read, kept, flow_capped, total_capped, complete)


def _addr_filter(ips) -> str:
    parts = []
    for ip in sorted(ips):
        try:
            a = ipaddress.ip_address(ip)
        except ValueError:
            continue
        parts.append(f"{'ip' if a.version == 4 else 'ipv6'}.addr == {a.compressed}")
    return " or ".join(parts)


def _get(layer, *names, default=""):
    for n in names:
        try:
            v = layer.get_field_value(n)
        except Exception:
            v = None
        if v is not None and v != "":
            return str(v)
    return default


def _reduce(path, incs, budget_end, open_tunnels: bool = False) -> tuple[str, "Reduced | None"]:
    """``(folder, reduced copy)``: :func:`reduce_capture` of one capture for its incidents'
    attackers into a new temporary folder (the caller deletes it); None when the copy cannot be
    faithful."""
    tmp = tempfile.mkdtemp(prefix="forensics-appdetail-")
    try:
        return tmp, reduce_capture(path, {i.attacker for i in incs}, os.path.join(tmp, "app.pcap"), deadline=budget_end,
                                   open_tunnels=open_tunnels)
    except CannotReduce as exc:
        logging.getLogger(__name__).debug("%s: reading the original capture (%s)", path, exc)
        return tmp, None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _read_capture(pyshark, path, inp, incs, reduced, budget_end, limit, http, dns, dns_type, mqtt, notes,
                  flow_sampled, total_sampled, innermost: bool = False) -> None:
    """Run the display filter over one capture (its ``reduced`` copy when there is one)."""
    source = path
    if reduced is None:
        if inp is not None and inp.compression not in TSHARK_COMPRESSION:
            for inc in incs:
                notes[inc.id].append(f"{inp.compression}-compressed capture: application-layer detail not read")
            return
    else:
        source = str(reduced.path)
        if reduced.flow_capped:
            flow_sampled.update(inc.id for inc in incs)
        if reduced.total_capped:
            total_sampled.update(inc.id for inc in incs)
        if not reduced.complete:
            for inc in incs:
                notes[inc.id].append("application-layer detail stopped: time budget spent")
        if reduced.packets_kept == 0:
            return  # nothing tshark could find
    pairs: dict[frozenset, list] = defaultdict(list)
    for inc in incs:
        for v in inc.victims:
            pairs[frozenset((inc.attacker, v))].append(inc)
    flt = f"(http.request or (dns and dns.flags.response == 0) or mqtt.topic) and ({_addr_filter({i.attacker for i in incs})})"

    def on_packet(pkt):
        try:
            if innermost:  # (--open-tunnels: the flow is the innermost packet's)
                net = [layer for layer in pkt.layers if layer.layer_name in ("ip", "ipv6")][-1]
            else:
                net = pkt.ip if hasattr(pkt, "ip") else pkt.ipv6
            src, dst = str(net.src), str(net.dst)
        except (AttributeError, IndexError):
            return
        try:
            src, dst = ipaddress.ip_address(src).compressed, ipaddress.ip_address(dst).compressed
        except ValueError:
            pass
        targets = pairs.get(frozenset((src, dst)), [])
        if not targets:
            return
        ts = float(pkt.sniff_timestamp)
        if innermost:
            l4s = [layer for layer in pkt.layers if layer.layer_name in ("tcp", "udp")]
            l4 = l4s[-1] if l4s else None
        else:
            l4 = getattr(pkt, "tcp", None) or getattr(pkt, "udp", None)
        key = None
        if l4 is not None:
            try:
                key = endpoint_key(src, int(l4.srcport), dst, int(l4.dstport))
            except (AttributeError, ValueError):
                key = None
        for inc in targets:
            if not (inc.start - 1 <= ts <= inc.end + 1):
                continue
            if inc.flow_keys is not None and key not in inc.flow_keys:
                continue
            if hasattr(pkt, "http") and len(http[inc.id]) < limit:
                h = pkt.http
                method = _get(h, "request_method")
                if method:
                    http[inc.id].append(
                        {
                            "time": ts,
                            "src": src,
                            "method": method,
                            "host": _get(h, "host"),
                            "uri": _get(h, "request_uri"),
                            "user_agent": _get(h, "user_agent"),
                        }
                    )
            if hasattr(pkt, "dns"):
                name = _get(pkt.dns, "qry_name")
                if name and (name in dns[inc.id] or len(dns[inc.id]) < limit):
                    dns[inc.id][name] += 1
                    qt = _get(pkt.dns, "qry_type", default="?")
                    dns_type.setdefault((inc.id, name), DNS_TYPES.get(qt, qt))
            if hasattr(pkt, "mqtt"):
                topic = _get(pkt.mqtt, "topic")
                kind = {"3": "publish", "8": "subscribe", "10": "unsubscribe"}.get(_get(pkt.mqtt, "msgtype"), "message")
                key = (topic, kind)
                if topic and (key in mqtt[inc.id] or len(mqtt[inc.id]) < limit):
                    mqtt[inc.id][key] += 1

    cap = None
    try:
        cap = pyshark.FileCapture(source, display_filter=flt, keep_packets=False)
        cap.apply_on_packets(on_packet, timeout=max(0.5, budget_end - _now()))
    except Exception as exc:  # TimeoutError, tshark failures: detail is best effort
        name = type(exc).__name__
        msg = "stopped: time budget spent" if "Timeout" in name else f"tshark could not read this capture ({name})"
        for inc in incs:
            notes[inc.id].append(f"application-layer detail {msg}")
    finally:
        if cap is not None:
            try:
                cap.close()
            except Exception:
                pass


def _cache_tshark_version() -> None:
    """pyshark runs ``tshark -v`` for every capture it opens, to learn tshark's version (0.15 s
    each: 3.1 s of a 9.5 s step over 20 captures); the answer does not change within a run, so
    pyshark's look-up is wrapped in a cache, once per process."""
    try:
        from pyshark.capture import capture as pyshark_capture
    except ImportError:  # pragma: no cover - another pyshark layout: it keeps asking
        return
    lookup = getattr(pyshark_capture, "get_tshark_version", None)
    if lookup is not None and not hasattr(lookup, "cache_info"):
        pyshark_capture.get_tshark_version = functools.lru_cache(maxsize=8)(lookup)


def _release_sigchld() -> None:
    """pyshark attaches asyncio's child watcher to its event loop, so SIGCHLD writes to that
    loop's wake-up socket, which nothing reads once this step is over: later child processes (a
    browser, tshark again) fill it up and Python reports "BlockingIOError ... _sighandler_noop".
    Detach the watcher: SIGCHLD goes back to its default handling."""
    import asyncio
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # (child watchers: deprecated in 3.12)
        try:
            asyncio.get_child_watcher().attach_loop(None)
        except Exception:  # another kind of watcher, not the main thread, no loop: leave it
            pass


def attach_app_detail(report: Report, config) -> None:
    try:
        import pyshark
    except ImportError:  # pragma: no cover - pyshark is a dependency
        return
    _cache_tshark_version()
    try:
        _attach(pyshark, report, config)
    finally:
        _release_sigchld()


def _attach(pyshark, report: Report, config) -> None:
    """:func:`attach_app_detail` once pyshark is there."""
    budget_end = _now() + float(config.app_detail_seconds)
    limit = int(config.app_detail_items)
    tunnels = bool(getattr(config, "open_tunnels", False))
    inputs = {i.path: i for i in report.inputs}
    per_capture: dict[str, list] = defaultdict(list)
    for inc in report.incidents:
        for c in inc.captures:
            per_capture[c].append(inc)
    # accumulators per incident
    http: dict[int, list] = defaultdict(list)
    dns: dict[int, Counter] = defaultdict(Counter)
    dns_type: dict[tuple, str] = {}
    mqtt: dict[int, Counter] = defaultdict(Counter)
    notes: dict[int, list[str]] = defaultdict(list)
    logging.getLogger("pyshark").setLevel(logging.CRITICAL)

    flow_sampled: set[int] = set()  # incidents whose capture lost packets to the per-connection bound
    total_sampled: set[int] = set()  # ... to the bound of the whole copy
    todo = sorted(per_capture.items())
    # the next capture's reduced copy is written (numpy, in a thread) while tshark reads this one's
    # (tshark runs in its own process; the step's Python waits on it): 2.4 s of reading overlapped
    # on 20 captures
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:

        def start(k: int):
            """Capture k's copy under way, or None when the budget is spent before it starts."""
            if budget_end - _now() <= 0.5:
                return None
            return pool.submit(_reduce, *todo[k], budget_end, tunnels)

        nxt = start(0) if todo else None
        try:
            for k, (path, incs) in enumerate(todo):
                fut, nxt = nxt, None
                if fut is None:  # (then no later capture starts either)
                    for inc in incs:
                        notes[inc.id].append("application-layer detail skipped: time budget spent")
                    continue
                if k + 1 < len(todo):
                    nxt = start(k + 1)
                tmp, reduced = fut.result()
                try:
                    _read_capture(pyshark, path, inputs.get(path), incs, reduced, budget_end, limit, http, dns,
                                  dns_type, mqtt, notes, flow_sampled, total_sampled, tunnels)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
        finally:
            if nxt is not None and nxt.exception() is None:  # (left when the step failed: delete its copy)
                shutil.rmtree(nxt.result()[0], ignore_errors=True)

    for inc in report.incidents:
        d = {
            "http": http.get(inc.id, []),
            "dns": [{"name": n, "count": c, "qtype": dns_type.get((inc.id, n), "?")} for n, c in sorted(dns.get(inc.id, Counter()).items(), key=lambda kv: (-kv[1], kv[0]))],
            "mqtt": [{"topic": t, "kind": k, "count": c} for (t, k), c in sorted(mqtt.get(inc.id, Counter()).items(), key=lambda kv: (-kv[1], kv[0]))],
            "note": "; ".join(dict.fromkeys(notes.get(inc.id, []))),
        }
        if inc.id in total_sampled and any(d[k] for k in ("http", "dns", "mqtt")):
            d["note"] = (d["note"] + "; " if d["note"] else "") + (
                f"read from the first {TOTAL_PACKETS:,} packets that could carry it: counts may be low")
        elif inc.id in flow_sampled and d["http"] and len(d["http"]) < limit:
            d["note"] = (d["note"] + "; " if d["note"] else "") + (
                f"HTTP read from the first {PER_FLOW_PACKETS} packets of each connection")
        if any(d[k] for k in ("http", "dns", "mqtt")) and (len(d["http"]) >= limit or len(d["dns"]) >= limit or len(d["mqtt"]) >= limit):
            d["note"] = (d["note"] + "; " if d["note"] else "") + f"first {limit} items per kind shown"
        if any(d.values()):
            inc.app_detail = d
