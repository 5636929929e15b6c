"""Notebook 02's explorer: codebook size K against reconstruction error and bits."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure

from course_lib.explorers.codebook_size import draw_codebook_size, patch_reconstruction
from course_lib.quantize import kmeans


def _rd(images, patch=4, ks=(2, 8, 32)):
    p = torch.nn.functional.unfold(images, patch, stride=patch).transpose(1, 2).reshape(-1, patch * patch)
    rd = []
    for k in ks:
        cb = kmeans(p, k, iters=8, seed=0).codebook
        mse = float((patch_reconstruction(images, cb, patch) - images).pow(2).mean())
        rd.append(dict(K=k, train=mse, test=mse * 1.1, codebook=cb))
    return rd


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    base = torch.rand(4, 1, 8, 8, generator=g)
    return base.repeat_interleave(2, 2).repeat_interleave(2, 3)[:, :, :16, :16].repeat(3, 1, 1, 1)  # (12, 1, 16, 16)


def test_patch_reconstruction_is_exact_when_every_patch_is_a_code(images):
    p = torch.nn.functional.unfold(images, 4, stride=4).transpose(1, 2).reshape(-1, 16)
    assert torch.allclose(patch_reconstruction(images, p.unique(dim=0), 4), images)
    with pytest.raises(ValueError, match="do not split"):
        patch_reconstruction(images[:, :, :15, :15], p, 4)


def test_error_falls_with_k_and_the_marked_point_is_the_chosen_k(images):
    rd = _rd(images)
    errors = [r["train"] for r in rd]
    assert errors[0] > errors[1] > errors[2]
    fig = draw_codebook_size(3, rd=rd, images=images, patch=4)
    assert isinstance(fig, Figure)
    marker = fig.axes[0].lines[2]
    assert list(marker.get_xdata()) == [3] and list(marker.get_ydata()) == [pytest.approx(rd[1]["test"])]
    assert "K = 8 codes: 3 bits per patch = 0.188 bits per pixel" in fig._suptitle.get_text()
    plt.close("all")
    with pytest.raises(ValueError, match="pre-computed sizes are \\[2, 8, 32\\]"):
        draw_codebook_size(4, rd=rd, images=images, patch=4)
