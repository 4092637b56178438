"""DoS / DDoS errors of a model with and without the capture-level flood steps (forensics/ddos.py).

    python bench/flood_errors.py lab-out/*/run3[2-5]      # lab runs (truth.json labels)
    python bench/flood_errors.py --model DIR lab-out/...  # another model folder

For every run: the detector's per-flow category (``Detector.predict_proba``), then
:func:`forensics.ddos.concurrent_flood` (DoS -> DDoS) and :func:`forensics.ddos.lone_flood`
(DDoS -> DoS) on it.  Prints each run where a step changes a flow (flows changed, of which
right / wrong against the truth), then the totals: flows whose truth is DoS or DDoS, errors
between the two with the model alone, after DoS -> DDoS, after both.  Runs of the model's
training split score what the model has seen: not a test.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from forensics import ddos  # noqa: E402
from forensics import train as T  # noqa: E402
from _lab_runs import runs_and_detector  # noqa: E402


def main() -> int:
    runs, det = runs_and_detector(__doc__.splitlines()[0])
    cats = np.array(det.categories, dtype=object)
    tot = {"runs": 0, "flood_flows": 0, "errors_model": 0, "errors_to_ddos": 0, "errors_both": 0,
           "to_ddos_right": 0, "to_ddos_wrong": 0, "to_dos_right": 0, "to_dos_wrong": 0}
    for entry in runs:
        run = T.load_run(entry)
        f = run.flows
        w, pc, _ = det.predict_proba(f)
        model = cats[pc[w.inverse].argmax(1)]
        truth = f["category"].astype(str).to_numpy()
        up = ddos.concurrent_flood(f, model)
        mid = np.where(up, "DDoS", model)
        down = ddos.lone_flood(f, model)
        both = np.where(down, "DoS", mid)
        is_flood = np.isin(truth, ("DoS", "DDoS"))
        tot["runs"] += 1
        tot["flood_flows"] += int(is_flood.sum())
        for key, pred in (("errors_model", model), ("errors_to_ddos", mid), ("errors_both", both)):
            tot[key] += int(((pred != truth) & is_flood & np.isin(pred, ("DoS", "DDoS"))).sum())
        for name, m, want in (("to_ddos", up, "DDoS"), ("to_dos", down, "DoS")):
            right, wrong = int((m & (truth == want)).sum()), int((m & (truth != want)).sum())
            tot[f"{name}_right"] += right
            tot[f"{name}_wrong"] += wrong
            if right or wrong:
                print(f"{run.name}: {name.replace('_', ' ')} {right + wrong} flows ({right} right, {wrong} wrong)", flush=True)
    print(" ".join(f"{k}={v}" for k, v in tot.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
