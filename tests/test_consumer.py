"""smrotate.consumer on the suite's private servers (real TLS, real password checks) and moto:
a login refused with a stale AWSCURRENT succeeds after exactly one refresh, a wrong password
fails after exactly one retry, other errors are never retried, the single-user window is
bridged with AWSPENDING, new connections never fail while the real rotator rotates the
password, and no password reaches a message or a log record.

aws-secretsmanager-caching's own forced refresh sleeps 2.5 to 5 s first; the helper uses it only
for a cache given without a client, and the tests set that jitter to zero, except
`test_a_refresh_fetches_at_once_but_the_librarys_own_sleeps_first`, which measures it.
`run_consumer_example` runs the examples of docs/consumer.md (for test_docs too).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pymysql
import pytest
import redis
from aws_secretsmanager_caching.cache.items import (  # type: ignore[import-untyped]
    SecretCacheObject,
)
from conftest import REGION, MakeSecret
from helpers import new_password, rotate
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis_fixtures import MakeRedisUser

from smrotate import consumer, redaction
from smrotate.consumer import (
    SecretCredentials,
    connect,
    connect_psycopg,
    connect_pymysql,
    redis_client,
)
from smrotate.errors import ConfigurationError, SecretFormatError
from smrotate.rotator import Rotator
from smrotate.rotators.mysql import MySQLRotator
from smrotate.rotators.postgresql import PostgreSQLRotator
from smrotate.store import default_client
from smrotate.testing.aws import free_port
from smrotate.testing.patience import scaled
from smrotate.testing.redis import (
    BINARY_ENV,
    RedisServer,
    RedisSetupError,
    find_binary,
    password_hash,
)

LIBRARY_JITTER_MS = SecretCacheObject.FORCE_REFRESH_JITTER_SLEEP


@pytest.fixture(autouse=True)
def _no_refresh_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """refresh_secret_now sleeps 2.5 to 5 s first; here it does not (one test puts it back)."""
    monkeypatch.setattr(SecretCacheObject, "FORCE_REFRESH_JITTER_SLEEP", 0)


@pytest.fixture
def client(sm: Any) -> Any:
    """The application's own Secrets Manager client (on moto), apart from the test's `sm`."""
    return boto3.client("secretsmanager", region_name=REGION)


@contextmanager
def api_calls(client: Any) -> Iterator[Counter[str]]:
    """The Secrets Manager operations `client` sends while the block runs."""
    calls: Counter[str] = Counter()

    def hook(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    client.meta.events.register("before-call.secrets-manager", hook)
    try:
        yield calls
    finally:
        client.meta.events.unregister("before-call.secrets-manager", hook)


def credentials(arn: str, client: Any) -> SecretCredentials:
    """What an application keeps: a private cache that refreshes only once an hour."""
    return SecretCredentials(arn, client=client, refresh_interval=3600)


def put_current(sm: Any, arn: str, value: dict[str, Any]) -> None:
    """A new AWSCURRENT (what finishSecret leaves), while caches still hold the old one."""
    sm.put_secret_value(SecretId=arn, SecretString=json.dumps(value))


# ------------------------------------------------------------------ the three engines


@dataclass
class Engine:
    """One server and its driver, through the helper: the tests below run on each."""

    name: str
    make_user: Callable[[], tuple[str, str]]  # (name, password) of a fresh account
    secret: Callable[..., dict[str, Any]]  # the server's secret(username, password, **extra)
    set_password: Callable[[str, str], None]
    logs_in: Callable[[str, str], bool]
    refused: Callable[[str], int]  # logins of the user the server refused so far, by its log
    open: Callable[..., Any]  # open(credentials, **kwargs): through the helper
    whoami: Callable[[Any], str]  # the session's user, as the server says (logs in if lazy)
    select_1: Callable[[Any], None]
    auth_error: type[BaseException]
    network_error: type[BaseException]
    fail_fast: dict[str, Any] = field(default_factory=dict)  # open()'s options for failures


def _postgres(request: pytest.FixtureRequest) -> Engine:
    pg = request.getfixturevalue("pg")
    make_user = request.getfixturevalue("pg_user")

    def user() -> tuple[str, str]:
        made = make_user()
        return made.name, made.password

    def refused(name: str) -> int:
        return int(pg.log_text().count(f'FATAL:  password authentication failed for user "{name}"'))

    def whoami(conn: Any) -> str:
        assert conn.pgconn.ssl_in_use  # verify-full: the chain and the host name checked
        return str(conn.execute("SELECT current_user").fetchone()[0])

    def select_1(conn: Any) -> None:
        assert conn.execute("SELECT 1").fetchone() == (1,)

    def open_(creds: SecretCredentials, **kwargs: Any) -> Any:
        return connect_psycopg(creds, connect_timeout=5, autocommit=True, **kwargs)

    return Engine(
        "postgres", user, pg.secret, pg.set_password, pg.logs_in, refused, open_, whoami,
        select_1, psycopg.OperationalError, psycopg.OperationalError,
    )  # fmt: skip


def _mariadb(request: pytest.FixtureRequest) -> Engine:
    server = request.getfixturevalue("mariadb")
    make_user = request.getfixturevalue("mariadb_user")

    def user() -> tuple[str, str]:
        made = make_user()
        return made.name, made.password

    def refused(name: str) -> int:
        return int(server.log_text().count(f"Access denied for user '{name}'@"))

    def whoami(conn: Any) -> str:
        with conn.cursor() as cursor:
            cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_version'")
            assert cursor.fetchone()[1].startswith("TLS")
            cursor.execute("SELECT CURRENT_USER()")
            return str(cursor.fetchone()[0]).rsplit("@", 1)[0]

    def select_1(conn: Any) -> None:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)

    def open_(creds: SecretCredentials, **kwargs: Any) -> Any:
        return connect_pymysql(creds, connect_timeout=5, autocommit=True, **kwargs)

    return Engine(
        "mariadb", user, server.secret, server.set_password, server.logs_in, refused, open_,
        whoami, select_1, pymysql.OperationalError, pymysql.OperationalError,
    )  # fmt: skip


def _redis(request: pytest.FixtureRequest) -> Engine:
    server = request.getfixturevalue("redis_server")
    make_user = request.getfixturevalue("redis_user")

    def user() -> tuple[str, str]:
        made = make_user()
        return made.name, made.password

    def whoami(client: Any) -> str:  # the server listens on TLS only (--port 0)
        return str(client.acl_whoami())

    def select_1(client: Any) -> None:
        assert client.ping() is True

    def open_(creds: SecretCredentials, **kwargs: Any) -> Any:
        options = {"socket_timeout": 5, "socket_connect_timeout": 5, "decode_responses": True}
        return redis_client(creds, **(options | kwargs))

    return Engine(
        "redis", user, server.secret, server.set_password, server.logs_in,
        server.refused_logins, open_, whoami, select_1, redis.AuthenticationError,
        redis.ConnectionError, {"retry": Retry(NoBackoff(), 0)},  # else 3 retries, with backoff
    )  # fmt: skip


BUILDERS = {"postgres": _postgres, "mariadb": _mariadb, "redis": _redis}
ENGINES = [
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
    pytest.param("redis", marks=pytest.mark.redis),
]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Engine:
    return BUILDERS[request.param](request)


def close(connection: Any) -> None:
    connection.close()


# ------------------------------------------------------------------ connections and retries


def test_a_connection_logs_in_with_the_secret_over_verified_tls(
    engine: Engine, make_secret: MakeSecret, client: Any
) -> None:
    name, password = engine.make_user()
    creds = credentials(make_secret(engine.secret(name, password)), client)
    connection = engine.open(creds)
    try:
        assert engine.whoami(connection) == name
    finally:
        close(connection)
    assert creds.refreshes == 0


def test_a_stale_cache_logs_in_after_exactly_one_refresh(
    engine: Engine, sm: Any, make_secret: MakeSecret, client: Any
) -> None:
    name, old = engine.make_user()
    arn = make_secret(engine.secret(name, old))
    creds = credentials(arn, client)
    close(engine.open(creds))  # the cache now holds `old`
    new = new_password()
    engine.set_password(name, new)  # the rotation, at the server...
    put_current(sm, arn, engine.secret(name, new))  # ...and in the secret
    assert creds.value()["password"] == old  # still cached
    refused = engine.refused(name)
    with api_calls(client) as calls:
        connection = engine.open(creds)
        try:
            assert engine.whoami(connection) == name
        finally:
            close(connection)
    assert creds.refreshes == 1
    assert engine.refused(name) - refused == 1  # the stale password, once
    assert calls == {"GetSecretValue": 1}  # the refresh: AWSCURRENT fetched, no wait
    assert creds.value()["password"] == new
    assert not engine.logs_in(name, old)


def test_a_wrong_password_fails_after_exactly_one_retry(
    engine: Engine, make_secret: MakeSecret, client: Any
) -> None:
    name, _ = engine.make_user()
    creds = credentials(make_secret(engine.secret(name, new_password())), client)
    refused = engine.refused(name)
    with api_calls(client) as calls, pytest.raises(engine.auth_error):
        engine.whoami(engine.open(creds))
    assert creds.refreshes == 2  # after the first refusal; after the second, as none is pending
    assert engine.refused(name) - refused == 2  # the cached value and the fetched one: no loop
    # The cache's first fetch; the refresh; AWSPENDING (none holds it); AWSCURRENT, unchanged
    assert calls == {"DescribeSecret": 1, "GetSecretValue": 4}


def test_a_failure_that_is_not_a_refused_login_is_never_retried(
    engine: Engine, make_secret: MakeSecret, client: Any
) -> None:
    name, password = engine.make_user()
    creds = credentials(make_secret(engine.secret(name, password, port=free_port())), client)
    with api_calls(client) as calls, pytest.raises(engine.network_error) as raised:
        engine.whoami(engine.open(creds, **engine.fail_fast))
    assert not isinstance(raised.value, redis.AuthenticationError)
    assert creds.refreshes == 0
    assert calls == {"DescribeSecret": 1, "GetSecretValue": 1}  # the first fetch only


def test_the_single_user_window_is_bridged_with_awspending(
    engine: Engine, sm: Any, make_secret: MakeSecret, client: Any
) -> None:
    """Between setSecret and finishSecret only AWSPENDING logs in: the helper uses it, then
    AWSCURRENT once finishSecret has moved it."""
    name, old = engine.make_user()
    arn = make_secret(engine.secret(name, old))
    creds = credentials(arn, client)
    close(engine.open(creds))
    new = new_password()
    pending = sm.put_secret_value(
        SecretId=arn,
        SecretString=json.dumps(engine.secret(name, new)),
        VersionStages=["AWSPENDING"],
    )["VersionId"]
    engine.set_password(name, new)  # setSecret
    refused = engine.refused(name)
    connection = engine.open(creds)
    try:
        assert engine.whoami(connection) == name
    finally:
        close(connection)
    assert creds.refreshes == 1
    assert engine.refused(name) - refused == 2  # AWSCURRENT cached, AWSCURRENT fetched again
    current = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
    [old_version] = [v for v, stages in current.items() if "AWSCURRENT" in stages]
    sm.update_secret_version_stage(  # finishSecret
        SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=pending,
        RemoveFromVersionId=old_version,
    )  # fmt: skip
    sm.update_secret_version_stage(
        SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=pending
    )
    connection = engine.open(creds)
    try:
        assert engine.whoami(connection) == name
    finally:
        close(connection)
    assert creds.refreshes == 2  # the cache held the old AWSCURRENT: refused once, fetched
    assert creds.value()["password"] == new
    assert creds.pending() is None


# ------------------------------------------------------------------ rotations mid-stream


@contextmanager
def one_call_at_a_time(*clients: Any) -> Iterator[None]:
    """moto's backend has no locks (Secrets Manager needs none): the rotation and the
    application's thread send their calls one at a time."""
    lock = threading.Lock()
    saved = [(c, c._make_api_call) for c in clients]

    def locked(call: Callable[..., Any]) -> Callable[..., Any]:
        def make(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return call(*args, **kwargs)

        return make

    for c, call in saved:
        c._make_api_call = locked(call)
    try:
        yield
    finally:
        for c, call in saved:
            c._make_api_call = call


class QueryStream:
    """A thread that opens a new connection through the helper and runs SELECT 1 on it,
    every 20 ms, until stopped; it records every failure."""

    def __init__(self, engine: Engine, creds: SecretCredentials) -> None:
        self.engine, self.creds = engine, creds
        self.ok = 0
        self.failures: list[str] = []
        self.changed = threading.Condition()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                connection = self.engine.open(self.creds)
                try:
                    self.engine.select_1(connection)
                finally:
                    close(connection)
            except Exception as exc:
                with self.changed:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    self.changed.notify_all()
            else:
                with self.changed:
                    self.ok += 1
                    self.changed.notify_all()
            self.stop.wait(0.02)

    def more(self, count: int) -> None:
        """Wait until `count` more queries have succeeded (or one failed)."""
        with self.changed:
            target = self.ok + count
            done = self.changed.wait_for(
                lambda: self.ok >= target or self.failures, timeout=scaled(30)
            )
        assert done, f"the query stream stalled at {self.ok} queries"


@pytest.mark.parametrize(
    ("name", "make_rotator"),
    [
        pytest.param("postgres", PostgreSQLRotator, marks=pytest.mark.postgres),
        pytest.param("mariadb", MySQLRotator, marks=pytest.mark.mariadb),
    ],
)
def test_no_query_fails_while_the_single_user_rotator_rotates(
    request: pytest.FixtureRequest,
    make_secret: MakeSecret,
    client: Any,
    name: str,
    make_rotator: Callable[..., Rotator],
) -> None:
    """Three single-user rotations through the real rotator while a thread opens a new
    connection every 20 ms with a cache that would refresh only after an hour: no query
    fails, and a connection opened before the rotations keeps working after each one."""
    engine = BUILDERS[name](request)
    user, first = engine.make_user()
    arn = make_secret(engine.secret(user, first))
    rotator = make_rotator(env={"ROTATION_STRATEGY": "single-user"})
    creds = credentials(arn, client)
    held = engine.open(creds)
    stream = QueryStream(engine, creds)
    with one_call_at_a_time(client, default_client()):
        stream.thread.start()
        try:
            stream.more(2)
            for _ in range(3):
                rotate(arn, rotator)
                engine.select_1(held)
                # The next rotation starts once new connections work with this password: the
                # rotations are back to back, but never two within one login's retries.
                stream.more(2)
        finally:
            stream.stop.set()
            stream.thread.join(scaled(30))
    try:
        engine.select_1(held)
    finally:
        close(held)
    assert not stream.thread.is_alive()
    assert stream.failures == []
    assert stream.ok >= 8
    assert creds.refreshes >= 3  # each rotation was seen: the cache was stale, then refreshed
    current = creds.value()["password"]
    assert engine.logs_in(user, current)
    assert not engine.logs_in(user, first)


# ------------------------------------------------------------------ the generic helper


class Refused(Exception):
    """A stand-in for a driver's refused login."""


def _secret_with(make_secret: MakeSecret, password: str) -> str:
    return make_secret({"username": "app", "password": password, "host": "localhost"})


def test_connect_calls_once_when_the_login_works(
    sm: Any, make_secret: MakeSecret, client: Any
) -> None:
    creds = credentials(_secret_with(make_secret, "pw-1"), client)
    seen: list[str] = []

    def works(value: dict[str, Any]) -> str:
        seen.append(value["password"])
        return "conn"

    assert connect(creds, works, _is_refused) == "conn"
    assert seen == ["pw-1"]
    assert creds.refreshes == 0


def _is_refused(exc: BaseException) -> bool:
    return isinstance(exc, Refused)


def test_connect_raises_other_errors_at_once(sm: Any, make_secret: MakeSecret, client: Any) -> None:
    creds = credentials(_secret_with(make_secret, "pw-1"), client)
    calls = 0

    def fails(value: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        raise TimeoutError("no answer")

    with pytest.raises(TimeoutError):
        connect(creds, fails, _is_refused)
    assert (calls, creds.refreshes) == (1, 0)


def test_a_rotation_that_finishes_between_two_logins_is_followed(
    sm: Any, make_secret: MakeSecret, client: Any
) -> None:
    """finishSecret moves AWSCURRENT (and ends AWSPENDING) after the refresh but before the
    second login was refused: the third login uses AWSCURRENT fetched once more."""
    arn = _secret_with(make_secret, "pw-1")
    creds = credentials(arn, client)
    creds.value()
    tried: list[str] = []

    def login(value: dict[str, Any]) -> str:
        tried.append(value["password"])
        if len(tried) == 2:  # the server already has pw-2; now finishSecret runs
            put_current(sm, arn, {"username": "app", "password": "pw-2", "host": "localhost"})
        if value["password"] != "pw-2":
            raise Refused(f"attempt {len(tried)}")
        return "logged in"

    assert connect(creds, login, _is_refused) == "logged in"
    assert tried == ["pw-1", "pw-1", "pw-2"]


def test_connect_raises_the_last_refusal_after_one_retry(
    sm: Any, make_secret: MakeSecret, client: Any
) -> None:
    creds = credentials(_secret_with(make_secret, "pw-1"), client)
    tried: list[str] = []

    def refuses(value: dict[str, Any]) -> None:
        tried.append(value["password"])
        raise Refused(f"attempt {len(tried)}")

    with pytest.raises(Refused, match="attempt 2") as raised:
        connect(creds, refuses, _is_refused)
    assert tried == ["pw-1", "pw-1"]
    assert creds.refreshes == 2  # no AWSPENDING: AWSCURRENT fetched once more, unchanged
    assert raised.value.__context__ is None  # no chain of earlier attempts


def test_connect_tries_awspending_only_when_a_rotation_is_in_progress(
    sm: Any, make_secret: MakeSecret, client: Any
) -> None:
    arn = _secret_with(make_secret, "pw-1")
    creds = credentials(arn, client)
    pending = {"username": "app", "password": "pw-2", "host": "localhost"}
    sm.put_secret_value(
        SecretId=arn, SecretString=json.dumps(pending), VersionStages=["AWSPENDING"]
    )
    tried: list[str] = []

    def only_pending(value: dict[str, Any]) -> str:
        tried.append(value["password"])
        if value["password"] != "pw-2":
            raise Refused("refused")
        return "conn"

    assert connect(creds, only_pending, _is_refused) == "conn"
    assert tried == ["pw-1", "pw-1", "pw-2"]
    assert creds.refreshes == 1
    tried.clear()
    with pytest.raises(Refused):  # AWSPENDING refused too: three logins, then the error
        connect(creds, lambda v: only_pending({**v, "password": "x"}), _is_refused)
    assert tried == ["x", "x", "x"]


def test_a_refresh_fetches_at_once_but_the_librarys_own_sleeps_first(
    sm: Any, make_secret: MakeSecret, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the documentation says of aws-secretsmanager-caching 1.2: its forced refresh sleeps
    2.5 to 5 s first. The helper's own refresh does not; it uses the library's only for a cache
    given without a client."""
    from aws_secretsmanager_caching import SecretCache  # type: ignore[import-untyped]

    monkeypatch.setattr(SecretCacheObject, "FORCE_REFRESH_JITTER_SLEEP", LIBRARY_JITTER_MS)
    assert LIBRARY_JITTER_MS == 5000
    arn = _secret_with(make_secret, "pw-1")
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)  # the library's sleep, measured not waited
    creds = credentials(arn, client)
    creds.value()
    creds.refresh()
    assert slept == []
    only_cache = SecretCredentials(arn, cache=SecretCache(client=client))
    only_cache.value()
    only_cache.refresh()
    assert len(slept) == 1
    assert 2.5 <= slept[0] <= 5.001


def test_a_refreshed_value_is_served_until_the_cache_holds_another(
    sm: Any, make_secret: MakeSecret, client: Any
) -> None:
    arn = _secret_with(make_secret, "pw-1")
    creds = credentials(arn, client)
    assert creds.value()["password"] == "pw-1"
    put_current(sm, arn, {"username": "app", "password": "pw-2"})
    assert creds.value()["password"] == "pw-1"  # cached for an hour
    assert creds.refresh()["password"] == "pw-2"
    with api_calls(client) as calls:
        assert creds.value()["password"] == "pw-2"  # the cache still holds pw-1: the refresh's
    assert calls == {}
    other = SecretCredentials(arn, cache=creds.cache, client=client)
    put_current(sm, arn, {"username": "app", "password": "pw-3"})
    assert other.refresh()["password"] == "pw-3"  # (another object on the same cache)
    creds.cache.refresh_secret_now(arn)  # the cache catches up (after its own timer, normally)
    assert creds.value()["password"] == "pw-3"  # the cache's value again, not the older refresh


def test_threads_refused_at_once_share_one_fetch(
    sm: Any, make_secret: MakeSecret, client: Any
) -> None:
    arn = _secret_with(make_secret, "pw-1")
    creds = credentials(arn, client)
    stale = creds.value()
    put_current(sm, arn, {"username": "app", "password": "pw-2"})
    start = threading.Barrier(4)

    def refused_login() -> str:
        start.wait()
        return str(creds.refresh(refused=stale)["password"])

    with api_calls(client) as calls, ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: refused_login(), range(4)))
    assert results == ["pw-2"] * 4
    assert calls == {"GetSecretValue": 1}
    assert creds.refreshes == 1
    # A thread whose login the fresh value itself failed fetches again.
    with api_calls(client) as calls:
        creds.refresh(refused={"username": "app", "password": "pw-2"})
    assert calls == {"GetSecretValue": 1}


# ------------------------------------------------------------------ values and setup


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("not json, password=Pw1!leak-0001", "is not JSON"),
        (json.dumps(["Pw1!leak-0001"]), "not an object"),
        (json.dumps({"password": "Pw1!leak-0001"}), "no 'username'"),
        (json.dumps({"username": "app", "password": ""}), "no 'password'"),
        (json.dumps({"username": "app", "password": "Pw1!leak-0001\n"}), "control character"),
    ],
    ids=["not-json", "list", "no-username", "empty-password", "newline"],
)
def test_a_malformed_secret_is_named_and_never_quoted(
    make_secret: MakeSecret, client: Any, value: str, says: str
) -> None:
    arn = make_secret(value, name="app/malformed")
    with pytest.raises(SecretFormatError, match=says) as raised:
        credentials(arn, client).value()
    text = "".join(traceback.format_exception(raised.value))
    assert "app/malformed" in str(raised.value)
    assert "leak" not in text


def test_driver_settings_come_from_the_secret_and_the_caller(
    make_secret: MakeSecret, client: Any
) -> None:
    arn = make_secret({"username": "app", "password": "pw-1", "host": "db", "port": "1"})
    with pytest.raises(TypeError, match="password"):
        connect_psycopg(credentials(arn, client), password="other")
    with pytest.raises(TypeError, match="ssl_verify_identity"):
        connect_pymysql(credentials(arn, client), ssl_verify_identity=False)
    with pytest.raises(TypeError, match="credential_provider"):
        redis_client(credentials(arn, client), credential_provider=None)
    bad = make_secret({"username": "app", "password": "pw-1", "host": "db", "ssl": "maybe"})
    with pytest.raises(SecretFormatError, match="'ssl'"):
        connect_psycopg(credentials(bad, client))


def test_the_default_cache_is_shared_by_the_process(make_secret: MakeSecret) -> None:
    consumer.reset_default_cache()
    try:
        arn = make_secret({"username": "app", "password": "pw-1"})
        first, second = SecretCredentials(arn), SecretCredentials(arn)
        assert first.cache is second.cache is consumer.default_cache()
        assert first.value()["password"] == "pw-1"
    finally:
        consumer.reset_default_cache()
    with pytest.raises(ValueError, match="either a cache"):
        SecretCredentials(arn, cache=first.cache, refresh_interval=60)


@pytest.mark.parametrize(
    ("module", "call", "extra"),
    [
        (
            "aws_secretsmanager_caching",
            lambda: SecretCredentials("x", refresh_interval=9),
            "consumer",
        ),
        ("redis", lambda: redis_client(SecretCredentials("x", cache=_Never())), "redis"),
        ("psycopg", lambda: connect_psycopg(SecretCredentials("x", cache=_Never())), "postgres"),
        ("pymysql", lambda: connect_pymysql(SecretCredentials("x", cache=_Never())), "mysql"),
    ],
)
def test_a_missing_extra_names_pip_install(
    monkeypatch: pytest.MonkeyPatch, module: str, call: Callable[[], object], extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now fails
    with pytest.raises(ConfigurationError, match=rf"pip install 'smrotate\[{extra}\]'"):
        call()


class _Never:
    """A cache that no test reaches."""

    def get_secret_string(self, secret_id: str, version_stage: str | None = None) -> str | None:
        raise AssertionError("read")

    def refresh_secret_now(self, secret_id: str) -> bool:
        raise AssertionError("refreshed")


def test_importing_the_module_loads_no_driver_and_no_aws_library() -> None:
    heavy = ["psycopg", "pymysql", "redis", "boto3", "botocore", "aws_secretsmanager_caching"]
    code = f"import sys, smrotate.consumer; print([m for m in {heavy!r} if m in sys.modules])"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=scaled(60), check=True
    )
    assert done.stdout.strip() == "[]"


# ------------------------------------------------------------------ no password anywhere


def test_no_password_in_any_message_or_log_record(
    engine: Engine,
    sm: Any,
    make_secret: MakeSecret,
    client: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every path of the helper, at DEBUG: a stale cache, a wrong password, a closed port, a
    malformed value. botocore's own DEBUG records quote response bodies (GetSecretValue's
    too): applications keep it at INFO, and so does this test."""
    redaction.forget_all()  # nothing registered: a leak would show, not be scrubbed away
    for wire in ("botocore", "boto3", "urllib3"):
        caplog.set_level(logging.INFO, logger=wire)
    # Last: each call also sets the level of caplog's handler. "smrotate" has a level of its own.
    for name in ("smrotate", "smrotate.consumer", "psycopg", "pymysql", "redis", None):
        caplog.set_level(logging.DEBUG, logger=name)
    name, old = engine.make_user()
    arn = make_secret(engine.secret(name, old))
    creds = credentials(arn, client)
    close(engine.open(creds))
    new, wrong = new_password(), new_password()
    engine.set_password(name, new)
    put_current(sm, arn, engine.secret(name, new))
    connection = engine.open(creds)
    engine.whoami(connection)
    close(connection)
    texts = [repr(creds)]
    wrong_arn = make_secret(engine.secret(name, wrong))
    closed_arn = make_secret(engine.secret(name, new, port=free_port()))
    bad_arn = make_secret(json.dumps(engine.secret(name, new))[:-1])
    for secret in (wrong_arn, closed_arn, bad_arn):
        with pytest.raises(Exception) as raised:  # noqa: PT011 (each its own kind)
            engine.whoami(engine.open(credentials(secret, client), **engine.fail_fast))
        texts += traceback.format_exception(raised.value)
    texts += [record.getMessage() for record in caplog.records]
    texts += [caplog.text]
    assert any("login refused" in text for text in texts)  # the helper did log
    for password in (old, new, wrong):
        assert not [text for text in texts if password in text]
    assert not [text for text in texts if redaction.MARKER in text]


# ------------------------------------------------------------------ the private Redis server


@pytest.mark.redis
def test_the_private_redis_server_admits_password_logins_over_tls_only(
    redis_server: RedisServer, redis_user: MakeRedisUser
) -> None:
    user = redis_user()
    assert redis_server.logs_in(user.name, user.password)
    assert not redis_server.logs_in(user.name, user.password + "x")
    assert not redis_server.logs_in("default", "")  # the default user is off
    with pytest.raises(redis.AuthenticationError), redis_server.connect("default", "") as plain:
        plain.ping()
    with pytest.raises(redis.ConnectionError):  # no TLS: the server does not answer Redis
        redis.Redis(
            host=redis_server.host, port=redis_server.port, socket_timeout=2,
            retry=Retry(NoBackoff(), 0),
        ).ping()  # fmt: skip
    new = new_password()
    redis_server.set_password(user.name, new)
    assert redis_server.logs_in(user.name, new)
    assert not redis_server.logs_in(user.name, user.password)
    [rules] = [line for line in redis_server.execute("ACL", "LIST") if f" {user.name} " in line]
    assert password_hash(new)[1:] in rules  # stored as its SHA-256 only
    assert new not in rules
    assert new not in redis_server.acl_file.read_text() + redis_server.log_text()
    with pytest.raises(ValueError, match="must not set passwords"):
        redis_server.create_user("other", "pw", rules="on >plain ~*")


def test_a_missing_redis_server_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BINARY_ENV, raising=False)
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setattr("smrotate.testing.redis._SEARCH", ())
    with pytest.raises(RedisSetupError, match="apt-get install redis-server"):
        find_binary()
    monkeypatch.setenv(BINARY_ENV, "/nonexistent/redis-server")
    with pytest.raises(RedisSetupError, match=BINARY_ENV):
        find_binary()


# ------------------------------------------------------------------ the documentation's examples

DOC = Path(__file__).resolve().parent.parent / "docs" / "consumer.md"
# example name -> the engine it runs on, the secret name it reads, what it prints (from the user)
DOC_EXAMPLES: dict[str, tuple[str, str, Callable[[str], str]]] = {
    "consumer-psycopg": ("postgres", "app/postgres", lambda user: user),
    "consumer-pymysql": ("mariadb", "app/mariadb", lambda user: f"{user}@%"),
    "consumer-redis": ("redis", "app/redis", lambda user: "hello"),
}
DOC_MARKS = {
    "postgres": pytest.mark.postgres,
    "mariadb": pytest.mark.mariadb,
    "redis": pytest.mark.redis,
}


def run_consumer_example(name: str, text: str, request: pytest.FixtureRequest) -> None:
    """Run the example `name` of docs/consumer.md (its code, `text`) as an application would:
    a fresh user on the suite's server, its secret stored in moto under the name the example
    reads, the process's default cache made anew; it prints what DOC_EXAMPLES says."""
    engine_name, secret_name, expected = DOC_EXAMPLES[name]
    make_secret: MakeSecret = request.getfixturevalue("make_secret")
    capsys: pytest.CaptureFixture[str] = request.getfixturevalue("capsys")
    engine = BUILDERS[engine_name](request)
    user, password = engine.make_user()
    make_secret(engine.secret(user, password), name=secret_name)
    consumer.reset_default_cache()  # its client must be made inside moto's mock
    try:
        exec(compile(text, f"{DOC}:{name}", "exec"), {})  # noqa: S102 (the docs' own example)
    finally:
        consumer.reset_default_cache()
    assert capsys.readouterr().out.splitlines()[-1] == expected(user)
