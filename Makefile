# The course's commands. The README's two are `make lab` and `make test`; each sets up .venv first (only what it needs).
#   make lab [ARGS="--no-browser --port 8890"]   a student's JupyterLab on workspace/ (the student edition, your copies)
#   make refresh LESSON=04                       take lesson 04's new version into workspace/, keeping yours beside it
#                                                (LESSON=updated: every lesson the course changed since you copied it)
#   make test                                    set up, then run every test (unit, notebooks, smoke, installed package)
#   make test-unit | test-notebooks | test-smoke | test-installed   one part of `make test`
#   make instructor [ARGS=...]                   the sources (notebooks/, jupytext pairing) and nbgrader's UI
#   make assignment                              nbgrader source and release versions of every notebook in coursework/
#   make course [COURSE_PROFILE=quick]           execute every notebook into build/executed/ (with outputs)
#   make student                                 write student versions (solutions, hidden tests stripped) to build/student/
#   make sync                                    regenerate each .ipynb from its .py source, the student edition
#                                                (notebooks/student/), each header's estimated time and the README syllabus
#   make stats                                   the student's estimated time per lesson (core path, deep dives)
#   make stats ARGS="--places 07"                where lesson 07's core prose has asides and long sentences
#   make machine-times                           the README's `quick` column from the last test-notebooks run
#   make outcomes | slides                       instructors: expected outcomes of the open exercises; lecture decks
#   make site                                    the browsable edition in build/site/ (student edition, maths offline)
#   make release                                 check that version, REF, badges and CHANGELOG agree, then tag (README)
#   make bench                                   speed benchmarks (not tests)
#   make gpu-report [GPU_PROFILE=standard]       on a CUDA machine: run the course, write build/gpu-report/report.md
#   make clean                                   delete build/ (never workspace/ or coursework/)
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
# Where torch comes from. `auto`: on Linux with no NVIDIA GPU (no nvidia-smi), PyTorch's CPU wheels
# (TORCH_CPU_INDEX, when that host resolves), which spares the ~6 GB of CUDA libraries PyPI's Linux wheels pull in;
# elsewhere the default package index. `make lab TORCH_INDEX=` forces the default index, and e.g.
# `TORCH_INDEX=https://download.pytorch.org/whl/cu126` a given CUDA build. It is an extra index, so a local mirror
# in pip's own configuration still serves the same pins. It applies when .venv is made: `rm -rf .venv` to switch.
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
TORCH_INDEX ?= auto
# The stamp names the torch pins: changing TORCH_PINS reinstalls everything. Each extra has its own stamp, remade
# when pyproject.toml changes.
space := $(subst ,, )
STAMP := $(VENV)/.course-installed-$(subst ==,-,$(subst $(space),_,$(strip $(TORCH_PINS))))
ARGS ?=
JOBS ?= 2
NB ?= notebooks/[0-9][0-9]_*.ipynb
# Notebooks whose `full` shapes differ from `standard` in a way the smoke pass should also try.
NB_FULL ?= notebooks/11_vqgan.ipynb
export PYTHONUNBUFFERED := 1
# Run as root (a container, a cloud VM), Jupyter needs --allow-root.
ROOT_FLAG = $$(if [ "$$(id -u)" = 0 ]; then echo "notice: running as root (a container or cloud VM?): passing --allow-root to JupyterLab" >&2; echo --allow-root; fi)

.PHONY: machine-times outcomes slides stats setup setup-lab setup-test setup-instructor setup-site lab refresh instructor test test-unit \
	test-notebooks test-smoke test-installed gpu-report course student assignment sync site release release-check \
	release-prepare release-check-remote bench clean

# The base: a virtual environment with the torch pins. Every target below adds the extra it needs (pyproject.toml):
# lab (JupyterLab), test (pytest, nbval, nbgrader, ...), instructor (nbgrader's UI, jupytext), site (nbconvert,
# MathJax), dev (all of them, for contributors: `make setup`).
$(STAMP):
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 1; }
	@if [ -d $(VENV) ] && ! $(BIN)/python -m pip --version >/dev/null 2>&1; then \
		echo "error: $(VENV) exists but is incomplete (no working pip in it): an earlier 'python -m venv' failed,"; \
		echo "       often because Debian/Ubuntu's python3-venv (python3.11-venv) package is missing."; \
		echo "       Fix: install that package (sudo apt-get install python3.11-venv), then 'rm -rf $(VENV)' and run make again."; \
		exit 1; \
	fi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "error: '$(PYTHON) -m venv' failed; on Debian/Ubuntu install python3.11-venv, then run make again."; exit 1; }
	$(BIN)/python -m pip install -q --upgrade pip
	@idx="$(TORCH_INDEX)"; \
	if [ "$$idx" = auto ]; then idx=""; \
		if [ "$$(uname -s)" = Linux ] && ! command -v nvidia-smi >/dev/null 2>&1 \
			&& getent hosts $$(echo $(TORCH_CPU_INDEX) | cut -d/ -f3) >/dev/null 2>&1; then idx="$(TORCH_CPU_INDEX)"; fi; \
	fi; \
	if [ -n "$$idx" ]; then echo "torch: wheels from $$idx first (no NVIDIA GPU here: CPU wheels; TORCH_INDEX= for PyPI's)"; fi; \
	echo "$(BIN)/python -m pip install -q $(TORCH_PINS) $${idx:+--extra-index-url $$idx}"; \
	$(BIN)/python -m pip install -q $(TORCH_PINS) $${idx:+--extra-index-url $$idx}
	rm -f $(VENV)/.course-installed* $(VENV)/.course-extra-*
	touch $(STAMP)

.PRECIOUS: $(VENV)/.course-extra-%
$(VENV)/.course-extra-%: $(STAMP) pyproject.toml
	$(BIN)/python -m pip install -q -e '.[$*]'
	touch $@

setup: $(VENV)/.course-extra-dev
	$(BIN)/python -m course_lib.build git-filter
setup-lab: $(VENV)/.course-extra-lab
setup-test: $(VENV)/.course-extra-test
	@$(BIN)/python -m course_lib.build git-filter >/dev/null
setup-instructor: $(VENV)/.course-extra-instructor
	@$(BIN)/python -m course_lib.build git-filter >/dev/null
setup-site: $(VENV)/.course-extra-site

# The student's JupyterLab: workspace/ holds their own copies of the lessons, made from the student edition
# (notebooks/student/) on the first run; later runs add new lessons and never overwrite one (git ignores workspace/,
# so a `git pull` of the course never conflicts with a student's work). No nbgrader UI (jupyter_server_config.py).
lab: setup-lab
	$(BIN)/python -m course_lib.build workspace
	$(BIN)/jupyter lab --config=jupyter_server_config.py --notebook-dir=workspace $(ROOT_FLAG) $(ARGS)

LESSON ?=
refresh: setup-lab
	@if [ -z "$(LESSON)" ]; then echo "usage: make refresh LESSON=04   (or LESSON=updated for every lesson the course changed)"; exit 2; fi
	$(BIN)/python -m course_lib.build refresh $(LESSON)

# The instructor's (and contributor's) JupyterLab: the repository root, opened at notebooks/ (the sources, paired
# with their .py by jupytext), with nbgrader's UI; its course folder coursework/ lies inside the served root.
instructor: setup-instructor
	$(BIN)/jupyter lab --config=jupyter_instructor_config.py --notebook-dir=. $(ROOT_FLAG) $(ARGS)

test: setup-test
	$(MAKE) --no-print-directory test-unit
	$(MAKE) --no-print-directory test-notebooks
	$(MAKE) --no-print-directory test-smoke
	$(MAKE) --no-print-directory test-installed

# Unit tests two at a time (one test file per worker, one torch thread each: two workers on two cores); the slowest
# ten are listed.
test-unit: setup-test
	OMP_NUM_THREADS=1 COURSE_PROFILE=quick $(BIN)/python -m pytest tests -q -n $(JOBS) --dist loadfile --durations=10 $(ARGS)

# Notebooks run two at a time (one per core, one thread each: small models lose to thread sync otherwise).
# Checkpoints of test runs go to build/ (COURSE_RUNS), fresh each time, never into your own runs/.
NBVAL := OMP_NUM_THREADS=1 MPLBACKEND=Agg $(BIN)/python -m pytest -q -p no:cacheprovider -n $(JOBS) --dist loadfile \
	--nbval-lax --nbval-current-env
test-notebooks: setup-test
	rm -rf build/test-runs
	COURSE_PROFILE=quick COURSE_RUNS=$(CURDIR)/build/test-runs $(NBVAL) --junitxml=build/nbval-quick.xml $(NB) $(ARGS)

# Expected outcomes of the open exercises (notebooks/instructor/outcomes.toml): each lesson's default run and every
# exercise's runs under quick on the CPU with COURSE_CLAIMS=report; writes notebooks/instructor/outcomes.json and
# outcomes.md (commit both). About an hour for all lessons on 2 cores; not part of `make test`. LESSONS="11 12" for some.
outcomes: setup-test
	OMP_NUM_THREADS=1 $(BIN)/python -m course_lib.instructor outcomes $(LESSONS)

# Lecture decks: one offline HTML deck per outline, figures from `make course`'s executed notebooks, into build/instructor/.
slides: setup-test
	$(BIN)/python -m course_lib.instructor slides --executed build/executed --out build/instructor $(ARGS)

# The README's `quick` column and the headers' machine times, from the last test-notebooks run (run it on 2 cores).
machine-times: setup-test
	$(BIN)/python -m course_lib.build machine-times build/nbval-quick.xml $(if $(SOURCE),--source "$(SOURCE)")
	$(BIN)/python -m course_lib.build sync

# Smoke: `standard` shapes (and `full` ones for NB_FULL), a handful of steps, on the CPU with the offline data.
# Claims are reported, not asserted (course_lib.claims); shape and contract assertions stay hard. The smoke pass is
# also the NULL RUN that screens every claim: nothing is trained (3 steps), the shipped checkpoints are off (they fit
# `quick` only), so a claim of kind "measured" that holds here could not have failed: --null-screen fails the pass
# and lists it (build/smoke-report/null-screen.txt).
SMOKE_ENV := COURSE_SMOKE=1 COURSE_OFFLINE=1 COURSE_DEVICE=cpu
# It runs through the course's report (course_lib.report), which also records each notebook's time and peak memory
# in build/smoke-report*/report.md.
test-smoke: setup-test
	rm -rf build/smoke-runs build/smoke-report build/smoke-report-full
	OMP_NUM_THREADS=1 MPLBACKEND=Agg $(SMOKE_ENV) COURSE_RUNS=$(CURDIR)/build/smoke-runs $(BIN)/python -m course_lib.report \
		--profile standard --smoke --null-screen --jobs $(JOBS) --out build/smoke-report $(wildcard $(NB))
	@# the full-shape pass runs one notebook at a time, so it gets both cores
	if [ -n "$(strip $(wildcard $(NB_FULL)))" ]; then \
		OMP_NUM_THREADS=$(JOBS) MPLBACKEND=Agg $(SMOKE_ENV) COURSE_RUNS=$(CURDIR)/build/smoke-runs $(BIN)/python -m course_lib.report \
		--profile full --smoke --null-screen --jobs 1 --out build/smoke-report-full $(wildcard $(NB_FULL)); fi
	@# every lecture deck builds from the smoke pass's executed notebooks, and every figure it shows comes from a cell that ran
	$(BIN)/python -m course_lib.instructor slides --executed build/smoke-report/executed --out build/smoke-report/instructor --strict

# On a CUDA machine: every notebook under `standard` (GPU_PROFILE=full for full) and train_vqgan for a fixed budget;
# writes build/gpu-report/report.md and report.json (wall time, peak GPU memory, images/s, headline figures).
GPU_PROFILE ?= standard
VQGAN_STEPS ?= 500
gpu-report: setup-test
	$(BIN)/python -m course_lib.report --profile $(GPU_PROFILE) --vqgan-steps $(VQGAN_STEPS) --out build/gpu-report $(ARGS)

# The way Colab runs the course: a built wheel, installed non-editable outside the checkout, notebooks executed
# from an empty folder, offline.
test-installed: setup-test
	$(BIN)/python tests/installed_package.py $(ARGS)

# The browsable edition: the student edition (no solution, no hidden test) executed under quick and rendered to
# build/site/ with its figures, a table of contents per page and MathJax shipped beside the pages (works offline).
site: setup-site
	COURSE_PROFILE=quick COURSE_OFFLINE=1 COURSE_RUNS=$(CURDIR)/build/site-runs $(BIN)/python -m course_lib.site --out build/site

course: setup-test
	$(BIN)/python -m course_lib.build execute --out build/executed $(wildcard $(NB))

student: setup-test
	$(BIN)/python -m course_lib.build student --out build/student

# nbgrader: coursework/source/NN_name/ (solutions and hidden tests) and release/NN_name/ (what students get), with
# nbgrader_config.py. Then release, collect, autograde and give feedback with nbgrader itself (README, "Coursework";
# notebooks/instructor/deployment.md).
assignment: setup-instructor
	$(BIN)/python -m course_lib.build assignment

sync: setup-test
	$(BIN)/python -m course_lib.build sync

stats: setup-test
	@$(BIN)/python -m course_lib.build stats $(ARGS)

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[bench]'
	set -e; for f in tests/bench_*.py; do echo "== $$f"; $(BIN)/python $$f $(ARGS); done

# Releases (CHANGELOG.md, "How releases work"): prepare writes the version and syncs the badges; release checks that
# version, RELEASE, badges, set-up cells, CHANGELOG and git agree, tags v<version> and moves main to NEXT (default
# x.y.(z+1).dev0); nothing is pushed. release-check-remote: the tag is on origin (the badges need it).
VERSION ?=
NEXT ?=
release-prepare: setup-test
	@if [ -z "$(VERSION)" ]; then echo "usage: make release-prepare VERSION=x.y.z"; exit 2; fi
	$(BIN)/python -m course_lib.build release-prepare $(VERSION)
release-check: setup-test
	$(BIN)/python -m course_lib.build release-check
release: setup-test
	$(BIN)/python -m course_lib.build release $(if $(NEXT),--next $(NEXT))
release-check-remote: setup-test
	$(BIN)/python -m course_lib.build release-check-remote

# build/ only: a student's workspace/ and the instructor's coursework/ (grades, submissions) are never deleted here.
clean:
	rm -rf build .pytest_cache
