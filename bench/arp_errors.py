"""ARP flow errors of a model with and without the ARP step (forensics/arp.py), per lab run.

    python bench/arp_errors.py lab-out/*/run2[0-7]      # lab runs (truth.json labels)
    python bench/arp_errors.py --model DIR lab-out/...  # another model folder
    python bench/arp_errors.py --thresholds 0,0.9,0.95 lab-out/...  # ARP errors per MIN_CONFIDENCE

For every run: the detector's per-flow probabilities (``Detector.predict_proba``), then the
DoS <-> DDoS step alone ("before") and both capture-level steps (``forensics.refine``, "after");
prints the runs where the ARP step leaves or makes errors, then the totals over all runs
(ARP flows, ARP errors before/after, errors on the other flows, which the step never changes).
Runs of the model's training split score what the model has seen: not a test.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from forensics import arp, ddos  # noqa: E402
from forensics import train as T  # noqa: E402
from forensics.detect import load_detector  # noqa: E402
from forensics.refine import refine_flows  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--thresholds", default="",
                    help="comma-separated min_confidence values: also count ARP errors with each")
    args = ap.parse_args()
    ths = [float(x) for x in args.thresholds.split(",") if x.strip()]
    by_th = {t: 0 for t in ths}
    det = load_detector(args.model) if args.model else load_detector()
    cats = np.array(det.categories, dtype=object)
    tot = {"runs": 0, "arp_flows": 0, "arp_errors_before": 0, "arp_errors_after": 0, "other_errors": 0}
    for entry in T.find_runs(args.runs):
        run = T.load_run(entry)
        f = run.flows
        w, pc, ps = det.predict_proba(f)
        p_before = ddos.refine(f, pc[w.inverse], det.categories)[0]
        after = refine_flows(f, pc[w.inverse], ps[w.inverse], det.categories, det.subcategories, det._mask)
        truth = f["category"].astype(str).to_numpy()
        b, a = cats[p_before.argmax(1)], cats[after.p_cat.argmax(1)]
        arp_mask = f["proto"].astype(str).to_numpy() == "arp"
        eb, ea = int((b != truth)[arp_mask].sum()), int((a != truth)[arp_mask].sum())
        tot["runs"] += 1
        tot["arp_flows"] += int(arp_mask.sum())
        tot["arp_errors_before"] += eb
        tot["arp_errors_after"] += ea
        tot["other_errors"] += int((b != truth)[~arp_mask].sum())
        if ea:
            print(f"{run.name}: ARP errors {eb} -> {ea}", flush=True)
        if ths:
            sub = np.array(det.subcategories, dtype=object)[
                np.where(det._mask[p_before.argmax(1)], ps[w.inverse], -1.0).argmax(1)]
            for t in ths:
                rows, new_cat, _, _ = arp.arp_verdicts(f, b, sub, p_before.max(1), t)
                c = b.copy()
                c[rows] = new_cat
                by_th[t] += int((c != truth)[arp_mask].sum())
    print(" ".join(f"{k}={v}" for k, v in tot.items()))
    if ths:
        print("ARP errors by min_confidence: " + " ".join(f"{t}: {n}" for t, n in by_th.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
