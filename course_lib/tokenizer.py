"""The small Fashion-MNIST VQ-GAN tokenizer shared by notebooks 12 and 13 (and the shipped ``"12_tokenizer"``).

One set-up, one place: its sizes per profile, building it, training it, and encoding/decoding in batches::

    from course_lib.tokenizer import tokenizer_config, build_tokenizer, train_tokenizer, encode_all, decode_all

    tok_cfg = tokenizer_config()                  # the active profile (quick / standard / full, smoke cuts applied)
    tokenizer, history = train_tokenizer(build_tokenizer(tok_cfg), train, tok_cfg,
                                         checkpoint=run_path("12", "tokenizer.pt"))   # eval mode on return
    codes = encode_all(tokenizer, x)              # (N, 1, 28, 28) -> (N, 7, 7) code indices
    images = decode_all(tokenizer, codes)         # -> (N, 1, 28, 28) in [0, 1]

``tokenizer_config(profile)`` returns a :func:`course_lib.vqgan.vqgan_config` dict (sections ``model``, ``loss``,
``train``): the ``VQGAN`` architecture (residual blocks, attention at 7x7, two downsamplings: a 7x7 grid of codes
for a 28x28 image) with the course's EMA quantizer (l2-normalised 8-d lookup, dead-code restarts).

* ``quick``: ``ch=16``, K=64 codes, 120 steps of batch 32 at lr 1e-3, **L1 + quantizer loss only** (perceptual
  weight 0, discriminator never started): the VQ-GAN architecture with a VQ-VAE-style objective, a CPU minute.
* ``standard``/``full``: ``ch=64``, K=256, 6000 steps of batch 64 at lr 2e-4, perceptual weight 1, the
  discriminator from step 3000 (halfway).
* smoke (``COURSE_SMOKE=1``): the profile's shapes, 3 steps, the discriminator from step 1 (so its code path runs).

**A long-trained tokenizer (helper script, e.g. ``data/train_course_checkpoints.py`` for ``"12_tokenizer"``).**
The shipped weights must fit the model the notebooks build, so build it from the same function and change only
the step count::

    from course_lib.data import load_dataset
    from course_lib.tokenizer import tokenizer_config, build_tokenizer, train_tokenizer

    cfg = tokenizer_config("quick", steps=2000)               # quick shapes, a longer run (pass smoke=False
    model, history = train_tokenizer(build_tokenizer(cfg, seed=0),        #  to ignore COURSE_SMOKE)
                                     load_dataset("fashion-mnist", split="train", n=None), cfg, seed=0,
                                     checkpoint=None, progress=False)
    torch.save(model.state_dict(), "12_tokenizer.pt")          # cfg["model"] is the configuration to record

The notebooks then build ``build_tokenizer(tokenizer_config("quick"))`` and ``pretrained.load_into`` it:
``cfg["model"]`` does not depend on the step count, so the state dicts match.

**The student's own VQ-GAN from notebook 11.** :func:`notebook11_tokenizer` loads ``run_path("11", "vqgan.pt")``
when it exists and fits notebook 12 (the same dataset, so the same images and labels to condition on), else it
returns None and one sentence saying why::

    model, why = notebook11_tokenizer(run_path("11", "vqgan.pt"), dataset=CFG.dataset)
    print(why)
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import torch

__all__ = ["TOKENIZER_SETTINGS", "tokenizer_settings", "tokenizer_config", "build_tokenizer", "train_tokenizer",
           "encode_all", "decode_all", "notebook11_tokenizer"]

#: The tokenizer's sizes per profile (``full`` = ``standard``). ``disc_start=10**9`` means "never".
TOKENIZER_SETTINGS: Dict[str, Dict[str, Any]] = {
    "quick": dict(dataset="fashion-mnist", tok_ch=16, num_codes=64, tok_steps=120, tok_lr=1e-3, tok_batch=32,
                  perceptual_weight=0.0, disc_start=10**9),
    "standard": dict(dataset="fashion-mnist", tok_ch=64, num_codes=256, tok_steps=6000, tok_lr=2e-4, tok_batch=64,
                     perceptual_weight=1.0, disc_start=3000),
}


def tokenizer_settings(profile: Optional[str] = None, smoke: Optional[bool] = None):
    """The tokenizer's sizes as a :class:`course_lib.profiles.Settings` (a table that shows every profile).

    ``profile=None``: the active profile. ``smoke=None``: follow ``COURSE_SMOKE`` (3 steps, discriminator from
    step 1); ``False``: never cut (a helper script training the long run); ``True``: always cut."""
    import os

    from course_lib import profiles

    table = dict(quick=TOKENIZER_SETTINGS["quick"], standard=TOKENIZER_SETTINGS["standard"])
    # $COURSE_SETTINGS changes the running notebook's own table (an open exercise in 12 or 13), never this one
    s = profiles.settings(**table, smoke=dict(disc_start=1), profile=profile, overrides="ignore")
    want_smoke = profiles.smoke_active() if smoke is None else bool(smoke)
    if want_smoke != s.smoke:
        s = profiles.Settings(s._table, s.profile, dict(disc_start=1) if want_smoke else None, overrides="ignore")
    return s


def tokenizer_config(profile: Optional[str] = None, *, steps: Optional[int] = None,
                     smoke: Optional[bool] = None) -> Dict[str, Any]:
    """The tokenizer's :func:`course_lib.vqgan.vqgan_config` dict for ``profile`` (None: the active one).

    ``steps`` overrides the training length only (``cfg["train"]["steps"]``): the model section, and so the
    weights' shapes, never depend on it. ``smoke``: see :func:`tokenizer_settings`."""
    from course_lib.vqgan import vqgan_config

    s = tokenizer_settings(profile, smoke)
    n_steps = int(s.tok_steps if steps is None else steps)
    if n_steps < 0:
        raise ValueError(f"tokenizer_config: steps must be >= 0, got {steps}")
    return vqgan_config(
        "quick",
        model=dict(in_channels=1, resolution=28, ch=s.tok_ch, ch_mult=[1, 2, 2], num_res_blocks=1,
                   attn_resolutions=[7], z_channels=32, norm_groups=8,
                   quantizer=dict(kind="ema", num_codes=s.num_codes, code_dim=32, lookup_dim=8, cosine=True,
                                  decay=0.99, beta=0.25, restart_dead_after=50)),
        loss=dict(perceptual_weight=s.perceptual_weight, disc_start=int(s.disc_start), perceptual_backend="course"),
        train=dict(dataset=s.dataset, steps=n_steps, lr=s.tok_lr, batch_size=s.tok_batch),
    )


def build_tokenizer(cfg: Dict[str, Any], device: Union[str, torch.device, None] = None, seed: int = 0):
    """A fresh ``VQGAN(cfg)`` (initialised under ``torch.manual_seed(seed)``), on ``device``."""
    from course_lib.vqgan import VQGAN

    torch.manual_seed(seed)
    model = VQGAN(cfg)
    return model.to(device) if device is not None else model


def train_tokenizer(model, data, cfg: Dict[str, Any], *, checkpoint: Union[str, Path, None] = None, seed: int = 0,
                    log_every: int = 25, desc: str = "VQ-GAN tokenizer", progress: bool = True,
                    device: Union[str, torch.device, None] = None) -> Tuple[Any, Any]:
    """Train ``model`` (a ``VQGAN`` built from ``cfg``) on ``data`` for ``cfg["train"]["steps"]`` steps.

    ``data``: an ImageDataset (from ``load_dataset``; shuffled in batches of ``cfg["train"]["batch_size"]`` with
    ``seed``) or any loader that ``fit`` accepts. The loss is ``VQGANLoss(cfg)`` (L1, quantizer, perceptual and
    adversarial terms by its ``loss`` section), Adam with betas (0.5, 0.9) for the generator and the
    discriminator, gradients clipped at 1. ``checkpoint``: a path for ``fit`` (a re-run with the same config and
    step count reuses it). Returns ``(model, history)``, the model in eval mode."""
    from course_lib.data import ImageDataset, make_loader
    from course_lib.train import fit
    from course_lib.vqgan import VQGANLoss, make_loss_fn

    if device is None:
        device = next(model.parameters()).device
    steps, lr, batch = int(cfg["train"]["steps"]), float(cfg["train"]["lr"]), int(cfg["train"]["batch_size"])
    torch.manual_seed(seed)
    loss = VQGANLoss(cfg).to(device)
    opts = {"gen": torch.optim.Adam(model.parameters(), lr=lr, betas=(0.5, 0.9)),
            "disc": torch.optim.Adam(loss.discriminator.parameters(), lr=lr, betas=(0.5, 0.9))}
    if isinstance(data, ImageDataset):
        n_train = len(data)
        data = make_loader(data, batch_size=batch, shuffle=True, seed=seed)
    else:
        n_train = getattr(data, "n", None) or len(getattr(data, "x", [])) or None
    history = fit(make_loss_fn(model, loss), opts, data, steps=steps, model={"vqgan": model, "loss": loss},
                  checkpoint=checkpoint, config=dict(copy.deepcopy(cfg["model"]), steps=steps, n_train=n_train),
                  grad_clip=1.0, log_every=log_every, desc=desc, progress=progress, device=device)
    return model.eval(), history


@torch.no_grad()
def encode_all(model, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """Code indices (N, h, w) of ``images`` (N, C, H, W), encoded in batches on the model's device."""
    device = next(model.parameters()).device
    return torch.cat([model.encode(images[i:i + batch].to(device)) for i in range(0, len(images), batch)])


@torch.no_grad()
def decode_all(model, codes: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """Images (N, C, H, W) in [0, 1] decoded from code indices (N, h, w), in batches."""
    device = next(model.parameters()).device
    return torch.cat([model.decode_indices(codes[i:i + batch].to(device)).clamp(0, 1)
                      for i in range(0, len(codes), batch)])


def _dataset_key(name: str) -> str:
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


_DATASET_WORDS = {"natural": "natural colour crops (no labels)", "cifar10": "CIFAR-10",
                  "fashionmnist": "Fashion-MNIST", "mnist": "MNIST", "flowers10264": "Flowers-102 at 64x64"}


def notebook11_tokenizer(path: Union[str, Path], dataset: str, device: Union[str, torch.device, None] = None,
                         labelled: bool = True) -> Tuple[Optional[Any], str]:
    """The VQ-GAN the student trained in notebook 11 (its ``fit`` checkpoint at ``path``), if it fits notebook 12.

    It fits when the file exists, was trained on ``dataset`` (notebook 11 stores its preset; the preset names the
    dataset) and, for a class-conditional prior (``labelled=True``), that dataset has labels (the offline
    ``"natural"`` crops have none). Returns ``(model in eval mode, sentence)`` or ``(None, sentence)``; the sentence
    says which tokenizer the notebook uses and why, in one line. A checkpoint whose weights do not fit its preset's
    model (e.g. a changed ``num_codes``) is not used either."""
    from course_lib.checkpoint import load_checkpoint
    from course_lib.vqgan import VQGAN, vqgan_config

    own = "this notebook trains its own tokenizer"
    path = Path(path)
    if not path.is_file():
        return None, f"No notebook-11 VQ-GAN found (run_path('11', 'vqgan.pt')): {own}."
    try:
        state = load_checkpoint(path)
        preset = (state.get("config") or {}).get("preset")
        cfg = vqgan_config(preset)
    except Exception as exc:   # not a notebook-11 checkpoint, or an unknown preset
        return None, f"The notebook-11 checkpoint could not be read ({type(exc).__name__}: {exc}): {own}."
    theirs = _dataset_key(cfg["train"]["dataset"])
    words = lambda key: _DATASET_WORDS.get(key, key)  # noqa: E731
    if theirs != _dataset_key(dataset) or (labelled and theirs == "natural"):
        return None, (f"Your notebook-11 VQ-GAN was trained on {words(theirs)}; this notebook is class-conditional "
                      f"on {words(_dataset_key(dataset))}: {own}.")
    model = VQGAN(cfg)
    try:
        model.load_state_dict(state["models"]["vqgan"])
    except Exception as exc:
        return None, (f"Your notebook-11 VQ-GAN does not match its preset {preset!r} ({type(exc).__name__}; a changed "
                      f"setting such as num_codes?): {own}.")
    model = model.eval() if device is None else model.to(device).eval()
    return model, (f"Using your notebook-11 VQ-GAN (preset {preset!r}, {words(theirs)}, trained {state.get('step')} "
                   f"steps) as the tokenizer.")
