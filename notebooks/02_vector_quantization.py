# %% [markdown]
# # 02 · Vector quantization
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-to-vqgan/course/blob/v0.3.0/notebooks/student/02_vector_quantization.ipynb)
#
# **Learning objectives.** After this notebook you can
# - quantize vectors with a codebook (nearest-code assignment);
# - learn a codebook with k-means (Lloyd's algorithm), written from scratch, on toy data and on image patches;
# - read a rate-distortion curve;
# - compute all squared distances with **one matrix multiply**, without an (N, K, D) tensor.
#
# **Prerequisites.** Notebook 01 (why discrete latents); matrix multiplication and broadcasting in PyTorch.
#
# **Estimated time.** Core path about 35 min; the deep dive about 6 min more (estimated from this notebook by `make
# stats`). Machine: about 7 s under `quick` on 2 CPU cores; under 1 min of training under `standard` on a T4
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
# All sizes come from this table (the active profile's column is marked).

# %%
from course_lib.profiles import settings

CFG = settings(
    quick=dict(toy_points=600, toy_k=6, lloyd_iters=8, dataset="fashion-mnist", n_images=500, patch=4,
               patch_k=64, kmeans_iters=10, rd_ks=[2, 4, 8, 16, 32, 64, 128], bench_n=2048, bench_k=256, bench_d=64),
    standard=dict(toy_points=2000, toy_k=6, lloyd_iters=8, dataset="fashion-mnist", n_images=10000, patch=4,
                  patch_k=256, kmeans_iters=30, rd_ks=[2, 4, 8, 16, 32, 64, 128, 256, 512], bench_n=8192,
                  bench_k=512, bench_d=64),
    full=dict(toy_points=2000, toy_k=6, lloyd_iters=8, dataset="fashion-mnist", n_images=20000, patch=4,
              patch_k=512, kmeans_iters=50, rd_ks=[2, 4, 8, 16, 32, 64, 128, 256, 512, 1024], bench_n=16384,
              bench_k=1024, bench_d=64),
    # smoke (CI only): standard's codebook sizes, but a benchmark whose naive (N, K, D) tensor is 256 MiB, not 1 GiB
    smoke=dict(bench_n=2048),
)
CFG

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from course_lib.claims import claim, verdict
from course_lib.data import load_dataset
from course_lib.viz import show_images

device = ENV.device

# %% [markdown]
# ## 1. Codebooks and nearest-code assignment
#
# A **codebook** is a matrix $E \in \mathbb R^{K \times D}$ of $K$ code vectors $e_1, \dots, e_K$. Vector
# quantization replaces a vector $z \in \mathbb R^D$ by its nearest code,
#
# $$q(z) = e_{k^*}, \qquad k^* = \arg\min_k \ \lVert z - e_k \rVert^2 ,$$
#
# so $z$ can be stored as the integer $k^*$ in $\lceil\log_2 K\rceil$ bits, exactly $\log_2 K$ for the powers of two
# used here. The error $\lVert z - q(z)\rVert^2$ is the **distortion**; the points that go to code $k$ form its
# *Voronoi cell*. Broadcasting gives all $N \times K$ squared distances: `z[:, None, :] - E[None, :, :]` has shape
# (N, K, D); square and sum over D.

# %%
def squared_distances_naive(z, codebook):
    """(N, D), (K, D) -> (N, K) by broadcasting: builds an (N, K, D) tensor."""
    return (z[:, None, :] - codebook[None, :, :]).pow(2).sum(-1)


# %% [markdown]
# **Exercise 1.** Implement `nearest_code(z, codebook)`: for each row of `z` (N, D) return the index of the nearest
# code, an int64 tensor of shape (N,). You may use `squared_distances_naive`.

# %%
def nearest_code(z, codebook):
    """Index of the nearest code for each row: (N, D), (K, D) -> (N,) int64."""
    ### BEGIN SOLUTION
    return squared_distances_naive(z, codebook).argmin(dim=1)
    ### END SOLUTION


# %%
from course_lib.checks import solved_or_reference
from course_lib.checks.vq import check_lloyd_step, check_nearest_code, check_squared_distances

check_nearest_code(nearest_code)
### BEGIN HIDDEN TESTS
check_nearest_code(nearest_code, seed=5, n=200, k=64, d=8)
### END HIDDEN TESTS

# %% [markdown]
# The Voronoi cells of a random 2-D codebook: each pixel of the plane is coloured by the code your `nearest_code`
# assigns it to. While the exercise is unsolved or wrong, `course_lib.quantize.nearest_code` stands in.

# %% tags=["fig-voronoi"]
from course_lib.quantize import nearest_code as nearest_code_lib

nearest_code = solved_or_reference(nearest_code, nearest_code_lib, "nearest_code")
torch.manual_seed(0)
toy_codebook = torch.randn(CFG.toy_k, 2) * 1.5
g = torch.linspace(-4, 4, 300)
grid = torch.stack(torch.meshgrid(g, g, indexing="xy"), -1).reshape(-1, 2)
fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.imshow(nearest_code(grid, toy_codebook).reshape(300, 300), origin="lower", extent=(-4, 4, -4, 4), cmap="tab10",
          alpha=0.35, vmin=0, vmax=9)
ax.scatter(toy_codebook[:, 0], toy_codebook[:, 1], c="k", marker="x", s=80, label="codes $e_k$")
ax.set(xlabel="$z_1$", ylabel="$z_2$", title=f"Voronoi cells of {CFG.toy_k} codes")
ax.legend(loc="upper right")
plt.show()

# %% [markdown]
# ## 2. Learning a codebook: k-means (Lloyd's algorithm)
#
# Which codebook minimises the mean distortion $J(E) = \frac1N \sum_n \min_k \lVert x_n - e_k\rVert^2$ of data
# $x_1, \dots, x_N$? Lloyd's algorithm (Lloyd 1982) alternates two steps that never raise $J$:
#
# 1. **assign**: with the codes fixed, give each point its nearest code (exercise 1);
# 2. **update**: with the assignments fixed, move each code to the mean of its points: the point with the least sum
#    of squared distances to them.
#
# An "empty cluster", a code that receives no points, has no mean; the simplest fix is to leave it where it is.
#
# **Exercise 2.** Implement one Lloyd step `lloyd_step(x, centroids)`: x (N, D), centroids (K, D); return the new
# centroids (K, D). Keep the old centroid of an empty cluster. Hint:
# `torch.zeros_like(centroids).index_add_(0, assign, x)` sums the points per cluster,
# `torch.bincount(assign, minlength=K)` counts them; a Python loop over K is fine too.

# %%
def lloyd_step(x, centroids):
    """One k-means iteration: assign each point to its nearest centroid, move centroids to the means."""
    ### BEGIN SOLUTION
    assign = nearest_code(x, centroids)
    sums = torch.zeros_like(centroids).index_add_(0, assign, x)
    counts = torch.bincount(assign, minlength=len(centroids)).to(x.dtype)[:, None]
    return torch.where(counts > 0, sums / counts.clamp_min(1), centroids)
    ### END SOLUTION


# %%
check_lloyd_step(lloyd_step)
### BEGIN HIDDEN TESTS
check_lloyd_step(lloyd_step, seed=9, d=5)
### END HIDDEN TESTS

# %% [markdown]
# Your `lloyd_step` on a 2-D toy set, a mixture of Gaussian blobs, started from `toy_k` random data points. Expect
# the codes to move towards the blobs' centres and $J$ to fall at every iteration: that is a theorem, so the figure
# demonstrates it rather than tests it.

# %% tags=["fig-lloyd"]
from course_lib.checks import vq as vq_checks

lloyd_step = solved_or_reference(lloyd_step, vq_checks.reference_lloyd_step, "lloyd_step")


def distortion(x, codebook):
    return squared_distances_naive(x, codebook).min(1).values.mean().item()


gen = torch.Generator().manual_seed(0)
centres = torch.tensor([[-2.5, -2.0], [2.5, -1.5], [0.0, 2.5], [-2.5, 2.0], [2.5, 2.5], [0.0, -0.5]])
x_toy = centres[torch.randint(len(centres), (CFG.toy_points,), generator=gen)]
x_toy = x_toy + 0.55 * torch.randn(CFG.toy_points, 2, generator=gen)
snapshots = [x_toy[torch.randperm(CFG.toy_points, generator=gen)[:CFG.toy_k]].clone()]
for it in range(CFG.lloyd_iters):
    snapshots.append(lloyd_step(x_toy, snapshots[-1]))
toy_distortion = [distortion(x_toy, c) for c in snapshots]

fig, axes = plt.subplots(2, 3, figsize=(11, 7))
axes = axes.ravel()
for ax, it in zip(axes, sorted({0, 1, 2, CFG.lloyd_iters // 2, CFG.lloyd_iters})[-5:]):
    ax.scatter(*x_toy.T, c=nearest_code_lib(x_toy, snapshots[it]), cmap="tab10", s=5, vmin=0, vmax=9)
    for a, b in zip(snapshots[max(it - 1, 0)], snapshots[it]):       # arrows from the previous centroids
        ax.annotate("", xy=b.tolist(), xytext=a.tolist(), arrowprops=dict(arrowstyle="->", lw=1.2))
    ax.scatter(*snapshots[it].T, c="k", marker="x", s=80)
    ax.set(title=f"iteration {it}: J = {toy_distortion[it]:.3f}", xlabel="$x_1$", ylabel="$x_2$")
axes[-1].plot(range(len(toy_distortion)), toy_distortion, "o-")
axes[-1].set(xlabel="Lloyd iteration", ylabel="mean distortion J", title="J never increases")
plt.tight_layout()
plt.show()
assert (np.diff(toy_distortion) <= 1e-6).all(), toy_distortion
claim(toy_distortion[-1] < 0.8 * toy_distortion[0], f"Lloyd cut the distortion from {toy_distortion[0]:.3f} to "
      f"{toy_distortion[-1]:.3f}", kind="demonstration");

# %% [markdown]
# ## 3. Fast squared distances: one matrix multiply
#
# Broadcasting builds an (N, K, D) intermediate. For a VQ-VAE batch with N = 32 x 32 x 32 positions, K = 512 codes
# and D = 64, that is $2^{30}$ numbers, 4 GiB of float32, only to be summed away. Expanding the square avoids it:
#
# $$\lVert z_n - e_k\rVert^2 = \lVert z_n\rVert^2 - 2\, z_n^\top e_k + \lVert e_k\rVert^2 ,$$
#
# an (N, 1) column of $|z|^2$, minus twice the (N, K) product $z E^\top$, plus a (1, K) row of $|e|^2$. The largest
# tensor is the (N, K) result, and the work is one well-optimised matrix multiply (GEMM).
#
# **Exercise 3.** Implement `squared_distances_fast(z, codebook)` with this expansion. Do not build the (N, K, D)
# tensor: the check measures the largest tensor your function creates.

# %%
def squared_distances_fast(z, codebook):
    """|z|^2 - 2 z E^T + |E|^2: (N, D), (K, D) -> (N, K) with one matrix multiply."""
    ### BEGIN SOLUTION
    z2 = z.pow(2).sum(dim=1, keepdim=True)  # (N, 1)
    e2 = codebook.pow(2).sum(dim=1)  # (K,) broadcasts as a row (1, K)
    return z2 - 2 * z @ codebook.T + e2
    ### END SOLUTION


# %%
check_squared_distances(squared_distances_fast)
### BEGIN HIDDEN TESTS
check_squared_distances(squared_distances_fast, seed=11, n=7, k=40, d=16)
### END HIDDEN TESTS

# %% [markdown]
# `course_lib.quantize` holds the final forms: `squared_distances` (this expansion, clamped at 0 because rounding can
# make it slightly negative), `nearest_code` and `kmeans`. `squared_distances` is kept in float32 under mixed
# precision, where $|z|^2$ and $2 z^\top e$ cancel badly. `kmeans` is Lloyd with k-means++ seeding (Arthur &
# Vassilvitskii 2007) and re-seeds empty clusters. From here on the notebook uses them. `kmeans` must end at a fixed
# point of your Lloyd step, and with a distortion no worse than yours.

# %%
from course_lib.quantize import kmeans
from course_lib.quantize import squared_distances as squared_distances_lib

squared_distances_fast = solved_or_reference(squared_distances_fast, squared_distances_lib, "squared_distances_fast")
km = kmeans(x_toy, CFG.toy_k, iters=50, seed=0)
assert torch.allclose(lloyd_step(x_toy, km.codebook), km.codebook, atol=1e-5)
print(f"course_lib kmeans: J = {distortion(x_toy, km.codebook):.3f} after {len(km.distortion_history)} iterations; "
      f"yours after {CFG.lloyd_iters}: {toy_distortion[-1]:.3f}")

# %% [markdown]
# ## Deep dive: time and memory
# *Adds measurements of the two ways of computing distances. The core path resumes at section 4.*
#
# Timings are the minimum of 10 runs (the least disturbed by other work on the machine), never asserted.
# Memory is counted by `course_lib.metrics.TensorMemoryMeter`, a `TorchDispatchMode` (PyTorch's hook that sees every
# operation): it adds up the bytes of each new tensor, subtracts them when the tensor is freed, and records the peak.
# It works on CPU and GPU alike. On a GPU, `torch.cuda.max_memory_allocated` gives a comparable peak after
# `torch.cuda.reset_peak_memory_stats()`. It reads a little higher, because the caching allocator rounds each block
# up to a multiple of 512 bytes; its 2 MiB segments show in `max_memory_reserved`, not in the allocated figure.

# %% tags=["fig-distance-cost"]
import time

from course_lib.metrics import TensorMemoryMeter


def measure(fn, z, codebook, repeats=10):
    """(minimum seconds over `repeats` runs, peak bytes allocated) of fn(z, codebook)."""
    with TensorMemoryMeter() as meter:
        del_out = fn(z, codebook)
    del del_out
    times = []
    for _ in range(repeats):
        if z.is_cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn(z, codebook)
        if z.is_cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        del out
    return min(times), meter.peak_bytes


N, K, D = CFG.bench_n, CFG.bench_k, CFG.bench_d
torch.manual_seed(0)
z_b, e_b = torch.randn(N, D, device=device), torch.randn(K, D, device=device)
bench = {name: measure(fn, z_b, e_b) for name, fn in [("naive broadcast", squared_distances_naive),
                                                      ("one matmul (yours)", squared_distances_fast),
                                                      ("course_lib.quantize", squared_distances_lib)]}
nkd_bytes = N * K * D * 4
print(f"N={N}, K={K}, D={D}: the (N, K, D) float32 intermediate is {nkd_bytes / 2**20:.0f} MiB, "
      f"the (N, K) result {N * K * 4 / 2**20:.1f} MiB")
fig, axes = plt.subplots(1, 2, figsize=(11, 2.8))
names = list(bench)
for ax, i, unit, scale in [(axes[0], 0, "ms", 1e3), (axes[1], 1, "MiB", 2**-20)]:
    vals = [bench[n][i] * scale for n in names]
    ax.barh(names, vals)
    ax.set_xscale("log")
    ax.set_xlabel(f"{'time (min of 10 runs)' if i == 0 else 'peak memory allocated'} ({unit}, log scale)")
    for y, v in enumerate(vals):
        ax.text(v, y, f" {v:.3g}", va="center", fontsize=9)
axes[0].set_title(f"squared distances, N={N}, K={K}, D={D}")
plt.tight_layout()
plt.show()

# %% [markdown]
# Both matmul versions run the same algorithm; a gap between them is overhead (input checks, the float32 guard) or
# noise. The naive peak can be about twice the (N, K, D) tensor, because the squared differences are a second tensor
# of that size while the first is still alive. The claims below follow from the construction, so they are
# demonstrations.

# %%
d_naive = squared_distances_naive(z_b, e_b)
assert torch.allclose(squared_distances_fast(z_b, e_b), d_naive, rtol=1e-4, atol=1e-3)
assert torch.allclose(squared_distances_lib(z_b, e_b), d_naive, rtol=1e-4, atol=1e-3)
claim(bench["naive broadcast"][1] >= nkd_bytes and bench["course_lib.quantize"][1] < nkd_bytes / 8,
      f"the naive peak {bench['naive broadcast'][1] / 2**20:.0f} MiB includes the (N, K, D) tensor; course_lib's "
      f"{bench['course_lib.quantize'][1] / 2**20:.1f} MiB does not", kind="demonstration");

# %% [markdown]
# ## 4. k-means on image patches
#
# Now the vectors are image patches: every non-overlapping `patch` x `patch` square of a Fashion-MNIST image is a
# vector of $D$ = patch² pixels. Then k-means learns a codebook of typical patches, and an image is stored as a grid
# of code indices: 7 x 7 for 28 x 28 images and 4 x 4 patches. This is a VQ-VAE whose encoder and decoder are the
# identity: the codebook is learned, but it quantizes raw pixels, not learned features.

# %%
images = load_dataset(CFG.dataset, "train", n=CFG.n_images)
test_images = load_dataset(CFG.dataset, "test", n=min(CFG.n_images, 1000))
P = CFG.patch


def to_patches(x):
    """(B, 1, H, W) -> (B * H/P * W/P, P*P) non-overlapping patches."""
    return F.unfold(x, kernel_size=P, stride=P).transpose(1, 2).reshape(-1, P * P)


patches, test_patches = to_patches(images.x.to(device)), to_patches(test_images.x.to(device))
km_patches = kmeans(patches, CFG.patch_k, iters=CFG.kmeans_iters, seed=0)
usage = torch.bincount(km_patches.assignments, minlength=CFG.patch_k)
order = torch.argsort(usage, descending=True)
codes_img = km_patches.codebook[order].reshape(-1, 1, P, P).clamp(0, 1)
show_images(codes_img, nrow=int(math.sqrt(CFG.patch_k)), title=f"the {CFG.patch_k} {P}x{P} codes, most used first")
plt.show()
flatness = km_patches.codebook.std(1)                       # spread of the pixels within each code
print(f"{len(patches):,} training patches; the most used code takes {usage.max() / len(patches):.0%} of them, the least "
      f"used {int(usage.min())}. Pixel spread within a code: {flatness[order[:10]].mean():.3f} for the 10 most used "
      f"codes, {flatness[order[-10:]].mean():.3f} for the 10 least used.")
print(verdict(flatness[order[:10]].mean() < flatness[order[-10:]].mean(),
              "The most used codes are flat (background, plain fabric); the rare ones hold edges and texture.",
              "The most used codes are not flatter than the rare ones here."))

# %% [markdown]
# **Rate and distortion.** With $K$ codes each patch costs $\log_2 K$ bits. Doubling $K$ costs one more bit: what
# does it buy? We run k-means for each $K$ and measure the mean squared error per pixel on training and on held-out
# test patches. Expect the error to fall with every bit, and the test error to stay near the training error until the
# codebook starts to fit its training patches. In Jupyter, the slider moves through the codebooks.

# %% tags=["fig-rate-distortion"]
from functools import partial

from course_lib.explorers import IntSlider, explorer
from course_lib.explorers.codebook_size import draw_codebook_size


def quantize_patches(p, codebook):
    return codebook[nearest_code_lib(p, codebook)]


rd = []
for k in CFG.rd_ks:
    cb = kmeans(patches, k, iters=CFG.kmeans_iters, seed=0).codebook
    rd.append(dict(K=k, train=(quantize_patches(patches, cb) - patches).pow(2).mean().item(),
                   test=(quantize_patches(test_patches, cb) - test_patches).pow(2).mean().item(), codebook=cb))
rd_bits = [int(math.log2(k)) for k in CFG.rd_ks]
explorer(partial(draw_codebook_size, rd=rd, images=test_images.x[:8], patch=P),
         bits=IntSlider(min(rd_bits), max(rd_bits), rd_bits[len(rd_bits) // 2], label="bits per patch (log2 K)"));

# %%
train_curve, test_curve = [r["train"] for r in rd], [r["test"] for r in rd]
claim(all(b < a for a, b in zip(train_curve, train_curve[1:])),
      f"training distortion falls with K: {np.round(train_curve, 5)}", kind="demonstration")
print(f"MSE per pixel falls from {train_curve[0]:.4f} (1 bit per patch) to {train_curve[-1]:.4f} "
      f"({rd_bits[-1]} bits per patch) on training patches; on test patches from {test_curve[0]:.4f} to "
      f"{test_curve[-1]:.4f}")
gap = test_curve[-1] / train_curve[-1]
print(verdict(gap > 1.2, f"At K={rd[-1]['K']} the test distortion is {gap:.2f}x the training one: the codebook starts "
              "to fit its training patches.", f"Test and training distortion stay close (ratio {gap:.2f}) up to "
              f"K={rd[-1]['K']}."))

# %% [markdown]
# Fixed pixel patches need many bits for a small error: at a fraction of a bit per pixel the images look blocky. A
# VQ-VAE improves on this twice. A **learned encoder** maps image regions to features where similar-looking regions
# are close, so one code covers more variations. A **learned decoder** turns the grid of codes back into pixels
# without blocks. Training both needs gradients through the quantizer, but `argmin` has none: notebook 03 resolves
# that. The k-means update returns in notebook 04, whose EMA codebook is a running average of it.

# %% [markdown]
# ## Summary
# - A codebook stores a vector as the index of its nearest code; the error is the distortion.
# - Lloyd's algorithm (assign, then average) never increases the distortion.
# - On image patches, distortion falls as the rate $\log_2 K$ grows.
# - All distances at once: $|z|^2 - 2 z E^\top + |E|^2$, one matmul, memory O(NK) instead of O(NKD).

# %% [markdown]
# ## Exercises
# Solved above: **1.** `nearest_code`; **2.** `lloyd_step`; **3.** `squared_distances_fast`. More to try:
# 4. Why can $|z|^2$ be dropped for the argmin but not for the distortion? Measure the time saved.
# 5. Compute the distances in bfloat16 after adding 100 to z and E. How many indices change, and why does
#    `course_lib.quantize.squared_distances` insist on float32?
# 6. With K = 256 patches codes, run your `lloyd_step` 10 times from 256 random patches: how many clusters end empty?
#    Compare `course_lib.quantize.kmeans(..., init="random")` with `init="kmeans++"`.
# 7. Compute the naive distances in chunks of rows: how large can a chunk be for 100 MiB?

# %% [markdown]
# ## Further reading
#
# - S. P. Lloyd (1982). *Least squares quantization in PCM.* IEEE Transactions on Information Theory 28(2).
# - D. Arthur, S. Vassilvitskii (2007). *k-means++: The Advantages of Careful Seeding.* SODA.
# - R. M. Gray (1984). *Vector quantization.* IEEE ASSP Magazine 1(2).
# - A. van den Oord, O. Vinyals, K. Kavukcuoglu (2017). *Neural Discrete Representation Learning.* arXiv:1711.00937.
# - A. Lancucki et al. (2020). *Robust Training of Vector Quantized Bottleneck Models.* arXiv:2005.08520
#   (k-means initialisation and restarts of codebooks).
