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
