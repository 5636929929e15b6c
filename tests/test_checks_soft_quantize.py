"""Notebook 03's soft-quantization / Gumbel-softmax check: it rejects the stub and the named mistakes, accepts right
answers written differently, and records its result for solved_or_reference."""
import pytest
import torch
import torch.nn.functional as F

from course_lib.checks import CheckFailed, solved_or_reference
from course_lib.checks.ste import _soft_variant, check_soft_quantize
from course_lib.quantize import soft_quantize


def stub(z, codebook, tau, generator=None, hard=False):
    raise NotImplementedError()


def written_differently(z, codebook, tau, generator=None, hard=False):
    """cdist, float32 arithmetic, noise from uniform_, a one-hot built with scatter: still right."""
    logits = -torch.cdist(z.float(), codebook.float()).pow(2) / tau
    if generator is not None:
        u = torch.empty(logits.shape, dtype=z.dtype).uniform_(generator=generator)
        logits = logits + (-(-u.log()).log()).float()
    w = F.softmax(logits, dim=1)
    if hard:
        one_hot = torch.zeros_like(w).scatter_(1, w.argmax(1, keepdim=True), 1.0)
        w = (one_hot - w).detach() + w
    return w.double(), (w @ codebook.float()).double()


def test_accepts_reference_and_equivalents(capsys):
    check_soft_quantize(soft_quantize)
    check_soft_quantize(written_differently)
    check_soft_quantize(soft_quantize, seed=5, tau=0.05)
    assert capsys.readouterr().out.count("Check passed") == 3


@pytest.mark.parametrize("wrong, hint", [
    (stub, "not implemented"),
    (_soft_variant(distances="positive"), "wrong sign: a nearer code"),
    (_soft_variant(scale="multiply"), "temperature multiplies"),
    (_soft_variant(distances="unsquared"), "not squared"),
    (_soft_variant(axis=0), "wrong axis"),
    (_soft_variant(noise="after"), "added after the softmax"),
    (_soft_variant(noise_sign=-1.0), "noise has the wrong sign"),
    (_soft_variant(noise="tau"), "divided by the temperature"),
    (_soft_variant(float32_noise=True), "float32"),
    (_soft_variant(hard_st=False), "no gradient"),
    (_soft_variant(hard_from_noise=False), "ignores the noise"),
    (lambda z, e, tau, generator=None, hard=False: soft_quantize(z, e, tau, generator, hard)[0], "pair"),
    (lambda z, e, tau, generator=None, hard=False: soft_quantize(z, e, 0.5, generator, hard), "differs"),
])
def test_rejects_named_mistakes(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_soft_quantize(wrong)


def test_hidden_parameters_catch_a_hard_coded_temperature():
    hard_coded = lambda z, e, tau, generator=None, hard=False: soft_quantize(z, e, 0.5, generator, hard)
    with pytest.raises(CheckFailed):
        check_soft_quantize(hard_coded, seed=5, tau=0.05, trials=1)


def test_wrong_answer_falls_back_to_the_reference(capsys):
    def my_soft_quantize(z, codebook, tau, generator=None, hard=False):
        return _soft_variant(scale="multiply")(z, codebook, tau, generator, hard)

    with pytest.raises(CheckFailed, match="^my_soft_quantize: the temperature"):
        check_soft_quantize(my_soft_quantize)
    fn = solved_or_reference(my_soft_quantize, soft_quantize, "soft_quantize")
    z, e = torch.randn(4, 2), torch.randn(3, 2)
    assert torch.equal(fn(z, e, 0.1)[0], soft_quantize(z, e, 0.1)[0])
    assert "does not pass its check" in capsys.readouterr().out
    fn = solved_or_reference(stub, soft_quantize, "soft_quantize")
    assert torch.equal(fn(z, e, 0.1)[1], soft_quantize(z, e, 0.1)[1])


def test_library_matches_torch_gumbel_softmax_in_distribution_and_hard_is_one_hot():
    """The reference is the Gumbel-softmax: its hard samples follow softmax(logits) (Gumbel-max), like
    F.gumbel_softmax's; the hard weights are one-hot in value with the soft weights' gradient."""
    z, e = torch.tensor([[0.0, 0.0]]), torch.tensor([[0.3, 0.0], [0.0, 0.5], [-0.6, 0.2]])
    tau, n = 0.2, 20000
    gen = torch.Generator().manual_seed(0)
    w, _ = soft_quantize(z.expand(n, 2), e, tau, generator=gen, hard=True)
    freq = w.mean(0)
    p = (-(z - e).pow(2).sum(1) / tau).softmax(0)
    assert torch.allclose(freq, p, atol=0.015), (freq, p)
    assert torch.equal(w.sum(1), torch.ones(n)) and set(w.unique().tolist()) == {0.0, 1.0}
    zg = z.clone().requires_grad_(True)
    w_hard, _ = soft_quantize(zg, e, tau, hard=True)
    (g_hard,) = torch.autograd.grad((w_hard * torch.arange(3.0)).sum(), zg)
    zs = z.clone().requires_grad_(True)
    (g_soft,) = torch.autograd.grad((soft_quantize(zs, e, tau)[0] * torch.arange(3.0)).sum(), zs)
    assert torch.allclose(g_hard, g_soft) and g_soft.abs().sum() > 0


def test_library_rejects_bad_temperatures():
    with pytest.raises(ValueError, match="positive temperature"):
        soft_quantize(torch.randn(3, 2), torch.randn(4, 2), 0.0)
