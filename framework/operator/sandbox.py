"""`smrotate sandbox`: moto server with rotation functions and a private database, until Ctrl-C.

It starts the demo's private server of the engine (`smrotate.operator.demo`'s engines: PostgreSQL
by default, or Redis), moto server on loopback as Secrets Manager (and Lambda and IAM), and two
functions in moto's Lambda whose invocations run the chosen rotator in this process, as
Secrets Manager invokes a rotation function:

- `smrotate-ROTATOR` runs the four steps;
- `smrotate-ROTATOR-stops-after-setsecret` runs createSecret and setSecret, then fails the way a
  function that timed out does: the rotation stops half-way, as in docs/cli.md's stuck rotation.

It creates the application user with a generated password, its secret (`app/db`, or `app/cache`
for Redis, with rotation not yet configured) and the admin secret it names in `masterarn`
(`app/db-admin`, `app/cache-admin`). On PostgreSQL it also creates FIXTURES, the secrets that
docs/cli.md's examples work on, each with a role of its own and in a documented state (a
rotation stuck an hour ago, an overdue one, a never-rotated one, a replicated one). moto's
ListSecretVersionIds answers each version's own creation date there, as AWS does
(`versions_with_real_dates`). Then it prints the shell lines that point the CLI at it
(`unset` of the variables that would send it elsewhere, `export` of the endpoint, region and
moto's fake keys), writes them to `--ready-file` if given, and waits. SIGINT or SIGTERM stops
the servers, removes the temporary folders and the ready file, and exits 0.

No password is printed: the setup lines show fingerprints only (`demo.fingerprint`), and every
line passes through redaction.scrub. The only keys printed are moto's fake `testing` keys.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from smrotate import redaction
from smrotate.operator.demo import (
    DemoEngine,
    DemoSetupError,
    check_needs,
    engine_class,
    fingerprint,
    say,
)

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

HOST = "127.0.0.1"
# What would send the CLI somewhere other than the sandbox: unset by the printed lines.
UNSET = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "SECRETS_MANAGER_ENDPOINT",
)
STOPS_SUFFIX = "-stops-after-setsecret"
STOPPED_STEPS = ("testSecret", "finishSecret")
HOUR, DAY = 3600, 86400
Invoke = Callable[[dict[str, Any]], None]  # what moto's Lambda runs for one step's event
REPLICA_REGIONS = ("eu-west-1", "ap-south-1")


class FunctionTimedOut(RuntimeError):
    """What the stopping function raises for the steps after setSecret."""


@dataclass(frozen=True)
class Target:
    """What the sandbox creates for one rotator: the application user and the secrets' names.

    `create_user(engine, username, password)` makes the user on the engine's running server;
    `rights` says what the user may do, in the setup line."""

    engine: str  # a name of smrotate.operator.demo.ENGINES
    secret: str
    admin_secret: str
    username: str
    rights: str
    create_user: Callable[[Any, str, str], None]
    fixtures: bool = False  # FIXTURES too (their values are PostgreSQL secrets)


def _postgres_user(engine: Any, username: str, password: str) -> None:
    engine.server.create_role(username, password)


def _redis_user(engine: Any, username: str, password: str) -> None:
    from smrotate.operator.demo_redis import RULES

    engine.server.create_user(username, password, RULES[username])


TARGETS = {
    "postgresql": Target(
        "postgresql",
        "app/db",
        "app/db-admin",
        "app",
        "a role that may log in",
        _postgres_user,
        fixtures=True,
    ),
    "redis": Target(
        "redis",
        "app/cache",
        "app/cache-admin",
        "app",
        "a user that may set its own password with ACL SETUSER",
        _redis_user,
    ),
}


def function_names(rotator: str) -> tuple[str, str]:
    """The two functions' names: the one that rotates, the one that stops after setSecret."""
    return f"smrotate-{rotator}", f"smrotate-{rotator}{STOPS_SUFFIX}"


def environment_lines(endpoint: str, region: str) -> list[str]:
    """The shell lines that point the CLI (and boto3, the aws CLI) at the sandbox."""
    from smrotate.testing.aws import FAKE_ENV

    exports = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": FAKE_ENV["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": FAKE_ENV["AWS_SECRET_ACCESS_KEY"],
    }
    assignments = " ".join(f"{name}={shlex.quote(value)}" for name, value in exports.items())
    return [f"unset {' '.join(UNSET)}", f"export {assignments}"]


def check_port(port: int) -> None:
    """DemoSetupError unless `port` can be bound on HOST now (moto's thread would wait forever
    for a port it cannot bind)."""
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except (OSError, OverflowError) as exc:  # in use, or not a port number
            raise DemoSetupError(f"--port {port}: {HOST}:{port} cannot be bound ({exc})") from None


def start_moto(stack: ExitStack, port: int | None) -> str:
    """moto server on loopback (`port`, else a free one), stopped when `stack` closes; its URL."""
    from smrotate.testing.aws import serve_moto

    # A failing step is an expected HTTP 500: no traceback (it could hold values) on stderr.
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    return serve_moto(stack, port)


def lambda_handler(rotator: str, env: Mapping[str, str]) -> Invoke:
    """What moto's Lambda runs for each step: the rotator's handler, except for the steps after
    setSecret when the secret's function is the stopping one. One line per invocation."""
    from smrotate.operator.loading import rotator_class
    from smrotate.testing.aws import backend

    handler = rotator_class(rotator).handler(env=dict(env))

    def invoke(event: dict[str, Any]) -> None:
        function = str(backend().secrets[event["SecretId"]].rotation_lambda_arn).rsplit(":", 1)[-1]
        step, secret = event["Step"], event["SecretId"]
        if function.endswith(STOPS_SUFFIX) and step in STOPPED_STEPS:
            say(f"[lambda] {function} {step} {secret}: not run (the function stops here)")
            raise FunctionTimedOut(f"{function} timed out before {step}")
        try:
            handler(event, None)
        except Exception as exc:
            say(f"[lambda] {function} {step} {secret}: FAILED: {type(exc).__name__}")
            raise
        say(f"[lambda] {function} {step} {secret}: ok")

    return invoke


def create_secret(
    target: Target,
    engine: DemoEngine,
    sm: SecretsManagerClient,
    name: str,
    username: str,
    *,
    masterarn: str,
    **create: Any,
) -> list[str]:
    """The user `username` with a generated password (registered with redaction) and its secret
    `name`, naming `masterarn`; `create` goes to CreateSecret. The value's keys are returned
    (never the value: it holds the password)."""
    from smrotate.passwords import PasswordPolicy, generate_password

    server = engine.server  # type: ignore[attr-defined]  # every engine's running server
    password = generate_password(PasswordPolicy())
    redaction.register(password)
    target.create_user(engine, username, password)
    value = server.secret(username, password, masterarn=masterarn)
    sm.create_secret(Name=name, SecretString=json.dumps(value), **create)
    say(f"[setup] user {username} {fingerprint(password)}: {target.rights}")
    return list(value)


def create_secrets(target: Target, engine: DemoEngine, sm: SecretsManagerClient) -> str:
    """The application user with a generated password, its secret and the admin secret; the
    admin secret's ARN."""
    server = engine.server  # type: ignore[attr-defined]  # every engine's running server
    admin = json.dumps(server.admin_secret())
    admin_arn = sm.create_secret(Name=target.admin_secret, SecretString=admin)["ARN"]
    value = create_secret(target, engine, sm, target.secret, target.username, masterarn=admin_arn)
    say(f"        secret {target.secret}: {', '.join(value)}; rotation not configured yet")
    say(f"        admin secret {target.admin_secret} (its masterarn)")
    return str(admin_arn)


def backdate(name: str, seconds: int) -> None:
    """Every date moto holds for secret `name` (creation, last change, last and next rotation,
    each version's creation) moved `seconds` back, as if all of it had happened then."""
    from smrotate.testing.aws import backend

    secret = backend().secrets[name]
    for attribute in ("created_date", "last_changed_date", "last_rotation_date"):
        if getattr(secret, attribute) is not None:
            setattr(secret, attribute, getattr(secret, attribute) - seconds)
    if secret.next_rotation_date is not None:
        secret.next_rotation_date -= seconds
    for version in secret.versions.values():
        version["createdate"] -= seconds


@dataclass(frozen=True)
class Fixture:
    """A secret the PostgreSQL sandbox creates at start for docs/cli.md, with a role of its own:
    `make(sm, function_arn, invoke)` puts it in its state, which `state` says in a setup line."""

    secret: str
    username: str
    state: str
    make: Callable[[SecretsManagerClient, str, Invoke], None]
    create: Mapping[str, Any] = field(default_factory=dict)  # more CreateSecret parameters


def _unconfigured(sm: SecretsManagerClient, function: str, invoke: Invoke) -> None:
    """Nothing more: rotation not configured."""


def _stuck(sm: SecretsManagerClient, function: str, invoke: Invoke) -> None:
    """Rotation on; what RotateSecret does before invoking the function (a version holding
    AWSPENDING and no value), createSecret and setSecret run by the function (the role now has
    the pending password), then nothing more, as when the function timed out; an hour ago."""
    import uuid

    from smrotate.testing.aws import add_valueless_pending, enable_rotation

    name = "app/stuck"
    token = str(uuid.uuid4())
    enable_rotation(name, function_arn=function, days=30)
    add_valueless_pending(name, token)
    for step in ("createSecret", "setSecret"):
        invoke({"Step": step, "SecretId": name, "ClientRequestToken": token})
    backdate(name, HOUR)


def _overdue(sm: SecretsManagerClient, function: str, invoke: Invoke) -> None:
    """A real rotation every 30 days (RotateSecret, the four steps), then moved 45 days back:
    the rotation window closed 15 days ago."""
    sm.rotate_secret(
        SecretId="app/late",
        RotationLambdaARN=function,
        RotationRules={"AutomaticallyAfterDays": 30},
    )
    backdate("app/late", 45 * DAY)


def _never_rotated(sm: SecretsManagerClient, function: str, invoke: Invoke) -> None:
    """Rotation on (every 30 days), never run: as after `rotate --no-immediately` on AWS."""
    from smrotate.testing.aws import enable_rotation

    enable_rotation("app/new", function_arn=function, days=30)


FIXTURES = (
    Fixture("app/orders", "orders", "rotation not configured yet", _unconfigured),
    Fixture(
        "app/stuck",
        "stuck",
        "rotation on; an hour ago its function ran createSecret and setSecret, then timed out",
        _stuck,
    ),
    Fixture("app/late", "late", "rotated every 30 days, last 45 days ago: overdue", _overdue),
    Fixture("app/new", "new", "rotation on every 30 days, never rotated", _never_rotated),
    Fixture(
        "app/shared",
        "shared",
        f"replicated to {' and '.join(REPLICA_REGIONS)}; rotation not configured",
        _unconfigured,
        {"AddReplicaRegions": [{"Region": region} for region in REPLICA_REGIONS]},
    ),
)


def create_fixtures(
    target: Target,
    engine: DemoEngine,
    sm: SecretsManagerClient,
    *,
    admin_arn: str,
    function: str,
    invoke: Invoke,
) -> None:
    """FIXTURES, each with its own user, in its state (`function` is the one that rotates)."""
    for fixture in FIXTURES:
        create_secret(
            target,
            engine,
            sm,
            fixture.secret,
            fixture.username,
            masterarn=admin_arn,
            **fixture.create,
        )
        fixture.make(sm, function, invoke)
        say(f"        secret {fixture.secret}: {fixture.state}")


@contextmanager
def stop_signals() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM while inside; the previous handlers come back after."""
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    saved = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, previous in saved.items():
            signal.signal(sig, previous)


def write_ready_file(path: Path, lines: list[str]) -> None:
    """`lines` into `path`, whole or not at all (a reader never sees half of it)."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text("".join(f"{line}\n" for line in lines))
    partial.replace(path)


def serve(rotator: str, port: int | None, ready_file: Path | None) -> int:
    """Run the sandbox until SIGINT or SIGTERM; 0 then (see the module docstring)."""
    import boto3

    from smrotate import observability
    from smrotate.testing.aws import (
        REGION,
        create_rotation_function,
        fake_aws_environment,
        rotate_secret_runs,
        versions_with_real_dates,
    )

    target = TARGETS[rotator]
    engine_type = engine_class(target.engine)
    check_needs(engine_type)
    engine = engine_type()
    if port is not None:
        check_port(port)
    with stop_signals() as stop, ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="smrotate-sandbox-"))
        stack.callback(shutil.rmtree, workdir, True)
        try:
            engine.start(stack, workdir)
        except Exception as exc:  # a setup failure, said in one line (it names no secret)
            message = f"{engine.servers} did not start: {type(exc).__name__}: {exc}"
            raise DemoSetupError(message) from exc
        endpoint = start_moto(stack, port)
        say(f"[setup] moto server (Secrets Manager, Lambda, IAM) on {endpoint}")
        stack.enter_context(fake_aws_environment(SECRETS_MANAGER_ENDPOINT=endpoint))
        stream = observability.log_stream()
        stack.callback(observability.set_log_stream, stream)
        observability.log_to_stderr()  # the rotator's log lines; standard output is the sandbox's
        stack.callback(observability.logger.setLevel, observability.logger.log_level)
        observability.logger.setLevel(logging.WARNING)  # its failures; [lambda] lines say the rest
        stack.enter_context(versions_with_real_dates())
        invoke = lambda_handler(rotator, os.environ)
        stack.enter_context(rotate_secret_runs(invoke))
        arns = [
            create_rotation_function(name, endpoint_url=endpoint, region_name=REGION)
            for name in function_names(rotator)
        ]
        for arn in arns:
            say(f"[setup] function {arn}")
        say(f"        {function_names(rotator)[1]}: createSecret and setSecret, then times out")
        sm = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=REGION)
        admin_arn = create_secrets(target, engine, sm)
        if target.fixtures:
            create_fixtures(
                target, engine, sm, admin_arn=admin_arn, function=arns[0], invoke=invoke
            )
        lines = environment_lines(endpoint, REGION)
        say("\nPoint the CLI at the sandbox (fake keys: nothing reaches AWS):")
        for line in lines:
            say(line)
        if ready_file is not None:
            write_ready_file(ready_file, lines)
            stack.callback(ready_file.unlink, True)
        say("\nsmrotate sandbox is ready; Ctrl-C stops it")
        while not stop.wait(0.5):
            pass
        say(
            f"\n[cleanup] stopping moto server and {engine.servers}, removing the temporary folders"
        )
    return 0
