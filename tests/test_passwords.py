"""The password policy: AWS defaults, the variables, impossible policies, both sources."""

from __future__ import annotations

import string
from typing import Any

import pytest

from smrotate import redaction
from smrotate.errors import ConfigurationError
from smrotate.passwords import (
    DEFAULT_EXCLUDED,
    MIN_LENGTH,
    PUNCTUATION,
    PasswordPolicy,
    generate_password,
    password_source_from_env,
)
from smrotate.store import SecretStore


def test_defaults_match_the_aws_templates() -> None:
    policy = PasswordPolicy.from_env({})
    assert policy.length == 32
    assert policy.exclude_characters == "/@\"'\\"
    assert policy.require_each_included_type
    assert not policy.exclude_numbers
    assert not policy.exclude_punctuation
    assert not policy.exclude_uppercase
    assert not policy.exclude_lowercase


@pytest.mark.parametrize("word", ["true", "TRUE", "1", "y", "Yes"])
def test_truthy_spellings(word: str) -> None:
    assert PasswordPolicy.from_env({"EXCLUDE_PUNCTUATION": word}).exclude_punctuation


@pytest.mark.parametrize("word", ["false", "0", "n", "No", ""])
def test_falsy_spellings(word: str) -> None:
    assert not PasswordPolicy.from_env({"EXCLUDE_PUNCTUATION": word}).exclude_punctuation


def test_engine_default_exclusions_and_override() -> None:
    assert PasswordPolicy.from_env({}, default_excluded=":").exclude_characters == ":"
    assert PasswordPolicy.from_env({"EXCLUDE_CHARACTERS": ""}, ":").exclude_characters == ""


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PASSWORD_LENGTH": "abc"}, "must be a whole number"),
        ({"PASSWORD_LENGTH": "4097"}, "PASSWORD_LENGTH must be between 8 and 4096"),
        ({"PASSWORD_LENGTH": "7"}, "PASSWORD_LENGTH must be between 8 and 4096"),
        ({"PASSWORD_LENGTH": "3"}, "PASSWORD_LENGTH must be between 8 and 4096"),
        ({"PASSWORD_LENGTH": "0"}, "PASSWORD_LENGTH must be between 8 and 4096"),
        ({"PASSWORD_LENGTH": "-8"}, "PASSWORD_LENGTH must be between 8 and 4096"),
        (
            {"PASSWORD_LENGTH": "8", "EXCLUDE_PUNCTUATION": "1", "EXCLUDE_UPPERCASE": "1"}
            | {"EXCLUDE_LOWERCASE": "1"},
            "PASSWORD_LENGTH 8 from 10 allowed characters gives 27 bits of randomness, fewer "
            "than 40; raise PASSWORD_LENGTH to at least 13",
        ),
        (
            {"EXCLUDE_CHARACTERS": string.ascii_letters + string.digits[1:] + PUNCTUATION}
            | {"REQUIRE_EACH_INCLUDED_TYPE": "false"},
            "from 1 allowed characters gives 0 bits of randomness, fewer than 40; allow more "
            "characters",
        ),
        ({"EXCLUDE_UPPERCASE": "ture"}, "EXCLUDE_UPPERCASE must be true or false"),
        (
            {
                "EXCLUDE_NUMBERS": "1",
                "EXCLUDE_PUNCTUATION": "1",
                "EXCLUDE_UPPERCASE": "1",
                "EXCLUDE_LOWERCASE": "1",
            },
            "allows no character at all",
        ),
        ({"EXCLUDE_CHARACTERS": string.digits}, "removes every character of an included type"),
        (
            {
                "EXCLUDE_CHARACTERS": string.ascii_letters + string.digits,
                "EXCLUDE_PUNCTUATION": "1",
            },
            "allows no character at all",
        ),
    ],
)
def test_impossible_policies_are_clear_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        PasswordPolicy.from_env(env)


@pytest.mark.parametrize("length", [0, 3, 7])
def test_a_short_policy_made_in_code_is_refused_too(length: int) -> None:
    """Not only the variable: a PasswordPolicy built by a subclass fails before any password."""
    with pytest.raises(ConfigurationError, match="PASSWORD_LENGTH must be between 8 and 4096"):
        generate_password(PasswordPolicy(length=length))


def test_the_shortest_password_is_long_enough_to_be_redacted() -> None:
    """Redaction ignores values under 4 characters; the shortest policy is well above that."""
    redaction.forget_all()
    try:
        password = generate_password(PasswordPolicy(length=MIN_LENGTH))
        redaction.register(password)
        assert redaction.scrub(f"password is {password}.") == "password is [REDACTED]."
    finally:
        redaction.forget_all()


def test_excluding_a_whole_type_is_fine_without_requiring_each() -> None:
    policy = PasswordPolicy.from_env(
        {"EXCLUDE_CHARACTERS": string.digits, "REQUIRE_EACH_INCLUDED_TYPE": "false"}
    )
    assert not any(c in string.digits for c in generate_password(policy))


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"PASSWORD_LENGTH": "8"},
        {"PASSWORD_LENGTH": "8", "EXCLUDE_PUNCTUATION": "true"},  # 47.6 bits
        {"PASSWORD_LENGTH": "100", "EXCLUDE_PUNCTUATION": "true"},
        {"EXCLUDE_UPPERCASE": "true", "EXCLUDE_NUMBERS": "true"},
        {"EXCLUDE_CHARACTERS": "abcdefXYZ!#$", "PASSWORD_LENGTH": "12"},
        {
            "EXCLUDE_LOWERCASE": "1",
            "EXCLUDE_UPPERCASE": "1",
            "EXCLUDE_PUNCTUATION": "1",
            "PASSWORD_LENGTH": "13",  # digits only: 43 bits
        },
    ],
)
def test_generated_passwords_follow_the_policy(env: dict[str, str]) -> None:
    policy = PasswordPolicy.from_env(env)
    passwords = {generate_password(policy) for _ in range(300)}
    assert len(passwords) > 290  # random, not a constant
    for password in passwords:
        assert policy.allows(password), password
        assert not set(password) & set(policy.exclude_characters)


def test_every_allowed_character_appears() -> None:
    policy = PasswordPolicy.from_env({"PASSWORD_LENGTH": "4096"})
    alphabet = set(string.ascii_letters + string.digits + string.punctuation) - set(
        DEFAULT_EXCLUDED
    )
    assert set(generate_password(policy)) == alphabet


def test_get_random_password_when_configured(sm: Any) -> None:
    source = password_source_from_env(
        {"PASSWORD_SOURCE": "secretsmanager"}, SecretStore().random_password
    )
    policy = PasswordPolicy.from_env({"PASSWORD_LENGTH": "40", "EXCLUDE_PUNCTUATION": "true"})
    password = source(policy)
    assert len(password) == 40
    assert policy.allows(password)


def test_local_generation_is_the_default() -> None:
    def remote(policy: PasswordPolicy) -> str:
        raise AssertionError("no API call by default")

    assert password_source_from_env({}, remote) is generate_password
