"""Image-quality measures: SSIM, feature networks, Frechet and kernel distances with real intervals, model-free
realism statistics. Built up in notebook 10 (judging image models).

Everything here runs offline in pure torch:

* :func:`ssim` -- structural similarity (Wang, Bovik, Sheikh, Simoncelli 2004), no weights needed
  (PSNR lives in :mod:`course_lib.metrics`).
* :class:`FeatureNet` / :func:`load_feature_net` -- the course's own small convolutional network
  (a Fashion-MNIST classifier trained with colour tinting and random crops by ``data/make_feature_net.py``,
  shipped inside the package as ``course_lib/assets/weights/feature_net.pt``). It stands in for ImageNet networks
  (VGG, Inception), whose weights cannot be downloaded offline. It is used by the perceptual loss
  (:mod:`course_lib.perceptual`) and by :func:`frechet_feature_distance`.
* :func:`load_judge_net` / :func:`judge_net_info` -- the judge (a network no model trains against) and its card:
  training data and measured blind spots.
* :func:`frechet_distance` -- the Frechet distance between two Gaussians fitted to feature sets
  (Heusel et al. 2017, arXiv:1706.08500), computed in float64 with a symmetric matrix square root;
  :func:`frechet_distance_interval` adds a bootstrap interval (FD is biased upwards at small N).
* :func:`frechet_feature_distance` -- "FD (course feature net)": the same recipe as FID but with the course
  network's features. It is NOT FID: numbers are comparable only with other numbers from the same network.
* :func:`kernel_distance` -- KID (Binkowski et al. 2018), unbiased, with a bootstrap confidence interval over images.
* Model-free measures: :func:`log_spectrum_distance`, :func:`gradient_distance`, :func:`colour_distance`,
  :func:`sharpness_ratio`; all of them and both networks in one table: :func:`realism_table`.
* :func:`try_inception_fid` -- the real FID through ``torchmetrics`` when it is installed and its Inception
  weights can be downloaded (e.g. on Colab); otherwise (and always under ``COURSE_OFFLINE=1``) ``None`` with a message.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import NamedTuple, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "ssim",
    "FeatureNet",
    "load_feature_net",
    "feature_net_path",
    "frechet_distance",
    "frechet_feature_distance",
    "KID",
    "kernel_distance",
    "kernel_feature_distance",
    "try_inception_fid",
    "FEATURE_NET_SCRIPT",
    "load_judge_net",
    "judge_net_info",
    "JUDGE_NET_SCRIPT",
    "kid_all_pairs",
    "kid_bootstrap",
    "kid_on_rows",
    "sample_size_curve",
    "equal_psnr_degradations",
    "draw_perception_distortion",
    "frechet_distance_interval",
    "radial_log_spectrum",
    "log_spectrum_distance",
    "gradient_distance",
    "colour_distance",
    "colour_stats",
    "sharpness_ratio",
    "realism_table",
    "RealismRows",
]


FEATURE_NET_SCRIPT = "data/make_feature_net.py"


# --------------------------------------------------------------------------------------------------- checks
def _check_images(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, C, H, W), got {type(x).__name__}")
    if x.dim() != 4:
        hint = " (add a batch dimension with x.unsqueeze(0))" if x.dim() == 3 else ""
        raise ValueError(f"{name} must have shape (N, C, H, W), got {tuple(x.shape)}{hint}")


# ---------------------------------------------------------------------------------------------------- SSIM
def _gaussian_window(size: int, sigma: float, dtype, device) -> torch.Tensor:
    coords = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    window: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    reduction: str = "mean",
) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004, "Image quality assessment: from error visibility to
    structural similarity"), with the paper's settings: an 11x11 Gaussian window (sigma 1.5),
    K1 = 0.01, K2 = 0.03, C1 = (K1 L)^2, C2 = (K2 L)^2 where L = ``data_range``.

    Local statistics are computed with a separable Gaussian filter over the 'valid' region (no padding),
    per channel; the SSIM map is averaged over positions and channels.

    Args:
        x, y: images (N, C, H, W) with values in [0, data_range]; H, W >= ``window``.
        reduction: "mean" -> scalar (mean over images); "none" -> (N,) one value per image.
    Returns:
        SSIM in [-1, 1]; 1 only for identical images. Computed in float32 (or float64 if given).
    """
    _check_images(x, "x")
    _check_images(y, "y")
    if x.shape != y.shape:
        raise ValueError(f"ssim needs x and y of the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if min(x.shape[-2:]) < window:
        raise ValueError(f"ssim needs images at least {window}x{window} (the window size), got {tuple(x.shape[-2:])}; "
                         f"pass a smaller odd window=...")
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    x, y = x.to(dtype), y.to(dtype)
    n, c = x.shape[:2]
    g = _gaussian_window(window, sigma, dtype, x.device)
    gh = g.view(1, 1, 1, window).repeat(c, 1, 1, 1)
    gv = g.view(1, 1, window, 1).repeat(c, 1, 1, 1)

    def blur(t):
        return F.conv2d(F.conv2d(t, gh, groups=c), gv, groups=c)

    mu_x, mu_y = blur(x), blur(y)
    sxx = blur(x * x) - mu_x**2
    syy = blur(y * y) - mu_y**2
    sxy = blur(x * y) - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    smap = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))
    per_image = smap.flatten(1).mean(1)
    return per_image.mean() if reduction == "mean" else per_image


# ----------------------------------------------------------------------------------------- the feature net
class FeatureNet(nn.Module):
    """The course's small feature network: 4 convolutional stages (widths 32, 64, 128, 128), each
    conv3x3 + ReLU at resolutions 32, 16, 8, 4 (max-pool between stages), then global average pooling
    and a linear classifier (10 Fashion-MNIST classes).

    Input: (N, 1 or 3, H, W) images in [0, 1]. Grey images are repeated to 3 channels; any size other than
    32x32 (e.g. 28x28) is resized to 32x32 bilinearly inside. Values are mapped to [-1, 1].

    ``batchnorm=True`` builds the training variant (conv + BatchNorm + ReLU); ``data/make_feature_net.py``
    folds the BatchNorm into the convolutions before saving, so the shipped network is plain conv + ReLU and
    behaves identically in train() and eval() mode.
    """

    widths: Sequence[int] = (32, 64, 128, 128)

    def __init__(self, widths: Sequence[int] = (32, 64, 128, 128), num_classes: int = 10, batchnorm: bool = False):
        super().__init__()
        self.widths = tuple(widths)
        stages = []
        c_in = 3
        for w in self.widths:
            layers = [nn.Conv2d(c_in, w, 3, padding=1, bias=not batchnorm)]
            if batchnorm:
                layers.append(nn.BatchNorm2d(w))
            layers.append(nn.ReLU())
            stages.append(nn.Sequential(*layers))
            c_in = w
        self.stages = nn.ModuleList(stages)
        self.head = nn.Linear(c_in, num_classes)

    @staticmethod
    def prepare(x: torch.Tensor) -> torch.Tensor:
        """(N, 1|3, H, W) in [0, 1] -> (N, 3, 32, 32) in [-1, 1]."""
        _check_images(x, "FeatureNet input")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif x.shape[1] != 3:
            raise ValueError(f"FeatureNet expects 1 (grey) or 3 (RGB) channels first, got shape {tuple(x.shape)}; "
                             f"channels-last input needs x.permute(0, 3, 1, 2)")
        if x.shape[-2:] != (32, 32):
            x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
        return x * 2 - 1

    def features(self, x: torch.Tensor) -> list:
        """List of the 4 stage activations: (N, 32, 32, 32), (N, 64, 16, 16), (N, 128, 8, 8), (N, 128, 4, 4)."""
        h = self.prepare(x)
        feats = []
        for i, stage in enumerate(self.stages):
            if i > 0:
                h = F.max_pool2d(h, 2)
            h = stage(h)
            feats.append(h)
        return feats

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 128) globally average-pooled last-stage features (the input of the classifier)."""
        return self.features(x)[-1].mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (N, 10)."""
        return self.head(self.embed(x))

    @torch.no_grad()
    def folded(self) -> "FeatureNet":
        """A plain (no BatchNorm) copy in eval mode that computes the same function as this network in eval mode.

        Each conv (no bias) + BatchNorm (running statistics) becomes one conv with bias:
        ``w' = w * gamma / sqrt(var + eps)``, ``b' = beta - mean * gamma / sqrt(var + eps)``. The training scripts
        under ``data/`` call it before saving, so the shipped networks behave the same in train() and eval() mode.
        """
        if not isinstance(self.stages[0][1], nn.BatchNorm2d):
            raise ValueError("folded() needs the BatchNorm variant (FeatureNet(batchnorm=True)); this one has none.")
        plain = FeatureNet(widths=self.widths, num_classes=self.head.out_features, batchnorm=False)
        for st_t, st_p in zip(self.stages, plain.stages):
            conv, bn = st_t[0], st_t[1]
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            st_p[0].weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
            st_p[0].bias.copy_(bn.bias - bn.running_mean * scale)
        plain.head.load_state_dict(self.head.state_dict())
        return plain.eval()


def feature_net_path() -> Path:
    """Where the weights are read from: $COURSE_WEIGHTS_DIR/feature_net.pt when that variable is set, else the copy
    shipped inside the package (course_lib/assets/weights/feature_net.pt), which a pip-installed course has too."""
    if os.environ.get("COURSE_WEIGHTS_DIR"):
        return Path(os.environ["COURSE_WEIGHTS_DIR"]).expanduser() / "feature_net.pt"
    from .data import package_asset

    return package_asset("weights", "feature_net.pt")


_CACHE: dict = {}


def load_feature_net(device: Optional[Union[str, torch.device]] = None, path: Optional[Union[str, Path]] = None) -> FeatureNet:
    """Load the shipped course feature network (eval mode, parameters frozen, float32).

    The weights are read with ``torch.load(weights_only=True)``. If the file is missing, the error names the
    script that makes it (``python data/make_feature_net.py``).
    """
    p = Path(path) if path is not None else feature_net_path()
    if not p.is_file():
        raise FileNotFoundError(
            f"Course feature-net weights not found at {p}. They ship inside the course_lib package "
            f"(course_lib/assets/weights/feature_net.pt): reinstall course_lib, rebuild them with "
            f"`python {FEATURE_NET_SCRIPT}` (a few CPU minutes), or set COURSE_WEIGHTS_DIR to the folder that holds "
            f"feature_net.pt.")
    key = (str(p.resolve()), p.stat().st_mtime)
    if key not in _CACHE:
        state = torch.load(p, map_location="cpu", weights_only=True)
        widths = tuple(int(state[f"stages.{i}.0.weight"].shape[0]) for i in range(4))
        net = FeatureNet(widths=widths, num_classes=int(state["head.weight"].shape[0]))
        net.load_state_dict({k: v.float() for k, v in state.items()})
        _CACHE.clear()
        _CACHE[key] = net
    net = _CACHE[key]
    # A fresh copy per call so that moving one to a device does not move another user's net.
    import copy
    out = copy.deepcopy(net).eval()
    for prm in out.parameters():
        prm.requires_grad_(False)
    if device is not None:
        out = out.to(device)
    return out


def feature_net_info() -> dict:
    """The JSON record written next to the weights (training data, test accuracy, date, seed)."""
    p = feature_net_path().with_suffix(".json")
    return json.loads(p.read_text()) if p.is_file() else {}


# -------------------------------------------------------------------------------------------- the judge net
JUDGE_NET_SCRIPT = "data/make_judge_net.py"


def load_judge_net(device: Optional[Union[str, torch.device]] = None) -> FeatureNet:
    """The course's judge: a small (64k-parameter) :class:`FeatureNet`-shaped network trained by
    ``data/make_judge_net.py`` for 400 steps with a self-supervised contrastive objective (SimCLR, no colour jitter)
    on 32x32 crops of six scikit-image photographs (the offline natural set), so that no model trained with the
    course's perceptual loss (the course feature net) is graded by its own teacher, and so that a colour cast shows
    in its features. It is independent of the models it grades, not a general judge of realism: it weighs a colour
    cast above a blur and a blur above noise, and it has never seen grey images (:func:`judge_net_info` gives its
    training data and measured blind spots). Report its KID beside a model-free measure (:func:`realism_table`).
    ``embed(x)`` gives its pooled features; use it with :func:`kernel_feature_distance` /
    :func:`frechet_feature_distance` (``net=load_judge_net()``). Eval mode, frozen. Shipped as
    ``course_lib/assets/weights/judge_net.pt``. Its blind spots are shown in notebook 10; used from notebook 11 on."""
    from .data import package_asset

    p = package_asset("weights", "judge_net.pt")
    if not p.is_file():
        raise FileNotFoundError(f"Judge-net weights not found at {p}: reinstall course_lib or rebuild them with "
                                f"`python {JUDGE_NET_SCRIPT}` (a few CPU minutes).")
    state = torch.load(p, map_location="cpu", weights_only=True)
    widths = tuple(int(state[f"stages.{i}.0.weight"].shape[0]) for i in range(4))
    net = FeatureNet(widths=widths, num_classes=int(state["head.weight"].shape[0]))
    net.load_state_dict({k: v.float() for k, v in state.items()})
    net.eval().requires_grad_(False)
    return net.to(device) if device is not None else net


def judge_net_info() -> dict:
    """The judge net's card (``judge_net.json``: data, objective, steps, wall time and its sanity figures), plus two
    entries written from it in words:

    * ``"trained_on"``: what the judge has seen (crops of a handful of photographs, nothing else);
    * ``"blind_spots"``: what it weighs, from the card's measured KIDs of a colour cast, a blur and noise on its own
      held-out crops, and where it is out of its domain.

    Read both before trusting a judge KID: it is one network's view of "real", not a human's."""
    from .data import package_asset

    p = package_asset("weights", "judge_net.json")
    card = json.loads(p.read_text()) if p.is_file() else {}
    if not card:
        return card
    names = []
    try:
        import numpy as np

        with np.load(package_asset("offline", "natural.npz")) as d:
            names = [str(v) for v in d["image_names"]]
    except Exception:  # the data file is optional for the card
        pass
    photos = f"{len(names)} photographs ({', '.join(names)})" if names else "a few photographs"
    card["trained_on"] = (f"{card.get('training_data', '?')}: 32x32 crops of {photos} from scikit-image, "
                          f"{card.get('steps', '?')} steps of {card.get('objective', 'SimCLR')}. It has never seen "
                          f"Fashion-MNIST, grey images, faces, or any generated image.")
    kid = card.get("kid_x1e3_test_crops_judge", {})
    try:
        floor = kid["real vs real (noise floor)"]
        cast = next(v for k, v in kid.items() if "colour" in k)
        blur = next(v for k, v in kid.items() if "blur" in k)
        noise = next(v for k, v in kid.items() if "noise" in k.lower() and "floor" not in k)
        card["blind_spots"] = (
            f"Measured on its own held-out crops (KID x1e3; real vs real {floor:.1f}): a salmon colour cast "
            f"{cast:.1f}, a 5x5 binomial blur {blur:.1f}, Gaussian noise of std 0.05 {noise:.1f}. It weighs a colour "
            f"cast about {cast / blur:.1f}x a blur and {cast / noise:.1f}x noise (the course feature net, trained with "
            f"random tints, is the opposite: noise >> blur >> colour). It was trained with no colour jitter and no "
            f"blur so that it would see both; it was trained with a little pixel noise, so it is least sensitive to "
            f"noise. Outside its training domain (grey images, Fashion-MNIST) its distances are not calibrated: back "
            f"every judge verdict with a model-free measure.")
    except (KeyError, StopIteration, ZeroDivisionError):
        card["blind_spots"] = "no sensitivity figures in the card"
    return card


# ----------------------------------------------------------------------------------------- Frechet distance
def _sqrtm_psd(a: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(a)
    return (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


def _feature_pair(feats_a: torch.Tensor, feats_b: torch.Tensor):
    """Both feature matrices checked ((N, F), N >= 2, same F) and as float64 on the CPU."""
    for name, f in (("feats_a", feats_a), ("feats_b", feats_b)):
        if not isinstance(f, torch.Tensor) or f.dim() != 2 or f.shape[0] < 2:
            raise ValueError(f"{name} must be a (N, F) tensor with N >= 2, got "
                             f"{tuple(f.shape) if isinstance(f, torch.Tensor) else type(f).__name__}")
    if feats_a.shape[1] != feats_b.shape[1]:
        raise ValueError(f"feature sizes differ: {feats_a.shape[1]} vs {feats_b.shape[1]}")
    return feats_a.detach().double().cpu(), feats_b.detach().double().cpu()


def frechet_distance(feats_a: torch.Tensor, feats_b: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (Heusel et al. 2017):

        ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2}).

    Tr((S_a S_b)^{1/2}) is computed as Tr((S_a^{1/2} S_b S_a^{1/2})^{1/2}) -- the same eigenvalues, but of a
    symmetric positive semi-definite matrix, so ``eigh`` applies and nothing turns complex. Float64 throughout.

    Args:
        feats_a, feats_b: (N_a, F) and (N_b, F) feature matrices (N >= 2 each).
    """
    a, b = _feature_pair(feats_a, feats_b)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T).reshape(a.shape[1], a.shape[1]), torch.cov(b.T).reshape(b.shape[1], b.shape[1])
    sa = _sqrtm_psd(cov_a)
    m = sa @ cov_b @ sa
    tr_sqrt = torch.linalg.eigvalsh((m + m.T) / 2).clamp_min(0).sqrt().sum()
    fd = (mu_a - mu_b).pow(2).sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * tr_sqrt
    return float(fd.clamp_min(0))


@torch.no_grad()
def _embed_all(net: FeatureNet, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    device = next(net.parameters()).device
    out = []
    for i in range(0, images.shape[0], batch_size):
        out.append(net.embed(images[i:i + batch_size].to(device).float()).cpu())
    return torch.cat(out)


def frechet_feature_distance(images_a: torch.Tensor, images_b: torch.Tensor, net: Optional[FeatureNet] = None,
                             batch_size: int = 256) -> float:
    """"FD (course feature net)": the Frechet distance between the course feature net's pooled 128-d
    features of two image sets (N, 1|3, H, W) in [0, 1]. The FID recipe with a different network: compare
    numbers only with numbers from this same function, and use a few hundred images or more per set."""
    _check_images(images_a, "images_a")
    _check_images(images_b, "images_b")
    net = net if net is not None else load_feature_net()
    return frechet_distance(_embed_all(net, images_a, batch_size), _embed_all(net, images_b, batch_size))


class KID(NamedTuple):
    """Kernel distance (the KID recipe) between two feature sets, with a bootstrap interval.

    * ``mean`` -- the point estimate: the unbiased squared MMD averaged over ``subsets`` random subsets of
      ``subset_size`` rows of each set (the recipe of Binkowski et al. 2018 and torchmetrics; the same number as
      before this interval existed, so earlier figures and checkpoint cards stay comparable). ``value`` is an alias.
    * ``low, high`` -- a real ``level`` (95%) confidence interval: the percentile bootstrap over images, both sets
      resampled with replacement, ``n_boot`` times, of the all-pairs unbiased estimate (``all_pairs``), skipping the
      pairs of a row with its own copy (see :func:`kid_bootstrap`). It describes which images happened to be drawn,
      not which training run produced them: for a claim across runs, repeat the run. Measured coverage (60
      synthetic data sets each, ``tests/test_image_quality.py``): 57 of 60 for a true KID > 0; 60 of 60 when the two
      distributions are equal, where the bootstrap of this degenerate U-statistic is wider than the estimator's own
      spread, i.e. conservative (it errs towards "no difference").
    * ``std`` -- the spread of the subset values: the old "interval" (mean +- 1.96 std / sqrt(subsets)) came from it;
      the subsets overlap, so it measures the subset-to-subset noise, NOT the uncertainty of the comparison.
    * ``se`` -- the bootstrap standard error; ``method`` -- the interval in words (printed by ``str``)."""
    mean: float
    std: float
    low: float
    high: float
    subsets: int
    subset_size: int
    method: str = ""
    level: float = 0.95
    n_boot: int = 0
    all_pairs: float = float("nan")
    se: float = float("nan")

    @property
    def value(self) -> float:
        return self.mean

    @property
    def interval(self):
        """The point and its bootstrap interval as a :class:`course_lib.evidence.Interval`."""
        from .evidence import Interval

        return Interval(self.mean, self.low, self.high, self.level, self.method)

    def scaled(self, factor: float = 1e3):
        """The :class:`~course_lib.evidence.Interval` in units of ``1 / factor`` (``kid.scaled(1e3)``: KID x 1000)."""
        return self.interval.scaled(factor)

    def __str__(self) -> str:
        return str(self.interval)


def _cubic_kernels(a: torch.Tensor, b: torch.Tensor):
    dim = a.shape[1]
    return ((a @ a.T) / dim + 1) ** 3, ((b @ b.T) / dim + 1) ** 3, ((a @ b.T) / dim + 1) ** 3


def _resample_counts(n: int, n_boot: int, g: torch.Generator) -> torch.Tensor:
    """(n_boot, n) float64: how often each row is drawn in each bootstrap resample of n rows (with replacement)."""
    idx = torch.randint(n, (n_boot, n), generator=g)
    return torch.zeros(n_boot, n, dtype=torch.float64).scatter_add_(1, idx, torch.ones(n_boot, n, dtype=torch.float64))


def _weighted_mmd2(kxx, kyy, kxy, w: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD^2 of resamples given by row counts ``w`` (B, n) and ``v`` (B, m). Within a set it averages k over
    the pairs of draws that are different rows: (w K w - sum_i w_i^2 k_ii) / (n^2 - sum_i w_i^2). With w = v = 1
    this is the usual unbiased estimator over all pairs (the diagonal left out)."""
    n, m = w.shape[1], v.shape[1]
    xx = (((w @ kxx) * w).sum(1) - (w * w) @ kxx.diagonal()) / (n * n - (w * w).sum(1))
    yy = (((v @ kyy) * v).sum(1) - (v * v) @ kyy.diagonal()) / (m * m - (v * v).sum(1))
    xy = ((w @ kxy) * v).sum(1) / (n * m)
    return xx + yy - 2 * xy


def kid_all_pairs(feats_a: torch.Tensor, feats_b: torch.Tensor) -> float:
    """The unbiased squared MMD with the cubic kernel k(x, y) = (x.y / F + 1)^3 over ALL pairs of rows (no subsets):

        sum_{i != j} k(a_i, a_j) / (n (n - 1)) + sum_{i != j} k(b_i, b_j) / (m (m - 1)) - 2 sum_{i, j} k(a_i, b_j) / (n m)

    (Gretton et al. 2012, JMLR, eq. 3; Binkowski et al. 2018 use it on Inception features). Float64."""
    a, b = _feature_pair(feats_a, feats_b)
    kxx, kyy, kxy = _cubic_kernels(a, b)
    one_a = torch.ones(1, a.shape[0], dtype=torch.float64)
    one_b = torch.ones(1, b.shape[0], dtype=torch.float64)
    return float(_weighted_mmd2(kxx, kyy, kxy, one_a, one_b)[0])


def kid_bootstrap(feats_a: torch.Tensor, feats_b: torch.Tensor, n_boot: int = 200, seed: int = 0) -> torch.Tensor:
    """``n_boot`` bootstrap replicates (float64) of :func:`kid_all_pairs`: each resample draws n_a rows of ``feats_a``
    and n_b rows of ``feats_b`` uniformly with replacement, independently (both sets resampled).

    A resample repeats rows. Paired with its own copy a row would add k(x, x) (larger than k(x, y) for distinct
    rows) to the "unbiased" within-set sums and push every replicate up by about (E k(x, x) - E k(x, x')) / n: so the
    pairs of a row with a copy of itself are skipped, as the diagonal is in the estimator itself. Computed from row
    counts in one matrix product (no Python loop)."""
    if int(n_boot) < 2:
        raise ValueError(f"n_boot must be >= 2 (200 or more for a 95% interval), got {n_boot}")
    a, b = _feature_pair(feats_a, feats_b)
    if max(a.shape[0], b.shape[0]) > 20000:
        raise ValueError(f"kid_bootstrap builds (N, N) kernel matrices; {a.shape[0]} and {b.shape[0]} rows are too "
                         f"many: pass a random subset of at most 20,000 rows of each set")
    kxx, kyy, kxy = _cubic_kernels(a, b)
    g = torch.Generator().manual_seed(int(seed))
    w = _resample_counts(a.shape[0], int(n_boot), g)
    v = _resample_counts(b.shape[0], int(n_boot), g)
    return _weighted_mmd2(kxx, kyy, kxy, w, v)


def kid_on_rows(feats_a: torch.Tensor, feats_b: torch.Tensor):
    """A function ``kid(rows_a, rows_b) -> float``: the unbiased KID (cubic kernel) of the rows ``rows_a`` of
    ``feats_a`` against the rows ``rows_b`` of ``feats_b``, where the row indices may repeat (a bootstrap resample).

    It takes row *indices*, not resampled features, so that it can tell two draws of the same row from two different
    rows: a pair of a row with its own copy is skipped, as the estimator skips k(x, x) on its diagonal (counting it
    would push every resample's KID up). The kernel matrices are computed once, so each call costs O(n^2) additions.
    ``kid(torch.arange(n_a), torch.arange(n_b))`` equals :func:`kid_all_pairs`. Built in notebook 10 (section 3)."""
    a, b = _feature_pair(feats_a, feats_b)
    kxx, kyy, kxy = _cubic_kernels(a, b)
    n_a, n_b = a.shape[0], b.shape[0]

    def kid(rows_a, rows_b) -> float:
        ra = torch.as_tensor(rows_a).reshape(-1).long()
        rb = torch.as_tensor(rows_b).reshape(-1).long()
        for name, r, n in (("rows_a", ra, n_a), ("rows_b", rb, n_b)):
            if r.numel() < 2 or int(r.min()) < 0 or int(r.max()) >= n:
                raise ValueError(f"{name} must hold at least 2 row indices in [0, {n}), got {r.numel()} indices"
                                 + (f" in [{int(r.min())}, {int(r.max())}]" if r.numel() else ""))
        w = torch.bincount(ra, minlength=n_a).double()[None]
        v = torch.bincount(rb, minlength=n_b).double()[None]
        if float((w * w).sum()) == float(w.sum()) ** 2 or float((v * v).sum()) == float(v.sum()) ** 2:
            raise ValueError("each resample needs at least two different rows")
        return float(_weighted_mmd2(kxx, kyy, kxy, w, v)[0])

    kid.n_a, kid.n_b = n_a, n_b
    return kid


def kernel_distance(feats_a: torch.Tensor, feats_b: torch.Tensor, subsets: int = 50, subset_size: int = 100,
                    seed: int = 0, n_boot: int = 200, level: float = 0.95) -> KID:
    """Kernel Inception Distance recipe (Binkowski et al. 2018, "Demystifying MMD GANs", arXiv:1801.01401, sec. 4)
    on any features: the unbiased squared MMD with the cubic polynomial kernel k(x, y) = (x.y / F + 1)^3, averaged
    over ``subsets`` random subsets of ``subset_size`` rows from each set, with a ``level`` bootstrap confidence
    interval over images (``n_boot`` resamples of both sets; ``n_boot=0`` skips it and leaves ``low = high = mean``).

    Unlike the Frechet distance, this estimator is unbiased, so it is usable with a few hundred samples (a
    Frechet distance of 128-d features from 200 samples is dominated by its bias). It can come out slightly
    negative when the two sets are alike. Report it with its interval (``str(kid)`` does).
    """
    if subsets < 1:
        raise ValueError(f"subsets must be >= 1, got {subsets}")
    a, b = _feature_pair(feats_a, feats_b)
    m = int(min(subset_size, a.shape[0], b.shape[0]))
    if m < 2:
        raise ValueError("kernel_distance needs at least 2 rows in each set")
    dim = a.shape[1]
    g = torch.Generator().manual_seed(int(seed))
    values = []
    for _ in range(int(subsets)):
        x = a[torch.randperm(a.shape[0], generator=g)[:m]]
        y = b[torch.randperm(b.shape[0], generator=g)[:m]]
        kxx, kyy, kxy = ((x @ x.T) / dim + 1) ** 3, ((y @ y.T) / dim + 1) ** 3, ((x @ y.T) / dim + 1) ** 3
        off = (kxx.sum() - kxx.diagonal().sum() + kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
        values.append(float(off - 2 * kxy.mean()))
    t = torch.tensor(values, dtype=torch.float64)
    mean = float(t.mean())
    std = float(t.std()) if len(values) > 1 else 0.0
    all_pairs = kid_all_pairs(a, b)
    if int(n_boot) <= 0:
        return KID(mean, std, mean, mean, len(values), m, "no interval (n_boot=0)", level, 0, all_pairs, float("nan"))
    from .evidence import percentile_interval

    boots = kid_bootstrap(a, b, n_boot=n_boot, seed=seed)
    low, high = percentile_interval(boots, level)
    method = (f"bootstrap over images, both sets resampled, B={int(n_boot)}; "
              f"n = {a.shape[0]} vs {b.shape[0]}")
    return KID(mean, std, low, high, len(values), m, method, float(level), int(n_boot), all_pairs,
               float(boots.std()))


def kernel_feature_distance(images_a: torch.Tensor, images_b: torch.Tensor, net: Optional[nn.Module] = None,
                            batch_size: int = 256, **kwargs) -> KID:
    """"KID (course feature net)": :func:`kernel_distance` of the pooled features of ``net`` (default: the course
    feature net; any module with ``embed(x) -> (N, F)``) on two image sets (N, 1|3, H, W) in [0, 1]."""
    _check_images(images_a, "images_a")
    _check_images(images_b, "images_b")
    net = net if net is not None else load_feature_net()
    return kernel_distance(_embed_all(net, images_a, batch_size), _embed_all(net, images_b, batch_size), **kwargs)


def frechet_distance_interval(feats_a: torch.Tensor, feats_b: torch.Tensor, n_boot: int = 200, seed: int = 0,
                              level: float = 0.95):
    """:func:`frechet_distance` with a percentile bootstrap interval over samples (both sets resampled with
    replacement, ``n_boot`` times), as a :class:`course_lib.evidence.Interval`.

    The Frechet distance is biased upwards at finite N: the covariances estimated from N rows are noisy, and the
    noise adds to the distance (roughly in proportion to F / N for F-d features), so the same two distributions score
    higher with fewer samples. The interval is for FD *at this N*; compare FDs only at equal N (and prefer KID, which
    is unbiased, for small N). A resample repeats rows, which adds to that bias (the replicates sit above the value,
    often entirely): so the percentile interval is re-centred, shifted down by the replicates' mean excess over the
    value (the bootstrap's bias estimate), and clipped at 0. It describes the spread of FD at this n around the
    observed value."""
    from .evidence import percentile_interval, Interval

    a, b = _feature_pair(feats_a, feats_b)
    if int(n_boot) < 2:
        raise ValueError(f"n_boot must be >= 2 (200 or more for a 95% interval), got {n_boot}")
    value = frechet_distance(a, b)
    g = torch.Generator().manual_seed(int(seed))
    boots = []
    chunk = max(1, min(50, int(2e7 // (max(a.shape[0], b.shape[0]) * a.shape[1]))))   # about 160 MB at most
    for start in range(0, int(n_boot), chunk):
        nb = min(chunk, int(n_boot) - start)
        boots.append(_frechet_resampled(a, b, _resample_counts(a.shape[0], nb, g), _resample_counts(b.shape[0], nb, g)))
    boots = torch.cat(boots)
    bias = float(boots.mean()) - value
    q_low, q_high = percentile_interval(boots, level)
    method = (f"bootstrap over images, both sets resampled, B={int(n_boot)}, re-centred; FD at n = {a.shape[0]} vs "
              f"{b.shape[0]}, biased upwards at small n: compare at equal n")
    return Interval(value, max(0.0, q_low - bias), q_high - bias, float(level), method)


def _weighted_cov(x: torch.Tensor, w: torch.Tensor):
    """Means (B, F) and unbiased covariances (B, F, F) of the resamples of ``x`` (n, F) given by counts ``w`` (B, n)."""
    n = x.shape[0]
    mu = (w @ x) / n
    xc = x.unsqueeze(0) - mu.unsqueeze(1)                      # (B, n, F)
    cov = torch.einsum("bnf,bn,bng->bfg", xc, w, xc) / (n - 1)
    return mu, cov


def _frechet_resampled(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Frechet distances (B,) of the resamples given by counts ``w`` of ``a`` and ``v`` of ``b`` (batched eigh)."""
    mu_a, cov_a = _weighted_cov(a, w)
    mu_b, cov_b = _weighted_cov(b, v)
    vals, vecs = torch.linalg.eigh(cov_a)
    sa = (vecs * vals.clamp_min(0).sqrt().unsqueeze(1)) @ vecs.transpose(1, 2)
    m = sa @ cov_b @ sa
    tr_sqrt = torch.linalg.eigvalsh((m + m.transpose(1, 2)) / 2).clamp_min(0).sqrt().sum(1)
    tr = lambda c: c.diagonal(dim1=1, dim2=2).sum(1)  # noqa: E731
    fd = (mu_a - mu_b).pow(2).sum(1) + tr(cov_a) + tr(cov_b) - 2 * tr_sqrt
    return fd.clamp_min(0)


def try_inception_fid(images_a: torch.Tensor, images_b: torch.Tensor, device=None) -> Optional[float]:
    """The standard FID (Inception-v3 pool features, via ``torchmetrics``) if torchmetrics is installed and
    its Inception weights can be fetched (they are downloaded on first use: needs a network, e.g. Colab).
    Otherwise prints why and returns ``None``; use :func:`frechet_feature_distance` instead.

    With ``COURSE_OFFLINE=1`` it makes no download attempt at all: it returns ``None`` at once, saying why."""
    from .data import offline_requested

    if offline_requested():
        print("Inception FID skipped: COURSE_OFFLINE=1 forbids downloading its weights; "
              "use frechet_feature_distance (course feature net) instead.")
        return None
    try:
        from torchmetrics.image.fid import FrechetInceptionDistance  # optional dependency
    except Exception as err:
        print(f"Inception FID unavailable (torchmetrics not importable: {err.__class__.__name__}); "
              f"use frechet_feature_distance (course feature net) instead.")
        return None
    try:
        metric = FrechetInceptionDistance(feature=2048, normalize=True)
        if device is not None:
            metric = metric.to(device)
        for imgs, real in ((images_a, True), (images_b, False)):
            for i in range(0, imgs.shape[0], 128):
                x = imgs[i:i + 128].float()
                if x.shape[1] == 1:
                    x = x.expand(-1, 3, -1, -1)
                metric.update(x.to(metric.device), real=real)
        value = float(metric.compute())
        print("FID computed with torchmetrics' Inception-v3 (pool3, 2048-d) features.")
        return value
    except Exception as err:  # no network, missing weights, ...
        print(f"Inception FID unavailable ({err.__class__.__name__}: {str(err)[:120]}); "
              f"use frechet_feature_distance (course feature net) instead.")
        return None


# ------------------------------------------------------------------------------------ model-free realism measures
def _same_kind(a: torch.Tensor, b: torch.Tensor, name: str, channels: bool = True):
    _check_images(a, f"{name}: a")
    _check_images(b, f"{name}: b")
    if a.shape[-2:] != b.shape[-2:]:
        raise ValueError(f"{name} compares images of the same size, got {tuple(a.shape[-2:])} and {tuple(b.shape[-2:])}")
    if channels and a.shape[1] != b.shape[1]:
        raise ValueError(f"{name} compares images with the same number of channels, got {a.shape[1]} and {b.shape[1]} "
                         f"(repeat grey images with x.expand(-1, 3, -1, -1) to compare them with colour ones)")
    return a.detach().cpu().double(), b.detach().cpu().double()


def radial_log_spectrum(x: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Each image's radially averaged log power spectrum: (N, C, H, W) -> (N, K), K = min(H, W) // 2.

    The image is averaged over channels (luminance), its mean removed, Fourier transformed, and the power
    ``|F|^2 / (H W)`` averaged over rings of integer radius 1..K (in cycles per image, along the shorter side); the
    natural log of each ring's mean power is returned (float64). Column k - 1 is spatial frequency k / min(H, W)
    cycles per pixel. No window is applied: both sets compared get the same edge effects."""
    _check_images(x, "x")
    g = x.detach().cpu().double().mean(1)
    g = g - g.mean(dim=(1, 2), keepdim=True)
    h, w = g.shape[-2:]
    power = torch.fft.fft2(g).abs().pow(2) / (h * w)
    fy = torch.fft.fftfreq(h, dtype=torch.float64)[:, None]
    fx = torch.fft.fftfreq(w, dtype=torch.float64)[None, :]
    k_max = min(h, w) // 2
    ring = torch.round(torch.sqrt(fx ** 2 + fy ** 2) * min(h, w)).long()
    prof = []
    for k in range(1, k_max + 1):
        sel = ring == k
        prof.append(power[:, sel].mean(1))
    return torch.log(torch.stack(prof, 1) + eps)


def log_spectrum_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean absolute difference (L1 per frequency ring, averaged over the K rings) between the two sets' mean
    radially averaged log power spectra (:func:`radial_log_spectrum`, natural log). 0 for identical statistics.

    What it sees: how much energy each scale holds, i.e. blur (missing high frequencies: the curve drops at the
    right), noise and grain (too much: the curve flattens), over-sharpening and GAN checkerboards (bumps). What it
    misses: everything about *where* the energy is (shapes, objects, layout), colour (luminance only), and the
    spread between images (it compares means only). No network: nothing was trained to fool it."""
    a, b = _same_kind(a, b, "log_spectrum_distance", channels=False)
    return float((radial_log_spectrum(a).mean(0) - radial_log_spectrum(b).mean(0)).abs().mean())


def _gradient_magnitudes(x: torch.Tensor) -> torch.Tensor:
    dx = x[..., :-1, 1:] - x[..., :-1, :-1]
    dy = x[..., 1:, :-1] - x[..., :-1, :-1]
    return torch.hypot(dx, dy).reshape(-1)


def _sorted_values(u: torch.Tensor) -> torch.Tensor:
    return torch.sort(u.reshape(-1).float()).values


def _wasserstein_sorted(su: torch.Tensor, sv: torch.Tensor) -> float:
    """W1 between the empirical distributions of two SORTED 1-D tensors: the integral over q in (0, 1) of
    |Q_u(q) - Q_v(q)|, the quantile functions being step functions that change at q = i/n and j/m."""
    n, m = su.numel(), sv.numel()
    if n == 0 or m == 0:
        raise ValueError("a Wasserstein distance needs at least one value in each set")
    if n == m:
        return float((su.double() - sv.double()).abs().mean())
    levels = torch.unique(torch.cat([torch.arange(1, n + 1, dtype=torch.float64) / n,
                                     torch.arange(1, m + 1, dtype=torch.float64) / m]))   # sorted, ends at 1
    widths = torch.diff(levels, prepend=torch.zeros(1, dtype=torch.float64))
    iu = (torch.ceil(levels * n - 1e-9).long() - 1).clamp(0, n - 1)   # Q_u on (levels[k-1], levels[k]]
    iv = (torch.ceil(levels * m - 1e-9).long() - 1).clamp(0, m - 1)
    return float((widths * (su.double()[iu] - sv.double()[iv]).abs()).sum())


def _wasserstein_1d(u: torch.Tensor, v: torch.Tensor) -> float:
    """Exact 1-D Wasserstein-1 distance between the empirical distributions of ``u`` and ``v`` (any sizes), what
    ``scipy.stats.wasserstein_distance`` computes (values sorted in float32)."""
    return _wasserstein_sorted(_sorted_values(u), _sorted_values(v))


def gradient_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """1-D Wasserstein (earth mover's) distance between the distributions of image-gradient magnitudes of the two
    sets: ``sqrt(dx^2 + dy^2)`` from forward differences (as :func:`course_lib.metrics.sharpness`), every pixel of
    every channel of every image pooled (exact, as scipy's ``wasserstein_distance``), in pixel-value units per pixel.

    What it sees: the whole distribution of edge strengths, so blur (too many weak gradients), noise (too many
    mid-size gradients in flat regions) and missing strong edges, where a mean gradient (sharpness) can be fooled by
    noise. What it misses: where the edges are and whether they make sense, colour, and contrast confounds (a
    faint image has weak gradients: compare with the contrast-normalised :func:`sharpness_ratio` too)."""
    a, b = _same_kind(a, b, "gradient_distance", channels=False)
    return _wasserstein_1d(_gradient_magnitudes(a), _gradient_magnitudes(b))


def colour_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Histogram distance of pixel values, per channel: the mean over channels of the 1-D Wasserstein distance
    between the two sets' pixel-value distributions (every pixel of every image pooled), in [0, 1] units
    (x 255 for 8-bit levels). A uniform shift of one channel by d scores d / C; grey images compare intensities.

    What it sees: colour casts, a wrong brightness or contrast, washed-out or saturated images (each channel's
    mean, spread and shape of histogram). What it misses: which pixel has which colour (a shuffled image scores
    0), colour correlations between channels, and anything spatial."""
    a, b = _same_kind(a, b, "colour_distance")
    return float(sum(_wasserstein_1d(a[:, c].reshape(-1), b[:, c].reshape(-1)) for c in range(a.shape[1]))
                 / a.shape[1])


def colour_stats(x: torch.Tensor) -> torch.Tensor:
    """(C, 2) per-channel mean and standard deviation of the pixel values of a set of images (float64)."""
    _check_images(x, "x")
    v = x.detach().cpu().double().transpose(0, 1).reshape(x.shape[1], -1)
    return torch.stack([v.mean(1), v.std(1)], 1)


def sharpness_ratio(x: torch.Tensor, real: torch.Tensor) -> float:
    """Mean contrast-normalised sharpness of ``x`` divided by that of ``real``
    (:func:`course_lib.metrics.sharpness` with ``contrast_normalized=True``): 1 = as sharp as real images, < 1
    blurrier, > 1 crisper or noisier relative to their own contrast.

    What it sees: blur, independent of contrast (a faint image is not called blurry). What it misses: it rewards
    noise and ringing (both add gradients), and says nothing about colour or content: read it beside
    :func:`gradient_distance` and :func:`log_spectrum_distance`."""
    from .metrics import sharpness

    _check_images(x, "x")
    _check_images(real, "real")
    den = float(sharpness(real, contrast_normalized=True).mean())
    if den <= 0:
        raise ValueError("sharpness_ratio: the real images are flat (sharpness 0); nothing to compare with")
    return float(sharpness(x, contrast_normalized=True).mean()) / den


class RealismRows(list):
    """A list of table rows (dicts of display strings and floats: ``show_table(rows)`` shows it) with the raw
    numbers in ``rows.raw[name]`` (the KID and Interval objects, floats) and ``rows.show(title=...)``."""

    def __init__(self, rows, raw, headers):
        super().__init__(rows)
        self.raw = raw
        self.headers = headers

    def show(self, title: Optional[str] = None, **kwargs) -> None:
        from .viz import show_table

        show_table(self, self.headers, title=title, **kwargs)

    def sees(self, factor: float = 2.0) -> dict:
        """{measure: [candidates it tells apart from real]}, by one stated rule per measure against the floor row
        (the first): an interval (judge KID, FD) entirely above the floor's interval; a model-free distance more than
        ``factor`` times the floor's; a sharpness ratio further from 1 than the floor's by more than 0.1. Candidate
        names are cut at " (" (``"blur (sigma 3 px)"`` -> ``"blur"``)."""
        names = list(self.raw)
        floor, cands = self.raw[names[0]], names[1:]
        rules = {}
        if "judge KID" in floor:
            rules["judge KID"] = lambda r: r["judge KID"].low > floor["judge KID"].high
        if "FD" in floor:
            rules["FD course net"] = (lambda r: r["FD"].low > floor["FD"].high) if hasattr(floor["FD"], "low") \
                else (lambda r: r["FD"] > factor * floor["FD"])
        for k in ("spectrum", "gradient", "colour"):
            rules[k] = lambda r, k=k: r[k] > factor * floor[k]
        rules["sharpness ratio"] = lambda r: abs(r["sharpness ratio"] - 1) > 0.1 + abs(floor["sharpness ratio"] - 1)
        return {m: [c.split(" (")[0] for c in cands if rule(self.raw[c])] for m, rule in rules.items()}


def realism_table(real_eval: torch.Tensor, candidates: dict, real_ref: Optional[torch.Tensor] = None,
                  judge: bool = True, n_boot: int = 200, feature_net: Optional[nn.Module] = None,
                  judge_net: Optional[nn.Module] = None, seed: int = 0, floor_name: str = "real vs real (floor)",
                  batch_size: int = 256, fd: bool = True) -> RealismRows:
    """Realism measured more than one way: one row per candidate image set and a real-vs-real floor row.

    Args:
        real_eval: real images (N, C, H, W) in [0, 1] that play the part of a candidate in the floor row
            (held out from ``real_ref``).
        candidates: {name: images} to judge, e.g. reconstructions or samples (same size and channels as the real).
        real_ref: the reference real images every row is compared with. None: ``real_eval`` is split in two halves
            (seeded); the first is the reference, the second the floor's candidate.
        judge: include the judge net's KID (:func:`load_judge_net`, trained on natural colour crops; read
            :func:`judge_net_info` for its blind spots).
        n_boot: bootstrap resamples for the KID and FD intervals (0: no intervals).
        feature_net / judge_net: networks with ``embed(x)`` (default: the course feature net and the judge).
        fd: include the FD column (``False`` skips the course net and its bootstrap: faster).
    Returns:
        :class:`RealismRows` with columns ``images``, ``judge KID x1e3 [95% CI]`` (if ``judge``),
        ``FD course net [95% CI]``, ``spectrum L1``, ``gradient W1``, ``colour W1``, ``sharpness ratio``; lower is
        closer to real for all but the sharpness ratio (1 = as sharp as real). The floor row says what two sets of
        real images score: a candidate is distinguishable from real only where it is clearly above the floor.
        FD is biased upwards at small N: compare rows at equal N.
    """
    _check_images(real_eval, "real_eval")
    if not isinstance(candidates, dict) or not candidates:
        raise ValueError("candidates must be a non-empty dict {name: images (N, C, H, W)}")
    if real_ref is None:
        g = torch.Generator().manual_seed(int(seed))
        perm = torch.randperm(real_eval.shape[0], generator=g)
        half = real_eval.shape[0] // 2
        real_ref, real_eval = real_eval[perm[:half]], real_eval[perm[half:]]
    _check_images(real_ref, "real_ref")
    sets = {floor_name: real_eval, **candidates}
    for name, x in sets.items():
        _check_images(x, f"candidates[{name!r}]")
        if x.shape[1:] != real_ref.shape[1:]:
            raise ValueError(f"candidates[{name!r}] has shape {tuple(x.shape[1:])} per image, the real images "
                             f"{tuple(real_ref.shape[1:])}; realism_table compares like with like")
    nets = {}
    if fd:
        nets["FD"] = feature_net if feature_net is not None else load_feature_net()
    if judge:
        nets["KID"] = judge_net if judge_net is not None else load_judge_net()
    ref_feats = {k: _embed_all(net, real_ref.float(), batch_size) for k, net in nets.items()}
    ref = real_ref.detach().float().clamp(0, 1).cpu()   # the reference's statistics, computed once
    ref_spectrum = radial_log_spectrum(ref).mean(0)
    ref_grad = _sorted_values(_gradient_magnitudes(ref.double()))
    ref_pix = [_sorted_values(ref[:, c]) for c in range(ref.shape[1])]
    kid_h, fd_h = "judge KID x1e3 [95% CI]", "FD course net [95% CI]"
    headers = ["images"] + ([kid_h] if judge else []) + ([fd_h] if fd else []) + [
        "spectrum L1", "gradient W1", "colour W1", "sharpness ratio"]
    rows, raw = [], {}
    for name, x in sets.items():
        x = x.detach().float().clamp(0, 1).cpu()
        r = {}
        if judge:
            kid = kernel_distance(_embed_all(nets["KID"], x, batch_size), ref_feats["KID"], n_boot=n_boot,
                                  seed=seed, subset_size=min(100, x.shape[0], real_ref.shape[0]))
            r["judge KID"] = kid
        if fd:
            f = _embed_all(nets["FD"], x, batch_size)
            r["FD"] = (frechet_distance_interval(f, ref_feats["FD"], n_boot=n_boot, seed=seed) if n_boot >= 2
                       else frechet_distance(f, ref_feats["FD"]))
        r["spectrum"] = float((radial_log_spectrum(x).mean(0) - ref_spectrum).abs().mean())
        r["gradient"] = _wasserstein_sorted(_sorted_values(_gradient_magnitudes(x.double())), ref_grad)
        r["colour"] = sum(_wasserstein_sorted(_sorted_values(x[:, c]), ref_pix[c]) for c in range(x.shape[1])) / x.shape[1]
        r["sharpness ratio"] = sharpness_ratio(x, real_ref)
        raw[name] = r
        row = {"images": name}
        if judge:
            row[kid_h] = r["judge KID"].scaled(1e3).short(".1f") if n_boot >= 2 else f"{r['judge KID'].mean * 1e3:.1f}"
        if fd:
            row[fd_h] = r["FD"].short(".2f") if n_boot >= 2 else f"{r['FD']:.2f}"
        row.update({"spectrum L1": r["spectrum"], "gradient W1": r["gradient"], "colour W1": r["colour"],
                    "sharpness ratio": r["sharpness ratio"]})
        rows.append(row)
    return RealismRows(rows, raw, headers)


# ------------------------------------------------------------------------------- helpers of notebook 10
def sample_size_curve(feats_a: torch.Tensor, feats_b: Optional[torch.Tensor] = None,
                      sizes: Sequence[int] = (25, 50, 100, 200, 400), repeats: int = 5, seed: int = 0) -> dict:
    """FD and KID of two sets of n rows each, for each n in ``sizes``, ``repeats`` times with fresh rows.

    With ``feats_b=None`` both sets are disjoint draws from ``feats_a`` (one distribution: the true FD and KID are
    0, so whatever is measured is the estimators' bias and noise); otherwise set A comes from ``feats_a`` and set B
    from ``feats_b``. Returns ``{"n": [...], "FD": (R, len(sizes)) tensor, "KID": (R, len(sizes)) tensor}``: the
    FD falls with n (its bias), the unbiased KID scatters around its true value at every n."""
    a = feats_a.detach().double().cpu()
    b = None if feats_b is None else feats_b.detach().double().cpu()
    sizes = [int(n) for n in sizes]
    need = 2 * max(sizes) if b is None else max(sizes)
    if a.shape[0] < need or (b is not None and b.shape[0] < max(sizes)):
        raise ValueError(f"sample_size_curve needs {need} rows in feats_a for sizes up to {max(sizes)}"
                         + ("" if b is None else f" and {max(sizes)} in feats_b"))
    g = torch.Generator().manual_seed(int(seed))
    fd = torch.zeros(int(repeats), len(sizes), dtype=torch.float64)
    kid = torch.zeros_like(fd)
    for r in range(int(repeats)):
        for j, n in enumerate(sizes):
            pa = torch.randperm(a.shape[0], generator=g)
            xa = a[pa[:n]]
            xb = a[pa[n:2 * n]] if b is None else b[torch.randperm(b.shape[0], generator=g)[:n]]
            fd[r, j] = frechet_distance(xa, xb)
            kid[r, j] = kid_all_pairs(xa, xb)
    return {"n": sizes, "FD": fd, "KID": kid}


def _cast(x: torch.Tensor, s: float) -> torch.Tensor:
    if x.shape[1] == 1:   # grey: a brightness shift
        return (x + 0.1 * s).clamp(0, 1)
    gains = torch.tensor([1.0, 1 - 0.2 * s, 1 - 0.3 * s], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * gains).clamp(0, 1)


def equal_psnr_degradations(x: torch.Tensor, psnr_db: float = 26.0, kinds: Sequence[str] = ("blur", "noise", "cast"),
                            seed: int = 0, tol_db: float = 0.02) -> dict:
    """Copies of ``x`` degraded in different ways, each with its strength chosen (by bisection) so that the mean
    per-image PSNR against ``x`` is ``psnr_db`` (within ``tol_db``): at equal PSNR, pixel error cannot tell them apart.

    kinds: ``"blur"`` (Gaussian blur, sigma in pixels), ``"noise"`` (Gaussian noise, clipped to [0, 1]),
    ``"cast"`` (colour: a salmon cast, the gains (1, 1 - 0.2 s, 1 - 0.3 s) with s = 1 the judge card's cast; grey:
    a brightness shift of 0.1 s), ``"contrast"`` (contrast reduced towards each image's mean by a factor 1 - s).
    Returns ``{label: images}`` with the strength in the label, e.g. ``"blur (sigma 0.81 px)"``. (Wang & Bovik 2009,
    "Mean squared error: love it or leave it?", fig. 2, makes the same point.)"""
    from .classical import gaussian_denoise
    from .metrics import psnr

    _check_images(x, "x")
    x = x.detach().float().cpu()
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(int(seed)))
    makers = {
        "blur": (lambda s: gaussian_denoise(x, s).clamp(0, 1), (0.05, 4.0), "blur (sigma {:.2f} px)"),
        "noise": (lambda s: (x + s * noise).clamp(0, 1), (1e-4, 1.0), "noise (std {:.3f})"),
        "cast": (lambda s: _cast(x, s), (1e-3, 5.0 if x.shape[1] == 3 else 10.0),
                 "colour cast (s {:.2f})" if x.shape[1] == 3 else "brightness +{:.3f}"),
        "contrast": (lambda s: (x.mean(dim=(1, 2, 3), keepdim=True) * s + x * (1 - s)).clamp(0, 1), (1e-3, 1.0),
                     "contrast x{:.2f}"),   # shown as the factor 1 - s
    }
    out = {}
    for kind in kinds:
        if kind not in makers:
            raise ValueError(f"unknown degradation {kind!r}; choose from {sorted(makers)}")
        make, (lo, hi), label = makers[kind]
        if psnr(make(hi), x) > psnr_db:
            raise ValueError(f"{kind}: even the strongest setting stays above {psnr_db} dB; ask for a lower PSNR")
        for _ in range(60):
            mid = (lo + hi) / 2
            if psnr(make(mid), x) > psnr_db:
                lo = mid
            else:
                hi = mid
            if hi - lo < 1e-6 * max(1.0, hi):
                break
        s = (lo + hi) / 2
        y = make(s)
        if abs(psnr(y, x) - psnr_db) > tol_db:
            raise ValueError(f"{kind}: could not reach {psnr_db} dB within {tol_db} dB (got {psnr(y, x):.3f})")
        shown = 0.1 * s if (kind == "cast" and x.shape[1] == 1) else (1 - s if kind == "contrast" else s)
        out[label.format(shown)] = y
    return out


def draw_sample_size_curve(curve: dict, title: str = "real vs real (true value 0)"):
    """The two panels of :func:`sample_size_curve`: FD and KID x 1000 (mean and standard deviation over the draws)
    against the number of images per set, log scale. Returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for ax, key in zip(axes, ("FD", "KID")):
        v = curve[key] * (1e3 if key == "KID" else 1)
        ax.errorbar(curve["n"], v.mean(0), yerr=v.std(0), fmt="o-", capsize=3)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xscale("log")
        ax.set_xticks(curve["n"], [str(n) for n in curve["n"]])
        ax.minorticks_off()
        ax.set(xlabel="images per set", title=f"{key}{' x 1000' if key == 'KID' else ''}, {title}, "
                                              f"{curve[key].shape[0]} draws")
    return fig


def draw_perception_distortion(points: Sequence[tuple], keys: Sequence[str] = ("judge KID", "gradient"),
                               title: str = "", label: str = "width", floor: Optional[dict] = None):
    """Perception-distortion planes of a family of outputs: for each key, one panel with PSNR (x, higher = less
    distortion) against that realism measure (y, lower = more real), each point labelled with its parameter.

    points: ``[(parameter, psnr_db, raw_row), ...]`` where ``raw_row`` is a :class:`RealismRows` ``.raw`` entry
    (KIDs are shown x 1000); ``floor``: the real-vs-real ``.raw`` entry, drawn as a dashed line. Returns the figure."""
    import matplotlib.pyplot as plt

    def val(r, key):
        return 1e3 * r[key].mean if key == "judge KID" else float(r[key])

    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.4), squeeze=False)
    for ax, key in zip(axes[0], keys):
        ys = [val(r, key) for _, _, r in points]
        ax.plot([p for _, p, _ in points], ys, "o-")
        for (w, p, _), y in zip(points, ys):
            ax.annotate(f"{w:g}", (p, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        if floor is not None:
            ax.axhline(val(floor, key), color="grey", ls="--", lw=0.8, label="real vs real")
            ax.legend(loc="best", fontsize=8)
        ax.set(xlabel="PSNR (dB), higher = less distortion",
               ylabel=f"{key}{' x 1000' if key == 'judge KID' else ' W1' if key == 'gradient' else ''}, "
                      f"lower = more real")
    fig.suptitle(title or f"{label} of each output (labels)")
    return fig
