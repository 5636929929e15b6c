"""Shared by the scripts under data/ that train a network the package ships: write its float16 weights and card.

The card (a JSON file beside the weights) says what the weights are, how they were made and what they measure;
``write_float16`` adds the facts common to every card (file, parameter count, dtype, size, torch version, date,
script) to the script's own ``info``.
"""
from __future__ import annotations

import datetime as _dt
import json
import sys
from pathlib import Path

import torch


def write_float16(net: torch.nn.Module, out: Path, stem: str, info: dict) -> dict:
    """Save ``net``'s state dict as float16 to ``out/<stem>.pt`` and the card to ``out/<stem>.json``; return the card."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{stem}.pt"
    torch.save({k: v.half().contiguous() for k, v in net.state_dict().items()}, path)
    card = {"file": path.name, **info,
            "parameters": sum(p.numel() for p in net.parameters()),
            "dtype": "float16 state dict",
            "bytes": path.stat().st_size,
            "torch": torch.__version__,
            "date": _dt.date.today().isoformat(),
            "script": f"data/{Path(sys.argv[0]).name}"}
    (out / f"{stem}.json").write_text(json.dumps(card, indent=2) + "\n")
    print(f"wrote {path} ({card['bytes'] / 1e6:.2f} MB) and {stem}.json")
    return card


def add_run_args(ap, out: Path) -> None:
    """The options every weight script takes: --seed, --threads, --out."""
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=out)


def start_run(args) -> torch.Generator:
    """Set the thread count and the seeds from ``args``; return the script's data-order generator."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    return torch.Generator().manual_seed(args.seed)
