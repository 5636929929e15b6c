# nbgrader configuration for the students of "From VAE to VQ-GAN" on a JupyterHub (deployment.md, sections 2 and 5):
# copy it to /etc/jupyter/nbgrader_config.py in the students' image. It names the course and the exchange through
# which assignments are fetched and submitted; the instructor's own nbgrader_config.py (repository root) names the
# same exchange through COURSE_EXCHANGE.
import os

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "vae-to-vqgan"
c.Exchange.root = os.environ.get("COURSE_EXCHANGE") or "/srv/nbgrader/exchange"
# A student's checkpoints (runs/) and any *.pt never travel in a submission (the instructor's collect skips them too).
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "runs", "*.pt"]
