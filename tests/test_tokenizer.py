"""course_lib.tokenizer: the shared tokenizer set-up of notebooks 12 and 13."""
import pytest
import torch

from course_lib import profiles
from course_lib.data import load_dataset
from course_lib.tokenizer import (build_tokenizer, decode_all, encode_all, tokenizer_config, tokenizer_settings,
                                  train_tokenizer)


def test_config_per_profile_and_steps_override():
    q, s = tokenizer_config("quick", smoke=False), tokenizer_config("standard", smoke=False)
    assert q["model"]["ch"] == 16 and q["model"]["quantizer"]["num_codes"] == 64
    assert s["model"]["ch"] == 64 and s["model"]["quantizer"]["num_codes"] == 256
    assert q["loss"]["perceptual_weight"] == 0.0 and q["loss"]["disc_start"] > 10**6
    assert s["loss"]["perceptual_weight"] == 1.0 and s["loss"]["disc_start"] == 3000
    assert q["train"]["steps"] == 120 and s["train"]["steps"] == 6000
    long = tokenizer_config("quick", steps=2000, smoke=False)
    assert long["train"]["steps"] == 2000 and long["model"] == q["model"]      # weights' shapes do not move
    with pytest.raises(ValueError):
        tokenizer_config("quick", steps=-1)


def test_smoke_cuts_steps_and_starts_the_discriminator(monkeypatch):
    monkeypatch.setenv(profiles.SMOKE_ENV_VAR, "1")
    cfg = tokenizer_config("standard")
    assert cfg["train"]["steps"] == 3 and cfg["loss"]["disc_start"] == 1
    assert cfg["model"]["ch"] == 64                                    # standard shapes kept
    assert tokenizer_config("standard", smoke=False)["train"]["steps"] == 6000
    assert tokenizer_settings("quick", smoke=True).smoke


def test_build_train_encode_decode_round_trip(tmp_path):
    cfg = tokenizer_config("quick", steps=4, smoke=False)
    a, b = build_tokenizer(cfg, seed=0), build_tokenizer(cfg, seed=0)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))      # seeded build
    before = [p.detach().clone() for p in a.parameters()]
    data = load_dataset("fashion-mnist", split="train", n=128)
    model, history = train_tokenizer(a, data, cfg, checkpoint=tmp_path / "tok.pt", progress=False)
    assert model is a and not model.training
    assert any(not torch.equal(p, q) for p, q in zip(before, model.parameters()))      # it trained
    assert len(history) > 0 and (tmp_path / "tok.pt").exists()
    x = data.x[:5]
    codes = encode_all(model, x, batch=2)
    assert codes.shape == (5, 7, 7) and codes.dtype == torch.long
    out = decode_all(model, codes, batch=3)
    assert out.shape == x.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    assert torch.equal(out, model.decode_indices(codes).clamp(0, 1))


def _notebook11_checkpoint(path, preset="quick", num_codes=None):
    """A checkpoint shaped like notebook 11's (``fit`` with model={"vqgan": ...} and config={"preset": ...})."""
    from course_lib.checkpoint import save_checkpoint
    from course_lib.vqgan import VQGAN, vqgan_config

    over = {} if num_codes is None else {"model": {"quantizer": {"num_codes": num_codes}}}
    torch.manual_seed(0)
    model = VQGAN(vqgan_config(preset, **over))
    save_checkpoint(path, {"step": 7, "models": {"vqgan": model.state_dict()},
                           "config": {"preset": preset, "disc_start": 40, "lr": 5e-4}})
    return model


def test_notebook11_tokenizer_missing_file(tmp_path):
    from course_lib.tokenizer import notebook11_tokenizer

    model, why = notebook11_tokenizer(tmp_path / "vqgan.pt", dataset="fashion-mnist")
    assert model is None and "No notebook-11 VQ-GAN" in why and "its own tokenizer" in why


def test_notebook11_tokenizer_other_dataset_is_not_used(tmp_path):
    from course_lib.tokenizer import notebook11_tokenizer

    _notebook11_checkpoint(tmp_path / "vqgan.pt")          # quick preset: natural crops, no labels
    model, why = notebook11_tokenizer(tmp_path / "vqgan.pt", dataset="fashion-mnist")
    assert model is None and "natural colour crops (no labels)" in why and "Fashion-MNIST" in why
    model, why = notebook11_tokenizer(tmp_path / "vqgan.pt", dataset="natural")     # no labels to condition on
    assert model is None and "class-conditional" in why


def test_notebook11_tokenizer_loads_when_it_fits(tmp_path):
    from course_lib.tokenizer import notebook11_tokenizer

    saved = _notebook11_checkpoint(tmp_path / "vqgan.pt")
    model, why = notebook11_tokenizer(tmp_path / "vqgan.pt", dataset="natural", labelled=False)
    assert model is not None and not model.training and "Using your notebook-11 VQ-GAN" in why
    for a, b in zip(model.state_dict().values(), saved.state_dict().values()):
        assert torch.equal(a, b)
    _notebook11_checkpoint(tmp_path / "changed.pt", num_codes=16)   # a student changed num_codes in 11
    model, why = notebook11_tokenizer(tmp_path / "changed.pt", dataset="natural", labelled=False)
    assert model is None and "does not match" in why


def test_a_notebooks_course_settings_do_not_reach_the_tokenizer_table(monkeypatch):
    """COURSE_SETTINGS names the running notebook's settings (e.g. notebook 12's top_p); the shared tokenizer table
    must neither refuse them nor take them."""
    monkeypatch.setenv("COURSE_SETTINGS", '{"top_p": 0.5, "num_codes": 16}')
    assert tokenizer_config("quick", smoke=False)["model"]["quantizer"]["num_codes"] == 64
    import os
    assert os.environ["COURSE_SETTINGS"] == '{"top_p": 0.5, "num_codes": 16}'
