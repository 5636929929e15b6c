"""The instructor's materials (issue 24): the guide, the expected outcomes of the open exercises and the lecture
outlines stay true to the notebooks. Nothing here executes a lesson; one test runs a three-cell toy notebook."""
import json
import re
from pathlib import Path

import nbformat
import pytest

from course_lib import build, instructor

ROOT = Path(__file__).resolve().parent.parent
CONFIG = (ROOT / "notebooks" / "jupytext.toml").read_text()


@pytest.fixture(scope="module")
def info():
    return instructor.course_info()


# ----------------------------------------------------------------------------------- the committed materials

def test_plan_names_only_what_the_notebooks_have(info):
    assert instructor.plan_problems(instructor.load_toml(instructor.PLAN), info) == []


def test_guide_is_up_to_date_with_the_notebooks(info):
    text = instructor.GUIDE.read_text()
    blocks = instructor.guide_blocks(info, instructor.load_toml(instructor.PLAN))
    assert instructor.render_guide(text, blocks) == text, "run `python -m course_lib.instructor guide`"
    for name in ("lessons", "schedule:module12", "schedule:practical6", "outcomes", "deep-dives", "open-exercises"):
        assert f"<!-- generated: {name} -->" in text
    for i in info:   # every lesson is in the guide, with its generated core-path minutes
        assert f"| {i['number']} | [{i['title']}]" in text
    # every graded cell and open exercise serves a stated outcome: no row of leftovers in the outcomes table
    assert "| *not mapped to an objective* |" not in text


def test_every_open_exercise_has_outcomes_generated_for_its_current_text(info):
    spec = instructor.load_toml(instructor.OUTCOMES_SPEC)
    data = json.loads(instructor.OUTCOMES_JSON.read_text())
    assert instructor.outcomes_problems(info, spec, data) == []
    for lesson in data["lessons"].values():     # each generating run says where and when it ran
        assert {"commit", "date", "machine", "profile"} <= set(lesson["generated"])
        assert lesson["generated"]["profile"] == "quick"


def test_outcomes_markdown_is_rendered_from_the_committed_outcomes(info):
    spec = instructor.load_toml(instructor.OUTCOMES_SPEC)
    data = json.loads(instructor.OUTCOMES_JSON.read_text())
    assert instructor.render_outcomes(data, spec, info) == instructor.OUTCOMES_MD.read_text(), \
        "run `python -m course_lib.instructor render`"


def test_every_outline_shows_figures_that_exist(info):
    assert instructor.outline_problems(info) == []
    assert sorted(p.stem for p in instructor.OUTLINES.glob("*.md")), "no outline at all"


def test_the_student_edition_holds_no_instructor_material():
    student = ROOT / "notebooks" / "student"
    assert not (student / "instructor").exists()
    for nb in student.glob("*.ipynb"):
        assert "outcomes.md" not in nb.read_text() and "notebooks/instructor" not in nb.read_text(), nb.name


# -------------------------------------------------------------------------------------------- the parsers

LESSON = '''# %% [markdown]
# # 07 · A toy lesson
#
# **Learning objectives.** After this notebook you can
# - write the **toy** function and
#   check it;
# - read a plot.
#
# **Estimated time.** anything.

# %% tags=["setup"]
x = 1

# %%
def toy(v):
    ### BEGIN SOLUTION
    return v + 1
    ### END SOLUTION

# %%
check_toy(toy)

# %% [markdown]
# ## Exercises
# 1. `toy` (checked above).
# 2. *(More to try)* Set `n` to 4 and
#    rerun the whole notebook.
# 3. Why does the plot bend?
#
# ## Further reading
# 1. A. Author (2020). Not an exercise.
'''


def _toy(tmp_path, body=LESSON, name="07_toy.py"):
    (tmp_path / "jupytext.toml").write_text(CONFIG)
    py = tmp_path / name
    py.write_text(body)
    return py


def test_open_exercises_skip_graded_items_labels_and_reading_lists(tmp_path):
    nb = build.notebook_from_source(_toy(tmp_path))
    ex = instructor.open_exercises(nb, "07")
    assert [e["id"] for e in ex] == ["07.2", "07.3"]
    assert ex[0]["text"] == "Set `n` to 4 and rerun the whole notebook."   # continuation joined, label removed
    assert instructor.learning_objectives(nb) == ["write the **toy** function and check it", "read a plot"]
    assert instructor.graded_exercises(nb) == [{"exercise": "toy", "checks": ["check_toy"], "points": 1}]


def test_more_to_try_heading_and_a_changed_exercise_changes_its_hash(tmp_path):
    body = LESSON.replace("# ## Exercises\n# 1. `toy` (checked above).\n", "# ## More to try\n")
    a = instructor.open_exercises(build.notebook_from_source(_toy(tmp_path, body)), "07")
    assert [e["id"] for e in a] == ["07.2", "07.3"]
    b = instructor.open_exercises(build.notebook_from_source(_toy(tmp_path, body.replace("to 4", "to 8"))), "07")
    assert a[0]["hash"] != b[0]["hash"] and a[1]["hash"] == b[1]["hash"]
    assert instructor.exercise_hash("a  b\nc") == instructor.exercise_hash("a b c")   # whitespace does not count


def test_outcomes_problems_name_missing_stale_and_orphan_entries(tmp_path):
    info = [instructor.lesson_info(_toy(tmp_path), stats={})]
    h = {e["id"]: e["hash"] for e in info[0]["open"]}
    entry = {"good": "x", "wrong_turns": ["y"]}
    spec = {"07.2": dict(entry, runs=[{"n": 4}]), "07.3": entry, "07.9": entry}
    data = {"exercises": {"07.2": {"hash": h["07.2"], "runs": [{}]}, "07.3": {"hash": "0" * 12, "runs": []}}}
    problems = "\n".join(instructor.outcomes_problems(info, spec, data))
    assert "07.3 changed since" in problems and "07.9" in problems and "07.2" not in problems
    spec["07.2"]["runs"].append({"n": 8})   # a run added to the spec, not yet generated
    assert "07.2's runs differ" in "\n".join(instructor.outcomes_problems(info, spec, data))
    spec["07.2"]["runs"].pop()
    spec["07.2"]["printed"] = ["^rate"]          # a pattern the lesson's runs did not record lines for
    assert "07.2's `printed` patterns were added after" in "\n".join(instructor.outcomes_problems(info, spec, data))
    data["lessons"] = {"07": {"printed": ["^rate"]}}
    assert "07.2" not in "\n".join(instructor.outcomes_problems(info, spec, data))
    del spec["07.3"]["good"]
    assert "07.3 (07_toy) needs an entry" in "\n".join(instructor.outcomes_problems(info, spec, data))


def test_a_pending_entry_is_accepted_and_said_everywhere(tmp_path):
    """A lesson whose numbers are not generated yet may be marked `pending = "<why>"`: check accepts it, and
    outcomes.md and the guide say so; once generated, a leftover `pending` is a problem."""
    info = [instructor.lesson_info(_toy(tmp_path), stats={})]
    h = {e["id"]: e["hash"] for e in info[0]["open"]}
    entry = {"good": "x", "wrong_turns": ["y"]}
    spec = {"07.2": dict(entry, pending="too slow today"), "07.3": dict(entry, pending="too slow today")}
    assert instructor.outcomes_problems(info, spec, {}) == []
    md = instructor.render_outcomes({}, spec, info)
    assert md.count("Numbers not yet generated (too slow today): run `python -m course_lib.instructor outcomes 07`") == 2
    listed = instructor.open_exercise_list(info, spec)
    assert "07.2](outcomes.md#072) (numbers not yet generated)" in listed
    assert "`python -m course_lib.instructor outcomes 07`" in listed
    data = {"exercises": {"07.2": {"hash": h["07.2"], "runs": []}}}
    assert "07.2 is marked `pending` but its outcomes are generated" in "\n".join(
        instructor.outcomes_problems(info, spec, data))
    spec["07.3"]["pending"] = " "
    assert "07.3's `pending` must say why" in "\n".join(instructor.outcomes_problems(info, spec, {}))
    assert "not yet generated" not in instructor.open_exercise_list(info, {"07.2": entry, "07.3": entry})


def test_plan_problems_catch_unknown_ids_and_lessons_left_out(tmp_path):
    info = [instructor.lesson_info(_toy(tmp_path), stats={})]
    plan = {"schedule": {"s": {"week": [{"core": ["07", "14"]}, {"core": ["07"]}]}},
            "lesson": {"07": {"outcome": [{"objective": "write the toy", "graded": ["check_toy", "nope"],
                                           "open": ["07.2", "07.5"]},
                                          {"objective": "sing a song"}]}}}
    problems = "\n".join(instructor.plan_problems(plan, info))
    assert "'nope' is not a grade id" in problems and "'07.5' is not an open exercise" in problems
    assert "starts with 'sing a song'" in problems and "in 2 weeks" in problems
    assert "14" not in problems    # a lesson that has not landed yet may be scheduled
    assert "write the toy" not in problems   # objectives match without the Markdown emphasis


def test_render_guide_rewrites_only_generated_blocks():
    text = "prose\n<!-- generated: a -->\nold\n<!-- end: a -->\nmore prose\n"
    assert instructor.render_guide(text, {"a": "new"}) == "prose\n<!-- generated: a -->\nnew\n<!-- end: a -->\nmore prose\n"
    with pytest.raises(ValueError, match="no generator for the block 'a'"):
        instructor.render_guide(text, {})


def test_a_patch_must_hit_exactly_one_code_cell(tmp_path):
    nb = build.notebook_from_source(_toy(tmp_path))
    instructor.apply_patches(nb, [{"replace": "return v + 1", "with": "return v + 2"}])
    assert any("return v + 2" in c.source for c in nb.cells)
    with pytest.raises(ValueError, match="occurs in 0 code cells"):
        instructor.apply_patches(nb, [{"replace": "return v + 1", "with": "x"}], where="07_toy")


# ------------------------------------------------------------------------------------------- outlines, decks

OUTLINE = """# 07 · A toy lesson

## The idea
- one point with $x^2$
![the plot](fig:fig-plot)

## A figure the run did not draw
![second image](fig:fig-plot#2)

## Questions
1. Why?
> Because.
"""


def _executed(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("plot()", metadata={"tags": ["fig-plot"]})
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})]
    table = nbformat.v4.new_code_cell("show_table(rows)", metadata={"tags": ["fig-table"]})
    table.outputs = [nbformat.v4.new_output("display_data", data={"text/html": "<table><tr><td>1</td></tr></table>"})]
    nb.cells = [cell, table]
    return nb


def test_deck_embeds_tagged_figures_hides_notes_and_keeps_maths(tmp_path):
    images = instructor.figure_images(_executed(tmp_path))
    assert images == {"fig-plot": [("image/png", "iVBORw0KGgo=")],
                      "fig-table": [("text/html", "<table><tr><td>1</td></tr></table>")]}   # a table, not an image
    doc, missing = instructor.render_deck(OUTLINE + "\n## Table\n![t](fig:fig-table)\n", images, "07")
    assert "<div class='table'><table><tr><td>1</td></tr></table></div>" in doc
    assert "data:image/png;base64,iVBORw0KGgo=" in doc
    assert missing == ["fig-plot#2"] and "is not in the executed notebook" in doc
    assert "<div class='notes'><p>Because.</p>" in doc and "$x^2$" in doc
    assert "https://" not in doc and "http://" not in doc        # offline: nothing loads from a network
    assert doc.count("<section class='slide' id='s") == 5              # title + 4 slides
    assert instructor.outline_figures(OUTLINE) == [("fig-plot", 1), ("fig-plot", 2)]


def test_build_slides_writes_decks_with_mathjax_beside_them(tmp_path):
    outlines, executed, out = tmp_path / "outlines", tmp_path / "executed", tmp_path / "out"
    outlines.mkdir(), executed.mkdir()
    stem = build.notebook_sources()[1].stem           # a real lesson number, so the deck finds its notebook
    (outlines / f"{stem[:2]}.md").write_text(OUTLINE.replace("#2)", ")"))
    nbformat.write(_executed(tmp_path), str(executed / f"{stem}.ipynb"))
    written = instructor.build_slides(out, executed, outlines, strict=True, log=lambda *a: None)
    assert [p.name for p in written] == [f"{stem[:2]}.html"]
    assert (out / "mathjax" / "MathJax.js").is_file() and (out / "index.html").is_file()
    assert "src='mathjax/MathJax.js" in written[0].read_text()
    (outlines / f"{stem[:2]}.md").write_text(OUTLINE)
    with pytest.raises(RuntimeError, match="fig-plot#2"):
        instructor.build_slides(out, executed, outlines, strict=True, log=lambda *a: None)
    (executed / f"{stem}.ipynb").unlink()    # a lesson left out of the run: its deck has no figures, and says so
    said = []
    instructor.build_slides(out, executed, outlines, strict=True, log=said.append)
    assert "built without its figures" in said[0] and "is not in the executed notebook" in written[0].read_text()


def test_a_headless_run_misses_only_figures_whose_cell_did_not_run(tmp_path):
    """The smoke pass runs with MPLBACKEND=Agg: no plot at all in its notebooks. Its decks still build; a figure
    counts as missing only when its tagged cell is absent."""
    outlines, executed, out = tmp_path / "outlines", tmp_path / "executed", tmp_path / "out"
    outlines.mkdir(), executed.mkdir()
    stem = build.notebook_sources()[1].stem
    (outlines / f"{stem[:2]}.md").write_text(OUTLINE.replace("#2)", ")"))
    nb = _executed(tmp_path)
    nb.cells[0].outputs = []                   # the plot's cell ran, headless
    nbformat.write(nb, str(executed / f"{stem}.ipynb"))
    said = []
    instructor.build_slides(out, executed, outlines, strict=True, log=said.append)
    assert any("holds no image at all" in line for line in said)
    nb.cells[0].metadata["tags"] = []          # the tag is gone: that is a missing figure even headless
    nbformat.write(nb, str(executed / f"{stem}.ipynb"))
    with pytest.raises(RuntimeError, match="fig-plot"):
        instructor.build_slides(out, executed, outlines, strict=True, log=said.append)


def test_outline_problems_name_unknown_tags_and_too_few_ideas(tmp_path):
    info = [instructor.lesson_info(_toy(tmp_path), stats={})]
    (tmp_path / "outlines").mkdir()
    (tmp_path / "outlines" / "07.md").write_text(OUTLINE)
    problems = "\n".join(instructor.outline_problems(info, tmp_path / "outlines"))
    assert "tag 'fig-plot'" in problems and "2 ideas" in problems


# ------------------------------------------------------------------------------------------------ the runner

RUNNABLE = '''# %% [markdown]
# # 07 · A runnable toy

# %%
from course_lib.profiles import settings
from course_lib.claims import claim, verdict

CFG = settings(quick=dict(n=2), standard=dict(n=2))

# %%
claim(CFG.n < 3, f"n = {CFG.n} is below 3")
claim(CFG.n > 3, f"n = {CFG.n} is above 3", kind="demonstration")
print(verdict(CFG.n > 3, "n is large", "n is small"))
print(verdict(CFG.n > 4, "n is above 4", verdict(CFG.n > 1, "n is above 1", "n is 1 or less")))   # nested
'''


def test_run_lesson_records_claims_and_verdicts_under_changed_settings(tmp_path):
    """One kernel: the setting reaches the notebook, a claim that fails is reported and the run goes on."""
    py = _toy(tmp_path, RUNNABLE, "07_runnable.py")
    run = instructor.run_lesson(py, {"n": 5}, workdir=tmp_path, keep_executed=tmp_path / "kept", printed=["above"])
    assert run["error"] is None and run["settings"] == {"n": 5}
    kept = nbformat.read(str(tmp_path / "kept" / "07_runnable.ipynb"), as_version=4)   # for the decks
    assert any("n is large" in o.get("text", "") for c in kept.cells for o in c.get("outputs", []))
    assert run["claims"] == [{"held": False, "kind": "measured", "message": "n = 5 is below 3"},
                             {"held": True, "kind": "demonstration", "message": "n = 5 is above 3"}]
    assert run["verdicts"] == ["n is large", "n is above 4"]   # the inner verdict was computed, never shown
    assert run["printed"] == ["n is above 4"]                    # printed lines that match, not the claims' reports
    assert instructor._run_lines(run, ["none"], None, ["above 4"]) == ["  - printed: `n is above 4`"]
    default = {"claims": [{"held": True, "kind": "measured", "message": "n = 2 is below 3"}], "verdicts": []}
    lines = instructor._run_lines(run, ["below"], default)
    assert lines == ["  - **does NOT hold**: n = 5 is below 3 *(default run: holds)*"]
