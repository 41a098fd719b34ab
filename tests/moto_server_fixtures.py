"""moto server on loopback, started by the suite, for tests that talk HTTP like the CLI.

- `moto_server`: one ThreadedMotoServer per run on a free port of 127.0.0.1 (session scope).
- `moto_url`: that server, reset before the test (`POST /moto-api/reset`), with the CLI's
  environment isolated from the developer's (fake credentials, no config files, no instance
  metadata); label uniqueness is asserted after the test.
- `moto_lambda`: a function in moto's Lambda whose invocations run `SharedTargetRotator` in
  this process (moto's simple Lambda backend, patched), so that RotateSecret drives the four
  steps as Secrets Manager does. A failing step raises, so moto stops, and the RotateSecret
  request fails with HTTP 500 (on AWS it would succeed and the function fail later).

moto reports every version's CreatedDate as "now" in ListSecretVersionIds; the server here
reports the date moto stored when it made the version, as AWS does
(`smrotate.testing.aws.versions_with_real_dates`).
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import boto3
import pytest
from memory import MemoryRotator, MemoryTarget
from moto.server import ThreadedMotoServer

from smrotate import observability, redaction
from smrotate.accounts import Account
from smrotate.errors import Failure, TargetError
from smrotate.operator.cli import main
from smrotate.store import SecretStore, reset_clients
from smrotate.testing.aws import (
    REGION,
    backend,
    create_rotation_function,
    free_port,
    label_problems,
    rotate_secret_runs,
    versions_with_real_dates,
)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """The suite's moto server; its URL."""
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # moto's tracebacks are expected
    with versions_with_real_dates():
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


def _post(url: str, body: dict[str, Any] | None = None) -> None:
    data = json.dumps(body or {}).encode()
    request = urllib.request.Request(url, data=data, method="POST")  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        response.read()


@pytest.fixture
def cli_globals(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI switches rotator logs to stderr and sets their level, once per process as it
    should; in the test process both are put back after each test."""
    monkeypatch.setattr(observability, "_stream_name", observability._stream_name)
    level = observability.logger.log_level
    yield
    observability.logger.setLevel(level)


@pytest.fixture
def moto_url(
    moto_server: str, cli_globals: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[str]:
    """The moto server, reset; the environment set for a CLI run against it."""
    _post(f"{moto_server}/moto-api/reset")
    reset_clients()
    redaction.forget_all()
    empty = tmp_path / "aws-config-empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_REGION", "AWS_SESSION_TOKEN", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"):
        monkeypatch.delenv(name, raising=False)
    yield moto_server
    problems = label_problems()
    assert not problems, problems
    reset_clients()


@dataclass
class CliRun:
    """One `smrotate` run in this process: exit status, standard output and error."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """Standard output parsed as JSON."""
        return json.loads(self.out)


Cli = Callable[..., CliRun]


def secret_values() -> set[str]:
    """Every secret string and every password stored in moto right now (4+ characters)."""
    found: set[str] = set()
    for secret in backend().secrets.values():
        for version in secret.versions.values():
            text = version.get("secret_string")
            if not text:
                continue
            found.add(text)
            try:
                value = json.loads(text)
            except ValueError:
                continue
            if isinstance(value, dict) and isinstance(value.get("password"), str):
                found.add(value["password"])
    return {v for v in found if len(v) >= 4}


@pytest.fixture
def cli(moto_url: str, capsys: pytest.CaptureFixture[str]) -> Iterator[Cli]:
    """Run `smrotate ARGS --endpoint-url <moto>` in this process; after the test, no secret value
    (any version's string or password, plus the target's passwords) appears in any output."""
    runs: list[CliRun] = []
    seen: set[str] = set()

    def run(*args: str, endpoint: bool = True) -> CliRun:
        capsys.readouterr()
        argv = [*args, "--endpoint-url", moto_url] if endpoint else list(args)
        code = main(argv)
        out, err = capsys.readouterr()
        runs.append(CliRun(code, out, err))
        seen.update(secret_values())
        if SharedTargetRotator.target_in_use is not None:
            seen.update(SharedTargetRotator.target_in_use.passwords.values())
        return runs[-1]

    yield run
    seen.update(secret_values())
    for index, done in enumerate(runs):
        leaked = [v for v in seen if v in done.out or v in done.err]
        assert not leaked, f"run {index} printed a secret value"


def sm_client(url: str) -> Any:
    """A plain boto3 client on the moto server (the tests' own, not the CLI's)."""
    return boto3.client("secretsmanager", endpoint_url=url, region_name=REGION)


# ---------------------------------------------------------------- moto's Lambda


class SharedTargetRotator(MemoryRotator):
    """A MemoryRotator on the target of the running test, buildable with store= and env= only,
    as the CLI builds rotators (`--rotator moto_server_fixtures:SharedTargetRotator`)."""

    target_in_use: ClassVar[MemoryTarget | None] = None
    failing_check: ClassVar[bool] = False

    def __init__(self, **kwargs: Any) -> None:
        if SharedTargetRotator.target_in_use is None:
            raise RuntimeError("no MemoryTarget in use: the test must use moto_lambda or target")
        super().__init__(SharedTargetRotator.target_in_use, **kwargs)

    def check_login(self, session: Any, account: Account) -> None:
        """testSecret's extra proof; fails while `failing_check` is set (a missing grant)."""
        if SharedTargetRotator.failing_check:
            raise TargetError(
                f"user {account.username!r} may not read the application's tables",
                Failure.PRIVILEGE,
            )


@pytest.fixture
def shared_target() -> Iterator[MemoryTarget]:
    """The MemoryTarget that every SharedTargetRotator of this test uses."""
    target = MemoryTarget(passwords={"app": "app-password-1"})
    SharedTargetRotator.target_in_use = target
    SharedTargetRotator.failing_check = False
    yield target
    SharedTargetRotator.target_in_use = None
    SharedTargetRotator.failing_check = False


@dataclass
class MotoLambda:
    """The rotation function in moto's Lambda, and what its invocations did."""

    function_arn: str
    target: MemoryTarget
    invoked: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


@pytest.fixture
def moto_lambda(
    moto_url: str, shared_target: MemoryTarget, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MotoLambda]:
    """A rotation function on the moto server whose invocations run SharedTargetRotator here."""
    handler_store = SecretStore(sm_client(moto_url), cache=False)
    rotator = SharedTargetRotator(store=handler_store, env={})
    state: list[MotoLambda] = []

    def handler(event: dict[str, Any]) -> None:
        state[0].invoked.append(event["Step"])
        try:
            rotator.handle(event)
        except Exception:
            state[0].failures.append(event["Step"])
            raise  # moto stops the rotation, as Secrets Manager does after a failed step

    monkeypatch.setattr(observability, "_stream_name", "stderr")  # the function's log lines
    with rotate_secret_runs(handler):
        function = create_rotation_function(endpoint_url=moto_url, region_name=REGION)
        state.append(MotoLambda(function, shared_target))
        yield state[0]
