"""What pool tests run inside worker processes (imports nothing but the standard library, so
that running it tells what the worker had imported before)."""

from __future__ import annotations

import os
import sys


def imported(names) -> dict[str, bool]:
    return {n: n in sys.modules for n in names}


def parent_pid() -> int:
    return os.getppid()
