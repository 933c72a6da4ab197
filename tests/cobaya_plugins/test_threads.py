import dataclasses

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from cobaya_plugins.clik import open_clik
from cobaya_plugins.fiducial import load_fiducial
from cobaya_plugins.threads import BlasThreads


def blas_threads():
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


@pytest.fixture(autouse=True)
def two_blas_threads():
    """Start every test from 2 BLAS threads (the environment may have set 1)."""
    np.dot(np.ones((2, 2)), np.ones((2, 2)))  # make sure a BLAS is loaded
    with threadpool_limits(2, user_api="blas"):
        assert set(blas_threads()) == {2}
        yield


def test_limits_inside_and_restores_after():
    before = blas_threads()
    with BlasThreads(1):
        assert blas_threads() == [1] * len(before)
    assert blas_threads() == before


def test_none_leaves_blas_alone():
    before = blas_threads()
    with BlasThreads(None):
        assert blas_threads() == before


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_thread_count(bad):
    with pytest.raises(ValueError, match="blas_threads must be a positive integer or None"):
        BlasThreads(bad)


def test_clik_call_runs_with_one_blas_thread(mock_paths, monkeypatch):
    lkl = open_clik(mock_paths["highl_TTTEEE_lite"])
    seen = []
    inner = lkl._file.lkl

    def spy(vector):
        seen.append(blas_threads())
        return inner(vector)

    monkeypatch.setattr(lkl, "_file", dataclasses.replace(lkl._file, lkl=spy))
    before = blas_threads()
    value = lkl.loglike(load_fiducial(), {"A_planck": 1.0})
    assert np.isfinite(value)
    assert seen == [[1] * len(before)]
    assert blas_threads() == before
    lkl.blas_threads = None
    lkl.loglike(load_fiducial(), {"A_planck": 1.0})
    assert seen[-1] == before
