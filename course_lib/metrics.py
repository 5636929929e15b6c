"""Metrics for quantizers and reconstructions: code usage, bit rates, PSNR, NMSE, sharpness.

Code usage (notebooks 04-05). A quantizer with K codes turns each latent position into an index in [0, K).
* :func:`code_histogram` counts how often each code was chosen;
* :func:`perplexity` is ``exp(entropy)`` of that usage: K when every code is used equally, 1 when one code takes all;
* :func:`codes_used` / :func:`dead_code_fraction` count the codes chosen at least once / never.

The pitfall: perplexity of ONE batch is bounded by the number of positions in the batch and depends on the batch
size. Accumulate usage over an epoch with :class:`CodeUsageTracker` before judging a codebook.

Reconstructions: :func:`psnr`, :func:`nmse` (MSE divided by the data variance, the number reported by the
VQ-VAE paper's reference notebooks), :func:`sharpness` (mean image-gradient magnitude, to compare blur) and
:func:`bits_per_image` (``h * w * ceil(log2 K)`` with a fixed-length code per index).
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional, Union

import torch

__all__ = [
    "code_histogram",
    "perplexity",
    "codes_used",
    "dead_code_fraction",
    "code_usage",
    "CodeUsage",
    "CodeUsageTracker",
    "bits_per_image",
    "psnr",
    "nmse",
    "sharpness",
]


def _check_indices(indices: torch.Tensor, num_codes: int, name: str) -> torch.Tensor:
    if not isinstance(indices, torch.Tensor):
        indices = torch.as_tensor(indices)
    if indices.is_floating_point() or indices.dtype == torch.bool:
        raise TypeError(f"{name} expects integer code indices, got dtype {indices.dtype}")
    if num_codes is None or int(num_codes) < 1:
        raise ValueError(f"{name} needs num_codes >= 1, got {num_codes}")
    flat = indices.detach().reshape(-1).to("cpu", torch.int64)
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= num_codes):
        raise ValueError(
            f"{name}: indices must lie in [0, {num_codes}), got values in [{int(flat.min())}, {int(flat.max())}]"
        )
    return flat


def code_histogram(indices: torch.Tensor, num_codes: int) -> torch.Tensor:
    """How often each code was chosen. ``indices``: any shape, integers in [0, num_codes).

    Returns a float64 CPU tensor of shape ``(num_codes,)`` (float, so that it can go straight into
    :func:`perplexity`, which treats floating tensors as counts).
    """
    flat = _check_indices(indices, num_codes, "code_histogram")
    return torch.bincount(flat, minlength=int(num_codes)).to(torch.float64)


def _counts(indices_or_counts: torch.Tensor, num_codes: Optional[int], counts: Optional[bool], name: str) -> torch.Tensor:
    x = torch.as_tensor(indices_or_counts)
    is_counts = x.is_floating_point() if counts is None else counts
    if is_counts:
        c = x.detach().reshape(-1).to("cpu", torch.float64)
        if num_codes is not None and c.numel() != num_codes:
            raise ValueError(f"{name}: counts should have {num_codes} entries, got {c.numel()}")
        if (c < 0).any():
            raise ValueError(f"{name}: counts must be >= 0")
        return c
    if num_codes is None:
        raise ValueError(f"{name}: pass num_codes together with integer indices")
    return code_histogram(x, num_codes)


def perplexity(indices_or_counts: torch.Tensor, num_codes: Optional[int] = None, *, counts: Optional[bool] = None) -> float:
    """``exp(H(p))`` where ``p`` is the empirical code-usage distribution; between 1 and ``num_codes``.

    Pass integer indices (any shape) with ``num_codes``, or a floating tensor of counts (e.g. from
    :func:`code_histogram`). ``counts=True/False`` overrides the guess made from the dtype.
    """
    c = _counts(indices_or_counts, num_codes, counts, "perplexity")
    total = c.sum()
    if total <= 0:
        raise ValueError("perplexity: no codes were counted (empty indices or all-zero counts)")
    p = c / total
    entropy = -torch.special.xlogy(p, p).sum()
    return float(torch.exp(entropy))


def codes_used(indices: torch.Tensor, num_codes: int) -> int:
    """Number of distinct codes chosen at least once."""
    return int((code_histogram(indices, num_codes) > 0).sum())


def dead_code_fraction(indices: torch.Tensor, num_codes: int) -> float:
    """Fraction of the ``num_codes`` codes never chosen in ``indices``."""
    return 1.0 - codes_used(indices, num_codes) / num_codes


class CodeUsage(NamedTuple):
    used: int  # codes chosen at least once
    dead_fraction: float  # fraction of codes never chosen
    perplexity: float  # exp(entropy) of the usage, 1 ... num_codes
    counts: torch.Tensor  # (num_codes,) float64 counts


def code_usage(indices: torch.Tensor, num_codes: int) -> CodeUsage:
    """All usage numbers at once: ``code_usage(out.indices, 512).perplexity``, ``.used``, ``.dead_fraction``."""
    counts = code_histogram(indices, num_codes)
    used = int((counts > 0).sum())
    return CodeUsage(used, 1.0 - used / num_codes, perplexity(counts, num_codes, counts=True), counts)


class CodeUsageTracker:
    """Accumulates code usage over many batches (an epoch), so usage does not depend on the batch size.

    >>> tracker = CodeUsageTracker(512)
    >>> for x, _ in loader:                      # doctest: +SKIP
    ...     tracker.update(model.quantizer(model.encoder(x)).indices)
    >>> tracker.perplexity(), tracker.used(), tracker.dead_fraction()   # doctest: +SKIP
    """

    def __init__(self, num_codes: int):
        if int(num_codes) < 1:
            raise ValueError(f"CodeUsageTracker needs num_codes >= 1, got {num_codes}")
        self.num_codes = int(num_codes)
        self.counts = torch.zeros(self.num_codes, dtype=torch.float64)

    def update(self, indices: torch.Tensor) -> "CodeUsageTracker":
        """Add the codes in ``indices`` (any shape) to the running counts. Returns self."""
        self.counts += code_histogram(indices, self.num_codes)
        return self

    def reset(self) -> None:
        self.counts.zero_()

    @property
    def total(self) -> int:
        """How many positions have been counted."""
        return int(self.counts.sum())

    def perplexity(self) -> float:
        return perplexity(self.counts, self.num_codes, counts=True)

    def summary(self) -> CodeUsage:
        """The accumulated usage as a :class:`CodeUsage`."""
        used = self.used()
        return CodeUsage(used, 1.0 - used / self.num_codes, self.perplexity(), self.counts.clone())

    def used(self) -> int:
        return int((self.counts > 0).sum())

    def dead_fraction(self) -> float:
        return 1.0 - self.used() / self.num_codes

    def __repr__(self) -> str:
        if self.total == 0:
            return f"CodeUsageTracker(num_codes={self.num_codes}, nothing counted yet)"
        return (
            f"CodeUsageTracker(num_codes={self.num_codes}, counted={self.total}, used={self.used()}, "
            f"perplexity={self.perplexity():.1f}, dead={self.dead_fraction():.1%})"
        )


def bits_per_image(latent_h: int, latent_w: int, num_codes: int, fixed_length: bool = True) -> float:
    """Bits to store one image's ``h x w`` grid of indices into ``K`` codes. Built in notebook 04.

    ``fixed_length=True`` (default): every index is written with the same whole number of bits, ``ceil(log2 K)``
    (K = 1000 needs 10 bits, not 9.97), so ``h * w * ceil(log2 K)``. ``fixed_length=False``: ``h * w * log2 K``,
    which equals the first only when K is a power of two; otherwise it is reached only by packing the whole grid
    into one base-K number (``ceil(h * w * log2 K)`` bits) or, on average, by an entropy code when all codes are
    equally likely.
    """
    if latent_h < 1 or latent_w < 1 or num_codes < 1:
        raise ValueError(f"bits_per_image needs positive sizes, got h={latent_h}, w={latent_w}, K={num_codes}")
    per_index = math.log2(num_codes)
    if fixed_length:
        per_index = math.ceil(per_index - 1e-12)  # exact powers of two stay exact despite rounding
    return float(latent_h * latent_w * per_index)


def _pair(x: torch.Tensor, y: torch.Tensor, name: str):
    if x.shape != y.shape:
        raise ValueError(f"{name}: x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.dim() < 2:
        raise ValueError(f"{name} expects batches (N, ...) of images, got shape {tuple(x.shape)}")
    return x.detach().float(), y.detach().float()


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, reduction: str = "mean") -> Union[float, torch.Tensor]:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)``, computed per image.

    ``x, y``: (N, C, H, W) (any (N, ...) works). ``reduction="mean"`` returns the mean of the per-image PSNRs
    (a float); ``"none"`` returns the (N,) tensor. Identical images give ``inf``.
    """
    x, y = _pair(x, y, "psnr")
    mse = (x - y).pow(2).flatten(1).mean(1)
    values = 10.0 * torch.log10(data_range**2 / mse)
    if reduction == "none":
        return values
    if reduction == "mean":
        return float(values.mean())
    raise ValueError(f"psnr: reduction must be 'mean' or 'none', got {reduction!r}")


def nmse(x: torch.Tensor, x_hat: torch.Tensor, data_variance: Optional[float] = None) -> float:
    """Normalised MSE: ``mean((x - x_hat)^2) / Var(data)``.

    ``x``: the original data, ``x_hat``: the reconstruction. ``data_variance``: the variance of the whole data
    set (the usual choice, so numbers are comparable across batches); when None, the variance of ``x`` itself.
    0 is perfect; 1 is what predicting the mean value everywhere scores.
    """
    x, x_hat = _pair(x, x_hat, "nmse")
    var = float(x.var()) if data_variance is None else float(data_variance)
    if var <= 0:
        raise ValueError("nmse: the data variance must be > 0")
    return float((x - x_hat).pow(2).mean()) / var


def sharpness(x: torch.Tensor, contrast_normalized: bool = False) -> torch.Tensor:
    """Mean image-gradient magnitude of each image, from forward finite differences. Returns (N,).

    ``x``: (N, C, H, W). ``sqrt(dx^2 + dy^2)`` on the (H-1, W-1) grid where both differences exist, averaged over
    channels and positions. Blurry reconstructions score lower than the originals.

    The plain measure confounds blur with contrast: halving an image's contrast halves its sharpness, so grey, faint
    samples score low without being blurrier. ``contrast_normalized=True`` divides each image's score by its pixel
    standard deviation (over C, H, W; a flat image scores 0), which makes the score invariant to
    ``x -> a * x + b`` for a > 0: it then measures how abruptly the image changes *relative to its own contrast*.
    Built in notebook 01, section 3.

    What it misses: a mean gradient cannot tell noise from detail (noise raises it), and a blur that spreads an
    isolated step over a few pixels keeps the step's total rise, so it lowers the score only where edges are close
    together (texture, fine detail). Compare whole gradient distributions with
    :func:`course_lib.image_quality.gradient_distance` when that matters.
    """
    if x.dim() != 4:
        raise ValueError(f"sharpness expects images (N, C, H, W), got shape {tuple(x.shape)}")
    if x.shape[-1] < 2 or x.shape[-2] < 2:
        raise ValueError(f"sharpness needs images of at least 2x2 pixels, got {tuple(x.shape[-2:])}")
    x = x.detach().float()
    dx = x[..., :-1, 1:] - x[..., :-1, :-1]
    dy = x[..., 1:, :-1] - x[..., :-1, :-1]
    score = torch.hypot(dx, dy).flatten(1).mean(1)
    if contrast_normalized:
        std = x.flatten(1).std(1)
        score = torch.where(std > 1e-8, score / std.clamp_min(1e-8), torch.zeros_like(score))
    return score


# --------------------------------------------------------------------------------------------------- memory
class TensorMemoryMeter:
    """Counts the tensors PyTorch ops create inside a ``with`` block, on any device.

        with TensorMemoryMeter() as meter:
            loss = quantizer(z).loss; loss.backward()
        meter.peak_bytes      # peak bytes of tensors alive at once (allocated in the block)
        meter.largest_bytes   # the largest single tensor produced by any op (forward and backward)
        meter.largest_numel   # ... counted in elements (e.g. to prove no (N, K, D) tensor was built)

    It is a ``TorchDispatchMode``, PyTorch's hook that sees every operation (``torch.utils._python_dispatch`` is an
    interface PyTorch uses internally; on a GPU ``torch.cuda.max_memory_allocated`` gives the peak too).
    """

    def __init__(self) -> None:
        from torch.utils._python_dispatch import TorchDispatchMode

        meter = self

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                for t in out if isinstance(out, (tuple, list)) else (out,):
                    if isinstance(t, torch.Tensor):
                        meter._record(t)
                return out

        self._mode = _Mode()
        self.live_bytes = self.peak_bytes = self.largest_bytes = self.largest_numel = 0

    def _free(self, nbytes: int) -> None:
        self.live_bytes -= nbytes

    def _record(self, t: torch.Tensor) -> None:
        import weakref

        self.largest_numel = max(self.largest_numel, t.numel())
        self.largest_bytes = max(self.largest_bytes, t.numel() * t.element_size())
        if not t._is_view():
            nbytes = t.untyped_storage().nbytes()
            self.live_bytes += nbytes
            self.peak_bytes = max(self.peak_bytes, self.live_bytes)
            weakref.finalize(t, self._free, nbytes)

    def __enter__(self) -> "TensorMemoryMeter":
        self._mode.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._mode.__exit__(*exc)
