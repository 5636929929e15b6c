"""Benchmark (not a test): how long one redraw of each explorer takes, the speed a slider needs to feel live
(goal: under about 1 s on a laptop CPU). The explorers' unit tests check what they draw; the time lives here.

Usage: ``python tests/bench_explorers.py [--repeats 5]``. Prints the median and worst redraw per explorer, with the
same fake inputs as the unit tests (tests/test_explorers_*.py). No assertions.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

GOAL_S = 1.0


def cases():
    import test_explorers_code_map as cm
    import test_explorers_disc_start as ds
    import test_explorers_gan_toy as gt
    from course_lib.explorers.code_map import draw_code_map
    from course_lib.explorers.disc_start import draw_disc_start
    from course_lib.explorers.gan_toy import draw_toy_gan

    model, x = cm._model(), cm._images()
    xs, snaps = ds._fake_runs(seed=1)
    snaps["VQ-GAN"][80] = ds._blur(xs, 2)
    runs, _ = gt._fake_runs()
    return {"04 code map": lambda: draw_code_map(model, images=x, image=1, row=3, col=2, code=5),
            "09 disc start": lambda: draw_disc_start(snaps, xs, disc_start=40, step=55, model="VQ-GAN"),
            "08 toy GAN (field)": lambda: draw_toy_gan(runs, step=50, loss="hinge"),
            "08 toy GAN (no field)": lambda: draw_toy_gan(runs, step=50, loss="non-saturating", show_field=False)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    print(f"{'explorer':>24} | median s | worst s | goal < {GOAL_S:g} s")
    for name, draw in cases().items():
        plt.close(draw())                                  # warm-up (imports, first-call caches)
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fig = draw()
            times.append(time.perf_counter() - t0)
            plt.close(fig)
        med, worst = statistics.median(times), max(times)
        print(f"{name:>24} | {med:8.3f} | {worst:7.3f} | {'ok' if worst < GOAL_S else 'SLOW'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
