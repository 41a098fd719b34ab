"""The CLI's exit statuses, and how a failed AWS call maps to one, with a message saying what to do.

`CliError` carries a message (never a secret value) and the exit status; `from_store_error`
classifies the AWS error code that the store reports.
"""

from __future__ import annotations

import re
from enum import IntEnum

from smrotate.errors import StoreError


class ExitCode(IntEnum):
    """Documented in docs/cli.md; scripts may rely on these numbers."""

    OK = 0
    ERROR = 1  # anything not covered below
    USAGE = 2  # bad arguments or parameters (also AWS's InvalidParameter/Validation errors)
    NOT_FOUND = 3  # the secret does not exist (in this region and account)
    CREDENTIALS = 4  # no or rejected credentials, unknown profile, no region
    ACCESS_DENIED = 5  # the identity may not make this call
    THROTTLED = 6  # still throttled after retries with backoff
    REFUSED = 7  # the secret's state forbids it (a rotation in progress, deleted, ...)
    SERVICE = 8  # the endpoint is unreachable or failed (HTTP 5xx)
    ATTENTION = 9  # status/fleet: a secret is stuck or overdue
    ROTATION_FAILED = 10  # rotate --wait / run: the rotation failed
    STALLED = 11  # rotate --wait: no progress for --stall seconds
    TIMED_OUT = 12  # rotate --wait: --timeout passed
    CLEANUP_REFUSED = 13  # cancel --cleanup could not prove that a change is safe
    INTERRUPTED = 130  # Ctrl-C


class CliError(Exception):
    """A failure the CLI reports in one message and an exit status."""

    def __init__(self, message: str, code: ExitCode = ExitCode.ERROR) -> None:
        super().__init__(message)
        self.code = code


NO_CREDENTIALS = (
    "no AWS credentials found. Configure them as for the aws CLI: --profile or AWS_PROFILE naming "
    "a profile in ~/.aws/config, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and "
    "AWS_SESSION_TOKEN for temporary credentials)"
)

THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
    }
)
CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "AuthFailure",
    }
)
DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})
USAGE_CODES = frozenset(
    {"InvalidParameterException", "ValidationException", "InvalidParameterValue"}
)
REFUSED_CODES = frozenset(
    {"InvalidRequestException", "LimitExceededException", "PreconditionNotMetException"}
)


_HINTS: tuple[tuple[frozenset[str], ExitCode, str], ...] = (
    (
        frozenset({"ResourceNotFoundException"}),
        ExitCode.NOT_FOUND,
        "Check the secret's name or ARN, and the region and account it lives in "
        "(--region, --profile)",
    ),
    (
        DENIED_CODES,
        ExitCode.ACCESS_DENIED,
        "The identity in use may not make this call: grant it the secretsmanager permission "
        "named above, or use another --profile",
    ),
    (
        THROTTLING_CODES,
        ExitCode.THROTTLED,
        "Secrets Manager kept throttling the requests, which were retried with backoff; try "
        "again later (AWS_MAX_ATTEMPTS raises the number of attempts)",
    ),
    (
        CREDENTIAL_CODES,
        ExitCode.CREDENTIALS,
        "The credentials were rejected: check --profile / AWS_PROFILE, or AWS_ACCESS_KEY_ID, "
        "AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (temporary credentials expire)",
    ),
    (USAGE_CODES, ExitCode.USAGE, ""),
    (REFUSED_CODES, ExitCode.REFUSED, ""),
)


def from_store_error(exc: StoreError) -> CliError:
    """The exit status and an actionable message for a failed Secrets Manager call."""
    message = str(exc).rstrip(". ")
    if exc.code is None and "Unable to locate credentials" in message:
        return CliError(f"{message}. {NO_CREDENTIALS}", ExitCode.CREDENTIALS)
    for codes, exit_code, hint in _HINTS:
        if exc.code in codes:
            return CliError(f"{message}. {hint}" if hint else message, exit_code)
    return CliError(
        f"{_tidy(message)}. The service failed or could not be reached; if the call changes "
        "something (rotate, cancel), check with `smrotate status` before retrying",
        ExitCode.SERVICE,
    )


_HTML = re.compile(r"<(!doctype|html).*", re.IGNORECASE | re.DOTALL)
_MAX_MESSAGE = 400


def _tidy(message: str) -> str:
    """An error message on one line, without an HTML error page, at most 400 characters."""
    text = " ".join(_HTML.sub("(an HTML error page)", message).split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."
