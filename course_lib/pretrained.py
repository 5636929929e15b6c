"""Long-trained course checkpoints, shipped inside the package (issue 16).

A notebook's own ``quick`` run trains for a minute; these are **the same models** (same course_lib classes, same
``quick`` configuration) trained for a fixed, much larger step budget on the offline data by
``data/train_course_checkpoints.py``, so that a student on a CPU can see what the model they just built can do.
Each checkpoint is ``course_lib/assets/pretrained/<name>.pt`` (a plain state dict, float32, read with
``torch.load(..., weights_only=True)``) with a card ``<name>.json`` beside it: data, steps, batch, seed, wall time,
machine, the exact command, the configuration, and headline figures measured on held-out data.

Names (what each notebook loads):

====================  =========  ==============================================================================
``"04_vqvae"``        04         ``VQVAE(EMAVectorQuantizer(...))`` of section 5, the notebook's quick ``CFG``
``"11_vqvae"``        11         the comparison's **MSE arm**: ``VQGAN(cfg)`` trained with MSE + quantizer loss only
``"11_perceptual"``   11         the comparison's L1 + perceptual arm (no GAN term)  [shipped only if listed]
``"11_vqgan"``        11         the comparison's full arm: L1 + perceptual + GAN (the model of section 3)
``"12_tokenizer"``    12         the stage-1 tokenizer ``VQGAN(tok_cfg)`` of section 1
``"12_prior"``        12         the class-conditional ``CodePrior`` of section 2, trained on ``12_tokenizer``'s codes
``"13_code_predictor"`` 13       the code-prediction restorer ``RestorationNet(num_codes=64)`` of section 3,
                                 trained on the codes of ``12_tokenizer`` (the tokenizer 13 freezes under quick)
``"13_l2_regressor"`` 13         the L2 regressor ``RestorationNet(num_codes=None)`` of section 3 (same trunk)
``"14_<kind>"``       14         the equal-bits comparison's arm ``kind`` (vq, rvq, fsq, lfq, bsq, simvq), seed 0:
                                 ``tokenizer_bench.build_model(kind, 10, ...)``
``"14_rvq_dropout"``  14         residual VQ with quantizer dropout (4 levels of 16 codes) of section 5
``"14_rvq_rate<n>"``  14         residual VQ trained alone with n = 1..4 levels of 16 codes (section 5)
====================  =========  ==============================================================================

``list_shipped()`` says which of them exist in this installation. The API::

    from course_lib import pretrained

    if pretrained.available("11_vqgan"):                 # False under COURSE_PRETRAINED=0, without the file,
        long_model = VQGAN(VQ_CFG).to(device)             # or when the active profile is not the card's (quick)
        card = pretrained.load_into(long_model, "11_vqgan")   # weights in, model in eval mode; returns the card
        print(pretrained.describe("11_vqgan"))            # "the same model after 3,000 steps ... (shipped; ...)"
        card["headline"]                                  # the figures the card promises, e.g. {"psnr_db": ...}

    model = pretrained.build("04_vqvae")                  # or: a fresh model built from the card's config + loaded
    pretrained.card("04_vqvae")                           # the card as a dict (no torch needed)
    pretrained.measure("04_vqvae", model)                 # recompute the card's headline figures (held-out data)

* ``available(name, config=None)``: True when the file is shipped, loading is not switched off
  (``COURSE_PRETRAINED=0``), and the active profile is the card's (``quick``; under ``standard``/``full`` the
  notebook builds a bigger model that these weights do not fit). ``COURSE_SMOKE=1`` does not change it. With
  ``config`` (the settings the notebook builds its model from), settings that differ from the card's print one
  line and give False: a student who changed ``num_codes`` for an exercise sees the section skipped, not an error.
* ``load_into(model, name, config=None)``: loads with :func:`course_lib.checkpoint.load_state`; a model built with
  another configuration raises :class:`course_lib.checkpoint.CheckpointMismatchError` whose message names the
  checkpoint's configuration and how to build a matching model. Pass ``config=`` (the dict you built the model
  from) to also compare settings that do not change weight shapes. Raises ``RuntimeError`` when
  ``COURSE_PRETRAINED=0`` and ``FileNotFoundError`` when the file is not shipped. Puts the model in eval mode.
* ``card(name)``, ``describe(name)``, ``list_shipped()``, ``build(name)``, ``measure(name, model)``.

Per notebook (build the second model exactly as the notebook builds its own, then load):

* 04: ``VQVAE(EMAVectorQuantizer(num_codes=CFG.num_codes, code_dim=CFG.code_dim, beta=0.25, decay=CFG.decay),
  in_channels=C, hidden=CFG.hidden, downsamples=2, res_blocks=CFG.res_blocks, res_hidden=CFG.res_hidden)`` then
  ``load_into(m, "04_vqvae")``. Card headline: ``test_nmse`` (variance of the notebook's 4,000 training images),
  ``test_psnr_db``, ``codes_used``, ``perplexity`` on ``load_dataset("fashion-mnist", "test", n=512)``.
* 11: ``VQGAN(VQ_CFG)`` for each arm (all arms share the model section), then ``load_into(m, "11_vqgan")`` /
  ``"11_vqvae"`` (the MSE arm) / ``"11_perceptual"``. Headline: ``psnr_db``, ``ssim``, ``codes_used``,
  ``perplexity``, ``kid_judge_x1e3`` (judge net, ``x_eval`` = first 256 of the 512 test crops vs ``x_ref`` = the
  other 256, exactly the notebook's split). Only the autoencoders are shipped, not the discriminators.
* 12: ``build_tokenizer(tokenizer_config())`` (``course_lib.tokenizer``) then ``load_into(t, "12_tokenizer")``;
  ``CodePrior(num_codes=K, seq_len=T, d_model=CFG.d_model, n_layers=CFG.n_layers, n_heads=CFG.n_heads,
  num_classes=10)`` then ``load_into(p, "12_prior")``. The shipped prior models the SHIPPED tokenizer's codes:
  sample it and decode with the shipped tokenizer (``tokenize(t, x)`` gives its token sequences). Headline:
  tokenizer ``psnr_db``, ``codes_used``, ``perplexity``; prior ``test_bits_per_token`` (and
  ``uniform_bits_per_token``), all on ``load_dataset("fashion-mnist", "test", n=300)``.
* 14: ``course_lib.tokenizer_bench.build_model(kind, bits, ...)`` from the card's config (``pretrained.build``
  does it). Headline (``tokenizer_bench.evaluate`` on ``load_dataset("fashion-mnist", "test", n=512)``: the first
  256 reconstructed, the last 256 the real reference): ``psnr``, ``ssim``, ``kid_x1e3`` (judge net),
  ``sharpness_ratio``, ``codes_used``, ``usage``, ``entropy_bits``; ``14_rvq_dropout`` also ``psnr_levels_k``.
  The arms' cards add ``seed_figures``: the same figures for the same command with ``--seed 1`` and ``2`` (weights
  not shipped).
* 13: ``RestorationNet(num_codes=K, ch=CFG.rest_ch)`` / ``RestorationNet(num_codes=None, ch=CFG.rest_ch)``, then
  ``load_into(net, "13_code_predictor")`` / ``"13_l2_regressor"``. The code predictor predicts the SHIPPED
  tokenizer's codes: decode its output with that tokenizer. Headline (super-resolution x4 of
  ``load_dataset("fashion-mnist", "test", n=300)``, ``course_lib.restoration.degrade``/``restore``/
  ``measure_restoration``): ``psnr_db``, ``ssim``, ``kid_x1e3`` (course feature net); the code predictor also
  ``test_ce_nats`` and ``cell_accuracy`` (against the clean images' codes).

The headline figures are measured on fixed files with fixed data (CPU, eval mode): asserting them in a notebook is
exact, not flaky (``tests/test_pretrained.py`` re-measures them).

Card fields: ``name, notebook, model, data {name, split, n, eval_n, ...}, steps, batch_size, seed, lr,
wall_seconds, machine {...}, command, config, headline {...}, headline_data, notes``.
"""
from __future__ import annotations

import json
import math
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

RESTORATION_FACTOR = 4  # notebook 13's CFG.factor (super-resolution x4) under quick
NAMES = ("04_vqvae", "11_vqvae", "11_perceptual", "11_vqgan", "12_tokenizer", "12_prior", "13_code_predictor",
         "13_l2_regressor")
#: Notebook 14: one autoencoder per quantizer of the equal-bits comparison (seed 0), and the rate-control models
#: (residual VQ with quantizer dropout; residual VQ trained alone at 1..4 levels). Built by
#: course_lib.tokenizer_bench.build_model from the card's config.
NAMES_14 = ("14_vq", "14_rvq", "14_fsq", "14_lfq", "14_bsq", "14_simvq", "14_rvq_dropout", "14_rvq_rate1",
            "14_rvq_rate2", "14_rvq_rate3", "14_rvq_rate4")
NAMES = NAMES + NAMES_14
ENV_SWITCH = "COURSE_PRETRAINED"


def asset_dir() -> Path:
    """The folder of the shipped checkpoints (``course_lib/assets/pretrained``)."""
    return Path(str(resources.files("course_lib") / "assets" / "pretrained"))


def _check_name(name: str) -> str:
    if name not in NAMES:
        import difflib

        close = difflib.get_close_matches(str(name), NAMES, n=1)
        raise KeyError(f"No course checkpoint called {name!r}; the names are {', '.join(NAMES)}."
                       + (f" Did you mean {close[0]!r}?" if close else ""))
    return name


def enabled() -> bool:
    """False when the environment sets ``COURSE_PRETRAINED=0`` (or false/no/off)."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def weights_path(name: str) -> Path:
    return asset_dir() / f"{_check_name(name)}.pt"


def card_path(name: str) -> Path:
    return asset_dir() / f"{_check_name(name)}.json"


def list_shipped() -> List[str]:
    """Names whose weights and card are both in the package, in the order of :data:`NAMES`."""
    return [n for n in NAMES if weights_path(n).is_file() and card_path(n).is_file()]


def card(name: str) -> Dict[str, Any]:
    """The checkpoint's card (a dict read from ``<name>.json``)."""
    path = card_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"The course checkpoint {name!r} is not shipped in this installation "
                                f"(no {path}); shipped: {list_shipped() or 'none'}.")
    return json.loads(path.read_text())


def available(name: str, config: Optional[Mapping[str, Any]] = None) -> bool:
    """True when ``name`` is shipped, loading is on, the active profile is the one its model was built for, and (when
    ``config`` is given: the settings the notebook builds its model from) those settings match the card's.

    With ``config``, a mismatch prints one line saying which settings differ and returns False, so that a notebook's
    shipped-model section is skipped, not broken, when a student changes a setting for an exercise."""
    if not enabled() or _check_name(name) not in list_shipped():
        return False
    from .profiles import active_profile

    c = card(name)
    if active_profile() != c.get("profile", "quick"):
        return False
    if config is not None:
        diffs = _config_diffs(c, config)
        if diffs:
            print(f"The shipped {name!r} checkpoint is skipped: your settings differ from the ones it was trained with "
                  f"({_shown(diffs)}). Put them back to see it beside your run.")
            return False
    return True


def _config_diffs(c: Mapping[str, Any], config: Mapping[str, Any]) -> Dict[str, Any]:
    from .checkpoint import config_differences

    saved = c.get("config") or {}
    if "model" in saved and "model" in config:  # a VQ-GAN config: only the model section fixes the weights
        saved, config = saved["model"], config["model"]
    return {k: v for k, v in config_differences(saved, config).items() if k in saved and k in config}


def _shown(diffs: Mapping[str, Any]) -> str:
    return "; ".join(f"{k}: checkpoint {a!r} vs yours {b!r}" for k, (a, b) in list(diffs.items())[:4])


def _minutes(seconds: float) -> str:
    m = seconds / 60
    return f"{m:.0f} min" if m >= 2 else f"{seconds:.0f} s"


def describe(name: str) -> str:
    """An honest one-line label for plots and prints, e.g.
    "the same model after 6,000 steps at batch 64 on 8,000 Fashion-MNIST training images (shipped; 18 CPU-min on 2
    cores)"."""
    c = card(name)
    d = c["data"]
    cores = c.get("machine", {}).get("threads") or c.get("machine", {}).get("cpu_count")
    where = (f"{_minutes(c['wall_seconds'])} on {cores} CPU core{'s' if cores != 1 else ''}" if cores
             else _minutes(c["wall_seconds"]))
    what = "tokens of " if d.get("tokens_of") else ""
    return (f"the same model after {c['steps']:,} steps at batch {c['batch_size']} on {what}{d['n']:,} "
            f"{d['name']} training images (shipped; {where})")


def _mismatch(name: str, c: Mapping[str, Any], detail: str):
    from .checkpoint import CheckpointMismatchError

    cfg = json.dumps(c.get("config"), sort_keys=True)
    return CheckpointMismatchError(
        f"The shipped checkpoint {name!r} does not fit this model: {detail.rstrip('. ')}. It was trained for notebook "
        f"{c.get('notebook')}'s {c.get('profile', 'quick')!r} profile with the configuration {cfg}. Build the model "
        f"with exactly these settings (run the notebook under COURSE_PROFILE={c.get('profile', 'quick')}, or use "
        f"course_lib.pretrained.build({name!r}), which builds and loads it for you).")


def load_into(model, name: str, config: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Load the shipped weights ``name`` into ``model`` (eval mode afterwards) and return the card.

    ``config``: optionally the configuration dict the model was built from; keys it shares with the card's
    ``config`` must agree (catches settings that do not change any weight's shape)."""
    import torch

    from .checkpoint import CheckpointMismatchError, load_state

    _check_name(name)
    if not enabled():
        raise RuntimeError(f"Loading the shipped checkpoints is switched off ({ENV_SWITCH}=0 in the environment); "
                           f"unset it (or set {ENV_SWITCH}=1) to load {name!r}.")
    path = weights_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"The course checkpoint {name!r} is not shipped in this installation (no {path}); "
                                f"shipped: {list_shipped() or 'none'}.")
    c = card(name)
    if config is not None:
        diffs = _config_diffs(c, config)
        if diffs:
            raise _mismatch(name, c, f"settings differ ({_shown(diffs)})")
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        load_state(model, state, what=f"shipped {name!r} model")
    except CheckpointMismatchError as exc:
        raise _mismatch(name, c, str(exc).split(": ", 1)[-1].split(". Build")[0]) from None
    model.eval()
    return c


# --------------------------------------------------------------------------------------------------------------
# Building the models and measuring them: shared by data/train_course_checkpoints.py, the tests and the gallery.
# --------------------------------------------------------------------------------------------------------------

def build_from_config(name: str, config: Mapping[str, Any]):
    """A freshly initialised model of checkpoint ``name``'s kind, built from ``config`` (the card's format)."""
    _check_name(name)
    cfg = dict(config)
    if name == "04_vqvae":
        from .models import VQVAE
        from .quantize import EMAVectorQuantizer

        q = EMAVectorQuantizer(num_codes=cfg["num_codes"], code_dim=cfg["code_dim"], beta=cfg["beta"], decay=cfg["decay"])
        return VQVAE(q, in_channels=cfg["in_channels"], hidden=cfg["hidden"], downsamples=cfg["downsamples"],
                     res_blocks=cfg["res_blocks"], res_hidden=cfg["res_hidden"])
    if name == "12_prior":
        from .prior import CodePrior

        return CodePrior(**cfg)
    if name.startswith("14_"):
        from .tokenizer_bench import build_model

        return build_model(cfg["kind"], cfg["bits"], in_channels=cfg["in_channels"], hidden=cfg["hidden"],
                           code_dim=cfg["code_dim"], levels=cfg["rvq_levels"], dropout=cfg["dropout"],
                           decay=cfg["decay"], restart_after=cfg["restart_after"])
    if name.startswith("13_"):
        from .restoration import RestorationNet

        return RestorationNet(**cfg)
    from .vqgan import VQGAN

    return VQGAN(cfg)


def build(name: str, device: Any = "cpu"):
    """A model built from the card's configuration with the shipped weights loaded (eval mode)."""
    model = build_from_config(name, card(name)["config"])
    load_into(model, name)
    return model.to(device).eval()


@lru_cache(maxsize=None)
def _eval_data(name: str):
    """Held-out data of the headline figures (the notebook's own evaluation split, offline)."""
    import torch

    from .data import load_dataset

    if name == "04_vqvae":
        train = load_dataset("fashion-mnist", "train", n=4000, full=False)
        test = load_dataset("fashion-mnist", "test", n=512, full=False)
        return test.x, float(train.x.var())
    if name.startswith("14_"):  # notebook 14's quick split: 256 reconstructed, the next 256 as the real reference
        x = load_dataset("fashion-mnist", "test", n=512, full=False).x
        return x[:256], x[256:]
    if name.startswith("11_"):
        from .train_vqgan import load_images
        from .vqgan import vqgan_config

        x = load_images(vqgan_config("quick"), "test", n=512, allow_stand_in=True)
        return x[:256], x[256:512]
    test = load_dataset("fashion-mnist", "test", n=300, full=False)
    return test.x, test.y


def tokenize(tokenizer, x, batch: int = 256):
    """(N, h*w) token sequences of images ``x`` under the (eval-mode) tokenizer."""
    import torch

    from .prior import flatten_grid

    tokenizer.eval()
    with torch.no_grad():
        return torch.cat([flatten_grid(tokenizer.encode(x[i:i + batch])) for i in range(0, len(x), batch)])


def measure(name: str, model, tokenizer=None) -> Dict[str, float]:  # noqa: C901 (one branch per checkpoint)
    """The card's headline figures of ``model`` on the held-out data (CPU, eval mode, deterministic).

    04: test NMSE (train-set variance of the notebook's 4,000 images), PSNR, codes used and perplexity over the
    notebook's 512 test images. 09: PSNR, SSIM, codes used, perplexity and the judge net's KID x1e3 over the
    notebook's 256 evaluation images vs its 256 reference images. 12_tokenizer: PSNR, codes used, perplexity on
    the notebook's 300 held-out images; 12_prior: held-out NLL in bits per token on their tokens (``tokenizer``: the
    12_tokenizer model; default the shipped one). 13_*: super-resolution x4 of the same 300 images, as notebook 13
    section 4 measures it (the code predictor's codes decoded by ``tokenizer``, default the shipped one)."""
    import torch

    from . import metrics

    _check_name(name)
    model = model.cpu().eval()
    out: Dict[str, float] = {}
    with torch.no_grad():
        if name == "04_vqvae":
            x, var = _eval_data(name)
            outs = [model(x[i:i + 256]) for i in range(0, len(x), 256)]
            x_hat = torch.cat([o.x_hat for o in outs])
            idx = torch.cat([o.vq.indices for o in outs])
            usage = metrics.CodeUsageTracker(model.quantizer.num_codes).update(idx)
            out = {"test_nmse": metrics.nmse(x, x_hat, var), "test_psnr_db": metrics.psnr(x, x_hat.clamp(0, 1)),
                   "codes_used": float(usage.used()), "perplexity": usage.perplexity()}
        elif name.startswith("11_"):
            from .image_quality import kernel_feature_distance, load_judge_net, ssim

            x, ref = _eval_data(name)
            r = torch.cat([model(x[i:i + 128])[0].float().clamp(0, 1) for i in range(0, len(x), 128)])
            usage = metrics.CodeUsageTracker(model.quantizer.num_codes).update(model.encode(x))
            kid = kernel_feature_distance(r, ref, net=load_judge_net("cpu"))
            out = {"psnr_db": metrics.psnr(x, r), "ssim": float(ssim(x, r)), "codes_used": float(usage.used()),
                   "perplexity": usage.perplexity(), "kid_judge_x1e3": float(kid.mean * 1e3)}
        elif name == "12_tokenizer":
            from .tokenizer import decode_all, encode_all

            x, _ = _eval_data(name)
            codes = encode_all(model, x)
            r = decode_all(model, codes)
            usage = metrics.CodeUsageTracker(model.quantizer.num_codes).update(codes)
            out = {"psnr_db": metrics.psnr(r, x), "codes_used": float(usage.used()), "perplexity": usage.perplexity()}
        elif name.startswith("13_"):
            from .restoration import code_prediction_loss, degrade, measure_restoration, restore
            from .tokenizer import decode_all, encode_all

            x, _ = _eval_data(name)
            bad = degrade(x, RESTORATION_FACTOR)
            if model.num_codes is None:
                restored = restore(model, bad)
            else:
                tok = (build("12_tokenizer") if tokenizer is None else tokenizer).cpu().eval()
                restored, logits = restore(model, bad, decode=lambda c: decode_all(tok, c), return_logits=True)
                codes = encode_all(tok, x)
                out = {"test_ce_nats": float(code_prediction_loss(logits, codes)),
                       "cell_accuracy": float((logits.argmax(1) == codes).float().mean())}
            m = measure_restoration(restored, x)
            out = {"psnr_db": m["psnr"], "ssim": m["ssim"], "kid_x1e3": float(m["kid"].mean * 1e3), **out}
        elif name.startswith("14_"):
            from .image_quality import load_judge_net
            from .tokenizer_bench import evaluate

            x, ref = _eval_data(name)
            out = evaluate(model, x, ref, load_judge_net("cpu"))
            if name == "14_rvq_dropout":  # the same model decoded with its first k levels
                for k in range(1, model.quantizer.num_levels + 1):
                    out[f"psnr_levels_{k}"] = evaluate(model, x, num_levels=k)["psnr"]
        else:  # 12_prior
            x, y = _eval_data(name)
            tok = build("12_tokenizer") if tokenizer is None else tokenizer
            tokens = tokenize(tok, x)
            bits = float(model.bits_per_token(tokens, y))
            out = {"test_bits_per_token": bits, "uniform_bits_per_token": math.log2(model.num_codes)}
    return {k: float(v) for k, v in out.items()}
