"""`smrotate doctor`: on moto server and the suite's private PostgreSQL (and Redis), a healthy
setup passes every check; each check is then made to fail once on purpose, and its line names
the problem and the fix. Doctor changes nothing: only read operations reach AWS, and the
server's passwords are unchanged."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.client
import pytest
from moto_server_fixtures import Cli, CliRun, sm_client
from pg_fixtures import PgUser
from redis_fixtures import MakeRedisUser

from smrotate.operator.exit_codes import ExitCode
from smrotate.testing.aws import REGION, account_id, create_rotation_function, enable_rotation
from smrotate.testing.aws import labels as version_labels
from smrotate.testing.postgres import PostgresServer
from smrotate.testing.redis import RedisServer
from smrotate.testing.tls import Pki

pytestmark = pytest.mark.usefixtures("cli_globals", "aws_on_moto")


@pytest.fixture
def aws_on_moto(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lambda, IAM and KMS on the moto server, as an operator points them there: botocore's
    per-service settings (the `cli` fixture's --endpoint-url is Secrets Manager's alone)."""
    for service in ("LAMBDA", "IAM", "KMS", "STS"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", moto_url)


STRATEGY = "single-user-via-admin"
READS = {
    "DescribeSecret",
    "GetSecretValue",
    "GetResourcePolicy",
    "GetFunction",
    "GetPolicy",
    "GetRole",
    "DescribeKey",
    "GetKeyPolicy",
}
CHECKS = [
    "secret-format",
    "admin-secret",
    "reachable",
    "tls",
    "login",
    "admin-rights",
    "function",
    "invoke-permission",
    "function-strategy",
    "kms-key",
    "resource-policy",
]


@dataclass
class Setup:
    """A secret ready to rotate with an admin, its function, key and role on moto."""

    url: str
    name: str
    arn: str
    function: str
    role: str
    key: str
    value: dict[str, Any]
    calls: list[str] = field(default_factory=list)

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name=REGION)  # type: ignore[call-overload]

    def put(self, **changes: Any) -> None:
        """Store a new AWSCURRENT value: the healthy one with `changes` (None removes)."""
        value = {k: v for k, v in {**self.value, **changes}.items() if v is not None}
        sm_client(self.url).put_secret_value(SecretId=self.arn, SecretString=json.dumps(value))


def key_policy(principal: str) -> str:
    root = f"arn:aws:iam::{account_id()}:root"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "Admins", "Effect": "Allow", "Principal": {"AWS": f"{root}-admin"},
                 "Action": "kms:*", "Resource": "*"},
                {"Sid": "Rotation", "Effect": "Allow", "Principal": {"AWS": principal},
                 "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*"},
            ],
        }
    )  # fmt: skip


def build(url: str, value: dict[str, Any], admin_value: dict[str, Any]) -> Setup:
    """The healthy setup: admin secret, function (strategy, permission), key, secret."""
    suffix = secrets.token_hex(3)
    sm = sm_client(url)
    admin_arn = sm.create_secret(Name=f"admin/db-{suffix}", SecretString=json.dumps(admin_value))
    function = create_rotation_function(f"rotator-{suffix}", endpoint_url=url, region_name=REGION)
    lam = boto3.client("lambda", endpoint_url=url, region_name=REGION)
    lam.update_function_configuration(
        FunctionName=function, Environment={"Variables": {"ROTATION_STRATEGY": STRATEGY}}
    )
    lam.add_permission(
        FunctionName=function,
        StatementId="SecretsManagerAccess",
        Action="lambda:InvokeFunction",
        Principal="secretsmanager.amazonaws.com",
        SourceAccount=account_id(),
    )
    role = lam.get_function(FunctionName=function)["Configuration"]["Role"]
    kms = boto3.client("kms", endpoint_url=url, region_name=REGION)
    key = kms.create_key(Policy=key_policy(role))["KeyMetadata"]["KeyId"]
    value = {**value, "masterarn": admin_arn["ARN"]}
    name = f"app/db-{suffix}"
    arn = sm.create_secret(Name=name, SecretString=json.dumps(value), KmsKeyId=key)["ARN"]
    enable_rotation(name, function_arn=function)
    return Setup(url, name, arn, function, role, key, value)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every AWS operation any boto3 client sends while the test runs."""
    calls: list[str] = []
    original = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]

    def record(self: Any, operation: str, params: Any) -> Any:
        calls.append(operation)
        return original(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    return calls


@pytest.fixture
def pg_setup(
    cli: Cli, moto_url: str, pg: PostgresServer, pg_user: Callable[..., PgUser]
) -> tuple[Setup, PgUser, PgUser]:
    user, admin = pg_user(), pg_user(None, "CREATEROLE")
    setup = build(
        moto_url, pg.secret(user.name, user.password), pg.secret(admin.name, admin.password)
    )
    return setup, user, admin


def doctor(
    cli: Cli, setup: Setup, *extra: str, strategy: str = STRATEGY, rotator: str = "postgresql"
) -> CliRun:
    return cli("doctor", setup.name, "--rotator", rotator, "--strategy", strategy, *extra)


def line(result: CliRun, check: str) -> str:
    """The table line of `check`."""
    [found] = [row for row in result.out.splitlines() if row.split(" ")[0] == check]
    return found


def results(result: CliRun) -> dict[str, str]:
    return {
        row.split()[0]: row.split()[1]
        for row in result.out.splitlines()[1:]
        if row.strip() and row.split()[0] in CHECKS
    }


def assert_fails(result: CliRun, check: str, *words: str) -> str:
    """`check` FAILs (and says `words`); exit 14; the line."""
    assert result.code == ExitCode.DOCTOR_FOUND_PROBLEMS, result.out + result.err
    text = line(result, check)
    assert text.split()[1] == "FAIL", text
    for word in words:
        assert word in text, (word, text)
    return text


# ----------------------------------------------------------------------- healthy


@pytest.mark.postgres
def test_a_healthy_setup_passes_every_check_and_changes_nothing(
    cli: Cli, pg_setup: tuple[Setup, PgUser, PgUser], pg: PostgresServer, recorded: list[str]
) -> None:
    setup, user, admin = pg_setup
    before, log_start = version_labels(setup.arn), len(pg.log_text())
    recorded.clear()
    result = doctor(cli, setup)
    assert result.code == 0, result.out + result.err
    assert results(result) == dict.fromkeys(CHECKS, "pass")
    assert "every check passed (single-user-via-admin)" in result.out
    assert "subject CN=smrotate test server, SANs DNS:localhost" in line(result, "tls")
    assert f"AWSCURRENT logs in as exactly user {user.name!r}" in line(result, "login")
    assert "has CREATEROLE" in line(result, "admin-rights")
    # read-only: only read operations, labels and passwords unchanged, no DDL at the server
    assert set(recorded) <= READS, sorted(set(recorded) - READS)
    assert {"GetFunction", "GetPolicy", "GetRole", "DescribeKey", "GetKeyPolicy"} <= set(recorded)
    assert version_labels(setup.arn) == before
    assert pg.logs_in(user.name, user.password)
    assert pg.logs_in(admin.name, admin.password)
    log = pg.log_text()[log_start:].upper()
    assert not [w for w in ("ALTER ", "CREATE ", "GRANT ", "DROP ") if w in log]

    record = doctor(cli, setup, "--output", "json").json()
    assert record["ok"] is True
    assert record["strategy"] == STRATEGY
    assert [c["check"] for c in record["checks"]] == CHECKS


# ---------------------------------------------------------------- target checks


@pytest.mark.postgres
def test_a_bad_secret_format_fails_first_and_skips_what_needs_it(
    cli: Cli, pg_setup: tuple[Setup, PgUser, PgUser]
) -> None:
    setup, _, _ = pg_setup
    setup.put(port="many")
    result = doctor(cli, setup)
    assert_fails(result, "secret-format", "'port' that is not a number", "put-secret-value")
    assert results(result)["login"] == "skip"


@pytest.mark.postgres
def test_an_admin_secret_that_is_the_rotated_secret_fails(
    cli: Cli, pg_setup: tuple[Setup, PgUser, PgUser]
) -> None:
    setup, _, _ = pg_setup
    setup.put(masterarn=setup.name)  # by name: the ARNs are compared
    assert_fails(
        doctor(cli, setup), "admin-secret", "names the rotated secret itself", "separate secret"
    )


@pytest.mark.postgres
def test_an_unreachable_port_fails_and_skips_tls(
    cli: Cli, pg_setup: tuple[Setup, PgUser, PgUser], monkeypatch: pytest.MonkeyPatch
) -> None:
    from smrotate.testing.aws import free_port

    setup, _, _ = pg_setup
    monkeypatch.setenv("DB_CONNECT_TIMEOUT", "1")
    setup.put(port=free_port())
    result = doctor(cli, setup)
    assert_fails(
        result, "reachable", "not reachable within 1 s (DB_CONNECT_TIMEOUT)", "host and port"
    )
    assert results(result)["tls"] == "skip"


@pytest.mark.postgres
def test_tls_with_a_wrong_ca_bundle_fails_and_names_the_certificate(
    cli: Cli, pg_setup: tuple[Setup, PgUser, PgUser], pki: Pki
) -> None:
    setup, _, _ = pg_setup
    setup.put(sslrootcert=str(pki.other_ca))
    assert_fails(
        doctor(cli, setup),
        "tls",
        "does not verify against",
        "subject CN=smrotate test server, issuer CN=smrotate test CA, SANs DNS:localhost",
        "'sslrootcert'",
    )


@pytest.mark.postgres
def test_a_wrong_password_fails_the_login(cli: Cli, pg_setup: tuple[Setup, PgUser, PgUser]) -> None:
    setup, _, _ = pg_setup
    setup.put(password="not-the-password-" + secrets.token_hex(4))
    assert_fails(doctor(cli, setup), "login", "authentication failed", "reset the password")


@pytest.mark.postgres
def test_a_username_in_another_case_fails_and_names_the_real_user(
    cli: Cli, pg_setup: tuple[Setup, PgUser, PgUser]
) -> None:
    setup, user, _ = pg_setup
    setup.put(username=user.name.upper())
    assert_fails(
        doctor(cli, setup), "login", f"the target has {user.name!r}, which differs only in case"
    )


@pytest.mark.postgres
def test_an_admin_without_createrole_fails(
    cli: Cli, moto_url: str, pg: PostgresServer, pg_user: Callable[..., PgUser]
) -> None:
    user, admin = pg_user(), pg_user()
    setup = build(
        moto_url, pg.secret(user.name, user.password), pg.secret(admin.name, admin.password)
    )
    assert_fails(
        doctor(cli, setup), "admin-rights", "neither SUPERUSER nor CREATEROLE", "CREATEROLE"
    )


# ------------------------------------------------------------------- AWS checks


@pytest.mark.postgres
def test_a_missing_function_fails(cli: Cli, pg_setup: tuple[Setup, PgUser, PgUser]) -> None:
    setup, _, _ = pg_setup
    setup.client("lambda").delete_function(FunctionName=setup.function)
    result = doctor(cli, setup)
    assert_fails(result, "function", "ResourceNotFoundException", "deploy the rotation function")
    assert results(result)["invoke-permission"] == "skip"


@pytest.mark.postgres
def test_a_permission_without_source_account_fails(
    cli: Cli, pg_setup: tuple[Setup, PgUser, PgUser]
) -> None:
    setup, _, _ = pg_setup
    lam = setup.client("lambda")
    lam.remove_permission(FunctionName=setup.function, StatementId="SecretsManagerAccess")
    lam.add_permission(
        FunctionName=setup.function,
        StatementId="AnyAccount",
        Action="lambda:InvokeFunction",
        Principal="secretsmanager.amazonaws.com",
    )
    assert_fails(
        doctor(cli, setup),
        "invoke-permission",
        "without an aws:SourceAccount condition",
        f"--source-account {account_id()}",
    )


@pytest.mark.postgres
def test_a_function_with_another_strategy_fails(
    cli: Cli, pg_setup: tuple[Setup, PgUser, PgUser]
) -> None:
    setup, _, _ = pg_setup
    setup.client("lambda").update_function_configuration(
        FunctionName=setup.function,
        Environment={"Variables": {"ROTATION_STRATEGY": "alternating-users"}},
    )
    assert_fails(
        doctor(cli, setup),
        "function-strategy",
        "ROTATION_STRATEGY is alternating-users; doctor checked single-user-via-admin",
        "--strategy alternating-users",
    )


@pytest.mark.postgres
def test_a_key_policy_not_allowing_the_role_fails(
    cli: Cli, pg_setup: tuple[Setup, PgUser, PgUser]
) -> None:
    setup, _, _ = pg_setup
    other = f"arn:aws:iam::{account_id()}:role/someone-else"
    setup.client("kms").put_key_policy(
        KeyId=setup.key, PolicyName="default", Policy=key_policy(other)
    )
    assert_fails(
        doctor(cli, setup), "kms-key", f"does not allow {setup.role} kms:Decrypt", "key policy"
    )


@pytest.mark.postgres
def test_a_resource_policy_denying_the_role_fails(
    cli: Cli, pg_setup: tuple[Setup, PgUser, PgUser]
) -> None:
    setup, _, _ = pg_setup
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OnlyTheApp",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "secretsmanager:*",
                "Resource": "*",
                "Condition": {
                    "ArnNotEquals": {"aws:PrincipalArn": f"arn:aws:iam::{account_id()}:role/app"}
                },
            }
        ],
    }
    sm_client(setup.url).put_resource_policy(SecretId=setup.arn, ResourcePolicy=json.dumps(policy))
    assert_fails(
        doctor(cli, setup),
        "resource-policy",
        f"OnlyTheApp denies {setup.role} secretsmanager:DescribeSecret",
        "exclude the function's role",
    )


# ------------------------------------------------------------------------ Redis


@pytest.mark.redis
def test_redis_passes_and_an_admin_without_acl_rights_fails(
    cli: Cli, moto_url: str, redis_server: RedisServer, redis_user: MakeRedisUser
) -> None:
    user, admin = redis_user(), redis_user()
    redis_server.execute("ACL", "SETUSER", user.name, "resetkeys", "~app:*", "-@all", "+get")
    setup = build(
        moto_url,
        redis_server.secret(user.name, user.password),
        redis_server.secret(admin.name, admin.password),
    )
    result = doctor(cli, setup, rotator="redis")
    assert result.code == 0, result.out + result.err
    assert "may run ACL SETUSER" in line(result, "admin-rights")

    redis_server.execute("ACL", "SETUSER", admin.name, "-@admin")
    assert_fails(doctor(cli, setup, rotator="redis"), "admin-rights", "ACL")
    assert redis_server.accepts(user.name, user.password)
