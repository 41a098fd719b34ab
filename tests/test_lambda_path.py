"""The AWS path: moto's RotateSecret creates the value-less AWSPENDING version and invokes the
handler four times, as Secrets Manager does (moto's simple Lambda backend, patched to call it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from conftest import REGION, labels
from memory import MemoryRotator, MemoryTarget
from moto import mock_aws

from smrotate.store import reset_clients
from smrotate.testing.aws import create_rotation_function, rotate_secret_runs


@pytest.fixture
def lambda_world() -> Iterator[tuple[Any, str, MemoryRotator, list[str]]]:
    reset_clients()
    target = MemoryTarget(passwords={"app": "app-password-1"})
    rotator = MemoryRotator(target, env={})
    invoked: list[str] = []

    def handler(event: dict[str, Any]) -> None:
        invoked.append(event["Step"])
        rotator.handle(event)

    with mock_aws(), rotate_secret_runs(handler):
        function = create_rotation_function("rotator")
        yield boto3.client("secretsmanager", region_name=REGION), function, rotator, invoked
    reset_clients()


def test_rotate_secret_drives_the_handler_like_aws(
    lambda_world: tuple[Any, str, MemoryRotator, list[str]],
) -> None:
    sm, function, rotator, invoked = lambda_world
    arn = sm.create_secret(
        Name="app/db", SecretString=json.dumps({"username": "app", "password": "app-password-1"})
    )["ARN"]
    for _ in range(2):
        token = sm.rotate_secret(
            SecretId=arn, RotationLambdaARN=function, RotationRules={"AutomaticallyAfterDays": 30}
        )["VersionId"]
        current = json.loads(
            sm.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"]
        )
        assert sm.describe_secret(SecretId=arn)["VersionIdsToStages"][token] == ["AWSCURRENT"]
        assert rotator.target.check("app", current["password"])
    assert invoked == ["createSecret", "setSecret", "testSecret", "finishSecret"] * 2
    assert sorted(map(tuple, labels("app/db").values())) == [("AWSCURRENT",), ("AWSPREVIOUS",)]
