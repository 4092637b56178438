"""A sweep is no flood (forensics.sweep): one host's few packets to each of many hosts are a scan."""

from __future__ import annotations

import numpy as np
import pytest

from forensics.sweep import MIN_SWEEP_HOSTS, SWEEP_EVIDENCE
from forensics.toolittle import MIN_FLOOD_PACKETS, kinds

try:  # tests/ may or may not be a package
    from tests.test_toolittle import flow, refined
except ImportError:
    from test_toolittle import flow, refined

SCANNER, BOT, VIC, CLIENT = "192.168.1.66", "10.0.0.203", "10.0.0.20", "10.0.0.30"


def sweep(src, n, cat="DDoS", sub="TCP", t0=0.0, answered=False):
    """``n`` one-probe flows from ``src`` to as many addresses of 10.8.0.0/16, on 7 service ports."""
    ports = ("22", "23", "80", "443", "8080", "1883", "5683")
    return [flow(src, f"10.8.{i // 250}.{i % 250 + 1}", t0 + 0.001 * i, cat=cat, sub=sub, dport=ports[i % 7],
                 sport=str(40000 + i % 50), spkts=1, dpkts=1 if answered and i % 3 == 0 else 0) for i in range(n)]


def sweep_evidence(r, n_rows):
    ev = np.full(n_rows, "", dtype=object)
    ev[r.sweep_rows] = r.sweep_evidence
    return ev


def test_a_sweep_called_a_flood_is_a_scan_not_normal():
    # the generated SYN sweep of 142,093 addresses: every flow called DDoS by 1.3.0, each victim 1-3
    # packets, so the too-little step alone turned the whole sweep Normal ("No attack found")
    rows = sweep(SCANNER, 300, answered=True)
    cat, sub, ev, r = refined(rows)
    assert (cat == "Reconnaissance").all() and (sub == "Service_Scan").all()
    assert list(r.sweep_rows) == list(range(300)) and not len(r.little_rows) and r.changed
    assert set(r.sub_rows) == set(range(300))  # (the step chose the subcategory)
    text = sweep_evidence(r, 300)
    assert text[0] == SWEEP_EVIDENCE.format(cat="DDoS", attacker=SCANNER, n=300)
    assert text[0] == (f"called DDoS by the model, but {SCANNER} sent such flows to 300 hosts, none of which got "
                       f"{MIN_FLOOD_PACKETS} packets of them: a sweep of many hosts, not a flood: Reconnaissance")
    assert (kinds(text) == 0).all()  # not counted as "too little traffic"
    assert np.allclose(r.p_cat.max(1), 0.9)  # the flow keeps the model's confidence


@pytest.mark.parametrize("n", [MIN_SWEEP_HOSTS - 1, MIN_SWEEP_HOSTS])
def test_the_threshold_is_the_number_of_hosts(n):
    cat, _, _, r = refined(sweep(SCANNER, n, cat="DoS"))
    if n < MIN_SWEEP_HOSTS:  # too few hosts for a sweep: the too-little step judges them, as before
        assert (cat == "Normal").all() and not len(r.sweep_rows) and len(r.little_rows) == n
    else:
        assert (cat == "Reconnaissance").all() and len(r.sweep_rows) == n and not len(r.little_rows)


def test_floods_keep_their_verdict_and_only_the_sweepers_flows_change():
    flood = [flow(BOT, VIC, 0.01 * i, cat="DoS", sub="TCP", sport=str(20000 + i)) for i in range(120)]
    # a host with a sweep's worth of victims, but one of them flooded: that victim's flows stay a flood
    mixed = sweep(CLIENT, MIN_SWEEP_HOSTS + 5, cat="DoS") + [flow(CLIENT, "10.8.0.1", 1.0 + 0.01 * i, cat="DoS", sub="TCP",
                                                                  sport=str(30000 + i)) for i in range(60)]
    normal = [flow(VIC, CLIENT, 3.0, spkts=4, dpkts=4)]
    rows = flood + mixed + normal
    cat, _, _, r = refined(rows)
    assert (cat[:120] == "DoS").all()
    swept = np.flatnonzero(cat == "Reconnaissance")
    # CLIENT's flows to every address but 10.8.0.1 (which got 60 + 1 packets)
    assert len(swept) == MIN_SWEEP_HOSTS + 4 and all(rows[i]["daddr"] != "10.8.0.1" for i in swept)
    assert all(cat[i] == "DoS" for i, row in enumerate(rows) if row["daddr"] == "10.8.0.1")
    assert cat[-1] == "Normal"


def test_backscatter_to_many_forged_addresses_is_not_a_sweep():
    # a SYN-ACK flood's answers from the victim's served port to forged addresses: the flood's victim is the
    # host that answers (forensics.attribution), which gets every packet: a flood, not a sweep
    answers = [flow(VIC, f"10.9.{i // 250}.{i % 250 + 1}", 0.01 * i, cat="DoS", sub="TCP", sport="80",
                    dport=str(40000 + i)) for i in range(200)]
    service = [flow(CLIENT, VIC, 5.0, spkts=5, dpkts=5)]  # VIC serves port 80
    cat, _, _, r = refined(answers + service)
    assert not len(r.sweep_rows) and (cat[:200] == "DoS").all()


def test_a_generated_sweep_capture_is_one_reconnaissance_incident(tmp_path):
    """End to end with the bundled model: a SYN sweep of 3,000 addresses (a third answered with a
    reset) is one Reconnaissance incident of the scanner, its report lists the first hosts and counts
    the rest, and its alert names at most 1,000 victims."""
    import json
    import re
    import struct

    from forensics.report import render
    from forensics.report.html import MAX_HOST_ROWS
    from forensics.report.machine import MAX_ALERT_VICTIMS
    from forensics.scan import ScanConfig, scan

    n = 3_000
    iph, tcph = struct.Struct("!BBHHHBBH4s4s"), struct.Struct("!HHIIBBHHH")
    up = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x0a" + b"\x08\x00"
    down = up[6:12] + up[:6] + b"\x08\x00"
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    scanner = bytes([192, 168, 1, 66])
    t = 1_700_000_000.0

    def put(src, dst, seg, eth):
        nonlocal out
        frame = eth + iph.pack(0x45, 0, 20 + len(seg), 0, 0, 64, 6, 0, src, dst) + seg
        out += struct.pack("<IIII", int(t), int((t - int(t)) * 1e6), len(frame), len(frame)) + frame

    for i in range(n):
        t += 0.0002
        target = bytes([10, 8 + i // 62_500, (i // 250) % 250, 1 + i % 250])
        port = (22, 23, 80, 443, 8080, 1883, 5683)[i % 7]
        put(scanner, target, tcph.pack(40000 + i % 50, port, i, 0, 0x50, 0x02, 1024, 0, 0), up)
        if i % 3 == 0:
            t += 0.0001
            put(target, scanner, tcph.pack(port, 40000 + i % 50, 0, i + 1, 0x50, 0x14, 0, 0, 0), down)
    cap = tmp_path / "sweep.pcap"
    cap.write_bytes(bytes(out))
    rep = scan([cap], ScanConfig(workers=1, app_detail=False))
    assert [(i.attacker, i.category, i.subcategory, len(i.victims)) for i in rep.incidents] == \
        [("192.168.1.66", "Reconnaissance", "Service_Scan", n)]
    # 1.3.0 calls the probes floods (the lab's scans are of one subnet's few hosts): the step says why they are a scan
    assert any(re.match(r"called D?DoS by the model, but 192\.168\.1\.66 sent such flows to [\d,]+ hosts, none of "
                        r"which got 50 packets of them: a sweep of many hosts, not a flood: Reconnaissance; ", e)
               for e in rep.incidents[0].evidence), rep.incidents[0].evidence
    render("html", rep, tmp_path / "r.html")
    render("jsonl", rep, tmp_path / "a.jsonl")
    html = (tmp_path / "r.html").read_text()
    assert f"... and {n - MAX_HOST_ROWS:,} more hosts (victims and normal hosts)" in html
    assert html.count('<tr class="victim">') == MAX_HOST_ROWS
    assert f"+{n - 200:,} more (summary.json lists every one)" in html
    [alert] = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert alert["forensics"]["victim_count"] == n and len(alert["forensics"]["victims"]) == MAX_ALERT_VICTIMS
    assert len(alert["related"]["ip"]) == MAX_ALERT_VICTIMS + 1  # and the scanner
    assert len(rep.summary()["incidents"][0]["victims"]) == n  # summary.json: all of them


def test_a_flood_spread_over_many_ports_of_its_victim_is_a_port_scan():
    """A TCP flood hits the service it floods (every lab TCP flood of runs 68-69: one port of its
    victim per attacker); flows called DoS or DDoS from one attacker that reach 8 or more ports of
    a victim, the busiest with less than half of their packets, are a scan of many ports."""
    from forensics.sweep import MAX_TOP_PORT_SHARE, MIN_SPREAD_PORTS, SPREAD_EVIDENCE

    ports = [str(p) for p in (21, 22, 23, 25, 80, 443, 445, 1883, 2323, 3389, 5555, 7547, 8080, 8443, 6379, 81)]
    spread = [flow(BOT, VIC, 0.01 * i, cat="DDoS", sub="TCP", dport=ports[i % 16], sport=str(20000 + i))
              for i in range(160)]
    cat, sub, _, r = refined(spread)
    assert (cat == "Reconnaissance").all() and (sub == "Service_Scan").all() and list(r.sweep_rows) == list(range(160))
    assert set(r.sweep_evidence) == {SPREAD_EVIDENCE.format(cat="DDoS", attacker=BOT, n=16, victim=VIC, port="21",
                                                             share=1 / 16)}
    assert r.sweep_evidence[0].startswith(f"called DDoS by the model, but {BOT} sent such flows to 16 TCP ports of "
                                          f"{VIC}, the busiest (21) with only 6% of their packets: a scan")
    # one port, or a port with half of the packets, or fewer ports: a flood
    one = [dict(f, dport="80") for f in spread]
    assert (refined(one)[0] == "DDoS").all()
    half = [dict(f, dport="80") if i % 2 == 0 else f for i, f in enumerate(spread)]
    assert (refined(half)[0] == "DDoS").all() and MAX_TOP_PORT_SHARE == 0.5
    few = [dict(f, dport=ports[i % (MIN_SPREAD_PORTS - 1)]) for i, f in enumerate(spread)]
    assert (refined(few)[0] == "DDoS").all()
    # fewer packets than a flood in all: the too-little step's (Normal), not a scan
    small = spread[:MIN_FLOOD_PACKETS - 1]
    cat, _, _, r = refined(small)
    assert (cat == "Normal").all() and not len(r.sweep_rows)
    # UDP floods often spray ports: left alone
    udp = [dict(f, proto="udp") for f in spread]
    assert (refined(udp)[0] == "DDoS").all()


def test_a_honeypots_internet_background_is_scanners_not_a_ddos_of_its_gateway(tmp_path):
    """300 internet addresses sending 1-5 SYNs each to 16 ports of one host through the gateway's
    MAC (a honeypot or an exposed device): 1.3.0 calls them DDoS and attribution step 3b blamed
    the gateway MAC for one DDoS incident.  Now they are scans, each scanner the attacker of its
    own probes (the host is no scanner, its gateway no attacker)."""
    import random

    import dpkt

    from forensics.scan import ScanConfig, scan
    from tests.pcapgen import pcap_bytes

    rng = random.Random(4)
    gw_mac, hp_mac = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x32"
    hp, gw = bytes([192, 168, 1, 50]), bytes([192, 168, 1, 1])
    ports = (22, 23, 80, 443, 8080, 2323, 3389, 5555, 7547, 1883, 6379, 21, 25, 445, 81, 8443)

    def frame(src, dst, sp, dp, flags, smac, dmac):
        t = dpkt.tcp.TCP(sport=sp, dport=dp, flags=flags, seq=rng.getrandbits(32), ack=1 if flags & 0x10 else 0,
                         win=1024, off=5)
        ip = dpkt.ip.IP(src=src, dst=dst, p=6, ttl=50, data=t)
        ip.len = 40
        return bytes(dpkt.ethernet.Ethernet(src=smac, dst=dmac, type=0x0800, data=ip))

    ev = []
    for k in range(300):
        src = bytes([rng.randint(1, 223), rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254)])
        t = rng.uniform(0, 60)
        for _ in range(rng.randint(1, 5)):
            dp, sp = rng.choice(ports), rng.randint(1024, 65535)
            t += rng.uniform(0, 0.5)
            ev.append((t, frame(src, hp, sp, dp, 0x02, gw_mac, hp_mac)))
            ev.append((t + 0.05, frame(hp, src, dp, sp, 0x12 if dp in (22, 23, 80) else 0x14, hp_mac, gw_mac)))
    for s in range(0, 60, 10):  # the host's own DNS queries to the gateway (answered: both MACs bind)
        for src, dst, smac, dmac, sp, dp in ((hp, gw, hp_mac, gw_mac, 40000 + s, 53), (gw, hp, gw_mac, hp_mac, 53, 40000 + s)):
            u = dpkt.udp.UDP(sport=sp, dport=dp, data=b"\x00" * 30)
            u.ulen = 38
            ip = dpkt.ip.IP(src=src, dst=dst, p=17, ttl=64, data=u)
            ip.len = 58
            ev.append((s + 0.3 + (0.01 if sp == 53 else 0), bytes(dpkt.ethernet.Ethernet(src=smac, dst=dmac, type=0x0800, data=ip))))
    ev.sort(key=lambda e: e[0])
    cap = tmp_path / "honeypot.pcap"
    cap.write_bytes(pcap_bytes([(int((1_795_000_000 + t) * 1e9), f) for t, f in ev]))
    r = scan([cap], ScanConfig(workers=1, app_detail=False))
    assert r.incidents and all(i.category == "Reconnaissance" for i in r.incidents), \
        {(i.category, i.attacker) for i in r.incidents}
    attackers = {i.attacker for i in r.incidents}
    assert "192.168.1.50" not in attackers and "02:00:00:00:00:01" not in attackers and "192.168.1.1" not in attackers
    assert all(i.victims == ["192.168.1.50"] for i in r.incidents) and len(attackers) > 50  # (one per scanner and kind)
