import os

import pytest
import torch

import course_lib
from course_lib import profiles
from course_lib.env import get_device, seed_everything, setup_notebook
from course_lib.profiles import ProfileError, active_profile, set_profile, settings


@pytest.fixture(autouse=True)
def _reset_profile(monkeypatch):
    profiles._override = None
    yield
    profiles._override = None


def test_profile_from_environment(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "Standard ")
    assert active_profile() == "standard"


def test_default_profile_follows_cuda(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert active_profile() == "standard"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert active_profile() == "quick"


def test_wrong_profile_gets_clear_error(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "quik")
    with pytest.raises(ProfileError, match=r"quick, standard, full.*Did you mean 'quick'"):
        active_profile()


def test_set_profile_overrides_environment(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    assert set_profile("full") == "full"
    assert active_profile() == "full"
    with pytest.raises(ProfileError):
        set_profile("fast")


def test_settings_pick_the_active_column_and_full_falls_back():
    cfg = settings(quick=dict(steps=1, bs=2), standard=dict(steps=10, bs=20), full=dict(steps=100), profile="full")
    assert (cfg.steps, cfg.bs, cfg["bs"], cfg.profile) == (100, 20, 20, "full")
    assert dict(cfg) == {"steps": 100, "bs": 20}
    text = repr(cfg)
    assert "[full]" in text and "steps" in text
    assert "<table>" in cfg._repr_html_()
    with pytest.raises(AttributeError, match="known: steps, bs"):
        cfg.width


def test_settings_must_name_the_same_keys():
    with pytest.raises(ValueError, match="missing \\['bs'\\]"):
        settings(quick=dict(steps=1, bs=2), standard=dict(steps=10))


def test_get_device_cpu_and_errors(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert get_device("cpu") == torch.device("cpu")
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        get_device("cuda")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")


def test_seed_everything_repeats_random_numbers():
    seed_everything(3)
    a = torch.rand(3)
    seed_everything(3)
    assert torch.equal(a, torch.rand(3))
    with pytest.raises(ValueError):
        seed_everything(-1)


def test_setup_notebook_reports(capsys, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    env = setup_notebook(seed=1)
    out = capsys.readouterr().out
    assert env.profile == "quick" and env.seed == 1
    assert "profile 'quick'" in out and course_lib.__version__ in out


def test_temporary_environ_sets_unsets_and_restores(monkeypatch):
    from course_lib.env import temporary_environ

    monkeypatch.setenv("COURSE_TEST_A", "before")
    monkeypatch.delenv("COURSE_TEST_B", raising=False)
    with pytest.raises(RuntimeError):
        with temporary_environ(COURSE_TEST_A=None, COURSE_TEST_B="inside"):
            assert "COURSE_TEST_A" not in os.environ and os.environ["COURSE_TEST_B"] == "inside"
            raise RuntimeError("restored even on an error")
    assert os.environ["COURSE_TEST_A"] == "before" and "COURSE_TEST_B" not in os.environ
