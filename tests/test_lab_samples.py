"""The committed lab samples: each capture's flows labeled from its truth (no root needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forensics.lab import scenarios as sc
from forensics.lab.truth import load_truth

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SAMPLE_RUNS = sorted(p.parent for p in SAMPLES.glob("*/truth.json"))


def _flows(run_dir: Path):
    try:
        from forensics.features import extract_flows
    except ImportError:
        pytest.skip("forensics.features.extract_flows not available")
    res = extract_flows(run_dir / "capture.pcap")
    return res[0] if isinstance(res, tuple) else res


def test_samples_cover_every_category():
    cats = set()
    for d in SAMPLE_RUNS:
        truth = load_truth(d / "truth.json")
        cats |= {a["category"] for a in truth["attacks"]} | ({"Normal"} if not truth["attacks"] else set())
        assert (d / "capture.pcap").stat().st_size < 1_000_000, f"{d} sample too large"
    assert cats >= {"DDoS", "DoS", "Reconnaissance", "Theft", "Normal"}
    assert any(len(load_truth(d / "truth.json")["attacks"]) > 1 for d in SAMPLE_RUNS), "no mixed sample"


@pytest.mark.parametrize("run_dir", SAMPLE_RUNS, ids=[p.name for p in SAMPLE_RUNS])
def test_sample_labels(run_dir):
    from forensics.lab.truth import label_flows

    truth = json.loads((run_dir / "truth.json").read_text())
    df = label_flows(_flows(run_dir), truth)
    normal = df[df["attack"] == 0]
    assert (normal["daddr"] == sc.ip("broker")).sum() >= 3  # MQTT publications
    assert (normal["daddr"] == sc.ip("dns")).sum() >= 2
    att = df[df["attack"] == 1]
    expected = {a["subcategory"] for a in truth["attacks"]}
    assert set(att["subcategory"]) == expected
    for a in truth["attacks"]:
        rows = att[(att["subcategory"] == a["subcategory"]) & (att["category"] == a["category"])]
        assert len(rows) > 0
        assert (rows["ltime"] >= a["start"]).all() and (rows["stime"] <= a["end"] + truth["label_tail_s"]).all()
        ends = set(a["attackers"]) | set(a["victims"])
        assert (rows["saddr"].isin(ends) | rows["daddr"].isin(ends)).all()
