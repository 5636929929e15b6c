"""The browsable edition: every notebook executed under ``quick``, as static HTML with its figures, and an index page
that is the syllabus (``make site``; open ``build/site/index.html``).

    python -m course_lib.site --out build/site                      # execute every notebook, then render
    python -m course_lib.site --out build/site --executed DIR       # render notebooks already executed into DIR

Each page starts with a bar linking back to the index and to the notebook's "Open in Colab" badge. The renderer is
nbconvert's own HTML exporter (the one JupyterLab's "Export as HTML" uses).
"""
from __future__ import annotations

import argparse
import html
import os
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from . import colab

ROOT = Path(__file__).resolve().parent.parent
NAV = ('<div style="font-family:sans-serif;padding:8px 12px;background:#f3f6fa;border-bottom:1px solid #d0d7de">'
       '<a href="index.html">&larr; From VAE to VQ-GAN: all lessons</a> &nbsp;|&nbsp; {title} &nbsp;|&nbsp; '
       '<a href="{colab}"><img alt="Open In Colab" style="vertical-align:middle" '
       'src="https://colab.research.google.com/assets/colab-badge.svg"></a> &nbsp;'
       '<span style="color:#666">(executed under the <code>quick</code> profile on a CPU)</span></div>')


def syllabus_rows(readme: Path = ROOT / "README.md") -> List[Dict[str, str]]:
    """The syllabus table of the README: one dict per notebook (number, title, what it teaches, quick time)."""
    text = readme.read_text(encoding="utf-8")
    section = text.split("## Syllabus", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"\d\d", cells[0]):
            title = re.sub(r"\[!\[Open In Colab\].*?\)\]\(.*?\)", "", cells[1])
            title = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", title).strip()
            rows.append({"number": cells[0], "title": title, "teaches": cells[2],
                         "quick": cells[3] if len(cells) > 3 else ""})
    return rows


def render_notebook(executed: Path, out: Path) -> Path:
    """One executed notebook -> ``out/<name>.html`` with the navigation bar."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(executed), as_version=4)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    title = executed.stem.replace("_", " ")
    nav = NAV.format(title=html.escape(title), colab=colab.colab_url(executed.name))
    body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + nav, body, count=1)
    target = out / f"{executed.stem}.html"
    target.write_text(body, encoding="utf-8")
    return target


def render_index(pages: Sequence[Path], out: Path) -> Path:
    rows = {r["number"]: r for r in syllabus_rows()}
    items = []
    for page in sorted(pages):
        num = page.stem[:2]
        r = rows.get(num, {"title": page.stem[3:].replace("_", " "), "teaches": "", "quick": ""})
        badge = (f'<a href="{colab.colab_url(page.stem + ".ipynb")}"><img alt="Open In Colab" '
                 f'src="https://colab.research.google.com/assets/colab-badge.svg"></a>')
        items.append(f"<tr><td>{num}</td><td><a href='{page.name}'>{html.escape(r['title'])}</a></td>"
                     f"<td>{html.escape(r['teaches'])}</td><td>{html.escape(r['quick'])}</td><td>{badge}</td></tr>")
    doc = ("<!doctype html><html><head><meta charset='utf-8'><title>From VAE to VQ-GAN</title>"
           "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
           "td,th{border-bottom:1px solid #ddd;padding:6px;vertical-align:top}table{border-collapse:collapse}</style>"
           "</head><body><h1>From VAE to VQ-GAN</h1><p>An open PyTorch course on discrete latent generative models. "
           "Each lesson below was executed under the <code>quick</code> profile on a CPU; open it in Colab for a GPU "
           "run under <code>standard</code>.</p><table><tr><th>#</th><th>lesson</th><th>what it teaches and "
           "measures</th><th>quick on 2 CPU cores</th><th></th></tr>" + "".join(items) + "</table></body></html>")
    target = out / "index.html"
    target.write_text(doc, encoding="utf-8")
    return target


def build_site(out: Path, notebooks: Optional[Sequence[Path]] = None, executed_dir: Optional[Path] = None) -> List[Path]:
    """Execute (unless ``executed_dir`` holds them already) and render; returns the pages written."""
    from .build import execute

    out.mkdir(parents=True, exist_ok=True)
    paths = [Path(p) for p in (notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))]
    if executed_dir is None:
        executed_dir = out / "executed"
        # The kernel must draw inline figures: a non-interactive MPLBACKEND (Agg, set by headless test runs) would
        # leave every page without its plots.
        saved = os.environ.pop("MPLBACKEND", None)
        try:
            results = execute(paths, executed_dir)
        finally:
            if saved is not None:
                os.environ["MPLBACKEND"] = saved
        failed = [name for name, _, err in results if err]
        if failed:
            raise RuntimeError(f"these notebooks failed to execute, so the site would show errors: {failed}")
    pages = [render_notebook(executed_dir / p.name, out) for p in paths]
    render_index(pages, out)
    return pages


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m course_lib.site", description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "site")
    ap.add_argument("--executed", type=Path, default=None, help="folder of already executed notebooks")
    args = ap.parse_args(argv)
    pages = build_site(args.out, args.notebooks or None, args.executed)
    print(f"wrote {len(pages)} pages and {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
