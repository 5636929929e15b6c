"""Tests for `python -m course_lib.train_vqgan`: two-process DDP on CPU (gloo), resume, and bf16 autocast on CPU."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from course_lib.checkpoint import load_checkpoint
from course_lib.train_vqgan import load_config, main, state_hash, train

ROOT = Path(__file__).resolve().parent.parent

# A tiny model on the offline 32x32 natural crops: each step takes a fraction of a second on a CPU.
TINY = {
    "base": "quick",
    "model": {"ch": 8, "ch_mult": [1, 2], "norm_groups": 4, "z_channels": 8, "attn_resolutions": [16],
              "quantizer": {"kind": "ema", "num_codes": 16, "code_dim": 8, "lookup_dim": 4, "cosine": True,
                            "decay": 0.9, "restart_dead_after": 2}},
    "loss": {"disc_ch": 8, "disc_layers": 2, "disc_start": 2, "perceptual_weight": 0.0},
    "train": {"dataset": "natural", "n_train": 64, "batch_size": 4, "steps": 4, "checkpoint_every": 2,
              "log_every": 1},
}


@pytest.fixture()
def tiny_json(tmp_path):
    p = tmp_path / "tiny.json"
    p.write_text(json.dumps(TINY))
    return p


def _env():
    env = dict(os.environ, COURSE_OFFLINE="1", COURSE_PROFILE="quick", COURSE_DEVICE="cpu", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _torchrun(args, timeout=240):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "course_lib.train_vqgan", "--no-progress", *args]
    r = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"torchrun failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def test_ddp_two_processes_identical_replicas_and_resume(tiny_json, tmp_path):
    out = tmp_path / "run"
    # 4 steps on 2 processes (gloo); the discriminator starts at step 2, so both optimisers run under DDP.
    _torchrun(["--config", str(tiny_json), "--out", str(out)])
    s1 = json.loads((out / "summary.json").read_text())
    assert s1["world_size"] == 2
    assert len(s1["replica_hashes"]) == 2 and s1["replicas_identical"], s1["replica_hashes"]
    assert "disc" in s1["final"] and "adaptive_weight" in s1["final"]
    ck = load_checkpoint(out / "checkpoint.pt")
    assert ck["step"] == 4
    w4 = ck["models"]["vqgan"]["decoder.conv_out.weight"].clone()
    # Resume the same run to 6 steps: the step counter continues and the weights move on from step 4.
    _torchrun(["--config", str(tiny_json), "--out", str(out), "--resume", "--steps", "6"])
    s2 = json.loads((out / "summary.json").read_text())
    assert s2["resumed_from"] == 4 and s2["steps"] == 6
    assert s2["replicas_identical"], s2["replica_hashes"]
    ck = load_checkpoint(out / "checkpoint.pt")
    assert ck["step"] == 6
    assert not torch.equal(ck["models"]["vqgan"]["decoder.conv_out.weight"], w4)
    hist = json.loads((out / "history.json").read_text())
    assert hist["steps"]["gen"] == list(range(1, 7)), "history continues across the resume"


def test_resume_equals_uninterrupted_run(tmp_path, monkeypatch):
    """Single process: 2 steps, then resume to 4 == 4 steps straight (same weights, bit for bit)."""
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    cfg = load_config(str(_write(tmp_path / "c.json", TINY)))
    cfg["train"]["steps"] = 2
    train(cfg, out=tmp_path / "a", device="cpu", progress=False)
    cfg["train"]["steps"] = 4
    s_a = train(cfg, out=tmp_path / "a", resume=True, device="cpu", progress=False)
    s_b = train(cfg, out=tmp_path / "b", device="cpu", progress=False)
    assert s_a["resumed_from"] == 2 and s_b["resumed_from"] == 0
    assert s_a["replica_hashes"] == s_b["replica_hashes"]


def test_resume_refuses_a_different_model_and_needs_the_flag(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    cfg = load_config(str(_write(tmp_path / "c.json", TINY)))
    cfg["train"]["steps"] = 1
    train(cfg, out=tmp_path / "a", device="cpu", progress=False)
    with pytest.raises(SystemExit, match="--resume"):  # an existing run is not overwritten by accident
        train(cfg, out=tmp_path / "a", device="cpu", progress=False)
    cfg["model"]["ch"] = 16
    cfg["train"]["steps"] = 2
    with pytest.raises(ValueError, match="another configuration"):
        train(cfg, out=tmp_path / "a", resume=True, device="cpu", progress=False)


def test_cpu_bf16_autocast_path(tmp_path, monkeypatch, tiny_json):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    assert main(["--config", str(tiny_json), "--out", str(tmp_path / "bf"), "--amp", "bf16", "--steps", "3",
                 "--device", "cpu", "--no-progress"]) == 0
    s = json.loads((tmp_path / "bf" / "summary.json").read_text())
    assert s["amp"] == "bf16"
    assert all(v == v and abs(v) < 1e6 for v in s["final"].values()), s["final"]  # finite
    ck = load_checkpoint(tmp_path / "bf" / "checkpoint.pt")
    assert all(t.dtype == torch.float32 for t in ck["models"]["vqgan"].values() if t.is_floating_point()), \
        "autocast keeps the weights in float32"


def test_config_file_and_print_config(tmp_path, capsys):
    assert main(["--config", "standard", "--print-config"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["model"]["ch"] == 64 and cfg["train"]["dataset"] == "cifar10"
    with pytest.raises(SystemExit, match="neither a preset"):
        load_config(str(tmp_path / "missing.json"))


def test_state_hash_detects_any_change():
    m = torch.nn.Linear(3, 2)
    h = state_hash(m)
    with torch.no_grad():
        m.weight[0, 0] += 1e-6
    assert state_hash(m) != h


def _write(path, obj):
    path.write_text(json.dumps(obj))
    return path
