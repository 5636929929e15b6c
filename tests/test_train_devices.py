"""CUDA-only decisions of the training code, tested on a CPU machine by FAKING the GPU's properties.

The course's reference GPU is a Colab T4 (compute capability 7.5), which has no bfloat16 tensor cores, yet
``torch.cuda.is_bf16_supported()`` says True there (its default ``including_emulation=True`` only asks whether a bf16
tensor can be created). These tests pretend to be a T4, an A100, a V100 or a mixed machine by replacing the few
``torch.cuda`` functions the code asks, exactly as a real GPU would answer them (including the emulation probe, which
a real T4 passes), so that a return to ``is_bf16_supported()`` fails here, without a GPU."""
from types import SimpleNamespace

import pytest
import torch

from course_lib import train

T4, V100, A100, L4, H100 = (7, 5), (7, 0), (8, 0), (8, 9), (9, 0)


@pytest.fixture
def fake_cuda(monkeypatch):
    """``fake_cuda({0: T4, 1: A100}, current=0)``: torch.cuda answers as that machine would."""

    def install(capabilities, current=0):
        def props(device=None):
            if device is None:
                index = current
            elif isinstance(device, int):
                index = device
            else:
                d = torch.device(device)
                index = current if d.index is None else d.index
            major, minor = capabilities[index]
            return SimpleNamespace(name=f"fake sm_{major}{minor}", major=major, minor=minor, total_memory=16 * 2**30)

        monkeypatch.setattr(torch.version, "hip", None)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: len(capabilities))
        monkeypatch.setattr(torch.cuda, "current_device", lambda: current)
        monkeypatch.setattr(torch.cuda, "get_device_properties", props)
        # what a real sm_75/sm_70 GPU answers to torch's emulation probe: it CAN create a bfloat16 tensor
        monkeypatch.setattr(torch.cuda, "_check_bf16_tensor_supported", lambda device: True)
        return capabilities

    return install


def test_the_fake_t4_looks_like_a_real_one_to_torch(fake_cuda):
    """The premise of the bug: on a T4 torch's default answer is 'bf16 supported' (emulated); only the strict one is
    False. If this stops holding, the fake no longer models torch's behaviour."""
    fake_cuda({0: T4})
    assert torch.cuda.get_device_capability() == T4
    assert torch.cuda.is_bf16_supported() is True
    assert torch.cuda.is_bf16_supported(including_emulation=False) is False


@pytest.mark.parametrize("cap", [T4, V100])
def test_auto_amp_on_a_gpu_without_native_bf16_is_fp16_with_a_grad_scaler(fake_cuda, cap):
    fake_cuda({0: cap})
    cuda = torch.device("cuda")
    assert not train.cuda_bf16_native(cuda)
    assert train.resolve_amp("auto", cuda) == torch.float16
    assert train.resolve_amp(True, cuda) == torch.float16
    dtype, scaler = train.amp_setup("auto", cuda)
    assert dtype == torch.float16
    assert isinstance(scaler, torch.amp.GradScaler) and scaler.is_enabled()
    assert scaler._device == "cuda"


@pytest.mark.parametrize("cap", [A100, L4, H100])
def test_auto_amp_on_an_ampere_or_newer_gpu_is_bf16_without_a_scaler(fake_cuda, cap):
    fake_cuda({0: cap})
    cuda = torch.device("cuda", 0)
    assert train.cuda_bf16_native(cuda)
    dtype, scaler = train.amp_setup("auto", cuda)
    assert dtype == torch.bfloat16 and scaler is None


def test_auto_amp_asks_the_gpu_it_trains_on_not_the_current_one(fake_cuda):
    """A machine with a T4 as cuda:0 and an A100 as cuda:1 (each torchrun rank drives its own LOCAL_RANK)."""
    fake_cuda({0: T4, 1: A100}, current=0)
    assert train.amp_setup("auto", "cuda:1")[0] == torch.bfloat16
    assert train.amp_setup("auto", "cuda:0")[0] == torch.float16
    assert train.amp_setup("auto", "cuda")[0] == torch.float16  # no index: the current device


def test_forced_dtypes_and_cpu(fake_cuda):
    fake_cuda({0: T4})
    assert train.amp_setup("bf16", "cuda") == (torch.bfloat16, None)  # forced bf16: the user's choice, no scaler
    dtype, scaler = train.amp_setup("fp16", "cuda")
    assert dtype == torch.float16 and scaler is not None
    assert train.amp_setup("auto", "cpu") == (None, None)  # a CPU trains in float32 under auto
    assert train.amp_setup("off", "cuda") == (None, None)
    dtype, scaler = train.amp_setup("fp16", "cpu")
    assert dtype == torch.float16 and scaler._device == "cpu"
    with pytest.raises(ValueError, match="amp must be"):
        train.amp_setup("half", "cuda")


def test_no_cuda_means_no_native_bf16(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert train.cuda_bf16_native() is False
    assert train.resolve_amp("auto", torch.device("cpu")) is None


def test_rocm_follows_torch(fake_cuda, monkeypatch):
    fake_cuda({0: (9, 0)})
    monkeypatch.setattr(torch.version, "hip", "6.2")
    assert train.cuda_bf16_native("cuda") is True


def test_fit_takes_its_precision_from_amp_setup(monkeypatch):
    """fit has no second copy of the decision: whatever amp_setup answers is what it trains with (here a float16
    scaler on the CPU, standing in for the T4 answer)."""
    import torch.nn as nn

    from course_lib.data import make_loader

    asked = []

    def fake_setup(amp, device):
        asked.append((amp, torch.device(device).type))
        return torch.float16, torch.amp.GradScaler("cpu")

    monkeypatch.setattr(train, "amp_setup", fake_setup)
    model = nn.Linear(4, 2)
    seen = []

    def loss_fn(batch, step):
        out = model(batch[0])
        seen.append(out.dtype)
        return {"loss": out.float().pow(2).mean()}

    x = torch.rand(32, 4)
    train.fit(loss_fn, torch.optim.SGD(model.parameters(), lr=0.1), make_loader((x, x), batch_size=8, seed=0),
              steps=2, progress=False)
    assert asked == [("auto", "cpu")] and seen == [torch.float16, torch.float16]


# ----------------------------------------------------------------------------------------------------------------------
# train_vqgan under torchrun: the device, backend and GPU of each process
# ----------------------------------------------------------------------------------------------------------------------
@pytest.fixture
def fake_torchrun(monkeypatch):
    """Pretend torchrun started this process as rank ``rank`` (local rank ``local``) of 2; record what would be set."""
    import torch.distributed as dist

    calls = {"backend": None, "set_device": []}

    def install(rank=1, local=1):
        monkeypatch.setenv("WORLD_SIZE", "2")
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("LOCAL_RANK", str(local))
        monkeypatch.delenv("COURSE_DEVICE", raising=False)
        monkeypatch.setattr(dist, "is_initialized", lambda: False)
        monkeypatch.setattr(dist, "init_process_group", lambda backend=None, **kw: calls.update(backend=backend))
        monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls["set_device"].append(torch.device(d)))
        return calls

    return install


def test_torchrun_rank_on_a_gpu_machine_uses_nccl_and_its_own_gpu(fake_cuda, fake_torchrun):
    from course_lib import train_vqgan as tv

    fake_cuda({0: T4, 1: T4})
    calls = fake_torchrun(rank=1, local=1)
    d = tv._dist_setup()
    assert d["device"] == torch.device("cuda", 1) and (d["world"], d["rank"], d["local"]) == (2, 1, 1)
    assert calls["backend"] == "nccl" and calls["set_device"] == [torch.device("cuda", 1)]
    assert tv._dist_setup("cuda")["device"] == torch.device("cuda", 1)  # --device cuda: still one GPU per rank


def test_torchrun_on_the_cpu_of_a_gpu_machine_uses_gloo(fake_cuda, fake_torchrun, monkeypatch):
    """--device cpu (or COURSE_DEVICE=cpu) on a machine with GPUs: gloo, and no GPU is touched (NCCL with CPU tensors
    would fail at the first all-reduce)."""
    from course_lib import train_vqgan as tv

    fake_cuda({0: A100, 1: A100})
    calls = fake_torchrun()
    assert tv._dist_setup("cpu")["device"] == torch.device("cpu")
    assert calls["backend"] == "gloo" and calls["set_device"] == []
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert tv._dist_setup()["device"] == torch.device("cpu") and calls["backend"] == "gloo"


def test_one_process_on_a_gpu_machine_needs_no_process_group(fake_cuda, monkeypatch):
    import torch.distributed as dist

    from course_lib import train_vqgan as tv

    fake_cuda({0: L4})
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "COURSE_DEVICE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setattr(dist, "init_process_group", lambda *a, **k: pytest.fail("no process group for one process"))
    d = tv._dist_setup()
    assert d["device"] == torch.device("cuda", 0) and d["world"] == 1
    # and that GPU trains in bf16 (an L4 is sm_89)
    assert train.amp_setup("auto", d["device"])[0] == torch.bfloat16


def test_checkpoints_unwrap_a_compiled_model():
    """torch.compile (used on GPUs for speed) wraps the model in an OptimizedModule whose state_dict keys start with
    `_orig_mod.`: checkpoints must hold the plain model's keys, or a compiled run could not be resumed uncompiled.
    The eager backend compiles on a CPU too."""
    import torch.nn as nn

    from course_lib.checkpoint import load_state, unwrap

    m = nn.Linear(3, 2)
    c = torch.compile(m, backend="eager")
    assert unwrap(c) is m and list(unwrap(c).state_dict()) == ["weight", "bias"]
    fresh = torch.compile(nn.Linear(3, 2), backend="eager")
    load_state(fresh, m.state_dict())
    assert torch.equal(unwrap(fresh).weight, m.weight)


# ----------------------------------------------------------------------------------------------------------------------
# Other CUDA-only decisions in course_lib (read here, owned elsewhere): the device, the profile, seeding, timing, report
# ----------------------------------------------------------------------------------------------------------------------
def test_a_gpu_machine_picks_cuda_the_standard_profile_and_seeds_the_gpu(fake_cuda, monkeypatch):
    from course_lib import env, profiles

    fake_cuda({0: T4})
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    assert env.get_device() == torch.device("cuda")
    assert profiles.default_profile() == "standard"
    seeded = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda s: seeded.append(s))
    env.seed_everything(7)
    assert seeded and set(seeded) == {7}  # (torch.manual_seed also seeds every GPU itself)


def test_timings_synchronise_the_gpu_around_each_call(fake_cuda, monkeypatch):
    """factcheck.median_time must wait for queued GPU work before reading the clock, or it times the launch only."""
    from course_lib import factcheck

    fake_cuda({0: A100})
    events = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: events.append("sync"))
    factcheck.median_time(lambda: events.append("call"), repeats=2, warmup=1)
    assert events == ["call", "sync", "call", "sync", "sync", "call", "sync"]


def test_the_course_report_names_the_gpu(fake_cuda):
    from course_lib import report

    fake_cuda({0: T4})
    assert report.machine()["gpu"] == "fake sm_75, 16 GiB"


def test_environment_report_says_native_bf16_only_where_the_gpu_has_it(fake_cuda):
    """The set-up report of every notebook must not tell a T4 student that bfloat16 is supported (issue 23.1)."""
    from course_lib.env import environment_report

    fake_cuda({0: T4})
    assert environment_report()["bf16 (native)"] is False
    fake_cuda({0: (8, 0)})
    assert environment_report()["bf16 (native)"] is True
