"""A sweep is no flood: one host's few packets to each of many hosts are a scan.

The detector learnt floods and scans from the lab, whose scans probe the hosts of one small
subnet (nmap service and OS scans: many ports of a few hosts).  A horizontal sweep (one or a
few ports of thousands of addresses, as a worm or a botnet looks for telnet, web and MQTT
services) is unlike both, and 1.3.0 calls its flows DDoS: on a generated SYN sweep of 142,093
addresses in 10.0.0.0/8 on 7 service ports (30 % answered with a reset, 5 % with a SYN-ACK),
142,707 of its 142,709 flows.  Every one of those victims gets 1 to 3 packets, so the
too-little-traffic step (:mod:`forensics.toolittle`) would then turn them all Normal, and the
scan reported "No attack found".

This step runs before it.  The flows called DoS or DDoS (ARP flows aside) are blamed as incidents
are (:func:`forensics.attribution.blame_frame`, the capture's
:class:`~forensics.attribution.FloodBlame`); a victim whose flows add up to fewer than
:data:`forensics.toolittle.MIN_FLOOD_PACKETS` packets is not flooded; when one attacker's flows
reach :data:`MIN_SWEEP_HOSTS` or more such victims, those flows are a sweep and become
**Reconnaissance / Service_Scan**, keeping the model's confidence, with the evidence "called DDoS
by the model, but A sent such flows to N hosts, none of which got 50 packets of them: a sweep of
many hosts, not a flood: Reconnaissance".  A flood keeps its verdict (its victim gets 50 packets
or more), and so do the small floods of an attacker that reaches fewer hosts (the too-little step
judges them).  The lab's floods have one victim of at least 230 packets (held-out runs 64-65,
measured for the too-little step), so no lab flow is changed.

A spread of ports is no flood either (added 2026-11-29 night): a TCP flood hits the service it
floods (every lab TCP flood of runs 68-69, attacker and victim, hits one port of its victim), and
flows called DoS or DDoS over TCP from one attacker to one victim that reach
:data:`MIN_SPREAD_PORTS` or more of its ports, the busiest with less than
:data:`MAX_TOP_PORT_SHARE` of their packets, are a scan of many ports: Reconnaissance /
Service_Scan (when they add up to :data:`~forensics.toolittle.MIN_FLOOD_PACKETS` or more; fewer
are the too-little step's).  Found with a generated honeypot capture: 2,996 internet scanners
sending 1-5 SYNs each to 16 ports of one host over 10 minutes through the gateway's MAC, which 1.3.0 and
attribution step 3b made one "DDoS/TCP" incident of the gateway (8,871 flows, 32 packets/s).  On
the corpus no flood reaches more than 3 ports of a victim.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forensics.toolittle import MIN_FLOOD_PACKETS, flood_packets, flood_rows

MIN_SWEEP_HOSTS = 64  # distinct hosts, each with less than a flood of an attacker's flows: a sweep
SWEEP_CATEGORY, SWEEP_SUBCATEGORY = "Reconnaissance", "Service_Scan"
MIN_SPREAD_PORTS = 8  # distinct TCP ports of one victim that one attacker's flood flows reach: a scan ...
MAX_TOP_PORT_SHARE = 0.5  # ... when the busiest of them gets less than this share of their packets
SPREAD_EVIDENCE = ("called {cat} by the model, but {attacker} sent such flows to {n} TCP ports of {victim}, the busiest "
                   "({port}) with only {share:.0%} of their packets: a scan of many ports, not a flood of one service: "
                   f"{SWEEP_CATEGORY}")
SWEEP_EVIDENCE = ("called {cat} by the model, but {attacker} sent such flows to {n:,} hosts, none of which got "
                  f"{MIN_FLOOD_PACKETS} packets of them: a sweep of many hosts, not a flood: {SWEEP_CATEGORY}")


def sweeps(flows: pd.DataFrame, cat: np.ndarray, blame) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, evidence)``: the flows called DoS or DDoS (``cat``: per-flow category names) of an
    attacker that sends them to :data:`MIN_SWEEP_HOSTS` or more victims, none of which gets
    :data:`~forensics.toolittle.MIN_FLOOD_PACKETS` packets of such flows (from anyone) in the
    capture.  ``blame``: the capture's :class:`forensics.attribution.FloodBlame`."""
    flood = flood_rows(flows, cat)
    if len(flood) < MIN_SWEEP_HOSTS or "pkts" not in flows.columns:
        return np.zeros(0, np.int64), np.zeros(0, object)
    victim = blame.victims(cat, flood)
    attacker = blame.attackers(cat, flood)
    pkts = flood_packets(flows, flood)
    v_code, _ = pd.factorize(victim)
    small = (np.bincount(v_code, weights=pkts) < MIN_FLOOD_PACKETS)[v_code]
    a_code, _ = pd.factorize(attacker)
    # distinct small victims of each attacker
    n_victims = v_code.max() + 1
    pairs = np.unique(a_code[small].astype(np.int64) * n_victims + v_code[small])
    hosts = np.bincount(pairs // n_victims, minlength=a_code.max() + 1)
    swept = np.flatnonzero(small & (hosts[a_code] >= MIN_SWEEP_HOSTS))
    rows = flood[swept]
    # one text per (attacker, category), shared by its flows
    group = a_code[swept].astype(np.int64) * 2 + (cat[rows] == "DDoS")
    uniq, first, inverse = np.unique(group, return_index=True, return_inverse=True)
    texts = np.array([SWEEP_EVIDENCE.format(cat=cat[rows[i]], attacker=attacker[swept[i]], n=int(hosts[a_code[swept[i]]]))
                      for i in first], dtype=object)
    return rows.astype(np.int64), texts[inverse]


def _port_order(port: str) -> tuple:
    return (0, int(port), "") if port.isdigit() else (1, 0, port)


def port_spreads(flows: pd.DataFrame, cat: np.ndarray, blame) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, evidence)``: the TCP flows called DoS or DDoS of an attacker that reach
    :data:`MIN_SPREAD_PORTS` or more ports of one victim (the port on the victim's side), the
    busiest with less than :data:`MAX_TOP_PORT_SHARE` of their packets."""
    none = np.zeros(0, np.int64), np.zeros(0, object)
    flood = flood_rows(flows, cat)
    if len(flood) < MIN_SPREAD_PORTS or any(c not in flows.columns for c in ("pkts", "proto", "sport", "dport")):
        return none
    victim = blame.victims(cat, flood)  # (the sweep's rows: blamed once)
    attacker = blame.attackers(cat, flood)

    def col(name, at):
        return np.asarray(flows[name].iloc[at], dtype=object).astype(str)

    tcp = np.flatnonzero(col("proto", flood) == "tcp")
    if len(tcp) < MIN_SPREAD_PORTS:
        return none
    rows, victim, attacker = flood[tcp], victim[tcp], attacker[tcp]
    to_dst = victim == col("daddr", rows)
    port = np.where(to_dst, col("dport", rows), col("sport", rows))
    pkts = flood_packets(flows, rows)
    # (codes of each column alone, then combined as integers: a MultiIndex of strings costs 3x)
    a_code, v_code, p_code = (pd.factorize(x)[0].astype(np.int64) for x in (attacker, victim, port))
    av = np.unique(a_code * (v_code.max() + 1) + v_code, return_inverse=True)[1].reshape(-1)
    avp = np.unique(av * (p_code.max() + 1) + p_code, return_inverse=True)[1].reshape(-1)  # (attacker, victim, port)
    per_port = np.bincount(avp, weights=pkts)
    first = np.unique(avp, return_index=True)[1]  # a row of each (attacker, victim, port)
    owner = av[first]
    n_av = av.max() + 1
    n_ports = np.bincount(owner, minlength=n_av)
    total = np.bincount(owner, weights=per_port, minlength=n_av)
    busiest = np.zeros(n_av)
    np.maximum.at(busiest, owner, per_port)
    share = np.divide(busiest, total, out=np.ones(n_av), where=total > 0)
    # (fewer than a flood's packets in all: the too-little step judges them, as any small flood)
    spread = (n_ports >= MIN_SPREAD_PORTS) & (share < MAX_TOP_PORT_SHARE) & (total >= MIN_FLOOD_PACKETS)
    hit = np.flatnonzero(spread[av])
    if not len(hit):
        return none
    top = {}  # (attacker, victim) -> its busiest port (the lowest number among equals: row order never matters)
    for k in np.flatnonzero(spread[owner] & (per_port == busiest[owner])).tolist():
        o, p = int(owner[k]), port[first[k]]
        if o not in top or _port_order(p) < _port_order(top[o]):
            top[o] = p
    # one text per (attacker, victim, category), shared by its flows
    group = av[hit].astype(np.int64) * 2 + (cat[rows[hit]] == "DDoS")
    _, once, inverse = np.unique(group, return_index=True, return_inverse=True)
    texts = np.array([SPREAD_EVIDENCE.format(cat=cat[rows[i]], attacker=attacker[i], n=int(n_ports[av[i]]),
                                             victim=victim[i], port=top[int(av[i])], share=float(share[av[i]]))
                      for i in hit[once].tolist()], dtype=object)
    return rows[hit].astype(np.int64), texts[inverse.reshape(-1)]


def refine(flows: pd.DataFrame, p_cat: np.ndarray, p_sub: np.ndarray, categories, subcategories,
           allowed: np.ndarray, blame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(p_cat', p_sub', rows, evidence)``: per-flow probabilities with the flows of
    :func:`sweeps` turned Reconnaissance / Service_Scan (the flow keeps the model's confidence)."""
    from forensics.arp import swap_in, top_names

    if not len(p_cat) or SWEEP_CATEGORY not in list(categories) or SWEEP_SUBCATEGORY not in list(subcategories):
        return p_cat, p_sub, np.zeros(0, np.int64), np.zeros(0, object)
    cat, _ = top_names(p_cat, p_sub, categories, subcategories, allowed)
    rows, evidence = sweeps(flows, cat, blame)
    s_rows, s_evidence = port_spreads(flows, cat, blame)
    if len(s_rows):  # (a flow of both keeps the sweep's evidence)
        new = ~np.isin(s_rows, rows)
        rows = np.concatenate([rows, s_rows[new]]).astype(np.int64)
        evidence = np.concatenate([evidence, s_evidence[new]]).astype(object)
    if not len(rows):
        return p_cat, p_sub, rows, evidence
    p_cat, p_sub = swap_in(p_cat, p_sub, rows, np.full(len(rows), SWEEP_CATEGORY, dtype=object),
                           np.full(len(rows), SWEEP_SUBCATEGORY, dtype=object), categories, subcategories, allowed)
    return p_cat, p_sub, rows, evidence
