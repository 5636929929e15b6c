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
        assert build.BEGIN not in code and build.END not in code
        if target.stem != "11_fact_check":
            assert n >= 1, f"{target.name} has no exercise"


def test_student_notebook_fails_its_checks_and_solved_one_passes(tmp_path):
    """Execute the student version of 00: its check cell must fail (the solved notebook passes under nbval)."""
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    build.build_student(tmp_path)
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
