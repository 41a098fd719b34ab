"""`smrotate sandbox` end to end, and docs/sandbox.md's walkthrough run as written against it.

The sandbox runs as a subprocess; each `$ ` command of the walkthrough's console blocks runs as
its own process (through the shell, exactly as written) with the environment the sandbox wrote
to its ready file, standard output and standard error together. Each output line must equal the
document's once both are normalized (`normalized`: version ids, the random end of secret ARNs,
and every number, which holds times, durations and ports, are blanked); `$ echo $?` is answered
with the previous command's exit status, so the statuses are compared the same way. Then, on the
private PostgreSQL: AWSCURRENT logs in and every other version (the first password included) is
refused; no output held a password or a secret string; SIGINT ends the sandbox with status 0,
and no server process, temporary folder or ready file is left.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import psycopg
import pytest
from shared import SERVER_FOLDERS

from smrotate.operator.sandbox import environment_lines
from smrotate.testing.aws import free_port
from smrotate.testing.patience import scaled

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "sandbox.md"
BIN = Path(sys.executable).parent
STATUS_COMMAND = "echo $?"

_FENCE = re.compile(r"^```(\w*)\s*$")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_ARN_END = re.compile(r"(:secret:[\w/+=.@-]+?)-[A-Za-z0-9]{6}\b")
_NUMBER = re.compile(r"\d+")
# moto dates versions at the time of the request, which may be just after the CLI's clock.
_SECONDS_AWAY = re.compile(r"\((?:in 0 s|0 s ago)\)")


@dataclass
class Step:
    """One `$ ` command of a console block, and the output lines the document shows for it."""

    line: int  # in the document, 1-based
    command: str
    output: list[str] = field(default_factory=list)


def walkthrough(text: str) -> list[Step]:
    """The `$ ` commands of every console block, in order, with their output lines; blocks that
    start the sandbox itself (`$ smrotate sandbox`) are not part of it."""
    steps: list[Step] = []
    block: list[Step] | None = None  # the console block being read
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        fence = _FENCE.match(line)
        if fence and not fenced:
            fenced, block = True, [] if fence.group(1) == "console" else None
        elif fence:
            if block and not block[0].command.startswith("smrotate sandbox"):
                steps.extend(block)
            fenced, block = False, None
        elif block is not None and line.startswith("$ "):
            block.append(Step(number, line[2:]))
        elif block is not None:
            assert block, f"docs/sandbox.md:{number}: a console block starts with output"
            block[-1].output.append(line)
    return steps


def normalized(line: str) -> str:
    """`line` with what varies from run to run blanked: version ids, ARN ends, numbers, and
    whether a time seconds away is past or future."""
    line = _UUID.sub("VERSION", line)
    line = _ARN_END.sub(r"\1-XXXXXX", line)
    return _SECONDS_AWAY.sub("(0 s away)", _NUMBER.sub("0", line)).rstrip()


def test_the_walkthrough_parser() -> None:
    """Commands, their outputs and the sandbox's own block as the tests above read them."""
    text = (
        "```console\n$ smrotate sandbox\nready\n```\n"
        "```sh\n$ not run\n```\n"
        "```console\n$ smrotate status app/db\nsecret  app/db\n$ echo $?\n0\n```\n"
    )
    steps = walkthrough(text)
    assert [(s.command, s.output) for s in steps] == [
        ("smrotate status app/db", ["secret  app/db"]),
        ("echo $?", ["0"]),
    ]
    assert normalized("v 0d6eddde-f833-46de-9c29-102e2c710be6 at 14:48:50 (2 s ago)") == (
        "v VERSION at 0:0:0 (0 s away)"
    )
    assert normalized("created 14:48:50 UTC (in 0 s)") == "created 0:0:0 UTC (0 s away)"
    assert normalized("next rotation (in 30 d)") == "next rotation (in 0 d)"
    assert normalized("arn:aws:secretsmanager:us-east-1:1:secret:app/db-VaoLku,") == (
        "arn:aws:secretsmanager:us-east-0:0:secret:app/db-XXXXXX,"
    )


def test_the_environment_lines_are_shell_quoted_and_hold_only_fake_keys() -> None:
    """What the sandbox prints to export: quoted for the shell, moto's fake keys, and the
    variables that would send the CLI elsewhere unset."""
    lines = environment_lines("http://127.0.0.1:1234/a b;c", "us-east-1")
    assert lines[0] == (
        "unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL_SECRETS_MANAGER "
        "SECRETS_MANAGER_ENDPOINT"
    )
    assert shlex.split(lines[1]) == [
        "export",
        "AWS_ENDPOINT_URL=http://127.0.0.1:1234/a b;c",
        "AWS_REGION=us-east-1",
        "AWS_DEFAULT_REGION=us-east-1",
        "AWS_ACCESS_KEY_ID=testing",
        "AWS_SECRET_ACCESS_KEY=testing",
    ]


def test_a_busy_port_is_refused_before_anything_starts() -> None:
    """`--port` naming a port in use: one error line and exit 1, before any server starts
    (moto's thread would otherwise wait for the port forever)."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [str(BIN / "smrotate"), "sandbox", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=scaled(60),
            check=False,
        )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        f"smrotate: error: smrotate sandbox --rotator postgresql: --port {port}: "
        f"127.0.0.1:{port} cannot be bound ([Errno 98] Address already in use)\n"
    )


# ----------------------------------------------------------------------------- the sandbox


@dataclass
class Sandbox:
    """The running `smrotate sandbox` process and what it told us."""

    process: subprocess.Popen[str]
    env: dict[str, str]
    endpoint: str
    folder: str  # the private server's folder
    ready_file: Path
    ready_text: str
    out_file: Path
    err_file: Path


def read_environment(path: Path) -> tuple[list[str], dict[str, str]]:
    """The names the ready file unsets and the variables it exports."""
    unset: list[str] = []
    exported: dict[str, str] = {}
    for line in path.read_text().splitlines():
        words = shlex.split(line)
        if words[0] == "unset":
            unset += words[1:]
        else:
            assert words[0] == "export", line
            exported.update(word.split("=", 1) for word in words[1:])  # type: ignore[misc]
    return unset, exported


def wait_ready(process: subprocess.Popen[str], ready_file: Path, timeout: float) -> None:
    """Until the ready file exists; fails when the sandbox exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while not ready_file.exists():
        if process.poll() is not None:
            raise AssertionError(f"the sandbox exited with status {process.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError("the sandbox was not ready in time")
        time.sleep(0.05)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """`smrotate sandbox --port P --ready-file F` in a fresh process, ready; killed if a test
    left it running (the test itself stops it with SIGINT and checks what is left)."""
    port = free_port()
    ready_file = tmp_path / "sandbox.env"
    out_file, err_file = tmp_path / "sandbox.out", tmp_path / "sandbox.err"
    with out_file.open("w") as out, err_file.open("w") as err:
        process = subprocess.Popen(
            [
                str(BIN / "smrotate"),
                "sandbox",
                "--port",
                str(port),
                "--ready-file",
                str(ready_file),
            ],
            stdout=out,
            stderr=err,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        wait_ready(process, ready_file, scaled(30))
        unset, exported = read_environment(ready_file)
        assert exported["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port}"
        empty = tmp_path / "aws-config-empty"
        empty.write_text("")
        env = {name: value for name, value in os.environ.items() if name not in unset}
        env.update(
            exported,
            PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            PYTHONUNBUFFERED="1",
            AWS_CONFIG_FILE=str(empty),
            AWS_SHARED_CREDENTIALS_FILE=str(empty),
        )
        found = re.search(r"private (?:cluster|server) in (\S+),", out_file.read_text())
        assert found, "the sandbox did not say where its server runs"
        SERVER_FOLDERS.append(found.group(1))
        yield Sandbox(
            process,
            env,
            exported["AWS_ENDPOINT_URL"],
            found.group(1),
            ready_file,
            ready_file.read_text(),
            out_file,
            err_file,
        )
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def run(command: str, env: dict[str, str]) -> tuple[int, str]:
    """`command` through the shell, as a user types it: its status and its output (standard
    output and standard error together, in the order written)."""
    done = subprocess.run(  # noqa: S602 - the document's own commands, run as written
        command,
        shell=True,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=scaled(60),
        check=False,
    )
    return done.returncode, done.stdout


def logs_in(value: dict[str, Any]) -> bool:
    """True when the private PostgreSQL accepts the secret value's login (verified TLS)."""
    tls = (
        {"sslmode": "verify-full", "sslrootcert": value["sslrootcert"]}
        if "sslrootcert" in value
        else {"sslmode": "disable"}
    )
    try:
        with psycopg.connect(
            host=value["host"],
            port=value["port"],
            user=value["username"],
            password=value["password"],
            dbname=value["dbname"],
            connect_timeout=10,
            **tls,
        ):
            return True
    except psycopg.OperationalError as exc:
        if "password authentication failed" in str(exc):
            return False
        raise


def versions(sm: Any, secret: str) -> dict[str, tuple[list[str], dict[str, Any]]]:
    """Every version of `secret`: its labels and its value (read by the test, never printed)."""
    listed = sm.list_secret_version_ids(SecretId=secret, IncludeDeprecated=True)["Versions"]
    return {
        item["VersionId"]: (
            item.get("VersionStages", []),
            json.loads(
                sm.get_secret_value(SecretId=secret, VersionId=item["VersionId"])["SecretString"]
            ),
        )
        for item in listed
    }


def test_the_documented_walkthrough_runs_against_the_sandbox(sandbox: Sandbox) -> None:
    """Every `$ ` command of docs/sandbox.md, in order, prints what the document shows; the
    password really changed on the server; nothing leaked; SIGINT leaves nothing behind."""
    sm = boto3.client(
        "secretsmanager",
        endpoint_url=sandbox.endpoint,
        region_name=sandbox.env["AWS_REGION"],
        aws_access_key_id=sandbox.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=sandbox.env["AWS_SECRET_ACCESS_KEY"],
    )
    first = json.loads(sm.get_secret_value(SecretId="app/db")["SecretString"])
    assert logs_in(first)

    steps = walkthrough(DOC.read_text())
    assert len(steps) >= 10, "the walkthrough lost its commands"
    outputs: list[str] = []
    status = 0
    for step in steps:
        if step.command == STATUS_COMMAND:
            out = f"{status}\n"
        else:
            status, out = run(step.command, sandbox.env)
            outputs.append(out)
        actual = [normalized(line) for line in out.splitlines()]
        expected = [normalized(line) for line in step.output]
        assert actual == expected, f"docs/sandbox.md:{step.line}: $ {step.command}\n{out}"

    found = versions(sm, "app/db")
    current = [value for labels, value in found.values() if "AWSCURRENT" in labels]
    assert len(current) == 1
    assert logs_in(current[0])
    assert current[0]["password"] != first["password"]
    others = [value for labels, value in found.values() if "AWSCURRENT" not in labels]
    assert first in others
    assert not any(logs_in(value) for value in others), "an old password still logs in"
    admin = json.loads(sm.get_secret_value(SecretId="app/db-admin")["SecretString"])

    sandbox.process.send_signal(signal.SIGINT)
    assert sandbox.process.wait(timeout=scaled(30)) == 0, sandbox.err_file.read_text()
    out, err = sandbox.out_file.read_text(), sandbox.err_file.read_text()
    assert "[cleanup] stopping moto server and PostgreSQL" in out
    secrets = {admin["password"], json.dumps(admin)} | {
        text for _, value in found.values() for text in (value["password"], json.dumps(value))
    }
    for text in [*outputs, out, err, sandbox.ready_text]:
        assert not any(secret in text for secret in secrets), "a secret value was printed"
    assert_nothing_left(sandbox)


def assert_nothing_left(sandbox: Sandbox) -> None:
    """No process runs from the server's folder, which is gone; moto no longer answers; the
    ready file is removed."""
    running = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if sandbox.folder in command:
                running.append(entry.name)
    assert not running, f"processes left running from {sandbox.folder}: {running}"
    assert not Path(sandbox.folder).exists()
    assert not sandbox.ready_file.exists()
    host, port = sandbox.endpoint.removeprefix("http://").split(":")
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect((host, int(port)))
