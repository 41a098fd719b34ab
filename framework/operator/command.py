"""What every `smrotate` command module shares: its contract, argument types, options, helpers.

A command module (`cmd_rotate`, `cmd_cancel`, `cmd_status`, `cmd_run`, `cmd_fleet`, `cmd_demo`)
has a `NAME`, a `register(commands)` that adds its subcommand and all its arguments, and a
`run(args, now)` that does the command and returns its exit status. `smrotate.operator.cli`
only wires them together. A command module imports at its top only what parsing needs; the
work is imported by `run`, so `smrotate status` never pays for a database driver.

The argument types check values with the engine's own rules (`smrotate.events`), so the CLI
refuses exactly what a rotation event would.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from smrotate.events import VERSION_ID_RULE, is_version_id, secret_id_problem

if TYPE_CHECKING:
    from smrotate.store import SecretStore

Clock = Callable[[], datetime]
Subcommands = argparse._SubParsersAction  # what ArgumentParser.add_subparsers returns


class Command(Protocol):
    """A command module (see the module docstring)."""

    NAME: str

    def register(self, commands: Subcommands[argparse.ArgumentParser]) -> None:
        """Add the subcommand NAME and its arguments to `commands`."""

    def run(self, args: argparse.Namespace, now: Clock) -> int:
        """Do the command; return its exit status (an ExitCode). `now` is the CLI's clock."""


# ------------------------------------------------------------------------- arguments


def secret_id(text: str) -> str:
    """A secret name or ARN, as Secrets Manager takes it (smrotate.events' SecretId rule)."""
    problem = secret_id_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"the secret id {problem}")
    return text


def version_id(text: str) -> str:
    """A version id (a ClientRequestToken), as smrotate.events checks it."""
    if not is_version_id(text):
        raise argparse.ArgumentTypeError(f"a version id is {VERSION_ID_RULE} (as status prints it)")
    return text


def positive(kind: type[int] | type[float], what: str) -> Callable[[str], Any]:
    """An argparse type: a number greater than zero."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, not {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{what} must be greater than 0")
        return value

    return parse


def non_negative(what: str) -> Any:
    """An argparse type: a whole number, 0 or more."""

    def parse(text: str) -> int:
        if not text.isdigit():
            raise argparse.ArgumentTypeError(f"{what} must be a whole number, 0 or more")
        return int(text)

    return parse


def stuck_after_option(parser: argparse.ArgumentParser) -> None:
    """--stuck-after MINUTES (`args.stuck_after`, a timedelta), default health's own."""
    from smrotate.operator.health import DEFAULT_STUCK_AFTER

    minutes = positive(float, "--stuck-after")
    parser.add_argument(
        "--stuck-after",
        type=lambda text: timedelta(minutes=minutes(text)),
        default=DEFAULT_STUCK_AFTER,
        metavar="MINUTES",
        help="minutes after which an unfinished rotation counts as stuck (default "
        f"{DEFAULT_STUCK_AFTER.total_seconds() / 60:g})",
    )


def connection_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """--region, --profile, --endpoint-url, --output, --query, -v, --debug, --no-cli-pager: on
    the main parser (`suppress` False,
    with the defaults) and again on each subcommand (`suppress` True, so that an option given
    before the command is not reset by the subcommand's default)."""
    default: Any = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("AWS connection (as the aws CLI; environment variables work)")
    group.add_argument("--region", default=default, help="AWS region (else AWS_REGION, ...)")
    group.add_argument("--profile", default=default, help="profile from ~/.aws (else AWS_PROFILE)")
    group.add_argument(
        "--endpoint-url",
        default=default,
        help="Secrets Manager endpoint, e.g. a moto server (else AWS_ENDPOINT_URL_SECRETS_MANAGER)",
    )
    group.add_argument(
        "--output",
        choices=("table", "json", "text"),
        default=argparse.SUPPRESS if suppress else "table",
        help="result format on standard output: table (default, for people), json, or text "
        "(tab-separated, as the aws CLI's)",
    )
    group.add_argument(
        "--query",
        default=default,
        metavar="JMESPATH",
        help="a JMESPath expression applied to the JSON result, as in the aws CLI (with the "
        "default --output, the result is printed as JSON)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="show the rotator's log lines on standard error",
    )
    group.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="log every AWS request and response (botocore) and smrotate's DEBUG lines on "
        "standard error, every secret value scrubbed",
    )
    group.add_argument(
        "--no-cli-pager",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="accepted for the aws CLI's sake: smrotate never pages its output",
    )


def subcommand(
    commands: Subcommands[argparse.ArgumentParser], name: str, help_text: str
) -> argparse.ArgumentParser:
    """A subcommand that talks to AWS: its parser, with the connection options."""
    parser = commands.add_parser(name, help=help_text, description=help_text)
    connection_options(parser, suppress=True)
    return parser


# --------------------------------------------------------------------------- helpers


def open_store(args: argparse.Namespace) -> SecretStore:
    """The Secrets Manager store for the connection options in `args`."""
    from smrotate.operator.connection import Connection
    from smrotate.operator.connection import open_store as open_connection

    return open_connection(Connection(args.region, args.profile, args.endpoint_url))


def regional_stores(args: argparse.Namespace) -> Callable[[str], SecretStore]:
    """`store_in(region)`: a store like open_store(args)'s in another region (one per region),
    for a secret's replicas. With --endpoint-url, every region is asked at that endpoint."""
    from smrotate.operator.connection import Connection
    from smrotate.operator.connection import open_store as open_connection

    stores: dict[str, SecretStore] = {}

    def store_in(region: str) -> SecretStore:
        if region not in stores:
            stores[region] = open_connection(Connection(region, args.profile, args.endpoint_url))
        return stores[region]

    return store_in


def machine(args: argparse.Namespace) -> bool:
    """True when the result is for programs (--output json or text, or a --query): the command
    then hands its record to output.emit_json instead of printing its table."""
    return bool(args.output != "table" or getattr(args, "query", None))


_RESTORE: list[Callable[[], None]] = []  # undone by restore_logs() when the CLI returns


def quiet_logs(args: argparse.Namespace) -> None:
    """Rotator logs to standard error; INFO lines only with --verbose, DEBUG ones with --debug
    (until restore_logs)."""
    level = "INFO" if args.verbose else "WARNING"
    _rotator_logs_to_stderr("DEBUG" if args.debug else level)


def debug_logs() -> None:
    """--debug: botocore's and smrotate's DEBUG records on standard error (until restore_logs).
    Every record passes smrotate's scrubbing (smrotate.observability) before any handler sees
    it, so request and response bodies lose their secret values and tokens."""
    import logging
    import sys

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s [%(levelname)s] %(message)s"))
    for name in ("botocore", "boto3", "urllib3"):
        log = logging.getLogger(name)
        log.addHandler(handler)
        _RESTORE.append(_undo(log, handler, log.level))
        log.setLevel(logging.DEBUG)
    _rotator_logs_to_stderr("DEBUG")


def _rotator_logs_to_stderr(level: str) -> None:
    """smrotate's own log lines to standard error at `level`, put back by restore_logs."""
    from smrotate import observability

    stream, previous = observability.log_stream(), observability.logger.log_level
    _RESTORE.append(lambda: observability.set_log_stream(stream))
    _RESTORE.append(lambda: observability.logger.setLevel(previous))
    observability.log_to_stderr()
    observability.logger.setLevel(level)


def _undo(log: Any, handler: Any, level: int) -> Callable[[], None]:
    def undo() -> None:
        log.removeHandler(handler)
        log.setLevel(level)

    return undo


def restore_logs() -> None:
    """Put back the log settings that quiet_logs changed (for in-process callers)."""
    while _RESTORE:
        _RESTORE.pop()()
