"""Who attacked whom: the one blame rule behind incidents and per-host verdicts.

Used by the report (``forensics.report.model``: incidents and host roles) and by
the detector's per-host evaluation (``forensics.train.host_verdicts``), so that
what the model card measures is what a responder is shown.

For each attack flow (the detector's verdict, not the truth):

1. **Initial blame.** Theft is blamed on the flow's destination (stolen data
   flows *to* the attacker); DDoS, DoS and Reconnaissance on its source (the
   initiator).
2. **Senders only.** A DDoS/DoS/Reconnaissance flow whose source sent no packet
   while its destination did is blamed on the destination.  Argus takes the
   sender of a first SYN-ACK for the responder and puts the *receiver* in the
   source slot, so every flow of a spoofed SYN-ACK flood has the victim as
   source with ``spkts == 0`` (measured on ``lab-out/ddos_tcp/run11``: 15,000
   such flows, which made the victim the biggest "attacker").
   Likewise a DDoS/DoS TCP flow whose *source* port is a service port (below
   1024 or a named TCP service, the list Argus orients mid-stream flows by), whose
   destination port is not, and whose source endpoint (address, port) is shared by
   more flood flows than its destination endpoint: the source is the flooded server,
   i.e. a flow that Argus turned round because its first packet was a SYN-ACK to that
   server.  Measured on ``lab-out/ddos_tcp/run23``: a SYN-ACK flood on ``cam:80``
   whose victim answered every SYN-ACK with a RST (7,400 flows ``cam:80 ->
   bot:<incrementing>``, state RST, one packet each way) made the victim the only
   "attacker".  The endpoint condition keeps a flood's own flows with it when the
   bots' incrementing source ports happen to be named services (measured on
   ``lab-out/ddos_tcp/run24``: 146 FIN/PSH/URG flood flows ``bot:3050 -> broker:1883``
   etc. were blamed on the broker, which then took a small bot's flows too).
3. **Replies belong to the attacker.** A flow whose other end has more flows
   blamed on it (after steps 1-2) is re-blamed on that end: a victim's
   replies or backscatter that the model also flags go to its attacker.

Without ``spkts``/``dpkts`` (``proto``/``sport``/``dport``) columns the matching part of
step 2 is skipped.  Not covered: a SYN-ACK flood on a non-service port whose victim answers
(nothing in the BoT-IoT columns tells it from a scan answered by RSTs).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _codes(*columns) -> tuple[list[np.ndarray], np.ndarray]:
    """One factorisation over several aligned columns: (codes per column, uniques as str).

    Equal values get equal codes across the columns; values are compared as strings,
    as the report prints them (missing values become ``"nan"``/``"None"``).  Each column is
    factorised on its own storage (Arrow strings stay Arrow), then only the few distinct
    values are joined."""
    parts = []
    for c in columns:
        col = c if isinstance(c, (pd.Series, pd.Index)) else np.asarray(c, dtype=object)
        codes, uniq = pd.factorize(col, use_na_sentinel=False)
        parts.append((np.asarray(codes, dtype=np.int64), [str(u) for u in uniq]))
    joint, names = pd.factorize(np.array([u for _, us in parts for u in us], dtype=object))
    out, off = [], 0
    for codes, us in parts:
        out.append(joint[off:off + len(us)][codes] if len(us) else codes)
        off += len(us)
    return out, np.array([str(x) for x in names], dtype=object)


def _is(codes: np.ndarray, names: np.ndarray, value: str) -> np.ndarray:
    """Rows whose code is ``value``'s (all False when ``value`` does not occur)."""
    hit = np.flatnonzero(names == value)
    return codes == hit[0] if len(hit) else np.zeros(len(codes), bool)


def _service_ports(names: np.ndarray) -> np.ndarray:
    """Per distinct rendered port (strings; ICMP hex and empty ones are never service ports): bool."""
    from forensics.flows import is_service_port

    p = pd.to_numeric(pd.Series(names, dtype=object), errors="coerce").to_numpy(dtype=float)
    return (p >= 0) & is_service_port(p)


def _endpoint_counts(s_addr, sp, d_addr, dp, n_ports: int, rows) -> tuple[np.ndarray, np.ndarray]:
    """For each flow: how many of the flows ``rows`` (a mask) have its source endpoint
    (address code, port code) at either end, and the same for its destination endpoint."""
    ep_s = s_addr * (n_ports + 1) + sp
    ep_d = d_addr * (n_ports + 1) + dp
    code, uniq = pd.factorize(np.concatenate([ep_s, ep_d]))
    n = len(ep_s)
    tally = np.bincount(code[np.concatenate([rows, rows])], minlength=len(uniq))
    return tally[code[:n]], tally[code[n:]]


def blame(category, saddr, daddr, spkts=None, dpkts=None, proto=None, sport=None, dport=None) -> tuple[np.ndarray, np.ndarray]:
    """(attacker, victim) address arrays for attack flows (all arguments aligned arrays)."""
    (cat,), cats = _codes(category)
    (s_addr, d_addr), addrs = _codes(saddr, daddr)
    theft = _is(cat, cats, "Theft")
    to_dst = theft.copy()
    if spkts is not None and dpkts is not None:
        sp = np.asarray(spkts, dtype=np.int64)
        dp = np.asarray(dpkts, dtype=np.int64)
        to_dst |= ~theft & (sp == 0) & (dp > 0)
    if proto is not None and sport is not None and dport is not None:
        flood = _is(cat, cats, "DDoS") | _is(cat, cats, "DoS")
        (p_code,), protos = _codes(proto)
        flood_tcp = flood & _is(p_code, protos, "tcp")
        (s_port, d_port), ports = _codes(sport, dport)
        service = _service_ports(ports)
        turned = flood_tcp & service[s_port] & ~service[d_port]
        if turned.any():
            n_src, n_dst = _endpoint_counts(s_addr, s_port, d_addr, d_port, len(ports), flood_tcp)
            to_dst |= turned & (n_src > n_dst)
    who = np.where(to_dst, d_addr, s_addr)
    other = np.where(to_dst, s_addr, d_addr)
    counts = np.bincount(who, minlength=len(addrs))
    swap = counts[other] > counts[who]
    return addrs[np.where(swap, other, who)], addrs[np.where(swap, who, other)]


def blame_frame(att: pd.DataFrame, category_column: str = "pred_category") -> tuple[np.ndarray, np.ndarray]:
    """:func:`blame` on a flow DataFrame (``spkts``/``dpkts`` and ``proto``/``sport``/``dport``
    used when present)."""
    def col(name):
        return att[name] if name in att.columns else None

    return blame(att[category_column], att["saddr"], att["daddr"],
                 col("spkts"), col("dpkts"), col("proto"), col("sport"), col("dport"))
