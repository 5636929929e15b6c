# %% [markdown]
# # 06 · Priors and sampling: a transformer over code grids
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-to-vqgan/course/blob/v0.2.0/notebooks/student/06_priors_and_sampling.ipynb)
#
# **Learning objectives.** After this notebook you can
# - explain, and show by measurement, why a trained VQ-VAE on its own cannot generate images: decoding
#   uniformly random codes gives noise;
# - fit an **autoregressive prior** over the code grid, `p(c) = prod_t p(c_t | c_<t)`, with a small causal
#   transformer, and read its quality in **bits per code** against the uniform `log2 K`;
# - write the **causal mask** and the **sampling loop** with **temperature** and **top-k** yourself;
# - make class-conditional samples, and compare them with a VAE's samples on sharpness and a kernel distance
#   (KID) in a feature space, with its confidence interval.
#
# **Prerequisites.** Notebook 04 (the VQ-VAE: encoder, quantizer, decoder, code grid) and a first idea of
# attention (Vaswani et al. 2017). Notebook 01 for the VAE.
#
# **Estimated time.** Core path about 67 min (estimated from this notebook by `make stats`). Machine: about 42 s under
# `quick` on 2 CPU cores; about 3 min of training under `standard` on a T4 (estimated from FLOPs, not yet timed).

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
# All sizes of this notebook, for the active profile (the marked column):

# %%
from course_lib.profiles import settings

CFG = settings(
    quick=dict(dataset="fashion-mnist", n_train=2000, n_eval=400, batch_size=64,
               vq_hidden=32, num_codes=32, code_dim=16, vq_steps=175, vq_lr=4e-3,
               d_model=64, n_layers=2, n_heads=4, prior_steps=200, prior_lr=3e-3,
               vae_latent=16, vae_steps=140, clf_steps=150, n_samples=300, n_per_temp=100, per_class=8,
               temperatures=(0.0, 0.5, 0.8, 1.0, 1.3)),
    standard=dict(dataset="fashion-mnist", n_train=None, n_eval=2000, batch_size=128,
                  vq_hidden=64, num_codes=128, code_dim=32, vq_steps=5000, vq_lr=1e-3,
                  d_model=256, n_layers=6, n_heads=8, prior_steps=8000, prior_lr=5e-4,
                  vae_latent=16, vae_steps=5000, clf_steps=1000, n_samples=2000, n_per_temp=500, per_class=8,
                  temperatures=(0.0, 0.5, 0.8, 1.0, 1.3)),
    # smoke: the standard prior samples one code at a time (49 passes of a 6-layer transformer per call), so a
    # smoke run draws few samples at two temperatures
    smoke=dict(n_samples=32, n_per_temp=16, per_class=2, temperatures=(0.0, 1.0)),
)
CFG

# %% [markdown]
# ## 1. A small VQ-VAE, trained and checkpointed
# We need a tokenizer: a VQ-VAE (van den Oord et al. 2017) that maps a 28×28 Fashion-MNIST image to a 7×7
# grid of codes from a codebook of `K = CFG.num_codes` entries, and back. This is notebook 04's model from
# `course_lib`. Training writes a checkpoint to `runs/<profile>/06/vqvae.pt` (`course_lib.env.run_path`; set
# `COURSE_RUNS` to move it, e.g. to a mounted Drive); running the cell again (or after a Colab disconnect) resumes
# from it instead of starting over.

# %%
import math
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from course_lib.claims import claim, verdict
from course_lib.data import load_dataset, make_loader
from course_lib.env import run_path
from course_lib.metrics import psnr, sharpness
from course_lib.models import VQVAE, VAE
from course_lib.quantize import VectorQuantizer
from course_lib.train import fit
from course_lib.viz import show_images, show_pairs, show_table

T0 = time.time()
device = ENV.device
RUN_DIR = run_path("06", "vqvae.pt").parent                 # runs/<profile>[-smoke]/06, created

train = load_dataset(CFG.dataset, split="train", n=CFG.n_train)
test = load_dataset(CFG.dataset, split="test", n=CFG.n_eval)
print(train.display_name, tuple(train.x.shape), "|", test.display_name, tuple(test.x.shape))
loader = make_loader(train, batch_size=CFG.batch_size, shuffle=True, seed=0)

vq_config = dict(num_codes=CFG.num_codes, code_dim=CFG.code_dim, hidden=CFG.vq_hidden, steps=CFG.vq_steps,
                 lr=CFG.vq_lr, n_train=len(train))
vqvae = VQVAE(VectorQuantizer(CFG.num_codes, CFG.code_dim, beta=0.25, kmeans_init=True),
              in_channels=1, hidden=CFG.vq_hidden, downsamples=2, res_blocks=1).to(device)


def vq_loss_fn(batch, step):
    x, _ = batch
    out = vqvae(x)
    rec = F.mse_loss(out.x_hat, x)
    return {"loss": rec + out.vq.loss, "rec": rec, "vq": out.vq.loss}


vq_history = fit(vq_loss_fn, torch.optim.Adam(vqvae.parameters(), lr=CFG.vq_lr), loader, steps=CFG.vq_steps,
                 model=vqvae, checkpoint=RUN_DIR / "vqvae.pt", config=vq_config, log_every=25, desc="VQ-VAE")
_ = vqvae.eval()                                            # (assigned: no 40-line model repr in the output)

# %%
x_test = test.x.to(device)
with torch.no_grad():
    recon = vqvae(x_test).x_hat.clamp(0, 1)
    codes_test = vqvae.encode(x_test)                         # (N, 7, 7) int64
h, w = codes_test.shape[-2:]
K = CFG.num_codes
print(f"code grid {h}x{w} = {h * w} codes per image, K = {K} codes -> at most {h * w * math.log2(K):.0f} bits/image")
print(f"test PSNR of the reconstructions: {psnr(recon, x_test):.2f} dB")
show_pairs(x_test[:10].cpu(), recon[:10].cpu(), n=10)
plt.show()

# %% [markdown]
# ## 2. Why the VQ-VAE alone cannot generate
# A VAE is a generative model because it has a prior `p(z)` we can sample from. The VQ-VAE has one too, formally:
# its training objective assumes a **uniform** prior over the `K` codes at every position (which is why its KL
# term is the constant `log K`, notebook 03). So "sampling from the VQ-VAE" would mean: draw each of the 49 codes
# uniformly at random and decode. Let us do it.

# %%
gen = torch.Generator().manual_seed(0)
n_show = CFG.n_samples
random_codes = torch.randint(0, K, (n_show, h, w), generator=gen).to(device)
with torch.no_grad():
    x_uniform = vqvae.decode_indices(random_codes).clamp(0, 1)
show_images(x_uniform[:16].cpu(), nrow=16, title="decoded uniformly random code grids")
show_images(x_test[:16].cpu(), nrow=16, title="real test images")
plt.show()

# %% [markdown]
# Noise. Where does the structure of real code grids live? Two candidates: in *which* codes are frequent, and in
# *how codes depend on their neighbours* (a sleeve continues a sleeve). The histogram below measures the first.
# Two numbers, in bits per code:
# - the uniform prior spends `log2 K` bits on every code;
# - a "bag of codes" model that only knows the code frequencies (no position, no context) needs the **entropy**
#   of the histogram.
#
# How much the frequencies alone save is printed under the figure; what a prior can gain beyond that must come
# from the context of each code (the codes before it). That is what we build next.

# %%
counts = torch.bincount(codes_test.flatten().cpu(), minlength=K).float()
freq = counts / counts.sum()
unigram_bits = float(-(freq[freq > 0] * freq[freq > 0].log2()).sum())
uniform_bits = math.log2(K)
fig, ax = plt.subplots(figsize=(8, 2.5))
ax.bar(range(K), freq.numpy())
ax.axhline(1 / K, color="k", ls="--", label="uniform 1/K")
ax.set_xlabel("code index"); ax.set_ylabel("frequency in real grids"); ax.legend()
ax.set_title(f"code usage: entropy {unigram_bits:.2f} bits vs uniform log2 K = {uniform_bits:.2f} bits")
plt.show()
top = freq.sort(descending=True).values
n_half = int((top.cumsum(0) < 0.5).sum()) + 1
print(f"the {n_half} most frequent of {K} codes cover half of all positions; the frequencies alone save "
      f"{uniform_bits - unigram_bits:.2f} of {uniform_bits:.2f} bits per code")
print(verdict(uniform_bits - unigram_bits > 1.0,
              "-> the code frequencies alone already carry much of the structure",
              "-> the frequencies alone save little: the structure is mostly in how codes depend on each other"))

# %% [markdown]
# To measure "looks like the data" we compare feature statistics in the feature space of the course's small
# Fashion-MNIST network (`course_lib.image_quality`). A **Frechet distance** (the recipe of FID, Heusel et al. 2017)
# is the usual choice, but from a few hundred samples of 128-d features its estimate is dominated by its bias
# (it grows as the sample shrinks). We use the **kernel distance** instead, the recipe of KID (Binkowski et al.
# 2018, arXiv:1801.01401, sec. 4): an unbiased estimate of the squared MMD with a cubic polynomial kernel, averaged
# over random subsets, reported with a 95% confidence interval (it can dip slightly below 0 for two sets from the
# same distribution). It is *not* KID (no Inception network offline): numbers are comparable only with each other.
# If the shipped weights are missing, the cell trains a small classifier of the same architecture here and says so.

# %%
from course_lib.image_quality import FeatureNet, kernel_distance

try:
    from course_lib.image_quality import load_feature_net
    feat_net = load_feature_net(device=device)
    FEATURES = "course feature net (shipped weights)"
except (FileNotFoundError, ImportError) as err:
    print("shipped feature net not found:", str(err)[:100], "... training a small classifier instead")
    torch.manual_seed(0)
    feat_net = FeatureNet(widths=(16, 32, 64, 64)).to(device)
    clf_opt = torch.optim.Adam(feat_net.parameters(), lr=3e-3)
    fit(lambda b, s: {"loss": F.cross_entropy(feat_net(b[0]), b[1])}, clf_opt, loader, steps=CFG.clf_steps,
        model=feat_net, log_every=25, desc="feature classifier")
    feat_net.eval()
    FEATURES = "a small Fashion-MNIST classifier trained in this notebook"
for p in feat_net.parameters():
    p.requires_grad_(False)


@torch.no_grad()
def embed(images):
    return torch.cat([feat_net.embed(images[i:i + 256].to(device)).cpu() for i in range(0, len(images), 256)])


@torch.no_grad()
def classify(images):
    return torch.cat([feat_net(images[i:i + 256].to(device)).argmax(-1).cpu() for i in range(0, len(images), 256)])


real_feats = embed(train.x[:n_show])            # reference set: real training images
scores = {}


def score(name, images):
    kid = kernel_distance(embed(images), real_feats, subsets=50, subset_size=min(100, len(images)))
    scores[name] = dict(KID=kid, sharpness=float(sharpness(images.cpu()).mean()))
    return scores[name]


def print_scores():
    show_table([[k_, 1e3 * v["KID"].mean, f"[{1e3 * v['KID'].low:.2f}, {1e3 * v['KID'].high:.2f}]", v["sharpness"]]
                for k_, v in scores.items()],
               ["images", "KID × 1000", "95% interval over subsets", "sharpness"], floatfmt=[None, ".2f", None, ".3f"],
               title="kernel distance to real training images (lower = closer to the data) and sharpness")


score("real test images", x_test[:n_show])
score("VQ-VAE reconstructions", recon[:n_show])
score("uniform random codes", x_uniform)
print(f"features: {FEATURES}; test accuracy {(classify(x_test) == test.y).float().mean():.2f}; "
      f"{n_show} images per set against {n_show} real training images")
print_scores()

# %% [markdown]
# **Check.** Decoded random codes should be far from the data: the lower end of their kernel distance's
# confidence interval above the upper end of the VQ-VAE's own reconstructions' (the same decoder fed with *real*
# code grids), and at least twice as far. If so, the decoder is fine and the codes are the problem.

# %%
kid_uniform, kid_recon = scores["uniform random codes"]["KID"], scores["VQ-VAE reconstructions"]["KID"]
claim(kid_uniform.low > kid_recon.high and kid_uniform.mean > 2 * kid_recon.mean,
      f"KID of decoded uniform codes {kid_uniform} clearly above that of reconstructions {kid_recon}")
claim(unigram_bits < uniform_bits - 0.3,
      f"real codes are not uniform: entropy {unigram_bits:.2f} < log2 K - 0.3 = {uniform_bits - 0.3:.2f} bits")
print(verdict(kid_uniform.low > kid_recon.high, "uniform codes are off the data; the decoder is not the problem",
              "uniform codes are not measurably further from the data than reconstructions"))

# %% [markdown]
# ## 3. An autoregressive prior and its causal mask
# Put the 49 codes of a grid in **raster order** (row by row, left to right): `c_0, ..., c_48`. The chain rule
# writes any distribution over grids exactly as
#
# $$p(c_0, \dots, c_{T-1}) = \prod_{t=0}^{T-1} p(c_t \mid c_0, \dots, c_{t-1}).$$
#
# A decoder-only transformer (Vaswani et al. 2017; the GPT recipe; stage 2 of Esser, Rombach, Ommer 2021) predicts
# all `T` conditionals in one pass if position `t` cannot see the codes from `t` on. The input is shifted by one:
# position 0 holds a start token (or a class token), position `t` holds code `t-1`, and the output at position
# `t` is the distribution of code `t`. Inside self-attention, a **causal mask** forbids looking ahead:
# query position `i` may attend to key position `j` only if `j <= i`.
#
# ### Exercise 1: the causal mask
# Return a `(T, T)` boolean tensor, `True` where query `i` may attend to key `j`. Attention then sets the
# forbidden scores to `-inf` before the softmax (`scores.masked_fill(~mask, float("-inf"))`).

# %%
def causal_mask(T):
    """(T, T) bool: True where position i may attend to position j (j <= i)."""
    ### BEGIN SOLUTION
    return torch.tril(torch.ones(T, T, dtype=torch.bool))
    ### END SOLUTION


# %%
from course_lib.checks.prior import check_causal_mask

check_causal_mask(causal_mask)
### BEGIN HIDDEN TESTS
check_causal_mask(causal_mask, sizes=(3, 12, 49))
### END HIDDEN TESTS

# %% [markdown]
# The mask as a picture, and the course's version (which the transformer in `course_lib.prior` uses):

# %%
from course_lib import prior as prior_lib
from course_lib.prior import CodePrior, flatten_grid, unflatten_grid

assert torch.equal(prior_lib.causal_mask(8), torch.tril(torch.ones(8, 8, dtype=torch.bool)))
fig, ax = plt.subplots(figsize=(3, 3))
ax.imshow(prior_lib.causal_mask(8).numpy(), cmap="Greens")
ax.set_xlabel("key position j (attended to)"); ax.set_ylabel("query position i")
ax.set_title("causal mask: True = may attend")
plt.show()

# %% [markdown]
# `CodePrior` is about 150 lines: token and learned position embeddings, `n_layers` pre-LayerNorm blocks
# (`x + attention(LN(x))`, `x + MLP(LN(x))`), and a linear layer to `K` logits. Read
# `course_lib/prior.py` side by side with this notebook. **Check** that it is causal: changing code `t` must
# leave the logits of positions `0..t` unchanged (they predict codes that come before, or at, `t`). This is a
# property of the architecture, not a measured result: a plain `assert`.

# %%
torch.manual_seed(0)
T = h * w
prior = CodePrior(num_codes=K, seq_len=T, d_model=CFG.d_model, n_layers=CFG.n_layers, n_heads=CFG.n_heads,
                  num_classes=train.num_classes).to(device)
n_params = lambda m: sum(p.numel() for p in m.parameters())
print(f"CodePrior: {n_params(prior):,} parameters, sequence length {T}")
tokens = flatten_grid(codes_test[:4])                       # (4, 49) raster order
assert torch.equal(unflatten_grid(tokens, h, w), codes_test[:4])
with torch.no_grad():
    base = prior(tokens)
    t = 20
    changed = tokens.clone()
    changed[:, t] = (changed[:, t] + 1) % K
    after = prior(changed)
same_before = torch.allclose(after[:, : t + 1], base[:, : t + 1], atol=1e-5)
moved_after = not torch.allclose(after[:, t + 1:], base[:, t + 1:], atol=1e-5)
print(f"changing code {t}: logits 0..{t} unchanged: {same_before}; logits after {t} changed: {moved_after}")
assert same_before and moved_after

# %% [markdown]
# ## 4. Train the prior on code grids
# Encode the training images once to code grids (the tokenizer is frozen from now on), then minimise the negative
# log-likelihood of the codes, averaged over positions: the cross-entropy between the prior's logits and the
# actual next code. The model is **class-conditional**: its first input token is the class label (Esser et al.
# 2021 condition the same way), so we can later ask for "a sneaker".

# %%
@torch.no_grad()
def encode_all(images):
    return torch.cat([vqvae.encode(images[i:i + 256].to(device)) for i in range(0, len(images), 256)])


train_tokens = flatten_grid(encode_all(train.x)).cpu()     # (N, 49)
test_tokens = flatten_grid(codes_test).cpu()
print("token tensors:", tuple(train_tokens.shape), tuple(test_tokens.shape))
token_loader = make_loader((train_tokens, train.y), batch_size=CFG.batch_size, shuffle=True, seed=1)

prior_opt = torch.optim.AdamW(prior.parameters(), lr=CFG.prior_lr, weight_decay=0.01)
prior_sched = torch.optim.lr_scheduler.OneCycleLR(prior_opt, max_lr=CFG.prior_lr, total_steps=CFG.prior_steps,
                                                  pct_start=0.1)


def prior_loss_fn(batch, step):
    tok, y = batch
    return {"loss": prior.nll(tok, y)}


prior_config = dict(vq_config, d_model=CFG.d_model, n_layers=CFG.n_layers, prior_steps=CFG.prior_steps)
prior_history = fit(prior_loss_fn, prior_opt, token_loader, steps=CFG.prior_steps, model=prior,
                    scheduler=prior_sched, checkpoint=RUN_DIR / "prior.pt", config=prior_config,
                    grad_clip=1.0, log_every=25, desc="code prior")
prior.eval()
prior_history.plot(title="code prior: training loss (cross-entropy, nats per code)")
plt.show()

# %% [markdown]
# **How good is the prior?** Its negative log-likelihood on *held-out* code grids, in bits per code, against the
# two baselines of section 2. Bits per code times 49 is the length of an ideal (arithmetic-coded) description
# of an image's code grid under this model.

# %%
with torch.no_grad():
    prior_bits = float(prior.bits_per_token(test_tokens.to(device), test.y.to(device)))
    prior_bits_train = float(prior.bits_per_token(train_tokens[:len(test_tokens)].to(device),
                                                  train.y[:len(test_tokens)].to(device)))
print(f"uniform prior (what the VQ-VAE assumes): {uniform_bits:.2f} bits/code = {uniform_bits * T:.0f} bits/image")
print(f"bag of codes (code frequencies only):    {unigram_bits:.2f} bits/code")
print(f"transformer prior, held-out grids:       {prior_bits:.2f} bits/code = {prior_bits * T:.0f} bits/image "
      f"(training grids: {prior_bits_train:.2f})")

# %% [markdown]
# **Check.** The prior should beat the uniform `log2 K` by a wide margin and the bag-of-codes entropy as well,
# on held-out grids: then the context carries information.

# %%
claim(prior_bits < uniform_bits - 1.0, f"held-out {prior_bits:.2f} bits/code < uniform {uniform_bits:.2f} - 1")
claim(prior_bits < unigram_bits - 0.2, f"held-out {prior_bits:.2f} bits/code < bag of codes {unigram_bits:.2f} - 0.2")
print(f"prior saves {uniform_bits - prior_bits:.2f} bits per code over uniform and "
      f"{unigram_bits - prior_bits:.2f} over the code frequencies alone")

# %% [markdown]
# ## 5. Sampling: temperature and top-k
# To generate, we draw the codes one at a time: run the prior on the codes so far, take the logits of position
# `t`, turn them into probabilities, draw `c_t`, append, repeat. Two knobs shape the probabilities:
# - **temperature** `tau`: `p ∝ exp(logit / tau)`. `tau < 1` sharpens (safer, less diverse), `tau > 1` flattens;
#   `tau -> 0` is greedy decoding (always the argmax).
# - **top-k** (Fan, Lewis, Dauphin 2018): keep only the `k` most likely codes (the others get probability 0) and
#   renormalise. This cuts off the long tail of unlikely codes, each of which can spoil an image.
#
# ### Exercise 2: top-k probabilities
# Given logits `(B, K)`, an integer `k` (or `None`: keep all) and a temperature, return the probabilities
# `(B, K)` to sample from. Mask the logits outside the top `k` with `-inf` **before** the softmax so that what
# remains sums to one.

# %%
def top_k_probs(logits, k, temperature=1.0):
    """logits (B, K) -> probabilities (B, K) after temperature scaling and top-k filtering."""
    ### BEGIN SOLUTION
    logits = logits / temperature
    if k is not None:
        kth = torch.topk(logits, k, dim=-1).values[..., -1:]      # (B, 1): the k-th largest logit
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return F.softmax(logits, dim=-1)
    ### END SOLUTION


# %%
from course_lib.checks.prior import check_top_k_probs

check_top_k_probs(top_k_probs)
### BEGIN HIDDEN TESTS
check_top_k_probs(top_k_probs, seed=7, ks=(2, 6, 9), temperatures=(0.3, 2.0, 1.0), num_codes=9)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 3: the sampling loop
# Fill in the loop. `prior(codes)` returns logits `(n, T, K)`, and `logits[:, t]` depends only on `codes[:, :t]`
# (that is what the mask bought us), so you may call it on the partly filled `codes`: the zeros after `t` are
# never looked at. Use `top_k_probs` and `torch.multinomial(probs, 1, generator=generator)`.

# %%
@torch.no_grad()
def sample_codes(prior, n, temperature=1.0, top_k=None, generator=None):
    """Draw n code sequences (n, prior.seq_len) from an unconditional prior, one code at a time."""
    codes = torch.zeros(n, prior.seq_len, dtype=torch.long)
    ### BEGIN SOLUTION
    for t in range(prior.seq_len):
        logits = prior(codes)[:, t]                                # (n, K): p(c_t | c_<t)
        probs = top_k_probs(logits, top_k, temperature)
        codes[:, t] = torch.multinomial(probs, 1, generator=generator).squeeze(1)
    ### END SOLUTION
    return codes


# %%
from course_lib.checks.prior import check_sampling_loop

check_sampling_loop(sample_codes)
### BEGIN HIDDEN TESTS
check_sampling_loop(sample_codes, seed=3, K=8, T=6)
### END HIDDEN TESTS

# %% [markdown]
# `CodePrior.sample` draws from the same distributions, with two savings and some extras. Your loop runs the
# prior on all `T` positions at every step: `T` passes over `T` positions. Since a position only attends to the
# past, the keys and values of the codes already drawn never change, so `CodePrior.sample` keeps them (a
# **key/value cache**, as GPT-style inference does) and runs each step on one new position: `T` positions in all.
# It draws exactly the codes the plain loop draws for the same random generator (`use_cache=False` runs the plain
# loop; `tests/test_prior.py` compares them). It also takes labels, prefixes and known codes. From here on we use it. First, a grid: one row per class, each sample drawn
# with the class token of its row.

# %%
n_classes = train.num_classes
per_class = CFG.per_class
labels = torch.arange(n_classes).repeat_interleave(per_class).to(device)
sample_gen = torch.Generator(device=device).manual_seed(0)


@torch.no_grad()
def decode_tokens(tok):
    return torch.cat([vqvae.decode_indices(unflatten_grid(tok[i:i + 256], h, w)).clamp(0, 1)
                      for i in range(0, len(tok), 256)])


grid_tokens = prior.sample(len(labels), temperature=1.0, top_k=None, labels=labels, generator=sample_gen)
ax = show_images(decode_tokens(grid_tokens).cpu(), nrow=per_class, figsize=(6, 8),
                 title="class-conditional samples, temperature 1")
for row, name in enumerate(train.class_names):          # make_grid: 2 px padding around 28 px images
    ax.text(-3, 2 + row * 30 + 14, name, ha="right", va="center", fontsize=9)
plt.show()

# %% [markdown]
# **Temperature, measured.** For each temperature we draw `n_per_temp` samples and score them with the prior
# itself: the average log-likelihood of the drawn codes should rise as the temperature falls (the sampler picks
# likelier codes), and the number of *distinct* grids should fall (less diversity). `tau -> 0` gives the same grid
# every time for a class. Each mean is printed with its standard error over samples, so a difference can be read
# against the noise.

# %%
temps = list(CFG.temperatures)
n_t = CFG.n_per_temp
t_labels = torch.arange(n_t, device=device) % n_classes
temp_rows, temp_stats = [], {}
for tau in temps:
    tok = prior.sample(n_t, temperature=tau, labels=t_labels, generator=sample_gen)
    with torch.no_grad():
        logits = prior(tok, t_labels)
        per_sample = F.cross_entropy(logits.transpose(1, 2), tok, reduction="none").mean(1) / math.log(2)
    bits, se = float(per_sample.mean()), float(per_sample.std() / math.sqrt(n_t))
    distinct = len(torch.unique(tok, dim=0))
    temp_stats[tau] = dict(bits=bits, se=se, distinct=distinct)
    temp_rows.append(decode_tokens(tok[:10]).cpu())
show_table([[tau, f"{st['bits']:.2f} ± {st['se']:.2f}", f"{st['distinct']} of {n_t}"] for tau, st in temp_stats.items()],
           ["temperature", "bits/code under the prior (± s.e.)", "distinct grids"], align="rrr")
fig, axes = plt.subplots(len(temps), 1, figsize=(9, 1.2 * len(temps)))
for ax, tau, row in zip(axes, temps, temp_rows):
    show_images(row, nrow=10, ax=ax, title=f"temperature {tau}")
plt.tight_layout()
plt.show()

# %% [markdown]
# **Check.** Lower temperature, likelier codes: each step up in temperature should raise the bits per code by
# more than twice the standard error of the difference (so the ordering is not a coin toss with this many
# samples). Greedy decoding yields at most one grid per class (a property of the sampler: plain `assert`).

# %%
bits_by_temp = [temp_stats[t]["bits"] for t in temps]
gaps = [(temp_stats[b]["bits"] - temp_stats[a]["bits"]) / math.hypot(temp_stats[a]["se"], temp_stats[b]["se"])
        for a, b in zip(temps, temps[1:])]
print("bits per code by temperature:", [round(b, 2) for b in bits_by_temp],
      "| each gap in standard errors:", [round(g, 1) for g in gaps])
claim(all(g > 2 for g in gaps), f"bits/code rise with temperature by > 2 standard errors at every step: gaps {gaps}")
assert temp_stats[0.0]["distinct"] <= n_classes, temp_stats
claim(temp_stats[1.0]["distinct"] > n_classes, f"temperature 1 gives more than {n_classes} distinct grids: {temp_stats[1.0]}")
print(verdict(all(g > 2 for g in gaps), "temperature orders the samples' likelihood, step by step",
              "some temperature steps are not resolved at this sample size"))

# %% [markdown]
# **Top-k, a demonstration.** With `top_k = k` every drawn code must be among the `k` most likely of its own
# conditional. We verify it by re-running the prior on the finished samples (a property of the sampler, so a plain
# `assert`: it cannot come out otherwise unless the code is wrong).

# %%
k = 3
tok_k = prior.sample(n_t, temperature=1.0, top_k=k, labels=t_labels, generator=sample_gen)
with torch.no_grad():
    topk_idx = torch.topk(prior(tok_k, t_labels), k, dim=-1).indices        # (n, T, k)
in_top_k = (topk_idx == tok_k[..., None]).any(-1).float().mean().item()
print(f"fraction of drawn codes inside the top-{k} of their conditional: {in_top_k:.3f}")
assert in_top_k == 1.0

# %% [markdown]
# ### Explore: temperature and top-k
# Move the knobs and watch both panels. Left: 16 decoded samples (one class per image in turn, or one class for
# all), drawn with a fixed seed, so only the knob you move changes them. Right: the distribution the sampler
# draws one code of sample 0 from (blue; at the position where the prior is least sure) next to the prior's own
# conditional at temperature 1 (grey): a low temperature piles the mass on the likeliest code, top-k cuts the tail
# off. The title measures the samples: bits
# per code under the prior (as in the table above), the entropy of the drawn codes' histogram, and how many grids
# differ. `course_lib.explorers.sampling` holds the draw function (notebook 12 reuses it); sampling is fast because
# `CodePrior.sample` keeps a key/value cache (each step runs the transformer on one new position only).

# %%
from functools import partial

from course_lib.explorers import Choice, IntSlider, Slider, explorer
from course_lib.explorers.sampling import draw_sampling

explorer(partial(draw_sampling, prior=prior, decode=decode_tokens, class_names=train.class_names, n=16, nrow=8,
                 grid_shape=(h, w)),
         temperature=Slider(0.0, 2.0, 1.0, step=0.05, label="temperature τ"),
         top_k=Choice({"all": None, "1": 1, "3": 3, "8": 8, "16": 16}, None, label="top-k"),
         label=Choice({"classes in turn": None, **{c: i for i, c in enumerate(train.class_names)}}, None,
                      label="class"),
         seed=IntSlider(0, 9, 0));

# %% [markdown]
# ## 6. VQ-VAE + prior vs VAE samples
# Notebook 01's VAE samples by decoding `z ~ N(0, I)`. Its samples tend to be blurry: its Bernoulli decoder
# outputs per-pixel means, averaging over what it cannot pin down, and the prior `N(0, I)` puts mass where the
# aggregate posterior has none. We train a small VAE here on the same images (a notebook run under `nbval` cannot
# rely on notebook 01's checkpoint) and compare the sets of images against real ones: **KID** (kernel distance in
# the feature space above, lower is closer to the data, with its 95% interval) and **sharpness** (mean
# image-gradient magnitude, `course_lib.metrics.sharpness`). The parameter counts of the two generators are
# printed: they are not matched, so read the comparison as "this two-stage model vs this VAE".

# %%
from course_lib.losses import elbo_terms

torch.manual_seed(0)
vae = VAE(in_channels=1, image_size=28, latent_dim=CFG.vae_latent, hidden=CFG.vq_hidden).to(device)


def vae_loss_fn(batch, step):
    x, _ = batch
    out = vae(x)
    return elbo_terms(x, out.x_logits, out.mu, out.logvar)          # dict(loss=rec + kl, rec=..., kl=...)


vae_history = fit(vae_loss_fn, torch.optim.Adam(vae.parameters(), lr=2e-3), loader, steps=CFG.vae_steps,
                  model=vae, checkpoint=RUN_DIR / "vae.pt",
                  config=dict(latent=CFG.vae_latent, steps=CFG.vae_steps, n_train=len(train)),
                  log_every=25, desc="VAE")
_ = vae.eval()
print(f"parameters: VQ-VAE {n_params(vqvae):,} + prior {n_params(prior):,} = {n_params(vqvae) + n_params(prior):,} "
      f"| VAE {n_params(vae):,}")

n_cmp = n_show
cmp_labels = torch.arange(n_cmp, device=device) % n_classes
x_prior = decode_tokens(prior.sample(n_cmp, temperature=1.0, labels=cmp_labels, generator=sample_gen))
x_prior_k = decode_tokens(prior.sample(n_cmp, temperature=1.0, top_k=8, labels=cmp_labels, generator=sample_gen))
x_vae = vae.sample(n_cmp, generator=torch.Generator(device=device).manual_seed(0))
score("VQ-VAE + prior (tau 1)", x_prior)
score("VQ-VAE + prior (top-8)", x_prior_k)
score("VAE N(0, I) samples", x_vae)
acc_prior = float((classify(x_prior) == cmp_labels.cpu()).float().mean())
print_scores()
print(f"the feature classifier agrees with the requested class for {acc_prior:.0%} of the prior's samples "
      f"(chance {1 / n_classes:.0%})")
show_pairs(x_prior[:10].cpu(), x_vae[:10].cpu(), n=10, titles=("VQ-VAE + transformer prior", "VAE, z ~ N(0, I)"))
plt.show()

# %% [markdown]
# **Check.** The claims: the prior's samples are sharper than the VAE's and closer to the data (KID interval
# entirely below the VAE's), far closer than decoded uniform codes, and mostly of the class that was asked for.
# Sharpness alone is no quality measure: the noise of decoded uniform codes has large image gradients too (see
# its row), which is why the KID comes with it.

# %%
s = scores
kp, kv, ku = s["VQ-VAE + prior (tau 1)"]["KID"], s["VAE N(0, I) samples"]["KID"], s["uniform random codes"]["KID"]
claim(s["VQ-VAE + prior (tau 1)"]["sharpness"] > 1.1 * s["VAE N(0, I) samples"]["sharpness"],
      f"prior samples sharper than VAE samples: {s['VQ-VAE + prior (tau 1)']['sharpness']:.3f} > 1.1 x "
      f"{s['VAE N(0, I) samples']['sharpness']:.3f}")
claim(kp.mean < 0.5 * ku.mean, f"prior samples KID {kp} < half of uniform codes' {ku}")
claim(kp.high < kv.low, f"prior samples KID {kp} below the VAE's {kv} (non-overlapping 95% intervals)")
claim(acc_prior > 3 / n_classes, f"{acc_prior:.0%} of prior samples classified as the requested class (> 30%)")
print(verdict(kp.high < kv.low, "the two-stage model's samples are measurably closer to the data than the VAE's",
              "the two-stage model's samples are not measurably closer to the data than the VAE's"))
print(f"notebook ran in {time.time() - T0:.0f} s")

# %% [markdown]
# ## Summary
# - A VQ-VAE's training objective assumes a uniform prior over codes; decoding uniformly random grids gives
#   noise (measured: a kernel distance far above that of reconstructions). Real code grids are not uniform, and
#   most of their structure is in how neighbouring codes depend on each other.
# - An autoregressive prior factorises `p(codes)` with the chain rule in raster order; a transformer learns all
#   conditionals at once thanks to the **causal mask** (lower triangle, diagonal included) and a one-position
#   shift with a start/class token.
# - Quality of a prior: held-out **bits per code**, compared with `log2 K` (uniform) and with the histogram
#   entropy. Ours beat both.
# - Sampling is a loop of `T` steps; **temperature** trades likelihood against diversity, **top-k** removes the
#   tail. Both were measured above.
# - The two-stage model (tokenizer + prior) gave sharper samples, closer to the data by KID, than the VAE trained
#   here (parameter counts printed in section 6; they are not matched), and follows the class token. Notebooks 07-11 make the tokenizer better (perceptual and adversarial losses); notebook 12
#   trains this prior on VQ-GAN tokens.
#
# ## Exercises
# 1. (in the notebook) `causal_mask`, `top_k_probs`, `sample_codes`, each with its check.
# 2. Train the prior **without** class labels (`num_classes=None`) and compare its held-out bits per code. How
#    many bits does the label save per image? Relate it to `log2(10)`.
# 3. Implement **top-p (nucleus)** sampling (Holtzman et al. 2019): keep the smallest set of codes whose
#    probabilities sum to at least `p`. Compare KID and diversity with top-k at matched likelihood.
# 4. Change the order: column-major instead of raster. Does the held-out NLL change? (The chain rule holds for
#    any order; the difficulty of the conditionals does not.)
# 5. Use `prior.sample(..., known=(mask, tokens))` to complete the lower half of a test image from its upper half.
#    Why can the completion of the upper half *not* use a known lower half in raster order? (Notebook 12.)
#
# ## Further reading
# - A. van den Oord, O. Vinyals, K. Kavukcuoglu (2017). *Neural Discrete Representation Learning.* arXiv:1711.00937
#   (the VQ-VAE, with a PixelCNN prior over the codes).
# - A. Razavi, A. van den Oord, O. Vinyals (2019). *Generating Diverse High-Fidelity Images with VQ-VAE-2.*
#   arXiv:1906.00446 (hierarchical codes, autoregressive priors).
# - P. Esser, R. Rombach, B. Ommer (2021). *Taming Transformers for High-Resolution Image Synthesis.*
#   arXiv:2012.09841 (a GPT prior over VQ-GAN codes; class-conditional with a class token; top-k sampling).
# - A. Vaswani et al. (2017). *Attention Is All You Need.* arXiv:1706.03762 (the transformer and its masking).
# - A. Radford, K. Narasimhan, T. Salimans, I. Sutskever (2018). *Improving Language Understanding by Generative
#   Pre-Training.* OpenAI report (GPT: a decoder-only transformer trained by next-token prediction).
# - A. Fan, M. Lewis, Y. Dauphin (2018). *Hierarchical Neural Story Generation.* arXiv:1805.04833 (top-k sampling).
# - A. Holtzman, J. Buys, L. Du, M. Forbes, Y. Choi (2019). *The Curious Case of Neural Text Degeneration.*
#   arXiv:1904.09751 (nucleus, top-p, sampling).
# - D. P. Kingma, M. Welling (2013). *Auto-Encoding Variational Bayes.* arXiv:1312.6114.
# - M. Heusel et al. (2017). *GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium.*
#   arXiv:1706.08500 (FID).
# - M. Binkowski, D. J. Sutherland, M. Arbel, A. Gretton (2018). *Demystifying MMD GANs.* arXiv:1801.01401 (KID,
#   an unbiased kernel distance).
