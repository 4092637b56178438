"""The one definition of every flow output column: name, dtype, unit, meaning, order.

``COLUMNS`` lists, in output order, the 35 BoT-IoT columns (BoT-IoT order),
then ``proto_number``, ``state_number``, ``flgs_number`` and the 14 window
features of the BoT-IoT 5 % release.  The model, the report and the CSV/Parquet
writers import it; nothing else defines column names.

Window features (the authors published no pseudo-code; this is the exact
definition used here): flows are taken in output order (``pkSeqID`` order, i.e.
by end of activity); for each flow *i* the window is flows ``i-99 .. i`` of the
same capture (the flow itself and up to 99 before it, fewer at the start).  Over
that window:

* ``TnBPSrcIP`` = sum of ``bytes`` of the window's flows whose ``saddr`` equals
  flow *i*'s ``saddr``; ``TnBPDstIP`` the same keyed on ``daddr``.
* ``TnP_PSrcIP`` / ``TnP_PDstIP``: the same sums of ``pkts``.
* ``TnP_PerProto``: sum of ``pkts`` of window flows with the same ``proto``;
  ``TnP_Per_Dport``: the same for the same ``dport``.
* ``AR_P_Proto_P_SrcIP``: mean over the window flows with the same ``proto``
  and ``saddr`` of each flow's average rate ``pkts / dur`` (``dur`` = 0 counts
  as rate 0); ``AR_P_Proto_P_DstIP``, ``AR_P_Proto_P_Sport``,
  ``AR_P_Proto_P_Dport`` the same keyed on (proto, daddr), (proto, sport),
  (proto, dport).
* ``N_IN_Conn_P_SrcIP``: number of window flows whose ``saddr`` equals flow
  *i*'s ``saddr`` (connections from that source); ``N_IN_Conn_P_DstIP``:
  number of window flows whose ``daddr`` equals flow *i*'s ``daddr``
  (inbound connections to that destination).
* ``Pkts_P_State_P_Protocol_P_DestIP``: sum of ``pkts`` of window flows with
  the same (state, proto, daddr); ``Pkts_P_State_P_Protocol_P_SrcIP``: the
  same for (state, proto, saddr).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forensics.errors import SchemaError


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # pandas dtype of the DataFrame column
    unit: str
    meaning: str
    group: str  # "botiot" (the 35), "number", "window"


_C = Column
COLUMNS: tuple[Column, ...] = (
    _C("pkSeqID", "int64", "", "row id, 1-based, in output order", "botiot"),
    _C("stime", "float64", "s (Unix epoch)", "time of the flow's first packet", "botiot"),
    _C("flgs", "string", "", "Argus flag string (' e' = Ethernet), as ra prints it", "botiot"),
    _C("proto", "string", "", "protocol name as ra prints it (tcp, udp, icmp, ipv6-icmp, arp, ...)", "botiot"),
    _C("saddr", "string", "", "source address: the host that opened the flow (see flows.py)", "botiot"),
    _C("sport", "string", "", "source port; ICMP: 0x<code><type> hex; empty for ARP / portless", "botiot"),
    _C("daddr", "string", "", "destination address", "botiot"),
    _C("dport", "string", "", "destination port; ICMP echo: 0x<identifier, byte-swapped> hex", "botiot"),
    _C("pkts", "int64", "packets", "packets in both directions", "botiot"),
    _C("bytes", "int64", "bytes", "bytes on the wire (frame length) in both directions", "botiot"),
    _C("state", "string", "", "Argus state: TCP REQ ACC CON CLO FIN RST; UDP/other INT CON; ICMP ECO ECR URP ...",
       "botiot"),
    _C("ltime", "float64", "s (Unix epoch)", "time of the flow's last packet", "botiot"),
    _C("seq", "int64", "", "Argus sequence number of the flow's first record (creation order)", "botiot"),
    _C("dur", "float64", "s", "ltime - stime", "botiot"),
    _C("mean", "float64", "s", "mean duration of the merged Argus records (5 s status records)", "botiot"),
    _C("stddev", "float64", "s", "population standard deviation of the merged records' durations", "botiot"),
    _C("smac", "string", "", "source MAC of the flow's first frame, as argus -m + racluster print it "
       "(aa:bb:cc:00:11:22, 'Broadcast'); empty without an Ethernet header (BoT-IoT's are empty)", "botiot"),
    _C("dmac", "string", "", "destination MAC of the flow's first frame, like smac", "botiot"),
    _C("sum", "float64", "s", "sum of the merged records' durations", "botiot"),
    _C("min", "float64", "s", "shortest merged record duration", "botiot"),
    _C("max", "float64", "s", "longest merged record duration", "botiot"),
    _C("soui", "string", "", "source MAC vendor (empty, as in BoT-IoT)", "botiot"),
    _C("doui", "string", "", "destination MAC vendor (empty, as in BoT-IoT)", "botiot"),
    _C("sco", "string", "", "source country (empty, as in BoT-IoT)", "botiot"),
    _C("dco", "string", "", "destination country (empty, as in BoT-IoT)", "botiot"),
    _C("spkts", "int64", "packets", "packets from source to destination", "botiot"),
    _C("dpkts", "int64", "packets", "packets from destination to source", "botiot"),
    _C("sbytes", "int64", "bytes", "bytes from source to destination", "botiot"),
    _C("dbytes", "int64", "bytes", "bytes from destination to source", "botiot"),
    _C("rate", "float64", "packets/s", "(pkts - 1) / dur, 0 when dur = 0", "botiot"),
    _C("srate", "float64", "packets/s", "(spkts - 1) / dur, 0 when dur = 0", "botiot"),
    _C("drate", "float64", "packets/s", "(dpkts - 1) / dur, 0 when dur = 0", "botiot"),
    _C("attack", "int64", "", "1 attack, 0 normal (0 for unlabeled captures)", "botiot"),
    _C("category", "string", "", "Normal, DDoS, DoS, Reconnaissance, Theft (empty when unlabeled)", "botiot"),
    _C("subcategory", "string", "", "Normal, TCP, UDP, HTTP, Service_Scan, OS_Fingerprint, Keylogging, "
       "Data_Exfiltration (empty when unlabeled)", "botiot"),
    _C("proto_number", "int64", "", "proto encoded as an integer (PROTO_NUMBERS)", "number"),
    _C("state_number", "int64", "", "state encoded as an integer (STATE_NUMBERS)", "number"),
    _C("flgs_number", "int64", "", "flgs encoded as an integer (FLGS_NUMBERS)", "number"),
    _C("TnBPSrcIP", "int64", "bytes", "window: total bytes of flows from this saddr", "window"),
    _C("TnBPDstIP", "int64", "bytes", "window: total bytes of flows to this daddr", "window"),
    _C("TnP_PSrcIP", "int64", "packets", "window: total packets of flows from this saddr", "window"),
    _C("TnP_PDstIP", "int64", "packets", "window: total packets of flows to this daddr", "window"),
    _C("TnP_PerProto", "int64", "packets", "window: total packets of flows with this proto", "window"),
    _C("TnP_Per_Dport", "int64", "packets", "window: total packets of flows to this dport", "window"),
    _C("AR_P_Proto_P_SrcIP", "float64", "packets/s", "window: mean pkts/dur per (proto, saddr)", "window"),
    _C("AR_P_Proto_P_DstIP", "float64", "packets/s", "window: mean pkts/dur per (proto, daddr)", "window"),
    _C("N_IN_Conn_P_DstIP", "int64", "flows", "window: flows to this daddr", "window"),
    _C("N_IN_Conn_P_SrcIP", "int64", "flows", "window: flows from this saddr", "window"),
    _C("AR_P_Proto_P_Sport", "float64", "packets/s", "window: mean pkts/dur per (proto, sport)", "window"),
    _C("AR_P_Proto_P_Dport", "float64", "packets/s", "window: mean pkts/dur per (proto, dport)", "window"),
    _C("Pkts_P_State_P_Protocol_P_DestIP", "int64", "packets", "window: packets per (state, proto, daddr)",
       "window"),
    _C("Pkts_P_State_P_Protocol_P_SrcIP", "int64", "packets", "window: packets per (state, proto, saddr)",
       "window"),
)

COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
BOTIOT_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.group == "botiot")
NUMBER_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.group == "number")
WINDOW_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.group == "window")
DTYPES: dict[str, str] = {c.name: c.dtype for c in COLUMNS}
BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}
WINDOW_SIZE = 100

# The 10-best feature set of the BoT-IoT release
TEN_BEST: tuple[str, ...] = ("seq", "stddev", "N_IN_Conn_P_SrcIP", "min", "state_number", "mean",
                             "N_IN_Conn_P_DstIP", "drate", "srate", "max")
# Columns that identify hosts or capture time: exported, never fed to a model
IDENTITY_COLUMNS: tuple[str, ...] = ("pkSeqID", "stime", "ltime", "saddr", "sport", "daddr", "dport", "smac",
                                     "dmac", "soui", "doui", "sco", "dco", "seq")
LABEL_COLUMNS: tuple[str, ...] = ("attack", "category", "subcategory")

# Integer encodings (BoT-IoT 5 % release numbering where it is known; others appended)
PROTO_NUMBERS: dict[str, int] = {"tcp": 1, "arp": 2, "udp": 3, "icmp": 4, "ipv6-icmp": 5}
STATE_NUMBERS: dict[str, int] = {
    "RST": 1, "CON": 2, "REQ": 3, "INT": 4, "URP": 5, "FIN": 6, "ACC": 7, "NRS": 8, "ECO": 9, "TST": 10,
    "MAS": 11, "CLO": 12, "ECR": 13, "URH": 14, "URN": 15, "TXD": 16, "URF": 17, "URS": 18, "URO": 19,
    "RED": 20, "SRC": 21, "PAR": 22, "TSR": 23, "IRQ": 24, "IRR": 25, "MSR": 26, "RTA": 27, "RTS": 28,
    "NBS": 29, "NBA": 30, "UNR": 31, "PTB": 32, "TIM": 33,
}
FLGS_NUMBERS: dict[str, int] = {"e": 1, "e s": 2, "e d": 3, "e *": 4, "e g": 5, "eU": 6, "e &": 7, "e r": 8,
                                "": 9}


def encode(value: str, table: dict[str, int]) -> int:
    """Integer code of a categorical value; unknown values get 0."""
    return table.get(str(value).strip(), 0)


def encode_series(values: pd.Series, table: dict[str, int]) -> np.ndarray:
    """Vectorised :func:`encode`."""
    inv, uniq = pd.factorize(values, use_na_sentinel=False)
    codes = np.array([encode(u, table) for u in uniq], dtype=np.int64)
    return codes[inv] if len(uniq) else np.zeros(len(values), dtype=np.int64)


MAC_PATTERN = r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}"  # a MAC as Argus (and this project) writes it


def link_layer_rows(saddr: pd.Series) -> np.ndarray:
    """True for the flows of non-IP frames, which Argus (and forensics.flows) key by MAC address:
    ``saddr`` is six two-digit hex groups (no IPv6 address is written that way)."""
    codes, uniq = pd.factorize(pd.Series(saddr, copy=False), use_na_sentinel=False)
    hit = pd.Series(uniq).astype(str).str.fullmatch(MAC_PATTERN).to_numpy(dtype=bool)
    return hit[codes] if len(codes) else np.zeros(0, dtype=bool)


def empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c.name: pd.Series(dtype=_pandas_dtype(c.dtype)) for c in COLUMNS})


def _pandas_dtype(d: str):
    return object if d == "string" else d


def conform(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` with exactly COLUMNS, in order, with their dtypes (raises SchemaError)."""
    missing = [c for c in COLUMN_NAMES if c not in df.columns]
    if missing:
        raise SchemaError(f"flow table is missing column(s) {', '.join(missing)}")
    # (reindex: a copy under pandas 2, a lazy copy-on-write one under pandas 3, where a deep
    # ``.copy()`` would duplicate every column although the ones replaced below are new arrays)
    out = df.reindex(columns=list(COLUMN_NAMES))
    for c in COLUMNS:
        try:
            if c.dtype == "string":
                col = out[c.name]
                if not (pd.api.types.is_string_dtype(col.dtype) or col.dtype == object) or col.hasnans:
                    out[c.name] = col.astype(object).where(col.notna(), "")
            elif out[c.name].dtype != c.dtype:
                out[c.name] = out[c.name].astype(c.dtype)
        except (TypeError, ValueError) as exc:
            raise SchemaError(f"flow column '{c.name}' cannot be read as {c.dtype}: {exc}") from None
    return out
