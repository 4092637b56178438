"""Exceptions and exit statuses shared by every stage.

Every error the user can cause is a :class:`ForensicsError` whose message is
one line that names the file, parameter or column at fault.  The CLI turns it
into that line on stderr and its ``exit_status``; nothing else reaches the user
as a traceback (unless ``--traceback``).
"""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    OK = 0  # scan: no attack found
    ATTACK = 1  # scan: at least one attack found
    USAGE = 2  # bad arguments, unreadable input, nothing could be read
    INTERNAL = 3  # a bug: please report with --traceback
    INTERRUPTED = 130


# the reason given for an input that Ctrl-C left unscanned (scan reports what was read before it)
INTERRUPTED_REASON = "interrupted before it was scanned"


class ForensicsError(Exception):
    """An error with a one-line, user-facing message."""

    exit_status: ExitStatus = ExitStatus.USAGE

    def __init__(self, message: str):
        super().__init__(message.replace("\n", " "))


class CaptureError(ForensicsError):
    """A file could not be read as a capture at all (nothing usable in it)."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class SchemaError(ForensicsError):
    """A table is missing a column or has one of the wrong type."""


class OutputError(ForensicsError):
    """An output file cannot be written (a folder of that name, a full disk, no permission)."""


class ModelError(ForensicsError):
    """The bundled or given model cannot be loaded (checksum, shape, format)."""
