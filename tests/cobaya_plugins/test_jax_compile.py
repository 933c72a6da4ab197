"""JAX compiles are announced with their time, and a second process reuses them from the
persistent compilation cache (COBAYA_PLUGINS_JAX_CACHE)."""

import os
import subprocess
import sys

import pytest

from cobaya_plugins import jax_compile

SCRIPT = """
import sys
from cobaya_plugins.clik import open_clik
import numpy as np
lkl = open_clik(sys.argv[1], backend="jax")
print("logL", lkl.loglike_vector(np.zeros(lkl.vector_size) + 1.0))
"""


def run_open(path, cache) -> str:
    env = dict(os.environ, COBAYA_PLUGINS_JAX_CACHE=str(cache))
    env.pop("XDG_CACHE_HOME", None)
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path)], env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_second_process_loads_compiled_code_from_the_cache(mock_paths, tmp_path):
    cache = tmp_path / "jax-cache"
    first = run_open(mock_paths["lowl_TT"], cache)
    assert "[jax] opened lowl_TT.clik with clipy's JAX path:" in first
    assert "[jax] compiled lowl_TT.clik logL:" in first
    assert any(cache.iterdir()), "nothing written to the cache folder"
    second = run_open(mock_paths["lowl_TT"], cache)
    assert "from the compilation cache" in second.split("opened lowl_TT.clik")[1].splitlines()[0]
    logl = [line for line in first.splitlines() if line.startswith("logL")]
    assert logl == [line for line in second.splitlines() if line.startswith("logL")]


@pytest.mark.slow
def test_cache_can_be_switched_off(mock_paths, tmp_path):
    out = run_open(mock_paths["lowl_TT"], "off")
    assert "from the compilation cache" not in out


def test_cache_folder_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(jax_compile.CACHE_ENV, str(tmp_path / "here"))
    assert jax_compile.cache_folder() == tmp_path / "here"
    for off in ("off", "OFF", "0", "none"):
        monkeypatch.setenv(jax_compile.CACHE_ENV, off)
        assert jax_compile.cache_folder() is None
    monkeypatch.delenv(jax_compile.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert jax_compile.cache_folder() == tmp_path / "xdg" / "cobaya_plugins" / "jax"


def test_announced_jit_compiles_once_per_shape(caplog):
    import logging

    import jax.numpy as jnp

    caplog.set_level(logging.INFO, logger="cobaya_plugins.jax")
    square = jax_compile.AnnouncedJit(lambda x: jnp.sum(x**2), "a test sum")
    assert float(square(jnp.arange(3.0))) == 5.0
    assert float(square(jnp.arange(3.0) + 1)) == 14.0
    assert float(square(jnp.arange(4.0))) == 14.0
    messages = [r.getMessage() for r in caplog.records if "a test sum" in r.getMessage()]
    assert len(messages) == 2, messages  # one per input shape
    assert all(m.startswith("compiled a test sum: ") and m.split(": ")[1][0].isdigit()
               for m in messages)  # fmt: skip
