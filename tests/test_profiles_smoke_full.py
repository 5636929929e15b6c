"""settings(..., smoke_full=...): extra smoke cuts for the full-shape pass only (it runs a GPU-sized model on a CPU)."""
import pytest

from course_lib.profiles import settings

TABLE = dict(quick=dict(batch_size=16, steps=100, width=32), standard=dict(batch_size=128, steps=10_000, width=64),
             full=dict(batch_size=64, steps=50_000, width=128))


def test_smoke_full_applies_under_full_smoke_only(monkeypatch):
    monkeypatch.setenv("COURSE_SMOKE", "1")
    full = settings(**TABLE, smoke=dict(steps=2), smoke_full=dict(batch_size=8), profile="full")
    assert (full.batch_size, full.steps, full.width) == (8, 2, 128)          # shapes stay full's, the batch is cut
    assert "batch_size=8" in repr(full)
    standard = settings(**TABLE, smoke=dict(steps=2), smoke_full=dict(batch_size=8), profile="standard")
    assert (standard.batch_size, standard.steps) == (128, 2)                  # standard's smoke keeps its batch
    monkeypatch.setenv("COURSE_SMOKE", "0")
    assert settings(**TABLE, smoke_full=dict(batch_size=8), profile="full").batch_size == 64   # not a smoke run


def test_smoke_full_rejects_unknown_settings():
    with pytest.raises(ValueError, match=r"smoke_full= names settings .*'batch'"):
        settings(**TABLE, smoke_full=dict(batch=8), profile="full")
