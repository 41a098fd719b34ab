"""The suite's own hygiene: a process left running from a run's temporary folder (a server a
fixture failed to stop) is killed when the run ends, and the run fails naming it."""

from __future__ import annotations

import inspect
import textwrap

import conftest
import pytest

LEAKY_TEST = """
import subprocess


def test_starts_a_process_and_never_stops_it(tmp_path):
    subprocess.Popen(["sh", "-c", "sleep 120", "server", str(tmp_path)])
"""


def test_a_process_left_running_is_killed_and_fails_the_run(pytester: pytest.Pytester) -> None:
    hooks = "\n\n".join(
        inspect.getsource(function)
        for function in (conftest._leftover_servers, conftest.pytest_sessionfinish)
    )
    header = "import contextlib, os, signal\nfrom pathlib import Path\nimport pytest\n\n"
    pytester.makeconftest(header + textwrap.dedent(hooks))
    pytester.makepyfile(test_leaky=LEAKY_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*servers left running, now killed: sh (*)*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    basetemp = str(pytester.path)
    assert not conftest._leftover_servers(basetemp)  # killed, not only reported
