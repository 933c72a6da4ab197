"""Process-wide JAX settings made by this package: each is logged when it changes something, a
user's own setting is left alone (JAX_ENABLE_X64, XLA_FLAGS), and JAX's "no libtpu.so" note is
not printed. Each case runs in a fresh process: these settings are per process."""

import logging
import math
import os
import subprocess
import sys

import pytest

from cobaya_plugins import jax_compile

pytest.importorskip("jax")

#: Builds the JAX log-posterior of a one-parameter Gaussian, with Cobaya's logging (INFO).
POSTERIOR = """
import jax
from cobaya.model import get_model
from cobaya_plugins.gradients import LogPosterior
model = get_model({"likelihood": {"g": "lambda a: -0.5 * a**2"},
                   "params": {"a": {"prior": {"min": -5, "max": 5}}}})
posterior = LogPosterior(model)
print("x64", jax.config.jax_enable_x64, "value", f"{posterior.value([1.0]):.12f}")
"""


def run_python(code: str, **env: str | None) -> subprocess.CompletedProcess:
    environment = dict(os.environ, COBAYA_PLUGINS_JAX_CACHE="off")
    for name in ("JAX_ENABLE_X64", "XLA_FLAGS"):
        environment.pop(name, None)
    environment.update({k: v for k, v in env.items() if v is not None})
    return subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


@pytest.mark.slow
def test_log_posterior_turns_on_x64_and_one_xla_thread_and_says_so():
    proc = run_python(POSTERIOR)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    # -a²/2 at a = 1, plus the uniform prior's log(1/10)
    assert f"x64 True value {-0.5 - math.log(10):.12f}" in out
    assert "JAX's 64-bit mode turned on for this process" in out
    assert f"XLA_FLAGS is not set: set to '{jax_compile.XLA_SINGLE_THREAD}'" in out


@pytest.mark.slow
def test_explicit_x64_on_and_xla_flags_are_left_alone_silently():
    code = POSTERIOR + "import os; print('flags', repr(os.environ['XLA_FLAGS']))"
    proc = run_python(code, JAX_ENABLE_X64="1", XLA_FLAGS="")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "x64 True" in out and "flags ''" in out
    assert "64-bit mode turned on" not in out and "XLA_FLAGS is not set" not in out


@pytest.mark.slow
@pytest.mark.parametrize("off", ["0", "False"])
def test_explicit_x64_off_is_refused_with_the_fix(off):
    proc = run_python(POSTERIOR, JAX_ENABLE_X64=off)
    assert proc.returncode != 0
    assert (
        f"The JAX log-posterior computes in float64, as Cobaya's likelihoods do, but "
        f"JAX_ENABLE_X64={off} in the environment switches JAX's 64-bit mode off: unset "
        "JAX_ENABLE_X64 (this package then turns the mode on) or set JAX_ENABLE_X64=1."
    ) in proc.stdout + proc.stderr
    assert "x64 True" not in proc.stdout


def test_configure_threads_sets_xla_flags_only_when_unset(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    assert jax_compile.configure_threads() is True
    assert os.environ["XLA_FLAGS"] == jax_compile.XLA_SINGLE_THREAD
    for mine in ("", "--xla_force_host_platform_device_count=2"):
        monkeypatch.setenv("XLA_FLAGS", mine)
        assert jax_compile.configure_threads() is False
        assert os.environ["XLA_FLAGS"] == mine


def test_filter_drops_only_the_missing_libtpu_note():
    """The records as JAX 0.10's xla_bridge words them (``Unable to initialize backend
    '{platform}': {err}``)."""
    jax_compile.quiet_missing_tpu()
    jax_compile.quiet_missing_tpu()  # idempotent: one filter
    logger = logging.getLogger(jax_compile.TPU_PROBE_LOGGER)
    assert logger.filters.count(jax_compile._not_missing_libtpu) == 1

    def record(message):
        return logging.LogRecord(logger.name, logging.INFO, __file__, 1, message, None, None)

    tpu = (
        "Unable to initialize backend 'tpu': INTERNAL: Failed to open libtpu.so: libtpu.so: "
        "cannot open shared object file: No such file or directory"
    )
    assert not logger.filter(record(tpu))
    cuda = "Unable to initialize backend 'cuda': no supported devices found for platform CUDA"
    assert logger.filter(record(cuda))
    tpu_other = "Unable to initialize backend 'tpu': UNKNOWN: TPU initialization failed"
    assert logger.filter(record(tpu_other))  # a TPU library that is there but fails: kept


@pytest.mark.slow
def test_no_libtpu_note_after_this_package_set_jax_up():
    """With logging at INFO (as under cobaya-run) JAX's first computation notes the missing
    libtpu.so; after this package's JAX setup it does not, and the CPU still computes. Without
    the package's setup the note is there (the control: skipped on a machine with a TPU)."""
    code = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
if sys.argv[1] == "package":
    from cobaya_plugins.jax_compile import enable_cache
    enable_cache()
import jax, jax.numpy as jnp
print("sum", float(jnp.arange(4.0).sum()), jax.default_backend())
"""
    control = run_python(code.replace("sys.argv[1]", "'none'"))
    if "libtpu" not in control.stderr:
        pytest.skip("this machine's JAX does not note a missing libtpu.so")
    proc = run_python(code.replace("sys.argv[1]", "'package'"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "sum 6.0" in proc.stdout
    assert "libtpu" not in proc.stderr and "Unable to initialize backend" not in proc.stderr


@pytest.mark.slow
def test_clipy_jax_path_refuses_explicit_x64_off_with_the_fix(mock_paths):
    """clipy turns float64 on when its JAX path is imported: with JAX_ENABLE_X64=0 opening a file
    on `backend: jax` stops with the fix instead of overriding the user's setting."""
    code = (
        "from cobaya_plugins.clik import open_clik\n"
        f"open_clik({str(mock_paths['highl_TTTEEE_lite'])!r}, backend='jax')\n"
    )
    proc = run_python(code, JAX_ENABLE_X64="0")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "clipy's JAX path (`backend: jax`) computes in float64" in out
    assert "JAX_ENABLE_X64=0" in out and "set JAX_ENABLE_X64=1" in out
