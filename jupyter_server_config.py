# JupyterLab server settings for the course; `make lab` passes this file (--config=jupyter_server_config.py) and
# serves notebooks/.
#
# Jupytext pairs each lesson's .ipynb with its .py (notebooks/jupytext.toml): saving a notebook in the browser
# writes both. The file browser shows each lesson once, as its notebook: the paired NN_name.py sources and the
# jupytext configuration are hidden here (they are still read and written; open them from a terminal or an
# editor, or list them with `ls notebooks`).
c = get_config()  # noqa: F821 - provided by Jupyter when it loads this file

c.ContentsManager.hide_globs = [
    "__pycache__", "*.pyc", "*.pyo", ".DS_Store", "*~",  # Jupyter's defaults
    "[0-9][0-9]_*.py",  # the paired lesson sources
    "jupytext.toml",
]
