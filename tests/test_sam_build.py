"""`sam build` of each template whose package holds native files (once per session), then the
built package runs a full rotation as Lambda runs it: a fresh interpreter with only the package
and the standard library on sys.path, the handler the template names, the environment the
template gives the function, against moto server and the suite's private PostgreSQL, MariaDB or
Redis.

The package is built for this machine's architecture and carries the wheels of every runtime the
templates allow (this interpreter's version is added if it is not one of them), so the very
wheels that Lambda would load are loaded here.

A pure-Python package (Redis: `native=False` in tests/sam_templates.py) is built by its make
target alone, the one `sam build` runs (tests/test_templates.py checks the template names it),
for this machine and this Python, without bytecode: about 3 s instead of a `sam build` of both
architectures (about 25 s). What that skips (both architectures, every Python's wheels merged,
bytecode) is engine-independent make code, proven by the other templates' builds; the test
fails if such a package ever holds a native file.
"""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from helpers import new_password
from moto_server_fixtures import sm_client
from packaging.markers import Marker
from packaging.utils import canonicalize_name
from redis_fixtures import RedisUser
from sam_templates import (
    ENGINES,
    FUNCTION_ARN,
    FUNCTION_NAME,
    ROOT,
    TEMPLATES,
    Resolved,
    rotators,
)
from sam_templates import load as load_template
from sam_templates import transform as sam_transform
from shared import once_per_run
from test_redis_rotator import ORDINARY, SELF_SERVICE

from smrotate.drivers import elf_architecture
from smrotate.testing.aws import REGION, enable_rotation
from smrotate.testing.patience import scaled
from smrotate.testing.tls import Pki

pytestmark = pytest.mark.slow

SAM = str(Path(sys.executable).with_name("sam"))  # aws-sam-cli, a dev dependency
# This machine's architecture, as the template names it and as native file names do.
LAMBDA_ARCHITECTURE = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[
    platform.machine().lower()
]
NATIVE_ARCHITECTURE = {"x86_64": "x86_64", "arm64": "aarch64"}[LAMBDA_ARCHITECTURE]
CA_IN_PACKAGE = "certs/ca-bundle.pem"
# The strategies each package rotates with here, those of them its engine offers.
STRATEGIES = ("single-user", "single-user-via-admin", "alternating-users")
SAM_BUILT = [engine for engine, spec in ENGINES.items() if spec.native]  # the others: make
HERE = f"{sys.version_info.major}.{sys.version_info.minor}"
MARKER = "ROTATION-RESULT "

# Runs in `python -I -S -B`: no site-packages, no PYTHON* variables, no bytecode written (Lambda's
# /var/task is read-only). The package is the only entry added to sys.path, as /var/task is.
LAMBDA_LIKE = r"""
DRIVER_MODULE = "smrotate_test_local_driver"
import importlib, importlib.util, json, sys, sysconfig
package, handler_name, secret_arn, driver_file = sys.argv[1:5]
sys.path.insert(0, package)
module_name, _, attribute = handler_name.rpartition(".")
handler = getattr(importlib.import_module(module_name), attribute)
# The local driver (RotateSecret's part) is operator code, left out of the package: load it
# from the checkout; it imports only engine modules, which come from the package.
spec = importlib.util.spec_from_file_location(DRIVER_MODULE, driver_file)
driver = importlib.util.module_from_spec(spec)
sys.modules[DRIVER_MODULE] = driver
spec.loader.exec_module(driver)
result = driver.LocalDriver(handler).rotate(secret_arn)
import boto3
boto3.client("rds")  # a model the package keeps
from botocore.exceptions import UnknownServiceError
try:
    boto3.client("lambda")  # one it drops
    dropped = False
except UnknownServiceError:
    dropped = True
paths = sysconfig.get_paths()
allowed = (package, paths["stdlib"], paths["platstdlib"])
loaded = {name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())}
report = {
    "ok": result.ok,
    "steps": [step.value for step in result.steps_done],
    "failed_step": result.failed_step.value if result.failed_step else None,
    "error": f"{type(result.error).__name__}: {result.error}" if result.error else None,
    "outside": sorted(
        n for n, f in loaded.items() if f and not f.startswith(allowed) and n != DRIVER_MODULE
    ),
    "site_packages": [p for p in sys.path if "site-packages" in p],
    "lambda_model_dropped": dropped,
    "psycopg": None,
}
if "psycopg" in sys.modules:
    import psycopg
    report["psycopg"] = [psycopg.pq.__impl__, sys.modules["psycopg_binary"].__file__]
print("ROTATION-RESULT " + json.dumps(report))
"""


def template_versions() -> list[str]:
    """The Python versions sam.mk packages by default."""
    found = re.search(
        r"^LAMBDA_PYTHON_VERSIONS \?= (.+)$", (TEMPLATES / "sam.mk").read_text(), re.M
    )
    assert found
    return found.group(1).split()


def built_versions(engine: str) -> list[str]:
    """The Python versions whose wheels the package of `engine` carries, as built here."""
    if not ENGINES[engine].native:
        return [HERE]
    return [*template_versions(), *([HERE] if HERE not in template_versions() else [])]


@pytest.fixture(scope="session")
def sam_build(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Callable[..., Path]:
    """An engine's package folder for `architecture` (default: this machine's), built on first
    use (once per run, shared by the workers) with the suite's CA as the package's CA bundle
    (SAM_CA_BUNDLE): by `sam build` of its template (which builds both architectures), or for a
    pure-Python package by its make target, for this machine only (see the top of this file)."""

    def build(engine: str, architecture: str = LAMBDA_ARCHITECTURE) -> Path:
        spec = ENGINES[engine]
        function = spec.function + ("Arm64" if architecture == "arm64" else "")
        variables = {
            "SAM_CLI_TELEMETRY": "0",
            "SAM_PYTHON": sys.executable,  # the uv that downloads the wheels
            "LAMBDA_PYTHON_VERSIONS": " ".join(built_versions(engine)),
            "SAM_CA_BUNDLE": str(pki.ca),
            # this Python's bytecode; none in a package made without sam build
            "SAM_BYTECODE_PYTHONS": sys.executable if spec.native else "none",
        }
        if not spec.native:
            assert architecture == LAMBDA_ARCHITECTURE, "a pure-Python package: this machine's"
            with once_per_run(tmp_path_factory, f"make-{engine}") as (folder, needed):
                if needed:
                    command = ["make", "--no-print-directory", f"build-{function}"]
                    command += [f"ARTIFACTS_DIR={folder}"]
                    command += [f"{name}={value}" for name, value in variables.items()]
                    run = subprocess.run(
                        command, cwd=ROOT, capture_output=True, text=True, check=False
                    )
                    said = run.stdout + run.stderr
                    assert run.returncode == 0, said[-6000:]
                    assert f"on manylinux2014_{NATIVE_ARCHITECTURE}, by uv" in said, said[-3000:]
            return folder
        with once_per_run(tmp_path_factory, f"sam-build-{engine}") as (folder, needed):
            if needed:
                command = [SAM, "build", "--template", str(TEMPLATES / spec.template)]
                command += ["--build-dir", str(folder), "--build-in-source"]
                run = subprocess.run(
                    command,
                    cwd=ROOT,
                    env={**os.environ, **variables},
                    capture_output=True,
                    text=True,
                    check=False,
                )
                said = run.stdout + run.stderr  # sam prints make's output on stderr
                assert run.returncode == 0, said[-6000:]
                assert f"on manylinux2014_{NATIVE_ARCHITECTURE}, by uv" in said, said[-3000:]
                assert f"sam.mk: bytecode for Python {HERE}" in said, said[-3000:]
        return folder / function

    return build


def versions(package: Path) -> dict[str, str]:
    """distribution -> version, of every dist-info in the package."""
    found: dict[str, str] = {}
    for path in package.glob("*.dist-info"):
        name, version = path.name.removesuffix(".dist-info").rsplit("-", 1)
        found[canonicalize_name(name)] = version
    return found


def lambda_platform(version: str) -> dict[str, str]:
    """The marker environment of Lambda's CPython `version` as the installs see it (uv and pip
    take `--python-version 3.11` as 3.11.0)."""
    return {
        "python_version": version,
        "python_full_version": f"{version}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
    }


def locked(engine: str, python_versions: Sequence[str]) -> dict[str, str]:
    """What locks/<lock>.txt pins for Lambda's Linux and any of `python_versions`."""
    lock = ROOT / "locks" / f"{ENGINES[engine].lock}.txt"
    found: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        if (match := re.match(r"^([A-Za-z0-9._-]+)==(\S+?)(?: ; (.+?))? \\$", line)) and (
            match[3] is None
            or any(Marker(match[3]).evaluate(lambda_platform(v)) for v in python_versions)
        ):
            found[canonicalize_name(match[1])] = match[2]
    return found


def is_elf(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(4) == b"\x7fELF"


def distributions(package: Path) -> set[str]:
    return {
        p.name.removesuffix(".dist-info").rsplit("-", 1)[0] for p in package.glob("*.dist-info")
    }


@pytest.mark.parametrize("engine", ENGINES)
def test_the_package_holds_the_runtime_and_nothing_else(
    engine: str, sam_build: Callable[..., Path]
) -> None:
    package = sam_build(engine)
    dists = distributions(package)
    assert {"boto3", "botocore", "aws_lambda_powertools"} <= dists
    assert ENGINES[engine].drivers <= dists
    for other, spec in ENGINES.items():
        if spec.lock != ENGINES[engine].lock:
            assert not spec.drivers & dists, f"{other}'s driver in {engine}'s package"
    assert not {"moto", "pytest", "mypy", "ruff", "aws_sam_cli", "cfn_lint", "boto3_stubs"} & dists
    for absent in (
        "tests",
        "bench",
        "templates",
        "framework",
        "rotators",
        "smrotate/testing",
        "smrotate/operator",
        "smrotate/cdk",
    ):
        assert not (package / absent).exists(), absent
    for engine_module in ("__init__.py", "rotator.py", "strategies.py", "store.py"):
        assert (package / "smrotate" / engine_module).is_file(), engine_module
    folder = package / "smrotate" / "rotators"
    for name in rotators(engine):  # its own, and those it imports (ElastiCache's: Redis's)
        assert (folder / name / "__init__.py").is_file()
    assert {p.name for p in folder.iterdir()} - {"__pycache__"} == {
        "__init__.py",
        *rotators(engine),
    }
    assert versions(package) == locked(engine, built_versions(engine)), "not the lock's versions"
    assert (package / CA_IN_PACKAGE).read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    if not ENGINES[engine].native:
        elf = [p for p in package.rglob("*") if p.is_file() and is_elf(p)]
        assert elf == [], "native files: set native=True in tests/sam_templates.py (sam build)"
        return
    for version in template_versions():
        tag = f"cpython-{version.replace('.', '')}-{NATIVE_ARCHITECTURE}-linux-gnu.so"
        assert list(package.rglob(f"*.{tag}")), f"no native file for Python {version}"


# Imports the handler's module as Lambda does (-I -S -B, only the package on sys.path), makes the
# Secrets Manager client a step makes, and prints
# the package's files that Python compiled from source: none, when the bytecode is used.
FROM_SOURCE = r"""
import importlib, json, sys
from importlib.machinery import SourceFileLoader
package, module = sys.argv[1:3]
sys.path.insert(0, package)
compiled = []
source_to_code = SourceFileLoader.source_to_code
def recording(self, data, path, **kwargs):
    compiled.append(str(path))
    return source_to_code(self, data, path, **kwargs)
SourceFileLoader.source_to_code = recording
importlib.import_module(module)
import boto3
boto3.client("secretsmanager")  # what a step loads next: botocore, its client, its model
print(json.dumps({"compiled": [p for p in compiled if p.startswith(package)],
                  "modules": sum(1 for m in sys.modules.values()
                                 if (getattr(m, "__file__", None) or "").startswith(package))}))
"""


def pyc_flags(path: Path) -> int:
    """The flags word of a .pyc header (PEP 552): 0b01 hash-based, 0b10 checked against source."""
    return int.from_bytes(path.read_bytes()[4:8], "little")


@pytest.mark.parametrize("engine", SAM_BUILT)
def test_the_package_ships_bytecode_that_python_loads_without_compiling(
    engine: str, sam_build: Callable[..., Path]
) -> None:
    """Lambda's /var/task is read-only: without bytecode in the package, each cold start would
    compile every module it imports. The package's .pyc files are unchecked-hash ones (valid
    whatever modification times the zip keeps), and importing the handler compiles nothing."""
    package = sam_build(engine)
    tag = sys.implementation.cache_tag
    sources = [p for p in package.rglob("*.py") if "smrotate" in p.parts or "boto3" in p.parts]
    assert sources
    for source in sources:
        cached = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        assert cached.is_file(), f"no bytecode for {source.relative_to(package)}"
        assert pyc_flags(cached) == 0b01, cached
    module = f"smrotate.rotators.{engine}"  # the handler's module
    run = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", FROM_SOURCE, str(package), module],
        cwd=package,
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": REGION},
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(run.stdout)
    assert report["modules"] > 200, "the handler's import loaded too little to prove anything"
    assert report["compiled"] == []


@pytest.mark.parametrize("engine", SAM_BUILT)
def test_each_dist_info_lists_the_files_and_tags_of_every_python(
    engine: str, sam_build: Callable[..., Path]
) -> None:
    """The per-Python installs are merged: a native package's RECORD lists the extension of
    every Python version, and its WHEEL every wheel's tag (what an SBOM scanner reads)."""
    package = sam_build(engine)
    native = "psycopg_binary" if engine == "postgresql" else "cryptography"
    (dist_info,) = package.glob(f"{native}-*.dist-info")
    record = (dist_info / "RECORD").read_text()
    tags = [
        line for line in (dist_info / "WHEEL").read_text().splitlines() if line.startswith("Tag:")
    ]
    listed = {path.split(",")[0] for path in record.splitlines()}
    assert all((package / path).exists() for path in listed if not path.endswith(".pyc"))
    if engine == "postgresql":  # one extension module per Python (cryptography's is abi3)
        for version in template_versions():
            assert any(f"cpython-{version.replace('.', '')}-" in path for path in listed), version
        assert len({tag.split("-")[0] for tag in tags}) >= len(template_versions())


@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
@pytest.mark.parametrize("engine", SAM_BUILT)
def test_each_packages_native_libraries_match_its_architecture(
    engine: str, architecture: str, sam_build: Callable[..., Path]
) -> None:
    """`sam build` makes one package per architecture; every ELF file in each is built for it
    (read from the ELF header), and the drivers' extension modules are there."""
    package = sam_build(engine, architecture)
    elf = [p for p in package.rglob("*.so*") if p.is_file() and p.read_bytes()[:4] == b"\x7fELF"]
    assert len(elf) >= 2
    assert {elf_architecture(path) for path in elf} == {architecture}
    machine = {"x86_64": "x86_64", "arm64": "aarch64"}[architecture]
    assert any(f"-{machine}-linux-gnu" in path.name for path in elf)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_package_keeps_the_api_models_its_code_calls(
    engine: str, sam_build: Callable[..., Path]
) -> None:
    """Exactly sam.mk's SAM_BOTOCORE_SERVICES and the engine's own (its line there), and every
    service named in a client call of the packaged code among them."""
    package = sam_build(engine)
    kept = {p.name for p in (package / "botocore" / "data").iterdir() if p.is_dir()}
    assert kept == {"secretsmanager", "rds", "sts"} | ENGINES[engine].services
    called = set()
    for source in package.glob("smrotate/**/*.py"):
        called |= set(re.findall(r"\.client\(\s*\"([a-z0-9-]+)\"", source.read_text()))
    assert called
    assert called <= kept


# Imports the handler as Lambda does (-I -S -B, only the package on sys.path) and makes the
# clients of the models the package keeps; prints the modules loaded from elsewhere.
IMPORTS = r"""
import importlib, json, sys, sysconfig
package, handler, services = sys.argv[1], sys.argv[2], sys.argv[3].split()
sys.path.insert(0, package)
module, _, name = handler.rpartition(".")
assert callable(getattr(importlib.import_module(module), name))
import boto3
for service in services:
    boto3.client(service)
paths = sysconfig.get_paths()
allowed = (package, paths["stdlib"], paths["platstdlib"])
files = {name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())}
print(json.dumps(sorted(name for name, f in files.items() if f and not f.startswith(allowed))))
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_the_handler_imports_from_the_package_alone(
    engine: str, sam_build: Callable[..., Path]
) -> None:
    """What Lambda does before any step: the handler the template names imports, with every
    module it needs from the package or the standard library (a rotator that imports another
    finds it there), and the clients of the kept models can be made."""
    package = sam_build(engine)
    handler = load_template(engine)["Resources"][ENGINES[engine].function]["Properties"]["Handler"]
    services = " ".join(sorted({"secretsmanager", "sts"} | ENGINES[engine].services))
    run = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", IMPORTS, str(package), handler, services],
        cwd=package,
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": REGION},
        capture_output=True,
        text=True,
        check=False,
        timeout=scaled(120),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout) == []


def lambda_environment(engine: str, package: Path, moto_url: str, **values: str) -> dict[str, str]:
    """What Lambda gives the function: its template's variables, credentials, the region."""
    params = {
        "functionName": FUNCTION_NAME,
        "endpoint": moto_url,
        "databaseCaBundle": CA_IN_PACKAGE,
    }
    template = Resolved(sam_transform(load_template(engine)), {**params, **values})
    function = template.resources[ENGINES[engine].function]["Properties"]
    return {
        **function["Environment"]["Variables"],
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "LAMBDA_TASK_ROOT": str(package),
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "_HANDLER": function["Handler"],
    }


def run_like_lambda(
    package: Path, env: dict[str, str], secret_arn: str
) -> tuple[dict[str, Any], str]:
    """One rotation by the package in a fresh interpreter; its report and all its output."""
    run = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-B",
            "-c",
            LAMBDA_LIKE,
            str(package),
            env["_HANDLER"],
            secret_arn,
            str(ROOT / "framework" / "operator" / "driver.py"),
        ],
        cwd=package,  # Lambda's working directory is the package (/var/task)
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=scaled(300),
    )
    output = run.stdout + run.stderr
    lines = [line for line in run.stdout.splitlines() if line.startswith(MARKER)]
    assert run.returncode == 0
    assert len(lines) == 1, "the fresh interpreter printed no report"
    return json.loads(lines[0].removeprefix(MARKER)), output


class Database:
    """The suite's server for an engine, and a fresh user of it for a strategy, seen through
    the few calls this test needs."""

    def __init__(self, engine: str, strategy: str, request: pytest.FixtureRequest) -> None:
        self.engine = engine
        if engine == "redis":
            self.server: Any = request.getfixturevalue("redis_server")
            # The admin refuses users that could change others (docs/redis.md).
            rules = ORDINARY if strategy == "single-user-via-admin" else SELF_SERVICE
            self.user: Any = RedisUser(f"app_{secrets.token_hex(4)}", new_password())
            self.server.create_user(self.user.name, self.user.password, rules)
            request.addfinalizer(lambda: self.server.drop_user(self.user.name))
            return
        self.server = request.getfixturevalue("pg" if engine == "postgresql" else "mariadb")
        make = request.getfixturevalue("pg_user" if engine == "postgresql" else "mariadb_user")
        self.user = make()

    def secret(self, username: str, password: str, **extra: str) -> dict[str, Any]:
        value = dict(self.server.secret(username, password, **extra))
        value.pop("sslrootcert")  # the CA comes from the package (DATABASE_CA_BUNDLE)
        return value

    def admin_secret(self) -> dict[str, Any]:
        value = dict(self.server.admin_secret())
        value.pop("sslrootcert")
        return value

    def logs_in(self, user: str, password: str) -> bool:
        return bool(self.server.logs_in(user, password))


@pytest.fixture
def database(request: pytest.FixtureRequest) -> Database:
    """The server and a fresh user of the (engine, strategy) the test is parametrized with."""
    engine, strategy = request.param
    return Database(engine, strategy, request)


SERVER_MARKS = {
    "postgresql": pytest.mark.postgres,
    "mysql": pytest.mark.mariadb,
    "redis": pytest.mark.redis,
}


@pytest.mark.parametrize(
    ("database", "strategy"),
    [
        pytest.param((e, s), s, id=f"{e}-{s}", marks=SERVER_MARKS[e])
        for e in SERVER_MARKS  # the engines with a private server here (not the AWS APIs)
        for s in STRATEGIES
        if s in ENGINES[e].strategies
    ],
    indirect=["database"],
)
def test_the_built_handler_rotates_like_lambda(
    database: Database, strategy: str, sam_build: Callable[..., Path], moto_url: str
) -> None:
    engine, user = database.engine, database.user
    package = sam_build(engine)
    sm = sm_client(moto_url)
    values = {"rotationStrategy": strategy}
    extra = {}
    if strategy != "single-user":
        admin = sm.create_secret(
            Name=f"admin/{engine}-{secrets.token_hex(3)}",
            SecretString=json.dumps(database.admin_secret()),
        )["ARN"]
        values["masterSecretArn"] = extra["masterarn"] = admin
    name = f"app/{engine}-{secrets.token_hex(3)}"
    arn = sm.create_secret(
        Name=name, SecretString=json.dumps(database.secret(user.name, user.password, **extra))
    )["ARN"]
    enable_rotation(name, function_arn=FUNCTION_ARN)

    env = lambda_environment(engine, package, moto_url, **values)
    assert env["ROTATION_STRATEGY"] == strategy
    report, output = run_like_lambda(package, env, arn)

    assert report["ok"], f"{report['failed_step']}: {report['error']}"
    assert report["steps"] == ["createSecret", "setSecret", "testSecret", "finishSecret"]
    assert report["outside"] == []
    assert report["site_packages"] == []
    assert report["lambda_model_dropped"]
    if engine == "postgresql":
        impl, where = report["psycopg"]
        assert impl == "binary"
        assert where.startswith(str(package))
    current = json.loads(
        sm.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"]
    )
    previous = json.loads(
        sm.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["SecretString"]
    )
    assert current["password"] != user.password
    assert database.logs_in(current["username"], current["password"])
    expected_user = user.name + "_clone" if strategy == "alternating-users" else user.name
    assert current["username"] == expected_user
    assert previous["password"] == user.password
    # single user: the old password is gone; alternating users: it still works until next time
    assert database.logs_in(user.name, user.password) == (strategy == "alternating-users")
    assert f'"service":"{FUNCTION_NAME}"' in output.replace(" ", "")  # POWERTOOLS_SERVICE_NAME
    passwords = {user.password, current["password"], database.admin_secret()["password"]}
    assert not [p for p in passwords if p in output], "a password appears in the function's output"
