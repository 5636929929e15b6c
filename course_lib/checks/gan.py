"""Checks for notebooks 08 (GANs: one training step, the hinge losses) and 09 (discriminators for autoencoders:
the receptive field, the adaptive weight, spectral normalisation by power iteration).

Each check compares the student's function with :mod:`course_lib.gan` on random inputs and, when it differs,
names the mistake it recognises (relu in the wrong place, sign flipped, fakes not detached, lambda not detached, ...).
"""
from __future__ import annotations

import contextlib
import copy
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import CheckFailed, call_student, check_function, passed, records_result
from .. import gan

__all__ = ["check_gan_step", "check_hinge_d_loss", "check_hinge_g_loss", "check_adaptive_weight",
           "check_receptive_field", "check_spectral_normalize"]


def _as_torch(value):
    """NumPy scalars and arrays (a right answer computed with NumPy) become tensors; everything else is kept."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if isinstance(value, np.generic):
        return torch.tensor(value.item())
    return value


def _tolerant(student_fn: Callable) -> Callable:
    """The student's function with NumPy outputs converted, so float32 / numpy-scalar forms of a right answer pass."""
    if not callable(student_fn):
        return student_fn

    def call(*args, **kwargs):
        return _as_torch(student_fn(*args, **kwargs))

    return call


def _logits(seed: int, shape: Sequence[int] = (4, 1, 3, 3)):
    g = torch.Generator().manual_seed(seed)
    # spread over [-3, 3] so that every branch of the hinge is exercised
    return (3 * torch.randn(*shape, generator=g), 3 * torch.randn(*shape, generator=g))


@records_result
def check_hinge_d_loss(student_fn: Callable, seed: int = 0, shape: Sequence[int] = (4, 1, 3, 3)) -> None:
    """student_fn(logits_real, logits_fake) -> scalar = 0.5 * (mean relu(1 - real) + mean relu(1 + fake)).

    ``seed`` and ``shape`` choose other random logit maps (the hidden tests use them)."""
    check_function(
        _tolerant(student_fn), gan.hinge_d_loss, lambda s: _logits(seed + s, shape), name="hinge_d_loss",
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


@records_result
def check_hinge_g_loss(student_fn: Callable, seed: int = 0, shape: Sequence[int] = (4, 1, 3, 3)) -> None:
    """student_fn(logits_fake) -> scalar = -mean(logits_fake). ``seed`` and ``shape`` as in check_hinge_d_loss."""
    check_function(
        _tolerant(student_fn), gan.hinge_g_loss, lambda s: (_logits(seed + s, shape)[1],), name="hinge_g_loss",
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
    gan_scale sets the size of the GAN gradient (small enough by default that delta = 1e-4 matters).
    Returns (rec, g_loss, last.weight, params): ``params`` are every leaf that requires grad (the weight, the
    bias, and the decoder features ``h``), so that a check can see gradients left behind in their ``.grad``."""
    g = torch.Generator().manual_seed(seed)
    last = nn.Conv2d(4, 3, 3, padding=1)
    with torch.no_grad():
        for p in last.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
    h = torch.randn(2, 4, 6, 6, generator=g).requires_grad_(True)  # features from earlier decoder layers
    x = torch.rand(2, 3, 6, 6, generator=g)
    x_hat = last(h)
    rec = rec_scale * (x_hat - x).abs().mean() * (1 + seed % 3)
    d_map = torch.randn(1, 3, 6, 6, generator=g)
    g_loss = -gan_scale * (1 + seed % 3) * (x_hat * d_map).mean()
    return rec, g_loss, last.weight, [last.weight, last.bias, h]


def _call_adaptive(student_fn: Callable, name: str, problem, delta: float, max_weight: float) -> torch.Tensor:
    rec, g_loss, w, params = problem
    try:
        got = call_student(student_fn, rec, g_loss, w, delta, max_weight, name=name)
    except CheckFailed as failed:
        exc = failed.__cause__
        if isinstance(exc, RuntimeError) and ("second time" in str(exc) or "freed" in str(exc)):
            raise CheckFailed(f"{name}: the second gradient computation failed because the first one freed "
                              "the graph: pass retain_graph=True to both torch.autograd.grad calls (the total "
                              "loss is backpropagated afterwards too).") from exc
        raise
    # side effects: the weight is an ordinary tensor for the training step, so nothing may be left in .grad
    if any(p.grad is not None for p in params):
        raise CheckFailed(f"{name} left gradients in the .grad of the decoder's parameters (did you call "
                          ".backward() and read .grad?). They would be added to the generator's next update. "
                          "Use torch.autograd.grad(loss, last_layer_weight, retain_graph=True)[0], which returns "
                          "the gradient without writing .grad anywhere.")
    got = _as_torch(got)
    if not isinstance(got, torch.Tensor):
        raise CheckFailed(f"{name} should return a scalar tensor, got {type(got).__name__}.")
    if got.numel() != 1:
        raise CheckFailed(f"{name} should return a scalar (one number), got shape {tuple(got.shape)}: "
                          "take the norm of the WHOLE gradient tensor (torch.linalg.vector_norm or .norm()).")
    if got.requires_grad:
        # only possible when the gradients were taken with create_graph=True (torch.autograd.grad without it
        # already returns constants): then lambda is a function of the weights, and backward would
        # differentiate the ratio of norms (second derivatives).
        raise CheckFailed(f"{name}: the result still requires grad (gradients taken with create_graph=True?). "
                          "Return lambda.detach(): lambda is a weight, not something to optimise "
                          "(taming-transformers detaches it too).")
    return got


@records_result
def check_adaptive_weight(student_fn: Callable, seed: int = 0, delta: float = 1e-4, max_weight: float = 1e4) -> None:
    """student_fn(rec_loss, g_loss, last_layer_weight, delta=1e-4, max_weight=1e4) -> detached scalar tensor.

    The check calls ``student_fn(rec, g_loss, w, delta, max_weight)`` (positionally) on random problems from
    ``seed``, with the given ``delta`` / ``max_weight`` and once more with other values (so a hard-coded delta or
    clamp fails here, where the student sees it); the hidden tests use other seeds and values again. It also looks at
    side effects: no ``.grad`` may be left on any parameter."""
    other = (1e-3, 50.0) if (delta, max_weight) == (1e-4, 1e4) else (1e-4, 1e4)
    for d, m in ((delta, max_weight), other):
        _check_adaptive_once(student_fn, seed, d, m)
    name = "adaptive_weight"
    passed(f"{name} = ||grad rec|| / (||grad gan|| + delta), clamped and detached (delta={delta:g}, "
           f"max_weight={max_weight:g}, and delta={other[0]:g}, max_weight={other[1]:g}).")


def _check_adaptive_once(student_fn: Callable, seed: int, delta: float, max_weight: float) -> None:
    name = "adaptive_weight"
    for s in range(seed, seed + 3):
        rec, g_loss, w, params = problem = _adaptive_problem(s)
        expected = gan.adaptive_weight(rec, g_loss, w, delta, max_weight)
        got = _call_adaptive(student_fn, name, problem, delta, max_weight)
        gv, ev = float(got), float(expected)
        if not abs(gv - ev) <= 1e-4 * abs(ev) + 1e-6:
            gr = torch.autograd.grad(rec, w, retain_graph=True)[0].norm().item()
            gg = torch.autograd.grad(g_loss, w, retain_graph=True)[0].norm().item()
            candidates = {
                "the ratio is upside down: lambda = ||grad rec|| / (||grad gan|| + delta), the reconstruction "
                "gradient on top.": gg / (gr + delta),
                "you divided the LOSS VALUES, not the norms of their gradients at the last layer: use "
                "torch.autograd.grad(loss, last_layer_weight, retain_graph=True)[0].norm().":
                    abs(rec.item()) / (abs(g_loss.item()) + delta),
                "delta is missing: lambda = ||grad rec|| / (||grad gan|| + delta) keeps the ratio finite when "
                "the GAN gradient vanishes.": gr / gg,
                "delta goes in the denominator only, added to the GAN gradient norm: "
                "||grad rec|| / (||grad gan|| + delta).": (gr + delta) / (gg + delta),
                "you used squared norms; use the plain L2 norms of the gradients.": gr ** 2 / (gg ** 2 + delta),
            }
            if delta != 1e-4:
                candidates["you hard-coded delta = 1e-4: use the `delta` argument."] = gr / (gg + 1e-4)
            if delta != 1e-6:
                candidates["you used the paper's delta = 1e-6 as a constant: use the `delta` argument (its default, "
                           "1e-4, is taming-transformers' value)."] = gr / (gg + 1e-6)
            if max_weight != 1e4:
                candidates["lambda is not clamped to `max_weight` (hard-coded 1e4, or no clamp): "
                           "torch.clamp(lam, 0.0, max_weight)."] = min(gr / (gg + delta), 1e4)
            for hint, value in candidates.items():
                if abs(gv - value) <= 1e-5 * abs(value) + 1e-7:
                    raise CheckFailed(f"{name}: {hint}")
            raise CheckFailed(f"{name} returned {gv:.6g}, expected {ev:.6g} (random problem #{s}, delta={delta:g}). "
                              "Compare with lambda = ||grad_L rec|| / (||grad_L gan|| + delta).")
        # the graph must survive, so the total loss can still be backpropagated
        try:
            (rec + got * g_loss).backward()
        except RuntimeError as exc:
            raise CheckFailed(f"{name}: after your function the graph is gone ({exc}). Use retain_graph=True in "
                              "torch.autograd.grad: the training step still calls backward on the total loss.") from None
    # the dangerous cases: a GAN gradient of ~0; (a) delta bounds lambda, (b) the clamp bounds it
    rec, _, w, _ = _adaptive_problem(seed, gan_scale=1e-12)
    rec_norm = torch.autograd.grad(rec, w)[0].norm().item()
    # scale the reconstruction loss so that ||grad rec|| / delta lands below the clamp, then 10x above it
    for rec_scale in (0.1 * max_weight * delta / rec_norm, 10.0 * max_weight * delta / rec_norm):
        rec, g_loss, w, params = problem = _adaptive_problem(seed, gan_scale=1e-12, rec_scale=rec_scale)
        expected = float(gan.adaptive_weight(rec, g_loss, w, delta, max_weight))
        gv = float(_call_adaptive(student_fn, name, problem, delta, max_weight))
        if not torch.isfinite(torch.as_tensor(gv)):
            raise CheckFailed(f"{name}: with a GAN gradient of ~0 you return {gv}: add delta to the "
                              "denominator and clamp the result to [0, max_weight].")
        if gv > max_weight * (1 + 1e-6):
            raise CheckFailed(f"{name}: with a near-zero GAN gradient you return lambda = {gv:.3g}; clamp it to "
                              f"max_weight ({max_weight:g}), e.g. torch.clamp(lam, 0.0, max_weight), or the "
                              "generator step explodes.")
        if abs(gv - max_weight) < 1e-4 * max_weight and expected < 0.99 * max_weight:
            raise CheckFailed(f"{name}: with a near-zero GAN gradient you return the clamp value {max_weight:g}, "
                              f"expected {expected:.6g} = ||grad rec|| / delta: the delta is missing from the "
                              "denominator.")
        if abs(gv - expected) > 1e-3 * expected:
            hint = ""
            if max_weight != 1e4 and abs(gv - 1e4) < 1:
                hint = " You hard-coded the clamp at 1e4: use the `max_weight` argument."
            raise CheckFailed(f"{name}: with a near-zero GAN gradient you return {gv:.6g}, expected "
                              f"{expected:.6g} (delta={delta:g}, max_weight={max_weight:g}).{hint}")

def _as_int(value):
    """A right receptive field may come back as numpy.int64, a 0-d tensor or an integral float: compare it as an int."""
    value = _as_torch(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
        return int(value.item())
    return value


@records_result
def check_receptive_field(student_fn: Callable, seed: int = 0) -> None:
    """student_fn(layers: list of (kernel, stride)) -> int, the receptive field side in input pixels.

    ``seed`` = 0 starts with the papers' PatchGAN (70 px); other seeds (the hidden tests) draw other stacks."""

    def make(trial: int):
        s = seed + trial
        g = torch.Generator().manual_seed(s)
        n = 3 + s % 5
        ks = torch.randint(2, 6, (n,), generator=g).tolist()
        ss = torch.randint(1, 4, (n,), generator=g).tolist()
        ss[0] = 2  # make sure strides matter
        if s == 0:  # the PatchGAN of the papers: 70
            return ([(4, 2), (4, 2), (4, 2), (4, 1), (4, 1)],)
        return ([(int(k), int(st)) for k, st in zip(ks, ss)],)

    student = student_fn if not callable(student_fn) else (lambda layers: _as_int(student_fn(layers)))

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
        student, gan.receptive_field, make, name="receptive_field",
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


# ----------------------------------------------------------------------------------------------------------------------
# One GAN training step (notebook 08)
# ----------------------------------------------------------------------------------------------------------------------
def _grads(params) -> list:
    """A copy of each parameter's .grad (zeros where it is None)."""
    return [p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p) for p in params]


def _params(module) -> list:
    return [p.detach().clone() for p in module.parameters()]


def _same(a: list, b: list, tol: float = 1e-5) -> bool:
    return all(torch.allclose(x, y, atol=tol, rtol=1e-4) for x, y in zip(a, b))


def _all_zero(a: list) -> bool:
    return all(bool((x == 0).all()) for x in a)


def _plus(a: list, b: list) -> list:
    return [x + y for x, y in zip(a, b)]


def _gan_problem(seed: int, optimiser: str):
    """Small toy networks with seeded weights, their two optimisers, and two batches (x_real, z)."""
    g = torch.Generator().manual_seed(1000 + seed)
    G, D = gan.toy_mlp(2, 2, hidden=8), gan.toy_mlp(2, 1, hidden=8)
    with torch.no_grad():
        for p in [*G.parameters(), *D.parameters()]:
            p.copy_(0.5 * torch.randn(p.shape, generator=g))
    make = {"sgd": lambda ps: torch.optim.SGD(ps, lr=0.1),
            "adam": lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.5, 0.999))}[optimiser]
    opt_g, opt_d = make(G.parameters()), make(D.parameters())
    batches = [(gan.ring_of_gaussians(16, generator=g), torch.randn(16, 2, generator=g)) for _ in range(2)]
    return G, D, opt_g, opt_d, batches


class _Recorder:
    """Step hooks on the two optimisers: the order of the steps, and the gradients each optimiser stepped with."""

    def __init__(self, G, D, opt_g, opt_d):
        self.G, self.D, self.events = G, D, []
        opt_d.register_step_pre_hook(lambda *a: self.events.append(
            ("d", _grads(G.parameters()), _grads(D.parameters()))))
        opt_g.register_step_pre_hook(lambda *a: self.events.append(
            ("g", _grads(G.parameters()), _grads(D.parameters()))))
        opt_d.register_step_post_hook(lambda *a: self.events.append(("d done", _params(D), None)))


def _run_gan_steps(step_fn, seed, optimiser, d_loss_fn, g_loss_fn, name):
    """Run two consecutive steps of ``step_fn`` on the seeded problem; record what happened in each."""
    G, D, opt_g, opt_d, batches = _gan_problem(seed, optimiser)
    rec = _Recorder(G, D, opt_g, opt_d)
    calls = []
    for x, z in batches:
        entry = dict(g_grads=_grads(G.parameters()), d_grads=_grads(D.parameters()),
                     G=copy.deepcopy(G), D=copy.deepcopy(D))
        rec.events = []
        out = call_student(step_fn, G, D, opt_g, opt_d, x.clone(), z.clone(), d_loss_fn, g_loss_fn, name=name)
        calls.append(dict(entry=entry, events=rec.events, out=out, x=x, z=z, D_after=_params(D),
                          G_after=_params(G), d_frozen=[not p.requires_grad for p in D.parameters()]))
    return calls


def _loss_grads(loss, params):
    return [g if g is not None else torch.zeros_like(p)
            for g, p in zip(torch.autograd.grad(loss, list(params), allow_unused=True), params)]


def _explain_step_error(failed: CheckFailed, name: str) -> CheckFailed:
    msg = str(failed.__cause__ or failed)
    if "inplace operation" in msg:
        return CheckFailed(f"{name}: the generator's loss was built from D's logits computed BEFORE opt_d.step() "
                           "changed D. Compute D(fake) for the generator's loss after the discriminator's step.")
    if "backward through the graph a second time" in msg:
        return CheckFailed(f"{name}: backward ran twice through the same graph. Detach the fakes in the "
                           "discriminator's loss (fake.detach()), and compute D's logits afresh for the generator's loss.")
    if "does not require grad" in msg:
        return CheckFailed(f"{name}: a loss had no gradient to take. Either D was still frozen from the previous "
                           "generator step (unfreeze it at the end: set_requires_grad(D, True)), or the fakes were "
                           "detached in the generator's loss too (only the discriminator's loss detaches them).")
    return failed


@records_result
def check_gan_step(student_fn: Callable, seed: int = 0, optimiser: str = "sgd", loss: str = "non-saturating") -> None:
    """student_fn(G, D, opt_g, opt_d, x_real, z, d_loss_fn, g_loss_fn) -> (d_loss, g_loss).

    Runs two consecutive steps on small seeded toy networks and compares, at the moment each optimiser steps, the
    gradients it steps with against the reference :func:`course_lib.gan.gan_step`; then the weights and the returned
    losses. Named mistakes: fakes not detached (L_D reaches G), one optimiser stepping both (D moves in the
    generator's step), old gradients added (zero_grad missing or misplaced, e.g. D's gradients left from the
    generator step), the wrong loss signs, D left frozen, the steps in the wrong order. ``seed``, ``optimiser``
    ("sgd" or "adam") and ``loss`` ("non-saturating" or "hinge") choose other cases (the hidden tests use them)."""
    name = "gan_step"
    d_loss_fn, g_loss_fn = gan.TOY_LOSSES[loss]
    try:
        got = _run_gan_steps(student_fn, seed, optimiser, d_loss_fn, g_loss_fn, name)
    except CheckFailed as failed:
        raise _explain_step_error(failed, name) from None
    ref = _run_gan_steps(gan.gan_step, seed, optimiser, d_loss_fn, g_loss_fn, name)
    for i, (c, r) in enumerate(zip(got, ref)):
        call = f"(step {i + 1} of 2)"
        kinds = [e[0] for e in c["events"] if e[0] in ("d", "g")]
        if kinds.count("d") == 0:
            raise CheckFailed(f"{name}: opt_d.step() was never called {call}: the discriminator's step must update D "
                              "with the optimiser you are given (opt_d), and the generator's with opt_g.")
        # one optimiser stepping both: D must not move after its own step
        d_done = [e for e in c["events"] if e[0] == "d done"][-1]
        if not _same(c["D_after"], d_done[1], tol=0.0):
            raise CheckFailed(f"{name}: D's weights changed during the generator's step {call}: only opt_g may step "
                              "there (one optimiser stepping both networks, or an optimiser of your own over G and D?).")
        if kinds.count("g") == 0:
            raise CheckFailed(f"{name}: opt_g.step() was never called {call}: update G with the optimiser you are "
                              "given (opt_g).")
        if kinds.index("g") < kinds.index("d"):
            raise CheckFailed(f"{name}: the generator stepped before the discriminator {call}. Do the "
                              "discriminator's step first, then the generator's.")
        if kinds.count("d") > 1:
            raise CheckFailed(f"{name}: opt_d.step() ran {kinds.count('d')} times {call}: D stepped again after the "
                              "generator's backward, on the generator's loss (one optimiser stepping both). Only "
                              "opt_g steps in the generator's step.")
        if kinds.count("g") > 1:
            raise CheckFailed(f"{name}: opt_g.step() ran {kinds.count('g')} times {call}; once per step.")
        if any(c["d_frozen"]):
            raise CheckFailed(f"{name}: D is still frozen when your step returns {call}: the next discriminator step "
                              "could not learn. Unfreeze it at the end (set_requires_grad(D, True)).")
        d_event = next(e for e in c["events"] if e[0] == "d")
        g_event = next(e for e in c["events"] if e[0] == "g")
        # (1) the discriminator's loss must not reach G: G's .grad unchanged (or cleared) when opt_d steps
        g_at_d = d_event[1]
        if not (_same(g_at_d, c["entry"]["g_grads"]) or _all_zero(g_at_d)):
            raise CheckFailed(f"{name}: the discriminator's loss sent gradients into G {call}: detach the fakes "
                              "(D(fake.detach())) in L_D. Without it, L_D's gradient lands in G's .grad and pushes G "
                              "to make its samples look MORE fake, unless it happens to be cleared in time.")
        # (3) the gradients each optimiser stepped with
        eG, eD = c["entry"]["G"], c["entry"]["D"]
        fake = eG(c["z"]).detach()
        ref_d = _loss_grads(d_loss_fn(eD(c["x"]), eD(fake)), list(eD.parameters()))
        if not _same(d_event[2], ref_d):
            d_candidates = {
                "D's step used old gradients as well (left from the previous generator step, which also writes into "
                "D's .grad when D is not frozen, or from the previous D step): call opt_d.zero_grad() BEFORE "
                "d_loss.backward().": _plus(ref_d, c["entry"]["d_grads"]),
                "opt_d.zero_grad() came after d_loss.backward(): it wiped the gradient before opt_d.step(), so D "
                "did not learn. Clear the gradients before the backward.": [torch.zeros_like(g) for g in ref_d],
                "the discriminator's loss has real and fake swapped: d_loss_fn(D(x_real), D(fake.detach())), real "
                "first.": _loss_grads(d_loss_fn(eD(fake), eD(c["x"])), list(eD.parameters())),
                "the discriminator's loss has the wrong sign: D minimises d_loss_fn(...), it does not maximise it.":
                    [-g for g in ref_d],
            }
            for hint, cand in d_candidates.items():
                if _same(d_event[2], cand):
                    raise CheckFailed(f"{name}: {hint}")
            raise CheckFailed(f"{name}: the gradient D stepped with differs from the reference {call}. Compare with "
                              "d_loss_fn(D(x_real), D(G(z).detach())), zero_grad, backward, opt_d.step().")
        ref_g = next(e for e in r["events"] if e[0] == "g")[1]
        if not _same(g_event[1], ref_g):
            g_candidates = {
                "G's step used old gradients as well: call opt_g.zero_grad() BEFORE g_loss.backward().":
                    _plus(ref_g, g_at_d),
                "opt_g.zero_grad() came after g_loss.backward(): it wiped the gradient before opt_g.step(). Clear "
                "the gradients before the backward.": [torch.zeros_like(g) for g in ref_g],
                "the generator's loss has the wrong sign: G minimises g_loss_fn(D(G(z))) (it wants D to call its "
                "samples real), it does not maximise it.": [-g for g in ref_g],
            }
            for hint, cand in g_candidates.items():
                if _same(g_event[1], cand):
                    raise CheckFailed(f"{name}: {hint}")
            raise CheckFailed(f"{name}: the gradient G stepped with differs from the reference {call}. Compare with "
                              "g_loss_fn(D(G(z))) computed after D's step (D frozen), zero_grad, backward, "
                              "opt_g.step().")
        # (4) what the step returns
        out = c["out"]
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise CheckFailed(f"{name} should return the two losses (d_loss, g_loss), got {type(out).__name__}.")
        vals = []
        for v in out:
            v = _as_torch(v)
            if isinstance(v, torch.Tensor) and v.numel() == 1:
                v = v.item()
            if not isinstance(v, (int, float)):
                raise CheckFailed(f"{name} should return two numbers (d_loss, g_loss), got {type(v).__name__}.")
            vals.append(float(v))
        want = [float(v) for v in r["out"]]
        if not all(abs(a - b) <= 1e-5 + 1e-4 * abs(b) for a, b in zip(vals, want)):
            if all(abs(a - b) <= 1e-5 + 1e-4 * abs(b) for a, b in zip(vals, want[::-1])):
                raise CheckFailed(f"{name}: return (d_loss, g_loss), the discriminator's loss first.")
            raise CheckFailed(f"{name} returned losses {vals}, expected {want} {call}: return the values of the two "
                              "losses you stepped on.")
    passed(f"{name}: D steps on detached fakes, G through a D that does not move, each with its own optimiser "
           f"and fresh gradients ({optimiser}, {loss} losses).")


# ------------------------------------------------------------------------------ spectral normalisation (09)
_SN_SHAPES = ((6, 10), (8, 3, 3, 3), (4, 5, 4, 4))


def _sn_inputs(seed: int, shapes: Sequence[Sequence[int]], n_iters: int):
    g = torch.Generator().manual_seed(500 + seed)
    weight = torch.randn(*shapes[seed % len(shapes)], generator=g, dtype=torch.float64)
    u = torch.randn(weight.shape[0], generator=g, dtype=torch.float64)
    upstream = torch.randn(weight.shape, generator=g, dtype=torch.float64)   # dL/d(weight / sigma) of a made-up loss
    return weight, u / u.norm(), upstream, n_iters


def _probe_sn(fn: Callable, name: str = "spectral_normalize") -> Callable:
    """fn(weight, u, n_iters) -> a dict of its three outputs and the gradient it sends to weight."""

    def probe(weight, u, upstream, n_iters):
        weight = weight.detach().clone().requires_grad_(True)
        out = fn(weight, u.clone(), n_iters=n_iters)
        if not (isinstance(out, (tuple, list)) and len(out) == 3):
            raise CheckFailed(f"{name} should return (weight / sigma, sigma, u), got {type(out).__name__}"
                              + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""))
        w_sn, sigma, u_new = (_as_torch(v) for v in out)
        if not isinstance(w_sn, torch.Tensor) or w_sn.shape != weight.shape:
            raise CheckFailed(f"{name}: the normalised weight should have the weight's shape {tuple(weight.shape)}, "
                              f"got {tuple(w_sn.shape) if isinstance(w_sn, torch.Tensor) else type(w_sn).__name__}")
        if not isinstance(u_new, torch.Tensor) or u_new.numel() != weight.shape[0]:
            raise CheckFailed(f"{name}: the returned u should have {weight.shape[0]} entries (one per output unit)")
        sigma = torch.as_tensor(sigma, dtype=torch.float64).reshape(())
        grad = torch.zeros_like(weight)
        if w_sn.requires_grad:
            (grad,) = torch.autograd.grad((w_sn * upstream.to(w_sn.dtype)).sum(), weight, allow_unused=True)
            grad = torch.zeros_like(weight) if grad is None else grad
        return {"normalised weight": w_sn.detach().double(), "sigma": sigma.detach().double(),
                "u": u_new.detach().reshape(-1).double(), "gradient to weight": grad.detach().double()}

    return probe


def _sn_variant(*, normalise_u=True, normalise_v=True, sigma_from="new", divide=True, return_u="new",
                no_grad=True, frobenius=False):
    """The library's spectral_normalize with one step changed: the named mistakes of check_spectral_normalize."""

    def fn(weight, u, n_iters=1):
        w = weight.reshape(weight.shape[0], -1)
        u0 = u
        with torch.no_grad() if no_grad else contextlib.nullcontext():
            for _ in range(n_iters):
                v = w.t() @ u
                v = v / v.norm() if normalise_v else v
                u = w @ v
                u = u / u.norm() if normalise_u else u
        sigma = torch.linalg.matrix_norm(w) if frobenius else torch.dot(u if sigma_from == "new" else u0, w @ v)
        return (weight / sigma if divide else weight), sigma, (u if return_u == "new" else u0)

    return fn


@records_result
def check_spectral_normalize(student_fn: Callable, seed: int = 0,
                             shapes: Sequence[Sequence[int]] = _SN_SHAPES) -> None:
    """Check ``student_fn(weight, u, n_iters=1) -> (weight / sigma, sigma, u)`` against
    :func:`course_lib.gan.spectral_normalize` (the semantics of ``torch.nn.utils.spectral_norm``): values, the
    updated u and the gradient to ``weight``, after 1 and 3 iterations; then, after 100 iterations, sigma against
    ``torch.linalg.matrix_norm(W, ord=2)``. ``seed`` and ``shapes`` change the cases (a hidden test uses others)."""
    name = getattr(student_fn, "__name__", "") or "spectral_normalize"
    name = name if name.isidentifier() else "spectral_normalize"
    mistakes = {
        "u is not rescaled to unit length after u = W v: normalise it (and v) in every iteration.":
            _sn_variant(normalise_u=False),
        "v is not rescaled to unit length after v = W^T u: normalise it in every iteration.":
            _sn_variant(normalise_v=False),
        "sigma uses the u you were given, not the updated one: compute sigma = u^T W v after the iteration.":
            _sn_variant(sigma_from="old"),
        "the weight is returned undivided: the first output is weight / sigma.": _sn_variant(divide=False),
        "the returned u is the one passed in: return the updated u, where the next step's iteration starts.":
            _sn_variant(return_u="old"),
        "sigma is the Frobenius norm of W (every singular value together), not the largest singular value.":
            _sn_variant(frobenius=True),
        "the power iteration is part of the autograd graph, so the gradient flows through u and v as well: run the "
        "iteration under torch.no_grad() (or on detached tensors); only sigma = u^T W v keeps W's gradient.":
            _sn_variant(no_grad=False),
        "sigma is the exact largest singular value (an SVD), not the estimate of n_iters power iterations from the "
        "given u: the point is to avoid the SVD, one cheap iteration per training step.":
            lambda w, u, n_iters=1: _exact_sigma(w, u, n_iters),
        "sigma is detached, so the gradient treats it as a constant: keep sigma = u^T W v in the graph (only u and "
        "v are constants).": lambda w, u, n_iters=1: _detached_sigma(w, u, n_iters),
    }
    for n_iters in (1, 3):
        check_function(_probe_sn(student_fn, name), _probe_sn(gan.spectral_normalize),
                       lambda i: _sn_inputs(seed + i, shapes, n_iters), name=name,
                       mistakes={hint: _probe_sn(fn) for hint, fn in mistakes.items()}, atol=1e-5, rtol=1e-4,
                       trials=len(shapes), announce=False)
    weight, u, upstream, _ = _sn_inputs(seed, shapes, 100)
    got = _probe_sn(student_fn, name)(weight, u, upstream, 100)["sigma"].item()
    exact = torch.linalg.matrix_norm(weight.reshape(weight.shape[0], -1), ord=2).item()
    if abs(got - exact) > 1e-4 * exact:
        raise CheckFailed(f"{name}: after 100 iterations sigma is {got:.5g}, but W's largest singular value "
                          f"(torch.linalg.matrix_norm(W, ord=2)) is {exact:.5g}.")
    passed(f"{name}: power iteration with u and v as constants, sigma = u^T W v (after 100 iterations "
           f"{got:.4f} = the largest singular value {exact:.4f}), the weight divided by it, u kept for the next step.")


def _detached_sigma(weight, u, n_iters):
    w_sn, sigma, u = gan.spectral_normalize(weight, u, n_iters)
    return weight / sigma.detach(), sigma.detach(), u


def _exact_sigma(weight, u, n_iters):
    sigma = torch.linalg.matrix_norm(weight.reshape(weight.shape[0], -1), ord=2)
    return weight / sigma, sigma, gan.spectral_normalize(weight, u, n_iters)[2]
