"""What the detector says about captures it was not trained on, and how much of it is flagged as
outside its training data.

    python bench/unfamiliar.py ../shared/corpus                 # the public test-suite captures
    python bench/unfamiliar.py $(ls -d lab-out/*/run58)         # lab captures, for comparison

Runs ``forensics scan PATH... --flows F.parquet --json S.json`` (bundled model, no tshark
detail) and prints, overall and per top-level folder under each path: captures, flows, the share
the detector calls attacks, the flows whose window lies outside the training data (the
``unfamiliar`` column) and the attack verdicts among them, and the incidents whose evidence says
they are extrapolations.  The corpus has no attack labels: most of it is benign protocol traffic
(parser tests), some of it is attacks, so the attack share is not an error rate, only a picture
of how the lab-trained model reads other networks.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--show", type=int, default=12, help="captures listed (the ones with most flows)")
    args = ap.parse_args(argv)
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="forensics-unfamiliar-") as td:
        flows, summary = Path(td, "flows.parquet"), Path(td, "summary.json")
        cmd = [sys.executable, "-m", "forensics", "scan", *args.paths, "--flows", str(flows), "--json", str(summary),
               "-q", "--no-app-detail"] + (["--workers", str(args.workers)] if args.workers else [])
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if res.returncode not in (0, 1):
            print(res.stderr.strip(), file=sys.stderr)
            return res.returncode
        f = pd.read_parquet(flows)
        s = json.loads(summary.read_text())
    f["unfamiliar"] = f["unfamiliar"].fillna("").astype(str)
    f["u"] = f["unfamiliar"] != ""
    f["a"] = f["pred_attack"].astype(bool)

    def part(p: str) -> str:
        for root in args.paths:
            r = str(Path(root))
            if p.startswith(r + "/"):
                rest = p[len(r) + 1:].split("/")
                return f"{Path(r).name}/{rest[0]}" if len(rest) > 1 else Path(r).name
        return "(other)"

    f["part"] = f["capture"].map(part)
    print(f"{'folder':34s} {'captures':>8s} {'flows':>7s} {'attack':>7s} {'unfam.':>7s} {'att&unf':>8s}")
    for name, g in [*f.groupby("part"), ("all", f)]:
        print(f"{name:34s} {g.capture.nunique():8d} {len(g):7d} {g.a.mean():7.1%} {g.u.mean():7.1%} "
              f"{int((g.a & g.u).sum()):8d}")
    inc = s["incidents"]
    ext = sum(1 for i in inc if any("outside the model's training data" in e for e in i["evidence"]))
    warned = sum(1 for i in s["inputs"] if any("outside the model's training data" in w for w in i["warnings"]))
    print(f"\nattack verdicts {int(f.a.sum())} of {len(f)} flows; {int((f.a & f.u).sum())} of them outside the "
          f"training data; incidents {len(inc)}, {ext} marked as extrapolations; captures warned {warned}")
    big = f.groupby("capture").agg(flows=("a", "size"), attack=("a", "sum"), unfamiliar=("u", "sum"))
    print(f"\nthe {args.show} captures with most flows:")
    for cap, r in big.sort_values("flows", ascending=False).head(args.show).iterrows():
        print(f"  {cap[-70:]:70s} {r.flows:6d} flows, {r.attack:6d} attack, {r.unfamiliar:6d} unfamiliar")
    return 0


if __name__ == "__main__":
    sys.exit(main())
