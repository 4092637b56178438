"""The report data object every renderer reads, and how it is built.

Incidents: the attack flows (``pred_attack``) are grouped by
(attacker, category, subcategory) and split where the attacker was silent for
more than ``config.incident_gap`` seconds.  The attacker of a flow follows the
one blame rule of ``forensics.attribution`` (also used by the detector's per-host
evaluation): Theft is blamed on its destination, any other attack on its source
unless the source sent nothing or is the server end (service port) of a flood flow
(Argus's SYN-ACK direction), a DDoS/DoS flow with a forged source address on the host
its frames' MAC is bound to (the binding is built from the capture's ARP flows and two-way Normal flows;
such incidents say so in their evidence: "frames sent by MAC ... = host"), and a flow whose other
end has more blamed attack flows is re-blamed on that end.  An
incident's confidence is the mean confidence of its flows; its evidence is the
detector's explanations ranked by how many flows carry them.

Hosts: every address seen in a flow, except those seen only as forged sources (counted, a
few kept as rows for the HTML report; :func:`_hosts`).  ``attacker`` if it is the source of an
incident, else ``victim`` if it is the target of one, else ``normal``.  An
attacker or victim takes the category of its largest incident (by flows).
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forensics import __version__
from forensics.attribution import CONTEXT_COLUMNS, MIN_SOURCES_BEHIND_MAC, _codes, blame_context, blame_frame
from forensics.toolittle import counts

CATEGORY_ORDER = ("DDoS", "DoS", "Reconnaissance", "Theft", "Normal")
ROLE_ORDER = {"attacker": 0, "victim": 1, "normal": 2}
FLOAT_DIGITS = 6
MAX_FLOW_KEYS = 20_000  # incidents with more flows are matched by address pair only (application detail)
MAX_FORGED_ROWS = 200  # addresses seen only as forged sources kept as host rows (the rest counted: Report.forged_only)


@dataclass
class Input:
    path: str
    sha256: str | None
    format: str | None
    packets: int
    decoded: int
    undecodable: dict
    warnings: list
    error: str | None
    size: int = 0
    compression: str | None = None
    out_of_order: int = 0
    first_positions: dict = field(default_factory=dict)
    flows: int = 0
    attack_flows: int = 0
    seconds: float = 0.0

    def summary(self) -> dict:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "format": self.format,
            "packets": int(self.packets),
            "decoded": int(self.decoded),
            "undecodable": {str(k): int(v) for k, v in sorted(self.undecodable.items())},
            "warnings": list(self.warnings),
            "error": self.error,
        }


@dataclass
class Flow:
    """One flow as shown in the report (top flows of an incident)."""

    capture: str
    stime: float
    ltime: float
    saddr: str
    sport: Any
    daddr: str
    dport: Any
    proto: str
    state: str
    pkts: int
    bytes: int
    category: str
    subcategory: str
    confidence: float
    evidence: str


@dataclass
class Incident:
    id: int
    attacker: str
    victims: list[str]
    category: str
    subcategory: str
    start: float
    end: float
    flows: int
    packets: int
    bytes: int
    confidence: float
    evidence: list[str]
    captures: list[str] = field(default_factory=list)
    top_flows: list[Flow] = field(default_factory=list)
    app_detail: dict = field(default_factory=dict)  # {"http": [...], "dns": [...], "mqtt": [...], "note": str}
    per_victim: dict = field(default_factory=dict)  # victim ip -> {"flows": N, "packets": N, "bytes": N}
    # (saddr, sport, daddr, dport) arrays of its flows (None when too many to keep): see flow_keys
    flow_ends: tuple | None = field(default=None, repr=False, compare=False)
    traced_macs: dict = field(default_factory=dict)  # MAC -> flows with forged sources traced to the attacker through it
    unfamiliar_flows: int = 0  # its flows outside the model's training data (detect "unfamiliar")
    _flow_keys: frozenset | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def flow_keys(self) -> frozenset | None:
        """The direction-free keys (:func:`endpoint_key`) of its flows, None when too many to keep;
        built on first use (only application-layer detail matches packets to flows: 391k keys
        cost 2 s)."""
        if self.flow_ends is None:
            return None
        if self._flow_keys is None:
            self._flow_keys = frozenset(endpoint_key(a, pa, b, pb) for a, pa, b, pb in zip(*self.flow_ends))
        return self._flow_keys

    def summary(self) -> dict:
        return {
            "attacker": self.attacker,
            "victims": list(self.victims),
            "category": self.category,
            "subcategory": self.subcategory,
            "start": _r(self.start),
            "end": _r(self.end),
            "flows": int(self.flows),
            "packets": int(self.packets),
            "bytes": int(self.bytes),
            "confidence": _r(self.confidence),
            "evidence": list(self.evidence),
        }


@dataclass
class Host:
    ip: str
    role: str
    category: str
    subcategory: str
    confidence: float
    first_seen: float
    last_seen: float
    flows: int
    peers: list[str]
    incidents: list[int] = field(default_factory=list)  # Incident.id where it is attacker or victim
    # the attackers whose attack flows carried this address as a forged end (traced to them
    # through their frames' MAC); the report and terminal say so (summary.json: only_forged rows are left out)
    forged_by: list[str] = field(default_factory=list)
    forged_flows: int = 0  # of its flows, those with a forged end at this address (all of them: a pure decoy)
    forged_peers: int = 0  # its peers seen only as forged sources: not in ``peers``

    @property
    def only_forged(self) -> bool:
        """Every flow of this address is an attacker's, with the address forged: no traffic of its own."""
        return bool(self.forged_by) and self.forged_flows >= self.flows

    def summary(self) -> dict:
        return {
            "ip": self.ip,
            "role": self.role,
            "category": self.category,
            "subcategory": self.subcategory,
            "confidence": _r(self.confidence),
            "first_seen": _r(self.first_seen),
            "last_seen": _r(self.last_seen),
            "flows": int(self.flows),
            "peers": list(self.peers),
        }


@dataclass
class Report:
    tool: dict
    model: dict
    inputs: list[Input]
    flows: int
    attack_flows: int
    hosts: list[Host]
    incidents: list[Incident]
    started: float = 0.0
    finished: float = 0.0
    flow_table: Any = None  # pandas.DataFrame of every flow + prediction (when kept)
    config: Any = None
    notes: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): files in folders that are not captures
    extrapolated: int = 0  # attack flows whose window lies outside the model's training data (detect "unfamiliar")
    too_little: int = 0  # attack verdicts turned Normal: too little traffic for them (forensics.toolittle)
    benign: int = 0  # attack verdicts turned Normal: requested media streams, bulk transfers (forensics.streams, .bulk)
    interrupted: bool = False  # Ctrl-C stopped the scan: the inputs not finished failed as interrupted
    forged_only: int = 0  # addresses seen only as forged sources that have no row in ``hosts`` (MAX_FORGED_ROWS)

    # -- what the exit status and the renderers ask ---------------------------------
    @property
    def readable(self) -> list[Input]:
        return [i for i in self.inputs if i.error is None]

    @property
    def clock_warnings(self) -> dict[str, list[str]]:
        """Per readable input with any: its clock warnings (:mod:`forensics.clock`)."""
        from forensics.clock import is_clock_warning

        return {i.path: ws for i in self.readable if (ws := [w for w in i.warnings if is_clock_warning(w)])}

    @property
    def copies_warnings(self) -> dict[str, list[str]]:
        """Per readable input whose packets are held twice and counted so (:mod:`forensics.copies`;
        not when ``--drop-copies`` left them out): its warning."""
        from forensics.copies import is_copies_warning, was_dropped

        return {i.path: ws for i in self.readable
                if (ws := [w for w in i.warnings if is_copies_warning(w) and not was_dropped(w)])}

    @property
    def failed(self) -> list[Input]:
        return [i for i in self.inputs if i.error is not None]

    @property
    def normal_hosts(self) -> int:
        """Hosts with the role normal, not counting addresses that only ever appear forged."""
        return sum(1 for h in self.hosts if h.role == "normal" and not h.only_forged)

    @property
    def forged_addresses(self) -> int:
        """Addresses whose every flow is an attacker's, with the address forged (rows or not)."""
        return sum(1 for h in self.hosts if h.only_forged) + self.forged_only

    @property
    def not_scanned_interrupted(self) -> int:
        """Inputs that Ctrl-C left unscanned."""
        from forensics.errors import INTERRUPTED_REASON

        return sum(1 for i in self.inputs if i.error == INTERRUPTED_REASON)

    @property
    def exit_status(self) -> int:
        """0 no attack, 1 attack found (among the readable inputs), 2 nothing readable, 130
        interrupted (whatever was found before)."""
        from forensics.errors import ExitStatus

        if self.interrupted:
            return int(ExitStatus.INTERRUPTED)
        if not self.readable:
            return int(ExitStatus.USAGE)
        return int(ExitStatus.ATTACK if self.incidents else ExitStatus.OK)

    def summary(self) -> dict:
        """The documented summary.json shape (../shared/docs/design.md), nothing more.  Its hosts
        are the addresses with traffic of their own: one seen only as a forged source (a flood's
        decoy, one per packet with random sources) is no host and no host's peer; the incident
        that forged it counts them in its evidence, and ``--flows`` keeps every flow's ends."""
        return {
            "tool": dict(self.tool),
            "model": dict(self.model),
            "inputs": [i.summary() for i in self.inputs],
            "flows": int(self.flows),
            "attack_flows": int(self.attack_flows),
            "hosts": [h.summary() for h in self.hosts if not h.only_forged],
            "incidents": [i.summary() for i in self.incidents],
        }

    @property
    def time_range(self) -> tuple[float, float] | None:
        spans = [(i.start, i.end) for i in self.incidents]
        if not spans:
            return None
        return min(s for s, _ in spans), max(e for _, e in spans)


def _r(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    if x != x or x in (float("inf"), float("-inf")):  # NaN/inf are not JSON
        return None
    return round(x, FLOAT_DIGITS)


@functools.lru_cache(maxsize=1 << 17)
def ip_sort_key(ip: str):
    """Addresses in numeric order, IPv4 before IPv6, anything else after them by its text."""
    for fam, version in ((socket.AF_INET, 4), (socket.AF_INET6, 6)):
        try:  # (a canonical address: what ipaddress gives, 10x faster)
            packed = socket.inet_pton(fam, ip)
            if socket.inet_ntop(fam, packed) == ip:
                return (0, version, int.from_bytes(packed, "big"), "")
        except (OSError, TypeError, ValueError):
            pass
    try:
        a = ipaddress.ip_address(ip)
        return (0, a.version, int(a), "")
    except ValueError:
        return (1, 0, 0, str(ip))


def address_keys(addresses) -> list[tuple]:
    """:func:`ip_sort_key` of each address (canonical IPv4 text read at once: a flood with random
    sources has one per packet)."""
    pton, v4 = socket.inet_pton, socket.AF_INET
    out = []
    append = out.append
    for a in addresses:
        try:  # (inet_pton takes only canonical dotted quads: no leading zeros, four parts)
            append((0, 4, int.from_bytes(pton(v4, a), "big"), ""))
        except (OSError, TypeError, ValueError):
            append(ip_sort_key(str(a)))
    return out


# --------------------------------------------------------------------------
# building
# --------------------------------------------------------------------------


def build_report(candidates, results, config, *, model: dict, started: float = 0.0, finished: float = 0.0) -> Report:
    by_path = {r.path: r for r in results}
    inputs: list[Input] = []
    frames = []
    for c in candidates:
        r = by_path.get(c.path)
        if r is None:  # not a capture: never sent to a worker
            from forensics.batch import failed_accounting

            acc = failed_accounting(c.path, c.reason or "not scanned", fmt=c.format, compression=c.compression, size=c.size)
            inputs.append(_input(acc))
            continue
        inp = _input(r.accounting, seconds=r.seconds)
        if r.error is not None:
            inp.error = r.error
        if r.flows is not None:
            inp.flows = int(len(r.flows))
            inp.attack_flows = int(r.flows["pred_attack"].astype(bool).sum()) if len(r.flows) else 0
            if len(r.flows):
                frames.append(r.flows)
        inputs.append(inp)

    flows = _concat_flows(frames) if frames else None
    n_flows = 0 if flows is None else len(flows)
    if flows is not None:
        flows["pred_attack"] = flows["pred_attack"].astype(bool)
        flows["saddr"] = _as_str(flows["saddr"])
        flows["daddr"] = _as_str(flows["daddr"])
    n_attack = 0 if flows is None else int(flows["pred_attack"].sum())
    extrapolated = 0
    if n_attack and "unfamiliar" in flows.columns:
        extrapolated = int((flows["pred_attack"].to_numpy() & (flows["unfamiliar"].to_numpy(dtype=object) != "")).sum())
    too_little = sum(counts(flows["evidence"])) if flows is not None and "evidence" in flows.columns else 0
    benign = 0
    if flows is not None and "evidence" in flows.columns:
        from forensics import bulk, streams

        benign = streams.count(flows["evidence"]) + bulk.count(flows["evidence"])
    incidents, traced = _incidents(flows, config) if n_attack else ([], None)
    hosts, forged_only = _hosts(flows, incidents, traced) if flows is not None else ([], 0)
    return Report(
        tool={"name": "forensics", "version": __version__},
        model=dict(model),
        inputs=inputs,
        flows=n_flows,
        attack_flows=n_attack,
        hosts=hosts,
        incidents=incidents,
        started=started,
        finished=finished,
        flow_table=_plain_strings(_without_context(flows)) if getattr(config, "keep_flows", False) else None,
        config=config,
        extrapolated=extrapolated,
        too_little=too_little,
        benign=benign,
        forged_only=forged_only,
    )


def _as_str(col):
    """``col.astype(str)``; a categorical (as workers send addresses) keeps its codes and only its
    categories become str, the same values without writing out every row (0.15 s at 550k flows)."""
    if isinstance(col.dtype, pd.CategoricalDtype) and not (np.asarray(col.cat.codes) < 0).any():
        names = col.cat.categories.astype(str)
        if names.is_unique:
            return col.cat.rename_categories(names)
    return col.astype(str)


def _concat_flows(frames):
    """The captures' flow tables as one; columns that arrive as categoricals from every worker
    (batch.compact_strings) are joined as one categorical, the others as pandas joins them."""
    same_columns = all(list(f.columns) == list(frames[0].columns) for f in frames)
    if len(frames) == 1 or not same_columns or not any(isinstance(t, pd.CategoricalDtype) for t in frames[0].dtypes):
        return pd.concat(frames, ignore_index=True)
    cols = {}
    for c in frames[0].columns:
        parts = [f[c] for f in frames]
        if all(isinstance(p.dtype, pd.CategoricalDtype) for p in parts):
            # (pandas' union_categoricals recodes through an Index per part: 0.42 s here for 20
            # captures; one factorize of the concatenated categories is milliseconds)
            cats = [np.asarray(p.cat.categories, dtype=object) for p in parts]
            glob, uniq = pd.factorize(np.concatenate(cats))
            offs = np.cumsum([0] + [len(k) for k in cats[:-1]])
            codes = np.concatenate([np.where(k >= 0, glob[np.maximum(k, 0) + o], -1)
                                    for k, o in zip((np.asarray(p.cat.codes) for p in parts), offs)])
            cols[c] = pd.Categorical.from_codes(codes, categories=pd.Index(np.asarray(uniq, dtype=object), dtype=object))
        else:
            cols[c] = pd.concat(parts, ignore_index=True)
    return pd.DataFrame(cols)


def _plain_strings(flows):
    """Categorical columns back to strings (the ``--flows`` table keeps the usual dtypes)."""
    if flows is None:
        return None
    cat = [c for c in flows.columns if isinstance(flows[c].dtype, pd.CategoricalDtype)]
    if not cat:
        return flows
    out = flows.copy()
    for c in cat:
        out[c] = out[c].astype(str).where(out[c].notna(), None)
    return out


def _without_context(flows):
    """The flow table as ``--flows`` writes it: without the workers' blame look-ups."""
    if flows is None:
        return None
    drop = [c for c in CONTEXT_COLUMNS if c in flows.columns]
    return flows.drop(columns=drop) if drop else flows


def _input(acc: dict, seconds: float = 0.0) -> Input:
    return Input(
        path=str(acc.get("path")),
        sha256=acc.get("sha256"),
        format=acc.get("format"),
        packets=int(acc.get("packets") or 0),
        decoded=int(acc.get("decoded") or 0),
        undecodable=dict(acc.get("undecodable") or {}),
        warnings=list(acc.get("warnings") or []),
        error=acc.get("error"),
        size=int(acc.get("size") or 0),
        compression=acc.get("compression"),
        out_of_order=int(acc.get("out_of_order") or 0),
        first_positions=dict(acc.get("first_positions") or {}),
        seconds=seconds,
    )


def _flow(row) -> Flow:
    def port(v):
        try:
            return int(v)
        except (TypeError, ValueError):
            return str(v)

    return Flow(
        capture=str(row.capture),
        stime=float(row.stime),
        ltime=float(row.ltime),
        saddr=str(row.saddr),
        sport=port(row.sport),
        daddr=str(row.daddr),
        dport=port(row.dport),
        proto=str(row.proto),
        state=str(row.state),
        pkts=int(row.pkts),
        bytes=int(row.bytes),
        category=str(row.pred_category),
        subcategory=str(row.pred_subcategory),
        confidence=float(row.confidence),
        evidence=str(row.evidence),
    )


# what an incident's top flows show of a flow (:func:`_flow`)
FLOW_FIELDS = ("capture", "stime", "ltime", "saddr", "sport", "daddr", "dport", "proto", "state", "pkts", "bytes",
               "pred_category", "pred_subcategory", "confidence", "evidence")
# what incidents read of an attack flow (blame_frame uses spkts/dpkts when present)
INCIDENT_COLUMNS = ("capture", "stime", "ltime", "saddr", "sport", "daddr", "dport", "proto", "state", "pkts", "bytes",
                    "spkts", "dpkts", "smac", "dmac", "pred_category", "pred_subcategory", "confidence", "evidence",
                    "unfamiliar")


def _sorted_codes(values) -> np.ndarray:
    """Codes whose order is the values' order as ``pd.factorize(values, sort=True)`` gives it:
    strings compared as strings; a categorical's values in the order of its categories, so its
    own codes order it (factorize would renumber them by a hash pass: ~10 ms per 500k rows)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return np.asarray(values.cat.codes)
    codes, _ = pd.factorize(values, sort=True)
    return np.asarray(codes)


def _factorized(v):
    """``pd.factorize(v, sort=True)`` as (codes, uniques); a categorical gives what factorize
    gives for it, its used categories in category order, from its codes without hashing."""
    if isinstance(v.dtype, pd.CategoricalDtype):
        codes = np.asarray(v.cat.codes, dtype=np.int64)
        used = np.zeros(len(v.cat.categories), dtype=bool)
        used[codes[codes >= 0]] = True
        if used.all():
            return codes, v.cat.categories
        remap = np.cumsum(used) - 1
        return np.where(codes >= 0, remap[np.maximum(codes, 0)], -1), v.cat.categories[used]
    return pd.factorize(v, sort=True)


def _coded_rows(flows, rows: np.ndarray, columns) -> pd.DataFrame:
    """``flows.loc[rows, columns]`` with string columns as categoricals whose categories are
    sorted.  Taking rows of Arrow string columns concatenated from many captures costs
    seconds (pyarrow ``take`` over the chunks: 1.24 s of a 2.4 s report on 20 captures, 550k
    flows); integer codes are taken in milliseconds, and the few distinct values are shared."""
    out = {}
    for c in columns:
        v = flows[c]
        if isinstance(v.dtype, (pd.StringDtype, pd.CategoricalDtype)) or v.dtype == object:
            try:
                codes, uniq = _factorized(v)
            except TypeError:  # values of mixed types that do not compare: keep them as they are
                out[c] = pd.Series(v.to_numpy(dtype=object)[rows], dtype=object, copy=False)
                continue
            out[c] = pd.Categorical.from_codes(np.asarray(codes)[rows], categories=pd.Index(np.asarray(uniq, dtype=object),
                                                                                         dtype=object))
        else:
            out[c] = v.to_numpy()[rows]
    return pd.DataFrame(out, index=flows.index[rows], copy=False)


def _incidents(flows, config) -> tuple[list[Incident], "Traced"]:
    """The incidents of the attack flows, and what of them was blamed on a host that is
    neither of a flow's ends (:class:`Traced`)."""
    gap = float(getattr(config, "incident_gap", 300.0))
    top_n = int(getattr(config, "top_flows", 10))
    keep = [c for c in (*INCIDENT_COLUMNS, *CONTEXT_COLUMNS) if c in flows.columns]
    rows = np.flatnonzero(flows["pred_attack"].to_numpy(dtype=bool))
    att = _coded_rows(flows, rows, keep)
    if not all(c in att.columns for c in CONTEXT_COLUMNS):  # (results whose workers did not look them up)
        for c, v in blame_context(flows).items():
            att[c] = v[rows]
    attacker, victim, via = blame(att)
    traced = Traced.of(att, attacker, victim)
    att["_attacker"] = pd.Series(attacker, index=att.index)  # categoricals, categories sorted as strings
    att["_victim"] = pd.Series(victim, index=att.index)
    att["_via_mac"] = pd.Series(via, index=att.index, dtype=object)  # (inferring Arrow strings: 0.16 s at 550k rows)
    # stable, input-order independent ordering: attacker, category, subcategory, stime, ltime, victim, capture
    who, cat_c, sub_c = (_sorted_codes(att[c]) for c in ("_attacker", "pred_category", "pred_subcategory"))
    order = np.lexsort((_sorted_codes(att["capture"]), _sorted_codes(att["_victim"]), att["ltime"].to_numpy(dtype=float),
                        att["stime"].to_numpy(dtype=float), sub_c, cat_c, who))
    who, cat_c, sub_c = who[order], cat_c[order], sub_c[order]
    change = np.flatnonzero((np.diff(who) != 0) | (np.diff(cat_c) != 0) | (np.diff(sub_c) != 0)) + 1
    group_bounds = [0, *change.tolist(), len(att)]
    # the incidents' columns in that order as numpy arrays, string columns also as codes: the
    # loop below slices them per incident (pandas' per-incident groupby/iloc/itertuples: 2.4 s
    # of a 3.0 s report on 264 incidents, 463k attack flows); categoricals stay codes until a
    # row is read (_Taken), and no column is reordered as a whole frame
    cols = {c: _Taken.of(att[c], order) for c in (*FLOW_FIELDS, "_attacker")}
    coded = {c: _codes_names(att[c], order) for c in ("_victim", "_via_mac", "evidence", "capture", "unfamiliar")
             if c in att.columns}
    st_all, lt_all = cols["stime"].astype(float), cols["ltime"].astype(float)
    out: list[Incident] = []
    for g0, g1 in zip(group_bounds[:-1], group_bounds[1:]):
        attacker, cat, sub = (cols[c][g0] for c in ("_attacker", "pred_category", "pred_subcategory"))
        st = st_all[g0:g1]
        lt = lt_all[g0:g1]
        # split where the next flow starts more than `gap` after everything before it ended
        reach = np.maximum.accumulate(lt)
        starts = [0] + (np.flatnonzero(st[1:] - reach[:-1] > gap) + 1).tolist()
        bounds = starts + [len(st)]
        for a, b in zip(bounds[:-1], bounds[1:]):
            out.append(_incident(cols, coded, slice(g0 + a, g0 + b), str(attacker), str(cat), str(sub), top_n))
    out.sort(key=lambda i: (i.start, ip_sort_key(i.attacker), i.category, i.subcategory))
    for n, inc in enumerate(out, 1):
        inc.id = n
    return out, traced


@dataclass
class Traced:
    """The attack flows blamed on a host that is neither of their ends: a flood with forged
    source addresses traced to the host whose MAC its frames carried.  Per address: for the
    attacker, those flows (count, first start, last end) and their victims; for a victim, the
    attackers; for a forged end, the attackers that used it.  Host rows add these to what the
    addresses' own flows give, so a spoofing bot's row counts its flood, not only the few flows
    that carry its own address."""

    flows: dict = field(default_factory=dict)  # attacker -> flows
    first: dict = field(default_factory=dict)  # attacker -> first start
    last: dict = field(default_factory=dict)  # attacker -> last end
    peers: dict = field(default_factory=dict)  # attacker -> victims, victim -> attackers (sets)
    forged_by: dict = field(default_factory=dict)  # forged address -> attackers (set)
    forged_flows: dict = field(default_factory=dict)  # forged address -> flows

    @classmethod
    def of(cls, att, attacker, victim) -> "Traced":
        """From the attack flows ``att`` and their ``attacker`` / ``victim`` categoricals
        (:func:`blame`: one category list, every address of the flows)."""
        out = cls()
        index = pd.Index(np.asarray(attacker.categories, dtype=object).astype(str))
        names = index.to_numpy(dtype=object)  # (read one by one below: a pandas Index costs 25 us a read)
        a = np.asarray(attacker.codes, dtype=np.int64)
        v = np.asarray(victim.codes, dtype=np.int64)
        s, d = _codes_in(att["saddr"], index), _codes_in(att["daddr"], index)
        rows = np.flatnonzero((a != s) & (a != d) & (a >= 0))
        if not len(rows):
            return out
        a, v, s, d = a[rows], v[rows], s[rows], d[rows]
        st = att["stime"].to_numpy(dtype=float)[rows]
        lt = att["ltime"].to_numpy(dtype=float)[rows]
        g = pd.DataFrame({"a": a, "st": st, "lt": lt}).groupby("a", sort=True).agg(n=("st", "size"), first=("st", "min"),
                                                                                   last=("lt", "max"))
        for code, n, first, last in zip(g.index.to_numpy(), g["n"].to_numpy(), g["first"].to_numpy(), g["last"].to_numpy()):
            ip = str(names[code])
            out.flows[ip], out.first[ip], out.last[ip] = int(n), float(first), float(last)
        k = len(names)
        for x, y in ((a, v), (v, a)):
            for pair in np.unique(x * k + y).tolist():
                i, j = divmod(pair, k)
                if i != j and min(i, j) >= 0:
                    out.peers.setdefault(str(names[i]), set()).add(str(names[j]))
        forged = np.where(s != v, s, d)  # the end that is not the victim
        f_codes, f_counts = np.unique(forged[forged >= 0], return_counts=True)
        out.forged_flows = dict(zip(names[f_codes].tolist(), f_counts.tolist()))
        f, i = np.divmod(np.unique(forged * k + a), k)  # (a flood with random sources: one pair per packet)
        ok = (f >= 0) & (f != i)
        for fn, an in zip(names[f[ok]].tolist(), names[i[ok]].tolist()):
            by = out.forged_by.get(fn)
            if by is None:
                out.forged_by[fn] = {an}
            else:
                by.add(an)
        return out


def _codes_in(col, names: pd.Index) -> np.ndarray:
    """Positions in ``names`` (str) of ``col``'s values as strings (-1 where absent or missing)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = np.asarray(col.cat.codes, dtype=np.int64)
        where = names.get_indexer(pd.Index(np.asarray(col.cat.categories, dtype=object).astype(str)))
        return np.where(codes >= 0, np.append(where, -1)[codes], -1)
    return names.get_indexer(pd.Index(col.to_numpy(dtype=object).astype(str)))


def _values(col) -> np.ndarray:
    """A column's values as a numpy array (object for strings and categoricals, missing as NaN)."""
    if isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object or isinstance(col.dtype, pd.StringDtype):
        return col.to_numpy(dtype=object, na_value=np.nan)
    return col.to_numpy()


def _codes_names(col, order=None) -> tuple[np.ndarray, np.ndarray]:
    """(codes, names) of ``col`` (taken in ``order`` when given): ``names[codes]`` is ``str``
    of each value ("nan" where missing), as ``col.astype(str)`` would give; counting codes
    counts values."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes, cats = np.asarray(col.cat.codes, dtype=np.int64), col.cat.categories
        if order is not None:
            codes = codes[order]
    else:
        if order is not None:  # (factorised in that order: codes number values as they come)
            col = pd.Series(col.to_numpy()[order], dtype=col.dtype)
        codes, cats = pd.factorize(col)
        codes = np.asarray(codes, dtype=np.int64)
    names = np.array([*map(str, cats), "nan"], dtype=object)
    return np.where(codes < 0, len(cats), codes), names


def _counts(coded: tuple[np.ndarray, np.ndarray], rows: slice) -> dict[str, int]:
    """{str value: rows} of a coded column's (:func:`_codes_names`) rows."""
    codes, names = coded
    u, n = np.unique(codes[rows], return_counts=True)
    out: dict[str, int] = {}
    for c, k in zip(u, n):
        out[names[c]] = out.get(names[c], 0) + int(k)
    return out


def _incident(cols: dict, coded: dict, rows: slice, attacker: str, cat: str, sub: str, top_n: int) -> Incident:
    """The incident of the (sorted) attack flows ``rows`` (numbered later)."""
    ev = {k: v for k, v in _counts(coded["evidence"], rows).items() if k}
    total = rows.stop - rows.start
    conf = float(pd.Series(cols["confidence"][rows]).mean())
    evidence = [f"{total} flow{'s' if total != 1 else ''} classified {cat}/{sub}, mean confidence {conf:.2f}"]
    traced = {k: v for k, v in _counts(coded["_via_mac"], rows).items() if k}
    for mac, n in sorted(traced.items(), key=lambda kv: (-kv[1], kv[0])):
        if mac == attacker:  # (attribution step 3b: the sender is known only by its MAC)
            evidence.append(f"{n} flow{'s' if n != 1 else ''} from {MIN_SOURCES_BEHIND_MAC} or more source addresses "
                            f"whose frames all came from MAC {mac}, which no address of the capture is bound to: "
                            "the MAC names the sender (a host forging its sources, or a router forwarding the flood)")
            continue
        evidence.append(f"{n} flow{'s' if n != 1 else ''} with forged source addresses; "
                        f"frames sent by MAC {mac} = {attacker}")
    if traced:
        evidence.append(_forged_sources(cols, coded, rows, behind_mac=attacker in traced))
    evidence += [f"{e} ({n} flow{'s' if n != 1 else ''})" for e, n in sorted(ev.items(), key=lambda kv: (-kv[1], kv[0]))[:4]]
    n_unfamiliar = 0
    if "unfamiliar" in coded:
        unf = {k: v for k, v in _counts(coded["unfamiliar"], rows).items() if k and k != "nan"}
        if unf:
            n = n_unfamiliar = sum(unf.values())
            feats = sorted({f for k in unf for f in k.split(", ")})
            evidence.insert(1, f"{n} of {total} flow{'s' if total != 1 else ''} outside the model's training data "
                               f"({', '.join(feats[:6])}{', ...' if len(feats) > 6 else ''}): the verdict is an "
                               "extrapolation, check it by hand")
    # per victim, in order of first appearance: flows, packets, bytes
    vcodes, vnames = coded["_victim"]
    u, first, inv = np.unique(vcodes[rows], return_index=True, return_inverse=True)
    pkts, byts = cols["pkts"][rows].astype(np.int64), cols["bytes"][rows].astype(np.int64)
    n_flows = np.bincount(inv, minlength=len(u))
    n_pkts = np.zeros(len(u), dtype=np.int64)
    n_bytes = np.zeros(len(u), dtype=np.int64)
    np.add.at(n_pkts, inv, pkts)
    np.add.at(n_bytes, inv, byts)
    per_victim = {str(vnames[u[i]]): {"flows": int(n_flows[i]), "packets": int(n_pkts[i]), "bytes": int(n_bytes[i])}
                  for i in np.argsort(first, kind="stable")}
    # biggest first (bytes, then packets, descending), then earliest; stable like a mergesort
    st = cols["stime"][rows].astype(float)
    top_rows = np.lexsort((st, -pkts, -byts))[:top_n] + rows.start
    return Incident(
        id=0,
        attacker=attacker,
        victims=sorted((str(v) for v in vnames[u]), key=ip_sort_key),
        category=cat,
        subcategory=sub,
        start=float(st.min()),
        end=float(cols["ltime"][rows].astype(float).max()),
        flows=total,
        packets=int(pkts.sum()),
        bytes=int(byts.sum()),
        confidence=conf,
        evidence=evidence,
        captures=sorted(_counts(coded["capture"], rows)),
        top_flows=[_flow(_Row(cols, i)) for i in top_rows],
        per_victim=per_victim,
        flow_ends=tuple(cols[c][rows] for c in ("saddr", "sport", "daddr", "dport")) if total <= MAX_FLOW_KEYS else None,
        traced_macs=traced,
        unfamiliar_flows=n_unfamiliar,
    )


def _forged_sources(cols: dict, coded: dict, rows: slice, behind_mac: bool = False) -> str:
    """Evidence line of the forged addresses of an incident's traced flows (rows whose frames'
    MAC named the attacker): how many distinct ones and the smallest prefix holding them all.
    ``behind_mac``: the attacker is a MAC bound to no address (attribution step 3b), whose source
    addresses are forged or those of the hosts behind a router: the line says so."""
    via_codes, via_names = coded["_via_mac"]
    traced = np.flatnonzero(via_names[via_codes[rows]] != "") + rows.start
    vcodes, vnames = coded["_victim"]
    victim = vnames[vcodes[traced]]
    src, dst = cols["saddr"][traced], cols["daddr"][traced]
    forged = pd.unique(np.where(src.astype(str) != victim, src, dst).astype(str))
    what = "source address" if behind_mac else "forged source address"
    if len(forged) == 1:
        return f"{what}: {forged[0]}"
    prefix = _covering_prefix(forged)
    text = f"{len(forged):,} distinct {what}es" + (f", all in {prefix}" if prefix else "")
    return text + (" (forged, or hosts behind a router: summary.json lists no host for them, the flows output "
                   "has every one)" if behind_mac else "")


def _covering_prefix(addresses) -> str | None:
    """The smallest network holding every address (all of one IP version), else None."""
    lo = hi = version = None
    for key in address_keys(addresses):
        if key[0] != 0 or version not in (None, key[1]):
            return None
        version = key[1]
        lo = key[2] if lo is None else min(lo, key[2])
        hi = key[2] if hi is None else max(hi, key[2])
    if version is None:
        return None
    bits = 32 if version == 4 else 128
    length = bits - (lo ^ hi).bit_length()
    net = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network
    return str(net((lo >> (bits - length) << (bits - length), length)))


class _Taken:
    """A column's values in ``order``, read by position or slice like the numpy array
    :func:`_values` gives (object values for strings, NaN where missing).  A categorical keeps
    its codes and gives values only for the positions read."""

    __slots__ = ("codes", "names")

    def __init__(self, codes: np.ndarray, names: np.ndarray):
        self.codes, self.names = codes, names

    @staticmethod
    def of(col, order: np.ndarray):
        if not isinstance(col.dtype, pd.CategoricalDtype):
            return _values(col)[order]
        codes = np.asarray(col.cat.codes, dtype=np.int64)[order]
        names = np.empty(len(col.cat.categories) + 1, dtype=object)
        names[:-1] = np.asarray(col.cat.categories, dtype=object)
        names[-1] = np.nan
        return _Taken(np.where(codes < 0, len(names) - 1, codes), names)

    def __getitem__(self, i):
        return self.names[self.codes[i]]

    def __len__(self):
        return len(self.codes)


class _Row:
    """Row ``i`` of column arrays, read as attributes (what :func:`_flow` reads)."""

    __slots__ = ("_cols", "_i")

    def __init__(self, cols: dict, i: int):
        self._cols, self._i = cols, i

    def __getattr__(self, name):
        return self._cols[name][self._i]


def blame(att) -> tuple:
    """(attacker, victim, MAC it was traced through or "") of each attack flow (attacker and
    victim as categoricals with sorted categories):
    :func:`forensics.attribution.blame` with the capture look-ups of
    :func:`forensics.attribution.blame_context` in ``att``'s columns."""
    return blame_frame(att, with_mac=True, categorical=True)


def endpoint_key(a, pa, b, pb) -> frozenset:
    """Direction-free key of a flow: its two (address, port) ends."""

    def port(v):
        try:
            return int(v, 0) if isinstance(v, str) else int(v)
        except (TypeError, ValueError):
            return str(v)

    return frozenset(((str(a), port(pa)), (str(b), port(pb))))


def _hosts(flows, incidents: list[Incident], traced: Traced | None = None) -> tuple[list[Host], int]:
    """The host rows, and how many addresses that only ever appear as forged sources were left
    out of them.  Such an address (every flow of it an attacker's, with the address forged: a
    flood with random sources has one per packet) is no host: the first
    :data:`MAX_FORGED_ROWS` in address order keep a row (the HTML report lists them), the rest
    are counted, and no host lists one as a peer (``Host.forged_peers`` counts them instead)."""
    from forensics.schema import link_layer_rows

    l2 = link_layer_rows(flows["saddr"])
    if l2.any():  # flows of non-IP frames are keyed by MAC: their endpoints are no hosts
        flows = flows[~l2]
    # each flow twice, once from each end: host, peer (codes of one factorization)
    (s_code, d_code), names = _codes(flows["saddr"], flows["daddr"])  # (each column factorised on its own storage)
    k = len(names)
    codes = np.concatenate([s_code, d_code])
    n = len(flows)
    ip, peer = codes, np.concatenate([d_code, s_code])
    both = pd.DataFrame({"ip": ip, "stime": np.tile(flows["stime"].to_numpy(), 2),
                         "ltime": np.tile(flows["ltime"].to_numpy(), 2), "conf": np.tile(flows["confidence"].to_numpy(), 2)})
    agg = both.groupby("ip", sort=False).agg(first=("stime", "min"), last=("ltime", "max"), conf=("conf", "mean"))
    # a flow from a host to itself counts once
    nflows = np.bincount(np.concatenate([codes[:n], codes[n:][codes[n:] != codes[:n]]]), minlength=k)

    traced = traced or Traced()
    index = pd.Index(names)
    forged_flows = np.zeros(k, dtype=np.int64)
    forged_by = np.zeros(k, dtype=bool)
    if traced.forged_flows:
        at = index.get_indexer(list(traced.forged_flows))
        forged_flows[at[at >= 0]] = np.fromiter(traced.forged_flows.values(), np.int64, len(at))[at >= 0]
    if traced.forged_by:
        at = index.get_indexer(list(traced.forged_by))
        forged_by[at[at >= 0]] = True
    extra = np.zeros(k, dtype=np.int64)  # attack flows traced to an address through its MAC
    if traced.flows:
        at = index.get_indexer(list(traced.flows))
        extra[at[at >= 0]] = np.fromiter(traced.flows.values(), np.int64, len(at))[at >= 0]
    only = forged_by & (forged_flows >= nflows + extra)  # Host.only_forged, per address

    # address order: each address's sort key once (ip_sort_key's cache holds fewer than a big flood's sources)
    keys = address_keys(names)
    by_addr = sorted(range(k), key=keys.__getitem__)
    rank = np.empty(k, dtype=np.int64)
    rank[by_addr] = np.arange(k)
    # rows: every address with traffic of its own, and the first MAX_FORGED_ROWS forged-only ones
    keep = ~only
    forged_sorted = np.asarray(by_addr, dtype=np.int64)[only[by_addr]]
    keep[forged_sorted[:MAX_FORGED_ROWS]] = True
    forged_left_out = max(0, len(forged_sorted) - MAX_FORGED_ROWS)
    # peers of each kept host in address order: unique (host, rank of peer) pairs; forged-only peers counted
    other = (ip != peer) & keep[ip]
    pairs = np.unique(ip[other].astype(np.int64) * k + rank[peer[other]])
    p_ip, p_rank = np.divmod(pairs, k)
    addr_by_rank = names[by_addr]
    forged_peer = only[by_addr][p_rank]
    forged_peers = np.bincount(p_ip[forged_peer], minlength=k)
    p_ip, p_rank = p_ip[~forged_peer], p_rank[~forged_peer]
    lo, hi = np.searchsorted(p_ip, np.arange(k), "left"), np.searchsorted(p_ip, np.arange(k), "right")

    as_attacker: dict[str, list[Incident]] = {}
    as_victim: dict[str, list[Incident]] = {}
    for inc in incidents:
        as_attacker.setdefault(inc.attacker, []).append(inc)
        for v in inc.victims:
            as_victim.setdefault(v, []).append(inc)

    hosts = []
    a_code = agg.index.to_numpy()
    rows = np.flatnonzero(keep[a_code])
    own = [(str(names[code]), float(first), float(last), float(mean_conf), int(nflows[code]),
            addr_by_rank[p_rank[lo[code]:hi[code]]].tolist(), int(forged_peers[code]), int(forged_flows[code]))
           for code, first, last, mean_conf in zip(a_code[rows], agg["first"].to_numpy()[rows], agg["last"].to_numpy()[rows],
                                                   agg["conf"].to_numpy()[rows])]
    known = {row[0] for row in own}
    # (a bot is an end of flows of its own, the ones that bound its MAC; kept should none be left)
    own += [(ip, np.inf, -np.inf, np.nan, 0, [], 0, 0) for ip in sorted(traced.flows) if ip not in known]
    forged = set(names[only].tolist()) if only.any() else set()
    for ip, first, last, mean_conf, n_own, peer_list, n_forged_peers, n_forged_flows in own:
        n_flows = n_own + traced.flows.get(ip, 0)
        first, last = min(first, traced.first.get(ip, np.inf)), max(last, traced.last.get(ip, -np.inf))
        more = traced.peers.get(ip, set()) - set(peer_list) - forged
        if more:
            peer_list = sorted([*peer_list, *more], key=ip_sort_key)
        mine = as_attacker.get(ip) or as_victim.get(ip)
        if ip in as_attacker:
            role = "attacker"
        elif ip in as_victim:
            role = "victim"
        else:
            role = "normal"
        if mine:
            main = max(mine, key=lambda i: (i.flows, i.packets, -i.start))
            cat, sub, conf = main.category, main.subcategory, main.confidence
        else:
            cat, sub, conf = "Normal", "Normal", float(mean_conf)
        involved = sorted({i.id for i in as_attacker.get(ip, []) + as_victim.get(ip, [])}) if mine else []
        by = traced.forged_by.get(ip)
        hosts.append(
            Host(
                ip=ip,
                role=role,
                category=cat,
                subcategory=sub,
                confidence=conf,
                first_seen=float(first),
                last_seen=float(last),
                flows=n_flows,
                peers=peer_list,
                incidents=involved,
                forged_by=sorted(by, key=ip_sort_key) if by else [],
                forged_flows=n_forged_flows,
                forged_peers=n_forged_peers,
            )
        )
    key_of = dict(zip(names.tolist(), keys))
    hosts.sort(key=lambda h: (ROLE_ORDER[h.role], key_of.get(h.ip) or ip_sort_key(h.ip)))
    return hosts, forged_left_out
