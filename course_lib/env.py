"""The machine a notebook runs on: device choice, seeding, determinism, Colab detection, a version report."""
from __future__ import annotations

import contextlib
import os
import platform
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Union

import numpy as np
import torch

from .profiles import active_profile, smoke_active

DEVICE_ENV_VAR = "COURSE_DEVICE"
RUNS_ENV_VAR = "COURSE_RUNS"
_DEVICES = ("cuda", "mps", "cpu")


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


def get_device(prefer: Optional[Union[str, torch.device]] = None) -> torch.device:
    """CUDA if present, else Apple MPS, else CPU. ``prefer`` or ``$COURSE_DEVICE`` overrides (e.g. ``"cpu"``)."""
    choice = prefer if prefer is not None else os.environ.get(DEVICE_ENV_VAR, "").strip() or None
    if choice is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(choice)
    if device.type not in _DEVICES:
        raise ValueError(f"Unknown device {choice!r}: use one of {', '.join(_DEVICES)}.")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"Device {choice!r} was asked for, but this PyTorch sees no CUDA GPU. "
            f"On Colab: Runtime > Change runtime type > GPU. Elsewhere unset ${DEVICE_ENV_VAR} to use the CPU."
        )
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise RuntimeError(f"Device {choice!r} was asked for, but Apple MPS is not available here.")
    return device


def runs_root() -> Path:
    """Where checkpoints go: ``$COURSE_RUNS`` when set (e.g. a mounted Google Drive folder, so that a recycled
    Colab VM loses nothing), else ``runs/`` under the working directory."""
    return Path(os.environ.get(RUNS_ENV_VAR, "").strip() or "runs").expanduser()


def run_path(*parts: str) -> Path:
    """A checkpoint path for this profile: ``<runs_root()>/<profile>[-smoke]/<parts...>``; its folder is created.

    The profile is part of the path, so a ``quick`` checkpoint is never resumed by a ``standard`` run (or a smoke
    run) of the same notebook: ``run_path("11", "vqgan.pt")`` -> ``runs/quick/11/vqgan.pt``.
    """
    if not parts:
        raise ValueError("run_path needs at least one name, e.g. run_path('11', 'vqgan.pt')")
    profile = active_profile() + ("-smoke" if smoke_active() else "")
    path = runs_root() / profile / Path(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def display_path(path: Union[str, Path]) -> str:
    """A checkpoint path as notebooks should print it: relative to the runs folder (``runs/quick/11/vqgan.pt`` or
    ``$COURSE_RUNS/quick/11/vqgan.pt``), never the machine's absolute path (it would leak into shared outputs and the
    HTML edition). Paths outside the runs folder are printed relative to the working directory where possible."""
    path = Path(path)
    root = runs_root()
    label = f"${RUNS_ENV_VAR}" if os.environ.get(RUNS_ENV_VAR, "").strip() else "runs"
    for base, name in ((root, label), (Path.cwd(), None)):
        try:
            rel = path.resolve().relative_to(base.resolve())
        except (ValueError, OSError):
            continue
        return str(Path(name) / rel) if name else str(rel)
    return path.name if path.is_absolute() else str(path)


@contextlib.contextmanager
def temporary_environ(**values: Optional[str]) -> Iterator[None]:
    """Set (a string) or unset (``None``) environment variables for the ``with`` block, then restore each one as it
    was, set or unset: ``with temporary_environ(MPLBACKEND=None): ...``."""
    def put(key: str, value: Optional[str]) -> None:
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value

    saved = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            put(k, v)
        yield
    finally:
        for k, v in saved.items():
            put(k, v)


def keep_runs_on_drive(folder: str = "vae-to-vqgan-runs", mount_point: str = "/content/drive") -> Path:
    """Colab: mount Google Drive and keep this notebook's checkpoints there (sets ``COURSE_RUNS``), so that a
    disconnect or a recycled VM loses no training: running a training cell again resumes from the last checkpoint.

    Each notebook runs in its own Colab runtime, so call it in each notebook that trains for long (the set-up cell
    holds the line, commented). Elsewhere it changes nothing and says where checkpoints go.
    """
    if not in_colab():
        print(f"Not on Colab: checkpoints stay in {runs_root()} (set COURSE_RUNS to move them).")
        return runs_root()
    from google.colab import drive  # type: ignore[import-not-found]

    drive.mount(mount_point)
    path = Path(mount_point) / "MyDrive" / folder
    path.mkdir(parents=True, exist_ok=True)
    os.environ[RUNS_ENV_VAR] = str(path)
    print(f"Checkpoints go to Google Drive: MyDrive/{folder} (COURSE_RUNS).")
    return path


def seed_everything(seed: int = 0, deterministic: bool = False) -> int:
    """Seed Python, NumPy and PyTorch (all devices). ``deterministic=True`` also asks PyTorch for deterministic
    kernels (slower on GPU; some operations then raise instead of running non-deterministically)."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    return seed


@dataclass(frozen=True)
class NotebookEnv:
    """What :func:`setup_notebook` found: the profile, the device and the seed."""

    profile: str
    device: torch.device
    seed: int

    def __repr__(self) -> str:
        return f"NotebookEnv(profile={self.profile!r}, device={str(self.device)!r}, seed={self.seed})"


def environment_report() -> dict:
    """Versions and hardware, as a dict (00_setup shows it as a table)."""
    import matplotlib

    from . import __version__

    report = {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "matplotlib": matplotlib.__version__,
        "course_lib": __version__,
        "profile": active_profile(),
        "device": str(get_device()),
        "cpu threads": torch.get_num_threads(),
        "cuda": torch.version.cuda if torch.cuda.is_available() else "not available",
        "colab": in_colab(),
    }
    try:
        import torchvision

        report["torchvision"] = torchvision.__version__
    except Exception as exc:  # pragma: no cover
        report["torchvision"] = f"not importable ({exc})"
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        report["gpu"] = f"{props.name}, {props.total_memory / 2**30:.1f} GiB"
        from .train import cuda_bf16_native

        report["bf16 (native)"] = cuda_bf16_native()   # not is_bf16_supported(): True on a T4 through emulation
    return report


#: What a notebook runs under while nbgrader's autograde executes it (nbgrader sets ``NBGRADER_EXECUTION=autograde``
#: in the kernel's environment): ``quick`` shapes with smoke's step counts, offline. A variable already set wins.
GRADING_DEFAULTS = {"COURSE_PROFILE": "quick", "COURSE_SMOKE": "1", "COURSE_OFFLINE": "1"}
_GRADING_RUNS: Optional[str] = None


def grading_defaults() -> dict:
    """Under nbgrader's autograde, grade cheaply and keep checkpoints out of the submission; returns what it set.

    The checks judge the student's functions, not trained models, so grading runs at ``quick`` shapes with smoke's
    step counts (:data:`GRADING_DEFAULTS`; any of them set in the environment wins, e.g. ``COURSE_SMOKE=0 nbgrader
    autograde 04_vqvae``). Checkpoints go to a fresh temporary folder for this kernel (one per submission, removed
    when the kernel exits), never to ``autograded/`` or ``feedback/``, and one student's run is never resumed in
    another's. ``COURSE_GRADING_RUNS`` names a folder to make these per-submission folders in instead, and keeps
    them (to look at, or to measure the disk a submission's runs take). Does nothing outside autograde.
    """
    global _GRADING_RUNS
    if os.environ.get("NBGRADER_EXECUTION", "") != "autograde":
        return {}
    applied = {k: v for k, v in GRADING_DEFAULTS.items() if not os.environ.get(k, "").strip()}
    os.environ.update(applied)
    if _GRADING_RUNS is None:
        import atexit
        import shutil
        import tempfile

        parent = os.environ.get("COURSE_GRADING_RUNS", "").strip() or None
        if parent:
            Path(parent).mkdir(parents=True, exist_ok=True)
        _GRADING_RUNS = tempfile.mkdtemp(prefix="course-grading-runs-", dir=parent)
        if not parent:
            atexit.register(shutil.rmtree, _GRADING_RUNS, True)
    os.environ[RUNS_ENV_VAR] = _GRADING_RUNS
    applied[RUNS_ENV_VAR] = _GRADING_RUNS
    return applied


def check_release(release: Optional[str]) -> None:
    """Stop with a clear message when the imported course_lib is an installed copy of another release than the
    notebook's (``release``): after the set-up cell's ``%pip install`` replaced it, the kernel still holds the old one.
    A checkout's own course_lib (an editable install, ``make lab``) is accepted whatever its version."""
    from . import __file__ as package_file, __version__

    if release is None or __version__ == release or "-packages" not in package_file:
        return
    raise RuntimeError(f"This notebook belongs to course_lib {release}, but this kernel still runs course_lib "
                       f"{__version__} (installed before). Restart the kernel (Colab: Runtime > Restart session), "
                       f"then run the set-up cell again.")


def setup_notebook(seed: int = 0, deterministic: bool = False, quiet: bool = False,
                   release: Optional[str] = None) -> NotebookEnv:
    """The one call of every notebook's set-up cell: checks the release (:func:`check_release`), seeds everything,
    picks the device and prints one line (and where the errata are)."""
    check_release(release)
    grading = grading_defaults()
    profile = active_profile()
    device = get_device()
    seed_everything(seed, deterministic=deterministic)
    if not quiet:
        from . import __version__

        where = "Colab" if in_colab() else platform.node() or "this machine"
        smoke = " (SMOKE: a handful of steps, claims reported not asserted)" if smoke_active() else ""
        print(
            f"course_lib {__version__} | profile {profile!r}{smoke} | device {device} | torch {torch.__version__} | "
            f"seed {seed} | {where}"
        )
        from .colab import ERRATA_URL

        print(f"Known mistakes in this release, and their fixes: {ERRATA_URL}")
        if grading:
            parts = [f"{k}={v}" for k, v in grading.items() if k != RUNS_ENV_VAR] + ["checkpoints in a temporary folder"]
            print("grading (nbgrader autograde): " + ", ".join(parts))
    return NotebookEnv(profile=profile, device=device, seed=seed)
