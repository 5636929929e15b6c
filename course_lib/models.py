"""Models of the course: a small autoencoder and VAE (notebook 01), and the convolutional VQ-VAE (notebook 04 on).

Shapes: ``B`` batch, ``C`` image channels, ``H, W`` image size, ``L`` latent dimensions, ``D`` code dimension,
``h, w`` the latent grid (``H / 2**downsamples``).

Output conventions (the caller decides how to read the decoder's output):

* :class:`AutoEncoder` and :class:`VAE` decoders return **logits** (no sigmoid): train them with
  ``binary_cross_entropy_with_logits`` (:func:`course_lib.losses.elbo_terms`) and display ``torch.sigmoid(x_logits)``.
* :class:`ConvDecoder` and :class:`VQVAE` return **unbounded pixel values** (no sigmoid): train with MSE against
  the data as given (e.g. in [0, 1]) and ``clamp(0, 1)`` for display.
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .quantize import EMAVectorQuantizer, QuantizerOutput

__all__ = [
    "AutoEncoder",
    "VAE",
    "VAEOutput",
    "ResidualBlock",
    "ConvEncoder",
    "ConvDecoder",
    "VQVAE",
    "VQVAEOutput",
    "VQFromFunctions",
]


def _check_images(x: torch.Tensor, in_channels: int, who: str, image_size: Optional[int] = None, multiple: int = 1) -> None:
    """Raise a clear error unless ``x`` is a (B, in_channels, H, W) batch with the expected size."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{who} expects a torch.Tensor of shape (B, {in_channels}, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        hint = " (a single image? add a batch dimension with x.unsqueeze(0))" if x.ndim == 3 else ""
        raise ValueError(f"{who} expects images of shape (B, {in_channels}, H, W), got {tuple(x.shape)}{hint}")
    if x.shape[1] != in_channels:
        hint = ""
        if x.shape[-1] == in_channels:
            hint = ": channels last? use x.permute(0, 3, 1, 2)"
        raise ValueError(f"{who} expects {in_channels} channel(s), got shape {tuple(x.shape)}{hint}")
    if image_size is not None and tuple(x.shape[-2:]) != (image_size, image_size):
        raise ValueError(
            f"{who} was built for {image_size}x{image_size} images, got {x.shape[-2]}x{x.shape[-1]} "
            f"(build it with image_size={x.shape[-1]} or resize the data)"
        )
    if multiple > 1 and (x.shape[-2] % multiple or x.shape[-1] % multiple):
        raise ValueError(
            f"{who}: height and width must be divisible by {multiple} (2**downsamples), got {x.shape[-2]}x{x.shape[-1]}"
        )


def _positive_int(value, name: str, who: str, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{who}: {name} must be an integer >= {minimum}, got {value!r}")
    return value


# --------------------------------------------------------------------------------------------------------------
# Notebook 01: a small deterministic autoencoder and a VAE with a latent *vector*
# --------------------------------------------------------------------------------------------------------------
class _SmallConvNet(nn.Module):
    """Shared body of :class:`AutoEncoder` and :class:`VAE`.

    Encoder: two stride-2 4x4 convolutions (H -> H/4), flatten, a linear layer to ``enc_out`` features.
    Decoder: a linear layer from ``latent_dim`` to the feature map, two stride-2 transposed convolutions back.
    """

    def __init__(self, in_channels: int, image_size: int, latent_dim: int, hidden: int, enc_out: int):
        super().__init__()
        who = type(self).__name__
        self.in_channels = _positive_int(in_channels, "in_channels", who)
        self.image_size = _positive_int(image_size, "image_size", who)
        self.latent_dim = _positive_int(latent_dim, "latent_dim", who)
        self.hidden = _positive_int(hidden, "hidden", who)
        if image_size % 4:
            raise ValueError(f"{who}: image_size must be divisible by 4 (two stride-2 convolutions), got {image_size}")
        s = image_size // 4
        self._feat_shape = (2 * hidden, s, s)
        feat = 2 * hidden * s * s
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 4, stride=2, padding=1),  # (B, hidden, H/2, W/2)
            nn.ReLU(),
            nn.Conv2d(hidden, 2 * hidden, 4, stride=2, padding=1),  # (B, 2 hidden, H/4, W/4)
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(feat, enc_out),
        )
        self.decoder_fc = nn.Sequential(nn.Linear(latent_dim, feat), nn.ReLU())
        self.decoder_conv = nn.Sequential(
            nn.ConvTranspose2d(2 * hidden, hidden, 4, stride=2, padding=1),  # (B, hidden, H/2, W/2)
            nn.ReLU(),
            nn.ConvTranspose2d(hidden, in_channels, 4, stride=2, padding=1),  # (B, C, H, W) logits
        )

    def _encode_features(self, x: torch.Tensor) -> torch.Tensor:
        _check_images(x, self.in_channels, type(self).__name__, self.image_size)
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, L) -> logits (B, C, H, W). Apply ``torch.sigmoid`` to get pixel probabilities."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"{type(self).__name__}.decode expects z of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        h = self.decoder_fc(z).view(z.shape[0], *self._feat_shape)
        return self.decoder_conv(h)


class AutoEncoder(_SmallConvNet):
    """Deterministic convolutional autoencoder: x (B, C, H, W) -> z (B, L) -> logits (B, C, H, W).

    ``forward(x)`` returns the reconstruction **logits**; ``encode(x)`` the latent vector; ``decode(z)`` logits.
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28, latent_dim: int = 2, hidden: int = 32):
        super().__init__(in_channels, image_size, latent_dim, hidden, enc_out=latent_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) -> z: (B, L)."""
        return self._encode_features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) -> reconstruction logits (B, C, H, W)."""
        return self.decode(self.encode(x))


class VAEOutput(NamedTuple):
    x_logits: torch.Tensor  # (B, C, H, W) decoder logits
    mu: torch.Tensor  # (B, L) posterior mean
    logvar: torch.Tensor  # (B, L) posterior log-variance
    z: torch.Tensor  # (B, L) a reparameterised sample from q(z|x)


class VAE(_SmallConvNet):
    """Variational autoencoder (Kingma & Welling 2013, arXiv:1312.6114) with a diagonal Gaussian posterior.

    ``encode(x) -> (mu, logvar)`` each (B, L); ``decode(z) -> logits`` (B, C, H, W);
    ``forward(x) -> VAEOutput(x_logits, mu, logvar, z)`` with ``z = mu + exp(logvar / 2) * eps``;
    ``sample(n)`` -> n images drawn from the prior N(0, I), returned as pixel probabilities ``sigmoid(logits)``.
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28, latent_dim: int = 2, hidden: int = 32):
        super().__init__(in_channels, image_size, latent_dim, hidden, enc_out=2 * latent_dim)

    def encode(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """x: (B, C, H, W) -> (mu, logvar), each (B, L)."""
        h = self._encode_features(x)
        mu, logvar = h.chunk(2, dim=1)
        return mu, logvar

    def forward(self, x: torch.Tensor) -> VAEOutput:
        from .losses import reparameterize

        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar)
        return VAEOutput(self.decode(z), mu, logvar, z)

    @torch.no_grad()
    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Decode ``n`` draws from the prior N(0, I): returns pixel probabilities (n, C, H, W) in [0, 1]."""
        n = _positive_int(n, "n", "VAE.sample")
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator, device=device if generator is None else generator.device)
        return torch.sigmoid(self.decode(z.to(device)))


# --------------------------------------------------------------------------------------------------------------
# Notebook 04 on: convolutional encoder/decoder with a spatial latent grid (van den Oord et al. 2017)
# --------------------------------------------------------------------------------------------------------------
class ResidualBlock(nn.Module):
    """``x + Conv1x1(ReLU(Conv3x3(ReLU(x))))`` (the VQ-VAE paper's residual block). (B, C, H, W) -> same shape."""

    def __init__(self, channels: int, hidden: Optional[int] = None):
        super().__init__()
        channels = _positive_int(channels, "channels", "ResidualBlock")
        hidden = channels if hidden is None else _positive_int(hidden, "hidden", "ResidualBlock")
        self.channels = channels
        self.block = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, hidden, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images(x, self.channels, "ResidualBlock")
        return x + self.block(x)


class ConvEncoder(nn.Module):
    """(B, in_channels, H, W) -> (B, out_channels, H / 2**downsamples, W / 2**downsamples).

    ``downsamples`` stride-2 4x4 convolutions (ReLU between), a 3x3 convolution and ReLU, ``res_blocks`` residual blocks
    (inner width ``res_hidden``, default ``hidden``), ReLU, and a 1x1 convolution to ``out_channels``.
    ``out_channels=None`` stops after that ReLU (``hidden`` channels out): :class:`VQVAE` does this and applies its
    own 1x1 ``pre_quant`` convolution, so that no two 1x1 convolutions follow each other without a nonlinearity.
    H and W must be divisible by ``2**downsamples``.
    """

    def __init__(self, in_channels: int = 1, hidden: int = 64, out_channels: Optional[int] = 64, downsamples: int = 2,
                 res_blocks: int = 2, res_hidden: Optional[int] = None):
        super().__init__()
        who = "ConvEncoder"
        self.in_channels = _positive_int(in_channels, "in_channels", who)
        hidden = _positive_int(hidden, "hidden", who)
        self.out_channels = hidden if out_channels is None else _positive_int(out_channels, "out_channels", who)
        self.downsamples = _positive_int(downsamples, "downsamples", who, minimum=0)
        _positive_int(res_blocks, "res_blocks", who, minimum=0)
        layers = []
        c = in_channels
        for _ in range(downsamples):
            layers += [nn.Conv2d(c, hidden, 4, stride=2, padding=1), nn.ReLU()]
            c = hidden
        layers += [nn.Conv2d(c, hidden, 3, padding=1), nn.ReLU()]
        layers += [ResidualBlock(hidden, res_hidden) for _ in range(res_blocks)]
        layers.append(nn.ReLU())
        if out_channels is not None:
            layers.append(nn.Conv2d(hidden, out_channels, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images(x, self.in_channels, "ConvEncoder", multiple=2**self.downsamples)
        return self.net(x)


class ConvDecoder(nn.Module):
    """(B, in_channels, h, w) -> (B, out_channels, h * 2**upsamples, w * 2**upsamples), the inverse of ConvEncoder.

    A 3x3 convolution, ``res_blocks`` residual blocks (inner width ``res_hidden``, default ``hidden``), ReLU, then
    ``upsamples`` stride-2 4x4 transposed convolutions (ReLU between). The output is **unbounded** (no sigmoid): it
    is in pixel space, so train with MSE/L1 against the data and clamp to [0, 1] for display.
    """

    def __init__(self, in_channels: int = 64, hidden: int = 64, out_channels: int = 1, upsamples: int = 2, res_blocks: int = 2,
                 res_hidden: Optional[int] = None):
        super().__init__()
        who = "ConvDecoder"
        self.in_channels = _positive_int(in_channels, "in_channels", who)
        hidden = _positive_int(hidden, "hidden", who)
        self.out_channels = _positive_int(out_channels, "out_channels", who)
        self.upsamples = _positive_int(upsamples, "upsamples", who, minimum=0)
        _positive_int(res_blocks, "res_blocks", who, minimum=0)
        layers = [nn.Conv2d(in_channels, hidden, 3, padding=1)]
        layers += [ResidualBlock(hidden, res_hidden) for _ in range(res_blocks)]
        layers.append(nn.ReLU())
        for i in range(upsamples):
            last = i == upsamples - 1
            layers.append(nn.ConvTranspose2d(hidden, out_channels if last else hidden, 4, stride=2, padding=1))
            if not last:
                layers.append(nn.ReLU())
        if upsamples == 0:
            layers.append(nn.Conv2d(hidden, out_channels, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        _check_images(z, self.in_channels, "ConvDecoder")
        return self.net(z)


class VQVAEOutput(NamedTuple):
    x_hat: torch.Tensor  # (B, C, H, W) reconstruction in pixel space (unbounded)
    z_e: torch.Tensor  # (B, D, h, w) encoder output before quantization
    vq: object  # the quantizer's output: .z_q (B, D, h, w), .indices (B, h, w), .loss (scalar)


class VQVAE(nn.Module):
    """VQ-VAE (van den Oord et al. 2017, arXiv:1711.00937): ConvEncoder -> 1x1 conv to D -> quantizer -> ConvDecoder.

    The layout is that of DeepMind's Sonnet VQ-VAE example (``examples/vqvae_example.ipynb`` in
    google-deepmind/sonnet), which adds to the paper's encoder (two stride-2 4x4 convolutions, two residual blocks)
    a 3x3 convolution before the residual blocks and a 1x1 "pre-quantization" convolution to D channels
    (``pre_quant``, Sonnet's ``pre_vq_conv1``). Differences from Sonnet's example: its first encoder convolution
    and first decoder transposed convolution have ``hidden // 2`` channels (here ``hidden``); its EMA averages start
    at zero and are debiased (here ``N_k = 1, m_k = e_k``, no debiasing); its codebook starts from
    ``VarianceScaling(distribution="uniform")``, U(-0.22, 0.22) for D = 64 (here U(-1/K, 1/K)).

    Args:
        quantizer: a module with ``code_dim``, ``num_codes``, ``__call__(z (B, D, h, w))`` returning an object with
            ``.z_q``, ``.indices``, ``.loss``, and ``lookup(indices (B, h, w)) -> (B, D, h, w)``
            (e.g. :class:`course_lib.quantize.VectorQuantizer`).
        in_channels: image channels C. hidden: width of encoder and decoder. downsamples: the latent grid is
            ``H / 2**downsamples``. res_blocks: residual blocks in encoder and decoder. res_hidden: inner width of
            the residual blocks (default ``hidden``; Sonnet's example uses 32 with ``hidden = 128``).

    ``forward(x) -> VQVAEOutput(x_hat, z_e, vq)``; a typical loss is ``mse(x_hat, x) + vq.loss`` (the Sonnet
    example divides the MSE by the data variance). ``x_hat`` is in pixel space and unbounded (clamp to [0, 1]).

    Warning: the quantizer runs in the model's mode. In train mode an EMA quantizer
    (:class:`course_lib.quantize.EMAVectorQuantizer`) updates its codebook on every call, so ``forward`` and
    :meth:`encode` on evaluation data change the codebook, and k-means initialisation or dead-code restarts can fire
    too. Call ``model.eval()`` before encoding anything you only want to look at.
    """

    def __init__(self, quantizer: nn.Module, in_channels: int = 1, hidden: int = 64, downsamples: int = 2, res_blocks: int = 2,
                 res_hidden: Optional[int] = None):
        super().__init__()
        code_dim = getattr(quantizer, "code_dim", None)
        if not isinstance(code_dim, int):
            raise TypeError(
                "VQVAE needs a quantizer with an integer attribute `code_dim` (e.g. course_lib.quantize.VectorQuantizer), "
                f"got {type(quantizer).__name__}"
            )
        self.in_channels = _positive_int(in_channels, "in_channels", "VQVAE")
        self.downsamples = _positive_int(downsamples, "downsamples", "VQVAE", minimum=0)
        self.encoder = ConvEncoder(in_channels, hidden, None, downsamples, res_blocks, res_hidden)  # ends in a ReLU
        self.pre_quant = nn.Conv2d(hidden, code_dim, 1)
        self.quantizer = quantizer
        self.decoder = ConvDecoder(code_dim, hidden, in_channels, downsamples, res_blocks, res_hidden)

    @property
    def code_dim(self) -> int:
        return self.quantizer.code_dim

    def encode_continuous(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) -> z_e: (B, D, h, w), the encoder output before quantization."""
        _check_images(x, self.in_channels, "VQVAE", multiple=2**self.downsamples)
        return self.pre_quant(self.encoder(x))

    def forward(self, x: torch.Tensor) -> VQVAEOutput:
        z_e = self.encode_continuous(x)
        vq = self.quantizer(z_e)
        return VQVAEOutput(self.decoder(vq.z_q), z_e, vq)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) -> code indices (B, h, w), int64. In train mode this also trains an EMA codebook (see the
        class docstring): call ``model.eval()`` first."""
        return self.quantizer(self.encode_continuous(x)).indices

    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """indices: (B, h, w) int64 -> x_hat (B, C, H, W) in pixel space (unbounded)."""
        if not isinstance(indices, torch.Tensor) or indices.ndim != 3:
            shape = tuple(indices.shape) if isinstance(indices, torch.Tensor) else type(indices).__name__
            raise ValueError(f"VQVAE.decode_indices expects indices of shape (B, h, w), got {shape}")
        if indices.dtype.is_floating_point:
            raise TypeError(f"VQVAE.decode_indices expects integer indices, got {indices.dtype}")
        return self.decoder(self.quantizer.lookup(indices.long()))

    def latent_shape(self, image_size: Union[int, Sequence[int]]) -> Tuple[int, int]:
        """The latent grid (h, w) for images of ``image_size`` (an int or (H, W))."""
        H, W = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        f = 2**self.downsamples
        if H % f or W % f:
            raise ValueError(f"VQVAE.latent_shape: image size {H}x{W} is not divisible by 2**downsamples = {f}")
        return H // f, W // f


class VQFromFunctions(EMAVectorQuantizer):
    """An EMA quantizer whose forward pass is two plain functions, so that notebook 04 trains its VQ-VAE with the
    student's own code (section 3's ``vq_layer`` and section 4's ``ema_update``)::

        layer(z (B, D, h, w), codebook (K, D), beta) -> (z_q (B, D, h, w), indices (B, h, w), loss)
        ema_update(cluster_size, embed_sum, z (N, D), indices (N,), decay, eps) -> (cluster_size, embed_sum, codebook)

    Same buffers, start and state dict as :class:`course_lib.quantize.EMAVectorQuantizer` (a checkpoint of one
    loads into the other), and the same training: the codebook is a buffer, so the codebook term of ``layer``'s loss
    has no gradient and only ``beta * commitment`` trains the encoder; in training mode ``ema_update`` runs after the
    lookup (as in Sonnet), in eval mode the codebook does not move. ``layer`` gets a copy of the codebook, so it may
    keep references to it. ``lookup`` and ``codebook`` are inherited, so ``VQVAE.decode_indices`` works.
    """

    def __init__(self, layer: Callable, ema_update: Callable, num_codes: int = 512, code_dim: int = 64,
                 beta: float = 0.25, decay: float = 0.99, eps: float = 1e-5):
        if not callable(layer) or not callable(ema_update):
            raise TypeError("VQFromFunctions(layer, ema_update, ...) needs two functions: layer(z, codebook, beta) "
                            "and ema_update(cluster_size, embed_sum, z, indices, decay, eps)")
        super().__init__(num_codes, code_dim, beta, decay=decay, eps=eps)
        self.layer, self.ema_fn = layer, ema_update

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        if not isinstance(z, torch.Tensor) or z.dim() != 4 or z.shape[1] != self.code_dim:
            shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"VQFromFunctions expects z of shape (B, {self.code_dim}, h, w), got {shape}")
        out = self.layer(z, self.embed.clone(), self.beta)
        z_q, indices, loss = (out.z_q, out.indices, out.loss) if hasattr(out, "z_q") else out
        indices = torch.as_tensor(indices).long().reshape(z.shape[0], *z.shape[2:])  # (B, h, w)
        flat = z.detach().permute(0, 2, 3, 1).reshape(-1, self.code_dim).to(self.embed.dtype)  # (N, D)
        with torch.no_grad():
            codebook_loss = F.mse_loss(self.embed[indices.reshape(-1)], flat)
            if self.training:  # after the lookup: this step's z_q used the codes from before the update
                size, total, codes = self.ema_fn(self.cluster_size.clone(), self.embed_sum.clone(), flat,
                                                 indices.reshape(-1), self.decay, self.eps)
                for buffer, new in ((self.cluster_size, size), (self.embed_sum, total), (self.embed, codes)):
                    buffer.copy_(torch.as_tensor(new).to(buffer.dtype))
            p = torch.bincount(indices.reshape(-1), minlength=self.num_codes).float()
            p = p / p.sum().clamp_min(1.0)
            perplexity = torch.exp(-torch.special.xlogy(p, p).sum())
        return QuantizerOutput(z_q, indices, torch.as_tensor(loss).reshape(()), codebook_loss,
                               self.beta * codebook_loss, perplexity)

    def extra_repr(self) -> str:
        name = lambda f: getattr(f, "__name__", type(f).__name__)
        return super().extra_repr() + f", layer={name(self.layer)}, ema_update={name(self.ema_fn)}"
