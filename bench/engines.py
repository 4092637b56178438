"""The numpy inference engine against the torch engine on real captures.

    python bench/engines.py CAPTURE_OR_FOLDER... [--model DIR] [--json out.json]

For every capture (folders are searched for *.pcap / *.pcapng / *.pcap.gz): the flows are
extracted once, then ``Detector.predict`` runs with ``engine="numpy"`` and ``engine="torch"``
on the same flow table.  Prints per capture and in total: flows compared, verdict
(``pred_category``, ``pred_subcategory``) mismatches, the largest ``confidence`` difference,
evidence mismatches (flows and distinct texts), and the timings of both engines.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def captures(paths):
    for p in map(Path, paths):
        if p.is_dir():
            yield from sorted(q for q in p.rglob("*") if q.is_file() and q.name.endswith((".pcap", ".pcapng", ".pcap.gz")))
        else:
            yield p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--model", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    from forensics.detect import load_detector
    from forensics.features import extract_flows

    dets = {e: load_detector(args.model, engine=e) for e in ("numpy", "torch")}
    rows, total = [], {"captures": 0, "flows": 0, "attack_flows": 0, "verdict_mismatch": 0, "evidence_mismatch": 0,
                       "max_conf_diff": 0.0}
    for cap in captures(args.paths):
        flows, _ = extract_flows(str(cap))
        if len(flows) == 0:
            continue
        out, secs = {}, {}
        for e, det in dets.items():
            t = time.perf_counter()
            out[e] = det.predict(flows)
            secs[e] = time.perf_counter() - t
        a, b = out["numpy"], out["torch"]
        verdict = int(((a.pred_category != b.pred_category) | (a.pred_subcategory != b.pred_subcategory)).sum())
        ev = a.evidence != b.evidence
        diff = float((a.confidence - b.confidence).abs().max())
        r = {"capture": str(cap), "flows": len(flows), "attack_flows": int(a.pred_attack.sum()), "verdict_mismatch": verdict,
             "max_conf_diff": diff, "evidence_mismatch": int(ev.sum()),
             "evidence_mismatch_examples": sorted({(x, y) for x, y in zip(a.evidence[ev], b.evidence[ev])})[:5],
             "seconds_numpy": round(secs["numpy"], 3), "seconds_torch": round(secs["torch"], 3)}
        rows.append(r)
        print(f"{cap}: {r['flows']:,} flows ({r['attack_flows']:,} attack), verdict mismatches {verdict}, "
              f"max |confidence diff| {diff:.2e}, evidence mismatches {r['evidence_mismatch']}; "
              f"predict numpy {secs['numpy']:.2f} s, torch {secs['torch']:.2f} s", flush=True)
        for x, y in r["evidence_mismatch_examples"]:
            print(f"    numpy: {x!r}\n    torch: {y!r}")
        total["captures"] += 1
        for k in ("flows", "attack_flows", "verdict_mismatch", "evidence_mismatch"):
            total[k] += r[k]
        total["max_conf_diff"] = max(total["max_conf_diff"], diff)
    print(f"total: {total['captures']} captures, {total['flows']:,} flows ({total['attack_flows']:,} attack verdicts), "
          f"verdict mismatches {total['verdict_mismatch']}, max |confidence diff| {total['max_conf_diff']:.2e}, "
          f"evidence mismatches {total['evidence_mismatch']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"total": total, "captures": rows}, indent=1, default=list) + "\n")
    return 0 if total["verdict_mismatch"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
