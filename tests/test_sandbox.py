"""`smrotate sandbox` end to end, and the console blocks of docs/sandbox.md and docs/cli.md run
as written against it.

The sandbox runs as a subprocess; each `$ ` command of a document's console blocks runs as its
own process (through the shell, exactly as written) with the environment the sandbox wrote to
its ready file, standard output and standard error together. Each output line must equal the
document's once both are normalized (`normalized`: version ids, the random end of secret ARNs,
every number, which holds times, durations and ports, and runs of spaces are blanked);
`$ echo $?` is answered with the previous command's exit status, so the statuses are compared
the same way. An HTML comment on the line before a block's fence changes how it runs:

- `<!-- not run: REASON -->`: the block is not run (REASON says why; it must be given);
- `<!-- sandbox: --rotator redis -->`: it runs against a second sandbox, `--rotator redis`;
- `<!-- sandbox: unset NAME... -->`: its commands run without these environment variables.

Every console block is run or marked; blocks that start the sandbox itself are not run. Then the
servers are checked: on the private PostgreSQL, every secret's AWSCURRENT logs in and every
version holding another password (the first one included) is refused; no output held a password
or a secret string; SIGINT ends each sandbox with status 0, and no server process, temporary
folder or ready file is left.

`python tests/test_sandbox.py docs/cli.md` (or docs/sandbox.md) captures a document again: it
starts the sandboxes, runs the blocks the same way and writes their real output in place (not
if the document changed meanwhile).
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
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import boto3
import psycopg
import pytest
from shared import SERVER_FOLDERS

from smrotate.operator.sandbox import environment_lines
from smrotate.testing.aws import free_port
from smrotate.testing.patience import scaled
from smrotate.testing.redis import RedisServer

ROOT = Path(__file__).resolve().parent.parent
SANDBOX_DOC = ROOT / "docs" / "sandbox.md"
CLI_DOC = ROOT / "docs" / "cli.md"
BIN = Path(sys.executable).parent
STATUS_COMMAND = "echo $?"
DEFAULT_ROTATOR = "postgresql"

_FENCE = re.compile(r"^```(\w*)\s*$")
_MARKER = re.compile(r"^<!-- (.*) -->$")
_NOT_RUN = re.compile(r"^not run: (\S.*)$")
_ROTATOR = re.compile(r"^sandbox: --rotator (\w+)$")
_UNSET = re.compile(r"^sandbox: unset((?: [A-Z_][A-Z0-9_]*)+)$")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_ARN_END = re.compile(r"(:secret:[\w/+=.@-]+?)-[A-Za-z0-9]{6}\b")
_NUMBER = re.compile(r"\d+")
_SPACES = re.compile(r"  +")  # table columns widen with the numbers in them
# moto dates versions at the time of the request, which may be just after the CLI's clock.
_SECONDS_AWAY = re.compile(r"\((?:in 0 s|0 s ago)\)")


@dataclass
class Step:
    """One `$ ` command of a console block, and the output lines the document shows for it."""

    line: int  # in the document, 1-based
    command: str
    output: list[str] = field(default_factory=list)
    rotator: str = DEFAULT_ROTATOR  # the sandbox it runs against
    unset: tuple[str, ...] = ()  # environment variables removed for it


@dataclass
class Block:
    """A console block: where it starts, why it is not run (None: it is), and its commands."""

    line: int
    not_run: str | None
    steps: list[Step]


def console_blocks(text: str, doc: str = "doc") -> list[Block]:
    """Every console block of `text`, with the marker on the line before its fence applied
    (see the module docstring; an unknown marker is an error)."""
    blocks: list[Block] = []
    lines = text.splitlines()
    block: Block | None = None
    fenced = False
    for number, line in enumerate(lines, start=1):
        fence = _FENCE.match(line)
        if fence and not fenced:
            fenced = True
            if fence.group(1) == "console":
                marker = _MARKER.match(lines[number - 2]) if number > 1 else None
                block = Block(number, None, [])
                options = _options(marker.group(1), f"{doc}:{number - 1}") if marker else {}
                block.not_run = options.pop("not_run", None)
                blocks.append(block)
        elif fence:
            fenced, block = False, None
        elif block is not None and line.startswith("$ "):
            block.steps.append(Step(number, line[2:], **options))
        elif block is not None:
            assert block.steps, f"{doc}:{number}: a console block starts with output"
            block.steps[-1].output.append(line)
    return blocks


def _options(marker: str, where: str) -> dict[str, Any]:
    """What a block's marker says: not_run (the reason), rotator, or unset."""
    if found := _NOT_RUN.match(marker):
        return {"not_run": found.group(1)}
    if found := _ROTATOR.match(marker):
        return {"rotator": found.group(1)}
    if found := _UNSET.match(marker):
        return {"unset": tuple(found.group(1).split())}
    raise AssertionError(f"{where}: unknown marker before a console block: <!-- {marker} -->")


def walkthrough(text: str, doc: str = "doc") -> list[Step]:
    """The `$ ` commands to run, in order, with their output lines: every console block's
    except those marked `not run` and those that start the sandbox itself."""
    return [
        step
        for block in console_blocks(text, doc)
        if block.not_run is None and not block.steps[0].command.startswith("smrotate sandbox")
        for step in block.steps
    ]


def normalized(line: str) -> str:
    """`line` with what varies from run to run blanked: version ids, ARN ends, numbers, runs of
    spaces, and whether a time seconds away is past or future."""
    line = _UUID.sub("VERSION", line)
    line = _ARN_END.sub(r"\1-XXXXXX", line)
    line = _SECONDS_AWAY.sub("(0 s away)", _NUMBER.sub("0", line))
    return _SPACES.sub(" ", line.rstrip())


def test_the_walkthrough_parser() -> None:
    """Commands, their outputs, the markers and the sandbox's own block as the tests read them."""
    text = (
        "```console\n$ smrotate sandbox\nready\n```\n"
        "```sh\n$ not run\n```\n"
        "```console\n$ smrotate status app/db\nsecret  app/db\n$ echo $?\n0\n```\n"
        "<!-- not run: it needs AWS -->\n```console\n$ smrotate status real\n```\n"
        "<!-- sandbox: --rotator redis -->\n```console\n$ smrotate run app/cache\n```\n"
        "<!-- sandbox: unset AWS_A AWS_B -->\n```console\n$ smrotate fleet\n```\n"
    )
    steps = walkthrough(text)
    assert [(s.command, s.output, s.rotator, s.unset) for s in steps] == [
        ("smrotate status app/db", ["secret  app/db"], "postgresql", ()),
        ("echo $?", ["0"], "postgresql", ()),
        ("smrotate run app/cache", [], "redis", ()),
        ("smrotate fleet", [], "postgresql", ("AWS_A", "AWS_B")),
    ]
    assert [block.not_run for block in console_blocks(text)] == [
        None,
        None,
        "it needs AWS",
        None,
        None,
    ]
    for marker in ("not run:", "not run:  ", "sandbox: unset", "sandbox: --rotator", "run me"):
        with pytest.raises(AssertionError, match="unknown marker"):
            console_blocks(f"<!-- {marker} -->\n```console\n$ x\n```\n")
    assert normalized("v 0d6eddde-f833-46de-9c29-102e2c710be6 at 14:48:50 (2 s ago)") == (
        "v VERSION at 0:0:0 (0 s away)"
    )
    assert normalized("created 14:48:50 UTC (in 0 s)") == "created 0:0:0 UTC (0 s away)"
    assert normalized("next rotation  (in 30 d)  ") == "next rotation (in 0 d)"
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
    """A running `smrotate sandbox` process and what it told us."""

    rotator: str
    process: subprocess.Popen[str]
    env: dict[str, str]
    endpoint: str
    folder: str  # the private server's folder
    ready_file: Path
    ready_text: str
    out_file: Path
    err_file: Path
    interrupted: bool = False

    def client(self) -> Any:
        """A boto3 Secrets Manager client on its moto server (the test's own)."""
        return boto3.client(
            "secretsmanager",
            endpoint_url=self.endpoint,
            region_name=self.env["AWS_REGION"],
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
        )

    def interrupt(self) -> None:
        """SIGINT, once (a second one while it stops could interrupt its cleanup)."""
        self.process.send_signal(signal.SIGINT)
        self.interrupted = True

    def stop(self) -> None:
        """SIGINT (unless sent already): it must exit 0, saying it stops its servers, and leave
        nothing behind."""
        if not self.interrupted:
            self.interrupt()
        assert self.process.wait(timeout=scaled(30)) == 0, self.err_file.read_text()
        assert "[cleanup] stopping moto server and " in self.out_file.read_text()
        assert_nothing_left(self)


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


@contextmanager
def started_sandboxes(folder: Path, *rotators: str) -> Iterator[dict[str, Sandbox]]:
    """`smrotate sandbox --rotator R --port P --ready-file F` for each rotator, in fresh processes
    started together, once all are ready. A test stops them with Sandbox.stop, which checks what
    is left; any still running at the end gets SIGINT (SIGKILL if it does not stop)."""
    started: list[tuple[str, subprocess.Popen[str], int, Path, Path, Path]] = []
    sandboxes: dict[str, Sandbox] = {}
    try:
        for rotator in rotators:
            port = free_port()
            ready_file = folder / f"sandbox-{rotator}.env"
            out_file, err_file = (
                folder / f"sandbox-{rotator}.out",
                folder / f"sandbox-{rotator}.err",
            )
            with out_file.open("w") as out, err_file.open("w") as err:
                process = subprocess.Popen(
                    [
                        str(BIN / "smrotate"),
                        "sandbox",
                        "--rotator",
                        rotator,
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
            started.append((rotator, process, port, ready_file, out_file, err_file))
        empty = folder / "aws-config-empty"
        empty.write_text("")
        for rotator, process, port, ready_file, out_file, err_file in started:
            wait_ready(process, ready_file, scaled(30))
            unset, exported = read_environment(ready_file)
            assert exported["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port}"
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
            sandboxes[rotator] = Sandbox(
                rotator,
                process,
                env,
                exported["AWS_ENDPOINT_URL"],
                found.group(1),
                ready_file,
                ready_file.read_text(),
                out_file,
                err_file,
            )
        yield sandboxes
    finally:  # a failed test: SIGINT still lets each sandbox remove its folders
        interrupted = {id(sandbox.process) for sandbox in sandboxes.values() if sandbox.interrupted}
        for _, process, *_ in started:
            if process.poll() is None and id(process) not in interrupted:
                process.send_signal(signal.SIGINT)
        for _, process, *_ in started:
            try:
                process.wait(timeout=scaled(30))
            except subprocess.TimeoutExpired:
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


def run_steps(steps: list[Step], sandboxes: dict[str, Sandbox]) -> list[tuple[Step, str]]:
    """Each step run against its sandbox, in order for each sandbox (the sandboxes' sequences
    run side by side): the step and its output, in the order of `steps` (`$ echo $?` answered
    with the status of the sandbox's previous command)."""

    def run_in_order(rotator: str) -> dict[int, str]:
        outputs: dict[int, str] = {}
        status = 0
        for index, step in enumerate(steps):
            if step.rotator != rotator:
                continue
            if step.command == STATUS_COMMAND:
                outputs[index] = f"{status}\n"
            else:
                env = {k: v for k, v in sandboxes[rotator].env.items() if k not in step.unset}
                status, outputs[index] = run(step.command, env)
        return outputs

    with ThreadPoolExecutor(max_workers=len(sandboxes)) as pool:
        by_index = {
            index: out
            for outputs in pool.map(run_in_order, sandboxes)
            for index, out in outputs.items()
        }
    return [(step, by_index[index]) for index, step in enumerate(steps)]


def assert_as_documented(doc: Path, done: list[tuple[Step, str]]) -> None:
    """Every step printed what `doc` shows, once normalized."""
    name = doc.relative_to(ROOT)
    for step, out in done:
        actual = [normalized(line) for line in out.splitlines()]
        expected = [normalized(line) for line in step.output]
        assert actual == expected, f"{name}:{step.line}: $ {step.command}\n{out}"


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


def every_version(sandbox: Sandbox) -> dict[str, dict[str, tuple[list[str], dict[str, Any]]]]:
    """Secret name -> its versions (`versions`), for every secret of the sandbox."""
    sm = sandbox.client()
    names = [item["Name"] for item in sm.list_secrets()["SecretList"]]
    return {name: versions(sm, name) for name in names}


def secret_texts(found: dict[str, dict[str, tuple[list[str], dict[str, Any]]]]) -> set[str]:
    """Every password and secret string of `found` (what no output may hold)."""
    return {
        text
        for by_version in found.values()
        for _, value in by_version.values()
        for text in (value["password"], json.dumps(value))
    }


def assert_passwords_on_postgresql(
    found: dict[str, dict[str, tuple[list[str], dict[str, Any]]]], stuck: tuple[str, ...] = ()
) -> None:
    """For every secret, the private PostgreSQL accepts AWSCURRENT's password (AWSPENDING's for
    the secrets named in `stuck`, whose rotation stopped after setSecret) and refuses every
    version holding another one."""
    for name, by_version in found.items():
        label = "AWSPENDING" if name in stuck else "AWSCURRENT"
        working = [value for labels, value in by_version.values() if label in labels]
        assert len(working) == 1, f"{name}: no single version holds {label}"
        assert logs_in(working[0]), f"{name}: {label} does not log in"
        others = [v for _, v in by_version.values() if v["password"] != working[0]["password"]]
        assert not any(logs_in(value) for value in others), f"{name}: another password logs in"


def redis_accepts(value: dict[str, Any]) -> bool:
    """True when the private Redis accepts the secret value's login: the oracle of
    smrotate.testing.redis (AUTH on verified TLS, no redis-py), which needs only the address
    and the CA."""
    server = SimpleNamespace(host=value["host"], port=value["port"], ca_file=value["sslrootcert"])
    return RedisServer.accepts(cast(RedisServer, server), value["username"], value["password"])


def assert_passwords_on_redis(
    found: dict[str, dict[str, tuple[list[str], dict[str, Any]]]],
) -> None:
    """After docs/cli.md's dual-password run: app/cache's AWSCURRENT and AWSPREVIOUS log in and
    its first password is refused; the admin's AWSCURRENT logs in."""
    labelled = {label: v for labels, v in found["app/cache"].values() for label in labels}
    assert redis_accepts(labelled["AWSCURRENT"]), "app/cache: AWSCURRENT does not log in"
    assert redis_accepts(labelled["AWSPREVIOUS"]), "app/cache: AWSPREVIOUS does not log in"
    kept = {labelled["AWSCURRENT"]["password"], labelled["AWSPREVIOUS"]["password"]}
    others = [v for _, v in found["app/cache"].values() if v["password"] not in kept]
    assert others, "app/cache: the first version is gone"
    assert not any(redis_accepts(value) for value in others), "app/cache: an old password works"
    admin = [v for labels, v in found["app/cache-admin"].values() if "AWSCURRENT" in labels]
    assert redis_accepts(admin[0])


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """The PostgreSQL sandbox, ready (see started_sandboxes)."""
    with started_sandboxes(tmp_path, DEFAULT_ROTATOR) as sandboxes:
        yield sandboxes[DEFAULT_ROTATOR]


@pytest.mark.slow  # 10 to 20 s: started early, so that they do not end the run
def test_the_documented_walkthrough_runs_against_the_sandbox(sandbox: Sandbox) -> None:
    """Every `$ ` command of docs/sandbox.md, in order, prints what the document shows; the
    password really changed on the server; nothing leaked; SIGINT leaves nothing behind."""
    sm = sandbox.client()
    first = json.loads(sm.get_secret_value(SecretId="app/db")["SecretString"])
    assert logs_in(first)

    steps = walkthrough(SANDBOX_DOC.read_text(), "docs/sandbox.md")
    assert len(steps) >= 10, "the walkthrough lost its commands"
    done = run_steps(steps, {DEFAULT_ROTATOR: sandbox})
    assert_as_documented(SANDBOX_DOC, done)

    found = every_version(sandbox)
    assert_passwords_on_postgresql(found, stuck=("app/stuck",))
    app_db = found["app/db"].values()
    current = next(value for labels, value in app_db if "AWSCURRENT" in labels)
    assert current["password"] != first["password"]
    assert first in [value for labels, value in app_db if "AWSCURRENT" not in labels]

    sandbox.stop()
    outputs = [out for _, out in done]
    logs = [sandbox.out_file.read_text(), sandbox.err_file.read_text(), sandbox.ready_text]
    secrets = secret_texts(found)
    for text in [*outputs, *logs]:
        assert not any(secret in text for secret in secrets), "a secret value was printed"


@pytest.mark.slow  # 10 to 20 s: started early, so that they do not end the run
def test_every_console_block_of_the_cli_guide_runs_against_the_sandbox(tmp_path: Path) -> None:
    """docs/cli.md: every console block is run or marked with a reason; each run block prints
    what the document shows, against the PostgreSQL sandbox's fixtures (or the Redis sandbox
    where marked); the private PostgreSQL agrees with every secret; nothing leaked; SIGINT
    leaves nothing behind."""
    text = CLI_DOC.read_text()
    blocks = console_blocks(text, "docs/cli.md")
    assert len(blocks) >= 20, "docs/cli.md lost its console blocks"
    steps = walkthrough(text, "docs/cli.md")
    rotators = sorted({step.rotator for step in steps}, key=lambda name: name != DEFAULT_ROTATOR)
    assert rotators == [DEFAULT_ROTATOR, "redis"]
    with started_sandboxes(tmp_path, *rotators) as sandboxes:
        done = run_steps(steps, sandboxes)
        assert_as_documented(CLI_DOC, done)
        found = {rotator: every_version(sandbox) for rotator, sandbox in sandboxes.items()}
        assert_passwords_on_postgresql(found[DEFAULT_ROTATOR])
        assert_passwords_on_redis(found["redis"])
        for sandbox in sandboxes.values():  # both stop at once
            sandbox.interrupt()
        for sandbox in sandboxes.values():
            sandbox.stop()
    secrets = set().union(*(secret_texts(by_secret) for by_secret in found.values()))
    logs = [
        file.read_text()
        for sandbox in sandboxes.values()
        for file in (sandbox.out_file, sandbox.err_file)
    ]
    for out in [*(out for _, out in done), *logs]:
        assert not any(secret in out for secret in secrets), "a secret value was printed"


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


def capture(doc: Path) -> None:
    """Run `doc`'s blocks as the tests do and write each command's real output in its place."""
    text = doc.read_text()
    lines = text.splitlines()
    steps = walkthrough(text, str(doc))
    rotators = sorted({step.rotator for step in steps}, key=lambda name: name != DEFAULT_ROTATOR)
    with tempfile.TemporaryDirectory() as folder, started_sandboxes(Path(folder), *rotators) as sb:
        done = run_steps(steps, sb)
        for sandbox in sb.values():
            sandbox.interrupt()
        for sandbox in sb.values():
            sandbox.stop()
    for step, out in reversed(done):  # from the end, so that earlier line numbers hold
        lines[step.line : step.line + len(step.output)] = out.splitlines()
    if doc.read_text() != text:  # others may edit the document meanwhile: never undo their work
        raise SystemExit(f"{doc} changed while its blocks ran; nothing written, run again")
    doc.write_text("".join(f"{line}\n" for line in lines))


if __name__ == "__main__":
    for path in sys.argv[1:]:
        capture(Path(path).resolve())
