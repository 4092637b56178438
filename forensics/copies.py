"""Packets a capture holds twice: a mirror (SPAN) port's copies.

A switch's mirror port that copies both the ingress and the egress of the ports it watches, two
taps on one path, or captures of two interfaces merged together, record each packet twice, a few
microseconds apart.  Argus, and so this tool and BoT-IoT's features, count both copies: every
packet and byte count, rate and flood size of the flows between the mirrored ports is doubled,
and a normal exchange looks twice as busy.  The capture's accounting warns (one line) when
:data:`MIN_SHARE` of its IP packets, and at least :data:`MIN_COPIES`, are copies.

A packet is a copy when one of the :data:`LAGS` packets before it in the file (the previous
chunk's last ones included) has the same IP addresses, protocol, IP length and identification,
ports, TCP flags, sequence, acknowledgement and window, ICMP type, code and sequence, first two
UDP payload bytes and length on the wire, and was stamped at most :data:`WINDOW_NS` earlier.
Packets whose identification is 0 (a sender that does not number them: SCTP and GTP traces of the
corpus, UDP sent with DF by Linux) are only compared when they are TCP segments of
:data:`MIN_TCP_DATA_LEN` bytes or more (sequence numbers then tell data apart; bare duplicate
ACKs of a lossy connection would look alike).
TTL and MAC addresses are left out (a mirror of a router's two sides sees its packets with one
hop less and other MACs).  IPv4 only: its identification tells two sendings of the same bytes
apart (a TCP retransmission gets a new one, and comes hundreds of milliseconds later); IPv6
has none in most packets, and two datagrams of a UDP flood with fixed ports would look alike.
"""

from __future__ import annotations

import numpy as np

LAGS = 4  # how many packets back a copy is looked for
WINDOW_NS = 10_000_000  # a copy follows its packet within 10 ms
MIN_SHARE = 0.005  # warn when at least 0.5 % of the IPv4 packets are copies ...
MIN_COPIES = 10  # ... and at least this many
MIN_TCP_DATA_LEN = 60  # an IPv4 length of a TCP segment that carries data (20 + 20 + options + data)

_FIELDS = ("src_lo", "dst_lo", "proto", "ip_len", "ip_id", "sport", "dport", "tcp_flags", "tcp_seq", "tcp_ack",
           "tcp_win", "icmp_type", "icmp_code", "icmp_seq", "udp_head", "wirelen")
_MARK = " are copies of a packet up to "
_DROPPED = "; the flows count each packet once, unlike Argus's"


def is_copies_warning(text: str) -> bool:
    """Whether a capture warning is :meth:`CopyWatch.warning`'s."""
    return _MARK in text


def was_dropped(text: str) -> bool:
    """Whether a copies warning says the copies were left out of the flows (``--drop-copies``)."""
    return text.endswith(_DROPPED)


def comparable(cols: dict) -> np.ndarray:
    """Per row of a packet table's columns: may it be compared (an identification other than 0,
    or a TCP segment with data; identification 0 is a sender that does not number its datagrams,
    and bare ACKs repeat as duplicate ACKs)."""
    return (cols["ip_id"] != 0) | ((cols["proto"] == 6) & (cols["ip_len"] >= MIN_TCP_DATA_LEN))


_QUICK = ("ip_id", "ip_len", "tcp_seq")  # compared first over every packet; the other fields where these agree


class CopyWatch:
    """Counts a capture's copies batch by batch (:meth:`add`, packet tables in file order)."""

    def __init__(self):
        self.ip4 = 0  # IPv4 packets seen
        self.copies = 0
        self.first_at = -1  # the record of the first copy
        # the last LAGS compared packets' fields and times (at first: times no copy can follow)
        self._tail = {name: np.zeros(LAGS, np.int64) for name in _FIELDS}
        self._tail_t = np.full(LAGS, np.iinfo(np.int64).min // 2, np.int64)

    def add(self, table) -> np.ndarray | None:
        """Count the copies of ``table`` (the next rows of the capture); returns a mask of its rows
        that are copies, or None when none is."""
        cols = table.columns
        v4 = (cols["ip_version"] == 4) & (cols["status"] == 0)
        self.ip4 += int(v4.sum())
        v4 = np.flatnonzero(v4 & comparable(cols))
        if not len(v4):
            return None
        n = len(v4)
        # (only the quick fields over the whole batch; the others are gathered for the few candidates)
        f = {name: np.concatenate([self._tail[name], cols[name][v4].astype(np.int64)]) for name in _QUICK}
        t = np.concatenate([self._tail_t, cols["ts_ns"][v4]])

        def at(name, pos):  # field values at positions of the joined (tail + batch) rows
            if name in f:
                return f[name][pos]
            mine = pos >= LAGS
            return np.where(mine, cols[name][v4[np.where(mine, pos - LAGS, 0)]].astype(np.int64),
                            self._tail[name][np.minimum(pos, LAGS - 1)])

        copy = np.zeros(n, dtype=bool)
        for lag in range(1, LAGS + 1):
            cur, prev = slice(LAGS, LAGS + n), slice(LAGS - lag, LAGS - lag + n)
            same = f[_QUICK[0]][cur] == f[_QUICK[0]][prev]
            for name in _QUICK[1:]:
                same &= f[name][cur] == f[name][prev]
            k = np.flatnonzero(same & ~copy)
            if not len(k):
                continue
            dt = t[LAGS + k] - t[LAGS - lag + k]
            ok = (dt >= 0) & (dt <= WINDOW_NS)
            for name in _FIELDS:
                ok &= at(name, LAGS + k) == at(name, LAGS - lag + k)
            copy[k[ok]] = True
        c = int(copy.sum())
        if c:
            if self.first_at < 0:
                self.first_at = int(cols["index"][v4[np.argmax(copy)]])
            self.copies += c
        last = np.arange(n + LAGS - LAGS, n + LAGS)  # (the last LAGS joined rows)
        self._tail = {name: at(name, last) for name in _FIELDS}
        self._tail_t = t[-LAGS:].copy()
        if not c:
            return None
        mask = np.zeros(len(table), dtype=bool)
        mask[v4[copy]] = True
        return mask

    def warning(self, dropped: bool = False) -> str | None:
        """The capture's warning; ``dropped``: the copies were left out of the flows
        (``--drop-copies``), said whatever their number."""
        if dropped and self.copies:
            return (f"{self.copies:,} of {self.ip4:,} IPv4 packets ({100 * self.copies / self.ip4:.3g} %){_MARK}"
                    f"{LAGS} packets and {WINDOW_NS // 10**6} ms before them (first at record {self.first_at:,}): "
                    f"left out of the flows (--drop-copies){_DROPPED}")
        if self.copies < MIN_COPIES or self.copies < MIN_SHARE * self.ip4:
            return None
        return (f"{self.copies:,} of {self.ip4:,} IPv4 packets ({100 * self.copies / self.ip4:.3g} %){_MARK}"
                f"{LAGS} packets and {WINDOW_NS // 10**6} ms before them (same addresses, IP identification, ports, "
                f"TCP sequence and lengths; first at record {self.first_at:,}): the capture holds them twice (a "
                "mirror port copying both directions, or captures merged); packet and byte counts, rates and flood "
                "sizes of their flows are doubled, as Argus counts them (--drop-copies leaves them out)")
