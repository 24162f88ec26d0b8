"""One torch thread for a block of code: under MKL's compatible branch (bench/core/determinism.py)
a float64 matrix product splits its sums by the thread count, so products whose bits must not
depend on it run on one thread (metrics/resampling.py ``resample_blocked``, the melstats-fast
embedder)."""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def one_torch_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
