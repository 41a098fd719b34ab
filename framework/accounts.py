"""Accounts: one secret version's username/password credentials, parsed once per step.

A `PasswordRotator` reads every version through its `schema` (an `AccountSchema`), which turns
the JSON value into a frozen `Account` (or a subclass with more fields: `DatabaseAccount` adds
the endpoint and TLS). The step context keeps the result for the rest of the step, so a value
is parsed once however many times the strategies use it. The account carries its own `label`
(which secret and version, for messages) and its limits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from smrotate.errors import SecretFormatError
from smrotate.settings import env_int
from smrotate.store import Secret, SecretDescription

USERNAME_LIMIT_ENV = "USERNAME_CHARACTER_LIMIT"
DEFAULT_USERNAME_LIMIT = 63


@dataclass(frozen=True)
class Account:
    """Credentials of one version. Never shows the password (nor the value) in repr."""

    value: Mapping[str, Any] = field(repr=False, compare=False)
    username: str
    password: str = field(repr=False)
    label: str  # "the AWSCURRENT value of secret app" (messages name it so)
    username_limit: int = DEFAULT_USERNAME_LIMIT  # the longest user name the target accepts

    @property
    def masterarn(self) -> str | None:
        """The admin secret the value names, stripped; None when absent or blank."""
        arn = self.value.get("masterarn")
        return arn.strip() if isinstance(arn, str) and arn.strip() else None

    @property
    def target(self) -> tuple[object, ...]:
        """Where the account lives, comparable between versions (the secret's host and port)."""
        return (self.value.get("host"), self.value.get("port"))

    @property
    def tls_required(self) -> bool:
        """True when a session of this account must run over TLS (checked after login)."""
        return False

    def describe(self) -> str:
        """`user 'x'`, with `at host:port` when the value names them: never the password."""
        host, port = self.value.get("host"), self.value.get("port")
        where = f" at {host}:{port}" if host is not None or port is not None else ""
        return f"user {self.username!r}{where}"

    def same_account(self, other: Account) -> bool:
        """Same user at the same target."""
        return (self.username, self.target) == (other.username, other.target)

    def same_target(self, admin: Account) -> bool:
        """True when `admin` certainly acts where this account lives: both name the same
        target (a subclass adds conditions, such as TLS)."""
        return self.target == admin.target

    def with_credentials(self, username: str, password: str) -> Secret:
        """A new value: this one's fields, with `username` and `password`."""
        return {**self.value, "username": username, "password": password}


@dataclass(frozen=True)
class SessionFacts:
    """What the target says a session is: checked after every login (identity, TLS)."""

    user: str  # the account the target matched (PostgreSQL session_user; MySQL CURRENT_USER())
    host: str | None = None  # MySQL's host part of CURRENT_USER(); None where there is none
    tls: bool = False  # the session really runs over TLS


AccountT = TypeVar("AccountT", bound=Account)
AccountT_co = TypeVar("AccountT_co", bound=Account, covariant=True)


class AccountSchema(Protocol[AccountT_co]):
    """How a rotator reads its secrets; `parse` raises SecretFormatError naming the field."""

    def parse(self, value: Secret, label: str, env: Mapping[str, str]) -> AccountT_co:
        """The account in `value` (`label` names it in errors and in the account)."""
        ...

    def complete_admin(
        self, value: Secret, arn: str, describe: Callable[[str], SecretDescription]
    ) -> Secret:
        """The admin secret's value, with what it may leave out filled in (never from the
        user's secret); `describe` is DescribeSecret, once per step and id."""
        ...


def credentials(value: Secret, label: str) -> tuple[str, str]:
    """`username` and `password`, both non-empty strings; SecretFormatError otherwise."""
    for key in ("username", "password"):
        if not isinstance(value.get(key), str) or not value[key]:
            raise SecretFormatError(
                f"{label} has no {key!r} string; it needs 'username' and 'password'"
            )
    return str(value["username"]), str(value["password"])


def username_limit(env: Mapping[str, str], default: int) -> int:
    """USERNAME_CHARACTER_LIMIT, else the target's `default`: the one place the limit is read."""
    return env_int(env, USERNAME_LIMIT_ENV, default, low=2, high=1024)


@dataclass(frozen=True)
class Credentials:
    """The plain schema: `username` and `password`; the admin secret is used as it is."""

    limit: int = DEFAULT_USERNAME_LIMIT

    def parse(self, value: Secret, label: str, env: Mapping[str, str]) -> Account:
        """An Account; SecretFormatError without `username` or `password`."""
        username, password = credentials(value, label)
        return Account(value, username, password, label, username_limit(env, self.limit))

    def complete_admin(
        self, value: Secret, arn: str, describe: Callable[[str], SecretDescription]
    ) -> Secret:
        """The admin secret as it is."""
        return value


PLAIN = Credentials()
