"""HMC's --resume never duplicates or loses a draw: a run stopped at any stage of the chunk cycle
(fault injection) and resumed gives chain files equal to an uninterrupted run with the same seed;
a finished run resumed does nothing; MPI processes decide together; ``thin`` and ``max_draws``.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from cobaya.collection import SampleCollection
from cobaya.run import run

from cobaya_plugins.samplers.HMC import HMC

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parents[1])]))


class Killed(BaseException):
    """Stands for a kill: nothing in Cobaya or the sampler catches it."""


def info(output: Path, **options) -> dict:
    """A correlated 2-d Gaussian with mass piled against h's lower bound (fast to sample)."""
    sampler = {"seed": 3, "warmup": 100, "chunk": 20, "min_ess": 1e9, "max_draws": 120}
    return {
        "likelihood": {
            "g": "lambda a, h: -0.5 * ((a - h) ** 2 / 0.19 + h**2)",
        },
        "params": {
            "a": {"prior": {"min": -5, "max": 5}, "ref": 0.2, "proposal": 0.3},
            "h": {"prior": {"min": 0, "max": 5}, "ref": 0.5, "proposal": 0.3},
        },
        "sampler": {"cobaya_plugins.samplers.HMC": {**sampler, **options}},
        "output": str(output),
    }


def chain_texts(folder: Path) -> dict[str, str]:
    return {f.name: f.read_text() for f in sorted(folder.glob("run.*.txt"))}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("reference")
    run(info(folder / "run"))
    texts = chain_texts(folder)
    assert len(texts) == 4 and all(len(t.splitlines()) == 1 + 120 for t in texts.values())
    return texts


def kill_at(monkeypatch, stage: str, chunk: int) -> None:
    """Make the run stop (raise :class:`Killed`) at ``stage`` of sampling chunk ``chunk``
    (1-based): while drawing it, halfway through writing its draws (one chain file written, a
    torn line in the next), after writing them, or after saving the state. ``chunk`` 0 with
    ``written``: at the end of warm-up, before the first state is saved."""
    calls = {"write": 0, "save": 0}
    write, save = HMC._write, HMC._save_state

    def patched_write(self, positions):
        calls["write"] += 1
        if calls["write"] == chunk and stage == "drawing":
            raise Killed
        if calls["write"] == chunk and stage == "writing":
            original = SampleCollection.out_update
            SampleCollection.out_update = lambda c: None  # draws added, not yet on disk
            try:
                write(self, positions)
            finally:
                SampleCollection.out_update = original
            self.collections[0].out_update()
            with open(self.collections[1].file_name, "a") as f:
                f.write("  1.0 0.123")  # a line cut by the kill
            raise Killed
        write(self, positions)

    def patched_save(self, kernel, states, key):
        calls["save"] += 1  # the first save follows warm-up; chunk k's is save k + 1
        if calls["save"] == chunk + 1 and stage == "written":
            raise Killed
        save(self, kernel, states, key)
        if calls["save"] == chunk + 1 and stage == "saved":
            raise Killed

    monkeypatch.setattr(HMC, "_write", patched_write)
    monkeypatch.setattr(HMC, "_save_state", patched_save)


SLOW = pytest.mark.slow


@pytest.mark.parametrize(
    "stage,chunk",
    [pytest.param("written", 0, marks=SLOW), pytest.param("drawing", 1, marks=SLOW),
     ("writing", 3), ("written", 3), pytest.param("saved", 3, marks=SLOW),
     pytest.param("saved", 6, marks=SLOW)],
)  # fmt: skip
def test_resume_after_a_kill_at_any_stage_equals_an_uninterrupted_run(
    tmp_path, monkeypatch, uninterrupted, stage, chunk
):
    with monkeypatch.context() as patch:
        kill_at(patch, stage, chunk)  # chunk 6 is the last: killed before the stop message
        with pytest.raises(Killed):
            run(info(tmp_path / "run"))
    run(info(tmp_path / "run"), resume=True)
    assert chain_texts(tmp_path) == uninterrupted


def test_resume_of_a_finished_run_does_nothing_and_says_so(tmp_path, caplog):
    """Resumed after converging (or reaching max_draws), no draw is added."""
    run(info(tmp_path / "run", max_draws=40))
    before = chain_texts(tmp_path)
    caplog.clear()
    run(info(tmp_path / "run", max_draws=40), resume=True)
    assert chain_texts(tmp_path) == before
    assert "Already at max_draws = 40" in caplog.text
    # a larger max_draws goes on from there
    run(info(tmp_path / "run", max_draws=60), resume=True)
    after = chain_texts(tmp_path)
    for name, text in before.items():
        assert after[name].startswith(text) and len(after[name].splitlines()) == 1 + 60


def test_thin_writes_every_nth_draw_and_max_draws_counts_transitions(tmp_path):
    """``thin: 4`` with ``max_draws: 80``: 80 transitions per chain, 20 draws written, each the
    4th transition of the unthinned run with the same seed."""
    run(info(tmp_path / "thin" / "run", thin=4, max_draws=80))
    run(info(tmp_path / "all" / "run", max_draws=80))
    for name in ("run.1.txt", "run.4.txt"):
        thinned = np.loadtxt(tmp_path / "thin" / name)
        everything = np.loadtxt(tmp_path / "all" / name)
        assert len(thinned) == 20 and len(everything) == 80
        np.testing.assert_array_equal(thinned, everything[3::4])


def test_resume_with_changed_chain_files_is_an_error(tmp_path):
    from cobaya.log import LoggedError

    run(info(tmp_path / "run", max_draws=40))
    lines = (tmp_path / "run.2.txt").read_text().splitlines(keepends=True)
    (tmp_path / "run.2.txt").write_text("".join(lines[:10]))
    with pytest.raises(LoggedError, match=r"run\.2\.txt has 9 draws but the saved state has 40"):
        run(info(tmp_path / "run", max_draws=60), resume=True)


def mpirun(tmp_path: Path, n: int, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "mpirun"), "-n", str(n), str(BIN / "cobaya-run"), *args, "run.yaml"],
        cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=240,
    )  # fmt: skip


@pytest.mark.slow
def test_mpi_resume_is_decided_by_all_processes(tmp_path):
    """After a 2-process run: resuming with 1 process, or with the state of one process gone, is
    an error that ends every process (no hang: the timeout would fail the test)."""
    if not (BIN / "mpirun").exists():
        pytest.skip("no mpirun in the venv: `make install-test` installs mpich and mpi4py")
    (tmp_path / "run.yaml").write_text(
        yaml.safe_dump(info(Path("chains") / "run", chains=2, max_draws=40))
    )
    first = mpirun(tmp_path, 2)
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    saved = tmp_path / "saved"
    shutil.copytree(tmp_path / "chains", saved)

    one = mpirun(tmp_path, 1, "--resume")
    assert one.returncode != 0
    out = one.stdout + one.stderr
    assert "saved states exist for process(es) [1, 2], but this run has 1" in out

    (tmp_path / "chains" / "run.hmc_state.2.npz").unlink()
    partial = mpirun(tmp_path, 2, "--resume")
    out = partial.stdout + partial.stderr
    assert partial.returncode != 0
    assert "saved states exist for process(es) [1], but this run has 2" in out

    shutil.rmtree(tmp_path / "chains")
    shutil.copytree(saved, tmp_path / "chains")
    again = mpirun(tmp_path, 2, "--resume")
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert "Already at max_draws" in again.stdout + again.stderr
