"""Shared fixtures: Planck-like mock .clik files written once per test session."""

import os

os.environ.setdefault("CLIPY_NOJAX", "1")  # clipy reads it at import time

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from cobaya_plugins.mock import KINDS, write_mock  # noqa: E402

MOCK_SEED = 1


@pytest.fixture(scope="session")
def mock_paths(tmp_path_factory) -> dict[str, Path]:
    """All mock kinds written with seed 1 into one session directory: kind -> path of .clik."""
    outdir = tmp_path_factory.mktemp("mock_clik")
    return {kind: write_mock(kind, outdir, seed=MOCK_SEED) for kind in KINDS}


@pytest.fixture(autouse=True)
def _drop_logging_handlers_on_closed_streams():
    """Cobaya's logger setup binds handlers to the sys.stdout of the test that built a model, which
    pytest closes when that test ends; drop such handlers so later tests do not log to them."""
    yield
    import logging

    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in list(getattr(logger, "handlers", [])):
            if getattr(getattr(handler, "stream", None), "closed", False):
                logger.removeHandler(handler)
