"""course_lib: the helpers of the notebook course "From VAE to VQ-GAN".

Each module is one concern, readable in one sitting:

* ``profiles`` -- quick / standard / full, the per-notebook ``settings`` table, and the smoke mode for tests
* ``claims``   -- ``claim``: the assertion of a measured result, with its kind (measured, demonstration, sanity)
* ``evidence`` -- real intervals: the bootstrap over samples, t-intervals over seeds, paired seed tests
* ``env``      -- device, seeding, Colab detection, ``setup_notebook``
* ``data``     -- MNIST, Fashion-MNIST, CIFAR-10 and offline subsets as ready tensors and loaders
* ``train``    -- the one training loop (progress, history, mixed precision, NaN stop, checkpoints, resume)
* ``checkpoint`` -- atomic save, safe load
* ``viz``      -- image grids, reconstructions, loss curves
* ``checks``   -- the exercise checks
* ``models``, ``losses``, ``quantize``, ``metrics``, ``prior``, ``perceptual``, ``image_quality``, ``gan``,
  ``augment`` (DiffAugment), ``vqgan`` (a package: config, model, loss, distributed), ``tokenizer``, ``maskgit``,
  ``restoration``, ``classical`` (scikit-image baselines), ``compression``, ``latents``, ``generation``
  (class grids, the completion tests), ``tokenizer_bench`` (today's tokenizers at equal bits), ``train_vqgan``
  (the command-line VQ-GAN run), ``factcheck`` (notebook 15's claims) -- what the notebooks build, in its final form
* ``explorers`` -- interactive explorers: a figure drawn directly, then ipywidgets controls
* ``pretrained`` -- the long-trained course checkpoints shipped in the package (``COURSE_PRETRAINED=0``: off)
* ``diagrams``, ``site``, ``report``, ``build``, ``colab`` -- drawn diagrams, the HTML edition, smoke/GPU reports,
  notebook pairs and nbgrader, the Colab set-up cell
"""
__version__ = "0.3.1.dev0"

from .env import get_device, in_colab, run_path, seed_everything, setup_notebook  # noqa: E402
from .claims import claim, verdict  # noqa: E402
from .profiles import active_profile, set_profile, settings, smoke_active  # noqa: E402

__all__ = [
    "__version__",
    "active_profile",
    "claim",
    "get_device",
    "in_colab",
    "run_path",
    "seed_everything",
    "set_profile",
    "settings",
    "setup_notebook",
    "smoke_active",
    "verdict",
]
