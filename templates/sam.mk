# The SAM build targets, included by the project's Makefile.
#
# `sam build` (BuildMethod: makefile) runs `make build-<LogicalId>` in the project root (CodeUri
# `..` of the templates) with ARTIFACTS_DIR set, and tells make nothing else: neither the runtime
# nor the architecture. So:
# - the package carries the native wheels of every Python version in LAMBDA_PYTHON_VERSIONS
#   (the runtimes the templates allow): the runtime can be chosen at deploy time, after the build;
# - the architecture cannot be fat (a wheel's native files keep one name across architectures),
#   so each template has one function resource per architecture, and so one target each here
#   (the logical id is all that SAM passes): <Engine>RotationFunction for x86_64 and
#   <Engine>RotationFunctionArm64 for arm64. `sam build` builds both; the stack deploys one.
#
# A package holds the `smrotate` import package (framework/ as smrotate/, less
# SAM_NOT_IN_PACKAGE, and its own rotator of rotators/ in smrotate/rotators/, with any rotator
# that one imports), and the engine's runtime
# requirements as locks/<extra>.txt pins them (the core dependencies, boto3 included, and the
# engine's extra; every file's hash checked) as manylinux wheels, binary only, with botocore's API models of SAM_BOTOCORE_SERVICES
# only, each dist-info listing the files and wheel tags of every Python version
# (merge_dist_info.py); with SAM_CA_BUNDLE=file, that file as certs/ca-bundle.pem (deploy with
# databaseCaBundle=certs/ca-bundle.pem).
#
# Wheels are installed by uv when SAM_PYTHON has it (`SAM_PYTHON -m uv`: seconds), else by pip
# (SAM_INSTALLER=uv or pip chooses).
#
# Bytecode: Lambda's /var/task is read-only, so a package without it compiles every module it
# imports at every cold start. The package gets __pycache__/*.cpython-3XY.pyc for each Python of
# SAM_BYTECODE_PYTHONS: interpreters, by default python<version> for each version of
# LAMBDA_PYTHON_VERSIONS that this machine can run (the build says which it skipped). The .pyc
# files are unchecked-hash: Python loads them without comparing them with the source, whose
# modification times the zip does not keep exactly. SAM_BYTECODE_PYTHONS=none ships none.

LAMBDA_PYTHON_VERSIONS ?= 3.11 3.12 3.13 3.14
SAM_CA_BUNDLE ?=

# The AWS services whose API models stay in the package's botocore: the ones the packaged code
# calls (tests/test_sam_build.py checks the list). The other models are most of botocore's size.
SAM_BOTOCORE_SERVICES = secretsmanager rds sts
# What smrotate/ holds for the CLI, the demo, the tests and the CDK: none of it runs in Lambda.
SAM_NOT_IN_PACKAGE = smrotate/operator smrotate/testing smrotate/cdk

SAM_ROOT := $(patsubst %/,%,$(dir $(abspath $(dir $(lastword $(MAKEFILE_LIST))))))
SAM_PYTHON ?= $(or $(wildcard $(SAM_ROOT)/.venv/bin/python),python3)
# uv when SAM_PYTHON has it (`SAM_PYTHON -m uv`), else pip; SAM_INSTALLER=pip chooses pip.
SAM_INSTALLER ?= $(if $(shell "$(SAM_PYTHON)" -m uv --version 2>/dev/null),uv,pip)
# python<version> for each version it runs as (a pyenv shim that is not selected does not).
SAM_BYTECODE_PYTHONS ?= $(foreach version,$(LAMBDA_PYTHON_VERSIONS),$(shell \
	python$(version) -c 'import sys; print(sys.executable if "%d.%d" % sys.version_info[:2] == "$(version)" else "")' 2>/dev/null))

# $(call sam_install,<extra>,<machine>,<version>,<target folder>): the extra's lock, as wheels for
# that machine and Python version, binary only, every file's hash checked. One Python version
# after the other with uv (its cache is faster alone), all at once with pip.
ifeq ($(SAM_INSTALLER),uv)
sam_install = "$(SAM_PYTHON)" -m uv pip install --quiet --python "$(SAM_PYTHON)" \
	--only-binary :all: --python-platform $(2)-manylinux2014 --python-version $(3) \
	--target "$(4)" --require-hashes -r "$(SAM_ROOT)/locks/$(1).txt"
SAM_IN_PARALLEL = ;
else
sam_install = "$(SAM_PYTHON)" -m pip install --quiet --quiet --disable-pip-version-check \
	--no-warn-conflicts --no-compile --only-binary=:all: --implementation cp \
	--platform manylinux2014_$(2) --python-version $(3) --target "$(4)" \
	--require-hashes -r "$(SAM_ROOT)/locks/$(1).txt"
SAM_IN_PARALLEL = &
endif

# $(call sam_drop_models,<folder>,<services>): botocore's API models in <folder>, but those of
# SAM_BOTOCORE_SERVICES and <services>; done in each Python version's install before they are
# copied together (less to copy).
sam_drop_models = find "$(1)/botocore/data" -mindepth 1 -maxdepth 1 -type d \
	$(foreach service,$(SAM_BOTOCORE_SERVICES) $(2),! -name $(service)) -exec rm -rf {} +

# $(call sam_package,<extra>,<rotators>,<machine>,<services>): fill ARTIFACTS_DIR with one
# engine's package for one machine (x86_64 or aarch64): the extra's lock (locks/<extra>.txt),
# those rotators alone (rotators/<rotator>/ each: the engine's own, then any it imports), and
# botocore's models of SAM_BOTOCORE_SERVICES and <services> (the AWS APIs that rotator alone
# calls).
define sam_package
	@test -n "$(ARTIFACTS_DIR)" || { echo "sam.mk: ARTIFACTS_DIR is not set (run sam build)" >&2; exit 1; }
	@echo "sam.mk: $(1) package for Python $(LAMBDA_PYTHON_VERSIONS) on manylinux2014_$(3), by $(SAM_INSTALLER)"
	@set -eu; work=$$(mktemp -d); trap 'rm -rf "$$work"' EXIT; \
	pids=""; for version in $(LAMBDA_PYTHON_VERSIONS); do \
		$(call sam_install,$(1),$(3),$$version,$$work/$$version) $(SAM_IN_PARALLEL) \
		pids="$$pids $${!:-}"; \
	done; \
	for pid in $$pids; do wait $$pid; done; \
	clash=$$(cd "$$work" && ls -d */*.dist-info | sed 's|^[^/]*/||; s|\.dist-info$$||' \
		| sort -u | sed 's|-[^-]*$$||' | uniq -d | tr '\n' ' '); \
	if [ -n "$$clash" ]; then \
		echo "sam.mk: Python versions resolved different releases of: $$clash" >&2; exit 1; \
	fi; \
	for version in $(LAMBDA_PYTHON_VERSIONS); do $(call sam_drop_models,$$work/$$version,$(4)); done; \
	mkdir -p "$(ARTIFACTS_DIR)"; \
	for version in $(LAMBDA_PYTHON_VERSIONS); do cp -R "$$work/$$version/." "$(ARTIFACTS_DIR)/"; done; \
	"$(SAM_PYTHON)" "$(SAM_ROOT)/templates/merge_dist_info.py" "$(ARTIFACTS_DIR)" \
		$(foreach version,$(LAMBDA_PYTHON_VERSIONS),"$$work/$(version)")
	rm -rf "$(ARTIFACTS_DIR)/bin"
	$(call sam_drop_models,$(ARTIFACTS_DIR),$(4))  # a model left from an earlier build there
	rm -rf "$(ARTIFACTS_DIR)/smrotate"
	cp -R "$(SAM_ROOT)/framework" "$(ARTIFACTS_DIR)/smrotate"
	mkdir -p "$(ARTIFACTS_DIR)/smrotate/rotators"
	cp "$(SAM_ROOT)/rotators/__init__.py" "$(ARTIFACTS_DIR)/smrotate/rotators/"
	set -e; $(foreach rotator,$(2),cp -R "$(SAM_ROOT)/rotators/$(rotator)" "$(ARTIFACTS_DIR)/smrotate/rotators/$(rotator)";)
	rm -rf $(foreach path,$(SAM_NOT_IN_PACKAGE),"$(ARTIFACTS_DIR)/$(path)")
	find "$(ARTIFACTS_DIR)" -depth -name __pycache__ -exec rm -rf {} +
	$(call sam_bytecode)
	$(if $(SAM_CA_BUNDLE),mkdir -p "$(ARTIFACTS_DIR)/certs")
	$(if $(SAM_CA_BUNDLE),cp "$(SAM_CA_BUNDLE)" "$(ARTIFACTS_DIR)/certs/ca-bundle.pem")
endef

# Bytecode for each Python of SAM_BYTECODE_PYTHONS (see the top of this file).
define sam_bytecode
	@set -eu; compiled=""; \
	for python in $(filter-out none,$(SAM_BYTECODE_PYTHONS)); do \
		version=$$("$$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
		"$$python" -m compileall -q -j 0 --invalidation-mode unchecked-hash "$(ARTIFACTS_DIR)" \
			|| echo "sam.mk: Python $$version could not compile the files named above: they load from source"; \
		compiled="$$compiled $$version"; \
	done; \
	missing=""; for version in $(LAMBDA_PYTHON_VERSIONS); do \
		case " $$compiled " in *" $$version "*) ;; *) missing="$$missing $$version";; esac; \
	done; \
	echo "sam.mk: bytecode for Python$${compiled:- none}$${missing:+; none for$$missing (SAM_BYTECODE_PYTHONS has no interpreter for them)}"
endef

# $(call sam_functions,<Engine>,<extra>,<rotators>[,<services>]): the build targets of one
# template's two functions, build-<Engine>RotationFunction (x86_64) and
# build-<Engine>RotationFunctionArm64 (arm64), each making sam_package's package of
# locks/<extra>.txt and rotators/<rotator>/ of each of <rotators> (the engine's own first). One
# line per template below: a new template needs its line (tests/test_templates.py runs each
# template's targets with --dry-run).
define sam_functions
.PHONY: build-$(1)RotationFunction build-$(1)RotationFunctionArm64
build-$(1)RotationFunction:
	$$(call sam_package,$(2),$(3),x86_64,$(4))
build-$(1)RotationFunctionArm64:
	$$(call sam_package,$(2),$(3),aarch64,$(4))
endef

$(eval $(call sam_functions,PostgreSQL,postgres,postgresql))
$(eval $(call sam_functions,MySQL,mysql,mysql))
$(eval $(call sam_functions,Redis,redis,redis))
# ElastiCacheUserRotator is a RedisRotator: its package holds rotators/redis/ too.
$(eval $(call sam_functions,ElastiCache,redis,elasticache redis,elasticache memorydb))
$(eval $(call sam_functions,IAMKeys,iam-keys,iam_keys,iam))
