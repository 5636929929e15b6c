# %% [markdown]
# # 04 · VQ-VAE: a discrete bottleneck that reconstructs images
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-to-vqgan/course/blob/v0.2.0/notebooks/student/04_vqvae.ipynb)
#
# **Learning objectives.** After this notebook you can
# - build a VQ-VAE (van den Oord et al. 2017) from a convolutional encoder, a quantizer and a decoder, and train it;
# - judge its reconstructions with a number that has a reference point: NMSE, the MSE divided by the data variance,
#   and reproduce a published figure by its own protocol before comparing with it;
# - compare the paper's gradient-trained codebook with the EMA codebook at an equal budget, over seeds;
# - read the code usage of a trained codebook (histogram, perplexity, codes used) and avoid the batch-size pitfall
#   of per-batch perplexity;
# - see an image as what the model stores: an `h x w` map of code indices;
# - count the bits of that code map, `h * w * ceil(log2 K)`, and compare it with PNG and JPEG at the same mean PSNR;
# - use the bottleneck as a denoiser and measure it against classical filters.
#
# **Prerequisites.** Notebooks 02 (codebooks, k-means) and 03 (straight-through estimator, codebook and
# commitment losses).
#
# **Estimated time.** Core path about 80 min (estimated from this notebook by `make stats`). Machine: about 44 s under
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
# All sizes come from one table. `quick` trains a small model on Fashion-MNIST (28x28, a 7x7 code map) for a few
# hundred steps on a CPU. `standard` repeats the training of DeepMind's Sonnet VQ-VAE example notebook
# (`examples/vqvae_example.ipynb` in google-deepmind/sonnet): CIFAR-10, 40,000 training images, K = 512 codes of
# dimension D = 64, an EMA codebook with decay 0.99, 128 hidden channels with 32 inside the residual blocks, Adam at
# 3e-4, batch 32, 10k steps. The `cmp_*` settings size the codebook comparison of section 5 (several seeds per arm,
# so a smaller model under `quick`).

# %%
from course_lib.profiles import settings

CFG = settings(
    quick=dict(dataset="fashion-mnist", n_train=4000, n_test=512, steps=300, batch_size=64, lr=2e-3,
               hidden=32, res_hidden=32, res_blocks=1, num_codes=128, code_dim=16,
               decay=0.95,  # 300 steps: 0.99 would average over a third of the run; 0.95 over ~20 steps
               cmp_hidden=16, cmp_batch_size=32, cmp_steps=200, cmp_seeds=3),
    standard=dict(dataset="cifar10", n_train=40_000, n_test=10_000, steps=10_000, batch_size=32, lr=3e-4,
                  hidden=128, res_hidden=32, res_blocks=2, num_codes=512, code_dim=64, decay=0.99,
                  cmp_hidden=128, cmp_batch_size=32, cmp_steps=3000, cmp_seeds=2),
    full=dict(steps=30_000, cmp_steps=10_000, cmp_seeds=3),
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
from course_lib.classical import add_gaussian_noise, best_denoiser
from course_lib.compression import compression_table, format_table, jpeg_bits_at_psnr, jpeg_bytes, mosaic, png_bits, png_bits_at_psnr, png_bytes
from course_lib.data import load_dataset, make_loader
from course_lib.models import VQVAE
from course_lib.quantize import EMAVectorQuantizer, VectorQuantizer
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
# The whole model in one picture (the rest of this notebook refers back to it):

# %%
from course_lib.diagrams import vqvae_diagram

vqvae_diagram();

# %% [markdown]
# `course_lib.models.VQVAE` follows the layout of the Sonnet example, scaled by `CFG`. The paper (section 4.1)
# gives the encoder as two stride-2 4x4 convolutions and two residual blocks; the Sonnet example adds a 3x3
# convolution before the residual blocks and a 1x1 "pre-quantization" convolution to `D` channels, and so do we:
#
# * **encoder**: two stride-2 4x4 convolutions (H x W -> H/4 x W/4), a 3x3 convolution, residual blocks
#   (`x + Conv1x1(ReLU(Conv3x3(ReLU(x))))`), a ReLU, and the 1x1 convolution to `D` channels: `z_e` of shape
#   (B, D, h, w). (The one remaining difference from Sonnet: its first convolution has half the channels.)
# * **quantizer**: every one of the `h * w` vectors of `z_e` is replaced by its nearest code `e_k` out of `K`; its
#   index `k` is all that is stored. Gradients pass with the straight-through estimator (notebook 03);
# * **decoder**: the mirror image, from `z_q` (B, D, h, w) back to (B, C, H, W).
#
# The codebook is learned by exponential moving averages (EMA, appendix A.1 of the paper; decay `CFG.decay`), as in
# the Sonnet example: each code moves to the running mean of the encoder outputs assigned to it, so the only loss
# terms are the reconstruction and the commitment `beta * |z_e - sg[e]|^2` with `beta = 0.25`. No k-means
# initialisation and no dead-code restarts: those cures come in notebook 05, and section 5 shows why they are
# needed.
#
# **Careful: an EMA codebook learns in every forward pass in train mode**, whatever you call it for. Running
# `model(x)` or `model.encode(x)` on test images while the model is in train mode moves the codebook towards the test
# data. Call `model.eval()` before you look at anything. The next cell measures what `EMAVectorQuantizer` does in
# one training-mode call: it picks each vector's nearest code, then updates the codes; which codes end up in `z_q`?

# %%
probe = EMAVectorQuantizer(num_codes=4, code_dim=2, decay=0.5).train()
z_probe = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
codes_before = probe.codebook.clone()
out_probe = probe(z_probe)
codes_after = probe.codebook.clone()
looked_up_after = torch.allclose(out_probe.z_q, codes_after[out_probe.indices], atol=1e-6)
looked_up_before = torch.allclose(out_probe.z_q, codes_before[out_probe.indices], atol=1e-6)
print(f"codebook moved in one training-mode call: {not torch.equal(codes_before, codes_after)}")
print(verdict(looked_up_after and not looked_up_before,
              "z_q holds the codes AFTER this step's EMA update (the Sonnet example looks up before updating).",
              "z_q holds the codes from BEFORE this step's EMA update, as in the Sonnet example."))
probe.eval()
frozen = probe.codebook.clone()
probe(z_probe)
assert torch.equal(frozen, probe.codebook), "in eval mode the EMA codebook must not move"

# %%
torch.manual_seed(ENV.seed)
quantizer = EMAVectorQuantizer(num_codes=CFG.num_codes, code_dim=CFG.code_dim, beta=0.25, decay=CFG.decay)
model = VQVAE(quantizer, in_channels=C, hidden=CFG.hidden, downsamples=2, res_blocks=CFG.res_blocks,
              res_hidden=CFG.res_hidden).to(device)
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
# The loss is the Sonnet example's: `mse(x_hat, x) / data_variance + vq.loss`, the reconstruction term measured in
# NMSE units. (Dividing by the variance, about 0.06 on CIFAR-10 and 0.12 here, makes the reconstruction weigh more
# against the commitment term than a plain `mse + vq.loss` would.) Besides the losses we log the perplexity of each
# training batch, as Sonnet does, and, separately, the codes used over each **epoch** (a pass over the training set),
# accumulated with `metrics.CodeUsageTracker`. Section 6 explains why both are needed.

# %%
optimizer = torch.optim.Adam(model.parameters(), lr=CFG.lr)
epoch_tracker = metrics.CodeUsageTracker(K)
epoch_log = []  # (step, codes used in the epoch, perplexity over the epoch)
LOG_EVERY = 10


def loss_fn(batch, step):
    x, _ = batch
    out = model(x)
    rec = F.mse_loss(out.x_hat, x)
    epoch_tracker.update(out.vq.indices)
    if (step + 1) % len(loader) == 0:  # end of an epoch
        epoch_log.append((step + 1, epoch_tracker.used(), epoch_tracker.perplexity()))
        epoch_tracker.reset()
    nmse = rec / data_variance
    return {"loss": nmse + out.vq.loss, "rec": rec, "nmse": nmse.detach(), "batch_perplexity": out.vq.perplexity}


history = fit(loss_fn, optimizer, loader, steps=CFG.steps, model=model, log_every=LOG_EVERY, desc="VQ-VAE")
history.plot(["rec", "nmse"]);

# %% [markdown]
# **Claim: the loss went down.** The mean reconstruction loss of the last logged windows is far below that of the
# first ones.

# %%
first, last = np.mean(history["rec"][:3]), np.mean(history["rec"][-3:])
print(f"reconstruction MSE: first windows {first:.4f} -> last windows {last:.4f}")
claim(last < 0.5 * first, f"the reconstruction MSE at least halves: {first:.4f} -> {last:.4f}");

# %% [markdown]
# ## 4. Reconstructions and NMSE
# A trivial baseline that needs no bits at all: predict the **mean training image** for every test image. Its NMSE
# is close to 1 minus the share of the variance explained by the mean image. A useful model must beat it by far.

# %%
@torch.no_grad()
def reconstruct(x, net=None, batch=256):
    """(x_hat, indices) of `net` (default: the model) in eval mode, batch by batch, on the CPU."""
    net = model if net is None else net
    net.eval()
    outs = [net(x[i:i + batch].to(device)) for i in range(0, len(x), batch)]
    return torch.cat([o.x_hat for o in outs]).cpu(), torch.cat([o.vq.indices for o in outs]).cpu()


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
# **Claim: the reconstructions beat the trivial baseline by a wide margin.**

# %%
claim(nmse_model < 0.3 * nmse_mean, f"test NMSE {nmse_model:.3f} < 0.3 x mean-image baseline {nmse_mean:.3f}");

# %% [markdown]
# ### The same model, trained for much longer (shipped)
# Your run above trained for `CFG.steps` steps, about a minute on a CPU. The course ships **the same model** (the
# same class, the same `quick` configuration and data) trained by `data/train_course_checkpoints.py` for many more
# steps; its card records the data, the steps, the wall time, the machine and the command. We build the model exactly
# as in section 2, load the weights (`course_lib.pretrained`), and measure it on the same test images with the same
# numbers. Only under `quick` (other profiles build a bigger model) and unless `COURSE_PRETRAINED=0`. The claims above
# are about **your run**; the lines below only describe the shipped one, and check that it reproduces its card.

# %%
from course_lib import pretrained

long_model = None
if pretrained.available("04_vqvae"):
    long_model = VQVAE(EMAVectorQuantizer(num_codes=CFG.num_codes, code_dim=CFG.code_dim, beta=0.25, decay=CFG.decay),
                       in_channels=C, hidden=CFG.hidden, downsamples=2, res_blocks=CFG.res_blocks,
                       res_hidden=CFG.res_hidden).to(device)
    long_card = pretrained.load_into(long_model, "04_vqvae")
    long_hat, long_indices = reconstruct(x_test, long_model)
    long_usage = metrics.CodeUsageTracker(K).update(long_indices)
    your_usage = metrics.CodeUsageTracker(K).update(test_indices)
    side = [dict(model=f"your run: {CFG.steps} steps (about a minute)", test_nmse=nmse_model, test_psnr_db=psnr_model,
                 codes_used=your_usage.used(), perplexity=your_usage.perplexity()),
            dict(model=f"shipped: {long_card['steps']:,} steps", test_nmse=metrics.nmse(x_test, long_hat, data_variance),
                 test_psnr_db=metrics.psnr(x_test, long_hat.clamp(0, 1)), codes_used=long_usage.used(),
                 perplexity=long_usage.perplexity())]
    print(f"shipped: {pretrained.describe('04_vqvae')}")
    print(format_table(side, floatfmt="{:.3f}"))
    show_pairs(x_test[:10], (x_hat[:10].clamp(0, 1), long_hat[:10].clamp(0, 1)), n=10,
               titles=("original", f"your run ({CFG.steps} steps)", f"shipped ({long_card['steps']:,} steps)"));
    head = long_card["headline"]
    claim(abs(side[1]["test_nmse"] - head["test_nmse"]) < 1e-3 and side[1]["codes_used"] == head["codes_used"],
          f"the shipped model reproduces its card: test NMSE {side[1]['test_nmse']:.4f} (card {head['test_nmse']:.4f}), "
          f"codes used {side[1]['codes_used']} (card {head['codes_used']:.0f})")
    claim(side[1]["test_nmse"] < side[0]["test_nmse"],
          f"the long-trained model reconstructs better than the one-minute run: test NMSE {side[1]['test_nmse']:.3f} "
          f"< {side[0]['test_nmse']:.3f}")
else:
    print("No shipped checkpoint here (profile is not quick, COURSE_PRETRAINED=0, or not installed): skipped.")

# %% [markdown]
# **The reference point, by its own protocol.** The Sonnet example notebook prints, after 10k steps at batch 32 on
# CIFAR-10, `recon_error: 0.056 perplexity: 326.349` (its output cell, last line). Those two numbers are defined
# differently from the test-set numbers above:
#
# | | Sonnet example (protocol A) | this notebook, section 4 (protocol B) |
# |---|---|---|
# | data | **training** batches, model in train mode (the EMA codebook still moving) | the **test** set, model in eval mode |
# | NMSE | MSE / variance of the training set, averaged over the **last 100 training steps** | MSE / the same variance, over the whole test set |
# | perplexity | of **each training batch** (32 images x 8 x 8 = 2048 positions), averaged over the last 100 steps | of the usage over the **whole test set** |
# | loss | `mse / data_variance + vq_loss` | (same training run) |
#
# Sonnet also scales images to [-0.5, 0.5]; a shift changes no MSE. The cell below evaluates this run both ways.
# Only protocol A under `standard` is comparable with Sonnet's numbers; under `quick` (other data, a smaller model,
# 300 steps) neither is.

# %%
window = max(1, min(100, CFG.steps) // LOG_EVERY)  # logging windows that cover the last 100 steps
usage = metrics.CodeUsageTracker(K).update(test_indices)
protocol = [
    dict(evaluation="A: Sonnet protocol (last 100 training batches)", nmse=history.mean("nmse", last=window),
         perplexity=history.mean("batch_perplexity", last=window), positions=CFG.batch_size * h_lat * w_lat),
    dict(evaluation="B: test set, eval mode", nmse=nmse_model, perplexity=usage.perplexity(),
         positions=len(test_indices) * h_lat * w_lat),
    dict(evaluation="Sonnet example's output (A, standard, 10k steps)", nmse=0.056, perplexity=326.349,
         positions=32 * 8 * 8),
]
print(f"profile {CFG.profile!r}, {CFG.steps} steps on {train.display_name}")
print(format_table(protocol, floatfmt="{:.3f}"))
comparable = (CFG.profile != "quick" and CFG.steps >= 10_000 and train.display_name.startswith("CIFAR-10")
              and "stand-in" not in train.display_name)
a_nmse, a_perp = protocol[0]["nmse"], protocol[0]["perplexity"]
print(verdict(comparable,
              verdict(a_nmse <= 0.056 * 1.1 and a_perp >= 326 * 0.9,
                      f"Protocol A matches or beats the Sonnet example (NMSE {a_nmse:.3f} vs 0.056, perplexity {a_perp:.0f} vs 326).",
                      f"Protocol A does NOT reach the Sonnet example (NMSE {a_nmse:.3f} vs 0.056, perplexity {a_perp:.0f} vs 326)."),
              "Not comparable with the Sonnet example under this profile (other data, model size or steps)."))

# %% [markdown]
# ## 5. The paper's codebook against the EMA codebook
# The paper trains the codebook by gradient descent on `|sg[z_e] - e|^2 + beta |z_e - sg[e]|^2` (notebook 03;
# `VectorQuantizer`); its appendix A.1, and the Sonnet example, use the EMA update instead. Both well-known VQ-VAE
# notebooks (Sonnet's `vq_use_ema` switch, and zalando's PyTorch port) train both. We do too, at an **equal budget**:
# the same model (`CFG.cmp_hidden` channels), data order, steps, learning rate and initial weights for each seed, and
# `CFG.cmp_seeds` seeds per arm. Neither arm gets k-means initialisation or restarts.

# %%
def train_arm(kind, seed):
    """Train one VQ-VAE of the comparison; returns its test metrics."""
    torch.manual_seed(seed)
    q = (EMAVectorQuantizer(K, CFG.code_dim, beta=0.25, decay=CFG.decay) if kind == "EMA"
         else VectorQuantizer(K, CFG.code_dim, beta=0.25))
    net = VQVAE(q, in_channels=C, hidden=CFG.cmp_hidden, downsamples=2, res_blocks=CFG.res_blocks,
                res_hidden=min(CFG.res_hidden, CFG.cmp_hidden)).to(device)
    data = make_loader(train, batch_size=CFG.cmp_batch_size, shuffle=True, seed=seed, device=device)
    opt = torch.optim.Adam(net.parameters(), lr=CFG.lr)

    def arm_loss(batch, step):
        x, _ = batch
        o = net(x)
        nmse = F.mse_loss(o.x_hat, x) / data_variance
        return {"loss": nmse + o.vq.loss, "nmse": nmse.detach()}

    fit(arm_loss, opt, data, steps=CFG.cmp_steps, model=net, log_every=LOG_EVERY, progress=False)
    xh, idx = reconstruct(x_test, net)
    return dict(codebook=kind, seed=seed, test_nmse=metrics.nmse(x_test, xh, data_variance),
                perplexity=metrics.perplexity(idx, K), codes_used=metrics.codes_used(idx, K))


arms = [train_arm(kind, seed) for kind in ("gradient", "EMA") for seed in range(CFG.cmp_seeds)]
print(format_table(arms, floatfmt="{:.3f}"))

# %%
def spread(kind, key):
    v = np.array([a[key] for a in arms if a["codebook"] == kind], dtype=float)
    return v.mean(), v.std(ddof=1) if len(v) > 1 else 0.0, v


fig, axes = plt.subplots(1, 3, figsize=(11, 3))
for ax, key in zip(axes, ["test_nmse", "perplexity", "codes_used"]):
    for i, kind in enumerate(["gradient", "EMA"]):
        m, s, v = spread(kind, key)
        ax.scatter(np.full(len(v), i) + np.linspace(-0.08, 0.08, len(v)), v, c=f"C{i}", zorder=3)
        ax.errorbar(i + 0.25, m, yerr=s, fmt="s", c=f"C{i}", capsize=4)
    ax.set_xticks([0, 1]); ax.set_xticklabels(["gradient\n(paper)", "EMA\n(appendix A.1)"]); ax.set_xlim(-0.5, 1.6)
    ax.set_title(key.replace("_", " ") + (f" (of K = {K})" if key != "test_nmse" else " (lower is better)"))
fig.suptitle(f"{CFG.cmp_seeds} seeds per arm, {CFG.cmp_steps} steps each (dots: seeds; squares: mean +- std)")
plt.tight_layout(); plt.show()

# %%
g_mean, g_std, g_v = spread("gradient", "test_nmse")
e_mean, e_std, e_v = spread("EMA", "test_nmse")
gap = g_mean - e_mean
noise = max(math.sqrt(g_std**2 / len(g_v) + e_std**2 / len(e_v)), 1e-12) if len(g_v) > 1 else float("nan")
print(f"test NMSE: gradient {g_mean:.3f} +- {g_std:.3f}, EMA {e_mean:.3f} +- {e_std:.3f}; "
      f"gap {gap:+.3f} = {gap / noise:.1f} standard errors")
print(verdict(gap > 2 * noise and e_v.max() < g_v.min(),
              "At this budget the EMA codebook reconstructs better than the gradient-trained one, on every seed.",
              verdict(gap < -2 * noise, "At this budget the gradient-trained codebook reconstructs better.",
                      "No clear difference at this budget: the gap is within the seed-to-seed spread.")))
claim(gap > 2 * noise and e_v.max() < g_v.min(),
      f"EMA test NMSE {e_mean:.3f}+-{e_std:.3f} below gradient {g_mean:.3f}+-{g_std:.3f} on every seed, gap > 2 s.e.");

# %% [markdown]
# Why? The gradient codebook starts from tiny codes (`U(-1/K, 1/K)`) and a code moves only when it is chosen, by a
# learning rate; codes that are never chosen never move, and the encoder learns to use the few that are. The EMA
# update moves each chosen code straight to the mean of its vectors. Look at **codes used**: in both arms most of the
# codebook may sit unused after a short run. Notebook 05 reproduces this collapse on purpose and cures it
# (k-means initialisation, restarts, and more).

# %% [markdown]
# ## 6. Code usage: histogram, perplexity, and the batch-size pitfall
# Back to the model of section 3. Count how often each code is chosen over the whole test set. **Perplexity** is
# `exp(entropy)` of that usage distribution: the number of equally used codes that would give the same entropy (K if
# all codes were equally used, 1 if a single code took everything).

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
# Many write-ups log the perplexity of **each training batch** (the Sonnet example does). A batch of `B` images has
# only `B * h * w` positions, so its perplexity can never exceed that, and it grows with the batch size even when the
# codebook is exactly the same. Measure it on the trained model, codebook fixed: cut the test set into equal batches of
# `B` images for several `B`; the table and the figure show the mean over those batches and their spread (10th to
# 90th percentile):

# %%
positions = h_lat * w_lat
sizes = [b for b in [1, 2, 4, 8, 16, 32, 64, 128, 256] if b <= len(test_indices) // 2]
batch_stats = []
for b in sizes:
    chunks = [test_indices[i:i + b] for i in range(0, len(test_indices) - b + 1, b)]
    perps = np.array([metrics.perplexity(c, K) for c in chunks])
    used = np.array([metrics.codes_used(c, K) for c in chunks], dtype=float)
    batch_stats.append(dict(batch_size=b, batches=len(chunks), mean_perplexity=perps.mean(),
                            perplexity_p10=np.percentile(perps, 10), perplexity_p90=np.percentile(perps, 90),
                            geo_mean_perplexity=float(np.exp(np.log(perps).mean())),
                            mean_codes_used=used.mean(), codes_used_p10=np.percentile(used, 10),
                            codes_used_p90=np.percentile(used, 90)))
print(format_table([{k: r[k] for k in ("batch_size", "batches", "mean_perplexity", "perplexity_p10", "perplexity_p90",
                                       "mean_codes_used")} for r in batch_stats], floatfmt="{:.1f}"))

fig, ax = plt.subplots(1, 2, figsize=(11, 3.4))
bs = [r["batch_size"] for r in batch_stats]
col = lambda key: np.array([r[key] for r in batch_stats])
ax[0].fill_between(bs, col("perplexity_p10"), col("perplexity_p90"), color="C0", alpha=0.25,
                   label="10th-90th percentile over batches")
ax[0].plot(bs, col("mean_perplexity"), "o-", c="C0", label="mean per-batch perplexity")
ax[0].plot(bs, col("geo_mean_perplexity"), "x:", c="C1", label="geometric mean (see below)")
ax[0].axhline(usage.perplexity(), c="C3", ls="--", label=f"whole test set ({usage.perplexity():.1f})")
ax[0].set_ylim(0, 1.15 * usage.perplexity()); ax[0].set_ylabel("perplexity")
ax[1].fill_between(bs, col("codes_used_p10"), col("codes_used_p90"), color="C0", alpha=0.25,
                   label="10th-90th percentile over batches")
ax[1].plot(bs, col("mean_codes_used"), "o-", c="C0", label="mean codes used per batch")
ax[1].axhline(usage.used(), c="C3", ls="--", label=f"whole test set ({usage.used()})")
ax[1].set_ylim(0, 1.15 * usage.used()); ax[1].set_ylabel("codes used")
for a in ax:
    a.set_xscale("log", base=2); a.set_xticks(bs); a.set_xticklabels([str(b) for b in bs])
    a.set_xlabel("batch size B (images)"); a.legend(fontsize=7, loc="lower right")
    a.axvline(CFG.batch_size, c="gray", lw=0.8)
ax[0].set_title(f"same codebook, only B changes (bound: B x {positions} positions)", fontsize=10)
ax[1].set_title(f"grey line: the training batch size {CFG.batch_size}", fontsize=10)
plt.tight_layout(); plt.show()

# %% [markdown]
# **Claims: per-batch perplexity depends on the batch size** (same model, same codebook), and a single image sees
# only a fraction of the codes the test set uses.
#
# One thing here *is* a theorem: the entropy is concave, so for equal-sized batches the **mean of the per-batch
# entropies** is at most the entropy of the whole set; equivalently the *geometric* mean of the per-batch
# perplexities is at most the whole-set perplexity. The *arithmetic* mean of per-batch perplexities (what training
# logs show) has no such guarantee in general (exp is convex); that it stays below here is a measurement.

# %%
small, big = batch_stats[0], batch_stats[-1]
for r in batch_stats:  # the bound and the theorem: these cannot fail
    assert r["mean_perplexity"] <= min(r["batch_size"] * positions, K) + 1e-6
    assert r["geo_mean_perplexity"] <= usage.perplexity() + 1e-6
print(f"batch {small['batch_size']}: perplexity {small['mean_perplexity']:.1f}, codes used {small['mean_codes_used']:.1f};  "
      f"batch {big['batch_size']}: {big['mean_perplexity']:.1f}, {big['mean_codes_used']:.1f};  "
      f"whole set: {usage.perplexity():.1f}, {usage.used()}")
claim(small["mean_perplexity"] < 0.8 * big["mean_perplexity"],
      f"per-batch perplexity grows with the batch size: {small['mean_perplexity']:.1f} (B={small['batch_size']}) "
      f"< 0.8 x {big['mean_perplexity']:.1f} (B={big['batch_size']})");
claim(small["mean_codes_used"] < 0.8 * usage.used(),
      f"one image uses {small['mean_codes_used']:.1f} codes, < 0.8 x the {usage.used()} of the test set");
print(verdict(all(r["mean_perplexity"] <= usage.perplexity() + 1e-6 for r in batch_stats),
              "Measured: the arithmetic mean of per-batch perplexities stays below the whole-set perplexity at every size.",
              "Measured: at some batch size the arithmetic mean of per-batch perplexities exceeds the whole-set value."))

# %% [markdown]
# During training, therefore, watch both numbers: per-batch perplexity (cheap, noisy, bounded by the batch) and the
# codes used over an epoch (what the codebook really offers).

# %%
fig, ax = plt.subplots(1, 2, figsize=(11, 3))
ax[0].plot(history.steps_for("batch_perplexity"), history["batch_perplexity"])
ax[0].set_ylim(0, None)  # K (the most there could be) is in the title: a line at K would squash the curves
ax[0].set_xlabel("step"); ax[0].set_ylabel("perplexity of a batch")
ax[0].set_title(f"per-batch perplexity (batch {CFG.batch_size}; K = {K})", fontsize=10)
if epoch_log:
    s, used_e, perp_e = zip(*epoch_log)
    ax[1].plot(s, used_e, "o-", label="codes used in the epoch")
    ax[1].plot(s, perp_e, "s-", label="perplexity over the epoch")
ax[1].set_ylim(0, None)
ax[1].set_xlabel("step"); ax[1].set_ylabel("codes"); ax[1].set_title(f"usage over each epoch (of K = {K})", fontsize=10)
ax[1].legend()
plt.tight_layout(); plt.show()

# %% [markdown]
# ## 7. What the model stores: the code map
# `model.encode(x)` gives an `h x w` grid of integers; `model.decode_indices` turns it back into an image. The
# integers are all that is needed: decoding them gives exactly the reconstruction of section 4. (In eval mode: see
# the warning in section 2.) Each code that appears gets its own colour (20 distinct colours when at most 20 codes
# appear, else evenly spaced hues in a shuffled order); the numbers are the indices.

# %%
model.eval()
with torch.no_grad():
    code_map = model.encode(x_test[:4].to(device)).cpu()
    from_indices = model.decode_indices(code_map.to(device)).cpu()
assert torch.allclose(from_indices, x_hat[:4], atol=1e-5), "decoding the indices must give the reconstruction"

shown = np.unique(code_map.numpy())  # one distinct colour per code that appears in these maps
palette = (plt.cm.tab20(np.arange(len(shown))) if len(shown) <= 20 else
           plt.cm.hsv(np.random.default_rng(0).permutation(len(shown)) / len(shown)) * 0.7 + 0.3)
colour_of = np.zeros((K, 4)); colour_of[shown] = palette
fig, axes = plt.subplots(2, 4, figsize=(10, 5))
for j in range(4):
    img = x_test[j].permute(1, 2, 0).squeeze(-1).numpy()
    axes[0, j].imshow(img, cmap="gray" if C == 1 else None); axes[0, j].set_axis_off()
    axes[1, j].imshow(colour_of[code_map[j].numpy()])
    for (r, c), v in np.ndenumerate(code_map[j].numpy()):
        axes[1, j].text(c, r, str(v), ha="center", va="center", fontsize=6)
    axes[1, j].set_axis_off()
axes[0, 0].set_title("image"); axes[1, 0].set_title(f"its {h_lat}x{w_lat} code map")
plt.tight_layout(); plt.show()

# %% [markdown]
# **Explorer: edit the code map.** Pick an image, a position `(row, col)` of its code map and a code index, and see
# what the decoder draws from the edited map: the decoded original map, the edited one, and their difference, with
# the edited cell (the 4x4-pixel block it sits above) outlined. The title of the difference says how much of the
# change stays within one cell of the edit: the decoder is convolutional, so a code describes its own neighbourhood,
# not the whole image. The default edit writes the test set's most-used code into the centre of the first image.
# Where `MODELS` offers it, you can also switch to the long-trained model of section 4 (shipped).

# %%
from course_lib.explorers import Choice, IntSlider, explorer
from course_lib.explorers.code_map import draw_code_map

x_edit = x_test[:8]
MODELS = {"your run": model} | ({"shipped (long-trained)": long_model} if long_model is not None else {})


def draw_edit(net="your run", image=0, row=h_lat // 2, col=w_lat // 2, code=int(order[0])):
    return draw_code_map(MODELS[net], images=x_edit, image=image, row=row, col=col, code=code)


explorer(draw_edit, net=Choice(list(MODELS), "your run", label="model"), image=IntSlider(0, len(x_edit) - 1, 0),
         row=IntSlider(0, h_lat - 1, h_lat // 2), col=IntSlider(0, w_lat - 1, w_lat // 2),
         code=IntSlider(0, K - 1, int(order[0]), label="code index"));

# %% [markdown]
# ## 8. Exercise: bits per image
# Each of the `h * w` positions stores one index out of `K`. Store every index with a **fixed-length** code: the same
# whole number of bits for each, enough to tell `K` values apart. Write `bits_per_image(latent_h, latent_w,
# num_codes)`. (Careful when `K` is not a power of two: how many bits do 1000 codes need?)

# %%
def bits_per_image(latent_h, latent_w, num_codes):
    """Bits to store an h x w map of indices into K codes, each index with a fixed-length code."""
    ### BEGIN SOLUTION
    return latent_h * latent_w * math.ceil(math.log2(num_codes))
    ### END SOLUTION


# %%
from course_lib.checks.vqvae import check_bits_per_image

check_bits_per_image(bits_per_image)
### BEGIN HIDDEN TESTS
check_bits_per_image(bits_per_image, seed=7)
check_bits_per_image(bits_per_image, seed=2024)
### END HIDDEN TESTS

# %%
bits_per_image = solved_or_reference(bits_per_image, metrics.bits_per_image, "bits_per_image")

# %% [markdown]
# Your function and `course_lib.metrics.bits_per_image` agree; from here on the code map costs `code_bits`.
# `h * w * log2 K` (no rounding) is what you would pay by packing the whole map into one base-`K` number, and it is
# also the average cost of an ideal entropy code when all codes are equally likely. An entropy code can do better
# when the usage is uneven: an index used with probability `p` costs `-log2 p` bits. Two honest versions of that
# estimate, and what they assume:
#
# * **designed on the training set**: the code lengths come from the usage over the training images (add-one
#   smoothing, so an index unseen in training still gets a code), and are paid on the test images;
# * **the test set's own usage** (`h * w * log2(perplexity)`): optimistic, since the decoder would need the test
#   usage before seeing the test data.
#
# Both treat the indices as **independent**: neighbouring codes in an image are strongly related, and a model of that
# (the prior of notebook 06) would need fewer bits. Both also leave out the cost of sending the code table itself.

# %%
code_bits = bits_per_image(h_lat, w_lat, K)
assert code_bits == metrics.bits_per_image(h_lat, w_lat, K) == h_lat * w_lat * math.ceil(math.log2(K))
_, train_indices = reconstruct(train.x)
p_train = (metrics.code_histogram(train_indices, K).double() + 1) / (train_indices.numel() + K)
train_designed_bits = float(-torch.log2(p_train[test_indices.reshape(len(test_indices), -1)]).sum(1).mean())
entropy_bits = h_lat * w_lat * math.log2(usage.perplexity())
print(f"fixed-length code: {h_lat}x{w_lat} x ceil(log2 {K}) = {code_bits:.0f} bits per image "
      f"({code_bits / (H * W):.3f} bits per pixel)")
print(f"ideal entropy code designed on the training usage, paid on the test set: {train_designed_bits:.0f} bits")
print(f"ideal entropy code for the test set's own usage (optimistic):           {entropy_bits:.0f} bits")

# %% [markdown]
# ## 9. Against PNG and JPEG at the same quality
# How good is that? Compress the **same test images** with standard codecs (Pillow, `course_lib.compression`), each at
# the lowest setting whose **mean PSNR** over the images reaches the VQ-VAE's mean PSNR, as the model itself is
# judged by its mean (one setting for all images, as a codec is normally used; `bits_at_target` interpolates between
# the two settings around the target):
#
# * PNG is lossless; for a lossy PNG we posterise the images to the fewest grey levels that reach the PSNR;
# * JPEG at the lowest quality (1..100) that reaches the PSNR.
#
# (Asking *every* image to reach the model's mean PSNR, as an earlier version of this notebook did, makes the codecs
# pay for their hardest image while the model's own PSNR varies from image to image: a bias against the codecs.)
#
# File sizes include headers, and for tiny images the headers alone cost more than the whole code map: the first
# table (one file per image) is therefore a demonstration, not a test. The second table tiles the images into one
# mosaic so that the headers are paid once; that is the comparison to judge. The VQ-VAE count leaves out its decoder
# network (the parameter count printed in section 2), just as the PNG and JPEG counts leave out their decoders' code.

# %%
n_cmp = min(64, len(x_test))
rows = compression_table(x_test[:n_cmp], x_hat[:n_cmp].clamp(0, 1), code_bits, model_name=f"VQ-VAE ({h_lat}x{w_lat} codes, K={K})")
print(f"{n_cmp} test images, one file each:")
print(format_table(rows))
header_bits = dict(PNG=8 * len(png_bytes(torch.zeros(C, 1, 1))), JPEG=8 * len(jpeg_bytes(torch.zeros(C, 8, 8), 1)))
print(f"files that hold almost no image: PNG of 1 pixel {header_bits['PNG']} bits, JPEG of 8x8 flat pixels "
      f"{header_bits['JPEG']} bits; the code map is {code_bits:.0f} bits")

# %%
tile, tile_hat = mosaic(x_test[:n_cmp], nrow=8), mosaic(x_hat[:n_cmp].clamp(0, 1), nrow=8)
target = metrics.psnr(tile[None], tile_hat[None])  # the model's PSNR on the mosaic (one image: MSE over all pixels)
png_m, jpeg_m = png_bits_at_psnr(tile, target, match="mean"), jpeg_bits_at_psnr(tile, target, match="mean")
mosaic_rows = [
    dict(method="PNG lossless, mosaic", bits_per_image=png_bits(tile) / n_cmp, psnr_db=math.inf),
    dict(method="PNG posterised, mosaic", bits_per_image=png_m.target_bits / n_cmp, psnr_db=png_m.mean_psnr),
    dict(method="JPEG, mosaic", bits_per_image=jpeg_m.target_bits / n_cmp, psnr_db=jpeg_m.mean_psnr),
    dict(method="VQ-VAE, fixed-length code", bits_per_image=code_bits, psnr_db=target),
    dict(method="VQ-VAE, entropy code (training usage)", bits_per_image=train_designed_bits, psnr_db=target),
]
print(f"the same {n_cmp} images tiled into one {tuple(tile.shape[1:])} image (headers shared), target {target:.2f} dB:")
print(format_table(mosaic_rows, floatfmt="{:.1f}"))

# %% [markdown]
# **Claim: with the headers shared, the fixed-length code map is smaller than a posterised PNG at the same PSNR.**
# The JPEG comparison is printed as the numbers decide it.

# %%
png_share, jpeg_share = mosaic_rows[1]["bits_per_image"], mosaic_rows[2]["bits_per_image"]
print(f"headers shared: PNG (posterised) / VQ-VAE = {png_share / code_bits:.2f}x,  JPEG / VQ-VAE = {jpeg_share / code_bits:.2f}x")
claim(code_bits < png_share, f"code map {code_bits:.0f} bits < posterised PNG {png_share:.0f} bits per image (mosaic)");
print(verdict(code_bits < 0.9 * jpeg_share,
              f"The fixed-length code map is clearly smaller than JPEG at this PSNR ({code_bits:.0f} vs {jpeg_share:.0f} bits).",
              verdict(code_bits > 1.1 * jpeg_share,
                      f"JPEG is clearly smaller than the fixed-length code map at this PSNR ({jpeg_share:.0f} vs {code_bits:.0f} bits).",
                      f"JPEG and the fixed-length code map are within 10% of each other ({jpeg_share:.0f} vs {code_bits:.0f} bits).")))
print(verdict(train_designed_bits < jpeg_share,
              f"With an entropy code designed on the training usage, the code map ({train_designed_bits:.0f} bits) is smaller than JPEG.",
              f"Even with an entropy code designed on the training usage, the code map ({train_designed_bits:.0f} bits) is not smaller than JPEG."))

# %% [markdown]
# Read these numbers before drawing conclusions. At this low PSNR a good classical codec with shared headers comes
# close to the code map, or beats it (see the verdicts above). So the honest summary is: a VQ-VAE code map is
# compact, but its big advantage is not the bit count against a classical codec at low PSNR; it is that the code map
# is a short grid of discrete tokens that a second model can learn to generate (notebook 06). Also remember that PSNR
# is not what the eye sees (JPEG blocks and VQ-VAE blur are different failures), that the VQ-VAE only works on images
# like its training set, and that the classical codecs need no training at all.

# %% [markdown]
# ## 10. Exercise: perplexity from indices
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
### BEGIN HIDDEN TESTS
check_perplexity(perplexity, seed=7)
check_perplexity(perplexity, seed=31)
### END HIDDEN TESTS

# %%
perplexity = solved_or_reference(perplexity, metrics.perplexity, "perplexity")
test_perplexity = perplexity(test_indices, K)
print(f"test-set perplexity: {test_perplexity:.2f} (yours) vs {metrics.perplexity(test_indices, K):.2f} (course_lib.metrics)")
assert abs(test_perplexity - metrics.perplexity(test_indices, K)) < 1e-6 * K

# %% [markdown]
# ## 11. A side effect: denoising, against classical filters
# The decoder can only produce images built from codes, and noise is not something the codes learned to represent.
# Add Gaussian noise to test images, `x + sigma * N(0, 1)`, **not clipped** to [0, 1] (clipping would make the noise's
# mean non-zero near black and white, which quietly rewards anything that pulls pixels towards grey;
# `course_lib.classical.add_gaussian_noise`), and pass them through the unchanged model. Two classical baselines
# that need no training: a Gaussian blur and a median filter, each at the width that scores best against the clean
# images (an oracle choice, generous to them). All outputs are clipped to [0, 1]. A ceiling for the VQ-VAE: its PSNR on
# the **clean** images (section 4); denoising cannot beat its own reconstruction error.

# %%
sigma = 0.2
x_clean = x_test[:256]
x_noisy = add_gaussian_noise(x_clean, sigma, seed=1)
x_denoised = reconstruct(x_noisy)[0].clamp(0, 1)
baselines = best_denoiser(x_noisy, x_clean)
denoise = {
    "noisy input": metrics.psnr(x_clean, x_noisy),
    baselines["gaussian"].name: metrics.psnr(x_clean, baselines["gaussian"].output),
    baselines["median"].name: metrics.psnr(x_clean, baselines["median"].output),
    "VQ-VAE(noisy)": metrics.psnr(x_clean, x_denoised),
    "VQ-VAE(clean): its ceiling": metrics.psnr(x_clean, x_hat[:256].clamp(0, 1)),
}
print(format_table([dict(method=k, psnr_db=v) for k, v in denoise.items()]))
show_pairs(x_clean[:8], (x_noisy[:8].clamp(0, 1), baselines["gaussian"].output[:8], baselines["median"].output[:8], x_denoised[:8]),
           n=8, titles=("clean", f"noisy (sigma {sigma}, shown clipped)", baselines["gaussian"].name,
                        baselines["median"].name, "VQ-VAE(noisy)"));

# %% [markdown]
# **Claim: the VQ-VAE's output is closer to the clean image than its noisy input was.** How it ranks against the
# filters is printed from the numbers.

# %%
psnr_noisy, psnr_vq = denoise["noisy input"], denoise["VQ-VAE(noisy)"]
best_name = max([baselines["gaussian"].name, baselines["median"].name], key=denoise.get)
psnr_best = denoise[best_name]
claim(psnr_vq > psnr_noisy + 1.0, f"VQ-VAE output {psnr_vq:.2f} dB > noisy input {psnr_noisy:.2f} dB + 1 dB");
print(verdict(psnr_vq > psnr_best + 0.5,
              f"The VQ-VAE beats the best classical filter ({best_name}, {psnr_best:.2f} dB) by {psnr_vq - psnr_best:.2f} dB.",
              verdict(psnr_vq < psnr_best - 0.5,
                      f"The best classical filter ({best_name}, {psnr_best:.2f} dB) beats the VQ-VAE ({psnr_vq:.2f} dB): "
                      "the model's own reconstruction error limits it.",
                      f"The VQ-VAE ({psnr_vq:.2f} dB) and the best classical filter ({best_name}, {psnr_best:.2f} dB) "
                      "are within 0.5 dB.")))

# %% [markdown]
# ## Summary
# - A VQ-VAE encodes an image into an `h x w` map of indices into a learned codebook; the decoder rebuilds the image
#   from the indices alone. An EMA codebook learns in every training-mode forward pass: evaluate in eval mode.
# - NMSE (MSE / data variance) makes reconstruction error comparable: 1 is the mean-value baseline. A published number
#   is comparable only under its own protocol: the Sonnet example's 0.056 and 326 are training-batch averages (per
#   batch perplexity), not test-set values.
# - At an equal budget, the paper's gradient-trained codebook and the EMA codebook differ by the amount measured in
#   section 5 (over seeds); with neither, many codes may stay unused: notebook 05.
# - Perplexity is `exp(entropy)` of the code usage. Measure it over a data set, not per batch: per-batch perplexity
#   is bounded by the number of positions in the batch and grows with the batch size.
# - A fixed-length code map costs `h * w * ceil(log2 K)` bits; an entropy code designed on the training usage costs
#   less. With file headers shared, classical codecs at the same mean PSNR come close; per-file comparisons are
#   dominated by headers.
# - The bottleneck also removes noise that the codes never learned to represent; section 11 says whether that beats
#   a simple filter.
#
# ## Exercises
# 1. *(checked above)* `bits_per_image` with a fixed-length code.
# 2. *(checked above)* `perplexity` over all positions.
# 3. Halve and double `num_codes` in `CFG` and rerun. How do NMSE, perplexity and bits per image move? Plot NMSE
#    against bits per image: that is a rate-distortion curve.
# 4. In section 5, give both arms the cures of notebook 05 (`kmeans_init=True, restart_dead_after=20`). Does the gap
#    between the gradient and the EMA codebook survive?
# 5. Train with the plain loss `mse + vq.loss` instead of Sonnet's `mse / data_variance + vq.loss`. Which term's
#    weight did you just change, and what happens to the codes used?
# 6. Increase `sigma` in section 11 until denoising stops helping. Why does it fail for very strong noise?
#
# ## Further reading
# - A. van den Oord, O. Vinyals, K. Kavukcuoglu (2017). *Neural Discrete Representation Learning*. arXiv:1711.00937
#   (section 4.1: architecture; appendix A.1: EMA codebook updates).
# - DeepMind Sonnet, `examples/vqvae_example.ipynb` (github.com/google-deepmind/sonnet): the training protocol and the
#   reference numbers of section 4.
# - A. Razavi, A. van den Oord, O. Vinyals (2019). *Generating Diverse High-Fidelity Images with VQ-VAE-2*.
#   arXiv:1906.00446.
# - A. Lancucki et al. (2020). *Robust Training of Vector Quantized Bottleneck Models*. arXiv:2005.08520.
# - Y. Bengio, N. Leonard, A. Courville (2013). *Estimating or Propagating Gradients Through Stochastic Neurons for
#   Conditional Computation*. arXiv:1308.3432.
