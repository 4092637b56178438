"""The self-contained HTML incident report.

Jinja2 with autoescape on (every string from a capture is attacker-controlled,
the capture's own file name included) and StrictUndefined.  The page loads
nothing: no script at all, styles inline, timelines as inline SVG, and a
Content-Security-Policy meta tag that forbids every outside load.  The
geometry of the timelines is computed here so the template stays dumb.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

from forensics.report import register
from forensics.report.model import Report

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

CATEGORY_COLOURS = {
    "DDoS": "#c62828",
    "DoS": "#ef6c00",
    "Reconnaissance": "#1565c0",
    "Theft": "#6a1b9a",
    "Normal": "#2e7d32",
}
OTHER_COLOUR = "#616161"
MAX_TIMELINE_HOSTS = 300
MAX_PEERS_SHOWN = 20
MAX_HOST_ROWS = 2_000  # rows of the hosts table besides the attackers' (the rest counted; summary.json lists them)
MAX_VICTIMS_SHOWN = 200  # victims named in an incident's detail (the rest counted)

# timeline geometry (SVG user units = CSS px)
TL_WIDTH = 920
TL_LEFT = 10
TL_RIGHT = 10
LANE_H = 22
LABEL_CHAR_W = 6.3  # approximate width of one character of the 11 px label font
AXIS_H = 22


def colour(category: str) -> str:
    return CATEGORY_COLOURS.get(str(category), OTHER_COLOUR)


def fmt_time(epoch: float | None) -> str:
    if epoch is None or (isinstance(epoch, float) and math.isnan(epoch)):
        return "-"
    d = datetime.fromtimestamp(float(epoch), tz=timezone.utc)
    return d.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def fmt_duration(seconds: float) -> str:
    s = max(0.0, float(seconds))
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def fmt_bytes(n: int) -> str:
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


@dataclass
class Span:
    x: float
    y: float
    w: float
    colour: str
    category: str
    label: str
    label_x: float
    label_anchor: str
    title: str
    incident: int
    label_inside: bool = False  # drawn over the bar (long bars with no room on either side)


@dataclass
class HostTimeline:
    ip: str
    role: str
    category: str
    flows: int
    packets: int
    height: int
    spans: list[Span] = field(default_factory=list)


@dataclass
class Axis:
    t0: float
    t1: float
    width: int
    ticks: list[tuple[float, str]]
    start_label: str
    end_label: str


def _ticks(t0: float, t1: float, width: float) -> list[tuple[float, str]]:
    span = t1 - t0
    steps = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
    step = next((s for s in steps if span / s <= 8), 86400 * max(1, math.ceil(span / 86400 / 8)))
    first = math.ceil(t0 / step) * step
    # (a time of day alone is ambiguous on an axis that spans days, or years on a clock set
    # during the capture: such ticks carry the date)
    days = datetime.fromtimestamp(t0, tz=timezone.utc).date() != datetime.fromtimestamp(t1, tz=timezone.utc).date()
    out = []
    t = first
    while t <= t1 + 1e-9 and len(out) < 20:
        x = TL_LEFT + (t - t0) / span * (width - TL_LEFT - TL_RIGHT)
        out.append((round(x, 1), _tick_label(t, step, days)))
        t += step
    return out


def _tick_label(t: float, step: float, days: bool) -> str:
    d = datetime.fromtimestamp(t, tz=timezone.utc)
    if step >= 86400:
        return d.strftime("%Y-%m-%d")
    if days and step >= 60:
        return d.strftime("%m-%d %H:%M")
    if days and step >= 1:
        return d.strftime("%m-%d %H:%M:%S")
    label = d.strftime("%H:%M:%S")
    if step < 1:
        label += f".{int(round((t % 1) * 1000)) % 1000:03d}"
    return label


def build_timelines(report: Report) -> tuple[Axis | None, list[HostTimeline], int]:
    """One timeline per attacker and victim, all on one shared time axis."""
    rng = report.time_range
    if rng is None:
        return None, [], 0
    t0, t1 = rng
    pad = max((t1 - t0) * 0.02, 0.5)
    t0, t1 = t0 - pad, t1 + pad
    usable = TL_WIDTH - TL_LEFT - TL_RIGHT

    def x_of(t: float) -> float:
        return TL_LEFT + (t - t0) / (t1 - t0) * usable

    by_id = {i.id: i for i in report.incidents}
    involved = [h for h in report.hosts if h.role in ("attacker", "victim")]
    attackers = sum(1 for h in involved if h.role == "attacker")
    shown = most_hit(involved, max(0, MAX_TIMELINE_HOSTS - attackers), report)[:MAX_TIMELINE_HOSTS]
    hidden = len(involved) - len(shown)
    out = []
    for h in shown:
        incs = sorted((by_id[i] for i in h.incidents if i in by_id), key=lambda i: (i.start, i.id))
        lanes_end: list[float] = []
        spans = []
        tot_flows = tot_pkts = 0
        for inc in incs:
            if inc.attacker == h.ip:
                flows, pkts, side = inc.flows, inc.packets, f"attacker against {len(inc.victims)} host(s)"
            else:
                pv = inc.per_victim.get(h.ip, {})
                flows, pkts, side = pv.get("flows", 0), pv.get("packets", 0), f"victim of {inc.attacker}"
            tot_flows += flows
            tot_pkts += pkts
            x = x_of(inc.start)
            w = max(3.0, x_of(inc.end) - x)
            label = f"#{inc.id} {inc.category}/{inc.subcategory} · {pkts:,} pkt{'s' if pkts != 1 else ''} · {flows:,} flow{'s' if flows != 1 else ''}"
            text_w = LABEL_CHAR_W * len(label)
            # the label goes right of the bar, else left of it, else (a bar spanning most
            # of the axis) inside it, so that it is never clipped by the drawing's edges
            if x + w + 4 + text_w <= TL_WIDTH - TL_RIGHT:
                place, label_x, anchor = "right", x + w + 4, "start"
                occ_start, occ_end = x, x + w + 4 + text_w
            elif x - 4 - text_w >= 0:
                place, label_x, anchor = "left", x - 4, "end"
                occ_start, occ_end = x - 4 - text_w, x + w
            else:
                place, label_x, anchor = "inside", max(x, TL_LEFT) + 4, "start"
                occ_start, occ_end = x, max(x + w, label_x + text_w)
            lane = next((n for n, end in enumerate(lanes_end) if end + 6 <= occ_start), None)
            if lane is None:
                lane = len(lanes_end)
                lanes_end.append(0.0)
            lanes_end[lane] = occ_end
            spans.append(
                Span(
                    x=round(x, 1),
                    y=AXIS_H + lane * LANE_H + 3,
                    w=round(w, 1),
                    colour=colour(inc.category),
                    category=inc.category,
                    label=label,
                    label_x=round(label_x, 1),
                    label_anchor=anchor,
                    label_inside=place == "inside",
                    title=(
                        f"incident #{inc.id}: {inc.category}/{inc.subcategory}, {side}; "
                        f"{fmt_time(inc.start)} to {fmt_time(inc.end)} ({fmt_duration(inc.end - inc.start)}); "
                        f"{pkts:,} packets, {flows:,} flows; confidence {inc.confidence:.2f}"
                    ),
                    incident=inc.id,
                )
            )
        out.append(
            HostTimeline(
                ip=h.ip,
                role=h.role,
                category=h.category,
                flows=tot_flows,
                packets=tot_pkts,
                height=AXIS_H + max(1, len(lanes_end)) * LANE_H + 6,
                spans=spans,
            )
        )
    axis = Axis(t0, t1, TL_WIDTH, _ticks(t0, t1, TL_WIDTH), fmt_time(t0), fmt_time(t1))
    return axis, out, hidden


def environment():
    import jinja2

    from forensics.resources import templates_dir

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=True,  # everything, whatever the template's name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        time=fmt_time,
        duration=fmt_duration,
        nbytes=fmt_bytes,
        colour=colour,
        thousands=lambda n: f"{int(n):,}",
        pct=lambda x: f"{100.0 * float(x):.1f} %",
    )
    return env


def most_hit(hosts: list, n: int, report: Report) -> list:
    """``hosts`` (in the report's order) with at most ``n`` of its victims: those that received
    the most packets of the incidents (ties: the report's order), kept in the report's order.
    A sweep of 142,093 addresses would otherwise fill the report's lists with its 1-packet
    victims in address order and leave out the victim of a flood at a higher address."""
    victims = [h for h in hosts if h.role == "victim"]
    if len(victims) <= n:
        return list(hosts)
    got: dict[str, int] = {}
    for inc in report.incidents:
        for ip, v in inc.per_victim.items():
            got[ip] = got.get(ip, 0) + int(v.get("packets", 0))
    keep = {id(h) for h in sorted(victims, key=lambda h: -got.get(h.ip, 0))[:n]}  # (stable: report order on ties)
    return [h for h in hosts if h.role != "victim" or id(h) in keep]


def host_rows(report: Report) -> tuple[list, int, int]:
    """The hosts the report's table lists, how many forged-only addresses it leaves out, and how
    many other hosts: every attacker, then :data:`MAX_HOST_ROWS` others: the victims that
    received the most packets of the incidents (:func:`most_hit`; a sweep of a /8 has a victim per
    address), then normal hosts, in the report's order; of the addresses that only ever appear as
    forged sources (a flood with random sources has one per packet) the report keeps the first
    :data:`~forensics.report.model.MAX_FORGED_ROWS` rows."""
    hosts = report.hosts
    attackers = sum(1 for h in hosts if h.role == "attacker")
    if len(hosts) <= attackers + MAX_HOST_ROWS:
        return list(hosts), report.forged_only, 0
    picked = most_hit(hosts, MAX_HOST_ROWS, report)
    rows, others = [], 0
    for h in picked:
        if h.role != "attacker":
            if others >= MAX_HOST_ROWS:
                continue
            others += 1
        rows.append(h)
    return rows, report.forged_only, len(hosts) - len(rows)


def render_html(report: Report) -> str:
    axis, timelines, hidden = build_timelines(report)
    host_table, forged_hidden, hosts_hidden = host_rows(report)
    counts: dict[str, int] = {}
    for inc in report.incidents:
        counts[inc.category] = counts.get(inc.category, 0) + 1
    tmpl = environment().get_template("report.html.j2")
    return tmpl.render(
        r=report,
        csp=CSP,
        axis=axis,
        timelines=timelines,
        hidden_timelines=hidden,
        category_counts=sorted(counts.items()),
        colours=CATEGORY_COLOURS,
        attackers=[h for h in report.hosts if h.role == "attacker"],
        victims=[h for h in report.hosts if h.role == "victim"],
        normal_count=report.normal_hosts,
        forged_count=report.forged_addresses,
        interrupted_count=report.not_scanned_interrupted,
        max_peers=MAX_PEERS_SHOWN,
        host_table=host_table,
        forged_hidden=forged_hidden,
        hosts_hidden=hosts_hidden,
        max_victims=MAX_VICTIMS_SHOWN,
        generated=fmt_time(report.finished) if report.finished else "-",
        open_tunnels=bool(getattr(report.config, "open_tunnels", False)),
        clock_inputs=len(report.clock_warnings),
        copies_inputs=len(report.copies_warnings),
    )


@register("html")
def write_html(report: Report, path) -> None:
    from forensics.report.machine import _atomic_write

    text = render_html(report)
    _atomic_write(path, lambda fh: fh.write(text))
