"""Thin command line: parse arguments, call the API, map errors to one line.

Each subcommand lives in ``forensics/commands/<name>.py`` and exposes
``register(subparsers) -> argparse.ArgumentParser`` and
``run(args, console) -> int``.  This module only dispatches and turns
exceptions into a one-line message and an :class:`ExitStatus`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from forensics import __version__
from forensics.errors import ExitStatus, ForensicsError

# name -> module under forensics.commands (imported lazily so `forensics flows`
# does not pay for importing torch).
COMMANDS: dict[str, str] = {
    "decode": "decode",
    "flows": "flows",
    "scan": "scan",
    "lab": "lab",
    "train": "train",
    "evaluate": "evaluate",
}

_HELP = {
    "decode": "read captures and print packet accounting",
    "flows": "rebuild BoT-IoT (Argus) flow records from captures",
    "scan": "classify captures and write the incident report",
    "lab": "generate labeled captures with real tools in network namespaces",
    "train": "train the CNN-LSTM detector",
    "evaluate": "evaluate a model against labeled captures",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2
        self.exit(int(ExitStatus.USAGE), f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="forensics", description="Offline network forensics for IoT packet captures.")
    parser.add_argument("--version", action="version", version=f"forensics {__version__}")
    parser.add_argument("--traceback", action="store_true", help="show the full traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module in COMMANDS.items():
        p = sub.add_parser(name, help=_HELP[name], description=_HELP[name])
        p.set_defaults(_module=module)
        p.add_argument("--traceback", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        try:
            mod = importlib.import_module(f"forensics.commands.{module}")
        except ModuleNotFoundError as exc:  # command not built yet
            if exc.name != f"forensics.commands.{module}":
                raise
            p.set_defaults(_missing=True)
            continue
        mod.register(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return int(ExitStatus.USAGE)
    if getattr(args, "_missing", False):
        print(f"forensics: error: command '{args.command}' is not available in this build", file=sys.stderr)
        return int(ExitStatus.USAGE)
    console = Console(stderr=True, soft_wrap=True)
    try:
        mod = importlib.import_module(f"forensics.commands.{args._module}")
        return int(mod.run(args, console))
    except ForensicsError as exc:
        if args.traceback:
            traceback.print_exc()
        print(f"forensics: error: {exc}", file=sys.stderr)
        return int(exc.exit_status)
    except KeyboardInterrupt:
        print("forensics: interrupted", file=sys.stderr)
        return int(ExitStatus.INTERRUPTED)
    except BrokenPipeError:
        return int(ExitStatus.OK)
    except Exception as exc:  # a bug: one line unless asked
        if args.traceback:
            traceback.print_exc()
        print(f"forensics: internal error: {type(exc).__name__}: {exc} (rerun with --traceback)", file=sys.stderr)
        return int(ExitStatus.INTERNAL)
