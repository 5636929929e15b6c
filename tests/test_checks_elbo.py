"""Notebook 01's negative-ELBO exercise: the check passes right answers written several ways and names the usual
mistakes (mean over pixels, KL sign, KL summed over the batch, the posterior mean decoded instead of a sample, ...)."""
import pytest
import torch
import torch.nn.functional as F

from course_lib.checks import CheckFailed
from course_lib.checks.vae import check_negative_elbo, reference_negative_elbo
from course_lib.losses import gaussian_kl, reparameterize, vae_loss
from course_lib.models import VAE


def bce(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def answer(rec_fn=bce, kl_fn=gaussian_kl, combine=lambda r, k, b: (r + b * k).mean(), decode_mean=False, detach=False):
    def negative_elbo(model, x, beta=1.0):
        mu, logvar = model.encode(x)
        z = mu if decode_mean else reparameterize(mu, logvar)
        logits = model.decode(z.detach() if detach else z)
        rec, kl = rec_fn(logits, x), kl_fn(mu, logvar)
        return {"loss": combine(rec, kl, beta), "rec": rec.mean(), "kl": kl.mean()}

    return negative_elbo


def via_forward(model, x, beta=1.0):
    out = model(x)
    rec = F.binary_cross_entropy_with_logits(out.x_logits, x, reduction="sum") / x.shape[0]
    kl = (-0.5 * (1 + out.logvar - out.mu ** 2 - out.logvar.exp()).sum(1)).mean()
    return dict(loss=rec + beta * kl, rec=rec, kl=kl)


def float64_noise(model, x, beta=1.0):
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, dtype=torch.float64)
    rec, kl = bce(model.decode(z), x), gaussian_kl(mu, logvar)
    return dict(loss=(rec + beta * kl).mean(), rec=rec.mean(), kl=kl.mean())


@pytest.mark.parametrize("fn", [answer(), via_forward, float64_noise, reference_negative_elbo,
                                lambda m, x, b: vae_loss(m, x, b)])
def test_accepts_right_answers(fn, capsys):
    check_negative_elbo(fn)
    check_negative_elbo(fn, seed=5)
    check_negative_elbo(fn, seed=2, dtype=torch.float64)
    assert capsys.readouterr().out.count("Check passed") == 3


def stub(model, x, beta=1.0):
    raise NotImplementedError()


def one_bce_call(model, x, beta=1.0):   # the default reduction='mean' of the cross-entropy
    mu, logvar = model.encode(x)
    logits = model.decode(reparameterize(mu, logvar))
    rec, kl = F.binary_cross_entropy_with_logits(logits, x), gaussian_kl(mu, logvar).mean()
    return dict(loss=rec + beta * kl, rec=rec, kl=kl)


@pytest.mark.parametrize("wrong, fragment", [
    (stub, "not implemented"),
    (one_bce_call, "averaged over the pixels"),
    (answer(rec_fn=lambda lg, x: F.binary_cross_entropy_with_logits(lg, x, reduction="none").flatten(1).mean(1)),
     "averaged over the pixels"),
    (answer(combine=lambda r, k, b: (r - b * k).mean()), "wrong sign"),
    (answer(combine=lambda r, k, b: r.mean() + b * k.sum()), "KL term is summed over the batch"),
    (answer(combine=lambda r, k, b: (r + b * k).sum()), "summed over the batch"),
    (answer(combine=lambda r, k, b: (r + k).mean()), "beta is ignored"),
    (answer(combine=lambda r, k, b: (b * r + k).mean()), "beta multiplies the reconstruction"),
    (answer(combine=lambda r, k, b: r.mean()), "KL term is missing"),
    (answer(rec_fn=lambda lg, x: bce(torch.sigmoid(lg), x)), "sigmoid is applied twice"),
    (answer(kl_fn=lambda mu, lv: 0.5 * (mu ** 2 + lv.exp() - 1 - lv).mean(1)), "averaged over the latent"),
    (answer(decode_mean=True), "decoded mu"),
    (answer(detach=True), "gradient"),
    (lambda m, x, b=1.0: {k: v.detach() for k, v in answer()(m, x, b).items()}, "no gradient"),
    (lambda m, x, b=1.0: answer()(m, x, b)["loss"], "dict with the keys"),
])
def test_names_the_mistake(wrong, fragment):
    with pytest.raises(CheckFailed, match=None) as info:
        check_negative_elbo(wrong)
    assert fragment in str(info.value), str(info.value)


def test_vae_loss_matches_elbo_terms_and_says_what_it_needs():
    torch.manual_seed(0)
    model = VAE(latent_dim=2, hidden=4)
    x = torch.rand(3, 1, 28, 28)
    torch.manual_seed(1)
    out = vae_loss(model, x, beta=2.0)
    torch.manual_seed(1)
    ref = reference_negative_elbo(model, x, beta=2.0)
    for k in ("loss", "rec", "kl"):
        assert torch.allclose(out[k], ref[k])
    with pytest.raises(TypeError, match="x_logits, mu and logvar"):
        vae_loss(torch.nn.Identity(), x)
