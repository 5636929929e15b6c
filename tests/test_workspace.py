"""The student's workspace (`make lab`) and the two JupyterLab set-ups, tried the way students and instructors meet them.

* workspace/ is made from the student edition (notebooks/student/), never overwritten on a later run, grows when the
  course adds a lesson, reports a lesson the course changed, and `make refresh` takes it keeping the student's copy;
* git ignores workspace/ and the instructor's coursework/ (and grades.csv, gradebook.db);
* saving a notebook in the student's lab writes no paired .py (no jupytext pairing there);
* a real JupyterLab server with the student's config shows no nbgrader (no server extension, the lab extension
  disabled, no course-root error in the log), and one with the instructor's config reaches the formgrader.
"""
import http.cookiejar
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from course_lib import build

ROOT = build.ROOT
STUDENT = build.STUDENT_DIR


def test_workspace_is_made_from_the_student_edition_and_never_overwritten(tmp_path):
    source, dest = tmp_path / "student", tmp_path / "workspace"
    shutil.copytree(STUDENT, source)
    first = build.workspace(dest, source)
    lessons = sorted(p.name for p in STUDENT.glob("[0-9][0-9]_*.ipynb"))
    assert first["copied"] == lessons and not first["updated"]
    for name in lessons:
        assert (dest / name).read_bytes() == (STUDENT / name).read_bytes(), f"{name} is not the student edition"
        assert "BEGIN SOLUTION" not in (dest / name).read_text(), f"{name} holds a solution"
    assert not list(dest.glob("*.py")), "students edit the .ipynb only: no paired .py in the workspace"

    # the student works in 02; the course then changes 02 and 03 and adds a lesson
    mine = (dest / lessons[2]).read_text() + " "
    (dest / lessons[2]).write_text(mine)
    (dest / lessons[3]).unlink()                                  # a lesson the student deleted comes back
    for name in lessons[2:4]:
        (source / name).write_text((source / name).read_text().replace("Set-up", "Set-up (updated)"))
    shutil.copy2(source / lessons[0], source / "99_new_lesson.ipynb")
    second = build.workspace(dest, source)
    assert (dest / lessons[2]).read_text() == mine, "make lab overwrote the student's work"
    assert second["copied"] == [lessons[3], "99_new_lesson.ipynb"]
    assert second["updated"] == [lessons[2]], second
    report = build.workspace_report(second, dest)
    assert f"make refresh LESSON={lessons[2][:2]}" in report

    kept, new = build.refresh_lesson(lessons[2][:2], dest, source)
    assert kept.read_text() == mine and kept.parent == dest and kept.name.startswith(Path(lessons[2]).stem + ".yours-")
    assert new.read_text() == (source / lessons[2]).read_text()
    assert build.workspace(dest, source)["updated"] == []
    with pytest.raises(ValueError, match="no single lesson"):
        build.refresh_lesson("77", dest, source)


def test_workspace_cli_and_a_missing_student_edition(tmp_path, capsys):
    assert build.main(["workspace", "--dest", str(tmp_path / "ws")]) == 0
    assert "copied" in capsys.readouterr().out
    assert build.main(["refresh", "updated", "--dest", str(tmp_path / "ws")]) == 0
    assert "no lesson" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="student edition"):
        build.workspace(tmp_path / "ws2", tmp_path / "nothing")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_ignores_the_workspace_the_coursework_and_grades():
    paths = ["workspace/04_vqvae.ipynb", "workspace/runs/quick/04/vqvae.pt", "coursework/gradebook.db",
             "coursework/submitted/alice/03_straight_through/03_straight_through.ipynb", "grades.csv", "gradebook.db"]
    res = subprocess.run(["git", "check-ignore", "--no-index", *paths], cwd=str(ROOT), capture_output=True, text=True)
    assert sorted(res.stdout.split()) == sorted(paths), f"not ignored: {set(paths) - set(res.stdout.split())}"
    makefile = (ROOT / "Makefile").read_text()
    clean = makefile.split("\nclean:", 1)[1].split("\n\n", 1)[0]
    assert "workspace" not in clean and "coursework" not in clean, "make clean must spare workspace/ and coursework/"


def _config(name):
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader(name, path=str(ROOT)).load_config()


def test_saving_in_the_student_lab_writes_no_paired_py(tmp_path):
    jupytext = pytest.importorskip("jupytext")
    nbformat = pytest.importorskip("nbformat")
    dest = tmp_path / "workspace"
    build.workspace(dest)
    cm = jupytext.TextFileContentsManager(config=_config("jupyter_server_config.py"), root_dir=str(dest))
    listed = {m["name"] for m in cm.get("", content=True)["content"]}
    assert build.WORKSPACE_RECORD not in listed and "00_setup.ipynb" in listed
    model = cm.get("00_setup.ipynb")
    model["content"].cells[0].source += "\n\nMy note."
    cm.save({"type": "notebook", "content": model["content"]}, "00_setup.ipynb")
    assert "My note." in nbformat.read(str(dest / "00_setup.ipynb"), as_version=4).cells[0].source
    assert not list(dest.glob("*.py")), "jupytext paired a notebook in the student's workspace"


def test_student_config_switches_every_nbgrader_extension_off():
    config = _config("jupyter_server_config.py")
    off = config.ServerApp.jpserver_extensions
    pytest.importorskip("nbgrader")
    from jupyter_core.paths import jupyter_config_path

    files = [Path(p) / "jupyter_server_config.d" / "nbgrader.json" for p in jupyter_config_path()]
    (found,) = [f for f in files if f.is_file()][:1] or [None]
    assert found is not None, "nbgrader is installed but enables no server extension: the test needs updating"
    enabled = json.loads(found.read_text())["ServerApp"]["jpserver_extensions"]
    assert set(enabled) <= set(off) and not any(off.values()), "an nbgrader server extension stays on for students"
    hook = config.ServerApp.tornado_settings["page_config_hook"]
    assert "@jupyter/nbgrader" in hook(None, {"disabledExtensions": ["x"]})["disabledExtensions"]


def test_a_hub_student_keeps_fetch_and_submit_but_not_the_instructors_tools(monkeypatch):
    monkeypatch.setenv("COURSE_NBGRADER_STUDENT", "1")
    config = _config("jupyter_server_config.py")
    off = config.ServerApp.jpserver_extensions
    assert "nbgrader.server_extensions.formgrader" in off and "nbgrader.server_extensions.assignment_list" not in off
    disabled = config.ServerApp.tornado_settings["page_config_hook"](None, {})["disabledExtensions"]
    assert "@jupyter/nbgrader:formgrader" in disabled and "@jupyter/nbgrader:create-assignment" in disabled
    assert "@jupyter/nbgrader" not in disabled and "@jupyter/nbgrader:assignment-list" not in disabled
    static = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "@jupyter" / "nbgrader" / "static"
    if static.is_dir():  # the plugin ids are those of the installed nbgrader
        bundle = "".join(p.read_text(errors="replace") for p in static.glob("*.js"))
        assert all(f'"{plugin}"' in bundle for plugin in disabled), disabled


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    """A real JupyterLab server on a free local port (what `make lab` / `make instructor` start), its log kept."""

    def __init__(self, config: str, root: Path, log: Path):
        self.port, self.token = _free_port(), "course-test"
        self.log = log
        jupyter = Path(sys.executable).parent / "jupyter"
        cmd = [str(jupyter), "lab", f"--config={ROOT / config}", f"--notebook-dir={root}", "--no-browser",
               f"--port={self.port}", "--ip=127.0.0.1", f"--IdentityProvider.token={self.token}",
               "--allow-root"]
        env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(log.parent / f"runtime-{self.port}"))
        self.proc = subprocess.Popen(cmd, cwd=str(ROOT), stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env)
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str):
        url = f"http://127.0.0.1:{self.port}{path}{'&' if '?' in path else '?'}token={self.token}"
        try:
            with self.opener.open(url, timeout=30) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, ""

    def wait(self, deadline: float = 120.0) -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited:\n{self.log.read_text()[-3000:]}")
            try:
                if self.get("/api/status")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"JupyterLab did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _page_config(html: str) -> dict:
    m = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', html, re.S)
    assert m, "no page config in the lab page"
    return json.loads(m.group(1))


def test_student_lab_shows_no_nbgrader_and_instructor_lab_reaches_the_formgrader(tmp_path):
    pytest.importorskip("jupyterlab")
    pytest.importorskip("nbgrader")
    dest = tmp_path / "workspace"
    build.workspace(dest)
    student = _Server("jupyter_server_config.py", dest, tmp_path / "student.log")
    instructor = _Server("jupyter_instructor_config.py", ROOT, tmp_path / "instructor.log")
    try:
        student.wait()
        instructor.wait()
        status, html = student.get("/lab")
        assert status == 200
        page = _page_config(html)
        assert "@jupyter/nbgrader" in page["disabledExtensions"]
        for path in ("/formgrader", "/assignments", "/courses"):
            assert student.get(path)[0] == 404, f"the student's server answers {path}"
        assert student.get("/api/contents/00_setup.ipynb?content=0")[0] == 200

        status, html = instructor.get("/lab")
        assert status == 200 and "@jupyter/nbgrader" not in _page_config(html)["disabledExtensions"]
        assert _page_config(html)["preferredPath"] == "notebooks"
        status, html = instructor.get("/formgrader")
        assert status == 200 and "formgrader" in html.lower()
    finally:
        student.stop()
        instructor.stop()
    student_log, instructor_log = student.log.read_text(), instructor.log.read_text()
    assert "nbgrader" not in student_log, student_log[-2000:]
    assert "nbgrader.server_extensions.formgrader | extension was successfully loaded" in instructor_log
    for log in (student_log, instructor_log):
        assert "not a subdirectory of the notebook server root" not in log
