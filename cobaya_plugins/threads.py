"""Limiting BLAS threads around clik calls.

clipy's plik (``smica``) and plik_lite work on thousands of tiny matrices: with a multi-threaded
BLAS (numpy's and scipy's OpenBLAS start one thread per core) each call spends its time
synchronising threads, and next to CLASS's OpenMP threads a call was measured 5–25× slower.
:class:`BlasThreads` sets the thread count of the BLAS libraries loaded in this process for the
duration of a call and restores it afterwards (about 2 µs per library, via threadpoolctl).
"""

from __future__ import annotations

from typing import Any


class BlasThreads:
    """Context manager: BLAS libraries use ``n`` threads inside the ``with`` block.

    ``n=None`` leaves them alone. The libraries are found at the first use (after clipy and
    scipy are imported); without threadpoolctl this is a no-op.
    """

    def __init__(self, n: int | None = 1):
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
            raise ValueError(f"blas_threads must be a positive integer or None, got {n!r}.")
        self.n = n
        self._libs: list[Any] | None = None
        self._saved: list[int] = []

    def _find_libraries(self) -> list[Any]:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            return []
        return [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]

    def __enter__(self) -> BlasThreads:
        if self.n is None:
            return self
        if self._libs is None:
            self._libs = self._find_libraries()
        self._saved = [lib.get_num_threads() for lib in self._libs]
        for lib in self._libs:
            lib.set_num_threads(self.n)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.n is None:
            return
        for lib, n in zip(self._libs or [], self._saved, strict=True):
            lib.set_num_threads(n)
        self._saved = []
