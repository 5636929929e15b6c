# The course's commands. The README's two are `make lab` and `make test`; both set up .venv first.
#   make lab [ARGS="--no-browser --port 8890"]   set up, then open JupyterLab on notebooks/
#   make test                                    set up, then run every test (unit, notebooks, builds)
#   make course [COURSE_PROFILE=quick]           execute every notebook into build/executed/ (with outputs)
#   make student                                 write student versions (solutions stripped) to build/student/
#   make sync                                    regenerate each .ipynb from its .py source
#   make bench                                   speed benchmarks (not tests)
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.course-installed
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
ARGS ?=
NB ?= notebooks/[0-9][0-9]_*.ipynb
export PYTHONUNBUFFERED := 1

.PHONY: setup lab test test-unit test-notebooks course student sync bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_PINS)
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ARGS)

test: setup
	$(MAKE) --no-print-directory test-unit
	$(MAKE) --no-print-directory test-notebooks

test-unit: setup
	COURSE_PROFILE=quick $(BIN)/python -m pytest tests -q $(ARGS)

# Notebooks run two at a time (one per core, one thread each: small models lose to thread sync otherwise).
JOBS ?= 2
test-notebooks: setup
	OMP_NUM_THREADS=1 COURSE_PROFILE=quick MPLBACKEND=Agg $(BIN)/python -m pytest -q -p no:cacheprovider \
		-n $(JOBS) --dist loadfile --nbval-lax --nbval-current-env $(NB) $(ARGS)

course: setup
	$(BIN)/python -m course_lib.build execute --out build/executed $(wildcard $(NB))

student: setup
	$(BIN)/python -m course_lib.build student --out build/student

sync: setup
	$(BIN)/python -m course_lib.build sync

bench: setup
	$(BIN)/python -m pip install -q -e '.[bench]'
	set -e; for f in tests/bench_*.py; do echo "== $$f"; $(BIN)/python $$f $(ARGS); done

clean:
	rm -rf build .pytest_cache
