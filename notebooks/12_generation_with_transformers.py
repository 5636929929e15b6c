# %% [markdown]
# # 12 · Generation with transformers: stage 2 of VQ-GAN
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-to-vqgan/course/blob/v0.3.0/notebooks/student/12_generation_with_transformers.ipynb)
#
# **Learning objectives.** After this notebook you can
# - run the second stage of "Taming Transformers" (Esser, Rombach, Ommer 2021): a GPT-style prior over VQ-GAN
#   tokens, conditioned on the class through a class token, measured in bits per token;
# - write nucleus (top-p) sampling and say how it differs from top-k;
# - complete an image by keeping known tokens in the sequence, and test that the prior really uses them.
#
# **Prerequisites.** Notebook 06 (the causal prior `course_lib.prior.CodePrior`, temperature and top-k) and
# notebook 11 (the VQ-GAN, `course_lib.vqgan`).
#
# **Estimated time.** Core path about 38 min; 4 deep dives about 32 min more (estimated from this notebook by `make
# stats`). Machine: about 44 s under `quick` on 2 CPU cores; about 8 min of training under `standard` on a T4
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
    # tok_steps: how long this notebook trains its own tokenizer (sizes from course_lib.tokenizer, shared with 13)
    quick=dict(dataset="fashion-mnist", n_train=2000, n_eval=300, n_val=40, tok_steps=80,
               prior_batch=64, d_model=64, n_layers=2, n_heads=4, prior_steps=150, prior_lr=3e-3, n_samples=60,
               per_class=8, n_complete=120, draws=2, top_p=0.9),
    standard=dict(dataset="fashion-mnist", n_train=None, n_eval=2000, n_val=500, tok_steps=6000,
                  prior_batch=128, d_model=256, n_layers=8, n_heads=8, prior_steps=10000, prior_lr=5e-4,
                  n_samples=500, per_class=8, n_complete=1000, draws=2, top_p=0.9),
    # sampling from the standard-size prior (49 passes per sequence) dominates a CPU smoke run: draw few sequences
    smoke=dict(n_samples=16, per_class=2, n_complete=16, draws=1, n_val=40),
)
CFG

# %% [markdown]
# The two stages in one picture:

# %% tags=["fig-stage2-diagram"]
from course_lib.diagrams import stage2_diagram

stage2_diagram();

# %% [markdown]
# ## 1. Stage 1: a VQ-GAN tokenizer
# Stage 2 needs a tokenizer and labelled images to condition on. Your VQ-GAN from notebook 11 fits only if it was
# trained on this notebook's labelled dataset. Under `quick` it saw unlabelled natural crops, under `standard`
# CIFAR-10; this notebook is class-conditional on Fashion-MNIST. The next cell says which tokenizer it uses.
#
# Its own tokenizer, `course_lib.tokenizer`, is a small `course_lib.vqgan.VQGAN` shared with notebook 13: a 7×7
# grid of codes and the EMA quantizer of notebook 05. Under `quick` it trains for a CPU minute on L1 and the
# quantizer loss only; `standard` adds the perceptual and adversarial terms.

# %%
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from course_lib.claims import claim
from course_lib.data import load_dataset, make_loader
from course_lib.env import run_path
from course_lib.evidence import bootstrap_interval
from course_lib.metrics import psnr
from course_lib.prior import CodePrior, flatten_grid, unflatten_grid, weight_decay_groups
from course_lib.tokenizer import (build_tokenizer, decode_all, encode_all, notebook11_tokenizer, tokenizer_config,
                                  train_tokenizer)
from course_lib.train import fit
from course_lib.viz import show_pairs

device = ENV.device
train = load_dataset(CFG.dataset, split="train", n=CFG.n_train)
held_out = load_dataset(CFG.dataset, split="test", n=CFG.n_eval + CFG.n_val)
x_test, y_test = held_out.x[:CFG.n_eval].to(device), held_out.y[:CFG.n_eval].to(device)
x_val = held_out.x[CFG.n_eval:].to(device)            # held out for tuning the classical baselines (deep dive)

tokenizer, why = notebook11_tokenizer(run_path("11", "vqgan.pt"), dataset=CFG.dataset, device=device)
print(why)
tok_cfg = tokenizer_config(steps=CFG.tok_steps)
if tokenizer is None:
    tokenizer, _ = train_tokenizer(build_tokenizer(tok_cfg, device=device), train, tok_cfg,
                                   checkpoint=run_path("12", "tokenizer.pt"))

# %% tags=["fig-tokenizer-recons"]
codes_test = encode_all(tokenizer, x_test)                    # (N, 7, 7)
recon = decode_all(tokenizer, codes_test)
h, w = codes_test.shape[-2:]
K, T = tokenizer.quantizer.num_codes, h * w
used = len(torch.unique(codes_test))
print(f"{h}x{w} = {T} tokens per image, K = {K}: {T * math.log2(K):.0f} bits per image as raw indices; "
      f"{used} of {K} codes used; reconstruction PSNR {psnr(recon, x_test):.2f} dB")
show_pairs(x_test[:10].cpu(), recon[:10].cpu(), n=10)
plt.show()

# %% [markdown]
# ## 2. Stage 2: a class-conditional transformer over the tokens
# As in notebook 06, flatten each grid in raster order and minimise the next-token cross-entropy, with a **class
# token** first: a learned embedding of the label. Esser et al. (2021) do this for class-conditional ImageNet.
# As in minGPT and taming's GPT, AdamW decays only the linear layers' weight matrices (`weight_decay_groups`):
# decay pulls towards 0, which is wrong for embeddings and LayerNorm gains.

# %%
train_tokens = flatten_grid(encode_all(tokenizer, train.x)).cpu()
test_tokens = flatten_grid(codes_test).cpu()
token_loader = make_loader((train_tokens, train.y), batch_size=CFG.prior_batch, shuffle=True, seed=1)

torch.manual_seed(0)
prior = CodePrior(num_codes=K, seq_len=T, d_model=CFG.d_model, n_layers=CFG.n_layers, n_heads=CFG.n_heads,
                  num_classes=train.num_classes).to(device)
prior_opt = torch.optim.AdamW(weight_decay_groups(prior, 0.01), lr=CFG.prior_lr)
prior_sched = torch.optim.lr_scheduler.OneCycleLR(prior_opt, max_lr=CFG.prior_lr, total_steps=CFG.prior_steps,
                                                  pct_start=0.1)
fit(lambda batch, step: {"loss": prior.nll(*batch)}, prior_opt, token_loader, steps=CFG.prior_steps, model=prior,
    scheduler=prior_sched, checkpoint=run_path("12", "prior.pt"), grad_clip=1.0, log_every=25,
    config=dict(K=K, T=T, d_model=CFG.d_model, n_layers=CFG.n_layers, steps=CFG.prior_steps),
    desc="class-conditional prior")
_ = prior.eval()

# %% [markdown]
# **Does the prior use the context?** A model that ignores it still beats the uniform `log2 K` bits by knowing
# which codes are common. So the bar is the **unigram** code length: held-out tokens coded with the training
# tokens' code frequencies. Expect the transformer to need clearly fewer bits.
#
# Image likelihoods are usually reported in **bits per dimension** (PixelCNN++, Salimans et al. 2017; the Sparse
# Transformer, Child et al. 2019). Ours are bits per token of lossy 4×4 patches: not comparable.

# %%
with torch.no_grad():
    bits_per_token = float(prior.bits_per_token(test_tokens.to(device), y_test))
counts = torch.bincount(train_tokens.flatten(), minlength=K).double() + 1      # add-one: no code has probability 0
unigram_bits = float(-(counts / counts.sum()).log2()[test_tokens].mean())
print(f"held-out bits per token: prior {bits_per_token:.2f} | unigram {unigram_bits:.2f} | uniform {math.log2(K):.2f}")
claim(bits_per_token < unigram_bits - 0.5,
      f"the prior codes held-out tokens in {bits_per_token:.2f} bits, < unigram {unigram_bits:.2f} - 0.5");

# %% [markdown]
# ## 3. Sampling: class grids, and the nucleus
# One row per class, top-k 16 and temperature 1 (notebook 06's knobs):

# %% tags=["fig-class-grid"]
from course_lib.generation import draw_class_grid

draw_class_grid(prior, tokenizer, train.class_names, per_class=CFG.per_class, grid_shape=(h, w))
plt.show()

# %% [markdown]
# Do the samples show the class they were asked for? The course's feature network is a Fashion-MNIST classifier
# (`course_lib.image_quality`), so it can judge. Chance is 10%; on the tokenizer's reconstructions of real images
# it is right less often than on the images themselves, so expect a value between the two.

# %%
from course_lib.image_quality import load_feature_net

clf = load_feature_net(device=device)
n_classes = train.num_classes
s_labels = torch.arange(CFG.n_samples, device=device) % n_classes
gen = torch.Generator(device=device).manual_seed(0)
with torch.no_grad():
    s_codes = prior.sample(CFG.n_samples, top_k=16, labels=s_labels, generator=gen)
    hits = (clf(decode_all(tokenizer, unflatten_grid(s_codes, h, w))).argmax(-1) == s_labels).float().cpu()
    acc_recon = float((clf(recon).argmax(-1) == y_test).float().mean())
agree = bootstrap_interval(lambda v: v.mean(), hits)
print(f"classifier agrees with the requested class: {agree.short('.0%')} of {CFG.n_samples} samples | on "
      f"reconstructions of real images {acc_recon:.0%} | chance {1 / n_classes:.0%}")
claim(agree.low > 2 / n_classes, f"class agreement {agree} above twice chance");

# %% [markdown]
# Top-k keeps the same number of codes at every position. Where the prior is sure, 16 codes let in unlikely ones;
# where it hesitates, 16 may cut off plausible ones. **Nucleus (top-p) sampling** (Holtzman et al. 2019) adapts:
# it keeps the smallest set of the most likely codes whose probabilities sum to at least `p`.
#
# ### Exercise 1: the nucleus filter
# Return the logits with `-inf` outside the nucleus, along the last dimension (`logits` may be `(B, K)` or
# `(B, T, K)`). Hints: `torch.sort(..., descending=True)` returns the values and their `order`; a running sum is
# `cumsum`; a code belongs to the nucleus when the codes ranked **above** it hold less than `p`, so the most likely
# code always survives; `mask.scatter(-1, order, sorted_mask)` puts a mask built in sorted order back in place.

# %%
def top_p_filter(logits, p):
    """logits (..., K) -> logits (..., K) with -inf outside the nucleus of mass p (along the last dim)."""
    ### BEGIN SOLUTION
    sorted_probs, order = logits.softmax(-1).sort(dim=-1, descending=True)
    above = sorted_probs.cumsum(-1) - sorted_probs                   # mass of the codes ranked above
    drop = torch.zeros_like(above, dtype=torch.bool).scatter(-1, order, above >= p)
    return logits.masked_fill(drop, float("-inf"))
    ### END SOLUTION


# %%
from course_lib.checks import solved_or_reference
from course_lib.checks.generation import check_top_p_filter

check_top_p_filter(top_p_filter)
### BEGIN HIDDEN TESTS
check_top_p_filter(top_p_filter, seed=1, trials=(((5, 2, 9), 0.8, 2.0), ((3, 16), 0.95, 0.5)))
### END HIDDEN TESTS

# %%
import course_lib.prior

top_p_filter = solved_or_reference(top_p_filter, course_lib.prior.top_p_filter, "top_p_filter")
with torch.no_grad():
    logits = prior(s_codes[:1], s_labels[:1])[0]                  # (T, K): the conditionals of one sample
nucleus = torch.isfinite(top_p_filter(logits, CFG.top_p)).sum(-1)
print(f"nucleus of p = {CFG.top_p}: from {int(nucleus.min())} to {int(nucleus.max())} codes across the {T} "
      f"positions of one sample (top-k keeps 16 everywhere)")

# %% [markdown]
# **Explore temperature, top-k and top-p.** `CodePrior.sample(..., top_p=...)` applies your filter after
# temperature and top-k. The bar chart shows the distribution where the prior hesitates most. Grey is the prior;
# blue is what is sampled from, here the nucleus of 0.8. The title measures the samples.

# %%
from functools import partial

from course_lib.explorers import Choice, IntSlider, Slider, explorer
from course_lib.explorers.sampling import draw_sampling

explorer(partial(draw_sampling, prior=prior, decode=tokenizer, class_names=train.class_names, grid_shape=(h, w)),
         temperature=Slider(0.05, 2.0, 1.0, step=0.05, label="temperature"),
         top_k=Choice({"all": None, "4": 4, "16": 16}, value=None, label="top-k"),
         top_p=Choice({"off": None, "0.5": 0.5, "0.8": 0.8, "0.95": 0.95}, value=0.8, label="top-p"),
         seed=IntSlider(0, 9, 0, label="seed"));

# %% [markdown]
# ## Deep dive: your run beside the same models trained longer
# *Adds the shipped tokenizer and prior, measured beside yours. The core path resumes at section 4.*
#
# The course ships the same two models (`quick` configuration) trained for many more steps by
# `data/train_course_checkpoints.py`; each card records data, steps, machine and command. Their numbers are fixed,
# so they are asserted against the card. Bits per token compare priors only over the same tokenizer: the shipped
# tokenizer's codes carry more detail, so its prior may need more bits per token and still be the better model.

# %%
from course_lib import pretrained

if pretrained.available("12_tokenizer") and pretrained.available("12_prior"):
    long_tok = build_tokenizer(tokenizer_config("quick"))
    pretrained.load_into(long_tok, "12_tokenizer", config=tok_cfg)
    long_prior = pretrained.build("12_prior")
    for name, model, kwargs in (("12_tokenizer", long_tok, {}), ("12_prior", long_prior, dict(tokenizer=long_tok))):
        measured, promised = pretrained.measure(name, model, **kwargs), pretrained.card(name)["headline"]
        for key, value in promised.items():
            assert math.isclose(measured[key], value, rel_tol=1e-4, abs_tol=1e-4), \
                f"{name}: {key} measured {measured[key]:.5f}, the card says {value:.5f}"
    long_tok, long_prior = long_tok.to(device), long_prior.to(device)
    long_codes = encode_all(long_tok, x_test)
    with torch.no_grad():
        long_bits = float(long_prior.bits_per_token(flatten_grid(long_codes), y_test))
        g = torch.Generator(device=device).manual_seed(0)
        x_long = decode_all(long_tok, unflatten_grid(long_prior.sample(CFG.n_samples, top_k=16, labels=s_labels,
                                                                       generator=g), h, w))
        long_agree = float((clf(x_long).argmax(-1) == s_labels).float().mean())
    from course_lib.viz import show_table
    show_table([("reconstruction PSNR (dB)", f"{float(psnr(recon, x_test)):.2f}",
                 f"{float(psnr(decode_all(long_tok, long_codes), x_test)):.2f}"),
                ("codes used (of K)", used, len(torch.unique(long_codes))),
                ("prior: held-out bits per token", f"{bits_per_token:.2f}", f"{long_bits:.2f}"),
                ("class agreement of samples", f"{agree.value:.0%}", f"{long_agree:.0%}")],
               ["measure", "your run", "shipped"])
    print("shipped tokenizer:", pretrained.describe("12_tokenizer"))
    print("shipped prior:    ", pretrained.describe("12_prior"))
    fig, axes = plt.subplots(1, 2, figsize=(12, 8))
    draw_class_grid(prior, tokenizer, train.class_names, CFG.per_class, (h, w), ax=axes[0], title="your run")
    draw_class_grid(long_prior, long_tok, train.class_names, CFG.per_class, (h, w), ax=axes[1],
                    title=f"shipped: tokenizer {pretrained.card('12_tokenizer')['steps']:,} + prior "
                          f"{pretrained.card('12_prior')['steps']:,} steps")
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ## Deep dive: sampling with a key/value cache
# *Adds the attention step that makes sampling fast, as an exercise. The core path resumes at section 4.*
#
# Sampling draws the $T$ codes one at a time. Re-running the transformer on the whole prefix at every step repeats
# work: in a causal model, the keys and values of earlier positions do not change when a code is appended. So each
# attention layer keeps them in a **cache**, and a step runs the network on the one new position only, as GPT-2's
# released code does (Radford et al. 2019). A step then computes one position instead of the whole prefix.
#
# ### Exercise: one attention step with a cache
# Write `cached_attention_step(q, k, v, cache)` returning `(out, (k_all, v_all))`:
# - `q`, `k`, `v` have shape `(B, H, 1, d)`: the query, key and value of the new position, for `H` heads of size `d`;
# - `cache` is `None` at the first position, else `(k_past, v_past)`, each `(B, H, S, d)`: the `S` positions before;
# - the new key and value join the cache after the `S` cached positions; the new query attends to all `S + 1` with
#   scaled dot-product attention, $\operatorname{softmax}(q K^\top / \sqrt{d})\, V$ (Vaswani et al. 2017, eq. 1);
# - return the output `(B, H, 1, d)` and the grown cache, each part `(B, H, S + 1, d)`.
#
# Before you write it: which positions may the new query see, and so which mask does it need?

# %%
def cached_attention_step(q, k, v, cache):
    """(out (B, H, 1, d), (k_all, v_all) (B, H, S + 1, d)): the new position attends to the cache and itself."""
    ### BEGIN SOLUTION
    if cache is not None:
        k = torch.cat([cache[0], k], dim=2)
        v = torch.cat([cache[1], v], dim=2)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return scores.softmax(dim=-1) @ v, (k, v)
    ### END SOLUTION


# %%
from course_lib.checks.generation import check_cached_attention

check_cached_attention(cached_attention_step)
### BEGIN HIDDEN TESTS
check_cached_attention(cached_attention_step, seed=5, cases=((4, 2, 6, 3), (2, 4, 4, 1)))
### END HIDDEN TESTS

# %% [markdown]
# Run over $T$ positions from an empty cache, your step must give what full causal attention gives in one pass.
# `CodePrior.sample` uses the library's version of this step, so it should draw the same codes with and without its
# cache (up to float rounding, which can flip a rare draw).

# %%
from course_lib.claims import verdict

cached_attention_step = solved_or_reference(cached_attention_step, course_lib.prior.cached_attention_step,
                                            "cached_attention_step")
q, k, v = torch.randn(3, 2, CFG.n_heads, T, 16, generator=torch.Generator().manual_seed(0)).unbind(0)
cache, outs = None, []
for t in range(T):
    out, cache = cached_attention_step(q[:, :, t:t + 1], k[:, :, t:t + 1], v[:, :, t:t + 1], cache)
    outs.append(out)
gap = (torch.cat(outs, 2) - F.scaled_dot_product_attention(q, k, v, is_causal=True)).abs().max().item()
claim(gap < 1e-5, f"{T} cached steps equal full causal attention (largest difference {gap:.1e})",
      kind="demonstration")
with torch.no_grad():
    codes = [prior.sample(4, top_k=16, labels=s_labels[:4], use_cache=c,
                          generator=torch.Generator(device=device).manual_seed(1)) for c in (True, False)]
same = float((codes[0] == codes[1]).float().mean())
print(verdict(same == 1.0, "the prior draws the same codes with and without its cache",
              f"{same:.1%} of the codes agree: float rounding flipped a draw"))

# %% [markdown]
# ## 4. Completion: keep the known tokens, sample the rest
# To complete an image, fix the known tokens and sample the others in raster order. The known tokens stay **in the
# running sequence**, so every later token is conditioned on them, as in iGPT's half-image completions (Chen et al.
# 2020) and Esser et al. (2021). A token sees only the tokens before it, so a known *lower* half cannot steer the
# upper half; MaskGIT's bidirectional model (Chang et al. 2022, notebook 13) can.
#
# ### Exercise 2: conditioning on known tokens
# `tokens` (n, T) holds the known codes, `keep` (n, T) is True where a code is known. For each position `t` in
# order: `prior(codes, labels)[:, t]` gives the logits (n, K) of code `t` given the codes before it. Divide them by
# `temperature`, filter them with `top_k_filter(logits, top_k)` (from `course_lib.prior`; `None` keeps all), draw
# with `torch.multinomial` and `generator`, and keep the known code where `keep[:, t]` is True. The visible check
# tries temperature 2 and top-k 3; the hidden tests try others.

# %%
from course_lib.prior import top_k_filter


@torch.no_grad()
def complete_codes(prior, tokens, keep, labels=None, temperature=1.0, top_k=None, generator=None):
    """Sample the unknown codes of tokens (n, T) in raster order; keep those where keep (n, T) is True."""
    codes = tokens.clone()
    ### BEGIN SOLUTION
    for t in range(prior.seq_len):
        logits = top_k_filter(prior(codes, labels)[:, t] / temperature, top_k)
        new = torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator).squeeze(1)
        codes[:, t] = torch.where(keep[:, t], tokens[:, t], new)
    ### END SOLUTION
    return codes


# %%
from course_lib.checks.generation import check_complete_codes

check_complete_codes(complete_codes)
### BEGIN HIDDEN TESTS
check_complete_codes(complete_codes, seed=1, temperature=0.5, top_k=2)
### END HIDDEN TESTS

# %% [markdown]
# Your `complete_codes` at work (`CodePrior.sample(..., known=(keep, tokens))` does the same, faster). We keep the
# top 4 rows of the 7×7 grid and sample the bottom 3 rows, twice. The last row is the **paste-after** baseline of
# the test below: a sample drawn without the known rows, pasted in afterwards.

# %% tags=["fig-completions"]
from course_lib.checks.generation import complete_codes_reference

complete_codes = solved_or_reference(complete_codes, complete_codes_reference, "complete_codes")
keep = torch.zeros(h, w, dtype=torch.bool, device=device)
keep[:4] = True
keep = keep.flatten()
src = flatten_grid(codes_test[:8])
completions = [complete_codes(prior, src, keep.expand(8, -1), y_test[:8], 1.0, 16, gen) for _ in range(2)]
pasted = torch.where(keep, src, prior.sample(8, top_k=16, labels=y_test[:8], generator=gen))   # never saw the top
show_pairs(x_test[:8].cpu(), [decode_all(tokenizer, unflatten_grid(c, h, w)).cpu() for c in [src] + completions + [pasted]],
           n=8, titles=("original", "tokenizer's reconstruction", "completion 1", "completion 2", "paste-after"))
plt.show()

# %% [markdown]
# **Does the prior use the known part?** Comparing completions with free samples cannot fail: the decoder lets every
# pixel depend on every token, so pasting the true top into *any* sample pulls its bottom towards the truth. Two
# tests that could fail, on held-out images (`course_lib.generation.completion_tests`):
#
# 1. **Likelihood.** The code length of the true bottom after its own top, against after the top of another test
#    image of the same class. A prior that ignores the top scores both the same.
# 2. **Pixels.** Bottom-part error of completions against the **paste-after** baseline above. Both decode the same
#    true top; only the completion let the prior see it.
#
# Both are paired per image. If the prior uses the top, expect both differences positive, with 95% bootstrap
# intervals over images above 0.

# %%
from course_lib.generation import completion_tests

n_m = min(CFG.n_complete, len(test_tokens))
res = completion_tests(prior, tokenizer, test_tokens[:n_m].to(device), y_test[:n_m], keep, x_test[:n_m],
                       grid_shape=(h, w), draws=CFG.draws, generator=gen)
saved = bootstrap_interval(lambda d: d.mean(), res["bits_saved"])
gain = bootstrap_interval(lambda d: d.mean(), res["mse_gain"])
print(f"code length of the true bottom: after its own top {float(res['bits_own'].mean()):.1f} bits, after another "
      f"image's top {float(res['bits_other'].mean()):.1f} bits; saved {saved}")
print(f"bottom MSE: completion {float(res['mse_completed'].mean()):.4f} | paste-after "
      f"{float(res['mse_pasted'].mean()):.4f} | free sample {res['mse_free']:.4f}; paste-after - completion {gain}")
claim(saved.low > 0, f"the own top saves bits on the true bottom: {saved}")
claim(gain.low > 0, f"completions beat paste-after on the bottom's MSE: {gain}");

# %% [markdown]
# ## Deep dive: the tokenizer as a compressor
# *Adds a rate-distortion comparison at equal rate with JPEG and WebP. The core path resumes at the summary.*
#
# A token grid *is* a compressed image: `h * w * log2 K` bits as raw indices, or fewer with an entropy coder driven
# by the prior (arithmetic coding gets within a few bits of the model's negative log2-likelihood; we add `log2 10`
# bits for the class label). A coarser tokenizer: merge the K codes into K/8 clusters with k-means (each token
# replaced by its cluster's representative code, no retraining).
#
# Against them, classical codecs on the same images. Pillow's JPEG bottoms out near 0.3 bits per pixel here, so we
# add two ways to reach low rates: **WebP**, and WebP of the image at **half size** (area-downsampled, upsampled
# back with bicubic interpolation; `course_lib.compression.mosaic_codec`). Each codec codes
# the mosaic of all test images as one file, every image padded by edge replication to a multiple of 16 pixels so
# that no codec block mixes two images; the size is divided by the number of images. Distortion: PSNR and the
# course's perceptual distance (`course_lib.perceptual`).
#
# What this rate leaves out: the decoder, codebook and prior weights (a receiver must already hold them); the
# tokenizer was trained on this dataset while the codecs were designed for any image; and the prior's code length
# is ideal, not a real bitstream.

# %%
from course_lib.claims import verdict
from course_lib.compression import mosaic_codec
from course_lib.perceptual import PerceptualLoss, lpips_distance
from course_lib.quantize import kmeans

perc = PerceptualLoss(backend="course", verbose=False).to(device)
pixels = x_test.shape[-1] * x_test.shape[-2]
with torch.no_grad():  # the test images' features: the same for every point below, so computed once
    test_feats = [torch.cat(stage) for stage in zip(*(perc.features(x_test[i:i + 256]) for i in range(0, len(x_test), 256)))]


@torch.no_grad()
def perceptual_each(x_hat):
    """Per-image perceptual distance (N,) of x_hat to x_test, in batches."""
    return torch.cat([lpips_distance(perc.features(x_hat[i:i + 256].to(device)), [f[i:i + 256] for f in test_feats],
                                     perc.channel_weights, eps=perc.eps, safe=perc.safe)
                      for i in range(0, len(x_hat), 256)]).flatten().cpu()


def point(method, bpp, x_hat):
    """One rate-distortion point with per-image PSNR and perceptual distance (for paired comparisons)."""
    return dict(method=method, bpp=float(bpp), psnr_each=psnr(x_hat.to(device), x_test, reduction="none").cpu(),
                perc_each=perceptual_each(x_hat))


# the tokenizer: raw indices, entropy coded by the prior, and a merged codebook of K/8 codes
k_small = K // 8
codebook = tokenizer.quantizer.codebook.detach().float().cpu()          # (K, d): the codes in lookup space
km = kmeans(codebook, k_small, iters=20, seed=0)
rep = torch.zeros(k_small, dtype=torch.long)
for c in range(k_small):
    members = torch.nonzero(km.assignments == c).flatten()
    if len(members):
        rep[c] = members[(codebook[members] - km.codebook[c]).pow(2).sum(1).argmin()]
recon_small = decode_all(tokenizer, rep.to(device)[km.assignments.to(device)[codes_test]])
tok_raw = point(f"VQ-GAN K={K}, raw indices", T * math.log2(K) / pixels, recon)
tok_prior = dict(tok_raw, method=f"VQ-GAN K={K} + prior (ideal code length)",      # the same images, fewer bits
                 bpp=(T * bits_per_token + math.log2(n_classes)) / pixels)
tok_small = point(f"VQ-GAN merged to K={k_small}, raw indices", T * math.log2(k_small) / pixels, recon_small)
tokenizer_points = [tok_raw, tok_prior, tok_small]

# the classical codecs: three families, each a curve over its quality setting
FAMILIES = {"JPEG": ("jpeg", 1, (2, 5, 15, 50, 90)),
            "WebP": ("webp", 1, (0, 10, 40, 90)),
            "WebP, half size": ("webp", 2, (0, 5, 10, 30, 90))}
curves = {}
for name, (codec, factor, qualities) in FAMILIES.items():
    pts = []
    for q in qualities:
        bits_per_image, x_codec = mosaic_codec(x_test, codec, q, downsample=factor, block=16)
        pts.append(point(f"{name} q{q}", bits_per_image / pixels, x_codec))
    pts.sort(key=lambda p: p["bpp"])
    curves[name] = [p for i, p in enumerate(pts) if i == 0 or p["bpp"] > pts[i - 1]["bpp"]]   # drop equal rates

print(f"{'method':>42} | {'bits/pixel':>10} | {'PSNR dB':>7} | perceptual")
for r in tokenizer_points + [p for pts in curves.values() for p in pts]:
    print(f"{r['method']:>42} | {r['bpp']:10.3f} | {float(r['psnr_each'].mean()):7.2f} | {float(r['perc_each'].mean()):.4f}")

# %% [markdown]
# **At equal rate.** For each tokenizer point we read every codec family at exactly the tokenizer's rate
# (interpolated between its two nearest qualities, linearly in log-rate, per image; a family whose range does not
# reach that rate is left out) and keep the best family on each measure. The difference tokenizer minus that family
# is paired per image, with a 95% bootstrap interval over images. The quick tokenizer trained for a CPU minute, so
# expect the codecs to win at the rate of its raw indices; at the prior's lower rate the gap is smaller.

# %% tags=["fig-rate-distortion"]
def at_rate(pts, bpp, key):
    """Per-image values of `key` on one codec curve at rate `bpp` (linear in log-rate); None outside its range."""
    rates = [p["bpp"] for p in pts]
    if not rates[0] <= bpp <= rates[-1]:
        return None
    i = max(j for j, r in enumerate(rates) if r <= bpp)
    if i == len(pts) - 1:
        return pts[i][key]
    a = (math.log(bpp) - math.log(rates[i])) / (math.log(rates[i + 1]) - math.log(rates[i]))
    return (1 - a) * pts[i][key] + a * pts[i + 1][key]


for tok in tokenizer_points:
    for key, higher in (("psnr_each", True), ("perc_each", False)):
        options = {name: v for name, pts in curves.items() if (v := at_rate(pts, tok["bpp"], key)) is not None}
        what = "PSNR (dB)" if higher else "perceptual distance"
        if not options:
            print(f"{tok['method']} at {tok['bpp']:.3f} bpp: no codec family reaches this rate")
            continue
        best = (max if higher else min)(options, key=lambda name: float(options[name].mean()))
        diff = bootstrap_interval(lambda d: d.mean(), tok[key] - options[best])
        tok_wins, codec_wins = (diff.low > 0, diff.high < 0) if higher else (diff.high < 0, diff.low > 0)
        print(f"{tok['method']:>42} at {tok['bpp']:.3f} bpp, {what}: tokenizer - {best} = {diff.short('+.3f')} -> "
              + verdict(tok_wins, "the tokenizer wins", verdict(codec_wins, f"{best} wins", "no clear winner")))

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for ax, key, label in ((axes[0], "psnr_each", "PSNR (dB), higher is better"),
                       (axes[1], "perc_each", "perceptual distance, lower is better")):
    for name, pts in curves.items():
        ax.plot([p["bpp"] for p in pts], [float(p[key].mean()) for p in pts], "o-", ms=3, label=name)
    for r, m in zip(tokenizer_points, ["s", "*", "^"]):
        ax.plot(r["bpp"], float(r[key].mean()), m, ms=13 if m == "*" else 9, color="k", mfc="none", label=r["method"])
    ax.set_xscale("log")
    ax.set_xticks([0.1, 0.2, 0.5, 1, 2, 4], ["0.1", "0.2", "0.5", "1", "2", "4"])
    ax.set_xlabel("bits per pixel (log scale)")
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
axes[1].legend(fontsize=7, loc="upper right")
fig.suptitle("rate-distortion on the same test images")
plt.tight_layout()
plt.show()

# %% [markdown]
# Where the prior's saving comes from: most of it would come from code frequencies alone (a unigram entropy coder),
# the rest from context, which section 2 tested. And does merging codes cost distortion? Expect so for a trained
# codebook; for an untrained one it need not.

# %%
unigram_bpp = (T * unigram_bits + math.log2(n_classes)) / pixels
print(f"rates: raw indices {tok_raw['bpp']:.3f} | unigram entropy coder {unigram_bpp:.3f} | prior "
      f"{tok_prior['bpp']:.3f} bits per pixel")
loss = bootstrap_interval(lambda d: d.mean(), tok_raw["psnr_each"] - tok_small["psnr_each"])
claim(loss.low > 0, f"merging the codebook to K={k_small} costs PSNR: full - merged = {loss} dB");

# %% [markdown]
# ## Deep dive: denoising through the tokenizer
# *Adds the tokenizer as a denoiser against the strongest classical filters. The core path resumes at the summary.*
#
# The codebook holds patterns of clean garments. Encoding a noisy image snaps each patch to a clean code, so the
# decoded image loses much of the noise; in practice it does not beat the tokenizer's reconstruction of the clean
# image (its ceiling). The classical baselines are scikit-image's (`course_lib.classical`): a Gaussian filter,
# total variation (Chambolle 2004) and non-local means (Buades et al. 2005), each with its strength tuned on
# **held-out** validation images (`x_val`, never the test images), the same rule for every method. The tokenizer
# is compared with the best of the three on the test images, a choice that favours the filters. The noise is
# `x + std * N(0, 1)`, zero-mean and not clipped; the "noisy" PSNR is of the noisy image clipped to [0, 1].
#
# Expect the tuned filters to win at low noise, where the tokenizer sits at its ceiling, and the gap to shrink as
# the noise grows, since the tokenizer's output hardly changes with the noise.

# %%
from course_lib.classical import DENOISER_GRIDS, add_gaussian_noise, classical_denoisers

GRIDS = dict(gaussian=DENOISER_GRIDS["gaussian"], tv=(0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0),
             nlm=(0.04, 0.07, 0.1, 0.15, 0.22, 0.3, 0.4, 0.55))   # wide enough for every noise level here
NOISE_STDS, METHODS = (0.1, 0.3, 0.5), ("gaussian", "tv", "nlm")
denoise = {}
for std in NOISE_STDS:
    x_noisy = add_gaussian_noise(x_test, std, seed=1)
    rows, outs = classical_denoisers(x_noisy, x_test, add_gaussian_noise(x_val, std, seed=2), x_val,
                                     methods=METHODS, grids=GRIDS, return_outputs=True)
    i = max(range(len(rows)), key=lambda j: rows[j].psnr)      # the best on the test images: favours the filters
    best, best_out = rows[i], outs[METHODS[i]]
    x_tok = decode_all(tokenizer, encode_all(tokenizer, x_noisy))
    each = lambda y: psnr(y.to(device), x_test, reduction="none").cpu()   # noqa: E731
    denoise[std] = dict(rows=rows, best=best, tok=x_tok, best_out=best_out,
                        diff=bootstrap_interval(lambda d: d.mean(), each(x_tok) - each(best_out)),
                        gain=bootstrap_interval(lambda d: d.mean(), each(x_tok) - each(x_noisy.clamp(0, 1))),
                        noisy=float(psnr(x_noisy.clamp(0, 1), x_test)), tokenizer=float(psnr(x_tok, x_test)))
print(f"PSNR (dB) against the clean images; the tokenizer's clean reconstruction (its ceiling): "
      f"{float(psnr(recon, x_test)):.2f}")
print(f"{'noise std':>9} | {'noisy':>6} | " + " | ".join(f"{r.method.split(' (')[0]:>16}" for r in denoise[0.1]["rows"])
      + f" | {'tokenizer':>9}")
for std, r in denoise.items():
    print(f"{std:9.1f} | {r['noisy']:6.2f} | " + " | ".join(f"{row.psnr:9.2f} ({row.value:g})".rjust(16)
                                                            for row in r["rows"]) + f" | {r['tokenizer']:9.2f}")
for std, r in denoise.items():
    d = r["diff"]
    print(f"std {std}: tokenizer - {r['best'].method} = {d.short('+.2f')} dB -> "
          + verdict(d.low > 0, "the tokenizer wins", verdict(d.high < 0, "the classical filter wins", "no clear winner")))

# %% [markdown]
# Which output looks more like a real garment? PSNR rewards the blurry average, so we also score realism at std 0.3
# as notebook 10 does: the judge network's KID and model-free statistics, against real training images. The judge
# was trained on natural colour crops and never saw Fashion-MNIST or grey images, so its numbers here are
# uncalibrated; the gradient statistics and the contrast-normalised sharpness do not depend on it. Expect the
# tokenizer to remove the noise but blur the garments; which output is closer to real is for the table to say.

# %% tags=["fig-tokenizer-denoising"]
from course_lib.image_quality import realism_table

r3 = denoise[0.3]
realism = realism_table(x_test, {"noisy (clipped)": add_gaussian_noise(x_test, 0.3, seed=1).clamp(0, 1),
                                 r3["best"].method: r3["best_out"].to(device), "tokenizer": r3["tok"]},
                        real_ref=train.x[:CFG.n_eval].to(device), fd=False)
realism.show(title="realism at noise std 0.3 (reference: real training images)")
f_name = r3["best"].method
(kid_f, grad_f), (kid_t, grad_t) = ((realism.raw[n]["judge KID"], realism.raw[n]["gradient"]) for n in (f_name, "tokenizer"))
print(verdict(kid_t.high < kid_f.low, "judge: the tokenizer is closer to real",
              verdict(kid_f.high < kid_t.low, f"judge: the {f_name} is closer to real", "judge: no clear difference"))
      + f"; gradient W1: the {'tokenizer' if grad_t < grad_f else f_name} is closer ({grad_t:.3f} vs {grad_f:.3f})")
show_pairs(x_test[:8].cpu(), [im[:8].cpu() for im in (add_gaussian_noise(x_test[:8], 0.3, seed=1).clamp(0, 1),
                                                      r3["best_out"], r3["tok"])], n=8,
           titles=("clean", f"noisy, {r3['noisy']:.1f} dB", f"{r3['best'].method.split(' (')[0]}, {r3['best'].psnr:.1f} dB",
                   f"tokenizer, {r3['tokenizer']:.1f} dB"))
plt.show()

# %% [markdown]
# The claim that can fail: at std 0.3 the tokenizer improves on the noisy image by more than 1 dB (an untrained
# tokenizer does not).

# %%
claim(r3["gain"].low > 1.0, f"at std 0.3 the tokenizer gains {r3['gain']} dB over the noisy image, more than 1 dB");

# %% [markdown]
# ## Summary
# - Stage 2 of VQ-GAN is notebook 06's prior on a VQ-GAN's tokens: raster order, a class token first, next-token
#   cross-entropy. Held-out bits per token are judged against the unigram code length.
# - Nucleus sampling keeps the smallest set of likely codes whose mass reaches `p`: few codes where the prior is
#   sure, many where it hesitates.
# - Completion keeps the known tokens **in** the sequence. The tests that can fail: the likelihood of the true
#   bottom after its own top, and completions against paste-after.
# - The deep dives read the tokenizer as a compressor and as a denoiser, against tuned classical methods.
#
# ## More to try
# 1. Complete the **top** from a known bottom. Run the same two tests and explain the result with the causal mask.
# 2. Train the prior for `prior_steps=600`: do the held-out bits per token and the class agreement improve?
# 3. Set `top_p` to 0.5 and compare the class agreement and the codes used with top-k 16 (draw with
#    `prior.sample(..., top_k=None, top_p=CFG.top_p)`).
# 4. Under `standard`, notebook 11 trains on CIFAR-10. Load its `run_path("11", "vqgan.pt")` with
#    `notebook11_tokenizer(..., dataset="cifar10")` and train a class-conditional prior on its tokens.
#
# ## Further reading
# - P. Esser, R. Rombach, B. Ommer (2021). *Taming Transformers for High-Resolution Image Synthesis.*
#   arXiv:2012.09841 (VQ-GAN; a transformer over its tokens; class-conditional and completion experiments).
# - A. Holtzman, J. Buys, L. Du, M. Forbes, Y. Choi (2020). *The Curious Case of Neural Text Degeneration.*
#   ICLR 2020, arXiv:1904.09751 (nucleus, top-p, sampling).
# - A. Fan, M. Lewis, Y. Dauphin (2018). *Hierarchical Neural Story Generation.* arXiv:1805.04833 (top-k sampling).
# - M. Chen, A. Radford, R. Child, J. Wu, H. Jun, D. Luan, I. Sutskever (2020). *Generative Pretraining from
#   Pixels.* ICML 2020, PMLR 119:1691-1703 (iGPT: a GPT over colour-palette pixels in raster order; completions of
#   half images).
# - T. Salimans, A. Karpathy, X. Chen, D. P. Kingma (2017). *PixelCNN++: Improving the PixelCNN with Discretized
#   Logistic Mixture Likelihood and Other Modifications.* ICLR 2017, arXiv:1701.05517 (likelihoods in bits per
#   dimension).
# - R. Child, S. Gray, A. Radford, I. Sutskever (2019). *Generating Long Sequences with Sparse Transformers.*
#   arXiv:1904.10509 (bits per dimension for transformer image models).
# - H. Chang, H. Zhang, L. Jiang, C. Liu, W. T. Freeman (2022). *MaskGIT: Masked Generative Image Transformer.*
#   arXiv:2202.04200 (a bidirectional transformer over VQ tokens: inpainting from any side).
# - A. van den Oord, O. Vinyals, K. Kavukcuoglu (2017). *Neural Discrete Representation Learning.* arXiv:1711.00937.
# - A. Radford, K. Narasimhan, T. Salimans, I. Sutskever (2018). *Improving Language Understanding by Generative
#   Pre-Training.* OpenAI report (the decoder-only transformer, GPT).
# - A. Vaswani, N. Shazeer, N. Parmar, J. Uszkoreit, L. Jones, A. N. Gomez, L. Kaiser, I. Polosukhin (2017).
#   *Attention Is All You Need.* arXiv:1706.03762 (scaled dot-product attention, eq. 1).
# - A. Radford, J. Wu, R. Child, D. Luan, D. Amodei, I. Sutskever (2019). *Language Models are Unsupervised
#   Multitask Learners.* OpenAI report (GPT-2; its released code keeps each layer's keys and values, `past`).
# - A. Chambolle (2004). *An Algorithm for Total Variation Minimization and Applications.* J. Math. Imaging Vis.
#   20:89-97. A. Buades, B. Coll, J.-M. Morel (2005). *A Non-Local Algorithm for Image Denoising.* CVPR 2005.
# - A. Karpathy, minGPT and nanoGPT (github.com/karpathy), `configure_optimizers`: the weight-decay groups.
