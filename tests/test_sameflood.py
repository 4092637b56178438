"""A flow called Normal that its sender sends to the port it floods, while it floods it (forensics.sameflood)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forensics.refine import allowed_mask, refine_flows
from forensics.sameflood import MIN_FLOWS, NEAR_S, same_flood
from forensics.train import ALLOWED, CATEGORIES, SUBCATEGORIES

ATK, BOT2, VIC, CLIENT = "10.0.0.203", "10.0.0.204", "10.0.0.20", "10.0.0.21"
MAC = {ATK: "02:00:00:00:02:03", BOT2: "02:00:00:00:02:04", VIC: "02:00:00:00:00:20",
       CLIENT: "02:00:00:00:00:21"}
ROUTER = "02:00:00:00:0f:01"


def flow(src, dst, t, cat="Normal", sub="Normal", dport="80", proto="tcp", smac=None, dmac=None, sport=None,
         dur=0.03, spkts=6, dpkts=6):
    return {"saddr": src, "daddr": dst, "stime": t, "ltime": t + dur, "proto": proto,
            "sport": str(40000 + int(t * 1000) % 20000) if sport is None else sport, "dport": dport,
            "spkts": spkts, "dpkts": dpkts, "smac": MAC.get(src, ROUTER) if smac is None else smac,
            "dmac": MAC.get(dst, ROUTER) if dmac is None else dmac, "cat": cat, "sub": sub}


def http_flood(src, t0, n=40, cat="DDoS", gap=0.1, **kw):
    return [flow(src, VIC, t0 + gap * i, cat=cat, sub="HTTP", **kw) for i in range(n)]


def verdicts(df):
    """Final category, subcategory and evidence per flow after :func:`same_flood`."""
    rows, cat, sub, ev = same_flood(df, df["cat"].to_numpy(), df["sub"].to_numpy())
    out, out_sub = df["cat"].to_numpy(dtype=object).copy(), df["sub"].to_numpy(dtype=object).copy()
    evidence = np.full(len(df), "", dtype=object)
    out[rows], out_sub[rows], evidence[rows] = cat, sub, ev
    return out, out_sub, evidence


def refine_names(df, p_cat, p_sub):
    """``(category, subcategory, Refined)``: the per-flow verdicts after :func:`refine_flows`, read
    as the detector reads them (the top category, its top allowed subcategory)."""
    mask = allowed_mask(CATEGORIES, SUBCATEGORIES, ALLOWED)
    r = refine_flows(df, p_cat, p_sub, CATEGORIES, SUBCATEGORIES, mask)
    cat = np.array(list(CATEGORIES), dtype=object)[r.p_cat.argmax(1)]
    sub = np.array(list(SUBCATEGORIES), dtype=object)[np.where(mask[r.p_cat.argmax(1)], r.p_sub, -1.0).argmax(1)]
    return cat, sub, r


def frame(*parts):
    return pd.DataFrame([r for p in parts for r in p])


def test_the_floods_own_connections_called_normal_take_its_verdict_through_refine_flows():
    # mixed/run50: atk3's short HTTP connections to the camera, some called DDoS, most Normal
    df = frame(http_flood(ATK, 0.0), [flow(ATK, VIC, 0.05 + 0.1 * i) for i in range(20)],
               http_flood(BOT2, 0.02))
    cats, subs = list(CATEGORIES), list(SUBCATEGORIES)
    rng = np.random.default_rng(0)
    p_cat = rng.uniform(0.001, 0.02, (len(df), len(cats)))
    p_sub = rng.uniform(0.001, 0.02, (len(df), len(subs)))
    p_cat[np.arange(len(df)), [cats.index(c) for c in df["cat"]]] = 0.9
    p_sub[np.arange(len(df)), [subs.index(s) for s in df["sub"]]] = 0.9
    cat, sub, r = refine_names(df, p_cat, p_sub)
    normal = np.flatnonzero(df["cat"] == "Normal")
    assert sorted(r.same_rows) == list(normal)
    assert (cat == "DDoS").all() and (sub == "HTTP").all()
    assert np.allclose(r.p_cat.max(1), 0.9)  # the flow keeps the model's confidence
    assert all(ATK in e and VIC in e and "80/tcp" in e and "DDoS/HTTP" in e for e in r.same_evidence)


def test_a_normal_client_of_the_flooded_server_stays_normal():
    df = frame(http_flood(ATK, 0.0), [flow(CLIENT, VIC, 0.05 + 0.1 * i) for i in range(20)])
    cat, _, _ = verdicts(df)
    assert (cat == df["cat"].to_numpy()).all()


def test_other_ports_other_victims_and_later_flows_of_the_sender_stay_normal():
    flood = http_flood(ATK, 0.0)  # 0 - 3.93 s
    end = max(f["ltime"] for f in flood)
    df = frame(flood, [flow(ATK, VIC, 1.0, dport="443"), flow(ATK, VIC, 1.0, proto="udp"),
                       flow(ATK, CLIENT, 1.0), flow(ATK, VIC, end + NEAR_S + 0.5),
                       flow(ATK, VIC, -NEAR_S - 0.5), flow(ATK, VIC, end + NEAR_S - 0.1)])
    cat, _, _ = verdicts(df)
    assert list(cat[-6:]) == ["Normal"] * 5 + ["DDoS"]


def test_a_few_flows_called_a_flood_do_not_pull_their_senders_other_flows():
    # a normal host's DNS queries, one or two of them called DoS (ddos_udp/run46, dos_udp/run44)
    df = frame(http_flood(ATK, 0.0, n=MIN_FLOWS - 1, cat="DoS"), [flow(ATK, VIC, 0.15 + 0.1 * i) for i in range(5)])
    cat, _, _ = verdicts(df)
    assert (cat == df["cat"].to_numpy()).all()


def test_the_verdict_is_the_majority_of_the_concurrent_flood_flows():
    # a lone DoS flood first, then the same host joins a DDoS on the same port: each Normal flow
    # takes the verdict of the flows under way around it
    df = frame(http_flood(ATK, 0.0, n=30, cat="DoS"), http_flood(ATK, 10.0, n=30, cat="DDoS"),
               [flow(ATK, VIC, 1.0), flow(ATK, VIC, 11.0)])
    cat, sub, _ = verdicts(df)
    assert list(cat[-2:]) == ["DoS", "DDoS"] and list(sub[-2:]) == ["HTTP", "HTTP"]


def test_hosts_behind_one_router_mac_are_told_apart_by_address():
    # a router's MAC fronts both remote hosts: bound to neither, so the sender is (address, MAC)
    far_bot, far_client = "192.0.2.7", "192.0.2.8"
    df = frame(http_flood(far_bot, 0.0, smac=ROUTER),
               [flow(far_client, VIC, 0.05 + 0.1 * i, smac=ROUTER) for i in range(5)],
               [flow(far_bot, VIC, 0.07 + 0.1 * i, smac=ROUTER) for i in range(5)])
    cat, _, _ = verdicts(df)
    assert list(cat[-10:]) == ["Normal"] * 5 + ["DDoS"] * 5


def test_a_bot_forging_its_source_is_known_by_its_bound_mac():
    # the bot floods with forged sources; its own address's connection, from its (bound) MAC, joins the flood
    forged = [flow(f"10.0.9.{i}", VIC, 0.1 * i, cat="DDoS", sub="HTTP", smac=MAC[ATK]) for i in range(1, 30)]
    df = frame([flow(ATK, VIC, 1.05, dport="8080", dur=3.0)],  # two-way, called Normal: binds MAC -> address
               forged, [flow(ATK, VIC, 1.0)])
    cat, _, ev = verdicts(df)
    assert cat[0] == "Normal" and cat[-1] == "DDoS" and ATK in ev[-1]


def test_without_mac_addresses_the_sender_is_its_address():
    df = frame(http_flood(ATK, 0.0), [flow(ATK, VIC, 1.0), flow(CLIENT, VIC, 1.0)]).drop(columns=["smac", "dmac"])
    cat, _, _ = verdicts(df)
    assert list(cat[-2:]) == ["DDoS", "Normal"]


def test_the_victims_answers_send_no_flood():
    # a UDP flood from one source port, and the victim's answers to it, called DoS too: blame names
    # the bot the answers' attacker, so the victim's own flow back to that port is not its flood
    out = [flow(ATK, VIC, 0.1 * i, cat="DoS", sub="UDP", proto="udp", dport="53", sport="5000") for i in range(40)]
    back = [flow(VIC, ATK, 0.05 + 0.1 * i, cat="DoS", sub="UDP", proto="udp", sport="53", dport="5000")
            for i in range(20)]
    df = frame(out, back, [flow(ATK, VIC, 1.0, proto="udp", dport="53", sport="5000")],
               [flow(VIC, ATK, 1.0, proto="udp", sport="53", dport="5000")])
    cat, _, _ = verdicts(df)
    assert list(cat[-2:]) == ["DoS", "Normal"]


def test_nothing_to_do():
    df = frame([flow(ATK, VIC, 1.0)])
    assert len(same_flood(df, df["cat"].to_numpy(), df["sub"].to_numpy())[0]) == 0
    assert len(same_flood(df.iloc[:0], np.zeros(0, object), np.zeros(0, object))[0]) == 0
