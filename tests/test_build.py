"""The course's packaging and notebook conventions: pairs in sync, set-up cells, headers, student builds."""
import re
import sys
from pathlib import Path

import pytest

from course_lib import build, colab

ROOT = Path(__file__).resolve().parent.parent
SOURCES = build.notebook_sources()
IDS = [p.stem for p in SOURCES]


def test_there_are_notebooks_and_they_start_at_00():
    assert SOURCES and SOURCES[0].stem == "00_setup"


def test_every_notebook_pair_is_in_sync():
    problems = build.check()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("py", SOURCES, ids=IDS)
def test_notebook_header_and_setup_cell(py):
    nb = build.notebook_from_source(py)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith(f"# {py.stem[:2]} ")
    assert colab.badge_markdown(f"{py.stem}.ipynb") in first.source
    for part in ("Learning objectives", "Prerequisites", "Estimated time"):
        assert part in first.source, f"{py.name}: the first cell must state {part!r}"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source == colab.SETUP_CELL and "setup" in code[0].metadata.get("tags", [])
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "Summary" in text and "Further reading" in text, f"{py.name}: needs a Summary and Further reading"


@pytest.mark.parametrize("py", SOURCES, ids=IDS)
def test_each_exercise_is_followed_by_a_check(py):
    nb = build.notebook_from_source(py)
    code = [c for c in nb.cells if c.cell_type == "code"]
    for i, cell in enumerate(code):
        if build.BEGIN in cell.source:
            assert i + 1 < len(code) and re.search(r"\bcheck_\w+\(", code[i + 1].source), (
                f"{py.name}: the cell after an exercise must call a course_lib.checks function:\n{cell.source[:200]}"
            )


def test_strip_solutions_keeps_indentation_and_rejects_bad_markers():
    src = "def f(x):\n    '''doc'''\n    ### BEGIN SOLUTION\n    y = x + 1\n    return y\n    ### END SOLUTION\n\nprint(1)"
    out, n = build.strip_solutions(src)
    assert n == 1 and out == "def f(x):\n    '''doc'''\n    raise NotImplementedError()\n\nprint(1)"
    with pytest.raises(ValueError, match="without"):
        build.strip_solutions("### BEGIN SOLUTION\nx = 1\n")
    with pytest.raises(ValueError, match="without"):
        build.strip_solutions("x = 1\n### END SOLUTION\n")


def test_student_build_strips_every_solution(tmp_path):
    made = build.build_student(tmp_path)
    assert len(made) == len(SOURCES)
    nbformat = pytest.importorskip("nbformat")
    for target, n in made:
        code = "\n".join(c.source for c in nbformat.read(str(target), as_version=4).cells if c.cell_type == "code")
        for marker in build.MARKERS:
            assert marker not in code, f"{target.name}: {marker!r} left in the student version"
        source = build.notebook_from_source(build.NOTEBOOKS / f"{target.stem}.py")
        hidden = [c.source for c in source.cells if build.BEGIN_HIDDEN[4:] in c.source]
        for cell in hidden:  # the hidden cases themselves are gone, the visible check stays
            inside = cell.split(build.BEGIN_HIDDEN, 1)[1].split(build.END_HIDDEN, 1)[0].strip()
            assert inside and inside not in code
        if target.stem != "15_fact_check":
            assert n >= 1, f"{target.name} has no exercise"


def test_student_notebook_fails_its_checks_and_solved_one_passes(tmp_path):
    """Execute the student version of 00: its check cell must fail (the solved notebook passes under nbval)."""
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    nb, _ = build.student_notebook(build.NOTEBOOKS / "00_setup.py")  # only 00 (build_student is tested above)
    (tmp_path / "00_setup.ipynb").write_text(build.ipynb_text(nb), encoding="utf-8")
    nb = nbformat.read(str(tmp_path / "00_setup.ipynb"), as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    errors = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                errors[cell.source] = out.ename
    check_cells = [src for src in errors if "check_to_signed(to_signed)" in src]
    assert check_cells and errors[check_cells[0]] == "CheckFailed", errors
    assert all(name == "CheckFailed" for name in errors.values()), errors


def test_strip_hidden_tests_removes_the_region_and_its_markers():
    src = "check_f(f)\n### BEGIN HIDDEN TESTS\ncheck_f(f, seed=7)\n### END HIDDEN TESTS\nprint('done')"
    assert build.strip_hidden_tests(src) == ("check_f(f)\nprint('done')", 1)
    with pytest.raises(ValueError, match="without"):
        build.strip_hidden_tests("### BEGIN HIDDEN TESTS\ncheck_f(f)")


def _nb(*cells):
    nbformat = pytest.importorskip("nbformat")
    make = {"md": nbformat.v4.new_markdown_cell, "code": nbformat.v4.new_code_cell}
    return nbformat.v4.new_notebook(cells=[make[kind](src) for kind, src in cells])


EXERCISE = "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION"


def test_nbgrader_metadata_marks_exercises_and_every_check_cell_after_them():
    nb = _nb(("md", "intro"), ("code", EXERCISE + "\n\ndef g(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION"),
             ("code", "check_f(f)\n### BEGIN HIDDEN TESTS\ncheck_f(f, seed=1)\n### END HIDDEN TESTS"),
             ("code", "check_g(g)"), ("md", "a demo of a failing check"), ("code", "check_f(lambda x: 2 * x)"))
    assert build.graded_cells(nb) == ([1], [2, 3])
    ids = build.add_nbgrader_metadata(nb)
    assert ids == {"solution": ["f"], "test": ["check_f", "check_g"]}
    assert nb.cells[1].metadata["nbgrader"] == {"grade": False, "grade_id": "f", "locked": False, "schema_version": 3,
                                                "solution": True, "task": False}
    assert nb.cells[2].metadata["nbgrader"] == {"grade": True, "grade_id": "check_f", "locked": True, "points": 1,
                                                "schema_version": 3, "solution": False, "task": False}
    assert "nbgrader" not in nb.cells[5].metadata  # after prose: a demonstration, not graded
    assert build.marker_problems(nb, "x.py") == []


@pytest.mark.parametrize("cells, expected", [
    ((("md", "the solution sits between `### BEGIN SOLUTION` and `### END SOLUTION`"),),
     "x.py, cell 0 (markdown), line 1"),
    ((("code", "x = 1  # BEGIN SOLUTION END SOLUTION"),), "holds two markers"),
    ((("code", EXERCISE), ("code", "check_f(f)"), ("md", "later"),
      ("code", "### BEGIN HIDDEN TESTS\ncheck_f(f)\n### END HIDDEN TESTS")),
     "hidden tests belong in a check cell"),
    ((("code", EXERCISE), ("code", "print(f(1))")), "must be followed directly by a code cell calling"),
    ((("code", "def f(x):\n    ### BEGIN SOLUTION\n    return x"), ("code", "check_f(f)")), "never closed"),
])
def test_marker_problems_name_notebook_cell_and_line(cells, expected):
    problems = build.marker_problems(_nb(*cells), "x.py")
    assert any(expected in p for p in problems), problems


def test_sync_refuses_a_line_that_breaks_nbgrader(tmp_path):
    import shutil

    shutil.copy2(build.NOTEBOOKS / "jupytext.toml", tmp_path / "jupytext.toml")
    src = (build.NOTEBOOKS / "00_setup.py").read_text(encoding="utf-8")
    (tmp_path / "00_setup.py").write_text(src.replace("# **Exercise 0.**", "# Markers: `### BEGIN SOLUTION` ...\n#\n# **Exercise 0.**", 1))
    with pytest.raises(ValueError, match=r"00_setup.py, cell \d+ \(markdown\), line \d+: .*reword it"):
        build.sync(tmp_path)
    assert any("reword it" in p for p in build.check(tmp_path))


@pytest.mark.parametrize("py", SOURCES, ids=IDS)
def test_committed_notebook_carries_nbgrader_and_colab_metadata(py):
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(str(py.with_suffix(".ipynb")), as_version=4)
    assert nb.metadata["accelerator"] == "GPU" and nb.metadata["colab"]["gpuType"] == "T4"
    solutions, tests = build.graded_cells(nb)
    assert [nb.cells[i].metadata["nbgrader"]["solution"] for i in solutions] == [True] * len(solutions)
    assert [nb.cells[i].metadata["nbgrader"]["grade"] for i in tests] == [True] * len(tests)
    assert all(nb.cells[i].metadata["nbgrader"]["locked"] for i in tests)
    assert (len(solutions) >= 1) == (len(tests) >= 1)
    validator = pytest.importorskip("nbgrader.nbgraderformat")
    validator.MetadataValidator().validate_nb(nb)  # nbgrader's own check: schema, unique grade ids, points


@pytest.mark.parametrize("py", SOURCES, ids=IDS)
def test_every_check_cell_has_hidden_tests(py):
    """Issue 10: a grade is not just the check the student already saw pass."""
    nb = build.notebook_from_source(py)
    _, tests = build.graded_cells(nb)
    missing = [nb.cells[i].source.strip().splitlines()[-1] for i in tests
               if not build.strip_hidden_tests(nb.cells[i].source)[1]]
    assert not missing, f"{py.name}: check cells without a BEGIN/END HIDDEN TESTS part: {missing}"


def _pyproject_names():
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python < 3.11
        tomllib = pytest.importorskip("tomli")
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = data["project"]["dependencies"] + data["project"]["optional-dependencies"]["dev"]
    return {re.split(r"[<>=!~ \[;]", d, maxsplit=1)[0].lower() for d in deps}


def test_environment_yml_names_the_same_packages_as_pyproject():
    text = (ROOT / "environment.yml").read_text()
    conda_alias = {"pytorch": "torch"}
    names = set()
    deps = text.split("dependencies:", 1)[1]
    for line in deps.splitlines():
        m = re.match(r"^\s*-\s+([A-Za-z0-9_.\-]+)", line)
        if m and m.group(1) not in ("pip", "python", "-e"):
            names.add(conda_alias.get(m.group(1).lower(), m.group(1).lower()))
    assert "- -e ." in text, "environment.yml must install course_lib itself (pip: -e .)"
    assert names == _pyproject_names()


def test_pyproject_pins_no_torch_version():
    for dep in _pyproject_names():
        assert dep  # names parsed
    text = (ROOT / "pyproject.toml").read_text()
    assert not re.search(r'"torch(vision)?==', text), "never pin torch in the package: Colab brings its own"


def test_cli_check_reports_sync(capsys):
    assert build.main(["check"]) == 0
    assert "in sync" in capsys.readouterr().out
