"""``forensics train DATA... [--out DIR]``: train the CNN-LSTM detector."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("data", nargs="+", metavar="DATA", type=Path,
                        help="lab output folders (<scenario>/run<k>/ with capture.pcap + truth.json) or BoT-IoT CSV files")
    parser.add_argument("--out", type=Path, default=Path("model"), help="model folder to write (default: model/)")
    parser.add_argument("--seed", type=int, default=7, help="training seed (default 7)")
    parser.add_argument("--epochs", type=int, default=40, help="maximum epochs (early stopping on validation)")
    parser.add_argument("--cap", type=int, default=6000,
                        help="max distinct windows per (category, subcategory) class before SMOTE (default 6000)")
    parser.add_argument("--no-baselines", action="store_true", help="skip the baseline models in the evaluation")
    parser.add_argument("--no-cache", action="store_true", help="re-extract flows instead of using the flow cache")
    return parser


def run(args, console) -> int:
    from dataclasses import replace

    from forensics.train import TrainConfig, tables_markdown, train_bundle

    def log(msg: str) -> None:
        console.print(msg, highlight=False, markup=False, soft_wrap=True)

    cfg = replace(TrainConfig(), seed=args.seed, epochs=args.epochs, cap=args.cap)
    res = train_bundle(args.data, args.out, cfg, baselines=not args.no_baselines, log=log,
                       use_cache=not args.no_cache)
    if res["report"] is not None:
        console.print(tables_markdown(res["report"]["tables"]), highlight=False, markup=False, soft_wrap=True)
        console.print(f"model card: {args.out / 'MODEL_CARD.md'}", highlight=False, markup=False, soft_wrap=True)
    else:
        log("no held-out test runs: model trained but not evaluated")
    return 0
