"""``forensics evaluate DATA... [--model DIR]``: score a model on held-out labeled runs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("data", nargs="+", metavar="DATA", type=Path,
                        help="lab output folders or BoT-IoT CSV files (split by run as in training)")
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the bundled model)")
    parser.add_argument("--baselines", action="store_true",
                        help="also train and score the baselines (RandomForest, LogisticRegression, CNN-only, LSTM-only)")
    parser.add_argument("--all-runs", action="store_true",
                        help="score every run given, not only the held-out test runs of the split")
    parser.add_argument("--eval-split", choices=["test", "val"], default="test",
                        help="score the held-out test runs (default) or the validation runs only ('val' never reads "
                             "the test runs)")
    parser.add_argument("--json", type=Path, default=None, help="write the full metrics as JSON here")
    return parser


def run(args, console) -> int:
    from dataclasses import fields, replace

    from forensics.detect import load_detector
    from forensics.train import (TrainConfig, hosts_markdown, load_dataset, per_class_markdown, run_evaluation,
                                 tables_markdown)

    def log(msg: str) -> None:
        console.print(msg, highlight=False, markup=False, soft_wrap=True)

    if args.json:
        from forensics.commands import check_writable

        check_writable("--json", args.json)  # (before minutes of work)
    det = load_detector(args.model, engine="torch")  # evaluation uses the torch module (det.model)
    known = {f.name for f in fields(TrainConfig)}
    saved = det.meta.get("training", {}).get("config", {})
    cfg = TrainConfig(**{k: v for k, v in saved.items() if k in known})
    if "stratify" not in saved:  # models before 1.3.0 were trained with uniformly drawn caps
        cfg = replace(cfg, stratify=False)
    if args.eval_split == "val" and args.all_runs:
        log("--eval-split val and --all-runs exclude each other")
        return 2
    runs = load_dataset(args.data, log, splits=("train", "val") if args.eval_split == "val" else ("train", "val", "test"))
    trained_on = set(det.meta.get("training", {}).get("split", {}).get("train", [])) | \
        set(det.meta.get("training", {}).get("split", {}).get("val", []))
    if args.all_runs:
        runs["test"] = runs["train"] + runs["val"] + runs["test"]
    if args.eval_split == "val":
        runs["test"] = runs["val"]
        trained_on = set(det.meta.get("training", {}).get("split", {}).get("train", []))
    leaked = [r.name for r in runs["test"] if r.name in trained_on]
    if leaked:
        log(f"warning: {len(leaked)} scored run(s) were used in training ({', '.join(leaked[:3])}...)")
    report = run_evaluation(det.model, det.mean, det.std, runs, cfg, args.baselines, None, log)
    which = "VALIDATION runs" if args.eval_split == "val" else "test runs"
    console.print(f"model {det.version} sha256 {det.sha256[:12]}...; {which}: {', '.join(report['test_runs'])}",
                  highlight=False, markup=False, soft_wrap=True)
    console.print(tables_markdown(report["tables"]), highlight=False, markup=False, soft_wrap=True)
    console.print(per_class_markdown(report["tables"]["cnn_lstm"]["imbalanced"]), highlight=False, markup=False, soft_wrap=True)
    if report["hosts"]:
        console.print(hosts_markdown(report["hosts"]), highlight=False, markup=False, soft_wrap=True)
    if args.json:  # (the tables above are printed: a failed write loses only the file)
        from forensics.report.machine import _atomic_write

        _atomic_write(args.json, lambda fh: fh.write(json.dumps(report, indent=1) + "\n"))
    return 0
