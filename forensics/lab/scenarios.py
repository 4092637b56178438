"""The lab's hosts, its normal traffic and one attack plan per BoT-IoT subcategory.

Every plan is drawn from a ``random.Random`` seeded per run, so a run is
reproducible from its seed (up to kernel/tool timing).  Every generator is
bounded twice: in packets/requests/bytes (hping3 ``-c``, nmap port lists and
``--max-retries``, agent ``--count``/``--files``) and in time (``timeout``).
hping3 is never given ``--flood`` (which ignores ``-c``); its rate is set with
``-i u<microseconds>``.
"""

from __future__ import annotations

import ipaddress
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

AGENTS = str(Path(__file__).with_name("agents.py"))
SUBNET = "10.77.0"
#: Version of the attack plans, recorded in truth.json.  1: one random variant per run
#: (runs 0-5 of the first dataset); 2: variants cycled by run index, two flood phases,
#: small attackers, several Theft sessions/uploads per run.
PLAN_VERSION = 2
#: Unassigned part of the lab subnet used as spoofed sources (hping3 ``-a``).
SPOOF_NET = f"{SUBNET}.128/26"

#: (name, last octet, role).  Attackers never carry normal traffic.
HOSTS: list[tuple[str, str, str]] = [
    ("dns", "2", "dns-server"),
    ("broker", "10", "mqtt-broker"),
    ("sens1", "11", "mqtt-sensor"),
    ("sens2", "12", "mqtt-sensor"),
    ("sens3", "13", "mqtt-sensor"),
    ("cam", "20", "http-device"),
    ("coap", "21", "coap-device"),
    ("telnet", "22", "telnet-device"),
    ("client1", "100", "client"),
    ("client2", "101", "client"),
    ("atk1", "201", "attacker"),
    ("atk2", "202", "attacker"),
    ("atk3", "203", "attacker"),
    ("atk4", "204", "attacker"),
]
ATTACKERS = ["atk1", "atk2", "atk3", "atk4"]

#: scenario -> (category, subcategory), BoT-IoT spelling.
SCENARIOS: dict[str, tuple[str, str]] = {
    "normal": ("Normal", "Normal"),
    "dos_tcp": ("DoS", "TCP"),
    "dos_udp": ("DoS", "UDP"),
    "dos_http": ("DoS", "HTTP"),
    "ddos_tcp": ("DDoS", "TCP"),
    "ddos_udp": ("DDoS", "UDP"),
    "ddos_http": ("DDoS", "HTTP"),
    "service_scan": ("Reconnaissance", "Service_Scan"),
    "os_fingerprint": ("Reconnaissance", "OS_Fingerprint"),
    "keylogging": ("Theft", "Keylogging"),
    "data_exfiltration": ("Theft", "Data_Exfiltration"),
}
#: Extra scenarios (not a single subcategory).
EXTRA_SCENARIOS = {"mixed": ("Mixed", "Mixed")}
ALL_SCENARIOS = list(SCENARIOS) + list(EXTRA_SCENARIOS)  # every subcategory, normal and mixed

# services each device offers: (proto, port)
TCP_TARGETS = [("cam", 80), ("telnet", 23), ("broker", 1883)]
UDP_TARGETS = [("coap", 5683), ("dns", 53)]


def ip(name: str) -> str:
    return f"{SUBNET}.{dict((h, o) for h, o, _ in HOSTS)[name]}"


@dataclass
class Step:
    host: str  # namespace that runs it
    argv: list[str]
    service: bool = False  # started first and stopped when the attack ends
    delay: float = 0.0  # seconds after the attack start


@dataclass
class AttackPlan:
    category: str
    subcategory: str
    attackers: list[str]  # host names
    victims: list[str]
    steps: list[Step]
    seconds: float  # nominal length; every step is wrapped in timeout(seconds + grace)
    spoofed: list[str] = field(default_factory=list)  # CIDRs of forged sources
    params: dict = field(default_factory=dict)


def _py(role: str, **opts) -> list[str]:
    argv = [sys.executable, AGENTS, role]
    for k, v in opts.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    return argv


def _timeout(seconds: float, argv: list[str]) -> list[str]:
    return ["timeout", "-s", "INT", "-k", "2", f"{seconds:.1f}"] + argv


# ----------------------------------------------------------------------------- normal traffic


def normal_steps(rng: random.Random, duration: float) -> tuple[list[Step], list[Step]]:
    """(servers, clients) of the background IoT traffic; clients stop after ``duration``."""
    servers = [
        Step("broker", ["mosquitto", "-c", "{broker_conf}"]),
        Step("cam", _py("http-server", port=80)),
        Step("coap", _py("udp-server", port=5683, kind="coap")),
        Step("dns", _py("udp-server", port=53, kind="dns")),
        Step("telnet", _py("tcp-service", port=23)),
        Step("telnet", _py("tcp-service", port=22)),
    ]
    pace = rng.uniform(0.6, 1.8)  # global busy-ness of this run
    d = round(duration, 1)

    def seed():
        return rng.randint(0, 2**31 - 1)

    def gaps(lo, hi):
        lo, hi = lo * pace * rng.uniform(0.7, 1.3), hi * pace * rng.uniform(0.7, 1.3)
        return {"min_gap": round(lo, 3), "max_gap": round(max(hi, lo + 0.01), 3)}

    b = ip("broker")
    topics = [("sens1", "home/weather/temp", 5, 35), ("sens2", "home/fridge/temp", 1, 6), ("sens3", "home/garage/door", 0, 1)]
    clients = []
    for host, topic, lo, hi in topics:
        clients.append(Step(host, _py("mqtt-sensor", host=b, port=1883, topic=topic, low=lo, high=hi, seed=seed(), duration=d, **gaps(0.8, 3.0))))
    clients.append(Step("client1", ["timeout", f"{d:.1f}", "mosquitto_sub", "-h", b, "-t", "home/#", "-k", str(rng.choice([5, 10, 15])), "-i", "dashboard"]))
    clients.append(Step("sens1", ["timeout", f"{d:.1f}", "mosquitto_sub", "-h", b, "-t", "home/thermostat/set", "-i", "thermostat"]))
    clients.append(Step("client1", _py("http-poll", host=ip("cam"), port=80, seed=seed(), duration=d, **gaps(0.5, 2.5))))
    clients.append(Step("client2", _py("http-poll", host=ip("cam"), port=80, seed=seed(), duration=d, **gaps(1.0, 4.0))))
    clients.append(Step("client2", _py("coap-client", host=ip("coap"), port=5683, seed=seed(), duration=d, **gaps(0.3, 1.5))))
    clients.append(Step("sens2", _py("coap-client", host=ip("coap"), port=5683, seed=seed(), duration=d, **gaps(1.0, 3.0))))
    for host in ("client1", "client2", "cam", "coap"):
        clients.append(Step(host, _py("dns-client", host=ip("dns"), port=53, seed=seed(), duration=d, **gaps(1.5, 6.0))))
    clients.append(Step("client2", _py("tcp-session", host=ip("telnet"), port=23, seed=seed(), duration=d, **gaps(0.8, 4.0))))
    clients.append(Step("client1", _py("tcp-session", host=ip("telnet"), port=22, seed=seed(), duration=d, **gaps(2.0, 6.0))))
    for s in clients:
        if s.argv[0] != "timeout":
            s.argv = _timeout(duration + 2, s.argv)
    return servers, clients


# ----------------------------------------------------------------------------- attacks


#: hping3 TCP flag sets; every TCP flood run uses two of them, cycled by run index
#: (see :func:`plan_attack`), so any 3 consecutive runs cover all five.
TCP_FLAG_SETS: list[list[str]] = [["-S"], ["-A"], ["-S", "-A"], ["-F", "-P", "-U"], ["-R"]]
#: payload size classes, cycled per phase: none, tiny, small, large
_PAYLOADS = [(0, 0), (1, 64), (64, 512), (0, 0), (512, 1400)]
#: DoS spoofing: none or one forged source.  Never ``--rand-source``: a single host sending from
#: random sources is, flow by flow, the same traffic as a DDoS with random sources (the first
#: 12-run set had it and the DoS/DDoS category became a coin toss on those phases).
DOS_SPOOF = ["none", "subnet", "none"]
DDOS_SPOOF = ["none", "subnet", "random"]
PHASES = 2  # floods: consecutive phases per run, each its own variant


def _hping_tcp_flags(variant: int, phase: int = 0) -> list[str]:
    """Flag set of ``phase`` in run ``variant``: runs k and k+1 together cover every set."""
    return TCP_FLAG_SETS[(PHASES * variant + phase) % len(TCP_FLAG_SETS)]


def _variant(rng: random.Random, variant: int | None) -> int:
    return rng.randrange(1000) if variant is None else variant


def _flood_phase(rng, kind: str, bots: list[str], seconds: float, total_rate: float, spoof: str, v: int, phase: int,
                 delay: float) -> tuple[list[Step], str, list[str], dict]:
    """One phase of a TCP/UDP flood: every bot runs hping3 for ``seconds`` from ``delay``."""
    random_port = (v + phase) % 3 == 2
    if kind == "tcp":
        victim, port = TCP_TARGETS[(v + phase) % len(TCP_TARGETS)] if rng.random() < 0.5 else rng.choice(TCP_TARGETS)
        proto_opts = _hping_tcp_flags(v, phase)
    else:
        victim, port = UDP_TARGETS[(v + phase) % len(UDP_TARGETS)] if rng.random() < 0.5 else rng.choice(UDP_TARGETS)
        if random_port:
            victim = rng.choice(["coap", "dns", "cam", "broker", "telnet"])
        proto_opts = ["--udp"]
    if random_port:
        port = rng.randint(1, 65535)
    lo, hi = _PAYLOADS[(v + 3 * phase) % len(_PAYLOADS)]
    size = rng.randint(lo, hi) if hi else 0
    per_bot = total_rate / len(bots)
    interval_us = max(50, int(1e6 / per_bot))
    count = max(1, min(30000 // len(bots) // PHASES, int(seconds * 1e6 / interval_us) + 1))
    steps = []
    for bot in bots:
        argv = ["hping3", *proto_opts, "-p", str(port), "-i", f"u{interval_us}", "-c", str(count), "-q"]
        if size:
            argv += ["-d", str(size)]
        if spoof == "subnet":
            argv += ["-a", f"{SUBNET}.{rng.randint(128, 191)}"]
        elif spoof == "random":
            argv += ["--rand-source"]
        if rng.random() < 0.5 and kind == "tcp":
            argv += ["-s", str(rng.randint(1024, 60000))]  # base source port (hping3 increments it)
        argv.append(ip(victim))
        steps.append(Step(bot, _timeout(seconds + 2, argv), delay=delay))
    params = {"port": port, "payload": size, "interval_us": interval_us, "count_per_bot": count,
              "bots": len(bots), "spoof": spoof, "flags": " ".join(proto_opts), "victim": victim, "delay": delay}
    return steps, victim, proto_opts, params


def _straggler(rng, kind: str, bot: str, victim: str, port: int, proto_opts: list[str], seconds: float) -> tuple[Step, dict]:
    """A small attacker: a short, low-rate burst (3-60 packets) from one more bot, own address."""
    rate = rng.uniform(5, 60)
    interval_us = int(1e6 / rate)
    count = rng.randint(3, 60)
    delay = round(rng.uniform(0, max(0.0, seconds - 3)), 2)
    length = min(seconds - delay, count * interval_us / 1e6 + 1)
    argv = ["hping3", *proto_opts, "-p", str(port), "-i", f"u{interval_us}", "-c", str(count), "-q"]
    if rng.random() < 0.5 and kind == "tcp":
        argv += ["-s", str(rng.randint(1024, 60000))]
    argv.append(ip(victim))
    return Step(bot, _timeout(max(2.0, length) + 2, argv), delay=delay), {"bot": bot, "count": count, "interval_us": interval_us, "delay": delay}


def _flood(rng, kind: str, bots: list[str], seconds: float, total_rate: float, spoofs: list[str], v: int,
           straggler: str | None = None) -> tuple[list[Step], list[str], list[str], dict]:
    """A flood in ``PHASES`` consecutive phases (flags, port, payload, spoofing and rate change per phase)."""
    steps, victims, spoof_nets, phases = [], [], [], []
    length = seconds / PHASES
    for i in range(PHASES):
        rate = total_rate * rng.choice([1.0, 1.0, 0.5, rng.uniform(0.02, 0.1)])  # sometimes a low-rate phase
        spoof = spoofs[i % len(spoofs)]
        st, victim, opts, params = _flood_phase(rng, kind, bots, length, rate, spoof, v, i, round(i * length, 2))
        steps += st
        phases.append(params)
        if victim not in victims:
            victims.append(victim)
        net = {"subnet": SPOOF_NET, "random": "0.0.0.0/0"}.get(spoof)
        if net and net not in spoof_nets:
            spoof_nets.append(net)
    extra = {}
    if straggler:
        p0 = phases[0]
        step, extra = _straggler(rng, kind, straggler, p0["victim"], p0["port"], _hping_tcp_flags(v, 0) if kind == "tcp" else ["--udp"], seconds)
        steps.append(step)
    params = {"phases": phases, "bots": len(bots), "flags": " / ".join(p["flags"] for p in phases),
              "spoof": " / ".join(p["spoof"] for p in phases), "straggler": extra}
    return steps, victims, spoof_nets, params


def plan_attack(scenario: str, rng: random.Random, seconds: float, scale: float = 1.0, variant: int | None = None) -> AttackPlan:
    """The attack of ``scenario``; ``scale`` multiplies flood rates and request counts (samples use < 1).

    ``variant`` (the run index) picks the systematic variants deterministically so that
    consecutive runs cover them: TCP flag sets, spoofing modes, payload classes, service or
    random ports, HTTP keep-alive, small attackers, Theft session counts.  ``None`` draws
    one from ``rng``.
    """
    cat, sub = SCENARIOS[scenario]
    v = _variant(rng, variant)
    if scenario in ("dos_tcp", "dos_udp", "ddos_tcp", "ddos_udp"):
        ddos = scenario.startswith("ddos")
        straggler = None
        if ddos:
            n = 2 + v % 3  # 2, 3, 4 bots
            bots = rng.sample(ATTACKERS, n)
            if n < 4 and v % 2 == 0:  # a small attacker beside the big ones
                straggler = rng.choice([a for a in ATTACKERS if a not in bots])
            spoofs = [DDOS_SPOOF[(v + i) % 3] for i in range(PHASES)]
        else:
            bots = [rng.choice(ATTACKERS)]
            spoofs = [DOS_SPOOF[(v + i) % len(DOS_SPOOF)] for i in range(PHASES)]
        rate = rng.uniform(800, 3000) * scale
        steps, victims, spoofed, params = _flood(rng, scenario.split("_")[1], bots, seconds, rate, spoofs, v, straggler)
        return AttackPlan(cat, sub, bots + ([straggler] if straggler else []), victims, steps, seconds, spoofed, params)
    if scenario in ("dos_http", "ddos_http"):
        ddos = scenario == "ddos_http"
        bots = rng.sample(ATTACKERS, 2 + v % 3) if ddos else [rng.choice(ATTACKERS)]
        steps, phases = [], []
        length = seconds / PHASES
        for i in range(PHASES):
            keepalive = (v + i) % 2
            threads = [1, 2, 3, 4, 6, 8, 12][(3 * v + i) % 7] if keepalive else rng.randint(2, 12)
            gap = [0.0, 0.0, round(rng.uniform(0.001, 0.02), 4), round(rng.uniform(0.02, 0.2), 3)][(v + 2 * i) % 4]
            count = max(20, int(min(20000 // len(bots) // PHASES, rng.randint(1000, 6000)) * scale))
            for b in bots:
                steps.append(Step(b, _timeout(length + 2, _py("http-flood", host=ip("cam"), port=80, threads=threads, keepalive=keepalive,
                                                             gap=gap, count=count, seed=rng.randint(0, 2**31), duration=round(length, 1))),
                                  delay=round(i * length, 2)))
            phases.append({"threads": threads, "keepalive": keepalive, "gap": gap, "count_per_bot": count})
        attackers = list(bots)
        if ddos and len(bots) < 4 and v % 2 == 1:  # a small attacker: one keep-alive connection, a few paced requests
            extra = rng.choice([a for a in ATTACKERS if a not in bots])
            delay = round(rng.uniform(0, seconds / 2), 2)
            steps.append(Step(extra, _timeout(seconds - delay + 2, _py("http-flood", host=ip("cam"), port=80, threads=1, keepalive=1,
                                                                       gap=round(rng.uniform(0.05, 0.3), 3), count=rng.randint(5, 60),
                                                                       seed=rng.randint(0, 2**31), duration=round(seconds - delay, 1))),
                              delay=delay))
            attackers.append(extra)
            phases.append({"straggler": extra, "delay": delay})
        return AttackPlan(cat, sub, attackers, ["cam"], steps, seconds, [], {"bots": len(bots), "phases": phases})
    if scenario == "service_scan":
        # 2-4 nmap scans (mixed scan types and timing templates) spread over the window
        attacker = rng.choice(ATTACKERS)
        pool = ["cam", "coap", "telnet", "broker", "dns", "cam", "telnet", "sens1"]
        n = rng.randint(2, 4)
        steps, victims, kinds = [], [], []
        for i in range(n):
            targets = rng.sample(pool, rng.randint(1, 2))
            kind = rng.choice(["-sS", "-sT", "-sV", "-sU", "-sS", "-sV"])
            timing = rng.choice(["-T3", "-T4", "-T4", "-T5"])
            if kind == "-sU":
                ports = ["-p", "53,67,68,69,123,161,162,500,1900,5353,5683," + ",".join(str(rng.randint(1000, 40000)) for _ in range(rng.randint(5, 30)))]
                extra = ["--max-retries", "1"]
            elif kind == "-sV":
                ports = rng.choice([["-p", "21-25,53,80,443,1883,5683,8080,8883"], ["--top-ports", str(rng.choice([20, 50, 100]))]])
                extra = ["--version-intensity", str(rng.choice([0, 2, 5])), "--max-retries", "1"]
            else:
                ports = rng.choice([["--top-ports", str(rng.choice([100, 500, 1000]))], ["-p", f"1-{rng.choice([1024, 2048, 5000])}"]])
                if scale < 1:  # small samples: fewer probes
                    ports = ["--top-ports", str(max(20, int(1000 * scale)))]
                extra = ["--max-retries", str(rng.choice([1, 2]))]
            delay = round(i * seconds / n + rng.uniform(0, 0.5), 2)
            left = max(2.0, seconds - delay)
            argv = ["nmap", kind, timing, "-n", *ports, *extra, "--host-timeout", f"{int(left)}s", *[ip(v) for v in targets]]
            steps.append(Step(attacker, _timeout(left + 1, argv), delay=delay))
            victims += [v for v in targets if v not in victims]
            kinds.append(f"{kind} {timing}")
        return AttackPlan(cat, sub, [attacker], victims, steps, seconds, [], {"scans": kinds})
    if scenario == "os_fingerprint":
        attacker = rng.choice(ATTACKERS)
        pool = ["cam", "coap", "telnet", "broker", "dns", "sens1", "client1"]
        n = rng.randint(2, 3)
        steps, victims, opts_used = [], [], []
        for i in range(n):
            targets = rng.sample(pool, rng.randint(1, 2))
            timing = rng.choice(["-T3", "-T4", "-T4", "-T5"])
            opts = rng.choice([[], ["--osscan-guess"], ["--osscan-limit"], ["-p", "22,23,80,1883,8080"], ["-F"]])
            if scale < 1 and "-p" not in opts:  # small samples: fewer probes
                opts = ["-p", "22,23,80,1883,8080"]
            delay = round(i * seconds / n + rng.uniform(0, 0.5), 2)
            left = max(2.0, seconds - delay)
            argv = ["nmap", "-O", timing, "-n", "--max-os-tries", "1", *opts, "--host-timeout", f"{int(left)}s", *[ip(v) for v in targets]]
            steps.append(Step(attacker, _timeout(left + 1, argv), delay=delay))
            victims += [v for v in targets if v not in victims]
            opts_used.append(" ".join([timing, *opts]))
        return AttackPlan(cat, sub, [attacker], victims, steps, seconds, [], {"scans": opts_used})
    if scenario == "keylogging":
        # 2-3 compromised devices, each streaming keystrokes to the attacker's collector(s),
        # over one long session or reconnecting every few seconds
        attacker = rng.choice(ATTACKERS)
        victims = rng.sample(["telnet", "cam", "client1", "client2", "sens1", "sens2", "coap"], 2 + v % 2)
        steps, sessions = [], []
        ports: list[int] = []
        for i, victim in enumerate(victims):
            port = rng.choice([4444, 1337, 8443, 9001, 5555, rng.randint(10000, 60000)])
            if port not in ports:
                ports.append(port)
                steps.append(Step(attacker, _timeout(seconds + 5, _py("collector", port=port)), service=True))
            session_s = [0.0, round(rng.uniform(1, 3), 1), round(rng.uniform(3, 6), 1)][(v + i) % 3]
            delay = round(rng.uniform(0, seconds / 3), 2)
            left = round(seconds - delay, 1)
            steps.append(Step(victim, _timeout(left + 2, _py("keylogger", host=ip(attacker), port=port, seed=rng.randint(0, 2**31),
                                                             duration=left, count=2000, max_batch=rng.choice([1, 2, 4, 8]),
                                                             min_gap=round(rng.uniform(0.02, 0.12), 3), max_gap=round(rng.uniform(0.2, 0.7), 3),
                                                             session_s=session_s)), delay=delay))
            sessions.append({"victim": victim, "port": port, "session_s": session_s, "delay": delay})
        return AttackPlan(cat, sub, [attacker], victims, steps, seconds, [], {"sessions": sessions})
    if scenario == "data_exfiltration":
        # 1-2 compromised devices upload files (one connection per file) by HTTP POST or raw TCP
        attacker = rng.choice(ATTACKERS)
        victims = rng.sample(["telnet", "cam", "client1", "client2", "coap", "sens1"], 1 if v % 3 == 0 else 2)
        steps, uploads = [], []
        used: set[int] = set()
        for i, victim in enumerate(victims):
            mode = ["http", "tcp"][(v + i) % 2]
            port = rng.choice([p for p in ([80, 443, 8080, 21, 4444] if mode == "tcp" else [80, 8080, 8000]) if p not in used])
            used.add(port)
            if mode == "tcp":
                coll = _py("collector", port=port, http_port=0)
            else:
                sink = rng.choice([p for p in range(30000, 40000) if p not in used][:50])
                used.add(sink)
                coll = _py("collector", port=sink, http_port=port)
            steps.append(Step(attacker, _timeout(seconds + 5, coll), service=True))
            small = (v + i) % 3 == 0  # many small files or a few big ones
            files = rng.randint(10, 30) if small else rng.randint(3, 10)
            min_kb, max_kb = (rng.choice([2, 5, 10]), rng.choice([40, 80, 150])) if small else (rng.choice([20, 50, 100]), rng.choice([200, 400, 800]))
            delay = round(rng.uniform(0, seconds / 4), 2)
            left = round(seconds - delay, 1)
            steps.append(Step(victim, _timeout(left + 2, _py("exfil", host=ip(attacker), port=port, mode=mode, seed=rng.randint(0, 2**31),
                                                             duration=left, files=files, min_kb=min_kb, max_kb=max_kb, max_total_kb=3072,
                                                             min_gap=round(rng.uniform(0.05, 0.4), 2), max_gap=round(rng.uniform(0.4, 1.5), 2))),
                              delay=delay))
            uploads.append({"victim": victim, "mode": mode, "port": port, "files": files, "min_kb": min_kb, "max_kb": max_kb})
        return AttackPlan(cat, sub, [attacker], victims, steps, seconds, [], {"uploads": uploads})
    raise ValueError(scenario)


def spoof_contains(cidrs: list[str], addr: str) -> bool:
    try:
        a = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(a in ipaddress.ip_network(c) for c in cidrs)
