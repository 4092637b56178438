"""Terminal output with rich: live progress while scanning, tables at the end.

The console is passed in (the CLI makes one on stderr).  On a terminal the
progress shows one bar for the files and one line per file with its current
stage; off a terminal nothing is drawn while working and the final tables are
plain text (rich drops colour and box-drawing when not a tty).
"""

from __future__ import annotations

import os
import threading

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from forensics.report import register
from forensics.report.model import Report
from forensics.scan import Progress

RICH_COLOURS = {
    "DDoS": "bold red",
    "DoS": "dark_orange",
    "Reconnaissance": "bold blue",
    "Theft": "bold magenta",
    "Normal": "green",
}
ROLE_STYLE = {"attacker": "bold red", "victim": "yellow", "normal": "green"}


class TerminalProgress(Progress):
    """Rich progress bars on a terminal; silent otherwise."""

    def __init__(self, console: Console):
        self.console = console
        self.live = console.is_terminal
        self._lock = threading.Lock()
        self._bar = None
        self._files_task = None
        self._file_tasks: dict[str, int] = {}
        if self.live:
            self._bar = RichProgress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )

    def __enter__(self):
        if self._bar is not None:
            self._bar.start()
            self._stage = self._bar.add_task("starting", total=None)
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.stop()
        return False

    def stage(self, name: str) -> None:
        if self._bar is not None:
            with self._lock:
                self._bar.update(self._stage, description=Text(name, style="bold"))

    def files(self, candidates) -> None:
        if self._bar is None:
            return
        with self._lock:
            self._files_task = self._bar.add_task("captures", total=len(candidates))
            for c in candidates[:12]:  # one line per file, for the first dozen
                self._file_tasks[c.path] = self._bar.add_task(Text(f"  {os.path.basename(c.path)}: queued"), total=3)

    def file_stage(self, path: str, stage: str) -> None:
        if self._bar is None or path not in self._file_tasks:
            return
        step = {"flows": 1, "detect": 2}.get(stage, 0)
        with self._lock:
            self._bar.update(self._file_tasks[path], description=Text(f"  {os.path.basename(path)}: {stage}"), completed=step)

    def file_done(self, path: str, error: str | None) -> None:
        if self._bar is None:
            return
        with self._lock:
            if self._files_task is not None:
                self._bar.advance(self._files_task)
            tid = self._file_tasks.pop(path, None)
            if tid is not None:
                self._bar.remove_task(tid)
            if error:
                self._bar.console.print(Text(f"{path}: {error}", style="yellow"))


def _capture_lines(title: str, per_capture: dict[str, list[str]], console: Console, most: int = 10) -> None:
    """Under the tables: ``title``, then one line per (capture, warning) of ``per_capture``, ``most`` at most."""
    lines = [(path, w) for path, ws in per_capture.items() for w in ws]
    if not lines:
        return
    console.print(Text(title, style="bold yellow"))
    for path, w in lines[:most]:
        line = Text("  ")
        line.append(path)
        line.append(f": {w}")
        console.print(line)
    if len(lines) > most:
        console.print(f"  ... and {len(lines) - most:,} more (listed with their captures in the report and summary.json)")


def _clock_lines(report: Report, console: Console) -> None:
    """The captures' clock warnings (forensics.clock): the times in the tables follow those clocks."""
    _capture_lines("Capture clocks (incident times follow them):", report.clock_warnings, console)


def _copies_lines(report: Report, console: Console) -> None:
    """The captures that hold packets twice and count them so (forensics.copies)."""
    _capture_lines("Captures holding packets twice (counts doubled; --drop-copies counts them once):",
                   report.copies_warnings, console)


def _cat(cat: str, sub: str | None = None) -> Text:
    t = Text(str(cat), style=RICH_COLOURS.get(str(cat), "white"))
    if sub:
        t.append(f"/{sub}")
    return t


_TUNNEL_MARK = "a tunnel's own flow ("  # (forensics.detect.CLOSED_TUNNEL_EVIDENCE)


@register("terminal")
def render(report: Report, console: Console, *, max_hosts: int = 40, max_failed: int = 30,
           max_incidents: int = 100) -> None:
    """Final summary: inputs that failed, incidents, hosts, verdict.

    Off a terminal (a log file, a pipe) tables may be wider than 80 columns
    rather than squeezed into unreadable ellipses.
    """
    if not console.is_terminal:
        console = Console(file=console.file, width=max(console.width, 200), color_system=None, highlight=False)
    from forensics.report.html import fmt_duration, fmt_time

    if report.failed:
        # one line per file, never folded: easy to grep and to copy a path from
        console.print(Text(f"Inputs not scanned ({len(report.failed)}):", style="bold"))
        for i in report.failed[:max_failed]:
            line = Text("  ")
            line.append(i.path)
            line.append(": ")
            line.append(str(i.error), style="yellow")
            console.print(line, soft_wrap=True)
        if len(report.failed) > max_failed:
            console.print(f"  ... and {len(report.failed) - max_failed} more (all are listed in the report and summary.json)")

    if report.skipped:
        console.print(Text(f"Skipped {len(report.skipped)} file(s) in folders that are not captures:", style="bold"))
        for path, reason in report.skipped[:10]:
            line = Text("  ")
            line.append(path)
            line.append(f": {reason}", style="dim")
            console.print(line, soft_wrap=True)
        if len(report.skipped) > 10:
            console.print(f"  ... and {len(report.skipped) - 10} more (listed in the report)")

    if report.incidents:
        t = Table(title="Incidents", title_justify="left", show_edge=False)
        for col, kw in (
            ("#", {"justify": "right", "no_wrap": True}),
            ("category", {"no_wrap": True}),
            ("attacker", {"no_wrap": True}),
            ("victims", {"overflow": "fold", "min_width": 15}),
            ("start (UTC)", {"no_wrap": True}),
            ("dur.", {"justify": "right", "no_wrap": True}),
            ("flows", {"justify": "right", "no_wrap": True}),
            ("pkts", {"justify": "right", "no_wrap": True}),
            ("conf.", {"justify": "right", "no_wrap": True}),
        ):
            t.add_column(col, **kw)
        shown = report.incidents[:max_incidents]  # (the largest first would reorder them: the report keeps time order)
        # month-day without the year, unless the incidents span years (a clock set during the
        # capture) or lie before 1980 (a clock never set: 01-01 would read as this year's)
        years = {fmt_time(i.start)[:4] for i in report.incidents}
        cut = 0 if len(years) > 1 or min(years) < "1980" else 5
        for inc in shown:
            victims = ", ".join(inc.victims[:3]) + (f" +{len(inc.victims) - 3}" if len(inc.victims) > 3 else "")
            t.add_row(
                str(inc.id),
                _cat(inc.category, inc.subcategory),
                Text(inc.attacker),
                Text(victims),
                fmt_time(inc.start)[cut:19],
                fmt_duration(inc.end - inc.start),
                f"{inc.flows:,}",
                f"{inc.packets:,}",
                f"{inc.confidence:.2f}",
            )
        console.print(t)
        if len(report.incidents) > max_incidents:
            console.print(f"... and {len(report.incidents) - max_incidents:,} more incidents (see the report; "
                          "summary.json lists every one)")
        for inc in shown:
            if inc.attacker in inc.traced_macs:  # (Text: capture strings are never read as markup)
                console.print(Text(f"#{inc.id}: many source addresses, all in frames from MAC {inc.attacker}, "
                                   "which no address is bound to: a host forging its sources or a router"))
            elif inc.traced_macs:
                console.print(Text(f"#{inc.id}: forged source addresses; frames sent by MAC "
                                   f"{', '.join(inc.traced_macs)} = {inc.attacker}"))
            tunnels = sorted({e[len(_TUNNEL_MARK):].split(")")[0] for e in inc.evidence if e.startswith(_TUNNEL_MARK)})
            if tunnels:
                console.print(Text(f"#{inc.id}: judged on a tunnel's own flow ({', '.join(tunnels)}) between its end "
                                   "points; --open-tunnels judges the flows inside it"))

        involved = [h for h in report.hosts if h.role != "normal"]
        t = Table(title="Hosts in incidents", title_justify="left", show_edge=False)
        for col in ("host", "role", "category", "flows", "peers", "conf."):
            t.add_column(col, justify="right" if col in ("flows", "peers", "conf.") else "left", no_wrap=True)
        for h in involved[:max_hosts]:
            t.add_row(Text(h.ip), Text(h.role, style=ROLE_STYLE[h.role]), _cat(h.category, h.subcategory), f"{h.flows:,}", f"{len(h.peers):,}", f"{h.confidence:.2f}")
        console.print(t)
        if len(involved) > max_hosts:
            console.print(f"... and {len(involved) - max_hosts:,} more hosts (see the report; summary.json lists every one)")

    _clock_lines(report, console)
    _copies_lines(report, console)
    normal, forged = report.normal_hosts, report.forged_addresses
    read = len(report.readable)
    line = Text()
    if not report.readable:
        line.append("No input could be read as a capture.", style="bold yellow")
    elif report.incidents:
        cats = sorted({i.category for i in report.incidents})
        line.append(f"{len(report.incidents)} incident(s) ", style="bold red")
        for n, c in enumerate(cats):
            line.append(", " if n else "(")
            line.append_text(_cat(c))
        line.append(f"); {report.attack_flows:,} of {report.flows:,} flows flagged")
        if report.extrapolated:
            line.append(f", {report.extrapolated:,} of them outside the model's training data (check by hand)",
                        style="yellow")
    else:
        line.append(f"No attack found in {report.flows:,} flows", style="bold green")
    if report.too_little:
        line.append(f"; {report.too_little:,} attack verdict(s) of the model turned Normal, too little traffic for them")
    if report.benign:
        line.append(f"; {report.benign:,} attack verdict(s) of the model turned Normal: requested media streams or bulk "
                    "transfers")
    line.append(f"; {read} of {len(report.inputs)} input(s) scanned, {normal:,} normal host(s)"
                + (f", {forged:,} forged source address(es)." if forged else "."))
    console.print(line)
    if report.interrupted:
        console.print(Text(f"Interrupted (Ctrl-C): {report.not_scanned_interrupted} input(s) not scanned; the summary and outputs cover "
                           f"the {read} read before it.", style="bold yellow"))
