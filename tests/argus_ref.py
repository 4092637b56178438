"""Run the reference Argus 3.0.8 (argus + racluster) and compare with forensics.flows.

Used by ``tests/test_argus_diff.py`` and ``bench/flows.py``; also a script:
``python tests/argus_ref.py CAPTURE...`` prints the per-capture match rate and
the first mismatches.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

RA_FIELDS = ("stime,ltime,proto,saddr,sport,daddr,dport,pkts,bytes,state,dur,mean,stddev,sum,min,max,"
             "spkts,dpkts,sbytes,dbytes,rate,srate,drate")
COLS = RA_FIELDS.split(",")
KEY = ["proto", "saddr", "sport", "daddr", "dport"]
EXACT = ["state", "pkts", "bytes", "spkts", "dpkts", "sbytes", "dbytes"]
TIMES = ["stime", "ltime", "dur", "sum", "min", "max", "mean"]
STATS = ["stddev"]
RATES = ["rate", "srate", "drate"]


def have_argus() -> bool:
    return shutil.which("argus") is not None and shutil.which("racluster") is not None


def argus_flows(capture, workdir=None) -> pd.DataFrame:
    """racluster's rows for a capture (every column as text, like the CSV)."""
    with tempfile.TemporaryDirectory(dir=workdir) as td:
        out = Path(td) / "out.argus"
        subprocess.run(["argus", "-r", str(capture), "-w", str(out)], check=True, capture_output=True)
        if not out.exists():
            return pd.DataFrame(columns=COLS)
        res = subprocess.run(["racluster", "-r", str(out), "-n", "-u", "-c", ",", "-s", RA_FIELDS],
                             check=True, capture_output=True, text=True)
    if not res.stdout.strip():  # racluster read the file but printed nothing (not even a header)
        return pd.DataFrame(columns=COLS)
    df = pd.read_csv(io.StringIO(res.stdout), dtype=str, keep_default_na=False)
    df.columns = COLS
    return df


def argus_macs(capture, workdir=None) -> pd.DataFrame:
    """racluster's key and MAC columns for a capture read with ``argus -m`` (MAC addresses kept)."""
    cols = KEY + ["smac", "dmac"]
    with tempfile.TemporaryDirectory(dir=workdir) as td:
        out = Path(td) / "out.argus"
        subprocess.run(["argus", "-m", "-r", str(capture), "-w", str(out)], check=True, capture_output=True)
        if not out.exists():
            return pd.DataFrame(columns=cols)
        res = subprocess.run(["racluster", "-r", str(out), "-n", "-u", "-c", ",", "-s", ",".join(cols)],
                             check=True, capture_output=True, text=True)
    if not res.stdout.strip():
        return pd.DataFrame(columns=cols)
    df = pd.read_csv(io.StringIO(res.stdout), dtype=str, keep_default_na=False)
    df.columns = cols
    return df


def compare_macs(ours: pd.DataFrame, ref: pd.DataFrame) -> dict:
    """racluster rows (``argus_macs``) matched to ours by key: how many have equal smac and dmac."""
    cols = KEY + ["smac", "dmac"]
    ours = ours[cols].astype(str).drop_duplicates(KEY)
    ref = ref.copy()
    for c in ("saddr", "daddr"):  # a MAC-keyed flow's address: argus -m prints ff:ff:ff:ff:ff:ff as Broadcast
        ref[c] = ref[c].replace("Broadcast", "ff:ff:ff:ff:ff:ff")
    m = ref[cols].drop_duplicates(KEY).merge(ours, on=KEY, how="left", suffixes=("_r", "_o"), indicator=True)
    found = (m["_merge"] == "both").to_numpy()
    same = found & (m["smac_r"] == m["smac_o"]).to_numpy() & (m["dmac_r"] == m["dmac_o"]).to_numpy()
    return {"ref_rows": len(m), "found": int(found.sum()), "equal": int(same.sum()), "bad_rows": m[found & ~same]}


def _close(a: np.ndarray, b: np.ndarray, rel: float, absolute: float) -> np.ndarray:
    return np.abs(a - b) <= np.maximum(rel * np.maximum(np.abs(a), np.abs(b)), absolute)


def compare(ours: pd.DataFrame, ref: pd.DataFrame) -> dict:
    """Match racluster rows to ours by key; count rows equal on every compared column.

    Times are printed by racluster with 6 decimals and rates as float32, so
    values are compared within 1e-6 relative or the printing resolution
    (0.5 us for times, float32 rounding for rates).  ``stddev`` is reported
    separately: racluster accumulates it in single precision (see the Flows section of README.md).
    """
    ref = ref.copy()
    ours = ours.copy()
    for df in (ref, ours):
        for k in KEY:
            df[k] = df[k].astype(str)
    # racluster can print two rows with one key (PPPoE discovery 0x8863 and session 0x8864 frames both
    # print as "pppoe"): rows of one key are paired in order of their start time, the first with
    # the first (before 2026-11-28 only the first row of a key was compared, so such a second row
    # could never match)
    def paired(df):
        st = pd.to_numeric(df["stime"], errors="coerce") if "stime" in df else pd.Series(0.0, index=df.index)
        df = df.iloc[np.argsort(st.to_numpy(), kind="stable")].copy()
        df["_occ"] = df.groupby(KEY, sort=False).cumcount().to_numpy()
        return df

    ref_d, ours = paired(ref), paired(ours)
    m = ref_d.merge(ours, on=KEY + ["_occ"], how="left", suffixes=("_r", "_o"), indicator=True)
    found = (m["_merge"] == "both").to_numpy()
    ok = found.copy()
    why = {}
    for c in EXACT:
        r = m[f"{c}_r"].astype(str).to_numpy()
        o = m[f"{c}_o"]
        if c != "state":
            o = pd.to_numeric(o, errors="coerce").fillna(-1).astype(np.int64)
        o = o.astype(str).to_numpy()
        bad = found & (r != o)
        why[c] = int(bad.sum())
        ok &= ~bad
    for c in TIMES + RATES + STATS:
        r = pd.to_numeric(m[f"{c}_r"], errors="coerce").to_numpy(dtype=np.float64)
        o = pd.to_numeric(m[f"{c}_o"], errors="coerce").to_numpy(dtype=np.float64)
        if c in TIMES:
            good = _close(r, np.round(o, 6), 1e-6, 0.6e-6)
        elif c in RATES:
            good = _close(r, o.astype(np.float32).astype(np.float64), 1e-6, 0.6e-6)
        else:
            good = _close(r, o, 1e-6, 0.6e-6)
        bad = found & ~good
        why[c] = int(bad.sum())
        if c not in STATS:
            ok &= ~bad
    return {
        "ref_rows": len(ref),
        "our_rows": len(ours),
        "matched": int(ok.sum()),
        "missing": int((~found).sum()),
        "mismatch_by_column": {k: v for k, v in why.items() if v},
        "stddev_within_1e-6": int((found & ok).sum() - why.get("stddev", 0)),
        "rate": float(ok.sum()) / len(ref_d) if len(ref_d) else 1.0,
        "bad_rows": m[~ok],
    }


def ours_for(capture, chunk_packets=1_000_000) -> pd.DataFrame:
    from forensics.features import extract_flows

    df, _ = extract_flows(capture, chunk_packets=chunk_packets)
    return df


def compare_capture(cap) -> tuple[dict | None, str]:
    """(``compare`` of our rows with racluster's, "") for one capture, or (None, why it is not
    compared): unreadable by either tool, a link type neither opens, no racluster row."""
    from forensics.features import extract_flows

    try:
        ours, acct = extract_flows(cap)
        if acct.packets and acct.undecodable.get("unknown_link_type", 0) == acct.packets:
            return None, "skipped (link type not supported; Argus's rows are garbage too)"
        ref = argus_flows(cap)
    except Exception as exc:  # a capture argus or this code cannot read at all
        return None, f"skipped ({type(exc).__name__})"
    if not len(ref):
        return None, ""
    return compare(ours, ref), ""


def measure(caps, name=str, rows: bool = False) -> tuple[int, int]:
    """(matched, racluster rows) over ``caps``, printing each capture's rate (and its first
    mismatching rows with ``rows``); ``name`` labels a capture in the output."""
    tot = ok = 0
    for cap in caps:
        res, why = compare_capture(cap)
        if res is None:
            if why:
                print(f"{name(cap)}: {why}")
            continue
        tot += res["ref_rows"]
        ok += res["matched"]
        print(f"{name(cap)}: {res['matched']}/{res['ref_rows']} rows matched ({100 * res['rate']:.2f} %), "
              f"missing {res['missing']}, by column {res['mismatch_by_column']}", flush=True)
        bad = res["bad_rows"]
        if len(bad) and rows:
            cols = [c for c in bad.columns if c.split("_")[0] in KEY + EXACT + ["stime", "dur", "mean", "stddev"]]
            print(bad[cols].head(8).to_string())
    return ok, tot


def _main(argv) -> None:
    """``python tests/argus_ref.py [--quiet] [--list FILE] CAPTURE...``: the match rate per capture
    (and its first mismatching rows unless ``--quiet``), then the total over all of them.
    ``--list FILE``: more captures, one path per line (relative paths are taken from
    ../shared/corpus), e.g. ``tests/corpus-825.txt``."""
    import argparse

    ap = argparse.ArgumentParser(description=_main.__doc__)
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--list")
    ap.add_argument("captures", nargs="*")
    a = ap.parse_args(argv)
    caps = list(a.captures)
    if a.list:
        root = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"
        caps += [str(p if p.is_absolute() else root / p)
                 for p in (Path(x.strip()) for x in Path(a.list).read_text().splitlines() if x.strip())]
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 60)
    ok, tot = measure(caps, rows=not a.quiet)
    if len(caps) > 1:
        print(f"total: {ok}/{tot} racluster rows matched ({100 * ok / max(tot, 1):.2f} %)")


if __name__ == "__main__":
    _main(sys.argv[1:])
