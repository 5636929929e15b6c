"""How many bits do classical codecs need for an image? PNG and JPEG sizes with Pillow.

A VQ-VAE stores an image as an ``h x w`` grid of code indices, i.e. ``h * w * ceil(log2 K)`` bits
with a fixed-length code (see ``course_lib.metrics.bits_per_image``). To judge that number we compare
it with what ordinary file formats need *for the same images at a similar quality (PSNR)*:

* ``png_bits(x)``                  lossless PNG (PSNR = infinity against the 8-bit image).
* ``png_bits_at_psnr(x, target)``  PNG of the image posterised to the fewest grey/colour levels
                                   that still reach ``target`` dB (a lossy PNG).
* ``jpeg_bits_at_psnr(x, target)`` JPEG at the lowest quality setting that reaches ``target`` dB,
                                   found by binary search over Pillow's quality 1..100.
* ``compression_table(...)``       rows (method, bits/image, PSNR) ready to print.

What "reaches the target" means is the ``match`` argument. ``match="mean"`` (what ``compression_table``
uses): one setting for the whole batch, the lowest whose *mean* PSNR reaches the target, which is how the
model is judged too (its mean PSNR). ``match="each"``: every image separately reaches the target, a harder
bar than the model meets (the model's own PSNR varies from image to image), so it biases the comparison
against the codec. With ``match="mean"``, ``CodecResult.target_bits`` also interpolates the mean size
linearly between the two settings that bracket the target, so that a coarse setting step does not
overshoot the target at the codec's expense. A shared setting is how a codec is normally used; an encoder
that chose a different setting per image to minimise the total size at the same mean PSNR (rate
allocation) would need fewer bits still, so the codec numbers here are an upper bound on what they need.

Sizes are whole files as Pillow writes them, headers included (a PNG file has at least 57 bytes
of fixed structure, a JPEG file a few hundred bytes of tables): for tiny images those headers are a
large part of the cost. ``mosaic(x)`` tiles a batch into one image so that the headers are paid once
and shared; divide by N to get bits per image on that footing.

Images are float tensors (or arrays) in [0, 1] of shape (C, H, W) or (N, C, H, W) with C = 1 or 3.
PSNR is measured with peak 1.0 against the float input, the same convention as ``metrics.psnr``.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from PIL import Image

ArrayLike = Union[torch.Tensor, np.ndarray]

__all__ = [
    "CodecResult",
    "to_uint8",
    "mosaic",
    "png_bytes",
    "png_bits",
    "png_bits_at_psnr",
    "jpeg_bytes",
    "jpeg_bits_at_psnr",
    "compression_table",
    "format_table",
    "mosaic_codec",
    "unmosaic",
]


@dataclass
class CodecResult:
    """Per-image results of one codec on a batch of N images.

    bits:    (N,) file size in bits of each image.
    psnr:    (N,) PSNR in dB of the decoded image against the input (inf if lossless).
    setting: (N,) the codec setting used (JPEG quality, or number of levels for posterised PNG).
    reached: (N,) bool, whether the target PSNR was reached (False: best setting used instead); with
             ``match="mean"`` the same value for all: whether the mean PSNR reached the target.
    decoded: (N, C, H, W) float tensor in [0, 1], the decoded images.
    match:   "each" (every image reaches the target) or "mean" (one shared setting, mean PSNR reaches it).
    target_bits: mean bits per image interpolated to exactly the target mean PSNR between the two
             bracketing settings (``match="mean"`` only; the mean bits at the setting used when the target
             lies outside the codec's range); None for ``match="each"``.
    """

    name: str
    bits: np.ndarray
    psnr: np.ndarray
    setting: np.ndarray
    reached: np.ndarray
    decoded: torch.Tensor
    match: str = "each"
    target_bits: Optional[float] = None

    @property
    def mean_bits(self) -> float:
        return float(np.mean(self.bits))

    @property
    def mean_psnr(self) -> float:
        return float(np.mean(self.psnr))

    def __repr__(self) -> str:
        return (f"CodecResult({self.name!r}, N={len(self.bits)}, mean bits/image={self.mean_bits:.0f}, "
                f"mean PSNR={self.mean_psnr:.2f} dB, settings {int(np.min(self.setting))}..{int(np.max(self.setting))})")


# ----------------------------------------------------------------------------------------- helpers
def _as_batch(x: ArrayLike, name: str = "x") -> Tuple[torch.Tensor, bool]:
    """Return (N, C, H, W) float64 tensor in [0, 1] and whether the input was a single image."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy array of shape (C, H, W) or (N, C, H, W), "
                        f"got {type(x).__name__}")
    single = x.dim() == 3
    if single:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"{name} must have shape (C, H, W) or (N, C, H, W) with C = 1 or 3 channels first, "
                         f"got {tuple(x.shape)}; for (N, H, W, C) use x.permute(0, 3, 1, 2)")
    x = x.detach().to("cpu", torch.float64)
    if x.numel() and (x.min() < -1e-6 or x.max() > 1 + 1e-6):
        raise ValueError(f"{name} must hold values in [0, 1], got min {x.min().item():.3f}, "
                         f"max {x.max().item():.3f}; did you forget to undo a normalisation?")
    return x.clamp(0, 1), single


def to_uint8(x: ArrayLike) -> np.ndarray:
    """(C, H, W) image in [0, 1] -> (H, W) or (H, W, 3) uint8 array (round to nearest)."""
    xb, single = _as_batch(x)
    if not single:
        raise ValueError(f"to_uint8 takes one image (C, H, W), got a batch {tuple(xb.shape)}")
    a = (xb[0] * 255.0).round().to(torch.uint8).numpy()
    return a[0] if a.shape[0] == 1 else np.transpose(a, (1, 2, 0))


def _from_pil(img: Image.Image, channels: int) -> torch.Tensor:
    a = np.asarray(img.convert("L" if channels == 1 else "RGB"), dtype=np.float64) / 255.0
    t = torch.from_numpy(a)
    return t.unsqueeze(0) if channels == 1 else t.permute(2, 0, 1)


def _psnr(x: torch.Tensor, y: torch.Tensor) -> float:
    mse = float(torch.mean((x - y) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(1.0 / mse)


def mosaic(x: ArrayLike, nrow: Optional[int] = None) -> torch.Tensor:
    """Tile (N, C, H, W) images into one (C, rows*H, nrow*W) image without padding (blank cells are 0)."""
    xb, _ = _as_batch(x)
    n, c, h, w = xb.shape
    nrow = nrow or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / nrow))
    out = torch.zeros(c, rows * h, nrow * w, dtype=xb.dtype)
    for i in range(n):
        r, col = divmod(i, nrow)
        out[:, r * h:(r + 1) * h, col * w:(col + 1) * w] = xb[i]
    return out.float()


# --------------------------------------------------------------------------------------------- PNG
def png_bytes(img: ArrayLike, levels: int = 256) -> bytes:
    """Encode one (C, H, W) image in [0, 1] as PNG (zlib level 9), after posterising to `levels` levels.

    With levels < 256 the image is first rounded to `levels` evenly spaced values per channel; grey
    images are then also tried as a palette PNG packed at ceil(log2(levels)) bits per pixel and the
    smaller file is returned.
    """
    if not 2 <= int(levels) <= 256:
        raise ValueError(f"levels must be between 2 and 256, got {levels}")
    xb, single = _as_batch(img, "img")
    if not single:
        raise ValueError(f"png_bytes takes one image (C, H, W), got a batch {tuple(xb.shape)}; use png_bits for batches")
    q = _posterise(xb[0], levels)
    arr = to_uint8(q)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", optimize=True)
    best = buf.getvalue()
    if arr.ndim == 2 and levels < 256:
        # palette image: index = level number, packed at 1, 2, 4 or 8 bits per pixel
        idx = np.rint(q[0].numpy() * (levels - 1)).astype(np.uint8)
        pal_img = Image.frombytes("P", (idx.shape[1], idx.shape[0]), idx.tobytes())
        palette = []
        for k in range(levels):
            v = int(round(k * 255.0 / (levels - 1)))
            palette += [v, v, v]
        pal_img.putpalette(palette)
        bits = 1 if levels <= 2 else 2 if levels <= 4 else 4 if levels <= 16 else 8
        buf = io.BytesIO()
        pal_img.save(buf, format="PNG", optimize=True, bits=bits)
        if len(buf.getvalue()) < len(best):
            best = buf.getvalue()
    return best


def _posterise(x: torch.Tensor, levels: int) -> torch.Tensor:
    if levels >= 256:
        return x
    return torch.round(x * (levels - 1)) / (levels - 1)


def png_bits(x: ArrayLike) -> Union[float, np.ndarray]:
    """Lossless PNG size in bits: a float for one (C, H, W) image, an (N,) array for a batch."""
    xb, single = _as_batch(x)
    bits = np.array([8 * len(png_bytes(xb[i])) for i in range(len(xb))], dtype=np.float64)
    return float(bits[0]) if single else bits


def _decode_png(data: bytes, channels: int) -> torch.Tensor:
    return _from_pil(Image.open(io.BytesIO(data)), channels)


def _search(lo: int, hi: int, psnr_at: Callable[[int], float], target: float) -> int:
    """Smallest setting s in [lo, hi] with psnr_at(s) >= target (binary search; assumes near-monotone)."""
    if psnr_at(hi) < target:
        return hi
    while lo < hi:
        mid = (lo + hi) // 2
        if psnr_at(mid) >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


_PSNR_CAP = 100.0  # a lossless image has infinite PSNR; cap it when averaging over a batch


def _check_match(match: str) -> None:
    if match not in ("each", "mean"):
        raise ValueError(f"match must be 'each' (every image reaches the target) or 'mean' (one setting, mean PSNR), got {match!r}")


def _shared_setting(lo: int, hi: int, encode_all: Callable[[int], Tuple[np.ndarray, np.ndarray, torch.Tensor]],
                    target: float) -> Tuple[int, float, bool]:
    """One setting for a whole batch: the smallest in [lo, hi] whose mean PSNR reaches ``target``.

    ``encode_all(s) -> (bits (N,), psnr (N,), decoded)``. Returns (setting, target_bits, reached), where target_bits
    interpolates the mean bits linearly in mean PSNR between setting - 1 and setting, to hit the target exactly.
    """
    cache = {}

    def stats(s: int):
        if s not in cache:
            bits, psnr, _ = encode_all(s)
            cache[s] = (float(np.mean(bits)), float(np.mean(np.minimum(psnr, _PSNR_CAP))))
        return cache[s]

    s = _search(lo, hi, lambda v: stats(v)[1], target)
    bits_s, psnr_s = stats(s)
    reached = psnr_s >= target
    target_bits = bits_s
    if reached and s > lo:
        bits_p, psnr_p = stats(s - 1)
        if psnr_p < target < psnr_s:
            target_bits = bits_p + (target - psnr_p) / (psnr_s - psnr_p) * (bits_s - bits_p)
    return s, target_bits, reached


def png_bits_at_psnr(x: ArrayLike, target_psnr: float, match: str = "each") -> CodecResult:
    """Posterised PNG: the fewest levels (2..256) whose PSNR reaches `target_psnr` dB, per image
    (``match="each"``) or one level count for the batch whose mean PSNR reaches it (``match="mean"``)."""
    _check_match(match)
    xb, _ = _as_batch(x)
    c = xb.shape[1]
    if match == "mean":
        def encode_all(levels: int):
            data = [png_bytes(img, levels) for img in xb]
            dec = torch.stack([_decode_png(d, c) for d in data])
            return (np.array([8 * len(d) for d in data], float), np.array([_psnr(a, b) for a, b in zip(xb, dec)]), dec)

        levels, target_bits, ok = _shared_setting(2, 256, encode_all, target_psnr)
        bits, psnrs, dec = encode_all(levels)
        n = len(xb)
        return CodecResult("PNG (posterised)", bits, psnrs, np.full(n, levels), np.full(n, ok), dec.float(), "mean",
                           float(target_bits))
    bits, psnrs, settings, reached, decoded = [], [], [], [], []
    for img in xb:
        cache = {}

        def encode(levels: int):
            if levels not in cache:
                data = png_bytes(img, levels)
                dec = _decode_png(data, c)
                cache[levels] = (data, dec, _psnr(img, dec))
            return cache[levels]

        levels = _search(2, 256, lambda L: encode(L)[2], target_psnr)
        data, dec, p = encode(levels)
        bits.append(8 * len(data)); psnrs.append(p); settings.append(levels)
        reached.append(p >= target_psnr); decoded.append(dec)
    return CodecResult("PNG (posterised)", np.array(bits, float), np.array(psnrs, float), np.array(settings),
                       np.array(reached), torch.stack(decoded).float())


# -------------------------------------------------------------------------------------------- JPEG
def jpeg_bytes(img: ArrayLike, quality: int, subsampling: int = 2) -> bytes:
    """Encode one (C, H, W) image in [0, 1] as baseline JPEG at Pillow quality 1..100 (optimised Huffman tables).

    subsampling (colour only): 2 = 4:2:0 chroma subsampling (the usual default), 0 = 4:4:4 (none).
    """
    if subsampling not in (0, 1, 2):
        raise ValueError(f"subsampling must be 0 (4:4:4), 1 (4:2:2) or 2 (4:2:0), got {subsampling}")
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"JPEG quality must be between 1 and 100, got {quality}")
    xb, single = _as_batch(img, "img")
    if not single:
        raise ValueError(f"jpeg_bytes takes one image (C, H, W), got a batch {tuple(xb.shape)}")
    buf = io.BytesIO()
    extra = {"subsampling": subsampling} if xb.shape[1] == 3 else {}
    Image.fromarray(to_uint8(xb[0])).save(buf, format="JPEG", quality=int(quality), optimize=True, **extra)
    return buf.getvalue()


def jpeg_bits_at_psnr(x: ArrayLike, target_psnr: float, match: str = "each") -> CodecResult:
    """The lowest JPEG quality (1..100) whose PSNR reaches `target_psnr` dB: per image (``match="each"``), or one
    quality for the whole batch whose mean PSNR reaches it (``match="mean"``).

    Colour images are tried with 4:2:0 chroma subsampling and without (4:4:4); the smaller file
    that reaches the target wins (with ``match="mean"``: the smaller ``target_bits``). If even quality 100
    falls short, quality 100 is used and `reached` is False.
    """
    _check_match(match)
    xb, _ = _as_batch(x)
    c = xb.shape[1]
    subs = (2, 0) if c == 3 else (2,)
    if match == "mean":
        def encode_all(q: int, sub: int):
            data = [jpeg_bytes(img, q, sub) for img in xb]
            dec = torch.stack([_from_pil(Image.open(io.BytesIO(d)), c) for d in data])
            return (np.array([8 * len(d) for d in data], float), np.array([_psnr(a, b) for a, b in zip(xb, dec)]), dec)

        options = []
        for sub in subs:
            q, target_bits, ok = _shared_setting(1, 100, lambda v: encode_all(v, sub), target_psnr)
            options.append((not ok, target_bits, q, sub))
        miss, target_bits, q, sub = min(options)
        bits, psnrs, dec = encode_all(q, sub)
        n = len(xb)
        return CodecResult("JPEG", bits, psnrs, np.full(n, q), np.full(n, not miss), dec.float(), "mean",
                           float(target_bits))
    bits, psnrs, settings, reached, decoded = [], [], [], [], []
    for img in xb:
        cache = {}

        def encode(q: int, sub: int):
            if (q, sub) not in cache:
                data = jpeg_bytes(img, q, sub)
                dec = _from_pil(Image.open(io.BytesIO(data)), c)
                cache[q, sub] = (data, dec, _psnr(img, dec))
            return cache[q, sub]

        candidates = []
        for sub in subs:
            q = _search(1, 100, lambda s: encode(s, sub)[2], target_psnr)
            data, dec, p = encode(q, sub)
            candidates.append((p < target_psnr, len(data) if p >= target_psnr else -p, q, sub))
        _, _, q, sub = min(candidates)
        data, dec, p = encode(q, sub)
        bits.append(8 * len(data)); psnrs.append(p); settings.append(q)
        reached.append(p >= target_psnr); decoded.append(dec)
    return CodecResult("JPEG", np.array(bits, float), np.array(psnrs, float), np.array(settings),
                       np.array(reached), torch.stack(decoded).float())


# ------------------------------------------------------------------------------------------- table
def compression_table(x: ArrayLike, x_hat: ArrayLike, code_bits: float,
                      model_name: str = "VQ-VAE indices", match: str = "mean") -> List[dict]:
    """Compare a learned code with PNG and JPEG on the same images at the model's PSNR.

    x:         (N, C, H, W) originals in [0, 1].
    x_hat:     (N, C, H, W) the model's reconstructions in [0, 1].
    code_bits: bits per image of the model's code (e.g. ``metrics.bits_per_image(h, w, K)``).
    match:     "mean" (default): each codec uses one setting for all N images, the lowest whose mean PSNR
               reaches the model's mean PSNR, as the model is judged by its mean; "each": every image must reach
               the model's mean PSNR (biased against the codecs; kept for comparison).
    Returns rows {"method", "bits_per_image", "bits_per_pixel", "psnr_db", "bits_at_target"}: bits and PSNR at
    the setting used, and (``match="mean"``) the mean bits interpolated to exactly the model's mean PSNR.
    """
    _check_match(match)
    xb, _ = _as_batch(x)
    xh, _ = _as_batch(x_hat, "x_hat")
    if xb.shape != xh.shape:
        raise ValueError(f"x and x_hat must have the same shape, got {tuple(xb.shape)} and {tuple(xh.shape)}")
    n, c, h, w = xb.shape
    pix = h * w
    model_psnr = float(np.mean([min(_psnr(a, b), _PSNR_CAP) for a, b in zip(xb, xh)]))
    rows = [dict(method=model_name, bits_per_image=float(code_bits), bits_per_pixel=float(code_bits) / pix,
                 psnr_db=model_psnr, bits_at_target=float(code_bits))]
    lossless = png_bits(xb)
    rows.append(dict(method="PNG (lossless)", bits_per_image=float(np.mean(lossless)),
                     bits_per_pixel=float(np.mean(lossless)) / pix, psnr_db=math.inf, bits_at_target=math.nan))
    word = "mean" if match == "mean" else "each"
    for res in (png_bits_at_psnr(xb, model_psnr, match), jpeg_bits_at_psnr(xb, model_psnr, match)):
        rows.append(dict(method=f"{res.name} ({word} >= {model_psnr:.1f} dB)", bits_per_image=res.mean_bits,
                         bits_per_pixel=res.mean_bits / pix, psnr_db=res.mean_psnr,
                         bits_at_target=res.target_bits if res.target_bits is not None else math.nan))
    return rows


def format_table(rows: Sequence[dict], columns: Optional[Sequence[str]] = None, floatfmt: str = "{:.2f}") -> str:
    """Plain-text table of a list of dicts (same keys), for printing in a notebook."""
    if not rows:
        return "(empty table)"
    columns = list(columns or rows[0].keys())

    def fmt(v):
        if isinstance(v, float):
            return "inf" if math.isinf(v) else "-" if math.isnan(v) else floatfmt.format(v)
        return str(v)

    cells = [[fmt(r.get(k, "")) for k in columns] for r in rows]
    widths = [max(len(str(k)), *(len(row[i]) for row in cells)) for i, k in enumerate(columns)]
    line = "  ".join(str(k).ljust(wd) for k, wd in zip(columns, widths))
    sep = "  ".join("-" * wd for wd in widths)
    body = ["  ".join(v.rjust(wd) if i else v.ljust(wd) for i, (v, wd) in enumerate(zip(row, widths))) for row in cells]
    return "\n".join([line, sep, *body])


# ------------------------------------------------------------------------- low rates (appended for notebook 12)
# Pillow's JPEG bottoms out near 0.28 bits per pixel on 28x28 Fashion-MNIST (quality 1 still spends bits on every
# 8x8 block's DC term), so a tokenizer at 0.1-0.2 bpp would sit left of JPEG's whole curve, where no comparison at
# equal rate is possible. Two classical ways to reach lower rates: WebP (VP8 intra coding, 2010), and coding a
# downsampled image (downsample by 2 or 4, code it, upsample back with bicubic interpolation).
LOWRATE_CODECS = ("jpeg", "webp")


def unmosaic(tile: torch.Tensor, n: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`mosaic`: cut a (C, rows*h, nrow*w) tile back into (n, C, h, w) images."""
    if tile.dim() != 3:
        raise ValueError(f"unmosaic expects one (C, H, W) tile, got {tuple(tile.shape)}")
    nrow = tile.shape[-1] // w
    if nrow < 1 or math.ceil(n / nrow) * h > tile.shape[-2]:
        raise ValueError(f"a {tuple(tile.shape)} tile cannot hold {n} images of {h}x{w}")
    return torch.stack([tile[:, (i // nrow) * h:(i // nrow + 1) * h, (i % nrow) * w:(i % nrow + 1) * w]
                        for i in range(n)])


def mosaic_codec(x: ArrayLike, codec: str, quality: int, downsample: int = 1,
                 block: int = 1) -> Tuple[float, torch.Tensor]:
    """Code a batch (N, C, H, W) in [0, 1] as ONE file (the mosaic of all images: headers paid once) and decode it.

    codec:      "jpeg" (baseline, optimised Huffman tables) or "webp" (lossy, slowest/best method 6).
    quality:    Pillow's quality, 1..100 for JPEG, 0..100 for WebP.
    downsample: 1 (none), or a factor f: each image is first reduced to (H/f, W/f) by area averaging, and the
                decoded small images are upsampled back to (H, W) with bicubic interpolation (clipped to [0, 1]).
    block:      pad each (downsampled) image by edge replication to a multiple of ``block`` pixels before tiling,
                so that no codec block mixes the edges of two images (JPEG codes 8x8 blocks, WebP 16x16
                macroblocks: ``block=16`` suits both); the padding is coded (and paid for) and cropped after
                decoding. 1: no padding (28-px tiles then straddle blocks).
    Returns (bits per image = 8 * file bytes / N, decoded (N, C, H, W) float32 tensor in [0, 1]).
    """
    codec = str(codec).lower()
    if codec not in LOWRATE_CODECS:
        raise ValueError(f"codec must be one of {LOWRATE_CODECS}, got {codec!r}")
    lo = 0 if codec == "webp" else 1
    if not lo <= int(quality) <= 100:
        raise ValueError(f"{codec} quality must be between {lo} and 100, got {quality}")
    if int(downsample) < 1:
        raise ValueError(f"downsample must be a positive integer, got {downsample}")
    xb, _ = _as_batch(x)
    n, c, h, w = xb.shape
    f = int(downsample)
    if h % f or w % f:
        raise ValueError(f"image size {h}x{w} is not divisible by downsample={f}")
    if int(block) < 1:
        raise ValueError(f"block must be a positive integer, got {block}")
    small = torch.nn.functional.avg_pool2d(xb, f) if f > 1 else xb
    sh, sw = small.shape[-2:]
    ph, pw = (-sh) % int(block), (-sw) % int(block)
    if ph or pw:                     # edge replication on the bottom and right: a tile never straddles a block
        small = torch.nn.functional.pad(small.float(), (0, pw, 0, ph), mode="replicate")
    img = Image.fromarray(to_uint8(mosaic(small)))
    buf = io.BytesIO()
    if codec == "jpeg":
        img.save(buf, format="JPEG", quality=int(quality), optimize=True)
    else:
        img.save(buf, format="WEBP", quality=int(quality), method=6)
    data = buf.getvalue()
    decoded = unmosaic(_from_pil(Image.open(io.BytesIO(data)), c), n, sh + ph, sw + pw)[..., :sh, :sw]
    if f > 1:
        decoded = torch.nn.functional.interpolate(decoded, size=(h, w), mode="bicubic", align_corners=False)
    return 8.0 * len(data) / n, decoded.clamp(0, 1).float()
