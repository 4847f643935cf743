"""The error taxonomy. Every error a user can cause or meet is one of these, with one clear line.

No Kubernetes here: the kopf layer maps these to its own retry semantics.
"""

from __future__ import annotations


class CimsError(Exception):
    """Base of every error CIMS raises on purpose. ``str(err)`` is the one line shown to users."""

    exit_code = 1


class InputError(CimsError):
    """Something the user gave is wrong: an image reference, a report file, an option."""

    exit_code = 2


class ToolError(CimsError):
    """A scanner failed, timed out or printed something that is not its report."""

    exit_code = 3


class StoreError(CimsError):
    """The SQLite database cannot be used: corrupt, too new, locked for too long, unwritable."""

    exit_code = 4


class GateError(CimsError):
    """The findings exceed the configured failing threshold (not a malfunction)."""

    exit_code = 5
