# %% [markdown]
# # 01 · Autoencoders and the VAE
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-to-vqgan/course/blob/v0.2.0/notebooks/student/01_autoencoders_and_vae.ipynb)
#
# **Learning objectives.** After this notebook you can
# - train a deterministic autoencoder and explain why it gives no way to *sample* new images;
# - derive the evidence lower bound (ELBO) of a variational autoencoder (VAE) and name its two terms;
# - implement the reparameterisation trick and the closed-form Gaussian KL divergence, and check the KL against
#   a Monte Carlo estimate;
# - read a 2-D latent space (test points coloured by class, a latent traversal, samples from the prior);
# - measure two weaknesses of this Gaussian VAE: **blurry samples** (with a sharpness measure that does not confuse
#   blur with low contrast) and **inactive latent units** under a large KL weight (beta-VAE, active units);
# - say what the discrete latents of the rest of the course change (a fixed rate, tokens for a prior) and what they
#   do not (blur is fixed by the losses of notebooks 07-11, and codebooks can collapse too, notebook 05).
#
# **Prerequisites.** Notebook 00 (set-up, profiles, how checks work); PyTorch modules, autograd and optimisers;
# Gaussians, expectations and the KL divergence at the level of a first probability course.
#
# **Estimated time.** Core path about 63 min (estimated from this notebook by `make stats`). Machine: about 44 s under
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
# Every size in this notebook comes from the table below: one column per profile, the active one in brackets.
# `steps` is the number of training steps of *each* of the four models trained here.

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
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from course_lib.data import load_dataset, make_loader
from course_lib.models import VAE, AutoEncoder
from course_lib.train import fit
from course_lib.viz import show_images, show_pairs

device = ENV.device
train_set = load_dataset(CFG.dataset, "train", n=CFG.n_train)
test_set = load_dataset(CFG.dataset, "test", n=CFG.n_test)
print(train_set.display_name, "|", test_set.display_name)
loader = make_loader(train_set, batch_size=CFG.batch_size, shuffle=True, seed=0, device=device)
x_test, y_test = test_set.x.to(device), test_set.y
show_images(x_test[:32], nrow=16, title=f"{train_set.name}: test images")
plt.show()

# %% [markdown]
# ## 1. A deterministic autoencoder
#
# An autoencoder compresses an image $x$ into a short code $z = f_\phi(x)$ (here 2 numbers) and decodes it back,
# $\hat x = g_\theta(z)$ (Hinton & Salakhutdinov 2006). `course_lib.models.AutoEncoder` is two stride-2
# convolutions, a linear layer to $z$, and the mirror image back. Its decoder returns **logits**: MNIST pixels are
# nearly binary, so we treat each pixel as a Bernoulli variable with probability $\sigma(\text{logit})$ and train
# with the binary cross-entropy summed over pixels (the loss is in nats per image).
#
# A caveat on those nats: MNIST pixels are grey levels in [0, 1], not 0/1, and the cross-entropy with a grey target
# is not the log-likelihood of a normalised distribution over grey images. It is the usual convention (Kingma &
# Welling 2013 train this way), and it trains well, but every "nats" figure below, the ELBO included, is
# approximate; binarising the images (`x.bernoulli()` or `x > 0.5`) would make it an exact likelihood.

# %%
torch.manual_seed(0)
ae = AutoEncoder(in_channels=1, image_size=28, latent_dim=2, hidden=CFG.hidden).to(device)


def ae_loss(batch, step):
    x, _ = batch
    logits = ae(x)
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
    return {"loss": rec}


t0 = time.perf_counter()
ae_history = fit(ae_loss, torch.optim.Adam(ae.parameters(), lr=CFG.lr), loader, steps=CFG.steps, model=ae, desc="AE")
print(f"trained in {time.perf_counter() - t0:.1f} s; final loss {ae_history.mean('loss', last=5):.1f} nats/image")

# %%
ae.eval()
with torch.no_grad():
    z_ae = ae.encode(x_test)
    x_ae = torch.sigmoid(ae.decode(z_ae))
show_pairs(x_test, x_ae, n=12, titles=("test image", "AE reconstruction (2 numbers per image)"))
plt.show()


# %% [markdown]
# Where do the codes lie? Below, every test image is a dot at its code $z$, coloured by its class. The classes form
# clusters, but nothing tells us *which region* of the plane holds images: the codes have an arbitrary scale and
# gaps. To make a new image we would have to pick a $z$, and the autoencoder gives no distribution to pick it from.
# The right panel decodes a regular grid over the box that contains the codes: many grid points decode to smudges.

# %%
def plot_latents(z, y, class_names, ax, title):
    z, y = z.detach().cpu().numpy(), y.cpu().numpy()
    for c in range(len(class_names)):
        m = y == c
        ax.scatter(z[m, 0], z[m, 1], s=4, alpha=0.6, label=class_names[c], color=plt.cm.tab10(c))
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(title)
    ax.legend(markerscale=3, fontsize=7, loc="best", ncol=2)


def decode_grid(decode, lo, hi, n=12):
    """Decode an n x n grid of 2-D latents spanning [lo, hi] (two (2,) arrays); returns (n*n, 1, H, W) in [0, 1]."""
    g1, g2 = np.linspace(lo[0], hi[0], n), np.linspace(hi[1], lo[1], n)
    z = torch.tensor([[a, b] for b in g2 for a in g1], dtype=torch.float32, device=device)
    with torch.no_grad():
        return torch.sigmoid(decode(z))


fig, axes = plt.subplots(1, 2, figsize=(11, 5))
plot_latents(z_ae, y_test, test_set.class_names, axes[0], "AE codes of test images")
lo, hi = z_ae.min(0).values.cpu().numpy(), z_ae.max(0).values.cpu().numpy()
show_images(decode_grid(ae.decode, lo, hi), nrow=12, ax=axes[1], title="AE: decoding a grid over the codes' box")
plt.tight_layout()
plt.show()
print("range of the AE codes:", np.round(lo, 1), "to", np.round(hi, 1))

# %% [markdown]
# ## 2. The variational autoencoder
#
# A VAE (Kingma & Welling 2013; Rezende, Mohamed & Wierstra 2014) makes the autoencoder a **generative model**
# with a distribution to sample from:
#
# $$p(z) = \mathcal N(0, I), \qquad p_\theta(x \mid z) = \prod_{\text{pixels } i} \mathrm{Bernoulli}\big(x_i;\ \sigma(g_\theta(z)_i)\big).$$
#
# Training should maximise the log-likelihood $\log p_\theta(x) = \log \int p_\theta(x\mid z)\,p(z)\,dz$, but the
# integral is intractable, and so is the posterior $p_\theta(z\mid x)$. The encoder therefore outputs an
# approximation, a diagonal Gaussian $q_\phi(z \mid x) = \mathcal N\big(\mu_\phi(x), \operatorname{diag}\sigma^2_\phi(x)\big)$
# (it outputs $\mu$ and $\log \sigma^2$, "logvar", so that the variance is always positive).
#
# **The ELBO.** For any $q$, multiply and divide inside the log and take the expectation under $q$:
#
# $$\log p_\theta(x) = \mathbb E_{q_\phi(z\mid x)}\Big[\log \frac{p_\theta(x, z)}{q_\phi(z\mid x)}\Big]
#   + \mathbb E_{q_\phi(z\mid x)}\Big[\log \frac{q_\phi(z\mid x)}{p_\theta(z\mid x)}\Big]
#   = \mathcal L(\theta, \phi; x) + \mathrm{KL}\big(q_\phi(z\mid x)\,\|\,p_\theta(z\mid x)\big).$$
#
# (Check: the two log-ratios add up to $\log p_\theta(x, z) - \log p_\theta(z \mid x) = \log p_\theta(x)$, which does
# not depend on $z$.) A KL divergence is $\ge 0$, so $\mathcal L \le \log p_\theta(x)$: $\mathcal L$ is the
# **evidence lower bound**. Splitting $p_\theta(x, z) = p_\theta(x\mid z)\,p(z)$:
#
# $$\mathcal L(\theta,\phi;x) = \underbrace{\mathbb E_{q_\phi(z\mid x)}\big[\log p_\theta(x\mid z)\big]}_{-\text{reconstruction loss}}
#   \;-\; \underbrace{\mathrm{KL}\big(q_\phi(z\mid x)\,\|\,p(z)\big)}_{\text{keeps codes near the prior}}.$$
#
# We minimise $-\mathcal L$ = reconstruction + KL. The first term is the autoencoder's loss with a *noisy* code;
# the second pulls every $q(z\mid x)$ towards $\mathcal N(0, I)$, so that the codes fill the region we will sample
# from. Maximising $\mathcal L$ over $\phi$ also shrinks the gap $\mathrm{KL}(q\,\|\,p_\theta(z\mid x))$.
#
# ### 2.1 The reparameterisation trick
#
# The reconstruction term is an expectation over $z \sim q_\phi(z\mid x)$, estimated with one sample per image. To
# differentiate through the sampling, write the sample as a deterministic function of $(\mu, \sigma)$ and noise
# that does not depend on them:
#
# $$z = \mu + \sigma \odot \varepsilon, \qquad \varepsilon \sim \mathcal N(0, I), \qquad \sigma = \exp(\tfrac12 \log\sigma^2).$$
#
# Then $\partial z/\partial \mu = 1$ and $\partial z/\partial \log\sigma^2 = \tfrac12 \sigma\varepsilon$: gradients
# reach the encoder.
#
# **Exercise 1.** Implement `reparameterize(mu, logvar)`: both (B, L); return z of shape (B, L).

# %%
def reparameterize(mu, logvar):
    """z = mu + exp(logvar / 2) * eps with eps ~ N(0, I); mu, logvar: (B, L) -> z: (B, L)."""
    ### BEGIN SOLUTION
    std = torch.exp(0.5 * logvar)
    eps = torch.randn_like(std)
    return mu + std * eps
    ### END SOLUTION


# %%
from course_lib.checks.vae import check_gaussian_kl, check_reparameterize

check_reparameterize(reparameterize)
### BEGIN HIDDEN TESTS
check_reparameterize(reparameterize, seed=3)
### END HIDDEN TESTS

# %% [markdown]
# ### 2.2 The KL term in closed form
#
# For one latent dimension, $q = \mathcal N(\mu, \sigma^2)$ and $p = \mathcal N(0, 1)$:
#
# $$\mathrm{KL}(q\,\|\,p) = \mathbb E_q[\log q(z) - \log p(z)]
#  = \mathbb E_q\Big[-\tfrac12\log(2\pi\sigma^2) - \tfrac{(z-\mu)^2}{2\sigma^2} + \tfrac12\log(2\pi) + \tfrac{z^2}{2}\Big]
#  = -\tfrac12\log\sigma^2 - \tfrac12 + \tfrac12(\sigma^2 + \mu^2),$$
#
# using $\mathbb E_q[(z-\mu)^2] = \sigma^2$ and $\mathbb E_q[z^2] = \sigma^2 + \mu^2$. With a diagonal Gaussian the
# dimensions are independent and their KLs add:
#
# $$\mathrm{KL}\big(q(z\mid x)\,\|\,\mathcal N(0,I)\big) = \tfrac12 \sum_{j=1}^{L} \big(\mu_j^2 + \sigma_j^2 - 1 - \log\sigma_j^2\big) \ \ge 0,$$
#
# zero exactly when $\mu = 0, \sigma = 1$, i.e. when the code carries no information about $x$.
#
# **Exercise 2.** Implement `gaussian_kl(mu, logvar)`: (B, L) each, return the KL of each image, shape (B,).

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
# From here on the notebook uses the course's versions, `course_lib.losses.reparameterize` / `gaussian_kl`
# (identical to the solutions), and `elbo_terms`, which returns the negative ELBO split into its terms (means over
# the batch, in nats per image). `course_lib.models.VAE` calls `reparameterize` in its `forward`.

# %%
from course_lib.claims import claim, verdict
from course_lib.losses import elbo_terms
from course_lib.losses import gaussian_kl as gaussian_kl_lib


def train_vae(latent_dim, beta, desc):
    """A VAE trained with loss = rec + beta * KL for CFG.steps steps (the same seed for every run)."""
    torch.manual_seed(0)
    model = VAE(in_channels=1, image_size=28, latent_dim=latent_dim, hidden=CFG.hidden).to(device)

    def loss_fn(batch, step):
        x, _ = batch
        out = model(x)
        return elbo_terms(x, out.x_logits, out.mu, out.logvar, likelihood="bernoulli", beta=beta)

    hist = fit(loss_fn, torch.optim.Adam(model.parameters(), lr=CFG.lr), loader, steps=CFG.steps, model=model, desc=desc)
    model.eval()
    return model, hist


def test_elbo(model, x=None, seed=0):
    """The negative ELBO (beta = 1) on the TEST images, nats per image: (rec, KL, rec + KL), one z per image."""
    x = x_test if x is None else x
    torch.manual_seed(seed)
    with torch.no_grad():
        out = model(x)
        t = elbo_terms(x, out.x_logits, out.mu, out.logvar, likelihood="bernoulli", beta=1.0)
    return t["rec"].item(), t["kl"].item(), (t["rec"] + t["kl"]).item()


# %% [markdown]
# ### 2.3 A VAE with a 2-D latent space

# %%
t0 = time.perf_counter()
vae2, vae2_history = train_vae(latent_dim=2, beta=1.0, desc="VAE, L=2")
print(f"trained in {time.perf_counter() - t0:.1f} s; last training batches: rec {vae2_history.mean('rec', last=5):.1f}, "
      f"KL {vae2_history.mean('kl', last=5):.2f} nats/image")
rec_t, kl_t, nelbo_t = test_elbo(vae2)
print(f"test set ({len(x_test)} images): rec {rec_t:.1f} + KL {kl_t:.2f} = -ELBO {nelbo_t:.1f} nats/image")
vae2_history.plot()
plt.show()

# %%
with torch.no_grad():
    mu2, logvar2 = vae2.encode(x_test)
    x_vae2 = torch.sigmoid(vae2.decode(mu2))
show_pairs(x_test, (x_ae, x_vae2), n=12, titles=("test image", "AE reconstruction", "VAE reconstruction (decode mu)"))
plt.show()

fig, axes = plt.subplots(1, 2, figsize=(11, 5))
plot_latents(mu2, y_test, test_set.class_names, axes[0], "VAE: posterior means $\\mu(x)$ of test images")
theta = np.linspace(0, 2 * np.pi, 200)
for r in (1, 2):
    axes[0].plot(r * np.cos(theta), r * np.sin(theta), "k--", lw=0.8)
q = 0.5 + 0.45 * np.linspace(-1, 1, 12)  # quantiles of N(0, 1), as in Kingma & Welling's figure 4
zq = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(q)).numpy()
show_images(decode_grid(vae2.decode, [zq[0], zq[0]], [zq[-1], zq[-1]]), nrow=12, ax=axes[1],
            title="VAE: decoding a grid of prior quantiles")
plt.tight_layout()
plt.show()
print(f"std of the posterior means per dimension: {mu2.std(0).cpu().numpy().round(2)} (prior: 1); "
      f"mean posterior std: {torch.exp(0.5 * logvar2).mean(0).cpu().numpy().round(2)}")

# Do the grid's images look like digits? A measurement rather than an impression. A digit is drawn with confident
# strokes (pixels near 1); an average of several digits is a grey blob. `crispness` = the fraction of an image's
# ink (pixels above 0.2) that is confident (above 0.8).


def crispness(p):
    """(N, 1, H, W) pixel values in [0, 1] -> (N,): confident ink (> 0.8) / all ink (> 0.2)."""
    ink = (p > 0.2).flatten(1).sum(1)
    return (p > 0.8).flatten(1).sum(1) / ink.clamp_min(1)


grid_imgs = decode_grid(vae2.decode, [zq[0], zq[0]], [zq[-1], zq[-1]])
crisp2 = {"test images": crispness(x_test).mean().item(), "reconstructions": crispness(x_vae2).mean().item(),
          "prior-quantile grid": crispness(grid_imgs).mean().item()}
print("crispness:", ", ".join(f"{k} {v:.2f}" for k, v in crisp2.items()))
print(verdict(crisp2["prior-quantile grid"] > 0.5 * crisp2["test images"],
              "The grid decodes to digit-like images throughout: the decoder covers the region we sample from.",
              "The grid decodes to grey, blurred blobs rather than digits (crispness "
              f"{crisp2['prior-quantile grid']:.2f} vs {crisp2['test images']:.2f} for real digits): this 2-D model "
              "is too small or too briefly trained to draw confident strokes (try `standard`)."))

# %% [markdown]
# The KL term pulls the codes towards the prior (dashed circles: its 1 and 2 standard deviations): unlike the
# autoencoder's codes, they now have a fixed scale, and each image is a small cloud (posterior std above) rather
# than a point. After a short `quick` run the cloud of codes may still sit off-centre; longer runs (`standard`)
# centre it. On the right, a grid over the prior's quantiles: every grid point decodes to *something* (there are no
# empty regions as in the autoencoder's box), but whether those are digits or blobs is a question for a
# measurement, and its verdict is printed above.
#
# **Latent traversal.** Move the sliders to walk through the latent plane; the red cross shows where $z$ is.
# (`course_lib.explorers.explorer` draws the figure once at the default values, so it appears in a
# non-interactive run too, and adds the sliders where widgets run.)

# %%
from course_lib.explorers import Slider, explorer


def draw_traversal(z1=0.0, z2=0.0):
    """The latent plane with z marked, and decode(z): returns the Figure."""
    z = torch.tensor([[z1, z2]], dtype=torch.float32, device=device)
    with torch.no_grad():
        img = torch.sigmoid(vae2.decode(z))[0, 0].cpu()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
    m = mu2.cpu().numpy()
    axes[0].scatter(m[:, 0], m[:, 1], s=2, c=y_test.numpy(), cmap="tab10", alpha=0.4)
    axes[0].plot([z1], [z2], "rx", ms=12, mew=3)
    axes[0].set_xlim(-3.5, 3.5)
    axes[0].set_ylim(-3.5, 3.5)
    axes[0].set_xlabel("$z_1$")
    axes[0].set_ylabel("$z_2$")
    axes[0].set_title("latent plane")
    axes[1].imshow(img, cmap="gray", vmin=0, vmax=1)
    axes[1].set_title(f"decode(z = ({z1:.1f}, {z2:.1f}))")
    axes[1].set_axis_off()
    fig.tight_layout()
    return fig


explorer(draw_traversal, z1=Slider(-3.0, 3.0, 0.5, step=0.1, label="$z_1$"),
         z2=Slider(-3.0, 3.0, -1.0, step=0.1, label="$z_2$"));

# %% [markdown]
# **Samples from the prior.** Generating is now two lines: draw $z \sim \mathcal N(0, I)$ and decode
# (`VAE.sample` returns the pixel probabilities $\sigma(g_\theta(z))$, the mean of the Bernoulli decoder). With two
# latent numbers these are the same kind of images as the grid above (blobs or digits, by the verdict there).

# %%
torch.manual_seed(1)
show_images(vae2.sample(32), nrow=16, title="VAE (L=2): samples from the prior")
plt.show()

# %% [markdown]
# ### 2.4 Check: the closed-form KL equals a Monte Carlo estimate
#
# We train a VAE with a larger latent space ($L$ = `CFG.big_latent`), used for the rest of the notebook, and
# estimate $\mathrm{KL}(q(z\mid x)\,\|\,p(z)) = \mathbb E_q[\log q(z\mid x) - \log p(z)]$ for 64 test images by
# averaging over `CFG.mc_samples` draws of $z$ from each posterior. The estimate has a standard error we can
# compute from the same draws; the closed form must lie within a few of them.

# %%
t0 = time.perf_counter()
vae, vae_history = train_vae(latent_dim=CFG.big_latent, beta=1.0, desc=f"VAE, L={CFG.big_latent}")
print(f"trained in {time.perf_counter() - t0:.1f} s; last training batches: rec {vae_history.mean('rec', last=5):.1f}, "
      f"KL {vae_history.mean('kl', last=5):.2f} nats/image")
rec_t, kl_t, nelbo_t = test_elbo(vae)
print(f"test set: rec {rec_t:.1f} + KL {kl_t:.2f} = -ELBO {nelbo_t:.1f} nats/image "
      f"(the 2-D VAE: {test_elbo(vae2)[2]:.1f})")

with torch.no_grad():
    mu, logvar = vae.encode(x_test[:64])
    q_z = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p_z = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    z = q_z.sample((CFG.mc_samples,))  # (S, 64, L)
    log_ratio = (q_z.log_prob(z) - p_z.log_prob(z)).sum(-1)  # (S, 64)
    kl_mc = log_ratio.mean(0)
    kl_se = log_ratio.std(0) / math.sqrt(CFG.mc_samples)
    kl_closed = gaussian_kl_lib(mu, logvar)

print(f"mean KL over 64 images: closed form {kl_closed.mean():.3f}, Monte Carlo {kl_mc.mean():.3f} nats")
print(f"largest |difference| / standard error: {((kl_mc - kl_closed).abs() / kl_se).max():.2f}")

# %%
# CHECK: the closed form agrees with the Monte Carlo estimate for every image (within 5 standard errors),
# and on average to within 1%.
z_scores = (kl_mc - kl_closed).abs() / kl_se
claim((z_scores < 5).all(), f"closed-form KL within 5 standard errors of Monte Carlo for all images "
      f"(largest: {z_scores.max():.2f})")
claim(abs(kl_mc.mean() - kl_closed.mean()) < 0.01 * kl_closed.mean(),
      f"mean KL: Monte Carlo {kl_mc.mean():.3f} within 1% of closed form {kl_closed.mean():.3f}")
print(verdict((z_scores < 5).all(), f"closed-form KL == Monte Carlo KL (within sampling error) for all {len(kl_mc)} images",
              "closed-form and Monte Carlo KL disagree beyond sampling error"))

# %% [markdown]
# ## 3. Blurry and faint: measure the VAE's images
#
# A sharp image has large differences between neighbouring pixels; a blurry one does not. Define
# **sharpness** as the mean image-gradient magnitude, from forward differences:
# $\ \frac{1}{|\Omega|}\sum_{(i,j)\in\Omega} \sqrt{(x_{i,j+1}-x_{i,j})^2 + (x_{i+1,j}-x_{i,j})^2}$
# over the positions where both differences exist. We write it by hand, check that it equals
# `course_lib.metrics.sharpness`, and compare test images, reconstructions ($\sigma(\text{decode}(\mu(x)))$) and
# samples from the prior, all with the $L$ = `CFG.big_latent` VAE.
#
# This measure confounds blur with **contrast**: a faint grey image (pixel probabilities near 0.5) has small
# differences everywhere even if its edges are crisp. So we also report the **contrast-normalised** sharpness,
# the same number divided by each image's pixel standard deviation (`sharpness(x, contrast_normalized=True)`),
# which does not change when an image is rescaled as $a x + b$; the claims below use that one.

# %%
def sharpness_by_hand(x):
    dx = x[..., :-1, 1:] - x[..., :-1, :-1]
    dy = x[..., 1:, :-1] - x[..., :-1, :-1]
    return torch.sqrt(dx**2 + dy**2).flatten(1).mean(1)


from course_lib.metrics import sharpness

assert torch.allclose(sharpness_by_hand(x_test), sharpness(x_test), atol=1e-6)

torch.manual_seed(2)
with torch.no_grad():
    mu_all, _ = vae.encode(x_test)
    recon = torch.sigmoid(vae.decode(mu_all))
    samples = vae.sample(len(x_test))
sets = {"test images": x_test, "reconstructions": recon, "prior samples": samples}
sharp = {k: sharpness(v).mean().item() for k, v in sets.items()}
sharp_cn = {k: sharpness(v, contrast_normalized=True).mean().item() for k, v in sets.items()}
contrast = {k: v.flatten(1).std(1).mean().item() for k, v in sets.items()}
crisp = {k: crispness(v).mean().item() for k, v in sets.items()}
from IPython.display import Markdown, display

display(Markdown("| | sharpness | contrast (pixel std) | contrast-normalised sharpness | crispness |\n|---|---:|---:|---:|---:|\n"
                 + "\n".join(f"| {k} | {sharp[k]:.4f} | {contrast[k]:.4f} | {sharp_cn[k]:.3f} | {crisp[k]:.2f} |"
                              for k in sets)))

fig, axes = plt.subplots(3, 1, figsize=(8, 3.4))
for ax, (title, imgs) in zip(axes, sets.items()):
    show_images(imgs[:16], nrow=16, ax=ax, title=f"{title}: sharpness {sharp[title]:.3f}, "
                f"{sharp_cn[title]:.2f} contrast-normalised, crispness {crisp[title]:.2f}")
plt.tight_layout()
plt.show()

# %%
# CHECK (measured), two separate comparisons, each with a 10% margin:
# reconstructions are blurrier than the data even with contrast factored out, and prior samples are less sharp
# than reconstructions by the plain measure (which counts faint, grey strokes as well as blur).
claim(sharp_cn["reconstructions"] < 0.9 * sharp_cn["test images"],
      f"contrast-normalised: reconstructions {sharp_cn['reconstructions']:.3f} < 0.9 x test images "
      f"{sharp_cn['test images']:.3f}")
claim(sharp["prior samples"] < 0.9 * sharp["reconstructions"],
      f"plain sharpness: prior samples {sharp['prior samples']:.4f} < 0.9 x reconstructions {sharp['reconstructions']:.4f}")
print(verdict(sharp_cn["prior samples"] < 0.9 * sharp_cn["reconstructions"],
              "With contrast factored out, prior samples are blurrier than reconstructions too.",
              "With contrast factored out, prior samples are NOT blurrier than reconstructions "
              f"({sharp_cn['prior samples']:.3f} vs {sharp_cn['reconstructions']:.3f})."))
print(verdict(contrast["prior samples"] < 0.9 * contrast["reconstructions"],
              f"Prior samples are fainter (pixel std {contrast['prior samples']:.3f} vs {contrast['reconstructions']:.3f}): "
              "grey strokes where the decoder averages several digits, which the plain measure counts as blur.",
              f"Prior samples are not fainter than reconstructions (pixel std {contrast['prior samples']:.3f} vs "
              f"{contrast['reconstructions']:.3f})."))
print(verdict(crisp["prior samples"] < 0.9 * crisp["reconstructions"],
              f"Prior samples have less confident ink than reconstructions (crispness {crisp['prior samples']:.2f} vs "
              f"{crisp['reconstructions']:.2f}).",
              f"Prior samples are as crisp as reconstructions ({crisp['prior samples']:.2f} vs {crisp['reconstructions']:.2f})."))

# %% [markdown]
# Two reasons, both built into this model: (1) the decoder outputs a *mean* (pixel probabilities) and pixels are
# independent given $z$, so where $z$ is uncertain the best it can do is average several plausible images, which
# is both blurred (edges in different places) and faint (strokes in different places, so no pixel is confidently
# on); (2) the aggregate posterior $\frac1N\sum_n q(z\mid x_n)$ does not fill $\mathcal N(0, I)$ exactly, so prior
# samples land in regions the decoder has rarely seen and produce in-between images. The contrast-normalised
# measure and the crispness above separate the two looks of that averaging: blur and faintness. (In the 2-D VAE both effects are so strong
# that reconstructions are as blurry as samples; that is why we compare with the larger latent space.)
#
# ## 4. beta-VAE and inactive units
#
# Higgins et al. (2017) weight the KL term: loss = rec + $\beta$ KL. With $\beta > 1$ the codes are pushed harder
# towards the prior, which can make latent dimensions more disentangled, but at a price: a dimension whose
# $q(z_j\mid x)$ equals the prior for every $x$ carries no information at all, costs zero KL, and the decoder
# learns to ignore it. Such a dimension is an **inactive unit** (Burda et al. 2015).
#
# This is related to, but not the same as, the **posterior collapse** of Bowman et al. (2015): there, with
# $\beta = 1$, a strong autoregressive decoder (an LSTM language model) models $x$ well without $z$, and the whole
# posterior falls back to the prior. Here the decoder is weak, and we switch units off by weighting the KL term.
#
# Burda, Grosse & Salakhutdinov (2015) count the dimensions still in use: unit $j$ is **active** when
# $A_j = \operatorname{Cov}_x\big(\mathbb E_{q(z\mid x)}[z_j]\big) > 0.01$, i.e. the posterior mean moves with the
# input. We train the same VAE with $\beta$ = `CFG.big_beta` and compare.

# %%
def active_units(model, x, threshold=0.01):
    """(number of active units, per-unit variance of the posterior mean over x, per-unit mean KL)."""
    with torch.no_grad():
        m, lv = model.encode(x)
    a = m.var(0)
    kl_per_unit = (0.5 * (m.pow(2) + lv.exp() - 1 - lv)).mean(0)
    return int((a > threshold).sum()), a.cpu(), kl_per_unit.cpu()


t0 = time.perf_counter()
vae_beta, vae_beta_history = train_vae(latent_dim=CFG.big_latent, beta=CFG.big_beta, desc=f"beta-VAE, beta={CFG.big_beta:g}")
print(f"trained in {time.perf_counter() - t0:.1f} s")

results = {}
for beta, model, hist in [(1.0, vae, vae_history), (CFG.big_beta, vae_beta, vae_beta_history)]:
    n_active, a, kl_u = active_units(model, x_test)
    results[beta] = dict(active=n_active, A=a, kl=kl_u, rec=hist.mean("rec", last=5), kl_total=hist.mean("kl", last=5))
    print(f"beta={beta:5g}: active units {n_active:2d}/{CFG.big_latent}, rec {results[beta]['rec']:.1f}, "
          f"KL {results[beta]['kl_total']:.2f} nats/image")

fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
w = 0.4
for i, beta in enumerate(results):
    units = np.arange(CFG.big_latent)
    axes[0].bar(units + (i - 0.5) * w, results[beta]["A"].numpy(), width=w, label=f"beta={beta:g}")
    axes[1].bar(units + (i - 0.5) * w, results[beta]["kl"].numpy(), width=w, label=f"beta={beta:g}")
axes[0].axhline(0.01, color="k", ls="--", lw=0.8)
axes[0].set_yscale("log")
axes[0].set_title("activity $A_j$ = Var$_x$($\\mu_j(x)$) (dashed: 0.01)")
axes[1].set_title("mean KL per unit (nats)")
for ax in axes:
    ax.set_xlabel("latent unit $j$")
    ax.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# A traversal shows what "inactive" means: each row decodes $\mu(x)$ of one test image with one unit moved from
# -3 to 3. Rows of active units change the image; rows of inactive units change nothing.

# %%
def traversal_rows(model, x, units, values=np.linspace(-3, 3, 9)):
    with torch.no_grad():
        m, _ = model.encode(x[:1])
        z = m.repeat(len(units) * len(values), 1)
        for r, u in enumerate(units):
            z[r * len(values):(r + 1) * len(values), u] = torch.tensor(values, dtype=z.dtype, device=z.device)
        return torch.sigmoid(model.decode(z))


fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for ax, beta, model in [(axes[0], 1.0, vae), (axes[1], CFG.big_beta, vae_beta)]:
    order = torch.argsort(results[beta]["A"], descending=True)
    units = [int(order[0]), int(order[1]), int(order[-2]), int(order[-1])]  # two most, two least active
    show_images(traversal_rows(model, x_test, units), nrow=9, ax=ax,
                title=f"beta={beta:g}: units {units} (most -> least active)")
plt.show()

# %%
# CHECK (measured): a large beta switches latent units off.
n1, nb = results[1.0]["active"], results[CFG.big_beta]["active"]
claim(nb < n1, f"active units: {nb} with beta={CFG.big_beta:g} < {n1} with beta=1")
claim(nb <= CFG.big_latent // 2, f"at most half the units active with beta={CFG.big_beta:g}: {nb}/{CFG.big_latent}")
print(verdict(nb < n1, f"beta={CFG.big_beta:g} switched off {n1 - nb} of the {n1} units active at beta=1 "
              f"({nb}/{CFG.big_latent} left)", f"beta={CFG.big_beta:g} did not switch units off ({nb} vs {n1})"))
print(f"test -ELBO (beta = 1 accounting): beta=1 model {test_elbo(vae)[2]:.1f}, "
      f"beta={CFG.big_beta:g} model {test_elbo(vae_beta)[2]:.1f} nats/image")

# %%
torch.manual_seed(3)
show_pairs(x_test, (recon, torch.sigmoid(vae_beta.decode(vae_beta.encode(x_test)[0])).detach()), n=12,
           titles=("test image", "beta=1 reconstruction", f"beta={CFG.big_beta:g} reconstruction"))
plt.show()

# %% [markdown]
# ## 5. What discrete latents change, and what they do not
#
# We measured two weaknesses of this Gaussian VAE:
#
# - **blur and faintness**: reconstructions are blurrier than real images, and prior samples are less sharp still,
#   partly because they are fainter (the verdicts printed in section 3 say how much is contrast);
# - **inactive units**: pushing the KL term harder switches latent units off (and, in other work, a powerful
#   decoder can make the whole posterior collapse to the prior).
#
# The VQ-VAE (van den Oord, Vinyals & Kavukcuoglu 2017) replaces the continuous Gaussian code by a *grid of
# discrete codes*, each the index of a vector in a learned codebook of size $K$. With a uniform prior over codes
# and a one-hot (deterministic) posterior, the KL term becomes the constant $\log K$ per position (notebook 03),
# so no KL weight pushes codes towards the prior, and van den Oord et al. report no posterior collapse even with
# a powerful decoder. What discrete latents bring is a **fixed rate** ($\log_2 K$ bits per position: compression,
# notebook 04) and a grid of **tokens** that a powerful prior can model (notebooks 06 and 12).
#
# What they do not fix by themselves:
#
# - **Blur.** A VQ-VAE trained with a pixel loss (MSE) is blurry too (notebook 04 shows it): blur comes from
#   averaging plausible images under a pixel loss. Perceptual and adversarial losses (notebooks 07 and 08),
#   combined in the VQ-GAN (11), are what sharpen reconstructions.
# - **Collapse.** A codebook has its own failure mode: **codebook collapse**, where most codes are never chosen
#   and the rate is far below $\log_2 K$ (notebook 05 reproduces it and compares cures).
#
# The price of discrete codes: there is no Gaussian prior to sample from any more, so a second model learns the
# distribution of code grids (notebooks 06 and 12). The next notebook builds the core operation: assigning vectors
# to their nearest codebook entry, and learning a codebook with k-means.
#
# ## Summary
#
# - An autoencoder compresses and reconstructs, but leaves no distribution to sample codes from.
# - The VAE maximises the ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z)) <= log p(x); the reparameterisation
#   $z = \mu + \sigma\varepsilon$ makes the sampling differentiable, and the Gaussian KL has a closed form, which we
#   checked against a Monte Carlo estimate.
# - A 2-D VAE arranges digits by class in a plane that its decoder fills; whether its prior samples look like digits
#   depends on the training length (the verdict printed in section 2.3 says, for this run).
# - Measured: reconstructions are blurrier than the data even with contrast factored out; prior samples are less
#   sharp than reconstructions, and the contrast-normalised measure tells how much of that is faintness rather than
#   blur; with a large beta, most latent units become inactive.
# - Reported on the test set: the negative ELBO in nats per image (approximate: Bernoulli on grey pixels).
#
# ## Exercises
#
# Solved above (each with a check): **1.** `reparameterize`; **2.** `gaussian_kl`.
#
# More to try:
# 3. Change `likelihood="bernoulli"` to `"gaussian"` in `train_vae` (with `sigma=1.0`, then `sigma=0.1`). How do
#    reconstructions, the KL and the number of active units change? (Hint: multiply the Gaussian loss
#    $\frac{1}{2\sigma^2}|x-\mu|^2 + \mathrm{KL}$ by $\sigma^2$: it becomes $\frac12|x-\mu|^2 + \sigma^2\,\mathrm{KL}$, so
#    $\sigma^2$ plays the role of beta.)
# 4. Sweep beta over {0.5, 1, 2, 4, 8, 20} and plot active units and reconstruction loss against beta.
# 5. KL annealing (Bowman et al. 2015): ramp beta from 0 to 1 over the first half of training inside `loss_fn`
#    (it gets `step`). Does it keep more units active at beta=1?
# 6. Estimate $\log p(x)$ with importance sampling (Burda et al. 2015, with $k$ = 100 samples from q) and check
#    that it is above the ELBO on average over the test images. (The IWAE bound is above the ELBO in expectation;
#    single Monte Carlo estimates can fall below it for an image. And with grey pixels under a Bernoulli likelihood
#    both numbers are approximate, see section 1.)
#
# ## Further reading
#
# - D. P. Kingma, M. Welling (2013). *Auto-Encoding Variational Bayes.* arXiv:1312.6114.
# - D. J. Rezende, S. Mohamed, D. Wierstra (2014). *Stochastic Backpropagation and Approximate Inference in Deep
#   Generative Models.* arXiv:1401.4082.
# - D. P. Kingma, M. Welling (2019). *An Introduction to Variational Autoencoders.* arXiv:1906.02691.
# - G. E. Hinton, R. R. Salakhutdinov (2006). *Reducing the Dimensionality of Data with Neural Networks.* Science 313.
# - I. Higgins et al. (2017). *beta-VAE: Learning Basic Visual Concepts with a Constrained Variational Framework.* ICLR.
# - Y. Burda, R. Grosse, R. Salakhutdinov (2015). *Importance Weighted Autoencoders.* arXiv:1509.00519.
# - S. R. Bowman et al. (2015). *Generating Sentences from a Continuous Space.* arXiv:1511.06349 (posterior collapse
#   with an LSTM decoder; KL annealing).
# - A. van den Oord, O. Vinyals, K. Kavukcuoglu (2017). *Neural Discrete Representation Learning.* arXiv:1711.00937.
