"""The lab for real: namespaces, real tools, capture, labels, teardown (root only, skipped otherwise)."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from forensics.lab import scenarios as sc
from forensics.lab.flows import labeled_flows
from forensics.lab.topology import list_namespaces, pids_in_netns

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("ip", "tcpdump", "hping3", "nmap", "mosquitto", "mosquitto_pub", "mosquitto_sub", "timeout")


def _lab_available() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    missing = [t for t in TOOLS if not shutil.which(t) and not Path("/usr/sbin", t).exists()]
    if missing:
        return f"missing tools: {missing}"
    r = subprocess.run(["ip", "netns", "list"], capture_output=True)
    if r.returncode != 0:
        return "ip netns unavailable"
    name = f"fxprobe{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True)
    if r.returncode != 0:
        return "cannot create network namespaces"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    try:
        from forensics.features import extract_flows  # noqa: F401
    except ImportError:
        if not shutil.which("racluster"):
            return "no flow builder (forensics.features.extract_flows or argus/racluster)"
    return None


_REASON = _lab_available()
pytestmark = [pytest.mark.root, pytest.mark.skipif(_REASON is not None, reason=str(_REASON))]


def _assert_torn_down(run_dir: Path) -> None:
    state = json.loads((run_dir / "lab-state.json").read_text())
    assert state["namespaces"], "lab recorded no namespaces"
    left = set(list_namespaces()) & set(state["namespaces"])
    assert not left, f"namespaces left behind: {left}"
    for ns in state["namespaces"]:
        assert not Path("/run/netns", ns).exists()
    inodes = {i for i in state["netns_inodes"].values() if i}
    assert not pids_in_netns(inodes), "processes still running in a lab namespace"
    for pid in state["pids"]:
        alive = Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes() if alive else b""
        # a recycled PID would be someone else's process; ours ran in a lab namespace (checked above)
        assert not alive or b"hping3" not in cmd and b"agents.py" not in cmd and b"mosquitto" not in cmd, pid
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    for link in state["links"]:
        if link != "br0":
            assert f" {link}@" not in links and f" {link}:" not in links, f"link {link} left in the root namespace"


def _max_frame(pcap: Path) -> int:
    """Largest original frame length in a classic pcap (tcpdump -w output)."""
    import struct

    data = pcap.read_bytes()
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    pos, biggest = 24, 0
    while pos + 16 <= len(data):
        _, _, incl, orig = struct.unpack_from(endian + "IIII", data, pos)
        biggest = max(biggest, orig)
        pos += 16 + incl
    return biggest


def _in_nets(addr: str, nets: list[str]) -> bool:
    return sc.spoof_contains(nets, addr)


def check_run(run_dir: Path, expect_sub: str) -> None:
    """The acceptance checks on one run's labeled flows."""
    truth = json.loads((run_dir / "truth.json").read_text())
    df = labeled_flows(run_dir)
    normal = df[df["attack"] == 0]
    # Normal IoT traffic is present: MQTT to the broker, HTTP polling, CoAP-like and DNS-like UDP.
    broker, cam = sc.ip("broker"), sc.ip("cam")
    assert ((normal["daddr"] == broker) | (normal["saddr"] == broker)).sum() >= 3
    assert ((normal["daddr"] == cam) & (normal["saddr"] == sc.ip("client1"))).any()
    assert (normal["daddr"] == sc.ip("dns")).sum() >= 2
    assert set(normal["category"]) == {"Normal"}
    if expect_sub == "Normal":
        assert truth["attacks"] == [] and df["attack"].sum() == 0
        return
    att = df[df["attack"] == 1]
    assert len(att) > 0, "no attack flow"
    assert set(att["subcategory"]) == {expect_sub}
    for a in truth["attacks"]:
        ends = set(a["attackers"]) | set(a["victims"])
        for s, d in zip(att["saddr"], att["daddr"]):
            forged = lambda x: _in_nets(x, a["spoofed"]) and x not in {h["ip"] for h in truth["hosts"].values()}  # noqa: E731
            assert (s in a["attackers"] or forged(s) or d in a["attackers"] or forged(d)), (s, d)
            assert s in ends or d in ends
        assert (att["ltime"] >= a["start"]).all()
        assert (att["stime"] <= a["end"] + truth["label_tail_s"]).all()
        assert a["start"] >= truth["capture_start"] and a["end"] <= truth["capture_end"]
        # most attack flows begin inside the window itself
        assert ((att["stime"] >= a["start"] - 0.5) & (att["stime"] <= a["end"] + 0.5)).mean() > 0.9
    proto = att["proto"].astype(str).str.lower()
    if expect_sub == "TCP":
        assert (proto == "tcp").mean() > 0.9
    elif expect_sub == "UDP":
        assert (proto == "udp").mean() > 0.5  # the rest: ICMP port unreachable replies
    elif expect_sub == "HTTP":
        tcp = att[proto == "tcp"]
        ports = pd.to_numeric(tcp["dport"], errors="coerce").eq(80) | pd.to_numeric(tcp["sport"], errors="coerce").eq(80)
        assert len(tcp) > 0 and ports.mean() > 0.9
    elif expect_sub == "Service_Scan":
        assert att["dport"].nunique() >= 10
    elif expect_sub == "OS_Fingerprint":
        assert att["dport"].nunique() >= 3 and len(att) >= 5
    elif expect_sub == "Keylogging":
        assert int(att["pkts"].max()) >= 10  # one long session of keystroke-sized messages
    elif expect_sub == "Data_Exfiltration":
        assert int(att["bytes"].max()) > 50_000


def test_smoke_run_labels_and_teardown(tmp_path):
    """A short real run (< 1 min): attack flows from the attacker inside the window, Normal present, nothing left."""
    from forensics.lab.runner import run_scenario

    d = tmp_path / "keylogging" / "run0"
    r = run_scenario(d, "keylogging", 0, seed=12345, duration=12.0)
    assert r.capture_bytes > 1000 and (d / "truth.json").exists()
    truth = json.loads((d / "truth.json").read_text())
    assert truth["category"] == "Theft" and truth["tools"]["hping3"] != "unavailable"
    assert all(ipaddress.ip_address(h["ip"]) in ipaddress.ip_network(truth["subnet"]) for h in truth["hosts"].values())
    check_run(d, "Keylogging")
    # frames are wire-sized (no 64 KB TSO super-frames on the bridge)
    assert _max_frame(d / "capture.pcap") <= 1514
    _assert_torn_down(d)
    assert not [ns for ns in list_namespaces() if ns.startswith(f"fx{os.getpid()}r")]  # other labs may run meanwhile


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_leaves_nothing(tmp_path, sig):
    out = tmp_path / "lab"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # SIGINT back to its default in the child: a test run started in the background of a
    # non-interactive shell inherits SIGINT ignored, and Python then keeps ignoring it
    proc = subprocess.Popen([sys.executable, "-m", "forensics", "lab", str(out), "--scenario", "dos_udp", "--duration", "20"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    run_dir = out / "dos_udp" / "run0"
    deadline = time.time() + 30
    try:
        # interrupt while the attack is running (an hping3 has been spawned)
        while time.time() < deadline:
            log = run_dir / "lab.log"
            if log.exists() and "hping3" in log.read_text(errors="replace"):
                break
            time.sleep(0.2)
        else:
            pytest.fail("the attack never started")
        time.sleep(1.0)
        proc.send_signal(sig)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, output
    assert b"interrupted" in output
    assert not (run_dir / "truth.json").exists()  # an interrupted run has no truth: never mistaken for data
    assert not (run_dir / "mosquitto.conf").exists()
    _assert_torn_down(run_dir)


@pytest.mark.slow
def test_every_subcategory_and_normal(tmp_path):
    """One real run of each of the 10 BoT-IoT subcategories plus Normal, checked flow by flow."""
    from forensics.lab.runner import run_lab

    results = run_lab(tmp_path, list(sc.SCENARIOS), runs=1, seed=2024, duration=20.0, log=lambda m: None)
    assert len(results) == 11
    for r in results:
        check_run(r.dir, sc.SCENARIOS[r.scenario][1])
        _assert_torn_down(r.dir)


@pytest.mark.slow
def test_mixed_run_has_three_attacks(tmp_path):
    from forensics.lab.runner import run_scenario

    d = tmp_path / "mixed" / "run0"
    run_scenario(d, "mixed", 0, seed=99, duration=30.0)
    truth = json.loads((d / "truth.json").read_text())
    assert len(truth["attacks"]) == 3
    df = labeled_flows(d)
    assert set(df.loc[df.attack == 1, "subcategory"]) == {a["subcategory"] for a in truth["attacks"]}
    _assert_torn_down(d)
