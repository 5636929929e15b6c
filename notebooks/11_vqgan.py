# %% [markdown]
# # 11 · VQ-GAN: a sharper tokenizer with perceptual and adversarial losses
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-to-vqgan/course/blob/v0.2.0/notebooks/student/11_vqgan.ipynb)
#
# **Learning objectives.** After this notebook you can
# - describe the VQ-GAN autoencoder of Esser et al. (2021): residual blocks with GroupNorm, self-attention only at the
#   lowest resolution, a PatchGAN discriminator -- and say which parts here are the *course's* choice instead: our
#   quantizer combines notebook 05's cures (l2-normalised low-dimensional codes from ViT-VQGAN, Yu et al. 2021; an EMA
#   codebook; dead-code restarts), whereas taming-transformers trains a plain codebook by gradients;
# - assemble its generator loss -- L1 + perceptual + codebook/commitment + an adaptive-weighted hinge adversarial term
#   switched on after a warm-up -- and its discriminator loss on real images and *detached* reconstructions;
# - train it with mixed precision on a GPU, with checkpoints that a re-run resumes;
# - run a **three-way loss ablation** (MSE; L1 + perceptual; L1 + perceptual + GAN) on one architecture at one bit
#   rate over several seeds, judged by a network that none of the arms trained against, and read the result as a
#   PSNR vs distribution-distance plane instead of naming one winner.
#
# **Prerequisites.** Notebooks 04 (VQ-VAE), 05 (codebook collapse and its cures), 07 (perceptual loss) and
# 08 (adversarial training: PatchGAN, hinge loss, the adaptive weight).
#
# **Estimated time.** Core path about 82 min (estimated from this notebook by `make stats`). Machine: about 2 min
# under `quick` on 2 CPU cores; about 61 min of training under `standard` on a T4 (estimated from FLOPs, not yet
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
# Every size below comes from the profile. `preset` names a VQ-GAN configuration of `course_lib.vqgan.PRESETS`
# (quick: 0.3 M parameters on 32x32 crops; standard: 6 M parameters on CIFAR-10; full: 65 M parameters on 64x64
# flowers). Every run trains for `steps` steps; the main VQ-GAN's first run stops at `first_run` steps and a second
# call resumes it from its checkpoint. The loss ablation of section 5 trains three arms with `seeds` seeds each.

# %%
from course_lib.profiles import settings

CFG = settings(
    # quick: batch 16 and 80 steps so that six runs (three arms x two seeds, the full arm's second half branched
    # from the L1 + perceptual arm at disc_start) fit a CPU's few minutes. n_eval fixes the held-out images on which
    # the shipped checkpoints' cards were measured (section 5b): keep it at 256.
    quick=dict(preset="quick", n_train=2000, n_eval=256, batch_size=16, steps=80, first_run=50, disc_start=40,
               lr=5e-4, checkpoint_every=20, seeds=2),
    standard=dict(preset="standard", n_train=None, n_eval=2000, batch_size=128, steps=10_000, first_run=5_000,
                  disc_start=4_000, lr=2e-4, checkpoint_every=1_000, seeds=3),
    full=dict(preset="full", n_train=None, n_eval=510, batch_size=64, steps=50_000, first_run=25_000,
              disc_start=10_000, lr=1e-4, checkpoint_every=2_000, seeds=3),
    # smoke: one seed and 2 steps per run (a standard-size step takes ~20 s on one CPU thread): step 1 without the
    # discriminator ends the first run, step 2 resumes it with the discriminator on
    smoke=dict(steps=2, first_run=1, disc_start=1, checkpoint_every=1, seeds=1),
    # the full-shape smoke pass runs the 65 M-parameter model on a CPU: batch 8 (one step at 64 takes minutes there)
    smoke_full=dict(batch_size=8),
)
CFG

# %%
import math
import statistics
import time
import warnings
from functools import partial

import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F

from course_lib import gan
from course_lib.checkpoint import load_checkpoint, save_checkpoint
from course_lib.checks import solved_or_reference
from course_lib.claims import claim, verdict
from course_lib.data import make_loader
from course_lib.env import run_path
from course_lib.image_quality import (frechet_distance, judge_net_info, kernel_distance, kernel_feature_distance,
                                      load_judge_net, ssim, try_inception_fid)
from course_lib.metrics import CodeUsageTracker, psnr, sharpness
from course_lib.train import fit, resolve_amp
from course_lib.train_vqgan import STAND_IN_NOTE, load_images
from course_lib.viz import show_images, show_pairs
from course_lib.vqgan import (VQGAN, AttnBlock, VQGANLoss, bits_per_image, latent_size, make_loss_fn, vqgan_config)

device = ENV.device
VQ_CFG = vqgan_config(CFG.preset, loss={"disc_start": CFG.disc_start},
                      train={"n_train": CFG.n_train, "batch_size": CFG.batch_size, "lr": CFG.lr})
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    x_train = load_images(VQ_CFG, "train", allow_stand_in=True)
    x_test = load_images(VQ_CFG, "test", n=2 * CFG.n_eval, allow_stand_in=True)
for w in caught:  # e.g. quick: "cifar10" falls back to the offline natural crops; offline full: the synthetic stand-in
    print("NOTE:", str(w.message)[:300])
# Two DISJOINT held-out sets: x_eval is reconstructed by every model; x_ref is a second set of real images that the
# distribution measures compare against (and x_eval vs x_ref is the real-vs-real noise floor).
n_half = len(x_test) // 2
x_eval, x_ref = x_test[:n_half], x_test[n_half:2 * n_half]
print(f"dataset {VQ_CFG['train']['dataset']!r}: train {tuple(x_train.shape)}, eval {tuple(x_eval.shape)}, "
      f"reference {tuple(x_ref.shape)}")
show_images(x_eval[:16], nrow=16, title="evaluation images (held out)");

# %% [markdown]
# Under `quick` the images are 32x32 crops of scikit-image's public-domain photographs (`natural`, shipped inside
# `course_lib`); `standard` uses CIFAR-10 (downloaded by torchvision); `full` uses Oxford Flowers-102
# (Nilsback & Zisserman 2008) resized and centre-cropped to 64x64 (downloaded by torchvision; train+test splits
# train, the val split evaluates). Offline (and in the course's smoke tests) `full` has no copy of Flowers-102: it
# then runs on a synthetic stand-in with the same 64x64 shapes -- the natural crops upsampled x2 -- and the note
# above names it. Numbers from the stand-in say nothing about flowers.
#
# The whole of VQ-GAN's first stage in one picture; sections 1 and 2 build its parts:

# %%
from course_lib.diagrams import vqgan_diagram

vqgan_diagram();

# %% [markdown]
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
# * `quant_conv` (1x1) maps the encoder's features to the code dimension; the **quantizer** replaces each vector by a
#   code; `post_quant_conv` maps back and the decoder draws the image.
#
# **Our quantizer is the course's choice, not the paper's.** Esser et al.'s code (taming-transformers,
# `taming/modules/vqvae/quantize.py`) trains a plain `nn.Embedding` codebook by gradients with the codebook +
# beta-commitment loss of the VQ-VAE. We combine notebook 05's cures instead: l2-normalised codes looked up in a low
# dimension (the factorised codes of ViT-VQGAN, Yu et al. 2021, arXiv:2110.04627, sec. 3.2), an EMA codebook
# (van den Oord et al. 2017, appendix A.1; Razavi et al. 2019) and dead-code restarts (notebook 05), because on a small
# budget they keep the codebook in use.

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
# * **Adversarial** (hinge generator loss, Lim & Ye 2017): the PatchGAN discriminator `D` (Isola et al. 2017) gives
#   one logit per patch; the decoder is pushed to make patches `D` accepts as real. A patch is only a patch if it is
#   smaller than the image: taming's 3-layer discriminator sees 70x70 pixels per logit, and even 2 layers see 34x34 --
#   on a 32x32 image every logit would see the whole image. The 32-px presets therefore use **one** stride-2 layer
#   (16x16 patches) and the 64-px preset two (34x34); the cell after the exercises prints it. It is switched on at step `t_start`
#   (**warm-up**: a discriminator that judges garbage reconstructions gives useless gradients), and scaled by the
#   **adaptive weight** `lambda = |grad_L L_rec| / (|grad_L L_adv| + delta)` at the decoder's last layer `L`
#   (Esser et al. 2021, eq. 7): the adversarial gradient is kept at the size of the reconstruction gradient.
#   `lambda` is a number (detached), not something to optimise.
#
# The discriminator minimises the hinge loss `0.5 (mean relu(1 - D(x)) + mean relu(1 + D(sg[x_hat])))` on real
# images and **detached** reconstructions. It sees images only -- never the codes.
#
# ### Exercise 1: the generator's loss
# Assemble it from its parts. Use `gan.hinge_g_loss` and `gan.adaptive_weight(rec, g_loss, last_layer)` (notebook 09).

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
### BEGIN HIDDEN TESTS
check_generator_loss(generator_loss, seeds=(7,), disc_start=3, perceptual_weight=0.3, disc_weight=0.8, size=12)
### END HIDDEN TESTS

# %%
from course_lib.checks.vqgan import reference_discriminator_loss, reference_generator_loss

# later cells call your function; while the exercise is unsolved they fall back to the reference (with a note)
generator_loss = solved_or_reference(generator_loss, reference_generator_loss, "generator_loss")

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
### BEGIN HIDDEN TESTS
check_discriminator_loss(discriminator_loss, seeds=(7,), batch=5, size=12)
### END HIDDEN TESTS

# %%
discriminator_loss = solved_or_reference(discriminator_loss, reference_discriminator_loss, "discriminator_loss")

# %% [markdown]
# `course_lib.vqgan.VQGANLoss` holds the perceptual network and the discriminator and computes both losses; the
# training below uses it. **Check:** on a real batch, after the warm-up, its generator and discriminator losses equal
# the two functions above (which the checks compared with the reference).

# %%
torch.manual_seed(0)
loss_mod = VQGANLoss(VQ_CFG).to(device)
rf = loss_mod.discriminator.receptive_field()
print(f"perceptual backend: {loss_mod.backend}; discriminator: {sum(p.numel() for p in loss_mod.discriminator.parameters()) / 1e6:.3f} M "
      f"parameters, {VQ_CFG['loss']['disc_layers']} stride-2 layer(s): each logit sees a {rf}x{rf} patch of a {res}x{res} image, "
      f"{loss_mod.discriminator.output_size(res)}x{loss_mod.discriminator.output_size(res)} logits per image")
assert rf < res, "a PatchGAN logit should see a patch, not the whole image"
xb = x_train[:8].to(device)
x_hat, q = model(xb)
step = CFG.disc_start
ours = loss_mod.generator_loss(xb, x_hat, q.loss, step, model.last_layer)["gen"]
perc = lambda a, b: loss_mod.perceptual(a, b)  # no clamp: VQGANLoss does not clamp either (see section 3)
mine = generator_loss(xb, x_hat, q.loss, loss_mod.discriminator(x_hat), model.last_layer, step, CFG.disc_start, perc,
                      loss_mod.perceptual_weight, loss_mod.disc_weight)
d_ours = loss_mod.discriminator_loss(xb, x_hat, step)["disc"]
d_mine = discriminator_loss(loss_mod.discriminator, xb, x_hat)
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
#   perceptual distance is computed in float32 in any case (notebook 07: the hazard of its normalisation is the
#   infinite gradient of a square root at 0, and in raw float16 tensors 0 + 1e-10 is 0). The reconstruction is
#   *not* clamped to [0, 1] before the perceptual loss (taming does not clamp either): a clamp would cut the
#   perceptual gradient of exactly the pixels that overshoot.
# * **Checkpoints**: every `checkpoint_every` steps and at the end, `fit` writes weights, optimiser states, the
#   gradient scaler, the history, the random state and the position in the data to one file, atomically (a temporary
#   file renamed over the old one). Calling `fit` again with the same path **resumes** that run: after a Colab
#   disconnect, just re-run the training cells. The path comes from `run_path("11", ...)`:
#   `runs/<profile>/11/` (set `COURSE_RUNS` to keep it on a mounted Drive, notebook 00). Set `FRESH = True` to
#   delete this notebook's checkpoints and train from scratch.
#
# We train to `first_run` steps, then call `fit` a second time with the same checkpoint to continue to `steps`.

# %%
CKPT = run_path("11", "vqgan.pt")  # runs/<profile>/11/vqgan.pt
FRESH = False  # True: delete this notebook's checkpoints (the main run and the ablation's) and start over
if FRESH:
    for old in CKPT.parent.glob("*.pt"):
        old.unlink()

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
# Every SNAP_EVERY steps, fit calls the recorder (eval mode, no gradients: it changes nothing in the run), which keeps
# the reconstructions of 8 held-out images; the explorer of section 5 scrubs through them.
from course_lib.explorers.disc_start import SnapshotRecorder

x_show = x_eval[:8]
SNAP_EVERY = max(1, CFG.steps // 20)
snap_file = run_path("11", "snapshots.pt")  # kept beside the checkpoints, so that a resumed run keeps its history
recorders = {"L1 + perceptual + GAN": SnapshotRecorder(model, x_show)}
if snap_file.exists() and CKPT.exists():
    recorders["L1 + perceptual + GAN"].snapshots = torch.load(snap_file)["L1 + perceptual + GAN"]
else:
    recorders["L1 + perceptual + GAN"].record(0)
train_kw.update(sample_fn=recorders["L1 + perceptual + GAN"], sample_every=SNAP_EVERY)
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
torch.save({k: r.snapshots for k, r in recorders.items()}, snap_file)
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
assert steps_logged[-1] == CFG.steps and steps_logged == sorted(set(steps_logged)) and steps_logged[0] <= CFG.first_run

# %%
history.plot(keys=["l1", "perceptual", "q", "g_adv", "adaptive_weight", "disc"], title="VQ-GAN training");

# %% [markdown]
# Reading the curves: L1 and the perceptual distance fall from the start; `g_adv`, `disc` and `adaptive_weight` only
# appear at `disc_start`. A discriminator loss that drops to 0 and stays there means `D` wins outright (its gradient
# to the decoder then carries little information); `adaptive_weight` hitting its clamp (1e4) means the adversarial
# gradient vanished at the last layer (notebook 09 shows both).


# %% [markdown]
# ## 4. The experiment: which part of the loss makes the difference?
# The claim to test is the paper's: at the same bit rate, the perceptual and adversarial terms give reconstructions
# that are perceptually closer to real images than a pixel loss does. To test *the loss* and nothing else, every arm
# below uses **the same VQ-GAN architecture and quantizer** (the same `K` codes on the same grid: the same bits per
# image), the same initial weights and data order for a given seed, the same optimiser, batch size and number of
# steps. Only the objective changes:
#
# | arm | generator objective |
# |---|---|
# | MSE | squared error + quantizer loss (the VQ-VAE's objective) |
# | L1 + perceptual | L1 + perceptual (course feature net) + quantizer loss |
# | L1 + perceptual + GAN | the full VQ-GAN loss of section 2 (adversarial term from `disc_start` on) |
#
# Each arm trains with `CFG.seeds` seeds. Seed 0 of the full arm is the model trained in section 3 (built and trained
# exactly as below). For the other seeds we save work: until `disc_start` the full arm **is** the L1 + perceptual arm
# (same weights, same batches, the adversarial term still off), so it starts from that arm's checkpoint at
# `disc_start` (`fit` resumes a run bit for bit: weights, optimisers, random state, position in the data) and trains
# only the remaining steps. The explorer of section 5 checks this on seed 0, where both arms were trained from
# scratch. Every run writes a checkpoint under `runs/<profile>/11/`, so a re-run of the notebook reuses it.

# %%
ARMS = ("MSE", "L1 + perceptual", "L1 + perceptual + GAN")
ARM_LOSS = {  # VQGANLoss settings per arm (the MSE arm's pixel term is written out in arm_loss_fn)
    "MSE": {"l1_weight": 0.0, "perceptual_weight": 0.0, "disc_weight": 0.0},
    "L1 + perceptual": {"disc_weight": 0.0},
    "L1 + perceptual + GAN": {},
}
SEEDS = list(range(CFG.seeds))


def arm_loss_fn(arm, net, lm):
    """loss_fn(batch, step) for fit: the VQ-GAN loss of the arm, or MSE + quantizer loss for the MSE arm."""
    if arm != "MSE":
        return make_loss_fn(net, lm)

    def loss_fn(batch, step):
        x = batch[0]
        x_hat, q = net(x)
        mse = F.mse_loss(x_hat.float(), x.float())
        return {"gen": mse + lm.codebook_weight * q.loss, "mse": mse.detach(), "q": q.loss.detach()}

    return loss_fn


def train_arm(arm, seed, branch_to=None):
    """Train one arm at one seed. ``branch_to``: also save, at ``disc_start``, a copy of this run's checkpoint as the
    starting point of that arm (used for L1 + perceptual -> the full arm: until ``disc_start`` the two are the same
    run, so the full arm's first ``disc_start`` steps need not be trained twice)."""
    cfg = vqgan_config(CFG.preset, loss={"disc_start": CFG.disc_start, **ARM_LOSS[arm]}, train=VQ_CFG["train"])
    torch.manual_seed(seed)
    net = VQGAN(cfg).to(device)  # same construction as section 3: same initial weights for every arm at this seed
    lm = VQGANLoss(cfg).to(device)
    betas = tuple(cfg["train"]["betas"])
    opts = {"gen": torch.optim.Adam(net.parameters(), lr=CFG.lr, betas=betas),
            "disc": torch.optim.Adam(lm.discriminator.parameters(), lr=CFG.lr, betas=betas)}
    ld = make_loader(x_train, batch_size=CFG.batch_size, seed=seed, device=device if device.type == "cuda" else None)
    ckpt = arm_checkpoint(arm, seed)
    snap = {}
    if seed == 0:  # seed 0 of every arm records snapshots, as the main run does (for the explorer of section 5)
        recorders[arm] = SnapshotRecorder(net, x_show)
        if ckpt.exists() and snap_file.exists():
            recorders[arm].snapshots = torch.load(snap_file).get(arm, {})
        else:
            recorders[arm].record(0)
        snap = dict(sample_fn=recorders[arm], sample_every=SNAP_EVERY)
    run = dict(model={"vqgan": net, "disc": lm.discriminator}, amp="auto", grad_clip=1.0, checkpoint=ckpt, **snap,
               log_every=max(1, CFG.steps // 10), config={"arm": arm, "seed": seed, "preset": CFG.preset, "lr": CFG.lr},
               desc=f"{arm}, seed {seed}", progress=False)
    branch = arm_checkpoint(branch_to, seed) if branch_to else None
    if branch is not None and not branch.exists() and 0 < CFG.disc_start < CFG.steps:
        fit(arm_loss_fn(arm, net, lm), opts, ld, steps=CFG.disc_start, **run)  # to disc_start, then branch off
        state = load_checkpoint(ckpt)
        state["config"] = {**state["config"], "arm": branch_to}
        save_checkpoint(branch, state)
    fit(arm_loss_fn(arm, net, lm), opts, ld, steps=CFG.steps, **run)  # resumes where the first call stopped
    return net.eval()


def arm_checkpoint(arm, seed):
    return run_path("11", f"ablation_{arm.lower().replace(' + ', '_').replace(' ', '_')}_seed{seed}.pt")


PERC_ARM, GAN_ARM = ARMS[1], ARMS[2]
bits = {bits_per_image(vqgan_config(CFG.preset, loss=ARM_LOSS[a])) for a in ARMS}
assert bits == {BITS}, "every arm must spend the same bits per image"
trained = {}
t0 = time.perf_counter()
for seed in SEEDS:
    for arm in ARMS:
        if arm == GAN_ARM and seed == 0:
            trained[arm, seed] = model.eval()  # the run of section 3 (same construction, same data order)
        else:  # seeds > 0: the full arm resumes from the L1 + perceptual arm's checkpoint at disc_start
            trained[arm, seed] = train_arm(arm, seed, branch_to=GAN_ARM if arm == PERC_ARM and seed > 0 else None)
t_ablation = time.perf_counter() - t0
torch.save({k: r.snapshots for k, r in recorders.items()}, snap_file)
print(f"{len(ARMS)} arms x {len(SEEDS)} seeds at {BITS:.0f} bits per image, {CFG.steps} steps each: "
      f"{t_ablation:.1f} s (the full arm's seed 0 reused from section 3)")

# %% [markdown]
# ## 5. Judging the arms with a network none of them trained against
# Two arms trained against the course feature net (their perceptual term), so a distance in *its* space would grade
# them by their own teacher. That network was also trained on randomly tinted images (`data/make_feature_net.py`), so
# it is nearly blind to a colour cast. The judge here is a **second network** with another objective and another
# view of the data: a self-supervised contrastive network (SimCLR, Chen et al. 2020, arXiv:2002.05709) trained by
# `data/make_judge_net.py` on the natural colour crops **without** colour jitter or blur, so its features change with
# colour and sharpness. Its card:

# %%
card = judge_net_info()
for key in ("training_data", "objective", "augmentation", "steps", "train_seconds", "knn5_source_photo_accuracy_test",
            "kid_x1e3_test_crops_judge", "kid_x1e3_test_crops_course_net"):
    print(f"{key:34s} {card.get(key)}")
judge = load_judge_net(device)

# %% [markdown]
# **Check: the judge sees a colour cast that the course network barely sees.** We give half of the real evaluation
# images a salmon tint (R x1.0, G x0.8, B x0.7) and compare the kernel distance (KID, Binkowski et al. 2018,
# arXiv:1801.01401: unbiased, usable with a few hundred images; shown x 1000 with a 95% confidence interval) to the
# real reference set, for both networks, against each network's real-vs-real noise floor (two disjoint sets of real
# images: the smallest distance any reconstruction can hope for).

# %%
from course_lib.image_quality import load_feature_net

course_net = load_feature_net(device)
tint = torch.tensor([1.0, 0.8, 0.7]).view(1, 3, 1, 1)
sens = {}
for name, net in (("judge", judge), ("course net", course_net)):
    floor = kernel_feature_distance(x_eval, x_ref, net=net)
    tinted = kernel_feature_distance((x_eval * tint).clamp(0, 1), x_ref, net=net)
    sens[name] = (floor, tinted)
    print(f"{name:10s}: KID x1e3 real vs real {floor.mean * 1e3:7.3f} (CI {floor.low * 1e3:.3f} to {floor.high * 1e3:.3f}); "
          f"tinted vs real {tinted.mean * 1e3:7.3f}" + (f" -> {tinted.mean / floor.high:.1f} x the floor's upper bound"
                                                       if floor.high > 0 else ""))
claim(sens["judge"][1].low > sens["judge"][0].high,
      f"the judge separates a colour cast from real images: KID x1e3 {sens['judge'][1].mean * 1e3:.3f} "
      f"(CI low {sens['judge'][1].low * 1e3:.3f}) vs noise floor up to {sens['judge'][0].high * 1e3:.3f}")

# %% [markdown]
# Now every arm and seed is measured on the held-out `x_eval`:
#
# * **PSNR** (dB, higher is better) and **SSIM** (Wang et al. 2004): pixel fidelity; an MSE-trained model is optimised
#   for PSNR, and blur is cheap under it.
# * **colour error** (lower is better): the mean absolute difference of each image's mean R, G and B, in 1/255 --
#   a colour cast shows here even when the features of a tint-trained network do not move.
# * **KID (judge)** and **FD (judge)** (lower is better): how far the *distribution* of reconstructions is from a
#   second, disjoint set of real images `x_ref`, in the judge's features. Compare them with the noise floor.
# * **perceptual (course net)**: the distance the two perceptual arms were trained to lower, shown for contrast
#   ("trained against": not evidence for those arms).
# * **sharpness / original** and **codes used**.
#
# With the `metrics` extra (`pip install course-lib[metrics]`, as the Colab set-up cell does) and a network to fetch
# the ImageNet weights, real **LPIPS** (VGG) and **Inception FID** are added; the cell prints which backends ran.

# %%
@torch.no_grad()
def reconstruct(net, x, bs=256, tracker=None):
    """Reconstructions of x in batches (eval mode); ``tracker`` also counts the codes of the same forward passes."""
    net.eval()
    out = []
    for i in range(0, len(x), bs):
        x_hat, q = net(x[i:i + bs].to(device))
        out.append(x_hat.float().clamp(0, 1).cpu())
        if tracker is not None:
            tracker.update(q.indices)
    return torch.cat(out)


@torch.no_grad()
def judge_features(x, bs=256):
    return torch.cat([judge.embed(x[i:i + bs].to(device).float()).cpu() for i in range(0, len(x), bs)])


def colour_error(x, r):
    """Mean |difference of per-image channel means| in 1/255 (a colour cast moves it; blur barely does)."""
    return float((x.mean(dim=(2, 3)) - r.mean(dim=(2, 3))).abs().mean() * 255)


try:  # real LPIPS where lpips and its VGG weights are available (the `metrics` extra, online)
    from course_lib.perceptual import PerceptualLoss
    lpips_net = PerceptualLoss(backend="lpips-vgg").to(device).eval()
except Exception as err:
    lpips_net = None
    print(f"LPIPS (VGG) not available here ({type(err).__name__}); reporting the judge and the course net only.")
trained_against = loss_mod.backend
print(f"perceptual term of the two perceptual arms: {trained_against}; LPIPS column: "
      f"{'LPIPS-VGG' if lpips_net is not None else 'none'}"
      + (" (the arms trained against it too)" if lpips_net is not None and trained_against != "course" else ""))


@torch.no_grad()
def paired_distance(net, x, r, bs=256):
    return float(torch.cat([net(r[i:i + bs].to(device), x[i:i + bs].to(device)).flatten().cpu()
                            for i in range(0, len(x), bs)]).mean())


ref_features = judge_features(x_ref)  # the real reference set's judge features: computed once, used by every row


def evaluate(net):
    tracker = CodeUsageTracker(K)
    r = reconstruct(net, x_eval, tracker=tracker)
    feats = judge_features(r)
    row = {
        "PSNR (dB)": psnr(x_eval, r),
        "SSIM": float(ssim(x_eval, r)),
        "colour error (/255)": colour_error(x_eval, r),
        "KID judge": kernel_distance(feats, ref_features),  # = kernel_feature_distance(r, x_ref, net=judge)
        "FD judge": frechet_distance(feats, ref_features),  # = frechet_feature_distance(r, x_ref, net=judge)
        f"perceptual ({trained_against}, trained against)": paired_distance(loss_mod.perceptual.to(device), x_eval, r),
        "sharpness / original": float(sharpness(r).mean() / sharpness(x_eval).mean()),
        "codes used": float(tracker.used()),
    }
    if lpips_net is not None:
        row["LPIPS (VGG)"] = paired_distance(lpips_net, x_eval, r)
    if ENV.profile != "quick":
        fid = try_inception_fid(r, x_ref, device=device)
        if fid is not None:
            row["Inception FID"] = fid
    return row, r


results, recs = {}, {}
for (arm, seed), net in trained.items():
    results[arm, seed], recs[arm, seed] = evaluate(net)
eval_features = judge_features(x_eval)
floor = kernel_distance(eval_features, ref_features)
fd_floor = frechet_distance(eval_features, ref_features)
print(f"noise floor (real x_eval vs real x_ref): KID judge x1e3 {floor.mean * 1e3:.3f} "
      f"(95% interval over subsets {floor.low * 1e3:.3f} to {floor.high * 1e3:.3f}), FD judge {fd_floor:.3f}")

# %% [markdown]
# The table: mean ± standard deviation over the seeds (KID x 1000; each seed's KID also has its own confidence
# interval over subsets, printed below the table).

# %%
def value(row, key):
    v = row[key]
    return v.mean * 1e3 if key == "KID judge" else v


def summary(arm, key):
    vals = [value(results[arm, s], key) for s in SEEDS]
    return statistics.mean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


keys = list(results[ARMS[0], 0])
print(f"{'':40s}" + "".join(f"{a:>24s}" for a in ARMS))
for key in keys:
    label = key + (" x1e3" if key == "KID judge" else "")
    print(f"{label:40s}" + "".join(f"{'%.4g ± %.2g' % summary(a, key):>24s}" for a in ARMS))
print(f"{'bits per image':40s}" + "".join(f"{BITS:>24.0f}" for a in ARMS))
print(f"\nnoise floor: KID judge x1e3 {floor.mean * 1e3:.3f} (CI {floor.low * 1e3:.3f} to {floor.high * 1e3:.3f}); "
      f"FD judge {fd_floor:.3f}")
for arm in ARMS:
    print(f"{arm:24s} KID x1e3 per seed: " + "; ".join(
        f"{results[arm, s]['KID judge'].mean * 1e3:.3f} [{results[arm, s]['KID judge'].low * 1e3:.3f}, "
        f"{results[arm, s]['KID judge'].high * 1e3:.3f}]" for s in SEEDS))

# %% [markdown]
# The PSNR vs distribution-distance plane. Each small marker is one seed (KID with its confidence interval), the
# large marker the arm's mean; the grey band is the real-vs-real noise floor. Down is closer to real images, right is
# closer pixel by pixel: a trade-off (Blau & Michaeli 2018) shows as arms that win on one axis and lose on the other.

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
colors = dict(zip(ARMS, ("tab:blue", "tab:orange", "tab:green")))
panels = (("KID judge", "KID (judge) x1e3", floor.low * 1e3, floor.high * 1e3),
          ("FD judge", "FD (judge)", fd_floor, fd_floor),
          ("colour error (/255)", "colour error (1/255)", None, None))
for ax, (key, ylabel, lo, hi) in zip(axes, panels):
    for arm in ARMS:
        xs = [results[arm, s]["PSNR (dB)"] for s in SEEDS]
        ys = [value(results[arm, s], key) for s in SEEDS]
        if key == "KID judge":
            err = [[(results[arm, s][key].mean - results[arm, s][key].low) * 1e3 for s in SEEDS],
                   [(results[arm, s][key].high - results[arm, s][key].mean) * 1e3 for s in SEEDS]]
            ax.errorbar(xs, ys, yerr=err, fmt="o", ms=4, color=colors[arm], alpha=0.6)
        else:
            ax.plot(xs, ys, "o", ms=4, color=colors[arm], alpha=0.6)
        ax.plot(statistics.mean(xs), statistics.mean(ys), "*", ms=16, color=colors[arm], label=arm)
    if lo is not None:
        ax.axhspan(lo, hi, color="grey", alpha=0.3, label="real vs real")
        if lo == hi:
            ax.axhline(lo, color="grey", ls="--")
    ax.set_xlabel("PSNR (dB), higher = closer pixel by pixel")
    ax.set_ylabel(ylabel + ", lower is better")
axes[0].legend(fontsize=8)
fig.suptitle(f"{BITS:.0f} bits per image, {CFG.steps} steps, {len(SEEDS)} seeds per arm ({ENV.profile})")
plt.tight_layout()
plt.show()

# %%
show_pairs(x_eval[:10], tuple(recs[a, 0][:10] for a in ARMS), n=10, titles=("original",) + ARMS);

# %% [markdown]
# Look at these reconstructions for what they are: after `CFG.steps` steps of a tiny model (under `quick`: 80 steps
# of 16 images, under a minute of CPU), every arm draws **colour blobs**: the layout and the mean colours of the
# crops, little of their texture, and in some runs a colour cast (the colour error column of the table measures it).
# That is what this budget buys, and the measurements above are about this budget. Section 5b shows the same models
# trained for much longer (shipped with the course).
#
# **Explorer: before and after the discriminator starts.** While training, seed 0 of every arm recorded the
# reconstructions of 8 held-out images every `SNAP_EVERY` steps (no extra training: the recorder only runs the model
# in eval mode). Move the step, switch the arm, and watch the curves: the L1 + perceptual arm and the full arm start
# from the same weights and see the same batches, so they are **the same run** until `disc_start`; every difference
# after it is the discriminator's doing.

# %%
from course_lib.explorers import Choice, IntSlider, explorer
from course_lib.explorers.disc_start import draw_disc_start, snapshot_stats

snaps = {a: recorders[a].snapshots for a in ARMS if a in recorders}
snap_stats = {a: snapshot_stats(v, x_show) for a, v in snaps.items()}
common = sorted(set(snaps[PERC_ARM]) & set(snaps[GAN_ARM])) if PERC_ARM in snaps and GAN_ARM in snaps else []
gap_before = max([float((snaps[PERC_ARM][s] - snaps[GAN_ARM][s]).abs().max()) for s in common if s < CFG.disc_start] or [0.0])
gap_after = max([float((snaps[PERC_ARM][s] - snaps[GAN_ARM][s]).abs().max()) for s in common if s > CFG.disc_start] or [0.0])
print(f"largest pixel difference between the L1 + perceptual and the full arm (seed 0): before disc_start "
      f"{gap_before:.2e}, after {gap_after:.2e}")
print(verdict(gap_before < 1e-4 < gap_after,
              "Identical runs until the discriminator starts; they part only after it.",
              "The two runs already differ before disc_start (or not after it): read the curves with care."))
explorer(partial(draw_disc_start, snapshots=snaps, originals=x_show, disc_start=CFG.disc_start, stats=snap_stats),
         step=IntSlider(0, CFG.steps, CFG.steps, step=SNAP_EVERY, label="training step"),
         model=Choice(list(snaps), GAN_ARM, label="arm"));

# %% [markdown]
# **What the numbers say.** The sentences below are computed from the table (paired by seed: arm A and arm B with the
# same seed started from the same weights and saw the same batches).

# %%
def paired(a, b, key):
    """Per-seed differences value(a) - value(b)."""
    return [value(results[a, s], key) - value(results[b, s], key) for s in SEEDS]


def compare(a, b, key, lower_is_better=True, unit=""):
    d = paired(a, b, key)
    wins = sum((x < 0) if lower_is_better else (x > 0) for x in d)
    word = "lower" if lower_is_better else "higher"
    return verdict(wins == len(d),
                   f"{a} has the {word} {key} on every seed ({wins}/{len(d)}; mean difference {statistics.mean(d):+.3g}{unit}).",
                   verdict(wins == 0,
                           f"{b} has the {word} {key} on every seed (mean difference {a} - {b} = {statistics.mean(d):+.3g}{unit}).",
                           f"{a} vs {b}: {key} is {word} for {a} on {wins} of {len(d)} seeds only -- no consistent "
                           f"difference at this budget (mean {statistics.mean(d):+.3g}{unit})."))


MSE_, PERC, FULL = ARMS
print(compare(PERC, MSE_, "KID judge"))
print(compare(FULL, PERC, "KID judge"))
print(compare(FULL, MSE_, "KID judge"))
print(compare(MSE_, FULL, "PSNR (dB)", lower_is_better=False, unit=" dB"))
print(compare(FULL, MSE_, "colour error (/255)"))
above = {a: sum(results[a, s]["KID judge"].low > floor.high for s in SEEDS) for a in ARMS}
print(verdict(all(v == len(SEEDS) for v in above.values()),
              "Every arm's reconstructions remain distinguishable from real images (KID above the noise floor on "
              "every seed): at this budget none is close to real.",
              f"Seeds whose KID confidence interval lies above the noise floor, per arm: {above}."))

# %% [markdown]
# **Claims asserted** (they failed the notebook if the measurement came out the other way; under smoke they are only
# reported). Each was chosen because it held with a margin on every seed under `quick` when this notebook was
# written: the MSE arm has the highest mean PSNR; adding the adversarial term to L1 + perceptual lowers the judge's
# KID (mean over seeds); no arm reaches the real-vs-real noise floor. The other comparisons above are printed
# verdicts, not claims: at this budget their margins are within a seed's spread.

# %%
mean = {a: {k: summary(a, k)[0] for k in ("PSNR (dB)", "KID judge")} for a in ARMS}
claim(mean[MSE_]["PSNR (dB)"] > max(mean[PERC]["PSNR (dB)"], mean[FULL]["PSNR (dB)"]),
      f"the MSE arm has the highest mean PSNR: {mean[MSE_]['PSNR (dB)']:.2f} dB vs "
      f"{mean[PERC]['PSNR (dB)']:.2f} (L1 + perceptual) and {mean[FULL]['PSNR (dB)']:.2f} (+ GAN)")
claim(mean[FULL]["KID judge"] < mean[PERC]["KID judge"],
      f"adding the GAN term lowers the judge's KID x1e3: {mean[FULL]['KID judge']:.1f} vs "
      f"{mean[PERC]['KID judge']:.1f} without it (mean over {len(SEEDS)} seeds)")
claim(all(v == len(SEEDS) for v in above.values()),
      f"every arm's KID stays above the real-vs-real noise floor on every seed: {above}")


# %% [markdown]
# ## 5b. The same models after many more steps (shipped)
# Your runs above are the mechanics at a one-minute budget. The course ships the MSE arm and the full VQ-GAN arm
# (and, where listed, the L1 + perceptual arm) **with this notebook's `quick` architecture and quantizer**, trained by
# `data/train_course_checkpoints.py` for far more steps on the same offline crops; each checkpoint's card records the
# data, steps, wall time, machine and command. We build each model exactly as above (`VQGAN(VQ_CFG)`), load the
# weights (`course_lib.pretrained`), and measure it with the same `evaluate` on the same held-out images. Only under
# `quick` (other profiles build bigger models) and unless `COURSE_PRETRAINED=0`. The claims of section 5 are about
# **your runs**; here we check that each shipped model reproduces its card, and print what the long runs show.

# %%
from course_lib import pretrained

SHIPPED = {"11_vqvae": MSE_, "11_perceptual": PERC, "11_vqgan": FULL}
shipped = {}
for name, arm in SHIPPED.items():
    if pretrained.available(name):
        net = VQGAN(VQ_CFG).to(device)
        shipped[arm] = dict(name=name, card=pretrained.load_into(net, name), net=net)
        shipped[arm]["row"], shipped[arm]["rec"] = evaluate(net)
if shipped:
    cols = [x for arm, v in shipped.items() for x in ((f"your run: {CFG.steps} steps", arm, results[arm, 0]),
                                                         (f"shipped: {v['card']['steps']:,} steps", arm, v["row"]))]
    show_keys = ["PSNR (dB)", "SSIM", "colour error (/255)", "KID judge", "sharpness / original", "codes used"]
    print(f"{'':24s}" + "".join(f"{arm[:22]:>24s}" for _, arm, _ in cols))
    print(f"{'':24s}" + "".join(f"{label[:22]:>24s}" for label, _, _ in cols))
    for key in show_keys:
        print(f"{key + (' x1e3' if key == 'KID judge' else ''):24s}" + "".join(f"{value(row, key):>24.4g}" for _, _, row in cols))
    for arm, v in shipped.items():
        print(f"{arm}: {pretrained.describe(v['name'])}")
    order_arms = [a for a in ARMS if a in shipped]
    show_pairs(x_eval[:10], tuple(t for a in order_arms for t in (recs[a, 0][:10], shipped[a]["rec"][:10])), n=10,
               titles=("original",) + tuple(t for a in order_arms for t in (f"{a}: your run", f"{a}: shipped")))
else:
    print("No shipped checkpoints here (profile is not quick, COURSE_PRETRAINED=0, or not installed): skipped.")

# %% [markdown]
# **Checks on the shipped models** (fixed files, so these are exact, not seed-dependent): each reproduces the
# headline figures of its card on these held-out images, and trains far beyond your run. What the long runs say about
# the three objectives is printed from their numbers.

# %%
for arm, v in shipped.items():
    head, row = v["card"]["headline"], v["row"]
    claim(abs(row["PSNR (dB)"] - head["psnr_db"]) < 0.05 and abs(row["KID judge"].mean * 1e3 - head["kid_judge_x1e3"]) < 0.05,
          f"{v['name']} reproduces its card: PSNR {row['PSNR (dB)']:.2f} dB (card {head['psnr_db']:.2f}), "
          f"KID x1e3 {row['KID judge'].mean * 1e3:.2f} (card {head['kid_judge_x1e3']:.2f})")
    claim(row["PSNR (dB)"] > results[arm, 0]["PSNR (dB)"],
          f"{arm}: the shipped model ({v['card']['steps']:,} steps) reconstructs better than your run "
          f"({row['PSNR (dB)']:.2f} vs {results[arm, 0]['PSNR (dB)']:.2f} dB)")
if MSE_ in shipped and FULL in shipped:
    s_mse, s_full = shipped[MSE_]["row"], shipped[FULL]["row"]
    print(verdict(s_full["KID judge"].mean < s_mse["KID judge"].mean,
                  f"After the long runs the VQ-GAN's reconstructions are closer to real images in the judge's features "
                  f"(KID x1e3 {s_full['KID judge'].mean * 1e3:.2f} vs {s_mse['KID judge'].mean * 1e3:.2f} for MSE).",
                  f"Even after the long runs the VQ-GAN is not closer to real images in the judge's features "
                  f"(KID x1e3 {s_full['KID judge'].mean * 1e3:.2f} vs {s_mse['KID judge'].mean * 1e3:.2f} for MSE)."))
    print(verdict(s_mse["PSNR (dB)"] > s_full["PSNR (dB)"],
                  f"The MSE model keeps the higher PSNR ({s_mse['PSNR (dB)']:.2f} vs {s_full['PSNR (dB)']:.2f} dB)"
                  + verdict(s_full["KID judge"].mean < s_mse["KID judge"].mean,
                            ": with the VQ-GAN's lower KID, the perception-distortion trade-off.",
                            ", and the lower KID too: at this budget the MSE arm wins on both axes."),
                  f"The VQ-GAN also has the higher PSNR ({s_full['PSNR (dB)']:.2f} vs {s_mse['PSNR (dB)']:.2f} dB)."))
    print(verdict(s_full["sharpness / original"] > s_mse["sharpness / original"],
                  f"The VQ-GAN's reconstructions are sharper ({s_full['sharpness / original']:.2f} vs "
                  f"{s_mse['sharpness / original']:.2f} of the originals' sharpness).",
                  f"The VQ-GAN's reconstructions are not sharper ({s_full['sharpness / original']:.2f} vs "
                  f"{s_mse['sharpness / original']:.2f})."))


# %% [markdown]
# ## 6. Pitfalls, measured
# **The discriminator step must not train the decoder.** Below, a discriminator loss computed on *non-detached*
# reconstructions (with a freshly initialised discriminator, as at `disc_start`): its gradient reaches the decoder's
# last layer, pointing *against* the generator's own adversarial gradient (the discriminator wants `D(x_hat)` low,
# the generator wants it high). With one optimiser over both networks, that gradient would be applied.

# %%
model.train()
torch.manual_seed(0)
D0 = VQGANLoss(VQ_CFG, perceptual=loss_mod.perceptual).discriminator.to(device)
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
claim(g_leak.norm() > 0 and cos < 0,
      f"the leaked gradient opposes the generator's adversarial gradient (cosine {cos:.2f} < 0)")
assert g_ok is None, "with x_hat.detach() the discriminator's loss has no path to the decoder"
model.eval();

# %% [markdown]
# ## 7. Training outside the notebook: one or many GPUs
# Long runs belong in a script. `python -m course_lib.train_vqgan` trains the same model with the same `fit` loop,
# from a preset or a JSON config, and runs under `torchrun` with DistributedDataParallel (one process per GPU; rank 0
# logs and writes the checkpoint, with a barrier around the write; each rank takes its slice of every global batch).
# The EMA codebook needs care under DDP: each rank's forward sees only its own slice. The quantizer therefore sums its
# EMA statistics and usage counters over all ranks and draws dead-code restarts from every rank's encoder outputs, so
# each rank makes the same codebook update from the whole global batch and the replicas stay identical without any
# broadcast (`tests/test_ddp_ema.py` checks that two ranks equal one process on the concatenated batch).
#
# ```bash
# python -m course_lib.train_vqgan --config standard --out runs/cifar               # one GPU, bf16/fp16 autocast
# torchrun --standalone --nproc_per_node 4 -m course_lib.train_vqgan --config full --out runs/flowers
# python -m course_lib.train_vqgan --config standard --out runs/cifar --resume --steps 40000   # continue a run
# python -m course_lib.train_vqgan --config quick --print-config > my.json          # a config to edit
# ```
#
# It writes `checkpoint.pt`, `config.json`, `history.json` and `summary.json` (images/s, final losses, a hash of
# every rank's weights, taken without synchronising anything first, so `replicas_identical` is a real check). For a
# small dataset, the loss options `disc_spectral_norm` and `diff_augment` (measured in notebook 09, a deep dive) go in
# the config's `loss` section. The presets:

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
#   trained: residual blocks with GroupNorm, attention at the lowest resolution, and a loss that asks for
#   *perceptually* faithful reconstructions (L1 + perceptual + adversarial). The quantizer here (l2-normalised
#   low-dimensional codes, EMA, restarts) is the course's choice from notebook 05, not the paper's.
# * The adversarial term is gated by a warm-up and scaled by an adaptive weight; the discriminator sees real images
#   and *detached* reconstructions, never codes, and its patches must be smaller than the image.
# * Whether the perceptual and adversarial terms pay off is a measurement, not a given: section 5 compares the three
#   objectives on one architecture and one bit rate, over seeds, with a judge none of them trained against and a
#   real-vs-real noise floor. Its printed verdicts say what this budget shows; on a small CPU budget the answer can be
#   "no consistent difference", and the `standard` profile exists to measure it at a useful budget.
# * `fit` handles mixed precision and resumable checkpoints; the `train_vqgan` script scales the same loop to many
#   GPUs with `torchrun`.
#
# ## Exercises
# 1. (Solved above, checked) `generator_loss` and `discriminator_loss`.
# 2. Set `disc_start=0` in `CFG` and re-run: what happens to the first reconstructions and to `adaptive_weight`?
# 3. Double `steps` for every arm (and `disc_start` with it). Do the verdicts of section 5 change? Which measure moves
#    first?
# 4. Halve the bits: `num_codes` 128 -> 16 (quick) keeps the grid but uses 4 bits per code. Which measure degrades
#    first?
# 5. Set `disc_layers` back to 2 at 32 px (`vqgan_config(CFG.preset, loss={"disc_layers": 2})`): each logit then
#    sees the whole image. Does the full arm change?
# 6. Judge the arms with the course feature net instead of the judge (`net=course_net`): which ranking changes, and
#    why is that not evidence?
#
# ## Further reading
# * P. Esser, R. Rombach, B. Ommer (2021). *Taming Transformers for High-Resolution Image Synthesis.* arXiv:2012.09841.
# * A. van den Oord, O. Vinyals, K. Kavukcuoglu (2017). *Neural Discrete Representation Learning.* arXiv:1711.00937.
# * J. Yu et al. (2021). *Vector-quantized Image Modeling with Improved VQGAN* (factorised, l2-normalised codes).
#   arXiv:2110.04627.
# * A. Lancucki et al. (2020). *Robust Training of Vector Quantized Bottleneck Models* (a larger codebook learning
#   rate, periodic re-initialisation by k-means). arXiv:2005.08520.
# * R. Zhang, P. Isola, A. Efros, E. Shechtman, O. Wang (2018). *The Unreasonable Effectiveness of Deep Features as a
#   Perceptual Metric* (LPIPS). arXiv:1801.03924.
# * P. Isola, J.-Y. Zhu, T. Zhou, A. Efros (2017). *Image-to-Image Translation with Conditional Adversarial Networks*
#   (PatchGAN). arXiv:1611.07004.
# * J. H. Lim, J. C. Ye (2017). *Geometric GAN* (hinge loss). arXiv:1705.02894.
# * M. Heusel et al. (2017). *GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium*
#   (FID). arXiv:1706.08500.
# * Y. Blau, T. Michaeli (2018). *The Perception-Distortion Tradeoff.* arXiv:1711.06077.
# * Y. Wu, K. He (2018). *Group Normalization.* arXiv:1803.08494.
# * T. Chen, S. Kornblith, M. Norouzi, G. Hinton (2020). *A Simple Framework for Contrastive Learning of Visual
#   Representations* (SimCLR; the judge's objective). arXiv:2002.05709.
# * M. Binkowski, D. J. Sutherland, M. Arbel, A. Gretton (2018). *Demystifying MMD GANs* (KID). arXiv:1801.01401.
# * A. Razavi, A. van den Oord, O. Vinyals (2019). *Generating Diverse High-Fidelity Images with VQ-VAE-2* (EMA
#   codebook). arXiv:1906.00446.
# * N. Zeghidour et al. (2021). *SoundStream: An End-to-End Neural Audio Codec* (dead-code restarts). arXiv:2107.03312.
