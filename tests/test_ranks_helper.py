"""The distributed tests' runner (tests/_ranks.py) tells a crash in gloo's teardown from a real failure: a rank that
aborts after every rank saved its results is a teardown crash (the results are used, with a warning); one that
aborts before is run again once; a Python exception fails at once."""
import os
from pathlib import Path

import pytest
import torch.multiprocessing as mp

from _ranks import save_result, spawn_ranks


def _die() -> None:
    """SIGABRT, as gloo's terminate() gives, without leaving a core file behind."""
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.abort()


def _abort_after_saving(rank: int, store: str, out_dir: str) -> None:
    save_result({"rank": rank}, Path(out_dir) / f"r{rank}.pt")
    if rank == 0:  # wait until the other rank's file is there, then die as gloo's teardown race does
        other = Path(out_dir) / "r1.pt"
        while not other.exists():
            pass
        _die()


def _abort_before_saving_the_first_time(rank: int, store: str, out_dir: str) -> None:
    if rank == 0 and not Path(out_dir).name.startswith("retry"):
        _die()
    save_result({"rank": rank}, Path(out_dir) / f"r{rank}.pt")


def _always_abort(rank: int, store: str, out_dir: str) -> None:
    _die()


def _raise(rank: int, store: str, out_dir: str) -> None:
    raise ValueError("a real failure")


def test_a_crash_after_every_rank_saved_keeps_the_results(tmp_path):
    with pytest.warns(RuntimeWarning, match="after every rank had saved"):
        paths = spawn_ranks(_abort_after_saving, tmp_path, ["r0.pt", "r1.pt"])
    assert paths == [tmp_path / "r0.pt", tmp_path / "r1.pt"]


def test_a_crash_before_saving_runs_the_ranks_again_once(tmp_path):
    with pytest.warns(RuntimeWarning, match="running the ranks again"):
        paths = spawn_ranks(_abort_before_saving_the_first_time, tmp_path, ["r0.pt", "r1.pt"])
    assert all(p.parent.name == "retry2" and p.exists() for p in paths)
    with pytest.raises(mp.ProcessExitedException), pytest.warns(RuntimeWarning):
        spawn_ranks(_always_abort, tmp_path / "again", ["r0.pt", "r1.pt"])


def test_an_exception_in_a_worker_fails_at_once(tmp_path):
    with pytest.raises(mp.ProcessRaisedException, match="a real failure"):
        spawn_ranks(_raise, tmp_path, ["r0.pt", "r1.pt"])
    assert not (tmp_path / "retry2").exists()
