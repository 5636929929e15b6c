# nbgrader configuration for "From VAE to VQ-GAN". nbgrader reads this file when run from the repository root.
#
#   make assignment                      # build/nbgrader/source/NN_name/ and nbgrader's release/NN_name/ for each
#   nbgrader generate_assignment 03_straight_through --force     # the same for one notebook (after make assignment)
#   nbgrader release_assignment 03_straight_through              # via the exchange (JupyterHub), or hand out
#                                                                # build/nbgrader/release/03_straight_through/
#   nbgrader collect 03_straight_through     # or put files in build/nbgrader/submitted/<student>/03_straight_through/
#   nbgrader autograde 03_straight_through   # runs each submission, restores the check cells (hidden tests too)
#   nbgrader generate_feedback 03_straight_through; nbgrader export          # feedback HTML, grades.csv
#
# One assignment per notebook; python -m course_lib.build assignment writes the source folders from notebooks/.
import os

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

HERE = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "vae-to-vqgan"
c.CourseDirectory.root = os.path.join(HERE, "build", "nbgrader")

# The released stub is exactly what `make student` writes (course_lib.build.STUB), so both versions match.
c.ClearSolutions.code_stub = {"python": "raise NotImplementedError()"}

# Autograding executes every submission top to bottom, training cells included: allow a slow cell, and grade under
# the `quick` profile (small sizes: the checks judge the student's functions, not the trained models) unless the
# environment says otherwise, e.g. `COURSE_PROFILE=standard nbgrader autograde 11_vqgan` on a GPU.
c.Execute.timeout = 1200
os.environ.setdefault("COURSE_PROFILE", "quick")
