# %% [markdown]
# # 03 · The straight-through estimator: training through a quantizer
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-to-vqgan/course/blob/v0.2.0/notebooks/student/03_straight_through.ipynb)
#
# **Learning objectives.** After this notebook you can
# - show, with finite differences, that nearest-code assignment (an `argmin`) has zero gradient almost everywhere;
# - write the straight-through estimator `z + (z_q - z).detach()` and check that it copies the decoder's gradient
#   to the encoder;
# - write the VQ-VAE's codebook and commitment losses, say what each one moves, and spot `beta` on the wrong term;
# - compute the VQ-VAE's KL term and see why it is the constant `log K`;
# - explain, with a measurement, why a soft relaxation (soft-max weights over codes, or a soft Gumbel-softmax) is not
#   quantization, while a hard Gumbel-softmax sample is.
#
# **Prerequisites.** Notebook 02 (codebooks, nearest-code assignment, k-means); autograd and `.detach()` in PyTorch.
#
# **Estimated time.** Core path about 56 min (estimated from this notebook by `make stats`). Machine: about 14 s under
# `quick` on 2 CPU cores; under 1 min of training under `standard` on a T4 (estimated from FLOPs, not yet timed).

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
# Everything in this notebook is small (2-D toys), so it runs on the CPU under every profile; the profiles only change
# how many points and training steps the last experiment uses.

# %%
from course_lib.profiles import settings

CFG = settings(
    quick=dict(n_points=2048, decoder_steps=400, num_codes=8),
    standard=dict(n_points=8192, decoder_steps=2000, num_codes=8),
    full=dict(n_points=16384, decoder_steps=4000, num_codes=8),
)
CFG

# %%
import math

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib.claims import claim, verdict
from course_lib.losses import vq_loss
from course_lib.quantize import VectorQuantizer, kmeans, nearest_code, rotation_trick, straight_through

# %% [markdown]
# ## 1. Nearest-code assignment has no useful gradient
# A VQ-VAE's encoder outputs a vector `z`; the quantizer replaces it by the nearest code,
# `q(z) = e_k` with `k = argmin_j |z - e_j|^2`. As a function of `z`, `q` is **piecewise constant**: moving `z` a
# little does not change which code is nearest, so the output does not move. Its derivative is 0 everywhere except
# on the boundaries between cells, where `q` jumps and has no derivative at all.
#
# Measure it in one dimension with four codes, by central finite differences `(q(z + h) - q(z - h)) / 2h`:

# %%
codes_1d = torch.tensor([[-1.5], [-0.5], [0.4], [1.5]])  # K = 4 codes in D = 1
grid = torch.linspace(-2.0, 2.0, 2001)[:, None]


def q(z):
    return codes_1d[nearest_code(z, codes_1d)]


h = 1e-4
finite_diff = ((q(grid + h) - q(grid - h)) / (2 * h)).squeeze(1)
frac_zero = (finite_diff == 0).float().mean().item()
print(f"finite-difference derivative is exactly 0 at {frac_zero:.2%} of {len(grid)} points; "
      f"largest value {finite_diff.abs().max():.0f} (a jump divided by 2h)")

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
# Autograd agrees: `argmin` returns integers, which carry no gradient, so the codes looked up with them are
# connected to the codebook but not to `z`.

# %%
z = torch.randn(5, 1, requires_grad=True)
codebook_param = codes_1d.clone().requires_grad_(True)
idx = torch.cdist(z, codebook_param).argmin(1)  # (the distances do depend on z, but argmin's output does not)
z_q = codebook_param[idx]
(grad_z,) = torch.autograd.grad(z_q.sum(), z, allow_unused=True)
print("indices:", idx.tolist(), "| dtype", idx.dtype, "| gradient of z_q w.r.t. z:", grad_z)

# %% [markdown]
# **Check.** Almost every finite difference is exactly zero (the few spikes are the 3 cell boundaries), and autograd
# finds no path from `z_q` back to `z`. A decoder trained on `z_q` alone would never tell the encoder anything.
# (Both are demonstrations of a mathematical fact, not evidence that could have come out the other way.)

# %%
assert frac_zero > 0.99, f"expected nearly all zero derivatives, got {frac_zero:.2%}"
assert grad_z is None, "z_q should not depend on z through autograd"

# %% [markdown]
# ## 2. The straight-through estimator
# The **straight-through estimator** pretends that the quantizer is the identity in the backward pass: use `q(z)` in
# the forward pass and copy the gradient arriving at `q(z)` unchanged to `z`. The idea goes back to Hinton's 2012
# Coursera lectures (*Neural Networks for Machine Learning*), as Bengio, Léonard and Courville (2013), who analysed
# it and compared it with other estimators for binary stochastic neurons, note. van den Oord et al. (2017) do exactly
# this in the VQ-VAE: "we just copy gradients from decoder input `z_q(x)` to encoder output
# `z_e(x)`". In PyTorch it is one line built from `.detach()` (which means *stop-gradient*, `sg[.]`):
#
# $$ \text{out} = z + \text{sg}[z_q - z] $$
#
# The value is `z + z_q - z = z_q`; the derivative with respect to `z` is the identity because the second term is a
# constant to autograd. The forward path goes through the argmin; the backward path goes around it:

# %%
from course_lib.diagrams import ste_diagram

ste_diagram();

# %% [markdown]
# ### Exercise 1: the straight-through line
# Complete `my_straight_through(z, z_q)`: return a tensor whose value is `z_q` and whose gradient flows to `z`
# unchanged (and not to `z_q`).

# %%
def my_straight_through(z, z_q):
    """Value z_q; gradient w.r.t. z = gradient w.r.t. the output; no gradient to z_q."""
    ### BEGIN SOLUTION
    return z + (z_q - z).detach()
    ### END SOLUTION


# %%
from course_lib.checks.ste import check_straight_through

check_straight_through(my_straight_through)
### BEGIN HIDDEN TESTS
check_straight_through(my_straight_through, seed=11)
### END HIDDEN TESTS

# %% [markdown]
# From here on the notebook uses `course_lib.quantize.straight_through` (the same line), and the quantizer that
# applies it, `course_lib.quantize.VectorQuantizer`.
#
# ### The gradient that reaches `z` is the decoder's gradient at `z_q`
# Take a small decoder and a loss `L(decoder(z_q))`. With the STE, `z.grad` should equal `dL/dz_q`, the gradient
# the decoder sends to its input. We compute `dL/dz_q` twice: by autograd (with `z_q` as a leaf) and numerically, by
# finite differences in float64.

# %%
torch.manual_seed(0)
decoder = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 3)).double()
target = torch.randn(8, 3, dtype=torch.float64)


def decoder_loss(v):
    return (decoder(v) - target).pow(2).sum()


vq = VectorQuantizer(num_codes=16, code_dim=2, init="normal")
z = torch.randn(8, 2, dtype=torch.float64, requires_grad=True)
out = vq(z)  # out.z_q: the codes, with the straight-through gradient
decoder_loss(out.z_q).backward()
grad_ste = z.grad.clone()

# dL/dz_q by autograd, z_q as a leaf
v = out.z_q.detach().clone().requires_grad_(True)
(grad_at_zq,) = torch.autograd.grad(decoder_loss(v), v)

# dL/dz_q by central finite differences
grad_numeric = torch.zeros_like(v)
eps = 1e-6
with torch.no_grad():
    for i in range(v.shape[0]):
        for j in range(v.shape[1]):
            step = torch.zeros_like(v)
            step[i, j] = eps
            grad_numeric[i, j] = (decoder_loss(v + step) - decoder_loss(v - step)) / (2 * eps)

print("z.grad (STE)     :", grad_ste[0].tolist())
print("dL/dz_q autograd :", grad_at_zq[0].tolist())
print("dL/dz_q numerical:", grad_numeric[0].tolist())
codes_chosen = vq.codebook.detach()[out.indices].double()
print("z_q equals the chosen codes:", torch.allclose(out.z_q.detach(), codes_chosen, atol=1e-6))

# %% [markdown]
# **Check.** The encoder receives exactly the decoder's gradient at `z_q` (autograd and finite differences agree),
# and the forward value is the chosen codes.

# %%
assert torch.allclose(grad_ste, grad_at_zq, rtol=1e-5, atol=1e-7), "STE must copy dL/dz_q to z"
assert torch.allclose(grad_at_zq, grad_numeric, rtol=1e-5, atol=1e-6), "autograd and finite differences disagree"
assert torch.allclose(out.z_q.detach(), codes_chosen, atol=1e-6), "the forward value is the chosen codes"

# %% [markdown]
# The STE's gradient is **biased**: it is the gradient at `z_q`, applied at `z`. It is a good direction when `z` is
# close to its code, which is one job of the commitment loss below. Fifty et al. (2024) propose a different way to
# carry the gradient, the **rotation trick**: same forward value, but the gradient is rotated and rescaled by the
# transformation that maps `z` onto `z_q` (`course_lib.quantize.rotation_trick`; notebook 05 compares it in training).

# %%
z_demo = torch.tensor([[1.0, 0.0]], requires_grad=True)
zq_demo = torch.tensor([[0.0, 2.0]])
g = torch.tensor([[1.0, 0.0]])  # a gradient arriving at z_q
(grad_rot,) = torch.autograd.grad((rotation_trick(z_demo, zq_demo) * g).sum(), z_demo)
(grad_st,) = torch.autograd.grad((straight_through(z_demo, zq_demo) * g).sum(), z_demo)
print("forward values equal:", torch.equal(rotation_trick(z_demo, zq_demo), zq_demo))
print("STE gradient:", grad_st.tolist(), "| rotation-trick gradient:", grad_rot.tolist())
assert torch.equal(rotation_trick(z_demo, zq_demo), zq_demo) and not torch.allclose(grad_rot, grad_st)

# %% [markdown]
# Here `z_q` is `z` rotated by 90 degrees and stretched by 2; the rotation trick rotates (back) and scales the gradient
# accordingly, so it keeps the same angle to `z` that `g` has to `z_q`.
#
# ## 3. The codebook and commitment losses
# The STE sends gradients to the **encoder**, but nothing so far reaches the **codebook**: the codes are only
# looked up. van den Oord et al. (2017, eq. 3) add two terms:
#
# $$ L = \underbrace{-\log p(x \mid z_q)}_{\text{reconstruction}} + \underbrace{\lVert \text{sg}[z_e] - e \rVert^2}_{\text{codebook}} + \underbrace{\beta \lVert z_e - \text{sg}[e] \rVert^2}_{\text{commitment}}, \qquad \beta = 0.25 $$
#
# * the **codebook loss** moves each chosen code `e` towards the encoder outputs assigned to it (a gradient version of
#   the k-means update of notebook 02); `sg[z_e]` keeps it from moving the encoder;
# * the **commitment loss** keeps the encoder's outputs close to their codes, so they do not drift away from the
#   codebook faster than the codes can follow; `sg[e]` keeps it from moving the codes. `beta` weighs it; the
#   paper found results robust for beta from 0.1 to 2.0 and used 0.25.
#
# (The paper's eq. 3 writes the first term as $+\log p(x \mid z_q(x))$, a sign slip: a loss to *minimise* needs the
# negative log-likelihood, as written above; for a Gaussian decoder it is the mean squared error, up to constants.)
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
from course_lib.checks.ste import check_vq_loss

check_vq_loss(my_vq_loss)
### BEGIN HIDDEN TESTS
check_vq_loss(my_vq_loss, seed=7, beta=2.0)
### END HIDDEN TESTS

# %% [markdown]
# The check compares **gradients**, not only values: `mean((sg[z_e] - z_q)^2)` and `mean((z_e - sg[z_q])^2)` are
# the same number, and only the place of `.detach()` decides what each term trains. From here on we use
# `course_lib.losses.vq_loss`, which returns `(total, codebook, commitment)`.
#
# ### Each term moves only what it should
# A toy: 2-D data, a linear "encoder" and a codebook of 8 codes. First the gradients of each term, then 30 plain
# gradient-descent steps on **one term at a time** (one optimiser holding both the encoder and the codebook, so
# nothing but the stop-gradients decides what moves).

# %%
torch.manual_seed(0)
x_toy = torch.randn(256, 2)


def make_toy():
    torch.manual_seed(1)
    encoder = nn.Linear(2, 2)
    codebook = nn.Embedding(8, 2)
    nn.init.normal_(codebook.weight, std=0.5)
    return encoder, codebook


def toy_forward(encoder, codebook):
    z_e = encoder(x_toy)
    e = codebook(nearest_code(z_e, codebook.weight))
    return z_e, e


encoder, codebook = make_toy()
z_e, e = toy_forward(encoder, codebook)
terms = vq_loss(z_e, e, beta=0.25)
rows = []
for name, term in [("codebook", terms.codebook), ("commitment", terms.commitment)]:
    g_enc, g_code = torch.autograd.grad(term, [encoder.weight, codebook.weight], retain_graph=True, allow_unused=True)
    rows.append((name, 0.0 if g_enc is None else g_enc.norm().item(), 0.0 if g_code is None else g_code.norm().item()))
print(f"{'term':>10}  {'|grad encoder|':>15}  {'|grad codebook|':>15}")
for name, ge, gc in rows:
    print(f"{name:>10}  {ge:15.4f}  {gc:15.4f}")

# %%
def mean_sq_distance(encoder, codebook):
    with torch.no_grad():
        z_e, e = toy_forward(encoder, codebook)
        return (z_e - e).pow(2).sum(1).mean().item()


def train_one_term(which, steps=30, lr=2.0):
    encoder, codebook = make_toy()
    enc0, code0 = encoder.weight.detach().clone(), codebook.weight.detach().clone()
    opt = torch.optim.SGD(list(encoder.parameters()) + list(codebook.parameters()), lr=lr)
    before = mean_sq_distance(encoder, codebook)
    for _ in range(steps):
        z_e, e = toy_forward(encoder, codebook)
        t = vq_loss(z_e, e, beta=0.25)
        opt.zero_grad()
        getattr(t, which).backward()
        opt.step()
    after = mean_sq_distance(encoder, codebook)
    moved_enc = (encoder.weight.detach() - enc0).norm().item()
    moved_code = (codebook.weight.detach() - code0).norm().item()
    return dict(before=before, after=after, encoder_moved=moved_enc, codes_moved=moved_code,
                encoder=encoder, codebook=codebook, code0=code0)


only_codebook = train_one_term("codebook")
only_commit = train_one_term("commitment")
for name, r in [("codebook loss only", only_codebook), ("commitment loss only", only_commit)]:
    print(f"{name:>21}: mean |z_e - e|^2 {r['before']:.3f} -> {r['after']:.3f} | encoder moved "
          f"{r['encoder_moved']:.3f} | codes moved {r['codes_moved']:.3f}")

fig, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, (title, r) in zip(axes, [("codebook loss only: codes move", only_codebook),
                                 ("commitment loss only: encoder moves", only_commit)]):
    with torch.no_grad():
        z_e_end = r["encoder"](x_toy)
    ax.scatter(*z_e_end.T, s=4, alpha=0.4, label="encoder outputs (after)")
    ax.scatter(*r["code0"].T, marker="x", c="gray", s=60, label="codes before")
    ax.scatter(*r["codebook"].weight.detach().T, marker="*", c="red", s=120, label="codes after")
    ax.set(title=title, xlabel="z[0]", ylabel="z[1]")
axes[0].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# **Check.** The codebook loss has zero gradient for the encoder and moves only the codes (towards the encoder
# outputs they are assigned to); the commitment loss has zero gradient for the codebook and moves only the encoder.
# Either way the distance between encoder outputs and their codes shrinks.

# %%
# Contract (what the stop-gradients guarantee): each term has no gradient on one side, so that side never moves.
assert rows[0][1] == 0.0 and rows[0][2] > 0, "codebook loss: no gradient to the encoder, some to the codes"
assert rows[1][1] > 0 and rows[1][2] == 0.0, "commitment loss: some gradient to the encoder, none to the codes"
assert only_codebook["encoder_moved"] == 0.0 and only_commit["codes_moved"] == 0.0
# Measured: how far the other side moves, and how much the distance shrinks.
claim(only_codebook["codes_moved"] > 0.1 and only_commit["encoder_moved"] > 0.01,
      f"codes moved {only_codebook['codes_moved']:.3f} (> 0.1), encoder moved {only_commit['encoder_moved']:.3f} (> 0.01)")
claim(only_codebook["after"] < 0.5 * only_codebook["before"],
      f"codebook loss alone: mean |z_e - e|^2 {only_codebook['before']:.3f} -> {only_codebook['after']:.3f} (< half)")
claim(only_commit["after"] < only_commit["before"],
      f"commitment loss alone: mean |z_e - e|^2 {only_commit['before']:.3f} -> {only_commit['after']:.3f}");

# %% [markdown]
# ### Pitfall: `beta` on the wrong term
# CompVis/taming-transformers (the VQGAN code, Esser et al. 2021) computes, in `VectorQuantizer2` with its default
# `legacy=True`, `mean((sg[z_q] - z)^2) + beta * mean((z_q - sg[z])^2)`: `beta` multiplies the *codebook* term. Its
# own comment says "due to a bug the beta term was applied to the wrong term", kept by default for backwards
# compatibility, and code copied from it inherits it. Measure what changes:

# %%
encoder, codebook = make_toy()
z_e, e = toy_forward(encoder, codebook)
beta = 0.25
correct = F.mse_loss(e, z_e.detach()) + beta * F.mse_loss(z_e, e.detach())  # = vq_loss(z_e, e, beta).total
legacy = F.mse_loss(e.detach(), z_e) + beta * F.mse_loss(e, z_e.detach())  # beta on the codebook term
g_correct = torch.autograd.grad(correct, [encoder.weight, codebook.weight], retain_graph=True)
g_legacy = torch.autograd.grad(legacy, [encoder.weight, codebook.weight])
ratio_encoder = (g_legacy[0].norm() / g_correct[0].norm()).item()
ratio_codes = (g_correct[1].norm() / g_legacy[1].norm()).item()
print(f"legacy/correct encoder gradient: {ratio_encoder:.2f}x | correct/legacy codebook gradient: {ratio_codes:.2f}x")

# With Adam, the size of a parameter's gradient barely matters: the step is normalised by its running scale.
steps = []
for scale in (1.0, beta):
    cb = codebook.weight.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([cb], lr=1e-2)
    loss = scale * F.mse_loss(cb[nearest_code(z_e.detach(), cb.detach())], z_e.detach())
    loss.backward()
    opt.step()
    steps.append(cb.detach() - codebook.weight.detach())
print("Adam step on the codebook, loss x1 vs x0.25: max difference", (steps[0] - steps[1]).abs().max().item())

# %% [markdown]
# **Check.** The encoder's pull towards the codes is `1/beta = 4` times stronger and the codebook's gradient 4 times
# weaker. With Adam the codebook's *step* is (almost) unchanged, because Adam divides by the gradient's scale and
# the codebook gets no other gradient. So in practice the bug's effect is on the **encoder**: relative to its
# reconstruction gradient, the commitment term weighs 1.0 instead of 0.25.

# %%
assert abs(ratio_encoder - 1 / beta) < 1e-3 and abs(ratio_codes - 1 / beta) < 1e-3
step_size = steps[0].abs().max().item()  # ~ the learning rate, 1e-2
assert (steps[0] - steps[1]).abs().max() < 1e-3 * step_size, "Adam's first step should not depend on the loss scale"

# %% [markdown]
# ## 4. The VQ-VAE's KL term is a constant
# The VQ-VAE is a VAE whose posterior `q(k | x)` is **one-hot** (all mass on the nearest code) and whose prior
# over the K codes, during training, is **uniform**. Its KL term is then
#
# $$ \mathrm{KL}(q \,\|\, p) = \sum_k q_k \log \frac{q_k}{p_k} = 1 \cdot \log \frac{1}{1/K} = \log K, $$
#
# the same for every image: it has no gradient and the VQ-VAE drops it from the loss (van den Oord et al. 2017,
# section 3.1). Compute it for a few random posteriors:

# %%
K = 512
prior = torch.full((K,), 1.0 / K)
kls = []
for k in torch.randint(K, (5,)).tolist():
    posterior = F.one_hot(torch.tensor(k), K).double()
    kl = torch.special.xlogy(posterior, posterior).sum() - (posterior * prior.double().log()).sum()  # 0 log 0 = 0
    kls.append(kl.item())
print("KL for 5 different one-hot posteriors:", [f"{v:.4f}" for v in kls])
print(f"log K = {math.log(K):.4f} nats = {math.log2(K):.0f} bits: the size of one code index")

# %%
assert all(abs(v - math.log(K)) < 1e-9 for v in kls), "the KL of a one-hot posterior to a uniform prior is log K"

# %% [markdown]
# `log2 K` bits is exactly what it costs to store one index: the rate of a VQ-VAE is fixed by its grid size and
# K (notebook 04 counts bits per image). Note that the ELBO with this KL only holds for the uniform prior used in
# training; the learned prior of notebook 06 is fitted afterwards.
#
# ## 5. Soft quantization is not quantization
# A tempting way to avoid the STE is to replace the hard assignment by **soft** weights over the codes,
# `w = softmax(-|z - e_k|^2 / tau)`, and feed `w` (or `sum_k w_k e_k`) to the decoder: everything is
# differentiable. The **Gumbel-softmax** (Jang, Gu, Poole 2016; Maddison, Mnih, Teh 2016) adds Gumbel noise to
# sample a code, with a soft relaxation at temperature `tau` (soft), or a one-hot sample with straight-through
# gradients (`hard=True`): the hard version *is* quantization (a random one), only the soft one is a relaxation.
#
# The catch: soft weights are K *real numbers*, a continuous function of `z`, so they can carry much more than the
# `log2 K` bits of the code they "choose". Measure it. Points `x` fill a square; 8 codes come from k-means; a small
# decoder (an MLP) is trained to reconstruct `x` from each representation and evaluated on new points:
#
# | representation | what the decoder sees |
# |---|---|
# | hard VQ | one-hot of the nearest code: `log2 8 = 3` bits |
# | soft-max weights | `softmax(-d^2 / tau)`, whose arg-max is the same code |
# | Gumbel-softmax (soft) | `softmax((log w + g) / 1)`, Gumbel noise `g` |
# | Gumbel-softmax (hard, straight-through) | a one-hot *sample* |

# %%
torch.manual_seed(0)
x_train = torch.rand(CFG.n_points, 2) * 2 - 1
x_test = torch.rand(CFG.n_points, 2) * 2 - 1
codes_2d = kmeans(x_train, CFG.num_codes, iters=30, seed=0).codebook
tau = 0.1  # squared distances to the nearest codes differ by ~0.1-0.5: the largest weight is ~0.8 on average


def representation(x, kind, tau=tau):
    d2 = torch.cdist(x, codes_2d).pow(2)
    logits = -d2 / tau
    if kind == "hard VQ":
        return F.one_hot(d2.argmin(1), CFG.num_codes).float()
    if kind == "soft-max weights":
        return logits.softmax(1)
    if kind == "Gumbel-softmax (soft)":
        return F.gumbel_softmax(logits.log_softmax(1), tau=1.0, hard=False)
    if kind == "Gumbel-softmax (hard, ST)":
        return F.gumbel_softmax(logits.log_softmax(1), tau=1.0, hard=True)
    raise ValueError(kind)


def train_decoder(kind, taus=None):
    """Train a decoder on representation(x_train, kind) (at temperature taus[step] when given); returns
    (test MSE on the same kind of representation at the last temperature, its outputs, the decoder)."""
    torch.manual_seed(0)
    dec = nn.Sequential(nn.Linear(CFG.num_codes, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
    opt = torch.optim.Adam(dec.parameters(), lr=3e-3)
    for step in range(CFG.decoder_steps):
        t = tau if taus is None else taus[step]
        loss = F.mse_loss(dec(representation(x_train, kind, t)), x_train)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        x_hat = dec(representation(x_test, kind, tau if taus is None else taus[-1]))
    return F.mse_loss(x_hat, x_test).item(), x_hat, dec


results = {kind: train_decoder(kind) for kind in
           ["hard VQ", "soft-max weights", "Gumbel-softmax (soft)", "Gumbel-softmax (hard, ST)"]}
with torch.no_grad():
    code_mse = F.mse_loss(codes_2d[nearest_code(x_test, codes_2d)], x_test).item()
    w = representation(x_test, "soft-max weights")
print(f"mean largest soft weight: {w.max(1).values.mean():.3f} (1.0 would be one-hot); "
      f"arg-max = nearest code for {(w.argmax(1) == nearest_code(x_test, codes_2d)).float().mean():.0%} of points")
print(f"{'representation':>27}  test MSE")
print(f"{'the nearest code itself':>27}  {code_mse:.5f}")
for kind, (mse_value, _, _) in results.items():
    print(f"{kind:>27}  {mse_value:.5f}")

# %%
fig, axes = plt.subplots(1, 4, figsize=(12, 3.5), sharex=True, sharey=True)
for ax, (kind, (mse_value, x_hat, _)) in zip(axes, results.items()):
    ax.scatter(*codes_2d.T, marker="o", facecolor="none", edgecolor="red", s=120, lw=1.5)
    ax.scatter(*x_hat[:1000].T, s=4, alpha=0.5, zorder=3)
    n_distinct = len(torch.unique(x_hat.round(decimals=3), dim=0))
    ax.set(title=f"{kind}\nMSE {mse_value:.4f}, {n_distinct} distinct outputs", xlabel="x[0]")
    ax.title.set_fontsize(10)
axes[0].set_ylabel("x[1]")
fig.suptitle("decoder outputs on new points (blue; red circles: the 8 codes)")
plt.tight_layout()
plt.show()

# %% [markdown]
# **Check.** With hard VQ the decoder can do no better than one point per code (its MSE should match the distortion
# of the nearest code). If soft-max weights whose arg-max names the *same* code let the decoder reconstruct several
# times better, the weights leak the continuous position. A hard Gumbel sample should do no better than hard VQ (it
# sometimes picks another code); soft Gumbel weights may leak despite the noise. The verdicts below are printed from
# the measurements.

# %%
mse_hard, mse_soft = results["hard VQ"][0], results["soft-max weights"][0]
mse_gumbel_soft, mse_gumbel_hard = results["Gumbel-softmax (soft)"][0], results["Gumbel-softmax (hard, ST)"][0]
claim(mse_hard < 1.5 * code_mse, f"hard-code decoder MSE {mse_hard:.4f} is within 1.5x of the codebook's {code_mse:.4f}")
claim(mse_soft < 0.3 * mse_hard, f"soft weights leak: decoder MSE {mse_soft:.4f} < 0.3 x hard {mse_hard:.4f}")
claim(mse_gumbel_soft < 0.8 * mse_hard, f"soft Gumbel weights leak: {mse_gumbel_soft:.4f} < 0.8 x hard {mse_hard:.4f}")
claim(mse_gumbel_hard > 0.9 * mse_hard, f"a hard Gumbel sample {mse_gumbel_hard:.4f} does not beat hard VQ {mse_hard:.4f}")
print(verdict(mse_soft < 0.3 * mse_hard,
              f"Soft-max weights leak: from them the decoder's error is {mse_hard / mse_soft:.0f}x lower than from the code.",
              f"Soft-max weights leaked little here ({mse_soft:.4f} vs {mse_hard:.4f})."))
print(verdict(mse_gumbel_soft < mse_hard,
              f"Soft Gumbel weights leak despite the noise ({mse_gumbel_soft:.4f} < {mse_hard:.4f}).",
              f"The Gumbel noise hides the position ({mse_gumbel_soft:.4f} >= {mse_hard:.4f})."))

# %% [markdown]
# **Explore: the temperature.** What does `tau` do to one input? Below, for one test point at a time (the encoder
# is the identity here, so `z = x`): the soft-max weights over the 8 codes against the hard one-hot, the soft
# read-back `sum_k w_k e_k` against the hard code, and the gradient of the read-back error `|read-back - x|^2` that
# reaches `z`, exactly through the soft-max or straight through from the hard code. The arrows show where each
# gradient would move `z`: the straight-through one acts as if the hard code moved with `z`, so it points from that
# code towards `x` and beyond; the soft one follows what really changes, the weights. The lower panels sweep `tau`;
# the vertical line is the slider's value (the figure shows `tau` = 0.1, the value used above).

# %%
from functools import partial

import numpy as np

from course_lib.explorers import IntSlider, Slider, explorer
from course_lib.explorers.temperature import draw_temperature, temperature_sweep

explorer(partial(draw_temperature, codes=codes_2d, points=x_test[:10]),
         log10_tau=Slider(-2.5, 1.0, round(math.log10(tau), 2), step=0.05, label="log10 temperature"),
         point=IntSlider(0, 9, 0, label="test point"));

# %% [markdown]
# The two ends of the temperature axis, measured over test points rather than read off one figure:

# %%
ends = [temperature_sweep(p, codes_2d, [1e-3, 10.0]) for p in x_test[:200]]
cold_ratio = float(np.median([e["soft_grad"][0] / e["ste_grad"][0] for e in ends]))
hot_soft, hot_hard = float(np.mean([e["soft_error"][1] for e in ends])), float(np.mean([e["hard_error"][1] for e in ends]))
print(verdict(cold_ratio < 1e-3,
              f"Cold (tau = 0.001): the weights are one-hot, the read-back is the hard code, and the gradient through "
              f"the soft-max vanishes (median size {cold_ratio:.0e} times the straight-through gradient's).",
              f"Cold (tau = 0.001): the soft gradient is still {cold_ratio:.2g} of the straight-through one."))
print(verdict(hot_soft > 2 * hot_hard,
              f"Hot (tau = 10): the weights are nearly uniform and the read-back slides to the codebook's mean: error "
              f"{hot_soft:.3f} vs {hot_hard:.3f} for the hard code.",
              f"Hot (tau = 10): the read-back error {hot_soft:.3f} stays near the hard code's {hot_hard:.3f}."))

# %% [markdown]
# ### Soft training, hard codes at test time
# A model trained on soft weights and then run as a discrete model (storing only the code index, i.e. feeding the
# decoder the one-hot code) loses what its decoder learned to read from the weights. **Temperature annealing**
# (as in Gumbel-softmax VQ models, e.g. DALL-E's dVAE, Ramesh et al. 2021) lowers `tau` during training so that the
# weights approach one-hot. Measure both: the decoders trained above on hard codes and on soft weights
# (`tau` = 0.1), and a third trained on soft weights with `tau` annealed geometrically from 1 to 0.01, each
# evaluated on **hard** one-hot codes of the test points.

# %%
taus = [1.0 * 0.01 ** (s / max(1, CFG.decoder_steps - 1)) for s in range(CFG.decoder_steps)]
mse_annealed_own, _, dec_annealed = train_decoder("soft-max weights", taus=taus)
with torch.no_grad():
    hard_test = representation(x_test, "hard VQ")
    on_hard = {name: F.mse_loss(dec(hard_test), x_test).item() for name, dec in
               [("trained on hard codes", results["hard VQ"][2]),
                ("trained on soft weights, tau=0.1", results["soft-max weights"][2]),
                ("trained with tau annealed 1 -> 0.01", dec_annealed)]}
print(f"{'decoder':>36}  test MSE on hard codes")
for name, v in on_hard.items():
    print(f"{name:>36}  {v:.5f}")
print(f"the annealed decoder on its own soft weights at tau=0.01: {mse_annealed_own:.5f}")

# %%
gap_soft = on_hard["trained on soft weights, tau=0.1"] - on_hard["trained on hard codes"]
gap_annealed = on_hard["trained with tau annealed 1 -> 0.01"] - on_hard["trained on hard codes"]
claim(gap_soft > 0.1 * mse_hard, f"soft-trained decoder loses on hard codes: gap {gap_soft:.4f} (> 10% of {mse_hard:.4f})")
claim(gap_annealed < 0.5 * gap_soft, f"annealing narrows the gap: {gap_annealed:.4f} < half of {gap_soft:.4f}")
print(verdict(gap_soft > 0.1 * mse_hard,
              f"Switching a soft-trained decoder to hard codes costs {gap_soft:.4f} MSE ({gap_soft / mse_hard:.0%}).",
              "Switching a soft-trained decoder to hard codes cost little here."))
print(verdict(gap_annealed < 0.5 * gap_soft,
              f"Annealing narrows that gap to {gap_annealed:.4f}.", f"Annealing did not narrow the gap ({gap_annealed:.4f})."))
print(verdict(mse_annealed_own < 0.9 * mse_hard,
              f"At tau = 0.01 the weights still leak: {mse_annealed_own:.4f} on soft weights vs {mse_hard:.4f} on hard codes.",
              f"At tau = 0.01 no leak is measurable here ({mse_annealed_own:.4f} vs {mse_hard:.4f} on hard codes)."))

# %% [markdown]
# So a model trained with soft weights is not a discrete model: its "codes" are not a `log2 K`-bit bottleneck, and
# switching to hard codes at test time loses what the decoder learned to read from the weights. Annealing narrows
# that gap (measured above), while at any finite `tau` the soft weights still carry more than the code. Hard VQ
# with the STE keeps the bottleneck honest.
#
# ## Summary
# - Nearest-code assignment is piecewise constant: its derivative is 0 almost everywhere (measured), and autograd
#   finds no path through `argmin`.
# - The straight-through estimator `z + (z_q - z).detach()` uses `z_q` forward and copies the decoder's gradient at
#   `z_q` to `z` (checked against autograd and finite differences). The rotation trick is an alternative.
# - The codebook loss `|sg[z_e] - e|^2` moves only the codes; the commitment loss `beta |z_e - sg[e]|^2` only the
#   encoder. `beta` on the wrong term (taming-transformers' `legacy=True`) makes the encoder's pull 4x stronger.
# - With a one-hot posterior and a uniform prior the KL is `log K`: a constant, so it is dropped.
# - Soft-max weights over codes leak continuous information: a decoder reads far more than `log2 K` bits from them,
#   and loses it when given hard codes; annealing the temperature narrows that gap.
#
# ## Exercises
# 1. *(checked above)* The straight-through line.
# 2. *(checked above)* The codebook and commitment losses.
# 3. Change `tau` in section 5 to 0.3, 0.03 and 0.01. How does the soft-weight decoder's MSE change? Does it still
#    beat hard VQ at 0.03, where the weights look almost one-hot? (Hint: look at the second-largest weights.)
# 4. In section 3, train with `beta = 2.0` on the commitment term. Does the toy encoder collapse its outputs onto
#    fewer codes? Count the codes used.
# 5. Replace `straight_through` by `rotation_trick` in the gradient check of section 2. Which of the three
#    gradients still agree, and why?
#
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
