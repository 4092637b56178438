"""Run lab scenarios: build the lab, play normal traffic and the attack, capture, write truth."""

from __future__ import annotations

import functools
import itertools
import json
import os
import platform
import random
import shlex
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from forensics.errors import ForensicsError
from forensics.lab import scenarios as sc
from forensics.lab.topology import Lab, LabError, check_environment, cleanup_stale, signals_as_interrupts
from forensics.lab.truth import DEFAULT_TAIL_S, TRUTH_FORMAT

ALL_SCENARIOS = sc.ALL_SCENARIOS
_counter = itertools.count()
_STOP = threading.Event()


class _Stopped(KeyboardInterrupt):
    pass


@dataclass
class RunResult:
    scenario: str
    run: int
    seed: int
    dir: Path
    seconds: float
    capture_bytes: int
    skipped: bool = False


def run_seed(base_seed: int, scenario: str, run: int) -> int:
    """The seed of run ``run`` of ``scenario`` (distinct per scenario and run)."""
    return random.Random(f"{base_seed}/{scenario}/{run}").randint(0, 2**31 - 1)


@functools.lru_cache(maxsize=1)
def tool_versions() -> dict[str, str]:
    def first(argv, pattern=""):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return "unavailable"
        for line in (r.stdout + r.stderr).splitlines():
            if pattern.lower() in line.lower() and line.strip():
                return line.strip()
        return "unknown"

    return {
        "hping3": first(["hping3", "--version"], "version"),
        "nmap": first(["nmap", "--version"], "version"),
        "mosquitto": first(["mosquitto", "-h"], "version"),
        "mosquitto_pub": first(["mosquitto_pub", "--help"], "version"),
        "tcpdump": first(["tcpdump", "--version"], "tcpdump"),
        "iproute2": first(["ip", "-V"], ""),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def _sleep(seconds: float) -> None:
    if seconds > 0 and _STOP.wait(seconds):
        raise _Stopped("stopped")


def _wait_all(procs, deadline: float) -> None:
    for p in procs:
        while p.poll() is None:
            if time.time() > deadline:
                break
            _sleep(0.1)


def _schedule(scenario: str, rng: random.Random, duration: float) -> tuple[list[tuple[float, str, float]], float]:
    """[(offset, attack scenario, seconds)] and the run's total duration."""
    if scenario == "normal":
        return [], duration
    if scenario == "mixed":
        # three attacks of three different categories, in random order
        by_cat: dict[str, list[str]] = {}
        for name, (cat, _) in list(sc.SCENARIOS.items())[1:]:
            by_cat.setdefault(cat, []).append(name)
        picks = [rng.choice(by_cat[c]) for c in rng.sample(sorted(by_cat), 3)]
        out, t = [], rng.uniform(3, 5)
        for s in picks:
            secs = rng.uniform(5, 8)
            out.append((t, s, secs))
            t += secs + rng.uniform(3, 5)
        return out, max(duration, t + 3)
    offset = rng.uniform(3, 6)
    secs = min(15.0, rng.uniform(8, max(8.5, duration - offset - 5)))
    return [(offset, scenario, secs)], max(duration, offset + secs + 4)


def run_scenario(out_dir: Path, scenario: str, run: int, seed: int, base_seed: int | None = None,
                 duration: float = 30.0, snaplen: int = 0, scale: float = 1.0, log=print) -> RunResult:
    """One run: ``out_dir/capture.pcap`` + ``truth.json`` (+ ``lab.log``, ``lab-state.json``)."""
    if scenario not in ALL_SCENARIOS:
        raise ForensicsError(f"lab: unknown scenario {scenario!r} (choose from {', '.join(ALL_SCENARIOS)})")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("capture.pcap", "truth.json", "lab.log"):
        (out_dir / name).unlink(missing_ok=True)
    rng = random.Random(seed)
    schedule, total = _schedule(scenario, rng, duration)
    servers, clients = sc.normal_steps(rng, total)
    plans = [(off, sc.plan_attack(s, rng, secs, scale, variant=run + i)) for i, (off, s, secs) in enumerate(schedule)]
    lab = Lab(prefix=f"fx{os.getpid()}r{next(_counter)}", log_path=out_dir / "lab.log", state_path=out_dir / "lab-state.json")
    pcap = out_dir / "capture.pcap"
    t_begin = time.time()
    attacks = []
    try:
        lab.create(sc.HOSTS)
        conf = out_dir / "mosquitto.conf"
        conf.write_text("listener 1883 0.0.0.0\nallow_anonymous true\npersistence false\nlog_dest none\n")
        cap_argv = ["tcpdump", "-i", "br0", "-n", "-U", "-w", str(pcap)] + (["-s", str(snaplen)] if snaplen else [])
        # tcpdump drops privileges to user 'tcpdump' by default: -Z root keeps it able to write anywhere.
        cap = lab.spawn("sw", cap_argv + ["-Z", "root"], label="tcpdump")
        deadline = time.time() + 5
        while not (pcap.exists() and pcap.stat().st_size >= 24):
            if cap.poll() is not None or time.time() > deadline:
                raise LabError(f"lab: tcpdump did not start (see {out_dir / 'lab.log'})")
            _sleep(0.05)
        capture_start = time.time()
        for s in servers:
            lab.spawn(s.host, [str(conf) if a == "{broker_conf}" else a for a in s.argv])
        _sleep(0.8)
        t0 = time.time()
        client_procs = [lab.spawn(s.host, s.argv) for s in clients]
        for off, plan in plans:
            _sleep(t0 + off - time.time())
            start = time.time()
            services = [lab.spawn(s.host, s.argv, label="attack-service") for s in plan.steps if s.service]
            if services:
                _sleep(0.5)
            procs = []
            for s in sorted((s for s in plan.steps if not s.service), key=lambda s: s.delay):
                _sleep(start + s.delay - time.time())
                procs.append(lab.spawn(s.host, s.argv, label="attack"))
            _wait_all(procs, time.time() + plan.seconds + 10)
            end = time.time()
            for p in procs + services:
                lab.stop(p)
            attacks.append({
                "category": plan.category,
                "subcategory": plan.subcategory,
                "attackers": [lab.ip(h) for h in plan.attackers],
                "victims": [lab.ip(h) for h in plan.victims],
                "spoofed": plan.spoofed,
                "start": round(start, 6),
                "end": round(end, 6),
                "commands": [f"[{s.host}] " + shlex.join(s.argv) for s in plan.steps],
                "exit_status": [p.returncode for p in procs],
                "params": plan.params,
            })
            log(f"  {plan.category}/{plan.subcategory}: {end - start:.1f} s")
        _sleep(t0 + total - time.time())
        _wait_all(client_procs, time.time() + 4)
        _sleep(1.0)
        lab.stop(cap, signal.SIGINT, wait=5)  # tcpdump flushes and closes the file
        capture_end = time.time()
    finally:
        lab.teardown()
        (out_dir / "mosquitto.conf").unlink(missing_ok=True)
    cat, sub = {**sc.SCENARIOS, **sc.EXTRA_SCENARIOS}[scenario]
    truth = {
        "format": TRUTH_FORMAT,
        "scenario": scenario,
        "category": cat,
        "subcategory": sub,
        "run": run,
        "seed": seed,
        "plan_version": sc.PLAN_VERSION,
        "base_seed": base_seed,
        "capture": "capture.pcap",
        "capture_start": round(capture_start, 6),
        "capture_end": round(capture_end, 6),
        "snaplen": snaplen or 262144,
        "flood_scale": scale,
        "subnet": f"{sc.SUBNET}.0/24",
        "attacker_addresses": sorted({a for x in attacks for a in x["attackers"]}),
        "victim_addresses": sorted({v for x in attacks for v in x["victims"]}),
        "attack_start": min((x["start"] for x in attacks), default=None),
        "attack_end": max((x["end"] for x in attacks), default=None),
        "label_tail_s": DEFAULT_TAIL_S,
        "attacks": attacks,
        "hosts": {h.name: {"ip": h.ip, "role": h.role, "mac": h.mac} for h in lab.hosts.values()},
        "normal_commands": [f"[{s.host}] " + shlex.join(s.argv) for s in servers + clients],
        "tools": tool_versions(),
    }
    (out_dir / "truth.json").write_text(json.dumps(truth, indent=1))
    size = pcap.stat().st_size if pcap.exists() else 0
    return RunResult(scenario, run, seed, out_dir, time.time() - t_begin, size)


def run_lab(out: Path, scenarios: list[str] | None = None, runs: int = 1, seed: int = 0, duration: float = 30.0,
            snaplen: int = 0, jobs: int = 1, resume: bool = False, scale: float = 1.0, log=print,
            first_run: int = 0) -> list[RunResult]:
    """``runs`` runs of each scenario (default: every one, ``mixed`` included) into
    ``out/<scenario>/run<k>/``, k = ``first_run`` ..
    ``first_run + runs - 1`` (each with its own seed from ``seed``, the scenario and k);
    ``jobs`` runs at a time."""
    check_environment()
    scenarios = scenarios or list(ALL_SCENARIOS)  # every subcategory, normal and mixed: the dataset's shape
    for s in scenarios:
        if s not in ALL_SCENARIOS:
            raise ForensicsError(f"lab: unknown scenario {s!r} (choose from {', '.join(ALL_SCENARIOS)})")
    if runs < 1 or jobs < 1 or duration < 10 or not 0 < scale <= 1 or snaplen < 0 or first_run < 0:
        raise ForensicsError("lab: need --runs >= 1, --jobs >= 1, --duration >= 10, 0 < --flood-scale <= 1, --snaplen >= 0, "
                             "--first-run >= 0")
    cleanup_stale(log)
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ForensicsError(f"{out}: cannot create output directory ({exc.strerror})") from None
    tasks = [(s, k) for k in range(first_run, first_run + runs) for s in scenarios]
    results: list[RunResult] = []

    def one(task):
        s, k = task
        d = out / s / f"run{k}"
        rs = run_seed(seed, s, k)
        if resume and (d / "truth.json").exists() and (d / "capture.pcap").exists():
            return RunResult(s, k, rs, d, 0.0, (d / "capture.pcap").stat().st_size, skipped=True)
        log(f"{s} run{k} (seed {rs}) ...")
        r = run_scenario(d, s, k, rs, base_seed=seed, duration=duration, snaplen=snaplen, scale=scale, log=log)
        log(f"{s} run{k}: {r.seconds:.1f} s, {r.capture_bytes / 1e6:.2f} MB")
        return r

    _STOP.clear()
    with signals_as_interrupts():
        if jobs == 1:
            for t in tasks:
                results.append(one(t))
        else:
            pool = ThreadPoolExecutor(max_workers=jobs)
            try:
                futures = [pool.submit(one, t) for t in tasks]
                for f in futures:
                    while not f.done():
                        time.sleep(0.2)
                    results.append(f.result())
            except BaseException:
                _STOP.set()  # running labs stop and tear down; queued ones are cancelled
                for f in futures:
                    f.cancel()
                pool.shutdown(wait=True)
                raise
            pool.shutdown(wait=True)
    return results
