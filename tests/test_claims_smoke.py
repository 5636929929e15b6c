"""The smoke mode (COURSE_SMOKE) and claims: cuts by name, explicit overrides, reported vs asserted claims."""
import numpy as np
import pytest
import torch

from course_lib import claims, env, profiles
from course_lib.claims import ClaimFailed, claim, verdict
from course_lib.profiles import settings

TABLE = dict(
    quick=dict(steps=300, vq_steps=250, n_train=2000, n_eval=256, first_run=80, batch_size=32, hidden=16, beta=0.25),
    standard=dict(steps=10_000, vq_steps=5000, n_train=None, n_eval=2000, first_run=5000, batch_size=128, hidden=64,
                  beta=0.25),
)


@pytest.fixture
def smoke(monkeypatch):
    monkeypatch.setenv("COURSE_SMOKE", "1")
    monkeypatch.setenv("COURSE_PROFILE", "standard")


def test_smoke_cuts_lengths_and_keeps_shapes(smoke):
    cfg = settings(**TABLE, smoke=dict(first_run=2))
    assert cfg.profile == "standard" and cfg.smoke
    assert cfg.steps == profiles.SMOKE_STEPS and cfg.vq_steps == profiles.SMOKE_STEPS
    assert cfg.n_train == profiles.SMOKE_TRAIN and cfg.n_eval == profiles.SMOKE_EVAL
    assert cfg.first_run == 2
    assert (cfg.batch_size, cfg.hidden, cfg.beta) == (128, 64, 0.25)     # shapes are the standard ones
    assert "SMOKE" in repr(cfg) and "first_run=2" in repr(cfg) and "SMOKE" in cfg._repr_html_()


def test_without_smoke_nothing_is_cut(monkeypatch):
    monkeypatch.delenv("COURSE_SMOKE", raising=False)
    cfg = settings(**TABLE, smoke=dict(first_run=2), profile="standard")
    assert (cfg.steps, cfg.first_run, cfg.n_train) == (10_000, 5000, None) and not cfg.smoke
    assert "SMOKE" not in repr(cfg)


def test_smoke_override_must_name_known_settings(smoke):
    with pytest.raises(ValueError, match="first_rnu"):
        settings(**TABLE, smoke=dict(first_rnu=2))


@pytest.mark.parametrize("value", ["0", "", "false", "no"])
def test_smoke_off_values(monkeypatch, value):
    monkeypatch.setenv("COURSE_SMOKE", value)
    assert not profiles.smoke_active()


def test_claim_raises_outside_smoke(monkeypatch):
    monkeypatch.delenv("COURSE_SMOKE", raising=False)
    assert claim(np.bool_(True), "fine") is True
    assert claim(torch.tensor(True), "fine") is True
    with pytest.raises(ClaimFailed, match="FD 3.0 < 2.0"):
        claim(3.0 < 2.0, "FD 3.0 < 2.0")


def test_claim_reports_under_smoke(smoke, capsys):
    before = len(claims.reported_claims())
    assert claim(False, "VQ-GAN beats VQ-VAE") is False
    assert claim(True, "loss falls") is True
    out = capsys.readouterr().out
    assert "does NOT hold: VQ-GAN beats VQ-VAE" in out and "holds: loss falls" in out
    assert claims.reported_claims()[before:] == [(False, "VQ-GAN beats VQ-VAE"), (True, "loss falls")]


def test_claim_kinds_are_recorded_and_printed(monkeypatch, capsys):
    monkeypatch.delenv("COURSE_SMOKE", raising=False)
    monkeypatch.delenv("COURSE_CLAIMS", raising=False)
    before = len(claims.recorded_claims())
    claim(True, "L2 prefers the blurry average", kind="demonstration")
    claim(True, "64 codes", kind="sanity")
    claim(True, "FD falls")
    got = claims.recorded_claims()[before:]
    assert [c["kind"] for c in got] == ["demonstration", "sanity", "measured"]
    out = capsys.readouterr().out
    assert "[demonstration] L2 prefers" in out and "[sanity] 64 codes" in out and "FD falls" not in out
    with pytest.raises(ValueError, match="claim kind 'evidence'"):
        claim(True, "x", kind="evidence")


def test_report_mode_turns_failures_into_lines(monkeypatch, capsys):
    monkeypatch.delenv("COURSE_SMOKE", raising=False)
    monkeypatch.setenv("COURSE_CLAIMS", "report")
    assert claim(False, "EMA keeps 90% of the codes") is False
    assert "COURSE_CLAIMS=report] does NOT hold: EMA keeps 90% of the codes" in capsys.readouterr().out
    monkeypatch.setenv("COURSE_CLAIMS", "assert")
    with pytest.raises(ClaimFailed, match="COURSE_CLAIMS"):       # the error says how to explore safely
        claim(False, "EMA keeps 90% of the codes")
    monkeypatch.setenv("COURSE_CLAIMS", "maybe")
    with pytest.raises(ValueError, match="report"):
        claim(True, "x")


def test_null_screen_lists_measured_claims_that_held():
    rows = [{"notebook": "07", "claims": [
                {"held": True, "message": "L2 blurs", "kind": "demonstration"},
                {"held": True, "message": "perceptual sharper", "kind": "measured"},
                {"held": False, "message": "FD falls", "kind": "measured"},
                {"held": True, "message": "old row without a kind"}]},
            {"notebook": "09", "claims": [{"held": True, "message": "64 codes", "kind": "sanity"}]}]
    assert claims.null_screen(rows) == [("07", "perceptual sharper"), ("07", "old row without a kind")]


def test_verdict_follows_the_numbers():
    assert verdict(1 < 2, "yes", "no") == "yes" and verdict(torch.tensor(False), "yes", "no") == "no"


def test_run_path_separates_profiles_and_smoke(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_RUNS", str(tmp_path))
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    monkeypatch.delenv("COURSE_SMOKE", raising=False)
    quick = env.run_path("11", "vqgan.pt")
    monkeypatch.setenv("COURSE_PROFILE", "standard")
    monkeypatch.setenv("COURSE_SMOKE", "1")
    smoke_path = env.run_path("11", "vqgan.pt")
    assert quick == tmp_path / "quick" / "11" / "vqgan.pt" and quick.parent.is_dir()
    assert smoke_path == tmp_path / "standard-smoke" / "11" / "vqgan.pt"
    with pytest.raises(ValueError):
        env.run_path()


def test_course_settings_overrides_named_values(monkeypatch):
    monkeypatch.delenv("COURSE_SMOKE", raising=False)
    monkeypatch.setenv("COURSE_SETTINGS", '{"hidden": 8, "beta": 2.0}')
    cfg = settings(**TABLE, profile="quick")
    assert (cfg.hidden, cfg.beta, cfg.steps) == (8, 2.0, 300)
    assert "COURSE_SETTINGS sets: hidden=8, beta=2.0" in repr(cfg)
    monkeypatch.setenv("COURSE_SETTINGS", '{"hiden": 8}')
    with pytest.raises(ValueError, match="hiden"):
        settings(**TABLE, profile="quick")


def test_a_library_table_ignores_the_notebooks_overrides(monkeypatch):
    monkeypatch.delenv("COURSE_SMOKE", raising=False)
    monkeypatch.setenv("COURSE_SETTINGS", '{"hidden": 8, "factor": 2}')
    cfg = settings(**TABLE, profile="quick", overrides="ignore")
    assert cfg.hidden == 16 and "factor" not in cfg
    with pytest.raises(ValueError, match="factor"):
        settings(**TABLE, profile="quick")
