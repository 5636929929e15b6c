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
    (diagrams.vae_diagram, ["encoder", "mu + sigma * eps", "KL", "decoder", "backward"]),
    (diagrams.prior_diagram, ["raster order", "c_8", "class token", "predicts"]),
    (diagrams.code_restorer_diagram, ["logits", "frozen", "cross-entropy", "target codes"]),
    (diagrams.maskgit_diagram, ["8 of 8 masked", "0 of 8 masked", "most confident"]),
])
def test_diagram_names_its_parts(fn, words):
    fig = fn(show=False)
    text = " ".join(t.get_text() + " " + ax.get_title() for ax in fig.axes for t in ax.texts)
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


def test_prior_diagram_shades_exactly_the_causal_pattern():
    """Position i sees inputs 0..i: a lower-triangular pattern of T (T + 1) / 2 shaded cells out of T^2."""
    from matplotlib.colors import to_hex

    fig = diagrams.prior_diagram(grid=(2, 3), show=False)
    shaded = [p for p in fig.axes[1].patches if to_hex(p.get_facecolor()) == "#9cc29c"]
    assert len(shaded) == 6 * 7 // 2
    plt.close(fig)


def test_maskgit_diagram_follows_the_decoder_schedule():
    """The counts printed are those of course_lib.maskgit's own decoder, run on a model of random logits."""
    import torch

    from course_lib.maskgit import maskgit_complete, masked_decode_step

    for steps, hole in ((3, 8), (4, 8), (8, 5)):
        left = []

        def recording_step(logits, tokens, mask, n):
            tokens, mask = masked_decode_step(logits, tokens, mask, n)
            left.append(int(mask.sum()))
            return tokens, mask

        model = type("Random", (), {"mask_id": 9, "training": False, "eval": lambda self: self,
                                    "train": lambda self, mode=True: self,
                                    "__call__": lambda self, t: torch.randn(*t.shape, 9)})()
        known = torch.tensor([[True, True] + [False] * hole + [True, True]])
        maskgit_complete(model, torch.zeros_like(known, dtype=torch.long), known, steps=steps, step_fn=recording_step)
        fig = diagrams.maskgit_diagram(steps=steps, hole=hole, show=False)
        counts = [t.get_text() for t in fig.axes[0].texts if t.get_text().endswith("masked")]
        left += [0] * (steps - len(left))    # the decoder stops early once nothing is masked
        assert counts == [f"{k} of {hole} masked" for k in [hole] + left], (steps, hole, counts, left)
        masked_per_row = {}   # and each row shows as many M cells as its count says
        for t in fig.axes[0].texts:
            if t.get_text() == "M":
                y = round(t.get_position()[1])
                masked_per_row[y] = masked_per_row.get(y, 0) + 1
        assert [masked_per_row.get(-s, 0) for s in range(steps + 1)] == [hole] + left, (steps, hole, masked_per_row)
        plt.close(fig)
