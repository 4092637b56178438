"""Application-layer detail of flagged flows, read with pyshark (tshark).

For every capture that holds an incident, tshark is run once with a display
filter that keeps only HTTP requests, DNS queries and MQTT messages to or from
that capture's attackers; each packet is then attributed to the incidents
whose attacker/victim pair it belongs to.  Bounded: ``config.app_detail_items``
distinct items per incident and kind, ``config.app_detail_seconds`` for the
whole step (tshark is stopped when the budget runs out, and the report says
so).  The strings come from the capture: the HTML renderer escapes them.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections import Counter, defaultdict

from forensics.report.model import Report, endpoint_key

DNS_TYPES = {"1": "A", "2": "NS", "5": "CNAME", "6": "SOA", "12": "PTR", "15": "MX", "16": "TXT", "28": "AAAA", "33": "SRV", "255": "ANY"}

TSHARK_COMPRESSION = (None, "gzip")  # what tshark 4.0 opens directly


def _addr_filter(ips) -> str:
    parts = []
    for ip in sorted(ips):
        try:
            a = ipaddress.ip_address(ip)
        except ValueError:
            continue
        parts.append(f"{'ip' if a.version == 4 else 'ipv6'}.addr == {a.compressed}")
    return " or ".join(parts)


def _get(layer, *names, default=""):
    for n in names:
        try:
            v = layer.get_field_value(n)
        except Exception:
            v = None
        if v is not None and v != "":
            return str(v)
    return default


def attach_app_detail(report: Report, config) -> None:
    try:
        import pyshark
    except ImportError:  # pragma: no cover - pyshark is a dependency
        return
    budget_end = time.monotonic() + float(config.app_detail_seconds)
    limit = int(config.app_detail_items)
    inputs = {i.path: i for i in report.inputs}
    per_capture: dict[str, list] = defaultdict(list)
    for inc in report.incidents:
        for c in inc.captures:
            per_capture[c].append(inc)
    # accumulators per incident
    http: dict[int, list] = defaultdict(list)
    dns: dict[int, Counter] = defaultdict(Counter)
    dns_type: dict[tuple, str] = {}
    mqtt: dict[int, Counter] = defaultdict(Counter)
    notes: dict[int, list[str]] = defaultdict(list)
    logging.getLogger("pyshark").setLevel(logging.CRITICAL)

    for path, incs in sorted(per_capture.items()):
        inp = inputs.get(path)
        if inp is not None and inp.compression not in TSHARK_COMPRESSION:
            for inc in incs:
                notes[inc.id].append(f"{inp.compression}-compressed capture: application-layer detail not read")
            continue
        remaining = budget_end - time.monotonic()
        if remaining <= 0.5:
            for inc in incs:
                notes[inc.id].append("application-layer detail skipped: time budget spent")
            continue
        pairs: dict[frozenset, list] = defaultdict(list)
        for inc in incs:
            for v in inc.victims:
                pairs[frozenset((inc.attacker, v))].append(inc)
        flt = f"(http.request or (dns and dns.flags.response == 0) or mqtt.topic) and ({_addr_filter({i.attacker for i in incs})})"

        def on_packet(pkt):
            try:
                net = pkt.ip if hasattr(pkt, "ip") else pkt.ipv6
                src, dst = str(net.src), str(net.dst)
            except AttributeError:
                return
            try:
                src, dst = ipaddress.ip_address(src).compressed, ipaddress.ip_address(dst).compressed
            except ValueError:
                pass
            targets = pairs.get(frozenset((src, dst)), [])
            if not targets:
                return
            ts = float(pkt.sniff_timestamp)
            l4 = getattr(pkt, "tcp", None) or getattr(pkt, "udp", None)
            key = None
            if l4 is not None:
                try:
                    key = endpoint_key(src, int(l4.srcport), dst, int(l4.dstport))
                except (AttributeError, ValueError):
                    key = None
            for inc in targets:
                if not (inc.start - 1 <= ts <= inc.end + 1):
                    continue
                if inc.flow_keys is not None and key not in inc.flow_keys:
                    continue
                if hasattr(pkt, "http") and len(http[inc.id]) < limit:
                    h = pkt.http
                    method = _get(h, "request_method")
                    if method:
                        http[inc.id].append(
                            {
                                "time": ts,
                                "src": src,
                                "method": method,
                                "host": _get(h, "host"),
                                "uri": _get(h, "request_uri"),
                                "user_agent": _get(h, "user_agent"),
                            }
                        )
                if hasattr(pkt, "dns"):
                    name = _get(pkt.dns, "qry_name")
                    if name and (name in dns[inc.id] or len(dns[inc.id]) < limit):
                        dns[inc.id][name] += 1
                        qt = _get(pkt.dns, "qry_type", default="?")
                        dns_type.setdefault((inc.id, name), DNS_TYPES.get(qt, qt))
                if hasattr(pkt, "mqtt"):
                    topic = _get(pkt.mqtt, "topic")
                    kind = {"3": "publish", "8": "subscribe", "10": "unsubscribe"}.get(_get(pkt.mqtt, "msgtype"), "message")
                    key = (topic, kind)
                    if topic and (key in mqtt[inc.id] or len(mqtt[inc.id]) < limit):
                        mqtt[inc.id][key] += 1

        cap = None
        try:
            cap = pyshark.FileCapture(path, display_filter=flt, keep_packets=False)
            cap.apply_on_packets(on_packet, timeout=max(0.5, remaining))
        except Exception as exc:  # TimeoutError, tshark failures: detail is best effort
            name = type(exc).__name__
            msg = "stopped: time budget spent" if "Timeout" in name else f"tshark could not read this capture ({name})"
            for inc in incs:
                notes[inc.id].append(f"application-layer detail {msg}")
        finally:
            if cap is not None:
                try:
                    cap.close()
                except Exception:
                    pass

    for inc in report.incidents:
        d = {
            "http": http.get(inc.id, []),
            "dns": [{"name": n, "count": c, "qtype": dns_type.get((inc.id, n), "?")} for n, c in sorted(dns.get(inc.id, Counter()).items(), key=lambda kv: (-kv[1], kv[0]))],
            "mqtt": [{"topic": t, "kind": k, "count": c} for (t, k), c in sorted(mqtt.get(inc.id, Counter()).items(), key=lambda kv: (-kv[1], kv[0]))],
            "note": "; ".join(dict.fromkeys(notes.get(inc.id, []))),
        }
        if any(d[k] for k in ("http", "dns", "mqtt")) and (len(d["http"]) >= limit or len(d["dns"]) >= limit or len(d["mqtt"]) >= limit):
            d["note"] = (d["note"] + "; " if d["note"] else "") + f"first {limit} items per kind shown"
        if any(d.values()):
            inc.app_detail = d
