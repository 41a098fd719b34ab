"""`smrotate template ENGINE DIR`: a SAM project for one engine, written from the install."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from smrotate.operator.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("engine", "lock"), [("postgresql", "postgres"), ("mysql", "mysql")])
def test_the_project_is_the_checkouts_layout_for_one_engine(
    engine: str, lock: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "project"
    assert main(["template", engine, str(folder)]) == 0
    assert f"sam build --template templates/{engine}.yaml" in capsys.readouterr().out
    template = (folder / "templates" / f"{engine}.yaml").read_text()
    assert template == (ROOT / "templates" / f"{engine}.yaml").read_text()
    assert (folder / "locks" / f"{lock}.txt").read_bytes() == (
        ROOT / "locks" / f"{lock}.txt"
    ).read_bytes()
    assert (folder / "framework" / "rotator.py").read_bytes() == (
        ROOT / "framework/rotator.py"
    ).read_bytes()
    assert {p.name for p in (folder / "rotators").iterdir()} == {"__init__.py", engine}
    assert (folder / "templates" / "samconfig.toml").is_file()  # sam build --config-env works
    assert not (folder / "framework" / "operator").exists()
    assert not (folder / "framework" / "testing").exists()
    target = "build-" + ("PostgreSQL" if engine == "postgresql" else "MySQL") + "RotationFunction"
    dry = subprocess.run(
        ["make", "--dry-run", "--no-print-directory", target, "ARTIFACTS_DIR=/nonexistent"],
        cwd=folder, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert f'--require-hashes -r "{folder}/locks/{lock}.txt"' in dry.stdout
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
