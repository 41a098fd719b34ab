"""Shared fixtures: moto for Secrets Manager, secrets with rotation enabled, label invariants."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

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
from smrotate.testing.tls import Pki, make_pki

__all__ = ["REGION", "enable_rotation", "labels"]

# Fixture modules: private servers and moto server, each in its own file.
pytest_plugins = ["pg_fixtures", "mariadb_fixtures", "moto_server_fixtures", "pytester"]

LAMBDA_ARN = lambda_arn("smrotate-test")


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
    """The suite's certificate authority and server certificate (made once per run)."""
    return make_pki(tmp_path_factory.mktemp("pki"))


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
