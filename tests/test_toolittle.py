"""Too little traffic for the verdict: a flood of a few packets, keylogging of a moment, a scan of one
or two targets (forensics.toolittle)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forensics.attribution import FloodBlame
from forensics.toolittle import MIN_FLOOD_PACKETS, MIN_KEYLOG_SECONDS, MIN_SCAN_TARGETS, brief_keylogging, kinds, \
    lone_probes, small_floods
from forensics.train import CATEGORIES, SUBCATEGORIES

try:  # tests/ may or may not be a package
    from tests.test_sameflood import refine_names
except ImportError:
    from test_sameflood import refine_names

VIC, VIC2, BOT, CLIENT = "10.0.0.20", "10.0.0.21", "10.0.0.203", "10.0.0.30"


def flow(src, dst, t, cat="Normal", sub="Normal", dport="80", sport="40000", proto="tcp", spkts=1, dpkts=0, dur=0.001):
    return {"saddr": src, "daddr": dst, "sport": sport, "dport": dport, "proto": proto, "stime": t, "ltime": t + dur,
            "spkts": spkts, "dpkts": dpkts, "pkts": spkts + dpkts, "smac": "02:00:00:00:00:01",
            "dmac": "02:00:00:00:00:02", "cat": cat, "sub": sub}


def refined(rows):
    """(category, subcategory, evidence per flow, Refined) after refine_flows, every flow's
    verdict given with probability 0.9."""
    df = pd.DataFrame(rows)
    cats, subs = list(CATEGORIES), list(SUBCATEGORIES)
    p_cat = np.full((len(df), len(cats)), 0.1 / (len(cats) - 1))
    p_sub = np.full((len(df), len(subs)), 0.1 / (len(subs) - 1))
    p_cat[np.arange(len(df)), [cats.index(c) for c in df["cat"]]] = 0.9
    p_sub[np.arange(len(df)), [subs.index(s) for s in df["sub"]]] = 0.9
    cat, sub, r = refine_names(df, p_cat, p_sub)
    ev = np.full(len(df), "", dtype=object)
    ev[r.little_rows] = r.little_evidence
    return cat, sub, ev, r


def test_a_victim_with_a_few_packets_called_a_flood_is_not_flooded():
    # corpus: one TCP reset called DoS; here 3 flows of 2 packets each to VIC2, and a real
    # flood of 120 one-packet flows to VIC beside them
    few = [flow(CLIENT, VIC2, 0.1 * i, cat="DoS", sub="TCP", spkts=1, dpkts=1, sport=str(41000 + i)) for i in range(3)]
    flood = [flow(BOT, VIC, 0.01 * i, cat="DoS", sub="TCP", sport=str(20000 + i)) for i in range(120)]
    cat, sub, ev, r = refined(few + flood)
    assert list(cat[:3]) == ["Normal"] * 3 and list(sub[:3]) == ["Normal"] * 3
    assert (cat[3:] == "DoS").all() and (sub[3:] == "TCP").all()
    assert list(r.little_rows) == [0, 1, 2] and r.changed and set(r.sub_rows) >= {0, 1, 2}
    assert ev[0] == (f"called DoS by the model, but its victim {VIC2} got only 6 packet(s) of such flows in this "
                     f"capture, and a flood has {MIN_FLOOD_PACKETS} or more: Normal") and list(kinds(ev)) == [1, 1, 1] + [0] * 120
    assert np.allclose(r.p_cat.max(1), 0.9)  # the flow keeps the model's confidence


def test_the_threshold_counts_every_flood_flow_of_the_victim_whatever_its_sender_or_verdict():
    # a spoofed flood: one packet from each of MIN_FLOOD_PACKETS forged sources, some called DoS, some DDoS
    spoofed = [flow(f"10.9.{i // 250}.{i % 250 + 1}", VIC, 0.01 * i, cat="DDoS" if i % 2 else "DoS", sub="UDP",
                    proto="udp", dport="53", sport=str(30000 + i)) for i in range(MIN_FLOOD_PACKETS)]
    cat, _, _, r = refined(spoofed)
    assert not len(r.little_rows) and (cat != "Normal").all()
    cat, _, _, r = refined(spoofed[:-1])  # one packet short
    assert len(r.little_rows) == MIN_FLOOD_PACKETS - 1 and (cat == "Normal").all()


def test_backscatter_counts_for_the_host_that_sends_it():
    # a SYN-ACK flood's answers: flows from the victim's served port to forged addresses, one
    # packet each; grouped by the forged addresses (their destinations) each would be 1 packet
    answers = [flow(VIC, f"10.9.0.{i + 1}", 0.01 * i, cat="DoS", sub="TCP", sport="80", dport=str(40000 + i))
               for i in range(60)]
    service = [flow(CLIENT, VIC, 5.0, spkts=5, dpkts=5)]  # VIC serves port 80
    df = pd.DataFrame(answers + service)
    rows, _ = small_floods(df, df["cat"].to_numpy(dtype=object), FloodBlame(df))
    assert not len(rows)


def keylog(src, dst, t, dur, sport="40000"):
    return flow(src, dst, t, cat="Theft", sub="Keylogging", dport="4444", sport=sport, spkts=8, dpkts=8, dur=dur)


def test_keylogging_of_a_moment_is_no_keylogging():
    # corpus: an HTTP request and its answer called Keylogging (0.9 ms); here one pair's three
    # short connections within 0.6 s, and beside them a real session: two hosts streaming
    # keystrokes over many seconds in short reconnecting sessions (the lab's keylogger)
    brief = [keylog(CLIENT, VIC2, 0.2 * i, 0.05, sport=str(41000 + i)) for i in range(3)]
    real = [keylog(VIC, BOT, 2.0 * i, 0.5, sport=str(42000 + i)) for i in range(6)]
    answer = [keylog(BOT, VIC, 11.0, 0.001)]  # (the other direction counts for the same pair)
    cat, sub, ev, r = refined(brief + real + answer)
    assert list(cat[:3]) == ["Normal"] * 3 and list(sub[:3]) == ["Normal"] * 3
    assert (cat[3:] == "Theft").all() and (sub[3:] == "Keylogging").all()
    assert list(r.little_rows) == [0, 1, 2]
    assert ev[0] == (f"called Theft/Keylogging by the model, but such flows between {CLIENT} and {VIC2} span only "
                     f"0.45 s in this capture, and keystrokes take {MIN_KEYLOG_SECONDS:g} s or more: Normal")
    assert list(kinds(ev)) == [2, 2, 2] + [0] * 7


def test_keylogging_spanning_the_threshold_stands_and_one_long_flow_is_enough():
    at = [keylog(CLIENT, VIC2, 0.0, 0.01, sport="1"), keylog(CLIENT, VIC2, MIN_KEYLOG_SECONDS - 0.01, 0.01, sport="2")]
    one = [keylog(VIC, BOT, 5.0, 30.0)]
    df = pd.DataFrame(at + one)
    rows, _ = brief_keylogging(df, df["sub"].to_numpy(dtype=object))
    assert not len(rows)
    df = pd.DataFrame([keylog(CLIENT, VIC2, 0.0, 0.01, sport="1"), keylog(CLIENT, VIC2, 0.5, 0.01, sport="2")])
    rows, _ = brief_keylogging(df, df["sub"].to_numpy(dtype=object))
    assert list(rows) == [0, 1]
    df.loc[:, ["stime", "ltime"]] = np.nan  # (no times: nothing to judge by)
    assert not len(brief_keylogging(df, df["sub"].to_numpy(dtype=object))[0])
    df = pd.DataFrame([flow(CLIENT, VIC2, 0.0, cat="Reconnaissance", sub="Service_Scan", proto="arp", dport="", sport="")])
    assert not len(lone_probes(df, df["cat"].to_numpy(dtype=object))[0])


def probe(src, dst, port, t, **kw):
    return flow(src, dst, t, cat="Reconnaissance", sub="Service_Scan", dport=str(port), sport=str(50000 + port), **kw)


def test_a_probe_of_one_or_two_targets_is_no_scan():
    # corpus: one DNS query to 8.8.8.8 called Service_Scan; here CLIENT reaches VIC2:53 twice
    # and VIC2:80, two targets; BOT reaches three ports of VIC
    lone = [probe(CLIENT, VIC2, 53, 0.0), probe(CLIENT, VIC2, 53, 0.1), probe(CLIENT, VIC2, 80, 0.2)]
    scan = [probe(BOT, VIC, port, 1.0 + 0.01 * port) for port in (22, 23, 80)]
    cat, _, ev, r = refined(lone + scan)
    assert list(cat) == ["Normal"] * 3 + ["Reconnaissance"] * 3 and list(r.little_rows) == [0, 1, 2]
    assert ev[0] == (f"called Reconnaissance by the model, but {CLIENT} reached only 2 target(s) (address and port) "
                     f"with such flows in this capture, and a scan probes {MIN_SCAN_TARGETS} or more: Normal")
    assert list(kinds(ev)) == [3, 3, 3, 0, 0, 0]


def test_the_victims_answers_count_for_the_scanner():
    # two probes from BOT and the answer of a third port, a flow the victim starts (its RST,
    # source port the probed one): blamed on BOT, they make three targets
    rows = [probe(BOT, VIC, 22, 0.0), probe(BOT, VIC, 23, 0.1),
            flow(VIC, BOT, 0.2, cat="Reconnaissance", sub="Service_Scan", sport="8080", dport="50123")]
    df = pd.DataFrame(rows)
    got, _ = lone_probes(df, df["cat"].to_numpy(dtype=object))
    assert not len(got)
    got, _ = lone_probes(df.iloc[:2], df["cat"].to_numpy(dtype=object)[:2])
    assert list(got) == [0, 1]


def test_arp_flows_and_other_attacks_are_left_to_their_own_steps():
    rows = [flow(CLIENT, VIC2, 0.5, cat="Theft", sub="Data_Exfiltration", spkts=3, dpkts=3),
            flow(CLIENT, VIC2, 1.0, cat="Normal")]
    cat, _, _, r = refined(rows)
    assert not len(r.little_rows) and list(cat) == ["Theft", "Normal"]
    df = pd.DataFrame([flow(CLIENT, VIC2, 0.0, cat="DoS", sub="TCP", proto="arp", dport="", sport=""),
                       flow(CLIENT, VIC2, 0.0, cat="Theft", sub="Keylogging", proto="arp", dport="", sport="")])
    assert not len(small_floods(df, df["cat"].to_numpy(dtype=object), FloodBlame(df))[0])
    assert not len(brief_keylogging(df, df["sub"].to_numpy(dtype=object))[0])
    df = pd.DataFrame([flow(CLIENT, VIC2, 0.0, cat="Reconnaissance", sub="Service_Scan", proto="arp", dport="", sport="")])
    assert not len(lone_probes(df, df["cat"].to_numpy(dtype=object))[0])


def test_a_scan_says_how_many_verdicts_it_turned_and_why():
    """samples/mixed with the bundled model: the OS-fingerprint attacker's probes to the broker
    that the model called DoS (2 flows, 8 packets) and Keylogging (3 flows within 0.2 s) come out
    Normal, and the capture's warning, the terminal line and the report's verdict say so."""
    import io
    from pathlib import Path

    from rich.console import Console

    from forensics.report.html import render_html
    from forensics.report.terminal import render as render_terminal
    from forensics.scan import ScanConfig, scan

    sample = Path(__file__).resolve().parent.parent / "samples" / "mixed" / "capture.pcap"
    rep = scan([sample], ScanConfig(workers=1, app_detail=False))
    assert rep.too_little == 5
    (inp,) = rep.inputs
    assert ("5 flow(s) the model called attacks are reported Normal, too little traffic for the verdict: 2 called DoS "
            "or DDoS whose victims got fewer than 50 packets of them; 3 called Keylogging exchanged within less than 1 s"
            ) in inp.warnings
    assert not any(i.attacker == "10.77.0.204" and "10.77.0.10" in i.victims and i.category in ("DoS", "Theft")
                   for i in rep.incidents)
    out = io.StringIO()
    render_terminal(rep, Console(file=out, width=400))
    assert "5 attack verdict(s) of the model turned Normal, too little traffic for them" in out.getvalue()
    assert "5 attack verdicts of the model turned Normal: too little traffic for them" in render_html(rep)


def test_a_hosts_few_packets_beside_anothers_flood_of_its_victim_are_no_flood():
    """Blind ddos_udp/run69: a camera's one DNS query to the flooded DNS server, called DDoS, made
    the camera a one-packet DDoS attacker beside the two bots.  A host with an address of its own
    (bound to its MAC) that sends fewer than MIN_SENDER_PACKETS packets of flood flows in the whole
    capture, to a victim another attacker floods with MIN_FLOOD_PACKETS or more, is no flooder."""
    from forensics.batch import too_little_warning
    from forensics.toolittle import MIN_SENDER_PACKETS

    c_mac, b_mac = {"smac": "02:00:00:00:00:04"}, {"smac": "02:00:00:00:00:03"}
    bind = [dict(flow(CLIENT, VIC2, 0.0, spkts=3, dpkts=3), **c_mac)]  # the client's own two-way traffic binds its MAC
    flood = [dict(flow(BOT, VIC, 0.01 * i, cat="DDoS", sub="UDP", proto="udp", dport="53", sport=str(20000 + i)), **b_mac)
             for i in range(120)]
    query = [dict(flow(CLIENT, VIC, 0.5, cat="DDoS", sub="UDP", proto="udp", dport="53", sport="51000"), **c_mac)]
    cat, sub, ev, r = refined(bind + flood + query)
    assert cat[-1] == "Normal" and sub[-1] == "Normal" and (cat[1:-1] == "DDoS").all()
    assert ev[-1] == (f"called DDoS by the model, but {CLIENT} sent only 1 packet(s) of such flows in this capture, "
                      f"while {BOT} flooded {VIC} with 120: a client of the flooded host, not one of its flooders: "
                      "Normal") and list(kinds(ev[-1:])) == [4]
    flows = pd.DataFrame(bind + flood + query).assign(evidence=ev)
    assert too_little_warning(flows) == ("1 flow(s) the model called attacks are reported Normal, too little traffic "
                                         f"for the verdict: 1 called DoS or DDoS of hosts that sent fewer than "
                                         f"{MIN_SENDER_PACKETS} packets of them beside another host's flood")
    # a small bot of its own (MIN_SENDER_PACKETS packets) stays a flooder
    bot = [dict(flow(CLIENT, VIC, 0.5 + 0.01 * i, cat="DDoS", sub="UDP", proto="udp", dport="53", sport=str(51000 + i)),
                **c_mac) for i in range(MIN_SENDER_PACKETS)]
    cat, _, _, _ = refined(bind + flood + bot)
    assert (cat[1:] == "DDoS").all()
    # a forged source (no address of its own: bound to no MAC) stays part of the flood
    forged = [dict(query[0], saddr="10.9.9.9", smac="02:00:00:00:00:99")]  # (its MAC: no two-way flow binds it)
    cat, _, _, _ = refined(bind + flood + forged)
    assert cat[-1] == "DDoS"
    # no other host floods the victim with MIN_FLOOD_PACKETS: the victim rule judges it, not this one
    cat, _, ev, _ = refined(bind + flood[:MIN_FLOOD_PACKETS - 5] + query)
    assert (cat[1:] == "Normal").all() and list(kinds(ev[1:])) == [1] * (MIN_FLOOD_PACKETS - 4)


def test_discovery_traffic_to_a_group_address_is_no_flood():
    """mDNS and SSDP queries of a LAN's devices, called DDoS by the model: each device an "attacker"
    of 224.0.0.251 and 239.255.255.250.  Below 20 packets per second a group address gets chatter;
    a storm at the flood's rate keeps its verdict, and so do the flows of a random-source flood
    that drew a multicast source (lab run ddos_tcp/run68: Argus orients them from the victim to
    the forged "group", with no packet that way, on the bot's own MAC)."""
    from forensics.toolittle import MAX_GROUP_RATE

    def to_group(src, group, t, mac, **kw):
        return {**flow(src, group, t, cat="DDoS", sub="UDP", proto="udp", **kw), "dmac": mac}

    rows = []
    for d in range(3):
        dev = f"192.168.1.{100 + d}"
        rows += [to_group(dev, "224.0.0.251", 10.0 + 2.0 * k, "01:00:5e:00:00:fb", sport="5353", dport="5353")
                 for k in range(60)]  # one every 2 s, 120 s
        rows += [to_group(dev, "239.255.255.250", 11.0 + 5.0 * k, "01:00:5e:7f:ff:fa", sport="50000", dport="1900",
                          spkts=2) for k in range(30)]
    storm = [{**to_group(BOT, "255.255.255.255", 10.0 + k / 200, "Broadcast", sport=str(1000 + k), dport="9"),
              "cat": "DoS"} for k in range(400)]  # 200 per second
    forged = [{**flow(VIC, f"226.{k}.30.112", 10.0 + k * 0.5, cat="DDoS", sub="TCP", sport="3381", dport=str(2000 + k),
                      spkts=0, dpkts=1), "dmac": "02:1a:0a:4d:00:cb"} for k in range(60)]
    cat, _, ev, r = refined(rows + storm + forged)
    n = len(rows)
    assert (cat[:n] == "Normal").all() and (cat[n:n + len(storm)] == "DoS").all() and (cat[n + len(storm):] == "DDoS").all()
    assert list(kinds(ev[:n])) == [5] * n and (kinds(ev[n:]) == 0).all()
    assert ev[0] == ("called DDoS by the model, but 192.168.1.100 sent 60 packet(s) of such flows to the group address "
                     "224.0.0.251 over 118 s (0.51 per second): discovery or announcement traffic, not a flood: Normal")
    assert MAX_GROUP_RATE == 20.0
    # IPv6 groups too
    v6 = [to_group("fd00::5", "ff02::fb", 10.0 + k, "33:33:00:00:00:fb", sport="5353", dport="5353") for k in range(60)]
    cat, _, ev, _ = refined(v6)
    assert (cat == "Normal").all() and (kinds(ev) == 5).all()


def test_a_lans_name_resolution_and_discovery_make_no_incident(tmp_path):
    import random
    import socket

    import dpkt

    from forensics.scan import ScanConfig, scan

    rng = random.Random(6)
    dns, dns_mac = "192.168.1.1", b"\x02\x00\x00\x00\x00\x01"

    def udp(src, dst, sp, dp, data, sm, dm):
        u = dpkt.udp.UDP(sport=sp, dport=dp, data=data)
        u.ulen = 8 + len(data)
        i = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=17, ttl=64, data=u, id=rng.randrange(65536))
        i.len = 20 + u.ulen
        return bytes(dpkt.ethernet.Ethernet(src=sm, dst=dm, type=0x0800, data=i))

    ev, t0 = [], 1_795_000_000.0
    for d in range(10):
        dev, mac = f"192.168.1.{100 + d}", bytes([2, 0, 0, 0, 1, d])
        t = t0 + rng.uniform(0, 0.1)
        while t < t0 + 120:
            q = dpkt.dns.DNS(id=rng.randrange(65536), qd=[dpkt.dns.DNS.Q(name="api.vendor.example")])
            sp = rng.randrange(32768, 61000)
            ev.append((t, udp(dev, dns, sp, 53, bytes(q), mac, dns_mac)))
            q.qr = 1
            ev.append((t + 0.005, udp(dns, dev, 53, sp, bytes(q), dns_mac, mac)))
            if rng.random() < 0.2:  # SSDP M-SEARCH and an mDNS query
                ev.append((t + .5, udp(dev, "239.255.255.250", 50000 + d, 1900, b"M-SEARCH * HTTP/1.1\r\n\r\n", mac,
                                       b"\x01\x00\x5e\x7f\xff\xfa")))
                ev.append((t + .6, udp(dev, "224.0.0.251", 5353, 5353, bytes(60), mac, b"\x01\x00\x5e\x00\x00\xfb")))
            t += rng.expovariate(10.0)
    try:  # tests/ may or may not be a package
        from tests.pcapgen import write_events
    except ImportError:
        from pcapgen import write_events

    rep = scan([write_events(tmp_path / "lan.pcap", ev)], ScanConfig(workers=1, app_detail=False))
    assert not rep.incidents  # (without the rule: DDoS/UDP incidents of devices against the group addresses)
    assert any("sent to multicast or broadcast addresses" in w for w in rep.inputs[0].warnings)


def test_a_device_polling_a_service_is_no_flood():
    """IoT devices polling a cloud HTTP API, a new connection every second for ten minutes, were
    each a DDoS/HTTP attacker at confidence 1.0.  Over 30 s or more at fewer than 3 flows and 40
    packets per second, the flows from one host to another are polling; the lab's slowest flood
    pair sent 7.8 flows and 183 packets per second, over 8 s."""
    from forensics.toolittle import MAX_POLL_FLOWS_PER_S, MAX_POLL_PACKETS_PER_S, MIN_POLL_SPAN_S

    api = "52.10.20.30"
    poll = [flow("192.168.1.150", api, 100.0 + k, cat="DDoS", sub="HTTP", sport=str(40000 + k), spkts=5, dpkts=3,
                 dur=0.1) for k in range(600)]
    # a flood as slow as the lab's slowest, and a poll too short to judge
    slow_flood = [flow(BOT, VIC, 100.0 + k / 8, cat="DoS", sub="HTTP", sport=str(30000 + k), spkts=12, dpkts=10,
                       dur=0.1) for k in range(70)]
    short = [flow("192.168.1.151", api, 100.0 + k, cat="DDoS", sub="HTTP", sport=str(50000 + k), spkts=5, dpkts=3,
                  dur=0.1) for k in range(20)]
    cat, _, ev, r = refined(poll + slow_flood + short)
    n = len(poll)
    assert (cat[:n] == "Normal").all() and (kinds(ev[:n]) == 6).all()
    assert (cat[n:] != "Normal").all()
    assert ev[0] == ("called DDoS by the model, but 192.168.1.150 sent 600 such flows to 52.10.20.30 over 599 s (1 flows, "
                     "8 packets per second): polling, not a flood: Normal")
    assert (MIN_POLL_SPAN_S, MAX_POLL_FLOWS_PER_S, MAX_POLL_PACKETS_PER_S) == (30.0, 3.0, 40.0)
    # a long flood at a flood's rate stands
    long_flood = [flow(BOT, VIC, 100.0 + k / 20, cat="DoS", sub="TCP", sport=str(1000 + k)) for k in range(2000)]
    cat, _, ev, _ = refined(long_flood)
    assert (cat == "DoS").all()


def test_devices_polling_a_cloud_api_make_no_incident(tmp_path):
    import random
    import socket

    import dpkt

    from forensics.scan import ScanConfig, scan

    try:  # tests/ may or may not be a package
        from tests.pcapgen import write_events
    except ImportError:
        from pcapgen import write_events

    rng = random.Random(7)
    api, gw = "52.10.20.30", b"\x02\x00\x00\x00\x00\x01"

    def seg(src, dst, sp, dp, flags, data, seq, ack, sm, dm):
        t = dpkt.tcp.TCP(sport=sp, dport=dp, flags=flags, seq=seq, ack=ack, win=65535, off=5, data=data)
        i = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=6, ttl=64, data=t, id=rng.randrange(65536))
        i.len = 40 + len(data)
        return bytes(dpkt.ethernet.Ethernet(src=sm, dst=dm, type=0x0800, data=i))

    ev, t0 = [], 1_795_000_000.0
    for d in range(3):
        dev, mac = f"192.168.1.{150 + d}", bytes([2, 0, 0, 0, 2, d])
        t = t0 + rng.uniform(0, 1)
        while t < t0 + 180:  # one request a second for three minutes, a connection each
            sp, c, s = rng.randrange(32768, 61000), 1000, 5000
            req = b"GET /api/v1/status HTTP/1.1\r\nHost: api.vendor.example\r\n\r\n"
            body = b"HTTP/1.1 200 OK\r\nContent-Length: 300\r\n\r\n" + bytes(300)
            for dt, src, dst, a, b, fl, data, sq, ak in (
                    (0, dev, api, sp, 80, 2, b"", c, 0), (.03, api, dev, 80, sp, 0x12, b"", s, c + 1),
                    (.031, dev, api, sp, 80, 0x10, b"", c + 1, s + 1), (.032, dev, api, sp, 80, 0x18, req, c + 1, s + 1),
                    (.07, api, dev, 80, sp, 0x18, body, s + 1, c + 1 + len(req)),
                    (.071, dev, api, sp, 80, 0x11, b"", c + 1 + len(req), s + 1 + len(body)),
                    (.1, api, dev, 80, sp, 0x11, b"", s + 1 + len(body), c + 2 + len(req)),
                    (.101, dev, api, sp, 80, 0x10, b"", c + 2 + len(req), s + 2 + len(body))):
                sm, dm = (mac, gw) if src == dev else (gw, mac)
                ev.append((t + dt, seg(src, dst, a, b, fl, data, sq, ak, sm, dm)))
            t += rng.uniform(0.9, 1.1)
    rep = scan([write_events(tmp_path / "poll.pcap", ev)], ScanConfig(workers=1, app_detail=False))
    assert not rep.incidents  # (the model alone: every device a DDoS/HTTP attacker of the API)
    assert any("(polling)" in w for w in rep.inputs[0].warnings)
