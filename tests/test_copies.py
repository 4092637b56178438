"""Packets a capture holds twice (forensics.copies): the mirror-port warning."""

from __future__ import annotations

from pathlib import Path

import dpkt
import pytest

from forensics.copies import LAGS, WINDOW_NS, CopyWatch, comparable, is_copies_warning
from forensics.decode import stream_packets

try:  # tests/ may or may not be a package
    from tests.pcapgen import write_events
except ImportError:
    from pcapgen import write_events

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "mixed" / "capture.pcap"


def records(path):
    with open(path, "rb") as fh:
        return [(ts, bytes(buf)) for ts, buf in dpkt.pcap.Reader(fh)]


def write(path, recs):
    return write_events(path, recs, sort=False)  # (file order as given: copies follow their packets)


def copies_of(path, chunk=1_000_000):
    s = stream_packets(str(path), chunk_packets=chunk, hash_file=False)
    for _ in s:
        pass
    return s._copies, [w for w in s.accounting.warnings if is_copies_warning(w)]


def n_comparable(path):
    """The IPv4 packets of a capture a copy of which would be found."""
    return sum(int(((t.columns["ip_version"] == 4) & (t.columns["status"] == 0) & comparable(t.columns)).sum())
               for t in stream_packets(str(path), hash_file=False))


def routed(buf):
    """The frame as the other side of a router sees it: one hop less, other MACs."""
    eth = dpkt.ethernet.Ethernet(buf)
    if isinstance(eth.data, dpkt.ip.IP):
        eth.data.ttl = max(0, eth.data.ttl - 1)
        eth.src, eth.dst = b"\x02\x00\x00\x00\x01\x01", b"\x02\x00\x00\x00\x01\x02"
    return bytes(eth)


def test_a_capture_with_every_packet_twice_is_warned_about(tmp_path):
    recs = records(SAMPLE)
    watch, warn = copies_of(SAMPLE)
    assert watch.copies < 10 and not warn  # the sample itself: no warning
    doubled = write(tmp_path / "span.pcap", [r for ts, buf in recs for r in ((ts, buf), (ts + 20e-6, routed(buf)))])
    watch2, (text,) = copies_of(doubled)
    # every comparable packet's copy is found (a packet the sample already holds twice counts as well)
    assert watch2.ip4 == 2 * watch.ip4
    assert watch2.copies >= n_comparable(SAMPLE) > watch.ip4 // 2
    assert f"{watch2.copies:,} of {watch2.ip4:,} IPv4 packets" in text and "mirror port" in text
    # chunk boundaries do not hide a copy
    assert copies_of(doubled, chunk=7)[0].copies == watch2.copies


def test_copies_later_than_the_window_or_further_back_than_the_lags_are_no_copies(tmp_path):
    recs = records(SAMPLE)[:400]
    late = write(tmp_path / "late.pcap", [r for ts, buf in recs for r in ((ts, buf), (ts + 2 * WINDOW_NS / 1e9, buf))])
    # (a copy more than LAGS packets after its packet: the whole list written twice)
    far = write(tmp_path / "far.pcap", recs + [(ts + 1e-6, buf) for ts, buf in recs])
    for path in (late, far):
        watch, warn = copies_of(path)
        assert not warn, path.name
    assert LAGS < len(recs)


def test_the_warning_needs_a_share_of_the_packets():
    w = CopyWatch()
    w.ip4, w.copies, w.first_at = 100_000, 20, 5
    assert w.warning() is None  # 0.02 %: a few nmap retransmissions, no mirror port
    w.copies = 900
    assert w.warning().startswith("900 of 100,000 IPv4 packets (0.9 %) are copies of a packet up to 4 packets and 10 ms")


def test_a_scan_reports_the_warning(tmp_path):
    from forensics.scan import ScanConfig, scan

    recs = records(SAMPLE)
    doubled = write(tmp_path / "span.pcap", [r for ts, buf in recs for r in ((ts, buf), (ts + 5e-6, buf))])
    rep = scan([doubled], ScanConfig(workers=1, app_detail=False))
    (inp,) = rep.inputs
    assert any(is_copies_warning(w) for w in inp.warnings)
    # the banner, the terminal and every alert of the capture say so ...
    import io

    from rich.console import Console

    from forensics.report.html import render_html
    from forensics.report.machine import alert_events
    from forensics.report.terminal import render as render_terminal

    assert 'id="copies-note">1 capture holds packets twice' in render_html(rep)
    out = io.StringIO()
    render_terminal(rep, Console(file=out, width=400))
    assert "Captures holding packets twice (counts doubled; --drop-copies counts them once):" in out.getvalue()
    events = alert_events(rep)
    assert events and all("forensics-capture-copies" in e["tags"] and e["forensics"]["capture_copies"] for e in events)
    # ... but not when --drop-copies counted them once (the inputs' warning still tells)
    rep = scan([doubled], ScanConfig(workers=1, app_detail=False, drop_copies=True))
    assert any(is_copies_warning(w) for w in rep.inputs[0].warnings) and not rep.copies_warnings
    assert "copies-note" not in render_html(rep)
    assert not any("forensics-capture-copies" in e.get("tags", []) for e in alert_events(rep))


@pytest.mark.parametrize("lag", [1, LAGS])
def test_a_copy_up_to_lags_packets_later_is_found(tmp_path, lag):
    recs = records(SAMPLE)[:300]
    out = []
    for i in range(0, len(recs), lag):
        group = recs[i:i + lag]
        out += group + [(ts + 1e-6 * (lag + 1), buf) for ts, buf in group]
    watch, warn = copies_of(write(tmp_path / "lag.pcap", out))
    assert watch.copies >= n_comparable(write(tmp_path / "one.pcap", recs)) > 0 and warn


def incident_keys(rep):
    return sorted((i.attacker, tuple(i.victims), i.category, i.subcategory) for i in rep.incidents)


def test_drop_copies_gives_the_verdicts_of_the_capture_without_them(tmp_path):
    """samples/mixed with every packet twice (5 us apart): Argus-style counting doubles every flow,
    and the verdicts change (the broker became a scanner of the attacker); with --drop-copies the
    incidents are those of the sample itself."""
    from forensics.scan import ScanConfig, scan

    doubled = write(tmp_path / "span.pcap", [r for ts, buf in records(SAMPLE) for r in ((ts, buf), (ts + 5e-6, buf))])
    plain = scan([SAMPLE], ScanConfig(workers=1, app_detail=False))
    kept = scan([doubled], ScanConfig(workers=1, app_detail=False))
    dropped = scan([doubled], ScanConfig(workers=1, app_detail=False, drop_copies=True))
    assert incident_keys(kept) != incident_keys(plain)
    assert incident_keys(dropped) == incident_keys(plain)
    (inp,) = dropped.inputs
    assert any(is_copies_warning(w) and "left out of the flows (--drop-copies)" in w for w in inp.warnings)
    assert inp.packets == 2 * plain.inputs[0].packets  # (the accounting counts every record read)


def test_drop_copies_in_forensics_flows_is_the_same_for_any_chunking(tmp_path):
    from forensics.cli import main

    recs = records(SAMPLE)
    doubled = write(tmp_path / "span.pcap", [r for ts, buf in recs for r in ((ts, buf), (ts + 5e-6, routed(buf)))])
    outs = []
    for chunk in (7, 1_000_000):
        out = tmp_path / f"f{chunk}.csv"
        assert main(["flows", str(doubled), "-o", str(out), "--drop-copies", "--chunk-packets", str(chunk)]) == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    base = tmp_path / "base.csv"
    assert main(["flows", str(doubled), "-o", str(base)]) == 0
    import pandas as pd

    with_copies, without = pd.read_csv(base), pd.read_csv(tmp_path / "f7.csv")
    assert without["pkts"].sum() < with_copies["pkts"].sum() <= 2 * without["pkts"].sum()


def test_drop_copies_travels_to_a_dask_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    from forensics.scan import ScanConfig, scan

    doubled = write(tmp_path / "span.pcap", [r for ts, buf in records(SAMPLE) for r in ((ts, buf), (ts + 5e-6, buf))])
    local = scan([doubled], ScanConfig(workers=1, app_detail=False, drop_copies=True)).summary()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        remote = scan([doubled], ScanConfig(dask=cluster.scheduler_address, app_detail=False, drop_copies=True)).summary()
    assert remote == local
    assert any("left out of the flows (--drop-copies)" in w for w in remote["inputs"][0]["warnings"])
