"""Differentiable augmentation for a discriminator that sees little data (DiffAugment).

Zhao, Liu, Lin, Zhu, Han 2020, "Differentiable Augmentation for Data-Efficient GAN Training", arXiv:2006.10738.
A discriminator trained on a few thousand images memorises them: its accuracy on the training reals goes to 1 while
held-out reals start to look "fake" to it, and its feedback to the generator degrades. Augmenting only the reals
would teach D that augmented images are real (the generator then learns to produce them: the augmentations "leak").
DiffAugment applies the SAME family of random transforms T to real AND fake images, in BOTH steps (sec. 3.2, eqs. 2-3):

    L_D = f_D( D(T(x)), D(T(sg[x_hat])) )        L_G = f_G( D(T(x_hat)) )

and T is differentiable, so the generator's gradient flows back through it. Each image gets its own random
parameters (one draw per call; calling it once for the reals and once for the fakes is the paper's usage).

    x_aug = diff_augment(x)                                   # (B, C, H, W) in [0, 1] -> same shape, differentiable
    x_aug = diff_augment(x, "translation,cutout", generator=torch.Generator().manual_seed(0))

Policies (comma-separated, applied in this order whatever the order in the string):
    "color":       per image, brightness + U(-0.25, 0.25), saturation x U(0, 2) around the pixel's channel mean,
                   contrast x U(0.5, 1.5) around the image's mean;
    "translation": per image, an integer shift of up to 1/8 of the height and width in each direction; the uncovered
                   border is filled with 0.5;
    "cutout":      per image, a square-ish hole of half the height and width at a random position, filled with 0.5.

Range. The course's images are in [0, 1] (course_lib.data). The paper's code works on [-1, 1], shifts brightness by
U(-0.5, 0.5) and fills with 0 there; mapped to [0, 1] (x -> (x + 1) / 2) that is a shift of U(-0.25, 0.25) and a fill
of 0.5 (mid-grey), which is what this module does. Saturation and contrast scale around a mean, so they are the same
in either range. Outputs are not clamped (a clamp would zero the gradient of the clipped pixels).
"""
from __future__ import annotations

from typing import Optional

import torch

__all__ = ["diff_augment", "POLICIES"]

POLICIES = ("color", "translation", "cutout")
FILL = 0.5  # mid-grey in [0, 1]: the paper's 0 in [-1, 1]


def _rand(shape, x: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
    """Uniform [0, 1) numbers drawn on the generator's device (a CPU generator works for CUDA images), moved to x's."""
    device = generator.device if generator is not None else x.device
    return torch.rand(shape, generator=generator, device=device).to(device=x.device, dtype=x.dtype)


def _randint(high: int, shape, x: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
    """Integers in [0, high) (high >= 1), drawn like _rand, on x's device."""
    device = generator.device if generator is not None else x.device
    return torch.randint(0, high, shape, generator=generator, device=device).to(x.device)


def _color(x: torch.Tensor, generator) -> torch.Tensor:
    b = x.shape[0]
    x = x + (_rand((b, 1, 1, 1), x, generator) - 0.5) * 0.5  # brightness: U(-0.25, 0.25)
    if x.shape[1] > 1:  # saturation only means something with several channels
        grey = x.mean(dim=1, keepdim=True)
        x = grey + (x - grey) * (2.0 * _rand((b, 1, 1, 1), x, generator))  # x U(0, 2)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return mean + (x - mean) * (_rand((b, 1, 1, 1), x, generator) + 0.5)  # contrast: x U(0.5, 1.5)


def _shift_index(size: int, max_shift: int, b: int, x: torch.Tensor, generator) -> torch.Tensor:
    """(b, size) indices into a border-padded axis of length size + 2 * max_shift: position i of image n reads
    padded position i + max_shift - shift_n, with shift_n uniform in [-max_shift, max_shift]."""
    shift = _randint(2 * max_shift + 1, (b, 1), x, generator) - max_shift
    return torch.arange(size, device=x.device).unsqueeze(0) + max_shift - shift


def _translation(x: torch.Tensor, generator, ratio: float = 0.125) -> torch.Tensor:
    b, c, h, w = x.shape
    sh, sw = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    padded = torch.nn.functional.pad(x, (sw, sw, sh, sh), value=FILL)
    rows = _shift_index(h, sh, b, x, generator)  # (b, h)
    cols = _shift_index(w, sw, b, x, generator)  # (b, w)
    n = torch.arange(b, device=x.device).view(b, 1, 1)
    # gather with advanced indexing (differentiable): result[n, :, i, j] = padded[n, :, rows[n, i], cols[n, j]]
    out = padded.permute(0, 2, 3, 1)[n, rows.unsqueeze(2), cols.unsqueeze(1)]  # (b, h, w, c)
    return out.permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, generator, ratio: float = 0.5) -> torch.Tensor:
    b, c, h, w = x.shape
    ch, cw = max(1, int(h * ratio + 0.5)), max(1, int(w * ratio + 0.5))
    # the hole's top-left corner may hang over the border by up to half the hole (as in the paper's code)
    top = _randint(h + 1 - (ch % 2), (b, 1), x, generator) - ch // 2
    left = _randint(w + 1 - (cw % 2), (b, 1), x, generator) - cw // 2
    r = torch.arange(h, device=x.device).unsqueeze(0)
    q = torch.arange(w, device=x.device).unsqueeze(0)
    in_rows = (r >= top) & (r < top + ch)  # (b, h)
    in_cols = (q >= left) & (q < left + cw)  # (b, w)
    hole = (in_rows.unsqueeze(2) & in_cols.unsqueeze(1)).unsqueeze(1).to(x.dtype)  # (b, 1, h, w)
    return x * (1 - hole) + FILL * hole


def diff_augment(x: torch.Tensor, policy: str = "color,translation,cutout",
                 generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """DiffAugment (Zhao et al. 2020, arXiv:2006.10738): random, differentiable transforms of a batch of images.

    x: (B, C, H, W) float images in [0, 1]. policy: comma-separated names from POLICIES ("" = identity).
    generator: a torch.Generator for reproducible draws (on the CPU or on x's device); None = the global RNG.
    Returns a tensor of x's shape, dtype and device; gradients flow back to x. Apply it to the reals AND to the
    fakes, in the discriminator step and in the generator step (see the module docstring)."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"diff_augment expects a float tensor of images, got {type(x).__name__}"
                        + (f" of dtype {x.dtype}" if isinstance(x, torch.Tensor) else ""))
    if x.dim() != 4:
        raise ValueError(f"diff_augment expects images of shape (B, C, H, W), got {tuple(x.shape)}")
    if not isinstance(policy, str):
        raise TypeError(f"policy must be a comma-separated string such as 'color,translation,cutout', got {policy!r}")
    names = [p.strip() for p in policy.split(",") if p.strip()]
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {unknown}; choose from {list(POLICIES)}")
    if x.shape[0] == 0:
        return x
    for name, fn in (("color", _color), ("translation", _translation), ("cutout", _cutout)):
        if name in names:
            x = fn(x, generator)
    return x
