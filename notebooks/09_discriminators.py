# %% [markdown]
# # 09 · Discriminators for autoencoders: PatchGAN, the adaptive weight and warm-up
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-to-vqgan/course/blob/v0.3.0/notebooks/student/09_discriminators.ipynb)
#
# VQ-GAN plays notebook 08's game on images, with the autoencoder's decoder as the generator. This lesson builds
# the three pieces that make it work: a discriminator that judges patches, a weight that balances its gradient
# against the reconstruction's, and a warm-up.
#
# **Learning objectives.** After this notebook you can
# - explain what a **PatchGAN** discriminator judges, and compute its **receptive field**;
# - compute VQ-GAN's **adaptive weight** and say why it is detached, why it has a `delta` and why it is clamped;
# - train an autoencoder with a discriminator and a **warm-up**, and read the diagnostics.
#
# Two deep dives add a discriminator on little data (memorisation, spectral normalisation with its power iteration
# as an exercise, DiffAugment) and a gallery of pitfalls.
#
# **Prerequisites.** Notebook 08 (the GAN step, the hinge loss) and notebook 01 (autoencoders).
#
# **Estimated time.** Core path about 34 min; 2 deep dives about 32 min more (estimated from this notebook by `make
# stats`). Machine: about 22 s under `quick` on 2 CPU cores; under 1 min of training under `standard` on a T4
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
# Every size comes from this table: `ae_*` and the two weights for section 3, `n_small` and `small_*` for the
# small-data deep dive. Each experiment runs `seeds` seeds.

# %%
from course_lib.profiles import settings

CFG = settings(
    quick=dict(ae_steps=80, ae_batch=32, n_train=2000, n_test=256, ae_hidden=16, d_base=8, seeds=3,
               disc_weight=0.1, early_weight=1.0, n_small=8, small_steps=240, small_lr=5e-3),
    standard=dict(ae_steps=1500, ae_batch=64, n_train=None, n_test=2000, ae_hidden=32, d_base=32, seeds=5,
                  disc_weight=0.1, early_weight=1.0, n_small=8, small_steps=1500, small_lr=5e-3),
    smoke=dict(seeds=2),
)
CFG

# %%
import statistics

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib.claims import claim, verdict
from course_lib.data import load_dataset, make_loader
from course_lib.explorers.gan_toy import draw_logit_support
from course_lib.gan import PatchDiscriminator, adopt_weight, discriminator_accuracy, hinge_d_loss, hinge_g_loss
from course_lib.gan import set_requires_grad

device = ENV.device
torch.set_num_threads(1)  # tiny networks: one CPU thread is faster, and the runs reproduce across machines
SEEDS = list(range(CFG.seeds))
mean_sd = lambda v, d=1: f"{statistics.mean(v):.{d}f} ± {statistics.stdev(v) if len(v) > 1 else 0.0:.{d}f}"

# %% [markdown]
# ## 1. The PatchGAN discriminator: what does one logit see?
#
# pix2pix (Isola et al. 2017) and VQ-GAN use a fully convolutional discriminator: 4x4 convolutions with stride 2,
# LeakyReLU, normalisation, and a last convolution to **one logit per patch**. Asking "is this patch real?" of a grid
# of overlapping patches punishes blurry texture. The papers use `n_layers=3`; our 28x28 images get 1.

# %%
train_ds = load_dataset("fashion-mnist", split="train", n=CFG.n_train)
test_ds = load_dataset("fashion-mnist", split="test", n=CFG.n_test)
D_demo = PatchDiscriminator(in_channels=1, base=CFG.d_base, n_layers=1)
print("images", tuple(test_ds.x[:4].shape), "-> logits", tuple(D_demo(test_ds.x[:4]).shape))
print("(kernel, stride) of each convolution:", D_demo.conv_layers())

# %% [markdown]
# ### Exercise 1: the receptive field
# How many input pixels (per side) does one logit depend on? Walk through the layers keeping the **jump** $j$, the
# distance in input pixels between neighbouring units of a layer's input: 1 at first, times each stride. A layer
# with kernel $k$ widens the field by $(k-1)\,j$:
#
# $$r = 1 + \sum_i (k_i - 1) \prod_{m<i} s_m .$$
#
# Write `my_receptive_field(layers)` for a list of `(kernel, stride)` pairs. The papers' PatchGAN,
# `[(4, 2), (4, 2), (4, 2), (4, 1), (4, 1)]`, should give 70.

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
# **Check it with a gradient.** The receptive field is the set of input pixels that one logit's gradient reaches.
# `draw_logit_support` draws it for the middle and corner logits. Expect a square of your formula's side in the
# middle and a clipped one in the corner, where the padding sits.

# %% tags=["fig-logit-support"]
from course_lib.gan import receptive_field

rf = receptive_field(D_demo.conv_layers())
fig, boxes = draw_logit_support(D_demo, test_ds.x[:1])
r0, r1, c0, c1 = next(iter(boxes.values()))
print(f"formula: {rf} px; gradient support of the middle logit: {r1 - r0 + 1} x {c1 - c0 + 1} px; "
      f"the papers' PatchGAN: {PatchDiscriminator(base=8, n_layers=3).receptive_field()} px")
assert r1 - r0 + 1 == rf == c1 - c0 + 1, "the gradient support should match the receptive field"

# %% [markdown]
# ## 2. The adaptive weight
#
# VQ-GAN's autoencoder minimises $L_{rec} + \lambda\, L_{GAN}$, two terms whose scales differ and drift. Esser et
# al. (2021, eq. 7) set $\lambda$ so that **at the decoder's last layer $L$** the adversarial gradient is as large as
# the reconstruction gradient:
#
# $$\lambda = \frac{\lVert \nabla_{L} L_{rec} \rVert}{\lVert \nabla_{L} L_{GAN} \rVert + \delta}.$$
#
# The paper sets $\delta = 10^{-6}$ (sec. 3.1). Its code, taming-transformers' `calculate_adaptive_weight`
# (`taming/modules/losses/vqperceptual.py`, lines 63-74 at commit 3ba01b2), uses $\delta = 10^{-4}$, clamps
# $\lambda$ to $[0, 10^4]$ and detaches it. This exercise follows the code.
#
# * **`torch.autograd.grad`, not `.backward()`:** it returns the gradient and writes no `.grad`, which would join
#   the next update.
# * **A constant:** without `create_graph=True` the gradients carry no graph, so $\lambda$ is already a constant
#   tensor; `.detach()`, as in taming, keeps it one if they ever do.
# * **$\delta$ and the clamp:** when the GAN gradient nearly vanishes, the ratio explodes.
# * **`retain_graph=True`** in both calls: the total loss is back-propagated afterwards.
#
# ### Exercise 2: the adaptive weight
# Return $\lambda$ as a detached scalar tensor, using the `delta` and `max_weight` arguments. The check tries
# several values of both.

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
check_adaptive_weight(my_adaptive_weight, seed=5, delta=2e-3, max_weight=20.0)
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Training with a discriminator: warm-up and diagnostics
#
# VQ-GAN switches the discriminator on only after `disc_start` steps, when `adopt_weight` stops returning 0: a
# discriminator judging garbage reconstructions only adds noise. Before that, D is not even trained: its loss is
# `None`, so `fit` skips its optimiser.
#
# `loss_fn` below gives one step's losses to `course_lib.train.fit`, with two optimisers. It uses your adaptive weight
# and notebook 08's two halves: a frozen D for the generator's term, detached reconstructions for D's. A tiny
# autoencoder with L1 reconstruction trains three ways:
#
# | run | discriminator from | GAN weight |
# |---|---|---|
# | A | never | none |
# | B | step 0 (too early) | fixed $\lambda$ = `early_weight` (1: too strong) |
# | C | half-way (warm-up) | adaptive $\lambda$ times `disc_weight` = 0.1 |
#
# taming-transformers' configs use `disc_weight: 0.8` with a perceptual term at 256 px; our tiny autoencoder gets 0.1.

# %%
from course_lib.checks import solved_or_reference
from course_lib.gan import adaptive_weight as lib_adaptive_weight
from course_lib.models import ConvDecoder, ConvEncoder
from course_lib.train import fit

adaptive_weight = solved_or_reference(my_adaptive_weight, lib_adaptive_weight, "adaptive_weight")
train_loader = make_loader(train_ds, batch_size=CFG.ae_batch, shuffle=True, seed=0)


def make_autoencoder(seed):
    torch.manual_seed(seed)
    return nn.Sequential(ConvEncoder(1, hidden=CFG.ae_hidden, out_channels=8, downsamples=2, res_blocks=0),
                         ConvDecoder(8, hidden=CFG.ae_hidden, out_channels=1, upsamples=2, res_blocks=0)).to(device)


def train_ae_gan(start_step, weight, adaptive, seed, desc):
    ae, D = make_autoencoder(seed), PatchDiscriminator(1, base=CFG.d_base, n_layers=1).to(device)
    last = ae[1].net[-1].weight  # the decoder's output convolution
    D_init = [p.detach().clone() for p in D.parameters()]

    def loss_fn(batch, step):
        x, _ = batch
        x_hat = ae(x)
        rec = (x - x_hat).abs().mean()
        if adopt_weight(weight, step, start_step) == 0:  # warm-up: the autoencoder alone, D not trained
            return {"g": rec, "d": None, "rec": rec}
        set_requires_grad(D, False)  # the generator's term: no gradient into D
        g_loss = hinge_g_loss(D(x_hat))
        set_requires_grad(D, True)
        lam = adaptive_weight(rec, g_loss, last) if adaptive else torch.tensor(1.0)
        logits_real, logits_fake = D(x), D(x_hat.detach())  # D's term: reconstructions detached
        acc_real, acc_fake = discriminator_accuracy(logits_real, logits_fake)
        return {"g": rec + weight * lam * g_loss, "d": hinge_d_loss(logits_real, logits_fake), "rec": rec,
                "lambda": lam, "acc_real": acc_real, "acc_fake": acc_fake}

    opts = {k: torch.optim.Adam(m.parameters(), lr=1e-3, betas=(0.5, 0.9), foreach=True)
            for k, m in (("g", ae), ("d", D))}
    moved = []  # (step, how far D's weights are from their initial values)
    history = fit(loss_fn, opts, train_loader, steps=CFG.ae_steps, model={"ae": ae, "d": D},
                  log_every=max(1, min(5, CFG.ae_steps // 30)), desc=desc, callback=lambda step, *_: moved.append(
                      (step, sum((p - q).abs().sum().item() for p, q in zip(D.parameters(), D_init)))))
    with torch.no_grad():
        mse = F.mse_loss(ae.eval()(test_ds.x.to(device)).clamp(0, 1), test_ds.x.to(device)).item()
    return dict(ae=ae, D=D, history=history, mse=mse, d_moved=moved)


half = CFG.ae_steps // 2
RUNS = {"A": dict(start_step=10**9, weight=0.0, adaptive=False, desc="A: no GAN"),
        "B": dict(start_step=0, weight=CFG.early_weight, adaptive=False, desc="B: early, fixed weight"),
        "C": dict(start_step=half, weight=CFG.disc_weight, adaptive=True, desc="C: warm-up, adaptive")}
seed_runs = {k: [train_ae_gan(**kw, seed=s) for s in SEEDS] for k, kw in RUNS.items()}
runs = {k: v[0] for k, v in seed_runs.items()}  # seed 0: the one plotted below

# %% [markdown]
# **Before the warm-up ends, D is not trained at all:** in run C its weights move only after step `start_step`.

# %%
before = [d for s, d in runs["C"]["d_moved"] if s <= half]
after = [d for s, d in runs["C"]["d_moved"] if s > half]
print(f"run C: D's distance from its initial weights {before[-1]:.3g} at step {half}, {after[-1]:.3g} at the end")
assert before and after and all(d == 0 for d in before) and all(d > 0 for d in after), "D moves only after warm-up"

# %% [markdown]
# **Diagnostics.** D's accuracy on real and fake patches: both pinned at 1 means $D$ wins outright and tells the
# generator little; both near 0.5 means it is guessing. A sudden jump of $\lambda$ means the GAN gradient vanished.

# %% tags=["fig-gan-diagnostics"]
from course_lib.explorers.gan_toy import draw_gan_diagnostics

hC = runs["C"]["history"]
fig = draw_gan_diagnostics({k: r["history"] for k, r in runs.items()}, watch="C", warmup_end=half)

# %%
tail = max(1, len(hC["acc_real"]) // 3)  # the last third of the logged GAN steps
end_r, end_f = statistics.mean(hC["acc_real"][-tail:]), statistics.mean(hC["acc_fake"][-tail:])
print(f"run C, last third of the GAN phase: D is right on {end_r:.2f} of real and {end_f:.2f} of fake patches")
print(verdict(end_r > 0.9 and end_f > 0.9, "D separates real from fake almost perfectly: the generator does not fool "
              "it yet, and lambda * disc_weight keeps D's push small.",
              verdict(end_r < 0.65 and end_f < 0.65, "D is close to guessing: its signal to the generator is weak.",
                      "D is right on most patches but not all: a game still in progress.")))

# %% [markdown]
# **Too strong, too early ruins reconstructions.** Expect run B's test MSE well above run A's in every seed. Run C
# stays close to A almost by construction: for half the run, its GAN gradient at the last layer is
# `disc_weight` = 0.1 times the reconstruction gradient. At this scale the adversarial term only *costs* pixel
# error; its benefit, realistic texture, needs longer training and a perceptual term (notebook 11).

# %%
mse = {k: [r["mse"] for r in rs] for k, rs in seed_runs.items()}
m = {k: statistics.mean(v) for k, v in mse.items()}
for k, v in mse.items():
    print(f"run {k}: test MSE {mean_sd([1e3 * x for x in v])} x 1e-3 (mean ± sd over {len(v)} seeds)")
claim(m["B"] > 1.5 * m["A"] and all(b > a for a, b in zip(mse["A"], mse["B"])),
      f"too early + too strong hurts: mean MSE B {m['B']:.4f} > 1.5 x A {m['A']:.4f}, and B > A in every seed")
claim(m["C"] < 1.25 * m["A"], f"warm-up + adaptive weight x {CFG.disc_weight:g} stays close: mean MSE C "
      f"{m['C']:.4f} < 1.25 x A {m['A']:.4f} (at the last layer the GAN gradient is {CFG.disc_weight:g} x the "
      "reconstruction gradient by construction)",
      kind="demonstration");

# %% tags=["fig-warmup-runs"]
from course_lib.viz import show_images

fig, axes = plt.subplots(4, 1, figsize=(10, 5.6))
show_images(test_ds.x[:10], nrow=10, ax=axes[0], title="test images")
with torch.no_grad():
    for ax, k in zip(axes[1:], runs):
        show_images(runs[k]["ae"](test_ds.x[:10].to(device)).clamp(0, 1).cpu(), nrow=10, ax=ax,
                    title=f"run {k} (seed 0): test MSE {runs[k]['mse']:.4f}")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Deep dive: a discriminator on little data
# *Adds memorisation measured over training steps, spectral normalisation (its power iteration as an exercise, and
# what it bounds), and DiffAugment. The core path resumes at the Summary.*
#
# With few training images a discriminator can win by **memorising** them: "these exact images are real, anything
# else is fake". Its accuracy on its training reals goes to 1 while held-out reals look fake to it. What it then tells
# the generator is "look like these images", not "look like the data" (Karras et al. 2020, arXiv:2006.06676, fig. 1;
# Zhao et al. 2020, fig. 1). Two remedies, both options of `course_lib`:
#
# * **Spectral normalisation** (Miyato et al. 2018, arXiv:1802.05957): `PatchDiscriminator(..., spectral_norm=True)`
#   divides each convolution's kernel, reshaped to an (out, in·k·k) matrix, by its largest singular value $\sigma$.
#   That $\sigma$ is not the convolution's operator norm: the kernel is applied at overlapping positions. For stride
#   $s$ the norm lies between $\sigma$ and $\lceil k/s \rceil\,\sigma$, since each input pixel sits in at most
#   $\lceil k/s \rceil^2$ patches. So spectral normalisation bounds how fast $D$ can change only approximately
#   (Sedghi, Gupta, Long 2019 compute the exact values for circular padding). Measured below on a fresh
#   discriminator.
# * **DiffAugment** (Zhao, Liu, Lin, Zhu, Han 2020, arXiv:2006.10738): the same random, differentiable transforms $T$
#   (colour, translation, cutout) on real **and** fake images, in the discriminator's step **and** the generator's:
#   $L_D = f_D(D(T(x)), D(T(\mathrm{sg}[\hat x])))$, $L_G = f_G(D(T(\hat x)))$ (their eqs. 2-3). Augmenting only the
#   reals would teach $D$ that "augmented" means "real", and the generator would learn to produce augmented-looking
#   images. $T$ is differentiable so that $L_G$'s gradient reaches the generator through it.
#
# ### Exercise 3: spectral normalisation by power iteration
#
# An exact $\sigma$ (a singular value decomposition) at every training step would be slow. Miyato et al. (2018,
# Algorithm 1) estimate it by **power iteration** and keep the estimate between steps. Write
# `spectral_normalize(weight, u, n_iters=1)` returning `(weight / sigma, sigma, u)`:
# - $W$ is the weight reshaped to `(out, in * k * k)`, and `u`, of shape `(out,)`, the current unit-length estimate
#   of $W$'s top left singular vector;
# - one iteration is $v \leftarrow W^\top u / \lVert W^\top u \rVert$, then $u \leftarrow W v / \lVert W v
#   \rVert$; run `n_iters` of them without gradient (`torch.no_grad()`): $u$ and $v$ are constants;
# - then $\sigma = u^\top W v$, which keeps $W$'s gradient; return the weight divided by it, $\sigma$ and the new $u$.
#
# This is what `torch.nn.utils.spectral_norm` does in each training forward: one iteration, $u$ kept for the next.

# %%
def spectral_normalize(weight, u, n_iters=1):
    """(weight / sigma, sigma, u): sigma estimates the largest singular value of weight reshaped to (out, -1) by
    n_iters power iterations started from the unit vector u (out,); the returned u starts the next step."""
    ### BEGIN SOLUTION
    w = weight.reshape(weight.shape[0], -1)
    with torch.no_grad():
        for _ in range(n_iters):
            v = w.T @ u
            v = v / v.norm()
            u = w @ v
            u = u / u.norm()
    sigma = u @ w @ v
    return weight / sigma, sigma, u
    ### END SOLUTION


# %%
from course_lib.checks.gan import check_spectral_normalize

check_spectral_normalize(spectral_normalize)
### BEGIN HIDDEN TESTS
check_spectral_normalize(spectral_normalize, seed=9, shapes=((16, 8, 3, 3), (5, 7), (3, 12, 4, 4)))
### END HIDDEN TESTS

# %% [markdown]
# Your function on the first convolution of a fresh discriminator, from a random start. Expect the estimate to rise
# towards the exact $\sigma$ within a few iterations.

# %%
from course_lib.gan import conv_operator_norm, kernel_spectral_norm, spectral_normalize as library_sn

spectral_normalize = solved_or_reference(spectral_normalize, library_sn, "spectral_normalize")
kernel = PatchDiscriminator(1, base=CFG.d_base, n_layers=2).main[0].weight.detach()
u0 = torch.randn(kernel.shape[0], generator=torch.Generator().manual_seed(0))
for n_iters in (1, 2, 5, 20):
    print(f"{n_iters:>2} iterations: sigma = {float(spectral_normalize(kernel, u0 / u0.norm(), n_iters)[1]):.4f}")
print(f"exact (torch.linalg.matrix_norm, ord=2): {float(torch.linalg.matrix_norm(kernel.flatten(1), ord=2)):.4f}")

# %%
D_sn = PatchDiscriminator(1, base=CFG.d_base, n_layers=2, spectral_norm=True)
for _ in range(30):  # the power iteration that estimates sigma converges over training forwards
    D_sn(train_ds.x[:16])
D_sn.eval()
size = 28
print(f"{'conv':>5} {'(k, s)':>7} {'sigma of reshaped kernel':>25} {'operator norm of the conv':>26}")
for n, conv in enumerate(m_ for m_ in D_sn.main if isinstance(m_, nn.Conv2d)):
    print(f"{n:>5} {str((conv.kernel_size[0], conv.stride[0])):>7} {kernel_spectral_norm(conv):>25.3f} "
          f"{conv_operator_norm(conv, size):>26.3f}   (on {size}x{size} inputs)")
    size = (size + 2 * conv.padding[0] - conv.kernel_size[0]) // conv.stride[0] + 1

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

# %% [markdown]
# **The experiment isolates memorisation.** Each discriminator sees `CFG.n_small` training images as "real" and, as
# "fake", *other* training images: what a perfect generator would produce. The two groups differ only in which images
# they are, so whatever $D$ learns to tell them apart is memorisation. Every discriminator gets the same budget
# (`CFG.small_steps` steps of 16 real and 16 fake images, the same learning rate). At several steps we measure the
# **memorisation AUC**: the probability that a training real gets a higher mean logit than a held-out real (0.5: no
# memorisation, 1: complete). Beside it, $D$'s own hinge loss: about 1.0 is the loss of a $D$ that outputs 0 and has
# learned nothing yet, so a low AUC with a loss of 1.0 shows no learning, not a cure.
#
# Three discriminators with `norm="none"`, so that spectral normalisation is the only difference from the plain one:
# plain, spectral norm, DiffAugment. The PatchGAN has 2 layers (34 px patches, the whole 28 px image).

# %%
small_real = train_ds.x[:CFG.n_small]
small_fake = train_ds.x[CFG.n_small:]  # real images D only ever sees as "fake"
CHECKPOINTS = sorted({max(1, CFG.small_steps // 6), max(1, CFG.small_steps // 2), CFG.small_steps})


def memorisation_auc(D, train_x, held_x):
    """P(mean logit of a training real > that of a held-out real), ties counted half."""
    with torch.no_grad():
        a, b = D(train_x.to(device)).mean(dim=(1, 2, 3)), D(held_x.to(device)).mean(dim=(1, 2, 3))
    diff = a[:, None] - b[None, :]
    return ((diff > 0).float() + 0.5 * (diff == 0).float()).mean().item()


def train_small_d(spectral, augment, seed, batch=16):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    D = PatchDiscriminator(1, base=CFG.d_base, n_layers=2, norm="none", spectral_norm=spectral).to(device)
    opt = torch.optim.Adam(D.parameters(), lr=CFG.small_lr, betas=(0.5, 0.9), foreach=True)
    losses, curve = [], []
    for step in range(1, CFG.small_steps + 1):
        xr = small_real[torch.randint(len(small_real), (batch,), generator=gen)]
        xf = small_fake[torch.randint(len(small_fake), (batch,), generator=gen)]
        if augment:  # the same transforms on real and fake images
            xr, xf = diff_augment(xr, generator=gen), diff_augment(xf, generator=gen)
        logits = D(torch.cat([xr, xf]).to(device))
        loss = hinge_d_loss(logits[:batch], logits[batch:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step in CHECKPOINTS:
            D.eval()
            curve.append(dict(step=step, auc=memorisation_auc(D, small_real, test_ds.x),
                              d_loss=statistics.mean(losses[-20:])))
            D.train()
    return curve


VARIANTS = {"plain": (False, False), "spectral norm": (True, False), "DiffAugment": (False, True)}
small = {name: [train_small_d(sn, aug, seed=s) for s in SEEDS] for name, (sn, aug) in VARIANTS.items()}
at = lambda name, key, i: [c[i][key] for c in small[name]]  # one value per seed at checkpoint i
print(f"{'discriminator':>14} " + " ".join(f"{'AUC @ ' + str(s):>14}" for s in CHECKPOINTS) + f"{'D loss @ end':>16}")
for name in small:
    print(f"{name:>14} " + " ".join(f"{mean_sd(at(name, 'auc', i), 2):>14}" for i in range(len(CHECKPOINTS)))
          + f"{mean_sd(at(name, 'd_loss', -1), 2):>16}")

# %% tags=["fig-memorisation"]
from course_lib.explorers.gan_toy import draw_memorisation

fig = draw_memorisation(small)

# %% [markdown]
# Expect the plain discriminator to memorise: an AUC well above 0.5 that rises with training. The question for
# DiffAugment is whether it *removes* memorisation (its AUC stays near 0.5 while its loss shows it learns) or only
# *slows* it (its AUC lags the plain one's but rises too). The verdict below is printed from the numbers.

# %%
mean_at = lambda name, key, i: statistics.mean(at(name, key, i))
auc_end = {name: mean_at(name, "auc", -1) for name in small}
da_below = all(mean_at("DiffAugment", "auc", i) < mean_at("plain", "auc", i) for i in range(len(CHECKPOINTS)))
da_rise = mean_at("DiffAugment", "auc", -1) - mean_at("DiffAugment", "auc", 0)
da_loss = mean_at("DiffAugment", "d_loss", -1)
claim(auc_end["plain"] > 0.7, f"the plain D memorises {CFG.n_small} images: AUC {mean_sd(at('plain', 'auc', -1), 2)} "
      f"after {CFG.small_steps} steps")
claim(auc_end["plain"] > 0.7 and da_below, f"DiffAugment's AUC stays below the plain D's at every checkpoint "
      f"{CHECKPOINTS} (at the end {auc_end['DiffAugment']:.2f} vs {auc_end['plain']:.2f})")
rose_every_seed = all(b > a for a, b in zip(at("DiffAugment", "auc", 0), at("DiffAugment", "auc", -1)))
print(verdict(da_below and rose_every_seed and da_rise > 0.05,
              f"DiffAugment slows memorisation, it does not remove it: its AUC rises by {da_rise:+.2f} (in every seed) "
              f"but stays below the plain D's at every checkpoint.",
              verdict(auc_end["DiffAugment"] - 0.5 < 0.25 * (auc_end["plain"] - 0.5) and da_loss < 0.95,
                      f"DiffAugment removes the memorisation within {CFG.small_steps} steps: its AUC stays at "
                      f"{auc_end['DiffAugment']:.2f} while its loss ({da_loss:.2f}) shows it learns.",
                      verdict(da_loss > 0.95, f"DiffAugment's D has hardly learned (loss {da_loss:.2f}, near the 1.0 of "
                              "a D that outputs 0): at this budget a low AUC cannot tell 'slows' from 'removes'.",
                              "DiffAugment did not slow memorisation here."))))
print(verdict(auc_end["spectral norm"] - 0.5 < 0.5 * (auc_end["plain"] - 0.5),
              f"Spectral norm alone also removed most of the memorisation here (AUC {auc_end['spectral norm']:.2f}).",
              f"Spectral norm alone did not stop the memorisation (AUC {auc_end['spectral norm']:.2f} vs "
              f"{auc_end['plain']:.2f} plain): it limits how fast D's output changes, not what D remembers."))

# %% [markdown]
# The AUC measures *memorisation* in a setting built to expose it: a perfect generator and a handful of images. That
# DiffAugment also gives a better *generator* on little data is the paper's result (Zhao et al. 2020, sec. 4,
# measured by FID), not measured here. In a VQ-GAN the options are `disc_spectral_norm` for the discriminator and
# `diff_augment` on `x` and `x_hat` before every call of $D$, in both steps (notebook 11).
#
# ## Deep dive: pitfalls
# *Adds the exploding adaptive weight and the adaptive weight in half precision, each measured. The core path resumes
# at the Summary.*
#
# Other pitfalls have their own place. The generator step leaking gradients into the discriminator, and the reverse,
# is what notebook 08's step check names, measured in its deep dive. A discriminator started too early or too strong
# is run B of section 3. Codebook and commitment weights swapped ($\beta$ on the wrong term) is notebook 03's. A
# half-precision square root turning into NaN is notebook 07's, section 3.
#
# ### An exploding adaptive weight
# $\lambda$ divides by the norm of the GAN gradient, and that gradient can become tiny. With the non-saturating
# generator loss $\mathrm{softplus}(-D(\hat x))$ it happens when the discriminator is fooled ($D(\hat x) \gg 0$: the
# loss saturates). We shift the discriminator's output by $b$ (its last bias) and compute $\lambda$ three ways.

# %%
import copy

from course_lib.gan import non_saturating_g_loss

ae_c = runs["A"]["ae"].train()
D_base = PatchDiscriminator(1, base=CFG.d_base, n_layers=1).to(device)
x = test_ds.x[:32].to(device)
x_hat = ae_c(x)
rec = (x - x_hat).abs().mean()
W = ae_c[1].net[-1].weight
rec_norm = torch.autograd.grad(rec, W, retain_graph=True)[0].norm()
table = []
for b in [0.0, 5.0, 10.0, 20.0, 40.0]:
    D_shift = copy.deepcopy(D_base)
    with torch.no_grad():
        D_shift.main[-1].bias.add_(b)
    set_requires_grad(D_shift, False)
    g_ns = non_saturating_g_loss(D_shift(x_hat))
    gan_norm = torch.autograd.grad(g_ns, W, retain_graph=True)[0].norm()
    table.append((b, gan_norm.item(), (rec_norm / gan_norm).item(),  # naive: no delta, no clamp
                  lib_adaptive_weight(rec, g_ns, W, max_weight=None).item(), lib_adaptive_weight(rec, g_ns, W).item()))
print(f"{'shift b':>8} {'|grad GAN|':>11} {'naive':>10} {'+ delta':>10} {'+ clamp':>10}")
for row in table:
    print(f"{row[0]:8.0f} {row[1]:11.3g} {row[2]:10.3g} {row[3]:10.3g} {row[4]:10.3g}")
cap = rec_norm.item() / 1e-4
claim(table[-1][2] > 1e10 and table[-1][3] <= cap * 1.0001 and all(r[4] <= 1e4 for r in table),
      f"without guards lambda explodes ({table[-1][2]:.3g}); delta caps it at ||grad rec|| / delta = {cap:.3g}",
      kind="demonstration")
print(verdict(cap < 1e4, "Here delta alone already caps lambda below 1e4, so the clamp does not bind: it is the "
              "second guard.", "Here the clamp at 1e4 binds before delta's cap."))

# %% tags=["fig-exploding-weight"]
plt.figure(figsize=(5.5, 3.3))
for i, (label, style) in enumerate((("naive |grad rec| / |grad GAN|", "o-"), ("+ delta = 1e-4", "s--"),
                                    ("+ delta + clamp at 1e4 (course_lib)", "^:"))):
    plt.semilogy([r[0] for r in table], [r[2 + i] for r in table], style, label=label)
plt.xlabel("discriminator output shift b (D fooled: the loss saturates)")
plt.ylabel("lambda")
plt.title("the adaptive weight without its guards")
plt.legend(fontsize=7)
plt.show()

# %% [markdown]
# Even a capped $\lambda$ means the generator follows a discriminator that no longer tells real from fake: plot
# $\lambda$ (section 3). With a GAN gradient of exactly 0 the naive ratio is $\infty$, and $\infty \cdot 0$ turns the
# loss into NaN; `fit` then stops at once and names the loss.
#
# ### The adaptive weight in half precision
# $\lambda$ is a ratio of two gradients taken with `torch.autograd.grad` through the autocast graph, *not* through
# a gradient scaler. The gradient of a mean over $N$ pixels is $1/N$ per pixel. In float16 that is a subnormal once
# $N > 2^{14}$, and it rounds to exactly 0 once $1/N \le 2^{-25} \approx 3\cdot10^{-8}$, half the smallest subnormal
# $2^{-24}$: values between the two round up to $2^{-24}$. A small loss weight gets there with far fewer pixels.
# `course_lib.gan.adaptive_weight` therefore takes the gradients of the losses times $2^{16}$ and divides them back in
# float32, backing off if that overflows: GradScaler's remedy (Micikevicius et al. 2018, arXiv:1710.03740, sec. 3.2).

# %%
for n in (2**14, 2**24, 3 * 2**23, 2**25):
    print(f"N = {n:>10,}: 1/N = {1 / n:.3g} becomes {torch.tensor(1 / n).half().item():.3g} in float16")

# %% [markdown]
# Now $\lambda$ on run C's autoencoder and its trained discriminator under autocast, against float32. The CPU
# supports float16 and bfloat16 autocast. On a GPU, `fit` picks float16 with a gradient scaler on a T4 (compute
# capability 7.5) and bfloat16 from capability 8.0, so this cell tries bfloat16 only there.

# %%
ae_p, D_p = runs["C"]["ae"], runs["C"]["D"].eval()
x_p = test_ds.x[:64].to(device)
precisions = {"float16": torch.float16}
if device.type == "cpu" or torch.cuda.get_device_capability(device)[0] >= 8:
    precisions["bfloat16"] = torch.bfloat16


def lambda_in(dtype, rec_weight=1.0, **kw):
    with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        x_hat = ae_p(x_p)
        rec = rec_weight * (x_p - x_hat).abs().mean()
        set_requires_grad(D_p, False)
        g = hinge_g_loss(D_p(x_hat))
        set_requires_grad(D_p, True)
        return lib_adaptive_weight(rec, g, ae_p[1].net[-1].weight, **kw).item()


errs = {}
for w in (1.0, 1e-4):
    ref = lambda_in(None, w)
    errs[w] = {f"{name} scaled": lambda_in(dt, w) / ref - 1 for name, dt in precisions.items()}
    errs[w]["float16 unscaled"] = lambda_in(torch.float16, w, loss_scale=1) / ref - 1
    print(f"reconstruction weight {w:g} (N = {x_p.numel():,} pixels): "
          + ", ".join(f"{k} {v:+.2%}" for k, v in errs[w].items()))
claim(abs(errs[1.0]["float16 scaled"]) < 0.03 and errs[1e-4]["float16 unscaled"] == -1,
      "loss-scaled float16 lambda within 3% of float32; unscaled, 1e-4 / N underflows to 0", kind="demonstration");

# %% [markdown]
# bfloat16 has float32's exponent range, so nothing underflows there, but its 8-bit significand rounds the backward
# pass itself, which no loss scale fixes: expect it to differ by a few percent.
#
# ## Summary
# - VQ-GAN's discriminator is a **PatchGAN**: one logit per patch. Its receptive field, $1 + \sum (k_i-1)\prod_{m<i}
#   s_m$, is 70 px in the papers and 16 px here, exactly where one logit's gradient reaches.
# - The **adaptive weight** matches the GAN gradient to the reconstruction gradient at the decoder's last layer.
#   Compute it with `torch.autograd.grad`, keep it a constant, and guard it with `delta` (1e-6 in the paper, 1e-4 in
#   taming's code) and a clamp.
# - A **warm-up** keeps the discriminator off, not even trained, until the autoencoder reconstructs. Started early
#   with a strong weight, it ruined the reconstructions here.
# - The deep dives: a discriminator memorises a handful of images, and DiffAugment's effect is measured over steps.
#
# ## More to try
# 1. Use taming-transformers' weight: set `disc_weight` to 0.8. Does run C still stay close to run A?
# 2. Separate "too early" from "too strong": set `early_weight` to 0.1. Where does run B's test MSE land now?
# 3. Give the small-data discriminators more images: set `n_small` to 64. Does the plain one still memorise?
# 4. In the exploding-weight deep dive, use the hinge loss $-D(\hat x)$ instead. Does $\lambda$ still explode? Why?
# 5. Build `PatchDiscriminator(n_layers=3)` and give it the 28x28 images. What happens, and why?
#
# ## Further reading
# - Isola, Zhu, Zhou, Efros 2017, "Image-to-Image Translation with Conditional Adversarial Networks" (pix2pix,
#   PatchGAN), arXiv:1611.07004.
# - Esser, Rombach, Ommer 2021, "Taming Transformers for High-Resolution Image Synthesis" (VQ-GAN, eq. 7),
#   arXiv:2012.09841.
# - Miyato, Kataoka, Koyama, Yoshida 2018, "Spectral Normalization for Generative Adversarial Networks",
#   arXiv:1802.05957.
# - Sedghi, Gupta, Long 2019, "The Singular Values of Convolutional Layers", arXiv:1805.10408.
# - Zhao, Liu, Lin, Zhu, Han 2020, "Differentiable Augmentation for Data-Efficient GAN Training", arXiv:2006.10738.
# - Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data", arXiv:2006.06676.
# - Micikevicius et al. 2018, "Mixed Precision Training", arXiv:1710.03740.
# - Radford, Metz, Chintala 2015, "Unsupervised Representation Learning with Deep Convolutional GANs" (the
#   initialisation PatchGAN uses), arXiv:1511.06434.
