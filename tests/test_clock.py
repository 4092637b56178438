"""The capture's clock (forensics.clock): steps back, jumps and a clock never set are warned about,
the same whatever the chunking, and the warnings reach the scan's outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from forensics.clock import BACK_WARN_NS, JUMP_NS, ClockWatch
from forensics.decode import stream_packets
from tests.pcapgen import _ip4, eth, pcap_bytes, udp

T0 = 1_795_708_269 * 10**9  # 2026-11-26


def _capture(path, stamps):
    frames = [eth(bytes(_ip4("10.1.0.1", "10.1.0.2", p=17, data=udp(40000 + i % 7, 53, b"q" * 20))))
              for i in range(len(stamps))]
    path.write_bytes(pcap_bytes(list(zip(stamps, frames))))
    return path


def _warnings(path, chunk=1_000_000):
    s = stream_packets(path, chunk_packets=chunk, hash_file=False)
    for _ in s:
        pass
    return s.accounting


def _one(acc, text):
    got = [w for w in acc.warnings if text in w]
    assert len(got) == 1, acc.warnings
    return got[0]


def test_an_ordered_capture_on_a_set_clock_gets_no_warning(tmp_path):
    acc = _warnings(_capture(tmp_path / "ok.pcap", [T0 + i * 10**6 for i in range(100)]))
    assert acc.warnings == [] and acc.out_of_order == 0


def test_steps_back_are_counted_and_only_those_of_a_millisecond_or_more_are_warned_about(tmp_path):
    stamps = [T0 + i * 10**7 for i in range(200)]
    stamps[50] = stamps[49] - 1_000  # 1 µs back: counted, not warned about
    acc = _warnings(_capture(tmp_path / "jitter.pcap", stamps))
    assert acc.out_of_order == 1 and acc.warnings == []
    stamps[120], stamps[121] = stamps[121], stamps[120]  # 10 ms back at record 121
    stamps[180] = stamps[179] - 3 * 10**9  # 3 s back at record 180
    acc = _warnings(_capture(tmp_path / "merged.pcap", stamps))
    assert acc.out_of_order == 3
    w = _one(acc, "stamped earlier")
    assert w.startswith("3 packet(s) stamped earlier than the packet before them in the file, 2 of them by 1 ms or more "
                        "(at most 3 s, first at record 121)"), w
    assert "flows follow file order" in w


def test_a_clock_set_during_the_capture_and_a_clock_never_set(tmp_path):
    boot = [3 * 10**9 + i * 10**8 for i in range(50)]  # 1970, until NTP sets the clock
    synced = [T0 + i * 10**8 for i in range(50)]
    acc = _warnings(_capture(tmp_path / "ntp.pcap", boot + synced))
    assert _one(acc, "first timestamp").startswith("the capture's first timestamp is 1970-01-01 00:00:03 UTC, before 1980")
    w = _one(acc, "jumps forward")
    assert w.startswith("the clock jumps forward by 56.9 years at record 50 (1970-01-01 00:00:07 UTC -> "
                        "2026-11-26 15:51:09 UTC): a clock set during the capture"), w
    assert "stamped earlier" not in " ".join(acc.warnings)
    # a day's pause is a jump too; less is not
    acc = _warnings(_capture(tmp_path / "pause.pcap", [T0, T0 + 10**9, T0 + 10**9 + JUMP_NS, T0 + 2 * 10**9 + JUMP_NS,
                                                        T0 + 2 * 10**9 + 2 * JUMP_NS - 1]))
    assert _one(acc, "jumps forward").startswith("the clock jumps forward by 1 day at record 2 ")
    assert len(acc.warnings) == 1


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_the_same_warnings_whatever_the_chunking(tmp_path, chunk):
    rng = np.random.default_rng(3)
    stamps = (T0 + np.cumsum(rng.integers(0, 2 * 10**7, 300))).tolist()
    for k in (7, 63, 64, 200):  # steps back at and around chunk boundaries
        stamps[k] = stamps[k - 1] - (k + 1) * BACK_WARN_NS
    stamps[150:] = [s + 3 * JUMP_NS for s in stamps[150:]]
    path = _capture(tmp_path / "c.pcap", stamps)
    whole = _warnings(path)
    assert len(whole.warnings) == 2 and whole.out_of_order == 4
    part = _warnings(path, chunk=chunk)
    assert part.warnings == whole.warnings and part.out_of_order == whole.out_of_order


def test_clockwatch_batches_equal_one_batch():
    rng = np.random.default_rng(5)
    ts = T0 + rng.integers(-10**9, 10**9, 1000).cumsum()
    ts[500:] += 2 * JUMP_NS
    ts[10] = 0  # a 1970 stamp in the middle (not the first: no "never set" line)
    idx = np.arange(1000)
    one = ClockWatch()
    one.add(ts, idx)
    many = ClockWatch()
    for lo in range(0, 1000, 37):
        many.add(ts[lo:lo + 37], idx[lo:lo + 37])
    assert one.warnings() == many.warnings() and one.back == many.back and len(one.warnings()) == 2


def test_the_scan_reports_the_clock_warnings(tmp_path):
    from forensics.cli import main

    boot = [3 * 10**9 + i * 10**8 for i in range(50)]
    path = _capture(tmp_path / "ntp.pcap", boot + [T0 + i * 10**8 for i in range(50)])
    out = tmp_path / "s.json"
    html = tmp_path / "r.html"
    alerts = tmp_path / "a.jsonl"
    assert main(["scan", str(path), "--workers", "1", "--no-app-detail", "-q", "--json", str(out),
                 "--report", str(html), "--alerts", str(alerts)]) in (0, 1)
    [inp] = json.loads(out.read_text())["inputs"]
    assert any("jumps forward by 56.9 years" in w for w in inp["warnings"])
    assert any("before 1980" in w for w in inp["warnings"])
    page = html.read_text()
    assert "jumps forward by 56.9 years" in page
    assert ('<span id="clock-note">The clock of 1 capture was not set, jumps or steps back: the times of its incidents '
            "may not be wall-clock times") in page


def test_the_terminal_summary_lists_clock_warnings_and_only_those(tmp_path):
    from io import StringIO

    from rich.console import Console

    from forensics.clock import is_clock_warning
    from forensics.report.terminal import render
    from forensics.scan import ScanConfig, scan

    boot = [3 * 10**9 + i * 10**8 for i in range(50)]
    paths = [_capture(tmp_path / "ntp.pcap", boot + [T0 + i * 10**8 for i in range(50)]),
             _capture(tmp_path / "ok.pcap", [T0 + i * 10**6 for i in range(100)])]
    report = scan(paths, ScanConfig(workers=1, app_detail=False))
    buf = StringIO()
    render(report, Console(file=buf, force_terminal=False, width=400))
    text = buf.getvalue()
    assert "Capture clocks (incident times follow them):" in text
    lines = [ln for ln in text.splitlines() if ln.startswith("  ") and "pcap: " in ln]
    assert len(lines) == 2 and all(str(paths[0]) in ln for ln in lines), lines
    assert is_clock_warning(lines[0].split(": ", 1)[1]) and is_clock_warning(lines[1].split(": ", 1)[1])
    assert not is_clock_warning("capture holds no packets")
    buf = StringIO()
    render(scan(paths[1:], ScanConfig(workers=1, app_detail=False)), Console(file=buf, force_terminal=False, width=400))
    assert "Capture clocks" not in buf.getvalue()


def test_a_report_of_captures_with_sound_clocks_has_no_clock_note(tmp_path):
    from forensics.report.html import render_html
    from forensics.scan import ScanConfig, scan

    path = _capture(tmp_path / "ok.pcap", [T0 + i * 10**6 for i in range(100)])
    assert 'id="clock-note"' not in render_html(scan([path], ScanConfig(workers=1, app_detail=False)))


def test_the_terminal_shows_the_year_of_incidents_on_a_clock_never_set(tmp_path):
    """Incident starts are printed as month-day: on a 1970 clock that reads as this year's
    January 1st, so the year is printed when the incidents lie before 1980 or span years."""
    from io import StringIO

    from rich.console import Console

    from forensics.report.model import Incident
    from forensics.report.terminal import render
    from forensics.scan import ScanConfig, scan

    report = scan([_capture(tmp_path / "ok.pcap", [T0 + i * 10**6 for i in range(100)])],
                  ScanConfig(workers=1, app_detail=False))

    def starts(*times):
        report.incidents = [Incident(id=k + 1, attacker="10.1.0.1", victims=["10.1.0.2"], category="DoS",
                                     subcategory="UDP", start=t, end=t + 1, flows=1, packets=60, bytes=1,
                                     confidence=0.9, evidence=[]) for k, t in enumerate(times)]
        buf = StringIO()
        render(report, Console(file=buf, force_terminal=False, width=300))
        return buf.getvalue()

    assert " 11-26 15:51:09 " in starts(T0 / 1e9)
    assert " 1970-01-01 00:00:03 " in starts(3.0)
    out = starts(3.0, T0 / 1e9)
    assert " 1970-01-01 00:00:03 " in out and " 2026-11-26 15:51:09 " in out



def test_alerts_of_a_capture_with_a_suspect_clock_say_so():
    from forensics.report.machine import alert_events
    from forensics.report.model import Incident, Input, Report

    def report(warnings):
        inp = Input(path="c.pcap", sha256=None, size=1, format="pcap", compression=None, packets=1, decoded=1,
                    undecodable={}, warnings=warnings, error=None)
        inc = Incident(id=1, attacker="10.1.0.1", victims=["10.1.0.2"], category="DoS", subcategory="UDP", start=3.0,
                       end=4.0, flows=1, packets=60, bytes=1, confidence=0.9, evidence=["x"], captures=["c.pcap"])
        return Report(tool={"name": "forensics", "version": "0"}, model={}, inputs=[inp], flows=1, attack_flows=1,
                      hosts=[], incidents=[inc])

    note = "the capture's first timestamp is 1970-01-01 00:00:03 UTC, before 1980: ..."
    [ev] = alert_events(report([note, "capture holds tunnels"]))
    assert ev["forensics"]["capture_clock"] == [note] and ev["tags"] == ["forensics-capture-clock"]
    [ev] = alert_events(report(["capture holds tunnels"]))
    assert "capture_clock" not in ev["forensics"] and "tags" not in ev
