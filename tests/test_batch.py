"""Batch scanning: a folder of good and bad inputs through the CLI, process pool and Dask give one answer."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
try:  # tests/ may or may not be a package
    from tests.test_scan_double import DETECTOR, EXTRACTOR, attack_capture, tcp, udp, write_pcap
except ImportError:
    from test_scan_double import DETECTOR, EXTRACTOR, attack_capture, tcp, udp, write_pcap

from forensics.scan import ScanConfig, scan

TESTS = Path(__file__).resolve().parent
ROOT = Path(__file__).resolve().parent.parent
CFG = ScanConfig(workers=1, extractor=EXTRACTOR, detector=DETECTOR, app_detail=False)

# Runs the real CLI with the scan stages swapped for the test doubles.
DRIVER = f"""
import dataclasses, sys
sys.path[:0] = [{str(ROOT)!r}, {str(TESTS)!r}]
import forensics.commands.scan as cmd
from forensics.cli import main
real = cmd.config_from_args
cmd.config_from_args = lambda args: dataclasses.replace(real(args), extractor={EXTRACTOR!r}, detector={DETECTOR!r})
sys.exit(main(sys.argv[1:]))
"""


# Root reads a chmod 000 file; in a user namespace that maps only root, a file owned by
# an unmapped user is out of reach of root's capabilities, so it is truly unreadable.
UNSHARE = ["unshare", "--user", "--map-root-user"]
NEED_UNSHARE = os.geteuid() == 0


def run_cli(*argv, confined=False):
    cmd = [sys.executable, "-c", DRIVER, *map(str, argv)]
    if confined:
        cmd = [*UNSHARE, *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd="/")


def messy_folder(d: Path) -> dict[str, str]:
    """Good captures and every kind of bad input; returns {bad name: expected reason fragment}."""
    (d / "sub").mkdir()
    attack_capture(d / "good_attack.pcap")
    attack_capture(d / "sub" / "second_attack.cap", attacker="10.66.0.9", victim="192.168.1.50")
    write_pcap(d / "sub" / "normal.pcap", [udp("192.168.1.2", "192.168.1.3", 1000, 1883, b"t")] * 5)
    (d / "empty.pcap").write_bytes(b"")
    (d / "notes.txt").write_text("these are not packets\n")
    full = write_pcap(d / "truncated.pcap", [tcp("10.66.0.5", "192.168.1.10", 1, 80)] * 4).read_bytes()
    (d / "truncated.pcap").write_bytes(full[:-20])  # the last record is cut short
    (d / "header_only.pcap").write_bytes(full[:10])  # not even a global header
    os.symlink("..", d / "sub" / "loop")
    os.symlink("selfloop", d / "selfloop")
    locked = attack_capture(d / "locked.pcap", attacker="10.66.0.99")
    os.chmod(locked, 0)
    if NEED_UNSHARE:
        os.chown(locked, 12345, 12345)
    return {
        "empty.pcap": "empty file",
        "notes.txt": "not a capture",
        "header_only.pcap": "truncated",
        "sub/loop": "symlink loop",
        "selfloop": "symlink loop",
        "locked.pcap": "permission denied",
    }


@pytest.mark.skipif(NEED_UNSHARE and not shutil.which("unshare"), reason="as root, needs unshare to make a file unreadable")
def test_messy_folder_every_good_capture_reported_every_bad_one_named(tmp_path):
    d, out = tmp_path / "in", tmp_path / "out"
    d.mkdir()
    bad = messy_folder(d)
    res = run_cli("scan", d, "--workers", "2", "--json", out / "s.json", "--report", out / "r.html", "--no-app-detail", confined=NEED_UNSHARE)
    assert res.returncode == 1, res.stderr  # attacks among the readable inputs
    s = json.loads((out / "s.json").read_text())
    by_name = {os.path.relpath(i["path"], d): i for i in s["inputs"]}
    good = ["good_attack.pcap", "sub/second_attack.cap", "sub/normal.pcap", "truncated.pcap"]
    for name in good:
        assert by_name[name]["error"] is None, by_name[name]
    assert by_name["truncated.pcap"]["packets"] == 3 and by_name["truncated.pcap"]["warnings"]
    skipped = {"notes.txt"}  # plainly not a capture: listed as skipped, not as a failed input
    for name, reason in bad.items():
        if name not in skipped:
            assert by_name[name]["error"] and reason in by_name[name]["error"], (name, by_name[name])
    assert set(by_name) == set(good) | set(bad) - skipped
    assert sorted(i["attacker"] for i in s["incidents"]) == ["10.66.0.5", "10.66.0.9"]
    html = (out / "r.html").read_text()
    for name in [*good, *bad]:
        assert os.path.join(str(d), name) in html
    assert "permission denied" in html and "symlink loop" in html and "not a capture" in html
    # the terminal names every bad input too (plain text: not a tty)
    for name in bad:
        assert os.path.basename(name) in res.stderr
    assert "\x1b[" not in res.stderr


def test_exit_status_two_when_nothing_is_readable(tmp_path, capsys, monkeypatch):
    import dataclasses

    import forensics.commands.scan as cmd
    from forensics.cli import main

    real = cmd.config_from_args
    monkeypatch.setattr(cmd, "config_from_args", lambda a: dataclasses.replace(real(a), extractor=EXTRACTOR, detector=DETECTOR))
    (tmp_path / "a.txt").write_text("no packets in here")
    # a folder holding no capture: the file is skipped, nothing was read
    assert main(["scan", str(tmp_path), "--json", str(tmp_path / "s.json")]) == 2
    assert json.loads((tmp_path / "s.json").read_text())["inputs"] == []
    err = capsys.readouterr().err
    assert "No input could be read" in err and "a.txt: not a capture" in err
    # the same file named on the command line is a failed input
    assert main(["scan", str(tmp_path / "a.txt"), "--json", str(tmp_path / "s.json")]) == 2
    assert json.loads((tmp_path / "s.json").read_text())["inputs"][0]["error"].startswith("not a capture")


@pytest.mark.parametrize(
    "argv,fragment",
    [(["--workers", "0"], "--workers"), (["--flows", "f.txt"], "--flows"), (["--dask", "nohost"], "--dask"), (["--model", "/nonexistent"], "--model"),
     (["--report", "."], "--report .: is a folder"), (["--json", "s.json", "--alerts", "./s.json"], "the same file as --json"),
     (["--json", "/dev/null/s.json"], "/dev/null is not a folder"), (["--max-memory", "0.1"], "--max-memory must be at least 0.25 GiB"),
     (["--max-memory", "inf"], "--max-memory must be at least 0.25 GiB, got inf"), (["--max-memory", "x"], "--max-memory")],
)
def test_usage_errors_exit_two_with_one_line(tmp_path, capsys, argv, fragment):
    from forensics.cli import main

    attack_capture(tmp_path / "a.pcap")
    by_argparse = argv in (["--workers", "0"], ["--max-memory", "x"])  # (argparse exits itself)
    with pytest.raises(SystemExit) if by_argparse else _nothing() as e:
        status = main(["scan", str(tmp_path), *argv])
    status = e.value.code if by_argparse else status
    err = capsys.readouterr().err
    assert status == 2 and fragment in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_an_output_that_cannot_be_written_costs_neither_the_others_nor_the_summary(tmp_path, capsys, monkeypatch):
    """Outputs are checked before the work (above); one that fails after it (a full disk) is named
    in one line, the others are still written, the terminal summary still printed, status 2."""
    import dataclasses
    import errno

    import forensics.commands.scan as cmd
    import forensics.report.machine as machine
    from forensics.cli import main

    real = cmd.config_from_args
    monkeypatch.setattr(cmd, "config_from_args", lambda a: dataclasses.replace(real(a), extractor=EXTRACTOR, detector=DETECTOR))
    real_replace = os.replace

    def full_disk(src, dst):
        if str(dst).endswith("s.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(machine.os, "replace", full_disk)
    attack_capture(tmp_path / "a.pcap")
    out = tmp_path / "out"
    status = main(["scan", str(tmp_path / "a.pcap"), "--json", str(out / "s.json"), "--alerts", str(out / "a.jsonl"),
                   "--report", str(out / "r.html")])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert f"forensics: error: --json: cannot write {out / 's.json'}: No space left on device" in err
    assert "Incidents" in err and f"wrote {out / 'r.html'}" in err  # what was found is still told
    assert sorted(p.name for p in out.iterdir()) == ["a.jsonl", "r.html"]  # no temporary file left behind
    assert len((out / "a.jsonl").read_text().splitlines()) == 1


def test_quiet_still_names_every_input_not_scanned(tmp_path, capsys):
    from forensics.cli import main

    (tmp_path / "t.pcap").write_bytes(b"\xd4\xc3\xb2\xa1\x02\x00")
    assert main(["scan", str(tmp_path / "t.pcap"), str(tmp_path / "missing.pcap"), "-q"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert [e.split(": not scanned: ")[0] for e in err] == [f"forensics: {tmp_path / 't.pcap'}", f"forensics: {tmp_path / 'missing.pcap'}"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["scan", str(empty), "-q"]) == 2
    assert capsys.readouterr().err.strip() == "forensics: no capture found in the paths given"


def _interrupt_folder(d: Path) -> None:
    """Four captures that scan at once, then two smaller ``slow`` ones (largest first: the quick
    ones go first) that :func:`slow_extract_flows` holds for a minute."""
    d.mkdir(parents=True, exist_ok=True)
    for n in range(4):
        attack_capture(d / f"quick{n}.pcap", attacker=f"10.66.0.{n + 1}", n_attack=60)
    for n in range(2):
        write_pcap(d / f"slow{n}.pcap", [udp("192.168.1.2", "192.168.1.3", 1, 2, b"x")] * 3)


def _check_interrupted(summary: dict) -> None:
    errs = {os.path.basename(i["path"]): i["error"] for i in summary["inputs"]}
    assert errs == {**{f"quick{n}.pcap": None for n in range(4)},
                    **{f"slow{n}.pcap": "interrupted before it was scanned" for n in range(2)}}
    assert sorted(i["attacker"] for i in summary["incidents"]) == [f"10.66.0.{n + 1}" for n in range(4)]


def test_ctrl_c_in_one_process_keeps_what_was_read(tmp_path, capsys, monkeypatch):
    """Ctrl-C during a scan: the files finished before it are reported, the others named as
    interrupted, every output written, exit status 130."""
    import dataclasses

    import forensics.commands.scan as cmd
    from forensics.cli import main

    double = sys.modules[EXTRACTOR.partition(":")[0]]
    real_extract = double.extract_flows
    _interrupt_folder(tmp_path / "in")
    real = cmd.config_from_args
    monkeypatch.setattr(cmd, "config_from_args", lambda a: dataclasses.replace(real(a), extractor=EXTRACTOR, detector=DETECTOR))

    def ctrl_c(path, **kw):  # the key pressed while the first slow file is read
        if os.path.basename(path).startswith("slow"):
            raise KeyboardInterrupt
        return real_extract(path, **kw)

    monkeypatch.setattr(double, "extract_flows", ctrl_c)
    out = tmp_path / "out"
    status = main(["scan", str(tmp_path / "in"), "--workers", "1", "--json", str(out / "s.json"),
                   "--report", str(out / "r.html"), "--alerts", str(out / "a.jsonl")])
    err = capsys.readouterr().err
    assert status == 130 and "Traceback" not in err
    assert "Interrupted (Ctrl-C): 2 input(s) not scanned; the summary and outputs cover the 4 read before it." in err
    _check_interrupted(json.loads((out / "s.json").read_text()))
    assert 'id="interrupted"' in (out / "r.html").read_text()
    assert len((out / "a.jsonl").read_text().splitlines()) == 4


def test_ctrl_c_to_a_process_pool_keeps_what_was_read(tmp_path):
    """The real signal, sent to the scan's whole process group as a terminal does, while both
    pool workers are on a slow file: the finished files are reported, the workers end at once."""
    import signal
    import time

    _interrupt_folder(tmp_path)
    script = (
        "import json, signal, sys\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)  # (as on a terminal; a background job ignores it)\n"
        "from forensics.scan import Progress, ScanConfig, scan\n"
        "class P(Progress):\n"
        "    def file_done(self, path, error):\n"
        "        print('done', path, flush=True)\n"
        f"cfg = ScanConfig(workers=2, extractor={EXTRACTOR.replace('extract_flows', 'slow_extract_flows')!r}, "
        f"detector={DETECTOR!r}, app_detail=False)\n"
        f"rep = scan([{str(tmp_path)!r}], cfg, progress=P())\n"
        f"open({str(tmp_path / 's.json')!r}, 'w').write(json.dumps(rep.summary()))\n"
        "sys.exit(rep.exit_status)\n")
    tests = str(Path(__file__).resolve().parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(tests).parent), tests, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    try:
        done = 0
        t0 = time.monotonic()
        while done < 4:
            line = proc.stdout.readline()
            assert line, f"the scan ended early: {proc.stderr.read()[-2000:]}"
            done += line.startswith("done")
        time.sleep(0.5)  # both workers are now on a slow file (a minute each)
        os.killpg(proc.pid, signal.SIGINT)
        status = proc.wait(timeout=30)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    err = proc.stderr.read()
    assert status == 130 and "Traceback" not in err, err[-2000:]
    assert elapsed < 45  # the workers did not finish their minute
    _check_interrupted(json.loads((tmp_path / "s.json").read_text()))


def _nothing():
    import contextlib

    return contextlib.nullcontext()


def _corpus(d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for n in range(4):
        attack_capture(d / f"c{n}.pcap", attacker=f"10.66.0.{n + 1}", victim=f"192.168.1.{10 + n % 2}", t0=1_700_000_000.0 + 30 * n)
    write_pcap(d / "n.pcap", [udp("192.168.1.2", "192.168.1.3", 1000, 1883, b"t")] * 5)
    (d / "junk.bin").write_bytes(b"\x00" * 64)


def test_process_pool_gives_the_same_summary_as_one_process(tmp_path):
    _corpus(tmp_path)
    one = scan([tmp_path], CFG).summary()
    two = scan([tmp_path], ScanConfig(workers=2, extractor=EXTRACTOR, detector=DETECTOR, app_detail=False)).summary()
    assert one == two and len(one["incidents"]) == 4


def test_a_worker_killed_by_the_system_costs_only_its_own_capture(tmp_path):
    """A pool worker ended by SIGKILL (what the OOM killer does) breaks the whole process pool:
    the captures it held are scanned again, each alone, and the others in a fresh pool; only
    the capture that kills its process alone is reported, with the signal."""
    _corpus(tmp_path / "in")
    attack_capture(tmp_path / "in" / "die.pcap", attacker="10.66.0.9", n_attack=400)  # (the largest: first)
    spec = EXTRACTOR.replace("extract_flows", "dying_extract_flows")
    rep = scan([tmp_path / "in"], ScanConfig(workers=2, extractor=spec, detector=DETECTOR, app_detail=False))
    summary = rep.summary()
    errs = {os.path.basename(i["path"]): i["error"] for i in summary["inputs"]}
    # (the signal as the pool read it; a clean-clone CI run once reported status 255: another
    # process's code read first, now sorted after signals, or a forkserver child's lost status)
    assert errs["die.pcap"].startswith(("the process scanning it died (killed by SIGKILL",
                                        "the process scanning it died (exit status 255)")), errs
    assert errs["die.pcap"].endswith(") twice, the second time with no other capture beside it"), errs
    assert {k: v for k, v in errs.items() if k not in ("die.pcap", "junk.bin")} == {
        "c0.pcap": None, "c1.pcap": None, "c2.pcap": None, "c3.pcap": None, "n.pcap": None}
    # the survivors' summary is the one a scan without the killer gives
    (tmp_path / "in" / "die.pcap").unlink()
    clean = scan([tmp_path / "in"], CFG).summary()
    assert summary["incidents"] == clean["incidents"] and summary["hosts"] == clean["hosts"]
    assert rep.exit_status == 1


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_capture_over_max_memory_fails_alone_and_the_scan_goes_on(tmp_path, capsys, monkeypatch, workers):
    """A capture that needs more memory than --max-memory allows is named with an out-of-memory
    reason; the other captures are reported and every output written.  In one process the limit
    holds only while captures are read."""
    import dataclasses
    import resource

    import forensics.commands.scan as cmd
    from forensics.cli import main

    _corpus(tmp_path / "in")
    write_pcap(tmp_path / "in" / "huge.pcap", [udp("192.168.1.2", "192.168.1.3", 1, 2, b"x")] * 3)
    real = cmd.config_from_args
    spec = EXTRACTOR.replace("extract_flows", "dying_extract_flows")
    monkeypatch.setattr(cmd, "config_from_args", lambda a: dataclasses.replace(real(a), extractor=spec, detector=DETECTOR))
    before = resource.getrlimit(resource.RLIMIT_AS)
    out = tmp_path / "out"
    status = main(["scan", str(tmp_path / "in"), "--workers", workers, "--max-memory", "1", "--no-app-detail",
                   "--json", str(out / "s.json"), "--report", str(out / "r.html"), "-q"])
    err = capsys.readouterr().err
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    assert status == 1 and "Traceback" not in err
    assert ("huge.pcap: not scanned: out of memory while scanning this capture (1.0 GiB per scanning process, "
            "--max-memory); split it") in err
    summary = json.loads((out / "s.json").read_text())
    errs = {os.path.basename(i["path"]): i["error"] for i in summary["inputs"]}
    assert [k for k, v in errs.items() if v is None] == ["c0.pcap", "c1.pcap", "c2.pcap", "c3.pcap", "n.pcap"]
    assert len(summary["incidents"]) == 4 and (out / "r.html").stat().st_size > 0


def test_memory_budget_defaults_to_what_the_system_has_free():
    from forensics import batch

    free = batch._available_bytes()
    assert free is not None and free > 0  # (Linux: /proc/meminfo)
    assert abs(batch.memory_budget(None) - max(free, batch.MIN_MEMORY)) < (1 << 30)  # (read again: it moves a little)
    assert batch.memory_budget(2.5) == int(2.5 * (1 << 30))
    assert batch.memory_budget(2.5, "cuda") is None  # (CUDA reserves address space it never uses)


def test_dask_cluster_gives_the_same_summary_as_local(tmp_path):
    distributed = pytest.importorskip("distributed")
    _corpus(tmp_path)
    local = scan([tmp_path], CFG).summary()
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        remote = scan([tmp_path], ScanConfig(dask=cluster.scheduler_address, extractor=EXTRACTOR, detector=DETECTOR, app_detail=False)).summary()
    assert remote == local and len(local["incidents"]) == 4


def test_dask_unreachable_scheduler_is_a_usage_error(tmp_path, monkeypatch):
    from forensics import batch
    from forensics.errors import ForensicsError

    monkeypatch.setattr(batch, "DASK_CONNECT_TIMEOUT", "1s")
    attack_capture(tmp_path / "a.pcap")
    with pytest.raises(ForensicsError, match="cannot reach the scheduler"):
        scan([tmp_path], ScanConfig(dask="tcp://127.0.0.1:9", extractor=EXTRACTOR, detector=DETECTOR, app_detail=False))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_model_that_does_not_load_stops_the_scan(tmp_path, capfd, workers):
    from forensics.errors import ModelError
    from forensics.scan import Progress

    for n in range(4):
        attack_capture(tmp_path / f"{n}.pcap")
    broken = DETECTOR.replace("load_detector", "load_broken_detector")
    with pytest.raises(ModelError, match="broken on purpose"):
        cfg = ScanConfig(workers=workers, extractor=EXTRACTOR, detector=broken, app_detail=False)
        scan([tmp_path], cfg, progress=Progress())  # with progress: the pool has a queue to tear down
    # workers stop quietly (the noisy teardown seen once in the bench is timing-dependent)
    assert "Traceback" not in capfd.readouterr().err


def test_device_cuda_without_a_gpu_is_a_usage_error(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    from forensics.cli import main

    attack_capture(tmp_path / "a.pcap")
    assert main(["scan", str(tmp_path), "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "--device cuda" in err and len(err.strip().splitlines()) == 1


SEEN_THREADS: list[tuple[int, int | None]] = []


def load_thread_recording_detector(model_dir=None, device="cpu"):
    """The test double, recording the thread budget (stages, BLAS) each predict runs under."""
    try:
        from tests.test_scan_double import DoubleDetector
    except ImportError:
        from test_scan_double import DoubleDetector

    class Recording(DoubleDetector):
        def predict(self, flows):
            from forensics.npengine import _blas
            from forensics.sequences import _threads

            blas = _blas()
            SEEN_THREADS.append((_threads(), min(i["num_threads"] for i in blas.info()) if blas else None))
            return super().predict(flows)

    return Recording(device)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs at least 2 CPUs")
def test_one_worker_computes_on_one_core_and_the_default_on_all(tmp_path):
    from forensics.npengine import _blas
    from forensics.sequences import _threads

    attack_capture(tmp_path / "a.pcap")
    det = f"{__name__}:load_thread_recording_detector"
    before = (_threads(), _blas() and min(i["num_threads"] for i in _blas().info()))
    SEEN_THREADS.clear()
    scan([tmp_path], ScanConfig(workers=1, extractor=EXTRACTOR, detector=det, app_detail=False))
    assert SEEN_THREADS[-1][0] == 1 and SEEN_THREADS[-1][1] in (1, None)
    # the limit is lifted afterwards, and a default scan of one file uses every core
    assert (_threads(), _blas() and min(i["num_threads"] for i in _blas().info())) == before
    scan([tmp_path], ScanConfig(extractor=EXTRACTOR, detector=det, app_detail=False))
    assert SEEN_THREADS[-1][0] == before[0] > 1


def test_worker_init_limits_blas_already_started_by_the_main_module():
    """A spawned pool worker imports the caller's main module before its initializer: when
    that module imported numpy at its top, OpenBLAS already runs one thread per core, and the
    initializer must bring it down to the worker's share (N workers, N x cores threads
    spinning made a 2-worker scan() 2.3x slower than the CLI)."""
    import subprocess
    import sys

    pytest.importorskip("threadpoolctl")
    code = ("import numpy\n"
            "from threadpoolctl import threadpool_info\n"
            "from forensics.batch import _worker_init\n"
            "_worker_init(1)\n"
            "blas = [i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas']\n"
            "print(max(blas) if blas else 'none')\n")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout.split()
    if out[-1] == "none":
        pytest.skip("no BLAS library threadpoolctl can see")
    assert out[-1] == "1"


def test_pool_results_sent_as_categoricals_give_the_same_report_and_flow_table(tmp_path):
    """The real stages, one process against a pool: workers send their flow tables with string
    columns as categoricals (batch.compact_strings); the summary and the --flows table are the
    same as the ones built in the calling process."""
    import pandas as pd

    sys.path.insert(0, str(Path(__file__).parent))
    import flowgen

    flowgen.write_pcap(tmp_path / "mixed.pcap", flowgen.sc_mixed())
    flowgen.write_pcap(tmp_path / "l2.pcap", flowgen.sc_l2())
    flowgen.write_pcap(tmp_path / "synack.pcap", flowgen.sc_synack())
    attack_capture(tmp_path / "attack.pcap")
    one = scan([tmp_path], ScanConfig(workers=1, app_detail=False, keep_flows=True))
    two = scan([tmp_path], ScanConfig(workers=2, app_detail=False, keep_flows=True))
    assert one.summary() == two.summary() and one.attack_flows > 0
    a, b = one.flow_table, two.flow_table
    assert not any(isinstance(t, pd.CategoricalDtype) for t in b.dtypes)
    assert list(a.columns) == list(b.columns) and len(a) == len(b) > 500
    pd.testing.assert_frame_equal(a.reset_index(drop=True).astype(object), b.reset_index(drop=True).astype(object))


def test_pool_and_dask_start_the_largest_files_first(tmp_path):
    """Files go to the workers largest first (a big file started last would leave the other
    workers idle at the end); a file that vanished sorts last; results stay in input order."""
    from forensics.batch import _largest_first

    sizes = {"a.pcap": 10, "b.pcap": 3000, "c.pcap": 200}
    for name, n in sizes.items():
        (tmp_path / name).write_bytes(b"x" * n)
    paths = [str(tmp_path / n) for n in ("a.pcap", "gone.pcap", "b.pcap", "c.pcap")]
    assert [Path(p).name for p in _largest_first(paths)] == ["b.pcap", "c.pcap", "a.pcap", "gone.pcap"]


def test_pool_workers_are_forked_from_a_server_that_imported_the_pipeline():
    """On the CPU the pool's workers come from a fork server that has imported the pipeline
    (batch.PRELOAD) once, not spawned and importing it each; never torch there (the numpy
    engine does not need it). CUDA keeps spawned workers."""
    from concurrent.futures import ProcessPoolExecutor

    from forensics import batch
    from tests import poolprobe

    assert batch.pool_context("cuda").get_start_method() == "spawn"
    ctx = batch.pool_context("cpu")
    if ctx.get_start_method() != "forkserver":
        pytest.skip("no fork server on this platform")
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        seen = pool.submit(poolprobe.imported, [*batch.PRELOAD, "pandas", "torch"]).result()
        parent = pool.submit(poolprobe.parent_pid).result()
    assert seen == {**{m: True for m in batch.PRELOAD}, "pandas": True, "torch": False}
    assert parent != os.getpid()  # the server's child, not this process's


def test_fork_server_started_early_only_where_a_pool_will_run(tmp_path):
    from forensics import batch

    one = tmp_path / "a.pcap"
    one.write_bytes(b"x")
    assert not batch.prestart([str(one)], 4)  # one file: analysed in the calling process
    assert not batch.prestart([str(tmp_path)], 1)
    assert not batch.prestart([str(tmp_path)], 2, device="cuda")
    assert not batch.prestart([str(tmp_path)], 2, dask="tcp://127.0.0.1:1")
    if batch.pool_context("cpu").get_start_method() == "forkserver":
        assert batch.prestart([str(tmp_path)], 2)
        assert batch.prestart([str(one), str(one)], 2)


def test_a_dead_pools_cause_is_the_signal_whatever_the_order_of_its_processes():
    """When one pool worker is killed, another may exit with status 255 before the pool reads
    the exit codes (seen once in a clean-clone CI run): the signal names the death."""
    import signal
    from types import SimpleNamespace

    from forensics.batch import _death

    def procs(*codes):
        return [SimpleNamespace(exitcode=c) for c in codes]

    assert _death(procs(255, -signal.SIGKILL)).startswith("killed by SIGKILL: the kernel's out-of-memory killer")
    assert _death(procs(-signal.SIGKILL, 255)).startswith("killed by SIGKILL")
    assert _death(procs(-signal.SIGTERM, 255)) == "exit status 255"
    assert _death(procs(-signal.SIGTERM)) == "killed by SIGTERM"
    assert _death(procs(None, 0)) == "ended abruptly"
