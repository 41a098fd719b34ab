"""The AWS connection of one CLI run: region, profile and endpoint, as the aws CLI takes them.

`open_store` resolves the profile, the region and the credentials before any call, so that a
missing one is a clear error (exit 4) rather than a botocore trace, and builds the store on a
client that uses botocore's standard retry mode (throttling is retried with backoff).
AWS_MAX_ATTEMPTS and AWS_RETRY_MODE override the attempts (default 5) and the mode.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast

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


def retry_settings(env: Mapping[str, str]) -> tuple[RetryMode, int]:
    """(mode, max attempts) from AWS_RETRY_MODE and AWS_MAX_ATTEMPTS; standard and 5 by default."""
    mode = env.get("AWS_RETRY_MODE", "").strip() or "standard"
    if mode not in _RETRY_MODES:
        raise CliError(
            f"AWS_RETRY_MODE must be one of {', '.join(_RETRY_MODES)}; unset it to use standard",
            ExitCode.USAGE,
        )
    raw = env.get("AWS_MAX_ATTEMPTS", "").strip()
    if not raw:
        return cast(RetryMode, mode), MAX_ATTEMPTS
    if not raw.isdigit() or not 1 <= int(raw) <= 20:
        raise CliError(
            "AWS_MAX_ATTEMPTS must be a whole number from 1 to 20 (the total attempts per call)",
            ExitCode.USAGE,
        )
    return cast(RetryMode, mode), int(raw)


def open_store(connection: Connection, env: Mapping[str, str] | None = None) -> SecretStore:
    """A SecretStore for this connection; CliError (exit 4) when profile, region or credentials
    are missing."""
    import boto3
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    env = os.environ if env is None else env
    mode, attempts = retry_settings(env)
    try:
        session = boto3.session.Session(
            profile_name=connection.profile, region_name=connection.region
        )
    except ProfileNotFound:
        raise CliError(
            f"AWS profile {connection.profile or env.get('AWS_PROFILE')!r} is not in the AWS "
            "config files (~/.aws/config, ~/.aws/credentials); name an existing one with "
            "--profile or AWS_PROFILE",
            ExitCode.CREDENTIALS,
        ) from None
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
