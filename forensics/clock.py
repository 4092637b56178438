"""The capture's clock: what its timestamps say about the time they were taken in.

The report answers *when*; it can only be as right as the recording clock.  IoT devices and
the gateways captures are taken on often have no real-time clock: they start in 1970 until NTP
sets them, so one capture can hold packets from 1970 and from today, and a capture merged from
several interfaces or written by several capture queues is not in time order.  Flows follow file
order, as Argus's do (a reply read before its request starts a flow of its own, reversed), and
incident times follow the clock, so the capture's accounting warns (one line each, counted over
the whole capture, chunk boundaries included) when:

* packets are stamped earlier than the packet before them in the file by :data:`BACK_WARN_NS` or
  more (the count of all packets stamped earlier, however little, is the accounting's
  ``out_of_order``; a microsecond's jitter between capture queues is common and harmless);
* the clock jumps forward by :data:`JUMP_NS` or more between two packets (a clock set during the
  capture, or a capture paused that long);
* the first timestamp lies before :data:`UNSET_BEFORE_S` (1980-01-01): a clock that was never set
  (it counts from 1970-01-01, the Unix epoch).
"""

from __future__ import annotations

import time

import numpy as np

BACK_WARN_NS = 1_000_000  # a step back of 1 ms or more: worth a warning
JUMP_NS = 86_400 * 10**9  # a day or more between two packets: a clock set during the capture
UNSET_BEFORE_S = 315_532_800  # 1980-01-01 00:00:00 UTC (a clock that starts at 0 counts from 1970)


def _utc(ns: int) -> str:
    s = ns // 10**9
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(s))
    except (OverflowError, OSError, ValueError):
        return f"{s} s since 1970"


def _span(ns: int) -> str:
    """A duration for a warning: 1.2 ms, 3.4 s, 2.5 h, 3.0 days, 56.2 years."""
    s = ns / 1e9
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    if s < 3600:
        return f"{s:.3g} s"
    if s < 86_400:
        return f"{s / 3600:.3g} h"
    if s < 365.25 * 86_400:
        d = f"{s / 86_400:.3g}"
        return f"{d} day" if d == "1" else f"{d} days"
    return f"{s / (365.25 * 86_400):.3g} years"


_MARKS = ("the capture's first timestamp is ", "the clock jumps forward by ", " stamped earlier than the packet before them")


def is_clock_warning(text: str) -> bool:
    """Whether a capture warning is one of :meth:`ClockWatch.warnings`."""
    return text.startswith(_MARKS[:2]) or _MARKS[2] in text


class ClockWatch:
    """Follows a capture's timestamps batch by batch (:meth:`add`) and says what it found
    (:meth:`warnings`)."""

    def __init__(self):
        self.last: int | None = None  # the previous batch's last timestamp (ns)
        self.first: int | None = None
        self.back = 0  # packets stamped earlier than the one before them
        self.back_max = 0  # the largest step back (ns)
        self.back_at = -1  # the record of the first step back of BACK_WARN_NS or more
        self.big_back = 0  # steps back of BACK_WARN_NS or more
        self.jumps = 0
        self.jump_max = 0
        self.jump_at = -1  # the record after the largest jump
        self.jump_from = 0  # the timestamps around it
        self.jump_to = 0

    def add(self, ts: np.ndarray, index: np.ndarray) -> None:
        """``ts``: int64 nanoseconds of a batch's records, in file order; ``index``: their record
        numbers."""
        n = len(ts)
        if not n:
            return
        if self.first is None:
            self.first = int(ts[0])
        prev = np.empty(n, dtype=np.int64)
        prev[0] = self.last if self.last is not None else ts[0]
        prev[1:] = ts[:-1]
        self.last = int(ts[-1])
        step = ts - prev
        back = step < 0
        if back.any():
            self.back += int(back.sum())
            self.back_max = max(self.back_max, int(-step.min()))
            big = np.flatnonzero(step <= -BACK_WARN_NS)
            if len(big):
                if self.back_at < 0:
                    self.back_at = int(index[big[0]])
                self.big_back += len(big)
        jump = np.flatnonzero(step >= JUMP_NS)
        if len(jump):
            self.jumps += len(jump)
            k = int(jump[np.argmax(step[jump])])
            if int(step[k]) > self.jump_max:
                self.jump_max, self.jump_at = int(step[k]), int(index[k])
                self.jump_from, self.jump_to = int(prev[k]), int(ts[k])

    def warnings(self) -> list[str]:
        out = []
        if self.first is not None and self.first < UNSET_BEFORE_S * 10**9:
            out.append(f"the capture's first timestamp is {_utc(self.first)}, before 1980: the recording clock was "
                       "likely never set (a device without a real-time clock): times read from it are not wall-clock "
                       "times")
        if self.jumps:
            more = f" ({self.jumps:,} jumps of a day or more)" if self.jumps > 1 else ""
            out.append(f"the clock jumps forward by {_span(self.jump_max)} at record {self.jump_at:,} "
                       f"({_utc(self.jump_from)} -> {_utc(self.jump_to)}){more}: a clock set during the capture "
                       "(NTP on a device without a real-time clock) or a capture paused that long; times before "
                       "the jump may not be wall-clock times")
        if self.big_back:
            out.append(f"{self.back:,} packet(s) stamped earlier than the packet before them in the file, "
                       f"{self.big_back:,} of them by 1 ms or more (at most {_span(self.back_max)}, first at record "
                       f"{self.back_at:,}): file order is not time order (captures merged, or several capture "
                       "queues); flows follow file order, as Argus's do, so a reply read before its request makes "
                       "a flow of its own in the reverse direction")
        return out
