"""Checks for notebook 13 (restoration and editing): the code-prediction loss and the Gram matrix. The two MaskGIT
checks of the same notebook are in :mod:`course_lib.checks.maskgit`.

    from course_lib.checks.restoration import check_code_prediction_loss, check_gram_matrix
    check_code_prediction_loss(code_prediction_loss)   # (logits (B, K, h, w), targets (B, h, w)) -> scalar
    check_gram_matrix(gram_matrix)                     # features (B, C, H, W) -> (B, C, C), mean over positions
    check_code_prediction_loss(code_prediction_loss, seed=3, shape=(3, 11, 2, 5))   # more cases (hidden tests)
    check_gram_matrix(gram_matrix, seed=3, shape=(3, 5, 2, 7))
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from . import check_function, records_result
from ..restoration import code_prediction_loss as _ce_ref, gram_matrix as _gram_ref

__all__ = ["check_code_prediction_loss", "check_gram_matrix"]


def _distinct(shape: tuple, what: str) -> None:
    if len(shape) != 4 or len(set(shape[1:])) != 3:
        raise ValueError(f"{what} must have 4 dimensions with 3 different sizes after the batch, got {shape}")


@records_result
def check_code_prediction_loss(student_fn: Callable, seed: int = 0, shape: tuple = (4, 9, 3, 5)) -> None:
    """student_fn(logits (B, K, h, w), targets (B, h, w) int64) -> the mean cross-entropy over the B h w cells.

    Three random trials with logits of ``shape`` = (B, K, h, w) (K, h, w distinct so that an axis mix-up shows)."""
    _distinct(shape, "shape")
    b, k, h, w = shape

    def make_inputs(trial):
        g = torch.Generator().manual_seed(1000 + 31 * seed + trial)
        return 2.0 * torch.randn(b, k, h, w, generator=g), torch.randint(0, k, (b, h, w), generator=g)

    mistakes = {
        "you reshaped the logits to (-1, K) without moving K last: that mixes codes and positions. Use "
        "F.cross_entropy(logits, targets), which takes the classes on dim 1, or permute(0, 2, 3, 1) first.":
            lambda l, t: F.cross_entropy(l.reshape(-1, k), t.reshape(-1)),
        "you took the softmax over the wrong axis: the K codes are on dim 1 of the logits.":
            lambda l, t: F.nll_loss(F.log_softmax(l, dim=-1), t),
        "you summed the loss; return the MEAN over the B h w cells (reduction='mean').":
            lambda l, t: F.cross_entropy(l, t, reduction="sum"),
        "you summed over the h w grid and averaged over images; return the mean over every cell.":
            lambda l, t: F.cross_entropy(l, t, reduction="none").sum((1, 2)).mean(),
        "you returned bits (divided by log 2); the loss is in nats, as F.cross_entropy gives it.":
            lambda l, t: F.cross_entropy(l, t) / math.log(2),
        "you passed probabilities (a softmax) to the cross-entropy, which applies log-softmax itself: pass the "
        "raw logits.":
            lambda l, t: F.cross_entropy(F.softmax(l, dim=1), t),
        "you used the logits as log-probabilities (nll_loss without log_softmax): normalise them first.":
            lambda l, t: F.nll_loss(l, t),
    }
    def as_tensor(*args):                                # accept a Python float or NumPy scalar as well
        out = student_fn(*args)
        if isinstance(out, (float, int, np.generic)) or (isinstance(out, np.ndarray) and out.ndim == 0):
            return torch.as_tensor(float(out), dtype=torch.float32)
        return out

    check_function(as_tensor, _ce_ref, make_inputs, name="code_prediction_loss", mistakes=mistakes, trials=3,
                   success="code_prediction_loss is the mean cross-entropy over the K codes of every grid cell.")


def check_gram_matrix(student_fn: Callable, seed: int = 0, shape: tuple = (2, 3, 4, 6)) -> None:
    """student_fn(features (B, C, H, W)) -> (B, C, C), the channel-by-channel products averaged over the H W
    positions. Three random trials with features of ``shape`` (C, H, W distinct)."""
    _distinct(shape, "shape")
    b, c, h, w = shape
    if b < 2:
        raise ValueError(f"check_gram_matrix needs a batch of at least 2 images to see a batch mix-up, got {shape}")

    def make_inputs(trial):
        g = torch.Generator().manual_seed(2000 + 31 * seed + trial)
        return (torch.randn(b, c, h, w, generator=g).relu() + 0.1,)

    def flat(f):
        return f.reshape(b, c, h * w)

    mistakes = {
        "you did not divide by the number of positions H W (the Gram matrix here is a mean over positions).":
            lambda f: flat(f) @ flat(f).transpose(1, 2),
        "you divided by C H W; divide by the number of positions H W only.":
            lambda f: flat(f) @ flat(f).transpose(1, 2) / (c * h * w),
        "you centred the features (a covariance); the Gram matrix uses the raw features.":
            lambda f: (flat(f) - flat(f).mean(-1, keepdim=True)) @ (flat(f) - flat(f).mean(-1, keepdim=True)
                                                                    ).transpose(1, 2) / (h * w),
        "you mixed the images of the batch: reshape to (B, C, H W) per image, not (C, B H W).":
            lambda f: (f.transpose(0, 1).reshape(c, -1) @ f.transpose(0, 1).reshape(c, -1).T / (b * h * w)
                       ).expand(b, c, c),
        "you reshaped to (B, H W, C) without moving the channels: reshape(B, C, H*W) keeps channel rows.":
            lambda f: f.reshape(b, h * w, c).transpose(1, 2) @ f.reshape(b, h * w, c) / (h * w),
    }
    check_function(student_fn, _gram_ref, make_inputs, name="gram_matrix", mistakes=mistakes, trials=3,
                   success="gram_matrix averages the channel products over the positions, image by image.")
