"""`smrotate template ENGINE DIR`: a SAM project for one engine, written from the install."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sam_templates import ENGINES as TEMPLATES
from sam_templates import rotators

from smrotate.operator.cli import main
from smrotate.operator.sam_project import ENGINES, REUSED, SamEngine

ROOT = Path(__file__).resolve().parent.parent


def test_every_template_is_offered() -> None:
    """sam_project's table names each template, its rotator (and those it imports) and its
    lock, as the tests know them (tests/sam_templates.py); `smrotate template` offers exactly
    those engines."""
    assert {
        engine: SamEngine(spec.template, rotators(engine)[0], f"{spec.lock}.txt")
        for engine, spec in TEMPLATES.items()
    } == ENGINES
    assert {engine: rotators(engine)[1:] for engine in TEMPLATES if rotators(engine)[1:]} == REUSED


@pytest.mark.parametrize("engine", ENGINES)
def test_the_project_is_the_checkouts_layout_for_one_engine(
    engine: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template, _, lock = ENGINES[engine]
    folder = tmp_path / "project"
    assert main(["template", engine, str(folder)]) == 0
    assert f"sam build --template templates/{template}" in capsys.readouterr().out
    assert (folder / "templates" / template).read_bytes() == (
        ROOT / "templates" / template
    ).read_bytes()
    assert sorted(p.name for p in (folder / "templates").glob("*.yaml")) == [template]
    assert [p.name for p in (folder / "locks").iterdir()] == [lock]
    assert (folder / "locks" / lock).read_bytes() == (ROOT / "locks" / lock).read_bytes()
    assert (folder / "framework" / "rotator.py").read_bytes() == (
        ROOT / "framework/rotator.py"
    ).read_bytes()
    assert {p.name for p in (folder / "rotators").iterdir()} == {"__init__.py", *rotators(engine)}
    assert (folder / "templates" / "samconfig.toml").is_file()  # sam build --config-env works
    assert not (folder / "framework" / "operator").exists()
    assert not (folder / "framework" / "testing").exists()
    function = TEMPLATES[engine].function
    for target in (f"build-{function}", f"build-{function}Arm64"):
        dry = subprocess.run(
            ["make", "--dry-run", "--no-print-directory", target, "ARTIFACTS_DIR=/nonexistent",
             "SAM_INSTALLER=uv", "SAM_BYTECODE_PYTHONS=none"],
            cwd=folder, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert dry.returncode == 0, dry.stderr
        assert f'--require-hashes -r "{folder}/locks/{lock}"' in dry.stdout
        for name in rotators(engine):
            assert f'cp -R "{folder}/rotators/{name}"' in dry.stdout
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert main(["template", engine, str(folder)]) == 0  # idempotent
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


def test_a_folder_holding_other_files_is_refused_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("my own file")
    assert main(["template", "postgresql", str(folder)]) != 0
    assert "already holds files that are not this project's (notes.txt" in capsys.readouterr().err
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]


def test_an_unknown_engine_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["template", "oracle", str(tmp_path / "x")]) == 2
    assert "invalid choice: 'oracle'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
