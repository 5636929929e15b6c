import pytest
import torch
import torch.nn.functional as F

from course_lib.restoration import (RestorationNet, code_prediction_loss, content_distance, gram_matrix,
                                    style_distance)


def test_restoration_net_shapes():
    x = torch.rand(2, 1, 28, 28)
    assert RestorationNet(num_codes=64, ch=8)(x).shape == (2, 64, 7, 7)
    assert RestorationNet(num_codes=None, ch=8)(x).shape == (2, 1, 28, 28)
    with pytest.raises(ValueError):
        RestorationNet(num_codes=None, ch=8)(torch.rand(2, 1, 30, 30))


def test_regressor_starts_near_its_input():
    torch.manual_seed(0)
    net = RestorationNet(num_codes=None, ch=8)
    x = torch.rand(4, 1, 28, 28)
    assert (net(x) - x).abs().mean() < 0.5            # a residual correction of the input


def test_code_prediction_loss_is_log_k_for_uniform_logits():
    logits = torch.zeros(3, 16, 7, 7)
    targets = torch.randint(0, 16, (3, 7, 7))
    assert torch.isclose(code_prediction_loss(logits, targets), torch.log(torch.tensor(16.0)))
    confident = F.one_hot(targets, 16).permute(0, 3, 1, 2).float() * 50
    assert code_prediction_loss(confident, targets) < 1e-6
    with pytest.raises(ValueError):
        code_prediction_loss(logits, targets[:, :3])


def test_gram_matrix_by_hand():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)      # 2 channels, 2 positions
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 2
    assert torch.allclose(gram_matrix(f), expected)
    g = gram_matrix(torch.rand(3, 4, 5, 6))
    assert torch.allclose(g, g.transpose(1, 2))


def test_style_and_content_distances():
    a = [torch.rand(2, 3, 4, 4), torch.rand(2, 5, 2, 2)]
    assert torch.allclose(style_distance(a, a), torch.zeros(2))
    # permuting positions keeps the Gram matrix (style ignores layout) but changes the content distance
    shuffled = [f.flatten(2)[..., torch.randperm(f.shape[2] * f.shape[3])].view_as(f) for f in a]
    assert torch.allclose(style_distance(a, shuffled), torch.zeros(2), atol=1e-6)
    assert (content_distance(a[0], shuffled[0]) > 0).all()
    b = [torch.rand(1, 3, 4, 4) * 3, torch.rand(1, 5, 2, 2) * 3]
    assert style_distance(a, b).shape == (2,) and (style_distance(a, b) > 0).all()


def test_degrade_is_box_filter_then_bicubic_and_keeps_the_size():
    from course_lib.classical import bicubic_upsample, downsample
    from course_lib.restoration import degrade

    x = torch.rand(3, 1, 28, 28)
    bad = degrade(x, 4)
    assert bad.shape == x.shape
    assert torch.equal(bad, bicubic_upsample(downsample(x, 4), 4))
    assert torch.allclose(downsample(bad, 4), downsample(x, 4), atol=0.15)   # keeps the coarse content


def test_restore_batches_decodes_codes_and_clamps_pixels():
    from course_lib.restoration import RestorationNet, restore

    torch.manual_seed(0)
    bad = torch.rand(5, 1, 28, 28)
    code_net = RestorationNet(num_codes=8, ch=4)
    with pytest.raises(ValueError, match="decode="):
        restore(code_net, bad)
    seen = []

    def decode(codes):
        seen.append(codes)
        return codes.float().unsqueeze(1).repeat_interleave(4, -1).repeat_interleave(4, -2) / 8

    images, logits = restore(code_net, bad, decode=decode, batch=2, return_logits=True)
    assert logits.shape == (5, 8, 7, 7) and images.shape == (5, 1, 28, 28)
    assert torch.equal(seen[0], logits.argmax(1))                       # argmax per cell, decoded once
    with torch.no_grad():
        assert torch.allclose(logits, code_net(bad), atol=1e-6)         # batching changes nothing
    reg = RestorationNet(num_codes=None, ch=4)
    with torch.no_grad():
        reg.head.bias.fill_(5.0)                                        # pushes pixels far above 1
    out = restore(reg, bad)
    assert out.max() <= 1.0 and out.min() >= 0.0 and not reg.training


def test_measure_restoration_orders_a_better_restoration_first():
    from course_lib.restoration import measure_restoration

    torch.manual_seed(0)
    clean = torch.rand(40, 1, 28, 28)
    near, far = (clean + 0.02 * torch.randn_like(clean)).clamp(0, 1), (clean + 0.3 * torch.randn_like(clean)).clamp(0, 1)
    a, b = measure_restoration(near, clean), measure_restoration(far, clean)
    assert a["psnr"] > b["psnr"] + 10 and a["ssim"] > b["ssim"] and a["psnr_se"] > 0
    assert a["kid"].mean < b["kid"].mean
    with pytest.raises(ValueError, match="must match"):
        measure_restoration(near[:5], clean)


# --- notebook 13's set-up and measurement helpers ---------------------------------------------------------------
def test_train_restorer_fine_tunes_from_init_without_changing_it():
    from course_lib.restoration import train_restorer

    torch.manual_seed(0)
    bad, clean = torch.rand(64, 1, 28, 28), torch.rand(64, 1, 28, 28)
    codes = torch.randint(0, 8, (64, 7, 7))
    base = train_restorer(8, bad, clean, codes, steps=2, ch=4, batch_size=16, progress=False)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    tuned = train_restorer(8, bad, clean, codes, steps=1, ch=4, batch_size=16, init=base, progress=False)
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())          # init unchanged
    assert not all(torch.equal(before[k], v) for k, v in tuned.state_dict().items())     # one step moved it
    with pytest.raises(ValueError, match="codes="):
        train_restorer(8, bad, clean, steps=1)


def test_train_restorer_uses_the_given_loss():
    from course_lib.restoration import train_restorer

    seen = []

    def loss(logits, targets):
        seen.append((logits.shape, targets.shape))
        return F.cross_entropy(logits, targets)

    train_restorer(5, torch.rand(32, 1, 28, 28), torch.rand(32, 1, 28, 28), torch.randint(0, 5, (32, 7, 7)),
                   steps=2, ch=4, batch_size=8, loss=loss, progress=False)
    assert seen == [((8, 5, 7, 7), (8, 7, 7))] * 2


def test_held_out_images_excludes_the_test_images():
    from course_lib.data import load_dataset
    from course_lib.restoration import held_out_images

    test = load_dataset("fashion-mnist", split="test", n=50, full=False)
    val, ref = held_out_images("fashion-mnist", test.x, (20, 30))
    assert val.shape == (20, 1, 28, 28) and ref.shape == (30, 1, 28, 28)
    seen = {bytes(x.numpy().tobytes()) for x in test.x}
    assert not any(bytes(x.numpy().tobytes()) in seen for x in torch.cat([val, ref]))
    assert not any(torch.equal(a, b) for a in val for b in ref)                          # disjoint sets
    with pytest.raises(ValueError, match="asked for"):
        held_out_images("fashion-mnist", test.x, (10 ** 6,))


def test_kid_difference_sign_and_interval():
    from course_lib.restoration import kid_difference

    g = torch.Generator().manual_seed(0)
    ref = torch.randn(200, 8, generator=g)
    near = torch.randn(200, 8, generator=g)
    far = torch.randn(200, 8, generator=g) + 1.0
    d = kid_difference(near, far, ref, n_boot=100)
    assert d.value < 0 and d.high < 0 and d.low <= d.value <= d.high       # near is the closer set, clearly
    same = kid_difference(near, near.clone(), ref, n_boot=50)
    assert same.value == 0 and same.low == 0 and same.high == 0
    with pytest.raises(ValueError, match="same"):
        kid_difference(near, far[:100], ref)


class _TinyNet(torch.nn.Module):
    """Stands in for the judge / course nets: embed(x) = per-image mean, std and a gradient statistic."""

    def embed(self, x):
        gx = (x[..., 1:] - x[..., :-1]).abs().flatten(1).mean(1)
        return torch.stack([x.flatten(1).mean(1), x.flatten(1).std(1), gx], 1)

    def parameters(self, recurse=True):
        return iter([torch.zeros(1)])


def test_restoration_table_rows_region_and_reuse():
    from course_lib.restoration import restoration_table

    torch.manual_seed(0)
    clean, ref = torch.rand(40, 1, 28, 28), torch.rand(40, 1, 28, 28)
    blurry = F.avg_pool2d(clean, 3, 1, 1)
    noisy = (clean + 0.3 * torch.randn_like(clean)).clamp(0, 1)
    net = _TinyNet()
    t = restoration_table({"blurry": blurry, "noisy": noisy}, clean, ref, judge_net=net, feature_net=net, n_boot=20)
    assert [r["method"] for r in t] == ["real images (floor)", "blurry", "noisy"]
    assert "psnr" not in t.raw["real images (floor)"] and t.raw["blurry"]["psnr"].shape == (40,)
    d = t.psnr_difference("blurry", "noisy")
    assert abs(d.value - float((t.raw["blurry"]["psnr"] - t.raw["noisy"]["psnr"]).mean())) < 1e-9
    assert t.raw["blurry"]["sharpness"] < t.raw["real images (floor)"]["sharpness"]   # blur is less sharp
    region = torch.zeros(40, 1, 28, 28, dtype=torch.bool)
    region[:, :, 10:18, 10:18] = True
    outside = torch.where(region, clean, 1 - clean)                         # right in the region, wrong outside
    r = restoration_table({"x": outside}, clean, ref, judge_net=net, nets=("judge",), region=region, n_boot=20,
                          ssim_column=False, reuse=t)
    assert float(r.raw["x"]["psnr"].min()) > 90                             # exact in the region
    assert torch.equal(r.feats["judge"]["reference"], t.feats["judge"]["reference"])
    assert "SSIM" not in r.headers and len(r.headers) == 5
    with pytest.raises(ValueError, match="reuse"):
        restoration_table({"x": outside}, clean, ref[:20], judge_net=net, nets=("judge",), reuse=t)
    with pytest.raises(ValueError, match="shape"):
        restoration_table({"x": clean[:5]}, clean, ref, judge_net=net, nets=("judge",))


def test_draw_helpers_make_figures():
    import matplotlib

    matplotlib.use("Agg")
    from course_lib.restoration import draw_fills, draw_perception_distortion, restoration_table

    clean, ref = torch.rand(12, 1, 28, 28), torch.rand(12, 1, 28, 28)
    net = _TinyNet()
    t = restoration_table({"a": clean.flip(0), "b": 1 - clean}, clean, ref, judge_net=net, feature_net=net, n_boot=10)
    fig = draw_perception_distortion(t)
    assert len(fig.axes) == 2
    region = torch.zeros(12, 1, 28, 28, dtype=torch.bool)
    region[:, :, 4:12, 8:20] = True
    fig = draw_fills(clean, region, {"a": clean.flip(0)}, {"a": "1 dB"}, n=4)
    assert len(fig.axes) == 3 * 4 and "1 dB" in fig.axes[8].get_title(loc="left")


def test_tokenizer_config_ignores_the_notebooks_own_settings(monkeypatch):
    """COURSE_SETTINGS names notebook 13's settings (an open exercise changes `factor`); the tokenizer's table (a
    library table: overrides="ignore") must neither reject them nor take them."""
    from course_lib.tokenizer import tokenizer_config

    monkeypatch.setenv("COURSE_PROFILE", "quick")
    monkeypatch.delenv("COURSE_SMOKE", raising=False)
    monkeypatch.delenv("COURSE_SETTINGS", raising=False)
    plain = tokenizer_config()
    monkeypatch.setenv("COURSE_SETTINGS", '{"factor": 2}')
    assert tokenizer_config() == plain
    monkeypatch.setenv("COURSE_SETTINGS", '{"factor": 2, "tok_steps": 7}')
    assert tokenizer_config() == plain
