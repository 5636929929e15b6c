"""VQ-GAN under torch.distributed: helpers that keep the replicas' quantizers identical.

Part of :mod:`course_lib.vqgan`."""
from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["sync_quantizer"]


# ----------------------------------------------------------------------------------------------------------------------
# One training step, for course_lib.train.fit
# ----------------------------------------------------------------------------------------------------------------------
def _unwrap(module: nn.Module) -> nn.Module:
    from ..checkpoint import unwrap

    return unwrap(module)


@torch.no_grad()
def sync_quantizer(model: nn.Module, src: int = 0) -> None:
    """Under torch.distributed, copy the quantizer's parameters and buffers from rank ``src`` to every rank.

    Gradients are averaged by DDP, but a quantizer may also change its codebook *outside* the gradient step
    (EMA updates, dead-code restarts from the local batch); this keeps the replicas identical. No-op otherwise."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    q = _unwrap(model).quantizer
    for t in list(q.parameters()) + list(q.buffers()):
        dist.broadcast(t.data, src=src)

