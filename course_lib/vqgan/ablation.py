"""The loss ablation of notebook 11: one VQ-GAN architecture and quantizer, three objectives, several seeds.

Only the objective changes between the arms (:data:`ARM_LOSS`); the architecture, the quantizer (hence the bits per
image), the initial weights and the data order of a seed, the optimiser, the batch size and the number of steps are
the same. :func:`train_arm` trains one arm at one seed with :func:`course_lib.train.fit`, with a checkpoint that a
re-run resumes. The checkpoint remembers the WHOLE configuration that defines the run (:func:`run_identity`: every
model, loss and training key but the run's length), so a changed loss weight, warm-up or codebook size can never
silently resume a stale run: ``fit`` refuses the checkpoint and names the key.

    cfg = vqgan_config("quick", loss={"disc_start": 40}, train={"batch_size": 16, "lr": 5e-4})
    net, lm = train_arm("L1 + perceptual", cfg, x_train, seed=0, steps=80, checkpoint=path)

Part of :mod:`course_lib.vqgan`. Built in notebook 11 (the deep dive on the loss ablation); the shipped arms
(``data/train_course_checkpoints.py``) use the same arms and losses."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["ARMS", "ARM_LOSS", "arm_config", "arm_loss_fn", "run_identity", "config_from_identity", "train_arm"]

ARMS = ("MSE", "L1 + perceptual", "L1 + perceptual + GAN")
#: The loss settings that make each arm (on top of the shared config). The MSE arm's pixel term is the squared
#: error, written out in :func:`arm_loss_fn`; it keeps the quantizer loss, like a VQ-VAE.
ARM_LOSS: Dict[str, Dict[str, float]] = {
    "MSE": {"l1_weight": 0.0, "perceptual_weight": 0.0, "disc_weight": 0.0},
    "L1 + perceptual": {"disc_weight": 0.0},
    "L1 + perceptual + GAN": {},
}

# Keys that may change between a run and its resumption: they set the run's length and logging, not what is trained.
_RUN_LENGTH_KEYS = ("train.steps", "train.checkpoint_every", "train.log_every")


def _check_arm(arm: str) -> str:
    if arm not in ARM_LOSS:
        raise ValueError(f"unknown arm {arm!r}; the arms are {list(ARMS)}")
    return arm


def arm_config(cfg: Mapping[str, Any], arm: str) -> Dict[str, Any]:
    """A copy of the VQ-GAN config ``cfg`` with ``arm``'s loss settings (:data:`ARM_LOSS`) merged into its loss
    section. The model section, hence the bits per image, is untouched."""
    from .config import validate_config

    out = copy.deepcopy(dict(cfg))
    out["loss"] = {**dict(out.get("loss", {})), **ARM_LOSS[_check_arm(arm)]}
    validate_config(out)
    return out


def arm_loss_fn(arm: str, net: nn.Module, loss: nn.Module) -> Callable:
    """``loss_fn(batch, step)`` for ``fit``: the VQ-GAN loss of the arm (:func:`course_lib.vqgan.make_loss_fn`), or,
    for the MSE arm, the squared error plus the quantizer loss (the VQ-VAE's objective)."""
    from .loss import make_loss_fn

    if _check_arm(arm) != "MSE":
        return make_loss_fn(net, loss)

    def loss_fn(batch, step: int) -> Dict[str, Any]:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        x_hat, q = net(x)
        mse = F.mse_loss(x_hat.float(), x.float())
        return {"gen": mse + loss.codebook_weight * q.loss, "mse": mse.detach(), "q": q.loss.detach()}

    return loss_fn


def _flatten(d: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = copy.deepcopy(v)
    return out


def run_identity(cfg: Mapping[str, Any], **extra: Any) -> Dict[str, Any]:
    """What defines a training run, as ``fit(config=...)`` stores it in the checkpoint and compares it on resume:
    every key of the config's model, loss and train sections as a dotted name (``"loss.disc_weight"``,
    ``"model.quantizer.num_codes"``), except the run's length and logging (``train.steps``,
    ``train.checkpoint_every``, ``train.log_every``: a longer run resumes a shorter one), plus ``extra`` keys (the
    arm, the seed). A checkpoint written with another value of any of them is refused, naming the key."""
    ident = {k: v for k, v in _flatten(cfg).items() if k not in _RUN_LENGTH_KEYS}
    ident.update(extra)
    return ident


def config_from_identity(identity: Mapping[str, Any]) -> Dict[str, Any]:
    """The nested VQ-GAN config (model, loss, train sections) back from a checkpoint's :func:`run_identity`, e.g. to
    rebuild the model a notebook-11 checkpoint holds: ``VQGAN(config_from_identity(load_checkpoint(p)["config"]))``.
    Keys without a section (the arm, the seed) are left out."""
    out: Dict[str, Any] = {}
    for key, value in identity.items():
        parts = key.split(".")
        if len(parts) < 2 or parts[0] not in ("model", "loss", "train"):
            continue
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = copy.deepcopy(value)
    return out


def train_arm(
    arm: str,
    cfg: Mapping[str, Any],
    x_train: torch.Tensor,
    *,
    seed: int,
    steps: int,
    checkpoint: Union[str, Path],
    device: Union[str, torch.device, None] = None,
    perceptual: Optional[nn.Module] = None,
    branch: Optional[Tuple[str, Union[str, Path]]] = None,
    recorder: Optional[Callable[[nn.Module], Callable[[int], Any]]] = None,
    sample_every: Optional[int] = None,
    progress: bool = False,
) -> Tuple[nn.Module, nn.Module]:
    """Train ``arm`` of the ablation at ``seed`` for ``steps`` steps (resuming ``checkpoint`` when it exists) and
    return ``(model in eval mode, its VQGANLoss)``.

    ``cfg``: the shared VQ-GAN config (batch size, learning rate and ``disc_start`` in it); the arm's loss settings
    are merged in by :func:`arm_config`. ``torch.manual_seed(seed)`` before building the model and the loader's
    ``seed``: every arm of one seed starts from the same weights and sees the same batches. ``perceptual``: one
    perceptual network shared by all arms (built once). ``branch=(other_arm, path)``: until the discriminator starts
    the full arm IS the L1 + perceptual arm (same weights, same batches, adversarial term off), so this arm first
    trains to ``disc_start`` and saves a copy of that checkpoint, relabelled as ``other_arm``'s run, at ``path``:
    the other arm resumes from it and trains only the remaining steps (``fit`` resumes a run bit for bit).
    ``recorder(model) -> sample_fn``: called once with the freshly built model, before training; the ``sample_fn`` it
    returns goes to ``fit`` with ``sample_every`` (e.g. a
    :class:`course_lib.explorers.disc_start.SnapshotRecorder` of that model)."""
    from ..checkpoint import load_checkpoint, save_checkpoint
    from ..data import make_loader
    from ..train import fit
    from . import VQGAN, VQGANLoss

    acfg = arm_config(cfg, arm)
    t = acfg["train"]
    device = torch.device(device) if device is not None else torch.device("cpu")
    torch.manual_seed(int(seed))
    net = VQGAN(acfg).to(device)
    lm = VQGANLoss(acfg, perceptual=perceptual).to(device)
    betas = tuple(t["betas"])
    lr = float(t["lr"])
    opts = {"gen": torch.optim.Adam(net.parameters(), lr=lr, betas=betas),
            "disc": torch.optim.Adam(lm.discriminator.parameters(), lr=float(t.get("disc_lr", lr)), betas=betas)}
    loader = make_loader(x_train, batch_size=int(t["batch_size"]), seed=int(seed),
                         device=device if device.type == "cuda" else None)
    run = dict(model={"vqgan": net, "disc": lm.discriminator}, amp="auto", grad_clip=t.get("grad_clip"),
               checkpoint=Path(checkpoint), config=run_identity(acfg, arm=arm, seed=int(seed)),
               log_every=max(1, int(steps) // 10), desc=f"{arm}, seed {seed}", progress=progress,
               sample_fn=recorder(net) if recorder is not None else None, sample_every=sample_every)
    loss_fn = arm_loss_fn(arm, net, lm)
    disc_start = int(acfg["loss"]["disc_start"])
    if branch is not None:
        other, path = branch
        path = Path(path)
        if not path.exists() and 0 < disc_start < int(steps):
            fit(loss_fn, opts, loader, steps=disc_start, **run)  # to disc_start, then branch off
            state = load_checkpoint(Path(checkpoint))
            state["config"] = run_identity(arm_config(cfg, other), arm=other, seed=int(seed))
            save_checkpoint(path, state)
    fit(loss_fn, opts, loader, steps=int(steps), **run)  # resumes where the first call stopped
    return net.eval(), lm
