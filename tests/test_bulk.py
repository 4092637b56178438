"""Bulk transfers are no keylogging (forensics.bulk)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forensics.bulk import MIN_BULK_BYTES, MIN_SEGMENT_BYTES, count

try:  # tests/ may or may not be a package
    from tests.pcapgen import write_events
    from tests.test_toolittle import flow, refined
except ImportError:
    from pcapgen import write_events
    from test_toolittle import flow, refined

DEV, SRV, ATK = "192.168.1.50", "93.184.216.34", "10.77.0.204"


def theft(src, dst, t, spkts, dpkts, sbytes, dbytes, sub="Keylogging", dur=30.0):
    return {**flow(src, dst, t, cat="Theft", sub=sub, dport="80", proto="tcp", spkts=spkts, dpkts=dpkts, dur=dur),
            "sbytes": sbytes, "dbytes": dbytes}


def evidence(r, n):
    ev = np.full(n, "", dtype=object)
    ev[r.bulk_rows] = r.bulk_evidence
    return ev


def test_a_download_called_keylogging_is_a_bulk_transfer():
    # 20 MB of full-size segments from the server, ACKs back
    rows = [theft(DEV, SRV, 100.0, spkts=7000, dpkts=13800, sbytes=7000 * 66, dbytes=13800 * 1502)]
    cat, _, _, r = refined(rows)
    assert cat[0] == "Normal"
    assert evidence(r, 1)[0] == ("called Theft/Keylogging by the model, but it carries 21,189,600 bytes, 1502 per "
                                 "packet on average from 93.184.216.34: a bulk transfer, not keystrokes: Normal")
    assert count(pd.Series(evidence(r, 1))) == 1 and count(pd.Series(evidence(r, 1)).astype("category")) == 1


def test_keystrokes_and_exfiltration_keep_their_verdicts():
    cases = {
        # the lab's keyloggers: tens of packets of 42-70 bytes
        "keystrokes": theft(DEV, ATK, 100.0, spkts=93, dpkts=91, sbytes=6235, dbytes=6014),
        # hours of typing batched into bigger messages: still small in all
        "batched": theft(DEV, ATK, 100.0, spkts=200, dpkts=200, sbytes=200 * 600, dbytes=200 * 60, dur=7200.0)
        if 200 * 660 < MIN_BULK_BYTES else theft(DEV, ATK, 100.0, spkts=100, dpkts=100, sbytes=60_000, dbytes=6_000),
        # many small packets adding up to a lot: small per packet
        "small packets": theft(DEV, ATK, 100.0, spkts=5000, dpkts=5000, sbytes=5000 * 70, dbytes=5000 * 60),
        # an upload called exfiltration is left alone
        "exfiltration": theft(DEV, ATK, 100.0, spkts=14000, dpkts=7000, sbytes=14000 * 1502, dbytes=7000 * 66,
                              sub="Data_Exfiltration"),
    }
    for name, row in cases.items():
        cat, sub, _, r = refined([row])
        assert cat[0] == "Theft", name
        assert not len(r.bulk_rows), name
    assert MIN_SEGMENT_BYTES > 70


def test_a_firmware_download_is_no_incident_end_to_end(tmp_path):
    import random
    import socket

    import dpkt

    from forensics.scan import ScanConfig, scan

    mac = {DEV: b"\x02\x00\x00\x00\x00\x32", SRV: b"\x02\x00\x00\x00\x00\x01"}
    rng = random.Random(4)

    def seg(src, dst, sp, dp, flags, data, seq, ack):
        t = dpkt.tcp.TCP(sport=sp, dport=dp, flags=flags, seq=seq & 0xFFFFFFFF, ack=ack & 0xFFFFFFFF, win=65535, off=5,
                         data=data)
        i = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=6, ttl=64, data=t, id=rng.randrange(65536))
        i.len = 40 + len(data)
        return bytes(dpkt.ethernet.Ethernet(src=mac[src], dst=mac[dst], type=0x0800, data=i))

    t0, c, s = 1_795_000_000.0, 1000, 5000
    ev = [(t0, seg(DEV, SRV, 40000, 80, 2, b"", c, 0)), (t0 + .02, seg(SRV, DEV, 80, 40000, 0x12, b"", s, c + 1)),
          (t0 + .04, seg(DEV, SRV, 40000, 80, 0x10, b"", c + 1, s + 1))]
    c, s = c + 1, s + 1
    req = b"GET /fw.bin HTTP/1.1\r\nHost: updates.example\r\n\r\n"
    ev.append((t0 + .05, seg(DEV, SRV, 40000, 80, 0x18, req, c, s)))
    c += len(req)
    t = t0 + .08
    for k in range(14_000):  # ~20 MB at ~20 Mbit/s
        t += 1448 * 8 / 20e6
        ev.append((t, seg(SRV, DEV, 80, 40000, 0x10, bytes(1448), s, c)))
        s += 1448
        if k % 2:
            ev.append((t + 0.0002, seg(DEV, SRV, 40000, 80, 0x10, b"", c, s)))
    rep = scan([write_events(tmp_path / "download.pcap", ev)], ScanConfig(workers=1, app_detail=False))
    assert not rep.incidents  # (1.3.0 calls the connection Theft/Keylogging, the server the attacker)
    assert any("are reported Normal: bulk transfers" in w for w in rep.inputs[0].warnings)


def flood(src, dst, t, spkts, dpkts, sbytes, dbytes, cat="DoS", sub="HTTP", sport="40000"):
    return {**flow(src, dst, t, cat=cat, sub=sub, dport="80", sport=sport, proto="tcp", spkts=spkts, dpkts=dpkts,
                   dur=10.0), "sbytes": sbytes, "dbytes": dbytes}


def test_a_download_called_a_flood_is_no_flood_but_a_flood_of_downloads_is():
    one = flood(DEV, SRV, 100.0, spkts=7000, dpkts=13800, sbytes=7000 * 66, dbytes=13800 * 1502)
    cat, _, _, r = refined([one])
    assert cat[0] == "Normal"
    assert evidence(r, 1)[0] == ("called DoS by the model, but 192.168.1.50 received 20,727,600 bytes from "
                                 "93.184.216.34 in this connection and sent 462,000: a download, not a flood: Normal")
    # the same download repeated over many connections (exhausting the server) keeps its verdict
    many = [{**one, "sport": str(40000 + k)} for k in range(12)]
    cat, _, _, r = refined(many)
    assert "Normal" not in set(cat) and not len(r.bulk_rows)
    # an upload (the source sends), a request flood (as much each way) and small responses keep theirs
    for row in (flood(DEV, SRV, 100.0, spkts=13800, dpkts=7000, sbytes=13800 * 1502, dbytes=7000 * 66),
                flood(DEV, SRV, 100.0, spkts=9000, dpkts=9000, sbytes=9000 * 400, dbytes=9000 * 1200),
                flood(DEV, SRV, 100.0, spkts=700, dpkts=675, sbytes=69702, dbytes=452603)):
        cat, _, _, r = refined([row])
        assert cat[0] == "DoS" and not len(r.bulk_rows)


def test_the_count_reads_only_this_steps_evidence():
    # (a first version counted every "called X by the model, but ..." of the other steps: 1,655 corpus
    # captures warned about bulk transfers they did not hold)
    from forensics.streams import RTSP_EVIDENCE
    from forensics.toolittle import FLOOD_EVIDENCE, KEYLOG_EVIDENCE

    others = [FLOOD_EVIDENCE.format(cat="DoS", victim="10.0.0.1", n=3),
              KEYLOG_EVIDENCE.format(a="10.0.0.1", b="10.0.0.2", s=0.2),
              RTSP_EVIDENCE.format(cat="DoS", server="10.0.0.1", client="10.0.0.2", port="554", t="x"), ""]
    assert count(pd.Series(others)) == 0 and count(pd.Series(others).astype("category")) == 0
