"""``forensics decode CAPTURE...``: read captures and print their packet accounting.

Exit status: 0 every input read (warnings allowed), 2 when any input could not
be read at all (each named on stderr with its reason; the others still print).
"""

from __future__ import annotations

import json

from forensics.errors import CaptureError, ExitStatus


def register(p) -> None:
    p.add_argument("captures", nargs="+", metavar="CAPTURE", help="pcap / pcapng file, optionally gzip/bzip2/xz compressed")
    p.add_argument("--json", action="store_true", help="print one JSON object per input instead of a table")
    p.add_argument("--chunk-packets", type=int, default=1_000_000, help="packets decoded per chunk (bounds memory)")


def run(args, console) -> int:
    from rich.console import Console
    from rich.table import Table

    from forensics.decode import stream_packets

    out = Console(soft_wrap=True)
    status = ExitStatus.OK
    table = Table("input", "format", "packets", "decoded", "undecodable", "out of order", "warnings")
    for path in args.captures:
        stream = stream_packets(path, chunk_packets=args.chunk_packets)
        try:
            for _ in stream:
                pass
        except CaptureError as exc:
            console.print(f"forensics: error: {exc}", markup=False, highlight=False)
            status = ExitStatus.USAGE
            if args.json:
                out.print_json(json.dumps({"path": str(path), "error": exc.reason}))
            continue
        acct = stream.accounting
        for w in acct.warnings:
            console.print(f"forensics: warning: {path}: {w}", markup=False, highlight=False)
        if args.json:
            print(json.dumps(acct.to_dict()))
        else:
            und = ", ".join(f"{k}={v}" for k, v in sorted(acct.undecodable.items())) or "0"
            fmt = acct.format + (f"+{acct.compression}" if acct.compression else "")
            table.add_row(str(path), fmt, str(acct.packets), str(acct.decoded), und, str(acct.out_of_order), str(len(acct.warnings)))
    if not args.json and table.row_count:
        if out.is_terminal:
            out.print(table)
        else:  # plain, one tab-separated line per input, for scripts
            print("\t".join(str(c.header) for c in table.columns))
            for r in range(table.row_count):
                print("\t".join(str(c._cells[r]) for c in table.columns))
    return int(status)
