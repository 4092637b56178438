"""Who attacked whom: the one blame rule behind incidents and per-host verdicts.

Used by the report (``forensics.report.model``: incidents and host roles) and by
the detector's per-host evaluation (``forensics.train.host_verdicts``), so that
what the model card measures is what a responder is shown.

For each attack flow (the detector's verdict, not the truth):

1. **Initial blame.** Theft is blamed on the flow's destination (stolen data
   flows *to* the attacker); DDoS, DoS and Reconnaissance on its source (the
   initiator).
2. **Senders only.** A DDoS/DoS/Reconnaissance flow whose source sent no packet
   while its destination did is blamed on the destination.  Argus takes the
   sender of a first SYN-ACK for the responder and puts the *receiver* in the
   source slot, so every flow of a spoofed SYN-ACK flood has the victim as
   source with ``spkts == 0`` (measured on ``lab-out/ddos_tcp/run11``: 15,000
   such flows, which made the victim the biggest "attacker").
   Likewise a DDoS/DoS TCP flow whose *source* port is a service port (below
   1024 or a named TCP service, the list Argus orients mid-stream flows by) and
   whose destination port is not: the source is the server, i.e. a flow that Argus
   turned round because its first packet was a SYN-ACK to that server.  Measured on
   ``lab-out/ddos_tcp/run23``: a SYN-ACK flood on ``cam:80`` whose victim answered
   every SYN-ACK with a RST (7,400 flows ``cam:80 -> bot:<incrementing>``, state
   RST, one packet each way) made the victim the only "attacker".
3. **Replies belong to the attacker.** A flow whose other end has more flows
   blamed on it (after steps 1-2) is re-blamed on that end: a victim's
   replies or backscatter that the model also flags go to its attacker.

Without ``spkts``/``dpkts`` (``proto``/``sport``/``dport``) columns the matching part of
step 2 is skipped.  Not covered: a SYN-ACK flood on a non-service port whose victim answers
(nothing in the BoT-IoT columns tells it from a scan answered by RSTs).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _service_port(port) -> np.ndarray:
    """Rendered ports (strings; ICMP hex and empty ones are never service ports) -> bool."""
    from forensics.flows import is_service_port

    p = pd.to_numeric(pd.Series(np.asarray(port, dtype=object)), errors="coerce").to_numpy(dtype=float)
    return (p >= 0) & is_service_port(p)


def blame(category, saddr, daddr, spkts=None, dpkts=None, proto=None, sport=None, dport=None) -> tuple[np.ndarray, np.ndarray]:
    """(attacker, victim) address arrays for attack flows (all arguments aligned arrays)."""
    cat = np.asarray(category).astype(str)
    saddr = np.asarray(saddr).astype(str).astype(object)
    daddr = np.asarray(daddr).astype(str).astype(object)
    theft = cat == "Theft"
    to_dst = theft.copy()
    if spkts is not None and dpkts is not None:
        sp = np.asarray(spkts, dtype=np.int64)
        dp = np.asarray(dpkts, dtype=np.int64)
        to_dst |= ~theft & (sp == 0) & (dp > 0)
    if proto is not None and sport is not None and dport is not None:
        flood = (cat == "DDoS") | (cat == "DoS")
        tcp = np.asarray(proto).astype(str) == "tcp"
        to_dst |= flood & tcp & _service_port(sport) & ~_service_port(dport)
    who = np.where(to_dst, daddr, saddr)
    other = np.where(to_dst, saddr, daddr)
    counts = pd.Series(who).value_counts()
    n_who = counts.reindex(who).fillna(0).to_numpy()
    n_other = counts.reindex(other).fillna(0).to_numpy()
    swap = n_other > n_who
    return np.where(swap, other, who), np.where(swap, who, other)


def blame_frame(att: pd.DataFrame, category_column: str = "pred_category") -> tuple[np.ndarray, np.ndarray]:
    """:func:`blame` on a flow DataFrame (``spkts``/``dpkts`` and ``proto``/``sport``/``dport``
    used when present)."""
    def col(name):
        return att[name].to_numpy() if name in att.columns else None

    return blame(att[category_column].to_numpy(), att["saddr"].to_numpy(), att["daddr"].to_numpy(),
                 col("spkts"), col("dpkts"), col("proto"), col("sport"), col("dport"))
