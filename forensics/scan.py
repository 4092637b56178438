"""``scan()``: the one Python entry point for the whole pipeline.

    from forensics.scan import scan, ScanConfig
    report = scan(["captures/"], ScanConfig(workers=4))
    report.summary()          # the documented summary.json dict
    report.exit_status        # 0 no attack, 1 attack found, 2 nothing readable

Steps: expand the given paths into candidate files (folders recursively,
captures recognised by their content, not their name), run
``extract_flows`` + the detector on every capture (in parallel, see
:mod:`forensics.batch`), then group the attack flows into incidents and hosts
(:mod:`forensics.report.model`).  A file that cannot be read is reported with
its reason and the others go on.
"""

from __future__ import annotations

import dataclasses
import errno
import lzma
import zlib
import os
import shutil
import stat
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from forensics.capture import compression_of, decompressor, format_of
from forensics.errors import ForensicsError

# --------------------------------------------------------------------------
# configuration (the CLI turns its arguments into this frozen object)
# --------------------------------------------------------------------------

DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class ScanConfig:
    workers: int | None = None  # processes; None = number of CPUs (capped by the number of files)
    dask: str | None = None  # scheduler address, e.g. tcp://10.0.0.5:8786
    device: str = "cpu"
    engine: str | None = None  # inference engine: None = numpy on cpu, torch on cuda (forensics.detect)
    model_dir: str | None = None  # None = the bundled model
    chunk_packets: int = 1_000_000
    keep_flows: bool = False  # keep every flow column (needed for --flows)
    app_detail: bool | None = None  # tshark/pyshark detail of flagged flows; None = when tshark is installed
    app_detail_seconds: float = 20.0  # time budget for the whole application-layer step
    app_detail_items: int = 50  # most items (requests, names, topics) kept per incident
    incident_gap: float = 300.0  # seconds without a flow that split two incidents of one attacker
    open_tunnels: bool = False  # flows inside UDP tunnels and link headers too, as Zeek opens them (forensics.tunnels)
    drop_copies: bool = False  # packets held twice (a mirror port's copies, forensics.copies) counted once
    top_flows: int = 10  # flows shown per incident
    max_memory_gib: float | None = None  # per scanning process; None = what the system has free at the start
    # Extension hooks, "module:callable" strings so they travel to worker
    # processes and Dask workers.  The defaults are the real pipeline.
    extractor: str = "forensics.features:extract_flows"
    detector: str = "forensics.detect:load_detector"

    def __post_init__(self):
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 1):
            raise ForensicsError(f"--workers must be a positive integer, got {self.workers!r}")
        if self.device not in DEVICES:
            raise ForensicsError(f"--device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        from forensics.detect import ENGINES

        if self.engine is not None and self.engine not in ENGINES:
            raise ForensicsError(f"--engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.engine == "numpy" and self.device != "cpu":
            raise ForensicsError("--engine numpy runs on the CPU only (use --engine torch with --device cuda)")
        if self.dask is not None and "://" not in self.dask:
            raise ForensicsError(f"--dask must be a scheduler address like tcp://HOST:PORT, got {self.dask!r}")
        if self.max_memory_gib is not None and not 0.25 <= self.max_memory_gib < float("inf"):
            # (below that, the numerical libraries' own buffers fail before any capture is read)
            raise ForensicsError(f"--max-memory must be at least 0.25 GiB, got {self.max_memory_gib!r}")
        if self.chunk_packets < 1:
            raise ForensicsError(f"chunk_packets must be positive, got {self.chunk_packets}")

    @property
    def effective_workers(self) -> int:
        return self.workers or os.cpu_count() or 1


# --------------------------------------------------------------------------
# recognising captures by content
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Candidate:
    """A file found on the command line or in a folder, and what it looked like."""

    path: str
    format: str | None = None  # pcap | pcapng when recognised
    compression: str | None = None
    size: int = 0
    reason: str | None = None  # why it will not be scanned (None: it is a capture)
    foreign: bool = False  # the content is clearly something else (text, JSON, an archive of logs...)
    explicit: bool = True  # named on the command line (False: found while walking a folder)

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def skipped(self) -> bool:
        """Found in a folder and plainly not a capture: listed as skipped, not as a failed input.

        Empty files, unreadable files, broken links and files that look like a
        capture but cannot be read stay failed inputs.
        """
        return self.foreign and not self.explicit


def sniff(path: str | os.PathLike) -> Candidate:
    """Look at the first bytes of ``path`` and say whether it is a capture."""
    p = str(path)
    try:
        st = os.stat(p)
    except OSError as exc:
        return Candidate(p, reason=_os_reason(exc))
    if not stat.S_ISREG(st.st_mode):
        return Candidate(p, reason="not a regular file")
    if st.st_size == 0:
        return Candidate(p, reason="empty file (0 bytes)")
    try:
        with open(p, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        return Candidate(p, size=st.st_size, reason=_os_reason(exc))
    fmt = format_of(head)
    if fmt:
        return Candidate(p, format=fmt, size=st.st_size)
    name = compression_of(head)
    if name:
        try:
            with open(p, "rb") as raw, decompressor(raw, name) as fh:
                inner = fh.read(4)
        except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error) as exc:
            return Candidate(p, compression=name, size=st.st_size, reason=f"corrupt {name} stream ({exc})")
        fmt = format_of(inner)
        if fmt:
            return Candidate(p, format=fmt, compression=name, size=st.st_size)
        return Candidate(p, compression=name, size=st.st_size, reason=f"{name} file does not hold a pcap or pcapng capture", foreign=True)
    if len(head) < 4:
        return Candidate(p, size=st.st_size, reason=f"too short to be a capture ({st.st_size} bytes)", foreign=True)
    return Candidate(p, size=st.st_size, reason="not a capture (no pcap, pcapng, gzip, bzip2 or xz signature)", foreign=True)


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    if exc.errno == errno.ENOENT:
        return "no such file (or a dangling symlink)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "unreadable: permission denied"
    return f"unreadable: {exc.strerror or exc}"


def discover(paths: Sequence[str | os.PathLike]) -> list[Candidate]:
    """Expand files and folders (recursively, following symlinks safely) into candidates.

    Order is deterministic: arguments in the order given, folder contents sorted
    by name.  A file reached twice (two arguments, or a symlink to a file already
    seen) is listed once; a directory symlink that leads back into a folder being
    walked is reported as a symlink loop.
    """
    out: list[Candidate] = []
    seen_files: set[tuple[int, int]] = set()

    def add_file(p: str, explicit: bool = True) -> None:
        try:
            st = os.stat(p)
            key = (st.st_dev, st.st_ino)
            if key in seen_files:
                return
            seen_files.add(key)
        except OSError:
            pass
        c = sniff(p)
        out.append(c if explicit else dataclasses.replace(c, explicit=False))

    def walk(d: str, ancestors: frozenset[tuple[int, int]]) -> None:
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as exc:
            out.append(Candidate(d, reason=_os_reason(exc)))
            return
        for e in entries:
            p = e.path
            try:
                st = os.stat(p)  # follows symlinks
            except OSError as exc:
                out.append(Candidate(p, reason=_os_reason(exc)))
                continue
            if stat.S_ISDIR(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if key in ancestors:
                    out.append(Candidate(p, reason=f"symlink loop (leads back to {os.path.realpath(p)})"))
                    continue
                walk(p, ancestors | {key})
            elif stat.S_ISREG(st.st_mode):
                add_file(p, explicit=False)
            else:
                out.append(Candidate(p, reason="not a regular file (device, socket or pipe)", foreign=True, explicit=False))

    for raw in paths:
        p = os.fspath(raw)
        try:
            st = os.stat(p)
        except OSError as exc:
            out.append(Candidate(p, reason=_os_reason(exc)))
            continue
        if stat.S_ISDIR(st.st_mode):
            walk(p, frozenset({(st.st_dev, st.st_ino)}))
        else:
            add_file(p)
    return out


# --------------------------------------------------------------------------
# progress (the terminal renderer implements this; the default does nothing)
# --------------------------------------------------------------------------


class Progress:
    """Callbacks ``scan()`` makes while it works.  Override what you need."""

    def stage(self, name: str) -> None:  # a step of the whole scan started
        pass

    def files(self, candidates: Sequence[Candidate]) -> None:  # the captures about to be scanned
        pass

    def file_stage(self, path: str, stage: str) -> None:  # "reading", "detecting", ...
        pass

    def file_done(self, path: str, error: str | None) -> None:
        pass


# --------------------------------------------------------------------------
# the entry point
# --------------------------------------------------------------------------


def tshark_available() -> bool:
    return shutil.which("tshark") is not None


def scan(
    paths: Sequence[str | os.PathLike] | str | os.PathLike,
    config: ScanConfig | None = None,
    *,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.time,
) -> "Report":
    """Scan captures and folders; return the :class:`~forensics.report.model.Report`."""
    from forensics import batch
    from forensics.report.model import build_report

    config = config or ScanConfig()
    progress = progress or Progress()
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise ForensicsError("scan: give at least one capture file or folder")
    started = clock()
    progress.stage("finding captures")
    candidates = discover(paths)
    skipped = [c for c in candidates if c.skipped]
    candidates = [c for c in candidates if not c.skipped]
    good = [c for c in candidates if c.ok]

    # In-process runs load the model here (a bad model fails before any work);
    # worker processes load their own, and report which model they used.
    model_info = None
    if batch.runs_inline(len(good), config):
        progress.stage("loading model")
        model_info = _model_info(batch.load_detector_cached(config.detector, config.model_dir, config.device,
                                                            config.engine))

    progress.files(good)
    progress.stage("scanning captures")
    interrupted = False
    try:
        results = batch.run(good, config, progress=progress)
    except batch.ScanInterrupted as stop:  # Ctrl-C: report what was read before it
        results, interrupted = stop.results, True
    if model_info is None:
        model_info = next((r.model for r in results if r.model), None)
    if model_info is None:  # no file got as far as the detector: load it here (raises ModelError if broken)
        model_info = _model_info(batch.load_detector_cached(config.detector, config.model_dir, config.device,
                                                            config.engine))

    progress.stage("grouping incidents")
    report = build_report(candidates, results, config, model=model_info, started=started, finished=clock())
    report.skipped = [(c.path, c.reason) for c in skipped]
    report.interrupted = interrupted
    if report.incidents and _want_app_detail(config) and not interrupted:
        progress.stage("application-layer detail (tshark)")
        from forensics.report.appdetail import attach_app_detail

        attach_app_detail(report, config)
    return report


def _model_info(detector) -> dict:
    return {"version": str(getattr(detector, "version", "unknown")), "sha256": str(getattr(detector, "sha256", ""))}


def _want_app_detail(config: ScanConfig) -> bool:
    if config.app_detail is None:
        return tshark_available()
    return bool(config.app_detail) and tshark_available()


def resolve(spec: str) -> Any:
    """Import ``"module:attr"``."""
    import importlib

    mod, _, attr = spec.partition(":")
    try:
        return getattr(importlib.import_module(mod), attr)
    except (ImportError, AttributeError) as exc:
        raise ForensicsError(f"cannot load pipeline stage {spec!r}: {exc}") from exc


__all__ = ["ScanConfig", "Candidate", "Progress", "discover", "sniff", "scan", "resolve"]

if TYPE_CHECKING:  # pragma: no cover
    from forensics.report.model import Report
