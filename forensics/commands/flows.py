"""``forensics flows CAPTURE... -o OUT.csv|OUT.parquet``: BoT-IoT flow records.

Rows of every capture go to one file, written batch by batch (memory does not
grow with capture length).  ``pkSeqID`` runs across all inputs.  A truncated
capture gives its partial rows and a warning; a file that is not a capture is
an error (exit 2) naming the file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from forensics.errors import ExitStatus, ForensicsError, OutputError

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def register(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("captures", nargs="+", metavar="CAPTURE", help="pcap / pcapng (optionally .gz .bz2 .xz)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="output file: .csv or .parquet")
    parser.add_argument("--chunk-packets", type=int, default=262_144, metavar="N",
                        help="packets decoded per chunk (memory vs. speed; output does not change)")
    parser.add_argument("--open-tunnels", action="store_true",
                        help="also open what Zeek opens and Argus (so BoT-IoT) does not: VXLAN, Geneve, GTP-U, Teredo, "
                        "AYIYA, GRE-in-UDP and IP-in-IP tunnels (the packet inside gets a flow of its own beside the "
                        "outer one) and FabricPath, 802.1ah PBB, VN-tag and PPP link headers")
    parser.add_argument("--drop-copies", action="store_true",
                        help="count a packet the capture holds twice (a mirror port copying both directions, merged captures: "
                             "an IPv4 packet equal to one of the 4 before it within 10 ms, see README) once; Argus, and so "
                             "BoT-IoT, counts both copies")
    return parser


class _Writer:
    def __init__(self, path: Path, fmt: str):
        self.path, self.fmt = path, fmt
        self.rows = 0
        self._pq = None
        self._first = True

    def _failed(self, exc: OSError) -> OutputError:
        """(not the capture's fault: the whole command stops, exit 2)"""
        return OutputError(f"--output {self.path}: cannot write: {exc.strerror or exc}")

    def write(self, df) -> None:
        if not len(df):
            return
        try:
            self._write(df)
        except OSError as exc:
            raise self._failed(exc) from exc
        self.rows += len(df)

    def _write(self, df) -> None:
        if self.fmt == "csv":
            import pyarrow as pa
            import pyarrow.csv as pcsv

            table = pa.Table.from_pandas(df, preserve_index=False)
            with open(self.path, "wb" if self._first else "ab") as fh:
                # (rows are turned to text 16384 at a time: faster than the default 1024, same bytes)
                pcsv.write_csv(table, fh, pcsv.WriteOptions(include_header=self._first, quoting_style="needed",
                                                            batch_size=16384))
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(df, preserve_index=False)
            if self._pq is None:
                self._pq = pq.ParquetWriter(self.path, table.schema)
            self._pq.write_table(table.cast(self._pq.schema))
        self._first = False

    def close(self, empty_frame) -> None:
        """``empty_frame()`` builds the header / schema written when no row was."""
        try:
            if self._first:  # nothing written: still produce a file with the header / schema
                empty = empty_frame()
                if self.fmt == "csv":
                    empty.to_csv(self.path, index=False)
                else:
                    empty.to_parquet(self.path, index=False)
            if self._pq is not None:
                self._pq.close()
        except OSError as exc:
            raise self._failed(exc) from exc


def run(args, console) -> int:
    from forensics import schema
    from forensics.decode import stream_packets
    from forensics.features import _Finisher
    from forensics.flows import FlowBuilder

    out = Path(args.output)
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise ForensicsError(f"--output {out}: unknown format '{out.suffix}', use .csv or .parquet")
    if args.chunk_packets < 1:
        raise ForensicsError(f"--chunk-packets {args.chunk_packets}: must be at least 1")
    for c in args.captures:
        if not Path(c).is_file():
            raise ForensicsError(f"{c}: no such file")
    if out.parent and not out.parent.exists():
        raise ForensicsError(f"--output {out}: folder {out.parent} does not exist")
    if out.is_dir():
        raise ForensicsError(f"--output {out}: is a folder; give a file name")
    writer = _Writer(out, fmt)
    fin = _Finisher()
    failed = 0
    try:
        for cap in args.captures:
            # (no SHA-256 of the input: this command reports none; 0.2-0.3 s per 76 MB)
            stream = stream_packets(cap, chunk_packets=args.chunk_packets, open_tunnels=args.open_tunnels,
                                    hash_file=False, drop_copies=args.drop_copies)
            builder = FlowBuilder()
            before = writer.rows
            try:
                for table in stream:
                    rows = builder.add(table)
                    del table  # (neither the chunk nor its rows stay alive while the next is read and built)
                    if len(rows):  # (an empty batch writes nothing)
                        writer.write(fin(rows))
                    del rows
            except OutputError:
                raise
            except ForensicsError as exc:
                failed += 1
                console.print(f"[red]error[/red]: {exc}", highlight=False, soft_wrap=True)
                continue
            finally:
                pass
            for rows in builder.finish_batches():
                writer.write(fin(rows))
            acct = stream.accounting
            for w in acct.warnings:
                console.print(f"[yellow]warning[/yellow]: {cap}: {w}", highlight=False, soft_wrap=True)
            console.print(f"{cap}: {acct.packets} packets, {writer.rows - before} flows", highlight=False)
    finally:
        writer.close(schema.empty_frame)  # (built only when nothing was written)
    if failed == len(args.captures):
        return int(ExitStatus.USAGE)
    console.print(f"wrote {writer.rows} flows to {out}", highlight=False)
    return int(ExitStatus.USAGE) if failed else int(ExitStatus.OK)
