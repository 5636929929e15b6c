"""Plots the notebooks share: image grids, originals next to reconstructions, loss curves, rendered tables."""
from __future__ import annotations

import math
from typing import Any, Iterable, Optional, Sequence, Tuple

import matplotlib.pyplot as plt
import numpy as np
import torch


def _as_images(x: Any, name: str = "x") -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of images (N, C, H, W), got {type(x).__name__}")
    x = x.detach().float().cpu()
    if x.dim() == 3:  # (N, H, W) -> grey
        x = x.unsqueeze(1)
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(
            f"{name} must have shape (N, C, H, W) with C = 1 or 3, got {tuple(x.shape)}"
            + (": channels last? use x.permute(0, 3, 1, 2)" if x.dim() == 4 and x.shape[-1] in (1, 3) else "")
        )
    if x.numel() and (x.min() < -0.05 or x.max() > 1.05):
        raise ValueError(
            f"{name} has values in [{x.min():.2f}, {x.max():.2f}]; the plots expect images in [0, 1]. "
            "Apply torch.sigmoid to logits, or (x + 1) / 2 to images in [-1, 1]."
        )
    return x.clamp(0, 1)


def image_grid(x: Any, nrow: int = 8, padding: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """Images (N, C, H, W) in [0, 1] as one (H', W', 3) array (torchvision's ``make_grid``)."""
    from torchvision.utils import make_grid

    x = _as_images(x)
    grid = make_grid(x, nrow=max(1, min(nrow, len(x))), padding=padding, pad_value=pad_value)
    return grid.permute(1, 2, 0).numpy()


def show_images(
    x: Any,
    nrow: int = 8,
    title: Optional[str] = None,
    ax: Optional[plt.Axes] = None,
    figsize: Optional[Tuple[float, float]] = None,
) -> plt.Axes:
    """Show a grid of images (N, C, H, W) in [0, 1]."""
    grid = image_grid(x, nrow=nrow)
    if ax is None:
        rows = math.ceil(len(x) / max(1, min(nrow, len(x))))
        cols = max(1, min(nrow, len(x)))
        _, ax = plt.subplots(figsize=figsize or (min(1.2 * cols, 12), min(1.2 * rows + 0.4, 10)))
    ax.imshow(grid, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def show_pairs(
    x: Any,
    x_hat: Any,
    n: int = 8,
    titles: Sequence[str] = ("original", "reconstruction"),
    suptitle: Optional[str] = None,
) -> plt.Figure:
    """Originals above their reconstructions (or any rows of images: pass a tuple to ``x_hat``)."""
    rows = [x] + (list(x_hat) if isinstance(x_hat, (list, tuple)) else [x_hat])
    if len(titles) != len(rows):
        raise ValueError(f"give one title per row: {len(rows)} rows, {len(titles)} titles")
    rows = [_as_images(r, "images")[:n] for r in rows]
    fig, axes = plt.subplots(len(rows), 1, figsize=(min(1.3 * n, 13), 1.5 * len(rows) + 0.3))
    axes = np.atleast_1d(axes)
    for ax, r, t in zip(axes, rows, titles):
        show_images(r, nrow=n, title=t, ax=ax)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_history(
    history: Any,
    keys: Optional[Iterable[str]] = None,
    logy: bool = False,
    smooth: int = 1,
    axes: Optional[Sequence[plt.Axes]] = None,
    title: Optional[str] = None,
) -> plt.Figure:
    """One small panel per logged value (gradient norms only when asked for by name)."""
    keys = list(keys) if keys is not None else [k for k in history.keys() if not k.startswith("grad_norm")]
    if not keys:
        raise ValueError("nothing to plot: the history is empty (did the training run any steps?)")
    cols = min(4, len(keys))
    rows = math.ceil(len(keys) / cols)
    if axes is None:
        fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows), squeeze=False)
        axes = list(axes.ravel())
    else:
        axes = list(axes)
        fig = axes[0].figure
    for ax, key in zip(axes, keys):
        steps, values = np.asarray(history.steps_for(key)), np.asarray(history[key], dtype=float)
        if smooth > 1 and len(values) >= smooth:
            values = np.convolve(values, np.ones(smooth) / smooth, mode="valid")
            steps = steps[smooth - 1 :]
        ax.plot(steps, values)
        ax.set_title(key)
        ax.set_xlabel("step")
        if logy and np.all(values > 0):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------------------------
# Rendered tables
# ----------------------------------------------------------------------------------------------------------------
def _format_cell(value: Any, floatfmt: Optional[str]) -> str:
    """One cell as text: floats with ``floatfmt``, ints with thousands separators, tensors/NumPy scalars unwrapped."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return format(value, floatfmt) if floatfmt else repr(value)
    return str(value)


class Table:
    """A table of formatted cells that renders as HTML in Jupyter and as aligned plain text elsewhere.

    Build it with :func:`show_table` (which also displays it) or directly with the same arguments. ``str(table)``
    and ``repr(table)`` give the plain text (what a log, nbval or a terminal sees); ``table.html()`` the HTML.
    """

    def __init__(
        self,
        rows: Iterable[Any],
        headers: Optional[Sequence[str]] = None,
        *,
        title: Optional[str] = None,
        floatfmt: Any = ".4g",
        align: Optional[Sequence[str]] = None,
        cell_style: Optional[Any] = None,
        escape: bool = True,
    ):
        rows = list(rows)
        if rows and isinstance(rows[0], dict):
            if headers is None:
                headers = list(rows[0].keys())
            rows = [[r.get(h) for h in headers] for r in rows]
        rows = [list(r) for r in rows]
        n_cols = len(headers) if headers is not None else (max(len(r) for r in rows) if rows else 0)
        for i, r in enumerate(rows):
            if len(r) != n_cols:
                raise ValueError(f"show_table: row {i} has {len(r)} cells but the table has {n_cols} columns "
                                 f"({'headers ' + str(list(headers)) if headers is not None else 'from row 0'}).")
        fmts = list(floatfmt) if isinstance(floatfmt, (list, tuple)) else [floatfmt] * n_cols
        if len(fmts) != n_cols:
            raise ValueError(f"show_table: floatfmt has {len(fmts)} entries for {n_cols} columns.")
        self.headers = None if headers is None else [str(h) for h in headers]
        self.values = rows
        self.cells = [[_format_cell(v, fmts[j]) for j, v in enumerate(r)] for r in rows]
        if align is None:   # numbers right, text left
            align = ["r" if rows and all(isinstance(r[j], (int, float, np.number)) or
                                         (isinstance(r[j], torch.Tensor) and r[j].numel() == 1)
                                         for r in rows) else "l" for j in range(n_cols)]
        if len(align) != n_cols or any(a not in ("l", "r", "c") for a in align):
            raise ValueError(f"show_table: align must give one of 'l', 'r', 'c' per column ({n_cols}), got {align!r}.")
        self.align = list(align)
        self.title = title
        self.cell_style = cell_style
        self.escape = escape

    # -- renderings ----------------------------------------------------------------------------------------------
    def text(self) -> str:
        """Aligned plain text: a header line, a rule, one line per row."""
        table = ([self.headers] if self.headers else []) + self.cells
        if not table:
            return self.title or ""
        widths = [max(len(r[j]) for r in table) for j in range(len(table[0]))]
        just = {"l": str.ljust, "r": str.rjust, "c": str.center}

        def line(r):
            return " | ".join(just[a](c, w) for c, w, a in zip(r, widths, self.align)).rstrip()

        out = [self.title] if self.title else []
        if self.headers:
            out += [line(self.headers), "-+-".join("-" * w for w in widths)]
        out += [line(r) for r in self.cells]
        return "\n".join(out)

    def html(self) -> str:
        """An HTML ``<table>`` (cells escaped unless ``escape=False``); ``cell_style(i, j, value)`` may return CSS."""
        import html as _html

        esc = _html.escape if self.escape else (lambda s: s)
        css = {"l": "left", "r": "right", "c": "center"}
        parts = ["<table>"]
        if self.title:
            parts.append(f"<caption style='caption-side:top;text-align:left'><b>{esc(self.title)}</b></caption>")
        if self.headers:
            parts.append("<thead><tr>" + "".join(f"<th style='text-align:{css[a]}'>{esc(h)}</th>"
                                                  for h, a in zip(self.headers, self.align)) + "</tr></thead>")
        parts.append("<tbody>")
        for i, (r, vals) in enumerate(zip(self.cells, self.values)):
            tds = []
            for j, (c, a) in enumerate(zip(r, self.align)):
                extra = self.cell_style(i, j, vals[j]) if self.cell_style else None
                # numbers never break across lines; a wide table scrolls sideways in the HTML edition (course_lib.site)
                style = f"text-align:{css[a]}" + (";white-space:nowrap" if a == "r" else "") + (f";{extra}" if extra else "")
                tds.append(f"<td style='{style}'>{esc(c)}</td>")
            parts.append("<tr>" + "".join(tds) + "</tr>")
        parts.append("</tbody></table>")
        return "".join(parts)

    def markdown(self) -> str:
        """A GitHub-flavoured Markdown table (for README files and reports)."""
        rule = {"l": ":--", "r": "--:", "c": ":-:"}
        heads = self.headers or [""] * len(self.align)
        out = ["| " + " | ".join(heads) + " |", "|" + "|".join(rule[a] for a in self.align) + "|"]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in self.cells]
        return ("**" + self.title + "**\n\n" if self.title else "") + "\n".join(out)

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        return self.text()

    __str__ = __repr__


def _in_ipython() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None


def show_table(
    rows: Iterable[Any],
    headers: Optional[Sequence[str]] = None,
    *,
    title: Optional[str] = None,
    floatfmt: Any = ".4g",
    align: Optional[Sequence[str]] = None,
    cell_style: Optional[Any] = None,
    escape: bool = True,
) -> None:
    """Display a table: rendered HTML in Jupyter/Colab, aligned plain text elsewhere (a script, a terminal, a log).

    rows: a list of rows (each a sequence of cells, one per header) or a list of dicts (keys are the headers when
          ``headers`` is None). Cells may be str, int, float, NumPy or 1-element torch scalars, or None (empty).
    headers: column names. title: a caption above the table.
    floatfmt: a format spec for float cells (``".3f"``, ``".2e"``), or one per column (None = ``repr``).
    align: one of ``"l"``, ``"r"``, ``"c"`` per column (default: numbers right, text left).
    cell_style: optional ``f(row_index, column_index, value) -> CSS string or None``, e.g. a background colour for a
          verdict (HTML only; the text keeps the values).
    escape: HTML-escape the cells (default). Pass False to put your own markup (links, <b>) in cells.

    Returns None (so a cell ending in ``show_table(...)`` shows the table once); build a :class:`Table` with the
    same arguments to get its ``text()``, ``html()`` or ``markdown()`` without displaying it. Inside IPython the
    displayed output carries both the HTML and the plain text (``text/plain``), so logs and nbval see the text.
    """
    table = Table(rows, headers, title=title, floatfmt=floatfmt, align=align, cell_style=cell_style, escape=escape)
    if _in_ipython():
        from IPython.display import display

        display(table)
    else:
        print(table.text())
