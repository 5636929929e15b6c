"""Two (or more) gloo ranks for the distributed tests, run the way they should be: every rank saves its results
atomically, then all ranks meet at a barrier, then tear the group down (:func:`process_group`).

Why the care: gloo's TCP transport can abort a process (SIGABRT, "terminate called after throwing an instance of
'gloo::IoException' ... Connection closed by peer") when its peer exits while this rank's group is still open; it is
a known race of gloo's teardown (pytorch/pytorch#50701, horovod/horovod#2907), seen once in this project's CI on a
busy 2-core machine. :func:`spawn_ranks` tells the two cases apart:

* a worker raised a Python exception (a real failure, e.g. a collective that does not match): the test fails at once;
* a worker was killed by a signal AFTER every rank had saved its results: the work is done and whole (the files
  are written atomically before the barrier), the crash was in teardown; the results are used, with a warning;
* a worker was killed by a signal BEFORE that: the run is retried once, in a fresh folder with a fresh store, and
  fails if it dies again.

The assertions are made on the saved results in every case, so a wrong result still fails.
"""
from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, List, Sequence

import torch


def save_result(obj, path) -> None:
    """torch.save to ``path`` atomically (temporary file, then rename): a file that exists is whole."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


@contextmanager
def process_group(rank: int, store: str, world: int = 2, timeout_s: float = 120.0):
    """A worker's gloo group from the file ``store``, one torch thread. Save the results (:func:`save_result`) at
    the end of the block: on leaving it normally every rank meets at a barrier before the group is torn down, so no
    rank exits while another still talks to it."""
    import datetime

    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=timeout_s))
    try:
        yield
        dist.barrier()
    finally:
        dist.destroy_process_group()


def spawn_ranks(worker: Callable, out_dir, result_names: Sequence[str], nprocs: int = 2,
                attempts: int = 2) -> List[Path]:
    """Run ``worker(rank, store, out_dir)`` on ``nprocs`` processes (spawned; each starts its own gloo group from
    the file ``store``) and return the paths of ``result_names`` (one file per rank, written by the worker with
    :func:`save_result`) in rank order. See the module docstring for what happens when a process dies."""
    import torch.multiprocessing as mp

    base = Path(out_dir)
    for attempt in range(1, attempts + 1):
        d = base if attempt == 1 else base / f"retry{attempt}"
        d.mkdir(parents=True, exist_ok=True)
        paths = [d / name for name in result_names]
        try:
            mp.spawn(worker, args=(str(d / "store"), str(d)), nprocs=nprocs, join=True)
            return paths
        except mp.ProcessExitedException as e:
            if e.signal_name is None:  # exited with a code, not killed by a signal: a real failure
                raise
            if all(p.exists() for p in paths):
                warnings.warn(f"rank {e.error_index} was killed by {e.signal_name} after every rank had saved its "
                              "results (gloo teardown); the saved results are checked", RuntimeWarning)
                return paths
            if attempt == attempts:
                raise
            warnings.warn(f"rank {e.error_index} was killed by {e.signal_name} before the results were saved; "
                          "running the ranks again in a fresh folder", RuntimeWarning)
    raise AssertionError("unreachable")
