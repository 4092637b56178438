"""A "scan" sent from a port the host serves on is a SYN-ACK flood's backscatter.

Until 2026-11-27 ``forensics.flows`` put the *receiver* of a flow's first SYN-ACK in the
source slot (Argus does that only once the connection goes on, not for a SYN-ACK answered by
a RST; the flows follow Argus since).  A SYN-ACK flood answered by RSTs therefore became one
flow per bot port, ``victim:service -> bot:<port>``, one packet each way, state RST: the shape
of a SYN scan answered by RSTs, with the victim as the scanner.  The bundled model 1.3.0 was
trained on such flows; with the current flows this step rarely fires (a SYN-ACK answered by an
ACK, which Argus turns round, or flow tables built by the older code).
Measured on blind lab run38 (model 1.3.0 and 1.2.0 alike, and every baseline network but the
random forest): ``ddos_tcp/run38``'s four-bot SYN-ACK flood on ``broker:1883`` (15,000 flows)
was called Reconnaissance, so the four bots were called Normal and the broker a scanner.

A scanner does not scan from the port its clients connect to.  So a TCP flow the detector
calls **Reconnaissance** becomes **DoS/TCP** (the flood step that follows makes it DDoS when
several senders flood the victim together) when its *source* endpoint (address, port) is a
listening service of the capture (:func:`forensics.attribution.listening_services`: the
destination of a two-way TCP flow called Normal) and at least ``MIN_FLOWS`` such flows leave
that endpoint.  The attribution rule, which counts listening endpoints as service ports, then
blames the flows on the bots.

Measured over lab runs 0-39 (cached predictions of 1.2.0 for runs 0-33 and of 1.3.0 for runs
34-39): the condition holds for the 15,000 flows of ``ddos_tcp/run38`` only, all truly DDoS; no
other flow of any run.  Run38 prompted this step, so that is not a test of it.  Not covered: a
SYN-ACK flood on a port no normal client uses in the capture, and an attacker that scans from a
port on which it also serves normal clients (``nmap -g``) would be read as flooded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MIN_FLOWS = 10  # "scan" flows that must leave the serving endpoint
EVIDENCE = "sent from a port this host serves on: backscatter of a SYN-ACK flood, not a scan"


def backscatter(flows: pd.DataFrame, category, services=None) -> np.ndarray:
    """Boolean mask: TCP flows called Reconnaissance that leave a listening endpoint with at
    least ``MIN_FLOWS - 1`` others (``category``: per-flow predicted names, aligned;
    ``services``: the capture's :func:`~forensics.attribution.listening_services` when
    already computed)."""
    from forensics.attribution import is_listening, labeled, listening_services

    cat = np.asarray(category, dtype=object).astype(str)
    out = np.zeros(len(flows), dtype=bool)
    need = ("proto", "saddr", "sport", "daddr", "dport", "spkts", "dpkts")
    if not len(flows) or any(c not in flows.columns for c in need):
        return out
    cand = np.flatnonzero((cat == "Reconnaissance") & (flows["proto"].astype(str).to_numpy() == "tcp"))
    if not len(cand):
        return out
    named = labeled(flows, cat)
    if services is None:
        services = listening_services(named)
    if not len(services):
        return out
    sub = named.iloc[cand]
    cap = sub["capture"] if "capture" in sub.columns else None
    listen = is_listening(services, cap, sub["saddr"], sub["sport"])
    if not listen.any():
        return out
    rows = cand[listen]
    key = pd.MultiIndex.from_arrays([flows["saddr"].astype(str).to_numpy()[rows],
                                     flows["sport"].astype(str).to_numpy()[rows]])
    codes, _ = pd.factorize(key)
    many = np.bincount(codes)[codes] >= MIN_FLOWS
    out[rows[many]] = True
    return out


def refine(flows: pd.DataFrame, p_cat: np.ndarray, p_sub: np.ndarray, categories, subcategories,
           allowed: np.ndarray, services=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(p_cat', p_sub', changed)``: the backscatter flows' Reconnaissance and DoS probabilities
    swapped, and their top allowed subcategory swapped with TCP (the flow keeps the model's
    confidence)."""
    from forensics.arp import _swap_to

    cats, subs = list(categories), list(subcategories)
    none = np.zeros(len(p_cat), dtype=bool)
    if not len(p_cat) or "DoS" not in cats or "Reconnaissance" not in cats or "TCP" not in subs:
        return p_cat, p_sub, none
    pred = np.asarray(cats, dtype=object)[np.asarray(p_cat).argmax(1)]
    changed = backscatter(flows, pred, services)
    if not changed.any():
        return p_cat, p_sub, changed
    rows = np.flatnonzero(changed)
    dos = cats.index("DoS")
    p_cat = _swap_to(p_cat, rows, np.full(len(rows), dos))
    p_sub = _swap_to(p_sub, rows, np.full(len(rows), subs.index("TCP")), among=np.tile(allowed[dos], (len(rows), 1)))
    return p_cat, p_sub, changed
