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
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from forensics.errors import ModelError
from forensics.sequences import CHANNELS, WindowSpec, _materialise, build_windows, check_columns

FORMAT = "forensics-detector/1"
WEIGHTS = "weights.safetensors"
META = "model.json"
OUTPUT_COLUMNS = ["pred_category", "pred_subcategory", "confidence", "pred_attack", "evidence"]

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

    def __init__(self, model, meta: dict, sha256: str, device: str = "cpu"):
        self.model = model
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
        self.batch = 16384  # windows are materialised batch by batch (16384 x T x C floats)
        self.clip = float(meta["scaler"].get("clip", 1e9))
        mask = np.zeros((len(self.categories), len(self.subcategories)), bool)
        for c, subs in self.allowed.items():
            for s in subs:
                if c in self.categories and s in self.subcategories:
                    mask[self.categories.index(c), self.subcategories.index(s)] = True
        self._mask = mask

    # -- core -------------------------------------------------------------------------------
    def predict_windows(self, x) -> tuple[np.ndarray, np.ndarray]:
        """Softmax probabilities (category (U, n_cat), subcategory (U, n_sub)) for windows ``x``
        (a (U, T, C) array or a :class:`forensics.sequences.Windows`, built batch by batch)."""
        import torch

        pc, ps = [], []
        m = torch.as_tensor(self.mean, device=self.device)
        s = torch.as_tensor(self.std, device=self.device)
        rows = x.rows if hasattr(x, "rows") else (lambda lo, hi: x[lo:hi])
        with torch.no_grad():
            for lo in range(0, len(x), self.batch):
                xb = ((torch.as_tensor(rows(lo, lo + self.batch), device=self.device) - m) / s).clamp_(-self.clip, self.clip)
                a, b = self.model(xb)
                pc.append(torch.softmax(a.float(), 1).cpu().numpy())
                ps.append(torch.softmax(b.float(), 1).cpu().numpy())
        if not pc:
            return np.zeros((0, len(self.categories)), np.float32), np.zeros((0, len(self.subcategories)), np.float32)
        return np.concatenate(pc), np.concatenate(ps)

    def explain(self, x: np.ndarray, cat: np.ndarray, top: int = 3) -> list[str]:
        """Gradient x input of the predicted category's logit, summed over time, top channels."""
        import torch

        out = []
        m = torch.as_tensor(self.mean, device=self.device)
        s = torch.as_tensor(self.std, device=self.device)
        for lo in range(0, len(x), 8192):
            xb = ((torch.as_tensor(x[lo:lo + 8192], device=self.device) - m) / s).clamp_(-self.clip, self.clip)
            xb.requires_grad_(True)
            with torch.enable_grad():
                logits, _ = self.model(xb)
                idx = torch.as_tensor(cat[lo:lo + 8192], device=self.device)
                sel = logits.gather(1, idx[:, None]).sum()
                (grad,) = torch.autograd.grad(sel, xb)
            contrib = (grad * xb).sum(dim=1).detach().cpu().numpy()  # (n, C)
            value = xb.detach().mean(dim=1).cpu().numpy()
            order = np.argsort(-contrib, axis=1)[:, :top]
            rows = np.arange(len(order))[:, None]
            keep = contrib[rows, order] > 0
            up = value[rows, order] > 0
            # one string per distinct (channels, direction, kept) combination
            code = np.concatenate([order, up, keep], axis=1).astype(np.int64)
            combos, inv = np.unique(code, axis=0, return_inverse=True)
            texts = []
            for c in combos:
                parts = [_describe(CHANNELS[j], 1.0 if u else -1.0) for j, u, k in
                         zip(c[:top], c[top:2 * top], c[2 * top:]) if k]
                texts.append("; ".join(dict.fromkeys(parts)))
            out.extend(np.asarray(texts, dtype=object)[inv.ravel()].tolist())
        return out

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
                                 "evidence": pd.Series([], dtype=object)}, index=flows.index)
        w, pc, ps = self.predict_proba(flows)
        cat = pc.argmax(1)
        sub = np.where(self._mask[cat], ps, -1.0).argmax(1)
        conf = pc[np.arange(len(cat)), cat]
        normal = self.categories.index("Normal") if "Normal" in self.categories else -1
        evidence = np.full(len(cat), "", dtype=object)
        attack_rows = np.flatnonzero(cat != normal)
        if explain and len(attack_rows):
            fu, keys = w._compact if w._compact is not None else (None, None)
            xa = w.unique[attack_rows] if fu is None else _materialise(fu, keys[attack_rows])
            evidence[attack_rows] = self.explain(xa, cat[attack_rows])
        inv = w.inverse
        cats = np.array(self.categories, dtype=object)
        subs = np.array(self.subcategories, dtype=object)
        return pd.DataFrame({
            "pred_category": cats[cat[inv]],
            "pred_subcategory": subs[sub[inv]],
            "confidence": conf[inv].astype("float64"),
            "pred_attack": (cat[inv] != normal),
            "evidence": evidence[inv],
        }, index=flows.index)


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


def load_detector(model_dir=None, device: str = "cpu") -> Detector:
    """Load a model folder (default: the bundled one), verifying the weights' sha256."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from forensics.model import Arch
    from forensics.model import Detector as Net

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
    if device not in ("cpu", "cuda") and not str(device).startswith("cuda:"):
        raise ModelError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ModelError("device 'cuda' requested but no CUDA device is available")
    try:
        state = load_file(str(weights), device="cpu")
        net = Net(Arch(**meta["arch"]))
        net.load_state_dict(state)
    except (SafetensorError, RuntimeError, TypeError, ValueError, OSError) as exc:
        raise ModelError(f"{weights}: cannot load weights ({str(exc).splitlines()[0][:160]})") from None
    net.eval().to(device)
    return Detector(net, meta, digest, device)
