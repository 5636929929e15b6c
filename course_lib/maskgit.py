"""A small bidirectional masked-token model over VQ codes, after MaskGIT (notebook 13, free-form inpainting).

    from course_lib.maskgit import (MaskedTokenModel, masked_token_loss, masked_decode_step, maskgit_complete,
                                    cosine_schedule, random_box_masks, train_filler)
    model = MaskedTokenModel(num_codes=K, seq_len=h * w, d_model=64, n_layers=2, n_heads=4)
    loss, mask = masked_token_loss(model, tokens)    # tokens (B, T): mask a cosine-scheduled count, predict it
    holes = random_box_masks(n, h, w, generator=g)   # (n, h, w) bool, True = unknown (a random rectangle)
    filled = maskgit_complete(model, tokens, known=~holes.flatten(1), steps=8)   # iterative decoding
    model = train_filler("maskgit", train_tokens, K, steps=200, ...)   # or "raster": notebook 12's CodePrior

MaskGIT (H. Chang, H. Zhang, L. Jiang, C. Liu, W. T. Freeman 2022, "MaskGIT: Masked Generative Image
Transformer", CVPR 2022, arXiv:2202.04200):

* **Training** (sec. 3.1, eq. 1): a bidirectional transformer sees the code sequence with a random subset replaced
  by a special ``[MASK]`` token and is trained with the cross-entropy of the true codes **at the masked positions
  only**. The number masked is ``ceil(gamma(r) * T)`` with ``r ~ U(0, 1)`` drawn per image and the mask schedule
  ``gamma`` (sec. 3.3; the cosine ``gamma(r) = cos(pi r / 2)`` is the paper's choice); the positions are chosen
  uniformly at random.
* **Iterative decoding** (sec. 3.2): start from the known codes and ``[MASK]`` everywhere else; at each of ``S``
  steps predict every masked position at once, keep the most **confident** predictions and mask the rest again,
  so that ``ceil(gamma(s / S) * N)`` positions stay masked after step ``s`` (N masked at the start; none after
  the last step). Known codes are never changed.

Where this differs from the official decoder (google-research/maskgit, ``libml/parallel_decode.py``): there each
code is *sampled* from the softmax, its confidence is ``log p(sampled code)`` plus Gumbel noise scaled by
``4.5 (1 - s / S)`` (annealed to zero), and ``floor(gamma(s / S) N)`` positions stay masked, clipped to
``[1, unknown - 1]``. Here the prediction is the most likely code and the confidence its probability (greedy, no
noise), because notebook 13 measures a completion against the true image; sampling buys diversity and realism
(the paper reports FID), greedy decoding the per-position mode.

The transformer blocks are those of :class:`course_lib.prior.CodePrior` (pre-LN, the same width and MLP) with a
full attention mask instead of the causal one, so the two models of notebook 13 differ only in what they see.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, NamedTuple, Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .prior import Block

__all__ = ["cosine_schedule", "scheduled_masked", "MaskedTokenModel", "MaskedLoss", "masked_token_loss", "masked_decode_step",
           "maskgit_complete", "random_box_masks", "train_filler"]


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


class MaskedLoss(NamedTuple):
    """What :func:`masked_token_loss` returns: the scalar ``loss`` and the ``mask`` (B, T) bool it drew."""
    loss: torch.Tensor
    mask: torch.Tensor


def masked_token_loss(model: MaskedTokenModel, tokens: torch.Tensor,
                      generator: Optional[torch.Generator] = None) -> MaskedLoss:
    """MaskGIT's training loss (eq. 1) on one batch of code sequences ``tokens`` (B, T).

    Per sequence draw r ~ U(0, 1) and mask ``ceil(cos(pi r / 2) T)`` positions (at least one), chosen uniformly at
    random; the model sees ``model.mask_id`` there. Returns ``MaskedLoss(loss, mask)``: the mean cross-entropy
    (nats) of the true codes over all masked positions of the batch, and the mask (True = masked). Built in
    notebook 13, exercise 2. ``generator`` (on any device) makes the draws reproducible."""
    if tokens.dim() != 2:
        raise ValueError(f"tokens must be (B, T) code sequences, got {tuple(tokens.shape)}")
    B, T = tokens.shape
    dev = tokens.device
    gdev = generator.device if generator is not None else dev
    r = torch.rand(B, generator=generator, device=gdev).to(dev)                       # one ratio per image
    n_mask = torch.ceil(cosine_schedule(r) * T).clamp(1, T)                            # (B,) a count, >= 1
    rank = torch.rand(B, T, generator=generator, device=gdev).to(dev).argsort(1).argsort(1)   # a random order
    mask = rank < n_mask[:, None]
    logits = model(tokens.masked_fill(mask, model.mask_id))
    return MaskedLoss(F.cross_entropy(logits[mask], tokens[mask].long()), mask)


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


def scheduled_masked(n0: torch.Tensor, step: int, steps: int, schedule: Callable = cosine_schedule) -> torch.Tensor:
    """How many of ``n0`` positions (masked at the start) the schedule leaves masked after ``step`` of ``steps``:
    ``ceil(schedule(step / steps) * n0)``, computed in float32, and none after the last step."""
    if step >= steps:
        return torch.zeros_like(n0)
    return torch.ceil(schedule(torch.tensor(step / steps)) * n0).long()


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
            stay = scheduled_masked(n0, s, steps, schedule)
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


def train_filler(kind: str, tokens: torch.Tensor, num_codes: int, *, d_model: int = 48, n_layers: int = 2,
                 n_heads: int = 4, steps: int = 200, lr: float = 3e-3, batch_size: int = 32, seed: int = 0,
                 loss: Optional[Callable] = None, checkpoint: Union[str, Path, None] = None,
                 device: Union[str, torch.device, None] = None, **fit_kwargs) -> nn.Module:
    """Train one of notebook 13's two hole fillers on code sequences ``tokens`` (N, T), in eval mode on return.

    ``kind="maskgit"``: a :class:`MaskedTokenModel` trained with ``loss`` (default :func:`masked_token_loss`; the
    student's version from exercise 2 in the notebook). ``kind="raster"``: notebook 12's causal
    :class:`course_lib.prior.CodePrior` (unconditional), trained with its next-code negative log-likelihood. Both:
    the same sizes, AdamW (weight decay 0.01 on weight matrices only) with a one-cycle learning rate, gradient
    clipping at 1, ``steps`` steps of ``batch_size``; ``seed`` seeds the weights, the data order and the masks."""
    from .data import make_loader
    from .prior import CodePrior, weight_decay_groups
    from .train import fit

    if kind not in ("maskgit", "raster"):
        raise ValueError(f"kind must be 'maskgit' or 'raster', got {kind!r}")
    if tokens.dim() != 2:
        raise ValueError(f"tokens must be (N, T) code sequences (course_lib.prior.flatten_grid), got "
                         f"{tuple(tokens.shape)}")
    device = torch.device(device) if device is not None else tokens.device
    T = tokens.shape[1]
    torch.manual_seed(seed)
    cls = MaskedTokenModel if kind == "maskgit" else CodePrior
    model = cls(num_codes, T, d_model=d_model, n_layers=n_layers, n_heads=n_heads).to(device)
    opt = torch.optim.AdamW(weight_decay_groups(model, 0.01), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1), pct_start=0.1)
    gen = torch.Generator(device=device).manual_seed(seed)
    loss = masked_token_loss if loss is None else loss

    def loss_fn(batch, step):
        codes = batch[0].to(device)
        if kind == "raster":
            return {"loss": model.nll(codes)}
        out = loss(model, codes, generator=gen)
        return {"loss": out[0] if isinstance(out, (tuple, list)) else out}

    fit_kwargs.setdefault("log_every", 100)
    fit_kwargs.setdefault("progress", False)
    fit(loss_fn, opt, make_loader(tokens, batch_size=batch_size, shuffle=True, seed=seed), steps=steps, model=model,
        scheduler=sched, checkpoint=checkpoint, grad_clip=1.0, desc=f"{kind} (seed {seed})",
        config=dict(kind=kind, K=num_codes, T=T, d_model=d_model, n_layers=n_layers, steps=steps, seed=seed),
        **fit_kwargs)
    return model.eval()
