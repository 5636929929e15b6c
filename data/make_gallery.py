"""The README gallery: one small PNG per part of the course, from the SHIPPED checkpoints only (no training).

    .venv/bin/python data/make_gallery.py            # writes data/gallery/part2_vqvae.png, part3_vqgan.png, part4_prior.png,
                                                     # part5_restoration.png and part6_tokenizers.png

Every image is made on held-out images (the notebooks' own evaluation splits) and titled with the steps and data of
the checkpoint it shows (from its card, course_lib/assets/pretrained/<name>.json).
"""
from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("COURSE_PROFILE", "quick")
os.environ.setdefault("COURSE_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from course_lib import pretrained  # noqa: E402

OUT = ROOT / "data" / "gallery"
N = 10  # images per row
# Text size: 11 pt at 100 dpi is about 15 px in the PNG, about 13 px once GitHub fits the image to its ~880 px column.
FONT, DPI = 11, 100


def _label(name: str) -> str:
    c = pretrained.card(name)
    th = c["machine"].get("threads", 1)
    return (f"{c['steps']:,} steps, batch {c['batch_size']}, {c['data']['n']:,} {c['data']['name']} training images "
            f"({c['wall_seconds'] / 60:.0f} min, {th} CPU thread{'s' if th != 1 else ''})")


def _grid(rows, row_titles, title, path, scale=0.9, col_titles=None):
    n_rows, n = len(rows), rows[0].shape[0]
    fig, axes = plt.subplots(n_rows, n, figsize=(n * scale + 1.4, n_rows * scale + 0.7), squeeze=False)
    for r, (imgs, label) in enumerate(zip(rows, row_titles)):
        for i in range(n):
            ax = axes[r, i]
            img = imgs[i].detach().float().clamp(0, 1).permute(1, 2, 0).numpy()
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=FONT)
    for i, t in enumerate(col_titles or []):
        axes[0, i].set_title(t, fontsize=FONT - 1)
    # Wrap the title to the figure's width (about 1.7 characters per point of font size per inch), so it is never cut.
    width_chars = int(fig.get_figwidth() * 72 / FONT * 1.7)
    lines = [ln for para in title.split("\n") for ln in textwrap.wrap(para, width_chars)]
    fig.tight_layout()
    top = max(ax.get_position().y1 for ax in axes.flat)   # the title sits just above the grid; the saved image
    fig.suptitle("\n".join(lines), fontsize=FONT, y=top + 0.01, va="bottom")   # grows to hold it
    fig.savefig(path, dpi=DPI, bbox_inches="tight", pad_inches=0.1)
    plt.close(fig)
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")


@torch.no_grad()
def part2(out: Path):
    name = "04_vqvae"
    model = pretrained.build(name)
    x, _ = pretrained._eval_data(name)
    x = x[:N]
    h = pretrained.card(name)["headline"]
    _grid([x, model(x).x_hat], ["held-out", "VQ-VAE"],
          f"Part II (notebook 04): VQ-VAE reconstructions from 7x7 codes, K=128 -- {_label(name)}\n"
          f"test PSNR {h['test_psnr_db']:.1f} dB, NMSE {h['test_nmse']:.3f}, {h['codes_used']:.0f} codes used",
          out / "part2_vqvae.png")


@torch.no_grad()
def part3(out: Path):
    arms = [("11_vqvae", "MSE (VQ-VAE)", "MSE"), ("11_perceptual", "L1 + perceptual", "L1 + perceptual"),
            ("11_vqgan", "VQ-GAN", "L1 + perceptual + GAN")]
    arms = [arm for arm in arms if arm[0] in pretrained.list_shipped()]
    x, _ = pretrained._eval_data(arms[0][0])
    x = x[:N]
    heads = [pretrained.card(name)["headline"] for name, _, _ in arms]
    recs = [pretrained.build(name)(x)[0] for name, _, _ in arms]
    rows = [f"{row}\nPSNR {h['psnr_db']:.1f} dB\njudge KID {h['kid_judge_x1e3']:.0f}"
            for (_, row, _), h in zip(arms, heads)]
    _grid([x] + recs, ["held-out"] + rows,
          f"Part III (notebook 11): same network, same 8x8 codes (K=128), three losses -- each "
          f"{_label('11_vqgan').replace(' (', ' (VQ-GAN ')}\n(judge KID x1e3 over 256 held-out crops: lower = "
          f"closer to real)",
          out / "part3_vqgan.png", scale=1.0)


@torch.no_grad()
def part4(out: Path):
    from course_lib.prior import unflatten_grid

    tok, prior = pretrained.build("12_tokenizer"), pretrained.build("12_prior")
    names = ["T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]
    gen = torch.Generator().manual_seed(0)
    rows = []
    for r in range(3):
        labels = torch.arange(10)
        tokens = prior.sample(10, temperature=1.0, top_k=16, labels=labels, generator=gen)
        rows.append(tok.decode_indices(unflatten_grid(tokens, 7, 7)))
    h = pretrained.card("12_prior")["headline"]
    _grid(rows, [f"sample {r + 1}" for r in range(3)],
          f"Part IV (notebook 12): class-conditional samples (one column per class, top-k 16) over the codes of a small "
          f"tokenizer with the VQ-GAN's architecture, trained with L1 and the quantizer loss only (no perceptual or "
          f"adversarial term) -- prior: "
          f"{_label('12_prior')};\ntokenizer: {_label('12_tokenizer')}; held-out "
          f"{h['test_bits_per_token']:.2f} bits/token (uniform {h['uniform_bits_per_token']:.0f})",
          out / "part4_prior.png", col_titles=names)


@torch.no_grad()
def part5(out: Path):
    from course_lib.restoration import degrade, restore
    from course_lib.tokenizer import decode_all

    tok = pretrained.build("12_tokenizer")
    code_net, l2_net = pretrained.build("13_code_predictor"), pretrained.build("13_l2_regressor")
    x, _ = pretrained._eval_data("13_code_predictor")
    x = x[:N]
    bad = degrade(x, pretrained.RESTORATION_FACTOR)
    hc, hl = pretrained.card("13_code_predictor")["headline"], pretrained.card("13_l2_regressor")["headline"]
    _grid([x, bad, restore(l2_net, bad), restore(code_net, bad, decode=lambda c: decode_all(tok, c))],
          ["held-out", f"bicubic x{pretrained.RESTORATION_FACTOR}", "L2 regressor", "code predictor"],
          f"Part V (notebook 13): super-resolution x{pretrained.RESTORATION_FACTOR} from 7x7 pixels -- each restorer "
          f"{_label('13_code_predictor')}; the code predictor's codes are decoded by the shipped tokenizer\n"
          f"L2 regressor: PSNR {hl['psnr_db']:.1f} dB, KID x1e3 {hl['kid_x1e3']:.0f}; code predictor: PSNR "
          f"{hc['psnr_db']:.1f} dB, KID x1e3 {hc['kid_x1e3']:.0f} (course feature net, 300 held-out images)",
          out / "part5_restoration.png")


def part6(out: Path):
    """Notebook 14's long-trained tokenizers, from their cards only: quality against code usage at 10 bits per token,
    and one residual-VQ model trained with quantizer dropout, decoded at 1-4 levels, against a model per rate."""
    arms = [("14_vq", "VQ"), ("14_rvq", "residual VQ"), ("14_fsq", "FSQ"), ("14_lfq", "LFQ"), ("14_bsq", "BSQ"),
            ("14_simvq", "SimVQ")]
    arms = [(n, lab) for n, lab in arms if n in pretrained.list_shipped()]
    heads = {n: pretrained.card(n)["headline"] for n, _ in arms}
    tokens = 49  # a 7x7 code grid per 28x28 image
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    for n, lab in arms:
        h = heads[n]
        a.scatter(h["usage"] * 100, h["psnr"], s=40)
        left = n == "14_rvq"   # residual VQ sits just above VQ: label it on the left
        a.annotate(f"{lab}\n(KID {h['kid_x1e3']:.0f})", (h["usage"] * 100, h["psnr"]), textcoords="offset points",
                   xytext=(-6, -4) if left else (6, -4), ha="right" if left else "left", fontsize=FONT - 2)
    a.set_xlabel("codes used on 256 test images (% of 1,024)", fontsize=FONT)
    a.set_ylabel("test PSNR (dB)", fontsize=FONT)
    a.set_title(f"10 bits per token, {tokens * 10} bits per image", fontsize=FONT)
    a.set_xlim(0, 115)
    a.set_ylim(top=max(h["psnr"] for h in heads.values()) + 0.4)
    drop = pretrained.card("14_rvq_dropout")["headline"]
    levels = [1, 2, 3, 4]
    bits = [tokens * 4 * k for k in levels]
    b.plot(bits, [drop[f"psnr_levels_{k}"] for k in levels], "o-", label="one model, quantizer dropout, 1-4 levels")
    b.plot(bits, [pretrained.card(f"14_rvq_rate{k}")["headline"]["psnr"] for k in levels], "s--",
           label="a separate model per rate")
    b.set_xticks(bits)
    b.set_xlabel("bits per image", fontsize=FONT)
    b.set_ylabel("test PSNR (dB)", fontsize=FONT)
    b.set_title("residual VQ: rate control", fontsize=FONT)
    b.legend(fontsize=FONT - 2, loc="lower right")
    for ax in (a, b):
        ax.tick_params(labelsize=FONT - 1)
        ax.grid(alpha=0.3)
    fig.suptitle(f"Part VI (notebook 14): today's tokenizers on one autoencoder -- each {_label('14_vq')}, seed 0\n"
                 "KID x1e3 by the judge net, 256 test images against 256 others", fontsize=FONT)
    fig.tight_layout()
    path = out / "part6_tokenizers.png"
    fig.savefig(path, dpi=DPI, bbox_inches="tight", pad_inches=0.1)
    plt.close(fig)
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")


def main() -> int:
    torch.manual_seed(0)
    OUT.mkdir(parents=True, exist_ok=True)
    shipped = pretrained.list_shipped()
    for need, fn in ((("04_vqvae",), part2), (("11_vqvae", "11_vqgan"), part3), (("12_tokenizer", "12_prior"), part4),
                     (("12_tokenizer", "13_code_predictor", "13_l2_regressor"), part5),
                     (("14_vq", "14_rvq_dropout", "14_rvq_rate1"), part6)):
        if all(n in shipped for n in need):
            fn(OUT)
        else:
            print(f"skipped {fn.__name__}: {', '.join(n for n in need if n not in shipped)} not shipped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
