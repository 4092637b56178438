"""Bulk transfers are no keylogging, and a download is no flood.

Keylogging is keystrokes typed by a person and sent as they come: small messages, a few bytes
each, over a long session.  The lab's keyloggers (every flow of runs 68-71 the detector calls
Keylogging) send at most 93 packets and 12 KB per flow, 42-70 bytes per packet on average.  The
detector judges a flow from its windows, and on traffic unlike the lab's it gives the verdict to
the opposite of keystrokes: a device downloading a 20 MB firmware image over HTTP (one connection,
full-size segments from the server, acknowledgements back; generated 2026-11-29) was called
Theft/Keylogging at 0.69-0.81, the server named the attacker and the device its victim, the flow's
sizes outside the training data.

The same download, at another rate, was called DoS/HTTP with the device as the attacker: one
connection in which the "attacker" sends a request and acknowledgements and gets 20 MB back.  A
flood's sender sends the traffic; the lab's TCP and HTTP flood flows (runs 68-71, 74,961 flows the
detector calls DoS or DDoS) carry at most 452 KB from the flooded end, none 1 MB.

This step turns Normal the flows called DoS or DDoS over TCP in which the flow's source (the
connection's client) receives :data:`MIN_DOWNLOAD_BYTES` or more, :data:`MIN_DOWNLOAD_RATIO` times
what it sends or more, in segments of :data:`MIN_SEGMENT_BYTES` or more on average, when the two
hosts have at most :data:`MAX_DOWNLOAD_FLOWS` flows called DoS or DDoS (an attack that downloads a
big resource over and over to exhaust a server opens many connections and keeps its verdict), and
the flows called Keylogging that carry :data:`MIN_BULK_BYTES` or more in
all with :data:`MIN_SEGMENT_BYTES` or more per packet on average in one direction: a bulk
transfer (a download, a backup, a stream), whatever it is, is not keystrokes.  Hours of typing
are tens of kilobytes; a keylogger that batches keystrokes sends them in small packets all the
same.  Data_Exfiltration verdicts are left alone: exfiltration *is* a bulk upload, and nothing in a
flow tells a stolen file from a backup (a backup to a server of the network's own is reported as
exfiltration; the evidence says what moved where).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MIN_BULK_BYTES = 100_000  # a flow carrying this much (both directions) ...
MIN_SEGMENT_BYTES = 500  # ... at this many bytes per packet or more on average one way: a bulk transfer
MIN_DOWNLOAD_BYTES = 1_000_000  # a flow called a flood whose source receives this much ...
MIN_DOWNLOAD_RATIO = 10.0  # ... this many times what it sends ...
MAX_DOWNLOAD_FLOWS = 8  # ... with at most this many flows called DoS or DDoS between its two hosts: a download
DOWNLOAD_EVIDENCE = ("called {cat} by the model, but {client} received {got} bytes from {server} in this connection "
                     "and sent {sent}: a download, not a flood: Normal")
_DOWNLOAD_MARK = DOWNLOAD_EVIDENCE.split("{got}")[1].split("{server}")[0]  # " bytes from "
_DOWNLOAD_MARK2 = DOWNLOAD_EVIDENCE.split("{server}")[1].split("{sent}")[0]  # " in this connection and sent "
EVIDENCE = ("called Theft/Keylogging by the model, but it carries {total} bytes, {per:.0f} per packet on average from "
            "{sender}: a bulk transfer, not keystrokes: Normal")
_MARK = EVIDENCE.split("{total}")[0]


def _num(flows: pd.DataFrame, col: str) -> np.ndarray:
    return np.nan_to_num(flows[col].to_numpy(dtype=np.float64, na_value=0.0))


def bulk_keylogging(flows: pd.DataFrame, sub: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, evidence)``: the flows called Keylogging (``sub``: per-flow subcategory names)
    that are a bulk transfer."""
    need = {"saddr", "daddr", "spkts", "dpkts", "sbytes", "dbytes"}
    rows = np.flatnonzero(sub == "Keylogging")
    if not len(rows) or not need <= set(flows.columns):
        return np.zeros(0, np.int64), np.zeros(0, object)
    spk, dpk = _num(flows, "spkts")[rows], _num(flows, "dpkts")[rows]
    sb, db = _num(flows, "sbytes")[rows], _num(flows, "dbytes")[rows]
    s_per, d_per = sb / np.maximum(spk, 1), db / np.maximum(dpk, 1)
    bulk = (sb + db >= MIN_BULK_BYTES) & (np.maximum(s_per, d_per) >= MIN_SEGMENT_BYTES)
    if not bulk.any():
        return np.zeros(0, np.int64), np.zeros(0, object)
    k = np.flatnonzero(bulk)
    sa = flows["saddr"].astype(str).to_numpy()[rows]
    da = flows["daddr"].astype(str).to_numpy()[rows]
    evidence = np.array([EVIDENCE.format(total=f"{int(sb[i] + db[i]):,}", per=max(s_per[i], d_per[i]),
                                         sender=sa[i] if s_per[i] >= d_per[i] else da[i]) for i in k], dtype=object)
    return rows[k], evidence


def downloads(flows: pd.DataFrame, cat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, evidence)``: the TCP flows called DoS or DDoS (``cat``: per-flow category names)
    that are a download by the flow's source."""
    need = {"proto", "saddr", "daddr", "spkts", "dpkts", "sbytes", "dbytes"}
    none = (np.zeros(0, np.int64), np.zeros(0, object))
    flood = (cat == "DoS") | (cat == "DDoS")
    if not flood.any() or not need <= set(flows.columns):
        return none
    db = _num(flows, "dbytes")
    rows = np.flatnonzero(flood & (db >= MIN_DOWNLOAD_BYTES) & (flows["proto"].astype(str).to_numpy() == "tcp"))
    if not len(rows):
        return none
    sb, dpk = _num(flows, "sbytes")[rows], _num(flows, "dpkts")[rows]
    ok = (db[rows] >= MIN_DOWNLOAD_RATIO * sb) & (db[rows] / np.maximum(dpk, 1) >= MIN_SEGMENT_BYTES)
    # (at most a few flows called floods between the two hosts)
    from forensics.toolittle import flood_pair_counts

    ok &= flood_pair_counts(flows, flood)[rows] <= MAX_DOWNLOAD_FLOWS
    if not ok.any():
        return none
    rows, sb = rows[ok], sb[ok]
    sa, da = flows["saddr"].iloc[rows].astype(str).to_numpy(), flows["daddr"].iloc[rows].astype(str).to_numpy()
    evidence = np.array([DOWNLOAD_EVIDENCE.format(cat=cat[r], client=a, server=b, got=f"{int(db[r]):,}", sent=f"{int(x):,}")
                         for r, a, b, x in zip(rows, sa, da, sb)], dtype=object)
    return rows, evidence


def count(evidence) -> int:
    """How many flows of an evidence column (strings or a categorical) this step turned Normal."""
    from forensics.toolittle import count_evidence

    return count_evidence(evidence, lambda text: text.str.startswith(_MARK) | (
        text.str.startswith("called ") & text.str.contains(_DOWNLOAD_MARK2, regex=False)
        & text.str.contains(_DOWNLOAD_MARK, regex=False)))


def refine(flows: pd.DataFrame, p_cat: np.ndarray, p_sub: np.ndarray, categories, subcategories,
           allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(p_cat', p_sub', rows, evidence)``: per-flow probabilities with the flows of
    :func:`bulk_keylogging` and :func:`downloads` turned Normal (the flow keeps the model's confidence)."""
    from forensics.arp import swap_in, top_names

    if not len(p_cat):
        return p_cat, p_sub, np.zeros(0, np.int64), np.zeros(0, object)
    cat, sub = top_names(p_cat, p_sub, categories, subcategories, allowed)
    k_rows, k_evidence = bulk_keylogging(flows, np.where(cat == "Theft", sub, ""))
    d_rows, d_evidence = downloads(flows, cat)
    rows = np.concatenate([k_rows, d_rows]).astype(np.int64)
    evidence = np.concatenate([k_evidence, d_evidence]).astype(object)
    if not len(rows):
        return p_cat, p_sub, rows, evidence
    normal = np.full(len(rows), "Normal", dtype=object)
    p_cat, p_sub = swap_in(p_cat, p_sub, rows, normal, normal, categories, subcategories, allowed)
    return p_cat, p_sub, rows, evidence
