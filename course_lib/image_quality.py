"""Image-quality measures: SSIM, a small feature network, and Frechet distances.

Everything here runs offline in pure torch:

* :func:`ssim` -- structural similarity (Wang, Bovik, Sheikh, Simoncelli 2004), no weights needed
  (PSNR lives in :mod:`course_lib.metrics`).
* :class:`FeatureNet` / :func:`load_feature_net` -- the course's own small convolutional network
  (a Fashion-MNIST classifier trained with colour tinting and random crops by ``data/make_feature_net.py``,
  shipped inside the package as ``course_lib/assets/weights/feature_net.pt``). It stands in for ImageNet networks (VGG, Inception), whose
  weights cannot be downloaded offline. It is used by the perceptual loss (:mod:`course_lib.perceptual`) and
  by :func:`frechet_feature_distance`.
* :func:`frechet_distance` -- the Frechet distance between two Gaussians fitted to feature sets
  (Heusel et al. 2017, arXiv:1706.08500), computed in float64 with a symmetric matrix square root.
* :func:`frechet_feature_distance` -- "FD (course feature net)": the same recipe as FID but with the course
  network's features. It is NOT FID: numbers are comparable only with other numbers from the same network.
* :func:`try_inception_fid` -- the real FID through ``torchmetrics`` when it is installed and its Inception
  weights can be downloaded (e.g. on Colab); otherwise ``None`` with a message.
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
    """The course's *independent judge*: a :class:`FeatureNet`-shaped network trained by ``data/make_judge_net.py``
    with a self-supervised contrastive objective (SimCLR, no colour jitter) on the offline natural colour crops, so
    that no model trained with the course's perceptual loss (the course feature net) is graded by its own teacher,
    and so that a colour cast shows in its features. ``embed(x)`` gives its pooled features; use it with
    :func:`kernel_feature_distance` / :func:`frechet_feature_distance` (``net=load_judge_net()``). Eval mode, frozen.
    Shipped as ``course_lib/assets/weights/judge_net.pt``; its card is :func:`judge_net_info`. Used in notebook 11."""
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
    """The judge net's card (``judge_net.json``): data, objective, steps, wall time and its sanity figures."""
    from .data import package_asset

    p = package_asset("weights", "judge_net.json")
    return json.loads(p.read_text()) if p.is_file() else {}


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
    """Kernel distance between two feature sets: ``mean`` over ``subsets`` random subsets, their ``std``, and a
    95% interval ``(low, high)`` for the mean (normal approximation over the subsets).

    The subsets are drawn from the same samples and overlap, so the interval measures the subset-to-subset spread
    and understates the sampling uncertainty of the whole comparison: treat it as a lower bound on the error bar,
    and for a claim that must hold across runs, repeat with other seeds or other samples."""
    mean: float
    std: float
    low: float
    high: float
    subsets: int
    subset_size: int

    def __str__(self) -> str:
        return (f"{self.mean:.4f} ± {self.std:.4f} (95% interval over {self.subsets} overlapping subsets of "
                f"{self.subset_size}: {self.low:.4f} to {self.high:.4f})")


def kernel_distance(feats_a: torch.Tensor, feats_b: torch.Tensor, subsets: int = 50, subset_size: int = 100,
                    seed: int = 0) -> KID:
    """Kernel Inception Distance recipe (Binkowski et al. 2018, "Demystifying MMD GANs", arXiv:1801.01401, sec. 4)
    on any features: the unbiased squared MMD with the cubic polynomial kernel k(x, y) = (x.y / F + 1)^3, averaged
    over ``subsets`` random subsets of ``subset_size`` rows from each set.

    Unlike the Frechet distance, this estimator is unbiased, so it is usable with a few hundred samples (a
    Frechet distance of 128-d features from 200 samples is dominated by its bias). It can come out slightly
    negative when the two sets are alike. Report it with its spread (``str(kid)`` does).
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
    half = 1.96 * std / math.sqrt(len(values))
    return KID(mean, std, mean - half, mean + half, len(values), m)


def kernel_feature_distance(images_a: torch.Tensor, images_b: torch.Tensor, net: Optional[nn.Module] = None,
                            batch_size: int = 256, **kwargs) -> KID:
    """"KID (course feature net)": :func:`kernel_distance` of the pooled features of ``net`` (default: the course
    feature net; any module with ``embed(x) -> (N, F)``) on two image sets (N, 1|3, H, W) in [0, 1]."""
    _check_images(images_a, "images_a")
    _check_images(images_b, "images_b")
    net = net if net is not None else load_feature_net()
    return kernel_distance(_embed_all(net, images_a, batch_size), _embed_all(net, images_b, batch_size), **kwargs)


def try_inception_fid(images_a: torch.Tensor, images_b: torch.Tensor, device=None) -> Optional[float]:
    """The standard FID (Inception-v3 pool features, via ``torchmetrics``) if torchmetrics is installed and
    its Inception weights can be fetched (they are downloaded on first use: needs a network, e.g. Colab).
    Otherwise prints why and returns ``None``; use :func:`frechet_feature_distance` instead."""
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
