"""The student's path (issue 21): the time estimator behind `make stats`, the deep-dive convention, the committed
student edition behind every badge."""
import json
import re
from pathlib import Path

import pytest

from course_lib import build, colab

ROOT = Path(__file__).resolve().parent.parent
CONFIG = (ROOT / "notebooks" / "jupytext.toml").read_text()


def _lesson(tmp_path, body: str, name: str = "07_toy.py") -> Path:
    (tmp_path / "jupytext.toml").write_text(CONFIG)
    py = tmp_path / name
    py.write_text(body)
    return py


TOY = '''# %% [markdown]
# # 07 · A toy lesson
# **Estimated time.** anything at all, it is not counted and gets rewritten.

# %% [markdown]
# ## 1. Core
# one two three four five six seven eight nine ten, with `code` and $x$.

# %%
import matplotlib.pyplot as plt
fig, ax = plt.subplots()
show_images(x, ax=ax)   # drawn into the figure above: not a second figure

# %%
def f(x):
    ### BEGIN SOLUTION
    y = x + 1
    return y
    ### END SOLUTION

# %%
check_f(f)

# %% [markdown]
# ## Deep dive: a longer experiment
# *Adds a multi-seed table. The core path resumes at section 2.*

# %%
a = 1
b = 2
show_table(rows)

# %% [markdown]
# ### a sub-heading inside the deep dive
# words inside

# %% [markdown]
# ## 2. Back on the core path
# three more words

# %% [markdown]
# ## Further reading
# - A. Author (2020). Not counted at all, however long this list grows.
'''


def test_lesson_stats_splits_core_and_deep_dives(tmp_path):
    s = build.lesson_stats(_lesson(tmp_path, TOY))
    core, deep = s["core"], s["deep"]
    assert s["deep_dives"] == ["a longer experiment"]
    assert core["figures"] == 1 and core["exercises"] == 1 and core["solution_lines"] == 2
    assert core["code_lines"] == 6           # import, subplots, show_images, def, raise NotImplementedError, check_f
    assert deep["code_lines"] == 3 and deep["tables"] == 1 and deep["figures"] == 0
    assert deep["words"] > 0 and "Further" not in json.dumps(s)
    # the header's estimate and the reading list are not counted; the core prose is
    assert 20 < core["words"] < 40
    expected = (core["words"] / 100 + core["code_lines"] / 15 + 0.75 * core["figures"]
                + build._exercise_minutes(2))
    assert core["minutes"] == pytest.approx(expected, abs=0.06)


def test_exercise_minutes_follow_the_stated_rates():
    assert build._exercise_minutes(1) == pytest.approx(2.75)
    assert build._exercise_minutes(10) == pytest.approx(9.5)
    assert build._exercise_minutes(100) == 25.0


def test_estimate_paragraph_is_generated_and_stable(tmp_path):
    py = _lesson(tmp_path, TOY)
    times = {"07_toy": {"quick_seconds": 44, "t4_train_minutes": 0.5}}
    once = build.with_estimate(TOY, py, times)
    assert "anything at all" not in once and "Core path about" in once and "1 deep dive" not in once
    assert "the deep dive about" in once and "44 s under `quick`" in once and "estimated from FLOPs" in once
    assert build.with_estimate(once, py, times) == once


def test_deep_dive_heading_must_say_where_the_core_path_resumes(tmp_path):
    bad = TOY.replace("# *Adds a multi-seed table. The core path resumes at section 2.*\n", "# More.\n")
    nb = build.notebook_from_source(_lesson(tmp_path, bad))
    assert any("core path resumes" in p for p in build.deep_dive_problems(nb, "07_toy.py"))
    odd = TOY.replace("## Deep dive: a longer", "## Deep-dive -- a longer")
    nb = build.notebook_from_source(_lesson(tmp_path, odd, "08_toy.py"))
    assert any("exactly as '## Deep dive: <title>'" in p for p in build.deep_dive_problems(nb, "08_toy.py"))


def test_make_stats_prints_every_lesson_and_the_course(capsys):
    assert build.main(["stats"]) == 0
    out = capsys.readouterr().out
    for py in build.notebook_sources():
        assert f"| {py.stem} |" in out
    assert "**course**" in out and "whole core path" in out


def test_headers_and_readme_carry_the_generated_estimate():
    times = build.machine_times()
    readme = (ROOT / "README.md").read_text()
    for py, stats in zip(build.notebook_sources(), build.course_stats()):
        text = py.read_text()
        assert "# **Estimated time.** Core path about" in text, py.name
        assert build.estimate_paragraph(stats, times).split(" (estimated")[0] in " ".join(
            l[2:] for l in text.split("\n") if l.startswith("# ")), py.name
        assert f"notebooks/student/{py.stem}.ipynb" in readme


def test_no_badge_opens_a_notebook_with_a_solution():
    """Every Colab badge and link, in the README and in every notebook (both editions), opens the student version,
    and the student version holds no solution and no hidden test."""
    texts = {"README.md": (ROOT / "README.md").read_text()}
    for p in sorted((ROOT / "notebooks").glob("**/*.ipynb")) + build.notebook_sources():
        texts[str(p.relative_to(ROOT))] = p.read_text()
    targets = set()
    for where, text in texts.items():
        for url in re.findall(r"https://colab\.research\.google\.com/github/[^)\s\"\\]+", text):
            m = re.search(r"/blob/[^/]+/(notebooks/.+\.ipynb)$", url)
            assert m, f"{where}: a Colab link that opens no notebook: {url}"
            assert m.group(1).startswith("notebooks/student/"), f"{where}: a badge opens {m.group(1)}"
            targets.add(m.group(1))
    assert len(targets) == len(build.notebook_sources())
    for t in targets:
        text = (ROOT / t).read_text()
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text, t
        assert '"output_type"' not in text, t


def test_committed_student_edition_equals_a_fresh_build():
    assert build.student_edition_problems() == []
    made = sorted(p.name for p in (ROOT / "notebooks" / "student").glob("*.ipynb"))
    assert made == sorted(f"{p.stem}.ipynb" for p in build.notebook_sources())


def test_colab_url_points_at_the_student_edition():
    assert colab.colab_url("04_vqvae.ipynb").endswith(f"/blob/{colab.REF}/notebooks/student/04_vqvae.ipynb")


def test_a_deep_dive_heading_later_in_a_cell_does_not_break_the_count(tmp_path):
    """The cell's first heading decides where it belongs; a deep-dive heading further down the same cell used to
    raise IndexError in lesson_stats."""
    body = TOY.replace("# ## 2. Back on the core path\n# three more words",
                       "# ## 2. Back on the core path\n# three more words\n#\n# ## Deep dive: inside a cell\n# x")
    s = build.lesson_stats(_lesson(tmp_path, body, "09_toy.py"))
    assert s["deep_dives"] == ["a longer experiment"]


def test_machine_times_are_written_from_an_nbval_junit_file(tmp_path):
    """The README's `quick` column comes from a measured nbval run (make test-notebooks writes the JUnit file), not
    from typed numbers: cells add up per notebook, other notebooks and the T4 estimates are kept."""
    junit = tmp_path / "nbval.xml"
    junit.write_text(
        '<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="4">'
        '<testcase classname="notebooks.04_vqvae.ipynb" name="Cell 0" time="2.5" />'
        '<testcase classname="notebooks.04_vqvae.ipynb" name="Cell 1" time="40.25" />'
        '<testcase classname="notebooks.02_vector_quantization.ipynb" name="Cell 0" time="7.6" />'
        '<testcase classname="tests.test_x" name="test_y" time="99" />'
        '</testsuite></testsuites>', encoding="utf-8")
    times = tmp_path / "machine_times.json"
    times.write_text(json.dumps({"_sources": {"quick_seconds": "old"}, "04_vqvae": {"quick_seconds": 1, "t4_train_minutes": 0.5},
                                 "01_autoencoders_and_vae": {"quick_seconds": 44}}), encoding="utf-8")
    measured = build.update_machine_times(junit, times, source="a test run")
    assert measured == {"04_vqvae": 42.75, "02_vector_quantization": 7.6}
    got = json.loads(times.read_text(encoding="utf-8"))
    assert got["04_vqvae"] == {"quick_seconds": 43, "t4_train_minutes": 0.5}
    assert got["02_vector_quantization"] == {"quick_seconds": 8}
    assert got["01_autoencoders_and_vae"] == {"quick_seconds": 44}
    assert got["_sources"]["quick_seconds"] == "a test run"
    empty = tmp_path / "empty.xml"
    empty.write_text('<testsuites><testsuite name="pytest"/></testsuites>', encoding="utf-8")
    with pytest.raises(ValueError, match="nbval"):
        build.update_machine_times(empty, times)


def test_prose_style_counts_asides_and_long_sentences():
    md = ("# A heading (not prose)\n\nThe encoder (a small CNN) maps $x$ to codes (Esser et al. 2021), see the shapes "
          "(B, D, h, w) and (B,) and the metric (KID), as in (notebook 06), (sec. 3.1) and (§7.2, v2 §6.1-6.4). The decoder draws.\n\n"
          "- a list item (with an aside)\n- another item\n\n| a (table) | x |\n|---|---|\n\n"
          "```bash\npython -m x (not prose)\n```\n\nA code span `f(a,\nb (c))` wraps.\n\n" + "word " * 41 + "end.")
    st = build.prose_style(md)
    # asides: "a small CNN" and "with an aside"; not the citation, the shape, the acronym, the cross-reference, the
    # heading, the table or the code block
    assert st["asides"] == 2, st
    # sentences: the two of the paragraph, the two list items, the code-span one, and the 42-word one, which is long
    assert st["sentences"] == 6 and st["long_sentences"] == 1, st


def test_core_sections_are_numbered_without_gaps_and_deep_dives_resume_at_the_next_one():
    """Moving a section into a deep dive must renumber the core path: sections 1..n, and every "The core path
    resumes at section N" names the next numbered heading after it (01 once resumed at a section 5 after a 3)."""
    import re

    for py in build.notebook_sources():
        s = py.read_text(encoding="utf-8")
        heads = [(m.start(), m.group(1)) for m in re.finditer(r"^# #{2,3} (\d+(?:\.\d+)?)\.? ", s, re.M)]
        top = [int(n) for _, n in heads if "." not in n]
        assert top == list(range(1, len(top) + 1)), f"{py.name}: core sections numbered {top}"
        for m in re.finditer(r"core path resumes at section (\d+(?:\.\d+)?)", s):
            after = [n for pos, n in heads if pos > m.start()]
            assert after and after[0] == m.group(1), f"{py.name}: resumes at section {m.group(1)}, next is {after[:1]}"


def test_stats_places_name_the_cell_of_each_aside(tmp_path, capsys):
    """`make stats ARGS="--places NN"` says where the counted asides and long sentences are."""
    body = ("# %% [markdown]\n# # 09 · Toy\n\n# %% [markdown]\n# ## 1. Start\n# A line (an aside here) and more.\n\n"
            "# %% [markdown]\n# ## Deep dive: more\n# *Adds more. The core path resumes at the summary.*\n"
            "# Deep (a deep aside).\n\n# %% [markdown]\n# ## Summary\n# " + "word " * 45 + "end.\n")
    s = build.lesson_stats(_lesson(tmp_path, body, "09_toy.py"), places=True)
    assert ("core", 1, "aside", "an aside here") in s["places"]
    assert ("deep", 2, "aside", "a deep aside") in s["places"]
    assert [p[:3] for p in s["places"] if p[2] == "long sentence"] == [("core", 3, "long sentence")]
    assert s["core"]["asides"] == 1 and s["deep"]["asides"] == 1 and s["core"]["long_sentences"] == 1
