"""Where the course lives: the one place that names its repository and release (used by the set-up cells and badges).

Forks: change ``REPO`` (``owner/name`` on GitHub) and ``REF`` here, then run ``make sync``; every notebook's set-up
cell and "Open in Colab" badge is regenerated from these constants.

``REF`` is a release tag, never a branch: a notebook opened from the badge of release v0.2.0 installs exactly the
``course_lib`` of v0.2.0, so the notebook and its library cannot drift apart while ``main`` moves on. Tag each
release with the version in pyproject.toml (``git tag v0.2.0``).
"""
from . import __version__

REPO = "vae-to-vqgan/course"
REF = f"v{__version__}"
REPO_URL = f"https://github.com/{REPO}"
# The metrics extra brings real LPIPS and FID (their ImageNet weights download on first use, e.g. on Colab).
PIP_SPEC = f"course-lib[metrics] @ git+{REPO_URL}@{REF}"


def colab_url(notebook_filename: str) -> str:
    """The "Open in Colab" address of a lesson: its student version (``notebooks/student/``, solutions and hidden
    tests stripped, written by ``make sync``), never the instructor's source notebook."""
    return f"https://colab.research.google.com/github/{REPO}/blob/{REF}/notebooks/student/{notebook_filename}"


def badge_markdown(notebook_filename: str) -> str:
    return (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"({colab_url(notebook_filename)})"
    )


# The set-up cell as the notebook runs it. It installs course_lib only where `import course_lib` fails (Colab,
# Kaggle, a fresh VS Code or cloud kernel), with %pip so that pip's own output and errors show in the notebook,
# and pins the install to REF. Where course_lib is installed (`make lab`, conda), it only imports it.
SETUP_CELL = f'''# Set-up: installs course_lib where it is missing (Colab, Kaggle, ...); elsewhere it only imports it.
# Choose a profile by uncommenting one line (default: quick on a CPU, standard with CUDA):
# import os; os.environ["COURSE_PROFILE"] = "standard"
try:
    import course_lib
except ImportError:
    %pip install -q "{PIP_SPEC}"
    import course_lib
ENV = course_lib.setup_notebook(seed=0)'''

# The same cell in the paired .py file: jupytext writes magics there as comments.
SETUP_CELL_PY = SETUP_CELL.replace("\n    %pip ", "\n    # %pip ")
