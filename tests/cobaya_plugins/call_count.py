"""Counting a test model's calls independently of the code under test: one line appended to a
file per call (O_APPEND: safe from several processes, e.g. under mpirun)."""

import os


def count_call(variable: str) -> None:
    """Append one line to the file named by the environment variable ``variable``, if set."""
    path = os.environ.get(variable)
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, b"1\n")
        finally:
            os.close(fd)
