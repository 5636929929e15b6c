"""The check of notebook 10's radially averaged log power spectrum rejects the stub and the named mistakes, accepts
right answers written differently (fftshift, NumPy, float32), and a wrong answer falls back to the reference."""
import numpy as np
import pytest
import torch

from course_lib.checks import CheckFailed, solved_or_reference
from course_lib.checks.judging import check_radial_spectrum, reference_radial_spectrum
from course_lib.image_quality import radial_log_spectrum as library_spectrum

HIDDEN = dict(seed=7, shapes=((2, 3, 32, 32), (3, 1, 20, 28)))


def stub(x):
    raise NotImplementedError()


def make(amplitude=False, centred_grid=False, log_first=False, chebyshev=False, ring_zero=False, dtype=torch.float64):
    """A student's answer written from scratch with fftshift and a centred grid, with one mistake switched on."""

    def radial_log_spectrum(x):
        g = x.to(dtype).mean(1)
        g = g - g.mean(dim=(1, 2), keepdim=True)
        h, w = g.shape[-2:]
        s = min(h, w)
        f = torch.fft.fft2(g).abs()
        power = (f if amplitude else f ** 2) / (h * w)
        if not centred_grid:
            power = torch.fft.fftshift(power, dim=(-2, -1))
        yy = (torch.arange(h, dtype=dtype)[:, None] - h // 2) * s / h
        xx = (torch.arange(w, dtype=dtype)[None, :] - w // 2) * s / w
        r = torch.maximum(yy.abs(), xx.abs()) if chebyshev else torch.sqrt(yy ** 2 + xx ** 2)
        ring = torch.floor(r + 0.5).long()
        out = []
        for k in range(0 if ring_zero else 1, s // 2 + 1):
            p = power[:, ring == k]
            out.append(torch.log(p + 1e-10).mean(1) if log_first else torch.log(p.mean(1) + 1e-10))
        return torch.stack(out, 1)

    return radial_log_spectrum


def numpy_version(x):
    g = np.asarray(x, dtype=np.float32).mean(1)
    g = g - g.mean(axis=(1, 2), keepdims=True)
    h, w = g.shape[-2:]
    power = np.abs(np.fft.fft2(g)) ** 2 / (h * w)
    r = np.hypot(*np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij")) * min(h, w)
    ring = np.rint(r).astype(int)
    return np.log(np.stack([power[:, ring == k].mean(1) for k in range(1, min(h, w) // 2 + 1)], 1) + 1e-10)


def test_reference_is_the_library_function():
    x = torch.rand(3, 3, 17, 23)
    assert torch.equal(reference_radial_spectrum(x), library_spectrum(x))


@pytest.mark.parametrize("right", [reference_radial_spectrum, make(), make(dtype=torch.float32), numpy_version],
                         ids=["reference", "fftshift", "float32", "numpy"])
def test_right_answers_written_differently_pass(right, capsys):
    check_radial_spectrum(right)
    check_radial_spectrum(right, **HIDDEN)
    assert capsys.readouterr().out.count("\u2705") == 2


@pytest.mark.parametrize("wrong, hint", [
    (stub, "not implemented"),
    (make(amplitude=True), "AMPLITUDE"),
    (make(centred_grid=True), "fftshift"),
    (make(log_first=True), "log is taken before averaging"),
    (make(chebyshev=True), "rings are squares"),
    (make(ring_zero=True), "ring 0"),
    (lambda x: library_spectrum(x) / np.log(10), "log10"),
    (lambda x: library_spectrum(x) + np.log(x.shape[-1] * x.shape[-2]), "not divided by H"),
    (lambda x: library_spectrum(x)[:, :-1], "shape"),
])
def test_named_mistakes_are_rejected(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check_radial_spectrum(wrong)


def test_per_channel_spectra_are_named_on_colour_images():
    def per_channel(x):
        return torch.stack([library_spectrum(x[:, c:c + 1]).exp() for c in range(x.shape[1])]).mean(0).log()

    with pytest.raises(CheckFailed, match="colour channel"):
        check_radial_spectrum(per_channel)


def test_a_wrong_answer_falls_back_to_the_reference(capsys):
    wrong = make(amplitude=True)
    with pytest.raises(CheckFailed):
        check_radial_spectrum(wrong)
    fn = solved_or_reference(wrong, reference_radial_spectrum, "radial_log_spectrum")
    x = torch.rand(2, 1, 16, 16)
    assert torch.allclose(fn(x), library_spectrum(x))
    assert "does not pass its check" in capsys.readouterr().out
    fn = solved_or_reference(stub, reference_radial_spectrum, "radial_log_spectrum")
    assert torch.allclose(fn(x), library_spectrum(x))
