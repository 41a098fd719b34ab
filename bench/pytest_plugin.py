"""What smrotate's pytest plugin adds to `pytest --co -q` in an unrelated project.

Makes a small project in a temporary folder (its own `framework` and `rotators` packages and
one test) and runs `python -m pytest --co -q` there, in this venv: N times as pytest starts by
default (it loads the plugin from smrotate's pytest11 entry point) and N times with
`-p no:smrotate`, in pairs in random order, after one warm-up run of each. Prints the median of
each and the difference (wall and CPU time, and the fastest run of each, the least disturbed by
other load), the modules that only the runs with the plugin load, and the time of importing
the plugin once pytest is loaded. The goal is at most 30 ms added to the median; the exit
status is 1 above it. On a busy machine the runs spread by tens of ms, more than the plugin
costs: measure on a quiet one, with more runs, or with --valgrind.

With --valgrind, also counts the instructions of one run each under valgrind's callgrind: a
count that other load does not disturb, converted to ms at the runs' median CPU rate.

Usage: python bench/pytest_plugin.py [--runs N] [--python PATH] [--valgrind]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

GOAL_MS = 30.0
PLUGIN = "smrotate.testing.pytest_plugin"
PROJECT = {
    "pytest.ini": "[pytest]\n",
    "framework/__init__.py": 'NAME = "their framework"\n',
    "framework/testing.py": "def helper() -> int:\n    return 1\n",
    "rotators/__init__.py": "ROTATORS: list[str] = []\n",
    "test_theirs.py": (
        "import framework.testing\nimport rotators\n\n\n"
        "def test_theirs() -> None:\n    assert framework.testing.helper() == 1\n"
    ),
    # The modules loaded by the end of the run (the last hook), for the comparison.
    "conftest.py": (
        "import json, sys\n\n\ndef pytest_unconfigure(config):\n"
        '    (config.rootpath / "modules.json").write_text(json.dumps(sorted(sys.modules)))\n'
    ),
}
IMPORT_PLUGIN = f"""\
import time
import pytest
started = time.perf_counter()
import {PLUGIN}
print(time.perf_counter() - started)
"""


def environment() -> dict[str, str]:
    """This environment without pytest's own settings, which would change what loads."""
    env = dict(os.environ)
    for name in (
        "PYTEST_ADDOPTS",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
        "PYTEST_PLUGINS",
        "PYTHONPATH",
    ):
        env.pop(name, None)
    return env


@dataclass(frozen=True)
class Run:
    """One `python -m pytest --co -q`: wall and CPU seconds, and the modules it loaded."""

    wall: float
    cpu: float
    modules: frozenset[str]


def collect(python: str, project: Path, *options: str) -> Run:
    command = [python, "-m", "pytest", "--co", "-q", *options]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=project, env=environment(), capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0 or "1 test collected" not in done.stdout:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    modules: list[str] = json.loads((project / "modules.json").read_text())
    return Run(wall, cpu, frozenset(modules))


def instructions(python: str, project: Path, *options: str) -> int:
    """Instructions that one `python -m pytest --co -q` executes, counted by valgrind."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    command += [python, "-m", "pytest", "--co", "-q", *options]
    done = subprocess.run(
        command, cwd=project, env=environment(), capture_output=True, text=True, check=False
    )
    counted = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or not counted:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return int(counted.group(1))


def figures(runs: list[Run]) -> tuple[float, float, float]:
    """Median wall time, fastest wall time, median CPU time, in ms."""
    walls = [run.wall * 1000 for run in runs]
    cpus = [run.cpu * 1000 for run in runs]
    return statistics.median(walls), min(walls), statistics.median(cpus)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--python", default=sys.executable, help="the venv's interpreter")
    parser.add_argument(
        "--valgrind",
        action="store_true",
        help="also count the instructions of one run each under valgrind (no noise from load)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        for name, text in PROJECT.items():
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            (project / name).write_text(text)
        # One warm-up run each (bytecode, page cache); their modules for the comparison.
        with_modules = collect(args.python, project).modules
        without_modules = collect(args.python, project, "-p", "no:smrotate").modules
        if PLUGIN not in with_modules:
            raise SystemExit(f"{PLUGIN} did not load: is smrotate installed in {args.python}?")
        with_plugin: list[Run] = []
        without_plugin: list[Run] = []
        for _ in range(args.runs):  # one run of each, in random order: no side goes first
            for plugin in random.sample([True, False], 2):
                if plugin:
                    with_plugin.append(collect(args.python, project))
                else:
                    without_plugin.append(collect(args.python, project, "-p", "no:smrotate"))
        counts = None
        if args.valgrind:
            counts = (
                instructions(args.python, project),
                instructions(args.python, project, "-p", "no:smrotate"),
            )

    imports = []
    for _ in range(args.runs):
        command = [args.python, "-c", IMPORT_PLUGIN]
        done = subprocess.run(
            command, env=environment(), capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"importing {PLUGIN} failed:\n{done.stderr}")
        imports.append(float(done.stdout) * 1000)

    on, off = figures(with_plugin), figures(without_plugin)
    added = tuple(a - b for a, b in zip(on, off, strict=True))
    print(f"pytest --co -q in an unrelated project, {args.runs} runs each, {args.python}")
    print(f"  {'':<34}{'median':>9}{'fastest':>9}{'CPU':>9}  (ms)")
    for label, row in (
        ("with smrotate's plugin (default)", on),
        ("with -p no:smrotate", off),
        ("added by the plugin", added),
    ):
        print(f"  {label:<34}" + "".join(f"{value:9.1f}" for value in row))
    # The standard error of a median is about 1.25 standard deviations over the square root
    # of the count; that of the difference of two medians adds the two in quadrature.
    noise = 1.2533 * math.sqrt(
        sum(
            statistics.variance(run.wall * 1000 for run in runs)
            for runs in (with_plugin, without_plugin)
        )
        / args.runs
    )
    print(f"  goal: at most {GOAL_MS:.0f} ms added to the median")
    print(f"  noise: {noise:.1f} ms, the standard error of the difference of the medians")
    if counts:
        extra = counts[0] - counts[1]
        # In ms at this machine's rate: the runs' median CPU time over their instructions.
        print(
            f"  instructions (valgrind): {counts[0]:,} with, {counts[1]:,} without, "
            f"{extra:+,} ({extra / counts[1]:+.2%}), about {extra * off[2] / counts[1]:.1f} ms"
        )
    print(f"  importing {PLUGIN} once pytest is loaded: {statistics.median(imports):.2f} ms")
    added_modules = sorted(with_modules - without_modules)
    print(f"  modules only the runs with the plugin load ({len(added_modules)}):")
    for name in added_modules:
        print(f"    {name}")
    return 0 if added[0] <= GOAL_MS else 1


if __name__ == "__main__":
    sys.exit(main())
