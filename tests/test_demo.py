"""`smrotate demo` end to end, in a fresh process: it proves every rotation, cleans up after
itself, runs as root and as an ordinary user, and prints no secret value even with the
redaction safety net switched off."""

from __future__ import annotations

import json
import os
import pwd
import site
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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
code = demo.main([])
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
    folder: Path, account: pwd.struct_passwd | None = None, python: str = sys.executable
) -> tuple[str, list[str]]:
    script, record = folder / "run_demo.py", folder / "registered.json"
    script.write_text(RUN_DEMO)
    script.chmod(0o644)
    done = subprocess.run(
        [python, str(script), str(record)],
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
    folder = output.split("private cluster in ")[1].split(",", maxsplit=1)[0]
    assert not Path(folder).exists()  # cleaned up


@pytest.mark.slow
@pytest.mark.postgres
def test_demo_as_the_current_user(shared_dir: Path) -> None:
    output, registered = run_demo(shared_dir, None)
    expected = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    check(output, registered, expected if os.geteuid() == 0 else "the current user")


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
