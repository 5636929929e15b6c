"""An autoregressive prior over VQ code grids: a small GPT-style causal transformer.

A trained VQ-VAE (van den Oord et al. 2017, arXiv:1711.00937) or VQ-GAN (Esser, Rombach, Ommer 2021,
"Taming Transformers", arXiv:2012.09841) turns an image into an (h, w) grid of integer codes in [0, K). To
*generate* images we need a distribution over such grids. This module fits one with the chain rule

    p(c_0, ..., c_{T-1}) = prod_t p(c_t | c_0, ..., c_{t-1}),        T = h * w codes in raster order,

where each factor is predicted by a decoder-only transformer (the GPT recipe of Radford et al. 2018, built from
the attention blocks of Vaswani et al. 2017, arXiv:1706.03762; PixelCNN, van den Oord et al. 2016, was the VQ-VAE's
own prior): token + learned position embeddings, pre-LayerNorm blocks of causal self-attention and an MLP, and a
final linear layer to K logits. "Causal" means position t may only attend to positions <= t; with a start token
(or a class token, for class-conditional models) prepended, the output at position t sees only codes < t.

Everything is written out so it can be read in one sitting: the mask is a plain (T, T) boolean matrix, the
attention is `softmax(q k^T / sqrt(d) with -inf where the mask is False) v`.

Sampling uses a key/value cache (as GPT-2 and nanoGPT-style inference do): the keys and values of the positions
already generated do not change when a new code is appended (each position attends only to the past), so each
layer stores them and a sampling step runs the network on ONE new position, attending to the cached keys and
values, instead of re-running the whole prefix. That turns O(T^2) position-evaluations per sequence into O(T).
`CodePrior.sample(..., use_cache=False)` keeps the plain re-run-the-prefix loop, which draws the same codes for
the same generator (tests/test_prior.py); tests/bench_prior.py measures the speed-up.

    prior = CodePrior(num_codes=64, seq_len=49, num_classes=10)
    loss = prior.nll(tokens, labels)          # tokens (B, 49) int64, labels (B,) -> nats per code
    grids = prior.sample(16, temperature=1.0, top_k=20, labels=torch.arange(16) % 10)
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "causal_mask",
    "flatten_grid",
    "unflatten_grid",
    "top_k_filter",
    "top_p_filter",
    "sample_next",
    "cached_attention_step",
    "CausalSelfAttention",
    "Block",
    "CodePrior",
    "weight_decay_groups",
    "encode_tokens",
    "decode_tokens",
]


# ----------------------------------------------------------------------------------------------------------------
# Raster order and the causal mask
# ----------------------------------------------------------------------------------------------------------------
def flatten_grid(indices: torch.Tensor) -> torch.Tensor:
    """(B, h, w) code grid -> (B, h*w) sequence in raster order (row by row, left to right)."""
    if indices.dim() != 3:
        raise ValueError(
            f"flatten_grid expects a code grid of shape (B, h, w), got {tuple(indices.shape)}; "
            "for a single grid use indices[None]."
        )
    return indices.reshape(indices.shape[0], -1)


def unflatten_grid(tokens: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(B, h*w) raster-order sequence -> (B, h, w) code grid (inverse of `flatten_grid`)."""
    if tokens.dim() != 2 or tokens.shape[1] != h * w:
        raise ValueError(
            f"unflatten_grid expects tokens of shape (B, {h * w}) for a {h}x{w} grid, got {tuple(tokens.shape)}."
        )
    return tokens.reshape(tokens.shape[0], h, w)


def causal_mask(T: int, device: Optional[Union[str, torch.device]] = None) -> torch.Tensor:
    """(T, T) boolean mask, True where query position i may attend to key position j, i.e. j <= i.

    The lower triangle *including* the diagonal: each position sees itself and the past, never the future.
    """
    if T < 1:
        raise ValueError(f"causal_mask needs T >= 1, got {T}.")
    return torch.tril(torch.ones(T, T, dtype=torch.bool, device=device))


# ----------------------------------------------------------------------------------------------------------------
# Sampling helpers
# ----------------------------------------------------------------------------------------------------------------
def top_k_filter(logits: torch.Tensor, k: Optional[int]) -> torch.Tensor:
    """Keep the k largest logits along the last dim, set the rest to -inf (softmax then renormalises over k).

    logits: (..., K). k=None or k >= K returns logits unchanged. Ties at the k-th value are all kept.
    """
    if k is None:
        return logits
    k = int(k)
    if k < 1:
        raise ValueError(f"top_k must be >= 1 (or None for no filtering), got {k}.")
    if k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]          # (..., 1): the k-th largest value
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: Optional[float]) -> torch.Tensor:
    """Nucleus filter (Holtzman et al. 2019, arXiv:1904.09751): keep the smallest set of the most likely tokens whose
    probabilities sum to at least p, set the other logits to -inf. Built in notebook 12, section 3.

    logits: (..., K), filtered along the last dim. The most likely token always survives (a set of one token whose
    probability already reaches p is the nucleus). p=None or p >= 1 returns logits unchanged. A token is dropped when
    the tokens ranked above it already hold at least p of the probability (the rule of Hugging Face's
    ``TopPLogitsWarper``).
    """
    if p is None:
        return logits
    p = float(p)
    if not 0.0 < p:
        raise ValueError(f"top_p must be in (0, 1] (or None for no filtering), got {p}.")
    if p >= 1.0:
        return logits
    probs = F.softmax(logits.float(), dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)             # (..., K), most likely first
    mass_above = sorted_probs.cumsum(dim=-1) - sorted_probs               # (..., K): mass of the tokens ranked above
    drop = torch.zeros_like(mass_above, dtype=torch.bool).scatter(-1, order, mass_above >= p)   # back to token order
    return logits.masked_fill(drop, float("-inf"))


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    generator: Optional[torch.Generator] = None,
    top_p: Optional[float] = None,
) -> torch.Tensor:
    """Draw one token per row from logits (B, K) -> (B,) int64.

    temperature scales the logits (p ~ exp(logit / temperature)): < 1 sharpens, > 1 flattens, and 0 means
    greedy (argmax). top_k keeps only the k most likely tokens before the softmax; top_p (nucleus) then keeps the
    smallest set of the most likely tokens whose probabilities (after temperature and top-k) sum to at least top_p.
    """
    if logits.dim() != 2:
        raise ValueError(f"sample_next expects logits of shape (B, K), got {tuple(logits.shape)}.")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}.")
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = top_p_filter(top_k_filter(logits.float() / temperature, top_k), top_p)
    probs = F.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


# ----------------------------------------------------------------------------------------------------------------
# The transformer
# ----------------------------------------------------------------------------------------------------------------
def cached_attention_step(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                          cache: Optional[Tuple[torch.Tensor, torch.Tensor]] = None,
                          dropout: Optional[nn.Module] = None):
    """One decoding step of attention with a key/value cache: ``(out, (k_all, v_all))``.

    q, k, v: (B, H, 1, d), the query, key and value of the ONE new position (heads split). cache: None at the first
    position, else ``(k_past, v_past)``, each (B, H, S, d), the keys and values of the S positions before it. The new
    key and value are appended at the end of the positions axis (dim 2); the new query attends to all S + 1 of them
    with ``softmax(q k^T / sqrt(d)) v``. No mask: the new position is the latest, so every cached position is in its
    past. Returns out (B, H, 1, d) and the grown cache (B, H, S + 1, d) for the next step. ``dropout``: applied to the
    attention weights (the module's, when training). Run over T positions from ``cache=None`` it equals full causal
    attention over the T positions (tests/test_checks_kv_cache.py); :class:`CausalSelfAttention` uses it for every
    one-position step with a cache (``CodePrior.sample``)."""
    if cache is not None:
        k = torch.cat([cache[0], k], dim=2)
        v = torch.cat([cache[1], v], dim=2)
    att = F.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)     # (B, H, 1, S + 1)
    if dropout is not None:
        att = dropout(att)
    return att @ v, (k, v)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention with an explicit causal mask. x: (B, T, d_model) -> (B, T, d_model).

    cache: optional dict, used when sampling. If given, the keys and values of this call are appended to
    ``cache["k"]``/``cache["v"]`` (each (B, H, S, d_model/H), S = positions seen so far) and the queries attend to
    all of them; ``mask`` is then (T, S) (which of the S keys each of the T new queries may see).
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}.")
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, cache: Optional[dict] = None) -> torch.Tensor:
        B, T, D = x.shape
        H = self.n_heads
        q, k, v = self.qkv(x).split(D, dim=-1)                               # each (B, T, D)
        q, k, v = (t.reshape(B, T, H, D // H).transpose(1, 2) for t in (q, k, v))  # (B, H, T, D/H)
        if cache is not None and T == 1 and bool(mask.all()):               # one new position (a sampling step)
            past = (cache["k"], cache["v"]) if "k" in cache else None
            out, (cache["k"], cache["v"]) = cached_attention_step(q, k, v, past, self.drop)
            return self.drop(self.proj(out.transpose(1, 2).reshape(B, T, D)))
        if cache is not None:                                                 # append to the past keys/values
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)                         # (B, H, S, D/H)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        scores = q @ k.transpose(-2, -1) / math.sqrt(D // H)                  # (B, H, T, S)
        scores = scores.masked_fill(~mask, float("-inf"))                     # no peeking at the future
        att = self.drop(F.softmax(scores, dim=-1))
        out = (att @ v).transpose(1, 2).reshape(B, T, D)                      # merge heads
        return self.drop(self.proj(out))


class Block(nn.Module):
    """Pre-LN transformer block: x + attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads, dropout)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor, cache: Optional[dict] = None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), mask, cache)
        return x + self.mlp(self.ln2(x))


Known = Tuple[torch.Tensor, torch.Tensor]


class CodePrior(nn.Module):
    """GPT-style prior p(codes) (or p(codes | class)) over raster-ordered code sequences of length seq_len.

    Input position 0 holds a start token (unconditional) or a class token (class-conditional, stage 2 of
    Esser et al. 2021); input position t > 0 holds code t-1. So logits[:, t] predict code t from codes < t.

    num_classes: if given, the model learns one embedding per class plus one "no label" embedding, used
    when labels=None (so a class-conditional model can still be asked for unconditional logits, although it
    has only learned them if it was trained with some labels dropped).
    """

    def __init__(
        self,
        num_codes: int,
        seq_len: int,
        d_model: int = 128,
        n_layers: int = 4,
        n_heads: int = 4,
        num_classes: Optional[int] = None,
        dropout: float = 0.0,
    ):
        super().__init__()
        if num_codes < 2 or seq_len < 1:
            raise ValueError(f"need num_codes >= 2 and seq_len >= 1, got num_codes={num_codes}, seq_len={seq_len}.")
        self.num_codes = int(num_codes)
        self.seq_len = int(seq_len)
        self.num_classes = None if num_classes is None else int(num_classes)
        n_start = 1 if num_classes is None else self.num_classes + 1              # last one = "no label"
        self.start_emb = nn.Embedding(n_start, d_model)
        self.tok_emb = nn.Embedding(self.num_codes, d_model)
        self.pos_emb = nn.Parameter(torch.zeros(1, self.seq_len, d_model))
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList([Block(d_model, n_heads, dropout) for _ in range(n_layers)])
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, self.num_codes)
        self.register_buffer("mask", causal_mask(self.seq_len), persistent=False)
        self.apply(self._init_weights)
        nn.init.normal_(self.pos_emb, std=0.02)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    # -- input checks --------------------------------------------------------------------------------------------
    def _check_tokens(self, tokens: torch.Tensor, exact: bool = True) -> None:
        if not isinstance(tokens, torch.Tensor) or tokens.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise TypeError(
                f"CodePrior expects integer code indices (int64), got "
                f"{tokens.dtype if isinstance(tokens, torch.Tensor) else type(tokens).__name__}."
            )
        if tokens.dim() != 2:
            hint = " Flatten a (B, h, w) grid with course_lib.prior.flatten_grid." if tokens.dim() == 3 else ""
            raise ValueError(f"CodePrior expects tokens of shape (B, T), got {tuple(tokens.shape)}.{hint}")
        T = tokens.shape[1]
        if (exact and T != self.seq_len) or T > self.seq_len:
            raise ValueError(
                f"CodePrior was built for seq_len={self.seq_len} codes per image, got sequences of length {T}; "
                "check the code-grid size (h * w) of the tokenizer you encoded with."
            )
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.num_codes):
            raise ValueError(
                f"code indices must lie in [0, {self.num_codes}), got range [{int(tokens.min())}, {int(tokens.max())}]; "
                "is num_codes the codebook size of your quantizer?"
            )

    def _start(self, B: int, labels: Optional[torch.Tensor], device: torch.device) -> torch.Tensor:
        """(B, 1, d_model) embedding of the start / class token."""
        if self.num_classes is None:
            if labels is not None:
                raise ValueError("this CodePrior is unconditional (num_classes=None) but labels were given.")
            idx = torch.zeros(B, dtype=torch.long, device=device)
        elif labels is None:
            idx = torch.full((B,), self.num_classes, dtype=torch.long, device=device)   # "no label"
        else:
            idx = torch.as_tensor(labels, device=device).long().reshape(-1)
            if idx.numel() == 1 and B != 1:
                idx = idx.expand(B)
            if idx.shape[0] != B:
                raise ValueError(f"expected {B} labels (one per sequence), got {idx.shape[0]}.")
            if int(idx.min()) < 0 or int(idx.max()) >= self.num_classes:
                raise ValueError(f"labels must lie in [0, {self.num_classes}), got range [{int(idx.min())}, {int(idx.max())}].")
        return self.start_emb(idx)[:, None, :]

    # -- the network ---------------------------------------------------------------------------------------------
    def _logits(self, context: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        """context: (B, L) codes with L < seq_len -> logits (B, L+1, K) for codes 0..L."""
        B, L = context.shape
        h = torch.cat([self._start(B, labels, context.device), self.tok_emb(context)], dim=1)   # (B, L+1, d)
        h = self.drop(h + self.pos_emb[:, : L + 1])
        mask = self.mask[: L + 1, : L + 1]
        for block in self.blocks:
            h = block(h, mask)
        return self.head(self.ln_f(h))

    def _logits_step(self, inp: torch.Tensor, t: int, caches: list) -> torch.Tensor:
        """One cached sampling step: inp (B, 1, d_model) is the input embedding of position t -> logits (B, K).

        caches: one dict per block, holding the keys and values of positions 0..t-1 (filled in place).
        """
        h = self.drop(inp + self.pos_emb[:, t : t + 1])
        mask = self.mask[t : t + 1, : t + 1]                                  # (1, t+1): the new query sees all
        for block, cache in zip(self.blocks, caches):
            h = block(h, mask, cache)
        return self.head(self.ln_f(h))[:, -1]

    def start_token_id(self, labels: Optional[torch.Tensor] = None, n: int = 1) -> torch.Tensor:
        """(n,) int64 ids of the start / class token in the id space of :meth:`next_code_logits`: ``K + label`` for
        a class-conditional prior (``K + num_classes`` = "no label" when ``labels`` is None), ``K`` for an
        unconditional one."""
        device = self.pos_emb.device
        if self.num_classes is None or labels is None:
            if self.num_classes is None and labels is not None:
                raise ValueError("this CodePrior is unconditional (num_classes=None) but labels were given.")
            extra = 0 if self.num_classes is None else self.num_classes
            return torch.full((n,), self.num_codes + extra, dtype=torch.long, device=device)
        idx = torch.as_tensor(labels, device=device).long().reshape(-1)
        return self.num_codes + idx

    def next_code_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """The network on an input sequence of token ids, the way taming-transformers' GPT is called: inputs
        (B, L) int64 with L <= seq_len -> logits (B, L, K), where ``logits[:, t]`` is the distribution of the code
        that FOLLOWS input position t and sees only inputs[:, :t+1] (causal).

        Ids ``0..K-1`` are codes; id ``K + y`` is the class token of class y (``K + num_classes`` = "no label"),
        and id ``K`` the start token of an unconditional prior (:meth:`start_token_id`). Training on a code grid:
        ``inputs = [class token, c_0, ..., c_{T-2}]``, targets ``c_0, ..., c_{T-1}`` (``forward`` does exactly this).
        Built for notebook 06's exercise on the prior's training loss."""
        if not isinstance(inputs, torch.Tensor) or inputs.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"next_code_logits expects integer token ids (B, L), got "
                            f"{inputs.dtype if isinstance(inputs, torch.Tensor) else type(inputs).__name__}.")
        if inputs.dim() != 2 or not 1 <= inputs.shape[1] <= self.seq_len:
            raise ValueError(
                f"next_code_logits expects inputs (B, L) with 1 <= L <= seq_len = {self.seq_len}, got "
                f"{tuple(inputs.shape)}. The input is [start/class token, c_0, ..., c_(T-2)]: {self.seq_len} ids; "
                "the last code is only a target.")
        n_start = self.start_emb.num_embeddings
        inputs = inputs.long()
        if inputs.numel() and (int(inputs.min()) < 0 or int(inputs.max()) >= self.num_codes + n_start):
            raise ValueError(f"token ids must lie in [0, {self.num_codes + n_start}) (codes 0..{self.num_codes - 1}, "
                             f"then the start/class tokens), got range [{int(inputs.min())}, {int(inputs.max())}].")
        is_start = inputs >= self.num_codes
        emb = torch.where(is_start[..., None], self.start_emb((inputs - self.num_codes).clamp_min(0)),
                          self.tok_emb(inputs.clamp_max(self.num_codes - 1)))             # (B, L, d)
        L = inputs.shape[1]
        h = self.drop(emb + self.pos_emb[:, :L])
        mask = self.mask[:L, :L]
        for block in self.blocks:
            h = block(h, mask)
        return self.head(self.ln_f(h))

    def forward(self, tokens: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """tokens (B, T=seq_len) int64 -> logits (B, T, K); logits[:, t] depend only on tokens[:, :t] (and labels)."""
        self._check_tokens(tokens)
        return self._logits(tokens[:, :-1].long(), labels)

    def nll(self, tokens: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Mean negative log-likelihood per code, in nats (the training loss)."""
        logits = self(tokens, labels)
        return F.cross_entropy(logits.reshape(-1, self.num_codes).float(), tokens.reshape(-1).long())

    def bits_per_token(self, tokens: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Mean negative log2-likelihood per code (compare with log2(num_codes) for a uniform model)."""
        return self.nll(tokens, labels) / math.log(2)

    # -- sampling ------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        n: int,
        temperature: float = 1.0,
        top_k: Optional[int] = None,
        labels: Optional[Union[torch.Tensor, int, Sequence[int]]] = None,
        prefix: Optional[torch.Tensor] = None,
        known: Optional[Known] = None,
        generator: Optional[torch.Generator] = None,
        use_cache: bool = True,
        top_p: Optional[float] = None,
    ) -> torch.Tensor:
        """Draw n code sequences (n, seq_len), one code at a time in raster order.

        labels: class label(s) for a class-conditional model (int, or (n,)).
        prefix: (P,) or (n, P) codes fixed at the start of every sequence (image completion from the top).
        known:  (mask, tokens), each (seq_len,) or (n, seq_len): where mask is True the code is kept from
                `tokens` instead of sampled (inpainting). In raster order a code is conditioned only on the codes
                *before* it, so known codes further down the grid do not steer the codes above them.
        generator: a torch.Generator for reproducible draws.
        use_cache: keep each layer's keys and values and run one new position per step (the default); False
                re-runs the whole prefix at every step. Both draw the same codes for the same generator.
        top_p:  nucleus sampling (notebook 12): after temperature and top-k, keep the smallest set of the most likely
                codes whose probabilities sum to at least top_p (``top_p_filter``). None: no nucleus filter.
        """
        device = self.pos_emb.device
        T = self.seq_len
        was_training = self.training
        self.eval()
        keep = torch.zeros(n, T, dtype=torch.bool, device=device)
        given = torch.zeros(n, T, dtype=torch.long, device=device)
        if prefix is not None:
            prefix = torch.as_tensor(prefix, device=device).long()
            prefix = prefix.expand(n, -1) if prefix.dim() == 1 else prefix
            self._check_tokens(prefix, exact=False)
            if prefix.shape[0] != n:
                raise ValueError(f"prefix must be (P,) or (n={n}, P), got {tuple(prefix.shape)}.")
            P = prefix.shape[1]
            keep[:, :P] = True
            given[:, :P] = prefix
        if known is not None:
            kmask, ktok = (torch.as_tensor(t, device=device) for t in known)
            kmask, ktok = kmask.bool(), ktok.long()
            if kmask.shape == (T,) and ktok.shape == (T,):
                kmask, ktok = kmask.expand(n, T), ktok.expand(n, T)
            if kmask.shape != (n, T) or ktok.shape != (n, T):
                raise ValueError(
                    f"known=(mask, tokens) must each be ({T},) or ({n}, {T}) in raster order, "
                    f"got {tuple(kmask.shape)} and {tuple(ktok.shape)}; flatten grids with flatten_grid."
                )
            self._check_tokens(ktok)
            keep = keep | kmask
            given = torch.where(kmask, ktok, given)
        if labels is not None and not isinstance(labels, torch.Tensor):
            labels = torch.as_tensor(labels)
        out = torch.zeros(n, T, dtype=torch.long, device=device)
        caches = [dict() for _ in self.blocks]
        try:
            for t in range(T):
                if use_cache:
                    # input at position t: the start/class token, then code t-1; this also fills the caches
                    inp = self._start(n, labels, device) if t == 0 else self.tok_emb(out[:, t - 1 : t])
                    logits = self._logits_step(inp, t, caches)                    # (n, K): p(c_t | c_<t)
                if bool(keep[:, t].all()):
                    out[:, t] = given[:, t]
                    continue
                if not use_cache:
                    logits = self._logits(out[:, :t], labels)[:, -1]              # (n, K): p(c_t | c_<t)
                nxt = sample_next(logits, temperature, top_k, generator, top_p=top_p)
                out[:, t] = torch.where(keep[:, t], given[:, t], nxt)
        finally:
            self.train(was_training)
        return out


# ----------------------------------------------------------------------------------------------------------------
# Optimiser parameter groups (appended for notebook 12)
# ----------------------------------------------------------------------------------------------------------------
def weight_decay_groups(model: nn.Module, weight_decay: float) -> list:
    """AdamW parameter groups that decay only the weight matrices of ``nn.Linear`` layers.

    Weight decay pulls every decayed parameter towards 0. That regularises the weight matrices of the linear
    layers, but it is wrong for embeddings (a rarely used code's embedding would shrink just because it is rare),
    for LayerNorm gains (decay pulls them towards 0, not towards their neutral value 1) and for biases and the
    learned position embeddings. minGPT's and the original nanoGPT's ``configure_optimizers`` (and the GPT of
    taming-transformers, Esser et al. 2021) split parameters the same way::

        opt = torch.optim.AdamW(weight_decay_groups(prior, 0.01), lr=3e-4)

    Returns ``[{"params": decayed, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]``; every
    trainable parameter is in exactly one group.
    """
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}.")
    decay_ids = set()
    for module in model.modules():
        if isinstance(module, nn.Linear):
            decay_ids.add(id(module.weight))
    decayed, rest = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decayed if id(p) in decay_ids else rest).append(p)
    return [{"params": decayed, "weight_decay": float(weight_decay)}, {"params": rest, "weight_decay": 0.0}]


# ----------------------------------------------------------------------------------------------------------------
# Tokenizer <-> token sequences, in batches (notebook 06)
# ----------------------------------------------------------------------------------------------------------------
def _module_device(module: nn.Module) -> torch.device:
    try:
        return next(module.parameters()).device
    except StopIteration:  # pragma: no cover - a module without parameters
        return torch.device("cpu")


@torch.no_grad()
def encode_tokens(tokenizer: nn.Module, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Images (N, C, H, W) -> (N, h*w) int64 code sequences in raster order, on the CPU, in batches of
    ``batch_size`` on the tokenizer's device. ``tokenizer.encode(x)`` must return (B, h, w) code grids (the course's
    ``VQVAE`` and ``VQGAN`` do). Built for notebook 06."""
    device = _module_device(tokenizer)
    return torch.cat([flatten_grid(tokenizer.encode(images[i:i + batch_size].to(device))).cpu()
                      for i in range(0, len(images), batch_size)])


@torch.no_grad()
def decode_tokens(tokenizer: nn.Module, tokens: torch.Tensor, grid_shape: Tuple[int, int],
                  batch_size: int = 256) -> torch.Tensor:
    """(N, h*w) code sequences -> decoded images (N, C, H, W) clamped to [0, 1], on the CPU. ``grid_shape`` is
    (h, w); ``tokenizer.decode_indices(grid (B, h, w))`` does the decoding. Built for notebook 06."""
    h, w = grid_shape
    device = _module_device(tokenizer)
    return torch.cat([tokenizer.decode_indices(unflatten_grid(tokens[i:i + batch_size], h, w).to(device))
                      .clamp(0, 1).cpu() for i in range(0, len(tokens), batch_size)])
