"""Notebook 12's key/value-cache exercise: the library's step is what CodePrior samples with and equals full causal
attention over N steps; the check rejects the stub and the named mistakes, accepts right answers written
differently, and a wrong answer falls back to the reference."""
import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.checks import CheckFailed, solved_or_reference
from course_lib.checks.generation import check_cached_attention
from course_lib.prior import CausalSelfAttention, cached_attention_step, causal_mask

HIDDEN = dict(seed=5, cases=((4, 2, 6, 3), (2, 4, 4, 1)))


def test_n_cached_steps_equal_full_causal_attention():
    q, k, v = torch.randn(3, 2, 4, 7, 8).unbind(0)
    cache, outs = None, []
    for t in range(7):
        out, cache = cached_attention_step(q[:, :, t:t + 1], k[:, :, t:t + 1], v[:, :, t:t + 1], cache)
        outs.append(out)
    full = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert torch.allclose(torch.cat(outs, 2), full, atol=1e-5)
    assert torch.equal(cache[0], k) and torch.equal(cache[1], v)


def test_the_module_samples_with_the_library_step():
    torch.manual_seed(0)
    attn = CausalSelfAttention(16, 4).eval()
    x = torch.randn(2, 5, 16)
    full = attn(x, causal_mask(5))
    cache, steps = {}, []
    for t in range(5):
        steps.append(attn(x[:, t:t + 1], causal_mask(5)[t:t + 1, :t + 1], cache))
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5)
    assert cache["k"].shape == (2, 4, 5, 4)


def stub(q, k, v, cache):
    raise NotImplementedError()


def solution(q, k, v, cache):
    if cache is not None:
        k = torch.cat([cache[0], k], dim=2)
        v = torch.cat([cache[1], v], dim=2)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return scores.softmax(-1) @ v, (k, v)


def sdpa_float32_list(q, k, v, cache):
    """Written differently: float32, torch's fused attention, the cache returned as a list."""
    k_all = k.float() if cache is None else torch.cat([cache[0].float(), k.float()], dim=-2)
    v_all = v.float() if cache is None else torch.cat([cache[1].float(), v.float()], dim=-2)
    return F.scaled_dot_product_attention(q.float(), k_all, v_all), [k_all, v_all]


def einsum_version(q, k, v, cache):
    k_all, v_all = (k, v) if cache is None else (torch.cat((cache[0], k), 2), torch.cat((cache[1], v), 2))
    w = torch.einsum("bhqd,bhsd->bhqs", q, k_all).div(q.shape[-1] ** 0.5).softmax(dim=-1)
    return torch.einsum("bhqs,bhsd->bhqd", w, v_all), (k_all, v_all)


@pytest.mark.parametrize("right", [cached_attention_step, solution, sdpa_float32_list, einsum_version])
def test_right_answers_pass(right, capsys):
    check_cached_attention(right)
    check_cached_attention(right, **HIDDEN)
    assert capsys.readouterr().out.count("\u2705") == 2


def not_updated(q, k, v, cache):
    out, new = solution(q, k, v, cache)
    return out, (new if cache is None else cache)


def new_key_only(q, k, v, cache):
    _, new = solution(q, k, v, cache)
    return F.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), -1) @ v, new


def unscaled(q, k, v, cache):
    _, (k_all, v_all) = solution(q, k, v, cache)
    return (q @ k_all.transpose(-2, -1)).softmax(-1) @ v_all, (k_all, v_all)


def masked(q, k, v, cache):
    _, (k_all, v_all) = solution(q, k, v, cache)
    S = k_all.shape[2]
    scores = (q @ k_all.transpose(-2, -1) / math.sqrt(q.shape[-1])).masked_fill(~causal_mask(S)[:1], float("-inf"))
    return scores.softmax(-1) @ v_all, (k_all, v_all)


def heads_axis(q, k, v, cache):
    if cache is not None:
        k, v = torch.cat([cache[0], k], dim=1), torch.cat([cache[1], v], dim=1)
    return F.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), -1) @ v, (k, v)


def feature_axis(q, k, v, cache):
    if cache is not None:
        k, v = torch.cat([cache[0], k], dim=-1), torch.cat([cache[1], v], dim=-1)
    return F.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), -1) @ v, (k, v)


@pytest.mark.parametrize("wrong, hint", [
    (stub, "not implemented"),
    (not_updated, "cache is not updated"),
    (new_key_only, "only to the new key"),
    (unscaled, "not scaled"),
    (masked, "causal mask"),
    (heads_axis, "concatenation axis|not along the positions axis"),
    (feature_axis, "concatenation axis|not along the positions axis"),
    (lambda q, k, v, cache: solution(q, k, v, cache)[0], r"\(out, \(k_all, v_all\)\)"),
])
def test_named_mistakes_are_rejected(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_cached_attention(wrong)


def test_a_first_step_that_ignores_a_missing_cache_is_caught():
    def no_start(q, k, v, cache):
        if cache is None:
            return v, (k[:, :, :0], v[:, :, :0])          # the first position never enters the cache
        return solution(q, k, v, cache)

    with pytest.raises(CheckFailed, match="shape|full causal"):
        check_cached_attention(no_start)


def test_a_wrong_answer_falls_back_to_the_reference(capsys):
    with pytest.raises(CheckFailed):
        check_cached_attention(unscaled)
    fn = solved_or_reference(unscaled, cached_attention_step, "cached_attention_step")
    q, k, v = (5 * torch.randn(3, 1, 2, 1, 4)).unbind(0)
    cache = (torch.randn(1, 2, 3, 4), torch.randn(1, 2, 3, 4))
    assert torch.allclose(fn(q, k, v, cache)[0], cached_attention_step(q, k, v, cache)[0])
    assert "does not pass its check" in capsys.readouterr().out
