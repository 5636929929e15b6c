"""The residual-depth explorer of notebook 14 draws at every depth and refuses what it cannot draw."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_lib import tokenizer_bench as bench  # noqa: E402
from course_lib.explorers.residual_depth import draw_residual_depth  # noqa: E402


def _model():
    torch.manual_seed(0)
    return bench.build_model("rvq", 6, hidden=8, code_dim=4, levels=3, kmeans_init=False).eval()


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_draws_each_depth(levels):
    rd = [dict(levels=k, bits_per_image=98 * k, dropout=10.0 + k, separate=11.0 + k) for k in (1, 2, 3)]
    fig = draw_residual_depth(levels, model=_model(), images=torch.rand(4, 1, 28, 28), rd=rd)
    assert f"first {levels} level" in " ".join(ax.get_title(loc="left") for ax in fig.axes)
    plt.close(fig)


def test_refuses_other_quantizers_and_depths():
    with pytest.raises(ValueError, match="levels must be in 1..3"):
        draw_residual_depth(4, model=_model(), images=torch.rand(2, 1, 28, 28))
    with pytest.raises(TypeError, match="ResidualVQ"):
        draw_residual_depth(1, model=bench.build_model("fsq", 10, hidden=8, code_dim=4), images=torch.rand(2, 1, 28, 28))
