"""VQ-GAN: a convolutional autoencoder with a discrete bottleneck, trained with L1 + perceptual + adversarial losses.

Follows the first stage of Esser, Rombach & Ommer 2021, "Taming Transformers for High-Resolution Image Synthesis"
(arXiv:2012.09841), written from scratch for this course:

* :class:`ResnetBlock` -- GroupNorm -> SiLU -> 3x3 conv, twice (dropout before the second conv), plus a skip
  (1x1 conv where the channel count changes).
* :class:`AttnBlock` -- single-head self-attention over all H*W positions (Vaswani et al. 2017, arXiv:1706.03762),
  used only at the lowest resolutions, where H*W is small.
* :class:`Downsample` / :class:`Upsample` -- stride-2 conv / nearest-neighbour x2 followed by a 3x3 conv.
* :class:`Encoder` / :class:`Decoder` -- a stack of levels with channel multipliers ``ch * ch_mult[i]``; every level but
  the last halves (encoder) or doubles (decoder) the resolution, so the latent grid is ``resolution / 2**(len(ch_mult)-1)``.
* :class:`VQGAN` -- encoder -> ``quant_conv`` (1x1, to the code dimension) -> quantizer -> ``post_quant_conv`` -> decoder.
  The presets' quantizer (l2-normalised low-dimensional codes, EMA codebook, dead-code restarts) is the COURSE's choice,
  combining later work (Yu et al. 2021 "ViT-VQGAN", arXiv:2110.04627, sec. 3.2; EMA: van den Oord et al. 2017 app. A.1
  and Razavi et al. 2019; restarts: notebook 05). taming-transformers itself trains a plain nn.Embedding codebook by
  gradients with the codebook + beta * commitment loss (``taming/modules/vqvae/quantize.py``, VectorQuantizer2).
* :class:`VQGANLoss` -- the generator loss (L1 + perceptual + quantizer loss + adaptive-weighted hinge adversarial
  after a warm-up step) and the discriminator loss on real images and *detached* reconstructions. The discriminator
  only ever sees images; it never sees codes.

Shapes: images ``x`` are ``(B, C, H, W)`` in ``[0, 1]``; indices are ``(B, h, w)`` int64 with ``h = H / 2**n_down``.

The package is split by concern (import everything from ``course_lib.vqgan``; the submodules are an implementation
detail): :mod:`.config` (presets, :func:`vqgan_config`, :func:`validate_config`), :mod:`.model` (the architecture and
the quantizer choice), :mod:`.loss` (:class:`VQGANLoss`, :func:`make_loss_fn`), :mod:`.distributed`
(DDP settings and the replica check), :mod:`.evaluate` (reconstructions in eval mode, fidelity measures) and
:mod:`.ablation` (notebook 11's loss ablation: the arms, their training, the run identity a checkpoint keeps).

Example::

    cfg = vqgan_config("quick")                 # a dict of primitives (storable in a checkpoint)
    model = VQGAN(cfg)
    x_hat, q = model(x)                          # q is the quantizer's QuantizerOutput (z_q, indices, loss, ...)
    idx = model.encode(x)                        # (B, h, w)
    x_again = model.decode_indices(idx)          # == x_hat (eval mode)
"""
from __future__ import annotations

from .config import OPTIONAL_LOSS_KEYS, PRESETS, bits_per_image, latent_size, validate_config, vqgan_config
from .distributed import ddp_kwargs, replica_hashes, state_hash, sync_quantizer
from .evaluate import colour_error, fidelity, judge_features, paired_distance, realism, reconstruct
from .plots import CURVE_TITLES, draw_training_curves
from .ablation import ARM_LOSS, ARMS, arm_config, arm_loss_fn, config_from_identity, run_identity, train_arm
from .loss import VQGANLoss, make_loss_fn, perceptual_note
from .model import (
    QUANTIZER_KINDS,
    VQGAN,
    AttnBlock,
    Decoder,
    Downsample,
    Encoder,
    Normalize,
    ResnetBlock,
    Upsample,
    build_quantizer,
)

__all__ = [
    "OPTIONAL_LOSS_KEYS",
    "PRESETS",
    "vqgan_config",
    "validate_config",
    "latent_size",
    "ResnetBlock",
    "AttnBlock",
    "Downsample",
    "Upsample",
    "Encoder",
    "Decoder",
    "QUANTIZER_KINDS",
    "build_quantizer",
    "VQGAN",
    "VQGANLoss",
    "bits_per_image",
    "make_loss_fn",
    "perceptual_note",
    "sync_quantizer",
    "ddp_kwargs",
    "replica_hashes",
    "state_hash",
    "reconstruct",
    "colour_error",
    "fidelity",
    "paired_distance",
    "judge_features",
    "realism",
    "ARMS",
    "ARM_LOSS",
    "arm_config",
    "arm_loss_fn",
    "run_identity",
    "config_from_identity",
    "train_arm",
    "CURVE_TITLES",
    "draw_training_curves",
]
