"""The equal-bits bench of notebook 14: one autoencoder, each quantizer of today's tokenizers at the same bits.

One home for what notebook 14, ``data/train_course_checkpoints.py`` (the ``14_*`` checkpoints) and
``course_lib.pretrained.measure`` all do: build a :class:`course_lib.models.VQVAE` around a quantizer of a given
kind and bit budget (:func:`make_quantizer`, :func:`build_model`), train it (:func:`train_model`), and measure it
on held-out images (:func:`evaluate`): PSNR, SSIM, the judge net's KID, contrast-normalised sharpness, code usage
and entropy. Intervals over seeds come from :mod:`course_lib.evidence` (``replicate_interval``,
``paired_difference``); :func:`summary_rows` and :func:`paired_verdict` format them.

Kinds (``KINDS``), each at ``bits`` bits per latent vector:

=========  ===================================================================================================
``vq``     :class:`~course_lib.quantize.EMAVectorQuantizer` with K = 2^bits, k-means start and dead-code
           restarts: the strongest cure of notebook 05 on its conv model (SoundStream's recipe)
``rvq``    :class:`~course_lib.quantize.ResidualVQ`, ``levels`` levels of 2^(bits/levels) codes, each level the
           ``vq`` recipe; ``dropout=True`` adds quantizer dropout
``fsq``    :class:`~course_lib.quantize.FSQ` with the levels of :data:`FSQ_LEVELS` (about 2^bits codes)
``lfq``    :class:`~course_lib.quantize.LFQ`, entropy weight 0.1 (MAGVIT-v2) and a commitment term of 0.25
``bsq``    :class:`~course_lib.quantize.BSQ` with its authors' entropy settings
``simvq``  :class:`~course_lib.quantize.SimVQ` with K = 2^bits
=========  ===================================================================================================
"""
from __future__ import annotations

import math
import time
from typing import Any, Dict, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F

from . import metrics
from .quantize import BSQ, FSQ, LFQ, EMAVectorQuantizer, ResidualVQ, SimVQ

__all__ = ["KINDS", "LABELS", "FSQ_LEVELS", "make_quantizer", "build_model", "train_model", "token_indices",
           "codebook_size", "bits_per_token", "reconstruct", "evaluate", "seed_interval", "paired_difference", "run",
           "summary_rows", "paired_verdict", "rate_distortion", "rate_distortion_verdicts"]

KINDS = ("vq", "rvq", "fsq", "lfq", "bsq", "simvq")
LABELS = {"vq": "VQ (EMA + k-means + restarts)", "rvq": "residual VQ", "fsq": "FSQ", "lfq": "LFQ", "bsq": "BSQ",
          "simvq": "SimVQ"}
#: FSQ levels per codebook size: 2^8 to 2^16 are Table 1 of Mentzer et al. 2023 (arXiv:2309.15505); 2^4 and 2^6
#: (exact powers of two with levels of 4) are this course's choice.
FSQ_LEVELS = {4: (4, 4), 6: (4, 4, 4), 8: (8, 6, 5), 10: (8, 5, 5, 5), 12: (7, 5, 5, 5, 5), 14: (8, 8, 8, 6, 5),
              16: (8, 8, 8, 5, 5, 5)}


def make_quantizer(kind: str, bits: int, code_dim: int, *, levels: int = 2, dropout: bool = False,
                   decay: float = 0.99, restart_after: int = 100, kmeans_init: bool = True):
    """A quantizer of ``kind`` (see ``KINDS``) for ``code_dim``-dimensional vectors at ``bits`` bits each."""
    if kind not in KINDS:
        raise ValueError(f"unknown quantizer kind {kind!r}; choose one of {', '.join(KINDS)}")
    cure = dict(decay=decay, kmeans_init=kmeans_init, restart_dead_after=restart_after)
    if kind == "vq":
        return EMAVectorQuantizer(2 ** bits, code_dim, beta=0.25, **cure)
    if kind == "rvq":
        if bits % levels:
            raise ValueError(f"residual VQ splits the bits evenly over its levels: {bits} bits do not divide into "
                             f"{levels} levels")
        return ResidualVQ(levels, 2 ** (bits // levels), code_dim, beta=0.25, ema=True, quantizer_dropout=dropout,
                          **cure)
    if kind == "fsq":
        if bits not in FSQ_LEVELS:
            raise ValueError(f"no FSQ levels for {bits} bits; known: {sorted(FSQ_LEVELS)}")
        return FSQ(FSQ_LEVELS[bits], code_dim=code_dim)
    if kind == "lfq":
        return LFQ(bits, code_dim=code_dim, entropy_weight=0.1, commitment_weight=0.25)
    if kind == "bsq":
        return BSQ(bits, code_dim=code_dim)
    return SimVQ(2 ** bits, code_dim, beta=0.25)


def codebook_size(quantizer) -> int:
    """How many different tokens the quantizer can emit (for residual VQ: the combinations of its levels)."""
    if isinstance(quantizer, ResidualVQ):
        return quantizer.num_codes ** quantizer.num_levels
    return int(quantizer.num_codes)


def bits_per_token(quantizer) -> float:
    return math.log2(codebook_size(quantizer))


def build_model(kind: str, bits: int, *, in_channels: int = 1, hidden: int = 16, code_dim: int = 16,
                res_blocks: int = 1, **quantizer_kwargs):
    """:class:`course_lib.models.VQVAE` (notebook 04's model, two downsamplings) around :func:`make_quantizer`."""
    from .models import VQVAE

    q = make_quantizer(kind, bits, code_dim, **quantizer_kwargs)
    return VQVAE(q, in_channels=in_channels, hidden=hidden, downsamples=2, res_blocks=res_blocks)


def train_model(model, data, *, steps: int, batch_size: int, lr: float, seed: int, data_variance: float,
                device: Any = None, callback=None) -> float:
    """Train ``model`` with ``mse / data_variance + quantizer loss`` (Adam) on ``data`` (an ImageDataset or images)
    for ``steps`` steps; returns the wall seconds per step. The model ends in eval mode."""
    from .data import make_loader
    from .train import fit

    loader = make_loader(data, batch_size=batch_size, shuffle=True, seed=seed, device=device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, foreach=True)

    def loss_fn(batch, step):
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        out = model(x)
        rec = F.mse_loss(out.x_hat, x)
        return {"loss": rec / data_variance + out.vq.loss, "rec": rec.detach()}

    model.train()
    t0 = time.perf_counter()
    fit(loss_fn, opt, loader, steps=steps, model=model, progress=False, log_every=max(1, steps), callback=callback)
    seconds = time.perf_counter() - t0
    model.eval()
    return seconds / max(1, steps)


def token_indices(quantizer, indices: torch.Tensor) -> torch.Tensor:
    """One integer token per latent vector: residual VQ's level indices (..., L) become ``sum_l k_l K^(L-1-l)``
    (levels that were not used count as 0), every other quantizer's indices are returned as they are."""
    if isinstance(quantizer, ResidualVQ):
        k, out = quantizer.num_codes, torch.zeros(indices.shape[:-1], dtype=torch.long, device=indices.device)
        for l in range(indices.shape[-1]):
            out = out * k + indices[..., l].clamp_min(0)
        return out
    return indices


@torch.no_grad()
def reconstruct(model, x: torch.Tensor, num_levels: Optional[int] = None, batch: int = 256):
    """(x_hat clamped to [0, 1], tokens) of images x; ``num_levels`` decodes residual VQ with its first levels."""
    model.eval()
    outs, toks = [], []
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]
        z = model.encode_continuous(xb)
        q = model.quantizer(z, num_levels=num_levels) if num_levels is not None else model.quantizer(z)
        outs.append(model.decoder(q.z_q).clamp(0, 1))
        toks.append(token_indices(model.quantizer, q.indices))
    return torch.cat(outs), torch.cat(toks)


@torch.no_grad()
def evaluate(model, x: torch.Tensor, ref: Optional[torch.Tensor] = None, judge=None,
             num_levels: Optional[int] = None) -> Dict[str, float]:
    """Held-out figures of a trained model on images ``x`` (CPU or x's device, eval mode).

    ``psnr`` (dB, mean over the set), ``ssim``, ``sharpness_ratio`` (contrast-normalised sharpness of the
    reconstructions over that of the originals: 1 = as sharp as the data, below 1 = blurrier), ``codes_used`` and
    ``usage`` (codes used / the most that can be used, min(K, number of tokens)), ``entropy_bits`` (of the token
    histogram) and ``bits_per_token`` (log2 K); with ``judge`` (a feature net) and ``ref`` (real images not in x)
    also ``kid_x1e3`` (KID of the reconstructions against ``ref`` in the judge's features, x 1000).
    """
    from .image_quality import kernel_feature_distance, sharpness_ratio, ssim

    x_hat, tokens = reconstruct(model, x, num_levels)
    k = codebook_size(model.quantizer)
    usage = metrics.CodeUsageTracker(k).update(tokens)
    out = {"psnr": metrics.psnr(x, x_hat), "ssim": float(ssim(x, x_hat)),
           "sharpness_ratio": float(sharpness_ratio(x_hat, x)),
           "codes_used": float(usage.used()), "usage": usage.used() / min(k, tokens.numel()),
           "entropy_bits": math.log2(usage.perplexity()), "bits_per_token": math.log2(k)}
    if judge is not None and ref is not None:
        out["kid_x1e3"] = float(kernel_feature_distance(x_hat, ref, net=judge).mean * 1e3)
    return out


def seed_interval(values: Sequence[float], level: float = 0.95):
    """(mean, half-width) of :func:`course_lib.evidence.replicate_interval` (Student t over independent seeds,
    n - 1 degrees of freedom); one value gives a half-width of nan."""
    from .evidence import replicate_interval

    values = [float(v) for v in values]
    if len(values) < 2:
        return (values[0] if values else float("nan")), float("nan")
    ci = replicate_interval(values, level, unit="seeds")
    return ci.value, ci.half_width


def paired_difference(a: Sequence[float], b: Sequence[float], level: float = 0.95):
    """:func:`course_lib.evidence.paired_difference` of a - b over paired seeds (a PairedTest: mean_diff, low, high,
    t, dof, p, method)."""
    from .evidence import paired_difference as paired

    return paired([float(x) for x in a], [float(y) for y in b], level, unit="seeds")


def run(kind: str, bits: int, seed: int, *, train, x_eval: torch.Tensor, steps: int, batch_size: int, lr: float,
        hidden: int, code_dim: int, data_variance: float, x_ref: Optional[torch.Tensor] = None, judge=None,
        device: Any = None, **quantizer_kwargs):
    """Build (seeded), train and evaluate one model: returns ``(model, figures)``, the figures of :func:`evaluate`
    plus ``ms_per_step`` (wall milliseconds per training step on this machine) and ``seed``."""
    torch.manual_seed(seed)
    in_channels = int(train.x.shape[1]) if hasattr(train, "x") else int(train.shape[1])
    model = build_model(kind, bits, in_channels=in_channels, hidden=hidden, code_dim=code_dim, **quantizer_kwargs)
    model = model.to(device) if device is not None else model
    seconds = train_model(model, train, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                          data_variance=data_variance, device=device)
    figures = evaluate(model, x_eval, x_ref, judge)
    figures.update(ms_per_step=1e3 * seconds, seed=seed)
    return model, figures


def summary_rows(results: Mapping[str, Sequence[Mapping[str, float]]], keys: Sequence[str],
                 formats: Optional[Mapping[str, str]] = None):
    """One row per arm: the arm's label, then for each key "mean ± half-width" of the 95% t-interval over its seeds
    (:func:`seed_interval`), or the single value when there is one seed."""
    formats = dict(formats or {})
    rows = []
    for arm, runs in results.items():
        row = [LABELS.get(arm, arm)]
        for k in keys:
            mean, half = seed_interval([r[k] for r in runs])
            f = formats.get(k, ".3g")
            row.append(f"{mean:{f}}" if math.isnan(half) else f"{mean:{f}} ± {half:{f}}")
        rows.append(row)
    return rows


def paired_verdict(runs: Mapping[str, Sequence[Mapping[str, float]]], kind: str, key: str, baseline: str = "vq",
                   better: str = "higher") -> str:
    """One line: is ``kind`` better than, worse than or not distinguishable from ``baseline`` on ``key``? Seeds are
    paired (same seed, same data order); a difference is called only when the 95% t-interval of the paired
    differences (n - 1 degrees of freedom) excludes 0."""
    a, b = [r[key] for r in runs[kind]], [r[key] for r in runs[baseline]]
    label = f"{LABELS.get(kind, kind):12s} {key}:"
    if len(a) < 2:
        return f"{label} one seed only: not compared with {LABELS.get(baseline, baseline)}"
    test = paired_difference(a, b)
    up = test.low > 0 if better == "higher" else test.high < 0
    down = test.high < 0 if better == "higher" else test.low > 0
    word = "better than" if up else ("worse than" if down else "not distinguishable from")
    return (f"{label} {word} {LABELS.get(baseline, baseline)} (paired difference {test.mean_diff:+.3g}, 95% CI "
            f"[{test.low:.3g}, {test.high:.3g}], paired t-test, {test.dof} df, p = {test.p:.2g})")


def rate_distortion(dropout_model, separate: Mapping[int, Any], x: torch.Tensor, tokens_per_image: int):
    """Rows ``levels, bits_per_image, dropout, separate, truncated`` (PSNR in dB on ``x``): the quantizer-dropout
    model decoded with its first k levels, the model trained for k levels alone, and the full-rate model of
    ``separate`` (its largest key, trained without dropout) decoded with its first k levels."""
    full = separate[max(separate)]
    bits_per_level = math.log2(dropout_model.quantizer.num_codes)
    rows = []
    for k in sorted(separate):
        rows.append(dict(levels=k, bits_per_image=int(k * bits_per_level * tokens_per_image),
                         dropout=evaluate(dropout_model, x, num_levels=k)["psnr"],
                         separate=evaluate(separate[k], x)["psnr"],
                         truncated=evaluate(full, x, num_levels=k)["psnr"]))
    return rows


def rate_distortion_verdicts(rd: Sequence[Mapping[str, float]]) -> str:
    """Three lines read from :func:`rate_distortion`'s rows: does every added level raise the dropout model's PSNR
    by more than 0.3 dB, does it beat truncation by more than 1 dB at the lowest rate, and its largest loss against
    a model trained alone at the same rate."""
    from .claims import verdict

    gains = [b["dropout"] - a["dropout"] for a, b in zip(rd, rd[1:])]
    low = rd[0]
    at = f"At {low['bits_per_image']} bits per image"
    return "\n".join([
        verdict(min(gains) > 0.3, "Each added level raises the dropout model's PSNR by more than 0.3 dB.",
                f"Not every added level raises the dropout model's PSNR by 0.3 dB: gains "
                f"{', '.join(f'{g:.2f}' for g in gains)} dB."),
        verdict(low["dropout"] > low["truncated"] + 1.0,
                f"{at} dropout beats truncation by more than 1 dB: {low['dropout']:.2f} vs {low['truncated']:.2f} dB.",
                f"{at} dropout does not beat truncation by 1 dB: {low['dropout']:.2f} vs {low['truncated']:.2f} dB."),
        f"largest loss against a separate model: {max(r['separate'] - r['dropout'] for r in rd):.2f} dB"])
