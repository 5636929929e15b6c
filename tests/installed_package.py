"""Run the course the way Colab runs it: a built wheel, installed non-editable outside the checkout, notebooks
executed from an empty working directory, offline (``make test-installed``; part of ``make test``).

1. ``pip wheel`` builds course_lib's wheel; its size is printed and its data files are checked.
2. ``pip install --no-deps --target <tmp>/site`` installs it apart from the checkout (torch is not reinstalled).
3. A bare virtual environment sees <tmp>/site first and this environment's packages (torch, jupyter) after it,
   but not the editable install of the checkout, so ``import course_lib`` can only find the installed copy.
4. Notebooks run in a kernel of that environment from an empty folder with COURSE_OFFLINE=1 under ``quick``;
   a first cell asserts that ``course_lib.__file__`` is the installed copy.

Usage: python tests/installed_package.py [notebook names ...]   (default: 00_setup 04_vqvae 07_perceptual_loss)
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ["00_setup", "04_vqvae", "07_perceptual_loss"]
MUST_SHIP = ["course_lib/assets/offline/mnist.npz", "course_lib/assets/offline/fashion_mnist.npz",
             "course_lib/assets/offline/natural.npz", "course_lib/assets/weights/feature_net.pt",
             "course_lib/assets/LICENSES.md"]

RUNNER = r'''
import json, sys, time, nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
nb_path, workdir, site = sys.argv[1], sys.argv[2], sys.argv[3]
nb = nbformat.read(nb_path, as_version=4)
probe = ("import course_lib, sys\n"
         f"assert course_lib.__file__.startswith({site!r}), f'course_lib came from {{course_lib.__file__}}, not the installed copy'\n"
         "print('course_lib from', course_lib.__file__)")
nb.cells.insert(0, nbformat.v4.new_code_cell(probe))
t0 = time.monotonic()
client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": workdir}})
try:
    client.execute()
    error = None
except CellExecutionError as exc:
    error = str(exc).strip().splitlines()[-1][:400]
print(json.dumps({"seconds": round(time.monotonic() - t0, 1), "error": error}))
'''


def run(cmd, **kw):
    print("$", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def main(names) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="course-installed-"))
    try:
        wheel_dir, site, venv, work = tmp / "wheel", tmp / "site", tmp / "venv", tmp / "work"
        work.mkdir()
        run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheel_dir), str(ROOT)])
        wheel = next(wheel_dir.glob("course_lib-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            files = set(z.namelist())
        missing = [f for f in MUST_SHIP if f not in files]
        print(f"wheel {wheel.name}: {wheel.stat().st_size / 2**20:.1f} MiB, {len(files)} files")
        if missing:
            print(f"FAILED: the wheel lacks {missing}")
            print("0 passed, 1 failed")
            return 1
        run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)])
        run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
        vpy = venv / "bin" / "python"
        vsite = Path(subprocess.check_output([str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                             text=True).strip())
        # installed copy first; this environment's packages (torch, jupyter, ...) after it; no editable finder
        (vsite / "_course_test.pth").write_text(f"{site}\n{sysconfig.get_paths()['purelib']}\n")
        check = subprocess.run([str(vpy), "-c", "import course_lib; print(course_lib.__file__)"], cwd=work,
                               capture_output=True, text=True, check=True).stdout.strip()
        assert check.startswith(str(site)), f"the bare environment imports course_lib from {check}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_")}
        env.update(COURSE_PROFILE="quick", COURSE_OFFLINE="1", OMP_NUM_THREADS="1", MPLBACKEND="Agg",
                   PYTHONNOUSERSITE="1", HOME=str(tmp / "home"))
        passed = failed = 0
        for name in names:
            src = ROOT / "notebooks" / f"{name}.ipynb"
            out = subprocess.run([str(vpy), "-c", RUNNER, str(src), str(work), str(site)], cwd=work, env=env,
                                 capture_output=True, text=True)
            try:
                result = json.loads(out.stdout.strip().splitlines()[-1])
            except (IndexError, json.JSONDecodeError):
                result = {"seconds": None, "error": (out.stderr or out.stdout).strip()[-600:]}
            ok = result["error"] is None
            passed += ok
            failed += not ok
            print(f"{name:<32} {result['seconds']} s  {'ok' if ok else 'FAILED: ' + str(result['error'])}", flush=True)
        leftovers = sorted(p.name for p in work.iterdir())
        print(f"working directory after the run: {leftovers}")
        print(f"{passed} passed, {failed} failed")
        return 1 if failed else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    t0 = time.monotonic()
    code = main(sys.argv[1:] or DEFAULT)
    print(f"installed-package run: {time.monotonic() - t0:.0f} s")
    sys.exit(code)
