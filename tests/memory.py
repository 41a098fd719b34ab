"""An in-memory credential target and its rotator: the strategies tested without a database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from smrotate.accounts import Account
from smrotate.errors import Failure, LoginRefusedError, TargetError
from smrotate.password_rotator import AccountFacts, PasswordRotator


@dataclass
class MemoryTarget:
    """Users and passwords in a dict; records every login and change."""

    passwords: dict[str, str] = field(default_factory=dict)
    secondary: dict[str, str] = field(default_factory=dict)  # dual passwords: the older one
    admins: set[str] = field(default_factory=set)
    rights: dict[str, set[str]] = field(default_factory=dict)
    logins: list[tuple[str, bool]] = field(default_factory=list)
    changes: list[tuple[str, str]] = field(default_factory=list)
    clone_marks: dict[str, str] = field(default_factory=dict)  # clone -> its base
    down: bool = False

    def check(self, username: str, password: str) -> bool:
        return password in (self.passwords.get(username), self.secondary.get(username))


@dataclass
class Session:
    target: MemoryTarget
    username: str


class MemoryRotator(PasswordRotator[Account, Session]):
    """A PasswordRotator whose target is a MemoryTarget."""

    def __init__(self, target: MemoryTarget, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target = target

    @contextmanager
    def login(self, account: Account) -> Iterator[Session]:
        if self.target.down:
            raise TargetError("memory target at memory:0 is unreachable", Failure.NETWORK)
        ok = self.target.check(account.username, account.password)
        self.target.logins.append((account.username, ok))
        if not ok:
            raise LoginRefusedError(f"memory target refused user {account.username!r}")
        yield Session(self.target, account.username)

    def set_own_password(self, session: Session, account: Account, password: str) -> None:
        self.target.passwords[session.username] = password
        self.target.changes.append(("own", session.username))

    def add_password(self, session: Session, account: Account, password: str) -> bool:
        """Like MySQL's RETAIN CURRENT PASSWORD with REPLACE: only over the newest password."""
        if self.target.passwords.get(session.username) != account.password:
            return False
        self.target.secondary[session.username] = account.password
        self.target.passwords[session.username] = password
        self.target.changes.append(("add", session.username))
        return True

    def set_password(self, admin: Session, username: str, password: str) -> None:
        if admin.username not in self.target.admins:
            raise TargetError(f"user {admin.username!r} may not set passwords", Failure.PRIVILEGE)
        if username not in self.target.passwords:
            raise TargetError(f"user {username!r} does not exist", Failure.OTHER)
        self.target.passwords[username] = password
        self.target.changes.append(("admin", username))

    def sync_clone(self, admin: Session, base: str, clone: str, password: str) -> bool:
        if admin.username not in self.target.admins:
            raise TargetError(f"user {admin.username!r} may not create users", Failure.PRIVILEGE)
        created = clone not in self.target.passwords
        if created:
            self.target.passwords[clone] = password
            self.target.clone_marks[clone] = base
            self.target.changes.append(("create", clone))
        self.target.rights[clone] = set(self.target.rights.get(base, set()))
        return created

    def account_facts(self, admin: Session, username: str) -> AccountFacts:
        return AccountFacts(
            exists=username in self.target.passwords,
            privileged="admin" if username in self.target.admins else None,
            clone_of=self.target.clone_marks.get(username),
        )
