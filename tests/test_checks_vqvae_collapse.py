"""The checks of notebooks 04 (the EMA update; the VQ layer and perplexity: test_checks_vqvae.py) and 05 (codebook
collapse: restarts, FSQ) pass the reference and reject the stub and plausible wrong answers with a specific hint."""
from pathlib import Path

import pytest
import torch

from course_lib.checks import CheckFailed
from course_lib.checks import collapse as C
from course_lib.checks import vqvae as V
from course_lib import quantize


def stub(*args, **kwargs):
    raise NotImplementedError()


def rejects(check, fn, match):
    with pytest.raises(CheckFailed, match=match):
        check(fn)


# ------------------------------------------------------------------------------- 04 EMA (moved from 05)
def test_ema_reference_passes(capsys):
    V.check_ema_update(V.reference_ema_update)
    assert "Check passed" in capsys.readouterr().out


def test_ema_reference_equals_course_lib_quantizer():
    torch.manual_seed(0)
    vq = quantize.EMAVectorQuantizer(num_codes=16, code_dim=3, decay=0.9, eps=1e-3)
    cs, es = vq.cluster_size.clone().double(), vq.embed_sum.clone().double()
    z = torch.randn(50, 3)
    idx = quantize.nearest_code(z, vq.codebook)
    vq.train()
    vq(z)
    size, s, e = V.reference_ema_update(cs, es, z.double(), idx, 0.9, 1e-3)
    assert torch.allclose(vq.cluster_size.double(), size, atol=1e-5)
    assert torch.allclose(vq.embed_sum.double(), s, atol=1e-5)
    assert torch.allclose(vq.codebook.double(), e, atol=1e-5)


@pytest.mark.parametrize("wrong, match", [
    (stub, "not implemented"),
    (V._ema_no_smoothing, "Laplace smoothing"),
    (V._ema_swapped, "wrong way round"),
    (V._ema_stores_smoothed, "smoothed counts"),
    (V._ema_no_one_minus, "1 - decay"),
    (V._ema_batch_only, "only this batch"),
    (V._ema_old_stats, "BEFORE"),
    (V._ema_smooth_no_rescale, "rescaling"),
    (lambda cs, es, z, idx, d, eps: (cs, es, es / cs[:, None]), "nan/inf"),
])
def test_ema_rejects(wrong, match):
    rejects(V.check_ema_update, wrong, match)


def test_ema_rejects_no_smoothing_without_nan():
    """Even if the 0/0 case is avoided (clamped), the missing smoothing is named."""
    def clamped(cs, es, z, idx, decay, eps):
        size, s, _ = V.reference_ema_update(cs, es, z, idx, decay, eps)
        return size, s, s / size.clamp_min(1e-12)[:, None]
    rejects(V.check_ema_update, clamped, "Laplace smoothing")


# ------------------------------------------------------------------------------------------ 05 restart
def test_restart_reference_passes(capsys):
    C.check_restart_dead_codes(C.reference_restart_dead_codes)
    assert "Check passed" in capsys.readouterr().out


def test_restart_randperm_solution_passes(capsys):
    def with_randperm(codebook, counts, z):
        new = codebook.clone()
        dead = counts == 0
        new[dead] = z[torch.randperm(len(z))[: int(dead.sum())]]
        return new
    C.check_restart_dead_codes(with_randperm)
    assert "Check passed" in capsys.readouterr().out


def _restart(select):
    def fn(codebook, counts, z):
        new = codebook.clone()
        dead = (counts == 0).nonzero().flatten()
        new[dead] = select(z, len(dead), codebook.shape[1])
        return new
    return fn


def _restart_all(codebook, counts, z):
    return z[torch.randint(len(z), (len(codebook),))]


def _restart_live(codebook, counts, z):
    new = codebook.clone()
    live = (counts > 0).nonzero().flatten()
    new[live] = z[torch.randint(len(z), (len(live),))]
    return new


@pytest.mark.parametrize("wrong, match", [
    (stub, "not implemented"),
    (lambda cb, c, z: cb, "unchanged"),
    (_restart_all, "in use"),
    (_restart_live, "ARE used"),
    (_restart(lambda z, n, d: torch.randn(n, d)), "not encoder outputs"),
    (_restart(lambda z, n, d: z.mean(0).expand(n, d)), "MEAN"),
    (_restart(lambda z, n, d: z[5].expand(n, d)), "SAME"),
    (_restart(lambda z, n, d: z[:n]), "FIRST rows"),
    (lambda cb, c, z: cb[:3], "whole codebook"),
])
def test_restart_rejects(wrong, match):
    rejects(C.check_restart_dead_codes, wrong, match)


# ---------------------------------------------------------------------------------------------- 05 FSQ
def test_fsq_reference_passes_and_equals_course_lib(capsys):
    C.check_fsq_quantize(C.reference_fsq_quantize)
    assert "Check passed" in capsys.readouterr().out
    for levels in [(8, 5, 5, 5), (4, 4, 3), (8, 6, 5)]:
        fsq = quantize.FSQ(levels)
        z = torch.randn(500, len(levels)) * 2
        ours = C.reference_fsq_quantize(z, list(levels))
        assert torch.allclose(ours, fsq.quantize(z), atol=1e-6)
        # exactly L_i distinct values per channel
        for j, L in enumerate(levels):
            assert len(torch.unique(ours[:, j])) <= L


def test_fsq_course_lib_passes_the_check(capsys):
    C.check_fsq_quantize(lambda z, levels: quantize.FSQ(levels).to(z.dtype).quantize(z))
    assert "Check passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, match", [
    (stub, "not implemented"),
    (C._fsq_no_ste, "no gradient reaches z"),
    (C._fsq_ste_swapped, "wrong way round"),
    (C._fsq_no_offset, "even number of levels"),
    (C._fsq_not_rescaled, "forgot the rescaling"),
    (C._fsq_rescale_half_l, r"\(L - 1\) / 2"),
    (C._fsq_no_bound, "without bounding"),
    (C._fsq_clamp, "clamp"),
])
def test_fsq_rejects(wrong, match):
    rejects(C.check_fsq_quantize, wrong, match)


# ------------------------------------------------------------- issue 11: wrong answers accepted before, right ones
def _ema_float32_idioms(cs, es, z, idx, decay, eps):
    """A right answer written with float32 idioms (one_hot matmul, .float() counts)."""
    onehot = torch.nn.functional.one_hot(idx, cs.shape[0]).float()  # (N, K)
    counts = onehot.sum(0)
    sums = onehot.t() @ z
    size = decay * cs + (1 - decay) * counts
    total = decay * es + (1 - decay) * sums
    n = size.sum()
    return size, total, total / ((size + eps) / (n + cs.shape[0] * eps) * n)[:, None]


def test_ema_accepts_float32_idioms_numpy_outputs_and_the_course_lib_function(capsys):
    V.check_ema_update(_ema_float32_idioms)
    V.check_ema_update(lambda *a: tuple(t.numpy() for t in V.reference_ema_update(*a)))
    V.check_ema_update(quantize.ema_update)
    V.check_ema_update(quantize.ema_update, seed=11, decay=0.7, eps=0.3)  # the notebook's hidden test
    assert capsys.readouterr().out.count("Check passed") == 4


def test_ema_hidden_case_varies_decay():
    """A decay hard-coded to the visible cases' values fails the hidden case."""
    def hard_coded(cs, es, z, idx, decay, eps):
        return V.reference_ema_update(cs, es, z, idx, {0.9: 0.9, 0.8: 0.8, 0.95: 0.95}.get(round(decay, 2), 0.9), eps)
    V.check_ema_update(hard_coded)
    rejects(lambda f: V.check_ema_update(f, seed=11, decay=0.7, eps=0.3), hard_coded, "differs|wrong way|1 - decay")


def test_ema_hidden_case_sees_the_swapped_decay():
    """Review 2026-12-06 (exercise-checks 1d): with decay = 0.5 the swapped weights equal the right ones, so the
    notebook's hidden test uses 0.7; the swapped answer fails it with the named hint."""
    swapped = V._ema_swapped
    V.check_ema_update(V.reference_ema_update, seed=11, decay=0.7, eps=0.3)
    rejects(lambda f: V.check_ema_update(f, seed=11, decay=0.7, eps=0.3), swapped, "wrong way round")
    nb = (Path(__file__).resolve().parent.parent / "notebooks" / "04_vqvae.py").read_text()
    assert "check_ema_update(ema_update, seed=11, decay=0.7, eps=0.3)" in nb


def test_ema_mismatch_names_the_output():
    """A wrong answer the mistakes do not cover names the output that differs, not "output[2]"."""
    def batch_size_smoothing(cs, es, z, idx, decay, eps):  # smoothing with n = len(z) instead of sum_k N_k
        size, s, _ = V.reference_ema_update(cs, es, z, idx, decay, eps)
        n = len(z)
        return size, s, s / ((size + eps) / (n + len(size) * eps) * n)[:, None]
    with pytest.raises(CheckFailed) as err:
        V.check_ema_update(batch_size_smoothing)
    assert "the new codebook e_k (third output)" in str(err.value) and "output[2]" not in str(err.value)


def _restart_counts_le_1(codebook, counts, z):
    new = codebook.clone()
    dead = (counts <= 1).nonzero().flatten()
    new[dead] = z[torch.randperm(len(z))[: len(dead)]]
    return new


def _restart_same_positions(codebook, counts, z):
    new = codebook.clone()
    dead = counts == 0
    new[dead] = z[: len(counts)][dead]
    return new


def _restart_with_replacement(codebook, counts, z):
    new = codebook.clone()
    dead = (counts == 0).nonzero().flatten()
    new[dead] = z[torch.randint(len(z), (len(dead),))]
    return new


@pytest.mark.parametrize("wrong, match", [
    (_restart_counts_le_1, "used once"),
    (_restart_same_positions, r"z_recent\[dead\]"),
    (_restart_with_replacement, "WITHOUT replacement"),
])
def test_restart_rejects_issue_11_answers(wrong, match):
    rejects(C.check_restart_dead_codes, wrong, match)


def test_restart_accepts_course_lib_float64_and_numpy_forms(capsys):
    C.check_restart_dead_codes(quantize.restart_dead_codes)
    C.check_restart_dead_codes(lambda cb, c, z: C.reference_restart_dead_codes(cb.double(), c, z.double()))
    C.check_restart_dead_codes(lambda cb, c, z: C.reference_restart_dead_codes(cb, c, z).numpy())
    C.check_restart_dead_codes(C.reference_restart_dead_codes, seed=5, num_codes=64, code_dim=3)
    assert capsys.readouterr().out.count("Check passed") == 4


def test_fsq_accepts_the_papers_constants_float32_and_course_lib(capsys):
    C.check_fsq_quantize(C.paper_fsq_quantize)
    C.check_fsq_quantize(lambda z, levels: C.reference_fsq_quantize(z.float(), levels))
    C.check_fsq_quantize(quantize.fsq_quantize)
    C.check_fsq_quantize(C.reference_fsq_quantize, seed=3, levels=(5, 5, 5))
    out = capsys.readouterr().out
    assert out.count("Check passed") == 4 and "tan/(1-eps)" in out
    # the two forms really differ (so accepting both is a decision, not a tolerance)
    z = torch.randn(100, 3, dtype=torch.float64, requires_grad=True)
    g1, = torch.autograd.grad(C.reference_fsq_quantize(z, [8, 6, 5]).sum(), z)
    g2, = torch.autograd.grad(C.paper_fsq_quantize(z, [8, 6, 5]).sum(), z)
    assert not torch.allclose(g1, g2, rtol=1e-4, atol=0)


def test_fsq_hidden_case_other_levels_rejects_no_offset():
    rejects(lambda f: C.check_fsq_quantize(f, seed=3, levels=(7, 6, 5)), C._fsq_no_offset, "even number")


def _fsq_float_division(z, levels, eps=1e-3):
    """Review 2026-12-06: rounded / (L / 2) instead of L // 2, invisible for even L."""
    L = torch.as_tensor(levels, dtype=z.dtype)
    half_l = (L - 1) * (1 + eps) / 2
    offset = torch.where(L % 2 == 0, 0.5, 0.0).to(z.dtype)
    bounded = torch.tanh(z + torch.atanh(offset / half_l)) * half_l - offset
    return (bounded + (torch.round(bounded) - bounded).detach()) / (L / 2)


def _fsq_shift_without_atanh(z, levels, eps=1e-3):
    L = torch.as_tensor(levels, dtype=z.dtype)
    half_l = (L - 1) * (1 + eps) / 2
    offset = torch.where(L % 2 == 0, 0.5, 0.0).to(z.dtype)
    bounded = torch.tanh(z + offset / half_l) * half_l - offset
    return (bounded + (torch.round(bounded) - bounded).detach()) / torch.div(L, 2, rounding_mode="floor")


@pytest.mark.parametrize("wrong, match", [(_fsq_float_division, "L / 2"), (_fsq_shift_without_atanh, "atanh")])
def test_fsq_names_the_review_answers_in_the_visible_and_hidden_checks(wrong, match):
    rejects(C.check_fsq_quantize, wrong, match)
    rejects(lambda f: C.check_fsq_quantize(f, seed=3, levels=(7, 6, 5)), wrong, match)
    nb = (Path(__file__).resolve().parent.parent / "notebooks" / "05_codebook_collapse.py").read_text()
    assert "check_fsq_quantize(fsq_quantize, seed=3, levels=(7, 6, 5))" in nb


def test_fsq_even_levels_cannot_see_the_float_division():
    """Why the hidden test needs an odd level: with all-even levels L / 2 == L // 2."""
    C.check_fsq_quantize(_fsq_float_division, seed=3, levels=(8, 8, 8))
