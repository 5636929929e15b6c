# %% [markdown]
# # 00 · Set-up: your environment, profiles, data and how exercises work
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-to-vqgan/course/blob/v0.3.0/notebooks/student/00_setup.ipynb)
#
# **Learning objectives.** After this notebook you can
# - check that your machine runs the course, choose a **profile** and read a settings table;
# - load the course's datasets;
# - solve an exercise, run its **check**, and tell a check from a **claim**;
# - read a lesson: the core path first, the **deep dives** when you want more.
#
# **Prerequisites.** Python and PyTorch tensors. The last deep dive checks the prerequisites of the whole course.
#
# **Estimated time.** Core path about 14 min; 2 deep dives about 38 min more (estimated from this notebook by `make
# stats`). Machine: about 4 s under `quick` on 2 CPU cores; under 1 min of training under `standard` on a T4
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
# Every notebook starts with that cell. It installs `course_lib`, the course's helper package, where it is missing
# (Colab, Kaggle), seeds every random generator and picks the device.

# %% [markdown]
# ## 1. The environment
# The course needs Python 3.10 and PyTorch 2.3 or newer. If the next cell fails, run `make lab` again.

# %%
import sys

import torch

from course_lib.env import environment_report

report = environment_report()
for key, value in report.items():
    print(f"{key:>12}: {value}")
assert sys.version_info >= (3, 10) and tuple(int(p) for p in torch.__version__.split(".")[:2]) >= (2, 3)
assert report["device"] == str(ENV.device)

# %% [markdown]
# ## 2. Profiles: one switch for every size
# Every notebook sets its steps, batch size, data and model width once, for three profiles:
#
# | profile | meant for | what you get |
# |---|---|---|
# | `quick` | a laptop CPU | tiny data and step counts; a notebook in about a minute |
# | `standard` | one GPU (a Colab T4) | results that look right, in about 30 minutes or less |
# | `full` | an A100/H100-class GPU | closer to the papers' settings |
#
# The default is `quick` on a CPU and `standard` with CUDA. To choose, uncomment the line in the set-up cell and
# restart the kernel, or set `COURSE_PROFILE` before starting Jupyter. A settings table, the active column marked:

# %%
from course_lib.profiles import settings

CFG = settings(
    quick=dict(n_images=16, demo_steps=60, batch_size=32),
    standard=dict(n_images=64, demo_steps=300, batch_size=128),
    full=dict(n_images=64, demo_steps=300, batch_size=256),
)
CFG

# %% [markdown]
# ## 3. The datasets
# MNIST digits, Fashion-MNIST clothes and small colour images. Under `quick`, or offline, notebooks use small
# subsets shipped in `course_lib`. Offline, CIFAR-10 is replaced by **"natural"**: 32×32 crops of public-domain
# photographs. Images are float tensors (N, C, H, W) in [0, 1].

# %% tags=["fig-datasets"]
import matplotlib.pyplot as plt

from course_lib.data import load_dataset
from course_lib.viz import show_images

loaded = {name: load_dataset(name, split="train") for name in ["mnist", "fashion-mnist", "natural"]}
fig, axes = plt.subplots(1, 3, figsize=(9.5, 3.6))
for ax, (name, ds) in zip(axes, loaded.items()):
    print(f"{name:>14}: {ds.display_name} | x {tuple(ds.x.shape)} {ds.x.dtype} | y {ds.y.dtype}")
    show_images(ds.x[: CFG.n_images], nrow=4, ax=ax, title=name)
plt.show()

# %% [markdown]
# ## 4. Exercises and checks
# An exercise is a function whose body is `raise NotImplementedError()`: replace that line with your code. The next
# cell runs a **check**: it compares your function with a reference on random inputs and prints a green line or
# names the likely mistake. Graders run hidden cases too. While an exercise is unsolved or wrong, later cells use the
# course's reference and say so.
#
# **Exercise 0.** GAN decoders often work with images in [-1, 1] rather than [0, 1]. Write `to_signed(x)` that maps
# [0, 1] linearly onto [-1, 1], so 0 → -1 and 1 → 1.

# %%
def to_signed(x: torch.Tensor) -> torch.Tensor:
    """Map images in [0, 1] to [-1, 1]."""
    ### BEGIN SOLUTION
    return 2 * x - 1
    ### END SOLUTION


# %%
from course_lib.checks.basics import check_to_signed

check_to_signed(to_signed)
### BEGIN HIDDEN TESTS
check_to_signed(to_signed, seed=11, shape=(2, 3, 5, 7), dtype=torch.float64)
### END HIDDEN TESTS

# %% [markdown]
# Here is the check given a plausible wrong answer (scaling without shifting):

# %%
from course_lib.checks import CheckFailed

try:
    check_to_signed(lambda x: 2 * x)
except CheckFailed as err:
    print("CheckFailed:", err)

# %% [markdown]
# ## 5. Checks, claims and verdicts
# A **check** tests your code. A **claim** tests a result: `claim(condition, message, kind=...)` stops the notebook
# with `ClaimFailed` if a measurement did not come out as stated. Its kind is `measured`: it could have come out the
# other way; `demonstration`: true whatever training did; or `sanity`: the set-up is as described. A **verdict**
# prints the sentence the numbers support, so conclusions are computed, not written in advance.
#
# **When a claim fails after you changed a setting** for a "More to try" exercise, nothing is broken: your change
# changed the result. Put `import os; os.environ["COURSE_CLAIMS"] = "report"` in the set-up cell, restart and
# re-run. Claims then print "holds" or "does NOT hold" and the notebook carries on.

# %%
from course_lib.claims import claim, verdict

dark = (loaded["mnist"].x < 0.1).float().mean().item()
claim(dark > 0.5, f"most MNIST pixels are background: {dark:.0%} are below 0.1", kind="sanity")
print(verdict(dark > 0.75, f"Digits are thin strokes on a black page: {dark:.0%} of the pixels are background.",
              f"Only {dark:.0%} of the pixels are background."))

# %% [markdown]
# ## 6. How to read a lesson
# Each lesson has a **core path**: what the next lessons need. The header estimates its time. **Deep dive** sections
# add depth: multi-seed studies, speed and memory, history, extra baselines. Their first line says where the core
# path resumes. Read the core path first, but run every cell: later cells may need earlier ones.

# %% [markdown]
# ## Deep dive: the training loop, checkpoints and Colab
# *Adds a tour of `course_lib`, the training loop with a resumed run, and keeping checkpoints on Google Drive. The
# core path resumes at the summary.*
#
# Each notebook builds a piece by hand, checks that it equals the `course_lib` version, and from then on uses the
# `course_lib` one. Each module is one concern, short enough to read in one sitting:

# %%
import importlib

for name in ["profiles", "env", "data", "train", "viz", "checks", "claims", "losses", "quantize", "metrics",
             "image_quality", "models", "prior", "perceptual", "gan", "vqgan"]:
    mod = importlib.import_module(f"course_lib.{name}")
    print(f"course_lib.{name:<13} {(mod.__doc__ or '').strip().splitlines()[0]}")

# %% [markdown]
# All notebooks train with one loop, `course_lib.train.fit`. You give it a function that returns named losses, an
# optimiser and the data. It shows a progress bar, records a history you can plot, stops with a clear message if a
# loss becomes `nan`, uses mixed precision on a GPU, and writes checkpoints. Here it fits a linear classifier on
# MNIST for half the steps. Then a second call with a larger `steps` resumes the same run, as it would after a crash
# or a Colab disconnect: weights, optimiser, random state, data order and history all come back.

# %% tags=["fig-training-loop"]
import torch.nn.functional as F

from course_lib.data import make_loader
from course_lib.env import run_path
from course_lib.train import fit

loader = make_loader(loaded["mnist"], batch_size=CFG.batch_size, seed=0)
classifier = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10)).to(ENV.device)
optimizer = torch.optim.Adam(classifier.parameters(), lr=1e-2)


def loss_fn(batch, step):
    x, y = batch
    logits = classifier(x)
    return {"loss": F.cross_entropy(logits, y), "accuracy": (logits.argmax(1) == y).float().mean()}


ckpt = run_path("00", "classifier.pt")     # runs/<profile>/00/classifier.pt
ckpt.unlink(missing_ok=True)               # this demo starts from scratch each time
half = CFG.demo_steps // 2
fit(loss_fn, optimizer, loader, steps=half, model=classifier, checkpoint=ckpt, log_every=10, desc="first run")
history = fit(loss_fn, optimizer, loader, steps=CFG.demo_steps, model=classifier, checkpoint=ckpt, log_every=10,
              desc="resumed")
fig = history.plot(title="linear classifier on MNIST")
for ax in fig.axes:
    ax.axvline(half, color="gray", ls="--", lw=1)
    ax.text(half, ax.get_ylim()[1], " resumed", va="top", fontsize=8, color="gray")
fig.axes[0].set_ylabel("cross-entropy (nats)")
plt.show()

# %% [markdown]
# The resumed run should end at the requested step and beat the 10% accuracy of guessing by far: a linear
# classifier reaches about 85-90% on MNIST.

# %%
assert history.steps_for("loss")[-1] == CFG.demo_steps
acc = history.mean("accuracy", last=2)
claim(acc > 0.5, f"accuracy {acc:.2f} > 0.5 after {CFG.demo_steps} steps");

# %% [markdown]
# **Checkpoints on Colab.** `fit` writes checkpoints under `runs/`, one folder per profile. A Colab VM and its files
# vanish when the runtime is recycled, so on Colab keep them on Google Drive. Before any training, set
# `KEEP_ON_DRIVE = True` below, or set `COURSE_RUNS` the same way in each notebook's set-up cell. Re-running a
# training cell then resumes from Drive. `make course` executes every notebook into `build/executed/`.

# %%
import os

from course_lib.env import runs_root

KEEP_ON_DRIVE = False       # on Colab: set True (Drive asks for permission once per runtime)
if KEEP_ON_DRIVE and course_lib.in_colab():
    from google.colab import drive

    drive.mount("/content/drive")
    os.environ["COURSE_RUNS"] = "/content/drive/MyDrive/vae-to-vqgan/runs"
print("checkpoints go to", runs_root().name, "under the working directory" if not KEEP_ON_DRIVE else "on Drive")

# %% [markdown]
# ## Deep dive: check your prerequisites
# *Adds a ten-item self-check of the Python/PyTorch, probability and linear algebra the course assumes. The core path
# resumes at the summary.*
#
# Write each small function, then run its check. A wrong try is answered with the mistake and the explanation. If
# an item takes you more than a few minutes, revise that topic first: the PyTorch tutorials ("Tensors",
# "Autograd"), and a probability text on Gaussians and the KL divergence (e.g. Bishop 2006, sections 1.6 and 2.3).

# %%
def pairwise_differences(a, b):
    """Broadcasting. a (N, D), b (K, D) -> (N, K, D) with out[n, k] = a[n] - b[k]. No Python loops."""
    ### BEGIN SOLUTION
    return a[:, None, :] - b[None, :, :]
    ### END SOLUTION


# %%
from course_lib.checks.basics import (check_batched_scores, check_entropy_bits, check_expected_square,
                                      check_frozen_scale, check_gaussian_log_density, check_gradient_at,
                                      check_kl_gaussians, check_pairwise_differences, check_row_norms, check_softmax)

check_pairwise_differences(pairwise_differences)
### BEGIN HIDDEN TESTS
check_pairwise_differences(pairwise_differences, seed=5)
### END HIDDEN TESTS

# %%
def batched_scores(q, k):
    """Matrix products. q (B, T, D), k (B, S, D) -> (B, T, S): out[b, t, s] = dot product of q[b, t] and k[b, s]."""
    ### BEGIN SOLUTION
    return q @ k.transpose(1, 2)
    ### END SOLUTION


# %%
check_batched_scores(batched_scores)
### BEGIN HIDDEN TESTS
check_batched_scores(batched_scores, seed=5)
### END HIDDEN TESTS

# %%
def row_norms(x):
    """Norms. x (N, D) -> (N,): the Euclidean length of each row."""
    ### BEGIN SOLUTION
    return x.pow(2).sum(dim=1).sqrt()
    ### END SOLUTION


# %%
check_row_norms(row_norms)
### BEGIN HIDDEN TESTS
check_row_norms(row_norms, seed=5)
### END HIDDEN TESTS

# %%
def gradient_at(f, x):
    """Autograd. The gradient df/dx of a scalar function f at the 1-D tensor x, computed with autograd."""
    ### BEGIN SOLUTION
    x = x.detach().clone().requires_grad_(True)
    return torch.autograd.grad(f(x), x)[0]
    ### END SOLUTION


# %%
check_gradient_at(gradient_at)
### BEGIN HIDDEN TESTS
check_gradient_at(gradient_at, seed=5)
### END HIDDEN TESTS

# %%
def frozen_scale(x, s):
    """.detach(). Return x * s in value, but let gradients reach x only: s is treated as a constant."""
    ### BEGIN SOLUTION
    return x * s.detach()
    ### END SOLUTION


# %%
check_frozen_scale(frozen_scale)
### BEGIN HIDDEN TESTS
check_frozen_scale(frozen_scale, seed=5)
### END HIDDEN TESTS

# %%
def softmax(logits):
    """A softmax over the last axis that also works for logits near 1000. Do not call torch.softmax."""
    ### BEGIN SOLUTION
    shifted = logits - logits.max(dim=-1, keepdim=True).values
    return shifted.exp() / shifted.exp().sum(dim=-1, keepdim=True)
    ### END SOLUTION


# %%
check_softmax(softmax)
### BEGIN HIDDEN TESTS
check_softmax(softmax, seed=5)
### END HIDDEN TESTS

# %%
def gaussian_log_density(x, mu, sigma):
    """log N(x; mu, sigma^2), elementwise; sigma is the standard deviation."""
    ### BEGIN SOLUTION
    return -0.5 * math.log(2 * math.pi) - torch.log(sigma) - 0.5 * ((x - mu) / sigma) ** 2
    ### END SOLUTION


# %%
import math

check_gaussian_log_density(gaussian_log_density)
### BEGIN HIDDEN TESTS
check_gaussian_log_density(gaussian_log_density, seed=5)
### END HIDDEN TESTS

# %%
def kl_gaussians(mu1, s1, mu2, s2):
    """KL(N(mu1, s1^2) || N(mu2, s2^2)), elementwise; s1, s2 are standard deviations."""
    ### BEGIN SOLUTION
    return torch.log(s2 / s1) + (s1**2 + (mu1 - mu2) ** 2) / (2 * s2**2) - 0.5
    ### END SOLUTION


# %%
check_kl_gaussians(kl_gaussians)
### BEGIN HIDDEN TESTS
check_kl_gaussians(kl_gaussians, seed=5)
### END HIDDEN TESTS

# %%
def expected_square(mu, sigma):
    """E[z^2] for z ~ N(mu, sigma^2), exactly (no sampling)."""
    ### BEGIN SOLUTION
    return mu**2 + sigma**2
    ### END SOLUTION


# %%
check_expected_square(expected_square)
### BEGIN HIDDEN TESTS
check_expected_square(expected_square, seed=5)
### END HIDDEN TESTS

# %%
def entropy_bits(p):
    """p (..., K) probabilities along the last axis -> (...): the entropy in bits, with 0 log 0 = 0."""
    ### BEGIN SOLUTION
    return -torch.special.xlogy(p, p).sum(dim=-1) / math.log(2)
    ### END SOLUTION


# %%
check_entropy_bits(entropy_bits)
### BEGIN HIDDEN TESTS
check_entropy_bits(entropy_bits, seed=5)
### END HIDDEN TESTS

# %% [markdown]
# ## Summary
# - One set-up cell per notebook; one settings table that follows the profile.
# - Checks test your code; claims test results; `COURSE_CLAIMS=report` turns failed claims into reports.
# - Read the core path first; deep dives say where it resumes.

# %% [markdown]
# ## Further reading
# - A. Paszke et al. (2019), *PyTorch: An Imperative Style, High-Performance Deep Learning Library*, arXiv:1912.01703.
# - C. M. Bishop (2006), *Pattern Recognition and Machine Learning*, Springer (sections 1.6 and 2.3: entropy, KL
#   divergence, the Gaussian).
# - H. Xiao, K. Rasul, R. Vollgraf (2017), *Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning
#   Algorithms*, arXiv:1708.07747.
# - Y. LeCun, L. Bottou, Y. Bengio, P. Haffner (1998), *Gradient-Based Learning Applied to Document Recognition*, Proc. IEEE.
