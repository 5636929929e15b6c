# The instructor's and contributor's JupyterLab: `make instructor` passes this file
# (--config=jupyter_instructor_config.py), serves the repository root and opens notebooks/.
#
# * The sources: jupytext pairs each lesson's .ipynb with its .py (notebooks/jupytext.toml), so saving a notebook in
#   the browser writes both. The file browser shows each lesson once, as its notebook: the paired NN_name.py
#   sources and the jupytext configuration are hidden (they are still read and written; open them from a terminal
#   or an editor, or list them with `ls notebooks`).
# * nbgrader's UI (Formgrader, Create Assignment, Validate): its course folder coursework/ (nbgrader_config.py)
#   lies inside the served root, as the formgrader needs.
# Students get jupyter_server_config.py instead (`make lab`: their workspace/, no nbgrader UI).
c = get_config()  # noqa: F821 - provided by Jupyter when it loads this file

c.ServerApp.preferred_dir = "notebooks"  # the file browser opens here (relative to the served root)

c.ContentsManager.hide_globs = [
    "__pycache__", "*.pyc", "*.pyo", ".DS_Store", "*~",  # Jupyter's defaults
    "[0-9][0-9]_*.py",  # the paired lesson sources
    "jupytext.toml",
]
