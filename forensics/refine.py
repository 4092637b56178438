"""After the model: the capture-level steps every per-flow verdict goes through.

The detector classifies each flow from its two short windows; these steps look at the
whole capture, in this order, and are applied identically by a scan
(:meth:`forensics.detect.Detector.predict`) and by the evaluation of every model
(:func:`forensics.train.refine_runs`), so the model card measures what a scan reports:

0. :func:`forensics.streams.refine`: a UDP flow called DoS or DDoS that is a media stream a host
   asked for over RTSP, or a two-way one between hosts that set up a call over SIP, in the same
   capture, or an RTSP session carrying its media inside (interleaved), is no flood: Normal; then
   :func:`forensics.bulk.refine`: a flow called Keylogging that carries 100 KB or more at 500
   bytes or more per packet one way is a bulk transfer, and a TCP flow called DoS or DDoS whose
   source receives 1 MB or more, 10 times what it sends, is a download: Normal;
1. :func:`forensics.backscatter.refine`: a TCP flow called Reconnaissance that leaves a port its
   host serves on (with 9 or more others) is a SYN-ACK flood's backscatter: DoS/TCP;
2. :func:`forensics.ddos.refine`: a flow called DoS while another sender (by MAC) that floods the
   same victim floods (any victim) at the same time becomes DDoS; a flow called DDoS, sent from a
   MAC bound to one host, when no other sender of its victim floods within 2 s, becomes DoS;
3. :func:`forensics.sweep.refine`: the flows called DoS or DDoS of an attacker that sends them to
   64 or more victims, none of which gets 50 packets of them, are a sweep, and its TCP ones that
   reach 8 or more ports of one victim, none with half of their packets, a scan of many ports:
   Reconnaissance / Service_Scan;
4. :func:`forensics.toolittle.refine`: too little traffic for the verdict: the flows called DoS or
   DDoS whose victim gets fewer than 50 packets of them in the whole capture are no flood, the
   flows called Keylogging between two hosts that span less than 1 s are no keylogging, the flows
   called Reconnaissance whose attacker reaches fewer than 3 targets (address, port) are no scan,
   the flows called DoS or DDoS of a host of its own that sends fewer than 10 packets of them beside
   another attacker's flood of its victim are no flood either, nor those sent to a multicast or
   broadcast address at under 20 packets/s (discovery), nor those from one host to another's web,
   MQTT or CoAP port over 30 s or more at under 3 flows and 40 packets per second (polling): Normal;
5. :func:`forensics.sameflood.refine`: a flow called Normal that its sender sends to a victim's
   address, port and protocol while it floods them (10 or more flows called DoS or DDoS there, one
   under way within 1 s) takes the flood's verdict;
6. :func:`forensics.arp.refine`: an ARP flow takes the verdict of the attack between its two
   hosts (the BoT-IoT labeling rule applied to the other flows' verdicts), else Normal.

Step 0 comes first, so that no later step counts a stream as a flood (a victim's other sender
for step 2) and the MAC binding and listening services see its flows as Normal, as they are.
Steps 3 and 4 come after step 2 (a DoS <-> DDoS swap does not change a victim's total); step 3
comes before step 4, which would turn a sweep's flows Normal (their victims get too little for a
flood); step 4 comes before step 5, so that a few flows called DoS cannot pass their verdict on;
step 5 comes after step 2, so a flood's flows already have their DoS or DDoS verdict to pass on,
and before step 6, so the flows it turns count in their attacker's activity for its ARP flows.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forensics import arp, backscatter, bulk, ddos, sameflood, streams, sweep, toolittle


@dataclass
class Refined:
    p_cat: np.ndarray  # (N, n_cat) per-flow category probabilities after the steps
    p_sub: np.ndarray  # (N, n_sub) per-flow subcategory probabilities after the steps
    ddos: np.ndarray  # (N,) bool: DoS turned into DDoS
    dos: np.ndarray  # (N,) bool: DDoS turned into DoS
    backscatter: np.ndarray  # (N,) bool: Reconnaissance turned into DoS/TCP (then maybe DDoS)
    arp_rows: np.ndarray  # positions of the ARP flows whose verdict changed
    arp_evidence: np.ndarray  # their evidence ("" where they became Normal)
    same_rows: np.ndarray  # positions of the flows called Normal that took their sender's flood's verdict
    same_evidence: np.ndarray  # their evidence
    little_rows: np.ndarray  # positions of the attack verdicts turned Normal: too little traffic for them (toolittle)
    little_evidence: np.ndarray  # their evidence
    sweep_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # DoS/DDoS turned Reconnaissance: a sweep
    sweep_evidence: np.ndarray = field(default_factory=lambda: np.zeros(0, object))  # their evidence
    stream_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # DoS/DDoS turned Normal: a media stream
    stream_evidence: np.ndarray = field(default_factory=lambda: np.zeros(0, object))  # their evidence
    bulk_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # Keylogging / DoS turned Normal: bulk
    bulk_evidence: np.ndarray = field(default_factory=lambda: np.zeros(0, object))  # their evidence

    @property
    def changed(self) -> bool:
        """Did any step change a verdict?"""
        return bool(self.ddos.any() or self.dos.any() or self.backscatter.any() or len(self.arp_rows)
                    or len(self.same_rows) or len(self.little_rows) or len(self.sweep_rows)
                    or len(self.stream_rows) or len(self.bulk_rows))

    @property
    def sub_rows(self) -> np.ndarray:
        """Positions of the flows whose subcategory a step chose (not only their category)."""
        rows = (self.arp_rows, np.flatnonzero(self.backscatter), self.same_rows, self.little_rows, self.sweep_rows,
                self.stream_rows, self.bulk_rows)
        return functools.reduce(np.union1d, rows).astype(np.int64)


def allowed_mask(categories, subcategories, allowed: dict) -> np.ndarray:
    """(n_cat, n_sub) bool: the subcategories each category may have."""
    cats, subs = list(categories), list(subcategories)
    mask = np.zeros((len(cats), len(subs)), bool)
    for c, ss in allowed.items():
        for s in ss:
            if c in cats and s in subs:
                mask[cats.index(c), subs.index(s)] = True
    return mask


def refine_flows(flows: pd.DataFrame, p_cat: np.ndarray, p_sub: np.ndarray, categories, subcategories,
                 mask: np.ndarray) -> Refined:
    """The eight steps on one capture's flows (rows aligned with the per-flow probabilities).

    The MAC binding and the listening services rest on the flows called Normal (and on ARP
    flows whatever their verdict), which no step before the same-flood step changes
    (Reconnaissance -> DoS, DoS <-> DDoS), so they are built once here for all four steps (the
    ARP step too: the flows the same-flood step turns are a flood sender's own flows to its
    victim, which would not bind its MAC otherwise)."""
    from forensics.attribution import FloodBlame, lookups

    p_cat, p_sub, stream_rows, stream_evidence = streams.refine(flows, p_cat, p_sub, categories, subcategories, mask)
    p_cat, p_sub, bulk_rows, bulk_evidence = bulk.refine(flows, p_cat, p_sub, categories, subcategories, mask)
    pred = np.asarray(categories, dtype=object)[np.asarray(p_cat).argmax(1)] if len(p_cat) else np.zeros(0, object)
    hosts = services = None
    if (pred != "Normal").any():  # else no step needs them
        hosts, services = lookups(flows, pred)
    p_cat, p_sub, turned = backscatter.refine(flows, p_cat, p_sub, categories, subcategories, mask, services)
    blame = FloodBlame(flows, hosts, services)  # (the flood flows' victims: blamed once for steps 2-4)
    p_cat, to_ddos, to_dos = ddos.refine(flows, p_cat, categories, hosts, services, blame)
    p_cat, p_sub, sweep_rows, sweep_evidence = sweep.refine(flows, p_cat, p_sub, categories, subcategories, mask, blame)
    p_cat, p_sub, little_rows, little_evidence = toolittle.refine(flows, p_cat, p_sub, categories, subcategories, mask,
                                                                 blame)
    p_cat, p_sub, same_rows, same_evidence = sameflood.refine(flows, p_cat, p_sub, categories, subcategories, mask,
                                                              hosts, services, blame)
    p_cat, p_sub, rows, evidence = arp.refine(flows, p_cat, p_sub, categories, subcategories, mask, hosts, services)
    return Refined(p_cat, p_sub, to_ddos, to_dos, turned, rows, evidence, same_rows, same_evidence, little_rows,
                   little_evidence, sweep_rows, sweep_evidence, stream_rows, stream_evidence, bulk_rows,
                   bulk_evidence)
