"""The CLI's sub-commands, one module each (``register(parser)`` + ``run(args, console)``)."""

from __future__ import annotations

import os

from forensics.errors import ForensicsError


def check_writable(opt: str, path, folder: bool = False) -> None:
    """Fail before the work, not after it: ``path`` (given as option ``opt``) must be a file that
    can be written (``folder``: a folder that can be made or written in).  A folder where a file
    is wanted, or the reverse, or a path under a file, or no permission in the nearest existing
    folder above it (the missing ones will be made), is a one-line usage error."""
    path = os.fspath(path)
    if folder:
        if os.path.exists(path) and not os.path.isdir(path):
            raise ForensicsError(f"{opt} {path}: is a file, not a folder")
    elif os.path.isdir(path):
        raise ForensicsError(f"{opt} {path}: is a folder; give a file name")
    above = os.path.abspath(path) if folder else os.path.dirname(os.path.abspath(path))
    while not os.path.exists(above) and os.path.dirname(above) != above:
        above = os.path.dirname(above)
    if not os.path.isdir(above):
        raise ForensicsError(f"{opt} {path}: {above} is not a folder")
    if not os.access(above, os.W_OK | os.X_OK):
        raise ForensicsError(f"{opt} {path}: cannot write in {above} (permission denied)")
