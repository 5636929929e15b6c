"""Tests of course_lib.data: offline subsets, fallbacks (never a download), errors, and the batch loader."""
import warnings

import numpy as np
import pytest
import torch

import course_lib.data as data
from course_lib.data import DATASETS, ImageDataset, load_dataset, make_loader, resolve_name

COUNTS = {"mnist": (4000, 1000), "fashion-mnist": (8000, 2000), "natural": (4000, 1000)}


@pytest.fixture(autouse=True)
def offline_quick(monkeypatch):
    """Every test runs offline under the quick profile unless it says otherwise; nothing may download."""
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    import course_lib.profiles as profiles

    monkeypatch.setattr(profiles, "_override", None, raising=False)   # no set_profile() left over from elsewhere
    monkeypatch.delenv("COURSE_DATA", raising=False)


@pytest.fixture
def no_download(monkeypatch):
    """Make every torchvision dataset class fail loudly if asked to download."""
    import torchvision.datasets as tvd

    calls = []
    for cls_name in ("MNIST", "FashionMNIST", "CIFAR10"):
        real = getattr(tvd, cls_name)

        def fake(root, train=True, download=False, _real=real, _name=cls_name, **kw):
            calls.append((_name, root, download))
            if download:
                raise AssertionError(f"{_name} download attempted")
            return _real(root, train=train, download=False, **kw)

        monkeypatch.setattr(tvd, cls_name, fake)
    return calls


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "natural"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_offline_subsets(name, split):
    ds = load_dataset(name, split)
    info = DATASETS[name]
    n = COUNTS[name][split == "test"]
    assert isinstance(ds, ImageDataset) and len(ds) == n
    assert ds.x.shape == (n, *info.shape) and ds.x.dtype == torch.float32
    assert ds.y.shape == (n,) and ds.y.dtype == torch.int64
    assert 0.0 <= ds.x.min() and ds.x.max() <= 1.0 and ds.x.max() > 0.9      # full range used, not 0..1/255
    assert ds.source == "offline subset" and ds.split == split and ds.name == name
    assert f"{n:,}-image offline subset" in ds.display_name and f"{split} split" in ds.display_name
    if info.num_classes:
        counts = torch.bincount(ds.y, minlength=10)
        assert ds.num_classes == 10 and len(ds.class_names) == 10
        assert (counts == n // 10).all(), counts                          # the subsets are class-balanced
    else:
        assert (ds.y == -1).all() and ds.num_classes == 0
    # a tiny image is not constant: real content
    assert ds.x[:16].flatten(1).std(1).min() > 0.01


def test_natural_train_and_test_are_disjoint():
    tr, te = load_dataset("natural", "train"), load_dataset("natural", "test")
    a = {bytes(v) for v in (tr.x * 255).round().to(torch.uint8).flatten(1).numpy()}
    b = {bytes(v) for v in (te.x * 255).round().to(torch.uint8).flatten(1).numpy()}
    assert not a & b


@pytest.mark.parametrize("alias,key", [("MNIST", "mnist"), ("fashion_mnist", "fashion-mnist"),
                                       ("FashionMNIST", "fashion-mnist"), ("CIFAR-10", "cifar10"),
                                       ("cifar_10", "cifar10"), ("Natural", "natural")])
def test_aliases(alias, key):
    assert resolve_name(alias) == key


def test_unknown_name_lists_names_and_suggests():
    with pytest.raises(ValueError) as e:
        load_dataset("fashon-mnist")
    msg = str(e.value)
    assert all(k in msg for k in DATASETS) and "Did you mean 'fashion-mnist'" in msg
    with pytest.raises(ValueError, match="split"):
        load_dataset("mnist", split="val")


def test_cifar10_quick_uses_natural_with_warning(no_download):
    with pytest.warns(UserWarning, match="stand-in"):
        ds = load_dataset("cifar10")
    assert ds.name == "natural" and ds.requested == "cifar10"
    assert ds.x.shape[1:] == (3, 32, 32) and "stand-in for CIFAR-10" in ds.display_name
    assert no_download == []                                     # quick never even touches torchvision


def test_cifar10_standard_offline_falls_back_without_download(monkeypatch, tmp_path, no_download):
    monkeypatch.setenv("COURSE_PROFILE", "standard")
    with pytest.warns(UserWarning) as rec:
        ds = load_dataset("cifar10", "test", root=tmp_path)
    msgs = [str(w.message) for w in rec]
    assert len(msgs) == 1, msgs                                   # ONE clear warning
    assert "stand-in" in msgs[0] and "Natural" in msgs[0] and "COURSE_OFFLINE" in msgs[0]
    assert ds.name == "natural" and len(ds) == 1000 and ds.source == "offline subset"
    assert no_download and all(d is False for _, _, d in no_download)


def test_mnist_standard_offline_falls_back_to_subset(monkeypatch, tmp_path, no_download):
    monkeypatch.setenv("COURSE_PROFILE", "standard")
    with pytest.warns(UserWarning, match="MNIST offline subset"):
        ds = load_dataset("mnist", root=tmp_path)
    assert len(ds) == 4000 and "offline subset" in ds.display_name


@pytest.mark.skipif(not data.DEBIAN_FASHION_DIR.is_dir(), reason="Debian dataset-fashion-mnist not installed")
def test_fashion_full_from_debian_package(monkeypatch, tmp_path, no_download):
    monkeypatch.setenv("COURSE_PROFILE", "standard")
    with warnings.catch_warnings():
        warnings.simplefilter("error")                            # no fallback warning
        ds = load_dataset("fashion-mnist", "test", n=500, root=tmp_path)
    assert ds.source == "debian package" and len(ds) == 500
    assert "500 images from the full 10,000-image set" in ds.display_name
    assert (torch.bincount(ds.y, minlength=10) == 50).all()
    raw = tmp_path / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(
        ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "train-images-idx3-ubyte", "train-labels-idx1-ubyte"])
    assert no_download == [("FashionMNIST", str(tmp_path), False)]


def test_missing_offline_file_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "package_asset", lambda *parts: tmp_path.joinpath("nothing", *parts))
    with pytest.raises(FileNotFoundError) as e:
        load_dataset("mnist", root=tmp_path)
    msg = str(e.value)
    assert "mnist.npz" in msg and str(tmp_path / "offline") in msg
    assert "make_offline_subsets.py" in msg and "COURSE_DATA" in msg


def test_course_data_env_is_searched(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "package_asset", lambda *parts: tmp_path.joinpath("nothing", *parts))
    (tmp_path / "offline").mkdir()
    x = np.zeros((4, 1, 28, 28), np.uint8)
    x[:, :, 0, 0] = 255
    np.savez_compressed(tmp_path / "offline" / "mnist.npz", x_train=x, y_train=np.arange(4), x_test=x[:2],
                        y_test=np.arange(2))
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    ds = load_dataset("mnist")
    assert len(ds) == 4 and ds.x.max() == 1.0


def test_n_subset_is_seeded_balanced_and_nested():
    a = load_dataset("fashion-mnist", n=200)
    b = load_dataset("fashion-mnist", n=200)
    c = load_dataset("fashion-mnist", n=50)
    assert torch.equal(a.x, b.x) and len(a) == 200
    assert (torch.bincount(a.y, minlength=10) == 20).all()
    assert torch.equal(c.x, a.x[:50])                              # first n of a larger subset
    assert "200 images from the 8,000-image offline subset" in a.display_name
    d = load_dataset("fashion-mnist", n=200, seed=1)
    assert not torch.equal(a.x, d.x)
    assert len(a.subset(20)) == 20 and (torch.bincount(a.subset(20).y, minlength=10) == 2).all()


def test_n_too_large_is_clipped_with_warning():
    with pytest.warns(UserWarning, match="only 1,000"):
        ds = load_dataset("mnist", "test", n=5000)
    assert len(ds) == 1000
    with pytest.raises(ValueError):
        load_dataset("mnist", n=0)


def test_loader_batches_and_drop_last():
    ds = load_dataset("mnist", "test", n=100)
    loader = make_loader(ds, batch_size=32)
    assert len(loader) == 3 and len(list(loader)) == 3
    assert all(x.shape == (32, 1, 28, 28) and y.shape == (32,) for x, y in loader)
    loader = make_loader(ds, batch_size=32, drop_last=False, shuffle=False)
    batches = list(loader)
    assert len(loader) == 4 == len(batches) and batches[-1][0].shape[0] == 4
    assert torch.equal(torch.cat([x for x, _ in batches]), ds.x)   # no shuffle: every image once, in order
    with pytest.raises(ValueError, match="larger than the dataset"):
        make_loader(ds, batch_size=101)
    assert len(make_loader(ds, batch_size=101, drop_last=False)) == 1
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="batch_size"):
            make_loader(ds, batch_size=bad)


def test_loader_shuffle_is_a_function_of_seed_and_epoch():
    ds = load_dataset("mnist", "test", n=64)
    a, b = make_loader(ds, batch_size=16, seed=3), make_loader(ds, batch_size=16, seed=3)
    e0 = [y for _, y in a]
    e1 = [y for _, y in a]                                         # iterating again advances the epoch
    assert not all(torch.equal(p, q) for p, q in zip(e0, e1))
    b.set_epoch(1)                                                 # a resumed run jumps straight to epoch 1
    assert all(torch.equal(p, q) for p, q in zip(e1, [y for _, y in b]))
    b.set_epoch(0)
    assert all(torch.equal(p, q) for p, q in zip(e0, [y for _, y in b]))
    c = make_loader(ds, batch_size=16, seed=4)
    assert not all(torch.equal(p, q) for p, q in zip(e0, [y for _, y in c]))
    # each epoch is a permutation: every image exactly once
    xs = torch.cat([x for x, _ in a])
    assert torch.equal(xs.flatten(1).sum(1).sort().values, ds.x.flatten(1).sum(1).sort().values)


def test_loader_accepts_tensor_and_pair():
    x = torch.rand(10, 3, 8, 8)
    xb, yb = next(iter(make_loader(x, batch_size=5)))
    assert xb.shape == (5, 3, 8, 8) and (yb == -1).all()
    xb, yb = next(iter(make_loader((x, torch.arange(10)), batch_size=5, shuffle=False)))
    assert torch.equal(yb, torch.arange(5))
    with pytest.raises(TypeError):
        make_loader([1, 2, 3])
