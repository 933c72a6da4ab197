"""The installed versions of the packages whose internals this package relies on, checked.

cobaya_plugins uses private internals of Cobaya (its input handling of a likelihood's ``params``
block, providers), of clipy (the loader's patches; the diagnostics read ``_internal`` and
``_calib``) and of cosmopower-jax (the pickle layout of the shipped networks). The supported
ranges are this package's own requirements (``setup.cfg``, read from the installed package's
metadata: defined once); :func:`require` is called where each package is first used and raises
:class:`UnsupportedVersionError` (an ``ImportError``) naming the supported range and the fix.
Set ``COBAYA_PLUGINS_SKIP_VERSION_CHECK=1`` to try another version anyway.
"""

from __future__ import annotations

import functools
import os
from importlib import metadata

#: This package's distribution name (its requirements hold the supported ranges).
DISTRIBUTION = "cobaya-planck-clik"
#: The packages checked, and what of them this package relies on.
CHECKED = {
    "cobaya": "Cobaya's internals (input handling, providers)",
    "clipy-like": "clipy's internals (the loader's patches, the smica model the diagnostics use)",
    "cosmopower-jax": "the layout of the networks it ships",
    "blackjax": "its kernel builders and adaptation pieces (cobaya_plugins.samplers)",
}
#: Environment variable that turns the check off.
SKIP_ENV = "COBAYA_PLUGINS_SKIP_VERSION_CHECK"


class UnsupportedVersionError(ImportError):
    """An installed package is outside the range this package was tested with."""


@functools.cache
def supported_range(distribution: str) -> str | None:
    """The version specifier this package requires of ``distribution`` (e.g.
    ``">=3.6.2,<3.7"``), or None when unknown (not installed as a distribution, or no bound)."""
    from packaging.requirements import Requirement

    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return None
    for text in requirements:
        requirement = Requirement(text)
        if requirement.name.lower() == distribution.lower() and requirement.specifier:
            parts = sorted(requirement.specifier, key=lambda s: (s.operator.startswith("<"), s))
            return ",".join(str(s) for s in parts)  # lower bound first: >=3.6.2,<3.7
    return None


def require(distribution: str) -> None:
    """Raise :class:`UnsupportedVersionError` when the installed ``distribution`` (one of
    :data:`CHECKED`) is outside :func:`supported_range`; do nothing when it is inside, not
    installed (its import fails on its own), or when ``$COBAYA_PLUGINS_SKIP_VERSION_CHECK`` is
    set."""
    if os.environ.get(SKIP_ENV):
        return
    specifier = supported_range(distribution)
    try:
        installed = metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return
    if specifier is None:
        return
    from packaging.specifiers import SpecifierSet

    if SpecifierSet(specifier).contains(installed, prereleases=True):
        return
    raise UnsupportedVersionError(
        f"cobaya_plugins supports {distribution} {specifier} (it relies on "
        f"{CHECKED.get(distribution, 'its internals')}); this Python has {distribution} "
        f"{installed}. Install a supported version: pip install '{distribution}{specifier}' "
        f"(or set {SKIP_ENV}=1 to try this one anyway)."
    )
