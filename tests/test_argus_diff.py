"""Differential tests against the reference Argus 3.0.8 (argus + racluster) and Zeek.

Skipped when ``argus``/``racluster`` are not on PATH.  Each test prints the
match rate per capture (run with ``-s`` to see it); README.md (Flows section) reports them.
The floors asserted here are the rates measured when this was written, so a
regression fails; the issue's target is 99 % (see the Flows section of README.md for why some
rows still differ).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import argus_ref  # noqa: E402
import flowgen  # noqa: E402
import pcapgen  # noqa: E402
from conftest import CORPUS, corpus_files  # noqa: E402

needs_argus = pytest.mark.skipif(not argus_ref.have_argus(), reason="argus/racluster not installed")

# measured floors (fraction of racluster rows matched on every compared column)
# gre: flowgen.sc_gre, the GRE variants Argus decapsulates and some it leaves closed (measured 50/50 rows)
# directions: flowgen.sc_directions, who is the source (SYN/ACK answered by RST, ACK floods by port)
# synack: flowgen.sc_synack, SYN/ACK-first flows reversed at a trigger or kept (measured 30 cases + 60
# overlapping random ones); also compared in chunks of 1, 2, 3 and 7 packets
# frag6: flowgen.sc_frag6, IPv6 non-first fragments keyed by their identification as Argus does
# l2: flowgen.sc_l2, non-IP frames keyed by Ethernet type and MAC pair as Argus does
# truncated: flowgen.sc_truncated, transport headers cut by the IP length or the snap length
# esp: flowgen.sc_esp, IPv4 ESP keyed by SPI, one direction per flow
# dst_span: flowgen.sc_dst_span, where a record's lone destination packet sits (same second or not)
# record_start: flowgen.sc_record_start, where a status record opened by the destination starts
# clock_zero: flowgen.sc_clock_zero, packets stamped in the epoch's first second, early destination packets
# frag4_state: flowgen.sc_frag4_state, IPv4 non-first TCP fragments leave the TCP state alone
# frag6_self: flowgen.sc_frag6_self, IPv6 non-first fragments between equal addresses
# v4mapped: flowgen.sc_v4mapped, IPv4-mapped addresses in IPv6 headers stay IPv6
# midstream_records: flowgen.sc_midstream_records, status records of flows reversed mid-stream
GENERATED_FLOOR = {"tcp_basic": 1.0, "frag_arp_v6": 1.0, "udp": 0.88, "icmp": 1.0, "mixed": 1.0, "tcp_long": 1.0,
                   "keys": 1.0, "gre": 1.0, "directions": 1.0, "synack": 1.0, "frag6": 1.0, "l2": 1.0, "truncated": 1.0, "esp": 1.0,
                   "dst_span": 1.0, "record_start": 1.0, "clock_zero": 1.0,
                   "frag4_state": 1.0, "frag6_self": 1.0, "v4mapped": 1.0,
                   "midstream_records": 1.0}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    caps = flowgen.write_all(out)
    caps["keys"] = flowgen.write_pcap(out / "keys.pcap", pcapgen.flow_keys_packets())
    caps["gre"] = flowgen.write_pcap(out / "gre.pcap", flowgen.sc_gre())
    caps["directions"] = flowgen.write_pcap(out / "directions.pcap", flowgen.sc_directions())
    caps["synack"] = flowgen.write_pcap(out / "synack.pcap", flowgen.sc_synack())
    caps["frag6"] = flowgen.write_pcap(out / "frag6.pcap", flowgen.sc_frag6())
    caps["l2"] = flowgen.write_pcap(out / "l2.pcap", flowgen.sc_l2())
    caps["truncated"] = flowgen.write_pcap(out / "truncated.pcap", flowgen.sc_truncated())
    caps["esp"] = flowgen.write_pcap(out / "esp.pcap", flowgen.sc_esp())
    caps["dst_span"] = flowgen.write_pcap(out / "dst_span.pcap", flowgen.sc_dst_span())
    caps["record_start"] = flowgen.write_pcap(out / "record_start.pcap", flowgen.sc_record_start())
    caps["clock_zero"] = flowgen.write_pcap(out / "clock_zero.pcap", flowgen.sc_clock_zero())
    caps["frag4_state"] = flowgen.write_pcap(out / "frag4_state.pcap", flowgen.sc_frag4_state())
    caps["frag6_self"] = flowgen.write_pcap(out / "frag6_self.pcap", flowgen.sc_frag6_self())
    caps["v4mapped"] = flowgen.write_pcap(out / "v4mapped.pcap", flowgen.sc_v4mapped())
    caps["midstream_records"] = flowgen.write_pcap(out / "midstream_records.pcap", flowgen.sc_midstream_records())
    return caps


@needs_argus
@pytest.mark.parametrize("name", sorted(GENERATED_FLOOR))
def test_generated_against_argus(generated, name):
    cap = generated[name]
    res = argus_ref.compare(argus_ref.ours_for(cap), argus_ref.argus_flows(cap))
    print(f"\n{name}: {res['matched']}/{res['ref_rows']} racluster rows matched ({100 * res['rate']:.1f} %), "
          f"{res['stddev_within_1e-6']} with stddev too, missing {res['missing']}, "
          f"differing columns {res['mismatch_by_column']}")
    assert res["ref_rows"] > 0
    assert res["rate"] >= GENERATED_FLOOR[name]
    # stddev too (racluster's float32 fold is modelled): measured on every matched row except 2 udp ones
    # and record_start's 1,971-packet background flow (0.142886 against 0.142907, four records)
    assert res["stddev_within_1e-6"] >= res["matched"] - {"udp": 2, "record_start": 1}.get(name, 0)


@needs_argus
def test_clock_that_goes_back_keeps_the_flow(tmp_path):
    """flowgen.sc_clock_back (a SYN/ACK stamped 21 years, 300 s or 2.5 s early; a UDP packet 3 s
    early): one row per flow as in racluster, with the same keys, counts and states. The three
    TCP rows match on every column since the records print from a destination's first packet
    stamped in an earlier second (2026-11-28, see flowgen.sc_clock_zero); the UDP row's start
    still differs (Argus spans a direction from its first to its last packet, whatever their
    order: not modelled): a packet stamped early used to end the flow instead."""
    cap = flowgen.write_pcap(tmp_path / "clock_back.pcap", flowgen.sc_clock_back())
    res = argus_ref.compare(argus_ref.ours_for(cap), argus_ref.argus_flows(cap))
    assert res["ref_rows"] == res["our_rows"] == 4 and res["missing"] == 0
    assert not set(res["mismatch_by_column"]) & set(argus_ref.EXACT), res["mismatch_by_column"]
    assert res["matched"] == 3, res["bad_rows"].to_string()  # (0 before 2026-11-28)

@needs_argus
def test_macs_against_argus_m(generated, tmp_path):
    """smac/dmac against ``argus -m`` + racluster on every generated capture and on
    ``flowgen.sc_macs`` (first frame's MACs, oriented; sub-flows; restarts; Broadcast; zero
    padding), whole and in small chunks: every racluster row found by key has the same MACs."""
    caps = dict(generated)
    caps["macs"] = flowgen.write_pcap(tmp_path / "macs.pcap", flowgen.sc_macs())
    total = 0
    for name, cap in sorted(caps.items()):
        ref = argus_ref.argus_macs(cap)
        for chunk in (1_000_000, 7):
            res = argus_ref.compare_macs(argus_ref.ours_for(cap, chunk_packets=chunk), ref)
            # rows racluster has and this code keys otherwise: udp's 197 s idle key (merge horizon)
            assert res["ref_rows"] - res["found"] <= {"udp": 1}.get(name, 0), \
                (name, res["found"], res["ref_rows"])
            assert res["equal"] == res["found"], (name, chunk, res["bad_rows"].head().to_string())
        total += res["equal"]
        print(f"\n{name}: {res['equal']}/{res['ref_rows']} racluster rows with equal smac/dmac")
    assert total > 500


def _corpus_sample(n=None, seed=7):
    import os

    n = int(os.environ.get("FORENSICS_ARGUS_SAMPLE", "40")) if n is None else n
    files = [p for p in corpus_files(".pcap", ".pcapng", ".cap") if p.stat().st_size < 200_000]
    random.Random(seed).shuffle(files)
    return files[:n]


@needs_argus
@pytest.mark.corpus
def test_corpus_sample_against_argus(corpus_dir):
    """A seeded sample of corpus captures: overall match rate over all racluster rows."""
    tot_ok, tot_ref = argus_ref.measure(_corpus_sample(), name=lambda c: c.relative_to(corpus_dir))
    rate = tot_ok / max(tot_ref, 1)
    print(f"corpus sample: {tot_ok}/{tot_ref} racluster rows matched ({100 * rate:.2f} %)")
    assert tot_ref > 0
    n = len(_corpus_sample())
    # measured: 82/82 on the default 40-capture sample, 299/303 (98.7 %) on 200 captures (293/303
    # before non-IP frames, IPv6 fragments, truncated headers and ESP were keyed as Argus keys them,
    # 297/303 before the same-second rule for a record's lone reply; 300/303 = 99.0 % since the
    # irregular-clock rules of 2026-11-28, tls_DER-incomplete-content)
    assert rate >= (1.0 if n <= 40 else 0.99)


def _zeek_conns(path: Path) -> pd.DataFrame:
    fields = None
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#") and fields:
            rows.append(dict(zip(fields, line.split("\t"))))
    return pd.DataFrame(rows)


def zeek_agreement(capture: Path, conn_log: Path, open_tunnels: bool = False) -> tuple[int, int]:
    """(agreeing, total) TCP/UDP connections: per 5-tuple packets per direction equal Zeek's.
    ``open_tunnels``: our flows with ``--open-tunnels`` (Zeek's view of tunnels) instead of Argus's."""
    z = _zeek_conns(conn_log)
    if not len(z):
        return 0, 0
    z.columns = [c.replace(".", "_") for c in z.columns]
    if not {"id_orig_h", "id_orig_p", "id_resp_h", "id_resp_p", "orig_pkts", "resp_pkts"} <= set(z.columns):
        return 0, 0  # a baseline written without the packet columns
    z = z[z["proto"].isin(["tcp", "udp"])]
    if not len(z):
        return 0, 0
    ours, _ = __import__("forensics.features", fromlist=["extract_flows"]).extract_flows(capture, open_tunnels=open_tunnels)
    ours = ours[ours["proto"].isin(["tcp", "udp"])]
    tally: dict[tuple, list[int]] = {}
    for r in ours.itertuples(index=False):
        a, b = (r.saddr, str(r.sport)), (r.daddr, str(r.dport))
        key = (r.proto, a, b) if a <= b else (r.proto, b, a)
        t = tally.setdefault(key, [0, 0])
        if a <= b:
            t[0] += r.spkts
            t[1] += r.dpkts
        else:
            t[0] += r.dpkts
            t[1] += r.spkts
    zt: dict[tuple, list[int]] = {}
    for r in z.itertuples(index=False):
        o = (r.id_orig_h, r.id_orig_p)
        p = (r.id_resp_h, r.id_resp_p)
        key = (r.proto, o, p) if o <= p else (r.proto, p, o)
        t = zt.setdefault(key, [0, 0])
        op, rp = int(r.orig_pkts), int(r.resp_pkts)
        if o <= p:
            t[0] += op
            t[1] += rp
        else:
            t[0] += rp
            t[1] += op
    ok = sum(1 for k, v in zt.items() if tally.get(k) == v)
    return ok, len(zt)


@pytest.mark.corpus
def test_zeek_packet_totals(corpus_dir):
    meta = json.loads((CORPUS / "zeek" / "conn-baselines.json").read_text())
    tot_ok = tot = 0
    nt_ok = nt = 0  # excluding tunnel traces (Zeek decapsulates, Argus and we count the outer flow but for GRE)
    op_ok = 0  # with --open-tunnels
    for m in meta:
        cap = CORPUS / "zeek" / m["trace"]
        log = CORPUS / "zeek" / m["conn_log"]
        if not cap.exists() or not log.exists():
            continue
        try:
            ok, n = zeek_agreement(cap, log)
            ok_open, _ = zeek_agreement(cap, log, open_tunnels=True)
        except Exception as exc:  # capture our decoder rejects
            print(f"{m['trace']}: skipped ({type(exc).__name__}: {exc})")
            continue
        tot_ok += ok
        op_ok += ok_open
        tot += n
        if ok_open < n:
            print(f"{m['trace']}: {ok_open}/{n} connections agree with --open-tunnels")
        if "tunnels/" not in m["trace"]:
            nt_ok += ok
            nt += n
        if n and ok < n:
            print(f"{m['trace']}: {ok}/{n} connections agree")
    rate = tot_ok / max(tot, 1)
    print(f"zeek: {tot_ok}/{tot} TCP/UDP connections agree on packets per direction ({100 * rate:.2f} %); "
          f"without tunnels/: {nt_ok}/{nt} ({100 * nt_ok / max(nt, 1):.2f} %); "
          f"with --open-tunnels: {op_ok}/{tot} ({100 * op_ok / max(tot, 1):.2f} %)")
    assert tot > 0
    # measured 413/426 (96.95 %) with --open-tunnels, 2026-11-29; the 13 left: Zeek's own
    # baselines log fewer packets than the traces hold (smtp 2, wikipedia, globus, misordered NTP;
    # 0 packets for 3 VXLAN datagrams with bad checksums and a VN-tag one), Zeek reassembles
    # fragments that Argus counts one by one (gtp1 2, gtp2 1), and an A-MSDU's second subframe
    assert op_ok >= 413
    # measured 355/426 (83.3 %; 343/426 before GRE decapsulation), 300/340 without tunnels/; tunnels
    # Argus does not open (VXLAN, GTP, Teredo, AYIYA, Geneve, IP-in-IPv6) and links it does not open
    # (FabricPath, PBB, VN-tag, PPP) explain most of the rest
    assert rate >= 0.833
