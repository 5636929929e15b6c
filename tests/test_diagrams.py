"""Each lesson's diagram draws offline and names the parts its lesson refers to."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from course_lib import diagrams  # noqa: E402


@pytest.mark.parametrize("fn, words", [
    (diagrams.vqvae_diagram, ["encoder", "codebook", "decoder", "commitment", "straight-through"]),
    (diagrams.ste_diagram, ["argmin", "backward", "sg[e_k - z]"]),
    (diagrams.vqgan_diagram, ["PatchGAN", "perceptual", "adaptive weight", "quantizer"]),
    (diagrams.stage2_diagram, ["causal transformer", "token grid", "frozen"]),
])
def test_diagram_names_its_parts(fn, words):
    fig = fn(show=False)
    text = " ".join(t.get_text() for t in fig.axes[0].texts) + " " + fig.axes[0].get_title()
    for w in words:
        assert w in text, f"{fn.__name__} lacks {w!r}"
    fig.canvas.draw()           # renders without errors
    plt.close(fig)


def test_ste_diagram_can_leave_out_the_formula():
    """Notebook 03 draws it before the exercise that asks for the formula: the answer must not be on it."""
    fig = diagrams.ste_diagram(show=False, formula=False)
    text = " ".join(t.get_text() for t in fig.axes[0].texts) + " " + fig.axes[0].get_title()
    assert "sg[e_k - z]" not in text and "z + " not in text and "argmin" in text and "backward" in text
    plt.close(fig)
