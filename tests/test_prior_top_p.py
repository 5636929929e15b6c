"""Nucleus (top-p) sampling in course_lib.prior and the sampling explorer (notebook 12), added beside top-k."""
import torch

from course_lib.explorers.sampling import draw_sampling, sample_with_stats, sampling_distribution
from course_lib.prior import CodePrior, sample_next, top_k_filter, top_p_filter


def _prior(seed=0):
    torch.manual_seed(seed)
    prior = CodePrior(num_codes=12, seq_len=6, d_model=16, n_layers=1, n_heads=2, num_classes=3)
    with torch.no_grad():
        prior.head.weight.mul_(40.0)          # peaked conditionals: the nucleus is small at some positions
    return prior.eval()


def test_tiny_top_p_is_greedy_and_top_p_one_changes_nothing():
    prior = _prior()
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    greedy = prior.sample(5, top_k=1, labels=torch.arange(5) % 3, generator=g())
    assert torch.equal(prior.sample(5, top_p=1e-6, labels=torch.arange(5) % 3, generator=g()), greedy)
    plain = prior.sample(5, labels=torch.arange(5) % 3, generator=g())
    assert torch.equal(prior.sample(5, top_p=1.0, labels=torch.arange(5) % 3, generator=g()), plain)


def test_top_p_draws_the_same_with_and_without_the_cache():
    prior = _prior(1)
    a = prior.sample(8, top_p=0.7, labels=1, generator=torch.Generator().manual_seed(0))
    b = prior.sample(8, top_p=0.7, labels=1, generator=torch.Generator().manual_seed(0), use_cache=False)
    assert torch.equal(a, b)


def test_sample_next_draws_only_inside_the_nucleus():
    logits = torch.log(torch.tensor([[0.6, 0.25, 0.1, 0.05]])).expand(400, -1)
    drawn = sample_next(logits, top_p=0.8, generator=torch.Generator().manual_seed(0))
    assert set(drawn.tolist()) == {0, 1}                     # 0.6 + 0.25 reaches 0.8: codes 2 and 3 never drawn
    both = sample_next(logits, top_k=3, top_p=0.99, generator=torch.Generator().manual_seed(0))
    assert set(both.tolist()) <= {0, 1, 2}                   # top-k first, then the nucleus of what is left


def test_explorer_passes_top_p_through():
    prior = _prior(2)
    dist = sampling_distribution(torch.log(torch.tensor([0.6, 0.25, 0.1, 0.05])), 1.0, None, 0.8)
    assert torch.allclose(dist, torch.tensor([0.6, 0.25, 0.0, 0.0]) / 0.85)
    _, _, wide = sample_with_stats(prior, seed=0, n=16)
    _, _, narrow = sample_with_stats(prior, seed=0, n=16, top_p=1e-6)
    assert narrow["bits_per_code"] <= wide["bits_per_code"]
    fig = draw_sampling(prior, decode=lambda t: torch.rand(len(t), 1, 8, 8), top_p=0.5, n=4, nrow=4)
    assert "top-p 0.5" in fig.axes[0].get_title()
    assert torch.equal(top_p_filter(torch.tensor([1.0, 2.0]), None), top_k_filter(torch.tensor([1.0, 2.0]), None))
