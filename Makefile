# Two commands set everything up on a fresh Debian machine with Python 3.11:
#   make table1   - the Table 1 comparison on the embedded music21 set (SCALE=quick by default)
#   make test     - the test suite, including the golden-result drift check
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SCALE ?= quick
SEED ?= 0
DATA ?=
SPLIT ?=
SYSTEMS ?=
ARGS ?=

TABLE_ARGS := --scale $(SCALE) --seed $(SEED) $(if $(DATA),--data $(DATA)) \
	$(if $(SPLIT),--split-file $(SPLIT)) $(if $(SYSTEMS),--systems $(SYSTEMS)) $(ARGS)

.PHONY: all venv deps table1 test regress regress-update systems data bench train isolate sweep table-hdae table-lincae clean-cache help

help:
	@echo "make table1 [SCALE=smoke|quick|paper] [DATA=/path/to/audio] [SPLIT=file] [SYSTEMS=a,b]"
	@echo "make test | make regress | make regress-update | make systems | make data"
	@echo "make train SYSTEM=name [CONFIG=tiny|paper] | make table-hdae | make table-lincae | make bench"

$(VENV)/.installed: requirements.txt requirements-nodeps.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $@

venv: $(VENV)/.installed

deps:
	@bash scripts/ensure_fluidsynth.sh
	@bash scripts/ensure_slurm.sh

table1: venv deps
	$(PY) -m bench table1 $(TABLE_ARGS)

systems: venv
	$(PY) -m bench systems --verbose

data: venv deps
	$(PY) -m bench data --scale $(SCALE) $(if $(DATA),--data $(DATA))

test: venv deps
	$(PY) -m pytest -q tests

regress: venv
	$(PY) -m bench regress

regress-update: venv
	$(PY) -m bench regress --update

SYSTEM ?= latentft-mlp
CONFIG ?= tiny
train: venv deps
	$(PY) -m bench train --system $(SYSTEM) --config $(CONFIG) $(ARGS)

# trains the tiny models first when their checkpoints are missing (a few minutes each; a finished
# checkpoint makes the train step a no-op)
table-hdae: venv deps
	$(PY) -m bench train --system msdae --config tiny --no-progress
	$(PY) -m bench train --system hdae --config tiny --no-progress
	$(PY) -m bench table-hdae --seed $(SEED) $(ARGS)

table-lincae: venv deps
	$(PY) -m bench train --system lincae --config tiny --no-progress
	$(PY) -m bench train --system lincae-base --config tiny --no-progress
	$(PY) -m bench table-lincae --seed $(SEED) $(ARGS)

BAND ?= 0.0626:0.2501
isolate: venv deps
	$(PY) -m bench isolate --system $(SYSTEM) --band $(BAND) $(ARGS)

sweep: venv deps
	$(PY) -m bench sweep --system $(SYSTEM) $(ARGS)

bench: venv
	$(PY) -m bench bench

clean-cache:
	rm -rf results/cache datasets/cache
