"""The kernel-size-1 convolution every model here uses, with a result that does not depend on the
number of CPU threads.

torch 2.13's CPU ``Conv1d`` with kernel size 1 changes in the last bits with the thread count: with a
bias, 164 of 192 shapes tried differed between 1 and 2 threads; without it, 96 of 180 larger ones
(kernel sizes 3 and 4 never did). ``torch.matmul`` of the [out, in] weight with the [B, in, T] input
differed in none of 500 shapes. A table must not depend on whether a worker ran with one thread
(``local:N``, Ray, SLURM) or with all of them (``inline``), so this layer is that matmul plus the
bias; its parameters and state-dict keys (``weight`` [out, in, 1], ``bias``) stay those of
``nn.Conv1d``, so checkpoints load unchanged. tests/test_thread_invariance.py checks the systems end
to end.
"""

from __future__ import annotations

import torch
from torch import nn


class PointwiseConv1d(nn.Conv1d):
    """``nn.Conv1d(in_channels, out_channels, 1)``, thread-count invariant on CPU."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True):
        super().__init__(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.matmul(self.weight[:, :, 0], x)
        return y if self.bias is None else y + self.bias[:, None]
