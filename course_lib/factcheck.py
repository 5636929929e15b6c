"""Small measuring helpers for notebook 15 (fact check): a VAE with the VQ-VAE's convolutional body, KL of
categorical posteriors, scale-free variability, FLOP counts and timings, distance/diversity statistics, the
article's quoted passages (:func:`article_passages`), and the article's formulas and losses written out so that the
notebook can test them (:func:`article_vae_kl`, :func:`article_generator_loss`, :func:`train_noise_gan`, ...).

Everything here is used by ``notebooks/15_fact_check``; the models and losses themselves come from
:mod:`course_lib.models`, :mod:`course_lib.quantize` and :mod:`course_lib.gan`.

Shapes: ``B`` batch, ``C, H, W`` image, ``D`` latent channels, ``h, w`` the latent grid, ``K`` codes.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import torch
import torch.nn as nn

from .models import ConvDecoder, ConvEncoder

__all__ = [
    "Passage",
    "article_passages",
    "categorical_kl",
    "coefficient_of_variation",
    "count_flops",
    "median_time",
    "num_parameters",
    "pairwise_distances",
    "distance_correlation",
    "nearest_neighbour_distance",
    "mean_pairwise_hamming",
    "SpatialVAE",
    "SpatialVAEOutput",
    "ArticleVQVAEv1",
    "ArticleVQGANv1",
    "ArticleVQVAEv2",
    "ArticleVQGANv2",
    "article_vqgan_v2_step",
    "run_article_code",
    "SoftAttentionAE",
    "NoiseToImageGAN",
    "soft_assignment_entropy",
    "GroupedVQAE",
    "article_reconstruction_loss",
    "article_quantization_loss",
    "codebook_cost",
    "range_floor_mse",
    "article_vae_kl",
    "article_adversarial_loss",
    "article_generator_loss",
    "train_noise_gan",
    "train_soft_ae",
]


# ------------------------------------------------------------------------------------------------ the quotes
ARTICLE_PASSAGES = Path(__file__).parent / "assets" / "fact_check_article.md"


class Passage(NamedTuple):
    """One quoted passage of the article: its id, its section ("§4.1.1": first version; "v2 §4.2": the second),
    the Chinese text as the article has it (pieces joined by `` ... ``) and the course's English translation."""
    id: str
    section: str
    zh: str
    en: str


def article_passages(path: "Path | str | None" = None) -> "dict[str, Passage]":
    """The article's passages that notebook 15 quotes, read from ``course_lib/assets/fact_check_article.md`` (which
    also gives the article's source and the licence note): ``{id: Passage}``, in the file's order."""
    text = Path(path or ARTICLE_PASSAGES).read_text(encoding="utf-8")
    out = {}
    for block in text.split("\n## ")[1:]:
        pid, *lines = block.strip().split("\n")
        fields = dict(line[2:].split(": ", 1) for line in lines if line.startswith("- ") and ": " in line)
        missing = {"section", "zh", "en"} - set(fields)
        if missing:
            raise ValueError(f"article passage {pid!r} in {path or ARTICLE_PASSAGES} lacks {sorted(missing)}")
        out[pid.strip()] = Passage(pid.strip(), fields["section"], fields["zh"], fields["en"])
    return out


# ------------------------------------------------------------------------------------------------ claim 1
def categorical_kl(q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """``KL(q || p) = sum_k q_k log(q_k / p_k)`` in nats over the last dimension, with ``0 log 0 = 0``.

    ``q``, ``p``: (..., K) probability vectors (each sums to 1). Returns (...). Written with ``xlogy`` so that a
    one-hot ``q`` (zeros everywhere but one entry) gives a finite answer rather than ``0 * log 0 = nan``.
    """
    if q.shape != p.shape:
        raise ValueError(f"categorical_kl expects q and p of the same shape (..., K), got {tuple(q.shape)} and {tuple(p.shape)}")
    return (torch.special.xlogy(q, q) - torch.special.xlogy(q, p)).sum(-1)


# ------------------------------------------------------------------------------------------------ claim 4
def coefficient_of_variation(values: Sequence[float]) -> float:
    """``std / mean`` of a sequence (population std): a scale-free measure of how much a quantity fluctuates,
    so that losses or gradient norms of different sizes can be compared. Needs at least 2 values and mean != 0."""
    vals = [float(v) for v in values]
    if len(vals) < 2:
        raise ValueError(f"coefficient_of_variation needs at least 2 values, got {len(vals)}")
    mean = statistics.fmean(vals)
    if mean == 0:
        raise ValueError("coefficient_of_variation is undefined for a mean of 0")
    return statistics.pstdev(vals) / abs(mean)


# ------------------------------------------------------------------------------------------------ claim 5
def count_flops(fn: Callable[[], object]) -> int:
    """Floating-point operations of one call of ``fn()`` (forward AND any backward it runs), counted by
    ``torch.utils.flop_counter.FlopCounterMode`` (matrix multiplies and convolutions; elementwise ops are not
    counted). Deterministic: it depends on shapes, not on the machine's speed."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` calls after ``warmup`` calls (CUDA synchronised)."""
    if repeats < 1:
        raise ValueError("median_time needs repeats >= 1")
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def num_parameters(*modules: nn.Module) -> int:
    """Total number of parameters of the given modules (each parameter counted once)."""
    seen = {id(p): p.numel() for m in modules for p in m.parameters()}
    return sum(seen.values())


# ------------------------------------------------------------------------------------------------ claims 6-7
def pairwise_distances(x: torch.Tensor) -> torch.Tensor:
    """Euclidean distances between all pairs of the N items of ``x`` (N, ...), flattened: the N(N-1)/2 values
    above the diagonal, as a float64 vector (pair order: row-major upper triangle)."""
    flat = x.detach().reshape(x.shape[0], -1).double()
    if flat.shape[0] < 2:
        raise ValueError("pairwise_distances needs at least 2 items")
    d = torch.cdist(flat, flat)
    i, j = torch.triu_indices(len(flat), len(flat), offset=1)
    return d[i, j]


def distance_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation between the pairwise distances of ``a`` (N, ...) and of ``b`` (N, ...): close to 1
    when ``b`` keeps the geometry of ``a`` (items far apart in ``a`` stay far apart in ``b``)."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"distance_correlation needs the same number of items, got {a.shape[0]} and {b.shape[0]}")
    da, db = pairwise_distances(a), pairwise_distances(b)
    return float(torch.corrcoef(torch.stack([da, db]))[0, 1])


def nearest_neighbour_distance(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """For each item of ``x`` (N, ...), the Euclidean distance to its nearest item in ``reference`` (M, ...).
    Returns (N,). Images far from every real image have a large value."""
    a = x.detach().reshape(x.shape[0], -1).float()
    r = reference.detach().reshape(reference.shape[0], -1).float()
    if a.shape[1] != r.shape[1]:
        raise ValueError(f"nearest_neighbour_distance: items of size {a.shape[1]} vs reference items of size {r.shape[1]}")
    return torch.cdist(a, r).min(dim=1).values


def mean_pairwise_hamming(tokens: torch.Tensor) -> float:
    """Mean fraction of positions at which two sequences differ, over all pairs of rows of ``tokens`` (N, T).
    0 when every sequence is the same (total collapse); about 1 - 1/K for independent uniform codes."""
    if tokens.dim() != 2 or tokens.shape[0] < 2:
        raise ValueError(f"mean_pairwise_hamming expects (N >= 2, T) integer sequences, got {tuple(tokens.shape)}")
    t = tokens.detach()
    diff = (t[:, None, :] != t[None, :, :]).double().mean(-1)
    i, j = torch.triu_indices(len(t), len(t), offset=1)
    return float(diff[i, j].mean())


# ------------------------------------------------------------------------------------------------ a spatial VAE
class SpatialVAEOutput(NamedTuple):
    x_hat: torch.Tensor  # (B, C, H, W) reconstruction in pixel space (unbounded)
    mu: torch.Tensor  # (B, D, h, w)
    logvar: torch.Tensor  # (B, D, h, w)


class SpatialVAE(nn.Module):
    """A Gaussian VAE (Kingma & Welling 2013, arXiv:1312.6114) with EXACTLY the body of
    :class:`course_lib.models.VQVAE`: the same :class:`ConvEncoder` and :class:`ConvDecoder`, a latent grid
    (B, D, h, w) instead of codes. The 1x1 convolution before the latent outputs 2D channels (mean and
    log-variance), so only that layer differs in size from the VQ-VAE's ``pre_quant``.

    ``forward(x) -> SpatialVAEOutput(x_hat, mu, logvar)`` with ``z = mu + exp(logvar / 2) * eps``.
    """

    def __init__(self, in_channels: int = 1, hidden: int = 64, latent_dim: int = 64, downsamples: int = 2,
                 res_blocks: int = 2):
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.encoder = ConvEncoder(in_channels, hidden, None, downsamples, res_blocks)  # as VQVAE: ends in a ReLU
        self.pre_latent = nn.Conv2d(hidden, 2 * latent_dim, 1)
        self.decoder = ConvDecoder(latent_dim, hidden, in_channels, downsamples, res_blocks)

    def forward(self, x: torch.Tensor) -> SpatialVAEOutput:
        from .losses import reparameterize

        mu, logvar = self.pre_latent(self.encoder(x)).chunk(2, dim=1)
        logvar = logvar.clamp(-10.0, 10.0)
        return SpatialVAEOutput(self.decoder(reparameterize(mu, logvar)), mu, logvar)


# ------------------------------------------------------------------------------------------------ the article's code
# The article's PyTorch code (its Sec. 5.2, two versions), copied as published except for renamed classes, so that
# notebook 15 can run it and show what happens. Nothing here is a recommended way to write a VQ-VAE or a VQ-GAN.
class ArticleVQVAEv1(nn.Module):
    """The article's first ``VQVAE`` (Sec. 5.2.1), verbatim. ``self.decoder`` is assigned twice, so the soft-max
    "quantizer" is overwritten by a Linear(codebook_size, input_dim) layer."""

    def __init__(self, input_dim, latent_dim, codebook_size):
        super(ArticleVQVAEv1, self).__init__()
        self.encoder = nn.Sequential(nn.Linear(input_dim, latent_dim), nn.ReLU())
        self.decoder = nn.Sequential(nn.Linear(latent_dim, codebook_size), nn.ReLU(), nn.Softmax(dim=-1))
        self.quantize = nn.Parameter(torch.randn(codebook_size, latent_dim))
        self.decoder = nn.Sequential(nn.Linear(codebook_size, input_dim), nn.ReLU())

    def forward(self, x):
        z = self.encoder(x)
        q = self.decoder(z)
        z_hat = torch.matmul(q, self.quantize)
        x_hat = self.decoder(z_hat)
        return x_hat


class ArticleVQGANv1(nn.Module):
    """The article's first ``VQGAN`` (Sec. 5.2.2), verbatim up to where the published listing breaks off
    (``g = self.g``)."""

    def __init__(self, input_dim, latent_dim, codebook_size):
        super(ArticleVQGANv1, self).__init__()
        self.encoder = nn.Sequential(nn.Linear(input_dim, latent_dim), nn.ReLU())
        self.decoder = nn.Sequential(nn.Linear(latent_dim, codebook_size), nn.ReLU(), nn.Softmax(dim=-1))
        self.quantize = nn.Parameter(torch.randn(codebook_size, latent_dim))
        self.generator = nn.Sequential(nn.Linear(latent_dim, input_dim), nn.ReLU())
        self.discriminator = nn.Sequential(nn.Linear(input_dim, 1), nn.Sigmoid())

    def forward(self, x):
        z = self.encoder(x)
        g = self.g  # the listing ends here
        return g


class ArticleVQVAEv2(nn.Module):
    """The article's second ``VQVAE`` (second Sec. 5.2, "定义 VQVAE 模型"), verbatim."""

    def __init__(self, z_dim=10, codebook_size=512):
        super(ArticleVQVAEv2, self).__init__()
        self.encoder = nn.Sequential(nn.Linear(28 * 28, z_dim), nn.ReLU(), nn.Linear(z_dim, z_dim), nn.ReLU())
        self.quantize = nn.Sequential(nn.Linear(z_dim, codebook_size), nn.Softmax(dim=1))
        self.decoder = nn.Sequential(nn.Linear(codebook_size, z_dim), nn.ReLU(), nn.Linear(z_dim, 28 * 28), nn.Sigmoid())

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        z = self.encode(x)
        q = self.quantize(z)
        z_q = torch.sum(q * z.unsqueeze(1), dim=1)
        x_recon = self.decode(z_q)
        return x_recon


class ArticleVQGANv2(nn.Module):
    """The article's second ``VQGAN`` (Sec. 5.3, "定义 VQGAN 模型"), verbatim: a generator from noise, a
    discriminator, and a ``quantize`` module that ``forward`` never calls."""

    def __init__(self, z_dim=10, codebook_size=512, hidden_dim=64):
        super(ArticleVQGANv2, self).__init__()
        self.generator = nn.Sequential(nn.Linear(z_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 28 * 28), nn.Sigmoid())
        self.discriminator = nn.Sequential(nn.Linear(28 * 28, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 1), nn.Sigmoid())
        self.quantize = nn.Sequential(nn.Linear(z_dim, codebook_size), nn.Softmax(dim=1))

    def forward(self, x, z):
        x_fake = self.generator(z)
        x_real = self.discriminator(x)
        x_fake = self.discriminator(x_fake)
        return x_real, x_fake


def article_vqgan_v2_step(model: ArticleVQGANv2, data: torch.Tensor, optimizer_g, optimizer_d,
                          z: torch.Tensor = None) -> None:
    """One iteration of the article's VQGAN training loop (second Sec. 5.3), verbatim; ``z`` replaces
    ``torch.randn_like(data)`` when given (the article's own line fails on image batches)."""
    z = torch.randn_like(data) if z is None else z
    x_fake = model.generator(z)
    x_real, x_fake = model(data, z)
    g_loss = -torch.mean(torch.log(x_fake) + torch.log(1. - x_real))
    d_loss = -torch.mean(torch.log(x_real) + torch.log(1. - x_fake))
    optimizer_g.zero_grad()
    g_loss.backward()
    optimizer_g.step()
    optimizer_d.zero_grad()
    d_loss.backward()
    optimizer_d.step()


def run_article_code(batch: torch.Tensor, seed: int = 0) -> "list[tuple[str, str]]":
    """Run each published listing of the article on ``batch`` (B, 1, 28, 28) the way its training loop feeds it
    (and once more with the obvious shape fix, where one exists). Returns [(what was run, outcome)], the outcome
    being ``"ran"`` or ``"<ErrorType>: <first line of the message>"``."""
    torch.manual_seed(seed)
    flat = batch.reshape(len(batch), -1)
    outcomes = []

    def attempt(what, fn):
        try:
            fn()
            outcomes.append((what, "ran"))
        except Exception as err:  # noqa: BLE001 -- the point is to show whatever the published code raises
            outcomes.append((what, f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"))

    v1 = ArticleVQVAEv1(input_dim=784, latent_dim=20, codebook_size=512)
    attempt("5.2.1 VQVAE(784, 20, 512) on flattened images", lambda: v1(flat))
    g1 = ArticleVQGANv1(input_dim=784, latent_dim=20, codebook_size=512)
    attempt("5.2.2 VQGAN(784, 20, 512) on flattened images", lambda: g1(flat))
    v2 = ArticleVQVAEv2()
    attempt("5.2 (second) VQVAE() on the loader's (B, 1, 28, 28) batch", lambda: v2(batch))
    attempt("5.2 (second) VQVAE() on flattened images", lambda: v2(flat))
    g2 = ArticleVQGANv2()
    opt_g = torch.optim.Adam(g2.generator.parameters(), lr=0.0002)
    opt_d = torch.optim.Adam(g2.discriminator.parameters(), lr=0.0002)
    attempt("5.3 VQGAN training step, as published", lambda: article_vqgan_v2_step(g2, batch, opt_g, opt_d))
    attempt("5.3 VQGAN training step, flattened images and z of size z_dim",
            lambda: article_vqgan_v2_step(g2, flat, opt_g, opt_d, z=torch.randn(len(flat), 10)))
    return outcomes


# ------------------------------------------------------------------------------------------------ rebuilt as described
class SoftAttentionAE(nn.Module):
    """The article's "VQ-VAE" rebuilt as its text describes it (Sec. 4.1.1, 5.2, 5.3.1): an MLP encoder to
    ``z`` (D), "quantization" ``q = softmax(Linear(z))`` over K codes, ``z_hat = q @ codebook`` (a soft-attention
    read-out of a (K, D) table), an MLP decoder with a sigmoid output. No nearest code, no straight-through estimator.
    Only K and D are the article's: the 128-unit hidden layers are the course's (the article's encoder maps 784
    pixels straight to D = 10), so that the model can learn in a few hundred steps.

    ``forward(x) -> (x_hat, q, z)``; ``forward(x, hard=True)`` replaces ``q`` by the one-hot of its argmax, i.e.
    what a decoder would receive if the codes really were discrete. ``output="tanh"`` ends the decoder in a tanh
    (range [-1, 1]) instead of the article's sigmoid (range [0, 1]).
    """

    def __init__(self, input_dim: int = 784, latent_dim: int = 20, num_codes: int = 512, hidden: int = 128,
                 output: str = "sigmoid"):
        super().__init__()
        if output not in ("sigmoid", "tanh"):
            raise ValueError(f"SoftAttentionAE: output must be 'sigmoid' or 'tanh', got {output!r}")
        self.encoder = nn.Sequential(nn.Linear(input_dim, hidden), nn.ReLU(), nn.Linear(hidden, latent_dim), nn.ReLU())
        self.quantize = nn.Linear(latent_dim, num_codes)
        self.codebook = nn.Parameter(torch.randn(num_codes, latent_dim))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, input_dim),
                                     nn.Sigmoid() if output == "sigmoid" else nn.Tanh())

    def forward(self, x: torch.Tensor, hard: bool = False):
        z = self.encoder(x.reshape(len(x), -1))
        q = torch.softmax(self.quantize(z), dim=-1)
        if hard:
            q = torch.nn.functional.one_hot(q.argmax(-1), q.shape[-1]).to(q.dtype)
        x_hat = self.decoder(q @ self.codebook)
        return x_hat.reshape(x.shape), q, z


class NoiseToImageGAN(nn.Module):
    """The article's "VQ-GAN" rebuilt as its code describes it (second Sec. 5.3), with the two bugs fixed
    (noise of size ``z_dim``, flattened images): a generator from noise and a discriminator, both MLPs. Its
    ``forward(x, z)`` takes an image ``x`` but the generated image depends on ``z`` only."""

    def __init__(self, z_dim: int = 10, hidden: int = 64, output_dim: int = 784):
        super().__init__()
        self.z_dim = int(z_dim)
        self.generator = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(), nn.Linear(hidden, output_dim), nn.Sigmoid())
        self.discriminator = nn.Sequential(nn.Linear(output_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The "reconstruction" of ``x``: G(z), whatever ``x`` is. Returns (B, *x.shape[1:])."""
        return self.generator(z).reshape(x.shape)


def soft_assignment_entropy(q: torch.Tensor) -> torch.Tensor:
    """Entropy in nats of each soft assignment ``q`` (..., K) (rows sum to 1): 0 for a one-hot row (a discrete
    code), log K for a uniform one. Returns (...)."""
    return -torch.special.xlogy(q, q).sum(-1)


# ------------------------------------------------------------------------------------------------ the article's losses
class GroupedVQAE(nn.Module):
    """A small MLP VQ-VAE for the loss experiment of notebook 15: the encoder emits ``groups`` vectors of size
    ``code_dim`` per image, each replaced by its nearest row of one (K, code_dim) codebook.

    ``forward(x, straight_through=True)`` returns ``(x_hat, z, e)``: the decoder input is ``z + (e - z).detach()``
    (straight-through, van den Oord et al. 2017 Sec. 3.1) or, with ``straight_through=False``, the code rows ``e``
    themselves, so the reconstruction loss reaches the codebook but never the encoder (the article's version).
    ``x_hat`` is a sigmoid output in (0, 1).
    """

    def __init__(self, input_dim: int = 784, groups: int = 8, code_dim: int = 8, num_codes: int = 64, hidden: int = 128):
        super().__init__()
        self.groups, self.code_dim = int(groups), int(code_dim)
        self.encoder = nn.Sequential(nn.Linear(input_dim, hidden), nn.ReLU(), nn.Linear(hidden, groups * code_dim))
        self.codebook = nn.Parameter(torch.randn(num_codes, code_dim) * 0.5)
        self.decoder = nn.Sequential(nn.Linear(groups * code_dim, hidden), nn.ReLU(), nn.Linear(hidden, input_dim), nn.Sigmoid())

    def forward(self, x: torch.Tensor, straight_through: bool = True):
        z = self.encoder(x.reshape(len(x), -1)).reshape(len(x), self.groups, self.code_dim)
        d2 = (z.detach().pow(2).sum(-1, keepdim=True) - 2 * z.detach() @ self.codebook.detach().T
              + self.codebook.detach().pow(2).sum(-1))
        e = self.codebook[d2.argmin(-1)]  # (B, groups, code_dim), differentiable w.r.t. the codebook rows
        z_dec = z + (e - z).detach() if straight_through else e
        x_hat = self.decoder(z_dec.reshape(len(x), -1))
        return x_hat.reshape(x.shape), z, e


def article_reconstruction_loss(x: torch.Tensor, x_hat: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """The article's "reconstruction loss" ``-sum_i x_i log x_hat_i`` (Sec. 4.1-4.2), summed over pixels and
    averaged over the batch. It lacks the ``(1 - x) log(1 - x_hat)`` half of a Bernoulli cross-entropy, so it is
    smallest when every ``x_hat_i`` is 1."""
    return -(x * torch.log(x_hat.clamp_min(eps))).flatten(1).sum(1).mean()


def article_quantization_loss(z: torch.Tensor, q: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """The article's "quantization loss" ``-sum_i z_i log q_i`` (Sec. 4.1), summed over the last dimension and
    averaged over the rest. It only type-checks when ``z`` has one entry per code (same last dimension as ``q``).
    It is linear in ``z``: for ``z >= 0`` (the article's ReLU encoder) it is smallest at ``z = 0``."""
    if z.shape != q.shape:
        raise ValueError(f"article_quantization_loss: z {tuple(z.shape)} and q {tuple(q.shape)} must have the same "
                         "shape (the article's sum over i pairs z_i with q_i)")
    return -(z * torch.log(q.clamp_min(eps))).sum(-1).mean()


# ------------------------------------------------------------------------------------------------ cost of the codebook
def codebook_cost(num_vectors: int, num_codes: int, code_dim: int) -> dict:
    """What a nearest-code lookup adds to a model: ``K * D`` parameters and, for ``N`` vectors, the ``N x K``
    distance matrix ``|z|^2 - 2 z.e + |e|^2`` whose product ``z @ E.T`` costs ``N * K * D`` multiply-adds
    (``2 N K D`` FLOPs, the convention of ``torch.utils.flop_counter``)."""
    n, k, d = int(num_vectors), int(num_codes), int(code_dim)
    return {"params": k * d, "multiply_adds": n * k * d, "flops": 2 * n * k * d}


# ------------------------------------------------------------------------------------------------ the article's maths
def range_floor_mse(target: torch.Tensor, low: float = 0.0, high: float = 1.0) -> float:
    """The lowest mean squared error that ANY output confined to [low, high] can reach on ``target``: each output
    value does best at the target clamped to the range, so the floor is ``mean((target - clamp(target))^2)``. For
    targets in [-1, 1] and a sigmoid output (range [0, 1]) every negative target pixel t costs at least t^2."""
    t = target.detach().double()
    return float((t - t.clamp(low, high)).pow(2).mean())


def article_vae_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The VAE "KL" of the article's second version (its Sec. 4.3), written as printed:
    ``-sum_i log sigma_i - 1/2 sum_i (1 + log sigma_i^2 - mu_i^2 - sigma_i^2)``, summed over every dimension after
    the first. It equals the true KL (:func:`course_lib.losses.gaussian_kl`) minus ``sum_i log sigma_i``: the
    ``-log sigma`` is counted twice. Returns (B,)."""
    log_sigma = 0.5 * logvar
    value = -log_sigma - 0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
    return value.reshape(value.shape[0], -1).sum(1)


def article_adversarial_loss(d_real: torch.Tensor, d_fake: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """The article's adversarial loss ``-log D(x) - log(1 - D(g(z)))`` (second version, Sec. 4.2), averaged; ``d_real``
    and ``d_fake`` are the discriminator's probabilities (after its sigmoid). It is the discriminator's loss; the
    article adds it to the total loss that every parameter minimises."""
    return -(torch.log(d_real.clamp_min(eps)) + torch.log((1 - d_fake).clamp_min(eps))).mean()


def article_generator_loss(d_real: torch.Tensor, d_fake: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """The generator loss of the article's training loop (second version, Sec. 5.3),
    ``g_loss = -mean(log D(G(z)) + log(1 - D(x)))``. Its second term does not depend on the generator, so its
    gradient for the generator is that of the non-saturating loss ``-mean(log D(G(z)))`` (Goodfellow et al. 2014)."""
    return -(torch.log(d_fake.clamp_min(eps)) + torch.log((1 - d_real).clamp_min(eps))).mean()


def train_noise_gan(gan: "NoiseToImageGAN", data: torch.Tensor, steps: int, mode: str = "minimax", lr: float = 2e-4,
                    batch_size: int = 64, seed: int = 0) -> dict:
    """Train a :class:`NoiseToImageGAN` on ``data`` (N, ...) (flattened inside) for ``steps`` steps; return its final
    ``{"d_real", "d_fake"}`` (mean discriminator probabilities on a fresh batch) and ``"d_loss"``, ``"g_loss"``
    histories.

    ``mode="minimax"``: the usual alternating game (Goodfellow et al. 2014): the discriminator minimises
    ``-log D(x) - log(1 - D(G(z)))`` on DETACHED fakes with its own optimiser, then the generator minimises the
    non-saturating ``-log D(G(z))`` with its own. ``mode="summed"``: the article's second version (Sec. 4.2): ONE
    optimiser over every parameter minimises the single loss ``-log D(x) - log(1 - D(G(z)))``, so the generator
    minimises the discriminator's loss too (no min-max)."""
    if mode not in ("minimax", "summed"):
        raise ValueError(f"train_noise_gan: mode must be 'minimax' or 'summed', got {mode!r}")
    flat = data.reshape(len(data), -1)
    device = flat.device
    g = torch.Generator().manual_seed(seed)
    zg = torch.Generator(device=device).manual_seed(seed)
    G, D = gan.generator, gan.discriminator
    if mode == "minimax":
        opt_g, opt_d = torch.optim.Adam(G.parameters(), lr), torch.optim.Adam(D.parameters(), lr)
    else:
        opt = torch.optim.Adam(gan.parameters(), lr)
    history = {"d_loss": [], "g_loss": []}
    for _ in range(int(steps)):
        real = flat[torch.randint(len(flat), (batch_size,), generator=g).to(device)]
        fake = G(torch.randn(batch_size, gan.z_dim, device=device, generator=zg))
        if mode == "summed":
            loss = article_adversarial_loss(D(real), D(fake))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            history["d_loss"].append(float(loss.detach()))
            continue
        d_loss = article_adversarial_loss(D(real), D(fake.detach()))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        g_loss = -torch.log(D(fake).clamp_min(1e-7)).mean()  # non-saturating
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        history["d_loss"].append(float(d_loss.detach()))
        history["g_loss"].append(float(g_loss.detach()))
    with torch.no_grad():
        real = flat[torch.randint(len(flat), (256,), generator=g).to(device)]
        fake = G(torch.randn(256, gan.z_dim, device=device, generator=zg))
        history.update(d_real=float(D(real).mean()), d_fake=float(D(fake).mean()))
    return history


def train_soft_ae(model: "SoftAttentionAE", data: torch.Tensor, steps: int, target_range: str = "unit",
                  lr: float = 1e-3, batch_size: int = 64, seed: int = 0) -> "SoftAttentionAE":
    """Train ``model`` with the MSE for ``steps`` steps on ``data`` (N, ...) in [0, 1], as the article's second
    listing trains its VQVAE. ``target_range="signed"`` first maps the data to [-1, 1] as the article's
    ``transforms.Normalize((0.5,), (0.5,))`` does (inputs and targets both); ``"unit"`` keeps [0, 1]. Returns the
    model, in eval mode."""
    if target_range not in ("unit", "signed"):
        raise ValueError(f"train_soft_ae: target_range must be 'unit' or 'signed', got {target_range!r}")
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(int(steps)):
        x = data[torch.randint(len(data), (batch_size,), generator=g).to(data.device)]
        x = 2 * x - 1 if target_range == "signed" else x
        loss = torch.nn.functional.mse_loss(model(x)[0], x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model.eval()
