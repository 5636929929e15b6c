"""Adversarial training pieces for VQ-GAN: a PatchGAN discriminator, GAN losses and the adaptive weight.

Everything here follows the VQ-GAN recipe of Esser, Rombach & Ommer (2021, "Taming Transformers for
High-Resolution Image Synthesis", arXiv:2012.09841), whose discriminator is the PatchGAN of Isola et al.
(2017, "Image-to-Image Translation with Conditional Adversarial Networks", arXiv:1611.07004).

    D = PatchDiscriminator(in_channels=3, base=64, n_layers=3)   # (B, 3, H, W) -> (B, 1, h, w) logits
    D = PatchDiscriminator(3, spectral_norm=True)                # every conv spectrally normalised, no norm layers
    D.receptive_field()                                          # 70: each logit judges a 70x70 patch
    d_loss = hinge_d_loss(D(x), D(x_hat.detach()))               # discriminator step: fakes DETACHED
    g_loss = hinge_g_loss(D(x_hat))                              # generator step
    lam = adaptive_weight(rec_loss, g_loss, decoder.last_layer.weight)   # Esser et al. eq. (7)
    loss = rec_loss + adopt_weight(1.0, step, start_step) * lam * g_loss
    d_loss, g_loss = gan_step(G, D, opt_g, opt_d, x_real, z)      # one step of the two-player loop (notebook 08)

Conventions: logits are raw (unbounded) discriminator outputs; "real" means "from the data",
"fake" means "from the generator/decoder". All losses return scalar tensors (means over every patch).
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "PatchDiscriminator",
    "receptive_field",
    "hinge_d_loss",
    "hinge_g_loss",
    "non_saturating_d_loss",
    "non_saturating_g_loss",
    "adaptive_weight",
    "adopt_weight",
    "set_requires_grad",
    "weights_init",
    "discriminator_accuracy",
    "ring_of_gaussians",
    "ring_centres",
    "modes_covered",
    "gan_step",
    "toy_mlp",
    "toy_eval_noise",
    "train_toy_gan",
    "logit_support",
    "kernel_spectral_norm",
    "spectral_normalize",
    "conv_operator_norm",
]


# ----------------------------------------------------------------------------------------------
# Receptive field
# ----------------------------------------------------------------------------------------------
def receptive_field(layers: Sequence[tuple[int, int]]) -> int:
    """Receptive field (in input pixels, per side) of a stack of convolutions.

    layers: list of (kernel_size, stride), first layer first. With jump j_i = s_1 * ... * s_{i-1}
    (the distance in input pixels between neighbouring units of layer i's input),

        r = 1 + sum_i (k_i - 1) * j_i .

    Example: PatchGAN with n_layers=3 has (4,2),(4,2),(4,2),(4,1),(4,1) -> 1+3+6+12+24+24 = 70.
    Padding shifts where the window sits but not its size, so it does not enter.
    """
    r, jump = 1, 1
    for i, layer in enumerate(layers):
        try:
            k, s = layer
        except (TypeError, ValueError):
            raise TypeError(f"receptive_field expects a list of (kernel, stride) pairs; item {i} is {layer!r}") from None
        if int(k) != k or int(s) != s or k < 1 or s < 1:
            raise ValueError(f"kernel and stride must be positive integers; item {i} is (kernel={k}, stride={s})")
        r += (int(k) - 1) * jump
        jump *= int(s)
    return r


# ----------------------------------------------------------------------------------------------
# PatchGAN discriminator
# ----------------------------------------------------------------------------------------------
def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(math.gcd(32, channels), channels)
    return nn.Identity()


class PatchDiscriminator(nn.Module):
    """PatchGAN discriminator (Isola et al. 2017) as used in VQ-GAN (Esser et al. 2021).

    conv 4x4 stride 2 + LeakyReLU(0.2), then (n_layers - 1) x [conv 4x4 stride 2 + norm + LeakyReLU],
    then conv 4x4 stride 1 + norm + LeakyReLU, then conv 4x4 stride 1 -> 1 channel. Channels double
    each layer from `base`, capped at 8 * base. Every output logit judges one square patch of the
    input (``receptive_field()`` pixels wide): the discriminator asks "is this patch real?",
    not "is this image real?".

    Args:
        in_channels: channels of the images (3 for RGB, 1 for MNIST).
        base: channels of the first layer (64 in the papers; 8-16 is plenty for 32x32 toys).
        n_layers: number of stride-2 convolutions (3 in the papers: 70x70 patches).
        norm: "batch" (the papers), "group" (batch-size independent) or "none". None (the default) picks
            "batch" without spectral normalisation and "none" with it.
        spectral_norm: wrap EVERY convolution (the first and the last included) in spectral normalisation
            (Miyato, Kataoka, Koyama, Yoshida 2018, "Spectral Normalization for Generative Adversarial Networks",
            arXiv:1802.05957, eq. 8: W / sigma(W), sigma estimated by one power-iteration step per training forward),
            via ``torch.nn.utils.parametrizations.spectral_norm``. What is normalised is the kernel reshaped to an
            (out, in * k * k) matrix (:func:`kernel_spectral_norm` ~1). That is not the operator norm of the
            convolution, which applies the kernel at overlapping positions: it lies between the reshaped kernel's
            sigma and ceil(k / stride) times it (:func:`conv_operator_norm` measures it; Sedghi, Gupta, Long 2019,
            arXiv:1805.10408, compute it exactly). So spectral normalisation bounds how fast D's output can change
            with its input only approximately, as Miyato et al. say (measured on a fresh n_layers=2 D: 1.1-1.7
            per conv, notebook 09).
            Which norm layers it keeps: exactly those that ``norm`` asks for. With the default ``norm=None`` that is
            none at all, as in SN-GAN's discriminators (Miyato et al. 2018 use no batch normalisation in D); an explicit "group" or
            "batch" is kept as given (e.g. VQ-GAN configs that use GroupNorm), but note that a normalisation layer
            divides by a data-dependent standard deviation, so D's Lipschitz bound then no longer follows from the
            convolutions alone. taming-transformers' optional ActNorm is not offered here.

    Input (B, in_channels, H, W) -> logits (B, 1, h, w); H, W must be large enough that h, w >= 1.
    Note: in train() mode BatchNorm mixes statistics across the batch and all positions, so each
    logit then depends on the whole batch; use eval() to look at a single logit's receptive field
    (eval() also freezes spectral normalisation's power iteration).
    """

    def __init__(self, in_channels: int = 3, base: int = 64, n_layers: int = 3, norm: str | None = None,
                 spectral_norm: bool = False):
        super().__init__()
        if not isinstance(spectral_norm, bool):
            raise TypeError(f"spectral_norm must be True or False, got {spectral_norm!r}")
        if norm is None:
            norm = "none" if spectral_norm else "batch"
        if norm not in ("batch", "group", "none"):
            raise ValueError(f"norm must be 'batch', 'group', 'none' or None, got {norm!r}")
        for name, v in (("in_channels", in_channels), ("base", base), ("n_layers", n_layers)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.in_channels, self.base, self.n_layers, self.norm = in_channels, base, n_layers, norm
        self.spectral_norm = spectral_norm
        use_bias = norm == "none"  # a norm layer's own shift makes the conv bias redundant
        layers: list[nn.Module] = [nn.Conv2d(in_channels, base, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1  # the last of these keeps the resolution
            layers += [
                nn.Conv2d(base * prev, base * mult, 4, stride=stride, padding=1, bias=use_bias),
                _norm(norm, base * mult),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.Conv2d(base * mult, 1, 4, stride=1, padding=1))
        self.main = nn.Sequential(*layers)
        self.apply(weights_init)
        if spectral_norm:  # after the init: the parametrisation keeps the initialised weight as its "original"
            from torch.nn.utils.parametrizations import spectral_norm as _sn

            for i, m in enumerate(self.main):
                if isinstance(m, nn.Conv2d):
                    self.main[i] = _sn(m)

    def conv_layers(self) -> list[tuple[int, int]]:
        """(kernel, stride) of every convolution, in order (read from the modules themselves)."""
        return [(m.kernel_size[0], m.stride[0]) for m in self.main if isinstance(m, nn.Conv2d)]

    def receptive_field(self) -> int:
        """Side, in input pixels, of the patch that one output logit sees."""
        return receptive_field(self.conv_layers())

    def output_size(self, size: int) -> int:
        """Side of the logit map for an input of side `size` (conv arithmetic: floor((n + 2p - k) / s) + 1)."""
        for m in self.main:
            if isinstance(m, nn.Conv2d):
                size = (size + 2 * m.padding[0] - m.kernel_size[0]) // m.stride[0] + 1
        return size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"PatchDiscriminator expects a tensor, got {type(x).__name__}")
        if x.dim() != 4:
            raise ValueError(f"PatchDiscriminator expects images of shape (B, C, H, W), got {tuple(x.shape)}")
        if x.shape[1] != self.in_channels:
            hint = ""
            if x.shape[-1] == self.in_channels:
                hint = " It looks channels-last: did you forget x.permute(0, 3, 1, 2)?"
            raise ValueError(
                f"PatchDiscriminator was built with in_channels={self.in_channels} but got images with "
                f"{x.shape[1]} channels (shape {tuple(x.shape)}).{hint} Build it with "
                f"PatchDiscriminator(in_channels={x.shape[1]}) or feed images with {self.in_channels} channels. "
                "(The discriminator judges images -- real ones and decoder outputs -- never latent codes.)")
        h, w = self.output_size(x.shape[2]), self.output_size(x.shape[3])
        if h < 1 or w < 1:
            raise ValueError(
                f"Images of size {x.shape[2]}x{x.shape[3]} are too small for a PatchDiscriminator with "
                f"n_layers={self.n_layers} (logit map would be {h}x{w}); use fewer layers or larger images.")
        return self.main(x)


# ----------------------------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------------------------
def _check_logits(name: str, t) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of discriminator logits, got {type(t).__name__}")
    if not t.is_floating_point():
        raise TypeError(f"{name} must be a float tensor of logits, got dtype {t.dtype}")
    return t


def hinge_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """Hinge loss for the discriminator (Lim & Ye 2017, arXiv:1705.02894), as in taming-transformers:

        L_D = 0.5 * ( mean relu(1 - D(x)) + mean relu(1 + D(x_hat)) )

    Real logits above +1 and fake logits below -1 cost nothing: D stops pushing once it is confident.
    """
    _check_logits("logits_real", logits_real)
    _check_logits("logits_fake", logits_fake)
    return 0.5 * (F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean())


def hinge_g_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    """Generator loss paired with the hinge discriminator loss: L_G = -mean D(x_hat) (no relu)."""
    return -_check_logits("logits_fake", logits_fake).mean()


def non_saturating_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """Standard GAN discriminator loss (Goodfellow et al. 2014, arXiv:1406.2661), binary cross-entropy
    on logits, halved as in taming-transformers' "vanilla" loss:

        L_D = 0.5 * ( mean softplus(-D(x)) + mean softplus(D(x_hat)) )
            = 0.5 * ( -mean log sigmoid(D(x)) - mean log(1 - sigmoid(D(x_hat))) )
    """
    _check_logits("logits_real", logits_real)
    _check_logits("logits_fake", logits_fake)
    return 0.5 * (F.softplus(-logits_real).mean() + F.softplus(logits_fake).mean())


def non_saturating_g_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss (Goodfellow et al. 2014): L_G = -mean log sigmoid(D(x_hat))
    = mean softplus(-D(x_hat)). Unlike the minimax log(1 - sigmoid(D)), its gradient is large exactly
    when D confidently rejects the fakes (early in training)."""
    return F.softplus(-_check_logits("logits_fake", logits_fake)).mean()


# ----------------------------------------------------------------------------------------------
# Adaptive weight and warm-up
# ----------------------------------------------------------------------------------------------
def adaptive_weight(rec_loss: torch.Tensor, g_loss: torch.Tensor, last_layer_weight: torch.Tensor,
                    delta: float = 1e-4, max_weight: float | None = 1e4,
                    loss_scale: float = 2.0 ** 16) -> torch.Tensor:
    """Adaptive weight of the adversarial loss, Esser et al. 2021 eq. (7):

        lambda = || grad_L rec_loss || / ( || grad_L g_loss || + delta ),   clamped to [0, max_weight]

    where L is the decoder's last layer weight. It scales the GAN gradient to the size of the
    reconstruction gradient at that layer, so neither term drowns the other. The gradients come from
    ``torch.autograd.grad`` without ``create_graph``, so they are already constants and so is lambda; the
    final ``.detach()`` (as in taming-transformers) is a safeguard that keeps lambda a plain number should the
    gradients ever be taken with ``create_graph=True``. ``torch.autograd.grad`` also leaves every ``.grad``
    untouched (``.backward()`` would add these gradients to the next update). Both losses keep their graphs
    (retain_graph=True) so you can still call backward on the total.

    delta: keeps the ratio finite when the GAN gradient is ~0. The paper writes delta = 1e-6 (Esser et al.
    2021, sec. 3.1, after eq. 7); taming-transformers' code uses 1e-4 and clamps to [0, 1e4]
    (``taming/modules/losses/vqperceptual.py``, ``calculate_adaptive_weight``, commit 3ba01b2): the defaults
    here are the code's. max_weight: clamp (None = no clamp; only for showing what goes wrong).

    Half precision. Under float16 autocast the gradients flow back through a float16 graph, and the gradient of a
    mean over N pixels is 1/N per pixel: a subnormal (below float16's smallest normal number, 2**-14 = 6.1e-5, so
    with fewer significant bits) once N > 2**14 = 16384, and exactly 0 once 1/N <= 2**-25 (about 3.0e-8, half the
    smallest subnormal 2**-24 = 6.0e-8), i.e. N >= 2**25: round-to-nearest-even sends values from 2**-25 up to 2**-24
    to 2**-24, only those at or below 2**-25 to 0 (measured in tests/test_gan.py). A small loss weight gets there with
    far fewer pixels. So, as GradScaler does for the training gradients
    (Micikevicius et al. 2018, "Mixed Precision Training", arXiv:1710.03740, sec. 3.2), each loss is multiplied by
    ``loss_scale`` (2**16, GradScaler's initial scale) before ``autograd.grad`` and its gradient divided by it again in
    float32; if a scaled gradient overflows (inf/NaN), the scale backs off by 16x and the gradient is retaken (down to
    1). Scaling by a power of 2 is exact, so in float32 nothing changes. loss_scale=1 gives the unscaled computation.
    bfloat16 has float32's exponent range and needs no scaling; what remains there (and in float16 on the CPU at very
    large batches) is rounding in the low-precision backward itself, measured in tests/test_gan.py and notebook 09.
    Built in notebook 09, section 2.
    """
    for name, t in (("rec_loss", rec_loss), ("g_loss", g_loss)):
        if not isinstance(t, torch.Tensor) or t.numel() != 1:
            raise ValueError(f"{name} must be a scalar tensor, got {type(t).__name__} "
                             f"{tuple(t.shape) if isinstance(t, torch.Tensor) else ''}")
        if not t.requires_grad:
            raise ValueError(f"{name} does not require grad: compute it with gradients enabled "
                             "(not under torch.no_grad()) from the decoder's output.")
    if not isinstance(last_layer_weight, torch.Tensor) or not last_layer_weight.requires_grad:
        raise ValueError("last_layer_weight must be a parameter that requires grad, e.g. decoder.conv_out.weight")
    if not (isinstance(loss_scale, (int, float)) and loss_scale >= 1):
        raise ValueError(f"loss_scale must be a number >= 1 (a power of 2 keeps it exact), got {loss_scale!r}")
    norms = []
    for name, loss in (("rec_loss", rec_loss), ("g_loss", g_loss)):
        scale = float(loss_scale)
        while True:
            (g,) = torch.autograd.grad(loss * scale, last_layer_weight, retain_graph=True, allow_unused=True)
            if g is None:
                raise ValueError(f"{name} does not depend on last_layer_weight: pass the weight of the layer that "
                                 "produces the decoder's output image (the same decoder that produced the fakes).")
            g = g.float()
            if scale <= 1.0 or bool(torch.isfinite(g).all()):
                break
            scale = max(1.0, scale / 16.0)  # the scaled gradient overflowed: back off and take it again
        norms.append(torch.linalg.vector_norm(g / scale))
    lam = norms[0] / (norms[1] + delta)
    if max_weight is not None:
        lam = lam.clamp(0.0, max_weight)
    return lam.detach()


def adopt_weight(weight: float, step: int, start_step: int, value: float = 0.0) -> float:
    """Discriminator warm-up (taming-transformers' name): `value` (0) before `start_step`, `weight` from then on.

    Before the warm-up ends the autoencoder learns to reconstruct alone; the adversarial term (and,
    in a well-written loop, the discriminator's own update) is switched off."""
    return value if step < start_step else weight


def set_requires_grad(modules: Union[nn.Module, Iterable[nn.Module]], flag: bool) -> None:
    """Turn requires_grad on/off for every parameter, e.g. freeze D during the generator step so
    g_loss.backward() does not write gradients into D's .grad."""
    if isinstance(modules, nn.Module):
        modules = [modules]
    for m in modules:
        if not isinstance(m, nn.Module):
            raise TypeError(f"set_requires_grad expects nn.Module(s), got {type(m).__name__}")
        for p in m.parameters():
            p.requires_grad_(flag)


def weights_init(m: nn.Module) -> None:
    """DCGAN-style initialisation used by PatchGAN (Radford et al. 2015; pix2pix; taming-transformers):
    conv weights ~ N(0, 0.02); norm-layer scales ~ N(1, 0.02) and shifts 0. Use with model.apply(weights_init)."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.weight is not None:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


# ----------------------------------------------------------------------------------------------
# Diagnostics and the 2-D toy
# ----------------------------------------------------------------------------------------------
@torch.no_grad()
def discriminator_accuracy(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> tuple[float, float]:
    """(fraction of real patches with logit > 0, fraction of fake patches with logit < 0).
    Both near 1.0 for long: D wins and G's gradient may vanish; both near 0.5: D is guessing."""
    return (logits_real > 0).float().mean().item(), (logits_fake < 0).float().mean().item()


def ring_of_gaussians(n: int, n_modes: int = 8, radius: float = 2.0, std: float = 0.05,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """n points (n, 2) from a mixture of `n_modes` Gaussians with centres evenly spaced on a circle
    (the classic GAN mode-collapse toy, e.g. Metz et al. 2016 "Unrolled GANs", arXiv:1611.02163)."""
    k = torch.randint(n_modes, (n,), generator=generator)
    angle = 2 * math.pi * k.float() / n_modes
    centres = radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    return centres + std * torch.randn(n, 2, generator=generator)


def ring_centres(n_modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """(n_modes, 2) centres of ring_of_gaussians."""
    angle = 2 * math.pi * torch.arange(n_modes).float() / n_modes
    return radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)


@torch.no_grad()
def modes_covered(samples: torch.Tensor, centres: torch.Tensor, threshold: float = 0.2,
                  min_share: float = 0.25) -> tuple[int, float]:
    """How many modes a generator covers, and how good its samples are.

    Returns (number of modes that receive at least `min_share` of their fair share of samples --
    i.e. >= min_share * N / n_modes samples within `threshold` of the centre --, fraction of all samples
    within `threshold` of some centre ("high-quality" samples)). With ring_of_gaussians(std=0.05),
    threshold=0.2 is 4 standard deviations. A generator that hops between a few modes scores low even
    if a handful of stray samples land elsewhere.
    """
    samples = samples.detach().float().cpu()
    centres = centres.detach().float().cpu()
    if samples.dim() != 2 or samples.shape[1] != centres.shape[1]:
        raise ValueError(f"samples must be (N, {centres.shape[1]}), got {tuple(samples.shape)}")
    d = torch.cdist(samples, centres)
    dmin, idx = d.min(dim=1)
    good = dmin < threshold
    counts = torch.bincount(idx[good], minlength=centres.shape[0])
    need = min_share * len(samples) / centres.shape[0]
    return int((counts >= need).sum()), float(good.float().mean())


# ----------------------------------------------------------------------------------------------
# The two-player training step and the 2-D toy GAN (notebook 08)
# ----------------------------------------------------------------------------------------------
def gan_step(G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
             x_real: torch.Tensor, z: torch.Tensor, d_loss_fn=None, g_loss_fn=None) -> tuple[float, float]:
    """One step of the two-player GAN loop: first the discriminator, then the generator. Returns the two losses.

    * Discriminator step: the fakes G(z) are DETACHED, so L_D sends no gradient into G; D's old gradients are
      cleared before the backward and only ``opt_d`` steps.
    * Generator step: D is frozen (``set_requires_grad(D, False)``), so L_G writes no gradient into D; G's
      gradients are cleared before the backward and only ``opt_g`` steps; D is unfrozen afterwards.

    d_loss_fn(logits_real, logits_fake) and g_loss_fn(logits_fake) default to the non-saturating pair
    (:func:`non_saturating_d_loss`, :func:`non_saturating_g_loss`). Built in notebook 08, section 2.
    """
    d_loss_fn = d_loss_fn or non_saturating_d_loss
    g_loss_fn = g_loss_fn or non_saturating_g_loss
    fake = G(z)
    # discriminator step: fakes detached, only opt_d steps
    d_loss = d_loss_fn(D(x_real), D(fake.detach()))
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    # generator step: D frozen (and judged with its new weights), only opt_g steps
    set_requires_grad(D, False)
    g_loss = g_loss_fn(D(fake))
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_g.step()
    set_requires_grad(D, True)
    return d_loss.item(), g_loss.item()


def toy_mlp(n_in: int, n_out: int, hidden: int = 64) -> nn.Sequential:
    """The small MLP of the 2-D toy GAN: Linear-ReLU-Linear-ReLU-Linear (generator: 2 -> 2, discriminator: 2 -> 1)."""
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, n_out))


def toy_eval_noise(n_eval: int = 2000, z_dim: int = 2) -> torch.Tensor:
    """The fixed evaluation noise of the toy GAN (seeded): every curve, title and snapshot is measured on it."""
    return torch.randn(n_eval, z_dim, generator=torch.Generator().manual_seed(123))


TOY_LOSSES = {"non-saturating": (non_saturating_d_loss, non_saturating_g_loss), "hinge": (hinge_d_loss, hinge_g_loss)}


def train_toy_gan(step_fn=gan_step, lr_g: float = 5e-4, lr_d: float = 2e-3, steps: int = 600, batch_size: int = 128,
                  seed: int = 0, loss: str = "non-saturating", d_per_g: int = 1, losses=None, eval_every=None,
                  n_eval: int = 2000, snapshots: list | None = None, z_dim: int = 2):
    """Train a toy GAN (:func:`toy_mlp` networks, Adam with betas (0.5, 0.999)) on :func:`ring_of_gaussians`.

    Each step calls ``step_fn(G, D, opt_g, opt_d, x_real, z, d_loss_fn, g_loss_fn)`` (:func:`gan_step`, or a
    student's version of it), after ``d_per_g - 1`` extra discriminator-only steps. ``loss`` names the pair of losses
    in :data:`TOY_LOSSES`; ``losses=(d_loss_fn, g_loss_fn)`` overrides it. Every ``eval_every`` steps (12 points by
    default) the log records the modes covered by G on one FIXED set of ``n_eval`` noise vectors
    (:func:`toy_eval_noise`, the same at every evaluation and in every run), so that curves, titles and snapshots
    agree. ``snapshots``: a
    list to append :func:`course_lib.explorers.gan_toy.snapshot` dicts to (step 0 and every evaluation).
    Returns (G, D, log) with log keys step, modes, quality, d_loss, g_loss (lists) and n_eval.
    """
    from .explorers.gan_toy import snapshot

    if loss not in TOY_LOSSES and losses is None:
        raise ValueError(f"loss must be one of {list(TOY_LOSSES)} (or pass losses=(d_loss_fn, g_loss_fn)), got {loss!r}")
    if not (isinstance(d_per_g, int) and d_per_g >= 1):
        raise ValueError(f"d_per_g (discriminator steps per generator step) must be an int >= 1, got {d_per_g!r}")
    d_loss_fn, g_loss_fn = losses or TOY_LOSSES[loss]
    eval_every = eval_every or max(1, steps // 12)
    torch.manual_seed(seed)
    data_gen = torch.Generator().manual_seed(seed)
    G, D = toy_mlp(z_dim, 2), toy_mlp(2, 1)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr_g, betas=(0.5, 0.999), foreach=True)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=(0.5, 0.999), foreach=True)
    centres = ring_centres()
    z_eval = toy_eval_noise(n_eval, z_dim)
    log = {k: [] for k in ("step", "modes", "quality", "d_loss", "g_loss")}
    if snapshots is not None:
        snapshots.append(dict(step=0, **snapshot(G, D, z_eval, centres)))
    for step in range(1, steps + 1):
        for _ in range(d_per_g - 1):  # extra discriminator-only steps (fakes detached)
            with torch.no_grad():
                fake = G(torch.randn(batch_size, z_dim))
            d_extra = d_loss_fn(D(ring_of_gaussians(batch_size, generator=data_gen)), D(fake))
            opt_d.zero_grad(set_to_none=True)
            d_extra.backward()
            opt_d.step()
        x = ring_of_gaussians(batch_size, generator=data_gen)
        d_loss, g_loss = step_fn(G, D, opt_g, opt_d, x, torch.randn(batch_size, z_dim), d_loss_fn, g_loss_fn)
        if step % eval_every == 0 or step == steps:
            if snapshots is not None:
                snap = snapshot(G, D, z_eval, centres)
                snapshots.append(dict(step=step, **snap))
            with torch.no_grad():
                modes, quality = modes_covered(G(z_eval), centres)
            for k, v in zip(("step", "modes", "quality", "d_loss", "g_loss"),
                            (step, modes, quality, float(d_loss), float(g_loss))):
                log[k].append(v)
    log["n_eval"] = n_eval
    return G, D, log


def logit_support(D: nn.Module, image: torch.Tensor, i: int, j: int) -> tuple[int, int, int, int]:
    """The input pixels that logit (i, j) of ``D(image)`` depends on, found with a gradient: (first row, last row,
    first column, last column) of the non-zero support of d logit / d image. ``image``: (1, C, H, W). D is copied and
    put in eval() mode in float64 (in train() mode BatchNorm mixes the whole batch into every logit). Its side is
    :meth:`PatchDiscriminator.receptive_field` where the patch is not clipped by the image border."""
    import copy

    if not (isinstance(image, torch.Tensor) and image.dim() == 4 and image.shape[0] == 1):
        raise ValueError(f"image must be one image of shape (1, C, H, W), got {getattr(image, 'shape', image)}")
    D = copy.deepcopy(D).double().eval()
    x = image.detach().double().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(D(x)[0, 0, i, j], x)
    g = g[0].abs().sum(dim=0)
    rows, cols = g.sum(dim=1).nonzero().flatten(), g.sum(dim=0).nonzero().flatten()
    return int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())


# ----------------------------------------------------------------------------------------------
# Spectral normalisation: the reshaped kernel's sigma and the convolution's operator norm (notebook 09)
# ----------------------------------------------------------------------------------------------
def kernel_spectral_norm(conv: nn.Conv2d) -> float:
    """Largest singular value of the conv kernel reshaped to (out, in * k * k): what spectral normalisation
    (Miyato et al. 2018) divides by. For a spectrally normalised conv (``conv.weight`` is then the normalised
    weight) it is ~1."""
    return float(torch.linalg.matrix_norm(conv.weight.detach().flatten(1).float(), 2))


def spectral_normalize(weight: torch.Tensor, u: torch.Tensor, n_iters: int = 1, eps: float = 1e-12):
    """One step of spectral normalisation (Miyato et al. 2018, arXiv:1802.05957, Algorithm 1), with the semantics of
    ``torch.nn.utils.spectral_norm``: returns ``(weight / sigma, sigma, u)``.

    ``weight`` (out, ...) is reshaped to the matrix W (out, in * k * k); ``u`` (out,) is the running estimate of W's
    top left singular vector (unit length). ``n_iters`` (>= 1) power iterations ``v = W^T u / |W^T u|``,
    ``u = W v / |W v|`` run without gradient; then ``sigma = u^T W v`` with u and v constants, so the gradient of
    ``weight / sigma`` reaches ``weight`` through both the numerator and sigma. The returned u is the start of the next
    step's iteration (a layer keeps it between training steps: one iteration per step suffices, as W changes
    slowly)."""
    if weight.dim() < 2:
        raise ValueError(f"spectral_normalize expects a weight with at least 2 dims (out, in, ...), got shape "
                         f"{tuple(weight.shape)}")
    if u.shape != (weight.shape[0],):
        raise ValueError(f"u should have shape ({weight.shape[0]},) (one entry per output unit), got {tuple(u.shape)}")
    if n_iters < 1:
        raise ValueError(f"n_iters must be at least 1, got {n_iters}")
    w = weight.reshape(weight.shape[0], -1)
    with torch.no_grad():
        u = u.to(w.dtype)
        for _ in range(n_iters):
            v = F.normalize(w.t() @ u, dim=0, eps=eps)
            u = F.normalize(w @ v, dim=0, eps=eps)
    sigma = torch.dot(u, w @ v)
    return weight / sigma, sigma, u


def conv_operator_norm(conv: nn.Conv2d, size: int, iters: int = 100, seed: int = 0) -> float:
    """Operator norm (largest singular value) of a convolution as a linear map on (in, size, size) images,
    bias left out, by power iteration on J^T J (J: the layer's Jacobian, from autograd).

    For a stride-s convolution with a k x k kernel it lies between :func:`kernel_spectral_norm` (an input that is
    the top singular vector on one interior patch) and ceil(k / s) times it (each input pixel sits in at most
    ceil(k / s)**2 patches). Sedghi, Gupta, Long 2019 ("The Singular Values of Convolutional Layers",
    arXiv:1805.10408) compute it exactly for periodic padding."""
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"conv_operator_norm expects an nn.Conv2d, got {type(conv).__name__}")
    w = conv.weight.detach().float()
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, w.shape[1], size, size, generator=g)
    sigma = 0.0
    for _ in range(iters):
        x = (x / x.norm()).requires_grad_(True)
        y = F.conv2d(x, w, None, conv.stride, conv.padding, conv.dilation, conv.groups)
        (jtj_x,) = torch.autograd.grad(0.5 * y.pow(2).sum(), x)
        sigma = float(jtj_x.norm()) ** 0.5  # ||J^T J x|| -> sigma^2 for the top singular vector
        x = jtj_x.detach()
    return sigma
