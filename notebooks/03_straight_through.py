# %% [markdown]
# # 03 · The straight-through estimator: training through a quantizer
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-to-vqgan/course/blob/v0.3.0/notebooks/student/03_straight_through.ipynb)
#
# **Learning objectives.** After this notebook you can
# - show, with finite differences, that nearest-code assignment (an `argmin`) has zero gradient almost everywhere;
# - write the **straight-through estimator** and check that it copies the decoder's gradient to the encoder;
# - write the VQ-VAE's codebook and commitment losses, say what each one moves, and spot `beta` on the wrong term;
# - show that the VQ-VAE's KL term is a constant;
# - write soft assignments to codes and the Gumbel-softmax, and explain with a measurement why they are not
#   quantization.
#
# **Prerequisites.** Notebook 02 (codebooks, nearest-code assignment, k-means); autograd and `.detach()`.
#
# **Estimated time.** Core path about 44 min; 3 deep dives about 16 min more (estimated from this notebook by `make
# stats`). Machine: about 8 s under `quick` on 2 CPU cores; under 1 min of training under `standard` on a T4
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
# Everything here is small (2-D toys) and runs on the CPU under every profile; the profiles change only the size of
# the last experiment.

# %%
from course_lib.profiles import settings

CFG = settings(
    quick=dict(n_points=2048, decoder_steps=400, num_codes=8, tau=0.1, beta=0.25),
    standard=dict(n_points=8192, decoder_steps=2000, num_codes=8, tau=0.1, beta=0.25),
    full=dict(n_points=16384, decoder_steps=4000, num_codes=8, tau=0.1, beta=0.25),
)
CFG

# %%
import math

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib.claims import claim, verdict
from course_lib.quantize import kmeans, nearest_code

# %% [markdown]
# ## 1. Nearest-code assignment has no useful gradient
# The quantizer replaces an encoder output `z` by its nearest code, `q(z) = e_k` with `k = argmin_j |z - e_j|^2`.
# `q` is **piecewise constant** in `z`: moving `z` a little does not change which code is nearest. Its derivative is
# 0 everywhere except on the cell boundaries, where `q` jumps. Measure it in one dimension with four codes, by
# central finite differences `(q(z + h) - q(z - h)) / 2h`:

# %% tags=["fig-staircase"]
codes_1d = torch.tensor([[-1.5], [-0.5], [0.4], [1.5]])  # K = 4 codes in D = 1
grid = torch.linspace(-2.0, 2.0, 2001)[:, None]
q = lambda z: codes_1d[nearest_code(z, codes_1d)]
h = 1e-4
finite_diff = ((q(grid + h) - q(grid - h)) / (2 * h)).squeeze(1)
frac_zero = (finite_diff == 0).float().mean().item()
print(f"the derivative is exactly 0 at {frac_zero:.2%} of {len(grid)} points; largest value "
      f"{finite_diff.abs().max():.0f} (a jump divided by 2h)")
fig, axes = plt.subplots(1, 2, figsize=(10, 3))
axes[0].plot(grid, q(grid), label="q(z)")
axes[0].plot(grid, grid, "--", color="gray", label="identity (what STE pretends)")
axes[0].set(xlabel="z", ylabel="q(z)", title="nearest code: a staircase")
axes[0].legend()
axes[1].plot(grid, finite_diff)
axes[1].set(xlabel="z", ylabel="dq/dz (finite differences)", title="derivative: 0, or a spike at a boundary")
plt.tight_layout()
plt.show()

# %% [markdown]
# Autograd agrees: `argmin` returns integers, which carry no gradient, so the looked-up codes are connected to the
# codebook but not to `z`. A decoder trained on `z_q` alone would never tell the encoder anything. Both facts are
# mathematics, so the cell below asserts them.

# %%
z = torch.randn(5, 1, requires_grad=True)
codebook_param = codes_1d.clone().requires_grad_(True)
z_q = codebook_param[torch.cdist(z, codebook_param).argmin(1)]
(grad_z,) = torch.autograd.grad(z_q.sum(), z, allow_unused=True)
print("gradient of z_q with respect to z:", grad_z)
assert frac_zero > 0.99 and grad_z is None

# %% [markdown]
# ## 2. The straight-through estimator
# The **straight-through estimator** (STE) pretends that the quantizer is the identity in the backward pass: use
# `q(z)` forward and copy the gradient arriving at `q(z)` unchanged to `z`. The idea goes back to Hinton's 2012
# Coursera lectures, as Bengio, Léonard and Courville (2013) note; they analysed it for binary stochastic neurons.
# In the VQ-VAE, van den Oord et al. (2017) do exactly this: "we just copy gradients from decoder input `z_q(x)` to
# encoder output `z_e(x)`". The forward path goes through the argmin; the backward path goes around it:

# %% tags=["fig-ste-diagram"]
from course_lib.diagrams import ste_diagram

ste_diagram(formula=False);

# %% [markdown]
# In PyTorch this takes one line, built from `.detach()`, which is the *stop-gradient* $\text{sg}[\cdot]$: autograd
# treats a detached tensor as a constant.
#
# ### Exercise 1: the straight-through line
# Complete `my_straight_through(z, z_q)`: return a tensor whose value is `z_q` and whose gradient flows to `z`
# unchanged, and not to `z_q`. (Hint: add to `z` a correction that autograd sees as a constant.)

# %%
def my_straight_through(z, z_q):
    """Value z_q; gradient w.r.t. z = gradient w.r.t. the output; no gradient to z_q."""
    ### BEGIN SOLUTION
    return z + (z_q - z).detach()
    ### END SOLUTION


# %%
from course_lib.checks.ste import check_straight_through, check_vq_loss

check_straight_through(my_straight_through)
### BEGIN HIDDEN TESTS
check_straight_through(my_straight_through, seed=11)
### END HIDDEN TESTS

# %% [markdown]
# Its value is `z + z_q - z = z_q`, and its derivative with respect to `z` is the identity because the correction is
# a constant to autograd:
#
# $$ \text{out} = z + \text{sg}[z_q - z]. $$
#
# From here on the notebook uses the same line, `course_lib.quantize.straight_through`, and the quantizer that
# applies it, `course_lib.quantize.VectorQuantizer`. The STE's gradient is **biased**: it is the gradient at `z_q`,
# applied at `z`. It is a good direction when `z` is close to its code, which is one job of the losses below.

# %% [markdown]
# ## Deep dive: the STE gradient, checked numerically, and the rotation trick
# *Adds a finite-difference check of the STE through a decoder, and an alternative estimator. The core path resumes
# at section 3.*
#
# Take a small decoder and a loss `L(decoder(z_q))`. With the STE, `z.grad` should equal `dL/dz_q`, the gradient
# the decoder sends to its input. We compute `dL/dz_q` twice: by autograd (with `z_q` as a leaf) and numerically, by
# central finite differences in float64.

# %%
from course_lib.quantize import VectorQuantizer, rotation_trick, straight_through

torch.manual_seed(0)
decoder = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 3)).double()
target = torch.randn(8, 3, dtype=torch.float64)
decoder_loss = lambda v: (decoder(v) - target).pow(2).sum()
vq = VectorQuantizer(num_codes=16, code_dim=2, init="normal")
z = torch.randn(8, 2, dtype=torch.float64, requires_grad=True)
out = vq(z)  # out.z_q: the codes, with the straight-through gradient
decoder_loss(out.z_q).backward()
v = out.z_q.detach().clone().requires_grad_(True)
(grad_at_zq,) = torch.autograd.grad(decoder_loss(v), v)
grad_numeric = torch.zeros_like(v)
with torch.no_grad():
    for i in range(v.shape[0]):
        for j in range(v.shape[1]):
            step = torch.zeros_like(v)
            step[i, j] = 1e-6
            grad_numeric[i, j] = (decoder_loss(v + step) - decoder_loss(v - step)) / 2e-6
print("z.grad (STE):", z.grad[0].tolist(), "| dL/dz_q autograd:", grad_at_zq[0].tolist(),
      "| numerical:", grad_numeric[0].tolist())
assert torch.allclose(z.grad, grad_at_zq, rtol=1e-5, atol=1e-7), "STE must copy dL/dz_q to z"
assert torch.allclose(grad_at_zq, grad_numeric, rtol=1e-5, atol=1e-6), "autograd and finite differences disagree"
assert torch.allclose(out.z_q.detach(), vq.codebook.detach()[out.indices].double(), atol=1e-6)

# %% [markdown]
# Fifty et al. (2024) carry the gradient differently, with the **rotation trick**: the same forward value, but the
# gradient is rotated and rescaled by the transformation that maps `z` onto `z_q`. The course's version is
# `course_lib.quantize.rotation_trick`; you write it in notebook 05, which compares it in training. Here `z_q` is `z`
# rotated by 90 degrees and stretched by 2, so the two estimators send different gradients:

# %%
z_demo, zq_demo, g = torch.tensor([[1.0, 0.0]], requires_grad=True), torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]])
(grad_rot,) = torch.autograd.grad((rotation_trick(z_demo, zq_demo) * g).sum(), z_demo)
(grad_st,) = torch.autograd.grad((straight_through(z_demo, zq_demo) * g).sum(), z_demo)
print("STE gradient:", grad_st.tolist(), "| rotation-trick gradient:", grad_rot.tolist())
assert torch.equal(rotation_trick(z_demo, zq_demo), zq_demo) and not torch.allclose(grad_rot, grad_st)

# %% [markdown]
# ## 3. The codebook and commitment losses
# The STE sends gradients to the **encoder**, but nothing so far reaches the **codebook**. van den Oord et al. (2017,
# eq. 3) add two terms:
#
# $$ L = \underbrace{-\log p(x \mid z_q)}_{\text{reconstruction}} + \underbrace{\lVert \text{sg}[z_e] - e \rVert^2}_{\text{codebook}} + \underbrace{\beta \lVert z_e - \text{sg}[e] \rVert^2}_{\text{commitment}}, \qquad \beta = 0.25 $$
#
# * the **codebook loss** moves each chosen code `e` towards the encoder outputs assigned to it (a gradient version of
#   the k-means update of notebook 02); `sg[z_e]` keeps it from moving the encoder;
# * the **commitment loss** keeps the encoder's outputs close to their codes; `sg[e]` keeps it from moving the codes.
#   The paper's reason (van den Oord et al. 2017, sec. 3.2), argued, not measured there: the embedding space is
#   dimensionless and can grow arbitrarily if the codes train slower than the encoder, so the encoder must commit to
#   a code and its output must not grow. It found results robust for beta from 0.1 to 2.0.
#
# The paper writes the first term as $+\log p(x \mid z_q(x))$, a sign slip: a loss needs the negative
# log-likelihood. Code (Sonnet's, and this course's) takes each term as a **mean** over all elements, the $D$ code
# dimensions included, so both terms are $1/D$ of the paper's squared norms relative to a reconstruction loss; their
# ratio, beta, is unchanged.
#
# ### Exercise 2: the two loss terms
# Complete `my_vq_loss(z_e, z_q, beta)` returning `(codebook_loss, commitment_loss)`, each a mean over all
# elements, with `beta` already applied to the commitment loss. `z_q` here is the raw looked-up codes (with their
# gradient to the codebook), not the straight-through output.

# %%
def my_vq_loss(z_e, z_q, beta=0.25):
    """(codebook, commitment) = (mean((sg[z_e] - z_q)^2), beta * mean((z_e - sg[z_q])^2))."""
    ### BEGIN SOLUTION
    codebook = F.mse_loss(z_q, z_e.detach())
    commitment = beta * F.mse_loss(z_e, z_q.detach())
    return codebook, commitment
    ### END SOLUTION


# %%
check_vq_loss(my_vq_loss)
### BEGIN HIDDEN TESTS
check_vq_loss(my_vq_loss, seed=7, beta=2.0)
### END HIDDEN TESTS

# %% [markdown]
# The check compares **gradients**, not only values: `mean((sg[z_e] - z_q)^2)` and `mean((z_e - sg[z_q])^2)` are
# the same number, and only the place of `.detach()` decides what each term trains. From here on the notebook uses
# `course_lib.losses.vq_loss`, which returns `(total, codebook, commitment)`.
#
# A toy shows it: 2-D data, a linear "encoder" and a codebook of 8 codes. Expect the codebook term to send no
# gradient to the encoder, and the commitment term none to the codebook. That follows from the stop-gradients, so
# the table is asserted, not claimed.

# %%
from course_lib.losses import vq_loss

torch.manual_seed(0)
x_toy = torch.randn(256, 2)


def make_toy():
    torch.manual_seed(1)
    encoder, codebook = nn.Linear(2, 2), nn.Embedding(8, 2)
    nn.init.normal_(codebook.weight, std=0.5)
    return encoder, codebook


def toy_forward(encoder, codebook):
    z_e = encoder(x_toy)
    return z_e, codebook(nearest_code(z_e, codebook.weight))


encoder, codebook = make_toy()
z_e, e = toy_forward(encoder, codebook)
terms = vq_loss(z_e, e, beta=CFG.beta)
print(f"{'term':>10}  {'|grad encoder|':>15}  {'|grad codebook|':>15}")
norms = {}
for name in ("codebook", "commitment"):
    g_enc, g_code = torch.autograd.grad(getattr(terms, name), [encoder.weight, codebook.weight], retain_graph=True,
                                        allow_unused=True)
    norms[name] = [0.0 if g is None else g.norm().item() for g in (g_enc, g_code)]
    print(f"{name:>10}  {norms[name][0]:15.4f}  {norms[name][1]:15.4f}")
assert norms["codebook"][0] == 0 < norms["codebook"][1] and norms["commitment"][1] == 0 < norms["commitment"][0]

# %% [markdown]
# ## Deep dive: training on one term at a time, and `beta` on the wrong term
# *Adds 30 gradient steps on each term alone, and a pitfall of widely copied code. The core path resumes at
# section 4.*
#
# 30 plain gradient-descent steps on **one term at a time**, with one optimiser holding both the encoder and the
# codebook, so that nothing but the stop-gradients decides what moves. Grey: before; colour: after.

# %% tags=["fig-one-term"]
def mean_sq_distance(encoder, codebook):
    with torch.no_grad():
        z_e, e = toy_forward(encoder, codebook)
        return (z_e - e).pow(2).sum(1).mean().item()


def train_one_term(which, steps=30, lr=2.0):
    encoder, codebook = make_toy()
    with torch.no_grad():
        z0, code0 = encoder(x_toy), codebook.weight.detach().clone()
    enc0 = encoder.weight.detach().clone()
    opt = torch.optim.SGD(list(encoder.parameters()) + list(codebook.parameters()), lr=lr)
    before = mean_sq_distance(encoder, codebook)
    for _ in range(steps):
        opt.zero_grad()
        getattr(vq_loss(*toy_forward(encoder, codebook), beta=CFG.beta), which).backward()
        opt.step()
    with torch.no_grad():
        z1 = encoder(x_toy)
    return dict(before=before, after=mean_sq_distance(encoder, codebook), z0=z0, z1=z1, code0=code0,
                code1=codebook.weight.detach().clone(), encoder_moved=(encoder.weight.detach() - enc0).norm().item(),
                codes_moved=(codebook.weight.detach() - code0).norm().item())


runs = {"codebook": train_one_term("codebook"), "commitment": train_one_term("commitment")}
fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharex=True, sharey=True)
for ax, (name, r) in zip(axes, runs.items()):
    ax.scatter(*r["z0"].T, s=4, c="lightgray", label="encoder outputs before")
    ax.scatter(*r["z1"].T, s=4, alpha=0.5, c="tab:blue", label="encoder outputs after")
    for a, b in zip(r["code0"], r["code1"]):
        ax.annotate("", xy=b.tolist(), xytext=a.tolist(), arrowprops=dict(arrowstyle="->", color="red", lw=1.2))
    ax.scatter(*r["code0"].T, marker="x", c="gray", s=60, label="codes before")
    ax.scatter(*r["code1"].T, marker="*", c="red", s=90, label="codes after")
    ax.set(title=f"{name} loss only: mean |z_e - e|^2 {r['before']:.2f} -> {r['after']:.2f}", xlabel="z[0]",
           ylabel="z[1]")
axes[0].legend(fontsize=8)
plt.tight_layout()
plt.show()
assert runs["codebook"]["encoder_moved"] == 0.0 and runs["commitment"]["codes_moved"] == 0.0
claim(runs["codebook"]["after"] < 0.5 * runs["codebook"]["before"] and runs["commitment"]["after"] < runs["commitment"]["before"],
      "each term alone brings encoder outputs and codes closer (codebook term: below half)", kind="demonstration");

# %% [markdown]
# **Pitfall: `beta` on the wrong term.** CompVis/taming-transformers (the VQGAN code, Esser et al. 2021) computes,
# in `VectorQuantizer2` with its default `legacy=True`, `mean((sg[z_q] - z)^2) + beta * mean((z_q - sg[z])^2)`:
# `beta` multiplies the *codebook* term. Its own comment says "due to a bug the beta term was applied to the wrong
# term", kept for backwards compatibility, and code copied from it inherits it. By algebra, the encoder's pull is
# then $1/\beta$ = 4 times stronger and the codebook's gradient 4 times weaker. Adam, though, divides each step by a
# running scale of the gradient, so a constant factor on the codebook's only loss changes its steps by almost
# nothing, at every step and not only the first (up to Adam's `eps`). We run 20 Adam steps with each loss scale.

# %%
encoder, codebook = make_toy()
z_e, e = toy_forward(encoder, codebook)
beta = CFG.beta
correct = F.mse_loss(e, z_e.detach()) + beta * F.mse_loss(z_e, e.detach())  # = vq_loss(z_e, e, beta).total
legacy = F.mse_loss(e.detach(), z_e) + beta * F.mse_loss(e, z_e.detach())  # beta on the codebook term
g_correct = torch.autograd.grad(correct, [encoder.weight, codebook.weight], retain_graph=True)
g_legacy = torch.autograd.grad(legacy, [encoder.weight, codebook.weight])
ratio_encoder = (g_legacy[0].norm() / g_correct[0].norm()).item()
ratio_codes = (g_correct[1].norm() / g_legacy[1].norm()).item()
paths = []
for scale in (1.0, beta):
    cb = codebook.weight.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([cb], lr=1e-2)
    for _ in range(20):
        opt.zero_grad()
        (scale * F.mse_loss(cb[nearest_code(z_e.detach(), cb.detach())], z_e.detach())).backward()
        opt.step()
    paths.append(cb.detach() - codebook.weight.detach())
rel = ((paths[0] - paths[1]).abs().max() / paths[0].abs().max()).item()
print(f"legacy/correct encoder gradient {ratio_encoder:.2f}x; correct/legacy codebook gradient {ratio_codes:.2f}x; "
      f"after 20 Adam steps the codebooks differ by {rel:.1e} of the distance they moved")
claim(abs(ratio_encoder - 1 / beta) < 1e-3 and abs(ratio_codes - 1 / beta) < 1e-3,
      f"both gradient ratios are 1/beta = {1 / beta:g}", kind="demonstration")
claim(rel < 1e-3, "Adam's steps on the codebook do not depend on a constant loss scale", kind="demonstration");

# %% [markdown]
# So with Adam the bug's effect is on the **encoder**: relative to its reconstruction gradient, the commitment term
# weighs 1.0 instead of 0.25.

# %% [markdown]
# ## 4. The VQ-VAE's KL term is a constant
# The VQ-VAE is a VAE whose posterior `q(k | x)` is **one-hot**, with all mass on the nearest code, and whose prior
# over the K codes, during training, is **uniform**. Its KL term is then
#
# $$ \mathrm{KL}(q \,\|\, p) = \sum_k q_k \log \frac{q_k}{p_k} = 1 \cdot \log \frac{1}{1/K} = \log K, $$
#
# the same for every image: it has no gradient, and the VQ-VAE drops it from the loss (van den Oord et al. 2017,
# section 3.1). Compute it for a few one-hot posteriors:

# %%
K = 512
prior = torch.full((K,), 1.0 / K, dtype=torch.float64)
kls = [(torch.special.xlogy(p, p) - p * prior.log()).sum().item()                # 0 log 0 = 0
       for p in F.one_hot(torch.randint(K, (5,)), K).double()]
print("KL for 5 one-hot posteriors:", [f"{v:.4f}" for v in kls], f"| log K = {math.log(K):.4f} nats = "
      f"{math.log2(K):.0f} bits")
assert all(abs(v - math.log(K)) < 1e-9 for v in kls)

# %% [markdown]
# $\log_2 K$ bits is what it costs to store one index when K is a power of two: the rate of a VQ-VAE is fixed by its
# grid size and K (notebook 04 counts bits per image). This ELBO holds for the uniform prior used in training; the
# learned prior of notebook 06 is fitted afterwards.

# %% [markdown]
# ## 5. Soft quantization is not quantization
# A tempting way to avoid the STE is to replace the hard assignment by **soft** weights over the codes,
# `w = softmax(-|z - e_k|^2 / tau)`, and feed `w` to the decoder: everything is differentiable. The
# **Gumbel-softmax** (Jang, Gu & Poole 2016; Maddison, Mnih & Teh 2016) adds Gumbel noise to sample a code, either
# relaxed at temperature `tau` (soft) or as a one-hot sample with straight-through gradients (`hard=True`). The hard
# version *is* quantization, a random one; only the soft one is a relaxation.
#
# ### Exercise: soft weights and the Gumbel-softmax
# Complete `my_soft_quantize(z, codebook, tau, generator=None, hard=False)` for `z` (N, D) and `codebook` (K, D):
#
# 1. the logits $\ell_{nk} = -\lVert z_n - e_k \rVert^2 / \tau$, shape (N, K): the nearer the code, the larger;
# 2. with a `generator`, Gumbel noise $g = -\log(-\log u)$ added to the logits, with
#    `u = torch.rand((N, K), generator=generator, dtype=z.dtype)`. The Gumbel-max trick: $\arg\max_k (\ell_k + g_k)$
#    is a sample from the categorical distribution $\mathrm{softmax}(\ell)$;
# 3. the weights: a softmax of the (noisy) logits over the K codes, so each row sums to 1. With noise, this is
#    Jang et al.'s relaxed sample (their eq. 1, with their relaxation temperature 1: `tau` already sits in $\ell$);
# 4. `hard=True`: the forward value is the one-hot of each row's largest weight, the gradient that of the soft
#    weights (exercise 1's trick, applied to the weights);
# 5. return `(weights, read_back)`, with the read-back $\sum_k w_{nk} e_k$ of shape (N, D).

# %%
def my_soft_quantize(z, codebook, tau, generator=None, hard=False):
    """z (N, D), codebook (K, D), tau > 0 -> (weights (N, K), read_back (N, D)); Gumbel noise when a generator is
    given; hard=True: one-hot forward value, soft weights' gradient."""
    ### BEGIN SOLUTION
    logits = -(z[:, None, :] - codebook[None, :, :]).pow(2).sum(-1) / tau
    if generator is not None:
        u = torch.rand(logits.shape, generator=generator, dtype=z.dtype)
        logits = logits - torch.log(-torch.log(u))
    weights = logits.softmax(dim=1)
    if hard:
        one_hot = F.one_hot(weights.argmax(dim=1), codebook.shape[0]).to(weights.dtype)
        weights = weights + (one_hot - weights).detach()
    return weights, weights @ codebook
    ### END SOLUTION


# %%
from course_lib.checks.ste import check_soft_quantize

check_soft_quantize(my_soft_quantize)
### BEGIN HIDDEN TESTS
check_soft_quantize(my_soft_quantize, seed=5, tau=0.05)
### END HIDDEN TESTS

# %% [markdown]
# From here on the notebook calls your function, or `course_lib.quantize.soft_quantize` until yours passes.
#
# The catch: soft weights are K *real numbers*, a continuous function of `z`, so they can carry much more than the
# `log2 K` bits of the code they "choose". Measure it: points `x` fill a square, 8 codes come from k-means, and a
# small MLP decoder learns to reconstruct `x` from each representation. Expect the hard-code decoder to reach
# the codebook's own distortion and no better, the soft weights to do several times better, and a hard Gumbel sample
# no better than hard VQ.
#
# | representation | what the decoder sees |
# |---|---|
# | hard VQ | one-hot of the nearest code: `log2 8 = 3` bits |
# | soft-max weights | `softmax(-d^2 / tau)`, whose arg-max is the same code |
# | Gumbel-softmax (soft) | `softmax(-d^2 / tau + g)`, with Gumbel noise `g` |
# | Gumbel-softmax (hard, ST) | a one-hot *sample* |

# %% tags=["fig-soft-vs-hard"]
from course_lib import quantize
from course_lib.checks import solved_or_reference

soft_quantize = solved_or_reference(my_soft_quantize, quantize.soft_quantize, "soft_quantize")
torch.manual_seed(0)
x_train, x_test = torch.rand(CFG.n_points, 2) * 2 - 1, torch.rand(CFG.n_points, 2) * 2 - 1
codes_2d = kmeans(x_train, CFG.num_codes, iters=30, seed=0).codebook
KINDS = ["hard VQ", "soft-max weights", "Gumbel-softmax (soft)", "Gumbel-softmax (hard, ST)"]
noise = torch.Generator().manual_seed(0)


def representation(x, kind, tau=CFG.tau):
    if kind == "hard VQ":
        return F.one_hot(nearest_code(x, codes_2d), CFG.num_codes).float()
    gumbel = noise if kind.startswith("Gumbel") else None
    return soft_quantize(x, codes_2d, tau, generator=gumbel, hard=kind.endswith("ST)"))[0]


def train_decoder(kind, taus=None):
    """A decoder trained on representation(x_train, kind), at temperature taus[step] when given: returns
    (test MSE on the same kind of representation at the last temperature, its outputs, the decoder)."""
    torch.manual_seed(0)
    dec = nn.Sequential(nn.Linear(CFG.num_codes, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
    opt = torch.optim.Adam(dec.parameters(), lr=3e-3)
    taus = taus or [CFG.tau] * CFG.decoder_steps
    for t in taus:
        loss = F.mse_loss(dec(representation(x_train, kind, t)), x_train)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        x_hat = dec(representation(x_test, kind, taus[-1]))
    return F.mse_loss(x_hat, x_test).item(), x_hat, dec


results = {kind: train_decoder(kind) for kind in KINDS}
code_mse = F.mse_loss(codes_2d[nearest_code(x_test, codes_2d)], x_test).item()
fig, axes = plt.subplots(1, 4, figsize=(12, 3.5), sharex=True, sharey=True)
for ax, (kind, (mse_value, x_hat, _)) in zip(axes, results.items()):
    ax.scatter(*codes_2d.T, marker="o", facecolor="none", edgecolor="red", s=120, lw=1.5)
    ax.scatter(*x_hat[:1000].T, s=4, alpha=0.5, zorder=3)
    ax.set_title(f"{kind}\nMSE {mse_value:.4f}, {len(torch.unique(x_hat.round(decimals=3), dim=0))} distinct outputs",
                 fontsize=10)
fig.suptitle(f"decoder outputs on new points (blue; red circles: the 8 codes); the codes' own MSE: {code_mse:.4f}")
plt.tight_layout()
plt.show()

# %%
mse_hard, mse_soft = results["hard VQ"][0], results["soft-max weights"][0]
mse_gumbel_soft, mse_gumbel_hard = results["Gumbel-softmax (soft)"][0], results["Gumbel-softmax (hard, ST)"][0]
claim(mse_hard < 1.5 * code_mse, f"hard-code decoder MSE {mse_hard:.4f} is within 1.5x of the codebook's {code_mse:.4f}")
claim(mse_soft < 0.3 * mse_hard, f"soft weights leak: decoder MSE {mse_soft:.4f} < 0.3 x hard {mse_hard:.4f}")
claim(mse_gumbel_soft < 0.8 * mse_hard, f"soft Gumbel weights leak: {mse_gumbel_soft:.4f} < 0.8 x hard {mse_hard:.4f}")
print(verdict(mse_soft < 0.3 * mse_hard,
              f"Soft-max weights leak: from them the decoder's error is {mse_hard / mse_soft:.0f}x lower than from the code.",
              f"Soft-max weights leaked little here ({mse_soft:.4f} vs {mse_hard:.4f})."))
print(verdict(mse_gumbel_hard > 0.9 * mse_hard,
              f"A hard Gumbel sample does no better than hard VQ ({mse_gumbel_hard:.4f} vs {mse_hard:.4f}): it is a "
              "code too, sometimes the wrong one.",
              f"A hard Gumbel sample beat hard VQ ({mse_gumbel_hard:.4f} vs {mse_hard:.4f})."))

# %% [markdown]
# So a model trained with soft weights is not a discrete model: its "codes" are not a $\log_2 K$-bit bottleneck.
# Hard VQ with the STE keeps the bottleneck honest.

# %% [markdown]
# ## Deep dive: the temperature, and soft training with hard codes at test time
# *Adds an explorer of `tau` and what happens when a soft-trained decoder is given hard codes. The core path
# resumes at the summary.*
#
# The encoder is the identity here, so `z = x`. For one test point at a time you see the soft-max weights over the 8
# codes against the hard one-hot, and the soft read-back `sum_k w_k e_k` against the hard code. You also see the
# gradient of the read-back error `|read-back - x|^2` that reaches `z`, through the soft-max or straight through from
# the hard code.
# The straight-through arrow acts as if the hard code moved with `z`; the soft one follows what really changes, the
# weights. The lower panels sweep `tau`; the vertical line marks the slider's value (statically, `tau` = 0.1).

# %% tags=["fig-temperature"]
from functools import partial

import numpy as np

from course_lib.explorers import IntSlider, Slider, explorer
from course_lib.explorers.temperature import draw_temperature, temperature_sweep

explorer(partial(draw_temperature, codes=codes_2d, points=x_test[:10]),
         log10_tau=Slider(-2.5, 1.0, round(math.log10(CFG.tau), 2), step=0.05, label="log10 temperature"),
         point=IntSlider(0, 9, 0, label="test point"));

# %% [markdown]
# The two ends of the temperature axis, measured over 200 test points. Expect the soft gradient to vanish when cold
# (the weights become one-hot) and the read-back to slide to the codebook's mean when hot.

# %%
ends = [temperature_sweep(p, codes_2d, [1e-3, 10.0]) for p in x_test[:200]]
cold_ratio = float(np.median([e["soft_grad"][0] / e["ste_grad"][0] for e in ends]))
hot_soft, hot_hard = float(np.mean([e["soft_error"][1] for e in ends])), float(np.mean([e["hard_error"][1] for e in ends]))
print(verdict(cold_ratio < 1e-3,
              f"Cold (tau = 0.001): the weights are one-hot to many digits, the read-back is the hard code, "
              f"and the gradient through the soft-max vanishes ({cold_ratio:.0e} of the straight-through one).",
              f"Cold (tau = 0.001): the soft gradient is still {cold_ratio:.2g} of the straight-through one."))
print(verdict(hot_soft > 2 * hot_hard,
              f"Hot (tau = 10): the weights are nearly uniform and the read-back slides to the codebook's mean: error "
              f"{hot_soft:.3f} vs {hot_hard:.3f} for the hard code.",
              f"Hot (tau = 10): the read-back error {hot_soft:.3f} stays near the hard code's {hot_hard:.3f}."))

# %% [markdown]
# A model trained on soft weights and then run as a discrete model (the decoder given the one-hot code) loses what
# its decoder learned to read from the weights. **Temperature annealing** (as in Gumbel-softmax VQ models, e.g.
# DALL-E's dVAE, Ramesh et al. 2021) lowers `tau` during training so that the weights approach one-hot. We evaluate
# three decoders on **hard** codes: trained on hard codes, on soft weights (`tau` = 0.1), and on soft weights with
# `tau` annealed from 1 to 0.01. Expect the soft-trained decoder to lose on hard codes and annealing to narrow that gap.

# %%
taus = [0.01 ** (s / max(1, CFG.decoder_steps - 1)) for s in range(CFG.decoder_steps)]
mse_annealed_own, _, dec_annealed = train_decoder("soft-max weights", taus=taus)
with torch.no_grad():
    hard_test = representation(x_test, "hard VQ")
    on_hard = {name: F.mse_loss(dec(hard_test), x_test).item() for name, dec in
               [("trained on hard codes", results["hard VQ"][2]),
                ("trained on soft weights, tau=0.1", results["soft-max weights"][2]),
                ("trained with tau annealed 1 -> 0.01", dec_annealed)]}
for name, v in on_hard.items():
    print(f"{name:>36}: test MSE on hard codes {v:.5f}")
gap_soft = on_hard["trained on soft weights, tau=0.1"] - on_hard["trained on hard codes"]
gap_annealed = on_hard["trained with tau annealed 1 -> 0.01"] - on_hard["trained on hard codes"]
claim(gap_soft > 0.1 * mse_hard, f"soft-trained decoder loses on hard codes: gap {gap_soft:.4f} (> 10% of {mse_hard:.4f})")
claim(gap_annealed < 0.5 * gap_soft, f"annealing narrows the gap: {gap_annealed:.4f} < half of {gap_soft:.4f}")
print(verdict(mse_annealed_own < 0.9 * mse_hard,
              f"At tau = 0.01 the weights still leak: {mse_annealed_own:.4f} on soft weights vs {mse_hard:.4f} on hard codes.",
              f"At tau = 0.01 no leak is measurable here ({mse_annealed_own:.4f} vs {mse_hard:.4f} on hard codes)."))

# %% [markdown]
# In exact arithmetic, soft weights at any finite `tau` carry more than the code. In practice nothing is left once the
# distance gaps exceed about 100 `tau`: the weights then differ from one-hot by less than $e^{-100}$, below float32's
# resolution, and the soft gradient vanishes, as the cold end above shows.

# %% [markdown]
# ## Summary
# - Nearest-code assignment is piecewise constant: its derivative is 0 almost everywhere.
# - The straight-through estimator uses `z_q` forward and copies the decoder's gradient at `z_q` to `z`.
# - The codebook loss moves only the codes; the commitment loss, weighted by `beta`, only the encoder.
# - With a one-hot posterior and a uniform prior, the KL is the constant `log K`.
# - Soft weights over codes, with or without Gumbel noise, leak continuous information: they are not a discrete
#   bottleneck. Only the hard Gumbel sample is a code, a random one.

# %% [markdown]
# ## Exercises
# Solved above: **1.** the straight-through line; **2.** the codebook and commitment losses; and in section 5, soft
# weights and the Gumbel-softmax. More to try:
# 3. Set `tau` in the settings table to 0.3, 0.03 and 0.01. How does the soft-weight decoder's MSE change? Does it
#    still beat hard VQ at 0.03, where the weights look almost one-hot? (Look at the second-largest weights.)
# 4. Set `beta` in the settings table to 2.0 and run the deep dive of section 3. Does the toy encoder collapse its
#    outputs onto fewer codes? Count the codes used.
# 5. In the deep dive of section 2, use `VectorQuantizer(..., grad="rotation")`. Which of the three gradients still
#    agree, and why?

# %% [markdown]
# ## Further reading
# - Y. Bengio, N. Léonard, A. Courville (2013), *Estimating or Propagating Gradients Through Stochastic Neurons for
#   Conditional Computation*, arXiv:1308.3432 (the straight-through estimator analysed; credited there to G. Hinton's
#   2012 Coursera lectures, *Neural Networks for Machine Learning*).
# - A. van den Oord, O. Vinyals, K. Kavukcuoglu (2017), *Neural Discrete Representation Learning*, arXiv:1711.00937.
# - E. Jang, S. Gu, B. Poole (2016), *Categorical Reparameterization with Gumbel-Softmax*, arXiv:1611.01144.
# - C. J. Maddison, A. Mnih, Y. W. Teh (2016), *The Concrete Distribution: A Continuous Relaxation of Discrete Random
#   Variables*, arXiv:1611.00712.
# - C. Fifty et al. (2024), *Restructuring Vector Quantization with the Rotation Trick*, arXiv:2410.06424.
# - P. Esser, R. Rombach, B. Ommer (2021), *Taming Transformers for High-Resolution Image Synthesis*,
#   arXiv:2012.09841 (its code, CompVis/taming-transformers, has the `legacy=True` beta placement discussed above).
# - A. Ramesh et al. (2021), *Zero-Shot Text-to-Image Generation* (DALL-E, a Gumbel-softmax dVAE), arXiv:2102.12092.
