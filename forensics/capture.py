"""Capture framing: libpcap and pcapng, plain or gzip/bzip2/xz compressed.

This stage turns a file into *batches of records*: one ``bytes`` buffer plus
numpy arrays giving, for every record, its timestamp, captured and original
length, interface, link type and the offset of its data in the buffer.  It
never interprets packet contents (that is :mod:`forensics.decode`).

Robustness rules
----------------
* The format and compression are recognised by content, never by file name.
* Every length field is bounded before it is used: a record may not claim more
  than :data:`MAX_CAPLEN` bytes, a pcapng block more than :data:`MAX_BLOCK`.
  A record beyond the bound, a truncated record header or body, or a corrupt
  compressed stream ends the file with a *warning*; everything before it is
  kept.  A file with no valid capture header is a :class:`CaptureError`.
* Memory is bounded: the file is read in slices of :data:`READ_SIZE` bytes and
  records are handed out in batches of at most ``batch_records``.

Why not dpkt's readers for framing: ``dpkt.pcap.Reader`` and
``dpkt.pcapng.Reader`` raise on truncation, read one Python object per record
and (pcapng) do not carry a link type per interface.  The framing here is
tested record by record against dpkt's readers on the corpus (tests/test_capture.py).
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import struct
import zlib
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np

from forensics.errors import CaptureError

MAX_CAPLEN = 262_144  # libpcap's MAXIMUM_SNAPLEN
MAX_BLOCK = 16 * 1024 * 1024  # largest pcapng block accepted
READ_SIZE = 8 * 1024 * 1024
PIECE = 256 * 1024
RUN_MIN = 8  # records of one caplen in a row after which _frame_pcap looks for a longer run vectorised
# ... at most this many records ahead at a time (a look at the whole rest of the buffer each time
# made framing of a capture of mixed frame sizes 6x slower: 0.35 -> 2.15 s for 1 M records)
RUN_LOOK = 1024
FIRST_POSITIONS = 5  # how many record numbers to keep per undecodable reason

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1_000),  # little endian, microseconds (x1000 -> ns)
    b"\xa1\xb2\xc3\xd4": (">", 1_000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),  # nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1),
    b"\x34\xcd\xb2\xa1": ("<", 1_000),  # Kuznetzov modified pcap (extra 8 bytes per record)
    b"\xa1\xb2\xcd\x34": (">", 1_000),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
COMPRESSION_MAGICS = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
)


@dataclass
class Accounting:
    """What happened to every record of one input.  ``packets == decoded + sum(undecodable)``."""

    path: str
    format: str | None = None  # "pcap" | "pcapng"
    compression: str | None = None  # None | "gzip" | "bzip2" | "xz"
    size: int = 0
    sha256: str | None = None
    packets: int = 0
    decoded: int = 0
    undecodable: dict[str, int] = field(default_factory=dict)
    first_positions: dict[str, list[int]] = field(default_factory=dict)
    out_of_order: int = 0
    linktypes: dict[int, int] = field(default_factory=dict)  # linktype -> records
    first_ts: float | None = None
    last_ts: float | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    # decoded with --open-tunnels: the UDP and IP-in-IP flows whose packets were opened, (saddr,
    # sport, daddr, dport) both ways, ports "" for IP in IP (forensics.tunnels; not in to_dict: for
    # the scan's own use)
    tunnel_flows: set = field(default_factory=set, repr=False)
    # decoded without it (Argus's view): the UDP and IP-in-IP flows that carry the tunnels it leaves closed,
    # (saddr, sport, daddr, dport) both ways -> kind (VXLAN, GTP-U, ...; not in to_dict either)
    closed_tunnels: dict = field(default_factory=dict, repr=False)

    def count_undecodable(self, reason: str, positions: np.ndarray) -> None:
        n = int(len(positions))
        if not n:
            return
        self.undecodable[reason] = self.undecodable.get(reason, 0) + n
        kept = self.first_positions.setdefault(reason, [])
        if len(kept) < FIRST_POSITIONS:
            kept.extend(int(p) for p in positions[: FIRST_POSITIONS - len(kept)])

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    @property
    def closes(self) -> bool:
        return self.packets == self.decoded + sum(self.undecodable.values())

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "size": self.size,
            "format": self.format,
            "compression": self.compression,
            "packets": self.packets,
            "decoded": self.decoded,
            "undecodable": dict(sorted(self.undecodable.items())),
            "first_positions": {k: list(v) for k, v in sorted(self.first_positions.items())},
            "out_of_order": self.out_of_order,
            "linktypes": {str(k): v for k, v in sorted(self.linktypes.items())},
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "warnings": list(self.warnings),
            "error": self.error,
        }


@dataclass
class RecordBatch:
    """Framed records: ``data[offset[i] : offset[i] + caplen[i]]`` is record ``index[i]``."""

    data: bytes
    index: np.ndarray  # int64, record number in the file
    ts_ns: np.ndarray  # int64
    caplen: np.ndarray  # uint32
    wirelen: np.ndarray  # uint32
    iface: np.ndarray  # uint16
    linktype: np.ndarray  # uint16
    offset: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.index)

    def record(self, i: int) -> bytes:
        o = int(self.offset[i])
        return self.data[o : o + int(self.caplen[i])]


class _Collector:
    """Accumulates framed records as Python lists and emits RecordBatch objects."""

    __slots__ = ("ts", "cap", "wire", "iface", "lt", "off", "first_index")

    def __init__(self, first_index: int):
        self.first_index = first_index
        self.ts: list[int] = []
        self.cap: list[int] = []
        self.wire: list[int] = []
        self.iface: list[int] = []
        self.lt: list[int] = []
        self.off: list[int] = []

    def __len__(self) -> int:
        return len(self.ts)

    def batch(self, data: bytes) -> RecordBatch:
        n = len(self.ts)
        return RecordBatch(
            data=data,
            index=np.arange(self.first_index, self.first_index + n, dtype=np.int64),
            ts_ns=np.array(self.ts, dtype=np.int64),
            caplen=np.array(self.cap, dtype=np.uint32),
            wirelen=np.array(self.wire, dtype=np.uint32),
            iface=np.array(self.iface, dtype=np.uint16),
            linktype=np.array(self.lt, dtype=np.uint16),
            offset=np.array(self.off, dtype=np.int64),
        )


def format_of(head: bytes) -> str | None:
    """'pcap' or 'pcapng' when ``head`` (the first bytes of a stream) starts a capture, else None."""
    if head[:4] in PCAP_MAGICS:
        return "pcap"
    if head[:4] == PCAPNG_SHB:
        return "pcapng"
    return None


def compression_of(head: bytes) -> str | None:
    """'gzip', 'bzip2' or 'xz' when ``head`` starts a compressed stream, else None."""
    return next((name for magic, name in COMPRESSION_MAGICS if head.startswith(magic)), None)


def sniff(path: str | os.PathLike) -> tuple[str | None, str | None]:
    """Return (format, compression) recognised from the file's content, or (None, None)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            compression = compression_of(head)
            if compression:
                fh.seek(0)
                try:
                    with decompressor(fh, compression) as inner:
                        head = inner.read(8)
                except Exception:
                    return None, compression
    except OSError:
        return None, None
    return format_of(head), compression


def decompressor(fh: BinaryIO, compression: str) -> BinaryIO:
    if compression == "gzip":
        return gzip.GzipFile(fileobj=fh, mode="rb")
    if compression == "bzip2":
        return bz2.BZ2File(fh, mode="rb")
    if compression == "xz":
        return lzma.LZMAFile(fh, mode="rb")
    raise ValueError(compression)


class _HashingReader(io.RawIOBase):
    """Wraps the raw file, hashing every byte read (the SHA-256 of the file as stored)."""

    def __init__(self, fh: BinaryIO):
        self._fh = fh
        self.sha = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = self._fh.readinto(b)
        if n:
            self.sha.update(memoryview(b)[:n])
        return n or 0


class _Source:
    """A growing byte window over a (possibly decompressed) stream."""

    def __init__(self, stream: BinaryIO, acct: Accounting):
        self.stream = stream
        self.acct = acct
        self.buf = b""
        self.pos = 0  # position in buf of the next unread byte
        self.eof = False
        self.consumed = 0  # bytes of the stream before buf[0]

    def fill(self, need: int) -> bool:
        """Make at least ``need`` bytes available from pos; False if the stream ends first."""
        while len(self.buf) - self.pos < need and not self.eof:
            # read in small pieces so a corrupt compressed stream loses only what follows the damage
            target = max(READ_SIZE, need)
            pieces: list[bytes] = []
            got = 0
            while got < target:
                try:
                    piece = self.stream.read(min(PIECE, target - got))
                except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
                    where = self.consumed + len(self.buf) - self.pos + got
                    self.acct.warn(f"compressed stream is corrupt or truncated after {where} decompressed bytes: {exc}")
                    piece = b""
                if not piece:
                    self.eof = True
                    break
                pieces.append(piece)
                got += len(piece)
            if not pieces:
                break
            self.consumed += self.pos
            self.buf = self.buf[self.pos :] + b"".join(pieces)
            self.pos = 0
        return len(self.buf) - self.pos >= need

    def compact(self) -> None:
        if self.pos:
            self.consumed += self.pos
            self.buf = self.buf[self.pos :]
            self.pos = 0

    @property
    def stream_offset(self) -> int:
        return self.consumed + self.pos


def frame(path: str | os.PathLike, acct: Accounting, batch_records: int = 262_144,
          hash_file: bool = True) -> Iterator[RecordBatch]:
    """Yield batches of framed records from a capture, filling ``acct`` as it goes (with
    ``hash_file``, its ``sha256``: the file's as stored, read to its end).

    Raises :class:`CaptureError` when the file cannot be opened or is not a capture.
    """
    p = Path(path)
    if not p.exists():
        raise CaptureError(path, "no such file")
    if p.is_dir():
        raise CaptureError(path, "is a directory, expected a capture file")
    if not p.is_file():
        raise CaptureError(path, "is not a regular file")
    try:
        raw = open(p, "rb")
    except OSError as exc:
        raise CaptureError(path, f"cannot open: {exc.strerror or exc}") from None
    with raw:
        acct.size = os.fstat(raw.fileno()).st_size
        if acct.size == 0:
            raise CaptureError(path, "empty file, not a capture")
        hashing = _HashingReader(raw) if hash_file else raw
        buffered = io.BufferedReader(hashing, buffer_size=1 << 20)
        head = buffered.peek(8)[:8]
        compression = compression_of(head)
        acct.compression = compression
        stream: BinaryIO = decompressor(buffered, compression) if compression else buffered
        src = _Source(stream, acct)
        try:
            src.fill(4)
        except Exception as exc:  # corrupt compressed header
            raise CaptureError(path, f"corrupt {compression} data: {exc}") from None
        magic = src.buf[:4]
        if magic in PCAP_MAGICS:
            acct.format = "pcap"
            yield from _frame_pcap(src, acct, batch_records, magic)
        elif magic == PCAPNG_SHB:
            acct.format = "pcapng"
            yield from _frame_pcapng(src, acct, batch_records)
        else:
            what = f"{compression}-compressed data" if compression else "file"
            raise CaptureError(path, f"not a pcap or pcapng capture ({what} starts with {magic.hex() or 'nothing'})")
        if hash_file:
            # hash the rest of the file (bytes after a truncation point still belong to it)
            while buffered.read(1 << 20):
                pass
            acct.sha256 = hashing.sha.hexdigest()


def _frame_pcap(src: _Source, acct: Accounting, batch_records: int, magic: bytes) -> Iterator[RecordBatch]:
    endian, ts_mult = PCAP_MAGICS[magic]
    kuznetzov = magic in (b"\x34\xcd\xb2\xa1", b"\xa1\xb2\xcd\x34")
    if not src.fill(24):
        raise CaptureError(acct.path, "truncated pcap file header (less than 24 bytes)")
    _, vmaj, vmin, _, _, snaplen, network = struct.unpack_from(endian + "IHHiIII", src.buf, 0)
    linktype = network & 0x0FFF_FFFF  # upper bits: FCS length flags
    src.pos = 24
    hdr_len = 24 if kuznetzov else 16
    cap_at = struct.Struct(endian + "8xI").unpack_from  # a record header's caplen, read at the header
    word = np.dtype(endian + "u4")
    index = 0
    snap_warned = False
    while True:
        stop = False
        starts: list[int] = []
        append = starts.append
        buf = src.buf
        blen = len(buf)
        limit = blen - hdr_len  # a header starting after this is not complete in buf
        pos = src.pos
        first = index  # index of the batch's first record; index = first + len(starts)
        prev_cap, same = -1, 0  # caplen of the previous record and how many before it had it too
        need = RUN_MIN  # how many of one caplen in a row before the next run look
        # the only per-record Python work: follow the caplen chain; fields are read vectorised below.
        # The common case costs a few comparisons; the rare ones (refill, corrupt, truncated) are handled inside.
        slots = iter(range(batch_records))  # one per record of the batch (a run takes its records' at once)
        for _ in slots:
            if pos > limit:
                index = first + len(starts)
                src.pos = pos
                if starts:  # offsets point into the current buffer: hand them out first
                    break
                if not src.fill(hdr_len):
                    left = len(src.buf) - src.pos
                    if left:
                        acct.warn(f"truncated record header at record {index} (offset {src.stream_offset}, {left} bytes left); kept the {index} records before it")
                    stop = True
                    break
                buf, blen, pos = src.buf, len(src.buf), src.pos
                limit = blen - hdr_len
            caplen = cap_at(buf, pos)[0]
            end = pos + hdr_len + caplen
            if end > blen or caplen > MAX_CAPLEN:
                index = first + len(starts)
                src.pos = pos
                if caplen > MAX_CAPLEN:
                    acct.warn(f"record {index} at offset {src.stream_offset} claims caplen {caplen} > {MAX_CAPLEN}: file is corrupt from there; kept the {index} records before it")
                    stop = True
                    break
                if starts:
                    break
                if not src.fill(hdr_len + caplen):
                    acct.warn(f"truncated record body at record {index} (offset {src.stream_offset}: {caplen} bytes claimed, {len(src.buf) - src.pos - hdr_len} present); kept the {index} records before it")
                    stop = True
                    break
                buf, blen, pos = src.buf, len(src.buf), src.pos
                limit = blen - hdr_len
                end = pos + hdr_len + caplen
            append(pos)
            pos = end
            if caplen != prev_cap:
                prev_cap, same = caplen, 0
                continue
            same += 1
            if same < need:
                continue
            # a run of records of one caplen (floods, bulk transfers): take the records that
            # follow with that same caplen in one vectorised step (the chain of offsets is then
            # a stride), instead of one Python iteration each
            same = 0
            stride = hdr_len + caplen
            k = min(batch_records - len(starts), (blen - pos) // stride, RUN_LOOK)
            if k > 0:
                run_caps = np.ndarray((k,), dtype=word, buffer=buf, offset=pos + 8, strides=(stride,))
                other = np.flatnonzero(run_caps != caplen)
                m = int(other[0]) if len(other) else k
                # a look that found no longer run makes the next one wait twice as long (mixed
                # frame sizes: each look costs a few microseconds), one that did keeps it soon
                need = RUN_MIN if m >= RUN_MIN else min(2 * need, RUN_LOOK)
                starts.extend(range(pos, pos + m * stride, stride))
                pos += m * stride
                next(islice(slots, m, m), None)  # (the run's records use up their slots)
            if len(starts) >= batch_records:
                src.pos = pos
                break
        else:
            src.pos = pos
        index = first + len(starts)
        if starts:
            n = len(starts)
            hdr_off = np.array(starts, dtype=np.int64)
            # (each header's 16 bytes by one row gather from a window view: no n x 16 index array)
            raw = np.lib.stride_tricks.sliding_window_view(np.frombuffer(buf, dtype=np.uint8), 16)[hdr_off]
            w = raw.view(word).reshape(n, 4).astype(np.int64)
            caps = w[:, 2]
            if not snap_warned and (caps > snaplen).any():
                i = int(np.argmax(caps > snaplen))
                acct.warn(f"record {index - n + i} has caplen {int(caps[i])} larger than the snapshot length {snaplen}")
                snap_warned = True
            yield RecordBatch(
                data=buf,
                index=np.arange(index - n, index, dtype=np.int64),
                ts_ns=w[:, 0] * 1_000_000_000 + w[:, 1] * ts_mult,
                caplen=caps.astype(np.uint32),
                wirelen=w[:, 3].astype(np.uint32),
                iface=np.zeros(n, dtype=np.uint16),
                linktype=np.full(n, linktype, dtype=np.uint16),
                offset=hdr_off + hdr_len,
            )
        if stop:
            return
        src.compact()
        if src.eof and src.pos >= len(src.buf):
            return


# pcapng ---------------------------------------------------------------------------------

_BT_IDB, _BT_PB, _BT_SPB, _BT_EPB = 1, 2, 3, 6


_NS_MIN, _NS_MAX = -(1 << 63), (1 << 63) - 1  # the timestamps a packet table holds (int64 nanoseconds)


def _tsresol_to_ns(resol: int) -> tuple[int, int]:
    """Return (multiplier, divisor) converting timestamp units to nanoseconds."""
    if resol & 0x80:
        return 1_000_000_000, 1 << (resol & 0x7F)
    exp = resol
    if exp <= 9:
        return 10 ** (9 - exp), 1
    return 1, 10 ** (exp - 9)


def _frame_pcapng(src: _Source, acct: Accounting, batch_records: int) -> Iterator[RecordBatch]:
    endian = "<"
    ifaces: list[tuple[int, int, int, int, int]] = []  # (linktype, snaplen, mult, div, offset_s)
    index = 0
    last_ts = 0
    first_section = True
    unknown_blocks = 0
    bad_ts = bad_ts_at = 0
    while True:
        col = _Collector(index)
        stop = False
        while len(col.ts) < batch_records:
            if len(src.buf) - src.pos < 12 and (col.ts or not src.fill(12)):
                if col.ts:
                    break
                left = len(src.buf) - src.pos
                if left:
                    acct.warn(f"truncated block header at offset {src.stream_offset} ({left} bytes left); kept the {index} records before it")
                stop = True
                break
            btype_raw = src.buf[src.pos : src.pos + 4]
            if btype_raw == PCAPNG_SHB:
                bom = src.buf[src.pos + 8 : src.pos + 12]
                if bom == b"\x4d\x3c\x2b\x1a":
                    endian = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    endian = ">"
                else:
                    if first_section:
                        raise CaptureError(acct.path, "pcapng section header has an invalid byte-order magic")
                    acct.warn(f"section header at offset {src.stream_offset} has an invalid byte-order magic; kept the {index} records before it")
                    stop = True
                    break
            btype, blen = struct.unpack_from(endian + "II", src.buf, src.pos)
            if blen < 12 or blen % 4 or blen > MAX_BLOCK:
                if first_section and btype_raw == PCAPNG_SHB:
                    raise CaptureError(acct.path, f"pcapng section header claims an invalid length {blen}")
                acct.warn(f"block at offset {src.stream_offset} claims an invalid length {blen}: file is corrupt from there; kept the {index} records before it")
                stop = True
                break
            if len(src.buf) - src.pos < blen:
                if col.ts:
                    break
                if not src.fill(blen):
                    acct.warn(f"truncated block (type {btype:#x}) at offset {src.stream_offset}: {blen} bytes claimed, {len(src.buf) - src.pos} present; kept the {index} records before it")
                    stop = True
                    break
            base = src.pos
            (trailer,) = struct.unpack_from(endian + "I", src.buf, base + blen - 4)
            if trailer != blen:
                acct.warn(f"block at offset {src.stream_offset} has mismatched lengths ({blen} vs {trailer}): file is corrupt from there; kept the {index} records before it")
                stop = True
                break
            if btype == 0x0A0D0D0A:
                ifaces = []
                first_section = False
            elif btype == _BT_IDB:
                if blen < 20:
                    acct.warn(f"interface block at offset {src.stream_offset} is too short")
                else:
                    lt, _, snap = struct.unpack_from(endian + "HHI", src.buf, base + 8)
                    resol, offset_s = 6, 0
                    for code, val in _options(src.buf, base + 16, base + blen - 4, endian):
                        if code == 9 and len(val) >= 1:
                            resol = val[0]
                        elif code == 14 and len(val) >= 8:
                            (offset_s,) = struct.unpack_from(endian + "q", val, 0)
                    mult, div = _tsresol_to_ns(resol)
                    ifaces.append((lt, snap, mult, div, offset_s))
            elif btype in (_BT_EPB, _BT_PB):
                if blen < 32:
                    acct.warn(f"packet block at offset {src.stream_offset} is too short; skipped")
                else:
                    if btype == _BT_EPB:
                        iface, hi, lo, caplen, wirelen = struct.unpack_from(endian + "IIIII", src.buf, base + 8)
                    else:
                        iface, _drops, hi, lo, caplen, wirelen = struct.unpack_from(endian + "HHIIII", src.buf, base + 8)
                    if iface >= len(ifaces):
                        acct.warn(f"packet block at offset {src.stream_offset} names interface {iface}, which was never described; skipped")
                    elif caplen > min(blen - 32, MAX_CAPLEN):
                        acct.warn(f"packet block at offset {src.stream_offset} claims caplen {caplen} beyond its block or the {MAX_CAPLEN}-byte bound; skipped")
                    else:
                        lt, snap, mult, div, offset_s = ifaces[iface]
                        units = (hi << 32) | lo
                        ts = (units * mult) // div + offset_s * 1_000_000_000
                        if not _NS_MIN <= ts <= _NS_MAX:  # (a corrupt timestamp, resolution or offset)
                            if not bad_ts:
                                bad_ts_at = src.stream_offset
                            bad_ts += 1
                            src.pos = base + blen
                            continue
                        last_ts = ts
                        col.ts.append(ts)
                        col.cap.append(caplen)
                        col.wire.append(wirelen)
                        col.iface.append(iface)
                        col.lt.append(lt)
                        col.off.append(base + 28)
                        index += 1
            elif btype == _BT_SPB:
                if not ifaces:
                    acct.warn(f"simple packet block at offset {src.stream_offset} before any interface; skipped")
                else:
                    lt, snap, *_ = ifaces[0]
                    (wirelen,) = struct.unpack_from(endian + "I", src.buf, base + 8)
                    caplen = min(wirelen, blen - 16, snap or MAX_CAPLEN, MAX_CAPLEN)
                    col.ts.append(last_ts)  # SPBs carry no timestamp: use the last one seen
                    col.cap.append(caplen)
                    col.wire.append(wirelen)
                    col.iface.append(0)
                    col.lt.append(lt)
                    col.off.append(base + 12)
                    index += 1
                    acct.warn("simple packet blocks carry no timestamp; they were given the previous packet's time")
            elif btype in (4, 5, 0xA, 0xBAD, 0x40000BAD, 7, 8, 9, 0x80000001):
                pass  # name resolution, statistics, secrets, custom, ...: nothing to frame
            else:
                unknown_blocks += 1
            src.pos = base + blen
        if col.ts:
            yield col.batch(src.buf)
        if stop:
            break
        src.compact()
        if src.eof and src.pos >= len(src.buf):
            break
    if unknown_blocks:
        acct.warn(f"skipped {unknown_blocks} pcapng block(s) of unknown type")
    if bad_ts:
        acct.warn(f"skipped {bad_ts} packet block(s) whose timestamp lies outside 1678-2262 (nanoseconds since 1970 "
                  f"do not hold it: a corrupt timestamp, resolution or offset), the first at offset {bad_ts_at}")


def _options(buf: bytes, start: int, end: int, endian: str):
    pos = start
    while pos + 4 <= end:
        code, length = struct.unpack_from(endian + "HH", buf, pos)
        if code == 0:
            return
        val = buf[pos + 4 : pos + 4 + length]
        yield code, val
        pos += 4 + ((length + 3) & ~3)
