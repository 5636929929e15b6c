"""The checks of notebooks 01 and 02 pass the reference, reject the stub, and name plausible mistakes."""
import pytest
import torch

from course_lib.checks import CheckFailed
from course_lib.checks import vae as cv
from course_lib.checks import vq as cq
from course_lib.losses import gaussian_kl, reparameterize


def stub(*args):
    raise NotImplementedError()


def rejects(check, fn, *fragments):
    with pytest.raises(CheckFailed) as info:
        check(fn)
    msg = str(info.value)
    for f in fragments:
        assert f in msg, f"expected {f!r} in the hint, got: {msg}"
    return msg


# ---------------------------------------------------------------- reparameterize
def test_reparameterize_check_passes_reference(capsys):
    cv.check_reparameterize(reparameterize)
    # float64 noise used to crash the check with a traceback (review: exercise-checks R2); now it passes
    cv.check_reparameterize(lambda mu, lv: mu + lv.exp().sqrt() * torch.randn(mu.shape, dtype=torch.float64))
    cv.check_reparameterize(lambda mu, lv: torch.distributions.Normal(mu, (0.5 * lv).exp()).rsample(), seed=3)
    cv.check_reparameterize(lambda mu, lv: mu + torch.randn_like(mu) * torch.exp(0.5 * lv))
    cv.check_reparameterize(lambda mu, lv: mu + torch.randn(mu.shape) * lv.exp().sqrt())
    assert "Check passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, fragment",
    [
        (stub, "not implemented"),
        (lambda mu, lv: mu + torch.randn_like(mu) * lv.exp(), "variance"),
        (lambda mu, lv: mu + torch.randn_like(mu) * lv, "logvar itself"),
        (lambda mu, lv: mu.clone(), "no noise was added"),
        (lambda mu, lv: torch.randn_like(mu) * (0.5 * lv).exp(), "centred at 0"),
        (lambda mu, lv: mu + torch.randn_like(mu), "unit spread"),
        (lambda mu, lv: torch.normal(mu.detach(), (0.5 * lv.detach()).exp()), "torch.normal"),
        (lambda mu, lv: torch.normal(mu, (0.5 * lv).exp()), "torch.normal"),          # requires grad, zero gradient
        (lambda mu, lv: mu + torch.randn(mu.shape[1]) * (0.5 * lv).exp(), "same noise"),   # one eps for the batch
        (lambda mu, lv: mu + torch.randn(mu.shape, generator=torch.Generator().manual_seed(0)) * (0.5 * lv).exp(),
         "fresh"),                                                                       # the same eps every call
        (lambda mu, lv: mu + torch.randn_like(mu) * (0.5 * lv).exp().detach(), "dz/dlogvar"),
    ],
)
def test_reparameterize_check_rejects(wrong, fragment):
    rejects(cv.check_reparameterize, wrong, fragment)


# ---------------------------------------------------------------- gaussian KL
def test_gaussian_kl_check_passes_reference(capsys):
    cv.check_gaussian_kl(gaussian_kl)
    cv.check_gaussian_kl(lambda mu, lv: -0.5 * torch.sum(1 + lv - mu**2 - lv.exp(), dim=1))
    assert "Check passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, fragment",
    [
        (stub, "not implemented"),
        (lambda mu, lv: (mu**2 + lv.exp() - 1 - lv).sum(1), "0.5"),
        (lambda mu, lv: 0.5 * torch.sum(1 + lv - mu**2 - lv.exp(), dim=1), "sign"),
        (lambda mu, lv: 0.5 * (mu**2 + (0.5 * lv).exp() - 1 - lv).sum(1), "standard deviation"),
        (lambda mu, lv: 0.5 * (mu**2 + lv.exp() - 1 - lv).mean(1), "averaged over the latent"),
        (lambda mu, lv: 0.5 * (mu**2 + lv.exp() - 1 - lv).sum(), "summed over the batch"),
        (lambda mu, lv: 0.5 * (lv.exp() - 1 - lv).sum(1), "mu^2"),
        (lambda mu, lv: 0.6 * (mu**2 + lv.exp() - 1 - lv).sum(1), "differs from the reference"),
    ],
)
def test_gaussian_kl_check_rejects(wrong, fragment):
    rejects(cv.check_gaussian_kl, wrong, fragment)


# ---------------------------------------------------------------- squared distances
def fast_sqdist(z, e):
    return z.pow(2).sum(1, keepdim=True) - 2 * z @ e.T + e.pow(2).sum(1)[None, :]


def test_squared_distances_check(capsys):
    cq.check_squared_distances(fast_sqdist)
    cq.check_squared_distances(lambda z, e: torch.cdist(z, e) ** 2)
    assert "Check passed" in capsys.readouterr().out
    rejects(cq.check_squared_distances, stub, "not implemented")
    rejects(cq.check_squared_distances, lambda z, e: z.pow(2).sum(1, keepdim=True) - 2 * z @ e.T, "|e|^2")
    rejects(cq.check_squared_distances, lambda z, e: e.pow(2).sum(1)[None] - 2 * z @ e.T, "|z|^2")
    rejects(cq.check_squared_distances, lambda z, e: fast_sqdist(z, e) + z @ e.T, "factor 2")
    rejects(cq.check_squared_distances, lambda z, e: torch.cdist(z, e), "SQUARED")
    rejects(cq.check_squared_distances, lambda z, e: fast_sqdist(z, e).T, "transposed")


# ---------------------------------------------------------------- nearest code
def nearest(z, e):
    return fast_sqdist(z, e).argmin(1)


def test_nearest_code_check(capsys):
    cq.check_nearest_code(nearest)
    assert "Check passed" in capsys.readouterr().out


def test_nearest_code_check_allows_ties():
    def tie_breaking_last(z, e):
        d = fast_sqdist(z, e)
        K = e.shape[0]
        return K - 1 - d.flip(1).argmin(1)  # picks the last of equal minima

    cq.check_nearest_code(tie_breaking_last)


@pytest.mark.parametrize(
    "wrong, fragment",
    [
        (stub, "not implemented"),
        (lambda z, e: fast_sqdist(z, e).argmax(1), "FARTHEST"),
        (lambda z, e: (z @ e.T).argmax(1), "|e|^2"),
        (lambda z, e: (z.pow(2).sum(1, keepdim=True) - 2 * z @ e.T).argmin(1), "|e|^2"),
        (lambda z, e: fast_sqdist(z, e).argmin(0), "dim=1"),
        (lambda z, e: fast_sqdist(z, e).min(1).values, "floats"),
        (lambda z, e: (z @ e.T).argmin(1), "dot products"),
    ],
)
def test_nearest_code_check_rejects(wrong, fragment):
    rejects(cq.check_nearest_code, wrong, fragment)


# ---------------------------------------------------------------- Lloyd step
def lloyd(x, c):
    assign = fast_sqdist(x, c).argmin(1)
    new = c.clone()
    for k in range(c.shape[0]):
        members = x[assign == k]
        if len(members):
            new[k] = members.mean(0)
    return new


def test_lloyd_check_passes(capsys):
    cq.check_lloyd_step(lloyd)
    cq.check_lloyd_step(cq.reference_lloyd_step)
    assert "Check passed" in capsys.readouterr().out


def test_check_reference_agrees_with_course_lib_nearest_code():
    quantize = pytest.importorskip("course_lib.quantize")
    x, c = cq._lloyd_inputs(0)
    assert torch.equal(quantize.nearest_code(x, c), fast_sqdist(x, c).argmin(1))


def lloyd_nan(x, c):
    assign = fast_sqdist(x, c).argmin(1)
    return torch.stack([x[assign == k].mean(0) for k in range(c.shape[0])])


def lloyd_zero(x, c):
    assign = fast_sqdist(x, c).argmin(1)
    sums = torch.zeros_like(c).index_add_(0, assign, x)
    counts = torch.bincount(assign, minlength=c.shape[0]).clamp_min(1)
    return sums / counts[:, None]


def lloyd_with(assign_fn):
    def step(x, c):
        assign = assign_fn(x, c)
        new = c.clone()
        for k in range(c.shape[0]):
            if (assign == k).any():
                new[k] = x[assign == k].mean(0)
        return new

    return step


@pytest.mark.parametrize(
    "wrong, fragment",
    [
        (stub, "not implemented"),
        (lloyd_nan, "nan"),
        (lloyd_zero, "empty cluster"),
        (lloyd_with(lambda x, c: fast_sqdist(x, c).argmax(1)), "argmax"),
        (lloyd_with(lambda x, c: (x @ c.T).argmax(1)), "|e|^2"),
        (lambda x, c: c.clone(), "did not move"),
        (lambda x, c: (lloyd(x, c), None), "only the new centroids"),
    ],
)
def test_lloyd_check_rejects(wrong, fragment):
    rejects(cq.check_lloyd_step, wrong, fragment)


# ---------------------------------------------------------------- issue 11: float32 and NumPy answers, hidden cases
def test_vq_checks_accept_float32_answers(capsys):
    """A right answer computed in float32 (as course_lib.quantize.squared_distances does) passes; it failed with
    atol = rtol = 1e-8 before."""
    quantize = pytest.importorskip("course_lib.quantize")
    cq.check_squared_distances(lambda z, e: fast_sqdist(z.float(), e.float()))
    cq.check_squared_distances(quantize.squared_distances)
    cq.check_nearest_code(lambda z, e: fast_sqdist(z.float(), e.float()).argmin(1))
    cq.check_lloyd_step(lambda x, c: lloyd(x.float(), c.float()))
    assert capsys.readouterr().out.count("Check passed") == 4


def test_vq_checks_accept_numpy_answers(capsys):
    cq.check_squared_distances(lambda z, e: ((z.numpy()[:, None, :] - e.numpy()[None]) ** 2).sum(-1))
    cq.check_nearest_code(lambda z, e: ((z.numpy()[:, None, :] - e.numpy()[None]) ** 2).sum(-1).argmin(1))
    cq.check_lloyd_step(lambda x, c: lloyd(x, c).numpy())
    assert capsys.readouterr().out.count("Check passed") == 3


def test_vq_and_vae_checks_take_hidden_test_parameters(capsys):
    cq.check_squared_distances(fast_sqdist, seed=11, n=7, k=40, d=16)
    cq.check_nearest_code(nearest, seed=5, n=200, k=64, d=8)
    cq.check_lloyd_step(lloyd, seed=9, d=5)
    cv.check_gaussian_kl(gaussian_kl, seed=4, shape=(3, 11))
    cv.check_reparameterize(reparameterize, seed=2)
    assert capsys.readouterr().out.count("Check passed") == 5
    # the hidden cases still reject the named mistakes
    rejects(lambda f: cq.check_squared_distances(f, seed=11, n=7, k=40, d=16),
            lambda z, e: z.pow(2).sum(1, keepdim=True) - 2 * z @ e.T, "|e|^2")
    rejects(lambda f: cq.check_lloyd_step(f, seed=9, d=5), lloyd_zero, "empty cluster")
    rejects(lambda f: cv.check_gaussian_kl(f, seed=4, shape=(3, 11)),
            lambda mu, lv: 0.5 * (mu**2 + lv.exp() - 1 - lv).mean(1), "averaged over the latent")
    rejects(lambda f: cv.check_reparameterize(f, seed=2), lambda mu, lv: mu + torch.randn_like(mu) * lv.exp(),
            "variance")


def test_gaussian_kl_check_accepts_float64_and_numpy_forms(capsys):
    cv.check_gaussian_kl(lambda mu, lv: gaussian_kl(mu.double(), lv.double()))
    cv.check_gaussian_kl(lambda mu, lv: (0.5 * (mu**2 + lv.exp() - 1 - lv).sum(1)).numpy())
    assert capsys.readouterr().out.count("Check passed") == 2


def test_messages_name_the_students_function():
    def squared_distances_fast(z, e):
        raise NotImplementedError()

    rejects(cq.check_squared_distances, squared_distances_fast, "squared_distances_fast is not implemented")
    rejects(cq.check_nearest_code, stub, "stub is not implemented")


def test_squared_distances_check_rejects_the_forbidden_broadcast():
    """exercise-checks review 1c: the (N, K, D) broadcast used to pass an exercise that forbids it."""
    rejects(cq.check_squared_distances, lambda z, e: ((z[:, None, :] - e[None, :, :]) ** 2).sum(-1), "(N, K, D)")
    rejects(cq.check_squared_distances, lambda z, e: (z.unsqueeze(1) - e.unsqueeze(0)).pow(2).sum(2), "(N, K, D)")


def test_lloyd_hint_from_the_notebook_works_on_float64_inputs(capsys):
    """exercise-checks review R3: the notebook's hint (now torch.zeros_like(centroids)) must pass on float64 inputs."""
    def lloyd(x, c):
        assign = fast_sqdist(x, c).argmin(1)
        sums = torch.zeros_like(c).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=len(c)).to(x.dtype)[:, None]
        return torch.where(counts > 0, sums / counts.clamp_min(1), c)

    cq.check_lloyd_step(lloyd)
    assert "Check passed" in capsys.readouterr().out
