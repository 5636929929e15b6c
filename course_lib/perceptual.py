"""An LPIPS-style perceptual distance (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features
as a Perceptual Metric", arXiv:1801.03924) that works offline.

For two images x, y and a fixed feature network with stages l = 1..L (activations of shape (C_l, H_l, W_l)):

    d(x, y) = sum_l  1/(H_l W_l)  sum_{h,w}  sum_c  w_{l,c} * ( f^l_{chw}(x)/|f^l_{hw}(x)| - f^l_{chw}(y)/|f^l_{hw}(y)| )^2

1. :func:`normalize_channels` -- unit-normalise each position's channel vector (dim 1);
2. squared difference, weighted per channel by w_l (learned in LPIPS; uniform here unless given);
3. average over positions, sum over stages (:func:`lpips_distance`).

Backends (chosen by :class:`PerceptualLoss`):

* ``"lpips-vgg"``: the ``lpips`` package's VGG-16 with its learned linear weights (needs ``pip install lpips``
  AND the torchvision VGG-16 ImageNet weights, which are downloaded on first use: e.g. on Colab).
* ``"course"``: the course's own small feature net (:func:`course_lib.image_quality.load_feature_net`, a
  Fashion-MNIST classifier shipped in ``course_lib/assets/weights``) with UNIFORM channel weights w = 1 (the
  ``lpips=False`` "baseline" variant of the lpips package: no learned weights). Works offline.
* ``"auto"`` (default): ``"lpips-vgg"`` if it loads, else ``"course"``; one message says which and why.

``COURSE_OFFLINE=1`` forbids downloads: then ``"auto"`` tries LPIPS-VGG only when the torchvision VGG-16 weights are
already in the torch hub cache (``$TORCH_HOME/hub/checkpoints``), and ``"lpips-vgg"`` without them raises instead of
downloading.

Half precision: the square root of a sum of squares is where LPIPS-style losses break under fp16. The safe
path (default) computes the norm in float32 with eps INSIDE the square root; ``safe=False`` reproduces the
lpips package's formula ``x / (sqrt(sum x^2) + 1e-10)`` in the input dtype, which gives NaN (0/0: 1e-10 is
0 in float16) for all-zero feature vectors and NaN gradients (d sqrt(s)/ds = inf at s = 0) in any dtype.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn

from .image_quality import load_feature_net

__all__ = ["normalize_channels", "lpips_distance", "PerceptualLoss", "BACKENDS", "shift_image", "shifted_average",
           "gaussian_blur", "match_mse", "edge_agreement"]

BACKENDS = ("auto", "course", "lpips-vgg")
_ANNOUNCED: set = set()   # backend descriptions already printed in this process


def normalize_channels(x: torch.Tensor, eps: float = 1e-10, safe: bool = True) -> torch.Tensor:
    """Unit-normalise the channel vector at every position: x / ||x||_2 over dim 1.

    Args:
        x: (B, C, H, W) features.
        eps: small constant.
        safe: True -> computed in float32 as ``x * rsqrt(sum_c x^2 + eps)`` (eps inside the root: finite value
            and gradient even where the whole channel vector is zero; no float16 overflow of the sum).
            False -> the lpips package's ``x / (sqrt(sum_c x^2) + eps)`` in x's own dtype (NaN-prone in half
            precision; kept to demonstrate the problem).
    Returns:
        (B, C, H, W); float32 when ``safe``, else x's dtype.
    """
    if x.dim() != 4:
        raise ValueError(f"normalize_channels expects features (B, C, H, W), got {tuple(x.shape)}")
    if safe:
        x = x.float()
        return x * torch.rsqrt(x.pow(2).sum(dim=1, keepdim=True) + eps)
    return x / (x.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


def lpips_distance(feats_x: Sequence[torch.Tensor], feats_y: Sequence[torch.Tensor],
                   weights: Optional[Sequence[Optional[torch.Tensor]]] = None,
                   eps: float = 1e-10, safe: bool = True) -> torch.Tensor:
    """LPIPS-style distance from two lists of stage features.

    Args:
        feats_x, feats_y: lists of (B, C_l, H_l, W_l) activations (raw, not yet normalised).
        weights: per-stage channel weights, each (C_l,) (None or a None entry = uniform weights of 1).
    Returns:
        (B,) float32: sum over stages of the spatial mean of the channel-weighted squared difference of the
        channel-normalised features.
    """
    if len(feats_x) != len(feats_y):
        raise ValueError(f"got {len(feats_x)} and {len(feats_y)} feature stages")
    total = None
    for i, (fx, fy) in enumerate(zip(feats_x, feats_y)):
        diff = (normalize_channels(fx, eps, safe) - normalize_channels(fy, eps, safe)).pow(2)
        w = None if weights is None else weights[i]
        if w is None:
            per_pos = diff.sum(dim=1)
        else:
            per_pos = (diff * w.to(diff).view(1, -1, 1, 1)).sum(dim=1)
        d = per_pos.float().mean(dim=(1, 2))
        total = d if total is None else total + d
    return total


VGG16_FILE = "vgg16-397923af.pth"   # torchvision's ImageNet VGG-16 weights, the backbone lpips loads


def _vgg_weights_cached() -> bool:
    """True when torchvision's VGG-16 ImageNet weights are already in the torch hub cache (no download needed)."""
    try:
        return (Path(torch.hub.get_dir()) / "checkpoints" / VGG16_FILE).is_file()
    except Exception:  # pragma: no cover - an unusual hub configuration
        return False


def _lpips_vgg():
    """(scaling_layer, vgg_features, [channel weights]) from the lpips package, or raise."""
    import warnings

    import lpips  # optional dependency

    with warnings.catch_warnings():  # lpips uses torchvision's deprecated `pretrained=True`
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net="vgg", verbose=False)  # loads torchvision VGG-16 ImageNet weights (may download)
    weights = [lin.model[-1].weight.detach().flatten().clone() for lin in model.lins]
    return model.scaling_layer, model.net, weights


class PerceptualLoss(nn.Module):
    """LPIPS-style perceptual distance between image batches in [0, 1].

    Args:
        backend: "auto" (lpips VGG if it loads, else the course net), "course", or "lpips-vgg".
        weights: channel weights per stage for the course backend: None / "uniform" (w = 1 everywhere,
            the default) or a list of (C_l,) non-negative tensors.
        safe: numerically safe channel normalisation (float32, eps inside the root); False shows the
            NaN-prone formula (see :func:`normalize_channels`).
        verbose: print the one-line message saying which network is in use (once per process for each
            distinct message).

    ``forward(x, y)`` takes (B, 1|3, H, W) images in [0, 1] (grey is repeated to RGB) and returns (B,)
    distances (0 for identical inputs). Use ``loss(x, y).mean()`` as a training loss. The feature network is
    frozen and always in eval mode; gradients flow to the inputs.
    """

    def __init__(self, backend: str = "auto", weights: Union[None, str, Sequence[torch.Tensor]] = None,
                 safe: bool = True, eps: float = 1e-10, device=None, verbose: bool = True):
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.safe, self.eps = safe, eps
        self.scaling = None
        reason = ""
        chosen = None
        from .data import offline_requested

        offline_blocked = offline_requested() and not _vgg_weights_cached()
        if backend == "lpips-vgg" and offline_blocked:
            raise RuntimeError(
                f"backend='lpips-vgg' would download the torchvision VGG-16 weights ({VGG16_FILE}), but COURSE_OFFLINE "
                "is set. Unset COURSE_OFFLINE, put the file in the torch hub cache (torch.hub.get_dir()/checkpoints), "
                "or use backend='course' (offline).")
        if backend == "auto" and offline_blocked:
            reason = "COURSE_OFFLINE is set and the VGG-16 weights are not cached, so nothing is downloaded"
        elif backend in ("auto", "lpips-vgg"):
            try:
                self.scaling, self.net, lin_w = _lpips_vgg()
                chosen = "lpips-vgg"
            except Exception as err:  # not installed, or no network for the VGG weights
                reason = ("the lpips package is not installed" if isinstance(err, ImportError) else
                          "the VGG-16 weights could not be loaded (no network?)")
                if backend == "lpips-vgg":
                    raise RuntimeError(
                        f"backend='lpips-vgg' needs `pip install lpips` and the torchvision VGG-16 ImageNet weights "
                        f"(downloaded on first use; no network here?). Failed with {reason}. "
                        f"Use backend='course' (offline) or 'auto'.") from err
        if chosen == "lpips-vgg":
            if weights not in (None, "lpips"):
                raise ValueError("custom weights are only supported with backend='course'")
            stage_weights: List[Optional[torch.Tensor]] = lin_w
            self.description = ("LPIPS-VGG (lpips package: ImageNet VGG-16 conv1_2..conv5_3 features, "
                                "learned per-channel weights of Zhang et al. 2018)")
        else:
            chosen = "course"
            self.net = load_feature_net()
            widths = self.net.widths
            if weights is None or (isinstance(weights, str) and weights == "uniform"):
                stage_weights = [torch.ones(c) for c in widths]
                wdesc = "uniform channel weights (w = 1, no learned weights)"
            elif isinstance(weights, str):
                raise ValueError(f"weights must be None, 'uniform' or a list of per-stage tensors, got {weights!r}")
            else:
                if len(weights) != len(widths) or any(w.numel() != c for w, c in zip(weights, widths)):
                    raise ValueError(f"weights must be {len(widths)} tensors of sizes {widths}")
                stage_weights = [torch.as_tensor(w, dtype=torch.float32).flatten() for w in weights]
                wdesc = "user-supplied channel weights"
            self.description = (f"course feature net (course_lib/assets/weights/feature_net.pt: 4-stage Fashion-MNIST classifier, "
                                f"widths {'-'.join(map(str, widths))}), {wdesc}")
            if backend == "auto":
                self.description += f" -- offline stand-in for LPIPS-VGG ({reason or 'lpips unavailable'})"
        self.backend_name = chosen
        for i, w in enumerate(stage_weights):
            self.register_buffer(f"w{i}", w.float())
        self.num_stages = len(stage_weights)
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.net.eval()
        if device is not None:
            self.to(device)
        if verbose and self.description not in _ANNOUNCED:   # once per process, not at every construction
            _ANNOUNCED.add(self.description)
            print(f"PerceptualLoss: {self.description}")

    def train(self, mode: bool = True):
        super().train(mode)
        self.net.eval()  # the backbone stays frozen in eval mode
        return self

    @property
    def channel_weights(self) -> List[torch.Tensor]:
        return [getattr(self, f"w{i}") for i in range(self.num_stages)]

    def features(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Raw stage activations of images (B, 1|3, H, W) in [0, 1]."""
        if self.backend_name == "course":
            return self.net.features(x)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return list(self.net(self.scaling(x * 2 - 1)))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
            raise TypeError("PerceptualLoss expects two image tensors (B, C, H, W)")
        if x.dim() != 4 or x.shape != y.shape:
            raise ValueError(f"PerceptualLoss expects x and y of the same shape (B, C, H, W), got "
                             f"{tuple(x.shape)} and {tuple(y.shape)}")
        if x.shape[1] not in (1, 3):
            raise ValueError(f"PerceptualLoss expects 1 or 3 channels first, got {tuple(x.shape)}")
        b = x.shape[0]
        f = self.features(torch.cat([x, y]))
        fx, fy = [t[:b] for t in f], [t[b:] for t in f]
        return lpips_distance(fx, fy, self.channel_weights, eps=self.eps, safe=self.safe)

    def extra_repr(self) -> str:
        return f"backend={self.backend_name!r}, safe={self.safe}"


# ------------------------------------------------------------------------------------ notebook 07's image helpers
def shift_image(img: torch.Tensor, dx: int, dy: int = 0) -> torch.Tensor:
    """Shift (N, C, H, W) images by ``dx`` pixels right and ``dy`` down, filling with 0 (Fashion-MNIST's
    background). Built in notebook 07, section 1."""
    if img.dim() != 4:
        raise ValueError(f"shift_image expects images (N, C, H, W), got {tuple(img.shape)}")
    h, w = img.shape[-2:]
    padded = torch.nn.functional.pad(img, (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0)))
    top, left = max(-dy, 0), max(-dx, 0)
    return padded[..., top:top + h, left:left + w]


def shifted_average(img: torch.Tensor, shifts: Sequence[int] = (-2, -1, 1, 2)) -> torch.Tensor:
    """The mean of horizontally shifted copies: what an L2-trained decoder outputs when it only knows the edge is
    "one of these places". The default leaves out the unshifted image itself, so that the average gets no free
    copy of the target. Notebook 07, section 1."""
    return torch.stack([shift_image(img, int(dx)) for dx in shifts]).mean(0)


def gaussian_blur(img: torch.Tensor, sigma: torch.Tensor, radius: int = 9) -> torch.Tensor:
    """Blur every image of (N, C, H, W) with its own ``sigma`` (N,): a separable Gaussian of 2 radius + 1 taps,
    zero padding."""
    r = torch.arange(-radius, radius + 1, dtype=img.dtype)
    k = torch.exp(-r[None] ** 2 / (2 * sigma[:, None].to(img.dtype) ** 2))
    k = k / k.sum(1, keepdim=True)                                         # (N, taps)
    n, c = img.shape[:2]
    flat = img.reshape(1, n * c, *img.shape[-2:])
    kk = k.repeat_interleave(c, 0)
    out = torch.nn.functional.conv2d(flat, kk.view(n * c, 1, 1, -1), padding=(0, radius), groups=n * c)
    out = torch.nn.functional.conv2d(out, kk.view(n * c, 1, -1, 1), padding=(radius, 0), groups=n * c)
    return out.reshape(img.shape)


def match_mse(make, params: torch.Tensor, x: torch.Tensor, target: torch.Tensor):
    """For every image of ``x`` pick, from the distortions ``make(p)`` for p in ``params``, the one whose MSE to
    the image is closest to ``target`` (N,). Returns (images, their MSE). Notebook 07's equal-MSE comparison."""
    candidates = torch.stack([make(p) for p in params])                    # (P, N, C, H, W)
    mse = (candidates - x).pow(2).flatten(2).mean(2)                       # (P, N)
    best = (mse - target).abs().argmin(0)
    idx = torch.arange(len(target))
    return candidates[best, idx], mse[best, idx]


def edge_agreement(rec: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per-image correlation (N,) between the image-gradient magnitude maps of ``rec`` and ``ref``: 1 = edges
    where the original has them and in proportion; noise adds gradients where the original has none and lowers it,
    so unlike a mean gradient (sharpness) it cannot be bought with noise. Notebook 07, section 5."""
    def grad_mag(img):
        img = img.detach().float()
        gx, gy = img[..., :, 1:] - img[..., :, :-1], img[..., 1:, :] - img[..., :-1, :]
        return (gx[..., :-1, :].pow(2) + gy[..., :, :-1].pow(2)).sqrt().flatten(1)
    a, b = grad_mag(rec), grad_mag(ref)
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + 1e-12)
