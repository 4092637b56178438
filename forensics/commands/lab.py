"""``forensics lab``: labeled captures made by real tools in network namespaces."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from forensics.lab.scenarios import ALL_SCENARIOS  # (the runner imports pandas: not for a parser)

    parser.add_argument("out_dir", metavar="OUT_DIR", type=Path, help="output directory (OUT_DIR/<scenario>/run<k>/)")
    parser.add_argument("--scenario", action="append", choices=ALL_SCENARIOS, metavar="NAME",
                        help=f"scenario to run (repeatable; default: all of them, i.e. every BoT-IoT subcategory, normal and mixed). One of: {', '.join(ALL_SCENARIOS)}")
    parser.add_argument("--seed", type=int, default=0, help="base seed; each run derives its own (default 0)")
    parser.add_argument("--runs", type=int, default=1, help="independent runs per scenario (default 1)")
    parser.add_argument("--first-run", type=int, default=0,
                        help="index of the first run (default 0): runs are run<first>..run<first+runs-1>; "
                             "use it to add runs to an existing dataset without touching the old ones")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of traffic per run (default 30, min 10)")
    parser.add_argument("--snaplen", type=int, default=0, help="bytes kept per packet (default: whole packets)")
    parser.add_argument("--flood-scale", type=float, default=1.0, help="scale flood rates and request counts (0-1; default 1; small samples use 0.1)")
    parser.add_argument("--jobs", type=int, default=1, help="runs executed at the same time (default 1)")
    parser.add_argument("--resume", action="store_true", help="skip runs that already have capture.pcap and truth.json")
    parser.add_argument("--check", action="store_true", help="after each run, rebuild flows and print label counts")
    return parser


def run(args, console) -> int:
    from rich.table import Table

    from forensics.lab.runner import run_lab

    def log(msg: str) -> None:
        console.print(msg, highlight=False, markup=False)

    results = run_lab(args.out_dir, args.scenario, runs=args.runs, seed=args.seed, duration=args.duration,
                      snaplen=args.snaplen, jobs=args.jobs, resume=args.resume, scale=args.flood_scale, log=log,
                      first_run=args.first_run)
    table = Table(title=f"lab runs in {args.out_dir}")
    columns = ["scenario", "run", "seed", "seconds", "capture MB"] + (["flows", "attack flows"] if args.check else [])
    for col in columns:
        table.add_column(col)
    for r in results:
        row = [r.scenario, str(r.run), str(r.seed), "skipped" if r.skipped else f"{r.seconds:.1f}", f"{r.capture_bytes / 1e6:.2f}"]
        if args.check:
            from forensics.lab.flows import labeled_flows

            df = labeled_flows(r.dir)
            row += [str(len(df)), str(int(df["attack"].sum()))]
        table.add_row(*row)
    console.print(table)
    return 0
