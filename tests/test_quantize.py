"""Tests for course_lib.quantize: the shape contract, gradients, the variants, and no (N, K, D) tensors."""
import math

import pytest
import torch
import torch.nn.functional as F

from course_lib import metrics
from course_lib.metrics import TensorMemoryMeter
from course_lib.quantize import (
    FSQ,
    EMAVectorQuantizer,
    FactorizedVectorQuantizer,
    QuantizerOutput,
    RotationVectorQuantizer,
    VectorQuantizer,
    init_codebook_kmeans,
    kmeans,
    nearest_code,
    rotation_trick,
    squared_distances,
    straight_through,
)


def naive_distances(z, e):
    return (z[:, None, :] - e[None, :, :]).pow(2).sum(-1)


# ---------------------------------------------------------------- distances
def test_squared_distances_match_broadcasting_and_are_nonnegative():
    g = torch.Generator().manual_seed(0)
    z, e = torch.randn(100, 8, generator=g), torch.randn(16, 8, generator=g)
    d = squared_distances(z, e)
    assert d.shape == (100, 16) and d.dtype == torch.float32
    torch.testing.assert_close(d, naive_distances(z, e), atol=1e-4, rtol=1e-4)
    assert (squared_distances(e, e) >= 0).all()  # the diagonal is exactly 0 only thanks to the clamp
    assert torch.equal(nearest_code(z, e), naive_distances(z, e).argmin(1))
    assert nearest_code(z, e).dtype == torch.int64


def test_distances_in_float32_under_autocast():
    g = torch.Generator().manual_seed(1)
    z, e = torch.randn(64, 16, generator=g), torch.randn(32, 16, generator=g)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        d = squared_distances(z, e)
        idx = nearest_code(z, e)
    assert d.dtype == torch.float32
    assert torch.equal(idx, nearest_code(z, e))


def test_never_builds_an_N_K_D_tensor():
    n, k, d = 512, 64, 32
    z = torch.randn(n, d)
    # the detector does catch the naive version ...
    with TensorMemoryMeter() as probe:
        naive_distances(z, torch.randn(k, d))
    assert probe.largest_numel >= n * k * d
    # ... and the quantizer, forward and backward, never allocates anything near that size
    vq = VectorQuantizer(num_codes=k, code_dim=d)
    zr = z.clone().requires_grad_(True)
    with TensorMemoryMeter() as probe:
        out = vq(zr)
        (out.z_q.square().mean() + out.loss).backward()
        nearest_code(z, vq.codebook)
        squared_distances(z, vq.codebook)
    assert probe.largest_numel <= n * k, f"largest tensor has {probe.largest_numel} elements"


# ---------------------------------------------------------------- k-means
def test_kmeans_finds_separated_clusters_with_decreasing_distortion():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]])
    x = torch.cat([c + 0.1 * torch.randn(50, 2, generator=g) for c in centres])
    res = kmeans(x, 3, iters=20, seed=0)
    assert res.codebook.shape == (3, 2) and res.assignments.shape == (150,)
    found = sorted(res.codebook.tolist())
    for f, c in zip(found, sorted(centres.tolist())):
        assert math.dist(f, c) < 0.1
    h = res.distortion_history
    assert all(b <= a + 1e-6 for a, b in zip(h, h[1:]))
    assert h[-1] < 0.05


@pytest.mark.parametrize("seed", range(5))
def test_kmeans_reseeds_empty_clusters(seed):
    # most points are duplicates of 0: a random init often picks 0 twice, leaving a cluster empty
    x = torch.cat([torch.zeros(50, 2), torch.full((5, 2), 10.0), torch.full((5, 2), 20.0)])
    res = kmeans(x, 3, iters=20, seed=seed, init="random")
    assert sorted(res.codebook[:, 0].tolist()) == pytest.approx([0.0, 10.0, 20.0])
    assert res.distortion_history[-1] == pytest.approx(0.0)


def test_kmeans_is_reproducible_with_a_seed():
    x = torch.randn(300, 3, generator=torch.Generator().manual_seed(3))
    for init in ("kmeans++", "random"):
        a, b = kmeans(x, 7, seed=5, init=init), kmeans(x, 7, seed=5, init=init)
        assert torch.equal(a.codebook, b.codebook) and a.distortion_history == b.distortion_history
        assert torch.equal(a.assignments, nearest_code(x, a.codebook))


def test_kmeans_rejects_too_few_points():
    with pytest.raises(ValueError, match="k <= N"):
        kmeans(torch.randn(3, 2), 5)


# ---------------------------------------------------------------- straight-through
def test_straight_through_value_and_gradient():
    z = torch.randn(10, 4, requires_grad=True)
    z_q = torch.randn(10, 4, requires_grad=True)
    out = straight_through(z, z_q)
    assert torch.allclose(out, z_q, atol=1e-6)
    w = torch.randn(10, 4)
    (out * w).sum().backward()
    assert torch.equal(z.grad, w)
    assert z_q.grad is None


# ---------------------------------------------------------------- VectorQuantizer contract
@pytest.mark.parametrize("shape", [(2, 8, 3, 5), (30, 8)])
def test_vector_quantizer_shape_contract(shape):
    torch.manual_seed(0)
    vq = VectorQuantizer(num_codes=16, code_dim=8, init="normal")
    z = torch.randn(shape, requires_grad=True)
    out = vq(z)
    assert isinstance(out, QuantizerOutput)
    assert out.z_q.shape == z.shape and out.z_q.dtype == z.dtype
    expected_idx = (shape[0], shape[2], shape[3]) if len(shape) == 4 else (shape[0],)
    assert out.indices.shape == expected_idx and out.indices.dtype == torch.int64
    assert out.loss.dim() == 0 and vq.codebook.shape == (16, 8)
    assert torch.allclose(vq.lookup(out.indices), out.z_q.detach(), atol=1e-6)
    # each output vector is the nearest code of its input vector
    flat = z.detach().permute(0, 2, 3, 1).reshape(-1, 8) if len(shape) == 4 else z.detach()
    assert torch.equal(out.indices.reshape(-1), naive_distances(flat, vq.codebook.detach()).argmin(1))
    assert float(out.perplexity) == pytest.approx(metrics.perplexity(out.indices, 16), rel=1e-5)
    assert torch.allclose(out.loss, out.codebook_loss + out.commitment_loss)


def test_gradient_reaching_z_equals_gradient_at_z_q():
    torch.manual_seed(0)
    vq = VectorQuantizer(num_codes=16, code_dim=8)
    z = torch.randn(2, 8, 4, 4, requires_grad=True)
    w = torch.randn(2, 8, 4, 4)
    (vq(z).z_q * w).sum().backward()  # dL/dz_q = w
    assert torch.allclose(z.grad, w)


def test_codebook_loss_moves_codes_and_commitment_moves_encoder():
    torch.manual_seed(0)
    vq = VectorQuantizer(num_codes=16, code_dim=8, beta=0.25, init="normal")
    z = torch.randn(40, 8, requires_grad=True)
    out = vq(z)
    out.codebook_loss.backward(retain_graph=True)
    assert z.grad is None or torch.all(z.grad == 0)
    assert vq.embedding.weight.grad.abs().sum() > 0
    vq.zero_grad()
    out.commitment_loss.backward()
    assert z.grad.abs().sum() > 0
    assert vq.embedding.weight.grad is None or torch.all(vq.embedding.weight.grad == 0)
    # beta sits on the commitment term
    q = vq.codebook.detach()[out.indices]
    assert out.commitment_loss.item() == pytest.approx(0.25 * F.mse_loss(z.detach(), q).item(), rel=1e-5)
    assert out.codebook_loss.item() == pytest.approx(F.mse_loss(z.detach(), q).item(), rel=1e-5)


def test_errors_are_clear():
    vq = VectorQuantizer(num_codes=16, code_dim=8)
    with pytest.raises(ValueError, match=r"permute\(0, 3, 1, 2\)"):
        vq(torch.randn(2, 4, 4, 8))
    with pytest.raises(ValueError, match="D=8"):
        vq(torch.randn(2, 6, 4, 4))
    with pytest.raises(ValueError, match="D=8"):
        vq(torch.randn(10, 6))
    with pytest.raises(ValueError, match="dims"):
        vq(torch.randn(2, 8, 4))
    with pytest.raises(TypeError, match="floating"):
        vq(torch.zeros(2, 8, 4, 4, dtype=torch.long))


# ---------------------------------------------------------------- variants
def test_ema_codes_move_toward_assigned_inputs_and_only_in_training():
    torch.manual_seed(0)
    vq = EMAVectorQuantizer(num_codes=4, code_dim=2, decay=0.9, init="normal")
    assert not any(p.requires_grad for p in vq.parameters())
    target = torch.tensor([3.0, -2.0])
    z = target + 0.01 * torch.randn(64, 2)
    k = int(vq(z).indices[0])
    before = (vq.codebook[k] - target).norm()
    vq.eval()
    vq(z)
    assert torch.equal((vq.codebook[k] - target).norm(), before)  # no update in eval mode
    vq.train()
    for _ in range(30):
        out = vq(z)
    assert (out.indices == k).all()
    assert (vq.codebook[k] - target).norm() < 0.1 * before
    assert out.loss.item() == pytest.approx(out.commitment_loss.item())
    # unused codes stay where they were (no division by ~eps)
    assert torch.isfinite(vq.codebook).all() and vq.codebook.abs().max() < 10


def test_dead_codes_are_restarted_from_encoder_outputs():
    torch.manual_seed(0)
    vq = VectorQuantizer(num_codes=8, code_dim=4, restart_dead_after=3)
    with torch.no_grad():
        vq.embedding.weight[1:] = 100.0  # seven codes far away: never chosen
    z = torch.randn(64, 4)
    for _ in range(2):
        vq(z)
    assert (vq.codebook[1:] == 100).all()
    out = vq(z)  # third step unused: restarted
    assert vq.restarts == 7
    restarted = vq.codebook.detach()[1:]
    assert naive_distances(restarted, z).min(1).values.max() == 0  # each is one of the batch vectors
    assert metrics.codes_used(vq(z).indices, 8) > 1


def test_kmeans_init_uses_first_batch():
    torch.manual_seed(0)
    z = torch.randn(200, 4)
    vq = VectorQuantizer(num_codes=8, code_dim=4, kmeans_init=True)
    vq.eval()
    vq(z)
    assert not bool(vq.initialized)  # only in training
    vq.train()
    loss_before = VectorQuantizer(num_codes=8, code_dim=4)(z).codebook_loss
    out = vq(z)
    assert bool(vq.initialized)
    assert out.codebook_loss < 0.5 * loss_before
    assert metrics.codes_used(out.indices, 8) == 8
    # the explicit function works on the (B, D, H, W) layout too
    vq2 = VectorQuantizer(num_codes=8, code_dim=4)
    init_codebook_kmeans(vq2, torch.randn(2, 4, 3, 3))
    assert bool(vq2.initialized)


def test_cosine_codes_are_unit_vectors():
    torch.manual_seed(0)
    vq = VectorQuantizer(num_codes=16, code_dim=8, cosine=True, init="normal")
    out = vq(3 * torch.randn(2, 8, 4, 4))
    assert torch.allclose(vq.codebook.norm(dim=1), torch.ones(16))
    assert torch.allclose(out.z_q.norm(dim=1), torch.ones(2, 4, 4))


def test_factorized_shapes():
    vq = FactorizedVectorQuantizer(num_codes=32, code_dim=64, lookup_dim=8)
    z = torch.randn(2, 64, 4, 4, requires_grad=True)
    out = vq(z)
    assert vq.codebook.shape == (32, 8)
    assert out.z_q.shape == z.shape and out.indices.shape == (2, 4, 4)
    assert torch.allclose(vq.lookup(out.indices), out.z_q.detach(), atol=1e-6)
    (out.z_q.sum() + out.loss).backward()
    assert z.grad.abs().sum() > 0 and vq.project_in.weight.grad is not None


def test_rotation_trick_forward_equals_codes_and_gradient_is_rotated():
    torch.manual_seed(0)
    z = torch.randn(6, 5, requires_grad=True)
    q = torch.randn(6, 5)
    out = rotation_trick(z, q)
    assert torch.equal(out, q)
    g = torch.randn(6, 5)
    (out * g).sum().backward()
    # explicit lambda R^T g with the D x D rotation
    for i in range(6):
        zi = z[i].detach()
        e, qh = zi / zi.norm(), q[i] / q[i].norm()
        r = (e + qh) / (e + qh).norm()
        rot = torch.eye(5) - 2 * torch.outer(r, r) + 2 * torch.outer(qh, e)
        assert torch.allclose(rot @ e, qh, atol=1e-5)  # R maps the direction of z onto that of z_q
        lam = q[i].norm() / zi.norm()
        assert torch.allclose(z.grad[i], lam * rot.t() @ g[i], atol=1e-5)
    assert not torch.allclose(z.grad, g)  # differs from straight-through


def test_rotation_quantizer_same_values_as_ste_different_gradient():
    torch.manual_seed(0)
    ste = VectorQuantizer(num_codes=16, code_dim=8, init="normal")
    rot = RotationVectorQuantizer(num_codes=16, code_dim=8)
    rot.load_state_dict(ste.state_dict())
    z1 = torch.randn(2, 8, 3, 3, requires_grad=True)
    z2 = z1.detach().clone().requires_grad_(True)
    a, b = ste(z1), rot(z2)
    assert torch.equal(a.indices, b.indices) and torch.allclose(a.z_q, b.z_q) and torch.allclose(a.loss, b.loss)
    w = torch.randn_like(z1)
    (a.z_q * w).sum().backward()
    (b.z_q * w).sum().backward()
    assert z2.grad.abs().sum() > 0 and not torch.allclose(z1.grad, z2.grad)


def test_fsq_grid_indices_and_gradient():
    fsq = FSQ(levels=(8, 5, 5, 5))
    assert fsq.num_codes == 1000 and fsq.codebook.shape == (1000, 4)
    z = 3 * torch.randn(2, 4, 6, 6, requires_grad=True)
    z.retain_grad()
    out = fsq(z)
    assert out.z_q.shape == z.shape and out.indices.shape == (2, 6, 6)
    assert out.loss.item() == 0.0
    half = torch.tensor([4.0, 2.0, 2.0, 2.0]).view(1, 4, 1, 1)
    scaled = out.z_q.detach() * half
    assert torch.allclose(scaled, scaled.round(), atol=1e-6)  # on the grid
    assert (scaled >= -half).all() and (scaled <= half - (half == 4).float()).all()
    assert (out.indices >= 0).all() and (out.indices < 1000).all()
    assert torch.allclose(fsq.lookup(out.indices), out.z_q.detach())
    # the implicit codebook lists every grid point once, in index order
    assert torch.equal(fsq.codes_to_indices(fsq.codebook), torch.arange(1000))
    assert len(torch.unique(fsq.codebook, dim=0)) == 1000
    out.z_q.sum().backward()
    assert z.grad.abs().sum() > 0  # straight-through through the rounding (times the tanh slope)


def test_fsq_with_projection():
    fsq = FSQ(levels=(8, 5, 5, 5), code_dim=64)
    z = torch.randn(3, 64, requires_grad=True)
    out = fsq(z)
    assert out.z_q.shape == (3, 64) and out.indices.shape == (3,)
    assert torch.allclose(fsq.lookup(out.indices), out.z_q.detach(), atol=1e-6)
    with pytest.raises(ValueError, match="D=64"):
        fsq(torch.randn(3, 4))


def test_half_precision_input_under_autocast():
    torch.manual_seed(0)
    vq = VectorQuantizer(num_codes=32, code_dim=8, init="normal")
    z = torch.randn(2, 8, 4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        zb = z.to(torch.bfloat16).requires_grad_(True)
        out = vq(zb)
    assert out.z_q.dtype == torch.bfloat16 and out.loss.dtype == torch.float32
    assert torch.equal(out.indices, vq(z.to(torch.bfloat16).float()).indices)  # same codes as in float32
    out.z_q.float().sum().backward()
    assert zb.grad is not None and zb.grad.dtype == torch.bfloat16


@pytest.mark.parametrize("kwargs", [dict(cosine=True), dict(lookup_dim=4), dict(cosine=True, lookup_dim=4)])
def test_restarts_during_training_keep_backward_working(kwargs):
    """A restart rewrites codes after the lookup; the backward pass must still run (it once raised)."""
    torch.manual_seed(0)
    vq = VectorQuantizer(num_codes=64, code_dim=8, restart_dead_after=1, **kwargs)
    z = torch.randn(32, 8, requires_grad=True)
    out = vq(z)
    assert vq.restarts > 0
    (out.z_q.square().mean() + out.loss).backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()
