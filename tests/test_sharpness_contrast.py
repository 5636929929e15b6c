"""metrics.sharpness(contrast_normalized=True) separates blur from contrast (issue 11, notebook 01)."""
import torch
import torch.nn.functional as F

from course_lib.metrics import sharpness


def _images(seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(6, 1, 28, 28, generator=g) > 0.7).float()


def test_plain_sharpness_drops_with_contrast_but_normalised_does_not():
    x = _images()
    faint = 0.3 * x + 0.35  # the same image at 30% contrast, grey
    assert (sharpness(faint) < 0.5 * sharpness(x)).all()  # the confound the plain measure has
    assert torch.allclose(sharpness(faint, contrast_normalized=True), sharpness(x, contrast_normalized=True), rtol=1e-4)


def test_normalised_sharpness_still_ranks_blur():
    x = _images(1)
    blurred = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    assert (sharpness(blurred, contrast_normalized=True) < 0.9 * sharpness(x, contrast_normalized=True)).all()


def test_flat_image_scores_zero_not_nan():
    flat = torch.full((2, 3, 8, 8), 0.4)
    out = sharpness(flat, contrast_normalized=True)
    assert torch.isfinite(out).all() and (out == 0).all()
    assert torch.equal(sharpness(flat), torch.zeros(2))
