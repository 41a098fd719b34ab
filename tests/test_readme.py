"""The README stays short, and the documentation's custom rotator rotates as written.

`example(name)` returns the Python block marked `<!-- example: name -->` in README.md or
docs/*.md; tests/test_kit_memory.py runs the custom rotator through the conformance kit with it.
tests/test_docs.py checks the links of every document and runs every marked block.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import MakeSecret
from test_docs import example_block

from smrotate.operator.driver import LocalDriver

README = Path(__file__).resolve().parent.parent / "README.md"
MAX_README_LINES = 400


def example(marker: str) -> str:
    """The Python block after `<!-- example: marker -->` in README.md or docs/*.md."""
    return example_block(marker).text


def test_readme_is_short() -> None:
    lines = README.read_text().count("\n")
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; move detail to docs/"


def test_custom_rotator_example_rotates(sm: Any, make_secret: MakeSecret) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(example("custom-rotator"), "README.md", "exec"), namespace)  # noqa: S102
    arn = make_secret({"username": "app", "password": "first-token-0001"})
    result = LocalDriver(namespace["lambda_handler"]).rotate(arn)
    assert result.ok, result.error
    tokens = namespace["service"].tokens
    assert tokens["app"] != "first-token-0001"
    current = sm.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"]
    assert tokens["app"] in current
