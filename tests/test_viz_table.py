"""course_lib.viz.show_table / Table: rendered HTML in IPython, aligned plain text elsewhere."""
import numpy as np
import pytest
import torch

from course_lib.viz import Table, show_table


ROWS = [["VQ-VAE", 0.012345, 1200, "ok"], ["VQ-GAN", np.float32(0.5), 34, "<b>x</b>"]]
HEADS = ["model", "MSE", "params", "note"]


def test_text_aligns_columns_and_formats_numbers():
    t = Table(ROWS, HEADS, floatfmt=".3f")
    lines = t.text().splitlines()
    assert lines[0].split(" | ")[0].strip() == "model" and set(lines[1]) <= {"-", "+"}
    assert "0.012" in lines[2] and "1,200" in lines[2] and "0.500" in lines[3]
    # numeric columns are right-aligned, so the "|" separators line up on every line
    bars = [[i for i, ch in enumerate(l) if ch == "|"] for l in (lines[0], lines[2], lines[3])]
    assert bars[0][:3] == bars[1][:3] == bars[2][:3]
    assert t.align == ["l", "r", "r", "l"]


def test_html_escapes_and_styles_cells():
    t = Table(ROWS, HEADS, title="results", cell_style=lambda i, j, v: "background:red" if v == "ok" else None)
    h = t.html()
    assert h.startswith("<table>") and "<caption" in h and "results" in h
    assert "&lt;b&gt;x&lt;/b&gt;" in h and "<b>x</b>" not in h.replace("<b>results</b>", "")
    assert h.count("background:red") == 1
    assert h.count("<tr>") == 3                                    # header + 2 rows
    assert "<b>x</b>" in Table(ROWS, HEADS, escape=False).html()


def test_dict_rows_tensor_and_none_cells_and_markdown():
    t = Table([{"a": torch.tensor(2.5), "b": None}, {"a": 1.0, "b": "y|z"}], floatfmt=".1f")
    assert t.headers == ["a", "b"] and t.cells[0] == ["2.5", ""]
    md = t.markdown().splitlines()
    assert md[0] == "| a | b |" and md[1] == "|--:|:--|" and "y\\|z" in md[3]


def test_bad_shapes_raise_clear_errors():
    with pytest.raises(ValueError, match="row 1 has 2 cells"):
        Table([[1, 2, 3], [1, 2]], ["a", "b", "c"])
    with pytest.raises(ValueError, match="align"):
        Table([[1]], ["a"], align=["x"])
    with pytest.raises(ValueError, match="floatfmt"):
        Table([[1.0, 2.0]], ["a", "b"], floatfmt=[".1f"])


def test_show_table_prints_text_outside_ipython(capsys):
    assert show_table(ROWS, HEADS, title="T") is None
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "T" and "VQ-GAN" in out and "<table>" not in out


def test_show_table_displays_html_and_text_in_ipython(monkeypatch):
    import IPython
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    show_table(ROWS, HEADS)
    assert len(shown) == 1
    assert shown[0]._repr_html_().startswith("<table>") and "VQ-VAE" in repr(shown[0])
