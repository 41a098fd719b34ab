"""The suite's own hygiene: a process left running from a run's temporary folder (a server a
fixture failed to stop) is killed when the run ends, and the run fails naming it."""

from __future__ import annotations

import inspect
import sys
import textwrap
import time
from pathlib import Path

import conftest
import pytest

# The leaked process is Python itself, not a shell: what a shell does with `-c` (fork, or exec
# its last command under a new command line) differs between shells and versions.
# It names the run's temporary folder, or the folder in LEAK_IN (a server's, outside it).
LEAKY_TEST = f"""
import os
import subprocess
import time
from pathlib import Path


def test_starts_a_process_and_never_stops_it(tmp_path):
    folder = os.environ.get("LEAK_IN") or str(tmp_path)
    process = subprocess.Popen(
        [{sys.executable!r}, "-c", "import time; time.sleep(120)", "server", folder]
    )
    command = Path(f"/proc/{{process.pid}}/cmdline")
    deadline = time.monotonic() + 60
    while folder.encode() not in command.read_bytes():  # exec'd, not only forked
        assert time.monotonic() < deadline, "the leaked process never started"
        time.sleep(0.01)
    (tmp_path.parent.parent / "leaked.pid").write_text(str(process.pid))
"""


def _running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie waiting for its parent (init) to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize("where", ["the run's temporary folder", "a server's own folder"])
def test_a_process_left_running_is_killed_and_fails_the_run(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory, where: str
) -> None:
    hooks = "\n\n".join(
        inspect.getsource(function)
        for function in (conftest._leftover_servers, conftest.pytest_sessionfinish)
    )
    # A PostgreSQL run by root lives outside the run's folder; its fixture lists its folder.
    outside = str(tmp_path_factory.mktemp("server-folder")) if "server" in where else ""
    header = "import contextlib, os, signal\nfrom pathlib import Path\nimport pytest\n\n"
    header += f"SERVER_FOLDERS = {[outside] if outside else []!r}\n\n"
    pytester.makeconftest(header + textwrap.dedent(hooks))
    pytester.makepyfile(test_leaky=LEAKY_TEST)
    env = {"LEAK_IN": outside} if outside else {}
    with pytest.MonkeyPatch.context() as patch:
        for key, item in env.items():
            patch.setenv(key, item)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    leaked = int((pytester.path / "leaked.pid").read_text())
    name = Path(sys.executable).name
    result.stdout.fnmatch_lines([f"*servers left running, now killed: {name} ({leaked})*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    deadline = time.monotonic() + 30  # SIGKILL is sent, not awaited: give it time to land
    while _running(leaked) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(leaked)  # killed, not only reported
    assert not conftest._leftover_servers(outside or str(pytester.path))
