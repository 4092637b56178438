"""Flows the same-flood step (forensics/sameflood.py) turns, against the truth.

    python bench/same_flood.py lab-out/*/run4[4-9]        # lab runs (truth.json labels)
    python bench/same_flood.py --model DIR lab-out/...    # another model folder

For every run: the detector's per-flow probabilities (``Detector.predict_proba``), then
:func:`forensics.refine.refine_flows` with and without the same-flood step (the ARP step after it
sees its verdicts, so ARP flows may change too).  Prints each run where a flow's final category
differs (flows changed, of which turned right / turned wrong / wrong either way, and how many of
the changed flows are truly Normal), then the totals, with the subcategory right or wrong among
the flows turned right.  Runs of the model's training split score what the model has seen: not a test.
"""

from __future__ import annotations

import sys
from pathlib import Path
from unittest import mock

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from forensics import sameflood  # noqa: E402
from forensics import train as T  # noqa: E402
from _lab_runs import runs_and_detector  # noqa: E402
from forensics.refine import refine_flows  # noqa: E402


def _off(flows, p_cat, p_sub, *args, **kwargs):
    return p_cat, p_sub, np.zeros(0, np.int64), np.zeros(0, object)


def main() -> int:
    runs, det = runs_and_detector(__doc__.splitlines()[0])
    cats, subs = np.array(det.categories, dtype=object), np.array(det.subcategories, dtype=object)
    tot = {"runs": 0, "flows": 0, "changed": 0, "right": 0, "wrong": 0, "both_wrong": 0, "truly_normal": 0,
           "sub_right": 0, "sub_wrong": 0, "missed_attack_before": 0, "missed_attack_after": 0}
    for entry in runs:
        run = T.load_run(entry)
        f = run.flows
        w, pc, ps = det.predict_proba(f)
        out = {}
        for name in ("before", "after"):
            if name == "before":
                with mock.patch.object(sameflood, "refine", _off):
                    r = refine_flows(f, pc[w.inverse], ps[w.inverse], det.categories, det.subcategories, det._mask)
            else:
                r = refine_flows(f, pc[w.inverse], ps[w.inverse], det.categories, det.subcategories, det._mask)
            c = r.p_cat.argmax(1)
            out[name] = (cats[c], subs[np.where(det._mask[c], r.p_sub, -1.0).argmax(1)])
        truth = f["category"].astype(str).to_numpy()
        tsub = f["subcategory"].astype(str).to_numpy()
        (b, _), (a, a_sub) = out["before"], out["after"]
        ch = b != a
        right, wrong = ch & (a == truth), ch & (b == truth)
        tot["runs"] += 1
        tot["flows"] += len(f)
        tot["changed"] += int(ch.sum())
        tot["right"] += int(right.sum())
        tot["wrong"] += int(wrong.sum())
        tot["both_wrong"] += int((ch & ~right & ~wrong).sum())
        tot["truly_normal"] += int((ch & (truth == "Normal")).sum())
        tot["sub_right"] += int((right & (a_sub == tsub)).sum())
        tot["sub_wrong"] += int((right & (a_sub != tsub)).sum())
        tot["missed_attack_before"] += int(((b == "Normal") & (truth != "Normal")).sum())
        tot["missed_attack_after"] += int(((a == "Normal") & (truth != "Normal")).sum())
        if ch.any():
            print(f"{run.name}: {int(ch.sum())} flows changed ({int(right.sum())} right, {int(wrong.sum())} wrong, "
                  f"{int((ch & ~right & ~wrong).sum())} wrong either way; {int((ch & (truth == 'Normal')).sum())} "
                  f"truly Normal)", flush=True)
    print(" ".join(f"{k}={v}" for k, v in tot.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
