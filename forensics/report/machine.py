"""Machine outputs: summary.json, alerts.jsonl (Elastic Common Schema), flows CSV/Parquet."""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from forensics.errors import ForensicsError
from forensics.report import register
from forensics.report.model import Report
from forensics.schema import MAC_PATTERN

# category/subcategory -> MITRE ATT&CK (ECS threat.*), the closest published technique
_THREAT = {
    ("Reconnaissance", "Service_Scan"): ("TA0043", "Reconnaissance", "T1046", "Network Service Discovery"),
    ("Reconnaissance", "OS_Fingerprint"): ("TA0043", "Reconnaissance", "T1595", "Active Scanning"),
    ("DoS", "HTTP"): ("TA0040", "Impact", "T1499", "Endpoint Denial of Service"),
    ("DDoS", "HTTP"): ("TA0040", "Impact", "T1499", "Endpoint Denial of Service"),
    ("Theft", "Keylogging"): ("TA0009", "Collection", "T1056", "Input Capture"),
    ("Theft", "Data_Exfiltration"): ("TA0010", "Exfiltration", "T1041", "Exfiltration Over C2 Channel"),
}
_THREAT_BY_CATEGORY = {
    "DoS": ("TA0040", "Impact", "T1498", "Network Denial of Service"),
    "DDoS": ("TA0040", "Impact", "T1498", "Network Denial of Service"),
    "Reconnaissance": ("TA0043", "Reconnaissance", "T1595", "Active Scanning"),
    "Theft": ("TA0010", "Exfiltration", "T1041", "Exfiltration Over C2 Channel"),
}
_SEVERITY = {"DDoS": 73, "DoS": 73, "Theft": 99, "Reconnaissance": 47}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(float(epoch), tz=timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _atomic_write(path, write) -> None:
    """Write through a temporary file in the same folder, then rename."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise ForensicsError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            write(fh)
        os.chmod(tmp, _umask_mode())  # mkstemp makes 0600; outputs get the usual permissions
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):  # (a full disk, a folder of that name made meanwhile...)
            raise ForensicsError(f"cannot write {path}: {exc.strerror or exc}") from exc
        raise


def write_summary(summary: dict, fh) -> None:
    """``summary`` as JSON: its top-level keys indented, each element of a top-level list (an
    input, a host, an incident) on a line of its own.  The same document as ``json.dump(...,
    indent=2)`` reads back, written by the json module's C encoder (which ``indent`` turns off):
    the summary of a sweep of 142,093 hosts took 7.6 s to write that way.  One host per line also
    suits grep."""
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
    fh.write("{")
    for n, (key, value) in enumerate(summary.items()):
        fh.write(("," if n else "") + "\n  " + dumps(key) + ": ")
        if isinstance(value, list) and value:
            fh.write("[")
            for m, item in enumerate(value):
                fh.write(("," if m else "") + "\n    " + dumps(item))
            fh.write("\n  ]")
        else:
            fh.write(dumps(value))
    fh.write("\n}\n")


@register("json")
def render_json(report: Report, path) -> None:
    _atomic_write(path, lambda fh: write_summary(report.summary(), fh))


_MAC = re.compile(MAC_PATTERN)
# victims an alert names (forensics.victims, related.ip): a sweep of a /8 has one per address, and
# one event per line must stay small enough for a log shipper (Filebeat's line limit: 10 MB)
MAX_ALERT_VICTIMS = 1_000


def _is_mac(text: str) -> bool:
    return bool(_MAC.fullmatch(text))


def _ecs_mac(mac: str) -> str:
    """ECS writes MACs in upper case with hyphens: 02-00-00-00-00-09."""
    return mac.upper().replace(":", "-")


# Argus flow protos that are not IP protocols (ARP, RARP, 802.3 LLC, VLAN-tagged "well", man records)
_NOT_TRANSPORT = frozenset({"arp", "rarp", "llc", "well", "man"})


def alert_events(report: Report) -> list[dict]:
    """One ECS event per incident."""
    clocks = report.clock_warnings
    copies = report.copies_warnings
    events = []
    for inc in report.incidents:
        tactic_id, tactic, tech_id, tech = _THREAT.get((inc.category, inc.subcategory)) or _THREAT_BY_CATEGORY.get(
            inc.category, ("", "", "", "")
        )
        protos = sorted({f.proto for f in inc.top_flows})
        # ECS network.transport holds IP protocols (tcp, udp, icmp, ipv6-icmp, ...); ARP is none:
        # an incident of ARP flows says so in network.type
        transport = [p for p in protos if p not in _NOT_TRANSPORT]
        network = {"packets": inc.packets, "bytes": inc.bytes}
        if transport:
            network["transport"] = transport[0] if len(transport) == 1 else transport
        if not transport and set(protos) & {"arp", "rarp"}:
            network["type"] = "arp"
        ev = {
            "@timestamp": _iso(inc.start),
            "ecs": {"version": "8.11.0"},
            "event": {
                "kind": "alert",
                "category": ["network", "intrusion_detection"],
                "type": ["connection", "info"],
                "action": f"{inc.category.lower()}-{inc.subcategory.lower().replace('_', '-')}",
                "module": "forensics",
                "dataset": "forensics.incident",
                "start": _iso(inc.start),
                "end": _iso(inc.end),
                "duration": int(round((inc.end - inc.start) * 1e9)),
                "severity": _SEVERITY.get(inc.category, 21),
                "risk_score": round(100.0 * inc.confidence, 1),
                "reason": inc.evidence[0] if inc.evidence else "",
                "id": f"incident-{inc.id}",
            },
            "message": f"{inc.category}/{inc.subcategory} from {inc.attacker} against {len(inc.victims)} host(s)",
            # an attacker known only by its MAC (attribution step 3b) is no IP address: ECS source.mac
            "source": {"mac": _ecs_mac(inc.attacker)} if _is_mac(inc.attacker) else {"ip": inc.attacker},
            "destination": {"ip": inc.victims[0]} if inc.victims else {},
            "related": {"ip": sorted({a for a in (inc.attacker, *inc.victims[:MAX_ALERT_VICTIMS]) if not _is_mac(a)})},
            "network": network,
            "rule": {"name": f"{inc.category}/{inc.subcategory}", "category": inc.category, "ruleset": "forensics-cnn-lstm"},
            "threat": {
                "framework": "MITRE ATT&CK",
                "tactic": {"id": [tactic_id], "name": [tactic]} if tactic_id else {},
                "technique": {"id": [tech_id], "name": [tech]} if tech_id else {},
            },
            "observer": {"product": "forensics", "version": report.tool.get("version"), "type": "offline-pcap-analyser"},
            "file": {"path": inc.captures[0] if len(inc.captures) == 1 else inc.captures},
            "forensics": {
                "victims": list(inc.victims[:MAX_ALERT_VICTIMS]),  # (all of them: summary.json)
                "victim_count": len(inc.victims),
                "flows": inc.flows,
                "unfamiliar_flows": inc.unfamiliar_flows,  # outside the model's training data
                "confidence": round(inc.confidence, 6),
                "evidence": list(inc.evidence),
                "model": dict(report.model),
            },
        }
        tags = []
        if inc.unfamiliar_flows:  # a verdict the model extrapolated: let a SIEM rule tell it apart
            tags.append("forensics-extrapolated")
        clock = [w for c in inc.captures for w in clocks.get(c, [])]
        if clock:  # @timestamp follows a capture clock that was not set, jumped or stepped back
            ev["forensics"]["capture_clock"] = clock
            tags.append("forensics-capture-clock")
        held_twice = [w for c in inc.captures for w in copies.get(c, [])]
        if held_twice:  # packet and byte counts of a capture that holds its packets twice
            ev["forensics"]["capture_copies"] = held_twice
            tags.append("forensics-capture-copies")
        if tags:
            ev["tags"] = tags
        events.append(ev)
    return events


@register("jsonl")
def render_jsonl(report: Report, path) -> None:
    def write(fh):
        for ev in alert_events(report):
            fh.write(json.dumps(ev, ensure_ascii=False, sort_keys=False))
            fh.write("\n")

    _atomic_write(path, write)


def _flow_frame(report: Report):
    import pandas as pd

    df = report.flow_table
    if df is None:
        from forensics.batch import PRED_COLUMNS, SLIM_COLUMNS

        return pd.DataFrame(columns=["capture", *SLIM_COLUMNS, *PRED_COLUMNS])
    return df


@register("csv")
def render_csv(report: Report, path) -> None:
    df = _flow_frame(report)
    _atomic_write(path, lambda fh: df.to_csv(fh, index=False))


@register("parquet")
def render_parquet(report: Report, path) -> None:
    df = _flow_frame(report)
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        df.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except OSError as exc:
        raise ForensicsError(f"cannot write {path}: {exc.strerror or exc}") from exc
