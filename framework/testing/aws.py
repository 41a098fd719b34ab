"""moto helpers: what tests, the demo and the conformance kit need beyond the plain API.

moto emulates Secrets Manager's API, not the service (see docs/moto-vs-aws.md): these helpers
reach into its in-process backend, so they work with `mock_aws` and with a
`ThreadedMotoServer` started in the same process.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

REGION = "us-east-1"
# Fake credentials for moto, a region, and quiet Powertools: never a developer's real account.
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "POWERTOOLS_METRICS_DISABLED": "true",
}
# The caller's own AWS profile and endpoints, which must not reach a fake world.
REAL_AWS_VARS = (
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "SECRETS_MANAGER_ENDPOINT",
)


@contextmanager
def fake_aws_environment(**extra: str) -> Iterator[None]:
    """os.environ with FAKE_ENV and `extra`, without REAL_AWS_VARS; restored on exit."""
    names = {*FAKE_ENV, *REAL_AWS_VARS, *extra}
    saved = {name: os.environ.get(name) for name in names}
    for name in REAL_AWS_VARS:
        os.environ.pop(name, None)
    os.environ.update(FAKE_ENV, **extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def account_id() -> str:
    """moto's default account."""
    from moto.core.models import DEFAULT_ACCOUNT_ID

    return str(DEFAULT_ACCOUNT_ID)


def lambda_arn(name: str = "smrotate-local", region: str = REGION) -> str:
    """A rotation function ARN to record on secrets (nothing runs it: the local driver does)."""
    return f"arn:aws:lambda:{region}:{account_id()}:function:{name}"


def backend(region: str = REGION) -> Any:
    """moto's Secrets Manager backend for `region`."""
    from moto.secretsmanager.models import secretsmanager_backends

    return secretsmanager_backends[account_id()][region]


def _secret(secret_id: str, region: str) -> Any:
    return backend(region).secrets[secret_id]


def enable_rotation(
    secret_id: str, *, function_arn: str | None = None, days: int = 30, region: str = REGION
) -> None:
    """Turn rotation on without RotateSecret (moto's RotateSecret would run or fake a rotation)."""
    secret = _secret(secret_id, region)
    secret.rotation_requested = True
    secret.rotation_enabled = True
    secret.rotation_lambda_arn = function_arn or lambda_arn(region=region)
    secret.auto_rotate_after_days = days


def add_valueless_pending(secret_id: str, token: str, region: str = REGION) -> None:
    """What RotateSecret does on AWS before invoking createSecret: a version holding AWSPENDING
    and no value."""
    secret = _secret(secret_id, region)
    secret.remove_version_stages_from_old_versions(["AWSPENDING"])
    secret.versions[token] = {
        "createdate": int(time.time()),
        "version_id": token,
        "version_stages": ["AWSPENDING"],
    }


def add_pending_copy_of_current(secret_id: str, token: str, region: str = REGION) -> None:
    """What RotateSecret with RotateImmediately=false does on AWS before it invokes testSecret:
    a version holding AWSPENDING and AWSCURRENT's value."""
    secret = _secret(secret_id, region)
    current = next(v for v in secret.versions.values() if "AWSCURRENT" in v["version_stages"])
    add_valueless_pending(secret_id, token, region)
    secret.versions[token]["secret_string"] = current["secret_string"]


def labels(secret_id: str, region: str = REGION) -> dict[str, list[str]]:
    """Version id -> sorted labels, for labelled versions only."""
    versions = _secret(secret_id, region).versions
    return {vid: sorted(v["version_stages"]) for vid, v in versions.items() if v["version_stages"]}


def label_problems(region: str = REGION) -> list[str]:
    """Label invariants AWS enforces and moto does not: each label on at most one version, and
    exactly one AWSCURRENT on every secret that has versions. Empty when all hold."""
    problems = []
    for name, secret in backend(region).secrets.items():
        if not secret.versions:
            continue
        seen: dict[str, str] = {}
        for version_id, version in secret.versions.items():
            for label in version["version_stages"]:
                if label in seen:
                    problems.append(f"{name}: label {label} on {seen[label]} and {version_id}")
                seen[label] = version_id
        if "AWSCURRENT" not in seen:
            problems.append(f"{name}: no version holds AWSCURRENT")
    return problems


def serve_moto(stack: ExitStack, port: int | None = None) -> str:
    """moto server on loopback (`port`, else a free one), in a thread of this process, stopped
    when `stack` closes; its URL (for `SECRETS_MANAGER_ENDPOINT` and `endpoint_url`)."""
    from moto.server import ThreadedMotoServer

    port = port or free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    stack.callback(server.stop)
    return f"http://127.0.0.1:{port}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def create_rotation_function(name: str = "smrotate-rotator", **client_args: Any) -> str:
    """A function in moto's Lambda (an IAM role and a stub zip), to name as RotationLambdaARN;
    `client_args` go to boto3.client (endpoint_url for a moto server, region_name)."""
    import io
    import zipfile

    import boto3

    client_args.setdefault("region_name", REGION)
    role = boto3.client("iam", **client_args).create_role(
        RoleName=f"{name}-role", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
    function = boto3.client("lambda", **client_args).create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
    )
    return str(function["FunctionArn"])


@contextmanager
def rotate_secret_runs(handler: Callable[[dict[str, Any]], None]) -> Iterator[None]:
    """Make moto's RotateSecret invoke `handler` in this process, one event per step, as AWS
    invokes the rotation function. It uses moto's simple Lambda backend (no Docker). A step
    that raises makes RotateSecret fail, so moto stops there as Secrets Manager does."""
    import json

    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.core.config import default_user_config

    def invoke(self: Any, function_name: str, qualifier: Any, body: Any, **_: Any) -> bytes:
        handler(json.loads(body))
        return b"null"

    saved_invoke, saved_config = LambdaSimpleBackend.invoke, default_user_config["lambda"]
    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign,assignment]
    default_user_config["lambda"] = {**saved_config, "use_docker": False}
    try:
        yield
    finally:
        LambdaSimpleBackend.invoke = saved_invoke  # type: ignore[method-assign]
        default_user_config["lambda"] = saved_config


def _versions_with_real_dates(self: Any, secret_id: str) -> str:
    """ListSecretVersionIds as AWS answers it: each version's own creation date."""
    import json

    secret = self.secrets[secret_id]
    return json.dumps(
        {
            "ARN": secret.arn,
            "Name": secret.name,
            "Versions": [
                {
                    "VersionId": version_id,
                    "VersionStages": version["version_stages"],
                    "CreatedDate": version.get("createdate", int(time.time())),
                }
                for version_id, version in secret.versions.items()
            ],
        }
    )


@contextmanager
def versions_with_real_dates() -> Iterator[None]:
    """While inside, moto's ListSecretVersionIds answers each version's stored creation date,
    as AWS does (moto itself answers the time of the request for every version). It patches
    moto's backend class in this process, so it covers `mock_aws` and a `ThreadedMotoServer`
    started here; moto's own answer comes back on exit."""
    from moto.secretsmanager.models import SecretsManagerBackend

    saved = SecretsManagerBackend.list_secret_version_ids
    SecretsManagerBackend.list_secret_version_ids = _versions_with_real_dates  # type: ignore[method-assign]
    try:
        yield
    finally:
        SecretsManagerBackend.list_secret_version_ids = saved  # type: ignore[method-assign]
