"""A flood is many packets: a victim that gets only a few is not flooded.

DoS and DDoS in BoT-IoT are floods (hping3 TCP SYN and UDP floods, HTTP floods): the attack
*is* the volume.  The detector judges each flow from its two short windows, and on traffic
unlike the lab's it calls single packets floods: on the 2,248 public test-suite captures of
``../shared/corpus`` (benign protocol traces for the most part), 1.3.0 called 1,229 flows DoS or
DDoS, and 420 of their 527 victims got fewer than 20 packets of those flows in their whole
capture (one DNS answer, one TCP reset to 255.255.255.255: "DoS TCP, 1 packet").

This step looks at what each victim got.  The flows called DoS or DDoS (ARP flows aside: the
ARP step judges them afterwards) are grouped by the victim
:func:`forensics.attribution.blame_frame` names, as incidents are (a SYN-ACK flood's
backscatter counts for the host that sends it, a spoofed flood's flows for the host they all
hit); when a victim's flows of the capture add up to fewer than :data:`MIN_PACKETS` packets, they
become **Normal**, keeping the model's confidence (as the other steps do) and with an evidence
string that says why.  Nothing is turned into an attack here.

Measured before choosing :data:`MIN_PACKETS` (2026-11-29; ``--flows`` of ``forensics scan``
with 1.3.0, victims as above): on the held-out lab runs 64-65 (24 captures) the smallest victim
total is 230 packets (``dos_tcp/run64``; the lab's floods are short and bounded in packets, real
ones larger), so 50 changes no lab flow; on the corpus, 700 of the 1,229 flows called DoS or DDoS
(477 of 527 victims) fall under 50 packets.  A flood cut short by the capture's own start or end
(fewer than 50 packets of it inside) is missed; the evidence of each flow turned says so, and
the scan warns per capture with the count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MIN_PACKETS = 50  # fewer packets of flood to one victim in a whole capture: no flood
EVIDENCE = ("called {cat} by the model, but its victim {victim} got only {n} packet(s) of such flows in this "
            f"capture, and a flood has {MIN_PACKETS} or more: Normal")
PREFIX = EVIDENCE.split("{cat}")[0]  # (how the scan recognises the flows turned here)


def small_floods(flows: pd.DataFrame, cat: np.ndarray, blame) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, evidence)``: the flows called DoS or DDoS (``cat``: per-flow category names) whose
    victim gets fewer than :data:`MIN_PACKETS` packets of such flows in the capture.  ``blame``:
    the capture's :class:`forensics.attribution.FloodBlame`."""
    not_arp = flows["proto"].astype(str).to_numpy() != "arp" if "proto" in flows.columns else True
    flood = np.flatnonzero(((cat == "DoS") | (cat == "DDoS")) & not_arp)
    if not len(flood) or "pkts" not in flows.columns:
        return np.zeros(0, np.int64), np.zeros(0, object)
    victim = blame.victims(cat, flood)
    pkts = np.nan_to_num(flows["pkts"].to_numpy(dtype=np.float64, na_value=0.0)[flood])
    code, _ = pd.factorize(victim)
    total = np.bincount(code, weights=pkts)[code]
    small = total < MIN_PACKETS
    rows = flood[small]
    evidence = np.array([EVIDENCE.format(cat=c, victim=v, n=int(n))
                         for c, v, n in zip(cat[rows], victim[small], total[small])], dtype=object)
    return rows, evidence


def refine(flows: pd.DataFrame, p_cat: np.ndarray, p_sub: np.ndarray, categories, subcategories,
           allowed: np.ndarray, blame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(p_cat', p_sub', rows, evidence)``: per-flow probabilities with the flows of
    :func:`small_floods` turned Normal (the flow keeps the model's confidence, as in
    :func:`forensics.arp.refine`)."""
    from forensics.arp import swap_in, top_names

    if not len(p_cat):
        return p_cat, p_sub, np.zeros(0, np.int64), np.zeros(0, object)
    cat, _ = top_names(p_cat, p_sub, categories, subcategories, allowed)
    rows, evidence = small_floods(flows, cat, blame)
    if not len(rows):
        return p_cat, p_sub, rows, evidence
    normal = np.full(len(rows), "Normal", dtype=object)
    p_cat, p_sub = swap_in(p_cat, p_sub, rows, normal, normal, categories, subcategories, allowed)
    return p_cat, p_sub, rows, evidence
