"""The one training loop of the course.

``fit`` runs any model the notebooks build -- an autoencoder, a VQ-VAE, a GAN with two optimisers, a transformer
prior -- given a ``loss_fn(batch, step)`` that returns named losses::

    def loss_fn(batch, step):
        x, _ = batch
        out = model(x)
        rec = F.mse_loss(out.x_hat, x)
        return {"loss": rec + out.vq.loss, "rec": rec, "vq": out.vq.loss}

    history = fit(loss_fn, torch.optim.Adam(model.parameters(), 2e-4), loader, steps=CFG.steps, model=model)
    history.plot()

What it does for you:

* a ``tqdm`` progress bar with the latest losses, and a :class:`History` (means over each logging window) that plots;
* several optimisers: pass ``{"g": opt_g, "d": opt_d}`` and it minimises ``losses["g"]`` then ``losses["d"]``
  (each with its own zero_grad/backward/step); a loss that is ``None`` skips its optimiser that step
  (e.g. the discriminator before its warm-up);
* mixed precision on CUDA (bf16 where the GPU computes it natively, compute capability >= 8: A100, L4, H100; else
  fp16 with a gradient scaler: a T4, sm_75; see :func:`resolve_amp`), or CPU autocast with
  ``amp="bf16"`` or ``amp="fp16"`` (fp16 with ``torch.amp.GradScaler("cpu")``: the CUDA fp16 path, testable on a CPU);
* gradient clipping (``grad_clip``), and the gradient norm of every optimiser's parameters in the history;
* a stop with :class:`NonFiniteLossError` naming the loss that became nan/inf, and the step;
* atomic checkpoints every ``checkpoint_every`` steps and at the end; calling ``fit`` again with the same
  ``checkpoint`` path resumes the same run (weights, optimisers, scaler, history, random state and data order)
  up to ``steps`` -- so a Colab disconnect costs at most one checkpoint interval; under torch.distributed rank 0
  writes the checkpoint with every rank's random state in it, and each rank resumes its own (when the number of
  processes is the same; otherwise every rank takes rank 0's);
* a step budget (``steps``) and/or a time budget in seconds (``time_budget``; under torch.distributed every rank
  stops at the same step, as soon as one rank's clock runs out).
"""
from __future__ import annotations

import math
import random
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union

import numpy as np
import torch

from .checkpoint import (
    CheckpointMismatchError,
    config_differences,
    load_checkpoint,
    load_state,
    save_checkpoint,
    unwrap,
)

FORMAT = "course_lib.fit/1"
LossDict = Mapping[str, Union[torch.Tensor, float, None]]


class NonFiniteLossError(FloatingPointError):
    """A loss became nan or inf during :func:`fit`."""


class History:
    """Logged values over training: ``history["loss"]`` (list of floats), ``history.steps_for("loss")``."""

    def __init__(self) -> None:
        self._steps: Dict[str, List[int]] = OrderedDict()
        self._values: Dict[str, List[float]] = OrderedDict()

    def log(self, step: int, **values: float) -> None:
        for key, value in values.items():
            self._steps.setdefault(key, []).append(int(step))
            self._values.setdefault(key, []).append(float(value))

    def keys(self) -> List[str]:
        return list(self._values)

    def __contains__(self, key: str) -> bool:
        return key in self._values

    def __getitem__(self, key: str) -> List[float]:
        try:
            return self._values[key]
        except KeyError:
            raise KeyError(f"No {key!r} in the history; logged: {', '.join(self._values) or 'nothing yet'}") from None

    def __len__(self) -> int:
        return max((len(v) for v in self._values.values()), default=0)

    @property
    def steps(self) -> List[int]:
        """The steps at which anything was logged."""
        return sorted({s for steps in self._steps.values() for s in steps})

    def steps_for(self, key: str) -> List[int]:
        self[key]
        return self._steps[key]

    def last(self, key: str) -> float:
        values = self[key]
        if not values:
            raise ValueError(f"{key!r} has no values yet")
        return values[-1]

    def mean(self, key: str, last: Optional[int] = None) -> float:
        values = self[key] if last is None else self[key][-last:]
        return float(np.mean(values)) if values else float("nan")

    def state_dict(self) -> Dict[str, Any]:
        return {"steps": {k: list(v) for k, v in self._steps.items()}, "values": {k: list(v) for k, v in self._values.items()}}

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> "History":
        h = cls()
        for key, values in state.get("values", {}).items():
            h._values[key] = [float(v) for v in values]
            h._steps[key] = [int(s) for s in state["steps"][key]]
        return h

    def plot(self, keys: Optional[Iterable[str]] = None, **kwargs: Any):
        """Loss curves; see :func:`course_lib.viz.plot_history`."""
        from .viz import plot_history

        return plot_history(self, keys=keys, **kwargs)

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self._values.items() if v and not k.startswith("grad_norm"))
        return f"History({len(self)} logs; last: {last})"


# ----------------------------------------------------------------------------------------------- helpers
def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor in a (nested) batch to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def cuda_bf16_native(device: Union[str, torch.device, None] = None) -> bool:
    """True when the CUDA GPU ``device`` computes in bfloat16 natively: compute capability 8.0 or higher (A100, L4,
    H100, ...); ROCm GPUs: what ``torch.cuda.is_bf16_supported`` says. False without CUDA.

    Not ``torch.cuda.is_bf16_supported()``: by default (``including_emulation=True``) it is True on any GPU that can
    merely *store* a bfloat16 tensor, so a T4 (sm_75) or a V100 (sm_70) would autocast to an emulated bfloat16 that
    has no tensor-core support there. Those GPUs get float16 with a gradient scaler instead."""
    if not torch.cuda.is_available():
        return False
    if getattr(torch.version, "hip", None):
        return bool(torch.cuda.is_bf16_supported())
    device = torch.device("cuda", torch.cuda.current_device()) if device is None else torch.device(device)
    if device.type != "cuda":
        return False
    major, _minor = torch.cuda.get_device_capability(device)
    return major >= 8


def resolve_amp(amp: Union[str, bool, None], device: torch.device) -> Optional[torch.dtype]:
    """The autocast dtype for ``amp`` on ``device`` (None: full precision).

    ``"auto"``: on a CUDA GPU bfloat16 where it is native (compute capability >= 8, :func:`cuda_bf16_native`), else
    float16 (a T4, sm_75: :func:`amp_setup` adds a gradient scaler); on a CPU or MPS full precision.
    ``"bf16"`` / ``"fp16"`` force that dtype on any device (how the tests run both paths on a CPU)."""
    if amp in (None, False, "off", "none", "fp32"):
        return None
    if amp in (True, "auto"):
        device = torch.device(device)
        if device.type != "cuda":
            return None
        return torch.bfloat16 if cuda_bf16_native(device) else torch.float16
    if amp == "bf16":
        return torch.bfloat16
    if amp == "fp16":
        return torch.float16
    raise ValueError(f"amp must be 'auto', 'bf16', 'fp16' or 'off', got {amp!r}")


def amp_setup(amp: Union[str, bool, None], device: Union[str, torch.device]):
    """``(autocast dtype or None, GradScaler or None)`` for ``amp`` on ``device``: what :func:`fit` uses.

    float16 needs loss scaling (its smallest normal number is 6e-5: small gradients would flush to zero), so it
    comes with a ``torch.amp.GradScaler`` for the device (CUDA, or the CPU since torch 2.3); bfloat16 has float32's
    exponent range and needs none."""
    device = torch.device(device)
    dtype = resolve_amp(amp, device)
    scaler = None
    if dtype == torch.float16 and device.type in ("cuda", "cpu"):
        scaler = torch.amp.GradScaler(device.type)
    return dtype, scaler


def display_path(path: Union[str, Path]) -> str:
    """``path`` as a notebook prints it: relative to the runs folder (``$COURSE_RUNS`` or ``runs/``), e.g.
    ``runs/quick/11/vqgan.pt``, so that no machine's absolute folder names end up in a notebook's output;
    relative to the working directory, or the bare file name, for a path outside it."""
    from .env import RUNS_ENV_VAR, runs_root

    path = Path(path)
    root = runs_root()
    label = f"${RUNS_ENV_VAR}" if root != Path("runs") else "runs"
    for base, prefix in ((root, label), (Path.cwd(), None)):
        try:
            rel = path.resolve().relative_to(base.resolve())
        except (ValueError, OSError):
            continue
        return str(Path(prefix) / rel) if prefix else str(rel)
    return path.name


def _modules(model: Union[torch.nn.Module, Mapping[str, torch.nn.Module], None]) -> Dict[str, torch.nn.Module]:
    if model is None:
        return {}
    if isinstance(model, torch.nn.Module):
        return {"model": model}
    if isinstance(model, Mapping) and all(isinstance(m, torch.nn.Module) for m in model.values()):
        return dict(model)
    raise TypeError("model must be an nn.Module or a dict of name -> nn.Module")


def _optimizers(optimizer: Any) -> Dict[str, torch.optim.Optimizer]:
    if isinstance(optimizer, torch.optim.Optimizer):
        return {"loss": optimizer}
    if isinstance(optimizer, Mapping) and optimizer and all(isinstance(o, torch.optim.Optimizer) for o in optimizer.values()):
        return dict(optimizer)
    raise TypeError(
        "optimizer must be a torch.optim.Optimizer (it minimises losses['loss']) or a dict name -> optimizer "
        "(each minimises losses[name]), e.g. {'g': opt_g, 'd': opt_d}"
    )


def _is_main() -> bool:
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def _rank_and_world() -> Tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _all_rng_states(own: Dict[str, Any]) -> Optional[List[Dict[str, Any]]]:
    """Every rank's random state, in rank order (None in a single process). Called on every rank."""
    rank, world = _rank_and_world()
    if world == 1:
        return None
    import torch.distributed as dist

    states: List[Any] = [None] * world
    dist.all_gather_object(states, own)
    return states


def _collective_device(device: torch.device) -> torch.device:
    """Where a small tensor for a collective must live: the rank's GPU under NCCL (it only moves CUDA tensors), the
    CPU under gloo."""
    import torch.distributed as dist

    return device if dist.get_backend() == "nccl" else torch.device("cpu")


def _time_is_up(t0: float, time_budget: float, device: torch.device) -> bool:
    """True once ``time_budget`` seconds have passed since ``t0``. Under torch.distributed the ranks AGREE: the run
    stops on every rank as soon as one rank's clock says so (an all-reduce of the flag, MAX). Each rank deciding on
    its own clock could stop one rank a step early while the others wait for it in the next gradient all-reduce:
    a deadlock."""
    up = time.monotonic() - t0 >= time_budget
    _rank, world = _rank_and_world()
    if world == 1:
        return up
    import torch.distributed as dist

    flag = torch.tensor([1.0 if up else 0.0], device=_collective_device(device))
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item() > 0)


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


# Training FLOPs of every fit() call in this process: what the course report (python -m course_lib.report) turns
# into an estimated GPU time per notebook. One step per set of active optimisers is counted with
# torch.utils.flop_counter (matmuls and convolutions, forward and backward), then multiplied by the steps taken.
FLOP_LOG: List[Dict[str, Any]] = []


def _flop_counter():
    try:
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        counter.__enter__()
        return counter
    except Exception:  # pragma: no cover - an op the counter cannot trace: no estimate rather than no training
        return None


def _log_flops(desc: str, steps: Optional[int], ran: int, flops_by_set: Mapping[tuple, int],
               steps_by_set: Mapping[tuple, int]) -> None:
    if ran <= 0 or not flops_by_set:
        return
    fallback = max(flops_by_set.values())
    total = sum(flops_by_set.get(k, fallback) * n for k, n in steps_by_set.items())
    # Under smoke, settings() hands out cut step counts that remember the planned one (profiles.SmokeCut).
    planned = getattr(steps, "planned", steps)
    planned_total = total * (planned / ran) if isinstance(planned, (int, float)) and planned else total
    FLOP_LOG.append({"desc": desc, "steps_run": ran, "steps_planned": planned if planned else ran,
                     "flops_run": int(total), "flops_planned": int(planned_total),
                     "flops_per_step": {"+".join(k): v for k, v in flops_by_set.items()}})


def _rng_state() -> Dict[str, Any]:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        # Only this process's GPU: saving every GPU's state would make a run unresumable on fewer GPUs.
        "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() else None,
        "python": random.getstate(),
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
    }


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if isinstance(cuda, (list, tuple)):       # checkpoints of course_lib 0.1 saved every GPU's state
        cuda = cuda[torch.cuda.current_device()] if torch.cuda.is_available() and len(cuda) > torch.cuda.current_device() else None
    if cuda is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(cuda)
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n[0], np.asarray(n[1], dtype=np.uint32), n[2], n[3], n[4]))


def _batches(data: Iterable, start_step: int):
    """Cycle over ``data`` epoch after epoch, starting where step ``start_step`` left off."""
    try:
        per_epoch = len(data)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError("fit needs data with a length (a DataLoader or a course_lib.data loader)") from None
    if per_epoch == 0:
        raise ValueError("The data yields no batches: is the dataset smaller than the batch size (with drop_last)?")
    epoch, skip = divmod(start_step, per_epoch)
    set_epoch = getattr(data, "set_epoch", None) or getattr(getattr(data, "sampler", None), "set_epoch", None)
    while True:
        if set_epoch is not None:
            set_epoch(epoch)
        for i, batch in enumerate(data):
            if i < skip:
                continue
            yield batch
        skip = 0
        epoch += 1


# ----------------------------------------------------------------------------------------------- fit
def fit(
    loss_fn: Callable[[Any, int], LossDict],
    optimizer: Union[torch.optim.Optimizer, Mapping[str, torch.optim.Optimizer]],
    data: Iterable,
    *,
    steps: Optional[int] = None,
    time_budget: Optional[float] = None,
    model: Union[torch.nn.Module, Mapping[str, torch.nn.Module], None] = None,
    device: Union[str, torch.device, None] = None,
    amp: Union[str, bool, None] = "auto",
    grad_clip: Optional[float] = None,
    log_every: int = 10,
    checkpoint: Union[str, Path, None] = None,
    checkpoint_every: Optional[int] = None,
    resume: bool = True,
    config: Optional[Mapping[str, Any]] = None,
    scheduler: Any = None,
    sample_fn: Optional[Callable[[int], Any]] = None,
    sample_every: Optional[int] = None,
    callback: Optional[Callable[[int, Dict[str, float], History], Any]] = None,
    desc: str = "train",
    progress: bool = True,
) -> History:
    """Train until ``steps`` total steps (or ``time_budget`` seconds) and return the :class:`History`.

    ``loss_fn(batch, step)`` gets each batch already on ``device`` and returns a dict of scalar losses/metrics.
    See the module docstring for optimisers, mixed precision, checkpoints and resume.
    """
    if steps is None and time_budget is None:
        raise ValueError("fit needs steps=... (total steps of the run) or time_budget=... (seconds)")
    if steps is not None and (not isinstance(steps, int) or steps < 0):
        raise ValueError(f"steps must be a non-negative int, got {steps!r}")
    if log_every < 1:
        raise ValueError("log_every must be >= 1")
    modules = _modules(model)
    optimizers = _optimizers(optimizer)
    schedulers = {} if scheduler is None else (dict(scheduler) if isinstance(scheduler, Mapping) else {"loss": scheduler})
    if device is None:
        params = [p for m in modules.values() for p in m.parameters()] or [
            p for o in optimizers.values() for g in o.param_groups for p in g["params"]
        ]
        device = params[0].device if params else torch.device("cpu")
    device = torch.device(device)
    amp_dtype, scaler = amp_setup(amp, device)  # float16 comes with a gradient scaler, bfloat16 without
    config = dict(config) if config is not None else None
    main = _is_main()

    history = History()
    start = 0
    resume_count_next, resume_last_key = True, None
    ckpt_path = Path(checkpoint) if checkpoint is not None else None
    if ckpt_path is not None and resume and ckpt_path.exists():
        state = load_checkpoint(ckpt_path)
        if state.get("format") != FORMAT:
            raise CheckpointMismatchError(f"{ckpt_path} was not written by course_lib.train.fit; use another path.")
        diff = config_differences(state.get("config"), config) if config is not None else {}
        if diff:
            shown = "; ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in list(diff.items())[:5])
            raise CheckpointMismatchError(
                f"The checkpoint {ckpt_path} comes from another configuration ({shown}). "
                "Use a new checkpoint path for the new configuration, delete the old file, or pass resume=False."
            )
        for name, module in modules.items():
            if name not in state["models"]:
                raise CheckpointMismatchError(f"{ckpt_path} holds no weights for {name!r} (it has {list(state['models'])}).")
            load_state(module, state["models"][name], what=name)
        for name, opt in optimizers.items():
            if name in state.get("optimizers", {}):
                opt.load_state_dict(state["optimizers"][name])
        for name, sched in schedulers.items():
            if name in state.get("schedulers", {}):
                sched.load_state_dict(state["schedulers"][name])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        history = History.from_state_dict(state.get("history", {}))
        resume_count_next = bool(state.get("count_flops_next", False))
        resume_last_key = tuple(state["flops_last_key"]) if state.get("flops_last_key") is not None else None
        if state.get("rng"):
            rank, world = _rank_and_world()
            per_rank = state.get("rng_ranks")
            _set_rng_state(per_rank[rank] if per_rank and len(per_rank) == world else state["rng"])
        start = int(state["step"])
        if main:
            print(f"Resuming {desc} from {display_path(ckpt_path)} at step {start}" + (f" of {steps}" if steps else ""))

    def save(step: int) -> None:
        if ckpt_path is None:
            return
        rng = _rng_state()
        rng_ranks = _all_rng_states(rng)  # a collective: every rank takes part
        if main:
            save_checkpoint(
                ckpt_path,
                {
                    "format": FORMAT,
                    "step": step,
                    "models": {n: unwrap(m).state_dict() for n, m in modules.items()},
                    "optimizers": {n: o.state_dict() for n, o in optimizers.items()},
                    "schedulers": {n: s.state_dict() for n, s in schedulers.items()},
                    "scaler": scaler.state_dict() if scaler is not None else None,
                    "history": history.state_dict(),
                    "config": config,
                    "rng": rng,
                    "rng_ranks": rng_ranks,
                    "count_flops_next": count_next,
                    "flops_last_key": list(last_key) if last_key is not None else None,
                },
            )
        _barrier()

    if steps is not None and start >= steps:
        if main:
            print(f"{desc}: already trained for {start} steps (asked for {steps}); nothing to do.")
        return history

    was_training = {n: m.training for n, m in modules.items()}
    for m in modules.values():
        m.train()
    window: Dict[str, List[float]] = {}
    names = list(optimizers)
    t0 = time.monotonic()
    total = steps if steps is not None else None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=start, desc=desc, disable=not (progress and main), dynamic_ncols=True, leave=True)
    step = start
    flops_by_set: Dict[tuple, int] = {}
    steps_by_set: Dict[tuple, int] = {}
    # Which steps get their FLOPs counted depends only on the run, never on where it was resumed: a counted step can
    # round differently (ops under the counter may take other kernels), and a resumed run must equal an
    # uninterrupted one bit for bit. So the flag travels in the checkpoint.
    count_next, last_key = resume_count_next, resume_last_key
    batches = _batches(data, start)
    try:
        while steps is None or step < steps:
            if time_budget is not None and _time_is_up(t0, time_budget, device):
                if main:
                    print(f"{desc}: time budget of {time_budget:.0f} s reached at step {step}.")
                break
            counter = _flop_counter() if count_next else None  # FLOPs of one step, for the course report
            try:
                batch = to_device(next(batches), device)
                if amp_dtype is not None:
                    with torch.autocast(device_type=device.type, dtype=amp_dtype):
                        losses = loss_fn(batch, step)
                else:
                    losses = loss_fn(batch, step)
                if not isinstance(losses, Mapping):
                    raise TypeError(f"loss_fn must return a dict of named losses, got {type(losses).__name__}")
                values: Dict[str, float] = {}
                for key, value in losses.items():
                    if value is None:
                        continue
                    v = float(value.detach().float()) if isinstance(value, torch.Tensor) else float(value)
                    if not math.isfinite(v):
                        where = f" The last checkpoint ({ckpt_path}) is from before this step." if ckpt_path else ""
                        raise NonFiniteLossError(
                            f"loss {key!r} became {v} at step {step} of {desc}.{where} Common causes: a learning rate "
                            "that is too high, inputs outside the expected range, log/sqrt of zero, or fp16 overflow. "
                            "Try a lower learning rate, grad_clip=1.0, or amp='off'."
                        )
                    values[key] = v
                active = [n for n in names if losses.get(n) is not None]
                if not active:
                    raise KeyError(
                        f"loss_fn returned {sorted(losses)} but the optimiser(s) minimise {names}: "
                        "return a loss under that name (a single optimiser minimises losses['loss'])."
                    )
                for i, name in enumerate(active):
                    opt, loss = optimizers[name], losses[name]
                    if not isinstance(loss, torch.Tensor) or not loss.requires_grad:
                        raise TypeError(f"losses[{name!r}] must be a tensor that requires grad, to be minimised")
                    opt.zero_grad(set_to_none=True)
                    retain = i < len(active) - 1
                    if scaler is not None:
                        scaler.scale(loss).backward(retain_graph=retain)
                        scaler.unscale_(opt)
                    else:
                        loss.backward(retain_graph=retain)
                    params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
                    if params:
                        norm = torch.nn.utils.clip_grad_norm_(params, grad_clip if grad_clip else float("inf"))
                        values[f"grad_norm/{name}"] = float(norm)
                    if scaler is not None:
                        scaler.step(opt)
                    else:
                        opt.step()
                    if name in schedulers:
                        schedulers[name].step()
                if scaler is not None:
                    scaler.update()
            finally:
                if counter is not None:
                    counter.__exit__(None, None, None)
            key = tuple(active)
            steps_by_set[key] = steps_by_set.get(key, 0) + 1
            if counter is not None:
                flops_by_set[key] = int(counter.get_total_flops())
            # the optimisers in use changed (e.g. the discriminator started) and this step was not counted: count the next
            count_next = key != last_key and counter is None
            last_key = key
            step += 1
            for key, v in values.items():
                window.setdefault(key, []).append(v)
            if step % log_every == 0 or step == steps:
                means = {k: float(np.mean(v)) for k, v in window.items() if v}
                history.log(step, **means)
                window = {}
                bar.set_postfix({k: f"{v:.4g}" for k, v in means.items() if not k.startswith("grad_norm")}, refresh=False)
                if callback is not None:
                    callback(step, means, history)
            bar.update(1)
            if sample_fn is not None and sample_every and step % sample_every == 0 and main:
                _with_eval(modules, sample_fn, step)
            if checkpoint_every and step % checkpoint_every == 0 and step != steps:
                save(step)
    finally:
        bar.close()
        for n, m in modules.items():
            m.train(was_training[n])
        _log_flops(desc, steps, step - start, flops_by_set, steps_by_set)
    if window:
        history.log(step, **{k: float(np.mean(v)) for k, v in window.items() if v})
    save(step)
    return history


def _with_eval(modules: Dict[str, torch.nn.Module], fn: Callable[[int], Any], step: int) -> None:
    modes = {n: m.training for n, m in modules.items()}
    for m in modules.values():
        m.eval()
    try:
        with torch.no_grad():
            fn(step)
    finally:
        for n, m in modules.items():
            m.train(modes[n])
