"""Where the course lives: the one place that names its repository (used by the Colab set-up cell and badges).

Forks: change ``REPO`` (``owner/name`` on GitHub) and ``REF`` here, then run ``make sync``; every notebook's set-up
cell and "Open in Colab" badge is regenerated from these two constants.
"""
REPO = "vae-to-vqgan/course"
REF = "main"
REPO_URL = f"https://github.com/{REPO}"
PIP_SPEC = f"course-lib @ git+{REPO_URL}@{REF}"
RAW_URL = f"https://raw.githubusercontent.com/{REPO}/{REF}"  # files of the repository (e.g. shipped weights) on Colab


def colab_url(notebook_filename: str) -> str:
    """The "Open in Colab" address of a notebook in ``notebooks/``."""
    return f"https://colab.research.google.com/github/{REPO}/blob/{REF}/notebooks/{notebook_filename}"


def badge_markdown(notebook_filename: str) -> str:
    return (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"({colab_url(notebook_filename)})"
    )


SETUP_CELL = f'''# Set-up. On Colab this installs `course_lib`; elsewhere it only imports it.
# Choose a profile by uncommenting one line (default: quick on a CPU, standard with CUDA):
# import os; os.environ["COURSE_PROFILE"] = "standard"
import subprocess, sys
if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "{PIP_SPEC}"], check=True)
import course_lib
ENV = course_lib.setup_notebook(seed=0)'''
