# %% [markdown]
# # 04 · VQ-VAE: a discrete bottleneck that reconstructs images
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-to-vqgan/course/blob/main/notebooks/04_vqvae.ipynb)
#
# **Learning objectives.** After this notebook you can
# - build a VQ-VAE (van den Oord et al. 2017) from a convolutional encoder, a quantizer and a decoder, and train it;
# - judge its reconstructions with a number that has a reference point: NMSE, the MSE divided by the data variance;
# - read the code usage of a trained codebook (histogram, perplexity, codes used) and avoid the batch-size pitfall
#   of per-batch perplexity;
# - see an image as what the model stores: an `h x w` map of code indices;
# - count the bits of that code map, `h * w * log2 K`, and compare it with PNG and JPEG at the same PSNR;
# - use the bottleneck as a denoiser and measure what it gains.
#
# **Prerequisites.** Notebooks 02 (codebooks, k-means) and 03 (straight-through estimator, codebook and
# commitment losses).
#
# **Estimated time.** quick (2 CPU cores): about 1 minute to run, 45 minutes to read and solve · standard
# (Colab T4, CIFAR-10, 10k steps): about 15-25 minutes · full: as standard with 3x the steps.

# %% tags=["setup"]
# Set-up. On Colab this installs `course_lib`; elsewhere it only imports it.
# Choose a profile by uncommenting one line (default: quick on a CPU, standard with CUDA):
# import os; os.environ["COURSE_PROFILE"] = "standard"
import subprocess, sys
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "course-lib @ git+https://github.com/vae-to-vqgan/course@main"], check=True)
import course_lib
ENV = course_lib.setup_notebook(seed=0)

# %% [markdown]
# All sizes come from one table. `quick` trains a small model on Fashion-MNIST (28x28, a 7x7 code map) for a few
# hundred steps on a CPU. `standard` is configured for comparison with the best-known VQ-VAE teaching notebook,
# which reaches **NMSE about 0.056 with perplexity about 326 of 512 codes after 10k steps at batch 32 on CIFAR-10**
# (K = 512 codes of dimension D = 64, EMA codebook with decay 0.99): same data, K, D, decay, batch size and steps.

# %%
from course_lib.profiles import settings

CFG = settings(
    quick=dict(dataset="fashion-mnist", n_train=4000, n_test=512, steps=300, batch_size=64, lr=2e-3,
               hidden=32, res_blocks=1, num_codes=128, code_dim=16, decay=0.95, restart_dead_after=20),
    standard=dict(dataset="cifar10", n_train=None, n_test=10_000, steps=10_000, batch_size=32, lr=3e-4,
                  hidden=128, res_blocks=2, num_codes=512, code_dim=64, decay=0.99, restart_dead_after=100),
    full=dict(steps=30_000),
)
CFG

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from course_lib import metrics
from course_lib.compression import compression_table, format_table, jpeg_bits_at_psnr, mosaic, png_bits, png_bits_at_psnr
from course_lib.data import load_dataset, make_loader
from course_lib.models import VQVAE
from course_lib.quantize import EMAVectorQuantizer
from course_lib.train import fit
from course_lib.viz import show_images, show_pairs

device = ENV.device

# %% [markdown]
# ## 1. Data
# Images are float tensors in [0, 1]. We keep the variance of the training set: NMSE divides by it, so that
# 0 is perfect and 1 is what you get by predicting the mean pixel value everywhere.

# %%
train = load_dataset(CFG.dataset, "train", n=CFG.n_train)
test = load_dataset(CFG.dataset, "test", n=CFG.n_test)
print(train.display_name)
print(test.display_name)
data_variance = float(train.x.var())
C, H, W = train.x.shape[1:]
print(f"images {C}x{H}x{W}, data variance {data_variance:.4f}")
loader = make_loader(train, batch_size=CFG.batch_size, shuffle=True, seed=0, device=device)
show_images(test.x[:16], nrow=16, title="test images");

# %% [markdown]
# ## 2. The model
# `course_lib.models.VQVAE` is the architecture of the paper, scaled by `CFG`:
#
# * **encoder**: two stride-2 4x4 convolutions (H x W -> H/4 x W/4), a 3x3 convolution, residual blocks, and a 1x1
#   convolution to `D` channels: `z_e` of shape (B, D, h, w);
# * **quantizer**: every one of the `h * w` vectors of `z_e` is replaced by its nearest code `e_k` out of `K`; its
#   index `k` is all that is stored. Gradients pass with the straight-through estimator (notebook 03);
# * **decoder**: the mirror image, from `z_q` (B, D, h, w) back to (B, C, H, W).
#
# The codebook is learned by exponential moving averages (EMA, appendix A.1 of the paper; decay `CFG.decay`):
# each code moves to the running mean of the encoder outputs assigned to it, so the only loss terms are the
# reconstruction and the commitment `beta * |z_e - sg[e]|^2` with `beta = 0.25`. Two safeguards from notebook 05
# are switched on: the codebook starts from k-means of the first batch's encoder outputs, and a code unused for
# `restart_dead_after` steps is moved onto a random encoder output. Notebook 05 shows what goes wrong without them.

# %%
torch.manual_seed(ENV.seed)
quantizer = EMAVectorQuantizer(num_codes=CFG.num_codes, code_dim=CFG.code_dim, beta=0.25, decay=CFG.decay,
                               kmeans_init=True, restart_dead_after=CFG.restart_dead_after)
model = VQVAE(quantizer, in_channels=C, hidden=CFG.hidden, downsamples=2, res_blocks=CFG.res_blocks).to(device)
h_lat, w_lat = model.latent_shape((H, W))
K = CFG.num_codes
print(f"{sum(p.numel() for p in model.parameters()):,} parameters; code map {h_lat}x{w_lat}, K = {K} codes of dim {CFG.code_dim}")
with torch.no_grad():
    out = model.eval()(test.x[:2].to(device))
print("x", tuple(test.x[:2].shape), "-> z_e", tuple(out.z_e.shape), "-> indices", tuple(out.vq.indices.shape),
      "-> x_hat", tuple(out.x_hat.shape))
assert out.vq.indices.shape == (2, H // 4, W // 4) and out.x_hat.shape == (2, C, H, W)

# %% [markdown]
# ## 3. Training
# The loss is `mse(x_hat, x) + vq.loss`. Besides the losses we log the perplexity of each batch and, separately,
# the codes used over each **epoch** (a pass over the training set), accumulated with `metrics.CodeUsageTracker`.
# Section 5 explains why both are needed.

# %%
optimizer = torch.optim.Adam(model.parameters(), lr=CFG.lr)
epoch_tracker = metrics.CodeUsageTracker(K)
epoch_log = []  # (step, codes used in the epoch, perplexity over the epoch)


def loss_fn(batch, step):
    x, _ = batch
    out = model(x)
    rec = F.mse_loss(out.x_hat, x)
    epoch_tracker.update(out.vq.indices)
    if (step + 1) % len(loader) == 0:  # end of an epoch
        epoch_log.append((step + 1, epoch_tracker.used(), epoch_tracker.perplexity()))
        epoch_tracker.reset()
    return {"loss": rec + out.vq.loss, "rec": rec, "nmse": rec.detach() / data_variance,
            "batch_perplexity": out.vq.perplexity}


history = fit(loss_fn, optimizer, loader, steps=CFG.steps, model=model, log_every=10, desc="VQ-VAE")
history.plot(["rec", "nmse"]);

# %% [markdown]
# **Check: the loss went down.** The mean reconstruction loss of the last logged windows is far below that of the
# first ones.

# %%
first, last = np.mean(history["rec"][:3]), np.mean(history["rec"][-3:])
print(f"reconstruction MSE: first windows {first:.4f} -> last windows {last:.4f}")
assert last < 0.5 * first, "the reconstruction loss should at least halve during training"

# %% [markdown]
# ## 4. Reconstructions and NMSE
# A trivial baseline that needs no bits at all: predict the **mean training image** for every test image. Its NMSE
# is close to 1 minus the share of the variance explained by the mean image. A useful model must beat it by far.

# %%
@torch.no_grad()
def reconstruct(x, batch=256):
    model.eval()
    outs = [model(x[i:i + batch].to(device)) for i in range(0, len(x), batch)]
    x_hat = torch.cat([o.x_hat for o in outs]).cpu()
    idx = torch.cat([o.vq.indices for o in outs]).cpu()
    return x_hat, idx


x_test = test.x
x_hat, test_indices = reconstruct(x_test)
nmse_model = metrics.nmse(x_test, x_hat, data_variance)
mean_image = train.x.mean(0, keepdim=True).expand_as(x_test)
nmse_mean = metrics.nmse(x_test, mean_image, data_variance)
psnr_model = metrics.psnr(x_test, x_hat.clamp(0, 1))
print(f"test NMSE: VQ-VAE {nmse_model:.4f}   mean-image baseline {nmse_mean:.4f}")
print(f"test PSNR: VQ-VAE {psnr_model:.2f} dB")
show_pairs(x_test[:10], x_hat[:10].clamp(0, 1), n=10);

# %% [markdown]
# **Check: the reconstructions beat the trivial baseline by a wide margin.**

# %%
assert nmse_model < 0.3 * nmse_mean, f"NMSE {nmse_model:.3f} should be well below the mean-image baseline {nmse_mean:.3f}"

# %% [markdown]
# **The reference point.** Under `standard` (CIFAR-10, K = 512, D = 64, EMA 0.99, 10k steps, batch 32) the
# best-known VQ-VAE teaching notebook reports NMSE about 0.056 and perplexity about 326. The cell below prints what
# *this* run got, under the active profile. For `standard` we expect to match or beat the reference
# (expected; not yet measured on a GPU). The `quick` numbers are on Fashion-MNIST with a tiny model and a few
# hundred steps, so they are not comparable with it.

# %%
usage = metrics.CodeUsageTracker(K).update(test_indices)
print(f"profile {CFG.profile!r} on {test.display_name}")
print(f"  NMSE {nmse_model:.4f} (reference, CIFAR-10/standard: ~0.056)")
print(f"  perplexity over the test set {usage.perplexity():.1f} of K = {K} (reference: ~326 of 512)")

# %% [markdown]
# ## 5. Code usage: histogram, perplexity, and the batch-size pitfall
# Count how often each code is chosen over the whole test set. **Perplexity** is `exp(entropy)` of that usage
# distribution: the number of equally used codes that would give the same entropy (K if all codes were equally
# used, 1 if a single code took everything).

# %%
counts = metrics.code_histogram(test_indices, K)
order = torch.argsort(counts, descending=True)
fig, ax = plt.subplots(figsize=(9, 2.8))
ax.bar(np.arange(K), counts[order].numpy(), width=1.0)
ax.set_xlabel("code (sorted by use)"); ax.set_ylabel("times chosen (test set)")
ax.set_title(f"code usage: {usage.used()} of {K} codes used, perplexity {usage.perplexity():.1f}")
plt.show()
print(usage)

# %% [markdown]
# Many write-ups log the perplexity of **each training batch**. A batch of `B` images has only `B * h * w`
# positions, so its perplexity can never exceed that, and it grows with the batch size even when the codebook is
# exactly the same. Measure it on the trained model, codebook fixed, with several batch sizes:

# %%
rows = []
positions = h_lat * w_lat
for b in [1, 4, 16, 64, 256]:
    if b > len(test_indices):
        continue
    per_batch = [metrics.perplexity(test_indices[i:i + b], K) for i in range(0, len(test_indices) - b + 1, b)]
    used = [metrics.codes_used(test_indices[i:i + b], K) for i in range(0, len(test_indices) - b + 1, b)]
    rows.append(dict(batch_size=b, positions=b * positions, mean_batch_perplexity=float(np.mean(per_batch)),
                     mean_codes_used=float(np.mean(used))))
rows.append(dict(batch_size=f"all {len(test_indices)}", positions=len(test_indices) * positions,
                 mean_batch_perplexity=usage.perplexity(), mean_codes_used=float(usage.used())))
print(format_table(rows, floatfmt="{:.1f}"))

# %% [markdown]
# **Check: per-batch perplexity depends on the batch size** (same model, same codebook), and stays below the
# perplexity over the whole set.

# %%
assert rows[0]["mean_batch_perplexity"] <= positions + 1e-6
assert rows[0]["mean_batch_perplexity"] < rows[-2]["mean_batch_perplexity"] < usage.perplexity() + 1e-6
assert rows[0]["mean_codes_used"] < 0.5 * usage.used()

# %% [markdown]
# During training, therefore, watch both numbers: per-batch perplexity (cheap, noisy, bounded by the batch) and the
# codes used over an epoch (what the codebook really offers).

# %%
fig, ax = plt.subplots(1, 2, figsize=(11, 3))
ax[0].plot(history.steps_for("batch_perplexity"), history["batch_perplexity"])
ax[0].axhline(K, ls="--", c="gray", label=f"K = {K}")
ax[0].set_xlabel("step"); ax[0].set_ylabel("perplexity of a batch"); ax[0].legend()
ax[0].set_title(f"per-batch perplexity (batch {CFG.batch_size}: at most {CFG.batch_size * positions} positions)")
if epoch_log:
    s, used_e, perp_e = zip(*epoch_log)
    ax[1].plot(s, used_e, "o-", label="codes used in the epoch")
    ax[1].plot(s, perp_e, "s-", label="perplexity over the epoch")
ax[1].axhline(K, ls="--", c="gray")
ax[1].set_xlabel("step"); ax[1].set_ylabel("codes"); ax[1].set_title("usage over each epoch"); ax[1].legend()
plt.tight_layout(); plt.show()

# %% [markdown]
# ## 6. What the model stores: the code map
# `model.encode(x)` gives an `h x w` grid of integers; `model.decode_indices` turns it back into an image. The
# integers are all that is needed: decoding them gives exactly the reconstruction of section 4.

# %%
model.eval()
with torch.no_grad():
    code_map = model.encode(x_test[:4].to(device)).cpu()
    from_indices = model.decode_indices(code_map.to(device)).cpu()
assert torch.allclose(from_indices, x_hat[:4], atol=1e-5), "decoding the indices must give the reconstruction"

fig, axes = plt.subplots(2, 4, figsize=(10, 5))
for j in range(4):
    img = x_test[j].permute(1, 2, 0).squeeze(-1).numpy()
    axes[0, j].imshow(img, cmap="gray" if C == 1 else None); axes[0, j].set_axis_off()
    axes[1, j].imshow(code_map[j].numpy(), cmap="tab20", vmin=0, vmax=K - 1)
    for (r, c), v in np.ndenumerate(code_map[j].numpy()):
        axes[1, j].text(c, r, str(v), ha="center", va="center", fontsize=6)
    axes[1, j].set_axis_off()
axes[0, 0].set_title("image"); axes[1, 0].set_title(f"its {h_lat}x{w_lat} code map")
plt.tight_layout(); plt.show()

# %% [markdown]
# ## 7. Exercise: bits per image
# Each of the `h * w` positions stores one index out of `K`. With a fixed-length code, an index costs `log2 K`
# bits. Write `bits_per_image(latent_h, latent_w, num_codes)`.

# %%
def bits_per_image(latent_h, latent_w, num_codes):
    """Bits to store an h x w map of indices into K codes, with a fixed-length code."""
    ### BEGIN SOLUTION
    return latent_h * latent_w * math.log2(num_codes)
    ### END SOLUTION


# %%
from course_lib.checks.vqvae import check_bits_per_image

check_bits_per_image(bits_per_image)

# %% [markdown]
# From here on we use `course_lib.metrics.bits_per_image`.

# %%
code_bits = metrics.bits_per_image(h_lat, w_lat, K)
assert code_bits == h_lat * w_lat * math.log2(K)
entropy_bits = h_lat * w_lat * math.log2(usage.perplexity())
print(f"VQ-VAE code map: {h_lat}x{w_lat} x log2({K}) = {code_bits:.0f} bits per image "
      f"({code_bits / (H * W):.3f} bits per pixel)")
print(f"with an ideal entropy code for the measured usage (log2 perplexity per index): {entropy_bits:.0f} bits")

# %% [markdown]
# ## 8. Against PNG and JPEG at the same quality
# How good is that? Compress the **same test images** with standard codecs (Pillow), each at the lowest setting
# that reaches the VQ-VAE's PSNR (`course_lib.compression`):
#
# * PNG is lossless; for a lossy PNG we posterise each image to the fewest grey levels that reach the PSNR;
# * JPEG at the lowest quality (searched 1..100) that reaches the PSNR.
#
# File sizes include headers, which matter for tiny images; the second table tiles the images into one mosaic so
# that the headers are paid once. The VQ-VAE count leaves out its decoder network (the parameter count printed in
# section 2), just as the PNG and JPEG counts leave out the code of their decoders.

# %%
n_cmp = 64
rows = compression_table(x_test[:n_cmp], x_hat[:n_cmp].clamp(0, 1), code_bits, model_name=f"VQ-VAE ({h_lat}x{w_lat} codes, K={K})")
print(f"{n_cmp} test images, one file each:")
print(format_table(rows))
target = rows[0]["psnr_db"]
tile = mosaic(x_test[:n_cmp], nrow=8)
mosaic_rows = [
    dict(method="PNG lossless, mosaic", bits_per_image=png_bits(tile) / n_cmp),
    dict(method="PNG posterised, mosaic", bits_per_image=png_bits_at_psnr(tile, target).mean_bits / n_cmp),
    dict(method="JPEG, mosaic", bits_per_image=jpeg_bits_at_psnr(tile, target).mean_bits / n_cmp),
]
print(f"\nthe same {n_cmp} images tiled into one {tuple(tile.shape[1:])} image (headers shared), target {target:.1f} dB:")
print(format_table(mosaic_rows, floatfmt="{:.0f}"))

# %% [markdown]
# **Check: image by image, at the same PSNR, the code map is several times smaller than a PNG file, and smaller
# than a JPEG file.**

# %%
png_lossy = rows[2]["bits_per_image"]
jpeg = rows[3]["bits_per_image"]
print(f"one file per image:  PNG (posterised) / VQ-VAE = {png_lossy / code_bits:.1f}x,  JPEG / VQ-VAE = {jpeg / code_bits:.1f}x")
print(f"mosaic (headers shared): PNG (posterised) / VQ-VAE = {mosaic_rows[1]['bits_per_image'] / code_bits:.1f}x,  "
      f"JPEG / VQ-VAE = {mosaic_rows[2]['bits_per_image'] / code_bits:.1f}x")
assert code_bits < 0.5 * png_lossy, "the VQ-VAE code should need far fewer bits than a PNG file at the same PSNR"
assert code_bits < jpeg, "the VQ-VAE code should need fewer bits than a JPEG file at the same PSNR"

# %% [markdown]
# Read the second table before drawing conclusions. For tiny images much of a PNG or JPEG **file** is header (image
# size, Huffman and quantisation tables): once the headers are shared across the mosaic, the gap shrinks, and at
# this low quality JPEG can come close to the code map (compare the numbers printed above). So the honest summary
# is: a VQ-VAE code map is compact, but its big advantage is not the bit count against a good classical codec at
# low PSNR; it is that the code map is a short grid of discrete tokens that a second model can learn to generate
# (notebook 06). Also remember that PSNR is not what the eye sees (JPEG blocks and VQ-VAE blur are different
# failures), that the VQ-VAE only works on images like its training set, and that the classical codecs need no
# training at all.

# %% [markdown]
# ## 9. Exercise: perplexity from indices
# Write `perplexity(indices, num_codes)`: the exponential of the entropy of the code-usage distribution over
# **all** positions of all images in `indices` (shape (B, h, w)). Count each code, normalise the counts to
# probabilities, and take care of codes that are never used (`0 * log 0` must count as 0).

# %%
def perplexity(indices, num_codes):
    """exp(-sum_k p_k log p_k), p_k = share of the positions in `indices` that chose code k."""
    ### BEGIN SOLUTION
    counts = torch.bincount(indices.reshape(-1), minlength=num_codes).double()
    p = counts / counts.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * torch.log(p)).sum()))
    ### END SOLUTION


# %%
from course_lib.checks.vqvae import check_perplexity

check_perplexity(perplexity)

# %%
print(f"test-set perplexity: {metrics.perplexity(test_indices, K):.2f} (course_lib.metrics.perplexity)")

# %% [markdown]
# ## 10. A side effect: denoising
# The decoder can only produce images built from codes, and noise is not something the codes learned to
# represent. Add Gaussian noise to test images and pass them through the (unchanged) model:

# %%
sigma = 0.2
g = torch.Generator().manual_seed(1)
x_clean = x_test[:256]
x_noisy = (x_clean + sigma * torch.randn(x_clean.shape, generator=g)).clamp(0, 1)
x_denoised, _ = reconstruct(x_noisy)
x_denoised = x_denoised.clamp(0, 1)
psnr_noisy = metrics.psnr(x_clean, x_noisy)
psnr_denoised = metrics.psnr(x_clean, x_denoised)
print(f"PSNR against the clean images: noisy {psnr_noisy:.2f} dB -> VQ-VAE output {psnr_denoised:.2f} dB")
show_pairs(x_clean[:8], (x_noisy[:8], x_denoised[:8]), n=8, titles=("clean", f"noisy (sigma {sigma})", "VQ-VAE(noisy)"));

# %% [markdown]
# **Check: the VQ-VAE's output is closer to the clean image than its noisy input was.**

# %%
assert psnr_denoised > psnr_noisy + 1.0, f"denoising should gain at least 1 dB, got {psnr_denoised - psnr_noisy:.2f}"

# %% [markdown]
# ## Summary
# - A VQ-VAE encodes an image into an `h x w` map of indices into a learned codebook; the decoder rebuilds the image
#   from the indices alone.
# - NMSE (MSE / data variance) makes reconstruction error comparable: 1 is the mean-value baseline; the reference
#   notebook reaches about 0.056 on CIFAR-10 under the `standard` settings.
# - Perplexity is `exp(entropy)` of the code usage. Measure it over a data set, not per batch: per-batch perplexity
#   is bounded by the number of positions in the batch and grows with the batch size.
# - The code map costs `h * w * log2 K` bits: several times less than a PNG or JPEG file of each image at the same
#   PSNR, though much of that gap is file headers (with headers shared, JPEG comes close at low PSNR). The price is
#   blur and a decoder that works only on images like its training set.
# - The bottleneck also removes noise that the codes never learned to represent.
#
# ## Exercises
# 1. *(checked above)* `bits_per_image`.
# 2. *(checked above)* `perplexity` over all positions.
# 3. Halve and double `num_codes` in `CFG` and rerun. How do NMSE, perplexity and bits per image move? Plot NMSE
#    against bits per image: that is a rate-distortion curve.
# 4. Replace `EMAVectorQuantizer(...)` by `VectorQuantizer(num_codes, code_dim)` with no options. What happens to
#    the codes used? (Notebook 05 studies exactly this.)
# 5. Increase `sigma` in section 10 until denoising stops helping. Why does it fail for very strong noise?
#
# ## Further reading
# - A. van den Oord, O. Vinyals, K. Kavukcuoglu (2017). *Neural Discrete Representation Learning*. arXiv:1711.00937.
# - A. Razavi, A. van den Oord, O. Vinyals (2019). *Generating Diverse High-Fidelity Images with VQ-VAE-2*.
#   arXiv:1906.00446.
# - A. Lancucki et al. (2020). *Robust Training of Vector Quantized Bottleneck Models*. arXiv:2005.08520.
# - Y. Bengio, N. Leonard, A. Courville (2013). *Estimating or Propagating Gradients Through Stochastic Neurons for
#   Conditional Computation*. arXiv:1308.3432.
