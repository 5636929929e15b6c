"""A real nbgrader round trip on committed notebooks, as an instructor runs it (nbgrader_config.py, `make assignment`).

nbgrader generate_assignment writes the release version; nbgrader autograde executes two submissions per notebook
(quick shapes with smoke's step counts, one thread, offline): the solved notebook gets every point, the released stub
none. 03 has several exercises. The release keeps no solution and no hidden-test text; grading restores the hidden
tests and runs them.
"""
import json
import re
import shutil

import pytest

from course_lib import build

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbgrader")

ROUND_TRIP = ["00_setup", "03_straight_through"]
COURSE_ID = "vae-to-vqgan"


def _source(name):
    return build.notebook_from_source(build.NOTEBOOKS / f"{name}.py")


def _regions(source: str, begin: str, end: str):
    """The text inside each begin/end region of a cell (marker lines excluded)."""
    out, inside = [], None
    for line in source.split("\n"):
        if begin[4:] in line:
            inside = []
        elif end[4:] in line:
            out.append("\n".join(inside))
            inside = None
        elif inside is not None:
            inside.append(line)
    return [r for r in out if r.strip()]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = tmp_path_factory.mktemp("nbgrader")
    released = build.build_assignments(course, only=ROUND_TRIP)  # what `make assignment` runs, for two notebooks
    assert [p.parent.name for p in released] == ROUND_TRIP
    return course


def test_release_keeps_no_solution_and_no_hidden_test(course):
    for name in ROUND_TRIP:
        source = _source(name)
        release = nbformat.read(str(course / "release" / name / f"{name}.ipynb"), as_version=4)
        text = "\n".join(c.source for c in release.cells)
        for marker in build.MARKERS:
            assert marker not in text, f"{name}: {marker!r} left in the release"
        solutions = [r for c in source.cells for r in _regions(c.source, build.BEGIN, build.END)]
        hidden = [r for c in source.cells for r in _regions(c.source, build.BEGIN_HIDDEN, build.END_HIDDEN)]
        assert solutions and hidden, f"{name}: expected exercises with hidden tests"
        for region in solutions + hidden:
            assert region.strip() not in text, f"{name}: release still holds\n{region}"
        # nbgrader's release and `make student` give the same code, stub for stub
        student, _ = build.student_notebook(build.NOTEBOOKS / f"{name}.py")
        assert [c.source for c in release.cells if c.cell_type == "code"] == \
               [c.source for c in student.cells if c.cell_type == "code"]
        tests = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("grade")]
        assert tests and all(c.metadata.get("editable") is False for c in tests), "check cells are read-only"
    n_03 = sum(1 for c in _source("03_straight_through").cells if c.metadata.get("nbgrader", {}).get("solution"))
    assert n_03 >= 2, "the round trip needs a notebook with several exercises"


def _solved(release, source):
    """The release with each solution cell filled in as a student would: the reference solution, markers dropped."""
    nb = json.loads(json.dumps(release))
    by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in source.cells if "nbgrader" in c.metadata}
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("solution"):
            src = by_id[meta["grade_id"]].source
            cell["source"] = "\n".join(l for l in src.split("\n") if not any(m in l for m in build.MARKERS))
    return nbformat.from_dict(nb)


def _errors(nb):
    return {i: o["ename"] for i, c in enumerate(nb.cells) for o in c.get("outputs", []) if o.get("output_type") == "error"}


def test_autograde_gives_a_solved_notebook_full_points_and_the_stub_none(course, tmp_path):
    from nbgrader.api import Gradebook

    # quick shapes with smoke's step counts: the grade comes from the check cells, which judge the student's
    # functions, not the trained models (the notebooks' measured claims are asserted by the quick notebook pass)
    env = {"COURSE_PROFILE": "quick", "COURSE_SMOKE": "1", "COURSE_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "MPLBACKEND": "Agg", "COURSE_RUNS": str(tmp_path / "runs")}
    for name in ROUND_TRIP:
        release = nbformat.read(str(course / "release" / name / f"{name}.ipynb"), as_version=4)
        for student, nb in (("solved", _solved(release, _source(name))), ("stub", release)):
            folder = course / "submitted" / student / name
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, str(folder / f"{name}.ipynb"))
    # one nbgrader process grades every submission of both assignments (its start-up is seconds)
    res = build.nbgrader_command("autograde", "*", "--force", course=course, env=env)
    assert res.returncode == 0, res.stdout + res.stderr

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=COURSE_ID) as gb:
        for name in ROUND_TRIP:
            solved, stub = gb.find_submission(name, "solved"), gb.find_submission(name, "stub")
            points = sum(1 for c in _source(name).cells if c.metadata.get("nbgrader", {}).get("grade"))
            assert solved.max_score == points * build.POINTS > 0
            assert solved.score == solved.max_score, f"{name}: solved notebook got {solved.score}/{solved.max_score}"
            assert stub.score == 0, f"{name}: released stub got {stub.score}/{stub.max_score}"

    for name in ROUND_TRIP:
        hidden = [r for c in _source(name).cells for r in _regions(c.source, build.BEGIN_HIDDEN, build.END_HIDDEN)]
        graded = nbformat.read(str(course / "autograded" / "solved" / name / f"{name}.ipynb"), as_version=4)
        text = "\n".join(c.source for c in graded.cells)
        assert all(r.strip() in text for r in hidden), f"{name}: grading did not restore the hidden tests"
        assert not _errors(graded), f"{name}: the solved notebook raised {_errors(graded)}"
        stub = nbformat.read(str(course / "autograded" / "stub" / name / f"{name}.ipynb"), as_version=4)
        grade_cells = {i for i, c in enumerate(stub.cells) if c.metadata.get("nbgrader", {}).get("grade")}
        errors = _errors(stub)
        assert set(errors) == grade_cells, (
            f"{name}: unsolved, only the check cells may fail (later cells fall back to the reference); errors: {errors}")
