"""Benchmark: VQ-GAN training throughput (images/s) for the quick and standard model sizes on this machine.

One "step" is what course_lib.train.fit does per batch: the autoencoder's forward, the generator loss (L1 +
perceptual + quantizer + adaptive-weighted hinge, i.e. after the warm-up), its backward and Adam step, then the
discriminator's loss on real and detached fakes, backward and step. On CUDA the step runs under autocast (bf16 where
supported, else fp16 -- without a gradient scaler here: throughput only).

    python tests/bench_vqgan.py                 # quick and standard, default batch sizes per device
    python tests/bench_vqgan.py --seconds 20 --presets standard --batch-size 64
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from course_lib.vqgan import VQGAN, VQGANLoss, make_loss_fn, vqgan_config  # noqa: E402


def bench(preset: str, device: torch.device, batch_size: int, seconds: float, amp: bool) -> dict:
    cfg = vqgan_config(preset, loss={"disc_start": 0})
    torch.manual_seed(0)
    model = VQGAN(cfg).to(device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = VQGANLoss(cfg).to(device)
    opt_g = torch.optim.Adam(model.parameters(), 1e-4, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(loss.discriminator.parameters(), 1e-4, betas=(0.5, 0.9))
    fn = make_loss_fn(model, loss)
    r = cfg["model"]["resolution"]
    x = torch.rand(batch_size, 3, r, r, device=device)
    from course_lib.train import resolve_amp

    dtype = resolve_amp("auto", device) if (amp and device.type == "cuda") else None

    def step():
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out = fn((x, None), 1)
        opt_g.zero_grad(set_to_none=True)
        out["gen"].backward(retain_graph=True)
        opt_g.step()
        opt_d.zero_grad(set_to_none=True)
        out["disc"].backward()
        opt_d.step()

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(2):  # warm-up (cuDNN autotuning, allocator)
        step()
    sync()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or n < 2:
        step()
        n += 1
    sync()
    dt = time.perf_counter() - t0
    mem = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    return {"preset": preset, "params_M": model.num_parameters() / 1e6, "batch": batch_size, "steps": n,
            "s_per_step": dt / n, "images_per_s": n * batch_size / dt, "amp": str(dtype).replace("torch.", "") if dtype else "fp32",
            "peak_GiB": mem, "perceptual": loss.backend}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--presets", nargs="+", default=["quick", "standard"])
    p.add_argument("--seconds", type=float, default=None, help="time per preset (default: 5 on CPU, 10 on CUDA)")
    p.add_argument("--batch-size", type=int, default=None, help="default: quick 32, standard 8 (CPU) / 128 (CUDA)")
    p.add_argument("--device", default=None)
    p.add_argument("--no-amp", action="store_true")
    args = p.parse_args()
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    seconds = args.seconds or (10.0 if device.type == "cuda" else 5.0)
    print(f"VQ-GAN training throughput on {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else f" ({torch.get_num_threads()} threads)"))
    print(f"{'preset':9s} {'params':>8s} {'batch':>6s} {'amp':>5s} {'s/step':>8s} {'images/s':>9s} {'peak GiB':>9s}  perceptual")
    for preset in args.presets:
        bs = args.batch_size or {"quick": 32, "standard": 8 if device.type == "cpu" else 128,
                                 "full": 4 if device.type == "cpu" else 64}[preset]
        r = bench(preset, device, bs, seconds, amp=not args.no_amp)
        print(f"{r['preset']:9s} {r['params_M']:7.2f}M {r['batch']:6d} {r['amp']:>5s} {r['s_per_step']:8.3f} "
              f"{r['images_per_s']:9.1f} {r['peak_GiB']:9.2f}  {r['perceptual']}", flush=True)


if __name__ == "__main__":
    main()
