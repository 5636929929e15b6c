"""course_lib.tokenizer_bench, the equal-bits bench of notebook 14: each kind at its bit budget, tokens, figures,
intervals and verdicts."""
import math

import pytest
import torch

from course_lib import quantize as Q
from course_lib import tokenizer_bench as bench


CASES = [(k, b) for k in bench.KINDS for b in (6, 10, 16) if not (k in ("vq", "simvq") and b == 16)]  # 2^16 rows: slow


@pytest.mark.parametrize("kind, bits", CASES)
def test_each_kind_spends_the_bits_it_is_given(kind, bits):
    q = bench.make_quantizer(kind, bits, 8, levels=2)
    expected = math.log2(math.prod(bench.FSQ_LEVELS[bits])) if kind == "fsq" else bits
    assert bench.bits_per_token(q) == pytest.approx(expected)
    assert abs(bench.bits_per_token(q) - bits) < 0.05  # FSQ's recommended levels are within 0.05 bits
    out = q(torch.randn(2, 8, 3, 3))
    assert out.z_q.shape == (2, 8, 3, 3)


def test_make_quantizer_refuses_what_it_cannot_build():
    with pytest.raises(ValueError, match="unknown quantizer kind"):
        bench.make_quantizer("pq", 10, 8)
    with pytest.raises(ValueError, match="do not divide"):
        bench.make_quantizer("rvq", 10, 8, levels=3)
    with pytest.raises(ValueError, match="no FSQ levels"):
        bench.make_quantizer("fsq", 11, 8)
    rvq = bench.make_quantizer("rvq", 12, 8, levels=3, dropout=True)
    assert isinstance(rvq, Q.ResidualVQ) and rvq.num_codes == 16 and rvq.quantizer_dropout and rvq.ema


def test_token_indices_number_the_level_combinations():
    rvq = Q.ResidualVQ(3, 4, 2)
    idx = torch.tensor([[0, 0, 0], [1, 2, 3], [3, 3, 3], [1, -1, -1]])
    assert bench.token_indices(rvq, idx).tolist() == [0, 1 * 16 + 2 * 4 + 3, 63, 16]
    assert bench.codebook_size(rvq) == 64
    plain = torch.tensor([5, 7])
    assert bench.token_indices(Q.FSQ((4, 4)), plain) is plain


def test_seed_interval_is_the_student_t_interval():
    mean, half = bench.seed_interval([1.0, 2.0, 3.0])
    # t_{0.975, 2} = 4.3027, sd = 1, n = 3
    assert mean == pytest.approx(2.0) and half == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    assert math.isnan(bench.seed_interval([4.0])[1])
    test = bench.paired_difference([3.0, 5.0, 4.0], [1.0, 3.0, 2.5])
    assert test.mean_diff == pytest.approx(11 / 6) and test.dof == 2 and test.low < test.mean_diff < test.high


def test_paired_verdict_calls_a_difference_only_when_the_interval_excludes_zero():
    runs = {"vq": [{"psnr": 20.0}, {"psnr": 21.0}, {"psnr": 22.0}],
            "fsq": [{"psnr": 21.0}, {"psnr": 22.1}, {"psnr": 22.9}],   # +1 each seed, tiny spread: better
            "lfq": [{"psnr": 23.0}, {"psnr": 19.0}, {"psnr": 22.5}]}   # mixed: not distinguishable
    assert "better than" in bench.paired_verdict(runs, "fsq", "psnr")
    assert "worse than" in bench.paired_verdict(runs, "fsq", "psnr", better="lower")
    assert "not distinguishable" in bench.paired_verdict(runs, "lfq", "psnr")
    assert "2 df" in bench.paired_verdict(runs, "lfq", "psnr")
    assert "one seed only" in bench.paired_verdict({k: v[:1] for k, v in runs.items()}, "fsq", "psnr")


def test_evaluate_and_summary_rows():
    torch.manual_seed(0)
    model = bench.build_model("fsq", 6, hidden=8, code_dim=4).eval()
    x = torch.rand(16, 1, 28, 28)
    fig = bench.evaluate(model, x)
    assert set(fig) == {"psnr", "ssim", "sharpness_ratio", "codes_used", "usage", "entropy_bits", "bits_per_token"}
    assert 0 < fig["usage"] <= 1 and fig["entropy_bits"] <= fig["bits_per_token"] + 1e-9
    rows = bench.summary_rows({"fsq": [fig, fig]}, ["psnr", "usage"], {"psnr": ".1f"})
    assert rows[0][0] == "FSQ" and rows[0][1] == f"{fig['psnr']:.1f} ± 0.0"


def test_run_trains_and_reports_speed():
    from course_lib.data import load_dataset

    train = load_dataset("fashion-mnist", "train", n=64)
    model, fig = bench.run("rvq", 4, 0, train=train, x_eval=train.x[:16], steps=2, batch_size=8, lr=1e-3, hidden=8,
                           code_dim=4, data_variance=float(train.x.var()), levels=2, kmeans_init=False)
    assert not model.training and fig["ms_per_step"] > 0 and fig["seed"] == 0
    rd = bench.rate_distortion(model, {1: model, 2: model}, train.x[:16], 49)
    assert [r["levels"] for r in rd] == [1, 2] and rd[1]["bits_per_image"] == 2 * 2 * 49


def test_rate_distortion_verdicts_follow_the_numbers():
    good = [dict(levels=k, bits_per_image=196 * k, dropout=18.0 + k, separate=18.5 + k, truncated=15.0 + 1.2 * k)
            for k in (1, 2, 3)]
    lines = bench.rate_distortion_verdicts(good).splitlines()
    assert "Each added level" in lines[0] and "beats truncation by more than 1 dB" in lines[1]
    assert lines[2].endswith("0.50 dB")
    flat = [dict(r, dropout=18.0, truncated=18.0) for r in good]
    lines = bench.rate_distortion_verdicts(flat).splitlines()
    assert "Not every added level" in lines[0] and "does not beat truncation" in lines[1]
