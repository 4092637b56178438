"""The capture-level DoS <-> DDoS refinement (forensics.ddos)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forensics.ddos import LONE_S, MIN_FLOWS, concurrent_flood, lone_flood, refine

VICTIM = "10.0.0.20"
BOT1, BOT2 = "02:00:00:00:00:01", "02:00:00:00:00:02"
VICTIM_MAC = "02:00:00:00:00:20"


def flood(src, mac, start, n=MIN_FLOWS + 5, gap=0.05, dst=VICTIM, dmac=VICTIM_MAC, sport=None, dport="80",
          spkts=1, dpkts=0, proto="udp"):
    t = start + gap * np.arange(n)
    return pd.DataFrame({
        "saddr": src, "daddr": dst, "smac": mac, "dmac": dmac, "stime": t, "ltime": t + 0.001,
        "proto": proto, "sport": [str(40000 + i) for i in range(n)] if sport is None else sport,
        "dport": dport, "spkts": spkts, "dpkts": dpkts,
    })


def test_two_hosts_flooding_one_victim_together_make_ddos():
    df = pd.concat([flood("10.0.0.201", BOT1, 0.0), flood("10.0.0.202", BOT2, 0.02)], ignore_index=True)
    assert concurrent_flood(df, np.full(len(df), "DoS")).all()


def test_one_host_with_its_own_and_a_forged_address_stays_dos():
    df = pd.concat([flood("10.0.0.202", BOT1, 0.0), flood("10.0.0.183", BOT1, 0.02)], ignore_index=True)
    assert not concurrent_flood(df, np.full(len(df), "DoS")).any()


def test_floods_one_after_the_other_stay_dos():
    first = flood("10.0.0.201", BOT1, 0.0)
    df = pd.concat([first, flood("10.0.0.202", BOT2, first["ltime"].max() + 5.0)], ignore_index=True)
    assert not concurrent_flood(df, np.full(len(df), "DoS")).any()


def test_a_few_flows_of_another_host_do_not_count():
    df = pd.concat([flood("10.0.0.201", BOT1, 0.0), flood("10.0.0.100", BOT2, 0.02, n=MIN_FLOWS - 1)],
                   ignore_index=True)
    assert not concurrent_flood(df, np.full(len(df), "DoS")).any()


def test_without_mac_addresses_nothing_changes():
    df = pd.concat([flood("10.0.0.201", "", 0.0), flood("10.0.0.202", "", 0.02)], ignore_index=True)
    assert not concurrent_flood(df, np.full(len(df), "DoS")).any()
    assert not concurrent_flood(df.drop(columns=["smac", "dmac"]), np.full(len(df), "DoS")).any()


def test_two_victims_answering_one_attacker_are_not_two_senders():
    # Argus rows of answered floods: each victim's answers are flows from the victim to the attacker,
    # (source = victim, source MAC = the victim's).  Blame turns them to the attacker, whose MAC is dmac.
    attacker, amac = "10.0.0.202", BOT1
    out = flood(attacker, amac, 0.0, n=200, dst="10.0.0.10", dmac="02:00:00:00:00:10", proto="tcp", dport="1883")
    back1 = flood("10.0.0.10", "02:00:00:00:00:10", 0.01, n=20, dst=attacker, dmac=amac, proto="tcp", sport="1883",
                  dport="40000")
    back2 = flood("10.0.0.22", "02:00:00:00:00:22", 0.02, n=100, dst=attacker, dmac=amac, proto="tcp", sport="23",
                  dport="58658")
    df = pd.concat([out, back1, back2], ignore_index=True)
    assert not concurrent_flood(df, np.full(len(df), "DoS")).any()


def test_ddos_is_never_turned_into_dos_and_other_categories_are_left_alone():
    df = pd.concat([flood("10.0.0.201", BOT1, 0.0), flood("10.0.0.202", BOT2, 0.02)], ignore_index=True)
    cat = np.where(np.arange(len(df)) % 3 == 0, "DDoS", np.where(np.arange(len(df)) % 3 == 1, "Normal", "DoS"))
    m = concurrent_flood(df, cat)
    assert m[cat == "DoS"].all() and not m[cat != "DoS"].any()


def test_refine_swaps_the_dos_and_ddos_probabilities_of_the_changed_flows():
    cats = ["DDoS", "DoS", "Reconnaissance", "Theft", "Normal"]
    df = pd.concat([flood("10.0.0.201", BOT1, 0.0), flood("10.0.0.202", BOT2, 0.02)], ignore_index=True)
    p = np.tile(np.array([0.2, 0.7, 0.05, 0.0, 0.05], np.float32), (len(df), 1))
    p[0] = [0.0, 0.0, 0.0, 0.0, 1.0]  # a flow the model calls Normal stays Normal
    q, changed, to_dos = refine(df, p, cats)
    assert changed.sum() == len(df) - 1 and not changed[0] and not to_dos.any()
    assert np.allclose(q[1:], [0.7, 0.2, 0.05, 0.0, 0.05]) and np.allclose(q[0], p[0])
    assert np.allclose(p[1], [0.2, 0.7, 0.05, 0.0, 0.05])  # input untouched


def arp(ip, mac, t=0.0, target=VICTIM):
    """An answered ARP resolution by ``ip`` at ``mac``: binds the MAC to that one host."""
    return pd.DataFrame({"saddr": [ip], "daddr": [target], "smac": [mac], "dmac": [VICTIM_MAC], "stime": [t],
                         "ltime": [t + 0.001], "proto": ["arp"], "sport": [""], "dport": [""], "spkts": [1],
                         "dpkts": [1]})


def ddos(*parts):
    df = pd.concat(parts, ignore_index=True)
    return df, np.where(df["proto"].to_numpy() == "arp", "Normal", "DDoS")


def test_a_flood_called_ddos_from_one_bound_host_alone_becomes_dos():
    # the attacker forges its source address (10.0.0.183) but its MAC is bound to 10.0.0.201
    df, cat = ddos(arp("10.0.0.201", BOT1), flood("10.0.0.183", BOT1, 1.0, n=50))
    m = lone_flood(df, cat)
    assert m[cat == "DDoS"].all() and not m[cat != "DDoS"].any()
    q, to_ddos, to_dos = refine(df, np.tile(np.array([0.8, 0.15, 0.0, 0.0, 0.05], np.float32), (len(df), 1)),
                                ["DDoS", "DoS", "Reconnaissance", "Theft", "Normal"])
    assert (to_dos == m).all() and not to_ddos.any()
    assert np.allclose(q[m], [0.15, 0.8, 0.0, 0.0, 0.05])


def test_two_bound_senders_keep_ddos_even_when_one_sends_a_few_flows():
    df, cat = ddos(arp("10.0.0.201", BOT1), arp("10.0.0.202", BOT2),
                   flood("10.0.0.201", BOT1, 1.0, n=50), flood("10.0.0.202", BOT2, 2.0, n=2))
    assert not lone_flood(df, cat).any()


def test_another_sender_within_lone_s_keeps_ddos_and_later_ones_do_not():
    first = flood("10.0.0.201", BOT1, 0.0, n=20)
    end = first["ltime"].max()
    near, _ = ddos(arp("10.0.0.201", BOT1), arp("10.0.0.202", BOT2), first,
                   flood("10.0.0.202", BOT2, end + LONE_S - 1.0, n=20))
    assert not lone_flood(near, np.where(near["proto"] == "arp", "Normal", "DDoS")).any()
    far, cat = ddos(arp("10.0.0.201", BOT1), arp("10.0.0.202", BOT2), first,
                    flood("10.0.0.202", BOT2, end + LONE_S + 5.0, n=20))
    assert lone_flood(far, cat)[cat == "DDoS"].all()


def test_an_unbound_sender_mac_keeps_ddos():
    # a router: one MAC forwarding frames of many addresses (two-way flows from two hosts) is
    # bound to none of them, so a flood from it may be many bots' and keeps the model's DDoS
    router = "02:00:00:00:00:fe"
    talk = pd.concat([flood(a, router, 0.0, n=2, dport="443", spkts=3, dpkts=3) for a in ("8.8.4.4", "1.1.1.1")],
                     ignore_index=True)
    df = pd.concat([talk, flood("198.51.100.7", router, 1.0, n=50)], ignore_index=True)
    cat = np.r_[np.full(len(talk), "Normal"), np.full(50, "DDoS")]
    assert not lone_flood(df, cat).any()
    # the same flood from a MAC bound to one host turns
    df2 = pd.concat([arp("10.0.0.201", BOT1), flood("198.51.100.7", BOT1, 1.0, n=50)], ignore_index=True)
    assert lone_flood(df2, np.r_[["Normal"], np.full(50, "DDoS")])[1:].all()


def test_without_mac_addresses_ddos_stays():
    df, cat = ddos(arp("10.0.0.201", BOT1), flood("10.0.0.183", BOT1, 1.0, n=50))
    assert not lone_flood(df.drop(columns=["smac", "dmac"]), cat).any()
    df.loc[5, "smac"] = ""  # one flood flow on the victim without a sender: no conclusion
    assert not lone_flood(df, cat).any()


def test_arp_and_dos_flows_are_left_to_other_steps():
    df, _ = ddos(arp("10.0.0.201", BOT1), flood("10.0.0.183", BOT1, 1.0, n=50))
    cat = np.r_[["DDoS"], np.full(50, "DoS")]  # the ARP flow called DDoS, the flood DoS
    assert not lone_flood(df, cat).any()


def test_the_victims_broadcast_arp_called_dos_is_no_second_sender():
    """``lab-out/dos_tcp/run42``: one host floods the camera from its own address and then as a
    forged one; the camera's broadcast ARP request for the forged address, which the model
    called DoS, counted as another sender (MAC ``Broadcast``) and kept 1,125 flows DDoS."""
    df, cat = ddos(arp("10.0.0.201", BOT1, 0.0), flood("10.0.0.201", BOT1, 0.1, n=50),
                   flood("10.0.0.151", BOT1, 1.0, n=50))
    who = pd.DataFrame({"saddr": [VICTIM], "daddr": ["10.0.0.151"], "smac": [VICTIM_MAC], "dmac": ["Broadcast"],
                        "stime": [1.5], "ltime": [1.5], "proto": ["arp"], "sport": [""], "dport": [""],
                        "spkts": [1], "dpkts": [0]})
    df = pd.concat([df, who], ignore_index=True)
    cat = np.r_[cat, ["DoS"]]
    m = lone_flood(df, cat)
    assert m[(cat == "DDoS")].all() and not m[(cat != "DDoS")].any()
    # a flood towards a broadcast-MAC "sender" on the victim is no second host either
    assert not concurrent_flood(df, np.where(cat == "DDoS", "DoS", cat)).any()


OTHER, OTHER_MAC = "10.0.0.10", "02:00:00:00:00:10"
BOT3 = "02:00:00:00:00:03"


def test_a_late_bot_is_ddos_while_its_partners_flood_another_victim():
    """``lab-out/ddos_udp/run46``: two bots flood the victim, then move on to another one; a small
    bot floods the first victim 2 s after they left it, while they flood the other.  Its flows,
    called DoS, are part of the campaign: DDoS (before: DoS, nobody else on that victim within 1 s)."""
    df = pd.concat([flood("10.0.0.201", BOT1, 0.0, n=20), flood("10.0.0.202", BOT2, 0.01, n=20),
                    flood("10.0.0.201", BOT1, 1.0, n=100, dst=OTHER, dmac=OTHER_MAC),
                    flood("10.0.0.202", BOT2, 1.01, n=100, dst=OTHER, dmac=OTHER_MAC),
                    flood("10.0.0.203", BOT3, 3.0, n=30)], ignore_index=True)
    cat = np.where(df["smac"].to_numpy() == BOT3, "DoS", "DDoS")
    m = concurrent_flood(df, cat)
    assert m[cat == "DoS"].all() and not m[cat != "DoS"].any()
    # hosts that flood only the other victim are no partners of this one
    alone = df[(df["smac"] == BOT3) | (df["daddr"] == OTHER)].reset_index(drop=True)
    assert not concurrent_flood(alone, np.where(alone["smac"].to_numpy() == BOT3, "DoS", "DDoS")).any()


def test_a_bot_flooding_alone_seconds_after_its_ddos_becomes_dos():
    """``lab-out/mixed/run47``: one of a DDoS's bots floods the same victim again, alone, 4.5 s
    after the DDoS; the model called the start of that flood DDoS.  Before, the other bot's
    flood on the victim within 10 s kept it DDoS."""
    first = [flood("10.0.0.201", BOT1, 0.0, n=20), flood("10.0.0.202", BOT2, 0.01, n=20)]
    end = max(f["ltime"].max() for f in first)
    again = flood("10.0.0.201", BOT1, end + 4.5, n=40)
    df, cat = ddos(arp("10.0.0.201", BOT1), arp("10.0.0.202", BOT2), *first, again)
    m = lone_flood(df, cat)
    late = df["stime"].to_numpy() >= end + 4.5
    assert m[late].all() and not m[~late].any()
    # a flow of the other bot still under way (a keep-alive connection) keeps it DDoS
    open_ = flood("10.0.0.202", BOT2, 0.5, n=1)
    open_["ltime"] = end + 10.0
    df2, cat2 = ddos(arp("10.0.0.201", BOT1), arp("10.0.0.202", BOT2), *first, open_, again)
    assert not lone_flood(df2, cat2).any()
