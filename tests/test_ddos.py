"""The capture-level DoS -> DDoS refinement (forensics.ddos)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forensics.ddos import MIN_FLOWS, concurrent_flood, refine

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
    q, changed = refine(df, p, cats)
    assert changed.sum() == len(df) - 1 and not changed[0]
    assert np.allclose(q[1:], [0.7, 0.2, 0.05, 0.0, 0.05]) and np.allclose(q[0], p[0])
    assert np.allclose(p[1], [0.2, 0.7, 0.05, 0.0, 0.05])  # input untouched
