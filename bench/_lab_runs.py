"""Shared by the bench scripts that score lab runs with a detector (flood_errors, same_flood)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def runs_and_detector(description: str):
    """``RUN... [--model DIR]`` from the command line: (the runs found, the loaded detector)."""
    from forensics import train as T
    from forensics.detect import load_detector

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--model", type=Path, default=None, help="model folder (default: the bundled model)")
    args = ap.parse_args()
    return T.find_runs(args.runs), load_detector(args.model) if args.model else load_detector()
