"""Ground truth of a lab run and BoT-IoT labeling of its flows.

``truth.json`` (format ``forensics-lab-truth/1``) lies beside each
``capture.pcap``.  Main keys::

    scenario, category, subcategory, seed, base_seed, run
    capture_start, capture_end           epoch seconds
    attack_start, attack_end             first start / last end (null for normal)
    attacker_addresses, victim_addresses union over the attacks
    label_tail_s                         seconds after an attack's end still
                                         counted (victim retransmissions, late
                                         replies of a flow that began inside)
    attacks: [ {category, subcategory, attackers, victims, spoofed, start, end,
                commands, params} ]
    hosts: {name: {ip, role, mac}}, normal_commands, tools {tool: version}

Labeling rule (BoT-IoT style): a flow is attack traffic of attack *A* when
one end is an attacker of *A* and the other a victim of *A* (either
direction), or one end is a victim and the other a forged source inside
``A.spoofed`` that is not a lab host; and the flow overlaps
``[A.start, A.end + label_tail_s]``.  Everything else is Normal.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import numpy as np
import pandas as pd

from forensics.errors import ForensicsError, SchemaError

TRUTH_FORMAT = "forensics-lab-truth/1"
CATEGORIES = ("Normal", "DDoS", "DoS", "Reconnaissance", "Theft")
SUBCATEGORIES = ("Normal", "TCP", "UDP", "HTTP", "Service_Scan", "OS_Fingerprint", "Keylogging", "Data_Exfiltration")
REQUIRED_COLUMNS = ("saddr", "daddr", "stime", "ltime")
DEFAULT_TAIL_S = 5.0


def load_truth(path) -> dict:
    """Read and check a ``truth.json``; :class:`ForensicsError` naming the file on any problem."""
    path = Path(path)
    try:
        truth = json.loads(path.read_text())
    except OSError as exc:
        raise ForensicsError(f"{path}: cannot read truth file ({exc.strerror})") from None
    except ValueError as exc:
        raise ForensicsError(f"{path}: not valid JSON ({exc})") from None
    try:
        validate_truth(truth)
    except ForensicsError as exc:
        raise ForensicsError(f"{path}: {exc}") from None
    return truth


def validate_truth(truth: dict) -> None:
    if not isinstance(truth, dict):
        raise ForensicsError("truth must be a JSON object")
    attacks = truth.get("attacks")
    if not isinstance(attacks, list):
        raise ForensicsError("truth: 'attacks' must be a list")
    for i, a in enumerate(attacks):
        for key in ("category", "subcategory", "attackers", "victims", "start", "end"):
            if key not in a:
                raise ForensicsError(f"truth: attacks[{i}] lacks '{key}'")
        if a["category"] not in CATEGORIES or a["category"] == "Normal":
            raise ForensicsError(f"truth: attacks[{i}].category {a['category']!r} is not a BoT-IoT attack category")
        if a["subcategory"] not in SUBCATEGORIES:
            raise ForensicsError(f"truth: attacks[{i}].subcategory {a['subcategory']!r} is not a BoT-IoT subcategory")
        if not (isinstance(a["start"], (int, float)) and isinstance(a["end"], (int, float)) and a["end"] >= a["start"]):
            raise ForensicsError(f"truth: attacks[{i}] start/end must be epoch seconds with end >= start")
        for key in ("attackers", "victims", "spoofed"):
            for addr in a.get(key, []):
                try:
                    (ipaddress.ip_network if key == "spoofed" else ipaddress.ip_address)(addr)
                except ValueError:
                    raise ForensicsError(f"truth: attacks[{i}].{key} has a bad address {addr!r}") from None


def _addr_mask(col: pd.Series, addrs: set[str]) -> np.ndarray:
    return col.isin(addrs).to_numpy()


def _net_mask(col: pd.Series, nets: list[str], exclude: set[str]) -> np.ndarray:
    """Rows whose address lies in one of ``nets`` and is not in ``exclude`` (evaluated per unique value)."""
    if not nets:
        return np.zeros(len(col), dtype=bool)
    networks = [ipaddress.ip_network(n) for n in nets]
    hits = {}
    for value in pd.unique(col):
        ok = False
        if isinstance(value, str) and value not in exclude:
            try:
                a = ipaddress.ip_address(value)
                ok = any(a.version == n.version and a in n for n in networks)
            except ValueError:
                ok = False
        hits[value] = ok
    return col.map(hits).fillna(False).to_numpy(dtype=bool)


def label_flows(df: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """Return a copy of ``df`` with BoT-IoT ``attack`` (0/1), ``category`` and ``subcategory`` set from ``truth``.

    ``df`` needs ``saddr``, ``daddr`` (address strings) and ``stime``,
    ``ltime`` (epoch seconds).  See the module docstring for the rule.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise SchemaError(f"label_flows: flow table lacks column(s) {', '.join(missing)}")
    validate_truth(truth)
    out = df.copy()
    n = len(out)
    attack = np.zeros(n, dtype=np.int64)
    category = np.full(n, "Normal", dtype=object)
    subcategory = np.full(n, "Normal", dtype=object)
    if n == 0 or not truth["attacks"]:
        out["attack"], out["category"], out["subcategory"] = attack, category, subcategory
        return out
    saddr = out["saddr"].astype(str)
    daddr = out["daddr"].astype(str)
    try:
        stime = pd.to_numeric(out["stime"]).to_numpy(dtype=float)
        ltime = pd.to_numeric(out["ltime"]).to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise SchemaError("label_flows: columns stime/ltime must be epoch seconds (numbers)") from None
    tail = float(truth.get("label_tail_s", DEFAULT_TAIL_S))
    lab_hosts = {h["ip"] for h in truth.get("hosts", {}).values()} if isinstance(truth.get("hosts"), dict) else set()
    for a in truth["attacks"]:
        attackers, victims = set(a["attackers"]), set(a["victims"])
        s_att, d_att = _addr_mask(saddr, attackers), _addr_mask(daddr, attackers)
        s_vic, d_vic = _addr_mask(saddr, victims), _addr_mask(daddr, victims)
        pair = (s_att & d_vic) | (s_vic & d_att)
        spoofed = a.get("spoofed") or []
        if spoofed:
            exclude = lab_hosts | attackers | victims
            pair |= (_net_mask(saddr, spoofed, exclude) & d_vic) | (s_vic & _net_mask(daddr, spoofed, exclude))
        window = (ltime >= float(a["start"])) & (stime <= float(a["end"]) + tail)
        hit = pair & window
        attack[hit] = 1
        category[hit] = a["category"]
        subcategory[hit] = a["subcategory"]
    out["attack"], out["category"], out["subcategory"] = attack, category, subcategory
    return out
