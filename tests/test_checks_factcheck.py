"""The check of notebook 15 passes correct answers, rejects the stub, and names plausible mistakes."""
import math

import pytest
import torch

from course_lib.checks import CheckFailed
from course_lib.checks import factcheck as cf
from course_lib.factcheck import categorical_kl


def stub(q, p):
    raise NotImplementedError()


def test_reference_is_log_k_for_one_hot_against_uniform():
    for k in (2, 7, 512):
        q = torch.zeros(1, k, dtype=torch.float64)
        q[0, 3 % k] = 1.0
        p = torch.full((1, k), 1.0 / k, dtype=torch.float64)
        assert math.isclose(float(cf.reference_categorical_kl(q, p)), math.log(k), rel_tol=1e-12)


def test_check_passes_correct_answers(capsys):
    cf.check_categorical_kl(cf.reference_categorical_kl)
    cf.check_categorical_kl(categorical_kl)
    # masking the zeros is another correct way
    cf.check_categorical_kl(lambda q, p: torch.where(q > 0, q * (q.clamp_min(1e-300).log() - p.log()), 0.0).sum(-1))
    assert "Check passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, fragment",
    [
        (stub, "not implemented"),
        (lambda q, p: (q * (q / p).log()).sum(-1), "0 log 0 = 0"),
        (lambda q, p: (p * (p / q).log()).sum(-1), "swapped"),
        (lambda q, p: -torch.special.xlogy(q, p).sum(-1), "cross-entropy"),
        (lambda q, p: categorical_kl(q, p) / math.log(2), "nats"),
        (lambda q, p: -categorical_kl(q, p), "sign"),
        (lambda q, p: (torch.special.xlogy(q, q) - torch.special.xlogy(q, p)).sum(0), "batch dimension"),
        (lambda q, p: (torch.special.xlogy(q, q) - torch.special.xlogy(q, p)).sum(), "one number"),
        (lambda q, p: torch.special.xlogy(q, q) - torch.special.xlogy(q, p), "sum over the codes"),
        (lambda q, p: torch.full(q.shape[:1], math.log(q.shape[1]), dtype=q.dtype), "differs"),
        (lambda q, p: "log K", "tensor"),
    ],
)
def test_check_rejects(wrong, fragment):
    with pytest.raises(CheckFailed) as info:
        cf.check_categorical_kl(wrong)
    assert fragment in str(info.value), str(info.value)


def test_check_accepts_hidden_test_parameters_and_float32_and_numpy_answers(capsys):
    cf.check_categorical_kl(categorical_kl, seed=11, num_codes=32)
    cf.check_categorical_kl(categorical_kl, seed=12, dtype=torch.float32)
    # a right answer computed in float32 on float64 inputs, or returned as a NumPy array
    cf.check_categorical_kl(lambda q, p: categorical_kl(q.float(), p.float()))
    cf.check_categorical_kl(lambda q, p: categorical_kl(q, p).numpy())
    cf.check_categorical_kl(lambda q, p: categorical_kl(q, p).numpy(), dtype=torch.float32)
    assert capsys.readouterr().out.count("Check passed") == 5


def test_hidden_parameters_change_the_inputs():
    q0, _ = cf._inputs(0)
    q1, _ = cf._inputs(11, 32)
    assert q0.shape[1] == 5 and q1.shape[1] == 32
    with pytest.raises(ValueError):
        cf.check_categorical_kl(categorical_kl, dtype=torch.int64)


@pytest.mark.parametrize("kwargs", [dict(seed=11, num_codes=32), dict(seed=12, dtype=torch.float32)])
@pytest.mark.parametrize(
    "wrong, fragment",
    [
        (lambda q, p: -torch.special.xlogy(q, p).sum(-1), "cross-entropy"),
        (lambda q, p: categorical_kl(q, p) / math.log(2), "nats"),
        (lambda q, p: categorical_kl(p, q) if bool((q > 0).all()) else categorical_kl(q, p) * 1.01, "differs"),
        (lambda q, p: (q * (q / p).log()).sum(-1), "0 log 0 = 0"),
    ],
)
def test_hidden_cases_reject_the_named_mistakes(kwargs, wrong, fragment):
    with pytest.raises(CheckFailed) as info:
        cf.check_categorical_kl(wrong, **kwargs)
    assert fragment in str(info.value), str(info.value)


def test_a_wrong_answer_falls_back_to_the_reference_after_its_check(capsys):
    from course_lib.checks import solved_or_reference

    def cross_entropy(q, p):  # a plausible wrong answer
        return -torch.special.xlogy(q, p).sum(-1)

    with pytest.raises(CheckFailed):
        cf.check_categorical_kl(cross_entropy)
    use = solved_or_reference(cross_entropy, categorical_kl, "categorical_kl")
    q, p = cf._inputs(0)
    assert torch.allclose(use(q, p), categorical_kl(q, p))
    assert "does not pass its check" in capsys.readouterr().out
    cf.check_categorical_kl(categorical_kl)  # a right answer is used as is
    assert solved_or_reference(categorical_kl, cf.reference_categorical_kl, "categorical_kl")(q, p).shape == (7,)
