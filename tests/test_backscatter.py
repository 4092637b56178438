"""The backscatter step (forensics.backscatter): a "scan" sent from a port its host serves on."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forensics.backscatter import MIN_FLOWS, backscatter, refine
from forensics.refine import allowed_mask
from forensics.train import ALLOWED, CATEGORIES, SUBCATEGORIES

BROKER, BOT = "10.77.0.10", "10.77.0.201"


def _flows(n_flood=50, clients=True, sport="1883"):
    """Argus rows of a SYN-ACK flood on broker:1883 answered by RSTs (broker:1883 -> bot:<port>),
    and (``clients``) three sensors' MQTT sessions to broker:1883."""
    rows = [dict(saddr=BROKER, sport=sport, daddr=BOT, dport=str(26650 + i), proto="tcp", spkts=1, dpkts=1,
                 state="RST", smac="02:00:00:00:00:0a", dmac="02:00:00:00:00:c9", stime=i * 0.01, ltime=i * 0.01)
            for i in range(n_flood)]
    if clients:
        rows += [dict(saddr=f"10.77.0.{11 + i}", sport=str(50000 + i), daddr=BROKER, dport="1883", proto="tcp",
                      spkts=8, dpkts=6, state="FIN", smac=f"02:00:00:00:00:{11 + i:02x}", dmac="02:00:00:00:00:0a",
                      stime=0.0, ltime=5.0) for i in range(3)]
    df = pd.DataFrame(rows)
    cat = np.where(np.arange(len(df)) < n_flood, "Reconnaissance", "Normal")
    return df, cat


def test_scan_shaped_flows_from_a_serving_port_are_backscatter():
    df, cat = _flows()
    m = backscatter(df, cat)
    assert m[:50].all() and not m[50:].any()


def test_no_serving_evidence_few_flows_or_other_categories_leave_them_alone():
    df, cat = _flows(clients=False)
    assert not backscatter(df, cat).any()  # nothing shows 1883 serving
    df, cat = _flows(n_flood=MIN_FLOWS - 1)
    assert not backscatter(df, cat).any()  # too few
    df, cat = _flows(sport="40000")
    assert not backscatter(df, cat).any()  # sent from a port nobody connects to: a scan
    df, cat = _flows()
    assert not backscatter(df, np.where(cat == "Reconnaissance", "DoS", cat)).any()


def test_refine_makes_them_dos_tcp_with_the_model_confidence():
    df, cat = _flows()
    cats, subs = list(CATEGORIES), list(SUBCATEGORIES)
    mask = allowed_mask(cats, subs, ALLOWED)
    p_cat = np.zeros((len(df), len(cats)), np.float32)
    p_cat[:, cats.index("Normal")] = 1.0
    p_cat[:50] = 0.0
    p_cat[:50, cats.index("Reconnaissance")] = 0.9
    p_cat[:50, cats.index("DoS")] = 0.1
    p_sub = np.full((len(df), len(subs)), 0.01, np.float32)
    p_sub[:50, subs.index("Service_Scan")] = 0.9
    q_cat, q_sub, changed = refine(df, p_cat, p_sub, cats, subs, mask)
    assert changed[:50].all() and not changed[50:].any()
    assert (q_cat[:50].argmax(1) == cats.index("DoS")).all() and np.allclose(q_cat[:50].max(1), 0.9)
    sub = np.where(mask[q_cat.argmax(1)], q_sub, -1.0).argmax(1)
    assert (sub[:50] == subs.index("TCP")).all()
    assert np.array_equal(q_cat[50:], p_cat[50:]) and np.array_equal(q_sub[50:], p_sub[50:])
