"""Who attacked whom: the one blame rule behind incidents and per-host verdicts.

Used by the report (``forensics.report.model``: incidents and host roles) and by
the detector's per-host evaluation (``forensics.train.host_verdicts``), so that
what the model card measures is what a responder is shown.

For each attack flow (the detector's verdict, not the truth):

1. **Initial blame.** Theft is blamed on the flow's destination (stolen data
   flows *to* the attacker); DDoS, DoS and Reconnaissance on its source (the
   initiator).
2. **Senders only.** A DDoS/DoS/Reconnaissance flow whose source sent no packet
   while its destination did is blamed on the destination.  Flows built with a
   first SYN-ACK's *receiver* in the source slot (Argus, once the connection goes on;
   this code for every SYN-ACK-first flow before 2026-11-27, see ``forensics.flows``)
   give every flow of an unanswered spoofed SYN-ACK flood the victim as source with
   ``spkts == 0`` (measured then on ``lab-out/ddos_tcp/run11``: 15,000 such flows,
   which made the victim the biggest "attacker").
   Likewise a DDoS/DoS TCP flow whose *source* port is a service port (below
   1024 or a named TCP service, the list Argus orients mid-stream flows by), whose
   destination port is not, and whose source endpoint (address, port) is shared by
   more flood flows than its destination endpoint: the source is the flooded server,
   i.e. a flow turned round because its first packet was a SYN-ACK to that server (or a
   mid-stream packet from a named port, as Argus orients them).  Measured on flows built
   before 2026-11-27, ``lab-out/ddos_tcp/run23``: a SYN-ACK flood on ``cam:80``
   whose victim answered every SYN-ACK with a RST (7,400 flows ``cam:80 ->
   bot:<incrementing>``, state RST, one packet each way) made the victim the only
   "attacker".  The endpoint condition keeps a flood's own flows with it when the
   bots' incrementing source ports happen to be named services (measured on
   ``lab-out/ddos_tcp/run24``: 146 FIN/PSH/URG flood flows ``bot:3050 -> broker:1883``
   etc. were blamed on the broker, which then took a small bot's flows too).
   A port counts as a service port too where the capture shows it serving: the
   destination of a two-way TCP flow called Normal (:func:`listening_services`;
   ``lab-out/dos_tcp/run36``: a SYN-ACK flood on ``broker:1883``, MQTT, not in the named
   list, answered by RSTs, made the broker the attacker and its attacker Normal).
3. **Forged sources traced through the MAC.** A DDoS/DoS flow whose blamed end (after
   steps 1-2) carries an address *not* bound to that end's MAC (``smac``/``dmac``, the
   MACs of the flow's first frame, as ``argus -m`` prints them), while that MAC is bound
   to exactly one host address of the same family, is blamed on that host: every forged
   frame still carries its sender's Ethernet source address.  The binding
   (:func:`mac_hosts`) is built per capture from the flows that can vouch for one: ARP
   flows (sender address and frame source MAC, whatever the model says of them), and
   two-way flows (packets both ways) the detector calls Normal, each end (address, MAC) a
   claim, where that address shows exactly one MAC among them (a one-way flow proves nothing:
   a forged-source flood flow the model calls Normal would otherwise unbind its bot's MAC).  A MAC is bound to a host when all its claims name one
   address (0.0.0.0/::, broadcast and multicast MACs never bind).  So a router or gateway,
   whose MAC fronts many addresses in normal traffic, binds to nothing and traffic through
   it keeps its addresses; a host with several MACs gets each bound to it; attack flows
   never vouch (a bot's forged claims would otherwise unbind it); a capture without MACs
   (raw IP, SLL, BoT-IoT CSVs) is left as steps 1-2 and 4 blame it.  Measured on
   ``lab-out/ddos_tcp/run25`` and ``ddos_udp/run25``: the bots flooded only with forged
   sources (``10.77.0.128/26`` and random addresses), so each bot's address appeared
   in just 2 ARP flows and the per-host evaluation called all 6 bots Normal; their flood
   frames carried the bots' MACs, which their ARP flows bound to their addresses.  With
   this step, ``forensics evaluate --all-runs`` over runs 0-25 of every scenario (bundled
   model ``0ff5dedf``, 312 captures): 271 -> 300 captures with every host right, 78 -> 14
   wrong host verdicts, none new, normal hosts called attackers 3 -> 1; run25 8/12 -> 10/12.
   Not covered: a gateway that only forwards attack traffic in the capture while its own
   address shows up in ARP (no normal traffic through it to show it fronts others) would
   take the blame for what it forwards.
3b. **Many sources behind one unbound MAC.** Flood flows not traced by step 3 whose blamed
   end's MAC (unicast) carries the flood of :data:`MIN_SOURCES_BEHIND_MAC` (64) or more distinct
   addresses are blamed on the MAC itself (``02:00:00:00:00:09``): a host flooding with random
   forged sources that never uses its own address in the capture (nothing binds its MAC), or a
   router forwarding a flood from many hosts.  Found 2026-11-29 with a 200,000-packet SYN flood
   of random sources from one such MAC: each forged address was an attacker of its own (199,994
   incidents, a 472 MB report, a 9.5-minute scan).  The lab's bots use their own addresses in
   ARP, so step 3 traces them and this step changes nothing there (runs 64-67 scored identically).
4. **Replies belong to the attacker.** A flow whose other end has more flows
   blamed on it (after steps 1-3; ARP flows not counted, step 5 blames them) is re-blamed on
   that end: a victim's replies or backscatter that the model also flags go to its attacker.
   A flow called Reconnaissance counts per pair of ends: it goes to its other end only when that
   end has more attack flows blamed on it against this flow's end than the reverse (many scanners
   of one host keep their probes, however many scan flows the host has elsewhere).
5. **ARP flows go to the attack's attacker.** An ARP flow called an attack is blamed on
   the end the other flows of its category blame, else on the attacker the other flows blame
   for the end's own address (a victim resolving a forged source: :func:`_arp_to_attacker`).

Without ``spkts``/``dpkts`` (``proto``/``sport``/``dport``) columns the matching part of
step 2 is skipped; without ``smac``/``dmac`` (or a binding) step 3.  Not covered: a SYN-ACK
flood on a non-service port whose victim answers (nothing in the BoT-IoT columns tells it
from a scan answered by RSTs).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


# what the blame look-ups read of a flow (mac_hosts, listening_services, bound_hosts, blame_frame)
BLAME_COLUMNS = ("capture", "saddr", "daddr", "sport", "dport", "proto", "spkts", "dpkts", "smac", "dmac")


def labeled(flows: pd.DataFrame, category, column: str = "pred_category") -> pd.DataFrame:
    """The :data:`BLAME_COLUMNS` of ``flows`` with ``column`` set to ``category`` (per-flow
    names): what the look-ups need, without copying every column of the flow table (0.1-0.4 s at
    463k flows, and as much again for each ``iloc`` of it)."""
    return flows[[c for c in BLAME_COLUMNS if c in flows.columns]].assign(**{column: category})


def _codes(*columns) -> tuple[list[np.ndarray], np.ndarray]:
    """One factorisation over several aligned columns: (codes per column, uniques as str).

    Equal values get equal codes across the columns; values are compared as strings,
    as the report prints them (missing values become ``"nan"``/``"None"``).  Each column is
    factorised on its own storage (Arrow strings stay Arrow), then only the few distinct
    values are joined."""
    parts = []
    for c in columns:
        col = c if isinstance(c, (pd.Series, pd.Index)) else np.asarray(c, dtype=object)
        if isinstance(col.dtype, pd.CategoricalDtype):
            # a categorical's codes already factorise it (a hash pass over every row costs
            # ~10 ms per 500k); unused categories only add names, missing values get "nan"
            codes = np.asarray(col.cat.codes if isinstance(col, pd.Series) else col.codes, dtype=np.int64)
            names = [str(u) for u in col.cat.categories] if isinstance(col, pd.Series) else [str(u) for u in col.categories]
            if (codes < 0).any():
                codes = np.where(codes < 0, len(names), codes)
                names.append("nan")
            parts.append((codes, names))
            continue
        codes, uniq = pd.factorize(col, use_na_sentinel=False)
        # (values read as one numpy array: iterating an Arrow-backed Index costs 2 us a value)
        parts.append((np.asarray(codes, dtype=np.int64), [str(u) for u in np.asarray(uniq, dtype=object)]))
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


def _unicast_macs(names: np.ndarray) -> np.ndarray:
    """Per distinct rendered MAC: True for a unicast MAC (not empty, ``Broadcast`` or multicast)."""
    ok = np.zeros(len(names), dtype=bool)
    for i, m in enumerate(names):
        try:
            ok[i] = len(m) == 17 and not int(m[:2], 16) & 1
        except ValueError:
            pass
    return ok


def _binds(names: np.ndarray) -> np.ndarray:
    """Per distinct address string: can it be bound (not empty, 0.0.0.0, ::, nor a loopback
    address)?  A loopback address is never a host's on a wire, but it shows up in ARP: hping3
    ``--rand-source`` draws sources from 127.0.0.0/8 too, Linux counts the whole block as its own,
    and so asks ARP for the victim with the forged 127.x sender (blind lab run ``ddos_tcp/run71``:
    that claim beside the bot's own left its MAC bound to no host, and its 3,750 flood flows were
    blamed on the MAC instead of the bot)."""
    text = np.asarray(names, dtype=object).astype(str)
    return ~(np.isin(text, ("", "0.0.0.0", "::", "::1", "nan", "None")) | np.char.startswith(text, "127."))


def mac_hosts(flows: pd.DataFrame, category_column: str = "pred_category") -> pd.DataFrame:
    """The MAC -> host binding of step 3: one row per (capture, family, mac) bound to exactly one
    address (columns ``capture`` (``""`` without a capture column), ``family`` (4 or 6), ``mac``,
    ``host``).  Built from ARP flows and the flows ``category_column`` calls Normal (all flows
    when it is absent; with ``spkts``/``dpkts``, only those with packets both ways); empty without
    ``smac``/``dmac``."""
    cols = ["capture", "family", "mac", "host"]
    if not len(flows) or "smac" not in flows.columns or "dmac" not in flows.columns:
        return pd.DataFrame(columns=cols)
    n = len(flows)
    arp = (flows["proto"].astype(str).to_numpy() == "arp") if "proto" in flows.columns else np.zeros(n, bool)
    normal = (flows[category_column].astype(str).to_numpy() == "Normal") if category_column in flows.columns \
        else np.ones(n, bool)
    if "spkts" in flows.columns and "dpkts" in flows.columns:
        # only a two-way conversation shows an address reachable at a MAC: a forged-source flood
        # flow the model calls Normal is one-way (measured on lab-out/mixed/run27: one such UDP flow
        # from a random address with atk3's MAC, called Normal, made that MAC look like a router's
        # and left 947 + 18 forged flows untraced)
        normal &= (flows["spkts"].to_numpy(dtype=np.int64) > 0) & (flows["dpkts"].to_numpy(dtype=np.int64) > 0)
    rows = np.flatnonzero(arp | normal)
    group = flows["capture"].astype(str).to_numpy()[rows] if "capture" in flows.columns else np.full(len(rows), "")
    (s_a, d_a), addrs = _codes(flows["saddr"].iloc[rows], flows["daddr"].iloc[rows])
    (s_m, d_m), macs = _codes(flows["smac"].iloc[rows], flows["dmac"].iloc[rows])
    uni, bindable = _unicast_macs(macs), _binds(addrs)
    is_arp = arp[rows]
    claims = pd.DataFrame({
        "capture": np.concatenate([group, group]),
        "a": np.concatenate([s_a, d_a]), "m": np.concatenate([s_m, d_m]),
        # an ARP flow's sender (address and frame source MAC) is an ARP claim; its target end,
        # where the request went unicast or a reply was seen alone, an ordinary one
        "arp": np.concatenate([is_arp, np.zeros(len(rows), bool)]),
    })
    claims = claims[uni[claims["m"].to_numpy()] & bindable[claims["a"].to_numpy()]]
    claims = claims.drop_duplicates(["capture", "a", "m", "arp"])
    # ordinary flows vouch only for an address that shows exactly one MAC in them; ARP always does
    ordinary = claims[~claims["arp"].to_numpy()]
    n_macs = ordinary.groupby(["capture", "a"])["m"].transform("nunique").to_numpy()
    claims = pd.concat([claims[claims["arp"].to_numpy()], ordinary[n_macs == 1]]).drop_duplicates(["capture", "a", "m"])
    if not len(claims):
        return pd.DataFrame(columns=cols)
    fam = np.where(np.char.find(addrs.astype(str), ":") >= 0, 6, 4)
    claims["family"] = fam[claims["a"].to_numpy()]
    n_hosts = claims.groupby(["capture", "family", "m"])["a"].transform("nunique").to_numpy()
    one = claims[n_hosts == 1]
    return pd.DataFrame({"capture": one["capture"].to_numpy(), "family": one["family"].to_numpy(),
                         "mac": macs[one["m"].to_numpy()], "host": addrs[one["a"].to_numpy()]})[cols] \
        .reset_index(drop=True)


def bound_hosts(hosts: pd.DataFrame, addr, mac, capture=None) -> np.ndarray:
    """For each (address, MAC[, capture]): the host ``mac`` is bound to in ``hosts``
    (:func:`mac_hosts`) for the address's family, ``""`` when none."""
    n = len(addr)
    out = np.full(n, "", dtype=object)
    if hosts is None or not len(hosts) or not n:
        return out
    table = {(c, int(f), m): h for c, f, m, h in hosts[["capture", "family", "mac", "host"]].itertuples(index=False)}

    if capture is None or not (hosts["capture"] != "").any():
        c_c, c_u = np.zeros(n, dtype=np.int64), np.array([""], dtype=object)
    else:
        (c_c,), c_u = _codes(capture)
    ((a_c,), a_u), ((m_c,), m_u) = _codes(addr), _codes(mac)
    fam = np.where(np.char.find(a_u.astype(str), ":") >= 0, 6, 4)
    codes, uniq = pd.factorize((c_c * len(a_u) + a_c) * len(m_u) + m_c)
    uniq = np.asarray(uniq, dtype=np.int64)
    m_i, rest = uniq % len(m_u), uniq // len(m_u)
    found = np.array([table.get((c_u[c], int(fam[a]), m_u[m]), "")
                      for c, a, m in zip((rest // len(a_u)).tolist(), (rest % len(a_u)).tolist(), m_i.tolist())],
                     dtype=object)
    return found[codes]


def _arp_to_attacker(is_arp, s_addr, d_addr, att_i, vic_i, n_addrs: int, cat):
    """Step 5: an ARP flow called an attack (the ARP step gives it the verdict of the attack
    between its two hosts) goes to the attacker of that attack, not to whoever resolved whom:
    to the end that the other (non-ARP) attack flows blame, else, where one end appears only in
    non-ARP attack flows blamed on a single attacker (a forged source traced to its sender), to
    that attacker, with the other end as victim.  Measured on the committed ``ddos_tcp`` sample:
    the flooded telnet server's ARP requests for four forged sources made it a 4-flow "DDoS
    attacker"; each now belongs to the bot whose frames carried that forged address.  Over lab
    runs 0-41 (cached predictions of models 1.2.0 and 1.3.0) 135 ARP flows of 78 runs change
    hands: 132 from a host that is no attacker to a true attacker, 1 the other way, 2 between
    hosts of the same kind.  Without non-ARP attack flows nothing changes.

    ``cat`` (per flow, category codes, required): an end is taken as the attacker (the first two cases)
    only for the non-ARP attack flows it is blamed for *in the ARP flow's own category*: in
    blind ``mixed/run62`` the CoAP device's one DNS query called Reconnaissance (confidence
    0.53, during a scan of the DNS server) made it the source-side attacker of its ARP
    requests for the forged source of a DoS/UDP flood against it, a second incident naming a
    normal host; by category, those ARP requests go to the bot whose frames carried the
    forged address."""
    arp = np.flatnonzero(is_arp)
    non = np.flatnonzero(~is_arp)
    if not len(arp) or not len(non):
        return att_i, vic_i
    # per (address, category): the non-ARP attack flows blamed on the address in that category
    n_cats = int(cat.max()) + 1
    n_att = np.bincount(att_i[non] * n_cats + cat[non], minlength=n_addrs * n_cats)
    n_s, n_d = n_att[s_addr[arp] * n_cats + cat[arp]], n_att[d_addr[arp] * n_cats + cat[arp]]
    # per address: the distinct attackers blamed for the non-ARP flows it is an end of
    ends = np.concatenate([s_addr[non], d_addr[non]])
    blamed = np.concatenate([att_i[non], att_i[non]])
    keep = ends != blamed
    pair = np.unique(ends[keep] * n_addrs + blamed[keep])
    addr, who = pair // n_addrs, pair % n_addrs
    n_who = np.bincount(addr, minlength=n_addrs)
    only = np.full(n_addrs, -1, dtype=np.int64)
    only[addr[n_who[addr] == 1]] = who[n_who[addr] == 1]
    att_i, vic_i = att_i.copy(), vic_i.copy()
    s, d = s_addr[arp], d_addr[arp]
    a, v = att_i[arp], vic_i[arp]
    by_s = (n_s > 0) & (n_s >= n_d)
    by_d = ~by_s & (n_d > 0)
    via_d = ~by_s & ~by_d & (only[d] >= 0) & (only[d] != s)
    via_s = ~by_s & ~by_d & ~via_d & (only[s] >= 0) & (only[s] != d)
    cases = [by_s, by_d, via_d, via_s]
    att_i[arp] = np.select(cases, [s, d, only[d], only[s]], a)
    vic_i[arp] = np.select(cases, [d, s, s, d], v)
    return att_i, vic_i


MIN_SOURCES_BEHIND_MAC = 64  # distinct flood source addresses behind one unbound MAC that make it the sender


def _behind_one_mac(loose, to_dst, who, addrs, smac, dmac):
    """Step 3b: the flood flows ``loose`` (not traced by step 3) whose blamed end's MAC, bound to
    no host, carries the flood of :data:`MIN_SOURCES_BEHIND_MAC` or more distinct addresses are
    blamed on that MAC (written as Argus writes MACs, ``02:00:00:00:00:09``): a host sending with
    random forged sources (``hping3 --rand-source``) that never uses its own address in the
    capture, or a router forwarding a flood from many hosts.  Without it each forged address was
    an attacker of its own: a 200,000-packet SYN flood with random sources from one unbound MAC
    made 199,994 incidents, a 472 MB report and a 9.5-minute scan (2026-11-29).  Returns
    ``(who, addrs, behind)``: ``addrs`` with those MACs appended where they are not addresses
    already, ``who`` pointing at them for the rows ``behind``."""
    behind = np.zeros(len(who), dtype=bool)
    if not loose.any():
        return who, addrs, behind
    (s_m, d_m), macs = _codes(smac, dmac)
    m_i = np.where(to_dst, d_m, s_m)
    loose = loose & _unicast_macs(macs)[m_i]
    if not loose.any():
        return who, addrs, behind
    pairs = np.unique(m_i[loose] * len(addrs) + who[loose])
    n_sources = np.bincount(pairs // len(addrs), minlength=len(macs))
    behind = loose & (n_sources[m_i] >= MIN_SOURCES_BEHIND_MAC)
    if not behind.any():
        return who, addrs, behind
    used = np.unique(m_i[behind])
    at = pd.Index(addrs).get_indexer(macs[used])  # (a MAC already an end of a non-IP flow)
    new = used[at < 0]
    code = np.full(len(macs), -1, dtype=np.int64)
    code[used[at >= 0]] = at[at >= 0]
    code[new] = len(addrs) + np.arange(len(new))
    addrs = np.concatenate([addrs, macs[new].astype(object)])
    return np.where(behind, code[m_i], who), addrs, behind


def blame(category, saddr, daddr, spkts=None, dpkts=None, proto=None, sport=None, dport=None,
          s_host=None, d_host=None, smac=None, dmac=None, with_mac: bool = False, s_listen=None, d_listen=None,
          categorical: bool = False):
    """(attacker, victim) address arrays for attack flows (all arguments aligned arrays).

    ``s_host``/``d_host``: the host each flow's smac/dmac is bound to (:func:`bound_hosts`,
    ``""`` when none), for step 3.  ``s_listen``/``d_listen``: whether the flow's source /
    destination endpoint is a listening service of the capture (:func:`listening_services`),
    counted as a service port in step 2.  ``with_mac``: also return, per flow, the MAC
    (``smac`` or ``dmac``) through which step 3 traced it (``""`` where it did not).
    ``categorical``: attacker and victim as ``pd.Categorical`` whose categories (every address
    seen) are sorted as strings, instead of str arrays (the same values, without writing out a
    string per flow)."""
    (cat,), cats = _codes(category)
    n_in = len(cat)
    if s_host is None or d_host is None:
        s_host = d_host = np.full(n_in, "", dtype=object)
    (s_addr, d_addr, s_h, d_h), addrs = _codes(saddr, daddr, s_host, d_host)
    theft = _is(cat, cats, "Theft")
    flood = _is(cat, cats, "DDoS") | _is(cat, cats, "DoS")
    to_dst = theft.copy()
    if spkts is not None and dpkts is not None:
        sp = np.asarray(spkts, dtype=np.int64)
        dp = np.asarray(dpkts, dtype=np.int64)
        to_dst |= ~theft & (sp == 0) & (dp > 0)
    if proto is not None:
        (p_code,), protos = _codes(proto)
    if proto is not None and sport is not None and dport is not None:
        flood_tcp = flood & _is(p_code, protos, "tcp")
        (s_port, d_port), ports = _codes(sport, dport)
        service = _service_ports(ports)
        s_serv, d_serv = service[s_port], service[d_port]
        if s_listen is not None and d_listen is not None:
            s_serv = s_serv | np.asarray(s_listen, dtype=bool)
            d_serv = d_serv | np.asarray(d_listen, dtype=bool)
        turned = flood_tcp & s_serv & ~d_serv
        if turned.any():
            n_src, n_dst = _endpoint_counts(s_addr, s_port, d_addr, d_port, len(ports), flood_tcp)
            to_dst |= turned & (n_src > n_dst)
    who = np.where(to_dst, d_addr, s_addr)
    other = np.where(to_dst, s_addr, d_addr)
    # step 3: a flood whose blamed end's MAC is bound to another host was sent by that host
    host = np.where(to_dst, d_h, s_h)
    traced = flood & _binds(addrs)[host] & (host != who)
    if traced.any():
        who = np.where(traced, host, who)
    if smac is not None and dmac is not None:
        who, addrs, behind = _behind_one_mac(flood & ~traced, to_dst, who, addrs, smac, dmac)
        traced |= behind
    # (ARP flows are not counted: step 5 blames them from the others; counted, a flooded victim's
    # requests for the forged sources made it the end with more flows of a client's query to it)
    plain = ~_is(p_code, protos, "arp") if proto is not None else np.ones(n_in, bool)
    counts = np.bincount(who[plain], minlength=len(addrs))
    swap = counts[other] > counts[who]
    # a flow called Reconnaissance goes to its other end only when that end has more attack flows
    # blamed on it against this flow's end than the reverse (the victim's answers to its scanner),
    # not when it merely has more anywhere: the 2,996 scanners of a honeypot's background (1-5
    # probes each) all went to the honeypot, which had 60 DNS queries of its own called scans
    recon = _is(cat, cats, "Reconnaissance") & plain
    if recon.any():
        n = len(addrs)
        key = who.astype(np.int64) * n + other
        rev = other.astype(np.int64) * n + who
        # (hashed, not sorted: np.unique's sort was 0.28 s of a 1.1 s report over 547k attack flows)
        inv, pairs = pd.factorize(np.concatenate([key[plain], key, rev]))
        m = int(plain.sum())
        per_pair = np.bincount(inv[:m], minlength=len(pairs))
        swap = np.where(recon, per_pair[inv[m + n_in:]] > per_pair[inv[m:m + n_in]], swap)
    att_i, vic_i = np.where(swap, other, who), np.where(swap, who, other)
    if proto is not None:
        att_i, vic_i = _arp_to_attacker(_is(p_code, protos, "arp"), s_addr, d_addr, att_i, vic_i, len(addrs), cat)
    if categorical:
        perm = np.argsort(addrs, kind="stable")
        rank = np.empty(len(addrs), dtype=np.int64)
        rank[perm] = np.arange(len(addrs))
        names = pd.Index(addrs[perm], dtype=object)
        attacker = pd.Categorical.from_codes(rank[att_i], categories=names)
        victim = pd.Categorical.from_codes(rank[vic_i], categories=names)
    else:
        attacker, victim = addrs[att_i], addrs[vic_i]
    if not with_mac:
        return attacker, victim
    via = np.full(n_in, "", dtype=object)
    if traced.any() and smac is not None and dmac is not None:
        m = traced & ~swap
        via[m] = np.where(to_dst, np.asarray(dmac, dtype=object), np.asarray(smac, dtype=object))[m]
    return attacker, victim, via


def lookups(flows: pd.DataFrame, category, hosts=None, services=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(hosts, services)``: the capture's :func:`mac_hosts` and :func:`listening_services` with
    its flows called ``category`` (per-flow names), each computed only when not given."""
    if hosts is None or services is None:
        named = labeled(flows, category)
        hosts = mac_hosts(named) if hosts is None else hosts
        services = listening_services(named) if services is None else services
    return hosts, services


class FloodBlame:
    """The victims :func:`blame_frame` names for a capture's flood flows (non-ARP flows called
    DoS or DDoS), blamed once and shared by the capture-level steps that need them (DoS/DDoS, then
    same-flood).  A DoS <-> DDoS swap between them changes neither the rows nor their victims: the
    blame tells floods from other attacks, never DoS from DDoS; other changed rows are blamed
    again."""

    def __init__(self, flows: pd.DataFrame, hosts=None, services=None):
        self.flows, self.hosts, self.services = flows, hosts, services
        self._rows: np.ndarray | None = None
        self._victims: np.ndarray | None = None
        self._attackers: np.ndarray | None = None

    def _blame(self, category, rows: np.ndarray) -> None:
        if self._rows is None or not np.array_equal(rows, self._rows):
            hosts, services = lookups(self.flows, category, self.hosts, self.services)
            attacker, victim = blame_frame(labeled(self.flows, category).iloc[rows], hosts=hosts, services=services)
            self._rows = rows
            self._victims = np.asarray(victim, dtype=object).astype(str)
            self._attackers = np.asarray(attacker, dtype=object).astype(str)

    def victims(self, category, rows: np.ndarray) -> np.ndarray:
        """The victim (str) of each flood flow ``rows`` (positions) of flows named ``category``."""
        self._blame(category, rows)
        return self._victims

    def attackers(self, category, rows: np.ndarray) -> np.ndarray:
        """The attacker (str) of each flood flow ``rows``, as :meth:`victims` blames them."""
        self._blame(category, rows)
        return self._attackers


def listening_services(flows: pd.DataFrame, category_column: str = "pred_category") -> pd.DataFrame:
    """The TCP endpoints that serve in the capture: one row per (``capture``, ``addr``, ``port``)
    that is the destination of a TCP flow with packets both ways which ``category_column``
    calls Normal (all such flows when it is absent); empty without ``proto``/``dport``/``spkts``/
    ``dpkts``.  Step 2 counts them as service ports: a SYN-ACK flood answered on a port outside
    the named list (``lab-out/dos_tcp/run36``: ``broker:1883``, MQTT, where the sensors connect)
    is turned round like one on port 80."""
    cols = ["capture", "addr", "port"]
    need = ("proto", "daddr", "dport", "spkts", "dpkts")
    if not len(flows) or any(c not in flows.columns for c in need):
        return pd.DataFrame(columns=cols)
    ok = (flows["proto"].astype(str).to_numpy() == "tcp") & (flows["spkts"].to_numpy(dtype=np.int64) > 0) \
        & (flows["dpkts"].to_numpy(dtype=np.int64) > 0)
    if category_column in flows.columns:
        ok &= flows[category_column].astype(str).to_numpy() == "Normal"
    rows = np.flatnonzero(ok)
    cap = flows["capture"].astype(str).to_numpy()[rows] if "capture" in flows.columns else np.full(len(rows), "")
    out = pd.DataFrame({"capture": cap, "addr": flows["daddr"].astype(str).to_numpy()[rows],
                        "port": flows["dport"].astype(str).to_numpy()[rows]})
    return out.drop_duplicates().reset_index(drop=True)


def is_listening(services: pd.DataFrame, capture, addr, port) -> np.ndarray:
    """Per (capture, address, port): is it a row of ``services``?  (Captures are compared only
    when both sides name them; values are compared as strings.)"""
    n = len(addr)
    if services is None or not len(services) or not n:
        return np.zeros(n, dtype=bool)
    by_capture = capture is not None and bool((services["capture"].astype(str) != "").any())
    parts = [(capture, services["capture"])] if by_capture else []
    parts += [(addr, services["addr"]), (port, services["port"])]
    # the table's rows as codes of its distinct (capture,) address, port; each query component
    # looked up among the table's distinct values (-1: absent), one factorisation per column
    key_q = key_t = None
    for q, t in parts:
        t_code, t_uniq = pd.factorize(np.asarray(t, dtype=object).astype(str))
        q_code, q_uniq = pd.factorize(q if isinstance(q, (pd.Series, pd.Index)) else np.asarray(q, dtype=object),
                                      use_na_sentinel=False)
        q_code = pd.Index(t_uniq).get_indexer(np.array([str(u) for u in q_uniq], dtype=object))[q_code]
        if key_t is None:
            key_q, key_t = q_code, t_code
            continue
        m = len(t_uniq) + 1
        both_t, both_uniq = pd.factorize(key_t * m + t_code)
        both_q = np.where((key_q >= 0) & (q_code >= 0), key_q * m + q_code, -1)
        key_q = np.where(both_q >= 0, pd.Index(both_uniq).get_indexer(both_q), -1)
        key_t = both_t
    return np.asarray(key_q >= 0, dtype=bool)


CONTEXT_COLUMNS = ("_s_host", "_d_host", "_s_listen", "_d_listen")


def blame_context(flows: pd.DataFrame, category_column: str = "pred_category",
                  attack_column: str = "pred_attack") -> dict[str, np.ndarray]:
    """What :func:`blame_frame` looks up in the capture's other flows, per flow, as the columns
    :data:`CONTEXT_COLUMNS`: the host its ``smac`` / ``dmac`` is bound to (:func:`mac_hosts`,
    ``""`` when none) and whether its source / destination endpoint is a listening service
    (:func:`listening_services`); filled for the rows ``attack_column`` marks (every row
    without it), ``""`` / False elsewhere.  Both tables are per capture, so a scan computes
    this where each capture's flows are (its worker) and the report, which blames the attack
    flows of every capture at once, needs no other flow for it."""
    n = len(flows)
    s_host, d_host = np.full(n, "", dtype=object), np.full(n, "", dtype=object)
    s_listen, d_listen = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    rows = np.flatnonzero(flows[attack_column].to_numpy(dtype=bool)) if attack_column in flows.columns else np.arange(n)
    if len(rows):
        sub = flows[[c for c in BLAME_COLUMNS if c in flows.columns]]
        sub = sub.iloc[rows] if len(rows) < n else sub
        cap = sub["capture"] if "capture" in flows.columns else None
        if "smac" in flows.columns and "dmac" in flows.columns:
            hosts = mac_hosts(flows, category_column)
            if len(hosts):
                s_host[rows] = bound_hosts(hosts, sub["saddr"], sub["smac"], cap)
                d_host[rows] = bound_hosts(hosts, sub["daddr"], sub["dmac"], cap)
        services = listening_services(flows, category_column)
        if len(services) and "sport" in flows.columns and "dport" in flows.columns:
            s_listen[rows] = is_listening(services, cap, sub["saddr"], sub["sport"])
            d_listen[rows] = is_listening(services, cap, sub["daddr"], sub["dport"])
    return dict(zip(CONTEXT_COLUMNS, (s_host, d_host, s_listen, d_listen)))


def blame_frame(att: pd.DataFrame, category_column: str = "pred_category", hosts: pd.DataFrame | None = None,
                with_mac: bool = False, services: pd.DataFrame | None = None, categorical: bool = False):
    """:func:`blame` on a flow DataFrame (``spkts``/``dpkts``, ``proto``/``sport``/``dport`` and,
    with ``hosts`` (:func:`mac_hosts` of the capture's flows), ``smac``/``dmac`` used when present;
    ``services``: :func:`listening_services` of the capture's flows).  Where ``att`` carries the
    :data:`CONTEXT_COLUMNS` (:func:`blame_context`), they are used instead of ``hosts`` and
    ``services``."""
    def col(name):
        return att[name] if name in att.columns else None

    s_host = d_host = s_listen = d_listen = None
    if all(c in att.columns for c in CONTEXT_COLUMNS):
        s_host, d_host = att["_s_host"], att["_d_host"]
        s_listen, d_listen = att["_s_listen"].to_numpy(dtype=bool), att["_d_listen"].to_numpy(dtype=bool)
    elif hosts is not None and len(hosts) and "smac" in att.columns and "dmac" in att.columns:
        cap = col("capture")
        s_host = bound_hosts(hosts, att["saddr"], att["smac"], cap)
        d_host = bound_hosts(hosts, att["daddr"], att["dmac"], cap)
    if s_listen is None and services is not None and len(services) and "sport" in att.columns and "dport" in att.columns:
        cap = col("capture")
        s_listen = is_listening(services, cap, att["saddr"], att["sport"])
        d_listen = is_listening(services, cap, att["daddr"], att["dport"])
    return blame(att[category_column], att["saddr"], att["daddr"],
                 col("spkts"), col("dpkts"), col("proto"), col("sport"), col("dport"),
                 s_host, d_host, col("smac"), col("dmac"), with_mac=with_mac, s_listen=s_listen, d_listen=d_listen,
                 categorical=categorical)
