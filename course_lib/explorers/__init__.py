"""Interactive explorers: move a knob, watch what changes.

Every explorer is a plain *draw function* (keyword arguments in, a matplotlib ``Figure`` out), so that it can be
unit-tested, and :func:`explorer` shows it in two ways:

1. It draws the figure once, directly, at the default values. A static reader (GitHub, the course's HTML edition),
   nbval and the nbgrader student build all see this figure; nothing depends on widgets. Where the controls cannot
   run (the HTML edition, a notebook viewer), the page says so in one line under the figure (``course_lib.site``).
2. Where ipywidgets can run (JupyterLab, Colab, ipywidgets 7.x or 8.x), it adds the controls and a live figure
   underneath them that redraws whenever a control moves.

Usage in a notebook::

    from course_lib.explorers import explorer, Slider, IntSlider, Choice, Toggle
    from course_lib.explorers.temperature import draw_temperature

    explorer(draw_temperature, tau=Slider(0.05, 3.0, 1.0, step=0.05, label="temperature τ"),
             seed=IntSlider(0, 9, 0))

Heavy work (a model trained in the notebook) belongs outside the draw function: pass it in with
``functools.partial(draw_fn, model=model)``. A draw function should take well under a second.

``COURSE_WIDGETS=0`` turns the live part off (the default figure is still drawn).

Explorers in this package (one module per topic, each with its own tests in ``tests/``) are listed in each module's
docstring; the notebooks say which lesson uses which.
"""
from __future__ import annotations

import inspect
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Union

__all__ = ["Slider", "IntSlider", "Choice", "Toggle", "Explorer", "explorer", "widgets_available"]


@dataclass
class Slider:
    """A float slider from ``min`` to ``max`` starting at ``value``."""
    min: float
    max: float
    value: float
    step: Optional[float] = None
    label: Optional[str] = None

    def validate(self, name: str) -> None:
        if not (self.min <= self.value <= self.max):
            raise ValueError(f"Control {name!r}: its value {self.value} lies outside [{self.min}, {self.max}]; "
                             "give a value inside the slider's range.")

    def make_widget(self, widgets, name: str):
        step = self.step if self.step is not None else (self.max - self.min) / 100
        return widgets.FloatSlider(value=self.value, min=self.min, max=self.max, step=step,
                                   description=self.label or name, continuous_update=False,
                                   style={"description_width": "initial"})


@dataclass
class IntSlider(Slider):
    """An integer slider from ``min`` to ``max`` starting at ``value``."""
    min: int
    max: int
    value: int
    step: Optional[int] = 1

    def make_widget(self, widgets, name: str):
        return widgets.IntSlider(value=self.value, min=self.min, max=self.max, step=self.step or 1,
                                 description=self.label or name, continuous_update=False,
                                 style={"description_width": "initial"})


@dataclass
class Choice:
    """A drop-down over ``options``: a list of values, or a mapping ``{label: value}`` (values may be None)."""
    options: Union[Sequence[Any], Mapping[str, Any]]
    value: Any = None
    label: Optional[str] = None
    _pairs: list = field(init=False, repr=False, default_factory=list)

    def __post_init__(self) -> None:
        if isinstance(self.options, Mapping):
            self._pairs = [(str(k), v) for k, v in self.options.items()]
        else:
            self._pairs = [(str(v), v) for v in self.options]
        if not self._pairs:
            raise ValueError("Choice needs at least one option.")
        if self.value is None and all(v is not None for _, v in self._pairs):
            self.value = self._pairs[0][1]

    def validate(self, name: str) -> None:
        if not any(v == self.value for _, v in self._pairs):
            raise ValueError(f"Control {name!r}: its value {self.value!r} is not one of the options "
                             f"{[v for _, v in self._pairs]}.")

    def make_widget(self, widgets, name: str):
        return widgets.Dropdown(options=self._pairs, value=self.value, description=self.label or name,
                                style={"description_width": "initial"})


@dataclass
class Toggle:
    """A check box, on or off."""
    value: bool = False
    label: Optional[str] = None

    def validate(self, name: str) -> None:
        if not isinstance(self.value, bool):
            raise ValueError(f"Control {name!r}: a Toggle's value must be True or False, not {self.value!r}.")

    def make_widget(self, widgets, name: str):
        return widgets.Checkbox(value=self.value, description=self.label or name, indent=False)


def widgets_available() -> bool:
    """True where live controls can work: ipywidgets imports and an IPython kernel is running."""
    if os.environ.get("COURSE_WIDGETS", "1") == "0":
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


def _check_signature(draw: Callable, names: Sequence[str]) -> None:
    try:
        params = inspect.signature(draw).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    missing = [n for n in names if n not in params]
    if missing:
        who = getattr(draw, "__name__", None) or getattr(getattr(draw, "func", None), "__name__", repr(draw))
        raise TypeError(f"{who} has no parameter(s) {missing} for the control(s) of the same name; its parameters "
                        f"are {list(params)}. Name each control after a keyword argument of the draw function.")


def _as_figure(result):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    if isinstance(result, Figure):
        return result
    if result is None:
        return plt.gcf()
    fig = getattr(result, "figure", None) or getattr(result, "get_figure", lambda: None)()
    if isinstance(fig, Figure):
        return fig
    raise TypeError(f"A draw function must return a matplotlib Figure (or draw on the current one and return None); "
                    f"it returned {type(result).__name__}.")


class Explorer:
    """What :func:`explorer` returns: the default figure, the values, and (where widgets run) the live controls."""

    def __init__(self, draw: Callable[..., Any], controls: Mapping[str, Any]):
        self.draw = draw
        self.specs = dict(controls)
        self.values: Dict[str, Any] = {k: c.value for k, c in self.specs.items()}
        self.figure = None
        self.widget = None
        self.controls: Dict[str, Any] = {}
        self._out = None

    def render(self, **values: Any):
        """Draw with the current values updated by ``values`` and return the Figure (not displayed)."""
        unknown = set(values) - set(self.specs)
        if unknown:
            raise TypeError(f"No control named {sorted(unknown)}; the controls are {sorted(self.specs)}.")
        self.values.update(values)
        return _as_figure(self.draw(**self.values))

    def _build_widgets(self) -> None:
        import ipywidgets as widgets

        self.controls = {k: spec.make_widget(widgets, k) for k, spec in self.specs.items()}
        self._out = widgets.Output()
        hint = widgets.HTML("<i>Move a control: the figure below redraws (the one above shows the default "
                            "values).</i>")
        for name, w in self.controls.items():
            w.observe(lambda change, name=name: self._changed(name, change["new"]), names="value")
        self.widget = widgets.VBox([hint, widgets.HBox(list(self.controls.values()),
                                                       layout=widgets.Layout(flex_flow="row wrap")), self._out])

    def _changed(self, name: str, value: Any) -> None:
        import matplotlib.pyplot as plt
        from IPython.display import display

        with self._out:
            self._out.clear_output(wait=True)
            fig = self.render(**{name: value})
            display(fig)
            plt.close(fig)

    def __repr__(self) -> str:
        vals = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return f"<explorer of {getattr(self.draw, '__name__', 'a draw function')} at {vals}>"

    def _ipython_display_(self) -> None:
        """Show nothing more: :func:`explorer` has displayed the figure and the controls already. (A cell that ends
        in ``explorer(...)`` would otherwise print this object's repr under them, on every page of the HTML
        edition too.) ``repr(ex)`` and ``print(ex)`` still give the one-line summary."""


def explorer(draw: Callable[..., Any], *, live: Optional[bool] = None, display_figure: bool = True,
             **controls: Any) -> Explorer:
    """Draw ``draw(**defaults)`` once, then (where widgets run) add live controls. See the module docstring.

    ``controls`` map each keyword argument of ``draw`` to a :class:`Slider`, :class:`IntSlider`, :class:`Choice` or
    :class:`Toggle`. ``live=False`` skips the widgets; ``display_figure=False`` returns without showing anything
    (for tests). Returns an :class:`Explorer`; ``Explorer.render(**values)`` redraws at other values.
    """
    if not controls:
        raise TypeError("explorer() needs at least one control, e.g. explorer(draw, tau=Slider(0.1, 2.0, 1.0)).")
    for name, spec in controls.items():
        if not hasattr(spec, "make_widget"):
            raise TypeError(f"Control {name!r} is a {type(spec).__name__}; use Slider, IntSlider, Choice or Toggle "
                            "from course_lib.explorers.")
        spec.validate(name)
    _check_signature(draw, list(controls))
    ex = Explorer(draw, controls)
    ex.figure = ex.render()
    if display_figure:
        import matplotlib.pyplot as plt

        from ..viz import _in_ipython

        if _in_ipython():
            from IPython.display import display

            display(ex.figure)
            plt.close(ex.figure)
        else:
            plt.show()
        if live if live is not None else widgets_available():
            from IPython.display import display

            ex._build_widgets()
            display(ex.widget)
    return ex
