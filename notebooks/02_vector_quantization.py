# %% [markdown]
# # 02 · Vector quantization
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-to-vqgan/course/blob/v0.2.0/notebooks/student/02_vector_quantization.ipynb)
#
# **Learning objectives.** After this notebook you can
# - quantize vectors with a codebook: assign each vector to its nearest code (and draw the Voronoi cells);
# - learn a codebook with k-means (Lloyd's algorithm), written from scratch, on 2-D toy data and on image patches;
# - read a rate-distortion curve: distortion against the rate $\log_2 K$ bits per code;
# - compute all squared distances with **one matrix multiply**, $|z|^2 - 2\,z e^\top + |e|^2$, and measure why it
#   beats naive broadcasting in time and, above all, memory.
#
# **Prerequisites.** Notebook 01 (why discrete latents); matrix multiplication and broadcasting in PyTorch.
#
# **Estimated time.** Core path about 52 min (estimated from this notebook by `make stats`). Machine: about 8 s under
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
# All sizes come from this table (the active profile's column is in brackets).

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
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from IPython.display import Markdown, display

from course_lib.claims import claim, verdict
from course_lib.data import load_dataset
from course_lib.viz import show_images, show_pairs

device = ENV.device

# %% [markdown]
# ## 1. Codebooks and nearest-code assignment
#
# A **codebook** is a matrix $E \in \mathbb R^{K \times D}$ of $K$ code vectors $e_1, \dots, e_K$. Vector
# quantization replaces a vector $z \in \mathbb R^D$ by its nearest code,
#
# $$q(z) = e_{k^*}, \qquad k^* = \arg\min_k \ \lVert z - e_k \rVert^2 ,$$
#
# so $z$ can be stored as the single integer $k^*$: $\log_2 K$ bits. The error $\lVert z - q(z)\rVert^2$ is the
# **distortion**. The set of points that go to code $k$ is its *Voronoi cell*.
#
# The direct way to get all $N \times K$ squared distances is broadcasting: `(z[:, None, :] - E[None, :, :])`
# has shape (N, K, D); square and sum over D.

# %%
def squared_distances_naive(z, codebook):
    """(N, D), (K, D) -> (N, K) by broadcasting: builds an (N, K, D) tensor."""
    return (z[:, None, :] - codebook[None, :, :]).pow(2).sum(-1)


# %% [markdown]
# **Exercise 1.** Implement `nearest_code(z, codebook)`: for each row of `z` (N, D) return the index of the
# nearest code, an int64 tensor of shape (N,). You may use `squared_distances_naive`.

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
# `course_lib.quantize.nearest_code` is the course's version (with the faster distances of section 3). It must
# choose codes exactly as far away as yours; from here on the notebook uses it. The Voronoi cells of a random 2-D
# codebook: every pixel of the plane is coloured by the code it is assigned to.

# %%
from course_lib.quantize import nearest_code as nearest_code_lib
from course_lib.quantize import squared_distances as squared_distances_lib

# Later cells (your lloyd_step) call nearest_code: if exercise 1 is not solved yet, they use course_lib's.
nearest_code = solved_or_reference(nearest_code, nearest_code_lib, "nearest_code")

z_chk, e_chk = torch.randn(500, 8), torch.randn(32, 8)
d_chk = squared_distances_naive(z_chk, e_chk)
assert torch.allclose(d_chk.gather(1, nearest_code_lib(z_chk, e_chk)[:, None])[:, 0], d_chk.min(1).values)

torch.manual_seed(0)
toy_codebook = torch.randn(CFG.toy_k, 2) * 1.5
g = torch.linspace(-4, 4, 300)
grid = torch.stack(torch.meshgrid(g, g, indexing="xy"), -1).reshape(-1, 2)
cells = nearest_code_lib(grid, toy_codebook).reshape(300, 300)
fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.imshow(cells, origin="lower", extent=(-4, 4, -4, 4), cmap="tab10", alpha=0.35, vmin=0, vmax=9)
ax.scatter(toy_codebook[:, 0], toy_codebook[:, 1], c="k", marker="x", s=80, label="codes $e_k$")
ax.set_xlabel("$z_1$")
ax.set_ylabel("$z_2$")
ax.set_title(f"Voronoi cells of {CFG.toy_k} codes")
ax.legend(loc="upper right")
plt.show()

# %% [markdown]
# ## 2. Learning a codebook: k-means (Lloyd's algorithm)
#
# Given data $x_1, \dots, x_N$, which codebook minimises the mean distortion
# $J(E) = \frac1N \sum_n \min_k \lVert x_n - e_k\rVert^2$? Lloyd's algorithm (Lloyd 1982) alternates two steps,
# each of which can only lower $J$:
#
# 1. **assign**: with the codes fixed, give each point its nearest code (exercise 1);
# 2. **update**: with the assignments fixed, move each code to the mean of its points (the mean minimises the sum
#    of squared distances to a set of points).
#
# A code that receives no points ("empty cluster") has no mean; the simplest fix is to leave it where it is
# (`course_lib.quantize.kmeans` goes further and re-seeds it at the point farthest from its centre, an idea we meet
# again as *dead-code restarts* in notebook 05).
#
# **Exercise 2.** Implement one Lloyd step `lloyd_step(x, centroids)`: x (N, D), centroids (K, D); return the new
# centroids (K, D). Keep the old centroid of an empty cluster. (Hint: `torch.zeros(K, D).index_add_(0, assign, x)`
# sums the points per cluster, `torch.bincount(assign, minlength=K)` counts them; a Python loop over K is fine too.)

# %%
def lloyd_step(x, centroids):
    """One k-means iteration: assign each point to its nearest centroid, move centroids to the means."""
    ### BEGIN SOLUTION
    assign = nearest_code(x, centroids)
    K = centroids.shape[0]
    sums = torch.zeros_like(centroids).index_add_(0, assign, x)
    counts = torch.bincount(assign, minlength=K).to(x.dtype)[:, None]
    return torch.where(counts > 0, sums / counts.clamp_min(1), centroids)
    ### END SOLUTION


# %%
check_lloyd_step(lloyd_step)
### BEGIN HIDDEN TESTS
check_lloyd_step(lloyd_step, seed=9, d=5)
### END HIDDEN TESTS

# %%
from course_lib.checks.vq import reference_lloyd_step  # the check's reference (= the solution of exercise 2)

# Later cells call lloyd_step: if exercise 2 is not solved yet, they use the reference.
lloyd_step = solved_or_reference(lloyd_step, reference_lloyd_step, "lloyd_step")

# %% [markdown]
# Lloyd's algorithm (your `lloyd_step`) on a 2-D toy set: a mixture of Gaussian blobs, started from `toy_k` random
# data points.

# %%
def distortion(x, codebook):
    return squared_distances_naive(x, codebook).min(1).values.mean().item()


gen = torch.Generator().manual_seed(0)
centres = torch.tensor([[-2.5, -2.0], [2.5, -1.5], [0.0, 2.5], [-2.5, 2.0], [2.5, 2.5], [0.0, -0.5]])
blob = torch.randint(len(centres), (CFG.toy_points,), generator=gen)
x_toy = centres[blob] + 0.55 * torch.randn(CFG.toy_points, 2, generator=gen)

c = x_toy[torch.randperm(CFG.toy_points, generator=gen)[:CFG.toy_k]].clone()
snapshots, toy_distortion = [c], [distortion(x_toy, c)]
for it in range(CFG.lloyd_iters):
    c = lloyd_step(x_toy, c)
    snapshots.append(c)
    toy_distortion.append(distortion(x_toy, c))

show_at = sorted({0, 1, 2, CFG.lloyd_iters // 2, CFG.lloyd_iters})[-5:]
fig, axes = plt.subplots(2, 3, figsize=(11, 7))  # 2 x 3 rather than one 20-inch row: text stays readable
axes = axes.ravel()
for ax in axes[len(show_at):-1]:
    ax.set_axis_off()
for ax, it in zip(axes, show_at):
    cb = snapshots[it]
    ax.scatter(x_toy[:, 0], x_toy[:, 1], c=nearest_code_lib(x_toy, cb), cmap="tab10", s=5, vmin=0, vmax=9)
    if it > 0:  # arrows from the previous centroids
        prev = snapshots[it - 1]
        for a, b in zip(prev, cb):
            ax.annotate("", xy=b.tolist(), xytext=a.tolist(), arrowprops=dict(arrowstyle="->", lw=1.2))
    ax.scatter(cb[:, 0], cb[:, 1], c="k", marker="x", s=80)
    ax.set_title(f"iteration {it}: J = {toy_distortion[it]:.3f}")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
axes[-1].plot(range(len(toy_distortion)), toy_distortion, "o-")
axes[-1].set_xlabel("Lloyd iteration")
axes[-1].set_ylabel("mean distortion J")
axes[-1].set_title("J never increases")
plt.tight_layout()
plt.show()

# %%
# CHECK: every Lloyd step lowers (or keeps) the distortion (a theorem, so this only demonstrates it), and the
# first steps help a lot (measured: a start of six points can already sit well).
diffs = np.diff(toy_distortion)
assert (diffs <= 1e-6).all(), toy_distortion
claim(toy_distortion[-1] < 0.8 * toy_distortion[0],
      f"Lloyd cut the distortion from {toy_distortion[0]:.3f} to {toy_distortion[-1]:.3f} (< 80%)")
print("distortion per iteration:", np.round(toy_distortion, 3))

# %% [markdown]
# ## 3. Fast squared distances: one matrix multiply
#
# Broadcasting builds an (N, K, D) intermediate. For a VQ-VAE batch (N = 32 x 32 x 32 positions, K = 512 codes,
# D = 64) that is $2^{15} \cdot 2^9 \cdot 2^6 = 2^{30}$ numbers, 4 GiB of float32, only to be summed away.
# Expanding the square avoids it:
#
# $$\lVert z_n - e_k\rVert^2 = \lVert z_n\rVert^2 - 2\, z_n^\top e_k + \lVert e_k\rVert^2 ,$$
#
# i.e. an (N, 1) column of $|z|^2$, minus twice the (N, K) matrix product $z E^\top$, plus a (1, K) row of $|e|^2$.
# The only large tensor is the (N, K) result, and the work is one matrix multiply, which BLAS libraries on CPUs and
# cuBLAS on GPUs run close to the hardware's peak arithmetic rate.
#
# **Exercise 3.** Implement `squared_distances_fast(z, codebook)` with this expansion (no (N, K, D) tensor).

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

# %%
# Later cells time your function: if exercise 3 is not solved yet, they use course_lib's.
squared_distances_fast = solved_or_reference(squared_distances_fast, squared_distances_lib, "squared_distances_fast")

# %% [markdown]
# **Measuring time and memory.** Timings: the median of a few repetitions (they vary with the machine and its
# load, so no assertion on them). Memory: the tensors each version allocates, counted by `course_lib.metrics.TensorMemoryMeter`.
# The meter is a `TorchDispatchMode` (PyTorch's hook that sees every operation): it adds up the bytes of each new tensor and
# subtracts them when the tensor is freed, and records the peak. It works on CPU and GPU alike. (It uses
# `torch.utils._python_dispatch`, an interface PyTorch uses internally.) On a GPU, `torch.cuda.max_memory_allocated`
# gives a comparable peak, with two caveats: it is the peak since the program started unless you call
# `torch.cuda.reset_peak_memory_stats()` first, and the caching allocator rounds each block up (to multiples of
# 512 bytes, small tensors into 2 MiB segments), so it reads a little higher than the tensors' own sizes.

# %%
from course_lib.metrics import TensorMemoryMeter


def measure(fn, z, codebook, repeats=3):
    """(median seconds, peak bytes allocated) of fn(z, codebook)."""
    with TensorMemoryMeter() as meter:
        out = fn(z, codebook)
        del out
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
    return float(np.median(times)), meter.peak_bytes


yours = squared_distances_fast  # wrapped after its check: course_lib's version while exercise 3 is unsolved

N, K, D = CFG.bench_n, CFG.bench_k, CFG.bench_d
torch.manual_seed(0)
z_b = torch.randn(N, D, device=device)
e_b = torch.randn(K, D, device=device)
bench = {}
for name, fn in [("naive broadcast", squared_distances_naive), ("one matmul (yours)", yours),
                 ("course_lib.quantize", squared_distances_lib)]:
    bench[name] = measure(fn, z_b, e_b)
nkd_bytes = N * K * D * 4
print(f"N={N}, K={K}, D={D}: the (N, K, D) float32 intermediate is {nkd_bytes / 2**20:.0f} MiB, "
      f"the (N, K) result {N * K * 4 / 2**20:.1f} MiB")
for name, (t, peak) in bench.items():
    print(f"{name:22s} {t * 1e3:8.2f} ms   peak allocated {peak / 2**20:8.1f} MiB")

fig, axes = plt.subplots(1, 2, figsize=(10, 3))
names = list(bench)
axes[0].barh(names, [bench[n][0] * 1e3 for n in names])
axes[0].set_xlabel("time (ms, median)")
axes[1].barh(names, [bench[n][1] / 2**20 for n in names])
axes[1].set_xlabel("peak memory (MiB)")
axes[0].set_title(f"squared distances, N={N}, K={K}, D={D}")
plt.tight_layout()
plt.show()

# %%
# CHECK: same distances and same choices; the naive version allocates the (N, K, D) tensor, the matmul does not.
d_naive = squared_distances_naive(z_b, e_b)
d_fast = yours(z_b, e_b)
assert torch.allclose(d_fast, d_naive, rtol=1e-4, atol=1e-3)
assert torch.allclose(squared_distances_lib(z_b, e_b), d_naive, rtol=1e-4, atol=1e-3)
# Indices may differ only at (near-)ties, so compare the distances of the chosen codes.
for idx in (d_fast.argmin(1), nearest_code_lib(z_b, e_b)):
    chosen = d_naive.gather(1, idx[:, None])[:, 0]
    assert torch.allclose(chosen, d_naive.min(1).values, rtol=1e-5, atol=1e-3)
claim(bench["naive broadcast"][1] >= nkd_bytes,
      f"the naive version's peak {bench['naive broadcast'][1] / 2**20:.0f} MiB includes the (N, K, D) tensor "
      f"({nkd_bytes / 2**20:.0f} MiB)")
claim(bench["one matmul (yours)"][1] < nkd_bytes / 8 and bench["course_lib.quantize"][1] < nkd_bytes / 8,
      f"the matmul versions peak at {bench['one matmul (yours)'][1] / 2**20:.1f} and "
      f"{bench['course_lib.quantize'][1] / 2**20:.1f} MiB, under 1/8 of {nkd_bytes / 2**20:.0f} MiB")
same = (d_fast.argmin(1) == d_naive.argmin(1)).float().mean().item()
print(f"same indices for {100 * same:.2f}% of vectors (the rest are ties within rounding); memory ratio "
      f"{bench['naive broadcast'][1] / bench['one matmul (yours)'][1]:.0f}x")

# %% [markdown]
# `course_lib.quantize` provides these pieces in their final form: `squared_distances` (the one-matmul expansion,
# clamped at 0 because rounding can make it slightly negative, and kept in float32 under mixed precision, where
# $|z|^2$ and $2 z^\top e$ cancel badly), `nearest_code` and `kmeans` (Lloyd with k-means++ seeding, Arthur &
# Vassilvitskii 2007). We check that they agree with what we wrote, then use them.

# %%
from course_lib.quantize import kmeans

km = kmeans(x_toy, CFG.toy_k, iters=50, seed=0)
# CHECK: course_lib's k-means ends at a fixed point of our Lloyd step, with a distortion no worse than ours.
assert torch.allclose(reference_lloyd_step(x_toy, km.codebook), km.codebook, atol=1e-5)
assert torch.equal(nearest_code_lib(x_toy, km.codebook), km.assignments)
claim(distortion(x_toy, km.codebook) <= toy_distortion[-1] * 1.05,
      f"course_lib kmeans J = {distortion(x_toy, km.codebook):.3f} <= 1.05 x ours {toy_distortion[-1]:.3f}")
print(f"course_lib kmeans: J = {distortion(x_toy, km.codebook):.3f} after {len(km.distortion_history)} iterations; "
      f"ours after {CFG.lloyd_iters}: {toy_distortion[-1]:.3f}")

# %% [markdown]
# ## 4. k-means on image patches
#
# Now the vectors are image patches: every non-overlapping `patch` x `patch` square of a Fashion-MNIST image is a
# vector of $D$ = patch² pixels. k-means learns a codebook of typical patches; an image is then stored as a grid of
# code indices (7 x 7 for 28 x 28 images and 4 x 4 patches). This is what a VQ-VAE does with its encoder and
# decoder fixed to the identity: the codebook is learned (by k-means), but the features it quantizes are the raw
# pixels rather than learned ones.

# %%
images = load_dataset(CFG.dataset, "train", n=CFG.n_images)
test_images = load_dataset(CFG.dataset, "test", n=min(CFG.n_images, 1000))
print(images.display_name)
P = CFG.patch


def to_patches(x):
    """(B, 1, H, W) -> (B * H/P * W/P, P*P) non-overlapping patches."""
    return F.unfold(x, kernel_size=P, stride=P).transpose(1, 2).reshape(-1, P * P)


def from_patches(p, shape):
    """Inverse of to_patches for images of `shape` (B, 1, H, W)."""
    B, _, H, W = shape
    cols = p.reshape(B, (H // P) * (W // P), P * P).transpose(1, 2)
    return F.fold(cols, output_size=(H, W), kernel_size=P, stride=P)


x_img = images.x.to(device)
patches = to_patches(x_img)
test_patches = to_patches(test_images.x.to(device))
assert torch.equal(from_patches(patches, x_img.shape), x_img)  # the round trip is exact
print(f"{len(patches):,} training patches of dimension {P * P}")

t0 = time.perf_counter()
km_patches = kmeans(patches, CFG.patch_k, iters=CFG.kmeans_iters, seed=0)
print(f"k-means with K={CFG.patch_k}: {time.perf_counter() - t0:.1f} s, "
      f"squared error per patch {km_patches.distortion_history[0]:.3f} -> {km_patches.distortion_history[-1]:.3f} "
      f"over {len(km_patches.distortion_history)} iterations")

# %%
codes_img = km_patches.codebook.reshape(-1, 1, P, P).clamp(0, 1)
usage = torch.bincount(km_patches.assignments, minlength=CFG.patch_k)
order = torch.argsort(usage, descending=True)
fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw=dict(width_ratios=[1, 1.4]))
show_images(codes_img[order], nrow=int(math.sqrt(CFG.patch_k)), ax=axes[0],
            title=f"the {CFG.patch_k} learned {P}x{P} codes (most used first)")
axes[1].bar(range(CFG.patch_k), usage[order].cpu().numpy())
axes[1].set_yscale("log")
axes[1].set_xlabel("code (sorted by use)")
axes[1].set_ylabel("number of patches")
axes[1].set_title("code usage")
plt.tight_layout()
plt.show()


# %% [markdown]
# The most used codes are flat (black background, uniform fabric); the rare ones are edges and corners.
#
# **Rate and distortion.** With $K$ codes, each patch costs $\log_2 K$ bits (the rate), i.e.
# $\log_2 K / P^2$ bits per pixel. Doubling $K$ costs one more bit per patch; how much does it buy? We run k-means
# for each $K$ and measure the distortion (mean squared error per pixel) on the training patches and on held-out
# test patches.

# %%
def quantize_patches(p, codebook):
    return codebook[nearest_code_lib(p, codebook)]


rd = []
t0 = time.perf_counter()
for k in CFG.rd_ks:
    cb = kmeans(patches, k, iters=CFG.kmeans_iters, seed=0).codebook
    train_mse = (quantize_patches(patches, cb) - patches).pow(2).mean().item()
    test_mse = (quantize_patches(test_patches, cb) - test_patches).pow(2).mean().item()
    rd.append(dict(K=k, bits=math.log2(k), train=train_mse, test=test_mse, codebook=cb))
print(f"{len(CFG.rd_ks)} codebooks in {time.perf_counter() - t0:.1f} s")
display(Markdown("| K | bits per patch | bits per pixel | MSE train | MSE test |\n|---:|---:|---:|---:|---:|\n" +
                 "\n".join(f"| {r['K']} | {r['bits']:.0f} | {r['bits'] / P**2:.3f} | {r['train']:.5f} | {r['test']:.5f} |"
                            for r in rd)))

fig, ax = plt.subplots(figsize=(5.5, 3.8))
ax.plot([r["bits"] for r in rd], [r["train"] for r in rd], "o-", label="training patches")
ax.plot([r["bits"] for r in rd], [r["test"] for r in rd], "s--", label="test patches")
ax.set_yscale("log")
ax.set_xlabel("rate: $\\log_2 K$ bits per patch")
ax.set_ylabel("distortion: MSE per pixel")
ax.set_title(f"rate-distortion of k-means on {P}x{P} patches")
ax.legend()
plt.show()

# %%
# CHECK: more codes (more bits) give less distortion, on training and on test patches.
train_curve = [r["train"] for r in rd]
test_curve = [r["test"] for r in rd]
claim(all(b < a for a, b in zip(train_curve, train_curve[1:])), f"training distortion falls with K: {np.round(train_curve, 5)}")
claim(all(b < a for a, b in zip(test_curve, test_curve[1:])), f"test distortion falls with K: {np.round(test_curve, 5)}")
print(f"distortion falls from {train_curve[0]:.4f} (1 bit) to {train_curve[-1]:.4f} ({rd[-1]['bits']:.0f} bits) per patch")
gap = test_curve[-1] / train_curve[-1]
print(verdict(gap > 1.2, f"At K={rd[-1]['K']} the test distortion is {gap:.2f}x the training one: the codebook starts "
              "to fit its training patches.", f"Test and training distortion stay close (ratio {gap:.2f}) up to "
              f"K={rd[-1]['K']}."))

# %% [markdown]
# What these rates look like: test images rebuilt from their patch codes.

# %%
x_show = test_images.x[:10].to(device)
rows, titles = [], ["original (8 bits/pixel)"]
for r in (rd[0], rd[len(rd) // 2], rd[-1]):
    rows.append(from_patches(quantize_patches(to_patches(x_show), r["codebook"]), x_show.shape).clamp(0, 1))
    titles.append(f"K={r['K']}: {r['bits'] / P**2:.3f} bits/pixel, MSE {r['test']:.4f}")
show_pairs(x_show, rows, n=10, titles=titles)
plt.show()

# %% [markdown]
# **Explore: the codebook size.** Move the slider through the codebooks trained above (one bit more per patch
# doubles K): the point on the rate-distortion curve, test images rebuilt from their patch codes, and the codes
# themselves.

# %%
from functools import partial

from course_lib.explorers import IntSlider, explorer
from course_lib.explorers.codebook_size import draw_codebook_size

rd_bits = [int(math.log2(k)) for k in CFG.rd_ks]
explorer(partial(draw_codebook_size, rd=rd, images=test_images.x[:8], patch=P),
         bits=IntSlider(min(rd_bits), max(rd_bits), rd_bits[len(rd_bits) // 2], label="bits per patch (log2 K)"));

# %% [markdown]
# Fixed pixel patches need many bits for a small error: at a fraction of a bit per pixel the images already look
# blocky. A VQ-VAE improves on this in two ways: a **learned encoder** maps each image region to a feature vector
# where similar-looking regions are close (so one code covers more variations), and a **learned decoder** turns the
# grid of codes back into pixels without blocks. Training both needs gradients through the quantizer, but
# `argmin` has none: notebook 03 resolves that with the straight-through estimator and the codebook and commitment
# losses. (The k-means update we wrote here returns in notebook 04, whose VQ-VAE trains its codebook with the
# *EMA codebook update* of van den Oord et al. 2017, appendix A.1: a running average of the k-means means; notebook
# 05 adds k-means initialisation and restarts.)
#
# ## Summary
#
# - A codebook quantizes a vector to its nearest code, $\log_2 K$ bits; the error is the distortion.
# - Lloyd's algorithm (assign, then average) never increases the distortion; empty clusters need a rule.
# - On image patches, distortion falls steadily as the rate $\log_2 K$ grows: the rate-distortion trade-off.
# - All distances at once: $|z|^2 - 2 z E^\top + |E|^2$, one matmul, memory O(NK) instead of O(NKD); we measured
#   the peak memory of both and the times on this machine. `course_lib.quantize` holds the final versions.
#
# ## Exercises
#
# Solved above (each with a check): **1.** `nearest_code`; **2.** `lloyd_step`; **3.** `squared_distances_fast`.
#
# More to try:
# 4. `nearest_code` only needs $-2 z E^\top + |E|^2$: why can $|z|^2$ be dropped for the argmin (but not for the
#    distortion)? Measure the time saved.
# 5. Compute the distances in bfloat16 (`z.bfloat16()`) for data with a large common offset (add 100 to z and E).
#    How many indices change compared with float32, and why does `course_lib.quantize.squared_distances` insist on
#    float32?
# 6. Random initialisation vs k-means++ on the patches for K = 256: run your `lloyd_step` (which keeps empty
#    clusters where they are) for 10 iterations from `init="random"` starting points and from k-means++ ones, and
#    count the empty clusters and the final distortion. (`course_lib.quantize.kmeans(..., init=...)` re-seeds empty
#    clusters, so it never ends with one: compare its final distortion for both inits instead.)
# 7. Process the naive version in chunks of rows: how large can the chunk be for a 100 MiB memory budget?
#
# ## Further reading
#
# - S. P. Lloyd (1982). *Least squares quantization in PCM.* IEEE Transactions on Information Theory 28(2).
# - D. Arthur, S. Vassilvitskii (2007). *k-means++: The Advantages of Careful Seeding.* SODA.
# - R. M. Gray (1984). *Vector quantization.* IEEE ASSP Magazine 1(2).
# - A. van den Oord, O. Vinyals, K. Kavukcuoglu (2017). *Neural Discrete Representation Learning.* arXiv:1711.00937.
# - A. Lancucki et al. (2020). *Robust Training of Vector Quantized Bottleneck Models.* arXiv:2005.08520
#   (k-means initialisation and restarts of codebooks).
