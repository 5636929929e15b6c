"""Train the course's long-trained checkpoints (issue 16) and write them into course_lib/assets/pretrained/.

Each model is the one its notebook builds under the ``quick`` profile (the same course_lib classes and the same
configuration: read from the notebook's ``CFG``), trained on the offline data (``course_lib.data``, all of the
offline training split) for a fixed step budget, seeded. The script writes ``<name>.pt`` (a float32 state dict)
and ``<name>.json`` (the card: data, steps, batch, seed, wall time, machine, this command, the configuration and
the headline figures, re-measured on the notebook's held-out data by ``course_lib.pretrained.measure``).

    OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python data/train_course_checkpoints.py --only 04_vqvae
    .venv/bin/python data/train_course_checkpoints.py              # all of them, one after another (about an hour)
    .venv/bin/python data/train_course_checkpoints.py --only 04_vqvae --steps 50 --out /tmp/pt   # a quick try

Names and what they are: see ``course_lib/pretrained.py``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("COURSE_PROFILE", "quick")
os.environ.setdefault("COURSE_OFFLINE", "1")

from course_lib import pretrained  # noqa: E402
from course_lib.data import load_dataset, make_loader  # noqa: E402
from course_lib.train import fit  # noqa: E402

# Wall-clock budgets in minutes. Without --steps, the script times CALIBRATION_STEPS steps first, then trains a
# fixed step count (60% of the budget at the measured rate, the machine being shared; rounded down to a multiple
# of 100): the card records that count and the
# command that reproduces the weights with it (--steps N: no calibration, the same seeded run).
DEFAULT_MINUTES = {"04_vqvae": 12, "11_vqvae": 8, "11_perceptual": 12, "11_vqgan": 20, "12_tokenizer": 11,
                   "12_prior": 4, "13_code_predictor": 4, "13_l2_regressor": 4}
CALIBRATION_STEPS = 20


def machine() -> dict:
    return {"platform": platform.platform(terse=True), "processor": platform.machine(), "cpu_count": os.cpu_count(),
            "threads": torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version(),
            "device": "cpu", "load_average_1min_at_end": round(os.getloadavg()[0], 1),
            "shared": ("wall time on a machine shared with other jobs (load average above this run's threads)"
                       if os.getloadavg()[0] > torch.get_num_threads() + 0.5 else
                       "wall time on an otherwise idle machine (load average about this run's threads)")}


def progress(name):
    t0 = time.time()

    def cb(step, means, history):
        shown = ", ".join(f"{k} {v:.4g}" for k, v in list(means.items())[:4])
        print(f"{name} step {step} ({time.time() - t0:.0f} s): {shown}", flush=True)
    return cb


def command(steps: int) -> str:
    nice = os.nice(0)
    return (f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')} " + (f"nice -n {nice} " if nice else "")
            + " ".join(shlex.quote(a) for a in ["python", "data/train_course_checkpoints.py", "--only", NAME[0],
                                                "--steps", str(steps), "--seed", str(SEED[0])]))


NAME, SEED = [""], [0]


def write(name: str, model, card: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    torch.save(state, out / f"{name}.pt")
    (out / f"{name}.json").write_text(json.dumps(card, indent=2, sort_keys=False) + "\n")
    print(f"wrote {out / (name + '.pt')} ({(out / (name + '.pt')).stat().st_size / 1e3:.0f} kB) and its card")


def base_card(name, notebook, args, steps, batch, lr, wall, data, config, headline, headline_data, notes, model_desc):
    return {"name": name, "notebook": notebook, "profile": "quick", "model": model_desc, "data": data,
            "steps": steps, "batch_size": batch, "lr": lr, "seed": args.seed, "wall_seconds": round(wall, 1),
            "machine": machine(), "command": command(steps),
            "config": config, "headline": headline, "headline_data": headline_data, "notes": notes}


def timed_fit(name, loss_fn, opt, loader, steps, model, **kwargs) -> float:
    """course_lib.train.fit with this script's logging; returns the wall time in seconds."""
    t0 = time.time()
    fit(loss_fn, opt, loader, steps=steps, model=model, log_every=max(1, steps // 20), desc=name, progress=False,
        callback=progress(name), **kwargs)
    return time.time() - t0


def tokenizer_from(out: Path, name: str):
    """The 12_tokenizer in ``out`` (eval mode): the models trained on its codes (12_prior, 13_code_predictor) read
    it from there, so that they always match the tokenizer that ships beside them."""
    if not (out / "12_tokenizer.pt").is_file():
        raise SystemExit(f"{name} is trained on the codes of 12_tokenizer: train that first (--only 12_tokenizer).")
    tok = pretrained.build_from_config("12_tokenizer", json.loads((out / "12_tokenizer.json").read_text())["config"])
    tok.load_state_dict(torch.load(out / "12_tokenizer.pt", weights_only=True))
    return tok.eval()


# ---------------------------------------------------------------------------------------------------- 04
def train_04_vqvae(args, steps):
    """Notebook 04, section 2-3: VQVAE + EMA quantizer, loss mse/var + vq.loss, Adam lr 2e-3, batch 64."""
    name = "04_vqvae"
    config = dict(in_channels=1, hidden=32, res_hidden=32, res_blocks=1, downsamples=2, num_codes=128, code_dim=16,
                  beta=0.25, decay=0.95)
    batch, lr = 64, 2e-3
    train = load_dataset("fashion-mnist", "train", full=False)
    var = float(load_dataset("fashion-mnist", "train", n=4000, full=False).x.var())  # the notebook's data_variance
    torch.manual_seed(args.seed)
    model = pretrained.build_from_config(name, config)
    loader = make_loader(train, batch_size=batch, shuffle=True, seed=args.seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)

    def loss_fn(b, step):
        x, _ = b
        out = model(x)
        rec = F.mse_loss(out.x_hat, x)
        return {"loss": rec / var + out.vq.loss, "rec": rec.detach()}

    wall = timed_fit(name, loss_fn, opt, loader, steps, model)
    if args.calibrating:
        return wall
    headline = pretrained.measure(name, model)
    data = {"name": "Fashion-MNIST", "split": "train", "n": len(train), "source": "offline subset (course_lib.data)",
            "eval": "fashion-mnist test, n=512 (seed 0), as notebook 04 section 4"}
    card = base_card(name, "04", args, steps, batch, lr, wall, data, config, headline,
                     "Fashion-MNIST offline test subset n=512 (seed 0); NMSE uses the variance of the notebook's "
                     "4,000 training images", "Loss as the notebook: mse / data_variance + vq.loss (EMA codebook, "
                     "decay 0.95, beta 0.25); all 8,000 offline training images (the notebook uses 4,000).",
                     "course_lib.models.VQVAE with EMAVectorQuantizer (notebook 04's quick CFG)")
    write(name, model, card, args.out)
    return wall


# ---------------------------------------------------------------------------------------------------- 11
# Notebook 11, section 5 (the comparison at equal bits): three arms of the same VQGAN(vqgan_config("quick")).
# The arms and their losses live in course_lib.vqgan.ablation (ARM_LOSS, arm_loss_fn), shared with the notebook.
ARM_TITLE = {"11_vqvae": "MSE", "11_perceptual": "L1 + perceptual", "11_vqgan": "L1 + perceptual + GAN"}


DISC_START_11 = 100  # the notebook's quick run starts its discriminator at step 50 of 100; fixed, so that the
#                     run does not depend on its length (a --minutes run and its --steps N re-run are the same)


def train_11(name, args, steps):
    """steps=None: train for args.minutes of wall time (time budget), then record the steps reached."""
    from course_lib.train_vqgan import load_images
    from course_lib.vqgan import VQGAN, VQGANLoss, arm_config, arm_loss_fn, vqgan_config

    batch, lr = 16, 5e-4  # notebook 11's quick CFG
    disc_start = DISC_START_11
    arm = ARM_TITLE[name]
    cfg = arm_config(vqgan_config("quick", loss={"disc_start": disc_start},
                                  train={"n_train": None, "batch_size": batch, "lr": lr, "steps": steps or 0}), arm)
    x_train = load_images(cfg, "train", allow_stand_in=True)
    torch.manual_seed(args.seed)
    net = VQGAN(cfg)
    lm = VQGANLoss(cfg)
    betas = tuple(cfg["train"]["betas"])
    opts = {"gen": torch.optim.Adam(net.parameters(), lr=lr, betas=betas),
            "disc": torch.optim.Adam(lm.discriminator.parameters(), lr=lr, betas=betas)}
    loader = make_loader(x_train, batch_size=batch, seed=args.seed)
    loss_fn = arm_loss_fn(arm, net, lm)
    reached = [0]

    def counted(b, step):
        reached[0] = step + 1
        return loss_fn(b, step)

    t0 = time.time()
    fit(counted, opts, loader, steps=steps or 10**6, time_budget=None if steps else args.minutes * 60,
        model={"vqgan": net, "disc": lm.discriminator}, amp="auto", grad_clip=1.0, log_every=25, desc=name,
        progress=False, callback=progress(name))
    wall = time.time() - t0
    if args.calibrating:
        return wall
    steps = reached[0]
    cfg["train"]["steps"] = steps
    headline = pretrained.measure(name, net)
    data = {"name": "natural-photo 32x32", "split": "train", "n": len(x_train),
            "source": "course_lib.train_vqgan.load_images(vqgan_config('quick'), 'train') (offline natural crops)",
            "eval": "first 256 of the natural test crops (n=512) vs the other 256 as the KID reference, as notebook 11"}
    notes = (f"Arm '{ARM_TITLE[name]}' of notebook 11's comparison (same VQGAN, same bits per image); "
             f"perceptual backend {lm.backend!r}; discriminator from step {disc_start}"
             + (" (unused: disc_weight 0)" if cfg["loss"]["disc_weight"] == 0.0 else "")
             + f"; all {len(x_train):,} offline training crops (the notebook uses 2,000). Only the autoencoder is "
               "shipped (not the discriminator). Arms shipped: see course_lib.pretrained.list_shipped().")
    card = base_card(name, "11", args, steps, batch, lr, wall, data, cfg, headline,
                     "natural test crops: x_test[:256] (evaluated) vs x_test[256:512] (KID reference, judge net)",
                     notes, f"course_lib.vqgan.VQGAN(vqgan_config('quick')) -- {ARM_TITLE[name]} arm")
    write(name, net, card, args.out)
    return wall


# ---------------------------------------------------------------------------------------------------- 12
# Notebook 12: the tokenizer of course_lib.tokenizer (shared with notebook 13) and the class-conditional prior.
def train_12_tokenizer(args, steps):
    from course_lib.tokenizer import build_tokenizer, tokenizer_config, train_tokenizer

    name = "12_tokenizer"
    cfg = tokenizer_config("quick", steps=steps, smoke=False)
    train = load_dataset("fashion-mnist", "train", full=False)
    t0 = time.time()
    model, _ = train_tokenizer(build_tokenizer(cfg, seed=args.seed), train, cfg, seed=args.seed, checkpoint=None,
                               progress=False, log_every=max(1, steps // 20))
    wall = time.time() - t0
    if args.calibrating:
        return wall
    headline = pretrained.measure(name, model)
    data = {"name": "Fashion-MNIST", "split": "train", "n": len(train), "source": "offline subset (course_lib.data)",
            "eval": "fashion-mnist test, n=300 (seed 0), as notebook 12"}
    card = base_card(name, "12", args, steps, cfg["train"]["batch_size"], cfg["train"]["lr"], wall, data, cfg,
                     headline, "Fashion-MNIST offline test subset n=300 (seed 0): encode_all then decode_all",
                     "course_lib.tokenizer.train_tokenizer with tokenizer_config('quick', steps=...): L1 + quantizer "
                     f"loss (perceptual weight 0, no discriminator), as the notebook; all {len(train):,} offline "
                     "training images (the notebook uses 2,000).",
                     "course_lib.vqgan.VQGAN(course_lib.tokenizer.tokenizer_config('quick'))")
    write(name, model, card, args.out)
    return wall


PRIOR = dict(num_codes=64, seq_len=49, d_model=64, n_layers=2, n_heads=4, num_classes=10)  # notebook 12's quick CFG


def train_12_prior(args, steps):
    from course_lib.prior import CodePrior, weight_decay_groups

    name = "12_prior"
    tok = tokenizer_from(args.out, name)
    train = load_dataset("fashion-mnist", "train", full=False)
    tokens = pretrained.tokenize(tok, train.x)
    batch, lr = 64, 3e-3
    loader = make_loader((tokens, train.y), batch_size=batch, shuffle=True, seed=args.seed + 1)
    torch.manual_seed(args.seed)
    prior = CodePrior(**PRIOR)
    opt = torch.optim.AdamW(weight_decay_groups(prior, 0.01), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    wall = timed_fit(name, lambda b, step: {"loss": prior.nll(*b)}, opt, loader, steps, prior, scheduler=sched,
                     grad_clip=1.0)
    if args.calibrating:
        return wall
    headline = pretrained.measure(name, prior, tokenizer=tok)
    data = {"name": "Fashion-MNIST", "split": "train", "n": len(train), "tokens_of": "12_tokenizer",
            "source": "offline subset (course_lib.data), encoded by the shipped 12_tokenizer",
            "eval": "fashion-mnist test, n=300 (seed 0), encoded by 12_tokenizer, with labels"}
    card = base_card(name, "12", args, steps, batch, lr, wall, data, dict(PRIOR), headline,
                     "Fashion-MNIST offline test subset n=300 (seed 0), tokens of the shipped 12_tokenizer",
                     "As the notebook: AdamW (weight decay 0.01 on linear weights only), OneCycle (pct_start 0.1), "
                     f"grad clip 1; all {len(train):,} offline training images' tokens. Use it with 12_tokenizer "
                     "(it models that tokenizer's codes, not those of a tokenizer you trained).",
                     "course_lib.prior.CodePrior, class-conditional (notebook 12's quick CFG)")
    write(name, prior, card, args.out)
    return wall


# ---------------------------------------------------------------------------------------------------- 13
# Notebook 13, section 3: two RestorationNets on one trunk, super-resolution x4, the shipped tokenizer frozen.
RESTORERS = ("13_code_predictor", "13_l2_regressor")  # K logits per cell (K: the tokenizer's) / the L2 head


def train_13(name, args, steps):
    from course_lib.restoration import code_prediction_loss, degrade
    from course_lib.tokenizer import encode_all

    tok = tokenizer_from(args.out, name)
    num_codes = tok.quantizer.num_codes if name == "13_code_predictor" else None
    config = dict(num_codes=num_codes, ch=32, in_channels=1)  # notebook 13's quick CFG.rest_ch
    batch, lr = 32, 2e-3                                       # its CFG.batch_size and CFG.rest_lr
    train = load_dataset("fashion-mnist", "train", full=False)
    bad = degrade(train.x, pretrained.RESTORATION_FACTOR)
    codes = encode_all(tok, train.x)
    loader = make_loader((torch.cat([bad, train.x], 1), codes), batch_size=batch, shuffle=True, seed=args.seed + 1)
    torch.manual_seed(args.seed)
    net = pretrained.build_from_config(name, config)
    opt = torch.optim.Adam(net.parameters(), lr=lr)

    def loss_fn(b, step):  # the notebook's train_restorer loss
        pair, c = b
        x_bad, clean = pair[:, :1], pair[:, 1:]
        if num_codes is None:
            return {"loss": F.mse_loss(net(x_bad), clean)}
        return {"loss": code_prediction_loss(net(x_bad), c)}

    wall = timed_fit(name, loss_fn, opt, loader, steps, net)
    if args.calibrating:
        return wall
    headline = pretrained.measure(name, net, tokenizer=tok)
    data = {"name": "Fashion-MNIST", "split": "train", "n": len(train),
            "source": "offline subset (course_lib.data), degraded by course_lib.restoration.degrade (x4)"
                      + ("; targets: the codes of the shipped 12_tokenizer" if num_codes else ""),
            "eval": "fashion-mnist test, n=300 (seed 0), degraded x4, as notebook 13 section 4"}
    if num_codes:
        data["codes_of"] = "12_tokenizer"
    what = ("cross-entropy against the clean images' codes under the shipped 12_tokenizer (decode its argmax codes "
            "with that tokenizer)" if num_codes else "mean squared error against the clean image")
    card = base_card(name, "13", args, steps, batch, lr, wall, data, config, headline,
                     "Fashion-MNIST offline test subset n=300 (seed 0), box-filter x4 down + bicubic up; KID on the "
                     "course feature net (subsets of 100)",
                     f"As the notebook's train_restorer: Adam (constant lr), {what}; all {len(train):,} offline "
                     "training images (the notebook uses 2,000).",
                     f"course_lib.restoration.RestorationNet(num_codes={num_codes}, ch=32) (notebook 13's quick CFG)")
    write(name, net, card, args.out)
    return wall


TRAINERS = {"04_vqvae": train_04_vqvae,
            **{n: (lambda args, steps, n=n: train_11(n, args, steps)) for n in ARM_TITLE},
            "12_tokenizer": train_12_tokenizer, "12_prior": train_12_prior,
            **{n: (lambda args, steps, n=n: train_13(n, args, steps)) for n in RESTORERS}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", action="append", choices=sorted(DEFAULT_MINUTES), help="train only this one (repeatable)")
    p.add_argument("--steps", type=int, default=None, help="the step count (default: as many as fit --minutes)")
    p.add_argument("--minutes", type=float, default=None, help="wall budget per model (default: DEFAULT_MINUTES)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=ROOT / "course_lib" / "assets" / "pretrained")
    args = p.parse_args(argv)
    names = args.only or list(DEFAULT_MINUTES)
    for name in names:
        NAME[0], SEED[0] = name, args.seed
        steps = args.steps
        if steps is None and name.startswith("11_"):  # a wall budget (see train_11)
            args.minutes = args.minutes or DEFAULT_MINUTES[name]
            print(f"== {name}: {args.minutes} min of training", flush=True)
        elif steps is None:
            minutes = args.minutes or DEFAULT_MINUTES[name]
            wall = TRAINERS[name](argparse.Namespace(**{**vars(args), "calibrating": True}), CALIBRATION_STEPS)
            rate = CALIBRATION_STEPS / max(wall, 1e-6)
            steps = max(100, int(rate * minutes * 60 * 0.6) // 100 * 100)
            print(f"== {name}: calibration {rate:.1f} steps/s -> {steps} steps for {minutes} min", flush=True)
        print(f"== {name}: {steps or 'as many'} steps, {torch.get_num_threads()} threads", flush=True)
        TRAINERS[name](argparse.Namespace(**{**vars(args), "calibrating": False}), steps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
