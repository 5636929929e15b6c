"""VQ-GAN losses: :class:`VQGANLoss` (generator and discriminator objectives) and :func:`make_loss_fn`, one training
step's losses for :func:`course_lib.train.fit`.

Part of :mod:`course_lib.vqgan` (import from there: ``from course_lib.vqgan import VQGANLoss``)."""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

import torch
import torch.nn as nn

from .config import PRESETS, validate_config
from .distributed import _unwrap

__all__ = ["VQGANLoss", "make_loss_fn", "perceptual_note"]


# ----------------------------------------------------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------------------------------------------------
class VQGANLoss(nn.Module):
    """The two objectives of VQ-GAN training, with the discriminator and the perceptual network it needs.

    Generator (encoder + quantizer + decoder) minimises::

        L_G = l1_weight * |x - x_hat|_1 + perceptual_weight * LPIPS(x, x_hat) + codebook_weight * L_quantizer
              + [step >= disc_start] * disc_weight * lambda * hinge_g(D(x_hat))

    with the adaptive weight ``lambda = |grad_last L_rec| / (|grad_last L_adv| + delta)`` (clamped to
    ``[0, max_adaptive_weight]``, no gradient) computed at the decoder's last layer (Esser et al. 2021, eq. 7).
    Discriminator minimises ``hinge_d(D(x), D(sg[x_hat]))`` from ``disc_start`` on; it sees images only.

    For little data, two optional loss keys (off by default; see ``config.OPTIONAL_LOSS_KEYS``):
    ``"disc_spectral_norm": True`` (spectral norm on every discriminator conv) and ``"diff_augment": "color,translation,
    cutout"`` (DiffAugment: D sees ``T(x)`` and ``T(x_hat)`` in both steps, see :meth:`disc_input`).

    ``loss.perceptual`` (a :class:`course_lib.perceptual.PerceptualLoss`) and ``loss.discriminator``
    (a :class:`course_lib.gan.PatchDiscriminator`) are submodules; ``backend`` says which perceptual network ran.
    """

    def __init__(self, config: Mapping[str, Any], in_channels: Optional[int] = None, perceptual: Optional[nn.Module] = None):
        super().__init__()
        from .. import gan

        validate_config(config)
        lc = dict(PRESETS["quick"]["loss"])
        lc.update(config.get("loss", {}))
        self.lcfg = lc
        in_channels = int(config["model"].get("in_channels", 3)) if in_channels is None else in_channels
        self.l1_weight = float(lc["l1_weight"])
        self.perceptual_weight = float(lc["perceptual_weight"])
        self.codebook_weight = float(lc["codebook_weight"])
        self.disc_weight = float(lc["disc_weight"])
        self.disc_start = int(lc["disc_start"])
        self.delta = float(lc["adaptive_delta"])
        self.max_weight = float(lc["max_adaptive_weight"])
        self.diff_augment = str(lc.get("diff_augment", "") or "")
        self.discriminator = gan.PatchDiscriminator(**_disc_kwargs(gan.PatchDiscriminator, in_channels, lc))
        if perceptual is None and self.perceptual_weight > 0:
            from ..perceptual import PerceptualLoss

            perceptual = PerceptualLoss(backend=lc.get("perceptual_backend", "auto"))
        self.perceptual = perceptual
        if self.perceptual is not None:
            self.perceptual.requires_grad_(False).eval()

    @property
    def backend(self) -> str:
        p = self.perceptual
        return str(getattr(p, "backend_name", getattr(p, "backend", type(p).__name__))) if p is not None else "none"

    def train(self, mode: bool = True):
        super().train(mode)
        if self.perceptual is not None:
            self.perceptual.eval()  # a frozen feature network stays in eval mode
        return self

    def disc_input(self, images: torch.Tensor) -> torch.Tensor:
        """What the discriminator sees: ``images``, or their DiffAugment copies when ``loss.diff_augment`` names a
        policy (one independent random draw per image; the same transforms for reals and fakes, in both steps)."""
        if not self.diff_augment:
            return images
        from ..augment import diff_augment

        return diff_augment(images, self.diff_augment)

    def disc_active(self, step: int) -> bool:
        return self.disc_weight > 0 and step >= self.disc_start

    def perceptual_distance(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """Mean perceptual distance, computed in float32 (a half-precision sqrt/normalisation can turn into NaN).

        ``x_hat`` is NOT clamped to [0, 1] first (taming's ``vqperceptual.py`` does not clamp either): a clamp would
        zero the perceptual gradient of every pixel outside [0, 1], just where the decoder needs to be pulled back."""
        if self.perceptual is None:
            return x.new_zeros(())
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.perceptual(x_hat.float(), x.float()).mean()

    def generator_loss(
        self,
        x: torch.Tensor,
        x_hat: torch.Tensor,
        quantizer_loss: torch.Tensor,
        step: int,
        last_layer: Optional[torch.Tensor],
        discriminator: Optional[nn.Module] = None,
    ) -> Dict[str, torch.Tensor]:
        """The generator's loss terms; ``"gen"`` is the total to minimise. ``discriminator`` defaults to
        ``self.discriminator`` (under DDP pass the *unwrapped* module, so this step does not sync its gradients).
        The discriminator's parameters get no gradient from this loss."""
        from .. import gan

        x_hat32 = x_hat.float()
        l1 = (x.float() - x_hat32).abs().mean()
        perc = self.perceptual_distance(x, x_hat) if self.perceptual_weight > 0 else x_hat32.new_zeros(())
        rec = self.l1_weight * l1 + self.perceptual_weight * perc
        out: Dict[str, torch.Tensor] = {"l1": l1.detach(), "perceptual": perc.detach(), "q": quantizer_loss.detach()}
        total = rec + self.codebook_weight * quantizer_loss
        if self.disc_active(step):
            disc = self.discriminator if discriminator is None else discriminator
            gan.set_requires_grad(disc, False)
            try:
                g_loss = gan.hinge_g_loss(disc(self.disc_input(x_hat)))
            finally:
                gan.set_requires_grad(disc, True)
            if last_layer is not None and torch.is_grad_enabled():
                d_weight = gan.adaptive_weight(rec, g_loss, last_layer, delta=self.delta, max_weight=self.max_weight)
            else:
                d_weight = torch.tensor(1.0, device=x.device)
            d_weight = torch.as_tensor(d_weight, device=x.device).detach()
            total = total + self.disc_weight * d_weight * g_loss
            out["g_adv"] = g_loss.detach()
            out["adaptive_weight"] = d_weight
        out["gen"] = total
        return out

    def discriminator_loss(self, x: torch.Tensor, x_hat: torch.Tensor, step: int,
                           discriminator: Optional[nn.Module] = None) -> Dict[str, Optional[torch.Tensor]]:
        """Hinge loss on real ``x`` and DETACHED reconstructions ``x_hat``; ``"disc"`` is None before ``disc_start``.

        Real and fake go through the discriminator in one batch (one forward: required by DDP)."""
        from .. import gan

        if not self.disc_active(step):
            return {"disc": None}
        disc = self.discriminator if discriminator is None else discriminator
        n = x.shape[0]
        logits = disc(self.disc_input(torch.cat([x, x_hat.detach().to(x.dtype)], dim=0)))
        logits_real, logits_fake = logits[:n], logits[n:]
        d_loss = gan.hinge_d_loss(logits_real, logits_fake)
        return {
            "disc": d_loss,
            "logits_real": logits_real.detach().float().mean(),
            "logits_fake": logits_fake.detach().float().mean(),
        }


def _disc_kwargs(cls, in_channels: int, lc: Mapping[str, Any]) -> Dict[str, Any]:
    """Map our config names onto PatchDiscriminator's constructor, whatever its argument names are."""
    import inspect

    params = inspect.signature(cls).parameters
    kw: Dict[str, Any] = {}
    for names, value in (
        (("in_channels", "input_nc", "channels"), in_channels),
        (("base", "ch", "ndf", "base_channels", "width"), int(lc["disc_ch"])),
        (("n_layers", "num_layers", "layers"), int(lc["disc_layers"])),
        (("norm",), str(lc.get("disc_norm", "group"))),
        (("spectral_norm",), bool(lc.get("disc_spectral_norm", False))),
    ):
        for nm in names:
            if nm in params:
                kw[nm] = value
                break
    return kw


def make_loss_fn(model: nn.Module, loss: VQGANLoss, discriminator: Optional[nn.Module] = None):
    """``loss_fn(batch, step)`` for :func:`course_lib.train.fit` with ``optimizer={"gen": opt_g, "disc": opt_d}``.

    ``model`` may be a DDP-wrapped :class:`VQGAN`; ``discriminator`` defaults to ``loss.discriminator`` (pass the
    DDP-wrapped one under torchrun). The generator's adversarial term uses the unwrapped discriminator with its
    parameters frozen; the discriminator's loss sees real images and DETACHED reconstructions. Under DDP the
    quantizer keeps its codebook identical on every rank itself (``sync_ranks``, see :mod:`course_lib.vqgan.distributed`):
    nothing is broadcast here."""
    disc = loss.discriminator if discriminator is None else discriminator

    def loss_fn(batch, step: int) -> Dict[str, Any]:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        x_hat, q = model(x)
        out: Dict[str, Any] = dict(loss.generator_loss(x, x_hat, q.loss, step, _unwrap(model).last_layer,
                                                       discriminator=_unwrap(disc)))
        out.update(loss.discriminator_loss(x, x_hat, step, discriminator=disc))
        return out

    return loss_fn


def perceptual_note(perceptual: Optional[nn.Module]) -> str:
    """One sentence, in words, saying which perceptual network a :class:`VQGANLoss` uses (build the network once and
    pass it to every ``VQGANLoss(cfg, perceptual=...)``, so the note is printed once per notebook)."""
    import importlib.util

    name = getattr(perceptual, "backend_name", None)
    if perceptual is None:
        return "No perceptual network (perceptual_weight is 0)."
    if name == "lpips-vgg":
        return "Perceptual network: LPIPS-VGG (the lpips package, ImageNet VGG-16 features; Zhang et al. 2018)."
    if name == "course":
        why = ("the lpips package is not installed" if importlib.util.find_spec("lpips") is None
               else "the lpips package is installed, but its ImageNet VGG weights could not be loaded (offline?)")
        return ("Perceptual network: the course feature net, a small Fashion-MNIST classifier standing in for "
                f"LPIPS-VGG ({why}).")
    return f"Perceptual network: {type(perceptual).__name__}."
