"""`smrotate run`: the four steps on this machine through the local driver, on moto server,
with the in-memory target and with the suite's private PostgreSQL and Redis; the names
`--rotator` takes."""

from __future__ import annotations

import json
import re
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import new_password
from memory import MemoryTarget
from moto_server_fixtures import Cli, SharedTargetRotator, sm_client
from pg_fixtures import PgUser
from redis_fixtures import MakeRedisUser

from smrotate.accounts import Account
from smrotate.errors import Failure, LoginRefusedError, TargetError
from smrotate.operator.exit_codes import ExitCode
from smrotate.operator.loading import ROTATOR_CHOICES, SHIPPED, rotator_class
from smrotate.rotator import Rotator, StepContext
from smrotate.rotators.iam_keys.keys import IamKey, UserKeys
from smrotate.store import Secret
from smrotate.testing.aws import enable_rotation, labels
from smrotate.testing.iam import UserKey, create_user, identity, key_states, sts_checks_keys
from smrotate.testing.postgres import PostgresServer
from smrotate.testing.redis import RedisServer

ROOT = Path(__file__).resolve().parent.parent

ROTATOR = "moto_server_fixtures:SharedTargetRotator"
OLD = {"username": "app", "password": "app-password-1"}
STEPS = ["createSecret", "setSecret", "testSecret", "finishSecret"]

pytestmark = pytest.mark.usefixtures("cli_globals")  # the CLI's log settings, restored


class LeakyRotator(SharedTargetRotator):
    """Puts the password in its testSecret error: the CLI must never show it."""

    def check_login(self, session: Any, account: Account) -> None:
        raise TargetError(f"query failed for password {account.password}", Failure.OTHER)


class TokenRotator(Rotator):
    """A rotator with no login to check (not a cleanup.CleanupChecks)."""

    def build_pending(self, ctx: StepContext) -> Secret:
        return {**ctx.current(), "token": secrets.token_hex(8)}

    def apply_pending(self, ctx: StepContext, pending: Secret) -> None:
        pass

    def test_pending(self, ctx: StepContext, pending: Secret) -> None:
        pass


def make(url: str, value: dict[str, Any] | None = None, name: str = "app/db") -> str:
    arn = sm_client(url).create_secret(Name=name, SecretString=json.dumps(value or OLD))
    enable_rotation(name)
    return str(arn["ARN"])


def current(url: str, arn: str) -> dict[str, Any]:
    response = sm_client(url).get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")
    return dict(json.loads(response["SecretString"]))


def test_run_prints_each_step_and_rotates(
    cli: Cli, moto_url: str, shared_target: MemoryTarget
) -> None:
    arn = make(moto_url)
    result = cli("run", "app/db", "--rotator", ROTATOR)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert [line.split()[:2] for line in lines[:4]] == [[step, "ok"] for step in STEPS]
    token = lines[4].split()[2]
    assert lines[4] == f"rotated: version {token} is AWSCURRENT"
    assert labels(arn)[token] == ["AWSCURRENT"]
    assert shared_target.check("app", current(moto_url, arn)["password"])
    assert not shared_target.check("app", OLD["password"])


def test_run_stops_at_the_failed_step_and_resume_finishes_it(
    cli: Cli, moto_url: str, shared_target: MemoryTarget
) -> None:
    arn = make(moto_url)
    shared_target.down = True
    failed = cli("run", "app/db", "--rotator", ROTATOR)
    assert failed.code == ExitCode.ROTATION_FAILED
    assert failed.out.splitlines()[0].split()[:2] == ["createSecret", "ok"]
    assert failed.out.splitlines()[1].split()[:2] == ["setSecret", "FAILED"]
    assert "TargetError: network failure: memory target at memory:0 is unreachable" in failed.out
    resume = next(line for line in failed.err.splitlines() if line.startswith("resume it:"))
    token = resume.split()[-1]
    assert resume == f"resume it: smrotate run app/db --rotator {ROTATOR} --resume {token}"

    again = cli("run", "app/db", "--rotator", ROTATOR)
    assert again.code == ExitCode.REFUSED
    assert f"version {token} holds AWSPENDING. Resume it with --resume {token}" in again.err

    shared_target.down = False
    done = cli("run", "app/db", "--rotator", ROTATOR, "--resume", token, "--output", "json")
    assert done.code == 0, done.err
    record = done.json()
    assert record["ok"] is True
    assert record["version_id"] == token
    assert [s["step"] for s in record["steps"]] == STEPS
    assert labels(arn)[token] == ["AWSCURRENT"]


def test_a_run_that_stored_nothing_does_not_suggest_resume(
    cli: Cli, moto_url: str, shared_target: MemoryTarget
) -> None:
    """createSecret refuses an AWSCURRENT without a password before storing anything: the
    summary says so, and suggests running again rather than --resume or cleanup."""
    arn = make(moto_url, {"username": "app"})
    failed = cli("run", "app/db", "--rotator", ROTATOR)
    assert failed.code == ExitCode.ROTATION_FAILED
    assert failed.out.splitlines()[0].split()[:2] == ["createSecret", "FAILED"]
    assert "--resume" not in failed.out + failed.err
    assert "cleanup" not in failed.out + failed.err
    assert "holds no label, so there is nothing to resume" in failed.err
    assert f"run again: smrotate run app/db --rotator {ROTATOR}" in failed.err
    assert len(labels(arn)) == 1


def test_run_applies_the_strategy_option(
    cli: Cli, moto_url: str, shared_target: MemoryTarget
) -> None:
    make(moto_url)
    bad = cli("run", "app/db", "--rotator", ROTATOR, "--strategy", "double-user")
    assert bad.code == ExitCode.USAGE
    assert "--strategy 'double-user' is not one of single-user" in bad.err
    result = cli("run", "app/db", "--rotator", ROTATOR, "--strategy", "single-user-via-admin")
    assert result.code == ExitCode.ROTATION_FAILED
    assert "needs 'masterarn' in the secret" in result.out


def test_run_never_prints_a_password_a_rotator_puts_in_its_error(
    cli: Cli, moto_url: str, shared_target: MemoryTarget
) -> None:
    make(moto_url)
    result = cli("run", "app/db", "--rotator", "test_cli_run:LeakyRotator", "--verbose")
    assert result.code == ExitCode.ROTATION_FAILED
    assert "query failed for password [REDACTED]" in result.out
    assert '"level":"INFO"' in result.err  # --verbose shows the rotator's log lines
    # the cli fixture then checks every output for every stored password


def test_run_of_a_secret_with_rotation_off_says_how_to_turn_it_on(
    cli: Cli, moto_url: str, shared_target: MemoryTarget
) -> None:
    sm_client(moto_url).create_secret(Name="app/db", SecretString=json.dumps(OLD))
    result = cli("run", "app/db", "--rotator", ROTATOR)
    assert result.code == ExitCode.ROTATION_FAILED
    assert "rotation is not enabled for secret app/db" in result.out


@pytest.mark.postgres
def test_run_rotates_a_real_postgresql_password(
    cli: Cli, moto_url: str, pg: PostgresServer, pg_user: Callable[..., PgUser]
) -> None:
    user = pg_user()
    arn = make(moto_url, pg.secret(user.name, user.password))
    result = cli("run", arn, "--rotator", "postgresql")
    assert result.code == 0, result.out + result.err
    assert [line.split()[:2] for line in result.out.splitlines()[:4]] == [
        [step, "ok"] for step in STEPS
    ]
    new = current(moto_url, arn)["password"]
    assert new != user.password
    assert pg.logs_in(user.name, new)
    assert not pg.logs_in(user.name, user.password)
    assert user.password not in result.out + result.err


def test_resume_needs_a_version_of_the_secret(
    cli: Cli, moto_url: str, shared_target: MemoryTarget
) -> None:
    arn = make(moto_url)
    before = labels(arn)
    short = cli("run", "app/db", "--rotator", ROTATOR, "--resume", "abc")
    assert short.code == ExitCode.USAGE
    assert "a version id is 32 to 64 printable characters" in short.err
    unknown = "00000000-0000-4000-8000-00000000beef"
    result = cli("run", "app/db", "--rotator", ROTATOR, "--resume", unknown)
    assert result.code == ExitCode.REFUSED
    assert f"version {unknown} is not a labelled version of secret app/db" in result.err
    assert labels(arn) == before


# ------------------------------------------------------------------------------ Redis


def acl_rules(server: RedisServer, username: str) -> dict[str, Any]:
    """ACL GETUSER without the passwords."""
    reply = server.execute("ACL", "GETUSER", username)
    facts = dict(zip(reply[::2], reply[1::2], strict=True))
    facts.pop("passwords")
    return facts


def doc_run(command: str) -> list[str]:
    """The output docs/cli.md shows for `$ {command}`, up to its `$ echo $?`."""
    lines = (ROOT / "docs" / "cli.md").read_text().splitlines()
    start = lines.index(f"$ {command}") + 1
    return lines[start : lines.index("$ echo $?", start)]


def shape(lines: list[str]) -> list[str]:
    """Lines with what changes from run to run (times, version ids) replaced."""
    versions = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    return [versions.sub("VERSION", re.sub(r"\d+\.\d+ s", "T s", line)) for line in lines]


@pytest.fixture
def reader(redis_server: RedisServer) -> Iterator[tuple[str, str]]:
    """An ordinary Redis user (it may read keys app:* and nothing else): name and password."""
    name, password = f"reader_{secrets.token_hex(4)}", new_password()
    redis_server.create_user(name, password, "~app:* +@read")
    yield name, password
    redis_server.drop_user(name)


@pytest.mark.redis
def test_run_rotates_a_real_redis_password_then_keeps_two(
    cli: Cli, moto_url: str, redis_server: RedisServer, redis_user: MakeRedisUser
) -> None:
    """single-user: only the new password logs in; dual-password: the new one and AWSCURRENT's
    before it, exactly as docs/cli.md shows the run."""
    user = redis_user()
    arn = make(moto_url, redis_server.secret(user.name, user.password), name="app/cache")
    single = cli("run", "app/cache", "--rotator", "redis")
    assert single.code == 0, single.out + single.err
    assert [line.split()[:2] for line in single.out.splitlines()[:4]] == [
        [step, "ok"] for step in STEPS
    ]
    first = current(moto_url, arn)["password"]
    assert first != user.password
    assert redis_server.accepts(user.name, first)
    assert not redis_server.accepts(user.name, user.password)

    command = "smrotate run app/cache --rotator redis --strategy dual-password"
    dual = cli(*command.split()[1:])
    assert dual.code == 0, dual.out + dual.err
    second = current(moto_url, arn)["password"]
    assert second not in {first, user.password}
    assert redis_server.accepts(user.name, second)
    assert redis_server.accepts(user.name, first)  # AWSPREVIOUS, until the next rotation
    assert not redis_server.accepts(user.name, user.password)
    shown = dual.err.splitlines() + dual.out.splitlines()
    assert shape(shown) == shape(doc_run(command)), "\n".join(shown)


@pytest.mark.redis
def test_redis_user_without_acl_setuser_is_cleaned_up_then_rotated_by_the_admin(
    cli: Cli, moto_url: str, redis_server: RedisServer, reader: tuple[str, str]
) -> None:
    """single-user fails at setSecret with what to do, AWSCURRENT still logs in; `cancel
    --cleanup --rotator redis` discards AWSPENDING; the admin strategy then rotates the user,
    whose ACL rules stay as they were."""
    name, password = reader
    rules = acl_rules(redis_server, name)
    admin = json.dumps(redis_server.admin_secret())
    admin_arn = sm_client(moto_url).create_secret(Name="app/redis-admin", SecretString=admin)
    secret = redis_server.secret(name, password, masterarn=admin_arn["ARN"])
    arn = make(moto_url, secret, name="app/reader")

    refused = cli("run", "app/reader", "--rotator", "redis")
    assert refused.code == ExitCode.ROTATION_FAILED
    assert "setSecret     FAILED" in refused.out
    assert "may not run ACL SETUSER" in refused.out
    assert "use single-user-via-admin" in refused.out
    assert redis_server.accepts(name, password)

    cleanup = cli("cancel", "app/reader", "--cleanup", "--rotator", "redis")
    assert cleanup.code == 0, cleanup.out + cleanup.err
    assert "removed AWSPENDING" in cleanup.out + cleanup.err
    assert list(labels(arn).values()) == [["AWSCURRENT"]]
    enable_rotation("app/reader")  # the cancel turned it off

    done = cli("run", "app/reader", "--rotator", "redis", "--strategy", "single-user-via-admin")
    assert done.code == 0, done.out + done.err
    new = current(moto_url, arn)["password"]
    assert redis_server.accepts(name, new)
    assert not redis_server.accepts(name, password)
    assert acl_rules(redis_server, name) == rules


def test_the_rotator_names_come_from_one_table(cli: Cli) -> None:
    """Every shipped name loads its class; an unknown name is refused with the table's names."""
    assert ROTATOR_CHOICES == "postgresql, mysql, redis, elasticache, iam-keys or MODULE:CLASS"
    for name, (spec, _) in SHIPPED.items():
        assert rotator_class(name).__name__ == spec.rpartition(":")[2]
    assert rotator_class("redis").__name__ == "RedisRotator"
    bad = cli("run", "app/db", "--rotator", "valkey")
    assert bad.code == ExitCode.USAGE
    assert f"--rotator 'valkey' is not {ROTATOR_CHOICES}" in bad.err


def test_run_without_redis_py_names_the_extra(
    cli: Cli, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rotator checks its driver when imported: a usage error naming what to install."""
    monkeypatch.setitem(sys.modules, "redis", None)  # `import redis` fails, as when missing
    for module in ("smrotate.rotators.redis", "smrotate.rotators.redis.session"):
        monkeypatch.delitem(sys.modules, module, raising=False)  # imported again, then put back
    result = cli("run", "app/db", "--rotator", "redis")
    assert result.code == ExitCode.USAGE
    assert "--rotator redis: RedisRotator needs the redis driver" in result.err
    assert "pip install 'smrotate[redis]'" in result.err


# ------------------------------------------------------------------ IAM access keys


@pytest.fixture
def iam_user(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[UserKey]:
    """An IAM user with one key in moto server, whose STS refuses bad keys; IAM and STS reached
    as an operator reaches them (AWS_ENDPOINT_URL_<SERVICE>: --endpoint-url is Secrets
    Manager's), and IAM_USER_NAME naming the user."""
    for service in ("IAM", "STS"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", moto_url)
    monkeypatch.setenv("IAM_USER_NAME", "app-user")
    monkeypatch.setenv("IAM_PROPAGATION_SECONDS", "0")  # one proof: moto is consistent at once
    with sts_checks_keys():
        yield create_user("app-user", path="/app/")


def test_run_rotates_an_iam_users_key_and_cleanup_deletes_a_discarded_one(
    cli: Cli, moto_url: str, iam_user: UserKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run --rotator iam-keys`; then a run whose new key STS refuses (IAM not caught up) stops
    at testSecret, and `cancel --cleanup --rotator iam-keys` discards AWSPENDING and deletes the
    key that only it held: the user keeps the two working keys of AWSCURRENT and AWSPREVIOUS."""
    arn = make(moto_url, iam_user.secret(), name="app/keys")
    done = cli("run", "app/keys", "--rotator", "iam-keys")
    assert done.code == 0, done.out + done.err
    first = current(moto_url, arn)
    assert identity(first["access_key_id"], first["secret_access_key"]) == iam_user.arn
    assert identity(iam_user.access_key_id, iam_user.secret_access_key) == iam_user.arn

    prove = UserKeys.prove

    def not_yet(self: UserKeys, key: IamKey, arn_: str, hint: str) -> None:
        if key.access_key_id not in (first["access_key_id"], iam_user.access_key_id):
            raise LoginRefusedError(f"STS refused the new key (test: IAM not caught up); {hint}")
        prove(self, key, arn_, hint)

    monkeypatch.setattr(UserKeys, "prove", not_yet)
    failed = cli("run", "app/keys", "--rotator", "iam-keys")
    assert failed.code == ExitCode.ROTATION_FAILED
    assert [line.split()[1] for line in failed.out.splitlines()[:3]] == ["ok", "ok", "FAILED"]
    (pending,) = [v for v, stages in labels(arn).items() if "AWSPENDING" in stages]
    made = pending_key(moto_url, arn, pending)
    assert set(key_states("app-user")) == {first["access_key_id"], made}  # AWSPREVIOUS's went

    cleanup = cli("cancel", "app/keys", "--cleanup", "--rotator", "iam-keys")
    assert cleanup.code == 0, cleanup.out + cleanup.err
    assert f"AWSCURRENT (version {first_version(arn)}) logs in" in cleanup.out
    assert "the IAM access key deleted" in cleanup.out
    assert not any("AWSPENDING" in stages for stages in labels(arn).values())
    assert key_states("app-user") == {first["access_key_id"]: "Active"}
    assert identity(first["access_key_id"], first["secret_access_key"]) == iam_user.arn
    assert current(moto_url, arn) == first


def first_version(arn: str) -> str:
    (version,) = [v for v, stages in labels(arn).items() if "AWSCURRENT" in stages]
    return version


def pending_key(url: str, arn: str, version: str) -> str:
    response = sm_client(url).get_secret_value(SecretId=arn, VersionId=version)
    return str(json.loads(response["SecretString"])["access_key_id"])


def test_cleanup_with_a_rotator_that_cannot_check_logins_is_a_usage_error(
    cli: Cli, moto_url: str
) -> None:
    make(moto_url)
    result = cli("cancel", "app/db", "--cleanup", "--rotator", "test_cli_run:TokenRotator")
    assert result.code == ExitCode.USAGE
    assert "cannot check logins" in result.err
