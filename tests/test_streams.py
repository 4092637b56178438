"""Media streams a host asked for are no floods (forensics.streams)."""

from __future__ import annotations

import random
import socket
import struct

import dpkt
import numpy as np
import pandas as pd
import pytest

from forensics.streams import count, media_streams

try:  # tests/ may or may not be a package
    from tests.pcapgen import write_events
    from tests.test_toolittle import flow, refined
except ImportError:
    from pcapgen import write_events
    from test_toolittle import flow, refined

CAM, NVR, PHONE_A, PHONE_B, BOT = "192.168.1.60", "192.168.1.10", "192.168.1.71", "192.168.1.72", "192.168.1.200"


def rtsp(client, server, t, spkts=6, dpkts=5, port="554"):
    return flow(client, server, t, dport=port, sport="50000", proto="tcp", spkts=spkts, dpkts=dpkts, dur=0.2)


def stream(src, dst, t, spkts=600, dpkts=0, cat="DoS", sub="UDP", sport="6970", dport="50010"):
    return flow(src, dst, t, cat=cat, sub=sub, sport=sport, dport=dport, proto="udp", spkts=spkts, dpkts=dpkts, dur=20.0)


def evidence(r, n):
    ev = np.full(n, "", dtype=object)
    ev[r.stream_rows] = r.stream_evidence
    return ev


def test_a_stream_the_recorder_asked_for_over_rtsp_is_normal_and_says_why():
    rows = [rtsp(NVR, CAM, 100.0), stream(CAM, NVR, 100.1),
            stream(CAM, NVR, 100.1, spkts=20, dpkts=20, sport="6971", dport="50011", sub="TCP")]  # RTCP both ways
    cat, _, _, r = refined(rows)
    assert list(cat) == ["Normal", "Normal", "Normal"]
    ev = evidence(r, len(rows))
    assert ev[1] == ("called DoS by the model, but it is a media stream of 192.168.1.60, which 192.168.1.10 asked for "
                     "over RTSP (192.168.1.10 -> 192.168.1.60:554, from 1970-01-01 00:01:40 UTC): Normal")
    assert count(pd.Series(ev)) == 2 and count(pd.Series(ev).astype("category")) == 2
    # the same stream without its session: the model's verdict stands
    cat, _, _, r = refined(rows[1:])
    assert list(cat) == ["DoS", "DoS"] and not len(r.stream_rows)


def test_a_stream_whose_first_packet_came_from_the_recorder_is_still_the_cameras():
    # (a NAT punch packet first: Argus keys the flow from the recorder, the camera sends the rest)
    rows = [rtsp(NVR, CAM, 100.0, port="8554"), stream(NVR, CAM, 100.1, spkts=2, dpkts=900, sport="50010", dport="6970")]
    cat, _, _, r = refined(rows)
    assert cat[1] == "Normal" and "RTSP (192.168.1.10 -> 192.168.1.60:8554" in evidence(r, 2)[1]


def test_what_is_no_requested_stream_keeps_its_verdict():
    cases = {
        # the client floods the server it has an RTSP session with: the packets come from the client
        "client floods server": [rtsp(BOT, CAM, 100.0), stream(BOT, CAM, 100.1, spkts=5000)],
        # a probe of port 554 answered by a reset is no session
        "probe": [rtsp(BOT, CAM, 100.0, spkts=1, dpkts=1), stream(CAM, BOT, 100.1)],
        # the session came after the stream
        "late session": [rtsp(NVR, CAM, 150.0), stream(CAM, NVR, 100.0)],
        # a session between other hosts
        "other hosts": [rtsp(PHONE_A, CAM, 100.0), stream(CAM, NVR, 100.1)],
        # TCP floods are not streams
        "tcp": [rtsp(NVR, CAM, 100.0), {**stream(CAM, NVR, 100.1), "proto": "tcp", "sub": "TCP"}],
    }
    for name, rows in cases.items():
        cat, _, _, r = refined(rows)
        assert cat[-1] == "DoS", name
        assert not len(r.stream_rows), name


def test_a_call_set_up_over_sip_is_two_way_media_and_normal():
    sip = flow(PHONE_A, PHONE_B, 50.0, sport="5060", dport="5060", proto="udp", spkts=4, dpkts=3)
    voice = stream(PHONE_A, PHONE_B, 52.0, spkts=1500, dpkts=1480, sport="16384", dport="16386", cat="DDoS")
    cat, _, _, r = refined([sip, voice])
    assert cat[1] == "Normal"
    assert evidence(r, 2)[1].startswith("called DDoS by the model, but it is a two-way media stream between "
                                        "192.168.1.71 and 192.168.1.72, which set up a call over SIP "
                                        "(192.168.1.71 -> 192.168.1.72:5060")
    # one way (a flood between the two phones) or with no SIP answer: not a call
    for rows in ([sip, {**voice, "dpkts": 10}], [{**sip, "dpkts": 0}, voice]):
        cat, _, _, r = refined(rows)
        assert cat[1] in ("DoS", "DDoS") and not len(r.stream_rows)  # (a lone sender's DDoS becomes DoS: step 2)


def test_missing_columns_or_no_candidates_turn_nothing():
    df = pd.DataFrame([rtsp(NVR, CAM, 100.0), stream(CAM, NVR, 100.1)])
    rows, ev = media_streams(df.drop(columns=["dpkts"]), np.array(["Normal", "DoS"], dtype=object))
    assert not len(rows) and not len(ev)
    rows, _ = media_streams(df, np.array(["Normal", "Normal"], dtype=object))
    assert not len(rows)


# ---------------------------------------------------------------------------
# end to end: a camera capture (RTSP, then RTP with RTCP) through the bundled model
# ---------------------------------------------------------------------------

def _ip(a):
    return socket.inet_aton(a)


def _frame(src, dst, l4, p):
    i = dpkt.ip.IP(src=_ip(src), dst=_ip(dst), p=p, ttl=64, data=l4)
    i.len = 20 + len(bytes(l4))
    mac = {CAM: b"\x02\x00\x00\x00\x00\x3c", NVR: b"\x02\x00\x00\x00\x00\x0a"}
    return bytes(dpkt.ethernet.Ethernet(src=mac[src], dst=mac[dst], type=0x0800, data=i))


def camera_capture(path, seconds=20, rate=100, size=1100, with_session=True):
    """An IP camera (CAM) streaming H.264 over RTP (sequence numbers, timestamps and SSRC as a
    camera sends them) to a recorder (NVR) that asked for it over RTSP, RTCP reports both ways
    once a second."""
    rng = random.Random(3)
    ev = []
    t0 = 1_795_000_000.0
    if with_session:
        s, a = 1000, 5000

        def seg(src, dst, sp, dp, flags, data, seq, ack):
            return _frame(src, dst, dpkt.tcp.TCP(sport=sp, dport=dp, flags=flags, seq=seq, ack=ack, win=65535, off=5,
                                                 data=data), 6)

        ev += [(t0, seg(NVR, CAM, 50000, 554, 0x02, b"", s, 0)), (t0 + 0.001, seg(CAM, NVR, 554, 50000, 0x12, b"", a, s + 1)),
               (t0 + 0.002, seg(NVR, CAM, 50000, 554, 0x10, b"", s + 1, a + 1))]
        for k, req in enumerate((b"DESCRIBE rtsp://cam/ RTSP/1.0\r\nCSeq: 2\r\n\r\n",
                                 b"SETUP rtsp://cam/t RTSP/1.0\r\nCSeq: 3\r\nTransport: RTP/AVP;unicast;"
                                 b"client_port=50010-50011\r\n\r\n", b"PLAY rtsp://cam/ RTSP/1.0\r\nCSeq: 4\r\n\r\n")):
            tt = t0 + 0.01 + k * 0.02
            ev.append((tt, seg(NVR, CAM, 50000, 554, 0x18, req, s + 1, a + 1)))
            ev.append((tt + 0.005, seg(CAM, NVR, 554, 50000, 0x18, b"RTSP/1.0 200 OK\r\n\r\n" + bytes(200), a + 1, s + 1)))
    ssrc, seq, ts = 0x1234ABCD, rng.randrange(65536), rng.randrange(2 ** 32)
    for k in range(int(seconds * rate)):
        tt = t0 + 0.1 + k / rate + rng.uniform(0, 0.2 / rate)
        rtp = struct.pack("!BBHII", 0x80, 96, (seq + k) & 0xFFFF, (ts + k * 90000 // rate) & 0xFFFFFFFF, ssrc)
        u = dpkt.udp.UDP(sport=6970, dport=50010, data=rtp + bytes(size - 12))
        u.ulen = 8 + len(u.data)
        ev.append((tt, _frame(CAM, NVR, u, 17)))
        if k % rate == 0:
            for src, dst, sp, dp, n in ((CAM, NVR, 6971, 50011, 52), (NVR, CAM, 50011, 6971, 32)):
                u = dpkt.udp.UDP(sport=sp, dport=dp, data=bytes([0x80, 200 if src == CAM else 201]) + bytes(n - 2))
                u.ulen = 8 + n
                ev.append((tt + (0.01 if src == NVR else 0), _frame(src, dst, u, 17)))
    return write_events(path, ev)


@pytest.mark.parametrize("rate,size", [(30, 1300), (300, 900)])
def test_a_camera_streaming_to_its_recorder_is_no_attack(tmp_path, rate, size):
    from forensics.scan import ScanConfig, scan

    cfg = ScanConfig(workers=1, app_detail=False)
    alone = scan([camera_capture(tmp_path / "alone.pcap", rate=rate, size=size, with_session=False)], cfg)
    # the model alone reads the stream as a flood (what this step is for) ...
    assert any(i.category in ("DoS", "DDoS") and i.attacker == CAM for i in alone.incidents)
    rep = scan([camera_capture(tmp_path / "cam.pcap", rate=rate, size=size)], cfg)
    # ... and the session that asked for it makes it Normal, said in the capture's warnings
    assert not [i for i in rep.incidents if i.category in ("DoS", "DDoS")]
    (inp,) = rep.inputs
    assert any("are reported Normal: media streams a host asked for over RTSP" in w for w in inp.warnings)
    # the banner and the terminal's last line count them
    import io

    from rich.console import Console

    from forensics.report.html import render_html
    from forensics.report.terminal import render as render_terminal

    assert rep.benign >= 1
    assert "of the model turned Normal: they are a media stream a host asked for or a bulk transfer" in render_html(rep) \
        or "of the model turned Normal: it is a media stream a host asked for or a bulk transfer" in render_html(rep)
    out = io.StringIO()
    render_terminal(rep, Console(file=out, width=400))
    assert "attack verdict(s) of the model turned Normal: requested media streams or bulk transfers" in out.getvalue()


def test_a_flood_whose_counting_source_ports_pass_a_signalling_port_is_no_call():
    # lab run dos_udp/run68: a UDP flood of a DNS server from source ports counting up, answered
    # once each; its flows from ports 5060 and 5061 looked like SIP between the bot and the server
    dns = "10.77.0.2"
    rows = [stream(BOT, dns, 100.0 + k * 0.001, spkts=1, dpkts=1, sport=str(5040 + k), dport="53", sub="UDP")
            for k in range(40)]
    cat, _, _, r = refined(rows)
    assert set(cat) == {"DoS"} and not len(r.stream_rows)
    # and a few such flows (not a flood of many) beside a session called a flood: not a session
    rows = [stream(BOT, dns, 100.0, spkts=3, dpkts=3, sport="5060", dport="53"),
            stream(BOT, dns, 100.5, spkts=300, dpkts=300, sport="7000", dport="53")]
    cat, _, _, r = refined(rows)
    assert list(cat) == ["DoS", "DoS"] and not len(r.stream_rows)


def interleaved(client, server, t, spkts, dpkts, sbytes, dbytes, cat="DoS", sub="HTTP", port="554", sport="50000"):
    """A TCP flow client -> server:port (an RTSP session), bytes each way given."""
    return {**flow(client, server, t, cat=cat, sub=sub, dport=port, sport=sport, proto="tcp", spkts=spkts,
                   dpkts=dpkts, dur=30.0), "sbytes": sbytes, "dbytes": dbytes}


def test_an_rtsp_session_carrying_its_media_is_normal():
    # RTP interleaved in the RTSP connection: video from the camera, ACKs from the recorder
    rows = [interleaved(NVR, CAM, 100.0, spkts=4500, dpkts=9000, sbytes=4500 * 66, dbytes=9000 * 1354)]
    cat, _, _, r = refined(rows)
    assert cat[0] == "Normal"
    assert evidence(r, 1)[0].startswith("called DoS by the model, but it is an RTSP session of 192.168.1.60 carrying "
                                        "the media 192.168.1.10 asked for (192.168.1.10 -> 192.168.1.60:554, RTP "
                                        "interleaved: 41 times the client's bytes from the server): Normal")
    assert count(pd.Series(evidence(r, 1))) == 1


def test_floods_of_an_rtsp_port_are_no_session_carrying_media():
    cases = {
        # a flood of requests: the client sends as much as it gets back
        "requests": [interleaved(BOT, CAM, 100.0, spkts=5000, dpkts=5000, sbytes=5000 * 120, dbytes=5000 * 400)],
        # a SYN flood of port 554: nothing from the server
        "syn": [interleaved(BOT, CAM, 100.0, spkts=1, dpkts=0, sbytes=60, dbytes=0, sport=str(1000 + k))
                for k in range(60)],
        # many connections each pulling media: more than a stream's few flows
        "many": [interleaved(BOT, CAM, 100.0, spkts=40, dpkts=80, sbytes=40 * 66, dbytes=80 * 1354, sport=str(1000 + k))
                 for k in range(20)],
        # another port
        "port": [interleaved(NVR, CAM, 100.0, spkts=4500, dpkts=9000, sbytes=4500 * 66, dbytes=9000 * 1354, port="80")],
    }
    for name, rows in cases.items():
        cat, _, _, r = refined(rows)
        assert not len(r.stream_rows), name
        # (12 MB one way on port 80 is a download to the bulk step: not a flood, whatever the port)
        assert "Normal" not in set(cat) or (name == "port" and len(r.bulk_rows)), name


def interleaved_capture(path, seconds=20, rate=100, size=1300):
    """A camera streaming RTP interleaved in the RTSP connection its recorder opened (RFC 2326 10.12),
    the recorder acknowledging every second segment."""
    rng = random.Random(2)
    ev = []
    t0 = 1_795_000_000.0

    def seg(src, dst, sp, dp, flags, data, seq, ack):
        return _frame(src, dst, dpkt.tcp.TCP(sport=sp, dport=dp, flags=flags, seq=seq, ack=ack, win=65535, off=5,
                                             data=data), 6)

    c, s = 1000, 5000
    ev += [(t0, seg(NVR, CAM, 50000, 554, 0x02, b"", c, 0)), (t0 + .001, seg(CAM, NVR, 554, 50000, 0x12, b"", s, c + 1)),
           (t0 + .002, seg(NVR, CAM, 50000, 554, 0x10, b"", c + 1, s + 1))]
    c, s = c + 1, s + 1
    for k, req in enumerate((b"DESCRIBE rtsp://cam/ RTSP/1.0\r\nCSeq: 2\r\n\r\n",
                             b"SETUP rtsp://cam/t RTSP/1.0\r\nCSeq: 3\r\nTransport: RTP/AVP/TCP;interleaved=0-1\r\n\r\n",
                             b"PLAY rtsp://cam/ RTSP/1.0\r\nCSeq: 4\r\n\r\n")):
        tt = t0 + .01 + k * .02
        ev.append((tt, seg(NVR, CAM, 50000, 554, 0x18, req, c, s)))
        c += len(req)
        rsp = b"RTSP/1.0 200 OK\r\n\r\n" + bytes(200)
        ev.append((tt + .005, seg(CAM, NVR, 554, 50000, 0x18, rsp, s, c)))
        s += len(rsp)
    seq, ts = rng.randrange(65536), rng.randrange(2 ** 32)
    t = t0 + 0.1
    for k in range(int(seconds * rate)):
        t += 1 / rate
        rtp = struct.pack("!BBHII", 0x80, 96, (seq + k) & 0xFFFF, (ts + k * 3000) & 0xFFFFFFFF, 0xABCD1234)
        data = b"$\x00" + struct.pack("!H", size) + rtp + bytes(size - 12)
        ev.append((t, seg(CAM, NVR, 554, 50000, 0x18, data, s, c)))
        s += len(data)
        if k % 2:
            ev.append((t + 0.0005, seg(NVR, CAM, 50000, 554, 0x10, b"", c, s)))
    return write_events(path, ev)


@pytest.mark.parametrize("rate", [30, 300])
def test_a_camera_streaming_inside_its_rtsp_connection_is_no_attack(tmp_path, rate):
    from forensics.scan import ScanConfig, scan

    rep = scan([interleaved_capture(tmp_path / "il.pcap", rate=rate)], ScanConfig(workers=1, app_detail=False))
    # (the model reads the connection as DoS/HTTP by the recorder, 1.3.0: the streams step turns it)
    assert not rep.incidents
    (inp,) = rep.inputs
    assert any("media streams a host asked for over RTSP" in w for w in inp.warnings)
