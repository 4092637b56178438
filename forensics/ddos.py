"""DoS or DDoS: does more than one host flood the victim at the same time?

BoT-IoT's DDoS is a flood sent by several bots together, its DoS one sent by a single
host.  The detector sees each flow through two short windows (its source's and its
destination's last and next flows), which is often not enough to tell them apart: a bot's
flows cluster in time, so the victim's window can hold one sender only.  Measured with the
bundled model: ``lab-out/ddos_udp/run24`` (two bots, each forging one fixed source address,
flooding ``10.77.0.2:53``) had 283 flows called DoS; ``lab-out/mixed/run25`` (four bots'
HTTP flood on the camera) 84.

This stage looks at the whole capture instead.  A flow the detector calls **DoS** becomes
**DDoS** when another sender that sends at least ``MIN_FLOWS`` flood flows (DoS or DDoS) to the
same victim in the capture (a *partner* on that victim) has at least ``NEAR_FLOWS`` flood flows
under way within ``NEAR_S`` seconds of it, on that victim or on any other: a DDoS is a campaign
whose bots move from victim to victim together, and the lab's truth
(:mod:`forensics.lab.truth`) calls every flood flow between a DDoS's bots and its victims DDoS
for the whole attack, whoever else floods that victim at that moment.

*Who sends* is the **Ethernet source MAC** of the side facing the victim (``smac``, or ``dmac``
when :func:`forensics.attribution.blame` names the flow's source as the victim), not the IP source:
floods forge their source addresses, and one bot sending from its own address and a forged
one at once is still one sender (``lab-out/mixed/run24``: atk2 floods ``10.77.0.21`` from
``10.77.0.202`` and as ``10.77.0.183``; keyed by IP address this rule turned 7,205 correct DoS
flows into DDoS, keyed by MAC none).

The reverse rule turns a flow the detector calls **DDoS** into **DoS** when no other sender
that floods its victim (any number of flows) has a flood flow, on any victim, under way within
``LONE_S`` seconds of it, every flood flow on that victim has a known sender MAC, and the
flow's sender MAC is *bound* to one host (:func:`forensics.attribution.mac_hosts`: a MAC seen
with exactly one address in ARP and two-way normal flows).  One MAC can stand for many hosts
(a router forwards every remote bot's frames with its own MAC, and shows many addresses), so an
unbound MAC proves nothing and its floods keep the model's verdict; so do captures without MAC
addresses.  Measured with the
bundled weights 1.2.0 on lab runs 0-33 (its training runs 0-30 included, so not a test;
``python bench/flood_errors.py $(ls -d lab-out/*/run{0..33})``): of 2,628,149 flows whose truth
is DoS or DDoS, 15,376 were called the other one by the model, 15,248 after DoS -> DDoS, 15
after both rules.  The reverse rule turned 15,236 flows: 15,233 truly DoS (``mixed/run32``: one
host's UDP flood on the DNS server right after a four-bot HTTP DDoS on the camera, 1,523 flows;
``dos_tcp/run18``, ``dos_tcp/run31``, ``mixed/run15``), 3 truly Reconnaissance (wrong either
way), none truly DDoS.  Without the binding guard (a prototype, ARP flows excluded) it turned 9
more truly DoS flows and 1 truly DDoS flow.

Until blind runs 46-49 both rules looked at the victim's floods only (the reverse one with
``LONE_S`` 10 s) and counted flows by their start time.  Two errors with 1.3.0's weights:
``lab-out/ddos_udp/run46``: a small bot (atk4, 48 flows, 17.1-17.9 s into the capture) floods the
DNS server 2.8 s after the three big bots left it for the broker; the model called its flows DoS,
and no other sender flooded the DNS server within ``NEAR_S``, so atk4's flows and host verdict
stayed DoS although its partners were flooding the broker at the same time.
``lab-out/mixed/run47``: atk3 is one of four bots of a TCP DDoS on the camera (4.2-10.4 s), then
floods the camera alone (14.9-18.4 s, DoS by the truth); the model called the first 537 of those
flows DDoS, and the other bots' floods on the camera 4.5 s earlier kept them from the reverse
rule.  Flows now count while *under way* (start to end), not only at their start: the big bots'
keep-alive HTTP connections stay open for seconds (``ddos_http/run15``: a small bot's one
connection began 2.9 s after the last of their starts).  Measured on lab runs 0-23 and 44-49
with 1.3.0's weights (its training runs among them): every flood flow whose truth is DDoS has a
partner's flood flow under way within 0.15 s of it; every one whose truth is DoS is at least
3.77 s from one (the lab's mixed runs space their attacks 3-5 s apart), except 932 flows of
``mixed/run1`` whose UDP 5-tuples carry packets of both a DDoS and the DoS that follows it (the
truth gives them the later attack).  Any ``LONE_S`` from 1 s to 3.7 s gives the same verdicts
there; 2 s.  ``python bench/flood_errors.py $(ls -d lab-out/*/run{0..23} lab-out/*/run{44..49})``:
of 2,308,291 flows whose truth is DoS or DDoS the model called 5,374 the other one, 1,565 after
both rules as they were, 949 now.  DoS -> DDoS turned 109 -> 181 flows, all right (the new ones
``ddos_udp/run46``, 48, and ``ddos_udp/run6``'s small bot, 24); DDoS -> DoS turned 3,700 -> 4,244
right (``mixed/run47``, 537; ``mixed/run1``, 5; ``mixed/run4``, 2) and 2 -> 3 wrong, the new one a
scan probe of ``mixed/run13`` called DDoS (truly Reconnaissance, wrong either way).
``forensics evaluate $(ls -d lab-out/*/run{44..49}) --all-runs``: category accuracy 0.99890 ->
0.99996, macro-F1 0.99929 -> 0.99978, captures with every lab host right 70 -> 71 of 72.  The
rules know nothing of the attacks' plan: a single host flooding a victim while, elsewhere, another
host that flooded the same victim earlier is flooding too is called DDoS (the lab never runs two
attacks at once, so this is not measured).

Both rules find the victim with :func:`forensics.attribution.blame_frame` given the capture's
MAC binding, as incidents do: without it, blame took a random-source flood's victim, which
appears in every flow and outnumbers each forged source, for the attacker
(``lab-out/ddos_tcp/run10``: 9,711 flows), and the sender would have been the victim's own
MAC.  (The DoS -> DDoS rule's verdicts on runs 0-33 are the same either way: 128 flows.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MIN_FLOWS = 10  # flood flows a sender must send to the victim in the capture to count
NEAR_FLOWS = 3  # ... and at least this many flood flows (any victim) under way within NEAR_S of the flow
NEAR_S = 1.0
EVIDENCE = "other hosts (by MAC address) that flood the same victim flood at the same time"


LONE_S = 2.0  # the reverse rule: no other sender of the victim floods (any victim) this close to the flow
EVIDENCE_LONE = f"no other host (by MAC address) that floods this victim floods within {LONE_S:g} s"


def _floods(flows: pd.DataFrame, cat: np.ndarray, hosts=None, services=None, blame=None):
    """The flood flows (detector's DoS or DDoS) with a known sender: ``(rows, sender MAC,
    victim, bound, complete)``; ``bound``: the sender MAC is bound to one host; ``complete``:
    per row, every flood flow on its victim has a known sender.  None without MAC columns.
    ``hosts``/``services``: the capture's :func:`~forensics.attribution.mac_hosts` and
    :func:`~forensics.attribution.listening_services` when already computed; ``blame``: the
    capture's :class:`~forensics.attribution.FloodBlame` when shared with other steps."""
    from forensics.attribution import FloodBlame, _unicast_macs, labeled, lookups

    if "smac" not in flows.columns or "dmac" not in flows.columns:
        return None
    # ARP flows are no floods here (the ARP step gives them their verdict afterwards), and a
    # sender is a unicast MAC: a victim's broadcast request for a forged address, called DoS,
    # counted as a second sender and kept a lone host's flood DDoS (lab-out/dos_tcp/run42: 1,125
    # flows).  Measured with 1.3.0's weights on 120 lab runs (runs 0-8 and 38-43 of every
    # scenario; runs 0-8 regenerated copies of its training runs), ``bench/flood_errors.py``:
    # DoS/DDoS errors after both rules 2,123 -> 1,004 of 946,991 flood flows; DDoS -> DoS right
    # 3,618 -> 4,743, wrong 2 -> 2; DoS -> DDoS right 545 -> 538, wrong 1 -> 0
    not_arp = flows["proto"].astype(str).to_numpy() != "arp" if "proto" in flows.columns else True
    flood = np.flatnonzero(((cat == "DoS") | (cat == "DDoS")) & not_arp)
    if not len(flood):
        return None
    hosts, services = lookups(flows, cat, hosts, services)
    att = labeled(flows, cat).iloc[flood]
    victim = (blame or FloodBlame(flows, hosts, services)).victims(cat, flood)
    # the victim is one end of the flow, the sender's frames come from the other end
    # (the attacker's address may be a traced host's rather than an end of the flow)
    to_dst = victim == att["daddr"].astype(str).to_numpy()
    sender = np.where(to_dst, att["smac"].astype(str).to_numpy(), att["dmac"].astype(str).to_numpy())
    s_code, s_names = pd.factorize(sender)
    known = _unicast_macs(np.asarray(s_names, dtype=object).astype(str))[s_code] if len(s_names) else \
        np.zeros(len(sender), bool)  # (a host: not empty, Broadcast or multicast)
    v_code, _ = pd.factorize(victim)
    complete = (np.bincount(v_code, weights=~known, minlength=v_code.max() + 1) == 0)[v_code]
    bound = np.isin(sender, hosts["mac"].astype(str).to_numpy()) if len(hosts) else np.zeros(len(flood), bool)
    return flood[known], sender[known], victim[known], bound[known], complete[known]


def _under_way(t0: np.ndarray, t1: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """For each interval [lo, hi]: how many flows [t0, t1] overlap it (``t0`` and ``t1``
    each sorted on its own: the flows that start by ``hi`` less those that end before ``lo``)."""
    return np.searchsorted(t0, hi, "right") - np.searchsorted(t1, lo, "left")


def _times(s_code: np.ndarray, t0: np.ndarray, t1: np.ndarray) -> dict:
    """Per sender code: the sorted start and end times of all its flood flows (any victim)."""
    return {s: (np.sort(t0[s_code == s]), np.sort(t1[s_code == s])) for s in np.unique(s_code)}


def _start(flows: pd.DataFrame, category, which: str, found):
    """The common start of both rules: ``(names, empty mask, found, stime, ltime)`` of the flood
    flows; ``found`` is None when no flow is called ``which`` or there is nothing to look at."""
    cat = np.asarray(category, dtype=object).astype(str)
    out = np.zeros(len(flows), dtype=bool)
    if not (cat == which).any():
        return cat, out, None, None, None
    found = _floods(flows, cat) if found is None else found
    if found is None:
        return cat, out, None, None, None
    flood = found[0]
    return (cat, out, found, flows["stime"].to_numpy(dtype=np.float64)[flood],
            flows["ltime"].to_numpy(dtype=np.float64)[flood])


def concurrent_flood(flows: pd.DataFrame, category, found=None) -> np.ndarray:
    """Boolean mask: flows with ``category`` DoS that become DDoS because another sender that
    floods the same victim (``MIN_FLOWS``) floods, on any victim, at the same time
    (``category``: per-flow predicted category names, aligned; ``found``: :func:`_floods` of
    them when already computed)."""
    cat, out, found, t0, t1 = _start(flows, category, "DoS", found)
    if found is None:
        return out
    flood, sender, victim, _, _ = found
    is_dos = cat[flood] == "DoS"
    v_code, _ = pd.factorize(victim)
    s_code, _ = pd.factorize(sender)
    times = _times(s_code, t0, t1)
    for v in np.unique(v_code[is_dos]):
        in_v = v_code == v
        counts = np.bincount(s_code[in_v])
        senders = np.flatnonzero(counts >= MIN_FLOWS)
        if len(senders) < 2:
            continue
        rows = np.flatnonzero(in_v & is_dos)
        lo, hi = t0[rows] - NEAR_S, t1[rows] + NEAR_S
        hit = np.zeros(len(rows), dtype=bool)
        for s in senders:  # a partner's floods on any victim (the campaign may have moved on)
            hit |= (_under_way(*times[s], lo, hi) >= NEAR_FLOWS) & (s_code[rows] != s)
        out[flood[rows[hit]]] = True
    return out


def lone_flood(flows: pd.DataFrame, category, found=None) -> np.ndarray:
    """Boolean mask: non-ARP flows with ``category`` DDoS sent by a bound MAC when no other
    sender that floods their victim floods anything within ``LONE_S`` seconds of them (the
    reverse rule, see the module's text; ``found``: :func:`_floods` of them when already
    computed)."""
    cat, out, found, t0, t1 = _start(flows, category, "DDoS", found)
    if found is None:
        return out
    flood, sender, victim, bound, complete = found
    not_arp = flows["proto"].astype(str).to_numpy()[flood] != "arp" if "proto" in flows.columns \
        else np.ones(len(flood), bool)
    candidate = (cat[flood] == "DDoS") & bound & complete & not_arp
    if not candidate.any():
        return out
    v_code, _ = pd.factorize(victim)
    s_code, _ = pd.factorize(sender)
    times = _times(s_code, t0, t1)
    for v in np.unique(v_code[candidate]):
        in_v = v_code == v
        rows = np.flatnonzero(in_v & candidate)
        lo, hi = t0[rows] - LONE_S, t1[rows] + LONE_S
        other = np.zeros(len(rows), dtype=bool)
        for s in np.unique(s_code[in_v]):  # every partner, whatever its count, on any victim
            other |= (_under_way(*times[s], lo, hi) > 0) & (s_code[rows] != s)
        out[flood[rows[~other]]] = True
    return out


def refine(flows: pd.DataFrame, p_cat: np.ndarray, categories, hosts=None, services=None, blame=None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(p_cat', to_ddos, to_dos)``: per-flow category probabilities with the DoS and DDoS
    columns swapped where :func:`concurrent_flood` turns the model's DoS into DDoS
    (``to_ddos``) or :func:`lone_flood` its DDoS into DoS (``to_dos``); the flow keeps the
    model's confidence, rankings of the other classes are untouched."""
    names = list(categories)
    none = np.zeros(len(p_cat), dtype=bool)
    if "DoS" not in names or "DDoS" not in names or not len(p_cat):
        return p_cat, none, none.copy()
    pred = np.asarray(names, dtype=object)[np.asarray(p_cat).argmax(1)].astype(str)
    found = _floods(flows, pred, hosts, services, blame)  # once for both rules (the binding and blame are the cost)
    to_ddos = concurrent_flood(flows, pred, found)
    to_dos = lone_flood(flows, pred, found)
    changed = to_ddos | to_dos
    if changed.any():
        p_cat = np.array(p_cat, copy=True)
        i, j = names.index("DoS"), names.index("DDoS")
        p_cat[np.ix_(changed, [i, j])] = p_cat[np.ix_(changed, [j, i])]
    return p_cat, to_ddos, to_dos
