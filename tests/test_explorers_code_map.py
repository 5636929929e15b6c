"""Notebook 04's code-map editor: it draws fast, an edit changes the image only around its cell, no edit changes
nothing, and bad positions or codes fail clearly."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure

from course_lib.explorers import IntSlider, explorer
from course_lib.explorers.code_map import draw_code_map, edit_and_decode
from course_lib.models import VQVAE
from course_lib.quantize import EMAVectorQuantizer


def _model(seed=0, K=32):
    torch.manual_seed(seed)
    q = EMAVectorQuantizer(num_codes=K, code_dim=8, beta=0.25, decay=0.95)
    with torch.no_grad():
        q.codebook.copy_(torch.randn(K, 8))  # well-separated codes, as after training
    return VQVAE(q, in_channels=1, hidden=16, downsamples=2, res_blocks=1, res_hidden=16).eval()


def _images(n=3, seed=1):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))


def test_draws_four_panels_and_through_the_explorer():
    model, x = _model(), _images()
    fig = draw_code_map(model, images=x, image=1, row=3, col=2, code=5)
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    assert "code" in fig.axes[2].get_title() and "within one cell" in fig.axes[3].get_title()
    plt.close(fig)
    ex = explorer(lambda **kw: draw_code_map(model, images=x, **kw), display_figure=False,
                  image=IntSlider(0, 2, 0), row=IntSlider(0, 6, 3), col=IntSlider(0, 6, 3), code=IntSlider(0, 31, 0))
    assert isinstance(ex.render(code=7), Figure)
    plt.close("all")


def test_the_edit_changes_the_image_only_around_its_cell():
    model, x = _model(), _images()
    for (row, col, seed) in [(1, 1, 0), (0, 6, 1), (6, 2, 2)]:
        codes = model.encode(x[:1])[0]
        new = (int(codes[row, col]) + 1 + seed) % 32
        e = edit_and_decode(model, row, col, new, image=x[0])
        assert e.edited_codes[row, col] == new and (e.edited_codes != e.codes).sum() == 1
        assert e.diff.sum() > 0
        # far from the edit (beyond the decoder's receptive field of a few cells) nothing changes at all
        top, left, ch, cw = e.cell
        far = torch.ones_like(e.diff, dtype=torch.bool)
        far[max(0, top - 4 * ch):top + 5 * ch, max(0, left - 4 * cw):left + 5 * cw] = False
        assert far.any() and float(e.diff[far].sum()) == 0.0
        # and the change is concentrated near the cell: far more than the 3x3-cell block's share of the area
        area_share = 9 / 49
        assert e.share_near > 2 * area_share, e.share_near


def test_no_edit_changes_nothing_and_decoding_matches_the_model():
    model, x = _model(seed=3), _images(seed=4)
    codes = model.encode(x[2:3])[0]
    e = edit_and_decode(model, 2, 4, int(codes[2, 4]), image=x[2])
    assert float(e.diff.max()) == 0.0 and e.share_near == 1.0
    assert torch.allclose(e.original, model(x[2:3]).x_hat[0].clamp(0, 1), atol=1e-5)
    # a code map given directly (no image): three panels, and the same decode
    e2 = edit_and_decode(model, 2, 4, 0, codes=codes)
    assert e2.image is None and torch.allclose(e2.original, e.original)
    fig = draw_code_map(model, codes=codes, row=2, col=4, code=0)
    assert len(fig.axes) == 3
    plt.close(fig)


def test_bad_positions_and_codes_fail_clearly():
    model, x = _model(), _images()
    with pytest.raises(ValueError, match="outside the 7x7"):
        edit_and_decode(model, 7, 0, 1, image=x[0])
    with pytest.raises(ValueError, match="not an index"):
        edit_and_decode(model, 0, 0, 32, image=x[0])
    with pytest.raises(ValueError, match="exactly one"):
        edit_and_decode(model, 0, 0, 1)


def test_code_map_colours_are_distinct_for_the_most_used_codes_and_grey_for_the_rest():
    from course_lib.explorers.code_map import code_map_colours, draw_code_maps

    maps = torch.tensor([[[3, 3, 7], [41, 42, 3]], [[7, 5, 5], [0, 1, 2]]])
    colour_of, coloured = code_map_colours(maps, n_colours=3)
    assert coloured[:2] == [3, 5] or coloured[:2] == [3, 7]  # most used first (3 appears three times)
    assert len(coloured) == 3 and len({tuple(colour_of[c]) for c in coloured}) == 3  # all different
    grey = [c for c in (0, 1, 2, 41, 42) if c not in coloured]
    assert all(tuple(colour_of[c]) == tuple(colour_of[grey[0]]) for c in grey)
    fig = draw_code_maps(_images(2), maps)
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    plt.close(fig)
