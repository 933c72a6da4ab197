"""Set-up of the featviz_extras tests; they import neither Cobaya nor cobaya_plugins.

Helpers shared by several test files are in ``featviz_testing.py`` (importable because pytest
puts this directory on the Python path).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter, before import

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def texture_cache(tmp_path_factory):
    """A model cache folder for the whole session: the texture models are trained into it on
    first use (``trained.trained_model_path(name, cache=texture_cache)``) and reused by every
    later test, so the suite trains each model once (about 20 s each on 2 cores)."""
    return tmp_path_factory.mktemp("featviz_cache")


@pytest.fixture(scope="session")
def texture_models(texture_cache):
    """{name: path} of the three trained texture models (trained once per session)."""
    from featviz_extras import trained

    return trained.trained_model_paths(cache=texture_cache)
