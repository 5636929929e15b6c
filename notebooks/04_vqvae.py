# %% [markdown]
# # 04 · VQ-VAE: a discrete bottleneck that reconstructs images
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-to-vqgan/course/blob/v0.3.0/notebooks/student/04_vqvae.ipynb)
#
# **Learning objectives.** After this notebook you can
# - write the VQ layer with its loss and train a VQ-VAE (van den Oord et al. 2017) with it;
# - write the EMA codebook update that most VQ-VAE code uses;
# - judge reconstructions with NMSE, the MSE divided by the data variance;
# - measure codebook usage without the batch-size pitfall of per-batch perplexity;
# - read an image as what the model stores: a map of code indices.
#
# **Prerequisites.** Notebooks 02 (codebooks, fast distances) and 03 (straight-through estimator, codebook and
# commitment losses).
#
# **Estimated time.** Core path about 48 min; 6 deep dives about 36 min more (estimated from this notebook by `make
# stats`). Machine: about 28 s under `quick` on 2 CPU cores; under 1 min of training under `standard` on a T4
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
# All sizes come from one table. `quick` trains a small model on Fashion-MNIST (28x28 images, a 7x7 code map) for a
# few hundred steps on a CPU. `standard` uses the settings of DeepMind's Sonnet VQ-VAE example on CIFAR-10. The
# `cmp_*` and `noise_sigma` settings size two deep dives.

# %%
from course_lib.profiles import settings

CFG = settings(
    quick=dict(dataset="fashion-mnist", n_train=4000, n_test=512, steps=300, batch_size=64, lr=2e-3,
               hidden=32, res_hidden=32, res_blocks=1, num_codes=128, code_dim=16, beta=0.25,
               decay=0.95,  # 300 steps: 0.99 would average over a third of the run; 0.95 over ~20 steps
               cmp_hidden=16, cmp_batch_size=32, cmp_steps=150, cmp_seeds=4, noise_sigma=0.2),
    standard=dict(dataset="cifar10", n_train=40_000, n_test=10_000, steps=10_000, batch_size=32, lr=3e-4,
                  hidden=128, res_hidden=32, res_blocks=2, num_codes=512, code_dim=64, beta=0.25, decay=0.99,
                  cmp_hidden=128, cmp_batch_size=32, cmp_steps=3000, cmp_seeds=3, noise_sigma=0.1),
    full=dict(steps=30_000, cmp_steps=10_000, cmp_seeds=4),
)
CFG

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from course_lib import metrics, pretrained
from course_lib.checks import solved_or_reference
from course_lib.claims import claim, verdict
from course_lib.data import load_dataset, make_loader
from course_lib.models import VQVAE, VQFromFunctions
from course_lib.train import fit
from course_lib.viz import show_images, show_pairs

device = ENV.device

# %% [markdown]
# ## 1. Data
# Images are float tensors in [0, 1]. NMSE divides the MSE by the training set's variance: 0 is perfect, and 1 is
# what predicting the mean pixel value everywhere gives.

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
# The **encoder** turns an image into a grid of vectors `z_e` (B, D, h, w) with strided convolutions and residual
# blocks, as in the Sonnet example. The **quantizer** replaces each vector by the nearest of `K` codes and stores
# only its index. The **decoder** draws the image back from the codes alone. The diagram shows the paper's loss;
# this notebook replaces its codebook term with the EMA update of section 4.

# %% tags=["fig-vqvae-diagram"]
from course_lib.diagrams import vqvae_diagram

vqvae_diagram();

# %% [markdown]
# ## 3. Exercise: the VQ layer
# Write the quantizer's forward pass, `vq_layer(z, codebook, beta)`, from the pieces of notebooks 02 and 03. For `z`
# of shape (B, D, H, W) and a codebook of shape (K, D):
# 1. flatten `z` to one row per position, (N, D) with `N = B * H * W`: move the channels last first
#    (`permute(0, 2, 3, 1)`), then reshape;
# 2. compute the squared distances to every code with one matrix multiply, `|z|^2 - 2 z.e + |e|^2`, an (N, K) tensor;
# 3. find the index of each row's nearest code, and look that code up;
# 4. compute the loss `mean((sg[z] - e)^2) + beta * mean((z - sg[e])^2)`, the codebook term plus `beta` times the
#    commitment term, where `sg` is `.detach()`;
# 5. build the straight-through output `z + sg[e - z]` and reshape it back to (B, D, H, W).
#
# Return `(z_q, indices, loss)`, with the indices shaped like the code map, (B, H, W).

# %%
def vq_layer(z, codebook, beta):
    """z (B, D, H, W), codebook (K, D) -> (z_q (B, D, H, W), indices (B, H, W) int64, scalar loss)."""
    ### BEGIN SOLUTION
    B, D, H, W = z.shape
    flat = z.permute(0, 2, 3, 1).reshape(-1, D)  # (N, D)
    dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ codebook.t() + codebook.pow(2).sum(1)  # (N, K)
    indices = dist.argmin(dim=1)  # (N,)
    codes = codebook[indices]  # (N, D)
    loss = F.mse_loss(codes, flat.detach()) + beta * F.mse_loss(flat, codes.detach())
    z_q = flat + (codes - flat).detach()  # straight-through: value of the codes, gradient to z
    return z_q.reshape(B, H, W, D).permute(0, 3, 1, 2), indices.reshape(B, H, W), loss
    ### END SOLUTION


# %%
from course_lib.checks.vqvae import check_vq_layer

check_vq_layer(vq_layer)
### BEGIN HIDDEN TESTS
check_vq_layer(vq_layer, seed=7, beta=0.6)
check_vq_layer(vq_layer, seed=21, beta=2.0)
### END HIDDEN TESTS

# %% [markdown]
# Given the same codebook, your layer and the course's `quantize.VectorQuantizer` agree. (While an exercise is
# unsolved, the reference replaces your function, and a line says so.)

# %%
from course_lib import quantize
from course_lib.checks.vqvae import reference_vq_layer

vq_layer = solved_or_reference(vq_layer, reference_vq_layer, "vq_layer")
vq, z = quantize.VectorQuantizer(num_codes=CFG.num_codes, code_dim=CFG.code_dim), torch.randn(2, CFG.code_dim, 7, 7)
z_q, indices, loss = vq_layer(z, vq.codebook, vq.beta)
assert torch.equal(indices, vq(z).indices), "your vq_layer differs from VectorQuantizer: run the check above"
print(f"z {tuple(z.shape)} -> z_q {tuple(z_q.shape)}, indices {tuple(indices.shape)}, loss {loss.item():.4f}")

# %% [markdown]
# ## 4. Exercise: the EMA codebook update
# The codebook term moves a code by a gradient step, and only when some vector chose it. The paper's appendix A.1
# gives another way, used by Sonnet and most VQ-VAE code: each code becomes an exponential moving average (EMA) of the
# encoder outputs assigned to it, with decay `gamma`. Code `k` keeps `N_k`, how many vectors chose it, and `m_k`,
# their sum. One step with encoder outputs `z` (N, D) and their indices does this:
#
# * `n_k` = the number of rows of `z` with index `k`, and `s_k` = the sum of those rows;
# * `N_k <- gamma * N_k + (1 - gamma) * n_k` and `m_k <- gamma * m_k + (1 - gamma) * s_k`;
# * Laplace smoothing, from Sonnet's code rather than the paper, so that a code with `N_k` near 0 does not divide by
#   almost 0: `N~_k = (N_k + eps) / (n + K * eps) * n` with `n = sum_k N_k`;
# * the new code is `e_k = m_k / N~_k`.
#
# Return the new `(N, m, codebook)`. Store `N` unsmoothed.

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
from course_lib.checks.vqvae import check_ema_update

check_ema_update(ema_update)
### BEGIN HIDDEN TESTS
check_ema_update(ema_update, seed=11, decay=0.7, eps=0.3)
### END HIDDEN TESTS

# %% [markdown]
# With an EMA codebook no gradient reaches the codes, so only `beta` times the commitment term trains the encoder.
# `quantize.EMAVectorQuantizer` updates after each lookup, as Sonnet does. **It learns from every forward pass in
# train mode**: call `model.eval()` before you look at anything. Its update equals yours:

# %%
ema_update = solved_or_reference(ema_update, quantize.ema_update, "ema_update")
ema_q, z = quantize.EMAVectorQuantizer(num_codes=16, code_dim=3, decay=0.9, eps=1e-3), torch.randn(50, 3)
old = (ema_q.cluster_size.clone(), ema_q.embed_sum.clone())  # the call below updates the buffers in place
mine = ema_update(*old, z, ema_q(z).indices, 0.9, 1e-3)
assert torch.allclose(ema_q.codebook, torch.as_tensor(mine[2]).float(), atol=1e-5), \
    "EMAVectorQuantizer's update differs from your ema_update: run the check above"

# %% [markdown]
# ## 5. Training with your layer
# `VQFromFunctions` builds a quantizer from your two functions: each training step calls your `vq_layer`, then your
# `ema_update`. The loss is the Sonnet example's, `mse(x_hat, x) / data_variance + vq.loss`. We also log the
# per-batch perplexity and the codes used over each **epoch**; section 7 says why.

# %%
torch.manual_seed(ENV.seed)
MODEL = dict(in_channels=C, hidden=CFG.hidden, res_hidden=CFG.res_hidden, res_blocks=CFG.res_blocks, downsamples=2)
QUANTIZER = dict(num_codes=CFG.num_codes, code_dim=CFG.code_dim, beta=CFG.beta, decay=CFG.decay)
model = VQVAE(VQFromFunctions(vq_layer, ema_update, **QUANTIZER), **MODEL).to(device)
h_lat, w_lat = model.latent_shape((H, W))
K = CFG.num_codes
print(f"{sum(p.numel() for p in model.parameters()):,} parameters; code map {h_lat}x{w_lat}; K = {K} codes of dim "
      f"{CFG.code_dim}")
with torch.no_grad():
    out = model.eval()(test.x[:2].to(device))
print("x", tuple(test.x[:2].shape), "-> z_e", tuple(out.z_e.shape), "-> indices", tuple(out.vq.indices.shape),
      "-> x_hat", tuple(out.x_hat.shape))

# %% tags=["fig-training"]
optimizer = torch.optim.Adam(model.parameters(), lr=CFG.lr)
epoch_tracker = metrics.CodeUsageTracker(K)
epoch_log = []  # (step, codes used in the epoch, perplexity over the epoch)
LOG_EVERY = 10


def loss_fn(batch, step):
    x, _ = batch
    out = model(x)
    nmse = F.mse_loss(out.x_hat, x) / data_variance
    epoch_tracker.update(out.vq.indices)
    if (step + 1) % len(loader) == 0:  # end of an epoch
        epoch_log.append((step + 1, epoch_tracker.used(), epoch_tracker.perplexity()))
        epoch_tracker.reset()
    return {"loss": nmse + out.vq.loss, "nmse": nmse.detach(), "batch_perplexity": out.vq.perplexity}


history = fit(loss_fn, optimizer, loader, steps=CFG.steps, model=model, log_every=LOG_EVERY, desc="VQ-VAE")
history.plot(["nmse"]);

# %% [markdown]
# **Claim: the loss went down.** The training NMSE of the last logged windows is below half that of the first ones.

# %%
first, last = np.mean(history["nmse"][:3]), np.mean(history["nmse"][-3:])
claim(last < 0.5 * first, f"the training NMSE at least halves: {first:.4f} -> {last:.4f}");

# %% [markdown]
# ## 6. Reconstructions and NMSE
# A trivial baseline needs no bits: predict the **mean training image** for every test image. A useful model must
# beat it by far. Expect the reconstructions to keep each garment's shape but lose fine texture.

# %% tags=["fig-reconstructions"]
@torch.no_grad()
def reconstruct(x, net=None, batch=256):
    """(x_hat, indices) of `net` (default: the model) in eval mode, batch by batch, on the CPU."""
    net = model if net is None else net
    net.eval()
    outs = [net(x[i:i + batch].to(device)) for i in range(0, len(x), batch)]
    return torch.cat([o.x_hat for o in outs]).cpu(), torch.cat([o.vq.indices for o in outs]).cpu()


x_test = test.x
x_hat, test_indices = reconstruct(x_test)
mean_image = train.x.mean(0, keepdim=True).expand_as(x_test)
nmse_model, nmse_mean = metrics.nmse(x_test, x_hat, data_variance), metrics.nmse(x_test, mean_image, data_variance)
psnr_model = metrics.psnr(x_test, x_hat.clamp(0, 1))
print(f"test NMSE: VQ-VAE {nmse_model:.4f}, mean-image baseline {nmse_mean:.4f}; test PSNR of the VQ-VAE "
      f"{psnr_model:.2f} dB")
show_pairs(x_test[:10], (mean_image[:10], x_hat[:10].clamp(0, 1)), n=10,
           titles=("original", f"mean image (NMSE {nmse_mean:.2f})", f"VQ-VAE (NMSE {nmse_model:.2f})"));
claim(nmse_model < 0.3 * nmse_mean, f"test NMSE {nmse_model:.3f} < 0.3 x mean-image baseline {nmse_mean:.3f}");

# %% [markdown]
# ## Deep dive: the same model, trained longer (shipped)
# *Adds what this model reaches with a longer run. The core path resumes at section 7.*
#
# The course ships this model (the same class and `quick` settings) trained by `data/train_course_checkpoints.py`
# for 2,500 steps on all 8,000 offline training images: eight times your steps on twice your images. Its card
# records the data, steps, wall time, machine and command. It is shown when your settings match its card, under
# `quick` and unless `COURSE_PRETRAINED=0`. The lines below describe it; they are not evidence about your run.

# %%
long_model = pretrained.build("04_vqvae", device) if pretrained.available("04_vqvae", config=MODEL | QUANTIZER) else None
if long_model is not None:
    long_hat, long_indices = reconstruct(x_test, long_model)
    long_nmse, long_used = metrics.nmse(x_test, long_hat, data_variance), metrics.codes_used(long_indices, K)
    head = pretrained.card("04_vqvae")["headline"]
    claim(abs(long_nmse - head["test_nmse"]) < 1e-3 and long_used == head["codes_used"],
          f"the shipped model reproduces its card: NMSE {long_nmse:.4f}, {long_used} codes used", kind="sanity")
    print(f"shipped: {pretrained.describe('04_vqvae')}")
    print(f"test NMSE {long_nmse:.3f} (yours {nmse_model:.3f}); codes used {long_used} of {K} "
          f"(yours {metrics.codes_used(test_indices, K)})")
    show_pairs(x_test[:10], (x_hat[:10].clamp(0, 1), long_hat[:10].clamp(0, 1)), n=10,
               titles=("original", f"your run ({CFG.steps} steps)", "shipped (2,500 steps)"));

# %% [markdown]
# ## 7. Code usage and perplexity
# How many of the `K` codes does the model use, and how evenly? **Perplexity** is `exp(entropy)` of the code-usage
# distribution: the number of equally used codes that would give the same entropy. It is `K` if all codes are used
# equally and 1 if a single code takes everything.
#
# **Exercise.** Write `perplexity(indices, num_codes)` over **all** positions of all images in `indices`, of shape
# (B, h, w). Count each code, turn the counts into probabilities, and count unused codes as `0 * log 0 = 0`.

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

# %% tags=["fig-code-usage"]
perplexity = solved_or_reference(perplexity, metrics.perplexity, "perplexity")
test_perplexity = perplexity(test_indices, K)
counts = metrics.code_histogram(test_indices, K)
order = torch.argsort(counts, descending=True)
fig, ax = plt.subplots(figsize=(9, 2.8))
ax.bar(np.arange(K), counts[order].numpy(), width=1.0)
ax.set_xlabel("code (sorted by use)"); ax.set_ylabel("times chosen (test set)")
ax.set_title(f"{metrics.codes_used(test_indices, K)} of {K} codes used, perplexity {test_perplexity:.1f}")
plt.show()

# %% [markdown]
# Many write-ups log the perplexity of **each training batch**. A batch of `B` images has only `B * h * w` positions,
# which bounds its perplexity, so it grows with `B` even for the same codebook. Expect it to climb towards the
# whole-set value below.

# %%
for b in (1, 8, 64):
    per_batch = [perplexity(test_indices[i:i + b], K) for i in range(0, len(test_indices) - b + 1, b)]
    print(f"batches of {b:3d} images: mean per-batch perplexity {np.mean(per_batch):6.1f}")
print(f"the whole test set ({len(test_indices)} images): {test_perplexity:.1f}")
one, many = (np.mean([perplexity(test_indices[i:i + b], K) for i in range(0, len(test_indices) - b + 1, b)])
             for b in (1, 64))
claim(one < 0.8 * many, f"per-batch perplexity grows with the batch size: {one:.1f} (B=1) < 0.8 x {many:.1f} (B=64)",
      kind="demonstration");

# %% [markdown]
# So watch two numbers in training: the per-batch perplexity (cheap, bounded by the batch) and the codes used over
# an epoch, which show what the codebook really offers.

# %% [markdown]
# ## 8. What the model stores: the code map
# `model.encode(x)` gives an `h x w` grid of integers, and `model.decode_indices` turns it back into the
# reconstruction of section 6. Each cell below shows its index.

# %% tags=["fig-code-map"]
from course_lib.explorers.code_map import draw_code_maps

model.eval()
with torch.no_grad():
    code_map = model.encode(x_test[:4].to(device)).cpu()
    from_indices = model.decode_indices(code_map.to(device)).cpu()
assert torch.allclose(from_indices, x_hat[:4], atol=1e-5), "decoding the indices must give the reconstruction"
draw_code_maps(x_test[:4], code_map);

# %% [markdown]
# **Explorer: edit the code map.** Pick an image, a position `(row, col)` and a code index. The figure decodes the
# original and edited maps and shows their difference. Its title says how much of the change stays within one cell
# of the edit: a code describes its own neighbourhood, not the whole image.

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
# ## Deep dive: the Sonnet example's numbers, by its own protocol
# *Adds the comparison with a published figure and the ways this model differs from Sonnet's. The core path resumes
# at the summary.*
#
# The Sonnet example notebook prints, after 10k steps at batch 32 on CIFAR-10, `recon_error: 0.056 perplexity:
# 326.349` (the last line of its output cell). Those two numbers are defined differently from the test-set numbers
# of section 6:
#
# | | Sonnet example (protocol A) | section 6 (protocol B) |
# |---|---|---|
# | data | **training** batches, model in train mode (the EMA codebook still moving) | the **test** set, eval mode |
# | NMSE | MSE / training-set variance, averaged over the **last 100 training steps** | the same ratio over the test set |
# | perplexity | of **each training batch** (32 x 8 x 8 = 2,048 positions), averaged over the last 100 steps | of the usage over the **whole test set** |
#
# Even under `standard`, this model is not Sonnet's in four ways. (a) Sonnet's first encoder convolution and first
# decoder transposed convolution have `num_hiddens // 2` channels; here they have `hidden`. (b) Sonnet's EMA starts
# its averages at zero and debiases them (`average = hidden / (1 - decay^t)`, `sonnet/src/moving_averages.py`), so
# after one step each used code is its batch mean and each unused code is 0; here `N_k = 1, m_k = e_k` at the start,
# without debiasing. (c) Sonnet draws the codebook from `VarianceScaling(distribution="uniform")` on a (64, 512)
# tensor, `U(-0.22, 0.22)`; here `U(-1/K, 1/K)`. (d) Sonnet scales images to [-0.5, 0.5], a shift that changes no
# MSE. So even protocol A under `standard` compares similar models, not the same one.

# %%
window = max(1, min(100, CFG.steps) // LOG_EVERY)  # logging windows that cover the last 100 steps
protocol = [
    dict(evaluation="A: Sonnet protocol (last 100 training batches)", nmse=history.mean("nmse", last=window),
         perplexity=history.mean("batch_perplexity", last=window), positions=CFG.batch_size * h_lat * w_lat),
    dict(evaluation="B: test set, eval mode", nmse=nmse_model, perplexity=test_perplexity,
         positions=len(test_indices) * h_lat * w_lat),
    dict(evaluation="Sonnet example's output (A, standard, 10k steps)", nmse=0.056, perplexity=326.349,
         positions=32 * 8 * 8),
]
from course_lib.compression import format_table

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
# ## Deep dive: the paper's codebook against the EMA codebook
# *Adds a fair comparison of the two ways to learn the codes, over seeds. The core path resumes at the summary.*
#
# The paper trains the codebook by gradient descent on the codebook term (`VectorQuantizer`); its appendix A.1 and
# the Sonnet example use the EMA update (`EMAVectorQuantizer`). Sonnet's `vq_use_ema` switch and zalando's PyTorch
# port offer both; each run trains one. Here both arms get an **equal budget**: the same model (`CFG.cmp_hidden`
# channels), data order, steps, learning rate and initial weights for each seed, `CFG.cmp_seeds` seeds per arm, no
# k-means start and no restarts. Seeds pair the arms, so the test is on the per-seed differences.

# %%
def train_arm(kind, seed):
    """Train one VQ-VAE of the comparison; returns its test metrics."""
    torch.manual_seed(seed)
    q = (quantize.EMAVectorQuantizer(K, CFG.code_dim, beta=CFG.beta, decay=CFG.decay) if kind == "EMA"
         else quantize.VectorQuantizer(K, CFG.code_dim, beta=CFG.beta))
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

# %% tags=["fig-grad-vs-ema"]
def per_seed(kind, key):
    return np.array([a[key] for a in arms if a["codebook"] == kind], dtype=float)


fig, axes = plt.subplots(1, 3, figsize=(11, 3))
for ax, key in zip(axes, ["test_nmse", "perplexity", "codes_used"]):
    for i, kind in enumerate(["gradient", "EMA"]):
        v = per_seed(kind, key)
        ax.scatter(np.full(len(v), i) + np.linspace(-0.08, 0.08, len(v)), v, c=f"C{i}", zorder=3)
        ax.errorbar(i + 0.25, v.mean(), yerr=v.std(ddof=1) if len(v) > 1 else 0, fmt="s", c=f"C{i}", capsize=4)
    ax.plot(np.zeros((2, 1)) + [[0], [1]], np.stack([per_seed("gradient", key), per_seed("EMA", key)]), c="0.8",
            lw=0.8, zorder=1)
    ax.set_xticks([0, 1]); ax.set_xticklabels(["gradient\n(paper)", "EMA\n(appendix A.1)"]); ax.set_xlim(-0.5, 1.6)
    ax.set_title(key.replace("_", " ") + (f" (of K = {K})" if key != "test_nmse" else " (lower is better)"))
fig.suptitle(f"{CFG.cmp_seeds} seeds per arm, {CFG.cmp_steps} steps each (dots: seeds, grey lines pair them; "
             "squares: mean +- sd)")
plt.tight_layout(); plt.show()

# %% [markdown]
# Expect the EMA arm to reconstruct better at this short budget: its codes jump to the mean of their vectors, while
# a gradient-trained code moves by at most about one learning rate per Adam step. The verdict comes from a paired
# t-test on the per-seed differences (`course_lib.evidence.paired_difference`).

# %%
from course_lib.evidence import paired_difference

pair = paired_difference(per_seed("gradient", "test_nmse"), per_seed("EMA", "test_nmse"), unit="seeds")
print("test NMSE, gradient minus EMA:", pair)
print(verdict(pair.significant() and pair.mean_diff > 0, "At this budget the EMA codebook reconstructs better.",
              verdict(pair.significant() and pair.mean_diff < 0,
                      "At this budget the gradient-trained codebook reconstructs better.",
                      "No clear difference at this budget: the interval of the difference includes 0.")))
claim(pair.low > 0, f"EMA reconstructs better than the gradient codebook: NMSE difference {pair.mean_diff:.3f} "
      f"[{pair.low:.3f}, {pair.high:.3f}] ({pair.dof} degrees of freedom)");

# %% [markdown]
# Why? The gradient codebook starts from tiny codes (`U(-1/K, 1/K)`); a code moves only when it is chosen, and with
# Adam by about one learning rate per step whatever the gradient's size. Codes never chosen never move, and the
# encoder learns to use the few that are. The EMA update moves each chosen code to a running mean of its vectors,
# most of the way within about `1 / (1 - decay)` steps. In both arms much of the codebook may stay unused: notebook 05
# reproduces this collapse on purpose and cures it.

# %% [markdown]
# ## Deep dive: per-batch perplexity over many batch sizes
# *Adds the batch-size effect measured over many sizes, and the one part of it that is a theorem. The core path
# resumes at the summary.*
#
# The test set is cut into equal batches of `B` images for several `B` (its first `n` images, `n` a multiple of the
# largest `B`, so that every size covers the same images). The figure shows the mean per-batch perplexity and its
# spread (10th to 90th percentile) against the whole-set value on the same `n` images.
#
# One thing here *is* a theorem: entropy is concave, so for equal-sized batches covering the set the **mean of the
# per-batch entropies** is at most the entropy of the whole set. Equivalently, the *geometric* mean of the per-batch
# perplexities is at most the whole-set perplexity. The *arithmetic* mean, which training logs show, has no such
# guarantee (exp is convex); whether it stays below is a measurement.

# %% tags=["fig-perplexity-batch"]
sizes = [b for b in [1, 2, 4, 8, 16, 32, 64, 128, 256] if b <= len(test_indices) // 2]
covered = test_indices[: len(test_indices) // sizes[-1] * sizes[-1]]  # equal batches for every size
whole = metrics.perplexity(covered, K)
batch_stats = []
for b in sizes:
    perps = np.array([metrics.perplexity(covered[i:i + b], K) for i in range(0, len(covered), b)])
    batch_stats.append(dict(batch_size=b, mean=perps.mean(), p10=np.percentile(perps, 10),
                            p90=np.percentile(perps, 90), geo_mean=float(np.exp(np.log(perps).mean()))))
    assert batch_stats[-1]["geo_mean"] <= whole + 1e-6, "the geometric mean cannot exceed the whole-set value"
col = lambda key: np.array([r[key] for r in batch_stats])
fig, ax = plt.subplots(figsize=(6.5, 3.4))
ax.fill_between(sizes, col("p10"), col("p90"), color="C0", alpha=0.25, label="10th-90th percentile over batches")
ax.plot(sizes, col("mean"), "o-", c="C0", label="mean per-batch perplexity")
ax.plot(sizes, col("geo_mean"), "x:", c="C1", label="geometric mean (at most the whole set's)")
ax.axhline(whole, c="C3", ls="--", label=f"whole set of {len(covered)} images ({whole:.1f})")
ax.axvline(CFG.batch_size, c="gray", lw=0.8)
ax.set_xscale("log", base=2); ax.set_xticks(sizes); ax.set_xticklabels([str(b) for b in sizes])
ax.set_ylim(0, 1.15 * whole); ax.set_xlabel("batch size B (images); grey line: the training batch size")
ax.set_ylabel("perplexity"); ax.legend(fontsize=8, loc="lower right")
ax.set_title(f"same codebook, only B changes (at most B x {h_lat * w_lat} positions)", fontsize=10)
plt.tight_layout(); plt.show()
print(verdict(all(r["mean"] <= whole + 1e-6 for r in batch_stats),
              "Measured: the arithmetic mean of per-batch perplexities stays below the whole-set value at every size.",
              "Measured: at some batch size the arithmetic mean of per-batch perplexities exceeds the whole-set value."))

# %% [markdown]
# During training the per-batch perplexity of section 5 stays far below what the codes used over each epoch show:

# %%
fig, ax = plt.subplots(1, 2, figsize=(11, 3))
ax[0].plot(history.steps_for("batch_perplexity"), history["batch_perplexity"])
ax[0].set_ylim(0, None); ax[0].set_xlabel("step"); ax[0].set_ylabel("perplexity of a batch")
ax[0].set_title(f"per-batch perplexity (batch {CFG.batch_size}; K = {K})", fontsize=10)
if epoch_log:
    s, used_e, perp_e = zip(*epoch_log)
    ax[1].plot(s, used_e, "o-", label="codes used in the epoch")
    ax[1].plot(s, perp_e, "s-", label="perplexity over the epoch")
    ax[1].legend()
ax[1].set_ylim(0, None); ax[1].set_xlabel("step"); ax[1].set_ylabel("codes used / perplexity")
ax[1].set_title(f"usage over each epoch (of K = {K})", fontsize=10)
plt.tight_layout(); plt.show()

# %% [markdown]
# ## Deep dive: bits per image against PNG and JPEG
# *Adds the cost of a code map in bits, against classical codecs at the same quality. The core path resumes at the
# summary.*
#
# Each of the `h * w` positions stores one index out of `K`. A **fixed-length** code stores every index in the same
# whole number of bits, `ceil(log2 K)`, so a code map costs `h * w * ceil(log2 K)` bits
# (`course_lib.metrics.bits_per_image`). An entropy code does better when usage is uneven: an index used with
# probability `p` costs `-log2 p` bits. Two versions of that estimate:
#
# * **designed on the training set**: code lengths from the usage over training images (add-one smoothing, so an
#   index unseen in training still gets a code), paid on the test images;
# * **the test set's own usage**, `h * w * log2(perplexity)`: optimistic, since the decoder would need the test usage
#   before seeing the test data.
#
# Both treat the indices as **independent**: neighbouring codes are strongly related, and a model of that (the prior
# of notebook 06) needs fewer bits. Both leave out the cost of sending the code table itself.

# %%
from course_lib.compression import compression_table, jpeg_bits_at_psnr, jpeg_bytes, mosaic, png_bits, png_bits_at_psnr, png_bytes

code_bits = metrics.bits_per_image(h_lat, w_lat, K)
_, train_indices = reconstruct(train.x[:2000])  # usage over 2,000 training images
p_train = (metrics.code_histogram(train_indices, K).double() + 1) / (train_indices.numel() + K)
train_designed_bits = float(-torch.log2(p_train[test_indices.reshape(len(test_indices), -1)]).sum(1).mean())
entropy_bits = h_lat * w_lat * math.log2(test_perplexity)
print(f"fixed-length code: {h_lat}x{w_lat} x ceil(log2 {K}) = {code_bits:.0f} bits per image "
      f"({code_bits / (H * W):.3f} bits per pixel)")
print(f"ideal entropy code designed on the training usage, paid on the test set: {train_designed_bits:.0f} bits")
print(f"ideal entropy code for the test set's own usage (optimistic):           {entropy_bits:.0f} bits")

# %% [markdown]
# Now compress the **same test images** with standard codecs (Pillow, `course_lib.compression`), each at the lowest
# setting whose **mean PSNR** reaches the VQ-VAE's mean PSNR:
#
# * PNG is lossless; for a lossy PNG the images are posterised to the fewest grey levels that reach the PSNR;
# * JPEG at the lowest quality (1..100) that reaches the PSNR.
#
# For tiny images the file headers alone cost more than the whole code map, so the first table (one file per image)
# is a demonstration. The second tiles the images into one mosaic so that the headers are paid once; that is the
# comparison to judge. JPEG works in 8x8 blocks and the 28-pixel tiles do not line up with them: a small handicap for
# JPEG. The VQ-VAE count leaves out its decoder network, as the PNG and JPEG counts leave out their decoders.

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
# At this low PSNR a good classical codec with shared headers comes close to the code map, or beats it. The big
# advantage of a VQ-VAE code map is not its bit count against a codec: it is a short grid of discrete tokens that a
# second model can learn to generate (notebook 06). PSNR is also not what the eye sees (JPEG blocks and VQ-VAE blur
# are different failures), the VQ-VAE only works on images like its training set, and the codecs need no training.

# %% [markdown]
# ## Deep dive: denoising, against classical filters
# *Adds a side use of the bottleneck, measured against the strongest classical denoisers. The core path resumes at the
# summary.*
#
# The decoder can only draw images built from codes, so perhaps it drops noise that the codes never learned to
# represent. Add Gaussian noise of standard deviation `CFG.noise_sigma` to test images, **not clipped** to [0, 1]
# (clipping would give the noise a non-zero mean near black and white; `course_lib.classical.add_gaussian_noise`),
# and pass them through the unchanged model. The classical baselines come from scikit-image through
# `course_lib.classical`: a Gaussian filter, total variation (Chambolle 2004) and non-local means
# (Buades et al. 2005). Each is tuned on 64 other noisy test images, by the same rule (the best mean PSNR), and
# scored on the first 256. The VQ-VAE has nothing to tune. Its own PSNR on the **clean** images is a ceiling for it:
# denoising cannot beat its own reconstruction error.

# %%
from course_lib.classical import add_gaussian_noise, classical_denoisers

x_clean, x_val = x_test[:256], x_test[256:320]
x_noisy = add_gaussian_noise(x_clean, CFG.noise_sigma, seed=1)
x_denoised = reconstruct(x_noisy)[0].clamp(0, 1)
rows, outputs = classical_denoisers(x_noisy, x_clean, add_gaussian_noise(x_val, CFG.noise_sigma, seed=2), x_val,
                                    methods=("gaussian", "tv", "nlm"), return_outputs=True)
denoise = {"noisy input": metrics.psnr(x_clean, x_noisy)}
denoise |= {f"{r.method} ({r.parameter} {r.value:g})": r.psnr for r in rows}
denoise |= {"VQ-VAE(noisy)": metrics.psnr(x_clean, x_denoised),
            "VQ-VAE(clean): its ceiling": metrics.psnr(x_clean, x_hat[:256].clamp(0, 1))}
print(format_table([dict(method=k, psnr_db=v) for k, v in denoise.items()]))
best = max(rows, key=lambda r: r.psnr)
best_key = next(k for k, r in zip(("gaussian", "tv", "nlm"), rows) if r is best)
show_pairs(x_clean[:8], (x_noisy[:8].clamp(0, 1), outputs[best_key][:8], x_denoised[:8],
                         (x_denoised[:8] - x_clean[:8]).abs()), n=8,
           titles=("clean", f"noisy (sigma {CFG.noise_sigma}, shown clipped): {denoise['noisy input']:.1f} dB",
                   f"{best.method}: {best.psnr:.1f} dB", f"VQ-VAE(noisy): {denoise['VQ-VAE(noisy)']:.1f} dB",
                   "|VQ-VAE(noisy) - clean|"));

# %% [markdown]
# **Claim: the VQ-VAE's output is closer to the clean image than its noisy input was.** How it ranks against the
# best classical denoiser is printed from the numbers, with a bootstrap interval over the 256 images of the
# difference in mean squared error.

# %%
from course_lib.evidence import bootstrap_interval

psnr_noisy, psnr_vq = denoise["noisy input"], denoise["VQ-VAE(noisy)"]
claim(psnr_vq > psnr_noisy + 1.0, f"VQ-VAE output {psnr_vq:.2f} dB > noisy input {psnr_noisy:.2f} dB + 1 dB");
mse_gap = bootstrap_interval(lambda a, b, c: float((a - c).pow(2).mean() - (b - c).pow(2).mean()),
                             x_denoised, outputs[best_key], x_clean, paired=True)
print(f"MSE, VQ-VAE minus {best.method}: {mse_gap}")
print(verdict(mse_gap.high < 0, f"The VQ-VAE beats the best classical denoiser, {best.method} ({best.psnr:.2f} dB), "
              f"at {psnr_vq:.2f} dB.",
              verdict(mse_gap.low > 0, f"The best classical denoiser, {best.method} ({best.psnr:.2f} dB), beats the "
                      f"VQ-VAE ({psnr_vq:.2f} dB): the model's own reconstruction error limits it.",
                      f"The VQ-VAE ({psnr_vq:.2f} dB) and {best.method} ({best.psnr:.2f} dB) are not told apart "
                      "by the interval.")))

# %% [markdown]
# ## Summary
# - A VQ-VAE stores an image as an `h x w` map of indices into a learned codebook; the decoder rebuilds the image
#   from the indices alone.
# - The VQ layer: channels last, distances as one matrix multiply, argmin, lookup, `codebook + beta * commitment`,
#   and the straight-through output.
# - The EMA update replaces the codebook term. It learns in every training-mode forward pass: evaluate in eval mode.
# - NMSE (MSE / data variance) puts reconstruction error on a scale where 1 is the mean-value baseline.
# - Measure perplexity over a data set: per-batch perplexity is bounded by the batch and grows with its size.
#
# ## Exercises
# 1-3. *(checked above)* The VQ layer, one EMA update, perplexity.
# 4. Halve and double `num_codes` in `CFG`. How do NMSE, perplexity and bits per image move? Plot NMSE against
#    bits per image: a rate-distortion curve.
# 5. Set `beta` in `CFG` to 1.0, then to 0.05. What happens to the codes used and to the NMSE, and why?
# 6. Train with `mse + vq.loss` instead of `mse / data_variance + vq.loss`. Which weight did you change, and what
#    happens to the codes used?
# 7. In the gradient-versus-EMA deep dive, give both arms the cures of notebook 05 (`kmeans_init=True,
#    restart_dead_after=20`). Does the gap survive?
# 8. Raise `noise_sigma` in `CFG` until denoising stops helping. Why does it fail for strong noise?

# %% [markdown]
# ## Further reading
# - A. van den Oord, O. Vinyals, K. Kavukcuoglu (2017). *Neural Discrete Representation Learning*. arXiv:1711.00937
#   (section 4.1: architecture; appendix A.1: EMA codebook updates).
# - DeepMind Sonnet, `examples/vqvae_example.ipynb` and `sonnet/src/nets/vqvae.py` (github.com/google-deepmind/sonnet):
#   the training protocol, the reference numbers, `VectorQuantizerEMA` with Laplace smoothing.
# - A. Razavi, A. van den Oord, O. Vinyals (2019). *Generating Diverse High-Fidelity Images with VQ-VAE-2*.
#   arXiv:1906.00446.
# - A. Lancucki et al. (2020). *Robust Training of Vector Quantized Bottleneck Models*. arXiv:2005.08520.
# - Y. Bengio, N. Leonard, A. Courville (2013). *Estimating or Propagating Gradients Through Stochastic Neurons for
#   Conditional Computation*. arXiv:1308.3432.
