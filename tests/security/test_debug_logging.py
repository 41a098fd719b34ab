"""Defect 11: a rotation at DEBUG (Lambda's ApplicationLogLevel=DEBUG) leaks nothing.

The attack: whoever reads the function's log group (a wider audience than the secret's) reads
every password and RotationToken, because with the root logger at DEBUG botocore logs each
request and response body, and a careless driver logs what it is given. Each test runs real
rotations with the root logger at DEBUG and a handler that writes every record, its exception
and its `extra` attributes, then looks for every secret of the rotation in every spelling:
as is, JSON-escaped at any depth, as a Python repr, URL-encoded (the search drops backslashes
and percent-decodes, so no escaping hides a value from it).
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, unquote_plus

import pytest
from conftest import MakeSecret, moto_backend
from helpers import value
from memory import MemoryRotator, MemoryTarget, Session
from pg_fixtures import PgUser

from smrotate import observability
from smrotate.accounts import Account
from smrotate.operator.driver import LocalDriver, RotationResult
from smrotate.rotators.postgresql import PostgreSQLRotator
from smrotate.testing.patience import scaled
from smrotate.testing.postgres import PostgresServer

TESTS = Path(__file__).resolve().parent.parent
STRATEGIES = ("single-user", "single-user-via-admin", "alternating-users")
# Every character that some encoding changes: quotes, backslash, URL metacharacters, space.
AWKWARD = "\"'\\%+&=/ ;"
MARKER = "[REDACTED]"


def awkward_password(tag: str) -> str:
    return f"{tag}-{secrets.token_hex(6)}{AWKWARD}{secrets.token_hex(6)}"


def rotation_token() -> str:
    return f"rt-{secrets.token_hex(20)}"


class EverythingFormatter(logging.Formatter):
    """name, level, message, exception, stack, and every attribute that `extra=` set."""

    STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
        "message",
        "asctime",
        "taskName",
    }

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = {k: v for k, v in record.__dict__.items() if k not in self.STANDARD}
        return f"{text} {extras}" if extras else text


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """The root logger at DEBUG with a handler (added after smrotate was imported) that writes
    every record of the process; smrotate's own logger at DEBUG too."""
    root = logging.getLogger()
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(EverythingFormatter("%(name)s %(levelname)s %(message)s"))
    level, own_level = root.level, observability.logger.log_level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    observability.logger.setLevel("DEBUG")
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        observability.logger.setLevel(own_level)


@contextmanager
def wire_logging() -> Iterator[None]:
    """botocore's and urllib3's loggers set to DEBUG by hand: an operator asking for wire logs."""
    loggers = [logging.getLogger(name) for name in ("botocore", "urllib3")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def leaks(text: str, named: dict[str, str]) -> list[str]:
    """The names of the values in `named` that `text` holds in any spelling."""
    __tracebackhide__ = True
    plain = text.replace("\\", "")
    views = [plain, unquote(text).replace("\\", ""), unquote_plus(text).replace("\\", "")]
    found = []
    for name, secret in named.items():
        needle = secret.replace("\\", "")
        assert len(needle) >= 8, f"{name} is too short to search for"
        if any(needle in view for view in views):
            found.append(name)
    return found


def unredacted_fields(text: str) -> list[str]:
    """Fields named like secrets whose quoted value is not the marker (any quoting depth)."""
    pattern = (
        r"(\\*[\"'])(SecretString|RotationToken|password|X-Amz-Security-Token)\1\s*:\s*b?"
        r"(\\*[\"'])(?!\[REDACTED\])(?!\3)"
    )
    return [m.group(0) for m in re.finditer(pattern, text, re.IGNORECASE)]


def stored_values(arn: str) -> dict[str, str]:
    """Every secret string the secret holds and every password in it, by a printable name."""
    named = {}
    versions = moto_backend().secrets[arn].versions
    for version_id, version in versions.items():
        if "secret_string" in version:
            named[f"SecretString of version {version_id}"] = version["secret_string"]
            named[f"password of version {version_id}"] = json.loads(version["secret_string"])[
                "password"
            ]
    return named


def assert_no_leak(texts: dict[str, str], named: dict[str, str]) -> None:
    __tracebackhide__ = True  # a failure names the secret, never shows it
    for where, text in texts.items():
        found = leaks(text, named)
        assert not found, f"{where} holds {found}"  # names only: never print a secret


# ------------------------------------------------------------------------ in-memory target


class CarelessRotator(MemoryRotator):
    """A driver that logs what it is given at DEBUG, as some do: the whole secret as arguments,
    a connection string as an `extra`, and a failure whose message quotes the password."""

    def login(self, account: Account) -> Any:
        log = logging.getLogger("memorydb.driver")  # a child logger: records propagate to root
        log.debug("connecting with %r", dict(account.value))
        log.debug("dsn", extra={"dsn": f"user={account.username} password={account.password}"})
        try:
            raise ConnectionError(f"handshake failed for password {account.password}")
        except ConnectionError:
            log.debug("retrying", exc_info=True)
        return super().login(account)

    def set_own_password(self, session: Session, account: Account, password: str) -> None:
        logging.getLogger("memorydb").debug(
            "ALTER USER %s PASSWORD '%s'", session.username, password
        )
        super().set_own_password(session, account, password)


def memory_setup(
    make_secret: MakeSecret, strategy: str
) -> tuple[str, dict[str, str], MemoryRotator]:
    user_password, admin_password = awkward_password("user"), awkward_password("admin")
    target = MemoryTarget(passwords={"app": user_password, "admin": admin_password})
    target.admins.add("admin")
    secret: dict[str, Any] = {"username": "app", "password": user_password}
    named = {"the user's first password": user_password, "the admin's password": admin_password}
    if strategy != "single-user":
        admin = {"username": "admin", "password": admin_password}
        secret["masterarn"] = make_secret(
            admin, name=f"admin/{secrets.token_hex(3)}", rotation=False
        )
        named["the admin secret"] = json.dumps(admin)
    arn = make_secret(secret)
    rotator = CarelessRotator(target, env={"ROTATION_STRATEGY": strategy})
    return arn, named, rotator


def rotate_twice(arn: str, rotator: MemoryRotator | PostgreSQLRotator, token: str) -> None:
    for _ in range(2):  # the second one logs in with a generated password
        result: RotationResult = LocalDriver(rotator.handle).rotate(arn, rotation_token=token)
        assert result.ok, f"{result.failed_step}: {type(result.error).__name__}"


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_rotations_at_debug_leak_nothing(
    sm: Any,
    make_secret: MakeSecret,
    debug_log: io.StringIO,
    capfd: pytest.CaptureFixture[str],
    strategy: str,
) -> None:
    arn, named, rotator = memory_setup(make_secret, strategy)
    token = rotation_token()
    rotate_twice(arn, rotator, token)
    named |= stored_values(arn) | {"the RotationToken": token}
    out, err = capfd.readouterr()
    log = debug_log.getvalue()
    assert_no_leak({"the root handler": log, "stdout": out, "stderr": err}, named)
    assert "memorydb.driver DEBUG connecting with" in log  # the careless records were written
    assert f"password {MARKER}" in log
    assert not unredacted_fields(log + out + err)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_botocore_stays_quiet_at_debug_unless_asked(
    sm: Any, make_secret: MakeSecret, debug_log: io.StringIO, strategy: str
) -> None:
    arn, _, rotator = memory_setup(make_secret, strategy)
    rotate_twice(arn, rotator, rotation_token())
    wire = [
        line
        for line in debug_log.getvalue().splitlines()
        if re.match(r"(botocore|urllib3)\S* DEBUG ", line)
    ]
    assert wire == []


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_wire_logs_when_asked_are_scrubbed(
    sm: Any,
    make_secret: MakeSecret,
    debug_log: io.StringIO,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    strategy: str,
) -> None:
    """botocore at DEBUG by hand: request and response bodies are logged, GetSecretValue's
    before smrotate has seen (registered) the value, and nothing of them shows."""
    session_token = f"IQoJb3JpZ2luX2VjE{secrets.token_hex(24)}"
    monkeypatch.setenv("AWS_SESSION_TOKEN", session_token)
    arn, named, rotator = memory_setup(make_secret, strategy)
    token = rotation_token()
    with wire_logging():
        rotate_twice(arn, rotator, token)
    named |= stored_values(arn) | {"the RotationToken": token, "the session token": session_token}
    log = debug_log.getvalue()
    out, err = capfd.readouterr()
    assert_no_leak({"the root handler": log, "stdout": out, "stderr": err}, named)
    assert "OperationModel(name=PutSecretValue)" in log  # the bodies were logged
    assert "Response body:" in log
    assert '"SecretString": "[REDACTED]"' in log
    assert "'X-Amz-Security-Token': b'[REDACTED]'" in log
    assert not unredacted_fields(log + out + err)


# ------------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_postgresql_rotations_at_debug_leak_nothing(
    sm: Any,
    make_secret: MakeSecret,
    pg: PostgresServer,
    pg_user: Callable[..., PgUser],
    pg_admin_secret: str,
    debug_log: io.StringIO,
    capfd: pytest.CaptureFixture[str],
    strategy: str,
) -> None:
    """On the suite's PostgreSQL, with psycopg, botocore and urllib3 at DEBUG as well."""
    user = pg_user()
    extra = {} if strategy == "single-user" else {"masterarn": pg_admin_secret}
    arn = make_secret(pg.secret(user.name, user.password, **extra))
    token = rotation_token()
    psycopg_log = logging.getLogger("psycopg")
    level = psycopg_log.level
    psycopg_log.setLevel(logging.DEBUG)
    try:
        with wire_logging():
            rotate_twice(arn, PostgreSQLRotator(env={"ROTATION_STRATEGY": strategy}), token)
    finally:
        psycopg_log.setLevel(level)
    current = value(sm, arn)
    assert pg.logs_in(current["username"], current["password"])
    named = stored_values(arn) | {
        "the user's first password": user.password,
        "the admin's password": pg.admin_secret()["password"],
        "the RotationToken": token,
    }
    log = debug_log.getvalue()
    assert "psycopg DEBUG connection" in log
    out, err = capfd.readouterr()
    assert_no_leak({"the root handler": log, "stdout": out, "stderr": err}, named)
    assert not unredacted_fields(log + out + err)


# ------------------------------------------------------------------------ a fresh process

FRESH_PROCESS = r"""
import json, logging, secrets, sys
order, tests, result_file = sys.argv[1:4]
sys.path.insert(0, tests)
if order == "before-import":  # as Lambda's runtime does: its handler, then the function's code
    logging.basicConfig(level=logging.DEBUG, format="%(name)s %(levelname)s %(message)s")
import boto3
from moto import mock_aws
from smrotate.operator.driver import LocalDriver
from smrotate.testing.aws import REGION, backend, enable_rotation, fake_aws_environment
from memory import MemoryRotator, MemoryTarget
if order == "after-import":
    logging.basicConfig(level=logging.DEBUG, format="%(name)s %(levelname)s %(message)s")
password = "user-" + secrets.token_hex(6) + sys.argv[4] + secrets.token_hex(6)
token = "rt-" + secrets.token_hex(20)
with fake_aws_environment(), mock_aws():
    client = boto3.client("secretsmanager", region_name=REGION)
    arn = client.create_secret(
        Name="app/fresh", SecretString=json.dumps({"username": "app", "password": password})
    )["ARN"]
    enable_rotation(arn)
    rotator = MemoryRotator(MemoryTarget(passwords={"app": password}), env={})
    for _ in range(2):
        assert LocalDriver(rotator.handle).rotate(arn, rotation_token=token).ok
        logging.getLogger("app.driver").debug("login with %s", password)  # now a known secret
    versions = backend().secrets[arn].versions.values()
    values = [v["secret_string"] for v in versions if "secret_string" in v]
values += [json.loads(v)["password"] for v in values] + [token]
with open(result_file, "w") as out:
    json.dump(values, out)
"""


@pytest.mark.parametrize("order", ["before-import", "after-import"])
def test_a_fresh_process_with_basic_config_at_debug_leaks_nothing(
    tmp_path: Path, order: str
) -> None:
    """Lambda's order (the root handler exists before the function's code is imported) and a
    script's (logging.basicConfig after the imports), in a fresh interpreter."""
    result_file = tmp_path / "values.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMROTATE_"))}
    run = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, order, str(TESTS), str(result_file), AWKWARD],
        capture_output=True,
        text=True,
        env={**env, "POWERTOOLS_METRICS_DISABLED": "true"},
        cwd=tmp_path,
        check=False,
        timeout=scaled(120),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    values = json.loads(result_file.read_text())
    assert len(values) >= 7  # three versions, their passwords, the RotationToken
    assert "app.driver DEBUG login with" in run.stderr  # basicConfig's handler wrote DEBUG
    named = {f"value {i}": v for i, v in enumerate(values)}
    assert_no_leak({"stderr": run.stderr, "stdout": run.stdout}, named)
