"""End-to-end ``forensics scan`` throughput against Argus, and the batch speed-up.

    python bench/scan.py                      # 1 M packets, 20-capture folder
    python bench/scan.py --packets 200000     # quicker
    python bench/scan.py --capture some.pcap  # your own capture instead of the synthetic one

1. One capture of ``--packets`` packets (synthetic IoT mix: MQTT-like UDP
   between devices, a TCP SYN flood, a port scan; or ``--capture``) is read by
   ``argus -r X -w Y`` (the probe alone), then ``racluster`` (Argus as BoT-IoT
   used it), and by ``forensics scan X --json`` (decode, flows, features,
   detection, incidents, summary), all in this run on this machine, with
   ``--workers 1`` (one core, like the single-threaded argus) and with the
   default (one file: every core).  Printed: packets/s of each and the ratios
   scan vs argus alone (target >= 1.5) and vs argus + racluster.
2. The same number of packets split into ``--files`` captures in one folder,
   scanned with ``--workers 1`` and ``--workers 2``: the speed-up (target >= 1.8
   on a machine with 2 free cores).

Times are wall-clock of whole commands (interpreter and model start-up
included), best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RACLUSTER_FIELDS = "stime,ltime,proto,saddr,sport,daddr,dport,pkts,bytes,state,dur,mean,stddev,sum,min,max,spkts,dpkts,sbytes,dbytes,rate,srate,drate"


def _ip(a: str) -> bytes:
    return bytes(int(x) for x in a.split("."))


def synth_capture(path: Path, packets: int, seed: int = 1, t0: float = 1_700_000_000.0) -> Path:
    """A libpcap file of ``packets`` Ethernet/IPv4 frames, written with struct (fast)."""
    rng = random.Random(seed)
    devices = [_ip(f"192.168.1.{n}") for n in range(10, 30)]
    broker = _ip("192.168.1.2")
    attacker, victim, scanner = _ip("192.168.100.147"), _ip("192.168.1.10"), _ip("192.168.100.150")
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    t = t0
    rec = struct.Struct("<IIII")
    iph = struct.Struct("!BBHHHBBH4s4s")
    tcph = struct.Struct("!HHIIBBHHH")
    udph = struct.Struct("!HHHH")
    for n in range(packets):
        r = rng.random()
        t += rng.expovariate(20_000.0)
        if r < 0.55:  # SYN flood
            l4 = tcph.pack(rng.randrange(1024, 65535), 80, rng.getrandbits(32), 0, 0x50, 0x02, 512, 0, 0)
            src, dst, proto = attacker, victim, 6
        elif r < 0.65:  # port scan
            l4 = tcph.pack(40000 + n % 7, rng.randrange(1, 1024), rng.getrandbits(32), 0, 0x50, 0x02, 1024, 0, 0)
            src, dst, proto = scanner, rng.choice(devices), 6
        else:  # MQTT-like telemetry both ways
            dev = devices[n % len(devices)]
            payload = b"t" * rng.randrange(10, 120)
            if rng.random() < 0.5:
                src, dst, sp, dp = dev, broker, 50000 + devices.index(dev), 1883
            else:
                src, dst, sp, dp = broker, dev, 1883, 50000 + devices.index(dev)
            l4 = udph.pack(sp, dp, 8 + len(payload), 0) + payload
            proto = 17
        ip = iph.pack(0x45, 0, 20 + len(l4), n & 0xFFFF, 0, 64, proto, 0, src, dst) + l4
        frame = eth + ip
        sec = int(t)
        out += rec.pack(sec, int((t - sec) * 1e6), len(frame), len(frame))
        out += frame
    path.write_bytes(bytes(out))
    return path


def split_capture(src: Path, folder: Path, files: int) -> list[Path]:
    data = src.read_bytes()
    header, off, records = data[:24], 24, []
    while off + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, off + 8)[0]
        records.append((off, off + 16 + caplen))
        off += 16 + caplen
    per = -(-len(records) // files)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(files):
        chunk = records[i * per : (i + 1) * per]
        if not chunk:
            break
        p = folder / f"part{i:02d}.pcap"
        p.write_bytes(header + data[chunk[0][0] : chunk[-1][1]])
        out.append(p)
    return out


def timed(cmd: list[str], repeat: int, ok=(0,), **kw) -> tuple[float, subprocess.CompletedProcess]:
    best, last = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        last = subprocess.run(cmd, capture_output=True, text=True, **kw)
        dt = time.perf_counter() - t
        if last.returncode not in ok:
            raise SystemExit(f"failed ({last.returncode}): {' '.join(map(str, cmd))}\n{last.stderr[-2000:]}")
        best = min(best, dt)
    return best, last


def count_packets(path: Path) -> int:
    sys.path.insert(0, str(ROOT))
    from forensics.scan import sniff

    c = sniff(path)
    if not c.ok or c.format != "pcap" or c.compression:
        return -1
    data = path.read_bytes()
    off, n = 24, 0
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    while off + 16 <= len(data):
        off += 16 + struct.unpack_from(endian + "I", data, off + 8)[0]
        n += 1
    return n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--capture", type=Path, help="use this pcap instead of the synthetic one")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--workdir", type=Path, help="keep the files here (default: a temporary folder)")
    ap.add_argument("--model", type=Path, help="model folder passed to scan --model (default: the bundled model)")
    ap.add_argument("--engine", choices=("numpy", "torch"), default=None,
                    help="inference engine passed to scan --engine (default: the scan's default, numpy on cpu)")
    args = ap.parse_args(argv)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="forensics-bench-scan-"))
    work.mkdir(parents=True, exist_ok=True)
    py = [sys.executable, "-m", "forensics"]
    extra = (["--model", str(args.model)] if args.model else []) + (["--engine", args.engine] if args.engine else [])
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        cap = args.capture or work / "bench.pcap"
        if not args.capture:
            t = time.perf_counter()
            synth_capture(cap, args.packets)
            print(f"synthetic capture: {args.packets:,} packets, {cap.stat().st_size / 1e6:.1f} MB ({time.perf_counter() - t:.1f} s to write)")
        n = count_packets(cap) if args.capture else args.packets
        print(f"machine: {os.cpu_count()} CPUs; python {sys.version.split()[0]}; engine {args.engine or 'default'}; "
              f"load {os.getloadavg()[0]:.2f}")

        rows = []
        argus = shutil.which("argus") or ("/usr/sbin/argus" if os.path.exists("/usr/sbin/argus") else None)
        racluster = shutil.which("racluster")
        t_argus = t_ra = None
        if argus and racluster:
            out_argus = work / "out.argus"
            t_argus, _ = timed([argus, "-r", str(cap), "-w", str(out_argus)], args.repeat)
            t_ra, _ = timed([racluster, "-r", str(out_argus), "-n", "-u", "-c", ",", "-s", RACLUSTER_FIELDS], args.repeat)
            rows += [("argus -r -w (probe alone)", t_argus), ("racluster (merge to flows)", t_ra), ("argus + racluster", t_argus + t_ra)]
        else:
            print("argus/racluster not installed (Debian: argus-server argus-client): no reference")

        summary = work / "summary.json"
        t_scan, res = timed([*py, "scan", str(cap), "--workers", "1", "--json", str(summary), "-q", *extra], args.repeat, ok=(0, 1), env=env, cwd=ROOT)
        rows.append(("forensics scan --workers 1 (one core)", t_scan))
        # the default (no --workers): one file runs in the calling process on every core
        t_all, _ = timed([*py, "scan", str(cap), "--json", str(work / "summary_all.json"), "-q", *extra], args.repeat,
                         ok=(0, 1), env=env, cwd=ROOT)
        rows.append((f"forensics scan, default ({os.cpu_count()} cores)", t_all))
        s = json.loads(summary.read_text())
        print(f"scan found {len(s['incidents'])} incident(s), {s['flows']:,} flows, {s['attack_flows']:,} attack flows")

        print(f"\n{'step':42s} {'seconds':>9s} {'packets/s':>12s}")
        for name, sec in rows:
            print(f"{name:42s} {sec:9.2f} {n / sec:12,.0f}")
        if t_argus:
            print(f"\nscan (one core) vs argus alone:        {t_argus / t_scan:.2f}x  (target >= 1.5x; > 1 means scan is faster)")
            print(f"scan (one core) vs argus + racluster:  {(t_argus + t_ra) / t_scan:.2f}x")
            print(f"scan (default) vs argus alone:         {t_argus / t_all:.2f}x;  vs argus + racluster: {(t_argus + t_ra) / t_all:.2f}x")

        # where the time goes, in this process (model already loaded)
        sys.path.insert(0, str(ROOT))
        from forensics import batch
        from forensics.report.model import build_report
        from forensics.scan import ScanConfig, sniff

        cfg = ScanConfig(workers=1, app_detail=False, model_dir=str(args.model) if args.model else None, engine=args.engine)
        batch.load_detector_cached(cfg.detector, cfg.model_dir, cfg.device, cfg.engine)
        r = batch.analyse_file(str(cap), batch._opts(cfg))
        t = time.perf_counter()
        build_report([sniff(cap)], [r], cfg, model={})
        t_report = time.perf_counter() - t
        print("\nstage breakdown (in process, model loaded):")
        for stage, sec in [*r.stages.items(), ("incidents + hosts", t_report)]:
            print(f"  {stage:20s} {sec:8.2f} s  {n / sec:12,.0f} packets/s")

        if args.files <= 0:
            return 0
        folder = work / "batch"
        parts = split_capture(cap, folder, args.files)
        t1, _ = timed([*py, "scan", str(folder), "--workers", "1", "--json", str(work / "s1.json"), "-q", *extra], args.repeat, ok=(0, 1), env=env, cwd=ROOT)
        t2, _ = timed([*py, "scan", str(folder), "--workers", "2", "--json", str(work / "s2.json"), "-q", *extra], args.repeat, ok=(0, 1), env=env, cwd=ROOT)
        same = json.loads((work / "s1.json").read_text()) == json.loads((work / "s2.json").read_text())
        print(f"\nfolder of {len(parts)} captures ({n:,} packets in all)")
        print(f"--workers 1: {t1:8.2f} s   --workers 2: {t2:8.2f} s   speed-up {t1 / t2:.2f}x (target >= 1.8x)   same summary: {same}")
        return 0
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
