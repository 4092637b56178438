"""The one place that knows where bundled assets live.

In a source checkout the assets are the top-level ``model/``, ``templates/``
and ``samples/`` folders; in an installed wheel hatchling copies them to
``forensics/_assets/`` (see pyproject ``force-include``).
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _asset_dir(name: str) -> Path:
    installed = _PKG / "_assets" / name
    if installed.is_dir():
        return installed
    source = _PKG.parent / name
    if source.is_dir():
        return source
    raise FileNotFoundError(f"bundled asset folder '{name}' not found (looked in {installed} and {source})")


def model_dir() -> Path:
    return _asset_dir("model")


def templates_dir() -> Path:
    return _asset_dir("templates")


def samples_dir() -> Path:
    return _asset_dir("samples")
