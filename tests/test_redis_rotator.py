"""The Redis rotator on the suite's private Redis (TLS only, password ACL users, the default user
off): every outcome checked on the server (AUTH, ACL GETUSER, CLIENT LIST), and on the wire
where the server cannot tell (Redis 7 redacts ACL SETUSER's arguments in MONITOR and SLOWLOG)."""

from __future__ import annotations

import hashlib
import logging
import socket
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
import redis
from conftest import MakeSecret
from helpers import new_password, rotate, value
from redis.connection import AbstractConnection
from redis_fixtures import MakeRedisUser

from smrotate import redaction
from smrotate.errors import (
    ConfigurationError,
    Failure,
    LoginRefusedError,
    RotationStateError,
    SecretFormatError,
    TargetError,
)
from smrotate.events import Step
from smrotate.operator.driver import LocalDriver, RotationResult
from smrotate.rotators.redis import RedisRotator
from smrotate.rotators.redis.session import acl_hash, error
from smrotate.testing.redis import RedisServer
from smrotate.testing.tls import Pki

pytestmark = pytest.mark.redis

SELF_SERVICE = "resetchannels -@all +acl|setuser +acl|whoami"  # may change its own password
ORDINARY = "~app:* &app:* +@all -@dangerous"  # a usual application user: no admin command
VIA_ADMIN = {"ROTATION_STRATEGY": "single-user-via-admin"}
DUAL = {"ROTATION_STRATEGY": "dual-password"}
FIRST_STEPS, LAST_STEPS = (Step.CREATE, Step.SET), (Step.TEST, Step.FINISH)


def rotator(**env: str) -> RedisRotator:
    """A rotator whose configuration is exactly `env` (never the developer's environment)."""
    return RedisRotator(env=env)


def hex_of(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def rules(server: RedisServer, name: str) -> dict[str, Any]:
    """ACL GETUSER as a dict: flags, passwords (hex hashes), commands, keys, channels, selectors."""
    reply = server.execute("ACL", "GETUSER", name)
    return dict(zip(reply[::2], reply[1::2], strict=True))


@pytest.fixture
def make_user(redis_server: RedisServer) -> Iterator[Callable[..., tuple[str, str]]]:
    """`make_user(rules, name=...)`: a fresh user (name, password) with those ACL rules."""
    made: list[str] = []

    def make(acl: str = SELF_SERVICE, name: str | None = None) -> tuple[str, str]:
        name = name or f"app_{hex_of(new_password())[:8]}"
        password = new_password()
        redis_server.create_user(name, password, acl)
        made.append(name)
        return name, password

    yield make
    redis_server.drop_user(*made)


@pytest.fixture
def admin_arn(make_secret: MakeSecret, redis_server: RedisServer) -> str:
    return make_secret(redis_server.admin_secret(), name="admin/redis", rotation=False)


@contextmanager
def wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """Every command redis-py writes to a socket while the block runs, as bytes."""
    sent: list[bytes] = []
    original = AbstractConnection.send_packed_command

    def record(self: Any, command: Any, check_health: bool = True) -> None:
        sent.append(command if isinstance(command, bytes) else b"".join(command))
        original(self, command, check_health)  # type: ignore[no-untyped-call]

    with monkeypatch.context() as patch:
        patch.setattr(AbstractConnection, "send_packed_command", record)
        yield sent


def setuser_holds(sent: list[bytes], text: str) -> bool:
    """True when an ACL SETUSER that was sent carries `text`."""
    return any(b"SETUSER" in chunk and text.encode() in chunk for chunk in sent)


# ------------------------------------------------------------------ what the rotator offers


def test_strategies_are_declared_by_the_hooks_and_clones_are_refused_before_any_write(
    sm: Any, make_secret: MakeSecret, redis_server: RedisServer, make_user: Any
) -> None:
    expected = ("single-user", "single-user-via-admin", "alternating-pair", "dual-password")
    assert RedisRotator.strategies == expected
    name, password = make_user()
    arn = make_secret(redis_server.secret(name, password))
    result = LocalDriver(rotator(ROTATION_STRATEGY="alternating-users").handle).rotate(arn)
    assert result.failed_step is Step.CREATE
    assert isinstance(result.error, ConfigurationError)
    assert "sync_clone" in str(result.error)
    assert set(sm.list_secret_version_ids(SecretId=arn)["Versions"][0]["VersionStages"]) == {
        "AWSCURRENT"
    }


def test_the_secret_format_defaults_to_port_6379_and_accepts_only_engine_redis() -> None:
    rot = rotator()
    account = rot.parse_secret({"host": "cache", "username": "u", "password": "p"}, "value")
    assert (account.engine, account.port, account.tls.enabled) == ("redis", 6379, True)
    with pytest.raises(SecretFormatError, match="engine 'mysql'"):
        rot.parse_secret({"engine": "mysql", "host": "h", "username": "u", "password": "p"}, "v")


# ------------------------------------------------------------------ single user


def test_single_user_three_times_each_old_password_refused(
    sm: Any, make_secret: MakeSecret, redis_server: RedisServer, make_user: Any
) -> None:
    name, password = make_user()
    arn = make_secret(redis_server.secret(name, password))
    rot, seen = rotator(), [password]
    for _ in range(3):
        rotate(arn, rot)
        new = value(sm, arn)["password"]
        assert new not in seen
        assert redis_server.logs_in(name, new)
        assert not any(redis_server.logs_in(name, old) for old in seen)
        assert rules(redis_server, name)["passwords"] == [hex_of(new)]  # its only password
        seen.append(new)
    assert rot.stats["refused"] == 0  # the normal path makes no failed login


def test_a_refused_login_is_one_attempt_on_the_server(
    redis_server: RedisServer, make_user: Any
) -> None:
    """redis-py would send a refused AUTH again (AuthenticationError is a ConnectionError to
    its retries); the rotator's logins are never retried."""
    name, password = make_user()
    account = rotator().parse_secret(redis_server.secret(name, password + "x"), "value")
    before = redis_server.refused_logins(name)
    assert rotator().logs_in(account) is False
    assert redis_server.refused_logins(name) == before + 1
    with pytest.raises(LoginRefusedError, match=f"user '{name}' at localhost"):
        rotator().verify(account)


def test_single_user_without_the_right_to_run_acl_setuser_fails_clearly_and_changes_nothing(
    sm: Any, make_secret: MakeSecret, redis_server: RedisServer, make_user: Any
) -> None:
    name, password = make_user(ORDINARY)
    with pytest.raises(redis.ResponseError, match="first-arg of a subcommand is not supported"):
        redis_server.create_user(name, password, f"-@all +acl|setuser|{name}")  # not just its own
    arn = make_secret(redis_server.secret(name, password))
    result = LocalDriver(rotator().handle).rotate(arn)
    assert result.failed_step is Step.SET
    assert isinstance(result.error, TargetError)
    assert result.error.failure is Failure.PRIVILEGE
    message = str(result.error)
    assert "may not run ACL SETUSER" in message
    assert "single-user-via-admin" in message
    assert value(sm, arn)["password"] == password
    assert redis_server.logs_in(name, password)  # AWSCURRENT still works
    pending = value(sm, arn, "AWSPENDING")["password"]
    assert not redis_server.logs_in(name, pending)


def test_only_the_passwords_change_every_other_rule_stays(
    sm: Any,
    make_secret: MakeSecret,
    redis_server: RedisServer,
    make_user: Any,
    admin_arn: str,
) -> None:
    """Keys, read-only keys, channels, commands and a selector, before and after, as the
    server reports them: single-user, dual-password, then via the admin."""
    rich = "~app:* %R~ro:* &news:* -@all +get +set +acl|whoami +client|setname (~sel:* +hget)"
    cases = [({}, rich + " +acl|setuser"), (DUAL, rich + " +acl|setuser"), (VIA_ADMIN, rich)]
    for env, acl in cases:
        name, password = make_user(acl)
        arn = make_secret(redis_server.secret(name, password, masterarn=admin_arn))
        before = rules(redis_server, name)
        rotate(arn, rotator(**env))
        after = rules(redis_server, name)
        new = value(sm, arn)["password"]
        kept = [hex_of(password)] if env == DUAL else []
        assert after.pop("passwords") == [*kept, hex_of(new)], env
        before.pop("passwords")
        assert after == before, env
        assert after["selectors"], "the selector survived"


# ------------------------------------------------------------------ dual password


def test_dual_password_both_work_during_the_rotation_and_the_previous_until_the_next(
    sm: Any, make_secret: MakeSecret, redis_server: RedisServer, make_user: Any
) -> None:
    name, first = make_user()
    arn = make_secret(redis_server.secret(name, first))
    driver = LocalDriver(rotator(**DUAL).handle)
    started = driver.rotate(arn, steps=FIRST_STEPS)
    assert started.error is None, started.error
    second = value(sm, arn, "AWSPENDING")["password"]
    assert redis_server.logs_in(name, first)  # AWSCURRENT, during the rotation
    assert redis_server.logs_in(name, second)  # AWSPENDING, set in one command with it
    assert rules(redis_server, name)["passwords"] == [hex_of(first), hex_of(second)]
    finished = driver.rotate(arn, token=started.token, steps=LAST_STEPS)
    assert finished.error is None, finished.error
    assert value(sm, arn)["password"] == second
    assert value(sm, arn, "AWSPREVIOUS")["password"] == first
    assert redis_server.logs_in(name, first)  # the previous password keeps working...
    rotate(arn, rotator(**DUAL))
    third = value(sm, arn)["password"]
    assert not redis_server.logs_in(name, first)  # ...until the next rotation's setSecret
    assert redis_server.logs_in(name, second)
    assert redis_server.logs_in(name, third)
    assert rules(redis_server, name)["passwords"] == [hex_of(second), hex_of(third)]


# ------------------------------------------------------------------ via the admin


def test_via_admin_for_a_user_with_no_admin_right_and_no_acl_whoami(
    sm: Any,
    make_secret: MakeSecret,
    redis_server: RedisServer,
    make_user: Any,
    admin_arn: str,
) -> None:
    """A user that may run GET on its keys and nothing else: not even ACL WHOAMI (the login is
    then AUTH's), CLIENT SETNAME or ACL SETUSER."""
    name, password = make_user("~app:* -@all +get")
    arn = make_secret(redis_server.secret(name, password, masterarn=admin_arn))
    seen = [password]
    for _ in range(2):
        rotate(arn, rotator(**VIA_ADMIN))
        new = value(sm, arn)["password"]
        assert redis_server.accepts(name, new)  # AUTH alone: it may not run ACL WHOAMI
        assert not any(redis_server.accepts(name, old) for old in seen)
        seen.append(new)
    assert redis_server.logs_in(redis_server.admin_user, redis_server.admin_password)


def test_user_names_that_redis_accepts_quotes_non_ascii_and_rule_lookalikes(
    sm: Any,
    make_secret: MakeSecret,
    redis_server: RedisServer,
    make_user: Any,
    admin_arn: str,
) -> None:
    """ACL SETUSER takes any name without white space or NUL (the server says so); a name is
    one argument, never parsed as a rule, so one that looks like a rule changes no rule."""
    for refused in ("a b", "tab\there"):
        with pytest.raises(redis.ResponseError, match="can't contain spaces"):
            redis_server.create_user(refused, new_password(), ORDINARY)
    names = ['quo"te', "it's", "naïve-ü", "雪☃😀", "back\\slash", "+@all", ">pw", "nopass", "a=b|c"]
    for name in names:
        make_user(ORDINARY, name=name)
        password = new_password()
        redis_server.set_password(name, password)
        before = rules(redis_server, name)
        arn = make_secret(redis_server.secret(name, password, masterarn=admin_arn))
        rotate(arn, rotator(**VIA_ADMIN))
        new = value(sm, arn)["password"]
        assert redis_server.logs_in(name, new), name
        assert not redis_server.logs_in(name, password), name
        after = rules(redis_server, name)
        assert {**after, "passwords": []} == {**before, "passwords": []}, name
    # and a user changing its own password, under a non-ASCII name
    name, password = make_user(SELF_SERVICE, name="ça-va-☃")
    arn = make_secret(redis_server.secret(name, password))
    rotate(arn, rotator())
    assert redis_server.logs_in(name, value(sm, arn)["password"])
    assert redis_server.logs_in(redis_server.admin_user, redis_server.admin_password)


# ------------------------------------------------------------------ what the admin refuses

PRIVILEGED = {
    "every command": "~* +@all",
    "ACL SETUSER alone": "-@all +acl|setuser",
    "CONFIG GET alone": "~app:* -@all +get +config|get",
    "the @dangerous category": "-@all +@dangerous",
    "the @admin category": "-@all +@admin",
    "the acl command": "-@all +acl",
    "@admin in a selector": "~app:* -@all +get (+@admin)",
}
NOT_PRIVILEGED = {
    "every command but the dangerous ones": "~* &* +@all -@dangerous",
    "reads and writes": "~* +@read +@write",
    "one command": "~app:* -@all +get",
    "PFDEBUG, on its own keys only": "~app:* -@all +pfdebug",
}


def test_account_facts_asks_the_server_which_admin_commands_a_user_may_run(
    redis_server: RedisServer, make_user: Any
) -> None:
    rot = rotator()
    admin = rot.parse_secret(redis_server.admin_secret(), "the admin secret")
    with rot.open(admin) as session:
        for what, acl in PRIVILEGED.items():
            name, _ = make_user(acl)
            facts = rot.account_facts(session, name)
            assert facts.exists, what
            assert facts.privileged is not None, what
            assert "@admin commands" in facts.privileged, what
        for what, acl in NOT_PRIVILEGED.items():
            name, _ = make_user(acl)
            assert rot.account_facts(session, name).privileged is None, what
        assert rot.account_facts(session, "no_such_user").exists is False
        setuser = rot.account_facts(session, make_user("-@all +acl|setuser")[0]).privileged
        assert setuser is not None
        assert setuser.startswith("it may run @admin commands (acl|setuser")


@pytest.mark.parametrize("victim", ["the admin itself", *PRIVILEGED, "a nopass user"])
def test_attack_the_admin_never_resets_a_privileged_account(
    sm: Any,
    make_secret: MakeSecret,
    redis_server: RedisServer,
    make_user: Any,
    admin_arn: str,
    victim: str,
) -> None:
    """The attacker writes the secret naming a privileged user, with its real password (the
    worst case: the guard login then succeeds). The admin refuses; on the server, the
    victim's password still works."""
    if victim == "the admin itself":
        name, password = redis_server.admin_user, redis_server.admin_password
    elif victim == "a nopass user":
        name, password = make_user("~app:* -@all +get")
        redis_server.execute("ACL", "SETUSER", name, "nopass")
        password = "anything-logs-in"
    else:
        name, password = make_user(PRIVILEGED[victim])
    before = rules(redis_server, name)
    arn = make_secret(redis_server.secret(name, password, masterarn=admin_arn))
    result = LocalDriver(rotator(**VIA_ADMIN).handle).rotate(arn)
    assert result.failed_step is Step.SET
    assert isinstance(result.error, RotationStateError)
    reason = "own user" if victim == "the admin itself" else "admin-level rights"
    assert reason in str(result.error)
    assert redis_server.accepts(name, password)  # (not every victim may run ACL WHOAMI)
    assert rules(redis_server, name) == before  # passwords and nopass as they were
    assert redis_server.logs_in(redis_server.admin_user, redis_server.admin_password)
    assert value(sm, arn)["password"] == password


# ------------------------------------------------------------------ the same server


@contextmanager
def forwarder(port: int) -> Iterator[int]:
    """Another loopback port that forwards every connection to `port`, byte for byte (TLS
    passes through): the same server under another address."""
    listener = socket.create_server(("127.0.0.1", 0))

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def serve() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", port))
            for ends in ((client, upstream), (upstream, client)):
                threading.Thread(target=pipe, args=ends, daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def test_secrets_that_spell_the_server_differently_are_tied_by_a_random_client_name(
    sm: Any,
    make_secret: MakeSecret,
    redis_server: RedisServer,
    make_user: Any,
    admin_arn: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The user's secret names another port that leads to the same server: the admin finds
    the user's session by its random CLIENT SETNAME in CLIENT LIST, and rotates. A user that
    may not run CLIENT SETNAME cannot be tied so: refused, nothing changed."""
    with forwarder(redis_server.port) as port:
        name, password = make_user(ORDINARY)
        arn = make_secret(redis_server.secret(name, password, port=port, masterarn=admin_arn))
        rotate(arn, rotator(**VIA_ADMIN))
        assert redis_server.logs_in(name, value(sm, arn)["password"])
        assert not redis_server.logs_in(name, password)
        name, password = make_user("~app:* -@all +get")
        arn = make_secret(redis_server.secret(name, password, port=port, masterarn=admin_arn))
        result = LocalDriver(rotator(**VIA_ADMIN).handle).rotate(arn)
    assert isinstance(result.error, RotationStateError)
    assert "could not prove they are the same server" in str(result.error)
    assert "may not run CLIENT SETNAME" in caplog.text
    assert redis_server.accepts(name, password)


def test_attack_a_secret_naming_another_server_never_lets_the_admin_reset_its_namesake(
    sm: Any,
    make_secret: MakeSecret,
    redis_server: RedisServer,
    make_user: Any,
    admin_arn: str,
    pki: Pki,
) -> None:
    """The same user name and password on another server (the attacker's): its login works,
    but the admin's server does not see that session, so the admin changes nothing."""
    name, password = make_user(ORDINARY)
    with RedisServer.start(pki) as other:
        other.create_user(name, password, ORDINARY)
        arn = make_secret(other.secret(name, password, masterarn=admin_arn))
        result = LocalDriver(rotator(**VIA_ADMIN).handle).rotate(arn)
        assert isinstance(result.error, RotationStateError)
        assert other.logs_in(name, password)
    assert redis_server.logs_in(name, password)


# ------------------------------------------------------------------ TLS fails closed


def test_tls_fails_closed_a_ca_that_did_not_sign_the_server_and_a_host_name_mismatch(
    sm: Any,
    make_secret: MakeSecret,
    redis_server: RedisServer,
    make_user: Any,
    pki: Pki,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Refused before any command is written: no AUTH reaches the wire, TLS or plaintext."""
    name, password = make_user()
    for bad in ({"sslrootcert": str(pki.other_ca)}, {"host": "127.0.0.1"}):
        arn = make_secret(redis_server.secret(name, password, **bad))
        with wire(monkeypatch) as sent:
            result = LocalDriver(rotator().handle).rotate(arn)
        assert result.failed_step is Step.SET
        assert isinstance(result.error, TargetError)
        assert result.error.failure is Failure.TLS, result.error
        assert "CERTIFICATE_VERIFY_FAILED" in str(result.error)
        assert sent == []
        assert redis_server.logs_in(name, password)


def test_ssl_false_against_the_tls_only_port_fails_clearly(
    sm: Any, make_secret: MakeSecret, redis_server: RedisServer, make_user: Any
) -> None:
    name, password = make_user()
    arn = make_secret(redis_server.secret(name, password, ssl=False))
    result = LocalDriver(rotator().handle).rotate(arn)
    assert result.failed_step is Step.SET
    assert isinstance(result.error, TargetError)
    assert result.error.failure is Failure.NETWORK
    assert '"ssl": false' in str(result.error)
    assert redis_server.logs_in(name, password)


# ------------------------------------------------------------------ no plaintext, no leak


class PlaintextRotator(RedisRotator):
    """Written wrong on purpose: sends the password itself (`>password`)."""

    def set_own_password(self, own: Any, account: Any, password: str) -> None:
        own.client.execute_command("ACL", "SETUSER", account.username, "resetpass", ">" + password)


@pytest.mark.parametrize("strategy", ["single-user", "dual-password", "single-user-via-admin"])
def test_the_new_password_reaches_the_server_only_as_its_hash(
    sm: Any,
    make_secret: MakeSecret,
    redis_server: RedisServer,
    make_user: Any,
    admin_arn: str,
    monkeypatch: pytest.MonkeyPatch,
    strategy: str,
) -> None:
    """On the wire: every ACL SETUSER carries the hash, never the password; the password is
    sent only in AUTH (testSecret's login, which the capture sees: it would see a plaintext
    SETUSER too, as the rotator written wrong shows)."""
    name, password = make_user(ORDINARY if strategy == "single-user-via-admin" else SELF_SERVICE)
    arn = make_secret(redis_server.secret(name, password, masterarn=admin_arn))
    with wire(monkeypatch) as sent:
        rotate(arn, rotator(ROTATION_STRATEGY=strategy))
    new = value(sm, arn)["password"]
    assert setuser_holds(sent, hex_of(new))
    assert not setuser_holds(sent, new)
    assert any(b"AUTH" in chunk and new.encode() in chunk for chunk in sent)
    if strategy == "single-user":
        with wire(monkeypatch) as sent:
            rotate(arn, PlaintextRotator(env={}))
        assert setuser_holds(sent, value(sm, arn)["password"])  # the check can fail


def test_the_servers_own_logs_cannot_tell_a_hash_from_a_password(
    redis_server: RedisServer, make_user: Any
) -> None:
    """Why the test above reads the wire: Redis 7 shows ACL SETUSER's and AUTH's arguments
    as `(redacted)` in SLOWLOG (and MONITOR), so the server never records either form."""
    name, _ = make_user()
    old = redis_server.execute("CONFIG", "GET", "slowlog-log-slower-than")[1]
    redis_server.execute("CONFIG", "SET", "slowlog-log-slower-than", "0")
    try:
        redis_server.execute("SLOWLOG", "RESET")
        redis_server.execute("ACL", "SETUSER", name, "resetpass", ">plain-text-password-1")
        logged = redis_server.execute("SLOWLOG", "GET", "128")
    finally:
        redis_server.execute("CONFIG", "SET", "slowlog-log-slower-than", old)
    [setuser] = [entry[3] for entry in logged if entry[3][:2] == ["ACL", "SETUSER"]]
    assert setuser[2:] == ["(redacted)"] * 3


def test_no_password_or_hash_in_any_log_record_message_or_trace_at_debug(
    sm: Any,
    make_secret: MakeSecret,
    redis_server: RedisServer,
    make_user: Any,
    admin_arn: str,
    pki: Pki,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A rotation via the admin, a refused one (wrong password), one over a wrong CA and one a
    user may not do, all at DEBUG. Records are scrubbed of registered secrets as they are
    made, so the marker must not appear either: nothing had to be scrubbed."""
    for wire_logger in ("botocore", "boto3", "urllib3"):
        caplog.set_level(logging.INFO, logger=wire_logger)
    for name in ("smrotate", "redis", None):
        caplog.set_level(logging.DEBUG, logger=name)
    user, password = make_user(ORDINARY)
    arn = make_secret(redis_server.secret(user, password, masterarn=admin_arn))
    rotate(arn, rotator(**VIA_ADMIN))
    new = value(sm, arn)["password"]
    results: list[RotationResult] = []
    for secret in (
        redis_server.secret(user, "wrong-" + new),  # refused
        redis_server.secret(user, new, sslrootcert=str(pki.other_ca)),  # a CA that did not sign
        redis_server.secret(user, new),  # single-user: it may not run ACL SETUSER
    ):
        results.append(LocalDriver(rotator().handle).rotate(make_secret(secret)))
    assert all(result.failed_step is Step.SET for result in results)
    texts = [caplog.text, *(record.getMessage() for record in caplog.records)]
    for result in results:
        assert result.error is not None
        texts += [str(result.error), *traceback.format_exception(result.error)]
    assert any("the admin set the user's password" in text for text in texts)  # it did log
    assert acl_hash(new) == "#" + hex_of(new)  # the hashes scanned for are the rotator's
    for known in (password, new, "wrong-" + new, redis_server.admin_password):
        assert not [text for text in texts if known in text or hex_of(known) in text]
    assert not [text for text in texts if redaction.MARKER in text]


def test_error_messages_never_quote_a_password_hash(redis_server: RedisServer) -> None:
    """The server quotes a SETUSER rule it refuses (`Error in ACL SETUSER modifier '#...'`);
    the rotator's message keeps the words and drops the hash."""
    account = rotator().parse_secret(redis_server.secret("u", "p"), "value")
    digest = hex_of("a password")
    refused = redis.ResponseError(f"Error in ACL SETUSER modifier '#{digest}': Syntax error")
    message = str(error(account, refused, "running ACL SETUSER"))
    assert digest not in message
    assert "modifier '#<hash>': Syntax error" in message


def test_the_kits_login_check_agrees_with_redis_py(
    redis_server: RedisServer, redis_user: MakeRedisUser, make_user: Any
) -> None:
    """`RedisServer.accepts` (RESP on a plain TLS socket, what the kit asks) and `logs_in`
    (redis-py) give the same answers; `accepts` also answers for a user that may not run ACL
    WHOAMI, where AUTH alone decides."""
    user = redis_user()
    for name, password, expected in (
        (user.name, user.password, True),
        (user.name, user.password + "x", False),
        ("no_such_user", user.password, False),
        ("default", "", False),  # the default user is off
    ):
        assert redis_server.accepts(name, password) is expected, name
        assert redis_server.logs_in(name, password) is expected, name
    name, password = make_user("~app:* -@all +get")
    assert redis_server.accepts(name, password)
    assert not redis_server.accepts(name, password + "x")
