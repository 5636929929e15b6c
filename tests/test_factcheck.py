"""course_lib.factcheck: the measuring helpers of notebook 15."""
import math

import pytest
import torch
import torch.nn as nn

from course_lib import factcheck as fc
from course_lib.models import VQVAE
from course_lib.quantize import VectorQuantizer


def test_categorical_kl_one_hot_uniform_is_log_k_and_finite():
    k = 10
    q = torch.eye(k, dtype=torch.float64)
    p = torch.full((k, k), 1.0 / k, dtype=torch.float64)
    kl = fc.categorical_kl(q, p)
    assert kl.shape == (k,) and torch.isfinite(kl).all()
    assert torch.allclose(kl, torch.full((k,), math.log(k), dtype=torch.float64))
    assert float(fc.categorical_kl(p[:1], p[:1])) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        fc.categorical_kl(q, p[:, :3])


def test_categorical_kl_matches_definition_for_dense_q():
    g = torch.Generator().manual_seed(0)
    q = torch.softmax(torch.randn(4, 6, generator=g, dtype=torch.float64), -1)
    p = torch.softmax(torch.randn(4, 6, generator=g, dtype=torch.float64), -1)
    assert torch.allclose(fc.categorical_kl(q, p), (q * (q / p).log()).sum(-1))
    assert (fc.categorical_kl(q, p) > 0).all()


def test_coefficient_of_variation():
    assert fc.coefficient_of_variation([2.0, 2.0, 2.0]) == 0.0
    assert math.isclose(fc.coefficient_of_variation([1.0, 3.0]), 0.5)
    assert math.isclose(fc.coefficient_of_variation([10.0, 30.0]), fc.coefficient_of_variation([1.0, 3.0]))
    with pytest.raises(ValueError):
        fc.coefficient_of_variation([1.0])
    with pytest.raises(ValueError):
        fc.coefficient_of_variation([1.0, -1.0])


def test_count_flops_counts_forward_and_backward():
    lin = nn.Linear(8, 4, bias=False)
    x = torch.randn(3, 8)
    fwd = fc.count_flops(lambda: lin(x))
    assert fwd == 2 * 3 * 8 * 4
    both = fc.count_flops(lambda: lin(x).sum().backward())
    assert both > fwd


def test_median_time_and_num_parameters():
    assert fc.median_time(lambda: sum(range(100)), repeats=3, warmup=0) >= 0.0
    with pytest.raises(ValueError):
        fc.median_time(lambda: None, repeats=0)
    a, b = nn.Linear(2, 3), nn.Linear(3, 1)
    assert fc.num_parameters(a) == 9 and fc.num_parameters(a, b) == 13 and fc.num_parameters(a, a) == 9


def test_distances_and_correlation():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    assert torch.allclose(fc.pairwise_distances(x), torch.tensor([5.0, 10.0, 5.0], dtype=torch.float64))
    assert math.isclose(fc.distance_correlation(x, 2 * x + 1), 1.0, rel_tol=1e-9)
    ref = torch.tensor([[0.0, 0.0], [6.0, 8.0]])
    assert torch.allclose(fc.nearest_neighbour_distance(x, ref), torch.tensor([0.0, 5.0, 0.0]))
    with pytest.raises(ValueError):
        fc.pairwise_distances(x[:1])


def test_mean_pairwise_hamming():
    same = torch.zeros(4, 5, dtype=torch.long)
    assert fc.mean_pairwise_hamming(same) == 0.0
    t = torch.tensor([[0, 0], [0, 1], [1, 1]])
    assert math.isclose(fc.mean_pairwise_hamming(t), (0.5 + 1.0 + 0.5) / 3)
    with pytest.raises(ValueError):
        fc.mean_pairwise_hamming(torch.zeros(5, dtype=torch.long))


def test_spatial_vae_has_the_vqvae_body():
    torch.manual_seed(0)
    vae = fc.SpatialVAE(1, hidden=8, latent_dim=4, downsamples=2, res_blocks=1)
    vq = VQVAE(VectorQuantizer(16, 4), 1, hidden=8, downsamples=2, res_blocks=1)
    out = vae(torch.rand(2, 1, 28, 28))
    assert out.x_hat.shape == (2, 1, 28, 28) and out.mu.shape == out.logvar.shape == (2, 4, 7, 7)
    assert fc.num_parameters(vae.encoder) == fc.num_parameters(vq.encoder)
    assert fc.num_parameters(vae.decoder) == fc.num_parameters(vq.decoder)


def test_run_article_code_every_listing_fails_with_the_documented_error():
    outcomes = dict(fc.run_article_code(torch.rand(4, 1, 28, 28)))
    assert len(outcomes) == 6 and all(o != "ran" for o in outcomes.values())
    assert "no attribute 'g'" in outcomes["5.2.2 VQGAN(784, 20, 512) on flattened images"]
    assert "backward through the graph a second time" in \
        outcomes["5.3 VQGAN training step, flattened images and z of size z_dim"]
    assert all(o.startswith(("RuntimeError", "AttributeError")) for o in outcomes.values())


def test_soft_attention_ae_soft_and_hard_paths():
    torch.manual_seed(0)
    m = fc.SoftAttentionAE(input_dim=12, latent_dim=3, num_codes=5, hidden=8)
    x = torch.rand(4, 1, 3, 4)
    x_hat, q, z = m(x)
    assert x_hat.shape == x.shape and q.shape == (4, 5) and z.shape == (4, 3)
    assert torch.allclose(q.sum(-1), torch.ones(4)) and (fc.soft_assignment_entropy(q) > 0).all()
    _, q_hard, _ = m(x, hard=True)
    assert torch.equal(q_hard.sum(-1), torch.ones(4)) and fc.soft_assignment_entropy(q_hard).abs().max() == 0


def test_noise_gan_output_ignores_the_image():
    torch.manual_seed(0)
    gan = fc.NoiseToImageGAN(z_dim=4, hidden=8, output_dim=12)
    z = torch.randn(3, 4)
    a, b = gan(torch.zeros(3, 1, 3, 4), z), gan(torch.ones(3, 1, 3, 4), z)
    assert a.shape == (3, 1, 3, 4) and torch.equal(a, b)


def test_grouped_vqae_straight_through_reaches_the_encoder_only_with_ste():
    torch.manual_seed(0)
    m = fc.GroupedVQAE(input_dim=12, groups=2, code_dim=3, num_codes=4, hidden=8)
    x = torch.rand(5, 12)
    for ste, reaches in ((True, True), (False, False)):
        m.zero_grad(set_to_none=True)
        x_hat, z, e = m(x, straight_through=ste)
        assert x_hat.shape == x.shape and z.shape == e.shape == (5, 2, 3)
        torch.nn.functional.mse_loss(x_hat, x).backward()
        assert (m.encoder[0].weight.grad is not None) == reaches
        assert m.codebook.grad is not None or ste  # without STE the code rows carry the gradient
    # e are codebook rows (nearest)
    d = torch.cdist(z.detach().reshape(-1, 3), m.codebook.detach())
    assert torch.equal(e.detach().reshape(-1, 3), m.codebook.detach()[d.argmin(1)])


def test_article_losses():
    x = torch.tensor([[0.0, 1.0, 0.5]])
    # -sum x log x_hat is smallest at x_hat = 1 everywhere, not at x_hat = x
    assert fc.article_reconstruction_loss(x, torch.ones_like(x)) < fc.article_reconstruction_loss(x, x.clamp(0.01, 0.99))
    assert float(fc.article_reconstruction_loss(x, torch.ones_like(x))) == 0.0
    q = torch.softmax(torch.randn(2, 4), -1)
    z = torch.rand(2, 4)
    assert float(fc.article_quantization_loss(torch.zeros_like(z), q)) == 0.0
    assert math.isclose(float(fc.article_quantization_loss(2 * z, q)), 2 * float(fc.article_quantization_loss(z, q)),
                        rel_tol=1e-6)
    with pytest.raises(ValueError, match="same"):
        fc.article_quantization_loss(torch.rand(2, 3), q)


def test_codebook_cost_matches_flop_counter_and_parameters():
    torch.manual_seed(0)
    vq = VQVAE(VectorQuantizer(16, 4), 1, hidden=8, downsamples=2, res_blocks=1)
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        extra = fc.count_flops(lambda: vq(x)) - fc.count_flops(lambda: vq.decoder(vq.encode_continuous(x)))
    cost = fc.codebook_cost(2 * 7 * 7, 16, 4)
    assert cost == {"params": 64, "multiply_adds": 2 * 49 * 64, "flops": 4 * 49 * 64}
    assert extra == cost["flops"]
    assert fc.num_parameters(vq) - fc.num_parameters(vq.encoder, vq.pre_quant, vq.decoder) == cost["params"]
