"""Datasets and a fast in-memory batch loader.

    from course_lib.data import load_dataset, make_loader, DATASETS
    ds = load_dataset("fashion-mnist", split="train", n=2000)
    ds.x            # float32 (N, C, H, W) in [0, 1]   (MNIST / Fashion-MNIST 1x28x28, cifar10 / natural 3x32x32)
    ds.y            # int64 (N,) labels, -1 where there are none ("natural")
    ds.display_name # honest description, e.g. "Fashion-MNIST (2,000 images from the 8,000-image offline subset, train split)"
    loader = make_loader(ds, batch_size=64, shuffle=True, seed=0)
    for x, y in loader: ...

Where the images come from
--------------------------
* Profile ``quick`` (CI, laptops): always the small subsets shipped inside the package
  (``course_lib/assets/offline/*.npz``, rebuilt by ``data/make_offline_subsets.py``). Fast, offline, and present in
  a pip-installed ``course_lib`` too (no checkout needed).
* Profiles ``standard`` / ``full``: the full dataset via torchvision in :func:`data_root` (downloaded once).
  Fashion-MNIST is taken from Debian's ``dataset-fashion-mnist`` package when it is installed. Without network
  (or with ``COURSE_OFFLINE=1``) the offline subset is used instead, with one warning that says so.
  ``"cifar10"`` then falls back to ``"natural"`` (32x32 crops of scikit-image's public-domain photographs),
  again with a warning naming the stand-in. ``"natural"`` only exists as an offline subset.

Environment variables: ``COURSE_PROFILE`` (via course_lib.profiles), ``COURSE_OFFLINE=1`` (never download),
``COURSE_DATA`` (download folder for the full datasets; default: the checkout's ``data/`` folder, else
``~/.cache/course_lib/data``).
"""
from __future__ import annotations

import difflib
import gzip
import importlib.resources
import os
import shutil
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from . import colab as _colab
from .profiles import active_profile

__all__ = ["DATASETS", "DatasetInfo", "ImageDataset", "TensorLoader", "load_dataset", "make_loader",
           "data_root", "offline_dirs", "package_asset", "resolve_name"]

REPO_DATA = Path(__file__).resolve().parent.parent / "data"     # data/ of a checkout (may not exist when installed)
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")   # Debian package dataset-fashion-mnist
REBUILD_HINT = ("The offline subsets ship inside the course_lib package (course_lib/assets/offline/) and are rebuilt "
                "by data/make_offline_subsets.py in the course repository. Reinstall course_lib "
                f"(pip install --force-reinstall '{_colab.PIP_SPEC}'), or set COURSE_DATA to a folder that "
                "contains offline/<file>.")


def package_asset(*parts: str) -> Path:
    """A file shipped inside the installed ``course_lib`` package, e.g. ``package_asset("offline", "mnist.npz")``.

    The offline subsets, the feature-network weights and their licences live in ``course_lib/assets/`` so that a
    pip-installed course (Colab, Kaggle: no checkout, no data/ folder) finds them from any working directory.
    """
    ref = importlib.resources.files("course_lib").joinpath("assets", *parts)
    if isinstance(ref, Path):
        return ref
    # A zipped install: copy the file out once into the cache folder and use that copy.
    target = Path.home() / ".cache" / "course_lib" / "assets" / Path(*parts)
    if not target.is_file() and ref.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_bytes(ref.read_bytes())
        os.replace(tmp, target)
    return target


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about one dataset of the registry."""
    name: str
    display: str
    shape: Tuple[int, int, int]          # (C, H, W)
    class_names: Tuple[str, ...]         # empty when unlabelled
    offline_file: str                    # file name in <data root>/offline/
    torchvision_class: Optional[str]     # torchvision.datasets.<class>; None: offline only
    license: str
    aliases: Tuple[str, ...] = ()

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


DATASETS: Dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        "mnist", "MNIST", (1, 28, 28), tuple(str(d) for d in range(10)), "mnist.npz", "MNIST",
        "CC BY-SA 3.0 (Yann LeCun and Corinna Cortes)", aliases=("mnist-digits",)),
    "fashion-mnist": DatasetInfo(
        "fashion-mnist", "Fashion-MNIST", (1, 28, 28),
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        "fashion_mnist.npz", "FashionMNIST", "MIT (Zalando SE)", aliases=("fashion", "fmnist")),
    "cifar10": DatasetInfo(
        "cifar10", "CIFAR-10", (3, 32, 32),
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        "", "CIFAR10", "no published licence: never redistributed by this course, only downloaded by torchvision"),
    "natural": DatasetInfo(
        "natural", "Natural 32x32 crops of scikit-image photographs", (3, 32, 32), (), "natural.npz", None,
        "public domain / CC0 (scikit-image sample photographs; see data/README.md)",
        aliases=("natural-images", "skimage", "crops")),
}


# ----------------------------------------------------------------------------------------------------- dataset
@dataclass
class ImageDataset:
    """Images in memory. ``x``: float32 (N, C, H, W) in [0, 1]; ``y``: int64 (N,), -1 where unlabelled.

    Indexing gives ``(x[i], y[i])``, so it also works with ``torch.utils.data.DataLoader``.
    """
    x: torch.Tensor
    y: torch.Tensor
    name: str
    display_name: str
    class_names: Tuple[str, ...] = ()
    source: str = "offline subset"       # "offline subset" | "torchvision" | "debian package"
    split: str = "train"
    requested: str = ""                  # the name that was asked for (differs from name after a fallback)
    info: Dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def shape(self) -> Tuple[int, ...]:
        """(C, H, W) of one image."""
        return tuple(self.x.shape[1:])

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, i):
        return self.x[i], self.y[i]

    def __repr__(self) -> str:
        return (f"ImageDataset({self.display_name}: x {tuple(self.x.shape)} {str(self.x.dtype).replace('torch.', '')}"
                f" on {self.x.device}, {self.num_classes or 'no'} classes, source={self.source!r})")

    def subset(self, n: int, seed: int = 0) -> "ImageDataset":
        """A seeded subset of n images, class-balanced when labelled; the first n of a larger subset (same seed)."""
        n = _check_n(n, len(self), self.display_name)
        if n == len(self):
            return self
        idx = torch.from_numpy(_balanced_order(self.y.cpu().numpy(), seed)[:n]).to(self.x.device)
        base = self.display_name.split(" (")[0]
        origin = self.info.get("origin", f"{len(self):,} images")
        display = _display(base, origin, n, len(self) if "origin" not in self.info else None, self.split,
                           self.info.get("stand_in_for"))
        return replace(self, x=self.x[idx], y=self.y[idx], display_name=display)

    def to(self, device) -> "ImageDataset":
        """The same dataset with x and y on `device` (e.g. "cuda"), for loaders that never copy a batch."""
        return replace(self, x=self.x.to(device), y=self.y.to(device))


def _balanced_order(y: np.ndarray, seed: int) -> np.ndarray:
    """A seeded order of all indices that is class-balanced in every prefix: round-robin over the classes
    (each class shuffled; class order random within a round). Unlabelled data (y == -1): a plain permutation."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(y))
    if len(y) == 0 or (y < 0).all():
        return perm
    yp = y[perm]
    rank = np.empty(len(y), dtype=np.int64)          # position of each element within its class, in perm order
    for c in np.unique(yp):
        m = yp == c
        rank[m] = np.arange(m.sum())
    return perm[np.lexsort((np.arange(len(y)), rank))]


def _check_n(n, available: int, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an int (number of images) or None for all, got {n!r}")
    if n <= 0:
        raise ValueError(f"n must be positive (number of images), got {n}")
    if n > available:
        warnings.warn(f"Asked for n={n:,} images but {what} has only {available:,}: using all {available:,}.",
                      stacklevel=3)
        return available
    return int(n)


def _display(base: str, origin: str, n: int, total: Optional[int], split: str, stand_in_for: Optional[str]) -> str:
    """E.g. "MNIST (2,000 images from the 4,000-image offline subset, train split)"."""
    what = origin if n == total else f"{n:,} images from the {origin}"
    extra = f"; stand-in for {stand_in_for}" if stand_in_for else ""
    return f"{base} ({what}, {split} split{extra})"


# ------------------------------------------------------------------------------------------------- resolving
def _canon(s: str) -> str:
    return "".join(ch for ch in s.lower() if ch.isalnum())


def resolve_name(name: str) -> str:
    """The registry key for `name` (case and punctuation ignored: "FashionMNIST", "fashion_mnist", "CIFAR-10")."""
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a string, one of {sorted(DATASETS)}, got {name!r}")
    key = _canon(name)
    for k, info in DATASETS.items():
        if key == _canon(k) or key in {_canon(a) for a in info.aliases}:
            return k
    close = difflib.get_close_matches(name.lower(), list(DATASETS), n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"Unknown dataset {name!r}. Valid names: {', '.join(sorted(DATASETS))}.{hint}")


def offline_requested() -> bool:
    """True when ``COURSE_OFFLINE`` forbids downloads (any value but empty, 0, false, no)."""
    return os.environ.get("COURSE_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def data_root(root: Union[str, Path, None] = None) -> Path:
    """Download folder for the full datasets: `root` if given, else $COURSE_DATA, else the repository's data/ folder
    when course_lib sits in a checkout, else ~/.cache/course_lib/data."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get("COURSE_DATA"):
        return Path(os.environ["COURSE_DATA"]).expanduser()
    if (REPO_DATA / "make_offline_subsets.py").is_file():
        return REPO_DATA
    return Path.home() / ".cache" / "course_lib" / "data"


def offline_dirs(root: Union[str, Path, None] = None) -> list:
    """Folders searched for the offline subsets, in order: <root>/offline (when root is given),
    $COURSE_DATA/offline (when set), then the copy shipped inside the package (course_lib/assets/offline)."""
    cands = []
    if root is not None:
        cands.append(Path(root).expanduser() / "offline")
    if os.environ.get("COURSE_DATA"):
        cands.append(Path(os.environ["COURSE_DATA"]).expanduser() / "offline")
    cands.append(package_asset("offline"))
    return list(dict.fromkeys(cands))


_NPZ_CACHE: Dict[Tuple[str, float], Dict[str, np.ndarray]] = {}


def _read_offline(info: DatasetInfo, root) -> Tuple[Dict[str, np.ndarray], Path]:
    cands = [d / info.offline_file for d in offline_dirs(root)]
    path = next((p for p in cands if p.is_file()), None)
    if path is None:
        raise FileNotFoundError(f"Offline subset for {info.display!r} not found: expected {info.offline_file} in "
                                f"{' or '.join(str(c.parent) for c in cands)}. {REBUILD_HINT}")
    key = (str(path), path.stat().st_mtime)
    if key not in _NPZ_CACHE:
        try:
            with np.load(path, allow_pickle=False) as z:
                _NPZ_CACHE[key] = {k: z[k] for k in z.files}
        except Exception as e:   # truncated download, git-lfs pointer, ...
            raise RuntimeError(f"Could not read the offline subset {path} ({type(e).__name__}: {e}). The file may be "
                               f"damaged or a git-lfs pointer. {REBUILD_HINT}") from e
    return _NPZ_CACHE[key], path


def _from_offline(info: DatasetInfo, split: str, root) -> Tuple[np.ndarray, np.ndarray, str, Dict[str, str]]:
    arrays, path = _read_offline(info, root)
    x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
    meta = {k: str(arrays[k]) for k in ("source", "license", "made_by") if k in arrays}
    meta["file"] = str(path)
    return x, y, f"{len(x):,}-image offline subset", meta


def _gunzip_debian_fashion(root: Path) -> Path:
    """Unzip Debian's gzipped IDX files into <root>/FashionMNIST/raw/ (kept unzipped: torchvision then finds them
    without a download; re-gzipped copies would fail its MD5 check)."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for gz in sorted(DEBIAN_FASHION_DIR.glob("*-ubyte.gz")):
        dst = raw / gz.name[:-3]
        if not dst.exists():
            tmp = dst.with_suffix(".tmp")
            with gzip.open(gz, "rb") as fin, open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout)
            os.replace(tmp, dst)
    return raw


def _from_torchvision(info: DatasetInfo, split: str, root: Path, download: bool):
    """Full dataset via torchvision. Returns (x uint8 NCHW, y, description, source) or raises."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, info.torchvision_class)
    source = "torchvision"
    if info.name == "fashion-mnist" and DEBIAN_FASHION_DIR.is_dir():
        _gunzip_debian_fashion(root)
        source = "debian package"
    train = split == "train"
    try:
        ds = cls(str(root), train=train, download=False)
    except RuntimeError:
        if not download:
            raise
        ds = cls(str(root), train=train, download=True)
    x = np.asarray(ds.data)
    x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)     # (N,H,W) or (N,H,W,C) -> (N,C,H,W)
    y = np.asarray(ds.targets, dtype=np.int64)
    return np.ascontiguousarray(x), y, f"full {len(x):,}-image set", source


def load_dataset(name: str, split: str = "train", n: Optional[int] = None, *, root=None,
                 download: Optional[bool] = None, full: Optional[bool] = None, seed: int = 0) -> ImageDataset:
    """Load a dataset into memory as an :class:`ImageDataset` (x float32 (N,C,H,W) in [0,1], y int64).

    name:     "mnist", "fashion-mnist", "cifar10" or "natural" (case and punctuation ignored).
    split:    "train" or "test".
    n:        None for all images, else a seeded, class-balanced subset of n (clipped, with a warning, if larger).
    root:     data folder for the full datasets (default :func:`data_root`); offline subsets are looked up in
              <root>/offline/, then $COURSE_DATA/offline/, then the package's own copy (course_lib/assets/offline/).
    download: None or True: downloads allowed unless COURSE_OFFLINE=1 (which always wins); False: never.
    full:     None: by profile (quick -> offline subset; standard/full -> full dataset);
              True: full dataset (falls back to the subset with a warning if unavailable); False: offline subset.
    seed:     seed of the n-subset.
    """
    key = resolve_name(name)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    info = DATASETS[key]
    if full is None:
        full = active_profile() != "quick"
    may_download = (not offline_requested()) if download is None else (bool(download) and not offline_requested())

    meta: Dict[str, str] = {}
    x = None
    if full and info.torchvision_class is not None:
        droot = data_root(root)
        try:
            x, y, desc, source = _from_torchvision(info, split, droot, may_download)
            meta = {"license": info.license, "root": str(droot)}
        except Exception as e:
            if not may_download and "not found" in str(e).lower():
                why = "is not in " + str(droot) + " and downloads are off (COURSE_OFFLINE=1 or download=False)"
            else:
                why = f"could not be loaded from {droot} ({type(e).__name__}: {str(e)[:160]})"
            if info.offline_file:
                stand_in, used = info, f"the {info.display} offline subset"
            else:
                stand_in = DATASETS["natural"]
                used = (f"a stand-in, {stand_in.display!r} (offline subset, no labels; {info.display} itself is "
                        f"never shipped: it has no published licence)")
            how = ("unset COURSE_OFFLINE and run once with network access" if offline_requested() else
                   "run once with network access")
            warnings.warn(
                f"{info.display}: the full dataset {why}. Using {used} instead. To get the full set, {how} "
                f"(torchvision downloads it to {droot}), or put the torchvision files there.", stacklevel=2)
            info = stand_in
    elif not info.offline_file:          # cifar10 under quick / full=False
        stand_in = DATASETS["natural"]
        warnings.warn(f"{info.display} is never shipped offline (no published licence), so offline (quick profile or "
                      f"full=False) {stand_in.display!r} is used as a stand-in (no labels). Use the standard profile "
                      f"with network access for the real {info.display}.", stacklevel=2)
        info = stand_in
    if x is None:
        x, y, desc, meta = _from_offline(info, split, root)
        source = "offline subset"

    stand_in_for = DATASETS[key].display if info.name != key else None
    total = len(x)
    if n is not None:
        n = _check_n(n, total, f"{info.display} ({desc}, {split} split)")
        if n < total:
            idx = _balanced_order(y, seed)[:n]
            x, y = x[idx], y[idx]
    display = _display(info.display, desc, len(x), total, split, stand_in_for)
    meta.update(origin=desc, **({"stand_in_for": stand_in_for} if stand_in_for else {}))
    xt = torch.from_numpy(np.ascontiguousarray(x)).float().div_(255.0)
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64).copy())
    assert xt.shape[1:] == info.shape, (xt.shape, info.shape)
    return ImageDataset(xt, yt, info.name, display, info.class_names, source, split, requested=key, info=meta)


# ------------------------------------------------------------------------------------------------------ loader
class TensorLoader:
    """Batches (x, y) from tensors in memory: no workers, no per-item Python, no copies beyond the batch.

    The shuffle order of epoch e is a pure function of (seed, e): call ``set_epoch(e)`` before iterating to get
    epoch e's batches (what a resumed training run needs); iterating without it uses the next epoch each time.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 64, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = True, device=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        n = int(x.shape[0])
        if n == 0:
            raise ValueError("cannot make a loader over an empty dataset")
        if drop_last and batch_size > n:
            raise ValueError(f"batch_size={batch_size} is larger than the dataset ({n} images) with drop_last=True, "
                             f"so an epoch would have no batch: use batch_size <= {n} or drop_last=False")
        if y.shape[0] != n:
            raise ValueError(f"x and y have different lengths: {n} and {y.shape[0]}")
        if device is not None:
            x, y = x.to(device), y.to(device)
        self.x, self.y = x, y
        self.batch_size, self.shuffle, self.seed, self.drop_last = int(batch_size), shuffle, seed, drop_last
        self.epoch = 0

    def __len__(self) -> int:
        n = int(self.x.shape[0])
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """The next iteration yields the batches of this epoch."""
        self.epoch = int(epoch)

    def order(self, epoch: int) -> torch.Tensor:
        """The permutation of indices used in `epoch` (identity when shuffle=False)."""
        n = int(self.x.shape[0])
        if not self.shuffle:
            return torch.arange(n)
        state = np.random.SeedSequence([int(self.seed) & 0xFFFFFFFF, int(epoch)]).generate_state(2, np.uint32)
        g = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
        return torch.randperm(n, generator=g)

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        n, bs = int(self.x.shape[0]), self.batch_size
        if not self.shuffle:
            for i in range(len(self)):
                yield self.x[i * bs:(i + 1) * bs], self.y[i * bs:(i + 1) * bs]
            return
        perm = self.order(epoch).to(self.x.device)
        for i in range(len(self)):
            idx = perm[i * bs:(i + 1) * bs]
            yield self.x[idx], self.y[idx]

    def __repr__(self) -> str:
        return (f"TensorLoader({int(self.x.shape[0])} images, batch_size={self.batch_size}, {len(self)} batches/epoch, "
                f"shuffle={self.shuffle}, seed={self.seed}, drop_last={self.drop_last})")


def make_loader(data: Union[ImageDataset, torch.Tensor, Sequence[torch.Tensor]], batch_size: int = 64,
                shuffle: bool = True, seed: int = 0, drop_last: bool = True, device=None) -> TensorLoader:
    """A :class:`TensorLoader` over an ImageDataset, a tensor of images (labels -1), or a pair (x, y).

    ``len(loader)`` is the number of batches per epoch; each item is a tuple ``(x, y)``.
    """
    if isinstance(data, ImageDataset):
        x, y = data.x, data.y
    elif isinstance(data, torch.Tensor):
        x, y = data, torch.full((data.shape[0],), -1, dtype=torch.long, device=data.device)
    elif isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        x, y = data
    else:
        raise TypeError(f"make_loader expects an ImageDataset (from load_dataset), a tensor of images or a pair "
                        f"(x, y) of tensors, got {type(data).__name__}")
    return TensorLoader(x, y, batch_size=batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last, device=device)
