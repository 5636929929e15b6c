"""The generic explorer: default figure drawn directly, live redraws through real ipywidgets objects, clear errors."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from course_lib.explorers import Choice, IntSlider, Slider, Toggle, explorer


def _draw(tau=1.0, k=None, n=3, flip=False, calls=[]):  # noqa: B006 (records calls on purpose)
    calls.append(dict(tau=tau, k=k, n=n, flip=flip))
    fig, ax = plt.subplots()
    ax.plot(range(n), [tau * (-1 if flip else 1)] * n)
    ax.set_title(f"k={k}")
    return fig


def _controls():
    return dict(tau=Slider(0.1, 2.0, 0.5), k=Choice({"all": None, "5": 5}, None), n=IntSlider(1, 9, 4),
                flip=Toggle(False))


def test_default_figure_drawn_with_the_default_values():
    _draw.__defaults__[-1].clear()
    ex = explorer(_draw, display_figure=False, **_controls())
    assert isinstance(ex.figure, Figure)
    assert _draw.__defaults__[-1][-1] == dict(tau=0.5, k=None, n=4, flip=False)
    assert ex.figure.axes[0].get_title() == "k=None"
    assert ex.widget is None  # no live part when nothing was displayed


def test_render_redraws_at_new_values_and_remembers_them():
    ex = explorer(_draw, display_figure=False, **_controls())
    fig = ex.render(k=5, n=7)
    assert fig.axes[0].get_title() == "k=5" and len(fig.axes[0].lines[0].get_xdata()) == 7
    assert ex.values == dict(tau=0.5, k=5, n=7, flip=False)
    with pytest.raises(TypeError, match="No control named"):
        ex.render(temperature=1.0)


def test_live_widgets_redraw_when_a_control_moves():
    pytest.importorskip("ipywidgets")
    ex = explorer(_draw, display_figure=False, **_controls())
    ex._build_widgets()
    import ipywidgets as widgets

    assert isinstance(ex.controls["tau"], widgets.FloatSlider)
    assert isinstance(ex.controls["n"], widgets.IntSlider)
    assert isinstance(ex.controls["k"], widgets.Dropdown) and ex.controls["k"].value is None
    assert isinstance(ex.controls["flip"], widgets.Checkbox)
    calls = _draw.__defaults__[-1]
    before = len(calls)
    ex.controls["tau"].value = 1.5
    ex.controls["k"].value = 5
    assert len(calls) == before + 2
    assert calls[-1] == dict(tau=1.5, k=5, n=4, flip=False)


def test_clear_errors_for_bad_controls():
    with pytest.raises(ValueError, match="outside"):
        explorer(_draw, display_figure=False, tau=Slider(0.1, 2.0, 5.0))
    with pytest.raises(ValueError, match="not one of the options"):
        explorer(_draw, display_figure=False, k=Choice([1, 2], 3))
    with pytest.raises(TypeError, match="no parameter"):
        explorer(_draw, display_figure=False, temperature=Slider(0.1, 2.0, 1.0))
    with pytest.raises(TypeError, match="use Slider"):
        explorer(_draw, display_figure=False, tau=0.5)
    with pytest.raises(TypeError, match="at least one control"):
        explorer(_draw, display_figure=False)
    with pytest.raises(TypeError, match="must return a matplotlib Figure"):
        explorer(lambda tau: 3, display_figure=False, tau=Slider(0, 1, 0.5))


def test_widgets_can_be_turned_off(monkeypatch):
    from course_lib.explorers import widgets_available

    monkeypatch.setenv("COURSE_WIDGETS", "0")
    assert widgets_available() is False
