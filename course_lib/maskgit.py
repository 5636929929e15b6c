"""A small bidirectional masked-token model over VQ codes, after MaskGIT (notebook 13, free-form inpainting).

    from course_lib.maskgit import (MaskedTokenModel, masked_token_loss, masked_decode_step, maskgit_complete,
                                    cosine_schedule, random_box_masks)
    model = MaskedTokenModel(num_codes=K, seq_len=h * w, d_model=64, n_layers=2, n_heads=4)
    loss = masked_token_loss(model, tokens)          # tokens (B, T): mask a cosine-scheduled fraction, predict it
    holes = random_box_masks(n, h, w, generator=g)   # (n, h, w) bool, True = unknown (a random rectangle)
    filled = maskgit_complete(model, tokens, known=~holes.flatten(1), steps=8)   # iterative decoding

MaskGIT (H. Chang, H. Zhang, L. Jiang, C. Liu, W. T. Freeman 2022, "MaskGIT: Masked Generative Image
Transformer", CVPR 2022, arXiv:2202.04200):

* **Training** (sec. 3.1, eq. 1): a bidirectional transformer sees the code sequence with a random subset replaced
  by a special ``[MASK]`` token and is trained with the cross-entropy of the true codes **at the masked positions
  only**. The number masked is ``ceil(gamma(r) * T)`` with ``r ~ U(0, 1)`` and the mask schedule ``gamma``
  (sec. 3.3; the cosine ``gamma(r) = cos(pi r / 2)`` is the paper's choice).
* **Iterative decoding** (sec. 3.2): start from the known codes and ``[MASK]`` everywhere else; at each of ``S``
  steps predict every masked position at once, keep the most **confident** predictions and mask the rest again,
  so that ``ceil(gamma(s / S) * N)`` positions stay masked after step ``s`` (N masked at the start; none after
  the last step). Known codes are never changed. MaskGIT *samples* each code and adds annealed noise to the
  confidence (for diversity); here the prediction is the most likely code (greedy), because notebook 13 measures
  the completion against the true image.

The transformer blocks are those of :class:`course_lib.prior.CodePrior` (pre-LN, the same width and MLP) with a
full attention mask instead of the causal one, so the two models of notebook 13 differ only in what they see.
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .prior import Block

__all__ = ["cosine_schedule", "MaskedTokenModel", "masked_token_loss", "masked_decode_step", "maskgit_complete",
           "random_box_masks"]


def cosine_schedule(r: Union[float, torch.Tensor]) -> Union[float, torch.Tensor]:
    """MaskGIT's mask schedule gamma(r) = cos(pi r / 2): the fraction of tokens masked, 1 at r=0, 0 at r=1."""
    if isinstance(r, torch.Tensor):
        return torch.cos(0.5 * math.pi * r)
    return math.cos(0.5 * math.pi * float(r))


class MaskedTokenModel(nn.Module):
    """Bidirectional transformer over code sequences (B, T) with one extra ``[MASK]`` token (index ``num_codes``).

    ``forward(tokens)``: tokens (B, T) in [0, num_codes] (``mask_id = num_codes`` where unknown) -> logits
    (B, T, num_codes) for the code at every position (only the masked ones are trained)."""

    def __init__(self, num_codes: int, seq_len: int, d_model: int = 64, n_layers: int = 2, n_heads: int = 4,
                 dropout: float = 0.0):
        super().__init__()
        if num_codes < 2 or seq_len < 1:
            raise ValueError(f"need num_codes >= 2 and seq_len >= 1, got num_codes={num_codes}, seq_len={seq_len}.")
        self.num_codes, self.seq_len = int(num_codes), int(seq_len)
        self.mask_id = self.num_codes
        self.tok_emb = nn.Embedding(self.num_codes + 1, d_model)
        self.pos_emb = nn.Parameter(torch.zeros(1, self.seq_len, d_model))
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList([Block(d_model, n_heads, dropout) for _ in range(n_layers)])
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, self.num_codes)
        self.register_buffer("full", torch.ones(self.seq_len, self.seq_len, dtype=torch.bool), persistent=False)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, mean=0.0, std=0.02)
                if isinstance(m, nn.Linear) and m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.normal_(self.pos_emb, std=0.02)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.dim() != 2 or tokens.shape[1] != self.seq_len:
            raise ValueError(f"MaskedTokenModel expects tokens (B, {self.seq_len}), got {tuple(tokens.shape)}; "
                             "flatten a (B, h, w) grid with course_lib.prior.flatten_grid.")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) > self.mask_id):
            raise ValueError(f"tokens must lie in [0, {self.mask_id}] ({self.mask_id} = [MASK]), got range "
                             f"[{int(tokens.min())}, {int(tokens.max())}].")
        h = self.drop(self.tok_emb(tokens.long()) + self.pos_emb)
        for block in self.blocks:
            h = block(h, self.full)
        return self.head(self.ln_f(h))


def masked_token_loss(model: MaskedTokenModel, tokens: torch.Tensor,
                      generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """MaskGIT's training loss (eq. 1): per sequence draw r ~ U(0, 1), mask ceil(cos(pi r / 2) T) random positions
    (at least one), and return the mean cross-entropy (nats) of the true codes at the masked positions."""
    B, T = tokens.shape
    dev = tokens.device
    r = torch.rand(B, generator=generator, device=generator.device if generator is not None else None).to(dev)
    n_mask = torch.ceil(cosine_schedule(r) * T).clamp(1, T).long()                    # (B,)
    noise = torch.rand(B, T, generator=generator, device=generator.device if generator is not None else None).to(dev)
    rank = noise.argsort(dim=1).argsort(dim=1)                                         # a random order per row
    mask = rank < n_mask[:, None]
    logits = model(tokens.masked_fill(mask, model.mask_id))
    return F.cross_entropy(logits[mask], tokens[mask].long())


def masked_decode_step(logits: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor,
                       n: Union[int, torch.Tensor]):
    """One step of MaskGIT's decoding: keep the ``n`` most confident predictions among the masked positions.

    logits (B, T, K); tokens (B, T) int64; mask (B, T) bool, True where the code is still unknown; n an int or a
    (B,) tensor (how many to keep in each row; a row with fewer masked positions keeps them all). The prediction
    at a position is its most likely code, its confidence that code's probability (softmax over K). Returns
    ``(tokens, mask)``: the kept predictions written into ``tokens`` and unmasked; known positions and the
    positions that stay masked unchanged."""
    conf, pred = logits.softmax(dim=-1).max(dim=-1)                                    # (B, T) each
    conf = conf.masked_fill(~mask, float("-inf"))                                      # known codes are never picked
    rank = conf.argsort(dim=1, descending=True).argsort(dim=1)                         # 0 = most confident
    n = torch.as_tensor(n, device=logits.device).reshape(-1, 1)
    keep = (rank < n) & mask
    return torch.where(keep, pred, tokens), mask & ~keep


@torch.no_grad()
def maskgit_complete(model: MaskedTokenModel, tokens: torch.Tensor, known: torch.Tensor, steps: int = 8,
                     step_fn: Callable = masked_decode_step,
                     schedule: Callable = cosine_schedule) -> torch.Tensor:
    """Fill every position where ``known`` (B, T) is False by iterative decoding; known codes are kept.

    After step s of ``steps``, ``ceil(schedule(s / steps) * N)`` positions of a row stay masked (N: the row's
    unknown count at the start), at least one position is decided per step, none stays masked after the last.
    ``step_fn(logits, tokens, mask, n)`` is :func:`masked_decode_step` (or the student's)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    was_training = model.training
    model.eval()
    known = known.bool()
    mask = ~known
    cur = torch.where(known, tokens.long(), torch.full_like(tokens.long(), model.mask_id))
    n0 = mask.sum(dim=1)
    try:
        for s in range(1, steps + 1):
            left = mask.sum(dim=1)
            stay = torch.ceil(schedule(torch.tensor(s / steps)) * n0).long() if s < steps else torch.zeros_like(n0)
            n_keep = torch.maximum(left - stay, (left > 0).long())                      # at least one per step
            cur, mask = step_fn(model(cur), cur, mask, n_keep)
            cur, mask = torch.as_tensor(cur).long(), torch.as_tensor(mask).bool()
            if not bool(mask.any()):
                break
    finally:
        model.train(was_training)
    if bool(mask.any()):
        raise RuntimeError(f"maskgit_complete: {int(mask.sum())} positions are still masked after {steps} steps; "
                           "does step_fn unmask the n positions it keeps?")
    return cur


def random_box_masks(n: int, h: int, w: int, min_size: int = 2, max_size: int = 4,
                     generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """(n, h, w) bool masks, True inside one random axis-aligned rectangle per image (height and width uniform
    in [min_size, max_size], position uniform): holes anywhere in the grid, not only at the bottom."""
    if not 1 <= min_size <= max_size <= min(h, w):
        raise ValueError(f"need 1 <= min_size <= max_size <= min(h, w), got {min_size}, {max_size} for {h}x{w}")
    g = generator
    hh = torch.randint(min_size, max_size + 1, (n,), generator=g)
    ww = torch.randint(min_size, max_size + 1, (n,), generator=g)
    top = (torch.rand(n, generator=g) * (h - hh + 1)).long()
    left = (torch.rand(n, generator=g) * (w - ww + 1)).long()
    rows, cols = torch.arange(h)[None, :, None], torch.arange(w)[None, None, :]
    return ((rows >= top[:, None, None]) & (rows < (top + hh)[:, None, None])
            & (cols >= left[:, None, None]) & (cols < (left + ww)[:, None, None]))
