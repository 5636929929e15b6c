"""The browsable edition (``make site``; open ``build/site/index.html``): every lesson executed under ``quick``, as
static HTML with its figures, a table of contents on each page and maths that renders with no network, and an index
page that is the syllabus.

    python -m course_lib.site --out build/site                      # execute every lesson, then render
    python -m course_lib.site --out build/site notebooks/02_*.ipynb # only these lessons (sources or student copies)

What a page shows is the **student edition** (``notebooks/student/``): every exercise as students get it (the stub
``raise NotImplementedError()``) and no hidden test anywhere. The outputs come from a run of the same notebook with
the reference solutions in place and the hidden tests removed, so every figure and check below an exercise is drawn
(the page says so once, and under each exercise); a check cell's verdict is left out, since a check that passes
explains the answer. Before rendering, each page is cleaned for a reader who has no
kernel: no absolute path of the machine that built it, no stray ``True`` under a ``claim(...)``, a one-line note
where an interactive explorer's controls would be (its default figure stays above), no progress-bar widgets.

MathJax 2.7 comes from the ``jupyter-server-mathjax`` package (the ``site`` extra) and is copied beside the pages
(``build/site/mathjax/``), so formulas render offline. The renderer is nbconvert's HTML exporter (the one
JupyterLab's "Export as HTML" uses).
"""
from __future__ import annotations

import argparse
import ast
import copy
import html
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from . import colab
from .build import nb_text
from .env import temporary_environ

ROOT = Path(__file__).resolve().parent.parent
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
#: MathJax as the site loads it: shipped beside the pages (STIX-Web fonts, the only web fonts the package carries).
MATHJAX_URL = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
MATHJAX_FONTS = ('<script type="text/x-mathjax-config">MathJax.Hub.Config({"HTML-CSS": {availableFonts: [], '
                 'preferredFont: null, webFont: "STIX-Web", imageFont: null}});</script>')
EXPLORER_NOTE = ("<p class='course-static-note'><i>Interactive controls belong here: run this lesson in Jupyter or "
                 "Colab to move them. The figure above shows the default values.</i></p>")
EXERCISE_NOTE = ("*Exercise: in the notebook, your solution replaces the line `raise NotImplementedError()` above, "
                 "and the check below says whether it is right. On this page the later outputs come from a run with "
                 "the reference solution.*")
#: What a check cell shows on a page: its verdict on the reference solution would name the answer.
CHECK_NOTE = ("<p class='course-static-note'><i>The check's verdict appears here when you run it on your "
              "solution.</i></p>")
CSS = """
<style>
 body { margin: 0; }
 #course-nav { font-family: sans-serif; padding: 8px 12px; background: #f3f6fa; border-bottom: 1px solid #d0d7de;
               position: sticky; top: 0; z-index: 10; }
 #course-toc { font-family: sans-serif; font-size: 14px; padding: 8px 16px; border-bottom: 1px solid #d0d7de; }
 #course-toc ul { margin: 4px 0; padding-left: 18px; } #course-toc li.toc-h3 { margin-left: 16px; font-size: 13px; }
 @media (min-width: 1500px) {
   #course-toc { position: fixed; top: 48px; left: 0; width: 280px; bottom: 0; overflow-y: auto;
                 border-right: 1px solid #d0d7de; border-bottom: none; background: #fbfcfd; }
   main, body > .jp-Notebook { margin-left: 300px !important; }
 }
 .jp-OutputArea-output pre { white-space: pre; overflow-x: auto; }
 .jp-RenderedHTMLCommon table { display: block; max-width: 100%; overflow-x: auto; }
 .course-static-note { color: #555; font-size: 90%; }
</style>
"""
NAV = ('<div id="course-nav"><a href="index.html">&larr; From VAE to VQ-GAN: all lessons</a> &nbsp;|&nbsp; {title}'
       ' &nbsp;|&nbsp; <a href="{colab}">Open in Colab</a> &nbsp;<span style="color:#666">(student edition, '
       'executed under the <code>quick</code> profile on a CPU; outputs after each exercise come from the reference '
       'solution)</span></div>')


# ------------------------------------------------------------------------------------------------ the notebooks

def run_notebook(py_path: Path):
    """What the site executes: the source notebook with its hidden tests removed (the solutions stay, so that every
    cell after an exercise runs as in a solved notebook)."""
    from .build import notebook_from_source, strip_hidden_tests

    nb = notebook_from_source(py_path)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source, _ = strip_hidden_tests(cell.source)
    return nb


def _last_call(source: str) -> Optional[str]:
    """The name of the function a code cell ends by calling as a bare expression (``claim(...)``), if any."""
    lines = [("pass" if line.lstrip().startswith(("%", "!")) else line) for line in source.split("\n")]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return None
    if tree.body and isinstance(tree.body[-1], ast.Expr) and isinstance(tree.body[-1].value, ast.Call):
        func = tree.body[-1].value.func
        return func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    return None


def _scrub(text: str, replacements: Sequence[tuple]) -> str:
    for old, new in replacements:
        if old:
            text = text.replace(old, new)
    return text.replace("\u2705", "\u2713")  # a plain check mark: the emoji needs a font that many systems lack


def _path_replacements() -> List[tuple]:
    """Absolute paths of the machine that built the site, longest first, and what a reader sees instead."""
    from .env import runs_root

    import platform

    pairs = [(str(runs_root().resolve()), "runs"), (str(ROOT), "."), (str(Path.home()), "~"),
             (tempfile.gettempdir(), "/tmp"), (f" | {platform.node()}\n", " | the machine that built this page\n")]
    return sorted(((a, b) for a, b in pairs if a.strip() not in ("", "/", "|")), key=lambda p: -len(p[0]))


def _clean_output(out: Dict[str, Any], last_call: Optional[str], replacements) -> Optional[Dict[str, Any]]:
    data = out.get("data", {})
    if WIDGET_MIME in data:  # a widget: nothing renders without a kernel
        plain = nb_text(data.get("text/plain", ""))
        if "Move a control" in plain:
            return {"output_type": "display_data", "metadata": {}, "data": {"text/html": EXPLORER_NOTE,
                                                                             "text/plain": "(interactive controls)"}}
        return None  # progress bars and other live widgets
    if out.get("output_type") == "execute_result" and last_call in ("claim", "verdict") \
            and nb_text(data.get("text/plain", "")).strip() in ("True", "False", "None"):
        return None  # the value of a claim() that ends a cell
    out = copy.deepcopy(out)
    if "text" in out:
        out["text"] = _scrub(nb_text(out["text"]), replacements)
    for mime in ("text/plain", "text/html", "text/markdown"):
        if mime in out.get("data", {}):
            value = out["data"][mime]
            out["data"][mime] = _scrub(nb_text(value), replacements)
    return out


def publish_notebook(executed, py_path: Path):
    """The page's notebook: the student edition's cells (no solution, no hidden test) with the executed outputs,
    cleaned for a reader without a kernel; a note after each exercise."""
    import nbformat

    from .build import graded_cells, notebook_from_source, student_notebook

    student, _ = student_notebook(py_path)
    solutions, checks = graded_cells(notebook_from_source(py_path))
    if len(student.cells) != len(executed.cells):
        raise ValueError(f"{py_path.name}: the executed notebook has {len(executed.cells)} cells, the student edition "
                         f"{len(student.cells)}")
    replacements = _path_replacements()
    page = copy.deepcopy(executed)
    page.metadata.pop("widgets", None)  # widget state would pull the widget manager from a CDN, for nothing
    cells = []
    for i, (cell, shown) in enumerate(zip(page.cells, student.cells)):
        cell.source = shown.source
        if cell.cell_type == "markdown":  # the badge image needs the network: a plain link instead
            cell.source = re.sub(r"\[!\[Open In Colab\]\([^)]*\)\]\(([^)]*)\)", r"[Open in Colab](\1)", cell.source)
        if cell.cell_type == "code" and i in checks:  # a passing check explains the answer: not on the page
            cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": CHECK_NOTE,
                                                                         "text/plain": "(the check's verdict)"})]
        elif cell.cell_type == "code":
            last = _last_call(cell.source)
            cell.outputs = [o for o in (_clean_output(o, last, replacements) for o in cell.get("outputs", [])) if o]
        cells.append(cell)
        if i in solutions:
            cells.append(nbformat.v4.new_markdown_cell(EXERCISE_NOTE))
    page.cells = cells
    return page


# --------------------------------------------------------------------------------------------------- the pages

def mathjax_source() -> Path:
    """MathJax 2.7's files, from the ``jupyter-server-mathjax`` package (the ``site`` extra)."""
    try:
        import jupyter_server_mathjax
    except ImportError:
        raise RuntimeError("the site ships MathJax from the jupyter-server-mathjax package, which is missing: "
                           "pip install -e '.[site]' (make site does it)") from None
    static = Path(jupyter_server_mathjax.__file__).parent / "static"
    if not (static / "MathJax.js").is_file():
        raise RuntimeError(f"jupyter-server-mathjax has no static/MathJax.js in {static}")
    return static


def copy_mathjax(out: Path) -> Path:
    target = Path(out) / "mathjax"
    if not (target / "MathJax.js").is_file():
        shutil.copytree(mathjax_source(), target, dirs_exist_ok=True)
    return target


def table_of_contents(body: str) -> List[tuple]:
    """(level, anchor id, text) of each h1-h3 heading that nbconvert rendered with an anchor."""
    toc = []
    for m in re.finditer(r'<h([1-3])\s+id="([^"]+)"[^>]*>(.*?)</h\1>', body, re.S):
        text = re.sub(r"<a class=\"anchor-link\".*?</a>", "", m.group(3), flags=re.S)
        text = html.unescape(re.sub(r"<[^>]+>", "", text)).strip()
        if text:
            toc.append((int(m.group(1)), m.group(2), text))
    return toc


def _toc_html(toc: Sequence[tuple]) -> str:
    items = "".join(f"<li class='toc-h{level}'><a href='#{html.escape(anchor, quote=True)}'>{html.escape(text)}</a></li>"
                    for level, anchor, text in toc if level >= 2)
    return f"<nav id='course-toc'><b>Contents</b><ul>{items}</ul></nav>" if items else ""


def render_page(nb, name: str, out: Path) -> Path:
    """One published notebook -> ``out/<name>.html``: navigation bar, table of contents, offline MathJax."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", mathjax_url=MATHJAX_URL)
    body, _ = exporter.from_notebook_node(nb)
    # nothing from a CDN: require.js is only for widgets, which the page does not carry
    body = re.sub(r'<script src="https://cdnjs\.cloudflare\.com/ajax/libs/require\.js/[^"]*"></script>', "", body)
    body = body.replace(f'<script src="{MATHJAX_URL}">', MATHJAX_FONTS + f'<script src="{MATHJAX_URL}">', 1)
    body = body.replace("</head>", CSS + "</head>", 1)
    nav = NAV.format(title=html.escape(name.replace("_", " ")), colab=colab.colab_url(f"{name}.ipynb"))
    body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + nav + _toc_html(table_of_contents(body)), body, count=1)
    target = Path(out) / f"{name}.html"
    target.write_text(body, encoding="utf-8")
    return target


def render_index(pages: Sequence[Path], out: Path, seconds: Optional[Dict[str, float]] = None) -> Path:
    """The syllabus: each lesson with its student's estimated time (``make stats``) and how long it ran here."""
    from .build import course_stats, lesson_title, notebook_sources

    sources = {p.stem: p for p in notebook_sources()}
    stats = {r["notebook"]: r for r in course_stats()}
    rows = []
    for page in sorted(pages):
        py = sources.get(page.stem)
        title = lesson_title(py) if py else page.stem[3:].replace("_", " ")
        r = stats.get(page.stem)
        core = f"{r['core']['minutes']:.0f} min" if r else ""
        deep = f"{r['deep']['minutes']:.0f} min" if r and r["deep_dives"] else "-"
        ran = f"{seconds[page.stem]:.0f} s" if seconds and page.stem in seconds else ""
        rows.append(f"<tr><td>{page.stem[:2]}</td><td><a href='{page.name}'>{html.escape(title)}</a></td>"
                    f"<td>{core}</td><td>{deep}</td><td>{ran}</td>"
                    f"<td><a href='{colab.colab_url(page.stem + '.ipynb')}'>Open in Colab</a></td></tr>")
    links = " &middot; ".join(f"<a href='{colab.REPO_URL}/blob/main/{f}'>{f}</a>"
                              for f in ("README.md", "CHANGELOG.md", "ERRATA.md", "LICENSE"))
    doc = ("<!doctype html><html><head><meta charset='utf-8'><title>From VAE to VQ-GAN</title>"
           "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
           "td,th{border-bottom:1px solid #ddd;padding:6px;vertical-align:top;text-align:left}"
           "table{border-collapse:collapse}</style></head><body><h1>From VAE to VQ-GAN</h1>"
           "<p>An open PyTorch course on discrete latent generative models. Each page is the lesson's student edition "
           "(exercises unsolved, no hidden tests), executed under the <code>quick</code> profile on a CPU; the outputs "
           "under an exercise come from the reference solution. Open a lesson in Colab for a GPU run under "
           f"<code>standard</code>. Known mistakes: <a href='{colab.ERRATA_URL}'>errata</a>.</p>"
           "<table><tr><th>#</th><th>lesson</th><th>core path (student's estimated time)</th><th>deep dives</th>"
           "<th>ran here</th><th></th></tr>" + "".join(rows) + f"</table><p>{links}</p></body></html>")
    target = Path(out) / "index.html"
    target.write_text(doc, encoding="utf-8")
    return target


def _source_of(path: Path) -> Path:
    """The lesson's .py source for a notebook path given on the command line (a source or a student copy)."""
    py = ROOT / "notebooks" / f"{Path(path).stem}.py"
    if not py.is_file():
        raise FileNotFoundError(f"no lesson source {py.name} for {path}: give notebooks/NN_name.ipynb")
    return py


def build_site(out: Path, notebooks: Optional[Sequence[Path]] = None) -> List[Path]:
    """Execute each lesson (solutions in, hidden tests out), publish its student edition with those outputs, render
    the pages and the index, copy MathJax; returns the pages written."""
    import nbformat

    from .build import execute, notebook_sources

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    copy_mathjax(out)
    sources = [_source_of(p) for p in notebooks] if notebooks else notebook_sources()
    run_dir, executed_dir = out / "run", out / "executed"
    run_dir.mkdir(exist_ok=True)
    for py in sources:
        nbformat.write(run_notebook(py), str(run_dir / f"{py.stem}.ipynb"))
    # The kernel must draw inline figures: a non-interactive MPLBACKEND (Agg, set by headless test runs) would
    # leave every page without its plots.
    with temporary_environ(MPLBACKEND=None):
        results = execute([run_dir / f"{py.stem}.ipynb" for py in sources], executed_dir)
    failed = [name for name, _, err in results if err]
    if failed:
        raise RuntimeError(f"these notebooks failed to execute, so the site would show errors: {failed}")
    pages = []
    for py in sources:
        executed = nbformat.read(str(executed_dir / f"{py.stem}.ipynb"), as_version=4)
        pages.append(render_page(publish_notebook(executed, py), py.stem, out))
    render_index(pages, out, {Path(name).stem: s for name, s, _ in results})
    return pages


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m course_lib.site", description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "site")
    args = ap.parse_args(argv)
    try:
        pages = build_site(args.out, args.notebooks or None)
    except (RuntimeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {len(pages)} pages and {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
