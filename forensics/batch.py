"""Many captures: the per-file work and where it runs.

``analyse_file`` is the unit of work: read one capture, build its flows,
classify them.  It never raises for a bad file; it returns a
:class:`FileResult` carrying the reason.  ``run`` spreads the files over

* the calling process (one worker, or one file; ``--workers 1`` on a multi-core machine
  computes on one core, :class:`forensics.sequences.thread_limit`, so N workers keep at most
  N cores busy),
* a local process pool (``workers > 1``; workers forked from a fork server that has imported
  the pipeline once (spawned for CUDA), one model per process,
  torch or the numpy engine limited to ``cores / workers`` threads each so processes do
  not fight; the default numpy engine never imports torch),
* an existing Dask cluster (``dask="tcp://HOST:PORT"``): the same function is
  mapped over the files with ``distributed.Client``; the files must be readable
  at the same path on the workers (shared storage).

Results are returned in input order whatever finished first, so every back end
gives the same report.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Sequence

from forensics.errors import INTERRUPTED_REASON, CaptureError, ForensicsError, ModelError

# Columns every back end returns (the report needs them); with keep_flows the
# worker returns every column of the flow table instead.
SLIM_COLUMNS = ("stime", "ltime", "saddr", "sport", "daddr", "dport", "proto", "pkts", "bytes", "spkts", "dpkts", "state",
                "smac", "dmac")  # the report traces forged floods through the MACs
DASK_CONNECT_TIMEOUT = "10s"
PRED_COLUMNS = ("pred_category", "pred_subcategory", "confidence", "pred_attack", "evidence", "unfamiliar")


@dataclass
class FileResult:
    path: str
    accounting: dict  # Accounting.to_dict() shape, also for files that failed
    flows: Any = None  # pandas.DataFrame of flows + predictions, or None on failure
    error: str | None = None
    seconds: float = 0.0
    stages: dict = field(default_factory=dict)  # stage -> seconds
    model: dict | None = None  # {"version", "sha256"} of the detector that classified it


# --------------------------------------------------------------------------
# the unit of work
# --------------------------------------------------------------------------

_DETECTORS: dict[tuple, Any] = {}


def load_detector_cached(spec: str, model_dir: str | None, device: str, engine: str | None = None):
    """One detector per process (and per Dask worker), loaded on first use.  ``engine`` is
    passed to the loader only when set (custom loaders need not know it)."""
    key = (spec, model_dir, device, engine)
    det = _DETECTORS.get(key)
    if det is None:
        from forensics.scan import resolve

        kw = {} if engine is None else {"engine": engine}
        det = resolve(spec)(model_dir=model_dir, device=device, **kw)
        _DETECTORS[key] = det
    return det


def _sha256(path: str) -> str | None:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def failed_accounting(path: str, reason: str, *, fmt=None, compression=None, size=0, sha256=None) -> dict:
    return {
        "path": path,
        "sha256": sha256,
        "size": size,
        "format": fmt,
        "compression": compression,
        "packets": 0,
        "decoded": 0,
        "undecodable": {},
        "first_positions": {},
        "out_of_order": 0,
        "warnings": [],
        "error": reason,
    }


class ScanInterrupted(Exception):
    """Ctrl-C during :func:`run`: ``results`` holds every input's result, the ones not
    finished as failed with ``INTERRUPTED_REASON``, so that a report of what was read can
    still be written.  (An ``Exception``, not a ``KeyboardInterrupt``: the caller decides.)"""

    def __init__(self, results: list[FileResult]):
        super().__init__("interrupted")
        self.results = results


def _interrupted(paths, done: dict) -> list[FileResult]:
    """Every path's result: the finished ones, the others failed as interrupted (no hashing:
    the user asked to stop)."""
    return [done.get(p) or FileResult(p, failed_accounting(p, INTERRUPTED_REASON), None, INTERRUPTED_REASON) for p in paths]


_EVENTS = None  # a pool worker's progress queue (set by _worker_init)


def analyse_file(path: str, opts: dict, events=None) -> FileResult:
    """Flows + predictions for one capture.  Never raises for a bad file.  ``events``: where
    progress goes (default: the pool worker's queue, if any)."""
    from forensics.scan import resolve

    if events is None:
        events = _EVENTS

    def tell(stage: str):
        if events is not None:
            try:
                events.put((path, stage))
            except Exception:  # progress is best effort
                pass

    t0 = time.perf_counter()
    stages: dict[str, float] = {}
    try:
        tell("flows")
        extract = resolve(opts["extractor"])
        # (an extractor of one's own need not know the option while it is off)
        more = {"open_tunnels": True} if opts.get("open_tunnels") else {}
        if opts.get("drop_copies"):
            more["drop_copies"] = True
        flows, acc = extract(path, chunk_packets=opts["chunk_packets"], **more)
        t1 = time.perf_counter()
        stages["flows"] = t1 - t0
        tell("detect")
        det = load_detector_cached(opts["detector"], opts["model_dir"], opts["device"], opts.get("engine"))
        pred = det.predict(flows) if len(flows) else _empty_predictions(flows)
        tunnels = getattr(acc, "tunnel_flows", None)
        if tunnels and len(flows):
            pred = _no_verdict_for_tunnels(pred, flows, tunnels)
        closed = getattr(acc, "closed_tunnels", None)
        if closed and len(flows):
            pred = _closed_tunnel_evidence(pred, flows, closed)
        stages["detect"] = time.perf_counter() - t1
        keep = list(flows.columns) if opts["keep_flows"] else [c for c in SLIM_COLUMNS if c in flows.columns]
        # (a shallow copy: columns are only ever added or replaced below, never written in
        # place; the other columns go with `flows`, which is let go here: a deep copy and the
        # full table beside it were the scan's memory peak, +300 MB at 463k flows)
        out = flows[keep].copy(deep=False)
        n_flows = len(flows)
        del flows
        for c in PRED_COLUMNS:
            v = pred[c].to_numpy() if c in pred.columns else _default_pred(c, n_flows)
            # the verdicts' strings repeat: as categoricals from the start (a column of str
            # would first copy every string into Arrow: 0.6 s and ~200 MB at 463k flows)
            out[c] = _categorical(v) if v.dtype == object else v
        del pred
        out.insert(0, "capture", path)
        # the capture's MAC bindings and listening services, looked up here for its attack
        # flows: the report then blames the attack flows of every capture without the others
        from forensics.attribution import blame_context

        t2 = time.perf_counter()
        for c, v in blame_context(out).items():
            out[c] = v
        stages["context"] = time.perf_counter() - t2
        accd = acc.to_dict() if hasattr(acc, "to_dict") else dict(acc)
        accd["path"] = path
        notes = [n for n in (unfamiliar_warning(out), too_little_warning(out), streams_warning(out), bulk_warning(out))
                 if n]
        if notes:
            accd["warnings"] = [*accd.get("warnings", []), *notes]
        tell("done")
        model = {"version": str(getattr(det, "version", "unknown")), "sha256": str(getattr(det, "sha256", ""))}
        if opts.get("compact"):
            out = compact_strings(out)
        return FileResult(path, accd, out, None, time.perf_counter() - t0, stages, model)
    except ModelError:  # not about this file: the whole scan stops
        raise
    except CaptureError as exc:
        reason = exc.reason
    except ForensicsError as exc:
        reason = str(exc)
    except MemoryError:
        reason = out_of_memory_reason(opts.get("memory"))
    except Exception as exc:  # a bug in a stage must not stop the batch
        reason = f"internal error: {type(exc).__name__}: {exc}"
    tell("failed")
    size = os.path.getsize(path) if os.path.exists(path) else 0
    return FileResult(path, failed_accounting(path, reason, size=size, sha256=_sha256(path)), None, reason, time.perf_counter() - t0, stages)


def _no_verdict_for_tunnels(pred, flows, keys):
    """A tunnel's own flow (UDP, IP in IP), whose packets --open-tunnels opened, gets no verdict of its own:
    the flows inside it are judged (a busy tunnel reads as a flood between its two ends)."""
    from forensics.detect import TUNNEL_EVIDENCE, tunnel_rows

    rows = tunnel_rows(flows, keys)
    if not rows.any():
        return pred
    pred = pred.copy()
    for c, v in (("pred_category", "Normal"), ("pred_subcategory", "Normal"), ("confidence", float("nan")),
                 ("pred_attack", False), ("evidence", TUNNEL_EVIDENCE), ("unfamiliar", "")):
        if c in pred.columns:
            pred.loc[rows, c] = v
    return pred


def _closed_tunnel_evidence(pred, flows, kinds: dict):
    """In Argus's view a tunnel's own flow (UDP, IP in IP) is judged like any flow, on its outer packets: an
    attack verdict on one says first that it judges the tunnel's traffic as a whole, between its
    end points (100,000 VXLAN packets in 0.1 s read as a flood between the two), and that
    --open-tunnels judges the flows inside it."""
    from forensics.detect import CLOSED_TUNNEL_EVIDENCE, tunnel_rows

    rows = tunnel_rows(flows, kinds) & pred["pred_attack"].to_numpy(dtype=bool)
    if not rows.any():
        return pred
    pred = pred.copy()
    sub = flows.loc[rows, ["saddr", "sport", "daddr", "dport"]].astype(str)
    texts = [CLOSED_TUNNEL_EVIDENCE.format(kind=kinds.get(k, "tunnel")) for k in zip(*(sub[c] for c in sub.columns))]
    old = pred.loc[rows, "evidence"].astype(str).tolist() if "evidence" in pred.columns else [""] * len(texts)
    pred.loc[rows, "evidence"] = [f"{t}; {e}" if e else t for t, e in zip(texts, old)]
    return pred


def unfamiliar_warning(flows) -> str | None:
    """The capture's warning about flows outside the model's training data, or None."""
    if "unfamiliar" not in flows.columns or not len(flows):
        return None
    names = flows["unfamiliar"].to_numpy(dtype=object)
    hit = names != ""
    n = int(hit.sum())
    if not n:
        return None
    feats = sorted({f for k in set(names[hit].tolist()) for f in str(k).split(", ")})
    shown = ", ".join(feats[:8]) + (f" and {len(feats) - 8} more" if len(feats) > 8 else "")
    n_att = int((hit & flows["pred_attack"].to_numpy(dtype=bool)).sum())
    return (f"{n} of {len(flows)} flows ({n_att} called attacks) have features outside the model's training "
            f"data ({shown}): their verdicts are extrapolations")


def too_little_warning(flows) -> str | None:
    """The capture's note about the attack verdicts :mod:`forensics.toolittle` turned Normal, or None."""
    from forensics.toolittle import MAX_GROUP_RATE, MAX_POLL_FLOWS_PER_S, MIN_FLOOD_PACKETS, MIN_KEYLOG_SECONDS, \
        MIN_POLL_SPAN_S, MIN_SCAN_TARGETS, MIN_SENDER_PACKETS, counts

    if "evidence" not in flows.columns or not len(flows):
        return None
    floods, keys, scans, strays, groups, polls = counts(flows["evidence"])
    parts = ([f"{floods} called DoS or DDoS whose victims got fewer than {MIN_FLOOD_PACKETS} packets of them"] if floods else []) \
        + ([f"{strays} called DoS or DDoS of hosts that sent fewer than {MIN_SENDER_PACKETS} packets of them beside "
            "another host's flood"] if strays else []) \
        + ([f"{keys} called Keylogging exchanged within less than {MIN_KEYLOG_SECONDS:g} s"] if keys else []) \
        + ([f"{scans} called Reconnaissance whose attackers reached fewer than {MIN_SCAN_TARGETS} targets"] if scans else []) \
        + ([f"{groups} called DoS or DDoS sent to multicast or broadcast addresses at fewer than {MAX_GROUP_RATE:g} "
            "packets per second (discovery traffic)"] if groups else []) \
        + ([f"{polls} called DoS or DDoS sent from one host to another at fewer than {MAX_POLL_FLOWS_PER_S:g} flows per "
            f"second over {MIN_POLL_SPAN_S:g} s or more (polling)"] if polls else [])
    if not parts:
        return None
    return f"{floods + strays + keys + scans + groups + polls} flow(s) the model called attacks are reported Normal, too little traffic " \
        "for the verdict: " + "; ".join(parts)


def _step_note(flows, count, text: str) -> str | None:
    """``text`` with ``{n}``: how many flows a capture-level step turned Normal (``count`` of the
    evidence column), or None when none."""
    if "evidence" not in flows.columns or not len(flows):
        return None
    n = count(flows["evidence"])
    return text.format(n=n) if n else None


def streams_warning(flows) -> str | None:
    """The capture's note about the flood verdicts :mod:`forensics.streams` turned Normal, or None."""
    from forensics.streams import count

    return _step_note(flows, count, "{n} flow(s) the model called DoS or DDoS are reported Normal: media streams a "
                      "host asked for over RTSP, or calls set up over SIP, in this capture (see each flow's evidence)")


def bulk_warning(flows) -> str | None:
    """The capture's note about the verdicts :mod:`forensics.bulk` turned Normal, or None."""
    from forensics.bulk import MIN_BULK_BYTES, MIN_SEGMENT_BYTES, count

    return _step_note(flows, count, "{n} flow(s) the model called Theft/Keylogging, DoS or DDoS are reported Normal: "
                      f"bulk transfers ({MIN_BULK_BYTES:,} bytes or more, {MIN_SEGMENT_BYTES} or more per packet one "
                      "way) are not keystrokes, and a download is not a flood (see each flow's evidence)")


def _categorical(values):
    """Strings (an object array or a string column) as a categorical, categories in order of
    appearance; ``values`` as they are where they do not hash alike."""
    import numpy as np
    import pandas as pd

    try:
        codes, uniq = pd.factorize(values, use_na_sentinel=True)
    except TypeError:
        return values
    return pd.Categorical.from_codes(codes, categories=pd.Index(np.asarray(uniq, dtype=object), dtype=object))


def compact_strings(df):
    """String columns as categoricals, for a result that crosses a process boundary: a flow
    table's strings repeat (addresses, ports, states, evidence, the capture's path), and the
    parent unpickles codes in milliseconds where it spent 0.8 s on 20 captures' 550k flows
    (254 MB pickled against 47 MB; measured 2026-11-27).  build_report joins the categories."""
    import pandas as pd

    out = {}
    for c in df.columns:
        v = df[c]
        out[c] = _categorical(v) if isinstance(v.dtype, pd.StringDtype) or v.dtype == object else v
    return pd.DataFrame(out, index=df.index, copy=False)


def _default_pred(col: str, n: int):
    import numpy as np

    return {
        "pred_category": np.full(n, "Normal", dtype=object),
        "pred_subcategory": np.full(n, "Normal", dtype=object),
        "confidence": np.zeros(n),
        "pred_attack": np.zeros(n, dtype=bool),
        "evidence": np.full(n, "", dtype=object),
        "unfamiliar": np.full(n, "", dtype=object),
    }[col]


def _empty_predictions(flows):
    import pandas as pd

    return pd.DataFrame({c: _default_pred(c, 0) for c in PRED_COLUMNS}, index=flows.index)


def _opts(config) -> dict:
    return {
        "extractor": config.extractor,
        "detector": config.detector,
        "model_dir": config.model_dir,
        "device": config.device,
        "engine": config.engine,
        "chunk_packets": config.chunk_packets,
        "open_tunnels": bool(getattr(config, "open_tunnels", False)),
        "drop_copies": bool(getattr(config, "drop_copies", False)),
        "keep_flows": config.keep_flows,
        "memory": memory_budget(config.max_memory_gib, config.device),
    }


# --------------------------------------------------------------------------
# memory: a capture too big for the machine fails alone
# --------------------------------------------------------------------------
#
# One capture's flow table is held in memory (about 0.5 GB per million packets of a flood,
# measured: 5.3 GB peak RSS for a 10 M-packet capture of 2.4 M flows).  Without a limit a
# capture too big for the machine grows the scanning process until the kernel's OOM killer
# ends it with SIGKILL: inline (one file, --workers 1) that is the whole scan, every file
# already read and every output lost.  So each scanning process gets an address-space limit
# (RLIMIT_AS) of its size at the start plus what the system has free: an allocation past it
# raises MemoryError in that process, analyse_file reports the capture as failed, and the
# scan goes on.  A pool worker killed anyway (several big files at once) is handled by
# _run_pool: the files it held are scanned again, alone.


def _available_bytes() -> int | None:
    """MemAvailable + SwapFree from /proc/meminfo (None where there is none)."""
    try:
        with open("/proc/meminfo") as fh:
            info = {k: int(v.split()[0]) * 1024 for k, _, v in (line.partition(":") for line in fh) if v.strip()}
    except (OSError, ValueError, IndexError):
        return None
    if "MemAvailable" not in info:
        return None
    return info["MemAvailable"] + info.get("SwapFree", 0)


MIN_MEMORY = 2 << 30  # (virtual reservations of thread arenas and pools: never less than this)


def memory_budget(max_gib: float | None, device: str = "cpu") -> int | None:
    """Bytes one scanning process may add to its address space, or None for no limit: CUDA
    reserves address space far beyond what it uses, and where the system says nothing about
    its memory there is nothing to go by."""
    if device != "cpu":
        return None
    if max_gib is not None:
        return int(max_gib * (1 << 30))
    avail = _available_bytes()
    return None if avail is None else max(avail, MIN_MEMORY)


def out_of_memory_reason(budget: int | None) -> str:
    if budget is None:
        return "out of memory while scanning this capture; split it (e.g. editcap -c 5000000) or scan it on a machine with more memory"
    return (f"out of memory while scanning this capture ({budget / (1 << 30):.1f} GiB per scanning process, "
            f"--max-memory); split it (e.g. editcap -c 5000000) or scan it on a machine with more memory")


def limit_memory(budget: int | None):
    """Limit this process's address space to its present size + ``budget`` bytes.  Returns the
    limits it replaced (for :func:`restore_memory`), or None when it set none."""
    if budget is None:
        return None
    try:
        import resource

        with open("/proc/self/statm") as fh:
            size = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        old = resource.getrlimit(resource.RLIMIT_AS)
        new = size + budget
        if old[0] != resource.RLIM_INFINITY and old[0] <= new:
            return None  # a tighter limit is already set: keep it
        resource.setrlimit(resource.RLIMIT_AS, (new, old[1]))
        return old
    except (ImportError, OSError, ValueError):  # no /proc, no RLIMIT_AS: no limit
        return None


def restore_memory(old) -> None:
    if old is not None:
        import resource

        try:
            resource.setrlimit(resource.RLIMIT_AS, old)
        except (OSError, ValueError):
            pass


# --------------------------------------------------------------------------
# back ends
# --------------------------------------------------------------------------


def _worker_init(threads: int, events=None, memory: int | None = None) -> None:
    global _EVENTS
    _EVENTS = events  # a multiprocessing queue, inherited at the worker's start
    limit_memory(memory)
    # Ctrl-C reaches the whole process group: the caller handles it (keeps what is finished,
    # then ends the workers), so a worker does not die mid-file with a traceback of its own
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # read by torch/numpy when the stages import them (importing torch here
    # would cost every worker seconds even for files that fail early)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    # A spawned worker imports the caller's main module again before this runs: a script
    # that imports numpy (or torch) at its top has started their thread pools with every
    # core already, and N workers then spin N x cores BLAS threads (measured: scan() with
    # workers=2 from such a script, 20 captures, 23 s and 42 CPU-seconds against 9.6 s and
    # 15 through the CLI).  Limit them for the worker's life.
    import sys

    if "numpy" in sys.modules:
        from forensics.npengine import _blas

        blas = _blas()
        if blas is not None:
            blas.limit(limits=threads)
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() > threads:
        torch.set_num_threads(threads)


def runs_inline(n_files: int, config) -> bool:
    return not config.dask and min(config.effective_workers, n_files) <= 1


def run(candidates: Sequence, config, progress=None) -> list[FileResult]:
    """Analyse every candidate capture; results in the order given.  Ctrl-C stops the work
    and raises :class:`ScanInterrupted` with the results of the files finished before it."""
    paths = [c.path for c in candidates]
    if not paths:
        return []
    opts = _opts(config)
    if config.dask:
        # (no limit set on a Dask worker: its nanny has its own)
        return _run_dask(paths, {**opts, "compact": True, "memory": None}, config.dask, progress)
    workers = min(config.effective_workers, len(paths))
    if workers <= 1:
        from contextlib import nullcontext

        from forensics.sequences import thread_limit

        # `--workers 1` on a multi-core machine computes on one core
        few = config.effective_workers < (os.cpu_count() or 1)
        with thread_limit(config.effective_workers) if few else nullcontext():
            return _run_inline(paths, opts, progress)
    return _run_pool(paths, {**opts, "compact": True}, workers, progress)


class _CallbackQueue:
    """A queue-like object that forwards straight to the progress callbacks."""

    def __init__(self, progress):
        self.progress = progress

    def put(self, item):
        path, stage = item
        if self.progress is not None and stage not in ("done", "failed"):
            self.progress.file_stage(path, stage)


def _run_inline(paths, opts, progress) -> list[FileResult]:
    done: dict[str, FileResult] = {}
    events = _CallbackQueue(progress)
    old = limit_memory(opts.get("memory"))  # (not for the report: only while captures are read)
    try:
        for p in paths:
            r = analyse_file(p, opts, events)
            if progress is not None:
                progress.file_done(p, r.error)
            done[p] = r
    except KeyboardInterrupt:
        raise ScanInterrupted(_interrupted(paths, done)) from None
    finally:
        restore_memory(old)
    return [done[p] for p in paths]


def _largest_first(paths):
    def size(p):
        try:
            return os.path.getsize(p)
        except OSError:
            return 0
    return sorted(paths, key=size, reverse=True)


# what a worker imports to analyse a file (forensics.detect loads the numpy engine, not torch)
PRELOAD = ("forensics.batch", "forensics.features", "forensics.detect", "forensics.attribution")


def pool_context(device: str = "cpu"):
    """The multiprocessing context of the local pool.  On the CPU, where the platform has it, a
    fork server that has imported :data:`PRELOAD` once: each worker is forked from it ready to
    work, where a spawned worker spends ~0.45 s starting Python and importing numpy, pandas and
    the pipeline (on 2 cores, 5 % of a 20-capture batch).  The server is a fresh single-threaded
    process, so forking it is safe whatever threads the caller runs (a progress display, the
    queue drainer), unlike forking the caller.  ``spawn`` for CUDA and elsewhere."""
    import multiprocessing as mp

    if device == "cpu" and "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(list(PRELOAD))
        return ctx
    return mp.get_context("spawn")


def prestart(paths, workers: int | None, device: str = "cpu", dask: str | None = None) -> bool:
    """Start the pool's fork server now when the scan of ``paths`` will likely use a local pool
    (a folder or several paths, more than one worker, CPU, no Dask), so that it imports the
    pipeline while the caller imports its own modules and walks the folders.  Returns whether
    it started one.  Costs nothing but a process when the scan then runs inline."""
    if dask or device != "cpu" or (workers or os.cpu_count() or 1) <= 1:
        return False
    if len(paths) == 1 and not os.path.isdir(paths[0]):
        return False  # one file: analysed in the calling process
    ctx = pool_context(device)
    if ctx.get_start_method() != "forkserver":
        return False
    from multiprocessing import forkserver

    try:
        forkserver.ensure_running()
    except OSError:  # the pool will try again, or fail with its own error
        return False
    return True


def _run_pool(paths, opts, workers, progress) -> list[FileResult]:
    """The files over a pool of ``workers`` processes.  A worker that dies (the kernel's OOM
    killer, a crash in a library) breaks the whole pool and every file still in it: the files
    it was reading are then scanned again one at a time, each in a pool of its own, and the
    others in a fresh pool, so that only a capture that kills its process alone is reported
    failed, with the signal that ended it."""
    results: dict[str, FileResult] = {}
    todo, alone = list(paths), []
    while todo or alone:
        if alone:
            p = alone.pop(0)
            left, _, death = _pool_pass([p], paths, opts, 1, progress, results)
            if left:
                reason = f"the process scanning it died ({death}) twice, the second time with no other capture beside it"
                results[p] = FileResult(p, failed_accounting(p, reason, sha256=_sha256(p)), None, reason)
                if progress is not None:
                    progress.file_done(p, reason)
            continue
        left, started, _ = _pool_pass(todo, paths, opts, min(workers, len(todo)), progress, results)
        suspects = [p for p in left if p in started] or left
        alone += suspects
        todo = [p for p in left if p not in suspects]
    return [results[p] for p in paths]


def _death(procs) -> str:
    """How the pool's dead worker ended, from the exit codes of its processes (the pool ends
    the survivors with SIGTERM)."""
    import signal

    codes = [getattr(proc, "exitcode", None) for proc in procs]
    codes = [c for c in codes if c is not None and c != -signal.SIGTERM] or [c for c in codes if c is not None]
    # a signal first: when one worker is killed, others of the broken pool may exit on their own
    # (status 255) before the pool reads the codes (seen once in a clean-clone CI run)
    codes.sort(key=lambda c: 0 if c < 0 else 1)
    for c in codes:
        if c < 0:
            try:
                name = signal.Signals(-c).name
            except ValueError:
                name = f"signal {-c}"
            return f"killed by {name}" + (": the kernel's out-of-memory killer, usually" if c == -signal.SIGKILL else "")
        if c:
            return f"exit status {c}"
    return "ended abruptly"


def _pool_pass(todo, paths, opts, workers, progress, results) -> tuple[list[str], set[str], str]:
    """One pool over ``todo``; finished files go into ``results``.  Returns the files left
    unfinished by a worker's death (empty when none died), the files that had started, and
    how the worker died."""
    ctx = pool_context(opts["device"])
    threads = max(1, (os.cpu_count() or 1) // workers)
    # progress travels on a plain queue handed to each worker at its start (a Manager's queue
    # costs a server process, ~0.2 s of start-up, and a round trip per message); it also
    # tells which files a worker had started when it died
    events = ctx.Queue()
    stop = threading.Event()
    started: set[str] = set()

    def take(block: bool) -> bool:
        try:
            path, stage = events.get(timeout=0.1) if block else events.get_nowait()
        except queue.Empty:
            return False
        started.add(path)
        if progress is not None and stage not in ("done", "failed"):
            progress.file_stage(path, stage)
        return True

    def drain():
        while not stop.is_set():
            try:
                take(True)
            except (EOFError, OSError, ValueError):
                return

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    left: list[str] = []
    death = ""
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                               initargs=(threads, events, opts.get("memory")))
    try:
        # largest files first: the last file to start is then a small one, and no worker is
        # left alone with a big file at the end while the others idle
        futs = {pool.submit(analyse_file, p, opts): p for p in _largest_first(todo)}
        for fut in as_completed(futs):
            p = futs[fut]
            try:
                r = fut.result()
            except ModelError:
                raise
            except BrokenProcessPool:  # a worker died: every file not finished is lost to this pool
                if not death:
                    death = _death(list((getattr(pool, "_processes", None) or {}).values()))
                left.append(p)
                continue
            except Exception as exc:  # (the result could not come back: e.g. not picklable)
                reason = f"worker process failed: {type(exc).__name__}: {exc}"
                r = FileResult(p, failed_accounting(p, reason, sha256=_sha256(p)), None, reason)
            results[p] = r
            if progress is not None:
                progress.file_done(p, r.error)
    except ModelError:
        # the other workers fail the same way, fast: let them finish so that
        # none is left talking to the progress queue after it is gone
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    except KeyboardInterrupt:  # Ctrl-C: keep what is finished, do not wait for running files
        procs = list((getattr(pool, "_processes", None) or {}).values())  # (shutdown forgets them)
        pool.shutdown(wait=False, cancel_futures=True)
        for fut, p in futs.items():  # (finished while the loop had not looked yet)
            if p not in results and fut.done() and not fut.cancelled() and fut.exception() is None:
                results[p] = fut.result()
        _stop_workers(procs)
        raise ScanInterrupted(_interrupted(paths, results)) from None
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    else:
        # every result is in: let the workers exit (~0.8 s with torch loaded) while the
        # caller builds the report; the interpreter joins them at exit
        pool.shutdown(wait=bool(left))
    finally:
        stop.set()
        drainer.join(timeout=2)
        try:  # (the starts a dead worker told before it died)
            while left and take(False):
                pass
        except (EOFError, OSError, ValueError):
            pass
        events.close()
    return left, started, death


def _stop_workers(procs) -> None:
    """End the pool's worker processes now: they ignore Ctrl-C (:func:`_worker_init`) and would
    finish their file, then wait for the next."""
    for proc in procs:
        try:
            proc.terminate()
        except (OSError, ValueError, AttributeError):
            pass
    for proc in procs:
        try:
            proc.join(timeout=5)
        except (OSError, ValueError, AttributeError, AssertionError):
            pass


def _run_dask(paths, opts, address, progress) -> list[FileResult]:
    try:
        from distributed import Client, as_completed as dask_completed
    except ImportError as exc:  # pragma: no cover - dask[distributed] is a dependency
        raise ForensicsError(f"--dask needs the 'distributed' package: {exc}") from exc
    try:
        client = Client(address, timeout=DASK_CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ForensicsError(f"--dask: cannot reach the scheduler at {address}: {exc}") from exc
    try:
        with client.as_current():
            order = _largest_first(paths)  # (sizes as seen here; the workers read the same paths)
            futs = client.map(analyse_file, order, opts=opts, pure=False)
            index = {f.key: p for f, p in zip(futs, order)}
            results: dict[str, FileResult] = {}
            try:
                for fut in dask_completed(futs):
                    p = index[fut.key]
                    try:
                        r = fut.result()
                    except ModelError:
                        raise
                    except Exception as exc:
                        reason = f"dask worker failed: {type(exc).__name__}: {exc}"
                        r = FileResult(p, failed_accounting(p, reason, sha256=_sha256(p)), None, reason)
                    results[p] = r
                    if progress is not None:
                        progress.file_done(p, r.error)
            except KeyboardInterrupt:  # the cluster's work for this scan is cancelled, what is in is kept
                try:
                    client.cancel(futs)
                except Exception:  # (best effort: the client is closed right after)
                    pass
                raise ScanInterrupted(_interrupted(paths, results)) from None
            return [results[p] for p in paths]
    finally:
        client.close()
