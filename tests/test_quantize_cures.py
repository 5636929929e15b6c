"""The options of course_lib.quantize that notebook 05 compares as cures for codebook collapse (issue 11 and issue 12
item 2): EMA lookup order, the decay of unused EMA codes, restarts without replacement and with fresh optimiser
state, the affine reparameterisation, and the plain-function forms of the three exercises."""
import math

import pytest
import torch

from course_lib import quantize as Q


def test_ema_z_q_uses_the_codes_before_this_steps_update():
    """Sonnet's VectorQuantizerEMA looks up the codes, then updates the averages: z_q is the OLD code."""
    torch.manual_seed(0)
    vq = Q.EMAVectorQuantizer(num_codes=8, code_dim=3, decay=0.5, init="normal").train()
    old = vq.codebook.clone()
    z = torch.randn(40, 3)
    out = vq(z)
    assert torch.allclose(out.z_q, old[out.indices])
    assert not torch.allclose(vq.codebook, old)  # the update did happen, for the next call
    # commitment loss measured against the old codes as well
    assert torch.allclose(out.commitment_loss, 0.25 * (z - old[out.indices]).pow(2).mean(), atol=1e-6)


def test_ema_unused_code_decays_like_decay_to_the_t():
    """An unused EMA code is not frozen: e(t) = e(0) g^t / (g^t + eps) * (n + K eps) / n."""
    g, eps, k = 0.9, 1e-3, 4
    vq = Q.EMAVectorQuantizer(num_codes=k, code_dim=2, decay=g, eps=eps, init="normal").train()
    with torch.no_grad():
        vq.embed.copy_(torch.tensor([[0.0, 0.0], [5.0, 5.0], [9.0, -9.0], [-9.0, 9.0]]))
        vq.embed_sum.copy_(vq.embed)
    e0 = vq.codebook[1].clone()
    z = torch.zeros(16, 2)  # every vector picks code 0
    for t in range(1, 121):
        vq(z)
        n = float(vq.cluster_size.sum())
        expected = e0 * g ** t / (g ** t + eps) * (n + k * eps) / n
        assert torch.allclose(vq.codebook[1], expected, rtol=1e-3, atol=1e-6), t
    assert vq.codebook[1].norm() < 0.02 * e0.norm()  # it has decayed towards the origin


def test_ema_update_function_matches_the_quantizer():
    torch.manual_seed(1)
    vq = Q.EMAVectorQuantizer(num_codes=16, code_dim=3, decay=0.8, eps=1e-2).train()
    cs, es = vq.cluster_size.clone(), vq.embed_sum.clone()
    z = torch.randn(30, 3)
    idx = Q.nearest_code(z, vq.codebook)
    vq(z)
    size, total, codes = Q.ema_update(cs, es, z, idx, 0.8, 1e-2)
    assert torch.allclose(vq.cluster_size, size) and torch.allclose(vq.embed_sum, total)
    assert torch.allclose(vq.codebook, codes)


def test_restart_function_samples_without_replacement():
    codebook = torch.full((50, 2), 7.0)
    counts = torch.zeros(50)
    counts[:10] = 3
    z = torch.randn(40, 2)
    torch.manual_seed(0)
    new = Q.restart_dead_codes(codebook, counts, z)
    assert torch.equal(new[:10], codebook[:10])
    restarted = new[10:]
    assert len(torch.unique(restarted, dim=0)) == 40  # 40 dead codes, 40 rows: each row used exactly once
    # more dead codes than rows: only len(z) of them move, onto distinct rows
    new = Q.restart_dead_codes(codebook, torch.zeros(50), z[:5])
    moved = (new != 7.0).any(1)
    assert int(moved.sum()) == 5 and len(torch.unique(new[moved], dim=0)) == 5


def test_quantizer_restarts_land_on_distinct_inputs():
    torch.manual_seed(0)
    vq = Q.VectorQuantizer(num_codes=64, code_dim=2, restart_dead_after=1).train()
    z = torch.randn(48, 2) * 3
    vq(z)  # nearly every tiny code is dead after one step
    moved = vq.codebook.detach().norm(dim=1) > 0.1
    rows = vq.codebook.detach()[moved]
    assert int(moved.sum()) >= 40
    assert len(torch.unique(rows, dim=0)) == len(rows)
    assert all(bool((r - z).abs().amax(1).min() < 1e-6) for r in rows)


def test_restart_resets_adam_state_of_the_restarted_rows_only():
    torch.manual_seed(0)
    vq = Q.VectorQuantizer(num_codes=8, code_dim=2, init="normal", restart_dead_after=3).train()
    opt = torch.optim.Adam(vq.parameters(), lr=1e-2)
    vq.attach_optimizer(opt)
    z_all = torch.randn(64, 2)
    # two steps where every code is used: every row gets Adam state
    with torch.no_grad():
        vq.embedding.weight.copy_(z_all[:8])
    for _ in range(2):
        out = vq(z_all[:8] + 0.05 * torch.randn(8, 2)); opt.zero_grad(); out.loss.backward(); opt.step()
    state = opt.state[vq.embedding.weight]
    assert state["exp_avg_sq"].abs().sum(1).min() > 0
    # now only code 0 is chosen, so codes 1..7 die and are restarted after 3 steps
    z0 = vq.codebook.detach()[:1].repeat(16, 1) + 0.01 * torch.randn(16, 2)
    for _ in range(3):
        out = vq(z0); opt.zero_grad(); out.loss.backward(); opt.step()
        if vq.restarts:
            break
    assert vq.restarts > 0
    restarted = (vq.steps_unused == 0) & (torch.arange(8) != 0)
    assert restarted.any()
    assert torch.all(state["exp_avg"][restarted] == 0) and torch.all(state["exp_avg_sq"][restarted] == 0)
    assert state["exp_avg_sq"][0].abs().sum() > 0  # the live code keeps its state


def test_without_attach_the_optimizer_state_is_kept():
    torch.manual_seed(0)
    vq = Q.VectorQuantizer(num_codes=4, code_dim=2, init="normal").train()
    opt = torch.optim.Adam(vq.parameters(), lr=1e-2)
    out = vq(torch.randn(32, 2)); out.loss.backward(); opt.step()
    before = opt.state[vq.embedding.weight]["exp_avg_sq"].clone()
    vq._set_codes(torch.tensor([0, 1]), torch.ones(2, 2))
    assert torch.equal(opt.state[vq.embedding.weight]["exp_avg_sq"], before)


def test_affine_codes_are_scale_times_raw_plus_shift_and_all_move_together():
    torch.manual_seed(0)
    vq = Q.VectorQuantizer(num_codes=32, code_dim=4, affine=True).train()
    assert "affine=True" in repr(vq)
    with torch.no_grad():
        vq.affine_scale.fill_(2.0); vq.affine_shift.fill_(0.5)
    assert torch.allclose(vq.codebook, vq.embedding.weight * 2.0 + 0.5)
    with torch.no_grad():
        vq.affine_scale.fill_(1.0); vq.affine_shift.fill_(0.0)
    # a few chosen codes: the shared shift gets a gradient, so after a step EVERY code has moved
    opt = torch.optim.SGD(vq.parameters(), lr=0.5)
    before = vq.codebook.detach().clone()
    z = torch.randn(64, 4) + 3.0
    out = vq(z)
    used = torch.zeros(32, dtype=torch.bool); used[out.indices] = True
    assert (~used).any()
    opt.zero_grad(); out.loss.backward(); opt.step()
    moved = (vq.codebook.detach() - before).norm(dim=1) > 1e-4
    assert moved[~used].all()
    # the plain quantizer moves only the chosen codes
    torch.manual_seed(0)
    plain = Q.VectorQuantizer(num_codes=32, code_dim=4).train()
    opt = torch.optim.SGD(plain.parameters(), lr=0.5)
    before = plain.codebook.detach().clone()
    out = plain(z); opt.zero_grad(); out.loss.backward(); opt.step()
    used = torch.zeros(32, dtype=torch.bool); used[out.indices] = True
    assert torch.allclose(plain.codebook.detach()[~used], before[~used])


def test_affine_restart_and_kmeans_place_the_effective_code():
    torch.manual_seed(0)
    vq = Q.VectorQuantizer(num_codes=16, code_dim=3, affine=True, kmeans_init=True, restart_dead_after=1).train()
    with torch.no_grad():
        vq.affine_scale.fill_(3.0); vq.affine_shift.fill_(-1.0)
    z = torch.randn(200, 3)
    vq(z)
    # after k-means init every effective code sits among the data (not 3x away from it)
    d = Q.squared_distances(vq.codebook.detach(), z).min(1).values.sqrt()
    assert float(d.max()) < 1.0
    with pytest.raises(ValueError, match="affine"):
        Q.EMAVectorQuantizer(8, 2, affine=True)


@pytest.mark.parametrize("scale", [(-0.5, 1.0), (-2.0, -3.0), (1e-7, -1e-7), (3.0, 1e-30)])
def test_affine_set_codes_decodes_back_to_the_requested_code(scale):
    """Issue 23.2 / review 05-06 F11: clamping the scale to 1e-6 stored (-500000, 2) for the code (1, 2) with a
    scale (-0.5, 1). Dividing by the signed scale gives back exactly the code that was asked for."""
    vq = Q.VectorQuantizer(num_codes=4, code_dim=2, affine=True)
    with torch.no_grad():
        vq.affine_scale.copy_(torch.tensor(scale)); vq.affine_shift.copy_(torch.tensor([0.25, -0.5]))
    wanted = torch.tensor([[1.0, 2.0], [-3.0, 0.5]])
    vq._set_codes(torch.tensor([1, 3]), wanted)
    torch.testing.assert_close(vq.codebook.detach()[[1, 3]], wanted, rtol=1e-5, atol=1e-5)
    assert torch.isfinite(vq.embedding.weight).all()


def test_affine_set_codes_with_the_review_numbers():
    vq = Q.VectorQuantizer(num_codes=2, code_dim=2, affine=True)
    with torch.no_grad():
        vq.affine_scale.copy_(torch.tensor([-0.5, 1.0]))
    vq._set_codes(torch.tensor([0]), torch.tensor([[1.0, 2.0]]))
    assert vq.embedding.weight[0].tolist() == [-2.0, 2.0]  # was (-500000, 2)
    assert vq.codebook[0].tolist() == [1.0, 2.0]


def test_affine_set_codes_with_a_zero_scale_is_a_clear_error():
    vq = Q.VectorQuantizer(num_codes=4, code_dim=3, affine=True)
    with torch.no_grad():
        vq.affine_scale.copy_(torch.tensor([1.0, 0.0, 2.0]))
    before = vq.embedding.weight.detach().clone()
    with pytest.raises(ValueError, match=r"scale is 0 .* dimension\(s\) \[1\]"):
        vq._set_codes(torch.tensor([0]), torch.tensor([[1.0, 2.0, 3.0]]))
    assert torch.equal(vq.embedding.weight, before)  # nothing half-written


def test_affine_restarts_and_kmeans_with_a_negative_scale_place_codes_on_the_data():
    """Restarts and k-means init go through _set_codes: with a negative scale the effective codes must still land
    on encoder outputs (before the fix they landed about 1e6 away)."""
    torch.manual_seed(0)
    z = torch.randn(64, 3)
    vq = Q.VectorQuantizer(num_codes=8, code_dim=3, affine=True, kmeans_init=True).train()
    with torch.no_grad():
        vq.affine_scale.copy_(torch.tensor([-0.5, 2.0, -1.5])); vq.affine_shift.fill_(0.3)
    vq(z)
    d = Q.squared_distances(vq.codebook.detach(), z).min(1).values.sqrt()
    assert float(d.max()) < 1.5
    rs = Q.VectorQuantizer(num_codes=8, code_dim=3, affine=True, restart_dead_after=1).train()
    with torch.no_grad():
        rs.affine_scale.copy_(torch.tensor([-0.5, 2.0, -1.5])); rs.embedding.weight.fill_(50.0)
    out = rs(z)  # one code wins, the 7 others are restarted onto rows of z
    dead = torch.ones(8, dtype=torch.bool); dead[out.indices] = False
    d = Q.squared_distances(rs.codebook.detach()[dead], z).min(1).values
    assert dead.sum() >= 7 and float(d.max()) < 1e-8


def test_fsq_quantize_function_equals_the_module():
    for levels in [(8, 5, 5, 5), (4, 4, 3), (7, 5, 5, 5, 5)]:
        z = torch.randn(300, len(levels), requires_grad=True)
        a = Q.fsq_quantize(z, levels)
        b = Q.FSQ(levels).quantize(z)
        assert torch.equal(a, b)
        g1, = torch.autograd.grad(a.sum(), z)
        g2, = torch.autograd.grad(b.sum(), z)
        assert torch.allclose(g1, g2)
