"""featviz_extras without its extra (TensorFlow/Keras, scikit-learn, Pillow): one line saying
what to install, no traceback."""

import subprocess
import sys

# a Python in which the extra's modules are not found, as when they are not installed
_BLOCK = """
import sys
class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("keras", "tensorflow", "sklearn", "PIL"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _NotInstalled())
"""


def test_cli_says_what_to_install(tmp_path):
    out = tmp_path / "new" / "node.png"
    argv = ["visualize", "--layer", "block5_conv4", "--channel", "4", "--weights", "none",
            "--steps", "1", "--out", str(out)]  # fmt: skip
    code = f"{_BLOCK}\nfrom featviz_extras.cli import main\nraise SystemExit(main({argv!r}))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "visualize: error: No module named 'keras'" in lines[0]
    assert "pip install 'cobaya-planck-clik[featviz]'" in lines[0]
    assert out.parent.is_dir()  # visualize creates its output folder first, as analyze does
