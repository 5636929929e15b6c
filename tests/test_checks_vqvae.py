"""Notebook 04's checks (the VQ layer, perplexity): right answers in every numeric form pass, the visible and the
hidden (seeded) variants both run, and the wrong answers named in issue 11 are rejected with a specific hint."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib import metrics, quantize
from course_lib.checks import CheckFailed
from course_lib.checks import vqvae as V


def stub(*args, **kwargs):
    raise NotImplementedError()


def rejects(check, fn, match, **kwargs):
    with pytest.raises(CheckFailed, match=match):
        check(fn, **kwargs)


# ---------------------------------------------------------------------------------------------- VQ layer
def _vq_float32_cdist(z, codebook, beta):
    """A right answer written differently: float32 inside, torch.cdist, F.embedding, a dict out."""
    b, d, h, w = z.shape
    x = z.float().permute(0, 2, 3, 1).reshape(-1, d)
    e = codebook.float()
    idx = torch.cdist(x, e).argmin(dim=1)
    q = F.embedding(idx, e)
    loss = ((q - x.detach()) ** 2).mean() + beta * ((x - q.detach()) ** 2).mean()
    out = (x + (q - x).detach()).view(b, h, w, d).permute(0, 3, 1, 2)
    return {"z_q": out.to(z.dtype), "indices": idx.view(b, h, w), "loss": loss}


def _vq_broadcast_object(z, codebook, beta):
    """Right too: distances by broadcasting, the STE on the 4-D tensors, an object with attributes out."""
    b, d, h, w = z.shape
    x = z.permute(0, 2, 3, 1).reshape(-1, d)
    idx = ((x[:, None, :] - codebook[None]) ** 2).sum(-1).argmin(-1)
    q = codebook[idx].reshape(b, h, w, d).permute(0, 3, 1, 2)
    loss = F.mse_loss(q, z.detach()) + beta * F.mse_loss(z, q.detach())
    return SimpleNamespace(z_q=z + (q - z).detach(), indices=idx.reshape(b, h, w), loss=loss.reshape(1))


def _vq_course_lib(z, codebook, beta):
    """The library's quantizer given the same codebook (its codes are looked up in float32)."""
    vq = quantize.VectorQuantizer(codebook.shape[0], codebook.shape[1], beta=beta).double()
    with torch.no_grad():
        vq.embedding.weight.copy_(codebook)
    out = vq(z)
    # the library's codebook is its own parameter: rebuild the loss against the given codebook for the gradients
    q = codebook[out.indices.reshape(-1)]
    x = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
    return out.z_q, out.indices, F.mse_loss(q, x.detach()) + beta * F.mse_loss(x, q.detach())


@pytest.mark.parametrize("right", [V.reference_vq_layer, _vq_float32_cdist, _vq_broadcast_object, _vq_course_lib])
@pytest.mark.parametrize("seed, beta", [(0, None), (7, 0.6), (21, 2.0)])
def test_vq_layer_accepts_right_answers(right, seed, beta, capsys):
    V.check_vq_layer(right, seed=seed, beta=beta)
    assert "Check passed" in capsys.readouterr().out


def test_vq_layer_reference_equals_course_lib_quantizer():
    torch.manual_seed(0)
    vq = quantize.VectorQuantizer(32, 6, beta=0.25)
    z = torch.randn(3, 6, 4, 5)
    out = vq(z)
    z_q, idx, loss = V.reference_vq_layer(z, vq.codebook, 0.25)
    assert torch.equal(idx, out.indices) and torch.allclose(z_q, out.z_q) and torch.allclose(loss, out.loss)


def _swapped_stop_gradients(z, codebook, beta):
    x = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
    idx = quantize.squared_distances(x, codebook).argmin(1)
    q = codebook[idx]
    loss = F.mse_loss(q.detach(), x) + beta * F.mse_loss(x.detach(), q)
    b, d, h, w = z.shape
    return (x + (q - x).detach()).reshape(b, h, w, d).permute(0, 3, 1, 2), idx.reshape(b, h, w), loss


def _beta_on_codebook_term(z, codebook, beta):
    """taming-transformers' legacy=True order: beta on the codebook term."""
    x = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
    idx = quantize.squared_distances(x, codebook).argmin(1)
    q = codebook[idx]
    loss = beta * F.mse_loss(q, x.detach()) + F.mse_loss(x, q.detach())
    b, d, h, w = z.shape
    return (x + (q - x).detach()).reshape(b, h, w, d).permute(0, 3, 1, 2), idx.reshape(b, h, w), loss


def _no_ste(z, codebook, beta):
    z_q, idx, loss = V.reference_vq_layer(z, codebook, beta)
    return codebook[idx].permute(0, 3, 1, 2), idx, loss


def _argmax(z, codebook, beta):
    x = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
    idx = quantize.squared_distances(x, codebook).argmax(1).reshape(z.shape[0], *z.shape[2:])
    z_q, _, _ = V.reference_vq_layer(z, codebook, beta)
    q = codebook[idx].permute(0, 3, 1, 2)
    return z + (q - z).detach(), idx, F.mse_loss(q, z.detach()) + beta * F.mse_loss(z, q.detach())


def _no_permute(z, codebook, beta):
    b, d, h, w = z.shape
    x = z.reshape(-1, d)  # the classic layout bug: channels not moved last
    idx = quantize.squared_distances(x, codebook).argmin(1)
    q = codebook[idx]
    loss = F.mse_loss(q, x.detach()) + beta * F.mse_loss(x, q.detach())
    return (x + (q - x).detach()).reshape(b, d, h, w), idx.reshape(b, h, w), loss


def _argmin_axis0(z, codebook, beta):
    b, d, h, w = z.shape
    x = z.permute(0, 2, 3, 1).reshape(-1, d)
    idx = quantize.squared_distances(x, codebook).argmin(0)  # (K,): one index per code
    q = codebook[idx]
    loss = F.mse_loss(q, x.detach()) + beta * F.mse_loss(x, q.detach())
    return (x + (q - x).detach()).reshape(b, h, w, d).permute(0, 3, 1, 2), idx.reshape(b, h, w), loss


def _flat_indices(z, codebook, beta):
    z_q, idx, loss = V.reference_vq_layer(z, codebook, beta)
    return z_q, idx.reshape(-1), loss


def _channels_last(z, codebook, beta):
    z_q, idx, loss = V.reference_vq_layer(z, codebook, beta)
    return z_q.permute(0, 2, 3, 1), idx, loss


def _per_position_loss(z, codebook, beta):
    z_q, idx, _ = V.reference_vq_layer(z, codebook, beta)
    q = codebook[idx].permute(0, 3, 1, 2)
    return z_q, idx, ((q - z.detach()) ** 2).mean(1) + beta * ((z - q.detach()) ** 2).mean(1)


@pytest.mark.parametrize("wrong, match", [
    (stub, "not implemented"),
    (_swapped_stop_gradients, "stop-gradients are swapped"),
    (_beta_on_codebook_term, r"beta\s+multiplies the codebook term"),
    (_no_ste, "straight-through"),
    (_argmax, "argmax"),
    (_no_permute, "without permuting"),
    (_argmin_axis0, "wrong axis"),
    (_flat_indices, "layout of the code map"),
    (_channels_last, "channels-last"),
    (_per_position_loss, "one number"),
    (lambda z, e, b: V.reference_vq_layer(z, e, b)[:2], "three outputs"),
])
@pytest.mark.parametrize("seed", [0, 7])
def test_vq_layer_rejects(wrong, match, seed):
    if wrong is _argmin_axis0 and seed:
        match = "wrong axis|raised"  # K != N: the wrong axis cannot even be reshaped
    rejects(V.check_vq_layer, wrong, match, seed=seed)


def test_vq_layer_hidden_case_catches_a_hard_coded_beta():
    def hard_coded(z, codebook, beta):
        return V.reference_vq_layer(z, codebook, 0.25)
    rejects(V.check_vq_layer, hard_coded, "hard-coded beta", seed=7, beta=0.6)


# ------------------------------------------------------------------------------------------ perplexity
def _float32_perplexity(idx, k):
    counts = torch.bincount(idx.reshape(-1), minlength=k).float()
    p = counts / counts.sum()
    return torch.exp(-torch.special.xlogy(p, p).sum())  # a 0-d float32 tensor


def _numpy_perplexity(idx, k):
    c = np.bincount(idx.reshape(-1).numpy(), minlength=k).astype(np.float32)
    p = c[c > 0] / c.sum()
    return np.exp(-(p * np.log(p)).sum())  # a NumPy float32 scalar


def _base2_perplexity(idx, k):
    c = torch.bincount(idx.reshape(-1), minlength=k).double()
    p = c[c > 0] / c.sum()
    return float(2 ** (-(p * torch.log2(p)).sum()))


@pytest.mark.parametrize("right", [V.reference_perplexity, _float32_perplexity, _numpy_perplexity, _base2_perplexity,
                                   lambda idx, k: metrics.perplexity(idx, k)])
@pytest.mark.parametrize("seed", [0, 7])
def test_perplexity_accepts_right_answers(right, seed, capsys):
    V.check_perplexity(right, seed=seed)
    assert "Check passed" in capsys.readouterr().out


def _nan_perplexity(idx, k):
    p = torch.bincount(idx.reshape(-1), minlength=k).double()
    p = p / p.sum()
    return float(torch.exp(-(p * torch.log(p)).sum()))


def _first_image_only(idx, k):
    return V.reference_perplexity(idx[0], k)


@pytest.mark.parametrize("wrong, match", [
    (stub, "not implemented"),
    (_nan_perplexity, "0 \\* log\\(0\\)"),
    (V._entropy_nats, "returned the entropy"),
    (V._entropy_bits, "entropy in bits"),
    (V._log2_then_exp, "mixed log bases"),
    (V._unnormalised, "forgot to normalise"),
    (V._unnormalised_mean, "divided the counts by num_codes"),
    (V._per_image_mean, "per-image"),
    (V._codes_used, "distinct codes"),
    (_first_image_only, "differs|is "),
])
@pytest.mark.parametrize("seed", [0, 7])
def test_perplexity_rejects(wrong, match, seed):
    rejects(V.check_perplexity, wrong, match, seed=seed)


def test_perplexity_hidden_seed_uses_other_inputs():
    a, _ = V._perplexity_inputs(0)
    b, _ = V._perplexity_inputs(21, (3, 5, 4))
    assert a.shape != b.shape


def test_perplexity_hidden_case_catches_a_hard_coded_answer():
    """A function that returns the visible case's number passes seed 0's first input only."""
    idx, k = V._perplexity_inputs(0)
    visible = V.reference_perplexity(idx, k)
    with pytest.raises(CheckFailed):
        V.check_perplexity(lambda i, kk: visible, seed=7)


def test_a_wrong_vq_layer_falls_back_to_the_reference_in_later_cells(capsys):
    """After its check fails, solved_or_reference uses the reference (the notebook's training still runs)."""
    from course_lib.checks import solved_or_reference

    with pytest.raises(CheckFailed):
        V.check_vq_layer(_argmax)
    layer = solved_or_reference(_argmax, V.reference_vq_layer, "vq_layer")
    z, codebook, beta, _ = V._vq_layer_inputs(3)
    assert torch.equal(layer(z, codebook, beta)[1], V.reference_vq_layer(z, codebook, beta)[1])
    assert "does not pass its check" in capsys.readouterr().out
