"""Shared fixtures: moto for Secrets Manager, secrets with rotation enabled, label invariants."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
from moto import mock_aws
from shared import SERVER_FOLDERS, once_per_run

from smrotate import redaction
from smrotate.rds import reset_client as reset_rds_client
from smrotate.store import reset_clients
from smrotate.testing.aws import (
    REGION,
    backend,
    enable_rotation,
    fake_aws_environment,
    label_problems,
    labels,
    lambda_arn,
)
from smrotate.testing.tls import Pki, make_pki, pki_in

__all__ = ["REGION", "enable_rotation", "labels"]

# Fixture modules: private servers and moto server, each in its own file.
pytest_plugins = [
    "clock_fixtures",
    "pg_fixtures",
    "mariadb_fixtures",
    "redis_fixtures",
    "moto_server_fixtures",
    "pytester",
]

LAMBDA_ARN = lambda_arn("smrotate-test")


def _share_botocore_loader() -> None:
    """One botocore data loader for every boto3 session the suite makes. Tests start from a
    fresh session (`reset_clients`), and each session's own loader would parse endpoints.json
    and the service model again: about 0.2 s per test. A loader's parsed files are read-only, as
    every client of one session already shares them; the code under test is unchanged."""
    loaders: dict[str | None, botocore.loaders.Loader] = {}
    create = botocore.loaders.create_loader

    def shared(search_path_string: str | None = None) -> botocore.loaders.Loader:
        if search_path_string not in loaders:
            loaders[search_path_string] = create(search_path_string)
        return loaders[search_path_string]

    botocore.session.create_loader = shared


_share_botocore_loader()


@pytest.fixture(autouse=True)
def _aws_environment() -> Iterator[None]:
    """Fake credentials and a region, never the developer's; metrics off (tests read stdout)."""
    with fake_aws_environment():
        yield


def moto_backend() -> Any:
    """moto's Secrets Manager backend (shared by mock_aws and ThreadedMotoServer in-process)."""
    return backend()


def assert_labels_unique() -> None:
    """Every staging label on at most one version, exactly one AWSCURRENT (moto doesn't enforce)."""
    problems = label_problems()
    assert not problems, problems


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """The suite's certificate authority and server certificate: made once per run and shared
    by the workers, so that what one worker builds with the CA (a Lambda package's bundle)
    verifies every worker's servers."""
    with once_per_run(tmp_path_factory, "pki") as (folder, build):
        return make_pki(folder) if build else pki_in(folder)


@pytest.fixture
def sm() -> Iterator[Any]:
    """A moto-backed Secrets Manager client; label uniqueness asserted after the test."""
    reset_clients()
    reset_rds_client()
    redaction.forget_all()
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)
        assert_labels_unique()
    reset_clients()


MakeSecret = Callable[..., str]


@pytest.fixture
def make_secret(sm: Any) -> MakeSecret:
    """Create a secret holding `value` (JSON) with rotation enabled; return its ARN."""
    counter = iter(range(10_000))

    def make(value: dict[str, Any] | str, *, name: str | None = None, rotation: bool = True) -> str:
        name = name or f"app/secret-{next(counter)}"
        string = value if isinstance(value, str) else json.dumps(value)
        arn = sm.create_secret(Name=name, SecretString=string)["ARN"]
        if rotation:
            enable_rotation(name)
        return str(arn)

    return make


# Modules whose tests share what one of them builds once per run (tests/shared.py), and the test
# that builds it: each engine's package (test_sam_build), the synthesized CDK stacks (test_cdk).
BUILDERS = {
    "test_sam_build": "test_the_package_holds_the_runtime_and_nothing_else",
    "test_cdk": "test_every_case_was_synthesized",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first (the kit's crash points, then the ones marked slow), so that
    pytest-xdist (`--dist load --maxschedchunk 2`: two tests at a time per worker) starts them
    while the rest fill in around them, instead of finding one at the end of a worker's queue.
    The tests that use what another test builds (BUILDERS) go last: started with the builder,
    they would hold a worker idle while it waits for the build (20 s for MySQL's package).
    Otherwise the collection order stays."""

    def rank(item: pytest.Item) -> int:
        if item.name.startswith("test_crash_points"):
            return 0
        module = getattr(item, "module", None)
        if module is not None and module.__name__ in BUILDERS:
            return 1 if getattr(item, "originalname", "") == BUILDERS[module.__name__] else 3
        return 1 if item.get_closest_marker("slow") else 2

    items.sort(key=rank)


def _leftover_servers(*folders: str) -> dict[int, str]:
    """Processes (pid: command name) whose command line names one of `folders` (this run's
    temporary folder and the private servers' folders) and anything they started."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone already, or not ours to read
        if any(folder in command for folder in folders):
            found[int(entry.name)] = command.split(" ", 1)[0].rsplit("/", 1)[-1]
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """No server outlives the suite, even when a test fails: after the fixtures stopped theirs,
    any process still running from this run's temporary folder or from a private server's
    folder (SERVER_FOLDERS) is killed, and the run fails."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None or not Path("/proc").is_dir():
        return
    leftovers = _leftover_servers(str(factory.getbasetemp()), *SERVER_FOLDERS)
    for pid in leftovers:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    if leftovers:
        names = ", ".join(f"{name} ({pid})" for pid, name in sorted(leftovers.items()))
        session.config.get_terminal_writer().line(f"servers left running, now killed: {names}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
