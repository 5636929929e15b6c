# nbgrader configuration for "From VAE to VQ-GAN". nbgrader reads this file when run from the repository root
# (`make assignment`, `make instructor`, or `nbgrader ...` with the environment active).
#
#   make assignment                      # coursework/source/NN_name/ and nbgrader's release/NN_name/ for each
#   nbgrader generate_assignment 03_straight_through --force     # the same for one notebook (after make assignment)
#   nbgrader release_assignment 03_straight_through              # to the exchange (below), or hand out
#                                                                # coursework/release/03_straight_through/
#   nbgrader collect 03_straight_through     # or put files in coursework/submitted/<student>/03_straight_through/
#   nbgrader autograde 03_straight_through   # runs each submission, restores the check cells (hidden tests too)
#   nbgrader generate_feedback 03_straight_through   # feedback HTML per student, without the hidden tests
#   nbgrader export                          # grades.csv (git ignores it)
#
# notebooks/instructor/deployment.md is the guide for a semester on JupyterHub (measured costs, the exchange).
import os

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

HERE = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "vae-to-vqgan"
# The course folder: gradebook.db, source/, release/, submitted/, autograded/, feedback/. Not under build/ (which
# `make clean` deletes) and ignored by git (.gitignore), so grades are neither lost nor published by accident.
c.CourseDirectory.root = os.environ.get("COURSE_NBGRADER_ROOT") or os.path.join(HERE, "coursework")

# The exchange through which release_assignment, fetch, submit and collect pass. On a JupyterHub this is a folder
# every user can reach, set for instructor and students alike (deployment.md), e.g.
#   export COURSE_EXCHANGE=/srv/nbgrader/exchange
# Unset, it is a folder inside the course folder: enough to try the round trip on one machine, without root and
# without nbgrader's system-wide default.
c.Exchange.root = os.environ.get("COURSE_EXCHANGE") or os.path.join(c.CourseDirectory.root, "exchange")

# What nbgrader leaves out of a submission (collect, autograde): nbgrader's defaults, and the checkpoints a student's
# runs write (runs/ under the notebook's folder; COURSE_RUNS elsewhere): they are large and grading never reads them.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "runs", "*.pt"]

# The released stub is exactly what `make student` writes (course_lib.build.STUB), so both versions match.
c.ClearSolutions.code_stub = {"python": "raise NotImplementedError()"}

# Feedback shows each student their answers, outputs and points, but not the hidden tests (nbgrader's default
# GenerateFeedback keeps them: jupyter/nbgrader#917). Same list as nbgrader's default, with ClearHiddenTests added.
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]

# Autograding executes every submission top to bottom, training cells included. In a kernel that nbgrader's
# autograde starts (it sets NBGRADER_EXECUTION=autograde), course_lib's set-up cell grades at `quick` shapes with
# smoke's step counts, offline, with checkpoints in a fresh temporary folder per submission (never in
# autograded/ or feedback/, never shared between students): the checks judge the student's functions, not the
# trained models. To grade otherwise, set the variable yourself, e.g. `COURSE_SMOKE=0 nbgrader autograde 04_vqvae`
# (course_lib.env.grading_defaults). A slow cell is still allowed 20 minutes.
c.Execute.timeout = 1200
