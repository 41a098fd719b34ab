"""The built wheel installs one import package, `smrotate`, and harms no other project.

The wheel is built once per run from a copy of the checkout without its build output: an
in-tree build reuses what `build/lib` still holds, so a wheel built in a tree that was once
built before a move ships the old `framework/` and `rotators/` again. It is built with build
isolation, as `make` and `pip install` do: pip installs the setuptools that pyproject.toml asks
for (a venv's own setuptools can be too old for the project's metadata). It is installed with
`--no-deps` into a fresh venv without pip, whose site-packages then holds smrotate alone.

An unrelated project with its own `framework` and `rotators` packages then runs its pytest in
this venv, where smrotate is installed and its pytest11 plugin loads on its own: its test
passes, and collecting it imports none of smrotate's heavy dependencies.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest
from shared import once_per_run

from smrotate.operator.sam_project import ENGINES as SAM_ENGINES

pytestmark = pytest.mark.slow  # 6 to 15 s here, most of it the isolated build

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
NAME: str = PROJECT["project"]["name"]
VERSION: str = PROJECT["project"]["version"]
DIST_INFO = f"{NAME}-{VERSION}.dist-info"
PACKAGE_DIRS: dict[str, str] = PROJECT["tool"]["setuptools"]["package-dir"]
PLUGIN = "smrotate.testing.pytest_plugin"
# What the plugin must never load: smrotate's dependencies, its drivers and its test tools.
HEAVY = frozenset(
    {
        "boto3",
        "botocore",
        "s3transfer",
        "aws_lambda_powertools",
        "moto",
        "psycopg",
        "psycopg_binary",
        "pymysql",
    }
)
# Build output and caches: not part of the source a wheel is built from.
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    "*.pyc",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".aws-sam",
)

UNRELATED_PROJECT = {
    "pytest.ini": "[pytest]\n",
    "framework/__init__.py": 'NAME = "their framework"\n',
    "framework/testing.py": 'def helper() -> str:\n    return "their testing helper"\n',
    "rotators/__init__.py": 'ROTATORS = ["their own rotator"]\n',
    "test_theirs.py": """\
from pathlib import Path

import framework
import framework.testing
import rotators

HERE = Path(__file__).resolve().parent


def test_their_packages_are_theirs() -> None:
    assert framework.NAME == "their framework"
    assert framework.testing.helper() == "their testing helper"
    assert rotators.ROTATORS == ["their own rotator"]
    assert Path(framework.__file__).resolve().parent == HERE / "framework"
    assert Path(rotators.__file__).resolve().parent == HERE / "rotators"
""",
    # The modules loaded by the end of the run (pytest_unconfigure is the last hook, after the
    # plugin's terminal summary).
    "conftest.py": """\
import json
import sys


def pytest_unconfigure(config):
    path = config.rootpath / "modules.json"
    path.write_text(json.dumps(sorted(sys.modules)))
""",
}


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`command` in `cwd` with pytest's own settings from the environment removed."""
    env = dict(os.environ)
    for name in (
        "PYTEST_ADDOPTS",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
        "PYTEST_PLUGINS",
        "PYTHONPATH",
    ):
        env.pop(name, None)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def checked(command: list[str], cwd: Path) -> str:
    """`command`'s output; a failure shows what it printed."""
    done = run(command, cwd)
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="session")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout as it is now, without its build output (copied once)."""
    copy = tmp_path_factory.mktemp("source") / "smrotate"
    shutil.copytree(ROOT, copy, ignore=NOT_SOURCE)
    return copy


@pytest.fixture(scope="session")
def wheel(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from that copy, once per run (shared by the workers)."""
    with once_per_run(tmp_path_factory, "wheel") as (out, build):
        if build:
            command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out)]
            checked([*command, str(source)], source)
    (built,) = out.glob("*.whl")
    return built


@pytest.fixture(scope="session")
def wheel_files(wheel: Path) -> list[str]:
    """The paths that the wheel's RECORD lists."""
    with zipfile.ZipFile(wheel) as archive:
        record = archive.read(f"{DIST_INFO}/RECORD").decode()
    return [line.split(",")[0] for line in record.splitlines() if line]


@pytest.fixture(scope="session")
def fresh_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (without pip) holding only the wheel, installed with --no-deps; made once
    per run (shared by the workers: the tests only read it and run its Python)."""
    with once_per_run(tmp_path_factory, "venv") as (folder, build):
        path = folder / "venv"
        if build:
            venv.EnvBuilder(with_pip=False).create(path)
            python = path / "bin" / "python"
            command = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
            checked([*command, "--no-deps", "--no-index", str(wheel)], path)
    return path


def test_the_wheel_holds_smrotate_and_its_metadata_only(wheel_files: list[str]) -> None:
    top_level = {path.split("/")[0] for path in wheel_files}
    assert top_level == {"smrotate", DIST_INFO}
    assert not [path for path in wheel_files if path.startswith(("framework/", "rotators/"))]
    assert "smrotate/py.typed" in wheel_files
    assert "smrotate/rotators/postgresql/__init__.py" in wheel_files
    assert "smrotate/testing/pytest_plugin.py" in wheel_files
    for template, rotator, lock in SAM_ENGINES.values():  # what `smrotate template` writes
        assert f"smrotate/sam/{template}" in wheel_files
        assert f"smrotate/sam/locks/{lock}" in wheel_files
        assert f"smrotate/rotators/{rotator}/__init__.py" in wheel_files
    assert "smrotate/sam/sam.mk" in wheel_files


def test_the_wheel_holds_every_module_of_the_checkout_and_nothing_else(
    source: Path, wheel_files: list[str]
) -> None:
    """A subpackage missing from pyproject.toml's explicit `packages` is missing here."""
    expected = set()
    data: dict[str, list[str]] = PROJECT["tool"]["setuptools"]["package-data"]
    for package, folder in PACKAGE_DIRS.items():
        found = [*(source / folder).rglob("*.py"), *(source / folder).rglob("py.typed")]
        found += [
            path for pattern in data.get(package, []) for path in (source / folder).glob(pattern)
        ]
        for path in found:
            if "__pycache__" not in path.parts:
                relative = path.relative_to(source / folder).as_posix()
                expected.add(f"{package.replace('.', '/')}/{relative}")
    shipped = {path for path in wheel_files if not path.startswith(f"{DIST_INFO}/")}
    assert sorted(expected - shipped) == [], "in the checkout, not in the wheel"
    assert sorted(shipped - expected) == [], "in the wheel, not in the checkout"


def test_installing_the_wheel_adds_only_smrotate(fresh_venv: Path) -> None:
    python = fresh_venv / "bin" / "python"
    probe = """\
import importlib.metadata, importlib.util, json, sysconfig
import smrotate, smrotate.rotators, smrotate.testing
plugins = importlib.metadata.entry_points(group="pytest11")
print(json.dumps({
    "site": sysconfig.get_path("purelib"),
    "plugins": {entry.name: entry.value for entry in plugins},
    "handler": importlib.util.find_spec("smrotate.rotators.postgresql").origin,
    "plugin": importlib.util.find_spec("smrotate.testing.pytest_plugin").origin,
}))
"""
    found = json.loads(checked([str(python), "-c", probe], fresh_venv))
    site = Path(found["site"])
    assert sorted(entry.name for entry in site.iterdir()) == sorted(["smrotate", DIST_INFO])
    assert found["plugins"] == {"smrotate": PLUGIN}
    assert Path(found["handler"]) == site / "smrotate" / "rotators" / "postgresql" / "__init__.py"
    assert Path(found["plugin"]) == site / "smrotate" / "testing" / "pytest_plugin.py"
    assert (fresh_venv / "bin" / "smrotate").is_file()


def unrelated_project(path: Path) -> Path:
    for name, text in UNRELATED_PROJECT.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return path


def loaded_modules(project: Path) -> set[str]:
    modules: list[str] = json.loads((project / "modules.json").read_text())
    return set(modules)


def test_an_unrelated_project_with_framework_and_rotators_packages_passes(
    tmp_path: Path,
) -> None:
    """`python -m pytest` puts the project first on sys.path, before the plugin loads."""
    project = unrelated_project(tmp_path)
    output = checked([sys.executable, "-m", "pytest", "-q"], project)
    assert "1 passed" in output, output
    assert PLUGIN in loaded_modules(project), (
        "smrotate's plugin did not load: the test proves nothing"
    )


def test_collecting_an_unrelated_project_imports_nothing_heavy(tmp_path: Path) -> None:
    project = unrelated_project(tmp_path)
    output = checked([sys.executable, "-m", "pytest", "--co", "-q"], project)
    assert "1 test collected" in output, output
    modules = loaded_modules(project)
    assert PLUGIN in modules, "smrotate's plugin did not load: the test proves nothing"
    assert sorted(name for name in modules if name.split(".")[0] in HEAVY) == []


def test_the_sdist_holds_what_building_and_testing_need(source: Path, tmp_path: Path) -> None:
    """A pip user can deploy from the sdist: the templates, their make targets, the locks and
    the licence are in it, and so are the tests they need."""
    import tarfile

    uv = Path(sys.executable).with_name("uv")
    checked(
        [str(uv), "build", "--sdist", "--quiet", "--out-dir", str(tmp_path), str(source)], source
    )
    (sdist,) = tmp_path.glob("smrotate-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {
        "LICENSE",
        "Makefile",
        "templates/sam.mk",
        "templates/samconfig.toml",
        "templates/merge_dist_info.py",
        "tests/conftest.py",
        "framework/rotator.py",
        *(f"templates/{template}" for template, _, _ in SAM_ENGINES.values()),
        *(f"locks/{lock}" for _, _, lock in SAM_ENGINES.values()),
        *(f"rotators/{rotator}/__init__.py" for _, rotator, _ in SAM_ENGINES.values()),
    } <= names
    assert not any("__pycache__" in name for name in names)


def test_a_pip_install_writes_a_sam_project_that_builds(fresh_venv: Path, tmp_path: Path) -> None:
    """From the installed wheel alone (no checkout): `write_project` (what `smrotate template`
    runs) writes the checkout's layout, and its make target builds the Lambda package from the
    installed sources, with the lock's versions and that engine's rotator only."""
    project = tmp_path / "project"
    code = "import sys, pathlib; from smrotate.operator.sam_project import write_project; "
    code += "print(len(write_project(sys.argv[1], pathlib.Path(sys.argv[2]))))"
    checked([str(fresh_venv / "bin" / "python"), "-c", code, "postgresql", str(project)], tmp_path)
    assert (project / "templates" / "postgresql.yaml").is_file()
    assert (project / "locks" / "postgres.txt").read_text() == (
        ROOT / "locks/postgres.txt"
    ).read_text()
    assert not (project / "rotators" / "mysql").exists()
    assert not (project / "framework" / "operator").exists()
    out = tmp_path / "package"
    # pip, not uv, which the suite's own builds use (tests/test_sam_build.py).
    env = {"SAM_PYTHON": sys.executable, "SAM_INSTALLER": "pip", "LAMBDA_PYTHON_VERSIONS": "3.11"}
    command = ["make", "--no-print-directory", "build-PostgreSQLRotationFunction"]
    output = checked(
        [*command, f"ARTIFACTS_DIR={out}", *(f"{k}={v}" for k, v in env.items())], project
    )
    assert "on manylinux2014_x86_64, by pip" in output or "manylinux2014_aarch64, by pip" in output
    assert (out / "smrotate" / "rotators" / "postgresql" / "__init__.py").is_file()
    rotators = {p.name for p in (out / "smrotate" / "rotators").iterdir()} - {"__pycache__"}
    assert sorted(rotators) == ["__init__.py", "postgresql"]
    assert list(out.glob("psycopg_binary-*.dist-info"))
