"""The exercise checks: each exercise in a notebook is followed by one call into ``course_lib.checks.<topic>``.

A check either prints one green line (:func:`passed`) or raises :class:`CheckFailed` with a hint that names the
mistake. Most checks compare the student's function with a reference on a few random inputs
(:func:`check_function`); when the output is wrong, they try a list of known mistakes and name the one that
matches ("you swapped the stop-gradients"), so a hint is specific rather than "wrong answer".

Topic modules (one per notebook): ``basics`` (00), ``vae`` (01), ``vq`` (02), ``ste`` (03), ``vqvae`` (04),
``collapse`` (05), ``prior`` (06), ``perceptual`` (07), ``gan`` (08, 09), ``vqgan`` (11), ``generation`` (12).
"""
from __future__ import annotations

import contextlib
import functools
import io
import math
import weakref
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

__all__ = ["CheckFailed", "passed", "call_student", "check_function", "outputs_match", "describe_mismatch",
           "solved_or_reference", "records_result", "last_result"]


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


# ------------------------------------------------------------------------------ what the last check said
#: The outcome of the last check of each student function: None (passed) or the CheckFailed it raised. Weak keys,
#: so a function the student redefines (a new object) starts with no result.
_RESULTS: "weakref.WeakKeyDictionary[Callable, Optional[CheckFailed]]" = weakref.WeakKeyDictionary()
_UNKNOWN = object()


def _record(fn: Any, failure: Optional[CheckFailed]) -> None:
    try:
        _RESULTS[fn] = failure
    except TypeError:       # not weak-referenceable (a builtin, a functools.partial of one): nothing to remember
        pass


def last_result(fn: Callable) -> Any:
    """What the last check of ``fn`` said: None (it passed), the :class:`CheckFailed` it raised, or the sentinel
    ``_UNKNOWN`` when no check has seen ``fn`` yet."""
    try:
        return _RESULTS.get(fn, _UNKNOWN)
    except TypeError:
        return _UNKNOWN


def records_result(check: Callable) -> Callable:
    """Decorator for a check ``check(student_fn, ...)``: remembers whether ``student_fn`` passed, so that
    :func:`solved_or_reference` can fall back to the reference after a wrong answer (not only a missing one)."""

    @functools.wraps(check)
    def wrapper(student_fn: Callable, *args: Any, **kwargs: Any) -> Any:
        try:
            result = check(student_fn, *args, **kwargs)
        except CheckFailed as exc:
            _record(student_fn, exc)
            raise
        _record(student_fn, None)
        return result

    return wrapper


def _unsolved(exc: BaseException) -> bool:
    return bool(getattr(exc, "unsolved", False))


def _quiet_check(check: Callable, fn: Callable) -> Optional[CheckFailed]:
    """Run ``check(fn)`` without printing; return None when it passes, else the failure (also remembered)."""
    saved = _LAST_PASS[0]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            check(fn)
        failure = None
    except CheckFailed as exc:
        failure = exc
    except Exception as exc:  # a check that cannot even run on this answer: treat it as not passing
        failure = CheckFailed(f"the check raised {type(exc).__name__}: {exc}")
    finally:
        _LAST_PASS[0] = saved
    _record(fn, failure)
    return failure


def solved_or_reference(student_fn: Callable, reference_fn: Callable, name: str,
                        check: Optional[Callable] = None) -> Callable:
    """The function later cells should call: the student's ``student_fn`` once it is solved and passes its check,
    else ``reference_fn`` from ``course_lib``, with one printed line saying why. This keeps every later cell of a
    released notebook running when an exercise is left unsolved or is still wrong::

        quantize = solved_or_reference(quantize, course_lib.quantize.nearest_code, "quantize", check=check_quantize)

    The reference is used when ``student_fn`` raises ``NotImplementedError`` (the stub), or when the last check of
    ``student_fn`` failed. Checks built on :func:`check_function` or decorated with :func:`records_result` remember
    their outcome; ``check`` (a function ``check(student_fn)``) is run once, quietly, when no check has seen
    ``student_fn`` yet. Other errors raised by the student's code are left for the student to see.
    """
    announced = []
    ref_name = f"{getattr(reference_fn, '__module__', 'course_lib')}.{getattr(reference_fn, '__qualname__', '')}"

    def note(message: str) -> None:
        if not announced:
            print(message)
            announced.append(True)

    def call(*args: Any, **kwargs: Any) -> Any:
        failure = last_result(student_fn)
        if failure is _UNKNOWN and check is not None:
            failure = _quiet_check(check, student_fn)
        if isinstance(failure, CheckFailed) and not _unsolved(failure):
            note(f"Note: your `{name}` does not pass its check yet (its check cell says why), so this cell uses the "
                 f"reference {ref_name} instead. Fix it, re-run its check, then this cell.")
            return reference_fn(*args, **kwargs)
        try:
            return student_fn(*args, **kwargs)
        except NotImplementedError:
            note(f"Note: the exercise `{name}` is not solved yet, so this cell uses the reference {ref_name} instead.")
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


def _item_path(path: str, key: Any) -> str:
    """How a part of an output is named in a message: "the gradient to z" rather than "output['gradient to z']"."""
    if path == "output":
        return f"the {key}" if isinstance(key, str) else f"output item {key}"
    return f"{path}, {key}" if isinstance(key, str) else f"{path}[{key}]"


def _infinity_mismatch(got: torch.Tensor, expected: torch.Tensor, path: str) -> Optional[str]:
    """Compare where the infinities are (a mask of -inf logits, say) before comparing the finite values."""
    exp_inf, got_inf = torch.isinf(expected), torch.isinf(got)
    missing = exp_inf & ~got_inf
    if missing.any():
        vals = got[missing]
        finite_big = torch.isfinite(vals).all() and bool((vals.abs() >= 1e4).all())
        n = int(missing.sum())
        if finite_big:
            sign = "-" if bool((expected[missing] < 0).all()) else ""
            return (f"{path}: {n} entries that should be {sign}inf hold a large finite number instead (e.g. "
                    f"{vals.flatten()[0].item():.3g}): use float('{sign}inf'), not a big constant like {sign}1e9")
        return f"{path}: {n} of {expected.numel()} entries should be {'+/-' if exp_inf.any() else ''}inf but are not"
    extra = got_inf & ~exp_inf
    if extra.any():
        return f"{path}: {int(extra.sum())} entries are inf where the reference is finite"
    if not torch.equal(torch.sign(got[exp_inf]), torch.sign(expected[exp_inf])):
        return f"{path}: some infinite entries have the wrong sign (+inf instead of -inf, or the other way)"
    return None


def describe_mismatch(got: Any, expected: Any, atol: float = 1e-5, rtol: float = 1e-4, path: str = "output",
                      names: Optional[Sequence[str]] = None) -> Optional[str]:
    """None when ``got`` matches ``expected``; otherwise a short description of the first difference.

    The parts of a tuple output are named by ``names`` (or by the fields of a namedtuple ``expected``), and of a
    dict by its keys, so a message says "the commitment loss differs" rather than "output[2] differs". Infinite
    entries (masked logits) are compared by position and sign before the finite ones."""
    if names is None and isinstance(expected, tuple) and hasattr(expected, "_fields"):
        names = tuple(expected._fields)
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
        got = got.to(expected.dtype)
        if torch.isnan(got).any() and not torch.isnan(expected).any():
            return f"{path} contains nan"
        if torch.isinf(got).any() or torch.isinf(expected).any():
            problem = _infinity_mismatch(got, expected, path)
            if problem:
                return problem
            finite = torch.isfinite(expected)
            got, expected = got[finite], expected[finite]
        if not torch.allclose(got, expected, atol=atol, rtol=rtol, equal_nan=True):
            err = (got - expected).abs().nan_to_num(nan=float("inf")).max().item()
            return f"{path} differs from the reference by up to {err:.3g}"
        return None
    if isinstance(expected, Mapping):
        if not isinstance(got, Mapping):
            return f"{path} should be a dict with keys {sorted(expected)}"
        for k in expected:
            if k not in got:
                return f"{path} is missing the key {k!r}"
            msg = describe_mismatch(got[k], expected[k], atol, rtol, _item_path(path, k))
            if msg:
                return msg
        return None
    if isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)) or len(got) != len(expected):
            what = f" ({', '.join(names)})" if names else ""
            return f"{path} should be a sequence of length {len(expected)}{what}"
        for i, (g, e) in enumerate(zip(got, expected)):
            label = _item_path(path, names[i]) if names and i < len(names) else f"{path}[{i}]"
            msg = describe_mismatch(g, e, atol, rtol, label)
            if msg:
                return msg
        return None
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, (np.generic,)):
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
        exc = CheckFailed(not_implemented_message(name))
        exc.unsolved = True      # solved_or_reference: "not solved yet" rather than "wrong"
        raise exc from None
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
    output_names: Optional[Sequence[str]] = None,
    announce: bool = True,
) -> None:
    """Compare ``student_fn`` with ``reference_fn`` on ``make_inputs(seed)`` for ``trials`` seeds.

    ``mistakes`` maps a hint to a function that computes a known wrong answer; when the student's output matches one
    of them (and not the reference), that hint is raised. ``output_names`` name the items of a tuple output in the
    messages. Inputs are cloned for each call, so a function that modifies its arguments in place cannot spoil the
    comparison (the pass line then says that it did). The outcome is remembered for :func:`solved_or_reference`.
    ``announce=False`` leaves the pass line to the caller (a check that tests more afterwards).
    """
    changed_input = False
    try:
        for seed in range(trials):
            args = tuple(make_inputs(seed))
            expected = reference_fn(*_clone(args))
            given = _clone(args)
            got = call_student(student_fn, *given, name=name)
            changed_input = changed_input or any(
                isinstance(a, torch.Tensor) and (a.shape != b.shape or not torch.equal(a, b))
                for a, b in zip(given, args))
            problem = describe_mismatch(got, expected, atol, rtol, names=output_names)
            if problem is None:
                continue
            for hint, wrong_fn in (mistakes or {}).items():
                try:
                    wrong = wrong_fn(*_clone(args))
                except Exception:
                    continue
                if outputs_match(got, wrong, atol, rtol):
                    raise CheckFailed(f"{name}: {hint}")
            raise CheckFailed(f"{name}: {problem} (on random input #{seed}). Compare your code with the formula "
                              "above.")
    except CheckFailed as exc:
        _record(student_fn, exc)
        raise
    _record(student_fn, None)
    note = (" (Note: your function changed its input in place; a caller's tensor would change too. Prefer "
            "out-of-place operations.)" if changed_input else "")
    if announce:
        passed((success or f"{name} matches the reference on {trials} random inputs.") + note)
