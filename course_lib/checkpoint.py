"""Checkpoints that survive a crash or a Colab disconnect.

* :func:`save_checkpoint` writes to a temporary file in the same folder, flushes it to disk, then renames it over
  the old one (``os.replace`` is atomic): a run killed mid-write leaves the previous checkpoint intact.
* :func:`load_checkpoint` reads with ``torch.load(..., weights_only=True)``: a checkpoint can hold tensors, numbers,
  strings, lists and dicts, never arbitrary pickled code.
* :func:`load_state` puts weights into a model and turns PyTorch's long key-mismatch error into one that says
  which configuration the checkpoint came from and what to do.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

import torch

PathLike = Union[str, os.PathLike]


class CheckpointMismatchError(ValueError):
    """A checkpoint that does not belong to this model or configuration."""


def _plain(value: Any) -> Any:
    """``value`` with subclasses of int/float/str (e.g. the smoke mode's ``SmokeCut``) turned into the plain types,
    inside dicts, lists and tuples: ``torch.load(..., weights_only=True)`` refuses any other class."""
    if isinstance(value, bool) or value is None or isinstance(value, torch.Tensor):
        return value
    for kind in (int, float, str):
        if isinstance(value, kind):
            return kind(value) if type(value) is not kind else value
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value) if type(value) in (list, tuple) else [_plain(v) for v in value]
    return value


def save_checkpoint(path: PathLike, state: Mapping[str, Any]) -> Path:
    """Atomically write ``state`` (a dict of tensors, numbers, strings, lists, dicts) to ``path``; it reads back with
    ``torch.load(..., weights_only=True)`` (int/float subclasses such as the smoke mode's cuts are stored plain)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(_plain(dict(state)), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def load_checkpoint(path: PathLike, map_location: Union[str, torch.device] = "cpu") -> Dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (safely: ``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}. Train first (the training cell writes it), or check the path.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointMismatchError(
            f"Could not read the checkpoint {path} ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). "
            "It may be truncated or written by something other than course_lib; delete it and train again."
        ) from exc
    if not isinstance(state, dict):
        raise CheckpointMismatchError(f"{path} does not hold a course_lib checkpoint (a dict); got {type(state).__name__}.")
    return state


def config_differences(saved: Optional[Mapping[str, Any]], current: Optional[Mapping[str, Any]]) -> Dict[str, tuple]:
    """Keys whose values differ between two configuration dicts, as ``{key: (saved, current)}``."""
    saved, current = dict(saved or {}), dict(current or {})
    return {k: (saved.get(k), current.get(k)) for k in sorted(set(saved) | set(current)) if saved.get(k) != current.get(k)}


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """The model inside a DistributedDataParallel / DataParallel / torch.compile wrapper."""
    while True:
        inner = getattr(module, "module", None)
        if not isinstance(inner, torch.nn.Module):
            inner = getattr(module, "_orig_mod", None)
        if not isinstance(inner, torch.nn.Module):
            return module
        module = inner


def load_state(module: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], what: str = "model") -> None:
    """``module.load_state_dict`` with an error that a student can act on."""
    module = unwrap(module)
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and hasattr(state_dict[k], "shape") and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if shapes:
            parts.append("shape mismatches: " + "; ".join(shapes[:3]) + (" ..." if len(shapes) > 3 else ""))
        if missing:
            parts.append(f"{len(missing)} weights missing from the checkpoint (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected weights (e.g. {unexpected[0]})")
        raise CheckpointMismatchError(
            f"The checkpoint's {what} was made for a different architecture or configuration: "
            + "; ".join(parts)
            + ". Build the model with the same settings as the run that wrote it, or train a new one "
            "(use another checkpoint path, or delete the old file)."
        )
    module.load_state_dict(state_dict)
