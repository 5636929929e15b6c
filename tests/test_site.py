"""The browsable edition (make site): two notebooks executed under quick and rendered with their figures."""
import json
import re
from pathlib import Path

from course_lib import site

ROOT = Path(__file__).resolve().parent.parent


def test_syllabus_rows_come_from_the_readme():
    rows = site.syllabus_rows()
    assert [r["number"] for r in rows][:3] == ["00", "01", "02"]
    assert all(r["title"] and "colab" not in r["title"].lower() for r in rows)


def test_site_pages_have_figures_and_no_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setenv("COURSE_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MPLBACKEND", "Agg")          # site.build_site must still draw inline figures
    notebooks = [ROOT / "notebooks" / "00_setup.ipynb", ROOT / "notebooks" / "02_vector_quantization.ipynb"]
    pages = site.build_site(tmp_path / "site", notebooks)
    index = (tmp_path / "site" / "index.html").read_text()
    for page in pages:
        text = page.read_text()
        assert len(re.findall(r'<img[^>]+src="data:image/png;base64', text)) >= 1, f"{page.name} has no figure"
        executed = json.loads((tmp_path / "site" / "executed" / f"{page.stem}.ipynb").read_text())
        errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
        assert not errors, f"{page.name} shows an error output"
        assert "index.html" in text and "colab.research.google.com/github/" in text
        assert page.name in index
