"""Report renderers: one per output format, over one :class:`Report` object.

``RENDERERS`` maps a format name to a function ``render(report, target)``
where ``target`` is a path (html, json, jsonl, csv, parquet) or, for
``terminal``, a rich console.
Add a format by registering a function; nothing else changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from forensics.errors import ForensicsError
from forensics.report.model import Report

RENDERERS: dict[str, Callable] = {}


def register(fmt: str):
    def deco(fn):
        RENDERERS[fmt] = fn
        return fn

    return deco


def render(fmt: str, report: Report, target) -> None:
    _load()
    try:
        fn = RENDERERS[fmt]
    except KeyError:
        raise ForensicsError(f"unknown report format {fmt!r}; known: {', '.join(sorted(RENDERERS))}") from None
    fn(report, target)


def flows_format(path: str | Path) -> str:
    """``--flows`` picks CSV or Parquet from the file name."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise ForensicsError(f"--flows {path}: the name must end in .csv or .parquet")


def _load() -> None:
    # importing the modules registers their renderers
    from forensics.report import html, machine, terminal  # noqa: F401


__all__ = ["RENDERERS", "Report", "register", "render", "flows_format"]
