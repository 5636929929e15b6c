"""How the course installs where its users are: Colab's preinstalled packages are never replaced, the set-up cell
installs only where course_lib is missing and pins a release, and the package carries its data."""
import re
import sys
import tomllib
import types
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

import course_lib
from course_lib import colab
from course_lib.data import DATASETS, package_asset

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# What a Colab GPU runtime preinstalls: googlecolab/backend-info, pip-freeze.gpu.txt and os-info-gpu.txt at commit
# a72407924822ea377410b69f0a290150bcb5c9c2 (2026-08-19, "Upgrade to Python 3.13"), the newest at the time of writing.
# If a lower bound of course_lib excluded one of these, `pip install course-lib` would replace Colab's own copy
# (for ipywidgets 7.x that breaks tqdm's bars and the sliders; for torch it means a 2 GB download).
COLAB_SOURCE = "googlecolab/backend-info@a72407924822ea377410b69f0a290150bcb5c9c2"
COLAB_PREINSTALLED = {
    "python": "3.13.15",
    "torch": "2.11.0",
    "torchvision": "0.26.0",
    "numpy": "2.1.3",
    "matplotlib": "3.10.0",
    "ipywidgets": "7.7.1",
    "tqdm": "4.67.3",
    "pillow": "11.3.0",
    "scikit-image": "0.25.2",
    # scipy was added later, from the stored copy of the same file at backend-info@03a89033b7dd (scipy 1.16.3)
    "scipy": "1.16.3",
}
# What else the set-up cell meets there (not dependencies of course_lib, but what it runs under).
COLAB_RUNTIME = {"ipython": "7.34.0", "ipykernel": "6.17.1", "pip": "24.1.2"}


def _requirements(group=None):
    deps = PYPROJECT["project"]["dependencies"] if group is None else PYPROJECT["project"]["optional-dependencies"][group]
    return [Requirement(d) for d in deps]


def test_no_lower_bound_forces_colab_to_reinstall():
    runtime = {r.name.lower(): r for r in _requirements()}
    assert set(COLAB_PREINSTALLED) - {"python"} == set(runtime), "keep the Colab table in step with the dependencies"
    for name, version in COLAB_PREINSTALLED.items():
        if name == "python":
            continue
        assert runtime[name].specifier.contains(version), f"{name}{runtime[name].specifier} rejects Colab's {version}"
    assert SpecifierSet(PYPROJECT["project"]["requires-python"]).contains(COLAB_PREINSTALLED["python"])


def test_bounds_that_matter():
    runtime = {r.name.lower(): r for r in _requirements()}
    # torch.amp.GradScaler("cuda") (used by course_lib.train) first appears in torch 2.3.
    assert not runtime["torch"].specifier.contains("2.2.0") and runtime["torch"].specifier.contains("2.3.0")
    assert runtime["ipywidgets"].specifier.contains("7.7.1") and runtime["ipywidgets"].specifier.contains("8.1.5")
    assert not any(s.operator in ("==", "<", "<=", "~=") for r in _requirements() for s in r.specifier), \
        "lower bounds only"
    assert PYPROJECT["project"]["requires-python"] == ">=3.10"


def test_metrics_extra_brings_real_lpips_and_fid():
    names = {r.name.lower() for r in _requirements("metrics")}
    assert names == {"torchmetrics", "lpips"}
    assert any("image" in r.extras for r in _requirements("metrics") if r.name == "torchmetrics")


def test_the_version_is_written_once_and_the_release_pinned_is_a_release():
    assert PYPROJECT["project"]["dynamic"] == ["version"] and "version" not in PYPROJECT["project"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "course_lib.__version__"}
    init = (ROOT / "course_lib" / "__init__.py").read_text()
    assert len(re.findall(r"^__version__ = \"([^\"]+)\"$", init, re.M)) == 1, "setuptools reads one literal"
    assert colab.is_release(colab.RELEASE) and colab.REF == f"v{colab.RELEASE}"
    # at a release the two agree; between releases main carries the next development version
    if colab.is_release(course_lib.__version__):
        assert colab.RELEASE == course_lib.__version__
    else:
        assert Version(course_lib.__version__) > Version(colab.RELEASE)
    urls = PYPROJECT["project"]["urls"]
    assert all(u.startswith(colab.REPO_URL) for u in urls.values()), "pyproject's URLs name another repository"
    assert urls["Errata"] == colab.ERRATA_URL and (ROOT / "ERRATA.md").is_file() and (ROOT / "CHANGELOG.md").is_file()


def test_setup_cell_installs_only_when_missing_or_another_release_and_pins_it():
    cell = colab.SETUP_CELL
    assert cell.index("import course_lib") < cell.index("except (ImportError") < cell.index("%pip install")
    assert "subprocess" not in cell, "pip in a subprocess hides its errors behind CalledProcessError"
    ref = colab.REF
    assert re.fullmatch(r"v\d+\.\d+\.\d+", ref) and ref not in ("main", "master"), "pin a release tag"
    assert f"@{ref}" in colab.PIP_SPEC and "[metrics]" in colab.PIP_SPEC
    assert f"/blob/{ref}/notebooks/student/" in colab.colab_url("00_setup.ipynb")
    assert f'RELEASE = "{colab.RELEASE}"' in cell and "setup_notebook(seed=0, release=RELEASE)" in cell
    assert "# course_lib.env.keep_runs_on_drive()" in cell, "the Drive line, commented, in every set-up cell"
    assert "restart the kernel" in cell, "say when pip's note about restarting applies"
    # the .py twin holds the same cell with the magic commented, as jupytext writes it
    assert colab.SETUP_CELL_PY.replace("# %pip", "%pip") == cell


def _run_setup_cell(fake_version: str, fake_file: str):
    """Run the set-up cell with a stand-in course_lib and %pip: what the cell decides to do."""
    from IPython.core.inputtransformer2 import TransformerManager

    code = TransformerManager().transform_cell(colab.SETUP_CELL)
    calls = []
    fake = types.ModuleType("course_lib")
    fake.__version__, fake.__file__ = fake_version, fake_file
    fake.setup_notebook = lambda **kw: calls.append(("setup_notebook", kw)) or "ENV"

    class IP:
        def run_line_magic(self, name, line):
            calls.append((name, line))

    saved = sys.modules.get("course_lib")
    sys.modules["course_lib"] = fake
    try:
        exec(compile(code, "<setup cell>", "exec"), {"get_ipython": lambda: IP()})
    finally:
        sys.modules["course_lib"] = saved
    return calls


def test_setup_cell_keeps_a_checkout_and_replaces_another_installed_release():
    rel = colab.RELEASE
    # a checkout (make lab, an editable install): imported whatever its version, nothing installed
    calls = _run_setup_cell("9.9.9.dev0", "/home/me/course/course_lib/__init__.py")
    assert [c[0] for c in calls] == ["setup_notebook"] and calls[0][1]["release"] == rel
    # the notebook's own release installed by pip: only imported
    calls = _run_setup_cell(rel, "/usr/local/lib/python3.13/dist-packages/course_lib/__init__.py")
    assert [c[0] for c in calls] == ["setup_notebook"]
    # another release left by pip in a persistent kernel (Colab's dist-packages, a hub's site-packages): reinstalled
    for where in ("/usr/local/lib/python3.13/dist-packages", "/opt/conda/lib/python3.12/site-packages"):
        calls = _run_setup_cell("0.0.1", f"{where}/course_lib/__init__.py")
        assert calls[0] == ("pip", f'install -q "{colab.PIP_SPEC}"') and calls[-1][0] == "setup_notebook"


def test_setup_notebook_asks_for_a_restart_when_the_kernel_holds_another_release(monkeypatch):
    import course_lib.env as env

    env.check_release(None)
    env.check_release(course_lib.__version__)
    env.check_release("0.0.1")  # a checkout: accepted whatever the notebook's release
    monkeypatch.setattr(course_lib, "__file__", "/usr/lib/python3/dist-packages/course_lib/__init__.py")
    with pytest.raises(RuntimeError, match="Restart the kernel"):
        env.check_release("0.0.1")


def test_setup_cell_is_valid_ipython():
    from IPython.core.inputtransformer2 import TransformerManager

    code = TransformerManager().transform_cell(colab.SETUP_CELL)
    compile(code, "<setup cell>", "exec")
    assert "run_line_magic('pip'" in code


def test_package_data_ships_the_offline_subsets_weights_and_licences():
    for info in DATASETS.values():
        if info.offline_file:
            assert package_asset("offline", info.offline_file).is_file()
    assert package_asset("weights", "feature_net.pt").is_file()
    assert package_asset("LICENSES.md").is_file()
    globs = PYPROJECT["tool"]["setuptools"]["package-data"]["course_lib"]
    assert "assets/offline/*.npz" in globs and "assets/weights/*" in globs
    assert (ROOT / "LICENSE").is_file() and "LICENSE" in PYPROJECT["project"]["license-files"]


def test_environment_yml_takes_torch_from_conda_forge():
    text = (ROOT / "environment.yml").read_text()
    channels = text.split("channels:", 1)[1].split("dependencies:", 1)[0]
    assert "conda-forge" in channels and "pytorch" not in channels
    assert re.search(r"-\s+python>=3\.10\s*$", text, re.M)


def _conda_names(text):
    alias = {"pytorch": "torch", "pytorch-cpu": "torch"}
    names = set()
    for line in text.split("dependencies:", 1)[1].splitlines():
        m = re.match(r"^\s*-\s+([A-Za-z0-9_.\-]+)", line)
        if m and m.group(1) not in ("pip", "python"):
            names.add(alias.get(m.group(1).lower(), m.group(1).lower()))
    return names


def test_binder_opens_the_student_edition_with_the_students_packages():
    text = (ROOT / "binder" / "environment.yml").read_text()
    assert re.search(r"-\s+python=3\.1[0-9]\s*$", text, re.M), "repo2docker reads python=X.Y (not >=)"
    wanted = {r.name.lower() for r in _requirements()} | {r.name.lower() for r in _requirements("lab")}
    assert _conda_names(text) == wanted, "binder/environment.yml: the runtime dependencies and the lab extra"
    assert "nbgrader" not in text and "pip install --no-deps ." in (ROOT / "binder" / "postBuild").read_text()
    assert (ROOT / "binder" / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"
    assert "urlpath=lab/tree/notebooks/student/00_setup.ipynb" in colab.BINDER_URL and colab.REF in colab.BINDER_URL
    readme = (ROOT / "README.md").read_text()
    assert colab.binder_badge_markdown() in readme


def test_the_colab_table_names_its_source_and_the_runtime_meets_the_lower_bounds():
    assert re.fullmatch(r"googlecolab/backend-info@[0-9a-f]{40}", COLAB_SOURCE)
    assert Version(COLAB_PREINSTALLED["python"]) >= Version("3.13")
    runtime = {r.name.lower(): r for r in _requirements()}
    assert runtime["scikit-image"].specifier.contains(COLAB_PREINSTALLED["scikit-image"])
    assert Version(COLAB_RUNTIME["ipython"]) >= Version("7.0"), "the set-up cell's %pip needs IPython's magics"
