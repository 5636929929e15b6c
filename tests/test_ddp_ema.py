"""The codebook under torch.distributed (issue 14, item 1): two gloo processes, each fed DIFFERENT data, learn the same
codebook as one process fed both batches -- EMA statistics, dead-code counters, restarts and k-means initialisation
all see the global batch -- and the replicas stay identical with no buffer broadcast. With ``sync_ranks=False``
the replicas drift apart, which shows that the identity check below can fail."""
import os

import pytest
import torch
import torch.distributed as dist

from course_lib.quantize import EMAVectorQuantizer, VectorQuantizer
from course_lib.vqgan import ddp_kwargs, sync_quantizer

from _ranks import process_group, save_result, spawn_ranks

WORLD, STEPS, PER_RANK, DIM = 2, 6, 24, 4

# name -> (class, kwargs, trained by gradients?)
CASES = {
    "ema": (EMAVectorQuantizer, dict(num_codes=16, code_dim=DIM, decay=0.9, restart_dead_after=2), False),
    # the presets' kind: l2-normalised lookup in a low dimension, EMA codebook, restarts
    "ema_factorized": (EMAVectorQuantizer, dict(num_codes=16, code_dim=DIM, lookup_dim=3, cosine=True, decay=0.9,
                                                restart_dead_after=2), False),
    # gradient-trained codebook (averaged by DDP), k-means start on the first batch, restarts
    "vq": (VectorQuantizer, dict(num_codes=16, code_dim=DIM, kmeans_init=True, restart_dead_after=2), True),
    "ema_unsynced": (EMAVectorQuantizer, dict(num_codes=16, code_dim=DIM, decay=0.9, restart_dead_after=2,
                                              sync_ranks=False), False),
}


def _global_batch(step: int) -> torch.Tensor:
    """(WORLD * PER_RANK, DIM): each rank's slice is half a shared cluster (at 0) and half its own region (rank 0
    around +2, rank 1 around -2): different data per rank, and codes that both ranks use."""
    g = torch.Generator().manual_seed(100 + step)
    half = PER_RANK // 2
    parts = [torch.cat([0.7 * torch.randn(half, DIM, generator=g),
                        (2.0 - 4.0 * r) + 0.7 * torch.randn(PER_RANK - half, DIM, generator=g)]) for r in range(WORLD)]
    return torch.cat(parts)


def _run(name: str, rank=None):
    """STEPS training steps of case ``name``; rank None: one process on the whole global batch."""
    cls, kw, by_grad = CASES[name]
    torch.manual_seed(0)
    q = cls(**kw).train()
    net = q
    if by_grad and rank is not None:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(q, **ddp_kwargs())  # gradients averaged; no buffer broadcast: the quantizer keeps them identical
    for step in range(STEPS):
        z = _global_batch(step)
        if rank is not None:
            z = z[rank * PER_RANK:(rank + 1) * PER_RANK]
        out = net(z)
        if by_grad:  # plain SGD, written out (torch.optim would import torch._dynamo: seconds on a busy CPU)
            q.zero_grad()
            out.loss.backward()
            with torch.no_grad():
                for p in q.parameters():
                    p -= 0.5 * p.grad
    return {k: v.detach().clone() for k, v in q.state_dict().items()}, q.restarts


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _worker(rank: int, store: str, out_dir: str) -> None:
    with process_group(rank, store, WORLD):
        results = {name: _run(name, rank) for name in CASES}
        # the explicit safety net: sync_quantizer copies rank 0's quantizer to every rank
        holder = torch.nn.Module()
        holder.quantizer = EMAVectorQuantizer(**CASES["ema_unsynced"][1]).train()
        holder.quantizer(_global_batch(0)[rank * PER_RANK:(rank + 1) * PER_RANK])
        before = _state(holder.quantizer)
        sync_quantizer(holder)
        results["safety_net"] = (before, _state(holder.quantizer))
        save_result(results, os.path.join(out_dir, f"rank{rank}.pt"))


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    paths = spawn_ranks(_worker, tmp_path_factory.mktemp("ddp_ema"), [f"rank{r}.pt" for r in range(WORLD)], WORLD)
    return [torch.load(p) for p in paths]


def _max_diff(a, b) -> float:
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a)


@pytest.mark.parametrize("name", ["ema", "ema_factorized", "vq"])
def test_two_ranks_learn_the_codebook_of_one_process_on_the_global_batch(ranks, name):
    single, restarts = _run(name)                  # no process group here: the single-process code path
    (s0, r0), (s1, r1) = ranks[0][name], ranks[1][name]
    assert restarts > 0 and r0 == r1 == restarts, (restarts, r0, r1)   # restarts happened, the same on every rank
    # identical replicas, bit for bit, with nothing synchronised before this comparison
    assert all(torch.equal(s0[k], s1[k]) for k in s0), f"{name}: replicas differ by {_max_diff(s0, s1):.3g}"
    diff = _max_diff(s0, single)
    print(f"{name}: max |DDP - single process| = {diff:.2e}")
    assert diff < 1e-5, f"{name}: the 2-rank codebook differs from the single-process one by {diff:.3g}"


def test_without_the_all_reduce_the_replicas_drift_apart(ranks):
    (s0, _), (s1, _) = ranks[0]["ema_unsynced"], ranks[1]["ema_unsynced"]
    diff = _max_diff(s0, s1)
    assert diff > 1e-2, f"the unsynchronised replicas should differ (each learns from its own shard), max diff {diff:.3g}"
    # and each rank's usage counters saw only its own shard: codes the other rank uses look unused
    assert not torch.equal(s0["steps_unused"], s1["steps_unused"])


def test_no_process_group_means_no_communication():
    """A single process never touches torch.distributed (and sync_ranks is on by default)."""
    assert not dist.is_initialized()
    q = EMAVectorQuantizer(num_codes=8, code_dim=DIM, restart_dead_after=1)
    assert q.sync_ranks
    q.train()(torch.randn(10, DIM))


def test_sync_quantizer_safety_net_copies_rank_0(ranks):
    (b0, a0), (b1, a1) = ranks[0]["safety_net"], ranks[1]["safety_net"]
    assert _max_diff(b0, b1) > 1e-2                       # each rank updated its codebook from its own shard
    assert all(torch.equal(a1[k], b0[k]) and torch.equal(a0[k], b0[k]) for k in b0)   # now rank 0's everywhere
