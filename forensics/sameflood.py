"""A flow its sender sends to the port it floods, while it floods it, is part of the flood.

BoT-IoT labels a flow by its *addresses*: a flow from an attacker to its victim during the
attack is that attack, whatever it carries; the lab's truth (:mod:`forensics.lab.truth`) follows
the same rule.  An HTTP flood is made of ordinary HTTP requests, and some of its connections
look just like a client's: ``lab-out/mixed/run50`` (blind run, 1.3.0's weights): atk3
(``10.77.0.203``) floods the camera's ``10.77.0.20:80`` with short connections (12 packets,
FIN, ~0.03 s); the model called 86 of them DDoS and 1,130 Normal.

This step looks at what the sender does meanwhile.  A non-ARP flow the model calls **Normal**
takes the verdict of a flood when its sender sends at least ``MIN_FLOWS`` flows called DoS or
DDoS to the flow's destination address, destination port and protocol in the capture, and at
least one of them is under way (start to end) within ``NEAR_S`` seconds of the flow: category
the majority of those flood flows under way within ``NEAR_S``, subcategory the majority of
theirs under that category.

*The sender* of a flow is the host bound to its source MAC (``smac``) when
:func:`forensics.attribution.mac_hosts` binds that MAC to one host (a bot keeps its MAC whatever
source address it forges), else the pair (source address, source MAC) (a router's MAC fronts
many hosts and is bound to none: its remote hosts stay apart by their addresses), and the source
address alone in a capture without MAC addresses.  Flood flows count only from their attacker's
side: the flow's destination is the victim :func:`forensics.attribution.blame_frame` names (a
victim's answers, flows from the flooded port, send nothing here).  So a normal client fetching
from the server a bot floods stays Normal: it is another sender.

Measured with the bundled weights 1.3.0 on lab runs 0-23 (its training runs, so not a test) and
44-51 (``python bench/same_flood.py $(ls -d lab-out/*/run{0..23} lab-out/*/run{44..51})``): of
the 1,135 non-ARP flows called Normal whose truth is an attack, 1,131 share sender, victim, port
and protocol with flows called DoS or DDoS: all 1,130 of ``mixed/run50`` and one DNS flood query
of ``mixed/run13``, each within 0.12 s of a flood flow under way.  The step turned those 1,131
(category and subcategory right) and nothing else, ARP flows included: no flow turned wrong, no
truly Normal flow turned.  The flows called Normal that share source address and MAC, victim, port
and protocol with flows called DoS or DDoS but whose truth is Normal (80 flows: normal hosts' DNS
queries in ``ddos_udp/run18``, ``ddos_udp/run46``, ``dos_udp/run44``, ``mixed/run3``,
``service_scan/run7``) share the DNS server's port with 1 or 2 of their own queries the model
called DoS or DDoS, 0.55 s or more away: ``MIN_FLOWS`` keeps them Normal (so would, alone,
any ``NEAR_S`` up to 0.5 s).  ``forensics evaluate $(ls -d lab-out/*/run{44..51}) --all-runs``:
category accuracy 0.998392 -> 0.999958, macro-F1 0.98927 -> 0.99919 (Normal precision 0.908 ->
0.9996), captures with every lab host right 95 -> 95 of 96.  Left: 3 flows from a flooded host
back to its attacker's port (the reverse direction, not looked at), and ``mixed/run49``'s one
keep-alive HTTP connection of atk3 to the camera (6.3-11.4 s, 158 packets), whose sender has no
flow called DoS or DDoS on the camera (the capture's one wrong host verdict).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MIN_FLOWS = 10  # flows called DoS or DDoS the sender sends to the flow's victim, port and protocol in the capture
NEAR_S = 1.0  # ... one of them under way within this many seconds of the flow
EVIDENCE = "its sender {s} floods {v} port {p}/{proto} at the same time ({c}, {n} flows within {t:g} s)"


def _str(values) -> np.ndarray:
    return np.asarray(values, dtype=object).astype(str)


def _coded(values) -> tuple[np.ndarray, np.ndarray]:
    """(code per row, ``str`` of each code's value): ``names[codes]`` is ``_str(values)``
    without converting every row."""
    codes, uniq = pd.factorize(values, use_na_sentinel=False)
    return np.asarray(codes, dtype=np.int64), _str(uniq)


def _joint(*codes: np.ndarray) -> np.ndarray:
    """One code per distinct tuple of codes (row-aligned integer arrays)."""
    out = codes[0]
    for c in codes[1:]:
        out = pd.factorize(out * (int(c.max()) + 1) + c)[0].astype(np.int64)
    return out


def _senders(flows: pd.DataFrame, hosts) -> tuple[np.ndarray, np.ndarray]:
    """(code per flow, name per code) of each flow's sender (see the module's text)."""
    s_code, s_name = _coded(flows["saddr"])
    if "smac" not in flows.columns:
        return s_code, s_name
    m_code, m_name = _coded(flows["smac"])
    bound = {}
    if hosts is not None and len(hosts):
        bound = dict(zip(_str(hosts["mac"]), _str(hosts["host"])))
    # a name per distinct (source address, source MAC), then one code per distinct name
    pair = _joint(s_code, m_code)
    first = np.unique(pair, return_index=True)[1]  # first row of each pair (its codes are 0..K-1)
    names = np.array([bound.get(m, "") or f"{a} ({m})" for a, m in zip(s_name[s_code[first]], m_name[m_code[first]])],
                     dtype=object)
    code, uniq = pd.factorize(names)
    return np.asarray(code, dtype=np.int64)[pair], np.asarray(uniq, dtype=object)


def _under_way(code: np.ndarray, t0: np.ndarray, t1: np.ndarray, rows: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """Per candidate row: how many of ``rows`` with its ``code`` are under way (``t0``..``t1``)
    within NEAR_S of it: those that start by its end + NEAR_S less those that end before its
    start - NEAR_S, counted in one sorted array of code * span + time."""
    base = t0.min() - NEAR_S - 1.0
    span = t1.max() - base + NEAR_S + 1.0
    starts = np.sort(code[rows] * span + (t0[rows] - base))
    ends = np.sort(code[rows] * span + (t1[rows] - base))
    k = code[cand] * span
    return np.searchsorted(starts, k + (t1[cand] - base + NEAR_S), "right") - np.searchsorted(ends, k + (t0[cand] - base - NEAR_S), "left")


def same_flood(flows: pd.DataFrame, category, subcategory, hosts=None, services=None, blame=None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(rows, category, subcategory, evidence)`` for the flows called Normal that take a
    flood's verdict (``rows``: positions in ``flows``; ``category``/``subcategory``: per-flow
    verdicts, aligned with ``flows``; ``hosts``/``services``: the capture's
    :func:`~forensics.attribution.mac_hosts` and :func:`~forensics.attribution.listening_services`
    when already computed; ``blame``: the capture's :class:`~forensics.attribution.FloodBlame`
    when shared with other steps)."""
    none = (np.zeros(0, np.int64), np.zeros(0, object), np.zeros(0, object), np.zeros(0, object))
    need = ("saddr", "daddr", "dport", "proto", "stime", "ltime")
    if not len(flows) or any(c not in flows.columns for c in need):
        return none
    cat, sub = _str(category), _str(subcategory)
    (d_code, d_name), (p_code, p_name), (r_code, r_name) = (_coded(flows[c]) for c in ("daddr", "dport", "proto"))
    not_arp = r_name[r_code] != "arp"
    flood = np.flatnonzero(((cat == "DoS") | (cat == "DDoS")) & not_arp)
    normal = (cat == "Normal") & not_arp
    if not len(flood) or not normal.any():
        return none
    # a candidate shares its destination address, port and protocol with at least MIN_FLOWS
    # flood flows, one of them under way within NEAR_S of it (its sender's are fewer): where none
    # does (the usual flood capture), nothing below can turn a flow, so skip its blame
    target = _joint(d_code, p_code, r_code)
    cand = np.flatnonzero(normal & (np.bincount(target[flood], minlength=target.max() + 1)[target] >= MIN_FLOWS))
    t0 = flows["stime"].to_numpy(dtype=np.float64)
    t1 = np.maximum(flows["ltime"].to_numpy(dtype=np.float64), t0)
    if not len(cand) or not (_under_way(target, t0, t1, flood, cand) > 0).any():
        return none
    from forensics.attribution import FloodBlame, lookups

    hosts, services = lookups(flows, cat, hosts, services)
    victim = (blame or FloodBlame(flows, hosts, services)).victims(cat, flood)
    flood = flood[victim == d_name[d_code[flood]]]  # from the attacker's side only
    if not len(flood):
        return none
    sender, s_name = _senders(flows, hosts)
    code = _joint(sender, target)
    counts = np.bincount(code[flood], minlength=code.max() + 1)
    cand = np.flatnonzero(normal & (counts[code] >= MIN_FLOWS))
    if not len(cand):
        return none
    # per (category, subcategory) of the flood flows: how many of the sender's flows on the
    # candidate's key are under way within NEAR_S of it
    kinds = sorted(set(zip(cat[flood], sub[flood])))
    under = np.zeros((len(kinds), len(cand)), np.int64)
    for k, (c, s) in enumerate(kinds):
        under[k] = _under_way(code, t0, t1, flood[(cat[flood] == c) & (sub[flood] == s)], cand)
    total = under.sum(0)
    take = total > 0
    if not take.any():
        return none
    kind_cat = np.array([c for c, _ in kinds], dtype=object)
    kind_sub = np.array([s for _, s in kinds], dtype=object)
    cats = sorted(set(kind_cat), key=lambda c: c != "DDoS")  # ties: DDoS first
    by_cat = np.stack([under[kind_cat == c].sum(0) for c in cats])
    new_cat = np.asarray(cats, dtype=object)[by_cat.argmax(0)]
    new_sub = kind_sub[np.where(kind_cat[:, None] == new_cat[None, :], under, -1).argmax(0)]
    rows = cand[take]
    evidence = np.array([EVIDENCE.format(s=s_name[sender[i]], v=d_name[d_code[i]], p=p_name[p_code[i]],
                                         proto=r_name[r_code[i]], c=f"{c}/{s}",
                                         n=int(n), t=NEAR_S)
                         for i, c, s, n in zip(rows, new_cat[take], new_sub[take], total[take])], dtype=object)
    return rows.astype(np.int64), new_cat[take], new_sub[take], evidence


def refine(flows: pd.DataFrame, p_cat: np.ndarray, p_sub: np.ndarray, categories, subcategories,
           allowed: np.ndarray, hosts=None, services=None, blame=None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(p_cat', p_sub', rows, evidence)``: per-flow probabilities with the verdicts of
    :func:`same_flood` swapped in, as :func:`forensics.arp.refine` does (the flow keeps the
    model's confidence; ``allowed``: (n_cat, n_sub) mask of the subcategories each category may have)."""
    from forensics.arp import swap_in, top_names

    if not len(p_cat):
        return p_cat, p_sub, np.zeros(0, np.int64), np.zeros(0, object)
    cat, sub = top_names(p_cat, p_sub, categories, subcategories, allowed)
    rows, new_cat, new_sub, evidence = same_flood(flows, cat, sub, hosts, services, blame)
    if not len(rows):
        return p_cat, p_sub, rows, evidence
    p_cat, p_sub = swap_in(p_cat, p_sub, rows, new_cat, new_sub, categories, subcategories, allowed)
    return p_cat, p_sub, rows, evidence
