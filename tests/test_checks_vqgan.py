"""The notebook-11 checks reject the wrong answers named in the reviews (issue 11; exercise-checks.md of 2026-12-06),
accept right answers written differently (float64, lambda by torch.autograd.grad), and take the extra parameters that
the notebook's hidden tests pass."""
import pytest
import torch

from course_lib import gan
from course_lib.checks import CheckFailed
from course_lib.checks import vqgan as ck


from test_vqgan import _solution_generator_loss  # noqa: E402  (one student-style solution for both files)


def _hard_coded_disc_weight(x, x_hat, q_loss, logits_fake, last_layer, step, disc_start, perceptual_fn,
                            perceptual_weight=1.0, disc_weight=0.5):
    return _solution_generator_loss(x, x_hat, q_loss, logits_fake, last_layer, step, disc_start, perceptual_fn,
                                    perceptual_weight, 0.5)


def test_discriminator_check_rejects_detaching_the_logits_instead_of_the_input():
    """Issue 11 (11): hinge_d_loss(disc(x), disc(x_hat).detach()) has the right value and no decoder gradient, but D
    never learns from the fakes. The check compares D's gradients with the reference and says so."""
    with pytest.raises(CheckFailed, match="only from the real images"):
        ck.check_discriminator_loss(lambda d, x, xh: gan.hinge_d_loss(d(x), d(xh).detach()))


def test_discriminator_check_accepts_float64_and_hidden_parameters(capsys):
    ck.check_discriminator_loss(lambda d, x, xh: gan.hinge_d_loss(d(x), d(xh.detach())).double())
    ck.check_discriminator_loss(lambda d, x, xh: gan.hinge_d_loss(d(x), d(xh.detach())), seeds=(7,), batch=5, size=12)
    assert capsys.readouterr().out.count("Check passed") == 2


def test_discriminator_check_other_wrong_answers_still_rejected():
    with pytest.raises(CheckFailed, match="decoder"):
        ck.check_discriminator_loss(lambda d, x, xh: gan.hinge_d_loss(d(x), d(xh)), seeds=(7,), batch=5, size=12)
    with pytest.raises(CheckFailed):  # only half the real term
        ck.check_discriminator_loss(lambda d, x, xh: gan.hinge_d_loss(d(x), d(xh.detach())) + 0.1 * d(x).mean())


def test_generator_check_hidden_parameters(capsys):
    ck.check_generator_loss(_solution_generator_loss, seeds=(7,), disc_start=3, perceptual_weight=0.3,
                            disc_weight=0.8, size=12)
    ck.check_generator_loss(lambda *a: _solution_generator_loss(*a).double())  # float64 result is fine
    assert capsys.readouterr().out.count("Check passed") == 2
    # a hard-coded disc_weight passes the visible call (seed 0 uses 0.5) only where 0.5 is what is asked
    with pytest.raises(CheckFailed):
        ck.check_generator_loss(_hard_coded_disc_weight, seeds=(7,), disc_weight=0.8)


def _lambda_by_backward(x, x_hat, q_loss, logits_fake, last_layer, step, disc_start, perceptual_fn,
                        perceptual_weight=1.0, disc_weight=0.5):
    """exercise-checks.md E5: lambda from .backward() and .grad -- the right value, but .grad is left behind on the
    decoder's parameters (the student even resets last_layer.grad; the bias and the features keep theirs)."""
    rec = (x - x_hat).abs().mean() + perceptual_weight * perceptual_fn(x_hat, x).mean()
    total = rec + q_loss
    if step >= disc_start:
        g_loss = gan.hinge_g_loss(logits_fake)
        rec.backward(retain_graph=True)
        g_rec, last_layer.grad = last_layer.grad.clone(), None
        g_loss.backward(retain_graph=True)
        g_adv, last_layer.grad = last_layer.grad.clone(), None
        total = total + disc_weight * (g_rec.norm() / (g_adv.norm() + 1e-4)).clamp(0, 1e4) * g_loss
    return total


def _adaptive_by_backward(rec, g_loss, w, delta=1e-4, max_weight=1e4):
    """The same mistake in notebook 09's adaptive_weight exercise."""
    rec.backward(retain_graph=True)
    g_rec, w.grad = w.grad.clone(), None
    g_loss.backward(retain_graph=True)
    g_adv, w.grad = w.grad.clone(), None
    return (g_rec.norm() / (g_adv.norm() + delta)).clamp(0, max_weight).detach()


def test_generator_check_rejects_lambda_taken_with_backward_as_the_adaptive_weight_check_does():
    """Consistency with notebook 09: both checks reject a lambda computed with .backward() that leaves .grad behind
    (the 2026-12-06 review found 11's accepted it while 09's rejected it)."""
    from course_lib.checks.gan import check_adaptive_weight

    with pytest.raises(CheckFailed, match=r"left gradients in the \.grad"):
        ck.check_generator_loss(_lambda_by_backward)
    with pytest.raises(CheckFailed, match=r"left gradients in the \.grad"):
        check_adaptive_weight(_adaptive_by_backward)


def test_generator_check_accepts_lambda_from_autograd_grad(capsys):
    """Right, written differently: lambda by hand with torch.autograd.grad (no .grad written), taming's formula."""
    def by_hand(x, x_hat, q_loss, logits_fake, last_layer, step, disc_start, perceptual_fn, perceptual_weight=1.0,
                disc_weight=0.5):
        rec = torch.nn.functional.l1_loss(x_hat, x) + perceptual_weight * perceptual_fn(x_hat, x).mean()
        g_loss = -logits_fake.mean()
        g_rec = torch.autograd.grad(rec, last_layer, retain_graph=True)[0]
        g_adv = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
        lam = torch.clamp(g_rec.norm() / (g_adv.norm() + 1e-4), 0.0, 1e4).detach()
        return rec + q_loss + disc_weight * lam * g_loss * float(step >= disc_start)

    ck.check_generator_loss(by_hand)
    assert "Check passed" in capsys.readouterr().out


def test_generator_check_says_what_a_float_return_is():
    """exercise-checks.md W7: `.item()` got "generator_loss raised TypeError" -- the check's own error reported as the
    student's. Now the message names the problem."""
    def as_float(*args):
        return float(_solution_generator_loss(*args).item())

    with pytest.raises(CheckFailed, match=r"scalar tensor.*got float.*no \.item\(\)"):
        ck.check_generator_loss(as_float)
    with pytest.raises(CheckFailed, match="ONE number"):
        ck.check_generator_loss(lambda *a: _solution_generator_loss(*a) * torch.ones(2))
    with pytest.raises(CheckFailed, match="not implemented"):
        ck.check_generator_loss(lambda *a: (_ for _ in ()).throw(NotImplementedError()))


def test_a_wrong_answer_falls_back_to_the_reference_in_later_cells(capsys):
    """A wrong (not missing) answer: the check fails, and solved_or_reference then uses the reference, with a note,
    instead of letting a later cell fail with a bare AssertionError (ecosystem.md)."""
    from course_lib.checks import solved_or_reference

    wrong = ck._no_adaptive
    with pytest.raises(CheckFailed):
        ck.check_generator_loss(wrong)
    fn = solved_or_reference(wrong, ck.reference_generator_loss, "generator_loss", check=ck.check_generator_loss)
    args, _, _ = ck._gen_problem(0, 1)
    assert torch.equal(fn(*args).detach(), ck.reference_generator_loss(*ck._gen_problem(0, 1)[0]).detach())
    assert "does not pass its check" in capsys.readouterr().out
    bad_d = lambda d, x, xh: gan.hinge_d_loss(d(x), d(xh))  # noqa: E731  (not detached)
    dfn = solved_or_reference(bad_d, ck.reference_discriminator_loss, "discriminator_loss",
                              check=ck.check_discriminator_loss)
    disc, x, xh, _ = ck._disc_problem(0)
    assert torch.equal(dfn(disc, x, xh).detach(), ck.reference_discriminator_loss(disc, x, xh).detach())
