"""Fixtures for both packages' tests (each package has its own conftest.py for the rest)."""

import pytest


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
