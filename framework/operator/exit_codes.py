"""The CLI's exit statuses, and how a failed AWS call maps to one, with a message saying what to do.

`CliError` carries a message (never a secret value) and the exit status; `from_store_error`
classifies the AWS error code that the store reports.
"""

from __future__ import annotations

import re
from enum import IntEnum

from smrotate.errors import StoreError


class ExitCode(IntEnum):
    """The CLI's exit statuses; scripts may rely on these numbers. What each one means is in
    STATUSES, the one table that `smrotate --help` and docs/cli.md are made from."""

    OK = 0
    ERROR = 1
    USAGE = 2
    NOT_FOUND = 3
    CREDENTIALS = 4
    ACCESS_DENIED = 5
    THROTTLED = 6
    REFUSED = 7
    SERVICE = 8
    ATTENTION = 9
    ROTATION_FAILED = 10
    STALLED = 11
    TIMED_OUT = 12
    CLEANUP_REFUSED = 13
    DOCTOR_FOUND_PROBLEMS = 14
    INTERRUPTED = 130


# Every status: a few words for `smrotate --help`, and its meaning for docs/cli.md's table.
STATUSES: dict[ExitCode, tuple[str, str]] = {
    ExitCode.OK: ("ok", "success (`status`/`fleet`: nothing stuck or overdue)"),
    ExitCode.ERROR: ("error", "an error not listed below (e.g. `demo` missing from the install)"),
    ExitCode.USAGE: (
        "bad input",
        "bad input: arguments, options, `AWS_MAX_ATTEMPTS`, or AWS's InvalidParameter/Validation "
        "errors",
    ),
    ExitCode.NOT_FOUND: (
        "secret not found",
        "the secret was not found (check the name or ARN, `--region`, `--profile`)",
    ),
    ExitCode.CREDENTIALS: (
        "credentials or region",
        "no or rejected credentials, unknown profile, no region",
    ),
    ExitCode.ACCESS_DENIED: ("access denied", "access denied for the call named in the message"),
    ExitCode.THROTTLED: ("throttled", "still throttled after the retries"),
    ExitCode.REFUSED: (
        "refused by the secret's state",
        "refused by the secret's state: a previous rotation isn't complete, scheduled for "
        "deletion, `--resume` of an unknown version, AWS's InvalidRequestException",
    ),
    ExitCode.SERVICE: (
        "service unreachable or failing",
        "the endpoint is unreachable or failed (HTTP 5xx)",
    ),
    ExitCode.ATTENTION: (
        "a secret needs attention",
        "`status`/`fleet`: at least one secret is stuck or overdue",
    ),
    ExitCode.ROTATION_FAILED: (
        "rotation failed",
        "the rotation failed (`run`; `rotate --wait` when it was cancelled under it; "
        "`rotate --all`: a rotation failed or got stuck)",
    ),
    ExitCode.STALLED: (
        "stalled",
        "`rotate --wait`: no visible progress for `--stall` seconds (default 300): the function "
        "has most likely failed",
    ),
    ExitCode.TIMED_OUT: ("timed out", "`rotate --wait`: `--timeout` passed (default 900 s)"),
    ExitCode.CLEANUP_REFUSED: (
        "cleanup refused",
        "`cancel --cleanup` could not prove that a change is safe and changed no label",
    ),
    ExitCode.DOCTOR_FOUND_PROBLEMS: (
        "doctor found problems",
        "`doctor`: at least one check failed",
    ),
    ExitCode.INTERRUPTED: ("interrupted", "interrupted (Ctrl-C)"),
}


def statuses_help() -> str:
    """`Exit statuses: 0 ok, 1 error, ...`: the epilog of `smrotate --help`."""
    words = ", ".join(f"{int(code)} {STATUSES[code][0]}" for code in ExitCode)
    return f"Exit statuses: {words}."


def statuses_table() -> str:
    """The Markdown table of docs/cli.md's "Exit statuses" section."""
    rows = [f"| {int(code)} | {STATUSES[code][1]} |" for code in ExitCode]
    return "\n".join(["| status | meaning |", "|---|---|", *rows])


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
