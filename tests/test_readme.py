"""The README's examples run as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from conftest import MakeSecret

from framework.driver import LocalDriver

README = Path(__file__).resolve().parent.parent / "README.md"


def example(marker: str) -> str:
    """The first python block after `<!-- example: marker -->`."""
    text = README.read_text()
    match = re.search(rf"<!-- example: {marker} -->\s*```python\n(.*?)```", text, re.S)
    assert match, f"README has no example {marker!r}"
    return match.group(1)


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
