# The course's commands. The README's two are `make lab` and `make test`; both set up .venv first.
#   make lab [ARGS="--no-browser --port 8890"]   set up, then open JupyterLab on notebooks/
#   make test                                    set up, then run every test (unit, notebooks, smoke, installed package)
#   make test-unit | test-notebooks | test-smoke | test-installed   one part of `make test`
#   make course [COURSE_PROFILE=quick]           execute every notebook into build/executed/ (with outputs)
#   make student                                 write student versions (solutions, hidden tests stripped) to build/student/
#   make assignment                              nbgrader source and release versions of every notebook in build/nbgrader/
#   make sync                                    regenerate each .ipynb from its .py source, the student edition
#                                                (notebooks/student/), each header's estimated time and the README syllabus
#   make stats                                   the student's estimated time per lesson (core path, deep dives)
#   make bench                                   speed benchmarks (not tests)
#   make gpu-report [GPU_PROFILE=standard]       on a CUDA machine: run the course, write build/gpu-report/report.md
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
# The stamp names the torch pins: changing TORCH_PINS (or pyproject.toml) reinstalls.
space := $(subst ,, )
STAMP := $(VENV)/.course-installed-$(subst ==,-,$(subst $(space),_,$(strip $(TORCH_PINS))))
ARGS ?=
JOBS ?= 2
NB ?= notebooks/[0-9][0-9]_*.ipynb
# Notebooks whose `full` shapes differ from `standard` in a way the smoke pass should also try.
NB_FULL ?= notebooks/11_vqgan.ipynb
export PYTHONUNBUFFERED := 1

.PHONY: stats setup lab test test-unit test-notebooks test-smoke test-installed gpu-report course student assignment sync bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 1; }
	@if [ -d $(VENV) ] && ! $(BIN)/python -m pip --version >/dev/null 2>&1; then \
		echo "error: $(VENV) exists but is incomplete (no working pip in it): an earlier 'python -m venv' failed,"; \
		echo "       often because Debian/Ubuntu's python3-venv (python3.11-venv) package is missing."; \
		echo "       Fix: install that package (sudo apt-get install python3.11-venv), then 'rm -rf $(VENV)' and run make again."; \
		exit 1; \
	fi
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "error: '$(PYTHON) -m venv' failed; on Debian/Ubuntu install python3.11-venv, then run make again."; exit 1; }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_PINS)
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m course_lib.build git-filter
	rm -f $(VENV)/.course-installed*
	touch $(STAMP)

lab: setup
	@extra=""; if [ "$$(id -u)" = 0 ]; then echo "notice: running as root (a container or cloud VM?): passing --allow-root to JupyterLab"; extra="--allow-root"; fi; \
	$(BIN)/jupyter lab --config=jupyter_server_config.py --notebook-dir=notebooks $$extra $(ARGS)

test: setup
	$(MAKE) --no-print-directory test-unit
	$(MAKE) --no-print-directory test-notebooks
	$(MAKE) --no-print-directory test-smoke
	$(MAKE) --no-print-directory test-installed

# Unit tests two at a time (one test file per worker, one torch thread each: two workers on two cores); the slowest
# ten are listed.
test-unit: setup
	OMP_NUM_THREADS=1 COURSE_PROFILE=quick $(BIN)/python -m pytest tests -q -n $(JOBS) --dist loadfile --durations=10 $(ARGS)

# Notebooks run two at a time (one per core, one thread each: small models lose to thread sync otherwise).
# Checkpoints of test runs go to build/ (COURSE_RUNS), fresh each time, never into your own runs/.
NBVAL := OMP_NUM_THREADS=1 MPLBACKEND=Agg $(BIN)/python -m pytest -q -p no:cacheprovider -n $(JOBS) --dist loadfile \
	--nbval-lax --nbval-current-env
test-notebooks: setup
	rm -rf build/test-runs
	COURSE_PROFILE=quick COURSE_RUNS=$(CURDIR)/build/test-runs $(NBVAL) $(NB) $(ARGS)

# Smoke: `standard` shapes (and `full` ones for NB_FULL), a handful of steps, on the CPU with the offline data.
# Claims are reported, not asserted (course_lib.claims); shape and contract assertions stay hard.
SMOKE_ENV := COURSE_SMOKE=1 COURSE_OFFLINE=1 COURSE_DEVICE=cpu
# It runs through the course's report (course_lib.report), which also records each notebook's time and peak memory
# in build/smoke-report*/report.md.
test-smoke: setup
	rm -rf build/smoke-runs build/smoke-report build/smoke-report-full
	OMP_NUM_THREADS=1 MPLBACKEND=Agg $(SMOKE_ENV) COURSE_RUNS=$(CURDIR)/build/smoke-runs $(BIN)/python -m course_lib.report \
		--profile standard --smoke --jobs $(JOBS) --out build/smoke-report $(wildcard $(NB))
	@# the full-shape pass runs one notebook at a time, so it gets both cores
	if [ -n "$(strip $(wildcard $(NB_FULL)))" ]; then \
		OMP_NUM_THREADS=$(JOBS) MPLBACKEND=Agg $(SMOKE_ENV) COURSE_RUNS=$(CURDIR)/build/smoke-runs $(BIN)/python -m course_lib.report \
		--profile full --smoke --jobs 1 --out build/smoke-report-full $(wildcard $(NB_FULL)); fi

# On a CUDA machine: every notebook under `standard` (GPU_PROFILE=full for full) and train_vqgan for a fixed budget;
# writes build/gpu-report/report.md and report.json (wall time, peak GPU memory, images/s, headline figures).
GPU_PROFILE ?= standard
VQGAN_STEPS ?= 500
gpu-report: setup
	$(BIN)/python -m course_lib.report --profile $(GPU_PROFILE) --vqgan-steps $(VQGAN_STEPS) --out build/gpu-report $(ARGS)

# The way Colab runs the course: a built wheel, installed non-editable outside the checkout, notebooks executed
# from an empty folder, offline.
test-installed: setup
	$(BIN)/python tests/installed_package.py $(ARGS)

# The browsable edition: every notebook executed under quick, rendered to build/site/ (index.html is the syllabus).
site: setup
	COURSE_PROFILE=quick COURSE_RUNS=$(CURDIR)/build/site-runs $(BIN)/python -m course_lib.site --out build/site

course: setup
	$(BIN)/python -m course_lib.build execute --out build/executed $(wildcard $(NB))

student: setup
	$(BIN)/python -m course_lib.build student --out build/student

# nbgrader: build/nbgrader/source/NN_name/ (solutions and hidden tests) and release/NN_name/ (what students get),
# with nbgrader_config.py. Then collect and autograde with nbgrader itself (README, "Coursework").
assignment: setup
	$(BIN)/python -m course_lib.build assignment --course build/nbgrader

sync: setup
	$(BIN)/python -m course_lib.build sync

stats: setup
	@$(BIN)/python -m course_lib.build stats

bench: setup
	$(BIN)/python -m pip install -q -e '.[bench]'
	set -e; for f in tests/bench_*.py; do echo "== $$f"; $(BIN)/python $$f $(ARGS); done

clean:
	rm -rf build .pytest_cache
