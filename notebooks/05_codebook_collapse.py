# %% [markdown]
# # 05 · Codebook collapse: reproduce it, diagnose it, cure it
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-to-vqgan/course/blob/v0.3.0/notebooks/student/05_codebook_collapse.ipynb)
#
# **Learning objectives.** After this notebook you can
# - make a VQ-VAE collapse on purpose and see it in codes used and perplexity;
# - diagnose collapse by the distance between codes and encoder outputs;
# - write two cures: a dead-code restart, and FSQ rounding with a straight-through gradient;
# - write the rotation trick, and measure how it scales the encoder's gradient;
# - judge a cure against a ceiling, over seeds (deep dives).
#
# **Prerequisites.** Notebook 04 (VQ-VAE, EMA codebook, perplexity over a data set); notebook 02 (k-means).
#
# **Estimated time.** Core path about 46 min; 2 deep dives about 34 min more (estimated from this notebook by `make
# stats`). Machine: about 43 s under `quick` on 2 CPU cores; under 1 min of training under `standard` on a T4
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
# Sections 2-3 reproduce collapse in a small convolutional VQ-VAE like notebook 04's. The comparison of the cures
# in two deep dives needs about seventy training runs, so it uses a smaller VQ-VAE that sees one 4x4 patch at a
# time.

# %%
from course_lib.profiles import settings

CFG = settings(
    quick=dict(dataset="fashion-mnist", n_train=2000, n_eval=512, n_test=1000, steps=120, batch_size=64, lr=3e-3,
               hidden=16, res_blocks=0, num_codes=512, code_dim=16, eval_every=40,
               # the deep dives after section 7, the table of cures and the K sweep (patch VQ-VAE, ~70 short runs)
               seeds=3, patch=4, bench_steps=200, bench_batch=256, bench_hidden=64, bench_code_dim=16,
               lookup_dim=4, fsq_levels=(8, 8, 8), decay=0.9, restart_dead_after=10, codebook_lr_mult=10,
               freeze_steps=40, bench_eval_every=40, n_curve=2048, sweep_codes=(64, 4096), sweep_seeds=2,
               ceiling_patches=16384, ceiling_iters=15),
    standard=dict(dataset="cifar10", n_train=20000, n_eval=2048, n_test=10000, steps=3000, batch_size=128, lr=1e-3,
                  hidden=64, res_blocks=1, num_codes=512, code_dim=32, eval_every=100,
                  seeds=3, patch=4, bench_steps=3000, bench_batch=1024, bench_hidden=256, bench_code_dim=32,
                  lookup_dim=8, fsq_levels=(8, 8, 8), decay=0.99, restart_dead_after=50, codebook_lr_mult=10,
                  freeze_steps=500, bench_eval_every=250, n_curve=16384, sweep_codes=(64, 256, 1024, 4096),
                  sweep_seeds=3, ceiling_patches=65536, ceiling_iters=25),
    full=dict(steps=10_000, hidden=128, res_blocks=2, bench_steps=10_000, freeze_steps=1000, bench_eval_every=500),
    # smoke cuts the step counts to 3: these settings are tied to them
    smoke=dict(eval_every=1, freeze_steps=1, bench_eval_every=1),
)
CFG

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from course_lib import metrics
from course_lib.checks import solved_or_reference
from course_lib.claims import claim, verdict
from course_lib.data import load_dataset, make_loader
from course_lib.models import VQVAE
from course_lib.quantize import VectorQuantizer, nearest_code, squared_distances
from course_lib.train import fit

device = ENV.device
K = CFG.num_codes
assert math.prod(CFG.fsq_levels) == K, "FSQ must have the same number of codes as the other quantizers"

# %% [markdown]
# ## 1. Data, model and one training function for every quantizer
# `train_vqvae(quantizer)` trains the same small VQ-VAE around any quantizer for `CFG.steps` steps.
# Every `CFG.eval_every` steps it measures code usage on `CFG.n_eval` held-out images, not per batch (notebook 04).

# %%
train = load_dataset(CFG.dataset, "train", n=CFG.n_train)
x_eval = load_dataset(CFG.dataset, "test", n=CFG.n_eval).x.to(device)
print(train.display_name)
C = train.x.shape[1]


@torch.no_grad()
def evaluate(model):
    """Usage (share of K used, perplexity, indices), MSE and encoder outputs on the evaluation set, in eval mode."""
    model.eval()
    out = model(x_eval)
    model.train()
    idx = out.vq.indices
    return dict(used=metrics.codes_used(idx, K) / K, perplexity=metrics.perplexity(idx, K),
                mse=float(F.mse_loss(out.x_hat, x_eval)), indices=idx.cpu(), z_e=out.z_e)


def train_vqvae(quantizer, seed=ENV.seed):
    """Train a VQ-VAE with `quantizer` for CFG.steps steps; return it and its evaluations every CFG.eval_every steps."""
    torch.manual_seed(seed)
    model = VQVAE(quantizer, in_channels=C, hidden=CFG.hidden, downsamples=2, res_blocks=CFG.res_blocks).to(device)
    loader = make_loader(train, batch_size=CFG.batch_size, shuffle=True, seed=seed, device=device)
    curve = [(0, evaluate(model))]

    def loss_fn(batch, step):
        out = model(batch[0])
        return {"loss": F.mse_loss(out.x_hat, batch[0]) + out.vq.loss}

    fit(loss_fn, torch.optim.Adam(model.parameters(), lr=CFG.lr), loader, steps=CFG.steps, model=model,
        log_every=CFG.eval_every, callback=lambda step, losses, history: curve.append((step, evaluate(model))),
        progress=False)
    return model, curve


# %% [markdown]
# ## 2. Collapse, on purpose
# Take notebook 04's VQ layer with the codebook loss and no EMA, a **large codebook** of K = 512 codes, and codes
# initialised **tiny**, uniform in `(-1/K, 1/K)`, while the encoder's outputs have norms of order 1.
#
# When `|z|` is much larger than every `|e|`, `argmin |z - e|^2` is almost `argmax z.e`: only the codes at the corners
# of the tiny cloud can ever win. Those few move towards the data, become nearer still, and win again. A code gets a
# gradient only when some encoder output chose it, so the others never move: they are **dead**.

# %%
vanilla_model, vanilla_curve = train_vqvae(VectorQuantizer(K, CFG.code_dim))
vanilla = vanilla_curve[-1][1]
print(f"vanilla after {CFG.steps} steps: {vanilla['used']:.1%} of codes used, perplexity {vanilla['perplexity']:.1f}, "
      f"MSE {vanilla['mse']:.4f}")

# %% tags=["fig-collapse"]
steps_axis = [s for s, _ in vanilla_curve]
fig, ax = plt.subplots(figsize=(7, 3.2))
ax.plot(steps_axis, [K * m["used"] for _, m in vanilla_curve], "o-", label="codes used")
ax.plot(steps_axis, [m["perplexity"] for _, m in vanilla_curve], "s--", label="perplexity")
ax.set_yscale("log"); ax.set_ylim(0.8, 1.25 * K); ax.axhline(K, c="gray", lw=0.8)
ax.set_xlabel("step"); ax.set_ylabel(f"codes (of K = {K}, log scale)"); ax.legend(loc="center right")
ax.set_title(f"vanilla quantizer, tiny start: usage on {CFG.n_eval} held-out images (grey line: K)", fontsize=10)
plt.tight_layout(); plt.show()

counts = metrics.code_histogram(vanilla["indices"], K)
top = torch.sort(counts, descending=True).values
share = float(top[:5].sum() / top.sum())
fig, ax = plt.subplots(figsize=(9, 2.6))
ax.bar(np.arange(K), top.numpy(), width=1.0)
ax.axvspan(K - int((top == 0).sum()) - 0.5, K - 0.5, color="0.92", zorder=0)  # grey: codes never chosen
ax.set_xlabel("code (sorted by use; grey: never chosen)"); ax.set_ylabel("times chosen")
ax.set_title(f"vanilla: the 5 most used codes take {share:.0%} of all positions")
plt.show()

# %% [markdown]
# **Most of the codebook is dead.** With tiny codes this holds from the first steps on (a demonstration of the start,
# not a measured result); the curve shows that training does not undo it.

# %%
claim(vanilla["used"] < 0.5, f"most codes dead after {CFG.steps} steps: {1 - vanilla['used']:.1%} never chosen",
      kind="demonstration")
claim(share > 0.5, f"a few codes dominate: the top 5 take {share:.0%} of the positions", kind="demonstration");

# %% [markdown]
# ## 3. Diagnosis: where are the codes?
# For every code, its norm and its distance to the **nearest encoder output** on the evaluation set. Expect live
# codes among the encoder outputs, and dead codes where the tiny start put them, near the origin and far from the
# data. One dot per code.

# %% tags=["fig-dead-codes"]
z = vanilla["z_e"].permute(0, 2, 3, 1).reshape(-1, CFG.code_dim)  # (N, D) encoder outputs
codebook = vanilla_model.quantizer.codebook.detach()
with torch.no_grad():
    # distance from each code to its nearest encoder output, in chunks (never an (N, K, D) tensor)
    nearest = torch.cat([squared_distances(codebook[i:i + 128], z).min(1).values for i in range(0, K, 128)]).sqrt().cpu()
live = counts > 0
norms = codebook.norm(dim=1).cpu()
print(f"mean norm: encoder outputs {z.norm(dim=1).mean():.3f}, live codes {norms[live].mean():.3f}, dead codes "
      f"{norms[~live].mean():.4f}")
fig, ax = plt.subplots(figsize=(7, 3.4))
ax.scatter(norms[~live], nearest[~live], s=8, alpha=0.5, c="tab:gray", label=f"dead codes ({int((~live).sum())})")
ax.scatter(norms[live], nearest[live], s=40, c="tab:red", edgecolor="k", label=f"live codes ({int(live.sum())})")
ax.set_xscale("log"); ax.set_xlabel("norm of the code (log scale)")
ax.set_ylabel("distance to the nearest\nencoder output")
ax.set_title("vanilla quantizer after training: every code")
ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0)); plt.tight_layout(); plt.show()

# %% [markdown]
# **Claim: dead codes are much farther from the data than live ones.**

# %%
claim(nearest[~live].median() > 2 * nearest[live].median(),
      f"median distance to the data: dead codes {nearest[~live].median():.3f} vs live {nearest[live].median():.3f}");

# %% [markdown]
# Every cure attacks one link of this chain: put codes where the data is (k-means initialisation, restarts), move
# them without a gradient by EMA (notebook 04), or remove the norm with cosine codes. Factorised codes shrink the
# lookup space, an affine codebook moves all codes together, the rotation trick changes the encoder's gradient, and
# FSQ drops the learned codebook. You write three of them now.

# %% [markdown]
# ## 4. Exercise: restart dead codes
# A dead code is never chosen where it is, so move it to the data: replace every code with usage count 0 by a
# **random** recent encoder output. Random restarts come from Jukebox (Dhariwal et al. 2020); SoundStream (Zeghidour
# et al. 2021, section III-C) adopts them for codes unused for several batches. Use a **different** row for each dead
# code, drawn without replacement, and leave the live codes alone: a code chosen once is live.

# %%
def restart_dead_codes(codebook, counts, z_recent):
    """codebook (K, D), counts (K,) usage counts, z_recent (N, D) with N >= number of dead codes -> new codebook."""
    ### BEGIN SOLUTION
    new = codebook.clone()
    dead = (counts == 0).nonzero().flatten()
    new[dead] = z_recent[torch.randperm(len(z_recent))[: len(dead)]]
    return new
    ### END SOLUTION


# %%
from course_lib.checks.collapse import check_restart_dead_codes

check_restart_dead_codes(restart_dead_codes)
### BEGIN HIDDEN TESTS
check_restart_dead_codes(restart_dead_codes, seed=5, num_codes=64, code_dim=3)
### END HIDDEN TESTS

# %% [markdown]
# `VectorQuantizer(..., restart_dead_after=n)` does this in training. `vq.attach_optimizer(optimizer)` also zeroes
# Adam's moments for a restarted row, but Adam's step count is shared: bias correction does not restart, so after a
# long run the row's first steps are several times the learning rate.
#
# One restart of the collapsed codebook onto **training** outputs, measured on **held-out** images: expect most dead
# codes back, since a code placed on a training output wins the held-out outputs near it.

# %%
from course_lib import quantize

restart_dead_codes = solved_or_reference(restart_dead_codes, quantize.restart_dead_codes, "restart_dead_codes")

with torch.no_grad():
    vanilla_model.eval()
    z_train = vanilla_model.encode_continuous(train.x[:256].to(device)).permute(0, 2, 3, 1).reshape(-1, CFG.code_dim)
torch.manual_seed(0)
revived = torch.as_tensor(restart_dead_codes(codebook.cpu(), counts, z_train.cpu())).float()
idx_after = nearest_code(z.cpu(), revived)
used_before, used_after = int(live.sum()), metrics.codes_used(idx_after, K)
print(f"codes used on the held-out images: {used_before} -> {used_after} of {K} "
      f"(restarted onto {len(z_train)} encoder outputs of 256 training images)")
claim(used_after > 2 * used_before, f"one restart onto training outputs revives codes on held-out data: "
      f"{used_before} -> {used_after}", kind="demonstration");

# %% [markdown]
# ## 5. Exercise: FSQ rounding with a straight-through gradient
# Finite Scalar Quantization (Mentzer et al. 2023) has no codebook to learn: each of `d` channels is squashed so
# that rounding gives exactly `L_i` values, and the codebook is the grid of all `prod(L_i)` combinations. For
# channel `i` with `L` levels and `eps = 1e-3`:
#
# * `half_l = (L - 1) * (1 + eps) / 2`, `offset = 0.5` if `L` is even else `0`, `shift = atanh(offset / half_l)`;
# * `bounded = tanh(z + shift) * half_l - offset`, whose range rounds to exactly `L` integers;
# * `rounded = round(bounded)` **with the straight-through estimator**: value of the rounding, gradient of `bounded`;
# * return `rounded / (L // 2)`, in [-1, 1].
#
# These are the constants of `vector-quantize-pytorch`. The check also accepts those of the paper's appendix A.1:
# `(1 - eps)` and `tan` in place of `(1 + eps)` and `atanh`.

# %%
def fsq_quantize(z, levels, eps=1e-3):
    """z (N, d), levels: list of d ints -> (N, d) grid values in [-1, 1] with a straight-through gradient."""
    ### BEGIN SOLUTION
    L = torch.as_tensor(levels, dtype=z.dtype, device=z.device)
    half_l = (L - 1) * (1 + eps) / 2
    offset = torch.where(L % 2 == 0, 0.5, 0.0).to(z.dtype)
    shift = torch.atanh(offset / half_l)
    bounded = torch.tanh(z + shift) * half_l - offset
    rounded = bounded + (torch.round(bounded) - bounded).detach()
    return rounded / torch.div(L, 2, rounding_mode="floor")
    ### END SOLUTION


# %%
from course_lib.checks.collapse import check_fsq_quantize

check_fsq_quantize(fsq_quantize)
### BEGIN HIDDEN TESTS
check_fsq_quantize(fsq_quantize, seed=3, levels=(7, 6, 5))
### END HIDDEN TESTS

# %% [markdown]
# `course_lib.quantize.FSQ(levels)` is the same rounding plus the bookkeeping: indices, the implicit codebook, and
# projections from and to `code_dim`. Its values, against your `fsq_quantize`:

# %%
from course_lib.quantize import FSQ

fsq_quantize = solved_or_reference(fsq_quantize, quantize.fsq_quantize, "fsq_quantize")

fsq = FSQ(CFG.fsq_levels)
z_demo = torch.randn(1000, len(CFG.fsq_levels)) * 2
agree = float((fsq.quantize(z_demo) - torch.as_tensor(fsq_quantize(z_demo, list(CFG.fsq_levels)))).abs().lt(1e-5).float().mean())
assert agree > 0.99, f"FSQ and fsq_quantize agree on only {agree:.1%} of the values"
print(f"FSQ{CFG.fsq_levels}: {fsq.num_codes} codes; values equal to yours on {agree:.1%} of entries; distinct values "
      "per channel:", [len(torch.unique(fsq.quantize(z_demo)[:, i])) for i in range(len(CFG.fsq_levels))])

# %% [markdown]
# ## 6. Exercise: the rotation trick
# The straight-through estimator copies the gradient `g` arriving at `z_q` to `z` unchanged. Fifty et al. (2024,
# "Restructuring Vector Quantization with the Rotation Trick", section 4.2) instead write `z_q` as `z` **rotated and
# rescaled**, `z_q = lambda R z`, and treat `lambda` and `R` as constants in the backward pass. Then `z` receives
# `lambda R^T g`: the gradient keeps its angle to the vector it acts on, and its norm is scaled by `lambda`.
#
# For each row, with unit vectors $e = z / \lVert z \rVert$, $q = z_q / \lVert z_q \rVert$ and
# $r = (e + q) / \lVert e + q \rVert$, the rotation that takes $e$ to $q$ is the product of two Householder
# reflections, $(I - 2 q q^\top)(I - 2 r r^\top)$, expanded:
#
# $$ R = I - 2 r r^\top + 2 q e^\top, \qquad \lambda = \frac{\lVert z_q \rVert}{\lVert z \rVert}, \qquad
# \tilde z_q = \lambda R z . $$
#
# Complete `rotation_trick(z, z_q)` for `z`, `z_q` of shape (N, D): the value `z_q`, no gradient to `z_q`, and the
# gradient `lambda R^T g` to `z`. Apply `R` to `z` with dot products, without building the (D, D) matrix. Rounding
# makes `lambda R z` differ from `z_q` in the last digits; you may correct the value as exercise 03's straight-through
# line does.

# %%
def rotation_trick(z, z_q):
    """z, z_q (N, D) -> (N, D) with the value z_q and the gradient lambda R^T g to z (R, lambda constants)."""
    ### BEGIN SOLUTION
    with torch.no_grad():
        e = z / z.norm(dim=1, keepdim=True)
        q = z_q / z_q.norm(dim=1, keepdim=True)
        r = (e + q) / (e + q).norm(dim=1, keepdim=True)
        lam = z_q.norm(dim=1, keepdim=True) / z.norm(dim=1, keepdim=True)
    rz = z - 2 * r * (r * z).sum(1, keepdim=True) + 2 * q * (e * z).sum(1, keepdim=True)
    out = lam * rz
    return out + (z_q - out).detach()
    ### END SOLUTION


# %%
from course_lib.checks.collapse import check_rotation_trick

check_rotation_trick(rotation_trick)
### BEGIN HIDDEN TESTS
check_rotation_trick(rotation_trick, seed=9, code_dim=5)
### END HIDDEN TESTS

# %% [markdown]
# `VectorQuantizer(..., grad="rotation")` uses the same function, `course_lib.quantize.rotation_trick`. What does it
# do from section 2's tiny start? Take the encoder outputs of section 3, their nearest tiny codes, and a random
# upstream gradient `g`. Expect the gradient reaching `z` to shrink by `lambda = |z_q| / |z|`, far below 1, and
# its angle to `z` to equal the angle of `g` to `z_q`: a rotation and a scaling, both fixed by the formula.

# %%
rotation_trick = solved_or_reference(rotation_trick, quantize.rotation_trick, "rotation_trick")

tiny_codes = VectorQuantizer(K, CFG.code_dim).codebook.detach().double()  # U(-1/K, 1/K), as in section 2
z_enc = z[:2048].detach().cpu().double().requires_grad_(True)
z_tiny = tiny_codes[nearest_code(z_enc, tiny_codes)]
g = torch.randn_like(z_tiny)
(grad_rot,) = torch.autograd.grad((rotation_trick(z_enc, z_tiny) * g).sum(), z_enc)
shrink = grad_rot.norm(dim=1) / g.norm(dim=1)
lam = z_tiny.norm(dim=1) / z_enc.detach().norm(dim=1)
angle_gap = (F.cosine_similarity(grad_rot, z_enc.detach()) - F.cosine_similarity(g, z_tiny)).abs().max()
print(f"gradient reaching z / straight-through gradient: median {shrink.median():.4f} (lambda: median "
      f"{lam.median():.4f}); largest difference of the two cosines: {angle_gap:.1e}")
claim(torch.allclose(shrink, lam, rtol=1e-6) and angle_gap < 1e-6,
      "the rotation trick rescales the gradient by lambda and keeps its angle", kind="demonstration");

# %% [markdown]
# So from a tiny start the rotation trick hands the encoder almost no reconstruction gradient; with codes as large
# as the encoder outputs, `lambda` is near 1 and only the direction changes.

# %% [markdown]
# ## 7. Comparing the cures
# Do the cures keep the codebook in use, and reconstruct better? A fair answer needs equal budgets, several seeds,
# two starting codebooks, held-out data and a **ceiling**: how many codes can any codebook of size `K` use on this
# data? Two deep dives run that comparison and print verdicts.

# %% [markdown]
# ## Deep dive: the cures side by side
# *Adds a fair comparison of ten cures against a k-means ceiling, over seeds and two starts. The core path resumes at
# the summary.*
#
# Every cure runs with the same model, data, optimiser, number of steps (`CFG.bench_steps`) and codebook size K,
# with `CFG.seeds` seeds (the seed fixes the network weights and data order, the same for every cure). It runs from
# **two starts**: the tiny codes of section 2 (`init="uniform"`) and a **data-scaled** start (`init="data"`: codes
# drawn from a Gaussian with the mean and spread of the first batch's encoder outputs). For cosine and factorised
# codes the norm is normalised away, so their "tiny" start is just random directions. k-means initialisation, FSQ
# and the combination set their own start, so they run once. Three numbers, all on **held-out** patches: the share of
# codes used, the perplexity over the whole evaluation set, and the NMSE. Restarts are switched off for the last
# `CFG.freeze_steps` steps, so "used" cannot count a code restarted just before the end.
#
# | cure | what changes | source |
# |---|---|---|
# | k-means init | codebook set by k-means of the first batch's encoder outputs (under `quick` a batch of 256 for 512 codes, so half the codes start as jittered copies) | Lancucki et al. 2020 |
# | EMA | codes are running means of their encoder outputs (notebook 04) | van den Oord et al. 2017, app. A.1 |
# | dead-code restarts | a code unused for `restart_dead_after` steps jumps to a random encoder output | Jukebox (Dhariwal et al. 2020); SoundStream (Zeghidour et al. 2021) |
# | cosine codes | z and codes l2-normalised before the lookup | Yu et al. 2021 |
# | factorised codes | lookup in a `lookup_dim`-dimensional projection (l2-normalised) | Yu et al. 2021 |
# | rotation trick | the encoder's gradient is rotated **and scaled** by `|e| / |z|` instead of copied | Fifty et al. 2024 |
# | affine codebook | codes = `scale * c + shift`, `scale` and `shift` shared by all codes and learned | Huh et al. 2023 |
# | codebook lr x10 | the codebook's learning rate is `CFG.codebook_lr_mult` times the rest | Lancucki et al. 2020 |
# | FSQ | no learned codebook: a fixed grid of prod(levels) = K points | Mentzer et al. 2023 |
# | EMA + k-means + restarts | the three together, as in SoundStream's quantizer | Zeghidour et al. 2021 |
#
# **The model.** This comparison uses a VQ-VAE whose encoder is a `p x p` convolution with stride `p` followed by 1x1
# convolutions, and whose decoder mirrors it: every `p x p` patch becomes one code, a 7x7 code map on 28x28 images for
# p = 4. Such a model is a small MLP applied to each flattened patch, which is how it is written below. Only its
# vanilla arm is cross-checked against the convolutional model of section 2 (both collapse); other cures may rank
# differently on a convolutional model, so read the table as a result about this bench.

# %%
import statistics
import time

import torch.nn as nn
from IPython.display import Markdown, display

from course_lib.evidence import paired_difference
from course_lib.quantize import EMAVectorQuantizer, FactorizedVectorQuantizer, RotationVectorQuantizer


def patchify(x, p):
    """(B, C, H, W) images -> (B * H/p * W/p, C * p * p) non-overlapping patches, one row per code position."""
    return F.unfold(x, p, stride=p).transpose(1, 2).reshape(-1, x.shape[1] * p * p)


testset = load_dataset(CFG.dataset, "test", n=CFG.n_test)
P_train = patchify(train.x, CFG.patch).to(device)
P_test = patchify(testset.x, CFG.patch).to(device)
P_curve = P_test[: CFG.n_curve]
patch_var = float(P_train.var())
print(f"{len(P_train):,} training patches and {len(P_test):,} held-out patches of {P_train.shape[1]} values")


class PatchVQVAE(nn.Module):
    """Conv p x p / stride p encoder + 1x1 convs, quantizer, mirrored decoder, written as MLPs on patches."""

    def __init__(self, patch_dim, hidden, code_dim):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(patch_dim, hidden), nn.ReLU(), nn.Linear(hidden, code_dim))
        self.decoder = nn.Sequential(nn.Linear(code_dim, hidden), nn.ReLU(), nn.Linear(hidden, patch_dim))
        self.quantizer = None  # set by train_patch_vqvae

    def forward(self, x):  # x: (N, patch_dim)
        out = self.quantizer(self.encoder(x))  # z: (N, code_dim)
        return self.decoder(out.z_q), out


@torch.no_grad()
def usage_and_error(model, x, chunk=4096):
    """Codes used (fraction of K), perplexity over all of x, NMSE: in eval mode (no EMA update, no restart)."""
    model.eval()
    idx, sq = [], 0.0
    for i in range(0, len(x), chunk):
        x_hat, out = model(x[i:i + chunk])
        idx.append(out.indices)
        sq += float((x_hat - x[i:i + chunk]).pow(2).sum())
    model.train()
    idx, k = torch.cat(idx), model.quantizer.num_codes
    return dict(used=metrics.codes_used(idx, k) / k, perplexity=metrics.perplexity(idx, k),
                nmse=sq / x.numel() / patch_var, counts=metrics.code_histogram(idx, k))


def train_patch_vqvae(make_quantizer, seed, codebook_lr_mult=1.0, curve=False):
    """Train one patch VQ-VAE for CFG.bench_steps steps; held-out usage, perplexity, NMSE (+ a usage curve and
    the per-code counts behind it, `snapshots`)."""
    torch.manual_seed(seed)
    model = PatchVQVAE(P_train.shape[1], CFG.bench_hidden, CFG.bench_code_dim)
    torch.manual_seed(10_000 + seed)  # the same network weights for every quantizer of this seed
    model.quantizer = q = make_quantizer()
    model.to(device)
    is_code = lambda name: name.startswith("quantizer.") and "project" not in name  # codes (and affine map)
    groups = [{"params": [p for n, p in model.named_parameters() if not is_code(n)]},
              {"params": [p for n, p in model.named_parameters() if is_code(n)], "lr": CFG.lr * codebook_lr_mult}]
    optimizer = torch.optim.Adam(groups, lr=CFG.lr, foreach=True)  # the same update, fewer calls: faster on a CPU
    if hasattr(q, "attach_optimizer"):
        q.attach_optimizer(optimizer)  # a restarted row gets zeroed Adam moments (the step count stays shared)
    gen = torch.Generator().manual_seed(seed)
    points, snapshots = [], []

    def record(step):
        m = usage_and_error(model, P_curve)
        points.append((step, m["used"]))
        snapshots.append((step, m["counts"]))

    if curve:
        record(0)
    for step in range(1, CFG.bench_steps + 1):
        if step > CFG.bench_steps - CFG.freeze_steps and getattr(q, "restart_dead_after", None):
            q.restart_dead_after = None  # no restarts in the last steps before the evaluation
        x = P_train[torch.randint(len(P_train), (CFG.bench_batch,), generator=gen).to(device)]
        x_hat, out = model(x)
        loss = F.mse_loss(x_hat, x) + out.loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if curve and step % CFG.bench_eval_every == 0:
            record(step)
    return {**usage_and_error(model, P_test), "curve": points, "snapshots": snapshots}


# %% [markdown]
# **The ceiling.** How many of `K` codes can a codebook use on these held-out patches? k-means on the raw training
# patches (`CFG.ceiling_patches` of them, `CFG.ceiling_iters` Lloyd iterations) gives a codebook fitted to the data
# itself. Its held-out usage is the practical ceiling a cure is judged against: many patches are blank or nearly so,
# and a large codebook can have more codes than the data has distinct patches. Its perplexity and NMSE are reference
# points, not bounds: k-means minimises distortion, and a codebook can spread its usage more evenly.

# %%
def kmeans_ceiling(k):
    """Held-out usage, perplexity and NMSE of k-means centres fitted to raw training patches (nearest centre)."""
    pick = torch.randperm(len(P_train), generator=torch.Generator().manual_seed(0))[: CFG.ceiling_patches]
    centres = quantize.kmeans(P_train[pick.to(device)], k, iters=CFG.ceiling_iters, seed=0).codebook
    idx = torch.cat([nearest_code(P_test[i:i + 4096], centres) for i in range(0, len(P_test), 4096)])
    return dict(used=metrics.codes_used(idx, k) / k, perplexity=metrics.perplexity(idx, k),
                nmse=float((centres[idx] - P_test).pow(2).mean()) / patch_var)


ceiling = {K: kmeans_ceiling(K)}
print(f"k-means ceiling at K = {K}: {100 * ceiling[K]['used']:.1f}% of codes used on held-out patches, perplexity "
      f"{ceiling[K]['perplexity']:.0f}, NMSE {ceiling[K]['nmse']:.3f}")

# %% [markdown]
# The arms, as functions of the codebook size and the start. The `FSQ` levels for other sizes follow Table 1 of
# the FSQ paper where it has one (about 2^8, 2^10, 2^12 codes); (4, 4, 4) for 64 codes and (8, 8, 8) for 512 are
# our choices.

# %%
D = CFG.bench_code_dim
FSQ_LEVELS = {64: (4, 4, 4), 256: (8, 6, 5), 512: (8, 8, 8), 1024: (8, 5, 5, 5), 4096: (7, 5, 5, 5, 5)}
FSQ_LEVELS[K] = tuple(CFG.fsq_levels)
OWN_START = ("k-means init", "FSQ", "EMA + k-means + restarts")  # these set their own codebook start


def make_arm(name, k, init):
    """(quantizer factory, codebook learning-rate multiplier) of one arm with k codes, from start `init`."""
    n = CFG.restart_dead_after
    arms = {
        "vanilla": lambda: VectorQuantizer(k, D, init=init),
        "k-means init": lambda: VectorQuantizer(k, D, kmeans_init=True),
        "EMA": lambda: EMAVectorQuantizer(k, D, decay=CFG.decay, init=init),
        "dead-code restarts": lambda: VectorQuantizer(k, D, init=init, restart_dead_after=n),
        "cosine codes": lambda: VectorQuantizer(k, D, init=init, cosine=True),
        "factorised codes": lambda: FactorizedVectorQuantizer(k, D, lookup_dim=CFG.lookup_dim, init=init),
        "rotation trick": lambda: RotationVectorQuantizer(k, D, init=init),
        "affine codebook": lambda: VectorQuantizer(k, D, init=init, affine=True),
        f"codebook lr x{CFG.codebook_lr_mult}": lambda: VectorQuantizer(k, D, init=init),
        "FSQ": lambda: FSQ(FSQ_LEVELS[k], code_dim=D),
        "EMA + k-means + restarts": lambda: EMAVectorQuantizer(k, D, decay=CFG.decay, kmeans_init=True,
                                                               restart_dead_after=n),
    }
    return arms[name], (CFG.codebook_lr_mult if name.startswith("codebook lr") else 1.0)


ARMS = ["vanilla", "k-means init", "EMA", "dead-code restarts", "cosine codes", "factorised codes", "rotation trick",
        "affine codebook", f"codebook lr x{CFG.codebook_lr_mult}", "FSQ", "EMA + k-means + restarts"]
STARTS = {"tiny": "uniform", "data-scaled": "data"}

# %% [markdown]
# Train every arm (the long cell of this notebook).

# %%
runs = {}  # (arm, start) -> list of per-seed results
start_time = time.perf_counter()
for arm in ARMS:
    for start, init in STARTS.items():
        if arm in OWN_START and start != "tiny":
            continue
        label = "own" if arm in OWN_START else start
        make, lr_mult = make_arm(arm, K, init)
        runs[arm, label] = [train_patch_vqvae(make, seed, lr_mult, curve=True) for seed in range(CFG.seeds)]
print(f"{sum(len(v) for v in runs.values())} runs of {CFG.bench_steps} steps in {time.perf_counter() - start_time:.0f} s")

# %% [markdown]
# **How each row is judged.** Against vanilla VQ from the same start and the same seeds: a paired t-test on the
# per-seed differences in usage (`course_lib.evidence.paired_difference`, `CFG.seeds` - 1 degrees of freedom,
# two-sided, 5%) says "better", "worse" or "no clear difference". A better cure is then graded against the ceiling:
# "near the ceiling" at 90% or more of k-means' usage, else "helps" with its share of the ceiling. Expect the
# restarts to reach the ceiling and most other cures to help little in so few steps.

# %%
def stats(results, key):
    values = [r[key] for r in results]
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0), min(values)


def paired(arm, start, key="used"):
    """Paired t-test of arm - vanilla (same start, same seeds) on `key`."""
    base = runs["vanilla", "tiny" if start == "own" else start]
    return paired_difference([r[key] for r in runs[arm, start]], [b[key] for b in base], unit="seeds")


def judge(arm, start):
    if arm == "vanilla":
        return "(the reference)"
    t = paired(arm, start)
    share = summary[arm, start]["used"] / ceiling[K]["used"]
    if not t.significant():
        return f"no clear difference from vanilla ({100 * t.mean_diff:+.0f} points, p = {t.p:.2f})"
    if t.mean_diff < 0:
        return f"worse than vanilla ({100 * t.mean_diff:+.0f} points, p = {t.p:.2g})"
    return (f"near the ceiling ({100 * share:.0f}% of k-means' usage)" if share >= 0.9 else
            f"helps: {100 * share:.0f}% of k-means' usage")


summary = {}
for (arm, start), results in runs.items():
    (u, u_sd, u_min), (p, p_sd, _), (e, e_sd, _) = (stats(results, k) for k in ("used", "perplexity", "nmse"))
    summary[arm, start] = dict(used=u, used_sd=u_sd, used_min=u_min, perplexity=p, perplexity_sd=p_sd, nmse=e,
                               nmse_sd=e_sd)
ceil = ceiling[K]
rows = [f"| k-means on the data (the ceiling) | - | {100 * ceil['used']:.1f} | - | {ceil['perplexity']:.0f} | "
        f"{ceil['nmse']:.3f} | - |"]
rows += [f"| {arm} | {start} | {100 * s['used']:.1f} ± {100 * s['used_sd']:.1f} | {100 * s['used_min']:.1f} | "
         f"{s['perplexity']:.0f} ± {s['perplexity_sd']:.0f} | {s['nmse']:.3f} ± {s['nmse_sd']:.3f} | {judge(arm, start)} |"
         for (arm, start), s in summary.items()]
display(Markdown(f"**Profile `{CFG.profile}`**: K = {K}, {CFG.bench_steps} steps per run, {CFG.seeds} seeds (mean ± "
                 f"sd), usage on {len(P_test):,} held-out patches (restarts frozen for the last {CFG.freeze_steps} "
                 "steps).\n\n"
                 "| quantizer | start | codes used (%) | worst seed (%) | perplexity | NMSE | verdict |\n"
                 "|---|---|---:|---:|---:|---:|---|\n" + "\n".join(rows)))

# %% [markdown]
# The same table as a picture: one row per cure and start, sorted by usage; each seed is a dot and the bar is the
# mean. The dashed line is the k-means ceiling, the dotted one vanilla VQ from the tiny start.

# %% tags=["fig-cures"]
order = sorted(summary, key=lambda a: summary[a]["used"])
labels = [f"{arm} ({start})" for arm, start in order]
highlight = {"vanilla": "C3", "dead-code restarts": "C2", "EMA + k-means + restarts": "C0", "FSQ": "C1"}
fig, axes = plt.subplots(1, 2, figsize=(12, 0.32 * len(order) + 1.2), sharey=True)
for ax, key, scale in ((axes[0], "used", 100), (axes[1], "nmse", 1)):
    for y, a in enumerate(order):
        c = highlight.get(a[0], "0.45")
        ax.barh(y, scale * summary[a][key], color=c, alpha=0.25, height=0.7)
        ax.plot([scale * r[key] for r in runs[a]], [y] * len(runs[a]), "o", c=c, ms=4)
    ax.axvline(scale * ceiling[K][key], c="k", ls="--", lw=1)
    ax.axvline(scale * summary["vanilla", "tiny"][key], c="C3", ls=":", lw=1)
axes[0].set_yticks(range(len(order))); axes[0].set_yticklabels(labels, fontsize=8)
axes[0].set_xlabel(f"codes used on held-out patches (% of K = {K}); dashed: k-means ceiling")
axes[1].set_xlabel("NMSE on held-out patches (lower is better); dashed: k-means")
fig.suptitle(f"cures at equal steps ({CFG.bench_steps}) and K = {K}: {CFG.seeds} seeds each")
plt.tight_layout(); plt.show()

# %% [markdown]
# Usage over training, mean over the seeds, one panel per start. Vanilla, the restarts, FSQ and the combination are
# in colour; every other cure is grey. The curves use a fixed held-out subset of `CFG.n_curve` patches, so their
# levels sit below the table's; they show the shape over time.

# %% tags=["fig-usage-curves"]
fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
for ax, start in zip(axes, ("tiny", "data-scaled")):
    for arm in ARMS:
        key = (arm, start) if (arm, start) in runs else (arm, "own")
        curves = np.array([[u for _, u in r["curve"]] for r in runs[key]])
        steps_c = [s for s, _ in runs[key][0]["curve"]]
        c = highlight.get(arm)
        ax.plot(steps_c, 100 * curves.mean(0), color=c or "0.75", lw=2 if c else 1, zorder=3 if c else 1,
                ls="--" if key[1] == "own" else "-", label=arm if c else None)
    ax.axhline(90, c="gray", lw=0.8, ls="-.")
    if CFG.freeze_steps:
        ax.axvline(CFG.bench_steps - CFG.freeze_steps, c="gray", lw=1, ls=":")
    ax.set_yscale("log"); ax.set_xlabel("training step"); ax.set_title(f"{start} start (dashed: own start)")
axes[0].set_ylabel(f"codes used (% of {K}, log scale)")
axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="grey: the other cures")
fig.suptitle("usage during training; dash-dot: 90%; dotted: restarts frozen from here on")
plt.tight_layout(); plt.show()

# %% [markdown]
# **Explore: scrub through training.** One run at a time (seed 0): how often each code was chosen on the curve
# patches at a step, sorted, on a log scale (green bars: codes dead at the previous measurement and live now), and
# the live-code count over training. The first entry is the convolutional VQ-VAE of section 2.

# %%
from functools import partial

from course_lib.explorers import Choice, IntSlider, explorer
from course_lib.explorers.training_scrub import draw_training_scrub, usage_changes

scrub_runs = {"conv VQ-VAE of section 2 (vanilla)": [(s, metrics.code_histogram(m["indices"], K))
                                                      for s, m in vanilla_curve]}
scrub_runs.update({f"{arm} ({start} start)": results[0]["snapshots"] for (arm, start), results in runs.items()})
explorer(partial(draw_training_scrub, snapshots=scrub_runs),
         step=IntSlider(0, max(CFG.steps, CFG.bench_steps), CFG.bench_eval_every,
                        step=math.gcd(CFG.eval_every, CFG.bench_eval_every), label="training step"),
         run=Choice(list(scrub_runs), value="dead-code restarts (tiny start)", label="run"));

# %% [markdown]
# What the snapshots say, counted rather than seen (seed 0 of each run). Expect restarts to revive codes by the
# hundred and vanilla VQ almost none:

# %%
changes = {name: usage_changes(snaps) for name, snaps in scrub_runs.items()}
van_c, rst_c = changes["vanilla (tiny start)"], changes["dead-code restarts (tiny start)"]
van_revived, rst_revived = sum(c["revived"] for c in van_c), sum(c["revived"] for c in rst_c)
print(f"vanilla (tiny start): live codes {' -> '.join(str(c['live']) for c in van_c)}; {van_revived} revivals")
print(f"dead-code restarts (tiny start): live codes {' -> '.join(str(c['live']) for c in rst_c)}; {rst_revived} revivals")
print(verdict(rst_revived > 5 * max(1, van_revived),
              f"Restarts revive codes by the hundred ({rst_revived} revivals) where vanilla VQ revives almost none "
              f"({van_revived}): a code that vanilla training leaves dead stays dead.",
              f"Restarts revived {rst_revived} codes here, not clearly more than vanilla's {van_revived}."))

# %% [markdown]
# **Claims: the course's quality bar.** Vanilla VQ from the tiny start leaves most codes dead (true from its first
# steps: a demonstration). Dead-code restarts, alone and from both starts, keep at least 90% of the codes in use on
# every seed, on held-out data with restarts frozen at the end. With more codes in use they also reconstruct better,
# paired over the seeds.

# %%
van_tiny, van_data = summary["vanilla", "tiny"], summary["vanilla", "data-scaled"]
restarts = [summary["dead-code restarts", s] for s in ("tiny", "data-scaled")]
claim(van_tiny["used"] < 0.5, f"vanilla (tiny start) leaves most codes dead: {100 * van_tiny['used']:.1f}% used "
      f"(± {100 * van_tiny['used_sd']:.1f})", kind="demonstration")
claim(min(r["used_min"] for r in restarts) >= 0.9,
      f"restarts keep >= 90% of codes in use on every seed: worst seeds {[round(100 * r['used_min'], 1) for r in restarts]}%")
gain = paired("dead-code restarts", "tiny", "nmse")
claim(gain.high < 0, f"restarts reconstruct better than vanilla (tiny start): NMSE difference {gain.mean_diff:+.3f} "
      f"[{gain.low:+.3f}, {gain.high:+.3f}] ({gain.dof} degrees of freedom)")
start_gain = paired_difference([r["used"] for r in runs["vanilla", "data-scaled"]],
                               [r["used"] for r in runs["vanilla", "tiny"]], unit="seeds")
print(verdict(start_gain.significant() and start_gain.mean_diff > 0,
              f"A data-scaled start helps vanilla VQ: {100 * van_data['used']:.0f}% of codes used vs "
              f"{100 * van_tiny['used']:.0f}% from tiny codes" + ("; most codes still die." if van_data["used"] < 0.5 else "."),
              f"The start barely changes vanilla VQ: {100 * van_tiny['used']:.0f}% (tiny) vs "
              f"{100 * van_data['used']:.0f}% (data-scaled) of codes used."))

# %% [markdown]
# **Reading the table.** Restarts keep moving codes to where the data is *now*. k-means initialisation moves every
# code once, onto the first batch's outputs, and the encoder moves on as it learns. The EMA update moves unchosen
# codes too: they decay towards the origin within about `1 / (1 - decay)` steps (here `decay = CFG.decay`). From a
# data-scaled start EMA therefore drags its unused codes away from the data, while vanilla VQ leaves them near it.
# The rotation trick scales the encoder's gradient by `|e| / |z|`: from the tiny start that factor is about 0.004, so
# the encoder gets almost no reconstruction gradient. Not tried here: SimVQ (Zhu et al. 2024; codes are a frozen
# random codebook times one learned matrix, the full-matrix version of the affine row) and Lancucki et al.'s batch
# normalisation before the quantizer.

# %% [markdown]
# ## Deep dive: usage against codebook size
# *Adds how usage changes as K grows, for vanilla VQ, the best cure of the table and FSQ, against the k-means
# ceiling at each size. The core path resumes at the summary.*
#
# The FSQ paper (Mentzer et al. 2023) compares codebook usage of VQ and FSQ across codebook sizes: VQ's usage falls
# for large codebooks while FSQ stays near full use. Here is the same measurement on this bench, over the first
# `CFG.sweep_seeds` seeds of the table, with the k-means ceiling at each size. The best cure is the one with the
# highest mean usage in the table, ties broken by NMSE.

# %%
candidates = [(arm, start) for (arm, start) in summary if arm not in ("vanilla", "FSQ")]
best_arm, best_start = max(candidates, key=lambda a: (summary[a]["used"], -summary[a]["nmse"]))
print(f"best cure by mean usage: {best_arm} ({best_start} start)")
sweep_arms = [("vanilla", "data-scaled"), (best_arm, best_start), ("FSQ", "own")]
sweep = {a: {} for a in sweep_arms}
start_time = time.perf_counter()
for arm, start in sweep_arms:
    for k in sorted(set(CFG.sweep_codes) | {K}):
        if k == K:
            results = runs[arm, start][: CFG.sweep_seeds]
        else:
            make, lr_mult = make_arm(arm, k, STARTS.get(start, "uniform"))
            results = [train_patch_vqvae(make, seed, lr_mult) for seed in range(CFG.sweep_seeds)]
        n_codes = math.prod(FSQ_LEVELS[k]) if arm == "FSQ" else k
        sweep[arm, start][n_codes] = stats(results, "used")
for k in sorted(set(CFG.sweep_codes) - {K}):
    ceiling[k] = kmeans_ceiling(k)
print(f"sweep: {time.perf_counter() - start_time:.0f} s")

# %% tags=["fig-usage-vs-k"]
fig, ax = plt.subplots(figsize=(7, 4))
for arm, start in sweep_arms:
    ks = sorted(sweep[arm, start])
    mean = np.array([sweep[arm, start][k][0] for k in ks]); sd = np.array([sweep[arm, start][k][1] for k in ks])
    ax.errorbar(ks, 100 * mean, yerr=100 * sd, fmt="o-", capsize=3, label=f"{arm} ({start} start)")
ks = sorted(ceiling)
ax.plot(ks, [100 * ceiling[k]["used"] for k in ks], "k--", label="k-means on the data (ceiling)")
ax.set_xscale("log", base=2); ax.set_xlabel("codebook size (number of codes)")
ax.set_ylabel("codes used on held-out data (%)"); ax.set_ylim(0, 105)
ax.set_title(f"usage vs codebook size, mean ± sd over {CFG.sweep_seeds} seeds, {CFG.bench_steps} steps")
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0)); plt.tight_layout(); plt.show()

# %% [markdown]
# Expect vanilla VQ's share to fall as K grows, and the ceiling to fall too at the largest size: this data does not
# have thousands of distinct 4x4 patches to fill a large codebook.

# %%
v_sweep, f_sweep, b_sweep = sweep["vanilla", "data-scaled"], sweep["FSQ", "own"], sweep[best_arm, best_start]
v_small, v_large = v_sweep[min(v_sweep)], v_sweep[max(v_sweep)]
fsq_sizes = sorted(f_sweep)
f_large, b_large, c_large = f_sweep[fsq_sizes[-1]], b_sweep[max(b_sweep)], ceiling[max(ceiling)]
print(verdict(v_large[0] < v_small[0] - v_small[1] - v_large[1],
              f"Vanilla VQ uses a smaller share of a larger codebook: {100 * v_small[0]:.0f}% at {min(v_sweep)} codes, "
              f"{100 * v_large[0]:.0f}% at {max(v_sweep)}.",
              f"Vanilla VQ's share of used codes does not clearly fall with K here ({100 * v_small[0]:.0f}% -> "
              f"{100 * v_large[0]:.0f}%)."))
print(verdict(f_large[0] > v_large[0] + f_large[1] + v_large[1],
              f"At the largest size FSQ uses more of its grid than vanilla VQ of its codebook ({100 * f_large[0]:.0f}% "
              f"of {fsq_sizes[-1]} vs {100 * v_large[0]:.0f}%): that part of the FSQ paper's finding is reproduced.",
              f"At the largest size FSQ does not use more of its grid than vanilla VQ ({100 * f_large[0]:.0f}% vs "
              f"{100 * v_large[0]:.0f}%)."))
print(verdict(f_large[0] >= 0.9 * c_large["used"],
              f"FSQ stays near the ceiling at {fsq_sizes[-1]} codes ({100 * f_large[0]:.0f}% vs k-means' "
              f"{100 * c_large['used']:.0f}% at {max(ceiling)}), as in the paper.",
              f"The paper's near-full FSQ usage is NOT reproduced: {100 * f_large[0]:.0f}% of {fsq_sizes[-1]} codes, "
              f"against k-means' {100 * c_large['used']:.0f}% at {max(ceiling)}, after {CFG.bench_steps} steps on "
              "4x4 patches."))
print(verdict(b_large[0] >= 0.9 * c_large["used"],
              f"{best_arm} stays near the ceiling at {max(b_sweep)} codes ({100 * b_large[0]:.0f}% vs "
              f"{100 * c_large['used']:.0f}%).",
              f"{best_arm} falls to {100 * b_large[0]:.0f}% at {max(b_sweep)} codes (k-means: "
              f"{100 * c_large['used']:.0f}%): with {CFG.bench_batch} vectors a batch, a step can restart at most that "
              "many codes, and a code must also win some held-out patches to count."))

# %% [markdown]
# ## Summary
# - Collapse is easy to reproduce: a large codebook initialised far from the encoder outputs leaves most codes dead,
#   with a handful taking almost all positions.
# - Diagnose it with usage over a data set (codes used, perplexity) and with the distance from each code to the
#   nearest encoder output: dead codes are stranded away from the data.
# - A restart moves dead codes onto distinct random encoder outputs; FSQ rounds bounded channels with a
#   straight-through gradient and has no codebook to strand.
# - The rotation trick rotates and rescales the gradient by the map from `z` to `z_q`: from tiny codes it starves the
#   encoder.
# - Judge a cure with equal budgets, paired seeds, two starts, held-out usage and a ceiling: k-means on the data
#   shows how many codes this data can use at all.
#
# ## Exercises
# 1-2. *(checked above)* Restarting dead codes; FSQ rounding with the straight-through estimator; and, in section
#    6, the rotation trick.
# 3. In the cures deep dive, remove `attach_optimizer` from `train_patch_vqvae`: does keeping the dead rows' Adam
#    moments change the restarts' usage or NMSE beyond the spread over seeds?
# 4. Combine cosine codes with k-means initialisation (`VectorQuantizer(K, D, cosine=True, kmeans_init=True)`).
#    Does the cosine cure work better from a good start?
# 5. Double `bench_steps` in `CFG` (keep `freeze_steps`): which cures reach the ceiling, and does the ranking of the
#    codebook-size deep dive hold?
# 6. Add SimVQ: codes `C @ W` with a frozen random `C` (K, D) and a learned `W` (D, D). Where does it land in the
#    table?

# %% [markdown]
# ## Further reading
# - A. van den Oord, O. Vinyals, K. Kavukcuoglu (2017). *Neural Discrete Representation Learning*. arXiv:1711.00937
#   (appendix A.1: EMA codebook updates).
# - DeepMind Sonnet, `sonnet/src/nets/vqvae.py`: `VectorQuantizerEMA` (Laplace smoothing of the counts; the
#   update after the lookup).
# - A. Razavi, A. van den Oord, O. Vinyals (2019). *Generating Diverse High-Fidelity Images with VQ-VAE-2*.
#   arXiv:1906.00446.
# - A. Lancucki et al. (2020). *Robust Training of Vector Quantized Bottleneck Models*. arXiv:2005.08520
#   (data-dependent initialisation, a larger codebook learning rate, periodic re-initialisation by k-means).
# - P. Dhariwal et al. (2020). *Jukebox: A Generative Model for Music*. arXiv:2005.00341 (random restarts of
#   codes whose average usage falls below a threshold: the origin of the restart rule).
# - N. Zeghidour et al. (2021). *SoundStream: An End-to-End Neural Audio Codec*. arXiv:2107.03312 (section III-C:
#   k-means initialisation on the first batch; codes unused for several batches replaced by random inputs, "as
#   proposed in" Jukebox).
# - J. Yu et al. (2021). *Vector-quantized Image Modeling with Improved VQGAN*. arXiv:2110.04627 (factorised,
#   l2-normalised codes: 32-d or 8-d lookups).
# - L. Yu et al. (2023). *Language Model Beats Diffusion: Tokenizer is Key to Visual Generation* (MAGVIT-v2).
#   arXiv:2310.05737 (lookup-free quantization, FSQ's binary cousin).
# - Y. Zhu, B. Li, Y. Xin, Z. Xia, L. Xu (2024). *Addressing Representation Collapse in Vector Quantized Models with
#   One Linear Layer* (SimVQ). arXiv:2411.02038.
# - M. Huh, B. Cheung, P. Agrawal, P. Isola (2023). *Straightening Out the Straight-Through Estimator: Overcoming
#   Optimization Challenges in Vector Quantized Networks*. ICML 2023, arXiv:2305.08842 (affine reparameterisation).
# - C. Fifty et al. (2024). *Restructuring Vector Quantization with the Rotation Trick*. arXiv:2410.06424.
# - F. Mentzer, D. Minnen, E. Agustsson, M. Tschannen (2023). *Finite Scalar Quantization: VQ-VAE Made Simple*.
#   arXiv:2309.15505.
