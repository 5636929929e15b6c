# %% [markdown]
# # 01 · Autoencoders and the VAE
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-to-vqgan/course/blob/v0.3.0/notebooks/student/01_autoencoders_and_vae.ipynb)
#
# **Learning objectives.** After this notebook you can
# - explain why a plain autoencoder gives no way to *sample* new images;
# - derive the evidence lower bound (ELBO) of a variational autoencoder (VAE) and name its two terms;
# - implement the reparameterisation trick, the closed-form Gaussian KL divergence and the VAE's loss;
# - read a 2-D latent space and measure the blur of a VAE's images;
# - say what discrete latents change (a fixed rate, tokens for a prior) and what they do not.
#
# **Prerequisites.** Notebook 00; PyTorch modules, autograd and optimisers; Gaussians, expectations and the KL
# divergence at the level of a first probability course (00's prerequisite self-check covers them).
#
# **Estimated time.** Core path about 39 min; 4 deep dives about 12 min more (estimated from this notebook by `make
# stats`). Machine: about 23 s under `quick` on 2 CPU cores; under 1 min of training under `standard` on a T4
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
# Every size comes from this table. `steps` is the training length of each of the four models trained here.

# %%
from course_lib.profiles import settings

CFG = settings(
    quick=dict(dataset="mnist", n_train=4000, n_test=1000, batch_size=64, steps=400, lr=2e-3, hidden=16,
               big_latent=16, big_beta=20.0, mc_samples=4000),
    standard=dict(dataset="mnist", n_train=None, n_test=None, batch_size=128, steps=6000, lr=1e-3, hidden=32,
                  big_latent=16, big_beta=20.0, mc_samples=20000),
    full=dict(dataset="mnist", n_train=None, n_test=None, batch_size=128, steps=20000, lr=1e-3, hidden=64,
              big_latent=16, big_beta=20.0, mc_samples=50000),
)
CFG

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from course_lib.claims import claim, verdict
from course_lib.data import load_dataset, make_loader
from course_lib.latents import crispness, decode_grid, knn_accuracy, plot_latents
from course_lib.models import VAE, AutoEncoder
from course_lib.train import fit
from course_lib.viz import show_images

device = ENV.device
train_set = load_dataset(CFG.dataset, "train", n=CFG.n_train)
test_set = load_dataset(CFG.dataset, "test", n=CFG.n_test)
loader = make_loader(train_set, batch_size=CFG.batch_size, shuffle=True, seed=0, device=device)
x_test, y_test = test_set.x.to(device), test_set.y
print(train_set.display_name, "|", test_set.display_name)

# %% [markdown]
# ## 1. An autoencoder has nothing to sample from
#
# An autoencoder compresses an image $x$ into a short code $z = f_\phi(x)$, here 2 numbers, and decodes it back,
# $\hat x = g_\theta(z)$ (Rumelhart, Hinton & Williams 1986; deep ones since Hinton & Salakhutdinov 2006). Its decoder
# returns **logits**: each pixel is a Bernoulli variable with probability $\sigma(\text{logit})$, and the loss is the
# binary cross-entropy summed over pixels, in nats per image. MNIST pixels are grey levels, not 0/1, so these nats are
# approximate; this is the usual convention.

# %%
torch.manual_seed(0)
ae = AutoEncoder(in_channels=1, image_size=28, latent_dim=2, hidden=CFG.hidden).to(device)
ae_loss = lambda batch, step: {"loss": F.binary_cross_entropy_with_logits(ae(batch[0]), batch[0], reduction="sum")
                               / len(batch[0])}
fit(ae_loss, torch.optim.Adam(ae.parameters(), lr=CFG.lr), loader, steps=CFG.steps, model=ae, desc="AE")
ae.eval()
with torch.no_grad():
    z_ae, z_ae_train = ae.encode(x_test), ae.encode(train_set.x[:2000].to(device))

# %% [markdown]
# Where do the codes lie? Left: each test image is a dot at its code, coloured by class. Right: a regular grid over
# the box that holds the codes, decoded. Expect some classes to separate and many grid points to decode to smudges:
# nothing tells us which region of the plane holds images, so there is no distribution to pick a new $z$ from. A
# 5-nearest-neighbour vote in code space measures how well each class separates.

# %% tags=["fig-ae-latents"]
lo, hi = z_ae.min(0).values.cpu().numpy(), z_ae.max(0).values.cpu().numpy()
fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
plot_latents(z_ae, y_test, test_set.class_names, ax=axes[0], title="AE codes of test images", box=(lo, hi), box_label="grid")
grid_ae, g1, g2 = decode_grid(ae.decode, lo, hi, device=device)
show_images(grid_ae, nrow=12, ax=axes[1], title=f"decoded grid: z1 {g1[0]:.0f}..{g1[-1]:.0f}, z2 {g2[-1]:.0f}..{g2[0]:.0f}")
plt.tight_layout()
plt.show()
knn = knn_accuracy(z_ae_train, train_set.y[:2000].to(device), z_ae, y_test.to(device))
apart = [test_set.class_names[c] for c in range(10) if knn["per_class"][c] >= 0.8]
print(f"5-NN accuracy from the 2 code numbers: {knn['overall']:.0%} (chance 10%); per class:",
      np.round(knn["per_class"], 2))
print(verdict(len(apart) >= 8, "Nearly every class forms its own cluster.",
              f"Only the classes {', '.join(apart) if apart else '(none)'} separate well (>= 80%); the others "
              f"overlap in the plane after {CFG.steps} steps."))

# %% [markdown]
# ## 2. The variational autoencoder
#
# A VAE (Kingma & Welling 2013; Rezende, Mohamed & Wierstra 2014) makes the autoencoder a **generative model**:
#
# $$p(z) = \mathcal N(0, I), \qquad p_\theta(x \mid z) = \prod_{\text{pixels } i} \mathrm{Bernoulli}\big(x_i;\ \sigma(g_\theta(z)_i)\big).$$
#
# Training should maximise $\log p_\theta(x) = \log \int p_\theta(x\mid z)\,p(z)\,dz$, but the integral is
# intractable, and so is the posterior $p_\theta(z\mid x)$. The encoder therefore outputs an approximation, a diagonal
# Gaussian $q_\phi(z \mid x) = \mathcal N\big(\mu_\phi(x), \operatorname{diag}\sigma^2_\phi(x)\big)$. It outputs
# $\mu$ and $\log \sigma^2$, called `logvar`, so the variance is always positive.
#
# **The ELBO.** For any $q$, multiply and divide inside the log and take the expectation under $q$:
#
# $$\log p_\theta(x) = \mathbb E_{q_\phi(z\mid x)}\Big[\log \frac{p_\theta(x, z)}{q_\phi(z\mid x)}\Big]
#   + \mathbb E_{q_\phi(z\mid x)}\Big[\log \frac{q_\phi(z\mid x)}{p_\theta(z\mid x)}\Big]
#   = \mathcal L(\theta, \phi; x) + \mathrm{KL}\big(q_\phi(z\mid x)\,\|\,p_\theta(z\mid x)\big).$$
#
# The two log-ratios add up to $\log p_\theta(x)$, which does not depend on $z$. A KL divergence is $\ge 0$, so
# $\mathcal L \le \log p_\theta(x)$: $\mathcal L$ is the **evidence lower bound**. With
# $p_\theta(x, z) = p_\theta(x\mid z)\,p(z)$:
#
# $$\mathcal L(\theta,\phi;x) = \underbrace{\mathbb E_{q_\phi(z\mid x)}\big[\log p_\theta(x\mid z)\big]}_{-\text{reconstruction loss}}
#   \;-\; \underbrace{\mathrm{KL}\big(q_\phi(z\mid x)\,\|\,p(z)\big)}_{\text{keeps codes near the prior}}.$$
#
# We minimise $-\mathcal L$ = reconstruction + KL. The first term is the autoencoder's loss with a *noisy* code; the
# second pulls every $q(z\mid x)$ towards $\mathcal N(0, I)$, so the codes fill the region we will sample from.
#
# ### 2.1 The reparameterisation trick
#
# The reconstruction term is an expectation over $z \sim q_\phi(z\mid x)$, estimated with one sample per image. To
# differentiate through the sampling, write the sample as a function of $(\mu, \sigma)$ and of independent noise:
#
# $$z = \mu + \sigma \odot \varepsilon, \qquad \varepsilon \sim \mathcal N(0, I), \qquad \sigma = \exp(\tfrac12 \log\sigma^2).$$
#
# Then $\partial z/\partial \mu = 1$ and $\partial z/\partial \log\sigma^2 = \tfrac12 \sigma\varepsilon$: gradients
# reach the encoder. The whole model, with its loss:

# %% tags=["fig-vae-diagram"]
from course_lib.diagrams import vae_diagram

vae_diagram();

# %% [markdown]
# **Exercise 1.** Implement `reparameterize(mu, logvar)`: both (B, L); return z of shape (B, L).

# %%
def reparameterize(mu, logvar):
    """A sample z ~ N(mu, exp(logvar)) that gradients can flow through: (B, L), (B, L) -> (B, L)."""
    ### BEGIN SOLUTION
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    ### END SOLUTION


# %%
from course_lib.checks.vae import check_gaussian_kl, check_negative_elbo, check_reparameterize

check_reparameterize(reparameterize)
### BEGIN HIDDEN TESTS
check_reparameterize(reparameterize, seed=3)
### END HIDDEN TESTS

# %% [markdown]
# ### Deep dive: why reparameterise?
# *Adds a measurement of the gradient estimator the trick replaces. The core path resumes at section 2.2.*
#
# Without the trick, the gradient of $\mathbb E_{q}[f(z)]$ with respect to $\mu$ can still be estimated, with the
# score function (REINFORCE, Williams 1992): $f(z)\,\nabla_\mu \log q(z) = f(z)\,(z - \mu)/\sigma^2$. Both
# estimators are unbiased; Kingma & Welling (2019, section 2.4) explain why the reparameterised one usually has far
# lower variance. Measure it for $f(z) = \lVert z - c\rVert^2$ in 16 dimensions, one sample per estimate.

# %%
torch.manual_seed(0)
L_demo, n_draws = 16, 20000
mu_d, sigma_d, c_d = torch.randn(L_demo), 0.5 + torch.rand(L_demo), torch.randn(L_demo) + 2
z_d = mu_d + sigma_d * torch.randn(n_draws, L_demo)
f_d = (z_d - c_d).pow(2).sum(1, keepdim=True)                  # (n, 1)
score = f_d * (z_d - mu_d) / sigma_d**2                         # score-function estimates of d E[f] / d mu
reparam = 2 * (z_d - c_d)                                       # reparameterised estimates: d f(mu + sigma eps) / d mu
exact = 2 * (mu_d - c_d)
print(f"mean error of the estimates: score {(score.mean(0) - exact).abs().max():.2f}, reparameterised "
      f"{(reparam.mean(0) - exact).abs().max():.3f}; variance per coordinate: score {score.var(0).mean():.0f}, "
      f"reparameterised {reparam.var(0).mean():.2f}")
claim(score.var(0).mean() > 10 * reparam.var(0).mean(), "the score-function gradient has over 10x the variance of "
      "the reparameterised one here", kind="demonstration");

# %% [markdown]
# ### 2.2 The KL term in closed form
#
# For one latent dimension, $q = \mathcal N(\mu, \sigma^2)$ and $p = \mathcal N(0, 1)$:
#
# $$\mathrm{KL}(q\,\|\,p) = \mathbb E_q[\log q(z) - \log p(z)]
#  = \mathbb E_q\Big[-\tfrac12\log(2\pi\sigma^2) - \tfrac{(z-\mu)^2}{2\sigma^2} + \tfrac12\log(2\pi) + \tfrac{z^2}{2}\Big]
#  = -\tfrac12\log\sigma^2 - \tfrac12 + \tfrac12(\sigma^2 + \mu^2),$$
#
# using $\mathbb E_q[(z-\mu)^2] = \sigma^2$ and $\mathbb E_q[z^2] = \sigma^2 + \mu^2$. The dimensions of a diagonal
# Gaussian are independent, so their KLs add:
#
# $$\mathrm{KL}\big(q(z\mid x)\,\|\,\mathcal N(0,I)\big) = \tfrac12 \sum_{j=1}^{L} \big(\mu_j^2 + \sigma_j^2 - 1 - \log\sigma_j^2\big) \ \ge 0.$$
#
# It is zero exactly when $\mu = 0, \sigma = 1$: then the code of this $x$ is pure prior noise. If that holds for
# every $x$, the code carries no information about the image.
#
# **Exercise 2.** Implement `gaussian_kl(mu, logvar)`: (B, L) each; return the KL of each image, shape (B,).

# %%
def gaussian_kl(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over latent dims: (B, L), (B, L) -> (B,)."""
    ### BEGIN SOLUTION
    return 0.5 * torch.sum(mu.pow(2) + logvar.exp() - 1.0 - logvar, dim=1)
    ### END SOLUTION


# %%
check_gaussian_kl(gaussian_kl)
### BEGIN HIDDEN TESTS
check_gaussian_kl(gaussian_kl, seed=4, shape=(3, 11))
### END HIDDEN TESTS

# %% [markdown]
# ### 2.3 The VAE's loss
#
# For a batch of images, the negative ELBO of each image is
#
# $$-\mathcal L(x) \approx \underbrace{-\log p_\theta(x \mid z)}_{\text{rec: a sum over pixels}} + \beta\,\underbrace{\mathrm{KL}\big(q(z\mid x)\,\|\,\mathcal N(0, I)\big)}_{\text{kl: a sum over latent units}}, \qquad z = \mu + \sigma\varepsilon,$$
#
# with one sample $z$ per image. The ELBO has $\beta = 1$; a deep dive changes it. Under the Bernoulli decoder,
# $-\log p_\theta(x \mid z)$ is the binary cross-entropy of the decoder's logits, summed over the pixels:
# `F.binary_cross_entropy_with_logits(logits, x, reduction="none")`, not its default, which averages. The loss to
# train on is the mean of $-\mathcal L(x)$ over the batch.
#
# **Exercise 3.** Implement `negative_elbo(model, x, beta)`. `model.encode(x)` returns `(mu, logvar)`, each (B, L),
# and `model.decode(z)` returns logits shaped like `x`. Return a dict: `"loss"` is the batch mean of rec + beta * KL;
# `"rec"` and `"kl"` are the batch means of the two terms, without beta. Use your `reparameterize` and `gaussian_kl`.

# %%
def negative_elbo(model, x, beta=1.0):
    """The VAE's loss on a batch x (B, C, H, W): dict(loss=mean(rec + beta * kl), rec=mean(rec), kl=mean(kl))."""
    ### BEGIN SOLUTION
    mu, logvar = model.encode(x)
    z = reparameterize(mu, logvar)
    logits = model.decode(z)
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    kl = gaussian_kl(mu, logvar)
    return {"loss": (rec + beta * kl).mean(), "rec": rec.mean(), "kl": kl.mean()}
    ### END SOLUTION


# %%
check_negative_elbo(negative_elbo)
### BEGIN HIDDEN TESTS
check_negative_elbo(negative_elbo, seed=5, dtype=torch.float64)
### END HIDDEN TESTS

# %% [markdown]
# From here on the notebook uses the course's versions, which your functions now match:
# the `reparameterize` and `gaussian_kl` of `course_lib.losses`, and `course_lib.losses.vae_loss(model, x, beta)`:
# your exercise 3, built on `elbo_terms`. `course_lib.models.VAE` draws $z$ in its `forward`.
#
# ### 2.4 A VAE with a 2-D latent space
# Train the autoencoder's small network as a VAE. Then draw its posterior means $\mu(x)$ of the test images and decode
# a grid of prior quantiles, as in Kingma & Welling's figure 4. Expect the codes to gather near the prior's unit
# circle, unlike the autoencoder's arbitrary scale.

# %% tags=["fig-vae-latents"]
from course_lib.losses import vae_loss


def train_vae(latent_dim, beta=1.0, desc="VAE"):
    """A VAE trained on the negative ELBO with weight beta on the KL, for CFG.steps steps (the same seed each time)."""
    torch.manual_seed(0)
    model = VAE(in_channels=1, image_size=28, latent_dim=latent_dim, hidden=CFG.hidden).to(device)
    loss_fn = lambda batch, step: vae_loss(model, batch[0], beta=beta)
    fit(loss_fn, torch.optim.Adam(model.parameters(), lr=CFG.lr), loader, steps=CFG.steps, model=model, desc=desc)
    return model.eval()


def test_elbo(model):
    """-ELBO (beta = 1) on the test images, nats per image, one sample z per image."""
    torch.manual_seed(0)
    with torch.no_grad():
        return vae_loss(model, x_test)["loss"].item()


vae2 = train_vae(latent_dim=2, desc="VAE, L=2")
with torch.no_grad():
    mu2, logvar2 = vae2.encode(x_test)
q = 0.5 + 0.45 * np.linspace(-1, 1, 12)                     # quantiles of N(0, 1), from -1.64 to 1.64
zq = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(q)).numpy()
grid2, _, _ = decode_grid(vae2.decode, [zq[0], zq[0]], [zq[-1], zq[-1]], device=device)
fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
plot_latents(mu2, y_test, test_set.class_names, ax=axes[0], title="VAE: posterior means $\\mu(x)$", box=((zq[0],) * 2,
             (zq[-1],) * 2), box_label="grid (5%-95%)")
for r in (1, 2):
    axes[0].add_patch(plt.Circle((0, 0), r, fill=False, ls=":", lw=0.8, color="gray"))
show_images(grid2, nrow=12, ax=axes[1], title="decoded grid of prior quantiles, z from -1.64 to 1.64")
plt.tight_layout()
plt.show()

# %% [markdown]
# The prior is matched in its second moment when $\operatorname{Var}(\mu) + \mathbb E[\sigma^2] = 1$ per dimension,
# so that is printed. Then two measurements of the grid. Ink is pixels above 0.2; `crispness` is the share of an
# image's ink that is confident, above 0.8: real digits score high, grey averages of several digits near 0. And how
# many grid tiles are nearly empty, and how many test codes fall outside the grid: both would be zero for a decoder
# and encoder that matched the prior.

# %%
spread = (mu2.var(0) + logvar2.exp().mean(0)).sqrt().cpu().numpy()
print(f"test -ELBO {test_elbo(vae2):.1f} nats/image; sqrt(Var(mu) + E[sigma^2]) per dimension {spread.round(2)} "
      "(the prior: 1)")
ink = lambda imgs: imgs.flatten(1).mean(1)
faint = (ink(grid2) < ink(x_test).quantile(0.05)).float().mean().item()
outside = ((mu2.abs() > zq[-1]).any(1)).float().mean().item()
crisp = {"test images": crispness(x_test).mean().item(), "grid": crispness(grid2).mean().item()}
print(f"crispness: test images {crisp['test images']:.2f}, grid {crisp['grid']:.2f}; {faint:.0%} of the grid tiles "
      f"have less ink than 95% of real digits; {outside:.0%} of test codes lie outside the grid")
print(verdict(crisp["grid"] > 0.5 * crisp["test images"],
              "The grid decodes to digit-like images.",
              "The grid decodes to grey blobs rather than digits: this 2-D model is too small or too briefly trained "
              "to draw confident strokes (try `standard`)."))
print(verdict(faint < 0.05 and outside < 0.05,
              "Encoder and decoder cover the prior's high-density region: no holes.",
              "There are holes: regions of high prior density that decode to near-empty images, or codes of real "
              "images that the prior rarely draws. Samples from there are not digits."))

# %% [markdown]
# ## 3. Blurry samples
#
# The rest of the notebook uses a VAE with $L$ = `CFG.big_latent` latent dimensions. Define **sharpness** as the
# mean image-gradient magnitude from forward differences,
# $\frac{1}{|\Omega|}\sum_{(i,j)\in\Omega} \sqrt{(x_{i,j+1}-x_{i,j})^2 + (x_{i+1,j}-x_{i,j})^2}$. It confounds blur
# with contrast: a faint grey image has small differences everywhere. So we divide each image's score by its pixel
# standard deviation (`course_lib.metrics.sharpness(x, contrast_normalized=True)`), which ignores any rescaling
# $a x + b$. Expect reconstructions to be blurrier than real digits: where $z$ is uncertain, the decoder's best
# guess is an average of several plausible images.

# %% tags=["fig-vae-samples"]
from course_lib.metrics import sharpness

vae = train_vae(latent_dim=CFG.big_latent, desc=f"VAE, L={CFG.big_latent}")
print(f"test -ELBO: {test_elbo(vae):.1f} nats/image (the 2-D VAE: {test_elbo(vae2):.1f})")
torch.manual_seed(2)
with torch.no_grad():
    sets = {"test images": x_test, "reconstructions": torch.sigmoid(vae.decode(vae.encode(x_test)[0])),
            "prior samples": vae.sample(len(x_test))}
sharp = {k: sharpness(v, contrast_normalized=True).mean().item() for k, v in sets.items()}
contrast = {k: v.flatten(1).std(1).mean().item() for k, v in sets.items()}
fig, axes = plt.subplots(3, 1, figsize=(8, 3.4))
for ax, (name, imgs) in zip(axes, sets.items()):
    show_images(imgs[:16], nrow=16, ax=ax, title=f"{name}: sharpness {sharp[name]:.2f} (contrast-normalised), "
                f"contrast {contrast[name]:.2f}")
plt.tight_layout()
plt.show()

# %%
claim(sharp["reconstructions"] < 0.9 * sharp["test images"],
      f"reconstructions are blurrier than the data: sharpness {sharp['reconstructions']:.3f} < 0.9 x "
      f"{sharp['test images']:.3f} (contrast-normalised)")
print(verdict(sharp["prior samples"] < 0.9 * sharp["test images"],
              f"Prior samples are blurrier than the data too ({sharp['prior samples']:.3f}).",
              f"Prior samples are not blurrier than the data by this measure ({sharp['prior samples']:.3f})."))
print(verdict(contrast["prior samples"] < 0.9 * contrast["reconstructions"],
              f"Prior samples are fainter than reconstructions (contrast {contrast['prior samples']:.3f} vs "
              f"{contrast['reconstructions']:.3f}): grey strokes where the decoder averages several digits.",
              f"Prior samples are not fainter than reconstructions ({contrast['prior samples']:.3f} vs "
              f"{contrast['reconstructions']:.3f})."))

# %% [markdown]
# Two reasons, both built into this model. The decoder outputs a *mean*, and pixels are independent given $z$: where
# $z$ is uncertain the best it can do is average several plausible images, blurred and faint. And the codes of real
# images do not fill $\mathcal N(0, I)$ exactly (section 2.4), so prior samples land where the decoder has rarely
# been trained.

# %% [markdown]
# ## Deep dive: the closed-form KL against Monte Carlo
# *Adds a numerical check of exercise 2's formula. The core path resumes at section 4.*
#
# Estimate $\mathrm{KL}(q(z\mid x)\,\|\,p(z)) = \mathbb E_q[\log q(z\mid x) - \log p(z)]$ for 64 test images by
# averaging over `CFG.mc_samples` draws of $z$ from each posterior. The estimate's standard error comes from the same
# draws; the closed form must lie within a few of them, whatever the training did.

# %%
from course_lib.losses import gaussian_kl as gaussian_kl_lib

with torch.no_grad():
    mu, logvar = vae.encode(x_test[:64])
    q_z = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p_z = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    z = q_z.sample((CFG.mc_samples,))                           # (S, 64, L)
    log_ratio = (q_z.log_prob(z) - p_z.log_prob(z)).sum(-1)     # (S, 64)
    kl_mc, kl_se = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(CFG.mc_samples)
    kl_closed = gaussian_kl_lib(mu, logvar)
z_scores = (kl_mc - kl_closed).abs() / kl_se
print(f"mean KL over 64 images: closed form {kl_closed.mean():.3f}, Monte Carlo {kl_mc.mean():.3f} nats; "
      f"largest |difference| / standard error {z_scores.max():.2f}")
claim((z_scores < 5).all(), f"closed-form KL within 5 standard errors of Monte Carlo for all 64 images "
      f"(largest: {z_scores.max():.2f})", kind="demonstration");

# %% [markdown]
# ## Deep dive: walk the latent plane
# *Adds an interactive traversal of the 2-D VAE. The core path resumes at section 4.*
#
# Move the sliders to walk through the latent plane; the red cross marks $z$, the dashed box the grid of section 2.4.
# Without widgets (a static page) the figure shows the default position.

# %%
from course_lib.explorers import Slider, explorer


def draw_traversal(z1=0.0, z2=0.0):
    """The latent plane with z marked, and decode(z): returns the Figure."""
    with torch.no_grad():
        img = torch.sigmoid(vae2.decode(torch.tensor([[z1, z2]], dtype=torch.float32, device=device)))[0, 0].cpu()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), gridspec_kw=dict(width_ratios=[1.5, 1]))
    plot_latents(mu2, y_test, test_set.class_names, ax=axes[0], title="latent plane", box=((zq[0],) * 2, (zq[-1],) * 2))
    axes[0].plot([z1], [z2], "rx", ms=12, mew=3)
    axes[1].imshow(img, cmap="gray", vmin=0, vmax=1)
    axes[1].set_title(f"decode(z = ({z1:.1f}, {z2:.1f}))")
    axes[1].set_axis_off()
    fig.tight_layout()
    return fig


lim = max(3.0, float(mu2.abs().max()) + 0.5)   # the slider covers every code, and at least +-3
explorer(draw_traversal, z1=Slider(-lim, lim, 0.5, step=0.1, label="$z_1$"),
         z2=Slider(-lim, lim, -1.0, step=0.1, label="$z_2$"));

# %% [markdown]
# ## Deep dive: beta-VAE and inactive units
# *Adds what a larger KL weight does to the latent units. The core path resumes at section 4.*
#
# Higgins et al. (2017) weight the KL term: loss = rec + $\beta$ KL. With $\beta > 1$ the codes are pushed harder
# towards the prior. A dimension whose $q(z_j\mid x)$ equals the prior for every $x$ carries no information, costs
# no KL, and the decoder learns to ignore it: an **inactive unit**. Burda, Grosse & Salakhutdinov (2015) call unit $j$
# **active** when $A_j = \operatorname{Var}_x\big(\mathbb E_{q(z\mid x)}[z_j]\big) > 0.01$. This differs from the
# collapse Bowman et al. (2015) describe, where a strong LSTM decoder models $x$ without $z$ at $\beta = 1$. We train
# the $L$ = `CFG.big_latent` VAE again with a deliberately large $\beta$ = `CFG.big_beta` and count. Expect fewer
# active units, perhaps none.

# %% tags=["fig-active-units"]
from course_lib.latents import active_units

vae_beta = train_vae(latent_dim=CFG.big_latent, beta=CFG.big_beta, desc=f"beta-VAE, beta={CFG.big_beta:g}")
results = {}
for beta, model in [(1.0, vae), (CFG.big_beta, vae_beta)]:
    n_active, a, kl_u = active_units(model, x_test)
    results[beta] = dict(active=n_active, A=a, kl=kl_u)
    print(f"beta={beta:5g}: {n_active:2d}/{CFG.big_latent} units active, KL {kl_u.sum():.2f} nats/image, "
          f"test -ELBO {test_elbo(model):.1f}")

fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
units = np.arange(CFG.big_latent)
for i, beta in enumerate(results):
    axes[0].bar(units + (i - 0.5) * 0.4, results[beta]["A"].numpy(), width=0.4, label=f"beta={beta:g}")
    axes[1].bar(units + (i - 0.5) * 0.4, results[beta]["kl"].numpy(), width=0.4, label=f"beta={beta:g}")
axes[0].axhline(0.01, color="k", ls="--", lw=0.8)
axes[0].set_yscale("log")
axes[0].set_title("activity $A_j$ = Var$_x$($\\mu_j(x)$) (dashed: 0.01)")
axes[1].set_title("mean KL per unit (nats)")
for ax in axes:
    ax.set_xlabel("latent unit $j$")
axes[1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
plt.tight_layout()
plt.show()

# %%
n1, nb = results[1.0]["active"], results[CFG.big_beta]["active"]
claim(nb < n1, f"active units: {nb} with beta={CFG.big_beta:g} < {n1} with beta=1")
print(verdict(nb == 0, f"beta={CFG.big_beta:g} switched off every unit: the whole posterior fell back to the prior.",
              f"beta={CFG.big_beta:g} switched off {n1 - nb} of the {n1} units active at beta=1; only {nb} still "
              f"carr{'ies' if nb == 1 else 'y'} information (total KL {results[CFG.big_beta]['kl'].sum():.2f} nats)."))

# %% [markdown]
# A traversal shows what "inactive" means: each row decodes $\mu(x)$ of one test image with one unit moved from -3 to
# 3. Rows of active units change the image; rows of inactive units do not.

# %%
def traversal_rows(model, x, units, values=np.linspace(-3, 3, 9)):
    with torch.no_grad():
        z = model.encode(x[:1])[0].repeat(len(units) * len(values), 1)
        for r, u in enumerate(units):
            z[r * len(values):(r + 1) * len(values), u] = torch.tensor(values, dtype=z.dtype, device=z.device)
        return torch.sigmoid(model.decode(z))


fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for ax, beta, model in [(axes[0], 1.0, vae), (axes[1], CFG.big_beta, vae_beta)]:
    order = torch.argsort(results[beta]["A"], descending=True)
    units = [int(order[0]), int(order[1]), int(order[-2]), int(order[-1])]  # two most, two least active
    show_images(traversal_rows(model, x_test, units), nrow=9, ax=ax,
                title=f"beta={beta:g}: rows = units " + ", ".join(f"{u} (A={results[beta]['A'][u]:.2g})" for u in units)
                + "\ncolumns: z_j = -3 ... 3")
    ax.title.set_fontsize(9)
plt.show()

# %% [markdown]
# ## 4. What discrete latents change, and what they do not
#
# The VQ-VAE (van den Oord, Vinyals & Kavukcuoglu 2017) replaces the Gaussian code by a *grid of discrete codes*,
# each the index of a vector in a learned codebook of size $K$. With a uniform prior and a one-hot posterior, the KL
# term becomes the constant $\log K$ per position (notebook 03), so no KL weight pushes codes towards the prior.
# Discrete latents bring a **fixed rate**, $\lceil\log_2 K\rceil$ bits per position (notebook 04), and a grid of
# **tokens** that a powerful prior can model (notebooks 06 and 12).
#
# What they do not fix by themselves:
# - **Blur.** A VQ-VAE trained with a pixel loss is blurry too (notebook 04): blur comes from averaging plausible
#   images under a pixel loss. Perceptual and adversarial losses (notebooks 07-09) sharpen reconstructions.
# - **Collapse.** A codebook can collapse: most codes are never chosen, and the rate is far below $\log_2 K$
#   (notebook 05).
#
# And there is no Gaussian prior to sample from any more: a second model learns the distribution of code grids
# (notebooks 06 and 12). The next notebook builds the core operation: nearest-code assignment and k-means.

# %% [markdown]
# ## Summary
# - An autoencoder compresses, but leaves no distribution to sample codes from.
# - The VAE maximises the ELBO, $\mathbb E_q[\log p(x\mid z)] - \mathrm{KL}(q(z\mid x)\,\|\,p(z)) \le \log p(x)$,
#   with a reparameterised sample and a closed-form KL; you wrote its loss.
# - Measured: reconstructions are blurrier than the data, with contrast factored out.

# %% [markdown]
# ## Exercises
# Solved above (each with a check): **1.** `reparameterize`; **2.** `gaussian_kl`; **3.** `negative_elbo`.
#
# More to try:
# 4. Train with `vae_loss(model, x, likelihood="gaussian", sigma=s)` for `s` = 1.0 and 0.1. How do reconstructions
#    and the KL change? (Hint: times $\sigma^2$, the Gaussian loss is $\frac12|x-\mu|^2 + \sigma^2\,\mathrm{KL}$.)
# 5. Set `big_beta` in the settings table to 4 and to 10. How many units stay active? Plot active units and the
#    reconstruction loss against beta.
# 6. KL annealing (Bowman et al. 2015): ramp beta from 0 to 1 over the first half of training in `train_vae`'s
#    `loss_fn` (it gets `step`). Does it keep more units active?
# 7. Estimate $\log p(x)$ by importance sampling with $k$ = 100 samples from $q$ (Burda et al. 2015) and check that it
#    is above the ELBO on average over the test images.

# %% [markdown]
# ## Further reading
#
# - D. P. Kingma, M. Welling (2013). *Auto-Encoding Variational Bayes.* arXiv:1312.6114.
# - D. J. Rezende, S. Mohamed, D. Wierstra (2014). *Stochastic Backpropagation and Approximate Inference in Deep
#   Generative Models.* arXiv:1401.4082.
# - D. P. Kingma, M. Welling (2019). *An Introduction to Variational Autoencoders.* arXiv:1906.02691 (section 2.4
#   on why reparameterisation beats the score-function gradient).
# - R. J. Williams (1992). *Simple statistical gradient-following algorithms for connectionist reinforcement
#   learning.* Machine Learning 8 (the score-function estimator, REINFORCE).
# - D. E. Rumelhart, G. E. Hinton, R. J. Williams (1986). *Learning representations by back-propagating errors.*
#   Nature 323.
# - G. E. Hinton, R. R. Salakhutdinov (2006). *Reducing the Dimensionality of Data with Neural Networks.* Science 313.
# - I. Higgins et al. (2017). *beta-VAE: Learning Basic Visual Concepts with a Constrained Variational Framework.* ICLR.
# - Y. Burda, R. Grosse, R. Salakhutdinov (2015). *Importance Weighted Autoencoders.* arXiv:1509.00519.
# - S. R. Bowman et al. (2015). *Generating Sentences from a Continuous Space.* arXiv:1511.06349 (the KL term
#   falling to zero with an LSTM decoder; KL annealing).
# - A. van den Oord, O. Vinyals, K. Kavukcuoglu (2017). *Neural Discrete Representation Learning.* arXiv:1711.00937.
