"""Unit tests of the lab's ground truth and BoT-IoT flow labeling (no root needed)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from forensics.errors import ForensicsError, SchemaError
from forensics.lab import scenarios as sc
from forensics.lab.runner import _schedule, run_seed
from forensics.lab.truth import label_flows, load_truth

ATK, VIC, CLIENT = "10.77.0.201", "10.77.0.20", "10.77.0.100"


def _truth(**attack):
    a = {"category": "DoS", "subcategory": "TCP", "attackers": [ATK], "victims": [VIC], "spoofed": [],
         "start": 100.0, "end": 110.0}
    a.update(attack)
    return {"scenario": "dos_tcp", "attacks": [a], "label_tail_s": 2.0,
            "hosts": {"cam": {"ip": VIC}, "atk1": {"ip": ATK}, "client1": {"ip": CLIENT}}}


def _flows(rows):
    return pd.DataFrame(rows, columns=["saddr", "daddr", "stime", "ltime", "proto"])


def test_attacker_victim_pairs_in_window_are_attack_either_direction():
    df = _flows([
        (ATK, VIC, 101.0, 101.5, "tcp"),      # attacker -> victim, inside
        (VIC, ATK, 105.0, 106.0, "tcp"),      # victim -> attacker (reply / exfil direction)
        (CLIENT, VIC, 101.0, 102.0, "tcp"),   # normal client to the victim during the attack
        (ATK, VIC, 90.0, 95.0, "tcp"),        # before the window
        (ATK, VIC, 112.5, 113.0, "tcp"),      # after end + tail
        (ATK, VIC, 111.0, 111.5, "tcp"),      # inside the tail
        (ATK, VIC, 95.0, 100.5, "tcp"),       # began before, overlaps the start
        (ATK, CLIENT, 101.0, 101.5, "tcp"),   # attacker to a non-victim
    ])
    out = label_flows(df, _truth())
    assert out["attack"].tolist() == [1, 1, 0, 0, 0, 1, 1, 0]
    assert out.loc[out.attack == 1, "category"].unique().tolist() == ["DoS"]
    assert out.loc[out.attack == 1, "subcategory"].unique().tolist() == ["TCP"]
    assert set(out.loc[out.attack == 0, "category"]) == {"Normal"}
    assert set(out.loc[out.attack == 0, "subcategory"]) == {"Normal"}
    assert "attack" not in df.columns  # input untouched


def test_spoofed_sources_to_victim_are_attack_but_lab_hosts_are_not():
    truth = _truth(category="DDoS", spoofed=["10.77.0.128/26"])
    df = _flows([
        ("10.77.0.150", VIC, 101.0, 101.0, "tcp"),   # forged source inside the range
        (VIC, "10.77.0.150", 101.0, 103.0, "tcp"),   # victim's replies toward it
        ("10.77.0.150", CLIENT, 101.0, 101.0, "tcp"),  # not to a victim
        ("10.77.0.50", VIC, 101.0, 101.0, "tcp"),    # outside the spoofed range
    ])
    assert label_flows(df, truth)["attack"].tolist() == [1, 1, 0, 0]
    rand = _truth(category="DDoS", spoofed=["0.0.0.0/0"])
    df2 = _flows([("203.0.113.9", VIC, 101.0, 101.0, "udp"), (CLIENT, VIC, 101.0, 101.0, "udp"),
                  ("203.0.113.9", VIC, 130.0, 131.0, "udp"), ("not-an-ip", VIC, 101.0, 101.0, "arp")])
    # a lab host (the client) is never a forged source, even with 0.0.0.0/0
    assert label_flows(df2, rand)["attack"].tolist() == [1, 0, 0, 0]


def test_several_attacks_and_normal_truth():
    truth = _truth()
    truth["attacks"].append({"category": "Reconnaissance", "subcategory": "Service_Scan", "attackers": ["10.77.0.202"],
                             "victims": ["10.77.0.21", "10.77.0.22"], "start": 200.0, "end": 210.0})
    df = _flows([(ATK, VIC, 101, 102, "tcp"), ("10.77.0.202", "10.77.0.22", 205, 205, "tcp"),
                 ("10.77.0.202", "10.77.0.21", 205, 205, "udp"), ("10.77.0.202", VIC, 205, 205, "tcp")])
    out = label_flows(df, truth)
    assert out["subcategory"].tolist() == ["TCP", "Service_Scan", "Service_Scan", "Normal"]
    normal = label_flows(df, {"scenario": "normal", "attacks": []})
    assert normal["attack"].sum() == 0 and set(normal["category"]) == {"Normal"}
    empty = label_flows(df.iloc[:0], truth)
    assert list(empty.columns)[-3:] == ["attack", "category", "subcategory"] and len(empty) == 0


def test_bad_inputs_raise_one_line_errors(tmp_path):
    with pytest.raises(SchemaError, match="ltime"):
        label_flows(pd.DataFrame({"saddr": [ATK], "daddr": [VIC], "stime": [1.0]}), _truth())
    with pytest.raises(ForensicsError, match="subcategory"):
        label_flows(_flows([]), _truth(subcategory="Flood"))
    with pytest.raises(ForensicsError, match="start/end"):
        label_flows(_flows([]), _truth(start=10.0, end=5.0))
    p = tmp_path / "truth.json"
    p.write_text("{not json")
    with pytest.raises(ForensicsError, match=str(p)):
        load_truth(p)
    p.write_text(json.dumps(_truth()))
    assert load_truth(p)["scenario"] == "dos_tcp"
    with pytest.raises(ForensicsError, match="cannot read"):
        load_truth(tmp_path / "missing.json")


@pytest.mark.parametrize("scenario", list(sc.SCENARIOS)[1:])
def test_every_attack_plan_is_bounded(scenario):
    """Each generator is wrapped in timeout and bounded in packets/requests/bytes; hping3 never --flood."""
    for k in range(5):
        import random

        rng = random.Random(run_seed(7, scenario, k))
        plan = sc.plan_attack(scenario, rng, 12.0)
        assert plan.steps and plan.attackers and plan.victims
        for step in plan.steps:
            assert step.argv[0] == "timeout"
            tool = step.argv[step.argv.index("-k") + 3]
            if "hping3" in step.argv:
                assert "--flood" not in step.argv and "-c" in step.argv
                assert int(step.argv[step.argv.index("-c") + 1]) <= 30000
            if tool == "nmap":
                assert "-n" in step.argv  # no DNS lookups
            for addr in (a for a in step.argv if a.count(".") == 3 and a.replace(".", "").isdigit()):
                assert addr.startswith(sc.SUBNET + ".")
        if plan.spoofed:
            assert plan.category in ("DoS", "DDoS")


def test_run_seeds_differ_and_schedules_fit():
    seeds = {run_seed(0, s, k) for s in sc.SCENARIOS for k in range(6)}
    assert len(seeds) == len(sc.SCENARIOS) * 6
    import random

    for s in list(sc.SCENARIOS) + ["mixed"]:
        sched, total = _schedule(s, random.Random(1), 30.0)
        assert total >= 30.0
        for off, name, secs in sched:
            assert off >= 3 and off + secs <= total
    assert _schedule("normal", random.Random(1), 30.0) == ([], 30.0)


def test_lab_refuses_cleanly_without_root_or_with_bad_arguments(monkeypatch, tmp_path):
    from forensics.lab import runner, topology

    monkeypatch.setattr(topology.os, "geteuid", lambda: 1000)
    with pytest.raises(topology.LabError, match="needs root"):
        runner.run_lab(tmp_path, ["normal"])
    monkeypatch.setattr(runner, "check_environment", lambda: None)
    with pytest.raises(ForensicsError, match="unknown scenario"):
        runner.run_lab(tmp_path, ["flood_everything"])
    with pytest.raises(ForensicsError, match="--runs"):
        runner.run_lab(tmp_path, ["normal"], runs=0)


def test_variants_cycle_by_run_index():
    """Flood flag sets, spoofing and Theft sizes are cycled by run index, so few runs cover them all."""
    import random

    for scenario in ("dos_tcp", "ddos_tcp"):
        for first in range(0, 12):
            flags = set()
            for k in range(first, first + 3):
                plan = sc.plan_attack(scenario, random.Random(run_seed(0, scenario, k)), 12.0, variant=k)
                flags |= {p["flags"] for p in plan.params["phases"]}
            assert flags == {" ".join(f) for f in sc.TCP_FLAG_SETS}
    spoofs = set()
    for k in range(4):
        plan = sc.plan_attack("ddos_udp", random.Random(k), 12.0, variant=k)
        spoofs |= {p["spoof"] for p in plan.params["phases"]}
        if plan.params["straggler"]:  # a small attacker: few packets from its own address
            bot = plan.params["straggler"]["bot"]
            assert bot in plan.attackers and plan.params["straggler"]["count"] <= 60
    assert spoofs == {"none", "subnet", "random"}
    for k in range(6):
        kl = sc.plan_attack("keylogging", random.Random(k), 12.0, variant=k)
        assert len(kl.victims) >= 2 and len(kl.params["sessions"]) == len(kl.victims)
        ex = sc.plan_attack("data_exfiltration", random.Random(k), 12.0, variant=k)
        assert sum(u["files"] for u in ex.params["uploads"]) >= 3


def test_lab_runs_every_scenario_mixed_included_by_default(monkeypatch, tmp_path):
    """The dataset the bundled model was trained on has `mixed` runs: a plain `forensics lab OUT`
    must make them too (the default once left `mixed` out)."""
    from forensics.lab import runner

    ran = []
    monkeypatch.setattr(runner, "check_environment", lambda: None)
    monkeypatch.setattr(runner, "cleanup_stale", lambda log: None)
    monkeypatch.setattr(runner, "run_scenario", lambda d, s, k, rs, **kw: ran.append(s) or runner.RunResult(s, k, rs, d, 0.0, 0))
    runner.run_lab(tmp_path, None, log=lambda m: None)
    assert sorted(ran) == sorted(runner.ALL_SCENARIOS) and "mixed" in ran
