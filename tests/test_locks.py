"""The locks: the Lambda packages carry the versions the tests ran, every file's hash is
pinned, and no lock has gone stale against pyproject.toml (`make lock` refreshes them)."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from sam_templates import ENGINES

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ROOT / "locks"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
LAMBDA_LOCKS = sorted({spec.lock for spec in ENGINES.values()})  # the templates' packages
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)(?:\s*;\s*([^\\]+?))?\s*\\?$")


def all_pins(name: str) -> list[tuple[str, str, str | None, int]]:
    """(package, version, marker, number of hashes) for each pin of locks/<name>.txt; a
    universal lock may pin a package twice, for different Pythons or platforms."""
    found: list[tuple[str, str, str | None, int]] = []
    for line in (LOCKS / f"{name}.txt").read_text().splitlines():
        if match := PIN.match(line):
            found.append((canonicalize_name(match[1]), match[2], match[3], 0))
        elif line.strip().startswith("--hash=sha256:") and found:
            package, version, marker, hashes = found[-1]
            found[-1] = (package, version, marker, hashes + 1)
    return found


def pins(name: str) -> dict[str, tuple[str, int]]:
    """package -> (version, number of hashes) of the pins that apply to this environment."""
    return {
        package: (version, hashes)
        for package, version, marker, hashes in all_pins(name)
        if marker is None or Marker(marker).evaluate()
    }


def requirement_names(extra: str) -> set[str]:
    """The packages pyproject.toml asks for in the core and in `extra` (self-references
    followed), without the project itself."""
    names: set[str] = set()
    seen: set[str] = set()
    todo = [*PROJECT["dependencies"], f"smrotate[{extra}]"]
    while todo:
        requirement = Requirement(todo.pop())
        if canonicalize_name(requirement.name) != "smrotate":
            names.add(canonicalize_name(requirement.name))
            continue
        for wanted in requirement.extras - seen:
            seen.add(wanted)
            todo += PROJECT["optional-dependencies"][wanted]
    return names


@pytest.mark.parametrize("lock", ["dev", "demo", *LAMBDA_LOCKS])
def test_every_pin_has_hashes_and_the_lock_covers_pyproject(lock: str) -> None:
    locked = pins(lock)
    assert locked
    assert all(hashes for *_, hashes in all_pins(lock)), "a pin without --hash"
    missing = requirement_names(lock) - set(locked)
    assert not missing, f"locks/{lock}.txt is stale: run `make lock` ({sorted(missing)})"


@pytest.mark.parametrize("lock", LAMBDA_LOCKS)
def test_a_lambda_lock_pins_one_release_per_package(lock: str) -> None:
    """The package merges the wheels of every Python the templates allow (templates/sam.mk):
    they must be the same releases."""
    packages = [package for package, *_ in all_pins(lock)]
    assert len(packages) == len(set(packages))


@pytest.mark.parametrize("lock", ["demo", *LAMBDA_LOCKS])
def test_the_other_locks_take_the_dev_locks_versions(lock: str) -> None:
    """What a Lambda package carries is what the tests ran (the issue seen before the locks:
    tests on boto3 1.43, a package built minutes later with 1.44)."""
    dev = pins("dev")
    differ = {
        name: (version, dev[name][0])
        for name, (version, _) in pins(lock).items()
        if name in dev and dev[name][0] != version
    }
    assert not differ


def test_the_suite_runs_the_versions_the_lock_names() -> None:
    runtime = {"boto3", "botocore", "aws-lambda-powertools", "psycopg", "pymysql", "moto"}
    dev = pins("dev")
    installed = {}
    for name, (version, _) in dev.items():
        try:
            installed[name] = (metadata.version(name), version)
        except metadata.PackageNotFoundError:
            continue  # a pin for another platform or Python (its marker excludes this one)
    assert runtime <= set(installed)
    assert {name: both for name, both in installed.items() if both[0] != both[1]} == {}


def test_the_lambda_build_installs_the_lock_with_hashes() -> None:
    recipe = (ROOT / "templates" / "sam.mk").read_text()
    assert '--require-hashes -r "$(SAM_ROOT)/locks/$(1).txt"' in recipe
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes -r locks/$(1).txt" in makefile
