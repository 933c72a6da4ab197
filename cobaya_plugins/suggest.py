"""Suggestions ("did you mean ...?") for names a user typed: nuisance parameters, options."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence


def close_match(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``name`` was most likely meant to be, or None.

    A match ignoring case wins (``calib_100t`` → ``calib_100T``); otherwise the closest by
    :func:`difflib.get_close_matches` with similarity ≥ 0.75 (``A_plank`` → ``A_planck``).
    """
    candidates = list(candidates)
    for candidate in candidates:
        if candidate.lower() == name.lower():
            return candidate
    found = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
    return found[0] if found else None


def describe_unknown(unknown: Sequence[str], candidates: Iterable[str]) -> str:
    """``'calib_100t' (did you mean 'calib_100T'?), 'foo'``: each unknown name with a suggestion."""
    candidates = list(candidates)
    parts = []
    for name in unknown:
        match = close_match(name, candidates)
        parts.append(f"{name!r} (did you mean {match!r}?)" if match else repr(name))
    return ", ".join(parts)
