"""Checks for notebook 00 (set-up): the warm-up exercise that shows how exercises and checks work."""
from __future__ import annotations

import torch

from . import check_function


def reference_to_signed(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> [-1, 1] (the range GAN decoders usually work in)."""
    return x * 2 - 1


def _inputs(seed: int):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(4, 1, 8, 8, generator=g),)


def check_to_signed(fn) -> None:
    """``fn(x)`` maps images in [0, 1] to [-1, 1] elementwise."""
    check_function(
        fn,
        reference_to_signed,
        _inputs,
        name="to_signed",
        mistakes={
            "you scaled by 2 but forgot to shift: [0, 1] * 2 is [0, 2]; subtract 1.": lambda x: x * 2,
            "you shifted but did not scale: x - 0.5 lies in [-0.5, 0.5]; multiply by 2 as well.": lambda x: x - 0.5,
            "you applied the inverse map ((x + 1) / 2 turns [-1, 1] into [0, 1]).": lambda x: (x + 1) / 2,
        },
        success="to_signed maps [0, 1] onto [-1, 1].",
    )
