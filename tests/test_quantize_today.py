"""The quantizers of today's tokenizers (notebook 14): ResidualVQ, LFQ, BSQ, SimVQ, and FSQ again.

Each is compared with vector-quantize-pytorch (lucidrains, v1.32; used here only, never by the course at run time)
on the same inputs and weights: the codes (z_q), the indices, the straight-through gradients and, where the two
define them the same way, the losses. Where they differ on purpose the difference itself is tested (ResidualVQ's
gradient scale). BSQ, which vector-quantize-pytorch has only as an LFQ option, is also checked against the
paper's equations on a case computed by hand.
"""
import math
import random

import pytest
import torch
import torch.nn.functional as F

from course_lib import quantize as Q

vqp = pytest.importorskip("vector_quantize_pytorch", reason="vector-quantize-pytorch (the `test` extra) is not "
                          "installed: the comparisons with it are skipped")


def _grad(fn, x, w):
    x = x.detach().clone().requires_grad_(True)
    out = fn(x)
    (out * w).sum().backward()
    return out.detach(), x.grad


# ------------------------------------------------------------------------------------------------ shared contract
def _all_quantizers(d=6):
    return {
        "ResidualVQ": Q.ResidualVQ(3, 16, d),
        "LFQ": Q.LFQ(d),
        "LFQ projected": Q.LFQ(5, code_dim=d),
        "BSQ": Q.BSQ(d),
        "SimVQ": Q.SimVQ(32, d),
        "FSQ": Q.FSQ((8, 5, 5, 5), code_dim=d),
    }


@pytest.mark.parametrize("name", list(_all_quantizers()))
@pytest.mark.parametrize("shape", [(2, 6, 3, 5), (30, 6)])
def test_shared_call_shape(name, shape):
    torch.manual_seed(0)
    q = _all_quantizers()[name].train()
    z = torch.randn(*shape, requires_grad=True)
    out = q(z)
    assert out.z_q.shape == z.shape and out.z_q.dtype == z.dtype
    idx_shape = (shape[0], *shape[2:]) if len(shape) == 4 else (shape[0],)
    if name == "ResidualVQ":
        idx_shape += (3,)
    assert tuple(out.indices.shape) == idx_shape and out.indices.dtype == torch.int64
    assert out.loss.dim() == 0
    (out.z_q.square().sum() + out.loss).backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    # decoding the indices gives the forward values back
    torch.testing.assert_close(q.lookup(out.indices), out.z_q.detach(), rtol=1e-5, atol=1e-5)
    # float64 input: same codes, float64 output
    out64 = q.eval()(z.detach().double())
    assert out64.z_q.dtype == torch.float64 and torch.equal(out64.indices, q(z.detach()).indices)


@pytest.mark.parametrize("name", list(_all_quantizers()))
def test_wrong_shapes_are_clear_errors(name):
    q = _all_quantizers()[name]
    with pytest.raises(ValueError, match=r"\(B, D, H, W\) or \(N, D\)"):
        q(torch.randn(2, 3, 6))
    with pytest.raises(ValueError, match="permute"):
        q(torch.randn(2, 4, 4, 6))  # channels last
    with pytest.raises(TypeError, match="floating-point"):
        q(torch.ones(3, 6, dtype=torch.long))


# ------------------------------------------------------------------------------------------------ ResidualVQ
def _paired_rvq(L=3, K=16, D=4, seed=0, **kwargs):
    torch.manual_seed(seed)
    ours = Q.ResidualVQ(L, K, D, beta=1.0, ema=True, decay=0.8, **kwargs).train()
    theirs = vqp.ResidualVQ(dim=D, num_quantizers=L, codebook_size=K, decay=0.8, rotation_trick=False,
                            quantize_dropout=bool(kwargs.get("quantizer_dropout"))).train()
    with torch.no_grad():
        for mine, other in zip(ours.levels, theirs.layers):
            mine.embed.copy_(torch.randn(K, D)); mine.embed_sum.copy_(mine.embed)
            other._codebook.embed.copy_(mine.embed[None])
    return ours, theirs


def test_residual_vq_matches_vector_quantize_pytorch():
    """Same codes, indices and per-level commitment losses as vector-quantize-pytorch's ResidualVQ (EMA levels,
    straight-through); its gradient to z is (levels used) x ours, because it adds the levels' straight-through
    outputs while we apply one estimator to the sum (RQ-VAE's code)."""
    L, D = 3, 4
    ours, theirs = _paired_rvq(L=L, D=D)
    x, w = torch.randn(2, 7, D), torch.randn(2, 7, D)
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    mine = ours(xa.reshape(-1, D))
    q, idx, losses = theirs(xb)
    torch.testing.assert_close(mine.z_q.reshape(2, 7, D), q, rtol=1e-5, atol=1e-6)
    assert torch.equal(mine.indices.reshape(2, 7, L), idx)
    torch.testing.assert_close(mine.loss, losses.sum(), rtol=1e-5, atol=1e-6)
    # gradients of the loss (commitment through the residuals) agree exactly
    ga, = torch.autograd.grad(mine.loss, xa, retain_graph=True)
    gb, = torch.autograd.grad(losses.sum(), xb, retain_graph=True)
    torch.testing.assert_close(ga.reshape(2, 7, D), gb, rtol=1e-5, atol=1e-6)
    # straight-through gradient: w for us, L * w for them
    ga, = torch.autograd.grad((mine.z_q.reshape(2, 7, D) * w).sum(), xa)
    gb, = torch.autograd.grad((q * w).sum(), xb)
    torch.testing.assert_close(ga.reshape(2, 7, D), w)
    torch.testing.assert_close(gb, L * w)


@pytest.mark.parametrize("seed", [1, 2, 5])
def test_residual_vq_dropout_matches_vector_quantize_pytorch(seed):
    """vector-quantize-pytorch draws the last level used with random.Random(seed).randrange(0, L); with the same
    number of levels our forward gives the same codes, the same -1 padding of unused levels and the same loss."""
    L, D = 4, 3
    ours, theirs = _paired_rvq(L=L, D=D, quantizer_dropout=True)
    used = random.Random(seed).randrange(0, L) + 1
    x = torch.randn(9, 5, D)
    mine = ours(x.reshape(-1, D), num_levels=used)
    q, idx, losses = theirs(x, rand_quantize_dropout_fixed_seed=seed)
    assert torch.equal(mine.indices.reshape(9, 5, L), idx)
    assert (idx[..., used:] == -1).all() and (idx[..., :used] >= 0).all()
    torch.testing.assert_close(mine.z_q.reshape(9, 5, D), q, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(mine.loss, losses.sum(), rtol=1e-5, atol=1e-6)


def test_residual_vq_levels_code_the_residuals_and_decode_with_fewer_levels():
    torch.manual_seed(0)
    rvq = Q.ResidualVQ(3, 8, 2).eval()
    z = torch.randn(50, 2)
    out = rvq(z)
    # by hand: each level takes the nearest code to what the previous levels left
    residual, total = z.clone(), torch.zeros_like(z)
    for l, level in enumerate(rvq.levels):
        k = Q.nearest_code(residual, level.codebook)
        assert torch.equal(out.indices[:, l], k)
        total += level.codebook[k]
        residual -= level.codebook[k]
    torch.testing.assert_close(out.z_q.detach(), total)
    for k in (1, 2, 3):
        fewer = rvq(z, num_levels=k)
        assert torch.equal(fewer.indices[:, :k], out.indices[:, :k]) and (fewer.indices[:, k:] == -1).all()
        torch.testing.assert_close(rvq.lookup(out.indices[:, :k]), fewer.z_q.detach())
    with pytest.raises(ValueError, match="num_levels must be in 1..3"):
        rvq(z, num_levels=4)
    with pytest.raises(ValueError, match="levels"):
        rvq.lookup(out.indices[:, 0])


def test_residual_vq_loss_is_the_sum_of_the_levels_losses_on_their_residuals():
    torch.manual_seed(0)
    rvq = Q.ResidualVQ(2, 8, 3, beta=0.4).train()
    z = torch.randn(40, 3, requires_grad=True)
    out = rvq(z)
    c1 = rvq.levels[0].codebook[out.indices[:, 0]]
    c2 = rvq.levels[1].codebook[out.indices[:, 1]]
    r1 = z - c1.detach()
    expected = (F.mse_loss(c1, z.detach()) + 0.4 * F.mse_loss(z, c1.detach())
                + F.mse_loss(c2, r1.detach()) + 0.4 * F.mse_loss(r1, c2.detach()))
    torch.testing.assert_close(out.loss, expected)
    # the second level's loss trains only its own codebook: no gradient reaches level 1 through the residual
    g1 = torch.autograd.grad(out.loss, rvq.levels[0].embedding.weight, retain_graph=True)[0]
    g1_alone = torch.autograd.grad(F.mse_loss(c1, z.detach()), rvq.levels[0].embedding.weight)[0]
    torch.testing.assert_close(g1, g1_alone)


def test_quantizer_dropout_draws_levels_per_batch_in_training_only():
    torch.manual_seed(0)
    rvq = Q.ResidualVQ(4, 8, 2, quantizer_dropout=True, dropout_min_levels=2).train()
    seen = set()
    for _ in range(60):
        out = rvq(torch.randn(20, 2))
        used = int((out.indices[0] >= 0).sum())
        assert (out.indices[:, :used] >= 0).all() and (out.indices[:, used:] == -1).all()
        assert out.stats["levels_used"] == used
        seen.add(used)
    assert seen == {2, 3, 4}
    assert (rvq.eval()(torch.randn(20, 2)).indices >= 0).all()
    with pytest.raises(ValueError, match="dropout_min_levels"):
        Q.ResidualVQ(3, 8, 2, dropout_min_levels=4)


def test_residual_vq_levels_take_the_cures_of_notebook_05():
    torch.manual_seed(0)
    rvq = Q.ResidualVQ(2, 16, 2, kmeans_init=True, restart_dead_after=2).train()
    z = torch.randn(64, 2)
    rvq(z)
    assert all(bool(level.initialized) for level in rvq.levels)
    # level 2 was initialised on the residuals of level 1, which are smaller than z
    assert rvq.levels[1].codebook.norm(dim=1).mean() < 0.6 * rvq.levels[0].codebook.norm(dim=1).mean()


# ------------------------------------------------------------------------------------------------ LFQ
def _paired_lfq(bits=5, code_dim=None, **kw):
    torch.manual_seed(0)
    ours = Q.LFQ(bits, code_dim, entropy="full", **kw).train()
    theirs_kw = dict(entropy_loss_weight=ours.entropy_weight, diversity_gamma=ours.diversity_gamma,
                     commitment_loss_weight=ours.commitment_weight)
    theirs = vqp.LFQ(dim=code_dim or bits, codebook_size=2 ** bits, **theirs_kw).train()
    if code_dim is not None:
        theirs.load_state_dict({"project_in.weight": ours.project_in.weight, "project_in.bias": ours.project_in.bias,
                                "project_out.weight": ours.project_out.weight,
                                "project_out.bias": ours.project_out.bias}, strict=False)
    return ours, theirs


@pytest.mark.parametrize("kw", [dict(), dict(inv_temperature=1.0), dict(commitment_weight=0.25, diversity_gamma=0.7),
                                dict(code_dim=8, entropy_weight=0.3)])
def test_lfq_matches_vector_quantize_pytorch(kw):
    kw = dict(kw)
    code_dim = kw.pop("code_dim", None)
    tau = kw.get("inv_temperature", 100.0)
    ours, theirs = _paired_lfq(5, code_dim, **kw)
    d = code_dim or 5
    x, w = torch.randn(3, 11, d), torch.randn(3, 11, d)
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    mine = ours(xa.reshape(-1, d))
    (q, idx, aux), breakdown = theirs(xb, inv_temperature=tau, return_loss_breakdown=True)
    torch.testing.assert_close(mine.z_q.reshape(3, 11, d), q, rtol=1e-5, atol=1e-6)
    assert torch.equal(mine.indices.reshape(3, 11), idx)
    torch.testing.assert_close(mine.loss, aux, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(mine.stats["per_sample_entropy"], breakdown.per_sample_entropy, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(mine.stats["codebook_entropy"], breakdown.batch_entropy, rtol=1e-5, atol=1e-6)
    ga, = torch.autograd.grad((mine.z_q.reshape(3, 11, d) * w).sum() + mine.loss, xa)
    gb, = torch.autograd.grad((q * w).sum() + aux, xb)
    torch.testing.assert_close(ga.reshape(3, 11, d), gb, rtol=1e-4, atol=2e-5)  # float32 sums in another order


def test_lfq_indices_are_the_signs_as_a_binary_number_first_dimension_most_significant():
    lfq = Q.LFQ(3)
    z = torch.tensor([[0.5, -1.0, 2.0], [-0.1, -0.2, -0.3], [1.0, 1.0, 1.0], [-1.0, 0.0, 0.3]])
    out = lfq(z)
    assert out.indices.tolist() == [0b101, 0, 0b111, 0b001]  # 0 counts as negative
    assert out.z_q.tolist() == [[1, -1, 1], [-1, -1, -1], [1, 1, 1], [-1, -1, 1]]
    assert torch.equal(lfq.codebook[out.indices], out.z_q.detach())


def test_lfq_factorized_entropy_is_exact_per_sample_and_an_upper_bound_for_the_codebook():
    torch.manual_seed(0)
    x = torch.randn(200, 6) * 0.5
    for tau in (0.1, 0.3):  # small tau: no probability below the 1e-5 clamp of the full computation
        full = Q.binary_entropy_terms(x, tau, factorized=False)
        fact = Q.binary_entropy_terms(x, tau, factorized=True)
        torch.testing.assert_close(fact[0], full[0], rtol=1e-4, atol=1e-5)
        assert fact[1] >= full[1] - 1e-5
    # independent, balanced bits: the bound is tight (6 bits of entropy = 6 ln 2 nats)
    signs = (torch.randint(0, 2, (20000, 6)) * 2 - 1).float() * 3.0
    full, fact = Q.binary_entropy_terms(signs, 1.0), Q.binary_entropy_terms(signs, 1.0, factorized=True)
    assert abs(float(full[1]) - 6 * math.log(2)) < 0.01 and abs(float(fact[1]) - 6 * math.log(2)) < 0.01
    assert float(full[0]) < 1e-3  # confident: every vector far from the boundaries


def test_lfq_picks_factorized_entropy_for_large_codebooks():
    assert not Q.LFQ(12).factorized and Q.LFQ(16).factorized and Q.LFQ(4, entropy="factorized").factorized
    out = Q.LFQ(16).train()(torch.randn(8, 16, 2, 2))
    assert out.indices.max() < 2 ** 16 and torch.isfinite(out.loss)
    with pytest.raises(ValueError, match="bits"):
        Q.LFQ(0)
    with pytest.raises(ValueError, match="entropy"):
        Q.LFQ(4, entropy="exact")


def test_lfq_entropy_penalty_pushes_the_right_way():
    """Gradient steps on the penalty alone spread a batch that uses 3 codes over many more, raise the codebook
    entropy and lower the per-sample entropy."""
    torch.manual_seed(0)
    lfq = Q.LFQ(4, inv_temperature=1.0, entropy_weight=1.0)
    x = (torch.randn(256, 4) * 0.3 + torch.tensor([1.0, 1.0, -1.0, 0.2])).requires_grad_(True)
    opt = torch.optim.SGD([x], lr=2.0)
    before = lfq(x.detach())
    for _ in range(100):
        opt.zero_grad(); lfq(x).loss.backward(); opt.step()
    after = lfq(x.detach())
    assert before.indices.unique().numel() == 3 and after.indices.unique().numel() >= 10
    assert after.stats["codebook_entropy"] > before.stats["codebook_entropy"] + 0.3
    assert after.stats["per_sample_entropy"] < before.stats["per_sample_entropy"] - 0.2


# ------------------------------------------------------------------------------------------------ BSQ
def test_bsq_on_a_case_computed_by_hand():
    """z = (3, -4): u = z/|z| = (0.6, -0.8), q = (1, -1)/sqrt(2), index 0b10 = 2; the gradient of <z_q, w> to z is
    the straight-through w projected onto the sphere's tangent plane, (I - u u^T) w / |z|."""
    bsq = Q.BSQ(2, entropy_weight=1.0)
    z = torch.tensor([[3.0, -4.0]], requires_grad=True)
    out = bsq(z)
    s = 1 / math.sqrt(2)
    assert out.indices.tolist() == [2]
    torch.testing.assert_close(out.z_q.detach(), torch.tensor([[s, -s]]))
    w = torch.tensor([[0.3, 2.0]])
    g, = torch.autograd.grad((out.z_q * w).sum(), z)
    u = torch.tensor([[0.6, -0.8]])
    torch.testing.assert_close(g, (w - (w * u).sum() * u) / 5.0)
    # entropies with tau = 1: P(bit = +1) = sigmoid(4 u_i / sqrt(2))
    h = lambda p: -(p * math.log(p) + (1 - p) * math.log(1 - p))
    sig = lambda a: 1 / (1 + math.exp(-a))
    p = [sig(4 * 0.6 * s), sig(-4 * 0.8 * s)]
    assert out.stats["per_sample_entropy"].item() == pytest.approx(h(p[0]) + h(p[1]), rel=1e-5)
    # one vector: the batch mean is the vector's own distribution, so the two entropies are equal
    assert out.stats["codebook_entropy"].item() == pytest.approx(h(p[0]) + h(p[1]), rel=1e-5)
    assert out.loss.item() == pytest.approx(0.0, abs=1e-6)
    # two opposite vectors: batch bit probabilities 1/2, codebook entropy 2 ln 2
    two = bsq(torch.tensor([[3.0, -4.0], [-3.0, 4.0]]))
    assert two.indices.tolist() == [2, 1]
    assert two.stats["codebook_entropy"].item() == pytest.approx(2 * math.log(2), rel=1e-6)
    assert two.loss.item() == pytest.approx(h(p[0]) + h(p[1]) - 2 * math.log(2), rel=1e-5)


def test_bsq_codes_are_unit_vectors_and_the_error_is_bounded():
    torch.manual_seed(0)
    bsq = Q.BSQ(8)
    z = torch.randn(500, 8) * torch.logspace(-3, 3, 500)[:, None]  # any scale
    out = bsq(z)
    torch.testing.assert_close(out.z_q.norm(dim=1), torch.ones(500))
    err = (out.z_q - F.normalize(z, dim=1)).norm(dim=1)
    assert float(err.max()) < math.sqrt(2)
    torch.testing.assert_close(bsq.codebook[out.indices], out.z_q)


def test_bsq_matches_vector_quantize_pytorchs_spherical_lfq():
    """vector-quantize-pytorch has BSQ's quantization as LFQ(spherical=True): the same codes, indices and
    straight-through gradients. Its entropy is the full softmax at inverse temperature 100, which our
    binary_entropy_terms reproduces; BSQ itself uses the factorised form at tau = 1 (the authors' code)."""
    torch.manual_seed(0)
    d = 5
    ours = Q.BSQ(d).train()
    theirs = vqp.LFQ(dim=d, codebook_size=2 ** d, spherical=True).train()
    x, w = torch.randn(2, 9, d), torch.randn(2, 9, d)
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    mine = ours(xa.reshape(-1, d))
    (q, idx, _), breakdown = theirs(xb, return_loss_breakdown=True)
    torch.testing.assert_close(mine.z_q.reshape(2, 9, d), q, rtol=1e-5, atol=1e-6)
    assert torch.equal(mine.indices.reshape(2, 9), idx)
    ga, = torch.autograd.grad((mine.z_q.reshape(2, 9, d) * w).sum(), xa)
    gb, = torch.autograd.grad((q * w).sum(), xb)
    torch.testing.assert_close(ga.reshape(2, 9, d), gb, rtol=1e-5, atol=1e-6)
    u = F.normalize(x.reshape(-1, d), dim=1)
    per_sample, codebook = Q.binary_entropy_terms(u, 100.0, scale=1 / math.sqrt(d))
    torch.testing.assert_close(per_sample, breakdown.per_sample_entropy, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(codebook, breakdown.batch_entropy, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------------ SimVQ
@pytest.mark.parametrize("grad", ["ste", "rotation"])
def test_simvq_matches_vector_quantize_pytorch(grad):
    torch.manual_seed(0)
    K, D = 24, 6
    ours = Q.SimVQ(K, D, beta=0.25, grad=grad).train()
    theirs = vqp.SimVQ(dim=D, codebook_size=K, rotation_trick=grad == "rotation").train()
    with torch.no_grad():
        theirs.frozen_codebook.copy_(ours.frozen_codebook)
        theirs.code_transform.weight.copy_(ours.code_transform.weight)
    x, w = torch.randn(4, 10, D), torch.randn(4, 10, D)
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    mine = ours(xa.reshape(-1, D))
    q, idx, loss = theirs(xb)
    torch.testing.assert_close(mine.z_q.reshape(4, 10, D), q, rtol=1e-5, atol=1e-6)
    assert torch.equal(mine.indices.reshape(4, 10), idx)
    torch.testing.assert_close(mine.loss, loss, rtol=1e-5, atol=1e-6)
    ours.zero_grad(); theirs.zero_grad()
    ((mine.z_q.reshape(4, 10, D) * w).sum() + mine.loss).backward()
    ((q * w).sum() + loss).backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(ours.code_transform.weight.grad, theirs.code_transform.weight.grad, rtol=1e-4,
                               atol=1e-6)


def test_simvq_moves_every_code_with_one_gradient_step():
    torch.manual_seed(0)
    sim = Q.SimVQ(64, 4).train()
    z = torch.randn(8, 4) + 3.0  # few codes chosen
    before = sim.codebook.detach().clone()
    out = sim(z)
    assert out.indices.unique().numel() < 64
    opt = torch.optim.SGD(sim.parameters(), lr=0.1)
    out.loss.backward(); opt.step()
    moved = (sim.codebook.detach() - before).norm(dim=1) > 1e-6
    assert moved.all()  # unused codes move too (a plain VectorQuantizer moves only the chosen ones)
    assert not any(p is sim.frozen_codebook for p in sim.parameters())
    with pytest.raises(ValueError, match="SimVQ"):
        Q.init_codebook_kmeans(sim, torch.randn(100, 4))


# ------------------------------------------------------------------------------------------------ FSQ
@pytest.mark.parametrize("levels", [(8, 5, 5, 5), (7, 5, 5, 5, 5), (4, 4, 3)])
def test_fsq_matches_vector_quantize_pytorch(levels):
    torch.manual_seed(0)
    d = len(levels)
    ours, theirs = Q.FSQ(levels), vqp.FSQ(levels=list(levels))
    x, w = torch.randn(3, 20, d) * 2, torch.randn(3, 20, d)
    za, ga = _grad(lambda t: ours(t.reshape(-1, d)).z_q.reshape(3, 20, d), x, w)
    zb, gb = _grad(lambda t: theirs(t)[0], x, w)
    torch.testing.assert_close(za, zb)
    torch.testing.assert_close(ga, gb)
    assert torch.equal(ours(x.reshape(-1, d)).indices.reshape(3, 20), theirs(x)[1].long())


def test_fsq_with_projections_matches_vector_quantize_pytorch():
    torch.manual_seed(0)
    levels, D = (8, 5, 5, 5), 7
    ours, theirs = Q.FSQ(levels, code_dim=D), vqp.FSQ(levels=list(levels), dim=D)
    theirs.load_state_dict(ours.state_dict(), strict=False)
    x, w = torch.randn(2, 6, D), torch.randn(2, 6, D)
    za, ga = _grad(lambda t: ours(t.reshape(-1, D)).z_q.reshape(2, 6, D), x, w)
    zb, gb = _grad(lambda t: theirs(t)[0], x, w)
    torch.testing.assert_close(za, zb, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ga, gb, rtol=1e-5, atol=1e-6)


def test_factorized_entropy_has_finite_gradients_when_bits_saturate():
    """At LFQ's default inverse temperature (100) every bit probability of a batch can round to exactly 0 or 1;
    the codebook entropy's gradient must stay finite there (it was NaN: d(p log p)/dp = log p + 1)."""
    lfq = Q.LFQ(16).train()
    z = (torch.randn(64, 16) * 3).requires_grad_(True)
    z.data[:, 0] = 5.0  # bit 0 is +1 for every vector: its batch-mean probability is exactly 1
    out = lfq(z)
    out.loss.backward()
    assert lfq.factorized and torch.isfinite(out.loss) and torch.isfinite(z.grad).all()
