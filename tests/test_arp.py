"""ARP flows take the verdict of the attack between their two hosts (forensics.arp)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forensics.arp import MARGIN_S, arp_verdicts, refine
from forensics.refine import allowed_mask
from forensics.train import ALLOWED, CATEGORIES, SUBCATEGORIES

ATK, VIC, OTHER, PEER = "10.0.0.201", "10.0.0.20", "10.0.0.22", "10.0.0.100"
MAC = {ATK: "02:00:00:00:02:01", VIC: "02:00:00:00:00:20", OTHER: "02:00:00:00:00:22", PEER: "02:00:00:00:01:00"}


def flows_of(*parts) -> pd.DataFrame:
    rows = []
    for p in parts:
        rows.extend(p)
    return pd.DataFrame(rows)


def flow(src, dst, t, proto="udp", cat="Normal", sub="Normal", smac=None, dmac=None, sport="40000", dport="53",
         spkts=1, dpkts=1, dur=0.001):
    return {"saddr": src, "daddr": dst, "stime": t, "ltime": t + dur, "proto": proto, "sport": sport, "dport": dport,
            "spkts": spkts, "dpkts": dpkts, "smac": MAC.get(src, "02:00:00:00:0f:0f") if smac is None else smac,
            "dmac": MAC.get(dst, "02:00:00:00:0e:0e") if dmac is None else dmac, "cat": cat, "sub": sub}


def arp(src, dst, t, cat="Normal", sub="Normal"):
    return flow(src, dst, t, proto="arp", cat=cat, sub=sub, sport="", dport="", dmac="Broadcast")


def verdicts(df):
    rows, cat, sub, ev = arp_verdicts(df, df["cat"].to_numpy(), df["sub"].to_numpy())
    out = df["cat"].to_numpy(dtype=object).copy()
    out_sub = df["sub"].to_numpy(dtype=object).copy()
    out[rows], out_sub[rows] = cat, sub
    evidence = np.full(len(df), "", dtype=object)
    evidence[rows] = ev
    return out, out_sub, evidence


def dos(src, dst, t0, n=30, smac=None):
    return [flow(src, dst, t0 + 0.1 * i, cat="DoS", sub="UDP", sport=str(40000 + i), dpkts=0, smac=smac)
            for i in range(n)]


def test_arp_between_attacker_and_victim_takes_the_attack_and_others_are_normal():
    df = flows_of(
        [arp(ATK, VIC, 9.5)],  # resolution just before the flood: the attack (the model said Normal)
        dos(ATK, VIC, 10.0),
        [arp(OTHER, PEER, 11.0, cat="Theft", sub="Keylogging")],  # two normal hosts: Normal
        [arp(VIC, OTHER, 12.0)],  # the victim with a bystander: Normal, unchanged
        [arp(VIC, ATK, 13.0 + MARGIN_S + 1.0)],  # long after the flood (13 s + margin): Normal
    )
    cat, sub, ev = verdicts(df)
    arp_rows = np.flatnonzero(df["proto"] == "arp")
    assert list(cat[arp_rows]) == ["DoS", "Normal", "Normal", "Normal"]
    assert sub[arp_rows[0]] == "UDP"
    assert ATK in ev[arp_rows[0]] and VIC in ev[arp_rows[0]] and "DoS" in ev[arp_rows[0]]
    assert (cat[df["proto"] != "arp"] == df["cat"][df["proto"] != "arp"]).all()  # other flows untouched


def test_the_victim_resolving_a_forged_source_and_the_bot_behind_it():
    forged = [f"10.0.9.{k}" for k in range(1, 21)]
    bot = ATK
    # the bot's frames carry its MAC whatever source address they forge; its ARP flow binds MAC -> address
    flood = [flow(f, VIC, 20.0 + 0.05 * i, proto="tcp", cat="DDoS", sub="TCP", smac=MAC[bot], sport=str(1000 + i),
                  dport="80", dpkts=0) for i, f in enumerate(forged)]
    df = flows_of(
        [flow(bot, VIC, 1.0, proto="arp", sport="", dport="", dmac="Broadcast")],  # bot -> victim resolution, Normal
        flood,
        [arp(VIC, forged[3], 20.3)],  # the victim resolves a forged source to answer it
        [arp(VIC, PEER, 20.4)],
    )
    df.loc[0, "stime"], df.loc[0, "ltime"] = 19.9, 19.9001
    cat, _, _ = verdicts(df)
    arp_rows = np.flatnonzero(df["proto"] == "arp")
    assert list(cat[arp_rows]) == ["DDoS", "DDoS", "Normal"]


def test_the_nearest_activity_wins_when_a_pair_has_several():
    recon = [flow(ATK, VIC, 0.2 * i, proto="tcp", cat="Reconnaissance", sub="Service_Scan", sport="40000",
                  dport=str(20 + i), dpkts=1, spkts=1) for i in range(20)]
    df = flows_of(recon, dos(ATK, VIC, 60.0), [arp(ATK, VIC, 2.0)], [arp(VIC, ATK, 61.0)])
    cat, sub, _ = verdicts(df)
    arp_rows = np.flatnonzero(df["proto"] == "arp")
    assert list(cat[arp_rows]) == ["Reconnaissance", "DoS"]
    assert list(sub[arp_rows]) == ["Service_Scan", "UDP"]


def test_no_attack_anywhere_makes_every_arp_flow_normal_and_no_arp_changes_nothing():
    df = flows_of([flow(PEER, OTHER, 1.0)], [arp(PEER, OTHER, 0.5, cat="Theft", sub="Keylogging")])
    cat, _, _ = verdicts(df)
    assert list(cat) == ["Normal", "Normal"]
    plain = flows_of(dos(ATK, VIC, 0.0))
    rows, *_ = arp_verdicts(plain, plain["cat"].to_numpy(), plain["sub"].to_numpy())
    assert len(rows) == 0


def test_refine_swaps_probabilities_and_reads_the_activity_subcategory():
    df = flows_of(dos(ATK, VIC, 10.0, n=15), [arp(ATK, VIC, 9.9)])
    n = len(df)
    cats, subs = list(CATEGORIES), list(SUBCATEGORIES)
    p_cat = np.zeros((n, len(cats)))
    p_sub = np.zeros((n, len(subs)))
    p_cat[:-1, cats.index("DoS")] = 0.9
    p_cat[:-1, cats.index("Normal")] = 0.1
    p_sub[:-1, subs.index("UDP")] = 1.0
    p_cat[-1, cats.index("Normal")] = 0.8  # the ARP flow: Normal 0.8, DoS 0.15, Theft 0.05
    p_cat[-1, cats.index("DoS")] = 0.15
    p_cat[-1, cats.index("Theft")] = 0.05
    p_sub[-1, subs.index("Normal")] = 0.7
    p_sub[-1, subs.index("TCP")] = 0.2
    p_sub[-1, subs.index("UDP")] = 0.1
    mask = allowed_mask(cats, subs, ALLOWED)
    q_cat, q_sub, rows, ev = refine(df, p_cat, p_sub, cats, subs, mask)
    assert list(rows) == [n - 1]
    assert q_cat[-1].argmax() == cats.index("DoS") and q_cat[-1].max() == pytest.approx(0.8)
    assert q_cat[-1, cats.index("Normal")] == pytest.approx(0.15)  # swapped, not invented
    assert q_cat[-1].sum() == pytest.approx(1.0)
    sub_read = np.where(mask[q_cat[-1].argmax()], q_sub[-1], -1.0).argmax()
    assert subs[sub_read] == "UDP"
    np.testing.assert_array_equal(q_cat[:-1], p_cat[:-1])
    assert "DoS" in ev[0]


def test_evaluation_refines_every_model_like_a_scan(monkeypatch):
    """train.refine_runs applies the ARP step to category probabilities and overrides a model's own
    subcategory choice where an ARP flow changed."""
    from forensics.train import Encoded, Run, refine_runs

    df = flows_of(dos(ATK, VIC, 10.0, n=15), [arp(ATK, VIC, 9.9)])
    n = len(df)
    run = Run("x/run0", "x", 0, df.assign(category="DoS", subcategory="UDP"))
    enc = Encoded(np.zeros((n, 1, 1), np.float32), np.arange(n), np.zeros(n, np.int64), np.zeros(n, np.int64),
                  np.zeros(n, np.int64), ["x/run0"])
    cats, subs = list(CATEGORIES), list(SUBCATEGORIES)
    p = np.zeros((n, len(cats)))
    p[:, cats.index("DoS")] = 1.0
    p[-1] = 0.0
    p[-1, cats.index("Normal")] = 1.0
    ps = np.zeros((n, len(subs)))
    ps[:, subs.index("UDP")] = 1.0
    pred_sub = np.full(n, subs.index("UDP"))
    pred_sub[-1] = subs.index("Normal")
    q, qs, qsub = refine_runs([run], enc, p, ps, pred_sub)
    assert q[-1].argmax() == cats.index("DoS")
    assert qsub[-1] == subs.index("UDP")
    assert np.array_equal(refine_runs([run], enc, p), q)  # category-only form agrees


def test_overlapping_activities_of_a_pair_go_to_the_one_with_more_flows():
    few = [flow(ATK, VIC, 10.0 + i, cat="DDoS", sub="UDP", sport=str(50000 + i), dpkts=0) for i in range(3)]
    for order in ((few, dos(ATK, VIC, 10.0)), (dos(ATK, VIC, 10.0), few)):
        df = flows_of(*order, [arp(ATK, VIC, 11.0)])
        cat, _, _ = verdicts(df)
        assert cat[-1] == "DoS"


def test_a_lone_doubtful_verdict_does_not_take_the_arp_flows_with_it():
    from forensics.arp import MIN_CONFIDENCE

    df = flows_of([flow(PEER, OTHER, 10.0, cat="Reconnaissance", sub="Service_Scan")], [arp(OTHER, PEER, 9.9)])
    for conf, expected in ((MIN_CONFIDENCE - 0.2, "Normal"), (MIN_CONFIDENCE + 0.05, "Reconnaissance")):
        rows, cat, _, _ = arp_verdicts(df, df["cat"].to_numpy(), df["sub"].to_numpy(), np.full(len(df), conf))
        out = df["cat"].to_numpy(dtype=object).copy()
        out[rows] = cat
        assert out[-1] == expected
