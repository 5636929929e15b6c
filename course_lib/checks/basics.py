"""Checks for notebook 00 (set-up): the warm-up exercise that shows how exercises and checks work."""
from __future__ import annotations

import torch

from . import check_function


def reference_to_signed(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> [-1, 1] (the range GAN decoders usually work in)."""
    return x * 2 - 1


def _inputs(seed: int, shape=(4, 1, 8, 8), dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(*shape, generator=g).to(dtype)
    x.view(-1)[:2] = torch.tensor([0.0, 1.0], dtype=dtype)       # the end points are always tried
    return (x,)


def check_to_signed(fn, seed: int = 0, shape=(4, 1, 8, 8), dtype=torch.float32) -> None:
    """``fn(x)`` maps images in [0, 1] to [-1, 1] elementwise. ``seed``, ``shape`` and ``dtype`` choose other inputs
    (the hidden tests use them)."""
    check_function(
        fn,
        reference_to_signed,
        lambda i: _inputs(seed + i, tuple(shape), dtype),
        name="to_signed",
        mistakes={
            "you scaled by 2 but forgot to shift: [0, 1] * 2 is [0, 2]; subtract 1.": lambda x: x * 2,
            "you shifted but did not scale: x - 0.5 lies in [-0.5, 0.5]; multiply by 2 as well.": lambda x: x - 0.5,
            "you applied the inverse map ((x + 1) / 2 turns [-1, 1] into [0, 1]).": lambda x: (x + 1) / 2,
        },
        success="to_signed maps [0, 1] onto [-1, 1].",
    )
