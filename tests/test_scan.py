"""scan(): recognising captures by content, walking folders, incidents, hosts, exit status."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import shutil
import struct
from pathlib import Path

import pandas as pd
import pytest
try:  # tests/ may or may not be a package
    from tests.test_scan_double import DETECTOR, EXTRACTOR, attack_capture, tcp, udp, write_pcap
except ImportError:
    from test_scan_double import DETECTOR, EXTRACTOR, attack_capture, tcp, udp, write_pcap

from forensics.errors import ForensicsError
from forensics.report.model import build_report
from forensics.scan import Candidate, ScanConfig, discover, scan, sniff

ROOT = Path(__file__).resolve().parent.parent
CFG = ScanConfig(workers=1, extractor=EXTRACTOR, detector=DETECTOR, app_detail=False)

SUMMARY_KEYS = ["tool", "model", "inputs", "flows", "attack_flows", "hosts", "incidents"]
INPUT_KEYS = ["path", "sha256", "format", "packets", "decoded", "undecodable", "warnings", "error"]
HOST_KEYS = ["ip", "role", "category", "subcategory", "confidence", "first_seen", "last_seen", "flows", "peers"]
INCIDENT_KEYS = ["attacker", "victims", "category", "subcategory", "start", "end", "flows", "packets", "bytes", "confidence", "evidence"]


# --------------------------------------------------------------------------- sniffing


@pytest.mark.parametrize(
    "magic,fmt",
    [
        (b"\xd4\xc3\xb2\xa1", "pcap"),
        (b"\xa1\xb2\xc3\xd4", "pcap"),
        (b"\x4d\x3c\xb2\xa1", "pcap"),
        (b"\xa1\xb2\x3c\x4d", "pcap"),
        (b"\x0a\x0d\x0d\x0a", "pcapng"),
    ],
)
@pytest.mark.parametrize("compression", [None, "gzip", "bzip2", "xz"])
def test_sniff_recognises_captures_by_content_not_name(tmp_path, magic, fmt, compression):
    body = magic + b"\x00" * 20
    opener = {None: lambda b: b, "gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress}[compression]
    p = tmp_path / "no_extension_at_all"
    p.write_bytes(opener(body))
    c = sniff(p)
    assert (c.ok, c.format, c.compression, c.size) == (True, fmt, compression, p.stat().st_size)


@pytest.mark.parametrize(
    "content,reason",
    [
        (b"", "empty file"),
        (b"ab", "too short"),
        (b"GET / HTTP/1.1\r\n", "not a capture"),
        (gzip.compress(b"just some text"), "does not hold a pcap"),
        (b"\x1f\x8b\x08\x00garbage-not-deflate", "corrupt gzip"),
    ],
)
def test_sniff_names_the_reason(tmp_path, content, reason):
    p = tmp_path / "x.pcap"
    p.write_bytes(content)
    c = sniff(p)
    assert not c.ok and reason in c.reason


def test_discover_walks_folders_sorted_and_handles_links(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "deep").mkdir()
    attack_capture(tmp_path / "b" / "deep" / "z.bin")
    attack_capture(tmp_path / "a.pcap")
    (tmp_path / "notes.txt").write_text("not a capture")
    os.symlink(tmp_path, tmp_path / "b" / "loop")  # directory loop
    os.symlink("self", tmp_path / "self")  # a symlink to itself: ELOOP
    os.symlink("missing", tmp_path / "dangling")
    os.symlink(tmp_path / "a.pcap", tmp_path / "same.pcap")  # the same file twice: listed once
    found = {os.path.relpath(c.path, tmp_path): c for c in discover([tmp_path, tmp_path / "a.pcap"])}
    assert sorted(k for k, c in found.items() if c.ok) == ["a.pcap", os.path.join("b", "deep", "z.bin")]
    assert "symlink loop" in found[os.path.join("b", "loop")].reason
    assert found["self"].reason == "symlink loop"
    assert "dangling" in found["dangling"].reason
    assert "not a capture" in found["notes.txt"].reason and found["notes.txt"].skipped
    assert not found["dangling"].skipped and not found["self"].skipped
    assert "same.pcap" not in found


def test_files_in_folders_that_are_not_captures_are_skipped_not_failed(tmp_path):
    attack_capture(tmp_path / "a.pcap")
    (tmp_path / "truth.json").write_text('{"hosts": []}')
    (tmp_path / "empty.pcap").write_bytes(b"")
    rep = scan([tmp_path], CFG)
    assert rep.skipped == [(str(tmp_path / "truth.json"), "not a capture (no pcap, pcapng, gzip, bzip2 or xz signature)")]
    assert [os.path.basename(i.path) for i in rep.failed] == ["empty.pcap"]  # an empty file is a failed capture
    # named on the command line, a non-capture is a failed input
    rep = scan([tmp_path / "truth.json", tmp_path / "a.pcap"], CFG)
    assert rep.skipped == [] and [os.path.basename(i.path) for i in rep.failed] == ["truth.json"]


def test_discover_missing_argument_is_reported_not_fatal(tmp_path):
    [c] = discover([tmp_path / "nope.pcap"])
    assert not c.ok and "no such file" in c.reason


@pytest.mark.skipif(os.geteuid() == 0 and not shutil.which("unshare"), reason="as root, needs unshare to make a file unreadable")
def test_unreadable_file_is_named(tmp_path):
    import subprocess
    import sys

    p = attack_capture(tmp_path / "secret.pcap")
    os.chmod(p, 0)
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from forensics.scan import sniff; print(sniff({str(p)!r}).reason)"
    cmd = [sys.executable, "-c", code]
    if os.geteuid() == 0:  # root's capabilities do not reach a file of an unmapped user in a user namespace
        os.chown(p, 12345, 12345)
        cmd = ["unshare", "--user", "--map-root-user", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "unreadable: permission denied", out.stderr




# --------------------------------------------------------------------------- config


@pytest.mark.parametrize("kw", [{"workers": 0}, {"device": "tpu"}, {"dask": "localhost"}, {"chunk_packets": 0},
                                {"engine": "jax"}, {"engine": "numpy", "device": "cuda"}])
def test_config_rejects_bad_values_naming_the_option(kw):
    with pytest.raises(ForensicsError) as e:
        ScanConfig(**kw)
    assert next(iter(kw)).replace("_", "") in str(e.value).replace("_", "").replace("-", "")


def test_scan_needs_a_path():
    with pytest.raises(ForensicsError):
        scan([], CFG)


# --------------------------------------------------------------------------- incidents and hosts


def _flows(rows):
    cols = ["capture", "stime", "ltime", "saddr", "sport", "daddr", "dport", "proto", "pkts", "bytes", "state",
            "pred_category", "pred_subcategory", "confidence", "pred_attack", "evidence"]
    return pd.DataFrame(rows, columns=cols)


class _R:  # a FileResult-like record
    def __init__(self, path, flows):
        self.path, self.flows, self.error, self.seconds = path, flows, None, 0.0
        self.accounting = {"path": path, "sha256": "x", "format": "pcap", "packets": 1, "decoded": 1, "undecodable": {}, "warnings": []}


def test_incidents_split_on_silence_and_group_by_attacker_and_class():
    a, v1, v2, n = "10.0.0.9", "10.0.0.1", "10.0.0.2", "10.0.0.3"
    rows = [
        ["c", 100.0, 101.0, a, 1, v1, 80, "tcp", 10, 1000, "REQ", "DoS", "TCP", 0.9, True, "e1"],
        ["c", 102.0, 150.0, a, 2, v2, 80, "tcp", 20, 2000, "REQ", "DoS", "TCP", 0.7, True, "e1"],
        ["c", 500.0, 501.0, a, 3, v1, 80, "tcp", 5, 500, "REQ", "DoS", "TCP", 0.8, True, "e2"],  # 350 s later: new incident
        ["c", 120.0, 121.0, a, 4, v1, 53, "udp", 3, 300, "INT", "Reconnaissance", "Service_Scan", 0.6, True, ""],
        ["c", 100.0, 200.0, v1, 5, n, 1883, "tcp", 50, 5000, "CON", "Normal", "Normal", 0.95, False, ""],
    ]
    cands = [Candidate("c", format="pcap")]
    rep = build_report(cands, [_R("c", _flows(rows))], CFG, model={"version": "m", "sha256": "s"})
    inc = [(i.attacker, i.category, i.start, i.end, i.flows, i.packets, i.victims) for i in rep.incidents]
    assert inc == [
        (a, "DoS", 100.0, 150.0, 2, 30, [v1, v2]),
        (a, "Reconnaissance", 120.0, 121.0, 1, 3, [v1]),
        (a, "DoS", 500.0, 501.0, 1, 5, [v1]),
    ]
    assert [i.id for i in rep.incidents] == [1, 2, 3]
    assert rep.incidents[0].confidence == pytest.approx(0.8)
    assert rep.incidents[0].evidence[1] == "e1 (2 flows)"
    roles = {h.ip: (h.role, h.category, h.flows, h.peers) for h in rep.hosts}
    assert roles[a] == ("attacker", "DoS", 4, [v1, v2])
    assert roles[v1] == ("victim", "DoS", 4, [n, a])
    assert roles[n] == ("normal", "Normal", 1, [v1])
    assert [h.ip for h in rep.hosts] == [a, v1, v2, n]  # attackers, victims, normal; numeric order
    assert rep.exit_status == 1 and rep.attack_flows == 4 and rep.flows == 5


def test_attacker_follows_the_detectors_blame_rule():
    """Theft is blamed on the receiver; a victim's misclassified reply goes to its attacker."""
    x, v, t, w = "10.0.0.66", "10.0.0.1", "10.0.0.77", "10.0.0.2"
    rows = [["c", 100.0 + i, 100.5 + i, x, 1000 + i, v, 80, "tcp", 1, 60, "REQ", "DoS", "TCP", 0.9, True, ""] for i in range(5)]
    rows += [
        ["c", 103.0, 103.1, v, 80, x, 5555, "tcp", 1, 60, "RST", "Reconnaissance", "OS_Fingerprint", 0.6, True, ""],
        ["c", 200.0, 210.0, w, 4444, t, 443, "tcp", 90, 90000, "FIN", "Theft", "Data_Exfiltration", 0.8, True, ""],
    ]
    rep = build_report([Candidate("c", format="pcap")], [_R("c", _flows(rows))], CFG, model={"version": "m", "sha256": "s"})
    got = [(i.attacker, i.victims, i.category, i.flows) for i in rep.incidents]
    assert got == [(x, [v], "DoS", 5), (x, [v], "Reconnaissance", 1), (t, [w], "Theft", 1)]
    roles = {h.ip: h.role for h in rep.hosts}
    assert roles == {x: "attacker", t: "attacker", v: "victim", w: "victim"}


def test_a_spoofing_bots_host_row_counts_the_flood_traced_to_it():
    """A flood with forged sources is blamed on the bot whose MAC its frames carry: the bot's host
    row counts those flows and spans their time, the bot and its victim are each other's peers,
    and each forged address says whose it is (report and terminal); summary.json lists no address that is
    only ever forged, and the victim's peers do not name them."""
    from io import StringIO

    from rich.console import Console

    from forensics.report.html import render_html
    from forensics.report.terminal import render as render_terminal

    bot, bot_mac, cam, cam_mac, broker, broker_mac = ("10.77.0.201", "02:1a:0a:4d:00:c9", "10.77.0.20",
                                                      "02:1a:0a:4d:00:14", "10.77.0.10", "02:1a:0a:4d:00:0a")
    cols = ["capture", "stime", "ltime", "saddr", "sport", "daddr", "dport", "proto", "pkts", "bytes", "state",
            "spkts", "dpkts", "smac", "dmac", "pred_category", "pred_subcategory", "confidence", "pred_attack", "evidence"]

    def normal(t, s, smac, d, dmac, proto="arp", dport=""):
        return ["c", t, t + 0.1, s, "", d, dport, proto, 2, 120, "CON", 1, 1, smac, dmac, "Normal", "Normal", 0.99, False, ""]

    rows = [normal(10.0, bot, bot_mac, cam, "ff:ff:ff:ff:ff:ff"), normal(11.0, cam, cam_mac, broker, "ff:ff:ff:ff:ff:ff"),
            normal(12.0, broker, broker_mac, cam, "ff:ff:ff:ff:ff:ff"), normal(13.0, cam, cam_mac, broker, broker_mac, "tcp", 1883)]
    forged = [f"198.51.100.{i}" for i in range(1, 31)]
    rows += [["c", 200.0 + i, 200.5 + i, a, 1000 + i, cam, 80, "tcp", 1, 60, "REQ", 1, 0, bot_mac, cam_mac,
              "DoS", "TCP", 0.9, True, "e"] for i, a in enumerate(forged + [broker] * 5)]  # (the broker's address too)
    rep = build_report([Candidate("c", format="pcap")], [_R("c", pd.DataFrame(rows, columns=cols))], CFG,
                       model={"version": "m", "sha256": "s"})
    [inc] = rep.incidents
    assert (inc.attacker, inc.victims, inc.flows) == (bot, [cam], 35)
    # the forged ends counted (198.51.100.1-30 and the broker's 10.77.0.10): no prefix short of 0.0.0.0/0 holds both
    assert "31 distinct forged source addresses, all in 0.0.0.0/0" in inc.evidence
    hosts = {h.ip: h for h in rep.hosts}
    b = hosts[bot]
    assert (b.role, b.category, b.flows, b.first_seen, b.last_seen) == ("attacker", "DoS", 36, 10.0, 234.5)
    assert b.peers == [cam] and b.forged_by == []
    assert hosts[cam].role == "victim" and bot in hosts[cam].peers and hosts[cam].flows == 39
    # a real host whose address the bot also forged keeps its own verdict, with a note
    br = hosts[broker]
    assert (br.role, br.category, br.forged_by, br.forged_flows, br.flows, br.only_forged) == ("normal", "Normal", [bot], 5, 8, False)
    for a in forged:
        assert (hosts[a].role, hosts[a].forged_by, hosts[a].flows, hosts[a].only_forged) == ("normal", [bot], 1, True)
    summary = rep.summary()
    assert all(list(h) == HOST_KEYS for h in summary["hosts"])
    assert sorted(h["ip"] for h in summary["hosts"]) == sorted([bot, cam, broker])
    assert next(h for h in summary["hosts"] if h["ip"] == cam)["peers"] == [broker, bot]
    assert hosts[cam].forged_peers == 30
    buf = StringIO()
    render_terminal(rep, Console(file=buf, force_terminal=False, width=160))
    assert "1 normal host(s), 30 forged source address(es)." in buf.getvalue()
    html = render_html(rep)
    assert html.count("forged source address of") == 31 and "forged source addresses</span>" in html
    assert html.count("none of its own") == 30  # (no Normal verdict shown for an address the bot forged)
    assert html.count("also forged source address of") == 1 and "(5 flows)" in html


def test_summary_has_exactly_the_documented_shape(tmp_path):
    attack_capture(tmp_path / "a.pcap")
    (tmp_path / "empty.pcap").write_bytes(b"")
    s = scan([tmp_path], CFG).summary()
    assert list(s) == SUMMARY_KEYS
    assert list(s["tool"]) == ["name", "version"] and list(s["model"]) == ["version", "sha256"]
    for i in s["inputs"]:
        assert list(i) == INPUT_KEYS
        assert i["packets"] == i["decoded"] + sum(i["undecodable"].values())
    for h in s["hosts"]:
        assert list(h) == HOST_KEYS and h["role"] in ("attacker", "victim", "normal")
    for i in s["incidents"]:
        assert list(i) == INCIDENT_KEYS and 0 <= i["confidence"] <= 1
    bad = [i for i in s["inputs"] if i["error"]]
    assert [os.path.basename(i["path"]) for i in bad] == ["empty.pcap"] and "empty" in bad[0]["error"]
    assert s["flows"] == 41 and s["attack_flows"] == 40


@pytest.mark.parametrize(
    "make,status",
    [
        (lambda d: attack_capture(d / "a.pcap"), 1),
        (lambda d: write_pcap(d / "n.pcap", [udp("192.168.1.2", "192.168.1.3", 1, 2, b"x")] * 5), 0),
        (lambda d: (d / "t.txt").write_text("text"), 2),
        (lambda d: None, 2),  # an empty folder
    ],
)
def test_exit_status(tmp_path, make, status):
    make(tmp_path)
    assert scan([tmp_path], CFG).exit_status == status


def test_exit_status_with_some_inputs_failed_follows_the_good_ones(tmp_path):
    write_pcap(tmp_path / "n.pcap", [tcp("192.168.1.2", "192.168.1.3", 1, 2)])
    (tmp_path / "trunc.pcap").write_bytes(b"\xd4\xc3\xb2\xa1\x02\x00")
    rep = scan([tmp_path], CFG)
    assert rep.exit_status == 0 and len(rep.failed) == 1 and len(rep.readable) == 1
    attack_capture(tmp_path / "a.pcap")
    assert scan([tmp_path], CFG).exit_status == 1


def test_a_stage_crash_on_one_file_does_not_stop_the_batch(tmp_path, monkeypatch):
    attack_capture(tmp_path / "a.pcap")
    attack_capture(tmp_path / "b.pcap", attacker="10.66.0.7")
    import sys

    double = sys.modules[EXTRACTOR.partition(":")[0]]
    real = double.extract_flows

    def flaky(path, **kw):
        if path.endswith("a.pcap"):
            raise ZeroDivisionError("boom")
        return real(path, **kw)

    monkeypatch.setattr(double, "extract_flows", flaky)
    rep = scan([tmp_path], CFG)
    errs = {os.path.basename(i.path): i.error for i in rep.inputs}
    assert errs["b.pcap"] is None and "internal error: ZeroDivisionError: boom" in errs["a.pcap"]
    assert [i.attacker for i in rep.incidents] == ["10.66.0.7"]


def test_real_flow_stage_feeds_the_report(tmp_path):
    """The real extract_flows (when present) with the detector double: the incident comes out whole."""
    pytest.importorskip("forensics.features")
    attack_capture(tmp_path / "a.pcap")
    cfg = ScanConfig(workers=1, detector=DETECTOR, app_detail=False)
    rep = scan([tmp_path], cfg)
    [inc] = rep.incidents
    assert (inc.attacker, inc.victims, inc.category, inc.flows, inc.packets) == ("10.66.0.5", ["192.168.1.10"], "DoS", 40, 40)
    [inp] = rep.inputs
    assert (inp.packets, inp.decoded, inp.error) == (60, 60, None)
    assert {h.ip: h.role for h in rep.hosts} == {"10.66.0.5": "attacker", "192.168.1.10": "victim", "192.168.1.20": "normal", "192.168.1.30": "normal"}


def test_spoofed_syn_ack_flood_is_not_blamed_on_its_victim():
    """Argus names the receiver of a first SYN-ACK as source (spkts 0): the victim of a spoofed
    SYN-ACK flood must stay a victim, and the bots' own flood keeps its attacker."""
    from forensics.attribution import blame

    v, bot = "10.77.0.20", "10.77.0.201"
    spoofed = [f"198.51.100.{i}" for i in range(1, 40)]
    cat = ["DDoS"] * (len(spoofed) + 5)
    saddr = [v] * len(spoofed) + [bot] * 5
    daddr = spoofed + [v] * 5
    spkts = [0] * len(spoofed) + [1] * 5
    dpkts = [1] * len(spoofed) + [0] * 5
    attacker, victim = blame(cat, saddr, daddr, spkts, dpkts)
    assert list(attacker) == spoofed + [bot] * 5
    assert set(victim) == {v}
    # without packet counts the rule falls back to the plain one (and then blames the victim)
    attacker, _ = blame(cat, saddr, daddr)
    assert set(attacker) == {v}
    # Theft is never moved by the sender rule: the receiver of stolen data is the thief
    attacker, _ = blame(["Theft"], ["10.0.0.5"], ["10.0.0.9"], [3], [0])
    assert list(attacker) == ["10.0.0.9"]


def test_answered_syn_ack_flood_on_a_service_port_is_blamed_on_the_bots():
    """A SYN-ACK flood on cam:80 that the victim answers with RSTs: Argus orients every flow
    cam:80 -> bot:<port> with a packet each way (lab-out/ddos_tcp/run23).  The bots are the
    attackers; the server end of a flood flow never is.  Scans and HTTP floods keep theirs."""
    from forensics.attribution import blame

    v, bots = "10.77.0.20", [f"10.77.0.20{i}" for i in range(1, 5)]
    n = 50
    cat = ["DDoS"] * (4 * n)
    saddr = [v] * (4 * n)
    daddr = [b for b in bots for _ in range(n)]
    sport = ["80"] * (4 * n)
    dport = [str(40000 + i) for i in range(4 * n)]
    ones = [1] * (4 * n)
    attacker, victim = blame(cat, saddr, daddr, ones, ones, ["tcp"] * (4 * n), sport, dport)
    assert list(attacker) == daddr and set(victim) == {v}
    # the same flows without ports: the plain rule (victim blamed) -- the ports are what decide
    attacker, _ = blame(cat, saddr, daddr, ones, ones)
    assert set(attacker) == {v}
    # an HTTP flood (client ephemeral -> server 80) and a scan from a fixed low port to many
    # service ports keep their source as attacker; UDP is not turned round
    attacker, _ = blame(["DoS", "Reconnaissance", "DoS"], ["10.0.0.5", "10.0.0.6", "10.0.0.7"],
                        ["10.0.0.9", "10.0.0.9", "10.0.0.9"], [3, 1, 1], [2, 1, 0],
                        ["tcp", "tcp", "udp"], ["45000", "443", "53"], ["80", "22", "40000"])
    assert list(attacker) == ["10.0.0.5", "10.0.0.6", "10.0.0.7"]
    # the report's frame path passes the ports through
    from forensics.attribution import blame_frame

    frame = pd.DataFrame({"pred_category": cat, "saddr": saddr, "daddr": daddr, "spkts": ones, "dpkts": ones,
                          "proto": ["tcp"] * (4 * n), "sport": sport, "dport": dport})
    assert list(blame_frame(frame)[0]) == daddr


def test_flood_from_incrementing_ports_that_name_services_stays_with_its_bots():
    """hping3 bots count their source port up through named services (3050, 3205, ...) while
    flooding broker:1883, which is no service port: those flows are not turned round (their
    source endpoint is used once, the broker's thousands of times), so the broker collects no
    blame and a small straggler bot keeps its own flows (lab-out/ddos_tcp/run24: 146 such
    flows made the broker an "attacker" and took the straggler's 53 flows with them)."""
    from forensics.attribution import blame

    broker, bots, straggler = "10.77.0.10", ["10.77.0.201", "10.77.0.202"], "10.77.0.204"
    ports = list(range(3000, 6000))  # 3050, 3205, 3260, 3306, 3389, ...: 33 named TCP services
    saddr = [b for b in bots for _ in ports] + [straggler] * 20
    sport = [str(p) for _ in bots for p in ports] + [str(52683 + i) for i in range(20)]
    n = len(saddr)
    attacker, victim = blame(["DDoS"] * n, saddr, [broker] * n, [1] * n, [0] * n, ["tcp"] * n, sport, ["1883"] * n)
    assert list(attacker) == saddr and set(victim) == {broker}


def test_timeline_labels_stay_inside_the_drawing():
    """A bar spanning the whole axis gets its label inside it; short bars at either end keep
    their labels beside them; no label runs past the drawing's edges."""
    from forensics.report.html import LABEL_CHAR_W, TL_WIDTH, build_timelines

    x, v = "10.0.0.66", "10.0.0.1"
    rows = [["c", 100.0, 1000.0, x, 1000, v, 23, "tcp", 900, 90000, "CON", "Theft", "Keylogging", 0.9, True, ""]]
    rows += [["c", 100.0 + i, 100.5 + i, x, 2000 + i, v, 80, "tcp", 1, 60, "REQ", "DoS", "TCP", 0.9, True, ""] for i in range(3)]
    rows += [["c", 999.0, 999.5, x, 3000, v, 53, "udp", 1, 60, "INT", "DDoS", "UDP", 0.9, True, ""]]
    rep = build_report([Candidate("c", format="pcap")], [_R("c", _flows(rows))], CFG, model={"version": "m", "sha256": "s"})
    _, timelines, _ = build_timelines(rep)
    tl = next(t for t in timelines if t.ip == x)
    by_cat = {s.category: s for s in tl.spans}
    assert by_cat["Theft"].label_inside and by_cat["Theft"].label_anchor == "start"
    assert not by_cat["DoS"].label_inside and by_cat["DoS"].label_anchor == "start"  # right of an early bar
    assert not by_cat["DDoS"].label_inside and by_cat["DDoS"].label_anchor == "end"  # left of a late bar
    for s in tl.spans:
        width = LABEL_CHAR_W * len(s.label)
        lo, hi = (s.label_x, s.label_x + width) if s.label_anchor == "start" else (s.label_x - width, s.label_x)
        assert 0 <= lo and hi <= TL_WIDTH, (s.label, lo, hi)


def test_non_ip_frames_are_flows_but_neither_hosts_nor_incidents(tmp_path):
    """A capture of non-IP frames only (LLDP, STP, EAPOL, ...): the bundled detector gives their
    MAC-keyed flows no verdict, and MAC addresses are not listed as hosts."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    import flowgen

    flowgen.write_pcap(tmp_path / "l2.pcap", flowgen.sc_l2())
    rep = scan([tmp_path], ScanConfig(workers=1, app_detail=False))
    assert rep.flows == 18 and rep.attack_flows == 0
    assert rep.incidents == [] and rep.hosts == []


def test_the_report_lists_the_hardest_hit_victims_when_it_cannot_list_them_all(monkeypatch):
    """A sweep's 1-packet victims (in address order first) must not push a flood's victim out of
    the report's timelines and hosts table: when there are more victims than rows, the ones that
    received the most packets are kept (in the report's order)."""
    from forensics.report import html as report_html

    monkeypatch.setattr(report_html, "MAX_TIMELINE_HOSTS", 6)
    monkeypatch.setattr(report_html, "MAX_HOST_ROWS", 5)
    scanner, bot, victim = "10.0.0.66", "10.0.0.77", "192.168.1.20"
    cols = ["capture", "stime", "ltime", "saddr", "sport", "daddr", "dport", "proto", "pkts", "bytes", "state",
            "spkts", "dpkts", "smac", "dmac", "pred_category", "pred_subcategory", "confidence", "pred_attack", "evidence"]
    rows = [["c", 1.0 + i * 0.01, 1.0 + i * 0.01, scanner, 40000, f"10.8.0.{i + 1}", 23, "tcp", 1, 60, "REQ", 1, 0,
             "", "", "Reconnaissance", "Service_Scan", 0.9, True, "e"] for i in range(40)]
    rows += [["c", 5.0 + i * 0.001, 5.0 + i * 0.001, bot, 20000 + i, victim, 80, "tcp", 1, 60, "REQ", 1, 0,
              "", "", "DoS", "TCP", 0.9, True, "e"] for i in range(100)]
    rows += [["c", 9.0, 9.1, "10.0.0.5", 5000, "10.0.0.6", 1883, "tcp", 4, 400, "CON", 2, 2, "", "", "Normal",
              "Normal", 0.99, False, ""]]
    rep = build_report([Candidate("c", format="pcap")], [_R("c", pd.DataFrame(rows, columns=cols))], CFG,
                       model={"version": "m", "sha256": "s"})
    assert sorted(i.attacker for i in rep.incidents) == [scanner, bot]
    _, timelines, hidden = report_html.build_timelines(rep)
    names = [t.ip for t in timelines]
    assert names[:2] == [scanner, bot] and victim in names and len(names) == 6 and hidden == 2 + 41 - 6
    table, forged_hidden, hosts_hidden = report_html.host_rows(rep)
    assert [h.ip for h in table][:2] == [scanner, bot] and victim in [h.ip for h in table]
    assert len(table) == 2 + 5 and hosts_hidden == len(rep.hosts) - 7 and forged_hidden == 0
    html = report_html.render_html(rep)
    assert f"... and {hosts_hidden:,} more hosts (victims and normal hosts)" in html
