"""The ElastiCache / MemoryDB user rotator.

moto has ElastiCache's CreateUser and DescribeUsers and MemoryDB's users, but not ModifyUser,
user groups or ACLs. So: the exact requests, the waiting and the error mapping on real boto3
clients under botocore's Stubber (with the private Redis as the data plane); the response shapes
of DescribeUsers (and MemoryDB's UpdateUser) on moto; and what the server accepts, rotation after
rotation, through `ControlPlaneOnRedis`, which applies the requested passwords to the suite's
private Redis (TLS only). No test sleeps: the rotator gets a fake clock.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import ANY, Stubber
from conftest import REGION, MakeSecret
from elasticache_fixtures import ControlPlaneOnRedis
from helpers import new_password, rotate, step_event, value
from moto import mock_aws

from smrotate import redaction
from smrotate.errors import (
    ConfigurationError,
    Failure,
    RotationStateError,
    SecretFormatError,
    TargetError,
)
from smrotate.events import Step
from smrotate.operator.driver import LocalDriver
from smrotate.rotators.elasticache import EXCLUDED, CacheAccount, ElastiCacheUserRotator, control
from smrotate.testing.redis import RedisServer, password_hash
from smrotate.testing.tls import Pki

pytestmark = pytest.mark.redis

ORDINARY = "~app:* &app:* +@all -@dangerous"  # no ACL SETUSER: the API changes the password
DUAL = {"ROTATION_STRATEGY": "dual-password"}


class FakeClock:
    """`now` and `sleep` for the rotator: sleeping moves the clock, records, and waits not."""

    def __init__(self) -> None:
        self.time = 0.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.time += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def plane(redis_server: RedisServer) -> Iterator[ControlPlaneOnRedis]:
    """The ElastiCache stand-in on the suite's Redis; its users dropped after the test."""
    made = ControlPlaneOnRedis(redis_server)
    yield made
    made.close()


@pytest.fixture
def user(
    plane: ControlPlaneOnRedis, redis_server: RedisServer
) -> Callable[..., tuple[dict[str, Any], str]]:
    """`user(name)`: a server user known to the stand-in; (its secret value, its password)."""

    def make(name: str = "app_ec", key: str | None = None) -> tuple[dict[str, Any], str]:
        password = new_password()
        key = key or ("id-" + name.replace("_", "-"))
        plane.create(name if plane.service == "memorydb" else key, name, password, ORDINARY)
        extra = {"service": "memorydb"} if plane.service == "memorydb" else {"user_id": key}
        return redis_server.secret(name, password, **extra), password

    return make


def rotator(plane: Any, clock: FakeClock, **env: str) -> ElastiCacheUserRotator:
    """A rotator whose configuration is exactly `env`, on `plane`, timed by `clock`."""
    return ElastiCacheUserRotator(env=env, control_plane=plane, clock=clock.now, sleep=clock.sleep)


def account(secret: dict[str, Any]) -> CacheAccount:
    parsed = ElastiCacheUserRotator(env={}).parse_secret(secret, "the test secret")
    assert isinstance(parsed, CacheAccount)
    return parsed


# ------------------------------------------------------------------ the secret and the settings


def test_the_secret_names_its_service_and_user_and_asks_for_tls(pki: Pki) -> None:
    base = {"host": "h.example", "username": "app", "password": new_password()}
    elasticache = account({**base, "user_id": "app-1"})
    assert (elasticache.service, elasticache.key, elasticache.port) == (
        "elasticache",
        "app-1",
        6379,
    )
    memorydb = account({**base, "service": "memorydb", "engine": "valkey"})
    assert (memorydb.service, memorydb.key, memorydb.user_id) == ("memorydb", "app", None)
    assert elasticache.target != account({**base, "user_id": "app-2"}).target
    for bad, field in (
        ({}, "'user_id'"),
        ({"user_id": "1app"}, "'user_id'"),
        ({"user_id": "app id"}, "'user_id'"),
        ({"user_id": ["app"]}, "'user_id'"),
        ({"service": "memorydb", "user_id": "app"}, "'user_id'"),
        ({"service": "redis", "user_id": "app"}, "'service'"),
        ({"user_id": "app", "ssl": False}, '"ssl": false'),
        ({"user_id": "app", "engine": "postgres"}, "engine"),
    ):
        with pytest.raises(SecretFormatError, match=field):
            account({**base, **bad})


def test_only_single_user_and_dual_password_are_offered_and_the_others_refused_before_any_write(
    sm: Any, make_secret: MakeSecret, clock: FakeClock
) -> None:
    assert ElastiCacheUserRotator.strategies == ("single-user", "dual-password")
    secret = {"host": "h", "username": "app", "password": new_password(), "user_id": "app"}
    arn = make_secret(secret)
    plane = None  # createSecret never calls the API
    for name in ("single-user-via-admin", "alternating-users", "alternating-pair"):
        result = LocalDriver(rotator(plane, clock, ROTATION_STRATEGY=name).handle).rotate(arn)
        assert result.failed_step is Step.CREATE
        assert isinstance(result.error, ConfigurationError)
        assert "no admin secret" in str(result.error)
        assert "dual-password" in str(result.error)
    for length in ("12", "129"):
        result = LocalDriver(rotator(plane, clock, PASSWORD_LENGTH=length).handle).rotate(arn)
        assert isinstance(result.error, ConfigurationError)
        assert "16 to 128" in str(result.error)
    assert len(sm.list_secret_version_ids(SecretId=arn)["Versions"]) == 1
    password = rotator(plane, clock).new_password()
    assert len(password) == 32
    assert not set(password) & set(EXCLUDED)


# ------------------------------------------------------------------ exact requests (Stubber)


def described(key: str, name: str, status: str = "active", count: int = 1) -> dict[str, Any]:
    """A DescribeUsers response of ElastiCache."""
    auth = {"Type": "password", "PasswordCount": count}
    user = {"UserId": key, "UserName": name, "Status": status, "UserGroupIds": ["grp"]}
    return {"Users": [{**user, "AccessString": "on ~app:* +@all", "Authentication": auth}]}


@contextmanager
def stubbed(
    service: str, server: RedisServer
) -> Iterator[tuple[Stubber, Any, list[dict[str, Any]]]]:
    """A real boto3 client under Stubber; each password change it sends is recorded (its
    parameters, as the rotator passed them) and applied to `server` as the service would."""
    client = boto3.client(service, region_name=REGION)  # type: ignore[call-overload]
    sent: list[dict[str, Any]] = []

    def apply(params: dict[str, Any], **_: Any) -> None:
        sent.append(json.loads(json.dumps(params)))
        key = params.get("UserId") or params["UserName"]
        passwords = params.get("Passwords") or params["AuthenticationMode"]["Passwords"]
        name = key.removeprefix("id-").replace("-", "_")
        server.execute("ACL", "SETUSER", name, "resetpass", *map(password_hash, passwords))

    operation = "ModifyUser" if service == "elasticache" else "UpdateUser"
    client.meta.events.register(f"before-parameter-build.{service}.{operation}", apply)
    with Stubber(client) as stubber:
        yield stubber, client, sent
        stubber.assert_no_pending_responses()


def test_elasticache_single_user_sends_exactly_modify_user_with_the_new_password_then_waits(
    sm: Any, make_secret: MakeSecret, redis_server: RedisServer, clock: FakeClock, user: Any
) -> None:
    secret, old = user("app_stub")
    arn = make_secret(secret)
    endpoint = {"Address": redis_server.host.upper() + ".", "Port": redis_server.port}
    with stubbed("elasticache", redis_server) as (stubber, client, sent):
        stubber.add_response(
            "describe_users", described("id-app-stub", "app_stub"), {"UserId": "id-app-stub"}
        )
        stubber.add_response(
            "describe_user_groups",
            {"UserGroups": [{"UserGroupId": "grp", "ReplicationGroups": ["rg"]}]},
            {"UserGroupId": "grp"},
        )
        stubber.add_response(
            "describe_replication_groups",
            {"ReplicationGroups": [{"NodeGroups": [{"PrimaryEndpoint": endpoint}]}]},
            {"ReplicationGroupId": "rg"},
        )
        stubber.add_response(
            "modify_user", {"UserId": "id-app-stub", "Status": "modifying"},
            {"UserId": "id-app-stub", "Passwords": [ANY]},
        )  # fmt: skip
        for status in ("modifying", "modifying", "active"):
            stubber.add_response(
                "describe_users",
                described("id-app-stub", "app_stub", status),
                {"UserId": "id-app-stub"},
            )
        rotate(arn, rotator(lambda service: client, clock))
    new = value(sm, arn)["password"]
    assert sent == [{"UserId": "id-app-stub", "Passwords": [new]}]  # nothing of the user's rights
    assert clock.slept == [1.0, 1.0, 2.0]  # a pause after the change, then polls doubling
    assert redis_server.accepts("app_stub", new)
    assert not redis_server.accepts("app_stub", old)


def test_memorydb_dual_password_sends_update_user_with_both_passwords(
    sm: Any, make_secret: MakeSecret, redis_server: RedisServer, clock: FakeClock
) -> None:
    old = new_password()
    redis_server.create_user("md_stub", old, ORDINARY)
    arn = make_secret(redis_server.secret("md_stub", old, service="memorydb"))
    endpoint = {"Address": redis_server.host, "Port": redis_server.port}
    user = {"Name": "md_stub", "ACLNames": ["acl"], "Authentication": {"Type": "password"}}
    try:
        with stubbed("memorydb", redis_server) as (stubber, client, sent):
            stubber.add_response(
                "describe_users", {"Users": [{**user, "Status": "active"}]}, {"UserName": "md_stub"}
            )
            stubber.add_response(
                "describe_acls", {"ACLs": [{"Name": "acl", "Clusters": ["c1"]}]}, {"ACLName": "acl"}
            )
            stubber.add_response(
                "describe_clusters",
                {"Clusters": [{"Name": "c1", "Shards": [{"Nodes": [{"Endpoint": endpoint}]}]}]},
                {"ClusterName": "c1", "ShowShardDetails": True},
            )
            stubber.add_response(
                "update_user",
                {"User": {"Name": "md_stub"}},
                {"UserName": "md_stub", "AuthenticationMode": ANY},
            )
            stubber.add_response(
                "describe_users", {"Users": [{**user, "Status": "active"}]}, {"UserName": "md_stub"}
            )
            rotate(arn, rotator(lambda service: client, clock, **DUAL))
        new = value(sm, arn)["password"]
        mode = {"Type": "password", "Passwords": [old, new]}
        assert sent == [{"UserName": "md_stub", "AuthenticationMode": mode}]
        assert redis_server.accepts("md_stub", old)
        assert redis_server.accepts("md_stub", new)
    finally:
        redis_server.drop_user("md_stub")


SECRET = {"host": "h", "username": "app", "password": "Pw1!not-the-secret-xx", "user_id": "app"}


@pytest.mark.parametrize(
    ("service", "code", "kind", "words"),
    [
        ("elasticache", "AccessDenied", ConfigurationError, "IAM role may not call it"),
        ("memorydb", "AccessDeniedException", ConfigurationError, "IAM role may not call it"),
        ("elasticache", "InvalidParameterValue", ConfigurationError, "PASSWORD_LENGTH"),
        ("memorydb", "InvalidParameterCombinationException", ConfigurationError, "EXCLUDE_"),
        ("elasticache", "UserNotFound", TargetError, "'user_id'"),
        ("memorydb", "UserNotFoundFault", TargetError, "'username' (MemoryDB)"),
        ("elasticache", "InvalidUserState", TargetError, "being changed or deleted"),
        ("memorydb", "InvalidUserStateFault", TargetError, "being changed or deleted"),
        ("elasticache", "Throttling", TargetError, "retries the rotation later"),
    ],
)
def test_api_errors_name_the_call_the_user_and_what_to_do_never_a_password(
    service: str, code: str, kind: type[Exception], words: str
) -> None:
    password = new_password()
    redaction.register(password)
    secret = {
        **SECRET,
        **({"service": "memorydb", "user_id": None} if service == "memorydb" else {}),
    }
    secret = {k: v for k, v in secret.items() if v is not None}
    client = boto3.client(service, region_name=REGION)  # type: ignore[call-overload]
    operation = "modify_user" if service == "elasticache" else "update_user"
    with Stubber(client) as stubber:
        stubber.add_client_error(operation, code, f"rejected {password} for a reason")
        with pytest.raises(kind) as raised:
            control.set_passwords(client, account(secret), [password])
    message = str(raised.value)
    assert code in message
    assert words in message
    assert ("ModifyUser" if service == "elasticache" else "UpdateUser") in message
    assert password not in message
    assert redaction.MARKER in message


def test_a_network_failure_is_a_network_target_error() -> None:
    class Unreachable:
        def describe_users(self, **_: Any) -> None:
            raise EndpointConnectionError(endpoint_url="https://elasticache.example")

    with pytest.raises(TargetError) as raised:
        control.describe_user(Unreachable(), account(SECRET))
    assert raised.value.failure is Failure.NETWORK
    assert "ElastiCache DescribeUsers" in str(raised.value)


def test_the_wait_is_bounded_before_and_after_the_change(clock: FakeClock) -> None:
    client = boto3.client("elasticache", region_name=REGION)
    rotator_ = rotator(lambda service: client, clock, ROTATION_USER_WAIT_SECONDS="6")
    with Stubber(client) as stubber:  # another change in progress: no ModifyUser is sent
        for _ in range(4):
            stubber.add_response("describe_users", described("app", "app", "modifying"))
        with pytest.raises(TargetError, match="still modifying 6 s after setSecret began"):
            rotator_.set_own_password(None, account(SECRET), new_password())  # type: ignore[arg-type]
        assert clock.slept == [1.0, 2.0, 3.0]
        stubber.add_response("describe_users", described("app", "app", "deleting"))
        with pytest.raises(TargetError, match="is deleting: it cannot be rotated"):
            rotator_.set_own_password(None, account(SECRET), new_password())  # type: ignore[arg-type]
        stubber.add_response("describe_users", described("app", "app"))  # then a change ...
        groups = {"UserGroups": [{"UserGroupId": "grp", "ReplicationGroups": ["rg"]}]}
        stubber.add_response("describe_user_groups", groups)
        endpoint = {"ConfigurationEndpoint": {"Address": "h", "Port": 6379}}
        stubber.add_response("describe_replication_groups", {"ReplicationGroups": [endpoint]})
        stubber.add_response("modify_user", {"UserId": "app", "Status": "modifying"})
        for _ in range(4):  # ... that does not apply in time
            stubber.add_response("describe_users", described("app", "app", "modifying"))
        clock.slept.clear()
        with pytest.raises(TargetError, match="still modifying 6 s after the change was sent"):
            rotator_.set_own_password(None, account(SECRET), new_password())  # type: ignore[arg-type]
        assert clock.slept == [1.0, 1.0, 2.0, 2.0]
        stubber.assert_no_pending_responses()


# ------------------------------------------------------------------ shapes, on moto


def test_describe_users_reads_motos_shapes_and_memorydb_update_user_is_accepted_by_moto() -> None:
    with mock_aws():
        elasticache = boto3.client("elasticache", region_name=REGION)
        elasticache.create_user(
            UserId="app",
            UserName="app",
            Engine="redis",
            Passwords=["p" * 16],
            AccessString="on ~* +@all",
        )
        found = control.describe_user(elasticache, account(SECRET))
        assert found == control.User("app", "active", "password", 1, ())
        with pytest.raises(TargetError, match="UserNotFound"):
            control.describe_user(elasticache, account({**SECRET, "user_id": "nobody"}))
        memorydb = boto3.client("memorydb", region_name=REGION)
        memorydb.create_user(
            UserName="app", AuthenticationMode={"Type": "password", "Passwords": ["p" * 16]},
            AccessString="on ~* +@all",
        )  # fmt: skip
        md = account({**{k: v for k, v in SECRET.items() if k != "user_id"}, "service": "memorydb"})
        control.set_passwords(memorydb, md, ["p" * 16, "q" * 16])
        assert control.describe_user(memorydb, md) == control.User(
            "app", "active", "password", 2, ()
        )
        assert memorydb.describe_users(UserName="app")["Users"][0]["AccessString"] == "on ~* +@all"


# ------------------------------------------------------------------ on the server: rotations


def test_single_user_three_times_each_old_password_refused(
    sm: Any, make_secret: MakeSecret, redis_server: RedisServer, plane: ControlPlaneOnRedis,
    user: Any, clock: FakeClock,
) -> None:  # fmt: skip
    secret, password = user()
    arn = make_secret(secret)
    rules = redis_server.execute("ACL", "GETUSER", "app_ec")
    seen = [password]
    for _ in range(3):
        rotate(arn, rotator(plane, clock))
        seen.append(value(sm, arn)["password"])
        assert redis_server.accepts("app_ec", seen[-1])
        assert not any(redis_server.accepts("app_ec", p) for p in seen[:-1])
    assert plane.changes() == [{"UserId": "id-app-ec", "Passwords": [p]} for p in seen[1:]]
    after = redis_server.execute("ACL", "GETUSER", "app_ec")
    assert after[:2] == rules[:2]
    assert after[4:] == rules[4:]


def test_dual_password_keeps_the_old_password_until_the_next_set_secret(
    sm: Any, make_secret: MakeSecret, redis_server: RedisServer, plane: ControlPlaneOnRedis,
    user: Any, clock: FakeClock,
) -> None:  # fmt: skip
    secret, first = user()
    arn = make_secret(secret)
    rotate(arn, rotator(plane, clock, **DUAL))
    second = value(sm, arn)["password"]
    assert value(sm, arn, "AWSPREVIOUS")["password"] == first
    assert redis_server.accepts("app_ec", first)
    assert redis_server.accepts("app_ec", second)
    driver = LocalDriver(rotator(plane, clock, **DUAL).handle)
    result = driver.rotate(arn, steps=(Step.CREATE, Step.SET))
    third = value(sm, arn, "AWSPENDING")["password"]
    assert not redis_server.accepts("app_ec", first)  # dropped by this setSecret
    assert redis_server.accepts("app_ec", second)
    assert redis_server.accepts("app_ec", third)
    driver.rotate(arn, token=result.token, steps=(Step.TEST, Step.FINISH))
    assert value(sm, arn)["password"] == third
    assert [c["Passwords"] for c in plane.changes()] == [[first, second], [second, third]]


def test_memorydb_single_user_through_update_user(
    sm: Any, make_secret: MakeSecret, redis_server: RedisServer, user: Any, clock: FakeClock,
    plane: ControlPlaneOnRedis,
) -> None:  # fmt: skip
    plane.service = "memorydb"
    secret, old = user("md_app")
    arn = make_secret(secret)
    rotate(arn, rotator(plane, clock))
    new = value(sm, arn)["password"]
    assert redis_server.accepts("md_app", new)
    assert not redis_server.accepts("md_app", old)
    mode = {"Type": "password", "Passwords": [new]}
    assert plane.changes() == [{"UserName": "md_app", "AuthenticationMode": mode}]
    assert (
        "DescribeClusters",
        {"ClusterName": "cluster-app-group", "ShowShardDetails": True},
    ) in plane.requests


@pytest.mark.parametrize("strategy", ["single-user", "dual-password"])
def test_set_secret_after_a_crash_during_the_change_sends_nothing_again(
    sm: Any, make_secret: MakeSecret, redis_server: RedisServer, plane: ControlPlaneOnRedis,
    user: Any, clock: FakeClock, strategy: str,
) -> None:  # fmt: skip
    secret, old = user()
    arn = make_secret(secret)
    crashing = rotator(plane, clock, ROTATION_STRATEGY=strategy)
    result = LocalDriver(crashing.handle).rotate(arn, steps=(Step.CREATE,))
    plane.polls = 3  # the change is still applying when the process dies

    def crash(*_: Any) -> None:
        raise KeyboardInterrupt  # the process is killed while waiting

    crashing.sleep = crash
    with pytest.raises(KeyboardInterrupt):
        crashing.handle(step_event("setSecret", arn, result.token))
    assert redis_server.accepts("app_ec", old)  # not applied yet
    resumed = LocalDriver(rotator(plane, clock, ROTATION_STRATEGY=strategy).handle)
    assert resumed.rotate(arn, token=result.token).ok
    assert len(plane.changes()) == 1
    assert redis_server.accepts("app_ec", value(sm, arn)["password"])
    assert redis_server.accepts("app_ec", old) is (strategy == "dual-password")


# ------------------------------------------------------------------ attacks and failures


def unchanged(
    result: Any, plane: ControlPlaneOnRedis, server: RedisServer, *logins: tuple[str, str]
) -> None:
    """The rotation failed at setSecret having sent no change, and every login still works."""
    assert result.failed_step is Step.SET, result
    assert plane.changes() == []
    assert all(server.accepts(name, password) for name, password in logins)


def test_a_secret_naming_another_users_id_changes_nobodys_password(
    sm: Any, make_secret: MakeSecret, redis_server: RedisServer, plane: ControlPlaneOnRedis,
    user: Any, clock: FakeClock,
) -> None:  # fmt: skip
    """The attacker writes the secret: its own user name and password (they log in), and the
    user id of another user, whose password the rotator would reset and hand over."""
    secret, password = user("app_ec")
    _, victims = user("victim_ec", key="victim")
    arn = make_secret({**secret, "user_id": "victim"})
    result = LocalDriver(rotator(plane, clock).handle).rotate(arn)
    assert isinstance(result.error, SecretFormatError)
    assert "'victim_ec', not 'app_ec'" in str(result.error)
    unchanged(result, plane, redis_server, ("app_ec", password), ("victim_ec", victims))


def test_a_host_that_is_not_the_users_cache_changes_nothing(
    sm: Any, make_secret: MakeSecret, redis_server: RedisServer, plane: ControlPlaneOnRedis,
    user: Any, clock: FakeClock,
) -> None:  # fmt: skip
    """The secret's host answers AUTH for that user name (a server the attacker runs), but it is
    not an endpoint of the caches the API's user is attached to."""
    secret, password = user()
    plane.endpoints = [{"Address": "master.app.abc123.use1.cache.amazonaws.com", "Port": 6379}]
    arn = make_secret(secret)
    result = LocalDriver(rotator(plane, clock).handle).rotate(arn)
    assert isinstance(result.error, SecretFormatError)
    assert "master.app.abc123.use1.cache.amazonaws.com:6379" in str(result.error)
    unchanged(result, plane, redis_server, ("app_ec", password))


@pytest.mark.parametrize("auth", ["no-password", "iam"])
def test_users_without_passwords_are_refused(
    sm: Any, make_secret: MakeSecret, redis_server: RedisServer, plane: ControlPlaneOnRedis,
    user: Any, clock: FakeClock, auth: str,
) -> None:  # fmt: skip
    secret, password = user()
    plane.users["id-app-ec"].auth = auth
    result = LocalDriver(rotator(plane, clock).handle).rotate(make_secret(secret))
    assert isinstance(result.error, ConfigurationError)
    assert repr(auth) in str(result.error)
    unchanged(result, plane, redis_server, ("app_ec", password))


def test_a_pending_version_naming_another_user_id_is_refused(
    sm: Any, make_secret: MakeSecret, redis_server: RedisServer, plane: ControlPlaneOnRedis,
    user: Any, clock: FakeClock,
) -> None:  # fmt: skip
    secret, password = user()
    arn = make_secret(secret)
    result = LocalDriver(rotator(plane, clock).handle).rotate(arn, steps=(Step.CREATE,))
    pending = {**value(sm, arn, "AWSPENDING"), "user_id": "victim"}
    sm.update_secret_version_stage(
        SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=result.token
    )
    forged = sm.put_secret_value(
        SecretId=arn, SecretString=json.dumps(pending), VersionStages=["AWSPENDING"]
    )
    with pytest.raises(RotationStateError):
        rotator(plane, clock).handle(step_event("setSecret", arn, forged["VersionId"]))
    assert plane.changes() == []
    assert redis_server.accepts("app_ec", password)


def test_tls_fails_closed_before_any_request(
    sm: Any, make_secret: MakeSecret, redis_server: RedisServer, plane: ControlPlaneOnRedis,
    user: Any, clock: FakeClock, pki: Pki,
) -> None:  # fmt: skip
    secret, password = user()
    plane.endpoints.append({"Address": "127.0.0.1", "Port": redis_server.port})
    for bad in ({"sslrootcert": str(pki.other_ca)}, {"host": "127.0.0.1"}):
        result = LocalDriver(rotator(plane, clock).handle).rotate(make_secret({**secret, **bad}))
        assert isinstance(result.error, TargetError)
        assert result.error.failure is Failure.TLS
        assert plane.requests == []
        unchanged(result, plane, redis_server, ("app_ec", password))


def test_no_password_in_any_log_line_or_error(
    sm: Any, make_secret: MakeSecret, redis_server: RedisServer, plane: ControlPlaneOnRedis,
    user: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    secret, password = user()
    arn = make_secret(secret)
    for name in ("smrotate", "redis", None):
        caplog.set_level(logging.DEBUG, logger=name)
    rotate(arn, rotator(plane, clock, **DUAL))
    plane.users["id-app-ec"].status = "deleting"
    failed = LocalDriver(rotator(plane, clock, **DUAL).handle).rotate(arn)
    assert isinstance(failed.error, TargetError)
    secrets_ = {
        password,
        value(sm, arn)["password"],
        *[p for c in plane.changes() for p in c["Passwords"]],
    }
    text = caplog.text + str(failed.error) + repr(failed.error)
    assert not [p for p in secrets_ if p in text]
    assert "sent 2 password(s)" in caplog.text


def test_a_client_error_from_the_stand_in_is_mapped_like_the_services(
    plane: ControlPlaneOnRedis,
) -> None:
    """The stand-in speaks the services' error codes: what the rotator maps is what they send."""
    with pytest.raises(ClientError) as raised:
        plane.describe_users(UserId="nobody")
    assert raised.value.response["Error"]["Code"] == "UserNotFound"


def test_the_handler_and_the_default_clients() -> None:
    """The module ends with its Lambda handler; without `control_plane`, the rotator uses
    boto3's client for the secret's service, with smrotate's timeouts (no call is made)."""
    from smrotate.rotators import elasticache
    from smrotate.store import client_config

    assert callable(elasticache.lambda_handler)
    assert ElastiCacheUserRotator(env={}).control_plane is control.default_client
    control.default_client.cache_clear()
    for service in ("elasticache", "memorydb"):
        client = control.default_client(service)
        assert client.meta.service_model.service_name == service
        assert client.meta.region_name == REGION
        assert client.meta.config.read_timeout == client_config().read_timeout
    control.default_client.cache_clear()
