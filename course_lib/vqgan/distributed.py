"""VQ-GAN under torch.distributed (DDP, torchrun).

DDP averages the gradients, so every parameter trained by gradients stays identical across the ranks. The codebook
also changes OUTSIDE the gradient step (EMA averages, dead-code counters and restarts, k-means start). The quantizers
of :mod:`course_lib.quantize` make those changes from the GLOBAL batch (their ``sync_ranks`` option, on by default:
statistics summed over the ranks before the update, restart candidates gathered from all ranks, rank 0's choice
broadcast), so every rank computes the same codebook, as one process would on the concatenated batch. Hence:

* wrap the model with :func:`ddp_kwargs` (no per-step buffer broadcast, which would overwrite every rank's
  codebook with rank 0's and hide any divergence);
* :func:`replicas_identical` compares a hash of the weights across the ranks WITHOUT synchronising them first, so it
  can fail (the tests show that it does with ``sync_ranks=False``);
* :func:`sync_quantizer` (copy rank 0's quantizer to every rank) is an explicit safety net only -- for a quantizer
  class without ``sync_ranks`` -- and is not called by :func:`course_lib.vqgan.make_loss_fn` or ``train_vqgan``.

Part of :mod:`course_lib.vqgan`."""
from __future__ import annotations

import hashlib
import inspect
from typing import Any, Dict, List

import torch
import torch.nn as nn

__all__ = ["ddp_kwargs", "state_hash", "replica_hashes", "sync_quantizer"]


def _unwrap(module: nn.Module) -> nn.Module:
    from ..checkpoint import unwrap

    return unwrap(module)


def _world() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def ddp_kwargs() -> Dict[str, Any]:
    """Keyword arguments for ``DistributedDataParallel`` that turn off the buffer broadcast before every forward:
    ``forward_sync_buffers=False`` where torch has it (it still syncs once, at construction), else the older
    ``broadcast_buffers=False``. The quantizer keeps its buffers identical itself (see the module docstring)."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    if "forward_sync_buffers" in inspect.signature(DDP.__init__).parameters:
        return {"forward_sync_buffers": False}
    return {"broadcast_buffers": False}


def state_hash(*modules: nn.Module) -> str:
    """sha256 over the state dicts (names, shapes and bytes) of the given modules -- equal iff identical weights."""
    h = hashlib.sha256()
    for m in modules:
        for k, v in sorted(_unwrap(m).state_dict().items()):
            h.update(k.encode())
            t = v.detach().cpu().contiguous()
            h.update(str(tuple(t.shape)).encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def replica_hashes(*modules: nn.Module) -> List[str]:
    """:func:`state_hash` of the modules on every rank, in rank order (one element without a process group).
    Nothing is synchronised before hashing: equal hashes mean the replicas really are identical."""
    digest = state_hash(*modules)
    if _world() == 1:
        return [digest]
    import torch.distributed as dist

    hashes: list = [None] * dist.get_world_size()
    dist.all_gather_object(hashes, digest)
    return hashes


@torch.no_grad()
def sync_quantizer(model: nn.Module, src: int = 0) -> None:
    """Copy the quantizer's parameters and buffers from rank ``src`` to every rank (no-op without a process group).

    A safety net, not part of training: the course's quantizers keep the replicas identical by computing every
    codebook change from the global batch (``sync_ranks``). Call it only for a quantizer that changes its codebook
    from the local batch; it hides, rather than fixes, a divergence."""
    import torch.distributed as dist

    if _world() == 1:
        return
    q = _unwrap(model).quantizer
    for t in list(q.parameters()) + list(q.buffers()):
        dist.broadcast(t.data, src=src)
