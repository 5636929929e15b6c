# %% [markdown]
# # 10 · Judging image models: what PSNR, SSIM, LPIPS, FD and KID see and miss
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-to-vqgan/course/blob/v0.3.0/notebooks/student/10_judging_image_models.ipynb)
#
# **Learning objectives.** After this notebook you can
# - show at equal PSNR what PSNR, SSIM and a perceptual distance each miss;
# - explain, and measure, why the Frechet distance depends on the number of images and KID does not;
# - compute a real confidence interval for KID by resampling images;
# - read a judge network's card, and back its verdicts with model-free statistics;
# - show the perception-distortion trade-off on a family of denoisers.
#
# **Prerequisites.** Notebooks 06 (KID's point estimate) and 07 (the perceptual distance).
#
# **Estimated time.** Core path about 47 min; 2 deep dives about 4 min more (estimated from this notebook by `make
# stats`). Machine: about 21 s under `quick` on 2 CPU cores; under 1 min of training under `standard` on a T4
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
# Nothing is trained here. `n_eval` images form each set.

# %%
from course_lib.profiles import settings

SAME = dict(psnr_fashion=22.0, psnr_natural=30.0, noise_std=0.1, widths=(0.5, 0.6, 0.8, 1.0, 1.3, 1.7, 2.2, 3.0))
CFG = settings(
    quick=dict(SAME, n_eval=256, n_pool=1000, sizes=(25, 50, 100, 200, 400), repeats=5, replicates=6, n_boot=200,
               fd_boot=100),
    standard=dict(SAME, n_eval=500, n_pool=2000, sizes=(25, 50, 100, 200, 400, 800), repeats=10, replicates=8,
                  n_boot=500, fd_boot=200),
    full=dict(SAME, n_eval=500, n_pool=2000, sizes=(25, 50, 100, 200, 400, 800), repeats=20, replicates=8,
              n_boot=1000, fd_boot=500),
)
CFG

# %%
import matplotlib.pyplot as plt
import torch

from course_lib.claims import claim, verdict
from course_lib.data import load_dataset
from course_lib.image_quality import equal_psnr_degradations, load_feature_net, ssim
from course_lib.metrics import psnr
from course_lib.perceptual import PerceptualLoss
from course_lib.viz import show_images, show_table

fashion = load_dataset("fashion-mnist", split="test", n=CFG.n_pool, full=False).x   # (n_pool, 1, 28, 28) in [0, 1]
x = fashion[:CFG.n_eval]

# %% [markdown]
# ## 1. Scores of one image against its original: PSNR, SSIM, a perceptual distance
#
# - **PSNR** is $10 \log_{10}(1 / \text{MSE})$: the mean squared pixel error, in decibels.
# - **SSIM** (Wang et al. 2004) compares local means, contrasts and correlations in small windows.
# - A **perceptual distance** compares a network's features: notebook 07's LPIPS recipe with the course feature net.
#
# We degrade the same test images in four ways, each to a PSNR of exactly 22 dB.

# %% tags=["fig-equal-psnr"]
perceptual = PerceptualLoss(backend="course")
degraded = equal_psnr_degradations(x, psnr_db=CFG.psnr_fashion, kinds=("blur", "noise", "cast", "contrast"))
scores = {name: (psnr(y, x), float(ssim(y, x)), float(perceptual(y, x).mean())) for name, y in degraded.items()}
show_table([[name, *s] for name, s in scores.items()], ["degradation", "PSNR (dB)", "SSIM", "perceptual distance"],
           floatfmt=[None, ".2f", ".3f", ".3f"], title="the same test images, four degradations at equal PSNR")
show_images(torch.cat([x[:8]] + [y[:8] for y in degraded.values()]), nrow=8,
            title="rows: original, " + ", ".join(degraded))
plt.show()

# %% [markdown]
# PSNR cannot tell the four apart: that is how we built them. Expect SSIM and the perceptual distance to call the
# noise worst and the brightness shift nearly harmless, as a person would.

# %%
worst = {"SSIM": min(scores, key=lambda k: scores[k][1]), "perceptual": max(scores, key=lambda k: scores[k][2])}
print(verdict(worst["SSIM"] == worst["perceptual"], f"SSIM and the perceptual distance agree on the worst: {worst['SSIM']}",
              f"they disagree on the worst: {worst}"))

# %% [markdown]
# All three need the original image. A generated sample has none. For samples we compare *distributions*.
#
# ## 2. Distances between sets of images: FD and KID
#
# Embed each image with a network, then compare the two clouds of features.
# - The **Frechet distance** (FD; Heusel et al. 2017, with Inception features it is FID) fits a Gaussian to each cloud:
#   $$\text{FD} = \lVert \mu_a - \mu_b \rVert^2 + \operatorname{Tr}\big(\Sigma_a + \Sigma_b - 2 (\Sigma_a \Sigma_b)^{1/2}\big).$$
# - **KID** (Binkowski et al. 2018) is the squared maximum mean discrepancy with the kernel
#   $k(x, y) = (x^\top y / F + 1)^3$, estimated without bias. You computed its point estimate in notebook 06.
#
# Here we compare two sets of *real* images, whose true distance is 0. Noise in covariances from $n$ images adds
# to FD. Expect FD to fall as $n$ grows, and KID to scatter around 0 at every $n$.

# %% tags=["fig-sample-size"]
from course_lib.image_quality import draw_sample_size_curve, sample_size_curve

feature_net = load_feature_net()
fashion_feats = feature_net.embed(fashion)                                   # (n_pool, 128)
curve = sample_size_curve(fashion_feats, sizes=CFG.sizes, repeats=CFG.repeats)
draw_sample_size_curve(curve)
plt.show()

# %%
fd_small, fd_large = curve["FD"][:, 0].mean().item(), curve["FD"][:, -1].mean().item()
kid_small = 1e3 * curve["KID"][:, 0]
claim(fd_small > 3 * fd_large, f"FD's bias shrinks with n: {fd_small:.2f} at n={curve['n'][0]} vs {fd_large:.2f} at "
      f"n={curve['n'][-1]}", kind="demonstration")
kid_text = f"KID x 1000 at n={curve['n'][0]}: {kid_small.mean():.1f} (sd {kid_small.std():.1f})"
print(verdict(abs(kid_small.mean()) < 2 * kid_small.std() / len(kid_small) ** 0.5,
              f"{kid_text} is consistent with 0", f"{kid_text} sits away from 0"))

# %% [markdown]
# So compare FDs only at equal $n$, and prefer KID when $n$ is a few hundred.
#
# ## 3. How sure is a KID? Real intervals
#
# Other images would give another KID. A **confidence interval** says how far it could move. The **bootstrap**
# (Efron & Tibshirani 1993) resamples each set *with replacement* at its own size, recomputes KID, and repeats. The
# 2.5% and 97.5% quantiles of those values form a 95% interval.
#
# A common shortcut reports the spread of KID over overlapping subsets of the same images. We check both against
# KIDs of blurred against real images, in independent replicates with fresh images.

# %%
from course_lib.classical import gaussian_denoise
from course_lib.image_quality import kernel_distance, kid_on_rows

pool = load_dataset("fashion-mnist", split="train", n=2 * CFG.replicates * CFG.n_eval, full=False).x
pool = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(0))]  # random draws, not class-balanced
feats_real = feature_net.embed(pool[0::2])                                   # real images
feats_blur = feature_net.embed(gaussian_denoise(pool[1::2], 1.0))            # other images, blurred
reps = [kernel_distance(feats_blur[r::CFG.replicates], feats_real[r::CFG.replicates], n_boot=CFG.n_boot)
        for r in range(CFG.replicates)]
values = torch.tensor([k.mean for k in reps])
half = {"spread over 50 overlapping subsets": sum(1.96 * k.std / k.subsets ** 0.5 for k in reps) / len(reps),
        "bootstrap over images (one sample)": sum((k.high - k.low) / 2 for k in reps) / len(reps),
        f"independent replicates (1.96 sd of {len(reps)} KIDs)": 1.96 * values.std().item()}
show_table([[k, 1e3 * v] for k, v in half.items()], ["interval", "half-width, KID x 1000"], floatfmt=[None, ".2f"],
           title=f"KID x 1000 of blurred vs real: {1e3 * values.mean():.1f} (mean of {len(reps)} replicates)")

# %% [markdown]
# Expect the bootstrap's half-width to be close to the replicates' spread, and the subset spread several times
# narrower. The replicates' spread is itself an estimate from a few KIDs, so we compare against its own 95% interval:
# `evidence.sd_interval`, the chi-square interval of a standard deviation with `replicates - 1` degrees of freedom.

# %%
from course_lib.evidence import sd_interval

h = list(half.values())
rep_sd = sd_interval(values)                       # the sd of the replicates' KIDs, with its own 95% interval
lo_rep, hi_rep = 1.96 * rep_sd.low, 1.96 * rep_sd.high   # as half-widths, like the table's third row
ok = claim(h[0] < lo_rep and lo_rep < h[1] < hi_rep,
           f"the subset spread ({1e3 * h[0]:.2f}) falls below the replicates' spread ({1e3 * h[2]:.2f}, 95% interval "
           f"[{1e3 * lo_rep:.2f}, {1e3 * hi_rep:.2f}] from {len(reps)} KIDs); the bootstrap ({1e3 * h[1]:.2f}) falls "
           "inside it", kind="demonstration")

# %% [markdown]
# ### Exercise: KID's bootstrap interval
#
# Write `bootstrap_kid(kid_of_rows, n_a, n_b, n_boot, level, generator)` returning `(value, low, high)`:
# - `kid_of_rows(rows_a, rows_b)` is the KID of rows `rows_a` of set A against rows `rows_b` of set B;
# - `value` is the KID of the whole sets;
# - each of `n_boot` resamples draws `n_a` rows of A and `n_b` rows of B, uniformly with replacement
#   (`torch.randint(..., generator=generator)`), the two sets independently;
# - `low` and `high` are the `(1 - level) / 2` and `(1 + level) / 2` quantiles of the resampled KIDs
#   (`torch.quantile`).
#
# Why row indices? A resample repeats images; `kid_of_rows` leaves out an image paired with its own copy, as KID
# leaves out $k(x, x)$.

# %%
def bootstrap_kid(kid_of_rows, n_a, n_b, n_boot=200, level=0.95, generator=None):
    """(value, low, high): the KID of the whole sets and its percentile bootstrap interval over images."""
    ### BEGIN SOLUTION
    value = kid_of_rows(torch.arange(n_a), torch.arange(n_b))
    boots = []
    for _ in range(n_boot):
        rows_a = torch.randint(n_a, (n_a,), generator=generator)
        rows_b = torch.randint(n_b, (n_b,), generator=generator)
        boots.append(kid_of_rows(rows_a, rows_b))
    boots = torch.tensor(boots, dtype=torch.float64)
    low, high = torch.quantile(boots, torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64))
    return value, float(low), float(high)
    ### END SOLUTION


# %%
from course_lib.checks.judging import check_bootstrap_kid

check_bootstrap_kid(bootstrap_kid)
### BEGIN HIDDEN TESTS
check_bootstrap_kid(bootstrap_kid, seed=7, level=0.9, sizes=((25, 25), (60, 35)))
### END HIDDEN TESTS

# %% [markdown]
# Your function beside `kernel_distance` on the first replicate (other resamples, so the bounds differ a little):

# %%
from course_lib.checks import solved_or_reference
from course_lib.checks.judging import reference_bootstrap_kid

bootstrap_kid = solved_or_reference(bootstrap_kid, reference_bootstrap_kid, "bootstrap_kid")
fb, fr = feats_blur[0::CFG.replicates], feats_real[0::CFG.replicates]
value, low, high = bootstrap_kid(kid_on_rows(fb, fr), len(fb), len(fr), n_boot=CFG.n_boot,
                                 generator=torch.Generator().manual_seed(0))
print(f"yours: KID x 1000 = {1e3 * value:.2f} [{1e3 * low:.2f}, {1e3 * high:.2f}]")
print(f"library: KID x 1000 = {1e3 * reps[0].all_pairs:.2f} [{1e3 * reps[0].low:.2f}, {1e3 * reps[0].high:.2f}]")
ok = claim(abs(low - reps[0].low) < 0.3 * (reps[0].high - reps[0].low), "your interval matches the library's",
           kind="sanity")

# %% [markdown]
# From here on, `kernel_distance` gives this interval. `course_lib.evidence` has the same for any statistic
# (`bootstrap_interval`), over seeds (`replicate_interval`) and for paired seeds (`paired_difference`).
#
# ## 4. What a judge network sees, and what it misses
#
# FD and KID are only as good as their network. The course has two: the **course feature net** of 07's perceptual
# loss, a Fashion-MNIST classifier trained with random tints, and the **judge**, which no model trains against:

# %%
from course_lib.image_quality import judge_net_info, draw_perception_distortion, realism_table

print(judge_net_info()["trained_on"])

# %% [markdown]
# Natural colour crops, degraded at 30 dB, against *other* real crops. The first row is two sets of real crops: the
# floor. Four model-free statistics stand beside the networks:
# - **spectrum L1**: the gap between mean log power spectra (blur removes high frequencies, noise adds them);
# - **gradient W1**: the distance between the distributions of edge strengths;
# - **colour W1**: the distance between pixel-value histograms per channel;
# - **sharpness ratio**: contrast-normalised sharpness (notebook 01) over that of real images.
#
# ### Exercise: the radially averaged log power spectrum
#
# The first statistic rests on a regularity of natural images: their power falls smoothly with spatial frequency,
# roughly as $1/f^2$ (Field 1987; van der Schaaf & van Hateren 1996). It asks how much energy each scale holds, in
# any direction. Write `radial_log_spectrum(x)`, images `(N, C, H, W)` in, `(N, K)` out, $K = \lfloor \min(H, W) / 2
# \rfloor$:
# - average the colour channels to one grey image, and subtract each image's mean;
# - the power of each frequency is $|F|^2 / (H W)$, with $F$ the 2-D Fourier transform (`torch.fft.fft2`);
# - frequency $(f_y, f_x)$, in cycles per pixel, lies on ring $k = \operatorname{round}\big(\min(H, W)
#   \sqrt{f_x^2 + f_y^2}\big)$. `torch.fft.fftfreq(n)` gives the frequencies of an axis's `n` positions, in the order
#   `fft2` stores them;
# - column $k - 1$ is the natural log of the mean power on ring $k$, for $k = 1, \dots, K$ (add $10^{-10}$ before the
#   log).

# %%
def radial_log_spectrum(x):
    """(N, C, H, W) images -> (N, K) log of the mean power on each frequency ring 1..K, K = min(H, W) // 2."""
    ### BEGIN SOLUTION
    g = x.double().mean(1)
    g = g - g.mean(dim=(1, 2), keepdim=True)
    h, w = g.shape[-2:]
    power = torch.fft.fft2(g).abs() ** 2 / (h * w)
    fy = torch.fft.fftfreq(h, dtype=torch.float64)[:, None]
    fx = torch.fft.fftfreq(w, dtype=torch.float64)[None, :]
    ring = torch.round(min(h, w) * torch.sqrt(fx ** 2 + fy ** 2)).long()
    means = [power[:, ring == k].mean(1) for k in range(1, min(h, w) // 2 + 1)]
    return torch.log(torch.stack(means, 1) + 1e-10)
    ### END SOLUTION


# %%
from course_lib.checks.judging import check_radial_spectrum

check_radial_spectrum(radial_log_spectrum)
### BEGIN HIDDEN TESTS
check_radial_spectrum(radial_log_spectrum, seed=7, shapes=((2, 3, 32, 32), (3, 1, 20, 28)))
### END HIDDEN TESTS

# %% [markdown]
# Your function on real crops and on the three degradations. Expect the blur to fall below the real curve at high
# frequencies, and the noise to rise above it there. The colour cast scales the grey image, shifting the curve
# equally at every frequency.

# %%
radial_log_spectrum = solved_or_reference(radial_log_spectrum, course_lib.image_quality.radial_log_spectrum,
                                          "radial_log_spectrum")
natural = load_dataset("natural", split="test").x
natural = natural[torch.randperm(len(natural), generator=torch.Generator().manual_seed(0))]
x_nat, x_ref = natural[:CFG.n_eval], natural[CFG.n_eval:2 * CFG.n_eval]
degraded_nat = equal_psnr_degradations(x_nat, psnr_db=CFG.psnr_natural)
for name, imgs in {"real (other crops)": x_ref, **degraded_nat}.items():
    spectrum = radial_log_spectrum(imgs).mean(0)
    plt.plot(torch.arange(1, len(spectrum) + 1) / min(imgs.shape[-2:]), spectrum, label=name)
plt.xlabel("spatial frequency (cycles per pixel)"), plt.ylabel("log power"), plt.legend()
plt.show()

# %% tags=["fig-judge-table"]
table = realism_table(x_nat, degraded_nat, real_ref=x_ref, n_boot=CFG.fd_boot)
show_table(table, table.headers, floatfmt=".3f", title=f"natural crops at {CFG.psnr_natural:g} dB vs other real crops")

# %% [markdown]
# Which measure sees which degradation? `table.sees()` applies one rule per column: an interval entirely above the
# floor's, or a statistic over twice the floor's. Expect each column to miss something.

# %%
seen = table.sees()
for m, names in seen.items():
    print(f"{m:16s} sees: {', '.join(names) or 'nothing'}")
free = ("spectrum", "gradient", "colour", "sharpness ratio")
claim(all(any(n.split(" (")[0] in seen[m] for m in free) for n in table.raw if n != table[0]["images"]),
      "every degradation is seen by at least one model-free statistic", kind="demonstration")
ok = claim(seen["judge KID"] != seen["FD course net"], "the two networks disagree on what they see",
           kind="demonstration")

# %% [markdown]
# Its card, measured with a milder blur and a stronger cast than above:

# %%
print(judge_net_info()["blind_spots"])

# %% [markdown]
# ## 5. The perception-distortion trade-off
#
# Blau & Michaeli (2018) proved that, past a point, lower distortion forces outputs less like real images. We smooth
# noisy crops ($\sigma = 0.1$) with ever wider Gaussian filters. Distortion is PSNR against the clean crops;
# realism is the judge's KID and the gradient distance. Expect PSNR to peak at a wide filter and realism at a
# narrower one.

# %% tags=["fig-perception-distortion"]
from course_lib.classical import add_gaussian_noise, denoise

noisy = add_gaussian_noise(x_nat, CFG.noise_std, seed=1)
outputs = {w: denoise("gaussian", noisy, w) for w in CFG.widths}
sweep = realism_table(x_nat, {f"width {w:g}": y for w, y in outputs.items()}, real_ref=x_ref, n_boot=CFG.n_boot,
                      fd=False)
pts = [(w, psnr(y, x_nat), sweep.raw[f"width {w:g}"]) for w, y in outputs.items()]
draw_perception_distortion(pts, title="Gaussian filter widths (px) on noisy natural crops",
                           floor=sweep.raw[sweep[0]["images"]])
plt.show()

# %%
best_psnr = max(pts, key=lambda t: t[1])
best_real = {k: min(pts, key=lambda t: t[2][k].mean if k == "judge KID" else t[2][k]) for k in ("judge KID", "gradient")}
print(f"best PSNR: width {best_psnr[0]:g} ({best_psnr[1]:.2f} dB); most realistic: "
      + "; ".join(f"by {k} width {b[0]:g} ({b[1]:.2f} dB)" for k, b in best_real.items()))
trade = all(b[0] < best_psnr[0] and b[1] < best_psnr[1] for b in best_real.values())
claim(trade, "the best-PSNR filter is not the most realistic one, by the judge and by the gradient distance",
      kind="demonstration")
print(verdict(trade, "perception-distortion trade-off shown: past the most realistic width, PSNR keeps rising as "
              "realism falls", "no trade-off in this family: the best PSNR is also the most realistic"))

# %% [markdown]
# So the next lessons add perceptual and adversarial losses: they trade a little PSNR for realism.
#
# ## Deep dive: what goes wrong if a bootstrap resamples features
# *Adds the bias of a bootstrap that passes resampled features to the KID estimator. The core path resumes at the
# Summary.*
#
# Calling the plain estimator on `feats[rows]` treats an image and its copy as two images. Their kernel $k(x, x)$ is
# larger than between two different images, so every resample's KID comes out too high. Two sets of real images:

# %%
from course_lib.image_quality import kid_all_pairs

fa, fb = fashion_feats[:CFG.n_eval // 2], fashion_feats[CFG.n_eval // 2:CFG.n_eval]
from course_lib.image_quality import kid_bootstrap

g = torch.Generator().manual_seed(0)
naive = torch.tensor([kid_all_pairs(fa[torch.randint(len(fa), (len(fa),), generator=g)],
                                    fb[torch.randint(len(fb), (len(fb),), generator=g)]) for _ in range(CFG.n_boot)])
print(f"KID x 1000 of the two sets: {1e3 * kid_all_pairs(fa, fb):.2f}")
for name, boots in (("resampled features", naive), ("resampled rows", kid_bootstrap(fa, fb, n_boot=CFG.n_boot))):
    print(f"{name:18s}: replicates' mean {1e3 * boots.mean():6.2f}, 95% interval [{1e3 * boots.quantile(0.025):.2f}, "
          f"{1e3 * boots.quantile(0.975):.2f}]")

# %% [markdown]
# ## Deep dive: the three models of notebook 11, judged six ways
# *Adds a preview of notebook 11's shipped models (MSE, L1 + perceptual, and the VQ-GAN), trained 2,500 steps each,
# under every measure of this lesson. The core path resumes at the Summary.*
#
# The judge and the model-free statistics need not agree. Notebook 11 explains the models; here we only score them.

# %%
from course_lib import pretrained

ARMS = {"MSE": "11_vqvae", "L1 + perceptual": "11_perceptual", "VQ-GAN": "11_vqgan"}
if all(pretrained.available(n) for n in ARMS.values()):
    from course_lib.train_vqgan import load_images
    from course_lib.vqgan import vqgan_config

    crops = load_images(vqgan_config("quick"), "test", n=512, allow_stand_in=True)
    x_eval, x_ref11 = crops[:256], crops[256:512]
    with torch.no_grad():
        recon = {arm: pretrained.build(n)(x_eval)[0].float().clamp(0, 1) for arm, n in ARMS.items()}
    t11 = realism_table(x_eval, recon, real_ref=x_ref11, n_boot=CFG.fd_boot)
    show_table(t11, t11.headers, floatfmt=".3f", title="notebook 11's shipped models vs held-out real crops")
    judge_best = min(recon, key=lambda a: t11.raw[a]["judge KID"].mean)
    free_best = {k: min(recon, key=lambda a: t11.raw[a][k]) for k in ("spectrum", "gradient")}
    print(verdict(all(b == judge_best for b in free_best.values()),
                  f"the judge and the model-free statistics agree: {judge_best} is closest to real",
                  f"they disagree: the judge ranks {judge_best} closest to real, the spectrum "
                  f"{free_best['spectrum']}, the gradient distance {free_best['gradient']}"))
else:
    print("Shipped checkpoints are switched off: this deep dive is skipped.")

# %% [markdown]
# ## Summary
# - **PSNR, SSIM and perceptual distances** compare an output with its original. At equal PSNR, SSIM and the
#   perceptual distance still rank a blur, noise and a brightness shift; PSNR cannot.
# - **FD and KID** compare distributions of features. FD is biased upwards when the sets are small, so compare it at
#   equal $n$; KID is unbiased. Both are only as good as their network.
# - **A real interval** resamples the images, both sets, with replacement: the bootstrap. The spread over overlapping
#   subsets is several times too narrow.
# - **A network sees what its training needed**, and the judge and the course feature net saw different things in
#   section 4. Back each realism verdict with a model-free statistic.
# - **Perception and distortion trade off**: the most realistic denoiser is not the one with the best PSNR.
#
# ## More to try
# 1. Set `n_eval` to 128 in the settings table. Do the intervals of section 3 widen by about $\sqrt{2}$?
# 2. Set `noise_std` to 0.2. Where do the best-PSNR and the most realistic widths of section 5 move?
# 3. In section 5, use total variation (`denoise("tv", noisy, weight)`, weights 0.02 to 0.3). Same trade-off?
# 4. Repeat section 5 over five noise seeds and compare two widths with `course_lib.evidence.paired_difference`.
#
# ## Further reading
# - Wang, Bovik, Sheikh, Simoncelli (2004), "Image Quality Assessment: From Error Visibility to Structural
#   Similarity", IEEE Transactions on Image Processing 13(4) (SSIM).
# - Wang, Bovik (2009), "Mean Squared Error: Love It or Leave It?", IEEE Signal Processing Magazine 26(1)
#   (images at equal MSE).
# - Zhang, Isola, Efros, Shechtman, Wang (2018), "The Unreasonable Effectiveness of Deep Features as a Perceptual
#   Metric", arXiv:1801.03924 (LPIPS).
# - Heusel, Ramsauer, Unterthiner, Nessler, Hochreiter (2017), "GANs Trained by a Two Time-Scale Update Rule Converge
#   to a Local Nash Equilibrium", arXiv:1706.08500 (FID).
# - Binkowski, Sutherland, Arbel, Gretton (2018), "Demystifying MMD GANs", arXiv:1801.01401 (KID).
# - Gretton, Borgwardt, Rasch, Schölkopf, Smola (2012), "A Kernel Two-Sample Test", JMLR 13 (the unbiased MMD).
# - Chong, Forsyth (2020), "Effectively Unbiased FID and Inception Score and Where to Find Them", arXiv:1911.07023
#   (FD's bias with the number of images).
# - Efron, Tibshirani (1993), "An Introduction to the Bootstrap", Chapman & Hall (percentile intervals).
# - Kynkäänniemi, Karras, Aittala, Aila, Lehtinen (2023), "The Role of ImageNet Classes in Fréchet Inception
#   Distance", arXiv:2203.06026 (what a judge network weighs).
# - Field (1987), "Relations between the statistics of natural images and the response properties of cortical
#   cells", Journal of the Optical Society of America A 4(12) (the fall of natural images' spectra).
# - van der Schaaf, van Hateren (1996), "Modelling the power spectra of natural images: statistics and information",
#   Vision Research 36(17).
# - Durall, Keuper, Keuper (2020), "Watch your Up-Convolution: CNN Based Generative Deep Neural Networks are Failing
#   to Reproduce Spectral Distributions", arXiv:2003.01826 (power spectra of generated images).
# - Blau, Michaeli (2018), "The Perception-Distortion Tradeoff", arXiv:1711.06077.
# - Theis, van den Oord, Bethge (2016), "A Note on the Evaluation of Generative Models", arXiv:1511.01844.
