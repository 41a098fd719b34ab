"""doctor's target checks: the secret's format, the admin secret, the target reachable, TLS,
the login, and the admin's rights, all through the rotator's own parsing and sessions.

Read-only: logins, reads, the engine's read-only probes (`doctor_engines`), and the admin
guard's challenge (a random application name on the user's session). Checks that need one
that failed are skipped, saying which.
"""

from __future__ import annotations

import socket
import time
from contextlib import ExitStack
from typing import Any

from smrotate.accounts import Account
from smrotate.admin import admin_account, check_may_change, open_admin
from smrotate.database import CONNECT_TIMEOUT_ENV, DatabaseAccount
from smrotate.errors import (
    Failure,
    IdentityMismatchError,
    LoginRefusedError,
    SmrotateError,
    TargetError,
)
from smrotate.events import RotationEvent, Step
from smrotate.operator.doctor import Check, failed, passed, skipped
from smrotate.operator.doctor_engines import admin_problems, similar_users
from smrotate.operator.doctor_tls import tls_check
from smrotate.password_rotator import PasswordRotator, Target
from smrotate.rotator import Rotator
from smrotate.store import CURRENT, SecretDescription
from smrotate.strategies import AlternatingUsers, Strategy

NO_VERSION = "00000000-0000-4000-8000-000000000000"  # the context's token when none is current
FIX_VALUE = "correct the AWSCURRENT value (put-secret-value), then run doctor again"
FIX_LOGIN = (
    "give the secret the user's exact name (user names are case-sensitive) and the password "
    "the target holds, or reset the password at the target to the AWSCURRENT value"
)


class TargetDoctor:
    """The target checks of one secret, as `rotator` would rotate it."""

    def __init__(self, rotator: Rotator, description: SecretDescription) -> None:
        self.rotator = rotator
        self.description = description
        event = RotationEvent(Step.SET, description.arn, description.current or NO_VERSION)
        self.ctx = rotator.context(event, description)
        self.admin: Account | None = None
        self.logged_in = False

    @property
    def password(self) -> Target | None:
        """The rotator as a PasswordRotator (strategies, admin), or None."""
        return self.rotator if isinstance(self.rotator, PasswordRotator) else None

    @property
    def strategy_name(self) -> str | None:
        """The strategy checked (ConfigurationError when the rotator does not offer it)."""
        return None if self.password is None else self.password.strategy.name

    def checks(self) -> list[Check]:
        """The six checks, in order."""
        try:
            account: Any = self.ctx.parsed(CURRENT)
        except SmrotateError as exc:
            first = failed("secret-format", str(exc), FIX_VALUE)
            later = ("admin-secret", "reachable", "tls", "login", "admin-rights")
            return [first, *(skipped(name, "needs secret-format to pass") for name in later)]
        done = [passed("secret-format", f"AWSCURRENT parses: {account.describe()}")]
        done.append(self._admin_secret(account))
        endpoint = self._reachable(account)
        done += [endpoint, self._tls(account, endpoint)]
        done.append(self._login(account, endpoint))
        done.append(self._admin_rights(account))
        return done

    # ------------------------------------------------------------------ checks

    def _admin_secret(self, user: Account) -> Check:
        name, rotator = "admin-secret", self.password
        if rotator is None:
            return skipped(name, f"{type(self.rotator).__name__} uses no admin secret")
        strategy, arn = rotator.strategy, user.masterarn
        if arn is None:
            return _no_masterarn(strategy)
        try:
            resolved = self.ctx.describe(arn).arn
        except SmrotateError as exc:
            return failed(
                name, str(exc), "point 'masterarn' at an existing admin secret in this region"
            )
        if resolved == self.ctx.arn:
            return failed(
                name,
                f"'masterarn' names the rotated secret itself ({resolved})",
                "store the admin's credentials in a separate secret and point 'masterarn' at it",
            )
        try:
            self.admin = admin_account(rotator, self.ctx, user)
        except SmrotateError as exc:
            return failed(name, str(exc), "correct the admin secret's AWSCURRENT value")
        unused = "" if strategy.needs_admin else f" (unused by strategy {strategy.name})"
        return passed(name, f"{resolved} parses: {self.admin.describe()}{unused}")

    def _reachable(self, account: Account) -> Check:
        name = "reachable"
        if not isinstance(account, DatabaseAccount):
            return skipped(name, "the account names no host and port")
        if account.host.startswith("/"):
            return skipped(name, f"a Unix socket ({account.host})")
        where, timeout = f"{account.host}:{account.port}", account.connect_timeout
        started = time.monotonic()
        try:
            socket.create_connection((account.host, account.port), timeout=timeout).close()
        except OSError as exc:
            why = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
            return failed(
                name,
                f"{where} is not reachable within {timeout:g} s ({CONNECT_TIMEOUT_ENV}): {why}",
                "check the secret's host and port, that the server runs, and the network path "
                "from the function (security groups, routes); raise "
                f"{CONNECT_TIMEOUT_ENV} only for a slow link",
            )
        took = (time.monotonic() - started) * 1000
        return passed(name, f"{where} accepts TCP connections ({took:.0f} ms, limit {timeout:g} s)")

    def _tls(self, account: Account, endpoint: Check) -> Check:
        if endpoint.status != "pass" or not isinstance(account, DatabaseAccount):
            return skipped("tls", "needs reachable to pass")
        return tls_check(account)

    def _login(self, account: Account, endpoint: Check) -> Check:
        name = "login"
        verify = getattr(self.rotator, "verify", None)
        if verify is None:
            return skipped(name, f"{type(self.rotator).__name__} has no verify hook")
        if endpoint.status == "fail":
            return skipped(name, "needs reachable to pass")
        try:
            verify(account)
        except IdentityMismatchError as exc:
            return failed(name, str(exc), "make the secret name exactly the account that logs in")
        except LoginRefusedError as exc:
            return failed(name, str(exc) + self._similar(account), FIX_LOGIN)
        except SmrotateError as exc:
            fix = "fix what the message names, then run doctor again"
            if isinstance(exc, TargetError) and exc.failure is Failure.TLS:
                fix = "see the tls check"
            return failed(name, str(exc), fix)
        self.logged_in = True
        return passed(name, f"AWSCURRENT logs in as exactly {account.describe()}")

    def _similar(self, account: Account) -> str:
        """What the admin sees of users whose names differ only in case (empty if none)."""
        if self.admin is None or self.password is None:
            return ""
        try:
            with self.password.open(self.admin) as session:
                found = similar_users(self.admin, session, account.username)
        except SmrotateError:
            return ""
        if not found:
            return ""
        names = ", ".join(repr(n) for n in found)
        return f"; the target has {names}, which differs only in case (names are case-sensitive)"

    def _admin_rights(self, user: Account) -> Check:
        name, rotator = "admin-rights", self.password
        if rotator is None or not rotator.strategy.needs_admin:
            return skipped(name, f"strategy {self.strategy_name} uses no admin")
        if self.admin is None:
            return skipped(name, "needs admin-secret to pass")
        strategy = rotator.strategy
        users: list[tuple[str, str | None]] = [(user.username, None)]
        try:
            if isinstance(strategy, AlternatingUsers):
                base, clone = strategy.pair(rotator, self.ctx, user)
                users = [(base, None), (clone, base)]
            with ExitStack() as stack:
                if self.logged_in:
                    own = stack.enter_context(rotator.open(user))
                    admin, session = open_admin(rotator, self.ctx, stack, own, user)
                else:
                    admin, session = self.admin, stack.enter_context(rotator.open(self.admin))
                for username, base_name in users:
                    check_may_change(
                        rotator, self.ctx, session, admin, username, opted_in_as=base_name
                    )
                problems, checked = admin_problems(
                    admin, session, strategy.name, [u for u, _ in users]
                )
        except TargetError as exc:
            fix = "fix the admin secret, or the admin's account at the target"
            if exc.failure is Failure.PRIVILEGE:
                fix = "grant the admin what the strategy needs, its reads included (docs/doctor.md)"
            return failed(name, str(exc), fix)
        except SmrotateError as exc:
            return failed(name, str(exc), "fix what the message names, then run doctor again")
        if problems:
            found, fix = problems[0]
            return failed(name, found, fix)
        guard = "" if self.logged_in else "; the same-server guard was not checked (login failed)"
        return passed(name, f"{admin.describe()} {checked}{guard}")


def _no_masterarn(strategy: Strategy) -> Check:
    """The admin-secret check of a secret with no `masterarn`."""
    if strategy.needs_admin:
        return failed(
            "admin-secret",
            f"strategy {strategy.name} needs an admin secret; AWSCURRENT has no 'masterarn'",
            "add 'masterarn' (the admin secret's ARN) to the secret's value",
        )
    return skipped("admin-secret", f"strategy {strategy.name} uses none and the secret names none")
