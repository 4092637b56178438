"""Inference API: flows in, per-flow verdicts out.

    det = load_detector()                 # bundled model (forensics.resources.model_dir())
    out = det.predict(flows)              # same index as flows
    out.columns == ["pred_category", "pred_subcategory", "confidence", "pred_attack", "evidence"]

The model folder holds ``weights.safetensors`` (no pickle anywhere) and
``model.json`` (architecture, window spec, feature list, scaler, classes,
version, sha256 of the weights).  A weights file whose sha256 does not match is
refused with :class:`forensics.errors.ModelError`.

Identical windows (floods make many) go through the network once; results are
mapped back to every flow.  ``evidence`` names the input features with the
largest gradient x input for the predicted category, for attack verdicts only.
After the model, :func:`forensics.refine.refine_flows` looks at the whole input: a flow
called DoS while another host (by MAC address) floods the same victim at the same time
becomes DDoS (its evidence says so; without MAC addresses nothing changes), flows called DoS
or DDoS that one attacker sends to 64 or more victims, none of which gets 50 packets of them,
become Reconnaissance/Service_Scan (a sweep, :mod:`forensics.sweep`), other flows called DoS
or DDoS whose victim gets fewer than 50 packets of them in the capture, flows called
Keylogging that two hosts exchange within less than 1 s, and flows called Reconnaissance whose
attacker reaches fewer than 3 targets, become Normal (:mod:`forensics.toolittle`),
a flow called Normal that its sender sends to the port it floods, while it floods it, takes the flood's verdict
(:mod:`forensics.sameflood`), and an ARP flow
takes the verdict of the attack between its two hosts, or Normal (:mod:`forensics.arp`).
Flows of non-IP frames (keyed by MAC address, as Argus keys them) are never shown to the model,
which was trained on IP and ARP flows only: they come out ``Normal`` with no confidence and an
evidence string that says so (:data:`LINK_LAYER_EVIDENCE`).

Two inference engines give the same results (verdicts and evidence identical and
``confidence`` within 2.5e-6 on the 6 samples, 24 lab captures and the 1 M-packet
bench capture, 296,160 flows; ``python bench/engines.py``; tests use 1e-5):

* ``engine="numpy"`` (the default on CPU): :mod:`forensics.npengine`, the forward
  pass and the explanation gradient written by hand in numpy (float32, vectorised
  over the batch; batches in Python threads with OpenBLAS held to one thread).
  Loading reads the weights with ``safetensors.numpy``;
  torch is never imported, which saves 2.5-3.3 s per process (each scan worker).
  It supports the bundled kind ``cnn_lstm``; other kinds load with torch.
* ``engine="torch"``: the :class:`forensics.model.Detector` module (autograd for the
  explanations); used for ``device="cuda"`` and when asked for on CPU.

    det = load_detector(engine="torch")   # or device="cuda" (always torch)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from forensics.ddos import EVIDENCE as DDOS_EVIDENCE
from forensics.ddos import EVIDENCE_LONE as DOS_EVIDENCE
from forensics.backscatter import EVIDENCE as BACKSCATTER_EVIDENCE
from forensics.refine import allowed_mask, refine_flows
from forensics.errors import ModelError
from forensics.schema import link_layer_rows
from forensics.sequences import (CHANNELS, CONTEXT_FEATURES, FLOW_FEATURES, Windows, WindowSpec, build_windows,
                                 check_columns)

FORMAT = "forensics-detector/1"
WEIGHTS = "weights.safetensors"
META = "model.json"
OUTPUT_COLUMNS = ["pred_category", "pred_subcategory", "confidence", "pred_attack", "evidence", "unfamiliar"]

_READABLE = {
    "log_pkts": "packets", "log_bytes": "bytes", "log_spkts": "source packets", "log_dpkts": "destination packets",
    "log_sbytes": "source bytes", "log_dbytes": "destination bytes", "log_dur": "duration", "log_mean": "mean record duration",
    "log_stddev": "stddev of record durations", "log_sum": "total record duration", "log_min": "min record duration",
    "log_max": "max record duration", "log_rate": "packet rate", "log_srate": "source packet rate",
    "log_drate": "destination packet rate", "log_sbytes_per_pkt": "source bytes/packet",
    "log_dbytes_per_pkt": "destination bytes/packet", "dpkts_frac": "share of reply packets",
    "dbytes_frac": "share of reply bytes", "records": "Argus records", "valid": "number of flows",
    "svc_log_flows": "flows to the service", "svc_log_srcs": "sources of the service",
    "svc_src_share": "source's share of the service", "svc_top_share": "top source's share of the service",
    "dst_log_srcs": "sources of the destination", "dst_src_share": "source's share of the destination",
    "dst_top_share": "top source's share of the destination",
    "anchor": "position", "log_ms_from_anchor": "time offset", "log_ms_gap": "inter-arrival time",
}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_PROFILE = {"log_flows": "flow count", "log_peers": "peer count", "log_dports": "distinct ports",
            "frac_tcp": "TCP share", "frac_udp": "UDP share", "frac_icmp": "ICMP share",
            "frac_REQ": "unanswered-SYN share", "frac_RST": "reset share", "frac_CON": "CON share",
            "frac_INT": "no-reply share", "frac_FIN": "FIN share", "frac_ECO": "ICMP echo share",
            "frac_one_pkt": "one-packet share", "mean_log_bytes_per_pkt": "bytes/packet",
            "log_n_icmp": "ICMP flows", "log_n_udp": "UDP flows", "log_n_tcp": "TCP flows"}
for _k, _v in _PROFILE.items():
    _READABLE[f"srcprof_{_k}"] = f"{_v} of the source host"
    _READABLE[f"dstprof_{_k}"] = f"{_v} of the destination host"


def _describe(channel: str, direction: float) -> str:
    side, feat = channel.split(".", 1)
    where = "same-source flows" if side == "src" else "same-destination flows"
    if feat == "same_peer":
        text = f"{where} {'sharing' if direction > 0 else 'not sharing'} the {'destination' if side == 'src' else 'source'}"
        return text
    if feat in ("same_dport", "same_sport"):
        port = "destination port" if feat == "same_dport" else "source port"
        return f"{where} {'on the same' if direction > 0 else 'on different'} {port}s"
    if feat.startswith(("proto_", "state_", "dport_", "sport_")) and feat != "sport_eq_dport":
        kind, val = feat.split("_", 1)
        return f"{where}: {kind} {val}{'' if direction > 0 else ' (absent)'}"
    name = _READABLE.get(feat, feat)
    return f"{where}: {'high' if direction > 0 else 'low'} {name}"


class Detector:
    """A loaded model.  ``predict(flows)`` is the whole API."""

    def __init__(self, model, meta: dict, sha256: str, device: str = "cpu", engine: str | None = None):
        from forensics.npengine import NumpyNet

        self.model = model  # a torch module (engine "torch") or a forensics.npengine.NumpyNet
        self.engine = engine or ("numpy" if isinstance(model, NumpyNet) else "torch")
        if (self.engine == "numpy") != isinstance(model, NumpyNet):
            raise ValueError(f"engine {self.engine!r} does not match the model object {type(model).__name__}")
        self.meta = meta
        self.sha256 = sha256
        self.version = str(meta["version"])
        self.categories = list(meta["categories"])
        self.subcategories = list(meta["subcategories"])
        self.classes = self.categories
        self.allowed = {c: list(s) for c, s in meta["allowed"].items()}
        self.spec = WindowSpec(steps=int(meta["window"]["steps"]), past=int(meta["window"]["past"]))
        self.device = device
        self.mean = np.asarray(meta["scaler"]["mean"], np.float32)
        self.std = np.asarray(meta["scaler"]["std"], np.float32)
        self.batch = 4096  # windows per model call (small batches stay in cache)
        self.threads = None  # numpy engine: Python threads running batches (None: OMP_NUM_THREADS or CPUs)
        if self.engine == "numpy":
            self.batch = 2048  # measured: a little faster than 4096 with numpy (temporaries stay in cache)
        elif str(device).startswith("cuda"):
            self.batch = 1 << 17  # a GPU wants large calls (launch overhead); ~50 MB of activations each
        self.clip = float(meta["scaler"].get("clip", 1e9))
        # the training windows' range per channel (model.json "ranges"; older bundles lack it)
        r = meta.get("ranges")
        self.ranges = None
        self.sub_ranges = {}  # subcategory -> (lo, hi, tolerance) over its training windows
        if r:
            self.ranges = (np.asarray(r["lo"], np.float32), np.asarray(r["hi"], np.float32),
                           np.float32(r.get("tolerance_std", 1.0)) * self.std)
            tol = np.float32(r.get("verdict_tolerance_std", 2.0)) * self.std
            for name, sr in (r.get("subcategories") or {}).items():
                self.sub_ranges[name] = (np.asarray(sr["lo"], np.float32), np.asarray(sr["hi"], np.float32), tol)
        self._mask = allowed_mask(self.categories, self.subcategories, self.allowed)
        self._normal = self.categories.index("Normal") if "Normal" in self.categories else -1

    def _plan(self, w: Windows):
        if self.engine == "numpy":
            from forensics.npengine import NumpyPlan

            return NumpyPlan(self, w)
        return _Plan(self, w)

    # -- core -------------------------------------------------------------------------------
    def predict_windows(self, x) -> tuple[np.ndarray, np.ndarray]:
        """Softmax probabilities (category (U, n_cat), subcategory (U, n_sub)) for windows ``x``:
        a (U, T, C) array, or a :class:`forensics.sequences.Windows` (then the per-step Linear is
        applied once per distinct flow row and per context vector, never to a (U, T, C) array:
        the same maths, summed in another order)."""
        if isinstance(x, Windows):
            plan = self._plan(x)
        elif self.engine == "numpy":
            from forensics.npengine import NumpyDensePlan

            plan = NumpyDensePlan(self, x)
        else:
            plan = _DensePlan(self, x)
        pc, ps, _, _ = self._run(plan, len(x), explain=False)
        return pc, ps

    def explain(self, x, cat: np.ndarray, top: int = 3, rows: np.ndarray | None = None) -> list[str]:
        """Gradient x input of the predicted category's logit, summed over time, top channels.

        ``x``: a (n, T, C) array, or a :class:`forensics.sequences.Windows` and ``rows``, the
        windows to explain (``cat`` is aligned with ``rows``).  One backward pass per batch."""
        if not isinstance(x, Windows):
            x = Windows(np.asarray(x, np.float32), np.arange(len(x)), self.spec)
            rows = np.arange(len(x))
        rows = np.asarray(rows, np.int64)
        if len(rows) == 0:
            return []
        plan = self._plan(x)
        parts = [plan.top_channels(rows[lo:lo + self.batch], np.asarray(cat[lo:lo + self.batch], np.int64), top)
                 for lo in range(0, len(rows), self.batch)]
        order, up, keep = (np.concatenate(p) for p in zip(*parts))
        return _evidence_texts(order, up, keep)

    def _classify(self, w: Windows, explain: bool, top: int = 3):
        """One pass over the distinct windows: probabilities, and for the windows whose verdict
        is an attack, their evidence text.  Returns ``(pc, ps, attack rows, texts)``."""
        return self._run(self._plan(w) if len(w) else None, len(w), explain, top)

    def _run(self, plan, n_windows: int, explain: bool, top: int = 3):
        """Probabilities of windows 0..n_windows of ``plan`` (and evidence with ``explain``).

        Batches are independent: on a CPU with ``torch.get_num_threads() > 1`` they run in
        that many Python threads with one torch thread each (torch releases the GIL), which
        keeps both cores busy on these small operations and degrades gracefully on a loaded
        machine, where OpenMP's per-operation fork/join does not.  The numpy engine runs its
        batches in ``self.threads`` Python threads (None: ``OMP_NUM_THREADS`` or the CPUs, so a
        scan worker gets ``cores / workers``), with numpy's OpenBLAS held to one thread meanwhile;
        where that BLAS's thread count cannot be set, in the calling thread only."""
        n_cat, n_sub = len(self.categories), len(self.subcategories)
        pc = np.empty((n_windows, n_cat), np.float32)
        ps = np.empty((n_windows, n_sub), np.float32)
        if n_windows == 0:
            return pc, ps, np.zeros(0, np.int64), []
        starts = range(0, n_windows, self.batch)
        if self.engine == "numpy":
            from forensics.npengine import single_threaded_blas
            from forensics.sequences import _threads

            workers = min(self.threads or _threads(), len(starts))
        else:
            import torch

            from forensics.sequences import _threads

            workers = min(torch.get_num_threads(), _threads(), len(starts)) if str(self.device) == "cpu" else 1

        def run(lo):
            return self._classify_batch(plan, slice(lo, min(lo + self.batch, n_windows)), explain, top, pc, ps)

        if workers > 1 and self.engine == "numpy":
            from concurrent.futures import ThreadPoolExecutor

            with single_threaded_blas() as blas:  # threads of our own, not OpenBLAS's, on small matrices
                if blas.ok:
                    with ThreadPoolExecutor(workers) as pool:
                        results = list(pool.map(run, starts))
                else:
                    results = [run(lo) for lo in starts]
        elif workers > 1:
            from concurrent.futures import ThreadPoolExecutor

            import torch

            threads = torch.get_num_threads()
            try:
                with ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
                    results = list(pool.map(run, starts))
            finally:
                torch.set_num_threads(threads)  # MKL's setting is process-wide: restore it
        else:
            results = [run(lo) for lo in starts]
        results = [r for r in results if r is not None]
        if not results:
            return pc, ps, np.zeros(0, np.int64), []
        rows = np.concatenate([r[0] for r in results])
        order, up, keep = (np.concatenate(p) for p in zip(*(r[1] for r in results)))
        return pc, ps, rows, _evidence_texts(order, up, keep)

    def _classify_batch(self, plan: "_Plan", sel: slice, explain: bool, top: int, pc, ps):
        """Windows ``sel``: writes their probabilities into ``pc``/``ps``; with ``explain``
        returns (attack rows, top channels) for the attack verdicts, else None.

        With ``explain`` the batch runs forward with gradients kept; when at least half of it
        is attack windows the backward pass runs on that graph, otherwise the attack windows
        alone are run again (so mostly-normal traffic pays little for explanations).  The
        numpy engine keeps the forward pass's intermediate values and runs the backward pass
        on the attack windows' rows of them only."""
        if self.engine == "numpy":
            return self._classify_batch_numpy(plan, sel, explain, top, pc, ps)
        import torch

        model = self.model
        if not explain:
            with torch.inference_mode():
                a, b = model.forward_embedded(plan.embedding(sel))
                pc[sel] = torch.softmax(a.float(), 1).numpy(force=True)
                ps[sel] = torch.softmax(b.float(), 1).numpy(force=True)
            return None
        with torch.no_grad():
            e, (cs, cd), zc = plan._parts(sel)
        e.requires_grad_(True)
        with torch.enable_grad(), _backward_ok(model, e.device):
            a, b = model.forward_embedded(e)
        with torch.no_grad():
            pc[sel] = torch.softmax(a.detach().float(), 1).numpy(force=True)
            ps[sel] = torch.softmax(b.detach().float(), 1).numpy(force=True)
        cat = pc[sel].argmax(1)
        att = np.flatnonzero(cat != self._normal)
        if len(att) == 0:
            return None
        n, T = e.shape[:2]
        att_t = torch.as_tensor(att, device=e.device)
        if 2 * len(att) >= n:  # mostly attacks: backward on this graph (normal rows weigh 0)
            pick = torch.as_tensor(cat, device=e.device)[:, None]
            weight = torch.zeros(n, device=e.device, dtype=a.dtype)
            weight[att_t] = 1.0
            (g,) = torch.autograd.grad((a.gather(1, pick)[:, 0] * weight).sum(), e)
            g = g.index_select(0, att_t)
        else:
            del a, b
            e2 = e.detach().index_select(0, att_t).requires_grad_(True)
            with torch.enable_grad(), _backward_ok(model, e.device):
                a2, _ = model.forward_embedded(e2)
                pick = torch.as_tensor(cat[att], device=e.device)[:, None]
                (g,) = torch.autograd.grad(a2.gather(1, pick).sum(), e2)
        step = torch.arange(T, device=e.device)
        flat = (att_t[:, None] * T + step).reshape(-1)
        return att + sel.start, plan.top_from_grad(g, cs.index_select(0, flat), cd.index_select(0, flat),
                                                   zc.index_select(0, att_t), top)

    def _classify_batch_numpy(self, plan, sel: slice, explain: bool, top: int, pc, ps):
        from forensics.npengine import softmax

        net = self.model
        if not explain:
            a, b, _ = net.forward(plan.embedding(sel))
            pc[sel] = softmax(a)
            ps[sel] = softmax(b)
            return None
        e, (cs, cd), zc = plan._parts(sel)
        a, b, cache = net.forward(e, keep=True)
        pc[sel] = softmax(a)
        ps[sel] = softmax(b)
        cat = pc[sel].argmax(1)
        att = np.flatnonzero(cat != self._normal)
        if len(att) == 0:
            return None
        n, T = e.shape[:2]
        if len(att) < n:
            cache = net.take(cache, att)
        g = net.input_grad(cache, cat[att])
        flat = (att[:, None] * T + np.arange(T)).reshape(-1)
        return att + sel.start, plan.top_from_grad(g, cs[flat], cd[flat], zc[att], top)

    def predict_proba(self, flows: pd.DataFrame):
        """(windows, category probs per distinct window, subcategory probs per distinct window)."""
        check_columns(flows)
        w = build_windows(flows, self.spec)
        pc, ps = self.predict_windows(w)
        return w, pc, ps

    def predict(self, flows: pd.DataFrame, explain: bool = True) -> pd.DataFrame:
        if not isinstance(flows, pd.DataFrame):
            raise TypeError("predict() takes a pandas DataFrame of flows")
        check_columns(flows)
        if len(flows) == 0:
            return pd.DataFrame({"pred_category": pd.Series([], dtype=object),
                                 "pred_subcategory": pd.Series([], dtype=object),
                                 "confidence": pd.Series([], dtype="float64"),
                                 "pred_attack": pd.Series([], dtype=bool),
                                 "evidence": pd.Series([], dtype=object),
                                 "unfamiliar": pd.Series([], dtype=object)}, index=flows.index)
        l2 = link_layer_rows(flows["saddr"])
        if l2.any():
            # flows of non-IP frames (keyed by MAC): the model never saw one (the lab makes none),
            # so they get no verdict of its; they stay out of every window and capture-level step
            ip = self.predict(flows[~l2], explain)
            rest = pd.DataFrame({"pred_category": "Normal", "pred_subcategory": "Normal", "confidence": np.nan,
                                 "pred_attack": False, "evidence": LINK_LAYER_EVIDENCE if explain else "",
                                 "unfamiliar": ""},
                                index=flows.index[l2])
            out = pd.concat([ip, rest]) if len(ip) else rest
            return out.reindex(flows.index)
        w = build_windows(flows, self.spec)
        pc, ps, att_rows, att_texts = self._classify(w, explain)
        evidence = np.full(len(pc), "", dtype=object)
        if explain and len(att_rows):
            evidence[att_rows] = att_texts
        inv = w.inverse
        # per flow from here: the capture-level steps (forensics.refine: backscatter, DoS <-> DDoS, same flood, ARP flows)
        r = refine_flows(flows, pc[inv], ps[inv], self.categories, self.subcategories, self._mask)
        p_flow = r.p_cat
        cat = p_flow.argmax(1)
        sub = np.where(self._mask[cat], r.p_sub, -1.0).argmax(1)
        conf = p_flow[np.arange(len(cat)), cat]
        evidence = evidence[inv]
        for turned, text in ((r.ddos, DDOS_EVIDENCE), (r.backscatter, BACKSCATTER_EVIDENCE), (r.dos, DOS_EVIDENCE)):
            if explain and turned.any():  # the step's reason first, then the model's
                evidence[turned] = [f"{text}; {e}" if e else text for e in evidence[turned]]
        if len(r.sweep_rows):  # the step's reason first, then the model's (for its flood verdict)
            evidence[r.sweep_rows] = ([f"{t}; {e}" if e else t for t, e in zip(r.sweep_evidence, evidence[r.sweep_rows])]
                                      if explain else "")
        if len(r.stream_rows):  # (a media stream: the model's reason for its flood verdict is moot; before the
            # same-flood step's, which may turn such a flow back when its sender floods the same port)
            evidence[r.stream_rows] = r.stream_evidence if explain else ""
        if len(r.bulk_rows):  # (a bulk transfer: the model's reason for its keylogging verdict is moot)
            evidence[r.bulk_rows] = r.bulk_evidence if explain else ""
        if len(r.same_rows):  # flows called Normal: the model gave no reason of its own
            evidence[r.same_rows] = r.same_evidence if explain else ""
        if len(r.little_rows):  # (too little traffic for the verdict: the model's reason for it is moot)
            evidence[r.little_rows] = r.little_evidence if explain else ""
        if len(r.arp_rows):
            evidence[r.arp_rows] = r.arp_evidence if explain else ""
        cats = np.array(self.categories, dtype=object)
        subs = np.array(self.subcategories, dtype=object)

        def text(values):  # (object, as built: pandas 3 would copy every string into Arrow, 0.6 s at 463k flows)
            return pd.Series(values, index=flows.index, dtype=object, copy=False)

        return pd.DataFrame({
            "pred_category": text(cats[cat]),
            "pred_subcategory": text(subs[sub]),
            "confidence": conf.astype("float64"),
            "pred_attack": (cat != self._normal),
            "evidence": text(evidence),
            "unfamiliar": text(self.unfamiliar(w, inv, sub, cat != self._normal)),
        }, index=flows.index)

    def unfamiliar(self, w, inv: np.ndarray, sub: np.ndarray, attack: np.ndarray) -> np.ndarray:
        """Per flow: the features of its window (``w`` row ``inv``) outside the training data's
        range, and for an attack verdict (``attack``) also those outside the range of the
        training windows of its verdict's subcategory (``sub``, index of ``self.subcategories``)
        (:func:`forensics.sequences.unfamiliar_features`, model.json ``ranges``); ``""`` when
        none or when the model carries no ranges.  A verdict on such a window extrapolates: the
        model never saw a value like it (a source port below 1024, IPv6 ICMP, hours between a
        host's flows...), or never for that kind of attack."""
        if self.ranges is None:
            return np.full(len(inv), "", dtype=object)
        from forensics.sequences import join_features, unfamiliar_features

        per_window = unfamiliar_features(w, *self.ranges)
        out = per_window[inv]
        rows = np.flatnonzero(attack)
        if not self.sub_ranges or not len(rows):
            return out
        # distinct (window, verdict) pairs of the attack flows, checked per subcategory
        n_sub = len(self.subcategories)
        pairs, back = np.unique(inv[rows].astype(np.int64) * n_sub + sub[rows], return_inverse=True)
        p_row, p_sub = np.divmod(pairs, n_sub)
        texts = np.full(len(pairs), "", dtype=object)
        for s in np.unique(p_sub).tolist():
            r = self.sub_ranges.get(self.subcategories[s])
            if r is not None:
                m = p_sub == s
                texts[m] = unfamiliar_features(w, *r, rows=p_row[m])
        out[rows] = join_features(per_window[p_row], texts)[np.asarray(back).ravel()]
        return out


LINK_LAYER_EVIDENCE = "not classified: a non-IP frame's flow (keyed by MAC); the model reads IP and ARP flows"
TUNNEL_EVIDENCE = "not classified: a tunnel's own flow, opened by --open-tunnels; the flows inside it are judged"
CLOSED_TUNNEL_EVIDENCE = ("a tunnel's own flow ({kind}), not opened: the verdict judges the tunnel's traffic as a whole, "
                          "between its end points; --open-tunnels judges the flows inside it")


TUNNEL_PROTOS = ("udp", "ipnip", "ipv6", "gre")  # flows that can carry a tunnel (IP in IP: no ports)


def tunnel_rows(flows: pd.DataFrame, keys) -> np.ndarray:
    """Rows of the tunnels' own flows (UDP, IP in IP, GRE): ``keys`` as the accounting's
    ``tunnel_flows`` or ``closed_tunnels`` hold them ((saddr, sport, daddr, dport) both ways,
    ports empty for IP in IP)."""
    out = np.zeros(len(flows), dtype=bool)
    if not keys or not len(flows):
        return out
    cand = np.flatnonzero(np.isin(flows["proto"].to_numpy(dtype=object), TUNNEL_PROTOS))
    if len(cand):
        sub = flows.iloc[cand]
        k = zip(sub["saddr"].astype(str), sub["sport"].astype(str), sub["daddr"].astype(str), sub["dport"].astype(str))
        out[cand] = np.fromiter((t in keys for t in k), dtype=bool, count=len(cand))
    return out


class _Plan:
    """Inference on compact windows (:class:`forensics.sequences.Windows`) without building them.

    Step ``t`` of a window is ``[flow row | context | flow row | context]`` (source side, then
    destination side), so the model's first layer, ``embed(x) = W x + b``, is a sum of four
    parts: the two flow rows' parts are computed once per distinct flow row (a table), the
    context part per window, and each step adds two table rows.  The rest of the network
    runs unchanged (``forward_embedded``).  Standardisation and clipping are per channel, so
    they too are applied to the distinct flow rows and to the context.
    """

    def __init__(self, det: "Detector", w: Windows):
        import torch

        fu, codes, ctx = w.compact
        F, K = len(FLOW_FEATURES), len(CONTEXT_FEATURES)
        self.blocks = (slice(0, F), slice(F, F + K), slice(F + K, 2 * F + K), slice(2 * F + K, 2 * (F + K)))
        sf, sc, df, dc = self.blocks
        self.det, self.K = det, K
        dev = det.device
        mean = torch.as_tensor(det.mean, device=dev)
        std = torch.as_tensor(det.std, device=dev)
        clip = det.clip
        self.weight = w_ = det.model.embed.weight.detach()  # (E, C)
        self.bias = det.model.embed.bias.detach()
        self.cmean = torch.cat([mean[sc], mean[dc]])
        self.cstd = torch.cat([std[sc], std[dc]])
        self.clip = clip
        self.wctx = torch.cat([w_[:, sc], w_[:, dc]], dim=1).T.contiguous()  # (2K, E)
        with torch.no_grad():
            fu_t = torch.as_tensor(fu, device=dev)
            self.zs = ((fu_t - mean[sf]) / std[sf]).clamp_(-clip, clip)  # (D + 1, F) standardised rows
            self.zd = ((fu_t - mean[df]) / std[df]).clamp_(-clip, clip)
            self.es = self.zs @ w_[:, sf].T.contiguous()  # (D + 1, E) their share of embed(x)
            self.ed = self.zd @ w_[:, df].T.contiguous()
        self.codes = torch.as_tensor(codes, device=dev)  # (U, T, 2) int64
        self.wblk = tuple(w_[:, blk].contiguous() for blk in self.blocks)  # (E, block width)
        self.ctx = torch.as_tensor(ctx, device=dev)

    def _parts(self, sel):
        import torch

        c = self.codes[sel]  # (n, T, 2)
        n, T = c.shape[:2]
        cs, cd = c[..., 0].reshape(-1), c[..., 1].reshape(-1)  # index_select: far faster than x[idx]
        zc = ((self.ctx[sel] - self.cmean) / self.cstd).clamp_(-self.clip, self.clip)  # (n, T, 2K)
        e = torch.addmm(self.bias, zc.reshape(n * T, -1), self.wctx)
        e += self.es.index_select(0, cs)
        e += self.ed.index_select(0, cd)
        return e.view(n, T, -1), (cs, cd), zc

    def embedding(self, sel):
        """Pre-activation ``embed(x)`` (n, T, E) of windows ``sel`` (slice or index array)."""
        return self._parts(sel)[0]

    def top_channels(self, rows: np.ndarray, cat: np.ndarray, top: int):
        """For windows ``rows``: the ``top`` channels by gradient x input of logit ``cat``
        (summed over time), see :meth:`top_from_grad`."""
        import torch

        with torch.no_grad():
            e, (cs, cd), zc = self._parts(torch.as_tensor(rows, device=self.det.device))
        e.requires_grad_(True)
        with torch.enable_grad(), _backward_ok(self.det.model, e.device):
            logits, _ = self.det.model.forward_embedded(e)
            pick = torch.as_tensor(cat, device=e.device)[:, None]
            (g,) = torch.autograd.grad(logits.gather(1, pick).sum(), e)  # (n, T, E)
        return self.top_from_grad(g, cs, cd, zc, top)

    def top_from_grad(self, g, cs, cd, zc, top: int, sub: int = 256):
        """``g`` (n, T, E): gradient of the explained logit w.r.t. the embedding; ``cs``/``cd``
        (n*T,): flow rows of each step; ``zc`` (n, T, 2K): standardised context.  The gradient
        w.r.t. the standardised input is ``g W``; per channel, sum over time of gradient x
        input.  Returns (top channels (n, top), mean input over time > 0, contribution > 0)."""
        import torch

        K = self.K
        n, T, E = g.shape
        C = sum(wb.shape[1] for wb in self.wblk)
        contrib = torch.empty((n, C), dtype=g.dtype, device=g.device)
        value = torch.empty((n, C), dtype=g.dtype, device=g.device)
        starts = np.cumsum([0] + [wb.shape[1] for wb in self.wblk]).tolist()
        with torch.no_grad():
            g2 = g.reshape(n * T, E)
            zc2 = zc.reshape(n * T, 2 * K)
            # sub-batches small enough that the (rows x channels) temporaries stay in cache (on a
            # GPU one pass: thousands of small kernel launches would cost more than the maths)
            if g.device.type != "cpu":
                sub = max(n, 1)
            for lo in range(0, n, sub):
                hi = min(n, lo + sub)
                r = slice(lo * T, hi * T)
                xs_blocks = (self.zs.index_select(0, cs[r]), zc2[r, :K], self.zd.index_select(0, cd[r]), zc2[r, K:])
                for j, (wb, xs) in enumerate(zip(self.wblk, xs_blocks)):
                    gx = torch.mm(g2[r], wb)  # d logit / d standardised input of this block
                    cols = slice(starts[j], starts[j + 1])
                    torch.sum(gx.mul_(xs).view(hi - lo, T, -1), dim=1, out=contrib[lo:hi, cols])
                    torch.sum(xs.reshape(hi - lo, T, -1), dim=1, out=value[lo:hi, cols])  # T x the mean
            val, order = torch.topk(contrib, top, dim=1)
            return (order.numpy(force=True).astype(np.int64), (value.gather(1, order) > 0).numpy(force=True),
                    (val > 0).numpy(force=True))


class _DensePlan:
    """Windows given as a (U, T, C) array: standardised and embedded batch by batch."""

    def __init__(self, det: "Detector", x):
        import torch

        self.x = torch.as_tensor(np.asarray(x, np.float32), device=det.device)
        self.mean = torch.as_tensor(det.mean, device=det.device)
        self.std = torch.as_tensor(det.std, device=det.device)
        self.clip = det.clip
        self.embed = det.model.embed

    def embedding(self, sel, sub: int = 512):
        import torch

        x = self.x[sel]
        n, T = x.shape[:2]
        out = torch.empty((n, T, self.embed.out_features), dtype=x.dtype, device=x.device)
        for lo in range(0, n, sub):  # in pieces that stay in cache
            xb = ((x[lo:lo + sub] - self.mean) / self.std).clamp_(-self.clip, self.clip)
            out[lo:lo + sub] = self.embed(xb)
        return out


class _backward_ok:
    """Context for a forward + backward pass of the model in eval mode.  On CUDA, cuDNN's LSTM
    refuses a backward pass outside training mode ("cudnn RNN backward can only be called in
    training mode", seen on an H200), so the LSTM submodule alone is flagged as training for
    the pass: a one-layer LSTM has no dropout, so its maths are the same.  (Disabling cuDNN
    instead made the convolution ~20x slower: measured on the H200.)  Used on CUDA with one
    worker thread only, so flipping the flag races with nothing."""

    def __init__(self, model, device):
        lstm = getattr(model, "lstm", None)
        self.lstm = lstm if getattr(device, "type", str(device)) == "cuda" and lstm is not None else None
        if self.lstm is not None and (self.lstm.num_layers != 1 or self.lstm.dropout):
            raise ValueError("an LSTM with dropout cannot be explained on CUDA in eval mode")

    def __enter__(self):
        if self.lstm is not None:
            self.was = self.lstm.training
            self.lstm.training = True
        return self

    def __exit__(self, *exc):
        if self.lstm is not None:
            self.lstm.training = self.was
        return False


def _evidence_texts(order: np.ndarray, up: np.ndarray, keep: np.ndarray) -> list[str]:
    """One text per window from its top channels; built once per distinct combination."""
    top = order.shape[1]
    code = np.zeros(len(order), np.int64)
    for j in range(top):
        code = (code * len(CHANNELS) + order[:, j]) * 4 + up[:, j] * 2 + keep[:, j]
    _, first, inv = np.unique(code, return_index=True, return_inverse=True)
    texts = []
    for i in first:
        parts = [_describe(CHANNELS[order[i, j]], 1.0 if up[i, j] else -1.0) for j in range(top) if keep[i, j]]
        texts.append("; ".join(dict.fromkeys(parts)))
    return np.asarray(texts, dtype=object)[inv.ravel()].tolist()


def save_model(out_dir, model, arch, spec: WindowSpec, mean, std, version: str, extra: dict | None = None) -> dict:
    """Write ``weights.safetensors`` + ``model.json``; returns the metadata."""
    from safetensors.torch import save_file

    from forensics.train import ALLOWED, CATEGORIES, CLIP, SUBCATEGORIES

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / WEIGHTS), metadata={"format": FORMAT, "version": version})
    (out / WEIGHTS).chmod(0o644)
    meta = {
        "format": FORMAT,
        "version": version,
        "weights": WEIGHTS,
        "sha256": sha256_file(out / WEIGHTS),
        "arch": arch.to_dict(),
        "window": {"steps": spec.steps, "past": spec.past, "future": spec.future},
        "features": list(CHANNELS),
        "scaler": {"mean": [float(v) for v in mean], "std": [float(v) for v in std], "clip": CLIP},
        "categories": CATEGORIES,
        "subcategories": SUBCATEGORIES,
        "allowed": ALLOWED,
    }
    if extra:
        meta.update(extra)
    (out / META).write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def check_model(model_dir=None, device: str = "cpu") -> tuple[Path, dict, str]:
    """Everything :func:`load_detector` checks that needs no torch (metadata, weights' sha256,
    feature list, device name): ``(weights path, metadata, sha256)``; raises ModelError."""
    if model_dir is None:
        from forensics.resources import model_dir as bundled

        try:
            model_dir = bundled()
        except FileNotFoundError as exc:
            raise ModelError(str(exc)) from None
    d = Path(model_dir)
    meta_path = d / META
    try:
        meta = json.loads(meta_path.read_text())
    except OSError:
        raise ModelError(f"{meta_path}: model metadata missing (is {d} a model folder?)") from None
    except ValueError as exc:
        raise ModelError(f"{meta_path}: not valid JSON ({exc})") from None
    if meta.get("format") != FORMAT:
        raise ModelError(f"{meta_path}: unknown model format {meta.get('format')!r} (expected {FORMAT})")
    for key in ("version", "sha256", "arch", "window", "features", "scaler", "categories", "subcategories", "allowed"):
        if key not in meta:
            raise ModelError(f"{meta_path}: lacks '{key}'")
    weights = d / meta.get("weights", WEIGHTS)
    if not weights.exists():
        raise ModelError(f"{weights}: weights file missing")
    digest = sha256_file(weights)
    if digest != meta["sha256"]:
        raise ModelError(f"{weights}: sha256 {digest[:12]}... does not match model.json ({meta['sha256'][:12]}...);"
                         " the file is corrupt or was replaced")
    if list(meta["features"]) != list(CHANNELS):
        raise ModelError(f"{meta_path}: feature list does not match this version of forensics.sequences "
                         f"({len(meta['features'])} vs {len(CHANNELS)} channels); retrain the model")
    r = meta.get("ranges")
    parts = [r] + list((r.get("subcategories") or {}).values()) if isinstance(r, dict) else [r]
    if r is not None and not all(isinstance(p, dict) and all(len(p.get(k) or ()) == len(CHANNELS) for k in ("lo", "hi"))
                                 for p in parts):
        raise ModelError(f"{meta_path}: 'ranges' needs 'lo' and 'hi' with one value per channel ({len(CHANNELS)}), "
                         "for the whole and for each subcategory")
    if device not in ("cpu", "cuda") and not str(device).startswith("cuda:"):
        raise ModelError(f"device must be 'cpu' or 'cuda', got {device!r}")
    return weights, meta, digest


ENGINES = ("numpy", "torch")


def load_detector(model_dir=None, device: str = "cpu", engine: str | None = None) -> Detector:
    """Load a model folder (default: the bundled one), verifying the weights' sha256.

    ``engine``: ``"numpy"`` (default on CPU; never imports torch) or ``"torch"`` (default and
    only choice for ``device="cuda"``).  A model kind the numpy engine does not support loads
    with torch when ``engine`` is None, and is refused with ``engine="numpy"``."""
    if engine is not None and engine not in ENGINES:
        raise ModelError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    weights, meta, digest = check_model(model_dir, device)
    on_cpu = str(device) == "cpu"
    if engine == "numpy" and not on_cpu:
        raise ModelError(f"the numpy engine runs on the CPU only (device {device!r}: use engine='torch')")
    from forensics.npengine import SUPPORTED_KINDS

    kind = meta["arch"].get("kind", "cnn_lstm") if isinstance(meta["arch"], dict) else None
    if engine == "numpy" and kind not in SUPPORTED_KINDS:
        raise ModelError(f"{weights}: the numpy engine supports model kinds {', '.join(SUPPORTED_KINDS)}, "
                         f"not {kind!r} (use engine='torch')")
    if engine is None:
        engine = "numpy" if on_cpu and kind in SUPPORTED_KINDS else "torch"
    if engine == "numpy":
        return _load_numpy(weights, meta, digest)
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from forensics.model import Arch
    from forensics.model import Detector as Net

    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ModelError("device 'cuda' requested but no CUDA device is available")
    try:
        state = load_file(str(weights), device="cpu")
        net = Net(Arch(**meta["arch"]))
        net.load_state_dict(state)
    except (SafetensorError, RuntimeError, TypeError, ValueError, OSError) as exc:
        raise ModelError(f"{weights}: cannot load weights ({str(exc).splitlines()[0][:160]})") from None
    net.eval().to(device)
    return Detector(net, meta, digest, device, engine="torch")


def _load_numpy(weights: Path, meta: dict, digest: str) -> Detector:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from forensics.npengine import NumpyNet

    try:
        state = load_file(str(weights))
        net = NumpyNet(meta["arch"], state)
    except (SafetensorError, RuntimeError, TypeError, ValueError, KeyError, OSError) as exc:
        raise ModelError(f"{weights}: cannot load weights ({str(exc).splitlines()[0][:160]})") from None
    return Detector(net, meta, digest, "cpu", engine="numpy")
