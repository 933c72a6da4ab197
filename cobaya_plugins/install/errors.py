"""The installer's errors: each message says what was tried and what to do."""

from __future__ import annotations


class InstallError(Exception):
    """An install step failed; the message says what was tried and what to do."""


class UnsafeArchiveError(InstallError):
    """The archive has members that would land outside the install directory."""
