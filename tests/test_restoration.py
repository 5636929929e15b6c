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
