"""Where the course lives: the one place that names its repository and release (used by the set-up cells and badges).

Forks: change ``REPO`` (``owner/name`` on GitHub) here, then run ``make sync``; every notebook's set-up cell and
"Open in Colab" badge is regenerated from these constants.

``RELEASE`` is the release that the badges and set-up cells point at, and ``REF`` its git tag: a notebook opened
from the badge of release v0.3.0 installs exactly the ``course_lib`` of v0.3.0, so the notebook and its library
cannot drift apart while ``main`` moves on. The package's own version is written once, in ``course_lib/__init__.py``
(pyproject.toml reads it). At a release both are the same (``make release`` checks it, tags, then moves
``__version__`` on to the next development version, e.g. ``0.3.1.dev0``); between releases ``RELEASE`` stays the
last release, whose tag exists, so the badges on ``main`` keep working. CHANGELOG.md describes the flow.
"""
import re

from . import __version__

REPO = "vae-to-vqgan/course"
#: The release the badges and set-up cells install (equal to ``__version__`` at a release; ``make release``).
RELEASE = "0.3.0"
REF = f"v{RELEASE}"
REPO_URL = f"https://github.com/{REPO}"
# The metrics extra brings real LPIPS and FID (their ImageNet weights download on first use, e.g. on Colab).
PIP_SPEC = f"course-lib[metrics] @ git+{REPO_URL}@{REF}"
#: Known mistakes in each release and what to do about them (kept on main, so it is current for every release).
ERRATA_URL = f"{REPO_URL}/blob/main/ERRATA.md"
#: Binder (mybinder.org) builds binder/environment.yml at the release and opens the student edition in JupyterLab.
BINDER_URL = f"https://mybinder.org/v2/gh/{REPO}/{REF}?urlpath=lab/tree/notebooks/student/00_setup.ipynb"


def is_release(version: str) -> bool:
    """True for a final release version such as ``0.3.0`` (not ``0.3.1.dev0``, ``0.4.0rc1``)."""
    return re.fullmatch(r"\d+\.\d+\.\d+", version) is not None


def colab_url(notebook_filename: str) -> str:
    """The "Open in Colab" address of a lesson: its student version (``notebooks/student/``, solutions and hidden
    tests stripped, written by ``make sync``), never the instructor's source notebook."""
    return f"https://colab.research.google.com/github/{REPO}/blob/{REF}/notebooks/student/{notebook_filename}"


def badge_markdown(notebook_filename: str) -> str:
    return (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"({colab_url(notebook_filename)})"
    )


def binder_badge_markdown() -> str:
    return f"[![Binder](https://mybinder.org/badge_logo.svg)]({BINDER_URL})"


# The set-up cell as the notebook runs it. It installs course_lib where it is missing (Colab, Kaggle, a fresh VS Code
# or cloud kernel) or where pip installed another release (a kernel that persists, on a hub or Kaggle), with %pip so
# that pip's own output and errors show in the notebook, and pins the install to REF. A checkout's own course_lib
# (`make lab`, conda's `pip install -e .`) is only imported, whatever its version. setup_notebook(release=...) stops
# with "restart the kernel" where an older course_lib stays imported after the install.
SETUP_CELL = f'''# Set-up: installs course_lib (release {RELEASE}) where it is missing or another release; a checkout's copy is kept.
# Choose a profile by uncommenting one line (default: quick on a CPU, standard with CUDA):
# import os; os.environ["COURSE_PROFILE"] = "standard"
RELEASE = "{RELEASE}"
try:
    import course_lib
    if course_lib.__version__ != RELEASE and "-packages" in course_lib.__file__:
        raise ImportError(f"course_lib {{course_lib.__version__}} is installed, not {{RELEASE}}")
except (ImportError, AttributeError):
    # pip may say "you may need to restart the kernel": only if it replaced another release (the next line says so)
    %pip install -q "{PIP_SPEC}"
    import course_lib
# course_lib.env.keep_runs_on_drive()  # Colab: keep checkpoints on Google Drive, so a disconnect loses nothing
ENV = course_lib.setup_notebook(seed=0, release=RELEASE)'''

# The same cell in the paired .py file: jupytext writes magics there as comments.
SETUP_CELL_PY = SETUP_CELL.replace("\n    %pip ", "\n    # %pip ")
