"""Claims: the one place where a notebook asserts what it measured, and the only assertions that smoke reports.

A notebook's *claims* are statements about measured results ("the VQ-GAN's Frechet distance is lower", "EMA keeps
more than 90% of the codes alive"). Under the ``quick``, ``standard`` and ``full`` profiles a claim that does not
hold stops the notebook with :class:`ClaimFailed`, so CI tests every claim on every run. Under *smoke*
(``COURSE_SMOKE=1``: ``standard`` shapes, a handful of steps; see :mod:`course_lib.profiles`) a model trained for
three steps cannot show anything, so :func:`claim` prints one line saying whether it held and carries on.

Shape, API and contract assertions (``out.z_q.shape == z.shape``) are not claims: keep them as plain ``assert``.

    from course_lib.claims import claim, verdict
    claim(fd_gan < fd_vae, f"VQ-GAN Frechet distance {fd_gan:.2f} < VQ-VAE {fd_vae:.2f}")
    print(verdict(fd_gan < fd_vae, "the VQ-GAN is closer to the data", "the VQ-VAE is closer to the data"))
"""
from __future__ import annotations

from typing import Any, List, Tuple

from .profiles import smoke_active

__all__ = ["ClaimFailed", "claim", "verdict", "reported_claims", "recorded_claims"]

_RECORDED: List[Tuple[bool, str, bool]] = []     # (held, message, asserted) of every claim in this process


class ClaimFailed(AssertionError):
    """A measured claim of a notebook did not hold."""


def claim(condition: Any, message: str) -> bool:
    """Assert a measured result: raise :class:`ClaimFailed` (``message`` says what was expected and what was
    measured) when ``condition`` is false; under smoke, print whether it held instead. Returns ``bool(condition)``.

    ``condition`` may be a Python, NumPy or one-element torch boolean.
    """
    held = bool(condition.item() if hasattr(condition, "item") else condition)
    smoke = smoke_active()
    _RECORDED.append((held, message, not smoke))
    if smoke:
        print(f"[smoke: reported, not asserted] {'holds' if held else 'does NOT hold'}: {message}")
        return held
    if not held:
        raise ClaimFailed(f"Measured claim did not hold: {message}")
    return True


def verdict(condition: Any, if_true: str, if_false: str) -> str:
    """The sentence the numbers support: ``if_true`` when ``condition`` holds, else ``if_false``. Print it, so
    that the notebook's conclusion is computed from the measurement rather than written in advance."""
    held = bool(condition.item() if hasattr(condition, "item") else condition)
    return if_true if held else if_false


def reported_claims() -> List[Tuple[bool, str]]:
    """The claims reported (not asserted) so far under smoke in this process: (held, message)."""
    return [(held, message) for held, message, asserted in _RECORDED if not asserted]


def recorded_claims() -> List[Tuple[bool, str, bool]]:
    """Every claim made so far in this process, asserted or reported: (held, message, asserted). The course's
    report (``python -m course_lib.report``) lists them as each notebook's headline figures."""
    return list(_RECORDED)
