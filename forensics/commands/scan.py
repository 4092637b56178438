"""``forensics scan PATH...``: classify captures, write the report and the machine outputs.

Exit status: 0 no attack found, 1 attack found among the inputs that could be
read (even when other inputs failed: each failed one is named with its reason
in the report and on the terminal), 2 usage error or no input could be read.
"""

from __future__ import annotations

import argparse
import os

from forensics.errors import ExitStatus, ForensicsError


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {n}")
    return n


def register(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("paths", nargs="+", metavar="PATH", help="capture files or folders (scanned recursively, captures recognised by content)")
    p.add_argument("--report", metavar="REPORT.html", help="write the self-contained HTML incident report")
    p.add_argument("--json", metavar="SUMMARY.json", help="write summary.json (shape in the README)")
    p.add_argument("--alerts", metavar="ALERTS.jsonl", help="write one Elastic Common Schema event per incident")
    p.add_argument("--flows", metavar="FLOWS.parquet|FLOWS.csv", help="write every flow with its prediction")
    p.add_argument("--workers", type=_positive_int, default=None, metavar="N", help="parallel processes, each computing on cores/N threads: N bounds the busy cores (default: number of CPUs)")
    p.add_argument("--max-memory", type=float, default=None, metavar="GIB",  # (ScanConfig checks its range)
                   help="memory one scanning process may take on (default: what the system has free at the start); "
                        "a capture that needs more is reported as failed and the scan goes on")
    p.add_argument("--dask", metavar="tcp://HOST:PORT", help="run the per-file work on this Dask scheduler (files must be at the same path on the workers)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where the model runs (default cpu)")
    p.add_argument("--engine", choices=("numpy", "torch"), default=None,
                   help="inference engine (default: numpy on cpu, which does not load torch; torch on cuda)")
    p.add_argument("--model", metavar="DIR", default=None, help="model folder (default: the bundled model)")
    p.add_argument("--no-app-detail", action="store_true", help="do not read HTTP/DNS/MQTT detail of flagged flows with tshark")
    p.add_argument("--open-tunnels", action="store_true",
                   help="also open what Zeek opens and Argus (so BoT-IoT) does not: VXLAN, Geneve, GTP-U, Teredo, "
                        "AYIYA, GRE-in-UDP and IP-in-IP tunnels (the packet inside gets a flow of its own beside the "
                        "outer one) and FabricPath, 802.1ah PBB, VN-tag and PPP link headers")
    p.add_argument("--drop-copies", action="store_true",
                   help="count a packet the capture holds twice (a mirror port copying both directions, merged captures: "
                        "an IPv4 packet equal to one of the 4 before it within 10 ms, see README) once; Argus, and so "
                        "BoT-IoT, counts both copies")
    p.add_argument("--incident-gap", type=float, default=300.0, metavar="SECONDS", help="silence that splits two incidents of one attacker (default 300)")
    p.add_argument("--quiet", "-q", action="store_true", help="no tables on the terminal, only errors")
    return p


def output_targets(args) -> list[tuple[str, str, str]]:
    """(option, format, path) of each output asked for."""
    from forensics.report import flows_format

    out = [(opt, fmt, path) for opt, fmt, path in (("--report", "html", args.report), ("--json", "json", args.json),
                                                    ("--alerts", "jsonl", args.alerts)) if path]
    if args.flows:
        out.append(("--flows", flows_format(args.flows), args.flows))
    return out


def check_outputs(targets) -> None:
    """Fail before the work, not after it: two outputs that name one file, or one that cannot
    be written (:func:`forensics.commands.check_writable`)."""
    from forensics.commands import check_writable

    seen: dict[str, str] = {}
    for opt, _, path in targets:
        real = os.path.realpath(path)
        if real in seen:
            raise ForensicsError(f"{opt} {path}: the same file as {seen[real]}")
        seen[real] = opt
        check_writable(opt, path)


def config_from_args(args):
    from forensics.scan import ScanConfig

    check_outputs(output_targets(args))
    if args.incident_gap < 0:
        raise ForensicsError(f"--incident-gap must be >= 0, got {args.incident_gap}")
    if args.model and not os.path.isdir(args.model):
        raise ForensicsError(f"--model {args.model}: not a folder")
    return ScanConfig(
        workers=args.workers,
        dask=args.dask,
        device=args.device,
        engine=args.engine,
        model_dir=args.model,
        keep_flows=bool(args.flows),
        app_detail=False if (args.no_app_detail or not args.report) else None,
        incident_gap=args.incident_gap,
        open_tunnels=args.open_tunnels,
        drop_copies=args.drop_copies,
        max_memory_gib=args.max_memory,
    )


def run(args, console) -> int:
    from forensics import batch

    # the pool's fork server imports the pipeline while this process imports the report's modules
    batch.prestart(args.paths, args.workers, args.device, args.dask)
    from forensics.report import render
    from forensics.report.terminal import TerminalProgress, render as render_terminal
    from forensics.scan import scan

    config = config_from_args(args)
    if config.device == "cuda":
        try:
            import torch

            if not torch.cuda.is_available():
                raise ForensicsError("--device cuda: no CUDA device is available (use --device cpu)")
        except ImportError:
            raise ForensicsError("--device cuda: torch is not installed") from None
    written, failed = [], []
    with TerminalProgress(console) as progress:
        report = scan(args.paths, config, progress=progress)
        for opt, fmt, target in output_targets(args):
            progress.stage(f"writing {target}")
            try:  # one output that cannot be written does not cost the others
                render(fmt, report, target)
                written.append(target)
            except ForensicsError as exc:
                failed.append(f"{opt}: {exc}")
    if not args.quiet:
        render_terminal(report, console)
        for target in written:
            console.print(f"wrote {target}", highlight=False, markup=False)
    elif report.interrupted:  # (quiet: one line, not one per input left)
        console.print(f"forensics: interrupted: {report.not_scanned_interrupted} of {len(report.inputs)} input(s) not scanned; the outputs "
                      f"cover the {len(report.readable)} read before it", highlight=False, markup=False)
    elif not report.readable or report.failed:  # (quiet: no tables, but every error)
        for inp in report.failed:
            console.print(f"forensics: {inp.path}: not scanned: {inp.error}", highlight=False, markup=False)
        if not report.inputs:
            console.print("forensics: no capture found in the paths given", highlight=False, markup=False)
    for line in failed:
        console.print(f"forensics: error: {line}", highlight=False, markup=False)
    if failed and not report.interrupted:  # the terminal summary above still tells what was found
        return int(ExitStatus.USAGE)
    return report.exit_status
