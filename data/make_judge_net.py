"""Train the course's *judge* network and write course_lib/assets/weights/judge_net.pt (+ judge_net.json).

Why a second network. The course feature net (data/make_feature_net.py) is the network behind the course's
perceptual loss, so a model trained with that loss must not be graded by it (it would be graded by its own teacher).
It was also trained with random colour tints, so it is deliberately blind to a colour cast. The judge differs from
it in all three ways that matter:

* objective: self-supervised contrastive learning (SimCLR: Chen, Kornblith, Norouzi, Hinton 2020,
  arXiv:2002.05709, NT-Xent loss of sec. 2.1, temperature 0.2) instead of class labels;
* data view: the offline *natural colour* crops (``course_lib.data.load_dataset("natural")``, train split, 4,000
  32x32 crops of scikit-image photographs) instead of tinted Fashion-MNIST;
* augmentation: random whole-pixel translations (up to 6 px, reflected), horizontal flips and a little pixel noise,
  and **no colour jitter, no blur and no rescaling** (a resized crop blurs one view against the other and teaches the
  network to ignore blur; see ``two_views``). SimCLR's paper (sec. 3, fig. 5) shows that without colour distortion the two views of an
  image are told apart by their colour histograms: here that "shortcut" is exactly what we want, a network whose
  features move when colours or sharpness change.

Architecture: ``course_lib.image_quality.FeatureNet`` at a quarter of the course net's cost (4 conv stages 16-32-64-64, BatchNorm while training, folded
into the convolutions before saving), with a linear 64 -> 64 projection head used only by the loss;
``embed(x)`` returns the pooled 64-d features (SimCLR's recommendation: use the representation before the head).
Weights are stored as a float16 state dict (about 0.1 MB).

Sanity figures written to the card: 5-nearest-neighbour accuracy of "which photograph does this test crop come
from" (6 photographs; test crops come from a part of each photograph that no training crop covers), and the
kernel distance (KID) between two disjoint halves of the real test crops (noise floor) against the KID between
the real crops and the same crops with a colour cast, a blur, or noise -- for the judge and for the course net.

Usage (from the repository root; a few minutes on 2 CPU cores):
    python data/make_judge_net.py [--steps 400] [--seed 0]
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from _weights import add_run_args, start_run, write_float16  # noqa: E402  (data/_weights.py, beside this script)
from course_lib.image_quality import FeatureNet, kernel_distance, load_feature_net  # noqa: E402

OUT = ROOT / "course_lib" / "assets" / "weights"


def two_views(x: torch.Tensor, gen: torch.Generator, max_shift: int = 6) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 3, H, W): a random translation by a whole number of pixels (up to ``max_shift``, reflected
    at the border), a horizontal flip with probability 1/2 and Gaussian pixel noise (std 0..0.03).

    No colour change, no blur and no rescaling: a resized crop would interpolate, i.e. blur, one view against the
    other, and the network would learn to ignore blur (a first version with SimCLR's random *resized* crops did:
    KID x1e3 of a 5x5 blur 0.17, below its real-vs-real noise floor). Nearest-neighbour sampling at whole-pixel
    shifts moves pixels without changing them."""
    b, _, h, w = x.shape
    shift = torch.randint(-max_shift, max_shift + 1, (b, 2), generator=gen).float()
    flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = flip, 1.0
    theta[:, 0, 2], theta[:, 1, 2] = 2 * shift[:, 0] / w, 2 * shift[:, 1] / h
    grid = F.affine_grid(theta, tuple(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="nearest", padding_mode="reflection", align_corners=False)
    noise = torch.randn(out.shape, generator=gen) * (0.03 * torch.rand(b, 1, 1, 1, generator=gen))
    return (out + noise).clamp(0, 1)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's NT-Xent loss (Chen et al. 2020, eq. 1) over 2B views: each view's positive is its partner."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / temperature
    n = z1.shape[0]
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, target)


@torch.no_grad()
def embed(net: nn.Module, x: torch.Tensor, bs: int = 500) -> torch.Tensor:
    return torch.cat([net.embed(x[i:i + bs]) for i in range(0, len(x), bs)])


@torch.no_grad()
def knn_accuracy(net: nn.Module, x_tr, y_tr, x_te, y_te, k: int = 5) -> float:
    a, b = F.normalize(embed(net, x_tr), dim=1), F.normalize(embed(net, x_te), dim=1)
    nn_idx = (b @ a.T).topk(k, dim=1).indices
    votes = F.one_hot(y_tr[nn_idx], int(y_tr.max()) + 1).sum(1)
    return float((votes.argmax(1) == y_te).float().mean())


def degradations(x: torch.Tensor, gen: torch.Generator) -> dict:
    """The changes a judge should see: a colour cast, a blur, noise (all on the same images)."""
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16
    kern = (k[:, None] * k[None, :]).expand(3, 1, 5, 5).contiguous()
    blur = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), kern, groups=3)
    return {
        "salmon colour cast (R x1.0, G x0.8, B x0.7)": (x * torch.tensor([1.0, 0.8, 0.7]).view(1, 3, 1, 1)).clamp(0, 1),
        "5x5 binomial blur": blur,
        "Gaussian noise std 0.05": (x + 0.05 * torch.randn(x.shape, generator=gen)).clamp(0, 1),
    }


@torch.no_grad()
def sensitivity(net: nn.Module, x: torch.Tensor, seed: int) -> dict:
    """KID (x1e3) of real-vs-real (two disjoint halves) and of real half A vs a degraded copy of half B."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(x), generator=g)
    a, b = x[perm[: len(x) // 2]], x[perm[len(x) // 2:]]
    fa = embed(net, a)
    out = {"real vs real (noise floor)": kernel_distance(fa, embed(net, b), seed=seed).mean * 1e3}
    for name, xd in degradations(b, g).items():
        out[name] = kernel_distance(fa, embed(net, xd), seed=seed).mean * 1e3
    return {k: round(v, 3) for k, v in out.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--widths", type=str, default="16,32,64,64")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--temperature", type=float, default=0.2)
    ap.add_argument("--proj-dim", type=int, default=64)
    add_run_args(ap, OUT)
    args = ap.parse_args(argv)
    gen = start_run(args)
    import numpy as np
    from course_lib.data import package_asset

    d = np.load(package_asset("offline", "natural.npz"))
    x_tr, x_te = (torch.from_numpy(d[k]).float().div(255) for k in ("x_train", "x_test"))
    y_tr, y_te = torch.from_numpy(d["image_train"]), torch.from_numpy(d["image_test"])  # which photograph
    source = "course_lib/assets/offline/natural.npz (scikit-image photographs, see its licence note)"
    print(f"data: {source}: train {tuple(x_tr.shape)}, test {tuple(x_te.shape)}")

    widths = tuple(int(w) for w in args.widths.split(","))
    net = FeatureNet(widths=widths, batchnorm=True, num_classes=args.proj_dim)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.1)
    t0 = time.time()
    net.train()
    for step in range(1, args.steps + 1):
        idx = torch.randperm(len(x_tr), generator=gen)[: args.batch_size]
        xb = x_tr[idx]
        v1, v2 = two_views(xb, gen), two_views(xb, gen)
        z = net(torch.cat([v1, v2]))  # one BatchNorm batch for both views
        loss = nt_xent(z[: len(xb)], z[len(xb):], args.temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 25 == 0 or step == args.steps:
            print(f"step {step}/{args.steps}  NT-Xent {loss.item():.3f}  {time.time() - t0:.0f}s", flush=True)
    train_s = time.time() - t0

    plain = net.eval().folded()
    half = FeatureNet(widths=widths, num_classes=args.proj_dim)
    half.load_state_dict({k: v.half().float() for k, v in plain.state_dict().items()})
    half.eval()
    knn = knn_accuracy(half, x_tr, y_tr, x_te, y_te)
    knn_course = knn_accuracy(load_feature_net(), x_tr, y_tr, x_te, y_te)
    chance = 1 / 6
    sens_judge = sensitivity(half, x_te, args.seed)
    sens_course = sensitivity(load_feature_net(), x_te, args.seed)
    print(f"5-NN source-photograph accuracy on test crops: judge {knn:.3f}, course net {knn_course:.3f} (chance {chance:.3f})")
    print(f"KID x1e3, judge: {sens_judge}")
    print(f"KID x1e3, course net: {sens_course}")

    write_float16(plain, args.out, "judge_net", {
        "purpose": "an independent judge for notebook 11's loss ablation: no arm trains against it",
        "architecture": f"course_lib.image_quality.FeatureNet (4 x conv3x3 + ReLU, widths {'-'.join(map(str, widths))}, "
                        f"max-pool between stages, global average pool) + linear {widths[-1]}->{args.proj_dim} projection "
                        f"head (used by the loss only); BatchNorm folded into the convs; embed() = pooled {widths[-1]}-d "
                        "features",
        "training_data": f"{source}: train split, {len(x_tr)} crops of 32x32",
        "objective": f"SimCLR NT-Xent (Chen et al. 2020, arXiv:2002.05709), temperature {args.temperature}, two views per crop",
        "augmentation": "random whole-pixel translation up to 6 px (nearest, reflect padding), horizontal flip, Gaussian "
                        "noise std 0-0.03; NO colour jitter, NO blur, NO rescaling (so the features see colour casts "
                        "and blur)",
        "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "optimizer": "AdamW (wd 1e-4), one-cycle lr",
        "seed": args.seed,
        "train_seconds": round(train_s, 1),
        "knn5_source_photo_accuracy_test": round(knn, 4),
        "knn5_source_photo_accuracy_test_course_net": round(knn_course, 4),
        "knn_chance": round(chance, 4),
        "kid_x1e3_test_crops_judge": sens_judge,
        "kid_x1e3_test_crops_course_net": sens_course,
        "sanity_note": "KID x1e3 between two disjoint halves of the 1,000 natural test crops (noise floor) and between "
                       "one half and a degraded copy of the other (50 subsets of 100); a useful judge puts every "
                       "degradation well above its noise floor",
    })


if __name__ == "__main__":
    main()
