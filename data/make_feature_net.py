"""Train the course's small feature network and write course_lib/assets/weights/feature_net.pt (+ feature_net.json).

No ImageNet network (VGG, AlexNet, Inception) can be downloaded offline, so the course trains its own:
``course_lib.image_quality.FeatureNet`` (4 conv stages, widths 32-64-128-128, about 240k parameters) as a
Fashion-MNIST classifier. So that colour images also produce meaningful features, every training image gets
a random foreground/background colour (tinting) and a random affine jitter (shift +-3 px, scale 0.9-1.1,
horizontal flip). The BatchNorm layers used in training are folded into the convolutions and the weights are
stored as a float16 state dict (about 0.5 MB), loadable with ``torch.load(weights_only=True)``.

Data: the full Fashion-MNIST (60k train / 10k test, MIT licence) from Debian's ``dataset-fashion-mnist``
package at /usr/share/datasets/fashion-mnist (``apt-get install dataset-fashion-mnist``); without it, the
committed offline subset through ``course_lib.data.load_dataset("fashion-mnist")``.

Usage (from the repository root; about 3-5 minutes on 2 CPU cores):
    python data/make_feature_net.py [--epochs 2] [--seed 0]
"""
from __future__ import annotations

import argparse
import gzip
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from _weights import add_run_args, start_run, write_float16  # noqa: E402  (data/_weights.py, beside this script)
from course_lib.image_quality import FeatureNet  # noqa: E402

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
OUT = ROOT / "course_lib" / "assets" / "weights"


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_fashion():
    """-> (x_train, y_train, x_test, y_test, source) with x float32 (N, 1, 28, 28) in [0, 1]."""
    if DEBIAN.is_dir():
        parts = {}
        for split, prefix in (("train", "train"), ("test", "t10k")):
            x = _read_idx(DEBIAN / f"{prefix}-images-idx3-ubyte.gz")
            y = _read_idx(DEBIAN / f"{prefix}-labels-idx1-ubyte.gz")
            parts[split] = (torch.from_numpy(x.copy()).float().div(255).unsqueeze(1), torch.from_numpy(y.astype(np.int64)))
        src = f"Fashion-MNIST, full 60k/10k (Debian dataset-fashion-mnist, {DEBIAN})"
        return (*parts["train"], *parts["test"], src)
    from course_lib.data import load_dataset  # committed offline subset
    tr, te = load_dataset("fashion-mnist", split="train"), load_dataset("fashion-mnist", split="test")
    return tr.x, tr.y, te.x, te.y, tr.display_name


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """(B, 1, 28, 28) grey in [0, 1] -> (B, 3, 32, 32) randomly tinted and jittered, in [0, 1]."""
    b = x.shape[0]
    # random affine: scale 0.9-1.1, shift +-3 px (of 32), horizontal flip with probability 1/2
    s = 0.9 + 0.2 * torch.rand(b, generator=gen)
    flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
    t = (torch.rand(b, 2, generator=gen) * 2 - 1) * (3 / 16)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = flip / s
    theta[:, 1, 1] = 1 / s
    theta[:, :, 2] = t
    x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False)
    grid = F.affine_grid(theta, (b, 1, 32, 32), align_corners=False)
    g = F.grid_sample(x, grid, padding_mode="zeros", align_corners=False).clamp(0, 1)
    # colour: 25% stay grey, otherwise a random foreground colour on a random (often dark) background
    fg = torch.rand(b, 3, 1, 1, generator=gen)
    bg = torch.rand(b, 3, 1, 1, generator=gen) * torch.where(torch.rand(b, 1, 1, 1, generator=gen) < 0.5, 0.0, 1.0)
    grey = torch.rand(b, 1, 1, 1, generator=gen) < 0.25
    fg = torch.where(grey, torch.ones_like(fg), fg)
    bg = torch.where(grey, torch.zeros_like(bg), bg)
    return g * fg + (1 - g) * bg


@torch.no_grad()
def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, gen=None, bs: int = 1000) -> float:
    net.eval()
    correct = 0
    for i in range(0, len(x), bs):
        xb = x[i:i + bs]
        if gen is not None:
            xb = augment(xb, gen)
        correct += (net(xb).argmax(1) == y[i:i + bs]).sum().item()
    return correct / len(x)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    add_run_args(ap, OUT)
    args = ap.parse_args(argv)
    gen = start_run(args)
    x_tr, y_tr, x_te, y_te, source = load_fashion()
    print(f"data: {source}: train {tuple(x_tr.shape)}, test {tuple(x_te.shape)}")

    net = FeatureNet(batchnorm=True)
    steps = int(math.ceil(args.epochs * len(x_tr) / args.batch_size))
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.15)
    t0 = time.time()
    step = 0
    net.train()
    while step < steps:
        perm = torch.randperm(len(x_tr), generator=gen)
        for i in range(0, len(perm) - args.batch_size + 1, args.batch_size):
            if step >= steps:
                break
            idx = perm[i:i + args.batch_size]
            xb = augment(x_tr[idx], gen)
            loss = F.cross_entropy(net(xb), y_tr[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step % 100 == 0 or step == steps:
                print(f"step {step}/{steps}  loss {loss.item():.3f}  {time.time() - t0:.0f}s", flush=True)
    train_s = time.time() - t0

    plain = net.eval().folded()
    acc_grey = accuracy(plain, x_te, y_te)
    acc_tinted = accuracy(plain, x_te, y_te, gen=torch.Generator().manual_seed(args.seed + 1))
    half = FeatureNet()
    half.load_state_dict({k: v.half().float() for k, v in plain.state_dict().items()})
    acc_half = accuracy(half.eval(), x_te, y_te)
    print(f"test accuracy: grey {acc_grey:.4f}, tinted+jittered {acc_tinted:.4f}, grey after float16 rounding {acc_half:.4f}")

    write_float16(plain, args.out, "feature_net", {
        "architecture": "course_lib.image_quality.FeatureNet: 4 x (conv3x3 + ReLU), widths 32-64-128-128 at 32/16/8/4 px, "
                        "max-pool between stages, global average pool, linear 128->10; BatchNorm folded into the convs",
        "training_data": source,
        "augmentation": "bilinear resize 28->32, random affine (scale 0.9-1.1, shift +-3 px, h-flip), random foreground/"
                        "background colour tint (25% left grey)",
        "objective": "10-class cross-entropy (label smoothing 0.05), AdamW, one-cycle lr",
        "epochs": args.epochs, "steps": steps, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
        "test_accuracy_grey": round(acc_grey, 4),
        "test_accuracy_tinted_jittered": round(acc_tinted, 4),
        "test_accuracy_grey_float16_weights": round(acc_half, 4),
        "test_set": "Fashion-MNIST test split (10,000 images)" if "60k" in source else "offline test subset",
        "train_seconds": round(train_s, 1),
    })


if __name__ == "__main__":
    main()
