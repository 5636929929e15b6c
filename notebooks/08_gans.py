# %% [markdown]
# # 08 · GANs: two networks, one training loop
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-to-vqgan/course/blob/v0.2.0/notebooks/student/08_gans.ipynb)
#
# **Learning objectives.** After this notebook you # **Learning objectives.** After this notebook you can
# - write the two-player training loop of a GAN by hand (a discriminator step on *detached* fakes, a generator
#   step with the discriminator frozen) and see **mode collapse** happen, measured as modes covered over time;
# - compare the **hinge** and **non-saturating** losses as functions of the logit, with their gradients;
# - recognise the generator step leaking gradients into the discriminator, and the reverse.
#
# 3-04 (VQ-VAE losses) and 07 (perceptual loss).
#
# **Estimated time.** Core path about 38 min (estimated from this notebook by `make stats`). Machine: about 59 s under
# `quick` on 2 CPU cores; under 1 min of training under `standard` on a T4 (estimated from FLOPs, not yet timed).

# %% tags=["setup"]
# Set-up: installs course_lib where it is missing (Colab, Kaggle, ...); elsewhere it only imports it.
# Choose a profile by uncommenting one line (default: quick on a CPU, standard with CUDA):
# import os; os.environ["COURSE_PROFILE"] = "standard"
try:
    import course_lib
except ImportError:
    # %pip install -q "course-lib[metrics] @ git+https://github.com/vae-to-vqgan/course@v0.2.0"
    import course_lib
ENV = course_lib.setup_notebook(seed=0)

# %% [markdown]
# Every size in this notebook comes from this table. `toy_*` is the 2-D GAN, `ae_*` the tiny autoencoder that gets
# a discriminator in section 5, `n_small` and `small_steps` the small-data discriminators of section 6, `vq_steps` the
# toy of pitfall (d). GAN dynamics vary from seed to seed, so every
# training experiment runs `seeds` seeds and its claim is made on the mean or the majority, with the spread shown.

# %%
from course_lib.profiles import settings

CFG = settings(
    quick=dict(toy_steps=600, toy_batch=128, ae_steps=100, ae_batch=32, n_train=2000, n_test=256,
               ae_hidden=16, d_base=8, vq_steps=300, seeds=3, n_small=32, small_steps=150),
    standard=dict(toy_steps=1000, toy_batch=128, ae_steps=1500, ae_batch=64, n_train=None, n_test=2000,
                  ae_hidden=32, d_base=32, vq_steps=1000, seeds=5, n_small=32, small_steps=400),
    smoke=dict(seeds=2),
)
CFG

# %%
import copy
import math
import statistics
import time

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib.gan import (PatchDiscriminator, adaptive_weight, adopt_weight, discriminator_accuracy,
                            hinge_d_loss, hinge_g_loss, modes_covered, non_saturating_d_loss,
                            non_saturating_g_loss, receptive_field, ring_centres, ring_of_gaussians,
                            set_requires_grad)
from course_lib.claims import claim, verdict
from course_lib.explorers import Choice, IntSlider, Toggle, explorer
from course_lib.explorers.gan_toy import draw_toy_gan, snapshot

device = ENV.device
if device.type == "cpu":
    # The networks of this notebook are tiny: on a CPU one thread is faster than several (synchronising threads
    # costs more than the work), and it makes the runs reproducible across machines.
    torch.set_num_threads(1)
T0 = time.perf_counter()

# %% [markdown]
# ## 1. A GAN on a 2-D toy, and mode collapse
#
# A GAN (Goodfellow et al. 2014) trains two networks against each other. The **discriminator** $D$ maps a sample
# to a logit (high = "looks real"); the **generator** $G$ maps noise $z$ to a sample. With $\sigma$ the sigmoid:
#
# $$L_D = -\mathbb{E}_x \log \sigma(D(x)) - \mathbb{E}_z \log(1-\sigma(D(G(z)))), \qquad
#   L_G = -\mathbb{E}_z \log \sigma(D(G(z))) \quad\text{(the "non-saturating" generator loss)}.$$
#
# The data: a ring of 8 Gaussians, the classic toy for **mode collapse**, where the generator puts all its samples
# on a few modes (Metz et al. 2016). We count a mode as *covered* when it gets at least a quarter of its fair share
# of samples within 4 standard deviations of its centre (`course_lib.gan.modes_covered`).

# %%
CENTRES = ring_centres()
real = ring_of_gaussians(2000, generator=torch.Generator().manual_seed(0))
print("modes covered by real data:", modes_covered(real, CENTRES))
assert modes_covered(real, CENTRES)[0] == 8

# %% [markdown]
# Here is the training loop, written out once in full. Read the two halves carefully; the pitfalls in section 7
# are about getting them wrong.
#
# * **Discriminator step**: the fakes are `fake.detach()`, so $L_D$ sends no gradient into $G$; only `opt_d` steps.
# * **Generator step**: $D$ is frozen with `set_requires_grad(D, False)`, so $L_G$ writes no gradient into $D$;
#   only `opt_g` steps.

# %%
Z_DIM = 2


def mlp(n_in, n_out, hidden=64):
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, n_out))


LOSSES = {"non-saturating": (non_saturating_d_loss, non_saturating_g_loss), "hinge": (hinge_d_loss, hinge_g_loss)}


def train_toy_gan(lr_g, lr_d, steps=CFG.toy_steps, batch_size=CFG.toy_batch, seed=0, eval_every=None,
                  loss="non-saturating", snapshots=None):
    """The plain two-optimiser GAN loop on the ring of Gaussians. Returns G, D and a log of diagnostics.
    snapshots: a list to append course_lib.explorers.gan_toy.snapshot()s to (step 0 and every eval_every steps)."""
    eval_every = eval_every or max(1, steps // 12)  # 12 points on the coverage curve, whatever the step count
    torch.manual_seed(seed)
    data_gen = torch.Generator().manual_seed(seed)
    G, D = mlp(Z_DIM, 2), mlp(2, 1)
    d_loss_fn, g_loss_fn = LOSSES[loss]
    # foreach=True: the same Adam update in fewer calls (faster on a CPU for networks this small)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr_g, betas=(0.5, 0.999), foreach=True)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=(0.5, 0.999), foreach=True)
    log = {k: [] for k in ("step", "modes", "quality", "acc_real", "acc_fake")}
    z_snap = torch.randn(500, Z_DIM, generator=torch.Generator().manual_seed(123))  # the same z at every snapshot
    if snapshots is not None:
        snapshots.append(dict(step=0, **snapshot(G, D, z_snap, CENTRES)))
    for step in range(1, steps + 1):
        # ---- discriminator step: fakes DETACHED, only opt_d steps
        x = ring_of_gaussians(batch_size, generator=data_gen)
        fake = G(torch.randn(batch_size, Z_DIM))
        logits_real, logits_fake = D(x), D(fake.detach())
        d_loss = d_loss_fn(logits_real, logits_fake)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        # ---- generator step: D FROZEN, only opt_g steps
        set_requires_grad(D, False)
        g_loss = g_loss_fn(D(G(torch.randn(batch_size, Z_DIM))))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        set_requires_grad(D, True)
        if step % eval_every == 0:
            with torch.no_grad():
                modes, quality = modes_covered(G(torch.randn(2000, Z_DIM)), CENTRES)
            acc_r, acc_f = discriminator_accuracy(logits_real, logits_fake)
            for k, v in zip(log, (step, modes, quality, acc_r, acc_f)):
                log[k].append(v)
            if snapshots is not None:
                snapshots.append(dict(step=step, **snapshot(G, D, z_snap, CENTRES)))
    return G, D, log


# %% [markdown]
# Two runs that differ only in who learns faster. In the first, the generator's learning rate is 4x the
# discriminator's: $G$ finds a mode that fools the current $D$, piles its samples there, $D$ slowly catches up, $G$
# jumps to another mode... In the second the two learning rates are swapped, so $D$ keeps up (the idea behind the
# *two time-scale update rule* of Heusel et al. 2017: a discriminator that learns faster than the generator).
# Each runs with `CFG.seeds` seeds; the figure shows seed 0, the curves and the table every seed.

# %%
SEEDS = list(range(CFG.seeds))
t = time.perf_counter()
snaps = {"non-saturating": [], "hinge": []}  # for the explorer of section 2 (seed 0 of the D-faster setting)
toy = {"G faster": [train_toy_gan(lr_g=2e-3, lr_d=5e-4, seed=sd) for sd in SEEDS],
       "D faster": [train_toy_gan(lr_g=5e-4, lr_d=2e-3, seed=sd, snapshots=snaps["non-saturating"] if sd == 0 else None)
                    for sd in SEEDS]}
toy_seconds = time.perf_counter() - t
G_collapse, _, log_collapse = toy["G faster"][0]
G_fixed, _, log_fixed = toy["D faster"][0]
print(f"{2 * len(SEEDS)} toy GANs of {CFG.toy_steps} steps in {toy_seconds:.1f} s")
for name, runs_ in toy.items():
    for sd, (_, _, lg) in zip(SEEDS, runs_):
        print(f"{name}, seed {sd}: modes covered over steps {lg['modes']}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
with torch.no_grad():
    zs = torch.randn(1000, Z_DIM)
    samples = {"G faster (collapse)": G_collapse(zs), "D faster (fixed)": G_fixed(zs)}
for ax, (name, s) in zip(axes[:2], samples.items()):
    ax.scatter(real[:, 0], real[:, 1], s=2, c="lightgray", label="data")
    ax.scatter(s[:, 0], s[:, 1], s=2, c="C3", label="generator")
    ax.set(title=f"{name}: {modes_covered(s, CENTRES)[0]} of 8 modes\n(on these 1000 samples)", xlim=(-3, 3), ylim=(-3, 3),
           xlabel="x1", ylabel="x2", aspect="equal")
    ax.legend(loc="upper right", markerscale=4, fontsize=8)
for (name, runs_), style in zip(toy.items(), ("o-", "s-")):
    for sd, (_, _, lg) in zip(SEEDS, runs_):
        axes[2].plot(lg["step"], lg["modes"], style, color="C0" if name == "G faster" else "C1", ms=3,
                     alpha=1.0 if sd == 0 else 0.35, label=name + (" (lr_g 2e-3, lr_d 5e-4)" if name == "G faster"
                     else " (lr_g 5e-4, lr_d 2e-3)") if sd == 0 else None)
axes[2].set(xlabel="step", ylabel="modes covered (of 8)", title=f"mode coverage over training, {len(SEEDS)} seeds",
            ylim=(-0.3, 8.3))
axes[2].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# **Check.** The claims, over seeds: the generator-faster run stays collapsed (at most 3 modes at any evaluation,
# in most seeds), and the run with the faster discriminator ends with clearly more modes (at least 3 more on
# average, and more in most seeds). The table below prints what each seed did. Neither run need reach all 8 modes
# cleanly at this budget: the fixed generator can leave a thin trail of samples between modes.

# %%
final = {name: [lg["modes"][-1] for _, _, lg in runs_] for name, runs_ in toy.items()}
peak_collapse = [max(lg["modes"]) for _, _, lg in toy["G faster"]]
mean_sd = lambda v: f"{statistics.mean(v):.1f} ± {statistics.stdev(v) if len(v) > 1 else 0.0:.1f}"
print(f"{'seed':>6} {'G faster: final (peak)':>24} {'D faster: final':>16}")
for i, sd in enumerate(SEEDS):
    print(f"{sd:>6} {final['G faster'][i]:>17} ({peak_collapse[i]}) {final['D faster'][i]:>16}")
print(f"{'mean':>6} {mean_sd(final['G faster']):>24} {mean_sd(final['D faster']):>16}")
majority = len(SEEDS) // 2 + 1
wins = sum(f > c for f, c in zip(final["D faster"], final["G faster"]))
claim(sum(p <= 3 for p in peak_collapse) >= majority,
      f"G-faster runs never exceed 3 modes in most seeds: peaks {peak_collapse}")
claim(statistics.mean(final["D faster"]) >= statistics.mean(final["G faster"]) + 3 and wins >= majority,
      f"D-faster runs end with >= 3 more modes on average ({mean_sd(final['D faster'])} vs "
      f"{mean_sd(final['G faster'])}) and more in {wins} of {len(SEEDS)} seeds")
print(verdict(wins == len(SEEDS), f"the faster discriminator covered more modes in every seed ({wins} of {len(SEEDS)})",
              f"the faster discriminator covered more modes in {wins} of {len(SEEDS)} seeds"))

# %% [markdown]
# Other cures for mode collapse, beyond the scope of this notebook: unrolled GANs (Metz et al. 2016), minibatch
# discrimination (Salimans et al. 2016), showing the discriminator several samples at once (PacGAN, Lin et al. 2018).
# In VQ-GAN collapse is much less of a concern: the generator is a *decoder* that must also reconstruct its input,
# so it cannot drop whole modes without paying in reconstruction loss.
#
# ## 2. Hinge vs non-saturating loss
#
# VQ-GAN (Esser et al. 2021) uses the **hinge** loss (Lim & Ye 2017):
#
# $$L_D = \tfrac12\left(\mathbb{E}\,\mathrm{relu}(1 - D(x)) + \mathbb{E}\,\mathrm{relu}(1 + D(\hat x))\right), \qquad
#   L_G = -\mathbb{E}\, D(\hat x).$$
#
# Let us plot each loss as a function of one logit $\ell$, and the size of its gradient $|\partial L / \partial \ell|$.
# For the generator we add the original *minimax* loss $\log(1-\sigma(\ell))$ that the non-saturating loss replaced.

# %%
l = torch.linspace(-5, 5, 201, requires_grad=True)
curves = {
    "D, real sample: hinge relu(1 - l)": F.relu(1 - l),
    "D, real sample: non-saturating softplus(-l)": F.softplus(-l),
    "D, fake sample: hinge relu(1 + l)": F.relu(1 + l),
    "D, fake sample: non-saturating softplus(l)": F.softplus(l),
    "G: hinge -l": -l,
    "G: non-saturating softplus(-l)": F.softplus(-l),
    "G: minimax log(1 - sigmoid(l))": -F.softplus(l),
}
grads = {k: torch.autograd.grad(v.sum(), l)[0].abs() for k, v in curves.items()}

# the per-logit curves average to the course_lib losses
assert torch.allclose(hinge_d_loss(l, l), 0.5 * (F.relu(1 - l).mean() + F.relu(1 + l).mean()))
assert torch.allclose(non_saturating_g_loss(l), F.softplus(-l).mean())

fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
ld = l.detach()
for k, v in curves.items():
    ax = axes[0] if k.startswith("D") else axes[1]
    ax.plot(ld, v.detach(), "--" if "non-sat" in k or "minimax" in k else "-", label=k.split(": ")[-1] + (" (real)" if "real" in k else " (fake)" if "fake" in k else ""))
for k in [k for k in curves if k.startswith("G")]:
    axes[2].plot(ld, grads[k], label=k[3:])
axes[0].set(title="discriminator losses", xlabel="logit l = D(sample)", ylabel="loss")
axes[1].set(title="generator losses", xlabel="logit l = D(x_hat)", ylabel="loss")
axes[2].set(title="generator: gradient size |dL/dl|", xlabel="logit l = D(x_hat)", ylabel="|dL/dl|")
for ax in axes:
    ax.legend(fontsize=7)
    ax.axvline(0, color="gray", lw=0.5)
plt.tight_layout()
plt.show()

# %% [markdown]
# **What the plots show** (a demonstration: these are exact functions of one logit). Early in training the discriminator rejects fakes confidently ($\ell \ll 0$).
# There the minimax generator loss is flat (it *saturates*: almost no gradient), while the non-saturating loss and
# the hinge loss give a gradient of about 1. The hinge *discriminator* loss is exactly 0 for real logits above +1 and
# fake logits below -1: a confident, correct discriminator stops pushing its logits further, which keeps them bounded.

# %%
i = int((ld + 5).abs().argmin())  # l = -5
g_at = {k.split(": ")[1]: round(float(grads[k][i]), 4) for k in curves if k.startswith("G")}
print("generator gradient |dL/dl| at l = -5:", g_at)
assert g_at["minimax log(1 - sigmoid(l))"] < 0.01 and g_at["non-saturating softplus(-l)"] > 0.99
assert g_at["hinge -l"] == 1.0
j = int((ld - 2).abs().argmin())  # a real sample with logit 2: hinge is satisfied, non-saturating still pushes
assert grads["D, real sample: hinge relu(1 - l)"][j] == 0 and grads["D, real sample: non-saturating softplus(-l)"][j] > 0.1

# %% [markdown]
# **Explore: the two losses in training.** The toy GAN of section 1 (the D-faster learning rates, seed 0), trained
# once with the non-saturating pair of losses (that run is section 1's) and once with the hinge pair, with a snapshot
# every few steps: the generator's samples (black) on the data (grey) over the discriminator's logit field (red: $D$
# says "real", blue: "fake"; the black line is $D = 0$). Move the step to watch the generator's samples chase the
# red regions and the field re-shape itself after them; switch the loss to compare. One seed: a demonstration of the
# dynamics, not a comparison of the losses (that would need the seeds of section 1).

# %%
from functools import partial

t = time.perf_counter()
train_toy_gan(lr_g=5e-4, lr_d=2e-3, seed=0, loss="hinge", snapshots=snaps["hinge"])
toy_seconds += time.perf_counter() - t
toy_runs = {name: {k: [sn[k] for sn in ss] for k in ("step", "samples", "field", "modes")} for name, ss in snaps.items()}
for r in toy_runs.values():
    r["steps"] = r.pop("step")
for name, r in toy_runs.items():
    print(f"{name}: modes covered at the snapshots {r['modes']} (steps {r['steps'][0]}..{r['steps'][-1]})")
explorer(partial(draw_toy_gan, toy_runs, real=real[:1000]),
         step=IntSlider(0, CFG.toy_steps, CFG.toy_steps, step=max(1, CFG.toy_steps // 12), label="training step"),
         loss=Choice(list(toy_runs), "non-saturating", label="loss"),
         show_field=Toggle(True, label="show D's logit field"))

# %% [markdown]
# ### Exercise 1: the hinge losses
# Write both hinge losses. `logits_real` and `logits_fake` are discriminator outputs of any shape (for a PatchGAN:
# one logit per patch, $(B, 1, h, w)$); return scalars (means over all logits).

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

# ## 3. Pitfall: the generator step leaking gradients into the discriminator
#
# `g_loss.backward()` computes gradients for **every** parameter that requires grad, $D$'s included. If one
# optimiser steps both networks (or $D$'s gradients are not cleared), the generator step also moves $D$ -- in the
# direction that makes the fakes look *more real* to it: the discriminator helps the generator cheat.

# %%
def param_distance(module, reference):
    return sum((p - q).abs().sum().item() for p, q in zip(module.parameters(), reference))


torch.manual_seed(0)
G_a, D_a = mlp(Z_DIM, 2), mlp(2, 1)
G_b, D_b = copy.deepcopy(G_a), copy.deepcopy(D_a)
z = torch.randn(256, Z_DIM)
fakes = G_a(z).detach()

# WRONG: one optimiser over both networks, D not frozen
D_before = copy.deepcopy(D_a)
opt_both = torch.optim.Adam(list(G_a.parameters()) + list(D_a.parameters()), lr=1e-3)
opt_both.zero_grad()
hinge_g_loss(D_a(G_a(z))).backward()
opt_both.step()
moved_wrong = param_distance(D_a, list(D_before.parameters()))
with torch.no_grad():
    shift = (D_a(fakes).mean() - D_before(fakes).mean()).item()

# RIGHT: D frozen during the generator step, and an optimiser for G only
D_b_before = copy.deepcopy(D_b)
opt_g = torch.optim.Adam(G_b.parameters(), lr=1e-3)
set_requires_grad(D_b, False)
opt_g.zero_grad()
hinge_g_loss(D_b(G_b(z))).backward()
opt_g.step()
set_requires_grad(D_b, True)
moved_right = param_distance(D_b, list(D_b_before.parameters()))
print(f"D's weights moved by {moved_wrong:.4g} during the leaky generator step (mean D(fake) changed by "
      f"{shift:+.4f}: D now rates the same fakes as more real); with the fix: {moved_right}")
assert moved_wrong > 0 and shift > 0 and moved_right == 0

# %% [markdown]
# The mirror image: a discriminator step on fakes that are **not detached** sends $L_D$'s gradient into $G$.
# With the hinge loss that gradient points exactly *against* the generator's own gradient (cosine -1 while the fake
# logits are above -1): if it is not cleared before $G$'s update, or one optimiser steps both, $G$ is pushed to make
# its samples look *more* fake.

# %%
torch.manual_seed(0)
G_c, D_c = mlp(Z_DIM, 2), mlp(2, 1)
x_real = ring_of_gaussians(256, generator=torch.Generator().manual_seed(1))
hinge_d_loss(D_c(x_real), D_c(G_c(z))).backward()  # WRONG: no .detach() on the fakes
leak = torch.cat([p.grad.flatten() for p in G_c.parameters()])
true_g = torch.cat([g.flatten() for g in torch.autograd.grad(hinge_g_loss(D_c(G_c(z))), list(G_c.parameters()))])
cos = F.cosine_similarity(leak, true_g, dim=0).item()
for p in G_c.parameters():
    p.grad = None
hinge_d_loss(D_c(x_real), D_c(G_c(z).detach())).backward()  # RIGHT
print(f"without detach: G gets a gradient of norm {leak.norm():.4g}, cosine with G's own gradient {cos:.4f}; "
      f"with detach: G's grads are {[p.grad for p in G_c.parameters()][:1]}...")
assert leak.norm() > 0 and cos < -0.99
assert all(p.grad is None for p in G_c.parameters())

# %% [markdown]
#
# %%
total = time.perf_counter() - T0
print(f"notebook body ran in {total:.0f} s")

# ## Summary
# - A GAN is two optimisers in one loop: the discriminator step uses **detached** fakes, the generator step a
#   **frozen** discriminator. A generator that out-ran its discriminator stayed collapsed on a few of 8 modes
#   here, while a faster discriminator covered clearly more, over several seeds (table in section 1).
# - VQ-GAN's discriminator is a **PatchGAN**: one logit per patch; the receptive field $1 + \sum (k_i-1)\prod_{m<i}
#   s_m$ (70 px in the papers, 16 px here) is exactly where one logit's gradient reaches.
# - The **hinge** loss stops pushing confident logits; hinge and non-saturating generator losses keep a gradient of
#   about 1 where the minimax loss saturates.
# - The **adaptive weight** matches the GAN gradient to the reconstruction gradient at the decoder's last layer;
#   compute it with `torch.autograd.grad` (no `.grad` side effects), keep it a constant, and guard it with `delta`
#   (1e-6 in the paper, 1e-4 in taming's code) and a clamp, or it explodes when the GAN gradient vanishes.
# - A **warm-up** keeps the discriminator off (not even trained) until the autoencoder reconstructs; starting too
#   early with too strong a weight ruined reconstructions here, in every seed.
# - Swapped VQ weights train a different model than the paper's; float16 square roots need float32 and an eps.
#
# ## Exercises
# 1. (graded above) hinge losses, receptive field, adaptive weight.
# 2. Give the collapsed toy GAN of section 1 two discriminator steps per generator step instead of swapping the
#    learning rates. How many modes does it cover after the same number of generator steps?
# 3. Build `PatchDiscriminator(n_layers=2)` for 28x28 images: what is its receptive field, and what does that mean
#    for a "patch" discriminator on such small images?
# 4. Separate "too early" from "too strong": train with the warm-up but a fixed $\lambda = 1$, and from step 0 with
#    the adaptive weight and `disc_weight=1`. Where do their test MSEs land between runs A and B?
# 5. In pitfall (c), replace the non-saturating generator loss by the hinge loss $-D(\hat x)$. Does shifting the
#    discriminator's output still make $\lambda$ explode? Why (look at the gradient plot of section 2)?
#
# ## Further reading
# - Goodfellow et al. 2014, "Generative Adversarial Networks", arXiv:1406.2661.
# - Isola, Zhu, Zhou, Efros 2017, "Image-to-Image Translation with Conditional Adversarial Networks" (pix2pix,
#   PatchGAN), arXiv:1611.07004.
# - Esser, Rombach, Ommer 2021, "Taming Transformers for High-Resolution Image Synthesis" (VQ-GAN, eq. 7), arXiv:2012.09841.
# - Lim & Ye 2017, "Geometric GAN" (hinge loss), arXiv:1705.02894.
# - Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium" (TTUR,
#   FID), arXiv:1706.08500.
# - Metz, Poole, Pfau, Sohl-Dickstein 2016, "Unrolled Generative Adversarial Networks", arXiv:1611.02163.
# - Salimans et al. 2016, "Improved Techniques for Training GANs", arXiv:1606.03498.
# - Lin, Khetan, Fanti, Oh 2018, "PacGAN: The power of two samples in generative adversarial networks", arXiv:1712.04086.
# - Radford, Metz, Chintala 2015, "Unsupervised Representation Learning with Deep Convolutional GANs" (DCGAN
#   initialisation), arXiv:1511.06434.
# - van den Oord, Vinyals, Kavukcuoglu 2017, "Neural Discrete Representation Learning", arXiv:1711.00937.
# - Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric" (LPIPS), arXiv:1801.03924.
