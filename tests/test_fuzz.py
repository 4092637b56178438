"""Mangled captures: whatever their bytes, a capture is read as far as it goes or refused with its
reason, never failed with an internal error, and its packets are all accounted for.

Mutants of ``samples/mixed`` (MQTT, HTTP, DNS, CoAP, floods, scans, ARP) as pcap and as pcapng,
plain and gzip-compressed: bytes overwritten at random (record headers and block lengths included),
the file cut short, bytes inserted or removed.  Fuzzing this way on 2026-11-29 found a pcapng packet
block whose timestamp overflowed int64 nanoseconds and failed the whole capture ("internal error:
OverflowError"); 468 mutants of samples and corpus captures then gave no internal error.
"""

from __future__ import annotations

import gzip
import random
import struct

import pytest

from forensics.scan import ScanConfig, scan
from tests import pcapgen as g
from tests.conftest import ROOT

SAMPLE = ROOT / "samples" / "mixed" / "capture.pcap"
SEED = 20261129
PER_KIND = 6  # mutants per (format, mutation)


def as_pcapng(pcap: bytes) -> bytes:
    """The records of a little-endian microsecond pcap as one pcapng section (SHB, IDB, EPBs)."""
    magic, _, _, _, _, _, linktype = struct.unpack_from("<IHHiIII", pcap, 0)
    assert magic == 0xA1B2C3D4
    out, off = [g.pcapng_shb(), g.pcapng_idb(linktype)], 24
    while off + 16 <= len(pcap):
        sec, usec, caplen, wirelen = struct.unpack_from("<IIII", pcap, off)
        out.append(g.pcapng_epb(0, sec * 1_000_000 + usec, pcap[off + 16 : off + 16 + caplen], wirelen=wirelen))
        off += 16 + caplen
    return b"".join(out)


def mutate(data: bytes, how: str, rng: random.Random) -> bytes:
    b = bytearray(data)
    if how == "overwrite":
        for _ in range(rng.choice([3, 30, 300])):
            b[rng.randrange(24, len(b))] = rng.randrange(256)
    elif how == "cut":
        del b[rng.randrange(1, len(b)):]
    elif how == "shift":  # bytes inserted or removed: every later length field reads the wrong bytes
        for _ in range(rng.choice([1, 4])):
            at = rng.randrange(24, len(b))
            if rng.random() < 0.5:
                b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
            else:
                del b[at : at + rng.randrange(1, 9)]
    return bytes(b)


@pytest.fixture(scope="module")
def mutants(tmp_path_factory):
    rng = random.Random(SEED)
    pcap = SAMPLE.read_bytes()
    folder = tmp_path_factory.mktemp("fuzz")
    for fmt, data in (("pcap", pcap), ("pcapng", as_pcapng(pcap))):
        for how in ("overwrite", "cut", "shift"):
            for k in range(PER_KIND):
                out = mutate(data, how, rng)
                name = f"{fmt}-{how}-{k}.{fmt}"
                if k % 3 == 2:  # some compressed: the mangled bytes arrive through gzip
                    out, name = gzip.compress(out), name + ".gz"
                (folder / name).write_bytes(out)
    return folder


def test_mangled_captures_never_fail_with_an_internal_error(mutants):
    rep = scan([mutants], ScanConfig(workers=1, app_detail=False))
    assert len(rep.inputs) == 2 * 3 * PER_KIND
    internal = [(i.path, i.error) for i in rep.inputs if i.error and "internal error" in i.error]
    assert internal == []
    for i in rep.readable:  # nothing silently dropped
        assert i.packets == i.decoded + sum(i.undecodable.values()), i.path
    # the mutations are mild enough that most captures still read, and some of every kind
    read = {(i.path.rsplit("/", 1)[-1].split("-")[0], i.path.rsplit("/", 1)[-1].split("-")[1]) for i in rep.readable}
    assert read == {(f, h) for f in ("pcap", "pcapng") for h in ("overwrite", "cut", "shift")}
    assert rep.flows > 0
    # an input refused names its reason in one line
    for i in rep.failed:
        assert i.error and "\n" not in i.error, i.path
