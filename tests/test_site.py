"""The browsable edition (make site), on two small lessons: built from the student edition (no solution, no hidden
test on any page), maths rendered by a MathJax shipped beside the pages (no CDN), a table of contents per page, figures
drawn, and no builder's path, stray `True` or explorer repr in the outputs. The cleaning rules are also tried on
hand-made outputs (a widget, a claim's value, a path)."""
import html
import json
import re
from pathlib import Path

import pytest

from course_lib import build, site

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ["00_setup", "02_vector_quantization"]


def _secret_lines(name):
    """The distinctive lines of every solution and hidden test of a lesson that its student edition does not show
    elsewhere (what no page may show)."""
    nb = build.notebook_from_source(build.NOTEBOOKS / f"{name}.py")
    student, _ = build.student_notebook(build.NOTEBOOKS / f"{name}.py")
    shown = {l.strip() for c in student.cells for l in c.source.split("\n")}
    lines = set()
    for cell in nb.cells:
        for begin, end in ((build.BEGIN, build.END), (build.BEGIN_HIDDEN, build.END_HIDDEN)):
            for region in build.marker_regions(cell.source, begin, end):
                lines |= {l.strip() for l in region.split("\n") if len(l.strip()) > 12 and not l.strip().startswith("#")}
    return lines - shown


def _visible_text(page_html: str) -> str:
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", page_html, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", body))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    pytest.importorskip("nbconvert")
    pytest.importorskip("jupyter_server_mathjax")
    out = tmp_path_factory.mktemp("site")
    mp = pytest.MonkeyPatch()
    for k, v in {"COURSE_PROFILE": "quick", "COURSE_OFFLINE": "1", "COURSE_RUNS": str(out / "site-runs"),
                 "MPLBACKEND": "Agg"}.items():           # site.build_site must still draw inline figures
        mp.setenv(k, v)
    try:
        pages = site.build_site(out, [ROOT / "notebooks" / f"{n}.ipynb" for n in LESSONS])
    finally:
        mp.undo()
    return out, pages


def test_pages_are_the_student_edition_with_figures_and_no_errors(built):
    out, pages = built
    assert [p.stem for p in pages] == LESSONS
    index = (out / "index.html").read_text()
    for page in pages:
        text = page.read_text()
        assert len(re.findall(r'<img[^>]+src="data:image/png;base64', text)) >= 1, f"{page.name} has no figure"
        executed = json.loads((out / "executed" / f"{page.stem}.ipynb").read_text())
        errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
        assert not errors, f"{page.name} shows an error output"
        assert page.name in index and "colab.research.google.com/github/" in text and "index.html" in text
        visible = _visible_text(text)
        secrets = _secret_lines(page.stem)
        assert secrets, f"{page.stem}: expected exercises"
        leaked = [s for s in secrets if s in visible]
        assert not leaked, f"{page.name} shows solution or hidden-test lines: {leaked[:3]}"
        assert "NotImplementedError()" in visible and "BEGIN SOLUTION" not in visible
        assert "Check passed" not in visible, "a passing check's message explains the answer"
        assert "HIDDEN TESTS" not in visible


def test_maths_renders_offline_and_each_page_has_contents(built):
    out, pages = built
    assert (out / "mathjax" / "MathJax.js").is_file() and (out / "mathjax" / "fonts" / "HTML-CSS" / "STIX-Web").is_dir()
    for page in pages:
        text = page.read_text()
        assert f'<script src="{site.MATHJAX_URL}">' in text
        external = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?://[^"]+)"', text)
        assert not external, f"{page.name} loads {external} from the network"
        toc = re.search(r"<nav id='course-toc'>(.*?)</nav>", text, re.S)
        assert toc and toc.group(1).count("<li") >= 3, f"{page.name}: no table of contents"
        for anchor in re.findall(r"href='#([^']+)'", toc.group(1)):
            assert f'id="{html.unescape(anchor)}"' in text, f"{page.name}: contents link #{anchor} leads nowhere"
    assert "$" in (ROOT / "notebooks" / "02_vector_quantization.py").read_text(), "02 has maths to render"


def test_no_builder_path_no_stray_value_no_widget_without_kernel(built):
    out, pages = built
    for page in pages:
        visible = _visible_text(page.read_text())
        for path in (str(ROOT), str(out), str(Path.home())):
            assert path not in visible, f"{page.name} prints the builder's path {path}"
        assert not re.search(r"<explorer of ", visible), f"{page.name} shows an explorer's repr"
        assert "\u2705" not in visible
        assert "colab-badge.svg" not in page.read_text(), "the badge image needs the network: a text link instead"


def test_cleaning_rules_on_hand_made_outputs(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_RUNS", str(tmp_path / "runs"))
    reps = site._path_replacements()
    widget = {"output_type": "display_data", "metadata": {},
              "data": {site.WIDGET_MIME: {"model_id": "x"}, "text/plain": "VBox(children=(HTML(value='<i>Move a control"}}
    assert "Interactive controls" in site._clean_output(widget, None, reps)["data"]["text/html"]
    bar = {"output_type": "display_data", "metadata": {}, "data": {site.WIDGET_MIME: {}, "text/plain": " 10%|#"}}
    assert site._clean_output(bar, None, reps) is None
    value = {"output_type": "execute_result", "metadata": {}, "execution_count": 3, "data": {"text/plain": "True"}}
    assert site._clean_output(value, "claim", reps) is None
    assert site._clean_output(value, "allclose", reps) == value, "a True the cell means to show stays"
    assert site._last_call("x = 1\nclaim(x > 0,\n      'x is positive')") == "claim"
    assert site._last_call("%time y = 2\nverdict(y)") == "verdict" and site._last_call("x = 1") is None
    import platform

    banner = f"course_lib 0.3.0 | profile 'quick' | device cpu | seed 0 | {platform.node()}\n"
    assert platform.node() not in site._scrub(banner, reps)
    line = f"Resuming model from {tmp_path / 'runs' / 'quick' / '11' / 'm.pt'} at step 3 \u2705"
    stream = {"output_type": "stream", "name": "stdout", "text": line}
    assert site._clean_output(stream, None, reps)["text"] == "Resuming model from runs/quick/11/m.pt at step 3 \u2713"


def test_an_explorer_as_the_last_expression_shows_nothing_more():
    pytest.importorskip("IPython")
    from IPython.core.formatters import DisplayFormatter

    from course_lib.explorers import Explorer, Slider

    ex = Explorer(lambda a=1.0: None, {"a": Slider(0.0, 2.0, 1.0)})
    assert DisplayFormatter().format(ex) == ({}, {}), "an Explorer ending a cell would print its repr"
    assert repr(ex).startswith("<explorer of")
