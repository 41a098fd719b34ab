"""Helpers shared by the engine tests: events, API call counting, value-less pending versions."""

from __future__ import annotations

import json
import secrets
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from conftest import moto_backend

from smrotate.operator.driver import LocalDriver, RotationResult
from smrotate.rotator import Rotator
from smrotate.store import default_client


def new_token() -> str:
    return str(uuid.uuid4())


def step_event(step: str, secret_id: str, token: str, **extra: str) -> dict[str, str]:
    return {"Step": step, "SecretId": secret_id, "ClientRequestToken": token, **extra}


def set_labels(name: str, version: str, stages: list[str]) -> None:
    """Put labels on a version by hand (an operator's UpdateSecretVersionStage, condensed)."""
    secret = moto_backend().secrets[name]
    for other in secret.versions.values():
        for stage in stages:
            if stage in other["version_stages"]:
                other["version_stages"].remove(stage)
    secret.versions[version]["version_stages"] = list(stages)
    if "AWSCURRENT" in stages:
        secret.default_version_id = version


@contextmanager
def count_calls() -> Iterator[Counter[str]]:
    """Count the API operations the process-wide client sends while the block runs."""
    calls: Counter[str] = Counter()

    def hook(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    client = default_client()
    client.meta.events.register("before-call.secrets-manager", hook)
    try:
        yield calls
    finally:
        client.meta.events.unregister("before-call.secrets-manager", hook)


def new_password() -> str:
    """A password with letters, digits and punctuation (none excluded by the rotators)."""
    return "Pw1!" + secrets.token_urlsafe(18)


def rotate(arn: str, rotator: Rotator) -> RotationResult:
    """One full rotation through the local driver; fails the test if it does not finish."""
    result = LocalDriver(rotator.handle).rotate(arn)
    assert result.ok, f"{result.failed_step}: {result.error!r}"
    return result


def value(sm: Any, arn: str, label: str = "AWSCURRENT") -> dict[str, Any]:
    """The secret's value at `label`."""
    return dict(json.loads(sm.get_secret_value(SecretId=arn, VersionStage=label)["SecretString"]))
