"""Media streams a host asked for are no floods.

An IP camera streams its video to a recorder as RTP over UDP, once the recorder has asked for it
over RTSP (TCP port 554: ``DESCRIBE``, ``SETUP``, ``PLAY``); two phones that set up a call over
SIP (port 5060 or 5061) send each other RTP.  To the detector such a stream is one long UDP flow
of thousands of packets between two hosts, with RTCP reports beside it: nothing in the BoT-IoT
columns tells it from a UDP flood of one 5-tuple, and the lab (BoT-IoT's lab too) has no
streams, so 1.3.0 calls it DoS/UDP (a generated camera capture, 2026-11-29: 20-60 s at 30-500
packets/s of 800-1,300 bytes, two DoS incidents every time).  What does tell them apart is in
the capture, beside the stream: the session that asked for it.

This step turns Normal the flows called DoS or DDoS that are such a stream (and says so in their
evidence).  A stream is a few long flows between two hosts (RTP and RTCP, for audio and video):
a pair of hosts with more than :data:`MAX_STREAM_FLOWS` flows called DoS or DDoS is a flood of
many flows whatever else they exchange.  The session that asked for it must not be called a
flood itself (a UDP flood whose source ports count up passes 5060 on its way: lab run
``dos_udp/run68``, answered by the flooded DNS server, looked like SIP until this was required):

* **RTSP**: a UDP flow between an RTSP server S and its client R (TCP flows between them on
  port 554 or 8554 of S with at least :data:`MIN_CLIENT_PACKETS` packets from R and
  :data:`MIN_SERVER_PACKETS` from S in all: a session, not a probe answered by a reset), the
  first of which started no later than the UDP flow ended, whose packets come from S at least as
  often as from R (the stream and its RTCP reports; a flood *of* S by its client is not turned);
* **RTSP, interleaved**: a TCP flow that is itself the RTSP session (one end on port 554 or 8554,
  at least :data:`MIN_CLIENT_PACKETS` packets from the client and :data:`MIN_SERVER_PACKETS` from
  the server) with :data:`MIN_MEDIA_RATIO` times the client's bytes or more from the server: RTP
  carried inside the connection (RFC 2326 10.12, the default of many recorders behind NAT), video
  one way, acknowledgements the other (1.3.0 reads it as DoS/HTTP by the recorder; a flood of
  requests sends about as much as it gets back);
* **SIP**: a UDP flow between two hosts that exchanged SIP (a UDP or TCP flow between them on
  port 5060 or 5061 of one of them, with :data:`MIN_SIP_PACKETS` packets or more each way) no
  later than the flow ended, when the flow is two-way (each direction at least
  :data:`MIN_CALL_SHARE` of the other's packets: a call's voice goes both ways, a flood's does
  not).

Nothing is turned into an attack here; the flow keeps the model's confidence, as in the other
steps.  Limits: a stream whose session the capture does not hold (the recording started after
the ``PLAY`` and no keep-alive passed on the same connection), RTSP tunnelled in HTTP or on
another port, and calls set up through a SIP proxy (the signalling then runs between each phone
and the proxy, not between the two phones) keep the model's verdict.  The other way round, a host
the capture shows serving a stream to a client can flood that client on one 5-tuple (a compromised
camera flooding its recorder with fixed ports) and be reported Normal: the rule knows who asked
for a stream, not how much of one is plausible (the lab's hping3 floods send 30-1,100 packets/s
per bot, a video stream's rates).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RTSP_PORTS = ("554", "8554")
SIP_PORTS = ("5060", "5061")
MIN_CLIENT_PACKETS = 3  # SYN, ACK and a request: a port probe answered by a reset is no session
MIN_SERVER_PACKETS = 2  # SYN/ACK and an answer
MIN_SIP_PACKETS = 2  # each way: INVITE and ACK, 100 Trying / 180 Ringing / 200 OK
MAX_STREAM_FLOWS = 8  # a stream is a few flows (RTP and RTCP of audio and video); a flood of counting ports is thousands
MIN_CALL_SHARE = 0.25  # a call's flow: each direction at least this share of the other's packets
MIN_MEDIA_RATIO = 10.0  # an RTSP session carrying its media: this many times the client's bytes from the server
RTSP_EVIDENCE = ("called {cat} by the model, but it is a media stream of {server}, which {client} asked for over "
                 "RTSP ({client} -> {server}:{port}, from {t}): Normal")
SIP_EVIDENCE = ("called {cat} by the model, but it is a two-way media stream between {a} and {b}, which set up a "
                "call over SIP ({sa} -> {sb}:{port}, from {t}): Normal")
INTERLEAVED_EVIDENCE = ("called {cat} by the model, but it is an RTSP session of {server} carrying the media {client} asked "
                        "for ({client} -> {server}:{port}, RTP interleaved: {ratio:.0f} times the client's bytes from "
                        "the server): Normal")
_MARKS = (RTSP_EVIDENCE.split("{server}")[0].split("{cat}")[1], SIP_EVIDENCE.split("{a}")[0].split("{cat}")[1],
          INTERLEAVED_EVIDENCE.split("{server}")[0].split("{cat}")[1])


def _str(flows: pd.DataFrame, col: str, rows: np.ndarray) -> np.ndarray:
    """Column ``col`` at ``rows`` as str (only those rows converted: a scan's flows run to 10^5-10^6)."""
    return flows[col].iloc[rows].astype(str).to_numpy(dtype=object)


def _num(flows: pd.DataFrame, col: str, rows: np.ndarray) -> np.ndarray:
    return np.nan_to_num(flows[col].iloc[rows].to_numpy(dtype=np.float64, na_value=0.0))


def _isin(flows: pd.DataFrame, col: str, values) -> np.ndarray:
    """Per flow: is column ``col`` (read as str) one of ``values``?"""
    v = flows[col]
    if not (isinstance(v.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(v.dtype)):
        v = v.astype(str)
    return v.isin(values).to_numpy(dtype=bool)


def _when(t: float) -> str:
    import datetime as dt

    try:
        return dt.datetime.fromtimestamp(float(t), dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return f"{t:.6f}"


def _sessions(flows: pd.DataFrame, rows: np.ndarray, ports) -> pd.DataFrame:
    """One row per (server, client) pair of the flows ``rows`` whose one end uses a port of
    ``ports`` (the server's end; when both do, the destination's): the earliest such flow's start
    and its server port."""
    sp, dp = _str(flows, "sport", rows), _str(flows, "dport", rows)
    at_d = np.isin(dp, ports)
    at_s = np.isin(sp, ports) & ~at_d
    ok = at_d | at_s
    rows, at_d = rows[ok], at_d[ok]
    sa, da = _str(flows, "saddr", rows), _str(flows, "daddr", rows)
    s = pd.DataFrame({"server": np.where(at_d, da, sa), "client": np.where(at_d, sa, da),
                      "port": np.where(at_d, dp[ok], sp[ok]), "start": _num(flows, "stime", rows)})
    return s.sort_values("start", kind="stable").drop_duplicates(["server", "client"])


def _interleaved(flows: pd.DataFrame, cat: np.ndarray, rows: np.ndarray) -> pd.DataFrame:
    """``row``/``evidence`` of the TCP flows ``rows`` (called DoS or DDoS) that are an RTSP session
    carrying its own media (RTP interleaved in the connection, RFC 2326 10.12): one end on an RTSP
    port, :data:`MIN_CLIENT_PACKETS` packets or more from the client and :data:`MIN_SERVER_PACKETS`
    from the server, and :data:`MIN_MEDIA_RATIO` times the client's bytes or more from the server
    (video one way, acknowledgements the other; a flood of requests sends as much as it gets
    back, or more)."""
    empty = pd.DataFrame({"row": np.zeros(0, np.int64), "evidence": np.zeros(0, object)})
    if not len(rows) or not {"sbytes", "dbytes"} <= set(flows.columns):
        return empty
    sp, dp = _str(flows, "sport", rows), _str(flows, "dport", rows)
    on_d = np.isin(dp, RTSP_PORTS)
    on_s = np.isin(sp, RTSP_PORTS) & ~on_d
    spk, dpk = _num(flows, "spkts", rows), _num(flows, "dpkts", rows)
    sb, db = _num(flows, "sbytes", rows), _num(flows, "dbytes", rows)
    c_pk, s_pk = np.where(on_d, spk, dpk), np.where(on_d, dpk, spk)
    c_b, s_b = np.where(on_d, sb, db), np.where(on_d, db, sb)
    ok = (on_d | on_s) & (c_pk >= MIN_CLIENT_PACKETS) & (s_pk >= MIN_SERVER_PACKETS) & (s_b >= MIN_MEDIA_RATIO * c_b)
    if not ok.any():
        return empty
    sa, da = _str(flows, "saddr", rows), _str(flows, "daddr", rows)
    server, client = np.where(on_d, da, sa), np.where(on_d, sa, da)
    port = np.where(on_d, dp, sp)
    k = np.flatnonzero(ok)
    return pd.DataFrame({"row": rows[k], "evidence": [
        INTERLEAVED_EVIDENCE.format(cat=cat[rows[i]], server=server[i], client=client[i], port=port[i],
                                    ratio=s_b[i] / max(c_b[i], 1.0)) for i in k]})


def media_streams(flows: pd.DataFrame, cat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, evidence)``: the flows called DoS or DDoS (``cat``: per-flow category names) that
    are a media stream asked for over RTSP (beside the session, or inside it) or set up over SIP in
    the same capture."""
    need = {"proto", "saddr", "daddr", "sport", "dport", "spkts", "dpkts", "stime", "ltime"}
    none = (np.zeros(0, np.int64), np.zeros(0, object))
    if not len(flows) or not need <= set(flows.columns):
        return none
    flood = (cat == "DoS") | (cat == "DDoS")
    if not flood.any():
        return none
    is_tcp, is_udp = _isin(flows, "proto", ("tcp",)), _isin(flows, "proto", ("udp",))
    rtsp_port = _isin(flows, "sport", RTSP_PORTS) | _isin(flows, "dport", RTSP_PORTS)
    sip_port = _isin(flows, "sport", SIP_PORTS) | _isin(flows, "dport", SIP_PORTS)
    inside = flood & is_tcp & rtsp_port  # (an RTSP session itself called a flood: media inside it?)
    # (the session beside a stream must be no flood flow: a UDP flood with counting source ports that
    # passes 5060 on its way, answered by a DNS server, is no SIP: lab run dos_udp/run68; the model
    # may call an RTSP session's few packets anything else, Theft/Keylogging for one)
    sig_port = (rtsp_port | sip_port) & ~flood
    beside = flood & is_udp if sig_port.any() else np.zeros(len(flows), bool)
    if not inside.any() and not beside.any():
        return none  # (the common case: no stream's session in the capture, nothing more to read)
    # a stream is a few long flows between two hosts, not thousands of short ones: a pair of hosts
    # with more flows called DoS or DDoS (any protocol) is a flood of many flows
    from forensics.toolittle import flood_pair_counts

    few = flood & (flood_pair_counts(flows, flood) <= MAX_STREAM_FLOWS)
    found = [_interleaved(flows, cat, np.flatnonzero(few & inside))]
    cand = np.flatnonzero(few & beside)  # (the streams' verdicts)
    if len(cand):
        found += _requested(flows, cat, cand, sig_port, is_tcp, is_udp, rtsp_port)
    found = [f for f in found if len(f)]
    if not found:
        return none
    # (one evidence per flow: the first found)
    out = pd.concat(found, ignore_index=True).drop_duplicates("row").sort_values("row", kind="stable")
    return out["row"].to_numpy(dtype=np.int64), out["evidence"].to_numpy(dtype=object)


def _requested(flows: pd.DataFrame, cat: np.ndarray, cand: np.ndarray, sig_port: np.ndarray, is_tcp: np.ndarray,
               is_udp: np.ndarray, rtsp_port: np.ndarray) -> list[pd.DataFrame]:
    """``row``/``evidence`` frames of the UDP flows ``cand`` that a session beside them asked for:
    RTSP (the TCP flows ``sig_port`` on an RTSP port) or SIP (the other ``sig_port`` flows)."""
    # RTSP sessions: TCP, the client's and the server's packets counted by the end the port is on
    tcp = np.flatnonzero(sig_port & is_tcp & rtsp_port)
    rtsp = _sessions(flows, tcp, RTSP_PORTS)
    if len(rtsp):
        # (the packets each end sent over all its sessions with the other: a keep-alive connection counts too)
        sa, da = _str(flows, "saddr", tcp), _str(flows, "daddr", tcp)
        sp, dp = _str(flows, "sport", tcp), _str(flows, "dport", tcp)
        spk, dpk = _num(flows, "spkts", tcp), _num(flows, "dpkts", tcp)
        on_d = np.isin(dp, RTSP_PORTS)
        on_s = np.isin(sp, RTSP_PORTS) & ~on_d
        m = on_d | on_s
        per = pd.DataFrame({"server": np.where(on_d, da, sa)[m], "client": np.where(on_d, sa, da)[m],
                            "from_client": np.where(on_d, spk, dpk)[m], "from_server": np.where(on_d, dpk, spk)[m]})
        per = per.groupby(["server", "client"], sort=False, as_index=False)[["from_client", "from_server"]].sum()
        rtsp = rtsp.merge(per, on=["server", "client"])
        rtsp = rtsp[(rtsp["from_client"] >= MIN_CLIENT_PACKETS) & (rtsp["from_server"] >= MIN_SERVER_PACKETS)]
    # SIP: UDP or TCP, packets both ways, either end may have called
    sig = np.flatnonzero(sig_port & (is_tcp | is_udp))
    two_way = (_num(flows, "spkts", sig) >= MIN_SIP_PACKETS) & (_num(flows, "dpkts", sig) >= MIN_SIP_PACKETS)
    sip = _sessions(flows, sig[two_way], SIP_PORTS)
    c = pd.DataFrame({"row": cand, "a": _str(flows, "saddr", cand), "b": _str(flows, "daddr", cand),
                      "end": np.fmax(_num(flows, "ltime", cand), _num(flows, "stime", cand)),
                      "from_a": _num(flows, "spkts", cand), "from_b": _num(flows, "dpkts", cand)})
    found = []
    if len(rtsp):
        r = rtsp[["server", "client", "port", "start"]]
        for server, client, from_server, from_client in (("a", "b", "from_a", "from_b"), ("b", "a", "from_b", "from_a")):
            m = c.merge(r, left_on=[server, client], right_on=["server", "client"])
            m = m[(m["start"] <= m["end"]) & (m[from_server] >= m[from_client])]
            found.append(pd.DataFrame({"row": m["row"].to_numpy(), "evidence": [
                RTSP_EVIDENCE.format(cat=cat[i], server=sv, client=cl, port=p, t=_when(t))
                for i, sv, cl, p, t in zip(m["row"], m["server"], m["client"], m["port"], m["start"])]}))
    if len(sip):
        lo, hi = np.minimum(c["from_a"], c["from_b"]), np.maximum(c["from_a"], c["from_b"])
        call = c[(lo > 0) & (lo >= MIN_CALL_SHARE * hi)]
        for x, y in (("server", "client"), ("client", "server")):  # (either end may be the one on the SIP port)
            m = call.merge(sip, left_on=["a", "b"], right_on=[x, y])
            m = m[m["start"] <= m["end"]]
            found.append(pd.DataFrame({"row": m["row"].to_numpy(), "evidence": [
                SIP_EVIDENCE.format(cat=cat[i], a=a, b=b, sa=cl, sb=sv, port=p, t=_when(t))
                for i, a, b, cl, sv, p, t in zip(m["row"], m["a"], m["b"], m["client"], m["server"], m["port"],
                                                  m["start"])]}))
    return found


def count(evidence) -> int:
    """How many flows of an evidence column (strings or a categorical) this step turned Normal."""
    from forensics.toolittle import count_evidence

    return count_evidence(evidence, lambda text: text.str.startswith("called ") & np.logical_or.reduce(
        [text.str.contains(m, regex=False) for m in _MARKS]))


def refine(flows: pd.DataFrame, p_cat: np.ndarray, p_sub: np.ndarray, categories, subcategories,
           allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(p_cat', p_sub', rows, evidence)``: per-flow probabilities with the flows of
    :func:`media_streams` turned Normal (the flow keeps the model's confidence)."""
    from forensics.arp import swap_in, top_names

    if not len(p_cat):
        return p_cat, p_sub, np.zeros(0, np.int64), np.zeros(0, object)
    cat, _ = top_names(p_cat, p_sub, categories, subcategories, allowed)
    rows, evidence = media_streams(flows, cat)
    if not len(rows):
        return p_cat, p_sub, rows, evidence
    normal = np.full(len(rows), "Normal", dtype=object)
    p_cat, p_sub = swap_in(p_cat, p_sub, rows, normal, normal, categories, subcategories, allowed)
    return p_cat, p_sub, rows, evidence
