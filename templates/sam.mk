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
# SAM_NOT_IN_PACKAGE, and its own rotator of rotators/ in smrotate/rotators/), and the engine's runtime
# requirements as locks/<extra>.txt pins them (the core dependencies, boto3 included, and the
# engine's extra; every file's hash checked) as manylinux wheels, binary only, with botocore's API models of SAM_BOTOCORE_SERVICES
# only, each dist-info listing the files and wheel tags of every Python version
# (merge_dist_info.py); with SAM_CA_BUNDLE=file, that file as certs/ca-bundle.pem (deploy with
# databaseCaBundle=certs/ca-bundle.pem).

LAMBDA_PYTHON_VERSIONS ?= 3.11 3.12 3.13 3.14
SAM_CA_BUNDLE ?=

# The AWS services whose API models stay in the package's botocore: the ones the packaged code
# calls (tests/test_sam_build.py checks the list). The other models are most of botocore's size.
SAM_BOTOCORE_SERVICES = secretsmanager rds sts
# What smrotate/ holds for the CLI, the demo and the tests: none of it runs in Lambda.
SAM_NOT_IN_PACKAGE = smrotate/operator smrotate/testing

SAM_ROOT := $(patsubst %/,%,$(dir $(abspath $(dir $(lastword $(MAKEFILE_LIST))))))
SAM_PYTHON ?= $(or $(wildcard $(SAM_ROOT)/.venv/bin/python),python3)

# $(call sam_package,<extra>,<rotator>,<machine>): fill ARTIFACTS_DIR with one engine's package
# for one machine (x86_64 or aarch64): the extra's lock (locks/<extra>.txt) and that rotator
# alone (rotators/<rotator>/).
define sam_package
	@test -n "$(ARTIFACTS_DIR)" || { echo "sam.mk: ARTIFACTS_DIR is not set (run sam build)" >&2; exit 1; }
	@echo "sam.mk: $(1) package for Python $(LAMBDA_PYTHON_VERSIONS) on manylinux2014_$(3)"
	@set -eu; work=$$(mktemp -d); trap 'rm -rf "$$work"' EXIT; \
	pids=""; for version in $(LAMBDA_PYTHON_VERSIONS); do \
		"$(SAM_PYTHON)" -m pip install --quiet --quiet --disable-pip-version-check --no-warn-conflicts \
			--no-compile --only-binary=:all: --implementation cp --platform manylinux2014_$(3) \
			--python-version $$version --target "$$work/$$version" \
			--require-hashes -r "$(SAM_ROOT)/locks/$(1).txt" & \
		pids="$$pids $$!"; \
	done; \
	for pid in $$pids; do wait $$pid; done; \
	clash=$$(cd "$$work" && ls -d */*.dist-info | sed 's|^[^/]*/||; s|\.dist-info$$||' \
		| sort -u | sed 's|-[^-]*$$||' | uniq -d | tr '\n' ' '); \
	if [ -n "$$clash" ]; then \
		echo "sam.mk: Python versions resolved different releases of: $$clash" >&2; exit 1; \
	fi; \
	mkdir -p "$(ARTIFACTS_DIR)"; \
	for version in $(LAMBDA_PYTHON_VERSIONS); do cp -R "$$work/$$version/." "$(ARTIFACTS_DIR)/"; done; \
	"$(SAM_PYTHON)" "$(SAM_ROOT)/templates/merge_dist_info.py" "$(ARTIFACTS_DIR)" \
		$(foreach version,$(LAMBDA_PYTHON_VERSIONS),"$$work/$(version)")
	rm -rf "$(ARTIFACTS_DIR)/bin"
	find "$(ARTIFACTS_DIR)/botocore/data" -mindepth 1 -maxdepth 1 -type d \
		$(foreach service,$(SAM_BOTOCORE_SERVICES),! -name $(service)) -exec rm -rf {} +
	rm -rf "$(ARTIFACTS_DIR)/smrotate"
	cp -R "$(SAM_ROOT)/framework" "$(ARTIFACTS_DIR)/smrotate"
	mkdir -p "$(ARTIFACTS_DIR)/smrotate/rotators"
	cp "$(SAM_ROOT)/rotators/__init__.py" "$(ARTIFACTS_DIR)/smrotate/rotators/"
	cp -R "$(SAM_ROOT)/rotators/$(2)" "$(ARTIFACTS_DIR)/smrotate/rotators/$(2)"
	rm -rf $(foreach path,$(SAM_NOT_IN_PACKAGE),"$(ARTIFACTS_DIR)/$(path)")
	find "$(ARTIFACTS_DIR)/smrotate" -depth -name __pycache__ -exec rm -rf {} +
	$(if $(SAM_CA_BUNDLE),mkdir -p "$(ARTIFACTS_DIR)/certs")
	$(if $(SAM_CA_BUNDLE),cp "$(SAM_CA_BUNDLE)" "$(ARTIFACTS_DIR)/certs/ca-bundle.pem")
endef

.PHONY: build-PostgreSQLRotationFunction build-PostgreSQLRotationFunctionArm64
.PHONY: build-MySQLRotationFunction build-MySQLRotationFunctionArm64

build-PostgreSQLRotationFunction:
	$(call sam_package,postgres,postgresql,x86_64)

build-PostgreSQLRotationFunctionArm64:
	$(call sam_package,postgres,postgresql,aarch64)

build-MySQLRotationFunction:
	$(call sam_package,mysql,mysql,x86_64)

build-MySQLRotationFunctionArm64:
	$(call sam_package,mysql,mysql,aarch64)
