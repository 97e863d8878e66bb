# Spark Control — developer entry points. `make demo` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CONFIG ?= /data/config.yaml
# The simulator starts thousands of short Python processes a test run (every fake docker,
# nvidia-smi and vLLM); without bytecode caches each one compiles its modules again.
unexport PYTHONDONTWRITEBYTECODE

# The StartOS package. Plain `make` runs the SDK's s9pk.mk (its default goal `all`): it builds
# spark-control_x86_64.s9pk and spark-control_aarch64.s9pk, given start-cli and Docker buildx;
# `make install` is s9pk.mk's too (it installs the .s9pk onto a StartOS server). s9pk.mk also has
# a `clean` that would replace ours, so it is read only when no target of this file is asked
# for. A missing s9pk.mk is fetched with `npm ci` first.
ARCHES := x86 arm
PROJECT_GOALS := venv run demo test test-fast test-python realvllm check-package image-check lint typecheck docs bench clean
ifeq ($(filter $(PROJECT_GOALS),$(MAKECMDGOALS)),)
READ_S9PK_MK := yes
-include node_modules/@start9labs/start-sdk/s9pk.mk
# start-cli's ingredients name the Dockerfile, not what it copies into the image: a changed app
# or lock file must rebuild the packages too. (No recipe here: s9pk.mk's pattern rule packs.)
IMAGE_INPUTS := requirements.lock .dockerignore \
	$(shell find app -type f -not -path '*/__pycache__/*' -not -name '*.pyc' 2>/dev/null)
$(foreach arch,x86_64 aarch64,$(PACKAGE_ID)_$(arch).s9pk) $(PACKAGE_ID).s9pk: $(IMAGE_INPUTS)
endif

node_modules/@start9labs/start-sdk/s9pk.mk:
	npm ci

.PHONY: venv run demo test test-fast test-python realvllm check-package image-check lint typecheck docs bench clean

# The Python virtualenv with the app and its development tools.
venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: venv
	$(BIN)/python -m app --config $(CONFIG)

demo: venv
	$(BIN)/python -m scripts.demo

test: check-package typecheck test-python

# The tiers that share nothing but the machine run on two workers; the rest (browser, real
# OpenSSH in network namespaces, real vLLM, reliability, package) one test at a time. Any new
# test folder lands in the second run unless it is listed here.
PARALLEL_TESTS := tests/unit tests/storage tests/integration tests/downloads tests/sim
test-python: venv realvllm
	$(BIN)/python -m pytest -n 2 $(PARALLEL_TESTS)
	$(BIN)/python -m pytest $(foreach dir,$(PARALLEL_TESTS),--ignore=$(dir))

# The real vLLM (CPU build, ~3.5 GB) in its own cached venv under ~/.cache/spark-control/, for
# tests/realvllm and `make bench`. Installed once; where it cannot be installed, the tier skips
# and says why.
realvllm:
	PYTHON=$(PYTHON) bash scripts/realvllm/install.sh --allow-failure

# What a developer runs every minute: the unit and integration tests, without the slow, the
# simulator's own, browser, real-OpenSSH (system), real-vLLM and reliability tiers. Four
# workers on two cores: these tests spend half their time waiting on the simulator (its load
# times, its SSH round trips), and worksteal keeps the longest from ending the run alone.
FAST_TESTS := tests/unit tests/integration
test-fast: venv
	$(BIN)/python -m pytest -q -n 4 --dist worksteal -m "not slow" $(FAST_TESTS)

# The reliability reports committed under docs/ (a plain test run writes them to a temporary
# directory, so it leaves the tree clean).
REPORT_TESTS := tests/reliability/test_fault_matrix.py tests/reliability/test_soak.py \
	tests/reliability/test_openapi_fuzz.py
docs: venv
	SPARK_REPORTS_DIR=$(CURDIR)/docs $(BIN)/python -m pytest -q $(REPORT_TESTS)

# The StartOS package's checks: type-check, the SDK's lint, the bundle, and its tests.
check-package: node_modules/.package-lock.json
	npm run --silent check
	node node_modules/@start9labs/start-sdk/lint.mjs
	npm run --silent build
	node --test --test-reporter=spec tests/package/*.test.mjs

node_modules/.package-lock.json: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 20+ and npm" >&2; exit 1; }
	npm ci

# Builds the StartOS image for this machine and runs it against the Spark simulator
# (scripts/imagecheck): starts dockerd when no engine runs, and builds a Debian base with
# debootstrap when python:3.11-slim cannot be pulled. Needs root, or a running Docker engine.
image-check: venv
	$(BIN)/python -m scripts.imagecheck

lint: venv typecheck
	$(BIN)/ruff check app scripts tests
	$(BIN)/ruff format --check app scripts tests

# mypy --strict on app/ (settings in pyproject.toml); `make test` runs it too, so CI does.
typecheck: venv
	$(BIN)/mypy app

bench: venv
	$(BIN)/python -m scripts.bench

ifndef READ_S9PK_MK
clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
endif
