"""Benchmark: ``forensics flows`` against ``argus -r FILE -w X`` + ``racluster`` to CSV.

    python bench/flows.py [--packets 1000000] [--big 10000000] [--workdir /tmp]

Generates (numpy, fixed 60-byte frames) a capture mixing a SYN flood with random
source ports (one-packet flows), a UDP flood, a port scan answered by RSTs and
long-lived chatty TCP connections; runs both tools on it in the same run, one
process each (both single-threaded), and prints packets/s of each and the ratio.
Then prints the peak RSS of ``forensics flows`` at ``--packets`` and ``--big``
packets (``--big 0`` skips the big run).

Captures are generated in a child process: a child's peak RSS as the kernel reports it
(``wait4``) starts from its parent's peak at the time of the spawn, so a 10M-packet capture
generated in this process (about 2.2 GB at its peak) would be counted as forensics' own.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def generate(path: Path, n: int, seed: int = 1, pps: float = 20_000.0) -> Path:
    rng = np.random.default_rng(seed)
    kind = rng.choice(4, size=n, p=[0.45, 0.2, 0.1, 0.25])  # syn flood, udp flood, scan, long flows
    ts = 1_700_000_000.0 + np.arange(n) / pps
    frame = np.zeros((n, 60), dtype=np.uint8)
    frame[:, 0:6] = [2, 0, 0, 0, 0, 2]
    frame[:, 6:12] = [2, 0, 0, 0, 0, 1]
    frame[:, 12:14] = [8, 0]
    ip = 14
    frame[:, ip] = 0x45
    frame[:, ip + 8] = 64

    def put16(col, v):
        frame[:, col] = (v >> 8) & 0xFF
        frame[:, col + 1] = v & 0xFF

    def put32(col, v):
        for k in range(4):
            frame[:, col + k] = (v >> (24 - 8 * k)) & 0xFF

    src = np.zeros(n, dtype=np.int64)
    dst = np.zeros(n, dtype=np.int64)
    sport = np.zeros(n, dtype=np.int64)
    dport = np.zeros(n, dtype=np.int64)
    proto = np.full(n, 6, dtype=np.int64)
    flags = np.zeros(n, dtype=np.int64)
    victim = (192 << 24) | (168 << 16) | (100 << 8) | 3
    # SYN flood from 4 attackers, random source ports: one-packet flows
    m = kind == 0
    src[m] = ((192 << 24) | (168 << 16) | (100 << 8) | 147) + rng.integers(0, 4, m.sum())
    dst[m] = victim
    sport[m] = rng.integers(1024, 65535, m.sum())
    dport[m] = 80
    flags[m] = 0x02
    # UDP flood
    m = kind == 1
    src[m] = ((192 << 24) | (168 << 16) | (100 << 8) | 150)
    dst[m] = victim
    sport[m] = rng.integers(1024, 65535, m.sum())
    dport[m] = rng.integers(1, 65535, m.sum())
    proto[m] = 17
    # scan: SYN to ports 1..1024, half answered by RST/ACK
    m = np.flatnonzero(kind == 2)
    port = (np.arange(len(m)) // 2) % 1024 + 1
    reply = (np.arange(len(m)) % 2) == 1
    scanner = ((192 << 24) | (168 << 16) | (100 << 8) | 149)
    tgt = ((192 << 24) | (168 << 16) | (100 << 8) | 5) + (np.arange(len(m)) // 2048) % 50
    src[m] = np.where(reply, tgt, scanner)
    dst[m] = np.where(reply, scanner, tgt)
    sport[m] = np.where(reply, port, 40000)
    dport[m] = np.where(reply, 40000, port)
    flags[m] = np.where(reply, 0x14, 0x02)
    # long flows: 500 MQTT-like connections exchanging ACK/PSH both ways for the whole capture
    m = np.flatnonzero(kind == 3)
    conn = rng.integers(0, 500, len(m))
    back = rng.random(len(m)) < 0.5
    cli = ((10 << 24) | (1 << 16)) + conn
    srv = (10 << 24) | (2 << 16) | 1
    src[m] = np.where(back, srv, cli)
    dst[m] = np.where(back, cli, srv)
    sport[m] = np.where(back, 1883, 30000 + conn)
    dport[m] = np.where(back, 30000 + conn, 1883)
    flags[m] = 0x18
    tcp = proto == 6
    put16(ip + 2, np.where(tcp, 40, 46))
    put16(ip + 4, np.arange(n) & 0xFFFF)
    frame[:, ip + 9] = proto
    put32(ip + 12, src)
    put32(ip + 16, dst)
    t = ip + 20
    put16(t, sport)
    put16(t + 2, dport)
    put32(t + 4, np.where(tcp, np.arange(n) * 7, 0))
    frame[tcp, t + 12] = 0x50
    frame[tcp, t + 13] = flags[tcp]
    frame[tcp, t + 14] = 0xFF
    frame[~tcp, t + 4] = 0
    frame[~tcp, t + 5] = 26
    rec = np.zeros(n, dtype=[("s", "<u4"), ("us", "<u4"), ("incl", "<u4"), ("orig", "<u4"), ("d", "u1", (60,))])
    sec = np.floor(ts).astype(np.uint32)
    rec["s"] = sec
    rec["us"] = np.round((ts - sec) * 1e6).astype(np.uint32).clip(0, 999_999)
    rec["incl"] = 60
    rec["orig"] = 60
    rec["d"] = frame
    with open(path, "wb") as fh:
        fh.write(np.array([0xA1B2C3D4, 0x00040002, 0, 0, 65535, 1], dtype="<u4").tobytes()[:24])
        rec.tofile(fh)
    return path


def generate_in_child(path: Path, n: int) -> Path:
    """``generate`` in a separate process (keeps this process's peak RSS, which every child
    it spawns inherits as a starting value of its own peak, small)."""
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--generate", str(path), str(n)], check=True)
    return path


def run_measured(cmd: list[str], **kw) -> tuple[float, int]:
    """(wall seconds, peak RSS bytes) of one child process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {err[-500:]}")
    return wall, ru.ru_maxrss * 1024


def ours(capture: Path, out: Path) -> tuple[float, int]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return run_measured([sys.executable, "-m", "forensics", "flows", str(capture), "-o", str(out)], env=env)


def argus(capture: Path, workdir: Path) -> float:
    a = workdir / "bench.argus"
    w1, _ = run_measured(["argus", "-r", str(capture), "-w", str(a)])
    t0 = time.perf_counter()
    with open(workdir / "argus.csv", "w") as fh:
        subprocess.run(["racluster", "-r", str(a), "-n", "-u", "-c", ",", "-s",
                        "stime,ltime,proto,saddr,sport,daddr,dport,pkts,bytes,state,dur,mean,stddev,sum,min,max,"
                        "spkts,dpkts,sbytes,dbytes,rate,srate,drate"], stdout=fh, check=True)
    return w1 + time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--big", type=int, default=10_000_000)
    ap.add_argument("--workdir", default=None, help="folder for the temporary files (made when missing)")
    ap.add_argument("--generate", nargs=2, metavar=("PATH", "N"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.generate:
        generate(Path(a.generate[0]), int(a.generate[1]))
        return
    if a.workdir:
        Path(a.workdir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=a.workdir) as td:
        td = Path(td)
        cap = generate_in_child(td / "bench.pcap", a.packets)
        t_ours, rss1 = ours(cap, td / "ours.csv")
        t_argus = argus(cap, td)
        n = a.packets
        print(f"capture: {n} packets ({cap.stat().st_size / 1e6:.0f} MB)")
        print(f"forensics flows : {t_ours:8.2f} s  {n / t_ours:12,.0f} packets/s")
        print(f"argus+racluster : {t_argus:8.2f} s  {n / t_argus:12,.0f} packets/s")
        print(f"ratio (forensics speed / argus speed): {t_argus / t_ours:.2f}x")
        print(f"peak RSS forensics flows at {n:,} packets: {rss1 / 2**20:.0f} MiB")
        if a.big:
            (td / "bench.pcap").unlink()
            big = generate_in_child(td / "big.pcap", a.big)
            t_big, rss2 = ours(big, td / "big.csv")
            print(f"peak RSS forensics flows at {a.big:,} packets: {rss2 / 2**20:.0f} MiB "
                  f"({rss2 / rss1:.2f}x the {n:,} figure; {a.big / t_big:,.0f} packets/s)")


if __name__ == "__main__":
    main()
