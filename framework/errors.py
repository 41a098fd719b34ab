"""The exceptions smrotate raises.

Contract for every class here: the message names what is wrong and what to do, and never
holds a secret value, a password, a RotationToken or a connection string. Messages may name
secret ids, version ids, user names, hosts and ports.
"""

from __future__ import annotations

from enum import StrEnum


class SmrotateError(Exception):
    """Base class: a failure that smrotate explains in its message."""


class EventError(SmrotateError, ValueError):
    """The Lambda event is malformed; raised before any API call."""


class ConfigurationError(SmrotateError, ValueError):
    """An environment variable or setting has a value smrotate cannot use."""


class SecretFormatError(SmrotateError, ValueError):
    """A secret's value is not what the rotator needs (not JSON, a field missing or mistyped)."""


class RotationStateError(SmrotateError):
    """The secret's versions and labels do not allow this step (disabled, unknown token...)."""


class RotationInProgressError(RotationStateError):
    """Another version holds AWSPENDING: a previous rotation is not complete."""


class StoreError(SmrotateError):
    """A Secrets Manager call failed; `code` is the AWS error code when there is one."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class VersionNotFoundError(StoreError):
    """The version (or label) asked for has no value."""


class Failure(StrEnum):
    """What failed when a rotator talked to its target (a database, an API)."""

    NETWORK = "network"
    TLS = "tls"
    AUTHENTICATION = "authentication"
    PRIVILEGE = "privilege"
    OTHER = "other"


class TargetError(SmrotateError):
    """The credential's target failed; `failure` says whether network, TLS, login or privilege."""

    def __init__(self, message: str, failure: Failure = Failure.OTHER) -> None:
        super().__init__(f"{failure.value} failure: {message}")
        self.failure = failure


class LoginRefusedError(TargetError):
    """The target refused the credentials (wrong password, unknown or locked user)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, Failure.AUTHENTICATION)


class IdentityMismatchError(LoginRefusedError):
    """The target accepted the login but as another account (an anonymous or wildcard row):
    for every rule of the protocol that counts as refused."""
