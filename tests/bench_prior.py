"""Benchmark (not a test): sampling time of ``CodePrior.sample`` with and without the key/value cache, on CPU.

Without the cache each of the T sampling steps re-runs the transformer on the whole prefix (1 + 2 + ... + T
position-evaluations per sequence); with it each step runs one new position against the stored keys and values
(T position-evaluations). Sizes: notebook 06's prior (K=64 codes, a 7x7 grid, d_model=128, 4 layers) and notebook
12's (K=256, a 16x16 grid, d_model=256, 6 layers), 64 and 8 samples (the uncached 16x16 run takes minutes).
Also checks that both paths draw the same codes for the same generator.

Usage: ``python tests/bench_prior.py [--n N] [--repeats 3] [--threads N] [--only 06|10]``. Prints median times and
ratios (the 10-like case is timed once). No assertions. Measured on the course machine (2 shared CPU cores, 1 thread,
under load): x8.6 at 06's size (16.9 s -> 1.9 s for 64 samples), x29 at 12's size (572 s -> 19.5 s for 8 samples).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from course_lib.prior import CodePrior

CONFIGS = {  # name: (prior config, default number of samples, repeats)
    "06-like: K=64, 7x7, d=128, 4 layers": (dict(num_codes=64, seq_len=49, d_model=128, n_layers=4, n_heads=4,
                                                   num_classes=10), 64, None),
    "10-like: K=256, 16x16, d=256, 6 layers": (dict(num_codes=256, seq_len=256, d_model=256, n_layers=6, n_heads=8),
                                               8, 1),
}


def timeit(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=None, help="samples per case (default 64 and 8)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--only", choices=["06", "12"], default=None)
    args, _ = ap.parse_known_args(argv)  # make bench passes the same ARGS to every benchmark
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    for name, (cfg, n_default, repeats) in CONFIGS.items():
        if args.only and not name.startswith(args.only):
            continue
        n = args.n or n_default
        repeats = repeats or args.repeats
        torch.manual_seed(0)
        prior = CodePrior(**cfg).eval()
        labels = torch.arange(n) % cfg["num_classes"] if cfg.get("num_classes") else None
        for use_cache in (False, True):  # warm-up: a short draw on each path
            prior.sample(2, labels=None if labels is None else labels[:2], use_cache=use_cache)
        res = {}
        draws = {}
        for use_cache in (False, True):
            def run(use_cache=use_cache):
                draws[use_cache] = prior.sample(n, temperature=1.0, top_k=32, labels=labels,
                                                generator=torch.Generator().manual_seed(0), use_cache=use_cache)
            res[use_cache], _ = timeit(run, repeats)
        same = torch.equal(draws[True], draws[False])
        print(f"{name}, {n} samples, median of {repeats}: no cache {res[False]:.3f} s, cache {res[True]:.3f} s, "
              f"speed-up x{res[False] / res[True]:.1f}; same codes: {same}")


if __name__ == "__main__":
    main()
