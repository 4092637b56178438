"""Flow tables of lab captures, labeled from their truth.

Uses :func:`forensics.features.extract_flows` when the project provides it,
otherwise the Argus reference tools (``argus`` + ``racluster``), which is
what BoT-IoT used.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

from forensics.errors import ForensicsError
from forensics.lab.truth import label_flows, load_truth

ARGUS_FIELDS = "stime,ltime,proto,saddr,sport,daddr,dport,pkts,bytes,state,dur,spkts,dpkts,sbytes,dbytes"


def argus_flows(pcap) -> pd.DataFrame:
    """BoT-IoT style flows of ``pcap`` with argus + racluster (one row per flow key)."""
    pcap = Path(pcap)
    if not shutil.which("argus") and not Path("/usr/sbin/argus").exists():
        raise ForensicsError("argus not installed (Debian: argus-server argus-client)")
    argus = shutil.which("argus") or "/usr/sbin/argus"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "flows.argus"
        r = subprocess.run([argus, "-r", str(pcap), "-w", str(out)], capture_output=True, text=True)
        if r.returncode != 0 or not out.exists():
            raise ForensicsError(f"{pcap}: argus failed ({r.stderr.strip()[:200]})")
        r = subprocess.run(["racluster", "-r", str(out), "-n", "-u", "-c", ",", "-s", *ARGUS_FIELDS.split(",")],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise ForensicsError(f"{pcap}: racluster failed ({r.stderr.strip()[:200]})")
    df = pd.read_csv(io.StringIO(r.stdout), dtype={"saddr": str, "daddr": str, "sport": str, "dport": str})
    df.columns = [c.strip().lower() for c in df.columns]
    return df.rename(columns={"starttime": "stime", "lasttime": "ltime", "srcaddr": "saddr", "dstaddr": "daddr",
                              "totpkts": "pkts", "totbytes": "bytes", "srcpkts": "spkts", "dstpkts": "dpkts",
                              "srcbytes": "sbytes", "dstbytes": "dbytes"})


def capture_flows(pcap) -> pd.DataFrame:
    try:
        from forensics.features import extract_flows  # type: ignore[attr-defined]
    except ImportError:
        return argus_flows(pcap)
    res = extract_flows(pcap)
    return res[0] if isinstance(res, tuple) else res  # (flows, accounting)


def labeled_flows(run_dir) -> pd.DataFrame:
    """Flows of ``run_dir/capture.pcap`` labeled with ``run_dir/truth.json``."""
    run_dir = Path(run_dir)
    truth = load_truth(run_dir / "truth.json")
    return label_flows(capture_flows(run_dir / truth.get("capture", "capture.pcap")), truth)
