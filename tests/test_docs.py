"""Every ```python and ```bash block of README.md and docs/*.md runs as written.

What the reader has when they get there is what the README's two commands leave behind: the
packages installed (``make test``: all extras) and the products of ``make demo``
(``mock_data/lowl_TT.clik``, ``mock_data/highl_TTTEEE_lite.clik``, and, written here only when a
block mentions them, the demo chain ``chains/lcdm_emulator_mock_lite`` and its triangle plot). Each
document gets a fresh working folder laid out like the repository after ``make demo`` (its
``yaml_examples/`` and ``cobaya_plugins/`` are the repository's, read-only); its blocks run there
one after the other, in their order, so a block may use what an earlier one wrote. A python
block runs with this Python; a bash block with ``bash -e``, this Python's ``bin/`` first on the
PATH (``python``, ``cobaya-run``, ``mpirun``).

Markers, in an HTML comment on the line just above a block's opening fence (invisible on the
rendered page):

* ``<!-- docs-test: skip REASON -->``: the block is not run, for the stated reason (it needs the
  real Planck files or the internet, runs for an hour, is a template with placeholders, ...).
* ``<!-- docs-test: file NAME -->``: the block is not run but written to ``NAME`` in the working
  folder (a module or a YAML file that a later block uses), whatever its language.

A block that fails shows the document, the line, the command and the end of its output.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
#: Languages whose blocks are run.
RUN = ("python", "bash")
#: Seconds a block may run.
TIMEOUT = 600
_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w+-]*)\s*$")
_MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<what>skip|file)\s+(?P<arg>.+?)\s*-->\s*$")


@dataclasses.dataclass
class Block:
    """One fenced block: where it is, its language, its text, and its marker (if any)."""

    document: Path
    line: int
    lang: str
    text: str
    skip: str | None = None
    file: str | None = None

    def __str__(self) -> str:
        return f"{self.document.relative_to(REPO)}:{self.line} ({self.lang})"


def blocks(document: Path) -> list[Block]:
    """The fenced blocks of ``document`` in order, dedented, with their markers."""
    lines = document.read_text().splitlines()
    found, i = [], 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent = len(opening["indent"])
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
        text = textwrap.dedent("\n".join(line[indent:] for line in lines[i + 1 : end]))
        block = Block(document, i + 1, opening["lang"], text + "\n")
        marker = _MARKER.match(lines[i - 1]) if i > 0 else None
        if marker:
            setattr(block, marker["what"], marker["arg"])
        found.append(block)
        i = end + 1
    return found


def test_markers_are_used_as_documented():
    """Each marker sits above a block and says why (skip) or where (file)."""
    for document in DOCUMENTS:
        lines = document.read_text().splitlines()
        for number, line in enumerate(lines):
            if not (line.lstrip().startswith("<!--") and "docs-test" in line):
                continue
            where = f"{document.relative_to(REPO)}:{number + 1}"
            assert _MARKER.match(line), f"{where}: not `<!-- docs-test: skip|file ... -->`"
            following = lines[number + 1] if number + 1 < len(lines) else ""
            assert _FENCE.match(following), f"{where}: the marker must be just above a block"


@pytest.fixture(scope="session")
def after_make_demo(tmp_path_factory) -> Path:
    """A folder with what ``make demo`` leaves besides the chain: the two mock files (the
    Makefile's command: seed 0)."""
    root = tmp_path_factory.mktemp("after_make_demo")
    for kind in ("lowl_TT", "highl_TTTEEE_lite"):
        _check([sys.executable, "-m", "cobaya_plugins", "mock", kind, "mock_data"], root)
    return root


def _check(command: list[str], cwd: Path, timeout: float = TIMEOUT) -> None:
    proc = subprocess.run(command, cwd=cwd, env=_environment(), capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip
    assert proc.returncode == 0, f"{' '.join(command)}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"


def _environment() -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return dict(os.environ, PATH=os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
                OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")  # fmt: skip


def _demo_chain(folder: Path) -> None:
    """The demo chain and its triangle plot, as ``make demo`` writes them, but stopped after a
    few hundred samples (a block that only reads them does not need it converged)."""
    import yaml

    info = yaml.safe_load((REPO / "yaml_examples" / "lcdm_emulator_mock_lite.yaml").read_text())
    info["sampler"]["mcmc"].update(max_samples=300, Rminus1_stop=0.5)
    (folder / "demo_short.yaml").write_text(yaml.safe_dump(info))
    _check([str(Path(sys.executable).parent / "cobaya-run"), "--force", "demo_short.yaml"], folder)
    _check(
        [
            sys.executable,
            "-m",
            "cobaya_plugins",
            "triangle",
            "chains/lcdm_emulator_mock_lite",
            "demo_output/lcdm_emulator_mock_lite_triangle.png",
            "--mark-truth",
        ],
        folder,
    )


def _workdir(document: Path, base: Path, root: Path) -> Path:
    """A fresh folder laid out like the repository after ``make demo``."""
    folder = root / document.stem
    shutil.copytree(base, folder)
    for shared in ("yaml_examples", "cobaya_plugins", "bench"):
        (folder / shared).symlink_to(REPO / shared)
    (folder / "docs" / "img").mkdir(parents=True)  # a block may write a figure there
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: str(d.relative_to(REPO)))
def test_snippets_run(document, after_make_demo, tmp_path):
    found = [b for b in blocks(document) if b.lang in RUN or b.file]
    if not any(b.lang in RUN and not b.skip and not b.file for b in found):
        pytest.skip("no block to run")
    folder = _workdir(document, after_make_demo, tmp_path)
    if any("chains/lcdm_emulator_mock_lite" in b.text for b in found if not b.skip):
        _demo_chain(folder)
    for block in found:
        if block.skip:
            continue
        if block.file:
            (folder / block.file).write_text(block.text)
            continue
        if block.lang == "python":
            command = [sys.executable, "-c", block.text]
        else:
            command = ["bash", "-e", "-c", block.text]
        try:
            proc = subprocess.run(command, cwd=folder, env=_environment(), capture_output=True,
                                  text=True, timeout=TIMEOUT)  # fmt: skip
        except subprocess.TimeoutExpired:
            pytest.fail(f"{block} ran for more than {TIMEOUT} s: skip it with a reason")
        assert proc.returncode == 0, (
            f"{block} failed (exit {proc.returncode}):\n{block.text}\n--- output ---\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
