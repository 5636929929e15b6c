"""Live jupytext pairing and outputs kept out of commits, tested the way students and contributors meet them.

* `jupytext --sync` (jupytext's own CLI) on a copy of the committed pairs changes nothing, whichever file of each pair
  is newer;
* saving a notebook through jupytext's contents manager (what JupyterLab started by `make instructor` does) rewrites
  its .py, keeps the nbgrader metadata, and leaves the pair in sync even with outputs saved;
* JupyterLab's file browser, with the server config that `make instructor` passes, lists one entry per lesson;
* the nbstripout git filter (set up by `make`) commits a notebook that was run and saved without its outputs, git sees
  no change, and the committed notebooks are fixed points of that filter.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib import build

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SOURCES = build.notebook_sources()

nbformat = pytest.importorskip("nbformat")
jupytext = pytest.importorskip("jupytext")


def _copy_pairs(dest: Path, only=None) -> Path:
    """The notebook pairs and the jupytext configuration, as committed (outputs stripped like the git filter)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(NOTEBOOKS / "jupytext.toml", dest / "jupytext.toml")
    for py in SOURCES:
        if only and py.stem not in only:
            continue
        shutil.copy2(py, dest / py.name)
        ipynb = py.with_suffix(".ipynb")
        (dest / ipynb.name).write_text(build.strip_outputs(ipynb.read_text(encoding="utf-8")), encoding="utf-8")
    return dest


def _snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _set_newer(folder: Path, suffix: str) -> None:
    """Make the files with ``suffix`` of each pair 10 s newer than their partners."""
    for py in sorted(folder.glob("[0-9][0-9]_*.py")):
        t = py.stat().st_mtime
        for p in (py, py.with_suffix(".ipynb")):
            os.utime(p, (t + 10, t + 10) if p.suffix == suffix else (t, t))


def test_pairing_config_sits_where_jupyterlab_finds_it():
    # `make instructor` serves the repository root (the sources in notebooks/, nbgrader's coursework/ beside them):
    # jupytext finds notebooks/jupytext.toml next to the notebooks; nothing at the root pairs anything else.
    # `make lab` serves the student's workspace/, where nothing is paired (tests/test_workspace.py).
    assert (NOTEBOOKS / "jupytext.toml").exists() and not (ROOT / "jupytext.toml").exists()
    makefile = (ROOT / "Makefile").read_text()
    assert "--config=jupyter_instructor_config.py --notebook-dir=." in makefile
    assert "--config=jupyter_server_config.py --notebook-dir=workspace" in makefile
    config = build.jupytext_config(SOURCES[0])
    assert "ipynb,py:percent" in str(config.formats)
    # the filters the .ipynb carries (so that jupytext restores nbgrader's metadata) are those of the toml
    assert build.NB_METADATA["jupytext"] == {"cell_metadata_filter": config.cell_metadata_filter,
                                             "notebook_metadata_filter": config.notebook_metadata_filter}


@pytest.mark.parametrize("newer", [".py", ".ipynb"])
def test_jupytext_sync_of_the_committed_pairs_is_a_no_op(tmp_path, newer):
    folder = _copy_pairs(tmp_path / "notebooks")
    _set_newer(folder, newer)
    before = _snapshot(folder)
    res = subprocess.run([sys.executable, "-m", "jupytext", "--sync", *sorted(str(p) for p in folder.glob("*.ipynb"))],
                         capture_output=True, text=True, cwd=str(tmp_path))
    assert res.returncode == 0, res.stderr
    after = _snapshot(folder)
    changed = sorted(name for name in before if before[name] != after.get(name))
    assert not changed, f"jupytext --sync ({newer} newer) rewrote {changed}; run `make sync`"


def _contents_manager(root: Path):
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("jupyter_instructor_config.py", path=str(ROOT)).load_config()
    return jupytext.TextFileContentsManager(config=config, root_dir=str(root))


def test_jupyterlab_file_browser_lists_each_lesson_once(tmp_path):
    folder = _copy_pairs(tmp_path / "notebooks")
    (folder / "my_notes.py").write_text("print('a file of my own')\n")
    cm = _contents_manager(folder)
    listed = sorted(m["name"] for m in cm.get("", content=True)["content"])
    lessons = [p.with_suffix(".ipynb").name for p in SOURCES]
    assert listed == sorted(lessons + ["my_notes.py"]), listed


def test_saving_a_notebook_in_jupyterlab_updates_its_py_and_keeps_the_pair_in_sync(tmp_path):
    folder = _copy_pairs(tmp_path / "notebooks")
    name = "03_straight_through"
    py_before = (folder / f"{name}.py").read_text()
    cm = _contents_manager(folder)
    model = cm.get(f"{name}.ipynb")
    nb = model["content"]
    assert "nbgrader" in json.dumps(nb.cells[[i for i, c in enumerate(nb.cells) if "nbgrader" in c.metadata][0]].metadata)
    # a student edits a cell, runs the notebook (outputs, counts, the kernel's language_info) and saves it
    # an edit that keeps the word count (and so the header's generated time estimate) as it was
    assert "**Learning objectives.**" in nb.cells[0].source
    nb.cells[0].source = nb.cells[0].source.replace("**Learning objectives.**", "**Learning goalposts.**", 1)
    for k, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"output {k}\n")]
        cell.execution_count = k + 1
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.7", "pygments_lexer": "ipython3",
                                    "codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                                    "mimetype": "text/x-python", "nbconvert_exporter": "python"}
    cm.save({"type": "notebook", "content": nb}, f"{name}.ipynb")
    py_after = (folder / f"{name}.py").read_text()
    assert py_after != py_before and "# **Learning goalposts.**" in py_after
    saved = nbformat.read(str(folder / f"{name}.ipynb"), as_version=4)
    assert any(c.get("outputs") for c in saved.cells), "the working copy keeps the student's outputs"
    graded = [c.metadata["nbgrader"] for c in saved.cells if "nbgrader" in c.metadata]
    assert {g["grade_id"] for g in graded} >= {"my_straight_through", "my_vq_loss"}
    # what `make test` checks: the pair as the git filter would commit it
    assert build.check(folder) == []


def test_outputs_in_a_working_copy_do_not_fail_the_sync_check_but_an_edit_does(tmp_path):
    folder = _copy_pairs(tmp_path / "notebooks")
    path = folder / "00_setup.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "42"}, execution_count=1)]
            cell.execution_count = 1
            cell.metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00"}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nbformat.write(nb, str(path))
    assert build.check(folder) == []
    nb.cells[3].source += "\nprint('changed in the .ipynb only')"
    nbformat.write(nb, str(path))
    assert any("00_setup.ipynb is out of date" in p for p in build.check(folder))


def _git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.org")
    return subprocess.run(["git", *args], cwd=str(cwd), env=env, check=True, capture_output=True, text=True).stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_filter_keeps_outputs_out_of_commits(tmp_path):
    pytest.importorskip("nbstripout")
    repo = tmp_path / "repo"
    folder = _copy_pairs(repo / "notebooks", only=["03_straight_through"])  # one pair: each filter run is a process
    shutil.copy2(ROOT / ".gitattributes", repo / ".gitattributes")
    _git(repo, "init", "-q")
    assert "set up" in build.install_git_filter(repo)
    assert (repo / ".gitattributes").read_text() == (ROOT / ".gitattributes").read_text(), "make must not edit it"
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "course")
    committed = (folder / "03_straight_through.ipynb").read_text()
    # a student runs the notebook and saves it with outputs
    nb = nbformat.read(str(folder / "03_straight_through.ipynb"), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]
            cell.execution_count = 7
    nb.metadata["language_info"] = {"name": "python", "version": "3.12.1", "pygments_lexer": "ipython3"}
    nbformat.write(nb, str(folder / "03_straight_through.ipynb"))
    assert "ran" in (folder / "03_straight_through.ipynb").read_text()
    # `git status` may list the file (its size changed) but git finds no change in what would be committed
    assert _git(repo, "diff", "--stat") == "", "git sees the outputs as a change"
    _git(repo, "add", "notebooks/03_straight_through.ipynb")
    assert _git(repo, "status", "--porcelain") == ""
    assert _git(repo, "show", ":notebooks/03_straight_through.ipynb") == committed
    assert build.check(folder) == []


def test_committed_notebooks_are_fixed_points_of_the_git_filter(tmp_path):
    """Otherwise `git status` would show a clean checkout as modified once make has set up the filter."""
    pytest.importorskip("nbstripout")
    folder = _copy_pairs(tmp_path / "notebooks")
    before = _snapshot(folder)
    notebooks = sorted(str(p) for p in folder.glob("*.ipynb"))
    res = subprocess.run([sys.executable, "-m", "nbstripout", "--extra-keys", build.STRIP_EXTRA_KEYS, *notebooks],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    changed = sorted(name for name, data in _snapshot(folder).items() if before[name] != data)
    assert not changed, f"nbstripout changes {changed}: run `make sync`"
