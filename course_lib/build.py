"""Course tooling: keep notebook pairs in sync, build student and nbgrader versions, execute the course.

    python -m course_lib.build sync [notebooks/NN_x.py] # regenerate notebooks/NN_*.ipynb (and tidy the .py)
    python -m course_lib.build check                    # fail if a pair is out of date (CI runs this via pytest)
    python -m course_lib.build student --out build/student
    python -m course_lib.build assignment               # nbgrader source + release versions in build/nbgrader/
    python -m course_lib.build execute --out build/executed [notebooks/03_*.ipynb ...]
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
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

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
    """Regenerate the .ipynb of every source (or of ``only``), tidying the .py; returns the files rewritten.

    Raises ValueError (naming notebook, cell and line) when a line would break nbgrader.
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
        problems += marker_problems(nb, py.name)
        new = ipynb_text(nb)
        if not ipynb.exists() or ipynb.read_text(encoding="utf-8") != new:
            ipynb.write_text(new, encoding="utf-8")
            written.append(ipynb)
    if problems:
        raise ValueError("lines that break nbgrader:\n" + "\n".join(problems))
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
        problems += marker_problems(nb, py.name)
        if not ipynb.exists():
            problems.append(f"{py.name}: no paired {ipynb.name} (run `make sync`)")
        elif strip_outputs(ipynb.read_text(encoding="utf-8")) != ipynb_text(nb):
            problems.append(f"{ipynb.name} is out of date with {py.name} (edit the .py, then run `make sync`)")
    for ipynb in sorted(Path(root).glob("[0-9][0-9]_*.ipynb")):
        if not ipynb.with_suffix(".py").exists():
            problems.append(f"{ipynb.name} has no .py source")
    return problems


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


# ------------------------------------------------------------------------------------------------------- nbgrader

def nbgrader_command(*args: str, course: Path, cwd: Path = ROOT, env: Optional[Dict[str, str]] = None
                     ) -> subprocess.CompletedProcess:
    """Run ``nbgrader <args>`` with the course's nbgrader_config.py (read from ``cwd``) on the course folder."""
    bindir = Path(sys.executable).parent  # nbgrader runs `alembic` from the PATH: put this environment's first
    env = dict(os.environ, **(env or {}), PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    exe = bindir / "nbgrader"
    cmd = [str(exe) if exe.exists() else "nbgrader", *args, f"--CourseDirectory.root={Path(course).resolve()}"]
    return subprocess.run(cmd, cwd=str(cwd), env=env, capture_output=True, text=True)


def build_assignments(course: Path = ROOT / "build" / "nbgrader", root: Path = NOTEBOOKS,
                      only: Optional[Iterable[str]] = None) -> List[Path]:
    """nbgrader's source folder (one assignment per notebook) and ``nbgrader generate_assignment`` for each.

    Writes ``<course>/source/NN_name/NN_name.ipynb`` (the committed notebook, solutions and hidden tests included)
    and ``<course>/release/NN_name/NN_name.ipynb`` (what students get); returns the release notebooks.
    """
    course = Path(course)
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
    p = sub.add_parser("student", help="write student versions with the solutions and hidden tests stripped")
    p.add_argument("--out", type=Path, default=ROOT / "build" / "student")
    p = sub.add_parser("assignment", help="nbgrader source and release versions (nbgrader generate_assignment)")
    p.add_argument("--course", type=Path, default=ROOT / "build" / "nbgrader")
    p.add_argument("notebooks", nargs="*", help="only these (NN_name); default: all")
    p = sub.add_parser("execute", help="execute notebooks with outputs (COURSE_PROFILE decides the sizes)")
    p.add_argument("--out", type=Path, default=ROOT / "build" / "executed")
    p.add_argument("notebooks", nargs="*", type=Path)
    sub.add_parser("git-filter", help="set up the nbstripout git filter for notebooks (make setup runs this)")
    args = parser.parse_args(argv)
    if args.cmd == "sync":
        try:
            written = sync(only=args.notebooks)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"synced {len(args.notebooks) or len(notebook_sources())} notebooks; rewrote {len(written)}: " + ", ".join(p.name for p in written))
        return 0
    if args.cmd == "check":
        problems = check()
        print("\n".join(problems) or "all notebook pairs in sync")
        return 1 if problems else 0
    if args.cmd == "student":
        for target, n in build_student(args.out):
            print(f"{target}  ({n} solution block{'s' if n != 1 else ''} stripped)")
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
