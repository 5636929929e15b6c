import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from course_lib.checks import CheckFailed, check_function, describe_mismatch
from course_lib.checks.basics import check_to_signed, reference_to_signed
from course_lib.viz import image_grid, show_images, show_pairs


def test_image_grid_shapes_and_errors():
    grid = image_grid(torch.rand(10, 3, 8, 8), nrow=5)
    assert grid.shape == (2 * 8 + 3 * 2, 5 * 8 + 6 * 2, 3)
    with pytest.raises(ValueError, match=r"channels last\? use x.permute"):
        image_grid(torch.rand(4, 8, 8, 3))
    with pytest.raises(ValueError, match=r"expect images in \[0, 1\]"):
        image_grid(torch.randn(4, 1, 8, 8) * 5)


def test_show_functions_draw():
    ax = show_images(torch.rand(6, 1, 8, 8), title="t")
    assert ax.get_title() == "t"
    fig = show_pairs(torch.rand(4, 1, 8, 8), torch.rand(4, 1, 8, 8), n=4)
    assert len(fig.axes) == 2


def test_check_passes_reference(capsys):
    check_to_signed(reference_to_signed)
    assert "Check passed" in capsys.readouterr().out


def test_check_rejects_stub_and_names_mistakes():
    def stub(x):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="not implemented yet"):
        check_to_signed(stub)
    with pytest.raises(CheckFailed, match="forgot to shift"):
        check_to_signed(lambda x: x * 2)
    with pytest.raises(CheckFailed, match="differs from the reference"):
        check_to_signed(lambda x: x * 3 - 1)
    with pytest.raises(CheckFailed, match="raised ZeroDivisionError"):
        check_to_signed(lambda x: 1 / 0)


def test_check_function_compares_structures():
    ref = lambda a: {"sum": a.sum(), "shape": tuple(a.shape), "n": 3}  # noqa: E731
    check_function(ref, ref, lambda s: (torch.ones(2, 2) * s,), name="f")
    assert "missing the key 'n'" in describe_mismatch({"sum": torch.tensor(4.0), "shape": (2, 2)}, ref(torch.ones(2, 2)))
    assert "shape (3,)" in describe_mismatch(torch.ones(3), torch.ones(2))
    assert describe_mismatch(torch.tensor([1, 2]), torch.tensor([1, 3])) == "output differs from the reference in 1 of 2 entries"
    assert describe_mismatch(2.0, 2.0 + 1e-9) is None
