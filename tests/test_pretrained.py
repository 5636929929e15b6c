"""The long-trained checkpoints shipped in the package (issue 16, course_lib.pretrained).

Every shipped checkpoint must load into the model ITS notebook builds under ``quick`` (the notebook's own ``CFG``
table is read from notebooks/NN_*.py, so a change of the notebook's sizes that the weights no longer fit fails
here), and re-measuring its card's headline figures on the same held-out data must give the card's numbers.
"""
from __future__ import annotations

import functools
import json
import math
import re
from importlib import resources
from pathlib import Path

import pytest
import torch

from course_lib import pretrained
from course_lib.checkpoint import CheckpointMismatchError

ROOT = Path(__file__).resolve().parents[1]
# What this version of the course ships (the .pt files are committed: no skips).
SHIPPED = ["04_vqvae", "11_vqvae", "11_perceptual", "11_vqgan", "12_tokenizer", "12_prior", "13_code_predictor",
           "13_l2_regressor"] + list(pretrained.NAMES_14)


@pytest.fixture(autouse=True)
def _quick(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    monkeypatch.delenv("COURSE_SMOKE", raising=False)
    monkeypatch.delenv("COURSE_PRETRAINED", raising=False)


def notebook_cfg(stem: str):
    """The notebook's ``CFG = settings(...)`` table, evaluated for the quick profile."""
    from course_lib.profiles import settings

    src = (ROOT / "notebooks" / f"{stem}.py").read_text()
    m = re.search(r"^CFG = settings\(\n.*?^\)\n", src, flags=re.S | re.M)
    assert m, f"no CFG = settings(...) cell in notebooks/{stem}.py"
    scope = {"settings": functools.partial(settings, profile="quick")}
    exec(m.group(0), scope)
    return scope["CFG"]


def notebook_model(name: str):
    """The model as the notebook builds it under quick (same course_lib classes and config functions)."""
    if name == "04_vqvae":
        from course_lib.models import VQVAE
        from course_lib.quantize import EMAVectorQuantizer

        cfg = notebook_cfg("04_vqvae")
        q = EMAVectorQuantizer(num_codes=cfg.num_codes, code_dim=cfg.code_dim, beta=0.25, decay=cfg.decay)
        return VQVAE(q, in_channels=1, hidden=cfg.hidden, downsamples=2, res_blocks=cfg.res_blocks,
                     res_hidden=cfg.res_hidden)
    if name.startswith("11_"):
        from course_lib.vqgan import VQGAN, vqgan_config

        cfg = notebook_cfg("11_vqgan")
        return VQGAN(vqgan_config(cfg.preset, loss={"disc_start": cfg.disc_start},
                                  train={"n_train": cfg.n_train, "batch_size": cfg.batch_size, "lr": cfg.lr}))
    if name.startswith("14_"):  # notebook 14: tokenizer_bench.build_model from its CFG
        from course_lib import tokenizer_bench as bench

        cfg = notebook_cfg("14_tokenizers_of_today")
        common = dict(hidden=cfg.hidden, code_dim=cfg.code_dim, decay=cfg.decay, restart_after=cfg.restart_after)
        if name.startswith("14_rvq_"):
            levels = cfg.rd_levels if name == "14_rvq_dropout" else int(name[-1])
            return bench.build_model("rvq", levels * cfg.rd_bits_per_level, levels=levels,
                                     dropout=name == "14_rvq_dropout", **common)
        return bench.build_model(name[3:], cfg.bits, levels=cfg.rvq_levels, **common)
    from course_lib.tokenizer import build_tokenizer, tokenizer_config

    tok_cfg = tokenizer_config("quick", smoke=False)
    if name.startswith("13_"):  # notebook 13: RestorationNet(num_codes=K or None, ch=CFG.rest_ch)
        from course_lib.restoration import RestorationNet

        cfg = notebook_cfg("13_restoration_and_editing")
        k = tok_cfg["model"]["quantizer"]["num_codes"]
        return RestorationNet(num_codes=k if name == "13_code_predictor" else None, ch=cfg.rest_ch)
    if name == "12_tokenizer":
        return build_tokenizer(tok_cfg)
    from course_lib.prior import CodePrior

    cfg = notebook_cfg("12_generation_with_transformers")
    side = 28 // 4
    return CodePrior(num_codes=tok_cfg["model"]["quantizer"]["num_codes"], seq_len=side * side,
                     d_model=cfg.d_model, n_layers=cfg.n_layers, n_heads=cfg.n_heads, num_classes=10)


def test_package_data_holds_every_checkpoint_and_card():
    folder = resources.files("course_lib") / "assets" / "pretrained"
    for name in SHIPPED:
        pt, js = folder / f"{name}.pt", folder / f"{name}.json"
        assert pt.is_file() and js.is_file(), f"{name}: .pt or .json missing from the package data"
        assert pt.stat().st_size < 4_000_000, f"{name}.pt is {pt.stat().st_size / 1e6:.1f} MB"
        card = json.loads(js.read_text())
        for key in ("data", "steps", "batch_size", "seed", "wall_seconds", "machine", "command", "config", "headline"):
            assert key in card, f"{name}'s card lacks {key!r}"
        assert f"--steps {card['steps']}" in card["command"] and f"--only {name}" in card["command"]
        assert card["data"]["n"] > 0 and card["steps"] >= 100
    assert pretrained.list_shipped() == SHIPPED
    # the pyproject's package-data must ship them in a wheel too
    assert "assets/pretrained/*" in (ROOT / "pyproject.toml").read_text()


@pytest.mark.parametrize("name", SHIPPED)
def test_checkpoint_loads_into_the_notebooks_model_and_reproduces_its_card(name):
    assert pretrained.available(name)
    model = notebook_model(name)
    card = pretrained.load_into(model, name)
    assert not model.training
    got = pretrained.measure(name, model)
    assert set(got) == set(card["headline"])
    for key, value in card["headline"].items():
        assert math.isclose(got[key], value, rel_tol=1e-4, abs_tol=1e-4), f"{name} {key}: {got[key]} vs card {value}"
    assert f"{card['steps']:,} steps" in pretrained.describe(name)


def test_headline_figures_are_better_than_a_fresh_model():
    """The shipped 04 model really is trained: a freshly initialised one measures far worse."""
    fresh = pretrained.measure("04_vqvae", notebook_model("04_vqvae"))
    shipped = pretrained.card("04_vqvae")["headline"]
    assert shipped["test_psnr_db"] > fresh["test_psnr_db"] + 5 and shipped["test_nmse"] < 0.5 * fresh["test_nmse"]


def test_shipped_restorers_are_trained_on_the_shipped_tokenizers_codes():
    """13's code predictor predicts 12_tokenizer's codes far better than chance, and a fresh one does not."""
    card = pretrained.card("13_code_predictor")
    assert card["data"]["codes_of"] == "12_tokenizer"
    k = card["config"]["num_codes"]
    assert k == pretrained.card("12_tokenizer")["config"]["model"]["quantizer"]["num_codes"]
    fresh = pretrained.measure("13_code_predictor", notebook_model("13_code_predictor"))
    assert card["headline"]["cell_accuracy"] > fresh["cell_accuracy"] + 0.2
    assert card["headline"]["test_ce_nats"] < math.log(k) - 1.0
    assert pretrained.card("13_l2_regressor")["headline"]["psnr_db"] > fresh["psnr_db"] + 3


def test_wrong_configuration_gets_the_mismatch_error_naming_the_checkpoints_config():
    from course_lib.models import VQVAE
    from course_lib.quantize import EMAVectorQuantizer

    wrong = VQVAE(EMAVectorQuantizer(num_codes=256, code_dim=16), in_channels=1, hidden=32, downsamples=2,
                  res_blocks=1, res_hidden=32)
    with pytest.raises(CheckpointMismatchError, match=r'"num_codes": 128') as err:
        pretrained.load_into(wrong, "04_vqvae")
    assert "COURSE_PROFILE=quick" in str(err.value) and "pretrained.build('04_vqvae')" in str(err.value)

    from course_lib.vqgan import VQGAN, vqgan_config

    for name in (n for n in SHIPPED if n.startswith("11_")):
        with pytest.raises(CheckpointMismatchError, match="configuration"):
            pretrained.load_into(VQGAN(vqgan_config("quick", model={"ch": 32})), name)
    from course_lib.restoration import RestorationNet

    with pytest.raises(CheckpointMismatchError, match="configuration"):    # another K than the shipped tokenizer's
        pretrained.load_into(RestorationNet(num_codes=128, ch=32), "13_code_predictor")
    with pytest.raises(CheckpointMismatchError, match="configuration"):    # the heads are not interchangeable
        pretrained.load_into(RestorationNet(num_codes=None, ch=32), "13_code_predictor")
    # a setting that changes no weight shape is caught when the config is passed
    model = notebook_model("04_vqvae")
    cfg = dict(pretrained.card("04_vqvae")["config"], decay=0.99)
    with pytest.raises(CheckpointMismatchError, match="decay"):
        pretrained.load_into(model, "04_vqvae", config=cfg)


def test_course_pretrained_0_turns_loading_off(monkeypatch):
    monkeypatch.setenv("COURSE_PRETRAINED", "0")
    assert not any(pretrained.available(n) for n in pretrained.NAMES)
    model = notebook_model("04_vqvae")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError, match="COURSE_PRETRAINED=0"):
        pretrained.load_into(model, "04_vqvae")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_available_only_for_the_profile_the_weights_fit(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "standard")
    assert not pretrained.available("04_vqvae")
    with pytest.raises(KeyError, match="04_vqvae"):
        pretrained.card("04_vqae")


def test_available_skips_with_one_line_when_settings_differ(capsys):
    """Issue 21: an open exercise that changes num_codes makes the shipped-model section skip, not raise."""
    c = pretrained.card("04_vqvae")
    assert pretrained.available("04_vqvae", config=dict(c["config"])) is True
    assert capsys.readouterr().out == ""
    changed = dict(c["config"], num_codes=c["config"]["num_codes"] // 2)
    assert pretrained.available("04_vqvae", config=changed) is False
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "skipped" in out and "num_codes" in out
