import math
import os

import pytest
import torch
import torch.nn as nn

from course_lib.checkpoint import (
    CheckpointMismatchError,
    load_checkpoint,
    load_state,
    save_checkpoint,
)
from course_lib.data import make_loader
from course_lib.train import History, NonFiniteLossError, fit


def _data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 4, 4, generator=g)
    y = (x.mean((1, 2, 3)) > 0.5).long()
    return make_loader((x, y), batch_size=16, seed=0)


def _run(steps, ckpt=None, every=None, config=None, seed=0, width=8):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, width), nn.ReLU(), nn.Dropout(0.2), nn.Linear(width, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def loss_fn(batch, step):
        x, y = batch
        noise = torch.randn(())  # consumes the global RNG, like a VAE's sampling does
        return {"loss": nn.functional.cross_entropy(model(x), y), "noise": noise}

    h = fit(loss_fn, opt, _data(), steps=steps, model=model, checkpoint=ckpt, checkpoint_every=every,
            log_every=5, config=config, progress=False)
    return model, h


def test_fit_learns_and_logs_history():
    model, h = _run(60)
    assert h.steps_for("loss")[-1] == 60 and len(h["loss"]) == 12
    assert h.mean("loss", last=3) < h["loss"][0]
    assert "grad_norm/loss" in h.keys()


def test_fit_trains_in_train_mode_and_restores_the_mode():
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(16, 2))
    model.eval()
    modes = []

    def loss_fn(batch, step):
        modes.append(model.training)
        return {"loss": nn.functional.cross_entropy(model(batch[0]), batch[1])}

    fit(loss_fn, torch.optim.SGD(model.parameters(), lr=0.1), _data(), steps=3, model=model, progress=False)
    assert modes == [True, True, True] and not model.training


def test_resume_continues_the_same_run_exactly(tmp_path):
    straight, h1 = _run(40, tmp_path / "a.pt", every=10)
    _run(20, tmp_path / "b.pt", every=10)  # "crash" after 20 steps
    resumed, h2 = _run(40, tmp_path / "b.pt", every=10)
    for p, q in zip(straight.parameters(), resumed.parameters()):
        assert torch.equal(p, q)
    assert h1["loss"] == h2["loss"] and h1["noise"] == h2["noise"]
    assert load_checkpoint(tmp_path / "b.pt")["step"] == 40


def test_resume_with_nothing_left_to_do(tmp_path, capsys):
    _run(10, tmp_path / "c.pt")
    _run(10, tmp_path / "c.pt")
    assert "nothing to do" in capsys.readouterr().out


def test_checkpoint_from_other_config_is_refused(tmp_path):
    _run(10, tmp_path / "d.pt", config={"width": 8})
    with pytest.raises(CheckpointMismatchError, match="width: checkpoint 8 vs now 16"):
        _run(20, tmp_path / "d.pt", config={"width": 16}, width=16)


def test_checkpoint_from_other_architecture_is_refused(tmp_path):
    _run(10, tmp_path / "e.pt")
    with pytest.raises(CheckpointMismatchError, match="different architecture"):
        _run(20, tmp_path / "e.pt", width=16)


def test_nan_loss_stops_with_its_name():
    w = nn.Parameter(torch.ones(1))

    def loss_fn(batch, step):
        rec = (w * batch[0].mean()) ** 2
        kl = torch.log(w - 1 + (step < 3)) if step >= 3 else w.sum() * 0
        return {"loss": rec + kl, "rec": rec, "kl": kl}

    with pytest.raises(NonFiniteLossError, match=r"loss '(loss|kl)' became -?inf at step 3"):
        fit(loss_fn, torch.optim.SGD([w], lr=0.0), _data(), steps=10, progress=False)


def test_two_optimisers_and_skipping():
    g, d = nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))
    opt_g, opt_d = torch.optim.SGD([g], lr=0.1), torch.optim.SGD([d], lr=0.1)

    def loss_fn(batch, step):
        return {"g": (g - 1).pow(2).sum(), "d": None if step < 5 else (d + 1).pow(2).sum()}

    fit(loss_fn, {"g": opt_g, "d": opt_d}, _data(), steps=10, progress=False)
    assert g.item() > 0.5
    assert d.item() == pytest.approx(-(1 - 0.8**5))  # exactly 5 discriminator steps (SGD on (d+1)^2)


def test_wrong_loss_names_are_explained():
    w = nn.Parameter(torch.zeros(1))
    with pytest.raises(KeyError, match=r"minimise \['loss'\]"):
        fit(lambda b, s: {"rec": w.sum()}, torch.optim.SGD([w], lr=0.1), _data(), steps=2, progress=False)


def test_cpu_autocast_bf16_path():
    torch.manual_seed(0)
    model = nn.Linear(16, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    dtypes = []

    def loss_fn(batch, step):
        out = model(batch[0].flatten(1))
        dtypes.append(out.dtype)
        return {"loss": nn.functional.cross_entropy(out.float(), batch[1])}

    h = fit(loss_fn, opt, _data(), steps=6, amp="bf16", progress=False, log_every=3)
    assert dtypes[0] == torch.bfloat16 and all(math.isfinite(v) for v in h["loss"])


def test_time_budget_and_argument_errors():
    w = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([w], lr=0.1)
    h = fit(lambda b, s: {"loss": (w - 1).pow(2).sum()}, opt, _data(), time_budget=0.0, steps=100, progress=False)
    assert len(h) == 0
    with pytest.raises(ValueError, match="steps"):
        fit(lambda b, s: {}, opt, _data(), progress=False)
    with pytest.raises(TypeError, match="optimizer"):
        fit(lambda b, s: {}, "adam", _data(), steps=1, progress=False)


def test_grad_clip_limits_the_update():
    w = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([w], lr=1.0)
    h = fit(lambda b, s: {"loss": 100 * w.sum()}, opt, _data(), steps=1, grad_clip=1.0, progress=False, log_every=1)
    assert h["grad_norm/loss"][0] == pytest.approx(100.0)
    assert w.item() == pytest.approx(-1.0)


def test_atomic_save_and_safe_load(tmp_path):
    path = tmp_path / "sub" / "x.pt"
    save_checkpoint(path, {"a": torch.ones(2), "n": 3})
    assert load_checkpoint(path)["n"] == 3
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointMismatchError, match="Could not read"):
        load_checkpoint(tmp_path / "junk.pt")


def test_load_refuses_pickled_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointMismatchError):
        load_checkpoint(tmp_path / "evil.pt")


def test_load_state_explains_shape_mismatch():
    with pytest.raises(CheckpointMismatchError, match=r"weight: checkpoint \(4, 3\) vs model \(2, 3\)"):
        load_state(nn.Linear(3, 2), nn.Linear(3, 4).state_dict())


def test_history_round_trip_and_plot():
    import matplotlib

    matplotlib.use("Agg")
    h = History()
    h.log(10, loss=1.0, acc=0.5)
    h.log(20, loss=0.5)
    h2 = History.from_state_dict(h.state_dict())
    assert h2["loss"] == [1.0, 0.5] and h2.steps_for("acc") == [10] and h2.steps == [10, 20]
    fig = h2.plot()
    assert len([a for a in fig.axes if a.get_visible()]) == 2
    with pytest.raises(KeyError, match="logged: loss, acc"):
        h2["kl"]


def _fp16_run(steps, ckpt, every, seed=0):
    """fp16 autocast with a GradScaler, run on the CPU: the precision a Colab T4 (sm_75, no native bf16) trains in
    under amp="auto" (resolve_amp picks it there: tests/test_train_devices.py fakes the GPU)."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    seen = []

    def loss_fn(batch, step):
        out = model(batch[0])
        seen.append(out.dtype)
        return {"loss": nn.functional.cross_entropy(out.float(), batch[1])}

    h = fit(loss_fn, opt, _data(), steps=steps, model=model, checkpoint=ckpt, checkpoint_every=every, amp="fp16",
            log_every=5, progress=False)
    return model, h, seen


def test_cpu_fp16_with_grad_scaler_resumes_exactly(tmp_path):
    straight, h1, seen = _fp16_run(30, tmp_path / "a.pt", every=10)
    assert seen[0] == torch.float16 and all(math.isfinite(v) for v in h1["loss"])
    state = load_checkpoint(tmp_path / "a.pt")
    assert state["scaler"] is not None and state["scaler"]["scale"] > 0      # the scaler's state is saved
    _fp16_run(20, tmp_path / "b.pt", every=10)                               # "crash" after 20 steps
    resumed, h2, _ = _fp16_run(30, tmp_path / "b.pt", every=10)
    for p, q in zip(straight.parameters(), resumed.parameters()):
        assert torch.equal(p, q)
    assert h1["loss"] == h2["loss"]


def test_rng_state_saves_only_this_device_and_reads_old_lists():
    from course_lib import train

    state = train._rng_state()
    assert state["cuda"] is None or isinstance(state["cuda"], torch.Tensor)
    before = torch.rand(3)
    train._set_rng_state({**state, "cuda": []})          # a course_lib 0.1 checkpoint (a list), on a CPU machine
    train._set_rng_state(state)
    assert torch.equal(torch.rand(3), before)


def test_rng_state_of_the_current_cuda_device_only(monkeypatch):
    """On a (pretended) machine with GPUs: only the current device's CUDA generator is saved (a checkpoint that held
    every GPU's state could not be resumed on fewer GPUs); an old list picks this device's entry or none."""
    from course_lib import train

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device="cuda": torch.tensor([7], dtype=torch.uint8))
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: pytest.fail("saved every GPU's RNG state"))
    restored = []
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, device="cuda": restored.append(int(s[0])))
    state = train._rng_state()
    assert isinstance(state["cuda"], torch.Tensor) and state["cuda"].tolist() == [7]
    train._set_rng_state(state)
    old = [torch.tensor([1], dtype=torch.uint8), torch.tensor([2], dtype=torch.uint8)]
    train._set_rng_state({**state, "cuda": old})            # course_lib 0.1: every GPU's state; this is device 1
    train._set_rng_state({**state, "cuda": old[:1]})        # saved on one GPU, resumed as device 1: nothing to set
    assert restored == [7, 2]


def test_fit_counts_training_flops_and_scales_smoke_cuts():
    from course_lib import train
    from course_lib.profiles import SmokeCut

    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 2))
    d = nn.Linear(16, 1)
    opts = {"g": torch.optim.SGD(model.parameters(), lr=0.1), "d": torch.optim.SGD(d.parameters(), lr=0.1)}

    def loss_fn(batch, step):
        x, y = batch
        g = nn.functional.cross_entropy(model(x), y)
        return {"g": g, "d": d(x.flatten(1)).mean() if step >= 2 else None}

    before = len(train.FLOP_LOG)
    fit(loss_fn, opts, _data(), steps=SmokeCut(4, 400), progress=False)
    rec = train.FLOP_LOG[before]
    # batch 16: Linear(16,8) forward + weight gradient (its input needs no gradient) = 2 x 2*16*16*8, and
    # Linear(8,2) forward + weight and input gradients = 3 x 2*16*8*2
    per_g = 2 * (2 * 16 * 16 * 8) + 3 * (2 * 16 * 8 * 2)
    assert rec["flops_per_step"]["g"] == per_g
    assert rec["flops_per_step"]["g+d"] > per_g                    # the discriminator's step was counted too
    assert rec["steps_run"] == 4 and rec["steps_planned"] == 400
    assert rec["flops_planned"] == rec["flops_run"] * 100


def test_resume_message_shows_a_path_relative_to_the_runs_folder(tmp_path, monkeypatch, capsys):
    """No machine's absolute folder names in a notebook's output (figures-and-site.md section 5.3)."""
    from course_lib.train import display_path

    monkeypatch.setenv("COURSE_RUNS", str(tmp_path / "my runs"))
    ckpt = tmp_path / "my runs" / "quick" / "11" / "a.pt"
    _run(5, ckpt=ckpt)
    _run(10, ckpt=ckpt)
    out = capsys.readouterr().out
    assert "Resuming train from $COURSE_RUNS/quick/11/a.pt at step 5 of 10" in out
    assert str(tmp_path) not in out
    monkeypatch.delenv("COURSE_RUNS")
    monkeypatch.chdir(tmp_path)
    assert display_path(tmp_path / "runs" / "quick" / "x.pt") == "runs/quick/x.pt"
    assert display_path("/somewhere/else/x.pt") == "x.pt"
