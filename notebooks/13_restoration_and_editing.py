# %% [markdown]
# # 13 · Restoration and editing: code prediction with a frozen tokenizer, and masked-token inpainting
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-to-vqgan/course/blob/v0.3.0/notebooks/student/13_restoration_and_editing.ipynb)
#
# A tokenizer trained on clean images knows what clean images are made of. Restoration can use that: predict the
# clean image's codes from a degraded one, then decode them. This lesson measures what that buys, and builds
# MaskGIT to fill holes.
#
# **Learning objectives.** After this notebook you can
# - restore an image by predicting the codes of a frozen tokenizer and decoding them (CodeFormer, Zhou et al. 2022);
# - measure distortion (PSNR, SSIM) and realism (a judge network, a model-free spectrum) separately, and read the
#   perception-distortion trade-off (Blau & Michaeli 2018) from the numbers;
# - write MaskGIT's training loss with its mask schedule, and one step of its decoding (Chang et al. 2022);
# - compare learned hole filling with classical harmonic and biharmonic fills.
#
# **Prerequisites.** Notebook 12 (the tokenizer and the raster-order prior); KID and the judge net (notebooks 06
# and 10).
#
# **Estimated time.** Core path about 46 min; 4 deep dives about 22 min more (estimated from this notebook by `make
# stats`). Machine: about 40 s under `quick` on 2 CPU cores; about 4 min of training under `standard` on a T4
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
# All sizes of this notebook, for the active profile (the marked column):

# %%
from course_lib.profiles import settings

CFG = settings(
    quick=dict(dataset="fashion-mnist", n_train=2000, n_eval=300, n_val=100, batch_size=32, factor=4, rest_ch=32,
               rest_steps=150, rest_lr=2e-3, blur_sigma=1.5, blur_noise=0.05, deblur_steps=50, n_deblur=60,
               n_style=8, style_steps=80, style_lr=0.03, style_weight=1.0, ip_d_model=48, ip_layers=2, ip_heads=4,
               ip_steps=150, ip_lr=3e-3, ip_batch=32, ip_seeds=2, ip_rounds=8),
    standard=dict(dataset="fashion-mnist", n_train=None, n_eval=2000, n_val=300, batch_size=64, factor=4, rest_ch=64,
                  rest_steps=4000, rest_lr=1e-3, blur_sigma=1.5, blur_noise=0.05, deblur_steps=1000, n_deblur=300,
                  n_style=16, style_steps=300, style_lr=0.02, style_weight=1.0, ip_d_model=256, ip_layers=8,
                  ip_heads=8, ip_steps=4000, ip_lr=5e-4, ip_batch=128, ip_seeds=2, ip_rounds=8),
    smoke=dict(ip_seeds=1),
)
CFG

# %% [markdown]
# ## 1. A frozen tokenizer
# Notebook 12's tokenizer, frozen. Under `quick` it is the course's longer-trained copy (`COURSE_PRETRAINED=0`
# trains your own). In practice, no restorer that goes through its codes beats its reconstruction of the clean
# image.

# %%
import math

import matplotlib.pyplot as plt
import torch

from course_lib.checks import solved_or_reference
from course_lib.claims import claim, verdict
from course_lib.classical import BASELINE_HEADERS, classical_upsamplers, downsample
from course_lib.data import load_dataset
from course_lib.env import run_path
from course_lib.image_quality import judge_net_info, load_feature_net, load_judge_net
from course_lib.metrics import psnr
from course_lib.restoration import (degrade, draw_fills, draw_perception_distortion, frozen_tokenizer,
                                    held_out_images, psnr_per_image, restore, restoration_table, train_restorer)
from course_lib.viz import show_pairs, show_table

device = ENV.device
train = load_dataset(CFG.dataset, split="train", n=CFG.n_train)
test = load_dataset(CFG.dataset, split="test", n=CFG.n_eval)
x_train, x_test = train.x.to(device), test.x.to(device)
x_val, x_ref = (v.to(device) for v in held_out_images(CFG.dataset, test.x, (CFG.n_val, len(test.x))))
tok = frozen_tokenizer(train, device, checkpoint=run_path("13", "tokenizer.pt"))
K = tok.num_codes
codes_train, codes_test = tok.encode(x_train), tok.encode(x_test)
recon = tok.decode(codes_test)
print(f"frozen tokenizer: {tok.description}. {tuple(codes_test.shape[1:])} codes per image, K = {K}; its "
      f"reconstruction of the clean test images: {psnr(recon, x_test):.2f} dB")

# %% [markdown]
# ## 2. Super-resolution ×4 and its classical answers
# Each test image is averaged over 4×4 blocks and brought back to 28×28 by bicubic interpolation (`degrade`): the
# input of every restorer. Iterative back-projection (Irani & Peleg 1991) corrects the bicubic image until its
# block means match the input; its iterations are tuned on validation images, never on test images.

# %% tags=["fig-sr-classical"]
bad_train, bad_test = degrade(x_train, CFG.factor), degrade(x_test, CFG.factor)
sr_rows, sr_classical = classical_upsamplers(downsample(x_test, CFG.factor), x_test, downsample(x_val, CFG.factor),
                                             x_val, CFG.factor, return_outputs=True)
show_table(sr_rows, BASELINE_HEADERS, title=f"super-resolution x{CFG.factor}: tuned on {len(x_val)} validation images")

# %% [markdown]
# The learned restorer of this lesson does not output pixels. It predicts, for every cell of the code grid, which
# of the frozen tokenizer's `K` codes the clean image has there; the frozen decoder draws the image:

# %% tags=["fig-code-restorer-diagram"]
from course_lib.diagrams import code_restorer_diagram

code_restorer_diagram();

# %% [markdown]
# ### Exercise 1: the code-prediction loss
# The restorer outputs **logits** `(B, K, h, w)`, a score per code and grid cell; the target is the clean image's
# code grid `(B, h, w)`. Return the cross-entropy averaged over all `B·h·w` cells, in nats (CodeFormer, sec. 3.2).
# Mind which axis holds the codes.

# %%
def code_prediction_loss(logits, targets):
    """logits (B, K, h, w), targets (B, h, w) int64 -> scalar mean cross-entropy over the B h w cells."""
    ### BEGIN SOLUTION
    return torch.nn.functional.cross_entropy(logits, targets)
    ### END SOLUTION


# %%
from course_lib.checks.restoration import check_code_prediction_loss

check_code_prediction_loss(code_prediction_loss)
### BEGIN HIDDEN TESTS
check_code_prediction_loss(code_prediction_loss, seed=3, shape=(3, 11, 2, 5))
### END HIDDEN TESTS

# %%
import course_lib.restoration

code_prediction_loss = solved_or_reference(code_prediction_loss, course_lib.restoration.code_prediction_loss,
                                           "code_prediction_loss")   # used below

# %% [markdown]
# ## 3. Two learned restorers on one trunk, at one budget
# Both are a `RestorationNet` with the same trunk, steps, batch, optimiser and learning rate (`train_restorer`):
#
# - **code predictor**: K logits per cell, trained with your loss; at test time the most likely code per cell,
#   decoded by the frozen decoder, a prior learned from clean images that it did not have to train;
# - **L2 regressor**: a correction to the bicubic image, trained with the mean squared error.

# %%
budget = dict(steps=CFG.rest_steps, ch=CFG.rest_ch, lr=CFG.rest_lr, batch_size=CFG.batch_size)
code_net = train_restorer(K, bad_train, x_train, codes_train, loss=code_prediction_loss, desc="code predictor",
                          checkpoint=run_path("13", "sr_code_predictor.pt"), **budget)
l2_net = train_restorer(None, bad_train, x_train, desc="L2 regressor", checkpoint=run_path("13", "sr_l2.pt"), **budget)
out_code, logits_test = restore(code_net, bad_test, decode=tok.decode, return_logits=True)
out_l2 = restore(l2_net, bad_test)
ce_test = float(code_prediction_loss(logits_test, codes_test))
freq = torch.bincount(codes_train.flatten(), minlength=K).float() + 1.0          # the codes' training frequencies
ce_marginal = float(-torch.log(freq / freq.sum())[codes_test].mean())
print(f"held-out code cross-entropy {ce_test:.2f} nats vs {ce_marginal:.2f} for the codes' frequencies alone; "
      f"{float((logits_test.argmax(1) == codes_test).float().mean()):.0%} of the cells get the clean image's code")

# %% [markdown]
# **Claim.** The code predictor learned something from the degraded image: its held-out cross-entropy is at least
# 0.5 nats below that of a predictor that ignores the input and outputs the codes' frequencies.

# %%
claim(ce_test < ce_marginal - 0.5, f"held-out code cross-entropy {ce_test:.2f} < frequencies alone "
                                   f"{ce_marginal:.2f} - 0.5 nats");

# %% tags=["fig-restorers"]
show_pairs(x_test[:10].cpu(), [bad_test[:10].cpu(), sr_classical["back_projection"][:10].cpu(), out_l2[:10].cpu(),
                               out_code[:10].cpu(), recon[:10].cpu()], n=10,
           titles=("clean", "bicubic", "back-projection", "L2 regressor", "code predictor", "clean codes (ceiling)"))
plt.show()

# %% [markdown]
# ## 4. Distortion and realism, measured separately
# **Distortion** is the error against each image's own truth: PSNR and SSIM. **Realism** compares the set of
# outputs with other real test images, in three ways:
#
# - KID in the **judge net**, which no model here trained with. It never saw Fashion-MNIST, so its scale is not
#   calibrated here; its data and blind spots are printed below;
# - KID in the **course feature net**, the one notebook 11's perceptual loss trains against;
# - two **model-free** measures: the log power spectrum distance and the contrast-normalised sharpness, where 1 is
#   as sharp as real.
#
# Blau and Michaeli (2018) proved that distortion and realism cannot both be optimal: the least-squares estimate
# averages the plausible answers into a blur. So expect the L2 regressor to win on PSNR, and the code predictor,
# which commits to one code per cell, to look more real. The first row is what real images score.

# %% tags=["fig-restoration-table"]
judge, feature_net = load_judge_net(device=device), load_feature_net(device=device)
print("judge net:", judge_net_info()["trained_on"], judge_net_info()["blind_spots"])
sr = restoration_table({"bicubic": bad_test, "back-projection": sr_classical["back_projection"],
                        "L2 regressor": out_l2, "code predictor": out_code, "clean codes (ceiling)": recon},
                       x_test, x_ref, judge_net=judge, feature_net=feature_net)
show_table(sr, sr.headers, title=f"super-resolution x{CFG.factor}, {len(x_test)} test images")
draw_perception_distortion(sr, ["bicubic", "back-projection", "L2 regressor", "code predictor"])
plt.show()

# %% [markdown]
# **Verdicts.** Each comparison below is one interval of a difference between two methods on the same images
# with a bootstrap over them. A verdict needs the interval to exclude zero.

# %%
d_psnr = sr.psnr_difference("L2 regressor", "code predictor")
d_judge, d_course = (sr.kid_difference("code predictor", "L2 regressor", n).scaled(1e3) for n in ("judge", "course"))
print(f"PSNR, L2 regressor - code predictor: {d_psnr}\nKID x1e3, code predictor - L2 regressor: judge "
      f"{d_judge.short('.1f')}, course net {d_course.short('.1f')}")
print(verdict(d_psnr.low > 0 and d_judge.high < 0, "In the judge: consistent with the perception-distortion trade-off "
              "at this budget. The L2 regressor has less distortion, the code predictor's outputs are closer to real.",
              "In the judge: the trade-off is not shown at this budget."))
print(verdict(d_course.high < 0, "The course feature net agrees: the code predictor is the closer set.",
              "The course feature net does not find the code predictor closer: name the net with every verdict."))
print(verdict(sr.raw["code predictor"]["spectrum"] < sr.raw["L2 regressor"]["spectrum"], "The power spectrum "
              "agrees in direction (a point estimate).", "The power spectrum puts the L2 regressor closer (a point "
              "estimate)."))
d_bp = sr.psnr_difference("code predictor", "back-projection")
print(verdict(d_bp.low > 0, f"The code predictor beats back-projection on PSNR ({d_bp.short('.2f')} dB).",
              f"The code predictor does not beat tuned back-projection on PSNR ({d_bp.short('.2f')} dB)."))
claim(sr.psnr_difference("L2 regressor", "bicubic").low > 0.5, "the L2 regressor beats its input, the bicubic "
      "image, by more than 0.5 dB (interval)");

# %% [markdown]
# ## Deep dive: the same restorers trained for longer
# *Adds the shipped pair trained for 6,000 steps, measured the same way: does the trade-off survive the budget?
# The core path resumes at section 5.*
#
# The course ships **the same two networks** trained 40 times longer on all 8,000 offline training images
# (`course_lib.pretrained`, `"13_code_predictor"` and `"13_l2_regressor"`; each card records the data, steps,
# machine and command). The code predictor predicts the shipped tokenizer's codes, so this runs only when section 1
# froze that tokenizer. The card figures come from fixed files, so they are asserted.

# %%
from course_lib import pretrained

# the cards' set-up: the shipped tokenizer, x4, the 300 test images, the quick sizes
SHIPPED = tok.shipped and CFG.factor == pretrained.RESTORATION_FACTOR and len(x_test) == 300 and all(
    pretrained.available(n, config=dict(num_codes=k, ch=CFG.rest_ch, in_channels=1))
    for n, k in (("13_code_predictor", K), ("13_l2_regressor", None)))
if SHIPPED:
    from course_lib.image_quality import kernel_distance

    long_nets = {name: pretrained.build(name, device) for name in ("13_code_predictor", "13_l2_regressor")}
    long_code, long_logits = restore(long_nets["13_code_predictor"], bad_test, decode=tok.decode, return_logits=True)
    long = restoration_table({"code predictor": long_code, "L2 regressor": restore(long_nets["13_l2_regressor"],
                                                                                    bad_test)},
                             x_test, x_ref, judge_net=judge, feature_net=feature_net, reuse=sr)
    show_table(long, long.headers, title=f"shipped, {pretrained.card('13_code_predictor')['steps']:,} steps")
    for name, key in (("13_code_predictor", "code predictor"), ("13_l2_regressor", "L2 regressor")):
        measured = dict(psnr_db=long.raw[key]["psnr_ci"].value, ssim=long.raw[key]["ssim"],
                        kid_x1e3=1e3 * kernel_distance(long.feats["course"][key],
                                                       long.feats["course"]["real images (floor)"], n_boot=0).mean,
                        test_ce_nats=float(code_prediction_loss(long_logits, codes_test)),
                        cell_accuracy=float((long_logits.argmax(1) == codes_test).float().mean()))
        for k, value in pretrained.card(name)["headline"].items():
            assert math.isclose(measured[k], value, rel_tol=1e-3, abs_tol=1e-3), f"{name}: {k} {measured[k]:.5f}"
    ld_psnr = long.psnr_difference("L2 regressor", "code predictor")
    ld_judge = long.kid_difference("code predictor", "L2 regressor", "judge").scaled(1e3)
    ld_course = long.kid_difference("code predictor", "L2 regressor", "course").scaled(1e3)
    print(f"PSNR, L2 - code: {ld_psnr.short('.2f')} dB; KID x1e3, code - L2: judge {ld_judge.short('.1f')}, course "
          f"net {ld_course.short('.1f')}")
    print(verdict(ld_psnr.low > 0 and ld_judge.high < 0, "At this budget too the judge shows the trade-off.",
                  "At this budget the judge does not show the trade-off."))
    print(verdict(ld_course.high < 0, "The course net agrees.", "The course net does not separate the two: with "
                  "longer training the regressor's outputs moved closer to real in that net."))
else:
    print("the shipped restorers are not used here (COURSE_PRETRAINED=0, another profile, degradation or test set, "
          "or a tokenizer trained in this notebook, whose codes they do not predict).")

# %% [markdown]
# ## Deep dive: deblurring
# *Adds a second degradation, named by the popular article: blur with noise, where the classical answer is
# deconvolution. The core path resumes at section 5.*
#
# The images are blurred by a Gaussian of `CFG.blur_sigma` pixels and get noise of standard deviation
# `CFG.blur_noise`. Wiener deconvolution (Wiener 1949; its regularisation weight tuned) and Richardson-Lucy
# (Richardson 1972, Lucy 1974; its iterations tuned) invert the known blur. Both come from scikit-image and are
# tuned on 24 validation images. The code predictor starts from your super-resolution one (its input was blurred
# too) and is fine-tuned on blurred images for `CFG.deblur_steps` more steps. The test set is the first
# `CFG.n_deblur` test images, because scikit-image deconvolves one image at a time.

# %%
from course_lib.classical import add_gaussian_noise, blur, classical_deblurrers, gaussian_psf

psf, x_db = gaussian_psf(CFG.blur_sigma), x_test[:CFG.n_deblur]
blurred = {k: add_gaussian_noise(blur(v, psf), CFG.blur_noise, seed=i)
           for i, (k, v) in enumerate((("train", x_train), ("val", x_val[:24]), ("test", x_db)))}
db_rows, db_out = classical_deblurrers(blurred["test"], x_db, blurred["val"], x_val[:24], psf, return_outputs=True,
                                       grids=dict(wiener=(1e-3, 3e-3, 1e-2, 3e-2, 0.1),
                                                  richardson_lucy=(5, 10, 20, 40, 80)))
show_table(db_rows, BASELINE_HEADERS, title=f"deconvolution (input {psnr(blurred['test'], x_db):.2f} dB)")
deblur_net = train_restorer(K, blurred["train"], x_train, codes_train, loss=code_prediction_loss, init=code_net,
                            desc="deblurring code predictor", checkpoint=run_path("13", "deblur_code_predictor.pt"),
                            **dict(budget, steps=CFG.deblur_steps))
db = restoration_table({"Wiener": db_out["wiener"], "Richardson-Lucy": db_out["richardson_lucy"],
                        "code predictor": restore(deblur_net, blurred["test"], decode=tok.decode),
                        "clean codes (ceiling)": recon[:CFG.n_deblur]}, x_db, x_ref, judge_net=judge,
                       nets=("judge",), reuse=sr)
show_table(db, db.headers, title=f"deblurring, {len(x_db)} test images")
best = max(("Wiener", "Richardson-Lucy"), key=lambda m: db.raw[m]["psnr_ci"].value)
dd_psnr, dd_judge = db.psnr_difference(best, "code predictor"), db.kid_difference("code predictor", best).scaled(1e3)
print(f"PSNR, {best} - code predictor: {dd_psnr.short('.2f')} dB; judge KID x1e3, code predictor - {best}: "
      f"{dd_judge.short('.1f')}")
print(verdict(dd_psnr.low > 0, f"{best} has the lower distortion.", f"{best} does not have the lower distortion."),
      verdict(dd_judge.high < 0, "The code predictor's outputs are the closer set in the judge.",
              "The judge does not find the code predictor's outputs closer to real."))

# %% [markdown]
# ## 5. Free-form inpainting with a masked-token model
# Notebook 12's raster prior sees only the codes above and to the left of a hole. **MaskGIT** (Chang et al. 2022)
# trains a **bidirectional** transformer instead: `MaskedTokenModel`, `CodePrior`'s blocks with full attention.
#
# - **training** (section 3.1): replace some codes by a `[MASK]` token and predict the true codes, with the
#   cross-entropy over the masked positions only;
# - **the mask schedule** (section 3.3): per image draw $r \sim U(0, 1)$ and mask $\lceil \gamma(r)\, T \rceil$
#   of the $T$ positions, $\gamma(r) = \cos(\pi r / 2)$, so the model sees every amount of context;
# - **iterative decoding** (section 3.2): start with `[MASK]` in the hole. At each step predict every masked
#   position, **keep the most confident** and mask the rest again, so that $\lceil \gamma(s/S)\, N \rceil$ of
#   the $N$ hole positions are still masked after step $s$ of $S$.

# %% tags=["fig-maskgit-diagram"]
from course_lib.diagrams import maskgit_diagram

maskgit_diagram(steps=3, hole=8);

# %% [markdown]
# ### Exercise 2: MaskGIT's training loss
# `model(tokens)` returns logits `(B, T, K)`; `model.mask_id` is the `[MASK]` token. For each row draw its own `r`,
# mask `n = ceil(cos(pi r / 2) T)` random positions (at least 1), and feed the model the tokens with `model.mask_id`
# there. Return `(loss, mask)`: the mean cross-entropy over all masked positions of the batch, and the `(B, T)`
# bool mask. Pass `generator` to every draw (`torch.rand(B, generator=generator, device=tokens.device)`). The `n`
# positions with the smallest of `T` random numbers are a random choice.

# %%
def masked_token_loss(model, tokens, generator=None):
    """tokens (B, T) int64 -> (mean cross-entropy at the masked positions, mask (B, T) bool)."""
    ### BEGIN SOLUTION
    B, T = tokens.shape
    r = torch.rand(B, generator=generator, device=tokens.device)
    n = torch.ceil(torch.cos(math.pi * r / 2) * T).clamp(1, T)
    rank = torch.rand(B, T, generator=generator, device=tokens.device).argsort(1).argsort(1)
    mask = rank < n[:, None]
    logits = model(tokens.masked_fill(mask, model.mask_id))
    return torch.nn.functional.cross_entropy(logits[mask], tokens[mask]), mask
    ### END SOLUTION


# %%
from course_lib.checks.maskgit import check_masked_token_loss

check_masked_token_loss(masked_token_loss)
### BEGIN HIDDEN TESTS
check_masked_token_loss(masked_token_loss, seed=4, seq_len=12, num_codes=9)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 3: one step of masked decoding
# `logits` `(B, T, K)` are predictions, `tokens` `(B, T)` the current codes, `mask` `(B, T)` True where a code is
# unknown, and `n` how many to decide now: an int, or a `(B,)` tensor of counts per row (the check tries both).
# A position's prediction is its most likely code; its **confidence** is that code's softmax probability. Among
# each row's **masked** positions, keep the `n` most confident: write them into `tokens` and unmask them. Return
# `(tokens, mask)`. Hint: `conf.argsort(dim=1, descending=True).argsort(dim=1)` is each position's rank.

# %%
def masked_decode_step(logits, tokens, mask, n):
    """logits (B, T, K), tokens (B, T) int64, mask (B, T) bool (True = unknown), n int or (B,) -> (tokens, mask)."""
    ### BEGIN SOLUTION
    conf, pred = logits.softmax(dim=-1).max(dim=-1)
    conf = conf.masked_fill(~mask, float("-inf"))                  # known positions are never chosen
    rank = conf.argsort(dim=1, descending=True).argsort(dim=1)     # 0 = the most confident of the row
    keep = mask & (rank < torch.as_tensor(n, device=logits.device).reshape(-1, 1))
    return torch.where(keep, pred, tokens), mask & ~keep
    ### END SOLUTION


# %%
from course_lib.checks.maskgit import check_masked_decode_step

check_masked_decode_step(masked_decode_step)
### BEGIN HIDDEN TESTS
check_masked_decode_step(masked_decode_step, seed=5, shape=(3, 12, 7), n=(1, 4, 12))
### END HIDDEN TESTS

# %% [markdown]
# MaskGIT (with your loss) and notebook 12's raster prior train on the clean codes with the same sizes, optimiser,
# batch and steps, over `CFG.ip_seeds` seeds (`train_filler`). The holes are random rectangles of 2-4 by 2-4 codes,
# the same for every method. Both fillers take the most likely code at each decision, since distortion is
# measured against the true image. Classical fills need no training. The **harmonic** fill solves Laplace's
# equation from the hole's boundary; the **biharmonic** one, from scikit-image, also continues the gradients; the
# **mean training image** ignores the image.

# %%
import course_lib.maskgit
from course_lib.classical import biharmonic_fill, harmonic_fill
from course_lib.maskgit import maskgit_complete, random_box_masks, train_filler
from course_lib.prior import flatten_grid, unflatten_grid

masked_token_loss = solved_or_reference(masked_token_loss, course_lib.maskgit.masked_token_loss, "masked_token_loss")
masked_decode_step = solved_or_reference(masked_decode_step, course_lib.maskgit.masked_decode_step, "decode step")
gh, gw = codes_test.shape[-2:]
tok_train, tok_test = flatten_grid(codes_train), flatten_grid(codes_test)
holes = random_box_masks(len(tok_test), gh, gw, 2, 4, generator=torch.Generator().manual_seed(123)).to(device)
known, hole_px = ~flatten_grid(holes), holes[:, None].repeat_interleave(28 // gh, 2).repeat_interleave(28 // gw, 3)
sizes = dict(d_model=CFG.ip_d_model, n_layers=CFG.ip_layers, n_heads=CFG.ip_heads, steps=CFG.ip_steps, lr=CFG.ip_lr,
             batch_size=CFG.ip_batch)
fills = {"MaskGIT": [], "MaskGIT, 1 step": [], "raster prior": []}
for seed in range(CFG.ip_seeds):
    mg = train_filler("maskgit", tok_train, K, seed=seed, loss=masked_token_loss, **sizes)
    ar = train_filler("raster", tok_train, K, seed=seed, **sizes)
    with torch.no_grad():
        for name, rounds in (("MaskGIT", CFG.ip_rounds), ("MaskGIT, 1 step", 1), ("raster prior", None)):
            if name == "MaskGIT, 1 step" and seed > 0:
                continue                                                  # one seed is enough for the deep dive
            t = (ar.sample(len(tok_test), top_k=1, known=(known, tok_test)) if rounds is None else
                 maskgit_complete(mg, tok_test, known, rounds, step_fn=masked_decode_step))
            fills[name].append(torch.where(hole_px, tok.decode(unflatten_grid(t, gh, gw)), x_test))   # pasted in
fills.update({"clean codes (ceiling)": [torch.where(hole_px, recon, x_test)],
              "harmonic": [harmonic_fill(x_test, hole_px)], "biharmonic": [biharmonic_fill(x_test, hole_px)],
              "mean training image": [torch.where(hole_px, x_train.mean(0, keepdim=True), x_test)]})

# %% [markdown]
# Every fill is pasted into the true image, so only the hole differs. Distortion is the PSNR in the hole; realism
# is measured on the pasted images. Expect the smooth classical fills to do well on PSNR, since a blur of the
# surroundings is close on average, and badly on realism.

# %% tags=["fig-fills"]
ip = restoration_table({name: runs[0] for name, runs in fills.items() if name != "MaskGIT, 1 step"}, x_test, x_ref,
                       judge_net=judge, nets=("judge",), region=hole_px, region_name="hole", ssim_column=False,
                       reuse=sr)
show_table(ip, ip.headers, title=f"inpainting, {len(x_test)} images, one hole each (seed 0 for the learned fillers)")
per_seed = {name: [float(psnr_per_image(im, x_test, hole_px).mean()) for im in runs] for name, runs in fills.items()}
shown = ("MaskGIT", "raster prior", "harmonic", "biharmonic")
draw_fills(x_test, hole_px, {k: fills[k][0] for k in shown}, {k: f"{per_seed[k][0]:.2f} dB in the hole" for k in shown})
plt.show()

# %% [markdown]
# **Verdicts and claim.** The claim that could fail for a model that ignores the image: each learned filler beats
# the mean training image in the hole by more than 1 dB on every seed.

# %%
mg_vs_ar = [a - b for a, b in zip(per_seed["MaskGIT"], per_seed["raster prior"])]
seeds_txt = f"{', '.join(f'{d:+.2f}' for d in mg_vs_ar)} dB per seed"
print(verdict(all(d > 0.1 for d in mg_vs_ar), f"MaskGIT fills closer to the truth than the raster prior ({seeds_txt}).",
              verdict(all(d < -0.1 for d in mg_vs_ar), f"The raster prior beats MaskGIT on every seed ({seeds_txt}): "
                      "seeing below the hole does not make up for what MaskGIT has not learned at this budget.",
                      f"No consistent winner between MaskGIT and the raster prior ({seeds_txt}).")))
best_learned = max(("MaskGIT", "raster prior"), key=lambda m: per_seed[m][0])
dh_psnr = ip.psnr_difference("harmonic", best_learned)
dh_judge = ip.kid_difference("harmonic", best_learned).scaled(1e3)
print(f"harmonic - {best_learned}: PSNR in the hole {dh_psnr.short('.2f')} dB, judge KID x1e3 {dh_judge.short('.1f')}")
print(verdict(dh_psnr.high > 0 and dh_judge.low > 0, f"The harmonic fill ties or beats the {best_learned} on "
              "distortion and looks less real: the perception-distortion trade-off again.",
              f"The harmonic fill does not trade distortion for realism against the {best_learned} here."))
for name in ("MaskGIT", "raster prior"):
    gaps = [a - per_seed["mean training image"][0] for a in per_seed[name]]
    claim(all(g > 1.0 for g in gaps), f"{name} - mean training image in the hole: "
                                      f"{', '.join(f'{g:+.2f}' for g in gaps)} dB per seed (> +1 dB on every seed)")

# %% [markdown]
# ## Deep dive: where the hole is, and what the iterations buy
# *Adds two measurements behind the verdicts: MaskGIT against the raster prior by the hole's first row, and
# iterative against one-step decoding (seed 0). The core path resumes at the summary.*
#
# A hole in row 0 has no known code before it, so the raster prior fills it without seeing the image; lower holes
# have rows of context above. One greedy step takes each position's most likely code on its own: the mode per
# position, which PSNR rewards. MaskGIT's own decoder samples each code and adds annealed Gumbel noise to the
# confidence (its official code scales it by 4.5 (1 - s/S)); its gains are in diversity and FID, not in PSNR.

# %%
from course_lib.evidence import bootstrap_interval

d_img = torch.stack([psnr_per_image(a, x_test, hole_px) - psnr_per_image(b, x_test, hole_px)
                     for a, b in zip(fills["MaskGIT"], fills["raster prior"])])        # (seeds, N)
hole_top = holes.float().any(2).float().argmax(1).cpu()
for where, sel in (("holes starting in row 0", hole_top == 0), ("holes starting in row 2 or lower", hole_top >= 2)):
    d = d_img[:, sel.to(d_img.device)].mean(1)
    print(f"MaskGIT - raster prior, {where} ({int(sel.sum())} images): "
          f"{', '.join(f'{float(v):+.2f}' for v in d)} dB per seed")
d_iter = bootstrap_interval(lambda a, b: float((a - b).mean()), psnr_per_image(fills["MaskGIT"][0], x_test, hole_px),
                            psnr_per_image(fills["MaskGIT, 1 step"][0], x_test, hole_px), paired=True)
print(f"MaskGIT {CFG.ip_rounds} steps - 1 step, PSNR in the hole (seed 0): {d_iter}")
print(verdict(d_iter.low > 0, f"{CFG.ip_rounds} greedy steps beat one step.", verdict(
    d_iter.high < 0, "One greedy step beats the iterations: the per-position mode is what PSNR rewards.",
    "The iterations make no clear difference to the PSNR in the hole.")))

# %% [markdown]
# ## Deep dive: style transfer, honestly
# *Adds the Gram-matrix style loss (Gatys et al. 2016) and a measurement of what it moves, in two networks. The
# core path resumes at the summary.*
#
# A VQ-GAN does not transfer style by itself: it reconstructs. What does is an optimisation: find an image whose
# deep features match a **content** image at one layer, and whose feature **Gram matrices** (which channels fire
# together, wherever they fire) match a **style** image at several layers. Here the features are the course feature
# net's stages 1-3, the content layer is stage 3, and the style image is a pattern of diagonal stripes.
#
# ### Exercise 4: the Gram matrix
# For features `(B, C, H, W)` return `(B, C, C)`: for each image, the product of every channel with every other,
# summed over the `H·W` positions and divided by `H·W`.

# %%
def gram_matrix(features):
    """features (B, C, H, W) -> (B, C, C), channel products averaged over the H W positions."""
    ### BEGIN SOLUTION
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (h * w)
    ### END SOLUTION


# %%
from course_lib.checks.restoration import check_gram_matrix

check_gram_matrix(gram_matrix)
### BEGIN HIDDEN TESTS
check_gram_matrix(gram_matrix, seed=3, shape=(3, 5, 2, 7))
### END HIDDEN TESTS

# %% [markdown]
# The loss, per image: the content distance (mean squared feature difference at stage 3) divided by that of
# another garment, plus `style_weight` times the style distance (mean squared Gram difference over stages 1-3)
# divided by its starting value. The pixels start at the content image; Adam, `CFG.style_steps` steps.

# %%
gram_matrix = solved_or_reference(gram_matrix, course_lib.restoration.gram_matrix, "gram_matrix")
STYLE_LAYERS, CONTENT_LAYER = (0, 1, 2), 2
feature_net.requires_grad_(False)


def style_dist(feats, style_feats):
    return sum((gram_matrix(feats[i]) - gram_matrix(style_feats[i])).pow(2).mean((1, 2)) for i in STYLE_LAYERS)


def content_dist(feats, content_feats):
    return (feats[CONTENT_LAYER] - content_feats[CONTENT_LAYER]).pow(2).flatten(1).mean(1)


content, other = x_test[:CFG.n_style], x_test[CFG.n_style:2 * CFG.n_style]   # other garments, for scale
t = torch.arange(28, device=device, dtype=torch.float32)
style_img = (0.5 + 0.5 * torch.sin(2 * math.pi * (t[:, None] + t[None, :]) / 6)).view(1, 1, 28, 28)
with torch.no_grad():
    f_content, f_style, f_other = (feature_net.features(v) for v in (content, style_img, other))
    c_scale, s_start = content_dist(f_other, f_content), style_dist(f_content, f_style)
pixels = content.clone().requires_grad_(True)
opt = torch.optim.Adam([pixels], lr=CFG.style_lr)
for step in range(CFG.style_steps):
    feats = feature_net.features(pixels)
    loss = (content_dist(feats, f_content) / c_scale + CFG.style_weight * style_dist(feats, f_style) / s_start).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    with torch.no_grad():
        pixels.clamp_(0, 1)
stylised = pixels.detach()
ratios = {}
with torch.no_grad():
    for net_name, net in (("course feature net (optimised)", feature_net), ("judge net (not optimised)", judge)):
        fc, fs, fo, fx = (net.features(v) for v in (content, style_img, other, stylised))
        ratios[net_name] = (style_dist(fx, fs) / style_dist(fc, fs), content_dist(fx, fc) / content_dist(fo, fc))
        print(f"{net_name}: style distance end / start {float(ratios[net_name][0].mean()):.2f} +- "
              f"{float(ratios[net_name][0].std()):.2f}; content distance / another garment's "
              f"{float(ratios[net_name][1].mean()):.2f} +- {float(ratios[net_name][1].std()):.2f} (mean +- sd, "
              f"{CFG.n_style} images)")
n_s = CFG.n_style
show_pairs(torch.cat([style_img, content[:n_s - 1]]).cpu(), torch.cat([style_img, stylised[:n_s - 1]]).cpu(), n=n_s,
           titles=("style image, then the content images", "style image, then the optimised pixels"))
plt.show()

# %% [markdown]
# **Claims and verdict.** In the optimised net, the style distance falling and the content staying close are
# what the objective asks for, starting from the content image: demonstrations that the optimiser works. The judge
# was not optimised, so its numbers could come out either way.

# %%
s_opt, c_opt = (float(v.mean()) for v in ratios["course feature net (optimised)"])
s_judge, c_judge = (float(v.mean()) for v in ratios["judge net (not optimised)"])
claim(s_opt < 0.5 and c_opt < 1.0, f"optimised net: style {s_opt:.2f} of its start, content {c_opt:.2f} of another "
      "garment's", kind="demonstration")
claim(s_judge < 0.7, f"the judge also sees the style move: style distance {s_judge:.2f} of its start (< 0.7)")
print(verdict(c_judge < 1.0, f"In the judge the content held too ({c_judge:.2f} of another garment's distance).",
              f"In the judge the content did NOT hold: each image is now {c_judge:.2f} times as far from its original "
              "as another garment is. 'Content held' was a property of the optimised net."))

# %% [markdown]
# The features come from small networks of 32×32 images, so "style" here means local edge and stripe statistics,
# not brushwork or colour. Gatys et al. used VGG-19 trained on ImageNet. Feed-forward networks trained with the
# same losses (Johnson, Alahi & Fei-Fei 2016) stylise in one pass instead of dozens of steps.

# %% [markdown]
# ## Summary
# - Restoration as code prediction: predict a frozen tokenizer's clean codes with a cross-entropy, then decode.
#   The tokenizer's reconstruction is its ceiling.
# - Distortion and realism are different axes: the L2 regressor wins the first. For the second, name the judging
#   net and print a model-free measure beside it.
# - Tuned classical methods (back-projection, deconvolution, harmonic fills) are strong on distortion.
# - MaskGIT masks a cosine-scheduled number of codes and decodes by keeping its most confident predictions.
#
# ## Exercises
# 1. (in the notebook) `code_prediction_loss`, `masked_token_loss`, `masked_decode_step` and `gram_matrix`.
# 2. Sample the code predictor's codes at temperature 0.7 instead of the argmax. How do PSNR and judge KID move?
# 3. Add one self-attention layer over the 7×7 grid before the code predictor's head (CodeFormer uses a
#    transformer). Compare code accuracy at the same budget.
# 4. In `masked_decode_step`, sample the code and add Gumbel noise to the log-confidence, annealed over the steps.
#    Compare hole PSNR and judge KID with the greedy fill.
# 5. Set `factor` to 2 in the settings cell: a milder degradation. Which verdicts of section 4 change?
# 6. Set `ip_rounds` to 16, then 2. What do more decoding steps buy in the hole's PSNR and the judge's KID?

# %% [markdown]
# ## Further reading
# - S. Zhou, K. C. K. Chan, C. Li, C. C. Loy (2022). *Towards Robust Blind Face Restoration with Codebook Lookup
#   Transformer.* NeurIPS 2022, arXiv:2206.11253 (CodeFormer).
# - Y. Blau, T. Michaeli (2018). *The Perception-Distortion Tradeoff.* CVPR 2018, arXiv:1711.06077.
# - H. Chang, H. Zhang, L. Jiang, C. Liu, W. T. Freeman (2022). *MaskGIT: Masked Generative Image Transformer.*
#   CVPR 2022, arXiv:2202.04200.
# - M. Irani, S. Peleg (1991). *Improving Resolution by Image Registration.* CVGIP: Graphical Models and Image
#   Processing 53(3) (iterative back-projection).
# - N. Wiener (1949). *Extrapolation, Interpolation, and Smoothing of Stationary Time Series.* MIT Press;
#   W. H. Richardson (1972), JOSA 62(1); L. B. Lucy (1974), Astronomical Journal 79(6) (deconvolution).
# - S. B. Damelin, N. S. Hoang (2018). *On Surface Completion and Image Inpainting by Biharmonic Functions.*
#   International Journal of Mathematics and Mathematical Sciences (biharmonic inpainting).
# - L. A. Gatys, A. S. Ecker, M. Bethge (2016). *Image Style Transfer Using Convolutional Neural Networks.*
#   CVPR 2016 (first as arXiv:1508.06576).
# - J. Johnson, A. Alahi, L. Fei-Fei (2016). *Perceptual Losses for Real-Time Style Transfer and Super-Resolution.*
#   arXiv:1603.08155.
# - P. Esser, R. Rombach, B. Ommer (2021). *Taming Transformers for High-Resolution Image Synthesis.*
#   arXiv:2012.09841.
# - Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli (2004). *Image Quality Assessment: From Error Visibility
#   to Structural Similarity.* IEEE TIP 13(4) (SSIM).
# - M. Binkowski, D. J. Sutherland, M. Arbel, A. Gretton (2018). *Demystifying MMD GANs.* arXiv:1801.01401 (KID).
# - R. Keys (1981). *Cubic Convolution Interpolation for Digital Image Processing.* IEEE TASSP 29(6) (bicubic;
#   Keys derived a = -0.5, PyTorch uses a = -0.75).
