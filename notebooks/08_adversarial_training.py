# %% [markdown]
# # 08 · Adversarial training: GANs, PatchGAN, hinge loss and the adaptive weight
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-to-vqgan/course/blob/v0.2.0/notebooks/student/08_adversarial_training.ipynb)
#
# **Learning objectives.** After this notebook you can
# - write the two-player training loop of a GAN by hand (a discriminator step on *detached* fakes, a generator
#   step with the discriminator frozen) and see **mode collapse** happen, measured as modes covered over time;
# - explain what a **PatchGAN** discriminator judges, and compute its **receptive field** (and check it with a gradient);
# - compare the **hinge** and **non-saturating** losses as functions of the logit, with their gradients;
# - compute VQ-GAN's **adaptive weight** (a ratio of gradient norms at the decoder's last layer) and say why it is
#   detached, why it has a `delta`, and why it is clamped;
# - use a **discriminator warm-up** and read the diagnostics (discriminator accuracy and logits over steps);
# - measure a discriminator **memorising** a small training set, and what spectral normalisation and DiffAugment do
#   about it;
# - recognise five pitfalls, each reproduced below in a small measured run: gradients leaking from the generator
#   step into the discriminator; a discriminator that starts too early or too strong; an exploding adaptive
#   weight; codebook and commitment weights swapped; a half-precision square root turning into NaN.
#
# **Prerequisites.** Notebooks 01 (autoencoders), 03-04 (VQ-VAE losses) and 07 (perceptual loss).
#
# **Estimated time.** Core path about 106 min (estimated from this notebook by `make stats`). Machine: about 59 s
# under `quick` on 2 CPU cores; under 1 min of training under `standard` on a T4 (estimated from FLOPs, not yet
# timed).

# %% tags=["setup"]
# Set-up: installs course_lib (release 0.2.0) where it is missing or another release; a checkout's copy is kept.
# Choose a profile by uncommenting one line (default: quick on a CPU, standard with CUDA):
# import os; os.environ["COURSE_PROFILE"] = "standard"
RELEASE = "0.2.0"
try:
    import course_lib
    if course_lib.__version__ != RELEASE and "-packages" in course_lib.__file__:
        raise ImportError(f"course_lib {course_lib.__version__} is installed, not {RELEASE}")
except (ImportError, AttributeError):
    # pip may say "you may need to restart the kernel": only if it replaced another release (the next line says so)
    # %pip install -q "course-lib[metrics] @ git+https://github.com/vae-to-vqgan/course@v0.2.0"
    import course_lib
# course_lib.env.keep_runs_on_drive()  # Colab: keep checkpoints on Google Drive, so a disconnect loses nothing
ENV = course_lib.setup_notebook(seed=0, release=RELEASE)

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

# %% [markdown]
# ## 3. The PatchGAN discriminator: what does one logit see?
#
# pix2pix (Isola et al. 2017) and VQ-GAN use a fully convolutional discriminator: 4x4 convolutions with stride 2,
# LeakyReLU(0.2), normalisation, and a last convolution to **one logit per patch**. Instead of "is this image real?"
# it asks "is this patch real?" for a grid of overlapping patches, which punishes blurry local texture.
# `course_lib.gan.PatchDiscriminator` builds it; `n_layers=3` is the papers' setting. For our 28x28 images we use
# `n_layers=1`.

# %%
from course_lib.data import load_dataset, make_loader

train_ds = load_dataset("fashion-mnist", split="train", n=CFG.n_train)
test_ds = load_dataset("fashion-mnist", split="test", n=CFG.n_test)
print(train_ds.display_name, tuple(train_ds.x.shape), "|", test_ds.display_name, tuple(test_ds.x.shape))

D_demo = PatchDiscriminator(in_channels=1, base=CFG.d_base, n_layers=1)
logits = D_demo(test_ds.x[:4])
print("input", tuple(test_ds.x[:4].shape), "-> logits", tuple(logits.shape))
print("(kernel, stride) of each convolution:", D_demo.conv_layers())
assert logits.shape == (4, 1, 12, 12)

# %% [markdown]
# ### Exercise 2: the receptive field
# How many input pixels (per side) does one output logit depend on? Walk through the layers keeping the **jump**
# $j$: the distance, in input pixels, between two neighbouring units of the current layer's input (1 at the start,
# multiplied by each stride). A layer with kernel $k$ widens the field by $(k-1)\,j$:
#
# $$r = 1 + \sum_i (k_i - 1) \prod_{m<i} s_m .$$
#
# Write `my_receptive_field(layers)` for a list of `(kernel, stride)` pairs. The papers' PatchGAN
# (`[(4, 2), (4, 2), (4, 2), (4, 1), (4, 1)]`) should give 70.

# %%
def my_receptive_field(layers):
    """1 + sum_i (k_i - 1) * (product of the strides before layer i)"""
    ### BEGIN SOLUTION
    r, jump = 1, 1
    for k, s in layers:
        r += (k - 1) * jump
        jump *= s
    return r
    ### END SOLUTION


# %%
from course_lib.checks.gan import check_receptive_field

check_receptive_field(my_receptive_field)
### BEGIN HIDDEN TESTS
check_receptive_field(my_receptive_field, seed=11)
### END HIDDEN TESTS

# %% [markdown]
# **Check it with a gradient.** The receptive field is exactly the set of input pixels that one logit's gradient
# reaches. We back-propagate from one logit in the middle of the map and measure the non-zero support of the
# gradient. (In `eval()` mode: in training mode BatchNorm uses statistics of the whole batch, so every logit then
# depends on every pixel of every image.)

# %%
D_rf = copy.deepcopy(D_demo).double().eval()
img = test_ds.x[:1].double().clone().requires_grad_(True)
out = D_rf(img)
h, w = out.shape[-2:]
rf = D_demo.receptive_field()


def support_box(grad):
    rows = grad.abs().sum(dim=1).nonzero().flatten()
    cols = grad.abs().sum(dim=0).nonzero().flatten()
    return int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())


boxes = {}
for (i, j) in [(h // 2, w // 2), (0, 0)]:
    (g,) = torch.autograd.grad(out[0, 0, i, j], img, retain_graph=True)
    boxes[(i, j)] = support_box(g[0, 0])
r0, r1, c0, c1 = boxes[(h // 2, w // 2)]
print(f"formula: {rf} px; gradient support of logit {(h // 2, w // 2)}: rows {r0}..{r1}, cols {c0}..{c1} "
      f"-> {r1 - r0 + 1} x {c1 - c0 + 1} px")
print("the papers' PatchGAN (n_layers=3):", PatchDiscriminator(base=8, n_layers=3).receptive_field(), "px")
assert r1 - r0 + 1 == rf and c1 - c0 + 1 == rf, "the gradient support should match the receptive field"
assert rf == receptive_field(D_demo.conv_layers()) == 16

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 3.8))
axes[0].imshow(test_ds.x[0, 0], cmap="gray")
for (i, j), (a0, a1, b0, b1) in boxes.items():
    axes[0].add_patch(plt.Rectangle((b0 - 0.5, a0 - 0.5), b1 - b0 + 1, a1 - a0 + 1, fill=False,
                                    color="C1" if i else "C0", lw=2, label=f"logit {(i, j)}"))
axes[0].legend(fontsize=8, loc="lower right")
axes[0].set_title(f"what one logit sees: {rf}x{rf} px\n(the corner logit's patch is clipped: padding)")
im = axes[1].imshow(out[0, 0].detach(), cmap="coolwarm")
axes[1].scatter([w // 2, 0], [h // 2, 0], c=["C1", "C0"], s=60, marker="x")
axes[1].set_title(f"the {h}x{w} logit map (untrained D)")
plt.colorbar(im, ax=axes[1])
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4. The adaptive weight
#
# VQ-GAN's generator (the autoencoder) minimises $L_{rec} + \lambda\, L_{GAN}$. The two terms live on very different
# scales, and their scales drift during training. Esser et al. (2021, eq. 7) set $\lambda$ so that, **at the
# decoder's last layer $L$**, the adversarial gradient is as large as the reconstruction gradient:
#
# $$\lambda = \frac{\lVert \nabla_{L} L_{rec} \rVert}{\lVert \nabla_{L} L_{GAN} \rVert + \delta}.$$
#
# The paper sets $\delta = 10^{-6}$ (Esser et al. 2021, sec. 3.1, just after eq. 7). Their code,
# taming-transformers' `calculate_adaptive_weight` (`taming/modules/losses/vqperceptual.py`, lines 63-74 at commit
# 3ba01b2), uses $\delta = 10^{-4}$, clamps $\lambda$ to $[0, 10^4]$ and detaches it; `course_lib` and this
# exercise follow the code.
#
# * **`torch.autograd.grad`, not `.backward()`**: it returns the gradient and leaves every `.grad` untouched;
#   `.backward()` would write these gradients into the parameters' `.grad` and they would be added to the next
#   update (the check looks for that);
# * **constants**: `torch.autograd.grad` without `create_graph=True` already returns tensors with no graph, so
#   $\lambda$ is a plain number. The `.detach()` (taming has it too) is a safeguard that keeps it so if the
#   gradients are ever taken with `create_graph=True`, when backward would also differentiate the ratio of norms;
# * **$\delta$ and the clamp**: when the GAN gradient is (nearly) zero the ratio explodes (pitfall (c) below);
# * `retain_graph=True` in both `torch.autograd.grad` calls: the total loss is back-propagated afterwards.
#
# ### Exercise 3: the adaptive weight

# %%
def my_adaptive_weight(rec_loss, g_loss, last_layer_weight, delta=1e-4, max_weight=1e4):
    """||grad rec|| / (||grad gan|| + delta) at last_layer_weight, clamped to [0, max_weight], detached."""
    ### BEGIN SOLUTION
    rec_grad = torch.autograd.grad(rec_loss, last_layer_weight, retain_graph=True)[0]
    gan_grad = torch.autograd.grad(g_loss, last_layer_weight, retain_graph=True)[0]
    lam = rec_grad.norm() / (gan_grad.norm() + delta)
    return torch.clamp(lam, 0.0, max_weight).detach()
    ### END SOLUTION


# %%
from course_lib.checks.gan import check_adaptive_weight

check_adaptive_weight(my_adaptive_weight)
### BEGIN HIDDEN TESTS
check_adaptive_weight(my_adaptive_weight, seed=5, delta=1e-3, max_weight=50.0)
### END HIDDEN TESTS

# %% [markdown]
# Now on a real (tiny) autoencoder with a PatchGAN: the last layer of `ConvDecoder` is its final transposed
# convolution. We measure both gradient norms there.

# %%
from course_lib.models import ConvDecoder, ConvEncoder


def make_autoencoder(seed=0):
    torch.manual_seed(seed)
    enc = ConvEncoder(1, hidden=CFG.ae_hidden, out_channels=8, downsamples=2, res_blocks=0)
    dec = ConvDecoder(8, hidden=CFG.ae_hidden, out_channels=1, upsamples=2, res_blocks=0)
    return nn.Sequential(enc, dec).to(device)


def last_layer(ae):
    return ae[1].net[-1].weight  # the decoder's output convolution


ae0 = make_autoencoder()
D0 = PatchDiscriminator(1, base=CFG.d_base, n_layers=1).to(device)
x = test_ds.x[:32].to(device)
x_hat = ae0(x)
rec = (x - x_hat).abs().mean()
set_requires_grad(D0, False)
g_loss = hinge_g_loss(D0(x_hat))
set_requires_grad(D0, True)
W = last_layer(ae0)
rec_norm = torch.autograd.grad(rec, W, retain_graph=True)[0].norm().item()
gan_norm = torch.autograd.grad(g_loss, W, retain_graph=True)[0].norm().item()
lam = adaptive_weight(rec, g_loss, W)
print(f"||grad rec|| = {rec_norm:.4g}, ||grad GAN|| = {gan_norm:.4g}, lambda = {lam.item():.4g}")
print(f"lambda * ||grad GAN|| = {lam.item() * gan_norm:.4g}  (= ||grad rec|| up to delta)")
assert abs(lam.item() - rec_norm / (gan_norm + 1e-4)) < 1e-4 * lam.item() and not lam.requires_grad

# %% [markdown]
# ## 5. Training with a discriminator: warm-up, diagnostics, and starting too early
#
# VQ-GAN switches the discriminator on only after `disc_start` steps (`adopt_weight` returns 0 before): the
# autoencoder first learns to reconstruct; a discriminator judging garbage reconstructions only adds noise. In a
# correct loop the discriminator is then **not trained at all** before the warm-up ends (its loss is `None`, so
# `fit` skips its optimiser).
#
# We train the tiny autoencoder with L1 reconstruction (no quantizer, to keep it small) in three ways, with
# `course_lib.train.fit` and two optimisers `{"g": opt_g, "d": opt_d}`:
#
# | run | discriminator from | GAN weight |
# |---|---|---|
# | A | never | - |
# | B | step 0 (too early) | fixed $\lambda = 1$ (too strong) |
# | D | half-way (warm-up) | adaptive $\lambda$ times `disc_weight` = 0.1 |
#
# Run D uses VQ-GAN's mechanisms (warm-up, adaptive weight) but not its value: taming-transformers' configs use
# `disc_weight: 0.8` (`configs/imagenet_vqgan.yaml`, `custom_vqgan.yaml`, `faceshq_vqgan.yaml`) with an LPIPS term
# at 256 px. Our autoencoder is tiny and has no perceptual term, so we use the smaller 0.1 (exercise 4 tries more).
# Every run is repeated for `CFG.seeds` seeds.

# %%
from course_lib.train import NonFiniteLossError, fit

train_loader = make_loader(train_ds, batch_size=CFG.ae_batch, shuffle=True, seed=0)


def param_distance(module, reference):
    return sum((p - q).abs().sum().item() for p, q in zip(module.parameters(), reference))


def train_ae_gan(start_step, disc_weight, adaptive, seed=0, desc="AE"):
    ae = make_autoencoder(seed)
    D = PatchDiscriminator(1, base=CFG.d_base, n_layers=1).to(device)
    opt_g = torch.optim.Adam(ae.parameters(), lr=1e-3, betas=(0.5, 0.9), foreach=True)
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.9), foreach=True)
    D_init = [p.detach().clone() for p in D.parameters()]
    d_moved = []  # (step, how far D's weights are from their initial values)

    def loss_fn(batch, step):
        x, _ = batch
        x_hat = ae(x)
        rec = (x - x_hat).abs().mean()
        weight = adopt_weight(disc_weight, step, start_step)
        if weight == 0:  # warm-up: the autoencoder alone; the discriminator is not trained
            return {"g": rec, "d": None, "rec": rec}
        set_requires_grad(D, False)  # generator step: no gradient into D
        g_loss = hinge_g_loss(D(x_hat))
        set_requires_grad(D, True)
        lam = adaptive_weight(rec, g_loss, last_layer(ae)) if adaptive else torch.tensor(1.0)
        logits_real, logits_fake = D(x), D(x_hat.detach())  # discriminator step: fakes detached
        acc_real, acc_fake = discriminator_accuracy(logits_real, logits_fake)
        return {"g": rec + weight * lam * g_loss, "d": hinge_d_loss(logits_real, logits_fake), "rec": rec,
                "lambda": lam, "logit_real": logits_real.mean(), "logit_fake": logits_fake.mean(),
                "acc_real": acc_real, "acc_fake": acc_fake}

    history = fit(loss_fn, {"g": opt_g, "d": opt_d}, train_loader, steps=CFG.ae_steps, model={"ae": ae, "d": D},
                  log_every=max(1, min(5, CFG.ae_steps // 30)), desc=desc,  # (every step under smoke's 3 steps)
                  callback=lambda step, losses, h: d_moved.append((step, param_distance(D, D_init))))
    ae.eval()
    with torch.no_grad():
        x_test = test_ds.x.to(device)
        mse = F.mse_loss(ae(x_test).clamp(0, 1), x_test).item()
    return dict(ae=ae, D=D, history=history, mse=mse, d_moved=d_moved, start=start_step)


half = CFG.ae_steps // 2
RUN_SETUP = {"A": dict(start_step=10**9, disc_weight=0.0, adaptive=False, desc="A: no GAN"),
             "B": dict(start_step=0, disc_weight=1.0, adaptive=False, desc="B: early, lambda=1"),
             "D": dict(start_step=half, disc_weight=0.1, adaptive=True, desc="D: warm-up, adaptive")}
t = time.perf_counter()
seed_runs = {k: [train_ae_gan(**kw, seed=sd) for sd in SEEDS] for k, kw in RUN_SETUP.items()}
runs = {k: v[0] for k, v in seed_runs.items()}  # seed 0: the one plotted below
ae_seconds = time.perf_counter() - t
for k, rs in seed_runs.items():
    print(f"run {k}: test MSE " + ", ".join(f"{r['mse']:.4f}" for r in rs) + f"  (seeds {SEEDS})")
print(f"{3 * len(SEEDS)} runs of {CFG.ae_steps} steps in {ae_seconds:.1f} s")

# %% [markdown]
# **Check: before the warm-up ends the discriminator is not trained at all.** In run D its weights are exactly
# their initial values up to step `start_step`, and move after.

# %%
moved = runs["D"]["d_moved"]
before = [d for s, d in moved if s <= half]
after = [d for s, d in moved if s > half]
print(f"D's distance from its init: {before[-1]:.3g} at step {half}, {after[-1] if after else float('nan'):.3g} at the end")
assert before and all(d == 0 for d in before), "D must not change before the warm-up ends"  # the loop's contract
assert after and all(d > 0 for d in after)

# %% [markdown]
# **Diagnostics.** Watch the discriminator: its accuracy on real and fake patches (logit > 0 means "real") and its
# mean logits. Both accuracies pinned at 1.0 for long means $D$ wins outright and its signal to the generator is
# uninformative; both near 0.5 means it is guessing. And $\lambda$: a sudden jump means the GAN gradient vanished.
# The cell after the figure reads run D's accuracies off the log and says which case this run is in.

# %%
hD = runs["D"]["history"]
fig, axes = plt.subplots(2, 2, figsize=(10, 6))
axes = axes.flatten()
for k, r in runs.items():
    axes[0].plot(r["history"].steps_for("rec"), r["history"]["rec"], label=f"run {k}")
axes[0].set(title="training L1 (reconstruction)", xlabel="step", ylabel="L1")
axes[0].axvline(half, color="gray", ls=":", label="warm-up ends (run D)")
axes[0].legend(fontsize=7)
axes[1].plot(hD.steps_for("acc_real"), hD["acc_real"], label="real patches")
axes[1].plot(hD.steps_for("acc_fake"), hD["acc_fake"], label="fake patches")
axes[1].set(title="run D: discriminator accuracy", xlabel="step", ylabel="accuracy", ylim=(-0.05, 1.05))
axes[1].legend(fontsize=7)
axes[2].plot(hD.steps_for("logit_real"), hD["logit_real"], label="mean D(x)")
axes[2].plot(hD.steps_for("logit_fake"), hD["logit_fake"], label="mean D(x_hat)")
axes[2].set(title="run D: discriminator logits", xlabel="step", ylabel="logit")
axes[2].legend(fontsize=7)
axes[3].plot(hD.steps_for("lambda"), hD["lambda"])
axes[3].set(title="run D: adaptive weight lambda", xlabel="step", ylabel="lambda", yscale="log")
plt.tight_layout()
plt.show()

# %%
acc_r, acc_f = hD["acc_real"], hD["acc_fake"]
tail = max(1, len(acc_r) // 3)  # the last third of the logged steps with a discriminator
end_r, end_f = statistics.mean(acc_r[-tail:]), statistics.mean(acc_f[-tail:])
print(f"run D, last third of the GAN phase: D's accuracy {end_r:.2f} on real patches, {end_f:.2f} on fake patches")
print(verdict(end_r > 0.9 and end_f > 0.9,
              "-> D separates real from fake almost perfectly: with only L1 and a tiny disc_weight the generator does "
              "not (yet) fool it, and lambda * disc_weight keeps D's push small, so reconstructions stay close to A.",
              verdict(end_r < 0.65 and end_f < 0.65,
                      "-> D is close to guessing: its signal to the generator is weak.",
                      "-> D is right on most patches but not all: a game still in progress.")))

# %%
from course_lib.viz import show_images

fig, axes = plt.subplots(4, 1, figsize=(10, 5.6))
x_show = test_ds.x[:10]
show_images(x_show, nrow=10, ax=axes[0], title="test images")
with torch.no_grad():
    for ax, k in zip(axes[1:], ["A", "B", "D"]):
        show_images(runs[k]["ae"](x_show.to(device)).clamp(0, 1).cpu(), nrow=10, ax=ax,
                    title=f"run {k}: test MSE {runs[k]['mse']:.4f}")
plt.tight_layout()
plt.show()

# %% [markdown]
# **Check: a discriminator that is too strong, too early, ruins reconstructions.** The claims, over seeds: run B
# (from step 0, fixed $\lambda=1$) ends with a mean test MSE well above the autoencoder alone (A), and above A in
# every seed; warm-up plus the adaptive weight with a small `disc_weight` (D) stays close to A on average.
# Exercise 4 separates "too early" from "too strong".
#
# Be honest about what this shows: at this tiny scale the adversarial term only *costs* pixel error; its benefit
# (sharper, more realistic texture, measured by LPIPS and Frechet distances in notebook 11) needs longer training
# and a decoder that has learnt to reconstruct first, which is exactly why the warm-up exists.

# %%
mse_runs = {k: [r["mse"] for r in rs] for k, rs in seed_runs.items()}
mse = {k: statistics.mean(v) for k, v in mse_runs.items()}
for k, v in mse_runs.items():
    print(f"run {k}: test MSE {mean_sd([1e3 * m for m in v])} x 1e-3 over {len(v)} seeds")
claim(mse["B"] > 1.5 * mse["A"] and all(b > a for a, b in zip(mse_runs["A"], mse_runs["B"])),
      f"too early + too strong hurts: mean MSE B {mse['B']:.4f} > 1.5 x A {mse['A']:.4f}, and B > A in every seed")
claim(mse["D"] < 1.25 * mse["A"], f"warm-up + adaptive stays close: mean MSE D {mse['D']:.4f} < 1.25 x A {mse['A']:.4f}")
print(verdict(mse["B"] > 1.5 * mse["A"] and mse["D"] < 1.25 * mse["A"],
              "B ruins the reconstructions, D does not", "the runs do not separate as described"))

# %% [markdown]
# ## 6. A discriminator on little data: memorisation, spectral normalisation and DiffAugment
#
# With few training images a discriminator can win by **memorising** them: it learns "these exact images are real,
# anything else is fake". Its accuracy on its training reals then goes to 1 while held-out real images look fake to
# it, and what it tells the generator is no longer "look like the data" but "look like these images" (Karras et al.
# 2020, "Training Generative Adversarial Networks with Limited Data", arXiv:2006.06676, fig. 1; Zhao et al. 2020,
# fig. 1). Two remedies, both options of `course_lib`:
#
# * **Spectral normalisation** (Miyato et al. 2018, arXiv:1802.05957): every convolution's weight is divided by its
#   largest singular value, so each layer changes its output at most as fast as its input (Lipschitz constant 1):
#   `PatchDiscriminator(..., spectral_norm=True)` (it then has no BatchNorm).
# * **DiffAugment** (Zhao, Liu, Lin, Zhu, Han 2020, arXiv:2006.10738): the *same* family of random, differentiable
#   transforms $T$ (colour, translation, cutout) on real **and** fake images, in the discriminator step **and** the
#   generator step: $L_D = f_D(D(T(x)), D(T(\mathrm{sg}[\hat x])))$, $L_G = f_G(D(T(\hat x)))$ (their eqs. 2-3).
#   Augmenting only the reals would teach $D$ that "augmented" means "real", and the generator would learn to
#   produce augmented-looking images (the augmentation *leaks*); $T$ must be differentiable so that $L_G$'s gradient
#   reaches the generator through it. `course_lib.augment.diff_augment(x)` (images in $[0, 1]$):

# %%
from course_lib.augment import diff_augment

x_aug = test_ds.x[:8]
aug_gen = torch.Generator().manual_seed(0)
rows = {"test images": x_aug}
for policy in ("color", "translation", "cutout", "color,translation,cutout"):
    rows[policy] = diff_augment(x_aug, policy, generator=aug_gen).clamp(0, 1)
fig, axes = plt.subplots(len(rows), 1, figsize=(7, 1.15 * len(rows)))
for ax, (name, imgs) in zip(axes, rows.items()):
    show_images(imgs, nrow=8, ax=ax, title=name)
plt.tight_layout()
plt.show()
# the same transforms are differentiable: a gradient reaches every pixel that is not cut out
x_req = x_aug.clone().requires_grad_(True)
(g_aug,) = torch.autograd.grad(diff_augment(x_req, generator=torch.Generator().manual_seed(1)).sum(), x_req)
print(f"gradient through diff_augment: non-zero on {(g_aug != 0).float().mean():.0%} of the input pixels")
assert (g_aug != 0).any()

# %% [markdown]
# **The experiment isolates memorisation.** Each discriminator sees `CFG.n_small` training images as "real" and, as
# "fake", *other* real images of the training set: what a perfect generator would produce. The two groups differ only
# in which images they are, so whatever a discriminator learns to tell them apart is memorisation. After the same
# budget (`CFG.small_steps` steps of 16 real + 16 fake images, the same learning rate) we measure, per image (mean
# logit > 0 counts as "judged real"):
#
# * its **accuracy on its training reals** and on **held-out reals** (test images it never saw); the difference is
#   the overfitting gap (0 for a discriminator that judges images, not identities);
# * as a threshold-free check, the **memorisation AUC**: the probability that a training real gets a higher logit
#   than a held-out real (0.5 = no memorisation, 1 = complete). It does not depend on where $D$'s logits sit relative
#   to 0, which the accuracy does.
#
# Four discriminators, all with `norm="none"` so that the spectral-norm run differs from the plain one only in
# spectral normalisation: plain, spectral norm, DiffAugment, both; `CFG.seeds` seeds each. The PatchGAN has 2 layers
# here (34 px patches: the whole 28 px image), the setting where it can memorise whole images.

# %%
small_real = train_ds.x[:CFG.n_small]
n_unseen = min(256, (len(train_ds.x) - CFG.n_small) // 4)
small_fake = train_ds.x[CFG.n_small:len(train_ds.x) - n_unseen]  # real images D only ever sees as "fake"
held_out = test_ds.x


def judged_real(D, x):
    with torch.no_grad():
        return D(x.to(device)).mean(dim=(1, 2, 3)).cpu()  # one score per image: its mean logit


def memorisation_auc(scores_train, scores_held):
    """P(score of a training real > score of a held-out real), ties counted half."""
    diff = scores_train[:, None] - scores_held[None, :]
    return ((diff > 0).float() + 0.5 * (diff == 0).float()).mean().item()


def train_small_d(spectral, augment, seed, steps=CFG.small_steps, batch=16):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    D = PatchDiscriminator(1, base=CFG.d_base, n_layers=2, norm="none", spectral_norm=spectral).to(device)
    opt = torch.optim.Adam(D.parameters(), lr=2e-3, betas=(0.5, 0.9), foreach=True)
    for _ in range(steps):
        xr = small_real[torch.randint(len(small_real), (batch,), generator=gen)]
        xf = small_fake[torch.randint(len(small_fake), (batch,), generator=gen)]
        if augment:  # the same transforms on real and fake images
            xr, xf = diff_augment(xr, generator=gen), diff_augment(xf, generator=gen)
        logits = D(torch.cat([xr, xf]).to(device))  # one forward for both halves (no BatchNorm to mix them)
        loss = hinge_d_loss(logits[:batch], logits[batch:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    D.eval()
    s_train, s_held = judged_real(D, small_real), judged_real(D, held_out)
    return dict(acc_train=(s_train > 0).float().mean().item(), acc_held=(s_held > 0).float().mean().item(),
                auc=memorisation_auc(s_train, s_held))


VARIANTS = {"plain": (False, False), "spectral norm": (True, False), "DiffAugment": (False, True),
            "both": (True, True)}
t = time.perf_counter()
small = {name: [train_small_d(sn, aug, seed=sd) for sd in SEEDS] for name, (sn, aug) in VARIANTS.items()}
small_seconds = time.perf_counter() - t
gap = {name: [r["acc_train"] - r["acc_held"] for r in rs] for name, rs in small.items()}
ms2 = lambda v: f"{statistics.mean(v):.2f} ± {statistics.stdev(v) if len(v) > 1 else 0.0:.2f}"  # mean ± sd, 2 decimals
auc = {name: [r["auc"] for r in rs] for name, rs in small.items()}
print(f"{len(VARIANTS) * len(SEEDS)} discriminators of {CFG.small_steps} steps on {CFG.n_small} images in "
      f"{small_seconds:.1f} s")
print(f"{'discriminator':>14} {'acc. training reals':>20} {'acc. held-out reals':>20} {'gap':>12} {'memorisation AUC':>17}")
for name, rs in small.items():
    print(f"{name:>14} {ms2([r['acc_train'] for r in rs]):>20} {ms2([r['acc_held'] for r in rs]):>20} "
          f"{ms2(gap[name]):>12} {ms2(auc[name]):>17}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
names = list(small)
for i, name in enumerate(names):
    for j, (key, label, colour) in enumerate((("acc_train", "training reals", "C0"), ("acc_held", "held-out reals", "C1"))):
        vals = [r[key] for r in small[name]]
        axes[0].bar(i + (j - 0.5) * 0.38, statistics.mean(vals), width=0.36, color=colour, alpha=0.6,
                    label=label if i == 0 else None)
        axes[0].scatter([i + (j - 0.5) * 0.38] * len(vals), vals, color=colour, s=12, zorder=3)
    axes[1].scatter([i] * len(auc[name]), auc[name], color="C2", s=18, zorder=3)
    axes[1].bar(i, statistics.mean(auc[name]), width=0.5, color="C2", alpha=0.35)
axes[0].set(xticks=range(len(names)), xticklabels=names, ylim=(0, 1.05), ylabel="fraction judged real",
            title=f"D's accuracy on real images ({CFG.n_small} training images)")
axes[0].legend(fontsize=8, loc="lower left")
axes[1].axhline(0.5, color="gray", ls=":", label="no memorisation")
axes[1].set(xticks=range(len(names)), xticklabels=names, ylim=(0.3, 1.02), ylabel="AUC",
            title="memorisation AUC: training vs held-out reals (dots: seeds)")
axes[1].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# **Check.** The claims, over seeds: the plain discriminator memorises (a mean accuracy gap above 0.2 and a
# memorisation AUC above 0.7); DiffAugment removes most of it (gap and AUC excess over 0.5 both below half the
# plain one's, and a smaller AUC in every seed). Spectral normalisation alone is *not* claimed to help: the verdict
# below says what it did here.

# %%
m = {name: (statistics.mean(gap[name]), statistics.mean(auc[name])) for name in small}
claim(m["plain"][0] > 0.2 and m["plain"][1] > 0.7,
      f"the plain D memorises {CFG.n_small} images: gap {ms2(gap['plain'])}, AUC {ms2(auc['plain'])}")
claim(m["DiffAugment"][0] < 0.5 * m["plain"][0] and m["DiffAugment"][1] - 0.5 < 0.5 * (m["plain"][1] - 0.5)
      and all(a < p for a, p in zip(auc["DiffAugment"], auc["plain"])),
      f"DiffAugment: gap {ms2(gap['DiffAugment'])} vs {ms2(gap['plain'])}, AUC "
      f"{ms2(auc['DiffAugment'])} vs {ms2(auc['plain'])} (smaller in every seed)")
print(verdict(m["spectral norm"][1] - 0.5 < 0.5 * (m["plain"][1] - 0.5),
              f"spectral norm alone also removed most of the memorisation here (AUC {ms2(auc['spectral norm'])})",
              f"spectral norm alone did not stop the memorisation here (AUC {ms2(auc['spectral norm'])} vs "
              f"{ms2(auc['plain'])} plain): it bounds how fast D's output changes, not what D remembers"))
print(verdict(m["both"][1] - 0.5 < 0.5 * (m["plain"][1] - 0.5),
              f"spectral norm + DiffAugment: AUC {ms2(auc['both'])}, as low as DiffAugment's",
              f"spectral norm + DiffAugment: AUC {ms2(auc['both'])}, still well above 0.5 (plain: {ms2(auc['plain'])})"))

# %% [markdown]
# What this shows and what it does not: the gap and the AUC measure *memorisation* in a setting built to expose it
# (a perfect generator, a few dozen images). That DiffAugment then also gives a better *generator* on little data is
# the paper's result (Zhao et al. 2020, sec. 4, measured by FID), not measured here. In a VQ-GAN the options are
# `spectral_norm` of the discriminator and `diff_augment` applied to `x` and `x_hat` before every call of $D$ (both
# steps), as above.
#
# ## 7. Pitfalls, each in a small measured run
#
# ### (a) The generator step leaking gradients into the discriminator
#
# `g_loss.backward()` computes gradients for **every** parameter that requires grad, $D$'s included. If one
# optimiser steps both networks (or $D$'s gradients are not cleared), the generator step also moves $D$ -- in the
# direction that makes the fakes look *more real* to it: the discriminator helps the generator cheat.

# %%
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
# ### (b) Starting the discriminator too early or too strong
# Measured in section 5: run B against runs A and D. And the warm-up means *no* discriminator training at all
# before `disc_start`, checked there too.
#
# ### (c) An exploding adaptive weight
# $\lambda$ divides by the norm of the GAN gradient. That gradient can become tiny: for instance with the
# non-saturating generator loss $\mathrm{softplus}(-D(\hat x))$ when the discriminator is fooled ($D(\hat x) \gg 0$,
# the loss saturates), or exactly 0 when the discriminator's output does not depend on its input. We shift the
# discriminator's output by $b$ (its last bias) and compute $\lambda$ three ways.

# %%
ae_c = runs["A"]["ae"].train()
D_base = PatchDiscriminator(1, base=CFG.d_base, n_layers=1).to(device)
x = test_ds.x[:32].to(device)
x_hat = ae_c(x)
rec = (x - x_hat).abs().mean()
W = last_layer(ae_c)
rec_norm = torch.autograd.grad(rec, W, retain_graph=True)[0].norm()
table = []
for b in [0.0, 5.0, 10.0, 20.0, 40.0]:
    D_shift = copy.deepcopy(D_base)
    with torch.no_grad():
        D_shift.main[-1].bias.add_(b)
    set_requires_grad(D_shift, False)
    g_ns = non_saturating_g_loss(D_shift(x_hat))
    gan_norm = torch.autograd.grad(g_ns, W, retain_graph=True)[0].norm()
    naive = (rec_norm / gan_norm).item()  # no delta, no clamp
    table.append((b, gan_norm.item(), naive, adaptive_weight(rec, g_ns, W, max_weight=None).item(),
                  adaptive_weight(rec, g_ns, W).item()))
print(f"{'shift b':>8} {'|grad GAN|':>11} {'naive':>10} {'+ delta':>10} {'+ clamp':>10}")
for row in table:
    print(f"{row[0]:8.0f} {row[1]:11.3g} {row[2]:10.3g} {row[3]:10.3g} {row[4]:10.3g}")
assert table[-1][2] > 1e10, "without delta and clamp lambda explodes"  # a demonstration: exact arithmetic
assert table[-1][3] <= rec_norm.item() / 1e-4 * 1.0001, "delta caps lambda at ||grad rec|| / delta"
assert all(r[4] <= 1e4 for r in table)
cap = rec_norm.item() / 1e-4
print(f"delta alone caps lambda at ||grad rec|| / delta = {rec_norm.item():.3g} / 1e-4 = {cap:.3g}; "
      + verdict(cap < 1e4, "the clamp at 1e4 does not bind here", "the clamp at 1e4 binds here"))

# %%
bs = [r[0] for r in table]
plt.figure(figsize=(5.5, 3.3))
plt.semilogy(bs, [r[2] for r in table], "o-", label="naive |grad rec| / |grad GAN|")
plt.semilogy(bs, [r[3] for r in table], "s--", label="+ delta = 1e-4")
plt.semilogy(bs, [r[4] for r in table], "^:", label="+ delta + clamp at 1e4 (course_lib)")
plt.xlabel("discriminator output shift b (D fooled: NS loss saturates)")
plt.ylabel("lambda")
plt.title("the adaptive weight without its guards")
plt.legend(fontsize=7)
plt.show()

# %% [markdown]
# Here `delta` alone already caps $\lambda$ at $\lVert\nabla L_{rec}\rVert / \delta$ (the value printed above the
# figure: the reconstruction gradient is small), so the clamp at $10^4$ does not bind unless that gradient's norm
# exceeds 1; it is the second guard. Even a capped $\lambda$ (its cap is printed above) means the generator follows the gradient of a discriminator that
# has stopped telling real from fake -- a diagnostic worth plotting (section 5).
#
# And when the GAN gradient is exactly zero (here: a discriminator whose last layer was zeroed), the naive ratio is
# $x/0 = \infty$, and $\infty \cdot 0$ turns the loss into NaN: `fit` stops at once and names the loss.

# %%
D_dead = copy.deepcopy(D_base)
with torch.no_grad():
    D_dead.main[-1].weight.zero_()
set_requires_grad(D_dead, False)
ae_dead = make_autoencoder(seed=1)
opt_dead = torch.optim.Adam(ae_dead.parameters(), lr=1e-3)


def naive_loss_fn(batch, step):
    x, _ = batch
    x_hat = ae_dead(x)
    rec = (x - x_hat).abs().mean()
    g = hinge_g_loss(D_dead(x_hat))
    rec_grad = torch.autograd.grad(rec, last_layer(ae_dead), retain_graph=True)[0]
    gan_grad = torch.autograd.grad(g, last_layer(ae_dead), retain_graph=True, allow_unused=True)[0]
    gan_norm = gan_grad.norm() if gan_grad is not None else torch.zeros((), device=x.device)
    lam = (rec_grad.norm() / gan_norm).detach()  # no delta, no clamp
    return {"loss": rec + lam * g}


try:
    fit(naive_loss_fn, opt_dead, train_loader, steps=3, model=ae_dead, progress=False, desc="naive lambda")
    stopped = None
except NonFiniteLossError as err:
    stopped = str(err)
print("fit stopped:", stopped[:110] if stopped else None)
# course_lib's guarded version on the same dead discriminator: finite (||grad rec|| / delta, at most 1e4)
x_hat = ae_dead(x)
rec = (x - x_hat).abs().mean()
lam_guarded = adaptive_weight(rec, hinge_g_loss(D_dead(x_hat)), last_layer(ae_dead)).item()
print(f"course_lib adaptive_weight on the dead discriminator: {lam_guarded:.4g}")
assert stopped is not None and "nan" in stopped
assert math.isfinite(lam_guarded) and lam_guarded <= 1e4

# %% [markdown]
# ### (d) Codebook and commitment weights swapped
# The VQ-VAE loss (van den Oord et al. 2017) is $\lVert \mathrm{sg}[z_e] - e\rVert^2 + \beta \lVert z_e -
# \mathrm{sg}[e]\rVert^2$ with $\beta = 0.25$ on the **commitment** term (it pulls the encoder towards its code).
# taming-transformers' `VectorQuantizer2` -- copied into many VQ-GAN code bases -- has a `legacy=True` default that
# puts $\beta$ on the **codebook** term instead, kept for compatibility with trained checkpoints:
# `loss = mean((z_q.detach() - z)**2) + beta * mean((z_q - z.detach())**2)`.
#
# First the direct effect, on one encoder output $z_e$ and its code $e$: who is pulled how hard?

# %%
from course_lib.losses import vq_loss


def legacy_vq_loss(z_e, z_q, beta=0.25):
    """The swapped weighting (taming-transformers' VectorQuantizer2, legacy=True): beta on the CODEBOOK term."""
    return F.mse_loss(z_e, z_q.detach()) + beta * F.mse_loss(z_q, z_e.detach())


pull = {}
for name, loss_fn_ in [("correct", lambda a, b: vq_loss(a, b).total), ("swapped", legacy_vq_loss)]:
    z_e = torch.tensor([[1.0, 2.0]], requires_grad=True)
    e = torch.tensor([[0.0, 0.5]], requires_grad=True)
    g_z, g_e = torch.autograd.grad(loss_fn_(z_e, e), [z_e, e])
    pull[name] = (g_e.norm() / g_z.norm()).item()
print({k: f"code pulled {v:.2f}x as hard as the encoder" for k, v in pull.items()})
assert abs(pull["correct"] - 4.0) < 1e-5 and abs(pull["swapped"] - 0.25) < 1e-5

# %% [markdown]
# Now a small VQ autoencoder on the 2-D ring (an MLP encoder to 2-D codes, 16 codes, Adam). Note that Adam
# rescales each parameter's step, so the codebook term's weight hardly matters to the codebook; what the swap really
# changes is the commitment weight relative to the reconstruction loss: 1 instead of 0.25.

# %%
from course_lib.quantize import nearest_code


def train_toy_vq(loss_fn_, steps=CFG.vq_steps, K=16, seed=0):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    enc, dec = mlp(2, 2, hidden=32), mlp(2, 2, hidden=32)
    codebook = nn.Parameter(0.1 * torch.randn(K, 2))
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters(), codebook], lr=3e-3, foreach=True)
    for _ in range(steps):
        x = ring_of_gaussians(256, generator=gen)
        z_e = enc(x)
        z_q = codebook[nearest_code(z_e, codebook.detach())]
        x_hat = dec(z_e + (z_q - z_e).detach())  # straight-through
        loss = F.mse_loss(x_hat, x) + loss_fn_(z_e, z_q)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        x = ring_of_gaussians(4000, generator=gen)
        z_e = enc(x)
        idx = nearest_code(z_e, codebook)
        return dict(distance=F.mse_loss(z_e, codebook[idx]).item(), spread=z_e.var(0).sum().item(),
                    used=int(idx.unique().numel()), rec=F.mse_loss(dec(codebook[idx]), x).item())


vq_seed_runs = {"correct": [train_toy_vq(lambda a, b: vq_loss(a, b).total, seed=sd) for sd in SEEDS],
                "swapped": [train_toy_vq(legacy_vq_loss, seed=sd) for sd in SEEDS]}
for k, rs in vq_seed_runs.items():
    for sd, r in zip(SEEDS, rs):
        print(f"{k:>8}, seed {sd}: encoder-code distance {r['distance']:.3f}, spread of z_e {r['spread']:.2f}, "
              f"codes used {r['used']}/16, reconstruction MSE {r['rec']:.3f}")
vq_mean = {k: {m: statistics.mean(r[m] for r in rs) for m in ("distance", "spread", "used", "rec")}
           for k, rs in vq_seed_runs.items()}
claim(vq_mean["swapped"]["distance"] < 0.6 * vq_mean["correct"]["distance"]
      and all(s_["distance"] < c["distance"] for s_, c in zip(vq_seed_runs["swapped"], vq_seed_runs["correct"])),
      f"swap pins the encoder to its codes: mean distance {vq_mean['swapped']['distance']:.3f} < 0.6 x "
      f"{vq_mean['correct']['distance']:.3f}, smaller in every seed")
claim(vq_mean["swapped"]["spread"] < 0.6 * vq_mean["correct"]["spread"],
      f"swap shrinks the encoder's spread: mean {vq_mean['swapped']['spread']:.2f} < 0.6 x {vq_mean['correct']['spread']:.2f}")
print(f"mean over {len(SEEDS)} seeds: codes used {vq_mean['correct']['used']:.1f} (correct) vs "
      f"{vq_mean['swapped']['used']:.1f} (swapped); reconstruction MSE {vq_mean['correct']['rec']:.3f} vs "
      f"{vq_mean['swapped']['rec']:.3f}")

# %% [markdown]
# **What the swap does, measured over seeds:** with the commitment term 4x heavier, the encoder is pinned much more
# tightly to its codes (smaller encoder-code distance) and its outputs spread over a smaller region. Code usage and
# reconstruction are *not* claimed either way (the printed means say how they came out; they vary from seed to
# seed).
# van den Oord et al. report results robust for $\beta$ from 0.1 to 2, so the swap is not a disaster -- but it is
# *not the model you think you are training*: the $\beta$ you report is not the $\beta$ you used, and the balance
# between "encoder commits" and "codes follow" is reversed. Check which term carries $\beta$ in any quantizer you copy (`course_lib.losses.vq_loss`
# puts it on the commitment term, as in the paper).
#
# ### (e) Half precision turning a square root into NaN
# Perceptual losses (LPIPS, notebook 07) normalise each feature vector: $f / \lVert f \rVert$. In float16 the
# smallest positive number is about $6 \cdot 10^{-8}$, so the sum of squares of small features underflows to 0;
# then $\sqrt{0} = 0$, the division gives inf/NaN, and the gradient of $\sqrt{s}$ at 0 is infinite. What we
# reproduce here is exactly that: **raw float16 tensors on the CPU** (as in a perceptual network converted with
# `.half()`). Under CUDA autocast the sum of squares would already run in float32 (autocast's float32 list includes
# `pow`, `sum`, `norm`, `rsqrt`), so mixed precision alone does not trigger it; the infinite gradient of `sqrt` at an
# all-zero vector, though, is there in every precision (notebook 07). A demonstration: float16 arithmetic is fixed.

# %%
from course_lib.perceptual import normalize_channels

print("float16: smallest subnormal", torch.finfo(torch.float16).smallest_normal * 2**-10,
      "| (1e-4)^2 in float16 =", (torch.tensor(1e-4, dtype=torch.float16) ** 2).item())
f16 = torch.full((1, 8, 2, 2), 1e-4, dtype=torch.float16, requires_grad=True)
norm16 = f16.pow(2).sum(dim=1).sqrt()  # the naive norm
(g_sqrt,) = torch.autograd.grad(norm16.sum(), f16)
naive = normalize_channels(f16, safe=False)  # lpips' formula in the input dtype
(g_naive,) = torch.autograd.grad(naive.sum(), f16)
safe = normalize_channels(f16, safe=True)  # float32, eps inside the square root
(g_safe,) = torch.autograd.grad(safe.sum(), f16)
ref = normalize_channels(f16.detach().float(), safe=True)
print("sum of squares in float16:", norm16.flatten()[0].item() ** 2, "| d sqrt/d f:", g_sqrt.flatten()[0].item())
print("naive normalised value:", naive.flatten()[0].item(), "| its gradient:", g_naive.flatten()[0].item())
print("safe normalised value:", round(safe.flatten()[0].item(), 4), "(1/sqrt(8) =", round(1 / math.sqrt(8), 4),
      ") | its gradient finite:", bool(torch.isfinite(g_safe).all()))
assert norm16.flatten()[0].item() == 0.0 and not torch.isfinite(g_sqrt).all()
assert not torch.isfinite(naive).all() and torch.isnan(g_naive).all()
assert torch.isfinite(safe).all() and torch.isfinite(g_safe).all() and torch.allclose(safe, ref, atol=1e-3)

# %% [markdown]
# The fix used by `course_lib`: compute the norm in float32 (`x.float()`), with eps **inside** the square root
# (`x * rsqrt(sum x^2 + eps)`); notebook 11 computes the whole perceptual loss in float32 inside an autocast region.
#
# **The adaptive weight in half precision.** $\lambda$ is a ratio of two gradients taken with `torch.autograd.grad`
# through the (autocast) graph, *not* through GradScaler: the gradient of a mean over $N$ pixels is $1/N$ per pixel,
# a float16 subnormal once $N > 16384$ and exactly 0 below $6 \cdot 10^{-8}$ (e.g. a reconstruction term weighted
# $10^{-4}$). `course_lib.gan.adaptive_weight` therefore takes the gradients of the losses times $2^{16}$ and divides
# them back in float32, backing off if that overflows (GradScaler's remedy, Micikevicius et al. 2018,
# arXiv:1710.03740, sec. 3.2). Here on run D's autoencoder and its *trained* discriminator, under CPU autocast
# (which supports float16 and bfloat16), against float32:

# %%
ae_p, D_p = runs["D"]["ae"], runs["D"]["D"].eval()
x_p = test_ds.x[:256].to(device)
precisions = {"float32": None, "float16": torch.float16}
if device.type == "cpu" or torch.cuda.is_bf16_supported():
    precisions["bfloat16"] = torch.bfloat16


def lambda_in(dtype, rec_weight=1.0, **kw):
    with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        x_hat = ae_p(x_p)
        rec = rec_weight * (x_p - x_hat).abs().mean()
        set_requires_grad(D_p, False)
        g = hinge_g_loss(D_p(x_hat))
        set_requires_grad(D_p, True)
        return adaptive_weight(rec, g, last_layer(ae_p), **kw).item()


lam_p = {}
for w in (1.0, 1e-4):
    ref = lambda_in(None, w)
    for name, dt in precisions.items():
        lam_p[(name, w, "scaled")] = lambda_in(dt, w)
        if dt is torch.float16:
            lam_p[(name, w, "unscaled")] = lambda_in(dt, w, loss_scale=1)
    print(f"reconstruction weight {w:g} (N = {x_p.numel()} pixels): " + ", ".join(
        f"{name} {how} {v / ref - 1:+.2%}" for (name, w_, how), v in lam_p.items() if w_ == w and name != "float32"))
err16 = lam_p[("float16", 1.0, "scaled")] / lam_p[("float32", 1.0, "scaled")] - 1
claim(abs(err16) < 0.03, f"float16 lambda (loss-scaled) within 3% of float32: {err16:+.2%}")
assert lam_p[("float16", 1e-4, "unscaled")] == 0.0  # a demonstration: 1e-4 / N underflows float16, whatever D is
if "bfloat16" in precisions:
    err_bf = lam_p[("bfloat16", 1.0, "scaled")] / lam_p[("float32", 1.0, "scaled")] - 1
    print(verdict(abs(err_bf) < 0.03, f"bfloat16 agrees within 3% ({err_bf:+.2%})",
                  f"bfloat16 differs by {err_bf:+.2%}: its 8-bit mantissa rounds the backward pass itself, which "
                  "no loss scale fixes (bfloat16 has float32's exponent range, so nothing underflows)"))

# %%
total = time.perf_counter() - T0
print(f"notebook body ran in {total:.0f} s (toy GANs {toy_seconds:.0f} s, autoencoder runs {ae_seconds:.0f} s)")

# %% [markdown]
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
