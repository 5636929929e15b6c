"""course_lib.env where the course is deployed: nbgrader's autograde (grading defaults), Colab (checkpoints on Drive),
and paths as notebooks print them."""
import os
import sys
import types
from pathlib import Path

import pytest

import course_lib.env as env


@pytest.fixture
def clean_env(monkeypatch):
    """No COURSE_* variable and no NBGRADER_EXECUTION; whatever the code under test sets is undone afterwards."""
    saved = dict(os.environ)
    for k in list(os.environ):
        if k.startswith("COURSE_") or k == "NBGRADER_EXECUTION":
            del os.environ[k]
    monkeypatch.setattr(env, "_GRADING_RUNS", None)
    yield monkeypatch
    monkeypatch.undo()
    os.environ.clear()
    os.environ.update(saved)


def test_grading_defaults_apply_only_under_autograde(clean_env, tmp_path):
    assert env.grading_defaults() == {} and "COURSE_SMOKE" not in os.environ
    clean_env.setenv("NBGRADER_EXECUTION", "validate")
    assert env.grading_defaults() == {}
    clean_env.setenv("NBGRADER_EXECUTION", "autograde")
    clean_env.setenv("COURSE_SMOKE", "0")                 # what the instructor set wins
    clean_env.setenv("COURSE_GRADING_RUNS", str(tmp_path / "grading"))
    applied = env.grading_defaults()
    assert os.environ["COURSE_PROFILE"] == "quick" and os.environ["COURSE_OFFLINE"] == "1"
    assert os.environ["COURSE_SMOKE"] == "0" and "COURSE_SMOKE" not in applied
    runs = Path(os.environ["COURSE_RUNS"])
    assert runs.parent == tmp_path / "grading" and runs.is_dir() and applied["COURSE_RUNS"] == str(runs)
    assert env.run_path("04", "vqvae.pt").is_relative_to(runs), "checkpoints go to the grading folder"
    assert env.grading_defaults()["COURSE_RUNS"] == str(runs), "one folder per kernel"


def test_setup_notebook_says_it_grades(clean_env, capsys):
    clean_env.setenv("NBGRADER_EXECUTION", "autograde")
    env.setup_notebook(seed=0)
    out = capsys.readouterr().out
    assert "grading (nbgrader autograde): COURSE_PROFILE=quick, COURSE_SMOKE=1, COURSE_OFFLINE=1" in out
    assert "ERRATA.md" in out
    assert not Path(os.environ["COURSE_RUNS"]).is_relative_to(Path.cwd()), "never beside the submission"


def test_keep_runs_on_drive_mounts_drive_and_sets_course_runs(clean_env, tmp_path, capsys):
    assert env.keep_runs_on_drive() == env.runs_root() and "Not on Colab" in capsys.readouterr().out
    mounted = []

    def mount(point):
        mounted.append(point)
        (Path(point) / "MyDrive").mkdir(parents=True)

    colab = types.ModuleType("google.colab")
    colab.drive = types.SimpleNamespace(mount=mount)
    clean_env.setitem(sys.modules, "google.colab", colab)
    path = env.keep_runs_on_drive(mount_point=str(tmp_path / "drive"))
    assert mounted == [str(tmp_path / "drive")] and path == tmp_path / "drive" / "MyDrive" / "vae-to-vqgan-runs"
    assert os.environ["COURSE_RUNS"] == str(path) and path.is_dir()
    assert env.run_path("11", "vqgan.pt").is_relative_to(path)


def test_display_path_never_prints_the_machines_absolute_path(clean_env, tmp_path):
    clean_env.chdir(tmp_path)
    assert env.display_path(env.run_path("11", "vqgan.pt")) == "runs/quick/11/vqgan.pt"
    clean_env.setenv("COURSE_RUNS", str(tmp_path / "drive"))
    assert env.display_path(env.run_path("11", "vqgan.pt")) == "$COURSE_RUNS/quick/11/vqgan.pt"
    assert env.display_path("/elsewhere/x.pt") == "x.pt"
