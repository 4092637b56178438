"""Shared fixtures.  Corpus tests skip cleanly when ../shared is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FORENSICS_SHARED", ROOT.parent / "shared"))
CORPUS = SHARED / "corpus"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not present at {CORPUS}")
    return CORPUS


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return ROOT / "samples"


def corpus_files(*suffixes: str) -> list[Path]:
    """All corpus captures (by extension) for parametrising; empty when absent."""
    if not CORPUS.is_dir():
        return []
    suffixes = suffixes or (".pcap", ".pcapng", ".cap", ".gz")
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in suffixes)
