"""course_lib.explorers.sampling: draws, is fast, and what it draws moves the right way with temperature/top-k."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch

from course_lib.explorers.sampling import draw_sampling, sample_with_stats, sampling_distribution
from course_lib.prior import CodePrior


def trained_prior(num_classes=None):
    """A small prior trained for a few steps on sequences of skewed codes (p(k) ~ exp(-k/3)) that repeat the previous
    code half of the time: its conditionals are peaked but not deterministic, and some codes are rarer than others."""
    torch.manual_seed(0)
    K, T, N = 16, 16, 256
    p = CodePrior(K, T, d_model=32, n_layers=1, n_heads=2, num_classes=num_classes)
    fresh = torch.multinomial(torch.exp(-torch.arange(K) / 3.0), N * T, replacement=True).reshape(N, T)
    repeat = torch.rand(N, T) < 0.5
    x = fresh.clone()
    for t in range(1, T):
        x[:, t] = torch.where(repeat[:, t], x[:, t - 1], fresh[:, t])
    y = x[:, 0] % num_classes if num_classes else None
    opt = torch.optim.Adam(p.parameters(), lr=1e-2)
    for _ in range(40):
        opt.zero_grad()
        p.nll(x, y).backward()
        opt.step()
    return p.eval()


def decode(tokens):                                # (n, 16) -> (n, 1, 4, 4) grey levels
    return (tokens.float() / 15).reshape(-1, 1, 4, 4)


@pytest.fixture(scope="module")
def prior():
    return trained_prior()


def test_draws_a_figure_quickly_with_stats(prior):
    fig = draw_sampling(prior=prior, decode=decode, temperature=0.8, top_k=5, seed=1)
    assert len(fig.axes) == 2 and "top-k 5" in fig.axes[0].get_title()
    s = fig.sample_stats
    assert 0 < s["bits_per_code"] < 4 and 0 < s["code_entropy_bits"] <= 4 and 1 <= s["distinct_grids"] <= 16
    plt.close(fig)


def test_same_seed_same_samples_other_seed_other(prior):
    a, _, _ = sample_with_stats(prior, 1.0, None, seed=3)
    b, _, _ = sample_with_stats(prior, 1.0, None, seed=3)
    c, _, _ = sample_with_stats(prior, 1.0, None, seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_lower_temperature_likelier_and_less_varied_codes(prior):
    stats = {t: sample_with_stats(prior, t, None, seed=0, n=64)[2] for t in (0.3, 1.0, 2.0)}
    bits = [stats[t]["bits_per_code"] for t in (0.3, 1.0, 2.0)]
    ent = [stats[t]["code_entropy_bits"] for t in (0.3, 1.0, 2.0)]
    assert bits[0] < bits[1] < bits[2], bits        # likelihood under the prior falls as temperature rises
    assert stats[0.3]["distinct_grids"] <= stats[2.0]["distinct_grids"]
    # the sampling distribution itself: entropy rises with temperature, top-k keeps exactly k codes
    with torch.no_grad():
        logits = prior(sample_with_stats(prior, 1.0, None, seed=0, n=1)[0])[0, 3]
    H = [float(-(q * q.clamp_min(1e-12).log2()).sum()) for q in
         (sampling_distribution(logits, t, None) for t in (0.3, 1.0, 2.0))]
    assert H[0] < H[1] < H[2], H
    assert int((sampling_distribution(logits, 1.0, 3) > 0).sum()) == 3
    assert torch.equal(sampling_distribution(logits, 0.0, None).argmax(), logits.argmax())
    assert ent[0] < ent[1] < ent[2], ent            # the samples use fewer codes, less evenly, when colder


def test_top_k_one_is_greedy_and_fewer_codes(prior):
    s1 = sample_with_stats(prior, 1.0, 1, seed=0, n=32)
    s0 = sample_with_stats(prior, 0.0, None, seed=5, n=32)
    assert torch.equal(s1[0], s0[0]) and s1[2]["distinct_grids"] == 1      # top-1 = greedy, whatever the seed
    full = sample_with_stats(prior, 1.0, None, seed=0, n=32)[2]
    assert s1[2]["distinct_grids"] <= full["distinct_grids"]
    assert s1[2]["code_entropy_bits"] <= full["code_entropy_bits"] + 1e-9


def test_class_conditional_labels_and_tokenizer_decode(prior):
    p = trained_prior(num_classes=4)

    class Tok:
        def decode_indices(self, grid):                  # (n, 4, 4) -> (n, 1, 4, 4)
            return grid[:, None].float() / 15

    fig = draw_sampling(prior=p, decode=Tok(), label=2, class_names=["a", "b", "c", "d"], n=8)
    assert "class c" in fig.axes[0].get_title()
    plt.close(fig)
    _, labels, _ = sample_with_stats(p, n=6)
    assert labels.tolist() == [0, 1, 2, 3, 0, 1]
    with pytest.raises(ValueError, match="grid_shape"):
        draw_sampling(prior=p, decode=Tok(), grid_shape=(3, 5))
    with pytest.raises(ValueError, match="unconditional"):
        sample_with_stats(prior, label=1)


# --- notebook 06's figure helpers -------------------------------------------------------------------------------
def test_show_class_grid_frames_agreement_green_and_disagreement_red():
    from course_lib.explorers.sampling import show_class_grid

    images = torch.full((6, 1, 8, 8), 0.5)
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    predicted = torch.tensor([0, 1, 0, 1, 1, 0])
    ax = show_class_grid(images, labels, predicted, ["a", "b"], per_class=3)
    grid = ax.get_images()[0].get_array()                     # (H', W', 3); make_grid pads 2 px around 8-px tiles
    first, second = grid[2, 2 + 4], grid[2, 12 + 4]           # top frame pixel of tile 0 (agrees), tile 1 (does not)
    assert first[1] > first[0] and second[0] > second[1]
    assert "67%" in ax.get_title()                             # 4 of 6 agree
    assert [t.get_text() for t in ax.texts] == ["a", "b"]
    plt.close("all")


def test_plot_sampling_tradeoff_draws_three_panels_with_the_calibration_line():
    from course_lib.evidence import Interval
    from course_lib.explorers.sampling import plot_sampling_tradeoff

    iv = lambda v: Interval(v, v - 1, v + 1, 0.95, "test")
    rows = [dict(temperature=t, top_k=None, kid=iv(10 + t), accuracy=0.5 - t / 10, bits=1 + t) for t in (0.5, 1.0)]
    rows.append(dict(temperature=1.0, top_k=8, kid=iv(9.0), accuracy=0.45, bits=1.6))
    fig = plot_sampling_tradeoff(rows, heldout_bits=1.7, chance=0.1)
    assert len(fig.axes) == 3
    assert any(abs(line.get_ydata()[0] - 1.7) < 1e-9 for line in fig.axes[2].get_lines())
    plt.close(fig)
