"""Benchmark (not a test): forward + backward time of the course quantizer on CPU.

Compares, at K=512 codes, D=64, N=16384 vectors (a batch of 64 images with 16x16 latent grids):
* ``VectorQuantizer`` (one-matmul distances) and ``EMAVectorQuantizer`` from ``course_lib.quantize``;
* the same quantizer with naive broadcasting distances ``(z[:, None] - e[None]).pow(2).sum(-1)``, which builds an
  (N, K, D) tensor (2 GiB here);
* ``vector_quantize_pytorch.VectorQuantize(dim=64, codebook_size=512)`` when installed
  (``pip install -e .[bench]``); by default (version 1.32) it updates its codebook by EMA and passes gradients
  with the rotation trick, so ``EMAVectorQuantizer(grad="rotation")`` is the like-for-like comparison.

Usage: ``python tests/bench_quantizer.py [--n 16384] [--repeats 7] [--skip-naive]``. Prints median times, ratios
and the largest tensor each version allocates. No assertions.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from course_lib.metrics import TensorMemoryMeter

from course_lib.losses import vq_loss
from course_lib.quantize import EMAVectorQuantizer, VectorQuantizer, straight_through


class NaiveVectorQuantizer(VectorQuantizer):
    """Same quantizer, nearest code found by broadcasting: builds an (N, K, D) tensor."""

    def forward(self, z):
        with torch.no_grad():
            idx = (z[:, None, :] - self.codebook[None, :, :]).pow(2).sum(-1).argmin(1)
        codes = F.embedding(idx, self.codebook)
        loss = vq_loss(z, codes, self.beta).total
        return straight_through(z, codes), idx, loss


def step_fn(name, module, z):
    def run():
        zz = z.detach().requires_grad_(True)
        out = module(zz)
        if name.startswith("vector_quantize_pytorch"):
            z_q, _, loss = out
        elif isinstance(out, tuple):
            z_q, _, loss = out
        else:
            z_q, loss = out.z_q, out.loss
        (z_q.square().mean() + loss.sum()).backward()
        module.zero_grad(set_to_none=True)

    return run


def timeit(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=16384)
    p.add_argument("--k", type=int, default=512)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--skip-naive", action="store_true", help="skip the broadcasting version (needs N*K*D*4 bytes)")
    args = p.parse_args()
    torch.manual_seed(0)
    n, k, d = args.n, args.k, args.d
    z = torch.randn(n, d)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; N={n}, K={k}, D={d}; "
          f"median of {args.repeats} forward+backward passes (training mode)")

    candidates = {
        "course_lib VectorQuantizer": VectorQuantizer(k, d, init="normal"),
        "course_lib EMAVectorQuantizer": EMAVectorQuantizer(k, d, init="normal"),
        "course_lib EMA + rotation trick": EMAVectorQuantizer(k, d, init="normal", grad="rotation"),
    }
    if not args.skip_naive:
        candidates["naive broadcasting VQ"] = NaiveVectorQuantizer(k, d, init="normal")
    try:
        from vector_quantize_pytorch import VectorQuantize

        vqp = VectorQuantize(dim=d, codebook_size=k)
        import vector_quantize_pytorch

        version = getattr(vector_quantize_pytorch, "__version__", None)
        if version is None:
            from importlib.metadata import version as _v

            version = _v("vector-quantize-pytorch")
        candidates[f"vector_quantize_pytorch {version} VectorQuantize"] = vqp
        z_in = {f"vector_quantize_pytorch {version} VectorQuantize": z[None]}  # it expects (B, N, D)
    except ImportError:
        z_in = {}
        print("vector-quantize-pytorch is not installed (pip install -e .[bench]): skipping it")

    results = {}
    for name, module in candidates.items():
        module.train()
        run = step_fn(name, module, z_in.get(name, z))
        with TensorMemoryMeter() as probe:
            run()
        results[name] = (timeit(run, args.repeats), probe.largest_bytes)

    ref = results["course_lib VectorQuantizer"][0]
    width = max(len(nm) for nm in results)
    print(f"{'':{width}}  {'time (ms)':>10}  {'vs VectorQuantizer':>18}  {'largest tensor':>14}")
    for name, (t, largest) in results.items():
        print(f"{name:{width}}  {t * 1e3:10.1f}  {t / ref:17.2f}x  {largest / 2**20:11.1f} MiB")
    for name, (t, _) in results.items():
        if name.startswith("vector_quantize_pytorch"):
            like = results["course_lib EMA + rotation trick"][0]
            print(f"\nVectorQuantize time / course_lib EMA + rotation trick time: {t / like:.2f} "
                  f"(> 1 means course_lib is faster); / VectorQuantizer: {t / ref:.2f}")


if __name__ == "__main__":
    main()
