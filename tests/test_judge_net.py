"""The shipped judge network of notebook 11 (data/make_judge_net.py) and the 64x64 synthetic stand-in."""
import json

import pytest
import torch

from course_lib.data import package_asset
from course_lib.image_quality import judge_net_info, kernel_feature_distance, load_feature_net, load_judge_net


def test_judge_net_ships_small_with_a_card():
    p = package_asset("weights", "judge_net.pt")
    assert p.is_file() and p.stat().st_size < 1_000_000
    card = judge_net_info()
    for key in ("training_data", "objective", "augmentation", "steps", "train_seconds", "seed",
                "knn5_source_photo_accuracy_test", "kid_x1e3_test_crops_judge"):
        assert key in card, key
    assert "SimCLR" in card["objective"] and "NO colour jitter" in card["augmentation"]
    # better than chance at telling which photograph a held-out crop comes from
    assert card["knn5_source_photo_accuracy_test"] > 2 * card["knn_chance"]


def test_judge_net_embeds_and_is_frozen():
    net = load_judge_net()
    x = torch.rand(5, 3, 32, 32)
    f = net.embed(x)
    assert f.shape[0] == 5 and f.dim() == 2 and torch.isfinite(f).all()
    assert not any(p.requires_grad for p in net.parameters())
    assert net.embed(torch.rand(2, 3, 64, 64)).shape == (2, f.shape[1])  # 64x64 images are resized inside


def test_judge_sees_a_colour_cast_more_than_the_course_net():
    """The reason for a second network: the course net was trained with random tints. Measured on real crops."""
    from course_lib.data import load_dataset

    x = load_dataset("natural", split="test", full=False).x[:400]
    a, b = x[:200], x[200:]
    tinted = (b * torch.tensor([1.0, 0.8, 0.7]).view(1, 3, 1, 1)).clamp(0, 1)
    ratios = {}
    for name, net in (("judge", load_judge_net()), ("course", load_feature_net())):
        floor = kernel_feature_distance(a, b, net=net, subsets=20)
        cast = kernel_feature_distance(a, tinted, net=net, subsets=20)
        ratios[name] = cast.mean / max(floor.high, 1e-12)
    assert ratios["judge"] > 1 and ratios["judge"] > ratios["course"], ratios


def test_flowers_stand_in_has_the_full_shapes(monkeypatch):
    from course_lib.train_vqgan import load_images
    from course_lib.vqgan import vqgan_config

    monkeypatch.setenv("COURSE_OFFLINE", "1")
    cfg = vqgan_config("full", train={"n_train": 16})
    with pytest.warns(UserWarning, match="SYNTHETIC STAND-IN"):
        x = load_images(cfg, "train", allow_stand_in=True)
    assert x.shape == (16, 3, 64, 64) and 0 <= x.min() and x.max() <= 1
    with pytest.raises(SystemExit):
        load_images(cfg, "train")  # without the flag, offline full still stops with the reason
