"""Capture framing: formats, byte orders, resolutions, compression, and every kind of bad input."""

from __future__ import annotations

import os
import struct
import subprocess
import sys

import dpkt
import numpy as np
import pytest

from forensics.capture import MAX_CAPLEN, Accounting, frame, sniff
from forensics.decode import read_packets
from forensics.errors import CaptureError
from tests import pcapgen as g
from tests.conftest import ROOT, corpus_files

T0 = 1_700_000_000_123_456_789
FRAME = g.eth(bytes(g._ip4(p=17, data=g.udp())))


def cli(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "forensics", *map(str, args)], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("nanos", [False, True])
def test_pcap_byte_orders_and_resolutions(tmp_path, endian, nanos):
    p = tmp_path / "x.pcap"
    p.write_bytes(g.pcap_bytes([(T0, FRAME), (T0 + 1_500, FRAME)], endian=endian, nanos=nanos))
    res = read_packets(p)
    want = [T0, T0 + 1_500] if nanos else [T0 // 1000 * 1000, (T0 + 1_500) // 1000 * 1000]
    assert res.table.ts_ns.tolist() == want
    assert res.accounting.format == "pcap" and res.accounting.decoded == 2


@pytest.mark.parametrize("endian", ["<", ">"])
def test_pcapng_interfaces_sections_blocks(tmp_path, endian):
    raw_ip = bytes(g._ip4(p=17, data=g.udp()))
    data = b"".join([
        g.pcapng_shb(endian),
        g.pcapng_idb(1, endian),  # iface 0: Ethernet, microseconds
        g.pcapng_idb(101, endian, tsresol=9),  # iface 1: raw IP, nanoseconds
        g.pcapng_epb(0, 1_700_000_000_000_001, FRAME, endian),
        g.pcapng_unknown(endian),
        g.pcapng_epb(1, 1_700_000_000_000_000_002, raw_ip, endian),
        g.pcapng_spb(FRAME, endian),
        g.pcapng_shb(endian),  # second section: interfaces restart
        g.pcapng_idb(113, endian, tsresol=0x83),  # SLL, 1/8 s units
        g.pcapng_epb(0, 8 * 1_700_000_001, struct.pack(">HHH8sH", 0, 1, 6, b"\x00" * 8, 0x0800) + raw_ip, endian),
    ])
    p = tmp_path / "multi.pcapng"
    p.write_bytes(data)
    res = read_packets(p)
    t, acct = res.table, res.accounting
    assert acct.format == "pcapng" and acct.packets == 4 and acct.decoded == 4
    assert t.linktype.tolist() == [1, 101, 1, 113]
    assert t.iface.tolist() == [0, 1, 0, 0]
    assert t.ts_ns.tolist() == [1_700_000_000_000_001_000, 1_700_000_000_000_000_002, 1_700_000_000_000_000_002, 1_700_000_001_000_000_000]
    assert any("unknown type" in w for w in acct.warnings)
    assert any("simple packet" in w for w in acct.warnings)


@pytest.mark.parametrize("how", ["gzip", "bzip2", "xz"])
def test_compressed_recognised_by_content(tmp_path, how):
    # (20 ms apart: 50 equal datagrams nanoseconds apart are a mirror port's copies, and warned about)
    plain = g.pcap_bytes([(T0 + i * 20_000_000, FRAME) for i in range(50)])
    p = tmp_path / "capture.bin"  # the name says nothing
    p.write_bytes(g.compress(plain, how))
    assert sniff(p) == ("pcap", how)
    res = read_packets(p)
    assert res.accounting.compression == how and res.accounting.packets == 50 and not res.accounting.warnings


def test_corrupt_compressed_keeps_what_was_read(tmp_path):
    plain = g.pcap_bytes([(T0 + i, f) for i, f in enumerate(_noisy_frames(20000))])
    blob = bytearray(g.compress(plain, "gzip"))
    blob[len(blob) // 2 : len(blob) // 2 + 64] = b"\xff" * 64
    p = tmp_path / "corrupt.pcap.gz"
    p.write_bytes(bytes(blob))
    res = read_packets(p)
    assert 0 < res.accounting.packets < 20000
    assert any("corrupt" in w for w in res.accounting.warnings)
    assert res.accounting.closes


def _noisy_frames(n):
    rng = np.random.default_rng(3)
    return [g.eth(bytes(g._ip4(p=17, data=g.udp(payload=rng.bytes(200))))) for _ in range(n)]


def test_truncated_compressed_keeps_what_was_read(tmp_path):
    plain = g.pcap_bytes([(T0 + i, f) for i, f in enumerate(_noisy_frames(5000))])
    blob = g.compress(plain, "xz")
    p = tmp_path / "cut.xz"
    p.write_bytes(blob[: len(blob) * 2 // 3])
    res = read_packets(p)
    assert 0 < res.accounting.packets < 5000 and res.accounting.warnings


def test_corrupt_compressed_header_is_an_error(tmp_path):
    p = tmp_path / "bad.gz"
    p.write_bytes(b"\x1f\x8b" + b"\x00" * 40)
    with pytest.raises(CaptureError, match="bad.gz"):
        read_packets(p)


# ------------------------------------------------------------------ bad input, each a test

@pytest.mark.parametrize("content,match", [
    (b"", "empty file"),
    (b"hello world, this is text\n" * 3, "not a pcap or pcapng"),
    (bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)), "not a pcap or pcapng"),
    (b"\xd4\xc3\xb2\xa1\x02\x00", "truncated pcap file header"),
])
def test_not_a_capture(tmp_path, content, match):
    p = tmp_path / "input.pcap"
    p.write_bytes(content)
    with pytest.raises(CaptureError, match=match) as ei:
        read_packets(p)
    assert "\n" not in str(ei.value) and "input.pcap" in str(ei.value)


def test_header_only_is_empty_not_error(tmp_path):
    p = tmp_path / "h.pcap"
    p.write_bytes(g.pcap_bytes([]))
    res = read_packets(p)
    assert res.accounting.packets == 0 and res.accounting.warnings == ["capture holds no packets"]


def test_truncated_record_header(tmp_path):
    p = tmp_path / "t.pcap"
    p.write_bytes(g.pcap_bytes([(T0, FRAME), (T0 + 1, FRAME)])[:-len(FRAME) - 10])
    res = read_packets(p)
    assert res.accounting.packets == 1 and "truncated record header" in res.accounting.warnings[0]


def test_truncated_record_body(tmp_path):
    p = tmp_path / "t.pcap"
    p.write_bytes(g.pcap_bytes([(T0, FRAME), (T0 + 1, FRAME)])[:-5])
    res = read_packets(p)
    assert res.accounting.packets == 1 and "truncated record body" in res.accounting.warnings[0]


def test_huge_caplen_is_not_allocated(tmp_path):
    good = g.pcap_bytes([(T0, FRAME)])
    bogus = struct.pack("<IIII", 1, 0, 0xFFFF_FFF0, 0xFFFF_FFF0) + b"x" * 100
    p = tmp_path / "huge.pcap"
    p.write_bytes(good + bogus)
    res = read_packets(p)
    assert res.accounting.packets == 1
    assert f"> {MAX_CAPLEN}" in res.accounting.warnings[0]


def test_caplen_over_snaplen_warns_but_reads(tmp_path):
    p = tmp_path / "s.pcap"
    p.write_bytes(g.pcap_bytes([(T0, FRAME)], snaplen=20))
    res = read_packets(p)
    assert res.accounting.decoded == 1 and "snapshot length" in res.accounting.warnings[0]


def test_zero_length_records(tmp_path):
    p = tmp_path / "z.pcap"
    p.write_bytes(g.pcap_bytes([(T0, b""), (T0 + 1, FRAME), (T0 + 2, b"")]))
    acct = read_packets(p).accounting
    assert acct.undecodable == {"zero_length": 2} and acct.first_positions["zero_length"] == [0, 2] and acct.closes


def test_unknown_link_type(tmp_path):
    p = tmp_path / "u.pcap"
    p.write_bytes(g.pcap_bytes([(T0, FRAME)] * 3, linktype=147))
    acct = read_packets(p).accounting
    assert acct.undecodable == {"unknown_link_type": 3} and acct.linktypes == {147: 3}
    assert any("link type 147" in w for w in acct.warnings)


def test_pcapng_bad_block_length_keeps_prefix(tmp_path):
    data = g.pcapng_shb() + g.pcapng_idb(1) + g.pcapng_epb(0, 1, FRAME) + struct.pack("<II", 6, 0x7FFF_FFF0) + b"\x00" * 64
    p = tmp_path / "b.pcapng"
    p.write_bytes(data)
    res = read_packets(p)
    assert res.accounting.packets == 1 and "invalid length" in res.accounting.warnings[0]


@pytest.mark.parametrize("tsresol, units", [
    (0, 1 << 40),  # seconds: 2^40 s is some 35,000 years
    (6, (1 << 64) - 1),  # microseconds, every bit set (a flipped byte, in a fuzzed capture)
    (0x80, 1 << 60),  # power-of-two resolution, 2^60 s
])
def test_pcapng_timestamp_beyond_int64_nanoseconds_is_skipped_not_fatal(tmp_path, tsresol, units):
    # found by fuzzing: such a packet block made every scan of the capture fail with
    # "internal error: OverflowError", losing the packets before and after it
    p = tmp_path / "t.pcapng"
    ok = T0 // 1000  # microseconds, on interface 0
    p.write_bytes(b"".join([
        g.pcapng_shb(), g.pcapng_idb(1), g.pcapng_idb(1, tsresol=tsresol),
        g.pcapng_epb(0, ok, FRAME), g.pcapng_epb(1, units, FRAME), g.pcapng_epb(1, units, FRAME),
        g.pcapng_epb(0, ok + 1, FRAME),
    ]))
    res = read_packets(p)
    assert res.table.ts_ns.tolist() == [ok * 1000, (ok + 1) * 1000]
    assert res.accounting.decoded == 2
    [w] = [w for w in res.accounting.warnings if "timestamp" in w]
    assert w.startswith("skipped 2 packet block(s) whose timestamp lies outside 1678-2262")
    run = cli("flows", p, "-o", tmp_path / "f.csv")
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr


def test_directory_and_missing_path(tmp_path):
    with pytest.raises(CaptureError, match="is a directory"):
        read_packets(tmp_path)
    with pytest.raises(CaptureError, match="no such file"):
        read_packets(tmp_path / "nope.pcap")


def test_sha256_is_of_the_stored_file(tmp_path):
    import hashlib

    p = tmp_path / "h.pcap.gz"
    p.write_bytes(g.compress(g.pcap_bytes([(T0, FRAME)] * 10), "gzip"))
    acct = read_packets(p).accounting
    assert acct.sha256 == hashlib.sha256(p.read_bytes()).hexdigest() and acct.size == p.stat().st_size


def test_cli_bad_inputs_one_line_exit_2(tmp_path):
    good = tmp_path / "good.pcap"
    good.write_bytes(g.pcap_bytes([(T0, FRAME)] * 4))
    text = tmp_path / "notes.pcap"
    text.write_text("not a capture\n")
    r = cli("decode", good, text, tmp_path / "missing.pcap", tmp_path)
    assert r.returncode == 2
    err = [l for l in r.stderr.splitlines() if l]
    assert len(err) == 3 and all(l.startswith("forensics: error:") for l in err), r.stderr
    assert "Traceback" not in r.stderr and "good.pcap" in r.stdout


def test_cli_json_accounting(tmp_path):
    good = tmp_path / "good.pcap"
    good.write_bytes(g.pcap_bytes([(T0, FRAME), (T0 + 1, b"")]))
    r = cli("decode", "--json", good)
    assert r.returncode == 0, r.stderr
    import json

    d = json.loads(r.stdout)
    assert d["packets"] == 2 and d["decoded"] == 1 and d["undecodable"] == {"zero_length": 1}


def test_framing_matches_dpkt_readers_on_corpus(corpus_dir):
    """Our framer and dpkt's pcap/pcapng readers give the same records where dpkt can read a file."""
    compared = 0
    for path in corpus_files():
        fmt, comp = sniff(path)
        if fmt is None or comp:
            continue
        try:
            with open(path, "rb") as fh:
                reader = dpkt.pcap.Reader(fh) if fmt == "pcap" else dpkt.pcapng.Reader(fh)
                ref = [(int(round(ts * 1e6)), bytes(buf)) for ts, buf in reader]
        except Exception:
            continue  # dpkt cannot read it: nothing to compare
        acct = Accounting(str(path))
        got, ifaces = [], []
        for b in frame(path, acct):
            ifaces.extend(b.iface.tolist())
            got.extend((int(b.ts_ns[i]) // 1000, b.record(i)) for i in range(len(b)))
        if fmt == "pcapng" and len(ref) != len(got):
            continue  # dpkt's pcapng reader skips simple packet blocks
        if any("corrupt from there" in w for w in acct.warnings):
            ref = ref[: len(got)]  # we stop at a length beyond the bounds; dpkt reads garbage on
        assert len(got) == len(ref), path
        # dpkt's pcapng reader applies the first interface's resolution to every interface
        check_ts = fmt == "pcap" or len(set(ifaces)) <= 1
        for (t1, d1), (t2, d2) in zip(got, ref):
            assert d1 == d2, path
            assert not check_ts or abs(t1 - t2) <= 1, path
        compared += 1
    assert compared > 1500
