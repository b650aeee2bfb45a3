# make          set up .venv (first time) and regenerate NTSCC Fig. 10 on the mini profile
# make test     set up .venv (first time) and run the linter and the test suite (installs Debian's
#               chromium for the scorecard's browser test when root and missing)
# make figures  every figure and table target of the default profile
# make cluster-test  the tiny Fig. 10 on a one-node SLURM cluster and one stage tracked to an
#               MLflow server, both on this machine (installs slurm-wlm and munge if missing)
# make gpu-check  a few paper-profile training steps of each NTSCC model family and Kodak timing on a
#               GPU (under 10 min; exits 1 without CUDA). On a CPU, a plumbing check:
#               make gpu-check GPU_CHECK_ARGS='--device cpu --steps 1 --batch-size 1 --images 1'
VENV ?= .venv
# Two pytest-xdist workers, one test module each (a module's fixtures build one pipeline run);
# PYTEST_WORKERS= runs the suite in one process.
PYTEST_WORKERS ?= -n 2 --dist loadfile --no-loadscope-reorder
BIN := $(VENV)/bin
# The research data beside a checkout of this project, when present, is the data mirror.
SHARED_DATA := $(wildcard $(abspath $(CURDIR)/../shared/data))
ifneq ($(SHARED_DATA),)
export JSCC_DATA_MIRROR ?= $(SHARED_DATA)
endif

.PHONY: all setup system-packages fig10 figures test dvc-check
all: fig10

setup:
	@scripts/bootstrap.sh

system-packages:
	@scripts/system-packages.sh

fig10: setup
	$(BIN)/snakemake reports/fig10.pdf

figures: setup
	$(BIN)/snakemake all

test: setup system-packages
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_WORKERS)

dvc-check: setup
	$(BIN)/python -m pipelines.stages dvc --check

# scripts/cluster-test.sh: compares SLURM's Fig. 10 CSV with a local run's, reads a stage's run
# back from the MLflow server, prints wall times; stops every daemon it started.
.PHONY: cluster-test
cluster-test: setup
	@JSCC_VENV=$(VENV) scripts/cluster-test.sh

# scripts/gpu_check.py: prints a JSON summary (seconds per step, peak memory, Kodak seconds per image).
GPU_CHECK_ARGS ?=
.PHONY: gpu-check
gpu-check: setup
	PYTHONPATH=$(CURDIR) $(BIN)/python scripts/gpu_check.py $(GPU_CHECK_ARGS)
