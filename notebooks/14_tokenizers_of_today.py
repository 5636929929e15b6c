# %% [markdown]
# # 14 · Tokenizers of today: residual, lookup-free and spherical quantizers at equal bits
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-to-vqgan/course/blob/v0.3.0/notebooks/student/14_tokenizers_of_today.ipynb)
#
# **Learning objectives.** After this notebook you can
# - write the forward pass of residual vector quantization: levels of codebooks, each coding what the previous
#   levels left;
# - write lookup-free quantization with its entropy penalty, and say what each of the penalty's two terms pushes;
# - compare plain VQ, residual VQ, FSQ, LFQ, BSQ and SimVQ on one autoencoder at equal bits per image, over seeds,
#   on reconstruction, realism, code usage and speed;
# - measure how the code usage of learned and implicit codebooks changes as the codebook grows to 2^16;
# - use quantizer dropout to get one model that serves several bit rates.
#
# **Prerequisites.** Notebooks 03 (straight-through estimator), 04 (VQ-VAE) and 05 (codebook collapse and its
# cures). Notebook 11 for the judge network.
#
# **Estimated time.** Core path about 43 min; 3 deep dives about 11 min more (estimated from this notebook by `make
# stats`). Machine: about 1 min under `quick` on 2 CPU cores; about 1 min of training under `standard` on a T4
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
# Image generators and audio codecs since 2021 mostly use tokenizers other than notebook 04's VQ layer. This
# notebook builds the main ones and compares them on one model. `bits` is the budget of one latent vector.

# %%
from course_lib.profiles import settings

CFG = settings(
    quick=dict(dataset="fashion-mnist", n_train=2000, n_test=256, batch_size=32, lr=2e-3, hidden=16, code_dim=16,
               bits=10, rvq_levels=2, decay=0.9, restart_after=20, steps=100, seeds=3,
               sweep_bits=(6, 16), sweep_steps=80, rd_levels=4, rd_bits_per_level=4, rd_steps=120),
    standard=dict(dataset="fashion-mnist", n_train=20_000, n_test=2000, batch_size=64, lr=1e-3, hidden=64,
                  code_dim=32, bits=10, rvq_levels=2, decay=0.99, restart_after=100, steps=3000, seeds=3,
                  sweep_bits=(6, 8, 10, 12, 14, 16), sweep_steps=2000, rd_levels=4, rd_bits_per_level=4,
                  rd_steps=3000),
)
CFG

# %%
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from course_lib import tokenizer_bench as bench
from course_lib.checks import solved_or_reference
from course_lib.claims import claim, verdict
from course_lib.data import load_dataset
from course_lib.image_quality import judge_net_info, load_judge_net
from course_lib.quantize import squared_distances
from course_lib.viz import show_pairs, show_table

device = ENV.device

# %% [markdown]
# ## 1. One autoencoder, one budget
# We reuse notebook 04's VQ-VAE on Fashion-MNIST: a 28x28 image becomes a 7x7 grid of vectors. Only the quantizer
# changes between arms; each gets `CFG.bits` bits per vector.

# %%
train = load_dataset(CFG.dataset, "train", n=CFG.n_train)
test = load_dataset(CFG.dataset, "test", n=2 * CFG.n_test)
x_eval, x_ref = test.x[:CFG.n_test].to(device), test.x[CFG.n_test:].to(device)  # reconstructed vs held-out real
data_variance = float(train.x.var())
tokens_per_image = (train.x.shape[2] // 4) * (train.x.shape[3] // 4)
print(f"{train.display_name}; {tokens_per_image} vectors x {CFG.bits} bits = {tokens_per_image * CFG.bits} "
      "bits per image")

# %% [markdown]
# ## 2. Residual VQ
# A codebook of `K` codes spends `log2 K` bits per vector, so 20 bits would need a million codes. **Residual VQ**
# (SoundStream, Zeghidour et al. 2021; RQ-VAE, Lee et al. 2022) spends the bits in levels instead:
#
# * level 1 picks the code nearest to `z` and leaves the residual `r_1 = z - q_1`;
# * level 2 picks the code nearest to `r_1` and leaves `r_2 = r_1 - q_2`, and so on for `L` levels;
# * the output is `q_1 + ... + q_L`, at a cost of `L log2 K` bits.
#
# Two levels of 32 codes give 10 bits from 64 codes instead of 1,024. Training uses notebook 03's pieces:
#
# * each level adds its own loss on its own residual, `mse(q_l, sg[r]) + beta * mse(r, sg[q_l])`;
# * the residual subtracts the *detached* code, `r - sg[q_l]`, so a later level cannot pull on an earlier codebook;
# * one straight-through estimator for the sum: `z_q = z + sg[sum - z]`.
#
# ### Exercise 1: the residual VQ forward pass
# Write `residual_vq(z, codebooks, beta)` for `z` (N, D) and `codebooks` (L, K, D). Return `z_q` (N, D),
# `indices` (N, L) and the **sum** of the levels' losses. `squared_distances(a, b)` gives all (N, K) distances.

# %%
def residual_vq(z, codebooks, beta):
    """z (N, D), codebooks (L, K, D), beta -> (z_q (N, D), indices (N, L) int64, loss scalar)."""
    ### BEGIN SOLUTION
    residual, total, loss, indices = z, 0, 0, []
    for codebook in codebooks:
        k = squared_distances(residual.detach(), codebook.detach()).argmin(1)
        q = codebook[k]
        loss = loss + F.mse_loss(q, residual.detach()) + beta * F.mse_loss(residual, q.detach())
        residual = residual - q.detach()
        total = total + q
        indices.append(k)
    return z + (total - z).detach(), torch.stack(indices, dim=1), loss
    ### END SOLUTION


# %%
from course_lib.checks.tokenizers import check_residual_vq, reference_residual_vq

check_residual_vq(residual_vq)
### BEGIN HIDDEN TESTS
check_residual_vq(residual_vq, seed=7, beta=0.6)
### END HIDDEN TESTS

# %% [markdown]
# `course_lib.quantize.ResidualVQ` is the same layer with one quantizer per level, so each level can use notebook
# 05's cures on its own residuals. It agrees with your function:

# %%
from course_lib.quantize import ResidualVQ

residual_vq = solved_or_reference(residual_vq, reference_residual_vq, "residual_vq")
torch.manual_seed(0)
rvq = ResidualVQ(num_levels=2, num_codes=32, code_dim=4).eval()
z_demo = torch.randn(100, 4)
out = rvq(z_demo)
mine = residual_vq(z_demo, rvq.codebooks.detach(), 0.25)
assert torch.equal(out.indices, mine[1]) and torch.allclose(out.z_q, mine[0], atol=1e-6)
err_1 = (z_demo - rvq(z_demo, num_levels=1).z_q).pow(2).mean()
print(f"indices {tuple(out.indices.shape)}; squared error: 1 level {err_1:.3f}, 2 levels "
      f"{(z_demo - out.z_q).pow(2).mean():.3f}")

# %% [markdown]
# ## 3. Quantizers without a learned codebook
# **LFQ**, lookup-free quantization (Yu et al. 2023, MAGVIT-v2), quantizes each of `d` dimensions to its sign:
# `+1` if `z_i > 0`, else `-1`. The codebook is the `2^d` corners of a cube and nothing is looked up. The index is
# the binary number of the signs, first dimension most significant.
#
# Nothing stops the encoder from using only a few corners, so MAGVIT-v2 adds an **entropy penalty**. Give each
# vector a soft assignment `q(c | z) = softmax_c(-tau |z - c|^2)` with inverse temperature `tau`; then
#
# $$\text{penalty} = \frac{1}{N}\sum_n H\big(q(\cdot|z_n)\big) \;-\; \gamma\, H\Big(\frac{1}{N}\sum_n q(\cdot|z_n)\Big).$$
#
# The first term is low when each vector sits clearly near one corner. The second is high when the batch spreads
# over all corners, hence its minus sign. Use natural logarithms.
#
# ### Exercise 2: LFQ with its entropy penalty
# Write `lfq(z, inv_temperature, gamma)` for `z` (N, d). Return `z_q` (the signs, with the straight-through
# gradient), `indices` (N,) and the scalar `penalty`. First build all `2^d` sign vectors in index order. An exact 0
# counts as negative.

# %%
def lfq(z, inv_temperature, gamma):
    """z (N, d) -> (z_q (N, d) in {-1, +1} with straight-through gradient, indices (N,) int64, penalty scalar)."""
    ### BEGIN SOLUTION
    d = z.shape[1]
    weights = 2 ** torch.arange(d - 1, -1, -1)
    codes = ((torch.arange(2 ** d)[:, None] // weights) % 2 * 2 - 1).to(z.dtype)  # (2^d, d), row i = index i
    q = torch.where(z > 0, 1.0, -1.0).to(z.dtype)
    prob = (2 * inv_temperature * z @ codes.t()).softmax(1)  # -tau|z - c|^2 = 2 tau z.c + const
    entropy = lambda p: -torch.special.xlogy(p, p).sum(-1)
    penalty = entropy(prob).mean() - gamma * entropy(prob.mean(0))
    return z + (q - z).detach(), ((z > 0).long() * weights).sum(1), penalty
    ### END SOLUTION


# %%
from course_lib.checks.tokenizers import check_lfq, reference_lfq

check_lfq(lfq)
### BEGIN HIDDEN TESTS
check_lfq(lfq, seed=5, inv_temperature=2.0, gamma=0.3)
### END HIDDEN TESTS

# %% [markdown]
# `course_lib.quantize.LFQ` adds projections and weighs the penalty (0.1 in MAGVIT-v2). Beyond 12 bits it
# computes the penalty bit by bit, since a soft assignment to 2^16 codes would not fit in memory.

# %%
from course_lib.quantize import LFQ

lfq = solved_or_reference(lfq, reference_lfq, "lfq")
z_demo = 0.5 * torch.randn(64, 4)
lib = LFQ(4, inv_temperature=1.0, entropy_weight=1.0, entropy="full")(z_demo)
mine = lfq(z_demo, 1.0, 1.0)
assert torch.equal(lib.indices, mine[1]) and abs(float(lib.loss) - float(mine[2])) < 1e-4

# %% [markdown]
# ### Deep dive: what the penalty does to a crowded batch
# *Adds a demonstration: gradient steps on the penalty alone spread 256 vectors over more codes. The core path
# resumes with BSQ and SimVQ below.*

# %%
crowded = (0.3 * torch.randn(256, 4) + torch.tensor([1.0, 1.0, -1.0, 0.2])).requires_grad_(True)
opt = torch.optim.SGD([crowded], lr=2.0)
before = lfq(crowded.detach(), 1.0, 1.0)[1].unique().numel()
for _ in range(100):
    opt.zero_grad()
    lfq(crowded, 1.0, 1.0)[2].backward()
    opt.step()
after = lfq(crowded.detach(), 1.0, 1.0)[1].unique().numel()
print(f"codes used by 256 vectors: {before} before, {after} after 100 gradient steps on the penalty alone")
claim(after > 2 * before, f"the entropy penalty spreads a crowded batch: {before} -> {after} codes",
      kind="demonstration");

# %% [markdown]
# ### BSQ and SimVQ
# **BSQ**, binary spherical quantization (Zhao et al. 2024), projects `z` onto the unit sphere and takes signs
# there: `u = z / |z|`, `q = sign(u) / sqrt(d)`. Codes and inputs all have length 1, so the error `|u - q|` stays
# below `sqrt(2)` whatever the encoder does. Its entropy penalty is LFQ's, computed bit by bit.
#
# **SimVQ** (Zhu et al. 2024) keeps a lookup but writes the codebook as `C W`: a frozen random `C` times a learned
# linear map `W`. A step on `W` moves every code at once, so none is left behind.
#
# All follow the course's quantizer contract. `make_quantizer` builds each kind at a given number of bits. FSQ's
# grid (8, 5, 5, 5) has 1,000 codes, 9.97 bits: the FSQ paper's levels for about 2^10 codes.

# %%
for kind in bench.KINDS:
    q = bench.make_quantizer(kind, CFG.bits, CFG.code_dim, levels=CFG.rvq_levels)
    print(f"{bench.LABELS[kind]:30s} {bench.bits_per_token(q):5.2f} bits per vector")

# %% [markdown]
# ## 4. Side by side at equal bits
# Each arm trains the same autoencoder from the same seed for the same steps. On held-out images we measure:
#
# - PSNR and SSIM;
# - realism: KID in the features of notebook 11's judge, lower being closer to real test images, and
#   contrast-normalised sharpness over that of real images, 1 being as sharp;
# - the share of the codebook used and the entropy of the tokens in bits;
# - the time per training step.
#
# The judge was trained on crops of colour photographs, never on clothing or grey images. By its card it reacts
# more to a colour cast than to blur or noise, and grey images leave it only shape and texture. Hence the second,
# network-free measure.

# %%
judge = load_judge_net(device)
card = judge_net_info()
print("judge trained on:", card.get("trained_on", "?"))
print("its blind spots:", card.get("blind_spots", "?"))
runs, models = {kind: [] for kind in bench.KINDS}, {}
common = dict(train=train, x_eval=x_eval, x_ref=x_ref, judge=judge, steps=CFG.steps, batch_size=CFG.batch_size,
              lr=CFG.lr, hidden=CFG.hidden, code_dim=CFG.code_dim, data_variance=data_variance, device=device,
              levels=CFG.rvq_levels, decay=CFG.decay, restart_after=CFG.restart_after)
for seed in range(CFG.seeds):
    for kind in bench.KINDS:
        models[kind], figures = bench.run(kind, CFG.bits, seed, **common)
        runs[kind].append(figures)

# %% [markdown]
# Each cell is the mean over seeds with a 95% confidence interval: a Student t interval over independent seeds
# with `seeds - 1` degrees of freedom (`course_lib.evidence.replicate_interval`).

# %% tags=["fig-tokenizer-table"]
keys = ["psnr", "ssim", "kid_x1e3", "sharpness_ratio", "usage", "entropy_bits", "ms_per_step"]
show_table(bench.summary_rows(runs, keys, {"psnr": ".2f", "ssim": ".3f", "kid_x1e3": ".0f", "sharpness_ratio": ".2f",
                                           "usage": ".2f", "entropy_bits": ".2f", "ms_per_step": ".0f"}),
           ["quantizer", "PSNR dB", "SSIM", "judge KID x1e3", "sharpness / real", "share of codes used",
            "entropy bits", "ms / step"],
           title=f"{CFG.bits} bits per vector, {CFG.steps} steps, {CFG.seeds} seeds (mean ± 95% t-interval)")

# %% [markdown]
# At equal bits, the arms differ only in how well they spend them: a quantizer that leaves codes unused wastes
# bits. Each line compares an arm with plain VQ seed by seed, and calls a difference only when the paired
# interval excludes 0.

# %%
for key, better in (("psnr", "higher"), ("kid_x1e3", "lower")):
    for kind in bench.KINDS[1:]:
        print(bench.paired_verdict(runs, kind, key, better=better))

# %%
show_pairs(x_eval[:10].cpu(), tuple(bench.reconstruct(models[k], x_eval[:10])[0].cpu() for k in bench.KINDS), n=10,
           titles=("original",) + tuple(bench.LABELS[k] for k in bench.KINDS),
           suptitle=f"the last seed's models after {CFG.steps} steps");

# %% [markdown]
# ## Deep dive: codebook size up to 2^16
# *Adds the usage of VQ, FSQ and LFQ as the codebook grows from 2^6 to 2^16 codes. The core path resumes at
# section 5.*
#
# MAGVIT-v2 uses 2^18 codes and BSQ up to 2^36. A learned codebook must place every code where the encoder puts
# vectors; an implicit one has its corners and grid points from the first step. We train VQ (EMA with restarts:
# k-means on 2^16 codes is too slow here), FSQ and LFQ at several sizes, one seed each. The test set has a limited
# number of vectors, so usage is divided by the most it could be, `min(K, vectors)`.

# %% tags=["fig-usage-vs-size"]
sweep = {kind: [] for kind in ("vq", "fsq", "lfq")}
for bits in CFG.sweep_bits:
    for kind in sweep:
        sweep[kind].append(bench.run(kind, bits, 0, **{**common, "steps": CFG.sweep_steps, "judge": None,
                                                        "kmeans_init": False})[1])
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for kind, rows in sweep.items():
    axes[0].plot(CFG.sweep_bits, [r["usage"] for r in rows], "o-", label=bench.LABELS[kind])
    axes[1].plot(CFG.sweep_bits, [r["entropy_bits"] / r["bits_per_token"] for r in rows], "o-")
axes[0].set(xlabel="log2 K", ylabel="codes used / min(K, test vectors)", title="code usage", ylim=(0, 1.05))
axes[1].set(xlabel="log2 K", ylabel="entropy / log2 K", title="how evenly codes are used", ylim=(0, 1.05))
axes[0].legend()
fig.tight_layout()

# %% [markdown]
# The FSQ paper (Mentzer et al. 2023) reports that FSQ keeps its codebook usage at large sizes while VQ's
# falls. Restarts work against that: each one places up to a batch of codes on real encoder outputs. An
# implicit codebook is only used as widely as the encoder spreads its outputs. Which effect wins here:

# %%
big = {kind: rows[-1]["usage"] for kind, rows in sweep.items()}
print(verdict(big["lfq"] > big["vq"] and big["fsq"] > big["vq"],
              f"At 2^{CFG.sweep_bits[-1]} codes FSQ ({big['fsq']:.0%}) and LFQ ({big['lfq']:.0%}) use more of their "
              f"codebook than VQ ({big['vq']:.0%}).",
              f"At 2^{CFG.sweep_bits[-1]} codes VQ uses {big['vq']:.0%}, FSQ {big['fsq']:.0%}, LFQ {big['lfq']:.0%}: "
              "the implicit codebooks are not ahead here."))

# %% [markdown]
# ## 5. Rate control: one model, several bit rates
# A residual VQ decoded with its first `k` levels sends `k log2 K` bits. But a decoder trained on all `L` levels
# decodes the first levels alone badly. **Quantizer dropout**, from section III-C of SoundStream, uses only the
# first `n` levels in each training batch, `n` drawn from 1 to `L`, so one model serves every rate.
#
# We train one such model and decode it with 1 to `CFG.rd_levels` levels. Against it stand models trained
# separately at each rate for the same steps, and the "truncated" full-rate model decoded with fewer levels.

# %%
rd_common = {**common, "steps": CFG.rd_steps, "judge": None}
rd_bits = CFG.rd_levels * CFG.rd_bits_per_level
dropout_model = bench.run("rvq", rd_bits, 0, **{**rd_common, "levels": CFG.rd_levels, "dropout": True})[0]
separate = {n: bench.run("rvq", n * CFG.rd_bits_per_level, 0, **{**rd_common, "levels": n})[0]
            for n in range(1, CFG.rd_levels + 1)}
rd = bench.rate_distortion(dropout_model, separate, x_eval, tokens_per_image)
show_table(rd, title="PSNR (dB) on held-out images at each rate", floatfmt=".2f")

# %% [markdown]
# Expect the dropout model to gain with every level and to beat truncation at low rates, perhaps at a small cost
# against the separate models. After a short run the decoder, not the bits, may limit every model: then the
# curves lie close together. The long-trained models in the last deep dive show the trade-off clearly.

# %%
print(bench.rate_distortion_verdicts(rd))

# %% [markdown]
# ### Explore: residual depth
# Move the slider to decode with the first `k` levels of the dropout model, beside the rate-distortion curves.

# %% tags=["fig-residual-depth"]
from functools import partial

from course_lib.explorers import IntSlider, explorer
from course_lib.explorers.residual_depth import draw_residual_depth

explorer(partial(draw_residual_depth, model=dropout_model, images=x_eval[:8].cpu(), rd=rd),
         levels=IntSlider(1, CFG.rd_levels, CFG.rd_levels, label="levels decoded"));

# %% [markdown]
# ## Deep dive: the same models after long training
# *Adds the shipped long-trained models beside your short runs. The core path resumes at the summary.*
#
# `data/train_course_checkpoints.py` trained the same arms (seed 0) for thousands of steps. They load here when
# your settings are the ones they were trained with.

# %%
from course_lib import pretrained

shipped = {kind: f"14_{kind}" for kind in bench.KINDS}
long_cfg = dict(bits=CFG.bits, hidden=CFG.hidden, code_dim=CFG.code_dim, rvq_levels=CFG.rvq_levels)
have_long = all(pretrained.available(name, config=long_cfg) for name in shipped.values())
if have_long:
    rows = []
    for kind, name in shipped.items():
        long = bench.evaluate(pretrained.build(name, device), x_eval, x_ref, judge)
        rows.append([bench.LABELS[kind], runs[kind][0]["psnr"], long["psnr"], runs[kind][0]["kid_x1e3"],
                     long["kid_x1e3"], runs[kind][0]["usage"], long["usage"]])
    show_table(rows, ["quantizer", "PSNR yours", "PSNR shipped", "KID yours", "KID shipped", "usage yours",
                      "usage shipped"], floatfmt=".2f", title=f"seed 0: {pretrained.describe(shipped['vq'])}")
    claim(min(r[2] - r[1] for r in rows) > 0.5, "every shipped model reconstructs better than your short run: "
          f"PSNR gains {', '.join(f'{r[2] - r[1]:.1f}' for r in rows)} dB")
else:
    print("The shipped 14_* models are not available with these settings: skipped.")

# %% [markdown]
# The same command also trained every arm with seeds 1 and 2. Their cards keep those figures (the weights of seed 0
# alone are shipped), so here is the long-trained comparison with intervals over three seeds:

# %%
if have_long:
    long_runs = {kind: list(pretrained.card(name)["seed_figures"].values()) for kind, name in shipped.items()}
    show_table(bench.summary_rows(long_runs, keys[:-1], {"psnr": ".2f", "ssim": ".3f", "kid_x1e3": ".0f",
                                                         "sharpness_ratio": ".2f", "usage": ".2f",
                                                         "entropy_bits": ".2f"}),
               ["quantizer", "PSNR dB", "SSIM", "judge KID x1e3", "sharpness / real", "share of codes used",
                "entropy bits"],
               title=f"long-trained, {len(long_runs['vq'])} seeds (mean ± 95% t-interval)")
    for key, better in (("psnr", "higher"), ("kid_x1e3", "lower"), ("usage", "higher")):
        for kind in bench.KINDS[1:]:
            print(bench.paired_verdict(long_runs, kind, key, better=better))

# %% [markdown]
# And the rate control of section 5 after long training: the dropout model and the models trained alone at each
# rate.

# %%
rd_names = ["14_rvq_dropout"] + [f"14_rvq_rate{n}" for n in range(1, CFG.rd_levels + 1)]
rd_cfg = dict(hidden=CFG.hidden, code_dim=CFG.code_dim, rd_bits_per_level=CFG.rd_bits_per_level)
if all(pretrained.available(name, config=rd_cfg) for name in rd_names):
    long_dropout = pretrained.build("14_rvq_dropout", device)
    long_separate = {n: pretrained.build(f"14_rvq_rate{n}", device) for n in range(1, CFG.rd_levels + 1)}
    long_rd = bench.rate_distortion(long_dropout, long_separate, x_eval, tokens_per_image)
    show_table(long_rd, title="long-trained: PSNR (dB) on held-out images at each rate", floatfmt=".2f")
    print(bench.rate_distortion_verdicts(long_rd))

# %% [markdown]
# ## Summary
# - Residual VQ spends its bits in levels, each coding the residual of the ones before. It needs one
#   straight-through estimator for the sum and one VQ loss per level on that level's residual.
# - LFQ and BSQ quantize signs: the codebook is implicit, so nothing can be stranded. An entropy penalty makes
#   each vector confident and the batch diverse. BSQ projects onto the sphere first, which bounds its error.
# - SimVQ keeps a lookup but learns a linear map of a frozen codebook, so all codes move together.
# - At equal bits the tables above say which arms reconstruct better and look more real here, with intervals over
#   seeds. A learned codebook with notebook 05's cures can use more of 2^10 codes than an implicit one: usage
#   depends on where the encoder puts its outputs, not only on whether codes can be stranded.
# - Quantizer dropout gives one model that decodes at several rates, at a small cost against a model per rate.
#
# ## Exercises
# 1. *(checked above)* The residual VQ forward pass.
# 2. *(checked above)* LFQ with its entropy penalty.
# 3. Give the comparison more bits: set `CFG.bits` to 12. Which arms gain the most PSNR, and does usage fall for
#    the learned codebooks?
# 4. Train the comparison longer (`CFG.steps`, for example 300). Do the verdicts of section 4 change?
# 5. Use more residual levels at the same rate: `CFG.rvq_levels = 5` spreads 10 bits over five codebooks of 4
#    codes. Is that better or worse than two levels of 32?
# 6. In `course_lib.quantize.LFQ`, set `entropy_weight=0` (build it by hand and train it with
#    `bench.train_model`). How many codes does it use without the penalty?
#
# ## Further reading
# - N. Zeghidour, A. Luebs, A. Omran, J. Skoglund, M. Tagliasacchi (2021). *SoundStream: An End-to-End Neural
#   Audio Codec*. arXiv:2107.03312 (section III-C: residual VQ, quantizer dropout, k-means start and code
#   restarts).
# - A. Défossez, J. Copet, G. Synnaeve, Y. Adi (2022). *High Fidelity Neural Audio Compression* (EnCodec).
#   arXiv:2210.13438.
# - D. Lee, C. Kim, S. Kim, M. Cho, W.-S. Han (2022). *Autoregressive Image Generation using Residual
#   Quantization* (RQ-VAE). CVPR 2022, arXiv:2203.01941.
# - L. Yu et al. (2023). *Language Model Beats Diffusion: Tokenizer is Key to Visual Generation* (MAGVIT-v2).
#   arXiv:2310.05737 (section 3.1: lookup-free quantization and its entropy penalty).
# - Y. Zhao, Y. Xiong, P. Krähenbühl (2024). *Image and Video Tokenization with Binary Spherical Quantization*.
#   ICLR 2025, arXiv:2406.07548.
# - F. Mentzer, D. Minnen, E. Agustsson, M. Tschannen (2023). *Finite Scalar Quantization: VQ-VAE Made Simple*.
#   arXiv:2309.15505.
# - Y. Zhu, B. Li, Y. Xin, Z. Xia, L. Xu (2024). *Addressing Representation Collapse in Vector Quantized Models
#   with One Linear Layer* (SimVQ). ICCV 2025, arXiv:2411.02038.
# - Q. Yu, M. Weber, X. Deng, X. Shen, D. Cremers, L.-C. Chen (2024). *An Image is Worth 32 Tokens for
#   Reconstruction and Generation* (TiTok: a 1-D sequence of tokens instead of a 2-D grid). arXiv:2406.07550.
# - lucidrains/vector-quantize-pytorch: reference implementations of all of these (the course's tests compare
#   `course_lib.quantize` with it).
