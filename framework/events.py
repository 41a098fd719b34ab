"""The rotation event that Secrets Manager sends to a rotation function, parsed once.

`parse_event` accepts exactly what Secrets Manager sends (`Step`, `SecretId`,
`ClientRequestToken`, optionally `RotationToken`) and rejects anything else with an
`EventError` that names the field and the rule, before any API call. Values are never quoted
back: the RotationToken is sensitive, and a malformed value may hold anything.

The field rules are exported for the CLI, which checks its SECRET_ID and --resume arguments
with them (`secret_id_problem`, `is_version_id`, `VERSION_ID_RULE`): one rule for each field.
Importing this module costs no Powertools import; `parse_event` pays for it on first use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from smrotate.errors import EventError


class Step(StrEnum):
    """The four rotation steps, named as Secrets Manager names them."""

    CREATE = "createSecret"
    SET = "setSecret"
    TEST = "testSecret"
    FINISH = "finishSecret"


STEPS_IN_ORDER = (Step.CREATE, Step.SET, Step.TEST, Step.FINISH)

# Both spellings in use: the Lambda events (createSecret) and one AWS guide page (create_secret).
_STEP_NAMES = {step.value: step for step in Step} | {
    "create_secret": Step.CREATE,
    "set_secret": Step.SET,
    "test_secret": Step.TEST,
    "finish_secret": Step.FINISH,
}

# Secrets Manager's own limits: SecretId up to 2048, ClientRequestToken 32 to 64 characters.
_SECRET_NAME = re.compile(r"[A-Za-z0-9/_+=.@!-]{1,512}")
_SECRET_ARN = re.compile(
    r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@!-]{1,512}"
)
_TOKEN = re.compile(r"[\x21-\x7e]{32,64}")
_ROTATION_TOKEN = re.compile(r"[A-Za-z0-9-]{36,256}")  # PutSecretValue's own rule
MAX_SECRET_ID = 2048
VERSION_ID_RULE = "32 to 64 printable characters without spaces or control characters"


def secret_id_problem(secret_id: str) -> str | None:
    """Why `secret_id` is not a SecretId that Secrets Manager takes (a secret name or ARN), as
    words that follow the value's name ("is longer than 2048 characters"); None when it is.
    Never quotes the value."""
    if len(secret_id) > MAX_SECRET_ID:
        return f"is longer than {MAX_SECRET_ID} characters"
    if secret_id.startswith("arn:"):
        if not _SECRET_ARN.fullmatch(secret_id):
            return "is not a valid Secrets Manager secret ARN"
    elif not _SECRET_NAME.fullmatch(secret_id):
        return (
            "is not a valid secret name: 1 to 512 of letters, digits and /_+=.@!-, without "
            "spaces or control characters"
        )
    return None


def is_version_id(token: str) -> bool:
    """True when `token` is a version id (a ClientRequestToken): VERSION_ID_RULE."""
    return _TOKEN.fullmatch(token) is not None


@dataclass(frozen=True)
class RotationEvent:
    """One validated invocation: the step, the secret, the version token, the RotationToken."""

    step: Step
    secret_id: str
    token: str
    rotation_token: str | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, str]:
        """The event as Secrets Manager would send it (used by the local driver)."""
        event = {
            "Step": self.step.value,
            "SecretId": self.secret_id,
            "ClientRequestToken": self.token,
        }
        if self.rotation_token is not None:
            event["RotationToken"] = self.rotation_token
        return event


def _text(event: Mapping[str, object], key: str, *, required: bool = True) -> str | None:
    if key not in event or event[key] is None:
        if required:
            raise EventError(f"the rotation event has no {key!r}; Secrets Manager always sends it")
        return None
    value = event[key]
    if not isinstance(value, str):
        raise EventError(
            f"the rotation event's {key!r} must be a string, not {type(value).__name__}"
        )
    return value


def parse_event(raw: object) -> RotationEvent:
    """Validate a raw Lambda event; raise EventError naming the first problem found."""
    if not isinstance(raw, Mapping):
        raise EventError(f"the rotation event must be a JSON object, not {type(raw).__name__}")
    from aws_lambda_powertools.utilities.data_classes import SecretsManagerEvent

    event = SecretsManagerEvent(dict(raw))

    step_name = _text(event.raw_event, "Step")
    assert step_name is not None
    step = _STEP_NAMES.get(step_name)
    if step is None:
        shown = step_name if re.fullmatch(r"[A-Za-z_]{1,32}", step_name) else "(not printable)"
        raise EventError(
            f"the rotation event's 'Step' is {shown}; expected one of createSecret, setSecret, "
            "testSecret, finishSecret (or create_secret, set_secret, test_secret, finish_secret)"
        )

    secret_id = _text(event.raw_event, "SecretId")
    assert secret_id is not None
    problem = secret_id_problem(secret_id)
    if problem is not None:
        raise EventError(f"the rotation event's 'SecretId' {problem}")

    token = _text(event.raw_event, "ClientRequestToken")
    assert token is not None
    if not is_version_id(token):
        raise EventError(f"the rotation event's 'ClientRequestToken' must be {VERSION_ID_RULE}")

    rotation_token = _text(event.raw_event, "RotationToken", required=False)
    if rotation_token is not None and not _ROTATION_TOKEN.fullmatch(rotation_token):
        raise EventError(
            "the rotation event's 'RotationToken' must be 36 to 256 letters, digits and hyphens "
            "(PutSecretValue's rule)"
        )
    return RotationEvent(step, event.secret_id, event.client_request_token, rotation_token)
