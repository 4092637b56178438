"""The renderers: HTML in headless Chromium (timelines drawn, no network, nothing executes),
ECS alerts, flow tables, the terminal summary."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import struct
import subprocess
import threading
import zlib
from html.parser import HTMLParser
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console
try:  # tests/ may or may not be a package
    from tests.test_scan_double import DETECTOR, EXTRACTOR, attack_capture, dns_query, mqtt_publish, tcp, udp, write_pcap
except ImportError:
    from test_scan_double import DETECTOR, EXTRACTOR, attack_capture, dns_query, mqtt_publish, tcp, udp, write_pcap

from forensics.report import render
from forensics.report.html import CATEGORY_COLOURS, CSP, render_html
from forensics.report.machine import alert_events
from forensics.report.terminal import render as render_terminal
from forensics.scan import ScanConfig, scan

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TSHARK = shutil.which("tshark")
CFG = ScanConfig(workers=1, extractor=EXTRACTOR, detector=DETECTOR, app_detail=False, keep_flows=True)

ATTACKER, VICTIM = "10.66.0.5", "192.168.1.10"
# Each payload would set document.title if it ever ran as markup or script.
XSS_HTTP = (
    b"GET /<script>document.title='PWNED1'</script>?a=\"onerror=document.title='PWNED2' HTTP/1.1\r\n"
    b"Host: \"><img src=x onerror=\"document.title='PWNED3'\">\r\n"
    b"User-Agent: <svg/onload=document.title='PWNED4'>\r\n\r\n"
)
XSS_DNS = "<svg/onload=document.title='PWNED5'>.evil"
XSS_MQTT = "<script>document.title='PWNED6'</script>/\"onerror=x"
XSS_FILE = "\"><img src=x onerror=document.title='PWNED7'><script>document.title='PWNED8'.pcap"


# --------------------------------------------------------------------------- helpers


class _Dom(HTMLParser):
    """Elements, attributes and text of a serialised DOM."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_title = tag == "title" and not any(t == "svg" for t, _ in self.tags[:-1])

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_title:
            self.title += data


def dom(html: str) -> _Dom:
    d = _Dom()
    d.feed(html)
    return d


class _Listener:
    """A local 'proxy' that records every connection Chromium makes through it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    data = conn.recv(4096)
                except OSError:
                    data = b"?"  # connected and then silent until the timeout: counted
                if data:  # a connection closed without a byte (Chromium preconnects to its proxy) asked for nothing
                    self.requests.append(data)

    def close(self):
        self._stop.set()
        self._t.join(2)
        self.sock.close()


BROWSER_SERVICES = re.compile(rb"^[A-Z]+ (?:http://)?[^/ ]*\.(?:google\.com|googleapis\.com|gvt1\.com|gstatic\.com)[:/ ]")


def _browser_service(request: bytes) -> bool:
    """Chromium's own update/time pings (they happen with any page, even about:blank)."""
    return bool(BROWSER_SERVICES.match(request))


def chromium(page: Path, tmp: Path, *, dump_dom=False, screenshot: Path | None = None, proxy_port: int | None = None) -> str:
    args = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
        "--disable-default-apps", "--metrics-recording-only", "--mute-audio",
        "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,Translate",
        f"--user-data-dir={tmp / 'chromium-profile'}", "--window-size=1200,1400", "--virtual-time-budget=2000",
    ]
    if proxy_port:
        # every request, loopback included, goes to our listener
        args += [f"--proxy-server=http://127.0.0.1:{proxy_port}", "--proxy-bypass-list=<-loopback>"]
    if dump_dom:
        args.append("--dump-dom")
    if screenshot:
        args.append(f"--screenshot={screenshot}")
    args.append(page.resolve().as_uri())
    out = subprocess.run(args, capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def png_pixels(path: Path):
    """(width, height, rows of RGB(A) bytes) of an 8-bit non-interlaced PNG, numpy unfiltering."""
    import numpy as np

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = hdr
    assert depth == 8 and interlace == 0 and ctype in (2, 6)
    bpp = 3 if ctype == 2 else 4
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, 1 + w * bpp)
    out = np.zeros((h, w * bpp), dtype=np.uint8)
    prev = np.zeros(w * bpp, dtype=np.int32)
    for y in range(h):
        f, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if f == 0:
            cur = line
        elif f == 1:
            cur = np.cumsum(line.reshape(w, bpp), axis=0).reshape(-1) % 256
        elif f == 2:
            cur = (line + prev) % 256
        else:
            cur = np.zeros_like(line)
            for i in range(w * bpp):
                a = cur[i - bpp] if i >= bpp else 0
                b = prev[i]
                if f == 3:
                    cur[i] = (line[i] + ((a + b) >> 1)) % 256
                else:
                    c = prev[i - bpp] if i >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                    cur[i] = (line[i] + pr) % 256
        out[y] = cur
        prev = cur
    return out.reshape(h, w, bpp)[:, :, :3]


def xss_capture(folder: Path) -> Path:
    pkts = [
        tcp(ATTACKER, VICTIM, 40000, 80, XSS_HTTP),
        udp(ATTACKER, VICTIM, 5353, 53, dns_query(XSS_DNS)),
        tcp(ATTACKER, VICTIM, 40001, 1883, mqtt_publish(XSS_MQTT)),
        udp("192.168.1.20", "192.168.1.30", 5000, 1883, b"x"),
    ]
    return write_pcap(folder / XSS_FILE, pkts, step=0.5)


# --------------------------------------------------------------------------- HTML, static checks


@pytest.fixture(scope="module")
def attack_report(tmp_path_factory):
    d = tmp_path_factory.mktemp("attack")
    attack_capture(d / "a.pcap")
    attack_capture(d / "b.pcap", attacker="10.66.0.7", victim="192.168.1.11", t0=1_700_000_100.0)
    (d / "broken.pcap").write_bytes(b"\xd4\xc3\xb2\xa1")
    rep = scan([d], CFG)
    html = render_html(rep)
    return d, rep, html


def test_html_is_self_contained_with_csp(attack_report):
    _, _, html = attack_report
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP.replace(chr(39), "&#39;")}">' in html
    d = dom(html)
    assert not [t for t, _ in d.tags if t in ("script", "link", "iframe", "object", "embed", "img", "base")]
    for tag, attrs in d.tags:
        for k, v in attrs.items():
            assert not k.startswith("on"), (tag, k)
            if k in ("src", "href", "xlink:href", "action"):
                assert (v or "").startswith(("#", "data:")), (tag, k, v)
    assert "url(" not in html and "@import" not in html


def test_html_shows_inputs_versions_incidents_and_timelines(attack_report):
    folder, rep, html = attack_report
    for inp in rep.readable:
        assert inp.sha256 in html
    assert "broken.pcap" in html and "not scanned" in html
    assert rep.model["version"] in html and rep.model["sha256"] in html
    d = dom(html)
    svgs = [a for t, a in d.tags if t == "svg" and "tl" in (a.get("class") or "")]
    involved = [h for h in rep.hosts if h.role != "normal"]
    assert len(svgs) == len(involved) == 4
    spans = [a for t, a in d.tags if t == "g" and a.get("class") == "span"]
    assert len(spans) == 4 and {s["data-category"] for s in spans} == {"DoS"}
    assert f"#{rep.incidents[0].id} DoS/TCP · 40 pkts · 40 flows" in html
    assert [a["id"] for t, a in d.tags if t == "article"] == ["incident-1", "incident-2"]


# --------------------------------------------------------------------------- HTML in Chromium


@pytest.mark.skipif(not CHROMIUM, reason="Debian package chromium is not installed")
def test_report_in_chromium_draws_timelines_and_makes_no_request(attack_report, tmp_path):
    _, rep, html = attack_report
    page = tmp_path / "report.html"
    render("html", rep, page)
    listener = _Listener()
    try:
        shot = tmp_path / "shot.png"
        chromium(page, tmp_path, screenshot=shot, proxy_port=listener.port)
        live = dom(chromium(page, tmp_path, dump_dom=True, proxy_port=listener.port))
        # positive control: the same browser set-up does report a page that loads something
        control = tmp_path / "control.html"
        control.write_text('<html><body><img src="http://forensics-control.invalid/x.png"></body></html>')
        chromium(control, tmp_path, dump_dom=True, proxy_port=listener.port)
    finally:
        listener.close()
    page_requests = [r for r in listener.requests if not _browser_service(r)]
    assert page_requests and all(b"forensics-control.invalid" in r for r in page_requests), page_requests
    assert sum(1 for t, a in live.tags if t == "rect") == 4
    # the timeline bars are on screen in the DoS colour
    px = png_pixels(shot)
    rgb = tuple(int(CATEGORY_COLOURS["DoS"][i : i + 2], 16) for i in (1, 3, 5))
    hits = ((px[:, :, 0] == rgb[0]) & (px[:, :, 1] == rgb[1]) & (px[:, :, 2] == rgb[2])).sum()
    assert hits > 500, hits


@pytest.mark.skipif(not (CHROMIUM and TSHARK), reason="needs chromium and tshark")
def test_hostile_strings_are_shown_escaped_and_never_run(tmp_path):
    cap = xss_capture(tmp_path)
    rep = scan([cap], ScanConfig(workers=1, extractor=EXTRACTOR, detector=DETECTOR, app_detail=True))
    details = {k: v for i in rep.incidents for k, v in i.app_detail.items() if v}
    assert details["http"][0]["uri"].startswith("/<script>") and details["dns"][0]["name"] == XSS_DNS
    assert details["mqtt"][0]["topic"] == XSS_MQTT
    page = tmp_path / "report.html"
    render("html", rep, page)
    raw = page.read_text()
    assert "<script" not in raw.lower() and "<img" not in raw and "<svg/" not in raw
    assert "&lt;script&gt;document.title=&#39;PWNED1&#39;&lt;/script&gt;" in raw
    # and without the CSP, escaping alone must keep everything inert
    no_csp = tmp_path / "no_csp.html"
    no_csp.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", raw))
    for p in (page, no_csp):
        live = dom(chromium(p, tmp_path, dump_dom=True))
        assert "PWNED" not in live.title and live.title.startswith("forensics incident report")
        assert not [t for t, _ in live.tags if t in ("script", "img", "iframe")]
        assert not [(t, k) for t, a in live.tags for k in a if k.startswith("on")]
        text = "".join(live.text)
        for n in range(1, 9):
            assert f"document.title='PWNED{n}'" in text, n
        assert XSS_FILE in text and XSS_MQTT in text and XSS_DNS in text


# --------------------------------------------------------------------------- machine outputs


def test_alerts_are_ecs_events_one_per_incident(attack_report, tmp_path):
    _, rep, _ = attack_report
    render("jsonl", rep, tmp_path / "alerts.jsonl")
    events = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert events == json.loads(json.dumps(alert_events(rep)))
    assert len(events) == len(rep.incidents) == 2
    for ev, inc in zip(events, rep.incidents):
        assert ev["@timestamp"].endswith("Z") and ev["event"]["kind"] == "alert"
        assert "intrusion_detection" in ev["event"]["category"]
        assert ev["source"]["ip"] == inc.attacker and ev["destination"]["ip"] == inc.victims[0]
        assert ev["threat"]["technique"]["id"] == ["T1498"] and ev["threat"]["tactic"]["name"] == ["Impact"]
        assert ev["network"]["packets"] == inc.packets and ev["network"]["bytes"] == inc.bytes
        assert ev["event"]["risk_score"] == round(100 * inc.confidence, 1)
        assert ev["network"]["transport"] in ("tcp", "udp", "icmp", ["tcp", "udp"])


def test_alert_of_arp_flows_has_no_arp_transport(attack_report):
    """ECS network.transport is an IP protocol: an incident made of ARP flows (the ARP step gives
    them their hosts' attack) says network.type "arp" instead; a mixed one keeps the IP protos."""
    import copy
    from dataclasses import replace

    _, rep, _ = attack_report
    rep = copy.deepcopy(rep)
    inc = rep.incidents[0]
    inc.top_flows = [replace(f, proto="arp") for f in inc.top_flows]
    ev = alert_events(rep)[0]
    assert "transport" not in ev["network"] and ev["network"]["type"] == "arp"
    inc.top_flows = [replace(inc.top_flows[0], proto="udp"), *inc.top_flows[1:]]
    ev = alert_events(rep)[0]
    assert ev["network"]["transport"] == "udp" and "type" not in ev["network"]


@pytest.mark.parametrize("name", ["flows.csv", "flows.parquet"])
def test_flow_table_has_every_flow_and_its_prediction(attack_report, tmp_path, name):
    _, rep, _ = attack_report
    render(name.split(".")[1], rep, tmp_path / name)
    df = pd.read_csv(tmp_path / name) if name.endswith("csv") else pd.read_parquet(tmp_path / name)
    assert len(df) == rep.flows == 82
    assert {"capture", "saddr", "daddr", "pred_category", "pred_subcategory", "confidence", "pred_attack", "evidence", "spkts"} <= set(df.columns)
    assert int(df["pred_attack"].astype(bool).sum()) == rep.attack_flows == 80


def test_json_summary_round_trips(attack_report, tmp_path):
    _, rep, _ = attack_report
    render("json", rep, tmp_path / "s.json")
    assert json.loads((tmp_path / "s.json").read_text()) == json.loads(json.dumps(rep.summary()))


def test_unknown_format_and_bad_flows_name_are_one_line_errors(attack_report, tmp_path):
    from forensics.errors import ForensicsError
    from forensics.report import flows_format

    with pytest.raises(ForensicsError, match="unknown report format 'pdf'"):
        render("pdf", attack_report[1], tmp_path / "x")
    with pytest.raises(ForensicsError, match=r"--flows out\.txt"):
        flows_format("out.txt")


# --------------------------------------------------------------------------- terminal


def test_terminal_summary_plain_off_a_tty(attack_report):
    _, rep, _ = attack_report
    buf = StringIO()
    render_terminal(rep, Console(file=buf, force_terminal=False, width=160))
    out = buf.getvalue()
    assert "\x1b[" not in out
    assert "broken.pcap" in out and "Incidents" in out and "10.66.0.5" in out and "DoS/TCP" in out
    assert "2 incident(s)" in out


def test_terminal_summary_lists_the_first_incidents_and_counts_the_rest(attack_report):
    # (a honeypot's background of internet scanners: 820 incidents of 3,000 scanners in one capture)
    _, rep, _ = attack_report
    buf = StringIO()
    render_terminal(rep, Console(file=buf, force_terminal=False, width=160), max_incidents=1)
    out = buf.getvalue()
    first, second = rep.incidents
    assert first.attacker in out and f"│ {second.attacker}" not in out
    assert "... and 1 more incidents (see the report; summary.json lists every one)" in out and "2 incident(s)" in out


def test_terminal_summary_coloured_on_a_tty(attack_report):
    _, rep, _ = attack_report
    buf = StringIO()
    render_terminal(rep, Console(file=buf, force_terminal=True, color_system="truecolor", width=160))
    out = buf.getvalue()
    assert "\x1b[" in out and "DoS" in out



@pytest.mark.parametrize(
    "make,verdict",
    [
        (lambda d: None, "No input could be read as a capture."),
        (lambda d: (d / "x.pcap").write_bytes(b""), "No input could be read as a capture."),
        (lambda d: write_pcap(d / "n.pcap", [udp("192.168.1.2", "192.168.1.3", 1, 2, b"x")] * 3), "No attack found in 1 flows."),
    ],
)
def test_html_without_incidents_renders_a_plain_verdict(tmp_path, make, verdict):
    make(tmp_path)
    html = render_html(scan([tmp_path], CFG))
    d = dom(html)
    text = " ".join(" ".join(d.text).split())
    assert verdict in text and "No attacker or victim: nothing to draw." in text and "No incident." in text
    assert not [a for t, a in d.tags if t == "svg"]


@pytest.mark.parametrize("workers", [1, 2])
def test_progress_on_a_tty_shows_files_and_stages(tmp_path, workers):
    from forensics.report.terminal import TerminalProgress

    attack_capture(tmp_path / "a.pcap")
    attack_capture(tmp_path / "b.pcap", attacker="10.66.0.7")
    class Recording(TerminalProgress):
        def __init__(self, console):
            super().__init__(console)
            self.seen = []

        def file_stage(self, path, stage):
            self.seen.append((os.path.basename(path), stage))
            super().file_stage(path, stage)

    buf = StringIO()
    console = Console(file=buf, force_terminal=True, width=120)
    cfg = ScanConfig(workers=workers, extractor=EXTRACTOR, detector=DETECTOR, app_detail=False)
    with Recording(console) as progress:
        rep = scan([tmp_path], cfg, progress=progress)
    out = buf.getvalue()
    assert rep.exit_status == 1
    # per-file stages reach the terminal from the worker processes too
    assert sorted(set(progress.seen)) == [("a.pcap", "detect"), ("a.pcap", "flows"), ("b.pcap", "detect"), ("b.pcap", "flows")]
    assert "captures" in out and "2/2" in out and "\x1b[" in out  # the last frame: both files done


def test_progress_off_a_tty_is_silent(tmp_path):
    from forensics.report.terminal import TerminalProgress

    attack_capture(tmp_path / "a.pcap")
    buf = StringIO()
    with TerminalProgress(Console(file=buf, force_terminal=False)) as progress:
        scan([tmp_path], ScanConfig(workers=1, extractor=EXTRACTOR, detector=DETECTOR, app_detail=False), progress=progress)
    assert buf.getvalue() == ""


def test_every_output_format_is_in_the_registry(attack_report):
    from forensics.report import RENDERERS, _load

    _load()
    assert {"html", "json", "jsonl", "csv", "parquet", "terminal"} <= set(RENDERERS)
    buf = StringIO()
    render("terminal", attack_report[1], Console(file=buf, force_terminal=False))
    assert "2 incident(s)" in buf.getvalue()


def test_worker_blame_context_gives_the_report_built_from_every_flow():
    """Workers look up each capture's MAC bindings and listening services for its attack flows
    (``attribution.blame_context``); the report built from those columns must be the one built
    from every flow of every capture (the path taken for results without them), and ``--flows``
    must not carry them."""
    import dataclasses

    from forensics import batch
    from forensics.attribution import CONTEXT_COLUMNS
    from forensics.report.model import build_report
    from forensics.scan import discover

    root = Path(__file__).resolve().parent.parent / "samples"
    cands = [c for c in discover([root]) if c.ok]
    cfg = ScanConfig(workers=1, app_detail=False, keep_flows=True)
    results = batch.run(cands, cfg)
    assert all(set(CONTEXT_COLUMNS) <= set(r.flows.columns) for r in results)
    # the samples exercise both look-ups: a forged flood traced through its MAC, a listening service
    traced = pd.concat([r.flows for r in results])
    assert (traced["_s_host"].astype(str) != "").any() and (traced["_s_listen"] | traced["_d_listen"]).any()
    bare = [dataclasses.replace(r, flows=r.flows.drop(columns=list(CONTEXT_COLUMNS))) for r in results]

    def summary(res):
        rep = build_report(cands, res, cfg, model={"version": "x", "sha256": "y"})
        assert not set(CONTEXT_COLUMNS) & set(rep.flow_table.columns)
        s = rep.summary()
        s.pop("started", None), s.pop("finished", None)
        return json.dumps(s, sort_keys=True, default=str), [i.evidence for i in rep.incidents]

    with_context, without = summary(results), summary(bare)
    assert with_context == without
    assert any("frames sent by MAC" in e for ev in with_context[1] for e in ev)


def test_ip_sort_key_orders_as_ipaddress_does():
    """The fast path (inet_pton of canonical text) gives ipaddress's key; anything else falls back."""
    import ipaddress

    from forensics.report.model import ip_sort_key

    def reference(ip):
        try:
            a = ipaddress.ip_address(ip)
            return (0, a.version, int(a), "")
        except ValueError:
            return (1, 0, 0, str(ip))

    values = ["10.0.0.1", "10.0.0.10", "9.255.255.255", "0.0.0.0", "255.255.255.255", "::", "::1",
              "2001:db8::1", "2001:DB8::1", "2001:0db8::1", "::ffff:1.2.3.4", "fe80::1%eth0", "01.2.3.4",
              "1.2.3", "02:1a:0a:4d:00:cc", "", "nan", "None", "10.0.0.256", "1.2.3.4 "]
    assert [ip_sort_key(v) for v in values] == [reference(v) for v in values]
    assert sorted(values, key=ip_sort_key) == sorted(values, key=reference)


def test_categorical_addresses_keep_their_values():
    """Addresses that arrive as categoricals keep their codes with str categories; where that
    would not give what astype(str) gives (missing values, categories equal as text), astype(str)."""
    import pandas as pd

    from forensics.report.model import _as_str

    for col in (pd.Series(pd.Categorical(["10.0.0.1", "10.0.0.2", "10.0.0.1"])),
                pd.Series(pd.Categorical(["10.0.0.1", None, "10.0.0.1"])),
                pd.Series(pd.Categorical([1, "1", 2], categories=[1, "1", 2])),
                pd.Series(["a", "b"], dtype=object)):
        assert list(_as_str(col).astype(str)) == list(col.astype(str))


def test_summary_json_reads_back_the_same_with_one_list_element_per_line(attack_report, tmp_path):
    from forensics.report.machine import write_summary

    _, rep, _ = attack_report
    summary = rep.summary()
    render("json", rep, tmp_path / "s.json")
    text = (tmp_path / "s.json").read_text()
    assert json.loads(text) == json.loads(json.dumps(summary, indent=2)) and text.endswith("}\n")
    lines = text.splitlines()
    for h in summary["hosts"]:  # each host on a line of its own, as the C encoder writes it
        assert f"    {json.dumps(h, ensure_ascii=False)}" in {line.rstrip(",") for line in lines}
    tricky = {"a": [], "b": [{"x": "é\"<\u2028", "y": None}, {"z": [1, 2.5]}], "c": {}, "d": 0}
    buf = StringIO()
    write_summary(tricky, buf)
    assert json.loads(buf.getvalue()) == tricky


def test_address_keys_and_covering_prefix():
    from forensics.report.model import _covering_prefix, address_keys, ip_sort_key

    odd = ["1.2.3.4", "01.2.3.4", "1.2.3", "::1", "::ffff:1.2.3.4", "02:00:00:00:00:01", "nan", "255.255.255.255",
           "0.0.0.0", None, 5, float("nan")]
    assert address_keys(odd) == [ip_sort_key(str(a)) for a in odd]
    assert _covering_prefix(["10.77.0.130", "10.77.0.190", "10.77.0.129"]) == "10.77.0.128/26"
    assert _covering_prefix(["10.77.0.128"]) == "10.77.0.128/32"
    assert _covering_prefix(["1.2.3.4", "200.1.1.1"]) == "0.0.0.0/0"
    assert _covering_prefix(["2001:db8::1", "2001:db8::ff"]) == "2001:db8::/120"
    assert _covering_prefix(["1.2.3.4", "::1"]) is None  # two families: no one prefix
    assert _covering_prefix(["10.0.0.1", "02:00:00:00:00:01"]) is None and _covering_prefix([]) is None


def test_timeline_ticks_carry_the_date_when_the_axis_spans_days():
    """A time of day alone is ambiguous on an axis that crosses midnight (a capture of several
    days) or spans years (a clock set during the capture): such ticks carry the date."""
    from forensics.report.html import _ticks

    t0 = 1_795_708_269.0  # 2026-11-26 15:51:09 UTC
    assert [lab for _, lab in _ticks(t0, t0 + 40, 800)][:2] == ["15:51:10", "15:51:15"]
    assert [lab for _, lab in _ticks(t0, t0 + 0.5, 800)][:2] == ["15:51:09.000", "15:51:09.100"]
    assert [lab for _, lab in _ticks(t0, t0 + 20 * 3600, 800)][:3] == ["11-26 18:00", "11-26 21:00", "11-27 00:00"]
    assert [lab for _, lab in _ticks(t0, t0 + 3 * 86400, 800)][:2] == ["11-27 00:00", "11-27 12:00"]
    years = [lab for _, lab in _ticks(3.0, t0, 800)]
    assert len(years) >= 5 and all(len(lab) == 10 and lab[4] == "-" for lab in years), years
