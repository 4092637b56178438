"""Too little traffic for the verdict: a flood of a few packets, keylogging of a moment, a scan of one port.

Some attacks are defined by their traffic.  DoS and DDoS in BoT-IoT are floods (hping3 TCP SYN
and UDP floods, HTTP floods): the attack *is* the volume.  Keylogging is keystrokes typed by a
person and streamed as they come, one small message every few tens or hundreds of milliseconds,
over seconds to hours.  The detector judges each flow from its two short windows, and on traffic
unlike the lab's it gives these verdicts to a moment's traffic: on the 2,248 public test-suite
captures of ``../shared/corpus`` (benign protocol traces for the most part), 1.3.0 called 1,229
flows DoS or DDoS, and 420 of their 527 victims got fewer than 20 packets of those flows in their
whole capture (one DNS answer, one TCP reset to 255.255.255.255: "DoS TCP, 1 packet"); it called
1,788 flows Keylogging, and 1,366 of their 1,640 host pairs exchanged them within less than a
second (median 0.9 ms: an HTTP request and its answer, a TLS handshake).

This step looks at what each verdict rests on, over the whole capture:

* **floods**: the flows called DoS or DDoS (ARP flows aside: the ARP step judges them afterwards)
  are grouped by the victim :func:`forensics.attribution.blame_frame` names, as incidents are (a
  SYN-ACK flood's backscatter counts for the host that sends it, a spoofed flood's flows for the
  host they all hit); when a victim's flows add up to fewer than :data:`MIN_FLOOD_PACKETS`
  packets, they are no flood;
* **keylogging**: the flows called Theft/Keylogging (ARP aside) are grouped by their two hosts
  (either direction); when a pair's flows span less than :data:`MIN_KEYLOG_SECONDS` from the first
  one's start to the last one's end, they are no keylogging.

* **scans**: the flows called Reconnaissance (ARP aside) are grouped by the attacker
  :func:`forensics.attribution.blame_frame` names (the scanner, also for its victims' answers);
  when an attacker's flows reach fewer than :data:`MIN_SCAN_TARGETS` distinct targets (victim
  address and the port on its side), they are no scan (nmap's service and OS scans probe several
  ports; on the corpus 154 of the 173 attackers of flows called Reconnaissance reached one or two
  targets, e.g. a single DNS query to 8.8.8.8).

* **stray senders**: a host with an address of its own (bound to its MAC: not a forged source)
  whose flows called DoS or DDoS add up to fewer than :data:`MIN_SENDER_PACKETS` packets in the
  capture, sent to a victim another attacker floods with :data:`MIN_FLOOD_PACKETS` or more, is a
  client of the flooded host, not one of its flooders (:func:`stray_senders`).

* **group chatter**: the flows called DoS or DDoS that a host sends to a multicast or broadcast
  address (224.0.0.0/4, 255.255.255.255, ff00::/8; packets from the flow's source, on a group
  MAC where the frame has one) at fewer than :data:`MAX_GROUP_RATE` packets
  per second over their span (1 s at least) are discovery and announcement traffic (mDNS, SSDP,
  LLMNR, NetBIOS): a group address is no host to flood, and a storm that floods the segment is
  far faster.  Found on a generated capture of a LAN's devices resolving names (2026-11-29 late):
  50 devices' mDNS and SSDP queries, every device's 1-6 per minute, made 33 "DDoS/UDP"
  incidents, each device the attacker of 224.0.0.251 and 239.255.255.250.

* **polling**: the flows called DoS or DDoS from one host to another's web, MQTT or CoAP port
  (:data:`POLL_PORTS`; ARP aside) that span
  :data:`MIN_POLL_SPAN_S` or more at fewer than :data:`MAX_POLL_FLOWS_PER_S` flows and
  :data:`MAX_POLL_PACKETS_PER_S` packets per second on average are a device polling a service
  (a new connection per request every second or so, for minutes), not a flood.  Found on a
  generated capture of IoT devices polling a cloud HTTP API (2026-11-29 late): 3-10 devices, one
  connection every 0.5-5 s for 5-10 minutes, each device a DDoS/HTTP attacker at confidence 1.0.
  The lab's slowest flood pair (runs 68-75) sent 7.8 flows and 183 packets per second, and no
  lab flood lasts 30 s.  Login services are left out: many slow connections to SSH or FTP are
  password guessing (the corpus's ``ssh/sshguess`` and ``ftp/bruteforce``, called DoS by the
  model), not in BoT-IoT's categories but a lead all the same.

Such flows become **Normal**, keeping the model's confidence (as the other steps do), with an
evidence string that says why; nothing is turned into an attack here.

Measured before choosing the thresholds (2026-11-29; ``--flows`` of ``forensics scan`` with
1.3.0): on the held-out lab runs 64-65 (24 captures) the smallest victim total of the flows called
DoS or DDoS is 230 packets (``dos_tcp/run64``; the lab's floods are short and bounded in packets,
real ones larger), and the shortest host pair of the flows called Keylogging spans 4.7 s (the
lab's keyloggers stream for most of the scenario), so neither rule changes a lab flow; on runs
64-67 (48 captures) the smallest scanner reaches 250 targets, and the one attacker of flows called
Reconnaissance under 3 targets is a DDoS bot's flow the model got wrong (truth DDoS).  The corpus's
one real scan, ``zeek/traces/nmap-vsn.pcap``, has 7 flows called Service_Scan reaching 5 targets:
they stand. A flood
cut short by the capture's own start or end (fewer than 50 of its packets inside), or keylogging
of which the capture holds less than a second, is missed; the evidence of each flow turned says
why, and the scan warns per capture with the count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MIN_FLOOD_PACKETS = 50  # fewer packets of flood to one victim in a whole capture: no flood
MIN_KEYLOG_SECONDS = 1.0  # keylogging flows between two hosts spanning less: no keylogging
MIN_SCAN_TARGETS = 3  # fewer distinct (victim address, port) targets of one attacker's scan flows: no scan
MIN_SENDER_PACKETS = 10  # fewer packets of flood flows from a host with an address of its own, beside a flood: no flooder
MAX_GROUP_RATE = 20.0  # fewer packets per second of flood flows from one host to a group address: discovery traffic
MIN_POLL_SPAN_S = 30.0  # flood flows from one host to another's API port spanning this long or longer ...
MAX_POLL_FLOWS_PER_S = 3.0  # ... at fewer flows per second ...
MAX_POLL_PACKETS_PER_S = 40.0  # ... and fewer packets per second than these: polling
# the ports devices poll (web APIs, MQTT, CoAP); many slow connections to a login service (SSH, FTP,
# Telnet...) are password guessing, which keeps its verdict (corpus: zeek ssh/sshguess, ftp/bruteforce)
POLL_PORTS = ("80", "443", "8080", "8443", "8000", "8008", "8888", "1883", "8883", "5683", "5684")
FLOOD_EVIDENCE = ("called {cat} by the model, but its victim {victim} got only {n} packet(s) of such flows in this "
                  f"capture, and a flood has {MIN_FLOOD_PACKETS} or more: Normal")
KEYLOG_EVIDENCE = ("called Theft/Keylogging by the model, but such flows between {a} and {b} span only {s:.3g} s in "
                   f"this capture, and keystrokes take {MIN_KEYLOG_SECONDS:g} s or more: Normal")
SCAN_EVIDENCE = ("called Reconnaissance by the model, but {attacker} reached only {n} target(s) (address and port) "
                 f"with such flows in this capture, and a scan probes {MIN_SCAN_TARGETS} or more: Normal")
STRAY_EVIDENCE = ("called {cat} by the model, but {attacker} sent only {n} packet(s) of such flows in this capture, "
                  "while {top} flooded {victim} with {m}: a client of the flooded host, not one of its flooders: Normal")
GROUP_EVIDENCE = ("called {cat} by the model, but {sender} sent {n} packet(s) of such flows to the group address "
                  "{group} over {span:.3g} s ({rate:.2g} per second): discovery or announcement traffic, not a flood: "
                  "Normal")
_GROUP_MARK = GROUP_EVIDENCE.split("{group}")[0].split("{n}")[1]  # " packet(s) of such flows to the group address "
POLL_EVIDENCE = ("called {cat} by the model, but {a} sent {n} such flows to {b} over {span:.0f} s ({fps:.2g} flows, "
                 "{pps:.2g} packets per second): polling, not a flood: Normal")
_POLL_MARK = POLL_EVIDENCE.split("{span")[0].split("{b}")[1]  # " over "
_POLL_MARK2 = POLL_EVIDENCE.split("{pps:.2g}")[1].split("{")[0]  # " packets per second): polling, not a flood: Normal"
_FLOOD_MARK = FLOOD_EVIDENCE.split("{cat}")[1].split("{victim}")[0]  # " by the model, but its victim "
_STRAY_MARK = STRAY_EVIDENCE.split("{n}")[1].split("{top}")[0]  # " packet(s) of such flows in this capture, while "
_KEYLOG_MARK = KEYLOG_EVIDENCE.split("{a}")[0]
_SCAN_MARK = SCAN_EVIDENCE.split("{attacker}")[0]


def kinds(evidence) -> np.ndarray:
    """Per evidence string: 1 for a flood this step turned Normal, 2 for keylogging, 3 for a scan,
    4 for a stray sender beside a flood, 5 for group chatter, 6 for polling, 0 otherwise (how a scan counts them
    afterwards)."""
    text = pd.Series(np.asarray(evidence, dtype=object)).astype(str)
    called = text.str.startswith("called ")
    flood = called & text.str.contains(_FLOOD_MARK, regex=False)
    stray = called & text.str.contains(_STRAY_MARK, regex=False)
    group = called & text.str.contains(_GROUP_MARK, regex=False)
    poll = called & text.str.endswith(_POLL_MARK2)
    return np.select([flood.to_numpy(), text.str.startswith(_KEYLOG_MARK).to_numpy(),
                      text.str.startswith(_SCAN_MARK).to_numpy(), stray.to_numpy(), group.to_numpy(), poll.to_numpy()],
                     [1, 2, 3, 4, 5, 6], 0)


def count_evidence(evidence, hit) -> int:
    """How many rows of an evidence column (strings, or a categorical as a scan keeps it: its few
    categories are read, not every row) ``hit`` accepts (``hit``: str Series -> bool array)."""
    ev = evidence if isinstance(evidence, pd.Series) else pd.Series(np.asarray(evidence, dtype=object))
    if isinstance(ev.dtype, pd.CategoricalDtype):
        mask = np.append(np.asarray(hit(pd.Series(ev.cat.categories.astype(str))), dtype=bool), False)
        return int(mask[ev.cat.codes.to_numpy()].sum())  # (code -1: missing)
    return int(np.asarray(hit(ev.astype(str)), dtype=bool).sum())


def flood_pair_counts(flows: pd.DataFrame, flood: np.ndarray) -> np.ndarray:
    """Per flow: how many flows of the mask ``flood`` join its two hosts (either direction); 0
    outside the mask.  (Integer codes of the addresses, not their text: 10^5-10^6 flows.)"""
    from forensics.attribution import _codes

    out = np.zeros(len(flows), dtype=np.int64)
    rows = np.flatnonzero(flood)
    if not len(rows):
        return out
    (s_c, d_c), names = _codes(flows["saddr"].iloc[rows], flows["daddr"].iloc[rows])
    code, _ = pd.factorize(np.minimum(s_c, d_c) * len(names) + np.maximum(s_c, d_c))
    out[rows] = np.bincount(code)[code]
    return out


def counts(evidence: pd.Series) -> tuple[int, int, int, int, int, int]:
    """``(floods, keylogging, scans, stray senders, group chatter, polling)``: how many flows of an evidence column
    (strings, or a categorical as a scan keeps it: its few categories are read, not every row) this step
    turned Normal."""
    if isinstance(evidence.dtype, pd.CategoricalDtype):
        kind = np.append(kinds(evidence.cat.categories), 0)[evidence.cat.codes.to_numpy()]  # (code -1: missing)
    else:
        kind = kinds(evidence)
    return tuple(int((kind == k).sum()) for k in (1, 2, 3, 4, 5, 6))


def _not_arp(flows: pd.DataFrame):
    return flows["proto"].astype(str).to_numpy() != "arp" if "proto" in flows.columns else True


def flood_rows(flows: pd.DataFrame, cat: np.ndarray) -> np.ndarray:
    """Positions of the flows called DoS or DDoS (``cat``: per-flow category names), ARP flows aside:
    what the too-little and sweep rules judge."""
    return np.flatnonzero(((cat == "DoS") | (cat == "DDoS")) & _not_arp(flows))


def flood_packets(flows: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """``pkts`` of flows ``rows`` as floats, missing values 0 (weights for bincount)."""
    return np.nan_to_num(flows["pkts"].to_numpy(dtype=np.float64, na_value=0.0)[rows])


def small_floods(flows: pd.DataFrame, cat: np.ndarray, blame) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, evidence)``: the flows called DoS or DDoS (``cat``: per-flow category names) whose
    victim gets fewer than :data:`MIN_FLOOD_PACKETS` packets of such flows in the capture.
    ``blame``: the capture's :class:`forensics.attribution.FloodBlame`."""
    flood = flood_rows(flows, cat)
    if not len(flood) or "pkts" not in flows.columns:
        return np.zeros(0, np.int64), np.zeros(0, object)
    victim = blame.victims(cat, flood)
    pkts = flood_packets(flows, flood)
    code, _ = pd.factorize(victim)
    total = np.bincount(code, weights=pkts)[code]
    small = total < MIN_FLOOD_PACKETS
    rows = flood[small]
    evidence = np.array([FLOOD_EVIDENCE.format(cat=c, victim=v, n=int(n))
                         for c, v, n in zip(cat[rows], victim[small], total[small])], dtype=object)
    return rows, evidence


def stray_senders(flows: pd.DataFrame, cat: np.ndarray, blame) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, evidence)``: the flows called DoS or DDoS of an attacker that sends fewer than
    :data:`MIN_SENDER_PACKETS` packets of such flows in the whole capture, to a victim that another
    attacker floods with :data:`MIN_FLOOD_PACKETS` or more, when that attacker is a host with an
    address of its own (bound to its MAC in the capture: not a forged source).  Found on blind lab
    run ``ddos_udp/run69``: a camera's one DNS query to the flooded DNS server, called DDoS, made
    the camera a one-packet "DDoS attacker" beside the two bots (4,809 flows each)."""
    flood = flood_rows(flows, cat)
    if not len(flood) or "pkts" not in flows.columns:
        return np.zeros(0, np.int64), np.zeros(0, object)
    victim = blame.victims(cat, flood)
    attacker = blame.attackers(cat, flood)
    pkts = flood_packets(flows, flood)
    a_code, a_names = pd.factorize(attacker)
    v_code, _ = pd.factorize(victim)
    a_total = np.bincount(a_code, weights=pkts)
    few = a_total[a_code] < MIN_SENDER_PACKETS
    if not few.any():
        return np.zeros(0, np.int64), np.zeros(0, object)
    # per victim: its top attacker and what that one sent it
    n_v = v_code.max() + 1
    pair, inv = np.unique(v_code.astype(np.int64) * len(a_names) + a_code, return_inverse=True)
    pair_pkts = np.bincount(inv, weights=pkts)
    # per victim, the largest sender first (equals: the lowest address as text, whatever the row order)
    rank = np.argsort(np.argsort(np.asarray(a_names, dtype=object).astype(str), kind="stable"), kind="stable")
    order = np.lexsort((rank[pair % len(a_names)], -pair_pkts, pair // len(a_names)))
    first = order[np.unique(pair[order] // len(a_names), return_index=True)[1]]
    top_who = np.full(n_v, -1, dtype=np.int64)
    top_pkts = np.zeros(n_v)
    top_who[pair[first] // len(a_names)] = pair[first] % len(a_names)
    top_pkts[pair[first] // len(a_names)] = pair_pkts[first]
    from forensics.attribution import lookups

    hosts, _ = lookups(flows, cat, blame.hosts, blame.services)
    own = np.isin(np.asarray(attacker, dtype=object), pd.unique(hosts["host"].astype(str))) if len(hosts) else \
        np.zeros(len(flood), bool)
    stray = few & own & (top_pkts[v_code] >= MIN_FLOOD_PACKETS) & (top_who[v_code] != a_code)
    if not stray.any():
        return np.zeros(0, np.int64), np.zeros(0, object)
    k = np.flatnonzero(stray)
    evidence = np.array([STRAY_EVIDENCE.format(cat=cat[flood[i]], attacker=attacker[i], n=int(a_total[a_code[i]]),
                                               top=a_names[top_who[v_code[i]]], victim=victim[i],
                                               m=int(top_pkts[v_code[i]])) for i in k], dtype=object)
    return flood[k], evidence


def _group_address(names: np.ndarray) -> np.ndarray:
    """Per address string: multicast (224.0.0.0/4, ff00::/8) or the IPv4 limited broadcast?"""
    text = np.asarray(names, dtype=object).astype(str)
    first = np.array([int(a.split(".", 1)[0]) if a[:1].isdigit() and "." in a else -1 for a in text])
    return ((first >= 224) & (first <= 239)) | (text == "255.255.255.255") | np.char.startswith(np.char.lower(
        text.astype(str)), "ff")


def _group_mac(names: np.ndarray) -> np.ndarray:
    """Per MAC string as Argus prints it: a group MAC (``Broadcast``, or the group bit set), or none
    (``""``: no Ethernet header)?"""
    out = np.zeros(len(names), dtype=bool)
    for i, m in enumerate(np.asarray(names, dtype=object).astype(str)):
        if m in ("", "Broadcast", "nan", "None"):
            out[i] = True
            continue
        try:
            out[i] = bool(int(m[:2], 16) & 1)
        except ValueError:
            out[i] = False
    return out


def group_chatter(flows: pd.DataFrame, cat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, evidence)``: the flows called DoS or DDoS (``cat``: per-flow category names) that a
    host sends to a group address at fewer than :data:`MAX_GROUP_RATE` packets per second over
    their span."""
    flood = flood_rows(flows, cat)
    if not len(flood) or not {"saddr", "daddr", "pkts", "stime", "ltime"} <= set(flows.columns):
        return np.zeros(0, np.int64), np.zeros(0, object)
    # (the few distinct destinations are judged, not every flow's: a scan's flows run to 10^5-10^6)
    code_d, names_d = pd.factorize(flows["daddr"], use_na_sentinel=False)
    group = _group_address(np.asarray(names_d, dtype=object).astype(str))[code_d[flood]]
    if not group.any():
        return np.zeros(0, np.int64), np.zeros(0, object)
    # sent to the group: packets from the flow's source, on a group MAC where the frame has one (a
    # random-source flood draws multicast sources too: Argus may orient a flow of such a packet
    # from its victim to the forged "group", with no packet that way, on the bot's own MAC)
    if "spkts" in flows.columns:
        group &= flows["spkts"].to_numpy(dtype=np.float64, na_value=0.0)[flood] > 0
    if "dmac" in flows.columns:
        code_m, macs = pd.factorize(flows["dmac"], use_na_sentinel=False)
        group &= _group_mac(np.asarray(macs, dtype=object).astype(str))[code_m[flood]]
    if not group.any():
        return np.zeros(0, np.int64), np.zeros(0, object)
    rows = flood[group]
    src = flows["saddr"].iloc[rows].astype(str).to_numpy(dtype=object)
    dst = flows["daddr"].iloc[rows].astype(str).to_numpy(dtype=object)
    pkts = flood_packets(flows, rows)
    t0 = flows["stime"].to_numpy(dtype=np.float64, na_value=np.nan)[rows]
    t1 = np.fmax(flows["ltime"].to_numpy(dtype=np.float64, na_value=np.nan)[rows], t0)
    code, _ = pd.factorize(pd.MultiIndex.from_arrays([src, dst]))
    n = code.max() + 1
    total = np.bincount(code, weights=pkts, minlength=n)
    first = np.full(n, np.inf)
    last = np.full(n, -np.inf)
    np.fmin.at(first, code, t0)
    np.fmax.at(last, code, t1)
    span = np.where(np.isfinite(last - first), last - first, 0.0)
    rate = total / np.maximum(span, 1.0)
    low = rate[code] < MAX_GROUP_RATE
    if not low.any():
        return np.zeros(0, np.int64), np.zeros(0, object)
    evidence = np.array([GROUP_EVIDENCE.format(cat=cat[r], sender=a, n=int(total[c]), group=g, span=span[c],
                                               rate=rate[c])
                         for r, a, g, c in zip(rows[low], src[low], dst[low], code[low])], dtype=object)
    return rows[low], evidence


def polling(flows: pd.DataFrame, cat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, evidence)``: the flows called DoS or DDoS (``cat``) from one host to another that
    span :data:`MIN_POLL_SPAN_S` or more at fewer than :data:`MAX_POLL_FLOWS_PER_S` flows and
    :data:`MAX_POLL_PACKETS_PER_S` packets per second."""
    flood = flood_rows(flows, cat)
    if not len(flood) or not {"saddr", "daddr", "dport", "pkts", "stime", "ltime"} <= set(flows.columns):
        return np.zeros(0, np.int64), np.zeros(0, object)
    flood = flood[flows["dport"].iloc[flood].astype(str).isin(POLL_PORTS).to_numpy(dtype=bool)]
    if not len(flood):
        return np.zeros(0, np.int64), np.zeros(0, object)
    from forensics.attribution import _codes

    (s_c, d_c), names = _codes(flows["saddr"].iloc[flood], flows["daddr"].iloc[flood])
    code, _ = pd.factorize(s_c * len(names) + d_c)
    n = code.max() + 1
    t0 = flows["stime"].to_numpy(dtype=np.float64, na_value=np.nan)[flood]
    t1 = np.fmax(flows["ltime"].to_numpy(dtype=np.float64, na_value=np.nan)[flood], t0)
    first = np.full(n, np.inf)
    last = np.full(n, -np.inf)
    np.fmin.at(first, code, t0)
    np.fmax.at(last, code, t1)
    span = np.where(np.isfinite(last - first), last - first, 0.0)
    n_flows = np.bincount(code, minlength=n)
    pkts = np.bincount(code, weights=flood_packets(flows, flood), minlength=n)
    fps, pps = n_flows / np.maximum(span, 1.0), pkts / np.maximum(span, 1.0)
    slow = (span >= MIN_POLL_SPAN_S) & (fps < MAX_POLL_FLOWS_PER_S) & (pps < MAX_POLL_PACKETS_PER_S)
    hit = slow[code]
    if not hit.any():
        return np.zeros(0, np.int64), np.zeros(0, object)
    rows = flood[hit]
    evidence = np.array([POLL_EVIDENCE.format(cat=cat[r], a=names[s_c[i]], b=names[d_c[i]], n=int(n_flows[c]),
                                              span=span[c], fps=fps[c], pps=pps[c])
                         for r, i, c in zip(rows, np.flatnonzero(hit), code[hit])], dtype=object)
    return rows, evidence


def brief_keylogging(flows: pd.DataFrame, sub: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, evidence)``: the flows called Keylogging (``sub``: per-flow subcategory names)
    whose two hosts exchange such flows over less than :data:`MIN_KEYLOG_SECONDS` in the capture."""
    keys = np.flatnonzero((sub == "Keylogging") & _not_arp(flows))
    if not len(keys) or "stime" not in flows.columns or "ltime" not in flows.columns:
        return np.zeros(0, np.int64), np.zeros(0, object)
    a = flows["saddr"].astype(str).to_numpy()[keys]
    b = flows["daddr"].astype(str).to_numpy()[keys]
    lo, hi = np.where(a <= b, a, b), np.where(a <= b, b, a)
    code, _ = pd.factorize(pd.MultiIndex.from_arrays([lo, hi]))
    t0 = flows["stime"].to_numpy(dtype=np.float64, na_value=np.nan)[keys]
    t1 = np.fmax(flows["ltime"].to_numpy(dtype=np.float64, na_value=np.nan)[keys], t0)
    n = code.max() + 1
    first = np.full(n, np.inf)
    last = np.full(n, -np.inf)
    np.fmin.at(first, code, t0)
    np.fmax.at(last, code, t1)
    span = (last - first)[code]
    brief = np.isfinite(span) & (span < MIN_KEYLOG_SECONDS)  # (no times: no span to judge, nothing turned)
    rows = keys[brief]
    evidence = np.array([KEYLOG_EVIDENCE.format(a=x, b=y, s=s) for x, y, s in zip(a[brief], b[brief], span[brief])],
                        dtype=object)
    return rows, evidence


def lone_probes(flows: pd.DataFrame, cat: np.ndarray, hosts=None, services=None) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, evidence)``: the flows called Reconnaissance (``cat``: per-flow category names)
    whose attacker reaches fewer than :data:`MIN_SCAN_TARGETS` distinct targets with such flows in
    the capture.  ``hosts``/``services``: the capture's look-ups when already computed."""
    from forensics.attribution import blame_frame, labeled, lookups

    rec = np.flatnonzero((cat == "Reconnaissance") & _not_arp(flows))
    if not len(rec):
        return np.zeros(0, np.int64), np.zeros(0, object)
    hosts, services = lookups(flows, cat, hosts, services)
    attacker, victim = blame_frame(labeled(flows, cat).iloc[rec], hosts=hosts, services=services)
    attacker = np.asarray(attacker, dtype=object).astype(str)
    victim = np.asarray(victim, dtype=object).astype(str)
    # the port probed: the victim's end of the flow
    to_dst = victim == flows["daddr"].astype(str).to_numpy()[rec]
    port = np.where(to_dst, flows["dport"].astype(str).to_numpy()[rec], flows["sport"].astype(str).to_numpy()[rec])
    a_code, _ = pd.factorize(attacker)
    pair, _ = pd.factorize(pd.MultiIndex.from_arrays([a_code, victim, port.astype(str)]))
    first = np.unique(pair, return_index=True)[1]  # one row per distinct (attacker, target)
    targets = np.bincount(a_code[first], minlength=a_code.max() + 1)[a_code]
    few = targets < MIN_SCAN_TARGETS
    rows = rec[few]
    evidence = np.array([SCAN_EVIDENCE.format(attacker=a, n=int(n)) for a, n in zip(attacker[few], targets[few])],
                        dtype=object)
    return rows, evidence


def refine(flows: pd.DataFrame, p_cat: np.ndarray, p_sub: np.ndarray, categories, subcategories,
           allowed: np.ndarray, blame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(p_cat', p_sub', rows, evidence)``: per-flow probabilities with the flows of
    :func:`small_floods`, :func:`brief_keylogging` and :func:`lone_probes` turned Normal (the flow keeps the model's
    confidence, as in :func:`forensics.arp.refine`)."""
    from forensics.arp import swap_in, top_names

    if not len(p_cat):
        return p_cat, p_sub, np.zeros(0, np.int64), np.zeros(0, object)
    cat, sub = top_names(p_cat, p_sub, categories, subcategories, allowed)
    f_rows, f_evidence = small_floods(flows, cat, blame)
    t_rows, t_evidence = stray_senders(flows, cat, blame)  # (victims of small floods have no top sender of 50)
    k_rows, k_evidence = brief_keylogging(flows, np.where(cat == "Theft", sub, ""))
    s_rows, s_evidence = lone_probes(flows, cat, blame.hosts, blame.services)
    g_rows, g_evidence = group_chatter(flows, cat)
    # (one reason per flow: a small flood of a group address is said once, as a small flood)
    g_keep = ~np.isin(g_rows, np.concatenate([f_rows, t_rows]))
    g_rows, g_evidence = g_rows[g_keep], g_evidence[g_keep]
    p_rows, p_evidence = polling(flows, cat)
    p_keep = ~np.isin(p_rows, np.concatenate([f_rows, t_rows, g_rows]))
    p_rows, p_evidence = p_rows[p_keep], p_evidence[p_keep]
    rows = np.concatenate([f_rows, t_rows, k_rows, s_rows, g_rows, p_rows]).astype(np.int64)
    evidence = np.concatenate([f_evidence, t_evidence, k_evidence, s_evidence, g_evidence, p_evidence]).astype(object)
    if not len(rows):
        return p_cat, p_sub, rows, evidence
    normal = np.full(len(rows), "Normal", dtype=object)
    p_cat, p_sub = swap_in(p_cat, p_sub, rows, normal, normal, categories, subcategories, allowed)
    return p_cat, p_sub, rows, evidence
