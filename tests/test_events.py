"""The event parser: both step spellings, ARN or name, and clear errors before any API call."""

from __future__ import annotations

from typing import Any

import pytest

from smrotate.errors import EventError
from smrotate.events import Step, is_version_id, parse_event, secret_id_problem

TOKEN = "1b2c3d4e-0000-4000-8000-00000000abcd"
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbCdEf"


def event(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"Step": "createSecret", "SecretId": ARN, "ClientRequestToken": TOKEN}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not _DROP}


_DROP = object()


@pytest.mark.parametrize(
    ("name", "step"),
    [
        ("createSecret", Step.CREATE),
        ("setSecret", Step.SET),
        ("testSecret", Step.TEST),
        ("finishSecret", Step.FINISH),
        ("create_secret", Step.CREATE),
        ("set_secret", Step.SET),
        ("test_secret", Step.TEST),
        ("finish_secret", Step.FINISH),
    ],
)
def test_both_step_spellings(name: str, step: Step) -> None:
    assert parse_event(event(Step=name)).step is step


@pytest.mark.parametrize(
    "secret_id",
    [
        ARN,
        "app/db",
        "prod/db+x=y.z@w_v-1",
        "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x-AbCdEf",
    ],
)
def test_secret_id_as_arn_or_name(secret_id: str) -> None:
    assert parse_event(event(SecretId=secret_id)).secret_id == secret_id


def test_rotation_token_kept_but_not_shown() -> None:
    parsed = parse_event(event(RotationToken="rt-very-secret-value-0123456789abcdef01"))
    assert parsed.rotation_token == "rt-very-secret-value-0123456789abcdef01"
    assert "rt-very-secret-value-0123456789abcdef01" not in repr(parsed)
    assert parsed.as_dict()["RotationToken"] == "rt-very-secret-value-0123456789abcdef01"


def test_extra_keys_are_ignored() -> None:
    assert parse_event(event(Extra="x")).token == TOKEN


MALFORMED: list[tuple[str, object, str]] = [
    ("not a dict", "createSecret", "JSON object"),
    ("a list", [1, 2], "JSON object"),
    ("None", None, "JSON object"),
    ("no Step", event(Step=_DROP), "'Step'"),
    ("Step None", event(Step=None), "'Step'"),
    ("Step int", event(Step=1), "'Step' must be a string"),
    ("unknown Step", event(Step="deleteSecret"), "deleteSecret"),
    ("Step wrong case", event(Step="CreateSecret"), "expected one of"),
    ("Step with control char", event(Step="create\x00Secret"), "(not printable)"),
    ("no SecretId", event(SecretId=_DROP), "'SecretId'"),
    ("SecretId empty", event(SecretId=""), "'SecretId'"),
    ("SecretId list", event(SecretId=["a"]), "must be a string"),
    ("SecretId with newline", event(SecretId="app/db\n"), "not a valid secret name"),
    ("SecretId with space", event(SecretId="app db"), "not a valid secret name"),
    ("SecretId too long", event(SecretId="a" * 2049), "longer than 2048"),
    ("SecretId bad ARN", event(SecretId="arn:aws:s3:::bucket"), "not a valid Secrets Manager"),
    (
        "SecretId ARN of another service",
        event(SecretId="arn:aws:secretsmanager:us-east-1:12:secret:x"),
        "ARN",
    ),
    ("no token", event(ClientRequestToken=_DROP), "'ClientRequestToken'"),
    ("token short", event(ClientRequestToken="abc"), "32 to 64"),
    ("token long", event(ClientRequestToken="a" * 65), "32 to 64"),
    ("token with space", event(ClientRequestToken=TOKEN[:-1] + " "), "32 to 64"),
    ("token with control char", event(ClientRequestToken=TOKEN[:-1] + "\x07"), "32 to 64"),
    ("token dict", event(ClientRequestToken={"a": 1}), "must be a string"),
    ("RotationToken int", event(RotationToken=5), "'RotationToken' must be a string"),
    ("RotationToken with newline", event(RotationToken="abc\ndef"), "RotationToken"),
    ("RotationToken empty", event(RotationToken=""), "RotationToken"),
    ("RotationToken oversized", event(RotationToken="x" * 257), "RotationToken"),
    ("RotationToken short", event(RotationToken="x" * 35), "36 to 256"),
    ("RotationToken with slash", event(RotationToken="x" * 36 + "/"), "36 to 256"),
]


@pytest.mark.parametrize(("case", "raw", "message"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_events_get_clear_errors(case: str, raw: object, message: str) -> None:
    with pytest.raises(EventError) as info:
        parse_event(raw)
    assert message in str(info.value)


def test_errors_never_quote_the_rotation_token() -> None:
    secret = "rt-" + "s" * 40 + "\n"
    with pytest.raises(EventError) as info:
        parse_event(event(RotationToken=secret))
    assert "s" * 40 not in str(info.value)


def test_the_field_rules_are_the_ones_the_cli_checks_with() -> None:
    assert secret_id_problem(ARN) is None
    assert secret_id_problem("app/db") is None
    assert "without spaces" in str(secret_id_problem("app db"))
    assert "ARN" in str(secret_id_problem("arn:aws:s3:::bucket"))
    assert "longer than 2048" in str(secret_id_problem("a" * 2049))
    assert is_version_id(TOKEN)
    assert not is_version_id(TOKEN[:-1] + " ")
    assert not is_version_id("abc")
