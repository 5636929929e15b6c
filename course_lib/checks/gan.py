"""Checks for notebook 08 (adversarial training): hinge losses, the adaptive weight, the receptive field.

Each check compares the student's function with :mod:`course_lib.gan` on random inputs and, when it differs,
names the mistake it recognises (relu in the wrong place, sign flipped, lambda not detached, ...).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import CheckFailed, call_student, check_function, passed
from .. import gan

__all__ = ["check_hinge_d_loss", "check_hinge_g_loss", "check_adaptive_weight", "check_receptive_field"]


def _logits(seed: int):
    g = torch.Generator().manual_seed(seed)
    # spread over [-3, 3] so that every branch of the hinge is exercised
    return (3 * torch.randn(4, 1, 3, 3, generator=g), 3 * torch.randn(4, 1, 3, 3, generator=g))


def check_hinge_d_loss(student_fn: Callable) -> None:
    """student_fn(logits_real, logits_fake) -> scalar = 0.5 * (mean relu(1 - real) + mean relu(1 + fake))."""
    check_function(
        student_fn, gan.hinge_d_loss, _logits, name="hinge_d_loss",
        mistakes={
            "the signs are swapped: real logits should be pushed UP (relu(1 - real)) and fake ones DOWN "
            "(relu(1 + fake)).": lambda r, f: 0.5 * (F.relu(1 + r).mean() + F.relu(1 - f).mean()),
            "the relu is in the wrong place: it goes around the whole margin, relu(1 - real), "
            "not 1 - relu(real).": lambda r, f: 0.5 * ((1 - F.relu(r)).mean() + (1 + F.relu(f)).mean()),
            "the relu is missing: without it the loss keeps rewarding D for ever larger logits "
            "(that is not a hinge).": lambda r, f: 0.5 * ((1 - r).mean() + (1 + f).mean()),
            "the factor 0.5 is missing (taming-transformers averages the real and fake terms).":
                lambda r, f: F.relu(1 - r).mean() + F.relu(1 + f).mean(),
            "you used a margin of 0 (relu(-real)); the hinge margin is 1: relu(1 - real), relu(1 + fake).":
                lambda r, f: 0.5 * (F.relu(-r).mean() + F.relu(f).mean()),
        },
        success="hinge_d_loss matches 0.5 * (mean relu(1 - D(x)) + mean relu(1 + D(x_hat))).",
    )


def check_hinge_g_loss(student_fn: Callable) -> None:
    """student_fn(logits_fake) -> scalar = -mean(logits_fake)."""
    check_function(
        student_fn, gan.hinge_g_loss, lambda s: (_logits(s)[1],), name="hinge_g_loss",
        mistakes={
            "the sign is flipped: the generator wants D(x_hat) LARGE, so it minimises -mean D(x_hat).":
                lambda f: f.mean(),
            "the generator loss has no relu: with relu(1 - D(x_hat)) the generator stops improving fakes that D "
            "already rates above 1. taming-transformers uses plain -mean D(x_hat).":
                lambda f: F.relu(1 - f).mean(),
            "you used the non-saturating loss softplus(-D(x_hat)); this exercise asks for the hinge version.":
                lambda f: F.softplus(-f).mean(),
        },
        success="hinge_g_loss = -mean D(x_hat).",
    )


def _adaptive_problem(seed: int, gan_scale: float = 0.03, rec_scale: float = 1.0):
    """A small decoder head, a reconstruction loss and a 'GAN' loss that both depend on its last layer.
    gan_scale sets the size of the GAN gradient (small enough by default that delta = 1e-4 matters)."""
    g = torch.Generator().manual_seed(seed)
    last = nn.Conv2d(4, 3, 3, padding=1)
    with torch.no_grad():
        for p in last.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
    h = torch.randn(2, 4, 6, 6, generator=g)
    x = torch.rand(2, 3, 6, 6, generator=g)
    x_hat = last(h)
    rec = rec_scale * (x_hat - x).abs().mean() * (1 + seed)
    d_map = torch.randn(1, 3, 6, 6, generator=g)
    g_loss = -gan_scale * (1 + seed) * (x_hat * d_map).mean()
    return rec, g_loss, last.weight


def _call_adaptive(student_fn: Callable, name: str, problem) -> torch.Tensor:
    rec, g_loss, w = problem
    try:
        got = call_student(student_fn, rec, g_loss, w, name=name)
    except CheckFailed as failed:
        exc = failed.__cause__
        if isinstance(exc, RuntimeError) and ("second time" in str(exc) or "freed" in str(exc)):
            raise CheckFailed(f"{name}: the second torch.autograd.grad call failed because the first one freed "
                              "the graph: pass retain_graph=True to both calls (the total loss is "
                              "backpropagated afterwards too).") from exc
        raise
    if not isinstance(got, torch.Tensor):
        raise CheckFailed(f"{name} should return a scalar tensor, got {type(got).__name__}.")
    if got.numel() != 1:
        raise CheckFailed(f"{name} should return a scalar (one number), got shape {tuple(got.shape)}: "
                          "take the norm of the WHOLE gradient tensor (torch.linalg.vector_norm or .norm()).")
    if got.requires_grad:
        raise CheckFailed(f"{name}: the result still requires grad. Return lambda.detach(): lambda is a "
                          "weight, not something to optimise -- otherwise backward differentiates the ratio "
                          "of gradient norms too (Esser et al. detach it).")
    return got


def check_adaptive_weight(student_fn: Callable) -> None:
    """student_fn(rec_loss, g_loss, last_layer_weight, delta=1e-4, max_weight=1e4) -> detached scalar tensor."""
    name = "adaptive_weight"
    for seed in range(3):
        rec, g_loss, w = problem = _adaptive_problem(seed)
        expected = gan.adaptive_weight(rec, g_loss, w)
        got = _call_adaptive(student_fn, name, problem)
        gv, ev = float(got), float(expected)
        if not abs(gv - ev) <= 1e-4 * abs(ev) + 1e-6:
            gr = torch.autograd.grad(rec, w, retain_graph=True)[0].norm().item()
            gg = torch.autograd.grad(g_loss, w, retain_graph=True)[0].norm().item()
            candidates = {
                "the ratio is upside down: lambda = ||grad rec|| / (||grad gan|| + delta), the reconstruction "
                "gradient on top.": gg / (gr + 1e-4),
                "you divided the LOSS VALUES, not the norms of their gradients at the last layer: use "
                "torch.autograd.grad(loss, last_layer_weight, retain_graph=True)[0].norm().":
                    abs(rec.item()) / (abs(g_loss.item()) + 1e-4),
                "delta is missing: lambda = ||grad rec|| / (||grad gan|| + delta) with delta = 1e-4 keeps the "
                "ratio finite when the GAN gradient vanishes.": gr / gg,
                "delta goes in the denominator only, added to the GAN gradient norm: "
                "||grad rec|| / (||grad gan|| + delta).": (gr + 1e-4) / (gg + 1e-4),
                "you used squared norms; use the plain L2 norms of the gradients.": gr ** 2 / (gg ** 2 + 1e-4),
            }
            for hint, value in candidates.items():
                if abs(gv - value) <= 1e-5 * abs(value) + 1e-7:
                    raise CheckFailed(f"{name}: {hint}")
            raise CheckFailed(f"{name} returned {gv:.6g}, expected {ev:.6g} (random problem #{seed}). "
                              "Compare with lambda = ||grad_L rec|| / (||grad_L gan|| + delta).")
        # the graph must survive, so the total loss can still be backpropagated
        try:
            (rec + got * g_loss).backward()
        except RuntimeError as exc:
            raise CheckFailed(f"{name}: after your function the graph is gone ({exc}). Use retain_graph=True in "
                              "torch.autograd.grad: the training step still calls backward on the total loss.") from None
    # the dangerous cases: a GAN gradient of ~0; (a) delta bounds lambda, (b) the clamp bounds it
    for rec_scale in (1.0, 100.0):
        rec, g_loss, w = problem = _adaptive_problem(0, gan_scale=1e-12, rec_scale=rec_scale)
        expected = float(gan.adaptive_weight(rec, g_loss, w))
        gv = float(_call_adaptive(student_fn, name, problem))
        if not torch.isfinite(torch.as_tensor(gv)):
            raise CheckFailed(f"{name}: with a GAN gradient of ~0 you return {gv}: add delta (1e-4) to the "
                              "denominator and clamp the result to [0, max_weight].")
        if gv > 1e4 * (1 + 1e-6):
            raise CheckFailed(f"{name}: with a near-zero GAN gradient you return lambda = {gv:.3g}; clamp it to "
                              "max_weight (1e4), e.g. torch.clamp(lam, 0.0, max_weight), or the generator step "
                              "explodes.")
        if abs(gv - 1e4) < 1 and expected < 0.99e4:
            raise CheckFailed(f"{name}: with a near-zero GAN gradient you return the clamp value 1e4, expected "
                              f"{expected:.6g} = ||grad rec|| / delta: the delta (1e-4) is missing from the "
                              "denominator.")
        if abs(gv - expected) > 1e-3 * expected:
            raise CheckFailed(f"{name}: with a near-zero GAN gradient you return {gv:.6g}, expected "
                              f"{expected:.6g}.")
    passed(f"{name} = ||grad rec|| / (||grad gan|| + delta), clamped and detached.")


def check_receptive_field(student_fn: Callable) -> None:
    """student_fn(layers: list of (kernel, stride)) -> int, the receptive field side in input pixels."""

    def make(seed: int):
        g = torch.Generator().manual_seed(seed)
        n = 3 + seed
        ks = torch.randint(2, 6, (n,), generator=g).tolist()
        ss = torch.randint(1, 3, (n,), generator=g).tolist()
        ss[0] = 2  # make sure strides matter
        if seed == 0:  # the PatchGAN of the papers: 70
            return ([(4, 2), (4, 2), (4, 2), (4, 1), (4, 1)],)
        return ([(int(k), int(s)) for k, s in zip(ks, ss)],)

    def after_update(layers):  # jump multiplied in before it is used: off by one stride product
        r, j = 1, 1
        for k, s in layers:
            j *= s
            r += (k - 1) * j
        return r

    def no_strides(layers):
        return 1 + sum(k - 1 for k, _ in layers)

    def all_strides(layers):  # every kernel multiplied by the product of ALL strides
        p = 1
        for _, s in layers:
            p *= s
        return 1 + sum(k - 1 for k, _ in layers) * p

    def kernel_times_jump(layers):  # k * jump instead of (k - 1) * jump
        r, j = 0, 1
        for k, s in layers:
            r += k * j
            j *= s
        return r

    def missing_one(layers):
        r, j = 0, 1
        for k, s in layers:
            r += (k - 1) * j
            j *= s
        return r

    check_function(
        student_fn, gan.receptive_field, make, name="receptive_field",
        mistakes={
            "you multiplied by the stride of the CURRENT layer too: layer i's kernel is spaced by the product of "
            "the strides BEFORE it (update the jump after adding (k - 1) * jump).": after_update,
            "the strides are ignored: a layer after a stride-2 layer sees twice as far, so add (k - 1) * "
            "(product of earlier strides).": no_strides,
            "you multiplied every kernel by the product of all strides; each layer gets only the product of "
            "the strides before it.": all_strides,
            "each layer adds (k - 1) * jump, not k * jump (a 3x3 conv on a 1-pixel field gives 3, not 4).":
                kernel_times_jump,
            "start from 1 (a single pixel sees itself): r = 1 + sum (k_i - 1) * jump_i.": missing_one,
        },
        trials=4,
        success="receptive_field = 1 + sum_i (k_i - 1) * prod_{j<i} s_j (70 for PatchGAN).",
    )
