"""Flows outside the model's training data: ranges, the detector's ``unfamiliar`` column, the
capture warning and the incident's evidence line."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

try:
    from tests.test_scan_double import udp, write_pcap
except ImportError:  # run from tests/
    from test_scan_double import udp, write_pcap

from forensics.batch import PRED_COLUMNS, unfamiliar_warning
from forensics.detect import OUTPUT_COLUMNS, load_detector, save_model
from forensics.errors import ModelError
from forensics.model import Arch, Detector
from forensics.sequences import (CHANNELS, CONTEXT_FEATURES, FLOW_FEATURES, STEP_FEATURES, WindowSpec, build_windows,
                                 channel_ranges, join_features, unfamiliar_features)
from forensics.train import demo_flows, ranges_meta

F, K = len(FLOW_FEATURES), len(CONTEXT_FEATURES)


@pytest.fixture(scope="module")
def flows():
    return demo_flows(seed=11)


def _dense_expectation(x, lo, hi, tol):
    """The names :func:`unfamiliar_features` must give, from the dense windows (U, T, C)."""
    out = []
    for win in x:
        bad = ((win < lo - tol) | (win > hi + tol)).any(0)  # (C,)
        per_feature = bad[:F + K] | bad[F + K:]
        out.append(", ".join(STEP_FEATURES[j] for j in np.flatnonzero(per_feature)))
    return np.array(out, dtype=object)


def test_ranges_are_the_extremes_of_every_step(flows):
    w = build_windows(flows, WindowSpec())
    lo, hi = channel_ranges([w])
    x = w.unique.reshape(-1, len(CHANNELS))
    assert np.array_equal(lo, x.min(0)) and np.array_equal(hi, x.max(0))
    # two halves give the same ranges as the whole
    a, b = build_windows(flows.iloc[:300], WindowSpec()), build_windows(flows.iloc[300:], WindowSpec())
    la, ha = channel_ranges([a, b])
    assert np.array_equal(la, np.minimum(*(channel_ranges([v])[0] for v in (a, b))))
    assert np.array_equal(ha, np.maximum(*(channel_ranges([v])[1] for v in (a, b))))


def test_windows_inside_their_own_ranges_are_familiar(flows):
    w = build_windows(flows, WindowSpec())
    lo, hi = channel_ranges([w])
    names = unfamiliar_features(w, lo, hi, np.zeros(len(CHANNELS), np.float32))
    assert (names == "").all()


@pytest.mark.parametrize("channel", ["src.log_dur", "dst.log_dur", "src.same_peer", "dst.log_ms_gap", "src.sport_low"])
def test_narrowed_ranges_flag_exactly_the_windows_outside(flows, channel):
    """Shrink one channel's training range: the windows flagged, and the names given, are the
    ones a dense check over every step finds (compact and dense forms agree)."""
    w = build_windows(flows, WindowSpec())
    lo, hi = channel_ranges([w])
    c = CHANNELS.index(channel)
    x = w.unique
    vals = x[..., c]
    hi = hi.copy()
    hi[c] = (vals.min() + vals.max()) / 2 if vals.max() > vals.min() else vals.max() - 1
    tol = np.zeros(len(CHANNELS), np.float32)
    got = unfamiliar_features(w, lo, hi, tol)
    want = _dense_expectation(x, lo, hi, tol)
    assert np.array_equal(got, want)
    flagged = got != ""
    assert flagged.any()
    assert all(channel.split(".", 1)[1] in n.split(", ") for n in got[flagged])
    # the tolerance widens the range
    wide = unfamiliar_features(w, lo, hi, np.full(len(CHANNELS), 1e6, np.float32))
    assert (wide == "").all()


@pytest.fixture(scope="module")
def model_with_ranges(tmp_path_factory, flows):
    """A random-weight model whose ranges are those of ``flows``' windows with log_dur narrowed."""
    torch.manual_seed(3)
    net = Detector(Arch(channels=len(CHANNELS)))
    d = tmp_path_factory.mktemp("model")
    w = build_windows(flows, WindowSpec())
    lo, hi = channel_ranges([w])
    for side in ("src", "dst"):
        c = CHANNELS.index(f"{side}.log_dur")
        hi[c] = np.quantile(w.unique[..., c], 0.9)
    save_model(d, net, net.arch, WindowSpec(), np.zeros(len(CHANNELS)), np.ones(len(CHANNELS)), "test",
               {"ranges": {**ranges_meta((lo, hi)), "tolerance_std": 0.0}})
    return d


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_detector_marks_flows_outside_the_training_ranges(model_with_ranges, flows, engine):
    det = load_detector(model_with_ranges, engine=engine)
    out = det.predict(flows)
    assert list(out.columns) == OUTPUT_COLUMNS and tuple(OUTPUT_COLUMNS) == PRED_COLUMNS
    flagged = out.unfamiliar != ""
    assert 0 < flagged.sum() < len(out)
    assert out.unfamiliar[flagged].str.contains("log_dur").all()
    assert flagged[flows.dur.idxmax()]  # the longest flow lies beyond the narrowed range
    # verdicts do not change: the same model without ranges gives the same predictions
    bare = load_detector(model_with_ranges, engine=engine)
    bare.ranges = None
    plain = bare.predict(flows)
    assert (plain.unfamiliar == "").all()
    pd.testing.assert_frame_equal(plain.drop(columns="unfamiliar"), out.drop(columns="unfamiliar"))


def test_malformed_ranges_are_refused(model_with_ranges, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(model_with_ranges, d)
    meta = json.loads((d / "model.json").read_text())
    meta["ranges"]["lo"] = meta["ranges"]["lo"][:-1]
    (d / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="ranges"):
        load_detector(d)


def test_capture_warning_counts_flows_and_names_features():
    df = pd.DataFrame({"unfamiliar": ["", "sport_low", "sport_low, log_ms_gap", ""],
                       "pred_attack": [True, True, False, False]})
    note = unfamiliar_warning(df)
    assert note.startswith("2 of 4 flows (1 called attacks)") and "log_ms_gap, sport_low" in note
    assert unfamiliar_warning(df.assign(unfamiliar="")) is None


def test_incident_evidence_says_how_many_flows_are_extrapolated():
    """Results as workers send them, some attack flows marked: each incident's evidence counts
    its marked flows and names their features; unmarked incidents say nothing."""
    from pathlib import Path

    from forensics import batch
    from forensics.report.model import build_report
    from forensics.scan import ScanConfig, discover

    root = Path(__file__).resolve().parent.parent / "samples"
    cands = [c for c in discover([root / "ddos_tcp", root / "service_scan"]) if c.ok]
    cfg = ScanConfig(workers=1, app_detail=False)
    results = batch.run(cands, cfg)
    assert all((r.flows["unfamiliar"] == "").all() for r in results)  # lab captures: inside the ranges
    first = results[0]
    f = first.flows.copy()
    att = np.flatnonzero(f["pred_attack"].to_numpy())
    marked = att[::2]
    f["unfamiliar"] = f["unfamiliar"].astype(object)
    f.iloc[marked, f.columns.get_loc("unfamiliar")] = "sport_low"
    rep = build_report(cands, [dataclasses.replace(first, flows=f), *results[1:]], cfg, model={"version": "t", "sha256": "s"})
    lines = {i.id: [e for e in i.evidence if "outside the model's training data" in e] for i in rep.incidents}
    mine = [i for i in rep.incidents if first.path in i.captures]
    assert mine
    total_marked = 0
    for inc in rep.incidents:
        if inc in mine and lines[inc.id]:
            n = int(lines[inc.id][0].split(" of ")[0])
            assert f"of {inc.flows} flow" in lines[inc.id][0] and "(sport_low)" in lines[inc.id][0]
            total_marked += n
        elif inc not in mine:
            assert not lines[inc.id]
    assert total_marked == len(marked) and rep.extrapolated == len(marked)
    assert sum(i.unfamiliar_flows for i in rep.incidents) == len(marked)
    from forensics.report.machine import alert_events

    for inc, ev in zip(rep.incidents, alert_events(rep)):
        assert ev["forensics"]["unfamiliar_flows"] == inc.unfamiliar_flows
        assert ("forensics-extrapolated" in ev.get("tags", [])) == (inc.unfamiliar_flows > 0)
    from io import StringIO

    from rich.console import Console

    from forensics.report.html import render_html
    from forensics.report.terminal import render as render_terminal

    buf = StringIO()
    render_terminal(rep, Console(file=buf, force_terminal=False, width=200))
    assert f"{len(marked):,} of them outside the model's training data" in buf.getvalue()
    assert f"{len(marked):,} of them outside the model's training data" in render_html(rep)


def test_scan_warns_about_a_capture_the_lab_never_made(tmp_path):
    """NTP between two hosts (source port 123): the bundled model never saw a source port below
    1024, so the capture's warning names sport_low."""
    from forensics.resources import model_dir as bundled
    from forensics.scan import ScanConfig, scan

    if not (bundled() / "weights.safetensors").exists():
        pytest.skip("no bundled model")
    pkts = []
    for n in range(6):
        pkts.append(udp("192.168.7.10", "192.168.7.1", 123, 123, b"\x23" + b"\0" * 47))
        pkts.append(udp("192.168.7.1", "192.168.7.10", 123, 123, b"\x24" + b"\0" * 47))
    cap = write_pcap(tmp_path / "ntp.pcap", pkts, step=2.0)
    rep = scan([cap], ScanConfig(workers=1, app_detail=False))
    warns = [w for i in rep.inputs for w in i.warnings]
    assert any("outside the model's training data" in w and "sport_low" in w for w in warns), warns


def test_real_captures_the_lab_never_made_are_marked(corpus_dir):
    """Public captures (skipped without ../shared): a real nmap version scan reaches more peers
    per source than any training scan (every flow marked, README "The detector / Limits"); a
    DNS trace with hours between queries and a source port below 1024 is marked; the lab's own
    samples are not (test_incident_evidence_says_how_many_flows_are_extrapolated)."""
    from forensics.resources import model_dir as bundled
    from forensics.scan import ScanConfig, scan

    if not (bundled() / "weights.safetensors").exists():
        pytest.skip("no bundled model")
    nmap = corpus_dir / "zeek" / "traces" / "nmap-vsn.pcap"
    dns = corpus_dir / "zeek" / "traces" / "dns-edns-ecs.pcap"
    rep = scan([nmap, dns], ScanConfig(workers=1, app_detail=False, keep_flows=True))
    t = rep.flow_table
    by = t.assign(u=t["unfamiliar"].astype(str) != "").groupby("capture")["u"]
    assert by.mean()[str(nmap)] == 1.0 and by.sum()[str(dns)] >= 50
    assert t.loc[t.capture == str(nmap), "unfamiliar"].str.contains("srcprof_log_peers").all()
    warned = {i.path for i in rep.inputs if any("outside the model's training data" in w for w in i.warnings)}
    assert rep.extrapolated == int((t["pred_attack"].astype(bool) & (t["unfamiliar"].astype(str) != "")).sum()) > 0
    assert warned == {str(nmap), str(dns)}


def test_attack_verdicts_are_checked_against_their_subcategory(model_with_ranges, flows, tmp_path):
    """With per-subcategory ranges, an attack flow is also marked for the features of its window
    outside the training windows of its verdict's subcategory (the verdict tolerance); normal
    verdicts and other subcategories are not; the names are the union of both checks."""
    d = tmp_path / "m"
    shutil.copytree(model_with_ranges, d)
    meta = json.loads((d / "model.json").read_text())
    w = build_windows(flows, WindowSpec())
    lo, hi = channel_ranges([w])
    narrow_hi = hi.copy()
    for side in ("src", "dst"):
        c = CHANNELS.index(f"{side}.log_bytes")
        narrow_hi[c] = np.quantile(w.unique[..., c], 0.5)
    meta["ranges"]["subcategories"] = {"TCP": {"lo": lo.tolist(), "hi": narrow_hi.tolist()},
                                       "Service_Scan": {"lo": lo.tolist(), "hi": hi.tolist()}}
    meta["ranges"]["verdict_tolerance_std"] = 0.0
    (d / "model.json").write_text(json.dumps(meta))
    det = load_detector(d)
    subs = det.subcategories
    n = len(flows)
    sub = np.where(np.arange(n) % 3 == 0, subs.index("TCP"), subs.index("Service_Scan"))
    attack = np.arange(n) % 2 == 0
    got = det.unfamiliar(w, w.inverse, sub, attack)
    base = det.unfamiliar(w, w.inverse, sub, np.zeros(n, dtype=bool))  # the global check alone
    tcp_names = unfamiliar_features(w, lo, narrow_hi, np.zeros(len(CHANNELS), np.float32))[w.inverse]
    checked = attack & (sub == subs.index("TCP"))
    for i in range(n):
        want = set(filter(None, base[i].split(", ")))
        if checked[i]:
            want |= set(filter(None, tcp_names[i].split(", ")))
        assert set(filter(None, got[i].split(", "))) == want
    assert any("log_bytes" in got[i] for i in np.flatnonzero(checked))
    assert not any("log_bytes" in got[i] for i in np.flatnonzero(~checked))


def test_join_features_is_the_union_in_feature_order():
    """Element by element against a plain set union, on texts that repeat (as a flood's do)."""
    rng = np.random.default_rng(5)
    names = list(STEP_FEATURES[:12])

    def text(k):
        return ", ".join(n for n in STEP_FEATURES if n in set(rng.choice(names, k, replace=False))) if k else ""

    pool = [text(k) for k in (0, 0, 1, 1, 2, 3, 5)] + [""] * 3
    a = np.array([pool[i] for i in rng.integers(0, len(pool), 3000)], dtype=object)
    b = np.array([pool[i] for i in rng.integers(0, len(pool), 3000)], dtype=object)
    got = join_features(a, b)
    for x, y, g in zip(a, b, got):
        want = {n for n in (x.split(", ") + y.split(", ")) if n}
        assert set(filter(None, g.split(", "))) == want
        assert g == ", ".join(n for n in STEP_FEATURES if n in want)
    assert list(a) == list(join_features(a, np.full(len(a), "", dtype=object)))
    assert join_features(np.zeros(0, dtype=object), np.zeros(0, dtype=object)).shape == (0,)
