"""Course tooling: keep notebook pairs in sync, build student and nbgrader versions, execute the course.

    python -m course_lib.build sync [notebooks/NN_x.py] # regenerate notebooks/NN_*.ipynb (and tidy the .py)
    python -m course_lib.build check                    # fail if a pair is out of date (CI runs this via pytest)
    python -m course_lib.build student --out build/student
    python -m course_lib.build workspace                # the student's workspace/ from notebooks/student/ (make lab)
    python -m course_lib.build refresh 04               # take lesson 04's new version, keep the student's beside it
    python -m course_lib.build assignment               # nbgrader source + release versions in coursework/
    python -m course_lib.build execute --out build/executed [notebooks/03_*.ipynb ...]
    python -m course_lib.build release-check            # what stops a release (make release runs it, then tags)
    python -m course_lib.build git-filter               # set up the nbstripout git filter (make does this)

Each notebook is a jupytext pair: ``NN_name.py`` (percent format, the file you edit and review) and
``NN_name.ipynb``, which ``sync`` regenerates from it and which is committed without outputs. The .ipynb is exactly
what ``jupytext --sync`` (and JupyterLab's jupytext contents manager, with ``notebooks/jupytext.toml``) writes for
the pair, plus what the sources imply and jupytext keeps but never writes into the .py:

* notebook metadata: the kernelspec, ``accelerator: GPU`` and ``colab.gpuType: T4`` (the Colab badge opens a
  GPU runtime);
* nbgrader metadata (schema 3): each code cell holding a ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region
  is a solution cell, and the code cells right after it that call a ``course_lib.checks`` function are autograded
  test cells worth :data:`POINTS` point(s) each, locked (nbgrader restores their source, hidden tests included,
  before grading). Other cells carry no nbgrader metadata and stay editable: students are meant to change settings
  and re-run experiments, and no grade depends on those cells.
* ``metadata.jupytext`` with the cell and notebook metadata filters of ``notebooks/jupytext.toml``: with them,
  jupytext's sync (CLI or JupyterLab) restores the nbgrader metadata from the .ipynb instead of dropping it.
* cell ids ``"0"``, ``"1"``, ... (what the nbstripout git filter writes), so a committed notebook is a fixed point
  of that filter.

``sync`` also rewrites each notebook's set-up cell and "Open in Colab" badge from :mod:`course_lib.colab`.
``student`` applies nbgrader's rules: every line that contains ``BEGIN SOLUTION`` starts a region replaced by
``raise NotImplementedError()`` at the same indentation (up to the line with ``END SOLUTION``), and every region
from ``BEGIN HIDDEN TESTS`` to ``END HIDDEN TESTS`` is removed. nbgrader matches these markers anywhere in a line,
so a line that merely mentions one (in prose, say) breaks ``nbgrader generate_assignment``: ``check`` reports it.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from . import colab

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
NAME_RE = re.compile(r"^\d\d_[a-z0-9_]+$")
# nbgrader's markers (ClearSolutions / ClearHiddenTests); nbgrader matches the part after "### " anywhere in a line.
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
MARKERS = tuple(m[4:] for m in (BEGIN, END, BEGIN_HIDDEN, END_HIDDEN))
STUB = "raise NotImplementedError()"
POINTS = 1
BADGE_RE = re.compile(r"\[!\[Open In Colab\]\(https://colab\.research\.google\.com/assets/colab-badge\.svg\)\]\([^)]*\)")
NB_METADATA = {
    "accelerator": "GPU",
    "colab": {"gpuType": "T4"},
    "jupytext": {"cell_metadata_filter": "tags,-all", "notebook_metadata_filter": "-all"},
    "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}
# What the nbstripout git filter removes besides outputs and execution counts (on top of its own defaults):
# what a kernel writes into language_info, and a cell's collapsed/hidden view state in JupyterLab.
STRIP_EXTRA_KEYS = (
    "metadata.language_info.codemirror_mode metadata.language_info.file_extension metadata.language_info.mimetype "
    "metadata.language_info.nbconvert_exporter metadata.language_info.pygments_lexer metadata.language_info.version "
    "cell.metadata.jupyter cell.metadata.editable cell.metadata.deletable"
)
NBSTRIPOUT_DEFAULT_KEYS = (
    "metadata.signature metadata.widgets cell.metadata.collapsed cell.metadata.ExecuteTime cell.metadata.execution "
    "cell.metadata.heading_collapsed cell.metadata.hidden cell.metadata.scrolled"
)


def notebook_sources(root: Path = NOTEBOOKS) -> List[Path]:
    """The ``NN_name.py`` sources in order."""
    return sorted(p for p in Path(root).glob("[0-9][0-9]_*.py") if NAME_RE.match(p.stem))


def _jupytext():
    try:
        import jupytext
    except ImportError:  # pragma: no cover
        sys.exit("jupytext is not installed: run `make setup` (it installs the dev extra).")
    return jupytext


def jupytext_config(path: Path):
    """The jupytext configuration that jupytext itself finds for ``path`` (notebooks/jupytext.toml)."""
    from jupytext.config import load_jupytext_config

    return load_jupytext_config(str(Path(path).resolve()))


def canonical_source(py_text: str, ipynb_name: str) -> str:
    """The .py text with the canonical set-up cell and Colab badge."""
    text = BADGE_RE.sub(colab.badge_markdown(ipynb_name).replace("\\", "\\\\"), py_text, count=1)
    pattern = re.compile(r'(# %% tags=\["setup"\]\n)(.*?)(?=\n# %%|\Z)', re.S)
    return pattern.sub(lambda m: m.group(1) + colab.SETUP_CELL_PY + "\n", text, count=1)


def canonical_py(py_path: Path, text: Optional[str] = None) -> str:
    """The .py text that ``sync`` writes: canonical set-up cell and badge, then exactly what jupytext writes back."""
    jupytext = _jupytext()
    py_path = Path(py_path)
    text = py_path.read_text(encoding="utf-8") if text is None else text
    fixed = canonical_source(text, py_path.with_suffix(".ipynb").name)
    fixed = with_estimate(fixed, py_path)
    config = jupytext_config(py_path)
    nb = jupytext.reads(fixed, fmt="py:percent", config=config)
    out = jupytext.writes(nb, fmt="py:percent", config=config)
    return out if out.endswith("\n") else out + "\n"


# ----------------------------------------------------------------------------------------------- markers, nbgrader

def _marker(line: str) -> Optional[str]:
    found = [m for m in MARKERS if m in line]
    return found[0] if len(found) == 1 else (" and ".join(repr(m) for m in found) if found else None)


CHECK_CALL_RE = re.compile(r"^\s*(check_\w+)\(", re.M)


def _has(source: str, marker: str) -> bool:
    return any(marker[4:] in line for line in source.split("\n"))


def graded_cells(nb) -> Tuple[List[int], List[int]]:
    """Indices of the exercise (solution) cells and of their check (autograded test) cells.

    An exercise is a code cell with a solution region; its checks are the code cells right after it (no markdown
    in between) that call a ``check_*`` function, e.g. two check cells after a cell with two functions.
    """
    solutions, tests = [], []
    cells = nb.cells
    for i, cell in enumerate(cells):
        if cell.cell_type != "code" or not _has(cell.source, BEGIN):
            continue
        solutions.append(i)
        j = i + 1
        while (j < len(cells) and cells[j].cell_type == "code" and CHECK_CALL_RE.search(cells[j].source)
               and not _has(cells[j].source, BEGIN)):
            tests.append(j)
            j += 1
    return solutions, tests


def marker_problems(nb, name: str) -> List[str]:
    """Lines that nbgrader would take for markers where they cannot work, each with notebook, cell and line.

    nbgrader treats every line that contains ``BEGIN SOLUTION`` (etc.) as a marker, wherever it sits in the line.
    Allowed: well-nested solution regions in code cells, and hidden-test regions in the check cells right after an
    exercise; nothing else (prose that quotes a marker, two markers on one line, a region left open).
    """
    problems = []
    solutions, tests = graded_cells(nb)
    for i in solutions:
        if not any(j == i + 1 for j in tests):
            problems.append(f"{name}, cell {i}: an exercise must be followed directly by a code cell calling a "
                            f"course_lib.checks function (its autograded test cell)")
    for i, cell in enumerate(nb.cells):
        open_marker = None
        for k, line in enumerate(cell.source.split("\n"), 1):
            m = _marker(line)
            if m is None:
                continue
            where = f"{name}, cell {i} ({cell.cell_type}), line {k}: {line.strip()[:90]!r}"
            label = m if "'" in m else repr(m)
            if cell.cell_type != "code":
                problems.append(f"{where} mentions nbgrader's marker {label}; nbgrader takes any line containing it for "
                                f"a marker (generate_assignment fails): reword it (e.g. 'the solution markers')")
            elif "'" in m:
                problems.append(f"{where} holds two markers; put each marker on a line of its own")
            elif m.startswith("BEGIN"):
                if open_marker:
                    problems.append(f"{where}: {m!r} inside an open {open_marker!r} region")
                if m == MARKERS[2] and i not in tests:
                    problems.append(f"{where}: hidden tests belong in a check cell right after an exercise")
                open_marker = m
            else:
                if open_marker != m.replace("END", "BEGIN"):
                    problems.append(f"{where}: {m!r} without a matching BEGIN")
                open_marker = None
        if open_marker:
            problems.append(f"{name}, cell {i}: {open_marker!r} is never closed")
    return problems


def _unique(name: str, used: set) -> str:
    while name in used:
        name += "_"
    used.add(name)
    return name


def add_nbgrader_metadata(nb) -> Dict[str, List[str]]:
    """Mark solution cells and their check cells for nbgrader (schema 3), in place; returns their grade ids."""
    solutions, tests = graded_cells(nb)
    ids: Dict[str, List[str]] = {"solution": [], "test": []}
    used: set = set()
    for n, i in enumerate(solutions, 1):
        m = re.search(r"^\s*def\s+([A-Za-z_]\w*)", nb.cells[i].source, re.M)
        grade_id = _unique(m.group(1) if m else f"exercise_{n}", used)
        nb.cells[i].metadata["nbgrader"] = {"grade": False, "grade_id": grade_id, "locked": False,
                                            "schema_version": 3, "solution": True, "task": False}
        ids["solution"].append(grade_id)
    for i in tests:
        grade_id = _unique(CHECK_CALL_RE.search(nb.cells[i].source).group(1), used)
        nb.cells[i].metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "locked": True, "points": POINTS,
                                            "schema_version": 3, "solution": False, "task": False}
        ids["test"].append(grade_id)
    return ids


# ------------------------------------------------------------------------------------------------------- the pair

def notebook_from_source(py_path: Path):
    """The .ipynb (as an nbformat node) that the .py source defines: no outputs, generated metadata.

    Cells keep the metadata jupytext reads from the .py (``tags``, ``lines_to_next_cell``), so that jupytext's own
    sync of the pair changes nothing.
    """
    jupytext = _jupytext()
    py_path = Path(py_path)
    nb = jupytext.reads(py_path.read_text(encoding="utf-8"), fmt="py:percent", config=jupytext_config(py_path))
    nb.metadata = copy.deepcopy(NB_METADATA)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell["id"] = str(i)
    add_nbgrader_metadata(nb)
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def nb_text(value: Any) -> str:
    """A notebook's multiline string as one str: nbformat stores source, stream text and output data either as a
    string or as a list of lines."""
    return "".join(value) if isinstance(value, list) else str(value)


def ipynb_text(nb) -> str:
    """The text of a notebook file as jupytext, nbformat and nbstripout write it."""
    import nbformat

    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def strip_outputs(text: str) -> str:
    """What the nbstripout git filter (as :func:`install_git_filter` sets it up) commits for this .ipynb text."""
    import nbformat

    nb = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
    keys = (NBSTRIPOUT_DEFAULT_KEYS + " " + STRIP_EXTRA_KEYS).split()
    try:
        from nbstripout import strip_output
    except ImportError:  # pragma: no cover - the dev extra installs nbstripout; same rules, by hand
        from collections import defaultdict

        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
            if "id" in cell:
                cell["id"] = str(i)
            for key in keys:
                scope, _, path = key.partition(".")
                target = cell if scope == "cell" else None
                if target is not None:
                    *parents, last = path.split(".")
                    for p in parents:
                        target = target.get(p, {})
                    target.pop(last, None)
        for key in keys:
            scope, _, path = key.partition(".")
            if scope == "metadata":
                target, (*parents, last) = nb.metadata, path.split(".")
                for p in parents:
                    target = target.get(p, {})
                target.pop(last, None)
    else:
        nb = strip_output(nb, keep_output=False, keep_count=False, keep_id=False, extra_keys=keys)
    return ipynb_text(nb)


def sync(root: Path = NOTEBOOKS, only: Optional[Iterable[Path]] = None) -> List[Path]:
    """Regenerate the .ipynb of every source (or of ``only``), tidying the .py and its "Estimated time" paragraph;
    write the student edition (``notebooks/student/``) and the README's syllabus; returns the files rewritten.

    Raises ValueError (naming notebook, cell and line) when a line would break nbgrader or a deep dive's heading
    does not follow the convention.
    """
    written = []
    wanted = None if not only else {Path(p).with_suffix(".py").resolve() for p in only}
    problems = []
    for py in notebook_sources(root):
        if wanted is not None and py.resolve() not in wanted:
            continue
        ipynb = py.with_suffix(".ipynb")
        text = py.read_text(encoding="utf-8")
        fixed = canonical_py(py, text)
        if fixed != text:
            py.write_text(fixed, encoding="utf-8")
            written.append(py)
        nb = notebook_from_source(py)
        problems += marker_problems(nb, py.name) + deep_dive_problems(nb, py.name)
        new = ipynb_text(nb)
        if not ipynb.exists() or ipynb.read_text(encoding="utf-8") != new:
            ipynb.write_text(new, encoding="utf-8")
            written.append(ipynb)
        if Path(root).resolve() == NOTEBOOKS.resolve():
            student = STUDENT_DIR / ipynb.name
            new = ipynb_text(student_notebook(py)[0])
            if not student.exists() or student.read_text(encoding="utf-8") != new:
                student.parent.mkdir(parents=True, exist_ok=True)
                student.write_text(new, encoding="utf-8")
                written.append(student)
    if Path(root).resolve() == NOTEBOOKS.resolve():
        for stale in sorted(STUDENT_DIR.glob("*.ipynb")):
            if not (NOTEBOOKS / stale.name).with_suffix(".py").exists():
                stale.unlink()
                written.append(stale)
        if README.is_file():
            text = README.read_text(encoding="utf-8")
            new = readme_with_syllabus(text, syllabus_table())
            if new != text:
                README.write_text(new, encoding="utf-8")
                written.append(README)
    if problems:
        raise ValueError("lines that break nbgrader or the course's conventions:\n" + "\n".join(problems))
    return written


def check(root: Path = NOTEBOOKS) -> List[str]:
    """Problems with the notebook pairs (empty list: all in sync).

    A working copy may hold outputs (a student ran and saved the notebook in JupyterLab): the .ipynb is compared
    as the nbstripout git filter commits it, i.e. without outputs, execution counts and kernel-written metadata.
    """
    problems = []
    for py in notebook_sources(root):
        ipynb = py.with_suffix(".ipynb")
        text = py.read_text(encoding="utf-8")
        if canonical_source(text, ipynb.name) != text:
            problems.append(f"{py.name}: set-up cell or Colab badge differs from course_lib.colab (run `make sync`)")
        elif canonical_py(py, text) != text:
            problems.append(f"{py.name} is not what jupytext writes for it (run `make sync`)")
        nb = notebook_from_source(py)
        problems += marker_problems(nb, py.name) + deep_dive_problems(nb, py.name)
        if not ipynb.exists():
            problems.append(f"{py.name}: no paired {ipynb.name} (run `make sync`)")
        elif strip_outputs(ipynb.read_text(encoding="utf-8")) != ipynb_text(nb):
            problems.append(f"{ipynb.name} is out of date with {py.name} (edit the .py, then run `make sync`)")
    for ipynb in sorted(Path(root).glob("[0-9][0-9]_*.ipynb")):
        if not ipynb.with_suffix(".py").exists():
            problems.append(f"{ipynb.name} has no .py source")
    if Path(root).resolve() == NOTEBOOKS.resolve():
        problems += student_edition_problems()
        if README.is_file() and readme_with_syllabus(README.read_text(encoding="utf-8"), syllabus_table()) \
                != README.read_text(encoding="utf-8"):
            problems.append("README.md: the syllabus table is out of date (run `make sync`)")
    return problems


def student_edition_problems(root: Path = NOTEBOOKS) -> List[str]:
    """Differences between the committed student edition (``notebooks/student/``) and a fresh build."""
    problems = []
    for py in notebook_sources(root):
        target = STUDENT_DIR / f"{py.stem}.ipynb"
        if not target.exists():
            problems.append(f"notebooks/student/{target.name} is missing (run `make sync`)")
        elif strip_outputs(target.read_text(encoding="utf-8")) != ipynb_text(student_notebook(py)[0]):
            problems.append(f"notebooks/student/{target.name} differs from the student build of {py.name} "
                            f"(run `make sync`)")
    for stale in sorted(STUDENT_DIR.glob("*.ipynb")):
        if not (root / stale.name).with_suffix(".py").exists():
            problems.append(f"notebooks/student/{stale.name} has no source notebook (run `make sync`)")
    return problems


# ------------------------------------------------------------------------------------------- the student's time

#: Reading and solving rates of :func:`lesson_stats`. The reading rates are the ones the learning-design review of
#: 2026-12-06 used to measure this course against d2l and the UvA tutorials (``shared/reviews``): technical prose with
#: maths at 100 words a minute, given code at 15 lines a minute, under a minute per figure and a minute per printed
#: table. A graded exercise takes 2 minutes to read and check plus 0.75 minute per line of its reference solution,
#: within the review's 2-25 minutes by difficulty (a 1-line answer about 3 minutes, a 30-line one about 25).
RATES = dict(words_per_min=100.0, code_lines_per_min=15.0, min_per_figure=0.75, min_per_table=1.0,
             exercise_base_min=2.0, exercise_min_per_line=0.75, exercise_max_min=25.0)
#: What a display formula, an inline formula and a code span count as, in words.
DISPLAY_MATH_WORDS, INLINE_MATH_WORDS, CODE_SPAN_WORDS = 10, 1, 1
#: The core-path budget of one lesson and of the whole course, in estimated minutes (COURSE_DESIGN.md).
CORE_BUDGET_MIN, COURSE_BUDGET_MIN = 60, 600
DEEP_DIVE_RE = re.compile(r"^(#{2,4})\s+Deep dive:\s*(\S.*)$", re.M)
HEADING_RE = re.compile(r"^(#{1,4})\s+(\S.*)$", re.M)
NOT_COUNTED_RE = re.compile(r"^(further reading|references|reading)\b", re.I)
ESTIMATE_RE = re.compile(r"^\*\*Estimated time\.\*\*.*?(?=\n\s*\n|\Z)", re.M | re.S)
FIGURE_CALL_RE = re.compile(r"\b(show_images|show_pairs|plot_history|plot_latents|draw_\w+|\w+_diagram)\(")
WORD_RE = re.compile(r"[A-Za-z0-9\u00c0-\u024f][\w'\u2019.-]*")


def _prose_words(md: str) -> int:
    md = re.sub(r"<!--.*?-->", " ", md, flags=re.S)
    n = DISPLAY_MATH_WORDS * len(re.findall(r"\$\$.*?\$\$", md, flags=re.S))
    md = re.sub(r"\$\$.*?\$\$", " ", md, flags=re.S)
    n += INLINE_MATH_WORDS * len(re.findall(r"\$[^$\n]+\$", md))
    md = re.sub(r"\$[^$\n]+\$", " ", md)
    n += CODE_SPAN_WORDS * len(re.findall(r"`[^`\n]+`", md))
    md = re.sub(r"`[^`\n]+`", " ", md)
    md = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", md)           # images count as figures
    md = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", md)         # links: their text
    md = "\n".join(line for line in md.split("\n") if not re.match(r"^\s*\|?\s*:?-{3,}", line))
    return n + len(WORD_RE.findall(md))


#: A parenthesis that is not an aside: a citation (a year inside), a short cross-reference, an acronym, a shape.
_NOT_ASIDE_RE = re.compile(r"\b(1[89]|20)\d\d\b|^(notebook|notebooks|section|sections|sec\.|secs\.|§|eq\.|equation|"
                           r"figure|fig\.|table|exercise|see|deep dive|more to try)(?=\s|$)[^,;]{0,30}$"
                           r"|^(v\d\s+)?§\s?\d[\d.,\s§v-]*$"                  # (§7.2, v2 §6.1-6.4)
                           r"|^[A-Z][A-Za-z0-9-]{0,9}s?$", re.I)
_SHAPE_RE = re.compile(r"^(?=.*,)\s*[\w'×·*+-]{1,4}(\s*,\s*[\w'×·*+-]{1,4})*\s*,?\s*$")   # (B, C, H, W), (B,)
LONG_SENTENCE_WORDS = 40
_ABBREV_END_RE = re.compile(r"\b(al|e\.g|i\.e|sec|secs|eq|fig|vs|cf|approx|ch|p|pp|no)\.$", re.I)


def _plain_prose(md: str) -> str:
    """Markdown as running text: no comments, code blocks, maths, code spans, images, link targets, tables or
    headings (maths and code spans become one word, X)."""
    md = re.sub(r"<!--.*?-->", " ", md, flags=re.S)
    md = re.sub(r"^\s*```.*?^\s*```", " ", md, flags=re.S | re.M)      # fenced code blocks
    md = re.sub(r"\$\$.*?\$\$", " X ", md, flags=re.S)
    md = re.sub(r"\$[^$]+\$", "X", md)        # inline maths and code spans may wrap onto the next line
    md = re.sub(r"`[^`]+`", "X", md)
    md = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", md)
    md = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", md)
    keep = [ln for ln in md.split("\n") if not re.match(r"^\s*(\||#{1,6}\s)", ln)]
    return "\n".join(keep)


def prose_style(md: str, places: bool = False) -> Dict[str, Any]:
    """Two measures of plain writing in a markdown text (issue 21 compared d2l and the UvA notebooks):
    ``asides``, the parenthesised phrases that interrupt a sentence (not counted: citations with a year, short
    cross-references such as "(notebook 06)", an acronym such as "(KID)", a tensor shape such as "(B, C, H, W)"),
    and ``sentences`` with ``long_sentences``, those over :data:`LONG_SENTENCE_WORDS` words (a list item or a
    paragraph ends a sentence too); ``prose_words``, the words of the running text (maths or code: one word).
    With ``places``, also ``aside_texts`` and ``long_texts``: what was counted, to find and rewrite it."""
    text = _plain_prose(md)
    aside_texts = [" ".join(inner.split()) for inner in re.findall(r"\(([^()]*)\)", text)
                   if inner.strip() and inner.strip() != "X" and not _NOT_ASIDE_RE.search(inner.strip())
                   and not _SHAPE_RE.match(inner)]
    units = []
    for block in re.split(r"\n\s*\n|\n\s*(?:[-*]|\d+\.)\s+", text):
        pieces = re.split(r"(?<=[.!?])\s+(?=[A-Z(*\"'X0-9])", " ".join(block.split()))
        for piece in pieces:   # "et al. 2021", "e.g. X", "sec. 3" do not end a sentence
            if units and units[-1] is not None and _ABBREV_END_RE.search(units[-1]):
                units[-1] += " " + piece
            else:
                units.append(piece)
        units.append(None)     # a block always ends a sentence
    units = [u for u in units if u is not None and WORD_RE.search(u)]
    long_texts = [u for u in units if len(WORD_RE.findall(u)) > LONG_SENTENCE_WORDS]
    out = {"asides": len(aside_texts), "sentences": len(units), "long_sentences": len(long_texts),
           "prose_words": len(WORD_RE.findall(text))}
    if places:
        out.update(aside_texts=aside_texts, long_texts=long_texts)
    return out


def _exercise_minutes(solution_lines: int) -> float:
    r = RATES
    return min(r["exercise_max_min"], r["exercise_base_min"] + r["exercise_min_per_line"] * solution_lines)


def _solution_lines(source: str) -> int:
    n, inside = 0, False
    for line in source.split("\n"):
        if BEGIN[4:] in line:
            inside = True
        elif END[4:] in line:
            inside = False
        elif inside and line.strip() and not line.strip().startswith("#"):
            n += 1
    return n


def _empty_counts() -> Dict[str, float]:
    return dict(words=0, code_lines=0, figures=0, tables=0, exercises=0, solution_lines=0, exercise_min=0.0,
                asides=0, sentences=0, long_sentences=0, prose_words=0)


def _minutes(c: Dict[str, float]) -> float:
    r = RATES
    return (c["words"] / r["words_per_min"] + c["code_lines"] / r["code_lines_per_min"]
            + c["figures"] * r["min_per_figure"] + c["tables"] * r["min_per_table"] + c["exercise_min"])


def deep_dive_problems(nb, name: str) -> List[str]:
    """The deep-dive convention: a heading "Deep dive: <title>" (level 2-4) whose cell also says, in one line,
    what the deep dive adds and where the core path resumes (the words "core path")."""
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and DEEP_DIVE_RE.search(cell.source) and "core path" not in cell.source.lower():
            problems.append(f"{name}, cell {i}: a deep dive's heading cell must say in one line what it adds and where "
                            f"the core path resumes (e.g. '*Adds the codec comparison. The core path resumes at "
                            f"section 6.*')")
        if cell.cell_type == "markdown" and re.search(r"^#{1,4}\s+deep[ -]dive", cell.source, re.I | re.M) \
                and not DEEP_DIVE_RE.search(cell.source):
            problems.append(f"{name}, cell {i}: write a deep dive's heading exactly as '## Deep dive: <title>'")
    return problems


def lesson_stats(py_path: Path, places: bool = False) -> Dict[str, Any]:
    """Count what a student reads and does in one notebook and estimate the time, for the core path and the deep
    dives separately (:data:`RATES`).

    The student version is counted: solutions and hidden tests stripped. A deep dive is every cell from a markdown
    heading "Deep dive: ..." up to the next heading of the same or a higher level. Counted: prose words of the
    markdown (a display formula counts as 10 words, an inline formula or code span as one) and of comment lines,
    non-blank non-comment code lines, figures (each ``plt.subplots``/``plt.figure``, each drawing helper of
    ``course_lib`` not drawn into an existing ``ax=``, each explorer, each markdown image), tables (each
    ``show_table``/``format_table`` call and each markdown table) and graded exercises (timed by the length of
    their reference solution). Not counted: the "Estimated time" paragraph itself, the further-reading list, the
    time the machine takes (listed beside it), the set-up cell (the same in every lesson; 00 explains it) and the
    ungraded "More to try" exercises' work (their text is).

    With ``places``, ``out["places"]`` lists each aside and long sentence of the prose as (part, cell index, kind,
    text) (``make stats ARGS="--places 07"``)."""
    nb = notebook_from_source(Path(py_path))
    parts = {"core": _empty_counts(), "deep": _empty_counts()}
    deep_level = skip_level = None
    deep_titles, found = [], []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            m = HEADING_RE.search(cell.source)
            if m:   # the cell's first heading decides where it belongs
                level = len(m.group(1))
                if deep_level is not None and level <= deep_level:
                    deep_level = None
                if skip_level is not None and level <= skip_level:
                    skip_level = None
                d = DEEP_DIVE_RE.match(m.group(0))
                if d:
                    deep_level = level
                    deep_titles.append(d.group(2).strip())
                if NOT_COUNTED_RE.match(m.group(2).lstrip("0123456789. ")):
                    skip_level = level
        if skip_level is not None:
            continue
        part = "deep" if deep_level is not None else "core"
        c = parts[part]
        if cell.cell_type == "markdown":
            text = ESTIMATE_RE.sub(" ", cell.source)
            c["words"] += _prose_words(text)
            style = prose_style(text, places=places)
            for k in ("asides", "sentences", "long_sentences", "prose_words"):
                c[k] += style[k]
            if places:
                found += [(part, index, "aside", t) for t in style["aside_texts"]]
                found += [(part, index, "long sentence", t) for t in style["long_texts"]]
            c["figures"] += len(re.findall(r"!\[[^\]]*\]\(", text))
            c["tables"] += len(re.findall(r"(?:^\|.*\|\s*\n)+", text + "\n", flags=re.M))
            continue
        if cell.cell_type != "code" or "setup" in cell.metadata.get("tags", []):
            continue   # the set-up cell is the same boilerplate in every lesson (00 explains it once)
        sol = _solution_lines(cell.source)
        if sol or _has(cell.source, BEGIN):
            c["exercises"] += 1
            c["solution_lines"] += sol
            c["exercise_min"] += _exercise_minutes(sol)
        student, _ = strip_solutions(cell.source)
        student, _ = strip_hidden_tests(student)
        for line in student.split("\n"):
            s = line.strip()
            if not s:
                continue
            if s.startswith("#"):
                c["words"] += len(WORD_RE.findall(s.lstrip("#")))
                continue
            c["code_lines"] += 1
            if s.startswith(("def ", "class ")):
                continue
            c["figures"] += s.count("plt.subplots(") + s.count("plt.figure(") + len(re.findall(r"\bexplorer\(", s))
            c["figures"] += sum(1 for fm in FIGURE_CALL_RE.finditer(s) if "ax=" not in s[fm.end():])
            c["tables"] += len(re.findall(r"\b(show_table|format_table)\(", s))
    out = {"notebook": Path(py_path).stem, "deep_dives": deep_titles}
    if places:
        out["places"] = found
    for key, c in parts.items():
        out[key] = {k: (round(v, 1) if isinstance(v, float) else v) for k, v in c.items()}
        out[key]["minutes"] = round(_minutes(c), 1)
    return out


def course_stats(root: Path = NOTEBOOKS) -> List[Dict[str, Any]]:
    return [lesson_stats(py) for py in notebook_sources(root)]


MACHINE_TIMES = NOTEBOOKS / "machine_times.json"


def machine_times(path: Path = MACHINE_TIMES) -> Dict[str, Dict[str, Any]]:
    """Measured and estimated machine times per notebook (``notebooks/machine_times.json``): ``quick_seconds``
    (measured under nbval in a clean-clone ``make test`` on 2 CPU cores) and ``t4_train_minutes`` (an estimate from
    training FLOPs, until ``make gpu-report`` measures it), with where each came from."""
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def quick_seconds_from_junit(junit: Path) -> Dict[str, float]:
    """Seconds per notebook from the JUnit XML of an nbval run (``make test-notebooks`` writes
    ``build/nbval-quick.xml``): the sum of its cells' times, by notebook stem. Kernel start-up is not included."""
    import xml.etree.ElementTree as ET

    totals: Dict[str, float] = {}
    for case in ET.parse(str(junit)).getroot().iter("testcase"):
        cls = case.get("classname", "")
        if ".ipynb" not in cls:
            continue
        stem = cls[: cls.index(".ipynb")].rsplit(".", 1)[-1]
        totals[stem] = totals.get(stem, 0.0) + float(case.get("time") or 0.0)
    return totals


def update_machine_times(junit: Path, path: Path = MACHINE_TIMES, source: Optional[str] = None) -> Dict[str, float]:
    """Write each notebook's ``quick_seconds`` from an nbval JUnit file into ``machine_times.json`` (rounded to the
    second), keeping the T4 estimates and the other notebooks' entries; ``source`` replaces the stated source."""
    measured = quick_seconds_from_junit(junit)
    if not measured:
        raise ValueError(f"{junit} holds no notebook cells: give the JUnit XML of an nbval run "
                         "(make test-notebooks writes build/nbval-quick.xml)")
    times = machine_times(path)
    for stem, sec in measured.items():
        times.setdefault(stem, {})["quick_seconds"] = round(sec)
    if source:
        times.setdefault("_sources", {})["quick_seconds"] = source
    ordered = {"_sources": times.pop("_sources", {})}
    ordered.update(sorted(times.items()))
    Path(path).write_text(json.dumps(ordered, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return measured


def _fmt_min(m: float) -> str:
    return f"about {m:.0f} min" if m >= 1 else "under 1 min"


def _machine_phrase(t: Mapping[str, Any]) -> str:
    quick = t.get("quick_seconds")
    run = (f"{_fmt_min(quick / 60) if quick >= 60 else f'about {quick:.0f} s'} under `quick` on 2 CPU cores"
           if quick is not None else "`quick` not yet timed")
    t4 = t.get("t4_train_minutes")
    if t.get("t4_measured"):
        gpu = f"{_fmt_min(t4)} under `standard` on a {t.get('gpu', 'GPU')} (measured)"
    elif t4 is not None:
        gpu = f"{_fmt_min(t4)} of training under `standard` on a T4 (estimated from FLOPs, not yet timed)"
    else:
        gpu = "`standard` not yet estimated"
    return f"{run}; {gpu}"


def estimate_paragraph(stats: Mapping[str, Any], times: Mapping[str, Any]) -> str:
    """The notebook header's "Estimated time" paragraph, written by ``make sync`` from :func:`lesson_stats`."""
    core, deep = stats["core"]["minutes"], stats["deep"]["minutes"]
    text = f"**Estimated time.** Core path about {max(1, round(core))} min"
    if stats["deep_dives"]:
        n = len(stats["deep_dives"])
        text += f"; {'the deep dive' if n == 1 else f'{n} deep dives'} about {max(1, round(deep))} min more"
    text += (" (estimated from this notebook by `make stats`). Machine: "
             + _machine_phrase(times.get(stats["notebook"], {})) + ".")
    return text


def _wrap_md_comment(text: str, width: int = 118) -> List[str]:
    import textwrap

    return ["# " + line for line in textwrap.wrap(text, width=width - 2, break_on_hyphens=False)]


def with_estimate(py_text: str, py_path: Path, times: Optional[Mapping[str, Any]] = None) -> str:
    """``py_text`` with its "Estimated time" paragraph (in the first markdown cell) regenerated."""
    times = machine_times() if times is None else times
    lines = py_text.split("\n")
    start = next((i for i, l in enumerate(lines) if l.startswith("# **Estimated time.**")), None)
    if start is None:
        return py_text
    end = start + 1
    while end < len(lines) and lines[end].startswith("#") and lines[end].strip() != "#" and not lines[end].startswith("# %%"):
        end += 1
    tmp = Path(py_path)
    # the estimate does not count its own paragraph, so counting the current text is exact
    stats = _stats_of_text(py_text, tmp)
    new = _wrap_md_comment(estimate_paragraph(stats, times))
    return "\n".join(lines[:start] + new + lines[end:])


def _stats_of_text(py_text: str, py_path: Path) -> Dict[str, Any]:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d) / Path(py_path).name
        tmp.write_text(py_text, encoding="utf-8")
        for cfg in ("jupytext.toml",):
            src = Path(py_path).parent / cfg
            if src.is_file():
                shutil.copy(src, Path(d) / cfg)
        return lesson_stats(tmp)


def _style(c: Mapping[str, float]) -> str:
    asides = 100 * c["asides"] / max(c["prose_words"], 1)
    long = 100 * c["long_sentences"] / max(c["sentences"], 1)
    return f"{asides:.1f} / {long:.0f}%"


def stats_table(rows: List[Dict[str, Any]], times: Optional[Mapping[str, Any]] = None) -> str:
    """The ``make stats`` table: per lesson the core path and the deep dives, then the course."""
    times = machine_times() if times is None else times
    head = ("| lesson | core min | deep-dive min | core: words / code lines / figures / tables / exercises "
            "(solution lines) | core prose: asides per 100 words / sentences over 40 words | deep dives | quick run |")
    lines = [head, "|---|---|---|---|---|---|---|"]
    for r in rows:
        c = r["core"]
        over = " **over 60**" if c["minutes"] > CORE_BUDGET_MIN else ""
        q = times.get(r["notebook"], {}).get("quick_seconds")
        lines.append(f"| {r['notebook']} | {c['minutes']:.0f}{over} | {r['deep']['minutes']:.0f} | "
                     f"{c['words']} / {c['code_lines']} / {c['figures']} / {c['tables']} / {c['exercises']} "
                     f"({c['solution_lines']}) | {_style(c)} | {len(r['deep_dives'])} | "
                     f"{'-' if q is None else f'{q:.0f} s'} |")
    core = sum(r["core"]["minutes"] for r in rows)
    deep = sum(r["deep"]["minutes"] for r in rows)
    ex = sum(r["core"]["exercises"] + r["deep"]["exercises"] for r in rows)
    sol = sum(r["core"]["solution_lines"] + r["deep"]["solution_lines"] for r in rows)
    total = {k: sum(r["core"][k] for r in rows) for k in ("prose_words", "asides", "sentences", "long_sentences")}
    lines.append(f"| **course** | **{core:.0f}** ({core / 60:.1f} h) | {deep:.0f} ({deep / 60:.1f} h) | "
                 f"graded exercises {ex}, {sol} solution lines | {_style(total)} | "
                 f"{sum(len(r['deep_dives']) for r in rows)} | |")
    r = RATES
    lines += ["", f"Rates: {r['words_per_min']:g} words/min, {r['code_lines_per_min']:g} code lines/min, "
                  f"{r['min_per_figure']:g} min a figure, {r['min_per_table']:g} min a table, an exercise "
                  f"{r['exercise_base_min']:g} + {r['exercise_min_per_line']:g} min per solution line (at most "
                  f"{r['exercise_max_min']:g}). Budgets: {CORE_BUDGET_MIN} min per core path, "
                  f"{COURSE_BUDGET_MIN / 60:g} h for the whole core path."]
    return "\n".join(lines)


README = ROOT / "README.md"
SYLLABUS_BEGIN, SYLLABUS_END = "<!-- syllabus: written by make sync -->", "<!-- end of syllabus -->"
STUDENT_DIR = NOTEBOOKS / "student"


def lesson_title(py_path: Path) -> str:
    """The title after "NN · " in the notebook's first heading."""
    for line in Path(py_path).read_text(encoding="utf-8").split("\n"):
        m = re.match(r"^# # \d\d\s*·\s*(.+)$", line)
        if m:
            return m.group(1).strip()
    return Path(py_path).stem[3:].replace("_", " ")


def syllabus_table(rows: Optional[List[Dict[str, Any]]] = None, times: Optional[Mapping[str, Any]] = None,
                   root: Path = NOTEBOOKS) -> str:
    """The README's syllabus: each lesson (the student version, its Colab badge), the student's estimated time for
    the core path and the deep dives (:func:`lesson_stats`), and the machine times (:func:`machine_times`)."""
    sources = notebook_sources(root)
    rows = course_stats(root) if rows is None else rows
    times = machine_times() if times is None else times
    lines = ["| # | lesson (student version) | core path | deep dives | `quick`, 2 CPU cores | `standard`, T4 training |",
             "|---|---|---|---|---|---|"]
    for py, r in zip(sources, rows):
        t = times.get(py.stem, {})
        q = t.get("quick_seconds")
        t4 = t.get("t4_train_minutes")
        t4s = "-" if t4 is None else (f"{t4:g} min" + ("" if t.get("t4_measured") else " (est.)"))
        deep = f"{r['deep']['minutes']:.0f} min ({len(r['deep_dives'])})" if r["deep_dives"] else "-"
        lines.append(f"| {py.stem[:2]} | [{lesson_title(py)}](notebooks/student/{py.stem}.ipynb) "
                     f"{colab.badge_markdown(py.stem + '.ipynb')} | {r['core']['minutes']:.0f} min | {deep} | "
                     f"{'-' if q is None else f'{q:.0f} s'} | {t4s} |")
    core = sum(r["core"]["minutes"] for r in rows)
    deep = sum(r["deep"]["minutes"] for r in rows)
    lines.append(f"| | **the course** | **{core / 60:.1f} h** | {deep / 60:.1f} h | "
                 f"{sum(times.get(p.stem, {}).get('quick_seconds') or 0 for p in sources) / 60:.0f} min | |")
    return "\n".join(lines)


def readme_with_syllabus(text: str, table: str) -> str:
    if SYLLABUS_BEGIN not in text or SYLLABUS_END not in text:
        return text
    head, rest = text.split(SYLLABUS_BEGIN, 1)
    _, tail = rest.split(SYLLABUS_END, 1)
    return f"{head}{SYLLABUS_BEGIN}\n{table}\n{SYLLABUS_END}{tail}"


# ---------------------------------------------------------------------------------------------- student versions

def _strip_regions(source: str, begin: str, end: str, stub: Optional[str]) -> Tuple[str, int]:
    """Drop each ``begin``/``end`` region, markers included (a marker anywhere in a line counts, as in nbgrader);
    with ``stub``, put it in the region's place at the begin marker's indentation. Returns (source, regions)."""
    out, inside, blocks = [], False, 0
    for line in source.split("\n"):
        if begin[4:] in line:
            if inside:
                raise ValueError(f"nested {begin!r}")
            inside, blocks = True, blocks + 1
            if stub is not None:
                out.append(line[: len(line) - len(line.lstrip())] + stub)
        elif end[4:] in line:
            if not inside:
                raise ValueError(f"{end!r} without {begin!r}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{begin!r} without {end!r}")
    return "\n".join(out), blocks


def marker_regions(source: str, begin: str = BEGIN, end: str = END) -> List[str]:
    """The text inside each ``begin``/``end`` region of a cell (marker lines excluded), e.g. every solution or, with
    :data:`BEGIN_HIDDEN` and :data:`END_HIDDEN`, every hidden test: what a student's copy must never show."""
    out, inside = [], None
    for line in source.split("\n"):
        if begin[4:] in line:
            inside = []
        elif end[4:] in line:
            out.append("\n".join(inside or []))
            inside = None
        elif inside is not None:
            inside.append(line)
    return [r for r in out if r.strip()]


def strip_solutions(source: str) -> Tuple[str, int]:
    """Replace each BEGIN/END SOLUTION region by ``raise NotImplementedError()`` as nbgrader does; (source, regions)."""
    return _strip_regions(source, BEGIN, END, STUB)


def strip_hidden_tests(source: str) -> Tuple[str, int]:
    """Remove each BEGIN/END HIDDEN TESTS region, markers included, as nbgrader does; returns (source, regions)."""
    return _strip_regions(source, BEGIN_HIDDEN, END_HIDDEN, None)


def student_notebook(py_path: Path):
    """The student version of a notebook (solutions and hidden tests stripped); returns (nb, solution regions)."""
    nb = notebook_from_source(py_path)
    total = 0
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source, n = strip_solutions(cell.source)
            cell.source, _ = strip_hidden_tests(cell.source)
            total += n
    return nb, total


def build_student(out: Path, root: Path = NOTEBOOKS) -> List[Tuple[Path, int]]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for py in notebook_sources(root):
        nb, n = student_notebook(py)
        target = out / f"{py.stem}.ipynb"
        target.write_text(ipynb_text(nb), encoding="utf-8")
        made.append((target, n))
    return made


# ------------------------------------------------------------------------------------------ the student's workspace

#: Where ``make lab`` puts a student's own copies of the lessons: git ignores it (.gitignore), so a ``git pull`` of a
#: course update never touches the student's work.
WORKSPACE = ROOT / "workspace"
#: The workspace's record of what it was made from: each lesson's hash and the course version it was copied at.
WORKSPACE_RECORD = ".course-workspace.json"


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _read_record(dest: Path) -> Dict[str, Any]:
    path = Path(dest) / WORKSPACE_RECORD
    if not path.is_file():
        return {"lessons": {}}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {"lessons": {}}
    record.setdefault("lessons", {})
    return record


def _write_record(dest: Path, record: Mapping[str, Any]) -> None:
    path = Path(dest) / WORKSPACE_RECORD
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _copy_lesson(src: Path, target: Path, record: Dict[str, Any]) -> None:
    from . import __version__

    shutil.copyfile(src, target)
    record["lessons"][target.name] = {"sha256": _sha256(src), "course_lib": __version__,
                                      "copied": time.strftime("%Y-%m-%d %H:%M")}


def workspace(dest: Path = WORKSPACE, source: Path = STUDENT_DIR) -> Dict[str, List[str]]:
    """Make or update a student's workspace from the student edition (``notebooks/student/``); never overwrite.

    A lesson that is not in ``dest`` yet is copied (all of them on the first run, later the lessons a course update
    adds). A lesson already there is never touched: the student's work is theirs. Returns the lessons ``copied``,
    ``kept`` (present) and ``updated`` (kept, but the course's student edition changed since the copy was made:
    :func:`refresh_lesson` takes the new one and keeps the student's beside it).
    """
    dest, source = Path(dest), Path(source)
    lessons = sorted(source.glob("[0-9][0-9]_*.ipynb"))
    if not lessons:
        raise FileNotFoundError(f"no student edition in {source}: expected notebooks/student/NN_name.ipynb "
                                f"(`python -m course_lib.build sync` writes it)")
    dest.mkdir(parents=True, exist_ok=True)
    record = _read_record(dest)
    out: Dict[str, List[str]] = {"copied": [], "kept": [], "updated": []}
    for src in lessons:
        target = dest / src.name
        if not target.exists():
            _copy_lesson(src, target, record)
            out["copied"].append(src.name)
            continue
        out["kept"].append(src.name)
        known = record["lessons"].get(src.name, {}).get("sha256")
        if known is not None and known != _sha256(src):
            out["updated"].append(src.name)
    _write_record(dest, record)
    return out


def refresh_lesson(lesson: str, dest: Path = WORKSPACE, source: Path = STUDENT_DIR) -> Tuple[Optional[Path], Path]:
    """Take the course's current version of one lesson into the workspace, keeping the student's copy beside it.

    ``lesson`` is its number (``"04"``) or name (``"04_vqvae"``). The student's copy is renamed to
    ``NN_name.yours-<date>-<time>.ipynb`` (nothing is deleted); returns (that path or None, the new lesson's path).
    """
    dest, source = Path(dest), Path(source)
    key = str(lesson).strip().removesuffix(".ipynb")
    matches = [p for p in sorted(source.glob("[0-9][0-9]_*.ipynb")) if p.stem == key or p.stem[:2] == key]
    if len(matches) != 1:
        names = ", ".join(p.stem for p in sorted(source.glob("[0-9][0-9]_*.ipynb")))
        raise ValueError(f"no single lesson {lesson!r} in the student edition: give its number or name, one of {names}")
    src = matches[0]
    dest.mkdir(parents=True, exist_ok=True)
    record = _read_record(dest)
    target = dest / src.name
    kept = None
    if target.exists():
        stamp = time.strftime("%Y%m%d-%H%M%S")
        kept = dest / f"{src.stem}.yours-{stamp}.ipynb"
        n = 1
        while kept.exists():
            kept, n = dest / f"{src.stem}.yours-{stamp}-{n}.ipynb", n + 1
        os.replace(target, kept)
    _copy_lesson(src, target, record)
    _write_record(dest, record)
    return kept, target


def workspace_report(result: Mapping[str, List[str]], dest: Path = WORKSPACE) -> str:
    """What :func:`workspace` did, in a few lines for the terminal."""
    where = dest.relative_to(ROOT) if Path(dest).resolve().is_relative_to(ROOT) else dest
    lines = []
    if result["copied"]:
        lines.append(f"{where}/: copied {len(result['copied'])} lesson(s) from the student edition: "
                     + ", ".join(n[:2] for n in result["copied"]))
    if result["kept"]:
        lines.append(f"{where}/: kept your {len(result['kept'])} lesson(s) as they are (never overwritten)")
    for name in result["updated"]:
        lines.append(f"  {name}: the course has a newer version. `make refresh LESSON={name[:2]}` takes it and "
                     f"keeps yours beside it as {Path(name).stem}.yours-<date>.ipynb")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------- nbgrader

#: nbgrader's course folder (``nbgrader_config.py`` names the same): source/, release/, submitted/, autograded/,
#: feedback/ and gradebook.db. Outside build/ (``make clean`` deletes build/, never this) and ignored by git.
COURSEWORK = ROOT / "coursework"


def nbgrader_command(*args: str, course: Path, cwd: Path = ROOT, env: Optional[Dict[str, str]] = None,
                     inherit_env: bool = True) -> subprocess.CompletedProcess:
    """Run ``nbgrader <args>`` with the course's nbgrader_config.py (read from ``cwd``) on the course folder.

    ``env`` adds to this process's environment, or (``inherit_env=False``) is the whole environment."""
    bindir = Path(sys.executable).parent  # nbgrader runs `alembic` from the PATH: put this environment's first
    env = dict(os.environ, **(env or {})) if inherit_env else dict(env or {})
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', os.environ.get('PATH', ''))}"
    exe = bindir / "nbgrader"
    cmd = [str(exe) if exe.exists() else "nbgrader", *args, f"--CourseDirectory.root={Path(course).resolve()}"]
    return subprocess.run(cmd, cwd=str(cwd), env=env, capture_output=True, text=True)


def build_assignments(course: Optional[Path] = None, root: Path = NOTEBOOKS,
                      only: Optional[Iterable[str]] = None) -> List[Path]:
    """nbgrader's source folder (one assignment per notebook) and ``nbgrader generate_assignment`` for each.

    Writes ``<course>/source/NN_name/NN_name.ipynb`` (the committed notebook, solutions and hidden tests included)
    and ``<course>/release/NN_name/NN_name.ipynb`` (what students get); returns the release notebooks.
    """
    course = Path(course) if course is not None else COURSEWORK
    released = []
    for py in notebook_sources(root):
        if only and py.stem not in only:
            continue
        problems = marker_problems(notebook_from_source(py), py.name)
        if problems:
            raise ValueError("\n".join(problems))
        src = course / "source" / py.stem
        src.mkdir(parents=True, exist_ok=True)
        (src / f"{py.stem}.ipynb").write_text(ipynb_text(notebook_from_source(py)), encoding="utf-8")
        res = nbgrader_command("generate_assignment", py.stem, "--force", course=course)
        target = course / "release" / py.stem / f"{py.stem}.ipynb"
        if res.returncode != 0 or not target.exists():
            raise RuntimeError(f"nbgrader generate_assignment {py.stem} failed:\n{res.stdout}\n{res.stderr}")
        released.append(target)
    return released


# ------------------------------------------------------------------------------------------------------- releases

VERSION_RE = re.compile(r'^__version__ = "([^"]+)"$', re.M)
RELEASE_RE = re.compile(r'^RELEASE = "(\d[^"]*)"$', re.M)
#: Every place a release's tag appears: Colab badges, the set-up cell's pip spec, Binder badges.
REF_USES_RE = re.compile(r"(?:colab\.research\.google\.com/github/[^/\s]+/[^/\s]+/blob/|git\+https://github\.com/"
                         r"[^@\s\"]+@|mybinder\.org/v2/gh/[^/\s]+/[^/\s]+/)(v[0-9][0-9A-Za-z.+-]*)")


def _git(root: Path, *args: str, check: bool = True) -> str:
    res = subprocess.run(["git", *args], cwd=str(root), capture_output=True, text=True)
    if check and res.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {res.stderr.strip()}")
    return res.stdout


def versions(root: Path = ROOT) -> Tuple[str, str]:
    """(the package's ``__version__``, the ``RELEASE`` the badges point at), read from the files under ``root``."""
    init = (Path(root) / "course_lib" / "__init__.py").read_text(encoding="utf-8")
    colab_py = (Path(root) / "course_lib" / "colab.py").read_text(encoding="utf-8")
    found = VERSION_RE.findall(init), RELEASE_RE.findall(colab_py)
    if len(found[0]) != 1 or len(found[1]) != 1:
        raise ValueError("expected exactly one `__version__ = \"...\"` line in course_lib/__init__.py and one "
                         "`RELEASE = \"...\"` line in course_lib/colab.py")
    return found[0][0], found[1][0]


def set_version(version: str, root: Path = ROOT, release: bool = False) -> None:
    """Write ``version`` as ``__version__`` (and, with ``release``, as colab's ``RELEASE`` too)."""
    from packaging.version import Version

    Version(version)  # raises InvalidVersion for a malformed one
    init = Path(root) / "course_lib" / "__init__.py"
    init.write_text(VERSION_RE.sub(f'__version__ = "{version}"', init.read_text(encoding="utf-8"), count=1),
                    encoding="utf-8")
    if release:
        colab_py = Path(root) / "course_lib" / "colab.py"
        colab_py.write_text(RELEASE_RE.sub(f'RELEASE = "{version}"', colab_py.read_text(encoding="utf-8"), count=1),
                            encoding="utf-8")
        readme = Path(root) / "README.md"  # its Binder badge and pip line (sync writes the syllabus's badges)
        if readme.is_file():
            text = readme.read_text(encoding="utf-8")
            readme.write_text(REF_USES_RE.sub(lambda m: m.group(0)[: m.start(1) - m.start(0)] + f"v{version}", text),
                              encoding="utf-8")


def next_dev_version(version: str) -> str:
    """``0.3.0`` -> ``0.3.1.dev0``: what ``main`` carries after the release."""
    major, minor, patch = (int(p) for p in version.split("."))
    return f"{major}.{minor}.{patch + 1}.dev0"


def ref_problems(root: Path = ROOT, tag: Optional[str] = None) -> List[str]:
    """Badges and set-up cells (README, notebooks, student edition) that name another tag than ``tag`` (default: the
    tag of colab's ``RELEASE``)."""
    root = Path(root)
    tag = tag or f"v{versions(root)[1]}"
    problems = []
    files = [root / "README.md"] + sorted((root / "notebooks").glob("[0-9][0-9]_*.py")) \
        + sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")) + sorted((root / "notebooks" / "student").glob("*.ipynb"))
    for path in files:
        if not path.is_file():
            continue
        refs = set(REF_USES_RE.findall(path.read_text(encoding="utf-8")))
        if refs - {tag}:
            problems.append(f"{path.relative_to(root)} points at {', '.join(sorted(refs - {tag}))}, not {tag} "
                            f"(run `make sync`)")
    return problems


def release_problems(root: Path = ROOT, notebooks: bool = True) -> List[str]:
    """What stops ``make release``: the version, ``RELEASE``, every badge and set-up cell, the CHANGELOG and the git
    state must agree on one release whose tag does not exist yet. Empty list: ready to tag."""
    root = Path(root)
    problems = []
    version, release = versions(root)
    tag = f"v{version}"
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        problems.append(f"course_lib/__init__.py says {version}, not a release: run "
                        f"`make release-prepare VERSION=x.y.z` first")
    if release != version:
        problems.append(f"course_lib/colab.py's RELEASE is {release}, the package is {version}: "
                        f"`make release-prepare VERSION={version}` writes both")
    changelog = root / "CHANGELOG.md"
    if not changelog.is_file() or not re.search(rf"^## \[{re.escape(version)}\] - \d{{4}}-\d{{2}}-\d{{2}}\s*$",
                                                changelog.read_text(encoding="utf-8"), re.M):
        problems.append(f"CHANGELOG.md has no section `## [{version}] - YYYY-MM-DD` (move the Unreleased entries there)")
    problems += ref_problems(root, tag)
    if notebooks and root.resolve() == ROOT.resolve():
        problems += [f"make sync needed: {p}" for p in check()]
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    if status.strip():
        problems.append("the working tree has uncommitted changes: commit them first\n" + status.rstrip())
    if _git(root, "tag", "--list", tag).strip():
        problems.append(f"the tag {tag} exists already")
    return problems


def release(root: Path = ROOT, next_version: Optional[str] = None, notebooks: bool = True) -> List[str]:
    """Tag the release, then move ``main`` to the next development version (a commit); returns what it did.
    Raises RuntimeError with every problem of :func:`release_problems` instead."""
    root = Path(root)
    problems = release_problems(root, notebooks=notebooks)
    if problems:
        raise RuntimeError("not released:\n- " + "\n- ".join(problems))
    version, _ = versions(root)
    nxt = next_version or next_dev_version(version)
    from packaging.version import Version

    if Version(nxt) <= Version(version):
        raise RuntimeError(f"the next version {nxt} must come after {version}")
    _git(root, "tag", "-a", f"v{version}", "-m", f"Release {version}")
    set_version(nxt, root)
    changelog = root / "CHANGELOG.md"
    text = changelog.read_text(encoding="utf-8")
    first = re.search(r"^## \[", text, re.M)
    text = text[:first.start()] + f"## [Unreleased]\n\n" + text[first.start():]
    changelog.write_text(text, encoding="utf-8")
    _git(root, "add", "course_lib/__init__.py", "CHANGELOG.md")
    _git(root, "commit", "-q", "-m", f"Start {nxt} after the {version} release")
    return [f"tagged v{version}", f"main moved to {nxt} (commit)",
            f"next: git push origin HEAD v{version}; then make release-check-remote"]


def remote_tag_problems(root: Path = ROOT, remote: str = "origin") -> List[str]:
    """The released tag must be on the remote the badges name (GitHub), or every badge and set-up cell fails."""
    _, release_version = versions(root)
    tag = f"v{release_version}"
    res = subprocess.run(["git", "ls-remote", "--tags", remote, tag], cwd=str(root), capture_output=True, text=True)
    if res.returncode != 0:
        return [f"git ls-remote {remote} failed: {res.stderr.strip()}"]
    if f"refs/tags/{tag}" not in res.stdout:
        return [f"{remote} has no tag {tag}: the badges and set-up cells point at it (git push {remote} {tag})"]
    return []


# ---------------------------------------------------------------------------------------------- git filter, run

def install_git_filter(root: Path = ROOT) -> str:
    """Set up nbstripout as the git filter named in .gitattributes (outputs never reach a commit)."""
    inside = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=str(root), capture_output=True, text=True)
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        return "not a git checkout: no git filter to set up"
    subprocess.run([sys.executable, "-m", "nbstripout", "--install", "--attributes", ".gitattributes"],
                   cwd=str(root), check=True)
    subprocess.run(["git", "config", "filter.nbstripout.extrakeys", STRIP_EXTRA_KEYS], cwd=str(root), check=True)
    return "nbstripout git filter set up: notebook outputs stay out of commits"


def execute_one(path: Path, out: Path, timeout: int = 1800, extra_cells: Sequence[str] = ()):
    """Execute one notebook (with ``extra_cells`` appended, e.g. the course report's probe) in its own folder and
    write it with outputs to ``out``; returns (notebook, seconds, error or None)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(str(path), as_version=4)
    nb.cells.extend(nbformat.v4.new_code_cell(src) for src in extra_cells)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    t0 = time.monotonic()
    error = None
    try:
        client.execute()
    except CellExecutionError as exc:
        error = str(exc).strip().splitlines()[-1][:300]
    except Exception as exc:  # the kernel died (out of memory), a timeout, ...
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
    seconds = time.monotonic() - t0
    nbformat.write(nb, str(out / path.name))
    return nb, seconds, error


def execute(paths: Iterable[Path], out: Path, timeout: int = 1800) -> List[Tuple[str, float, Optional[str]]]:
    """Execute notebooks headless (current profile) into ``out`` with their outputs; returns (name, seconds, error)."""
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for path in paths:
        nb, seconds, error = execute_one(Path(path), out, timeout)
        results.append((path.name, seconds, error))
        status = "ok" if error is None else f"FAILED: {error}"
        print(f"{path.name:<45} {seconds:7.1f} s  {status}", flush=True)
    return results


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.build", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("sync", help="regenerate each .ipynb from its .py (and the set-up cell/badge from course_lib.colab)")
    p.add_argument("notebooks", nargs="*", type=Path, help="only these notebooks (.py or .ipynb); default: all")
    sub.add_parser("check", help="fail if a notebook pair is out of sync")
    p = sub.add_parser("stats", help="the student's estimated time per lesson: core path and deep dives")
    p.add_argument("--json", action="store_true", help="print the counts as JSON")
    p.add_argument("--places", nargs="*", metavar="LESSON", default=None,
                   help="list the core path's asides and long sentences, with their cell numbers, for these lessons "
                        "(e.g. 07 11; none given: all)")
    p = sub.add_parser("student", help="write student versions with the solutions and hidden tests stripped")
    p.add_argument("--out", type=Path, default=ROOT / "build" / "student")
    p = sub.add_parser("workspace", help="make or update the student's workspace from the student edition (never "
                                         "overwrites a lesson; make lab runs this)")
    p.add_argument("--dest", type=Path, default=WORKSPACE)
    p = sub.add_parser("refresh", help="take the course's current version of a lesson into the workspace, keeping "
                                       "the student's copy beside it")
    p.add_argument("lesson", help="its number or name (04, 04_vqvae), or 'updated' for every lesson the course changed")
    p.add_argument("--dest", type=Path, default=WORKSPACE)
    p = sub.add_parser("assignment", help="nbgrader source and release versions (nbgrader generate_assignment)")
    p.add_argument("--course", type=Path, default=COURSEWORK)
    p.add_argument("notebooks", nargs="*", help="only these (NN_name); default: all")
    p = sub.add_parser("execute", help="execute notebooks with outputs (COURSE_PROFILE decides the sizes)")
    p.add_argument("--out", type=Path, default=ROOT / "build" / "executed")
    p.add_argument("notebooks", nargs="*", type=Path)
    p = sub.add_parser("release-prepare", help="write VERSION as the package version and the release the badges "
                                                "point at, then sync (make release-prepare VERSION=x.y.z)")
    p.add_argument("version")
    sub.add_parser("release-check", help="what stops a release (version, badges, CHANGELOG, git state)")
    p = sub.add_parser("release", help="check, tag v<version>, move main to the next development version")
    p.add_argument("--next", default=None, help="the next development version (default: x.y.(z+1).dev0)")
    p = sub.add_parser("release-check-remote", help="the released tag exists on the remote")
    p.add_argument("--remote", default="origin")
    sub.add_parser("git-filter", help="set up the nbstripout git filter for notebooks (make setup runs this)")
    p = sub.add_parser("machine-times", help="write each notebook's quick seconds into notebooks/machine_times.json "
                                             "from an nbval JUnit file, then run sync")
    p.add_argument("junit", type=Path, nargs="?", default=ROOT / "build" / "nbval-quick.xml")
    p.add_argument("--source", default=None, help="where the times come from (replaces the stated source)")
    args = parser.parse_args(argv)
    if args.cmd == "sync":
        try:
            written = sync(only=args.notebooks)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"synced {len(args.notebooks) or len(notebook_sources())} notebooks; rewrote {len(written)}: "
              + ", ".join(str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else p.name for p in written))
        return 0
    if args.cmd == "stats" and args.places is not None:
        wanted = [w.zfill(2) if w.isdigit() else w for w in args.places]
        for py in notebook_sources():
            if wanted and not any(py.stem.startswith(w) for w in wanted):
                continue
            for part, index, kind, text in lesson_stats(py, places=True)["places"]:
                if part == "core":
                    print(f"{py.stem}, cell {index}: {kind}: {text[:110]}")
        return 0
    if args.cmd == "stats":
        rows = course_stats()
        if args.json:
            print(json.dumps(rows, indent=1))
            return 0
        print(stats_table(rows))
        over = [r["notebook"] for r in rows if r["core"]["minutes"] > CORE_BUDGET_MIN]
        total = sum(r["core"]["minutes"] for r in rows)
        print(f"\n{len(over)} lesson(s) over the {CORE_BUDGET_MIN}-minute core budget{': ' + ', '.join(over) if over else ''}; "
              f"whole core path {total / 60:.1f} h (budget about {COURSE_BUDGET_MIN / 60:g} h)")
        return 0
    if args.cmd == "check":
        problems = check()
        print("\n".join(problems) or "all notebook pairs in sync")
        return 1 if problems else 0
    if args.cmd == "student":
        for target, n in build_student(args.out):
            print(f"{target}  ({n} solution block{'s' if n != 1 else ''} stripped)")
        return 0
    if args.cmd == "workspace":
        try:
            print(workspace_report(workspace(args.dest), args.dest))
        except FileNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.cmd == "refresh":
        try:
            names = workspace(args.dest)["updated"] if args.lesson == "updated" else [args.lesson]
            for name in names:
                kept, new = refresh_lesson(name, args.dest)
                print(f"{new.name}: the course's current version" + (f"; yours is kept as {kept.name}" if kept else ""))
            if not names:
                print("no lesson in the workspace is older than the course's student edition")
        except (ValueError, FileNotFoundError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.cmd == "assignment":
        only = [Path(n).stem for n in args.notebooks] or None
        try:
            released = build_assignments(args.course, only=only)
        except (ValueError, RuntimeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        for target in released:
            print(f"released {target}")
        return 0
    if args.cmd == "release-prepare":
        import importlib

        set_version(args.version, release=True)
        importlib.reload(colab)  # sync writes the badges and set-up cells from colab's constants: the new RELEASE
        written = sync()
        print(f"course_lib {args.version}: RELEASE and __version__ written, {len(written)} files synced. Next: move the "
              f"CHANGELOG.md entries into `## [{args.version}] - {time.strftime('%Y-%m-%d')}`, add ERRATA.md's line, "
              f"commit, then `make release`.")
        return 0
    if args.cmd in ("release-check", "release", "release-check-remote"):
        try:
            if args.cmd == "release":
                print("\n".join(release(next_version=args.next)))
                return 0
            problems = release_problems() if args.cmd == "release-check" else remote_tag_problems(remote=args.remote)
        except (RuntimeError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print("\n".join(f"- {p}" for p in problems) or ("ready to tag" if args.cmd == "release-check"
                                                        else "the release tag is on the remote"))
        return 1 if problems else 0
    if args.cmd == "machine-times":
        if not args.junit.is_file():
            print(f"error: {args.junit} not found: run `make test-notebooks` first (it writes build/nbval-quick.xml)",
                  file=sys.stderr)
            return 1
        measured = update_machine_times(args.junit, source=args.source)
        for stem, sec in sorted(measured.items()):
            print(f"{stem:<40} {sec:6.0f} s")
        print(f"total {sum(measured.values()) / 60:.1f} min; now run sync to write the headers and the README")
        return 0
    if args.cmd == "git-filter":
        print(install_git_filter())
        return 0
    if args.cmd == "execute":
        from .profiles import active_profile

        paths = args.notebooks or [p.with_suffix(".ipynb") for p in notebook_sources()]
        print(f"executing {len(paths)} notebooks under profile {active_profile()!r} into {args.out}")
        t0 = time.monotonic()
        results = execute(paths, args.out)
        failed = [r for r in results if r[2]]
        print(f"total {time.monotonic() - t0:.1f} s; {len(results) - len(failed)} passed, {len(failed)} failed")
        (args.out / "timings.json").write_text(json.dumps([{"notebook": n, "seconds": round(s, 1), "error": e} for n, s, e in results], indent=1))
        return 1 if failed else 0
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
