import math

import pytest
import torch

from course_lib.prior import (
    CodePrior,
    causal_mask,
    flatten_grid,
    sample_next,
    top_k_filter,
    unflatten_grid,
)


def tiny(num_classes=None, K=11, T=9, seed=0):
    torch.manual_seed(seed)
    return CodePrior(num_codes=K, seq_len=T, d_model=32, n_layers=2, n_heads=4, num_classes=num_classes).eval()


def test_causal_mask_is_lower_triangle_with_diagonal():
    m = causal_mask(4)
    assert m.dtype == torch.bool and m.shape == (4, 4)
    assert m.diagonal().all()
    assert m[2, 1] and not m[1, 2]
    assert int(m.sum()) == 4 * 5 // 2


def test_flatten_unflatten_raster_order():
    g = torch.arange(2 * 3 * 4).reshape(2, 3, 4)
    s = flatten_grid(g)
    assert s.shape == (2, 12)
    assert s[0, :4].tolist() == [0, 1, 2, 3]          # first row, left to right
    assert torch.equal(unflatten_grid(s, 3, 4), g)
    with pytest.raises(ValueError):
        unflatten_grid(s, 4, 4)


def test_shapes_and_nll_finite():
    p = tiny(num_classes=3)
    x = torch.randint(0, 11, (5, 9))
    assert p(x, torch.tensor([0, 1, 2, 0, 1])).shape == (5, 9, 11)
    assert p(x).shape == (5, 9, 11)                   # "no label" token
    nll = p.nll(x, torch.zeros(5, dtype=torch.long))
    assert nll.ndim == 0 and torch.isfinite(nll)
    assert torch.allclose(p.bits_per_token(x), p.nll(x) / math.log(2))


def test_causality_later_tokens_never_change_earlier_logits():
    p = tiny()
    x = torch.randint(0, 11, (3, 9))
    base = p(x)
    for t in range(9):
        y = x.clone()
        y[:, t] = (y[:, t] + 1 + torch.arange(3)) % 11
        out = p(y)
        # logits at positions <= t only see tokens < position: unchanged
        assert torch.allclose(out[:, : t + 1], base[:, : t + 1], atol=1e-6), t
        if t < 8:
            assert not torch.allclose(out[:, t + 1 :], base[:, t + 1 :]), t   # and the token is actually used


def test_uniform_logits_give_log_k():
    p = tiny(K=13)
    with torch.no_grad():
        p.head.weight.zero_()
        p.head.bias.zero_()
    x = torch.randint(0, 13, (4, 9))
    assert abs(p.nll(x).item() - math.log(13)) < 1e-5
    assert abs(p.bits_per_token(x).item() - math.log2(13)) < 1e-5


def test_class_conditioning_changes_outputs():
    p = tiny(num_classes=4)
    x = torch.randint(0, 11, (2, 9))
    a = p(x, torch.tensor([0, 0]))
    b = p(x, torch.tensor([3, 3]))
    assert not torch.allclose(a, b)
    assert torch.allclose(p(x, 2), p(x, torch.tensor([2, 2])))          # a scalar label broadcasts


def test_bad_inputs_raise_clear_errors():
    p = tiny(num_classes=2)
    with pytest.raises(ValueError, match="seq_len"):
        p(torch.zeros(2, 8, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 11\)"):
        p(torch.full((2, 9), 11))
    with pytest.raises(ValueError, match="flatten_grid"):
        p(torch.zeros(2, 3, 3, dtype=torch.long))
    with pytest.raises(TypeError):
        p(torch.zeros(2, 9))
    with pytest.raises(ValueError, match="labels"):
        p(torch.zeros(2, 9, dtype=torch.long), torch.tensor([0, 5]))
    with pytest.raises(ValueError, match="unconditional"):
        tiny()(torch.zeros(2, 9, dtype=torch.long), torch.tensor([0, 1]))


def test_top_k_filter_keeps_k_largest():
    logits = torch.tensor([[0.1, 3.0, -1.0, 2.0, 0.5]])
    f = top_k_filter(logits, 2)
    assert torch.isfinite(f).tolist() == [[False, True, False, True, False]]
    assert torch.equal(f[torch.isfinite(f)], torch.tensor([3.0, 2.0]))
    assert torch.equal(top_k_filter(logits, None), logits)
    assert torch.equal(top_k_filter(logits, 10), logits)


def test_sampling_respects_top_k():
    torch.manual_seed(0)
    logits = torch.randn(1, 20).expand(4000, 20)
    top3 = set(torch.topk(logits[0], 3).indices.tolist())
    g = torch.Generator().manual_seed(1)
    draws = sample_next(logits, temperature=2.0, top_k=3, generator=g)
    assert set(draws.tolist()) == top3                                   # all three drawn, nothing else
    # the full sampler too: every drawn code is among the top-k of its own conditional
    p = tiny()
    out = p.sample(6, top_k=2, generator=torch.Generator().manual_seed(0))
    logits = p(out)
    top2 = torch.topk(logits, 2, dim=-1).indices
    assert (top2 == out[..., None]).any(-1).all()


def test_sample_next_probabilities_match_softmax():
    logits = torch.tensor([[0.0, math.log(3.0)]]).expand(20000, 2)      # p = (1/4, 3/4)
    draws = sample_next(logits, generator=torch.Generator().manual_seed(0))
    assert abs(draws.float().mean().item() - 0.75) < 0.02


def test_temperature_zero_is_argmax():
    logits = torch.randn(50, 7)
    assert torch.equal(sample_next(logits, temperature=0.0), logits.argmax(-1))
    # tiny temperature: a sample is (almost surely) the argmax too
    draws = sample_next(logits, temperature=1e-4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(draws, logits.argmax(-1))
    p = tiny()
    greedy = p.sample(3, temperature=0.0)
    assert torch.equal(greedy[0], greedy[1])                             # deterministic
    assert torch.equal(p(greedy).argmax(-1), greedy)                    # each code is the argmax of its conditional


def test_sample_shapes_range_and_reproducible():
    p = tiny(num_classes=3)
    a = p.sample(5, labels=torch.tensor([0, 1, 2, 0, 1]), generator=torch.Generator().manual_seed(3))
    b = p.sample(5, labels=torch.tensor([0, 1, 2, 0, 1]), generator=torch.Generator().manual_seed(3))
    assert a.shape == (5, 9) and a.dtype == torch.long
    assert int(a.min()) >= 0 and int(a.max()) < 11
    assert torch.equal(a, b)
    assert p.sample(2, labels=1).shape == (2, 9)


def test_known_tokens_are_kept_and_prefix_conditions():
    p = tiny()
    target = torch.randint(0, 11, (4, 9))
    mask = torch.zeros(4, 9, dtype=torch.bool)
    mask[:, ::2] = True
    out = p.sample(4, known=(mask, target), generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[mask], target[mask])
    # a 1-D mask/tokens pair broadcasts to every sample
    out1 = p.sample(3, known=(mask[0], target[0]), generator=torch.Generator().manual_seed(0))
    assert torch.equal(out1[:, mask[0]], target[0, mask[0]].expand(3, -1))
    pre = torch.tensor([1, 2, 3])
    out2 = p.sample(3, prefix=pre, generator=torch.Generator().manual_seed(0))
    assert (out2[:, :3] == pre).all()
    # with greedy decoding the completion is the argmax given the kept codes
    out3 = p.sample(2, temperature=0.0, known=(mask[0], target[0]))
    logits = p(out3)
    free = ~mask[0]
    assert torch.equal(logits.argmax(-1)[:, free], out3[:, free])
    with pytest.raises(ValueError, match="known"):
        p.sample(2, known=(mask[0, :5], target[0, :5]))


def test_training_reduces_nll_on_a_learnable_pattern():
    # sequences where code t+1 = code t + 1 (mod K): a causal model can learn it to near 0 nats
    torch.manual_seed(0)
    K, T = 8, 6
    p = CodePrior(K, T, d_model=32, n_layers=1, n_heads=2)
    start = torch.randint(0, K, (256,))
    x = (start[:, None] + torch.arange(T)) % K
    opt = torch.optim.Adam(p.parameters(), lr=3e-3)
    first = p.nll(x).item()
    for _ in range(150):
        opt.zero_grad()
        loss = p.nll(x)
        loss.backward()
        opt.step()
    final = p.nll(x).item()
    assert abs(first - math.log(K)) < 0.1
    # first code is uniform (log K / T per code on average), the rest deterministic
    assert final < math.log(K) / T + 0.15, final
    s = p.sample(8, temperature=0.5)
    assert ((s[:, 1:] - s[:, :-1]) % K == 1).float().mean() > 0.95


# ---------------------------------------------------------------------------------------------------------------
# Key/value cache: the cached sampler must draw exactly what the re-run-the-prefix sampler draws
# ---------------------------------------------------------------------------------------------------------------
def peaky(num_classes=None, K=13, T=12, seed=0):
    """A random prior with large weights, so its conditionals depend strongly on the prefix (a broken cache
    would change the logits by much more than float rounding)."""
    p = tiny(num_classes=num_classes, K=K, T=T, seed=seed)
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for prm in p.parameters():
            if prm.dim() >= 2:
                prm.copy_(torch.randn(prm.shape, generator=g) * 0.3)
    return p


def test_cached_step_logits_match_full_forward():
    p = peaky(num_classes=3)
    x = torch.randint(0, 13, (4, 12), generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 2, 1, 0])
    full = p(x, labels)                                                 # (4, 12, 13)
    caches = [dict() for _ in p.blocks]
    steps = []
    for t in range(12):
        inp = p._start(4, labels, x.device) if t == 0 else p.tok_emb(x[:, t - 1 : t])
        steps.append(p._logits_step(inp, t, caches))
    steps = torch.stack(steps, 1)
    assert torch.allclose(steps, full, atol=1e-5), (steps - full).abs().max()
    assert caches[0]["k"].shape == (4, 4, 12, 8)                         # (B, heads, positions, d_head)
    # the cache matters: without the past keys the last logits would be very different
    assert (full[:, -1] - p._logits(x[:, -1:], labels)[:, -1]).abs().max() > 0.1


@pytest.mark.parametrize("temperature,top_k", [(1.0, None), (0.7, 5), (1.5, 3), (0.0, None)])
@pytest.mark.parametrize("conditional", [False, True])
def test_cache_draws_the_same_codes_as_no_cache(temperature, top_k, conditional):
    p = peaky(num_classes=4 if conditional else None)
    labels = torch.tensor([0, 1, 2, 3, 1, 0]) if conditional else None
    kw = dict(temperature=temperature, top_k=top_k, labels=labels)
    a = p.sample(6, use_cache=True, generator=torch.Generator().manual_seed(5), **kw)
    b = p.sample(6, use_cache=False, generator=torch.Generator().manual_seed(5), **kw)
    assert torch.equal(a, b)
    if temperature > 0:  # and the draws are not trivially constant
        assert len(torch.unique(a)) > 2


def test_cache_with_prefix_and_known_codes():
    p = peaky()
    target = torch.randint(0, 13, (5, 12), generator=torch.Generator().manual_seed(2))
    mask = torch.zeros(5, 12, dtype=torch.bool)
    mask[:, 5::3] = True
    mask[0, 3] = True                                                   # one sample with an extra known code
    kw = dict(prefix=torch.tensor([4, 7]), known=(mask, target), top_k=6)
    a = p.sample(5, use_cache=True, generator=torch.Generator().manual_seed(9), **kw)
    b = p.sample(5, use_cache=False, generator=torch.Generator().manual_seed(9), **kw)
    assert torch.equal(a, b)
    assert (a[:, :2] == torch.tensor([4, 7])).all() and torch.equal(a[mask], target[mask])


# --- batched tokenizer helpers (notebook 06) --------------------------------------------------------------------
def test_encode_and_decode_tokens_batch_like_the_tokenizer():
    from course_lib.models import VQVAE
    from course_lib.prior import decode_tokens, encode_tokens, flatten_grid
    from course_lib.quantize import VectorQuantizer

    torch.manual_seed(0)
    vq = VQVAE(VectorQuantizer(8, 4), in_channels=1, hidden=8, downsamples=2, res_blocks=1).eval()
    x = torch.rand(5, 1, 28, 28)
    tokens = encode_tokens(vq, x, batch_size=2)                          # batches of 2, 2, 1
    with torch.no_grad():
        assert torch.equal(tokens, flatten_grid(vq.encode(x)))
        images = decode_tokens(vq, tokens, (7, 7), batch_size=3)
        assert torch.allclose(images, vq.decode_indices(vq.encode(x)).clamp(0, 1), atol=1e-6)
    assert tokens.shape == (5, 49) and images.shape == (5, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
