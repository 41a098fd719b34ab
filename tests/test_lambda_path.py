"""The AWS path: moto's RotateSecret creates the value-less AWSPENDING version and invokes the
handler four times, as Secrets Manager does (moto's simple Lambda backend, patched to call it)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from conftest import REGION, labels
from memory import MemoryRotator, MemoryTarget
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend

from framework.store import reset_clients


@pytest.fixture
def lambda_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str, MemoryRotator]]:
    reset_clients()
    target = MemoryTarget(passwords={"app": "app-password-1"})
    rotator = MemoryRotator(target, env={})
    invoked: list[str] = []

    def invoke(
        self: Any,
        function_name: str,
        qualifier: Any,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> bytes:
        event = json.loads(body)
        invoked.append(event["Step"])
        rotator.handle(event)  # raises on failure, so moto stops, as Secrets Manager does
        return b"null"

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
    with mock_aws(config={"lambda": {"use_docker": False}}):
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(RoleName="rotation", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
        function = boto3.client("lambda", region_name=REGION).create_function(
            FunctionName="rotator",
            Runtime="python3.12",
            Role=role,
            Handler="handler.handler",
            Code={"ZipFile": code.getvalue()},
        )["FunctionArn"]
        sm = boto3.client("secretsmanager", region_name=REGION)
        rotator.invoked = invoked  # type: ignore[attr-defined]
        yield sm, function, rotator
    reset_clients()


def test_rotate_secret_drives_the_handler_like_aws(
    lambda_world: tuple[Any, str, MemoryRotator],
) -> None:
    sm, function, rotator = lambda_world
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
    assert rotator.invoked == ["createSecret", "setSecret", "testSecret", "finishSecret"] * 2  # type: ignore[attr-defined]
    assert sorted(map(tuple, labels("app/db").values())) == [("AWSCURRENT",), ("AWSPREVIOUS",)]
