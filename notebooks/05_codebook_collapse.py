# %% [markdown]
# # 05 · Codebook collapse: reproduce it, diagnose it, cure it
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-to-vqgan/course/blob/v0.2.0/notebooks/student/05_codebook_collapse.ipynb)
#
# **Learning objectives.** After this notebook you can
# - make a VQ-VAE collapse on purpose (large codebook, poor initialisation) and see it in numbers: codes used,
#   perplexity and dead-code fraction against training steps;
# - diagnose collapse by the distance between the encoder outputs and the codes;
# - write the three core pieces of the cures yourself: one EMA codebook update (with Laplace smoothing), a
#   dead-code restart, and FSQ rounding with a straight-through gradient;
# - run a fair comparison of the cures (k-means initialisation, EMA, dead-code restarts, cosine codes,
#   low-dimensional factorised codes, the rotation trick, an affine codebook, a larger codebook learning rate, FSQ
#   and a combination) at equal steps and codebook size, over several seeds and two initialisations, and read it
#   with its spread; and see how usage changes with the codebook size K.
#
# **Prerequisites.** Notebook 04 (VQ-VAE, perplexity, codes used over a data set); notebook 02 (k-means).
#
# **Estimated time.** Core path about 85 min (estimated from this notebook by `make stats`). Machine: about 1 min
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
# Two kinds of model are trained here. Sections 2-3 reproduce collapse in a convolutional VQ-VAE like notebook 04's
# (under `quick`: a 16-channel encoder on 28x28 Fashion-MNIST, 7x7 code maps, about a hundred steps). The
# comparison of section 7 needs about seventy training runs under `quick`, ninety under `standard` (every cure, two
# initialisations, three seeds, and a sweep over the codebook size), so it uses a smaller VQ-VAE that sees one 4x4
# patch at a time (section 7 says why that is still a VQ-VAE). Every setting below is one column per profile.

# %%
from course_lib.profiles import settings

CFG = settings(
    quick=dict(dataset="fashion-mnist", n_train=2000, n_eval=512, n_test=1000, steps=120, batch_size=64, lr=3e-3,
               hidden=16, res_blocks=0, num_codes=512, code_dim=16, eval_every=40,
               # sections 7-8, the table of cures and the K sweep (patch VQ-VAE, ~70 short runs)
               seeds=3, patch=4, bench_steps=200, bench_batch=256, bench_hidden=64, bench_code_dim=16,
               lookup_dim=4, fsq_levels=(8, 8, 8), decay=0.9, restart_dead_after=10, codebook_lr_mult=10,
               freeze_steps=40, bench_eval_every=40, n_curve=2048, sweep_codes=(64, 4096), sweep_seeds=2),
    standard=dict(dataset="cifar10", n_train=20000, n_eval=2048, n_test=10000, steps=3000, batch_size=128, lr=1e-3,
                  hidden=64, res_blocks=1, num_codes=512, code_dim=32, eval_every=100,
                  seeds=3, patch=4, bench_steps=3000, bench_batch=1024, bench_hidden=256, bench_code_dim=32,
                  lookup_dim=8, fsq_levels=(8, 8, 8), decay=0.99, restart_dead_after=50, codebook_lr_mult=10,
                  freeze_steps=500, bench_eval_every=250, n_curve=16384, sweep_codes=(64, 256, 1024, 4096),
                  sweep_seeds=3),
    full=dict(steps=10_000, hidden=128, res_blocks=2, bench_steps=10_000, freeze_steps=1000, bench_eval_every=500),
    # smoke cuts the step counts to 3: these settings are tied to them
    smoke=dict(eval_every=1, freeze_steps=1, bench_eval_every=1),
)
CFG

# %%
import math
import statistics
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from IPython.display import Markdown, display

from course_lib import metrics, quantize
from course_lib.checks import solved_or_reference
from course_lib.claims import claim, verdict
from course_lib.data import load_dataset, make_loader
from course_lib.models import VQVAE
from course_lib.quantize import (FSQ, EMAVectorQuantizer, FactorizedVectorQuantizer, RotationVectorQuantizer,
                                 VectorQuantizer, nearest_code, squared_distances)
from course_lib.train import fit

device = ENV.device
K = CFG.num_codes
assert math.prod(CFG.fsq_levels) == K, "FSQ must have the same number of codes as the other quantizers"

# %% [markdown]
# ## 1. Data, model and one training function for every quantizer
# `train_vqvae(quantizer)` builds the same small VQ-VAE around any quantizer, trains it for `CFG.steps` steps and,
# every `CFG.eval_every` steps, measures code usage on a fixed evaluation set (codes used, perplexity, dead
# fraction over `CFG.n_eval` held-out images, not per batch; see notebook 04).

# %%
train = load_dataset(CFG.dataset, "train", n=CFG.n_train)
evalset = load_dataset(CFG.dataset, "test", n=CFG.n_eval)
print(train.display_name); print(evalset.display_name)
C, H, W = train.x.shape[1:]
data_variance = float(train.x.var())
x_eval = evalset.x.to(device)


@torch.no_grad()
def evaluate(model):
    """Code usage and reconstruction error of `model` on the evaluation set."""
    was_training = model.training
    model.eval()
    out = model(x_eval)
    model.train(was_training)
    idx = out.vq.indices
    return dict(used=metrics.codes_used(idx, K) / K, perplexity=metrics.perplexity(idx, K),
                dead=metrics.dead_code_fraction(idx, K), mse=float(F.mse_loss(out.x_hat, x_eval)),
                indices=idx.cpu(), z_e=out.z_e)


def train_vqvae(quantizer, name, seed=ENV.seed):
    """Train a VQ-VAE with `quantizer` for CFG.steps steps; return the model, a usage curve and final metrics."""
    torch.manual_seed(seed)
    model = VQVAE(quantizer, in_channels=C, hidden=CFG.hidden, downsamples=2, res_blocks=CFG.res_blocks).to(device)
    loader = make_loader(train, batch_size=CFG.batch_size, shuffle=True, seed=seed, device=device)
    optimizer = torch.optim.Adam(model.parameters(), lr=CFG.lr)
    scalars = lambda m: {k: m[k] for k in ("used", "perplexity", "dead", "mse")}
    curve, snapshots = [], []  # usage numbers, and how often each code was chosen (for the explorer of section 7)

    def record(step):
        m = evaluate(model)
        curve.append((step, scalars(m)))
        snapshots.append((step, metrics.code_histogram(m["indices"], K)))

    record(0)

    def loss_fn(batch, step):
        x, _ = batch
        out = model(x)
        rec = F.mse_loss(out.x_hat, x)
        return {"loss": rec + out.vq.loss, "rec": rec}

    def callback(step, losses, history):
        record(step)

    start = time.perf_counter()
    fit(loss_fn, optimizer, loader, steps=CFG.steps, model=model, log_every=CFG.eval_every, callback=callback,
        desc=name, progress=False)
    final = evaluate(model)
    final["seconds"] = time.perf_counter() - start
    final["snapshots"] = snapshots
    return model, curve, final


# %% [markdown]
# ## 2. Collapse, on purpose
# The vanilla quantizer of notebook 04 (codebook trained by the codebook loss, straight-through gradients) with two
# choices that are common in VQ-VAE code and bad together:
# * a **large codebook**, K = 512;
# * codes initialised **tiny**, uniform in (-1/K, 1/K), while the encoder's outputs have norms of order 1.
#
# A code gets a gradient from the codebook loss only when some encoder output chose it. At the start every encoder
# output is far from every code, and a handful of codes happen to be the nearest for everything; they move towards
# the data, become even nearer, and win again. The others never receive a gradient: they are **dead**.

# %%
vanilla_model, vanilla_curve, vanilla = train_vqvae(VectorQuantizer(K, CFG.code_dim), "vanilla")
print(f"vanilla after {CFG.steps} steps: {vanilla['used']:.1%} of codes used, perplexity {vanilla['perplexity']:.1f}, "
      f"{vanilla['dead']:.1%} dead, MSE {vanilla['mse']:.4f}")

# %%
steps_axis = [s for s, _ in vanilla_curve]
fig, ax = plt.subplots(1, 3, figsize=(12, 3))
ax[0].plot(steps_axis, [100 * m["used"] for _, m in vanilla_curve], "o-"); ax[0].set_ylabel("codes used (%)")
ax[1].plot(steps_axis, [m["perplexity"] for _, m in vanilla_curve], "o-"); ax[1].set_ylabel("perplexity")
ax[2].plot(steps_axis, [100 * m["dead"] for _, m in vanilla_curve], "o-"); ax[2].set_ylabel("dead codes (%)")
for a in ax:
    a.set_xlabel("step")
fig.suptitle(f"vanilla quantizer, K = {K}, codes initialised in (-1/K, 1/K): usage on {CFG.n_eval} held-out images")
plt.tight_layout(); plt.show()

counts = metrics.code_histogram(vanilla["indices"], K)
top = torch.sort(counts, descending=True).values
fig, ax = plt.subplots(figsize=(9, 2.6))
ax.bar(np.arange(K), top.numpy(), width=1.0)
ax.set_xlabel("code (sorted by use)"); ax.set_ylabel("times chosen")
n_dead = int((top == 0).sum())
if n_dead:
    ax.axvspan(K - n_dead - 0.5, K - 0.5, color="0.92", zorder=0)
    ax.text(K - n_dead / 2, 0.5 * float(top[0]), f"{n_dead} codes never chosen\n(no bar)", ha="center", color="0.3")
share = float(top[:5].sum() / top.sum())
ax.set_title(f"vanilla: the 5 most used codes take {share:.0%} of all positions")
plt.show()

# %% [markdown]
# **Check: the vanilla quantizer leaves most of the codebook dead.** (A measured result: under `quick` it held in
# every run we made, but it is asserted from the numbers, not assumed.)

# %%
claim(vanilla["dead"] > 0.5, f"most codes dead after {CFG.steps} steps: {vanilla['dead']:.1%} dead")
claim(share > 0.5, f"a few codes dominate: the top 5 take {share:.0%} of the positions");

# %% [markdown]
# ## 3. Diagnosis: where are the codes?
# For every code, its norm and its distance to the **nearest encoder output** (over the evaluation set). Live codes
# should sit among the encoder outputs; dead codes stay where the tiny initialisation put them, near the origin and
# far from the data, so nothing ever picks them. One dot per code, live codes drawn on top.

# %%
q = vanilla_model.quantizer
z = vanilla["z_e"].permute(0, 2, 3, 1).reshape(-1, CFG.code_dim)  # (N, D) encoder outputs
codebook = q.codebook.detach()
with torch.no_grad():
    # distance from each code to its nearest encoder output, in chunks (never an (N, K, D) tensor)
    nearest = torch.cat([squared_distances(codebook[i:i + 128], z).min(1).values for i in range(0, K, 128)]).sqrt().cpu()
live = counts > 0
norms = codebook.norm(dim=1).cpu()
print(f"encoder outputs: mean norm {z.norm(dim=1).mean():.3f}")
print(f"codes: mean norm live {norms[live].mean():.3f}, dead {norms[~live].mean():.4f}")
print(f"distance to the nearest encoder output: live codes median {nearest[live].median():.3f}, "
      f"dead codes median {nearest[~live].median():.3f}")
fig, ax = plt.subplots(figsize=(7, 3.4))
ax.scatter(norms[~live], nearest[~live], s=8, alpha=0.5, c="tab:gray", label=f"dead codes ({int((~live).sum())})")
ax.scatter(norms[live], nearest[live], s=40, c="tab:red", edgecolor="k", label=f"live codes ({int(live.sum())})")
ax.set_xscale("symlog", linthresh=1e-2); ax.set_xlabel("norm of the code (symlog)")
ax.set_ylabel("distance to the nearest\nencoder output")
ax.set_title("vanilla quantizer after training: every code")
ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0)); plt.tight_layout(); plt.show()

# %% [markdown]
# **Check: dead codes are much farther from the data than live ones.**

# %%
claim(nearest[~live].median() > 2 * nearest[live].median(),
      f"median distance to the data: dead codes {nearest[~live].median():.3f} vs live {nearest[live].median():.3f}");

# %% [markdown]
# Every cure attacks one link of this chain: put the codes where the data is, once (k-means initialisation) or
# again and again (restarts); move codes without needing a gradient (EMA); take away the norm (cosine codes: every
# code is a unit vector, so none is far from the data in norm, but a code can still point away from every encoder
# output and be stranded by angle); make the lookup space small enough to fill (factorised codes); move all codes
# together through shared parameters (an affine codebook) or faster (a larger codebook learning rate); change the
# gradient the encoder receives (rotation trick); or remove the learned codebook altogether (FSQ). First, three of
# them by hand.

# %% [markdown]
# ## 4. Exercise: one EMA codebook update
# In the EMA codebook (van den Oord et al. 2017, appendix A.1) code `k` keeps two running averages with decay
# `gamma`: `N_k`, how many encoder outputs chose it, and `m_k`, their sum. One training step with encoder outputs
# `z` (N, D) and their code indices does
#
# * `n_k` = number of rows of `z` with index `k`; `s_k` = sum of those rows;
# * `N_k <- gamma * N_k + (1 - gamma) * n_k` and `m_k <- gamma * m_k + (1 - gamma) * s_k`;
# * **Laplace smoothing**, so that a code with `N_k` near 0 does not divide by ~0:
#   `N~_k = (N_k + eps) / (n + K * eps) * n` with `n = sum_k N_k` (this step is not in the paper's appendix; it
#   comes from DeepMind's Sonnet implementation, `sonnet/src/nets/vqvae.py`, which most EMA code copies);
# * the new code is `e_k = m_k / N~_k`.
#
# Return the new `(N, m, codebook)`; `N` is stored **unsmoothed**.

# %%
def ema_update(cluster_size, embed_sum, z, indices, decay, eps):
    """cluster_size (K,), embed_sum (K, D), z (N, D), indices (N,) int64 -> (cluster_size, embed_sum, codebook)."""
    ### BEGIN SOLUTION
    k = cluster_size.shape[0]
    counts = torch.bincount(indices, minlength=k).to(z.dtype)
    sums = torch.zeros_like(embed_sum).index_add_(0, indices, z)
    cluster_size = decay * cluster_size + (1 - decay) * counts
    embed_sum = decay * embed_sum + (1 - decay) * sums
    n = cluster_size.sum()
    smoothed = (cluster_size + eps) / (n + k * eps) * n
    return cluster_size, embed_sum, embed_sum / smoothed[:, None]
    ### END SOLUTION


# %%
from course_lib.checks.collapse import check_ema_update

check_ema_update(ema_update)
### BEGIN HIDDEN TESTS
check_ema_update(ema_update, seed=11, decay=0.5, eps=0.3)
### END HIDDEN TESTS

# %% [markdown]
# `course_lib.quantize.EMAVectorQuantizer` does this update on every training forward, **after** the lookup (as in
# Sonnet): the codes of this step's `z_q` are the ones chosen, and the update takes effect from the next step. One
# step of it against your `ema_update` (if the exercise is not solved yet, the line below substitutes
# `course_lib.quantize.ema_update` and says so):

# %%
ema_update = solved_or_reference(ema_update, quantize.ema_update, "ema_update")

torch.manual_seed(1)
ema_q = EMAVectorQuantizer(num_codes=16, code_dim=3, decay=0.9, eps=1e-3).train()
before = (ema_q.cluster_size.clone(), ema_q.embed_sum.clone(), ema_q.codebook.clone())
z_demo = torch.randn(50, 3)
idx_demo = nearest_code(z_demo, ema_q.codebook)
out_demo = ema_q(z_demo)
mine = ema_update(before[0], before[1], z_demo, idx_demo, 0.9, 1e-3)
assert torch.allclose(out_demo.z_q, before[2][idx_demo]), "z_q uses the codes before the update"
assert torch.allclose(ema_q.codebook, torch.as_tensor(mine[2]).float(), atol=1e-5)
print("EMAVectorQuantizer's update == your ema_update; its z_q used the codes from before the update")

# %% [markdown]
# A code that nothing chooses is not frozen by the EMA: its `N_k` and `m_k` both shrink by `gamma` each step, so it
# stays put while `N_k = gamma^t` is much larger than `eps`, and then slides towards the origin like `gamma^t` (with
# `gamma = 0.99`, `eps = 1e-5`, after about 1,100 steps). `EMAVectorQuantizer`'s docstring has the formula; a test
# in `tests/test_quantize_cures.py` checks it step by step.

# %% [markdown]
# ## 5. Exercise: restart dead codes
# A dead code will never be chosen where it is, so move it where the data is: replace every code whose usage count
# is 0 by a **random** recent encoder output. This is the rule of SoundStream (Zeghidour et al. 2021, section
# III-C: a code unused for several batches is replaced by an input vector drawn from the current batch). Jukebox
# (Dhariwal et al. 2020) restarts a code when its EMA usage falls below a threshold; Lancucki et al. (2020)
# instead re-run k-means on recent encoder outputs now and then. Use a **different** row for each dead code (draw
# without replacement, so no two restarted codes land on the same point), and leave the live codes alone; a code
# chosen once is live.

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
# `VectorQuantizer(..., restart_dead_after=n)` does this inside training: a code unused for `n` consecutive steps
# moves onto a random encoder output of the current batch (without replacement). Because a restarted row would
# otherwise keep Adam's running moments from its dead position, `vq.attach_optimizer(optimizer)` lets the quantizer
# zero them for that row.
#
# Applied once to the collapsed vanilla codebook, with **training** images' encoder outputs as `z_recent`, and then
# measured on the **held-out** images (measuring on the outputs the codes were copied from would be circular):

# %%
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
      f"{used_before} -> {used_after}");

# %% [markdown]
# ## 6. Exercise: FSQ rounding with a straight-through gradient
# Finite Scalar Quantization (Mentzer et al. 2023) has no codebook to learn: each of `d` channels is squashed so
# that rounding gives exactly `L_i` values, and the codebook is the grid of all `prod(L_i)` combinations. For
# channel `i` with `L` levels and `eps = 1e-3`:
#
# * `half_l = (L - 1) * (1 + eps) / 2`, `offset = 0.5` if `L` is even else `0`, `shift = atanh(offset / half_l)`;
# * `bounded = tanh(z + shift) * half_l - offset` (takes values in a range that rounds to exactly `L` integers);
# * `rounded = round(bounded)` **with the straight-through estimator**: value of the rounding, gradient of `bounded`;
# * return `rounded / (L // 2)`, in [-1, 1].
#
# (These are the constants of `vector-quantize-pytorch`. The paper's own code, appendix A.1, writes
# `half_l = (L - 1) * (1 - eps) / 2` and `shift = tan(offset / half_l)`: the same grid, a gradient about 0.2%
# smaller. The check accepts both.)

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
check_fsq_quantize(fsq_quantize, seed=3, levels=(8, 8, 8))
### END HIDDEN TESTS

# %% [markdown]
# `course_lib.quantize.FSQ(levels)` is the same rounding plus the bookkeeping (indices, the implicit codebook, and
# optional projections from and to `code_dim`). Its values, compared with your `fsq_quantize`:

# %%
fsq_quantize = solved_or_reference(fsq_quantize, quantize.fsq_quantize, "fsq_quantize")

fsq = FSQ(CFG.fsq_levels)
z_demo = torch.randn(1000, len(CFG.fsq_levels)) * 2
agree = float((fsq.quantize(z_demo) - torch.as_tensor(fsq_quantize(z_demo, list(CFG.fsq_levels)))).abs().lt(1e-5).float().mean())
assert agree > 0.99, f"FSQ and fsq_quantize agree on only {agree:.1%} of the values"
print(f"FSQ{CFG.fsq_levels}: {fsq.num_codes} codes; values equal to yours on {agree:.1%} of entries; distinct values "
      "per channel:", [len(torch.unique(fsq.quantize(z_demo)[:, i])) for i in range(len(CFG.fsq_levels))])

# %% [markdown]
# ## 7. The cures side by side: a fair experiment
# A fair comparison needs the same budget for every arm, several seeds (collapse is a race between a few codes, so
# one run can be lucky), and more than one starting codebook: a cure that only repairs a bad start is not the same
# as a cure that prevents collapse. So every cure runs
# * with the same model, data, optimiser, number of steps (`CFG.bench_steps`) and codebook size K;
# * from **two starts**: the tiny codes of section 2 (`init="uniform"`, U(-1/K, 1/K)) and a **data-scaled** start
#   (`init="data"`: codes drawn from a Gaussian with the mean and spread of the first batch's encoder outputs);
#   k-means initialisation, FSQ and the combination set their own start, so they run once;
# * with `CFG.seeds` seeds (model weights, data order and codebook all change with the seed).
#
# It reports three numbers, all on **held-out** images: the fraction of codes used, the perplexity of code usage
# over the whole evaluation set, and the NMSE (reconstruction MSE divided by the data variance). Restarts are
# switched off for the last `CFG.freeze_steps` steps, so "used" cannot count a code restarted just before the end.
#
# | cure | what changes | source |
# |---|---|---|
# | k-means init | codebook set by k-means of the first batch's encoder outputs | Lancucki et al. 2020 |
# | EMA | codes are running means of their encoder outputs (no codebook gradient) | van den Oord et al. 2017, app. A.1 |
# | dead-code restarts | a code unused for `restart_dead_after` steps jumps to a random encoder output | SoundStream (Zeghidour et al. 2021) |
# | cosine codes | z and codes l2-normalised before the lookup | Yu et al. 2021 |
# | factorised codes | lookup in a `lookup_dim`-dimensional projection (l2-normalised) | Yu et al. 2021 |
# | rotation trick | the encoder's gradient is rotated instead of copied | Fifty et al. 2024 |
# | affine codebook | codes = `scale * c + shift`, `scale` and `shift` shared by all codes and learned | Huh et al. 2023 |
# | codebook lr x10 | the codebook's learning rate is `CFG.codebook_lr_mult` times the rest | Lancucki et al. 2020 |
# | FSQ | no learned codebook: a fixed grid of prod(levels) = K points | Mentzer et al. 2023 |
# | EMA + k-means + restarts | the three together (SoundStream's quantizer; notebook 04's) | Zeghidour et al. 2021 |
#
# **The model.** Seventy to ninety runs do not fit a CPU budget with the convolutional VQ-VAE, so this comparison uses
# a VQ-VAE whose encoder is a `p x p` convolution with stride `p` followed by 1x1 convolutions, and whose decoder
# mirrors it: every `p x p` patch becomes one code (a 7x7 code map on 28x28 images for p = 4, like sections 2-3).
# Such a model is a small MLP applied to each flattened patch, which is how it is written below. It collapses the
# same way (the vanilla row of the table shows it).

# %%
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
        q.attach_optimizer(optimizer)  # restarted rows start with fresh Adam moments
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
# Train every arm (the long cell: 57 runs, under `quick` about 45 s on 2 CPU cores).

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
# The table: mean and standard deviation over the seeds (and the worst seed's usage, because "at least 90% of the
# codes" should hold on every seed, not on average).

# %%
def stats(results, key):
    values = [r[key] for r in results]
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0), min(values)


summary = {}
for (arm, start), results in runs.items():
    (u, u_sd, u_min), (p, p_sd, _), (e, e_sd, _) = (stats(results, k) for k in ("used", "perplexity", "nmse"))
    summary[arm, start] = dict(used=u, used_sd=u_sd, used_min=u_min, perplexity=p, perplexity_sd=p_sd, nmse=e,
                               nmse_sd=e_sd)
rows = [f"| {arm} | {start} | {100 * s['used']:.1f} ± {100 * s['used_sd']:.1f} | {100 * s['used_min']:.1f} | "
        f"{s['perplexity']:.0f} ± {s['perplexity_sd']:.0f} | {s['nmse']:.3f} ± {s['nmse_sd']:.3f} |"
        for (arm, start), s in summary.items()]
display(Markdown(f"**Profile `{CFG.profile}`**: K = {K}, {CFG.bench_steps} steps per run, {CFG.seeds} seeds, usage on "
                 f"{len(P_test):,} held-out patches (restarts frozen for the last {CFG.freeze_steps} steps).\n\n"
                 "| quantizer | start | codes used (%) | worst seed (%) | perplexity | NMSE |\n"
                 "|---|---|---:|---:|---:|---:|\n" + "\n".join(rows)))

# %% [markdown]
# The same table as a picture: codes used against reconstruction error, one point per arm and start (error bars:
# one standard deviation over the seeds). Up and to the left is better.

# %%
fig, ax = plt.subplots(figsize=(9, 4.8))
colors = plt.cm.tab20(np.linspace(0, 1, len(ARMS)))
for i, arm in enumerate(ARMS):
    for start, marker in (("tiny", "o"), ("data-scaled", "s"), ("own", "D")):
        if (arm, start) in summary:
            s = summary[arm, start]
            ax.errorbar(s["nmse"], 100 * s["used"], xerr=s["nmse_sd"], yerr=100 * s["used_sd"], fmt=marker,
                        color=colors[i], ms=7, capsize=2, label=f"{arm} ({start} start)")
ax.axhline(90, ls="--", c="gray", lw=1)
ax.set_yscale("log"); ax.set_xlabel("NMSE on held-out images (lower is better)")
ax.set_ylabel(f"codes used (% of {K}, log scale)")
ax.set_title(f"cures at equal steps and K = {K}: mean ± sd over {CFG.seeds} seeds")
ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0)); plt.tight_layout(); plt.show()

# %% [markdown]
# Usage over training (mean over the seeds), one panel per start. It is measured on a fixed held-out subset of
# `CFG.n_curve` patches, fewer than the table's, so the levels sit below the table's numbers; the curves are for the
# shape over time. A log scale keeps the collapsed arms (a few percent) apart.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
for ax, start in zip(axes, ("tiny", "data-scaled")):
    for i, arm in enumerate(ARMS):
        key = (arm, start) if (arm, start) in runs else (arm, "own")
        curves = np.array([[u for _, u in r["curve"]] for r in runs[key]])
        steps_c = [s for s, _ in runs[key][0]["curve"]]
        ax.plot(steps_c, 100 * curves.mean(0), color=colors[i], lw=2.5 if arm == "vanilla" else 1.5,
                ls="--" if key[1] == "own" else "-", label=arm)
    if CFG.freeze_steps:
        ax.axvline(CFG.bench_steps - CFG.freeze_steps, c="gray", lw=1, ls=":")
    ax.set_yscale("log"); ax.set_xlabel("training step"); ax.set_title(f"{start} start (dashed: own start)")
axes[0].set_ylabel(f"codes used (% of {K}, log scale)")
axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
fig.suptitle("codebook usage during training; dotted line: restarts frozen from here on")
plt.tight_layout(); plt.show()

# %% [markdown]
# **Explore: scrub through training.** The curves above are averages. Here is one run at a time (seed 0): how
# often each code was chosen on the held-out curve patches at a step, sorted, on a log scale (a dead code has no
# bar; green bars are codes that were dead at the previous measurement and live now), and the live-code count over
# training. Pick a cure in the menu and move the step; the figure shows dead-code restarts from the tiny start a
# little after they begin. The first entry is the convolutional VQ-VAE of section 2, which collapsed.

# %%
from functools import partial

from course_lib.explorers import Choice, IntSlider, explorer
from course_lib.explorers.training_scrub import draw_training_scrub, usage_changes

scrub_runs = {"conv VQ-VAE of section 2 (vanilla)": vanilla["snapshots"]}
scrub_runs.update({f"{arm} ({start} start)": results[0]["snapshots"] for (arm, start), results in runs.items()})
explorer(partial(draw_training_scrub, snapshots=scrub_runs),
         step=IntSlider(0, max(CFG.steps, CFG.bench_steps), CFG.bench_eval_every,
                        step=math.gcd(CFG.eval_every, CFG.bench_eval_every), label="training step"),
         run=Choice(list(scrub_runs), value="dead-code restarts (tiny start)", label="run"));

# %% [markdown]
# What the snapshots say, counted rather than seen (seed 0 of each run):

# %%
changes = {name: usage_changes(snaps) for name, snaps in scrub_runs.items()}
van_c, rst_c = changes["vanilla (tiny start)"], changes["dead-code restarts (tiny start)"]
van_died, rst_revived = sum(c["died"] for c in van_c), sum(c["revived"] for c in rst_c)
print(f"vanilla (tiny start): live codes {' -> '.join(str(c['live']) for c in van_c)}; "
      f"{sum(c['revived'] for c in van_c)} revivals, {van_died} deaths between measurements")
print(f"dead-code restarts (tiny start): live codes {' -> '.join(str(c['live']) for c in rst_c)}; "
      f"{rst_revived} revivals, {sum(c['died'] for c in rst_c)} deaths")
print(verdict(rst_revived > 5 * max(1, sum(c["revived"] for c in van_c)),
              f"Restarts revive codes by the hundred ({rst_revived} revivals) where vanilla VQ revives almost none "
              f"({sum(c['revived'] for c in van_c)}): a code that vanilla training leaves dead stays dead.",
              f"Restarts revived {rst_revived} codes here, not clearly more than vanilla's "
              f"{sum(c['revived'] for c in van_c)}."))

# %% [markdown]
# **What the numbers say.** Each sentence below is printed from the table, so it changes if the numbers do. A cure
# "fixes" collapse when at least 90% of the codes are in use on every seed; it "helps" when its mean usage is above
# vanilla's by more than the two standard deviations added; otherwise it is "no better" here.

# %%
def judge(arm, start):
    s, v = summary[arm, start], summary["vanilla", "tiny" if start == "own" else start]
    if s["used_min"] >= 0.9:
        return "fixes collapse (>= 90% of codes used on every seed)"
    if s["used"] - v["used"] > s["used_sd"] + v["used_sd"]:
        return f"helps, but does not fix it ({100 * s['used']:.0f}% vs vanilla's {100 * v['used']:.0f}%)"
    return f"no better than vanilla here ({100 * s['used']:.0f}% vs {100 * v['used']:.0f}%)"


for arm, start in summary:
    if arm != "vanilla":
        print(f"{arm:28s} {start:12s} {judge(arm, start)}")
van_tiny, van_data = summary["vanilla", "tiny"], summary["vanilla", "data-scaled"]
print(verdict(van_data["used"] - van_tiny["used"] > van_data["used_sd"] + van_tiny["used_sd"],
              f"A data-scaled start helps vanilla VQ: {100 * van_data['used']:.0f}% of codes used vs "
              f"{100 * van_tiny['used']:.0f}% from tiny codes" + ("; most codes still die." if van_data["used"] < 0.5 else "."),
              f"The start barely changes vanilla VQ: {100 * van_tiny['used']:.0f}% (tiny) vs "
              f"{100 * van_data['used']:.0f}% (data-scaled) of codes used."))
fixers = [f"{arm} ({start})" for (arm, start), s in summary.items() if s["used_min"] >= 0.9]
print("reach >= 90% on every seed:", ", ".join(fixers) or "none")
keep_moving = {"dead-code restarts", "EMA + k-means + restarts"}  # the cures that move codes again and again
others = sorted({f.split(" (")[0] for f in fixers} - keep_moving)
print(verdict(not others, "Only cures with restarts (codes moved again and again onto current encoder outputs) "
              "reach 90% on every seed.", f"Besides restarts, these reach 90% too: {', '.join(others)}."))

# %% [markdown]
# **Check: the course's quality bar.** Vanilla VQ from the tiny start leaves most codes dead, and dead-code
# restarts (alone, from both starts) keep at least 90% of the codes in use on every seed, measured on held-out
# data with restarts frozen at the end; with every code in use they also reconstruct better.

# %%
restarts = [summary["dead-code restarts", s] for s in ("tiny", "data-scaled")]
claim(van_tiny["used"] < 0.5, f"vanilla (tiny start) leaves most codes dead: {100 * van_tiny['used']:.1f}% used "
      f"(± {100 * van_tiny['used_sd']:.1f})")
claim(min(r["used_min"] for r in restarts) >= 0.9,
      f"restarts keep >= 90% of codes in use on every seed: worst seeds {[round(100 * r['used_min'], 1) for r in restarts]}%")
claim(restarts[0]["nmse"] + restarts[0]["nmse_sd"] < van_tiny["nmse"] - van_tiny["nmse_sd"],
      f"restarts reconstruct better than vanilla: NMSE {restarts[0]['nmse']:.3f} ± {restarts[0]['nmse_sd']:.3f} vs "
      f"{van_tiny['nmse']:.3f} ± {van_tiny['nmse_sd']:.3f}")
no_restart = {a: s for a, s in summary.items() if "restarts" not in a[0]}
best_other = min(no_restart, key=lambda a: no_restart[a]["nmse"])
bo = no_restart[best_other]
print(verdict(restarts[0]["nmse"] + restarts[0]["nmse_sd"] < bo["nmse"] - bo["nmse_sd"],
              f"Restarts (tiny start) also have a lower NMSE than the best arm without restarts, {best_other[0]} "
              f"({best_other[1]} start): {restarts[0]['nmse']:.3f} vs {bo['nmse']:.3f}.",
              f"Restarts buy usage, not clearly reconstruction: NMSE {restarts[0]['nmse']:.3f} ± "
              f"{restarts[0]['nmse_sd']:.3f} vs {bo['nmse']:.3f} ± {bo['nmse_sd']:.3f} for {best_other[0]} "
              f"({best_other[1]} start), the best arm without restarts."))

# %% [markdown]
# ## 8. Usage against codebook size
# The FSQ paper compares codebook usage of VQ and FSQ across codebook sizes and finds VQ's usage falling for large
# codebooks while FSQ stays near full use. Here is the same measurement on our bench, for vanilla VQ (data-scaled start), the cure that did best above, and FSQ,
# each over the first `CFG.sweep_seeds` seeds of the table, K from 64 to 4096 (K = 512 is taken from the table;
# under `quick` two seeds, to keep the run short: the differences read below are large next to their spread).

# %%
candidates = [(arm, start) for (arm, start) in summary if arm not in ("vanilla", "FSQ")]
best_arm, best_start = max(candidates, key=lambda a: (round(summary[a]["used_min"], 2), -summary[a]["nmse"]))
print(f"best cure by worst-seed usage (then NMSE): {best_arm} ({best_start} start)")
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
print(f"sweep: {time.perf_counter() - start_time:.0f} s")

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for arm, start in sweep_arms:
    ks = sorted(sweep[arm, start])
    mean = np.array([sweep[arm, start][k][0] for k in ks]); sd = np.array([sweep[arm, start][k][1] for k in ks])
    ax.errorbar(ks, 100 * mean, yerr=100 * sd, fmt="o-", capsize=3, label=f"{arm} ({start} start)")
ax.set_xscale("log", base=2); ax.set_xlabel("codebook size (number of codes)")
ax.set_ylabel("codes used on held-out data (%)"); ax.set_ylim(0, 105); ax.axhline(90, ls="--", c="gray", lw=1)
ax.set_title(f"usage vs codebook size, mean ± sd over {CFG.sweep_seeds} seeds, {CFG.bench_steps} steps")
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0)); plt.tight_layout(); plt.show()

# %%
v_small, v_large = sweep["vanilla", "data-scaled"][min(sweep["vanilla", "data-scaled"])], \
    sweep["vanilla", "data-scaled"][max(sweep["vanilla", "data-scaled"])]
fsq_sizes = sorted(sweep["FSQ", "own"])
f_small, f_large = sweep["FSQ", "own"][fsq_sizes[0]], sweep["FSQ", "own"][fsq_sizes[-1]]
b_large = sweep[best_arm, best_start][max(sweep[best_arm, best_start])]
print(verdict(v_large[0] < v_small[0] - v_small[1] - v_large[1],
              f"Vanilla VQ uses a smaller share of a larger codebook: {100 * v_small[0]:.0f}% at "
              f"{min(sweep['vanilla', 'data-scaled'])} codes, {100 * v_large[0]:.0f}% at "
              f"{max(sweep['vanilla', 'data-scaled'])}.",
              f"Vanilla VQ's share of used codes does not clearly fall with K here ({100 * v_small[0]:.0f}% -> "
              f"{100 * v_large[0]:.0f}%)."))
print(verdict(f_large[0] > v_large[0] + f_large[1] + v_large[1],
              f"At the largest size FSQ uses more of its grid than vanilla VQ of its codebook "
              f"({100 * f_large[0]:.0f}% of {fsq_sizes[-1]} vs {100 * v_large[0]:.0f}%), as in the FSQ paper.",
              f"At the largest size FSQ does not use more of its grid than vanilla VQ ({100 * f_large[0]:.0f}% vs "
              f"{100 * v_large[0]:.0f}%)."))
print(verdict(b_large[0] >= 0.9,
              f"{best_arm} still uses {100 * b_large[0]:.0f}% of {max(CFG.sweep_codes)} codes.",
              f"Even {best_arm} falls to {100 * b_large[0]:.0f}% at {max(CFG.sweep_codes)} codes in "
              f"{CFG.bench_steps} steps: with {CFG.bench_batch} vectors a batch, a step can restart at most that "
              "many codes, and a code must also win some held-out patches to count."))

# %% [markdown]
# **Reading the results honestly.** The sentences printed above are the conclusions; a few things they rest on:
# * Why restarts are special: they keep moving codes to where the data is *now*. k-means initialisation does move
#   every code (onto the first batch's encoder outputs), but only once, and the encoder moves on as it learns; EMA,
#   cosine codes and the rotation trick only move or reshape the codes that are chosen.
# * The two starts separate "prevents collapse" from "repairs a bad start": compare each cure's two rows.
# * FSQ has no stuck codes (its grid is fixed and the encoder is bounded onto it), which is not the same as using
#   every code: how much of the grid is used depends on how the encoder spreads its outputs.
# * The bench is a patch model trained for a few hundred steps; under `standard` the same cells train longer on
#   CIFAR-10 patches (not yet run on a GPU by us), and the ordering may change.

# %% [markdown]
# ## Summary
# - Collapse is easy to reproduce: a large codebook initialised far from the encoder outputs leaves most codes dead,
#   with a handful taking almost all positions.
# - Diagnose it with usage over a data set (codes used, perplexity, dead fraction) and with the distance from each
#   code to the nearest encoder output: dead codes are stranded away from the data.
# - An EMA step is counts and sums with decay, then a division by Laplace-smoothed counts; a restart moves dead codes
#   onto distinct random encoder outputs; FSQ rounds bounded channels with a straight-through gradient.
# - A fair comparison of cures needs equal budgets, several seeds, two starts, held-out usage with restarts frozen,
#   and a look at reconstruction error as well as usage; the printed verdicts above say which cures passed here.
#
# ## Exercises
# 1. *(checked above)* One EMA update with Laplace smoothing.
# 2. *(checked above)* Restarting dead codes.
# 3. *(checked above)* FSQ rounding with the straight-through estimator.
# 4. Run the table with `attach_optimizer` removed from `train_patch_vqvae`: does keeping the dead rows' Adam
#    moments change the restarts' usage or NMSE beyond the spread over seeds?
# 5. Combine cosine codes with k-means initialisation (`VectorQuantizer(K, D, cosine=True, kmeans_init=True)`).
#    Does the cosine cure work better from a good start?
# 6. Double `CFG.bench_steps` (keep `freeze_steps`): which cures cross 90%, and does the ranking of section 8 hold?
#
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
#   codes whose EMA usage falls below a threshold).
# - N. Zeghidour et al. (2021). *SoundStream: An End-to-End Neural Audio Codec*. arXiv:2107.03312 (section III-C:
#   k-means initialisation on the first batch; codes unused for several batches replaced by random inputs).
# - J. Yu et al. (2021). *Vector-quantized Image Modeling with Improved VQGAN*. arXiv:2110.04627 (factorised,
#   l2-normalised codes: 32-d or 8-d lookups).
# - M. Huh, B. Cheung, P. Agrawal, P. Isola (2023). *Straightening Out the Straight-Through Estimator: Overcoming
#   Optimization Challenges in Vector Quantized Networks*. ICML 2023, arXiv:2305.08842 (affine reparameterisation).
# - C. Fifty et al. (2024). *Restructuring Vector Quantization with the Rotation Trick*. arXiv:2410.06424.
# - F. Mentzer, D. Minnen, E. Agustsson, M. Tschannen (2023). *Finite Scalar Quantization: VQ-VAE Made Simple*.
#   arXiv:2309.15505.
