# Two commands set everything up on a fresh Debian machine with Python 3.11:
#   make table1   - the Table 1 comparison on the embedded music21 set (SCALE=quick by default), written to
#                   results/runs/NAME/ (gitignored; NAME from OUT=NAME, else from scale, seed, dataset, systems)
#   make test     - the test suite, including the golden-result drift check
# The environment is .venv, pinned by requirements.lock (what a table needs) and requirements-dev.lock
# (what the tests add), both installed with --no-deps, then this package in editable mode.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BENCH := $(VENV)/bin/latentft-bench
SCALE ?= quick
SEED ?= 0
DATA ?=
SPLIT ?=
SYSTEMS ?=
ARGS ?=

OUT ?=
FORMAT ?=

TABLE_ARGS := --scale $(SCALE) --seed $(SEED) $(if $(DATA),--data $(DATA)) \
	$(if $(SPLIT),--split-file $(SPLIT)) $(if $(SYSTEMS),--systems $(SYSTEMS)) $(ARGS)

.PHONY: all venv venv-dev deps deps-test table1 table1-publish test test-fast lint typecheck docs lock regress regress-update systems data bench train isolate sweep figures table-hdae table-lincae table-ablations clean-cache help

help:
	@echo "make table1 [SCALE=smoke|quick|paper] [DATA=/path/to/audio] [SPLIT=file] [SYSTEMS=a,b] [OUT=NAME] [FORMAT=md|csv|latex|json]"
	@echo "    writes results/runs/NAME/table1.* (gitignored) and points results/runs/latest at it"
	@echo "make table1-publish   - the default run (SCALE=quick) into the committed results/table1.* and the README's table"
	@echo "make test | make test-fast | make lint | make typecheck | make docs | make deps-test (browser + SLURM for the full tests)"
	@echo "make regress | make regress-update | make systems | make data | make lock"
	@echo "make train SYSTEM=name [CONFIG=tiny|paper] | make table-hdae | make table-lincae | make table-ablations | make bench"
	@echo "    the model tables write results/runs/table-*/; ARGS=--publish: the committed results/ copy (default options only)"
	@echo "make figures [RUN=results/runs/NAME/table1.json]   (default: your latest run, else results/table1.json)"
	@echo "             [VAMPNET_RUN=...json]   (Fig. 13 left: a run with vampnet settings=levels)"

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-deps -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.lock
	$(PY) -m pip install --quiet --no-deps -r requirements-dev.lock
	touch $@

venv: $(VENV)/.installed

venv-dev: $(VENV)/.installed-dev

# what a table needs: FluidSynth and a General MIDI soundfont (the embedded dataset's renderer)
deps:
	@bash scripts/ensure_fluidsynth.sh

# only when asked (CI does): Chromium + chromedriver (browser tests) and slurm-wlm + munge (SLURM test);
# without them those tests are skipped, saying this command
deps-test:
	@bash scripts/ensure_chromium.sh
	@bash scripts/ensure_slurm.sh

table1: venv deps
	$(BENCH) table1 $(TABLE_ARGS) $(if $(OUT),--out $(OUT)) $(if $(FORMAT),--format $(FORMAT))

# the only target that rewrites the committed results/table1.* and the README's "Latest table"
# (refused unless the run is the default one: embedded set, SCALE=quick, seed 0, every default row)
table1-publish: venv deps
	$(BENCH) table1 $(TABLE_ARGS) --publish

systems: venv
	$(BENCH) systems --verbose

data: venv deps
	$(BENCH) data --scale $(SCALE) $(if $(DATA),--data $(DATA))

test: venv-dev deps
	$(VENV)/bin/pytest -q tests

# the quick loop: everything but the end-to-end tests (runs, training, clusters, browsers)
test-fast: venv-dev deps
	$(VENV)/bin/pytest -q -m "not slow" tests

lint: venv-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv-dev
	$(VENV)/bin/mypy bench/core metrics

docs: venv-dev
	$(VENV)/bin/mkdocs build --strict --site-dir build/site

# rewrite the lock files from .venv (after changing a pin there on purpose)
lock: venv-dev
	$(PY) -m tools.lock

regress: venv
	$(BENCH) regress

regress-update: venv
	$(PY) -m tools.update_golden

SYSTEM ?= latentft-mlp
CONFIG ?= tiny
train: venv deps
	$(BENCH) train --system $(SYSTEM) --config $(CONFIG) $(ARGS)

# trains the tiny models first when neither shipped weights (models/weights/) nor a checkpoint trained
# here exist (a few minutes each; a finished checkpoint makes the train step a no-op)
table-hdae: venv deps
	$(BENCH) train --system msdae --config tiny --no-progress --if-missing
	$(BENCH) train --system hdae --config tiny --no-progress --if-missing
	$(BENCH) table-hdae --seed $(SEED) $(ARGS)

table-lincae: venv deps
	$(BENCH) train --system lincae --config tiny --no-progress --if-missing
	$(BENCH) train --system lincae-base --config tiny --no-progress --if-missing
	$(BENCH) table-lincae --seed $(SEED) $(ARGS)

# LatentFT-MLP and its five ablations (Tables 9-10), each trained first when its checkpoint is missing
# (about 10 minutes each on 2 CPU cores); SCALE=small unless given: 12 clips x 14 bands, 12 pairs x 6
# (the base row is latentft-mlp's tiny-3000 weights: the variants' 3000 steps; shipped)
ABLATIONS := latentft-mlp-no-mask latentft-mlp-no-corr latentft-mlp-no-log \
	latentft-mlp-no-encoder latentft-mlp-band-pass
table-ablations: venv deps
	$(BENCH) train --system latentft-mlp --config tiny-3000 --no-progress --if-missing
	for system in $(ABLATIONS); do $(BENCH) train --system $$system --config tiny --no-progress --if-missing || exit 1; done
	$(BENCH) table-ablations --scale $(if $(filter command line,$(origin SCALE)),$(SCALE),small) \
		--seed $(SEED) $(ARGS)

BAND ?= 0.0626:0.2501
isolate: venv deps
	$(BENCH) isolate --system $(SYSTEM) --band $(BAND) $(ARGS)

sweep: venv deps
	$(BENCH) sweep --system $(SYSTEM) $(ARGS)

bench: venv-dev
	$(PY) -m tools.benchmarks $(ARGS)

RUN ?=
figures: venv
	$(BENCH) figures $(if $(RUN),--run $(RUN)) $(if $(VAMPNET_RUN),--vampnet-run $(VAMPNET_RUN)) $(ARGS)

clean-cache:
	rm -rf results/cache datasets/cache
