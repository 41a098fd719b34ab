"""Rotates MySQL, Aurora MySQL and MariaDB passwords (engines `mysql`, `aurora-mysql`, `mariadb`).

How, and what the admin refuses: docs/mysql.md. pymysql is imported only by the steps that
talk to the database (`session.py`); TLS is verified unless the secret says `"ssl": false`.
"""

from __future__ import annotations

import secrets
import ssl
from contextlib import AbstractContextManager
from typing import ClassVar

from smrotate.accounts import SessionFacts
from smrotate.database import Database, DatabaseAccount
from smrotate.observability import logger
from smrotate.password_rotator import AccountFacts, PasswordRotator
from smrotate.rotators.mysql import sql
from smrotate.rotators.mysql.clone import account_facts, password_accounts, sync_clone
from smrotate.rotators.mysql.grants import identified_by_native_hash
from smrotate.rotators.mysql.session import MySQLSession, connect, run, server_of
from smrotate.rotators.mysql.sql import USERNAME_LIMITS, Server

MYSQL = Database(
    engines={
        "mysql": USERNAME_LIMITS["mysql"],
        "aurora-mysql": USERNAME_LIMITS["mysql"],
        "mariadb": USERNAME_LIMITS["mariadb"],
    },
    default_port=3306,
)


class MySQLRotator(PasswordRotator[DatabaseAccount, MySQLSession]):
    """Password rotation for MySQL 5.7+/8, Aurora MySQL and MariaDB 10.2+ accounts."""

    schema: ClassVar[Database] = MYSQL
    driver_module, driver_extra = "pymysql", "mysql"  # createSecret checks it is installed

    def login(self, account: DatabaseAccount) -> AbstractContextManager[MySQLSession]:
        """A TLS (unless `"ssl": false`: then plaintext only), autocommit session."""
        return connect(account)

    def session_facts(self, session: MySQLSession) -> SessionFacts:
        """CURRENT_USER() (the row the server matched), and TLS if the client's own socket is
        TLS (a server can report any Ssl_cipher); remembers the server's version."""
        [(account, version)] = run(session, sql.SESSION_FACTS)
        session.server = session.server or Server.parse(str(version))
        user, _, host = str(account).rpartition("@")
        tls = isinstance(getattr(session.conn, "_sock", None), ssl.SSLSocket)
        return SessionFacts(user=user, host=host, tls=tls)

    def prove_same_server(self, own: MySQLSession, admin: MySQLSession, username: str) -> bool:
        """True when the admin's server shows the lock `own` took under a random name held by a
        session of `username`, and has no anonymous account (which takes any name); else False,
        with a warning saying why."""
        name = "smrotate-" + secrets.token_hex(16)
        if [tuple(row) for row in run(own, sql.TAKE_LOCK, (name,))] != [(1,)]:
            return False
        try:
            [(holder, user, anonymous)] = run(admin, sql.LOCK_HOLDER, (name, name))
        finally:
            run(own, sql.RELEASE_LOCK, (name,))
        if holder is None:
            why = "the user's session is not on the admin's server"
        elif user is None:
            why = "the admin cannot see other users' sessions: grant it PROCESS"
        elif int(anonymous):
            why = "the admin's server has anonymous accounts, which take any user name"
        elif str(user) != username:
            why = f"the lock is held by user {str(user)!r}"
        else:
            return True
        logger.warning(f"the admin could not prove it acts on the user's server: {why}")
        return False

    def account_facts(self, admin: MySQLSession, username: str) -> AccountFacts:
        """Whether `username` exists, is admin-level (or its roles are), and which base its
        clone mark names. Read-only."""
        return account_facts(admin, username)

    def set_own_password(
        self, session: MySQLSession, account: DatabaseAccount, password: str
    ) -> None:
        """The matched account row sets its own password (the user may hold no privilege); on
        MariaDB with mysql_native_password, as a hash computed here."""
        server, plugin = server_of(session), ""
        if server.mariadb:  # the plugin decides whether the hash can be computed here
            lines = [str(row[0]) for row in run(session, sql.OWN_GRANTS)]
            plugin = sql.NATIVE if identified_by_native_hash(lines) else ""
        run(session, *sql.own_password(server, password, account.password, plugin))

    def set_password(self, admin: MySQLSession, username: str, password: str) -> None:
        """Every host row of `username` gets `password` (the secret names no host), each with
        its own plugin. Idempotent."""
        server = server_of(admin)
        for row in password_accounts(admin, username):
            run(admin, *sql.set_password(server, username, row.host, row.plugin, password))

    def sync_clone(self, admin: MySQLSession, base: str, clone: str, password: str) -> bool:
        """Create or re-sync `clone` (`clone.sync_clone`); True when it created it."""
        server_of(admin).check_username(clone)
        return sync_clone(admin, base, clone, password)


lambda_handler = MySQLRotator.handler()
