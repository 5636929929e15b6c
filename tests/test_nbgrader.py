"""A semester's nbgrader round trip with real nbgrader, on the output of `make assignment`, as nbgrader_config.py sets
it up: generate, release to an exchange, two students fetch and submit (alice solves everything; bob solves 03's first
exercise only and leaves the rest as released), collect, autograde, generate_feedback.

* The release keeps no solution and no hidden-test text, and equals `make student`, stub for stub.
* 03 goes through an exchange (release, fetch, submit, collect); 00 is handed out and collected by hand.
* Scores are exactly right: alice every point, bob exactly the points of the exercise he solved.
* Grading runs under nbgrader_config.py's grading defaults (quick shapes, smoke's step counts, offline; course_lib's
  set-up cell reads NBGRADER_EXECUTION=autograde) with checkpoints in a temporary folder: the test sets no COURSE_*
  variable itself.
* Grading restores the hidden tests and runs them; feedback shows the points but no hidden test; a student's runs/
  folder never reaches the submission, and no checkpoint lands in autograded/ or feedback/.

nbgrader names a submitter after the operating-system user; the test runs as one user, so it renames each submission
in the exchange's inbound folder to its student (the folder name is what `collect` reads the student id from).
"""
import json
import os
import re
import shutil

import pytest

from course_lib import build

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbgrader")

ROUND_TRIP = ["00_setup", "03_straight_through"]
EXCHANGE_TRIP = ["03_straight_through"]  # released, fetched, submitted and collected through an exchange
COURSE_ID = "vae-to-vqgan"


def _source(name):
    return build.notebook_from_source(build.NOTEBOOKS / f"{name}.py")


def _hidden(name):
    return [r.strip() for c in _source(name).cells
            for r in build.marker_regions(c.source, build.BEGIN_HIDDEN, build.END_HIDDEN)]


def _grading_env():
    """The instructor's shell: no COURSE_* variable (nbgrader_config.py and course_lib decide), one thread."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_")}
    env.update(OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    return env


def _nbgrader(*args, course, exchange, cwd=build.ROOT):
    res = build.nbgrader_command(*args, f"--Exchange.root={exchange}", course=course, cwd=cwd, env=_grading_env(),
                                 inherit_env=False)
    assert res.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}"
    return res


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = tmp_path_factory.mktemp("coursework")
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
        solutions = [r for c in source.cells for r in build.marker_regions(c.source)]
        assert solutions and _hidden(name), f"{name}: expected exercises with hidden tests"
        for region in solutions + _hidden(name):
            assert region.strip() not in text, f"{name}: release still holds\n{region}"
        # nbgrader's release and `make student` give the same code, stub for stub
        student, _ = build.student_notebook(build.NOTEBOOKS / f"{name}.py")
        assert [c.source for c in release.cells if c.cell_type == "code"] == \
               [c.source for c in student.cells if c.cell_type == "code"]
        tests = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("grade")]
        assert tests and all(c.metadata.get("editable") is False for c in tests), "check cells are read-only"


def _answers(name):
    """Each exercise's reference solution (markers dropped) by grade id, in notebook order, and the points of the
    check cells right after each exercise."""
    nb = _source(name)
    solutions, tests = build.graded_cells(nb)
    answers, points = {}, {}
    for i in solutions:
        meta = nb.cells[i].metadata["nbgrader"]
        answers[meta["grade_id"]] = "\n".join(l for l in nb.cells[i].source.split("\n")
                                              if not any(m in l for m in build.MARKERS))
        j, pts = i + 1, 0
        while j in tests:
            pts += nb.cells[j].metadata["nbgrader"]["points"]
            j += 1
        points[meta["grade_id"]] = pts
    return answers, points


def _fill(path, answers, solve):
    """A student's work: the exercises in ``solve`` replaced by their answers, the rest left as released."""
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in solve:
            cell.source = answers[grade_id]
    nbformat.write(nb, str(path))


def _errors(nb):
    return {i: o["ename"] for i, c in enumerate(nb.cells) for o in c.get("outputs", []) if o.get("output_type") == "error"}


def test_semester_round_trip_scores_exactly_and_feedback_shows_no_hidden_test(course, tmp_path):
    from nbgrader.api import Gradebook

    exchange = tmp_path / "exchange"
    for name in EXCHANGE_TRIP:
        _nbgrader("release_assignment", name, course=course, exchange=exchange)
    # What each student solves: alice everything, bob only 03's first exercise.
    plan = {"alice": {name: set(_answers(name)[0]) for name in ROUND_TRIP},
            "bob": {"00_setup": set(), "03_straight_through": {next(iter(_answers("03_straight_through")[0]))}}}
    inbound = exchange / COURSE_ID / "inbound"
    for student, solved in plan.items():
        home = tmp_path / student
        home.mkdir()
        for name in ROUND_TRIP:
            if name not in EXCHANGE_TRIP:  # handed out and collected by hand (no exchange): README, "Coursework"
                folder = course / "submitted" / student / name
                folder.mkdir(parents=True)
                shutil.copy2(course / "release" / name / f"{name}.ipynb", folder)
                _fill(folder / f"{name}.ipynb", _answers(name)[0], solved[name])
                continue
            _nbgrader("fetch_assignment", name, f"--course={COURSE_ID}", course=home / "nbgrader", exchange=exchange,
                      cwd=home)
            _fill(home / name / f"{name}.ipynb", _answers(name)[0], solved[name])
            # a student's own training run left checkpoints beside the notebook: they must not travel
            (home / name / "runs" / "quick").mkdir(parents=True)
            (home / name / "runs" / "quick" / "model.pt").write_bytes(b"\0" * 1024)
            before = set(inbound.iterdir()) if inbound.exists() else set()
            _nbgrader("submit", name, f"--course={COURSE_ID}", course=home / "nbgrader", exchange=exchange, cwd=home)
            (new,) = set(inbound.iterdir()) - before
            new.rename(new.with_name(re.sub(r"^[^+]+", student, new.name)))  # named after the OS user: rename
    for name in EXCHANGE_TRIP:
        _nbgrader("collect", name, course=course, exchange=exchange)
    for student in plan:
        for name in ROUND_TRIP:
            folder = course / "submitted" / student / name
            assert (folder / f"{name}.ipynb").exists(), f"collect missed {student}'s {name}"
            assert not (folder / "runs").exists(), "a student's runs/ reached the submission (CourseDirectory.ignore)"
    # one nbgrader process grades every submission of both assignments (its start-up is seconds)
    _nbgrader("autograde", "*", "--force", course=course, exchange=exchange)
    _nbgrader("generate_feedback", "*", "--force", course=course, exchange=exchange)

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=COURSE_ID) as gb:
        for name in ROUND_TRIP:
            points = _answers(name)[1]
            for student, solved in plan.items():
                sub = gb.find_submission(name, student)
                assert sub.max_score == sum(points.values()) > 0
                expected = sum(points[g] for g in solved[name])
                assert sub.score == expected, f"{name}: {student} got {sub.score}, expected {expected}/{sub.max_score}"
        bob_03 = gb.find_submission("03_straight_through", "bob")
        assert 0 < bob_03.score < bob_03.max_score, "bob must be partly right in 03 (it needs two exercises)"

    for name in ROUND_TRIP:
        hidden = _hidden(name)
        graded = nbformat.read(str(course / "autograded" / "alice" / name / f"{name}.ipynb"), as_version=4)
        text = "\n".join(c.source for c in graded.cells)
        assert all(r in text for r in hidden), f"{name}: grading did not restore the hidden tests"
        assert not _errors(graded), f"{name}: alice's notebook raised {_errors(graded)}"
        out = "".join(o.get("text", "") for c in graded.cells for o in c.get("outputs", []))
        assert "grading (nbgrader autograde): COURSE_PROFILE=quick, COURSE_SMOKE=1, COURSE_OFFLINE=1" in out
        bob = nbformat.read(str(course / "autograded" / "bob" / name / f"{name}.ipynb"), as_version=4)
        sols, tests = build.graded_cells(_source(name))  # cell for cell the same notebook; bob's has no markers
        unsolved_checks = set()
        for i in sols:
            j = i + 1
            while j in tests:
                if bob.cells[i].metadata["nbgrader"]["grade_id"] not in plan["bob"][name]:
                    unsolved_checks.add(j)
                j += 1
        assert set(_errors(bob)) == unsolved_checks, (
            f"{name}: only the checks of bob's unsolved exercises may fail (later cells fall back to the reference); "
            f"errors: {_errors(bob)}")
        for student in plan:
            (page,) = (course / "feedback" / student / name).glob("*.html")
            html = page.read_text(encoding="utf-8")
            leaked = [r for r in hidden for line in r.split("\n") if line.strip() and line.strip() in html]
            assert not leaked, f"{student}'s feedback for {name} shows hidden tests: {leaked[:2]}"
            assert "Score" in html or "score" in html
    for folder in ("autograded", "feedback"):
        stray = [p for p in (course / folder).rglob("*") if p.suffix == ".pt" or p.name == "runs"]
        assert not stray, f"checkpoints in {folder}/: {stray}"
