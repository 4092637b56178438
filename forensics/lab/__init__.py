"""The lab: labeled IoT captures made by real tools in network namespaces.

``run_lab`` builds hosts (MQTT broker and sensors, HTTP, CoAP-like, DNS-like
and telnet-like devices, clients, attackers) as network namespaces on a
bridge, plays seeded normal traffic plus one BoT-IoT attack (hping3, nmap,
HTTP flood, keylogger, exfiltration), captures on the bridge and writes
``truth.json`` beside ``capture.pcap``.  ``label_flows`` labels a flow table
from that truth.  See the lab section of README.md.
"""

__all__ = ["label_flows", "load_truth", "run_lab", "run_scenario"]


def __getattr__(name):  # imported on first use: the CLI's parser reads the scenario names only
    if name in ("run_lab", "run_scenario"):
        from forensics.lab import runner

        return getattr(runner, name)
    if name in ("label_flows", "load_truth"):
        from forensics.lab import truth

        return getattr(truth, name)
    raise AttributeError(name)
