"""Checks for notebook 11 (VQ-GAN): the generator-side loss assembly and the discriminator step.

* :func:`check_generator_loss` -- ``student_fn(x, x_hat, q_loss, logits_fake, last_layer, step, disc_start,
  perceptual_fn, perceptual_weight, disc_weight)`` must return
  ``L1 + perceptual_weight * perceptual + q_loss + [step >= disc_start] * disc_weight * lambda * hinge_g``
  with ``lambda = course_lib.gan.adaptive_weight(rec, g_loss, last_layer)`` (rec = L1 + weighted perceptual),
  a constant (no gradient through lambda). Compared on values AND on gradients, before, at and after the warm-up;
  a ``.grad`` left on the decoder's parameters (lambda from ``.backward()``) is rejected, as notebook 09's
  ``adaptive_weight`` check rejects it.
* :func:`check_discriminator_loss` -- ``student_fn(disc, x, x_hat)`` must return the hinge loss on real images and
  DETACHED reconstructions: the decoder gets no gradient from it, the discriminator does.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import CheckFailed, call_student, passed, records_result
from .. import gan

__all__ = ["reference_generator_loss", "reference_discriminator_loss", "check_generator_loss", "check_discriminator_loss"]


# ----------------------------------------------------------------------------------------------------------------------
# References
# ----------------------------------------------------------------------------------------------------------------------
def reference_generator_loss(x, x_hat, q_loss, logits_fake, last_layer, step, disc_start, perceptual_fn,
                             perceptual_weight=1.0, disc_weight=0.5):
    rec = (x - x_hat).abs().mean() + perceptual_weight * perceptual_fn(x_hat, x).mean()
    total = rec + q_loss
    if step >= disc_start:
        g_loss = gan.hinge_g_loss(logits_fake)
        lam = gan.adaptive_weight(rec, g_loss, last_layer)
        total = total + disc_weight * lam * g_loss
    return total


def reference_discriminator_loss(disc, x, x_hat):
    return gan.hinge_d_loss(disc(x), disc(x_hat.detach()))


# ----------------------------------------------------------------------------------------------------------------------
# Known mistakes (each computes a plausible wrong answer)
# ----------------------------------------------------------------------------------------------------------------------
def _no_warmup(x, x_hat, q, lf, last, step, start, pf, pw=1.0, dw=0.5):
    return reference_generator_loss(x, x_hat, q, lf, last, step, -1, pf, pw, dw)


def _strict_gate(x, x_hat, q, lf, last, step, start, pf, pw=1.0, dw=0.5):
    return reference_generator_loss(x, x_hat, q, lf, last, step, start + 1, pf, pw, dw)


def _no_adaptive(x, x_hat, q, lf, last, step, start, pf, pw=1.0, dw=0.5):
    rec = (x - x_hat).abs().mean() + pw * pf(x_hat, x).mean()
    total = rec + q
    return total + dw * gan.hinge_g_loss(lf) if step >= start else total


def _lambda_from_l1_only(x, x_hat, q, lf, last, step, start, pf, pw=1.0, dw=0.5):
    l1 = (x - x_hat).abs().mean()
    total = l1 + pw * pf(x_hat, x).mean() + q
    if step >= start:
        g = gan.hinge_g_loss(lf)
        total = total + dw * gan.adaptive_weight(l1, g, last) * g
    return total


def _inverted_lambda(x, x_hat, q, lf, last, step, start, pf, pw=1.0, dw=0.5):
    rec = (x - x_hat).abs().mean() + pw * pf(x_hat, x).mean()
    total = rec + q
    if step >= start:
        g = gan.hinge_g_loss(lf)
        total = total + dw * gan.adaptive_weight(g, rec, last) * g
    return total


def _no_quantizer_loss(x, x_hat, q, lf, last, step, start, pf, pw=1.0, dw=0.5):
    return reference_generator_loss(x, x_hat, torch.zeros_like(q), lf, last, step, start, pf, pw, dw)


def _no_perceptual(x, x_hat, q, lf, last, step, start, pf, pw=1.0, dw=0.5):
    return reference_generator_loss(x, x_hat, q, lf, last, step, start, pf, 0.0, dw)


def _mse_not_l1(x, x_hat, q, lf, last, step, start, pf, pw=1.0, dw=0.5):
    rec = F.mse_loss(x_hat, x) + pw * pf(x_hat, x).mean()
    total = rec + q
    if step >= start:
        g = gan.hinge_g_loss(lf)
        total = total + dw * gan.adaptive_weight(rec, g, last) * g
    return total


def _d_loss_as_g(x, x_hat, q, lf, last, step, start, pf, pw=1.0, dw=0.5):
    rec = (x - x_hat).abs().mean() + pw * pf(x_hat, x).mean()
    total = rec + q
    if step >= start:
        g = F.relu(1.0 + lf).mean()
        total = total + dw * gan.adaptive_weight(rec, g, last) * g
    return total


def _lambda_not_detached(x, x_hat, q, lf, last, step, start, pf, pw=1.0, dw=0.5):
    rec = (x - x_hat).abs().mean() + pw * pf(x_hat, x).mean()
    total = rec + q
    if step >= start:
        g = gan.hinge_g_loss(lf)
        gr = torch.autograd.grad(rec, last, create_graph=True, retain_graph=True)[0]
        gg = torch.autograd.grad(g, last, create_graph=True, retain_graph=True)[0]
        lam = (gr.norm() / (gg.norm() + 1e-4)).clamp(0, 1e4)
        total = total + dw * lam * g
    return total


_GEN_MISTAKES: Dict[str, Callable] = {
    "the adversarial term is not scaled by the adaptive weight lambda = adaptive_weight(rec, g_loss, last_layer) "
    "(Esser et al. 2021, eq. 7).": _no_adaptive,
    "lambda must balance the WHOLE reconstruction loss (L1 + perceptual_weight * perceptual) against the GAN loss, "
    "not the L1 term alone.": _lambda_from_l1_only,
    "lambda is upside down: it is |grad rec| / |grad g_loss| (call adaptive_weight(rec, g_loss, last_layer)).":
        _inverted_lambda,
    "the adversarial term is on before the warm-up ends: multiply it by 0 (or skip it) while step < disc_start "
    "-- the autoencoder must learn to reconstruct before a discriminator judges it.": _no_warmup,
    "the warm-up gate is off by one: the adversarial term starts AT disc_start (step >= disc_start), "
    "as adopt_weight does.": _strict_gate,
    "the quantizer loss (codebook + commitment) is missing from the total.": _no_quantizer_loss,
    "the perceptual term is missing (or not weighted by perceptual_weight).": _no_perceptual,
    "VQ-GAN's pixel term is the L1 distance |x - x_hat| (mean), not the squared error.": _mse_not_l1,
    "the generator's adversarial loss is the hinge GENERATOR loss -mean D(x_hat) (gan.hinge_g_loss), not the "
    "discriminator's relu(1 + D(x_hat)).": _d_loss_as_g,
}


# ----------------------------------------------------------------------------------------------------------------------
# Problems
# ----------------------------------------------------------------------------------------------------------------------
class _TinyPerceptual(nn.Module):
    """A fixed random conv feature distance: cheap, differentiable, depends on every pixel."""

    def __init__(self, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(1000 + seed)
        self.w = nn.Parameter(0.5 * torch.randn(5, 3, 3, 3, generator=g), requires_grad=False)

    def forward(self, a, b):
        fa, fb = F.conv2d(a, self.w, padding=1), F.conv2d(b, self.w, padding=1)
        return (fa - fb).pow(2).flatten(1).mean(1)


def _gen_problem(seed: int, step_offset: int, disc_start: int = 5, perceptual_weight: Optional[float] = None,
                 disc_weight: Optional[float] = None, size: int = 8):
    """(the student's arguments, the tensors whose gradients are compared, every leaf that must not get a .grad)."""
    g = torch.Generator().manual_seed(seed)
    last = nn.Conv2d(4, 3, 3, padding=1)
    with torch.no_grad():
        for p in last.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
    h = torch.randn(2, 4, size, size, generator=g, requires_grad=True)
    x = torch.rand(2, 3, size, size, generator=g)
    x_hat = last(h)
    q_loss = (h.pow(2).mean() * 0.1 + 0.05 * (1 + seed))
    d_map = torch.randn(1, 3, size, size, generator=g)
    logits_fake = F.avg_pool2d(x_hat * d_map, 2).sum(1, keepdim=True) * (2.0 + seed)
    step = disc_start + step_offset
    pf = _TinyPerceptual(seed)
    pw, dw = (1.0, 0.5) if seed % 2 == 0 else (0.7, 0.8)
    pw = pw if perceptual_weight is None else float(perceptual_weight)
    dw = dw if disc_weight is None else float(disc_weight)
    return (x, x_hat, q_loss, logits_fake, last.weight, step, disc_start, pf, pw, dw), (last.weight, h), \
        (last.weight, last.bias, h)


_LEFT_GRAD = ("generator_loss left gradients in the .grad of the decoder's parameters (did you call .backward() to "
              "get the gradients for lambda, and read .grad?). They would be added to the generator's next update. "
              "Use gan.adaptive_weight(rec, g_loss, last_layer), or torch.autograd.grad(loss, last_layer, "
              "retain_graph=True)[0], which returns the gradient without writing .grad anywhere.")


def _value_and_grads(fn, seed, step_offset, student: bool = False, **problem):
    """The loss value (float64 scalar) and its gradients with respect to the decoder's last layer and the features
    before it (None without a graph). ``student=True``: ``fn`` is the student's -- a stub or a crash is reported by
    :func:`call_student`, a wrong return type or a ``.grad`` left behind by a :class:`CheckFailed` that says so."""
    args, wrt, leaves = _gen_problem(seed, step_offset, **problem)
    out = call_student(fn, *args, name="generator_loss") if student else fn(*args)
    if student:
        # same side-effect test as notebook 09's adaptive_weight check
        if any(t.grad is not None for t in leaves):
            raise CheckFailed(_LEFT_GRAD)
        if not isinstance(out, torch.Tensor):
            raise CheckFailed(f"generator_loss should return a scalar tensor that autograd can differentiate, got "
                              f"{type(out).__name__} (no .item(), no float(...): the training step calls backward on it).")
        if out.numel() != 1:
            raise CheckFailed(f"generator_loss should return ONE number (a scalar tensor), got shape "
                              f"{tuple(out.shape)}: take the mean over the batch of every term.")
    if not out.requires_grad:
        return out.detach().reshape(()).double(), None
    grads = torch.autograd.grad(out.reshape(()), wrt, allow_unused=True)
    return out.detach().reshape(()).double(), [torch.zeros_like(w) if g is None else g for g, w in zip(grads, wrt)]


def _close(a, b, atol=1e-5, rtol=1e-4) -> bool:
    """allclose in float64, so float32, float64 and numpy-scalar-derived tensors compare alike."""
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    return a.shape == b.shape and torch.allclose(a, b, atol=atol, rtol=rtol)


# ----------------------------------------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------------------------------------
@records_result
def check_generator_loss(student_fn: Callable, seeds=(0, 1, 2), disc_start: int = 5,
                         perceptual_weight: Optional[float] = None, disc_weight: Optional[float] = None,
                         size: int = 8) -> None:
    """Check the VQ-GAN generator loss: values and gradients before, at and after ``disc_start``.

    The hidden tests of notebook 11 call it again with other ``seeds``, ``disc_start``, weights and image ``size``."""
    if not callable(student_fn):
        raise CheckFailed(f"generator_loss: expected a function, got {type(student_fn).__name__}.")
    problem = dict(disc_start=int(disc_start), perceptual_weight=perceptual_weight, disc_weight=disc_weight,
                   size=int(size))
    for seed in ([seeds] if isinstance(seeds, int) else seeds):
        for offset in (-2, 0, 3):
            ref_v, ref_g = _value_and_grads(reference_generator_loss, seed, offset, **problem)
            got_v, got_g = _value_and_grads(student_fn, seed, offset, student=True, **problem)
            where = f"(step {disc_start + offset}, disc_start {disc_start})"
            if not _close(got_v, ref_v):
                for hint, wrong in _GEN_MISTAKES.items():
                    try:
                        wv, _ = _value_and_grads(wrong, seed, offset, **problem)
                    except Exception:
                        continue
                    if _close(got_v, wv):
                        raise CheckFailed(f"generator_loss {where}: {hint}")
                raise CheckFailed(f"generator_loss {where} returned {got_v.item():.6g}, expected {ref_v.item():.6g}. "
                                  "Total = L1 + perceptual_weight * perceptual + q_loss, plus (from disc_start on) "
                                  "disc_weight * lambda * hinge_g_loss(logits_fake).")
            if got_g is None:
                raise CheckFailed(f"generator_loss {where} has no gradient: build it from x_hat with autograd on "
                                  "(no .item(), no torch.no_grad(), no .detach() of the total).")
            names = ("the decoder's last layer", "the decoder features before it")
            for name, a, b in zip(names, got_g, ref_g):
                if not _close(a, b, atol=1e-5, rtol=1e-3):
                    if offset >= 0:
                        raise CheckFailed(
                            f"generator_loss {where}: the value is right but the gradient with respect to {name} is "
                            "not. Most likely lambda is not a constant: detach it (adaptive_weight already returns a "
                            "detached tensor) -- backward must not differentiate the ratio of gradient norms.")
                    raise CheckFailed(f"generator_loss {where}: the value is right but the gradient with respect to "
                                      f"{name} differs: did you detach part of the reconstruction loss?")
    passed("generator_loss = L1 + perceptual + quantizer loss + [step >= disc_start] * disc_weight * lambda * "
           "hinge_g, with a detached adaptive lambda (values and gradients match).")


class _TinyDisc(nn.Module):
    def __init__(self, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(2000 + seed)
        self.c1 = nn.Conv2d(3, 6, 3, stride=2, padding=1)
        self.c2 = nn.Conv2d(6, 1, 3, padding=1)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(0.6 * torch.randn(p.shape, generator=g))

    def forward(self, x):
        return self.c2(F.leaky_relu(self.c1(x), 0.2))


def _disc_problem(seed: int, batch: int = 3, size: int = 8):
    g = torch.Generator().manual_seed(seed)
    dec = nn.Conv2d(4, 3, 3, padding=1)
    with torch.no_grad():
        for p in dec.parameters():
            p.copy_(0.4 * torch.randn(p.shape, generator=g))
    x = torch.rand(batch, 3, size, size, generator=g)
    x_hat = dec(torch.randn(batch, 4, size, size, generator=g))
    return _TinyDisc(seed), x, x_hat, dec


def _reference_disc_grads(seed: int, batch: int, size: int):
    """The discriminator's gradients under the reference loss (a fresh copy of the same problem)."""
    disc, x, x_hat, _ = _disc_problem(seed, batch, size)
    ref = reference_discriminator_loss(disc, x, x_hat)
    real_only = gan.hinge_d_loss(disc(x), disc(x_hat).detach())  # the fakes' half cut off
    g_ref = torch.autograd.grad(ref, list(disc.parameters()), retain_graph=True)
    g_real_only = torch.autograd.grad(real_only, list(disc.parameters()), allow_unused=True)
    return g_ref, [torch.zeros_like(p) if g is None else g for g, p in zip(g_real_only, disc.parameters())]


@records_result
def check_discriminator_loss(student_fn: Callable, seeds=(0, 1, 2), batch: int = 3, size: int = 8) -> None:
    """Check the discriminator step's loss: hinge on real and DETACHED fakes. The value, the decoder's gradient (none)
    AND the discriminator's gradients are compared with the reference, so ``hinge_d_loss(disc(x), disc(x_hat).detach())``
    (right value, but D never learns from the fakes) fails. Hidden tests pass other ``seeds``, ``batch`` and ``size``."""
    for seed in ([seeds] if isinstance(seeds, int) else seeds):
        disc, x, x_hat, dec = _disc_problem(seed, int(batch), int(size))
        with torch.no_grad():
            ref = reference_discriminator_loss(disc, x, x_hat)
            swapped = gan.hinge_d_loss(disc(x_hat), disc(x))
            no_half = F.relu(1 - disc(x)).mean() + F.relu(1 + disc(x_hat)).mean()
            g_loss = gan.hinge_g_loss(disc(x_hat))
        out = call_student(student_fn, disc, x, x_hat, name="discriminator_loss")
        if not isinstance(out, torch.Tensor) or out.numel() != 1:
            raise CheckFailed(f"discriminator_loss should return a scalar tensor, got {type(out).__name__}.")
        v = out.detach().reshape(())
        if not _close(v, ref):
            if _close(v, swapped):
                raise CheckFailed("discriminator_loss: real and fake are swapped: D should score real images x "
                                  "HIGH (relu(1 - D(x))) and reconstructions LOW (relu(1 + D(x_hat))).")
            if _close(v, no_half):
                raise CheckFailed("discriminator_loss: the factor 0.5 of gan.hinge_d_loss is missing "
                                  "(use gan.hinge_d_loss(D(x), D(x_hat.detach()))).")
            if _close(v, g_loss):
                raise CheckFailed("discriminator_loss: this is the generator's loss -mean D(x_hat); the "
                                  "discriminator minimises the hinge loss on real AND fake images.")
            raise CheckFailed(f"discriminator_loss returned {v.item():.6g}, expected {ref.item():.6g} = "
                              "gan.hinge_d_loss(D(x), D(x_hat.detach())).")
        if not out.requires_grad:
            raise CheckFailed("discriminator_loss has no gradient: the discriminator must be able to learn from it "
                              "(do not compute it under torch.no_grad() or detach the result).")
        out.reshape(()).backward()
        if any(p.grad is not None and p.grad.abs().sum() > 0 for p in dec.parameters()):
            raise CheckFailed("discriminator_loss: gradients flow into the decoder! Detach the reconstructions "
                              "(D(x_hat.detach())): the discriminator's loss must never train the generator "
                              "(and without detach a shared optimiser step would push the decoder the wrong way).")
        if not any(p.grad is not None and p.grad.abs().sum() > 0 for p in disc.parameters()):
            raise CheckFailed("discriminator_loss: the discriminator's parameters got no gradient.")
        g_ref, g_real_only = _reference_disc_grads(seed, int(batch), int(size))
        got = [torch.zeros_like(p) if p.grad is None else p.grad for p in disc.parameters()]
        if not all(_close(a, b, atol=1e-5, rtol=1e-3) for a, b in zip(got, g_ref)):
            if all(_close(a, b, atol=1e-5, rtol=1e-3) for a, b in zip(got, g_real_only)):
                raise CheckFailed("discriminator_loss: the value is right but D learns only from the real images: "
                                  "disc(x_hat).detach() cuts D's own gradient from the fakes. Detach the INPUT, "
                                  "disc(x_hat.detach()), so D still learns to score reconstructions low.")
            raise CheckFailed("discriminator_loss: the value is right but the discriminator's gradients differ from "
                              "those of gan.hinge_d_loss(D(x), D(x_hat.detach())).")
    passed("discriminator_loss = hinge_d_loss(D(x), D(x_hat.detach())): D learns, the decoder gets no gradient.")
