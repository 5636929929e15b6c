"""Classical image-restoration baselines that a learned model must beat: no training, the strongest scikit-image has.

    from course_lib.classical import add_gaussian_noise, classical_denoisers, BASELINE_HEADERS
    noisy = add_gaussian_noise(x, std=0.1, seed=0)          # zero-mean noise, NOT clipped to [0, 1]
    rows = classical_denoisers(noisy_test, x_test, noisy_val, x_val)   # each method tuned on the validation pair
    show_table(rows, BASELINE_HEADERS)                      # method, parameter, value, PSNR (dB), SSIM

Every family has one entry point that tunes each method *the same way*: the parameter on a stated grid that gives the
highest mean PSNR on held-out validation images (never the test images), outputs clipped to [0, 1]:

* denoising (:func:`tune_denoiser`, :func:`classical_denoisers`): Gaussian filter, median filter, total variation
  (``skimage.restoration.denoise_tv_chambolle``; Rudin, Osher & Fatemi 1992, Chambolle 2004) and non-local means
  (``denoise_nl_means``; Buades, Coll & Morel 2005);
* inpainting: :func:`harmonic_fill` (Laplace's equation from the true boundary, a sparse solve) and
  :func:`biharmonic_fill` (``skimage.restoration.inpaint_biharmonic``; Damelin & Hoang 2018);
* deblurring (:func:`blur`, :func:`deconvolve`, :func:`classical_deblurrers`): Wiener (``restoration.wiener``,
  balance tuned; ``unsupervised_wiener`` has no parameter) and Richardson-Lucy (``restoration.richardson_lucy``;
  Richardson 1972, Lucy 1974; iterations tuned);
* super-resolution (:func:`classical_upsamplers`): bicubic interpolation and iterative back-projection
  (:func:`back_projection_upsample`, Irani & Peleg 1991).

Images are torch tensors (N, C, H, W) in [0, 1], grey (C = 1) or colour (C = 3), float32 or float64 (returned in
the input's dtype and device). :func:`best_denoiser` (the Gaussian and median filters at their oracle width on the
test images themselves) stays for the notebooks that call it; new comparisons should tune on held-out images.

Noise model: ``x + std * N(0, 1)``, left unclipped. Clipping to [0, 1] would make the noise's mean non-zero near
black and white (it can only push dark pixels up and bright ones down), which quietly rewards any method that
pulls images towards mid-grey. A model trained on [0, 1] images still sees the unclipped input: that is the point.
"""
from __future__ import annotations

import math
import warnings
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["add_gaussian_noise", "gaussian_denoise", "median_denoise", "tv_denoise", "nl_means_denoise", "denoise",
           "DenoiseResult", "best_denoiser", "Tuned", "BaselineRow", "BASELINE_HEADERS", "DENOISER_GRIDS",
           "tune_denoiser", "classical_denoisers", "harmonic_fill", "biharmonic_fill", "gaussian_psf", "blur",
           "deconvolve", "DECONVOLUTION_GRIDS", "tune_deconvolution", "classical_deblurrers", "downsample",
           "bicubic_upsample", "back_projection_upsample", "classical_upsamplers", "tune"]


def _check(x: torch.Tensor, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        hint = " (add a batch dimension with x.unsqueeze(0))" if isinstance(x, torch.Tensor) and x.dim() == 3 else ""
        raise ValueError(f"{name} must be an image batch of shape (N, C, H, W), got {shape}{hint}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must hold float images in [0, 1], got dtype {x.dtype} (use x.float() / 255)")


def _per_image(x: torch.Tensor, fn: Callable[[np.ndarray, Optional[int]], np.ndarray]) -> torch.Tensor:
    """Apply a scikit-image style function image by image: ``fn(img, channel_axis)`` with ``img`` (H, W) float64
    and ``channel_axis=None`` for grey images, (H, W, C) and ``channel_axis=-1`` for colour ones."""
    _check(x)
    arr = x.detach().cpu().double().numpy()
    out = np.empty_like(arr)
    for i in range(arr.shape[0]):
        if arr.shape[1] == 1:
            out[i, 0] = fn(arr[i, 0], None)
        else:
            out[i] = np.moveaxis(fn(np.moveaxis(arr[i], 0, -1), -1), -1, 0)
    return torch.from_numpy(out).to(device=x.device, dtype=x.dtype)


def add_gaussian_noise(x: torch.Tensor, std: float, seed: int = 0) -> torch.Tensor:
    """``x + std * N(0, 1)`` with a seeded generator; zero-mean and unclipped (see the module docstring)."""
    _check(x)
    if std < 0:
        raise ValueError(f"std must be >= 0, got {std}")
    g = torch.Generator().manual_seed(int(seed))
    return x + std * torch.randn(x.shape, generator=g, dtype=x.dtype).to(x.device)


def gaussian_denoise(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur each channel with a Gaussian of standard deviation ``sigma`` pixels (reflect padding)."""
    _check(x)
    if sigma <= 0:
        return x.clone()
    radius = max(1, int(3 * sigma + 0.5))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t ** 2) / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    y = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def median_denoise(x: torch.Tensor, size: int = 3) -> torch.Tensor:
    """Median of each ``size`` x ``size`` neighbourhood (odd size, reflect padding)."""
    _check(x)
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size must be a positive odd number, got {size}")
    r = size // 2
    y = F.pad(x, (r, r, r, r), mode="reflect")
    patches = y.unfold(2, size, 1).unfold(3, size, 1)            # (N, C, H, W, size, size)
    return patches.reshape(*patches.shape[:4], -1).median(dim=-1).values


class DenoiseResult(NamedTuple):
    name: str          # e.g. "Gaussian filter (sigma=1.0)"
    output: torch.Tensor
    psnr: float


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a.clamp(0, 1) - b).pow(2).mean().clamp_min(1e-12)
    return float(10 * torch.log10(1.0 / mse))


def best_denoiser(noisy: torch.Tensor, clean: torch.Tensor, sigmas: Sequence[float] = (0.5, 0.75, 1.0, 1.5, 2.0),
                  sizes: Sequence[int] = (3, 5), methods: Sequence[str] = ("gaussian", "median"),
                  noisy_val: Optional[torch.Tensor] = None, clean_val: Optional[torch.Tensor] = None
                  ) -> Dict[str, DenoiseResult]:
    """The Gaussian filter and the median filter (and, when asked in ``methods``, ``"tv"`` and ``"nlm"``), each at
    the parameter that gives the highest PSNR. Outputs are clipped to [0, 1]. Returns {method: DenoiseResult}.

    Without ``noisy_val``/``clean_val`` the parameter is chosen on ``clean`` itself (an oracle choice: generous to the
    baselines); with them it is tuned on that held-out pair (:func:`tune_denoiser`) and ``psnr`` is measured on
    ``noisy``/``clean``, the honest protocol. ``sigmas``/``sizes`` are the Gaussian and median grids."""
    _check(noisy, "noisy")
    _check(clean, "clean")
    if noisy.shape != clean.shape:
        raise ValueError(f"noisy and clean must have the same shape, got {tuple(noisy.shape)} and {tuple(clean.shape)}")
    grids = {"gaussian": tuple(sigmas), "median": tuple(sizes)}
    best: Dict[str, DenoiseResult] = {}
    for m in methods:
        if m not in DENOISER_GRIDS:
            raise ValueError(f"unknown denoiser {m!r}; choose from {sorted(DENOISER_GRIDS)}")
        grid = grids.get(m, DENOISER_GRIDS[m])
        if noisy_val is not None:
            if clean_val is None:
                raise ValueError("pass clean_val together with noisy_val")
            param = tune_denoiser(m, noisy_val, clean_val, grid=grid).param
            out = denoise(m, noisy, param)
            best[m] = DenoiseResult(_denoiser_label(m, param), out, _psnr(out, clean))
            continue
        for p in grid:
            out = denoise(m, noisy, p)
            r = DenoiseResult(_denoiser_label(m, p), out, _psnr(out, clean))
            if m not in best or r.psnr > best[m].psnr:
                best[m] = r
    return best


def _denoiser_label(method: str, param: float) -> str:
    return {"gaussian": f"Gaussian filter (sigma={param:g})", "median": f"median filter ({int(param)}x{int(param)})",
            "tv": f"total variation (weight={param:g})", "nlm": f"non-local means (h={param:g})"}[method]


# ------------------------------------------------------------------------------------------ tuning, one way
class Tuned(NamedTuple):
    """The outcome of tuning one method: its chosen ``param``, the mean validation PSNR there (``val_psnr``) and the
    whole grid's scores ``{param: mean validation PSNR}``."""
    method: str
    param: Optional[float]
    val_psnr: float
    scores: Dict[Optional[float], float]


class BaselineRow(NamedTuple):
    """One row of a baselines table: ``show_table(rows, BASELINE_HEADERS)``."""
    method: str          # e.g. "non-local means (Buades et al. 2005)"
    parameter: str       # which parameter was tuned, e.g. "h"
    value: Optional[float]   # its chosen value (None: nothing to tune)
    psnr: float          # mean per-image PSNR (dB) on the test images
    ssim: float          # mean SSIM on the test images


BASELINE_HEADERS = ["method", "tuned parameter", "chosen value", "PSNR (dB)", "SSIM"]


def _mean_psnr(out: torch.Tensor, clean: torch.Tensor) -> float:
    from .metrics import psnr

    return psnr(out.clamp(0, 1), clean)


def tune(apply: Callable[[torch.Tensor, Optional[float]], torch.Tensor], grid: Sequence[Optional[float]],
         degraded_val: torch.Tensor, clean_val: torch.Tensor, method: str = "method") -> Tuned:
    """The one tuning rule of this module: the ``grid`` value whose output ``apply(degraded_val, value)`` (clipped to
    [0, 1]) has the highest mean per-image PSNR against ``clean_val``. Warns when the best value is at an end of a
    grid of 3 or more values (widen the grid)."""
    _check(degraded_val, "degraded_val")
    _check(clean_val, "clean_val")
    if len(grid) == 0:
        raise ValueError(f"{method}: the grid is empty")
    scores = {p: _mean_psnr(apply(degraded_val, p), clean_val) for p in grid}
    best = max(scores, key=lambda p: scores[p])
    if len(grid) >= 3 and best in (grid[0], grid[-1]):
        warnings.warn(f"{method}: the best value {best} is at the end of its grid {tuple(grid)}; widen the grid",
                      stacklevel=3)
    return Tuned(method, best, scores[best], scores)


def _rows(methods: Dict[str, Tuple[str, str, Callable, Sequence]], degraded_test, clean_test, degraded_val, clean_val,
          return_outputs: bool):
    from .image_quality import ssim

    _check(degraded_test, "degraded_test")
    _check(clean_test, "clean_test")
    rows: List[BaselineRow] = []
    outputs: Dict[str, torch.Tensor] = {}
    for key, (label, pname, apply, grid) in methods.items():
        t = tune(apply, grid, degraded_val, clean_val, key)
        out = apply(degraded_test, t.param).clamp(0, 1)
        rows.append(BaselineRow(label, pname, t.param, _mean_psnr(out, clean_test), float(ssim(out, clean_test))))
        outputs[key] = out
    return (rows, outputs) if return_outputs else rows


# ------------------------------------------------------------------------------------------------ denoising
def tv_denoise(x: torch.Tensor, weight: float) -> torch.Tensor:
    """Total-variation denoising (Rudin, Osher & Fatemi 1992) by Chambolle's projection algorithm (2004):
    ``skimage.restoration.denoise_tv_chambolle(img, weight=weight)`` per image, colour channels jointly."""
    from skimage.restoration import denoise_tv_chambolle

    if weight < 0:
        raise ValueError(f"weight must be >= 0, got {weight}")
    return _per_image(x, lambda img, ca: denoise_tv_chambolle(img, weight=float(weight), channel_axis=ca))


NLM_PATCH_SIZE, NLM_PATCH_DISTANCE = 5, 6


def nl_means_denoise(x: torch.Tensor, h: float) -> torch.Tensor:
    """Non-local means (Buades, Coll & Morel 2005): ``skimage.restoration.denoise_nl_means(img, h=h,
    patch_size=5, patch_distance=6, fast_mode=True)`` per image (5x5 patches searched within 13x13, sized for
    28-32 px images). ``h`` is the filter strength in grey levels of [0, 1]."""
    from skimage.restoration import denoise_nl_means

    if h <= 0:
        raise ValueError(f"h must be > 0, got {h}")
    return _per_image(x, lambda img, ca: denoise_nl_means(img, patch_size=NLM_PATCH_SIZE,
                                                          patch_distance=NLM_PATCH_DISTANCE, h=float(h),
                                                          fast_mode=True, channel_axis=ca))


DENOISER_GRIDS: Dict[str, Tuple[float, ...]] = {
    "gaussian": (0.3, 0.4, 0.5, 0.6, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0),          # sigma, pixels
    "median": (1, 3, 5, 7, 9),                                                     # window size (1: no filter)
    "tv": (0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5),                # weight
    "nlm": (0.02, 0.04, 0.06, 0.08, 0.1, 0.13, 0.17, 0.22, 0.3, 0.4),              # h
}
_DENOISER_NAMES = {"gaussian": ("Gaussian filter", "sigma"), "median": ("median filter", "size"),
                   "tv": ("total variation (Chambolle 2004)", "weight"),
                   "nlm": ("non-local means (Buades et al. 2005)", "h")}


def denoise(method: str, x: torch.Tensor, param: float) -> torch.Tensor:
    """One entry point for the four denoisers, output clipped to [0, 1]: ``method`` in ``"gaussian"`` (sigma),
    ``"median"`` (odd size), ``"tv"`` (weight) or ``"nlm"`` (h)."""
    if method == "gaussian":
        out = gaussian_denoise(x, float(param))
    elif method == "median":
        out = median_denoise(x, int(param))
    elif method == "tv":
        out = tv_denoise(x, float(param))
    elif method == "nlm":
        out = nl_means_denoise(x, float(param))
    else:
        raise ValueError(f"unknown denoiser {method!r}; choose from {sorted(DENOISER_GRIDS)}")
    return out.clamp(0, 1)


def tune_denoiser(method: str, noisy_val: torch.Tensor, clean_val: torch.Tensor,
                  grid: Optional[Sequence[float]] = None) -> Tuned:
    """Tune one denoiser on a held-out pair: the ``grid`` value (default ``DENOISER_GRIDS[method]``) with the highest
    mean PSNR of ``denoise(method, noisy_val, value)`` against ``clean_val``."""
    if method not in DENOISER_GRIDS:
        raise ValueError(f"unknown denoiser {method!r}; choose from {sorted(DENOISER_GRIDS)}")
    if noisy_val.shape != clean_val.shape:
        raise ValueError(f"noisy_val and clean_val must have the same shape, got {tuple(noisy_val.shape)} and "
                         f"{tuple(clean_val.shape)}")
    grid = tuple(DENOISER_GRIDS[method] if grid is None else grid)
    return tune(lambda x, p: denoise(method, x, p), grid, noisy_val, clean_val, method)


def classical_denoisers(noisy_test: torch.Tensor, clean_test: torch.Tensor, noisy_val: torch.Tensor,
                        clean_val: torch.Tensor, methods: Sequence[str] = ("gaussian", "median", "tv", "nlm"),
                        grids: Optional[Dict[str, Sequence[float]]] = None, return_outputs: bool = False):
    """Each denoiser tuned on (``noisy_val``, ``clean_val``) by :func:`tune_denoiser`, then measured on the test pair.
    Returns a list of :class:`BaselineRow` (method, tuned parameter, chosen value, PSNR, SSIM), and with
    ``return_outputs=True`` also ``{method: denoised test images}``."""
    grids = grids or {}
    spec = {}
    for m in methods:
        if m not in DENOISER_GRIDS:
            raise ValueError(f"unknown denoiser {m!r}; choose from {sorted(DENOISER_GRIDS)}")
        label, pname = _DENOISER_NAMES[m]
        spec[m] = (label, pname, (lambda x, p, m=m: denoise(m, x, p)), tuple(grids.get(m, DENOISER_GRIDS[m])))
    return _rows(spec, noisy_test, clean_test, noisy_val, clean_val, return_outputs)


# ----------------------------------------------------------------------------------------------- inpainting
def _masks(mask, x: torch.Tensor) -> torch.Tensor:
    """Any of (H, W), (N, H, W), (1 or N, 1, H, W) -> bool (N, H, W), True where a pixel is missing."""
    m = torch.as_tensor(mask).to("cpu")
    if m.dtype != torch.bool:
        if ((m != 0) & (m != 1)).any():
            raise ValueError("mask must be boolean (True = missing pixel) or 0/1")
        m = m.bool()
    n, _, h, w = x.shape
    if m.dim() == 4:
        if m.shape[1] != 1:
            raise ValueError(f"a 4-D mask must have one channel (N, 1, H, W), got {tuple(m.shape)}")
        m = m[:, 0]
    if m.dim() == 2:
        m = m.unsqueeze(0)
    if m.dim() != 3 or m.shape[-2:] != (h, w) or m.shape[0] not in (1, n):
        raise ValueError(f"mask must have shape (H, W), (N, H, W) or (N, 1, H, W) matching the images "
                         f"{tuple(x.shape)}, got {tuple(torch.as_tensor(mask).shape)}")
    return m.expand(n, h, w)


def harmonic_fill(x: torch.Tensor, mask) -> torch.Tensor:
    """Fill the masked pixels with the harmonic function that takes the known pixels' values at the hole's boundary:
    Laplace's equation (4-neighbour) solved exactly in the hole, a sparse linear system per image (scipy), the
    image border a natural (Neumann) boundary. The smoothest fill in the sense of the Dirichlet energy; flat inside
    large holes. ``mask``: True where a pixel is missing ((H, W), (N, H, W) or (N, 1, H, W)); known pixels are kept
    exactly. Each connected part of the hole needs at least one known neighbour."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    _check(x)
    masks = _masks(mask, x)
    arr = x.detach().cpu().double().numpy().copy()
    n, c, h, w = arr.shape
    for i in range(n):
        m = masks[i].numpy()
        ys, xs = np.nonzero(m)
        k = ys.size
        if k == 0:
            continue
        if k == h * w:
            raise ValueError(f"image {i}: every pixel is masked; a fill needs known pixels around the hole")
        index = -np.ones((h, w), dtype=np.int64)
        index[ys, xs] = np.arange(k)
        rows, cols, vals = [], [], []
        rhs = np.zeros((k, c))
        deg = np.zeros(k)
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            ny, nx = ys + dy, xs + dx
            inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
            deg += inside
            p = np.nonzero(inside)[0]
            qy, qx = ny[p], nx[p]
            unknown = m[qy, qx]
            rows.append(p[unknown])
            cols.append(index[qy[unknown], qx[unknown]])
            vals.append(-np.ones(int(unknown.sum())))
            known = ~unknown
            rhs[p[known]] += arr[i][:, qy[known], qx[known]].T
        a = sp.csc_matrix((np.concatenate(vals + [deg]), (np.concatenate(rows + [np.arange(k)]),
                                                          np.concatenate(cols + [np.arange(k)]))), shape=(k, k))
        try:
            sol = splu(a).solve(rhs)
        except RuntimeError as err:  # a part of the hole with no known neighbour: singular
            raise ValueError(f"image {i}: a part of the hole touches no known pixel, so the fill is not determined "
                             f"({err})") from None
        arr[i][:, ys, xs] = sol.T
    return torch.from_numpy(arr).to(device=x.device, dtype=x.dtype)


def biharmonic_fill(x: torch.Tensor, mask) -> torch.Tensor:
    """Biharmonic inpainting, ``skimage.restoration.inpaint_biharmonic(img, mask)`` per image (Damelin & Hoang
    2018): the fill solves the biharmonic equation, so it continues gradients into the hole as well as values
    (smoother across the boundary than :func:`harmonic_fill`). ``mask``: True where a pixel is missing."""
    from skimage.restoration import inpaint_biharmonic

    _check(x)
    masks = _masks(mask, x).numpy()
    arr = x.detach().cpu().double().numpy()
    out = arr.copy()
    for i in range(arr.shape[0]):
        if not masks[i].any():
            continue
        if arr.shape[1] == 1:
            out[i, 0] = inpaint_biharmonic(arr[i, 0], masks[i])
        else:
            out[i] = np.moveaxis(inpaint_biharmonic(np.moveaxis(arr[i], 0, -1), masks[i], channel_axis=-1), -1, 0)
    return torch.from_numpy(out).to(device=x.device, dtype=x.dtype)


# ----------------------------------------------------------------------------------------------- deblurring
def gaussian_psf(sigma: float, size: Optional[int] = None) -> torch.Tensor:
    """A normalised (size, size) Gaussian point-spread function (float64), size = 2 ceil(3 sigma) + 1 by default."""
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    size = int(size) if size is not None else 2 * math.ceil(3 * sigma) + 1
    if size < 1 or size % 2 == 0:
        raise ValueError(f"size must be a positive odd number, got {size}")
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = torch.outer(g, g)
    return k / k.sum()


def _psf(psf) -> torch.Tensor:
    k = torch.as_tensor(np.asarray(psf) if not isinstance(psf, torch.Tensor) else psf).double().cpu()
    if k.dim() != 2 or k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0:
        raise ValueError(f"psf must be a 2-D kernel with odd sides (centred), got shape {tuple(k.shape)}")
    if (k < 0).any() or float(k.sum()) <= 0:
        raise ValueError("psf must be non-negative with a positive sum")
    return k / k.sum()


def blur(x: torch.Tensor, psf) -> torch.Tensor:
    """Convolve each channel with the point-spread function ``psf`` (2-D, odd sides, normalised to sum 1 here),
    reflect padding at the border: the degradation of the deblurring experiments."""
    _check(x)
    k = _psf(psf).to(device=x.device, dtype=x.dtype)
    ph, pw = k.shape[0] // 2, k.shape[1] // 2
    if ph >= x.shape[-2] or pw >= x.shape[-1]:
        raise ValueError(f"psf {tuple(k.shape)} is too large for images of size {tuple(x.shape[-2:])}")
    c = x.shape[1]
    y = F.pad(x, (pw, pw, ph, ph), mode="reflect")
    return F.conv2d(y, k.flip(0, 1).expand(c, 1, *k.shape).contiguous(), groups=c)


DECONVOLUTION_GRIDS: Dict[str, Tuple[Optional[float], ...]] = {
    "wiener": (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0),      # balance (regularisation weight)
    "richardson_lucy": (1, 2, 3, 5, 8, 12, 20, 30, 50, 80, 120, 200, 300),  # iterations
    "unsupervised_wiener": (None,),                                     # no parameter (estimated from the image)
}
_DECONV_NAMES = {"wiener": ("Wiener deconvolution", "balance"),
                 "richardson_lucy": ("Richardson-Lucy (1972, 1974)", "iterations"),
                 "unsupervised_wiener": ("unsupervised Wiener (Orieux et al. 2010)", "none")}


def deconvolve(x: torch.Tensor, psf, method: str = "wiener", param: Optional[float] = None) -> torch.Tensor:
    """Deconvolve blurred images with scikit-image, per image and channel, output clipped to [0, 1]:

    * ``"wiener"``: ``restoration.wiener(img, psf, balance=param)`` (default balance 0.01);
    * ``"unsupervised_wiener"``: ``restoration.unsupervised_wiener(img, psf)`` (its regularisation is estimated
      by a Gibbs sampler seeded at 0; ``param`` unused);
    * ``"richardson_lucy"``: ``restoration.richardson_lucy(img, psf, num_iter=param)`` (default 10), input clipped
      to [0, 1] first (the algorithm assumes non-negative data).

    The images are reflect-padded by the PSF's size before and cropped after, for every method the same way
    (scikit-image's Wiener filter assumes a periodic image; the padding keeps the border from ringing)."""
    from skimage import restoration

    _check(x)
    k = _psf(psf).numpy()
    if method not in DECONVOLUTION_GRIDS:
        raise ValueError(f"unknown method {method!r}; choose from {sorted(DECONVOLUTION_GRIDS)}")
    if method == "wiener":
        balance = 0.01 if param is None else float(param)
        fn = lambda img: restoration.wiener(img, k, balance, clip=False)  # noqa: E731
    elif method == "richardson_lucy":
        iters = 10 if param is None else int(param)
        if iters < 1:
            raise ValueError(f"richardson_lucy needs at least 1 iteration, got {param}")
        fn = lambda img: restoration.richardson_lucy(np.clip(img, 0, 1), k, num_iter=iters, clip=False)  # noqa: E731
    else:
        import inspect

        seed_kw = "rng" if "rng" in inspect.signature(restoration.unsupervised_wiener).parameters else "random_state"
        fn = lambda img: restoration.unsupervised_wiener(img, k, clip=False, **{seed_kw: 0})[0]  # noqa: E731
    ph, pw = k.shape[0], k.shape[1]
    h, w = x.shape[-2:]
    padded = F.pad(x.detach().double().cpu(), (pw, pw, ph, ph), mode="reflect")
    arr = padded.numpy()
    out = np.empty_like(arr)
    for i in range(arr.shape[0]):
        for ch in range(arr.shape[1]):
            out[i, ch] = fn(arr[i, ch])
    res = torch.from_numpy(out[:, :, ph:ph + h, pw:pw + w].copy())
    return res.clamp(0, 1).to(device=x.device, dtype=x.dtype)


def tune_deconvolution(method: str, blurred_val: torch.Tensor, clean_val: torch.Tensor, psf,
                       grid: Optional[Sequence[Optional[float]]] = None) -> Tuned:
    """Tune one deconvolution method on a held-out pair (grid default ``DECONVOLUTION_GRIDS[method]``)."""
    if method not in DECONVOLUTION_GRIDS:
        raise ValueError(f"unknown method {method!r}; choose from {sorted(DECONVOLUTION_GRIDS)}")
    grid = tuple(DECONVOLUTION_GRIDS[method] if grid is None else grid)
    return tune(lambda x, p: deconvolve(x, psf, method, p), grid, blurred_val, clean_val, method)


def classical_deblurrers(blurred_test: torch.Tensor, clean_test: torch.Tensor, blurred_val: torch.Tensor,
                         clean_val: torch.Tensor, psf, methods: Sequence[str] = ("wiener", "richardson_lucy"),
                         grids: Optional[Dict[str, Sequence[Optional[float]]]] = None, return_outputs: bool = False):
    """Each deconvolution method tuned on the held-out pair, then measured on the test pair: a list of
    :class:`BaselineRow` (and the outputs with ``return_outputs=True``). A "blurred input" row is not added: the
    caller knows it (``psnr(blurred_test, clean_test)``)."""
    grids = grids or {}
    spec = {}
    for m in methods:
        if m not in DECONVOLUTION_GRIDS:
            raise ValueError(f"unknown method {m!r}; choose from {sorted(DECONVOLUTION_GRIDS)}")
        label, pname = _DECONV_NAMES[m]
        spec[m] = (label, pname, (lambda x, p, m=m: deconvolve(x, psf, m, p)),
                   tuple(grids.get(m, DECONVOLUTION_GRIDS[m])))
    return _rows(spec, blurred_test, clean_test, blurred_val, clean_val, return_outputs)


# ---------------------------------------------------------------------------------- super-resolution baseline
def downsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Box-filter downsampling by an integer ``factor`` (mean of each ``factor`` x ``factor`` block): the
    degradation of the super-resolution experiments (H and W must be multiples of ``factor``)."""
    _check(x)
    factor = int(factor)
    if factor < 1 or x.shape[-1] % factor or x.shape[-2] % factor:
        raise ValueError(f"factor must be a positive divisor of the image size {tuple(x.shape[-2:])}, got {factor}")
    return F.avg_pool2d(x, factor) if factor > 1 else x.clone()


def bicubic_upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Bicubic interpolation by an integer ``factor`` (cubic convolution, Keys 1981, with PyTorch's a = -0.75, as
    OpenCV; Keys derived a = -0.5), clipped to [0, 1]: the simplest classical super-resolution baseline."""
    _check(x)
    factor = int(factor)
    if factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor}")
    return F.interpolate(x, scale_factor=factor, mode="bicubic", align_corners=False).clamp(0, 1)


def back_projection_upsample(x_low: torch.Tensor, factor: int, iters: int = 20, step: float = 1.0) -> torch.Tensor:
    """Iterative back-projection (Irani & Peleg 1991, "Improving resolution by image registration", CVGIP 53(3)):
    start from the bicubic image and repeat ``x <- x + step * bicubic_up(x_low - downsample(x))``, so that the
    estimate, degraded again by :func:`downsample` (the block mean), reproduces the low-resolution input. Clipped
    to [0, 1] at the end. ``iters=0`` is plain (unclipped, then clipped) bicubic."""
    _check(x_low, "x_low")
    factor = int(factor)
    if factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor}")
    if int(iters) < 0 or step <= 0:
        raise ValueError(f"iters must be >= 0 and step > 0, got iters={iters}, step={step}")
    up = lambda t: F.interpolate(t, scale_factor=factor, mode="bicubic", align_corners=False)  # noqa: E731
    x = up(x_low)
    for _ in range(int(iters)):
        x = x + step * up(x_low - downsample(x, factor))
    return x.clamp(0, 1)


def classical_upsamplers(low_test: torch.Tensor, clean_test: torch.Tensor, low_val: torch.Tensor,
                         clean_val: torch.Tensor, factor: int,
                         iters_grid: Sequence[int] = (1, 2, 3, 5, 10, 20, 50), return_outputs: bool = False):
    """Bicubic interpolation (nothing to tune) and iterative back-projection (iterations tuned on the held-out
    pair), measured on the test pair: a list of :class:`BaselineRow` (and the outputs with ``return_outputs``)."""
    spec = {"bicubic": ("bicubic interpolation (Keys 1981)", "none", lambda x, p: bicubic_upsample(x, factor), (None,)),
            "back_projection": ("iterative back-projection (Irani & Peleg 1991)", "iterations",
                                lambda x, p: back_projection_upsample(x, factor, iters=int(p)), tuple(iters_grid))}
    return _rows(spec, low_test, clean_test, low_val, clean_val, return_outputs)
