# %% [markdown]
# # 09 · VQ-GAN: a sharper tokenizer with perceptual and adversarial losses
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-to-vqgan/course/blob/main/notebooks/09_vqgan.ipynb)
#
# **Learning objectives.** After this notebook you can
# - describe the VQ-GAN autoencoder of Esser et al. (2021): residual blocks with GroupNorm, self-attention only at the
#   lowest resolution, and an improved quantizer (l2-normalised, low-dimensional codes with EMA updates and restarts);
# - assemble its generator loss -- L1 + perceptual + codebook/commitment + an adaptive-weighted hinge adversarial term
#   switched on after a warm-up -- and its discriminator loss on real images and *detached* reconstructions;
# - train it with mixed precision on a GPU, with checkpoints that a re-run resumes;
# - compare VQ-VAE and VQ-GAN at the same number of bits per image with PSNR, SSIM, a perceptual distance and a
#   Frechet distance, and say what each number rewards.
#
# **Prerequisites.** Notebooks 04 (VQ-VAE), 05 (codebook collapse and its cures), 07 (perceptual loss) and
# 08 (adversarial training: PatchGAN, hinge loss, the adaptive weight).
#
# **Estimated time.** quick (2 CPU cores): about 1 minute to run (tiny models, a few dozen steps: the *mechanics*
# and the *direction* of the comparison, not pretty pictures) · standard (Colab T4): about 30 minutes (CIFAR-10,
# 10k steps) · full (A100/H100): about 1-2 hours (64x64 Oxford Flowers-102; for longer runs use the script of
# section 7).

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
# Every size below comes from the profile. `preset` names a VQ-GAN configuration of `course_lib.vqgan.PRESETS`
# (quick: 0.3 M parameters on 32x32 crops; standard: 6 M parameters on CIFAR-10; full: 65 M parameters on 64x64
# flowers). Both models train for `steps` steps; the VQ-GAN's first run stops at `first_run` steps and a second call
# resumes it from its checkpoint.

# %%
from course_lib.profiles import settings

CFG = settings(
    quick=dict(preset="quick", n_train=2000, n_eval=256, batch_size=32, steps=120, first_run=80, disc_start=60,
               lr=5e-4, checkpoint_every=40, vqvae_hidden=64),
    standard=dict(preset="standard", n_train=None, n_eval=2000, batch_size=128, steps=10_000, first_run=5_000,
                  disc_start=4_000, lr=2e-4, checkpoint_every=1_000, vqvae_hidden=256),
    full=dict(preset="full", n_train=None, n_eval=1020, batch_size=64, steps=50_000, first_run=25_000,
              disc_start=10_000, lr=1e-4, checkpoint_every=2_000, vqvae_hidden=256),
)
CFG

# %%
import math
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib import gan
from course_lib.checkpoint import load_checkpoint
from course_lib.data import make_loader
from course_lib.image_quality import frechet_feature_distance, ssim, try_inception_fid
from course_lib.metrics import CodeUsageTracker, psnr, sharpness
from course_lib.models import VQVAE
from course_lib.train import fit, resolve_amp
from course_lib.train_vqgan import load_images
from course_lib.viz import show_images, show_pairs
from course_lib.vqgan import (VQGAN, AttnBlock, VQGANLoss, bits_per_image, build_quantizer, latent_size,
                              make_loss_fn, vqgan_config)

device = ENV.device
VQ_CFG = vqgan_config(CFG.preset, loss={"disc_start": CFG.disc_start},
                      train={"n_train": CFG.n_train, "batch_size": CFG.batch_size, "lr": CFG.lr})
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # quick: "cifar10" falls back to the offline natural crops (said below)
    x_train = load_images(VQ_CFG, "train")
    x_eval = load_images(VQ_CFG, "test", n=CFG.n_eval)
print(f"dataset {VQ_CFG['train']['dataset']!r}: train {tuple(x_train.shape)}, eval {tuple(x_eval.shape)}")
show_images(x_eval[:16], nrow=16, title="evaluation images (held out)");

# %% [markdown]
# Under `quick` the images are 32x32 crops of scikit-image's public-domain photographs (`natural`, shipped in
# `data/offline`); `standard` uses CIFAR-10 (downloaded by torchvision); `full` uses Oxford Flowers-102
# (Nilsback & Zisserman 2008) resized and centre-cropped to 64x64 (downloaded by torchvision; train+test splits
# train, the val split evaluates).
#
# ## 1. The model
# VQ-GAN's first stage is an autoencoder with a discrete bottleneck, like a VQ-VAE, but built from the blocks of
# diffusion-model U-Nets:
#
# * **Residual blocks**: `x + conv(SiLU(GroupNorm(conv(SiLU(GroupNorm(x))))))`. GroupNorm normalises each image on
#   its own (over groups of channels), so the model does not depend on what else is in the batch.
# * **Downsampling** by stride-2 convolutions, **upsampling** by nearest-neighbour x2 followed by a convolution.
#   `ch_mult` sets the width per level: `len(ch_mult) - 1` halvings give the latent grid.
# * **Self-attention** (one head) at the lowest resolution only, and in the middle of encoder and decoder: every
#   position of the 8x8 grid can look at every other, which a 3x3 convolution cannot.
# * `quant_conv` (1x1) maps the encoder's features to the code dimension; the **quantizer** (notebook 05's cures
#   combined: low-dimensional l2-normalised codes, EMA codebook, dead-code restarts) replaces each vector by a code;
#   `post_quant_conv` maps back and the decoder draws the image.

# %%
torch.manual_seed(0)
model = VQGAN(VQ_CFG).to(device)
parts = {name: sum(p.numel() for p in getattr(model, name).parameters())
         for name in ("encoder", "quant_conv", "quantizer", "post_quant_conv", "decoder")}
print({k: f"{v / 1e6:.3f} M" for k, v in parts.items()}, f"total {model.num_parameters() / 1e6:.2f} M")
print(model.quantizer)
h, w = model.latent_shape
K = VQ_CFG["model"]["quantizer"]["num_codes"]
BITS = bits_per_image(VQ_CFG)
print(f"latent grid {h}x{w}, K = {K} codes -> {h * w} x log2({K}) = {BITS:.0f} bits per image "
      f"(the raw image has {x_eval[0].numel() * 8} bits)")

# %% [markdown]
# Where is attention, and why only there? An attention map over H*W positions has (H*W)^2 entries, so its cost grows
# with the fourth power of the side length. We list the resolutions the encoder passes through and the size of the
# attention map each would need:

# %%
res = VQ_CFG["model"]["resolution"]
levels = [res // 2**i for i in range(len(VQ_CFG["model"]["ch_mult"]))]
attn_at = sorted({blk_res for blk_res in levels if blk_res in VQ_CFG["model"]["attn_resolutions"]})
n_attn = sum(isinstance(m, AttnBlock) for m in model.modules())
for r in levels:
    print(f"{r:3d}x{r:<3d}: attention map {(r * r) ** 2:>9,d} entries per image per layer"
          + ("   <- attention here" if r in attn_at else ""))
print(f"{n_attn} attention blocks in the model (encoder + decoder, including the two middle ones)")

# %% [markdown]
# **Check: GroupNorm makes each reconstruction independent of the rest of the batch.** A model with BatchNorm in
# training mode would give an image a different output depending on its batch-mates (a real issue for a GAN, where a
# batch of fakes and a batch of reals have different statistics). We compare the encoder's output for one image alone
# and inside a batch, in training mode:

# %%
model.train()
with torch.no_grad():
    alone = model.encoder(x_eval[:1].to(device))
    in_batch = model.encoder(x_eval[:8].to(device))[:1]
    bn = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)).to(device).train()
    bn_gap = (bn(x_eval[:1].to(device) + 0) - bn(torch.cat([x_eval[:1], x_eval[8:15]]).to(device))[:1]).abs().max()
gn_gap = (alone - in_batch).abs().max().item()
print(f"GroupNorm encoder: max difference alone vs in a batch = {gn_gap:.2e}; a BatchNorm layer: {bn_gap:.2e}")
assert gn_gap < 1e-4 < bn_gap.item(), "GroupNorm output should not depend on the batch (BatchNorm's does)"

# %% [markdown]
# ## 2. The loss
# The autoencoder (encoder, quantizer, decoder: the "generator") minimises, for an image `x` and its reconstruction
# `x_hat`:
#
# $$\mathcal{L}_G = \underbrace{|x - \hat x|_1 + w_p\,\mathrm{LPIPS}(x, \hat x)}_{\mathcal{L}_\mathrm{rec}}
#   + \underbrace{|\mathrm{sg}[z_e] - e|^2 + \beta |z_e - \mathrm{sg}[e]|^2}_{\text{quantizer loss}}
#   + [t \ge t_\mathrm{start}]\; w_d\, \lambda\, \mathcal{L}_\mathrm{adv}, \qquad
#   \mathcal{L}_\mathrm{adv} = -\operatorname{mean} D(\hat x)$$
#
# * **L1** keeps colours and layout right; alone it gives blurry averages (notebook 07).
# * **Perceptual** (LPIPS, Zhang et al. 2018): distance between deep features; rewards textures and edges.
# * **Quantizer loss**: with an EMA codebook only the commitment term `beta |z_e - sg[e]|^2` remains (the codes are
#   moving averages, not trained by gradients).
# * **Adversarial** (hinge generator loss, Lim & Ye 2017): the PatchGAN discriminator `D` (Isola et al. 2017) scores
#   every patch; the decoder is pushed to make patches `D` accepts as real. It is switched on at step `t_start`
#   (**warm-up**: a discriminator that judges garbage reconstructions gives useless gradients), and scaled by the
#   **adaptive weight** `lambda = |grad_L L_rec| / (|grad_L L_adv| + delta)` at the decoder's last layer `L`
#   (Esser et al. 2021, eq. 7): the adversarial gradient is kept at the size of the reconstruction gradient.
#   `lambda` is a number (detached), not something to optimise.
#
# The discriminator minimises the hinge loss `0.5 (mean relu(1 - D(x)) + mean relu(1 + D(sg[x_hat])))` on real
# images and **detached** reconstructions. It sees images only -- never the codes.
#
# ### Exercise 1: the generator's loss
# Assemble it from its parts. Use `gan.hinge_g_loss` and `gan.adaptive_weight(rec, g_loss, last_layer)` (notebook 08).

# %%
def generator_loss(x, x_hat, q_loss, logits_fake, last_layer, step, disc_start, perceptual_fn,
                   perceptual_weight=1.0, disc_weight=0.5):
    """x, x_hat: (B, C, H, W); q_loss: scalar quantizer loss; logits_fake = D(x_hat): (B, 1, h, w);
    last_layer: the decoder's last conv weight; perceptual_fn(x_hat, x) -> (B,) distances.
    Returns the scalar total loss of the generator."""
    ### BEGIN SOLUTION
    rec = (x - x_hat).abs().mean() + perceptual_weight * perceptual_fn(x_hat, x).mean()
    total = rec + q_loss
    if step >= disc_start:
        g_loss = gan.hinge_g_loss(logits_fake)
        total = total + disc_weight * gan.adaptive_weight(rec, g_loss, last_layer) * g_loss
    return total
    ### END SOLUTION


# %%
from course_lib.checks.vqgan import check_discriminator_loss, check_generator_loss

check_generator_loss(generator_loss)

# %% [markdown]
# ### Exercise 2: the discriminator's loss
# One line -- but the one line that most often goes wrong: the reconstructions must be **detached**, or the
# discriminator's loss also trains the decoder (towards *worse* reconstructions).

# %%
def discriminator_loss(disc, x, x_hat):
    """disc: the discriminator (images -> patch logits); x: real images; x_hat: reconstructions (with a graph back
    to the decoder). Returns the scalar hinge loss of the discriminator."""
    ### BEGIN SOLUTION
    return gan.hinge_d_loss(disc(x), disc(x_hat.detach()))
    ### END SOLUTION


# %%
check_discriminator_loss(discriminator_loss)

# %% [markdown]
# `course_lib.vqgan.VQGANLoss` holds the perceptual network and the discriminator and computes both losses; the
# training below uses it. **Check:** on a real batch, after the warm-up, its generator and discriminator losses equal
# the two functions above (which the checks compared with the reference).

# %%
torch.manual_seed(0)
loss_mod = VQGANLoss(VQ_CFG).to(device)
print(f"perceptual backend: {loss_mod.backend}; discriminator: {sum(p.numel() for p in loss_mod.discriminator.parameters()) / 1e6:.3f} M parameters, "
      f"each logit sees a {loss_mod.discriminator.receptive_field()}x{loss_mod.discriminator.receptive_field()} patch")
xb = x_train[:8].to(device)
x_hat, q = model(xb)
step = CFG.disc_start
ours = loss_mod.generator_loss(xb, x_hat, q.loss, step, model.last_layer)["gen"]
perc = lambda a, b: loss_mod.perceptual(a.clamp(0, 1), b)
gen_fn, disc_fn = generator_loss, discriminator_loss
try:
    generator_loss(xb, x_hat, q.loss, loss_mod.discriminator(x_hat), model.last_layer, step, CFG.disc_start, perc)
    discriminator_loss(loss_mod.discriminator, xb, x_hat)
except NotImplementedError:  # exercises not solved yet: use the checks' references so the notebook runs on
    from course_lib.checks.vqgan import reference_discriminator_loss, reference_generator_loss
    print("exercises not solved yet: comparing with the references of course_lib.checks.vqgan instead")
    gen_fn, disc_fn = reference_generator_loss, reference_discriminator_loss
mine = gen_fn(xb, x_hat, q.loss, loss_mod.discriminator(x_hat), model.last_layer, step, CFG.disc_start, perc,
              loss_mod.perceptual_weight, loss_mod.disc_weight)
d_ours = loss_mod.discriminator_loss(xb, x_hat, step)["disc"]
d_mine = disc_fn(loss_mod.discriminator, xb, x_hat)
print(f"generator loss: VQGANLoss {ours.item():.5f} vs yours {mine.item():.5f}; "
      f"discriminator loss: {d_ours.item():.5f} vs {d_mine.item():.5f}")
assert torch.allclose(ours, mine, rtol=1e-4, atol=1e-5) and torch.allclose(d_ours, d_mine, rtol=1e-4, atol=1e-5)

# %% [markdown]
# ## 3. Training: mixed precision, checkpoints, resume
# `course_lib.train.fit` runs the loop with two optimisers: `{"gen": opt_g, "disc": opt_d}` minimises
# `losses["gen"]` with the autoencoder's optimiser, then `losses["disc"]` with the discriminator's (skipped while it is
# `None`, i.e. before the warm-up). `make_loss_fn` builds `loss_fn(batch, step)` from the model and `VQGANLoss`.
#
# * **Mixed precision** (`amp="auto"`): on a GPU the forward pass runs under `torch.autocast` in bfloat16 where the
#   GPU supports it (A100, H100, L4), else float16 with a gradient scaler (T4); on a CPU it stays in float32. The
#   perceptual distance is computed in float32 in any case (a half-precision square root of ~0 gives NaN: notebook 07).
# * **Checkpoints**: every `checkpoint_every` steps and at the end, `fit` writes weights, optimiser states, the
#   gradient scaler, the history, the random state and the position in the data to one file, atomically (a temporary
#   file renamed over the old one). Calling `fit` again with the same path **resumes** that run -- after a Colab
#   disconnect, re-run the training cells (with `FRESH = False`).
#
# We train to `first_run` steps, then call `fit` a second time with the same checkpoint to continue to `steps`.

# %%
CKPT = Path("runs") / f"09_vqgan_{ENV.profile}.pt"
FRESH = True  # False: continue an interrupted run from CKPT instead of starting over
if FRESH and CKPT.exists():
    CKPT.unlink()

torch.manual_seed(0)
model = VQGAN(VQ_CFG).to(device)
loss_mod = VQGANLoss(VQ_CFG).to(device)
betas = tuple(VQ_CFG["train"]["betas"])
opt_g = torch.optim.Adam(model.parameters(), lr=CFG.lr, betas=betas)
opt_d = torch.optim.Adam(loss_mod.discriminator.parameters(), lr=CFG.lr, betas=betas)
loader = make_loader(x_train, batch_size=CFG.batch_size, seed=0, device=device if device.type == "cuda" else None)
train_kw = dict(model={"vqgan": model, "disc": loss_mod.discriminator}, amp="auto", grad_clip=1.0,
                checkpoint=CKPT, checkpoint_every=CFG.checkpoint_every, log_every=max(1, CFG.steps // 40),
                config={"preset": CFG.preset, "disc_start": CFG.disc_start, "lr": CFG.lr}, desc="VQ-GAN")
print("autocast dtype:", resolve_amp("auto", device) or "none (float32 on this device)")
t0 = time.perf_counter()
history = fit(make_loss_fn(model, loss_mod), {"gen": opt_g, "disc": opt_d}, loader, steps=CFG.first_run, **train_kw)
t_first = time.perf_counter() - t0
print(f"first run: {CFG.first_run} steps in {t_first:.1f} s; checkpoint at step {load_checkpoint(CKPT)['step']}")

# %% [markdown]
# Now the same call with `steps=CFG.steps`: `fit` finds the checkpoint, loads everything, and continues at step
# `first_run` (it prints "Resuming ..."). Re-running this cell once the run is complete does nothing.

# %%
t0 = time.perf_counter()
history = fit(make_loss_fn(model, loss_mod), {"gen": opt_g, "disc": opt_d}, loader, steps=CFG.steps, **train_kw)
t_vqgan = t_first + time.perf_counter() - t0
steps_logged = history.steps_for("gen")
print(f"VQ-GAN: {CFG.steps} steps, {t_vqgan:.1f} s in all ({CFG.steps * CFG.batch_size / t_vqgan:.0f} images/s)")

# %% [markdown]
# **Check: the second call continued the same run.** The checkpoint now says `steps`, and the history -- restored
# from the checkpoint and extended -- covers both calls without a gap or a restart at 0.

# %%
ck = load_checkpoint(CKPT)
print(f"checkpoint step {ck['step']}; history logged at steps {steps_logged[0]} ... {steps_logged[-1]} "
      f"({len(steps_logged)} entries)")
assert ck["step"] == CFG.steps
assert steps_logged[-1] == CFG.steps and steps_logged == sorted(set(steps_logged)) and steps_logged[0] < CFG.first_run

# %%
history.plot(keys=["l1", "perceptual", "q", "g_adv", "adaptive_weight", "disc"], title="VQ-GAN training");

# %% [markdown]
# Reading the curves: L1 and the perceptual distance fall from the start; `g_adv`, `disc` and `adaptive_weight` only
# appear at `disc_start`. A discriminator loss that drops to 0 and stays there means `D` wins outright (its gradient
# to the decoder then carries little information); `adaptive_weight` hitting its clamp (1e4) means the adversarial
# gradient vanished at the last layer (notebook 08 shows both).
#
# ## 4. The baseline: a VQ-VAE at the same bit rate
# The VQ-VAE of notebook 04 (`course_lib.models.VQVAE`), trained with its usual objective (MSE + quantizer loss),
# gets **the same quantizer configuration**: the same number of codes `K` on the same latent grid, so both spend
# exactly the same bits per image.

# %%
torch.manual_seed(0)
vqvae = VQVAE(build_quantizer(VQ_CFG["model"]["quantizer"]), in_channels=3, hidden=CFG.vqvae_hidden,
              downsamples=len(VQ_CFG["model"]["ch_mult"]) - 1, res_blocks=VQ_CFG["model"]["num_res_blocks"]).to(device)
assert vqvae.latent_shape(res) == model.latent_shape and vqvae.quantizer.num_codes == model.quantizer.num_codes
print(f"VQ-VAE: {sum(p.numel() for p in vqvae.parameters()) / 1e6:.2f} M parameters, latent {vqvae.latent_shape(res)}, "
      f"K = {vqvae.quantizer.num_codes} -> {BITS:.0f} bits per image (same as the VQ-GAN)")


def vqvae_loss(batch, step):
    x = batch[0]
    out = vqvae(x)
    rec = F.mse_loss(out.x_hat, x)
    return {"loss": rec + out.vq.loss, "mse": rec}


t0 = time.perf_counter()
h_vqvae = fit(vqvae_loss, torch.optim.Adam(vqvae.parameters(), lr=CFG.lr), loader, steps=CFG.steps, model=vqvae,
              amp="auto", grad_clip=1.0, log_every=max(1, CFG.steps // 40), desc="VQ-VAE")
t_vqvae = time.perf_counter() - t0
print(f"VQ-VAE: {CFG.steps} steps in {t_vqvae:.1f} s")

# %% [markdown]
# ## 5. Side by side on held-out images
# Four measures, each rewarding something different:
#
# * **PSNR** (dB, higher is better): pixel-wise squared error. An MSE-trained model is optimised for exactly this,
#   and blur is cheap under it.
# * **SSIM** (higher is better; Wang et al. 2004): local means, contrasts and correlations.
# * **Perceptual distance** (lower is better): LPIPS-style distance in a feature network's space; the printed
#   backend says which network (offline: the course's own small feature net, not VGG).
# * **Frechet distance** (lower is better; Heusel et al. 2017): compares the *distribution* of features of all
#   reconstructions with that of the originals -- blur shifts the whole distribution. Offline it is computed in the
#   course feature net's space ("FD (course net)", NOT comparable with published FIDs); Inception FID is added when
#   `torchmetrics` and its weights are available (e.g. on Colab).
#
# Also the **sharpness** (mean image-gradient magnitude) relative to the originals, and the codebook usage.

# %%
@torch.no_grad()
def reconstruct(fn, x, bs=256):
    return torch.cat([fn(x[i:i + bs].to(device)).float().clamp(0, 1).cpu() for i in range(0, len(x), bs)])


model.eval(); vqvae.eval()
rec = {"VQ-VAE": reconstruct(lambda b: vqvae(b).x_hat, x_eval), "VQ-GAN": reconstruct(lambda b: model(b)[0], x_eval)}
perc_net = loss_mod.perceptual.to(device).eval()
results = {}
for name, r in rec.items():
    with torch.no_grad():
        pd = torch.cat([perc_net(r[i:i + 256].to(device), x_eval[i:i + 256].to(device)).cpu()
                        for i in range(0, len(r), 256)]).mean().item()
    tracker = CodeUsageTracker(K)
    net = vqvae if name == "VQ-VAE" else model
    with torch.no_grad():
        for i in range(0, len(x_eval), 256):
            tracker.update(net.encode(x_eval[i:i + 256].to(device)))
    results[name] = {
        "PSNR (dB)": psnr(x_eval, r),
        "SSIM": float(ssim(x_eval, r)),
        f"perceptual ({loss_mod.backend})": pd,
        "FD (course net)": frechet_feature_distance(x_eval, r),
        "sharpness / original": float(sharpness(r).mean() / sharpness(x_eval).mean()),
        "codes used": f"{tracker.used()}/{K}",
        "code perplexity": tracker.perplexity(),
        "bits/image": BITS,
    }
if ENV.profile != "quick":
    for name, r in rec.items():
        fid = try_inception_fid(x_eval, r, device=device)
        if fid is not None:
            results[name]["Inception FID"] = fid

keys = list(results["VQ-GAN"])
print(f"{'':24s}" + "".join(f"{n:>12s}" for n in results))
for k in keys:
    print(f"{k:24s}" + "".join(f"{v[k]:>12.4g}" if isinstance(v[k], float) else f"{str(v[k]):>12s}"
                              for v in results.values()))
show_pairs(x_eval[:10], (rec["VQ-VAE"][:10], rec["VQ-GAN"][:10]), n=10,
           titles=("original", f"VQ-VAE ({BITS:.0f} bits)", f"VQ-GAN ({BITS:.0f} bits)"));

# %% [markdown]
# **Check: at the same bit rate, the VQ-GAN's reconstructions are perceptually closer to the originals** -- a lower
# perceptual distance and a lower Frechet distance than the VQ-VAE's.
#
# Be careful what this proves under `quick`: offline, the perceptual *loss* the VQ-GAN was trained with and the two
# measures use the same small course network, so part of the gap is the VQ-GAN being graded by its own teacher. With
# `lpips` installed (`pip install lpips`, it downloads VGG-16 once) the perceptual loss uses VGG-LPIPS, and the FID
# uses an Inception network neither model was trained with -- that is the comparison the `standard` profile is for.
# The PSNR column usually goes the other way (the MSE-trained VQ-VAE is optimised for it): the perception-distortion
# trade-off (Blau & Michaeli 2018). We show it, and do not assert it.

# %%
pkey = f"perceptual ({loss_mod.backend})"
gan_r, vae_r = results["VQ-GAN"], results["VQ-VAE"]
print(f"perceptual distance: VQ-GAN {gan_r[pkey]:.3f} vs VQ-VAE {vae_r[pkey]:.3f}; "
      f"FD: VQ-GAN {gan_r['FD (course net)']:.3f} vs VQ-VAE {vae_r['FD (course net)']:.3f}")
assert gan_r[pkey] < vae_r[pkey], "the VQ-GAN should have the lower perceptual distance at the same bit rate"
assert gan_r["FD (course net)"] < vae_r["FD (course net)"], "the VQ-GAN should have the lower Frechet distance"

# %% [markdown]
# **What to expect under `standard`** (CIFAR-10, 10k steps at batch 128 on a T4, K = 512 codes on an 8x8 grid =
# 576 bits per image; expected values, not measured in this notebook's CI): the VQ-GAN's reconstructions are sharp
# where the VQ-VAE's are smooth; its LPIPS and FID are clearly lower (roughly half or less), its PSNR similar or
# somewhat lower (a well-trained VQ-VAE at this rate reaches about 24-25 dB: NMSE about 0.056, the reference point of notebook 04), and nearly all 512 codes in use thanks to the quantizer's
# cures. Under `quick`, with ~100 steps of a 0.3 M-parameter model, expect blurry reconstructions from both and only
# the direction of the perceptual measures.
#
# ## 6. Pitfalls, measured
# **The discriminator step must not train the decoder.** Below, a discriminator loss computed on *non-detached*
# reconstructions (with a freshly initialised discriminator, as at `disc_start`): its gradient reaches the decoder's
# last layer, pointing *against* the generator's own adversarial gradient (the discriminator wants `D(x_hat)` low,
# the generator wants it high). With one optimiser over both networks, that gradient would be applied.

# %%
model.train()
torch.manual_seed(0)
D0 = VQGANLoss(VQ_CFG, perceptual=perc_net).discriminator.to(device)
xb = x_train[:8].to(device)
x_hat, _ = model(xb)
d_leak = gan.hinge_d_loss(D0(xb), D0(x_hat))  # WRONG: not detached
g_leak = torch.autograd.grad(d_leak, model.last_layer, retain_graph=True)[0]
g_adv = torch.autograd.grad(gan.hinge_g_loss(D0(x_hat)), model.last_layer, retain_graph=True)[0]
d_ok = gan.hinge_d_loss(D0(xb), D0(x_hat.detach()))  # right: fakes detached
cos = F.cosine_similarity(g_leak.flatten(), g_adv.flatten(), dim=0).item()
g_ok = torch.autograd.grad(d_ok, model.last_layer, allow_unused=True)[0]
print(f"non-detached D loss: |grad at the decoder's last layer| = {g_leak.norm():.3e}, cosine with the generator's "
      f"adversarial gradient = {cos:.2f}; detached: gradient at the decoder = {g_ok}")
assert g_leak.norm() > 0 and cos < 0, "the leaked gradient should oppose the generator's adversarial gradient"
assert g_ok is None, "with x_hat.detach() the discriminator's loss has no path to the decoder"
model.eval();

# %% [markdown]
# ## 7. Training outside the notebook: one or many GPUs
# Long runs belong in a script. `python -m course_lib.train_vqgan` trains the same model with the same `fit` loop,
# from a preset or a JSON config, and runs under `torchrun` with DistributedDataParallel (one process per GPU; rank 0
# logs and writes the checkpoint, with a barrier around the write; each rank takes its slice of every global batch;
# the codebook is broadcast from rank 0 so replicas stay identical):
#
# ```bash
# python -m course_lib.train_vqgan --config standard --out runs/cifar               # one GPU, bf16/fp16 autocast
# torchrun --standalone --nproc_per_node 4 -m course_lib.train_vqgan --config full --out runs/flowers
# python -m course_lib.train_vqgan --config standard --out runs/cifar --resume --steps 40000   # continue a run
# python -m course_lib.train_vqgan --config quick --print-config > my.json          # a config to edit
# ```
#
# It writes `checkpoint.pt`, `config.json`, `history.json` and `summary.json` (images/s, final losses, a hash of
# every rank's weights). The presets:

# %%
for name in ("quick", "standard", "full"):
    c = vqgan_config(name)
    m, t = c["model"], c["train"]
    print(f"{name:9s} {t['dataset']:14s} {m['resolution']:3d}px ch={m['ch']:<4d} ch_mult={m['ch_mult']!s:13s} "
          f"K={m['quantizer']['num_codes']:<5d} grid {latent_size(c)}x{latent_size(c)} = {bits_per_image(c):4.0f} bits, "
          f"{t['steps']:>6,d} steps at batch {t['batch_size']}")

# %% [markdown]
# ## Summary
# * VQ-GAN keeps the VQ-VAE's idea -- a grid of discrete codes -- and changes how the autoencoder is built and
#   trained: residual blocks with GroupNorm, attention at the lowest resolution, a quantizer with the cures of
#   notebook 05, and a loss that asks for *perceptually* faithful reconstructions (L1 + perceptual + adversarial).
# * The adversarial term is gated by a warm-up and scaled by an adaptive weight; the discriminator sees real images
#   and *detached* reconstructions, never codes.
# * At the same number of bits per image the VQ-GAN wins on perceptual measures; the MSE-trained VQ-VAE tends to keep
#   the higher PSNR. Which one is "better" depends on the measure -- and for a stage-2 generator (notebook 10), sharp
#   decodings of the tokens are what matters.
# * `fit` handles mixed precision and resumable checkpoints; the `train_vqgan` script scales the same loop to many
#   GPUs with `torchrun`.
#
# ## Exercises
# 1. (Solved above, checked) `generator_loss` and `discriminator_loss`.
# 2. Set `disc_start=0` in `CFG` and re-run: what happens to the first reconstructions and to `adaptive_weight`?
# 3. Train the VQ-GAN with `perceptual_weight=0` and `disc_weight=0` (L1 only): how much of the gap to the VQ-VAE is
#    the architecture, and how much the loss? (`vqgan_config(CFG.preset, loss={"perceptual_weight": 0.0,
#    "disc_weight": 0.0})`.)
# 4. Halve the bits: `num_codes` 128 -> 16 (quick) keeps the grid but uses 4 bits per code. Which measure degrades
#    first?
# 5. Replace the quantizer by FSQ (`{"kind": "fsq", "levels": [8, 5, 5, 5]}`) and compare codebook usage.
#
# ## Further reading
# * P. Esser, R. Rombach, B. Ommer (2021). *Taming Transformers for High-Resolution Image Synthesis.* arXiv:2012.09841.
# * A. van den Oord, O. Vinyals, K. Kavukcuoglu (2017). *Neural Discrete Representation Learning.* arXiv:1711.00937.
# * J. Yu et al. (2021). *Vector-quantized Image Modeling with Improved VQGAN* (factorised, l2-normalised codes).
#   arXiv:2110.04627.
# * A. Lancucki et al. (2020). *Robust Training of Vector Quantized Bottleneck Models* (restarts, k-means init).
#   arXiv:2005.08520.
# * R. Zhang, P. Isola, A. Efros, E. Shechtman, O. Wang (2018). *The Unreasonable Effectiveness of Deep Features as a
#   Perceptual Metric* (LPIPS). arXiv:1801.03924.
# * P. Isola, J.-Y. Zhu, T. Zhou, A. Efros (2017). *Image-to-Image Translation with Conditional Adversarial Networks*
#   (PatchGAN). arXiv:1611.07004.
# * J. H. Lim, J. C. Ye (2017). *Geometric GAN* (hinge loss). arXiv:1705.02894.
# * M. Heusel et al. (2017). *GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium*
#   (FID). arXiv:1706.08500.
# * Y. Blau, T. Michaeli (2018). *The Perception-Distortion Tradeoff.* arXiv:1711.06077.
# * Y. Wu, K. He (2018). *Group Normalization.* arXiv:1803.08494.
