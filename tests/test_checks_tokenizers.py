"""The checks of notebook 14 reject the stub and the named mistakes (each with its hint), accept right answers
written in other ways (float32, library helpers, other formulas), and take the hidden tests' parameters."""
import math

import pytest
import torch
import torch.nn.functional as F

from course_lib import quantize as Q
from course_lib.checks import CheckFailed
from course_lib.checks import tokenizers as T
from course_lib.checks.tokenizers import check_lfq, check_residual_vq, reference_lfq, reference_residual_vq
from course_lib.losses import vq_loss


def stub(*args):
    raise NotImplementedError()


# ------------------------------------------------------------------------------------------------ residual VQ
def rvq_with_library_helpers(z, codebooks, beta):
    """Right, in float32, with course_lib's nearest_code and vq_loss, indices stacked with dim=-1."""
    residual = z.float()
    chosen, idx, loss = [], [], 0.0
    for cb in codebooks:
        k = Q.nearest_code(residual, cb.float())
        q = cb.float()[k]
        loss = loss + vq_loss(residual, q, beta).total
        residual = residual - q.detach()
        chosen.append(q)
        idx.append(k)
    total = torch.stack(chosen).sum(0)
    return Q.straight_through(z, total.to(z.dtype)), torch.stack(idx, dim=-1), loss.to(z.dtype)


def rvq_with_partial_sums(z, codebooks, beta):
    """Right, written with partial sums: residual = z - sg[sum of the codes so far] (RQ-VAE's notation)."""
    partial = torch.zeros_like(z)
    loss = z.new_zeros(())
    idx = torch.empty(z.shape[0], len(codebooks), dtype=torch.int32)
    for l in range(codebooks.shape[0]):
        r = z - partial.detach()
        k = torch.cdist(r.detach(), codebooks[l].detach()).argmin(1)
        q = codebooks[l][k]
        loss += ((q - r.detach()) ** 2).mean() + beta * ((r - q.detach()) ** 2).mean()
        partial = partial + q
        idx[:, l] = k
    return z - (z - partial).detach(), idx, loss


def test_residual_vq_accepts_right_answers(capsys):
    check_residual_vq(reference_residual_vq)
    check_residual_vq(rvq_with_library_helpers)
    check_residual_vq(rvq_with_partial_sums)
    check_residual_vq(rvq_with_partial_sums, seed=7, beta=0.6)  # the hidden test's parameters
    assert capsys.readouterr().out.count("Check passed") == 4


def test_residual_vq_accepts_the_library_class():
    def with_class(z, codebooks, beta):
        L, K, D = codebooks.shape
        rvq = Q.ResidualVQ(L, K, D, beta=beta).double()
        rvq.levels = torch.nn.ModuleList()
        for cb in codebooks:  # a quantizer whose codebook IS the given tensor (so gradients reach it)
            level = Q.VectorQuantizer(K, D, beta)
            del level.embedding
            level._raw_codebook = (lambda c=cb: c)
            rvq.levels.append(level)
        out = rvq(z)
        return out.z_q, out.indices, out.loss

    check_residual_vq(with_class)


def quantize_z_every_level(z, codebooks, beta):
    total, loss, idx = torch.zeros_like(z), 0.0, []
    for cb in codebooks:
        k = torch.cdist(z.detach(), cb.detach()).argmin(1)
        q = cb[k]
        loss = loss + F.mse_loss(q, z.detach()) + beta * F.mse_loss(z, q.detach())
        total, idx = total + q, idx + [k]
    return z + (total - z).detach(), torch.stack(idx, 1), loss


def ste_at_every_level(z, codebooks, beta):
    """vector-quantize-pytorch's way: sum of per-level straight-through outputs (gradient L times too large)."""
    residual, out, loss, idx = z, 0.0, 0.0, []
    for cb in codebooks:
        k = torch.cdist(residual.detach(), cb.detach()).argmin(1)
        q = cb[k]
        loss = loss + F.mse_loss(q, residual.detach()) + beta * F.mse_loss(residual, q.detach())
        out = out + residual + (q - residual).detach()
        residual, idx = residual - q.detach(), idx + [k]
    return out, torch.stack(idx, 1), loss


def mean_of_losses(z, codebooks, beta):
    z_q, idx, loss = reference_residual_vq(z, codebooks, beta)
    return z_q, idx, loss / codebooks.shape[0]


def residual_keeps_code_gradient(z, codebooks, beta):
    residual, total, loss, idx = z, 0.0, 0.0, []
    for cb in codebooks:
        k = torch.cdist(residual.detach(), cb.detach()).argmin(1)
        q = cb[k]
        loss = loss + F.mse_loss(q, residual.detach()) + beta * F.mse_loss(residual, q.detach())
        residual, total, idx = residual - q, total + q, idx + [k]
    return z + (total - z).detach(), torch.stack(idx, 1), loss


def loss_on_the_sum(z, codebooks, beta):
    z_q, idx, _ = reference_residual_vq(z, codebooks, beta)
    total = sum(cb[k] for cb, k in zip(codebooks, idx.t()))
    return z_q, idx, vq_loss(z, total, beta).total


def beta_hard_coded(z, codebooks, beta):
    return reference_residual_vq(z, codebooks, 0.25)


@pytest.mark.parametrize("wrong, hint", [
    (stub, "not implemented"),
    (quantize_z_every_level, "quantizes z itself"),
    (ste_at_every_level, "number of levels"),
    (mean_of_losses, "averaged"),
    (residual_keeps_code_gradient, "DETACHED"),
    (loss_on_the_sum, "once on the sum"),
    (T._rvq_variant(loss_against_z=True), "not with z"),
    (T._rvq_variant(no_ste=True), "no gradient reaches z"),
    (T._rvq_variant(beta_swapped=True), "beta is on the codebook term"),
    (T._rvq_variant(grads_swapped=True), "stop-gradients are swapped"),
    (T._rvq_variant(transposed=True), r"shape \(N, levels\)"),
    (lambda z, c, b: reference_residual_vq(z, c, b)[:2], "three things"),
    (lambda z, c, b: (z, *reference_residual_vq(z, c, b)[1:]), "differs"),
    (lambda z, c, b: (*reference_residual_vq(z, c, b)[:2], reference_residual_vq(z, c, b)[2].item()), "scalar tensor"),
])
def test_residual_vq_rejects_mistakes(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_residual_vq(wrong)


def test_residual_vq_hidden_beta_catches_a_hard_coded_beta():
    with pytest.raises(CheckFailed):
        check_residual_vq(beta_hard_coded, seed=7, beta=0.6, trials=1)


def test_residual_vq_inputs_vary_and_have_clear_nearest_codes():
    shapes = {tuple(T._rvq_inputs(s)[1].shape) for s in range(4)}
    assert len(shapes) == 4
    for s in range(6):
        z, cbs, beta, _ = T._rvq_inputs(s)
        z_q, idx, _ = reference_residual_vq(z, cbs, beta)
        z32 = rvq_with_library_helpers(z, cbs, beta)[1]
        assert torch.equal(idx, z32)  # float32 distances pick the same codes


# ------------------------------------------------------------------------------------------------ LFQ
def lfq_float32_with_logsoftmax(z, inv_temperature, gamma):
    """Right, in float32, with 2 tau z.c logits, log_softmax and indices from a loop over the bits."""
    x = z.float()
    d = x.shape[1]
    codes = torch.tensor([[1.0 if (i >> (d - 1 - j)) & 1 else -1.0 for j in range(d)] for i in range(2 ** d)])
    logits = 2 * inv_temperature * x @ codes.t()
    logp = logits.log_softmax(-1)
    sample_h = -(logp.exp() * logp).sum(-1).mean()
    mean_p = logp.exp().mean(0)
    batch_h = -(mean_p * torch.log(mean_p.clamp_min(1e-12))).sum()
    idx = torch.zeros(x.shape[0], dtype=torch.long)
    for j in range(d):
        idx = idx * 2 + (x[:, j] > 0).long()
    q = torch.where(z > 0, torch.ones_like(z), -torch.ones_like(z))
    return z + (q - z).detach(), idx, (sample_h - gamma * batch_h).double()


def lfq_with_the_library(z, inv_temperature, gamma):
    """Right, with course_lib's LFQ class (per-sample entropy also equals the factorised one)."""
    lfq = Q.LFQ(z.shape[1], inv_temperature=inv_temperature, diversity_gamma=gamma, entropy_weight=1.0,
                entropy="full")
    out = lfq(z)
    per_sample, _ = Q.binary_entropy_terms(z, inv_temperature, factorized=True)
    _, codebook = lfq.entropy_terms(z)
    return out.z_q, out.indices, per_sample - gamma * codebook


def test_lfq_accepts_right_answers(capsys):
    check_lfq(reference_lfq)
    check_lfq(lfq_float32_with_logsoftmax)
    check_lfq(lfq_with_the_library)
    check_lfq(lfq_float32_with_logsoftmax, seed=5, inv_temperature=2.0, gamma=0.3)  # hidden parameters
    assert capsys.readouterr().out.count("Check passed") == 4


def lfq_entropies_swapped(z, tau, gamma):
    z_q, idx, _ = reference_lfq(z, tau, gamma)
    codes = T._sign_vectors(z.shape[1], z.dtype)
    p = (2 * tau * z @ codes.t()).softmax(-1)
    h = lambda p: -(p * p.log()).sum(-1)
    return z_q, idx, h(p.mean(0)) - gamma * h(p).mean()


def lfq_signs_swapped(z, tau, gamma):
    z_q, idx, penalty = reference_lfq(z, tau, gamma)
    return z_q, idx, -penalty


def lfq_torch_sign(z, tau, gamma):
    _, idx, penalty = reference_lfq(z, tau, gamma)
    return z + (torch.sign(z) - z).detach(), idx, penalty


def lfq_lsb_first(z, tau, gamma):
    z_q, _, penalty = reference_lfq(z, tau, gamma)
    return z_q, ((z > 0).long() * 2 ** torch.arange(z.shape[1])).sum(1), penalty


def lfq_hard_counts(z, tau, gamma):
    z_q, idx, _ = reference_lfq(z, tau, gamma)
    codes = T._sign_vectors(z.shape[1], z.dtype)
    p = (2 * tau * z @ codes.t()).softmax(-1)
    counts = torch.bincount(idx, minlength=2 ** z.shape[1]).to(z.dtype) / len(idx)
    h = lambda p: -torch.special.xlogy(p, p).sum(-1)
    return z_q, idx, h(p).mean() - gamma * h(counts)


@pytest.mark.parametrize("wrong, hint", [
    (stub, "not implemented"),
    (lfq_entropies_swapped, "two entropies are swapped"),
    (lfq_signs_swapped, "signs of the penalty are swapped"),
    (lfq_torch_sign, r"torch.sign\(0\)"),
    (lfq_lsb_first, "bit order is reversed"),
    (lfq_hard_counts, "SOFT assignments"),
    (lambda z, t, g: (torch.where(z > 0, 1.0, -1.0).double(), *reference_lfq(z, t, g)[1:]), "no gradient reaches z"),
    (T._lfq_variant(terms="gamma"), "gamma multiplies the wrong term"),
    (T._lfq_variant(tau_ignored=True), "inverse temperature is not used"),
    (T._lfq_variant(tau_divides=True), "INVERSE temperature"),
    (T._lfq_variant(no_factor_two=True), "half what they should be"),
    (T._lfq_variant(zero_one_codes=True), "half what they should be"),
    (T._lfq_variant(log2=True), "natural logarithms"),
    (lambda z, t, g: reference_lfq(z, t, g)[:2], "three things"),
    (lambda z, t, g: (*reference_lfq(z, t, g)[:2], reference_lfq(z, t, g)[2].reshape(1)), "scalar tensor"),
])
def test_lfq_rejects_mistakes(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_lfq(wrong)


def test_lfq_reference_equals_the_library():
    for seed in range(4):
        z, tau, gamma, _ = T._lfq_inputs(seed)
        z_q, idx, penalty = reference_lfq(z, tau, gamma)
        lfq = Q.LFQ(z.shape[1], inv_temperature=tau, diversity_gamma=gamma, entropy_weight=1.0, entropy="full")
        out = lfq(z)
        assert torch.equal(out.indices, idx) and torch.equal(out.z_q, z_q)
        torch.testing.assert_close(out.loss.double(), penalty, rtol=1e-4, atol=1e-5)


def test_residual_vq_reference_equals_the_library():
    for seed in range(4):
        z, cbs, beta, _ = T._rvq_inputs(seed)
        L, K, D = cbs.shape
        rvq = Q.ResidualVQ(L, K, D, beta=beta).double().eval()
        with torch.no_grad():
            for level, cb in zip(rvq.levels, cbs):
                level.embedding.weight.copy_(cb)
        out = rvq(z)
        z_q, idx, loss = reference_residual_vq(z, cbs, beta)
        assert torch.equal(out.indices, idx)
        torch.testing.assert_close(out.z_q, z_q)
        torch.testing.assert_close(out.loss.double(), loss, rtol=1e-5, atol=1e-6)
