"""Datasets, SMOTE, training, evaluation and baselines for the detector.

Data: lab output folders (``<scenario>/run<k>/capture.pcap`` + ``truth.json``:
flows are extracted and labeled with :func:`forensics.lab.truth.label_flows`)
and BoT-IoT CSV files in the official column format (labels from their
``category``/``subcategory`` columns).  Both end up as one labeled flow table
per *run* and follow the same path from there.

Protocol:

* split by run, never by rows: per scenario (lab) the last run is the test run,
  the one before it validation, the rest training (see :func:`split_runs`);
* windows are built per run (:mod:`forensics.sequences`), deduplicated per
  (window, label) and capped per class in training;
* SMOTE (imbalanced-learn) on the training split only, then class-weighted
  cross-entropy on both heads, a cosine learning-rate schedule and the epoch with the best
  validation macro-F1 kept (early stopping by checkpoint);
* fixed seeds, ``torch.use_deterministic_algorithms`` and a fixed thread count,
  so training on CPU is repeatable.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from forensics import attribution
from forensics.errors import ForensicsError
from forensics.sequences import CHANNELS, WindowSpec, build_windows, channel_ranges

CATEGORIES = ["DDoS", "DoS", "Reconnaissance", "Theft", "Normal"]
SUBCATEGORIES = ["Normal", "TCP", "UDP", "HTTP", "Service_Scan", "OS_Fingerprint", "Keylogging", "Data_Exfiltration"]
ALLOWED = {"DDoS": ["TCP", "UDP", "HTTP"], "DoS": ["TCP", "UDP", "HTTP"],
           "Reconnaissance": ["Service_Scan", "OS_Fingerprint"], "Theft": ["Keylogging", "Data_Exfiltration"],
           "Normal": ["Normal"]}
CACHE_VERSION = "1"
STD_FLOOR = 0.25  # features are log-scaled or 0/1: a smaller std is a near-constant
CLIP = 6.0  # standardised inputs are clipped to +-CLIP


# ----------------------------------------------------------------------------- data


@dataclass
class Run:
    name: str  # e.g. "ddos_tcp/run3" or a CSV file name
    group: str  # scenario (lab) or file stem (CSV)
    index: int
    flows: pd.DataFrame  # with category / subcategory columns
    truth: dict | None = None
    path: str = ""


def _cache_dir() -> Path:
    base = os.environ.get("FORENSICS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "forensics")
    return Path(base) / "flows"


#: Modules whose source decides the cached labeled flow tables; :func:`_extraction_sources`
#: adds every ``forensics`` module they import (directly or not).
_EXTRACTION_ROOTS = ("features.py", "flows.py", "schema.py", "decode.py", "capture.py", "packets.py",
                     "lab/truth.py", "lab/flows.py")
_IMPORT_RE = re.compile(r"^\s*(?:from\s+forensics((?:\.\w+)*)\s+import\s+([\w\s,()]+)|import\s+forensics((?:\.\w+)+))", re.M)


def _extraction_sources() -> list[Path]:
    """Source files of the flow extraction and labeling: the roots and, transitively, every
    ``forensics`` module they import (so a new helper module of decode/flows counts too)."""
    root = Path(__file__).resolve().parent

    def resolve(dotted: str) -> Path | None:
        rel = Path(*dotted.split(".")) if dotted else Path()
        for cand in (root / rel.with_suffix(".py") if dotted else None, root / rel / "__init__.py"):
            if cand is not None and cand.is_file():
                return cand
        return None

    todo = [root / r for r in _EXTRACTION_ROOTS]
    seen: dict[Path, None] = {}
    while todo:
        f = todo.pop()
        if f in seen or not f.is_file():
            continue
        seen[f] = None
        for m in _IMPORT_RE.finditer(f.read_text(errors="replace")):
            mod = (m.group(1) or m.group(3) or "").lstrip(".")
            for cand in [mod] + ([f"{mod}.{n}".lstrip(".") for n in re.findall(r"\w+", m.group(2) or "")]):
                r = resolve(cand)
                if r is not None and r not in seen:
                    todo.append(r)
    return sorted(seen, key=lambda q: str(q.relative_to(root)))


def _extractor_fingerprint() -> str:
    """Hash of the cache format and of every extraction source file: editing any of them
    (decode, flows, features, packets, schema, the lab labeler...) invalidates the cache."""
    h = hashlib.sha256(CACHE_VERSION.encode())
    root = Path(__file__).resolve().parent
    for f in _extraction_sources():
        h.update(str(f.relative_to(root)).encode() + b"\0")
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _extract_labeled(run_dir: Path, truth: dict) -> pd.DataFrame:
    from forensics.lab.truth import label_flows

    cap = run_dir / truth.get("capture", "capture.pcap")
    from forensics.features import extract_flows  # the project's own Argus-faithful flows

    df, _acct = extract_flows(cap)
    return label_flows(df, truth)


def _lab_run_flows(run_dir: Path, use_cache: bool = True) -> tuple[pd.DataFrame, dict]:
    from forensics.lab.truth import load_truth

    truth = load_truth(run_dir / "truth.json")
    cap = run_dir / truth.get("capture", "capture.pcap")
    if not cap.exists():
        raise ForensicsError(f"{cap}: capture missing next to truth.json")
    st, ts = cap.stat(), (run_dir / "truth.json").stat()
    key = hashlib.sha256(f"{cap.resolve()}|{st.st_size}|{st.st_mtime_ns}|{ts.st_mtime_ns}|{_extractor_fingerprint()}"
                         .encode()).hexdigest()[:24]
    cache = _cache_dir() / f"{key}.parquet"
    if use_cache and cache.exists():
        try:
            return pd.read_parquet(cache), truth
        except Exception:  # a broken cache entry is rebuilt
            pass
    df = _extract_labeled(run_dir, truth)
    if use_cache:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp")
            df.to_parquet(tmp)
            tmp.replace(cache)
        except Exception:
            pass
    return df, truth


NAMES_FILE_SUFFIX = "_Feature_Names.csv"  # UNSW_2018_IoT_Botnet_Dataset_Feature_Names.csv: the full release's header


def _csv_names(line: str) -> list[str]:
    return [c.strip().strip('"').strip() for c in line.strip().split(",")]


def _first_lines(path: Path, n: int = 2) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return [line for _, line in zip(range(n), fh)]
    except OSError as exc:
        raise ForensicsError(f"{path}: cannot read ({exc.strerror or exc})") from None


def is_names_file(path: Path) -> bool:
    """A CSV that only names columns (the full release's ``..._Feature_Names.csv``): no flow rows."""
    lines = [line for line in _first_lines(path) if line.strip()]
    return len(lines) == 1 and "category" in _csv_names(lines[0])


def headerless_names(path: Path) -> list[str] | None:
    """Column names for a BoT-IoT CSV without a header row, or None when it has one.

    The full BoT-IoT release (``UNSW_2018_IoT_Botnet_Dataset_<n>.csv``, 74 files) has no header:
    its names are in ``UNSW_2018_IoT_Botnet_Dataset_Feature_Names.csv`` beside them, and they are
    the 35 columns of :data:`forensics.schema.BOTIOT_COLUMNS` in that order.  A first row whose
    first field is a number (``pkSeqID``) is taken for data: the names file beside it when there is
    one, else those 35 when the row has 35 fields."""
    lines = _first_lines(path, 1)
    if not lines:
        return None
    first = _csv_names(lines[0])
    try:
        float(first[0])
    except ValueError:
        return None  # a header row
    for names_file in sorted(Path(path).parent.glob("*" + NAMES_FILE_SUFFIX)):
        names = [_csv_names(line) for line in _first_lines(names_file, 1)]
        if names and len(names[0]) == len(first):
            return names[0]
    from forensics.schema import BOTIOT_COLUMNS

    return list(BOTIOT_COLUMNS) if len(first) == len(BOTIOT_COLUMNS) else None


def read_botiot_csv(path: Path) -> pd.DataFrame:
    names = headerless_names(path)
    try:
        df = pd.read_csv(path, low_memory=False, **({"header": None, "names": names} if names else {}))
    except (OSError, ValueError) as exc:
        raise ForensicsError(f"{path}: cannot read as CSV ({exc})") from None
    df.columns = [str(c).strip().strip('"') for c in df.columns]
    for c in ("category", "subcategory"):
        if c not in df.columns:
            raise ForensicsError(f"{path}: BoT-IoT CSV lacks the label column '{c}'")
    df["category"] = df["category"].astype(str).str.strip()
    df["subcategory"] = df["subcategory"].astype(str).str.strip()
    for c in ("saddr", "daddr", "proto", "state"):
        if c in df.columns:
            df[c] = df[c].astype(str)
    return df


def _run_index(name: str) -> int:
    m = re.search(r"(\d+)$", name)
    return int(m.group(1)) if m else 0


def find_runs(paths, progress=None) -> list[tuple[str, str, int, Path, str]]:
    """(name, group, index, path, kind) for every lab run folder or CSV under ``paths``."""
    found = []
    for p in map(Path, paths):
        if not p.exists():
            raise ForensicsError(f"{p}: no such file or folder")
        if p.is_file():
            if p.suffix.lower() != ".csv":
                raise ForensicsError(f"{p}: not a BoT-IoT CSV or a lab output folder")
            found.append((p.name, re.sub(r"_?\d+$", "", p.stem) or p.stem, _run_index(p.stem), p, "csv"))
            continue
        for truth in sorted(p.rglob("truth.json")):
            d = truth.parent
            found.append((f"{d.parent.name}/{d.name}", d.parent.name, _run_index(d.name), d, "lab"))
        for csv in sorted(p.rglob("*.csv")):
            if (csv.parent / "truth.json").exists() or is_names_file(csv):
                continue
            found.append((csv.name, re.sub(r"_?\d+$", "", csv.stem) or csv.stem, _run_index(csv.stem), csv, "csv"))
    if not found:
        raise ForensicsError(f"{', '.join(map(str, paths))}: no lab runs (truth.json) or BoT-IoT CSV files found")
    names = [f[0] for f in found]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ForensicsError(f"run '{dup}' given twice")
    return found


def load_run(entry, use_cache: bool = True) -> Run:
    name, group, index, path, kind = entry
    if kind == "lab":
        df, truth = _lab_run_flows(path, use_cache)
        return Run(name, group, index, df, truth, str(path))
    return Run(name, group, index, read_botiot_csv(path), None, str(path))


def split_runs(entries) -> dict[str, str]:
    """run name -> 'train' | 'val' | 'test'.

    Per group (scenario), runs sorted by index: the last is test, the one before
    it validation, the rest training; a group of 2 gives train + test; a group
    of 1 is training only.
    """
    groups: dict[str, list] = {}
    for e in entries:
        groups.setdefault(e[1], []).append(e)
    out = {}
    for g, es in groups.items():
        es = sorted(es, key=lambda e: (e[2], e[0]))
        for i, e in enumerate(es):
            n = len(es)
            if n >= 3 and i == n - 1:
                out[e[0]] = "test"
            elif n >= 3 and i == n - 2:
                out[e[0]] = "val"
            elif n == 2 and i == 1:
                out[e[0]] = "test"
            else:
                out[e[0]] = "train"
    return out


# ----------------------------------------------------------------------------- windows + labels


@dataclass
class Encoded:
    """Distinct windows of some runs with per-flow labels."""

    x: np.ndarray  # (U, T, C) distinct windows
    inverse: np.ndarray  # (N,) flow -> row of x
    y_cat: np.ndarray  # (N,) int
    y_sub: np.ndarray  # (N,) int
    run: np.ndarray  # (N,) int index into runs
    runs: list[str] = field(default_factory=list)
    # a balanced set's rows (balanced_test): the test flow each row copies, -1 for a SMOTE row
    source: np.ndarray | None = None
    # the runs' channel ranges (TrainingRanges), when asked for (encode_runs with_ranges)
    ranges: "TrainingRanges | None" = None


def label_codes(df: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
    cat = df["category"].astype(str).to_numpy()
    sub = df["subcategory"].astype(str).to_numpy()
    bad = ~np.isin(cat, CATEGORIES)
    if bad.any():
        raise ForensicsError(f"{name}: unknown category {cat[bad][0]!r} (expected one of {', '.join(CATEGORIES)})")
    bad = ~np.isin(sub, SUBCATEGORIES)
    if bad.any():
        raise ForensicsError(f"{name}: unknown subcategory {sub[bad][0]!r}")
    return (pd.Categorical(cat, categories=CATEGORIES).codes.astype(np.int64),
            pd.Categorical(sub, categories=SUBCATEGORIES).codes.astype(np.int64))


def size_strata(x: np.ndarray, past: int) -> np.ndarray:
    """Per window: its anchor flow's packet count on a log2 scale (0: 1 packet, 1: 2-3, 2: 4-7,
    ...), from the raw (unscaled) ``log_pkts`` feature of the anchor step (``past``).  The
    stratum the class caps spread their picks over (:func:`stratified_pick`)."""
    from forensics.sequences import FLOW_FEATURES

    if not len(x):
        return np.zeros(0, np.int64)
    lp = x[:, past, FLOW_FEATURES.index("log_pkts")].astype(np.float64)
    return np.floor(np.log2(np.maximum(np.expm1(lp), 1.0) + 1e-9)).astype(np.int64)


def stratified_pick(strata: np.ndarray, k: int, rng) -> np.ndarray:
    """``k`` of the positions ``0..len(strata)-1`` (sorted), spread as evenly over the strata as
    their sizes allow: every stratum gives ``min(size, level)`` picks, the level the smallest
    that reaches ``k`` (the last picks at that level drawn at random), drawn at random inside
    each stratum.  A uniform draw would keep a rare kind of flow (lab ``ddos_http``'s keep-alive
    connections: 3-12 flows of thousands of packets beside thousands of one-request flows) with
    the class's sampling rate only, so a few of them or none would reach training."""
    n = len(strata)
    if k >= n:
        return np.arange(n)
    codes, uniq = pd.factorize(strata)
    sizes = np.bincount(codes, minlength=len(uniq))
    # water-filling: strata smaller than the level give all they have, the others the level each
    rem, left, level = k, len(sizes), 0
    for sz in np.sort(sizes):
        if sz * left >= rem:
            level = rem // left
            break
        rem -= sz
        left -= 1
    take = np.minimum(sizes, level)
    extra = k - int(take.sum())
    if extra:
        open_ = np.flatnonzero(sizes > take)
        take[rng.choice(open_, extra, replace=False)] += 1
    picks = []
    for c in range(len(uniq)):
        idx = np.flatnonzero(codes == c)
        picks.append(idx if take[c] >= len(idx) else rng.choice(idx, take[c], replace=False))
    return np.sort(np.concatenate(picks))


def _capped(idx: np.ndarray, k: int, rng, strata: np.ndarray | None = None) -> np.ndarray:
    """``idx`` when it has at most ``k`` entries, else ``k`` of them (in order): spread over
    ``strata[idx]`` (:func:`stratified_pick`), or drawn uniformly without strata."""
    if len(idx) <= k:
        return idx
    if strata is None:
        return np.sort(rng.choice(idx, k, replace=False))
    return idx[stratified_pick(strata[idx], k, rng)]


def _run_sample(w_unique: np.ndarray, inverse: np.ndarray, yc: np.ndarray, ys: np.ndarray, run_cap: int,
                rng, past: int, stratify: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """At most ``run_cap`` distinct (window, label) pairs per class of one run, as rows, spread
    over the anchor flows' size strata (:func:`stratified_pick`; ``stratify=False``: uniformly)."""
    pair = pair_labels(yc, ys)
    uk = np.unique(inverse * 64 + pair)
    pu = uk % 64
    strata = size_strata(w_unique[uk // 64], past) if stratify else None
    keep = [_capped(np.flatnonzero(pu == c), run_cap, rng, strata) for c in np.unique(pu)]
    uk = uk[np.concatenate(keep)]
    rows = uk // 64
    return w_unique[rows], uk % 64 // len(SUBCATEGORIES), uk % 64 % len(SUBCATEGORIES), rows


def encode_runs(runs: list[Run], spec: WindowSpec, run_cap: int | None = None, seed: int = 0,
                stratify: bool = True, with_ranges: bool = False, short: int = 0) -> Encoded:
    """Distinct windows of ``runs`` with per-flow labels.  With ``run_cap`` (training only),
    each run keeps at most ``run_cap`` distinct (window, label) pairs per class, one row each
    (bounded memory: flood runs have tens of thousands of distinct windows, of which the
    per-class ``cap`` keeps a few thousand in all anyway).  ``with_ranges``: also the runs'
    :class:`TrainingRanges` (``Encoded.ranges``: what model.json's ``ranges`` records)."""
    xs, invs, ycs, yss, rids, offset = [], [], [], [], [], 0
    ranges = TrainingRanges() if with_ranges else None
    for i, r in enumerate(runs):
        w = build_windows(r.flows, spec)
        yc, ys = label_codes(r.flows, r.name)
        if ranges is not None:
            ranges.add(w, ys)
        if run_cap is not None:
            unique, inverse = w.unique, w.inverse
            if short:  # the run's short captures join its windows before the run's cap
                cut = short_captures(r.flows, short, np.random.default_rng([seed, i, 1]))
                if len(cut):
                    ws = build_windows(cut, spec)
                    yc2, ys2 = label_codes(cut, r.name)
                    unique = np.concatenate([unique, ws.unique])
                    inverse = np.concatenate([inverse, ws.inverse + len(w.unique)])
                    yc, ys = np.concatenate([yc, yc2]), np.concatenate([ys, ys2])
            x, yc, ys, _ = _run_sample(unique, inverse, yc, ys, run_cap, np.random.default_rng([seed, i]),
                                       spec.past, stratify)
            xs.append(x)
            invs.append(np.arange(len(x)) + offset)
            offset += len(x)
            ycs.append(yc)
            yss.append(ys)
            rids.append(np.full(len(yc), i))
            continue
        xs.append(w.unique)
        invs.append(w.inverse + offset)
        offset += len(w.unique)
        ycs.append(yc)
        yss.append(ys)
        rids.append(np.full(len(yc), i))
    C = len(CHANNELS)
    return Encoded(np.concatenate(xs) if xs else np.zeros((0, spec.steps, C), np.float32),
                   np.concatenate(invs) if invs else np.zeros(0, np.int64),
                   np.concatenate(ycs) if ycs else np.zeros(0, np.int64),
                   np.concatenate(yss) if yss else np.zeros(0, np.int64),
                   np.concatenate(rids) if rids else np.zeros(0, np.int64), [r.name for r in runs],
                   ranges=ranges)


class TrainingRanges:
    """What model.json's ``ranges`` records of the training runs, widened run by run: the
    channel ranges (:func:`forensics.sequences.channel_ranges`) of every window, and per
    subcategory code of the windows of the flows labeled with it."""

    def __init__(self):
        self.lo = self.hi = None
        self.sub: dict[int, tuple] = {}

    def add(self, w, ys: np.ndarray) -> None:
        """A run's windows ``w`` and its flows' subcategory codes ``ys``."""
        def widen(old, new):
            return new if old is None else (np.minimum(old[0], new[0]), np.maximum(old[1], new[1]))

        self.lo, self.hi = widen(None if self.lo is None else (self.lo, self.hi), channel_ranges([w]))
        for s in np.unique(ys).tolist():
            self.sub[s] = widen(self.sub.get(s), channel_ranges([w], [np.unique(w.inverse[ys == s])]))

    def meta(self) -> dict:
        return ranges_meta((self.lo, self.hi), self.sub)


def pair_labels(y_cat: np.ndarray, y_sub: np.ndarray) -> np.ndarray:
    return y_cat * len(SUBCATEGORIES) + y_sub


def distinct_labeled(enc: Encoded) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (window, label) pairs: (x, pair label, count, run index)."""
    pair = pair_labels(enc.y_cat, enc.y_sub)
    key = enc.inverse * 64 + pair
    uk, first, counts = np.unique(key, return_index=True, return_counts=True)
    return enc.x[uk // 64], uk % 64, counts, enc.run[first]


def balance_training(x: np.ndarray, pair: np.ndarray, cap: int, seed: int, strata: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Cap every (category, subcategory) class at ``cap`` rows, then SMOTE the rest up to the largest class.

    ``strata`` (per row, e.g. run and anchor size: :func:`size_strata`): the cap's picks are
    spread over them (:func:`stratified_pick`); without, drawn uniformly."""
    from imblearn.over_sampling import SMOTE, RandomOverSampler

    rng = np.random.default_rng(seed)
    keep = np.concatenate([_capped(np.flatnonzero(pair == c), cap, rng, strata) for c in np.unique(pair)])
    x, pair = x[keep], pair[keep]
    before = {int(c): int(n) for c, n in zip(*np.unique(pair, return_counts=True))}
    shape = x.shape[1:]
    flat = x.reshape(len(x), -1)
    classes, counts = np.unique(pair, return_counts=True)
    if len(classes) > 1:
        small = {int(c): 6 for c, n in zip(classes, counts) if n < 6}
        if small:  # SMOTE needs k+1 neighbours: repeat tiny classes first
            flat, pair = RandomOverSampler(sampling_strategy=small, random_state=seed).fit_resample(flat, pair)
        flat, pair = SMOTE(k_neighbors=5, random_state=seed).fit_resample(flat, pair)
    after = {int(c): int(n) for c, n in zip(*np.unique(pair, return_counts=True))}
    return flat.reshape((-1, *shape)).astype(np.float32), pair, {"before_smote": before, "after_smote": after}


def pair_names(pairs) -> dict[str, int]:
    n = len(SUBCATEGORIES)
    return {f"{CATEGORIES[int(p) // n]}/{SUBCATEGORIES[int(p) % n]}": int(v) for p, v in pairs.items()}


# ----------------------------------------------------------------------------- torch training


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 8
    past: int = 5
    embed: int = 16
    conv: int = 16
    hidden: int = 16
    kernel: int = 3
    stride: int = 2
    dropout: float = 0.3
    epochs: int = 30
    patience: int = 5
    batch: int = 512
    lr: float = 3e-3
    cap: int = 6000  # max distinct windows per (category, subcategory) class before SMOTE
    seed: int = 7
    threads: int = 1  # 2 OpenMP threads spin badly on a busy 2-core machine
    class_weight: str = "balanced"  # cross-entropy class weights: balanced (inverse frequency), sqrt, none
    run_cap: int | None = 2000  # max distinct windows per class and training run, before ``cap`` (memory bound)
    # both caps spread their picks over strata (run, anchor flow's log2 packet count) instead of drawing
    # uniformly, so rare kinds of flow of a class reach training (stratified_pick)
    stratify: bool = True
    # learning rate: cosine (decays to 0 over ``epochs``, every epoch runs, the best validation epoch is
    # kept) or constant (stops after ``patience`` epochs without a better validation score).  Measured on
    # validation run26 (train runs 0-25): the constant rate's epoch-to-epoch validation score swings by
    # 0.01-0.02 (so the kept epoch is a draw), the cosine schedule's last 10 epochs stay within 0.005
    schedule: str = "cosine"
    # short-capture augmentation: per training run and block size (SHORT_SIZES flows), this many
    # blocks of consecutive flows are also windowed as captures of their own (0: none), so the
    # model sees flows without the context a long capture gives (short_captures)
    short_captures: int = 0


# flows per block of the short-capture augmentation (a capture of 1, 2, 3, 5, 8 or 13 flows)
SHORT_SIZES = (1, 2, 3, 5, 8, 13)


def short_captures(flows: pd.DataFrame, blocks: int, rng) -> pd.DataFrame:
    """``blocks`` random runs of consecutive flows (by start time) of each size in
    :data:`SHORT_SIZES`, each made a capture of its own: every address gets the block's number
    appended, so no window and no host profile reaches outside the block (windows compare
    addresses only for equality).  Labels are the flows' own."""
    if not blocks or not len(flows):
        return flows.iloc[:0]
    order = np.argsort(flows["stime"].to_numpy(), kind="stable")
    parts, tags = [], []
    for size in SHORT_SIZES:
        if size > len(flows):
            break
        for start in rng.integers(0, len(flows) - size + 1, size=blocks):
            parts.append(order[start:start + size])
            tags.append(np.full(size, len(tags)))
    rows, tag = np.concatenate(parts), np.concatenate(tags).astype(str)
    out = flows.iloc[rows].reset_index(drop=True)
    for c in ("saddr", "daddr"):
        out[c] = out[c].astype(str).to_numpy(dtype=object) + "#" + tag.astype(object)
    return out


def set_determinism(seed: int, threads: int) -> None:
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def scaler_fit(x: np.ndarray, chunk: int = 1 << 20) -> tuple[np.ndarray, np.ndarray]:
    flat = x.reshape(-1, x.shape[-1])
    n = max(1, len(flat))
    # float64 sums chunk by chunk: no float64 copy of the whole training set
    s1 = sum((flat[lo:lo + chunk].astype(np.float64).sum(0) for lo in range(0, len(flat), chunk)), np.zeros(flat.shape[1]))
    mean = s1 / n
    s2 = sum((((flat[lo:lo + chunk].astype(np.float64) - mean) ** 2).sum(0) for lo in range(0, len(flat), chunk)),
             np.zeros(flat.shape[1]))
    std = np.sqrt(s2 / n)
    # a floor keeps near-constant training features from exploding on new data
    std = np.maximum(std, STD_FLOOR)
    return mean.astype(np.float32), std.astype(np.float32)


def predict_arrays(model, x: np.ndarray, mean, std, batch: int = 65536, device: str = "cpu"):
    """Softmax probabilities (category, subcategory) for distinct windows ``x``."""
    import torch

    pc, ps = [], []
    m = torch.as_tensor(mean, device=device)
    s = torch.as_tensor(std, device=device)
    model.eval()
    with torch.no_grad():
        for lo in range(0, len(x), batch):
            xb = ((torch.as_tensor(x[lo:lo + batch], device=device) - m) / s).clamp_(-CLIP, CLIP)
            a, b = model(xb)
            pc.append(torch.softmax(a, 1).cpu().numpy())
            ps.append(torch.softmax(b, 1).cpu().numpy())
    if not pc:
        return np.zeros((0, len(CATEGORIES)), np.float32), np.zeros((0, len(SUBCATEGORIES)), np.float32)
    return np.concatenate(pc), np.concatenate(ps)


def constrain_sub(p_cat: np.ndarray, p_sub: np.ndarray) -> np.ndarray:
    """Subcategory prediction restricted to those allowed for the predicted category."""
    from forensics.refine import allowed_mask

    mask = allowed_mask(CATEGORIES, SUBCATEGORIES, ALLOWED)
    cat = p_cat.argmax(1)
    return np.where(mask[cat], p_sub, -1.0).argmax(1)


def train_torch(kind: str, x_tr, pair_tr, val: Encoded | None, cfg: TrainConfig, mean, std, log=print):
    import torch
    from sklearn.metrics import f1_score
    from torch import nn

    from forensics.model import Arch, Detector

    set_determinism(cfg.seed, cfg.threads)
    arch = Arch(kind=kind, channels=x_tr.shape[2], steps=cfg.steps, embed=cfg.embed, conv=cfg.conv,
                kernel=cfg.kernel, stride=cfg.stride, hidden=cfg.hidden, dropout=cfg.dropout, n_cat=len(CATEGORIES), n_sub=len(SUBCATEGORIES))
    model = Detector(arch)
    yc = pair_tr // len(SUBCATEGORIES)
    ys = pair_tr % len(SUBCATEGORIES)

    def weights(y, n):
        cnt = np.bincount(y, minlength=n).astype(np.float64)
        w = np.where(cnt > 0, cnt.sum() / np.maximum(cnt, 1) / max(1, (cnt > 0).sum()), 0.0)
        if cfg.class_weight == "sqrt":
            w = np.sqrt(w)
        elif cfg.class_weight == "none":
            w = (cnt > 0).astype(np.float64)
        return torch.tensor(w, dtype=torch.float32)

    loss_c = nn.CrossEntropyLoss(weight=weights(yc, len(CATEGORIES)))
    loss_s = nn.CrossEntropyLoss(weight=weights(ys, len(SUBCATEGORIES)))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    if cfg.schedule not in ("constant", "cosine"):
        raise ForensicsError(f"unknown learning-rate schedule {cfg.schedule!r} (constant or cosine)")
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs) if cfg.schedule == "cosine" else None
    xt = ((torch.as_tensor(x_tr) - torch.as_tensor(mean)) / torch.as_tensor(std)).clamp_(-CLIP, CLIP)
    yct, yst = torch.as_tensor(yc), torch.as_tensor(ys)
    g = torch.Generator().manual_seed(cfg.seed)
    best, best_state, bad, history = -1.0, None, 0, []
    for epoch in range(cfg.epochs):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(len(xt), generator=g)
        total = 0.0
        for lo in range(0, len(xt), cfg.batch):
            idx = perm[lo:lo + cfg.batch]
            a, b = model(xt[idx])
            loss = loss_c(a, yct[idx]) + loss_s(b, yst[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        if sched is not None:
            sched.step()
        score = None
        if val is not None and len(val.y_cat):
            pc, ps = predict_arrays(model, val.x, mean, std)
            pc, ps = pc[val.inverse], ps[val.inverse]
            f_cat = f1_score(val.y_cat, pc.argmax(1), average="macro")
            f_sub = f1_score(val.y_sub, constrain_sub(pc, ps), average="macro")
            score = (f_cat + f_sub) / 2
        history.append({"epoch": epoch + 1, "loss": total / len(xt), "val_macro_f1": score,
                        "seconds": round(time.perf_counter() - t0, 2)})
        log(f"[{kind}] epoch {epoch + 1}: loss {total / len(xt):.4f}"
            + (f", val macro-F1 (cat+sub)/2 {score:.4f}" if score is not None else ""))
        if score is None:
            continue
        if score > best + 1e-6:
            best, bad = score, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            # a cosine schedule runs every epoch: its late, small steps are the point of it
            if bad >= cfg.patience and sched is None:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model, arch, history


# ----------------------------------------------------------------------------- metrics


def metric_table(y: np.ndarray, proba: np.ndarray, pred: np.ndarray, names: list[str]) -> dict:
    from sklearn.metrics import (accuracy_score, average_precision_score, f1_score,
                                 precision_recall_fscore_support, roc_auc_score)

    present = sorted(set(np.unique(y).tolist()))
    labels = sorted(set(present) | set(np.unique(pred).tolist()))
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    per_class = {names[c]: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
                 for i, c in enumerate(labels)}
    out = {"n": int(len(y)), "accuracy": float(accuracy_score(y, pred)),
           "macro_f1": float(f1_score(y, pred, labels=present, average="macro", zero_division=0)),
           "per_class": per_class, "pr_auc": None, "roc_auc": None}
    if len(present) > 1:
        onehot = (y[:, None] == np.array(present)[None, :]).astype(int)
        pp = proba[:, present]
        out["pr_auc"] = float(np.mean([average_precision_score(onehot[:, i], pp[:, i]) for i in range(len(present))]))
        out["roc_auc"] = float(np.mean([roc_auc_score(onehot[:, i], pp[:, i]) for i in range(len(present))]))
    return out


def evaluate_probs(y_cat, y_sub, p_cat, p_sub, pred_sub=None) -> dict:
    pred_cat = p_cat.argmax(1)
    if pred_sub is None:
        pred_sub = constrain_sub(p_cat, p_sub)
    return {"category": metric_table(y_cat, p_cat, pred_cat, CATEGORIES),
            "subcategory": metric_table(y_sub, p_sub, pred_sub, SUBCATEGORIES)}


def balanced_test(enc: Encoded, per_class: int, seed: int):
    """SMOTE-balanced version of a test set (the seed paper's D2): every
    (category, subcategory) class undersampled to at most ``per_class`` flows,
    then SMOTE up to the largest."""
    from imblearn.over_sampling import SMOTE, RandomOverSampler

    rng = np.random.default_rng(seed)
    pair = pair_labels(enc.y_cat, enc.y_sub)
    keep = []
    for c in np.unique(pair):
        idx = np.flatnonzero(pair == c)
        if len(idx) > per_class:
            idx = np.sort(rng.choice(idx, per_class, replace=False))
        keep.append(idx)
    keep = np.concatenate(keep)
    x = enc.x[enc.inverse[keep]]
    y = pair[keep]
    source = keep
    shape = x.shape[1:]
    flat = x.reshape(len(x), -1)
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) > 1:
        small = {int(c): 6 for c, n in zip(classes, counts) if n < 6}
        if small:
            ros = RandomOverSampler(sampling_strategy=small, random_state=seed)
            flat, y = ros.fit_resample(flat, y)
            source = source[ros.sample_indices_]  # (repeated rows are copies of test flows too)
        before = flat
        flat, y = SMOTE(k_neighbors=5, random_state=seed).fit_resample(flat, y)
        # SMOTE returns its input rows first, then the synthetic ones
        if not np.array_equal(flat[:len(before)], before):
            raise ForensicsError("SMOTE did not keep its input rows first: cannot tell real rows from synthetic ones")
        source = np.concatenate([source, np.full(len(flat) - len(before), -1, dtype=np.int64)])
    x = flat.reshape((-1, *shape)).astype(np.float32)
    return Encoded(x, np.arange(len(x)), y // len(SUBCATEGORIES), y % len(SUBCATEGORIES), np.zeros(len(x), np.int64),
                   source=np.asarray(source, dtype=np.int64))


class SklearnBaseline:
    """RandomForest / LogisticRegression on flattened windows, one model over
    (category, subcategory) pairs; category and subcategory probabilities are sums over pairs."""

    def __init__(self, kind: str, seed: int):
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.kind = kind
        if kind == "random_forest":
            self.clf = RandomForestClassifier(n_estimators=100, n_jobs=2, random_state=seed, min_samples_leaf=1)
        else:
            self.clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300, C=1.0, random_state=seed))

    def fit(self, x, pair):
        self.clf.fit(x.reshape(len(x), -1), pair)
        return self

    def predict_arrays(self, x):
        pp = self.clf.predict_proba(x.reshape(len(x), -1))
        classes = self.clf.classes_
        n = len(SUBCATEGORIES)
        pc = np.zeros((len(x), len(CATEGORIES)))
        ps = np.zeros((len(x), n))
        for j, c in enumerate(classes):
            pc[:, c // n] += pp[:, j]
            ps[:, c % n] += pp[:, j]
        # subcategory = that of the most probable pair inside the predicted category
        best_pair = classes[np.argmax(np.where((classes[None, :] // n) == pc.argmax(1)[:, None], pp, -1), axis=1)]
        return pc, ps, best_pair % n


# ----------------------------------------------------------------------------- per-host verdicts


def host_verdicts(run: Run, pred_cat: np.ndarray, min_fraction: float = 0.5) -> dict:
    """Which lab hosts the predictions call attackers, against ``truth.json``.

    Blame: ``forensics.attribution.blame`` (the rule the report uses): Theft on
    the destination, other attacks on the source unless the source sent nothing or is
    the server end of a flood flow (a flow turned round on a first SYN-ACK), floods with forged sources on the host their
    frames' MAC is bound to, then re-blamed on the other end when that end has
    more blamed attack flows.  A host is called an attacker when at least ``min_fraction`` of its
    flows are attack flows blamed on it; its categories are those of its blamed
    flows.  Verdict ok: a normal host is not called an attacker; an attacker's
    majority predicted category is one of its true categories and every true
    category is predicted.
    """
    truth = run.truth or {}
    df = run.flows
    names = np.array(CATEGORIES)
    pc = names[pred_cat]
    saddr = df["saddr"].astype(str).to_numpy()
    daddr = df["daddr"].astype(str).to_numpy()
    attack = pc != "Normal"
    blame = np.full(len(df), "", dtype=object)
    if attack.any():
        labeled = attribution.labeled(df, pc)
        hosts_by_mac = attribution.mac_hosts(labeled)
        blame[attack] = attribution.blame_frame(labeled[attack], hosts=hosts_by_mac,
                                                services=attribution.listening_services(labeled))[0]
    hosts = truth.get("hosts") or {}
    truth_cats: dict[str, set] = {}
    for a in truth.get("attacks", []):
        for ip in a["attackers"]:
            truth_cats.setdefault(ip, set()).add(a["category"])
    out = []
    ok = True
    for name, h in sorted(hosts.items()):
        ip = h.get("ip")
        involved = (saddr == ip) | (daddr == ip) | (blame == ip)  # (forged floods traced to it by MAC too)
        n_all = int(involved.sum())
        att = attack & (blame == ip)
        n_att = int(att.sum())
        called = n_all > 0 and n_att / n_all >= min_fraction
        vc = pd.Series(pc[att]).value_counts()
        predicted = sorted(vc.index) if called else ["Normal"]
        majority = vc.index[0] if called else "Normal"
        expected = sorted(truth_cats.get(ip, {"Normal"}))
        if expected != ["Normal"] and not n_all:
            verdict = "unobservable"  # fully spoofed: the attacker's address never appears
        else:
            good = majority in expected and set(expected) <= set(predicted)
            verdict = "ok" if good else "wrong"
            ok &= good
        out.append({"host": name, "ip": ip, "truth": "+".join(expected), "predicted": "+".join(predicted),
                    "flows": n_all, "attack_flows": n_att, "verdict": verdict})
    spoofed_ok = None
    lab_ips = {h.get("ip") for h in hosts.values()}
    if any(a.get("spoofed") for a in truth.get("attacks", [])):
        lab_true = df["category"].astype(str).to_numpy()
        m = ~np.isin(saddr, list(lab_ips)) & (lab_true != "Normal")
        if m.any():
            spoofed_ok = float((pc[m] == lab_true[m]).mean())
    return {"run": run.name, "hosts": out, "all_ok": bool(ok), "spoofed_source_flows_correct": spoofed_ok}


# ----------------------------------------------------------------------------- pipelines


MODEL_VERSION = "1.7.0"  # the version forensics train writes (the bundled model: model/model.json)


def _quiet(*a, **k):
    pass


def load_dataset(paths, log=print, use_cache: bool = True, splits=("train", "val", "test")):
    """Runs of ``paths`` by split; runs of a split not in ``splits`` are not even read
    (``splits=("train", "val")`` keeps the test runs unseen while choosing hyper-parameters)."""
    entries = find_runs(paths)
    split = split_runs(entries)
    runs = {"train": [], "val": [], "test": []}
    for i, e in enumerate(entries):
        if split[e[0]] not in splits:
            log(f"run {i + 1}/{len(entries)} {e[0]}: {split[e[0]]} run, not read")
            continue
        t0 = time.perf_counter()
        r = load_run(e, use_cache)
        runs[split[e[0]]].append(r)
        log(f"run {i + 1}/{len(entries)} {r.name}: {len(r.flows)} flows -> {split[e[0]]} "
            f"({time.perf_counter() - t0:.1f}s)")
    return runs


def _torch_predictor(model, mean, std):
    def f(x):
        pc, ps = predict_arrays(model, x, mean, std)
        return pc, ps, None
    return f


def refine_runs(runs: list[Run], enc: Encoded, p_flow: np.ndarray, ps_flow: np.ndarray | None = None,
                pred_sub: np.ndarray | None = None):
    """Per-flow probabilities of ``enc``'s flows (runs in order) after the capture-level steps
    of :func:`forensics.refine.refine_flows` (backscatter, DoS <-> DDoS, too little traffic, same flood, ARP flows), run by run, as
    :meth:`forensics.detect.Detector.predict` applies them to a scanned capture.  Returns
    ``p_flow`` alone when ``ps_flow`` is None, else ``(p_flow, ps_flow, pred_sub)``
    (``pred_sub``: a model's own subcategory choice, overridden where an ARP or backscatter flow changed)."""
    from forensics.refine import allowed_mask, refine_flows

    mask = allowed_mask(CATEGORIES, SUBCATEGORIES, ALLOWED)
    out_c, out_s = p_flow, ps_flow
    ps_in = ps_flow if ps_flow is not None else np.full((len(p_flow), len(SUBCATEGORIES)), 1.0 / len(SUBCATEGORIES))
    psub = None if pred_sub is None else np.array(pred_sub, copy=True)
    for i, r in enumerate(runs):
        rows = np.flatnonzero(enc.run == i)
        if not len(rows):
            continue
        res = refine_flows(r.flows, p_flow[rows], ps_in[rows], CATEGORIES, SUBCATEGORIES, mask)
        if res.changed:
            out_c = out_c.copy() if out_c is p_flow else out_c
            out_c[rows] = res.p_cat
            if ps_flow is not None:
                out_s = out_s.copy() if out_s is ps_flow else out_s
                out_s[rows] = res.p_sub
            changed_sub = res.sub_rows
            if psub is not None and len(changed_sub):
                sub_i = np.where(mask[res.p_cat[changed_sub].argmax(1)], res.p_sub[changed_sub], -1.0).argmax(1)
                psub[rows[changed_sub]] = sub_i
    if ps_flow is None:
        return out_c
    return out_c, out_s, psub


def evaluate_models(predictors: dict, test: Encoded, balanced: Encoded | None, test_runs: list[Run] | None = None) -> dict:
    """Tables for every predictor (name -> f(x) -> (p_cat, p_sub, pred_sub|None)) on the
    imbalanced per-flow test set and on its balanced version.  With ``test_runs`` (the runs
    ``test`` was encoded from) every predictor's per-flow probabilities go through the
    capture-level steps first (:func:`refine_runs`: DoS -> DDoS, ARP flows); the balanced set
    is scored on the model's own outputs (``balanced``: SMOTE rows have no capture behind
    them) and, with ``test_runs``, also as a scan would score its real rows
    (``balanced_capture``: rows that copy a held-out flow take that flow's refined output, SMOTE
    rows keep the model's own)."""
    out = {}
    for name, f in predictors.items():
        pc, ps, psub = f(test.x)
        p_flow, ps_flow = pc[test.inverse], ps[test.inverse]
        psub_flow = None if psub is None else psub[test.inverse]
        if test_runs is not None:
            p_flow, ps_flow, psub_flow = refine_runs(test_runs, test, p_flow, ps_flow, psub_flow)
        res = {"imbalanced": evaluate_probs(test.y_cat, test.y_sub, p_flow, ps_flow, psub_flow)}
        if balanced is not None and len(balanced.y_cat):
            pc, ps, psub = f(balanced.x)
            res["balanced"] = evaluate_probs(balanced.y_cat, balanced.y_sub, pc, ps, psub)
            if test_runs is not None and balanced.source is not None:
                real = np.flatnonzero(balanced.source >= 0)
                src = balanced.source[real]
                pc, ps = pc.copy(), ps.copy()
                pc[real], ps[real] = p_flow[src], ps_flow[src]
                if psub is not None:  # (then psub_flow, the same predictor's per-flow choice, is too)
                    psub = np.array(psub, copy=True)
                    psub[real] = psub_flow[src]
                res["balanced_capture"] = evaluate_probs(balanced.y_cat, balanced.y_sub, pc, ps, psub)
        out[name] = res
    return out


def run_evaluation(model, mean, std, runs: dict, cfg: TrainConfig, baselines: bool, train_data=None, log=print) -> dict:
    spec = WindowSpec(cfg.steps, cfg.past)
    test_runs = runs["test"]
    if not test_runs:
        raise ForensicsError("no held-out test runs: give at least two runs per scenario")
    test = encode_runs(test_runs, spec)
    balanced = balanced_test(test, per_class=2000, seed=cfg.seed + 1)
    predictors = {"cnn_lstm": _torch_predictor(model, mean, std)}
    timings = {}
    if baselines:
        if train_data is None:
            train_data = prepare_training(runs, cfg, log)
        x_bal, pair_bal, val_enc, mean_b, std_b = (train_data["x"], train_data["pair"], train_data["val"],
                                                   train_data["mean"], train_data["std"])
        for kind in ("cnn", "lstm"):
            t0 = time.perf_counter()
            m, _, _ = train_torch(kind, x_bal, pair_bal, val_enc, cfg, mean_b, std_b, log)
            timings[f"{kind}_only"] = round(time.perf_counter() - t0, 1)
            predictors[f"{kind}_only"] = _torch_predictor(m, mean_b, std_b)
        for kind in ("random_forest", "logistic_regression"):
            t0 = time.perf_counter()
            log(f"[{kind}] fitting on {len(x_bal)} windows")
            b = SklearnBaseline(kind, cfg.seed).fit(x_bal, pair_bal)
            timings[kind] = round(time.perf_counter() - t0, 1)
            predictors[kind] = b.predict_arrays
    log("evaluating on held-out runs")
    tables = evaluate_models(predictors, test, balanced, test_runs)
    # per-host verdicts of the CNN-LSTM (refined like a scan's)
    # (with the model's subcategory probabilities, as a scan has them: the steps that read the
    # subcategory, keylogging's, would otherwise see a uniform one, and Theft's first, Keylogging)
    pc, ps = predict_arrays(model, test.x, mean, std)
    pred = refine_runs(test_runs, test, pc[test.inverse], ps[test.inverse])[0].argmax(1)
    hosts = []
    for i, r in enumerate(test_runs):
        if r.truth is not None:
            hosts.append(host_verdicts(r, pred[test.run == i]))
    return {"tables": tables, "hosts": hosts, "normal_hosts_named": [list(t) for t in named_normal_hosts(hosts)],
            "test_runs": [r.name for r in test_runs],
            "test_flows": int(len(test.y_cat)), "test_distinct_windows": int(len(test.x)),
            "balanced_rows": int(len(balanced.y_cat)),
            "balanced_real_rows": int((balanced.source >= 0).sum()),
            "baseline_fit_seconds": timings}


def prepare_training(runs: dict, cfg: TrainConfig, log=print) -> dict:
    spec = WindowSpec(cfg.steps, cfg.past)
    if not runs["train"]:
        raise ForensicsError("no training runs")
    tr = encode_runs(runs["train"], spec, run_cap=cfg.run_cap, seed=cfg.seed, stratify=cfg.stratify, with_ranges=True,
                     short=cfg.short_captures)
    ranges = tr.ranges
    n_train_flows = sum(len(r.flows) for r in runs["train"])
    val = encode_runs(runs["val"], spec) if runs["val"] else None
    x_d, pair_d, _, run_d = distinct_labeled(tr)
    del tr
    mean, std = scaler_fit(x_d)
    # the cap spreads each class over runs and anchor sizes (keep-alive floods beside one-request ones)
    strata = run_d * 64 + np.minimum(size_strata(x_d, spec.past), 63) if cfg.stratify else None
    x_bal, pair_bal, info = balance_training(x_d, pair_d, cfg.cap, cfg.seed, strata)
    info = {"train_flows": int(n_train_flows), "train_distinct_windows": int(len(x_d)),
            "before_smote": pair_names(info["before_smote"]), "after_smote": pair_names(info["after_smote"]),
            "val_flows": int(len(val.y_cat)) if val else 0}
    log(f"training set: {info['train_flows']} flows, {info['train_distinct_windows']} distinct labeled windows, "
        f"{len(x_bal)} after cap {cfg.cap} + SMOTE")
    return {"x": x_bal, "pair": pair_bal, "val": val, "mean": mean, "std": std, "info": info, "ranges": ranges}


# how far outside its training range (in units of the scaler's std) a channel may lie before
# inference calls the flow's window unfamiliar (forensics.detect, "unfamiliar"): any window, and
# a window with an attack verdict against the training windows of the verdict's subcategory
RANGE_TOLERANCE = 1.0
VERDICT_TOLERANCE = 2.0


def ranges_meta(ranges: tuple, sub_ranges: dict | None = None) -> dict:
    """model.json's ``ranges``: per channel, the training windows' least and greatest value;
    ``subcategories``: the same over the windows of the flows labeled with each subcategory."""
    lo, hi = ranges
    out = {"lo": [float(v) for v in lo], "hi": [float(v) for v in hi], "tolerance_std": RANGE_TOLERANCE,
           "over": "every step (padding included) of every distinct window of the training runs"}
    if sub_ranges:
        out["subcategories"] = {SUBCATEGORIES[s]: {"lo": [float(v) for v in l], "hi": [float(v) for v in h]}
                                for s, (l, h) in sorted(sub_ranges.items())}
        out["verdict_tolerance_std"] = VERDICT_TOLERANCE
    return out


def train_bundle(paths, out_dir, cfg: TrainConfig = TrainConfig(), baselines: bool = True, log=print,
                 use_cache: bool = True, eval_split: str = "test") -> dict:
    """:func:`_train_bundle`; torch's thread count and deterministic mode, which training sets
    process-wide (:func:`set_determinism`), are given back afterwards: a scan later in the same
    process would otherwise compute on ``cfg.threads`` threads."""
    import torch

    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    try:
        return _train_bundle(paths, out_dir, cfg, baselines, log, use_cache, eval_split)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _train_bundle(paths, out_dir, cfg: TrainConfig = TrainConfig(), baselines: bool = True, log=print,
                  use_cache: bool = True, eval_split: str = "test") -> dict:
    """The whole `forensics train`: data -> model folder with weights, model.json, metrics.json, MODEL_CARD.md.

    ``eval_split="val"``: the test runs are not read at all; the model (and baselines) are scored
    on the validation runs instead and the scores go to ``metrics-val.json`` (no model card).
    Validation also picks the epoch, so these scores are for comparing settings, not for reporting.
    """
    from forensics.detect import save_model

    if eval_split not in ("test", "val"):
        raise ForensicsError(f"eval split must be 'test' or 'val', not {eval_split!r}")
    t_start = time.perf_counter()
    runs = load_dataset(paths, log, use_cache, splits=("train", "val", "test") if eval_split == "test" else ("train", "val"))
    data = prepare_training(runs, cfg, log)
    t0 = time.perf_counter()
    model, arch, history = train_torch("cnn_lstm", data["x"], data["pair"], data["val"], cfg, data["mean"],
                                       data["std"], log)
    train_seconds = time.perf_counter() - t0
    spec = WindowSpec(cfg.steps, cfg.past)
    extra = {
        "training": {"config": cfg.__dict__, "data": [str(p) for p in paths],
                     "split": {k: [r.name for r in v] for k, v in runs.items()}, **data["info"],
                     "history": history, "train_seconds": round(train_seconds, 1)},
        "ranges": data["ranges"].meta(),
    }
    meta = save_model(out_dir, model, arch, spec, data["mean"], data["std"], MODEL_VERSION, extra)
    log(f"model written to {out_dir} (sha256 {meta['sha256'][:12]}...)")
    report = None
    if eval_split == "val":
        if runs["val"]:
            log("evaluating on the VALIDATION runs (test runs not read)")
            report = run_evaluation(model, data["mean"], data["std"], {**runs, "test": runs["val"]}, cfg, baselines, data, log)
            report.update(eval_split="val", total_seconds=round(time.perf_counter() - t_start, 1),
                          train_seconds=round(train_seconds, 1), history=history)
            Path(out_dir, "metrics-val.json").write_text(json.dumps(report, indent=1) + "\n")
    elif runs["test"]:
        report = run_evaluation(model, data["mean"], data["std"], runs, cfg, baselines, data, log)
        report["eval_split"] = "test"
        report["total_seconds"] = round(time.perf_counter() - t_start, 1)
        report["train_seconds"] = round(train_seconds, 1)
        Path(out_dir, "metrics.json").write_text(json.dumps(report, indent=1) + "\n")
        write_model_card(Path(out_dir), meta, report, paths)
    return {"meta": meta, "report": report}


# ----------------------------------------------------------------------------- reporting


def add_ranges(paths, model_dir, log=print, use_cache: bool = True) -> dict:
    """Recompute the ``ranges`` of the model in ``model_dir`` from its training runs (model.json
    ``training.split.train``) found among ``paths``, and write them into its model.json; the
    weights are not touched.  (How the bundled 1.3.0, trained before ranges existed, got them.)"""
    meta_path = Path(model_dir) / "model.json"
    meta = json.loads(meta_path.read_text())
    names = list(meta.get("training", {}).get("split", {}).get("train", []))
    spec = WindowSpec(int(meta["window"]["steps"]), int(meta["window"]["past"]))
    found = {e[0]: e for e in find_runs(paths)}
    have = [n for n in names if n in found]
    if not have:
        raise ForensicsError(f"none of the {len(names)} training runs of {meta_path} is among the data given")
    ranges = TrainingRanges()
    for n in have:
        r = load_run(found[n], use_cache)
        ranges.add(build_windows(r.flows, spec), label_codes(r.flows, r.name)[1])
    block = ranges.meta()
    if len(have) < len(names):
        missing = sorted(set(names) - set(have))
        block["over"] += (f"; from the {len(have)} of the model's {len(names)} training runs that were given "
                          f"({len(missing)} missing, e.g. {missing[0]})")
    meta["ranges"] = block
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    log(f"ranges of {len(have)} of {len(names)} training runs written to {meta_path}")
    return block


def _fmt(v, digits=4):
    return "-" if v is None else f"{v:.{digits}f}"


def tables_markdown(tables: dict) -> str:
    lines = []
    titles = {"imbalanced": "imbalanced held-out test set", "balanced": "balanced held-out test set",
              "balanced_capture": "balanced held-out test set, real rows after the capture-level steps"}
    for setname, title in titles.items():
        if not any(setname in res for res in tables.values()):
            continue
        lines += [f"#### {title}", "",
                  "| model | cat. accuracy | cat. macro-F1 | cat. PR-AUC | cat. ROC-AUC | sub. accuracy | sub. macro-F1 | sub. PR-AUC | sub. ROC-AUC |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for name, res in tables.items():
            if setname not in res:
                continue
            c, s = res[setname]["category"], res[setname]["subcategory"]
            lines.append(f"| {name} | {_fmt(c['accuracy'])} | {_fmt(c['macro_f1'])} | {_fmt(c['pr_auc'])} | "
                         f"{_fmt(c['roc_auc'], 6)} | {_fmt(s['accuracy'])} | {_fmt(s['macro_f1'])} | "
                         f"{_fmt(s['pr_auc'])} | {_fmt(s['roc_auc'], 6)} |")
        lines.append("")
    return "\n".join(lines)


def per_class_markdown(res: dict) -> str:
    lines = []
    for level in ("category", "subcategory"):
        lines += [f"| {level} | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        for name, m in res[level]["per_class"].items():
            lines.append(f"| {name} | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f} | {m['support']} |")
        lines.append("")
    return "\n".join(lines)


def hosts_markdown(hosts: list[dict]) -> str:
    lines = ["| run | host | truth | predicted | attack flows / flows | verdict |", "|---|---|---|---|---|---|"]
    for h in hosts:
        for x in h["hosts"]:
            if x["truth"] == "Normal" and x["predicted"] == "Normal":
                continue  # only attackers and false alarms are listed
            lines.append(f"| {h['run']} | {x['host']} ({x['ip']}) | {x['truth']} | {x['predicted']} | "
                         f"{x['attack_flows']}/{x['flows']} | {x['verdict']} |")
    n_ok = sum(h["all_ok"] for h in hosts)
    lines += ["", f"{n_ok}/{len(hosts)} held-out captures with every lab host's verdict right "
              "(normal hosts with a Normal verdict are not listed)."]
    named = named_normal_hosts(hosts)
    lines.append(f"{len(named)} normal host(s) with attack flows blamed on them" + (
        ": " + ", ".join(f"{run} {host} ({n} of {m} flows)" for run, host, n, m in named) if named else "")
        + " (a verdict needs half of a host's flows; a scan report names every such host an attacker).")
    return "\n".join(lines)


def named_normal_hosts(hosts: list[dict]) -> list[tuple[str, str, int, int]]:
    """(run, host, attack flows, flows) of the normal lab hosts with at least one attack flow
    blamed on them (:func:`host_verdicts`): the host verdict calls a host an attacker only past
    ``min_fraction`` of its flows, but a scan report lists every host blamed for an attack flow
    as an attacker, so these are the false leads a responder would see."""
    return [(h["run"], x["host"], int(x["attack_flows"]), int(x["flows"])) for h in hosts for x in h["hosts"]
            if x["truth"] == "Normal" and x["attack_flows"]]


def _schedule_text(cfg: dict) -> str:
    if cfg.get("schedule", "constant") == "cosine":
        return (f"cosine learning-rate schedule over {cfg['epochs']} epochs, the epoch with the best validation "
                "macro-F1 kept (early stopping by checkpoint)")
    return f"early stopping on validation macro-F1 (patience {cfg['patience']})"


def _strata_text(config: dict) -> str:
    if not config.get("stratify"):
        return " (drawn uniformly)"
    return (" (the picks of both caps spread over strata: run and anchor flow's log2 packet count, so a"
            " rare kind of flow of a class, such as a keep-alive HTTP flood connection beside thousands of"
            " one-request ones, is kept whole)")


def write_model_card(out: Path, meta: dict, report: dict, paths) -> None:
    tr = meta["training"]
    a = meta["arch"]
    card = f"""# Model card: forensics CNN-LSTM detector {meta['version']}

weights sha256 `{meta['sha256']}`

## What it is

A hybrid CNN-LSTM over time-ordered windows of BoT-IoT flow records
(`forensics/sequences.py`, `forensics/model.py`). Each flow gets a window of
T={meta['window']['steps']} steps ({meta['window']['past']} flows before it, the flow, {meta['window']['future']} after) over the
flows sharing its source address, aligned with the same over its destination
address; {a['channels']} channels per step. Per-step Linear({a['channels']}->{a['embed']}) + ReLU,
Conv1d({a['embed']}->{a['conv']}, kernel {a['kernel']}, stride {a['stride']}) + ReLU, LSTM({a['conv']}->{a['hidden']}),
heads for 5 categories and 8 subcategories. Inputs never include addresses,
MACs, pkSeqID, seq or absolute times (addresses are only compared for equality
with the anchor flow's peer).

## Training data and split

Data: `{' '.join(map(str, paths))}` (lab captures labeled from truth.json with the
BoT-IoT rule, see `forensics/lab/truth.py`).
Split by capture run, per scenario: last run = test, the one before = validation,
the rest = training.

- train runs ({len(tr['split']['train'])}): {', '.join(tr['split']['train'])}
- validation runs ({len(tr['split']['val'])}): {', '.join(tr['split']['val'])}
- test runs ({len(tr['split']['test'])}): {', '.join(tr['split']['test'])}

Training flows: {tr['train_flows']}; distinct labeled windows kept: {tr['train_distinct_windows']}
(at most {tr['config'].get('run_cap')} per class and run);
each (category, subcategory) class capped at {tr['config']['cap']} distinct windows{_strata_text(tr['config'])}, then SMOTE
(imbalanced-learn, k=5, training split only) to balance; {tr['config'].get('class_weight', 'balanced')} class-weighted cross-entropy on both heads;
Adam lr {tr['config']['lr']}, batch {tr['config']['batch']}, {_schedule_text(tr['config'])}; seed {tr['config']['seed']}, deterministic algorithms, {tr['config']['threads']} threads.
Epochs run: {len(tr['history'])}; training time {tr['train_seconds']} s (CNN-LSTM only) on the 2-core build machine.

Class counts before SMOTE: {json.dumps(tr['before_smote'])}

## Results on held-out runs

Test flows: {report['test_flows']} ({report['test_distinct_windows']} distinct windows). The
balanced set undersamples each (category, subcategory) class of the test flows to at most
2000 and SMOTEs the rest up to the largest ({report['balanced_rows']} rows), like the seed paper's D2.
PR-AUC and ROC-AUC are one-vs-rest, macro over the classes present.
Baselines are trained on the same SMOTE-balanced training windows (sklearn on the flattened window).
On the imbalanced set every model's per-flow outputs go through the capture-level steps that
scans apply (`forensics/refine.py`): a TCP flow called Reconnaissance that leaves a port its host
serves on (with 9 or more others) becomes DoS/TCP (`forensics/backscatter.py`, SYN-ACK flood
backscatter; added after run38), a flow called DoS while another sender, by MAC address,
floods the same victim at the same time becomes DDoS, a flow called DDoS whose victim no other
sender floods within 10 s, sent from a MAC bound to one host, becomes DoS (`forensics/ddos.py`),
and an ARP flow takes
the verdict of the attack between its two hosts, else Normal (`forensics/arp.py`); the balanced
set is scored on the models' own outputs (SMOTE rows have no capture behind them) and, as a
second view, with its real rows (copies of held-out flows) taking those flows' outputs after the
capture-level steps, as a scan scores them, and its SMOTE rows the models' own.

{tables_markdown(report['tables'])}
### CNN-LSTM per class (imbalanced test set)

{per_class_markdown(report['tables']['cnn_lstm']['imbalanced'])}
### Per-host verdicts on the held-out captures

Rule (`forensics.attribution.blame`, the same rule the scan report uses): a flow predicted
DDoS/DoS/Reconnaissance is blamed on its source unless the source sent no packet, or, for a
DDoS/DoS TCP flow, the source's port is a service port, the destination's is not, and the source
endpoint (address, port) is shared by more flood flows than the destination's (flows with the
receiver of a first SYN-ACK in the source slot, as this model's training flows were built, name a
SYN-ACK flood's victim as source), a
flow predicted Theft on its destination (stolen data flows to the attacker), a DDoS/DoS flow
whose blamed address is not the one its frames' MAC is bound to (forged sources) on the host that
MAC is bound to (binding per capture from ARP flows and two-way flows predicted Normal; a router's MAC,
fronting several addresses, binds to nothing), and a flow
whose other end has more blamed attack flows is re-blamed on that end (a victim's replies belong to
its attacker); a service port is also one the capture shows serving (the destination of a two-way
TCP flow predicted Normal), and an ARP flow predicted an attack goes to the attack's attacker (the
end the other flows blame, else the single attacker blamed for the end's own address). A host is called an attacker when at least half of its flows are attack flows blamed
on it. Attackers whose address never appears (fully spoofed floods) are "unobservable".

{hosts_markdown(report['hosts'])}

## Speed

The architecture sets the speed, not the weights: `python bench/infer.py --n 200000` prints
sequences/s through the detector and the bare module next to the reference models, measured in
the same run (numbers and load in README.md, "The detector" / "Measured"). On an NVIDIA H200
(`--device cuda`, 2026-11-27, model 1.3.0): 8.3 M sequences/s through the detector on compact
windows, 66 M/s for the bare module on windows already on the GPU.

## Reproduce

```
forensics train {' '.join(map(str, paths))} --out model/
```

(prints the same tables; `forensics evaluate {' '.join(map(str, paths))} --model model/` re-evaluates the
saved model and retrains the baselines on the same split.)

## Known limits

- Trained only on traffic of this project's lab (network namespaces, hping3, nmap, Python agents);
  real IoT networks, other attack tools and other link rates will look different. Expect lower
  scores on foreign captures; retrain with `forensics train` on labeled local data.
- Windows group flows by address; attacks spread over many captures or address changes (NAT,
  DHCP churn) are only seen per capture.
- Fully spoofed floods hide the real attacker's address: the detector flags the forged sources and
  the victim; the report traces them to the sending host through its MAC when that MAC is bound to
  one address in the capture (ARP or normal traffic), not across a router or without Ethernet.
- SYN-ACK floods: this model was trained on flows that put the victim in the source slot of every
  SYN/ACK-first flow, so a SYN-ACK flood looked like the victim scanning its attacker. Argus 3.0.8
  does not do that (a SYN/ACK answered by a RST keeps its sender: measured 2026-11-27), and
  `forensics flows` follows Argus since then; on 8 regenerated TCP flood runs the same weights
  score better on the Argus-faithful flows (accuracy 0.9757 -> 0.9885, README "The detector" /
  Limits), but they were not trained on them: retrain on rebuilt lab data.
- Theft (keylogging, exfiltration) is a handful of long flows per run: its scores rest on few
  test flows.
- DoS or DDoS is decided per capture by sender MACs (`forensics/ddos.py`): a host that floods a
  victim alone, more than a second after the other bots stopped, is called DoS although BoT-IoT
  labels it part of the DDoS; a DDoS whose other bots are outside the capture (or a single bot's
  share of it) is called DoS when the sender's MAC is bound to one host.
"""
    (out / "MODEL_CARD.md").write_text(card)


# ----------------------------------------------------------------------------- synthetic data (tests, docs)


def demo_flows(n_normal: int = 200, n_scan: int = 300, n_flood: int = 500, seed: int = 0,
               t0: float = 1.7e9) -> pd.DataFrame:
    """A small synthetic, labeled BoT-IoT flow table (MQTT chatter, a port scan, a
    spoofed UDP flood) for tests and examples.  Not lab data: never train the
    bundled model on it."""
    rng = np.random.default_rng(seed)
    rows = []
    t = t0

    def add(saddr, daddr, proto, sport, dport, state, pkts, byt, dur, cat, sub):
        sp = pkts - pkts // 2
        rows.append(dict(pkSeqID=len(rows) + 1, stime=t, flgs="e", proto=proto, saddr=saddr, sport=sport,
                         daddr=daddr, dport=dport, pkts=pkts, bytes=byt, state=state, ltime=t + dur, seq=len(rows) + 1,
                         dur=dur, mean=dur, stddev=0.0, sum=dur, min=dur, max=dur, spkts=sp, dpkts=pkts - sp,
                         sbytes=byt - byt // 2, dbytes=byt // 2, rate=(pkts - 1) / dur if dur else 0.0,
                         srate=(sp - 1) / dur if dur else 0.0, drate=(pkts - sp - 1) / dur if dur else 0.0,
                         attack=int(cat != "Normal"), category=cat, subcategory=sub))

    for _ in range(n_normal):
        t += rng.exponential(1.0)
        add(f"10.0.0.{rng.integers(2, 6)}", "10.0.0.1", "tcp", int(rng.integers(32768, 60000)), 1883, "CON",
            int(rng.integers(4, 20)), int(rng.integers(300, 2000)), float(rng.uniform(1, 5)), "Normal", "Normal")
    for p in rng.permutation(1024)[:n_scan]:
        t += 0.001
        add("10.0.0.9", "10.0.0.1", "tcp", 40000, int(p) + 1, "RST", 2, 120, 0.0001, "Reconnaissance", "Service_Scan")
    for _ in range(n_flood):
        t += 0.0001
        add(f"{rng.integers(1, 255)}.{rng.integers(0, 255)}.1.1", "10.0.0.2", "udp", int(rng.integers(1024, 65535)),
            80, "INT", 1, 60, 0.0, "DDoS", "UDP")
    return pd.DataFrame(rows)
