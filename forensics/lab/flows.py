"""Flow tables of lab captures, labeled from their truth.

Uses :func:`forensics.features.extract_flows`, the project's Argus-faithful
flow stage (its agreement with argus + racluster is tested in
``tests/test_argus_diff.py``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from forensics.lab.truth import label_flows, load_truth


def capture_flows(pcap) -> pd.DataFrame:
    from forensics.features import extract_flows

    flows, _accounting = extract_flows(pcap)
    return flows


def labeled_flows(run_dir) -> pd.DataFrame:
    """Flows of ``run_dir/capture.pcap`` labeled with ``run_dir/truth.json``."""
    run_dir = Path(run_dir)
    truth = load_truth(run_dir / "truth.json")
    return label_flows(capture_flows(run_dir / truth.get("capture", "capture.pcap")), truth)
