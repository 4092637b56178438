"""Traffic agents run inside the lab's network namespaces.

Standard library only, run as a script (``python agents.py ROLE --opt ...``)
by :mod:`forensics.lab.topology` through ``ip netns exec``.  Every agent is
bounded in time (``--duration``) and, for generators, in messages or bytes;
each stops by itself.  Servers run until the lab kills them.

Roles
-----
Servers: ``http-server``, ``udp-server`` (CoAP-like and DNS-like answers),
``tcp-service`` (telnet/SSH-like line service), ``collector`` (attacker-side
sink for keylogging and exfiltration uploads).
Normal clients: ``http-poll``, ``coap-client``, ``dns-client``,
``tcp-session`` (long-lived interactive session), ``mqtt-sensor`` (calls
``mosquitto_pub``).
Attack clients: ``http-flood``, ``keylogger``, ``exfil``.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import os
import random
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time


def _sleep_until(deadline: float, seconds: float) -> bool:
    """Sleep ``seconds`` but not past ``deadline``; False when the deadline is reached."""
    now = time.time()
    if now >= deadline:
        return False
    time.sleep(max(0.0, min(seconds, deadline - now)))
    return time.time() < deadline


# --------------------------------------------------------------------------- servers


class _HTTPHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "iot-cam/1.2"
    sys_version = ""

    def log_message(self, *args):  # quiet
        pass

    def _reply(self, body: bytes, ctype: str = "application/json"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        if self.path.startswith("/snapshot"):
            body = os.urandom(random.randint(2000, 12000))
            self._reply(body, "image/jpeg")
        else:
            t = round(18 + random.random() * 8, 2)
            self._reply(f'{{"path": "{self.path}", "temp": {t}, "ts": {time.time():.3f}}}'.encode())

    do_HEAD = do_GET

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        remaining = n
        while remaining > 0:
            chunk = self.rfile.read(min(65536, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
        self._reply(b'{"ok": true}')

    do_PUT = do_POST


class _ThreadingHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True


def http_server(a):
    srv = _ThreadingHTTPServer((a.bind, a.port), _HTTPHandler)
    srv.serve_forever()


def udp_server(a):
    """CoAP-like (``--kind coap``) or DNS-like (``--kind dns``) request/response server."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((a.bind, a.port))
    while True:
        data, peer = sock.recvfrom(65535)
        if not data:
            continue
        if a.kind == "dns":
            if len(data) < 12:
                continue
            qid = data[:2]
            question = data[12:]
            hdr = qid + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0)
            answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([10, 77, 0, random.randint(10, 30)])
            sock.sendto(hdr + question + answer, peer)
        else:
            # CoAP: ver=1, type ACK(2), token length copied; code 2.05 Content
            first = data[0]
            tkl = first & 0x0F
            mid = data[2:4] if len(data) >= 4 else b"\x00\x00"
            token = data[4 : 4 + tkl]
            payload = f'{{"t":{round(20 + random.random() * 5, 2)},"h":{random.randint(30, 60)}}}'.encode()
            sock.sendto(bytes([0x60 | tkl, 0x45]) + mid + token + b"\xff" + payload, peer)


class _LineHandler(socketserver.StreamRequestHandler):
    def handle(self):
        try:
            self.wfile.write(b"BusyBox v1.31 built-in shell (ash)\r\nlogin: ")
            while True:
                line = self.rfile.readline(4096)
                if not line:
                    break
                cmd = line.strip()
                if cmd in (b"exit", b"quit"):
                    self.wfile.write(b"bye\r\n")
                    break
                self.wfile.write(b"# " + cmd[:64] + b"\r\nok " + str(random.randint(0, 999)).encode() + b"\r\n# ")
        except OSError:
            pass


class _ThreadingTCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def tcp_service(a):
    _ThreadingTCPServer((a.bind, a.port), _LineHandler).serve_forever()


class _SinkHandler(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            while self.request.recv(65536):
                pass
        except OSError:
            pass


def collector(a):
    """Attacker-side sink: raw TCP (keystrokes) and HTTP uploads on ``--http-port``."""
    t = threading.Thread(target=_ThreadingTCPServer((a.bind, a.port), _SinkHandler).serve_forever, daemon=True)
    t.start()
    if a.http_port:
        _ThreadingHTTPServer((a.bind, a.http_port), _HTTPHandler).serve_forever()
    else:
        t.join()


# --------------------------------------------------------------------------- normal clients


def http_poll(a):
    rng = random.Random(a.seed)
    deadline = time.time() + a.duration
    paths = ["/status", "/api/v1/sensors", "/snapshot.jpg", "/config", "/api/v1/events"]
    conn = None
    while time.time() < deadline:
        try:
            if conn is None or rng.random() < 0.3:  # sometimes a fresh connection
                if conn is not None:
                    conn.close()
                conn = http.client.HTTPConnection(a.host, a.port, timeout=3)
            conn.request("GET", rng.choice(paths), headers={"User-Agent": "iot-dashboard/2.1"})
            conn.getresponse().read()
        except (OSError, http.client.HTTPException):
            conn = None
        if not _sleep_until(deadline, rng.uniform(a.min_gap, a.max_gap)):
            break
    if conn is not None:
        conn.close()


def coap_client(a):
    rng = random.Random(a.seed)
    deadline = time.time() + a.duration
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(1.0)
    mid = rng.randint(0, 65535)
    while time.time() < deadline:
        mid = (mid + 1) & 0xFFFF
        token = os.urandom(2)
        path = rng.choice([b"temp", b"humidity", b"light", b"door"])
        # CON GET, Uri-Path option (delta 11)
        msg = bytes([0x42, 0x01]) + struct.pack("!H", mid) + token + bytes([0xB0 | len(path)]) + path
        try:
            sock.sendto(msg, (a.host, a.port))
            sock.recvfrom(2048)
        except OSError:
            pass
        if not _sleep_until(deadline, rng.uniform(a.min_gap, a.max_gap)):
            break


def dns_client(a):
    rng = random.Random(a.seed)
    deadline = time.time() + a.duration
    names = ["broker.lab", "cam.lab", "ntp.lab", "update.vendor.lab", "api.cloud.lab", "time.lab"]
    while time.time() < deadline:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # new source port per query
        sock.settimeout(1.0)
        qname = b"".join(bytes([len(p)]) + p.encode() for p in rng.choice(names).split(".")) + b"\x00"
        q = struct.pack("!HHHHHH", rng.randint(0, 65535), 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", 1, 1)
        try:
            sock.sendto(q, (a.host, a.port))
            sock.recvfrom(2048)
        except OSError:
            pass
        sock.close()
        if not _sleep_until(deadline, rng.uniform(a.min_gap, a.max_gap)):
            break


def tcp_session(a):
    """A long-lived interactive session: short commands at human pace."""
    rng = random.Random(a.seed)
    deadline = time.time() + a.duration
    cmds = [b"uptime", b"cat /proc/loadavg", b"ls /etc", b"ifconfig", b"ps", b"df -h", b"free"]
    try:
        s = socket.create_connection((a.host, a.port), timeout=5)
        s.settimeout(2)
        s.recv(1024)
        s.sendall(b"admin\r\n")
        while _sleep_until(deadline, rng.uniform(a.min_gap, a.max_gap)):
            s.sendall(rng.choice(cmds) + b"\r\n")
            try:
                s.recv(4096)
            except socket.timeout:
                pass
        s.sendall(b"exit\r\n")
        s.close()
    except OSError:
        pass


def mqtt_sensor(a):
    """Publish readings with ``mosquitto_pub`` (one short MQTT connection per reading)."""
    rng = random.Random(a.seed)
    deadline = time.time() + a.duration
    while time.time() < deadline:
        value = round(rng.uniform(a.low, a.high), 2)
        cmd = ["mosquitto_pub", "-h", a.host, "-p", str(a.port), "-t", a.topic, "-q", str(rng.choice([0, 0, 1])),
               "-m", f'{{"value": {value}, "ts": {time.time():.1f}}}', "-i", f"{a.topic.replace('/', '-')}-{rng.randint(0, 9999)}"]
        try:
            subprocess.run(cmd, timeout=5, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if not _sleep_until(deadline, rng.uniform(a.min_gap, a.max_gap)):
            break


# --------------------------------------------------------------------------- attack clients


def http_flood(a):
    """HTTP GET flood: ``--threads`` workers, at most ``--count`` requests, ``--duration`` seconds."""
    rng = random.Random(a.seed)
    deadline = time.time() + a.duration
    lock = threading.Lock()
    sent = [0]
    paths = ["/", "/index.html", "/status", "/api/v1/sensors", "/login", "/snapshot.jpg"]
    agents = ["Mozilla/5.0", "curl/7.88.1", "python-requests/2.31", "Wget/1.21"]

    def worker(seed):
        r = random.Random(seed)
        conn = None
        while time.time() < deadline:
            with lock:
                if sent[0] >= a.count:
                    break
                sent[0] += 1
            try:
                if conn is None or not a.keepalive:
                    if conn is not None:
                        conn.close()
                    conn = http.client.HTTPConnection(a.host, a.port, timeout=2)
                conn.request("GET", r.choice(paths) + f"?r={r.randint(0, 1 << 30)}", headers={"User-Agent": r.choice(agents)})
                conn.getresponse().read()
            except (OSError, http.client.HTTPException):
                conn = None
            if a.gap:
                time.sleep(r.uniform(0, 2 * a.gap))
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker, args=(rng.random(),), daemon=True) for _ in range(a.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.time()) + 1)


def keylogger(a):
    """Compromised device streaming keystroke-sized messages to a collector.

    One long session, or (``--session-s S`` > 0) a new session every S/2..S seconds
    (the implant reconnecting), until ``--count`` messages or ``--duration``.
    """
    rng = random.Random(a.seed)
    deadline = time.time() + a.duration
    text = "admin\npassword123\nssh root@10.77.0.22\nsudo cat /etc/shadow\nwifi: IoT-Home / s3cret!\n"
    i = 0
    sent = 0
    while sent < a.count and time.time() < deadline:
        session_end = deadline if a.session_s <= 0 else min(deadline, time.time() + rng.uniform(a.session_s / 2, a.session_s))
        try:
            s = socket.create_connection((a.host, a.port), timeout=5)
            while sent < a.count and time.time() < session_end:
                n = rng.randint(1, a.max_batch)
                chunk = text[i % len(text) : i % len(text) + n] or text[:n]
                i += n
                s.sendall(chunk.encode())
                sent += 1
                if not _sleep_until(session_end, rng.uniform(a.min_gap, a.max_gap)):
                    break
            s.close()
        except OSError:
            if not _sleep_until(deadline, 0.5):
                break
        if a.session_s <= 0 or not _sleep_until(deadline, rng.uniform(0.1, 1.0)):
            break


def exfil(a):
    """Upload ``--files`` random files (sizes in [min_kb, max_kb]) to the attacker, HTTP POST or raw TCP."""
    rng = random.Random(a.seed)
    deadline = time.time() + a.duration
    total = 0
    for k in range(a.files):
        if time.time() >= deadline or total >= a.max_total_kb * 1024:
            break
        size = rng.randint(a.min_kb, a.max_kb) * 1024
        body = os.urandom(size)
        try:
            if a.mode == "http":
                conn = http.client.HTTPConnection(a.host, a.port, timeout=5)
                conn.request("POST", f"/upload/{k}.bin", body=body, headers={"Content-Type": "application/octet-stream"})
                conn.getresponse().read()
                conn.close()
            else:
                s = socket.create_connection((a.host, a.port), timeout=5)
                s.sendall(f"FILE {k}.bin {size}\n".encode() + body)
                s.close()
        except (OSError, http.client.HTTPException):
            pass
        total += size
        if not _sleep_until(deadline, rng.uniform(a.min_gap, a.max_gap)):
            break


# --------------------------------------------------------------------------- CLI

ROLES = {
    "http-server": http_server,
    "udp-server": udp_server,
    "tcp-service": tcp_service,
    "collector": collector,
    "http-poll": http_poll,
    "coap-client": coap_client,
    "dns-client": dns_client,
    "tcp-session": tcp_session,
    "mqtt-sensor": mqtt_sensor,
    "http-flood": http_flood,
    "keylogger": keylogger,
    "exfil": exfil,
}


def main(argv=None):
    p = argparse.ArgumentParser(prog="agents")
    p.add_argument("role", choices=sorted(ROLES))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--bind", default="0.0.0.0")
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--http-port", type=int, default=0)
    p.add_argument("--kind", default="coap")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--min-gap", type=float, default=0.5)
    p.add_argument("--max-gap", type=float, default=2.0)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--gap", type=float, default=0.0)
    p.add_argument("--keepalive", type=int, default=0)
    p.add_argument("--max-batch", type=int, default=4)
    p.add_argument("--session-s", type=float, default=0.0)
    p.add_argument("--files", type=int, default=3)
    p.add_argument("--min-kb", type=int, default=50)
    p.add_argument("--max-kb", type=int, default=300)
    p.add_argument("--max-total-kb", type=int, default=4096)
    p.add_argument("--mode", default="http")
    p.add_argument("--topic", default="home/sensor")
    p.add_argument("--low", type=float, default=0.0)
    p.add_argument("--high", type=float, default=100.0)
    a = p.parse_args(argv)
    try:
        ROLES[a.role](a)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
