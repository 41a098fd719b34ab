"""`smrotate demo` end to end, in a fresh process, on PostgreSQL (the default) and on Redis
(`--engine redis`): it proves every rotation, leaves nothing running and cleans up after
itself, prints what docs/demo.md shows, runs as root and as an ordinary user, and prints no
secret value even with the redaction safety net switched off. Without redis-py, the Redis demo
says what to install and starts nothing."""

from __future__ import annotations

import json
import os
import pwd
import re
import site
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smrotate.operator import demo
from smrotate.testing.patience import scaled

ROOT = Path(__file__).resolve().parent.parent

# Records every value registered as secret, and turns scrubbing off: the scan below must see
# exactly what the demo would print without the safety net.
RUN_DEMO = """
import json, sys
from smrotate import redaction
seen = []
register = redaction.register
def record(*values):
    seen.extend(value for value in values if value)
    register(*values)
redaction.register = record
redaction.scrub = lambda text: text
from smrotate.operator import demo
code = demo.main(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    json.dump(seen, out)
sys.exit(code)
"""


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder any user can write (the ordinary user's run writes its record here)."""
    with tempfile.TemporaryDirectory(prefix="smrotate-demo-test-") as folder:
        Path(folder).chmod(0o777)
        yield Path(folder)


def as_user(account: pwd.struct_passwd | None) -> dict[str, Any]:
    """subprocess.run arguments that run a command as `account` (None: the current user)."""
    if account is None:
        return {}
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def ordinary_user_python() -> tuple[pwd.struct_passwd, str] | None:
    """`nobody` and a Python it can run with this checkout and this virtualenv's packages: the
    virtualenv's own interpreter, or the system one of the same version (the virtualenv's base
    may sit in root's home). None when there is no such pair."""
    account = pwd.getpwnam("nobody")
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for python in (sys.executable, f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        try:
            probe = subprocess.run(
                [python, "-c", "import smrotate.operator.demo, psycopg, moto"],
                cwd=ROOT,
                env=demo_env(ROOT),
                capture_output=True,
                check=False,
                **as_user(account),
            )
        except OSError:
            continue
        if probe.returncode == 0:
            return account, python
    return None


def demo_env(home: Path) -> dict[str, str]:
    """The environment for a demo run: this checkout and this virtualenv's packages."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *site.getsitepackages()])}
    env["HOME"] = str(home)
    for name in ("ROTATION_STRATEGY", "SECRETS_MANAGER_ENDPOINT", "AWS_PROFILE"):
        env.pop(name, None)
    return env


def run_demo(
    folder: Path,
    account: pwd.struct_passwd | None = None,
    python: str = sys.executable,
    args: tuple[str, ...] = (),
) -> tuple[str, list[str]]:
    script, record = folder / "run_demo.py", folder / "registered.json"
    script.write_text(RUN_DEMO)
    script.chmod(0o644)
    done = subprocess.run(
        [python, str(script), str(record), *args],
        cwd=folder,
        env=demo_env(folder),
        capture_output=True,
        text=True,
        timeout=scaled(300),
        check=False,
        **as_user(account),
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output, json.loads(record.read_text())


def check(output: str, registered: list[str], account: str) -> None:
    assert f"run as {account}" in output
    for expected in (
        "sslmode=verify-full",
        "AWSPENDING",
        "logs in: yes",
        "logs in: no, password authentication failed",
        "(until the next rotation)",
        "app_clone acts as app (its default role) and reads 3 rows of orders",
        "plaintext passwords of the 5 versions found in it: 0",
        "demo finished",
    ):
        assert expected in output, expected
    assert "UNEXPECTED" not in output
    passwords = {value for value in registered if len(value) >= 8}
    assert len(passwords) >= 6  # the admin's, the first one, four rotations' (and secret strings)
    assert not [value for value in passwords if value in output]
    nothing_left(output.split("private cluster in ")[1].split(",", maxsplit=1)[0])


def nothing_left(folder: str) -> None:
    """The server's folder is gone, and no process names it (the server did not outlive the
    demo)."""
    assert folder.startswith("/")
    assert not Path(folder).exists()
    running = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):
            continue
        if entry.name.isdigit() and folder in command:
            running.append(command)
    assert not running, running


def shape(text: str) -> list[str]:
    """The lines of a demo's output with what changes from run to run replaced: each
    fingerprint and each version id by the order in which it first appears, the server's
    version and binary, ports, folders and times. Powertools' metric lines (JSON) are left out."""
    seen: dict[str, dict[str, str]] = {"#": {}, "v": {}}

    def ordinal(kind: str, found: str) -> str:
        return seen[kind].setdefault(found, f"{kind}{len(seen[kind]) + 1}")

    lines = []
    for raw in text.splitlines():
        if raw.startswith("{"):
            continue
        line = re.sub(r"^\[setup\] (Redis \S+,|\S+ \(PostgreSQL\)).*", r"[setup] \1 SERVER", raw)
        line = re.sub(r"#[0-9a-f]{8}\b", lambda m: ordinal("#", m[0]), line)
        labelled = re.match(r"( +AWS[A-Z+]+ +)([0-9a-f]{8})( .*)", line)
        if labelled:
            line = labelled[1] + ordinal("v", labelled[2]) + labelled[3]
        line = re.sub(r"\S*/smrotate-(pg|redis)-\w+", "FOLDER", line)
        line = re.sub(r"(localhost|127\.0\.0\.1):\d+", r"\1:PORT", line)
        lines.append(re.sub(r"\d+\.\d+ s\b", "T s", line))
    return lines


def documented(marker: str) -> str:
    """The whole output docs/demo.md shows: its plain block that holds `marker`."""
    text = (ROOT / "docs" / "demo.md").read_text()
    blocks = re.findall(r"^```\n(.*?)^```$", text, flags=re.S | re.M)
    [block] = [str(b) for b in blocks if b.startswith("smrotate demo:") and marker in b]
    return block


@pytest.mark.slow
@pytest.mark.postgres
def test_demo_as_the_current_user(shared_dir: Path) -> None:
    output, registered = run_demo(shared_dir, None)
    expected = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    check(output, registered, expected if os.geteuid() == 0 else "the current user")
    if "sslmode=verify-full" in output:  # docs/demo.md shows the run on binaries with TLS
        assert shape(output) == shape(documented("private cluster in"))


@pytest.mark.slow
@pytest.mark.postgres
def test_demo_as_an_ordinary_user(shared_dir: Path) -> None:
    """As root, the same demo under `nobody`: the private server then runs as that user."""
    if os.geteuid() != 0:
        pytest.skip("not root: the test above already ran the demo as an ordinary user")
    found = ordinary_user_python()
    if found is None:
        pytest.skip("user nobody can run no Python with this checkout's packages")
    output, registered = run_demo(shared_dir, *found)
    check(output, registered, "the current user")


PROOF = r"^    (AWS\w+|was AWSPREVIOUS) +\w+ (#[0-9a-f]{8}) +logs in: (\w+)"


def rotations(output: str) -> list[str]:
    """The output of each rotation: from its `== rotation` line to the next blank line."""
    return re.findall(r"^== rotation .*?(?=\n\n)", output, flags=re.S | re.M)


@pytest.mark.slow
@pytest.mark.redis
def test_redis_demo(shared_dir: Path) -> None:
    """single-user twice (the old password refused), dual-password twice (AWSPREVIOUS still
    logs in, the one before it no longer), the admin for an ordinary user; the server holds
    exactly the hashes the proofs name; nothing left running; the output docs/demo.md shows."""
    output, registered = run_demo(shared_dir, args=("--engine", "redis"))
    assert "UNEXPECTED" not in output
    assert "demo finished" in output
    assert "TLS only, with a CA made just now (certificate and host name verified)" in output
    done = rotations(output)
    strategies = [part.split("\n")[0].split()[3] for part in done]
    assert strategies == ["single-user", "single-user", "dual-password", "dual-password",
                          "single-user-via-admin"]  # fmt: skip
    for part, strategy in zip(done, strategies, strict=True):
        kept = strategy == "dual-password"
        found = re.findall(PROOF, part, flags=re.M)
        proof = {what: (print_, verdict) for what, print_, verdict in found}
        assert proof["AWSCURRENT"][1] == "yes", part
        assert proof["AWSPREVIOUS"][1] == ("yes" if kept else "no"), part
        if kept:
            assert proof["was AWSPREVIOUS"][1] == "no", part
        expected = {proof["AWSCURRENT"][0]} | ({proof["AWSPREVIOUS"][0]} if kept else set())
        held = re.search(r"the server holds (?:one password|2 passwords) for \w+: (.*)", part)
        assert held is not None, part
        assert set(held[1].split()) == expected, part
    assert "the rules of app and reader are unchanged" in output
    passwords = {value for value in registered if len(value) >= 8}
    assert len(passwords) >= 8  # the admin's, two users' first ones, five rotations'
    assert not [value for value in passwords if value in output]
    nothing_left(output.split("private server in ")[1].split(",", maxsplit=1)[0])
    assert shape(output) == shape(documented("[setup] Redis"))


def test_redis_demo_without_redis_py_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the demo extra installed: one clear line, exit 1, and nothing started."""
    monkeypatch.setitem(sys.modules, "redis", None)  # `import redis` fails, as when missing
    started: list[demo.DemoEngine] = []

    def run_demo(engine: demo.DemoEngine) -> bool:
        started.append(engine)
        return True

    monkeypatch.setattr(demo, "run_demo", run_demo)
    assert demo.main(["--engine", "redis"]) == 1
    out = capsys.readouterr().out
    assert "smrotate demo --engine redis: needs redis-py" in out
    assert "pip install 'smrotate[redis]'" in out
    assert "dev install" in out
    assert "[setup]" not in out
    assert started == []


def test_demo_refuses_an_unknown_engine(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        demo.main(["--engine", "oracle"])
    assert stopped.value.code == 2
    assert "invalid choice: 'oracle' (choose from" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["demo", "sandbox"])
def test_without_moto_nothing_starts_and_the_extra_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """moto is imported only once the servers run: the check before anything starts names it."""
    from smrotate.operator.cli import main

    monkeypatch.setitem(sys.modules, "moto.server", None)  # `import moto.server` fails
    started: list[demo.DemoEngine] = []

    def run_demo(engine: demo.DemoEngine) -> bool:
        started.append(engine)
        return True

    monkeypatch.setattr(demo, "run_demo", run_demo)
    code = main([command])
    said = "".join(capsys.readouterr())
    assert code != 0
    assert "needs moto's server, which the demo extra installs" in said
    assert "pip install 'smrotate[demo]'" in said
    assert "[setup]" not in said
    assert started == []
