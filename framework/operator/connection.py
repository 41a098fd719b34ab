"""The AWS connection of one CLI run: region, profile and endpoint, as the aws CLI takes them.

`open_store` resolves the profile, the region and the credentials before any call, so that a
missing one is a clear error (exit 4) rather than a botocore trace, and builds the store on a
client that uses botocore's standard retry mode (throttling is retried with backoff). As in the
aws CLI, AWS_RETRY_MODE and AWS_MAX_ATTEMPTS, else the profile's `retry_mode` and
`max_attempts`, set the mode and the attempts (default standard and 5).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from smrotate.operator.exit_codes import NO_CREDENTIALS, CliError, ExitCode
from smrotate.store import MAX_ATTEMPTS, SecretStore, new_client

RetryMode = Literal["legacy", "standard", "adaptive"]
_RETRY_MODES = ("legacy", "standard", "adaptive")


@dataclass(frozen=True)
class Connection:
    """Where to send requests: None means "as botocore resolves it" (environment, config)."""

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None


def retry_settings(
    env: Mapping[str, str], profile: Mapping[str, Any] | None = None, name: str = "default"
) -> tuple[RetryMode, int]:
    """(mode, max attempts), as the aws CLI resolves them: AWS_RETRY_MODE and AWS_MAX_ATTEMPTS,
    else the profile's `retry_mode` and `max_attempts`, else standard and 5. A bad value is a
    CliError (exit 2) naming where it was set."""
    profile = profile or {}
    sources = (("AWS_RETRY_MODE", env), (f"retry_mode in AWS profile {name!r}", profile))
    where, mode = _first(sources, ("AWS_RETRY_MODE", "retry_mode"))
    mode = mode or "standard"
    if mode not in _RETRY_MODES:
        raise CliError(
            f"{where} must be one of {', '.join(_RETRY_MODES)}; unset it to use standard",
            ExitCode.USAGE,
        )
    sources = (("AWS_MAX_ATTEMPTS", env), (f"max_attempts in AWS profile {name!r}", profile))
    where, raw = _first(sources, ("AWS_MAX_ATTEMPTS", "max_attempts"))
    if not raw:
        return cast(RetryMode, mode), MAX_ATTEMPTS
    if not raw.isdigit() or not 1 <= int(raw) <= 20:
        raise CliError(
            f"{where} must be a whole number from 1 to 20 (the total attempts per call)",
            ExitCode.USAGE,
        )
    return cast(RetryMode, mode), int(raw)


def _first(
    sources: tuple[tuple[str, Mapping[str, Any]], ...], keys: tuple[str, str]
) -> tuple[str, str]:
    """(where, value) of the first source that sets its key to something; ("", "") if none."""
    for (where, values), key in zip(sources, keys, strict=True):
        value = str(values.get(key) or "").strip()
        if value:
            return where, value
    return "", ""


def open_store(connection: Connection, env: Mapping[str, str] | None = None) -> SecretStore:
    """A SecretStore for this connection; CliError (exit 4) when profile, region or credentials
    are missing."""
    from botocore.exceptions import BotoCoreError

    session, mode, attempts = _checked_session(connection, env)
    try:
        client = new_client(
            session, connection.endpoint_url, max_attempts=attempts, retry_mode=mode
        )
    except (BotoCoreError, ValueError) as exc:
        raise CliError(
            f"cannot make a Secrets Manager client: {type(exc).__name__}: {exc}. Check "
            "--endpoint-url (a URL such as https://secretsmanager.eu-west-1.amazonaws.com) and "
            "--region",
            ExitCode.USAGE,
        ) from None
    return SecretStore(client)


def session_and_config(
    connection: Connection, env: Mapping[str, str] | None = None
) -> tuple[Any, Any]:
    """(boto3 session, botocore Config) for clients of other services than Secrets Manager
    (doctor's Lambda, IAM, KMS): checked as open_store checks them, with the same retries; the
    endpoint is botocore's own (--endpoint-url is Secrets Manager's)."""
    from smrotate.store import client_config

    session, mode, attempts = _checked_session(connection, env)
    return session, client_config(mode, attempts)


def _checked_session(
    connection: Connection, env: Mapping[str, str] | None
) -> tuple[Any, RetryMode, int]:
    """The boto3 session, its retry mode and attempts; CliError (exit 4) when the profile, the
    region or the credentials are missing."""
    import boto3
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    env = os.environ if env is None else env
    try:
        session = boto3.session.Session(
            profile_name=connection.profile, region_name=connection.region
        )
        profile = session._session.get_scoped_config()
    except ProfileNotFound:
        raise CliError(
            f"AWS profile {connection.profile or env.get('AWS_PROFILE')!r} is not in the AWS "
            "config files (~/.aws/config, ~/.aws/credentials); name an existing one with "
            "--profile or AWS_PROFILE",
            ExitCode.CREDENTIALS,
        ) from None
    mode, attempts = retry_settings(env, profile, session.profile_name)
    if not session.region_name:
        raise CliError(
            "no AWS region: pass --region, set AWS_REGION or AWS_DEFAULT_REGION, or set region "
            "in the profile",
            ExitCode.CREDENTIALS,
        )
    try:
        credentials = session.get_credentials()
    except BotoCoreError as exc:
        raise CliError(
            f"AWS credentials could not be loaded: {type(exc).__name__}. {NO_CREDENTIALS}",
            ExitCode.CREDENTIALS,
        ) from None
    if credentials is None:
        raise CliError(NO_CREDENTIALS, ExitCode.CREDENTIALS)
    return session, mode, attempts
