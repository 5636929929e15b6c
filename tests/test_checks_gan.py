"""The checks of notebooks 08 and 09 pass the reference, reject the stub and name plausible mistakes."""
import pytest
import torch
import torch.nn.functional as F

from course_lib import gan
from course_lib.checks import CheckFailed
from course_lib.checks import gan as checks


def stub(*args, **kwargs):
    raise NotImplementedError()


# ------------------------------------------------------------------ hinge losses
def test_hinge_reference_passes(capsys):
    checks.check_hinge_d_loss(gan.hinge_d_loss)
    checks.check_hinge_g_loss(gan.hinge_g_loss)
    assert capsys.readouterr().out.count("Check passed") == 2


@pytest.mark.parametrize("check", [checks.check_hinge_d_loss, checks.check_hinge_g_loss,
                                   checks.check_adaptive_weight, checks.check_receptive_field,
                                   checks.check_gan_step])
def test_stub_rejected(check):
    with pytest.raises(CheckFailed, match="not implemented"):
        check(stub)


@pytest.mark.parametrize("wrong,hint", [
    (lambda r, f: 0.5 * (F.relu(1 + r).mean() + F.relu(1 - f).mean()), "signs are swapped"),
    (lambda r, f: 0.5 * ((1 - F.relu(r)).mean() + (1 + F.relu(f)).mean()), "relu is in the wrong place"),
    (lambda r, f: 0.5 * ((1 - r).mean() + (1 + f).mean()), "relu is missing"),
    (lambda r, f: F.relu(1 - r).mean() + F.relu(1 + f).mean(), "0.5"),
    (lambda r, f: 0.5 * (F.relu(-r).mean() + F.relu(f).mean()), "margin"),
    (lambda r, f: 0.5 * (F.relu(1 - r).mean() + F.relu(1 + f).mean()) + 0.1, "differs"),  # unknown mistake
])
def test_hinge_d_wrong(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        checks.check_hinge_d_loss(wrong)


@pytest.mark.parametrize("wrong,hint", [
    (lambda f: f.mean(), "sign is flipped"),
    (lambda f: F.relu(1 - f).mean(), "no relu"),
    (lambda f: F.softplus(-f).mean(), "non-saturating"),
    (lambda f: -f.sum(), "differs"),
])
def test_hinge_g_wrong(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        checks.check_hinge_g_loss(wrong)


# ------------------------------------------------------------------ adaptive weight
def _grads(rec, g_loss, w):
    gr = torch.autograd.grad(rec, w, retain_graph=True)[0]
    gg = torch.autograd.grad(g_loss, w, retain_graph=True)[0]
    return gr, gg


def aw_no_detach(rec, g_loss, w, delta=1e-4, max_weight=1e4):
    gr, gg = torch.autograd.grad(rec, w, retain_graph=True, create_graph=True)[0], \
        torch.autograd.grad(g_loss, w, retain_graph=True, create_graph=True)[0]
    return torch.clamp(gr.norm() / (gg.norm() + delta), 0.0, max_weight)


def aw_no_clamp(rec, g_loss, w, delta=1e-4, max_weight=1e4):
    gr, gg = _grads(rec, g_loss, w)
    return (gr.norm() / (gg.norm() + delta)).detach()


def aw_no_delta_no_clamp(rec, g_loss, w, delta=1e-4, max_weight=1e4):
    gr, gg = _grads(rec, g_loss, w)
    return (gr.norm() / gg.norm()).detach()


def aw_no_delta_clamped(rec, g_loss, w, delta=1e-4, max_weight=1e4):
    gr, gg = _grads(rec, g_loss, w)
    return torch.clamp(gr.norm() / gg.norm(), 0.0, max_weight).detach()


def aw_inverted(rec, g_loss, w, delta=1e-4, max_weight=1e4):
    gr, gg = _grads(rec, g_loss, w)
    return torch.clamp(gg.norm() / (gr.norm() + delta), 0.0, max_weight).detach()


def aw_loss_values(rec, g_loss, w, delta=1e-4, max_weight=1e4):
    return torch.clamp(rec.abs() / (g_loss.abs() + delta), 0.0, max_weight).detach()


def aw_no_retain(rec, g_loss, w, delta=1e-4, max_weight=1e4):
    gr = torch.autograd.grad(rec, w)[0]
    gg = torch.autograd.grad(g_loss, w)[0]
    return torch.clamp(gr.norm() / (gg.norm() + delta), 0.0, max_weight).detach()


def aw_elementwise(rec, g_loss, w, delta=1e-4, max_weight=1e4):
    gr, gg = _grads(rec, g_loss, w)
    return torch.clamp(gr.abs() / (gg.abs() + delta), 0.0, max_weight).detach()


def aw_python_float(rec, g_loss, w, delta=1e-4, max_weight=1e4):
    return float(gan.adaptive_weight(rec, g_loss, w, delta, max_weight))


def test_adaptive_reference_passes(capsys):
    checks.check_adaptive_weight(gan.adaptive_weight)
    assert "Check passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong,hint", [
    (aw_no_detach, "requires grad"),  # only reachable with create_graph=True
    (aw_no_clamp, "clamp"),
    (aw_no_delta_no_clamp, "delta is missing"),
    (aw_no_delta_clamped, "delta is missing"),
    (aw_inverted, "upside down"),
    (aw_loss_values, "LOSS VALUES"),
    (aw_no_retain, "retain_graph"),
    (aw_elementwise, "scalar"),
    (aw_python_float, "scalar tensor"),
])
def test_adaptive_wrong(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        checks.check_adaptive_weight(wrong)


# ------------------------------------------------------------------ receptive field
def rf_after_update(layers):
    r, j = 1, 1
    for k, s in layers:
        j *= s
        r += (k - 1) * j
    return r


def rf_no_strides(layers):
    return 1 + sum(k - 1 for k, _ in layers)


def rf_sum_kernels(layers):
    return sum(k for k, _ in layers)


def rf_missing_one(layers):
    r, j = 0, 1
    for k, s in layers:
        r += (k - 1) * j
        j *= s
    return r


def test_receptive_field_reference_passes(capsys):
    checks.check_receptive_field(gan.receptive_field)
    assert "Check passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong,hint", [
    (rf_after_update, "CURRENT layer"),
    (rf_no_strides, "strides are ignored"),
    (rf_missing_one, "start from 1"),
    (rf_sum_kernels, "receptive_field"),
])
def test_receptive_field_wrong(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        checks.check_receptive_field(wrong)


# ------------------------------------------------------------------ issue 11: side effects, hidden cases, numpy forms
def aw_backward_grad(rec, g_loss, w, delta=1e-4, max_weight=1e4):
    """Right value, computed with .backward() and .grad: leaves gradients on every other parameter."""
    w.grad = None
    rec.backward(retain_graph=True)
    gr = w.grad.clone()
    w.grad = None
    g_loss.backward(retain_graph=True)
    gg = w.grad.clone()
    w.grad = None
    return torch.clamp(gr.norm() / (gg.norm() + delta), 0.0, max_weight).detach()


def aw_hard_coded(rec, g_loss, w, delta=1e-4, max_weight=1e4):
    return gan.adaptive_weight(rec, g_loss, w, 1e-4, 1e4)


def test_adaptive_backward_and_grad_rejected():
    with pytest.raises(CheckFailed, match=r"left gradients in the \.grad"):
        checks.check_adaptive_weight(aw_backward_grad)


def aw_delta_hard_coded(rec, g_loss, w, delta=1e-4, max_weight=1e4):
    """Review exercise-checks W6: delta hard-coded at its default (the visible check used to pass it)."""
    gr, gg = _grads(rec, g_loss, w)
    return torch.clamp(gr.norm() / (gg.norm() + 1e-4), 0.0, max_weight).detach()


def aw_clamp_hard_coded(rec, g_loss, w, delta=1e-4, max_weight=1e4):
    """Review exercise-checks W5: the clamp hard-coded at 1e4 (the visible check used to pass it)."""
    gr, gg = _grads(rec, g_loss, w)
    return torch.clamp(gr.norm() / (gg.norm() + delta), 0.0, 1e4).detach()


def aw_paper_delta(rec, g_loss, w, delta=1e-4, max_weight=1e4):
    """Review exercise-checks W2: the paper's delta = 1e-6 as a constant."""
    gr, gg = _grads(rec, g_loss, w)
    return torch.clamp(gr.norm() / (gg.norm() + 1e-6), 0.0, max_weight).detach()


@pytest.mark.parametrize("wrong,hint", [(aw_delta_hard_coded, "hard-coded delta"), (aw_clamp_hard_coded, "max_weight"),
                                        (aw_paper_delta, "paper's delta")])
def test_adaptive_visible_check_tries_non_default_arguments(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        checks.check_adaptive_weight(wrong)


def test_adaptive_hidden_cases_catch_hard_coded_constants(capsys):
    with pytest.raises(CheckFailed, match="hard-coded delta"):
        checks.check_adaptive_weight(aw_hard_coded)  # the visible check now tries other values too
    with pytest.raises(CheckFailed, match="hard-coded delta"):
        checks.check_adaptive_weight(aw_hard_coded, seed=5, delta=1e-3)
    with pytest.raises(CheckFailed, match="max_weight"):
        checks.check_adaptive_weight(aw_hard_coded, seed=3, max_weight=50.0)
    checks.check_adaptive_weight(gan.adaptive_weight, seed=5, delta=1e-3, max_weight=50.0)
    assert capsys.readouterr().out.count("Check passed") == 1


def test_adaptive_create_graph_without_detach_is_the_case_the_detach_branch_catches():
    # torch.autograd.grad without create_graph returns constants: only create_graph=True leaves a result that
    # requires grad (aw_no_detach above), and a plain ratio of autograd.grad results without .detach() passes
    def no_detach_plain(rec, g_loss, w, delta=1e-4, max_weight=1e4):
        gr, gg = _grads(rec, g_loss, w)
        return torch.clamp(gr.norm() / (gg.norm() + delta), 0.0, max_weight)
    checks.check_adaptive_weight(no_detach_plain)
    with pytest.raises(CheckFailed, match="create_graph"):
        checks.check_adaptive_weight(aw_no_detach)


def test_receptive_field_numpy_int_and_tensor_accepted(capsys):
    import numpy as np
    checks.check_receptive_field(lambda layers: np.int64(gan.receptive_field(layers)))
    checks.check_receptive_field(lambda layers: torch.tensor(gan.receptive_field(layers)))
    checks.check_receptive_field(gan.receptive_field, seed=11)
    assert capsys.readouterr().out.count("Check passed") == 3


def test_receptive_field_hidden_seed_rejects_wrong():
    with pytest.raises(CheckFailed, match="CURRENT layer"):
        checks.check_receptive_field(rf_after_update, seed=11)


def test_hinge_hidden_cases_and_numpy_forms(capsys):
    import numpy as np
    checks.check_hinge_d_loss(gan.hinge_d_loss, seed=7, shape=(2, 1, 5, 5))
    checks.check_hinge_g_loss(gan.hinge_g_loss, seed=7, shape=(2, 1, 5, 5))
    checks.check_hinge_d_loss(lambda r, f: np.float32(gan.hinge_d_loss(r, f).item()))
    checks.check_hinge_g_loss(lambda f: (-f.float().numpy().mean()))
    assert capsys.readouterr().out.count("Check passed") == 4
    with pytest.raises(CheckFailed, match="signs are swapped"):
        checks.check_hinge_d_loss(lambda r, f: 0.5 * (F.relu(1 + r).mean() + F.relu(1 - f).mean()), seed=7,
                                  shape=(2, 1, 5, 5))


# ------------------------------------------------------------------ one GAN training step (notebook 08, issue 21)
from course_lib.gan import set_requires_grad  # noqa: E402


def step_right_other_form(G, D, opt_g, opt_d, x, z, d_loss_fn, g_loss_fn):
    """Right, written differently: both gradients cleared at the top, fakes made under no_grad and again for G,
    D frozen with requires_grad_, losses returned as tensors."""
    opt_d.zero_grad()
    opt_g.zero_grad()
    with torch.no_grad():
        fake = G(z)
    d_loss = d_loss_fn(D(x), D(fake))
    d_loss.backward()
    opt_d.step()
    D.requires_grad_(False)
    g_loss = g_loss_fn(D(G(z)))
    g_loss.backward()
    opt_g.step()
    D.requires_grad_(True)
    return d_loss.detach(), g_loss.detach()


def step_not_frozen_but_cleared(G, D, opt_g, opt_d, x, z, d_loss_fn, g_loss_fn):
    """Right too: D is not frozen, but its gradients from the generator step are cleared before D's next backward
    and opt_d does not step in the generator's step."""
    fake = G(z)
    opt_d.zero_grad()
    d_loss = d_loss_fn(D(x), D(fake.detach()))
    d_loss.backward()
    opt_d.step()
    opt_g.zero_grad()
    g_loss = g_loss_fn(D(fake))
    g_loss.backward()
    opt_g.step()
    return d_loss.item(), g_loss.item()


def written_step(detach=True, freeze=True, unfreeze=True, zero_d="before", zero_g="before", g_sign=1.0,
                 swap_d=False, d_again=False, one_optimiser=False):
    """A GAN step written out line by line, with one of the students' slips switched on by an argument."""
    def step(G, D, opt_g, opt_d, x, z, d_loss_fn, g_loss_fn):
        fake = G(z)
        if zero_d == "before":
            opt_d.zero_grad()
        if zero_g == "top":
            opt_g.zero_grad()
        fakes_for_d = fake.detach() if detach else fake
        d_loss = d_loss_fn(D(fakes_for_d), D(x)) if swap_d else d_loss_fn(D(x), D(fakes_for_d))
        d_loss.backward(retain_graph=not detach)
        if zero_d == "after":
            opt_d.zero_grad()
        opt_d.step()
        if freeze:
            set_requires_grad(D, False)
        opt = torch.optim.SGD([*G.parameters(), *D.parameters()], lr=0.1) if one_optimiser else opt_g
        if zero_g == "before" or one_optimiser:
            opt.zero_grad()
        g_loss = g_sign * g_loss_fn(D(fake))
        g_loss.backward()
        opt.step()
        if d_again:
            opt_d.step()
        if freeze and unfreeze:
            set_requires_grad(D, True)
        return d_loss.item(), g_loss.item()
    return step


step_not_detached = written_step(detach=False, zero_g="top")   # L_D's gradient reaches G's update
step_not_detached_but_cleared = written_step(detach=False)     # same weights, still rejected
step_one_optimiser = written_step(freeze=False, one_optimiser=True)
step_opt_d_again = written_step(freeze=False, d_again=True)     # D steps on the generator's gradients
step_d_grads_left = written_step(freeze=False, zero_d=None)     # G step's gradients on D reach D's next update
step_zero_grad_after_backward = written_step(zero_d="after")
step_g_sign = written_step(g_sign=-1.0)                         # G maximises its loss
step_d_swapped = written_step(swap_d=True)                      # real and fake swapped
step_left_frozen = written_step(unfreeze=False)


def step_g_first(G, D, opt_g, opt_d, x, z, d_loss_fn, g_loss_fn):
    set_requires_grad(D, False)
    opt_g.zero_grad()
    g_loss = g_loss_fn(D(G(z)))
    g_loss.backward()
    opt_g.step()
    set_requires_grad(D, True)
    opt_d.zero_grad()
    d_loss = d_loss_fn(D(x), D(G(z).detach()))
    d_loss.backward()
    opt_d.step()
    return d_loss.item(), g_loss.item()


def step_logits_before_d_step(G, D, opt_g, opt_d, x, z, d_loss_fn, g_loss_fn):
    """D's logits on the fakes computed once, before D's step, and reused for G's loss."""
    fake = G(z)
    logits_fake = D(fake)
    opt_d.zero_grad()
    d_loss = d_loss_fn(D(x), logits_fake.detach())
    d_loss.backward()
    opt_d.step()
    opt_g.zero_grad()
    g_loss = g_loss_fn(logits_fake)
    g_loss.backward()
    opt_g.step()
    return d_loss.item(), g_loss.item()


def step_returns_swapped(G, D, opt_g, opt_d, x, z, d_loss_fn, g_loss_fn):
    d, g = gan.gan_step(G, D, opt_g, opt_d, x, z, d_loss_fn, g_loss_fn)
    return g, d


@pytest.mark.parametrize("optimiser, loss", [("sgd", "non-saturating"), ("adam", "hinge")])
def test_gan_step_right_answers_pass(optimiser, loss, capsys):
    for fn in (gan.gan_step, step_right_other_form, step_not_frozen_but_cleared):
        checks.check_gan_step(fn, seed=3, optimiser=optimiser, loss=loss)
    checks.check_gan_step(gan.gan_step)
    assert capsys.readouterr().out.count("Check passed") == 4


@pytest.mark.parametrize("wrong,hint", [
    (step_not_detached, "detach the fakes"),
    (step_not_detached_but_cleared, "detach the fakes"),
    (step_one_optimiser, "one optimiser stepping both"),
    (step_opt_d_again, "one optimiser stepping both"),
    (step_d_grads_left, "left from the previous generator step"),
    (step_zero_grad_after_backward, "came after d_loss.backward"),
    (step_g_sign, "generator's loss has the wrong sign"),
    (step_d_swapped, "real and fake swapped"),
    (step_left_frozen, "still frozen"),
    (step_g_first, "generator stepped before"),
    (step_logits_before_d_step, "BEFORE opt_d.step"),
    (step_returns_swapped, "discriminator's loss first"),
])
def test_gan_step_named_mistakes(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        checks.check_gan_step(wrong)


def test_gan_step_hidden_cases_reject_too():
    with pytest.raises(CheckFailed, match="detach the fakes"):
        checks.check_gan_step(step_not_detached, seed=3, optimiser="adam", loss="hinge")
    with pytest.raises(CheckFailed, match="left from the previous generator step"):
        checks.check_gan_step(step_d_grads_left, seed=3, optimiser="adam", loss="hinge")


def test_a_wrong_answer_falls_back_to_the_reference_in_later_cells(capsys):
    """After a failed check, solved_or_reference uses course_lib's version (a wrong GAN step or adaptive weight
    would otherwise spoil every later cell); after a passed check, the student's own."""
    from course_lib.checks import solved_or_reference

    with pytest.raises(CheckFailed):
        checks.check_gan_step(step_not_detached)
    step = solved_or_reference(step_not_detached, gan.gan_step, "gan_step")
    assert step.__wrapped__ is step_not_detached
    torch.manual_seed(0)
    G, D = gan.toy_mlp(2, 2, 8), gan.toy_mlp(2, 1, 8)
    step(G, D, torch.optim.SGD(G.parameters(), 0.1), torch.optim.SGD(D.parameters(), 0.1), torch.randn(4, 2),
         torch.randn(4, 2), gan.non_saturating_d_loss, gan.non_saturating_g_loss)
    assert "does not pass its check yet" in capsys.readouterr().out
    with pytest.raises(CheckFailed):
        checks.check_adaptive_weight(aw_delta_hard_coded)
    assert "does not pass" not in capsys.readouterr().out
    checks.check_gan_step(step_right_other_form)
    ok = solved_or_reference(step_right_other_form, gan.gan_step, "gan_step")
    ok(G, D, torch.optim.SGD(G.parameters(), 0.1), torch.optim.SGD(D.parameters(), 0.1), torch.randn(4, 2),
       torch.randn(4, 2), gan.non_saturating_d_loss, gan.non_saturating_g_loss)
    assert "Note" not in capsys.readouterr().out
