"""Explorer for notebooks 06 and 12: temperature and top-k on an autoregressive prior's samples.

A prior over code grids (``course_lib.prior.CodePrior``, or anything with the same ``sample`` method) draws codes
one at a time from ``softmax(logits / temperature)`` restricted to the ``top_k`` most likely codes. Lower
temperature or smaller ``k``: likelier, less varied codes; higher temperature: more varied codes, and more codes
that spoil an image.

:func:`sample_with_stats` draws ``n`` grids with a fixed seed and measures them: their bits per code under the prior
at temperature 1 (how likely the prior finds what it drew), the entropy of the pooled code histogram (how many
different codes the samples use) and the number of distinct grids. :func:`draw_sampling` decodes the samples into
images and shows them next to the sampling distribution of one position (the prior's own conditional at
temperature 1 against what temperature and top-k make of it), with the measured numbers in the title.

Notebook 06 (a class-conditional prior over a VQ-VAE's 7x7 grids)::

    explorer(partial(draw_sampling, prior=prior, decode=decode_tokens, class_names=train.class_names),
             temperature=Slider(0.05, 2.0, 1.0, step=0.05), top_k=Choice({"all": None, "1": 1, "3": 3, "8": 8}),
             label=Choice({"one per class": None, **{n: i for i, n in enumerate(train.class_names)}}),
             seed=IntSlider(0, 9, 0))

Notebook 12 reuses it with its own prior and tokenizer: ``decode`` is either a function from tokens (n, seq_len) to
images (n, C, H, W) in [0, 1], or a tokenizer object with ``decode_indices(grid (n, h, w))`` (then ``grid_shape``
gives (h, w); default a square grid). Extra keyword arguments of the prior's ``sample`` (a ``prefix``, ``known``
codes) go in ``sample_kwargs``. With the key/value cache of ``CodePrior.sample``, 16 samples of 49 codes take a few
tens of milliseconds on a CPU, so the slider feels live.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["sample_with_stats", "sampling_distribution", "draw_sampling", "show_class_grid",
           "plot_sampling_tradeoff"]

Labels = Optional[Union[int, Sequence[int], torch.Tensor]]


def _device(prior) -> torch.device:
    try:
        return next(prior.parameters()).device
    except (AttributeError, StopIteration):
        return torch.device("cpu")


def _labels(prior, n: int, label: Labels, device) -> Optional[torch.Tensor]:
    """Per-sample labels: None for an unconditional prior; for a class-conditional one, ``label`` (an int for all,
    or one per sample) or, when None, the classes in turn (0, 1, ..., C-1, 0, ...)."""
    num_classes = getattr(prior, "num_classes", None)
    if num_classes is None:
        if label is not None:
            raise ValueError("draw_sampling: this prior is unconditional (num_classes=None) but a label was given.")
        return None
    if label is None:
        return torch.arange(n, device=device) % num_classes
    lab = torch.as_tensor(label, device=device).long().reshape(-1)
    return lab.expand(n).clone() if lab.numel() == 1 else lab


def sample_with_stats(
    prior,
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    seed: int = 0,
    n: int = 16,
    label: Labels = None,
    sample_kwargs: Optional[Dict[str, Any]] = None,
    top_p: Optional[float] = None,
) -> Tuple[torch.Tensor, Optional[torch.Tensor], Dict[str, float]]:
    """Draw ``n`` sequences with a fixed seed and measure them.

    Returns ``(tokens (n, seq_len), labels or None, stats)`` with stats:

    * ``bits_per_code``: mean negative log2-likelihood of the drawn codes under the prior at temperature 1;
    * ``code_entropy_bits``: entropy of the histogram of all drawn codes, pooled over samples and positions
      (at most log2 of the number of codes; it falls as the sampler concentrates on fewer codes);
    * ``distinct_grids``: how many of the ``n`` sequences differ; ``codes_used``: how many codes appear at all.
    """
    device = _device(prior)
    labels = _labels(prior, n, label, device)
    gen = torch.Generator(device=device).manual_seed(int(seed))
    kw = dict(sample_kwargs or {})
    if labels is not None:
        kw["labels"] = labels
    if top_p is not None:
        kw["top_p"] = float(top_p)
    tokens = prior.sample(n, temperature=float(temperature), top_k=top_k, generator=gen, **kw)
    with torch.no_grad():
        logits = prior(tokens, labels) if labels is not None else prior(tokens)
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tokens.reshape(-1), reduction="mean")
    K = logits.shape[-1]
    counts = torch.bincount(tokens.reshape(-1).cpu(), minlength=K).double()
    p = counts[counts > 0] / counts.sum()
    stats = dict(
        bits_per_code=float(nll) / math.log(2),
        code_entropy_bits=float(-(p * p.log2()).sum()),
        distinct_grids=int(len(torch.unique(tokens, dim=0))),
        codes_used=int((counts > 0).sum()),
        num_codes=int(K),
    )
    return tokens, labels, stats


def sampling_distribution(logits: torch.Tensor, temperature: float, top_k: Optional[int],
                          top_p: Optional[float] = None) -> torch.Tensor:
    """The distribution a sampler draws from, given logits (..., K): softmax(logits / temperature) over the top k,
    then over the nucleus of mass ``top_p`` (notebook 12); temperature 0 puts all mass on the argmax."""
    from course_lib.prior import top_k_filter, top_p_filter

    logits = logits.float()
    if temperature <= 0:
        return F.one_hot(logits.argmax(-1), logits.shape[-1]).float()
    return F.softmax(top_p_filter(top_k_filter(logits / temperature, top_k), top_p), dim=-1)


def _decode(decode, tokens: torch.Tensor, grid_shape: Optional[Tuple[int, int]]) -> torch.Tensor:
    with torch.no_grad():
        if hasattr(decode, "decode_indices"):
            T = tokens.shape[1]
            h, w = grid_shape if grid_shape is not None else (int(round(math.sqrt(T))),) * 2
            if h * w != T:
                raise ValueError(f"draw_sampling: grid_shape {(h, w)} does not hold {T} codes; pass grid_shape=(h, w).")
            images = decode.decode_indices(tokens.reshape(len(tokens), h, w))
        elif callable(decode):
            images = decode(tokens)
        else:
            raise TypeError("draw_sampling: decode must be a function tokens -> images or a tokenizer with "
                            f"decode_indices, got {type(decode).__name__}.")
    return images.detach().float().clamp(0, 1).cpu()


def draw_sampling(
    prior,
    decode: Union[Callable[[torch.Tensor], torch.Tensor], Any],
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    seed: int = 0,
    label: Labels = None,
    n: int = 16,
    nrow: int = 8,
    position: Optional[int] = None,
    class_names: Optional[Sequence[str]] = None,
    grid_shape: Optional[Tuple[int, int]] = None,
    sample_kwargs: Optional[Dict[str, Any]] = None,
    show_codes: int = 24,
    top_p: Optional[float] = None,
):
    """Decoded samples of ``prior`` at ``temperature`` and ``top_k`` (seed ``seed``), and the sampling distribution
    of code ``position`` of the first sample (the prior's conditional at temperature 1 in grey, what temperature and
    top-k make of it in colour; the ``show_codes`` likeliest codes; ``position=None`` picks the position where that
    conditional is most uncertain, i.e. has the largest entropy). Returns the matplotlib Figure; the measured
    numbers (:func:`sample_with_stats`) are in its title and in ``fig.sample_stats``.

    prior: a ``CodePrior`` (or anything with ``sample(n, temperature, top_k, generator=..., labels=...)``,
        ``__call__(tokens[, labels]) -> logits (n, T, K)`` and ``num_classes``).
    decode: tokens (n, seq_len) -> images (n, C, H, W) in [0, 1], or a tokenizer with ``decode_indices``.
    label: for a class-conditional prior, one class for every sample (an int) or None for the classes in turn.
    """
    import matplotlib.pyplot as plt
    from course_lib.viz import image_grid

    tokens, labels, stats = sample_with_stats(prior, temperature, top_k, seed, n, label, sample_kwargs, top_p=top_p)
    images = _decode(decode, tokens, grid_shape)
    with torch.no_grad():
        logits = prior(tokens[:1], labels[:1]) if labels is not None else prior(tokens[:1])
    if position is None:   # the most uncertain conditional of sample 0: where temperature and top-k matter most
        logp = F.log_softmax(logits[0].float(), -1)
        position = int((-(logp.exp() * logp).sum(-1)).argmax())
    position = int(min(max(position, 0), tokens.shape[1] - 1))
    base = F.softmax(logits[0, position].float(), -1).cpu()
    samp = sampling_distribution(logits[0, position], temperature, top_k, top_p).cpu()
    order = torch.argsort(base, descending=True)[: min(show_codes, len(base))]

    rows = math.ceil(len(images) / max(1, min(nrow, len(images))))
    fig, (ax_img, ax_bar) = plt.subplots(1, 2, figsize=(10, max(2.8, 1.25 * rows + 0.9)),
                                         gridspec_kw=dict(width_ratios=[1.7, 1]))
    ax_img.imshow(image_grid(images, nrow=nrow), interpolation="nearest")
    ax_img.set_axis_off()
    if labels is None:
        who = "unconditional"
    elif label is None:
        who = "classes in turn"
    else:
        c = int(labels[0])
        who = f"class {class_names[c] if class_names is not None else c}"
    k_txt = "all" if top_k is None else str(top_k)
    p_txt = "" if top_p is None else f", top-p {top_p:g}"
    ax_img.set_title(f"{n} samples, temperature {temperature:.2f}, top-k {k_txt}{p_txt}, seed {seed} ({who})",
                     fontsize=10)
    x = np.arange(len(order))
    ax_bar.bar(x - 0.2, base[order].numpy(), width=0.4, color="0.6", label="prior, temperature 1")
    ax_bar.bar(x + 0.2, samp[order].numpy(), width=0.4, color="C0", label="sampled from")
    ax_bar.set_xticks(x[::4])
    ax_bar.set_xticklabels([str(int(i)) for i in order[::4]], fontsize=8)
    where = (f"row {position // grid_shape[1]}, col {position % grid_shape[1]}" if grid_shape is not None
             else f"position {position}")
    ax_bar.set_xlabel(f"code, likeliest first ({where} of sample 0)", fontsize=9)
    ax_bar.set_ylabel("probability")
    ax_bar.set_ylim(0, min(1.0, 1.15 * float(max(base.max(), samp.max()))) + 0.02)
    ax_bar.legend(fontsize=8, loc="upper right")
    ax_bar.set_title(f"samples: {stats['bits_per_code']:.2f} bits/code under the prior\n"
                     f"code entropy {stats['code_entropy_bits']:.2f} bits · {stats['codes_used']}/{stats['num_codes']} "
                     f"codes used · {stats['distinct_grids']}/{n} distinct", fontsize=9)
    fig.tight_layout()
    fig.sample_stats = stats
    return fig


def show_class_grid(images: torch.Tensor, labels: torch.Tensor, predicted: torch.Tensor,
                    class_names: Sequence[str], per_class: int, title: Optional[str] = None, ax=None):
    """Class-conditional samples, one row per class (``images`` ordered class by class, ``per_class`` each), with a
    green frame where a classifier's ``predicted`` class equals the requested ``labels`` and a red one where it does
    not; the row names on the left. Returns the axes. Notebook 06, section 6."""
    import matplotlib.pyplot as plt
    from course_lib.viz import image_grid

    imgs = images.detach().float().clamp(0, 1).cpu()
    if imgs.shape[1] == 1:
        imgs = imgs.expand(-1, 3, -1, -1)
    agree = (predicted.cpu() == labels.cpu())
    framed = imgs.clone()
    colour = torch.where(agree[:, None], torch.tensor([0.1, 0.7, 0.2]), torch.tensor([0.85, 0.1, 0.1]))  # (N, 3)
    for side in (framed[..., :1, :], framed[..., -1:, :], framed[..., :, :1], framed[..., :, -1:]):
        side.copy_(colour[:, :, None, None].expand_as(side))
    if ax is None:
        rows = math.ceil(len(imgs) / per_class)
        _, ax = plt.subplots(figsize=(1.0 + 0.75 * per_class, 0.75 * rows + 0.6))
    ax.imshow(image_grid(framed, nrow=per_class), interpolation="nearest")
    ax.set_axis_off()
    h = imgs.shape[-2] + 2
    for row, name in enumerate(class_names[: math.ceil(len(imgs) / per_class)]):
        ax.text(-3, 2 + row * h + h / 2 - 1, name, ha="right", va="center", fontsize=9)
    ax.set_title(title or f"green frame: the classifier agrees with the row's class ({float(agree.float().mean()):.0%})",
                 fontsize=10)
    return ax


def plot_sampling_tradeoff(rows: Sequence[Dict[str, Any]], heldout_bits: float, chance: Optional[float] = None):
    """The temperature / top-k trade-off of notebook 06's deep dive, three panels against the temperature: a KID
    (with its interval), the class accuracy, and the samples' bits per code under the prior beside the held-out
    bits per code of real grids (the calibration line: a calibrated sampler at temperature 1 draws grids as likely
    as real ones). ``rows``: dicts with ``temperature``, ``top_k`` (None = all), ``kid`` (an object with ``value``,
    ``low``, ``high``, in the units to plot), ``accuracy`` and ``bits``. Rows with a top-k are drawn as single
    markers. Returns the Figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    plain = [r for r in rows if r["top_k"] is None]
    tk = [r for r in rows if r["top_k"] is not None]
    t = [r["temperature"] for r in plain]
    kid = [r["kid"] for r in plain]
    axes[0].errorbar(t, [k.value for k in kid], yerr=[[k.value - k.low for k in kid], [k.high - k.value for k in kid]],
                     marker="o", capsize=3, label="temperature only")
    axes[1].plot(t, [r["accuracy"] for r in plain], marker="o", label="temperature only")
    axes[2].plot(t, [r["bits"] for r in plain], marker="o", label="samples")
    for i, r in enumerate(tk):
        style = dict(marker="s^vD"[i % 4], color=f"C{i + 1}", linestyle="none", label=f"top-{r['top_k']}")
        k, x = r["kid"], r["temperature"] + 0.03 * (i + 1)          # nudged right of the temperature-only point
        axes[0].errorbar([x], [k.value], yerr=[[k.value - k.low], [k.high - k.value]], capsize=3, **style)
        axes[1].plot([x], [r["accuracy"]], **style)
        axes[2].plot([x], [r["bits"]], **style)
    axes[2].axhline(heldout_bits, color="k", ls="--", label=f"real held-out grids ({heldout_bits:.2f})")
    if chance is not None:
        axes[1].axhline(chance, color="0.5", ls=":", label=f"chance ({chance:.0%})")
    axes[0].set_ylabel("KID x 1000 (lower: closer to real)")
    axes[1].set_ylabel("class accuracy of the samples")
    axes[2].set_ylabel("bits per code under the prior")
    for ax in axes:
        ax.set_xlabel("temperature")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
