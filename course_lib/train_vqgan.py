"""Train a VQ-GAN outside the notebook: one GPU, several GPUs (torchrun + DDP), or a CPU.

    python -m course_lib.train_vqgan --config quick                       # tiny, CPU-friendly
    python -m course_lib.train_vqgan --config standard --out runs/cifar   # CIFAR-10 32x32 on one GPU
    torchrun --standalone --nproc_per_node 4 -m course_lib.train_vqgan --config full --out runs/flowers
    python -m course_lib.train_vqgan --config standard --out runs/cifar --resume --steps 40000   # continue

``--config`` is a preset name (quick, standard, full; see :data:`course_lib.vqgan.PRESETS`) or a JSON file with the
same three sections (``model``, ``loss``, ``train``) and optionally ``"base": "standard"``: missing keys come from
that preset (default quick); use ``--print-config`` to write a starting point. The loop is :func:`course_lib.train.fit`, the one loop of the course, which is
distributed-aware: only rank 0 logs and writes the (atomic) checkpoint, with a barrier around the write.

What runs on several processes (``torchrun`` sets ``WORLD_SIZE``/``RANK``/``LOCAL_RANK``):

* a process group (NCCL on CUDA, gloo on CPU); each process drives ``cuda:LOCAL_RANK`` (or the CPU);
* one random stream per rank once the model is built (:func:`rank_seed`): DiffAugment's transforms and dropout
  differ between the ranks' images, as they would within one big batch;
* the VQ-GAN and the discriminator are each wrapped in ``DistributedDataParallel`` (gradients averaged);
* the data: every rank builds the same shuffled global batch (``batch_size * world_size`` images, order a pure
  function of (seed, epoch)) and takes its own slice -- a rank-sharded loader that resumes exactly;
* the quantizer's codebook, which also changes outside the gradient step (EMA averages, dead-code restarts), is
  computed from the GLOBAL batch on every rank: the quantizer sums its statistics and usage counters over the ranks
  before updating and draws restart candidates from all ranks (``sync_ranks``, :mod:`course_lib.quantize`), so the
  codebook equals a one-process run on the whole batch. The model's DDP broadcasts no buffers
  (:func:`course_lib.vqgan.ddp_kwargs`) and nothing is synchronised before ``summary.json`` records a weight hash
  per rank, so ``replicas_identical`` is a real check that can fail.

Mixed precision: ``--amp auto`` (default) is bf16 on GPUs that compute it natively (compute capability >= 8: A100,
L4, H100), else fp16 with a gradient scaler (a T4, V100); full precision on a CPU (:func:`course_lib.train.resolve_amp`). ``--amp bf16`` forces bf16 autocast, also on a CPU (how the tests exercise that path).

Outputs in ``--out``: ``checkpoint.pt`` (every ``checkpoint_every`` steps and at the end), ``config.json``,
``history.json`` and ``summary.json`` (steps, images/s, final losses, per-rank weight hashes).

Datasets: ``natural`` / ``cifar10`` / ``fashion-mnist`` / ``mnist`` through :func:`course_lib.data.load_dataset`
(offline subsets under the quick profile or with ``COURSE_OFFLINE=1``); ``flowers102-64``: Oxford Flowers-102
(Nilsback & Zisserman 2008; 8,189 photographs) downloaded by torchvision, resized (shorter side) and centre-cropped
to 64x64, cached as ``data/flowers102_64.npz``; the train and test splits (7,169 images) train, the val split
(1,020) evaluates.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence

import numpy as np
import torch

from .vqgan import (PRESETS, VQGAN, VQGANLoss, bits_per_image, ddp_kwargs, make_loss_fn, replica_hashes, state_hash,
                    validate_config, vqgan_config)

__all__ = ["load_config", "load_images", "ShardedLoader", "train", "state_hash", "main"]

# Keys that may change between a run and its resumption (they do not change what is being trained).
_RUN_KEYS = ("steps", "checkpoint_every", "log_every")


# ----------------------------------------------------------------------------------------------------------------------
# Config
# ----------------------------------------------------------------------------------------------------------------------
def load_config(spec: str, overrides: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """A preset name (quick, standard, full) or a path to a JSON config; ``overrides`` are merged section-wise."""
    if spec in PRESETS:
        cfg = vqgan_config(spec)
    else:
        path = Path(spec)
        if not path.is_file():
            raise SystemExit(
                f"--config {spec!r} is neither a preset ({', '.join(PRESETS)}) nor an existing JSON file. "
                f"Write a starting point with: python -m course_lib.train_vqgan --config quick --print-config > my.json"
            )
        try:
            user = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise SystemExit(f"{path} is not valid JSON: {e}") from e
        base = user.pop("base", "quick") if isinstance(user, dict) else "quick"
        cfg = vqgan_config(base, **user)
    if overrides:
        cfg = vqgan_config_from(cfg, overrides)
    validate_config(cfg)
    return cfg


def vqgan_config_from(cfg: Mapping[str, Any], overrides: Mapping[str, Any]) -> Dict[str, Any]:
    out = copy.deepcopy(dict(cfg))
    for section, values in overrides.items():
        out.setdefault(section, {}).update({k: v for k, v in values.items() if v is not None})
    validate_config(out)
    return out


def _identity(cfg: Mapping[str, Any]) -> Dict[str, Any]:
    """The part of the config that defines the run (stored in the checkpoint and compared on resume)."""
    ident = copy.deepcopy(dict(cfg))
    for k in _RUN_KEYS:
        ident.get("train", {}).pop(k, None)
    return ident


# ----------------------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------------------
def _flowers64(split: str, root: Path, size: int = 64) -> torch.Tensor:
    """Oxford Flowers-102 at size x size (uint8 cache in root/flowers102_64.npz), via torchvision (downloads once)."""
    cache = root / f"flowers102_{size}.npz"
    if not cache.is_file():
        from torchvision import datasets, transforms

        from .data import offline_requested

        if offline_requested():
            raise SystemExit(f"flowers102-64 needs a download (or {cache}), but COURSE_OFFLINE=1.")
        tf = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size)])
        arrays = {}
        for s in ("train", "val", "test"):
            ds = datasets.Flowers102(str(root), split=s, download=True)
            arrays[s] = np.stack([np.asarray(tf(ds[i][0].convert("RGB"))) for i in range(len(ds))]).transpose(0, 3, 1, 2)
        np.savez_compressed(cache, **arrays)
    with np.load(cache) as f:
        parts = ["train", "test"] if split == "train" else ["val"]
        x = np.concatenate([f[p] for p in parts])
    return torch.from_numpy(x).float().div_(255.0)


STAND_IN_NOTE = ("SYNTHETIC STAND-IN for flowers102-64: the offline 32x32 natural crops upsampled x2 (bilinear) to "
                 "64x64 -- NOT Oxford Flowers-102; only the shapes of the full profile are exercised")


def flowers64_stand_in(split: str = "train", n: Optional[int] = None, size: int = 64) -> torch.Tensor:
    """A clearly labelled synthetic stand-in with the shapes of 64x64 Flowers-102 (see :data:`STAND_IN_NOTE`): the
    offline natural crops of ``split`` (test split for anything but train), upsampled to ``size`` x ``size``."""
    import torch.nn.functional as F

    from .data import load_dataset

    x = load_dataset("natural", split="train" if split == "train" else "test", n=n, full=False).x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)


def load_images(cfg: Mapping[str, Any], split: str = "train", n: Optional[int] = None,
                allow_stand_in: bool = False) -> torch.Tensor:
    """(N, C, H, W) float images in [0, 1] for the config's dataset, checked against the model's resolution.

    ``n``: number of images (default: ``train.n_train`` for the train split, all of the test split).
    ``allow_stand_in``: when 64x64 Flowers-102 is neither cached nor downloadable (offline, smoke tests), return
    :func:`flowers64_stand_in` with a warning naming it, instead of stopping."""
    t = cfg["train"]
    name = t["dataset"]
    if n is None and split == "train":
        n = t.get("n_train")
    if name == "flowers102-64":
        from .data import data_root, offline_requested

        if allow_stand_in and (offline_requested() or not (data_root() / "flowers102_64.npz").is_file()):
            try:
                if offline_requested():
                    raise SystemExit("offline")
                x = _flowers64(split, data_root())
            except (SystemExit, Exception):
                import warnings

                warnings.warn(STAND_IN_NOTE, stacklevel=2)
                return flowers64_stand_in(split, n, int(cfg["model"]["resolution"]))
        else:
            x = _flowers64(split, data_root())
        if n:
            x = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(int(t.get("seed", 0))))[:n]]
    else:
        from .data import load_dataset

        x = load_dataset(name, split=split, n=n).x
    m = cfg["model"]
    if x.shape[1] != m.get("in_channels", 3) or x.shape[-1] != m["resolution"]:
        raise SystemExit(
            f"The dataset {name!r} has images of shape {tuple(x.shape[1:])}, but the model config expects "
            f"{m.get('in_channels', 3)} channels at {m['resolution']}x{m['resolution']}: set model.in_channels and "
            f"model.resolution to match (e.g. 28x28 MNIST: resolution 28 with ch_mult [1, 2] or pad to 32)."
        )
    return x


class ShardedLoader:
    """Rank ``rank`` of ``world`` takes its slice of each global batch of a loader (same order on every rank).

    ``len()`` and ``set_epoch()`` pass through, so :func:`course_lib.train.fit` resumes it exactly."""

    def __init__(self, loader, rank: int, world: int):
        if loader.batch_size % world:
            raise ValueError(f"global batch {loader.batch_size} is not divisible by {world} processes")
        self.loader, self.rank, self.world = loader, rank, world
        self.batch_size = loader.batch_size // world

    def __len__(self) -> int:
        return len(self.loader)

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch)

    def __iter__(self):
        b, r = self.batch_size, self.rank
        for x, y in self.loader:
            yield x[r * b:(r + 1) * b], y[r * b:(r + 1) * b]


# ----------------------------------------------------------------------------------------------------------------------
# Distributed helpers
# ----------------------------------------------------------------------------------------------------------------------
def _rank_device(device: Optional[str], local: int) -> torch.device:
    """The device this process trains on: ``device`` if given, else CUDA when present (else MPS/CPU, see
    :func:`course_lib.env.get_device`); a CUDA device without an index becomes ``cuda:LOCAL_RANK``, one GPU per
    process under torchrun."""
    from .env import get_device

    dev = get_device() if device is None else torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local)
    return dev


def _dist_setup(device: Optional[str] = None) -> Dict[str, Any]:
    """World size, rank, local rank and this process's device; under torchrun (``WORLD_SIZE`` > 1) also the process
    group: NCCL when this rank trains on a GPU (NCCL moves CUDA tensors only; ``torch.cuda.set_device`` first, so
    that NCCL's own buffers land on this rank's GPU), gloo otherwise (``--device cpu`` or ``COURSE_DEVICE=cpu`` on a
    GPU machine included)."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = _rank_device(device, local)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend=backend)
    return {"world": world, "rank": rank, "local": local, "device": dev}


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s random stream after the model is built (a NumPy SeedSequence of (seed, rank):
    independent streams, one per rank, the same for every run with this seed)."""
    return int(np.random.SeedSequence([int(seed), int(rank)]).generate_state(1)[0] % 2**31)


# ----------------------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------------------
def train(
    cfg: Mapping[str, Any],
    out: os.PathLike = "runs/vqgan",
    resume: bool = False,
    amp: str = "auto",
    device: Optional[str] = None,
    progress: bool = True,
) -> Dict[str, Any]:
    """Train ``cfg`` (see :func:`course_lib.vqgan.vqgan_config`) into the folder ``out``; returns the summary dict.

    Call under ``torchrun`` for several processes (see the module docstring)."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    from .data import make_loader
    from .env import seed_everything
    from .train import fit

    cfg = copy.deepcopy(dict(cfg))
    validate_config(cfg)
    t = cfg["train"]
    d = _dist_setup(device)
    world, rank, main, dev = d["world"], d["rank"], d["rank"] == 0, d["device"]
    out = Path(out)
    ckpt = out / "checkpoint.pt"
    if ckpt.exists() and not resume:
        raise SystemExit(f"{ckpt} exists: pass --resume to continue that run, or choose another --out.")
    seed_everything(int(t.get("seed", 0)))

    x = load_images(cfg, "train")
    bs = int(t["batch_size"])
    loader = make_loader(x, batch_size=bs * world, shuffle=True, seed=int(t.get("seed", 0)), drop_last=True,
                         device=dev if dev.type == "cuda" else None)
    data = ShardedLoader(loader, rank, world) if world > 1 else loader

    model = VQGAN(cfg).to(dev)
    loss = VQGANLoss(cfg).to(dev)
    disc = loss.discriminator
    if world > 1:
        ids = [dev.index] if dev.type == "cuda" else None
        # no buffer broadcast for the VQ-GAN: the quantizer keeps its codebook identical on every rank itself
        model_w, disc_w = DDP(model, device_ids=ids, **ddp_kwargs()), DDP(disc, device_ids=ids)
    else:
        model_w, disc_w = model, disc
    if world > 1:
        # Every rank was seeded alike, so the models started equal (DDP also broadcasts rank 0's weights). From here
        # on each rank draws its OWN random numbers: DiffAugment's transforms (and dropout) for rank r's images must
        # not repeat rank 0's. fit saves and restores each rank's stream, so a resume continues them exactly.
        seed_everything(rank_seed(int(t.get("seed", 0)), rank))
    betas = tuple(t.get("betas", (0.5, 0.9)))
    opt_g = torch.optim.Adam(model.parameters(), lr=float(t["lr"]), betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=float(t.get("disc_lr", t["lr"])), betas=betas)

    if main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(cfg, indent=2))
        print(f"VQ-GAN: {model.num_parameters() / 1e6:.2f} M parameters, discriminator "
              f"{sum(p.numel() for p in disc.parameters()) / 1e6:.2f} M; latent {model.latent_shape}, "
              f"{bits_per_image(cfg):.0f} bits/image; data {tuple(x.shape)}; {world} process(es) on {dev}; "
              f"batch {bs} per process; perceptual backend: {loss.backend}; amp={amp}", flush=True)

    steps = int(t["steps"])
    start_step = 0
    if resume and ckpt.exists():
        from .checkpoint import load_checkpoint

        start_step = int(load_checkpoint(ckpt).get("step", 0))
    t0 = time.perf_counter()
    history = fit(
        make_loss_fn(model_w, loss, disc_w),
        {"gen": opt_g, "disc": opt_d},
        data,
        steps=steps,
        model={"vqgan": model_w, "disc": disc_w},
        device=dev,
        amp=amp,
        grad_clip=t.get("grad_clip"),
        log_every=int(t.get("log_every", 10)),
        checkpoint=ckpt,
        checkpoint_every=t.get("checkpoint_every"),
        resume=resume,
        config=_identity(cfg),
        desc="VQ-GAN",
        progress=progress and main,
    )
    elapsed = time.perf_counter() - t0
    hashes = replica_hashes(model, disc)  # nothing synchronised first: a divergence shows
    done = max(steps - start_step, 0)
    summary = {
        "steps": steps,
        "resumed_from": start_step,
        "world_size": world,
        "device": str(dev),
        "amp": amp,
        "elapsed_s": round(elapsed, 3),
        "images_per_s": round(done * bs * world / elapsed, 2) if done and elapsed > 0 else None,
        "final": {k: history.last(k) for k in history.keys()},
        "replica_hashes": hashes,
        "replicas_identical": len(set(hashes)) == 1,
        "perceptual_backend": loss.backend,
    }
    if main:
        (out / "history.json").write_text(json.dumps(history.state_dict()))
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        print(f"done: step {steps}, {summary['images_per_s']} images/s, replicas identical: "
              f"{summary['replicas_identical']}", flush=True)
    if world > 1:
        dist.barrier()
    return summary


def _parse(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m course_lib.train_vqgan", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="quick", help="preset (quick, standard, full) or a JSON file")
    p.add_argument("--steps", type=int, default=None, help="total steps of the run (a resumed run continues to it)")
    p.add_argument("--batch-size", type=int, default=None, help="images per process and step")
    p.add_argument("--checkpoint-every", type=int, default=None)
    p.add_argument("--log-every", type=int, default=None)
    p.add_argument("--disc-start", type=int, default=None, help="step at which the discriminator starts")
    p.add_argument("--n-train", type=int, default=None, help="use a subset of this many training images")
    p.add_argument("--out", default="runs/vqgan", help="folder for checkpoint.pt, config.json, history.json, summary.json")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--amp", default="auto", choices=["auto", "bf16", "fp16", "off"])
    p.add_argument("--device", default=None, help="e.g. cpu, cuda (default: CUDA if present, one GPU per process)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--print-config", action="store_true", help="print the resolved config as JSON and exit")
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parse(argv)
    cfg = load_config(
        args.config,
        {
            "train": {"steps": args.steps, "batch_size": args.batch_size, "checkpoint_every": args.checkpoint_every,
                      "log_every": args.log_every, "n_train": args.n_train},
            "loss": {"disc_start": args.disc_start},
        },
    )
    if args.print_config:
        print(json.dumps(cfg, indent=2))
        return 0
    try:
        train(cfg, out=args.out, resume=args.resume, amp=args.amp, device=args.device, progress=not args.no_progress)
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
