"""Course tooling: keep notebook pairs in sync, build student versions, execute the course.

    python -m course_lib.build sync [notebooks/NN_x.py] # regenerate notebooks/NN_*.ipynb from their .py
    python -m course_lib.build check                    # fail if any .ipynb is out of date (CI runs this via pytest)
    python -m course_lib.build student --out build/student
    python -m course_lib.build execute --out build/executed [notebooks/03_*.ipynb ...]

``sync`` also rewrites each notebook's set-up cell and "Open in Colab" badge from :mod:`course_lib.colab`, so the
repository address lives in one place. ``student`` replaces every block between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` (nbgrader's markers) with ``raise NotImplementedError()`` at the same indentation.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Iterable, List, Optional, Tuple

from . import colab

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
NAME_RE = re.compile(r"^\d\d_[a-z0-9_]+$")
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
BADGE_RE = re.compile(r"\[!\[Open In Colab\]\(https://colab\.research\.google\.com/assets/colab-badge\.svg\)\]\([^)]*\)")
NB_METADATA = {
    "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}


def notebook_sources(root: Path = NOTEBOOKS) -> List[Path]:
    """The ``NN_name.py`` sources in order."""
    return sorted(p for p in root.glob("[0-9][0-9]_*.py") if NAME_RE.match(p.stem))


def _jupytext():
    try:
        import jupytext
    except ImportError:  # pragma: no cover
        sys.exit("jupytext is not installed: run `make setup` (it installs the dev extra).")
    return jupytext


def canonical_source(py_text: str, ipynb_name: str) -> str:
    """The .py text with the canonical set-up cell and Colab badge."""
    text = BADGE_RE.sub(colab.badge_markdown(ipynb_name).replace("\\", "\\\\"), py_text, count=1)
    pattern = re.compile(r'(# %% tags=\["setup"\]\n)(.*?)(?=\n# %%|\Z)', re.S)
    return pattern.sub(lambda m: m.group(1) + colab.SETUP_CELL_PY + "\n", text, count=1)


def notebook_from_source(py_path: Path):
    """The .ipynb (as an nbformat node) that the .py source defines: no outputs, fixed metadata."""
    jupytext = _jupytext()
    nb = jupytext.reads(py_path.read_text(encoding="utf-8"), fmt="py:percent")
    nb.metadata = copy.deepcopy(NB_METADATA)
    for cell in nb.cells:
        cell.metadata = {k: v for k, v in cell.metadata.items() if k == "tags"}
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.pop("id", None)
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def ipynb_text(nb) -> str:
    import nbformat

    nb = copy.deepcopy(nb)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:03d}"
    return nbformat.writes(nb, version=4) + "\n"


def sync(root: Path = NOTEBOOKS, only: Optional[Iterable[Path]] = None) -> List[Path]:
    """Regenerate the .ipynb of every source (or of ``only``); returns the files rewritten."""
    written = []
    wanted = None if not only else {Path(p).with_suffix(".py").resolve() for p in only}
    for py in notebook_sources(root):
        if wanted is not None and py.resolve() not in wanted:
            continue
        ipynb = py.with_suffix(".ipynb")
        text = py.read_text(encoding="utf-8")
        fixed = canonical_source(text, ipynb.name)
        if fixed != text:
            py.write_text(fixed, encoding="utf-8")
        new = ipynb_text(notebook_from_source(py))
        if not ipynb.exists() or ipynb.read_text(encoding="utf-8") != new:
            ipynb.write_text(new, encoding="utf-8")
            written.append(ipynb)
    return written


def check(root: Path = NOTEBOOKS) -> List[str]:
    """Problems with the notebook pairs (empty list: all in sync)."""
    problems = []
    for py in notebook_sources(root):
        ipynb = py.with_suffix(".ipynb")
        text = py.read_text(encoding="utf-8")
        if canonical_source(text, ipynb.name) != text:
            problems.append(f"{py.name}: set-up cell or Colab badge differs from course_lib.colab (run `make sync`)")
        if not ipynb.exists():
            problems.append(f"{py.name}: no paired {ipynb.name} (run `make sync`)")
        elif ipynb.read_text(encoding="utf-8") != ipynb_text(notebook_from_source(py)):
            problems.append(f"{ipynb.name} is out of date with {py.name} (edit the .py, then run `make sync`)")
    for ipynb in sorted(root.glob("[0-9][0-9]_*.ipynb")):
        if not ipynb.with_suffix(".py").exists():
            problems.append(f"{ipynb.name} has no .py source")
    return problems


def strip_solutions(source: str) -> Tuple[str, int]:
    """Replace each BEGIN/END SOLUTION block by ``raise NotImplementedError()``; returns (source, blocks)."""
    out, inside, blocks = [], False, 0
    for line in source.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if inside:
                raise ValueError(f"nested {BEGIN!r}")
            inside, blocks = True, blocks + 1
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}raise NotImplementedError()\n")
        elif stripped.startswith(END):
            if not inside:
                raise ValueError(f"{END!r} without {BEGIN!r}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN!r} without {END!r}")
    text = "".join(out)
    if source and not source.endswith("\n") and text.endswith("\n"):
        text = text[:-1]
    return text, blocks


def student_notebook(py_path: Path):
    nb = notebook_from_source(py_path)
    total = 0
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source, n = strip_solutions(cell.source)
            total += n
    return nb, total


def build_student(out: Path, root: Path = NOTEBOOKS) -> List[Tuple[Path, int]]:
    out.mkdir(parents=True, exist_ok=True)
    made = []
    for py in notebook_sources(root):
        nb, n = student_notebook(py)
        target = out / f"{py.stem}.ipynb"
        target.write_text(ipynb_text(nb), encoding="utf-8")
        made.append((target, n))
    return made


def execute(paths: Iterable[Path], out: Path, timeout: int = 1800) -> List[Tuple[str, float, Optional[str]]]:
    """Execute notebooks headless (current profile) into ``out`` with their outputs; returns (name, seconds, error)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    out.mkdir(parents=True, exist_ok=True)
    results = []
    for path in paths:
        nb = nbformat.read(str(path), as_version=4)
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
        t0 = time.monotonic()
        error = None
        try:
            client.execute()
        except CellExecutionError as exc:
            error = str(exc).strip().splitlines()[-1][:300]
        seconds = time.monotonic() - t0
        nbformat.write(nb, str(out / path.name))
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
    p = sub.add_parser("student", help="write student versions with the solutions stripped")
    p.add_argument("--out", type=Path, default=ROOT / "build" / "student")
    p = sub.add_parser("execute", help="execute notebooks with outputs (COURSE_PROFILE decides the sizes)")
    p.add_argument("--out", type=Path, default=ROOT / "build" / "executed")
    p.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    if args.cmd == "sync":
        written = sync(only=args.notebooks)
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
