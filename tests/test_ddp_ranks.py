"""What each rank does on its own under torch.distributed (two gloo processes on the CPU):

* DiffAugment draws DIFFERENT transforms on every rank (each rank seeds its own stream once the model is built):
  with one shared stream, rank 1's image i got exactly rank 0's image i's brightness, shift and cutout;
* a ``time_budget`` stops every rank at the SAME step, even when one rank's clock runs far ahead: a rank that stopped
  alone would leave the others waiting in the next gradient all-reduce (a deadlock; here the process group's
  timeout turns it into an error instead of a hang)."""
import json
import os
from pathlib import Path

import torch
from _ranks import process_group, save_result, spawn_ranks

TINY = {
    "base": "quick",
    "model": {"ch": 8, "ch_mult": [1, 2], "norm_groups": 4, "z_channels": 8, "attn_resolutions": [16],
              "quantizer": {"kind": "ema", "num_codes": 16, "code_dim": 8, "lookup_dim": 4, "cosine": True,
                            "decay": 0.9, "restart_dead_after": 2}},
    # the discriminator from step 0, with DiffAugment: every step draws transforms in both losses
    "loss": {"disc_ch": 8, "disc_layers": 2, "disc_start": 0, "perceptual_weight": 0.0,
             "diff_augment": "color,translation,cutout"},
    "train": {"dataset": "natural", "n_train": 32, "batch_size": 4, "steps": 2, "checkpoint_every": None,
              "log_every": 1},
}


def _group(rank: int, store: str, timeout_s: float = 120.0):
    os.environ.update(WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank), COURSE_OFFLINE="1", COURSE_DEVICE="cpu")
    return process_group(rank, store, 2, timeout_s)


def _augment_worker(rank: int, store: str, out_dir: str) -> None:
    import course_lib.augment as augment
    import course_lib.train_vqgan as tv

    draws: list = []
    rand, randint = augment._rand, augment._randint

    def recording_rand(shape, x, generator):
        r = rand(shape, x, generator)
        draws.append(r.flatten().tolist())
        return r

    def recording_randint(high, shape, x, generator):
        r = randint(high, shape, x, generator)
        draws.append(r.flatten().tolist())
        return r

    augment._rand, augment._randint = recording_rand, recording_randint
    with _group(rank, store):
        out = Path(out_dir)
        cfg_path = out / f"cfg{rank}.json"
        cfg_path.write_text(json.dumps(TINY))
        summary = tv.train(tv.load_config(str(cfg_path)), out=out / "run", device="cpu", progress=False)
        save_result({"draws": draws, "summary": summary}, out / f"aug{rank}.pt")


def test_diffaugment_draws_differ_between_ranks(tmp_path):
    paths = spawn_ranks(_augment_worker, tmp_path, [f"aug{r}.pt" for r in range(2)])
    r0, r1 = (torch.load(p, weights_only=False) for p in paths)
    assert len(r0["draws"]) == len(r1["draws"]) > 0
    same = sum(a == b for a, b in zip(r0["draws"], r1["draws"]))
    assert same == 0, f"{same} of {len(r0['draws'])} DiffAugment draws are identical on both ranks"
    # the models still train as one: DDP and the quantizer's all-reduce keep the replicas identical
    assert r0["summary"]["replicas_identical"] and r1["summary"]["replicas_identical"]


def test_rank_seeds_are_distinct_and_reproducible():
    from course_lib.train_vqgan import rank_seed

    seeds = [rank_seed(0, r) for r in range(8)]
    assert len(set(seeds)) == 8 and seeds == [rank_seed(0, r) for r in range(8)]
    assert rank_seed(1, 0) != rank_seed(0, 0)


STEPS, FAST_RANK = 40, 1


def _budget_worker(rank: int, store: str, out_dir: str) -> None:
    import torch.nn as nn
    from torch.nn.parallel import DistributedDataParallel as DDP

    import course_lib.train as train
    from course_lib.data import make_loader

    # a short process-group timeout: if the ranks disagreed, the waiting rank fails within seconds instead of hanging
    with _group(rank, store, timeout_s=30.0):
        torch.manual_seed(0)
        model = DDP(nn.Linear(4, 1))
        x = torch.rand(64, 4, generator=torch.Generator().manual_seed(rank))
        data = make_loader((x, x[:, :1]), batch_size=4, seed=0)
        if rank == FAST_RANK:  # this rank's clock jumps 100 s at every reading: it runs out of time first
            ticks = iter(range(0, 10**6, 100))
            train.time = type("FastClock", (), {"monotonic": staticmethod(lambda: float(next(ticks)))})
        steps_seen: list = []

        def loss_fn(batch, step):
            steps_seen.append(step)
            return {"loss": (model(batch[0]) - batch[1]).pow(2).mean()}

        train.fit(loss_fn, torch.optim.SGD(model.parameters(), lr=0.1), data, steps=STEPS, time_budget=450.0,
                  model=model, progress=False)
        save_result({"steps": steps_seen, "weight": model.module.weight.detach().clone()},
                    Path(out_dir) / f"b{rank}.pt")


def test_time_budget_stops_every_rank_at_the_same_step(tmp_path):
    paths = spawn_ranks(_budget_worker, tmp_path, [f"b{r}.pt" for r in range(2)])
    r0, r1 = (torch.load(p, weights_only=False) for p in paths)
    # the fast clock reads 0 at the start and 100 s more at each step's check: over 450 s at the 5th check, before step 4
    assert r0["steps"] == r1["steps"] == list(range(4)), (r0["steps"], r1["steps"])
    assert torch.equal(r0["weight"], r1["weight"])  # same number of averaged updates: identical replicas


def test_collective_device_is_the_gpu_under_nccl(monkeypatch):
    """NCCL only moves CUDA tensors: the stop flag must live on the rank's GPU there (faked backend), on the CPU
    under gloo."""
    import torch.distributed as dist

    from course_lib import train

    monkeypatch.setattr(dist, "get_backend", lambda group=None: "nccl")
    assert train._collective_device(torch.device("cuda", 1)) == torch.device("cuda", 1)
    monkeypatch.setattr(dist, "get_backend", lambda group=None: "gloo")
    assert train._collective_device(torch.device("cuda", 1)) == torch.device("cpu")
