"""course_lib.factcheck: the measuring helpers of notebook 11."""
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
