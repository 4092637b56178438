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

Hosts: every address seen in a flow.  ``attacker`` if it is the source of an
incident, else ``victim`` if it is the target of one, else ``normal``.  An
attacker or victim takes the category of its largest incident (by flows).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forensics import __version__
from forensics.attribution import CONTEXT_COLUMNS, blame_context, blame_frame

CATEGORY_ORDER = ("DDoS", "DoS", "Reconnaissance", "Theft", "Normal")
ROLE_ORDER = {"attacker": 0, "victim": 1, "normal": 2}
FLOAT_DIGITS = 6
MAX_FLOW_KEYS = 20_000  # incidents with more flows are matched by address pair only (application detail)


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
    flow_keys: frozenset | None = None  # endpoint pairs of its flows (None when too many to keep)
    traced_macs: dict = field(default_factory=dict)  # MAC -> flows with forged sources traced to the attacker through it

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

    # -- what the exit status and the renderers ask ---------------------------------
    @property
    def readable(self) -> list[Input]:
        return [i for i in self.inputs if i.error is None]

    @property
    def failed(self) -> list[Input]:
        return [i for i in self.inputs if i.error is not None]

    @property
    def exit_status(self) -> int:
        """0 no attack, 1 attack found (among the readable inputs), 2 nothing readable."""
        from forensics.errors import ExitStatus

        if not self.readable:
            return int(ExitStatus.USAGE)
        return int(ExitStatus.ATTACK if self.incidents else ExitStatus.OK)

    def summary(self) -> dict:
        """The documented summary.json shape (../shared/docs/design.md), nothing more."""
        return {
            "tool": dict(self.tool),
            "model": dict(self.model),
            "inputs": [i.summary() for i in self.inputs],
            "flows": int(self.flows),
            "attack_flows": int(self.attack_flows),
            "hosts": [h.summary() for h in self.hosts],
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


def ip_sort_key(ip: str):
    try:
        a = ipaddress.ip_address(ip)
        return (0, a.version, int(a), "")
    except ValueError:
        return (1, 0, 0, str(ip))


# --------------------------------------------------------------------------
# building
# --------------------------------------------------------------------------


def build_report(candidates, results, config, *, model: dict, started: float = 0.0, finished: float = 0.0) -> Report:
    import pandas as pd

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
        flows["saddr"] = flows["saddr"].astype(str)
        flows["daddr"] = flows["daddr"].astype(str)
    n_attack = 0 if flows is None else int(flows["pred_attack"].sum())
    incidents = _incidents(flows, config) if n_attack else []
    hosts = _hosts(flows, incidents) if flows is not None else []
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
    )


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


# what incidents read of an attack flow (blame_frame uses spkts/dpkts when present)
INCIDENT_COLUMNS = ("capture", "stime", "ltime", "saddr", "sport", "daddr", "dport", "proto", "state", "pkts", "bytes",
                    "spkts", "dpkts", "smac", "dmac", "pred_category", "pred_subcategory", "confidence", "evidence")


def _sorted_codes(values) -> np.ndarray:
    """Codes whose order is the values' order (strings compared as strings)."""
    if isinstance(values.dtype, pd.CategoricalDtype) and values.cat.categories.is_monotonic_increasing:
        return np.asarray(values.cat.codes)  # (categories sorted by _coded_rows)
    codes, _ = pd.factorize(values, sort=True)
    return np.asarray(codes)


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
                codes, uniq = pd.factorize(v, sort=True)
            except TypeError:  # values of mixed types that do not compare: keep them as they are
                out[c] = pd.Series(v.to_numpy(dtype=object)[rows], dtype=object, copy=False)
                continue
            out[c] = pd.Categorical.from_codes(np.asarray(codes)[rows], categories=pd.Index(np.asarray(uniq, dtype=object),
                                                                                         dtype=object))
        else:
            out[c] = v.to_numpy()[rows]
    return pd.DataFrame(out, index=flows.index[rows], copy=False)


def _value_counts(col) -> dict[str, int]:
    """{value as str: rows} of a column (a categorical's unused categories left out, without
    materialising its strings)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = np.asarray(col.cat.codes)
        n = np.bincount(codes[codes >= 0], minlength=len(col.cat.categories))
        out = {str(col.cat.categories[i]): int(n[i]) for i in np.flatnonzero(n)}
        if (codes < 0).any():
            out["nan"] = out.get("nan", 0) + int((codes < 0).sum())
        return out
    return {str(k): int(v) for k, v in col.astype(str).value_counts().items()}


def _incidents(flows, config) -> list[Incident]:
    gap = float(getattr(config, "incident_gap", 300.0))
    top_n = int(getattr(config, "top_flows", 10))
    keep = [c for c in (*INCIDENT_COLUMNS, *CONTEXT_COLUMNS) if c in flows.columns]
    rows = np.flatnonzero(flows["pred_attack"].to_numpy(dtype=bool))
    att = _coded_rows(flows, rows, keep)
    if not all(c in att.columns for c in CONTEXT_COLUMNS):  # (results whose workers did not look them up)
        for c, v in blame_context(flows).items():
            att[c] = v[rows]
    for c, v in zip(("_attacker", "_victim", "_via_mac"), blame(att)):
        att[c] = pd.Series(v, index=att.index, dtype=object)  # (inferring Arrow strings: 0.16 s at 550k rows)
    # stable, input-order independent ordering: attacker, category, subcategory, stime, ltime, victim, capture
    who, cat_c, sub_c = (_sorted_codes(att[c]) for c in ("_attacker", "pred_category", "pred_subcategory"))
    order = np.lexsort((_sorted_codes(att["capture"]), _sorted_codes(att["_victim"]), att["ltime"].to_numpy(dtype=float),
                        att["stime"].to_numpy(dtype=float), sub_c, cat_c, who))
    att = att.iloc[order]
    who, cat_c, sub_c = who[order], cat_c[order], sub_c[order]
    change = np.flatnonzero((np.diff(who) != 0) | (np.diff(cat_c) != 0) | (np.diff(sub_c) != 0)) + 1
    group_bounds = [0, *change.tolist(), len(att)]
    st_all = att["stime"].to_numpy(dtype=float)
    lt_all = att["ltime"].to_numpy(dtype=float)
    out: list[Incident] = []
    for g0, g1 in zip(group_bounds[:-1], group_bounds[1:]):
        first = att.iloc[g0]
        attacker, cat, sub = first["_attacker"], first["pred_category"], first["pred_subcategory"]
        st = st_all[g0:g1]
        lt = lt_all[g0:g1]
        # split where the next flow starts more than `gap` after everything before it ended
        reach = np.maximum.accumulate(lt)
        starts = [0] + (np.flatnonzero(st[1:] - reach[:-1] > gap) + 1).tolist()
        bounds = starts + [len(st)]
        for a, b in zip(bounds[:-1], bounds[1:]):
            part = att.iloc[g0 + a:g0 + b]
            ev = {k: v for k, v in _value_counts(part["evidence"]).items() if k}
            total = len(part)
            evidence = [
                f"{total} flow{'s' if total != 1 else ''} classified {cat}/{sub}, mean confidence {part['confidence'].mean():.2f}"
            ]
            via = part["_via_mac"].to_numpy(dtype=object)
            via = via[via != ""]
            traced = {str(k): int(v) for k, v in pd.Series(via, dtype=object).value_counts().items()} if len(via) else {}
            for mac, n in sorted(traced.items(), key=lambda kv: (-kv[1], kv[0])):
                evidence.append(f"{n} flow{'s' if n != 1 else ''} with forged source addresses; "
                                f"frames sent by MAC {mac} = {attacker}")
            evidence += [f"{e} ({n} flow{'s' if n != 1 else ''})" for e, n in sorted(ev.items(), key=lambda kv: (-kv[1], kv[0]))[:4]]
            pv = part.groupby("_victim", sort=False).agg(flows=("pkts", "size"), packets=("pkts", "sum"), bytes=("bytes", "sum"))
            per_victim = {str(ip): {k: int(v) for k, v in row.items()} for ip, row in pv.iterrows()}
            # biggest first (bytes, then packets, descending), then earliest; stable like a mergesort
            top_rows = np.lexsort((part["stime"].to_numpy(dtype=float), -part["pkts"].to_numpy(dtype=np.int64),
                                   -part["bytes"].to_numpy(dtype=np.int64)))[:top_n]
            top = part.iloc[top_rows]
            out.append(
                Incident(
                    id=0,
                    attacker=str(attacker),
                    victims=sorted(map(str, part["_victim"].unique()), key=ip_sort_key),
                    category=str(cat),
                    subcategory=str(sub),
                    start=float(part["stime"].min()),
                    end=float(part["ltime"].max()),
                    flows=total,
                    packets=int(part["pkts"].sum()),
                    bytes=int(part["bytes"].sum()),
                    confidence=float(part["confidence"].mean()),
                    evidence=evidence,
                    captures=sorted(map(str, part["capture"].unique())),
                    top_flows=[_flow(r) for r in top.itertuples(index=False)],
                    per_victim=per_victim,
                    flow_keys=_flow_keys(part) if total <= MAX_FLOW_KEYS else None,
                    traced_macs=traced,
                )
            )
    out.sort(key=lambda i: (i.start, ip_sort_key(i.attacker), i.category, i.subcategory))
    for n, inc in enumerate(out, 1):
        inc.id = n
    return out


def blame(att) -> tuple:
    """(attacker, victim, MAC it was traced through or "") of each attack flow:
    :func:`forensics.attribution.blame` with the capture look-ups of
    :func:`forensics.attribution.blame_context` in ``att``'s columns."""
    return blame_frame(att, with_mac=True)


def endpoint_key(a, pa, b, pb) -> frozenset:
    """Direction-free key of a flow: its two (address, port) ends."""

    def port(v):
        try:
            return int(v, 0) if isinstance(v, str) else int(v)
        except (TypeError, ValueError):
            return str(v)

    return frozenset(((str(a), port(pa)), (str(b), port(pb))))


def _flow_keys(part) -> frozenset:
    cols = [part[c].to_numpy(dtype=object) for c in ("saddr", "sport", "daddr", "dport")]
    return frozenset(endpoint_key(a, pa, b, pb) for a, pa, b, pb in zip(*cols))


def _hosts(flows, incidents: list[Incident]) -> list[Host]:
    import pandas as pd

    from forensics.schema import link_layer_rows

    l2 = link_layer_rows(flows["saddr"])
    if l2.any():  # flows of non-IP frames are keyed by MAC: their endpoints are no hosts
        flows = flows[~l2]
    both = pd.concat(
        [
            pd.DataFrame({"ip": flows["saddr"], "peer": flows["daddr"], "stime": flows["stime"], "ltime": flows["ltime"], "conf": flows["confidence"]}),
            pd.DataFrame({"ip": flows["daddr"], "peer": flows["saddr"], "stime": flows["stime"], "ltime": flows["ltime"], "conf": flows["confidence"]}),
        ],
        ignore_index=True,
    )
    agg = both.groupby("ip", sort=False).agg(first=("stime", "min"), last=("ltime", "max"), conf=("conf", "mean"))
    # a flow from a host to itself counts once
    nflows = pd.concat([flows["saddr"], flows["daddr"].where(flows["daddr"] != flows["saddr"])]).dropna().value_counts()
    uniq = both[both["ip"] != both["peer"]].groupby("ip", sort=False)["peer"].unique()
    peers = {ip: sorted(map(str, v), key=ip_sort_key) for ip, v in uniq.items()}

    as_attacker: dict[str, list[Incident]] = {}
    as_victim: dict[str, list[Incident]] = {}
    for inc in incidents:
        as_attacker.setdefault(inc.attacker, []).append(inc)
        for v in inc.victims:
            as_victim.setdefault(v, []).append(inc)

    hosts = []
    for ip, row in agg.iterrows():
        ip = str(ip)
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
            cat, sub, conf = "Normal", "Normal", float(row["conf"])
        involved = sorted({i.id for i in as_attacker.get(ip, []) + as_victim.get(ip, [])})
        hosts.append(
            Host(
                ip=ip,
                role=role,
                category=cat,
                subcategory=sub,
                confidence=conf,
                first_seen=float(row["first"]),
                last_seen=float(row["last"]),
                flows=int(nflows.get(ip, 0)),
                peers=list(peers.get(ip, [])),
                incidents=involved,
            )
        )
    hosts.sort(key=lambda h: (ROLE_ORDER[h.role], ip_sort_key(h.ip)))
    return hosts
