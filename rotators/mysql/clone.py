"""Keep an alternating-users clone equal to its base user; read what the admin's checks need.

Every function takes the rotator and the admin's session, and sends each statement through
the rotator's `execute`. The clone mark, and what it proves: docs/mysql.md#the-clone-mark.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from smrotate.errors import Failure, TargetError
from smrotate.rotators.mysql import sql
from smrotate.rotators.mysql.grants import (
    GrantParseError,
    Grants,
    admin_level,
    parse_grants,
    plan_privileges,
)
from smrotate.rotators.mysql.sql import PASSWORD_PLUGINS, Role, Server, Sql

if TYPE_CHECKING:
    from smrotate.rotators.mysql import MySQLRotator, MySQLSession

PASSES = 2  # a second pass settles what the first could not (ALL PRIVILEGES narrowed)


def _text(value: object) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


@dataclass(frozen=True)
class AccountRow:
    """One host row of a user: its authentication plugin and stored hash."""

    host: str
    plugin: str
    auth: str = ""


def account_rows(rot: MySQLRotator, admin: MySQLSession, user: str) -> list[AccountRow]:
    """Every host row of `user`, roles left out (none when the user does not exist)."""
    server = rot.server(admin)
    text = sql.ACCOUNTS_NOT_ROLES if server.mariadb and server.has_roles else sql.ACCOUNTS
    return [AccountRow(*map(_text, row)) for row in rot.execute(admin, text, (user,))]


def password_accounts(rot: MySQLRotator, admin: MySQLSession, user: str) -> list[AccountRow]:
    """Every host row of `user`; TargetError when there is none, or one has no password."""
    server, rows = rot.server(admin), account_rows(rot, admin, user)
    if not rows:
        raise TargetError(
            f"user {user!r} has no account on this {server} server; create it first",
            Failure.OTHER,
        )
    for row in rows:
        if row.plugin not in PASSWORD_PLUGINS[server.flavour]:
            raise TargetError(
                f"account {user!r}@{row.host!r} authenticates with {row.plugin!r}, which takes "
                "no password; smrotate rotates password accounts only",
                Failure.OTHER,
            )
    return rows


@dataclass(frozen=True)
class AccountState:
    """What one account row holds, as compared between the base and its clone."""

    grants: Grants
    roles: frozenset[tuple[Role, bool]]  # (role, admin option)
    default_roles: frozenset[Role]
    require: tuple[str, str, str, str]  # ssl_type, cipher, issuer, subject
    limits: tuple[int, int, int, int]
    statement_time: Decimal = Decimal(0)  # MariaDB's MAX_STATEMENT_TIME, seconds (0: none)
    locked: bool = False  # ACCOUNT LOCK


def read_grants(rot: MySQLRotator, admin: MySQLSession, statement: Sql, who: str) -> Grants:
    """The privileges SHOW GRANTS (`statement`) lists; TargetError when it cannot be read."""
    try:
        return parse_grants(_text(row[0]) for row in rot.execute(admin, *statement))
    except GrantParseError as exc:
        raise TargetError(f"cannot read SHOW GRANTS for {who}: {exc}", Failure.OTHER) from None


def read_state(rot: MySQLRotator, admin: MySQLSession, user: str, host: str) -> AccountState:
    """The privileges, roles, default roles, REQUIRE, limits and lock of `user@host`."""
    server, account = rot.server(admin), (user, host)
    grants = read_grants(rot, admin, (sql.SHOW_GRANTS, account), f"{user!r}@{host!r}")
    roles: frozenset[tuple[Role, bool]] = frozenset()
    defaults: frozenset[Role] = frozenset()
    if server.has_roles:
        found = rot.execute(admin, sql.GRANTED_ROLES[server.flavour], account)
        roles = frozenset(((_text(n), _text(h)), _text(a).upper() == "Y") for n, h, a in found)
        defaults = frozenset(
            (_text(n), _text(h))
            for n, h in rot.execute(admin, sql.DEFAULT_ROLES[server.flavour], account)
        ) & {role for role, _ in roles}  # a default role no longer granted does nothing
    options = rot.execute(admin, sql.account_options(server), account)
    if not options:
        raise TargetError(f"account {user!r}@{host!r} disappeared during the rotation")
    row = [_text(value) for value in options[0]]
    return AccountState(
        grants,
        roles,
        defaults,
        (row[0].upper(), row[1], row[2], row[3]),
        (int(row[4]), int(row[5]), int(row[6]), int(row[7])),
        Decimal(row[9] or "0"),
        row[8].upper() == "Y",
    )


def plan_account(
    server: Server, want: AccountState, have: AccountState, user: str, host: str
) -> list[Sql]:
    """Statements that give `user@host` (holding `have`) exactly `want`; empty when equal.
    Role grants come before the default roles are set, role revokes after."""
    plan = plan_privileges(want.grants, have.grants, user, host)
    wanted, held = dict(want.roles), dict(have.roles)
    for role, admin in sorted(wanted.items()):
        if role in held and held[role] and not admin:  # narrowing the admin option
            plan.append(sql.revoke_role(server, role, user, host))
        if role not in held or held[role] != admin:
            plan.append(sql.grant_role(server, role, user, host, admin))
    if want.default_roles != have.default_roles:
        plan.append(sql.set_default_roles(server, want.default_roles, user, host))
    plan += [sql.revoke_role(server, role, user, host) for role in sorted(set(held) - set(wanted))]
    if want.require != have.require:
        plan.append(sql.require(user, host, want.require))
    if want.limits != have.limits:
        plan.append((sql.LIMITS, (user, host, *want.limits)))
    if want.statement_time != have.statement_time:
        plan.append((sql.STATEMENT_TIME, (user, host, want.statement_time)))
    if want.locked != have.locked:
        plan.append((sql.ACCOUNT_LOCK[want.locked], (user, host)))
    return plan


def sync_account(rot: MySQLRotator, admin: MySQLSession, base: str, clone: str, host: str) -> None:
    """Make `clone@host` hold exactly what `base@host` holds; TargetError if it cannot."""
    server, want = rot.server(admin), read_state(rot, admin, base, host)
    for done in range(PASSES + 1):
        plan = plan_account(server, want, read_state(rot, admin, clone, host), clone, host)
        if not plan:
            return
        if done == PASSES:
            raise TargetError(
                f"the rights of {clone!r}@{host!r} still differ from those of {base!r}@{host!r} "
                f"after {PASSES} passes; compare SHOW GRANTS of both accounts",
                Failure.OTHER,
            )
        for statement in plan:
            rot.execute(admin, *statement)


def staging_name(clone: str) -> str:
    """The name a MariaDB clone row is created under before it is marked and renamed."""
    return "smrotate_new_" + hashlib.sha256(clone.encode()).hexdigest()[:16]


def sync_clone(
    rot: MySQLRotator, admin: MySQLSession, base: str, clone: str, password: str
) -> bool:
    """Give `clone` every host row of `base` with the same rights, and no other row; True if
    it created the clone. A new clone gets `password` under the base's plugin; a row added to
    an existing clone copies the plugin and hash of one of its rows (the clone's password).
    Every row is created marked: on MySQL with the mark in its CREATE USER; on MariaDB under
    a staging name, marked, then renamed (a crash leaves a staging row, dropped here)."""
    server = rot.server(admin)
    if not server.marks_clones:
        raise TargetError(
            f"this {server} server has nowhere to mark a clone as smrotate's (MariaDB 10.4+ or "
            "MySQL 8.0.21+ needed), so alternating users cannot tell its clone from an account "
            "someone else made; use the single-user-via-admin strategy",
            Failure.OTHER,
        )
    base_rows, staging = password_accounts(rot, admin, base), staging_name(clone)
    if server.mariadb:
        for row in account_rows(rot, admin, staging):
            rot.execute(admin, sql.DROP_USER, (staging, row.host))
    clone_rows = {row.host: row for row in account_rows(rot, admin, clone)}
    template = next(iter(clone_rows.values()), None)
    for row in base_rows:
        if row.host in clone_rows:
            continue
        if template is None:
            create = sql.create_user(server, clone, row.host, row.plugin, password)
        else:
            like = sql.CREATE_USER_LIKE[server.flavour]
            create = like, (clone, row.host, template.plugin, template.auth)
        if not server.mariadb:
            rot.execute(admin, *sql.with_mark(create, base))
            continue
        rot.execute(admin, create[0], (staging, *create[1][1:]))
        rot.execute(admin, sql.MARK_ROW, (base, staging, row.host))
        rot.execute(admin, sql.RENAME_USER, (staging, row.host, clone, row.host))
    for host in sorted(set(clone_rows) - {row.host for row in base_rows}):
        rot.execute(admin, sql.DROP_USER, (clone, host))
    rot.execute(admin, sql.ADMIN_SESSION)
    for row in base_rows:
        sync_account(rot, admin, base, clone, row.host)
    return template is None


def clone_mark(
    rot: MySQLRotator, admin: MySQLSession, user: str, rows: Sequence[AccountRow]
) -> str | None:
    """The base that the mark on every row (`rows`) of `user` names; None when a row has no
    mark, the rows disagree, or the server cannot mark."""
    server = rot.server(admin)
    if not rows or not server.marks_clones:
        return None
    found = rot.execute(admin, sql.CLONE_MARKS[server.flavour], (user,))
    marks = {_text(host): mark for host, mark in found}
    bases = {None if marks.get(row.host) is None else _text(marks[row.host]) for row in rows}
    return bases.pop() if len(bases) == 1 else None


def admin_reason(
    rot: MySQLRotator, admin: MySQLSession, user: str, rows: Sequence[AccountRow]
) -> str | None:
    """Why `user` (its host `rows`) has admin-level rights (`grants.admin_level`), its own or
    through any role granted to it, directly or through other roles; None if not."""
    server = rot.server(admin)
    todo: list[tuple[Role, bool]] = [((user, row.host), False) for row in rows]
    seen: set[Role] = set()
    while todo:
        (name, host), is_role = todo.pop()
        account = (name, host)
        statement = sql.show_role_grants(server, account) if is_role else (sql.SHOW_GRANTS, account)
        reason = admin_level(read_grants(rot, admin, statement, f"{name!r}@{host!r}"))
        if reason:
            return f"{reason} through role {name!r}" if is_role else reason
        if server.has_roles:
            for found in rot.execute(admin, sql.GRANTED_ROLES[server.flavour], (name, host)):
                role = (_text(found[0]), _text(found[1]))
                if role not in seen:
                    seen.add(role)
                    todo.append((role, True))
    return None
