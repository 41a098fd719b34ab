"""doctor's read-only probes of what an admin may do, per engine, through the rotator's own
admin session (the shipped rotators have no hook for it: these are doctor's own queries).

- PostgreSQL (`postgres`, `aurora-postgresql`): SUPERUSER, else CREATEROLE; from PostgreSQL 16
  also ADMIN OPTION on each role the admin would change (16 requires it).
- MySQL and MariaDB: CREATE USER among the global privileges information_schema.USER_PRIVILEGES
  lists for the admin, and for alternating-users a grantable privilege (GRANT OPTION); what
  roles give is not counted.
- Redis: ACL DRYRUN of `ACL SETUSER <user> resetpass` for the admin (the server's own check).
Other engines: no probe; the admin guards (it logs in, may change the user) still run.
Each function only reads; none sends a statement that could change anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from smrotate import redaction
from smrotate.accounts import Account
from smrotate.database import DatabaseAccount
from smrotate.errors import TargetError

Problem = tuple[str, str]  # (what is wrong, the fix)

PG = ("postgres", "aurora-postgresql")
MYSQL = ("mysql", "aurora-mysql", "mariadb")
PG_ME = """SELECT r.rolsuper, r.rolcreaterole,
    pg_catalog.current_setting('server_version_num')::pg_catalog.int4
    FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) session_user"""
PG_ADMIN_OF = """SELECT pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER WITH ADMIN OPTION')
    FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) %s"""
PG_LIKE = """SELECT r.rolname FROM pg_catalog.pg_roles r
    WHERE pg_catalog.lower(r.rolname) OPERATOR(pg_catalog.=) pg_catalog.lower(%s)
    AND r.rolname OPERATOR(pg_catalog.<>) %s ORDER BY 1"""
MYSQL_PRIVILEGES = "SELECT PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.USER_PRIVILEGES"
MYSQL_LIKE = "SELECT DISTINCT User FROM mysql.user WHERE LOWER(User) = LOWER(%s) AND User <> %s"


def _engine(admin: Account) -> str:
    return admin.engine if isinstance(admin, DatabaseAccount) else ""


def _rows(admin: Account, cursor_of: Any, statement: str, params: Sequence[Any]) -> list[Any]:
    """Run one read-only statement on a DB-API connection; TargetError naming the admin."""
    try:
        with cursor_of.cursor() as cursor:
            cursor.execute(statement, tuple(params) or None)
            return list(cursor.fetchall())
    except Exception as exc:  # the driver's own error types: psycopg, pymysql
        detail = redaction.scrub(" ".join(str(exc).split()))
        raise TargetError(f"reading the admin's rights as {admin.describe()}: {detail}") from None


def admin_problems(
    admin: Account, session: Any, strategy: str, usernames: Sequence[str]
) -> tuple[list[Problem], str]:
    """(problems, what was checked) for the admin changing `usernames` under `strategy`."""
    engine = _engine(admin)
    if engine in PG:
        return _postgres(admin, session, strategy, usernames)
    if engine in MYSQL:
        return _mysql(admin, session.conn, strategy)
    if engine == "redis":
        return _redis(admin, session, usernames)
    return [], f"logs in and may change the user (no probe of its rights for engine {engine!r})"


def similar_users(admin: Account, session: Any, username: str) -> list[str]:
    """Users at the target whose names differ from `username` only in case (admin's view)."""
    engine = _engine(admin)
    if engine in PG:
        return [str(row[0]) for row in _rows(admin, session, PG_LIKE, (username, username))]
    if engine in MYSQL:
        found = _rows(admin, session.conn, MYSQL_LIKE, (username, username))
        return [row[0].decode() if isinstance(row[0], bytes) else str(row[0]) for row in found]
    if engine == "redis":
        users = session.client.execute_command("ACL", "USERS")
        return [str(u) for u in users if str(u).lower() == username.lower() and u != username]
    return []


def _postgres(
    admin: Account, session: Any, strategy: str, usernames: Sequence[str]
) -> tuple[list[Problem], str]:
    [(superuser, createrole, version)] = _rows(admin, session, PG_ME, ())
    if superuser:
        return [], "is a superuser"
    who = admin.username
    if not createrole:
        return [
            (
                f"the admin {admin.describe()} has neither SUPERUSER nor CREATEROLE, so it cannot "
                f"{'create the clone or ' * (strategy == 'alternating-users')}set passwords",
                f'as a superuser: ALTER ROLE "{who}" CREATEROLE (or name a superuser\'s secret '
                "in 'masterarn')",
            )
        ], ""
    checked = "has CREATEROLE"
    if version >= 160000:
        for username in usernames:
            rows = _rows(admin, session, PG_ADMIN_OF, (username,))
            if rows and not rows[0][0]:
                return [
                    (
                        f"the admin {admin.describe()} has CREATEROLE but not ADMIN OPTION on "
                        f"role {username!r}, which PostgreSQL 16+ needs to change its password",
                        f'GRANT "{username}" TO "{who}" WITH ADMIN OPTION',
                    )
                ], ""
        checked += " and ADMIN OPTION on " + ", ".join(repr(u) for u in usernames)
    if strategy == "alternating-users":
        checked += " (ADMIN OPTION on the base's groups, which the clone copies, is not checked)"
    return [], checked


def _mysql(admin: Account, conn: Any, strategy: str) -> tuple[list[Problem], str]:
    rows = _rows(admin, conn, MYSQL_PRIVILEGES, ())
    text = [(str(p).upper(), str(g).upper()) for p, g in rows]
    privileges = {p for p, _ in text}
    where = "among its global privileges (information_schema.USER_PRIVILEGES; roles not counted)"
    if "CREATE USER" not in privileges:
        return [
            (
                f"the admin {admin.describe()} has no CREATE USER privilege {where}, which "
                "changing another user's password needs",
                f"GRANT CREATE USER ON *.* TO '{admin.username}'@'<host>'",
            )
        ], ""
    if strategy == "alternating-users" and not any(g == "YES" for _, g in text):
        return [
            (
                f"the admin {admin.describe()} has no global GRANT OPTION, which copying the "
                "base user's privileges to its clone needs",
                f"grant the admin its privileges WITH GRANT OPTION ('{admin.username}')",
            )
        ], ""
    return [], "has CREATE USER" + " and GRANT OPTION" * (strategy == "alternating-users")


def _redis(admin: Account, session: Any, usernames: Sequence[str]) -> tuple[list[Problem], str]:
    import redis

    fix = f"ACL SETUSER {admin.username} +acl (as the server's administrator)"
    for username in usernames:
        command = ("ACL", "DRYRUN", admin.username, "ACL", "SETUSER", username, "resetpass")
        try:
            answer = session.client.execute_command(*command)
        except redis.RedisError as exc:
            found = f"the admin {admin.describe()} may not run ACL DRYRUN ({exc}), which the "
            return [(found + "admin strategies use to check accounts", fix)], ""
        if answer != "OK":
            found = f"the admin {admin.describe()} may not run ACL SETUSER: {answer}"
            return [(found, fix)], ""
    return [], "may run ACL SETUSER (ACL DRYRUN)"
