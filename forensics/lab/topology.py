"""Network namespaces, a bridge, a capture point, and guaranteed teardown.

Layout: every host is a network namespace ``<prefix>-<host>`` with one
interface ``eth0`` carrying a /24 lab address and *no other route* (no
default route, forwarding off, IPv6 off).  Its veth peer ``p-<host>`` sits in
the switch namespace ``<prefix>-sw`` as a port of bridge ``br0``; tcpdump on
``br0`` (promiscuous) records every frame crossing the switch.  Nothing is
created in the caller's namespace, so deleting the namespaces removes every
link.  The prefix carries the PID (``fx<pid>r<n>``) so parallel labs never
collide.

Every process is started in its own session (process group) and recorded
with its PID in ``state_path``; :meth:`Lab.teardown` stops them by PID
(SIGTERM, then SIGKILL), kills anything still inside a lab namespace, and
deletes the namespaces.  It is idempotent and is called from ``finally`` and
``atexit``; :func:`signals_as_interrupts` turns SIGTERM/SIGHUP into
``KeyboardInterrupt`` so the ``finally`` runs on them too.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from forensics.errors import ForensicsError

NS_RE = re.compile(r"^fx(\d+)r\d+-")


class LabError(ForensicsError):
    """The lab cannot run here (not root, no ip netns, a tool missing, a setup command failed)."""


def _run(argv: list[str], check: bool = True, timeout: float = 20, input: str | None = None) -> subprocess.CompletedProcess:
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input)
    except FileNotFoundError as exc:
        raise LabError(f"{argv[0]}: not found ({exc.strerror})") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"{shlex.join(argv)}: timed out after {timeout} s") from None
    if check and res.returncode != 0:
        msg = (res.stderr or res.stdout).strip().splitlines()
        raise LabError(f"{shlex.join(argv[:8])}: failed ({msg[-1] if msg else 'exit ' + str(res.returncode)})")
    return res


def list_namespaces() -> list[str]:
    res = _run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in res.stdout.splitlines() if line.strip()]


def netns_inode(name: str) -> int | None:
    try:
        return os.stat(f"/run/netns/{name}").st_ino
    except OSError:
        return None


def pids_in_netns(inodes: set[int]) -> list[int]:
    """PIDs of live processes whose network namespace is one of ``inodes``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            link = os.readlink(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        m = re.match(r"net:\[(\d+)\]", link)
        if m and int(m.group(1)) in inodes:
            found.append(int(entry))
    return found


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_stale(log=None) -> list[str]:
    """Delete lab namespaces left by a lab process that no longer exists (e.g. SIGKILLed)."""
    removed = []
    for ns in list_namespaces():
        m = NS_RE.match(ns)
        if not m or _pid_alive(int(m.group(1))):
            continue
        ino = netns_inode(ns)
        if ino is not None:
            for pid in pids_in_netns({ino}):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        _run(["ip", "netns", "del", ns], check=False)
        removed.append(ns)
        if log:
            log(f"removed stale namespace {ns}")
    return removed


def check_environment(tools: tuple[str, ...] = ("ip", "tcpdump", "hping3", "nmap", "mosquitto", "mosquitto_pub", "mosquitto_sub", "timeout")) -> None:
    """Raise :class:`LabError` naming what is missing (root, ip netns, a tool)."""
    import shutil

    if os.geteuid() != 0:
        raise LabError("lab: needs root (network namespaces, raw sockets); run as root")
    missing = [t for t in tools if shutil.which(t) is None and not Path("/usr/sbin", t).exists()]
    if missing:
        raise LabError(f"lab: missing tools: {', '.join(missing)} (Debian: iproute2 tcpdump hping3 nmap mosquitto mosquitto-clients)")
    res = _run(["ip", "netns", "list"], check=False)
    if res.returncode != 0:
        raise LabError(f"lab: 'ip netns' unavailable ({res.stderr.strip()})")


@dataclass
class Host:
    name: str
    ip: str
    role: str
    ns: str
    mac: str


class _Interrupt(KeyboardInterrupt):
    pass


@contextlib.contextmanager
def signals_as_interrupts():
    """Inside the block SIGTERM and SIGHUP raise KeyboardInterrupt (so ``finally`` runs)."""

    def handler(signum, frame):
        raise _Interrupt(f"signal {signum}")

    old = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            old[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread
            pass
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


@dataclass
class Lab:
    """One lab instance: hosts on a bridge, processes, capture, teardown."""

    prefix: str
    subnet: str = "10.77.0"
    log_path: Path | None = None
    state_path: Path | None = None
    hosts: dict[str, Host] = field(default_factory=dict)
    namespaces: list[str] = field(default_factory=list)
    procs: list[tuple[str, subprocess.Popen, str]] = field(default_factory=list)
    _torn_down: bool = False
    _logf: object = None

    @property
    def switch_ns(self) -> str:
        return f"{self.prefix}-sw"

    # ------------------------------------------------------------ state / logs
    def _log(self, msg: str) -> None:
        if self._logf is None and self.log_path is not None:
            self._logf = open(self.log_path, "a", buffering=1)
        if self._logf is not None:
            self._logf.write(f"{time.time():.3f} {msg}\n")

    def _save_state(self) -> None:
        if self.state_path is None:
            return
        state = {
            "prefix": self.prefix,
            "namespaces": self.namespaces,
            "netns_inodes": {ns: netns_inode(ns) for ns in self.namespaces},
            "pids": [p.pid for _, p, _ in self.procs],
            "links": [f"p-{h}" for h in self.hosts] + ["br0"],
            "torn_down": self._torn_down,
        }
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(self.state_path)

    # ------------------------------------------------------------ build
    def _ns_add(self, ns: str) -> None:
        self.namespaces.append(ns)  # record first: teardown deletes even half-made ones
        _run(["ip", "netns", "add", ns])
        self._save_state()

    def create(self, hosts: list[tuple[str, str, str]]) -> None:
        """Create the switch and ``hosts`` = [(name, last octet or ip, role)]."""
        atexit.register(self.teardown)
        sw = self.switch_ns
        self._ns_add(sw)
        batch = [f"link set lo up", "link add br0 type bridge stp_state 0 forward_delay 0", "link set br0 up"]
        for i, (name, ip, role) in enumerate(hosts):
            if len(f"p-{name}") > 15:
                raise LabError(f"lab: host name too long: {name}")
            ns = f"{self.prefix}-{name}"
            full_ip = ip if "." in ip else f"{self.subnet}.{ip}"
            mac = "02:1a:%02x:%02x:%02x:%02x" % tuple(int(x) for x in full_ip.split("."))
            self.hosts[name] = Host(name, full_ip, role, ns, mac)
            self._ns_add(ns)
            batch += [
                f"link add p-{name} type veth peer name eth0 netns {ns}",
                f"link set p-{name} master br0 up",
            ]
        _run(["ip", "-n", sw, "-batch", "-"], input="\n".join(batch) + "\n")
        sysctl_off = "sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 net.ipv4.ip_forward=0 2>/dev/null; true"
        _run(["ip", "netns", "exec", sw, "sh", "-c", sysctl_off])
        for h in self.hosts.values():
            _run(["ip", "netns", "exec", h.ns, "sh", "-c", sysctl_off])
            _run(
                ["ip", "-n", h.ns, "-batch", "-"],
                # gso_max_segs 1: the stack sends MTU-sized segments, as on a real wire (else the
                # veth carries 64 KB TSO super-frames and the capture shows them as single packets).
                input=(f"link set lo up\nlink set eth0 address {h.mac}\nlink set eth0 gso_max_segs 1\n"
                       f"addr add {h.ip}/24 dev eth0\nlink set eth0 up\n"),
            )
        # Guard: no host may have any route beyond the lab subnet.
        for h in self.hosts.values():
            routes = _run(["ip", "-n", h.ns, "-4", "route", "show"]).stdout
            for line in routes.splitlines():
                if not line.startswith(f"{self.subnet}.0/24"):
                    raise LabError(f"lab: unexpected route in {h.ns}: {line}")
        self._log(f"created {len(self.namespaces)} namespaces: {' '.join(self.namespaces)}")
        self._save_state()

    def ip(self, name: str) -> str:
        return self.hosts[name].ip

    # ------------------------------------------------------------ processes
    def spawn(self, host: str, argv: list[str], label: str = "", out: Path | None = None) -> subprocess.Popen:
        ns = self.switch_ns if host == "sw" else self.hosts[host].ns
        cmd = ["ip", "netns", "exec", ns] + [str(a) for a in argv]
        stdout = open(out, "ab") if out else self._logf_binary()
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            if stdout is not subprocess.DEVNULL:
                stdout.close()  # the child has its own copy
        self.procs.append((host, proc, label or argv[0]))
        self._log(f"spawn pid={proc.pid} host={host} {shlex.join(cmd[4:])}")
        self._save_state()
        return proc

    def _logf_binary(self):
        if self.log_path is None:
            return subprocess.DEVNULL
        return open(self.log_path, "ab")

    def stop(self, proc: subprocess.Popen, sig: int = signal.SIGTERM, wait: float = 3.0) -> None:
        """Stop one started process (its whole process group) by PID."""
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(2)

    # ------------------------------------------------------------ teardown
    def teardown(self) -> None:
        """Stop every started process and delete every namespace; signals are held off meanwhile."""
        if self._torn_down:
            return
        self._torn_down = True
        held = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                held[sig] = signal.signal(sig, signal.SIG_IGN)
        try:
            self._teardown()
        finally:
            for sig, h in held.items():
                signal.signal(sig, h)

    def _teardown(self) -> None:
        inodes = {i for i in (netns_inode(ns) for ns in self.namespaces) if i is not None}
        live = [p for _, p, _ in self.procs if p.poll() is None]
        for p in live:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.time() + 3
        for p in live:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(max(0.05, deadline - time.time()))
        for p in live:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(2)
        # Anything still running inside one of our namespaces was started by us (a grandchild
        # that left its group): kill it by PID before deleting the namespace.
        for _ in range(3):
            stray = pids_in_netns(inodes) if inodes else []
            if not stray:
                break
            for pid in stray:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        for ns in reversed(self.namespaces):
            _run(["ip", "netns", "del", ns], check=False)
        left = [ns for ns in list_namespaces() if ns in self.namespaces]
        self._log(f"teardown done; namespaces left: {left}")
        self._save_state()
        if self._logf is not None:
            self._logf.close()
            self._logf = None
        with contextlib.suppress(Exception):
            atexit.unregister(self.teardown)
        if left:
            print(f"forensics lab: warning: could not delete namespaces {left}", file=sys.stderr)
