"""Unit tests of the flow model (forensics.flows) on hand-built packet tables and generated captures."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import flowgen  # noqa: E402

from forensics.features import extract_flows, features_from_table  # noqa: E402
from forensics.flows import flows_from_table  # noqa: E402
from forensics.packets import PacketTable, str_to_addr  # noqa: E402

GOLDEN = Path(__file__).parent / "golden" / "flows"
T0 = 1_700_000_000


def table(rows):
    """rows: (t_seconds, src, sport, dst, dport, proto, flags, wirelen[, icmp_type, icmp_id[, icmp_seq]])"""
    t = PacketTable.empty(len(rows))
    c = t.columns
    for i, r in enumerate(rows):
        ts, s, sp, d, dp, proto, fl, ln = r[:8]
        c["index"][i] = i
        c["ts_ns"][i] = T0 * 1_000_000_000 + int(round(ts * 1e6)) * 1000
        c["wirelen"][i] = c["caplen"][i] = ln
        c["linktype"][i] = 1
        c["ethertype"][i] = 0x0800
        c["ip_version"][i] = 4
        c["proto"][i] = proto
        c["src_hi"][i], c["src_lo"][i] = str_to_addr(s)
        c["dst_hi"][i], c["dst_lo"][i] = str_to_addr(d)
        c["sport"][i], c["dport"][i], c["tcp_flags"][i] = sp, dp, fl
        c["icmp_type"][i] = c["icmp_code"][i] = c["q_proto"][i] = c["udp_head"][i] = -1
        if proto == 1:
            c["icmp_type"][i], c["icmp_code"][i], c["icmp_id"][i] = r[8], 0, r[9]
            c["icmp_seq"][i] = r[10] if len(r) > 10 else 0
            c["sport"][i], c["dport"][i] = r[8], 0
    return t


def test_tcp_handshake_fin_one_row():
    S, A, F = 2, 16, 1
    rows = [(0, "10.0.0.1", 4000, "10.0.0.2", 80, 6, S, 60), (0.1, "10.0.0.2", 80, "10.0.0.1", 4000, 6, S | A, 60),
            (0.2, "10.0.0.1", 4000, "10.0.0.2", 80, 6, A, 54), (0.3, "10.0.0.1", 4000, "10.0.0.2", 80, 6, F | A, 54),
            (0.4, "10.0.0.2", 80, "10.0.0.1", 4000, 6, F | A, 54)]
    df = flows_from_table(table(rows))
    assert len(df) == 1
    r = df.iloc[0]
    assert (r.saddr, r.sport, r.daddr, r.dport, r.proto, r.state) == ("10.0.0.1", "4000", "10.0.0.2", "80", "tcp", "FIN")
    assert (r.pkts, r.spkts, r.dpkts, r.bytes, r.sbytes, r.dbytes) == (5, 3, 2, 282, 168, 114)
    assert r.dur == pytest.approx(0.4)
    assert r["sum"] == r["min"] == r["max"] == pytest.approx(0.4)
    assert r["mean"] == pytest.approx(0.4, rel=1e-6)  # racluster's float32 running sum / n
    assert r.stddev == 0
    assert r.rate == pytest.approx(4 / 0.4)


def test_status_records_every_5s_merge_like_racluster():
    # one UDP packet a second for 32 s: Argus writes records [0-4],[5-9],...,[30-32]
    rows = [(i, "10.0.0.1", 5000, "10.0.0.2", 6000, 17, 0, 50) for i in range(33)]
    r = flows_from_table(table(rows)).iloc[0]
    durs = np.array([4, 4, 4, 4, 4, 4, 2], dtype=float)
    assert r["sum"] == pytest.approx(durs.sum())
    assert r["mean"] == pytest.approx(durs.mean())
    assert r["stddev"] == pytest.approx(durs.std())
    assert (r["min"], r["max"]) == (2, 4)
    assert r.state == "INT" and r.dur == 32


def test_udp_states_and_direction():
    rows = [(0, "10.0.0.9", 1234, "10.0.0.2", 161, 17, 0, 80), (0.5, "10.0.0.2", 161, "10.0.0.9", 1234, 17, 0, 90),
            (1, "10.0.0.3", 9, "10.0.0.4", 9, 17, 0, 60)]
    df = flows_from_table(table(rows)).set_index("saddr")
    assert df.loc["10.0.0.9", "state"] == "CON" and df.loc["10.0.0.9", "dpkts"] == 1
    assert df.loc["10.0.0.3", "state"] == "INT"


def test_tcp_states():
    S, A, R = 2, 16, 4
    rows = [(0, "1.1.1.1", 1000, "2.2.2.2", 22, 6, S, 60),  # REQ
            (1, "1.1.1.1", 1001, "2.2.2.2", 22, 6, S, 60), (1.1, "2.2.2.2", 22, "1.1.1.1", 1001, 6, S | A, 60),  # ACC
            (2, "1.1.1.1", 1002, "2.2.2.2", 22, 6, S, 60), (2.1, "2.2.2.2", 22, "1.1.1.1", 1002, 6, R | A, 60),  # RST
            (3, "2.2.2.2", 443, "1.1.1.1", 50000, 6, A, 60)]  # mid-stream from the server port: reversed, CON
    df = flows_from_table(table(rows)).set_index("sport")
    assert df.loc["1000", "state"] == "REQ"
    assert df.loc["1001", "state"] == "ACC"
    assert df.loc["1002", "state"] == "RST"
    assert df.loc["50000", "state"] == "CON" and df.loc["50000", "saddr"] == "1.1.1.1"


def test_direction_of_synack_and_midstream_flows(tmp_path):
    """Argus's source (measured, see ``flowgen.sc_directions``): a SYN/ACK answered by a RST keeps
    its sender; a mid-stream ACK from a service port (60177 ``tfido``) to a non-service port is
    reversed even though its port is the higher one; from a non-service port it is not.  Whole
    and chunked alike."""
    S, A, R = 2, 16, 4
    rows = [(0, "1.1.1.1", 40000, "2.2.2.2", 9546, 6, S | A, 60), (0.001, "2.2.2.2", 9546, "1.1.1.1", 40000, 6, R, 60),
            (1, "1.1.1.1", 40001, "2.2.2.3", 9546, 6, S | A, 60),  # lone SYN/ACK
            (2, "1.1.1.1", 60177, "2.2.2.4", 20203, 6, A, 60), (2.001, "2.2.2.4", 20203, "1.1.1.1", 60177, 6, R, 60),
            (3, "1.1.1.1", 61000, "2.2.2.5", 20203, 6, A, 60), (3.001, "2.2.2.5", 20203, "1.1.1.1", 61000, 6, R, 60)]
    df = flows_from_table(table(rows)).set_index("daddr")
    assert df.loc["2.2.2.2", ["saddr", "sport", "state", "spkts", "dpkts"]].tolist() == ["1.1.1.1", "40000", "RST", 1, 1]
    assert df.loc["2.2.2.3", ["saddr", "state", "spkts", "dpkts"]].tolist() == ["1.1.1.1", "ACC", 1, 0]
    assert df.loc["1.1.1.1", ["saddr", "sport", "dport"]].tolist() == ["2.2.2.4", "20203", "60177"]
    assert df.loc["2.2.2.5", ["saddr", "sport"]].tolist() == ["1.1.1.1", "61000"]
    cap = flowgen.write_pcap(tmp_path / "directions.pcap", flowgen.sc_directions())
    whole, _ = extract_flows(cap, chunk_packets=10_000_000)
    for chunk in (1, 3, 7):
        pd.testing.assert_frame_equal(whole, extract_flows(cap, chunk_packets=chunk)[0])
    assert (whole.saddr == "10.0.2.1").sum() == 28  # 9 SYN/ACK flows, 7 of the 16 ACK probes, 12 FIN flows (as racluster)


def test_lone_destination_packet_spans_its_record_within_one_second(tmp_path):
    """drate of flowgen.sc_dst_span as racluster prints it (argus 3.0.8, 2026-11-28): a record's lone
    reply beside two or more source packets spans the record when it starts and ends in the same
    second, else it sits at the record start; beside one source packet, at the record end."""
    cap = flowgen.write_pcap(tmp_path / "span.pcap", flowgen.sc_dst_span())
    got = extract_flows(cap)[0].set_index("sport")["drate"]
    ref = {"51001": 0.0, "51002": 0.0, "51004": 0.107527, "51012": 0.109890, "41006": 0.092593,
           "41004": 0.181818, "51003": 0.092593, "51011": 0.091743, "41001": 0.099502, "41005": 0.099502,
           "41002": 0.096154, "41003": 0.096154, "41011": 0.0, "41000": 0.099256}
    assert len(got) == len(ref)
    for port, want in ref.items():
        assert got[port] == pytest.approx(want, abs=1e-6), port


@pytest.mark.parametrize("chunk", [1_000_000, 2])
def test_clock_in_the_first_second_and_early_replies(tmp_path, chunk):
    """Start, end and duration of flowgen.sc_clock_zero's rows as racluster prints them (argus
    3.0.8, 2026-11-28): a row stamped in the epoch's first second has no time (4026531839 both
    ways, 0 one way), a record prints from its first packet stamped later, a SYN/ACK stamped in an
    earlier second than its SYN starts the record (21 years early: duration 668322432 s)."""
    cap = flowgen.write_pcap(tmp_path / "zero.pcap", flowgen.sc_clock_zero())
    df = extract_flows(cap, chunk_packets=chunk)[0].set_index("sport")
    ref = {"44001": (4026531839.0, 4026531839.0, 0.0), "44004": (4026531839.0, 4026531839.0, 0.0),
           "44005": (0.0, 0.0, 0.0), "44013": (0.0, 0.0, 0.0), "44002": (1.5, 2.0, 0.5), "44003": (1.1, 1.3, 0.2),
           "44007": (3.0, 7.0, 0.9), "44010": (1.2, 1.3, 0.1), "44019": (1.2, 1.4, 0.2)}
    for port, (st, lt, mean) in ref.items():
        r = df.loc[port]
        assert (r["stime"], r["ltime"], r["mean"]) == pytest.approx((st, lt, mean), abs=1e-6), port
        assert r["dur"] == pytest.approx(lt - st, abs=1e-6), port
    early = df.loc["43001"]
    assert early["mean"] == pytest.approx(668322432.0, abs=1.0)  # float32, as racluster (0.003 before)
    assert early["pkts"] == 5 and early["state"] == "CON"


def test_ipv4_non_first_tcp_fragments_leave_the_state(tmp_path):
    """flowgen.sc_frag4_state as racluster prints it (argus 3.0.8, 2026-11-28): a fragmented SYN
    stays REQ, a fragmented SYN/ACK answer ACC, fragments without flags INT (all CON before)."""
    cap = flowgen.write_pcap(tmp_path / "f4.pcap", flowgen.sc_frag4_state())
    got = extract_flows(cap)[0].set_index("sport")["state"].to_dict()
    assert got == {"47001": "REQ", "0": "INT", "47003": "CON", "47004": "ACC", "47005": "FIN", "80": "ACC"}


@pytest.mark.parametrize("chunk", [1_000_000, 1])
def test_ipv4_mapped_ipv6_addresses_stay_ipv6(tmp_path, chunk):
    """flowgen.sc_v4mapped as racluster prints it (argus 3.0.8, 2026-11-28): ::ffff:a.b.c.d in an
    IPv6 header is its own key and prints as IPv6 (it merged into the IPv4 rows before)."""
    cap = flowgen.write_pcap(tmp_path / "m.pcap", flowgen.sc_v4mapped())
    df = extract_flows(cap, chunk_packets=chunk)[0]
    got = {(r.proto, r.saddr, r.sport, r.daddr, r.dport): r.pkts for r in df.itertuples()}
    assert got == {("tcp", "5.6.7.8", "6666", "1.2.3.4", "63"): 12,
                   ("tcp", "::ffff:5.6.7.8", "6666", "::ffff:1.2.3.4", "63"): 2,
                   ("udp", "::ffff:5.6.7.8", "5000", "2001:db8::1", "53"): 2,
                   ("ipv6-icmp", "::ffff:1.2.3.4", "128", "::ffff:5.6.7.8", "0"): 1,
                   ("udp", "::ffff:0.0.0.0", "68", "::ffff:255.255.255.255", "67"): 1}


def test_midstream_reversed_flow_records_keep_argus_source(tmp_path):
    """flowgen.sc_midstream_records as racluster prints it (argus 3.0.8, 2026-11-28): the records of
    a flow reversed by the mid-stream port rule start, and span their directions, from the first
    packet's sender's side (mean, srate, drate)."""
    cap = flowgen.write_pcap(tmp_path / "mr.pcap", flowgen.sc_midstream_records())
    df = extract_flows(cap)[0].set_index("sport")
    ref = {"48001": (0.0002, 0.164485, 0.164474), "48002": (0.3502, 0.149263, 0.166667),
           "48003": (0.0252, 0.165300, 0.166667), "48004": (0.0252, 0.166667, 0.165300),
           "48005": (0.0002, 0.327890, 0.163934)}
    for port, want in ref.items():
        assert tuple(df.loc[port, ["mean", "srate", "drate"]]) == pytest.approx(want, abs=2e-6), port


def test_synack_first_flows_reversed_at_their_trigger(tmp_path):
    """Argus (measured, ``flowgen.sc_synack``) reverses a SYN/ACK-first flow at its first ACK or
    FIN (no RST before), from the record holding it on: within the first 5 s the whole flow,
    later only the records from there (the first stays ACC, the rest is CLO).  The open record
    of a flow still waiting is held back between chunks, so chunks of 1, 2, 3 or 7 packets
    give the whole file's rows."""
    S, A, R = 2, 16, 4
    rows = [(0, "1.1.1.1", 80, "2.2.2.2", 40000, 6, S | A, 60), (1, "2.2.2.2", 40000, "1.1.1.1", 80, 6, A, 60),
            (10, "1.1.1.1", 80, "2.2.2.3", 40001, 6, S | A, 60), (15.5, "2.2.2.3", 40001, "1.1.1.1", 80, 6, A, 60),
            (20, "1.1.1.1", 80, "2.2.2.4", 40002, 6, S | A, 60), (20.1, "2.2.2.4", 40002, "1.1.1.1", 80, 6, R, 60),
            (20.2, "2.2.2.4", 40002, "1.1.1.1", 80, 6, A, 60),
            (30, "1.1.1.1", 80, "2.2.2.5", 40003, 6, S | A, 60), (31, "1.1.1.1", 80, "2.2.2.5", 40003, 6, S | A, 60)]
    for chunk in (100, 1, 2):
        df = extract_flows_of_table(table(rows), chunk)
        got = {(r.saddr, r.daddr): (r.state, r.spkts, r.dpkts) for r in df.itertuples()}
        assert got == {("2.2.2.2", "1.1.1.1"): ("CLO", 1, 1),  # reversed as a whole
                       ("1.1.1.1", "2.2.2.3"): ("ACC", 1, 0), ("2.2.2.3", "1.1.1.1"): ("CLO", 1, 0),  # from 5.5 s on
                       ("1.1.1.1", "2.2.2.4"): ("RST", 1, 2),  # a RST first: kept
                       ("1.1.1.1", "2.2.2.5"): ("ACC", 2, 0)}, chunk  # two SYN/ACKs: kept
    # the one-way halves of an IPv6 self flow (::1 <-> ::1) keep their sender (corpus
    # mqtt31-unsub-userpass, measured: the half that begins with the SYN/ACK is not reversed)
    t6 = table([(0, "::1", 38280, "::1", 1883, 6, S, 74), (0.0001, "::1", 1883, "::1", 38280, 6, S | A, 74),
                (0.0002, "::1", 38280, "::1", 1883, 6, A, 66), (0.0003, "::1", 1883, "::1", 38280, 6, A, 66)])
    t6.columns["ip_version"][:] = 6
    got = {(r.sport, r.dport): (r.spkts, r.dpkts) for r in flows_from_table(t6).itertuples()}
    assert got == {("38280", "1883"): (2, 0), ("1883", "38280"): (2, 0)}
    cap = flowgen.write_pcap(tmp_path / "synack.pcap", flowgen.sc_synack())
    whole, _ = extract_flows(cap, chunk_packets=10_000_000)
    for chunk in (1, 2, 3, 7):
        pd.testing.assert_frame_equal(whole, extract_flows(cap, chunk_packets=chunk)[0])


def extract_flows_of_table(t, chunk):
    """Rows of a packet table fed to a FlowBuilder ``chunk`` packets at a time."""
    from forensics.flows import FlowBuilder

    b = FlowBuilder()
    parts = [b.add(t.take(slice(i, i + chunk))) for i in range(0, len(t), chunk)]
    parts.append(b.finish())
    return pd.concat([p for p in parts if len(p)], ignore_index=True)


def test_icmp_echo_rows():
    rows = [(0, "1.1.1.1", 0, "2.2.2.2", 0, 1, 0, 98, 8, 77, 1), (0.001, "2.2.2.2", 0, "1.1.1.1", 0, 1, 0, 98, 0, 77, 1),
            (1, "1.1.1.1", 0, "2.2.2.2", 0, 1, 0, 98, 8, 77, 2), (1.001, "2.2.2.2", 0, "1.1.1.1", 0, 1, 0, 98, 0, 77, 2)]
    r = flows_from_table(table(rows)).iloc[0]
    assert (r.sport, r.dport, r.state, r.pkts, r.spkts) == ("0x0008", "0x4d00", "ECO", 4, 2)
    assert r["sum"] == pytest.approx(0.002) and r["mean"] == pytest.approx(0.001)


def test_icmp_echo_keyed_by_sequence():
    """Argus: one flow per echo sequence number (a retransmitted request joins its first copy;
    interleaved echoes stay apart); a reply seen alone is its own ECR row; racluster merges per id."""
    rows = [(0, "1.1.1.1", 0, "2.2.2.2", 0, 1, 0, 98, 8, 5, 1), (1, "1.1.1.1", 0, "2.2.2.2", 0, 1, 0, 98, 8, 5, 1),
            (1.5, "2.2.2.2", 0, "1.1.1.1", 0, 1, 0, 98, 0, 5, 1),
            (2, "1.1.1.1", 0, "2.2.2.2", 0, 1, 0, 98, 8, 5, 2), (2.1, "1.1.1.1", 0, "2.2.2.2", 0, 1, 0, 98, 8, 5, 3),
            (2.2, "2.2.2.2", 0, "1.1.1.1", 0, 1, 0, 98, 0, 5, 2), (2.3, "2.2.2.2", 0, "1.1.1.1", 0, 1, 0, 98, 0, 5, 3),
            (3, "2.2.2.2", 0, "1.1.1.1", 0, 1, 0, 98, 0, 5, 9)]
    df = flows_from_table(table(rows)).set_index("sport")
    eco, ecr = df.loc["0x0008"], df.loc["0x0000"]
    assert (eco.state, eco.pkts, eco.spkts, eco.saddr) == ("ECO", 7, 4, "1.1.1.1")
    assert eco["sum"] == pytest.approx(1.9) and eco["min"] == pytest.approx(0.2) and eco["max"] == pytest.approx(1.5)
    assert (ecr.state, ecr.pkts, ecr.dpkts, ecr.saddr) == ("ECR", 1, 1, "1.1.1.1")


def test_dns_keyed_by_transaction_id():
    """UDP port 53: one Argus flow per DNS id; an answer whose id matches no query is its own
    flow, oriented from the server (measured)."""
    rows = [(0, "10.0.5.2", 41001, "10.0.5.8", 53, 17, 0, 60), (0.01, "10.0.5.8", 53, "10.0.5.2", 41001, 17, 0, 90)]
    t = table(rows)
    t.columns["udp_head"][:] = [7, 8]
    df = flows_from_table(t)
    assert sorted(zip(df.saddr, df.sport, df.pkts)) == [("10.0.5.2", "41001", 1), ("10.0.5.8", "53", 1)]
    t.columns["udp_head"][:] = [7, 7]
    df = flows_from_table(t)
    assert list(zip(df.saddr, df.state, df.pkts)) == [("10.0.5.2", "CON", 2)]


def test_empty_table():
    df = features_from_table(PacketTable.empty(0))
    assert len(df) == 0 and "pkSeqID" in df.columns


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    return flowgen.write_all(tmp_path_factory.mktemp("gen"))


@pytest.mark.parametrize("chunk", [pytest.param(1, marks=pytest.mark.slow), pytest.param(7, marks=pytest.mark.slow),
                                   137, 1000])
def test_chunked_equals_whole(generated, chunk):
    for name in ("mixed", "tcp_long", "udp", "icmp"):
        whole, _ = extract_flows(generated[name], chunk_packets=10_000_000)
        part, _ = extract_flows(generated[name], chunk_packets=chunk)
        pd.testing.assert_frame_equal(whole, part)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 50])
def test_chunked_equals_whole_sub_flows(tmp_path, chunk):
    """Interleaved DNS ids / echo sequences and ICMP errors mapped onto their quoted flow:
    several Argus flows of one key stay open across chunk boundaries."""
    import pcapgen

    cap = flowgen.write_pcap(tmp_path / "keys.pcap", pcapgen.flow_keys_packets())
    whole, _ = extract_flows(cap, chunk_packets=10_000_000)
    part, _ = extract_flows(cap, chunk_packets=chunk)
    pd.testing.assert_frame_equal(whole, part)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7])
def test_chunked_equals_whole_evening_rules(tmp_path, chunk):
    """The rules of 2026-11-27 evening (non-IP frames keyed by MAC, IPv6 non-first fragments,
    cut transport headers, ESP by SPI) give the same rows in any chunking."""
    for name, fn in (("l2", flowgen.sc_l2), ("frag6", flowgen.sc_frag6), ("truncated", flowgen.sc_truncated),
                     ("esp", flowgen.sc_esp), ("dst_span", flowgen.sc_dst_span),
                     ("record_start", flowgen.sc_record_start), ("clock_back", flowgen.sc_clock_back),
                     ("clock_zero", flowgen.sc_clock_zero), ("frag4_state", flowgen.sc_frag4_state),
                     ("midstream_records", flowgen.sc_midstream_records)):
        cap = flowgen.write_pcap(tmp_path / f"{name}.pcap", fn())
        whole, _ = extract_flows(cap, chunk_packets=10_000_000)
        part, _ = extract_flows(cap, chunk_packets=chunk)
        pd.testing.assert_frame_equal(whole, part, obj=f"{name} in chunks of {chunk}")


def test_streaming_state_stays_consistent(generated):
    """The state carried between chunks: accumulator rows sorted by row id, key table sorted
    by key id, one open-record start per marker, every marker's key and row still active;
    finished keys leave every structure together.  (The horizon stays above the longest
    status interval + timeout, 65 s: an older epoch's flow is then never still open.)"""
    from forensics.decode import stream_packets
    from forensics.flows import FlowBuilder, _carry_rid

    for name in ("mixed", "tcp_long", "udp", "icmp"):
        b = FlowBuilder(merge_horizon_s=66.0)  # (shorter than the default: keys finish between chunks)
        rows = 0
        for t in stream_packets(generated[name], chunk_packets=61):
            rows += len(b.add(t))
            if b._acc is None:
                continue
            rid, kid = b._acc.rid, b._keys["kid"]
            assert (np.diff(rid) > 0).all() and (np.diff(kid) > 0).all()
            assert all(len(v) == len(rid) for v in b._acc.cols.values())
            srid = b._acc.srid  # (statistics rows: a sorted subset of the rows)
            assert (np.diff(srid) > 0).all() and np.isin(srid, rid).all()
            assert all(len(v) == len(srid) for v in b._acc.scols.values())
            assert all(len(v) == len(kid) for k, v in b._keys.items())
            assert len(b._ostart) == len(b._carry["ts"])
            assert np.isin(b._carry["m_kid"], kid).all()
            assert np.isin(_carry_rid(b._carry), rid).all()
            assert np.isin(b._acc.kid(), kid).all()
        rows += sum(len(r) for r in b.finish_batches())
        assert rows == len(flows_from_table_of(generated[name], merge_horizon_s=66.0))


def flows_from_table_of(path, **kw):
    from forensics.decode import stream_packets

    tables = list(stream_packets(path, chunk_packets=10_000_000))
    return flows_from_table(tables[0], **kw)


def test_merge_horizon_below_status_interval_plus_timeout_is_refused():
    from forensics.flows import FlowBuilder

    FlowBuilder(merge_horizon_s=66.0)
    with pytest.raises(ValueError, match="65 s"):
        FlowBuilder(merge_horizon_s=60.0)


def test_row_store_merges_in_place():
    from forensics.flows import _RowStore

    s = _RowStore()
    agg = {c: np.array(v) for c, v in {
        "stime": [10, 20], "ltime": [15, 25], "pkts": [2, 1], "bytes": [100, 60], "spkts": [1, 1],
        "sbytes": [60, 60], "flags": [2, 16], "nonsyn": [0, 1], "epoch": [0, 0], "seq": [1, 2], "gidx": [0, 1],
        "itype": [-1, -1], "icode": [-1, -1], "eth": [1, 1], "first_flags": [2, 16], "umap": [0, 0]}.items()}
    s.merge_packets(np.array([3 << 24, 5 << 24]), agg)
    more = {k: v[:1].copy() for k, v in agg.items()}
    more.update(stime=np.array([5]), ltime=np.array([30]), pkts=np.array([3]), flags=np.array([1]), seq=np.array([9]))
    s.merge_packets(np.array([5 << 24]), more)
    s.merge_packets(np.array([4 << 24]), {k: v[:1] for k, v in agg.items()})
    assert s.rid.tolist() == [3 << 24, 4 << 24, 5 << 24]
    c = s.cols
    assert c["stime"][2] == 5 and c["ltime"][2] == 30 and c["pkts"][2] == 4 and c["flags"][2] == 17
    assert c["seq"][2] == 2 and c["bytes"][2] == 160 and np.isnan(s.take([0, 1, 2])["nrec"]).all()
    assert len(s.srid) == 0  # (no row closed a record: no statistics row)
    s.merge_records(np.array([5 << 24]), {"nrec": np.array([1.0]), "dsum": np.array([4.0]), "dsq": np.array([16.0]),
                                          "dmin": np.array([4.0]), "dmax": np.array([4.0]),
                                          "s_first": np.array([5.0]), "s_last": np.array([9.0]),
                                          "d_first": np.array([np.nan]), "d_last": np.array([np.nan]),
                                          "sn": np.array([1.0]), "smean": np.array([4e-6]),
                                          "ssd": np.array([0.0]), "ssum": np.array([4e-6])})
    t = s.take([0, 1, 2])
    assert t["nrec"].iloc[2] == 1 and t["dsum"].iloc[2] == 4 and np.isnan(t["d_first"].iloc[2])
    assert np.isnan(t["nrec"].iloc[0]) and t["sn"].iloc[0] == 0 and t["smean"].iloc[2] == np.float32(4e-6)
    assert t["smean"].dtype == np.float32 and t["nrec"].dtype == np.float64
    assert s.srid.tolist() == [5 << 24]  # statistics only for the row that closed a record
    s.bump(np.array([3 << 24]), np.array([99]))
    assert c["ltime"][0] == 99 and c["umap"][0] == 1
    s.keep(np.array([True, False, True]))
    assert s.rid.tolist() == [3 << 24, 5 << 24] and s.take([1])["kid"].tolist() == [5]
    assert s.srid.tolist() == [5 << 24] and s.take([1])["nrec"].tolist() == [1.0]
    s.keep(np.array([True, False]))
    assert s.srid.tolist() == [] and all(len(v) == 0 for v in s.scols.values())


def _macs_by_key(df):
    return {(r.proto, r.saddr, r.sport, r.daddr, r.dport): (r.smac, r.dmac) for r in df.itertuples()}


@pytest.mark.parametrize("chunk", [1_000_000, 5])
def test_macs_first_frame_oriented(tmp_path, chunk):
    """smac/dmac as ``argus -m`` + racluster print them (measured; tests/test_argus_diff.py compares
    with argus itself): the first frame's MACs, oriented to the flow, zero-padded, ``Broadcast``."""
    cap = flowgen.write_pcap(tmp_path / "macs.pcap", flowgen.sc_macs())
    df, _ = extract_flows(cap, chunk_packets=chunk)
    got = _macs_by_key(df)
    a, b, x, y = "02:00:00:00:00:0a", "0a:0b:0c:0d:0e:0f", "aa:bb:cc:dd:ee:ff", "12:34:56:78:9a:bc"
    assert got[("udp", "10.0.0.1", "1001", "10.0.0.2", "2001")] == (a, b)  # replies from other MACs
    assert got[("udp", "10.0.0.1", "1003", "10.0.0.2", "2003")] == (a, b)  # later records' MACs ignored
    assert got[("udp", "10.0.0.1", "1004", "10.0.0.255", "2004")] == ("00:00:00:00:00:00", "Broadcast")
    assert got[("udp", "10.0.0.1", "1005", "224.0.0.22", "2005")] == (b, "01:00:5e:00:00:16")
    # first frame a SYN/ACK answered by an ACK: the flow is reversed, its first frame's MACs swapped
    assert got[("tcp", "10.0.0.1", "40000", "10.0.0.2", "80")] == (y, x)
    assert got[("arp", "10.0.0.1", "", "10.0.0.2", "")] == (a, "Broadcast")
    assert got[("udp", "10.0.0.1", "3334", "10.0.0.53", "53")] == (x, y)  # first DNS sub-flow's
    assert got[("udp", "10.0.0.1", "4444", "10.0.0.2", "5555")] == (a, b)  # restarted flow: the first one's


@pytest.mark.parametrize("chunk", [1_000_000, 3])
def test_ipv6_non_first_fragments_keyed_by_identification(tmp_path, chunk):
    """Argus 3.0.8 keys a non-first IPv6 fragment by its fragment identification, not by its
    datagram's flow (measured; tests/test_argus_diff.py compares flowgen.sc_frag6 with argus)."""
    cap = flowgen.write_pcap(tmp_path / "frag6.pcap", flowgen.sc_frag6())
    df, _ = extract_flows(cap, chunk_packets=chunk)
    rows = {(r.proto, r.saddr, r.sport, r.daddr, r.dport): (r.pkts, r.spkts, r.state) for r in df.itertuples()}
    a, b = "2001:db8::1", "2001:db8::2"
    assert rows[("udp", a, "4000", b, "5000")] == (31, 31, "INT")  # first fragments only (31 datagrams)
    assert rows[("udp", a, "8721", b, "17459")] == (2, 2, "INT")  # 0x11223344: ports 0x2211, 0x4433
    # the echo requests' first fragments (3) and the reply; the rest of identification 7 under "type 7"
    assert rows[("ipv6-icmp", a, "128", b, "0")][:2] == (4, 3)
    assert rows[("ipv6-icmp", a, "1", b, "0")] == (2, 2, "URNR")
    assert rows[("ipv6-icmp", a, "7", b, "0")] == (2, 2, "UNK")
    assert rows[("tcp", a, "0", b, "2304")] == (1, 1, "INT")  # TCP, yet connectionless states
    assert rows[("udp", b, "513", a, "0")] == (1, 1, "INT")  # sent by the higher address: swapped
    assert rows[("udp", "2001:db8::1:0", "513", "2001:db8::2", "0")][0] == 1
    assert rows[("udp", "10::1", "0", "2001::1", "513")][0] == 1
    # between equal addresses: swapped too (b3 b2 -> b1 b0 whichever is larger; measured 2026-11-28)
    self_ = extract_flows(flowgen.write_pcap(tmp_path / "self.pcap", flowgen.sc_frag6_self()), chunk_packets=chunk)[0]
    assert {(r.saddr, r.sport, r.dport) for r in self_.itertuples() if r.saddr == "::1"} == {
        ("::1", "17459", "8721"), ("::1", "4386", "13124"), ("::1", "1027", "513"), ("::1", "258", "772"),
        ("::1", "8738", "4369")}


def test_macs_empty_without_ethernet(tmp_path):
    """No MAC in the link layer (raw IP): smac/dmac empty, as argus -m prints them."""
    import pcapgen

    frame = bytes(flowgen.ip4("10.0.0.1", "10.0.0.2", 17, flowgen.dpkt.udp.UDP(sport=1, dport=2, ulen=9, data=b"x")))
    cap = tmp_path / "raw.pcap"
    cap.write_bytes(pcapgen.pcap_bytes([(T0 * 10**9, frame)], linktype=101))
    df, _ = extract_flows(cap)
    assert len(df) == 1 and (df.smac.iloc[0], df.dmac.iloc[0]) == ("", "")


def test_accounting_and_columns(generated):
    from forensics import schema

    df, acct = extract_flows(generated["mixed"])
    assert list(df.columns) == list(schema.COLUMN_NAMES)
    assert acct.packets == df["pkts"].sum()  # every generated packet is IP: all land in a flow
    assert df["pkSeqID"].tolist() == list(range(1, len(df) + 1))


def _golden_text(df: pd.DataFrame) -> str:
    return df.to_csv(index=False, float_format="%.6f", lineterminator="\n")


@pytest.mark.parametrize("name", sorted(flowgen.SCENARIOS))
def test_golden(generated, name):
    """Golden flow files; rebuild with ``python tests/test_flows.py --rebuild-golden``."""
    df, _ = extract_flows(generated[name])
    path = GOLDEN / f"{name}.csv"
    assert path.exists(), f"missing golden file {path} (rebuild with python tests/test_flows.py --rebuild-golden)"
    assert _golden_text(df) == path.read_text()


def test_cli_writes_csv_and_parquet(generated, tmp_path):
    from forensics.cli import main

    out = tmp_path / "f.csv"
    assert main(["flows", str(generated["udp"]), str(generated["icmp"]), "-o", str(out)]) == 0
    a = pd.read_csv(out, keep_default_na=False, dtype={"sport": str, "dport": str})
    assert a["pkSeqID"].is_monotonic_increasing and len(a) > 0
    pq = tmp_path / "f.parquet"
    assert main(["flows", str(generated["udp"]), str(generated["icmp"]), "-o", str(pq)]) == 0
    b = pd.read_parquet(pq)
    assert list(b.columns) == list(a.columns)
    assert b["pkSeqID"].tolist() == a["pkSeqID"].tolist()
    assert b["saddr"].tolist() == a["saddr"].tolist() and b["pkts"].tolist() == a["pkts"].tolist()
    np.testing.assert_allclose(b["dur"].to_numpy(), a["dur"].to_numpy(), rtol=1e-9)


def test_cli_bad_input(tmp_path, capsys):
    from forensics.cli import main

    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture at all")
    assert main(["flows", str(bad), "-o", str(tmp_path / "x.csv")]) == 2
    assert "bad.pcap" in capsys.readouterr().err
    assert main(["flows", str(bad), "-o", str(tmp_path / "x.txt")]) == 2


def test_cli_output_errors_are_one_line_and_never_a_capture_failure(generated, tmp_path, capsys, monkeypatch):
    """An output that names a folder is refused before any work; one that fails while being
    written (a full disk) stops the command with one line naming the output, not the capture."""
    import errno

    from forensics.cli import main
    from forensics.commands import flows as cmd

    (tmp_path / "d.csv").mkdir()
    assert main(["flows", str(generated["udp"]), "-o", str(tmp_path / "d.csv")]) == 2
    assert capsys.readouterr().err.strip() == f"forensics: error: --output {tmp_path / 'd.csv'}: is a folder; give a file name"

    def full(self, df):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cmd._Writer, "_write", full)
    out = tmp_path / "f.csv"
    assert main(["flows", str(generated["udp"]), str(generated["icmp"]), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"forensics: error: --output {out}: cannot write: No space left on device" in err
    assert "Traceback" not in err and "udp" not in err.split("forensics: error:")[1]


def test_cli_truncated_capture_keeps_partial(generated, tmp_path):
    from forensics.cli import main

    data = generated["mixed"].read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) // 2 + 7])
    out = tmp_path / "cut.csv"
    assert main(["flows", str(cut), "-o", str(out)]) == 0
    assert len(pd.read_csv(out)) > 0


if __name__ == "__main__":
    if "--rebuild-golden" in sys.argv:
        import tempfile

        GOLDEN.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as td:
            for name, cap in flowgen.write_all(td).items():
                df, _ = extract_flows(cap)
                (GOLDEN / f"{name}.csv").write_text(_golden_text(df))
                print(GOLDEN / f"{name}.csv")


@pytest.mark.parametrize("chunk", [1_000_000, 2])
def test_non_ip_frames_keyed_by_mac(tmp_path, chunk):
    """Argus 3.0.8 keys a non-IP frame by (Ethernet type, MAC pair), an 802.3 frame by the MAC pair
    (measured; tests/test_argus_diff.py compares flowgen.sc_l2 with argus)."""
    cap = flowgen.write_pcap(tmp_path / "l2.pcap", flowgen.sc_l2())
    df, _ = extract_flows(cap, chunk_packets=chunk)
    rows = {(r.proto, r.saddr, r.sport, r.daddr, r.dport): (r.pkts, r.spkts, r.state) for r in df.itertuples()}
    a, b, c = "02:00:00:00:00:01", "02:00:00:00:00:02", "0a:00:00:00:00:03"
    assert rows[("lldp", "01:80:c2:00:00:0e", "0", a, "0")] == (7, 7, "INT")  # lower MAC printed first
    assert rows[("35075", a, "0", b, "0")] == (3, 2, "CON")
    assert rows[("eapol", b, "0", c, "0")] == (1, 1, "INT")  # sent by c, printed b -> c
    assert rows[("34997", c, "0", "ff:ff:ff:ff:ff:ff", "0")] == (1, 1, "INT")
    assert rows[("well", b, "0", c, "0")] == (1, 1, "INT")  # VLAN-tagged
    assert rows[("llc", a, "240", b, "240")] == (4, 3, "CON")  # SAPs of the first frame, one row
    assert rows[("llc", a, "4", c, "5")] == (1, 1, "INT")
    assert rows[("llc", b, "170", c, "170")] == (2, 2, "INT")  # SNAP frames stay llc
    assert (df.loc[df.saddr.str.count(":") == 5, "flgs"] == "e").all()


def test_truncated_transport_headers_still_make_flows(tmp_path):
    """A header cut by the IP length or the snap length stays undecodable in the accounting and
    is a flow packet with what Argus reads of it (measured; tests/test_argus_diff.py compares
    flowgen.sc_truncated with argus)."""
    cap = flowgen.write_pcap(tmp_path / "trunc.pcap", flowgen.sc_truncated())
    df, acct = extract_flows(cap)
    assert acct.undecodable.get("truncated_transport_header") == 36 and acct.packets == 39  # 3 whole
    rows = {(r.proto, r.saddr, r.sport, r.dport): (r.pkts, r.state) for r in df.itertuples()}
    assert rows[("tcp", "10.8.0.1", "0", "0")] == (1, "INT")  # nothing after the IP header
    assert rows[("tcp", "10.8.0.3", "0", "0")] == (1, "CON")  # flags past the IP length, no ports
    assert rows[("tcp", "10.8.0.14", "0", "0")] == (1, "INT")  # 19 bytes: no flags
    assert rows[("tcp", "10.8.0.10", "0", "0")] == (1, "ACC")
    assert rows[("tcp", "10.8.1.4", "1234", "80")] == (1, "INT")  # cut after 6 bytes: ports, no flags
    assert rows[("udp", "10.8.0.6", "0", "0")] == (1, "INT") and rows[("udp", "10.8.1.3", "5000", "53")][0] == 1
    assert rows[("icmp", "10.8.1.8", "0x0008", "0x3412")] == (1, "ECO")  # identifier from 6 bytes
    assert rows[("tcp", "10.8.2.1", "40000", "80")] == (12, "CON")
    assert rows[("udp", "2001:db8::5", "5000", "53")] == (1, "INT")  # IPv6: ports from 4 captured bytes
    assert rows[("tcp", "2001:db8::6", "1234", "80")] == (1, "INT")
    assert not df.saddr.isin(["2001:db8::1", "2001:db8::3", "2001:db8::4"]).any()  # cut ICMPv6: no flow
    assert len(df) == 25


def test_carried_columns_are_narrowed_losslessly():
    """Key-table and marker columns are kept in the smallest integer type of their kind that holds
    their values, and widen again (within the kind) when a wider value joins them."""
    from forensics.flows import _cat_narrow, _narrow

    assert _narrow(np.array([0, 0], dtype=np.uint64)).dtype == np.uint8
    assert _narrow(np.array([-1, 300], dtype=np.int64)).dtype == np.int16
    assert _narrow(np.array([1 << 40], dtype=np.int64)).dtype == np.int64
    assert _narrow(np.array([2**32 - 1], dtype=np.uint64)).dtype == np.uint32
    assert _narrow(np.zeros(0, dtype=np.int64)).dtype == np.int64
    assert _narrow(np.array([0.5])).dtype == np.float64
    big = np.array([2**63 + 5], dtype=np.uint64)
    out = _cat_narrow(np.zeros(3, dtype=np.uint8), big)
    assert out.dtype == np.uint64 and out[-1] == big[0]
    # an old wide part is narrowed again once its values fit
    out = _cat_narrow(np.array([7], dtype=np.int64), _narrow(np.array([1], dtype=np.int64)))
    assert out.dtype == np.int8 and out.tolist() == [7, 1]


@pytest.mark.parametrize("bound", [0, 100_000])
def test_counters_widen_before_they_could_overflow(generated, monkeypatch, bound):
    """The row store's bounded counters (packets, file indices, bytes) are int32 while the capture
    so far could not overflow them, int64 from the chunk on that could (here: a tiny bound, from the
    start, or from a later chunk on: the mixed capture has ~10 kB a chunk of 137 packets); the
    rows are the same either way."""
    import forensics.flows as F
    from forensics.decode import stream_packets

    for name in ("mixed", "udp"):
        narrow, _ = extract_flows(generated[name], chunk_packets=137)
        monkeypatch.setattr(F, "_BOUND", bound)
        wide, _ = extract_flows(generated[name], chunk_packets=137)
        b, seen = F.FlowBuilder(), []
        for t in stream_packets(generated[name], chunk_packets=137):
            b.add(t)
            seen.append(b._acc.cols["pkts"].dtype == np.int64)
        monkeypatch.undo()
        pd.testing.assert_frame_equal(narrow, wide)
        if name == "mixed" or bound == 0:  # (widened from the start, or later; udp is 6 kB)
            assert seen[-1] and (seen[0] == (bound == 0))
    s = F._RowStore()
    assert s.cols["pkts"].dtype == np.int32 and not s.wide
    s.widen()
    assert all(s.cols[c].dtype == np.int64 for c in F._BOUNDED_COLS)
