# %% [markdown]
# # 00 · Set-up: your environment, profiles, data and how exercises work
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/vae-to-vqgan/course/blob/v0.2.0/notebooks/student/00_setup.ipynb)
#
# **Learning objectives.** After this notebook you can
# - check that your machine (laptop CPU, Colab GPU, workstation) runs the course, and see which device it uses;
# - choose a **profile** (`quick`, `standard`, `full`) and read a notebook's settings table;
# - load the course's datasets, online or offline, and know exactly which images you are looking at;
# - find your way around `course_lib`, the small package that holds the final version of what the notebooks build;
# - solve an exercise and run its **check**.
#
# **Prerequisites.** Python and a first contact with PyTorch tensors.
#
# **Estimated time.** Core path about 27 min (estimated from this notebook by `make stats`). Machine: about 7 s under
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
# Every notebook starts with that one cell. Where `course_lib`, this course's helper package, is missing (Colab,
# Kaggle, a fresh cloud kernel) it installs it with `%pip`, pinned to the course release the notebook belongs to,
# with the `metrics` extra (real LPIPS and FID when a network can fetch their weights); pip's own messages show in
# the cell if anything goes wrong. On your own machine `make lab` has installed it already, so the cell only imports
# it. Then `setup_notebook` seeds every random number generator (so your run matches the text), picks the device and
# prints one line: the profile, the device and the versions.
#
# ## 1. The environment
# The table below is what bug reports should include.

# %%
from course_lib.env import environment_report, get_device

report = environment_report()
for key, value in report.items():
    print(f"{key:>12}: {value}")

# %% [markdown]
# **Check.** The course needs PyTorch 2.3 or newer (the first with `torch.amp.GradScaler("cuda")`, which mixed
# precision on a GPU uses) and Python 3.10 or newer; `get_device()` must agree with the
# report. If this cell fails, run `make lab` again (it installs everything into `.venv/`), or on Colab restart the
# runtime.

# %%
import torch

major, minor = (int(p) for p in torch.__version__.split(".")[:2])
import sys

assert (major, minor) >= (2, 3), f"PyTorch {torch.__version__} is too old: the course needs 2.3 or newer"
assert sys.version_info >= (3, 10), "Python 3.10 or newer is needed"
assert str(get_device()) == report["device"] == str(ENV.device)
print("environment OK:", ENV)

# %% [markdown]
# ## 2. Profiles: one switch for every size
# Training a VQ-GAN for real needs a GPU and tens of minutes; checking that the code works needs neither. So every
# notebook declares its sizes (steps, batch size, subset size, model width) **once**, for three profiles:
#
# | profile | meant for | what you get |
# |---|---|---|
# | `quick` | a laptop CPU, CI | tiny subsets and step counts; every notebook in about a minute; plots and checks still work |
# | `standard` | one consumer GPU (Colab T4) | about 30 minutes a notebook; results that look right |
# | `full` | an A100/H100-class GPU | closer to the papers' settings |
#
# The default is `quick` on a CPU and `standard` when CUDA is present. To choose, set the environment variable
# `COURSE_PROFILE` before starting Jupyter (`COURSE_PROFILE=standard make lab`), or uncomment the line in the
# set-up cell. This is what a notebook's settings cell looks like; the active column is marked. (The course's tests
# also run every notebook in a *smoke* mode, `COURSE_SMOKE=1`: the `standard` shapes with a handful of steps, so that
# no `standard` configuration reaches a GPU untried. You will not need it; it shows as a line under the table.)

# %%
from course_lib.profiles import PROFILES, active_profile, settings

CFG = settings(
    quick=dict(n_images=16, demo_steps=60, batch_size=32),
    standard=dict(n_images=64, demo_steps=300, batch_size=128),
    full=dict(n_images=64, demo_steps=300, batch_size=256),
)
CFG

# %%
print("active profile:", active_profile(), "| all profiles:", PROFILES)
print("CFG.demo_steps =", CFG.demo_steps)
assert CFG.profile == active_profile() == ENV.profile

# %% [markdown]
# A misspelt profile stops with a message that says what to do, rather than silently running the wrong sizes:

# %%
from course_lib.profiles import ProfileError, set_profile

try:
    set_profile("quik")
except ProfileError as err:
    print("ProfileError:", err)
set_profile(None)  # back to the environment's choice
assert active_profile() == ENV.profile

# %% [markdown]
# ## 3. The datasets
# The course uses handwritten digits (MNIST), clothes (Fashion-MNIST) and small natural colour images (CIFAR-10).
# With a network connection under `standard`/`full`, torchvision downloads the full sets once into `data/`.
# Offline, and always under `quick`, every notebook runs from small subsets that ship inside the `course_lib`
# package itself (so a pip-installed course has them too; `data/README.md` in the repository gives their sources,
# licences and the script that rebuilt them). CIFAR-10 has no published licence, so it is
# never shipped; its offline stand-in is **"natural"**: 32×32 crops of the public-domain photographs that
# scikit-image bundles. Each dataset says honestly what it is in `display_name`.

# %%
import warnings

from course_lib.data import DATASETS, load_dataset
from course_lib.viz import show_images

print("datasets:", ", ".join(DATASETS))
loaded = {}
for name in ["mnist", "fashion-mnist", "natural", "cifar10"]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_dataset(name, split="train")
    loaded[name] = ds
    print(f"{name:>14}: {ds.display_name:<60} x {tuple(ds.x.shape)} in [{ds.x.min():.0f}, {ds.x.max():.0f}]")
    for w in caught:
        print(f"{'':>16}note: {w.message}")

# %%
import matplotlib.pyplot as plt

# One panel per distinct set of images: offline, "cifar10" *is* the natural stand-in, so it is not drawn twice.
panels = {}
for name, ds in loaded.items():
    same = [other for other, o in panels.items() if o.x.shape == ds.x.shape and torch.equal(o.x[:4], ds.x[:4])]
    if same:
        print(f"{name} shows the same images as {same[0]} here: one panel for both")
        continue
    panels[name] = ds
fig, axes = plt.subplots(1, len(panels), figsize=(3.1 * len(panels), 3.6))
for ax, (name, ds) in zip(axes, panels.items()):
    aliases = [n for n, d in loaded.items() if n != name and n not in panels and torch.equal(d.x[:4], ds.x[:4])]
    title = f"{name}" + (f"\n(also offline {', '.join(aliases)})" if aliases else "\n")
    show_images(ds.x[: CFG.n_images], nrow=4, ax=ax, title=title)
plt.tight_layout()
plt.show()

# %% [markdown]
# **Check.** Images are float tensors of shape (N, C, H, W) in [0, 1]; labels are int64 (-1 where a set has none).

# %%
for name, ds in loaded.items():
    assert ds.x.dtype == torch.float32 and ds.x.dim() == 4, name
    assert 0.0 <= float(ds.x.min()) and float(ds.x.max()) <= 1.0, name
    assert ds.y.dtype == torch.int64 and len(ds.y) == len(ds.x), name
assert loaded["mnist"].x.shape[1:] == (1, 28, 28) and loaded["natural"].x.shape[1:] == (3, 32, 32)
print("all datasets have the expected layout")

# %% [markdown]
# An unknown name gets a clear error with a suggestion:

# %%
try:
    load_dataset("fashion_mnsit")
except ValueError as err:
    print("ValueError:", err)

# %% [markdown]
# ## 4. A tour of `course_lib`
# Each notebook builds a piece by hand, checks that it equals the `course_lib` version, and from then on uses the
# `course_lib` one. So the package ends up holding the final version of everything the course builds. Every module
# is one concern and short enough to read in one sitting:

# %%
import importlib

modules = ["profiles", "env", "data", "train", "checkpoint", "viz", "checks", "models", "losses", "quantize",
           "metrics", "compression", "prior", "perceptual", "image_quality", "gan", "vqgan", "train_vqgan", "build"]
for name in modules:
    try:
        mod = importlib.import_module(f"course_lib.{name}")
        doc = (mod.__doc__ or "").strip().splitlines()[0] if mod.__doc__ else ""
    except ImportError as exc:
        doc = f"(not importable here: {exc})"
    print(f"course_lib.{name:<13} {doc}")

# %% [markdown]
# ### The training loop
# All notebooks train with one loop, `course_lib.train.fit`. You give it a function that returns named losses, an
# optimiser and the data; it shows a progress bar with live losses, records a history you can plot, stops with a
# clear message if a loss becomes `nan`, uses mixed precision on a GPU, and writes checkpoints you can resume from.
# Here it fits a linear classifier on MNIST for a few steps:

# %%
import torch.nn.functional as F

from course_lib.data import make_loader
from course_lib.train import fit

mnist = loaded["mnist"]
loader = make_loader(mnist, batch_size=CFG.batch_size, seed=0)
classifier = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10)).to(ENV.device)
optimizer = torch.optim.Adam(classifier.parameters(), lr=1e-2)


def loss_fn(batch, step):
    x, y = batch
    logits = classifier(x)
    return {"loss": F.cross_entropy(logits, y), "accuracy": (logits.argmax(1) == y).float().mean()}


from course_lib.env import run_path

ckpt = run_path("00", "classifier.pt")     # runs/<profile>/00/classifier.pt (see section 6 to keep it on Drive)
ckpt.unlink(missing_ok=True)               # this demo starts from scratch each time
half = CFG.demo_steps // 2
history = fit(loss_fn, optimizer, loader, steps=half, model=classifier, checkpoint=ckpt, log_every=10, desc="linear classifier")

# %% [markdown]
# Suppose the kernel died here (on Colab: a disconnect). Calling `fit` again with the same checkpoint path and a
# larger `steps` continues the same run: the weights, the optimiser, the random state, the data order and the
# history all come back, so you lose at most one checkpoint interval.

# %%
history = fit(loss_fn, optimizer, loader, steps=CFG.demo_steps, model=classifier, checkpoint=ckpt, log_every=10,
              desc="linear classifier")
history.plot()
plt.show()
print(history)

# %% [markdown]
# **Check.** The resumed run ended at the requested step, and learning happened (accuracy well above the 10% of
# guessing).

# %%
from course_lib.claims import claim

assert history.steps_for("loss")[-1] == CFG.demo_steps
claim(history.mean("accuracy", last=2) > 0.5, f"accuracy {history.mean('accuracy', last=2):.2f} > 0.5 after training")
print(f"trained to step {history.steps_for('loss')[-1]}; accuracy over the last logs: {history.mean('accuracy', last=2):.2f}")

# %% [markdown]
# ## 5. How exercises and checks work
# Exercises ask you to write a small function. In this (instructor's) copy the solution sits between two marker
# comments that nbgrader recognises; in the student copy (`make student`, or nbgrader's release) the lines between
# them become `raise NotImplementedError()`. The next cell calls a **check** from `course_lib.checks`: it compares
# your function with a reference on random inputs, prints a green line when it matches, and otherwise fails with one
# short line that names the likely mistake. An instructor grading with nbgrader also runs a few hidden cases.
#
# **Exercise 0.** GAN decoders often work with images in [-1, 1] rather than [0, 1]. Write `to_signed(x)` that maps
# [0, 1] onto [-1, 1] (0 → -1, 1 → 1, linearly).

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
# To see what a failing check looks like, here it is given a plausible wrong answer (scaling without shifting):

# %%
from course_lib.checks import CheckFailed

try:
    check_to_signed(lambda x: 2 * x)
except CheckFailed as err:
    print("CheckFailed:", err)

# %% [markdown]
# ## 6. Switching profile and device
# - **Profile**: `COURSE_PROFILE=quick|standard|full` in the environment, or the commented line in the set-up cell
#   (restart the kernel after changing it).
# - **Device**: the course uses CUDA if present, else Apple's MPS, else the CPU. Force one with
#   `COURSE_DEVICE=cpu` (for example to compare speeds).
# - **On Colab**: the badge opens a GPU runtime (a T4); if not, *Runtime → Change runtime type → GPU*. Then run the
#   set-up cell; it installs `course_lib`.
# - **Where checkpoints go**: `runs/` under the working directory, one folder per profile. A Colab VM and its
#   files vanish when the runtime is recycled, so on Colab keep them on your Google Drive: set `COURSE_RUNS` before
#   any training, in each notebook (the cell below shows how; re-running a training cell then resumes from Drive).
# - **Running everything headless**: `make course` executes every notebook into `build/executed/` with outputs;
#   `make test` runs the unit tests and every notebook under `quick`.

# %%
import os

from course_lib.env import runs_root

KEEP_ON_DRIVE = False       # on Colab: set True (Drive asks for permission once per runtime)
if KEEP_ON_DRIVE and course_lib.in_colab():
    from google.colab import drive

    drive.mount("/content/drive")
    os.environ["COURSE_RUNS"] = "/content/drive/MyDrive/vae-to-vqgan/runs"
print("checkpoints of this notebook go to", runs_root().resolve())

# %% [markdown]
#
# ## Summary
# - The set-up cell installs `course_lib` where it is missing and imports it, seeds everything and tells you
#   profile and device.
# - A notebook's sizes live in one settings table that follows the profile.
# - Datasets come in as float tensors in [0, 1]; offline the course uses small subsets and says so.
# - `fit` trains everything; checkpoints make runs resumable.
# - Exercises are followed by checks that either pass or name your mistake.
#
# ## Further reading
# - A. Paszke et al. (2019), *PyTorch: An Imperative Style, High-Performance Deep Learning Library*, arXiv:1912.01703.
# - H. Xiao, K. Rasul, R. Vollgraf (2017), *Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning
#   Algorithms*, arXiv:1708.07747.
# - A. Krizhevsky (2009), *Learning Multiple Layers of Features from Tiny Images* (the CIFAR-10 technical report).
# - Y. LeCun, L. Bottou, Y. Bengio, P. Haffner (1998), *Gradient-Based Learning Applied to Document Recognition*, Proc. IEEE.
