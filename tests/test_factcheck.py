"""course_lib.factcheck: the measuring helpers of notebook 15."""
import math
import re
from pathlib import Path

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


# ------------------------------------------------------------------------------ the quoted passages
NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "15_fact_check.py"
CJK = re.compile(r"[\u4e00-\u9fff]")


def _norm(text):
    return re.sub(r"\s+", " ", text).strip()


def test_article_passages_are_shipped_with_source_and_licence():
    passages = fc.article_passages()
    assert len(passages) >= 28
    assert all(p.section and p.zh and p.en and CJK.search(p.zh + p.section) or p.zh.startswith(("$", "def ", "g_loss",
                                                                                                   "transforms"))
               for p in passages.values())
    head = fc.ARTICLE_PASSAGES.read_text(encoding="utf-8").split("\n## ")[0]
    for must in ("禅与计算机程序设计艺术", "SHA-256", "Licence", "57,067 bytes"):
        assert must in head
    # the eight errors of issue 23.7 each have their passage
    for pid in ("decoder_sum", "circular_generator", "log_identity", "log_likelihood_sign", "summed_vqgan_loss",
                "vae_kl", "range_mismatch", "generator_loss"):
        assert pid in passages


def test_article_passages_rejects_an_incomplete_entry(tmp_path):
    bad = tmp_path / "a.md"
    bad.write_text("# x\n\n## one\n- section: §1\n- zh: 文\n", encoding="utf-8")
    with pytest.raises(ValueError, match="lacks"):
        fc.article_passages(bad)


def test_every_quote_in_notebook_15_is_a_shipped_passage_with_its_section():
    """A quote is a markdown line '> <zh> (<section>)'. Each must be a passage of the asset, word for word, with the
    asset's section; and every passage of the asset is quoted somewhere."""
    passages = fc.article_passages()
    by_zh = {_norm(p.zh): p for p in passages.values()}
    quoted, in_translation = set(), False
    for line in NOTEBOOK.read_text(encoding="utf-8").split("\n"):
        if not line.startswith("# > "):
            continue
        if in_translation or line.startswith('# > *"'):  # the English translation, maybe over several lines
            in_translation = not line.rstrip().endswith('"*')
            continue
        text = line[4:]
        m = re.match(r"^(.*) \(([^()]*(?:\([^()]*\))?)\)$", text)
        assert m, f"a quote without its section: {text[:80]}"
        zh, section = _norm(m.group(1)), m.group(2)
        assert zh in by_zh, f"quoted but not in course_lib/assets/fact_check_article.md: {zh[:80]}"
        assert by_zh[zh].section == section, (zh[:40], section, by_zh[zh].section)
        quoted.add(by_zh[zh].id)
    assert quoted == set(passages), sorted(set(passages) - quoted)


# ------------------------------------------------------------------------------ the article's maths and code
def test_range_floor_mse():
    t = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
    assert math.isclose(fc.range_floor_mse(t), (1.0 + 0.25 + 1.0) / 6)
    assert fc.range_floor_mse(torch.rand(10)) == 0.0
    assert math.isclose(fc.range_floor_mse(t, -1.0, 1.0), 1.0 / 6)


def test_article_vae_kl_counts_log_sigma_twice():
    from course_lib.losses import gaussian_kl

    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(3, 5, generator=g, dtype=torch.float64), torch.randn(3, 5, generator=g, dtype=torch.float64)
    assert torch.allclose(fc.article_vae_kl(mu, logvar) - gaussian_kl(mu, logvar), -(0.5 * logvar).sum(1))
    # per dimension at mu = 0: -2 log sigma + (sigma^2 - 1) / 2, smallest at sigma^2 = 2 where it is (1 - log 4) / 2 < 0
    value = fc.article_vae_kl(torch.zeros(1, 1, dtype=torch.float64), torch.tensor([[math.log(2.0)]], dtype=torch.float64))
    assert math.isclose(float(value), 0.5 * (1 - math.log(4)), rel_tol=1e-12)
    assert float(fc.article_vae_kl(torch.zeros(1, 1), torch.zeros(1, 1))) == 0.0


def test_article_generator_loss_has_the_non_saturating_gradient_for_the_generator():
    torch.manual_seed(0)
    gan = fc.NoiseToImageGAN(z_dim=4, hidden=8, output_dim=12)
    real, z = torch.rand(6, 12), torch.randn(6, 4)
    grads = []
    for loss_fn in (fc.article_generator_loss, lambda d_real, d_fake: -torch.log(d_fake).mean()):
        gan.zero_grad(set_to_none=True)
        loss_fn(gan.discriminator(real), gan.discriminator(gan.generator(z))).backward()
        grads.append(torch.cat([p.grad.flatten() for p in gan.generator.parameters()]))
    assert torch.allclose(grads[0], grads[1], atol=1e-7)
    d_real, d_fake = torch.tensor([0.9, 0.8]), torch.tensor([0.2, 0.4])
    assert math.isclose(float(fc.article_generator_loss(d_real, d_fake)),
                        float(-(torch.log(d_fake) + torch.log(1 - d_real)).mean()), rel_tol=1e-6)
    assert math.isclose(float(fc.article_adversarial_loss(d_real, d_fake)),
                        float(-(torch.log(d_real) + torch.log(1 - d_fake)).mean()), rel_tol=1e-6)


def test_train_noise_gan_summed_loss_pushes_fakes_down_and_minimax_does_not():
    data = torch.rand(64, 12) * 0.5 + 0.25
    out = {}
    for mode in ("minimax", "summed"):
        torch.manual_seed(0)
        gan = fc.NoiseToImageGAN(z_dim=4, hidden=16, output_dim=12)
        out[mode] = fc.train_noise_gan(gan, data, steps=60, mode=mode, lr=1e-2, batch_size=16)
        assert len(out[mode]["d_loss"]) == 60 and 0 < out[mode]["d_fake"] < 1
    assert len(out["summed"]["g_loss"]) == 0 and len(out["minimax"]["g_loss"]) == 60
    assert out["summed"]["d_fake"] < 0.05 < out["minimax"]["d_fake"]
    with pytest.raises(ValueError, match="mode"):
        fc.train_noise_gan(fc.NoiseToImageGAN(4, 8, 12), data, steps=1, mode="joint")


def test_soft_ae_output_ranges_and_training():
    torch.manual_seed(0)
    x = torch.rand(32, 12)
    tanh = fc.SoftAttentionAE(input_dim=12, latent_dim=3, num_codes=5, hidden=8, output="tanh")
    out = tanh(2 * x - 1)[0]
    assert out.min() > -1 and out.max() < 1
    with pytest.raises(ValueError, match="output"):
        fc.SoftAttentionAE(output="relu")
    with pytest.raises(ValueError, match="target_range"):
        fc.train_soft_ae(tanh, x, steps=1, target_range="[-1, 1]")
    sig = fc.train_soft_ae(fc.SoftAttentionAE(input_dim=12, latent_dim=3, num_codes=5, hidden=8), x, steps=5,
                           target_range="signed", batch_size=8)
    assert not sig.training and sig(2 * x - 1)[0].min() > 0  # a sigmoid never reaches the negative targets
