"""MySQL 8's account statements, emulated for the statements the MySQL rotator sends on its own
account: MySQL 8 cannot run on these machines, so the dual-password strategy meets this stand-in
for `pymysql.connect`, written from MySQL 8.0's manual (ALTER USER, dual passwords), instead.

What it emulates, and nothing else (any other statement is an error, so the rotator cannot
send SQL that was never checked here):
- a login matches the account's primary or secondary password (else error 1045);
- `SELECT CURRENT_USER(), VERSION()`;
- `ALTER USER CURRENT_USER() IDENTIFIED BY new REPLACE current [RETAIN CURRENT PASSWORD]`:
  REPLACE must name the primary password (else 3891); without RETAIN the secondary stays as it
  was; RETAIN makes the primary the secondary (dropping the older one) and needs
  APPLICATION_PASSWORD_ADMIN (else 1227).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pymysql.err

VERSION = "8.0.36"
OWN_PASSWORD = "ALTER USER CURRENT_USER() IDENTIFIED BY %s REPLACE %s"
RETAIN = OWN_PASSWORD + " RETAIN CURRENT PASSWORD"


@dataclass
class Account:
    primary: str
    secondary: str | None = None
    application_password_admin: bool = True


@dataclass
class MySQL8:
    """The accounts of one emulated server, and every statement it ran (for the tests)."""

    accounts: dict[str, Account] = field(default_factory=dict)
    statements: list[tuple[str, str]] = field(default_factory=list)  # (user, statement)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def logs_in(self, user: str, password: str) -> bool:
        account = self.accounts.get(user)
        return account is not None and password in (account.primary, account.secondary)

    def connect(self, *, user: str, password: bytes, **_: Any) -> Connection:
        """pymysql.connect's stand-in: the session of `user`, or error 1045."""
        with self.lock:
            if not self.logs_in(user, password.decode()):
                raise pymysql.err.OperationalError(1045, f"Access denied for user '{user}'@'%'")
        return Connection(self, user)


@dataclass
class Connection:
    server: MySQL8
    user: str

    def cursor(self) -> Cursor:
        return Cursor(self)

    def close(self) -> None:
        pass


class Cursor:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.rows: list[tuple[Any, ...]] = []
        self.description: tuple[str, ...] | None = None

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def execute(self, query: str, args: tuple[Any, ...] = ()) -> int:
        server, user = self.conn.server, self.conn.user
        with server.lock:
            server.statements.append((user, query))
            account = server.accounts[user]
            if query == "SELECT CURRENT_USER(), VERSION()":
                self.rows, self.description = [(f"{user}@%", VERSION)], ("user", "version")
                return 1
            if query not in (OWN_PASSWORD, RETAIN):
                raise pymysql.err.ProgrammingError(1064, "a statement this emulation lacks")
            new, current = args
            if query == RETAIN and not account.application_password_admin:
                raise pymysql.err.OperationalError(
                    1227,
                    "Access denied; you need (at least one of) the APPLICATION_PASSWORD_ADMIN "
                    "privilege(s) for this operation",
                )
            if current != account.primary:
                raise pymysql.err.OperationalError(
                    3891,
                    "Incorrect current password. Specify the correct password which has to be "
                    "replaced.",
                )
            if query == RETAIN:
                account.secondary = account.primary
            account.primary = new
            self.rows, self.description = [], None
            return 0

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows
