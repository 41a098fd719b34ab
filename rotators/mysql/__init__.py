"""Rotates MySQL, Aurora MySQL and MariaDB passwords (engines `mysql`, `aurora-mysql`, `mariadb`);
how, and what the admin refuses: docs/mysql.md. Only `session.py` imports pymysql."""

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
from smrotate.rotators.mysql.clone import account_facts, account_rows, sync_clone
from smrotate.rotators.mysql.grants import identified_by_native_hash
from smrotate.rotators.mysql.session import MySQLSession, Refused, connect, run, server_of


class MySQLRotator(PasswordRotator[DatabaseAccount, MySQLSession]):
    """Password rotation for MySQL 5.7+/8, Aurora MySQL and MariaDB 10.2+ accounts."""

    schema: ClassVar[Database] = Database(engines=sql.USERNAME_LIMITS, default_port=3306)
    driver_module, driver_extra = "pymysql", "mysql"  # checked at import and at createSecret
    driver_native = ("cryptography",)

    def login(self, account: DatabaseAccount) -> AbstractContextManager[MySQLSession]:
        """A TLS (unless `"ssl": false`: then plaintext only), autocommit session."""
        return connect(account)

    def session_facts(self, session: MySQLSession) -> SessionFacts:
        """CURRENT_USER() (the row matched), TLS if our own socket is; remembers the version."""
        [(account, version)] = run(session, sql.SESSION_FACTS)
        session.server = session.server or sql.Server.parse(str(version))
        user, _, host = str(account).rpartition("@")
        tls = isinstance(getattr(session.conn, "_sock", None), ssl.SSLSocket)
        return SessionFacts(user=user, host=host, tls=tls)

    def prove_same_server(self, own: MySQLSession, admin: MySQLSession, username: str) -> bool:
        """True when the admin's server sees `own`'s randomly named lock held by `username`, and has
        no anonymous account (which takes any name); else False, with a warning saying why."""
        name = "smrotate-" + secrets.token_hex(16)
        if run(own, sql.TAKE_LOCK, (name,)) != [(1,)]:
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
        """`clone.account_facts`: exists, admin-level (or its roles are), clone mark. Read-only."""
        return account_facts(admin, username)

    def set_own_password(self, own: MySQLSession, account: DatabaseAccount, password: str) -> None:
        """The matched row sets its own password (with no privilege): as a hash if it can."""
        server, plugin = server_of(own), ""
        if server.mariadb:  # the plugin decides whether the hash can be computed here
            lines = [str(row[0]) for row in run(own, sql.OWN_GRANTS)]
            plugin = sql.NATIVE if identified_by_native_hash(lines) else ""
        run(own, *sql.own_password(server, password, account.password, plugin))

    def add_password(self, own: MySQLSession, account: DatabaseAccount, password: str) -> bool:
        """MySQL 8.0.14+: `password` becomes the primary, AWSCURRENT's the secondary (RETAIN
        CURRENT PASSWORD); False when `account.password` is no longer the primary (REPLACE
        refused it). TargetError on MariaDB and older MySQL, before any change."""
        statement = sql.dual_password(server_of(own), password, account.password)
        try:
            run(own, *statement, expected={sql.INCORRECT_CURRENT_PASSWORD})
        except Refused:
            return False
        return True

    def unusable_strategy(self, strategy: str, account: DatabaseAccount) -> str | None:
        """dual-password for a secret whose engine is `mariadb`."""
        if strategy == "dual-password" and account.engine == sql.MARIADB:
            return sql.NO_DUAL_PASSWORDS
        return None

    def set_password(self, admin: MySQLSession, username: str, password: str) -> None:
        """Every host row of `username` gets `password`, each with its own plugin. Idempotent."""
        server = server_of(admin)
        for host, (plugin, _) in account_rows(admin, username, passwords=True).items():
            run(admin, *sql.set_password(server, username, host, plugin, password))

    def sync_clone(self, admin: MySQLSession, base: str, clone: str, password: str) -> bool:
        """Create or re-sync `clone` (`clone.sync_clone`); True when it created it. Idempotent."""
        server_of(admin).check_username(clone)
        return sync_clone(admin, base, clone, password)


MySQLRotator.check_installed()  # at import, so a broken package fails before any step
lambda_handler = MySQLRotator.handler()
