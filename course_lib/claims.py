"""Claims: the one place where a notebook asserts what it measured, and the only assertions that smoke reports.

A notebook's *claims* are statements about measured results ("the VQ-GAN's Frechet distance is lower", "EMA keeps
more than 90% of the codes alive"). Under the ``quick``, ``standard`` and ``full`` profiles a claim that does not
hold stops the notebook with :class:`ClaimFailed`, so CI tests every claim on every run.

Each claim has a *kind*, printed with it:

* ``"measured"`` (the default): a result that could have come out the other way. It must FAIL in the null run
  (the smoke pass: ``standard`` shapes, every model trained for 3 steps, shipped checkpoints off), where nothing was
  learned; ``python -m course_lib.report screen`` fails ``make test`` when one holds there.
* ``"demonstration"``: true whatever the training did, because it follows from the loss or the construction
  ("L2 prefers the blurry average"). Worth showing, not evidence that a method works.
* ``"sanity"``: a check that the set-up is what the text says (sizes, a reference value, determinism).

Two switches turn failed claims into reports instead of errors:

* ``COURSE_CLAIMS=report``: for students exploring (an open exercise changed a setting, so a claim may no longer
  hold): each claim prints whether it held and the notebook carries on.
* smoke (``COURSE_SMOKE=1``: ``standard`` shapes, a handful of steps; see :mod:`course_lib.profiles`): a model
  trained for three steps cannot show anything, so claims are reported, not asserted.

Shape, API and contract assertions (``out.z_q.shape == z.shape``) are not claims: keep them as plain ``assert``.

    from course_lib.claims import claim, verdict
    claim(fd_gan < fd_vae, f"VQ-GAN Frechet distance {fd_gan:.2f} < VQ-VAE {fd_vae:.2f}")
    claim(mse_blur < mse_sharp, "L2 prefers the blurry average", kind="demonstration")
    print(verdict(fd_gan < fd_vae, "the VQ-GAN is closer to the data", "the VQ-VAE is closer to the data"))
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Tuple

from .profiles import smoke_active

__all__ = ["ClaimFailed", "claim", "verdict", "reported_claims", "recorded_claims", "KINDS", "report_mode",
           "null_screen"]

KINDS = ("measured", "demonstration", "sanity")
ENV_VAR = "COURSE_CLAIMS"
_RECORDED: List[Dict[str, Any]] = []     # every claim made in this process


class ClaimFailed(AssertionError):
    """A measured claim of a notebook did not hold."""


def report_mode() -> bool:
    """True when ``COURSE_CLAIMS=report`` (claims print whether they held instead of stopping the notebook)."""
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value in ("", "assert"):
        return False
    if value == "report":
        return True
    raise ValueError(f"${ENV_VAR} is {value!r}; use 'report' (claims are printed, never raised) or 'assert' "
                     f"(the default: a claim that does not hold stops the notebook).")


def claim(condition: Any, message: str, kind: str = "measured") -> bool:
    """Assert a measured result: raise :class:`ClaimFailed` (``message`` says what was expected and what was
    measured) when ``condition`` is false. Under smoke or ``COURSE_CLAIMS=report`` it prints whether it held
    instead. Returns ``bool(condition)``.

    ``condition`` may be a Python, NumPy or one-element torch boolean. ``kind`` is ``"measured"`` (could have come
    out the other way: it must fail in the null run), ``"demonstration"`` or ``"sanity"`` (see the module doc).
    """
    if kind not in KINDS:
        raise ValueError(f"claim kind {kind!r}: use one of {', '.join(KINDS)}")
    held = bool(condition.item() if hasattr(condition, "item") else condition)
    smoke = smoke_active()
    reporting = smoke or report_mode()
    _RECORDED.append({"held": held, "message": message, "asserted": not reporting, "kind": kind})
    label = "" if kind == "measured" else f" ({kind})"
    if reporting:
        why = "smoke: reported, not asserted" if smoke else f"{ENV_VAR}=report"
        print(f"[{why}]{label} {'holds' if held else 'does NOT hold'}: {message}")
        return held
    if not held:
        raise ClaimFailed(f"Measured claim did not hold: {message}\n(Changed a setting for an exercise? Set "
                          f"os.environ['{ENV_VAR}'] = 'report' in the set-up cell to see claims as reports.)")
    if kind != "measured":
        print(f"[{kind}] {message}")
    return True


def verdict(condition: Any, if_true: str, if_false: str) -> str:
    """The sentence the numbers support: ``if_true`` when ``condition`` holds, else ``if_false``. Print it, so
    that the notebook's conclusion is computed from the measurement rather than written in advance."""
    held = bool(condition.item() if hasattr(condition, "item") else condition)
    return if_true if held else if_false


def reported_claims() -> List[Tuple[bool, str]]:
    """The claims reported (not asserted) so far in this process: (held, message)."""
    return [(c["held"], c["message"]) for c in _RECORDED if not c["asserted"]]


def recorded_claims() -> List[Dict[str, Any]]:
    """Every claim made so far in this process: dicts with ``held``, ``message``, ``asserted`` and ``kind``. The
    course's report (``python -m course_lib.report``) lists them as each notebook's headline figures."""
    return [dict(c) for c in _RECORDED]


def null_screen(rows: List[Dict[str, Any]]) -> List[Tuple[str, str]]:
    """The undeclared claims that held in a null run: (notebook, message) for every ``"measured"`` claim that held.

    ``rows`` are the course report's rows (``report.json``: each with ``notebook`` and ``claims``). A measured
    claim that holds when nothing was trained cannot be evidence: rewrite it so that it can fail, or declare its
    kind (``"demonstration"`` or ``"sanity"``)."""
    return [(row["notebook"], c["message"]) for row in rows for c in row.get("claims", [])
            if c.get("held") and c.get("kind", "measured") == "measured"]
