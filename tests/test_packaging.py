"""How the course installs where its users are: Colab's preinstalled packages are never replaced, the set-up cell
installs only where course_lib is missing and pins a release, and the package carries its data."""
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from course_lib import colab
from course_lib.data import DATASETS, package_asset

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# What a Colab GPU runtime preinstalls (googlecolab/backend-info, pip-freeze.gpu.txt, 2026), Python 3.12.
# If a lower bound of course_lib excluded one of these, `pip install course-lib` would replace Colab's own copy
# (for ipywidgets 7.x that breaks tqdm's bars and the sliders; for torch it means a 2 GB download).
COLAB_PREINSTALLED = {
    "python": "3.12",
    "torch": "2.11.0",
    "torchvision": "0.26.0",
    "numpy": "2.0.2",
    "matplotlib": "3.10.0",
    "ipywidgets": "7.7.1",
    "tqdm": "4.67.3",
    "pillow": "11.3.0",
}


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


def test_setup_cell_installs_only_when_missing_and_pins_a_release():
    cell = colab.SETUP_CELL
    assert cell.index("import course_lib") < cell.index("except ImportError:") < cell.index("%pip install")
    assert "subprocess" not in cell, "pip in a subprocess hides its errors behind CalledProcessError"
    ref = colab.REF
    assert re.fullmatch(r"v\d+\.\d+\.\d+", ref) and ref not in ("main", "master"), "pin a release tag"
    assert f"@{ref}" in colab.PIP_SPEC and "[metrics]" in colab.PIP_SPEC
    assert f"/blob/{ref}/notebooks/" in colab.colab_url("00_setup.ipynb")
    assert ref == "v" + PYPROJECT["project"]["version"]
    # the .py twin holds the same cell with the magic commented, as jupytext writes it
    assert colab.SETUP_CELL_PY.replace("# %pip", "%pip") == cell


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
