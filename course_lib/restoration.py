"""Restoration with a frozen VQ tokenizer, its measurements, and Gram-matrix style statistics (notebook 13).

    from course_lib.restoration import RestorationNet, code_prediction_loss, gram_matrix, style_distance
    net = RestorationNet(num_codes=K)            # degraded image (N, 1, 28, 28) -> code logits (N, K, 7, 7)
    reg = RestorationNet(num_codes=None)         # the same trunk -> restored pixels (N, 1, 28, 28), trained with L2
    loss = code_prediction_loss(net(x_bad), codes_clean)       # cross-entropy over the K codes
    g = gram_matrix(features)                    # (N, C, H, W) -> (N, C, C), averaged over the H W positions

    tok = frozen_tokenizer(train)                # notebook 12's tokenizer, shipped or trained, frozen
    bad = degrade(clean, factor=4)               # box-filter down x4, bicubic back up: the super-resolution input
    net = train_restorer(K, bad, clean, tok.encode(clean), steps=150)   # or num_codes=None: the L2 regressor
    out = restore(net, bad, decode=tok.decode)   # batched, no grad: decoded argmax codes (or the regressor's pixels)
    t = restoration_table({"code predictor": out}, clean, real_ref)     # PSNR, SSIM, judge/course KID, model-free
    t.psnr_difference("a", "b"), t.kid_difference("a", "b", "judge")  # paired intervals of a difference
    draw_perception_distortion(t); draw_fills(clean, hole, {"name": filled})

Restoration as code prediction is the recipe of codebook-prior restorers such as CodeFormer (Zhou, Chan, Li, Loy
2022, arXiv:2206.11253, sec. 3.2: a transformer predicts the code indices of the clean face from the degraded one,
trained with cross-entropy, and a frozen decoder renders them). Here the predictor is a small CNN. Realism is
judged against a separate set of real images, by the judge net and the course feature net (KID with bootstrap
intervals, :mod:`course_lib.image_quality`) and by model-free measures (log power spectrum, contrast-normalised
sharpness); the perception-distortion trade-off is Blau & Michaeli (2018, arXiv:1711.06077).
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["RestorationNet", "code_prediction_loss", "gram_matrix", "style_distance", "content_distance", "degrade",
           "restore", "measure_restoration", "held_out_images", "FrozenTokenizer", "frozen_tokenizer",
           "train_restorer", "kid_difference", "RestorationTable", "restoration_table", "draw_perception_distortion",
           "draw_fills", "psnr_per_image"]


class RestorationNet(nn.Module):
    """A small CNN trunk shared by the two restorers of notebook 13.

    Trunk: conv3x3 (1 -> ch), two stride-2 convs 4x4 (ch -> 2ch -> 2ch) and a conv3x3, ReLU after each: a
    (2ch, H/4, W/4) feature map. ``num_codes=K`` adds a 1x1 conv to K logits per grid cell (the code predictor);
    ``num_codes=None`` adds a 1x1 conv to 16 channels and a pixel shuffle back to (1, H, W), added to the input
    (the L2 regressor predicts a correction to the bicubic image).
    """

    def __init__(self, num_codes: Optional[int] = None, ch: int = 32, in_channels: int = 1):
        super().__init__()
        self.num_codes = num_codes
        self.in_channels = in_channels
        self.trunk = nn.Sequential(
            nn.Conv2d(in_channels, ch, 3, padding=1), nn.ReLU(),
            nn.Conv2d(ch, 2 * ch, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * ch, 2 * ch, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * ch, 2 * ch, 3, padding=1), nn.ReLU(),
        )
        out = num_codes if num_codes is not None else 16 * in_channels
        self.head = nn.Conv2d(2 * ch, out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"RestorationNet expects (N, {self.in_channels}, H, W) with H, W multiples of 4, got "
                             f"{tuple(x.shape)}")
        y = self.head(self.trunk(x))
        if self.num_codes is not None:
            return y                                         # (N, K, H/4, W/4) logits
        return x + F.pixel_shuffle(y, 4)                     # (N, C, H, W)


def code_prediction_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy (nats) between logits (B, K, h, w) and target code indices (B, h, w), over all B h w
    grid cells: the loss of restoration as code prediction."""
    if logits.dim() != 4 or targets.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(f"logits must be (B, K, h, w) and targets (B, h, w), got {tuple(logits.shape)} and "
                         f"{tuple(targets.shape)}")
    return F.cross_entropy(logits, targets.long())


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C): G[b, i, j] = sum over positions p of F[b, i, p] F[b, j, p], divided by H W
    (the mean over positions, so that layers of different sizes are comparable; Gatys et al. 2016, eq. 3, use the
    plain sum and put the normalisation in the loss)."""
    if features.dim() != 4:
        raise ValueError(f"features must be (B, C, H, W), got {tuple(features.shape)}")
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (h * w)


def style_distance(feats_a: Sequence[torch.Tensor], feats_b: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per image (B,): the sum over layers of the mean squared difference of the Gram matrices (Gatys et al. 2016,
    eq. 4-5, with equal layer weights). ``feats_b`` may have batch size 1 (one style image for all)."""
    total = 0.0
    for fa, fb in zip(feats_a, feats_b):
        ga, gb = gram_matrix(fa), gram_matrix(fb)
        total = total + (ga - gb).pow(2).mean(dim=(1, 2))
    return total


def content_distance(feat_a: torch.Tensor, feat_b: torch.Tensor) -> torch.Tensor:
    """Per image (B,): the mean squared difference of one layer's feature maps (Gatys et al. 2016, eq. 1)."""
    return (feat_a - feat_b).pow(2).flatten(1).mean(1)


# ------------------------------------------------------------------------------------------------------------------
# The super-resolution task of notebook 13, in one place (the notebook, the shipped restorers and their cards use it).
# ------------------------------------------------------------------------------------------------------------------

def degrade(x: torch.Tensor, factor: int = 4) -> torch.Tensor:
    """The degraded input: average over ``factor`` x ``factor`` blocks (box filter), then bicubic interpolation back
    to the original size (Keys 1981). ``x`` (N, C, H, W) in [0, 1] with H, W multiples of ``factor``."""
    from .classical import bicubic_upsample, downsample

    return bicubic_upsample(downsample(x, factor), factor)


@torch.no_grad()
def restore(net: RestorationNet, bad: torch.Tensor, decode: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
            batch: int = 256, return_logits: bool = False):
    """Run a restorer over ``bad`` in batches (no gradients, eval mode).

    A code predictor (``net.num_codes`` set) needs ``decode`` (code grid (N, h, w) -> images, the frozen tokenizer's
    decoder): it takes the most likely code per cell and decodes it. A regressor's output is clamped to [0, 1].
    ``return_logits=True`` also returns the code predictor's logits (N, K, h, w)."""
    net.eval()
    device = next(net.parameters()).device
    outs = torch.cat([net(bad[i:i + batch].to(device)) for i in range(0, len(bad), batch)])
    if net.num_codes is None:
        return (outs.clamp(0, 1), None) if return_logits else outs.clamp(0, 1)
    if decode is None:
        raise ValueError("restore: a code predictor's output is codes; pass decode= (the frozen tokenizer's "
                         "code-grid -> image function, e.g. lambda c: course_lib.tokenizer.decode_all(tok, c))")
    images = decode(outs.argmax(1))
    return (images, outs) if return_logits else images


def measure_restoration(out: torch.Tensor, clean: torch.Tensor, feature_net=None) -> Dict[str, object]:
    """Distortion and perception of restored images ``out`` against ``clean`` (both (N, 1, H, W) in [0, 1]):
    ``psnr`` (mean over images, dB) with its standard error ``psnr_se``, ``ssim`` (Wang et al. 2004) and ``kid``
    (a :class:`course_lib.image_quality.KID` on the course feature net, subsets of min(100, N) images; Binkowski
    et al. 2018)."""
    from .image_quality import kernel_feature_distance, load_feature_net, ssim
    from .metrics import psnr

    if out.shape != clean.shape:
        raise ValueError(f"measure_restoration: out {tuple(out.shape)} and clean {tuple(clean.shape)} must match")
    net = feature_net if feature_net is not None else load_feature_net(device=out.device)
    p = psnr(out, clean, reduction="none")
    return dict(psnr=float(p.mean()), psnr_se=float(p.std() / math.sqrt(len(p))), ssim=float(ssim(out, clean)),
                kid=kernel_feature_distance(out, clean, net=net, subset_size=min(100, len(out))))


# ------------------------------------------------------------------------------------------------------------------
# Notebook 13's set-up and measurements, one call each in the notebook (and shared with the checkpoint script).
# ------------------------------------------------------------------------------------------------------------------

def held_out_images(name: str, exclude: torch.Tensor, sizes: Sequence[int], split: str = "test",
                    seed: int = 1) -> tuple:
    """Images of ``split`` that are not in ``exclude`` (compared pixel for pixel), shuffled with ``seed`` and cut into
    consecutive sets of the given ``sizes``: e.g. a validation set that tunes the classical baselines and a reference
    set of real images for the realism measures, both disjoint from the test images. Loads the whole split (the
    offline subset under ``quick``)."""
    from .data import load_dataset

    pool = load_dataset(name, split=split).x
    seen = {bytes(img.numpy().tobytes()) for img in exclude.detach().cpu().float()}
    keep = torch.tensor([bytes(img.numpy().tobytes()) not in seen for img in pool.float()], dtype=torch.bool)
    pool = pool[keep]
    need = int(sum(sizes))
    if need > len(pool):
        raise ValueError(f"held_out_images: {need} images asked for, but only {len(pool)} {split} images of {name} "
                         f"are not in `exclude`; ask for fewer (sizes={tuple(sizes)})")
    pool = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))]
    out, start = [], 0
    for n in sizes:
        out.append(pool[start:start + int(n)].clone())
        start += int(n)
    return tuple(out)


class FrozenTokenizer:
    """A tokenizer frozen for notebook 13: ``model`` (eval mode, no gradients), its ``config``, whether it is the
    ``shipped`` 12_tokenizer, a one-line ``description``, and ``encode(images) -> codes`` / ``decode(codes) ->
    images`` in batches."""

    def __init__(self, model, config: dict, shipped: bool, description: str):
        self.model, self.config, self.shipped, self.description = model, config, shipped, description
        self.num_codes = int(config["model"]["quantizer"]["num_codes"])

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        from .tokenizer import encode_all

        return encode_all(self.model, images)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        from .tokenizer import decode_all

        return decode_all(self.model, codes)


def frozen_tokenizer(train, device=None, checkpoint=None) -> FrozenTokenizer:
    """Notebook 12's tokenizer (``course_lib.tokenizer``, the sizes of the active profile), frozen.

    Under ``quick`` with the shipped checkpoint available (``pretrained.available("12_tokenizer")``: installed and
    ``COURSE_PRETRAINED`` not 0) it loads that longer-trained copy; otherwise it trains one on ``train`` (an
    :class:`course_lib.data.ImageDataset`) with ``course_lib.tokenizer.train_tokenizer``, saved to ``checkpoint``."""
    from . import pretrained
    from .tokenizer import build_tokenizer, tokenizer_config, train_tokenizer

    cfg = tokenizer_config()
    if pretrained.available("12_tokenizer"):
        model = build_tokenizer(cfg)
        pretrained.load_into(model, "12_tokenizer", config=cfg)
        model, shipped, what = model.to(device or "cpu"), True, pretrained.describe("12_tokenizer")
    else:
        model, _ = train_tokenizer(build_tokenizer(cfg, device=device), train, cfg, checkpoint=checkpoint, log_every=50)
        shipped, what = False, f"trained here for {cfg['train']['steps']} steps"
    model.eval().requires_grad_(False)
    return FrozenTokenizer(model, cfg, shipped, what)


def train_restorer(num_codes: Optional[int], bad: torch.Tensor, clean: torch.Tensor,
                   codes: Optional[torch.Tensor] = None, *, steps: int, ch: int = 32, lr: float = 2e-3,
                   batch_size: int = 32, seed: int = 0, loss: Optional[Callable] = None, checkpoint=None,
                   init: Optional[RestorationNet] = None, **fit_kwargs) -> RestorationNet:
    """Train one of notebook 13's restorers, returned in eval mode.

    ``num_codes=K``: a code predictor, trained with ``loss(logits, codes)`` (default :func:`code_prediction_loss`;
    the student's version from exercise 1 in the notebook) against the clean images' ``codes`` (N, h, w).
    ``num_codes=None``: the L2 regressor, trained with the mean squared error against ``clean``. Both: a
    :class:`RestorationNet` trunk of width ``ch`` (weights seeded with ``seed``), Adam at a constant ``lr``,
    ``steps`` steps of ``batch_size`` pairs (data order seeded with ``seed + 1``), ``course_lib.train.fit`` with
    ``checkpoint`` (resumed when it exists). ``init``: a trained restorer of the same kind whose weights are the
    starting point (fine-tuning; it is not changed). The shipped 13_* checkpoints were trained by this function."""
    from .data import make_loader
    from .train import fit

    if num_codes is not None and codes is None:
        raise ValueError("a code predictor (num_codes set) needs codes=: the clean images' code grids (N, h, w)")
    if bad.shape != clean.shape:
        raise ValueError(f"bad {tuple(bad.shape)} and clean {tuple(clean.shape)} must have the same shape")
    loss = code_prediction_loss if loss is None else loss
    c = clean.shape[1]
    data = (torch.cat([bad, clean], 1),) + ((codes,) if codes is not None else ())
    loader = make_loader(data if len(data) > 1 else data[0], batch_size=batch_size, shuffle=True, seed=seed + 1)
    torch.manual_seed(seed)
    net = RestorationNet(num_codes=num_codes, ch=ch, in_channels=c).to(bad.device)
    if init is not None:
        net.load_state_dict(init.state_dict())
    opt = torch.optim.Adam(net.parameters(), lr=lr)

    def loss_fn(batch, step):
        pair = batch[0]
        x_bad, x_clean = pair[:, :c], pair[:, c:]
        if num_codes is None:
            return {"loss": F.mse_loss(net(x_bad), x_clean)}
        return {"loss": loss(net(x_bad), batch[1])}

    fit_kwargs.setdefault("log_every", 100)
    fit(loss_fn, opt, loader, steps=steps, model=net, checkpoint=checkpoint,
        config=dict(num_codes=num_codes, ch=ch, steps=steps), **fit_kwargs)
    return net.eval()


def kid_difference(feats_a: torch.Tensor, feats_b: torch.Tensor, feats_ref: torch.Tensor, n_boot: int = 200,
                   seed: int = 0, level: float = 0.95):
    """KID(a, ref) - KID(b, ref) (all pairs, cubic kernel) with a percentile bootstrap interval over images, where
    ``a`` and ``b`` are two restorations of the SAME images (their rows resampled together, paired) and ``ref`` a
    separate set of real images (resampled independently). One interval for "A differs from B", rather than two
    KID intervals compared by eye. Pairs of a row with its own copy are skipped, as in
    :func:`course_lib.image_quality.kid_bootstrap`. Returns a :class:`course_lib.evidence.Interval`."""
    from .evidence import Interval, percentile_interval
    from .image_quality import _cubic_kernels, _feature_pair, _resample_counts, _weighted_mmd2

    a, ref = _feature_pair(feats_a, feats_ref)
    b, _ = _feature_pair(feats_b, feats_ref)
    if a.shape != b.shape:
        raise ValueError(f"kid_difference: a {tuple(a.shape)} and b {tuple(b.shape)} must be restorations of the same "
                         "images (paired rows)")
    if int(n_boot) < 2:
        raise ValueError(f"n_boot must be >= 2, got {n_boot}")
    ka, kr, kar = _cubic_kernels(a, ref)
    kb, _, kbr = _cubic_kernels(b, ref)
    one_n, one_m = torch.ones(1, a.shape[0], dtype=torch.float64), torch.ones(1, ref.shape[0], dtype=torch.float64)
    value = float(_weighted_mmd2(ka, kr, kar, one_n, one_m)[0] - _weighted_mmd2(kb, kr, kbr, one_n, one_m)[0])
    g = torch.Generator().manual_seed(int(seed))
    w = _resample_counts(a.shape[0], int(n_boot), g)
    v = _resample_counts(ref.shape[0], int(n_boot), g)
    boots = _weighted_mmd2(ka, kr, kar, w, v) - _weighted_mmd2(kb, kr, kbr, w, v)
    low, high = percentile_interval(boots, level)
    return Interval(value, float(low), float(high), float(level),
                    f"bootstrap over images, the two restorations paired, the reference resampled, B={int(n_boot)}")


def psnr_per_image(out: torch.Tensor, clean: torch.Tensor, region: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Per image (N,): PSNR in dB (:func:`course_lib.metrics.psnr`), or of the pixels where ``region`` is True."""
    from .metrics import psnr

    if region is None:
        return psnr(out.float(), clean.float(), reduction="none")
    err = (out.float() - clean.float()).pow(2)
    w = region.float().expand_as(err)
    mse = (err * w).flatten(1).sum(1) / w.flatten(1).sum(1).clamp_min(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))


class RestorationTable(list):
    """Rows of :func:`restoration_table` (``show_table(table)`` or ``table.show(title)``), with the raw numbers in
    ``table.raw[name]``, the embeddings in ``table.feats[net][name]`` (and ``["reference"]``), and paired
    comparisons :meth:`psnr_difference` and :meth:`kid_difference`."""

    def __init__(self, rows, raw, headers, feats, n_boot):
        super().__init__(rows)
        self.raw, self.headers, self.feats, self.n_boot = raw, headers, feats, n_boot

    def show(self, title: Optional[str] = None, **kwargs) -> None:
        from .viz import show_table

        show_table(self, self.headers, title=title, **kwargs)

    def psnr_difference(self, a: str, b: str):
        """Mean PSNR of ``a`` minus that of ``b`` over the same images, with a paired bootstrap interval."""
        from .evidence import bootstrap_interval

        return bootstrap_interval(lambda pa, pb: float((pa - pb).mean()), self.raw[a]["psnr"], self.raw[b]["psnr"],
                                  paired=True, n_boot=max(self.n_boot, 2))

    def kid_difference(self, a: str, b: str, net: str = "judge"):
        """KID(a) - KID(b) against the reference real images in ``net`` ("judge" or "course"), with an interval
        (:func:`kid_difference`): negative = ``a`` is the closer set."""
        return kid_difference(self.feats[net][a], self.feats[net][b], self.feats[net]["reference"],
                              n_boot=max(self.n_boot, 2))


def restoration_table(outputs: Dict[str, torch.Tensor], clean: torch.Tensor, real_ref: torch.Tensor, *,
                      judge_net=None, feature_net=None, nets: Sequence[str] = ("judge", "course"),
                      region: Optional[torch.Tensor] = None, n_boot: int = 200, ssim_column: bool = True,
                      floor_name: str = "real images (floor)", reuse: Optional[RestorationTable] = None,
                      region_name: str = "region") -> RestorationTable:
    """Distortion and realism of restorations, one row per method in ``outputs`` ({name: images (N, C, H, W)}, each
    a restoration of ``clean``), and a first row for ``clean`` itself (the floor: what real images score).

    Distortion against ``clean``, image by image: PSNR with a 95% bootstrap interval over images (inside ``region``
    (N, 1, H, W), True = counted, when given: e.g. the hole of an inpainting), and SSIM (Wang et al. 2004; whole
    images). Realism against ``real_ref``, a separate set of real images: KID x1e3 with its 95% bootstrap interval in
    the independent judge net (``"judge"``) and/or the course feature net (``"course"``), and two model-free
    measures: the log power spectrum distance and the contrast-normalised sharpness ratio (1 = as sharp as real;
    :mod:`course_lib.image_quality`). Lower KID and spectrum distance = closer to real. ``reuse``: an earlier table
    with the same ``real_ref`` (and, for its floor row, the same ``clean``): their embeddings are not recomputed."""
    from .evidence import bootstrap_interval
    from .image_quality import (_embed_all, kernel_distance, load_feature_net, load_judge_net,
                                log_spectrum_distance, sharpness_ratio, ssim)

    for name, x in outputs.items():
        if x.shape != clean.shape:
            raise ValueError(f"restoration_table: outputs[{name!r}] has shape {tuple(x.shape)}, clean "
                             f"{tuple(clean.shape)}")
    unknown = set(nets) - {"judge", "course"}
    if unknown:
        raise ValueError(f"nets may hold 'judge' and 'course', got {sorted(unknown)}")
    nn_ = {}
    if "judge" in nets:
        nn_["judge"] = judge_net if judge_net is not None else load_judge_net(device=clean.device)
    if "course" in nets:
        nn_["course"] = feature_net if feature_net is not None else load_feature_net(device=clean.device)
    ref = real_ref.detach().float().clamp(0, 1)
    if reuse is not None and (reuse.ref_print != _fingerprint(ref) or not set(nn_) <= set(reuse.feats)):
        raise ValueError("restoration_table: reuse= needs a table of the same reference images and nets")
    same_clean = reuse is not None and reuse.clean_print == _fingerprint(clean) and floor_name in reuse.raw
    feats = {k: {"reference": reuse.feats[k]["reference"] if reuse is not None else _embed_all(net, ref, 256)}
             for k, net in nn_.items()}
    label = {"judge": "judge KID x1e3", "course": "course-net KID x1e3"}
    headers = ["method", (f"PSNR in the {region_name}" if region is not None else "PSNR") + " (dB) [95% CI]"]
    headers += ["SSIM"] if ssim_column else []
    headers += [f"{label[k]} [95% CI]" for k in nn_] + ["spectrum L1", "sharpness ratio"]
    rows, raw = [], {}
    for name, x in {floor_name: clean, **outputs}.items():
        x = x.detach().float().clamp(0, 1)
        r = {}
        row = {"method": name}
        if name != floor_name:
            r["psnr"] = psnr_per_image(x, clean, region).cpu()
            r["psnr_ci"] = bootstrap_interval(lambda p: float(p.mean()), r["psnr"], n_boot=max(n_boot, 2))
            row[headers[1]] = r["psnr_ci"].short(".2f")
            if ssim_column:
                r["ssim"] = float(ssim(x, clean))
                row["SSIM"] = f"{r['ssim']:.3f}"
        else:
            row[headers[1]] = "-"
            if ssim_column:
                row["SSIM"] = "-"
        for k, net in nn_.items():
            cached = same_clean and name == floor_name
            f = feats[k][name] = reuse.feats[k][name] if cached else _embed_all(net, x, 256)
            r[k] = kernel_distance(f, feats[k]["reference"], n_boot=n_boot, subset_size=min(100, len(f), len(ref)))
            row[f"{label[k]} [95% CI]"] = r[k].scaled(1e3).short(".1f") if n_boot else f"{r[k].mean * 1e3:.1f}"
        r["spectrum"] = log_spectrum_distance(x.cpu(), ref.cpu())
        r["sharpness"] = sharpness_ratio(x.cpu(), ref.cpu())
        row.update({"spectrum L1": f"{r['spectrum']:.3f}", "sharpness ratio": f"{r['sharpness']:.2f}"})
        raw[name] = r
        rows.append(row)
    table = RestorationTable(rows, raw, headers, feats, n_boot)
    table.ref_print, table.clean_print = _fingerprint(ref), _fingerprint(clean)
    return table


def _fingerprint(x: torch.Tensor) -> tuple:
    x = x.detach().double()
    return tuple(x.shape), float(x.sum()), float((x * x).sum())


def draw_perception_distortion(table: RestorationTable, names: Optional[Sequence[str]] = None, axes=None):
    """One panel per realism net of ``table``: KID x1e3 (lower = closer to real images) against PSNR (right = less
    distortion), with both 95% intervals, and the real images' KID as a dotted line. Returns the figure."""
    import matplotlib.pyplot as plt

    nets = [k for k in ("judge", "course") if k in table.feats]
    names = [n for n in (names or table.raw) if "psnr" in table.raw[n]]
    floor = next(n for n in table.raw if "psnr" not in table.raw[n])
    if axes is None:
        fig, axes = plt.subplots(1, len(nets), figsize=(5.2 * len(nets), 3.8), squeeze=False)
        axes = axes[0]
    title = {"judge": "judge net (independent)", "course": "course feature net"}
    for ax, k in zip(axes, nets):
        for n in names:
            p, kid = table.raw[n]["psnr_ci"], table.raw[n][k].scaled(1e3)
            ax.errorbar(p.value, kid.value, xerr=[[p.value - p.low], [p.high - p.value]],
                        yerr=[[kid.value - kid.low], [kid.high - kid.value]], fmt="o", capsize=3, label=n)
        ax.axhline(table.raw[floor][k].mean * 1e3, color="grey", ls=":", label="real images")
        ax.set_xlabel("PSNR (dB), right = less distortion")
        ax.set_ylabel("KID x1e3, lower = more realistic")
        ax.set_title(title[k], fontsize=10)
    axes[0].legend(fontsize=8)
    fig = axes[0].figure
    fig.tight_layout()
    return fig


def draw_fills(clean: torch.Tensor, region: torch.Tensor, fills: Dict[str, torch.Tensor], scores=None, n: int = 8):
    """Inpainting at a glance: the clean images, the input with its hole in grey, then one row per filler in
    ``fills`` ({name: images}), the hole outlined in red on every row; ``scores`` ({name: text}) goes into the row
    titles (e.g. the hole PSNR). ``region`` (N, 1, H, W) True in the hole. Returns the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    rows = {"clean": clean, "input (hole in grey)": clean * (~region) + 0.5 * region, **fills}
    fig, axes = plt.subplots(len(rows), n, figsize=(1.1 * n, 1.25 * len(rows)), squeeze=False)
    for i, (name, imgs) in enumerate(rows.items()):
        for j in range(n):
            ax = axes[i, j]
            ax.imshow(imgs[j, 0].detach().float().cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i > 0:
                ys, xs = torch.nonzero(region[j, 0].cpu(), as_tuple=True)
                ax.add_patch(Rectangle((int(xs.min()) - 0.5, int(ys.min()) - 0.5), int(xs.max() - xs.min()) + 1,
                                       int(ys.max() - ys.min()) + 1, fill=False, edgecolor="red", lw=1))
        extra = f": {scores[name]}" if scores and name in scores else ""
        axes[i, 0].set_title(name + extra, fontsize=9, loc="left")
    fig.tight_layout()
    return fig
