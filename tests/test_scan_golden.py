"""Golden summary.json for every committed sample (real pipeline, bundled model).

Volatile fields are stripped before comparing: tool version, model version and
checksum, the folder part of input paths; floats are rounded to 4 digits.
The goldens must be rebuilt when the bundled model or the flow code changes
on purpose; one command does it:

    FORENSICS_REGEN_GOLDEN=1 python -m pytest tests/test_scan_golden.py
    # or: python tests/test_scan_golden.py
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
GOLDEN = Path(__file__).resolve().parent / "golden" / "summary"
REGEN = os.environ.get("FORENSICS_REGEN_GOLDEN") == "1"


def sample_captures() -> list[Path]:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from forensics.scan import discover

    if not SAMPLES.is_dir():
        return []
    return [Path(c.path) for c in discover([SAMPLES]) if c.ok]


def normalise(summary: dict) -> dict:
    def rnd(x):
        if isinstance(x, float):
            return round(x, 4)
        if isinstance(x, list):
            return [rnd(v) for v in x]
        if isinstance(x, dict):
            return {k: rnd(v) for k, v in x.items()}
        return x

    s = json.loads(json.dumps(summary))
    s["tool"].pop("version", None)
    s["model"] = {}
    for i in s["inputs"]:
        i["path"] = os.path.relpath(i["path"], SAMPLES)
    return rnd(s)


def golden_path(capture: Path) -> Path:
    rel = os.path.relpath(capture, SAMPLES).replace(os.sep, "__")
    return GOLDEN / f"{rel}.json"


def summarise(capture: Path) -> tuple[dict, str]:
    from forensics.scan import ScanConfig, scan

    raw = scan([capture], ScanConfig(workers=1, app_detail=False)).summary()
    return normalise(raw), raw["model"]["sha256"]


def _model_or_skip():
    from forensics import batch
    from forensics.errors import ForensicsError
    from forensics.scan import ScanConfig

    cfg = ScanConfig()
    try:
        batch.load_detector_cached(cfg.detector, None, "cpu")
    except ForensicsError as exc:
        pytest.skip(f"real pipeline not available: {exc}")


@pytest.mark.parametrize("capture", sample_captures(), ids=lambda p: os.path.relpath(p, SAMPLES))
def test_summary_matches_golden(capture):
    _model_or_skip()
    got, model_sha = summarise(capture)
    path = golden_path(capture)
    regen = f"FORENSICS_REGEN_GOLDEN=1 python -m pytest tests/{Path(__file__).name}"
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"model_sha256": model_sha, "summary": got}, indent=2) + "\n")
    if not path.exists():
        pytest.fail(f"no golden for {os.path.relpath(capture, SAMPLES)}: run {regen}")
    golden = json.loads(path.read_text())
    if golden["model_sha256"] != model_sha:
        pytest.fail(f"the bundled model changed since the golden for {os.path.relpath(capture, SAMPLES)} was made "
                    f"({golden['model_sha256'][:12]} -> {model_sha[:12]}); check the new verdicts and run {regen}")
    assert got == golden["summary"]


def test_every_golden_has_its_sample():
    """A golden whose sample was removed is stale."""
    if not GOLDEN.is_dir():
        pytest.skip("no goldens yet")
    names = {golden_path(c).name for c in sample_captures()}
    stale = sorted(p.name for p in GOLDEN.glob("*.json") if p.name not in names)
    assert not stale, f"stale goldens (sample gone): {stale}"


if __name__ == "__main__":
    os.environ["FORENSICS_REGEN_GOLDEN"] = "1"
    sys.exit(pytest.main([__file__, "-q", *sys.argv[1:]]))
