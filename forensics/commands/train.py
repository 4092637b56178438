"""``forensics train DATA... [--out DIR]``: train the CNN-LSTM detector."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("data", nargs="+", metavar="DATA", type=Path,
                        help="lab output folders (<scenario>/run<k>/ with capture.pcap + truth.json) or BoT-IoT CSV files")
    parser.add_argument("--out", type=Path, default=Path("model"), help="model folder to write (default: model/)")
    parser.add_argument("--seed", type=int, default=7, help="training seed (default 7)")
    parser.add_argument("--epochs", type=int, default=30,
                        help="epochs (default 30): the cosine schedule's length; the best validation epoch is kept")
    parser.add_argument("--cap", type=int, default=6000,
                        help="max distinct windows per (category, subcategory) class before SMOTE (default 6000)")
    parser.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: TrainConfig, 0.003)")
    parser.add_argument("--patience", type=int, default=None,
                        help="early-stopping patience in epochs, with --schedule constant (default: TrainConfig, 5)")
    parser.add_argument("--schedule", choices=["cosine", "constant"], default=None,
                        help="learning-rate schedule (default: TrainConfig, cosine)")
    parser.add_argument("--batch", type=int, default=None, help="minibatch size (default: TrainConfig, 512)")
    parser.add_argument("--class-weight", choices=["balanced", "sqrt", "none"], default=None,
                        help="cross-entropy class weights (default: TrainConfig, balanced)")
    for name, what in (("embed", "per-step embedding width E"), ("conv", "convolution channels H"),
                       ("hidden", "LSTM units U")):
        parser.add_argument(f"--{name}", type=int, default=None,
                            help=f"{what} (default: TrainConfig, 16; forensics/model.py documents the shapes)")
    parser.add_argument("--eval-split", choices=["test", "val"], default="test",
                        help="score the model on the held-out test runs (default) or on the validation runs only: "
                             "'val' never reads the test runs (for choosing settings without peeking; writes "
                             "metrics-val.json, no model card)")
    parser.add_argument("--no-stratify", action="store_true",
                        help="draw the per-class caps uniformly (models before 1.3.0) instead of spreading them over "
                             "runs and anchor-flow sizes")
    parser.add_argument("--short-captures", type=int, default=None, metavar="N",
                        help="augment the training runs with N blocks per size of 1-13 consecutive flows, each "
                             "windowed as a capture of its own (default: TrainConfig, 0: none)")
    parser.add_argument("--ranges-only", action="store_true",
                        help="train nothing: recompute the channel ranges in --out's model.json from its training "
                             "runs found in DATA (how the bundled model got them)")
    parser.add_argument("--no-baselines", action="store_true", help="skip the baseline models in the evaluation")
    parser.add_argument("--no-cache", action="store_true", help="re-extract flows instead of using the flow cache")
    return parser


def run(args, console) -> int:
    from dataclasses import replace

    from forensics.train import TrainConfig, hosts_markdown, per_class_markdown, tables_markdown, train_bundle

    def log(msg: str) -> None:
        console.print(msg, highlight=False, markup=False, soft_wrap=True)

    from forensics.commands import check_writable

    check_writable("--out", args.out, folder=True)  # (before the training, not after it)
    if args.ranges_only:
        from forensics.train import add_ranges

        add_ranges(args.data, args.out, log=log, use_cache=not args.no_cache)
        return 0
    opts = {k: getattr(args, k) for k in ("lr", "patience", "batch", "class_weight", "schedule", "embed", "conv", "hidden",
                                     "short_captures") if getattr(args, k) is not None}
    cfg = replace(TrainConfig(), seed=args.seed, epochs=args.epochs, cap=args.cap, stratify=not args.no_stratify, **opts)
    res = train_bundle(args.data, args.out, cfg, baselines=not args.no_baselines, log=log,
                       use_cache=not args.no_cache, eval_split=args.eval_split)
    rep = res["report"]
    if rep is not None:
        out = lambda text: console.print(text, highlight=False, markup=False, soft_wrap=True)  # noqa: E731
        if args.eval_split == "val":
            out(f"VALIDATION runs (test runs not read): {', '.join(rep['test_runs'])}")
        out(tables_markdown(rep["tables"]))
        out(per_class_markdown(rep["tables"]["cnn_lstm"]["imbalanced"]))
        if rep["hosts"]:
            out(hosts_markdown(rep["hosts"]))
        out(f"metrics: {args.out / 'metrics-val.json'}" if args.eval_split == "val" else f"model card: {args.out / 'MODEL_CARD.md'}")
    else:
        log(f"no {'validation' if args.eval_split == 'val' else 'held-out test'} runs: model trained but not evaluated")
    return 0
