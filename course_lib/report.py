"""Run the course and report what it cost and what it measured: the smoke pass of ``make test`` and ``make gpu-report``.

    python -m course_lib.report --profile standard --smoke --out build/smoke-report        # CPU, 3 steps a notebook
    python -m course_lib.report --profile standard --vqgan-steps 500 --out build/gpu-report  # a CUDA machine

Each notebook is executed headless (two at a time with ``--jobs 2``) in a kernel that inherits this process's
environment; a last cell, added to the executed copy only, records the kernel's peak memory (CPU resident set and,
on CUDA, ``torch.cuda.max_memory_allocated``) and every claim the notebook made (``course_lib.claims``: its headline
figures, with the measured numbers in each message). With ``--vqgan-steps N`` the report also times
``python -m course_lib.train_vqgan`` for N steps of the profile's preset (images per second).

Writes ``<out>/report.md`` (a table to paste into the README), ``<out>/report.json`` and ``<out>/executed/*.ipynb``
(with outputs, to look at). Ends with the line "N passed, M failed" and exits non-zero when a notebook failed.

Training FLOPs: ``course_lib.train.fit`` counts one step's FLOPs (torch.utils.flop_counter) per set of active
optimisers and multiplies by the steps; under smoke it scales to the planned (uncut) step count. The report turns
the total into an *estimated* T4 time at an assumed sustained throughput (:data:`T4_SUSTAINED_TFLOPS`): an
estimate, labelled so, until a GPU run measures it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
MARK = "@@COURSE_REPORT@@"
# An estimate, stated as one: sustained throughput assumed for a Colab T4 on the course's small mixed-precision
# models (about 12% of its 65 TFLOP/s fp16 tensor-core peak, the size of its 8.1 TFLOP/s fp32 peak). Measured
# figures replace it once `make gpu-report` has run on a GPU.
T4_SUSTAINED_TFLOPS = 8.0
PROBE = f'''import json as _json, resource as _resource, torch as _torch
from course_lib import claims as _claims, train as _train
print({MARK!r} + _json.dumps({{
    "peak_rss_mib": round(_resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    "peak_cuda_mib": round(_torch.cuda.max_memory_allocated() / 2**20, 1) if _torch.cuda.is_available() else None,
    "claims": _claims.recorded_claims(),
    "fits": _train.FLOP_LOG,
}}))'''


def run_notebook(path: Path, out_dir: Path, timeout: int = 3600) -> Dict:
    """Execute one notebook with the probe cell appended; returns its row of the report."""
    from .build import execute_one

    nb, seconds, error = execute_one(path, out_dir, timeout, extra_cells=[PROBE])
    row = {"notebook": path.stem, "seconds": round(seconds, 1), "error": error, "peak_rss_mib": None,
           "peak_cuda_mib": None, "claims": [], "fits": []}
    for output in nb.cells[-1].get("outputs", []):
        text = output.get("text", "")
        if MARK in text:
            row.update(json.loads(text.split(MARK, 1)[1].strip().splitlines()[0]))
    row["train_tflops_planned"] = round(sum(f["flops_planned"] for f in row["fits"]) / 1e12, 3)
    row["t4_minutes_estimate"] = round(row["train_tflops_planned"] / T4_SUSTAINED_TFLOPS / 60, 1)
    return row


def time_vqgan(profile: str, steps: int, out_dir: Path) -> Dict:
    """Time ``python -m course_lib.train_vqgan`` for ``steps`` steps of the profile's preset."""
    run_dir = out_dir / "train_vqgan"
    cmd = [sys.executable, "-m", "course_lib.train_vqgan", "--config", profile, "--steps", str(steps),
           "--out", str(run_dir), "--no-progress"]
    cfg = json.loads(subprocess.check_output(cmd + ["--print-config"], text=True))
    batch = int(cfg["train"]["batch_size"])
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.monotonic() - t0
    row = {"command": " ".join(cmd[1:]), "steps": steps, "batch_size": batch, "seconds": round(seconds, 1),
           "images_per_second": round(steps * batch / seconds, 1) if proc.returncode == 0 else None,
           "error": None if proc.returncode == 0 else (proc.stderr or proc.stdout).strip()[-400:]}
    summary = run_dir / "summary.json"
    if summary.is_file():
        row["summary"] = json.loads(summary.read_text())
    return row


def machine() -> Dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
            "platform": platform.platform(terse=True)}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info["gpu"] = f"{p.name}, {p.total_memory / 2**30:.0f} GiB"
    return info


def markdown(report: Dict) -> str:
    env = report["environment"]
    lines = [f"# Course run: profile `{env['profile']}`" + (" (smoke: 3 steps a notebook)" if env["smoke"] else ""),
             "", "Machine: " + ", ".join(f"{k} {v}" for k, v in report["machine"].items()), "",
             "| notebook | wall time (s) | peak CPU memory (MiB) | peak GPU memory (MiB) | training TFLOP (planned run) "
             f"| est. T4 training min (at {T4_SUSTAINED_TFLOPS:g} TFLOP/s) | claims held | status |",
             "|---|---|---|---|---|---|---|---|"]
    for r in report["notebooks"]:
        held = sum(c["held"] for c in r["claims"])
        gpu = "-" if r["peak_cuda_mib"] is None else f"{r['peak_cuda_mib']:.0f}"
        rss = "-" if r["peak_rss_mib"] is None else f"{r['peak_rss_mib']:.0f}"
        status = "ok" if r["error"] is None else f"FAILED: {r['error'][:120]}"
        tf, t4 = r.get("train_tflops_planned", 0.0), r.get("t4_minutes_estimate", 0.0)
        lines.append(f"| {r['notebook']} | {r['seconds']:.0f} | {rss} | {gpu} | {tf:.3g} | {t4:.1f} "
                     f"| {held}/{len(r['claims'])} | {status} |")
    if report.get("train_vqgan"):
        v = report["train_vqgan"]
        lines += ["", f"`{v['command']}`: {v['seconds']:.0f} s, {v['images_per_second']} images/s "
                      f"(batch {v['batch_size']})" + (f" FAILED: {v['error']}" if v["error"] else "")]
    lines += ["", "## Headline figures (each notebook's claims, with the measured numbers)", ""]
    for r in report["notebooks"]:
        if r["claims"]:
            lines.append(f"**{r['notebook']}**")
            lines += [f"- {'holds' if c['held'] else 'does NOT hold'}"
                      f"{'' if c.get('kind', 'measured') == 'measured' else ' (' + c['kind'] + ')'}: {c['message']}"
                      for c in r["claims"]]
            lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m course_lib.report", description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/NN_*.ipynb")
    ap.add_argument("--profile", default=None, help="quick, standard or full (default: $COURSE_PROFILE or by device)")
    ap.add_argument("--smoke", action="store_true", help="smoke mode: the profile's shapes, 3 steps (COURSE_SMOKE=1)")
    ap.add_argument("--jobs", type=int, default=1, help="notebooks run at the same time")
    ap.add_argument("--vqgan-steps", type=int, default=0, help="also time train_vqgan for this many steps")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "gpu-report")
    ap.add_argument("--null-screen", action="store_true",
                    help="this run is a null run (smoke: nothing trained): fail when a 'measured' claim holds in it")
    args = ap.parse_args(argv)
    if args.profile:
        os.environ["COURSE_PROFILE"] = args.profile
    if args.smoke:
        os.environ["COURSE_SMOKE"] = "1"
    from .profiles import active_profile, smoke_active

    profile = active_profile()
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    executed = args.out / "executed"
    executed.mkdir(parents=True, exist_ok=True)
    print(f"running {len(paths)} notebooks under {profile!r}{' (smoke)' if smoke_active() else ''}, "
          f"{args.jobs} at a time -> {args.out}", flush=True)
    t0 = time.monotonic()

    def one(p):
        row = run_notebook(Path(p), executed)
        status = "ok" if row["error"] is None else f"FAILED: {row['error']}"
        print(f"{row['notebook']:<40} {row['seconds']:7.1f} s  peak {row['peak_rss_mib']} MiB  {status}", flush=True)
        return row

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = list(pool.map(one, paths))
    report = {"environment": {"profile": profile, "smoke": smoke_active(),
                              "offline": os.environ.get("COURSE_OFFLINE", ""), "device": os.environ.get("COURSE_DEVICE", "")},
              "machine": machine(), "notebooks": rows, "total_seconds": round(time.monotonic() - t0, 1)}
    if args.vqgan_steps > 0:
        report["train_vqgan"] = time_vqgan(profile, args.vqgan_steps, args.out)
        print(f"train_vqgan: {report['train_vqgan']['images_per_second']} images/s", flush=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    (args.out / "report.md").write_text(markdown(report))
    failed = [r for r in rows if r["error"]] + ([report["train_vqgan"]] if report.get("train_vqgan", {}).get("error") else [])
    print(f"report: {args.out / 'report.md'} ({report['total_seconds']:.0f} s)")
    print(f"{len(rows) + bool(report.get('train_vqgan')) - len(failed)} passed, {len(failed)} failed")
    screened = []
    if args.null_screen:
        from .claims import null_screen

        screened = null_screen(rows)
        (args.out / "null-screen.txt").write_text("".join(f"{n}: {m}\n" for n, m in screened))
        kinds = [c.get("kind", "measured") for r in rows for c in r["claims"]]
        print(f"null screen: {len(kinds)} claims ({kinds.count('measured')} measured, "
              f"{kinds.count('demonstration')} demonstrations, {kinds.count('sanity')} sanity checks); "
              f"{len(screened)} measured claim(s) held in this null run" + (":" if screened else ""))
        for n, m in screened:
            print(f"  {n}: {m}")
        if screened:
            print("A measured claim that holds when nothing was trained is not evidence: rewrite it so that it can "
                  "fail, or declare it with claim(..., kind='demonstration') or kind='sanity'.")
    return 1 if failed or screened else 0


if __name__ == "__main__":
    sys.exit(main())
