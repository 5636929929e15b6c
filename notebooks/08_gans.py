# %% [markdown]
# # 08 · GANs: two networks, one training loop
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-to-vqgan/course/blob/v0.3.0/notebooks/student/08_gans.ipynb)
#
# VQ-GAN adds a second network to the autoencoder: a discriminator that learns to tell real images from
# reconstructions, while the decoder learns to fool it. This lesson builds that game on the smallest possible
# example, points in the plane, where every sample can be drawn.
#
# **Learning objectives.** After this notebook you can
# - write one training step of a GAN with two optimisers: the discriminator on detached fakes, then the generator
#   through a discriminator that does not move;
# - see mode collapse on a 2-D toy, measured as modes covered during training, and one cure;
# - compare the hinge and non-saturating losses as functions of the logit, with their gradients.
#
# **Prerequisites.** Notebook 01 (training a network in PyTorch). No GAN background is needed.
#
# **Estimated time.** Core path about 36 min; the deep dive about 3 min more (estimated from this notebook by `make
# stats`). Machine: about 9 s under `quick` on 2 CPU cores; under 1 min of training under `standard` on a T4
# (estimated from FLOPs, not yet timed).

# %% tags=["setup"]
# Set-up: installs course_lib (release 0.3.0) where it is missing or another release; a checkout's copy is kept.
# Choose a profile by uncommenting one line (default: quick on a CPU, standard with CUDA):
# import os; os.environ["COURSE_PROFILE"] = "standard"
RELEASE = "0.3.0"
try:
    import course_lib
    if course_lib.__version__ != RELEASE and "-packages" in course_lib.__file__:
        raise ImportError(f"course_lib {course_lib.__version__} is installed, not {RELEASE}")
except (ImportError, AttributeError):
    # pip may say "you may need to restart the kernel": only if it replaced another release (the next line says so)
    # %pip install -q "course-lib[metrics] @ git+https://github.com/vae-to-vqgan/course@v0.3.0"
    import course_lib
# course_lib.env.keep_runs_on_drive()  # Colab: keep checkpoints on Google Drive, so a disconnect loses nothing
ENV = course_lib.setup_notebook(seed=0, release=RELEASE)

# %% [markdown]
# Every size in this notebook comes from this table. GAN training varies from seed to seed, so each experiment
# runs `seeds` seeds and shows the spread.

# %%
from course_lib.profiles import settings

CFG = settings(
    quick=dict(toy_steps=500, toy_batch=128, seeds=3, lr_fast=2e-3, lr_slow=5e-4, d_per_g=1, toy_loss="non-saturating"),
    standard=dict(toy_steps=1000, toy_batch=128, seeds=5, lr_fast=2e-3, lr_slow=5e-4, d_per_g=1,
                  toy_loss="non-saturating"),
    smoke=dict(seeds=2),
)
CFG

# %%
import statistics
from functools import partial

import torch
import torch.nn.functional as F

from course_lib.claims import claim, verdict
from course_lib.explorers import Choice, IntSlider, Toggle, explorer
from course_lib.explorers.gan_toy import (draw_gan_losses, draw_gan_step_diagram, draw_mode_collapse, draw_toy_gan,
                                          runs_from_snapshots)
from course_lib.gan import (modes_covered, non_saturating_d_loss, non_saturating_g_loss, ring_centres,
                            ring_of_gaussians, set_requires_grad, toy_mlp, train_toy_gan)

torch.set_num_threads(1)  # tiny networks: one CPU thread is faster, and the runs reproduce across machines

# %% [markdown]
# ## 1. Two players
#
# A GAN (Goodfellow et al. 2014) trains two networks against each other. The **discriminator** $D$ maps a sample
# to a logit: high means "looks real". The **generator** $G$ maps noise $z$ to a sample. With $\sigma$ the sigmoid,
# $D$ is a cross-entropy classifier, and $G$ learns to make $D$ call its samples real:
#
# $$L_D = -\mathbb{E}_x \log \sigma(D(x)) - \mathbb{E}_z \log\bigl(1-\sigma(D(G(z)))\bigr), \qquad
#   L_G = -\mathbb{E}_z \log \sigma(D(G(z))).$$
#
# This $L_G$ is the *non-saturating* generator loss; section 4 says why. `course_lib.gan` writes both losses with
# `softplus` on logits and halves $L_D$, as taming-transformers does. The data is a ring of 8 Gaussians, the classic
# toy for **mode collapse**: a generator putting all its samples on a few modes (Metz et al. 2016). A mode is
# *covered* when it gets at least a quarter of its fair share of samples near its centre (`modes_covered`).

# %%
CENTRES = ring_centres()
real = ring_of_gaussians(2000, generator=torch.Generator().manual_seed(0))
G, D = toy_mlp(2, 2), toy_mlp(2, 1)  # generator: noise (2-D) -> point; discriminator: point -> logit
print("real data covers", modes_covered(real, CENTRES)[0], "modes; an untrained G covers",
      modes_covered(G(torch.randn(2000, 2)), CENTRES)[0])

# %% [markdown]
# ## 2. One training step
#
# Each step has two halves, each with its own optimiser.
#
# * **Discriminator step.** Score real samples and fakes, and step `opt_d` on $L_D$. The fakes enter as
#   `fake.detach()`, so $L_D$ sends no gradient into $G$. Without the detach, $G$ would receive $D$'s wish that its
#   samples look *more* fake.
# * **Generator step.** Score the fakes again with the *updated* $D$ and step only `opt_g` on $L_G$. Freeze $D$
#   with `set_requires_grad(D, False)` so $L_G$ writes nothing into its `.grad`, and unfreeze it afterwards.
# * **Fresh gradients.** `.backward()` *adds* to `.grad`: call each optimiser's `zero_grad()` before its backward,
#   or old gradients join the update.

# %% tags=["fig-gan-step-diagram"]
draw_gan_step_diagram();

# %% [markdown]
# ### Exercise 1: one GAN training step
# Write `my_gan_step`. `d_loss_fn(logits_real, logits_fake)` and `g_loss_fn(logits_fake)` are the two losses, so the
# same step serves every GAN loss. Do the discriminator's step first, then the generator's, and return the two loss
# values as floats. The check runs two steps in a row on small networks and looks at the gradients each optimiser
# steps with; the hidden tests use another optimiser and another loss.

# %%
def my_gan_step(G, D, opt_g, opt_d, x_real, z, d_loss_fn, g_loss_fn):
    """One step: D on real and detached fakes (opt_d), then G through a frozen D (opt_g). Returns (d_loss, g_loss)."""
    ### BEGIN SOLUTION
    fake = G(z)
    d_loss = d_loss_fn(D(x_real), D(fake.detach()))  # detached: L_D stops at the fakes
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    set_requires_grad(D, False)  # frozen: L_G writes nothing into D
    g_loss = g_loss_fn(D(fake))  # D's new weights judge the same fakes
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
    set_requires_grad(D, True)
    return d_loss.item(), g_loss.item()
    ### END SOLUTION


# %%
from course_lib.checks.gan import check_gan_step

check_gan_step(my_gan_step)
### BEGIN HIDDEN TESTS
check_gan_step(my_gan_step, seed=4, optimiser="adam", loss="hinge")
### END HIDDEN TESTS

# %% [markdown]
# From here on the notebook trains with your step. While it is unsolved, the cells below use
# `course_lib.gan.gan_step` instead and say so once.

# %%
import course_lib.gan
from course_lib.checks import solved_or_reference

gan_step = solved_or_reference(my_gan_step, course_lib.gan.gan_step, "gan_step")

# %% [markdown]
# ## 3. Mode collapse, and a faster discriminator
#
# `train_toy_gan` loops your step with Adam, recording the modes covered on one fixed set of 2,000 noise vectors.
# Two settings differ only in who learns faster. With the generator 4x faster, $G$ piles its samples on a
# spot that fools the current $D$; $D$ catches up, and $G$ jumps elsewhere. With the rates swapped, $D$ keeps up:
# the idea of the *two time-scale update rule* (Heusel et al. 2017).
#
# Expect the first setting to stay on 0-3 modes throughout, and the second to cover clearly more.

# %% tags=["fig-mode-collapse"]
toy_kw = dict(step_fn=gan_step, steps=CFG.toy_steps, batch_size=CFG.toy_batch, loss=CFG.toy_loss, d_per_g=CFG.d_per_g)
snaps = {CFG.toy_loss: []}  # seed 0 of the D-faster setting, for the explorer of section 4
toy = {"G faster": [train_toy_gan(lr_g=CFG.lr_fast, lr_d=CFG.lr_slow, seed=s, **toy_kw) for s in range(CFG.seeds)],
       "D faster": [train_toy_gan(lr_g=CFG.lr_slow, lr_d=CFG.lr_fast, seed=s, snapshots=snaps[CFG.toy_loss] if s == 0
                                  else None, **toy_kw) for s in range(CFG.seeds)]}
fig = draw_mode_collapse(toy, real, labels={"G faster": f"G faster (lr_g {CFG.lr_fast:g}, lr_d {CFG.lr_slow:g})",
                                            "D faster": f"D faster (lr_g {CFG.lr_slow:g}, lr_d {CFG.lr_fast:g})"})

# %%
final = {k: [lg["modes"][-1] for _, _, lg in runs] for k, runs in toy.items()}
peak = [max(lg["modes"]) for _, _, lg in toy["G faster"]]
mean_sd = lambda v: f"{statistics.mean(v):.1f} ± {statistics.stdev(v) if len(v) > 1 else 0.0:.1f}"
print(f"{'seed':>5} {'G faster: final (peak)':>23} {'D faster: final':>16}")
for s in range(CFG.seeds):
    print(f"{s:>5} {final['G faster'][s]:>16} ({peak[s]}) {final['D faster'][s]:>16}")
print(f"{'mean':>5} {mean_sd(final['G faster']):>23} {mean_sd(final['D faster']):>16}   (± sd over seeds)")
wins = sum(f > c for f, c in zip(final["D faster"], final["G faster"]))
majority = CFG.seeds // 2 + 1
claim(statistics.mean(final["D faster"]) >= statistics.mean(final["G faster"]) + 3 and wins >= majority
      and sum(p <= 3 for p in peak) >= majority,
      f"G faster stays collapsed (peak <= 3 modes in most seeds: {peak}) while D faster ends with >= 3 more modes "
      f"on average ({mean_sd(final['D faster'])} vs {mean_sd(final['G faster'])}), more in {wins} of {CFG.seeds} seeds")
print(verdict(wins == CFG.seeds, f"The faster discriminator covered more modes in every seed ({wins} of {CFG.seeds}).",
              f"The faster discriminator covered more modes in {wins} of {CFG.seeds} seeds."))

# %% [markdown]
# Neither setting need reach all 8 modes at this budget; the D-faster generator often leaves a thin trail between
# modes. Other cures: unrolled GANs (Metz et al. 2016), minibatch discrimination (Salimans et al. 2016), or showing
# $D$ several samples at once (PacGAN, Lin et al. 2018). Collapse matters much less in a VQ-GAN: its generator is a
# decoder that must also reconstruct its input, so it cannot drop whole modes for free.
#
# ## 4. Hinge vs non-saturating loss
#
# The VQ-GAN paper writes the log-likelihood loss above (Esser et al. 2021, eq. 5), but its code, taming-transformers,
# defaults to the **hinge** loss (`disc_loss="hinge"`; Lim & Ye 2017):
#
# $$L_D = \tfrac12\bigl(\mathbb{E}\,\mathrm{relu}(1 - D(x)) + \mathbb{E}\,\mathrm{relu}(1 + D(\hat x))\bigr), \qquad
#   L_G = -\mathbb{E}\, D(\hat x).$$
#
# The plots show each loss against one logit $\ell$ and the generator's gradient $|\partial L / \partial \ell|$,
# including the original *minimax* generator loss $\log(1-\sigma(\ell))$ that the non-saturating loss replaced.
# Early in training $D$ rejects fakes confidently ($\ell \ll 0$). Expect the minimax loss to be flat there, with
# almost no gradient; the other two give a gradient of about 1.

# %% tags=["fig-gan-losses"]
fig, grads = draw_gan_losses()
at = lambda name, value: float(grads[name][int((grads["l"] - value).abs().argmin())])
print(f"generator gradient at l = -5: minimax {at('G: minimax log(1 - sigmoid(l))', -5):.4f}, "
      f"non-saturating {at('G: non-saturating softplus(-l)', -5):.4f}, hinge {at('G: hinge -l', -5):.4f}")
claim(at("G: minimax log(1 - sigmoid(l))", -5) < 0.01 < 0.99 < at("G: non-saturating softplus(-l)", -5),
      "the minimax loss saturates where D rejects the fakes; the non-saturating one does not", kind="demonstration");

# %% [markdown]
# The hinge *discriminator* loss is exactly 0 for real logits above +1 and fake logits below -1. A confident, correct
# discriminator stops pushing its logits further, which keeps them bounded.
#
# ### Exercise 2: the hinge losses
# Write both hinge losses. `logits_real` and `logits_fake` are discriminator outputs of any shape (for an image
# discriminator, one logit per patch: $(B, 1, h, w)$). Return scalars: means over all logits.

# %%
def my_hinge_d_loss(logits_real, logits_fake):
    """0.5 * (mean relu(1 - D(x)) + mean relu(1 + D(x_hat)))"""
    ### BEGIN SOLUTION
    return 0.5 * (F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean())
    ### END SOLUTION


def my_hinge_g_loss(logits_fake):
    """-mean D(x_hat)"""
    ### BEGIN SOLUTION
    return -logits_fake.mean()
    ### END SOLUTION


# %%
from course_lib.checks.gan import check_hinge_d_loss, check_hinge_g_loss

check_hinge_d_loss(my_hinge_d_loss)
### BEGIN HIDDEN TESTS
check_hinge_d_loss(my_hinge_d_loss, seed=7, shape=(2, 1, 5, 5))
### END HIDDEN TESTS

# %%
check_hinge_g_loss(my_hinge_g_loss)
### BEGIN HIDDEN TESTS
check_hinge_g_loss(my_hinge_g_loss, seed=7, shape=(2, 1, 5, 5))
### END HIDDEN TESTS

# %% [markdown]
# **Explore: the two losses in training.** Seed 0 of the D-faster setting, trained once more with your hinge losses,
# beside its run from section 3. Each snapshot shows the generator's samples (black) on the data (grey), over $D$'s
# logit field: red where $D$ says "real", blue where it says "fake", a black line at $D = 0$. Move the step to watch
# the samples chase the red regions; switch the loss. One seed shows the dynamics; it does not rank the losses.

# %% tags=["fig-gan-training"]
from course_lib.gan import hinge_d_loss, hinge_g_loss

other = "hinge" if CFG.toy_loss != "hinge" else "non-saturating"
hinge_pair = (solved_or_reference(my_hinge_d_loss, hinge_d_loss, "hinge_d_loss"),
              solved_or_reference(my_hinge_g_loss, hinge_g_loss, "hinge_g_loss"))
snaps[other] = []
train_toy_gan(lr_g=CFG.lr_slow, lr_d=CFG.lr_fast, seed=0, snapshots=snaps[other], **{**toy_kw, "loss": other},
              losses=hinge_pair if other == "hinge" else None)
toy_runs = runs_from_snapshots(snaps)
explorer(partial(draw_toy_gan, toy_runs, real=real[:1000]),
         step=IntSlider(0, CFG.toy_steps, CFG.toy_steps, step=max(1, CFG.toy_steps // 12), label="training step"),
         loss=Choice(list(toy_runs), "hinge", label="loss"), show_field=Toggle(True, label="show D's logit field"));

# %% [markdown]
# ## Deep dive: what the two leaks do
# *Adds a measurement of the two mistakes the step's check names. The core path resumes at the Summary.*
#
# **One optimiser stepping both.** `g_loss.backward()` computes gradients for every parameter that requires them,
# $D$'s included. If one optimiser steps both networks, the generator step also moves $D$, in the direction that
# makes the fakes look *more real* to it: the discriminator helps the generator cheat.

# %%
import copy

torch.manual_seed(0)
G_a, D_a = toy_mlp(2, 2), toy_mlp(2, 1)
z = torch.randn(256, 2)
fakes = G_a(z).detach()
D_before = copy.deepcopy(D_a)
opt_both = torch.optim.Adam([*G_a.parameters(), *D_a.parameters()], lr=1e-3)  # WRONG: one optimiser, D not frozen
opt_both.zero_grad()
hinge_g_loss(D_a(G_a(z))).backward()
opt_both.step()
with torch.no_grad():
    shift = (D_a(fakes).mean() - D_before(fakes).mean()).item()
print(f"after one leaky generator step, D rates the same fakes {shift:+.4f} more real (mean logit)")
claim(shift > 0, "a generator step through an unfrozen D, stepped by a shared optimiser, raises D's logits on the fakes",
      kind="demonstration");

# %% [markdown]
# **Fakes not detached.** A discriminator step on fakes that are not detached sends $L_D$'s gradient into $G$. With
# the hinge loss that gradient points exactly *against* the generator's own. While the fake logits are above -1,
# $\partial L_D/\partial \ell_i = +\tfrac{1}{2N}$ and $\partial L_G/\partial \ell_i = -\tfrac1N$ for each of the $N$
# fake logits, so the cosine is -1 by algebra. If the leak is not cleared before $G$'s update, $G$ is pushed to make
# its samples look more fake.

# %%
torch.manual_seed(0)
G_c, D_c = toy_mlp(2, 2), toy_mlp(2, 1)
x_real = ring_of_gaussians(256, generator=torch.Generator().manual_seed(1))
hinge_d_loss(D_c(x_real), D_c(G_c(z))).backward()  # WRONG: no .detach() on the fakes
leak = torch.cat([p.grad.flatten() for p in G_c.parameters()])
own = torch.cat([g.flatten() for g in torch.autograd.grad(hinge_g_loss(D_c(G_c(z))), list(G_c.parameters()))])
cos = F.cosine_similarity(leak, own, dim=0).item()
print(f"without detach G receives a gradient of norm {leak.norm():.3g}; its cosine with G's own gradient: {cos:.4f}")
claim(cos < -0.99, "the leaked gradient opposes the generator's own (fake logits above -1)", kind="demonstration");

# %% [markdown]
# ## Summary
# - A GAN is two optimisers in one loop. The discriminator steps on **detached** fakes; the generator steps through a
#   discriminator that does not move; each clears its gradients before its backward.
# - A generator that out-ran its discriminator stayed collapsed on a few of the 8 modes, while a faster discriminator
#   covered clearly more, over several seeds (the table in section 3).
# - The minimax generator loss saturates where the discriminator rejects the fakes. The non-saturating and hinge
#   losses keep a gradient of about 1 there. The hinge discriminator loss stops pushing confident logits.
# - Notebook 09 puts a discriminator on images and trains it against an autoencoder.
#
# ## More to try
# 1. Give the collapsing setting two discriminator steps per generator step instead of swapping the learning
#    rates: set `d_per_g` to 2 in the settings table. How many modes does "G faster" cover now?
# 2. Run section 3 with the hinge losses: set `toy_loss` to `"hinge"`. Does the faster discriminator still win?
# 3. Make both players equally fast: set `lr_slow` to `2e-3`. Which setting collapses now?
# 4. Pass the minimax generator loss, `lambda l: -F.softplus(l).mean()`, as `g_loss_fn` and train the D-faster
#    setting. Does the generator learn? Compare with the gradient plot of section 4.
#
# ## Further reading
# - Goodfellow et al. 2014, "Generative Adversarial Networks", arXiv:1406.2661.
# - Lim & Ye 2017, "Geometric GAN" (hinge loss), arXiv:1705.02894.
# - Esser, Rombach, Ommer 2021, "Taming Transformers for High-Resolution Image Synthesis" (VQ-GAN, eq. 5),
#   arXiv:2012.09841; the hinge default is in taming-transformers' `taming/modules/losses/vqperceptual.py`.
# - Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium" (TTUR),
#   arXiv:1706.08500.
# - Metz, Poole, Pfau, Sohl-Dickstein 2016, "Unrolled Generative Adversarial Networks", arXiv:1611.02163.
# - Salimans et al. 2016, "Improved Techniques for Training GANs", arXiv:1606.03498.
# - Lin, Khetan, Fanti, Oh 2018, "PacGAN: The power of two samples in generative adversarial networks",
#   arXiv:1712.04086.
