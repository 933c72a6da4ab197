"""Cobaya's installer protocol for the Planck 2018 classes (``cobaya-install``).

Cobaya's ``cobaya-install NAME -p PACKAGES`` asks a component class for ``get_path(PACKAGES)``
(where its data go), ``is_installed(path=...)`` and ``install(path=PACKAGES, ...)`` — the
class methods of Cobaya's ``InstallableLikelihood``, driven by ``install_options``. The mixin
:class:`PlanckInstallable` provides them on top of :mod:`cobaya_plugins.install` (HTTP resume,
checks, safe extraction, self-checks), putting the Planck 2018 baseline product in
``PACKAGES/data/planck_2018/`` — the place and layout Cobaya's own Planck likelihoods use — so
that afterwards the classes find their default ``clik_file`` with no path.
``$COBAYA_PLUGINS_PLANCK_URL`` replaces the download address (``cobaya-install`` has no
``--url`` flag).

The check is not done on construction (unlike ``InstallableLikelihood``): an explicit
``clik_file`` (a mock, a file elsewhere) must keep working without any install.
"""

from __future__ import annotations

import os
from typing import ClassVar

from cobaya_plugins import install as installer
from cobaya_plugins.clikdata import ClikFile


class PlanckInstallable:
    """Mixin for the Planck 2018 likelihood classes: ``cobaya-install`` support."""

    #: ``product``: what to download (see ``cobaya_plugins.install.PRODUCTS``);
    #: ``data_path``: sub-directory of ``<packages_path>/data``.
    install_options: ClassVar[dict] = {"product": "planck2018", "data_path": "planck_2018"}

    @classmethod
    def get_path(cls, path: str) -> str:
        """``<path>/data/<data_path>`` (unchanged if ``path`` already ends with it)."""
        data_path = cls.install_options["data_path"]
        if path.rstrip(os.sep).endswith(os.path.join("data", data_path)):
            return path
        return os.path.realpath(os.path.join(path, "data", data_path))

    @classmethod
    def default_clik_file(cls) -> str:
        """The class's default ``clik_file`` (relative to the data directory)."""
        return cls.get_defaults()["clik_file"]

    @classmethod
    def is_installed(cls, **kwargs) -> bool:
        """True when this class's default file is under ``get_path(path)``: a complete install
        by :mod:`cobaya_plugins.install`, or files placed there by hand."""
        if not kwargs.get("data", True):
            return True
        if not kwargs.get("path"):
            return False
        directory = cls.get_path(kwargs["path"])
        wanted = cls.default_clik_file()
        if installer.is_installed(directory, cls.install_options["product"], [wanted]):
            return True
        return ClikFile.find(os.path.join(directory, wanted)) is not None

    @classmethod
    def install(
        cls,
        path: str | None = None,
        force: bool = False,
        code: bool = True,
        data: bool = True,
        no_progress_bars: bool = False,
        **_kwargs,
    ) -> bool:
        """Download and install the product into ``get_path(path)``; True on success.

        Errors (offline, bad archive, failed self-check) are logged with what was tried and
        how to install by hand, and give False (Cobaya then reports the component as failed).
        """
        from cobaya.log import get_logger

        if not data:
            return True
        log = get_logger(cls.get_qualified_class_name())
        if not path:
            log.error("No installation path given: use `cobaya-install ... -p PACKAGES`.")
            return False
        try:
            result = installer.install(
                cls.install_options["product"], cls.get_path(path), force=force,
                progress=not no_progress_bars, log=log.info,
            )  # fmt: skip
        except (installer.InstallError, ValueError) as exc:
            log.error(str(exc))
            return False
        log.info("Planck files found:\n%s", installer.format_table(result.entries))
        if not result.ok:
            log.error("Some files failed their self-check (see the table above).")
        return result.ok
