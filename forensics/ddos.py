"""DoS or DDoS: does more than one host flood the victim at the same time?

BoT-IoT's DDoS is a flood sent by several bots together, its DoS one sent by a single
host.  The detector sees each flow through two short windows (its source's and its
destination's last and next flows), which is often not enough to tell them apart: a bot's
flows cluster in time, so the victim's window can hold one sender only.  Measured with the
bundled model: ``lab-out/ddos_udp/run24`` (two bots, each forging one fixed source address,
flooding ``10.77.0.2:53``) had 283 flows called DoS; ``lab-out/mixed/run25`` (four bots'
HTTP flood on the camera) 84.

This stage looks at the whole capture instead.  A flow the detector calls **DoS** becomes
**DDoS** when, within ``NEAR_S`` seconds of it, another sender floods the same victim with at
least ``NEAR_FLOWS`` flows and that sender sends at least ``MIN_FLOWS`` flood flows (DoS or
DDoS) to the victim in the capture.

*Who sends* is the **Ethernet source MAC** of the side facing the victim (``smac``, or ``dmac``
when :func:`forensics.attribution.blame` names the flow's source as the victim), not the IP source:
floods forge their source addresses, and one bot sending from its own address and a forged
one at once is still one sender (``lab-out/mixed/run24``: atk2 floods ``10.77.0.21`` from
``10.77.0.202`` and as ``10.77.0.183``; keyed by IP address this rule turned 7,205 correct DoS
flows into DDoS, keyed by MAC none).

The rule only ever turns DoS into DDoS, never the reverse: one MAC can stand for many hosts
(a router forwards every remote bot's frames with its own MAC), so "one sender" proves
nothing.  Without MAC addresses (``smac`` empty: BoT-IoT CSV, raw-IP captures) it does
nothing.  Measured with the bundled weights on lab runs 0-25 (this function on each run's
predictions): 1,553 flows turned from DoS into DDoS, every one of them truly DDoS, none wrong.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MIN_FLOWS = 10  # flood flows a sender must send to the victim in the capture to count
NEAR_FLOWS = 3  # ... of which at least this many start within NEAR_S of the flow
NEAR_S = 1.0
EVIDENCE = "other hosts (by MAC address) flood the same victim at the same time"


def concurrent_flood(flows: pd.DataFrame, category) -> np.ndarray:
    """Boolean mask: flows with ``category`` DoS that another sender's concurrent flood on the
    same victim makes DDoS (``category``: per-flow predicted category names, aligned)."""
    from forensics.attribution import blame_frame

    cat = np.asarray(category, dtype=object).astype(str)
    out = np.zeros(len(flows), dtype=bool)
    if "smac" not in flows.columns or "dmac" not in flows.columns or not (cat == "DoS").any():
        return out
    flood = np.flatnonzero((cat == "DoS") | (cat == "DDoS"))
    att = flows.iloc[flood]
    attacker, victim = blame_frame(att.assign(pred_category=cat[flood]))
    # the victim is one end of the flow, the sender's frames come from the other end
    # (the attacker's address may be a traced host's rather than an end of the flow)
    to_dst = victim == att["daddr"].astype(str).to_numpy()
    sender = np.where(to_dst, att["smac"].astype(str).to_numpy(), att["dmac"].astype(str).to_numpy())
    known = (sender != "") & (sender != "nan") & (sender != "None")
    if not known.any():
        return out
    flood, sender, victim = flood[known], sender[known], victim[known]
    t0 = flows["stime"].to_numpy(dtype=np.float64)[flood]
    t1 = flows["ltime"].to_numpy(dtype=np.float64)[flood]
    is_dos = cat[flood] == "DoS"
    v_code, _ = pd.factorize(victim)
    s_code, _ = pd.factorize(sender)
    for v in np.unique(v_code[is_dos]):
        in_v = v_code == v
        counts = np.bincount(s_code[in_v])
        senders = np.flatnonzero(counts >= MIN_FLOWS)
        if len(senders) < 2:
            continue
        rows = np.flatnonzero(in_v & is_dos)
        lo, hi = t0[rows] - NEAR_S, t1[rows] + NEAR_S
        hit = np.zeros(len(rows), dtype=bool)
        for s in senders:
            ts = np.sort(t0[in_v & (s_code == s)])
            near = np.searchsorted(ts, hi, "right") - np.searchsorted(ts, lo, "left")
            hit |= (near >= NEAR_FLOWS) & (s_code[rows] != s)
        out[flood[rows[hit]]] = True
    return out


def refine(flows: pd.DataFrame, p_cat: np.ndarray, categories) -> tuple[np.ndarray, np.ndarray]:
    """``(p_cat', changed)``: per-flow category probabilities with the DoS and DDoS columns
    swapped where :func:`concurrent_flood` turns the model's DoS into DDoS (the flow keeps the
    model's confidence; rankings of the other classes are untouched)."""
    names = list(categories)
    if "DoS" not in names or "DDoS" not in names or not len(p_cat):
        return p_cat, np.zeros(len(p_cat), dtype=bool)
    pred = np.asarray(names, dtype=object)[np.asarray(p_cat).argmax(1)]
    changed = concurrent_flood(flows, pred)
    if changed.any():
        p_cat = np.array(p_cat, copy=True)
        i, j = names.index("DoS"), names.index("DDoS")
        p_cat[np.ix_(changed, [i, j])] = p_cat[np.ix_(changed, [j, i])]
    return p_cat, changed
