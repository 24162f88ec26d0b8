"""Progress bars with ETA for each stage (tqdm on stderr; silent when disabled)."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager


class _Silent:
    def update(self, n=1):
        pass

    def set_postfix_str(self, text):
        pass


@contextmanager
def stage(name: str, total: int | None, enabled: bool = True, timings: dict | None = None):
    start = time.perf_counter()
    if enabled and total:
        from tqdm import tqdm

        bar = tqdm(
            total=total,
            desc=name,
            unit="item",
            file=sys.stderr,
            dynamic_ncols=True,
            smoothing=0.1,
            mininterval=1.0,
        )
        try:
            yield bar
        finally:
            bar.close()
    else:
        yield _Silent()
    if timings is not None:
        timings[name] = round(time.perf_counter() - start, 3)
