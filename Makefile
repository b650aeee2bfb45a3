# make          set up .venv (first time) and regenerate NTSCC Fig. 10 on the mini profile
# make test     set up .venv (first time) and run the test suite
# make figures  every figure and table target of the default profile
VENV ?= .venv
BIN := $(VENV)/bin
# The research data beside a checkout of this project, when present, is the data mirror.
SHARED_DATA := $(wildcard $(abspath $(CURDIR)/../shared/data))
ifneq ($(SHARED_DATA),)
export JSCC_DATA_MIRROR ?= $(SHARED_DATA)
endif

.PHONY: all setup fig10 figures test dvc-check
all: fig10

setup:
	@scripts/bootstrap.sh

fig10: setup
	$(BIN)/snakemake reports/fig10.pdf

figures: setup
	$(BIN)/snakemake all

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

dvc-check: setup
	$(BIN)/python -m pipelines.stages dvc --check
