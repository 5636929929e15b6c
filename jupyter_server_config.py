# The student's JupyterLab: `make lab` passes this file (--config=jupyter_server_config.py) and serves workspace/,
# the student's own copies of the lessons (made from notebooks/student/, never overwritten, ignored by git).
#
# Students edit the .ipynb files only: nothing is paired with a .py here (jupytext finds no configuration in
# workspace/). nbgrader's instructor tools stay out of the student's lab even where nbgrader is installed in the
# same environment (`make test` and `make instructor` install it): its server extensions are switched off (no
# formgrader, no "course directory root" error in the log) and so is its JupyterLab extension (no Nbgrader menu, no
# "Create Assignment" panel, no "Validate" button). Instructors: `make instructor` (jupyter_instructor_config.py).
#
# On a JupyterHub where students fetch and submit through nbgrader (notebooks/instructor/deployment.md), set
# COURSE_NBGRADER_STUDENT=1 in the students' environment: their "Assignments" list (fetch, submit) and "Validate"
# stay, and only the instructor's tools (formgrader, Create Assignment, course list) are switched off.
import os

c = get_config()  # noqa: F821 - provided by Jupyter when it loads this file

#: nbgrader 0.9's server extensions (its jupyter_server_config.d/nbgrader.json enables them for every server).
NBGRADER_SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.assignment_list",
    "nbgrader.server_extensions.course_list",
    "nbgrader.server_extensions.validate_assignment",
)
#: nbgrader's JupyterLab 4 / Notebook 7 extension (one federated extension holds all its plugins).
NBGRADER_LAB_EXTENSIONS = ("@jupyter/nbgrader",)
#: With COURSE_NBGRADER_STUDENT=1: what a student on a hub keeps (fetch and submit, validate) and what goes.
HUB_STUDENT_KEEPS = ("nbgrader.server_extensions.assignment_list", "nbgrader.server_extensions.validate_assignment")
HUB_STUDENT_LAB_OFF = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                       "@jupyter/nbgrader:course-list")
if os.environ.get("COURSE_NBGRADER_STUDENT", "").strip() == "1":
    NBGRADER_SERVER_EXTENSIONS = tuple(e for e in NBGRADER_SERVER_EXTENSIONS if e not in HUB_STUDENT_KEEPS)
    NBGRADER_LAB_EXTENSIONS = HUB_STUDENT_LAB_OFF

# An explicit False here wins over the .d/*.json files that enable an extension (jupyter_server's
# ServerApp.find_server_extensions only adds modules this dict does not name yet).
c.ServerApp.jpserver_extensions = {name: False for name in NBGRADER_SERVER_EXTENSIONS}


def _without_nbgrader(handler, page_config):
    """JupyterLab's page_config_hook: the lab page lists nbgrader's extension as disabled, so it never loads."""
    disabled = list(page_config.get("disabledExtensions") or [])
    page_config["disabledExtensions"] = disabled + [e for e in NBGRADER_LAB_EXTENSIONS if e not in disabled]
    return page_config


c.ServerApp.tornado_settings = {"page_config_hook": _without_nbgrader}

c.ContentsManager.hide_globs = [
    "__pycache__", "*.pyc", "*.pyo", ".DS_Store", "*~",  # Jupyter's defaults
    ".course-workspace.json",  # the workspace's record of which course version each lesson came from
]
