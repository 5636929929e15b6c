"""Notebook 03's explorer: soft-max temperature against the hard code (measured properties of what it draws)."""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from course_lib.explorers import IntSlider, Slider, explorer
from course_lib.explorers.temperature import draw_temperature, soft_assignment, temperature_sweep

CODES = torch.tensor([[-0.6, -0.6], [0.6, -0.6], [-0.6, 0.6], [0.6, 0.6], [0.0, 0.0], [0.0, 0.8], [0.8, 0.0],
                      [-0.8, 0.1]])
POINTS = torch.tensor([[0.25, 0.1], [-0.5, -0.4], [0.7, 0.7]])
TAUS = np.logspace(-3, 1.5, 40)


def test_weights_sum_to_one_and_read_back_is_their_mix():
    w, r = soft_assignment(POINTS[0], CODES, 0.1)
    assert w.shape == (1, 8) and torch.allclose(w.sum(1), torch.ones(1))
    assert torch.allclose(r, w @ CODES)


def test_cold_soft_equals_the_hard_code_and_hot_soft_is_the_codebook_mean():
    x = POINTS[2].double()  # far from the codebook's mean
    s = temperature_sweep(x, CODES, TAUS)
    assert s["soft_error"][0] == pytest.approx(s["hard_error"][0], rel=1e-4)  # tau -> 0: one-hot on the nearest code
    assert s["top_weight"][0] > 0.999
    far = float((CODES.double().mean(0) - x).pow(2).sum())
    assert s["soft_error"][-1] == pytest.approx(far, rel=0.05)  # tau -> inf: uniform weights, the mean code
    assert s["soft_error"][-1] > s["hard_error"][0]


def test_entropy_rises_with_temperature_up_to_log2_k():
    s = temperature_sweep(POINTS[1], CODES, TAUS)
    assert np.all(np.diff(s["entropy_bits"]) >= -1e-9)
    assert s["entropy_bits"][0] < 0.01 and s["entropy_bits"][-1] == pytest.approx(math.log2(8), abs=0.05)


def test_soft_gradient_vanishes_when_cold_while_straight_through_does_not():
    s = temperature_sweep(POINTS[1], CODES, TAUS)
    assert s["soft_grad"][0] < 1e-6 * s["ste_grad"][0]
    assert s["ste_grad"][0] == pytest.approx(2 * float((CODES[0] - POINTS[1]).norm()), rel=1e-6)


def test_sweep_gradient_matches_autograd_for_one_temperature():
    z = POINTS[2].double().clone().requires_grad_(True)
    _, r = soft_assignment(z, CODES.double(), 0.3)
    (g,) = torch.autograd.grad((r[0] - POINTS[2].double()).pow(2).sum(), z)
    assert temperature_sweep(POINTS[2], CODES, [0.3])["soft_grad"][0] == pytest.approx(float(g.norm()), rel=1e-8)


def test_draws_a_figure_with_the_temperature_in_its_title_and_through_explorer():
    fig = draw_temperature(-1.0, 1, codes=CODES, points=POINTS)
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    assert "tau = 0.1" in fig.axes[0].get_title()
    plt.close(fig)
    ex = explorer(lambda log10_tau=-1.0, point=0: draw_temperature(log10_tau, point, codes=CODES, points=POINTS),
                  display_figure=False, log10_tau=Slider(-2.5, 1.0, -1.0), point=IntSlider(0, 2, 0))
    fig = ex.render(log10_tau=0.5, point=2)
    assert "tau = 3.16" in fig.axes[0].get_title()
    plt.close("all")
    with pytest.raises(ValueError, match="not an index"):
        draw_temperature(0.0, 5, codes=CODES, points=POINTS)
