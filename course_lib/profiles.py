"""Profiles: one switch, ``COURSE_PROFILE``, that sizes every notebook.

* ``quick``    -- CPU, tiny subsets and step counts; the whole course runs in minutes (CI uses it).
* ``standard`` -- one consumer GPU (a Colab T4 is the reference); about 30 minutes a notebook.
* ``full``     -- a large GPU (A100/H100 class); closer to the papers' settings.

The default is ``quick`` on a CPU and ``standard`` where CUDA is present. Each notebook declares its sizes in one
place with :func:`settings`, which picks the column of the active profile and shows it as a table::

    CFG = settings(quick=dict(steps=300, batch_size=64), standard=dict(steps=10_000, batch_size=128))
    CFG.steps

Smoke (``COURSE_SMOKE=1``) is a mode for tests, not a profile for students: it keeps the active profile's shapes
(model widths, batch sizes, image sizes, codebook sizes) but cuts every training length to a handful of steps and
every evaluation size to a few dozen images, so that CI runs each ``standard`` (and ``full``) configuration on a
CPU in seconds. :func:`settings` applies the cuts by name (see :data:`SMOKE_RULES`); a notebook adds its own with
``settings(..., smoke=dict(first_run=2, disc_start=1))`` for values tied to the step count. Measured claims are
reported, not asserted, under smoke (:mod:`course_lib.claims`).
"""
from __future__ import annotations

import difflib
import os
import re
from typing import Any, Dict, Mapping, Optional

PROFILES = ("quick", "standard", "full")
ENV_VAR = "COURSE_PROFILE"
SMOKE_ENV_VAR = "COURSE_SMOKE"
#: For tests that try an open exercise: a JSON object of settings that replace the active column's values (after the
#: smoke cuts), e.g. ``COURSE_SETTINGS='{"num_codes": 64}'``. Names a notebook does not have are an error.
SETTINGS_ENV_VAR = "COURSE_SETTINGS"

# Smoke cuts, by setting name: (pattern, cap). A value is cut to the cap when it is larger (None, "all", counts as
# larger). Training lengths first, then evaluation and data sizes; shapes (widths, batch sizes, K) are never cut.
SMOKE_STEPS = 3
SMOKE_EVAL = 64
SMOKE_TRAIN = 512
SMOKE_RULES = (
    (re.compile(r"^(steps|iters|epochs)$|_(steps|iters|epochs)$|^(steps|iters|epochs)_"), SMOKE_STEPS),
    (re.compile(r"^n_train$"), SMOKE_TRAIN),
    (re.compile(r"^(n_eval|n_test|n_fd|n_samples|n_per_temp|n_images|mc_samples|n_points|toy_points)$"), SMOKE_EVAL),
)

_override: Optional[str] = None


class ProfileError(ValueError):
    """An unknown profile name."""


def _validate(name: str, where: str) -> str:
    value = str(name).strip().lower()
    if value in PROFILES:
        return value
    close = difflib.get_close_matches(value, PROFILES, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ProfileError(
        f"{where} is {name!r}, but the course knows only the profiles {', '.join(PROFILES)}.{hint} "
        f"Set it with e.g. `export {ENV_VAR}=quick` (shell) or "
        f"`import os; os.environ['{ENV_VAR}'] = 'quick'` (first notebook cell)."
    )


def default_profile() -> str:
    """``standard`` when CUDA is available, else ``quick``."""
    try:
        import torch

        return "standard" if torch.cuda.is_available() else "quick"
    except Exception:  # pragma: no cover - torch is a hard dependency
        return "quick"


def active_profile() -> str:
    """The profile in force: :func:`set_profile`, else ``$COURSE_PROFILE``, else :func:`default_profile`."""
    if _override is not None:
        return _override
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return _validate(env, f"${ENV_VAR}")
    return default_profile()


def smoke_active() -> bool:
    """True when ``$COURSE_SMOKE`` asks for the smoke mode (any value but empty, 0, false, no)."""
    return os.environ.get(SMOKE_ENV_VAR, "").strip().lower() not in ("", "0", "false", "no")


class SmokeCut(int):
    """An int that a smoke cut produced, remembering the value it replaced (``.planned``), so that the course report
    can scale what three steps measured (FLOPs) to the planned run. Behaves as a plain int everywhere else."""

    planned: Any

    def __new__(cls, value: int, planned: Any):
        obj = super().__new__(cls, value)
        obj.planned = planned
        return obj

    def __repr__(self) -> str:
        return int.__repr__(self)

    def __reduce__(self):
        return (int, (int(self),))


def smoke_cut(key: str, value: Any) -> Any:
    """The value a setting takes under smoke by :data:`SMOKE_RULES` (unchanged when no rule names it)."""
    if isinstance(value, bool):
        return value
    for i, (pattern, cap) in enumerate(SMOKE_RULES):
        if pattern.search(key):
            if value is None or (isinstance(value, (int, float)) and value > cap):
                return SmokeCut(cap, value) if i == 0 else cap
            return value
    return value


def set_profile(name: Optional[str]) -> str:
    """Choose a profile for this Python session (``None`` goes back to the environment/default)."""
    global _override
    _override = None if name is None else _validate(name, "the profile")
    return active_profile()


class Settings(Mapping[str, Any]):
    """The sizes of one notebook under the active profile: attribute and item access, shown as a table."""

    def __init__(self, table: Dict[str, Dict[str, Any]], profile: str, smoke: Optional[Dict[str, Any]] = None,
                 overrides: str = "strict"):
        self._table = table
        self.profile = profile
        self._values = dict(table[profile])
        self.smoke = smoke is not None
        self._smoke_changed: Dict[str, Any] = {}
        if smoke is not None:
            for key, value in self._values.items():
                new = smoke[key] if key in smoke else smoke_cut(key, value)
                if new != value:
                    self._smoke_changed[key] = new
            self._values.update(self._smoke_changed)
        self._overridden = _env_overrides(self._values) if overrides == "strict" else {}
        self._values.update(self._overridden)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(
                f"No setting {key!r} in this notebook's settings; known: {', '.join(self._values)}"
            ) from None

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def as_dict(self) -> Dict[str, Any]:
        return dict(self._values)

    def _rows(self):
        names = [p for p in PROFILES if p in self._table]
        keys = list(self._values)
        return names, keys

    def __repr__(self) -> str:
        names, keys = self._rows()
        width = max([len("setting")] + [len(k) for k in keys])
        cols = [max(len(n) + 2, *(len(repr(self._table[n].get(k))) for k in keys)) for n in names]
        head = "setting".ljust(width) + "  " + "  ".join(
            (f"[{n}]" if n == self.profile else n).ljust(c) for n, c in zip(names, cols)
        )
        lines = [f"Settings for profile {self.profile!r} (the column in brackets):", head]
        for k in keys:
            lines.append(
                k.ljust(width) + "  " + "  ".join(repr(self._table[n].get(k)).ljust(c) for n, c in zip(names, cols))
            )
        if self.smoke:
            cut = ", ".join(f"{k}={v!r}" for k, v in self._smoke_changed.items()) or "nothing"
            lines.append(f"SMOKE mode ({SMOKE_ENV_VAR}=1): {self.profile} shapes, cut to: {cut}. "
                         f"Measured claims are reported, not asserted.")
        if self._overridden:
            lines.append(f"{SETTINGS_ENV_VAR} sets: " + ", ".join(f"{k}={v!r}" for k, v in self._overridden.items()))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        names, keys = self._rows()
        th = "".join(
            f"<th style='background:#dfe'>{n} (active)</th>" if n == self.profile else f"<th>{n}</th>" for n in names
        )
        rows = "".join(
            "<tr><td><code>{}</code></td>{}</tr>".format(
                k,
                "".join(
                    f"<td style='background:#efe'><b>{self._table[n].get(k)!r}</b></td>"
                    if n == self.profile
                    else f"<td>{self._table[n].get(k)!r}</td>"
                    for n in names
                ),
            )
            for k in keys
        )
        note = ""
        if self.smoke:
            cut = ", ".join(f"{k}={v!r}" for k, v in self._smoke_changed.items()) or "nothing"
            note = (f"<p><b>SMOKE mode</b> ({SMOKE_ENV_VAR}=1): {self.profile} shapes, cut to: {cut}. "
                    f"Measured claims are reported, not asserted.</p>")
        if self._overridden:
            note += (f"<p>{SETTINGS_ENV_VAR} sets: "
                     + ", ".join(f"{k}={v!r}" for k, v in self._overridden.items()) + "</p>")
        return f"<table><tr><th>setting</th>{th}</tr>{rows}</table>{note}"


def _env_overrides(values: Mapping[str, Any]) -> Dict[str, Any]:
    raw = os.environ.get(SETTINGS_ENV_VAR, "").strip()
    if not raw:
        return {}
    import json

    try:
        given = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"${SETTINGS_ENV_VAR} must be a JSON object, e.g. '{{\"num_codes\": 64}}': {exc}") from None
    if not isinstance(given, dict):
        raise ValueError(f"${SETTINGS_ENV_VAR} must be a JSON object of setting names and values, got {raw!r}")
    unknown = sorted(set(given) - set(values))
    if unknown:
        raise ValueError(f"${SETTINGS_ENV_VAR} names settings this notebook does not have: {unknown}; "
                         f"known: {', '.join(values)}")
    return {k: tuple(v) if isinstance(v, list) and isinstance(values[k], tuple) else v for k, v in given.items()}


def settings(
    quick: Mapping[str, Any],
    standard: Mapping[str, Any],
    full: Optional[Mapping[str, Any]] = None,
    *,
    smoke: Optional[Mapping[str, Any]] = None,
    smoke_full: Optional[Mapping[str, Any]] = None,
    profile: Optional[str] = None,
    overrides: str = "strict",
) -> Settings:
    """Declare a notebook's sizes for every profile and get the active column.

    ``full`` may be omitted or partial: missing keys fall back to ``standard``. Every profile must name the
    same settings as ``quick`` so that switching profile never breaks a notebook.

    ``smoke``: values used under the smoke mode (``COURSE_SMOKE=1``) on top of the automatic cuts of
    :data:`SMOKE_RULES`, for settings tied to the step count (``first_run``, ``disc_start``, ``checkpoint_every``).

    ``overrides``: how ``$COURSE_SETTINGS`` applies. ``"strict"`` (a notebook's own table): every name it gives must
    be a setting here. ``"ignore"`` (a table inside course_lib, e.g. the shared tokenizer's): the variable changes the
    running notebook's own settings, never this table's (a name may mean something else here).

    ``smoke_full``: more smoke values for the ``full`` profile only, on top of ``smoke``. The full-shape smoke pass
    runs a GPU-sized model on a CPU, so a notebook may cut what does not change any shape there (e.g. the batch
    size: ``smoke_full=dict(batch_size=8)``); the model, image and codebook shapes stay ``full``'s.
    """
    quick, standard = dict(quick), dict(standard)
    full = {**standard, **dict(full or {})}
    table = {"quick": quick, "standard": standard, "full": full}
    keys = set(quick)
    for name in ("standard", "full"):
        missing, extra = keys - set(table[name]), set(table[name]) - keys
        if missing or extra:
            raise ValueError(
                f"settings(): profile {name!r} must name the same settings as 'quick'; "
                f"missing {sorted(missing)}, extra {sorted(extra)}"
            )
    smoke, smoke_full = dict(smoke or {}), dict(smoke_full or {})
    for arg, given in (("smoke", smoke), ("smoke_full", smoke_full)):
        unknown = set(given) - keys
        if unknown:
            raise ValueError(f"settings(): {arg}= names settings that 'quick' does not: {sorted(unknown)}")
    chosen = active_profile() if profile is None else _validate(profile, "profile=")
    if chosen == "full":
        smoke = {**smoke, **smoke_full}
    if overrides not in ("strict", "ignore"):
        raise ValueError(f"settings(): overrides must be 'strict' or 'ignore', got {overrides!r}")
    return Settings(table, chosen, smoke if smoke_active() else None, overrides=overrides)
