"""Open exercises are safe (issue 21): every "More to try" exercise that changes a setting is tried once here.

Each try runs the notebook the way a student exploring would, with the changed setting (``COURSE_SETTINGS``, read by
``course_lib.profiles.settings``) and ``COURSE_CLAIMS=report`` (claims print whether they held instead of stopping
the notebook), at ``quick`` shapes with the smoke mode's short training (3 steps), offline. It must run to the end:
shipped-model sections skip with one line, asserts that tie the text to a setting follow the setting.

Add a row to ``TRIES`` for each open exercise that changes a setting: (notebook stem, the settings it changes, the
exercise it is).
"""
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

TRIES = [
    ("01_autoencoders_and_vae", {"big_beta": 4.0}, "exercise 5: a smaller beta"),
    ("03_straight_through", {"tau": 0.03}, "exercise 3: a colder temperature"),
    ("03_straight_through", {"beta": 2.0}, "exercise 4: beta = 2 on the commitment term"),
    ("04_vqvae", {"num_codes": 64}, "halve num_codes"),
    ("04_vqvae", {"num_codes": 256}, "double num_codes"),
    ("04_vqvae", {"beta": 1.0}, "a larger commitment weight beta"),
    ("04_vqvae", {"noise_sigma": 0.4}, "stronger noise in the denoising deep dive"),
    ("05_codebook_collapse", {"bench_steps": 6}, "double bench_steps (smoke runs 3 steps: 6 doubles them)"),
    ("06_priors_and_sampling", {"prior_steps": 75}, "halve prior_steps (exercise 5)"),
    ("07_perceptual_loss", {"perc_weight": 3.0}, "perc_weight 0.1 and 3 (exercise 2)"),
    ("07_perceptual_loss", {"seed": 1}, "another seed (exercise 3)"),
    ("08_gans", {"d_per_g": 2}, "two discriminator steps per generator step"),
    ("08_gans", {"toy_loss": "hinge"}, "section 3 with the hinge losses"),
    ("08_gans", {"lr_slow": 2e-3}, "both players equally fast"),
    ("09_discriminators", {"disc_weight": 0.8}, "taming-transformers' disc_weight"),
    ("09_discriminators", {"early_weight": 0.1}, "too early but not too strong"),
    ("09_discriminators", {"n_small": 64}, "more images for the small-data discriminators"),
    ("10_judging_image_models", {"n_eval": 128}, "half the images per set: wider intervals"),
    ("10_judging_image_models", {"noise_std": 0.2}, "stronger noise in the perception-distortion sweep"),
    ("11_vqgan", {"num_codes": 16}, "a smaller codebook (fewer bits per code)"),
    ("11_vqgan", {"disc_start": 0}, "the discriminator from the first step"),
    ("13_restoration_and_editing", {"factor": 2}, "exercise 5: a milder degradation (the shipped pair is skipped)"),
    ("13_restoration_and_editing", {"ip_rounds": 16}, "exercise 6: more MaskGIT decoding steps"),
    ("14_tokenizers_of_today", {"bits": 12}, "give the comparison more bits"),
    ("14_tokenizers_of_today", {"rvq_levels": 5}, "more residual levels at the same rate"),
    ("15_fact_check", {"noise_std": 0.2}, "more to try 2: weaker noise in claim 11"),
    ("12_generation_with_transformers", {"prior_steps": 600}, "exercise 2: train the prior longer"),
    ("12_generation_with_transformers", {"top_p": 0.5}, "exercise 3: a smaller nucleus"),
]


@pytest.mark.parametrize("stem, changed, what", TRIES, ids=[f"{t[0]}: {t[2]}" for t in TRIES])
def test_open_exercise_runs_to_the_end(stem, changed, what, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    env = {"COURSE_SMOKE": "1", "COURSE_PROFILE": "quick", "COURSE_CLAIMS": "report", "COURSE_OFFLINE": "1",
           "COURSE_DEVICE": "cpu", "COURSE_SETTINGS": json.dumps(changed), "COURSE_RUNS": str(tmp_path / "runs"),
           "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    path = ROOT / "notebooks" / f"{stem}.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute()   # raises CellExecutionError, naming the cell, when the exercise breaks the notebook
    shown = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "")
                    for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "COURSE_SETTINGS sets" in shown or any(k in shown for k in changed), "the changed setting was not used"
