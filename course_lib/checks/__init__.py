"""The exercise checks: each exercise in a notebook is followed by one call into ``course_lib.checks.<topic>``.

A check either prints one green line (:func:`passed`) or raises :class:`CheckFailed` with a hint that names the
mistake. Most checks compare the student's function with a reference on a few random inputs
(:func:`check_function`); when the output is wrong, they try a list of known mistakes and name the one that
matches ("you swapped the stop-gradients"), so a hint is specific rather than "wrong answer".

Topic modules (one per notebook): ``basics`` (00), ``vae`` (01), ``vq`` (02), ``ste`` (03), ``vqvae`` (04),
``collapse`` (05), ``prior`` (06), ``perceptual`` (07), ``gan`` (08, 09), ``vqgan`` (11), ``generation`` (12).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

__all__ = ["CheckFailed", "passed", "call_student", "check_function", "outputs_match", "describe_mismatch",
           "solved_or_reference"]


class CheckFailed(AssertionError):
    """An exercise check did not pass. The message says what was wrong and how to fix it."""


def _short_traceback(shell, etype, value, tb, tb_offset=None):
    """IPython handler for :class:`CheckFailed`: one short red line instead of a traceback into the check's code
    (which would be noise, and could show the reference answer). The cell still ends in an error, so nbval and
    nbgrader's autograder see the failure."""
    shell._showtraceback(etype, value, [f"\x1b[0;31m{etype.__name__}\x1b[0m: {value}"])


def _install_short_tracebacks() -> None:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - plain Python
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return
    try:
        from ..claims import ClaimFailed
    except ImportError:  # pragma: no cover
        ClaimFailed = CheckFailed
    shell.set_custom_exc((CheckFailed, ClaimFailed), _short_traceback)


_install_short_tracebacks()


def solved_or_reference(student_fn: Callable, reference_fn: Callable, name: str) -> Callable:
    """The function later cells should call: the student's ``student_fn`` once it is solved, else (while it still
    raises ``NotImplementedError``) ``reference_fn`` from ``course_lib``, with one printed line saying so. This keeps
    every later cell of a released notebook running when an exercise is left unsolved::

        quantize = solved_or_reference(quantize, course_lib.quantize.nearest_code, "quantize")
    """
    announced = []

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return student_fn(*args, **kwargs)
        except NotImplementedError:
            if not announced:
                ref = f"{getattr(reference_fn, '__module__', 'course_lib')}.{getattr(reference_fn, '__qualname__', '')}"
                print(f"Note: the exercise `{name}` is not solved yet, so this cell uses the reference {ref} instead.")
                announced.append(True)
            return reference_fn(*args, **kwargs)

    call.__name__ = getattr(student_fn, "__name__", name)
    call.__doc__ = getattr(student_fn, "__doc__", None)
    call.__wrapped__ = student_fn
    return call


_LAST_PASS: list = [None]   # (cell execution count, message) of the last pass line printed


def _cell_id() -> Optional[int]:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - plain Python
        return None
    shell = get_ipython()
    return getattr(shell, "execution_count", None) if shell is not None else None


def passed(message: str) -> None:
    """Print the one-line pass message of a check. A second pass of the same check in the same notebook cell (an
    instructor's solved copy runs the visible call and the hidden tests) prints a short second line instead of
    repeating the first."""
    cell = _cell_id()
    key = (cell, message.split(":")[0])
    if cell is not None and _LAST_PASS[0] == key:
        print("\u2705 ... and on the hidden test cases too")
    else:
        print(f"\u2705 Check passed: {message}")
    _LAST_PASS[0] = key


def _to_comparable(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu")
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if isinstance(value, Mapping):
        return {k: _to_comparable(v) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # namedtuple
        return tuple(_to_comparable(v) for v in value)
    if hasattr(value, "__dataclass_fields__"):
        return {k: _to_comparable(getattr(value, k)) for k in value.__dataclass_fields__}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_comparable(v) for v in value)
    return value


def describe_mismatch(got: Any, expected: Any, atol: float = 1e-5, rtol: float = 1e-4, path: str = "output") -> Optional[str]:
    """None when ``got`` matches ``expected``; otherwise a short description of the first difference."""
    got, expected = _to_comparable(got), _to_comparable(expected)
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            if isinstance(got, (int, float)) and expected.numel() == 1:
                got = torch.tensor(got, dtype=expected.dtype)
            else:
                return f"{path} should be a tensor of shape {tuple(expected.shape)}, got {type(got).__name__}"
        if tuple(got.shape) != tuple(expected.shape):
            return f"{path} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
        if expected.dtype == torch.bool or not expected.is_floating_point():
            if not torch.equal(got.to(expected.dtype), expected):
                n = int((got.to(expected.dtype) != expected).sum())
                return f"{path} differs from the reference in {n} of {expected.numel()} entries"
            return None
        if not got.is_floating_point():
            got = got.to(expected.dtype)
        if not torch.isfinite(got).all() and torch.isfinite(expected).all():
            return f"{path} contains nan or inf"
        if not torch.allclose(got.to(expected.dtype), expected, atol=atol, rtol=rtol):
            err = (got.to(expected.dtype) - expected).abs().max().item()
            return f"{path} differs from the reference by up to {err:.3g}"
        return None
    if isinstance(expected, Mapping):
        if not isinstance(got, Mapping):
            return f"{path} should be a dict with keys {sorted(expected)}"
        for k in expected:
            if k not in got:
                return f"{path} is missing the key {k!r}"
            msg = describe_mismatch(got[k], expected[k], atol, rtol, f"{path}[{k!r}]")
            if msg:
                return msg
        return None
    if isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)) or len(got) != len(expected):
            return f"{path} should be a sequence of length {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            msg = describe_mismatch(g, e, atol, rtol, f"{path}[{i}]")
            if msg:
                return msg
        return None
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, (int, float)):
            return f"{path} should be a number, got {type(got).__name__}"
        if not math.isclose(float(got), float(expected), rel_tol=rtol, abs_tol=atol):
            return f"{path} is {got!r}, expected {expected!r}"
        return None
    if got != expected:
        return f"{path} is {got!r}, expected {expected!r}"
    return None


def outputs_match(got: Any, expected: Any, atol: float = 1e-5, rtol: float = 1e-4) -> bool:
    return describe_mismatch(got, expected, atol, rtol) is None


def not_implemented_message(name: str) -> str:
    return (
        f"{name} is not implemented yet: replace `raise NotImplementedError()` with your solution, "
        "run that cell, then run this check again."
    )


def call_student(fn: Callable, *args: Any, name: str, **kwargs: Any) -> Any:
    """Call a student's function: a stub (NotImplementedError) or a crash becomes a :class:`CheckFailed` that says
    what to do, instead of a stack trace from inside the check."""
    if not callable(fn):
        raise CheckFailed(f"{name}: expected a function, got {type(fn).__name__}.")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise CheckFailed(not_implemented_message(name)) from None
    except CheckFailed:
        raise
    except Exception as exc:
        raise CheckFailed(f"{name} raised {type(exc).__name__}: {exc}") from exc


def _clone(args: Tuple) -> Tuple:
    return tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)


def check_function(
    student_fn: Callable,
    reference_fn: Callable,
    make_inputs: Callable[[int], Sequence[Any]],
    *,
    name: str,
    mistakes: Optional[Mapping[str, Callable]] = None,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    trials: int = 3,
    success: Optional[str] = None,
) -> None:
    """Compare ``student_fn`` with ``reference_fn`` on ``make_inputs(seed)`` for ``trials`` seeds.

    ``mistakes`` maps a hint to a function that computes a known wrong answer; when the student's output matches one
    of them (and not the reference), that hint is raised. Inputs are cloned for each call, so a function that
    modifies its arguments in place cannot spoil the comparison.
    """
    for seed in range(trials):
        args = tuple(make_inputs(seed))
        expected = reference_fn(*_clone(args))
        got = call_student(student_fn, *_clone(args), name=name)
        problem = describe_mismatch(got, expected, atol, rtol)
        if problem is None:
            continue
        for hint, wrong_fn in (mistakes or {}).items():
            try:
                wrong = wrong_fn(*_clone(args))
            except Exception:
                continue
            if outputs_match(got, wrong, atol, rtol):
                raise CheckFailed(f"{name}: {hint}")
        raise CheckFailed(f"{name}: {problem} (on random input #{seed}). Compare your code with the formula above.")
    passed(success or f"{name} matches the reference on {trials} random inputs.")
