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


#: Characters a one-letter typo may insert or substitute.
_TYPO_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
#: Names shorter than this get only case typos: a one-letter change of a short name is likely
#: another real parameter (``A_sz`` and ``A_s``).
MIN_LENGTH_FOR_EDITS = 6


def typo_variants(names: Iterable[str]) -> set[str]:
    """Likely misspellings of ``names`` that are not themselves in ``names``.

    Every name in lower or upper case or with one letter's case flipped (``calib_100t``); for
    names of at least :data:`MIN_LENGTH_FOR_EDITS` characters also one character deleted,
    inserted, replaced, or two neighbours swapped (``A_plank``, ``A_planckk``, ``A_plnack``).
    A Cobaya class claims these so that such a typo reaches its own check, which names the
    intended parameter, instead of Cobaya's "could not find anything to use" error.
    """
    names = list(names)
    found: set[str] = set()
    for name in names:
        found.update((name.lower(), name.upper()))
        found.update(name[:i] + c.swapcase() + name[i + 1 :] for i, c in enumerate(name))
        if len(name) < MIN_LENGTH_FOR_EDITS:
            continue
        for i in range(len(name) + 1):
            found.update(name[:i] + c + name[i:] for c in _TYPO_ALPHABET)  # insertion
            if i < len(name):
                found.add(name[:i] + name[i + 1 :])  # deletion
                found.update(name[:i] + c + name[i + 1 :] for c in _TYPO_ALPHABET)  # replacement
            if i < len(name) - 1:
                found.add(name[:i] + name[i + 1] + name[i] + name[i + 2 :])  # swap
    return found - set(names)
