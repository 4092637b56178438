"""Time-ordered context windows of flow feature vectors (the model input).

Each flow (the *anchor*) gets two windows of ``T`` steps, aligned step by step:

* the **source window**: flows with the anchor's ``saddr``, ordered by ``stime``;
* the **destination window**: flows with the anchor's ``daddr``, ordered by ``stime``.

Each window holds ``past`` flows before the anchor, the anchor itself and
``future = T - past - 1`` flows after it (forensics is offline, so the first
flows of a scan see what follows them).  Missing positions are zero padded and
flagged by ``valid = 0``.  Step ``t`` of the sequence is the concatenation of
step ``t`` of the source window and step ``t`` of the destination window, so a
sequence is a ``(T, C)`` float32 array with ``C = 2 * len(STEP_FEATURES)``.

What the windows make visible:

* a port scan: one source, many destinations/ports, tiny REQ/RST flows close in
  time (source window: ``same_peer = 0``, ``same_dport = 0``, small gaps);
* a spoofed DDoS: many sources, one victim port (destination window:
  ``same_peer = 0`` but ``same_dport = 1``, tiny gaps, one-packet INT flows);
* keylogging: one long, slow session of small packets (anchor: long ``dur``, low
  ``rate``, small bytes/packet; windows: few, widely spaced flows).

Features come **only** from BoT-IoT flow columns: sizes and counts through
``log1p``, one-hot ``proto``/``state``, port classes, bytes per packet,
direction ratios, and *relative* times (gaps inside the window, offset from the
anchor).  Addresses are only compared for equality with the anchor's peer
(``same_peer``); addresses, MACs, ``pkSeqID``, ``seq`` and absolute times never
reach the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forensics.errors import SchemaError

# Columns a flow table must have (BoT-IoT names).
NUMERIC_COLUMNS = [
    "stime", "ltime", "pkts", "bytes", "dur", "mean", "stddev", "sum", "min", "max",
    "spkts", "dpkts", "sbytes", "dbytes", "rate", "srate", "drate",
]
REQUIRED_COLUMNS = ["stime", "ltime", "proto", "saddr", "sport", "daddr", "dport", "pkts", "bytes",
                    "state", "dur", "mean", "stddev", "sum", "min", "max", "spkts", "dpkts", "sbytes",
                    "dbytes", "rate", "srate", "drate"]

PROTOS = ["tcp", "udp", "icmp", "arp", "ipv6-icmp"]
STATES = ["CON", "INT", "FIN", "REQ", "RST", "ACC", "CLO", "TIM", "ECO", "ECR", "URP", "URH", "URN"]
# Destination ports worth naming (IoT testbed services), then ranges.
# Named service ports are deliberately not features: with a handful of lab runs a
# model learns "port 80 => HTTP flood" instead of the flow's behaviour.
DPORTS: dict[str, tuple[int, ...]] = {}
LOG_COLUMNS = ["pkts", "bytes", "spkts", "dpkts", "sbytes", "dbytes", "dur", "mean", "stddev", "sum", "min",
               "max", "rate", "srate", "drate"]


# Continuous features are rounded (log scale: 1/32 ~ 3 % steps; times 1/16 of log1p(ms)),
# so near-identical flood records give identical windows that are computed once.
QUANT_FLOW = 32.0
QUANT_TIME = 16.0


def _q(v: np.ndarray, q: float) -> np.ndarray:
    return np.round(v * q) / q


# Host profiles: behaviour of the flow's source (over all flows it initiated in the
# capture) and of its destination (over all flows it received).  They let a flow
# inherit what its host does elsewhere in the capture (an OS-fingerprint run sends
# ICMP/UDP probes besides its SYN scan; a SYN flood hits one port, a scan many).
PROFILE_NAMES = ["log_flows", "log_peers", "log_dports", "frac_tcp", "frac_udp", "frac_icmp", "frac_REQ", "frac_RST",
                 "frac_CON", "frac_INT", "frac_FIN", "frac_ECO", "frac_one_pkt", "mean_log_bytes_per_pkt",
                 "log_n_icmp", "log_n_udp", "log_n_tcp"]


def _profile(key: np.ndarray, peer: np.ndarray, dport: np.ndarray, is_proto, is_state,
             pkts: np.ndarray, bpp: np.ndarray) -> np.ndarray:
    """``(N, len(PROFILE_NAMES))``: each row gets the profile of its ``key`` group.

    ``is_proto(name)`` / ``is_state(name)`` give the boolean mask of flows with that proto / state.
    """
    n = len(key)
    if n == 0:
        return np.zeros((0, len(PROFILE_NAMES)), np.float32)
    k = max(int(key.max()) + 1, 1)
    cnt = np.bincount(key, minlength=k).astype(np.float64)

    def distinct(other):
        pair = _unique_sorted(key.astype(np.int64) * (int(other.max()) + 2) + (other + 1))
        return np.bincount(pair // (int(other.max()) + 2), minlength=k)

    def frac(mask):
        return np.bincount(key, weights=mask.astype(np.float64), minlength=k) / np.maximum(cnt, 1)

    cols = [np.log1p(cnt), np.log1p(distinct(peer)), np.log1p(distinct(np.where(dport < 0, -1, dport)))]
    cols += [frac(is_proto(p)) for p in ("tcp", "udp", "icmp")]
    cols += [frac(is_state(st)) for st in ("REQ", "RST", "CON", "INT", "FIN", "ECO")]
    cols += [frac(pkts <= 1), np.bincount(key, weights=bpp, minlength=k) / np.maximum(cnt, 1)]
    # rare kinds are lost in a fraction (a few ICMP probes among 1000 SYNs): counts too
    cols += [np.log1p(np.bincount(key, weights=is_proto(p).astype(np.float64), minlength=k))
             for p in ("icmp", "udp", "tcp")]
    prof = _q(np.stack(cols, axis=1), QUANT_FLOW)  # (per group, then gathered: the same values)
    return prof[key]


def _unique_sorted(v: np.ndarray) -> np.ndarray:
    """``np.unique`` of an int64 array, without its sort when the values are few and small."""
    if len(v) and v.min() >= 0 and v.max() < 4 * len(v) + 1024:
        return np.flatnonzero(np.bincount(v))
    return np.unique(v)


# How many sources share a destination: one source dominating a service is DoS,
# several (or forged) sources in similar shares is DDoS.  Counted per SHARE_BUCKET_S-second
# slice of the capture (by flow start), not over the whole capture: measured on lab
# mixed/run30, a single attacker's HTTP DoS on the camera followed 3.5 s later by four
# bots' DDoS on the same port made the whole DoS phase (1,385 flows) look shared, and every
# model called it DDoS.  Weights trained on runs 0-29 (validation run30, 2026-11-27): category
# accuracy on run30 0.9832 with capture-wide shares, 1.0000 with 5-s slices.
SHARE_NAMES = ["svc_log_flows", "svc_log_srcs", "svc_src_share", "svc_top_share",
               "dst_log_srcs", "dst_src_share", "dst_top_share"]
SHARE_BUCKET_S = 5.0


def _group(*keys: np.ndarray) -> np.ndarray:
    """Dense group codes of the rows of non-negative int ``keys`` (ordered like the sorted rows)."""
    code = np.zeros(len(keys[0]), np.int64)
    for k in keys:
        k = np.asarray(k, np.int64)
        lo = int(k.min()) if len(k) else 0
        span = (int(k.max()) if len(k) else 0) - lo + 1
        if len(code) and (int(code.max()) + 1) * span >= 2**62:  # renumber before it could overflow
            code = np.unique(code, return_inverse=True)[1].ravel()
        code = code * span + (k - lo)
    return np.unique(code, return_inverse=True)[1].ravel()


def _shares(s_code: np.ndarray, d_code: np.ndarray, dport: np.ndarray, proto_code: np.ndarray,
            stime: np.ndarray) -> np.ndarray:
    """Per flow: how the flows of its destination service (address, port, protocol) and of its
    destination address, in its ``SHARE_BUCKET_S`` slice of the capture, are shared among sources."""
    n = len(s_code)
    if n == 0:
        return np.zeros((0, len(SHARE_NAMES)), np.float32)
    st = np.nan_to_num(np.asarray(stime, np.float64))
    bucket = np.floor((st - st.min()) / SHARE_BUCKET_S).astype(np.int64)
    cols = []
    for svc in (_group(d_code, dport, proto_code, bucket), _group(d_code, bucket)):
        pair = _group(svc, s_code)
        n_svc = np.bincount(svc)
        n_pair = np.bincount(pair)
        share = n_pair[pair] / n_svc[svc]
        top = np.zeros(len(n_svc))
        np.maximum.at(top, svc, share)
        first_pair = np.unique(pair, return_index=True)[1]
        n_srcs = np.bincount(svc[first_pair], minlength=len(n_svc))
        if len(cols) == 0:
            cols += [np.log1p(n_svc[svc]), np.log1p(n_srcs[svc]), share, top[svc]]
        else:
            cols += [np.log1p(n_srcs[svc]), share, top[svc]]
    return _q(np.stack(cols, axis=1), QUANT_FLOW)


def _flow_feature_names() -> list[str]:
    names = [f"log_{c}" for c in LOG_COLUMNS]
    names += ["log_sbytes_per_pkt", "log_dbytes_per_pkt", "dpkts_frac", "dbytes_frac", "records"]
    names += [f"proto_{p}" for p in PROTOS] + ["proto_other"]
    names += [f"state_{s}" for s in STATES] + ["state_other"]
    names += [f"dport_{k}" for k in DPORTS] + ["dport_none", "dport_low", "dport_registered",
                                                "dport_ephemeral"]
    names += ["sport_low", "sport_registered", "sport_ephemeral", "sport_eq_dport"]
    names += [f"srcprof_{n}" for n in PROFILE_NAMES] + [f"dstprof_{n}" for n in PROFILE_NAMES]
    names += SHARE_NAMES
    return names


FLOW_FEATURES: list[str] = _flow_feature_names()
CONTEXT_FEATURES = ["valid", "anchor", "log_ms_from_anchor", "log_ms_gap", "same_peer", "same_dport", "same_sport"]
STEP_FEATURES: list[str] = FLOW_FEATURES + CONTEXT_FEATURES
CHANNELS: list[str] = [f"src.{n}" for n in STEP_FEATURES] + [f"dst.{n}" for n in STEP_FEATURES]


@dataclass(frozen=True)
class WindowSpec:
    steps: int = 8  # T
    past: int = 5  # flows before the anchor; future = steps - past - 1

    @property
    def future(self) -> int:
        return self.steps - self.past - 1

    def __post_init__(self):
        if self.steps < 1 or not 0 <= self.past < self.steps:
            raise ValueError(f"bad window: steps={self.steps} past={self.past}")


def _port_numbers(col: pd.Series, name: str) -> np.ndarray:
    """Ports as int64 (-1 when absent); BoT-IoT CSVs carry hex ICMP ports like '0x0303'.

    Text columns are parsed once per distinct value (a capture has few distinct ports)."""
    if pd.api.types.is_numeric_dtype(col.dtype):
        out = col.to_numpy(dtype="float64", na_value=np.nan)
        return np.where(np.isnan(out), -1, out).astype(np.int64)
    codes, uniq = pd.factorize(col, use_na_sentinel=True)
    vals = _parse_ports(pd.Series(np.asarray(uniq, dtype=object), dtype=object)) if len(uniq) else np.zeros(0, np.int64)
    return np.append(vals, -1)[codes]  # code -1 (missing) -> -1


def _parse_ports(col: pd.Series) -> np.ndarray:
    s = col.astype("string")
    num = pd.to_numeric(s, errors="coerce")
    bad = num.isna() & s.notna() & (s.str.len() > 0)
    if bad.any():
        def conv(x):
            try:
                return int(str(x), 0)
            except ValueError:
                return -1
        num = num.astype("float64")
        num[bad] = [conv(x) for x in s[bad]]
    return num.fillna(-1).to_numpy(dtype="float64").astype(np.int64)


class _Labels:
    """A text column as (codes, distinct normalised values): masks per value without per-row string work."""

    def __init__(self, col: pd.Series, upper: bool):
        codes, uniq = pd.factorize(col, use_na_sentinel=True)
        u = pd.Series(np.asarray(uniq, dtype=object), dtype=object).astype("string")
        u = (u.str.upper() if upper else u.str.lower()).fillna("").to_numpy(dtype=object)
        self.values = np.append(u, np.array([""], dtype=object)).astype(object)  # code -1 (missing) -> ""
        self.codes = codes

    def eq(self, value: str) -> np.ndarray:
        return (self.values == value)[self.codes]

    def dense_codes(self) -> np.ndarray:
        """Codes of the normalised values (equal strings share a code)."""
        return pd.factorize(self.values)[0][self.codes]


def check_columns(flows: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in flows.columns]
    if missing:
        raise SchemaError(f"flow table is missing column '{missing[0]}'"
                          + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    for c in NUMERIC_COLUMNS:
        dt = flows[c].dtype
        if not (pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_bool_dtype(dt)):
            raise SchemaError(f"column '{c}' must be numeric, got dtype {dt}")


def flow_features(flows: pd.DataFrame, codes: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Per-flow feature matrix ``(N, len(FLOW_FEATURES))`` float32 (``codes``: saddr/daddr codes)."""
    check_columns(flows)
    if codes is None:
        codes = tuple(_codes(flows["saddr"], flows["daddr"]))
    return _flow_features(flows, codes, _port_numbers(flows["dport"], "dport"), _port_numbers(flows["sport"], "sport"))


def _flow_features(flows: pd.DataFrame, codes, dport: np.ndarray, sport: np.ndarray) -> np.ndarray:
    n = len(flows)
    cols = {c: np.nan_to_num(flows[c].to_numpy(dtype="float64", na_value=0.0), nan=0.0, posinf=0.0, neginf=0.0)
            for c in NUMERIC_COLUMNS}
    out = np.empty((len(FLOW_FEATURES), n), np.float32)  # (a feature per row here: contiguous writes)
    at = 0

    def put(*rows):  # each feature goes to its row as it is made (a list of them all: +200 MB at 463k flows)
        nonlocal at
        for f in rows:
            out[at] = f
            at += 1

    for c in LOG_COLUMNS:
        put(_q(np.log1p(np.clip(cols[c], 0, None)), QUANT_FLOW))
    sp, dp, sb, db = cols["spkts"], cols["dpkts"], cols["sbytes"], cols["dbytes"]
    bpp = _q(np.log1p(np.divide(sb, sp, out=np.zeros(n), where=sp > 0)), QUANT_FLOW)  # log source bytes/packet
    put(bpp)
    put(_q(np.log1p(np.divide(db, dp, out=np.zeros(n), where=dp > 0)), QUANT_FLOW))
    put(_q(np.divide(dp, sp + dp, out=np.zeros(n), where=(sp + dp) > 0), QUANT_FLOW))
    put(_q(np.divide(db, sb + db, out=np.zeros(n), where=(sb + db) > 0), QUANT_FLOW))
    # number of merged Argus status records (sum/mean of record durations)
    m = cols["mean"]
    put(_q(np.log1p(np.clip(np.divide(cols["sum"], m, out=np.ones(n), where=m > 0), 0, 1e6)), QUANT_FLOW))
    proto = _Labels(flows["proto"], upper=False)
    onehot = [proto.eq(p) for p in PROTOS]
    put(*onehot, ~np.logical_or.reduce(onehot))
    state = _Labels(flows["state"], upper=True)
    onehot = [state.eq(s) for s in STATES]
    put(*onehot, ~np.logical_or.reduce(onehot))
    del onehot
    no_ports = ~(proto.eq("tcp") | proto.eq("udp"))
    dport = np.where(no_ports, -1, dport)
    sport = np.where(no_ports, -1, sport)
    named = np.zeros(n, bool)
    for ports in DPORTS.values():
        hit = np.isin(dport, ports)
        named |= hit
        put(hit)
    put(dport < 0)
    put(~named & (dport >= 0) & (dport < 1024))
    put(~named & (dport >= 1024) & (dport < 49152))
    put(~named & (dport >= 49152))
    put((sport >= 0) & (sport < 1024))
    put((sport >= 1024) & (sport < 49152))
    put(sport >= 49152)
    put((sport >= 0) & (sport == dport))
    s_code, d_code = codes
    pk = cols["pkts"]
    put(*_profile(s_code, d_code, dport, proto.eq, state.eq, pk, bpp).T)
    put(*_profile(d_code, s_code, dport, proto.eq, state.eq, pk, bpp).T)
    put(*_shares(s_code, d_code, dport, proto.dense_codes(), cols["stime"]).T)
    assert at == len(FLOW_FEATURES)
    del cols
    return np.ascontiguousarray(out.T)


def _codes(*series: pd.Series) -> list[np.ndarray]:
    """Integer codes over one shared vocabulary (so saddr and daddr codes compare)."""
    allv = pd.concat([s.astype("string").fillna("") for s in series], ignore_index=True)
    codes, _ = pd.factorize(allv)
    out, start = [], 0
    for s in series:
        out.append(codes[start:start + len(s)].astype(np.int64))
        start += len(s)
    return out


def window_index(key: np.ndarray, order_time: np.ndarray, spec: WindowSpec) -> np.ndarray:
    """``(N, T)`` int64 row indices of each row's window over rows sharing ``key`` (-1 = padding).

    Rows are ordered by ``(key, time, row)``; step ``spec.past`` is the row itself.
    """
    n = len(key)
    order = np.lexsort((np.arange(n), order_time, key))
    k_sorted = key[order]
    start = np.r_[0, np.flatnonzero(k_sorted[1:] != k_sorted[:-1]) + 1]
    group_len = np.diff(np.r_[start, n])
    rank = np.arange(n) - np.repeat(start, group_len)  # position inside the group
    glen = np.repeat(group_len, group_len)
    pos = np.empty(n, np.int64)
    pos[order] = np.arange(n)  # sorted position of each row
    offsets = np.arange(spec.steps) - spec.past  # (T,)
    r = rank[pos][:, None] + offsets[None, :]
    ok = (r >= 0) & (r < glen[pos][:, None])
    sorted_pos = pos[:, None] + offsets[None, :]
    idx = np.where(ok, order[np.clip(sorted_pos, 0, n - 1)], -1)
    return idx


class Windows:
    """Model input for a flow table.

    ``unique`` holds the distinct sequences ``(U, T, C)`` float32 and ``inverse``
    maps each flow (in the order of the input table) to its row of ``unique``.
    Windows are kept compact and turned into floats on demand (``rows(lo, hi)``
    builds a slice, ``unique`` builds them all):

    * ``flows`` ``(D + 1, F)`` float32: the distinct flow feature rows, the last
      one all zeros (padding);
    * ``codes`` ``(U, T, 2)`` int64: per step, the row of ``flows`` of the
      source-window flow and of the destination-window flow;
    * ``context`` ``(U, T, 2K)`` float32: per step, the context features of the
      source window, then of the destination window.

    Step ``t`` of window ``u`` is ``[flows[codes[u, t, 0]], context[u, t, :K],
    flows[codes[u, t, 1]], context[u, t, K:]]`` (the order of ``CHANNELS``).
    """

    def __init__(self, unique, inverse, spec, compact=None):
        self._unique = unique
        self.inverse = inverse
        self.spec = spec
        self._compact = compact  # (flows, codes, context) or None
        self._span = None  # context_span, once asked for

    def __len__(self) -> int:
        return len(self._unique) if self._unique is not None else len(self._compact[1])

    @property
    def context_span(self):
        """``(least, greatest)``, each ``(U, 2K)`` float32: per window and context channel, the
        extremes over its steps (NaN ignored), computed once (:func:`unfamiliar_features`
        compares them with each range it checks)."""
        if self._span is None:
            ctx = self.compact[2]
            lo, hi = ctx[:, 0].copy(), ctx[:, 0].copy()
            for t in range(1, ctx.shape[1]):  # (step by step: a reduce over the middle axis is slower)
                np.fmin(lo, ctx[:, t], out=lo)
                np.fmax(hi, ctx[:, t], out=hi)
            self._span = (lo, hi)
        return self._span

    @property
    def compact(self):
        """``(flows, codes, context)`` as described above (built from ``unique`` if needed)."""
        if self._compact is None:
            x = self._unique
            F, K = len(FLOW_FEATURES), len(CONTEXT_FEATURES)
            n, T = x.shape[:2]
            fl = x.reshape(n * T, -1)
            both = np.concatenate([fl[:, :F], fl[:, F + K:2 * F + K]])
            fu, code = dedup_rows(both) if len(both) else (both, np.zeros(0, np.int64))
            fu = np.concatenate([fu, np.zeros((1, F), np.float32)])
            codes = code.reshape(2, n, T).transpose(1, 2, 0)
            ctx = np.concatenate([x[..., F:F + K], x[..., 2 * F + K:]], axis=-1)
            self._compact = (fu, np.ascontiguousarray(codes), np.ascontiguousarray(ctx, dtype=np.float32))
        return self._compact

    def rows(self, lo: int, hi: int) -> np.ndarray:
        if self._unique is not None:
            return self._unique[lo:hi]
        fu, codes, ctx = self._compact
        return _materialise(fu, codes[lo:hi], ctx[lo:hi])

    @property
    def unique(self) -> np.ndarray:
        if self._unique is None:
            self._unique = self.rows(0, len(self))
        return self._unique

    def full(self) -> np.ndarray:
        return self.unique[self.inverse]


def _side_blocks() -> list[tuple[slice, slice]]:
    """(flow block, context block) of the source side, then of the destination side."""
    F, K = len(FLOW_FEATURES), len(CONTEXT_FEATURES)
    return [(slice(0, F), slice(F, F + K)), (slice(F + K, 2 * F + K), slice(2 * F + K, 2 * (F + K)))]


def channel_ranges(windows, rows=None) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)``: per channel of :data:`CHANNELS`, the least and the greatest value at any
    step of any of ``windows`` (an iterable of :class:`Windows`; padding steps included, as
    the model sees them); with ``rows`` (one array of distinct-window positions per window set),
    of those windows only.  A channel never seen has ``lo = +inf``, ``hi = -inf``."""
    K = len(CONTEXT_FEATURES)
    lo = np.full(len(CHANNELS), np.inf, np.float32)
    hi = np.full(len(CHANNELS), -np.inf, np.float32)
    for n, w in enumerate(windows):
        fu, codes, ctx = w.compact
        if rows is not None:
            codes, ctx = codes[rows[n]], ctx[rows[n]]
        if not len(codes):
            continue
        for side, (fb, cb) in enumerate(_side_blocks()):
            used = fu[np.unique(codes[..., side])]
            lo[fb] = np.minimum(lo[fb], used.min(0))
            hi[fb] = np.maximum(hi[fb], used.max(0))
            c = ctx[..., side * K:(side + 1) * K].reshape(-1, K)
            lo[cb] = np.minimum(lo[cb], c.min(0))
            hi[cb] = np.maximum(hi[cb], c.max(0))
    return lo, hi


def unfamiliar_features(w: Windows, lo: np.ndarray, hi: np.ndarray, tol: np.ndarray, rows=None) -> np.ndarray:
    """Per distinct window of ``w`` (``(U,)`` object; with ``rows``, per window of those
    positions): the names of the step features (:data:`STEP_FEATURES`, either side) whose value
    at some step lies outside ``[lo - tol, hi + tol]`` (per channel, :func:`channel_ranges` of
    the training windows), joined by ``", "`` in feature order; ``""`` for a window inside."""
    fu, codes, _ = w.compact
    c_lo, c_hi = w.context_span
    if rows is not None:
        c_lo, c_hi = c_lo[rows], c_hi[rows]
        win = np.asarray(rows, np.int64)  # (codes are read through it, side by side: no copy of both)
    else:
        win = slice(None)
    U = len(c_lo)
    out = np.full(U, "", dtype=object)
    if not U:
        return out
    F, K = len(FLOW_FEATURES), len(CONTEXT_FEATURES)
    bad = np.zeros((U, F + K), dtype=bool)
    below, above = lo - tol, hi + tol
    for side, (fb, cb) in enumerate(_side_blocks()):
        row_bad = (fu < below[fb]) | (fu > above[fb])  # (D + 1, F): per distinct flow row
        if row_bad.any():
            side_codes = codes[win, :, side]  # (U, T)
            hit = row_bad.any(1)[side_codes].any(1)  # windows with such a row at some step
            at = np.flatnonzero(hit)
            # OR of the rows at the window's steps, on the rows packed into 64-bit words (a
            # boolean gather of (windows, T, F) cost 0.15 s per side at 100k windows)
            words = np.packbits(row_bad, axis=1, bitorder="little")
            words = np.pad(words, ((0, 0), (0, -words.shape[1] % 8))).view(np.uint64)
            steps = side_codes[at]
            both = words[steps[:, 0]]
            for t in range(1, steps.shape[1]):  # (step by step: a reduce over the middle axis is 3x slower)
                both |= words[steps[:, t]]
            bad[at, :F] |= np.unpackbits(both.view(np.uint8), axis=1, count=F, bitorder="little").view(bool)
        # a context channel is outside at some step iff its least or greatest value over the steps is
        k = slice(side * K, (side + 1) * K)
        bad[:, F:] |= (c_lo[:, k] < below[cb]) | (c_hi[:, k] > above[cb])
    at = np.flatnonzero(bad.any(1))
    if len(at):
        # the distinct sets of features: the rows packed into 64-bit words, each word column
        # factorised and the codes combined column by column (exact; np.unique(axis=0) sorts the
        # boolean rows: 1.6 s for 100k flagged windows; factorising the packed rows as bytes
        # 0.11 s for 400k)
        packed = np.packbits(bad[at], axis=1)
        packed = np.pad(packed, ((0, 0), (0, -packed.shape[1] % 8))).view(np.uint64)
        kind = np.zeros(len(at), np.int64)
        for j in range(packed.shape[1]):
            col, names = pd.factorize(packed[:, j])
            kind = pd.factorize(kind * len(names) + col)[0]
        _, first = np.unique(kind, return_index=True)  # (factorize numbers the sets as they come)
        texts = np.array([", ".join(STEP_FEATURES[j] for j in np.flatnonzero(bad[at[i]])) for i in first], dtype=object)
        out[at] = texts[kind]
    return out


def join_features(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise union of two arrays of :func:`unfamiliar_features` texts, in feature order.

    The union is formed once per distinct pair of texts (a flood's windows share a few: one
    Python step per element cost 4.4 s for 400k flagged windows of the flows bench capture)."""
    out = np.array(a, dtype=object, copy=True)
    at = np.flatnonzero(np.asarray(b, dtype=object) != "")
    if not len(at):
        return out
    ca, ua = pd.factorize(out[at])
    cb, ub = pd.factorize(np.asarray(b, dtype=object)[at])
    pairs, back = np.unique(ca.astype(np.int64) * len(ub) + cb, return_inverse=True)
    texts = np.empty(len(pairs), dtype=object)
    for k, (i, j) in enumerate(zip(*np.divmod(pairs, len(ub)))):
        x, y = ua[i], ub[j]
        if x == "" or x == y:
            texts[k] = y
        else:
            names = set(x.split(", ")) | set(y.split(", "))
            texts[k] = ", ".join(n for n in STEP_FEATURES if n in names)
    out[at] = texts[np.asarray(back).ravel()]
    return out


def _materialise(fu: np.ndarray, codes: np.ndarray, ctx: np.ndarray) -> np.ndarray:
    F, K = fu.shape[1], len(CONTEXT_FEATURES)
    n, T = codes.shape[:2]
    x = np.empty((n, T, 2 * (F + K)), np.float32)
    x[..., :F] = fu[codes[..., 0]]
    x[..., F:F + K] = ctx[..., :K]
    x[..., F + K:2 * F + K] = fu[codes[..., 1]]
    x[..., 2 * F + K:] = ctx[..., K:]
    return x


def _side_context(idx, anchor_rows, time, peer_code, anchor_peer, dport, sport, spec, out=None, step_gap=None):
    """Context features ``(n, T, len(CONTEXT_FEATURES))`` of one window side (written to ``out``).

    ``step_gap`` (optional, per flow): the quantised log gap of each flow to the flow before it
    in this side's order (what ``log_ms_gap`` holds for consecutive valid steps)."""
    n_anchor, T = idx.shape
    if out is None:
        out = np.empty((n_anchor, T, len(CONTEXT_FEATURES)), np.float32)
    valid = idx >= 0
    safe = np.maximum(idx, 0)
    t = time[safe]
    dt = t - time[anchor_rows][:, None]
    gap_ok = valid.copy()
    gap_ok[:, 0] = False
    gap_ok[:, 1:] &= valid[:, :-1]
    if step_gap is not None:
        out[..., 3] = step_gap[safe] * gap_ok  # log ms since the previous step
    else:
        gap = np.zeros_like(t)  # gap to the previous step (0 at the first)
        np.subtract(t[:, 1:], t[:, :-1], out=gap[:, 1:])
        np.clip(gap, 0, None, out=gap)
        gap *= 1000.0
        np.log1p(gap, out=gap)
        out[..., 3] = _q(gap, QUANT_TIME) * gap_ok
    v = np.abs(dt)
    v *= 1000.0
    np.log1p(v, out=v)
    v *= np.sign(dt)
    out[..., 2] = _q(v, QUANT_TIME) * valid  # log ms from the anchor
    out[..., 0] = valid
    out[..., 1] = 0.0
    out[:, spec.past, 1] = 1.0
    out[..., 4] = (peer_code[safe] == anchor_peer[:, None]) & valid
    out[..., 5] = (dport[safe] == dport[anchor_rows][:, None]) & valid
    out[..., 6] = (sport[safe] == sport[anchor_rows][:, None]) & valid
    return out


def _step_gap(w: np.ndarray, time: np.ndarray, spec: "WindowSpec") -> np.ndarray | None:
    """Per flow: quantised log1p(ms) gap to the previous flow of its window side (from the
    window itself: step ``past - 1`` is that flow); None when windows have no past."""
    if spec.past < 1:
        return None
    prev = w[:, spec.past - 1]
    gap = time - time[np.maximum(prev, 0)]
    np.clip(gap, 0, None, out=gap)
    gap *= 1000.0
    np.log1p(gap, out=gap)
    return _q(gap, QUANT_TIME)


_THREAD_LIMIT: list[int] = []  # stack of limits set by :class:`thread_limit` (innermost last)


def _threads() -> int:
    """Threads the stages may use: the innermost :class:`thread_limit`, else torch's setting when
    torch is loaded, else OMP_NUM_THREADS / CPUs."""
    import os
    import sys

    if _THREAD_LIMIT:
        return _THREAD_LIMIT[-1]
    if "torch" in sys.modules:
        return max(1, int(sys.modules["torch"].get_num_threads()))
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "") or os.cpu_count() or 1))
    except ValueError:
        return 1


class thread_limit:
    """Context: the stages of this process compute on at most ``n`` threads: the window builder
    and the detector's batch threads (:func:`_threads`), numpy's BLAS (threadpoolctl) and torch's
    intra-op threads when torch is loaded; all restored on exit.  ``forensics scan --workers 1``
    runs inside ``thread_limit(1)``: N workers keep at most N cores busy."""

    def __init__(self, n: int):
        self.n = max(1, int(n))

    def __enter__(self):
        import sys

        from forensics.npengine import _blas

        _THREAD_LIMIT.append(self.n)
        blas = _blas()
        self._blas = blas.limit(limits=self.n) if blas is not None else None
        torch = sys.modules.get("torch")
        self._torch = torch.get_num_threads() if torch is not None else None
        if torch is not None and self._torch > self.n:
            torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        import sys

        _THREAD_LIMIT.pop()
        if self._blas is not None:
            self._blas.restore_original_limits()
        torch = sys.modules.get("torch")
        if torch is not None and self._torch is not None and torch.get_num_threads() != self._torch:
            torch.set_num_threads(self._torch)
        return False


def _both(f, a, b):
    """``[f(*a), f(*b)]``, the first in a second thread when more than one thread is allowed
    (numpy releases the GIL in its array loops)."""
    if _threads() < 2:
        return [f(*a), f(*b)]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        fa = pool.submit(f, *a)
        rb = f(*b)
        return [fa.result(), rb]


def build_windows(flows: pd.DataFrame, spec: WindowSpec = WindowSpec(), chunk: int = 262144,
                  dedup: bool = True) -> Windows:
    """Feature windows for every flow; identical windows are built and stored once.

    Flow feature rows are deduplicated first; a window is then keyed by the
    distinct-flow code and context of each step (a small array), the keys are
    deduplicated, and only the distinct windows are kept (compact, see :class:`Windows`).
    """
    check_columns(flows)
    s_code, d_code = _codes(flows["saddr"], flows["daddr"])
    n = len(flows)
    T, F, K = spec.steps, len(FLOW_FEATURES), len(CONTEXT_FEATURES)
    C = 2 * (F + K)
    if n == 0:
        return Windows(np.zeros((0, T, C), np.float32), np.zeros(0, np.int64), spec)
    dport = _port_numbers(flows["dport"], "dport")
    sport = _port_numbers(flows["sport"], "sport")
    ff = _flow_features(flows, (s_code, d_code), dport, sport)
    fu, fcode = dedup_rows(ff) if dedup else (ff, np.arange(n))
    del ff  # (a flood's distinct rows are few: fu is what stays)
    fu = np.concatenate([fu, np.zeros((1, F), np.float32)])  # last row: zero padding
    fcode = np.append(fcode, len(fu) - 1)  # window index -1 -> the padding row
    time = np.nan_to_num(flows["stime"].to_numpy(dtype="float64", na_value=0.0))
    time = time - time.min()  # relative times only
    w_src, w_dst = _both(window_index, (s_code, time, spec), (d_code, time, spec))
    g_src, g_dst = _both(_step_gap, (w_src, time, spec), (w_dst, time, spec))
    # the distinct windows of the chunks, one after the other: room for all n, of which only
    # what is written is ever backed by memory (pages are mapped on first write), so neither a
    # flood of repeats nor one of distinct windows needs a second copy to join the chunks
    codes_all = np.empty((n, T, 2), np.int64)
    ctx_all = np.empty((n, T, 2 * K), np.float32)
    chunks, inverse, offset = 0, np.empty(n, np.int64), 0
    for lo in range(0, n, chunk):
        rows = np.arange(lo, min(n, lo + chunk))
        ws, wd = w_src[rows], w_dst[rows]
        ctx = np.empty((len(rows), T, 2 * K), np.float32)
        _both(_side_context, (ws, rows, time, d_code, d_code[rows], dport, sport, spec, ctx[..., :K], g_src),
              (wd, rows, time, s_code, s_code[rows], dport, sport, spec, ctx[..., K:], g_dst))
        codes = np.stack([fcode[ws], fcode[wd]], axis=-1)  # (n, T, 2)
        if dedup:
            first, inv = _dedup_index(codes, ctx)
            codes, ctx = codes[first], ctx[first]
        else:
            inv = np.arange(len(rows))
        codes_all[offset:offset + len(codes)] = codes
        ctx_all[offset:offset + len(codes)] = ctx
        inverse[rows] = inv + offset
        offset += len(codes)
        chunks += 1
    del codes, ctx
    codes, ctx = codes_all[:offset], ctx_all[:offset]
    del codes_all, ctx_all
    if dedup and chunks > 1:  # windows repeat across chunks too (floods)
        first, inv2 = _dedup_index(codes, ctx)
        if len(first) < len(codes):
            codes, ctx = codes[first], ctx[first]
        inverse = inv2[inverse]
    return Windows(None, inverse, spec, (fu, codes, ctx))


_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)


def _words(x: np.ndarray) -> np.ndarray:
    """The bytes of each row of ``x`` (first axis) as ``(n, W)`` uint64 words (zero padded)."""
    b = np.ascontiguousarray(x).reshape(len(x), -1).view(np.uint8)
    if b.shape[1] % 8:
        b = np.concatenate([b, np.zeros((len(b), 8 - b.shape[1] % 8), np.uint8)], axis=1)
    return b.view(np.uint64)


def _dedup_index(*arrays: np.ndarray, block: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """``(first, inverse)``: the first row of each distinct combination of rows of ``arrays``
    (compared byte for byte, in order of first appearance) and each row's distinct index.

    Rows are hashed (64 bits, block by block so the words stay in cache) and grouped with a
    hash table; every row grouped with an earlier one is then compared with it byte for byte,
    and on a collision (astronomically unlikely) the grouping falls back to a byte-wise sort.
    """
    n = len(arrays[0])
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    flat = [np.ascontiguousarray(a).reshape(n, -1) for a in arrays]
    h = np.zeros(n, np.uint64)
    tmp = np.empty(min(n, block), np.uint64)
    shift = np.uint64(29)
    with np.errstate(over="ignore"):
        for lo in range(0, n, block):
            hb = h[lo:lo + block]
            t = tmp[:len(hb)]
            for a in flat:
                w = _words(a[lo:lo + block])
                for j in range(w.shape[1]):
                    hb ^= w[:, j]
                    hb *= _HASH_MUL
                    np.right_shift(hb, shift, out=t)
                    hb ^= t
    inv, uniq = pd.factorize(h)
    inv = inv.astype(np.int64)
    first = np.empty(len(uniq), np.int64)
    first[inv[::-1]] = np.arange(n - 1, -1, -1)
    dup = np.flatnonzero(first[inv] != np.arange(n))  # rows that reuse an earlier row: check them
    # (block by block: a flood's rows are nearly all repeats, and copies of all of them at once
    # cost 4x the input's size: +440 MB for the 463k flow rows of the flows bench capture)
    step = 8 * block
    same = all(np.array_equal(a[dup[lo:lo + step]].view(np.uint8), a[first[inv[dup[lo:lo + step]]]].view(np.uint8))
               for lo in range(0, len(dup), step) for a in flat)  # (bytes, as hashed: -0.0 is not 0.0)
    if not same:
        words = np.concatenate([_words(a) for a in flat], axis=1)
        v = np.ascontiguousarray(words).view(np.dtype((np.void, 8 * words.shape[1]))).ravel()
        _, first, inv = np.unique(v, return_index=True, return_inverse=True)
        inv = inv.astype(np.int64).ravel()
    return first, inv


def dedup_rows(x: np.ndarray, proj: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``x`` (first axis, compared byte for byte) and the inverse map, exact:
    ``u[inv] == x``.  ``proj`` is accepted for compatibility and ignored."""
    first, inv = _dedup_index(x)
    return x[first], inv
