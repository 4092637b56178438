"""BoT-IoT columns for flow records: the 35 Argus/BoT-IoT columns, the number
encodings and the 14 window features (definitions in :mod:`forensics.schema`).

API::

    df, accounting = extract_flows("capture.pcap")          # whole capture, streamed
    df = features_from_table(packet_table)                    # an in-memory PacketTable
    for batch in iter_flow_batches(path, accounting_out=[]):  # bounded memory
        ...
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pandas as pd

from forensics import schema
from forensics.flows import DEFAULT_MERGE_HORIZON_S, FlowBuilder
from forensics.packets import PacketTable

_WINDOW_SUMS = (
    # name, value column, key columns
    ("TnBPSrcIP", "bytes", ("saddr",)),
    ("TnBPDstIP", "bytes", ("daddr",)),
    ("TnP_PSrcIP", "pkts", ("saddr",)),
    ("TnP_PDstIP", "pkts", ("daddr",)),
    ("TnP_PerProto", "pkts", ("proto",)),
    ("TnP_Per_Dport", "pkts", ("dport",)),
    ("N_IN_Conn_P_SrcIP", "_one", ("saddr",)),
    ("N_IN_Conn_P_DstIP", "_one", ("daddr",)),
    ("Pkts_P_State_P_Protocol_P_DestIP", "pkts", ("state", "proto", "daddr")),
    ("Pkts_P_State_P_Protocol_P_SrcIP", "pkts", ("state", "proto", "saddr")),
)
_WINDOW_MEANS = (
    ("AR_P_Proto_P_SrcIP", ("proto", "saddr")),
    ("AR_P_Proto_P_DstIP", ("proto", "daddr")),
    ("AR_P_Proto_P_Sport", ("proto", "sport")),
    ("AR_P_Proto_P_Dport", ("proto", "dport")),
)


def _group_codes(keys: pd.DataFrame, factorized: dict | None = None) -> np.ndarray:
    """Dense int codes of the rows' key tuples (factorize each column, combine).

    ``factorized`` caches the per-column ``(codes, n_unique)`` across calls.
    """
    codes = None
    for c in keys.columns:
        if factorized is not None and c in factorized:
            f, n_uniq = factorized[c]
        else:
            f, uniq = pd.factorize(keys[c], use_na_sentinel=False)
            f, n_uniq = f.astype(np.int64), len(uniq)
            if factorized is not None:
                factorized[c] = (f, n_uniq)
        codes = f if codes is None else pd.factorize(codes * (n_uniq + 1) + f)[0].astype(np.int64)
    return codes


def _stable_group_order(gid: np.ndarray) -> np.ndarray:
    """``np.argsort(gid, kind="stable")`` for dense non-negative codes, by 16-bit radix passes."""
    n_groups = int(gid.max()) + 1 if len(gid) else 0
    if n_groups <= 1 << 16:
        return np.argsort(gid.astype(np.uint16), kind="stable")
    if n_groups > 1 << 32:
        return np.argsort(gid, kind="stable")
    o = np.argsort((gid & 0xFFFF).astype(np.uint16), kind="stable")
    return o[np.argsort((gid[o] >> 16).astype(np.uint16), kind="stable")]


def _window_plan(gid: np.ndarray, window: int):
    """Sort order and window start (in sorted order) for rows grouped by gid."""
    n = len(gid)
    stride = n + window + 1
    # rows sorted by (gid, position): a stable sort by gid (same order as sorting gid * stride + pos)
    o = _stable_group_order(gid)
    comp = gid[o] * stride + o
    first = np.searchsorted(comp, comp - window + 1, side="left")
    return o, first


def _window_sum(values: np.ndarray, keys, window: int, plan=None) -> np.ndarray:
    """For each row i: sum of values[j] for j in (i-window, i] with keys[j] == keys[i]."""
    n = len(values)
    if n == 0:
        return values.copy()
    if plan is None:
        gid = keys if isinstance(keys, np.ndarray) else _group_codes(keys)
        plan = _window_plan(gid, window)
    o, first = plan
    v = values[o]
    cs = np.cumsum(v)
    before = np.where(first > 0, cs[np.maximum(first - 1, 0)], 0)
    out = np.empty(n, dtype=cs.dtype)
    out[o] = cs - before
    return out


def window_features(flows: pd.DataFrame, window: int = schema.WINDOW_SIZE) -> pd.DataFrame:
    """The 14 window features for rows in output order (a DataFrame, same index)."""
    return pd.DataFrame(_window_columns(flows, window), index=flows.index)


def _window_columns(flows: pd.DataFrame, window: int) -> dict[str, np.ndarray]:
    """:func:`window_features` as a dict of columns."""
    n = len(flows)
    out = {}
    dur = flows["dur"].to_numpy(dtype=np.float64)
    pkts = flows["pkts"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ar = np.where(dur > 0, pkts / dur, 0.0)
    cols = {"bytes": flows["bytes"].to_numpy(dtype=np.int64), "pkts": flows["pkts"].to_numpy(dtype=np.int64)}
    plans: dict[tuple, tuple] = {}
    factorized: dict = {}

    def plan(keys):
        if keys not in plans:
            plans[keys] = _window_plan(_group_codes(flows.loc[:, list(keys)], factorized), window)
        return plans[keys]

    def count(keys):
        """``_window_sum`` of ones: the window's rows of the same key, i.e. sorted index - window start + 1."""
        o, first = plan(keys)
        c = np.empty(n, dtype=np.int64)
        c[o] = np.arange(1, n + 1, dtype=np.int64) - first
        return c

    for name, val, keys in _WINDOW_SUMS:
        out[name] = count(keys) if val == "_one" else _window_sum(cols[val], None, window, plan(keys))
    for name, keys in _WINDOW_MEANS:
        s = _window_sum(ar, None, window, plan(keys))
        c = count(keys)
        out[name] = s / np.maximum(c, 1)
    return out


class _Finisher:
    """Turns flow rows (from FlowBuilder) into schema rows, carrying the window tail across batches."""

    def __init__(self, window: int = schema.WINDOW_SIZE):
        self.window = window
        self.next_id = 1
        self.tail: pd.DataFrame | None = None

    def __call__(self, rows: pd.DataFrame) -> pd.DataFrame:
        if not len(rows):
            return schema.empty_frame()
        rows = rows.reset_index(drop=True)
        rows["pkSeqID"] = np.arange(self.next_id, self.next_id + len(rows), dtype=np.int64)
        self.next_id += len(rows)
        blank = pd.Series("", index=rows.index)  # (built once: a column of "" is the same for all six)
        for c in ("soui", "doui", "sco", "dco", "category", "subcategory"):
            rows[c] = blank
        rows["attack"] = 0
        rows["flgs"] = rows["flgs"].astype(str)
        rows["proto_number"] = schema.encode_series(rows["proto"], schema.PROTO_NUMBERS)
        rows["state_number"] = schema.encode_series(rows["state"], schema.STATE_NUMBERS)
        rows["flgs_number"] = schema.encode_series(rows["flgs"], schema.FLGS_NUMBERS)
        need = ["saddr", "daddr", "proto", "sport", "dport", "state", "bytes", "pkts", "dur"]
        # the window runs on over the previous batch's last rows (their features are not written again)
        done = len(self.tail) if self.tail is not None else 0
        both = pd.concat([self.tail, rows[need]], ignore_index=True) if done else rows[need]
        for c, v in _window_columns(both, self.window).items():
            rows[c] = v[done:]
        keep = self.window - 1
        self.tail = both.iloc[-keep:].reset_index(drop=True) if keep > 0 else both.iloc[0:0]
        return schema.conform(rows)


def iter_flow_batches(tables, *, merge_horizon_s: float = DEFAULT_MERGE_HORIZON_S) -> Iterator[pd.DataFrame]:
    """Schema rows for an iterable of PacketTable chunks (in file order), batch by batch."""
    builder = FlowBuilder(merge_horizon_s=merge_horizon_s)
    fin = _Finisher()
    for t in tables:
        rows = builder.add(t)
        if len(rows):
            yield fin(rows)
    for rows in builder.finish_batches():
        if len(rows):
            yield fin(rows)


def features_from_table(table: PacketTable, **kw) -> pd.DataFrame:
    """All schema rows for one in-memory PacketTable."""
    parts = list(iter_flow_batches([table], **kw))
    return pd.concat(parts, ignore_index=True) if parts else schema.empty_frame()


PREFETCH_CHUNK = 262_144  # packets per chunk when the next chunk is decoded in a thread


def extract_flows(path, *, chunk_packets: int = 1_000_000, merge_horizon_s: float = DEFAULT_MERGE_HORIZON_S,
                  open_tunnels: bool = False, drop_copies: bool = False):
    """Flows of one capture: ``(DataFrame with schema.COLUMNS, decode Accounting)``.

    The capture is decoded in chunks of ``chunk_packets`` with flow state
    carried across chunks; the result does not depend on the chunk size.
    ``open_tunnels``: flows inside UDP tunnels and link headers too, as Zeek opens them
    (:mod:`forensics.tunnels`); not Argus's (nor BoT-IoT's) view.  ``drop_copies``: packets held twice
    (:mod:`forensics.copies`) counted once; Argus counts both.
    Raises :class:`forensics.errors.CaptureError` for a file that is not a capture.
    """
    from forensics.decode import prefetched, stream_packets
    from forensics.sequences import _threads

    if _threads() > 1:
        # a second core decodes the next chunk while this thread builds flows from the last one
        # (smaller chunks, so that there is a next one: the rows do not depend on the chunk size);
        # measured on bench/scan.py's 1 M-packet capture: 5.1-5.6 -> 4.1-4.3 s
        stream = stream_packets(path, chunk_packets=min(chunk_packets, PREFETCH_CHUNK), open_tunnels=open_tunnels,
                                drop_copies=drop_copies)
        chunks = prefetched(stream)
    else:
        stream = stream_packets(path, chunk_packets=chunk_packets, open_tunnels=open_tunnels, drop_copies=drop_copies)
        chunks = stream
    parts = list(iter_flow_batches(chunks, merge_horizon_s=merge_horizon_s))
    df = pd.concat(parts, ignore_index=True) if parts else schema.empty_frame()
    return df, stream.accounting
